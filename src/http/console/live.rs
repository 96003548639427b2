//! The live panels: on "Minha mesa", the call ringing my phone or the one
//! I am on (who calls: provider, person, contract, open protocols with
//! their deadlines; how long it has run), the chats given to me that
//! wait for my first reply, and the call-backs I owe (how
//! many, the next due, how many late); on "A mesa agora", every
//! consultant's state with the call they are on, the calls ringing and
//! waiting, and the last hour's service level against its target.
//!
//! Each panel is drawn here on the server, the same way for the first page
//! load and for every update. Updates travel as Server-Sent Events
//! (`GET /live?view=desk|board`): the stream redraws when the call log
//! publishes a new board and every two seconds (presence and the
//! directory change without a board), and sends a panel only when its
//! HTML changed. `console.js` swaps it in and ticks the running clocks
//! between updates; without script the page shows the state at load.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::desk::presence_label;
use super::i18n::Lang;
use super::layout::scroll_table;
use super::session::Session;
use crate::calls::live::{LiveBoard, LiveCall};
use crate::directory::snapshot::Snapshot;
use crate::directory::Role;
use crate::http::AppState;
use crate::routing::caller::CallerClass;
use crate::routing::note::{Direction, RouteKind};
use crate::store::ConsultantQuery;

/// Who is on the other end of a call, as the desk needs to see it.
struct Who {
    number: Option<String>,
    provider: Option<String>,
    person: Option<String>,
    class: CallerClass,
    /// Contract end, when the provider has a dated one.
    contract_until: Option<chrono::NaiveDate>,
    /// Open protocols of the provider: number, deadline, whether it is
    /// the one routing chose (the owner's).
    protocols: Vec<(String, Option<DateTime<Utc>>, bool)>,
}

async fn who(st: &AppState, snap: &Snapshot, call: &LiveCall) -> Who {
    let p = &call.party;
    let provider = p.provider_id.and_then(|id| snap.providers.get(&id));
    let person = match p.user_id {
        // A name is one indexed read; only drawn for calls on screen.
        Some(id) => st.store.get_user(id).await.ok().map(|u| u.name),
        None => None,
    };
    let mut protocols: Vec<_> = p
        .provider_id
        .and_then(|id| snap.open_protocols.get(&id))
        .map(|list| {
            list.iter()
                .map(|pr| {
                    (
                        pr.number.clone(),
                        pr.due_at_ms.and_then(DateTime::from_timestamp_millis),
                        Some(pr.id) == p.protocol_id,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    protocols.sort_by_key(|(_, due, chosen)| (!chosen, due.is_none(), *due));
    Who {
        number: p.e164.clone().or_else(|| p.raw.clone()),
        provider: provider.map(|pr| pr.name.clone()),
        person,
        class: p.class,
        contract_until: provider.and_then(|pr| pr.contract_valid_until),
        protocols,
    }
}

fn caller_line(lang: Lang, w: &Who) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &w.provider {
        parts.push(p.clone());
    }
    if let Some(p) = &w.person {
        parts.push(p.clone());
    }
    match &w.number {
        Some(n) => parts.push(n.clone()),
        None if parts.is_empty() => parts.push(lang.t("live.anonymous").to_string()),
        None => {}
    }
    parts.join(" · ")
}

fn contract_text(lang: Lang, w: &Who) -> String {
    match (w.class, w.contract_until) {
        (CallerClass::Consulting, Some(until)) => lang.tf(
            "live.contract_until",
            &[("date", &until.format("%d/%m/%Y").to_string())],
        ),
        (CallerClass::Consulting, None) => lang.t("live.contract_yes").to_string(),
        (CallerClass::NotConsulting, _) => lang.t("live.contract_no").to_string(),
        _ => lang.t("live.contract_unknown").to_string(),
    }
}

/// A running clock: the server writes the elapsed time, `console.js`
/// keeps counting from `data-since`.
fn clock(lang: Lang, since: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! {
        time class="clock" datetime=(since.to_rfc3339()) data-since=(since.timestamp_millis()) {
            (elapsed(lang, (now - since).num_milliseconds()))
        }
    }
}

/// `0:42`, `12:05`, `1:02:05`: a call's clock reads to the second.
pub fn elapsed(_lang: Lang, ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The consultant's own panel: the call ringing their phone or the call
/// they are on, with who is calling; and the call-backs they owe, so a
/// due one is in sight while they work (an answered call with that client
/// closes it by itself).
pub async fn desk_panel(st: &AppState, lang: Lang, me: &str, me_id: i64) -> Markup {
    let call = call_panel(st, lang, me).await;
    let now = Utc::now();
    let owed = st
        .store
        .callbacks_owed_by(me_id, now.timestamp_millis())
        .await
        .ok();
    // Chats given to me that no one has answered yet: the oldest waits
    // longest, so it comes first.
    let mut chats: Vec<_> = st
        .store
        .list_conversations(true, Some(me_id))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.first_reply_at.is_none())
        .collect();
    chats.sort_by_key(|c| c.started_at);
    html! {
        (call)
        @if !chats.is_empty() {
            p class="state ringing chats" role="status" {
                (lang.tf("live.chats_waiting", &[("n", &chats.len().to_string())]))
            }
            ul class="chats" {
                @for c in &chats {
                    li {
                        (lang.tf("live.chat_from", &[("handle", &c.handle)]))
                        " · " (clock(lang, c.started_at.with_timezone(&Utc), now))
                        @if c.alerted_at.is_some() {
                            " " span class="late" { (lang.t("live.chat_over_limit")) }
                        }
                    }
                }
            }
        }
        @if let Some((n, late, next)) = owed.filter(|o| o.0 > 0) {
            p class=(if late > 0 { "owed late" } else { "owed" }) {
                a href="#callbacks-h" {
                    (lang.tf("live.callbacks_owed", &[("n", &n.to_string())]))
                }
                @if let Some(next) = next.and_then(DateTime::from_timestamp_millis) {
                    " · " (lang.tf("live.callbacks_next", &[
                        ("at", &next.with_timezone(&st.store.tz()).format("%d/%m %H:%M").to_string()),
                    ]))
                }
                @if late > 0 {
                    " · " span class="late" {
                        (lang.tf("live.callbacks_late", &[("n", &late.to_string())]))
                    }
                }
            }
        }
    }
}

async fn call_panel(st: &AppState, lang: Lang, me: &str) -> Markup {
    let board = st.live.borrow().clone();
    let now = Utc::now();
    let Some(call) = board.call_of(me).cloned() else {
        return html! {
            p class="state" role="status" { (lang.t("live.no_call")) }
        };
    };
    let snap = snapshot(st);
    let w = who(st, &snap, &call).await;
    let tz = st.store.tz();
    let answered = call.answered_at.is_some() && call.consultant.as_deref() == Some(me);
    html! {
        @if answered {
            p class="state in_call" role="status" {
                (lang.tf("live.on_call_with", &[("who", &caller_line(lang, &w))]))
            }
            @if let Some(at) = call.answered_at {
                p { (lang.t("live.running")) ": " (clock(lang, at, now)) }
            }
        } @else {
            p class="state ringing" role="status" {
                (lang.tf("live.ringing_from", &[("who", &caller_line(lang, &w))]))
            }
            p { (lang.t("live.waiting_for")) ": " (clock(lang, call.offered_at, now)) }
        }
        dl class="who" {
            dt { (lang.t("live.provider")) }
            dd { (w.provider.as_deref().unwrap_or(lang.t("live.unknown"))) }
            dt { (lang.t("live.person")) }
            dd { (w.person.as_deref().unwrap_or(lang.t("live.unknown"))) }
            dt { (lang.t("live.number")) }
            dd { (w.number.as_deref().unwrap_or(lang.t("live.anonymous"))) }
            dt { (lang.t("live.contract")) }
            dd { (contract_text(lang, &w)) }
            dt { (lang.t("live.protocols")) }
            dd {
                @if w.protocols.is_empty() {
                    (lang.t("live.no_protocols"))
                } @else {
                    ul class="protocols" {
                        @for (number, due, chosen) in &w.protocols {
                            li {
                                @if *chosen { strong { (number) } } @else { (number) }
                                @if let Some(due) = due {
                                    " — " (lang.t("live.deadline")) " "
                                    (due.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string())
                                    @if *due < now {
                                        " " span class="late" { (lang.t("live.late")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn snapshot(st: &AppState) -> Arc<Snapshot> {
    st.directory.as_ref().map(|d| d.load()).unwrap_or_default()
}

/// What a consultant is doing, for the manager: the call they are on or
/// ringing for wins over the presence they set; not registered is offline.
fn state_cell(
    lang: Lang,
    board: &LiveBoard,
    in_call: bool,
    registered: Option<bool>,
    c: &crate::directory::Consultant,
) -> (&'static str, String) {
    if let Some(call) = board.call_of(&c.sip_username) {
        if call.answered_at.is_some() && call.consultant.as_deref() == Some(&c.sip_username) {
            return ("in_call", lang.t("presence.in_call").to_string());
        }
        return ("ringing", lang.t("live.state_ringing").to_string());
    }
    // A call the board has not drawn yet (it is redrawn four times a
    // second) still makes the person busy.
    if in_call {
        return ("in_call", lang.t("presence.in_call").to_string());
    }
    // The presence they set still says something (away for lunch, or just
    // a phone that dropped its registration), so offline is added to it.
    if registered == Some(false) {
        return (
            "offline",
            format!(
                "{} · {}",
                presence_label(lang, c.presence),
                lang.t("live.state_offline")
            ),
        );
    }
    (
        c.presence.as_str(),
        presence_label(lang, c.presence).to_string(),
    )
}

/// The manager's live panel: people, calls ringing and waiting, and the
/// service level.
pub async fn board_panel(st: &AppState, lang: Lang) -> Markup {
    let board = st.live.borrow().clone();
    let now = Utc::now();
    let snap = snapshot(st);
    let people = st
        .store
        .list_consultants(&ConsultantQuery {
            active: Some(true),
            limit: crate::store::MAX_PAGE,
            offset: 0,
        })
        .await
        .map(|p| p.items)
        .unwrap_or_default();
    let name_of = |user: &str| {
        people
            .iter()
            .find(|p| p.sip_username == user)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| user.to_string())
    };
    let mut whos = Vec::with_capacity(board.calls.len());
    for call in &board.calls {
        whos.push(who(st, &snap, call).await);
    }
    let who_of = |call: &LiveCall| {
        board
            .calls
            .iter()
            .position(|c| c.call_id == call.call_id)
            .and_then(|i| whos.get(i))
    };
    let target = st.report_defaults.service_level_target;
    let pending: Vec<(&LiveCall, &Who)> = board
        .calls
        .iter()
        .zip(&whos)
        .filter(|(c, _)| c.direction == Direction::Inbound && c.answered_at.is_none())
        .collect();
    html! {
        section class="card wide" aria-labelledby="people-h" {
            h2 id="people-h" { (lang.t("manager.people")) }
            @if people.is_empty() {
                p { (lang.t("manager.nobody")) }
            } @else {
                (scroll_table(lang, "people", &[lang.t("manager.consultant"), lang.t("manager.state"), lang.t("live.with"), lang.t("live.for")], html! {
                            @for p in &people {
                                @let registered = st.desk.as_ref().map(|d| {
                                    d.location.is_registered(&p.sip_username, now.timestamp_millis())
                                });
                                @let (class, label) = state_cell(lang, &board, st.in_call.contains(&p.sip_username), registered, p);
                                @let call = board.call_of(&p.sip_username);
                                tr data-user=(p.sip_username) {
                                    td { (p.name) " " span class="muted" { "(" (p.sip_username) ")" } }
                                    td { span class=(format!("state {class}")) { (label) } }
                                    td {
                                        @if let Some(w) = call.and_then(&who_of) {
                                            (caller_line(lang, w))
                                        }
                                    }
                                    td {
                                        @if let Some(c) = call {
                                            (clock(lang, c.answered_at.unwrap_or(c.offered_at), now))
                                        }
                                    }
                                }
                            }
                }))
            }
        }
        section class="card wide" aria-labelledby="calls-h" {
            h2 id="calls-h" { (lang.t("live.calls_title")) }
            @if pending.is_empty() {
                p { (lang.t("live.calls_none")) }
            } @else {
                (scroll_table(lang, "calls", &[lang.t("live.caller"), lang.t("manager.state"), lang.t("live.waiting_for")], html! {
                            @for (call, w) in &pending {
                                tr {
                                    td { (caller_line(lang, w)) }
                                    td {
                                        @if call.waiting() {
                                            @if call.route == RouteKind::Ura {
                                                (lang.t("live.at_ura"))
                                            } @else {
                                                (lang.t("live.waiting"))
                                            }
                                        } @else {
                                            (lang.tf("live.ringing_at", &[("who", &call.ringing.iter().map(|u| name_of(u)).collect::<Vec<_>>().join(", "))]))
                                        }
                                    }
                                    td { (clock(lang, call.offered_at, now)) }
                                }
                            }
                }))
            }
        }
        section class="card" aria-labelledby="sl-h" {
            h2 id="sl-h" { (lang.t("live.service_level")) }
            @match board.service_level {
                Some(level) => {
                    p class=(if level >= target { "sl ok" } else { "sl late" }) {
                        strong { (lang.number(level * 100.0, 0)) " %" }
                        " " (lang.tf("live.sl_target", &[("target", &lang.number(target * 100.0, 0))]))
                    }
                    p class="muted" {
                        (lang.tf("live.sl_offered", &[("n", &board.offered_last_hour.to_string())]))
                    }
                }
                None => { p { (lang.t("live.sl_none")) } }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LiveView {
    view: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Desk,
    Board,
}

async fn render(st: &AppState, lang: Lang, view: View, me: &str, me_id: i64) -> String {
    match view {
        View::Desk => desk_panel(st, lang, me, me_id).await.into_string(),
        View::Board => board_panel(st, lang).await.into_string(),
    }
}

/// `GET /live?view=desk|board`: the panel as Server-Sent Events (one
/// `panel` event per change). The board needs the manager role.
pub async fn events(State(st): State<AppState>, s: Session, Query(q): Query<LiveView>) -> Response {
    let view = match q.view.as_deref() {
        None | Some("desk") => View::Desk,
        Some("board") => View::Board,
        Some(_) => return axum::http::StatusCode::BAD_REQUEST.into_response(),
    };
    if view == View::Board && s.principal.require(Role::Manager).is_err() {
        return axum::http::StatusCode::FORBIDDEN.into_response();
    }
    let lang = s.lang;
    let me = s.info.sip_username.clone();
    let me_id = s.consultant_id();
    let rx = st.live.clone();
    struct Feed {
        st: AppState,
        rx: crate::calls::live::LiveReceiver,
        last: Option<String>,
        first: bool,
    }
    let feed = Feed {
        st,
        rx,
        last: None,
        first: true,
    };
    let stream = futures_util::stream::unfold(feed, move |mut f| {
        let me = me.clone();
        async move {
            loop {
                if !f.first {
                    // A new board, or two seconds for what changes without
                    // one (presence, the directory). A closed channel (no
                    // call log) leaves only the timer.
                    let waited = tokio::time::timeout(Duration::from_secs(2), f.rx.changed()).await;
                    if let Ok(Err(_)) = waited {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
                f.first = false;
                let html = render(&f.st, lang, view, &me, me_id).await;
                if f.last.as_deref() != Some(html.as_str()) {
                    f.last = Some(html.clone());
                    let ev = Event::default().event("panel").data(html);
                    return Some((Ok::<_, Infallible>(ev), f));
                }
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
