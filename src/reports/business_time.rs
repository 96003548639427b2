//! Business time: how much of a span of real time falls inside the desk's
//! working hours, and when a deadline given in business hours falls due.
//! The SLA ("ANS") indicator uses both: an attendance is within its deadline
//! when the business time it took does not exceed the deadline, and the due
//! instant is the opening instant plus that many business minutes.
//!
//! This module owns the calendar arithmetic only: working ranges per
//! weekday, holidays, a time zone, and DST. Loading the calendar and
//! deciding what a deadline is belong to the callers.
//!
//! # What counts as business time
//!
//! An instant is *business time* when its local wall-clock reading in `tz`
//! falls inside one of the working ranges `[start, end)` of its local
//! weekday, and its local date is not a holiday. Business time is measured
//! in real elapsed time, so around DST changes:
//!
//! - local times skipped by a spring-forward gap are never business time
//!   (a 01:00-04:00 range on that day is worth two hours);
//! - an hour repeated by a fall-back counts twice when it is inside a range
//!   (a 01:00-03:00 range on that day is worth three hours).
//!
//! This is the rule the week scheduler and the dialplan's "outside hours"
//! follow too, so a call answered while the dialplan said "open" is measured
//! as business time here.
//!
//! # Calendar conventions
//!
//! - `hours[0]` is Monday, `hours[6]` Sunday.
//! - An end of 00:00 means 24:00, the end of the day: `(00:00, 00:00)` is the
//!   whole day. A range cannot cross midnight: split 22:00-06:00 into
//!   22:00-00:00 on one day and 00:00-06:00 on the next.
//! - Range bounds are taken to the whole second.
//! - [`Calendar::new`] refuses inverted and overlapping ranges. A calendar
//!   built by hand is still answered for without panicking: inverted ranges
//!   count as empty and overlapping ones are merged, so no time counts twice.
//!
//! # Cost
//!
//! Work is proportional to the number of days spanned, not minutes: one
//! zone-offset lookup per day, plus about 17 more per offset change to find
//! it to the second. A year is a few hundred steps. Offsets are probed once
//! a day, so a zone that changes its offset and changes it back within the
//! same 24 hours would have that excursion missed; no current zone does.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use crate::calendar::{HoursError, WorkingHours};

/// [`Calendar::add_business_minutes`] gives up after this much real time
/// without any business time in it (about two years).
pub const IDLE_LIMIT_DAYS: i64 = 731;

/// [`Calendar::add_business_minutes`] never looks further ahead than this
/// (about a hundred years), whatever the amount asked for.
pub const HORIZON_DAYS: i64 = 36_525;

const SECONDS_PER_DAY: u32 = 86_400;

/// Working hours per weekday, holidays, and the zone they are read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub tz: Tz,
    /// The desk's working hours (the calendar module's one type): Monday
    /// first, `[start, end)` local wall-clock ranges, an end of 00:00
    /// meaning 24:00 (see the module documentation).
    pub hours: WorkingHours,
    /// Local dates on which nothing is business time.
    pub holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// A calendar whose ranges are checked: each must end after it starts,
    /// and ranges of one day must not overlap (they may touch).
    pub fn new(
        tz: Tz,
        hours: WorkingHours,
        holidays: BTreeSet<NaiveDate>,
    ) -> Result<Calendar, HoursError> {
        let calendar = Calendar {
            tz,
            hours,
            holidays,
        };
        calendar.validate()?;
        Ok(calendar)
    }

    /// Checks the rules [`Calendar::new`] enforces, for a calendar built by
    /// hand.
    pub fn validate(&self) -> Result<(), HoursError> {
        self.hours.validate()
    }

    /// Business time in `[from, to)`, in whole minutes (rounded down); 0
    /// when `to <= from`.
    pub fn business_minutes(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let week = Week::of(self);
        let mut total = TimeDelta::zero();
        let mut cursor = from;
        while cursor < to {
            let offset = offset_at(self.tz, cursor);
            let end = stretch_end(self.tz, cursor, offset, to);
            if let (Some(a), Some(b)) = (to_local(cursor, offset), to_local(end, offset)) {
                if let Walk::Consumed(d) = walk_local(&week, &self.holidays, a, b, None) {
                    total = total.checked_add(&d).unwrap_or(TimeDelta::MAX);
                }
            }
            cursor = end;
        }
        total.num_minutes()
    }

    /// The earliest instant by which `minutes` of business time have passed
    /// since `from`: `business_minutes(from, result) == minutes`.
    ///
    /// When the amount runs out exactly at a closing time, that closing time
    /// is the answer, not the next opening. `0` gives `from` itself.
    /// `None` for a negative amount, when about two years
    /// ([`IDLE_LIMIT_DAYS`]) pass without business time (e.g. a calendar
    /// with no hours), or when the answer lies beyond [`HORIZON_DAYS`] or the
    /// representable range.
    pub fn add_business_minutes(&self, from: DateTime<Utc>, minutes: i64) -> Option<DateTime<Utc>> {
        if minutes < 0 {
            return None;
        }
        if minutes == 0 {
            return Some(from);
        }
        // Business time never exceeds real time, so nothing past the horizon
        // in minutes can be reached within it.
        if minutes > HORIZON_DAYS * i64::from(SECONDS_PER_DAY / 60) {
            return None;
        }
        let mut remaining = TimeDelta::try_minutes(minutes)?;
        let horizon = from
            .checked_add_signed(TimeDelta::try_days(HORIZON_DAYS)?)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let idle_limit = TimeDelta::try_days(IDLE_LIMIT_DAYS)?;
        let week = Week::of(self);
        let mut cursor = from;
        let mut last_business = from;
        while cursor < horizon {
            if cursor.signed_duration_since(last_business) > idle_limit {
                return None;
            }
            let offset = offset_at(self.tz, cursor);
            let end = stretch_end(self.tz, cursor, offset, horizon);
            if let (Some(a), Some(b)) = (to_local(cursor, offset), to_local(end, offset)) {
                match walk_local(&week, &self.holidays, a, b, Some(remaining)) {
                    Walk::Reached(local) => return to_utc(local, offset),
                    Walk::Consumed(d) if d > TimeDelta::zero() => {
                        remaining = remaining.checked_sub(&d)?;
                        last_business = end;
                    }
                    Walk::Consumed(_) => {}
                }
            }
            cursor = end;
        }
        None
    }

    /// Whether `at` is business time.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let Some(local) = to_local(at, offset_at(self.tz, at)) else {
            return false;
        };
        let date = local.date();
        if self.holidays.contains(&date) {
            return false;
        }
        let second = local.time().num_seconds_from_midnight();
        self.hours
            .days
            .get(weekday_index(date))
            .into_iter()
            .flatten()
            .map(|&(start, end)| range_seconds(start, end))
            .any(|(s, e)| s <= second && second < e)
    }
}

/// The calendar's ranges as seconds after local midnight, per weekday:
/// sorted, disjoint, non-empty, ends at most 86 400.
struct Week([Vec<(u32, u32)>; 7]);

impl Week {
    fn of(calendar: &Calendar) -> Week {
        Week(std::array::from_fn(|day| {
            let mut ranges: Vec<(u32, u32)> = calendar
                .hours
                .days
                .get(day)
                .into_iter()
                .flatten()
                .map(|&(start, end)| range_seconds(start, end))
                .filter(|(s, e)| e > s)
                .collect();
            ranges.sort_unstable();
            let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
            for (s, e) in ranges {
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            merged
        }))
    }

    fn day(&self, date: NaiveDate) -> &[(u32, u32)] {
        self.0
            .get(weekday_index(date))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

fn weekday_index(date: NaiveDate) -> usize {
    date.weekday().num_days_from_monday() as usize
}

/// `[start, end)` in seconds after midnight, with an end of 00:00 read as
/// 24:00.
fn range_seconds(start: NaiveTime, end: NaiveTime) -> (u32, u32) {
    let end = if end == NaiveTime::MIN {
        SECONDS_PER_DAY
    } else {
        end.num_seconds_from_midnight()
    };
    (start.num_seconds_from_midnight(), end)
}

fn offset_at(tz: Tz, at: DateTime<Utc>) -> FixedOffset {
    tz.offset_from_utc_datetime(&at.naive_utc()).fix()
}

fn to_local(at: DateTime<Utc>, offset: FixedOffset) -> Option<NaiveDateTime> {
    at.naive_utc().checked_add_offset(offset)
}

fn to_utc(local: NaiveDateTime, offset: FixedOffset) -> Option<DateTime<Utc>> {
    Some(local.checked_sub_offset(offset)?.and_utc())
}

/// The end of the stretch from `from` over which the zone keeps `offset`,
/// looking at most a day and no further than `limit` ahead. Always later
/// than `from` when `from < limit`.
fn stretch_end(
    tz: Tz,
    from: DateTime<Utc>,
    offset: FixedOffset,
    limit: DateTime<Utc>,
) -> DateTime<Utc> {
    let probe = from
        .checked_add_signed(TimeDelta::days(1))
        .map_or(limit, |p| p.min(limit));
    if offset_at(tz, probe) == offset {
        return probe;
    }
    // Offset changes happen on whole seconds, so bisecting whole seconds
    // finds the first instant of the new offset exactly. `lo` keeps the old
    // offset (it is at or before `from`), `hi` has the new one.
    let mut lo = from.timestamp();
    let mut hi = probe.timestamp();
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match DateTime::from_timestamp(mid, 0) {
            Some(at) if offset_at(tz, at) == offset => lo = mid,
            _ => hi = mid,
        }
    }
    match DateTime::from_timestamp(hi, 0) {
        Some(change) if change > from => change,
        _ => probe,
    }
}

enum Walk {
    /// All of the span was walked; this much of it was business time.
    Consumed(TimeDelta),
    /// The budget ran out at this local instant.
    Reached(NaiveDateTime),
}

/// Walks the local wall-clock span `[a, b)` (one constant offset, so local
/// and real durations agree) day by day, adding up business time, and
/// stops where `budget` (if any) is used up.
fn walk_local(
    week: &Week,
    holidays: &BTreeSet<NaiveDate>,
    a: NaiveDateTime,
    b: NaiveDateTime,
    budget: Option<TimeDelta>,
) -> Walk {
    let mut consumed = TimeDelta::zero();
    let mut date = a.date();
    loop {
        let midnight = date.and_time(NaiveTime::MIN);
        if midnight >= b {
            break;
        }
        if !holidays.contains(&date) {
            for &(s, e) in week.day(date) {
                let at = |seconds: u32| {
                    midnight.checked_add_signed(TimeDelta::seconds(i64::from(seconds)))
                };
                let Some(start) = at(s) else { continue };
                let end = at(e).unwrap_or(NaiveDateTime::MAX);
                let lo = start.max(a);
                let hi = end.min(b);
                if hi <= lo {
                    continue;
                }
                let length = hi.signed_duration_since(lo);
                if let Some(budget) = budget {
                    let remaining = budget.checked_sub(&consumed).unwrap_or(TimeDelta::MAX);
                    if length >= remaining {
                        return Walk::Reached(lo.checked_add_signed(remaining).unwrap_or(hi));
                    }
                }
                consumed = consumed.checked_add(&length).unwrap_or(TimeDelta::MAX);
            }
        }
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
    }
    Walk::Consumed(consumed)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;
    use chrono::Weekday;
    use chrono_tz::America::{New_York, Sao_Paulo};
    use chrono_tz::Asia::Tokyo;
    use proptest::prelude::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// A local wall-clock reading that exists exactly once.
    fn local(tz: Tz, y: i32, mo: u32, day: u32, h: u32, mi: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, mo, day, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(y: i32, mo: u32, day: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, day, h, mi, 0).single().unwrap()
    }

    /// Monday to Friday 09:00-12:00 and 13:00-18:00 (eight hours a day).
    fn office(tz: Tz, holidays: &[NaiveDate]) -> Calendar {
        let day = vec![(t(9, 0), t(12, 0)), (t(13, 0), t(18, 0))];
        Calendar::new(
            tz,
            WorkingHours {
                days: [
                    day.clone(),
                    day.clone(),
                    day.clone(),
                    day.clone(),
                    day,
                    vec![],
                    vec![],
                ],
            },
            holidays.iter().copied().collect(),
        )
        .unwrap()
    }

    fn every_day_all_day(tz: Tz) -> Calendar {
        let all = vec![(t(0, 0), t(0, 0))];
        Calendar::new(
            tz,
            WorkingHours {
                days: std::array::from_fn(|_| all.clone()),
            },
            BTreeSet::new(),
        )
        .unwrap()
    }

    // 2025-06-02 is a Monday.
    #[test]
    fn spans_inside_and_around_the_hours() {
        let cal = office(Sao_Paulo, &[]);
        let at = |day, h, m| local(Sao_Paulo, 2025, 6, day, h, m);
        assert_eq!(cal.business_minutes(at(2, 10, 0), at(2, 12, 30)), 120);
        assert_eq!(cal.business_minutes(at(2, 10, 0), at(2, 13, 30)), 150);
        // Starting before opening and ending after closing.
        assert_eq!(cal.business_minutes(at(2, 7, 0), at(2, 20, 0)), 480);
        // Entirely outside: lunch, and the night.
        assert_eq!(cal.business_minutes(at(2, 12, 0), at(2, 13, 0)), 0);
        assert_eq!(cal.business_minutes(at(2, 18, 0), at(3, 9, 0)), 0);
        // Overnight: an hour before closing and an hour after opening.
        assert_eq!(cal.business_minutes(at(2, 17, 0), at(3, 10, 0)), 120);
        // Over the weekend: Friday 17:00 to Monday 10:00.
        assert_eq!(cal.business_minutes(at(6, 17, 0), at(9, 10, 0)), 120);
        // Partial minutes round down.
        let start = at(2, 10, 0);
        assert_eq!(
            cal.business_minutes(start, start + TimeDelta::seconds(119)),
            1
        );
        // Empty and reversed spans.
        assert_eq!(cal.business_minutes(start, start), 0);
        assert_eq!(cal.business_minutes(at(3, 10, 0), at(2, 10, 0)), 0);
    }

    #[test]
    fn holidays_remove_their_whole_local_day() {
        // Tuesday 2025-06-03 off.
        let cal = office(Sao_Paulo, &[d(2025, 6, 3)]);
        let at = |day, h, m| local(Sao_Paulo, 2025, 6, day, h, m);
        assert_eq!(cal.business_minutes(at(2, 17, 0), at(4, 10, 0)), 120);
        assert_eq!(cal.business_minutes(at(3, 0, 0), at(4, 0, 0)), 0);
        assert!(!cal.is_open(at(3, 10, 0)));
        assert!(cal.is_open(at(4, 10, 0)));
        // The holiday is a local date: 02:00 UTC on Wednesday is still
        // Tuesday 23:00 in São Paulo, and 00:30 local Wednesday is not.
        let cal = Calendar::new(
            Sao_Paulo,
            WorkingHours::always(),
            [d(2025, 6, 3)].into_iter().collect(),
        )
        .unwrap();
        assert!(!cal.is_open(utc(2025, 6, 4, 2, 0)));
        assert!(cal.is_open(utc(2025, 6, 4, 3, 30)));
    }

    #[test]
    fn is_open_follows_the_ranges_and_their_bounds() {
        let cal = office(Sao_Paulo, &[]);
        let at = |h, m| local(Sao_Paulo, 2025, 6, 2, h, m);
        assert!(!cal.is_open(at(8, 59)));
        assert!(cal.is_open(at(9, 0)));
        assert!(cal.is_open(at(11, 59)));
        assert!(!cal.is_open(at(12, 0)));
        assert!(cal.is_open(at(13, 0)));
        assert!(!cal.is_open(at(18, 0)));
        // Saturday.
        assert!(!cal.is_open(local(Sao_Paulo, 2025, 6, 7, 10, 0)));
        // 09:00 in São Paulo is 12:00 UTC (UTC-3, no DST since 2019).
        assert!(!cal.is_open(utc(2025, 6, 2, 11, 59)));
        assert!(cal.is_open(utc(2025, 6, 2, 12, 0)));
    }

    #[test]
    fn ranges_over_midnight_are_split_in_two() {
        // A night shift Monday 22:00 to Tuesday 06:00.
        let mut hours = WorkingHours::default();
        hours.days[0] = vec![(t(22, 0), t(0, 0))];
        hours.days[1] = vec![(t(0, 0), t(6, 0))];
        let cal = Calendar::new(Sao_Paulo, hours, BTreeSet::new()).unwrap();
        let at = |day, h, m| local(Sao_Paulo, 2025, 6, day, h, m);
        assert_eq!(cal.business_minutes(at(2, 12, 0), at(3, 12, 0)), 480);
        assert_eq!(cal.business_minutes(at(2, 23, 30), at(3, 0, 30)), 60);
        assert!(cal.is_open(at(2, 23, 59)));
        assert!(cal.is_open(at(3, 0, 0)));
        assert!(!cal.is_open(at(3, 6, 0)));
        assert_eq!(
            cal.add_business_minutes(at(2, 12, 0), 120),
            Some(at(3, 0, 0))
        );
    }

    #[test]
    fn due_instants() {
        let cal = office(Sao_Paulo, &[]);
        let at = |day, h, m| local(Sao_Paulo, 2025, 6, day, h, m);
        // Four business hours from Friday 16:00: two on Friday, then Monday
        // 09:00-11:00.
        assert_eq!(
            cal.add_business_minutes(at(6, 16, 0), 240),
            Some(at(9, 11, 0))
        );
        // Running out exactly at closing time gives the closing time.
        assert_eq!(
            cal.add_business_minutes(at(2, 17, 0), 60),
            Some(at(2, 18, 0))
        );
        assert_eq!(
            cal.add_business_minutes(at(2, 11, 0), 60),
            Some(at(2, 12, 0))
        );
        // One minute more goes on at the next opening.
        assert_eq!(
            cal.add_business_minutes(at(2, 11, 0), 61),
            Some(at(2, 13, 1))
        );
        // From outside the hours the clock starts at the next opening.
        assert_eq!(cal.add_business_minutes(at(7, 8, 0), 1), Some(at(9, 9, 1)));
        // Nothing to add.
        assert_eq!(cal.add_business_minutes(at(7, 8, 0), 0), Some(at(7, 8, 0)));
        // Two full weeks of work from Monday 09:00 end on the second Friday
        // at 18:00.
        assert_eq!(
            cal.add_business_minutes(at(2, 9, 0), 10 * 480),
            Some(at(13, 18, 0))
        );
    }

    #[test]
    fn impossible_due_instants_are_none() {
        let cal = office(Sao_Paulo, &[]);
        let from = local(Sao_Paulo, 2025, 6, 2, 9, 0);
        assert_eq!(cal.add_business_minutes(from, -1), None);
        assert_eq!(cal.add_business_minutes(from, i64::MIN), None);
        assert_eq!(cal.add_business_minutes(from, i64::MAX), None);
        // More than the horizon could hold even if always open.
        assert_eq!(
            cal.add_business_minutes(from, HORIZON_DAYS * 1440 + 1),
            None
        );
        // A calendar with no hours at all.
        let closed = Calendar::new(Sao_Paulo, Default::default(), BTreeSet::new()).unwrap();
        assert_eq!(closed.add_business_minutes(from, 1), None);
        assert_eq!(
            closed.business_minutes(from, from + TimeDelta::days(400)),
            0
        );
        assert!(!closed.is_open(from));
        // Hours only on holidays: every Monday of 2025-2027 off, Mondays the
        // only working day; the search gives up after about two years.
        let mut hours = WorkingHours::default();
        hours.days[0] = vec![(t(9, 0), t(18, 0))];
        let mondays: BTreeSet<NaiveDate> = d(2025, 1, 1)
            .iter_days()
            .take(3 * 366)
            .filter(|day| day.weekday() == Weekday::Mon)
            .collect();
        let cal = Calendar::new(Sao_Paulo, hours, mondays).unwrap();
        assert_eq!(cal.add_business_minutes(utc(2025, 1, 1, 0, 0), 60), None);
        // ...but finds business time that comes back within two years.
        let mut hours = WorkingHours::default();
        hours.days[0] = vec![(t(9, 0), t(18, 0))];
        let one_year: BTreeSet<NaiveDate> = d(2025, 1, 1)
            .iter_days()
            .take(365)
            .filter(|day| day.weekday() == Weekday::Mon)
            .collect();
        let cal = Calendar::new(Sao_Paulo, hours, one_year).unwrap();
        // 2026-01-05 is the first Monday after the holidays.
        assert_eq!(
            cal.add_business_minutes(utc(2025, 1, 1, 0, 0), 60),
            Some(local(Sao_Paulo, 2026, 1, 5, 10, 0))
        );
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        for tz in [Sao_Paulo, Tokyo, New_York] {
            let cal = every_day_all_day(tz);
            let max = DateTime::<Utc>::MAX_UTC;
            let min = DateTime::<Utc>::MIN_UTC;
            let _ = cal.is_open(max);
            let _ = cal.is_open(min);
            let _ = cal.add_business_minutes(max - TimeDelta::days(1), 2 * 1440);
            let _ = cal.add_business_minutes(max, 1);
            let _ = cal.add_business_minutes(min, 10);
            let _ = cal.business_minutes(min, min + TimeDelta::days(3));
            let _ = cal.business_minutes(max - TimeDelta::days(3), max);
        }
        // Where local time is representable, the answer is still exact.
        let cal = every_day_all_day(Sao_Paulo);
        let near_end = DateTime::<Utc>::MAX_UTC - TimeDelta::days(10);
        assert_eq!(
            cal.business_minutes(near_end, near_end + TimeDelta::days(2)),
            2 * 1440
        );
    }

    #[test]
    fn calendar_validation() {
        let mut hours = WorkingHours::default();
        hours.days[2] = vec![(t(18, 0), t(9, 0))];
        assert_eq!(
            Calendar::new(Sao_Paulo, hours, BTreeSet::new()),
            Err(HoursError::InvertedRange {
                day: 2,
                start: t(18, 0),
                end: t(9, 0)
            })
        );
        let mut hours = WorkingHours::default();
        hours.days[4] = vec![(t(13, 0), t(18, 0)), (t(9, 0), t(13, 30))];
        assert_eq!(
            Calendar::new(Sao_Paulo, hours, BTreeSet::new()),
            Err(HoursError::OverlappingOnDay {
                day: 4,
                first: t(9, 0),
                second: t(13, 0)
            })
        );
        // Touching ranges and a 24:00 end are fine.
        let mut hours = WorkingHours::default();
        hours.days[6] = vec![(t(12, 0), t(0, 0)), (t(8, 0), t(12, 0))];
        assert!(Calendar::new(Sao_Paulo, hours, BTreeSet::new()).is_ok());
    }

    #[test]
    fn hand_built_bad_ranges_are_tolerated() {
        // Overlaps count once, inverted ranges not at all.
        let mut hours = WorkingHours::default();
        hours.days[0] = vec![
            (t(9, 0), t(12, 0)),
            (t(10, 0), t(14, 0)),
            (t(17, 0), t(16, 0)),
        ];
        let cal = Calendar {
            tz: Sao_Paulo,
            hours,
            holidays: BTreeSet::new(),
        };
        assert!(cal.validate().is_err());
        let at = |h, m| local(Sao_Paulo, 2025, 6, 2, h, m);
        assert_eq!(cal.business_minutes(at(0, 0), at(23, 0)), 300);
        assert_eq!(cal.add_business_minutes(at(0, 0), 300), Some(at(14, 0)));
        assert!(!cal.is_open(at(16, 30)));
    }

    #[test]
    fn new_york_dst_days_are_23_and_25_hours_long() {
        let cal = every_day_all_day(New_York);
        // Sunday 2025-03-09: 02:00 EST jumps to 03:00 EDT.
        let spring = local(New_York, 2025, 3, 9, 0, 0);
        let next = local(New_York, 2025, 3, 10, 0, 0);
        assert_eq!(cal.business_minutes(spring, next), 23 * 60);
        // Sunday 2025-11-02: 02:00 EDT falls back to 01:00 EST.
        let fall = local(New_York, 2025, 11, 2, 0, 0);
        let next = local(New_York, 2025, 11, 3, 0, 0);
        assert_eq!(cal.business_minutes(fall, next), 25 * 60);
        // Adding a full day of minutes from Saturday noon over the short
        // Sunday lands at 01:00 on Monday, local time.
        assert_eq!(
            cal.add_business_minutes(local(New_York, 2025, 3, 8, 12, 0), 2 * 1440),
            Some(local(New_York, 2025, 3, 10, 13, 0))
        );
        assert_eq!(
            cal.add_business_minutes(local(New_York, 2025, 3, 8, 12, 0), 1440),
            Some(local(New_York, 2025, 3, 9, 13, 0))
        );
    }

    #[test]
    fn new_york_ranges_across_the_changes() {
        let mut hours = WorkingHours::default();
        hours.days[6] = vec![(t(1, 0), t(4, 0))]; // Sundays 01:00-04:00
        let cal = Calendar::new(New_York, hours, BTreeSet::new()).unwrap();
        // The gap 02:00-03:00 never happens: two real hours.
        let whole_spring_day = (
            local(New_York, 2025, 3, 9, 0, 0),
            local(New_York, 2025, 3, 10, 0, 0),
        );
        assert_eq!(
            cal.business_minutes(whole_spring_day.0, whole_spring_day.1),
            120
        );
        // 01:00-02:00 happens twice: four real hours.
        let whole_fall_day = (
            local(New_York, 2025, 11, 2, 0, 0),
            local(New_York, 2025, 11, 3, 0, 0),
        );
        assert_eq!(
            cal.business_minutes(whole_fall_day.0, whole_fall_day.1),
            240
        );
        // 01:30 EDT is 05:30 UTC, 01:30 EST is 06:30 UTC: both open.
        assert!(cal.is_open(utc(2025, 11, 2, 5, 30)));
        assert!(cal.is_open(utc(2025, 11, 2, 6, 30)));
        // 06:59 UTC on the spring day is 01:59 EST, 07:00 UTC is 03:00 EDT.
        assert!(cal.is_open(utc(2025, 3, 9, 6, 59)));
        assert!(cal.is_open(utc(2025, 3, 9, 7, 0)));
        // 08:00 UTC is 04:00 EDT, closing time.
        assert!(!cal.is_open(utc(2025, 3, 9, 8, 0)));
        // Due instants on the fall day: 90 minutes from 01:00 EDT is 01:30
        // EST, the second 01:30 of the night.
        assert_eq!(
            cal.add_business_minutes(utc(2025, 11, 2, 5, 0), 90),
            Some(utc(2025, 11, 2, 6, 30))
        );
        // Due instants on the spring day skip the gap: 90 minutes from
        // 01:00 EST is 03:30 EDT.
        assert_eq!(
            cal.add_business_minutes(utc(2025, 3, 9, 6, 0), 90),
            Some(utc(2025, 3, 9, 7, 30))
        );
    }

    #[test]
    fn sao_paulo_historical_dst_at_midnight() {
        let cal = every_day_all_day(Sao_Paulo);
        // Sunday 2018-11-04: local midnight did not exist (00:00 -03 became
        // 01:00 -02), so the day was 23 hours long: 03:00 UTC to 02:00 UTC.
        assert_eq!(
            cal.business_minutes(utc(2018, 11, 4, 3, 0), utc(2018, 11, 5, 2, 0)),
            23 * 60
        );
        // Saturday 2019-02-16: 24:00 -02 went back to 23:00 -03, so the day
        // was 25 hours long: 02:00 UTC on the 16th to 03:00 UTC on the 17th.
        assert_eq!(
            cal.business_minutes(utc(2019, 2, 16, 2, 0), utc(2019, 2, 17, 3, 0)),
            25 * 60
        );
        // Only Saturday open: the repeated 23:00-24:00 counts twice.
        let mut hours = WorkingHours::default();
        hours.days[5] = vec![(t(23, 0), t(0, 0))];
        let cal = Calendar::new(Sao_Paulo, hours, BTreeSet::new()).unwrap();
        assert_eq!(
            cal.business_minutes(utc(2019, 2, 16, 0, 0), utc(2019, 2, 18, 0, 0)),
            120
        );
        assert_eq!(
            cal.add_business_minutes(utc(2019, 2, 16, 0, 0), 90),
            Some(utc(2019, 2, 17, 2, 30))
        );
    }

    /// Weekdays of 2025 that are not in `holidays`, counted directly.
    fn working_days_2025(holidays: &BTreeSet<NaiveDate>) -> i64 {
        d(2025, 1, 1)
            .iter_days()
            .take_while(|day| day.year() == 2025)
            .filter(|day| day.weekday().num_days_from_monday() < 5 && !holidays.contains(day))
            .count() as i64
    }

    #[test]
    fn a_year_in_sao_paulo_with_national_holidays() {
        // Brazilian national holidays of 2025 (with Carnival); four fall on
        // a weekend.
        let holidays = [
            d(2025, 1, 1),
            d(2025, 3, 3),
            d(2025, 3, 4),
            d(2025, 4, 18),
            d(2025, 4, 21),
            d(2025, 5, 1),
            d(2025, 6, 19),
            d(2025, 9, 7),
            d(2025, 10, 12),
            d(2025, 11, 2),
            d(2025, 11, 15),
            d(2025, 11, 20),
            d(2025, 12, 25),
        ];
        let cal = office(Sao_Paulo, &holidays);
        assert_eq!(working_days_2025(&cal.holidays), 261 - 9);
        let from = local(Sao_Paulo, 2025, 1, 1, 0, 0);
        let to = local(Sao_Paulo, 2026, 1, 1, 0, 0);
        assert_eq!(cal.business_minutes(from, to), 252 * 480);
        // The due instant of the whole year's business time is the last
        // closing time of the year.
        assert_eq!(
            cal.add_business_minutes(from, 252 * 480),
            Some(local(Sao_Paulo, 2025, 12, 31, 18, 0))
        );
    }

    #[test]
    fn a_year_in_new_york_with_sundays_all_day() {
        let mut cal = office(New_York, &[]);
        cal.hours.days[6] = vec![(t(0, 0), t(0, 0))];
        let from = local(New_York, 2025, 1, 1, 0, 0);
        let to = local(New_York, 2026, 1, 1, 0, 0);
        // 2025 has 52 Sundays; the 23-hour and the 25-hour one cancel out.
        assert_eq!(
            cal.business_minutes(from, to),
            working_days_2025(&BTreeSet::new()) * 480 + 52 * 1440
        );
    }

    #[test]
    fn round_trips_for_many_amounts() {
        let sp = office(Sao_Paulo, &[d(2025, 6, 3), d(2025, 6, 19)]);
        let mut ny = office(New_York, &[d(2025, 11, 27)]);
        ny.hours.days[6] = vec![(t(1, 0), t(4, 0)), (t(20, 0), t(0, 0))];
        let starts = [
            (&sp, local(Sao_Paulo, 2025, 6, 2, 10, 17)), // inside hours
            (&sp, local(Sao_Paulo, 2025, 6, 2, 12, 30)), // lunch
            (&sp, local(Sao_Paulo, 2025, 6, 3, 11, 0)),  // holiday
            (&sp, local(Sao_Paulo, 2025, 6, 7, 3, 0)),   // weekend night
            (&ny, local(New_York, 2025, 3, 7, 17, 45)),  // before spring
            (&ny, local(New_York, 2025, 10, 31, 9, 0)),  // before fall
            (&ny, utc(2025, 11, 2, 5, 59)),              // first 01:59
        ];
        for (cal, from) in starts {
            for minutes in (0..6_000).step_by(7).chain([1, 59, 60, 61, 479, 480, 481]) {
                let due = cal.add_business_minutes(from, minutes).unwrap();
                assert_eq!(
                    cal.business_minutes(from, due),
                    minutes,
                    "{from} + {minutes}"
                );
                if minutes > 0 {
                    // Nothing earlier would do: a second less falls short.
                    let just_before = due - TimeDelta::seconds(1);
                    assert_eq!(
                        cal.business_minutes(from, just_before),
                        minutes - 1,
                        "{from} + {minutes}"
                    );
                    // The last minute before the due instant is business
                    // time.
                    assert!(cal.is_open(due - TimeDelta::minutes(1)), "{due}");
                }
            }
        }
    }

    /// Business minutes counted one minute at a time with chrono's own
    /// local-time conversion, read straight from the calendar's fields.
    fn brute_force_minutes(cal: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let mut count = 0;
        let mut at = from;
        while at < to {
            if brute_force_open(cal, at) {
                count += 1;
            }
            at += TimeDelta::minutes(1);
        }
        count
    }

    fn brute_force_open(cal: &Calendar, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&cal.tz);
        if cal.holidays.contains(&local.date_naive()) {
            return false;
        }
        let minute = local.hour() * 60 + local.minute();
        let day = local.weekday().num_days_from_monday() as usize;
        cal.hours.days[day].iter().any(|&(start, end)| {
            let s = start.hour() * 60 + start.minute();
            let e = if end == t(0, 0) {
                1440
            } else {
                end.hour() * 60 + end.minute()
            };
            s <= minute && minute < e
        })
    }

    fn awkward_calendar(tz: Tz) -> Calendar {
        let mut hours = WorkingHours::default();
        hours.days[0] = vec![(t(8, 15), t(12, 0)), (t(12, 0), t(17, 45))];
        hours.days[1] = vec![(t(0, 0), t(2, 30)), (t(22, 0), t(0, 0))];
        hours.days[2] = vec![(t(9, 0), t(18, 0))];
        hours.days[4] = vec![(t(0, 0), t(0, 0))];
        hours.days[5] = vec![(t(10, 0), t(11, 0))];
        hours.days[6] = vec![(t(0, 30), t(3, 30)), (t(23, 0), t(0, 0))];
        Calendar::new(
            tz,
            hours,
            [d(2025, 3, 12), d(2025, 11, 7)].into_iter().collect(),
        )
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn measure_matches_minute_by_minute_counting(
            zone in 0usize..3,
            // Minutes from 2025-03-01 00:00 UTC: covers the spring change;
            // the second window covers the fall one.
            start in 0i64..(20 * 1440),
            fall in any::<bool>(),
            length in 0i64..(4 * 1440),
        ) {
            let tz = [New_York, Sao_Paulo, Tokyo][zone];
            let cal = awkward_calendar(tz);
            let base = if fall { utc(2025, 10, 25, 0, 0) } else { utc(2025, 3, 1, 0, 0) };
            let from = base + TimeDelta::minutes(start);
            let to = from + TimeDelta::minutes(length);
            prop_assert_eq!(
                cal.business_minutes(from, to),
                brute_force_minutes(&cal, from, to)
            );
            prop_assert_eq!(cal.is_open(from), brute_force_open(&cal, from));
        }

        #[test]
        fn due_instant_round_trips(
            zone in 0usize..3,
            start in 0i64..(400 * 1440),
            minutes in 0i64..20_000,
        ) {
            let tz = [New_York, Sao_Paulo, Tokyo][zone];
            let cal = awkward_calendar(tz);
            let from = utc(2025, 1, 1, 0, 0) + TimeDelta::minutes(start);
            let due = cal.add_business_minutes(from, minutes).unwrap();
            prop_assert!(due >= from);
            prop_assert_eq!(cal.business_minutes(from, due), minutes);
            if minutes > 0 {
                prop_assert_eq!(
                    cal.business_minutes(from, due - TimeDelta::seconds(1)),
                    minutes - 1
                );
            }
        }
    }
}
