//! The weekly report as the shared tables: the summary and the ten items,
//! one function per item, with their titles, sheet names, column names and
//! the cells each figure of the model becomes. Every format renders these,
//! so a column is named and a figure computed in one place only.

use super::super::model::{
    Capacity, ContactCount, Demand, ErlangHour, Followup, HoursRow, PlanCompliance, ScheduleRow,
    ScheduledTask, TaskTime, WeekFigures, WeeklyReport,
};
use super::table::{record_table, rows_table, Cell, Item, Row, Table};

pub(super) const CAPACITY_SUBTITLE: &str = "Capacity per consultant";
pub(super) const PHONE_SUBTITLE: &str = "Phone line per hour of the day (Erlang C)";

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

/// The row's consultant, or the team, as [`WeeklyReport::who`] names them.
fn who(r: &WeeklyReport, id: Option<i64>) -> Cell {
    Cell::Text(r.who(id))
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// The ten items in report order.
pub(super) fn items(r: &WeeklyReport) -> Vec<Item> {
    vec![
        item_1_tasks(r),
        item_2_contacts(r),
        item_3_hours(r),
        item_4_work_plan(r),
        item_5_schedule(r),
        item_6_scheduled_tasks(r),
        item_7_demand(r),
        item_8_sla(r),
        item_9_evolution(r),
        item_10_followup(r),
    ]
}

fn item_1_tasks(r: &WeeklyReport) -> Item {
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
                            who(r, t.consultant_id),
                            text(&t.category),
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

fn item_2_contacts(r: &WeeklyReport) -> Item {
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
                            who(r, c.consultant_id),
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
    }
}

fn item_3_hours(r: &WeeklyReport) -> Item {
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
                            who(r, h.consultant_id),
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

fn item_4_work_plan(r: &WeeklyReport) -> Item {
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
                            who(r, p.consultant_id),
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
    }
}

fn item_5_schedule(r: &WeeklyReport) -> Item {
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
                            who(r, s.consultant_id),
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

fn item_6_scheduled_tasks(r: &WeeklyReport) -> Item {
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
                        who(r, Some(t.consultant_id)),
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
    }
}

fn item_7_demand(r: &WeeklyReport) -> Item {
    Item {
        number: 7,
        title: "Demand versus capacity".into(),
        sheet: "7 Demand",
        tables: demand_tables(r),
    }
}

fn item_8_sla(r: &WeeklyReport) -> Item {
    Item {
        number: 8,
        title: "SLA and phone service level".into(),
        sheet: "8 SLA",
        tables: vec![sla_table(r)],
    }
}

fn item_9_evolution(r: &WeeklyReport) -> Item {
    Item {
        number: 9,
        title: "Evolution week over week".into(),
        sheet: "9 Evolution",
        tables: vec![evolution_table(&r.evolution)],
    }
}

fn item_10_followup(r: &WeeklyReport) -> Item {
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
                            who(r, f.consultant_id),
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
                        who(r, Some(c.consultant_id)),
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
pub(super) fn phone_by_hour(d: &Demand) -> Vec<&ErlangHour> {
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

pub(super) fn summary_table(r: &WeeklyReport) -> Table {
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
