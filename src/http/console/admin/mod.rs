//! The admin's pages at `/admin`: API tokens (`tokens`), the desk's people
//! and their roles (`people`), and the directory import (`import`), with
//! the one-shot results a POST hands to its page (`handover`).
//!
//! Every page and every POST needs the admin role, checked on the
//! session's principal with the same `Principal::require` the API uses
//! (managers and consultants get the 403 page). Writes call the functions
//! the API handlers call (`tokens::issue`/`withdraw`,
//! `consultants::add`/`change`, `lookup::run_import`) as the signed-in
//! person, so the rules, the refusals and the audit trail are the API's.
//! Forms are POST-redirect-GET with a notice code from the fixed list
//! below.

pub mod handover;
mod import;
mod people;
mod tokens;

pub use import::PATH as IMPORT_PATH;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::i18n::Lang;
use super::layout;
use super::session::Session;
use crate::directory::Role;
use crate::http::AppState;
use crate::store::StoreError;

/// The admin's routes, to sit behind the session gate.
pub fn routes(st: &AppState) -> Router<AppState> {
    // An uploaded file may be as large as the API takes for an import;
    // the form's other fields and the multipart framing come on top.
    let upload_limit = st
        .console
        .upload_bytes
        .saturating_add(super::session::MAX_FORM_BYTES);
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/tokens", get(tokens::page).post(tokens::create))
        .route("/admin/tokens/created", get(tokens::created))
        .route(
            "/admin/tokens/{id}/revoke",
            get(tokens::confirm_revoke).post(tokens::revoke),
        )
        .route("/admin/consultants", get(people::page).post(people::create))
        .route("/admin/consultants/{id}/role", post(people::set_role))
        .route("/admin/consultants/{id}/active", post(people::set_active))
        .route(
            IMPORT_PATH,
            get(import::page)
                .post(import::submit)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
}

/// The notices an admin action may leave, by the code in its redirect's
/// query (`?ok=` / `?err=`); texts are `admin.notice.<code>`. A fixed list,
/// as the desk's: the query picks a notice, never writes one.
const NOTICES: &[&str] = &[
    "token_revoked",
    "token_already_revoked",
    "token_gone",
    "token_name_taken",
    "token_refused",
    "bad_expiry",
    "person_created",
    "role_changed",
    "activated",
    "deactivated",
    "own_rights",
    "username_taken",
    "bad_name",
    "bad_username",
    "bad_password",
    "bad_email",
    "invalid",
    "not_found",
    "import_empty",
    "import_both",
    "import_too_large",
    "import_gone",
    "imported",
    "import_refused",
];

fn notice(lang: Lang, code: &str) -> Option<&'static str> {
    NOTICES
        .iter()
        .find(|c| **c == code)
        .and_then(|c| lang.get(&format!("admin.notice.{c}")))
}

/// `?ok=` / `?err=` on an admin page.
#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    ok: Option<String>,
    err: Option<String>,
}

impl Notice {
    /// The notices the query names, as the top of a page.
    fn render(&self, lang: Lang) -> Markup {
        let ok = self.ok.as_deref().and_then(|c| notice(lang, c));
        let err = self.err.as_deref().and_then(|c| notice(lang, c));
        html! {
            @if let Some(m) = ok { p class="notice ok" role="status" { (m) } }
            @if let Some(m) = err { p class="notice error" role="alert" { (m) } }
        }
    }
}

/// Back to an admin page with a notice.
fn back(page: &str, kind: &str, code: &str) -> Response {
    Redirect::to(&format!("{page}?{kind}={code}")).into_response()
}

/// The 403 page for anyone but an admin.
fn refused(s: &Session) -> Option<Response> {
    s.principal
        .require(Role::Admin)
        .err()
        .map(|_| layout::error_page(s.lang, Some(s), StatusCode::FORBIDDEN, "admin.forbidden"))
}

fn unavailable(s: &Session, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "admin page or action failed in the store");
    layout::error_page(
        s.lang,
        Some(s),
        StatusCode::SERVICE_UNAVAILABLE,
        "error.unavailable",
    )
}

fn not_found(s: &Session) -> Response {
    layout::error_page(s.lang, Some(s), StatusCode::NOT_FOUND, "error.not_found")
}

/// A store refusal that is about the data sent goes back to `page` with
/// `code`; anything else is the store failing.
fn refusal(s: &Session, e: StoreError, page: &str, code: &str) -> Response {
    if e.is_data_error() || matches!(e, StoreError::NotFound { .. }) {
        back(page, "err", code)
    } else {
        unavailable(s, &e)
    }
}

pub fn role_label(lang: Lang, r: Role) -> &'static str {
    match r {
        Role::Consultant => lang.t("admin.role.consultant"),
        Role::Manager => lang.t("admin.role.manager"),
        Role::Admin => lang.t("admin.role.admin"),
    }
}

/// The three parts, `current` marked for assistive technology.
fn subnav(lang: Lang, current: &str) -> Markup {
    let parts = [
        ("/admin/tokens", lang.t("admin.tokens.title")),
        ("/admin/consultants", lang.t("admin.people.title")),
        (IMPORT_PATH, lang.t("admin.import.title")),
    ];
    html! {
        nav class="subnav" aria-label=(lang.t("admin.nav")) {
            a href="/admin" aria-current=[(current == "/admin").then_some("page")] {
                (lang.t("admin.title"))
            }
            @for (href, label) in parts {
                a href=(href) aria-current=[(current == href).then_some("page")] { (label) }
            }
        }
    }
}

/// An admin page in the console's shell.
fn shell(s: &Session, current: &str, title: &str, body: Markup) -> Response {
    let lang = s.lang;
    let body = html! {
        (subnav(lang, current))
        (body)
    };
    layout::respond(StatusCode::OK, layout::page(lang, title, Some(s), body))
}

/// `/admin`: what each part is for, with how many live tokens and active
/// people there are.
pub async fn overview(
    axum::extract::State(st): axum::extract::State<AppState>,
    s: Session,
) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let lang = s.lang;
    let tokens = match st.store.list_tokens().await {
        Ok(t) => t,
        Err(e) => return unavailable(&s, &e),
    };
    let live = tokens
        .iter()
        .filter(|t| t.status == crate::store::TokenStatus::Active)
        .count();
    let people = match st
        .store
        .list_consultants(&crate::store::ConsultantQuery {
            active: Some(true),
            limit: 1,
            offset: 0,
        })
        .await
    {
        Ok(p) => p.total,
        Err(e) => return unavailable(&s, &e),
    };
    let body = html! {
        div class="grid" {
            section class="card" aria-labelledby="tokens-h" {
                h2 id="tokens-h" { a href="/admin/tokens" { (lang.t("admin.tokens.title")) } }
                p { (lang.t("admin.overview.tokens")) }
                p class="hint" { (lang.tf("admin.overview.tokens_live", &[("n", &live.to_string())])) }
            }
            section class="card" aria-labelledby="people-h" {
                h2 id="people-h" { a href="/admin/consultants" { (lang.t("admin.people.title")) } }
                p { (lang.t("admin.overview.people")) }
                p class="hint" { (lang.tf("admin.overview.people_active", &[("n", &people.to_string())])) }
            }
            section class="card" aria-labelledby="import-h" {
                h2 id="import-h" { a href=(IMPORT_PATH) { (lang.t("admin.import.title")) } }
                p { (lang.t("admin.overview.import")) }
            }
        }
    };
    shell(&s, "/admin", lang.t("admin.title"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_come_from_the_list_and_exist_in_both_languages() {
        for code in NOTICES {
            assert!(notice(Lang::PtBr, code).is_some(), "pt-BR {code}");
            assert!(notice(Lang::En, code).is_some(), "en {code}");
        }
        assert_eq!(notice(Lang::PtBr, "<b>"), None);
        // Keys handed to the error page, which the source scan cannot see.
        for l in Lang::ALL {
            assert!(l.get("admin.forbidden").is_some());
        }
    }
}
