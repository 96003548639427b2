//! Application assembly: settings in, bound listeners out.
//!
//! `build` does everything that can fail at start (database, migrations,
//! binding ports) before anything is served, and reports the real bound
//! addresses, so tests can ask for port 0 and learn which port they got.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use tokio::sync::{mpsc, watch};

use crate::calls::task::{CallLog, CallLogConfig};
use crate::config::Settings;
use crate::http::{self, AppState};
use crate::metrics::{Metrics, MetricsError};
use crate::server::{SipError, SipServer};
use crate::sip::dialog::DialogEvent;
use crate::store::{DataLock, LockError, Store, StoreError};
use crate::tracking::journal::{Journal, Recovered, Recovery};

/// Dialog events waiting for time tracking; a full queue drops (and
/// counts) rather than slowing a call.
pub const DIALOG_EVENT_QUEUE: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("SIP: {0}")]
    Sip(#[from] SipError),
    #[error("cannot listen for HTTP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Journal(#[from] crate::tracking::journal::JournalError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

pub struct Application {
    http_addr: SocketAddr,
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    sip: SipServer,
    stop: watch::Sender<bool>,
    call_log: Option<CallLog>,
    journal: Journal,
    recovered: Recovered,
    started_ms: i64,
    mail: crate::config::MailSettings,
    /// The periodic pull from the system of record, when configured.
    protocol_pull: Option<crate::sync::pull::Pull>,
    intake: crate::config::IntakeSettings,
    /// This process's claim on the journal directory, until it stops.
    lock: DataLock,
}

/// Opens the store named by the settings and brings its schema up to date.
pub async fn open_store(settings: &Settings) -> Result<Store, StoreError> {
    let store = Store::connect(
        &settings.store.url,
        settings.store.max_connections,
        settings.locale.tz(),
    )
    .await?
    .with_instance(settings.cluster.instance_name());
    let applied = store.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    Ok(store)
}

impl Application {
    pub async fn build(settings: &Settings) -> Result<Application, AppError> {
        let started_ms = chrono::Utc::now().timestamp_millis();
        // First: a second daemon must stop before it touches the database
        // or the journal of the one already running.
        let lock = DataLock::acquire(&settings.tracking.journal_dir)?;
        let store = open_store(settings).await?;
        store.add_categories(&settings.tracking.categories).await?;
        let (journal, journal_handle, recovered) = Journal::open_with(
            &settings.tracking.journal_dir,
            settings.tracking.journal_options(),
        )?;
        let metrics = Metrics::new()?;
        let state = AppState::new(store, metrics, settings);
        let addr = settings.http.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Bind { addr, source })?;
        let http_addr = listener
            .local_addr()
            .map_err(|source| AppError::Bind { addr, source })?;
        let (stop, stop_rx) = watch::channel(false);
        let (events_tx, events) = mpsc::channel(DIALOG_EVENT_QUEUE);
        let (routed_tx, routed) = mpsc::channel(DIALOG_EVENT_QUEUE);
        let hooks = crate::server::CallHooks {
            routed: Some(routed_tx),
            in_call: Default::default(),
        };
        let in_call = hooks.in_call.clone();
        let sip = crate::server::start(
            settings,
            crate::server::Wiring {
                store: state.store.clone(),
                metrics: state.metrics.sip.clone(),
                directory_version: state.directory_version.subscribe(),
                protocol_changes: state.protocol_changes.clone(),
                events: Some(events_tx),
                hooks,
                router: None,
                shutdown: stop_rx,
            },
        )
        .await?;
        let (live_tx, live_rx) = crate::calls::live::channel();
        let call_log = CallLog {
            live: Some(live_tx),
            routed,
            events,
            tap: None,
            journal: journal_handle,
            metrics: state.metrics.calls.clone(),
            desk: state.metrics.desk.clone(),
            in_call: in_call.clone(),
            directory: sip.directory.clone(),
            config: CallLogConfig {
                callback_after: std::time::Duration::from_secs(
                    u64::from(settings.routing.callback_minutes) * 60,
                ),
                max_call: std::time::Duration::from_secs(
                    u64::from(settings.routing.max_call_hours) * 3600,
                ),
                service_threshold: std::time::Duration::from_secs(u64::from(
                    settings.reports.service_level_seconds,
                )),
            },
        };
        let mut state = state;
        state.desk = sip.desk.clone();
        state.guard = Some(sip.guard.clone());
        state.in_call = in_call;
        state.live = live_rx;
        state.directory = Some(sip.directory.clone());
        state
            .metrics
            .desk
            .service_level_target
            .set(settings.reports.service_level_target);
        state.sip_port = sip.udp_addr.port();
        let router = http::router(state.clone(), settings);
        let protocol_pull =
            settings
                .protocol_sync
                .pull
                .enabled()
                .then(|| crate::sync::pull::Pull {
                    settings: settings.protocol_sync.pull.clone(),
                    store: state.store.clone(),
                    categories: state.completion_categories.clone(),
                    metrics: state.metrics.protocol_sync.clone(),
                    changes: state.protocol_changes.clone(),
                });
        Ok(Application {
            http_addr,
            listener,
            router,
            state,
            sip,
            stop,
            call_log: Some(call_log),
            journal,
            recovered,
            started_ms,
            mail: settings.reports.mail.clone(),
            protocol_pull,
            intake: settings.intake.clone(),
            lock,
        })
    }

    pub fn sip_udp_addr(&self) -> SocketAddr {
        self.sip.udp_addr
    }

    pub fn sip_tcp_addr(&self) -> SocketAddr {
        self.sip.tcp_addr
    }

    /// The TLS listener's address, when `[sip.tls]` is configured.
    pub fn sip_tls_addr(&self) -> Option<SocketAddr> {
        self.sip.tls_addr
    }

    pub fn sip(&self) -> &SipServer {
        &self.sip
    }

    /// A copy of every dialog event the proxy emits, after the call log
    /// has seen it (for tests). Only the first call gets one.
    pub fn take_dialog_events(&mut self) -> Option<mpsc::Receiver<DialogEvent>> {
        let log = self.call_log.as_mut()?;
        if log.tap.is_some() {
            return None;
        }
        let (tx, rx) = mpsc::channel(DIALOG_EVENT_QUEUE);
        log.tap = Some(tx);
        Some(rx)
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests
    /// and closes the store.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        tracing::info!(
            http = %self.http_addr,
            sip_udp = %self.sip.udp_addr,
            sip_tcp = %self.sip.tcp_addr,
            "protocall serving"
        );
        let stop = self.stop;
        let monitor = self.call_log.as_ref().map(|l| l.journal.monitor());
        let tracking = self.state.metrics.tracking.clone();
        let callbacks = self.state.metrics.calls.callbacks_created.clone();
        let on_drained: crate::tracking::journal::OnDrained = {
            let tracking = tracking.clone();
            Box::new(move |s: &crate::store::WriteSummary| {
                callbacks.inc_by(s.callbacks_created);
                tracking.journal_refused.inc_by(s.refused);
                for c in &s.contacts_closed {
                    tracking.contact_closed(&c.channel, &c.status, c.talk_ms);
                }
            })
        };
        let journal = self.journal.start(
            self.state.store.clone(),
            Recovery {
                replayed: self.recovered.replayed as u64,
                last_alive_ms: self.recovered.last_alive_ms.unwrap_or(self.started_ms),
                started_ms: self.started_ms,
            },
            Some(on_drained),
            stop.subscribe(),
        );
        // Every background task is joined before the store closes, so none
        // is cut off mid-write (a weekly mail being built, a gauge query).
        let mut background = tokio::task::JoinSet::new();
        if let Some(monitor) = monitor {
            let tracking = tracking.clone();
            let mut stop = stop.subscribe();
            let state = self.state.clone();
            let location = self.sip.location.clone();
            let directory = self.sip.directory.clone();
            background.spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
                let mut n = 0u64;
                loop {
                    tracking.observe_journal(&monitor);
                    // Timers started from the CLI change the database only.
                    if n.is_multiple_of(4) {
                        state.refresh_tasks_running().await;
                        refresh_desk_gauges(&state, &location, &directory).await;
                    }
                    n += 1;
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.changed() => break,
                    }
                }
            });
        }
        if self.mail.enabled {
            background.spawn(mail_every_week(
                self.mail.clone(),
                self.state.clone(),
                stop.subscribe(),
            ));
        }
        background.spawn(chat_wait_rule(self.state.clone(), stop.subscribe()));
        if let Some(pull) = self.protocol_pull {
            background.spawn(pull.run(stop.subscribe()));
        }
        if self.intake.enabled {
            // Checked by `Settings::validate`; read again here because the
            // variable is the process's, not the file's.
            match self.intake.password() {
                Ok(password) => {
                    background.spawn(crate::intake::run(
                        self.intake.clone(),
                        password,
                        self.state.store.clone(),
                        self.state.metrics.mail.clone(),
                        stop.subscribe(),
                    ));
                }
                Err((key, why)) => tracing::error!(key, error = %why, "mail intake not started"),
            }
        }
        let call_log = self
            .call_log
            .map(|log| tokio::spawn(log.run(stop.subscribe())));
        let store = self.state.store.clone();
        let result = axum::serve(
            self.listener,
            // The peer's address, for the console's per-source sign-in
            // throttle.
            self.router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(AppError::Serve);
        let _ = stop.send(true);
        self.sip.join().await;
        if let Some(log) = call_log {
            let _ = log.await;
        }
        // Every journal handle is gone with the call log: the journal
        // drains what it holds and stops.
        journal.join().await;
        while let Some(done) = background.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "a background task failed");
            }
        }
        store.close().await;
        drop(self.lock);
        tracing::info!("protocall stopped");
        result
    }
}

/// Mails the Monday pack at the configured weekday and time.
async fn mail_every_week(
    cfg: crate::config::MailSettings,
    state: AppState,
    mut stop: watch::Receiver<bool>,
) {
    let tz = state.report_defaults.planner.tz;
    loop {
        let now = chrono::Utc::now();
        let Some(due) = crate::reports::mail::next_due(&cfg, tz, now) else {
            tracing::error!("reports.mail: no next date; weekly mail stopped");
            return;
        };
        let wait = (due - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        let now = chrono::Utc::now();
        let (last, this) = crate::reports::weekly::default_weeks(now, tz);
        match crate::reports::weekly::weekly(&state.store, &state.reports(), &last, &this, now)
            .await
        {
            Ok(r) => match crate::reports::mail::send(&cfg, &r, state.report_defaults.lang).await {
                Ok(()) => tracing::info!(week = %last, to = ?cfg.to, "weekly report mailed"),
                Err(e) => tracing::error!(error = %e, "weekly report not mailed"),
            },
            Err(e) => tracing::error!(error = %e, "weekly report not built"),
        }
    }
}

/// How often the 10-minute rule looks at waiting chats: an alert comes at
/// most this late.
const CHAT_SWEEP: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs the chat's 10-minute rule (`chat::sweep`) until the stop signal.
async fn chat_wait_rule(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CHAT_SWEEP);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match crate::chat::sweep::sweep(&state.store, state.chat.wait, chrono::Utc::now()).await {
            Ok(r) => {
                let m = &state.metrics.chat;
                m.alerts.inc_by(r.alerted.len() as u64);
                m.waiting_over_limit.set(r.waiting_over_limit);
            }
            Err(e) => tracing::warn!(error = %e, "chat wait rule: sweep failed; retried next tick"),
        }
    }
}

/// The dashboards' gauges that are states, not events: consultants by
/// state, the desk open or closed, call-backs owed, SLA compliance.
async fn refresh_desk_gauges(
    state: &AppState,
    location: &crate::sip::location::Location,
    directory: &crate::directory::snapshot::SharedDirectory,
) {
    let m = &state.metrics.desk;
    let now = chrono::Utc::now();
    let snap = directory.load();
    let mut counts = [0i64; 5];
    for c in snap.consultants.values().filter(|c| c.active) {
        let i = if !location.is_registered(&c.sip_username, now.timestamp_millis()) {
            4
        } else if state.in_call.contains(&c.sip_username) {
            1
        } else {
            match c.presence {
                crate::directory::Presence::Available => 0,
                crate::directory::Presence::Dnd => 2,
                crate::directory::Presence::Away => 3,
            }
        };
        if let Some(n) = counts.get_mut(i) {
            *n += 1;
        }
    }
    for (name, n) in ["available", "in_call", "dnd", "away", "offline"]
        .iter()
        .zip(counts)
    {
        m.consultants.with_label_values(&[name]).set(n);
    }
    if let Some(desk) = &state.desk {
        let open = desk
            .dialplan
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_open(now);
        m.desk_open.set(i64::from(open));
    }
    if let Ok(n) = state.store.callbacks_overdue(now.timestamp_millis()).await {
        m.callbacks_overdue.set(n);
    }
    if let Ok(n) = state.store.callbacks_pending().await {
        m.callbacks_pending.set(n);
    }
    let week_ago = (now - chrono::Duration::days(7)).timestamp_millis();
    if let Ok((within, closed)) = state.store.sla_since(week_ago).await {
        if closed > 0 {
            m.sla_compliance.set(within as f64 / closed as f64);
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, whichever comes first.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
