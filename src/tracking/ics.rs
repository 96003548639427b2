//! The iCalendar (RFC 5545) feed of scheduled work: writing a VCALENDAR of
//! events.
//!
//! This module owns the text format only: TEXT escaping (§3.3.11), content
//! line folding (§3.1) and UTC date-times (§3.3.5 form 2). Which events go
//! into a feed, and serving it, belong to the callers. Reading a feed back
//! is the tests' business, and they do it with an independent parser (the
//! `ical` crate), so a mistake of ours cannot hide behind a parser of ours.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Content lines longer than this many octets (CRLF excluded) are folded.
pub const MAX_LINE_OCTETS: usize = 75;

/// STATUS of an event (RFC 5545 §3.8.1.11, the VEVENT values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventStatus {
    Tentative,
    Confirmed,
    Cancelled,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Tentative => "TENTATIVE",
            EventStatus::Confirmed => "CONFIRMED",
            EventStatus::Cancelled => "CANCELLED",
        }
    }
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcsEvent {
    /// Must stay the same across feed refreshes, or clients duplicate the
    /// event.
    pub uid: String,
    pub start: DateTime<Utc>,
    /// Should not be before `start`: calendar clients drop such events.
    pub end: DateTime<Utc>,
    pub summary: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub status: Option<EventStatus>,
    /// Empty categories are left out.
    pub categories: Vec<String>,
    /// Written as LAST-MODIFIED; clients use it to notice changes.
    pub updated: DateTime<Utc>,
}

/// Writes a complete VCALENDAR with one VEVENT per event, in the given
/// order, CRLF line endings and folded lines.
pub fn calendar(name: &str, events: &[IcsEvent], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let mut put = |name: &str, value: &str| fold_into(&mut out, &format!("{name}:{value}"));
    put("BEGIN", "VCALENDAR");
    put("VERSION", "2.0");
    put("PRODID", "-//protocall//protocall//EN");
    put("CALSCALE", "GREGORIAN");
    put("METHOD", "PUBLISH");
    put("X-WR-CALNAME", &escape_text(name));
    let stamp = utc_stamp(now);
    for e in events {
        put("BEGIN", "VEVENT");
        put("UID", &escape_text(&e.uid));
        put("DTSTAMP", &stamp);
        put("DTSTART", &utc_stamp(e.start));
        put("DTEND", &utc_stamp(e.end));
        put("LAST-MODIFIED", &utc_stamp(e.updated));
        put("SUMMARY", &escape_text(&e.summary));
        if let Some(d) = &e.description {
            put("DESCRIPTION", &escape_text(d));
        }
        if let Some(l) = &e.location {
            put("LOCATION", &escape_text(l));
        }
        if let Some(s) = e.status {
            put("STATUS", s.as_str());
        }
        let categories: Vec<String> = e
            .categories
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| escape_text(c))
            .collect();
        if !categories.is_empty() {
            put("CATEGORIES", &categories.join(","));
        }
        put("END", "VEVENT");
    }
    put("END", "VCALENDAR");
    out
}

/// `20261128T120000Z`. Years outside 0000-9999 cannot be written in this
/// form; chrono then writes a sign and more digits, which readers refuse.
fn utc_stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaping of RFC 5545 §3.3.11. Line breaks of any convention become
/// `\n`; other control characters are not allowed in TEXT and are dropped.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded to [`MAX_LINE_OCTETS`], each physical line ending
/// in CRLF. Folds never split a UTF-8 character and, where the text allows,
/// never put whitespace on either side of a fold: some readers trim it.
fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    let mut limit = MAX_LINE_OCTETS;
    loop {
        if rest.len() <= limit {
            out.push_str(rest);
            out.push_str("\r\n");
            return;
        }
        let cut = fold_point(rest, limit);
        let (head, tail) = rest.split_at(cut);
        out.push_str(head);
        out.push_str("\r\n ");
        rest = tail;
        // The leading space of a continuation line counts.
        limit = MAX_LINE_OCTETS - 1;
    }
}

/// The largest char boundary in `1..=limit` with no whitespace next to it,
/// or failing that the largest char boundary; `limit < s.len()`.
fn fold_point(s: &str, limit: usize) -> usize {
    let boundaries = || (1..=limit).rev().filter(|&i| s.is_char_boundary(i));
    let blank = |c: Option<char>| matches!(c, Some(' ' | '\t'));
    boundaries()
        .find(|&i| {
            let (before, after) = s.split_at(i);
            !blank(before.chars().next_back()) && !blank(after.chars().next())
        })
        .or_else(|| boundaries().next())
        // A char is at most 4 octets and limit >= 74, so a boundary exists.
        .unwrap_or(limit)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn event(uid: &str, summary: &str) -> IcsEvent {
        IcsEvent {
            uid: uid.into(),
            start: at(2026, 11, 30, 11, 0, 0),
            end: at(2026, 11, 30, 12, 30, 0),
            summary: summary.into(),
            description: None,
            location: None,
            status: None,
            categories: vec![],
            updated: at(2026, 11, 27, 9, 15, 0),
        }
    }

    fn now() -> DateTime<Utc> {
        at(2026, 11, 28, 12, 0, 0)
    }

    const TRICKY: &str = "a,b;c\\d\ne \\n literal; end,";

    fn long_utf8() -> String {
        "Revisão da documentação técnica — ação 🚀📞 com o cliente São João, \
         etapa ① ✓ à tarde; açúcar, café 😀 e pão de queijo. "
            .repeat(4)
            .trim_end()
            .to_string()
    }

    fn physical_lines(ics: &str) -> Vec<&str> {
        let body = ics.strip_suffix("\r\n").expect("ends with CRLF");
        body.split("\r\n").collect()
    }

    #[test]
    fn writes_the_documented_shape() {
        let mut e = event("task-1@protocall", "Documentation");
        e.description = Some("Write the runbook".into());
        e.location = Some("Office".into());
        e.status = Some(EventStatus::Confirmed);
        e.categories = vec!["documentation".into(), "ACME".into()];
        let ics = calendar("Ana's week", &[e], now());
        let expected = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//protocall//protocall//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Ana's week",
            "BEGIN:VEVENT",
            "UID:task-1@protocall",
            "DTSTAMP:20261128T120000Z",
            "DTSTART:20261130T110000Z",
            "DTEND:20261130T123000Z",
            "LAST-MODIFIED:20261127T091500Z",
            "SUMMARY:Documentation",
            "DESCRIPTION:Write the runbook",
            "LOCATION:Office",
            "STATUS:CONFIRMED",
            "CATEGORIES:documentation,ACME",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
        .join("\r\n");
        assert_eq!(ics, expected);
    }

    #[test]
    fn optional_properties_are_left_out() {
        let ics = calendar("x", &[event("u", "s")], now());
        for absent in ["DESCRIPTION", "LOCATION", "STATUS", "CATEGORIES"] {
            assert!(!ics.contains(absent), "{absent} in {ics}");
        }
        let empty = calendar("empty", &[], now());
        assert!(!empty.contains("VEVENT"));
        assert_eq!(read_back(&empty).len(), 0);
    }

    #[test]
    fn text_is_escaped_per_rfc() {
        assert_eq!(
            escape_text(TRICKY),
            "a\\,b\\;c\\\\d\\ne \\\\n literal\\; end\\,"
        );
        assert_eq!(escape_text("one\r\ntwo\rthree"), "one\\ntwo\\nthree");
        assert_eq!(escape_text("bell\u{7}\u{0}\u{1b}tab\t"), "belltab\t");
        assert_eq!(escape_text("colon: \"quoted\""), "colon: \"quoted\"");
    }

    #[test]
    fn lines_are_crlf_and_at_most_75_octets() {
        let mut e = event(&"uid-".repeat(40), &long_utf8());
        e.description = Some(format!("{}\n{}", long_utf8(), TRICKY));
        e.location = Some("🚀".repeat(60));
        e.categories = vec!["ç".repeat(100), "x".into()];
        let ics = calendar(&long_utf8(), &[e], now());
        assert!(ics.ends_with("\r\n"));
        // No bare CR or LF anywhere.
        assert_eq!(ics.matches('\n').count(), ics.matches("\r\n").count());
        assert_eq!(ics.matches('\r').count(), ics.matches("\r\n").count());
        let lines = physical_lines(&ics);
        let mut folded = 0;
        for l in &lines {
            assert!(l.len() <= MAX_LINE_OCTETS, "{} octets: {l:?}", l.len());
            if let Some(rest) = l.strip_prefix(' ') {
                folded += 1;
                // Folding never leaves whitespace next to the fold here.
                assert!(!rest.starts_with([' ', '\t']), "{l:?}");
            }
        }
        assert!(folded > 20, "the long text must have been folded");
        for pair in lines.windows(2) {
            if pair[1].starts_with(' ') {
                assert!(!pair[0].ends_with([' ', '\t']), "{pair:?}");
            }
        }
        // Every folded piece is whole UTF-8 on its own (no char split).
        for l in ics.as_bytes().split(|b| *b == b'\n') {
            assert!(std::str::from_utf8(l).is_ok());
        }
    }

    #[test]
    fn fold_boundary_is_exactly_75_octets() {
        let mut out = String::new();
        fold_into(&mut out, &"a".repeat(75));
        assert_eq!(out, format!("{}\r\n", "a".repeat(75)));
        let mut out = String::new();
        fold_into(&mut out, &"a".repeat(76));
        assert_eq!(out, format!("{}\r\n a\r\n", "a".repeat(75)));
        // 74 octets of ASCII then a 4-octet emoji: the emoji moves whole.
        let mut out = String::new();
        fold_into(&mut out, &format!("{}😀b", "a".repeat(73)));
        assert_eq!(out, format!("{}\r\n 😀b\r\n", "a".repeat(73)));
        // A continuation holds 74 octets after its space.
        let mut out = String::new();
        fold_into(&mut out, &"a".repeat(75 + 74 + 1));
        let lines = physical_lines(&out);
        assert_eq!(
            lines.iter().map(|l| l.len()).collect::<Vec<_>>(),
            [75, 75, 2]
        );
        // Only spaces: no choice but to fold next to one; unfolding still
        // restores them.
        let mut out = String::new();
        fold_into(&mut out, &format!("X:{}", " ".repeat(200)));
        assert!(physical_lines(&out).iter().all(|l| l.len() <= 75));
    }

    #[test]
    fn round_trip_of_tricky_text() {
        let events = vec![
            IcsEvent {
                uid: "a;b,c\\d@protocall".into(),
                start: at(2026, 3, 8, 6, 30, 0),
                end: at(2026, 3, 8, 8, 0, 0),
                summary: long_utf8(),
                description: Some(format!("{TRICKY}\n\n{}", long_utf8())),
                location: Some("Sala 3, 2º andar; prédio \"B\"".into()),
                status: Some(EventStatus::Tentative),
                categories: vec!["a,b".into(), "c;d".into(), "e\\f".into(), "ação".into()],
                updated: at(2026, 3, 1, 0, 0, 1),
            },
            IcsEvent {
                status: Some(EventStatus::Cancelled),
                description: Some(String::new()),
                ..event("second", "")
            },
        ];
        let parsed = read_back(&calendar("cal, name; x", &events, now()));
        assert_eq!(parsed.len(), 2);
        let stamp = |t: DateTime<Utc>| Some(vec![utc_stamp(t)]);
        for (p, e) in parsed.iter().zip(&events) {
            assert_eq!(p.get("UID"), Some(&vec![e.uid.clone()]));
            assert_eq!(p.get("DTSTART").cloned(), stamp(e.start));
            assert_eq!(p.get("DTEND").cloned(), stamp(e.end));
            assert_eq!(p.get("SUMMARY"), Some(&vec![e.summary.clone()]));
            assert_eq!(
                p.get("DESCRIPTION"),
                e.description.clone().map(|d| vec![d]).as_ref()
            );
            assert_eq!(
                p.get("LOCATION"),
                e.location.clone().map(|l| vec![l]).as_ref()
            );
            assert_eq!(
                p.get("STATUS"),
                e.status.map(|st| vec![st.as_str().to_string()]).as_ref()
            );
            let categories = e.categories.clone();
            assert_eq!(p.get("CATEGORIES").cloned().unwrap_or_default(), categories);
            assert_eq!(p.get("DTSTAMP").cloned(), stamp(now()));
            assert_eq!(p.get("LAST-MODIFIED").cloned(), stamp(e.updated));
        }
    }

    #[test]
    fn sub_second_precision_is_dropped() {
        let mut e = event("u", "s");
        e.start = at(2026, 1, 1, 0, 0, 0) + chrono::TimeDelta::milliseconds(999);
        let p = read_back(&calendar("c", &[e], now()));
        assert_eq!(p[0]["DTSTART"], ["20260101T000000Z"]);
    }

    /// Each event's properties as the `ical` crate reads them (unfolded),
    /// TEXT unescaped and lists split at unescaped commas: what a calendar
    /// client sees.
    fn read_back(text: &str) -> Vec<std::collections::BTreeMap<String, Vec<String>>> {
        let mut reader = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
        let cal = reader.next().expect("one calendar").expect("parses");
        assert!(reader.next().is_none(), "one calendar only");
        cal.events
            .iter()
            .map(|e| {
                let mut props = std::collections::BTreeMap::<String, Vec<String>>::new();
                for p in &e.properties {
                    let raw = p.value.clone().unwrap_or_default();
                    let values = if p.name == "CATEGORIES" {
                        split_unescaped_commas(&raw)
                    } else {
                        vec![raw]
                    };
                    props
                        .entry(p.name.clone())
                        .or_default()
                        .extend(values.iter().map(|v| unescape(v)));
                }
                props
            })
            .collect()
    }

    fn split_unescaped_commas(s: &str) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let last = out.last_mut().unwrap();
                    last.push('\\');
                    if let Some(n) = chars.next() {
                        last.push(n);
                    }
                }
                ',' => out.push(String::new()),
                c => out.last_mut().unwrap().push(c),
            }
        }
        out
    }

    /// RFC 5545 §3.3.11 TEXT unescaping, strict: anything else after a
    /// backslash is a writer's mistake.
    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(c @ ('\\' | ';' | ',')) => out.push(c),
                other => panic!("bad escape \\{other:?} in {s:?}"),
            }
        }
        out
    }
}

/// Reads our output with an independent parser (the `ical` crate), so a
/// mistake shared by our writer and our parser cannot hide.
#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod independent {
    use super::*;
    use chrono::TimeZone;
    use std::io::BufReader;

    fn props(e: &ical::parser::ical::component::IcalEvent, name: &str) -> Vec<String> {
        e.properties
            .iter()
            .filter(|p| p.name == name)
            .filter_map(|p| p.value.clone())
            .collect()
    }

    #[test]
    fn ical_crate_reads_the_feed() {
        let long =
            "Revisão técnica — ação 🚀 com o cliente São João; etapa ① ✓, à tarde. ".repeat(5);
        let long = long.trim_end();
        let events: Vec<IcsEvent> = (0..3)
            .map(|i| IcsEvent {
                uid: format!("task-{i}@protocall"),
                start: Utc.with_ymd_and_hms(2026, 12, 1 + i, 11, 0, 0).unwrap(),
                end: Utc.with_ymd_and_hms(2026, 12, 1 + i, 12, 15, 0).unwrap(),
                summary: format!("{long} #{i}"),
                description: Some("line one\nline two; a, b \\ c".into()),
                location: Some("Sala 3, 2º andar".into()),
                status: Some(EventStatus::Confirmed),
                categories: vec!["documentation".into(), "a,b".into()],
                updated: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
            })
            .collect();
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let text = calendar("Ana", &events, now);

        let mut reader = ical::IcalParser::new(BufReader::new(text.as_bytes()));
        let cal = reader.next().expect("one calendar").expect("parses");
        assert!(reader.next().is_none());
        let cal_props: Vec<(String, Option<String>)> = cal
            .properties
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect();
        assert!(cal_props.contains(&("VERSION".into(), Some("2.0".into()))));
        assert!(cal_props.contains(&("METHOD".into(), Some("PUBLISH".into()))));
        assert_eq!(cal.events.len(), 3);
        for (i, e) in cal.events.iter().enumerate() {
            assert_eq!(props(e, "UID"), [format!("task-{i}@protocall")]);
            assert_eq!(props(e, "DTSTART"), [format!("2026120{}T110000Z", i + 1)]);
            assert_eq!(props(e, "DTEND"), [format!("2026120{}T121500Z", i + 1)]);
            assert_eq!(props(e, "DTSTAMP"), ["20261128T120000Z"]);
            assert_eq!(props(e, "STATUS"), ["CONFIRMED"]);
            // ical unfolds but leaves TEXT escaped.
            let summary = props(e, "SUMMARY");
            assert_eq!(summary.len(), 1);
            assert_eq!(
                summary[0],
                format!("{} #{i}", long.replace(';', "\\;").replace(',', "\\,"))
            );
            assert_eq!(
                props(e, "DESCRIPTION"),
                ["line one\\nline two\\; a\\, b \\\\ c"]
            );
            assert_eq!(props(e, "CATEGORIES"), ["documentation,a\\,b"]);
        }
    }
}
