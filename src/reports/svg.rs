//! Small hand-written SVG charts for the weekly report's HTML page: grouped
//! bars, bars with a line, and lines with a target.
//!
//! This module owns the drawing only: scales, ticks, legend, labels and the
//! escaping of every text it writes. What the series mean, and which figures
//! of the report feed them, belong to `reports::render`.
//!
//! # Conventions
//!
//! - Every chart is one `<svg class="chart" data-chart="KEY" id="chart-KEY">`
//!   element with a `viewBox` and `width="100%"`, so it scales with the page;
//!   it is meant to be inlined in HTML, where the parser supplies the SVG
//!   namespace, so no `xmlns` (nor any other URL) is written.
//! - It carries a `<title>` and a `<desc>` referenced by `aria-labelledby`,
//!   and each bar or point its own `<title>` (a tooltip with the value).
//! - Values are `Option<f64>`: `None`, NaN and infinities are "no value" (no
//!   bar, a gap in a line); negative values are drawn as zero, since every
//!   figure charted here (hours, agents, ratios) is non-negative. Without any
//!   value the chart says "Sem dados" ("No data") instead of drawing empty
//!   axes.
//! - Its words (the text alternative, "no data") come from the catalogues
//!   and its numbers (ticks, tooltips) are written in the chart's language
//!   (`2,5` / `2.5`); the caller brings titles and labels already in it.
//! - System fonts only; colours from the Okabe–Ito palette, which stays
//!   distinguishable for the common kinds of colour blindness.

use std::fmt::Write as _;

use crate::i18n::Lang;

/// The drawing's coordinate system; the browser scales it to the width.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 320.0;
/// The plot area inside the margins (legend on top, labels left and below).
const PLOT_LEFT: f64 = 56.0;
const PLOT_RIGHT: f64 = 620.0;
const PLOT_TOP: f64 = 44.0;
const PLOT_BOTTOM: f64 = 262.0;
/// A rough width of one character at the labels' size, to keep labels
/// apart without measuring text (which SVG cannot do ahead of rendering).
const CHAR_WIDTH: f64 = 7.2;

const FONT_STACK: &str =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
/// Okabe–Ito: blue, orange, bluish green, vermillion, reddish purple.
const PALETTE: [&str; 5] = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7"];
const AXIS_COLOUR: &str = "#555";
const GRID_COLOUR: &str = "#ddd";
const TARGET_COLOUR: &str = "#444";

/// What a chart is called and how its axes are labelled.
#[derive(Debug, Clone, Copy)]
pub struct Chart<'a> {
    /// Short identifier: becomes `data-chart` and `id="chart-KEY"`; only
    /// ASCII letters, digits, `-` and `_` are kept.
    pub key: &'a str,
    /// Human title, read out by screen readers.
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// One label per position on the x axis.
    pub categories: &'a [String],
    /// The language of the chart's own words and numbers.
    pub lang: Lang,
}

/// One named series, aligned with the chart's categories (missing trailing
/// values count as `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<Option<f64>>) -> Series {
        Series {
            name: name.into(),
            values,
        }
    }

    /// The value at a position, `None` unless finite.
    fn at(&self, i: usize) -> Option<f64> {
        self.values
            .get(i)
            .copied()
            .flatten()
            .filter(|v| v.is_finite())
    }
}

/// How the y axis reads its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Plain numbers, from zero to a round maximum.
    Number,
    /// Ratios 0..1 shown as percentages, always from 0% to at least 100%.
    Percent,
}

/// A horizontal reference line, e.g. the service-level target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub label: String,
    pub value: f64,
}

/// Bars side by side per category, one colour per series (e.g. hours
/// scheduled versus realised per consultant).
pub fn grouped_bars(chart: &Chart, series: &[Series]) -> String {
    let n = chart.categories.len();
    let max = max_value(series.iter(), n);
    let Some(max) = max else {
        return empty_chart(chart, series.iter().map(|s| s.name.as_str()));
    };
    let axis = Axis::new(max, Scale::Number, chart.lang);
    let mut out = open_svg(chart, &describe(chart, series.iter()));
    legend(
        &mut out,
        &series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry::Box(s.name.as_str(), colour(i)))
            .collect::<Vec<_>>(),
    );
    y_axis(&mut out, &axis, chart.y_label);
    let band = band_width(n);
    let groups = series.len().max(1) as f64;
    // Leave a fifth of each band empty so groups stay apart.
    let bar = band * 0.8 / groups;
    for (i, category) in chart.categories.iter().enumerate() {
        let left = PLOT_LEFT + band * i as f64 + band * 0.1;
        for (j, s) in series.iter().enumerate() {
            if let Some(v) = s.at(i) {
                let x = left + bar * j as f64;
                let y = axis.y(v);
                let h = PLOT_BOTTOM - y;
                let _ = write!(
                    out,
                    r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>"#,
                    num(x),
                    num(y),
                    num(bar.max(0.5) - 0.5),
                    num(h),
                    colour(j),
                    escape(category),
                    escape(&s.name),
                    escape(&axis.label(v)),
                );
            }
        }
    }
    x_axis(&mut out, chart);
    out.push_str("</svg>");
    out
}

/// Bars for one series and a line for another on the same axis (e.g. agents
/// needed versus consultants on duty per hour of the day).
pub fn bars_and_line(chart: &Chart, bars: &Series, line: &Series) -> String {
    let n = chart.categories.len();
    let max = max_value([bars, line].into_iter(), n);
    let Some(max) = max else {
        return empty_chart(chart, [bars.name.as_str(), line.name.as_str()].into_iter());
    };
    let axis = Axis::new(max, Scale::Number, chart.lang);
    let mut out = open_svg(chart, &describe(chart, [bars, line].into_iter()));
    legend(
        &mut out,
        &[
            LegendEntry::Box(bars.name.as_str(), colour(0)),
            LegendEntry::Line(line.name.as_str(), colour(1), false),
        ],
    );
    y_axis(&mut out, &axis, chart.y_label);
    let band = band_width(n);
    for (i, category) in chart.categories.iter().enumerate() {
        if let Some(v) = bars.at(i) {
            let x = PLOT_LEFT + band * i as f64 + band * 0.15;
            let y = axis.y(v);
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>"#,
                num(x),
                num(y),
                num(band * 0.7),
                num(PLOT_BOTTOM - y),
                colour(0),
                escape(category),
                escape(&bars.name),
                escape(&axis.label(v)),
            );
        }
    }
    polyline(&mut out, chart, line, &axis, colour(1));
    x_axis(&mut out, chart);
    out.push_str("</svg>");
    out
}

/// Lines over the categories (e.g. weeks), with an optional target line.
pub fn line_chart(
    chart: &Chart,
    series: &[Series],
    scale: Scale,
    target: Option<&Target>,
) -> String {
    let n = chart.categories.len();
    let target = target.filter(|t| t.value.is_finite());
    let Some(max) = max_value(series.iter(), n) else {
        return empty_chart(chart, series.iter().map(|s| s.name.as_str()));
    };
    // The target must fit on the axis too, or its line would leave the plot.
    let max = target.map_or(max, |t| max.max(t.value));
    let axis = Axis::new(max, scale, chart.lang);
    let mut out = open_svg(chart, &describe(chart, series.iter()));
    let mut entries: Vec<LegendEntry> = series
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry::Line(s.name.as_str(), colour(i), false))
        .collect();
    if let Some(t) = target {
        entries.push(LegendEntry::Line(t.label.as_str(), TARGET_COLOUR, true));
    }
    legend(&mut out, &entries);
    y_axis(&mut out, &axis, chart.y_label);
    if let Some(t) = target {
        let y = axis.y(t.value);
        let _ = write!(
            out,
            r#"<line class="target" x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{TARGET_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"><title>{}: {}</title></line>"#,
            num(PLOT_LEFT),
            num(PLOT_RIGHT),
            escape(&t.label),
            escape(&axis.label(t.value)),
            y = num(y),
        );
    }
    for (i, s) in series.iter().enumerate() {
        polyline(&mut out, chart, s, &axis, colour(i));
    }
    x_axis(&mut out, chart);
    out.push_str("</svg>");
    out
}

/// Escapes text for XML content and attribute values alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newlines are not
            // allowed in XML at all, escaped or not; drop them.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The y axis: a round maximum and the step between gridlines.
struct Axis {
    max: f64,
    step: f64,
    scale: Scale,
    lang: Lang,
}

impl Axis {
    fn new(max: f64, scale: Scale, lang: Lang) -> Axis {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            0.0
        };
        match scale {
            // Ratios are read against the whole 0–100% range, so that two
            // weeks at 95% and 96% do not look like a collapse and a boom.
            Scale::Percent if max <= 1.0 => Axis {
                max: 1.0,
                step: 0.2,
                scale,
                lang,
            },
            _ => {
                let (max, step) = nice_range(max);
                Axis {
                    max,
                    step,
                    scale,
                    lang,
                }
            }
        }
    }

    /// The vertical coordinate of a value, clamped to the plot.
    fn y(&self, v: f64) -> f64 {
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        let share = if self.max > 0.0 {
            (v / self.max).min(1.0)
        } else {
            0.0
        };
        PLOT_BOTTOM - share * (PLOT_BOTTOM - PLOT_TOP)
    }

    fn label(&self, v: f64) -> String {
        match self.scale {
            Scale::Percent => format!("{}%", trim_number(self.lang, v * 100.0, 1)),
            Scale::Number => trim_number(self.lang, v, 2),
        }
    }

    fn tick_label(&self, v: f64) -> String {
        let decimals = if self.step >= 1.0 || self.scale == Scale::Percent {
            0
        } else if self.step >= 0.1 {
            1
        } else {
            2
        };
        match self.scale {
            Scale::Percent => format!("{}%", spoken(self.lang, v * 100.0, decimals)),
            Scale::Number => spoken(self.lang, v, decimals),
        }
    }
}

/// A round maximum at or above `max`, and a step of 1, 2, 2.5 or 5 times a
/// power of ten that divides it into about five intervals.
fn nice_range(max: f64) -> (f64, f64) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalised = raw / magnitude;
    let step = magnitude
        * if normalised <= 1.0 {
            1.0
        } else if normalised <= 2.0 {
            2.0
        } else if normalised <= 2.5 {
            2.5
        } else if normalised <= 5.0 {
            5.0
        } else {
            10.0
        };
    if !(step.is_finite() && step > 0.0) {
        return (1.0, 0.2);
    }
    ((max / step).ceil() * step, step)
}

/// The largest finite value of the series over the categories, if any.
fn max_value<'a>(series: impl Iterator<Item = &'a Series>, n: usize) -> Option<f64> {
    series
        .flat_map(|s| (0..n).filter_map(move |i| s.at(i)))
        .map(|v| v.max(0.0))
        .reduce(f64::max)
}

fn band_width(n: usize) -> f64 {
    (PLOT_RIGHT - PLOT_LEFT) / n.max(1) as f64
}

fn colour(i: usize) -> &'static str {
    PALETTE.get(i % PALETTE.len()).copied().unwrap_or("#000")
}

/// Keeps only characters that are safe in an `id` and a CSS selector.
fn sanitise_key(key: &str) -> String {
    let key: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    if key.is_empty() {
        "chart".into()
    } else {
        key
    }
}

/// A one-sentence text alternative: what is plotted over how many points.
fn describe<'a>(chart: &Chart, series: impl Iterator<Item = &'a Series>) -> String {
    let names: Vec<&str> = series.map(|s| s.name.as_str()).collect();
    chart.lang.tf(
        "report.chart.describe",
        &[
            ("y", chart.y_label),
            ("x", chart.x_label),
            ("n", &chart.categories.len().to_string()),
            ("series", &names.join(", ")),
        ],
    )
}

fn open_svg(chart: &Chart, description: &str) -> String {
    let key = sanitise_key(chart.key);
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        r#"<svg class="chart" data-chart="{key}" id="chart-{key}" viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-labelledby="chart-{key}-title chart-{key}-desc" font-family="{font}" font-size="13"><title id="chart-{key}-title">{title}</title><desc id="chart-{key}-desc">{desc}</desc>"#,
        w = num(WIDTH),
        h = num(HEIGHT),
        font = escape(FONT_STACK),
        title = escape(chart.title),
        desc = escape(description),
    );
    out
}

/// The chart for no data at all: same frame and title, and a plain message,
/// so the page keeps its layout and a screen reader still hears the title.
fn empty_chart<'a>(chart: &Chart, names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    let lang = chart.lang;
    let mut out = open_svg(
        chart,
        &lang.tf("report.chart.no_data_for", &[("series", &names.join(", "))]),
    );
    let _ = write!(
        out,
        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="{GRID_COLOUR}"/><text x="{}" y="{}" text-anchor="middle" fill="{AXIS_COLOUR}">{}</text></svg>"#,
        num(PLOT_LEFT),
        num(PLOT_TOP),
        num(PLOT_RIGHT - PLOT_LEFT),
        num(PLOT_BOTTOM - PLOT_TOP),
        num((PLOT_LEFT + PLOT_RIGHT) / 2.0),
        num((PLOT_TOP + PLOT_BOTTOM) / 2.0),
        escape(lang.t("report.chart.no_data")),
    );
    out
}

enum LegendEntry<'a> {
    /// A filled square (bars).
    Box(&'a str, &'a str),
    /// A short line, dashed or not (lines, targets).
    Line(&'a str, &'a str, bool),
}

/// The legend on one row above the plot, entries placed by estimated text
/// width; labels too long for the row are shortened.
fn legend(out: &mut String, entries: &[LegendEntry]) {
    let mut x = PLOT_LEFT;
    let y = 20.0;
    out.push_str(r#"<g class="legend">"#);
    for entry in entries {
        let (name, width) = match entry {
            LegendEntry::Box(name, fill) => {
                let _ = write!(
                    out,
                    r#"<rect x="{}" y="{}" width="12" height="12" fill="{fill}"/>"#,
                    num(x),
                    num(y - 10.0),
                );
                (*name, 16.0)
            }
            LegendEntry::Line(name, stroke, dashed) => {
                let dash = if *dashed {
                    r#" stroke-dasharray="6 4""#
                } else {
                    ""
                };
                let _ = write!(
                    out,
                    r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{stroke}" stroke-width="2.5"{dash}/>"#,
                    num(x),
                    num(y - 4.0),
                    num(x + 18.0),
                    num(y - 4.0),
                );
                (*name, 22.0)
            }
        };
        let room = ((WIDTH - x - width - 8.0) / CHAR_WIDTH).floor().max(0.0) as usize;
        let text = shorten(name, room.min(40));
        let _ = write!(
            out,
            r#"<text x="{}" y="{}">{}</text>"#,
            num(x + width),
            num(y),
            escape(&text),
        );
        x += width + text.chars().count() as f64 * CHAR_WIDTH + 18.0;
    }
    out.push_str("</g>");
}

fn y_axis(out: &mut String, axis: &Axis, label: &str) {
    out.push_str(r#"<g class="y-axis">"#);
    let steps = if axis.step > 0.0 {
        (axis.max / axis.step).round().clamp(1.0, 20.0) as usize
    } else {
        1
    };
    for k in 0..=steps {
        let v = axis.step * k as f64;
        let y = axis.y(v);
        let _ = write!(
            out,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{GRID_COLOUR}"/><text x="{}" y="{}" text-anchor="end" fill="{AXIS_COLOUR}">{}</text>"#,
            num(PLOT_LEFT),
            num(PLOT_RIGHT),
            num(PLOT_LEFT - 6.0),
            num(y + 4.0),
            escape(&axis.tick_label(v)),
            y = num(y),
        );
    }
    let _ = write!(
        out,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle" fill="{AXIS_COLOUR}">{}</text></g>"#,
        num((PLOT_TOP + PLOT_BOTTOM) / 2.0),
        num((PLOT_TOP + PLOT_BOTTOM) / 2.0),
        escape(label),
    );
}

/// The x axis line, category labels (thinned and shortened to fit their
/// band) and the axis title.
fn x_axis(out: &mut String, chart: &Chart) {
    let n = chart.categories.len();
    let band = band_width(n);
    // Show every k-th label when they would overlap even at three letters.
    let every = ((3.0 * CHAR_WIDTH + 4.0) / band).ceil().max(1.0) as usize;
    let room = (((band * every as f64) - 4.0) / CHAR_WIDTH)
        .floor()
        .max(1.0) as usize;
    let _ = write!(
        out,
        r#"<g class="x-axis"><line x1="{}" y1="{b}" x2="{}" y2="{b}" stroke="{AXIS_COLOUR}"/>"#,
        num(PLOT_LEFT),
        num(PLOT_RIGHT),
        b = num(PLOT_BOTTOM),
    );
    for (i, category) in chart.categories.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = PLOT_LEFT + band * (i as f64 + 0.5);
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" fill="{AXIS_COLOUR}">{}</text>"#,
            num(x),
            num(PLOT_BOTTOM + 16.0),
            escape(&shorten(category, room)),
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" fill="{AXIS_COLOUR}">{}</text></g>"#,
        num((PLOT_LEFT + PLOT_RIGHT) / 2.0),
        num(HEIGHT - 16.0),
        escape(chart.x_label),
    );
}

/// A line through a series' points, broken where values are missing, with a
/// dot (and tooltip) on each point so single points remain visible.
fn polyline(out: &mut String, chart: &Chart, s: &Series, axis: &Axis, stroke: &str) {
    let band = band_width(chart.categories.len());
    let mut path = String::new();
    let mut dots = String::new();
    let mut pen_down = false;
    for (i, category) in chart.categories.iter().enumerate() {
        match s.at(i) {
            Some(v) => {
                let x = PLOT_LEFT + band * (i as f64 + 0.5);
                let y = axis.y(v);
                let _ = write!(
                    path,
                    "{}{} {} ",
                    if pen_down { "L" } else { "M" },
                    num(x),
                    num(y)
                );
                pen_down = true;
                let _ = write!(
                    dots,
                    r#"<circle cx="{}" cy="{}" r="3.5" fill="{stroke}"><title>{}: {} {}</title></circle>"#,
                    num(x),
                    num(y),
                    escape(category),
                    escape(&s.name),
                    escape(&axis.label(v)),
                );
            }
            None => pen_down = false,
        }
    }
    let path = path.trim_end();
    if !path.is_empty() {
        let _ = write!(
            out,
            r#"<path d="{path}" fill="none" stroke="{stroke}" stroke-width="2.5" stroke-linejoin="round"/>"#
        );
    }
    out.push_str(&dots);
}

/// Shortens a label to `max` characters, marking the cut with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(1);
    let mut out: String = text.chars().take(keep).collect();
    out.push('…');
    out
}

/// A coordinate with one decimal; non-finite values (which the scales never
/// produce, but a stray one must not leave "NaN" in the drawing) become 0.
fn num(v: f64) -> String {
    fixed(v, 1)
}

/// A fixed-point number without a "-0" and never "NaN" or "inf".
fn fixed(v: f64, decimals: usize) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s.chars().skip(1).all(|c| c == '0' || c == '.') {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// A number people read on the chart, in `lang`'s separators ("1.234,5"
/// or "1,234.5"), never "NaN"; coordinates use [`num`] instead, since SVG
/// has its own syntax.
fn spoken(lang: Lang, v: f64, decimals: usize) -> String {
    lang.number(if v.is_finite() { v } else { 0.0 }, decimals)
}

/// Like [`spoken`], without trailing zeros (tooltips: "2,5", not "2,50").
fn trim_number(lang: Lang, v: f64, decimals: usize) -> String {
    let s = spoken(lang, v, decimals);
    if decimals == 0 {
        return s;
    }
    // With decimals, the last separator is the decimal one and everything
    // after it may go if it is zeros.
    let trimmed = s.trim_end_matches('0');
    trimmed
        .strip_suffix([',', '.'])
        .unwrap_or(trimmed)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nice_ranges_are_round_and_cover_the_maximum() {
        assert_eq!(nice_range(7.3), (8.0, 2.0));
        assert_eq!(nice_range(42.0), (50.0, 10.0));
        assert_eq!(nice_range(0.0), (1.0, 0.2));
        assert_eq!(nice_range(f64::NAN), (1.0, 0.2));
        let (max, step) = nice_range(12.0);
        assert!(max >= 12.0 && step > 0.0);
    }

    #[test]
    fn charts_never_write_nan_and_escape_their_text() {
        let categories = cats(&["<a>", "b&c"]);
        let chart = Chart {
            key: "t\"x",
            title: "T <1>",
            x_label: "X & Y",
            y_label: "'h'",
            categories: &categories,
            lang: Lang::En,
        };
        let s = Series::new("S\"1", vec![Some(f64::NAN), Some(f64::INFINITY)]);
        let t = Series::new("S2", vec![Some(-1.0), Some(2.0)]);
        for svg in [
            grouped_bars(&chart, &[s.clone(), t.clone()]),
            bars_and_line(&chart, &s, &t),
            line_chart(
                &chart,
                &[s.clone(), t.clone()],
                Scale::Percent,
                Some(&Target {
                    label: "<target>".into(),
                    value: f64::NAN,
                }),
            ),
            grouped_bars(&chart, std::slice::from_ref(&s)),
            line_chart(&chart, &[], Scale::Number, None),
        ] {
            assert!(svg.starts_with("<svg "), "{svg}");
            assert!(svg.ends_with("</svg>"));
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            assert!(svg.contains(r#"data-chart="tx""#));
            assert!(!svg.contains("<a>") && !svg.contains("b&c") && !svg.contains("<1>"));
            assert!(svg.contains("<title id=\"chart-tx-title\">T &lt;1&gt;</title>"));
        }
    }

    #[test]
    fn all_missing_values_say_no_data() {
        let categories = cats(&["a"]);
        let chart = Chart {
            key: "k",
            title: "t",
            x_label: "x",
            y_label: "y",
            categories: &categories,
            lang: Lang::En,
        };
        let svg = grouped_bars(&chart, &[Series::new("s", vec![None])]);
        assert!(svg.contains("No data"));
        let none: Vec<String> = Vec::new();
        let svg = line_chart(
            &Chart {
                categories: &none,
                ..chart
            },
            &[Series::new("s", vec![Some(1.0)])],
            Scale::Percent,
            None,
        );
        assert!(svg.contains("No data"));
    }

    #[test]
    fn lines_break_at_gaps_and_targets_fit_the_axis() {
        let categories = cats(&["w1", "w2", "w3"]);
        let chart = Chart {
            key: "trend",
            title: "t",
            x_label: "Week",
            y_label: "Share",
            categories: &categories,
            lang: Lang::En,
        };
        let svg = line_chart(
            &chart,
            &[Series::new("SLA", vec![Some(0.5), None, Some(0.9)])],
            Scale::Percent,
            Some(&Target {
                label: "Target".into(),
                value: 0.8,
            }),
        );
        // Two separate sub-paths, no line drawn across the missing week.
        let d = svg.split("<path d=\"").nth(1).unwrap_or_default();
        let d = d.split('"').next().unwrap_or_default();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert!(!d.contains('L'));
        assert!(svg.contains(r#"class="target""#));
        assert!(svg.contains(">100%<"));
    }

    #[test]
    fn portuguese_charts_write_decimal_commas_and_portuguese_words() {
        let categories = cats(&["Ana", "Bia"]);
        let chart = Chart {
            key: "hours",
            title: "Horas",
            x_label: "Consultor",
            y_label: "Horas",
            categories: &categories,
            lang: Lang::PtBr,
        };
        let svg = grouped_bars(
            &chart,
            &[Series::new("Realizado (h)", vec![Some(2.5), Some(1234.5)])],
        );
        assert!(
            svg.contains("<title>Ana: Realizado (h) 2,5</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("<title>Bia: Realizado (h) 1.234,5</title>"),
            "{svg}"
        );
        assert!(svg.contains(
            "<desc id=\"chart-hours-desc\">Horas por Consultor, 2 ponto(s): Realizado (h).</desc>"
        ));
        // Coordinates keep SVG's own syntax.
        assert!(!svg.contains("x=\"56,0\"") && svg.contains("x=\""));
        let percent = line_chart(
            &chart,
            &[Series::new("ANS", vec![Some(0.9375), None])],
            Scale::Percent,
            None,
        );
        assert!(percent.contains("Ana: ANS 93,8%"), "{percent}");
        let empty = grouped_bars(&chart, &[Series::new("Realizado (h)", vec![None])]);
        assert!(empty.contains(">Sem dados<") && empty.contains("Sem dados de Realizado (h)."));
        // English ticks keep a point.
        let en = grouped_bars(
            &Chart {
                lang: Lang::En,
                ..chart
            },
            &[Series::new("Realised (h)", vec![Some(0.25), Some(0.5)])],
        );
        assert!(en.contains(">0.5<") || en.contains(">0.50<"), "{en}");
    }
}
