//! The chat and e-mail figures' tables: item 2's contacts by "which
//! provider?" state and item 7's duty roster as it was in the week. Each
//! is shown only when the week has something to say, so a desk without a
//! chat bridge or a roster reads the report it always did.

use super::super::model::WeeklyReport;
use super::items::code;
use super::table::{rows_table, Cell, Row, Table};
use crate::i18n::Lang;

pub(super) fn identification_table(r: &WeeklyReport, lang: Lang) -> Option<Table> {
    if r.identification.is_empty() {
        return None;
    }
    Some(Table {
        subtitle: Some(lang.t("report.sub.identification")),
        ..rows_table(
            vec![
                lang.t("report.col.identification"),
                lang.t("report.col.contacts"),
            ],
            r.identification
                .iter()
                .map(|i| Row {
                    cells: vec![
                        code(lang, "report.identification", &i.state),
                        Cell::Int(i.count),
                    ],
                    total: false,
                })
                .collect(),
        )
    })
}

pub(super) fn duty_table(r: &WeeklyReport, lang: Lang) -> Option<Table> {
    if r.duty.is_empty() {
        return None;
    }
    Some(Table {
        subtitle: Some(lang.t("report.sub.duty")),
        ..rows_table(
            vec![
                lang.t("report.col.channel"),
                lang.t("report.col.consultant"),
                lang.t("report.col.duty_h"),
            ],
            r.duty
                .iter()
                .map(|d| Row {
                    cells: vec![
                        code(lang, "channel", &d.channel),
                        Cell::Text(r.consultant_name(d.consultant_id)),
                        Cell::Hours(d.minutes),
                    ],
                    total: false,
                })
                .collect(),
        )
    })
}
