//! "A mesa agora", the manager's page at `/gestao`: the live board (see
//! `live`: who is available, in a call and with whom, ringing, on
//! do-not-disturb, away or offline; calls ringing and waiting; the last
//! hour's service level), protocols and call-backs past their deadline,
//! protocol events from the system of record waiting for a match, and
//! the weekly report (the API's own HTML and downloads, served under the
//! session at `/gestao/report`).
//!
//! Both need the manager role, checked on the session's principal with the
//! same `Principal::require` the API uses; a consultant gets a 403 page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use maud::html;
use serde::Deserialize;

use super::desk::callback_cells;
use super::i18n::Lang;
use super::layout::{self, respond, scroll_table, when};
use super::session::Session;
use crate::directory::Role;
use crate::http::reports::WeeklyParams;
use crate::http::AppState;
use crate::reports::render::ReportFormat;
use crate::reports::weekly::default_weeks;
use crate::store::{CallbackQuery, ConsultantQuery, StoreError};
use crate::tracking::states::CallbackStatus;

fn refused(s: &Session) -> Option<Response> {
    s.principal.require(Role::Manager).err().map(|_| {
        layout::error_page(
            s.lang,
            Some(s),
            StatusCode::FORBIDDEN,
            "error.forbidden.manager",
        )
    })
}

fn unavailable(s: &Session, e: StoreError) -> Response {
    tracing::error!(error = %e, "manager page not loaded");
    layout::error_page(
        s.lang,
        Some(s),
        StatusCode::SERVICE_UNAVAILABLE,
        "error.unavailable",
    )
}

fn report_links(lang: Lang, week: &str) -> maud::Markup {
    html! {
        a href=(format!("/gestao/report?week={week}&format=html")) { (week) }
        " · " (lang.t("manager.report_downloads")) ": "
        @for f in [ReportFormat::Csv, ReportFormat::Xlsx, ReportFormat::Json] {
            a href=(format!("/gestao/report?week={week}&format={}", f.as_str())) { (f.as_str().to_uppercase()) }
            " "
        }
    }
}

pub async fn page(State(st): State<AppState>, s: Session) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let lang = s.lang;
    let people = match st
        .store
        .list_consultants(&ConsultantQuery {
            active: Some(true),
            limit: crate::store::MAX_PAGE,
            offset: 0,
        })
        .await
    {
        Ok(p) => p.items,
        Err(e) => return unavailable(&s, e),
    };
    let pending = match st
        .store
        .list_callbacks(&CallbackQuery {
            consultant_id: None,
            status: Some(CallbackStatus::Pending.as_str().into()),
            limit: crate::store::MAX_PAGE,
            offset: 0,
        })
        .await
    {
        Ok(p) => p.items,
        Err(e) => return unavailable(&s, e),
    };
    let now = Utc::now();
    // Soonest due first, so the overdue ones lead the list.
    let overdue: Vec<_> = pending.iter().filter(|c| c.due_at < now).collect();
    let name_of = |id: i64| {
        people
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };
    let (last, this) = default_weeks(now, st.report_defaults.planner.tz);
    let board = super::live::board_panel(&st, lang).await;
    let late = late_protocols_of(&st, now);
    let unmatched = super::sync_pending::card(&st, lang).await;
    let body = html! {
        div class="grid" {
            div id="board" class="grid wide" data-live="/live?view=board" { (board) }
            (late_protocols(lang, &late, &name_of, st.store.tz()))
            (unmatched)
            section class="card wide" aria-labelledby="overdue-h" {
                h2 id="overdue-h" { (lang.t("manager.overdue")) }
                @if overdue.is_empty() {
                    p { (lang.t("manager.overdue_none")) }
                } @else {
                    (scroll_table(lang, "overdue", &[lang.t("callbacks.due"), lang.t("manager.consultant"), lang.t("callbacks.caller"), lang.t("callbacks.reason")], html! {
                                @for cb in &overdue {
                                    @let (caller, reason) = callback_cells(lang, cb.caller_number.as_deref(), &cb.reason);
                                    tr {
                                        td { span class="late" { (when(&cb.due_at)) } }
                                        td { (name_of(cb.consultant_id)) }
                                        td { (caller) }
                                        td { (reason) }
                                    }
                                }
                    }))
                }
            }
            section class="card wide" aria-labelledby="report-h" {
                h2 id="report-h" { (lang.t("manager.report")) }
                p { (lang.t("manager.report_last")) ": " (report_links(lang, &last)) }
                p { (lang.t("manager.report_this")) ": " (report_links(lang, &this)) }
                form method="get" action="/gestao/report" class="inline" {
                    input type="hidden" name="format" value="html";
                    label for="week" { (lang.t("manager.report_week")) }
                    input id="week" name="week" type="text" required pattern="[0-9]{4}-W[0-9]{2}"
                        value=(last);
                    button type="submit" { (lang.t("manager.report_open")) }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        layout::page(lang, lang.t("manager.title"), Some(&s), body),
    )
}

/// Open protocols whose deadline has passed, most overdue first, from the
/// directory as routing reads it.
fn late_protocols_of(
    st: &AppState,
    now: chrono::DateTime<Utc>,
) -> Vec<(String, String, Option<i64>, chrono::DateTime<Utc>)> {
    let Some(dir) = &st.directory else {
        return Vec::new();
    };
    let snap = dir.load();
    let mut late: Vec<_> = snap
        .open_protocols
        .values()
        .flatten()
        .filter_map(|p| {
            let due = chrono::DateTime::from_timestamp_millis(p.due_at_ms?)?;
            (due < now).then(|| {
                let provider = snap
                    .providers
                    .get(&p.provider_id)
                    .map(|pr| pr.name.clone())
                    .unwrap_or_else(|| format!("#{}", p.provider_id));
                (p.number.clone(), provider, p.owner_id, due)
            })
        })
        .collect();
    late.sort_by_key(|l| l.3);
    late
}

fn late_protocols(
    lang: Lang,
    late: &[(String, String, Option<i64>, chrono::DateTime<Utc>)],
    name_of: &dyn Fn(i64) -> String,
    tz: chrono_tz::Tz,
) -> maud::Markup {
    html! {
        section class="card wide" aria-labelledby="late-h" {
            h2 id="late-h" { (lang.t("manager.late_protocols")) }
            @if late.is_empty() {
                p { (lang.t("manager.late_protocols_none")) }
            } @else {
                (scroll_table(lang, "late", &[lang.t("manager.protocol"), lang.t("manager.provider"), lang.t("manager.owner"), lang.t("manager.deadline")], html! {
                            @for (number, provider, owner, due) in late {
                                tr {
                                    td { (number) }
                                    td { (provider) }
                                    td {
                                        @match owner {
                                            Some(id) => (name_of(*id)),
                                            None => span class="muted" { (lang.t("manager.no_owner")) },
                                        }
                                    }
                                    td { span class="late" { (when(&due.with_timezone(&tz))) } }
                                }
                            }
                }))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ReportParams {
    week: Option<String>,
    format: Option<String>,
}

/// The weekly report exactly as `GET /api/reports/weekly` serves it (the
/// same implementation), for a signed-in manager, in the language the
/// console speaks to them (their choice, else their browser's, else
/// `locale.language`).
pub async fn report(
    State(st): State<AppState>,
    s: Session,
    Query(p): Query<ReportParams>,
) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let params = WeeklyParams {
        week: p.week.filter(|w| !w.trim().is_empty()),
        schedule_week: None,
        format: Some(
            p.format
                .unwrap_or_else(|| ReportFormat::Html.as_str().into()),
        ),
    };
    match crate::http::reports::weekly_in(&st, params, s.lang).await {
        Ok(r) => r,
        Err(e) if e.status.is_client_error() => {
            layout::error_page(s.lang, Some(&s), StatusCode::BAD_REQUEST, "flash.invalid")
        }
        Err(e) => {
            tracing::error!(error = %e.message, "weekly report not served to the console");
            layout::error_page(
                s.lang,
                Some(&s),
                StatusCode::SERVICE_UNAVAILABLE,
                "error.unavailable",
            )
        }
    }
}
