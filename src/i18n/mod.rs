//! Every word protocall shows people, one Fluent catalogue per language
//! (`pt-BR.ftl`, the desk's language and the default; `en.ftl`, on
//! request), and the Brazilian ways of writing dates and numbers.
//!
//! The catalogues are Project Fluent files read with `fluent-bundle`, so a
//! translator edits one plain text file per language and placeholders are
//! named (`{ $name }`). The code asks by dotted key (`presence.in_call`);
//! Fluent identifiers cannot hold dots, so the files write them as dashes
//! (`presence-in_call`). Both files are compiled into the binary: no
//! language can be missing at run time. The tests check that both hold the
//! same keys with the same placeholders, that they parse without error, and
//! that every key the sources ask for exists, so a missing translation
//! fails the tests, not a person at the desk.
//!
//! Machines get ISO forms (JSON, CSV); people get `24/11/2026 09:30` and
//! `1.234,5` in Portuguese, `1,234.5` in English.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, TimeZone};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use fluent_syntax::ast;

/// A language protocall speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    PtBr,
    En,
}

const PT_BR_FTL: &str = include_str!("pt-BR.ftl");
const EN_FTL: &str = include_str!("en.ftl");

/// One language's bundle and its messages without placeholders, resolved
/// once so that [`Lang::t`] hands out `&'static str` without formatting.
struct Catalogue {
    bundle: FluentBundle<&'static FluentResource>,
    plain: HashMap<&'static str, &'static str>,
}

fn parse(src: &'static str) -> FluentResource {
    // A catalogue that fails to parse keeps the entries that did parse;
    // the tests refuse such a file, so this only matters mid-edit.
    FluentResource::try_new(src.to_string()).unwrap_or_else(|(partial, _)| partial)
}

fn catalogue(tag: &str, res: &'static FluentResource) -> Catalogue {
    let mut bundle = FluentBundle::new_concurrent(vec![tag.parse().unwrap_or_default()]);
    // Isolation marks around placeholders help right-to-left scripts; ours
    // are not, and the marks would end up in CSV cells and mail subjects.
    bundle.set_use_isolating(false);
    // Duplicate ids are refused by the tests; the first one wins here.
    let _ = bundle.add_resource(res);
    let mut plain = HashMap::new();
    for entry in res.entries() {
        if let ast::Entry::Message(m) = entry {
            if let Some(ast::Pattern { elements }) = &m.value {
                if let [ast::PatternElement::TextElement { value }] = elements.as_slice() {
                    plain.insert(m.id.name, *value);
                }
            }
        }
    }
    Catalogue { bundle, plain }
}

static PT_BR_RES: LazyLock<FluentResource> = LazyLock::new(|| parse(PT_BR_FTL));
static EN_RES: LazyLock<FluentResource> = LazyLock::new(|| parse(EN_FTL));
static PT_BR: LazyLock<Catalogue> =
    LazyLock::new(|| catalogue("pt-BR", LazyLock::force(&PT_BR_RES)));
static EN: LazyLock<Catalogue> = LazyLock::new(|| catalogue("en", LazyLock::force(&EN_RES)));

fn fluent_id(key: &str) -> String {
    key.replace('.', "-")
}

impl Lang {
    /// The BCP 47 tag (`lang` attributes, `Content-Language`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::PtBr => "pt-BR",
            Lang::En => "en",
        }
    }

    /// Every language, in the order offered to people.
    pub const ALL: [Lang; 2] = [Lang::PtBr, Lang::En];

    /// The language a tag names (`pt-BR`, `pt`, `en`, `en-GB`, any case),
    /// if we speak it.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "pt" => Some(Lang::PtBr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language an `Accept-Language` value asks for: the first of its
    /// ranges (by quality) that we speak; `fallback` when none is or there
    /// is no header.
    pub fn from_accept_language(value: Option<&str>, fallback: Lang) -> Lang {
        let Some(value) = value else {
            return fallback;
        };
        let mut ranges: Vec<(f32, usize, &str)> = value
            .split(',')
            .take(20)
            .enumerate()
            .filter_map(|(i, part)| {
                let mut bits = part.split(';');
                let tag = bits.next()?.trim();
                let q = bits
                    .find_map(|b| b.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (q > 0.0).then_some((q, i, tag))
            })
            .collect();
        // Highest quality first; equal qualities keep the header's order.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranges
            .into_iter()
            .find_map(|(_, _, tag)| Lang::parse(tag))
            .unwrap_or(fallback)
    }

    fn catalogue(self) -> &'static Catalogue {
        match self {
            Lang::PtBr => &PT_BR,
            Lang::En => &EN,
        }
    }

    /// The text for `key` (a message without placeholders), if this
    /// catalogue has it.
    pub fn get(self, key: &str) -> Option<&'static str> {
        self.catalogue().plain.get(fluent_id(key).as_str()).copied()
    }

    /// The text for `key`; the key itself when missing (the tests keep
    /// that from happening for keys written in the code).
    pub fn t(self, key: &'static str) -> &'static str {
        self.get(key).unwrap_or(key)
    }

    /// The text for `key` with its `{ $name }` placeholders filled in;
    /// the key itself when missing.
    pub fn tf(self, key: &str, args: &[(&str, &str)]) -> String {
        let cat = self.catalogue();
        let Some(pattern) = cat
            .bundle
            .get_message(&fluent_id(key))
            .and_then(|m| m.value())
        else {
            return key.to_string();
        };
        let mut fargs = FluentArgs::new();
        for (name, value) in args {
            fargs.set(*name, *value);
        }
        let mut errors = Vec::new();
        cat.bundle
            .format_pattern(pattern, Some(&fargs), &mut errors)
            .into_owned()
    }

    /// A date and time for people: `24/11/2026 09:30` in both languages,
    /// because the desk reads dates the Brazilian way whatever the
    /// interface language.
    pub fn date_time<Tz: TimeZone>(self, t: &DateTime<Tz>) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        t.format("%d/%m/%Y %H:%M").to_string()
    }

    /// A date for people: `24/11/2026`.
    pub fn date<Tz: TimeZone>(self, t: &DateTime<Tz>) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        t.format("%d/%m/%Y").to_string()
    }

    /// A number for people with `decimals` places: `1.234,5` in
    /// Portuguese, `1,234.5` in English.
    pub fn number(self, x: f64, decimals: usize) -> String {
        let (thousands, point) = match self {
            Lang::PtBr => ('.', ','),
            Lang::En => (',', '.'),
        };
        let plain = format!("{:.*}", decimals, x.abs());
        let (int, frac) = plain.split_once('.').unwrap_or((plain.as_str(), ""));
        let mut out = String::with_capacity(plain.len() + plain.len() / 3 + 1);
        // A value that rounds to zero is written without a sign.
        if x < 0.0 && plain.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            out.push('-');
        }
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                out.push(thousands);
            }
            out.push(c);
        }
        if !frac.is_empty() {
            out.push(point);
            out.push_str(frac);
        }
        out
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}

#[cfg(test)]
mod tests;
