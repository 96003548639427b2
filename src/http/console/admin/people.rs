//! The desk's people at `/admin/consultants`: everyone with their SIP
//! username, role, whether they are active and their presence; adding a
//! person (the password becomes digest HA1 values, as through the API),
//! changing a role, deactivating and reactivating. All writes go through
//! the API's `consultants::add` / `consultants::change`, which also refuse
//! an admin lowering their own role or deactivating themself.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::{back, refusal, refused, role_label, unavailable, Notice};
use crate::directory::{default_capacity, Consultant, ConsultantPatch, NewConsultant, Role};
use crate::http::console::desk::presence_label;
use crate::http::console::i18n::Lang;
use crate::http::console::layout::{csrf_field, scroll_table};
use crate::http::console::session::Session;
use crate::http::consultants::{add, change, PeopleError};
use crate::http::AppState;
use crate::store::{ConsultantQuery, StoreError, MAX_PAGE};

const PAGE: &str = "/admin/consultants";

fn presence_cell(st: &AppState, lang: Lang, c: &Consultant) -> Markup {
    html! {
        @if !c.active {
            span class="muted" { (lang.t("admin.people.inactive_presence")) }
        } @else if st.in_call.contains(&c.sip_username) {
            (lang.t("presence.in_call"))
        } @else {
            (presence_label(lang, c.presence))
        }
    }
}

fn role_cell(s: &Session, c: &Consultant) -> Markup {
    let lang = s.lang;
    if c.id == s.consultant_id() {
        return html! {
            (role_label(lang, c.role))
            p class="hint" { (lang.t("admin.people.own_role")) }
        };
    }
    let field = format!("role-{}", c.id);
    html! {
        form method="post" action=(format!("{PAGE}/{}/role", c.id)) class="inline" {
            (csrf_field(s))
            label for=(field) class="sr-only" {
                (lang.tf("admin.people.role_of", &[("name", &c.name)]))
            }
            select id=(field) name="role" {
                @for r in Role::ALL {
                    option value=(r.as_str()) selected[r == c.role] { (role_label(lang, r)) }
                }
            }
            button type="submit" { (lang.t("admin.people.change_role")) }
        }
    }
}

fn active_cell(s: &Session, c: &Consultant) -> Markup {
    let lang = s.lang;
    html! {
        @if c.active { (lang.t("admin.people.yes")) } @else { (lang.t("admin.people.no")) }
        @if c.id == s.consultant_id() {
            p class="hint" { (lang.t("admin.people.own_active")) }
        } @else {
            form method="post" action=(format!("{PAGE}/{}/active", c.id)) {
                (csrf_field(s))
                input type="hidden" name="active" value=(if c.active { "false" } else { "true" });
                @if c.active {
                    button type="submit" class="stop"
                        aria-label=(lang.tf("admin.people.deactivate_named", &[("name", &c.name)])) {
                        (lang.t("admin.people.deactivate"))
                    }
                } @else {
                    button type="submit"
                        aria-label=(lang.tf("admin.people.reactivate_named", &[("name", &c.name)])) {
                        (lang.t("admin.people.reactivate"))
                    }
                }
            }
        }
    }
}

fn list(st: &AppState, s: &Session, people: &[Consultant], total: i64) -> Markup {
    let lang = s.lang;
    html! {
        section class="card wide" aria-labelledby="people-h" {
            h2 id="people-h" { (lang.t("admin.people.list")) }
            @if people.is_empty() {
                p { (lang.t("admin.people.none")) }
            } @else {
                (scroll_table(lang, "people", &[lang.t("admin.people.name"), lang.t("admin.people.username"), lang.t("admin.people.role"), lang.t("admin.people.active"), lang.t("admin.people.presence")], html! {
                            @for c in people {
                                tr {
                                    th scope="row" { (c.name) }
                                    td { (c.sip_username) }
                                    td { (role_cell(s, c)) }
                                    td { (active_cell(s, c)) }
                                    td { (presence_cell(st, lang, c)) }
                                }
                            }
                }))
                @if total > people.len() as i64 {
                    p class="hint" {
                        (lang.tf("admin.people.first_n", &[
                            ("n", &people.len().to_string()),
                            ("total", &total.to_string()),
                        ]))
                    }
                }
            }
        }
    }
}

fn create_form(s: &Session) -> Markup {
    let lang = s.lang;
    html! {
        section class="card wide" aria-labelledby="new-h" {
            h2 id="new-h" { (lang.t("admin.people.new")) }
            form method="post" action=(PAGE) class="stack" {
                (csrf_field(s))
                label for="new-name" { (lang.t("admin.people.name")) }
                input id="new-name" name="name" type="text" required maxlength="200" autocomplete="off";
                label for="new-username" { (lang.t("admin.people.username")) }
                input id="new-username" name="sip_username" type="text" required maxlength="64"
                    autocomplete="off" autocapitalize="none" spellcheck="false"
                    aria-describedby="new-username-hint";
                p class="hint" id="new-username-hint" { (lang.t("admin.people.username_hint")) }
                label for="new-password" { (lang.t("admin.people.password")) }
                input id="new-password" name="password" type="password" required minlength="8"
                    maxlength="256" autocomplete="new-password" aria-describedby="new-password-hint";
                p class="hint" id="new-password-hint" { (lang.t("admin.people.password_hint")) }
                label for="new-email" { (lang.t("admin.people.email")) }
                input id="new-email" name="email" type="email" maxlength="200" autocomplete="off";
                label for="new-role" { (lang.t("admin.people.role")) }
                select id="new-role" name="role" {
                    @for r in Role::ALL {
                        option value=(r.as_str()) selected[r == Role::Consultant] { (role_label(lang, r)) }
                    }
                }
                button type="submit" { (lang.t("admin.people.create")) }
            }
        }
    }
}

/// `GET /admin/consultants`.
pub async fn page(State(st): State<AppState>, s: Session, Query(n): Query<Notice>) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let lang = s.lang;
    let people = match st
        .store
        .list_consultants(&ConsultantQuery {
            active: None,
            limit: MAX_PAGE,
            offset: 0,
        })
        .await
    {
        Ok(p) => p,
        Err(e) => return unavailable(&s, &e),
    };
    let body = html! {
        (n.render(lang))
        p { (lang.t("admin.people.intro")) }
        div class="grid" {
            (list(&st, &s, &people.items, people.total))
            (create_form(&s))
        }
    };
    super::shell(&s, PAGE, lang.t("admin.people.title"), body)
}

/// Where a refused change sends the admin back to, and with which notice.
fn refused_change(s: &Session, e: PeopleError) -> Response {
    match e {
        PeopleError::Own { .. } => back(PAGE, "err", "own_rights"),
        PeopleError::Field(f) => back(
            PAGE,
            "err",
            match f.field.as_str() {
                "name" => "bad_name",
                "sip_username" => "bad_username",
                "password" => "bad_password",
                "email" => "bad_email",
                _ => "invalid",
            },
        ),
        PeopleError::Store(StoreError::Conflict(_)) => back(PAGE, "err", "username_taken"),
        PeopleError::Store(StoreError::NotFound { .. }) => back(PAGE, "err", "not_found"),
        PeopleError::Store(e) => refusal(s, e, PAGE, "invalid"),
    }
}

#[derive(Debug, Deserialize)]
pub struct NewPersonForm {
    name: String,
    sip_username: String,
    password: String,
    #[serde(default)]
    email: String,
    role: String,
}

/// `POST /admin/consultants`.
pub async fn create(
    State(st): State<AppState>,
    s: Session,
    f: Result<Form<NewPersonForm>, axum::extract::rejection::FormRejection>,
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
    let new = NewConsultant {
        name: f.name,
        sip_username: f.sip_username,
        password: f.password,
        email: Some(f.email).filter(|e| !e.trim().is_empty()),
        weekly_capacity_hours: default_capacity(),
        active: true,
        role,
    };
    match add(&st, &s.principal, &new).await {
        Ok(_) => back(PAGE, "ok", "person_created"),
        Err(e) => refused_change(&s, e),
    }
}

fn person_id(id: &str) -> Option<i64> {
    id.parse().ok()
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    role: String,
}

/// `POST /admin/consultants/{id}/role`.
pub async fn set_role(
    State(st): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    f: Result<Form<RoleForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let (Some(id), Ok(Form(f))) = (person_id(&id), f) else {
        return back(PAGE, "err", "invalid");
    };
    let Some(role) = Role::parse(&f.role) else {
        return back(PAGE, "err", "invalid");
    };
    let patch = ConsultantPatch {
        role: Some(role),
        ..Default::default()
    };
    match change(&st, &s.principal, id, &patch).await {
        Ok(_) => back(PAGE, "ok", "role_changed"),
        Err(e) => refused_change(&s, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    active: String,
}

/// `POST /admin/consultants/{id}/active`: `active=false` deactivates (the
/// person can no longer sign in, register a phone or use a token; their
/// records stay), `active=true` reactivates.
pub async fn set_active(
    State(st): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    f: Result<Form<ActiveForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let (Some(id), Ok(Form(f))) = (person_id(&id), f) else {
        return back(PAGE, "err", "invalid");
    };
    let active = match f.active.as_str() {
        "true" => true,
        "false" => false,
        _ => return back(PAGE, "err", "invalid"),
    };
    let patch = ConsultantPatch {
        active: Some(active),
        ..Default::default()
    };
    match change(&st, &s.principal, id, &patch).await {
        Ok(_) => back(PAGE, "ok", if active { "activated" } else { "deactivated" }),
        Err(e) => refused_change(&s, e),
    }
}
