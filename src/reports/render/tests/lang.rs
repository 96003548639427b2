//! The report's languages: Portuguese by default for the desk, English on
//! request; words from the catalogues, figures in each reader's forms (the
//! page's and the workbook's for people, the CSV's for programs).

use super::a11y::assert_scrollers_are_named_focusable_regions;
use super::*;

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
    assert!(page.contains("<h2 id=\"item-8-h\">8. ANS e nível de serviço telefônico</h2>"));
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
