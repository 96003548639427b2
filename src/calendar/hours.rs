//! Working hours: the ranges of each weekday in which the desk is open or
//! a consultant works, and the one parser of the `HH:MM-HH:MM` text that
//! the dialplan's `[hours]`, `tracking.hours`, a consultant's own hours
//! and the reports all write them in.
//!
//! One type for all of them, so that "open" means the same instant to the
//! router, the week planner, the SLA's business time and the report's
//! hours of the day.

use chrono::{NaiveTime, Weekday};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a range or a week of ranges was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HoursError {
    #[error(
        "invalid working-hours range {input:?}: {reason}; expected HH:MM-HH:MM, e.g. 08:00-12:00"
    )]
    BadRange { input: String, reason: &'static str },
    #[error("working-hours ranges {first:?} and {second:?} overlap")]
    OverlappingRanges { first: String, second: String },
    #[error(
        "working-hours range {start}-{end} on weekday {day} (0 = Monday) does not end after it \
         starts; write an end of 24:00 as 00:00 and split a range that crosses midnight in two"
    )]
    InvertedRange {
        day: usize,
        start: NaiveTime,
        end: NaiveTime,
    },
    #[error("working-hours ranges starting at {first} and {second} on weekday {day} (0 = Monday) overlap")]
    OverlappingOnDay {
        day: usize,
        first: NaiveTime,
        second: NaiveTime,
    },
}

/// Why one `HH:MM-HH:MM` text is not a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// Not two clock times joined by `-`; the reason says which part.
    Malformed(&'static str),
    /// Two good clock times, the end not after the start.
    Inverted,
}

impl RangeError {
    pub fn reason(self) -> &'static str {
        match self {
            RangeError::Malformed(reason) => reason,
            RangeError::Inverted => "the end must be after the start",
        }
    }
}

/// Minutes after midnight of `H:MM` or `HH:MM`, 0..=1440 (`24:00` only
/// exactly, as the end of a day). People write `8:00` as often as
/// `08:00`; both mean the same here, everywhere.
pub fn parse_clock(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// `HH:MM-HH:MM` (spaces around either time allowed) as `[start, end)`
/// minutes of the day; the end may be 1440 (`24:00`).
pub fn parse_range(text: &str) -> Result<(u32, u32), RangeError> {
    let (a, b) = text
        .trim()
        .split_once('-')
        .ok_or(RangeError::Malformed("missing '-'"))?;
    let start = parse_clock(a.trim()).ok_or(RangeError::Malformed("bad start time"))?;
    let end = parse_clock(b.trim()).ok_or(RangeError::Malformed("bad end time"))?;
    if start >= 24 * 60 {
        return Err(RangeError::Malformed("a range cannot start at 24:00"));
    }
    if end <= start {
        return Err(RangeError::Inverted);
    }
    Ok((start, end))
}

/// 1440 (24:00) wraps to 00:00, which [`WorkingHours`] reads as end of day.
pub fn minute_to_time(minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt((minute / 60) % 24, minute % 60, 0).unwrap_or(NaiveTime::MIN)
}

/// Weekly working hours, in local time.
///
/// `days[0]` is Monday, `days[6]` Sunday. A range `(start, end)` covers the
/// wall-clock times `start <= t < end`. An `end` of 00:00 means 24:00 (the
/// end of the day), so `(00:00, 00:00)` is the whole day; no other range
/// may end at or before its start (overnight shifts are two ranges).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WorkingHours {
    pub days: [Vec<(NaiveTime, NaiveTime)>; 7],
}

impl WorkingHours {
    /// Parses one day's ranges, each `"HH:MM-HH:MM"` (`H:MM` allowed,
    /// `24:00` allowed as an end and stored as 00:00). The result is sorted;
    /// overlapping ranges are refused because they are almost always a
    /// typo, while touching ones (`08:00-12:00`, `12:00-13:00`) are fine.
    pub fn parse_day(ranges: &[String]) -> Result<Vec<(NaiveTime, NaiveTime)>, HoursError> {
        let mut parsed = Vec::with_capacity(ranges.len());
        for raw in ranges {
            let (start, end) = parse_range(raw).map_err(|e| HoursError::BadRange {
                input: raw.clone(),
                reason: e.reason(),
            })?;
            parsed.push((start, end, raw));
        }
        parsed.sort_by_key(|&(start, end, _)| (start, end));
        for pair in parsed.windows(2) {
            if let [(_, first_end, first), (second_start, _, second)] = pair {
                if second_start < first_end {
                    return Err(HoursError::OverlappingRanges {
                        first: (*first).clone(),
                        second: (*second).clone(),
                    });
                }
            }
        }
        Ok(parsed
            .into_iter()
            .map(|(start, end, _)| (minute_to_time(start), minute_to_time(end)))
            .collect())
    }

    /// Monday to Friday, 08:00-12:00 and 13:00-17:00.
    pub fn standard() -> WorkingHours {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
        let day = vec![(t(8), t(12)), (t(13), t(17))];
        WorkingHours {
            days: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                Vec::new(),
                Vec::new(),
            ],
        }
    }

    /// Every day, the whole day.
    pub fn always() -> WorkingHours {
        let day = || vec![(NaiveTime::MIN, NaiveTime::MIN)];
        WorkingHours {
            days: [day(), day(), day(), day(), day(), day(), day()],
        }
    }

    /// Checks ranges built by hand rather than by [`WorkingHours::parse_day`]:
    /// each ends after it starts and ranges of one day do not overlap (they
    /// may touch).
    pub fn validate(&self) -> Result<(), HoursError> {
        for (day, ranges) in self.days.iter().enumerate() {
            let mut sorted: Vec<(NaiveTime, Option<NaiveTime>)> = Vec::with_capacity(ranges.len());
            for &(start, end) in ranges {
                let open_end = (end != NaiveTime::MIN).then_some(end);
                if open_end.is_some_and(|e| e <= start) {
                    return Err(HoursError::InvertedRange { day, start, end });
                }
                sorted.push((start, open_end));
            }
            // None (24:00) sorts after every time of the day.
            sorted.sort_by_key(|&(s, e)| (s, e.is_none(), e));
            for pair in sorted.windows(2) {
                if let [(first, first_end), (second, _)] = pair {
                    if first_end.is_none_or(|e| *second < e) {
                        return Err(HoursError::OverlappingOnDay {
                            day,
                            first: *first,
                            second: *second,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// A weekday's ranges (none: a day off).
    pub fn on(&self, weekday: Weekday) -> &[(NaiveTime, NaiveTime)] {
        self.days
            .get(weekday.num_days_from_monday() as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// Whether the local wall-clock time `t` of a `weekday` is inside a range.
    pub fn covers(&self, weekday: Weekday, t: NaiveTime) -> bool {
        self.on(weekday)
            .iter()
            .any(|&(start, end)| t >= start && (end == NaiveTime::MIN || t < end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_digit_hours_are_the_same_clock() {
        assert_eq!(parse_clock("8:00"), parse_clock("08:00"));
        assert_eq!(parse_clock("8:00"), Some(480));
        assert_eq!(parse_clock("24:00"), Some(1440));
        for bad in ["", "8", "8:0", "008:00", "24:01", "12:60", "+8:00", "８:00"] {
            assert_eq!(parse_clock(bad), None, "{bad:?}");
        }
        assert_eq!(parse_range(" 8:00 - 12:00 "), Ok((480, 720)));
        assert_eq!(parse_range("12:00-08:00"), Err(RangeError::Inverted));
        assert_eq!(parse_range("08:00-08:00"), Err(RangeError::Inverted));
        assert!(matches!(
            parse_range("24:00-24:00"),
            Err(RangeError::Malformed(_))
        ));
    }

    #[test]
    fn parse_day_accepts_and_sorts_ranges() {
        let r = WorkingHours::parse_day(&strings(&["13:00-17:00", "8:00-12:00"])).unwrap();
        assert_eq!(r, vec![(t(8, 0), t(12, 0)), (t(13, 0), t(17, 0))]);
        let r = WorkingHours::parse_day(&strings(&[" 20:00 - 24:00 "])).unwrap();
        assert_eq!(r, vec![(t(20, 0), NaiveTime::MIN)]);
        let r = WorkingHours::parse_day(&strings(&["08:00-12:00", "12:00-13:00"])).unwrap();
        assert_eq!(r.len(), 2, "touching ranges are not an overlap");
        assert_eq!(WorkingHours::parse_day(&[]).unwrap(), vec![]);
    }

    #[test]
    fn parse_day_rejects_bad_ranges() {
        for bad in [
            "08:00",
            "08:00-",
            "8-12",
            "08:00-12:60",
            "25:00-26:00",
            "24:00-24:00",
            "12:00-08:00",
            "08:00-08:00",
            "08:0-12:00",
            "+8:00-12:00",
            "08:00-12:00-13:00",
            "",
        ] {
            let err = WorkingHours::parse_day(&strings(&[bad])).unwrap_err();
            assert!(
                matches!(err, HoursError::BadRange { ref input, .. } if input == bad),
                "{bad:?} gave {err:?}"
            );
        }
        let err = WorkingHours::parse_day(&strings(&["08:00-12:00", "11:00-13:00"])).unwrap_err();
        assert!(matches!(err, HoursError::OverlappingRanges { .. }));
        assert!(err.to_string().contains("11:00-13:00"));
    }

    #[test]
    fn standard_hours_are_forty_a_week() {
        let h = WorkingHours::standard();
        let mut total = 0;
        for (i, day) in h.days.iter().enumerate() {
            let minutes: i64 = day.iter().map(|(a, b)| (*b - *a).num_minutes()).sum();
            assert_eq!(minutes, if i < 5 { 480 } else { 0 }, "day {i}");
            total += minutes;
        }
        assert_eq!(total, 40 * 60);
        assert!(h.covers(Weekday::Mon, t(8, 0)));
        assert!(h.covers(Weekday::Mon, t(11, 59)));
        assert!(!h.covers(Weekday::Mon, t(12, 30)));
        assert!(!h.covers(Weekday::Mon, t(17, 0)));
        assert!(!h.covers(Weekday::Sat, t(10, 0)));
        assert!(WorkingHours::always().covers(Weekday::Sun, t(23, 59)));
    }

    #[test]
    fn hand_built_weeks_are_checked() {
        assert_eq!(WorkingHours::standard().validate(), Ok(()));
        assert_eq!(WorkingHours::always().validate(), Ok(()));
        let mut h = WorkingHours::standard();
        h.days[2].push((t(18, 0), t(17, 0)));
        assert!(matches!(
            h.validate(),
            Err(HoursError::InvertedRange { day: 2, .. })
        ));
        let mut h = WorkingHours::standard();
        h.days[0].push((t(11, 0), t(12, 30)));
        assert!(matches!(
            h.validate(),
            Err(HoursError::OverlappingOnDay { day: 0, .. })
        ));
        let mut h = WorkingHours::default();
        h.days[4] = vec![(t(20, 0), NaiveTime::MIN), (t(22, 0), t(23, 0))];
        assert!(
            h.validate().is_err(),
            "a range inside one that ends at 24:00"
        );
    }
}
