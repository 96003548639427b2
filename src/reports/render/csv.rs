//! The CSV writer: the shared tables as one file of blocks, in the layout
//! the parent module's documentation promises readers. Titles, headings and
//! names are in the report's language; figures are in the machine's forms
//! whatever the language (see the parent module's "Language and forms").

use super::super::model::WeeklyReport;
use super::items::items;
use super::table::Cell;
use super::RenderError;
use crate::i18n::Lang;

/// The whole report as CSV blocks; see the `reports::render` documentation
/// for how a reader splits them.
pub fn csv(r: &WeeklyReport, lang: Lang) -> Result<String, RenderError> {
    let mut out: Vec<u8> = Vec::new();
    for item in items(r, lang) {
        for table in &item.tables {
            // A writer per block: blocks have different widths, and the
            // empty line between them is not a record the csv crate writes.
            let mut w = ::csv::WriterBuilder::new()
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
