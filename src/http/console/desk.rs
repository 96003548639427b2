//! "Minha mesa", a consultant's desk at `/`: the live call panel (see
//! `live`), presence, the running task timer, today's scheduled contacts
//! and the running contact timer (see `meetings`), logging a contact, and
//! their pending call-backs.
//!
//! Every action is a plain form POST (the session gate has checked its
//! CSRF token) that acts through the same code the API uses
//! (`tracking::service`, the store's presence and call-back writes), as the
//! signed-in person, then redirects back to the page with a notice code:
//! no script is needed, and reloading the page repeats nothing.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{Datelike, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::i18n::Lang;
use super::layout::{self, csrf_field, duration, notice, respond, scroll_table, when};
use super::session::Session;
use crate::directory::Presence;
use crate::http::AppState;
use crate::store::{CallbackQuery, StoreError, Task, TaskQuery};
use crate::tracking::service::{self, NewContact, NewTask, TrackingError};
use crate::tracking::states::{CallbackStatus, ContactChannel};
use crate::tracking::when::parse_when;

/// The channels a person logs by hand, in the order offered (phone calls
/// through the daemon are logged by themselves).
const CHANNELS: &[ContactChannel] = &[
    ContactChannel::Chat,
    ContactChannel::Email,
    ContactChannel::Meeting,
    ContactChannel::Phone,
    ContactChannel::Other,
];

#[derive(Debug, Deserialize)]
pub struct Notice {
    ok: Option<String>,
    err: Option<String>,
    /// The hand-over handle of a calendar link just made.
    feed: Option<String>,
}

pub(super) fn back(kind: &str, code: &str) -> Response {
    Redirect::to(&format!("/?{kind}={code}")).into_response()
}

/// Where a failed store call sends the person: back with a notice when it
/// was their data, an error page when the store itself failed.
pub(super) fn store_failed(s: &Session, e: StoreError) -> Response {
    if e.is_data_error() || matches!(e, StoreError::NotFound { .. }) {
        back("err", "invalid")
    } else {
        tracing::error!(error = %e, "console action failed in the store");
        layout::error_page(
            s.lang,
            Some(s),
            StatusCode::SERVICE_UNAVAILABLE,
            "error.unavailable",
        )
    }
}

pub(super) fn tracking_failed(s: &Session, e: TrackingError) -> Response {
    match e {
        TrackingError::Store(e) => store_failed(s, e),
        TrackingError::Unknown {
            field: "category", ..
        } => back("err", "unknown_category"),
        TrackingError::Invalid {
            field: "ended_at" | "at",
            ..
        }
        | TrackingError::State {
            field: "ended_at" | "at",
            ..
        } => back("err", "bad_span"),
        TrackingError::Invalid { .. }
        | TrackingError::Unknown { .. }
        | TrackingError::State { .. }
        | TrackingError::RoomBooked(_)
        // The console closes no protocols; should it, this is its refusal.
        | TrackingError::OwnerRequired(_) => back("err", "invalid"),
        TrackingError::Overlap { .. } => back("err", "overlap"),
        TrackingError::NotRunning(_) => back("err", "not_running"),
    }
}

pub(super) fn forbidden(s: &Session) -> Response {
    layout::error_page(
        s.lang,
        Some(s),
        StatusCode::FORBIDDEN,
        "error.forbidden.not_yours",
    )
}

/// A category's name for people: the catalogue's for the process's own
/// categories, the name itself for ones a desk added.
fn category_label(lang: Lang, name: &str) -> String {
    lang.get(&format!("category.{name}"))
        .map(str::to_string)
        .unwrap_or_else(|| name.to_string())
}

fn presence_section(s: &Session, presence: Presence, in_call: bool) -> Markup {
    let lang = s.lang;
    let current = if in_call {
        lang.t("presence.in_call")
    } else {
        presence_label(lang, presence)
    };
    html! {
        section class="card" aria-labelledby="presence-h" {
            h2 id="presence-h" { (lang.t("presence.title")) }
            p { (lang.t("presence.now")) ": " strong class="state" { (current) } }
            form method="post" action="/presence" class="choices" {
                (csrf_field(s))
                @for p in [Presence::Available, Presence::Dnd, Presence::Away] {
                    button type="submit" name="status" value=(p.as_str())
                        aria-pressed=(if p == presence { "true" } else { "false" }) {
                        (presence_label(lang, p))
                    }
                }
            }
        }
    }
}

pub fn presence_label(lang: Lang, p: Presence) -> &'static str {
    match p {
        Presence::Available => lang.t("presence.available"),
        Presence::Dnd => lang.t("presence.dnd"),
        Presence::Away => lang.t("presence.away"),
    }
}

fn task_section(s: &Session, running: Option<&Task>, categories: &[String]) -> Markup {
    let lang = s.lang;
    let now = Utc::now().timestamp_millis();
    html! {
        section class="card" aria-labelledby="task-h" {
            h2 id="task-h" { (lang.t("task.title")) }
            @if let Some(t) = running {
                p class="running" {
                    strong { (lang.t("task.running")) ": " (category_label(lang, &t.category)) }
                    @if !t.title.is_empty() { " — " (t.title) }
                    br;
                    @if let Some(since) = &t.started_at {
                        (lang.tf("task.since", &[
                            ("since", &when(since)),
                            ("elapsed", &duration(lang, now - since.timestamp_millis())),
                        ]))
                    }
                }
                form method="post" action="/task/stop" {
                    (csrf_field(s))
                    button type="submit" class="stop" { (lang.t("task.stop")) }
                }
            } @else {
                p { (lang.t("task.none")) }
            }
            form method="post" action="/task/start" class="stack" {
                (csrf_field(s))
                label for="category" { (lang.t("task.category")) }
                select id="category" name="category" required {
                    @for c in categories {
                        option value=(c) { (category_label(lang, c)) }
                    }
                }
                label for="title" { (lang.t("task.description")) }
                input id="title" name="title" type="text" maxlength="200";
                button type="submit" { (lang.t("task.start")) }
                @if running.is_some() {
                    p class="hint" { (lang.t("task.start_hint")) }
                }
            }
        }
    }
}

fn contact_section(s: &Session, tz: chrono_tz::Tz) -> Markup {
    let lang = s.lang;
    let now = Utc::now().with_timezone(&tz);
    let start = now - chrono::Duration::minutes(15);
    html! {
        section class="card" aria-labelledby="contact-h" {
            h2 id="contact-h" { (lang.t("contact.title")) }
            form method="post" action="/contact" class="stack" {
                (csrf_field(s))
                fieldset class="choices" {
                    legend { (lang.t("contact.channel")) }
                    @for (i, c) in CHANNELS.iter().enumerate() {
                        label class="choice" {
                            input type="radio" name="channel" value=(c.as_str()) checked[i == 0];
                            " " (layout::channel_label(lang, c.as_str()))
                        }
                    }
                }
                label for="started" { (lang.t("contact.start")) }
                input id="started" name="started" type="text" inputmode="numeric" required
                    aria-describedby="time-hint" value=(when(&start));
                label for="ended" { (lang.t("contact.end")) }
                input id="ended" name="ended" type="text" inputmode="numeric" required
                    aria-describedby="time-hint" value=(when(&now));
                p class="hint" id="time-hint" { (lang.t("contact.time_hint")) }
                label for="notes" { (lang.t("contact.notes")) }
                textarea id="notes" name="notes" rows="2" maxlength="4000" {}
                button type="submit" { (lang.t("contact.submit")) }
            }
        }
    }
}

/// A call-back's caller and reason, for people.
pub fn callback_cells(lang: Lang, caller: Option<&str>, reason: &str) -> (String, String) {
    let caller = caller
        .map(str::to_string)
        .unwrap_or_else(|| lang.t("callbacks.unknown_caller").to_string());
    let reason = lang
        .get(&format!("reason.{reason}"))
        .map(str::to_string)
        .unwrap_or_else(|| reason.to_string());
    (caller, reason)
}

fn callbacks_section(s: &Session, callbacks: &[crate::store::Callback]) -> Markup {
    let lang = s.lang;
    let now = Utc::now();
    html! {
        section class="card" aria-labelledby="callbacks-h" {
            h2 id="callbacks-h" { (lang.t("callbacks.title")) }
            @if callbacks.is_empty() {
                p { (lang.t("callbacks.none")) }
            } @else {
                (scroll_table(lang, "callbacks", &[lang.t("callbacks.due"), lang.t("callbacks.caller"), lang.t("callbacks.reason"), lang.t("callbacks.action")], html! {
                            @for cb in callbacks {
                                @let (caller, reason) = callback_cells(lang, cb.caller_number.as_deref(), &cb.reason);
                                tr {
                                    td {
                                        (when(&cb.due_at))
                                        @if cb.due_at < now {
                                            " " span class="late" { (lang.t("callbacks.overdue")) }
                                        }
                                    }
                                    td { (caller) }
                                    td { (reason) }
                                    td {
                                        // Rule 3: done with the conversation's real times.
                                        form method="post" action=(format!("/callbacks/{}/done", cb.id)) class="inline" {
                                            (csrf_field(s))
                                            label for=(format!("cb-{}-started", cb.id)) { (lang.t("callbacks.started")) }
                                            " "
                                            input id=(format!("cb-{}-started", cb.id)) name="started" type="text"
                                                inputmode="numeric" size="5" required placeholder="hh:mm"
                                                aria-describedby="cb-time-hint";
                                            " "
                                            label for=(format!("cb-{}-ended", cb.id)) { (lang.t("callbacks.ended")) }
                                            " "
                                            input id=(format!("cb-{}-ended", cb.id)) name="ended" type="text"
                                                inputmode="numeric" size="5" required placeholder="hh:mm"
                                                aria-describedby="cb-time-hint";
                                            " "
                                            button type="submit" { (lang.t("callbacks.done")) }
                                        }
                                    }
                                }
                            }
                }))
                p class="hint" id="cb-time-hint" { (lang.t("callbacks.time_hint")) }
            }
        }
    }
}

/// This week's tasks and contacts (what the calendar feed publishes), and
/// the calendar link: made on request, shown once.
fn week_section(
    s: &Session,
    events: &[crate::tracking::ics::IcsEvent],
    tz: chrono_tz::Tz,
    new_link: Option<&str>,
) -> Markup {
    let lang = s.lang;
    html! {
        section class="card wide" aria-labelledby="week-h" {
            h2 id="week-h" { (lang.t("desk.week_title")) }
            @if events.is_empty() {
                p { (lang.t("desk.week_none")) }
            } @else {
                ul class="week" {
                    @for e in events {
                        li {
                            (e.start.with_timezone(&tz).format("%d/%m %H:%M").to_string())
                            "–" (e.end.with_timezone(&tz).format("%H:%M").to_string())
                            " " strong { (e.summary) }
                            @if let Some(place) = &e.location { " · " (place) }
                            @if e.status == Some(crate::tracking::ics::EventStatus::Tentative) {
                                " " span class="muted" { "(" (lang.t("desk.week_planned")) ")" }
                            }
                        }
                    }
                }
            }
            h3 { (lang.t("desk.feed_title")) }
            @if let Some(path) = new_link {
                p class="notice ok" role="status" { (lang.t("desk.feed_once")) }
                p { code class="secret" { (path) } }
            }
            p class="hint" { (lang.t("desk.feed_hint")) }
            form method="post" action="/calendar-link" {
                (csrf_field(s))
                button type="submit" { (lang.t("desk.feed_button")) }
            }
        }
    }
}

/// Makes a calendar feed token for the signed-in person and hands its URL
/// to the page once (never in a redirect's query).
pub async fn calendar_link(State(st): State<AppState>, s: Session) -> Response {
    if s.principal.may_act_for(s.consultant_id()).is_err() {
        return forbidden(&s);
    }
    let (info, token) = match st.store.create_feed_token(s.consultant_id()).await {
        Ok(v) => v,
        Err(e) => return store_failed(&s, e),
    };
    let path = crate::http::tokens::feed_path(s.consultant_id(), &token);
    match st.console.handover.put(
        s.csrf(),
        super::admin::handover::Outcome::Token { info, secret: path },
    ) {
        Some(h) => Redirect::to(&format!("/?feed={h}#week-h")).into_response(),
        None => back("err", "invalid"),
    }
}

pub async fn page(State(st): State<AppState>, s: Session, Query(n): Query<Notice>) -> Response {
    let lang = s.lang;
    let me = s.consultant_id();
    let loaded = async {
        let consultant = st.store.get_consultant(me).await?;
        let running = st
            .store
            .list_tasks(&TaskQuery {
                consultant_id: Some(me),
                status: Some("running".into()),
                limit: 1,
                ..Default::default()
            })
            .await?
            .items
            .into_iter()
            .next();
        let categories: Vec<String> = st
            .store
            .categories()
            .await?
            .into_iter()
            .map(|c| c.name)
            .filter(|c| c != crate::tracking::planning::ATTENDANCE)
            .collect();
        let callbacks = st
            .store
            .list_callbacks(&CallbackQuery {
                consultant_id: Some(me),
                status: Some(CallbackStatus::Pending.as_str().into()),
                limit: 100,
                offset: 0,
            })
            .await?
            .items;
        let today = super::meetings::load(&st, me, Utc::now()).await?;
        Ok::<_, StoreError>((consultant, running, categories, callbacks, today))
    };
    let (consultant, running, categories, callbacks, today) = match loaded.await {
        Ok(v) => v,
        Err(e) => return store_failed(&s, e),
    };
    let in_call = st.in_call.contains(&consultant.sip_username);
    let live = super::live::desk_panel(&st, lang, &consultant.sip_username, me).await;
    let tz = st.store.tz();
    let now = Utc::now();
    let monday = {
        let today = now.with_timezone(&tz).date_naive();
        today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()))
    };
    let week_ms = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map_or(now.timestamp_millis(), |t| t.timestamp_millis())
    };
    let events = crate::tracking::planning::agenda(
        &st.store,
        me,
        week_ms(monday),
        week_ms(monday + chrono::Duration::days(7)),
        now,
    )
    .await
    .unwrap_or_default();
    let new_link = n
        .feed
        .as_deref()
        .and_then(|h| match st.console.handover.take(s.csrf(), h) {
            Some(super::admin::handover::Outcome::Token { secret, .. }) => Some(secret),
            _ => None,
        });
    let ok = n.ok.as_deref().and_then(|c| notice(lang, c));
    let err = n.err.as_deref().and_then(|c| notice(lang, c));
    let body = html! {
        p class="hello" { (lang.tf("desk.hello", &[("name", &consultant.name)])) }
        @if let Some(m) = ok { p class="notice ok" role="status" { (m) } }
        @if let Some(m) = err { p class="notice error" role="alert" { (m) } }
        div class="grid" {
            section class="card wide" aria-labelledby="live-h" {
                h2 id="live-h" { (lang.t("live.title")) }
                div id="live" data-live="/live?view=desk" { (live) }
            }
            (presence_section(&s, consultant.presence, in_call))
            (task_section(&s, running.as_ref(), &categories))
            (super::meetings::section(&s, &today))
            (contact_section(&s, st.store.tz()))
            (callbacks_section(&s, &callbacks))
            (week_section(&s, &events, tz, new_link.as_deref()))
        }
    };
    respond(
        StatusCode::OK,
        layout::page(lang, lang.t("desk.title"), Some(&s), body),
    )
}

#[derive(Debug, Deserialize)]
pub struct PresenceForm {
    status: String,
}

pub async fn presence(
    State(st): State<AppState>,
    s: Session,
    f: Result<Form<PresenceForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = f else {
        return back("err", "invalid");
    };
    let p = match f.status.as_str() {
        "available" => Presence::Available,
        "dnd" => Presence::Dnd,
        "away" => Presence::Away,
        _ => return back("err", "invalid"),
    };
    if s.principal.may_act_for(s.consultant_id()).is_err() {
        return forbidden(&s);
    }
    if let Err(e) = st.store.set_presence(s.consultant_id(), p).await {
        return store_failed(&s, e);
    }
    st.directory_changed();
    back("ok", "presence")
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    category: String,
    #[serde(default)]
    title: String,
}

pub async fn start_task(
    State(st): State<AppState>,
    s: Session,
    f: Result<Form<StartForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = f else {
        return back("err", "invalid");
    };
    if s.principal.may_act_for(s.consultant_id()).is_err() {
        return forbidden(&s);
    }
    let new = NewTask {
        consultant_id: s.consultant_id(),
        category: f.category,
        title: Some(f.title),
        ..Default::default()
    };
    let now = Utc::now().timestamp_millis();
    let done = service::start_task(&st.store, new, now, &s.principal.person).await;
    st.refresh_tasks_running().await;
    match done {
        Ok(_) => back("ok", "task_started"),
        Err(e) => tracking_failed(&s, e),
    }
}

pub async fn stop_task(State(st): State<AppState>, s: Session) -> Response {
    if s.principal.may_act_for(s.consultant_id()).is_err() {
        return forbidden(&s);
    }
    let now = Utc::now().timestamp_millis();
    let done =
        service::stop_task(&st.store, s.consultant_id(), None, now, &s.principal.person).await;
    st.refresh_tasks_running().await;
    match done {
        Ok(_) => back("ok", "task_stopped"),
        Err(e) => tracking_failed(&s, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct ContactForm {
    channel: String,
    started: String,
    ended: String,
    #[serde(default)]
    notes: String,
}

pub async fn log_contact(
    State(st): State<AppState>,
    s: Session,
    f: Result<Form<ContactForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = f else {
        return back("err", "invalid");
    };
    if !f
        .channel
        .parse::<ContactChannel>()
        .is_ok_and(|c| CHANNELS.contains(&c))
    {
        return back("err", "invalid");
    }
    if s.principal.may_act_for(s.consultant_id()).is_err() {
        return forbidden(&s);
    }
    let now = Utc::now().with_timezone(&st.store.tz());
    let (Ok(started), Ok(ended)) = (parse_when(&f.started, now), parse_when(&f.ended, now)) else {
        return back("err", "bad_time");
    };
    let n = NewContact {
        channel: f.channel,
        consultant_id: s.consultant_id(),
        started_at_ms: Some(started.timestamp_millis()),
        ended_at_ms: Some(ended.timestamp_millis()),
        notes: Some(f.notes),
        ..Default::default()
    };
    match service::add_contact(&st.store, n, &s.principal.person).await {
        Ok(_) => back("ok", "contact_logged"),
        Err(e) => tracking_failed(&s, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct CallbackDoneForm {
    #[serde(default)]
    started: String,
    #[serde(default)]
    ended: String,
}

/// Marks one of my call-backs done with the conversation's real times
/// (`hh:mm` today in the desk's zone, or any form `parse_when` reads).
pub async fn callback_done(
    State(st): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    f: Result<Form<CallbackDoneForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return layout::error_page(s.lang, Some(&s), StatusCode::NOT_FOUND, "error.not_found");
    };
    let owner = match st.store.get_callback(id).await {
        Ok(cb) => cb.consultant_id,
        Err(StoreError::NotFound { .. }) => {
            return layout::error_page(s.lang, Some(&s), StatusCode::NOT_FOUND, "error.not_found")
        }
        Err(e) => return store_failed(&s, e),
    };
    if s.principal.may_act_for(owner).is_err() {
        return forbidden(&s);
    }
    let Ok(Form(f)) = f else {
        return back("err", "callback_times");
    };
    let now = Utc::now().with_timezone(&st.store.tz());
    let (Ok(started), Ok(ended)) = (parse_when(&f.started, now), parse_when(&f.ended, now)) else {
        return back("err", "callback_times");
    };
    let change = service::CallbackChange {
        status: CallbackStatus::Done.as_str().into(),
        started_at_ms: Some(started.timestamp_millis()),
        ended_at_ms: Some(ended.timestamp_millis()),
    };
    match service::set_callback_status(&st.store, id, change, &s.principal.person).await {
        Ok(_) => back("ok", "callback_done"),
        Err(TrackingError::State {
            field: "ended_at", ..
        }) if ended > now => back("err", "callback_times"),
        Err(e) => tracking_failed(&s, e),
    }
}
