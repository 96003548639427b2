//! Unit tests of the three writers on a hand-made report: each format read
//! back (the CSV split as documented, the workbook unzipped, the page
//! searched), and the edge cases that must not break any of them.

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

/// The classes the page's own stylesheet lets scroll (`overflow` auto or
/// scroll). Read from the page rather than listed here, so a new scrolling
/// wrapper is checked without anyone remembering this test.
fn scrolling_classes(page: &str) -> Vec<String> {
    let css = page
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(css, _)| css)
        .expect("an inline stylesheet");
    let mut classes = Vec::new();
    for rule in css.split('}') {
        // rsplit: a rule inside @media reads "@media (…){.a{…".
        let Some((selectors, declarations)) = rule.rsplit_once('{') else {
            continue;
        };
        let scrolls = declarations.split(';').any(|d| {
            let (property, value) = d.split_once(':').unwrap_or((d, ""));
            property.trim().starts_with("overflow")
                && (value.contains("auto") || value.contains("scroll"))
        });
        if !scrolls {
            continue;
        }
        for selector in selectors.split(',') {
            let last = selector.split_whitespace().last().unwrap_or("");
            let found: Vec<String> = last
                .split('.')
                .skip(1)
                .map(|c| {
                    c.chars()
                        .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '-' || *ch == '_')
                        .collect()
                })
                .collect();
            assert!(
                !found.is_empty(),
                "{selector:?} scrolls but names no class: teach this test to find its elements"
            );
            classes.extend(found);
        }
    }
    classes
}

/// An opening tag's name and attributes (the page quotes every value).
fn tag_attributes(tag: &str) -> (String, std::collections::BTreeMap<String, String>) {
    let tag = tag.trim_end_matches('/');
    let (name, mut rest) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
    let mut attributes = std::collections::BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..end].to_string();
        rest = &rest[end..];
        if let Some(quoted) = rest.strip_prefix("=\"") {
            let close = quoted.find('"').expect("a closing quote");
            attributes.insert(key, quoted[..close].to_string());
            rest = &quoted[close + 1..];
        } else {
            attributes.insert(key, String::new());
        }
    }
    (name.to_ascii_lowercase(), attributes)
}

/// Every opening tag of the page, as name and attributes.
fn tags(page: &str) -> Vec<(String, std::collections::BTreeMap<String, String>)> {
    page.split('<')
        .skip(1)
        .filter(|piece| !piece.starts_with('/') && !piece.starts_with('!'))
        .filter_map(|piece| piece.split_once('>').map(|(tag, _)| tag_attributes(tag)))
        .collect()
}

/// The text of the element with this id, tags stripped.
fn text_of(page: &str, id: &str) -> String {
    let marker = format!(" id=\"{id}\"");
    assert_eq!(page.matches(&marker).count(), 1, "id {id} is not unique");
    let at = page.find(&marker).unwrap();
    let open = page[..at].rfind('<').unwrap();
    let (name, _) = page[open + 1..].split_once(' ').unwrap();
    let content_start = open + page[open..].find('>').unwrap() + 1;
    let close = format!("</{name}>");
    let content_end = content_start + page[content_start..].find(&close).unwrap();
    let mut text = String::new();
    let mut in_tag = false;
    for c in page[content_start..content_end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_string()
}

/// The accessible name `aria-labelledby` gives an element: the referenced
/// elements' texts, or the element's own `aria-label` where it names itself.
fn labelled_name(page: &str, attributes: &std::collections::BTreeMap<String, String>) -> String {
    let own = attributes.get("id");
    attributes["aria-labelledby"]
        .split_whitespace()
        .map(|id| {
            if Some(&id.to_string()) == own {
                attributes.get("aria-label").cloned().unwrap_or_default()
            } else {
                text_of(page, id)
            }
        })
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Keyboard users must reach every element that scrolls (axe's
/// `scrollable-region-focusable`) and hear what it holds; the regions'
/// names must also differ from each other and from their sections'
/// (`landmark-unique`), or a screen reader's list of regions is useless.
fn assert_scrollers_are_named_focusable_regions(page: &str) {
    let classes = scrolling_classes(page);
    assert!(
        classes.iter().any(|c| c == "table-wrap") && classes.iter().any(|c| c == "chart-wrap"),
        "{classes:?}"
    );
    let mut scrollers = 0;
    let mut landmarks: Vec<String> = Vec::new();
    for (name, attributes) in tags(page) {
        let inline_scroll = attributes
            .get("style")
            .is_some_and(|s| s.contains("overflow"));
        assert!(!inline_scroll, "<{name}> scrolls by an inline style");
        let scrolls = attributes.get("class").is_some_and(|list| {
            list.split_whitespace()
                .any(|c| classes.iter().any(|s| s == c))
        });
        if scrolls {
            scrollers += 1;
            assert_eq!(
                attributes.get("tabindex").map(String::as_str),
                Some("0"),
                "{attributes:?}"
            );
            assert_eq!(
                attributes.get("role").map(String::as_str),
                Some("region"),
                "{attributes:?}"
            );
            assert!(attributes.contains_key("aria-labelledby"), "{attributes:?}");
        }
        let is_landmark = attributes.get("role").is_some_and(|r| r == "region")
            || (name == "section" && attributes.contains_key("aria-labelledby"));
        if is_landmark {
            let accessible = labelled_name(page, &attributes);
            assert!(!accessible.is_empty(), "no name: {attributes:?}");
            assert!(
                !landmarks.contains(&accessible),
                "two regions named {accessible:?}"
            );
            landmarks.push(accessible);
        }
    }
    // Every table and chart sits in a wrapper this test checked.
    assert_eq!(
        scrollers,
        page.matches("<table").count() + page.matches("<svg").count()
    );
}

#[test]
fn every_scrolling_element_is_a_named_focusable_region() {
    let page = html(&fixture(), Lang::En);
    assert_scrollers_are_named_focusable_regions(&page);
    assert!(page.contains(
        "<div class=\"table-wrap\" id=\"item-7-table-3\" tabindex=\"0\" role=\"region\" \
         aria-labelledby=\"item-7-table-3-h item-7-table-3\" aria-label=\"table\">"
    ));
    assert!(page.contains("<h3 id=\"item-7-table-3-h\">Phone line per hour"));
    assert_scrollers_are_named_focusable_regions(&html(&empty_report(), Lang::En));
}

// ---------------------------------------------------------------------------
// Languages: Portuguese by default for the desk, English on request; figures
// in each reader's forms.

/// The text of a page as a reader meets it: no tags, no stylesheet, entities
/// of the escaper decoded.
fn visible_text(page: &str) -> String {
    let body = page.split_once("</style>").map_or(page, |(_, b)| b);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The English item titles as they read before the report spoke
/// Portuguese: none may leak into the Portuguese page.
const ENGLISH_ITEM_TITLES: [&str; 10] = [
    "Tasks by category (realised)",
    "Contacts (scheduled by status and triggered by channel)",
    "Hours scheduled versus realised",
    "Work-plan compliance by category",
    "Schedule from the work plan",
    "Scheduled tasks",
    "Demand versus capacity",
    "SLA and phone service level",
    "Evolution week over week",
    "Support follow-up (communicate completion)",
];

#[test]
fn the_portuguese_page_speaks_portuguese_with_brazilian_numbers_and_dates() {
    let mut r = fixture();
    // 74,070 minutes are 1,234.5 hours: thousands show their separator.
    r.hours[2].realised_minutes = 74_070;
    let page = html(&r, Lang::PtBr);
    assert!(page.contains("<html lang=\"pt-BR\">"));
    assert!(page.contains("<title>Relatório semanal, semana 2025-W02</title>"));
    assert!(page.contains("<h1>Relatório semanal, semana 2025-W02</h1>"));
    // The week as days, its exclusive end shown as the Sunday.
    assert!(
        page.contains(
            "De 06/01/2025 a 12/01/2025 (America/Sao_Paulo) · agenda da semana 2025-W03 \
             · gerado em seg 13/01/2025 07:05"
        ),
        "{page}"
    );
    assert!(page.contains("<h2 id=\"summary-h\">Resumo</h2>"));
    assert!(page.contains("<dt>Horas realizadas</dt><dd>1.234,50</dd>"));
    assert!(page.contains("<h2 id=\"item-1-h\">1. Tarefas por categoria (tempo realizado)</h2>"));
    assert!(page.contains("<h2 id=\"item-8-h\">8. ANS e nível de serviço do telefone</h2>"));
    assert!(page.contains("<th scope=\"col\">Consultor</th>"));
    assert!(page.contains("<th scope=\"row\">TME (s)</th>"));
    assert!(page.contains("<td class=\"text\">Equipe</td>"));
    assert!(page.contains("<h2 id=\"definitions-h\">Definições</h2>"));
    // The model's codes by their names.
    assert!(page.contains("<td class=\"text\">Reunião</td>"));
    assert!(page.contains("<td class=\"text\">Agendado</td>"));
    assert!(page.contains("<td class=\"text\">Concluído</td>"));
    assert!(page.contains("<td class=\"text\">Regra da equipe</td>"));
    // Brazilian forms: decimal comma, thousands dot, p.p., day first.
    assert!(page.contains("<td class=\"num\">2,50</td>"));
    assert!(page.contains("<td class=\"num\">1.234,50</td>"));
    assert!(page.contains("<td class=\"num\">93,8%</td>"));
    assert!(page.contains("<td class=\"num\">+3,8 p.p.</td>"));
    assert!(page.contains("<td class=\"num\">-5,0 p.p.</td>"));
    assert!(page.contains("<td>seg 13/01/2025 09:30</td>"));
    assert!(page.contains("<td>ter 14/01/2025 14:00</td>"));
    assert!(!page.contains("2.50<") && !page.contains("93.8%"));
    // The charts: titles, labels, text alternatives and tooltips.
    assert!(page.contains("Horas agendadas versus realizadas, por consultor"));
    assert!(page.contains("Meta de nível de serviço (80,0%)"));
    assert!(page.contains("Horas por Consultor, 2 ponto(s): Agendado (h), Realizado (h)."));
    assert!(page.contains("Carla Souza: Realizado (h) 37,5"), "{page}");
    assert!(page.contains("aria-label=\"tabela\"") && page.contains("aria-label=\"gráfico\""));
    assert!(page.contains("<nav class=\"toc\" aria-label=\"Itens do relatório\">"));

    // No English heading, label or word leaks.
    let text = visible_text(&page);
    for title in ENGLISH_ITEM_TITLES {
        assert!(!page.contains(title), "{title}");
    }
    let english = items::items(&r, Lang::En);
    let portuguese = items::items(&r, Lang::PtBr);
    for (en, pt) in english.iter().zip(&portuguese) {
        assert!(!page.contains(&en.title), "{}", en.title);
        for (te, tp) in en.tables.iter().zip(&pt.tables) {
            for (ce, cp) in te.columns.iter().zip(&tp.columns) {
                if ce != cp {
                    assert!(!text.contains(&format!(" {ce} ")), "column {ce}");
                }
            }
            if let Some(sub) = te.subtitle {
                assert!(!page.contains(sub), "{sub}");
            }
        }
    }
    for word in [
        "Summary",
        "Definitions",
        "No data",
        "Team",
        "Consultant",
        "Realised",
        "Scheduled",
        "Service level",
        "Abandonment",
        "generated",
        "schedule week",
        "point(s)",
        "Mon ",
        "Tue ",
        " pp",
    ] {
        assert!(!text.contains(word), "{word:?} in the Portuguese page");
    }
}

#[test]
fn portuguese_is_the_default_and_the_scroll_regions_stay_accessible() {
    assert_eq!(Lang::default(), Lang::PtBr);
    let page = html(&fixture(), Lang::default());
    assert_scrollers_are_named_focusable_regions(&page);
    assert!(page.contains(
        "<div class=\"table-wrap\" id=\"item-7-table-3\" tabindex=\"0\" role=\"region\" \
         aria-labelledby=\"item-7-table-3-h item-7-table-3\" aria-label=\"tabela\">"
    ));
    assert!(page.contains("<h3 id=\"item-7-table-3-h\">Linha telefônica por hora do dia"));
    let empty = html(&empty_report(), Lang::PtBr);
    assert_scrollers_are_named_focusable_regions(&empty);
    assert_eq!(empty.matches("Sem dados nesta semana.</p>").count(), 10);
    assert!(!empty.contains("NaN"));
}

/// Excel refuses a sheet name over 31 characters, with any of `[]:*?/\`,
/// starting or ending with an apostrophe, or used twice.
#[test]
fn sheet_names_are_valid_in_both_languages() {
    for lang in Lang::ALL {
        let mut names = vec![lang.t("report.sheet.summary")];
        names.extend(items::items(&fixture(), lang).iter().map(|i| i.sheet));
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), 11, "{lang}: {names:?}");
        for n in names {
            assert!(!n.is_empty() && n.chars().count() <= 31, "{lang}: {n}");
            assert!(!n.contains(['[', ']', ':', '*', '?', '/', '\\']), "{n}");
            assert!(!n.starts_with('\'') && !n.ends_with('\''), "{n}");
        }
    }
}

#[test]
fn the_portuguese_workbook_names_its_sheets_and_keeps_numbers_as_numbers() {
    let mut r = fixture();
    r.hours[2].realised_minutes = 74_070;
    let files = unzip(&xlsx(&r, Lang::PtBr).unwrap());
    let names: Vec<&str> = files["xl/workbook.xml"]
        .split("<sheet name=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "Resumo",
            "1 Tarefas",
            "2 Contatos",
            "3 Horas",
            "4 Plano de trabalho",
            "5 Agendamento",
            "6 Tarefas agendadas",
            "7 Demanda",
            "8 ANS",
            "9 Evolução",
            "10 Acompanhamento"
        ]
    );
    assert!(files["docProps/core.xml"].contains("Relatório semanal, semana 2025-W02"));
    let strings = shared_strings(&files["xl/sharedStrings.xml"]);
    let text_at = |sheet: &str, r: &str| -> String {
        let xml = &files[&format!("xl/worksheets/{sheet}.xml")];
        strings[cell_value(xml, r).unwrap().parse::<usize>().unwrap()].clone()
    };
    let number_at = |sheet: &str, r: &str| -> f64 {
        let xml = &files[&format!("xl/worksheets/{sheet}.xml")];
        cell_value(xml, r).unwrap().parse().unwrap()
    };
    assert_eq!(
        text_at("sheet1", "A1"),
        "Relatório semanal, semana 2025-W02"
    );
    assert_eq!(text_at("sheet1", "A2"), "Indicador");
    assert_eq!(text_at("sheet1", "B2"), "Valor");
    assert_eq!(text_at("sheet1", "A3"), "Semana");
    assert_eq!(
        text_at("sheet2", "A1"),
        "1. Tarefas por categoria (tempo realizado)"
    );
    assert_eq!(text_at("sheet2", "D2"), "Realizado (h)");
    assert!(strings.iter().any(|s| s == "Equipe"));
    assert!(!strings.iter().any(|s| s == "Team" || s == "Figure"));
    // Figures stay numbers a spreadsheet can add up; the number format,
    // not the value, decides how they read: Excel and LibreOffice apply
    // the reader's regional separators (1.234,50 in Brazil).
    assert_eq!(number_at("sheet2", "D3"), 2.5);
    assert_eq!(number_at("sheet4", "C5"), 1234.5);
    let styles = &files["xl/styles.xml"];
    assert!(styles.contains("formatCode=\"#,##0.00\""), "{styles}");
    assert!(styles.contains("formatCode=\"dd/mm/yyyy hh:mm\""));
    assert!(styles.contains("p.p."), "{styles}");
    // The same cells in English hold the same numbers.
    let en = unzip(&xlsx(&r, Lang::En).unwrap());
    for sheet in ["sheet2", "sheet4", "sheet10"] {
        let f = format!("xl/worksheets/{sheet}.xml");
        let values = |xml: &str| -> Vec<String> {
            xml.split("<c ")
                .skip(1)
                .filter(|c| !c.contains("t=\"s\""))
                .filter_map(|c| {
                    c.split("<v>")
                        .nth(1)?
                        .split("</v>")
                        .next()
                        .map(String::from)
                })
                .collect()
        };
        assert_eq!(values(&files[&f]), values(&en[&f]), "{sheet}");
    }
}

#[test]
fn the_csv_keeps_machine_forms_in_both_languages() {
    let r = fixture();
    let pt = csv(&r, Lang::PtBr).unwrap();
    let en = csv(&r, Lang::En).unwrap();
    // Words follow the language…
    assert!(pt.starts_with("# 1. Tarefas por categoria (tempo realizado)\n"));
    let blocks_pt = blocks(&pt);
    let blocks_en = blocks(&en);
    assert_eq!(
        blocks_pt[0].header,
        vec!["Consultor", "Categoria", "Tarefas", "Realizado (h)"]
    );
    assert_eq!(blocks_pt[0].cell("Equipe", "Realizado (h)"), "2.50");
    // …figures do not: '.' decimals, no grouping, ratios as decimals,
    // RFC 3339 instants and ISO weeks, byte for byte as in English.
    let tasks = &blocks_pt[5];
    assert_eq!(
        tasks.cell("Carla Souza", "Início"),
        "2025-01-13T09:30:00-03:00"
    );
    assert_eq!(
        blocks_pt[2].cell("Carla Souza", "Realizado / agendado"),
        "0.9375"
    );
    assert_eq!(
        blocks_pt[10].cell("2025-W02", "Variação do ANS (p.p.)"),
        "3.75"
    );
    assert_eq!(blocks_pt.len(), blocks_en.len());
    for (p, e) in blocks_pt.iter().zip(&blocks_en) {
        assert_eq!(p.item, e.item);
        assert_eq!(p.rows.len(), e.rows.len());
        for (rp, re) in p.rows.iter().zip(&e.rows) {
            for (cp, ce) in rp.iter().zip(re) {
                let machine = ce.parse::<f64>().is_ok()
                    || chrono::DateTime::parse_from_rfc3339(ce).is_ok()
                    || ce.contains("-W")
                    || ce.is_empty();
                if machine {
                    assert_eq!(cp, ce, "item {}", p.item);
                }
            }
        }
    }
}

/// Every code the model's item 2 and item 6 carry (the store's CHECK
/// constraints list them) has a name in both catalogues, so a row never
/// shows a raw code to the desk.
#[test]
fn every_code_of_the_model_has_a_name_in_both_languages() {
    let codes: [(&str, &[&str]); 4] = [
        ("report.kind", &["triggered", "scheduled"]),
        (
            "report.status",
            &[
                "scheduled",
                "open",
                "done",
                "missed",
                "abandoned",
                "cancelled",
            ],
        ),
        ("channel", &["phone", "chat", "email", "meeting", "other"]),
        ("report.source", &["manual", "schedule", "rule"]),
    ];
    for lang in Lang::ALL {
        for (prefix, values) in codes {
            for v in values {
                assert!(
                    lang.get(&format!("{prefix}.{v}")).is_some(),
                    "{lang}: {prefix}.{v}"
                );
            }
        }
        assert!(lang.get(items::PHONE_SUBTITLE).is_some());
    }
}
