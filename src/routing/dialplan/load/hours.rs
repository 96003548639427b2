//! The `[hours]` table of a dialplan file: business hours per weekday as
//! `HH:MM-HH:MM` ranges (the calendar's one parser, so `8:00` is read as
//! everywhere else), and the days off (national holidays switch,
//! optional days, yearly local holidays, dated closures) that make the
//! plan's [`Calendar`](crate::calendar::Calendar).

use toml::{Table, Value};

use super::*;
use crate::calendar::{minute_to_time, parse_range, Optional, RangeError};

/// `07-09` as (7, 9); 29 February is allowed (a leap-year holiday).
fn month_day(text: &str) -> Option<(u32, u32)> {
    let (m, d) = text.split_once('-')?;
    if m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (m, d) = (m.parse::<u32>().ok()?, d.parse::<u32>().ok()?);
    NaiveDate::from_ymd_opt(2024, m, d).map(|_| (m, d))
}

pub(super) fn parse_hours(ck: &mut Checker<'_>, hours: &Table) -> Hours {
    let top = Place::TopLevel;
    let mut parsed = Hours::default();
    for (key, value) in hours {
        if key == "holidays" {
            let Some(items) = ck.array(&top, "hours.holidays", value, "an array of dates") else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let field = format!("hours.holidays[{}]", i + 1);
                let date = match item {
                    Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .filter(|_| s.len() == 10),
                    // A bare TOML date (`2026-12-25` without quotes) is just as clear.
                    Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
                        dt.date.and_then(|d| {
                            NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                        })
                    }
                    _ => None,
                };
                match date {
                    Some(date) if parsed.calendar.dates.contains(&date) => ck.push(
                        &top,
                        field,
                        Problem::Duplicate {
                            value: date.to_string(),
                        },
                    ),
                    Some(date) => {
                        parsed.calendar.dates.insert(date);
                    }
                    None => ck.push(
                        &top,
                        field,
                        Problem::BadHoliday {
                            value: display_value(item),
                        },
                    ),
                }
            }
            continue;
        }
        if key == "national_holidays" {
            if let Some(on) = ck.boolean(&top, "hours.national_holidays", value) {
                parsed.calendar.national = on;
            }
            continue;
        }
        if key == "optional_holidays" {
            let field = "hours.optional_holidays";
            let Some(items) = ck.array(&top, field, value, "an array of optional holiday names")
            else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let field = format!("{field}[{}]", i + 1);
                let Some(name) = ck.string(&top, &field, item) else {
                    continue;
                };
                match Optional::parse(name) {
                    Some(o) if !parsed.calendar.optional.insert(o) => ck.push(
                        &top,
                        field,
                        Problem::Duplicate {
                            value: name.to_string(),
                        },
                    ),
                    Some(_) => {}
                    None => ck.push(
                        &top,
                        field,
                        Problem::UnknownOptionalHoliday {
                            value: name.to_string(),
                        },
                    ),
                }
            }
            continue;
        }
        if key == "local_holidays" {
            let field = "hours.local_holidays";
            let Some(items) = ck.array(&top, field, value, "an array of `MM-DD` days") else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let field = format!("{field}[{}]", i + 1);
                let Some(text) = ck.string(&top, &field, item) else {
                    continue;
                };
                match month_day(text) {
                    Some(md) if !parsed.calendar.yearly.insert(md) => ck.push(
                        &top,
                        field,
                        Problem::Duplicate {
                            value: text.to_string(),
                        },
                    ),
                    Some(_) => {}
                    None => ck.push(
                        &top,
                        field,
                        Problem::BadYearlyHoliday {
                            value: text.to_string(),
                        },
                    ),
                }
            }
            continue;
        }
        let Some(day) = DAYS.iter().position(|d| d == key) else {
            ck.push(
                &top,
                format!("hours.{key}"),
                Problem::UnknownField {
                    expected: HOURS_KEYS,
                },
            );
            continue;
        };
        let field = format!("hours.{key}");
        let Some(items) = ck.array(&top, &field, value, "an array of `HH:MM-HH:MM` ranges") else {
            continue;
        };
        let mut ranges: Vec<(u32, u32, &str, String)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_field = format!("{field}[{}]", i + 1);
            let Some(text) = ck.string(&top, &item_field, item) else {
                continue;
            };
            match parse_range(text) {
                Ok((start, end)) => ranges.push((start, end, text, item_field)),
                Err(RangeError::Inverted) => ck.push(
                    &top,
                    item_field,
                    Problem::InvertedTimeRange {
                        value: text.to_string(),
                    },
                ),
                Err(RangeError::Malformed(_)) => ck.push(
                    &top,
                    item_field,
                    Problem::BadTimeRange {
                        value: text.to_string(),
                    },
                ),
            }
        }
        ranges.sort_by_key(|r| (r.0, r.1));
        for (a, b) in ranges.iter().zip(ranges.iter().skip(1)) {
            if b.0 < a.1 {
                ck.push(
                    &top,
                    b.3.clone(),
                    Problem::OverlappingTimeRanges {
                        first: a.2.to_string(),
                        second: b.2.to_string(),
                    },
                );
            }
        }
        let Some(slot) = parsed.week.days.get_mut(day) else {
            continue;
        };
        *slot = ranges
            .iter()
            .map(|r| (minute_to_time(r.0), minute_to_time(r.1)))
            .collect();
    }
    parsed
}
