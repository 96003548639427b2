//! The iCalendar (RFC 5545) feed of scheduled work: writing a VCALENDAR of
//! events, and a small strict parser of the same dialect.
//!
//! This module owns the text format only: TEXT escaping (§3.3.11), content
//! line folding (§3.1) and UTC date-times (§3.3.5 form 2). Which events go
//! into a feed, and serving it, belong to the callers.
//!
//! The parser exists so that tests (here and in integration tests) can read
//! a feed back and compare it with what was meant. It reads the dialect
//! [`calendar`] writes, and refuses rather than guesses: date-times must be
//! UTC (`...Z`), components must be closed, single-valued properties must
//! not repeat.

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

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

    /// Enumerated values are case-insensitive in RFC 5545.
    fn parse(s: &str) -> Option<EventStatus> {
        [
            EventStatus::Tentative,
            EventStatus::Confirmed,
            EventStatus::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcsEvent {
    /// Must stay the same across feed refreshes, or clients duplicate the
    /// event.
    pub uid: String,
    pub start: DateTime<Utc>,
    /// Should not be before `start`; [`parse`] refuses feeds where it is.
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

/// An event as read back by [`parse`]; date-times lose sub-second parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedEvent {
    pub uid: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Empty when the event has no SUMMARY.
    pub summary: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub status: Option<EventStatus>,
    pub categories: Vec<String>,
    pub stamp: DateTime<Utc>,
    pub last_modified: Option<DateTime<Utc>>,
}

/// Why a feed was refused; `line` is the 1-based physical line where the
/// offending content line starts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IcsError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("the text does not start with BEGIN:VCALENDAR")]
    NotACalendar,
    #[error("line {line}: END:{found} while {open} is open (missing END:{open})")]
    MismatchedEnd {
        line: usize,
        open: String,
        found: String,
    },
    #[error("{component} is not closed (missing END:{component})")]
    Unterminated { component: String },
    #[error("line {line}: content after END:VCALENDAR")]
    TrailingContent { line: usize },
    #[error("line {line}: {property} appears twice")]
    DuplicateProperty { line: usize, property: String },
    #[error("{component} ending on line {line} has no {property}")]
    MissingProperty {
        line: usize,
        component: String,
        property: String,
    },
    #[error("line {line}: bad {property} {value:?}: {reason}")]
    BadDate {
        line: usize,
        property: String,
        value: String,
        reason: &'static str,
    },
    #[error("line {line}: bad text {value:?}: {reason}")]
    BadText {
        line: usize,
        value: String,
        reason: &'static str,
    },
    #[error("line {line}: unknown STATUS {value:?}")]
    BadStatus { line: usize, value: String },
    #[error("VEVENT ending on line {line} ends before it starts")]
    EndBeforeStart { line: usize },
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
/// form; chrono then writes a sign and more digits, which [`parse`] refuses.
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

/// One unfolded content line.
struct ContentLine {
    line: usize,
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

/// Reads the events of a VCALENDAR written by [`calendar`] (or any feed in
/// the same dialect). Lines may end in CRLF or LF; blank lines are ignored.
/// Components other than VEVENT (VTIMEZONE, VALARM inside an event, ...)
/// are checked for nesting and otherwise skipped.
pub fn parse(text: &str) -> Result<Vec<ParsedEvent>, IcsError> {
    let lines = unfold(text)?;
    let mut iter = lines.into_iter();
    match iter.next() {
        Some(l) if l.name == "BEGIN" && l.value.eq_ignore_ascii_case("VCALENDAR") => {}
        _ => return Err(IcsError::NotACalendar),
    }
    let mut stack = vec!["VCALENDAR".to_string()];
    let mut events = Vec::new();
    let mut current: Option<EventBuilder> = None;
    let mut version = None;
    let mut prodid = false;
    let mut end_line = 0;
    for cl in iter.by_ref() {
        end_line = cl.line;
        match cl.name.as_str() {
            "BEGIN" => {
                let component = cl.value.to_ascii_uppercase();
                if component == "VEVENT" {
                    if stack.len() != 1 {
                        return Err(IcsError::Syntax {
                            line: cl.line,
                            reason: "VEVENT must be directly inside VCALENDAR".into(),
                        });
                    }
                    current = Some(EventBuilder::default());
                }
                stack.push(component);
            }
            "END" => {
                let found = cl.value.to_ascii_uppercase();
                let open = stack.pop().unwrap_or_default();
                if found != open {
                    return Err(IcsError::MismatchedEnd {
                        line: cl.line,
                        open,
                        found,
                    });
                }
                if found == "VEVENT" {
                    if let Some(b) = current.take() {
                        events.push(b.finish(cl.line)?);
                    }
                }
                if stack.is_empty() {
                    break;
                }
            }
            _ => match (stack.len(), current.as_mut()) {
                (1, _) => match cl.name.as_str() {
                    "VERSION" => version = Some(cl.value),
                    "PRODID" => prodid = true,
                    _ => {}
                },
                (2, Some(b)) => b.add(cl)?,
                _ => {}
            },
        }
    }
    if let Some(open) = stack.pop() {
        return Err(IcsError::Unterminated { component: open });
    }
    if let Some(extra) = iter.next() {
        return Err(IcsError::TrailingContent { line: extra.line });
    }
    if version.as_deref() != Some("2.0") {
        return Err(IcsError::MissingProperty {
            line: end_line,
            component: "VCALENDAR".into(),
            property: "VERSION:2.0".into(),
        });
    }
    if !prodid {
        return Err(IcsError::MissingProperty {
            line: end_line,
            component: "VCALENDAR".into(),
            property: "PRODID".into(),
        });
    }
    Ok(events)
}

/// Splits into physical lines, joins continuation lines (one leading space
/// or tab removed, §3.1), and splits each content line into its parts.
fn unfold(text: &str) -> Result<Vec<ContentLine>, IcsError> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.contains('\r') {
            return Err(IcsError::Syntax {
                line: line_no,
                reason: "bare CR".into(),
            });
        }
        if let Some(cont) = raw.strip_prefix([' ', '\t']) {
            match logical.last_mut() {
                Some((_, prev)) => prev.push_str(cont),
                None => {
                    return Err(IcsError::Syntax {
                        line: line_no,
                        reason: "continuation line with nothing to continue".into(),
                    })
                }
            }
        } else if !raw.is_empty() {
            logical.push((line_no, raw.to_string()));
        }
    }
    logical
        .into_iter()
        .map(|(line, text)| split_content_line(line, &text))
        .collect()
}

/// `name *(";" param) ":" value`, with parameter values optionally quoted
/// (quotes may hide `;`, `:` and `,`).
fn split_content_line(line: usize, text: &str) -> Result<ContentLine, IcsError> {
    let syntax = |reason: &str| IcsError::Syntax {
        line,
        reason: format!("{reason} in {text:?}"),
    };
    let name_end = text
        .find([';', ':'])
        .ok_or_else(|| syntax("no ':' after the property name"))?;
    let (name, mut rest) = text.split_at(name_end);
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(syntax("bad property name"));
    }
    let mut params = Vec::new();
    while let Some(after) = rest.strip_prefix(';') {
        let eq = after
            .find('=')
            .ok_or_else(|| syntax("parameter without '='"))?;
        let (pname, after) = after.split_at(eq);
        let after = after.get(1..).unwrap_or_default();
        let (pvalue, after) = if let Some(quoted) = after.strip_prefix('"') {
            let close = quoted.find('"').ok_or_else(|| syntax("unclosed quote"))?;
            let (v, after) = quoted.split_at(close);
            (v, after.get(1..).unwrap_or_default())
        } else {
            let stop = after.find([';', ':']).unwrap_or(after.len());
            after.split_at(stop)
        };
        params.push((pname.to_ascii_uppercase(), pvalue.to_string()));
        rest = after;
    }
    let value = rest
        .strip_prefix(':')
        .ok_or_else(|| syntax("no ':' before the value"))?;
    Ok(ContentLine {
        line,
        name: name.to_ascii_uppercase(),
        params,
        value: value.to_string(),
    })
}

#[derive(Default)]
struct EventBuilder {
    uid: Option<String>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    stamp: Option<DateTime<Utc>>,
    last_modified: Option<DateTime<Utc>>,
    summary: Option<String>,
    description: Option<String>,
    location: Option<String>,
    status: Option<EventStatus>,
    categories: Vec<String>,
}

impl EventBuilder {
    fn add(&mut self, cl: ContentLine) -> Result<(), IcsError> {
        fn once<T>(slot: &mut Option<T>, value: T, cl: &ContentLine) -> Result<(), IcsError> {
            if slot.is_some() {
                return Err(IcsError::DuplicateProperty {
                    line: cl.line,
                    property: cl.name.clone(),
                });
            }
            *slot = Some(value);
            Ok(())
        }
        match cl.name.as_str() {
            "UID" => once(&mut self.uid, unescape_single(&cl)?, &cl),
            "SUMMARY" => once(&mut self.summary, unescape_single(&cl)?, &cl),
            "DESCRIPTION" => once(&mut self.description, unescape_single(&cl)?, &cl),
            "LOCATION" => once(&mut self.location, unescape_single(&cl)?, &cl),
            "DTSTART" => once(&mut self.start, parse_utc(&cl)?, &cl),
            "DTEND" => once(&mut self.end, parse_utc(&cl)?, &cl),
            "DTSTAMP" => once(&mut self.stamp, parse_utc(&cl)?, &cl),
            "LAST-MODIFIED" => once(&mut self.last_modified, parse_utc(&cl)?, &cl),
            "STATUS" => {
                let status = EventStatus::parse(&cl.value).ok_or_else(|| IcsError::BadStatus {
                    line: cl.line,
                    value: cl.value.clone(),
                })?;
                once(&mut self.status, status, &cl)
            }
            // CATEGORIES may repeat; the lists add up (§3.8.1.2).
            "CATEGORIES" => {
                for item in split_list(&cl.value) {
                    let item = unescape(item).map_err(|reason| IcsError::BadText {
                        line: cl.line,
                        value: cl.value.clone(),
                        reason,
                    })?;
                    if !item.is_empty() {
                        self.categories.push(item);
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn finish(self, line: usize) -> Result<ParsedEvent, IcsError> {
        let missing = |property: &str| IcsError::MissingProperty {
            line,
            component: "VEVENT".into(),
            property: property.into(),
        };
        let start = self.start.ok_or_else(|| missing("DTSTART"))?;
        let end = self.end.ok_or_else(|| missing("DTEND"))?;
        if end < start {
            return Err(IcsError::EndBeforeStart { line });
        }
        Ok(ParsedEvent {
            uid: self.uid.ok_or_else(|| missing("UID"))?,
            start,
            end,
            summary: self.summary.unwrap_or_default(),
            description: self.description,
            location: self.location,
            status: self.status,
            categories: self.categories,
            stamp: self.stamp.ok_or_else(|| missing("DTSTAMP"))?,
            last_modified: self.last_modified,
        })
    }
}

/// A single TEXT value: `,` and `;` must be escaped there (§3.3.11), so a
/// bare one means the writer forgot to escape.
fn unescape_single(cl: &ContentLine) -> Result<String, IcsError> {
    let bad = |reason| IcsError::BadText {
        line: cl.line,
        value: cl.value.clone(),
        reason,
    };
    if has_unescaped(&cl.value, ',') {
        return Err(bad("unescaped ','"));
    }
    if has_unescaped(&cl.value, ';') {
        return Err(bad("unescaped ';'"));
    }
    unescape(&cl.value).map_err(bad)
}

fn has_unescaped(s: &str, sep: char) -> bool {
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            return true;
        }
    }
    false
}

/// Splits a TEXT list on commas that are not escaped.
fn split_list(s: &str) -> impl Iterator<Item = &str> {
    let mut escaped = false;
    s.split(move |c| {
        if escaped {
            escaped = false;
            false
        } else if c == '\\' {
            escaped = true;
            false
        } else {
            c == ','
        }
    })
}

/// Reverses [`escape_text`]; any escape other than `\\ \; \, \n \N` is an
/// error, as is a lone trailing backslash.
pub fn unescape(s: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some(';') => out.push(';'),
            Some(',') => out.push(','),
            Some('n' | 'N') => out.push('\n'),
            Some(_) => return Err("unknown escape"),
            None => return Err("trailing backslash"),
        }
    }
    Ok(out)
}

/// `YYYYMMDDTHHMMSSZ` only: floating and TZID times are refused because
/// this dialect is UTC-only, and guessing a zone would hide a bug.
fn parse_utc(cl: &ContentLine) -> Result<DateTime<Utc>, IcsError> {
    let bad = |reason| IcsError::BadDate {
        line: cl.line,
        property: cl.name.clone(),
        value: cl.value.clone(),
        reason,
    };
    for (name, value) in &cl.params {
        match (name.as_str(), value.as_str()) {
            ("VALUE", v) if v.eq_ignore_ascii_case("DATE-TIME") => {}
            ("VALUE", _) => return Err(bad("only DATE-TIME values are supported")),
            ("TZID", _) => return Err(bad("only UTC times are supported, not TZID")),
            _ => {}
        }
    }
    let v = cl.value.as_bytes();
    let shape = v.len() == 16
        && v.get(8) == Some(&b'T')
        && v.get(15) == Some(&b'Z')
        && v.iter()
            .enumerate()
            .all(|(i, b)| i == 8 || i == 15 || b.is_ascii_digit());
    if !shape {
        return Err(bad("expected YYYYMMDDTHHMMSSZ"));
    }
    let num = |from: usize, to: usize| -> u32 {
        v.get(from..to)
            .unwrap_or_default()
            .iter()
            .fold(0, |n, b| n * 10 + u32::from(b - b'0'))
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4) as i32, num(4, 6), num(6, 8))
        .ok_or_else(|| bad("no such date"))?;
    // Leap seconds (:60) are refused: UTC stamps here never carry them.
    let time = NaiveTime::from_hms_opt(num(9, 11), num(11, 13), num(13, 15))
        .ok_or_else(|| bad("no such time"))?;
    Ok(Utc.from_utc_datetime(&date.and_time(time)))
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
        assert_eq!(parse(&empty).unwrap(), vec![]);
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
    fn unescape_rejects_unknown_escapes() {
        assert_eq!(unescape("a\\Nb\\nc").unwrap(), "a\nb\nc");
        assert!(unescape("a\\tb").is_err());
        assert!(unescape("trailing\\").is_err());
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
        let parsed = parse(&calendar("cal, name; x", &events, now())).unwrap();
        assert_eq!(parsed.len(), 2);
        for (p, e) in parsed.iter().zip(&events) {
            assert_eq!(p.uid, e.uid);
            assert_eq!(p.start, e.start);
            assert_eq!(p.end, e.end);
            assert_eq!(p.summary, e.summary);
            assert_eq!(p.description, e.description);
            assert_eq!(p.location, e.location);
            assert_eq!(p.status, e.status);
            assert_eq!(p.categories, e.categories);
            assert_eq!(p.stamp, now());
            assert_eq!(p.last_modified, Some(e.updated));
        }
    }

    #[test]
    fn sub_second_precision_is_dropped() {
        let mut e = event("u", "s");
        e.start = at(2026, 1, 1, 0, 0, 0) + chrono::TimeDelta::milliseconds(999);
        let p = parse(&calendar("c", &[e], now())).unwrap();
        assert_eq!(p[0].start, at(2026, 1, 1, 0, 0, 0));
    }

    fn wrap(body: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n")
    }

    const GOOD_EVENT: &str = "BEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20261128T120000Z\r\n\
        DTSTART:20261130T110000Z\r\nDTEND:20261130T120000Z\r\nSUMMARY:s\r\nEND:VEVENT\r\n";

    #[test]
    fn parser_accepts_other_writers_conventions() {
        // LF endings, tab continuation, lower-case names, parameters with
        // quoted colons, a VALARM inside and a VTIMEZONE beside the event,
        // CATEGORIES repeated.
        let text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VTIMEZONE\nTZID:X\n\
            END:VTIMEZONE\nBEGIN:VEVENT\nuid:abc\nDTSTAMP:20261128T120000Z\n\
            DTSTART;VALUE=DATE-TIME:20261130T110000Z\nDTEND:20261130T120000Z\n\
            SUMMARY;LANGUAGE=pt-BR;X-NOTE=\"a:b;c\":Reuni\n\tão\nstatus:confirmed\n\
            CATEGORIES:a,b\nCATEGORIES:c\nBEGIN:VALARM\nACTION:DISPLAY\nSUMMARY:other\n\
            END:VALARM\nEND:VEVENT\nEND:VCALENDAR\n";
        let p = parse(text).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].uid, "abc");
        assert_eq!(p[0].summary, "Reunião");
        assert_eq!(p[0].status, Some(EventStatus::Confirmed));
        assert_eq!(p[0].categories, ["a", "b", "c"]);
        assert_eq!(p[0].last_modified, None);
    }

    #[test]
    fn parser_rejects_broken_feeds() {
        type Expect = fn(&IcsError) -> bool;
        let cases: Vec<(String, Expect)> = vec![
            (
                wrap(&GOOD_EVENT.replace("END:VEVENT\r\n", "")),
                |e| matches!(e, IcsError::MismatchedEnd { open, .. } if open == "VEVENT"),
            ),
            (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:x\r\n".into(),
                |e| matches!(e, IcsError::Unterminated { component } if component == "VEVENT"),
            ),
            (
                wrap(&GOOD_EVENT.replace("20261130T110000Z", "20261301T110000Z")),
                |e| matches!(e, IcsError::BadDate { property, .. } if property == "DTSTART"),
            ),
            (
                wrap(&GOOD_EVENT.replace("20261130T110000Z", "20260230T110000Z")),
                |e| matches!(e, IcsError::BadDate { .. }),
            ),
            (
                wrap(&GOOD_EVENT.replace("20261130T110000Z", "20261130T246000Z")),
                |e| matches!(e, IcsError::BadDate { .. }),
            ),
            (
                wrap(&GOOD_EVENT.replace("20261130T110000Z", "20261130T110000")),
                |e| matches!(e, IcsError::BadDate { .. }),
            ),
            (
                wrap(&GOOD_EVENT.replace("20261130T110000Z", "2026-11-30T11:00:00Z")),
                |e| matches!(e, IcsError::BadDate { .. }),
            ),
            (
                wrap(&GOOD_EVENT.replace("DTSTART:", "DTSTART;TZID=America/Sao_Paulo:")),
                |e| matches!(e, IcsError::BadDate { .. }),
            ),
            (
                wrap(
                    &GOOD_EVENT.replace("DTSTART:20261130T110000Z", "DTSTART;VALUE=DATE:20261130"),
                ),
                |e| matches!(e, IcsError::BadDate { .. }),
            ),
            (
                wrap(&GOOD_EVENT.replace("UID:x\r\n", "")),
                |e| matches!(e, IcsError::MissingProperty { property, .. } if property == "UID"),
            ),
            (
                wrap(&GOOD_EVENT.replace("DTEND:20261130T120000Z\r\n", "")),
                |e| matches!(e, IcsError::MissingProperty { property, .. } if property == "DTEND"),
            ),
            (
                wrap(&GOOD_EVENT.replace("DTEND:20261130T120000Z", "DTEND:20261130T100000Z")),
                |e| matches!(e, IcsError::EndBeforeStart { .. }),
            ),
            (
                wrap(&GOOD_EVENT.replace("UID:x\r\n", "UID:x\r\nUID:y\r\n")),
                |e| matches!(e, IcsError::DuplicateProperty { .. }),
            ),
            (
                wrap(&GOOD_EVENT.replace("SUMMARY:s", "SUMMARY:a\\qb")),
                |e| matches!(e, IcsError::BadText { .. }),
            ),
            (wrap(&GOOD_EVENT.replace("SUMMARY:s", "SUMMARY:a,b")), |e| {
                matches!(e, IcsError::BadText { .. })
            }),
            (wrap(&GOOD_EVENT.replace("SUMMARY:s", "SUMMARY:a;b")), |e| {
                matches!(e, IcsError::BadText { .. })
            }),
            (wrap(&GOOD_EVENT.replace("SUMMARY:s", "STATUS:DONE")), |e| {
                matches!(e, IcsError::BadStatus { .. })
            }),
            (wrap(&GOOD_EVENT.replace("SUMMARY:s", "SUMMARY s")), |e| {
                matches!(e, IcsError::Syntax { .. })
            }),
            (
                wrap(&GOOD_EVENT.replace("SUMMARY:s", "SUMMARY;X=\"open:s")),
                |e| matches!(e, IcsError::Syntax { .. }),
            ),
            (
                wrap(&GOOD_EVENT.replace("BEGIN:VEVENT\r\n", "BEGIN:VEVENT\r\nBEGIN:VEVENT\r\n")),
                |e| matches!(e, IcsError::Syntax { .. }),
            ),
            (format!("{}X:1\r\n", wrap(GOOD_EVENT)), |e| {
                matches!(e, IcsError::TrailingContent { .. })
            }),
            (wrap(GOOD_EVENT).replace("VERSION:2.0\r\n", ""), |e| {
                matches!(e, IcsError::MissingProperty { .. })
            }),
            (" folded\r\n".to_string() + &wrap(GOOD_EVENT), |e| {
                matches!(e, IcsError::Syntax { line: 1, .. })
            }),
            (GOOD_EVENT.into(), |e| matches!(e, IcsError::NotACalendar)),
            (String::new(), |e| matches!(e, IcsError::NotACalendar)),
        ];
        assert!(parse(&wrap(GOOD_EVENT)).is_ok());
        for (i, (text, expected)) in cases.iter().enumerate() {
            match parse(text) {
                Err(e) => assert!(expected(&e), "case {i}: unexpected error {e:?}"),
                Ok(v) => panic!("case {i}: accepted {v:?}\n{text}"),
            }
        }
    }

    #[test]
    fn damaged_feeds_never_panic() {
        let mut e = event("u,1", "Reunião; ação 🚀");
        e.categories = vec!["a".into(), "b,c".into()];
        e.status = Some(EventStatus::Tentative);
        let good: Vec<char> = calendar(&"x".repeat(90), &[e.clone(), e], now())
            .chars()
            .collect();
        let noise: Vec<char> = "\r\n \t:;,\\\"=Z0T9é".chars().collect();
        let mut state = 11u64;
        let mut next = |n: usize| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((state >> 33) % n as u64) as usize
        };
        for _ in 0..3_000 {
            let mut text = good.clone();
            for _ in 0..1 + next(4) {
                let at = next(text.len());
                match next(3) {
                    0 => {
                        text.remove(at);
                    }
                    1 => text.insert(at, noise[next(noise.len())]),
                    _ => text[at] = noise[next(noise.len())],
                }
            }
            let text: String = text.into_iter().collect();
            let _ = parse(&text);
        }
    }

    #[test]
    fn error_messages_name_the_line() {
        let text = wrap(&GOOD_EVENT.replace("20261130T110000Z", "20261301T110000Z"));
        let msg = parse(&text).unwrap_err().to_string();
        assert!(msg.contains("line 7"), "{msg}");
        assert!(msg.contains("20261301T110000Z"), "{msg}");
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
