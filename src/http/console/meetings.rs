//! "Hoje na agenda", on the desk: the signed-in consultant's scheduled
//! contacts of today (meetings, calls to make) with a button that starts
//! each one's timer, and the contact timer running now with a button that
//! stops it. Rule 3 asks for a conversation's exact opening and closing
//! times; one click at each end gives them without typing a clock.
//!
//! The buttons are form POSTs (CSRF checked by the session gate) that act
//! through `tracking::service` as the signed-in person, like the API's
//! `POST /api/contacts/{id}/start` and `/stop`.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{html, Markup};

use super::desk::{back, forbidden, store_failed, tracking_failed};
use super::layout::{channel_label, csrf_field, scroll_table};
use super::session::Session;
use crate::http::AppState;
use crate::store::{Contact, ContactQuery, StoreError};
use crate::tracking::service;
use crate::tracking::states::{ContactKind, ContactSource, ContactStatus};

/// Today's scheduled contacts and the running contact timer, if any.
pub struct Today {
    scheduled: Vec<Contact>,
    running: Option<Contact>,
}

/// Loads what the section shows for consultant `me` on the local day of
/// `now`.
pub async fn load(st: &AppState, me: i64, now: DateTime<Utc>) -> Result<Today, StoreError> {
    let tz = st.store.tz();
    let today = now.with_timezone(&tz).date_naive();
    let midnight = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map(|t| t.timestamp_millis())
    };
    let from = midnight(today);
    let to = today.succ_opt().and_then(midnight);
    let scheduled = st
        .store
        .list_contacts(&ContactQuery {
            consultant_id: Some(me),
            kind: Some(ContactKind::Scheduled.as_str().into()),
            status: Some(ContactStatus::Scheduled.as_str().into()),
            from_ms: from,
            to_ms: to,
            limit: 50,
            ..Default::default()
        })
        .await?
        .items;
    // Calls are timed by the proxy; only a timer a person runs is theirs
    // to stop here.
    let running = st
        .store
        .list_contacts(&ContactQuery {
            consultant_id: Some(me),
            status: Some(ContactStatus::Open.as_str().into()),
            limit: 10,
            ..Default::default()
        })
        .await?
        .items
        .into_iter()
        .find(|c| c.source != ContactSource::Call);
    Ok(Today { scheduled, running })
}

pub fn section(s: &Session, today: &Today) -> Markup {
    let lang = s.lang;
    let hm = |t: Option<&DateTime<chrono_tz::Tz>>| {
        t.map(|t| t.format("%H:%M").to_string()).unwrap_or_default()
    };
    html! {
        section class="card wide" aria-labelledby="today-h" {
            h2 id="today-h" { (lang.t("today.title")) }
            @if let Some(c) = &today.running {
                p role="status" {
                    strong { (channel_label(lang, c.channel.as_str())) }
                    " · " (lang.tf("today.running_since", &[("since", &hm(c.started_at.as_ref()))]))
                    @if let Some(a) = &c.agenda { " · " (a) }
                }
                form method="post" action=(format!("/contacts/{}/stop", c.id)) {
                    (csrf_field(s))
                    button type="submit" { (lang.t("today.stop")) }
                }
            }
            @if today.scheduled.is_empty() {
                p { (lang.t("today.none")) }
            } @else {
                (scroll_table(lang, "today", &[lang.t("today.when"), lang.t("contact.channel"), lang.t("today.agenda"), lang.t("callbacks.action")], html! {
                    @for c in &today.scheduled {
                        tr {
                            td { (hm(c.planned_start.as_ref())) "–" (hm(c.planned_end.as_ref())) }
                            td { (channel_label(lang, c.channel.as_str())) }
                            td { (c.agenda.as_deref().unwrap_or("")) }
                            td {
                                form method="post" action=(format!("/contacts/{}/start", c.id)) {
                                    (csrf_field(s))
                                    button type="submit" { (lang.t("today.start")) }
                                }
                            }
                        }
                    }
                }))
            }
        }
    }
}

/// The contact `id` if it is the signed-in person's to run.
async fn owned(st: &AppState, s: &Session, id: &str) -> Result<i64, Response> {
    let not_found = || {
        super::layout::error_page(
            s.lang,
            Some(s),
            axum::http::StatusCode::NOT_FOUND,
            "error.not_found",
        )
    };
    let Ok(id) = id.parse::<i64>() else {
        return Err(not_found());
    };
    let owner = match st.store.get_contact(id).await {
        Ok(c) => c.consultant_id,
        Err(StoreError::NotFound { .. }) => return Err(not_found()),
        Err(e) => return Err(store_failed(s, e)),
    };
    match owner {
        Some(o) if s.principal.may_act_for(o).is_ok() => Ok(id),
        _ => Err(forbidden(s)),
    }
}

pub async fn start(State(st): State<AppState>, s: Session, Path(id): Path<String>) -> Response {
    let id = match owned(&st, &s, &id).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let now = Utc::now().timestamp_millis();
    match service::start_scheduled_contact(&st.store, id, now, &s.principal.person).await {
        Ok((_, stopped)) => {
            if let Some(c) = stopped {
                st.metrics.tracking.contact_closed(
                    c.channel.as_str(),
                    ContactStatus::Done.as_str(),
                    c.duration_ms,
                );
            }
            back("ok", "contact_started")
        }
        Err(e) => tracking_failed(&s, e),
    }
}

pub async fn stop(State(st): State<AppState>, s: Session, Path(id): Path<String>) -> Response {
    let id = match owned(&st, &s, &id).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let now = Utc::now().timestamp_millis();
    match service::stop_contact(&st.store, 0, Some(id), now, &s.principal.person).await {
        Ok(c) => {
            st.metrics.tracking.contact_closed(
                c.channel.as_str(),
                ContactStatus::Done.as_str(),
                c.duration_ms,
            );
            back("ok", "contact_stopped")
        }
        Err(e) => tracking_failed(&s, e),
    }
}
