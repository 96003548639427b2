//! Placing a consultant's planned week: turns "so many hours per task
//! category in ISO week W" into concrete task blocks inside the
//! consultant's working hours, around holidays and fixed commitments.
//!
//! This module owns the placement rule, the parsing of working-hour ranges
//! and ISO week names, and the local-time arithmetic that makes both
//! DST-safe. It does no I/O: the caller loads the plan, the fixed
//! commitments and the holidays, and stores the blocks it gets back.
//!
//! # Placement rule
//!
//! 1. **Free time.** An instant of the week (local Monday 00:00 up to the
//!    next local Monday 00:00, see [`iso_week_bounds`]) is *working time*
//!    when its local wall-clock reading in `tz` falls inside one of the
//!    working ranges of its local weekday. So local times skipped by a DST
//!    gap are simply not working time, and an hour repeated by a fall-back
//!    counts twice. Holidays remove their whole local day; fixed intervals
//!    remove what they cover. What is left is the free time; its size in
//!    minutes is [`Schedule::capacity_minutes`].
//! 2. **Minutes.** Time is handled in whole minutes counted from the week
//!    start; a fixed interval that covers part of a minute takes the whole
//!    minute, so a block never touches a commitment.
//! 3. **Slots and quanta.** A *slot* is a maximal run of free minutes within
//!    one local day. Each slot is cut into quanta of `granularity_minutes`
//!    starting at the slot's first minute; a tail shorter than the
//!    granularity is left unused. Blocks are made of whole quanta, so every
//!    block starts a multiple of the granularity after its slot's start
//!    (with standard hours and a 15-minute granularity: on the quarter
//!    hours, unless a commitment ends off the quarter).
//! 4. **Rounding.** Planned minutes that are not a multiple of the
//!    granularity are rounded *up* to it (a ten-minute task still needs a
//!    block); `placed + unfit` equals that rounded amount. Items naming the
//!    same category are added together, at the first one's position.
//! 5. **Order.** Categories are placed one after the other in the order
//!    given. For each, the minutes are first spread evenly over the days
//!    that still have a free quantum: each such day gets
//!    `minutes / days` rounded down to the granularity, placed in that
//!    day's earliest free quanta (less if the day has less). What is left
//!    goes into the earliest free quanta of the week. What still does not
//!    fit is reported in [`Schedule::unfit`].
//! 6. **Output.** Adjacent quanta of the same category are merged into one
//!    [`Placed`] block; blocks are sorted by start. The same input always
//!    gives the same output.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a week could not be scheduled or an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    #[error("invalid ISO week {input:?}: expected YYYY-Www, e.g. 2026-W49")]
    BadWeekFormat { input: String },
    #[error("{year} has no ISO week {week} (it has {weeks})")]
    WeekOutOfRange { year: i32, week: u32, weeks: u32 },
    #[error("week {input:?} is outside the years protocall plans ({first} to {last})", first = WEEK_YEARS.start(), last = WEEK_YEARS.end())]
    YearOutOfRange { input: String },
    #[error(transparent)]
    Hours(#[from] HoursError),
    #[error("granularity must be between 1 and 1440 minutes, got {0}")]
    BadGranularity(u32),
    #[error("fixed interval {start} - {end} ends before it starts")]
    InvertedInterval {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error("planned minutes for {category:?} are too many to schedule")]
    PlanTooLarge { category: String },
    #[error("ISO week {year}-W{week:02} cannot be represented in {tz}")]
    Unrepresentable { year: i32, week: u32, tz: String },
}

use crate::calendar::HoursError;
pub use crate::calendar::WorkingHours;

/// Hours planned for one task category in the week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub category: String,
    pub minutes: u32,
}

/// A fixed commitment (meeting, scheduled contact, already scheduled task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One placed task block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub category: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Planned minutes of a category that found no room (after rounding up to
/// the granularity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unfit {
    pub category: String,
    pub minutes: u32,
}

/// The result of [`schedule_week`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Blocks sorted by start; never overlapping each other or a fixed
    /// interval.
    pub placed: Vec<Placed>,
    /// Only categories with something left over, in plan order.
    pub unfit: Vec<Unfit>,
    /// Free working minutes of the week after holidays and fixed
    /// commitments.
    pub capacity_minutes: u32,
    /// The part of the capacity that whole quanta can use (slot tails
    /// shorter than the granularity are lost); an upper bound on what can
    /// be placed.
    pub usable_minutes: u32,
}

/// Number of ISO weeks in ISO year `year` (52 or 53); 0 for years chrono
/// cannot represent.
pub fn weeks_in_iso_year(year: i32) -> u32 {
    if NaiveDate::from_isoywd_opt(year, 53, Weekday::Mon).is_some() {
        53
    } else if NaiveDate::from_isoywd_opt(year, 52, Weekday::Mon).is_some() {
        52
    } else {
        0
    }
}

/// Parses `"2026-W49"`: a four-digit year, `-W`, a two-digit week that the
/// year has. Surrounding whitespace is ignored.
pub fn parse_iso_week(s: &str) -> Result<(i32, u32), ScheduleError> {
    let (year, week) = read_iso_week(s)?;
    if !WEEK_YEARS.contains(&year) {
        return Err(ScheduleError::YearOutOfRange {
            input: s.to_string(),
        });
    }
    Ok((year, week))
}

/// As `parse_iso_week`, for weeks derived from one that was checked (the
/// weeks before it a report reaches): any four-digit year.
pub fn read_iso_week(s: &str) -> Result<(i32, u32), ScheduleError> {
    let bad = || ScheduleError::BadWeekFormat {
        input: s.to_string(),
    };
    let t = s.trim();
    let (year, week) = t.split_once("-W").ok_or_else(bad)?;
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(year, 4) || !digits(week, 2) {
        return Err(bad());
    }
    let year: i32 = year.parse().map_err(|_| bad())?;
    let week: u32 = week.parse().map_err(|_| bad())?;
    check_week(year, week)?;
    Ok((year, week))
}

/// The years a week may be in: wide enough for any plan or report, and
/// far enough from 0000 and 9999 that the week before and after (which
/// reports and copies reach) are still four-digit years.
pub const WEEK_YEARS: std::ops::RangeInclusive<i32> = 1900..=2999;

fn check_week(year: i32, week: u32) -> Result<NaiveDate, ScheduleError> {
    NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or(ScheduleError::WeekOutOfRange {
        year,
        week,
        weeks: weeks_in_iso_year(year),
    })
}

/// The week as UTC instants: local Monday 00:00 (inclusive) to the next
/// local Monday 00:00 (exclusive). If midnight falls in a DST gap (zones
/// that switch at midnight), the week starts at the first instant after
/// the gap.
pub fn iso_week_bounds(
    year: i32,
    week: u32,
    tz: Tz,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ScheduleError> {
    let monday = check_week(year, week)?;
    let unrepresentable = || ScheduleError::Unrepresentable {
        year,
        week,
        tz: tz.name().to_string(),
    };
    let next = monday
        .checked_add_days(Days::new(7))
        .ok_or_else(unrepresentable)?;
    let start = first_instant_at_or_after(tz, monday.and_time(NaiveTime::MIN))
        .ok_or_else(unrepresentable)?;
    let end =
        first_instant_at_or_after(tz, next.and_time(NaiveTime::MIN)).ok_or_else(unrepresentable)?;
    Ok((start, end))
}

/// The earliest instant whose local reading is `local` or later: the
/// earlier of two readings when ambiguous, the end of the gap when `local`
/// does not exist.
pub fn first_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => {
            // Gaps are at most a day (Samoa skipped 2011-12-30), so walking
            // local minutes finds the first reading after the gap quickly.
            let mut probe = local;
            for _ in 0..(2 * 24 * 60) {
                probe = probe.checked_add_signed(TimeDelta::minutes(1))?;
                if let LocalResult::Single(t) | LocalResult::Ambiguous(t, _) =
                    tz.from_local_datetime(&probe)
                {
                    return Some(refine_gap_end(tz, local, t.with_timezone(&Utc)));
                }
            }
            None
        }
    }
}

/// Transitions of old local-mean-time offsets fall on odd seconds, so the
/// first whole local minute after a gap can be up to a minute after the
/// transition itself; bisect that minute.
fn refine_gap_end(tz: Tz, local: NaiveDateTime, after: DateTime<Utc>) -> DateTime<Utc> {
    let reached = |x: DateTime<Utc>| x.with_timezone(&tz).naive_local() >= local;
    let mut hi = after;
    let Some(mut lo) = after.checked_sub_signed(TimeDelta::minutes(1)) else {
        return after;
    };
    if reached(lo) {
        return lo;
    }
    while hi - lo > TimeDelta::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// A granularity-sized piece of free time, in minutes from the week start.
struct Quantum {
    start: usize,
    day: u8,
    owner: Option<usize>,
}

/// Places `plan` in ISO week `year`-W`week`; see the module documentation
/// for the rule. Fixed intervals may extend beyond the week (only the part
/// inside counts); an empty one is ignored.
#[allow(clippy::too_many_arguments)]
pub fn schedule_week(
    year: i32,
    week: u32,
    tz: Tz,
    hours: &WorkingHours,
    holidays: &[NaiveDate],
    fixed: &[Interval],
    plan: &[PlanItem],
    granularity_minutes: u32,
) -> Result<Schedule, ScheduleError> {
    if !(1..=24 * 60).contains(&granularity_minutes) {
        return Err(ScheduleError::BadGranularity(granularity_minutes));
    }
    hours.validate()?;
    for iv in fixed {
        if iv.end < iv.start {
            return Err(ScheduleError::InvertedInterval {
                start: iv.start,
                end: iv.end,
            });
        }
    }
    let (week_start, week_end) = iso_week_bounds(year, week, tz)?;
    let monday = check_week(year, week)?;
    let holidays: BTreeSet<NaiveDate> = holidays.iter().copied().collect();
    let granularity = granularity_minutes as usize;

    // Which local day (0 = Monday) each free minute belongs to.
    let total_minutes =
        usize::try_from(ceil_div((week_end - week_start).num_seconds(), 60)).unwrap_or(0);
    let mut free: Vec<Option<u8>> = (0..total_minutes)
        .map(|i| {
            let local = (week_start + TimeDelta::minutes(i as i64))
                .with_timezone(&tz)
                .naive_local();
            let day = u8::try_from((local.date() - monday).num_days()).ok()?;
            let working = day < 7
                && !holidays.contains(&local.date())
                && hours.covers(local.weekday(), local.time());
            working.then_some(day)
        })
        .collect();
    for iv in fixed {
        let from = ((iv.start - week_start).num_seconds().div_euclid(60)).max(0);
        let to = ceil_div((iv.end - week_start).num_seconds(), 60).min(total_minutes as i64);
        if from < to {
            let (from, to) = (from as usize, to as usize);
            for slot in free.iter_mut().skip(from).take(to - from) {
                *slot = None;
            }
        }
    }
    let capacity = free.iter().filter(|d| d.is_some()).count();

    let mut quanta = Vec::new();
    let mut i = 0;
    while i < free.len() {
        let Some(Some(day)) = free.get(i).copied() else {
            i += 1;
            continue;
        };
        let run = free.iter().skip(i).take_while(|d| **d == Some(day)).count();
        for k in 0..run / granularity {
            quanta.push(Quantum {
                start: i + k * granularity,
                day,
                owner: None,
            });
        }
        i += run;
    }
    let usable = quanta.len() * granularity;

    // Items of the same category are added together at the first one's
    // place, so "unfit per category" stays one line per category.
    let mut wanted: Vec<(String, u64)> = Vec::new();
    for item in plan {
        let rounded = u64::from(item.minutes).div_ceil(u64::from(granularity_minutes));
        match wanted.iter_mut().find(|(c, _)| *c == item.category) {
            Some((_, q)) => *q += rounded,
            None => wanted.push((item.category.clone(), rounded)),
        }
    }

    let mut unfit = Vec::new();
    for (owner, (category, need)) in wanted.iter().enumerate() {
        let mut left = *need;
        let days: Vec<u8> = (0..7u8)
            .filter(|d| quanta.iter().any(|q| q.day == *d && q.owner.is_none()))
            .collect();
        if !days.is_empty() {
            let share = left / days.len() as u64;
            for day in days {
                left -= take(&mut quanta, share, owner, |q| q.day == day);
            }
        }
        left -= take(&mut quanta, left, owner, |_| true);
        if left > 0 {
            let minutes = left
                .checked_mul(u64::from(granularity_minutes))
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| ScheduleError::PlanTooLarge {
                    category: category.clone(),
                })?;
            unfit.push(Unfit {
                category: category.clone(),
                minutes,
            });
        }
    }

    let mut placed: Vec<(usize, usize, usize)> = Vec::new();
    for q in &quanta {
        let Some(owner) = q.owner else { continue };
        match placed.last_mut() {
            Some((o, _, end)) if *o == owner && *end == q.start => *end += granularity,
            _ => placed.push((owner, q.start, q.start + granularity)),
        }
    }
    let at = |minute: usize| week_start + TimeDelta::minutes(minute as i64);
    let placed = placed
        .into_iter()
        .filter_map(|(owner, start, end)| {
            Some(Placed {
                category: wanted.get(owner)?.0.clone(),
                start: at(start),
                end: at(end),
            })
        })
        .collect();

    Ok(Schedule {
        placed,
        unfit,
        // A week has at most 10 140 minutes, far below u32::MAX.
        capacity_minutes: u32::try_from(capacity).unwrap_or(u32::MAX),
        usable_minutes: u32::try_from(usable).unwrap_or(u32::MAX),
    })
}

/// Gives up to `count` of the earliest free quanta matching `which` to
/// `owner`; returns how many it gave.
fn take(quanta: &mut [Quantum], count: u64, owner: usize, which: impl Fn(&Quantum) -> bool) -> u64 {
    let mut given = 0;
    for q in quanta.iter_mut() {
        if given == count {
            break;
        }
        if q.owner.is_none() && which(q) {
            q.owner = Some(owner);
            given += 1;
        }
    }
    given
}

fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 {
        q
    } else {
        q + 1
    }
}

#[cfg(test)]
mod tests;
