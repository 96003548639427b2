//! The HTML writer: one standalone page (inline CSS, inline SVG charts, no
//! script) with a summary, a table of contents, the ten items and the
//! definitions of the figures, readable on a phone and by assistive
//! technology, in the report's language (its `lang` attribute says which,
//! so a screen reader pronounces it right).

use std::fmt::Write as _;

use super::super::model::{HoursRow, WeeklyReport};
use super::super::svg;
use super::items::{items, phone_by_hour, summary_figures, who_name, PHONE_SUBTITLE};
use super::table::{display_date, display_datetime, hours, Cell, Layout, Table};
use crate::i18n::Lang;

/// The report as one standalone HTML page in `lang`: no scripts, no
/// external resources, inline CSS and SVG charts, readable on a phone.
pub fn html(r: &WeeklyReport, lang: Lang) -> String {
    let items = items(r, lang);
    let mut out = String::with_capacity(64 * 1024);
    let title = esc(&lang.tf("report.title", &[("week", &r.week)]));
    let meta = lang.tf(
        "report.meta",
        &[
            ("from", &display_date(&r.week_start, lang, false)),
            ("to", &display_date(&r.week_end, lang, true)),
            ("zone", &r.timezone),
            ("schedule_week", &r.schedule_week),
            ("generated", &display_datetime(&r.generated_at, lang)),
        ],
    );
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<main class=\"container\">\n<header>\n<h1>{title}</h1>\n\
         <p class=\"meta\">{}</p>\n</header>\n",
        lang.tag(),
        esc(&meta),
    );
    html_summary(&mut out, r, lang);
    let _ = write!(
        out,
        "<nav class=\"toc\" aria-label=\"{}\"><ol>",
        esc(lang.t("report.toc"))
    );
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
        let n = item.number;
        let item_heading = format!("item-{n}-h");
        let chart = format!("item-{n}-chart");
        // Charts go above the tables they summarise; item 7's goes with
        // its hourly table, below the totals. Without rows there is no
        // chart: the table's "No data" says it once.
        match n {
            3 if !r.hours.is_empty() => {
                chart_block(&mut out, &hours_chart(r, lang), &chart, &item_heading, lang);
            }
            9 if !r.evolution.is_empty() => {
                chart_block(&mut out, &trend_chart(r, lang), &chart, &item_heading, lang);
            }
            _ => {}
        }
        for (k, table) in (1..).zip(&item.tables) {
            let id = format!("item-{n}-table-{k}");
            let heading = match table.subtitle {
                Some(subtitle) => {
                    let heading = format!("{id}-h");
                    let _ = writeln!(out, "<h3 id=\"{heading}\">{}</h3>", esc(subtitle));
                    heading
                }
                None => item_heading.clone(),
            };
            if n == 7
                && table.subtitle == Some(lang.t(PHONE_SUBTITLE))
                && !r.demand.phone.is_empty()
            {
                chart_block(&mut out, &demand_chart(r, lang), &chart, &heading, lang);
            }
            html_table(&mut out, table, &id, &heading, lang);
        }
        out.push_str("</section>\n");
    }
    definitions(&mut out, lang);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn esc(text: &str) -> String {
    svg::escape(text)
}

fn html_summary(out: &mut String, r: &WeeklyReport, lang: Lang) {
    let figures = summary_figures(r, lang);
    let _ = write!(
        out,
        "<section id=\"summary\" aria-labelledby=\"summary-h\">\n<h2 id=\"summary-h\">{}</h2>\n<dl class=\"cards\">",
        esc(lang.t("report.summary"))
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

/// Opens the wrapper that lets a wide table or chart scroll sideways on a
/// narrow screen. Whoever cannot scroll with a pointer must be able to focus
/// it and scroll with the arrow keys, and a focused region must say what it
/// holds: it is named after its heading plus its `kind` ("tabela",
/// "gráfico"), the element naming itself through its own `aria-label`. The
/// heading alone would not do: the item's section already bears the
/// heading's name, and two regions of the same name cannot be told apart.
fn open_scroller(out: &mut String, class: &str, id: &str, heading: &str, kind: &str) {
    let _ = write!(
        out,
        "<div class=\"{class}\" id=\"{id}\" tabindex=\"0\" role=\"region\" \
         aria-labelledby=\"{heading} {id}\" aria-label=\"{}\">",
        esc(kind)
    );
}

/// A table under the heading whose id is `heading`; `id` names its wrapper.
fn html_table(out: &mut String, table: &Table, id: &str, heading: &str, lang: Lang) {
    if table.rows.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"empty\">{}</p>",
            esc(lang.t("report.no_data"))
        );
        return;
    }
    open_scroller(
        out,
        "table-wrap",
        id,
        heading,
        lang.t("report.region.table"),
    );
    out.push_str("<table>");
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
                    td(out, cell, lang);
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
                td(out, cell, lang);
                out.push_str("</tr>");
            }
            out.push_str("</tbody>");
        }
    }
    out.push_str("</table></div>\n");
}

/// A chart in a wrapper that scrolls sideways on a narrow screen, rather than
/// shrinking the chart's text below reading size; named like a table.
fn chart_block(out: &mut String, svg: &str, id: &str, heading: &str, lang: Lang) {
    open_scroller(
        out,
        "chart-wrap",
        id,
        heading,
        lang.t("report.region.chart"),
    );
    out.push_str(svg);
    out.push_str("</div>\n");
}

fn td(out: &mut String, cell: &Cell, lang: Lang) {
    let class = match cell {
        Cell::Empty => " class=\"num none\"",
        Cell::Text(_) => " class=\"text\"",
        Cell::DateTime(_) => "",
        _ => " class=\"num\"",
    };
    let _ = write!(out, "<td{class}>{}</td>", esc(&cell.display(lang)));
}

/// Item 3: hours scheduled and realised per consultant. The team row is left
/// out when there are consultants, as its bars would dwarf theirs.
fn hours_chart(r: &WeeklyReport, lang: Lang) -> String {
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
    let categories: Vec<String> = rows
        .iter()
        .map(|h| who_name(r, lang, h.consultant_id))
        .collect();
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
            title: lang.t("report.chart.hours.title"),
            x_label: lang.t("report.chart.hours.x"),
            y_label: lang.t("report.chart.hours.y"),
            categories: &categories,
            lang,
        },
        &[
            svg::Series::new(lang.t("report.col.scheduled_h"), scheduled),
            svg::Series::new(lang.t("report.col.realised_h"), realised),
        ],
    )
}

/// Item 7: agents Erlang C needs versus consultants on duty, per hour.
fn demand_chart(r: &WeeklyReport, lang: Lang) -> String {
    let phone = phone_by_hour(&r.demand);
    let categories: Vec<String> = phone.iter().map(|h| format!("{:02}", h.hour)).collect();
    svg::bars_and_line(
        &svg::Chart {
            key: "demand",
            title: lang.t("report.chart.demand.title"),
            x_label: lang.t("report.chart.demand.x"),
            y_label: lang.t("report.chart.demand.y"),
            categories: &categories,
            lang,
        },
        &svg::Series::new(
            lang.t("report.col.agents_needed"),
            phone
                .iter()
                .map(|h| Some(f64::from(h.agents_needed)))
                .collect(),
        ),
        &svg::Series::new(
            lang.t("report.col.on_duty"),
            phone.iter().map(|h| Some(h.on_duty)).collect(),
        ),
    )
}

/// Item 9: SLA and service level week over week, against the service-level
/// target (the model has no separate target for the SLA).
fn trend_chart(r: &WeeklyReport, lang: Lang) -> String {
    let categories: Vec<String> = r.evolution.iter().map(|w| w.week.clone()).collect();
    let target = [r.sla.target, r.demand.service_level_target]
        .into_iter()
        .find(|t| t.is_finite() && *t > 0.0)
        .map(|value| svg::Target {
            label: lang.tf(
                "report.chart.target",
                &[("target", &Cell::Ratio(value).display(lang))],
            ),
            value,
        });
    svg::line_chart(
        &svg::Chart {
            key: "trend",
            title: lang.t("report.chart.trend.title"),
            x_label: lang.t("report.chart.trend.x"),
            y_label: lang.t("report.chart.trend.y"),
            categories: &categories,
            lang,
        },
        &[
            svg::Series::new(
                lang.t("report.col.sla"),
                r.evolution.iter().map(|w| w.sla).collect(),
            ),
            svg::Series::new(
                lang.t("report.col.service_level"),
                r.evolution.iter().map(|w| w.service_level).collect(),
            ),
        ],
        svg::Scale::Percent,
        target.as_ref(),
    )
}

/// The definitions of the figures, as docs/reports.md and `reports::weekly`
/// state them, in the reader's words.
fn definitions(out: &mut String, lang: Lang) {
    let terms = [
        (
            lang.t("report.def.service_level.term"),
            lang.t("report.def.service_level"),
        ),
        (
            lang.t("report.def.abandonment.term"),
            lang.t("report.def.abandonment"),
        ),
        (lang.t("report.def.asa.term"), lang.t("report.def.asa")),
        (lang.t("report.def.aht.term"), lang.t("report.def.aht")),
        (lang.t("report.def.sla.term"), lang.t("report.def.sla")),
        (
            lang.t("report.def.realised.term"),
            lang.t("report.def.realised"),
        ),
        (
            lang.t("report.def.change.term"),
            lang.t("report.def.change"),
        ),
        (lang.t("report.def.empty.term"), lang.t("report.def.empty")),
        (
            lang.t("report.def.counted.term"),
            lang.t("report.def.counted"),
        ),
    ];
    let _ = write!(
        out,
        "<section id=\"definitions\" class=\"definitions\" aria-labelledby=\"definitions-h\">\n\
         <h2 id=\"definitions-h\">{}</h2>\n<dl>",
        esc(lang.t("report.def.title"))
    );
    for (term, text) in terms {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(term), esc(text));
    }
    out.push_str("</dl>\n</section>\n");
}

/// Every text colour keeps a contrast of at least 4.5:1 (WCAG AA) with the
/// background it sits on: the faintest, #666 for an empty cell on a total
/// row's #fafbfc, is 5.5:1.
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
td.none{color:#666}\
tr.total td{font-weight:600;background:#fafbfc}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.75rem;margin:0}\
.cards div{border:1px solid #e1e4e8;border-radius:6px;padding:.6rem .75rem}\
.cards dt{color:#555;font-size:.85rem}\
.cards dd{margin:0;font-size:1.4rem;font-weight:600;font-variant-numeric:tabular-nums}\
.chart-wrap{overflow-x:auto;margin:.5rem 0 1rem}\
.table-wrap:focus-visible,.chart-wrap:focus-visible{outline:2px solid #0b5cad;outline-offset:2px}\
svg.chart{display:block;width:100%;height:auto;max-width:46rem;min-width:28rem}\
.empty{color:#666;font-style:italic}\
@media (max-width:40rem){.container{padding:.5rem}section{padding:.75rem}}\
.definitions dt{font-weight:600}\
.definitions dd{margin:0 0 .6rem}\
@media print{body{background:#fff}section{break-inside:avoid;border:0}}";
