//! The XLSX writer: a workbook of typed cells (numbers with formats, real
//! date-times) so a manager can sum and chart the figures without parsing
//! text; a summary sheet, then one sheet per item, named and titled in the
//! report's language.
//!
//! Number formats are written the way the file format wants them, in
//! Excel's invariant notation (`#,##0.00`); the spreadsheet shows them with
//! the separators of the reader's regional settings, so a Brazilian Excel
//! or LibreOffice reads `1.234,50` while the cell stays a number. Text
//! cells would force `1.234,50` everywhere but could no longer be summed.

use chrono::{DateTime, Datelike, Timelike};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet};

use super::super::model::WeeklyReport;
use super::items::{items, summary_table};
use super::table::{hours, points, Cell, Item, Layout, Table};
use super::RenderError;
use crate::i18n::Lang;

/// The report as an XLSX workbook: a summary sheet ("Resumo"), then one
/// sheet per item ("1 Tarefas" … "10 Acompanhamento"; in English "1 Tasks"
/// … "10 Follow-up") with a bold title and header row and typed cells.
pub fn xlsx(r: &WeeklyReport, lang: Lang) -> Result<Vec<u8>, RenderError> {
    let mut workbook = Workbook::new();
    let title = lang.tf("report.title", &[("week", &r.week)]);
    workbook.set_properties(&DocProperties::new().set_title(&title));
    let summary = Item {
        number: 0,
        title,
        sheet: lang.t("report.sheet.summary"),
        tables: vec![summary_table(r, lang)],
    };
    write_sheet(workbook.add_worksheet(), &summary, lang)?;
    for item in items(r, lang) {
        write_sheet(workbook.add_worksheet(), &item, lang)?;
    }
    Ok(workbook.save_to_buffer()?)
}

/// Day first, as the desk reads dates in either language (`crate::i18n`).
const DATETIME_FORMAT: &str = "dd/mm/yyyy hh:mm";
/// Column widths in characters: wide enough for a header, never so wide
/// that one long task title pushes the other columns off screen.
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;

fn write_sheet(ws: &mut Worksheet, item: &Item, lang: Lang) -> Result<(), RenderError> {
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
        row = write_table(ws, row, table, &mut widths, lang)?;
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
    lang: Lang,
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
                    write_cell(ws, row, column(c)?, cell, r.total, lang)?;
                    widen(c, cell.display(lang).chars().count());
                }
                row = next_row(row)?;
            }
        }
        Layout::Record => {
            ws.write_string_with_format(row, 0, lang.t("report.figure"), &header)?;
            ws.write_string_with_format(row, 1, lang.t("report.value"), &header)?;
            row = next_row(row)?;
            let cells = table
                .rows
                .first()
                .map(|r| r.cells.as_slice())
                .unwrap_or(&[]);
            for (name, cell) in table.columns.iter().zip(cells) {
                ws.write_string(row, 0, *name)?;
                write_cell(ws, row, 1, cell, false, lang)?;
                widen(0, name.chars().count());
                widen(1, cell.display(lang).chars().count());
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
    lang: Lang,
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
            ws.write_number_with_format(row, col, *v as f64, &format("#,##0"))?;
        }
        Cell::IntChange(v) => {
            ws.write_number_with_format(row, col, *v as f64, &format("+#,##0;-#,##0;0"))?;
        }
        Cell::Hours(m) => {
            ws.write_number_with_format(row, col, hours(*m), &format("#,##0.00"))?;
        }
        Cell::HoursChange(m) => {
            ws.write_number_with_format(row, col, hours(*m), &format("+#,##0.00;-#,##0.00;0.00"))?;
        }
        Cell::Ratio(v) => {
            ws.write_number_with_format(row, col, *v, &format("0.0%"))?;
        }
        Cell::Points(v) => {
            // The value is in points, like the CSV's; "%" in a number
            // format would multiply by 100 and read as a ratio. The unit is
            // a literal, so it can follow the language.
            let unit = lang.t("report.unit.pp");
            ws.write_number_with_format(
                row,
                col,
                points(*v),
                &format(&format!("+0.0\" {unit}\";-0.0\" {unit}\";0.0\" {unit}\"")),
            )?;
        }
        Cell::Num(v, decimals) => {
            let pattern = match decimals {
                0 => "#,##0".to_string(),
                d => format!("#,##0.{}", "0".repeat(*d)),
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
