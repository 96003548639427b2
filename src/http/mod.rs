//! The admin HTTP API (axum): routes, shared state and the layer stack.
//!
//! `/healthz`, `/readyz` and (by config) `/metrics` are open; the browser
//! console (`console`: `/`, `/login`, `/gestao`, …) needs a signed-in
//! session; everything under `/api` needs a token, and what it may reach is decided in
//! `rights` (a role per route, ownership in the handlers). Handlers are
//! thin: they validate with `directory`, persist with `store`, and map
//! errors with `error`.

pub mod auth;
pub mod bans;
pub mod body;
pub mod calls;
pub mod chat;
pub mod console;
pub mod consultants;
pub mod contacts;
pub mod duty;
pub mod error;
pub mod lookup;
pub mod mail;
pub mod openapi;
pub mod planning;
pub mod protocol_events;
pub mod protocols;
pub mod providers;
pub mod reports;
pub mod rights;
pub mod schema;
pub mod signed;
pub mod tokens;
pub mod tracking;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::store::Store;

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Metrics,
    pub realm: Arc<str>,
    pub country: phonenumber::country::Id,
    pub metrics_require_token: bool,
    /// Bumped after every directory write, so in-memory copies of the
    /// directory (routing's) know to refresh.
    pub directory_version: Arc<tokio::sync::watch::Sender<u64>>,
    /// The SIP side's desk router, for `simulate` (absent with a static
    /// routing table, or in CLI commands).
    pub desk: Option<Arc<crate::routing::desk::DeskRouter>>,
    pub sip_port: u16,
    /// Consultants in a call now (the call log keeps it).
    pub in_call: Arc<crate::routing::busy::InCall>,
    /// What the weekly report and the week's schedule need besides the
    /// store, as the dialplan was at start; read it through
    /// [`AppState::reports`], which brings in the dialplan as reloaded.
    pub report_defaults: Arc<crate::reports::weekly::ReportConfig>,
    /// The SIP edge guard, for the ban list (absent in CLI commands).
    pub guard: Option<Arc<crate::sip::guard::Guard>>,
    /// The browser console's cookie settings and sign-in throttle.
    pub console: Arc<console::Console>,
    /// Calls ringing and in progress, as the call log last published them
    /// (an empty board in CLI commands).
    pub live: crate::calls::live::LiveReceiver,
    /// The directory as routing reads it (absent in CLI commands), for
    /// who-is-calling on the live panels without a query per redraw.
    pub directory: Option<Arc<crate::directory::snapshot::SharedDirectory>>,
    /// `tracking.communicate_completion_categories`: the protocol
    /// categories whose close plans rule 4's task.
    pub completion_categories: Arc<[String]>,
    /// The chat bridge's secret and the 10-minute rule.
    pub chat: Arc<chat::ChatDesk>,
    /// The system of record's webhook secret and replay memory.
    pub protocol_events: Arc<signed::Verifier>,
    /// Protocols changed since routing's snapshot saw them (patched in
    /// without a full reload).
    pub protocol_changes: crate::directory::protocol_changes::ProtocolChanges,
}

impl AppState {
    pub fn new(store: Store, metrics: Metrics, settings: &Settings) -> AppState {
        // CLI commands that never report still build a state: a dialplan
        // that does not load costs them nothing; the daemon refuses to
        // start on one, and the CLI's report commands load it strictly.
        let plan =
            crate::routing::dialplan::load_dir(&settings.routing.dialplans, settings.locale.tz())
                .ok();
        let reports = crate::reports::weekly::ReportConfig::new(settings, plan.as_ref());
        AppState {
            store,
            metrics,
            realm: settings.sip.realm.as_str().into(),
            country: settings.locale.country(),
            metrics_require_token: settings.http.metrics_require_token,
            directory_version: Arc::new(tokio::sync::watch::channel(0).0),
            desk: None,
            sip_port: settings.sip.listen.port(),
            in_call: Default::default(),
            report_defaults: Arc::new(reports),
            guard: None,
            console: Arc::new(console::Console::from_settings(settings)),
            live: crate::calls::live::channel().1,
            directory: None,
            completion_categories: settings
                .tracking
                .communicate_completion_categories
                .clone()
                .into(),
            chat: Arc::new(chat::ChatDesk::from_settings(&settings.chat)),
            protocol_events: Arc::new(signed::Verifier::new(
                settings.protocol_sync.webhook_secret().as_deref(),
                signed::DEFAULT_TOLERANCE_SECS,
            )),
            protocol_changes: Default::default(),
        }
    }

    /// Re-counts running task timers for `protocall_tasks_running`.
    pub async fn refresh_tasks_running(&self) {
        if let Ok(n) = self.store.tasks_running().await {
            self.metrics.tracking.tasks_running.set(n);
        }
    }

    /// The report's and the planner's configuration with the routing
    /// dialplan as it is now (a SIGHUP or API reload changes holidays and
    /// business hours here too, not only in routing).
    pub fn reports(&self) -> Arc<crate::reports::weekly::ReportConfig> {
        match &self.desk {
            Some(desk) => Arc::new(self.report_defaults.with_plan(&desk.current_plan())),
            None => self.report_defaults.clone(),
        }
    }

    /// The week's planner, with the dialplan as it is now.
    pub fn planner(&self) -> crate::tracking::planning::Planner {
        self.reports().planner.clone()
    }

    pub fn directory_changed(&self) {
        self.directory_version.send_modify(|v| *v += 1);
    }
}

pub fn router(state: AppState, settings: &Settings) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/providers", get(providers::list).post(providers::create))
        .route(
            "/providers/{id}",
            get(providers::get)
                .patch(providers::update)
                .delete(providers::delete),
        )
        .route(
            "/providers/{id}/numbers",
            get(providers::list_numbers).post(providers::add_number),
        )
        .route(
            "/numbers/{id}",
            axum::routing::delete(providers::delete_number),
        )
        .route(
            "/providers/{id}/users",
            get(providers::list_users).post(providers::create_user),
        )
        .route(
            "/users/{id}",
            get(providers::get_user)
                .patch(providers::update_user)
                .delete(providers::delete_user),
        )
        .route(
            "/consultants",
            get(consultants::list).post(consultants::create),
        )
        .route(
            "/consultants/{id}",
            get(consultants::get)
                .patch(consultants::update)
                .delete(consultants::delete),
        )
        .route(
            "/consultants/{id}/presence",
            axum::routing::put(consultants::set_presence),
        )
        .route("/protocols", get(protocols::list).post(protocols::open))
        .route(
            "/protocols/{id}",
            get(protocols::get).patch(protocols::update),
        )
        .route("/protocols/{id}/assign", post(protocols::assign))
        .route("/protocols/{id}/close", post(protocols::close))
        .route("/protocols/{id}/reopen", post(protocols::reopen))
        .route("/protocols/{id}/audit", get(protocols::audit))
        .route("/protocols/events", post(protocol_events::receive))
        .route("/protocols/events/pending", get(protocol_events::pending))
        .route("/lookup", get(lookup::lookup))
        .route("/import", post(lookup::import))
        .route("/routing/simulate", post(lookup::simulate))
        .route("/routing/reload", post(lookup::reload))
        .route("/calls", get(calls::list))
        .route("/calls/{id}", get(calls::get))
        .route(
            "/contacts",
            get(contacts::list).post(tracking::create_contact),
        )
        .route("/contacts/start", post(tracking::start_contact))
        .route("/contacts/stop", post(tracking::stop_open_contact))
        .route(
            "/contacts/{id}",
            get(contacts::get).patch(tracking::update_contact),
        )
        .route("/contacts/{id}/audit", get(tracking::contact_audit))
        .route(
            "/contacts/{id}/start",
            post(tracking::start_scheduled_contact),
        )
        .route("/contacts/{id}/stop", post(tracking::stop_contact))
        .route(
            "/tasks",
            get(tracking::list_tasks).post(tracking::create_task),
        )
        .route("/tasks/start", post(tracking::start_task))
        .route("/tasks/stop", post(tracking::stop_running_task))
        .route(
            "/tasks/{id}",
            get(tracking::get_task).patch(tracking::update_task),
        )
        .route("/tasks/{id}/stop", post(tracking::stop_task))
        .route("/tasks/{id}/audit", get(tracking::task_audit))
        .route(
            "/task-categories",
            get(tracking::categories).post(tracking::add_category),
        )
        .route("/rooms", get(tracking::rooms).post(tracking::create_room))
        .route("/workplans", get(planning::get_plan))
        .route("/workplans/copy", post(planning::copy_plan))
        .route(
            "/workplans/{consultant_id}/{week}",
            axum::routing::put(planning::put_plan),
        )
        .route(
            "/consultants/{id}/hours",
            get(planning::get_hours).put(planning::put_hours),
        )
        .route("/consultants/{id}/calendar.ics", get(planning::calendar))
        .route("/consultants/{id}/feed-token", post(tokens::feed))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route(
            "/absences",
            get(planning::absences).post(planning::add_absence),
        )
        .route("/schedule", post(planning::schedule))
        .route("/reports/weekly", get(reports::weekly))
        .route("/mail/unmatched", get(mail::unmatched))
        .route("/mail/threads/{id}/match", post(mail::match_thread))
        .route("/mail/flagged", get(mail::flagged))
        .route("/bans", get(bans::list))
        .route("/bans/{ip}", axum::routing::delete(bans::lift))
        .route("/callbacks", get(calls::list_callbacks))
        .route(
            "/callbacks/{id}/status",
            axum::routing::put(calls::set_callback_status),
        )
        .route("/callbacks/{id}/audit", get(calls::callback_audit))
        .route("/chat/events", post(chat::events))
        .route("/chat/conversations", get(chat::conversations))
        .route("/chat/conversations/{id}", get(chat::conversation))
        .route("/contacts/{id}/identify", post(chat::identify))
        .route("/duty", get(duty::get_roster).put(duty::put_roster))
        .route("/duty/now", get(duty::now))
        .route("/duty/exceptions", post(duty::add_exception))
        .route(
            "/duty/exceptions/{id}",
            axum::routing::delete(duty::delete_exception),
        )
        .fallback(api_not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        // Outside the token check, so a 401 is worded too.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::localize,
        ));

    let mut metrics_route = Router::new().route("/metrics", get(metrics_text));
    if settings.http.metrics_require_token {
        metrics_route = metrics_route.layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    }

    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(metrics_route)
        .nest("/api", api)
        .merge(console::router(state.clone()))
        .fallback(api_not_found)
        // Outermost first: the trace span covers everything below it, so
        // each request logs one line with its final status and latency.
        .layer(
            TraceLayer::new_for_http()
                // The path only: a calendar feed's query carries its token,
                // and nothing secret is logged. `person` is filled in by
                // the auth middleware (a username or `token:<name>`).
                .make_span_with(|req: &Request| {
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        person = tracing::field::Empty,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        // Metrics see the status the client sees, including timeouts.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        // Bounded work per request: a stuck store call cannot pin a client forever.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(settings.http.request_timeout_secs),
        ))
        // Bodies over the limit are refused before a handler reads them.
        .layer(DefaultBodyLimit::max(settings.http.max_body_bytes))
        .with_state(state)
}

async fn api_not_found() -> error::ApiError {
    error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn readyz(State(st): State<AppState>) -> Response {
    match st.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response()
        }
    }
}

async fn metrics_text(State(st): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}

async fn record_metrics(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // The route template, never the raw path: ids in paths would make the
    // label set unbounded.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    st.metrics
        .http_requests
        .with_label_values(&[&method, &route, &status])
        .inc();
    st.metrics
        .http_duration
        .with_label_values(&[&method, &route])
        .observe(started.elapsed().as_secs_f64());
    resp
}
