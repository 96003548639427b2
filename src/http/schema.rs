//! Schema pieces the OpenAPI document shares with the handlers' checks.
//!
//! A rule a handler enforces on one value (a closed set of words, a text
//! that must not be blank) is written here once, as the constant the check
//! uses and as the schema the document shows, so the two cannot drift.
//! Patterns are spelled with explicit character classes, never `\s`:
//! regex engines disagree on what `\s` covers, and the document must mean
//! exactly what `char::is_whitespace` and `char::is_control` mean.

use serde_json::Value;
use utoipa::openapi::schema::{
    AnyOfBuilder, Array, ArrayBuilder, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType,
    Type,
};
use utoipa::openapi::RefOr;

/// Rust's `char::is_whitespace` (Unicode White_Space), as the inside of a
/// character class.
pub const WHITESPACE: &str =
    r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// Rust's `char::is_control` (Unicode Cc), as the inside of a class.
pub const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";

/// A text holding no control character and at least one that is not
/// whitespace.
pub fn printable_pattern() -> String {
    format!(r"^(?![\s\S]*[{CONTROL}])(?=[\s\S]*[^{WHITESPACE}{CONTROL}])")
}

/// Whether `s` holds nothing but whitespace.
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

/// A name: 1 to `max` characters, printable, not blank.
pub fn name(max: usize, nullable: bool) -> Object {
    string(nullable)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(printable_pattern()))
        .build()
}

/// Free text of at most `max` characters (blank means none).
pub fn text(max: usize, nullable: bool) -> Object {
    string(nullable).max_length(Some(max)).build()
}

fn custom_format(name: &str, nullable: bool, description: &str) -> Object {
    string(nullable)
        .format(Some(SchemaFormat::Custom(name.to_string())))
        .description(Some(description))
        .build()
}

fn array_of(item: Object, nullable: bool) -> Array {
    let ty = if nullable {
        SchemaType::from_iter([Type::Array, Type::Null])
    } else {
        SchemaType::Type(Type::Array)
    };
    ArrayBuilder::new().schema_type(ty).items(item).build()
}

const PHONE: &str = "A telephone number that is valid where it is dialled, in any common \
    spelling: E.164 (`+5511987654321`), national with or without the trunk prefix \
    (`(11) 98765-4321`, `011987654321`) or with a carrier code (`0 21 11 98765-4321`); \
    read in the desk's country when it has no country code. A national number written \
    without the trunk prefix whose area code is the country code (`(55) 5466-2455` in \
    Brazil) reads as an international one. Anything else is a 400.";

/// A telephone number in any spelling `directory::number::normalize` reads.
pub fn phone() -> Object {
    custom_format("phone", false, PHONE)
}

/// A telephone number as protocall writes one: E.164.
pub fn e164() -> Object {
    let mut o = phone();
    o.description = Some("A telephone number in E.164, e.g. `+5511987654321`.".into());
    o.pattern = Some(r"^\+[1-9][0-9]{1,14}$".into());
    o
}

/// Telephone numbers in E.164.
pub fn e164s() -> Array {
    array_of(e164(), false)
}

/// A list of telephone numbers.
pub fn phones() -> Array {
    array_of(phone(), false)
}

/// A CNPJ with valid check digits, bare or punctuated
/// (`11.222.333/0001-81`); blank or null for none.
pub fn cnpj_or_null() -> Object {
    custom_format(
        "cnpj",
        true,
        "A CNPJ: 14 digits whose two check digits are right, bare or with `.`, `/`, `-` \
         and spaces as people write it (`11.222.333/0001-81`); blank or null for none.",
    )
}

const ISO_WEEK: &str = "An ISO 8601 week, `YYYY-Www` (`2026-W49`), of a year from 1900 to \
    2999, that the year has: week 53 exists only in long years.";

/// An ISO week the year has (`parse_iso_week`).
pub fn iso_week() -> Object {
    let mut o = custom_format("iso-week", false, ISO_WEEK);
    o.pattern = Some(ISO_WEEK_PATTERN.to_string());
    o
}

/// An ISO week, or null.
pub fn iso_week_or_null() -> Object {
    let mut o = custom_format("iso-week", true, ISO_WEEK);
    o.pattern = Some(ISO_WEEK_PATTERN.to_string());
    o
}

/// The spelling of an ISO week; which years have week 53 is the format's.
/// Its years are `schedule::WEEK_YEARS`.
pub const ISO_WEEK_PATTERN: &str = "^(19|2[0-9])[0-9]{2}-W(0[1-9]|[1-4][0-9]|5[0-3])$";

const TIME_RANGE: &str = "`HH:MM-HH:MM`, e.g. `08:00-12:00`: hours 0-23 (one or two \
     digits), minutes 00-59, the end after the start (`24:00` is the end of the day); \
     spaces around the parts are ignored.";

/// A day's working hours: ranges `HH:MM-HH:MM` (hours may have one digit,
/// the end may be 24:00 and must come after the start); the ranges of one
/// day must not overlap (409).
pub fn time_ranges_or_null() -> Array {
    array_of(custom_format("time-range", false, TIME_RANGE), true)
}

/// One range `HH:MM-HH:MM`, as a day's working hours take them.
pub fn time_range() -> Object {
    custom_format("time-range", false, TIME_RANGE)
}

/// One range `HH:MM-HH:MM`, or null.
pub fn time_range_or_null() -> Object {
    custom_format("time-range", true, TIME_RANGE)
}

/// A person's name: 1 to `directory::NAME_MAX` characters, not blank.
pub fn person_name() -> Object {
    name(crate::directory::NAME_MAX, false)
}

/// A person's name, or null (unchanged).
pub fn person_name_or_null() -> Object {
    name(crate::directory::NAME_MAX, true)
}

/// What `directory::validate_email` takes: blank (none), or one `@` with
/// text on both sides, a dot inside the domain and no whitespace inside;
/// whitespace around it is ignored.
pub fn email_or_null() -> Object {
    let w = WHITESPACE;
    string(true)
        .pattern(Some(format!(
            r"^[{w}]*(?:[^@{w}]+@[^@.{w}][^@{w}]*\.[^@{w}]*[^@.{w}][{w}]*)?$"
        )))
        .build()
}

/// A SIP user name (`directory::validate_sip_username`).
pub fn sip_username() -> Object {
    string(false)
        .min_length(Some(1))
        .max_length(Some(crate::directory::SIP_USERNAME_MAX))
        .pattern(Some(r"^[A-Za-z0-9_.!~*'()&=+$,;?/-]+$"))
        .build()
}

/// A password (`directory::validate_password`).
pub fn password(nullable: bool) -> Object {
    string(nullable)
        .min_length(Some(crate::directory::PASSWORD_MIN))
        .max_length(Some(crate::directory::PASSWORD_MAX))
        .build()
}

/// The password of a new consultant.
pub fn new_password() -> Object {
    password(false)
}

/// A new password, or null (unchanged).
pub fn password_or_null() -> Object {
    password(true)
}

/// An IPv4 or IPv6 address.
pub fn ip() -> RefOr<Schema> {
    RefOr::T(Schema::AnyOf(
        AnyOfBuilder::new()
            .item(string(false).format(Some(SchemaFormat::Custom("ipv4".into()))))
            .item(string(false).format(Some(SchemaFormat::Custom("ipv6".into()))))
            .build(),
    ))
}

/// Longest protocol number, category and subject (`http::protocols`).
pub const PROTOCOL_NUMBER_MAX: usize = 64;
pub const PROTOCOL_CATEGORY_MAX: usize = 100;
pub const PROTOCOL_SUBJECT_MAX: usize = 500;

/// A protocol number: printable, at most 64 characters (blank or null
/// for one the store makes).
pub fn protocol_number() -> Object {
    string(true)
        .max_length(Some(PROTOCOL_NUMBER_MAX))
        .pattern(Some(format!(r"^(?![\s\S]*[{CONTROL}])")))
        .build()
}

/// A stored protocol number (`YYYY-NNNNNN` when the store made it).
pub fn protocol_number_out() -> Object {
    string(false)
        .max_length(Some(PROTOCOL_NUMBER_MAX))
        .pattern(Some(format!(r"^(?![\s\S]*[{CONTROL}])")))
        .build()
}

pub fn protocol_category() -> Object {
    text(PROTOCOL_CATEGORY_MAX, false)
}

pub fn protocol_subject() -> Object {
    text(PROTOCOL_SUBJECT_MAX, false)
}

/// In a patch: null or absent leaves the category as it is.
pub fn protocol_category_or_null() -> Object {
    text(PROTOCOL_CATEGORY_MAX, true)
}

/// In a patch: null or absent leaves the subject as it is.
pub fn protocol_subject_or_null() -> Object {
    text(PROTOCOL_SUBJECT_MAX, true)
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
    pub const CALLBACK_STATUSES: &[&str] = crate::tracking::service::CALLBACK_STATUSES;
    pub const CHANNELS: &[&str] = crate::tracking::service::CHANNELS;
    pub const CONTACT_DIRECTIONS: &[&str] = crate::tracking::states::ContactDirection::NAMES;
    pub const CONTACT_STATUSES: &[&str] = crate::http::contacts::STATUSES;
    /// What a PATCH may set a contact's status to (which ones the current
    /// status allows is the handler's business: 409 otherwise).
    pub const CONTACT_PATCH_STATUSES: &[&str] =
        &["scheduled", "open", "done", "missed", "cancelled"];
    pub const CONTACT_KINDS: &[&str] = crate::tracking::states::ContactKind::NAMES;
    pub const TASK_STATUSES: &[&str] = crate::tracking::states::TaskStatus::NAMES;
    /// What a PATCH may set a task's status to (running comes from start).
    pub const TASK_PATCH_STATUSES: &[&str] = &["planned", "done", "cancelled"];
    pub const TASK_SOURCES: &[&str] = crate::tracking::states::TaskSource::NAMES;
    pub const REPORT_FORMATS: &[&str] = crate::reports::render::ReportFormat::NAMES;
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
