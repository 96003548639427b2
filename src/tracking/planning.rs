//! The week ahead: placing each consultant's work plan as scheduled tasks
//! (`protocall schedule`, `POST /api/schedule`) and the iCalendar feed of
//! what a consultant has scheduled. Where the hours come from: the
//! consultant's own working hours (else `tracking.hours`), the dialplan's
//! holidays, the consultant's absences, and the meetings, scheduled
//! contacts and tasks already in the week, which stay where they are.
//!
//! A plan's [`ATTENDANCE`] hours are time kept for contacts, which come
//! when clients call and are measured by the contacts themselves: they are
//! not placed as tasks. They are fitted last, into what the task
//! categories leave free, only to tell whether the week holds them
//! (`reserved_minutes`, or `unfit` when it does not).
//!
//! E-mail is read in reserved slots (the process's e-mail channel): the
//! stretches of the duty roster's e-mail duty (`tracking::duty`) become
//! scheduled tasks of the [`EMAIL`] category at exactly those times, on
//! the consultant's working days, and the rest of the plan is placed
//! around them. They count like any task.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::duty::{self, DutyChannel};
use super::schedule::{self, Interval, PlanItem, WorkingHours};
use super::service::TrackingError;
use super::states::{ContactChannel, ContactSource, ContactStatus, TaskStatus};
use crate::config::Settings;
use crate::routing::dialplan::{load_dir, Dialplan};
use crate::store::{ScheduledBlock, Store, StoreError, TaskQuery};

/// The plan category of time spent attending clients (contacts of every
/// channel); work-plan compliance counts contacts in it, and it is no
/// task's category.
pub const ATTENDANCE: &str = "attendance";

/// The task category of the reserved e-mail reading slots.
pub const EMAIL: &str = "email";

/// What the week's schedule needs besides the database.
#[derive(Debug, Clone)]
pub struct Planner {
    pub tz: Tz,
    pub default_hours: WorkingHours,
    /// The dialplan's days off (national holidays of any year, optional
    /// and local ones, closures).
    pub calendar: crate::calendar::Calendar,
    pub granularity: u32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlacedBlock {
    pub category: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: DateTime<Tz>,
    #[schema(value_type = String, format = DateTime)]
    pub end: DateTime<Tz>,
    pub minutes: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnfitHours {
    pub category: String,
    pub minutes: i64,
}

/// One consultant's week as placed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsultantWeek {
    pub consultant_id: i64,
    pub week: String,
    pub planned_minutes: i64,
    pub placed_minutes: i64,
    /// The plan's attendance hours that fit beside the placed tasks: kept
    /// free for contacts, not placed as tasks.
    pub reserved_minutes: i64,
    /// Free working minutes after holidays, absences and fixed commitments.
    pub capacity_minutes: i64,
    pub placed: Vec<PlacedBlock>,
    /// Hours of the plan that did not fit.
    pub unfit: Vec<UnfitHours>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> TrackingError {
    TrackingError::Invalid {
        field,
        message: message.into(),
    }
}

impl Planner {
    /// From the config (its working hours were checked when it was
    /// loaded) and the dialplan's holidays.
    pub fn new(settings: &Settings, plan: Option<&Dialplan>) -> Planner {
        let mut default_hours = WorkingHours {
            days: Default::default(),
        };
        for (day, ranges) in default_hours
            .days
            .iter_mut()
            .zip(settings.tracking.hours.days())
        {
            *day = WorkingHours::parse_day(ranges).unwrap_or_default();
        }
        Planner {
            tz: settings.locale.tz(),
            default_hours,
            calendar: plan
                .map(|p| p.calendar())
                .unwrap_or_else(crate::calendar::Calendar::none),
            granularity: settings.tracking.schedule_granularity_minutes,
        }
    }

    /// [`Planner::new`] with the dialplan read from its folder; a
    /// dialplan that does not load is an error, not a week without
    /// holidays.
    pub fn from_settings(
        settings: &Settings,
    ) -> Result<Planner, Vec<crate::routing::dialplan::DialplanError>> {
        let plan = load_dir(&settings.routing.dialplans, settings.locale.tz())?;
        Ok(Planner::new(settings, Some(&plan)))
    }

    pub async fn hours_of(
        &self,
        store: &Store,
        consultant: i64,
    ) -> Result<WorkingHours, TrackingError> {
        let mut hours = self.default_hours.clone();
        for (day, ranges) in store.working_hours(consultant).await? {
            let parsed = WorkingHours::parse_day(&ranges)
                .map_err(|e| invalid("working_hours", e.to_string()))?;
            if let Some(d) = usize::try_from(day)
                .ok()
                .and_then(|d| hours.days.get_mut(d))
            {
                *d = parsed;
            }
        }
        Ok(hours)
    }

    /// Places the week's plan for every consultant who has one (or just
    /// `consultant`), replacing what an earlier run placed. Deterministic:
    /// the same plan and commitments give the same schedule.
    pub async fn schedule(
        &self,
        store: &Store,
        week: &str,
        consultant: Option<i64>,
    ) -> Result<Vec<ConsultantWeek>, TrackingError> {
        let (year, wk) =
            schedule::parse_iso_week(week).map_err(|e| invalid("week", e.to_string()))?;
        let (start, end) = schedule::iso_week_bounds(year, wk, self.tz)
            .map_err(|e| invalid("week", e.to_string()))?;
        let first = start.with_timezone(&self.tz).date_naive();
        let last = first + chrono::Duration::days(6);
        let plan = store.work_plan(consultant, week).await?;
        let mut consultants: Vec<i64> = plan.iter().map(|p| p.consultant_id).collect();
        consultants.dedup();
        if let Some(c) = consultant {
            if !consultants.contains(&c) {
                consultants.push(c);
            }
        } else {
            // Whoever reads the e-mail this week gets the slots, plan or not.
            let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
            for s in store.duty_slots(&mut conn).await? {
                if s.channel == DutyChannel::Email.as_str()
                    && !consultants.contains(&s.consultant_id)
                {
                    consultants.push(s.consultant_id);
                }
            }
        }
        let mut out = Vec::new();
        for c in consultants {
            let mut items: Vec<PlanItem> = plan
                .iter()
                .filter(|p| p.consultant_id == c)
                .map(|p| PlanItem {
                    category: p.category.clone(),
                    minutes: u32::try_from(p.minutes).unwrap_or(u32::MAX),
                })
                .collect();
            // Attendance last, so that the tasks are placed as without it
            // and attendance only learns whether the rest holds it.
            items.sort_by_key(|i| i.category == ATTENDANCE);
            let hours = self.hours_of(store, c).await?;
            let mut days: BTreeSet<NaiveDate> =
                self.calendar.between(first, last).into_iter().collect();
            for a in store
                .absences(Some(c), &first.to_string(), &last.to_string())
                .await?
            {
                let (Ok(mut d), Ok(l)) = (
                    NaiveDate::parse_from_str(&a.first_day, "%Y-%m-%d"),
                    NaiveDate::parse_from_str(&a.last_day, "%Y-%m-%d"),
                ) else {
                    continue;
                };
                while d <= l && d <= last {
                    days.insert(d);
                    d += chrono::Duration::days(1);
                }
            }
            let email = self.email_slots(store, c, first, &days).await?;
            let holidays: Vec<NaiveDate> = days.into_iter().collect();
            let mut fixed: Vec<Interval> = store
                .busy_intervals(c, start.timestamp_millis(), end.timestamp_millis())
                .await?
                .into_iter()
                .filter_map(|(s, e)| {
                    Some(Interval {
                        start: DateTime::from_timestamp_millis(s)?,
                        end: DateTime::from_timestamp_millis(e)?,
                    })
                })
                .collect();
            fixed.extend(email.iter().cloned());
            let placed = schedule::schedule_week(
                year,
                wk,
                self.tz,
                &hours,
                &holidays,
                &fixed,
                &items,
                self.granularity,
            )
            .map_err(|e| invalid("week", e.to_string()))?;
            let (reserved, tasks): (Vec<_>, Vec<_>) =
                placed.placed.iter().partition(|p| p.category == ATTENDANCE);
            let email_placed: Vec<schedule::Placed> = email
                .iter()
                .map(|iv| schedule::Placed {
                    category: EMAIL.to_string(),
                    start: iv.start,
                    end: iv.end,
                })
                .collect();
            let tasks: Vec<&schedule::Placed> = email_placed.iter().chain(tasks).collect();
            let blocks: Vec<ScheduledBlock> = tasks
                .iter()
                .map(|p| ScheduledBlock {
                    category: p.category.clone(),
                    start_ms: p.start.timestamp_millis(),
                    minutes: (p.end - p.start).num_minutes(),
                })
                .collect();
            store.replace_scheduled(c, week, &blocks).await?;
            let planned_minutes = items.iter().map(|i| i64::from(i.minutes)).sum::<i64>()
                + email_placed
                    .iter()
                    .map(|p| (p.end - p.start).num_minutes())
                    .sum::<i64>();
            out.push(ConsultantWeek {
                consultant_id: c,
                week: week.to_string(),
                planned_minutes,
                placed_minutes: blocks.iter().map(|b| b.minutes).sum(),
                reserved_minutes: reserved
                    .iter()
                    .map(|p| (p.end - p.start).num_minutes())
                    .sum(),
                capacity_minutes: i64::from(placed.capacity_minutes),
                placed: tasks
                    .iter()
                    .map(|p| PlacedBlock {
                        category: p.category.clone(),
                        start: p.start.with_timezone(&self.tz),
                        end: p.end.with_timezone(&self.tz),
                        minutes: (p.end - p.start).num_minutes(),
                    })
                    .collect(),
                unfit: placed
                    .unfit
                    .iter()
                    .map(|u| UnfitHours {
                        category: u.category.clone(),
                        minutes: i64::from(u.minutes),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    /// `consultant`'s e-mail duty stretches in the week from `monday`,
    /// except on `days_off`, as instants.
    async fn email_slots(
        &self,
        store: &Store,
        consultant: i64,
        monday: NaiveDate,
        days_off: &BTreeSet<NaiveDate>,
    ) -> Result<Vec<Interval>, StoreError> {
        let at = |day: NaiveDate, minute: u32| {
            let local = day.and_hms_opt(0, 0, 0)? + chrono::Duration::minutes(i64::from(minute));
            Some(
                local
                    .and_local_timezone(self.tz)
                    .earliest()?
                    .with_timezone(&Utc),
            )
        };
        Ok(
            duty::stretches_of_week(store, DutyChannel::Email, consultant, monday)
                .await?
                .into_iter()
                .filter(|(day, _, _)| !days_off.contains(day))
                .filter_map(|(day, from, to)| {
                    Some(Interval {
                        start: at(day, from)?,
                        end: at(day, to)?,
                    })
                })
                .collect(),
        )
    }
}

/// The consultant's calendar as iCalendar: scheduled and realised tasks,
/// contacts and meetings from four weeks back to eight weeks ahead.
pub async fn calendar_feed(
    store: &Store,
    consultant: i64,
    name: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let from = (now - chrono::Duration::weeks(4)).timestamp_millis();
    let to = (now + chrono::Duration::weeks(8)).timestamp_millis();
    let events = agenda(store, consultant, from, to, now).await?;
    Ok(super::ics::calendar(name, &events, now))
}

/// The consultant's tasks and contacts between `from_ms` and `to_ms`, as
/// calendar events in start order: what the feed publishes and the
/// console's "my week" lists.
pub async fn agenda(
    store: &Store,
    consultant: i64,
    from: i64,
    to: i64,
    now: DateTime<Utc>,
) -> Result<Vec<super::ics::IcsEvent>, StoreError> {
    use super::ics::{EventStatus, IcsEvent};
    let rooms: std::collections::HashMap<i64, String> = store
        .rooms()
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    let mut events = Vec::new();
    let q = TaskQuery {
        consultant_id: Some(consultant),
        from_ms: Some(from),
        to_ms: Some(to),
        limit: 500,
        ..Default::default()
    };
    let mut offset = 0;
    loop {
        let page = store
            .list_tasks(&TaskQuery {
                offset,
                ..q.clone()
            })
            .await?;
        for t in &page.items {
            let (start, end) = match (t.started_at, t.ended_at, t.planned_start, t.planned_minutes)
            {
                (Some(s), Some(e), _, _) => (s, e),
                (Some(s), None, _, _) => (s, now.with_timezone(&s.timezone())),
                (None, _, Some(p), Some(m)) => (p, p + chrono::Duration::minutes(m)),
                _ => continue,
            };
            events.push(IcsEvent {
                uid: format!("task-{}@protocall", t.id),
                start: start.with_timezone(&Utc),
                end: end.with_timezone(&Utc).max(start.with_timezone(&Utc)),
                summary: if t.title.is_empty() {
                    t.category.clone()
                } else {
                    t.title.clone()
                },
                description: t.notes.clone(),
                location: None,
                status: Some(match t.status {
                    TaskStatus::Cancelled => EventStatus::Cancelled,
                    TaskStatus::Planned => EventStatus::Tentative,
                    TaskStatus::Running | TaskStatus::Done => EventStatus::Confirmed,
                }),
                categories: vec![t.category.clone()],
                updated: t.updated_at.with_timezone(&Utc),
            });
        }
        offset += page.items.len() as i64;
        if page.items.is_empty() || offset >= page.total {
            break;
        }
    }
    for c in store.consultant_agenda(consultant, from, to).await? {
        let (Some(start), Some(end)) = (
            c.planned_start.or(c.started_at),
            c.planned_end.or(c.ended_at),
        ) else {
            continue;
        };
        events.push(IcsEvent {
            uid: format!("contact-{}@protocall", c.id),
            start: start.with_timezone(&Utc),
            end: end.with_timezone(&Utc).max(start.with_timezone(&Utc)),
            summary: match (&c.agenda, c.channel, c.source) {
                (Some(a), _, _) => a.clone(),
                (None, ContactChannel::Phone, ContactSource::Callback) => "Call-back".into(),
                (None, ch, _) => format!("Contact ({ch})"),
            },
            description: c.notes.clone(),
            location: c.room_id.and_then(|r| rooms.get(&r).cloned()),
            status: Some(match c.status {
                ContactStatus::Cancelled | ContactStatus::Missed => EventStatus::Cancelled,
                ContactStatus::Scheduled => EventStatus::Tentative,
                ContactStatus::Open | ContactStatus::Done | ContactStatus::Abandoned => {
                    EventStatus::Confirmed
                }
            }),
            categories: vec![c.channel.as_str().to_string()],
            updated: c.updated_at.with_timezone(&Utc),
        });
    }
    events.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.uid.cmp(&b.uid)));
    Ok(events)
}
