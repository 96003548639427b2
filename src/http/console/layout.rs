//! The console's page shell (head, navigation, sign-out form), its error
//! pages, the one-line notices shown after an action, and how dates and
//! durations are written for people (`24/11/2026 09:30`, `1 h 05 min`).
//!
//! Every page is built here with maud, which escapes what it interpolates,
//! and goes out with a Content-Security-Policy that allows nothing but our
//! own stylesheet, our one script and its event stream, and forms posting
//! to ourselves: no inline script, nothing from elsewhere.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone};
use maud::{html, Markup, DOCTYPE};

use super::i18n::Lang;
use super::session::Session;
use crate::directory::Role;

const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
                   img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `24/11/2026 09:30` in both languages: the desk reads dates the
/// Brazilian way whatever the interface language.
pub fn when<Tz: TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%d/%m/%Y %H:%M").to_string()
}

/// `12 min`, `1 h 05 min`.
pub fn duration(lang: Lang, ms: i64) -> String {
    let total = ms.max(0) / 60_000;
    if total < 60 {
        lang.tf("duration.min", &[("m", &total.to_string())])
    } else {
        lang.tf(
            "duration.h_min",
            &[
                ("h", &(total / 60).to_string()),
                ("m", &format!("{:02}", total % 60)),
            ],
        )
    }
}

/// The notices an action may leave for the page it redirects to, by the
/// code in the redirect's query (`?ok=` or `?err=`). A fixed list: the
/// query can pick a notice but never write one.
const NOTICES: &[&str] = &[
    "presence",
    "task_started",
    "task_stopped",
    "contact_logged",
    "contact_started",
    "contact_stopped",
    "callback_done",
    "not_running",
    "overlap",
    "bad_time",
    "bad_span",
    "invalid",
    "unknown_category",
    "callback_times",
];

/// The notice's text for `code`, if it is one of ours.
pub fn notice(lang: Lang, code: &str) -> Option<&'static str> {
    NOTICES
        .iter()
        .find(|c| **c == code)
        .and_then(|c| lang.get(&format!("flash.{c}")))
}

/// A table that may scroll sideways on a phone: a focusable region (so a
/// keyboard can scroll it) named by its section's heading (`{id}-h`) and
/// the word "table", so its name differs from the section's.
pub fn scroll_table(lang: Lang, id: &str, headings: &[&str], rows: Markup) -> Markup {
    html! {
        div id=(format!("{id}-t")) class="scroll" tabindex="0" role="region"
            aria-labelledby=(format!("{id}-h {id}-t")) aria-label=(lang.t("a11y.table")) {
            table {
                thead { tr { @for h in headings { th scope="col" { (h) } } } }
                tbody { (rows) }
            }
        }
    }
}

/// A contact channel's name for people (the catalogue's; the word itself
/// for one it does not know).
pub fn channel_label(lang: Lang, channel: &str) -> &str {
    lang.get(&format!("channel.{channel}")).unwrap_or(channel)
}

/// A hidden field with the session's CSRF token: in every form.
pub fn csrf_field(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf()); }
}

/// A whole page. `session` is `None` on the sign-in page.
pub fn page(lang: Lang, title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("app.name")) }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                a class="skip" href="#main" { (lang.t("nav.skip")) }
                header {
                    span class="brand" { (lang.t("app.name")) }
                    @if let Some(s) = session {
                        nav aria-label=(lang.t("app.name")) {
                            a href="/" { (lang.t("nav.desk")) }
                            @if s.principal.role >= Role::Manager {
                                a href="/gestao" { (lang.t("nav.manager")) }
                            }
                            @if s.principal.role >= Role::Admin {
                                a href="/admin" { (lang.t("admin.nav_link")) }
                            }
                        }
                        form method="post" action="/logout" class="logout" {
                            (csrf_field(s))
                            span class="who" {
                                (lang.tf("nav.signed_in_as", &[("name", &s.info.name)]))
                            }
                            button type="submit" { (lang.t("nav.logout")) }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                footer {
                    nav aria-label=(lang.t("nav.language")) {
                        @for other in Lang::ALL {
                            @if other == lang {
                                span lang=(other.tag()) aria-current="true" { (other.t("lang.self")) }
                            } @else {
                                a href=(format!("/language?to={}", other.tag())) lang=(other.tag()) hreflang=(other.tag()) {
                                    (other.t("lang.self"))
                                }
                            }
                            " "
                        }
                    }
                }
            }
        }
    }
}

/// An HTML response with the console's headers.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut resp = (status, markup.into_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

/// A page saying what went wrong, in the request's language.
pub fn error_page(
    lang: Lang,
    session: Option<&Session>,
    status: StatusCode,
    message_key: &'static str,
) -> Response {
    let title = if status == StatusCode::FORBIDDEN {
        lang.t("error.forbidden.title")
    } else {
        lang.t("error.title")
    };
    let body = html! {
        p class="notice error" role="alert" { (lang.t(message_key)) }
        p { a href="/" { (lang.t("error.back")) } }
    };
    respond(status, page(lang, title, session, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations_read_the_brazilian_way() {
        let t = chrono_tz::America::Sao_Paulo
            .with_ymd_and_hms(2026, 11, 24, 9, 30, 0)
            .unwrap();
        assert_eq!(when(&t), "24/11/2026 09:30");
        assert_eq!(duration(Lang::PtBr, 12 * 60_000 + 59_000), "12 min");
        assert_eq!(duration(Lang::PtBr, 65 * 60_000), "1 h 05 min");
        assert_eq!(duration(Lang::En, -5), "0 min");
    }

    #[test]
    fn notices_come_from_the_list_only() {
        assert_eq!(notice(Lang::PtBr, "task_started"), Some("Tarefa iniciada."));
        assert_eq!(notice(Lang::PtBr, "<script>"), None);
        for code in NOTICES {
            assert!(notice(Lang::PtBr, code).is_some(), "{code}");
            assert!(notice(Lang::En, code).is_some(), "{code}");
        }
    }
}
