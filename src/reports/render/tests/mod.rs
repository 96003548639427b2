//! Unit tests of the three writers on a hand-made report: each format read
//! back (the CSV split as documented, the workbook unzipped, the page
//! searched), and the edge cases that must not break any of them. The
//! fixtures and readers live here with the format tests; `a11y` checks the
//! page's accessibility, `lang` the Portuguese and English renderings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::super::model::*;
use super::*;
use crate::i18n::Lang;
use std::io::{Cursor, Read};

mod a11y;
mod lang;

const BIA: &str = "<Ana & \"Bia\">";

fn fixture() -> WeeklyReport {
    WeeklyReport {
        duty: vec![],
        identification: vec![],
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
            reopened: 1,
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
        duty: vec![],
        identification: vec![],
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
            reopened: 0,
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
    let mut reader = ::csv::ReaderBuilder::new()
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
    let text = csv(&fixture(), Lang::En).unwrap();
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
    let bytes = xlsx(&fixture(), Lang::En).unwrap();
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
    assert!(styles.contains("formatCode=\"#,##0.00\""), "{styles}");
    // 0.0% and dd/mm/yyyy hh:mm are custom formats too.
    assert!(styles.contains("formatCode=\"0.0%\""));
    assert!(styles.contains("formatCode=\"dd/mm/yyyy hh:mm\""));

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
    let page = html(&fixture(), Lang::En);
    assert!(page.starts_with("<!doctype html>"));
    assert!(
        page.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
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
    // Dates day first in English too, as the desk reads them.
    assert!(page.contains("Mon 13/01/2025 09:30"));
    assert!(page.contains("<html lang=\"en\">"));
    assert!(page.contains("id=\"definitions\""));
    assert!(page.contains("Service level target (80.0%)"));
}

#[test]
fn an_empty_report_renders_everywhere_without_nan() {
    let r = empty_report();
    let text = csv(&r, Lang::En).unwrap();
    assert_eq!(blocks(&text).len(), 12);
    assert!(!text.contains("NaN"));
    let files = unzip(&xlsx(&r, Lang::En).unwrap());
    assert!(files.values().all(|f| !f.contains("NaN")));
    let page = html(&r, Lang::En);
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
    let page = html(&r, Lang::En);
    assert_eq!(page.matches("<svg").count(), 2);
    assert!(page.contains(">No data<"));
    assert!(!page.contains("NaN"));
}

#[test]
fn malformed_instants_are_kept_as_text() {
    let mut r = fixture();
    r.scheduled_tasks[0].start = "next Monday".into();
    r.generated_at = "now".into();
    let files = unzip(&xlsx(&r, Lang::En).unwrap());
    let strings = shared_strings(&files["xl/sharedStrings.xml"]);
    assert!(strings.iter().any(|s| s == "next Monday"));
    assert!(html(&r, Lang::En).contains("generated now"));
}

#[test]
fn unknown_consultants_and_non_finite_figures_do_not_break_rendering() {
    let mut r = fixture();
    r.tasks[0].consultant_id = Some(99);
    r.sla.ratio = Some(f64::NAN);
    r.demand.phone[0].on_duty = f64::INFINITY;
    let text = csv(&r, Lang::En).unwrap();
    assert!(text.contains("#99"));
    assert!(!text.contains("NaN") && !text.contains("inf"));
    let page = html(&r, Lang::En);
    assert!(!page.contains("NaN") && !page.contains("inf"));
    assert!(xlsx(&r, Lang::En).is_ok());
}

#[test]
fn one_list_of_formats_and_each_renders_as_its_content_type() {
    assert_eq!(
        ReportFormat::ALL
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>(),
        ReportFormat::NAMES
    );
    assert_eq!(ReportFormat::NAMES, ["json", "csv", "xlsx", "html"]);
    for &f in ReportFormat::ALL {
        assert_eq!(f.as_str().parse::<ReportFormat>(), Ok(f));
        assert_eq!(
            serde_json::to_value(f).unwrap(),
            serde_json::json!(f.as_str())
        );
        assert_eq!(
            <ReportFormat as clap::ValueEnum>::from_str(f.as_str(), false),
            Ok(f)
        );
        let (ctype, body) = any(&fixture(), f, Lang::PtBr).unwrap();
        assert_eq!(ctype, f.content_type());
        assert!(!body.is_empty(), "{f:?}");
    }
    // No quiet fallback: an unknown name is no format at all.
    for bad in ["pdf", "JSON", "", "html "] {
        let e = bad.parse::<ReportFormat>().unwrap_err();
        assert_eq!(e.value, bad);
        assert_eq!(e.expected, ReportFormat::NAMES);
    }
    let (_, json) = any(&fixture(), ReportFormat::Json, Lang::En).unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
}
