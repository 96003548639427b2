//! Human time input for the command line: "yesterday 14:00", "27/11 9:30",
//! "15m ago", "1h30".
//!
//! This module owns the accepted forms (English and Brazilian Portuguese,
//! day-before-month dates) and how a local wall-clock reading becomes an
//! instant in the desk's zone, DST included. It takes `now` as an argument
//! and never reads the clock, so every answer is reproducible.
//!
//! # Forms of [`parse_when`]
//!
//! Case and surrounding/repeated whitespace do not matter.
//!
//! | input | meaning |
//! | --- | --- |
//! | `now`, `agora` | `now` |
//! | `09:30`, `9:30`, `9:30:15`, `14h30`, `14h` | today at that time |
//! | `today 8:05`, `hoje 8:05` | today |
//! | `yesterday 14:00`, `ontem 14:00` | the day before today |
//! | `tomorrow 09:00`, `amanhã 09:00`, `amanha 09:00` | the day after |
//! | `monday 10:00`, `mon 10:00`, `segunda 10:00`, `seg 10:00`, ... | the latest such weekday on or before today (today if it is one: times are mostly logged after the fact) |
//! | `2026-11-27 14:00`, `2026-11-27T14:00` | that date |
//! | `27/11/2026 14:00` | day/month/year |
//! | `27/11 14:00` | day/month of the current year |
//! | `-15m`, `15m ago`, `15m atrás`, `há 15m` | that long before `now` |
//! | `+15m` | that long after `now` |
//!
//! A time of day is always required with a date: "yesterday" alone is
//! refused rather than read as midnight. A local time that occurs twice
//! (DST fall-back) means the earlier instant; one that does not occur
//! (spring-forward gap) is an error naming the gap.
//!
//! # Forms of [`parse_duration`]
//!
//! `45` (a bare number is minutes: the unit people log most), `90m`,
//! `90min`, `2h`, `1h30`, `1h30m`, `1h 30m`, `1:30`, `1.5h`, `1,5h`. With
//! hours given, minutes must be below 60; decimal hours must come to whole
//! minutes.

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    TimeZone, Weekday,
};
use chrono_tz::Tz;
use thiserror::Error;

/// Shown in every [`parse_when`] error, so a mistyped time is a lesson.
pub const ACCEPTED_FORMS: &str = "now | HH:MM | today/yesterday/tomorrow HH:MM \
     (hoje/ontem/amanhã) | <weekday> HH:MM (monday, seg, ...) | YYYY-MM-DD HH:MM | \
     YYYY-MM-DDTHH:MM | DD/MM/YYYY HH:MM | DD/MM HH:MM | -15m | 15m ago | +15m";

/// Shown in every [`parse_duration`] error.
pub const DURATION_FORMS: &str = "45 (minutes) | 90m | 2h | 1h30 | 1h30m | 1:30 | 1.5h";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WhenError {
    #[error("no time given; accepted forms: {ACCEPTED_FORMS}")]
    Empty,
    #[error("cannot read {input:?} as a time: {reason}; accepted forms: {ACCEPTED_FORMS}")]
    Invalid { input: String, reason: String },
    #[error(
        "{input:?} means {local}, which does not exist in {zone}: the clocks skip it \
         (daylight saving time); give a time before or after the gap"
    )]
    NonExistent {
        input: String,
        local: NaiveDateTime,
        zone: String,
    },
    #[error("cannot read {input:?} as a duration: {reason}; accepted forms: {DURATION_FORMS}")]
    BadDuration { input: String, reason: String },
}

/// Reads a point in time in `now`'s zone; see the module documentation
/// for the forms.
pub fn parse_when(input: &str, now: DateTime<Tz>) -> Result<DateTime<Tz>, WhenError> {
    let invalid = |reason: &str| WhenError::Invalid {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let lower = input.to_lowercase();
    let tokens: Vec<&str> = lower.split_whitespace().collect();
    match tokens.as_slice() {
        [] => return Err(WhenError::Empty),
        ["now" | "agora"] => return Ok(now),
        _ => {}
    }
    if let Some((sign, amount)) = relative(&tokens) {
        let delta = duration_minutes(&amount)
            .and_then(|m| {
                i64::try_from(m)
                    .ok()
                    .and_then(TimeDelta::try_minutes)
                    .ok_or("too long")
            })
            .map_err(|reason| invalid(&format!("bad duration {amount:?}: {reason}")))?;
        let at = if sign < 0 {
            now.checked_sub_signed(delta)
        } else {
            now.checked_add_signed(delta)
        };
        return at.ok_or_else(|| invalid("too far from now"));
    }

    let today = now.date_naive();
    let (date, time) = match tokens.as_slice() {
        [one] => match one.split_once('t') {
            // "2026-11-27t14:00" (lower-cased); "today" has no digits
            // before its "t", so it is not mistaken for this form.
            Some((d, t)) if d.starts_with(|c: char| c.is_ascii_digit()) => {
                (parse_date(d, today).map_err(|r| invalid(&r))?, t)
            }
            _ if looks_like_day(one) => return Err(invalid("a time of day is needed too")),
            _ => (today, *one),
        },
        [day, time] => (parse_date(day, today).map_err(|r| invalid(&r))?, *time),
        _ => return Err(invalid("too many words")),
    };
    let time = parse_time(time).map_err(|r| invalid(&r))?;
    let local = date.and_time(time);
    match now.timezone().from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Ok(t),
        LocalResult::None => Err(WhenError::NonExistent {
            input: input.to_string(),
            local,
            zone: now.timezone().name().to_string(),
        }),
    }
}

/// Reads a length of time; see the module documentation for the forms.
pub fn parse_duration(input: &str) -> Result<TimeDelta, WhenError> {
    let bad = |reason: &str| WhenError::BadDuration {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let minutes = duration_minutes(input).map_err(bad)?;
    i64::try_from(minutes)
        .ok()
        .and_then(TimeDelta::try_minutes)
        .ok_or_else(|| bad("too long"))
}

/// `(-1 | 1, duration text)` for "-15m", "+15m", "15m ago", "15m atrás",
/// "há 15m".
fn relative(tokens: &[&str]) -> Option<(i8, String)> {
    match tokens {
        [first, rest @ ..] if first.starts_with(['-', '+']) => {
            let sign = if first.starts_with('-') { -1 } else { 1 };
            let mut text = first.get(1..)?.to_string();
            for t in rest {
                text.push_str(t);
            }
            Some((sign, text))
        }
        [amount @ .., "ago" | "atrás" | "atras"] if !amount.is_empty() => {
            Some((-1, amount.concat()))
        }
        ["há" | "ha", amount @ ..] if !amount.is_empty() => Some((-1, amount.concat())),
        _ => None,
    }
}

fn looks_like_day(s: &str) -> bool {
    day_word(s).is_some()
        || weekday(s).is_some()
        || (s.contains(['/', '-']) && s.starts_with(|c: char| c.is_ascii_digit()))
}

/// Days relative to today.
fn day_word(s: &str) -> Option<i64> {
    match s {
        "today" | "hoje" => Some(0),
        "yesterday" | "ontem" => Some(-1),
        "tomorrow" | "amanhã" | "amanha" => Some(1),
        _ => None,
    }
}

fn weekday(s: &str) -> Option<Weekday> {
    let s = s.strip_suffix("-feira").unwrap_or(s);
    Some(match s {
        "monday" | "mon" | "segunda" | "seg" => Weekday::Mon,
        "tuesday" | "tue" | "tues" | "terça" | "terca" | "ter" => Weekday::Tue,
        "wednesday" | "wed" | "quarta" | "qua" => Weekday::Wed,
        "thursday" | "thu" | "thurs" | "quinta" | "qui" => Weekday::Thu,
        "friday" | "fri" | "sexta" | "sex" => Weekday::Fri,
        "saturday" | "sat" | "sábado" | "sabado" | "sáb" | "sab" => Weekday::Sat,
        "sunday" | "sun" | "domingo" | "dom" => Weekday::Sun,
        _ => return None,
    })
}

fn parse_date(s: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    if let Some(offset) = day_word(s) {
        let shifted = if offset < 0 {
            today.checked_sub_days(Days::new(offset.unsigned_abs()))
        } else {
            today.checked_add_days(Days::new(offset.unsigned_abs()))
        };
        return shifted.ok_or_else(|| "date out of range".to_string());
    }
    if let Some(wd) = weekday(s) {
        let back = (7 + today.weekday().num_days_from_monday() - wd.num_days_from_monday()) % 7;
        return today
            .checked_sub_days(Days::new(u64::from(back)))
            .ok_or_else(|| "date out of range".to_string());
    }
    let fields = |sep: char| -> Option<Vec<u32>> {
        s.split(sep)
            .map(|p| {
                (!p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse().ok())
                    .flatten()
            })
            .collect()
    };
    let parts_len: Vec<usize> = s.split(['-', '/']).map(str::len).collect();
    let (y, m, d) = match (s.contains('-'), s.contains('/')) {
        (true, false) => match (fields('-').as_deref(), parts_len.as_slice()) {
            (Some(&[y, m, d]), [4, 2, 2]) => (y as i32, m, d),
            _ => return Err(format!("{s:?} is not a YYYY-MM-DD date")),
        },
        (false, true) => match (fields('/').as_deref(), parts_len.as_slice()) {
            (Some(&[d, m, y]), [1 | 2, 1 | 2, 4]) => (y as i32, m, d),
            (Some(&[d, m]), [1 | 2, 1 | 2]) => (today.year(), m, d),
            _ => return Err(format!("{s:?} is not a DD/MM/YYYY or DD/MM date")),
        },
        _ => return Err(format!("{s:?} is not a day")),
    };
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("{y:04}-{m:02}-{d:02} is not a date"))
}

/// `H:MM`, `HH:MM`, `HH:MM:SS`, `14h30`, `14h`.
fn parse_time(s: &str) -> Result<NaiveTime, String> {
    let not_time = || format!("{s:?} is not a time of day (HH:MM)");
    let parts: Vec<&str> = if s.contains(':') {
        s.split(':').collect()
    } else if let Some((h, m)) = s.split_once('h') {
        if m.is_empty() {
            vec![h, "00"]
        } else {
            vec![h, m]
        }
    } else {
        return Err(not_time());
    };
    let ok_digits =
        |p: &str, lens: &[usize]| lens.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    let (h, m, sec) = match parts.as_slice() {
        [h, m] if ok_digits(h, &[1, 2]) && ok_digits(m, &[2]) => (*h, *m, "0"),
        [h, m, sec] if ok_digits(h, &[1, 2]) && ok_digits(m, &[2]) && ok_digits(sec, &[2]) => {
            (*h, *m, *sec)
        }
        _ => return Err(not_time()),
    };
    let num = |p: &str| p.parse::<u32>().map_err(|_| not_time());
    let (h, m, sec) = (num(h)?, num(m)?, num(sec)?);
    if h > 23 {
        return Err(format!("hour {h} is out of range (00-23)"));
    }
    if m > 59 || sec > 59 {
        return Err(format!("{s:?}: minutes and seconds go up to 59"));
    }
    NaiveTime::from_hms_opt(h, m, sec).ok_or_else(not_time)
}

/// Whole minutes of a duration text (see the module documentation).
fn duration_minutes(input: &str) -> Result<u64, &'static str> {
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    let int = |p: &str| -> Result<u64, &'static str> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err("expected a number");
        }
        p.parse().map_err(|_| "number too large")
    };
    let hm = |h: u64, m: u64| -> Result<u64, &'static str> {
        if m >= 60 {
            return Err("minutes after hours must be below 60");
        }
        h.checked_mul(60)
            .and_then(|h| h.checked_add(m))
            .ok_or("too long")
    };
    if s.is_empty() {
        return Err("empty");
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return int(&s);
    }
    if let Some((h, m)) = s.split_once(':') {
        if m.len() != 2 {
            return Err("expected H:MM");
        }
        return hm(int(h)?, int(m)?);
    }
    if let Some((h, rest)) = s.split_once('h') {
        if rest.is_empty() && h.contains(['.', ',']) {
            return decimal_hours(h);
        }
        let m = rest
            .strip_suffix("min")
            .or_else(|| rest.strip_suffix('m'))
            .unwrap_or(rest);
        let m = if m.is_empty() { 0 } else { int(m)? };
        return hm(int(h)?, m);
    }
    match s.strip_suffix("min").or_else(|| s.strip_suffix('m')) {
        Some(m) => int(m),
        None => Err("unknown unit"),
    }
}

/// `1.5` or `1,5` hours as whole minutes.
fn decimal_hours(s: &str) -> Result<u64, &'static str> {
    let (whole, frac) = s.split_once(['.', ',']).ok_or("expected a number")?;
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || frac.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 6 {
        return Err("expected a decimal number of hours");
    }
    let whole: u64 = whole.parse().map_err(|_| "number too large")?;
    let frac_value: u64 = frac.parse().map_err(|_| "expected a number")?;
    let scale = 10u64.pow(frac.len() as u32);
    let frac_minutes = frac_value * 60;
    if !frac_minutes.is_multiple_of(scale) {
        return Err("decimal hours must come to whole minutes");
    }
    whole
        .checked_mul(60)
        .and_then(|m| m.checked_add(frac_minutes / scale))
        .ok_or("too long")
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
    use chrono::Utc;
    use chrono_tz::America::{New_York, Sao_Paulo};

    /// Saturday 2026-11-28 10:00 in São Paulo (-03:00, no DST).
    fn now() -> DateTime<Tz> {
        Sao_Paulo.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap()
    }

    fn sp(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Tz> {
        Sao_Paulo.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn ok(input: &str) -> DateTime<Tz> {
        parse_when(input, now()).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

    #[test]
    fn now_and_times_of_today() {
        assert_eq!(ok("now"), now());
        assert_eq!(ok("  NOW "), now());
        assert_eq!(ok("agora"), now());
        assert_eq!(ok("09:30"), sp(2026, 11, 28, 9, 30));
        // São Paulo is UTC-3 all year now.
        assert_eq!(ok("09:30").with_timezone(&Utc), utc(2026, 11, 28, 12, 30));
        assert_eq!(ok("9:30"), sp(2026, 11, 28, 9, 30));
        assert_eq!(ok("0:00"), sp(2026, 11, 28, 0, 0));
        assert_eq!(ok("23:59"), sp(2026, 11, 28, 23, 59));
        assert_eq!(
            ok("09:30:15"),
            sp(2026, 11, 28, 9, 30) + TimeDelta::seconds(15)
        );
        assert_eq!(ok("14h30"), sp(2026, 11, 28, 14, 30));
        assert_eq!(ok("14h"), sp(2026, 11, 28, 14, 0));
    }

    #[test]
    fn day_words() {
        assert_eq!(ok("today 8:05"), sp(2026, 11, 28, 8, 5));
        assert_eq!(ok("Hoje 8:05"), sp(2026, 11, 28, 8, 5));
        assert_eq!(ok("yesterday 14:00"), sp(2026, 11, 27, 14, 0));
        assert_eq!(ok("ontem   14:00"), sp(2026, 11, 27, 14, 0));
        assert_eq!(ok("tomorrow 09:00"), sp(2026, 11, 29, 9, 0));
        assert_eq!(ok("AMANHÃ 09:00"), sp(2026, 11, 29, 9, 0));
        assert_eq!(ok("amanha 09:00"), sp(2026, 11, 29, 9, 0));
        // Across a month boundary.
        let first = Sao_Paulo.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        assert_eq!(
            parse_when("yesterday 18:00", first).unwrap(),
            sp(2026, 11, 30, 18, 0)
        );
    }

    #[test]
    fn weekdays_mean_the_latest_one_not_after_today() {
        // now is a Saturday.
        assert_eq!(ok("monday 10:00"), sp(2026, 11, 23, 10, 0));
        assert_eq!(ok("seg 10:00"), sp(2026, 11, 23, 10, 0));
        assert_eq!(ok("segunda-feira 10:00"), sp(2026, 11, 23, 10, 0));
        assert_eq!(ok("terça 10:00"), sp(2026, 11, 24, 10, 0));
        assert_eq!(ok("qua 10:00"), sp(2026, 11, 25, 10, 0));
        assert_eq!(ok("thu 10:00"), sp(2026, 11, 26, 10, 0));
        assert_eq!(ok("sex 14:00"), sp(2026, 11, 27, 14, 0));
        assert_eq!(ok("sábado 09:00"), sp(2026, 11, 28, 9, 0));
        assert_eq!(ok("saturday 09:00"), sp(2026, 11, 28, 9, 0));
        assert_eq!(ok("domingo 09:00"), sp(2026, 11, 22, 9, 0));
        assert_eq!(ok("Sunday 09:00"), sp(2026, 11, 22, 9, 0));
        for (word, wd) in [
            ("monday", Weekday::Mon),
            ("tuesday", Weekday::Tue),
            ("wednesday", Weekday::Wed),
            ("thursday", Weekday::Thu),
            ("friday", Weekday::Fri),
            ("saturday", Weekday::Sat),
            ("sunday", Weekday::Sun),
        ] {
            let t = ok(&format!("{word} 12:00"));
            assert_eq!(t.weekday(), wd);
            let back = (now().date_naive() - t.date_naive()).num_days();
            assert!((0..7).contains(&back), "{word}: {back} days back");
        }
    }

    #[test]
    fn explicit_dates() {
        assert_eq!(ok("2026-11-27 14:00"), sp(2026, 11, 27, 14, 0));
        assert_eq!(ok("2026-11-27T14:00"), sp(2026, 11, 27, 14, 0));
        assert_eq!(ok("2026-11-27t14:00"), sp(2026, 11, 27, 14, 0));
        assert_eq!(ok("27/11/2026 14:00"), sp(2026, 11, 27, 14, 0));
        assert_eq!(ok("5/1/2027 8:00"), sp(2027, 1, 5, 8, 0));
        // Day first: 12/01 is the 12th of January, not December 1st.
        assert_eq!(ok("12/01 14:00"), sp(2026, 1, 12, 14, 0));
        assert_eq!(ok("27/11 14:00"), sp(2026, 11, 27, 14, 0));
        assert_eq!(ok("2024-02-29 10:00"), sp(2024, 2, 29, 10, 0));
    }

    #[test]
    fn relative_to_now() {
        let before = now() - TimeDelta::minutes(15);
        assert_eq!(ok("-15m"), before);
        assert_eq!(ok("- 15m"), before);
        assert_eq!(ok("15m ago"), before);
        assert_eq!(ok("15 min ago"), before);
        // A bare number is minutes, as in parse_duration.
        assert_eq!(ok("15 ago"), before);
        assert_eq!(ok("15m atrás"), before);
        assert_eq!(ok("há 15m"), before);
        assert_eq!(ok("-1h30"), now() - TimeDelta::minutes(90));
        assert_eq!(ok("2h ago"), now() - TimeDelta::hours(2));
        assert_eq!(ok("+15m"), now() + TimeDelta::minutes(15));
        assert_eq!(ok("-0m"), now());
    }

    fn err(input: &str) -> WhenError {
        parse_when(input, now()).expect_err(input)
    }

    #[test]
    fn rejections_name_the_input_and_the_forms() {
        for input in [
            "25:00",
            "24:00",
            "12:60",
            "2026-02-30 10:00",
            "31/02 10:00",
            "29/02/2026 10:00",
            "13/13/2026 10:00",
            "yesterday",
            "2026-11-27",
            "27/11",
            "monday",
            "lunedi 10:00",
            "tomorrow 9",
            "10:5",
            "10:00 pm",
            "2026-11-27 14:00 extra",
            "26-11-27 14:00",
            "27/11/26 14:00",
            "-15x",
            "ago",
            "-",
            "hhh",
            "1h30m ago ago",
            "-99999999999999999999m",
            "-9999999999999m",
        ] {
            let e = err(input);
            let msg = e.to_string();
            assert!(
                matches!(e, WhenError::Invalid { .. }),
                "{input:?} gave {e:?}"
            );
            assert!(msg.contains(&format!("{input:?}")), "{input:?}: {msg}");
            assert!(msg.contains(ACCEPTED_FORMS), "{input:?}: {msg}");
        }
        assert!(err("25:00").to_string().contains("hour 25"));
        assert!(err("24:00").to_string().contains("hour 24"));
        assert!(err("2026-02-30 10:00").to_string().contains("2026-02-30"));
        for empty in ["", "   ", "\t\n"] {
            let e = err(empty);
            assert_eq!(e, WhenError::Empty);
            assert!(e.to_string().contains(ACCEPTED_FORMS));
        }
    }

    #[test]
    fn new_york_dst_gap_and_overlap() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        let spring = New_York.with_ymd_and_hms(2026, 3, 8, 12, 0, 0).unwrap();
        let e = parse_when("02:30", spring).unwrap_err();
        assert!(matches!(&e, WhenError::NonExistent { zone, .. } if zone == "America/New_York"));
        let msg = e.to_string();
        assert!(
            msg.contains("\"02:30\"") && msg.contains("does not exist"),
            "{msg}"
        );
        assert_eq!(
            parse_when("01:59", spring).unwrap().with_timezone(&Utc),
            utc(2026, 3, 8, 6, 59)
        );
        assert_eq!(
            parse_when("03:00", spring).unwrap().with_timezone(&Utc),
            utc(2026, 3, 8, 7, 0)
        );
        assert_eq!(
            parse_when("yesterday 02:30", spring)
                .unwrap()
                .with_timezone(&Utc),
            utc(2026, 3, 7, 7, 30)
        );
        // Relative input is plain arithmetic on instants: one hour before
        // 03:30 EDT is 01:30 EST.
        let after_gap = New_York.with_ymd_and_hms(2026, 3, 8, 3, 30, 0).unwrap();
        let t = parse_when("-1h", after_gap).unwrap();
        assert_eq!(t.with_timezone(&Utc), utc(2026, 3, 8, 6, 30));
        assert_eq!(
            t.naive_local().time(),
            NaiveTime::from_hms_opt(1, 30, 0).unwrap()
        );

        // 2026-11-01: 01:00-02:00 happens twice; the earlier (EDT) wins.
        let fall = New_York.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        assert_eq!(
            parse_when("01:30", fall).unwrap().with_timezone(&Utc),
            utc(2026, 11, 1, 5, 30)
        );
        assert_eq!(
            parse_when("02:30", fall).unwrap().with_timezone(&Utc),
            utc(2026, 11, 1, 7, 30)
        );
    }

    #[test]
    fn random_input_never_panics() {
        let alphabet: Vec<char> = "0123456789:/-+Tthm., agoáã\u{1F600}".chars().collect();
        let mut state = 7u64;
        for _ in 0..20_000 {
            let mut s = String::new();
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            for _ in 0..(state >> 60) {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                s.push(alphabet[((state >> 33) % alphabet.len() as u64) as usize]);
            }
            let _ = parse_when(&s, now());
            let _ = parse_duration(&s);
        }
    }

    #[test]
    fn durations() {
        let m = |n| TimeDelta::minutes(n);
        for (input, expected) in [
            ("45", m(45)),
            ("0", m(0)),
            ("90m", m(90)),
            ("90min", m(90)),
            ("90 min", m(90)),
            ("2h", m(120)),
            ("1h30", m(90)),
            ("1h30m", m(90)),
            ("1h 30m", m(90)),
            ("1H05", m(65)),
            ("1:30", m(90)),
            ("0:05", m(5)),
            ("1.5h", m(90)),
            ("1,25h", m(75)),
            ("0.1h", m(6)),
            ("10h", m(600)),
        ] {
            assert_eq!(
                parse_duration(input).unwrap_or_else(|e| panic!("{input:?}: {e}")),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn bad_durations() {
        for input in [
            "",
            " ",
            "h",
            "m",
            "1h60",
            "1h90m",
            "1:60",
            "1:5",
            "-5m",
            "+5",
            "1.5",
            "1.01h",
            "1.5h30",
            "1x",
            "1d",
            "1 h x",
            "abc",
            "99999999999999999999",
            "1.h",
            ".5h",
            "18446744073709551615h",
            "９0m",
        ] {
            match parse_duration(input) {
                Err(e @ WhenError::BadDuration { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("{input:?}")), "{msg}");
                    assert!(msg.contains(DURATION_FORMS), "{msg}");
                }
                other => panic!("{input:?} gave {other:?}"),
            }
        }
    }
}
