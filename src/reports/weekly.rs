//! Computes the weekly report (`reports::model`) from the store: the ten
//! figures the desk's managers used to build by hand every Monday.
//!
//! Definitions (also in docs/reports.md and the HTML report's footnotes):
//! - a task's or contact's realised time in a week is the part of
//!   [started, ended) inside the week; it is counted in the week it
//!   started (or was planned, or rang);
//! - a minute of a consultant's time is counted once
//!   (`reports::accounting`): where a task and a contact overlap the
//!   contact has it, where contacts overlap the later-started one; every
//!   realised figure (items 1–4, 7, 9, 10) is net of that, so item 1's and
//!   item 2's minutes add up to item 3's realised;
//! - work-plan compliance counts contacts in the plan's `attendance`
//!   category and tasks in theirs; item 5 schedules task categories only
//!   (attendance is not placed as tasks);
//! - offered calls are inbound calls that rang at least one consultant
//!   (the call log made a contact of them: answered, missed or abandoned);
//!   service level = answered by a consultant within the threshold /
//!   offered; abandonment = abandoned / offered; ASA = mean wait of the
//!   answered ones; AHT = their mean talk time;
//! - SLA ("ANS") = protocols concluded in the week within their deadline /
//!   concluded; the deadline is the protocol's own, else
//!   `reports.default_deadline_hours` business hours on the desk's
//!   calendar (the dialplan's hours and holidays); a reopen undoes a
//!   close, so a reopened protocol counts at its last close, against the
//!   same deadline, and the week it was reopened counts it as reopened;
//! - capacity = each consultant's working minutes in the week minus
//!   holidays and absences; demand = attended contacts + realised tasks
//!   (counted once, as above) +
//!   open call-backs (15 min each) + next week's forecast (the mean of the
//!   last four weeks' inbound calls at this week's AHT).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::accounting::{self, Kind, Span};
use super::business_time::Calendar;
use super::erlang::{agents_needed, Load};
use super::model::*;
use crate::store::{ContactSpan, Store, StoreError, TaskSpan};
use crate::tracking::planning::{Planner, ATTENDANCE};
use crate::tracking::schedule::{self, WorkingHours};
use crate::tracking::states::{
    ContactDirection, ContactKind, ContactSource, ContactStatus, TaskSource, TaskStatus,
};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("week: {0}")]
    Week(String),
}

/// What the report needs besides the store.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub planner: Planner,
    /// The desk's business hours (the dialplan's), for SLA deadlines.
    pub desk_hours: WorkingHours,
    pub service_level_seconds: i64,
    pub service_level_target: f64,
    pub default_deadline_hours: i64,
    pub evolution_weeks: u32,
    /// `locale.language`: the report's words when nobody asks for another
    /// (the Monday mail, the command line, an API client without
    /// `Accept-Language`).
    pub lang: crate::i18n::Lang,
}

/// Minutes a pending call-back is expected to take.
const CALLBACK_MINUTES: i64 = 15;
const COMMUNICATE: &str = "communicate-completion";
const MINUTE: i64 = 60_000;

/// (consultant, kind, channel, status): item 2's grouping.
type ContactKey = (Option<i64>, String, String, String);

fn overlap(start: i64, end: i64, from: i64, to: i64) -> i64 {
    (end.min(to) - start.max(from)).max(0)
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Monday 00:00 to next Monday 00:00 of an ISO week, in ms.
fn bounds(week: &str, tz: Tz) -> Result<(i64, i64, i32, u32), ReportError> {
    let (y, w) = schedule::read_iso_week(week).map_err(|e| ReportError::Week(e.to_string()))?;
    let (a, b) =
        schedule::iso_week_bounds(y, w, tz).map_err(|e| ReportError::Week(e.to_string()))?;
    Ok((a.timestamp_millis(), b.timestamp_millis(), y, w))
}

fn week_name(d: NaiveDate) -> String {
    let w = d.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// The ISO week `n` weeks before `week`.
pub fn week_before(week: &str, n: i64) -> Result<String, ReportError> {
    let (y, w) = schedule::read_iso_week(week).map_err(|e| ReportError::Week(e.to_string()))?;
    let monday = NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon)
        .ok_or_else(|| ReportError::Week(format!("no week {week}")))?;
    Ok(week_name(monday - chrono::Duration::weeks(n)))
}

/// The default weeks: last week for items 1–4 and 7–10, this week for 5–6.
pub fn default_weeks(now: DateTime<Utc>, tz: Tz) -> (String, String) {
    let today = now.with_timezone(&tz).date_naive();
    (
        week_name(today - chrono::Duration::weeks(1)),
        week_name(today),
    )
}

fn task_span(t: &TaskSpan) -> Option<(i64, i64)> {
    match (t.started_at, t.ended_at, t.status) {
        (Some(s), Some(e), TaskStatus::Done) => Some((s, e)),
        (Some(s), None, TaskStatus::Running) => Some((s, Utc::now().timestamp_millis().max(s))),
        _ => None,
    }
}

/// A contact's realised span (attended ones only).
fn contact_span(c: &ContactSpan) -> Option<(i64, i64)> {
    match (c.started_at, c.ended_at, c.status) {
        (Some(s), Some(e), ContactStatus::Done) => Some((s, e)),
        (Some(s), None, ContactStatus::Open) => Some((s, Utc::now().timestamp_millis().max(s))),
        _ => None,
    }
}

/// The instant a contact is filed under.
fn contact_time(c: &ContactSpan) -> Option<i64> {
    c.started_at.or(c.planned_start).or(c.rang_at)
}

/// An offered call: an inbound phone contact the call log made.
fn offered(c: &ContactSpan) -> bool {
    c.source == ContactSource::Call
        && c.direction == Some(ContactDirection::Inbound)
        && matches!(
            c.status,
            ContactStatus::Open
                | ContactStatus::Done
                | ContactStatus::Missed
                | ContactStatus::Abandoned
        )
}

fn answered(c: &ContactSpan) -> bool {
    offered(c) && matches!(c.status, ContactStatus::Open | ContactStatus::Done)
}

/// Figures of one week, for item 9 and the headline.
struct WeekData {
    tasks: Vec<TaskSpan>,
    contacts: Vec<ContactSpan>,
    /// The milliseconds each task and each contact counts in the week, by
    /// the accounting rule (same order as `tasks` and `contacts`).
    task_ms: Vec<i64>,
    contact_ms: Vec<i64>,
    from: i64,
    to: i64,
}

impl WeekData {
    async fn load(store: &Store, from: i64, to: i64) -> Result<WeekData, StoreError> {
        let tasks = store.tasks_in(from, to).await?;
        let contacts = store.contacts_in(from, to).await?;
        let mut spans: Vec<Span> = Vec::with_capacity(tasks.len() + contacts.len());
        // Rows without a realised span still take a place (empty), so
        // the counted figures line up with the rows.
        for t in &tasks {
            let (start, end) = task_span(t).unwrap_or((0, 0));
            spans.push(Span {
                consultant: Some(t.consultant_id),
                kind: Kind::Task,
                start,
                end,
                tie: t.id,
            });
        }
        for c in &contacts {
            let (start, end) = contact_span(c).unwrap_or((0, 0));
            spans.push(Span {
                consultant: c.consultant_id,
                kind: Kind::Contact,
                start,
                end,
                tie: c.id,
            });
        }
        let mut task_ms = accounting::counted(&spans, from, to);
        let contact_ms = task_ms.split_off(tasks.len().min(task_ms.len()));
        Ok(WeekData {
            tasks,
            contacts,
            task_ms,
            contact_ms,
            from,
            to,
        })
    }

    /// Counted milliseconds of task `i` (of contact `i`).
    fn task_counted(&self, i: usize) -> i64 {
        self.task_ms.get(i).copied().unwrap_or(0)
    }

    fn contact_counted(&self, i: usize) -> i64 {
        self.contact_ms.get(i).copied().unwrap_or(0)
    }

    fn task_minutes(&self) -> i64 {
        self.task_ms.iter().sum::<i64>() / MINUTE
    }

    fn contact_minutes(&self) -> i64 {
        self.contact_ms.iter().sum::<i64>() / MINUTE
    }

    fn in_week(&self, t: Option<i64>) -> bool {
        t.is_some_and(|t| t >= self.from && t < self.to)
    }

    /// (offered, answered, in threshold, abandoned, wait sum ms, talk sum ms)
    fn phone(&self, threshold_ms: i64) -> (i64, i64, i64, i64, i64, i64) {
        let mut f = (0, 0, 0, 0, 0, 0);
        for c in self
            .contacts
            .iter()
            .filter(|c| offered(c) && self.in_week(contact_time(c).or(c.rang_at)))
        {
            f.0 += 1;
            if answered(c) {
                f.1 += 1;
                let wait = c.wait_ms.unwrap_or(0);
                f.4 += wait;
                if wait <= threshold_ms {
                    f.2 += 1;
                }
                if let Some((s, e)) = contact_span(c) {
                    f.5 += e - s;
                }
            }
            if c.status == ContactStatus::Abandoned {
                f.3 += 1;
            }
        }
        f
    }
}

fn hours_of_day(h: &WorkingHours, weekday: usize, hour: u32) -> bool {
    let Some(ranges) = h.days.get(weekday) else {
        return false;
    };
    let start = NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN);
    ranges
        .iter()
        .any(|&(a, b)| a <= start && (b == NaiveTime::MIN || start < b))
}

impl ReportConfig {
    /// From the settings and the dialplan as read: the planner's hours and
    /// days off, the dialplan's business hours for deadlines (the default
    /// working hours when there is no dialplan or it has no `[hours]`).
    pub fn new(
        settings: &crate::config::Settings,
        plan: Option<&crate::routing::dialplan::Dialplan>,
    ) -> ReportConfig {
        let planner = Planner::new(settings, plan);
        let desk_hours = desk_hours(plan, &planner.default_hours);
        ReportConfig {
            planner,
            desk_hours,
            service_level_seconds: i64::from(settings.reports.service_level_seconds),
            service_level_target: settings.reports.service_level_target,
            default_deadline_hours: i64::from(settings.reports.default_deadline_hours),
            evolution_weeks: settings.reports.evolution_weeks,
            lang: settings.locale.lang(),
        }
    }

    /// [`ReportConfig::new`] with the dialplan read from its folder; a
    /// dialplan that does not load is an error, not a report without
    /// holidays.
    pub fn from_settings(
        settings: &crate::config::Settings,
    ) -> Result<ReportConfig, Vec<crate::routing::dialplan::DialplanError>> {
        let plan =
            crate::routing::dialplan::load_dir(&settings.routing.dialplans, settings.locale.tz())?;
        Ok(ReportConfig::new(settings, Some(&plan)))
    }

    /// This configuration with `plan`'s days off and business hours: what
    /// a dialplan reload changes.
    pub fn with_plan(&self, plan: &crate::routing::dialplan::Dialplan) -> ReportConfig {
        let mut cfg = self.clone();
        cfg.planner.calendar = plan.calendar();
        cfg.desk_hours = desk_hours(Some(plan), &self.planner.default_hours);
        cfg
    }
}

fn desk_hours(
    plan: Option<&crate::routing::dialplan::Dialplan>,
    default: &WorkingHours,
) -> WorkingHours {
    plan.and_then(|p| p.working_hours())
        .unwrap_or_else(|| default.clone())
}

/// Builds the report for `week` (items 1–4, 7–10) and `schedule_week`
/// (items 5–6).
pub async fn weekly(
    store: &Store,
    cfg: &ReportConfig,
    week: &str,
    schedule_week: &str,
    now: DateTime<Utc>,
) -> Result<WeeklyReport, ReportError> {
    let tz = cfg.planner.tz;
    for w in [week, schedule_week] {
        schedule::parse_iso_week(w).map_err(|e| ReportError::Week(e.to_string()))?;
    }
    let (from, to, year, wk) = bounds(week, tz)?;
    let (sfrom, sto, _, _) = bounds(schedule_week, tz)?;
    let ts = |ms: i64| {
        tz.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    };
    let consultants: Vec<ConsultantRef> = store
        .consultant_names()
        .await?
        .into_iter()
        .map(|(id, name)| ConsultantRef { id, name })
        .collect();
    let data = WeekData::load(store, from, to).await?;

    // 1. Tasks by category.
    let mut tasks: BTreeMap<(Option<i64>, String), (i64, i64)> = BTreeMap::new();
    for (i, t) in data.tasks.iter().enumerate() {
        let Some((s, e)) = task_span(t) else { continue };
        // A task with time in the week is listed even when contacts took
        // all of it (it counts, with no minutes).
        if overlap(s, e, from, to) == 0 {
            continue;
        }
        let started_here = (from..to).contains(&s);
        for who in [Some(t.consultant_id), None] {
            let row = tasks.entry((who, t.category.clone())).or_default();
            row.0 += i64::from(started_here);
            row.1 += data.task_counted(i);
        }
    }
    let task_rows: Vec<TaskTime> = tasks
        .into_iter()
        .map(|((consultant_id, category), (count, ms))| TaskTime {
            consultant_id,
            category,
            count,
            minutes: ms / MINUTE,
        })
        .collect();

    // 2. Contacts: scheduled by status, triggered by channel.
    let mut contacts: BTreeMap<ContactKey, (i64, i64)> = BTreeMap::new();
    for (i, c) in data.contacts.iter().enumerate() {
        let time = contact_time(c);
        let minutes = data.contact_counted(i);
        let here = data.in_week(time);
        let inside = contact_span(c).is_some_and(|(s, e)| overlap(s, e, from, to) > 0);
        if !here && !inside {
            continue;
        }
        // Unattributed contacts appear once, in the team row.
        for who in [c.consultant_id, None] {
            let row = contacts
                // Keyed by the words, so the rows keep their alphabetical
                // order.
                .entry((
                    who,
                    c.kind.as_str().to_string(),
                    c.channel.as_str().to_string(),
                    c.status.as_str().to_string(),
                ))
                .or_default();
            row.0 += i64::from(here);
            row.1 += minutes;
            if c.consultant_id.is_none() {
                break;
            }
        }
    }
    let contact_rows: Vec<ContactCount> = contacts
        .into_iter()
        .map(
            |((consultant_id, kind, channel, status), (count, ms))| ContactCount {
                consultant_id,
                kind,
                channel,
                status,
                count,
                minutes: ms / MINUTE,
            },
        )
        .collect();

    // 3. Hours scheduled versus realised.
    let mut hours: BTreeMap<Option<i64>, (i64, i64)> = BTreeMap::new();
    let mut add_hours = |who: Option<i64>, sched: i64, real: i64| {
        for w in [who, None] {
            let row = hours.entry(w).or_default();
            row.0 += sched;
            row.1 += real;
            if who.is_none() {
                break;
            }
        }
    };
    for (i, t) in data.tasks.iter().enumerate() {
        let planned = match (t.planned_start, t.planned_minutes) {
            (Some(p), Some(m)) if (from..to).contains(&p) && t.status != TaskStatus::Cancelled => {
                m * MINUTE
            }
            _ => 0,
        };
        add_hours(Some(t.consultant_id), planned, data.task_counted(i));
    }
    for (i, c) in data.contacts.iter().enumerate() {
        let planned = match (c.kind, c.planned_start, c.planned_end) {
            (ContactKind::Scheduled, Some(s), Some(e))
                if (from..to).contains(&s) && c.status != ContactStatus::Cancelled =>
            {
                e - s
            }
            _ => 0,
        };
        let real = data.contact_counted(i);
        if planned > 0 || real > 0 {
            add_hours(c.consultant_id, planned, real);
        }
    }
    let hour_rows: Vec<HoursRow> = hours
        .into_iter()
        .map(|(consultant_id, (s, r))| HoursRow {
            consultant_id,
            scheduled_minutes: s / MINUTE,
            realised_minutes: r / MINUTE,
        })
        .collect();

    // 4. Work-plan compliance.
    let plan = store.work_plan(None, week).await?;
    let mut comp: BTreeMap<(Option<i64>, String), (i64, i64)> = BTreeMap::new();
    for p in &plan {
        for who in [Some(p.consultant_id), None] {
            comp.entry((who, p.category.clone())).or_default().0 += p.minutes;
        }
    }
    for t in task_rows.iter() {
        if let Some(row) = comp.get_mut(&(t.consultant_id, t.category.clone())) {
            row.1 += t.minutes;
        }
    }
    // Attendance: the consultant's contacts, as counted (the team's row,
    // like the task categories', counts everybody's).
    let mut attended: BTreeMap<Option<i64>, i64> = BTreeMap::new();
    for (i, c) in data.contacts.iter().enumerate() {
        for who in [c.consultant_id, None] {
            *attended.entry(who).or_default() += data.contact_counted(i);
            if c.consultant_id.is_none() {
                break;
            }
        }
    }
    for (who, ms) in attended {
        if let Some(row) = comp.get_mut(&(who, ATTENDANCE.to_string())) {
            row.1 += ms / MINUTE;
        }
    }
    let plan_rows: Vec<PlanCompliance> = comp
        .into_iter()
        .map(|((consultant_id, category), (p, r))| PlanCompliance {
            consultant_id,
            category,
            planned_minutes: p,
            realised_minutes: r,
            gap_minutes: r - p,
        })
        .collect();

    // 5 and 6. This week's schedule and scheduled tasks.
    let splan = store.work_plan(None, schedule_week).await?;
    let stasks = store.tasks_in(sfrom, sto).await?;
    let mut sched: BTreeMap<Option<i64>, (i64, i64)> = BTreeMap::new();
    // Attendance is not placed as tasks (see `tracking::planning`).
    for p in splan.iter().filter(|p| p.category != ATTENDANCE) {
        for who in [Some(p.consultant_id), None] {
            sched.entry(who).or_default().0 += p.minutes;
        }
    }
    let mut scheduled_tasks = Vec::new();
    for t in &stasks {
        let (Some(p), Some(m)) = (t.planned_start, t.planned_minutes) else {
            continue;
        };
        if !(sfrom..sto).contains(&p) || t.status == TaskStatus::Cancelled {
            continue;
        }
        if t.source == TaskSource::Schedule && t.iso_week.as_deref() == Some(schedule_week) {
            for who in [Some(t.consultant_id), None] {
                sched.entry(who).or_default().1 += m;
            }
        }
        scheduled_tasks.push(ScheduledTask {
            consultant_id: t.consultant_id,
            category: t.category.clone(),
            title: t.title.clone(),
            start: ts(p),
            minutes: m,
            source: t.source.as_str().into(),
        });
    }
    scheduled_tasks.sort_by(|a, b| {
        (a.consultant_id, &a.start, &a.category).cmp(&(b.consultant_id, &b.start, &b.category))
    });
    let schedule_rows: Vec<ScheduleRow> = sched
        .into_iter()
        .map(|(consultant_id, (planned, placed))| ScheduleRow {
            consultant_id,
            planned_minutes: planned,
            placed_minutes: placed,
            unfit_minutes: (planned - placed).max(0),
        })
        .collect();

    // 7. Demand versus capacity.
    let threshold_ms = cfg.service_level_seconds * 1000;
    let (offered_n, answered_n, in_threshold, abandoned, wait_sum, talk_sum) =
        data.phone(threshold_ms);
    let aht_seconds = ratio(talk_sum, answered_n).map(|v| v / 1000.0);
    let first_day = tz
        .timestamp_millis_opt(from)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let days: Vec<NaiveDate> = (0..7)
        .map(|i| first_day + chrono::Duration::days(i))
        .collect();
    let last_day = first_day + chrono::Duration::days(6);
    // Deadlines (SLA) may run back over protocols opened long before this
    // week and forward past it: two years back, one ahead.
    let holidays: BTreeSet<NaiveDate> = cfg
        .planner
        .calendar
        .between(
            first_day - chrono::Duration::days(731),
            last_day + chrono::Duration::days(366),
        )
        .into_iter()
        .collect();
    let absences = store
        .absences(None, &first_day.to_string(), &last_day.to_string())
        .await?;
    let mut per_consultant = Vec::new();
    let mut duty: Vec<(WorkingHours, BTreeSet<NaiveDate>)> = Vec::new();
    for c in &consultants {
        let h = cfg
            .planner
            .hours_of(store, c.id)
            .await
            .unwrap_or_else(|_| cfg.planner.default_hours.clone());
        let mut off: BTreeSet<NaiveDate> = BTreeSet::new();
        for a in absences.iter().filter(|a| a.consultant_id == c.id) {
            let (Ok(mut d), Ok(l)) = (
                NaiveDate::parse_from_str(&a.first_day, "%Y-%m-%d"),
                NaiveDate::parse_from_str(&a.last_day, "%Y-%m-%d"),
            ) else {
                continue;
            };
            while d <= l {
                if (first_day..=last_day).contains(&d) {
                    off.insert(d);
                }
                d += chrono::Duration::days(1);
            }
        }
        let mut closed: Vec<NaiveDate> = holidays.iter().copied().collect();
        closed.extend(off.iter().copied());
        let cap = schedule::schedule_week(year, wk, tz, &h, &closed, &[], &[], 1)
            .map(|s| i64::from(s.capacity_minutes))
            .unwrap_or(0);
        let working_days = days
            .iter()
            .filter(|d| !h.on(d.weekday()).is_empty() && !holidays.contains(d))
            .count() as i64;
        per_consultant.push(Capacity {
            consultant_id: c.id,
            working_days,
            absent_days: off.iter().filter(|d| !h.on(d.weekday()).is_empty()).count() as i64,
            capacity_minutes: cap,
        });
        let mut all_off = off;
        all_off.extend(holidays.iter().copied());
        duty.push((h, all_off));
    }
    let capacity_minutes = per_consultant.iter().map(|c| c.capacity_minutes).sum();
    // The phone line by hour: offered calls per working day's hour.
    let desk_days: Vec<NaiveDate> = days
        .iter()
        .copied()
        .filter(|d| !holidays.contains(d) && !cfg.desk_hours.on(d.weekday()).is_empty())
        .collect();
    let mut per_hour = [0i64; 24];
    for c in data.contacts.iter().filter(|c| offered(c)) {
        let Some(t) = c.rang_at.filter(|t| (from..to).contains(t)) else {
            continue;
        };
        if let Some(local) = tz.timestamp_millis_opt(t).single() {
            if let Some(n) = per_hour.get_mut(local.hour() as usize) {
                *n += 1;
            }
        }
    }
    let aht = aht_seconds.unwrap_or(300.0);
    let mut phone = Vec::new();
    for (hour, &offered_then) in (0..24u32).zip(per_hour.iter()) {
        let open_days = desk_days
            .iter()
            .filter(|d| {
                hours_of_day(
                    &cfg.desk_hours,
                    d.weekday().num_days_from_monday() as usize,
                    hour,
                )
            })
            .count();
        if open_days == 0 && offered_then == 0 {
            continue;
        }
        let calls = offered_then as f64 / open_days.max(1) as f64;
        let needed = agents_needed(
            &Load {
                calls_per_hour: calls,
                aht_seconds: aht,
            },
            cfg.service_level_target,
            cfg.service_level_seconds as f64,
            1_000,
        )
        .unwrap_or(0);
        let on_duty = if desk_days.is_empty() {
            0.0
        } else {
            desk_days
                .iter()
                .map(|d| {
                    duty.iter()
                        .filter(|(h, off)| {
                            !off.contains(d)
                                && hours_of_day(
                                    h,
                                    d.weekday().num_days_from_monday() as usize,
                                    hour,
                                )
                        })
                        .count() as f64
                })
                .sum::<f64>()
                / desk_days.len() as f64
        };
        phone.push(ErlangHour {
            hour,
            calls_per_hour: calls,
            aht_seconds: aht,
            agents_needed: needed,
            on_duty,
        });
    }
    let open_callbacks = store.callbacks_open_at(to).await?;
    let mut past_offered = vec![offered_n];
    for n in 1..4 {
        let w = week_before(week, n)?;
        let (pf, pt, _, _) = bounds(&w, tz)?;
        let d = WeekData::load(store, pf, pt).await?;
        past_offered.push(d.phone(threshold_ms).0);
    }
    let forecast_contacts = past_offered.iter().sum::<i64>() as f64 / past_offered.len() as f64;
    let forecast_minutes = (forecast_contacts * aht / 60.0).round() as i64;
    let contact_minutes = data.contact_minutes();
    let task_minutes = data.task_minutes();
    let demand = Demand {
        contact_minutes,
        task_minutes,
        open_callbacks,
        open_callback_minutes: open_callbacks * CALLBACK_MINUTES,
        forecast_contacts,
        forecast_minutes,
        demand_minutes: contact_minutes
            + task_minutes
            + open_callbacks * CALLBACK_MINUTES
            + forecast_minutes,
        capacity_minutes,
        per_consultant,
        phone,
        service_level_seconds: cfg.service_level_seconds,
        service_level_target: cfg.service_level_target,
    };

    // 8. SLA and the phone service level.
    let calendar = Calendar::new(tz, cfg.desk_hours.clone(), holidays.clone()).ok();
    let (concluded, within) = sla_of(store, cfg, calendar.as_ref(), from, to).await?;
    let sla = Sla {
        concluded,
        within_deadline: within,
        ratio: ratio(within, concluded),
        reopened: store.protocols_reopened_in(from, to).await?,
        default_deadline_hours: cfg.default_deadline_hours,
        offered: offered_n,
        answered: answered_n,
        answered_in_threshold: in_threshold,
        abandoned,
        service_level: ratio(in_threshold, offered_n),
        abandonment: ratio(abandoned, offered_n),
        asa_seconds: ratio(wait_sum, answered_n).map(|v| v / 1000.0),
        aht_seconds,
        threshold_seconds: cfg.service_level_seconds,
        target: cfg.service_level_target,
    };

    // 9. Evolution, oldest first.
    let mut evolution = Vec::new();
    for n in (0..i64::from(cfg.evolution_weeks)).rev() {
        let w = week_before(week, n)?;
        let (ef, et, _, _) = bounds(&w, tz)?;
        let d = if n == 0 {
            None
        } else {
            Some(WeekData::load(store, ef, et).await?)
        };
        let d = d.as_ref().unwrap_or(&data);
        let (o, _, it, ab, _, talk) = d.phone(threshold_ms);
        let (c, wi) = sla_of(store, cfg, calendar.as_ref(), ef, et).await?;
        evolution.push(WeekFigures {
            week: w,
            contacts: d
                .contacts
                .iter()
                .filter(|c| contact_span(c).is_some() && d.in_week(contact_time(c)))
                .count() as i64,
            talk_minutes: talk / MINUTE,
            sla: ratio(wi, c),
            service_level: ratio(it, o),
            abandonment: ratio(ab, o),
            realised_minutes: d.task_minutes() + d.contact_minutes(),
        });
    }

    // 10. Support follow-up.
    let mut follow: BTreeMap<Option<i64>, (i64, i64, i64)> = BTreeMap::new();
    for (i, t) in data.tasks.iter().enumerate() {
        if t.category != COMMUNICATE {
            continue;
        }
        let Some((s, e)) = task_span(t).filter(|_| t.status == TaskStatus::Done) else {
            continue;
        };
        if !(from..to).contains(&e) && !(from..to).contains(&s) {
            continue;
        }
        for who in [Some(t.consultant_id), None] {
            let row = follow.entry(who).or_default();
            row.0 += 1;
            row.1 += data.task_counted(i);
        }
    }
    for (_, consultant) in store.open_tasks_before(COMMUNICATE, to).await? {
        for who in [Some(consultant), None] {
            follow.entry(who).or_default().2 += 1;
        }
    }
    let followup = follow
        .into_iter()
        .map(|(consultant_id, (done, ms, pending))| Followup {
            consultant_id,
            done,
            done_minutes: ms / MINUTE,
            pending,
        })
        .collect();

    let monday = NaiveDate::from_isoywd_opt(year, wk, chrono::Weekday::Mon)
        .ok_or_else(|| ReportError::Week(format!("{week} has no Monday")))?;
    let duty = super::duty::duty_week(store, monday).await?;
    let identification = super::duty::identification(store, from, to).await?;
    Ok(WeeklyReport {
        duty,
        identification,
        week: week.to_string(),
        week_start: ts(from),
        week_end: ts(to),
        schedule_week: schedule_week.to_string(),
        timezone: tz.name().to_string(),
        generated_at: now.with_timezone(&tz).to_rfc3339(),
        consultants,
        tasks: task_rows,
        contacts: contact_rows,
        hours: hour_rows,
        work_plan: plan_rows,
        schedule: schedule_rows,
        scheduled_tasks,
        demand,
        sla,
        evolution,
        followup,
    })
}

/// (concluded, within deadline) for protocols closed in [from, to).
async fn sla_of(
    store: &Store,
    cfg: &ReportConfig,
    calendar: Option<&Calendar>,
    from: i64,
    to: i64,
) -> Result<(i64, i64), StoreError> {
    let mut concluded = 0;
    let mut within = 0;
    for p in store.protocols_closed_in(from, to).await? {
        concluded += 1;
        let ok = match (p.due_at, calendar) {
            (Some(due), _) => p.closed_at <= due,
            (None, Some(cal)) => {
                let (Some(o), Some(c)) = (
                    DateTime::from_timestamp_millis(p.opened_at),
                    DateTime::from_timestamp_millis(p.closed_at),
                ) else {
                    continue;
                };
                cal.business_minutes(o, c) <= cfg.default_deadline_hours * 60
            }
            (None, None) => false,
        };
        within += i64::from(ok);
    }
    Ok((concluded, within))
}
