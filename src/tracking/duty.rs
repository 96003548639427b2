//! The duty roster: who attends the chat and reads the e-mail when, per
//! weekday and time of the desk's local day, with exceptions for a date
//! (someone else, or nobody). Owns what a valid roster is (no two slots of
//! one channel at the same time), its audited writes, and the one answer
//! the chat routing and the e-mail slots ask: [`on_duty`].

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::calendar::parse_range;
use crate::store::{DutyExceptionRow, DutySlotRow, Store, StoreError};

/// The channels with a duty roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DutyChannel {
    Chat,
    Email,
}

impl DutyChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            DutyChannel::Chat => "chat",
            DutyChannel::Email => "email",
        }
    }

    fn parse(s: &str) -> Option<DutyChannel> {
        match s {
            "chat" => Some(DutyChannel::Chat),
            "email" => Some(DutyChannel::Email),
            _ => None,
        }
    }
}

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, thiserror::Error)]
pub enum DutyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value that is no weekday, range, date or channel.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Two slots of one channel claim the same time: each is valid, the
    /// roster is not.
    #[error("{field}: {message}")]
    Overlap { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> DutyError {
    DutyError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// One weekly slot, as the API reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DutySlot {
    pub channel: DutyChannel,
    /// mon, tue, wed, thu, fri, sat or sun.
    #[schema(pattern = "^(mon|tue|wed|thu|fri|sat|sun)$")]
    pub weekday: String,
    /// `HH:MM-HH:MM` in the desk's zone (`locale.timezone`); 24:00 ends a day.
    #[schema(schema_with = crate::http::schema::time_range, example = "08:00-12:00")]
    pub hours: String,
    pub consultant_id: i64,
}

/// The whole weekly roster, replaced at once.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RosterBody {
    pub slots: Vec<DutySlot>,
}

/// An exception for one date.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DutyException {
    pub id: i64,
    pub channel: DutyChannel,
    /// The desk's local date, YYYY-MM-DD.
    #[schema(format = Date)]
    pub day: String,
    pub hours: String,
    /// Who is on duty instead; null: nobody is.
    pub consultant_id: Option<i64>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDutyException {
    pub channel: DutyChannel,
    #[schema(format = Date)]
    pub day: String,
    /// `HH:MM-HH:MM`; absent: the whole day.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::time_range_or_null)]
    pub hours: Option<String>,
    /// Who is on duty instead; absent or null: nobody is.
    #[serde(default)]
    pub consultant_id: Option<i64>,
    #[serde(default)]
    #[schema(max_length = 400)]
    pub note: Option<String>,
}

/// The roster and the exceptions from today on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Roster {
    pub slots: Vec<DutySlot>,
    pub exceptions: Vec<DutyException>,
}

/// Who is on duty at an instant, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OnDuty {
    pub channel: DutyChannel,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Tz>,
    pub consultant_id: Option<i64>,
    /// roster, exception, or none (no slot covers the instant).
    pub by: String,
}

/// `HH:MM` of a minute of the day; 1440 is `24:00`.
fn clock(minute: i64) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn range_text(start: i64, end: i64) -> String {
    format!("{}-{}", clock(start), clock(end))
}

fn hours(field: &str, text: &str) -> Result<(i64, i64), DutyError> {
    parse_range(text)
        .map(|(s, e)| (i64::from(s), i64::from(e)))
        .map_err(|e| {
            invalid(
                field,
                format!("{text:?}: {}; expected HH:MM-HH:MM", e.reason()),
            )
        })
}

fn slot_view(r: &DutySlotRow) -> Option<DutySlot> {
    Some(DutySlot {
        channel: DutyChannel::parse(&r.channel)?,
        weekday: WEEKDAYS.get(usize::try_from(r.weekday).ok()?)?.to_string(),
        hours: range_text(r.start_minute, r.end_minute),
        consultant_id: r.consultant_id,
    })
}

fn exception_view(r: &DutyExceptionRow) -> Option<DutyException> {
    Some(DutyException {
        id: r.id,
        channel: DutyChannel::parse(&r.channel)?,
        day: r.day.clone(),
        hours: range_text(r.start_minute, r.end_minute),
        consultant_id: r.consultant_id,
        note: r.note.clone(),
    })
}

/// Reads a roster: each slot well-formed, and no two slots of one channel
/// on one weekday overlapping (touching is fine), which is refused naming
/// both slots.
pub fn parse_roster(slots: &[DutySlot]) -> Result<Vec<DutySlotRow>, DutyError> {
    let mut rows = Vec::with_capacity(slots.len());
    for (i, s) in slots.iter().enumerate() {
        let weekday = WEEKDAYS
            .iter()
            .position(|d| *d == s.weekday)
            .ok_or_else(|| invalid(format!("slots[{i}].weekday"), "one of mon … sun"))?;
        let (start, end) = hours(&format!("slots[{i}].hours"), &s.hours)?;
        rows.push((
            i,
            DutySlotRow {
                id: 0,
                channel: s.channel.as_str().to_string(),
                weekday: weekday as i64,
                start_minute: start,
                end_minute: end,
                consultant_id: s.consultant_id,
            },
        ));
    }
    for (a, (i, x)) in rows.iter().enumerate() {
        for (j, y) in rows.iter().skip(a + 1) {
            let same = x.channel == y.channel && x.weekday == y.weekday;
            if same && x.start_minute < y.end_minute && y.start_minute < x.end_minute {
                return Err(DutyError::Overlap {
                    field: format!("slots[{j}]"),
                    message: format!(
                        "{} duty on {} {} overlaps slots[{i}] ({} for consultant {})",
                        x.channel,
                        weekday_name(x.weekday),
                        range_text(y.start_minute, y.end_minute),
                        range_text(x.start_minute, x.end_minute),
                        x.consultant_id
                    ),
                });
            }
        }
    }
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

fn weekday_name(day: i64) -> &'static str {
    usize::try_from(day)
        .ok()
        .and_then(|d| WEEKDAYS.get(d))
        .copied()
        .unwrap_or("?")
}

/// One line per slot, for the audit trail.
fn summary(rows: &[DutySlotRow]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {} #{}",
                r.channel,
                weekday_name(r.weekday),
                range_text(r.start_minute, r.end_minute),
                r.consultant_id
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The audit trail's entity for the roster as a whole (one roster, id 0).
pub const ROSTER_ENTITY: &str = "duty_roster";
pub const EXCEPTION_ENTITY: &str = "duty_exception";

/// Replaces the weekly roster, all or nothing, audited under `actor`.
pub async fn replace_roster(
    store: &Store,
    slots: &[DutySlot],
    actor: &str,
) -> Result<Vec<DutySlot>, DutyError> {
    let rows = parse_roster(slots)?;
    let mut tx = store.begin().await?;
    let before = store.duty_slots(&mut tx).await?;
    store.replace_duty_slots(&mut tx, &rows).await?;
    let after = store.duty_slots(&mut tx).await?;
    let (old, new) = (summary(&before), summary(&after));
    if old != new {
        store
            .audit(
                &mut tx,
                ROSTER_ENTITY,
                0,
                "slots",
                Some(old),
                Some(new),
                actor,
            )
            .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(after.iter().filter_map(slot_view).collect())
}

/// The roster and the exceptions from `today` on.
pub async fn roster(store: &Store, today: NaiveDate) -> Result<Roster, DutyError> {
    let mut c = store.pool().acquire().await.map_err(StoreError::from)?;
    let slots = store.duty_slots(&mut c).await?;
    let exceptions = store
        .duty_exceptions_between(&mut c, None, &today.to_string(), "9999-12-31")
        .await?;
    Ok(Roster {
        slots: slots.iter().filter_map(slot_view).collect(),
        exceptions: exceptions.iter().filter_map(exception_view).collect(),
    })
}

/// Adds an exception, audited.
pub async fn add_exception(
    store: &Store,
    n: &NewDutyException,
    actor: &str,
) -> Result<DutyException, DutyError> {
    let day = NaiveDate::parse_from_str(&n.day, "%Y-%m-%d").map_err(|_| {
        invalid(
            "day",
            format!("{:?} is no date; expected YYYY-MM-DD", n.day),
        )
    })?;
    let (start, end) = match &n.hours {
        Some(h) => hours("hours", h)?,
        None => (0, 24 * 60),
    };
    let note = match n.note.as_deref().map(str::trim) {
        Some(t) if t.chars().count() > 400 => {
            return Err(invalid("note", "at most 400 characters"))
        }
        Some("") | None => None,
        Some(t) => Some(t.to_string()),
    };
    let mut row = DutyExceptionRow {
        id: 0,
        channel: n.channel.as_str().to_string(),
        day: day.to_string(),
        start_minute: start,
        end_minute: end,
        consultant_id: n.consultant_id,
        note,
    };
    let mut tx = store.begin().await?;
    row.id = store
        .insert_duty_exception(&mut tx, &row, crate::store::now_ms())
        .await?;
    let who = row
        .consultant_id
        .map_or_else(|| "nobody".to_string(), |c| format!("#{c}"));
    let text = format!(
        "{} {} {} {who}",
        row.channel,
        row.day,
        range_text(start, end)
    );
    store
        .audit(
            &mut tx,
            EXCEPTION_ENTITY,
            row.id,
            "created",
            None,
            Some(text),
            actor,
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    exception_view(&row).ok_or_else(|| invalid("channel", "unknown channel"))
}

/// Removes an exception, audited.
pub async fn remove_exception(store: &Store, id: i64, actor: &str) -> Result<(), DutyError> {
    let mut tx = store.begin().await?;
    let row = store.duty_exception(&mut tx, id).await?;
    store.delete_duty_exception(&mut tx, id).await?;
    let who = row
        .consultant_id
        .map_or_else(|| "nobody".to_string(), |c| format!("#{c}"));
    let text = format!(
        "{} {} {} {who}",
        row.channel,
        row.day,
        range_text(row.start_minute, row.end_minute)
    );
    store
        .audit(
            &mut tx,
            EXCEPTION_ENTITY,
            id,
            "deleted",
            Some(text),
            None,
            actor,
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Who is on `channel` duty at `at`: an exception for that local date
/// whose range covers the instant wins (its consultant, or nobody); else
/// the weekly slot that covers it; else nobody.
pub async fn who_is_on_duty(
    store: &Store,
    channel: DutyChannel,
    at: DateTime<Utc>,
) -> Result<OnDuty, DutyError> {
    let local = at.with_timezone(&store.tz());
    let day = local.date_naive().to_string();
    let minute = i64::from(local.hour() * 60 + local.minute());
    let weekday = i64::from(local.weekday().num_days_from_monday());
    let covers = |s: i64, e: i64| s <= minute && minute < e;
    let mut c = store.pool().acquire().await.map_err(StoreError::from)?;
    let exceptions = store
        .duty_exceptions_between(&mut c, Some(channel.as_str()), &day, &day)
        .await?;
    let answer = |consultant_id, by: &str| OnDuty {
        channel,
        at: local,
        consultant_id,
        by: by.to_string(),
    };
    // The latest exception for the instant wins: a correction of a
    // correction is added, not edited.
    if let Some(x) = exceptions
        .iter()
        .rev()
        .find(|x| covers(x.start_minute, x.end_minute))
    {
        return Ok(answer(x.consultant_id, "exception"));
    }
    let slots = store.duty_slots(&mut c).await?;
    Ok(
        match slots.iter().find(|s| {
            s.channel == channel.as_str()
                && s.weekday == weekday
                && covers(s.start_minute, s.end_minute)
        }) {
            Some(s) => answer(Some(s.consultant_id), "roster"),
            None => answer(None, "none"),
        },
    )
}

const DAY_MINUTES: usize = 24 * 60;

/// The minutes of a stored range, clamped to the day (and empty if a row
/// ever ended before it started), so no stored value can make a bad slice.
fn span(start: i64, end: i64) -> std::ops::Range<usize> {
    let clamp = |m: i64| usize::try_from(m.clamp(0, DAY_MINUTES as i64)).unwrap_or(0);
    let (a, b) = (clamp(start), clamp(end));
    a..b.max(a)
}

/// Who is on `channel` duty in each minute of the local `day`: the weekly
/// slots, then that date's exceptions laid over them in the order they
/// were added (the latest wins, as in [`who_is_on_duty`]).
pub fn minutes_of_day(
    slots: &[DutySlotRow],
    exceptions: &[DutyExceptionRow],
    channel: DutyChannel,
    day: NaiveDate,
) -> Vec<Option<i64>> {
    let weekday = i64::from(day.weekday().num_days_from_monday());
    let mut who: Vec<Option<i64>> = vec![None; DAY_MINUTES];
    for s in slots
        .iter()
        .filter(|s| s.channel == channel.as_str() && s.weekday == weekday)
    {
        for m in who
            .get_mut(span(s.start_minute, s.end_minute))
            .unwrap_or_default()
        {
            *m = Some(s.consultant_id);
        }
    }
    let date = day.to_string();
    for x in exceptions
        .iter()
        .filter(|x| x.channel == channel.as_str() && x.day == date)
    {
        for m in who
            .get_mut(span(x.start_minute, x.end_minute))
            .unwrap_or_default()
        {
            *m = x.consultant_id;
        }
    }
    who
}

/// `consultant`'s stretches of `channel` duty in the seven local days
/// from `monday`, as (day, first minute, end minute).
pub async fn stretches_of_week(
    store: &Store,
    channel: DutyChannel,
    consultant: i64,
    monday: NaiveDate,
) -> Result<Vec<(NaiveDate, u32, u32)>, StoreError> {
    let sunday = monday + chrono::Duration::days(6);
    let mut c = store.pool().acquire().await?;
    let slots = store.duty_slots(&mut c).await?;
    let exceptions = store
        .duty_exceptions_between(
            &mut c,
            Some(channel.as_str()),
            &monday.to_string(),
            &sunday.to_string(),
        )
        .await?;
    let mut out = Vec::new();
    for day in monday.iter_days().take(7) {
        let who = minutes_of_day(&slots, &exceptions, channel, day);
        let mut start = None;
        for (m, w) in (0u32..).zip(who.iter().chain([&None])) {
            match (start, *w == Some(consultant)) {
                (None, true) => start = Some(m),
                (Some(s), false) => {
                    out.push((day, s, m));
                    start = None;
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// The consultant on `channel` duty at `at`, if anyone: what the chat's
/// routing asks when the owner cannot attend.
pub async fn on_duty(
    store: &Store,
    channel: DutyChannel,
    at: DateTime<Utc>,
) -> Result<Option<i64>, DutyError> {
    Ok(who_is_on_duty(store, channel, at).await?.consultant_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(channel: DutyChannel, day: &str, hours: &str, who: i64) -> DutySlot {
        DutySlot {
            channel,
            weekday: day.into(),
            hours: hours.into(),
            consultant_id: who,
        }
    }

    #[test]
    fn overlaps_of_one_channel_are_refused_naming_both() {
        let err = parse_roster(&[
            slot(DutyChannel::Chat, "mon", "08:00-12:00", 1),
            slot(DutyChannel::Email, "mon", "08:00-12:00", 2),
            slot(DutyChannel::Chat, "mon", "11:00-13:00", 3),
        ])
        .unwrap_err();
        assert!(
            matches!(&err, DutyError::Overlap { field, message }
                if field == "slots[2]" && message.contains("slots[0]") && message.contains("mon")),
            "{err}"
        );
        // Touching slots and other days are fine.
        assert!(parse_roster(&[
            slot(DutyChannel::Chat, "mon", "08:00-12:00", 1),
            slot(DutyChannel::Chat, "mon", "12:00-24:00", 2),
            slot(DutyChannel::Chat, "tue", "11:00-13:00", 3),
        ])
        .is_ok());
    }

    #[test]
    fn bad_slots_name_their_field() {
        let err = parse_roster(&[slot(DutyChannel::Chat, "monday", "08:00-12:00", 1)]);
        assert!(
            matches!(err, Err(DutyError::Invalid { ref field, .. }) if field == "slots[0].weekday")
        );
        let err = parse_roster(&[slot(DutyChannel::Chat, "mon", "12:00-08:00", 1)]);
        assert!(
            matches!(err, Err(DutyError::Invalid { ref field, .. }) if field == "slots[0].hours")
        );
        assert_eq!(range_text(0, 1440), "00:00-24:00");
    }
}
