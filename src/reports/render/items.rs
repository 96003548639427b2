//! The weekly report as the shared tables: the summary and the ten items,
//! one function per item, with their titles, sheet names, column names and
//! the cells each figure of the model becomes. Every format renders these,
//! so a column is named and a figure computed in one place only.
//!
//! The words come from the catalogues (`report.*` keys in `crate::i18n`)
//! in the report's language, and so do the names of the model's codes
//! (categories, channels, contact kinds and statuses, task sources); a
//! code the catalogue does not know (a category a desk added) is shown as
//! it is.

use super::super::model::{
    Capacity, ContactCount, Demand, ErlangHour, Followup, HoursRow, PlanCompliance, ScheduleRow,
    ScheduledTask, TaskTime, WeekFigures, WeeklyReport,
};
use super::table::{record_table, rows_table, Cell, Item, Row, Table};
use crate::i18n::Lang;

/// The key of item 7's hourly table's subtitle; the page puts the chart
/// above the table that bears it.
pub(super) const PHONE_SUBTITLE: &str = "report.sub.phone";

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

/// The row's consultant by name, or the team for the total rows.
pub(super) fn who_name(r: &WeeklyReport, lang: Lang, id: Option<i64>) -> String {
    match id {
        None => lang.t("report.team").to_string(),
        Some(id) => r.consultant_name(id),
    }
}

fn who(r: &WeeklyReport, lang: Lang, id: Option<i64>) -> Cell {
    Cell::Text(who_name(r, lang, id))
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// A code of the model (`documentation`, `phone`, `done`…) by its name in
/// the catalogue under `prefix`, or as it is when the catalogue has none.
pub(super) fn code(lang: Lang, prefix: &str, value: &str) -> Cell {
    Cell::Text(
        lang.get(&format!("{prefix}.{value}"))
            .unwrap_or(value)
            .to_string(),
    )
}

/// The ten items in report order.
pub(super) fn items(r: &WeeklyReport, lang: Lang) -> Vec<Item> {
    vec![
        item_1_tasks(r, lang),
        item_2_contacts(r, lang),
        item_3_hours(r, lang),
        item_4_work_plan(r, lang),
        item_5_schedule(r, lang),
        item_6_scheduled_tasks(r, lang),
        item_7_demand(r, lang),
        item_8_sla(r, lang),
        item_9_evolution(r, lang),
        item_10_followup(r, lang),
    ]
}

fn item_1_tasks(r: &WeeklyReport, lang: Lang) -> Item {
    Item {
        number: 1,
        title: lang.t("report.item.tasks").into(),
        sheet: lang.t("report.sheet.tasks"),
        tables: vec![rows_table(
            vec![
                lang.t("report.col.consultant"),
                lang.t("report.col.category"),
                lang.t("report.col.tasks"),
                lang.t("report.col.realised_h"),
            ],
            r.tasks
                .iter()
                .map(|t: &TaskTime| {
                    row(
                        vec![
                            who(r, lang, t.consultant_id),
                            code(lang, "category", &t.category),
                            Cell::Int(t.count),
                            Cell::Hours(t.minutes),
                        ],
                        t.consultant_id,
                    )
                })
                .collect(),
        )],
    }
}

fn item_2_contacts(r: &WeeklyReport, lang: Lang) -> Item {
    let mut tables = vec![contacts_table(r, lang)];
    tables.extend(super::channels::identification_table(r, lang));
    Item {
        number: 2,
        title: lang.t("report.item.contacts").into(),
        sheet: lang.t("report.sheet.contacts"),
        tables,
    }
}

fn contacts_table(r: &WeeklyReport, lang: Lang) -> Table {
    rows_table(
        vec![
            lang.t("report.col.consultant"),
            lang.t("report.col.kind"),
            lang.t("report.col.channel"),
            lang.t("report.col.status"),
            lang.t("report.col.contacts"),
            lang.t("report.col.realised_h"),
        ],
        r.contacts
            .iter()
            .map(|c: &ContactCount| {
                row(
                    vec![
                        who(r, lang, c.consultant_id),
                        code(lang, "report.kind", &c.kind),
                        code(lang, "channel", &c.channel),
                        code(lang, "report.status", &c.status),
                        Cell::Int(c.count),
                        Cell::Hours(c.minutes),
                    ],
                    c.consultant_id,
                )
            })
            .collect(),
    )
}

fn item_3_hours(r: &WeeklyReport, lang: Lang) -> Item {
    Item {
        number: 3,
        title: lang.t("report.item.hours").into(),
        sheet: lang.t("report.sheet.hours"),
        tables: vec![rows_table(
            vec![
                lang.t("report.col.consultant"),
                lang.t("report.col.scheduled_h"),
                lang.t("report.col.realised_h"),
                lang.t("report.col.difference_h"),
                lang.t("report.col.realised_per_scheduled"),
            ],
            r.hours
                .iter()
                .map(|h: &HoursRow| {
                    row(
                        vec![
                            who(r, lang, h.consultant_id),
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
    }
}

fn item_4_work_plan(r: &WeeklyReport, lang: Lang) -> Item {
    Item {
        number: 4,
        title: lang.t("report.item.work_plan").into(),
        sheet: lang.t("report.sheet.work_plan"),
        tables: vec![rows_table(
            vec![
                lang.t("report.col.consultant"),
                lang.t("report.col.category"),
                lang.t("report.col.planned_h"),
                lang.t("report.col.realised_h"),
                lang.t("report.col.gap_h"),
                lang.t("report.col.realised_per_planned"),
            ],
            r.work_plan
                .iter()
                .map(|p: &PlanCompliance| {
                    row(
                        vec![
                            who(r, lang, p.consultant_id),
                            code(lang, "category", &p.category),
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
    }
}

fn item_5_schedule(r: &WeeklyReport, lang: Lang) -> Item {
    Item {
        number: 5,
        title: lang.tf("report.item.schedule", &[("week", &r.schedule_week)]),
        sheet: lang.t("report.sheet.schedule"),
        tables: vec![rows_table(
            vec![
                lang.t("report.col.consultant"),
                lang.t("report.col.planned_h"),
                lang.t("report.col.placed_h"),
                lang.t("report.col.unfit_h"),
                lang.t("report.col.placed_per_planned"),
            ],
            r.schedule
                .iter()
                .map(|s: &ScheduleRow| {
                    row(
                        vec![
                            who(r, lang, s.consultant_id),
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
    }
}

fn item_6_scheduled_tasks(r: &WeeklyReport, lang: Lang) -> Item {
    Item {
        number: 6,
        title: lang.tf("report.item.scheduled_tasks", &[("week", &r.schedule_week)]),
        sheet: lang.t("report.sheet.scheduled_tasks"),
        tables: vec![rows_table(
            vec![
                lang.t("report.col.consultant"),
                lang.t("report.col.start"),
                lang.t("report.col.category"),
                lang.t("report.col.title"),
                lang.t("report.col.duration_h"),
                lang.t("report.col.source"),
            ],
            r.scheduled_tasks
                .iter()
                .map(|t: &ScheduledTask| Row {
                    cells: vec![
                        who(r, lang, Some(t.consultant_id)),
                        Cell::DateTime(t.start.clone()),
                        code(lang, "category", &t.category),
                        text(&t.title),
                        Cell::Hours(t.minutes),
                        code(lang, "report.source", &t.source),
                    ],
                    total: false,
                })
                .collect(),
        )],
    }
}

fn item_7_demand(r: &WeeklyReport, lang: Lang) -> Item {
    Item {
        number: 7,
        title: lang.t("report.item.demand").into(),
        sheet: lang.t("report.sheet.demand"),
        tables: demand_tables(r, lang),
    }
}

fn item_8_sla(r: &WeeklyReport, lang: Lang) -> Item {
    Item {
        number: 8,
        title: lang.t("report.item.sla").into(),
        sheet: lang.t("report.sheet.sla"),
        tables: vec![sla_table(r, lang)],
    }
}

fn item_9_evolution(r: &WeeklyReport, lang: Lang) -> Item {
    Item {
        number: 9,
        title: lang.t("report.item.evolution").into(),
        sheet: lang.t("report.sheet.evolution"),
        tables: vec![evolution_table(&r.evolution, lang)],
    }
}

fn item_10_followup(r: &WeeklyReport, lang: Lang) -> Item {
    Item {
        number: 10,
        title: lang.t("report.item.followup").into(),
        sheet: lang.t("report.sheet.followup"),
        tables: vec![rows_table(
            vec![
                lang.t("report.col.consultant"),
                lang.t("report.col.done"),
                lang.t("report.col.done_h"),
                lang.t("report.col.pending"),
                lang.t("report.col.done_per_all"),
            ],
            r.followup
                .iter()
                .map(|f: &Followup| {
                    row(
                        vec![
                            who(r, lang, f.consultant_id),
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
    }
}

fn demand_tables(r: &WeeklyReport, lang: Lang) -> Vec<Table> {
    let d = &r.demand;
    let totals = record_table(
        vec![
            lang.t("report.col.contact_time_h"),
            lang.t("report.col.task_time_h"),
            lang.t("report.col.open_callbacks"),
            lang.t("report.col.open_callback_time_h"),
            lang.t("report.col.forecast_contacts"),
            lang.t("report.col.forecast_time_h"),
            lang.t("report.col.demand_h"),
            lang.t("report.col.capacity_h"),
            lang.t("report.col.demand_per_capacity"),
            lang.t("report.col.capacity_minus_demand_h"),
            lang.t("report.col.sl_threshold_s"),
            lang.t("report.col.sl_target"),
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
        subtitle: Some(lang.t("report.sub.capacity")),
        ..rows_table(
            vec![
                lang.t("report.col.consultant"),
                lang.t("report.col.working_days"),
                lang.t("report.col.absent_days"),
                lang.t("report.col.capacity_h"),
            ],
            d.per_consultant
                .iter()
                .map(|c: &Capacity| Row {
                    cells: vec![
                        who(r, lang, Some(c.consultant_id)),
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
        subtitle: Some(lang.t(PHONE_SUBTITLE)),
        ..rows_table(
            vec![
                lang.t("report.col.hour"),
                lang.t("report.col.calls_per_hour"),
                lang.t("report.col.aht_s"),
                lang.t("report.col.agents_needed"),
                lang.t("report.col.on_duty"),
                lang.t("report.col.on_duty_minus_needed"),
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
    let mut tables = vec![totals, capacity, phone];
    tables.extend(super::channels::duty_table(r, lang));
    tables
}

/// The phone line's hours in the order of the day, whatever order the
/// model lists them in.
pub(super) fn phone_by_hour(d: &Demand) -> Vec<&ErlangHour> {
    let mut phone: Vec<&ErlangHour> = d.phone.iter().collect();
    phone.sort_by_key(|h| h.hour);
    phone
}

fn sla_table(r: &WeeklyReport, lang: Lang) -> Table {
    let s = &r.sla;
    record_table(
        vec![
            lang.t("report.col.concluded"),
            lang.t("report.col.within_deadline"),
            lang.t("report.col.sla"),
            lang.t("report.col.reopened"),
            lang.t("report.col.default_deadline_h"),
            lang.t("report.col.offered"),
            lang.t("report.col.answered"),
            lang.t("report.col.answered_in_threshold"),
            lang.t("report.col.abandoned"),
            lang.t("report.col.service_level"),
            lang.t("report.col.abandonment"),
            lang.t("report.col.asa_s"),
            lang.t("report.col.aht_s"),
            lang.t("report.col.threshold_s"),
            lang.t("report.col.sl_target"),
        ],
        vec![
            Cell::Int(s.concluded),
            Cell::Int(s.within_deadline),
            Cell::ratio(s.ratio),
            Cell::Int(s.reopened),
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
fn evolution_table(weeks: &[WeekFigures], lang: Lang) -> Table {
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
            lang.t("report.col.week"),
            lang.t("report.col.contacts"),
            lang.t("report.col.contacts_change"),
            lang.t("report.col.talk_h"),
            lang.t("report.col.talk_change_h"),
            lang.t("report.col.sla"),
            lang.t("report.col.sla_change_pp"),
            lang.t("report.col.service_level"),
            lang.t("report.col.service_level_change_pp"),
            lang.t("report.col.abandonment"),
            lang.t("report.col.abandonment_change_pp"),
            lang.t("report.col.realised_h"),
            lang.t("report.col.realised_change_h"),
        ],
        rows,
    )
}
/// The figures a manager reads first.
pub(super) struct Headline {
    /// Attended contacts: item 9's figure for the report's week.
    pub(super) contacts: Option<i64>,
    /// Realised minutes: item 3's team row, else item 9's.
    pub(super) realised_minutes: Option<i64>,
    pub(super) sla: Option<f64>,
    pub(super) service_level: Option<f64>,
    pub(super) abandonment: Option<f64>,
}

pub(super) fn headline(r: &WeeklyReport) -> Headline {
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

/// The headline figures for people, as (label, value): the page's summary
/// cards and the mail's text.
pub(super) fn summary_figures(r: &WeeklyReport, lang: Lang) -> Vec<(&'static str, String)> {
    let h = headline(r);
    let ratio = |v: Option<f64>| Cell::ratio(v).display(lang);
    vec![
        (
            lang.t("report.col.contacts"),
            h.contacts.map_or(Cell::Empty, Cell::Int).display(lang),
        ),
        (
            lang.t("report.card.realised_hours"),
            h.realised_minutes
                .map_or(Cell::Empty, Cell::Hours)
                .display(lang),
        ),
        (lang.t("report.col.sla"), ratio(h.sla)),
        (lang.t("report.col.service_level"), ratio(h.service_level)),
        (lang.t("report.col.abandonment"), ratio(h.abandonment)),
    ]
}

pub(super) fn summary_table(r: &WeeklyReport, lang: Lang) -> Table {
    let h = headline(r);
    record_table(
        vec![
            lang.t("report.col.week"),
            lang.t("report.col.week_start"),
            lang.t("report.col.week_end"),
            lang.t("report.col.schedule_week"),
            lang.t("report.col.timezone"),
            lang.t("report.col.generated_at"),
            lang.t("report.col.contacts"),
            lang.t("report.col.realised_h"),
            lang.t("report.col.sla"),
            lang.t("report.col.service_level"),
            lang.t("report.col.abandonment"),
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
