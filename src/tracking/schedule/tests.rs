//! The placement rule's tests: working-hour ranges, ISO weeks, DST-safe
//! week bounds and where blocks land.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use super::*;
use crate::calendar::minute_to_time;
use chrono_tz::America::{New_York, Sao_Paulo};
use chrono_tz::Europe::Berlin;

fn t(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// A local wall-clock time that exists exactly once, as UTC.
fn local(tz: Tz, y: i32, mo: u32, day: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, day, h, mi, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn item(category: &str, minutes: u32) -> PlanItem {
    PlanItem {
        category: category.into(),
        minutes,
    }
}

fn placed_minutes(s: &Schedule, category: &str) -> i64 {
    s.placed
        .iter()
        .filter(|p| p.category == category)
        .map(|p| (p.end - p.start).num_minutes())
        .sum()
}

fn unfit_minutes(s: &Schedule, category: &str) -> i64 {
    s.unfit
        .iter()
        .filter(|u| u.category == category)
        .map(|u| i64::from(u.minutes))
        .sum()
}

/// Local (date, start, end) of each block, for readable expectations.
fn local_blocks(s: &Schedule, tz: Tz) -> Vec<(String, NaiveDate, NaiveTime, NaiveTime)> {
    s.placed
        .iter()
        .map(|p| {
            let a = p.start.with_timezone(&tz);
            let b = p.end.with_timezone(&tz);
            (p.category.clone(), a.date_naive(), a.time(), b.time())
        })
        .collect()
}

// 2026-W49 is Monday 2026-11-30 to Sunday 2026-12-06.
const Y: i32 = 2026;
const W: u32 = 49;

#[test]
fn hand_built_inverted_ranges_are_refused() {
    let mut h = WorkingHours::standard();
    h.days[2].push((t(18, 0), t(17, 0)));
    let err = schedule_week(Y, W, Sao_Paulo, &h, &[], &[], &[], 15).unwrap_err();
    assert!(matches!(
        err,
        ScheduleError::Hours(crate::calendar::HoursError::InvertedRange { day: 2, .. })
    ));
}

/// The rule from ISO 8601, computed without chrono's week support.
fn has_53_weeks(year: i32) -> bool {
    let jan1 = d(year, 1, 1).weekday();
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    jan1 == Weekday::Thu || (leap && jan1 == Weekday::Wed)
}

#[test]
fn week_53_exists_exactly_in_long_years() {
    for year in 1990..2060 {
        let expected = if has_53_weeks(year) { 53 } else { 52 };
        assert_eq!(weeks_in_iso_year(year), expected, "{year}");
        assert_eq!(
            parse_iso_week(&format!("{year}-W53")).is_ok(),
            has_53_weeks(year),
            "{year}"
        );
    }
    // 2026 starts on a Thursday, 2020 is a leap year starting on a
    // Wednesday; 2027 and 2021 are ordinary.
    assert!(parse_iso_week("2026-W53").is_ok());
    assert!(parse_iso_week("2020-W53").is_ok());
    assert!(matches!(
        parse_iso_week("2027-W53"),
        Err(ScheduleError::WeekOutOfRange {
            year: 2027,
            week: 53,
            weeks: 52
        })
    ));
}

#[test]
fn iso_week_parsing() {
    assert_eq!(parse_iso_week("2026-W49").unwrap(), (2026, 49));
    assert_eq!(parse_iso_week(" 2026-W01\n").unwrap(), (2026, 1));
    for bad in [
        "2026W49",
        "2026-W5",
        "2026-w49",
        "26-W49",
        "2026-W049",
        "2026-W49-1",
        "",
        "-W49",
        "2026-W4a",
        "2026-W+9",
        "２026-W49",
    ] {
        assert!(
            matches!(
                parse_iso_week(bad),
                Err(ScheduleError::BadWeekFormat { .. })
            ),
            "{bad:?}"
        );
    }
    for bad in ["2026-W54", "2026-W00", "2026-W99"] {
        assert!(
            matches!(
                parse_iso_week(bad),
                Err(ScheduleError::WeekOutOfRange { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn week_bounds_are_local_mondays() {
    let (a, b) = iso_week_bounds(Y, W, Sao_Paulo).unwrap();
    assert_eq!(a, Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap());
    assert_eq!(b - a, TimeDelta::days(7));
    // ISO week 1 of 2026 starts in 2025.
    let (a, _) = iso_week_bounds(2026, 1, Berlin).unwrap();
    assert_eq!(a, Utc.with_ymd_and_hms(2025, 12, 28, 23, 0, 0).unwrap());
    assert!(iso_week_bounds(2027, 53, Berlin).is_err());
}

#[test]
fn dst_weeks_are_shorter_or_longer_in_new_york() {
    // DST starts Sunday 2026-03-08 (week 10) and ends Sunday 2026-11-01
    // (week 44).
    let (a, b) = iso_week_bounds(2026, 10, New_York).unwrap();
    assert_eq!(a, Utc.with_ymd_and_hms(2026, 3, 2, 5, 0, 0).unwrap());
    assert_eq!(b, Utc.with_ymd_and_hms(2026, 3, 9, 4, 0, 0).unwrap());
    let (a, b) = iso_week_bounds(2026, 44, New_York).unwrap();
    assert_eq!(b - a, TimeDelta::hours(7 * 24 + 1));
}

#[test]
fn gap_at_midnight_starts_the_week_after_the_gap() {
    // Sao Paulo still had DST in 2018; it began at local midnight on
    // Sunday 2018-11-04, so Monday midnights were unaffected, but the
    // Sunday 00:00 did not exist.
    let gap = d(2018, 11, 4).and_time(NaiveTime::MIN);
    assert!(Sao_Paulo.from_local_datetime(&gap).single().is_none());
    assert_eq!(
        first_instant_at_or_after(Sao_Paulo, gap).unwrap(),
        Utc.with_ymd_and_hms(2018, 11, 4, 3, 0, 0).unwrap()
    );
    // Monrovia moved from -00:44:30 to GMT at local midnight on
    // 1972-01-07: local 00:00:00-00:44:30 never happened, and the gap
    // ends at 00:44:30 UTC, half-way through a minute.
    let monrovia = chrono_tz::Africa::Monrovia;
    let gap = d(1972, 1, 7).and_hms_opt(0, 10, 0).unwrap();
    assert!(monrovia.from_local_datetime(&gap).single().is_none());
    assert_eq!(
        first_instant_at_or_after(monrovia, gap).unwrap(),
        Utc.with_ymd_and_hms(1972, 1, 7, 0, 44, 30).unwrap()
    );
}

#[test]
fn extreme_years_fail_cleanly() {
    let h = WorkingHours::standard();
    for (year, week) in [(262_142, 52), (262_143, 1), (-262_143, 2), (-262_144, 1)] {
        // Either a schedule or an error, never a panic.
        let _ = schedule_week(year, week, New_York, &h, &[], &[], &[item("a", 60)], 15);
        let _ = iso_week_bounds(year, week, Berlin);
    }
    assert!(matches!(
        iso_week_bounds(i32::MAX, 1, Berlin),
        Err(ScheduleError::WeekOutOfRange { weeks: 0, .. })
    ));
}

#[test]
fn repeated_local_time_means_the_earlier_instant() {
    let repeated = d(2026, 11, 1).and_hms_opt(1, 30, 0).unwrap();
    assert_eq!(
        first_instant_at_or_after(New_York, repeated).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap()
    );
}

#[test]
fn empty_plan_reports_capacity() {
    let s = schedule_week(
        Y,
        W,
        Sao_Paulo,
        &WorkingHours::standard(),
        &[],
        &[],
        &[],
        15,
    )
    .unwrap();
    assert_eq!(s.capacity_minutes, 40 * 60);
    assert_eq!(s.usable_minutes, 40 * 60);
    assert!(s.placed.is_empty() && s.unfit.is_empty());
}

#[test]
fn spreads_evenly_then_fills_earliest() {
    let plan = [
        item("documentation", 360),
        item("consulting maintenance", 600),
    ];
    let s = schedule_week(
        Y,
        W,
        Sao_Paulo,
        &WorkingHours::standard(),
        &[],
        &[],
        &plan,
        15,
    )
    .unwrap();
    assert!(s.unfit.is_empty());
    // documentation: 72 min/day rounds down to 60 on each of the 5
    // days, the 60 left go to Monday's first free time (right after
    // Monday's first hour, so they merge into one 2 h block).
    // maintenance: 120 min/day, after documentation on each day.
    let doc = "documentation".to_string();
    let cm = "consulting maintenance".to_string();
    let mut expected = vec![
        (doc.clone(), d(2026, 11, 30), t(8, 0), t(10, 0)),
        (cm.clone(), d(2026, 11, 30), t(10, 0), t(12, 0)),
    ];
    for day in 1..=4 {
        let date = d(2026, 11, 30) + TimeDelta::days(day);
        expected.push((doc.clone(), date, t(8, 0), t(9, 0)));
        expected.push((cm.clone(), date, t(9, 0), t(11, 0)));
    }
    assert_eq!(local_blocks(&s, Sao_Paulo), expected);
}

#[test]
fn holiday_removes_the_whole_day() {
    let holiday = d(2026, 12, 2); // Wednesday
    let plan = [item("documentation", 40 * 60)];
    let s = schedule_week(
        Y,
        W,
        Sao_Paulo,
        &WorkingHours::standard(),
        &[holiday, d(2026, 12, 25)],
        &[],
        &plan,
        15,
    )
    .unwrap();
    assert_eq!(s.capacity_minutes, 32 * 60);
    assert_eq!(placed_minutes(&s, "documentation"), 32 * 60);
    assert_eq!(
        s.unfit,
        vec![Unfit {
            category: "documentation".into(),
            minutes: 8 * 60
        }]
    );
    for p in &s.placed {
        assert_ne!(p.start.with_timezone(&Sao_Paulo).date_naive(), holiday);
    }
}

#[test]
fn fixed_meeting_in_the_middle_of_a_day_is_avoided() {
    // Tuesday 10:00-11:00, and something 14:07-14:20 that ends off the
    // quarter hour.
    let meeting = Interval {
        start: local(Sao_Paulo, 2026, 12, 1, 10, 0),
        end: local(Sao_Paulo, 2026, 12, 1, 11, 0),
    };
    let call = Interval {
        start: local(Sao_Paulo, 2026, 12, 1, 14, 7),
        end: local(Sao_Paulo, 2026, 12, 1, 14, 20),
    };
    let s = schedule_week(
        Y,
        W,
        Sao_Paulo,
        &WorkingHours::standard(),
        &[],
        &[meeting, call],
        &[item("ops", 40 * 60)],
        15,
    )
    .unwrap();
    assert_eq!(s.capacity_minutes, 40 * 60 - 60 - 13);
    let tuesday: Vec<_> = local_blocks(&s, Sao_Paulo)
        .into_iter()
        .filter(|b| b.1 == d(2026, 12, 1))
        .map(|b| (b.2, b.3))
        .collect();
    // 13:00-14:07 holds four quanta (13:00-14:00), 14:20-17:00 holds
    // ten and a 10-minute tail: 16:50-17:00 stays free.
    assert_eq!(
        tuesday,
        vec![
            (t(8, 0), t(10, 0)),
            (t(11, 0), t(12, 0)),
            (t(13, 0), t(14, 0)),
            (t(14, 20), t(16, 50)),
        ]
    );
    assert_eq!(s.usable_minutes, 40 * 60 - 60 - 13 - 7 - 10);
    assert_eq!(
        i64::from(s.usable_minutes),
        placed_minutes(&s, "ops"),
        "a plan larger than the week fills every usable quantum"
    );
    for p in &s.placed {
        for f in [meeting, call] {
            assert!(p.end <= f.start || p.start >= f.end, "{p:?} overlaps {f:?}");
        }
    }
}

#[test]
fn plan_larger_than_capacity_reports_unfit_per_category() {
    let plan = [item("a", 30 * 60), item("b", 20 * 60), item("c", 60)];
    let s = schedule_week(
        Y,
        W,
        Sao_Paulo,
        &WorkingHours::standard(),
        &[],
        &[],
        &plan,
        15,
    )
    .unwrap();
    // "a" is placed first and gets all it asked for; "b" gets the 10 h
    // left; nothing remains for "c".
    assert_eq!(placed_minutes(&s, "a"), 30 * 60);
    assert_eq!(placed_minutes(&s, "b"), 10 * 60);
    assert_eq!(placed_minutes(&s, "c"), 0);
    assert_eq!(
        s.unfit,
        vec![
            Unfit {
                category: "b".into(),
                minutes: 10 * 60
            },
            Unfit {
                category: "c".into(),
                minutes: 60
            },
        ]
    );
}

#[test]
fn minutes_round_up_to_the_granularity_and_duplicates_add_up() {
    let plan = [item("x", 50), item("y", 1), item("x", 5), item("z", 0)];
    let s = schedule_week(
        Y,
        W,
        Sao_Paulo,
        &WorkingHours::standard(),
        &[],
        &[],
        &plan,
        15,
    )
    .unwrap();
    // x: 50 -> 60 and 5 -> 15, placed together before y: five quanta,
    // one a day. y: one quantum, a share of zero per day, so it goes to
    // the earliest free time of the week.
    assert_eq!(placed_minutes(&s, "x"), 75);
    assert_eq!(placed_minutes(&s, "y"), 15);
    assert!(s.placed.iter().all(|p| p.category != "z"));
    let mut expected = vec![
        ("x".to_string(), d(2026, 11, 30), t(8, 0), t(8, 15)),
        ("y".to_string(), d(2026, 11, 30), t(8, 15), t(8, 30)),
    ];
    for day in 1..=4 {
        let date = d(2026, 11, 30) + TimeDelta::days(day);
        expected.push(("x".to_string(), date, t(8, 0), t(8, 15)));
    }
    assert_eq!(local_blocks(&s, Sao_Paulo), expected);
}

#[test]
fn granularity_is_validated() {
    let h = WorkingHours::standard();
    for g in [0, 1441] {
        assert_eq!(
            schedule_week(Y, W, Sao_Paulo, &h, &[], &[], &[], g),
            Err(ScheduleError::BadGranularity(g))
        );
    }
    let iv = Interval {
        start: local(Sao_Paulo, 2026, 12, 1, 11, 0),
        end: local(Sao_Paulo, 2026, 12, 1, 10, 0),
    };
    assert!(matches!(
        schedule_week(Y, W, Sao_Paulo, &h, &[], &[iv], &[], 15),
        Err(ScheduleError::InvertedInterval { .. })
    ));
    assert!(matches!(
        schedule_week(2027, 53, Sao_Paulo, &h, &[], &[], &[], 15),
        Err(ScheduleError::WeekOutOfRange { .. })
    ));
}

#[test]
fn huge_plans_do_not_overflow() {
    let plan = [item("a", u32::MAX), item("a", u32::MAX)];
    let r = schedule_week(
        Y,
        W,
        Sao_Paulo,
        &WorkingHours::standard(),
        &[],
        &[],
        &plan,
        7,
    );
    assert!(matches!(r, Err(ScheduleError::PlanTooLarge { .. })));
    let s = schedule_week(
        Y,
        W,
        Sao_Paulo,
        &WorkingHours::standard(),
        &[],
        &[],
        &[item("a", u32::MAX - 14)],
        15,
    )
    .unwrap();
    assert_eq!(placed_minutes(&s, "a"), 40 * 60);
    // 2^32 - 1 = 3 * 5 * 17 * 257 * 65537 is the next multiple of 15.
    assert_eq!(i64::from(s.unfit[0].minutes) + 40 * 60, i64::from(u32::MAX));
}

#[test]
fn new_york_spring_forward_week() {
    // Working hours every day, Sunday included, 00:00-24:00 on Sunday.
    let mut h = WorkingHours::standard();
    h.days[6] = vec![(NaiveTime::MIN, NaiveTime::MIN)];
    let s = schedule_week(2026, 10, New_York, &h, &[], &[], &[item("a", 9000)], 15).unwrap();
    // Sunday 2026-03-08 lasts 23 hours.
    assert_eq!(s.capacity_minutes, 40 * 60 + 23 * 60);
    let blocks = local_blocks(&s, New_York);
    // Monday is still EST: 08:00 local is 13:00 UTC.
    assert_eq!(
        s.placed[0].start,
        Utc.with_ymd_and_hms(2026, 3, 2, 13, 0, 0).unwrap()
    );
    // Sunday's share is one block running from 00:00 through the gap.
    let sunday: Vec<_> = blocks.iter().filter(|b| b.1 == d(2026, 3, 8)).collect();
    assert_eq!(sunday.len(), 1);
    assert_eq!((sunday[0].2, sunday[0].3), (t(0, 0), NaiveTime::MIN));
    let sunday_utc = s
        .placed
        .iter()
        .find(|p| p.start.with_timezone(&New_York).date_naive() == d(2026, 3, 8))
        .unwrap();
    assert_eq!(sunday_utc.end - sunday_utc.start, TimeDelta::hours(23));

    // The week after: 08:00 is EDT, 12:00 UTC.
    let s = schedule_week(
        2026,
        11,
        New_York,
        &WorkingHours::standard(),
        &[],
        &[],
        &[item("a", 60)],
        15,
    )
    .unwrap();
    assert_eq!(
        s.placed[0].start,
        Utc.with_ymd_and_hms(2026, 3, 9, 12, 0, 0).unwrap()
    );
}

#[test]
fn working_hours_across_the_gap_skip_the_missing_hour() {
    let mut h = WorkingHours {
        days: Default::default(),
    };
    h.days[6] = vec![(t(1, 0), t(4, 0))];
    let s = schedule_week(2026, 10, New_York, &h, &[], &[], &[item("a", 600)], 15).unwrap();
    // 01:00-02:00 EST and 03:00-04:00 EDT are consecutive instants.
    assert_eq!(s.capacity_minutes, 120);
    assert_eq!(placed_minutes(&s, "a"), 120);
    assert_eq!(s.placed.len(), 1);
    assert_eq!(
        s.placed[0].start,
        Utc.with_ymd_and_hms(2026, 3, 8, 6, 0, 0).unwrap()
    );
    assert_eq!(
        s.placed[0].end,
        Utc.with_ymd_and_hms(2026, 3, 8, 8, 0, 0).unwrap()
    );
}

#[test]
fn new_york_fall_back_repeats_the_hour() {
    let mut h = WorkingHours {
        days: Default::default(),
    };
    h.days[6] = vec![(t(1, 0), t(2, 0))];
    let s = schedule_week(2026, 44, New_York, &h, &[], &[], &[item("a", 600)], 15).unwrap();
    // 01:00-02:00 happens once in EDT and once in EST.
    assert_eq!(s.capacity_minutes, 120);
    assert_eq!(
        (s.placed[0].start, s.placed[0].end),
        (
            Utc.with_ymd_and_hms(2026, 11, 1, 5, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 1, 7, 0, 0).unwrap()
        )
    );
}

#[test]
fn sao_paulo_has_no_dst_any_more() {
    // Until 2018 clocks moved forward on the first Sunday of November;
    // since 2019 the offset is always -03:00.
    let mut h = WorkingHours::standard();
    h.days[6] = vec![(NaiveTime::MIN, NaiveTime::MIN)];
    let s = schedule_week(2026, 44, Sao_Paulo, &h, &[], &[], &[], 15).unwrap();
    assert_eq!(s.capacity_minutes, 40 * 60 + 24 * 60);
    let (a, b) = iso_week_bounds(2026, 44, Sao_Paulo).unwrap();
    assert_eq!(b - a, TimeDelta::days(7));
    assert_eq!(a, Utc.with_ymd_and_hms(2026, 10, 26, 3, 0, 0).unwrap());
    // In 2018 the same Sunday was 23 hours long.
    let s = schedule_week(2018, 44, Sao_Paulo, &h, &[], &[], &[], 15).unwrap();
    assert_eq!(s.capacity_minutes, 40 * 60 + 23 * 60);
}

#[test]
fn fixed_intervals_outside_or_across_the_week_are_clipped() {
    let (a, b) = iso_week_bounds(Y, W, Sao_Paulo).unwrap();
    let fixed = [
        Interval {
            start: a - TimeDelta::days(3),
            end: a + TimeDelta::hours(9), // Monday 09:00 local
        },
        Interval {
            start: b - TimeDelta::hours(56), // Friday 16:00 local
            end: b + TimeDelta::days(30),
        },
        Interval {
            start: a + TimeDelta::hours(10),
            end: a + TimeDelta::hours(10), // empty
        },
    ];
    let s = schedule_week(
        Y,
        W,
        Sao_Paulo,
        &WorkingHours::standard(),
        &[],
        &fixed,
        &[],
        15,
    )
    .unwrap();
    assert_eq!(s.capacity_minutes, 40 * 60 - 60 - 60);
}

/// Deterministic pseudo-random numbers (Knuth's MMIX LCG).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_weeks_never_overlap_and_account_for_every_minute() {
    let zones = [
        Sao_Paulo,
        New_York,
        Berlin,
        chrono_tz::Asia::Kolkata,
        chrono_tz::Australia::Lord_Howe,
    ];
    let weeks = [(2026, 10), (2026, 44), (2026, 49), (2026, 53), (2025, 13)];
    let mut rng = Lcg(42);
    for case in 0..300 {
        let tz = zones[rng.below(zones.len() as u64) as usize];
        let (year, week) = weeks[rng.below(weeks.len() as u64) as usize];
        let granularity = [1, 5, 15, 30, 45, 60][rng.below(6) as usize];
        let mut hours = WorkingHours {
            days: Default::default(),
        };
        for day in hours.days.iter_mut() {
            let mut at = rng.below(600) as u32;
            while at < 1440 && rng.below(4) != 0 {
                let len = 1 + rng.below(300) as u32;
                let end = (at + len).min(1440);
                day.push((minute_to_time(at), minute_to_time(end)));
                at = end + rng.below(120) as u32;
            }
        }
        let (ws, _) = iso_week_bounds(year, week, tz).unwrap();
        let monday = ws.with_timezone(&tz).date_naive();
        let holidays: Vec<NaiveDate> = (0..rng.below(3))
            .map(|_| monday + TimeDelta::days(rng.below(9) as i64 - 1))
            .collect();
        let fixed: Vec<Interval> = (0..rng.below(12))
            .map(|_| {
                let start = ws + TimeDelta::seconds(rng.below(8 * 86400) as i64 - 86400);
                let end = start + TimeDelta::seconds(rng.below(4 * 3600) as i64);
                Interval { start, end }
            })
            .collect();
        let categories = ["a", "b", "c", "d"];
        let plan: Vec<PlanItem> = (0..rng.below(6))
            .map(|_| item(categories[rng.below(4) as usize], rng.below(1500) as u32))
            .collect();

        let s = schedule_week(
            year,
            week,
            tz,
            &hours,
            &holidays,
            &fixed,
            &plan,
            granularity,
        )
        .unwrap();
        let again = schedule_week(
            year,
            week,
            tz,
            &hours,
            &holidays,
            &fixed,
            &plan,
            granularity,
        )
        .unwrap();
        assert_eq!(s, again, "case {case}: not deterministic");

        let g = i64::from(granularity);
        for pair in s.placed.windows(2) {
            assert!(pair[0].end <= pair[1].start, "case {case}: {pair:?}");
            if pair[0].end == pair[1].start {
                assert_ne!(pair[0].category, pair[1].category, "case {case}: unmerged");
            }
        }
        let mut used = 0;
        for p in &s.placed {
            assert!(p.start < p.end);
            let minutes = (p.end - p.start).num_minutes();
            assert_eq!(minutes % g, 0, "case {case}: {p:?}");
            used += minutes;
            for f in &fixed {
                assert!(
                    p.end <= f.start || p.start >= f.end || f.start == f.end,
                    "case {case}: {p:?} overlaps {f:?}"
                );
            }
            // Every minute of a block is working time, not a holiday.
            let mut m = p.start;
            while m < p.end {
                let l = m.with_timezone(&tz).naive_local();
                assert!(!holidays.contains(&l.date()), "case {case}: holiday {p:?}");
                let idx = l.weekday().num_days_from_monday() as usize;
                let inside = hours.days[idx]
                    .iter()
                    .any(|&(a, b)| l.time() >= a && (b == NaiveTime::MIN || l.time() < b));
                assert!(inside, "case {case}: {l} outside working hours in {p:?}");
                m += TimeDelta::minutes(1);
            }
        }
        assert!(used <= i64::from(s.usable_minutes));
        assert!(s.usable_minutes <= s.capacity_minutes);

        for c in categories {
            let requested: i64 = plan
                .iter()
                .filter(|p| p.category == c)
                .map(|p| (i64::from(p.minutes) + g - 1) / g * g)
                .sum();
            assert_eq!(
                placed_minutes(&s, c) + unfit_minutes(&s, c),
                requested,
                "case {case}: category {c}"
            );
        }
        // Something is unfit only if the week was used up.
        if !s.unfit.is_empty() {
            assert_eq!(used, i64::from(s.usable_minutes), "case {case}");
        }
    }
}
