//! Renders the weekly report ([`WeeklyReport`]) for people and spreadsheets:
//! one CSV file, an XLSX workbook and a standalone HTML page with charts.
//!
//! This module owns the presentation only: which tables each of the ten
//! items shows, their column names, units and number formats, and the page's
//! layout. The figures themselves are computed by `reports::weekly`; the
//! charts are drawn by [`super::svg`]. All three formats are built from the
//! same intermediate tables (`items`), so a figure cannot read differently
//! in the CSV, the workbook and the page.
//!
//! Its parts: `table` (the typed cells, rows and tables the formats share,
//! and how a number reads), `items` (the report's ten items and summary
//! assembled as those tables), then one writer per format: `csv`, `xlsx`
//! and `html`. This file holds the public entry points, the error and the
//! contract a reader of the outputs relies on (units, the CSV's layout).
//!
//! # Language and forms
//!
//! Every writer takes the [`Lang`] to speak: the words (titles, headings,
//! sheet names, the names of categories, channels and statuses, the team's
//! rows, chart labels, definitions) come from the `report.*` keys of the
//! catalogues in `crate::i18n`. Figures are written for their reader:
//!
//! - the page, for people: `1.234,50`, `93,8%`, `+3,8 p.p.` and
//!   `seg 13/01/2025 09:30` in Portuguese; `1,234.50`, `93.8%`, `+3.8 pp`
//!   and `Mon 13/01/2025 09:30` in English (dates are Brazilian in both, as
//!   everywhere protocall writes them for people);
//! - the workbook, for spreadsheets: real numbers and date-times with a
//!   number format (`#,##0.00`, `0.0%`, `dd/mm/yyyy hh:mm`), so that sums
//!   and charts work; the application shows the separators of the reader's
//!   regional settings (`1.234,50` in a Brazilian Excel or LibreOffice),
//!   which a format code cannot override; only literal texts in formats
//!   (`p.p.`) follow the report's language;
//! - the CSV, for programs: the same bytes for figures in both languages
//!   (`.` decimals, no grouping, ratios as decimals, RFC 3339 instants, ISO
//!   weeks); its titles, headings and names follow the language like the
//!   page's. A program that must not depend on the language reads the JSON
//!   (the model itself, codes and numbers, no words).
//!
//! # Units
//!
//! - Durations are minutes in the model and hours here, in columns named
//!   `... (h)`: two decimals in the CSV and the page, numbers formatted
//!   `#,##0.00` in the workbook.
//! - Ratios are decimals 0..1 with four decimals in the CSV, numbers
//!   formatted `0.0%` in the workbook and percentages on the page. A ratio
//!   with nothing to divide by (`None`) is an empty cell (a dash on the page).
//! - Week-over-week changes of ratios are percentage points, in columns named
//!   `... (pp)` (`(p.p.)` in Portuguese): e.g. 0.80 → 0.85 is `5.00`.
//! - Instants (week bounds, a scheduled task's start) stay RFC 3339 strings
//!   in the CSV; the workbook holds real date-times at the wall-clock time of
//!   the string's own offset (the report's zone), since Excel has no zones.
//!
//! # CSV layout
//!
//! One file of blocks, in item order 1..10. A block is a title record with a
//! single field (`# 1. Tarefas por categoria (tempo realizado)`, or in
//! English `# 1. Tasks by category (realised)`), a header record, the
//! data records and an empty line. Item 7 has three blocks (totals, capacity
//! per consultant, phone line per hour), all titled `# 7. ...`. To split it,
//! read with `csv::ReaderBuilder::new().has_headers(false).flexible(true)`
//! (the csv crate skips the empty lines) and start a new block at every
//! record of exactly one field: data records always have two or more, and
//! the item number is the text between `# ` and the first `.`. Splitting the
//! raw text on empty lines instead is wrong: a quoted text cell may itself
//! contain line breaks.

mod channels;
mod csv;
mod html;
mod items;
mod table;
#[cfg(test)]
mod tests;
mod xlsx;

use rust_xlsxwriter::XlsxError;
use thiserror::Error;

use super::model::WeeklyReport;
use crate::i18n::Lang;

pub use self::csv::csv;
pub use self::html::html;
pub use self::xlsx::xlsx;

/// Why a report could not be rendered. The HTML page cannot fail: it is
/// built in memory from text only.
#[derive(Debug, Error)]
pub enum RenderError {
    #[error("writing the CSV: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("finishing the CSV: {0}")]
    Io(#[from] std::io::Error),
    #[error("the CSV is not UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error("writing the spreadsheet: {0}")]
    Xlsx(#[from] XlsxError),
    /// More rows or columns than a worksheet holds (1,048,576 × 16,384).
    #[error("{what} does not fit in a worksheet")]
    TooLarge { what: String },
    #[error("writing the JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The headline figures as "label: value" lines for people, as the page's
/// summary shows them (the mail's plain text).
pub fn summary_lines(r: &WeeklyReport, lang: Lang) -> Vec<String> {
    items::summary_figures(r, lang)
        .into_iter()
        .map(|(label, value)| format!("{label}: {value}"))
        .collect()
}

/// The report's week for people: its first and last day (`16/11/2026`,
/// `22/11/2026`), as the page's header writes them.
pub fn week_days(r: &WeeklyReport, lang: Lang) -> (String, String) {
    (
        table::display_date(&r.week_start, lang, false),
        table::display_date(&r.week_end, lang, true),
    )
}

crate::text_enum! {
    /// The formats the weekly report is written in: the one list the API's
    /// `format` parameter, the command line's `--format`, the console's
    /// download links and the renderer agree on (an unknown name is refused
    /// where it is read, never turned into JSON quietly).
    #[derive(clap::ValueEnum)]
    pub enum ReportFormat as "report format" {
        Json = "json",
        Csv = "csv",
        Xlsx = "xlsx",
        Html = "html",
    }
}

impl ReportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Json => "application/json",
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ReportFormat::Html => "text/html; charset=utf-8",
        }
    }

    /// Whether the rendering holds words (and so depends on the reader's
    /// language); the JSON is the same in every language.
    pub fn has_words(self) -> bool {
        self != ReportFormat::Json
    }
}

/// The report in `format`, in `lang`, with its content type.
pub fn any(
    r: &WeeklyReport,
    format: ReportFormat,
    lang: Lang,
) -> Result<(&'static str, Vec<u8>), RenderError> {
    let body = match format {
        ReportFormat::Csv => csv(r, lang)?.into_bytes(),
        ReportFormat::Xlsx => xlsx(r, lang)?,
        ReportFormat::Html => html(r, lang).into_bytes(),
        ReportFormat::Json => serde_json::to_vec_pretty(r)?,
    };
    Ok((format.content_type(), body))
}
