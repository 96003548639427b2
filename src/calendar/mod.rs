//! The desk's calendar of days off: Brazilian national holidays computed
//! for any year (the fixed dates and the Easter-based Good Friday), the
//! optional days a desk may close on (Carnival, Ash Wednesday, Corpus
//! Christi: "pontos facultativos"), local holidays that recur every year
//! (a state's, a city's) and one-off closures.
//!
//! One type, read from the dialplan's `[hours]` table, so routing (is the
//! desk open?), the planner (which days are worked?) and the reports agree,
//! and a dialplan reload changes them together. The hours of the day
//! (`hours`: [`WorkingHours`] and the one `HH:MM` parser) live beside it
//! for the same reason.
//!
//! National holidays follow Lei 662/1949 with Lei 6.802/1980 (12 October),
//! Lei 14.759/2023 (20 November, from 2024) and Good Friday, kept
//! nationwide under Lei 9.093/1995.

mod hours;

pub use hours::{minute_to_time, parse_clock, parse_range, HoursError, RangeError, WorkingHours};

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate};

/// Days a desk may choose to close on, besides the national holidays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Optional {
    /// Carnival Monday and Tuesday (47 and 48 days before Easter).
    Carnival,
    /// Ash Wednesday (46 days before Easter; offices often open at 14:00,
    /// a desk that opens then closes the whole day here).
    AshWednesday,
    /// Corpus Christi (60 days after Easter).
    CorpusChristi,
}

impl Optional {
    pub const ALL: [Optional; 3] = [
        Optional::Carnival,
        Optional::AshWednesday,
        Optional::CorpusChristi,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Optional::Carnival => "carnival",
            Optional::AshWednesday => "ash_wednesday",
            Optional::CorpusChristi => "corpus_christi",
        }
    }

    pub fn parse(s: &str) -> Option<Optional> {
        Optional::ALL.into_iter().find(|o| o.as_str() == s)
    }

    fn days(self, year: i32) -> Vec<(NaiveDate, &'static str)> {
        let Some(e) = easter(year) else {
            return Vec::new();
        };
        match self {
            Optional::Carnival => vec![
                (e - Duration::days(48), "Carnaval (segunda-feira)"),
                (e - Duration::days(47), "Carnaval (terça-feira)"),
            ],
            Optional::AshWednesday => vec![(e - Duration::days(46), "Quarta-feira de Cinzas")],
            Optional::CorpusChristi => vec![(e + Duration::days(60), "Corpus Christi")],
        }
    }
}

/// Easter Sunday of `year` in the Gregorian calendar (the anonymous
/// Gregorian computus, valid for every year from 1583).
pub fn easter(year: i32) -> Option<NaiveDate> {
    if year < 1583 {
        return None;
    }
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The national holidays of `year`, in date order, with their names.
pub fn national(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let fixed: &[(u32, u32, &str, i32)] = &[
        (1, 1, "Confraternização Universal", 0),
        (4, 21, "Tiradentes", 0),
        (5, 1, "Dia do Trabalho", 0),
        (9, 7, "Independência do Brasil", 0),
        (10, 12, "Nossa Senhora Aparecida", 1980),
        (11, 2, "Finados", 0),
        (11, 15, "Proclamação da República", 0),
        (11, 20, "Dia Nacional de Zumbi e da Consciência Negra", 2024),
        (12, 25, "Natal", 0),
    ];
    let mut days: Vec<(NaiveDate, &'static str)> = fixed
        .iter()
        .filter(|(_, _, _, since)| year >= *since)
        .filter_map(|&(m, d, name, _)| Some((NaiveDate::from_ymd_opt(year, m, d)?, name)))
        .collect();
    if let Some(e) = easter(year) {
        days.push((e - Duration::days(2), "Sexta-feira Santa"));
    }
    days.sort();
    days
}

/// Which days the desk is closed on, whatever the weekday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// The national holidays of every year.
    pub national: bool,
    pub optional: BTreeSet<Optional>,
    /// Local holidays recurring every year: (month, day).
    pub yearly: BTreeSet<(u32, u32)>,
    /// One-off closures.
    pub dates: BTreeSet<NaiveDate>,
}

impl Default for Calendar {
    /// The national holidays and nothing else.
    fn default() -> Self {
        Calendar {
            national: true,
            optional: BTreeSet::new(),
            yearly: BTreeSet::new(),
            dates: BTreeSet::new(),
        }
    }
}

impl Calendar {
    /// No day off at all (a plan without `[hours]` is always open).
    pub fn none() -> Calendar {
        Calendar {
            national: false,
            ..Calendar::default()
        }
    }

    /// Whether the desk is closed all of `day`.
    pub fn is_holiday(&self, day: NaiveDate) -> bool {
        self.name(day).is_some()
    }

    /// Why `day` is off, if it is.
    pub fn name(&self, day: NaiveDate) -> Option<&'static str> {
        if self.dates.contains(&day) {
            return Some("fechamento");
        }
        if self.yearly.contains(&(day.month(), day.day())) {
            return Some("feriado local");
        }
        let year = day.year();
        let off = |list: Vec<(NaiveDate, &'static str)>| {
            list.into_iter().find(|(d, _)| *d == day).map(|(_, n)| n)
        };
        if self.national {
            if let Some(n) = off(national(year)) {
                return Some(n);
            }
        }
        self.optional.iter().find_map(|o| off(o.days(year)))
    }

    /// The days off in `[from, to]`, in order (computed per year, not per
    /// day: a report asks for three years at a time).
    pub fn between(&self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        let mut days = BTreeSet::new();
        for year in from.year()..=to.year() {
            if self.national {
                days.extend(national(year).into_iter().map(|(d, _)| d));
            }
            for o in &self.optional {
                days.extend(o.days(year).into_iter().map(|(d, _)| d));
            }
            days.extend(
                self.yearly
                    .iter()
                    .filter_map(|&(m, d)| NaiveDate::from_ymd_opt(year, m, d)),
            );
        }
        days.extend(self.dates.iter().copied());
        days.into_iter()
            .filter(|d| (from..=to).contains(d))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn easter_matches_the_published_dates() {
        for (y, m, day) in [
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2029, 4, 1),
            (2030, 4, 21),
            (2038, 4, 25),
            (2285, 3, 22),
        ] {
            assert_eq!(easter(y), Some(d(y, m, day)), "{y}");
        }
        assert_eq!(easter(1500), None);
    }

    #[test]
    fn national_holidays_of_2026_are_the_shipped_list() {
        let got: Vec<NaiveDate> = national(2026).into_iter().map(|(d, _)| d).collect();
        let want = [
            d(2026, 1, 1),
            d(2026, 4, 3),
            d(2026, 4, 21),
            d(2026, 5, 1),
            d(2026, 9, 7),
            d(2026, 10, 12),
            d(2026, 11, 2),
            d(2026, 11, 15),
            d(2026, 11, 20),
            d(2026, 12, 25),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn any_year_has_its_holidays() {
        let c = Calendar::default();
        assert!(c.is_holiday(d(2027, 1, 1)));
        assert_eq!(c.name(d(2027, 3, 26)), Some("Sexta-feira Santa"));
        assert_eq!(c.name(d(2028, 4, 14)), Some("Sexta-feira Santa"));
        assert!(c.is_holiday(d(2028, 11, 20)));
        // Before the 2023 law, 20 November was not national.
        assert!(!Calendar::default().is_holiday(d(2023, 11, 20)));
        assert!(!c.is_holiday(d(2027, 1, 4)));
        // Optional days only when chosen.
        assert!(!c.is_holiday(d(2027, 2, 8)));
        let mut with = Calendar::default();
        with.optional.insert(Optional::Carnival);
        with.optional.insert(Optional::CorpusChristi);
        assert!(with.is_holiday(d(2027, 2, 8)) && with.is_holiday(d(2027, 2, 9)));
        assert!(!with.is_holiday(d(2027, 2, 10)), "Ash Wednesday not chosen");
        assert_eq!(with.name(d(2027, 5, 27)), Some("Corpus Christi"));
    }

    #[test]
    fn local_and_one_off_days() {
        let mut c = Calendar::none();
        assert!(!c.is_holiday(d(2027, 1, 1)), "national switched off");
        c.yearly.insert((7, 9));
        c.dates.insert(d(2027, 12, 24));
        assert!(c.is_holiday(d(2027, 7, 9)) && c.is_holiday(d(2031, 7, 9)));
        assert!(c.is_holiday(d(2027, 12, 24)) && !c.is_holiday(d(2028, 12, 24)));
        assert_eq!(
            Calendar::default().between(d(2026, 12, 20), d(2027, 1, 2)),
            [d(2026, 12, 25), d(2027, 1, 1)]
        );
        // The per-year listing agrees with the per-day test.
        let mut all = Calendar::default();
        all.optional.extend(Optional::ALL);
        all.yearly.insert((2, 29));
        all.dates.insert(d(2027, 12, 24));
        let (from, to) = (d(2024, 1, 1), d(2028, 12, 31));
        let by_day: Vec<NaiveDate> = from
            .iter_days()
            .take_while(|x| *x <= to)
            .filter(|x| all.is_holiday(*x))
            .collect();
        assert_eq!(all.between(from, to), by_day);
    }
}
