//! How a console request picks its language: the person's own choice (the
//! `lang` cookie the language switch sets), else the browser's
//! `Accept-Language`, else `locale.language`. The words themselves live in
//! the crate's Fluent catalogues (`crate::i18n`).

use axum::http::{header, HeaderMap};

pub use crate::i18n::Lang;

/// The cookie the console's language switch sets (not secret, a year).
pub const LANG_COOKIE: &str = "protocall_lang";

/// The language for a request with these headers, `fallback` being the
/// configured `locale.language`.
pub fn lang_of(headers: &HeaderMap, fallback: Lang) -> Lang {
    if let Some(l) = super::session::cookie(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v)) {
        return l;
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::from_accept_language(accept, fallback)
}
