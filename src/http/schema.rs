//! Schema pieces the OpenAPI document shares with the handlers' checks.
//!
//! A rule a handler enforces on one value (a closed set of words, a text
//! that must not be blank) is written here once, as the constant the check
//! uses and as the schema the document shows, so the two cannot drift.
//! Patterns are spelled with explicit character classes, never `\s`:
//! regex engines disagree on what `\s` covers, and the document must mean
//! exactly what `char::is_whitespace` and `char::is_control` mean.

use serde_json::Value;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

/// Rust's `char::is_whitespace` (Unicode White_Space), as the inside of a
/// character class.
pub const WHITESPACE: &str =
    r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// Rust's `char::is_control` (Unicode Cc), as the inside of a class.
pub const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";

/// A text holding at least one character that is not whitespace.
pub fn not_blank_pattern() -> String {
    format!("[^{WHITESPACE}]")
}

/// A text holding no control character and at least one that is not
/// whitespace.
pub fn printable_pattern() -> String {
    format!(r"^(?![\s\S]*[{CONTROL}])(?=[\s\S]*[^{WHITESPACE}{CONTROL}])")
}

/// Whether `s` holds a character that is not whitespace (what
/// `not_blank_pattern` says).
pub fn is_blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

/// Whether `s` is what `printable_pattern` says.
pub fn is_printable(s: &str) -> bool {
    !is_blank(s) && !s.chars().any(char::is_control)
}

fn string(nullable: bool) -> ObjectBuilder {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new().schema_type(ty)
}

/// One of `words`.
pub fn one_of(words: &[&str]) -> Object {
    string(false)
        .enum_values(Some(words.iter().copied()))
        .build()
}

/// One of `words`, or null.
pub fn one_of_or_null(words: &[&str]) -> Object {
    let values = words
        .iter()
        .map(|w| Value::from(*w))
        .chain([Value::Null])
        .collect::<Vec<_>>();
    string(true).enum_values(Some(values)).build()
}

/// A name: 1 to `max` characters, not blank.
pub fn name(max: usize, nullable: bool) -> Object {
    string(nullable)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(not_blank_pattern()))
        .build()
}

/// Free text of at most `max` characters (blank means none).
pub fn text(max: usize, nullable: bool) -> Object {
    string(nullable).max_length(Some(max)).build()
}

/// Declares a function per closed set of words, for `schema_with`: the
/// document's enum and the handler's check read the same constant.
macro_rules! word_sets {
    ($($set:ident => $words:expr;)*) => {
        $(
            #[allow(non_snake_case)]
            pub mod $set {
                use super::*;
                pub fn required() -> Object { one_of($words) }
                pub fn optional() -> Object { one_of_or_null($words) }
            }
        )*
    };
}

pub use words::*;

/// The closed sets of words the API takes.
pub mod words {
    pub const CALL_DIRECTIONS: &[&str] = &["inbound", "outbound", "internal"];
    pub const CALL_OUTCOMES: &[&str] = &["answered", "busy", "no_answer", "cancelled", "failed"];
    pub const CALL_ROUTES: &[&str] = &["owner", "team", "ura", "uri", "rejected"];
    pub const CALLBACK_STATUSES: &[&str] = &["pending", "done", "cancelled"];
    pub const CHANNELS: &[&str] = crate::tracking::service::CHANNELS;
    pub const CONTACT_DIRECTIONS: &[&str] = &["inbound", "outbound"];
    pub const CONTACT_STATUSES: &[&str] = crate::http::contacts::STATUSES;
    /// What a PATCH may set a contact's status to (which ones the current
    /// status allows is the handler's business: 409 otherwise).
    pub const CONTACT_PATCH_STATUSES: &[&str] =
        &["scheduled", "open", "done", "missed", "cancelled"];
    pub const CONTACT_KINDS: &[&str] = &["triggered", "scheduled"];
    pub const TASK_STATUSES: &[&str] = &["planned", "running", "done", "cancelled"];
    /// What a PATCH may set a task's status to (running comes from start).
    pub const TASK_PATCH_STATUSES: &[&str] = &["planned", "done", "cancelled"];
    pub const TASK_SOURCES: &[&str] = &["manual", "schedule", "rule"];
    pub const REPORT_FORMATS: &[&str] = &["json", "csv", "xlsx", "html"];
}

word_sets! {
    call_directions => CALL_DIRECTIONS;
    call_outcomes => CALL_OUTCOMES;
    call_routes => CALL_ROUTES;
    callback_statuses => CALLBACK_STATUSES;
    channels => CHANNELS;
    contact_directions => CONTACT_DIRECTIONS;
    contact_statuses => CONTACT_STATUSES;
    contact_patch_statuses => CONTACT_PATCH_STATUSES;
    contact_kinds => CONTACT_KINDS;
    task_statuses => TASK_STATUSES;
    task_patch_statuses => TASK_PATCH_STATUSES;
    task_sources => TASK_SOURCES;
    report_formats => REPORT_FORMATS;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whitespace_class_is_rusts() {
        let class = regex_class(WHITESPACE);
        for c in (0..=0x3000u32).filter_map(char::from_u32) {
            assert_eq!(class(c), c.is_whitespace(), "{:?}", c);
        }
        let control = regex_class(CONTROL);
        for c in (0..=0x3000u32).filter_map(char::from_u32) {
            assert_eq!(control(c), c.is_control(), "{:?}", c);
        }
    }

    /// Reads a class body made of `\uXXXX` escapes and `a-b` ranges.
    fn regex_class(body: &str) -> impl Fn(char) -> bool {
        let mut points = Vec::new();
        let mut rest = body;
        while let Some(r) = rest.strip_prefix("\\u") {
            let (hex, tail) = r.split_at(4);
            points.push(u32::from_str_radix(hex, 16).unwrap());
            rest = tail;
            if let Some(t) = rest.strip_prefix('-') {
                points.push(u32::MAX);
                rest = t;
            }
        }
        assert!(rest.is_empty(), "unread: {rest}");
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < points.len() {
            if points.get(i + 1) == Some(&u32::MAX) {
                ranges.push((points[i], points[i + 2]));
                i += 3;
            } else {
                ranges.push((points[i], points[i]));
                i += 1;
            }
        }
        move |c| ranges.iter().any(|(a, b)| (*a..=*b).contains(&(c as u32)))
    }

    #[test]
    fn blank_and_printable() {
        assert!(is_blank(" \t\u{3000}"));
        assert!(!is_blank(" x "));
        assert!(is_printable("ana"));
        assert!(!is_printable("a\u{7}"));
        assert!(!is_printable("  "));
    }
}
