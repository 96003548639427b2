//! The SIP side's background tasks, one function each: what runs beside
//! the transports between start-up and shutdown. Each ends when `stop`
//! changes, and `SipServer::join` waits for all of them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{persist, CredentialCache, SenderWire, GUARD_SWEEP, PRESENCE_POLL, TICK};
use crate::directory::protocol_changes::ProtocolChanges;
use crate::directory::snapshot::SharedDirectory;
use crate::metrics::SipMetrics;
use crate::routing::desk::DeskRouter;
use crate::sip::guard::Guard;
use crate::sip::location::{Location, LocationChange};
use crate::sip::proxy::Proxy;
use crate::sip::transport::{Sender, TlsIdentity};
use crate::store::Store;

/// Transaction timers.
pub(super) fn timers(
    proxy: Arc<Proxy>,
    sender: Sender,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => proxy.tick(&SenderWire(&sender)),
                _ = stop.changed() => break,
            }
        }
    })
}

/// The guard's idle sources, ended bans and its bans gauge.
pub(super) fn guard_sweep(guard: Arc<Guard>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(GUARD_SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => guard.sweep(std::time::Instant::now()),
                _ = stop.changed() => break,
            }
        }
    })
}

/// Binding expiry and the registrations gauge.
pub(super) fn expiry(
    location: Arc<Location>,
    metrics: SipMetrics,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let now = chrono::Utc::now().timestamp_millis();
                    location.expire(now);
                    metrics.registrations_active.set(location.count(now) as i64);
                }
                _ = stop.changed() => break,
            }
        }
    })
}

/// Write-behind of binding changes; on shutdown, what is queued is still
/// written before the task ends.
pub(super) fn write_behind(
    store: Store,
    mut changes: mpsc::Receiver<LocationChange>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                c = changes.recv() => c,
                _ = stop.changed() => {
                    while let Ok(c) = changes.try_recv() {
                        persist(&store, c).await;
                    }
                    break;
                }
            };
            match change {
                Some(c) => persist(&store, c).await,
                None => break,
            }
        }
    })
}

/// SIGHUP reloads the dialplan (a broken one is refused, see
/// `DeskRouter::reload_and_resolve`) and the TLS certificate (a broken one
/// is refused too: the running identity stays). `None` when there is
/// nothing to reload or no signal to listen to.
#[cfg(unix)]
pub(super) fn reload_on_hangup(
    desk: Option<Arc<DeskRouter>>,
    tls: Option<TlsIdentity>,
    mut stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if desk.is_none() && tls.is_none() {
        return None;
    }
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hup) => hup,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                got = hup.recv() => {
                    if got.is_none() { break; }
                    if let Some(d) = &desk {
                        let _ = d.reload_and_resolve().await;
                    }
                    if let Some(tls) = &tls {
                        // File reads: off the runtime's workers.
                        let tls = tls.clone();
                        match tokio::task::spawn_blocking(move || tls.reload()).await {
                            Ok(Ok(())) => tracing::info!("TLS certificate reloaded"),
                            Ok(Err(e)) => tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays in use"),
                            Err(e) => tracing::error!(error = %e, "TLS certificate reload did not finish"),
                        }
                    }
                }
                _ = stop.changed() => break,
            }
        }
    }))
}

/// Presence and activity changed outside the API (the CLI writes the
/// database directly): poll them, and reload the snapshot on a change.
pub(super) fn presence_poll(
    store: Store,
    directory: Arc<SharedDirectory>,
    credentials: Arc<CredentialCache>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRESENCE_POLL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            let Ok(states) = store.consultant_states().await else {
                continue;
            };
            let snap = directory.load();
            let same = states.len() == snap.consultants.len()
                && states.iter().all(|(id, active, presence)| {
                    snap.consultants
                        .get(id)
                        .is_some_and(|c| c.active == *active && c.presence.as_str() == presence)
                });
            if same {
                continue;
            }
            if let Ok(fresh) = store.load_snapshot().await {
                directory.replace(fresh);
                tracing::info!("consultant presence changed outside the API; directory reloaded");
            }
            if let Err(e) = credentials.reload(&store).await {
                tracing::warn!(error = %e, "credential cache not refreshed");
            }
        }
    })
}

/// The snapshot and credential cache follow directory changes: a full
/// reload when the directory version moves, a patch of just the protocols
/// that changed otherwise. One task for both, so they cannot race.
pub(super) fn directory_refresh(
    store: Store,
    directory: Arc<SharedDirectory>,
    credentials: Arc<CredentialCache>,
    mut directory_version: watch::Receiver<u64>,
    protocol_changes: ProtocolChanges,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = directory_version.changed() => {
                    if changed.is_err() { break; }
                    if let Err(e) = credentials.reload(&store).await {
                        tracing::warn!(error = %e, "credential cache not refreshed");
                    }
                    let started = std::time::Instant::now();
                    match store.load_snapshot().await {
                        Ok(snap) => {
                            directory.replace(snap);
                            tracing::debug!(elapsed = ?started.elapsed(), "directory snapshot reloaded");
                        }
                        Err(e) => tracing::warn!(error = %e, "directory snapshot not refreshed"),
                    }
                }
                // A protocol's owner, deadline or status changed: patch
                // those protocols in. A full reload reads every number
                // (tens of ms at 10,000 numbers, a third of a second at
                // 100,000), too much to pay per event from the system of
                // record; this reads only the protocols that changed.
                batch = protocol_changes.next_batch() => {
                    let started = std::time::Instant::now();
                    match store.protocol_entries(&batch.ids).await {
                        Ok(changes) => {
                            directory.patch_protocols(&changes);
                            tracing::debug!(protocols = batch.ids.len(), elapsed = ?started.elapsed(), "protocols patched into the directory snapshot");
                        }
                        Err(e) => tracing::warn!(error = %e, "protocols not patched into the directory snapshot"),
                    }
                    protocol_changes.patched(batch.upto);
                }
                _ = stop.changed() => break,
            }
        }
    })
}
