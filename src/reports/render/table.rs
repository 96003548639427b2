//! The typed tables every format is rendered from: a [`Cell`] knows what it
//! holds (hours, a ratio, an instant…) and how it reads as CSV text (the
//! machine's form, the same in every language) and on the page (the
//! reader's: `1.234,50` and `seg 13/01/2025 09:30` in Portuguese); rows,
//! tables and items group cells the way the report shows them. The number
//! and date formatting both readings share lives here too, so the CSV and
//! the page cannot round a figure differently.

use chrono::{DateTime, Datelike, Duration, FixedOffset, Weekday};

use crate::i18n::Lang;

/// One typed cell; each format decides how to show it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
    Empty,
    Text(String),
    Int(i64),
    /// A signed difference of counts ("+3").
    IntChange(i64),
    /// Minutes, shown as hours.
    Hours(i64),
    /// A signed difference of minutes, shown as hours.
    HoursChange(i64),
    /// A ratio 0..1 (finite).
    Ratio(f64),
    /// A difference of two ratios, shown in percentage points.
    Points(f64),
    /// A plain number with so many decimals (finite).
    Num(f64, usize),
    /// An hour of the day, 0–23.
    Hour(u32),
    /// An RFC 3339 instant.
    DateTime(String),
}

impl Cell {
    pub(super) fn ratio(v: Option<f64>) -> Cell {
        match v {
            Some(v) if v.is_finite() => Cell::Ratio(v),
            _ => Cell::Empty,
        }
    }

    pub(super) fn num(v: Option<f64>, decimals: usize) -> Cell {
        match v {
            Some(v) if v.is_finite() => Cell::Num(v, decimals),
            _ => Cell::Empty,
        }
    }

    pub(super) fn points(v: Option<f64>) -> Cell {
        match v {
            Some(v) if v.is_finite() => Cell::Points(v),
            _ => Cell::Empty,
        }
    }

    pub(super) fn csv(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) | Cell::DateTime(s) => s.clone(),
            Cell::Int(v) | Cell::IntChange(v) => v.to_string(),
            Cell::Hours(m) | Cell::HoursChange(m) => fixed(hours(*m), 2),
            Cell::Ratio(v) => fixed(*v, 4),
            Cell::Points(v) => fixed(points(*v), 2),
            Cell::Num(v, d) => fixed(*v, *d),
            Cell::Hour(h) => h.to_string(),
        }
    }

    /// The cell for people, in `lang`'s way of writing numbers.
    pub(super) fn display(&self, lang: Lang) -> String {
        match self {
            Cell::Empty => "—".into(),
            Cell::Text(s) => s.clone(),
            Cell::Int(v) => number(lang, *v as f64, 0),
            Cell::IntChange(v) => signed(&number(lang, *v as f64, 0), *v > 0),
            Cell::Hours(m) => number(lang, hours(*m), 2),
            Cell::HoursChange(m) => signed(&number(lang, hours(*m), 2), *m > 0),
            Cell::Ratio(v) => format!("{}%", number(lang, v * 100.0, 1)),
            Cell::Points(v) => {
                let text = number(lang, points(*v), 1);
                // The sign follows what is shown: +0.04 pp reads "0,0".
                let positive =
                    !text.starts_with('-') && text.bytes().any(|b| (b'1'..=b'9').contains(&b));
                format!("{} {}", signed(&text, positive), lang.t("report.unit.pp"))
            }
            Cell::Num(v, d) => number(lang, *v, *d),
            Cell::Hour(h) => format!("{h:02}:00"),
            Cell::DateTime(s) => display_datetime(s, lang),
        }
    }

    pub(super) fn numeric(&self) -> bool {
        !matches!(self, Cell::Text(_) | Cell::DateTime(_) | Cell::Empty)
    }
}

/// A row; `total` marks the team's row, set in bold.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) cells: Vec<Cell>,
    pub(super) total: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// A header and many rows.
    Rows,
    /// A single row of figures: wide in the CSV (one header, one record),
    /// "figure | value" pairs in the workbook and on the page, where a wide
    /// row would not fit a screen.
    Record,
}

#[derive(Debug, Clone)]
pub(super) struct Table {
    /// `None` for an item's main table.
    pub(super) subtitle: Option<&'static str>,
    pub(super) columns: Vec<&'static str>,
    pub(super) rows: Vec<Row>,
    pub(super) layout: Layout,
}

#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) number: u8,
    pub(super) title: String,
    /// At most 31 characters, Excel's limit.
    pub(super) sheet: &'static str,
    pub(super) tables: Vec<Table>,
}

impl Item {
    /// The CSV title record of one of the item's tables.
    pub(super) fn heading(&self, table: &Table) -> String {
        match table.subtitle {
            Some(sub) => format!("# {}. {}: {}", self.number, self.title, sub),
            None => format!("# {}. {}", self.number, self.title),
        }
    }
}

pub(super) fn rows_table(columns: Vec<&'static str>, rows: Vec<Row>) -> Table {
    Table {
        subtitle: None,
        columns,
        rows,
        layout: Layout::Rows,
    }
}

pub(super) fn record_table(columns: Vec<&'static str>, cells: Vec<Cell>) -> Table {
    Table {
        subtitle: None,
        columns,
        rows: vec![Row {
            cells,
            total: false,
        }],
        layout: Layout::Record,
    }
}

// ---------------------------------------------------------------------------
// Numbers and dates

/// A difference of ratios in percentage points, rid of the binary noise of
/// the subtraction (0.9375 − 0.9 is 3.7499…, which would round down).
pub(super) fn points(difference: f64) -> f64 {
    let rounded = (difference * 100.0 * 1e9).round() / 1e9;
    if rounded.is_finite() {
        rounded
    } else {
        difference * 100.0
    }
}

pub(super) fn hours(minutes: i64) -> f64 {
    minutes as f64 / 60.0
}

/// A fixed-point number without "-0.00", "NaN" or "inf", with a '.' and
/// no grouping: the machine's form (CSV).
fn fixed(v: f64, decimals: usize) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s.chars().skip(1).all(|c| c == '0' || c == '.') {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// A number for people in `lang` (`1.234,50` / `1,234.50`), never "NaN".
pub(super) fn number(lang: Lang, v: f64, decimals: usize) -> String {
    lang.number(if v.is_finite() { v } else { 0.0 }, decimals)
}

fn signed(text: &str, positive: bool) -> String {
    if positive {
        format!("+{text}")
    } else {
        text.to_string()
    }
}

fn weekday(lang: Lang, day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => lang.t("report.weekday.mon"),
        Weekday::Tue => lang.t("report.weekday.tue"),
        Weekday::Wed => lang.t("report.weekday.wed"),
        Weekday::Thu => lang.t("report.weekday.thu"),
        Weekday::Fri => lang.t("report.weekday.fri"),
        Weekday::Sat => lang.t("report.weekday.sat"),
        Weekday::Sun => lang.t("report.weekday.sun"),
    }
}

/// An RFC 3339 instant as "seg 13/01/2025 09:30" ("Mon 13/01/2025 09:30")
/// in its own offset: the desk reads dates the Brazilian way in either
/// language (see `crate::i18n`), the weekday helps with a week's schedule.
/// Shown as it came when it does not parse.
pub(super) fn display_datetime(s: &str, lang: Lang) -> String {
    match DateTime::<FixedOffset>::parse_from_rfc3339(s) {
        Ok(dt) => format!("{} {}", weekday(lang, dt.weekday()), lang.date_time(&dt)),
        Err(_) => s.to_string(),
    }
}

/// The day of an RFC 3339 instant ("24/11/2026"); with `last_day`, of the
/// instant just before it, so an exclusive end (next Monday 00:00) reads
/// as the week's Sunday. Shown as it came when it does not parse.
pub(super) fn display_date(s: &str, lang: Lang, last_day: bool) -> String {
    match DateTime::<FixedOffset>::parse_from_rfc3339(s) {
        Ok(dt) if last_day => lang.date(&(dt - Duration::seconds(1))),
        Ok(dt) => lang.date(&dt),
        Err(_) => s.to_string(),
    }
}
