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
//! # Units
//!
//! - Durations are minutes in the model and hours here, in columns named
//!   `... (h)`: two decimals in the CSV and the page, numbers formatted
//!   `0.00` in the workbook.
//! - Ratios are decimals 0..1 with four decimals in the CSV, numbers
//!   formatted `0.0%` in the workbook and percentages on the page. A ratio
//!   with nothing to divide by (`None`) is an empty cell (a dash on the page).
//! - Week-over-week changes of ratios are percentage points, in columns named
//!   `... (pp)`: e.g. 0.80 → 0.85 is `5.00`.
//! - Instants (week bounds, a scheduled task's start) stay RFC 3339 strings
//!   in the CSV; the workbook holds real date-times at the wall-clock time of
//!   the string's own offset (the report's zone), since Excel has no zones.
//!
//! # CSV layout
//!
//! One file of blocks, in item order 1..10. A block is a title record with a
//! single field (`# 1. Tasks by category (realised)`), a header record, the
//! data records and an empty line. Item 7 has three blocks (totals, capacity
//! per consultant, phone line per hour), all titled `# 7. ...`. To split it,
//! read with `csv::ReaderBuilder::new().has_headers(false).flexible(true)`
//! (the csv crate skips the empty lines) and start a new block at every
//! record of exactly one field: data records always have two or more, and
//! the item number is the text between `# ` and the first `.`. Splitting the
//! raw text on empty lines instead is wrong: a quoted text cell may itself
//! contain line breaks.

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use thiserror::Error;

use super::model::{
    Capacity, ContactCount, Demand, ErlangHour, Followup, HoursRow, PlanCompliance, ScheduleRow,
    ScheduledTask, TaskTime, WeekFigures, WeeklyReport,
};
use super::svg;

/// Why a report could not be rendered. The HTML page cannot fail: it is
/// built in memory from text only.
#[derive(Debug, Error)]
pub enum RenderError {
    #[error("writing the CSV: {0}")]
    Csv(#[from] csv::Error),
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

/// The whole report as CSV blocks; see the module documentation for how a
/// reader splits them.
pub fn csv(r: &WeeklyReport) -> Result<String, RenderError> {
    let mut out: Vec<u8> = Vec::new();
    for item in items(r) {
        for table in &item.tables {
            // A writer per block: blocks have different widths, and the
            // empty line between them is not a record the csv crate writes.
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(Vec::new());
            w.write_record([item.heading(table)])?;
            w.write_record(&table.columns)?;
            for row in &table.rows {
                w.write_record(row.cells.iter().map(Cell::csv))?;
            }
            let bytes = w.into_inner().map_err(|e| e.into_error())?;
            out.extend_from_slice(&bytes);
            out.push(b'\n');
        }
    }
    Ok(String::from_utf8(out)?)
}

/// The report as an XLSX workbook: a "Summary" sheet, then one sheet per
/// item ("1 Tasks" … "10 Follow-up") with a bold title and header row and
/// typed cells.
pub fn xlsx(r: &WeeklyReport) -> Result<Vec<u8>, RenderError> {
    let mut workbook = Workbook::new();
    let summary = Item {
        number: 0,
        title: format!("Weekly report, week {}", r.week),
        sheet: "Summary",
        tables: vec![summary_table(r)],
    };
    write_sheet(workbook.add_worksheet(), &summary)?;
    for item in items(r) {
        write_sheet(workbook.add_worksheet(), &item)?;
    }
    Ok(workbook.save_to_buffer()?)
}

/// The report as one standalone HTML page: no scripts, no external
/// resources, inline CSS and SVG charts, readable on a phone.
pub fn html(r: &WeeklyReport) -> String {
    let items = items(r);
    let mut out = String::with_capacity(64 * 1024);
    let week = esc(&r.week);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Weekly report, week {week}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<main class=\"container\">\n<header>\n<h1>Weekly report, week {week}</h1>\n\
         <p class=\"meta\">{} to {} ({}) · schedule week {} · generated {}</p>\n</header>\n",
        esc(&display_datetime(&r.week_start)),
        esc(&display_datetime(&r.week_end)),
        esc(&r.timezone),
        esc(&r.schedule_week),
        esc(&display_datetime(&r.generated_at)),
    );
    html_summary(&mut out, r);
    out.push_str("<nav class=\"toc\" aria-label=\"Items\"><ol>");
    for item in &items {
        let _ = write!(
            out,
            "<li><a href=\"#item-{}\">{}</a></li>",
            item.number,
            esc(&item.title)
        );
    }
    out.push_str("</ol></nav>\n");
    for item in &items {
        let _ = write!(
            out,
            "<section id=\"item-{n}\" aria-labelledby=\"item-{n}-h\">\n<h2 id=\"item-{n}-h\">{n}. {}</h2>\n",
            esc(&item.title),
            n = item.number,
        );
        // Charts go above the tables they summarise; item 7's goes with
        // its hourly table, below the totals. Without rows there is no
        // chart: the table's "No data" says it once.
        match item.number {
            3 if !r.hours.is_empty() => chart_block(&mut out, &hours_chart(r)),
            9 if !r.evolution.is_empty() => chart_block(&mut out, &trend_chart(r)),
            _ => {}
        }
        for table in &item.tables {
            if let Some(subtitle) = table.subtitle {
                let _ = writeln!(out, "<h3>{}</h3>", esc(subtitle));
            }
            if item.number == 7
                && table.subtitle == Some(PHONE_SUBTITLE)
                && !r.demand.phone.is_empty()
            {
                chart_block(&mut out, &demand_chart(r));
            }
            html_table(&mut out, table);
        }
        out.push_str("</section>\n");
    }
    out.push_str(DEFINITIONS);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

// ---------------------------------------------------------------------------
// The report as tables, shared by the three formats.

/// One typed cell; each format decides how to show it.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
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
    fn ratio(v: Option<f64>) -> Cell {
        match v {
            Some(v) if v.is_finite() => Cell::Ratio(v),
            _ => Cell::Empty,
        }
    }

    fn num(v: Option<f64>, decimals: usize) -> Cell {
        match v {
            Some(v) if v.is_finite() => Cell::Num(v, decimals),
            _ => Cell::Empty,
        }
    }

    fn points(v: Option<f64>) -> Cell {
        match v {
            Some(v) if v.is_finite() => Cell::Points(v),
            _ => Cell::Empty,
        }
    }

    fn csv(&self) -> String {
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

    fn display(&self) -> String {
        match self {
            Cell::Empty => "—".into(),
            Cell::Text(s) => s.clone(),
            Cell::Int(v) => v.to_string(),
            Cell::IntChange(v) => signed(&v.to_string(), *v > 0),
            Cell::Hours(m) => fixed(hours(*m), 2),
            Cell::HoursChange(m) => signed(&fixed(hours(*m), 2), *m > 0),
            Cell::Ratio(v) => format!("{}%", fixed(v * 100.0, 1)),
            Cell::Points(v) => {
                let text = fixed(points(*v), 1);
                format!(
                    "{} pp",
                    signed(&text, !text.starts_with('-') && text != "0.0")
                )
            }
            Cell::Num(v, d) => fixed(*v, *d),
            Cell::Hour(h) => format!("{h:02}:00"),
            Cell::DateTime(s) => display_datetime(s),
        }
    }

    fn numeric(&self) -> bool {
        !matches!(self, Cell::Text(_) | Cell::DateTime(_) | Cell::Empty)
    }
}

/// A row; `total` marks the team's row, set in bold.
#[derive(Debug, Clone)]
struct Row {
    cells: Vec<Cell>,
    total: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A header and many rows.
    Rows,
    /// A single row of figures: wide in the CSV (one header, one record),
    /// "figure | value" pairs in the workbook and on the page, where a wide
    /// row would not fit a screen.
    Record,
}

#[derive(Debug, Clone)]
struct Table {
    /// `None` for an item's main table.
    subtitle: Option<&'static str>,
    columns: Vec<&'static str>,
    rows: Vec<Row>,
    layout: Layout,
}

#[derive(Debug, Clone)]
struct Item {
    number: u8,
    title: String,
    /// At most 31 characters, Excel's limit.
    sheet: &'static str,
    tables: Vec<Table>,
}

impl Item {
    /// The CSV title record of one of the item's tables.
    fn heading(&self, table: &Table) -> String {
        match table.subtitle {
            Some(sub) => format!("# {}. {}: {}", self.number, self.title, sub),
            None => format!("# {}. {}", self.number, self.title),
        }
    }
}

const CAPACITY_SUBTITLE: &str = "Capacity per consultant";
const PHONE_SUBTITLE: &str = "Phone line per hour of the day (Erlang C)";

fn rows_table(columns: Vec<&'static str>, rows: Vec<Row>) -> Table {
    Table {
        subtitle: None,
        columns,
        rows,
        layout: Layout::Rows,
    }
}

fn record_table(columns: Vec<&'static str>, cells: Vec<Cell>) -> Table {
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

fn row(cells: Vec<Cell>, consultant: Option<i64>) -> Row {
    Row {
        cells,
        total: consultant.is_none(),
    }
}

/// `num / den`, or `None` when there is nothing to divide by.
fn share(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn items(r: &WeeklyReport) -> Vec<Item> {
    let who = |id: Option<i64>| Cell::Text(r.who(id));
    let text = |s: &str| Cell::Text(s.to_string());
    vec![
        Item {
            number: 1,
            title: "Tasks by category (realised)".into(),
            sheet: "1 Tasks",
            tables: vec![rows_table(
                vec!["Consultant", "Category", "Tasks", "Realised (h)"],
                r.tasks
                    .iter()
                    .map(|t: &TaskTime| {
                        row(
                            vec![
                                who(t.consultant_id),
                                text(&t.category),
                                Cell::Int(t.count),
                                Cell::Hours(t.minutes),
                            ],
                            t.consultant_id,
                        )
                    })
                    .collect(),
            )],
        },
        Item {
            number: 2,
            title: "Contacts (scheduled by status and triggered by channel)".into(),
            sheet: "2 Contacts",
            tables: vec![rows_table(
                vec![
                    "Consultant",
                    "Kind",
                    "Channel",
                    "Status",
                    "Contacts",
                    "Realised (h)",
                ],
                r.contacts
                    .iter()
                    .map(|c: &ContactCount| {
                        row(
                            vec![
                                who(c.consultant_id),
                                text(&c.kind),
                                text(&c.channel),
                                text(&c.status),
                                Cell::Int(c.count),
                                Cell::Hours(c.minutes),
                            ],
                            c.consultant_id,
                        )
                    })
                    .collect(),
            )],
        },
        Item {
            number: 3,
            title: "Hours scheduled versus realised".into(),
            sheet: "3 Hours",
            tables: vec![rows_table(
                vec![
                    "Consultant",
                    "Scheduled (h)",
                    "Realised (h)",
                    "Difference (h)",
                    "Realised / scheduled",
                ],
                r.hours
                    .iter()
                    .map(|h: &HoursRow| {
                        row(
                            vec![
                                who(h.consultant_id),
                                Cell::Hours(h.scheduled_minutes),
                                Cell::Hours(h.realised_minutes),
                                Cell::HoursChange(
                                    h.realised_minutes.saturating_sub(h.scheduled_minutes),
                                ),
                                Cell::ratio(share(h.realised_minutes, h.scheduled_minutes)),
                            ],
                            h.consultant_id,
                        )
                    })
                    .collect(),
            )],
        },
        Item {
            number: 4,
            title: "Work-plan compliance by category".into(),
            sheet: "4 Work plan",
            tables: vec![rows_table(
                vec![
                    "Consultant",
                    "Category",
                    "Planned (h)",
                    "Realised (h)",
                    "Gap (h)",
                    "Realised / planned",
                ],
                r.work_plan
                    .iter()
                    .map(|p: &PlanCompliance| {
                        row(
                            vec![
                                who(p.consultant_id),
                                text(&p.category),
                                Cell::Hours(p.planned_minutes),
                                Cell::Hours(p.realised_minutes),
                                Cell::HoursChange(p.gap_minutes),
                                Cell::ratio(share(p.realised_minutes, p.planned_minutes)),
                            ],
                            p.consultant_id,
                        )
                    })
                    .collect(),
            )],
        },
        Item {
            number: 5,
            title: format!("Schedule from the work plan (week {})", r.schedule_week),
            sheet: "5 Schedule",
            tables: vec![rows_table(
                vec![
                    "Consultant",
                    "Planned (h)",
                    "Placed (h)",
                    "Unfit (h)",
                    "Placed / planned",
                ],
                r.schedule
                    .iter()
                    .map(|s: &ScheduleRow| {
                        row(
                            vec![
                                who(s.consultant_id),
                                Cell::Hours(s.planned_minutes),
                                Cell::Hours(s.placed_minutes),
                                Cell::Hours(s.unfit_minutes),
                                Cell::ratio(share(s.placed_minutes, s.planned_minutes)),
                            ],
                            s.consultant_id,
                        )
                    })
                    .collect(),
            )],
        },
        Item {
            number: 6,
            title: format!("Scheduled tasks (week {})", r.schedule_week),
            sheet: "6 Scheduled tasks",
            tables: vec![rows_table(
                vec![
                    "Consultant",
                    "Start",
                    "Category",
                    "Title",
                    "Duration (h)",
                    "Source",
                ],
                r.scheduled_tasks
                    .iter()
                    .map(|t: &ScheduledTask| Row {
                        cells: vec![
                            who(Some(t.consultant_id)),
                            Cell::DateTime(t.start.clone()),
                            text(&t.category),
                            text(&t.title),
                            Cell::Hours(t.minutes),
                            text(&t.source),
                        ],
                        total: false,
                    })
                    .collect(),
            )],
        },
        Item {
            number: 7,
            title: "Demand versus capacity".into(),
            sheet: "7 Demand",
            tables: demand_tables(r),
        },
        Item {
            number: 8,
            title: "SLA and phone service level".into(),
            sheet: "8 SLA",
            tables: vec![sla_table(r)],
        },
        Item {
            number: 9,
            title: "Evolution week over week".into(),
            sheet: "9 Evolution",
            tables: vec![evolution_table(&r.evolution)],
        },
        Item {
            number: 10,
            title: "Support follow-up (communicate completion)".into(),
            sheet: "10 Follow-up",
            tables: vec![rows_table(
                vec!["Consultant", "Done", "Done (h)", "Pending", "Done / all"],
                r.followup
                    .iter()
                    .map(|f: &Followup| {
                        row(
                            vec![
                                who(f.consultant_id),
                                Cell::Int(f.done),
                                Cell::Hours(f.done_minutes),
                                Cell::Int(f.pending),
                                Cell::ratio(share(f.done, f.done.saturating_add(f.pending))),
                            ],
                            f.consultant_id,
                        )
                    })
                    .collect(),
            )],
        },
    ]
}

fn demand_tables(r: &WeeklyReport) -> Vec<Table> {
    let d = &r.demand;
    let totals = record_table(
        vec![
            "Contact time (h)",
            "Task time (h)",
            "Open call-backs",
            "Open call-back time (h)",
            "Forecast contacts",
            "Forecast time (h)",
            "Demand (h)",
            "Capacity (h)",
            "Demand / capacity",
            "Capacity minus demand (h)",
            "Service level threshold (s)",
            "Service level target",
        ],
        vec![
            Cell::Hours(d.contact_minutes),
            Cell::Hours(d.task_minutes),
            Cell::Int(d.open_callbacks),
            Cell::Hours(d.open_callback_minutes),
            Cell::num(Some(d.forecast_contacts), 1),
            Cell::Hours(d.forecast_minutes),
            Cell::Hours(d.demand_minutes),
            Cell::Hours(d.capacity_minutes),
            Cell::ratio(share(d.demand_minutes, d.capacity_minutes)),
            Cell::HoursChange(d.capacity_minutes.saturating_sub(d.demand_minutes)),
            Cell::Int(d.service_level_seconds),
            Cell::ratio(Some(d.service_level_target)),
        ],
    );
    let capacity = Table {
        subtitle: Some(CAPACITY_SUBTITLE),
        ..rows_table(
            vec!["Consultant", "Working days", "Absent days", "Capacity (h)"],
            d.per_consultant
                .iter()
                .map(|c: &Capacity| Row {
                    cells: vec![
                        Cell::Text(r.who(Some(c.consultant_id))),
                        Cell::Int(c.working_days),
                        Cell::Int(c.absent_days),
                        Cell::Hours(c.capacity_minutes),
                    ],
                    total: false,
                })
                .collect(),
        )
    };
    let phone = Table {
        subtitle: Some(PHONE_SUBTITLE),
        ..rows_table(
            vec![
                "Hour",
                "Calls per hour",
                "AHT (s)",
                "Agents needed",
                "On duty",
                "On duty minus needed",
            ],
            phone_by_hour(d)
                .into_iter()
                .map(|h: &ErlangHour| Row {
                    cells: vec![
                        Cell::Hour(h.hour),
                        Cell::num(Some(h.calls_per_hour), 2),
                        Cell::num(Some(h.aht_seconds), 1),
                        Cell::Int(i64::from(h.agents_needed)),
                        Cell::num(Some(h.on_duty), 1),
                        Cell::num(Some(h.on_duty - f64::from(h.agents_needed)), 1),
                    ],
                    total: false,
                })
                .collect(),
        )
    };
    vec![totals, capacity, phone]
}

/// The phone line's hours in the order of the day, whatever order the
/// model lists them in.
fn phone_by_hour(d: &Demand) -> Vec<&ErlangHour> {
    let mut phone: Vec<&ErlangHour> = d.phone.iter().collect();
    phone.sort_by_key(|h| h.hour);
    phone
}

fn sla_table(r: &WeeklyReport) -> Table {
    let s = &r.sla;
    record_table(
        vec![
            "Concluded",
            "Within deadline",
            "SLA",
            "Default deadline (business hours)",
            "Offered",
            "Answered",
            "Answered within threshold",
            "Abandoned",
            "Service level",
            "Abandonment",
            "ASA (s)",
            "AHT (s)",
            "Threshold (s)",
            "Service level target",
        ],
        vec![
            Cell::Int(s.concluded),
            Cell::Int(s.within_deadline),
            Cell::ratio(s.ratio),
            Cell::Int(s.default_deadline_hours),
            Cell::Int(s.offered),
            Cell::Int(s.answered),
            Cell::Int(s.answered_in_threshold),
            Cell::Int(s.abandoned),
            Cell::ratio(s.service_level),
            Cell::ratio(s.abandonment),
            Cell::num(s.asa_seconds, 1),
            Cell::num(s.aht_seconds, 1),
            Cell::Int(s.threshold_seconds),
            Cell::ratio(Some(s.target)),
        ],
    )
}

/// Each week's figures and the change from the week before (none for the
/// oldest week, nor where either week lacks the ratio).
fn evolution_table(weeks: &[WeekFigures]) -> Table {
    let mut rows = Vec::with_capacity(weeks.len());
    let mut previous: Option<&WeekFigures> = None;
    for w in weeks {
        let int_change = |f: fn(&WeekFigures) -> i64| {
            previous.map_or(Cell::Empty, |p| Cell::IntChange(f(w).saturating_sub(f(p))))
        };
        let hours_change = |f: fn(&WeekFigures) -> i64| {
            previous.map_or(Cell::Empty, |p| {
                Cell::HoursChange(f(w).saturating_sub(f(p)))
            })
        };
        let ratio_change = |f: fn(&WeekFigures) -> Option<f64>| {
            Cell::points(previous.and_then(|p| Some(f(w)? - f(p)?)))
        };
        rows.push(Row {
            cells: vec![
                Cell::Text(w.week.clone()),
                Cell::Int(w.contacts),
                int_change(|w| w.contacts),
                Cell::Hours(w.talk_minutes),
                hours_change(|w| w.talk_minutes),
                Cell::ratio(w.sla),
                ratio_change(|w| w.sla),
                Cell::ratio(w.service_level),
                ratio_change(|w| w.service_level),
                Cell::ratio(w.abandonment),
                ratio_change(|w| w.abandonment),
                Cell::Hours(w.realised_minutes),
                hours_change(|w| w.realised_minutes),
            ],
            total: false,
        });
        previous = Some(w);
    }
    rows_table(
        vec![
            "Week",
            "Contacts",
            "Contacts change",
            "Talk (h)",
            "Talk change (h)",
            "SLA",
            "SLA change (pp)",
            "Service level",
            "Service level change (pp)",
            "Abandonment",
            "Abandonment change (pp)",
            "Realised (h)",
            "Realised change (h)",
        ],
        rows,
    )
}

/// The figures a manager reads first.
struct Headline {
    /// Attended contacts: item 9's figure for the report's week.
    contacts: Option<i64>,
    /// Realised minutes: item 3's team row, else item 9's.
    realised_minutes: Option<i64>,
    sla: Option<f64>,
    service_level: Option<f64>,
    abandonment: Option<f64>,
}

fn headline(r: &WeeklyReport) -> Headline {
    let this_week = r.evolution.iter().rev().find(|w| w.week == r.week);
    let team_hours = r.hours.iter().find(|h| h.consultant_id.is_none());
    Headline {
        contacts: this_week.map(|w| w.contacts),
        realised_minutes: team_hours
            .map(|h| h.realised_minutes)
            .or_else(|| this_week.map(|w| w.realised_minutes)),
        sla: r.sla.ratio,
        service_level: r.sla.service_level,
        abandonment: r.sla.abandonment,
    }
}

fn summary_table(r: &WeeklyReport) -> Table {
    let h = headline(r);
    record_table(
        vec![
            "Week",
            "Week start",
            "Week end",
            "Schedule week",
            "Time zone",
            "Generated at",
            "Contacts",
            "Realised (h)",
            "SLA",
            "Service level",
            "Abandonment",
        ],
        vec![
            Cell::Text(r.week.clone()),
            Cell::DateTime(r.week_start.clone()),
            Cell::DateTime(r.week_end.clone()),
            Cell::Text(r.schedule_week.clone()),
            Cell::Text(r.timezone.clone()),
            Cell::DateTime(r.generated_at.clone()),
            h.contacts.map_or(Cell::Empty, Cell::Int),
            h.realised_minutes.map_or(Cell::Empty, Cell::Hours),
            Cell::ratio(h.sla),
            Cell::ratio(h.service_level),
            Cell::ratio(h.abandonment),
        ],
    )
}

// ---------------------------------------------------------------------------
// XLSX

const DATETIME_FORMAT: &str = "yyyy-mm-dd hh:mm";
/// Column widths in characters: wide enough for a header, never so wide
/// that one long task title pushes the other columns off screen.
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;

fn write_sheet(ws: &mut Worksheet, item: &Item) -> Result<(), RenderError> {
    ws.set_name(item.sheet)?;
    let mut widths: Vec<usize> = Vec::new();
    let mut row: u32 = 0;
    for (i, table) in item.tables.iter().enumerate() {
        if i > 0 {
            row = row.saturating_add(1);
        }
        let title = match table.subtitle {
            Some(sub) if item.number > 0 => format!("{}. {}: {}", item.number, item.title, sub),
            None if item.number > 0 => format!("{}. {}", item.number, item.title),
            Some(sub) => format!("{}: {}", item.title, sub),
            None => item.title.clone(),
        };
        ws.write_string_with_format(row, 0, title, &Format::new().set_bold().set_font_size(13))?;
        row = row.saturating_add(1);
        let header_row = row;
        row = write_table(ws, row, table, &mut widths)?;
        // Keep the header in view while scrolling a long single table.
        if item.tables.len() == 1 && table.layout == Layout::Rows {
            ws.set_freeze_panes(header_row.saturating_add(1), 0)?;
        }
    }
    for (col, width) in widths.iter().enumerate() {
        let col = column(col)?;
        let width = (*width).clamp(MIN_WIDTH, MAX_WIDTH) + 2;
        ws.set_column_width(col, width as f64)?;
    }
    Ok(())
}

/// Writes a table's header and rows from `row`; answers the next free row.
fn write_table(
    ws: &mut Worksheet,
    mut row: u32,
    table: &Table,
    widths: &mut Vec<usize>,
) -> Result<u32, RenderError> {
    let header = Format::new()
        .set_bold()
        .set_border_bottom(rust_xlsxwriter::FormatBorder::Thin);
    let mut widen = |col: usize, text_len: usize| {
        if widths.len() <= col {
            widths.resize(col + 1, 0);
        }
        if let Some(w) = widths.get_mut(col) {
            *w = (*w).max(text_len);
        }
    };
    match table.layout {
        Layout::Rows => {
            for (c, name) in table.columns.iter().enumerate() {
                ws.write_string_with_format(row, column(c)?, *name, &header)?;
                widen(c, name.chars().count());
            }
            row = next_row(row)?;
            for r in &table.rows {
                for (c, cell) in r.cells.iter().enumerate() {
                    write_cell(ws, row, column(c)?, cell, r.total)?;
                    widen(c, cell.display().chars().count());
                }
                row = next_row(row)?;
            }
        }
        Layout::Record => {
            ws.write_string_with_format(row, 0, "Figure", &header)?;
            ws.write_string_with_format(row, 1, "Value", &header)?;
            row = next_row(row)?;
            let cells = table
                .rows
                .first()
                .map(|r| r.cells.as_slice())
                .unwrap_or(&[]);
            for (name, cell) in table.columns.iter().zip(cells) {
                ws.write_string(row, 0, *name)?;
                write_cell(ws, row, 1, cell, false)?;
                widen(0, name.chars().count());
                widen(1, cell.display().chars().count());
                row = next_row(row)?;
            }
        }
    }
    Ok(row)
}

fn write_cell(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell,
    bold: bool,
) -> Result<(), RenderError> {
    let format = |num_format: &str| {
        let f = Format::new().set_num_format(num_format);
        if bold {
            f.set_bold()
        } else {
            f
        }
    };
    match cell {
        Cell::Empty => {}
        Cell::Text(s) => {
            ws.write_string_with_format(row, col, s, &format("General"))?;
        }
        Cell::Int(v) => {
            ws.write_number_with_format(row, col, *v as f64, &format("0"))?;
        }
        Cell::IntChange(v) => {
            ws.write_number_with_format(row, col, *v as f64, &format("+0;-0;0"))?;
        }
        Cell::Hours(m) => {
            ws.write_number_with_format(row, col, hours(*m), &format("0.00"))?;
        }
        Cell::HoursChange(m) => {
            ws.write_number_with_format(row, col, hours(*m), &format("+0.00;-0.00;0.00"))?;
        }
        Cell::Ratio(v) => {
            ws.write_number_with_format(row, col, *v, &format("0.0%"))?;
        }
        Cell::Points(v) => {
            // The value is in points, like the CSV's; "%" in a number
            // format would multiply by 100 and read as a ratio.
            ws.write_number_with_format(
                row,
                col,
                points(*v),
                &format("+0.0\" pp\";-0.0\" pp\";0.0\" pp\""),
            )?;
        }
        Cell::Num(v, decimals) => {
            let pattern = match decimals {
                0 => "0".to_string(),
                d => format!("0.{}", "0".repeat(*d)),
            };
            ws.write_number_with_format(row, col, *v, &format(&pattern))?;
        }
        Cell::Hour(h) => {
            ws.write_number_with_format(row, col, f64::from(*h), &format("00\":00\""))?;
        }
        Cell::DateTime(s) => match excel_datetime(s) {
            Some(dt) => {
                ws.write_datetime_with_format(row, col, dt, &format(DATETIME_FORMAT))?;
            }
            // A malformed instant is shown as it came rather than failing
            // the whole workbook over one cell.
            None => {
                ws.write_string_with_format(row, col, s, &format("General"))?;
            }
        },
    }
    Ok(())
}

/// The wall-clock date and time of an RFC 3339 instant, in its own offset.
fn excel_datetime(s: &str) -> Option<ExcelDateTime> {
    let local = DateTime::parse_from_rfc3339(s).ok()?.naive_local();
    let seconds = f64::from(local.second()) + f64::from(local.nanosecond()) / 1e9;
    ExcelDateTime::from_ymd(
        u16::try_from(local.year()).ok()?,
        u8::try_from(local.month()).ok()?,
        u8::try_from(local.day()).ok()?,
    )
    .ok()?
    .and_hms(
        u16::try_from(local.hour()).ok()?,
        u8::try_from(local.minute()).ok()?,
        seconds,
    )
    .ok()
}

fn column(c: usize) -> Result<u16, RenderError> {
    u16::try_from(c).map_err(|_| RenderError::TooLarge {
        what: format!("column {c}"),
    })
}

fn next_row(row: u32) -> Result<u32, RenderError> {
    row.checked_add(1).ok_or_else(|| RenderError::TooLarge {
        what: format!("row {row}"),
    })
}

// ---------------------------------------------------------------------------
// HTML

fn esc(text: &str) -> String {
    svg::escape(text)
}

fn html_summary(out: &mut String, r: &WeeklyReport) {
    let h = headline(r);
    let ratio = |v: Option<f64>| Cell::ratio(v).display();
    let figures = [
        (
            "Contacts",
            h.contacts.map_or(Cell::Empty, Cell::Int).display(),
        ),
        (
            "Realised hours",
            h.realised_minutes
                .map_or(Cell::Empty, Cell::Hours)
                .display(),
        ),
        ("SLA", ratio(h.sla)),
        ("Service level", ratio(h.service_level)),
        ("Abandonment", ratio(h.abandonment)),
    ];
    out.push_str(
        "<section id=\"summary\" aria-labelledby=\"summary-h\">\n<h2 id=\"summary-h\">Summary</h2>\n<dl class=\"cards\">",
    );
    for (name, value) in figures {
        let _ = write!(
            out,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            esc(name),
            esc(&value)
        );
    }
    out.push_str("</dl>\n</section>\n");
}

fn html_table(out: &mut String, table: &Table) {
    if table.rows.is_empty() {
        out.push_str("<p class=\"empty\">No data.</p>\n");
        return;
    }
    out.push_str("<div class=\"table-wrap\"><table>");
    match table.layout {
        Layout::Rows => {
            let first = table
                .rows
                .first()
                .map(|r| r.cells.as_slice())
                .unwrap_or(&[]);
            out.push_str("<thead><tr>");
            for (c, name) in table.columns.iter().enumerate() {
                let class = if first.get(c).is_some_and(Cell::numeric) {
                    " class=\"num\""
                } else {
                    ""
                };
                let _ = write!(out, "<th scope=\"col\"{class}>{}</th>", esc(name));
            }
            out.push_str("</tr></thead><tbody>");
            for row in &table.rows {
                out.push_str(if row.total {
                    "<tr class=\"total\">"
                } else {
                    "<tr>"
                });
                for cell in &row.cells {
                    td(out, cell);
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody>");
        }
        Layout::Record => {
            out.push_str("<tbody>");
            let cells = table
                .rows
                .first()
                .map(|r| r.cells.as_slice())
                .unwrap_or(&[]);
            for (name, cell) in table.columns.iter().zip(cells) {
                let _ = write!(out, "<tr><th scope=\"row\">{}</th>", esc(name));
                td(out, cell);
                out.push_str("</tr>");
            }
            out.push_str("</tbody>");
        }
    }
    out.push_str("</table></div>\n");
}

/// A chart in a wrapper that scrolls sideways on a narrow screen, rather than
/// shrinking the chart's text below reading size.
fn chart_block(out: &mut String, svg: &str) {
    out.push_str("<div class=\"chart-wrap\">");
    out.push_str(svg);
    out.push_str("</div>\n");
}

fn td(out: &mut String, cell: &Cell) {
    let class = match cell {
        Cell::Empty => " class=\"num none\"",
        Cell::Text(_) => " class=\"text\"",
        Cell::DateTime(_) => "",
        _ => " class=\"num\"",
    };
    let _ = write!(out, "<td{class}>{}</td>", esc(&cell.display()));
}

/// Item 3: hours scheduled and realised per consultant. The team row is left
/// out when there are consultants, as its bars would dwarf theirs.
fn hours_chart(r: &WeeklyReport) -> String {
    let people: Vec<&HoursRow> = r
        .hours
        .iter()
        .filter(|h| h.consultant_id.is_some())
        .collect();
    let rows: Vec<&HoursRow> = if people.is_empty() {
        r.hours.iter().collect()
    } else {
        people
    };
    let categories: Vec<String> = rows.iter().map(|h| r.who(h.consultant_id)).collect();
    let scheduled = rows
        .iter()
        .map(|h| Some(hours(h.scheduled_minutes)))
        .collect();
    let realised = rows
        .iter()
        .map(|h| Some(hours(h.realised_minutes)))
        .collect();
    svg::grouped_bars(
        &svg::Chart {
            key: "hours",
            title: "Hours scheduled versus realised, per consultant",
            x_label: "Consultant",
            y_label: "Hours",
            categories: &categories,
        },
        &[
            svg::Series::new("Scheduled (h)", scheduled),
            svg::Series::new("Realised (h)", realised),
        ],
    )
}

/// Item 7: agents Erlang C needs versus consultants on duty, per hour.
fn demand_chart(r: &WeeklyReport) -> String {
    let phone = phone_by_hour(&r.demand);
    let categories: Vec<String> = phone.iter().map(|h| format!("{:02}", h.hour)).collect();
    svg::bars_and_line(
        &svg::Chart {
            key: "demand",
            title: "Phone line: agents needed versus consultants on duty, per hour of the day",
            x_label: "Hour of the day",
            y_label: "Agents",
            categories: &categories,
        },
        &svg::Series::new(
            "Agents needed",
            phone
                .iter()
                .map(|h| Some(f64::from(h.agents_needed)))
                .collect(),
        ),
        &svg::Series::new("On duty", phone.iter().map(|h| Some(h.on_duty)).collect()),
    )
}

/// Item 9: SLA and service level week over week, against the service-level
/// target (the model has no separate target for the SLA).
fn trend_chart(r: &WeeklyReport) -> String {
    let categories: Vec<String> = r.evolution.iter().map(|w| w.week.clone()).collect();
    let target = [r.sla.target, r.demand.service_level_target]
        .into_iter()
        .find(|t| t.is_finite() && *t > 0.0)
        .map(|value| svg::Target {
            label: format!("Service level target ({})", Cell::Ratio(value).display()),
            value,
        });
    svg::line_chart(
        &svg::Chart {
            key: "trend",
            title: "SLA and service level, week over week",
            x_label: "Week",
            y_label: "Share",
            categories: &categories,
        },
        &[
            svg::Series::new("SLA", r.evolution.iter().map(|w| w.sla).collect()),
            svg::Series::new(
                "Service level",
                r.evolution.iter().map(|w| w.service_level).collect(),
            ),
        ],
        svg::Scale::Percent,
        target.as_ref(),
    )
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;line-height:1.45;color:#1b1b1b;background:#f5f6f8}\
.container{max-width:64rem;margin:0 auto;padding:1rem}\
h1{font-size:1.5rem;margin:.5rem 0}\
h2{font-size:1.2rem;margin:0 0 .75rem}\
h3{font-size:1rem;margin:1.25rem 0 .5rem}\
.meta{color:#555;margin:0}\
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:1rem;margin:1rem 0}\
.toc ol{margin:.5rem 0;padding-left:1.5rem;columns:2 16rem}\
.toc a{color:#0b5cad}\
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}\
table{border-collapse:collapse;font-size:.9rem;min-width:50%}\
th,td{padding:.35rem .6rem;border-bottom:1px solid #e1e4e8;text-align:left;white-space:nowrap}\
thead th{background:#f0f2f5;font-weight:600}\
tbody th{font-weight:normal;color:#333}\
.num{text-align:right;font-variant-numeric:tabular-nums}\
td.text{white-space:normal;min-width:8rem}\
td.none{color:#888}\
tr.total td{font-weight:600;background:#fafbfc}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.75rem;margin:0}\
.cards div{border:1px solid #e1e4e8;border-radius:6px;padding:.6rem .75rem}\
.cards dt{color:#555;font-size:.85rem}\
.cards dd{margin:0;font-size:1.4rem;font-weight:600;font-variant-numeric:tabular-nums}\
.chart-wrap{overflow-x:auto;margin:.5rem 0 1rem}\
svg.chart{display:block;width:100%;height:auto;max-width:46rem;min-width:28rem}\
.empty{color:#666;font-style:italic}\
@media (max-width:40rem){.container{padding:.5rem}section{padding:.75rem}}\
.definitions dt{font-weight:600}\
.definitions dd{margin:0 0 .6rem}\
@media print{body{background:#fff}section{break-inside:avoid;border:0}}";

const DEFINITIONS: &str = "<section id=\"definitions\" class=\"definitions\" aria-labelledby=\"definitions-h\">\n\
<h2 id=\"definitions-h\">Definitions</h2>\n<dl>\
<dt>Service level</dt><dd>Calls answered by a consultant within the threshold ÷ calls offered. \
Offered calls are inbound calls that rang at least one consultant.</dd>\
<dt>Abandonment</dt><dd>Offered calls where the caller hung up before an answer ÷ calls offered.</dd>\
<dt>ASA (average speed of answer)</dt><dd>Mean wait of the answered offered calls.</dd>\
<dt>AHT (average handling time)</dt><dd>Mean talk time of the answered calls.</dd>\
<dt>SLA</dt><dd>Protocols concluded within their deadline ÷ protocols concluded in the week. \
The deadline is the protocol&#39;s own, else the default deadline in business hours on the desk&#39;s calendar.</dd>\
<dt>Realised time</dt><dd>The part of each task or contact that falls inside the week.</dd>\
<dt>Week-over-week change</dt><dd>This week minus the previous week; for ratios, in percentage points (pp).</dd>\
<dt>Empty cells (—)</dt><dd>A ratio with nothing to divide by, or a change with no previous week.</dd>\
</dl>\n</section>\n";

// ---------------------------------------------------------------------------
// Numbers and dates

/// A difference of ratios in percentage points, rid of the binary noise of
/// the subtraction (0.9375 − 0.9 is 3.7499…, which would round down).
fn points(difference: f64) -> f64 {
    let rounded = (difference * 100.0 * 1e9).round() / 1e9;
    if rounded.is_finite() {
        rounded
    } else {
        difference * 100.0
    }
}

fn hours(minutes: i64) -> f64 {
    minutes as f64 / 60.0
}

/// A fixed-point number without "-0.00", "NaN" or "inf".
fn fixed(v: f64, decimals: usize) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s.chars().skip(1).all(|c| c == '0' || c == '.') {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

fn signed(text: &str, positive: bool) -> String {
    if positive {
        format!("+{text}")
    } else {
        text.to_string()
    }
}

/// An RFC 3339 instant as "Mon 2025-01-13 09:30" in its own offset; shown
/// as it came when it does not parse.
fn display_datetime(s: &str) -> String {
    match DateTime::<FixedOffset>::parse_from_rfc3339(s) {
        Ok(dt) => dt.format("%a %Y-%m-%d %H:%M").to_string(),
        Err(_) => s.to_string(),
    }
}

/// The report in a format by name (json, csv, xlsx, html), with its
/// content type.
pub fn any(r: &WeeklyReport, format: &str) -> Result<(&'static str, Vec<u8>), RenderError> {
    Ok(match format {
        "csv" => ("text/csv; charset=utf-8", csv(r)?.into_bytes()),
        "xlsx" => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            xlsx(r)?,
        ),
        "html" => ("text/html; charset=utf-8", html(r).into_bytes()),
        _ => ("application/json", serde_json::to_vec_pretty(r)?),
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::super::model::*;
    use super::*;
    use std::io::{Cursor, Read};

    const BIA: &str = "<Ana & \"Bia\">";

    fn fixture() -> WeeklyReport {
        WeeklyReport {
            week: "2025-W02".into(),
            week_start: "2025-01-06T00:00:00-03:00".into(),
            week_end: "2025-01-13T00:00:00-03:00".into(),
            schedule_week: "2025-W03".into(),
            timezone: "America/Sao_Paulo".into(),
            generated_at: "2025-01-13T07:05:00-03:00".into(),
            consultants: vec![
                ConsultantRef {
                    id: 1,
                    name: "Carla Souza".into(),
                },
                ConsultantRef {
                    id: 2,
                    name: BIA.into(),
                },
            ],
            tasks: vec![
                TaskTime {
                    consultant_id: Some(1),
                    category: "incident management (GIN)".into(),
                    count: 3,
                    minutes: 150,
                },
                TaskTime {
                    consultant_id: Some(2),
                    category: "documenting".into(),
                    count: 2,
                    minutes: 95,
                },
                TaskTime {
                    consultant_id: None,
                    category: "incident management (GIN)".into(),
                    count: 3,
                    minutes: 150,
                },
                TaskTime {
                    consultant_id: None,
                    category: "documenting".into(),
                    count: 2,
                    minutes: 95,
                },
            ],
            contacts: vec![
                ContactCount {
                    consultant_id: Some(1),
                    kind: "scheduled".into(),
                    channel: "meeting".into(),
                    status: "done".into(),
                    count: 2,
                    minutes: 90,
                },
                ContactCount {
                    consultant_id: Some(2),
                    kind: "triggered".into(),
                    channel: "phone".into(),
                    status: "done".into(),
                    count: 14,
                    minutes: 212,
                },
                ContactCount {
                    consultant_id: None,
                    kind: "triggered".into(),
                    channel: "phone".into(),
                    status: "done".into(),
                    count: 14,
                    minutes: 212,
                },
            ],
            hours: vec![
                HoursRow {
                    consultant_id: Some(1),
                    scheduled_minutes: 2400,
                    realised_minutes: 2250,
                },
                HoursRow {
                    consultant_id: Some(2),
                    scheduled_minutes: 2400,
                    realised_minutes: 2130,
                },
                HoursRow {
                    consultant_id: None,
                    scheduled_minutes: 4800,
                    realised_minutes: 4380,
                },
            ],
            work_plan: vec![
                PlanCompliance {
                    consultant_id: Some(1),
                    category: "documenting".into(),
                    planned_minutes: 600,
                    realised_minutes: 510,
                    gap_minutes: -90,
                },
                // Unplanned work: the compliance ratio is None.
                PlanCompliance {
                    consultant_id: Some(2),
                    category: "recording videos".into(),
                    planned_minutes: 0,
                    realised_minutes: 45,
                    gap_minutes: 45,
                },
                PlanCompliance {
                    consultant_id: None,
                    category: "documenting".into(),
                    planned_minutes: 600,
                    realised_minutes: 555,
                    gap_minutes: -45,
                },
            ],
            schedule: vec![
                ScheduleRow {
                    consultant_id: Some(1),
                    planned_minutes: 1200,
                    placed_minutes: 1080,
                    unfit_minutes: 120,
                },
                ScheduleRow {
                    consultant_id: None,
                    planned_minutes: 1200,
                    placed_minutes: 1080,
                    unfit_minutes: 120,
                },
            ],
            scheduled_tasks: vec![
                ScheduledTask {
                    consultant_id: 1,
                    category: "documenting".into(),
                    title: "Manual, \"chapter 2\", review".into(),
                    start: "2025-01-13T09:30:00-03:00".into(),
                    minutes: 90,
                    source: "schedule".into(),
                },
                ScheduledTask {
                    consultant_id: 2,
                    category: "support monitoring".into(),
                    title: "Communicate completion #4411".into(),
                    start: "2025-01-14T14:00:00-03:00".into(),
                    minutes: 15,
                    source: "rule".into(),
                },
            ],
            demand: Demand {
                contact_minutes: 302,
                task_minutes: 245,
                open_callbacks: 3,
                open_callback_minutes: 45,
                forecast_contacts: 15.5,
                forecast_minutes: 230,
                demand_minutes: 822,
                capacity_minutes: 4320,
                // The empty section: nobody's capacity listed.
                per_consultant: vec![],
                phone: vec![
                    ErlangHour {
                        hour: 10,
                        calls_per_hour: 6.0,
                        aht_seconds: 240.0,
                        agents_needed: 2,
                        on_duty: 2.0,
                    },
                    ErlangHour {
                        hour: 9,
                        calls_per_hour: 4.2,
                        aht_seconds: 230.5,
                        agents_needed: 1,
                        on_duty: 1.6,
                    },
                ],
                service_level_seconds: 20,
                service_level_target: 0.8,
            },
            sla: Sla {
                concluded: 16,
                within_deadline: 15,
                ratio: Some(0.9375),
                default_deadline_hours: 16,
                offered: 20,
                answered: 18,
                answered_in_threshold: 16,
                abandoned: 2,
                service_level: Some(0.8),
                abandonment: Some(0.1),
                asa_seconds: Some(12.25),
                aht_seconds: Some(245.0),
                threshold_seconds: 20,
                target: 0.8,
            },
            evolution: vec![
                WeekFigures {
                    week: "2024-W52".into(),
                    contacts: 10,
                    talk_minutes: 150,
                    sla: None,
                    service_level: Some(0.75),
                    abandonment: Some(0.125),
                    realised_minutes: 3000,
                },
                WeekFigures {
                    week: "2025-W01".into(),
                    contacts: 12,
                    talk_minutes: 180,
                    sla: Some(0.9),
                    service_level: Some(0.85),
                    abandonment: Some(0.05),
                    realised_minutes: 4000,
                },
                WeekFigures {
                    week: "2025-W02".into(),
                    contacts: 16,
                    talk_minutes: 212,
                    sla: Some(0.9375),
                    service_level: Some(0.8),
                    abandonment: Some(0.1),
                    realised_minutes: 4380,
                },
            ],
            followup: vec![
                Followup {
                    consultant_id: Some(2),
                    done: 3,
                    done_minutes: 25,
                    pending: 1,
                },
                Followup {
                    consultant_id: None,
                    done: 3,
                    done_minutes: 25,
                    pending: 1,
                },
            ],
        }
    }

    fn empty_report() -> WeeklyReport {
        WeeklyReport {
            week: String::new(),
            week_start: String::new(),
            week_end: String::new(),
            schedule_week: String::new(),
            timezone: String::new(),
            generated_at: String::new(),
            consultants: vec![],
            tasks: vec![],
            contacts: vec![],
            hours: vec![],
            work_plan: vec![],
            schedule: vec![],
            scheduled_tasks: vec![],
            demand: Demand {
                contact_minutes: 0,
                task_minutes: 0,
                open_callbacks: 0,
                open_callback_minutes: 0,
                forecast_contacts: f64::NAN,
                forecast_minutes: 0,
                demand_minutes: 0,
                capacity_minutes: 0,
                per_consultant: vec![],
                phone: vec![],
                service_level_seconds: 0,
                service_level_target: f64::NAN,
            },
            sla: Sla {
                concluded: 0,
                within_deadline: 0,
                ratio: None,
                default_deadline_hours: 0,
                offered: 0,
                answered: 0,
                answered_in_threshold: 0,
                abandoned: 0,
                service_level: None,
                abandonment: None,
                asa_seconds: None,
                aht_seconds: None,
                threshold_seconds: 0,
                target: 0.0,
            },
            evolution: vec![],
            followup: vec![],
        }
    }

    /// A CSV block: the item number, its title, header and records.
    struct Block {
        item: u32,
        title: String,
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    }

    impl Block {
        fn column(&self, name: &str) -> usize {
            self.header
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("no column {name} in {:?}", self.header))
        }

        /// The value in `column` of the first row whose first cell is `key`.
        fn cell(&self, key: &str, column: &str) -> String {
            let c = self.column(column);
            let row = self
                .rows
                .iter()
                .find(|r| r[0] == key)
                .unwrap_or_else(|| panic!("no row {key} in {}", self.title));
            row[c].clone()
        }
    }

    /// Splits the CSV as the module documentation tells readers to.
    fn blocks(text: &str) -> Vec<Block> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut out: Vec<Block> = Vec::new();
        for record in reader.records() {
            let record: Vec<String> = record.unwrap().iter().map(str::to_string).collect();
            if record.len() == 1 {
                let title = record[0].clone();
                let item = title
                    .strip_prefix("# ")
                    .and_then(|t| t.split('.').next())
                    .and_then(|n| n.parse().ok())
                    .expect("a title starts with '# N.'");
                out.push(Block {
                    item,
                    title,
                    header: vec![],
                    rows: vec![],
                });
            } else {
                let block = out.last_mut().expect("a title comes first");
                if block.header.is_empty() {
                    block.header = record;
                } else {
                    block.rows.push(record);
                }
            }
        }
        out
    }

    #[test]
    fn csv_parses_back_into_ten_items_with_the_right_numbers() {
        let text = csv(&fixture()).unwrap();
        let blocks = blocks(&text);
        let items: Vec<u32> = blocks.iter().map(|b| b.item).collect();
        assert_eq!(items, vec![1, 2, 3, 4, 5, 6, 7, 7, 7, 8, 9, 10]);
        assert!(text.starts_with("# 1. Tasks by category (realised)\n"));
        // Each block ends with an empty line.
        assert_eq!(text.matches("\n\n").count(), blocks.len());

        let tasks = &blocks[0];
        assert_eq!(
            tasks.header,
            vec!["Consultant", "Category", "Tasks", "Realised (h)"]
        );
        // 150 minutes are 2.50 hours; 95 are 1.58.
        assert_eq!(tasks.cell("Carla Souza", "Realised (h)"), "2.50");
        assert_eq!(tasks.cell(BIA, "Realised (h)"), "1.58");
        assert_eq!(tasks.cell("Team", "Tasks"), "3");

        let hours = &blocks[2];
        assert_eq!(hours.cell("Carla Souza", "Realised / scheduled"), "0.9375");
        assert_eq!(hours.cell("Carla Souza", "Difference (h)"), "-2.50");

        // No plan: the compliance ratio is an empty cell.
        let plan = &blocks[3];
        assert_eq!(plan.cell(BIA, "Realised / planned"), "");
        assert_eq!(plan.cell(BIA, "Gap (h)"), "0.75");

        let scheduled = &blocks[5];
        assert_eq!(
            scheduled.cell("Carla Souza", "Start"),
            "2025-01-13T09:30:00-03:00"
        );
        assert_eq!(
            scheduled.cell("Carla Souza", "Title"),
            "Manual, \"chapter 2\", review"
        );

        let demand = &blocks[6];
        assert_eq!(demand.rows.len(), 1);
        assert_eq!(demand.rows[0][demand.column("Demand (h)")], "13.70");
        assert_eq!(demand.rows[0][demand.column("Forecast contacts")], "15.5");
        assert_eq!(demand.rows[0][demand.column("Contact time (h)")], "5.03");
        assert!(blocks[7].title.ends_with("Capacity per consultant"));
        assert!(blocks[7].rows.is_empty());
        // Hours in the order of the day, though the model listed 10 first.
        assert_eq!(blocks[8].rows[0][0], "9");
        assert_eq!(blocks[8].cell("9", "On duty"), "1.6");

        let sla = &blocks[9];
        assert_eq!(sla.rows[0][sla.column("SLA")], "0.9375");
        assert_eq!(sla.rows[0][sla.column("Service level")], "0.8000");

        let evolution = &blocks[10];
        assert_eq!(evolution.rows.len(), 3);
        assert_eq!(evolution.cell("2024-W52", "SLA"), "");
        assert_eq!(evolution.cell("2024-W52", "Contacts change"), "");
        assert_eq!(evolution.cell("2025-W01", "SLA change (pp)"), "");
        assert_eq!(evolution.cell("2025-W02", "SLA change (pp)"), "3.75");
        assert_eq!(
            evolution.cell("2025-W02", "Service level change (pp)"),
            "-5.00"
        );
        assert_eq!(evolution.cell("2025-W02", "Contacts change"), "4");
        assert_eq!(evolution.cell("2025-W02", "Realised change (h)"), "6.33");

        let followup = &blocks[11];
        assert_eq!(followup.cell("Team", "Done / all"), "0.7500");
    }

    /// The files of a workbook, as text.
    fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut files = std::collections::BTreeMap::new();
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).unwrap();
            let name = file.name().unwrap().to_string();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            files.insert(name, text);
        }
        files
    }

    /// The raw `<v>` of a cell in a sheet's XML.
    fn cell_value(sheet: &str, reference: &str) -> Option<String> {
        let start = sheet.find(&format!("<c r=\"{reference}\""))?;
        let rest = &sheet[start..];
        let end = rest.find("</c>")?;
        let cell = &rest[..end];
        let v = cell.find("<v>")?;
        Some(cell[v + 3..].trim_end_matches("</v>").to_string())
    }

    fn shared_strings(xml: &str) -> Vec<String> {
        xml.split("<si>")
            .skip(1)
            .map(|si| {
                let t = si.find("<t")?;
                let open = si[t..].find('>')? + t + 1;
                let close = si.find("</t>")?;
                Some(si[open..close].to_string())
            })
            .map(Option::unwrap_or_default)
            .collect()
    }

    #[test]
    fn xlsx_has_a_summary_and_one_typed_sheet_per_item() {
        let bytes = xlsx(&fixture()).unwrap();
        assert_eq!(&bytes[..2], b"PK");
        let files = unzip(&bytes);
        let workbook = &files["xl/workbook.xml"];
        let names: Vec<&str> = workbook
            .split("<sheet name=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap())
            .collect();
        assert_eq!(
            names,
            vec![
                "Summary",
                "1 Tasks",
                "2 Contacts",
                "3 Hours",
                "4 Work plan",
                "5 Schedule",
                "6 Scheduled tasks",
                "7 Demand",
                "8 SLA",
                "9 Evolution",
                "10 Follow-up"
            ]
        );
        assert!(names.iter().all(|n| n.chars().count() <= 31));

        let styles = &files["xl/styles.xml"];
        assert!(styles.contains("formatCode=\"0.00\""), "{styles}");
        // 0.0% and yyyy-mm-dd hh:mm are custom formats too.
        assert!(styles.contains("formatCode=\"0.0%\""));
        assert!(styles.contains("formatCode=\"yyyy-mm-dd hh:mm\""));

        let strings = shared_strings(&files["xl/sharedStrings.xml"]);
        let text_at = |sheet: &str, r: &str| -> String {
            let xml = &files[&format!("xl/worksheets/{sheet}.xml")];
            let v = cell_value(xml, r).unwrap();
            strings[v.parse::<usize>().unwrap()].clone()
        };
        let number_at = |sheet: &str, r: &str| -> f64 {
            let xml = &files[&format!("xl/worksheets/{sheet}.xml")];
            cell_value(xml, r)
                .unwrap_or_else(|| panic!("no {r} in {sheet}"))
                .parse()
                .unwrap()
        };

        // Summary: title, header, then Figure | Value from row 3.
        assert_eq!(text_at("sheet1", "A3"), "Week");
        assert_eq!(text_at("sheet1", "B3"), "2025-W02");
        // Monday 2025-01-06 00:00 at its own offset: serial 45663.
        assert_eq!(number_at("sheet1", "B4"), 45663.0);
        assert_eq!(number_at("sheet1", "B9"), 16.0);
        assert_eq!(number_at("sheet1", "B11"), 0.9375);

        // "1 Tasks": row 2 is the header, row 3 the first consultant.
        assert_eq!(text_at("sheet2", "D2"), "Realised (h)");
        assert_eq!(text_at("sheet2", "A3"), "Carla Souza");
        assert_eq!(number_at("sheet2", "D3"), 2.5);
        assert_eq!(number_at("sheet2", "C3"), 3.0);
        assert!(strings.iter().any(|s| s.contains("&lt;Ana &amp;")));

        // "6 Scheduled tasks": 2025-01-13 09:30 wall clock, not UTC.
        let start = number_at("sheet7", "B3");
        assert!((start - (45670.0 + 9.5 / 24.0)).abs() < 1e-6, "{start}");

        // "9 Evolution": a missing ratio is a missing cell.
        let evolution = &files["xl/worksheets/sheet10.xml"];
        assert!(cell_value(evolution, "F3").is_none());
        assert_eq!(number_at("sheet10", "G5"), 3.75);
        assert!(files.values().all(|f| !f.contains("NaN")));
    }

    #[test]
    fn html_is_a_standalone_page_with_ten_sections_and_three_charts() {
        let page = html(&fixture());
        assert!(page.starts_with("<!doctype html>"));
        assert!(page
            .contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
        for n in 1..=10 {
            assert_eq!(
                page.matches(&format!("<section id=\"item-{n}\"")).count(),
                1,
                "item {n}"
            );
        }
        assert_eq!(page.matches("<svg").count(), 3);
        for key in ["hours", "demand", "trend"] {
            assert!(page.contains(&format!("data-chart=\"{key}\"")), "{key}");
        }
        assert!(!page.to_lowercase().contains("<script"));
        assert!(!page.contains("http"));
        assert!(!page.contains("<link"));
        assert!(!page.contains("NaN"));
        // The consultant's name is text, never markup.
        assert!(!page.contains(BIA));
        assert!(page.contains("&lt;Ana &amp; &quot;Bia&quot;&gt;"));
        // Figures read as the managers expect.
        assert!(page.contains("<td class=\"num\">2.50</td>"));
        assert!(page.contains("<td class=\"num\">93.8%</td>"));
        assert!(page.contains("<td class=\"num\">+3.8 pp</td>"));
        assert!(page.contains("Mon 2025-01-13 09:30"));
        assert!(page.contains("id=\"definitions\""));
        assert!(page.contains("Service level target (80.0%)"));
    }

    #[test]
    fn an_empty_report_renders_everywhere_without_nan() {
        let r = empty_report();
        let text = csv(&r).unwrap();
        assert_eq!(blocks(&text).len(), 12);
        assert!(!text.contains("NaN"));
        let files = unzip(&xlsx(&r).unwrap());
        assert!(files.values().all(|f| !f.contains("NaN")));
        let page = html(&r);
        assert!(!page.contains("NaN"));
        // No charts without rows; every table but the two single-row ones
        // says there is no data.
        assert_eq!(page.matches("<svg").count(), 0);
        assert_eq!(page.matches("No data.</p>").count(), 10);
        assert_eq!(page.matches("<section id=\"item-").count(), 10);
        // Weeks without any ratio still chart, as "No data", without NaN.
        let mut r = empty_report();
        r.evolution.push(WeekFigures {
            week: "2025-W02".into(),
            contacts: 0,
            talk_minutes: 0,
            sla: None,
            service_level: Some(f64::NAN),
            abandonment: None,
            realised_minutes: 0,
        });
        r.hours.push(HoursRow {
            consultant_id: None,
            scheduled_minutes: 0,
            realised_minutes: 0,
        });
        let page = html(&r);
        assert_eq!(page.matches("<svg").count(), 2);
        assert!(page.contains(">No data<"));
        assert!(!page.contains("NaN"));
    }

    #[test]
    fn malformed_instants_are_kept_as_text() {
        let mut r = fixture();
        r.scheduled_tasks[0].start = "next Monday".into();
        r.generated_at = "now".into();
        let files = unzip(&xlsx(&r).unwrap());
        let strings = shared_strings(&files["xl/sharedStrings.xml"]);
        assert!(strings.iter().any(|s| s == "next Monday"));
        assert!(html(&r).contains("generated now"));
    }

    #[test]
    fn unknown_consultants_and_non_finite_figures_do_not_break_rendering() {
        let mut r = fixture();
        r.tasks[0].consultant_id = Some(99);
        r.sla.ratio = Some(f64::NAN);
        r.demand.phone[0].on_duty = f64::INFINITY;
        let text = csv(&r).unwrap();
        assert!(text.contains("#99"));
        assert!(!text.contains("NaN") && !text.contains("inf"));
        let page = html(&r);
        assert!(!page.contains("NaN") && !page.contains("inf"));
        assert!(xlsx(&r).is_ok());
    }
}
