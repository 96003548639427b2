//! API tokens at `/admin/tokens`: the list (never a secret), a form to make
//! one, the page that shows a new token's secret once, and revoking with a
//! confirmation step. Making and revoking go through the API's own
//! `tokens::issue` / `tokens::withdraw`.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use maud::html;
use serde::Deserialize;

use super::handover::Outcome;
use super::{back, not_found, refusal, refused, role_label, unavailable, Notice};
use crate::directory::{Consultant, Role};
use crate::http::console::i18n::Lang;
use crate::http::console::layout::{csrf_field, scroll_table, when};
use crate::http::console::session::Session;
use crate::http::tokens::{issue, withdraw};
use crate::http::AppState;
use crate::store::{
    ConsultantQuery, NewToken, StoreError, TokenInfo, TokenKind, TokenStatus, MAX_PAGE,
};
use crate::tracking::when::parse_when;

const PAGE: &str = "/admin/tokens";

fn status_label(lang: Lang, s: TokenStatus) -> &'static str {
    match s {
        TokenStatus::Active => lang.t("admin.tokens.status_active"),
        TokenStatus::Expired => lang.t("admin.tokens.status_expired"),
        TokenStatus::Revoked => lang.t("admin.tokens.status_revoked"),
    }
}

fn kind_label(lang: Lang, k: TokenKind) -> &'static str {
    match k {
        TokenKind::Api => lang.t("admin.tokens.kind_api"),
        TokenKind::Feed => lang.t("admin.tokens.kind_feed"),
    }
}

fn owner_cell(lang: Lang, t: &TokenInfo) -> maud::Markup {
    html! {
        @match &t.owner {
            Some(o) => (o),
            None => span class="muted" { (lang.t("admin.tokens.no_owner")) },
        }
    }
}

fn list(s: &Session, tokens: &[TokenInfo]) -> maud::Markup {
    let lang = s.lang;
    html! {
        section class="card wide" aria-labelledby="list-h" {
            h2 id="list-h" { (lang.t("admin.tokens.list")) }
            @if tokens.is_empty() {
                p { (lang.t("admin.tokens.none")) }
            } @else {
                (scroll_table(lang, "list", &[lang.t("admin.tokens.name"), lang.t("admin.tokens.kind"), lang.t("admin.tokens.role"), lang.t("admin.tokens.owner"), lang.t("admin.tokens.created"), lang.t("admin.tokens.expires"), lang.t("admin.tokens.status"), lang.t("admin.tokens.action")], html! {
                            @for t in tokens {
                                tr {
                                    td { (t.name) }
                                    td { (kind_label(lang, t.kind)) }
                                    td { (role_label(lang, t.role)) }
                                    td { (owner_cell(lang, t)) }
                                    td { (when(&t.created_at)) }
                                    td {
                                        @match &t.expires_at {
                                            Some(e) => (when(e)),
                                            None => span class="muted" { (lang.t("admin.tokens.never")) },
                                        }
                                    }
                                    td {
                                        (status_label(lang, t.status))
                                        @if let Some(r) = &t.revoked_at {
                                            " " span class="muted" { (when(r)) }
                                        }
                                    }
                                    td {
                                        @if t.status != TokenStatus::Revoked {
                                            a href=(format!("{PAGE}/{}/revoke", t.id))
                                                aria-label=(lang.tf("admin.tokens.revoke_named", &[("name", &t.name)])) {
                                                (lang.t("admin.tokens.revoke"))
                                            }
                                        }
                                    }
                                }
                            }
                }))
                p class="hint" { (lang.t("admin.tokens.last_used_unknown")) }
            }
        }
    }
}

fn create_form(s: &Session, people: &[Consultant]) -> maud::Markup {
    let lang = s.lang;
    html! {
        section class="card wide" aria-labelledby="new-h" {
            h2 id="new-h" { (lang.t("admin.tokens.new")) }
            form method="post" action=(PAGE) class="stack" {
                (csrf_field(s))
                label for="token-name" { (lang.t("admin.tokens.name")) }
                input id="token-name" name="name" type="text" required maxlength="100"
                    autocomplete="off" aria-describedby="token-name-hint";
                p class="hint" id="token-name-hint" { (lang.t("admin.tokens.name_hint")) }
                label for="token-role" { (lang.t("admin.tokens.role")) }
                select id="token-role" name="role" required {
                    @for r in Role::ALL {
                        option value=(r.as_str()) { (role_label(lang, r)) }
                    }
                }
                label for="token-owner" { (lang.t("admin.tokens.owner")) }
                select id="token-owner" name="owner" aria-describedby="token-owner-hint" {
                    option value="" { (lang.t("admin.tokens.owner_none")) }
                    @for p in people {
                        option value=(p.id) {
                            (p.name) " (" (p.sip_username) ", " (role_label(lang, p.role)) ")"
                        }
                    }
                }
                p class="hint" id="token-owner-hint" { (lang.t("admin.tokens.owner_hint")) }
                label for="token-expires" { (lang.t("admin.tokens.expires_optional")) }
                input id="token-expires" name="expires" type="text" inputmode="numeric"
                    aria-describedby="token-expires-hint";
                p class="hint" id="token-expires-hint" { (lang.t("admin.tokens.expires_hint")) }
                button type="submit" { (lang.t("admin.tokens.create")) }
            }
        }
    }
}

async fn active_people(st: &AppState) -> Result<Vec<Consultant>, StoreError> {
    Ok(st
        .store
        .list_consultants(&ConsultantQuery {
            active: Some(true),
            limit: MAX_PAGE,
            offset: 0,
        })
        .await?
        .items)
}

/// `GET /admin/tokens`.
pub async fn page(State(st): State<AppState>, s: Session, Query(n): Query<Notice>) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let lang = s.lang;
    let tokens = match st.store.list_tokens().await {
        Ok(t) => t,
        Err(e) => return unavailable(&s, &e),
    };
    let people = match active_people(&st).await {
        Ok(p) => p,
        Err(e) => return unavailable(&s, &e),
    };
    let body = html! {
        (n.render(lang))
        p { (lang.t("admin.tokens.intro")) }
        div class="grid" {
            (list(&s, &tokens))
            (create_form(&s, &people))
        }
    };
    super::shell(&s, PAGE, lang.t("admin.tokens.title"), body)
}

#[derive(Debug, Deserialize)]
pub struct NewTokenForm {
    name: String,
    role: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    expires: String,
}

/// `POST /admin/tokens`: makes the token and hands its secret to
/// `/admin/tokens/created`, the one page that shows it.
pub async fn create(
    State(st): State<AppState>,
    s: Session,
    f: Result<Form<NewTokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let Ok(Form(f)) = f else {
        return back(PAGE, "err", "invalid");
    };
    let Some(role) = Role::parse(&f.role) else {
        return back(PAGE, "err", "invalid");
    };
    let consultant_id = match f.owner.trim() {
        "" => None,
        id => match id.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => return back(PAGE, "err", "invalid"),
        },
    };
    let expires_at_ms = match f.expires.trim() {
        "" => None,
        text => {
            let now = Utc::now().with_timezone(&st.store.tz());
            match parse_when(text, now) {
                Ok(t) => Some(t.timestamp_millis()),
                Err(_) => return back(PAGE, "err", "bad_expiry"),
            }
        }
    };
    let new = NewToken {
        name: f.name,
        role,
        consultant_id,
        expires_at_ms,
    };
    let (info, secret) = match issue(&st, &s.principal, &new).await {
        Ok(made) => made,
        Err(StoreError::Conflict(_)) => return back(PAGE, "err", "token_name_taken"),
        Err(e) => return refusal(&s, e, PAGE, "token_refused"),
    };
    let id = info.id;
    match st
        .console
        .handover
        .put(s.csrf(), Outcome::Token { info, secret })
    {
        Some(h) => Redirect::to(&format!("{PAGE}/created?r={h}")).into_response(),
        None => {
            // Made but not showable: revoked rather than left working
            // with a secret nobody ever saw.
            if let Err(e) = withdraw(&st, &s.principal, id).await {
                tracing::error!(error = %e, token = id, "unshown token not revoked");
            }
            back(PAGE, "err", "token_gone")
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Handle {
    #[serde(default)]
    r: String,
}

/// `GET /admin/tokens/created?r=…`: the new token's secret, this once.
pub async fn created(State(st): State<AppState>, s: Session, Query(h): Query<Handle>) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let lang = s.lang;
    let Some(Outcome::Token { info, secret }) = st.console.handover.take(s.csrf(), &h.r) else {
        return back(PAGE, "err", "token_gone");
    };
    let body = html! {
        p class="notice ok" role="status" {
            (lang.tf("admin.tokens.created_ok", &[("name", &info.name)]))
        }
        section class="card" aria-labelledby="secret-h" {
            h2 id="secret-h" { (lang.t("admin.tokens.secret")) }
            p class="notice error" role="alert" { (lang.t("admin.tokens.secret_once")) }
            label for="secret" { (lang.t("admin.tokens.secret_label")) }
            input id="secret" type="text" readonly value=(secret) autocomplete="off"
                spellcheck="false" aria-describedby="secret-use";
            p class="hint" id="secret-use" { (lang.t("admin.tokens.secret_use")) }
            dl class="who" {
                dt { (lang.t("admin.tokens.role")) } dd { (role_label(lang, info.role)) }
                dt { (lang.t("admin.tokens.owner")) } dd { (owner_cell(lang, &info)) }
                dt { (lang.t("admin.tokens.expires")) }
                dd {
                    @match &info.expires_at {
                        Some(e) => (when(e)),
                        None => (lang.t("admin.tokens.never")),
                    }
                }
            }
            p { a href=(PAGE) { (lang.t("admin.tokens.back")) } }
        }
    };
    super::shell(&s, PAGE, lang.t("admin.tokens.created_title"), body)
}

fn token_id(id: &str) -> Option<i64> {
    id.parse().ok()
}

/// `GET /admin/tokens/{id}/revoke`: what will stop working, and the button.
pub async fn confirm_revoke(
    State(st): State<AppState>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let lang = s.lang;
    let Some(id) = token_id(&id) else {
        return not_found(&s);
    };
    let t = match st.store.get_token(id).await {
        Ok(t) => t,
        Err(StoreError::NotFound { .. }) => return not_found(&s),
        Err(e) => return unavailable(&s, &e),
    };
    if t.status == TokenStatus::Revoked {
        return back(PAGE, "err", "token_already_revoked");
    }
    let body = html! {
        section class="card" aria-labelledby="confirm-h" {
            h2 id="confirm-h" { (lang.tf("admin.tokens.confirm", &[("name", &t.name)])) }
            dl class="who" {
                dt { (lang.t("admin.tokens.kind")) } dd { (kind_label(lang, t.kind)) }
                dt { (lang.t("admin.tokens.role")) } dd { (role_label(lang, t.role)) }
                dt { (lang.t("admin.tokens.owner")) } dd { (owner_cell(lang, &t)) }
                dt { (lang.t("admin.tokens.created")) } dd { (when(&t.created_at)) }
            }
            p { (lang.t("admin.tokens.confirm_effect")) }
            form method="post" action=(format!("{PAGE}/{id}/revoke")) class="inline" {
                (csrf_field(&s))
                button type="submit" class="stop" { (lang.t("admin.tokens.revoke_confirm")) }
                a href=(PAGE) { (lang.t("admin.cancel")) }
            }
        }
    };
    super::shell(&s, PAGE, lang.t("admin.tokens.revoke_title"), body)
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke(State(st): State<AppState>, s: Session, Path(id): Path<String>) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let Some(id) = token_id(&id) else {
        return not_found(&s);
    };
    match withdraw(&st, &s.principal, id).await {
        Ok(_) => back(PAGE, "ok", "token_revoked"),
        Err(StoreError::NotFound { .. }) => back(PAGE, "err", "not_found"),
        Err(e) => refusal(&s, e, PAGE, "invalid"),
    }
}
