//! Runs the [`Tracker`](super::Tracker) on the proxy's dialog events and
//! routing's decisions, and writes what it produces to the store.
//!
//! Two tasks, so a slow or absent database never delays the busy set
//! routing reads: the tracker applies events as they come; the writer
//! drains its queue into the store and, when a write fails, keeps the
//! write and retries it every second (`protocall_call_log_pending` shows
//! the backlog). Rows are idempotent by Call-ID, so a retry never doubles
//! a call or a call-back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};

use super::{CallRecord, CallbackDue, Detail, Effect, Tracker};
use crate::directory::snapshot::SharedDirectory;
use crate::metrics::CallMetrics;
use crate::routing::busy::InCall;
use crate::routing::note::RoutedCall;
use crate::sip::dialog::DialogEvent;
use crate::store::{CallRow, NewCallback, Store};

/// Writes waiting beyond this are dropped (and logged): a bound on memory
/// while the database is down.
pub const WRITE_QUEUE: usize = 100_000;

#[derive(Debug, Clone)]
pub struct CallLogConfig {
    /// How soon a missed owner must call back.
    pub callback_after: Duration,
    /// An answered call without a BYE is closed after this long.
    pub max_call: Duration,
}

pub struct CallLog {
    pub routed: mpsc::Receiver<RoutedCall>,
    pub events: mpsc::Receiver<DialogEvent>,
    /// Every event is passed on here after the tracker saw it (tests).
    pub tap: Option<mpsc::Sender<DialogEvent>>,
    pub store: Store,
    pub metrics: CallMetrics,
    pub in_call: Arc<InCall>,
    pub directory: Arc<SharedDirectory>,
    pub config: CallLogConfig,
}

enum Write {
    Call(CallRow),
    Callback(NewCallback),
}

impl CallLog {
    /// Runs until `stop` flips, then writes what is still queued.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let (tx, rx) = mpsc::channel::<Write>(WRITE_QUEUE);
        let writer = tokio::spawn(writer(self.store.clone(), rx, self.metrics.clone()));
        self.track(tx, stop).await;
        let _ = writer.await;
    }

    async fn track(mut self, tx: mpsc::Sender<Write>, mut stop: watch::Receiver<bool>) {
        let mut tracker = Tracker::new(self.config.callback_after, self.config.max_call);
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        let mut out = Vec::new();
        loop {
            tokio::select! {
                e = self.events.recv() => {
                    let Some(e) = e else { break };
                    // The decision was sent before the call was forwarded,
                    // so it is already in its queue: take it first.
                    while let Ok(r) = self.routed.try_recv() {
                        tracker.routed(r);
                    }
                    tracker.event(&e, &mut out);
                    if let Some(tap) = &self.tap {
                        let _ = tap.try_send(e);
                    }
                }
                r = self.routed.recv() => {
                    let Some(r) = r else { break };
                    tracker.routed(r);
                }
                _ = sweep.tick() => tracker.sweep(Utc::now(), &mut out),
                _ = stop.changed() => {
                    // What the proxy emitted before it stopped still counts.
                    while let Ok(r) = self.routed.try_recv() {
                        tracker.routed(r);
                    }
                    while let Ok(e) = self.events.try_recv() {
                        tracker.event(&e, &mut out);
                    }
                    for effect in out.drain(..) {
                        self.apply(effect, &tx);
                    }
                    break;
                }
            }
            for effect in out.drain(..) {
                self.apply(effect, &tx);
            }
        }
    }

    fn apply(&self, effect: Effect, tx: &mpsc::Sender<Write>) {
        let write = match effect {
            Effect::Busy(u) => return self.in_call.enter(&u),
            Effect::Free(u) => return self.in_call.leave(&u),
            Effect::Count {
                direction,
                route,
                outcome,
            } => {
                self.metrics
                    .calls
                    .with_label_values(&[direction.as_str(), route.as_str(), outcome.as_str()])
                    .inc();
                return;
            }
            Effect::Save(rec) => Write::Call(self.row(&rec)),
            Effect::Callback(cb) => Write::Callback(new_callback(cb)),
        };
        match tx.try_send(write) {
            Ok(()) => self.metrics.log_pending.inc(),
            Err(_) => tracing::error!("call log write queue full: a call record was dropped"),
        }
    }

    fn row(&self, rec: &CallRecord) -> CallRow {
        let r = &rec.routed;
        let consultant_id = rec.consultant.as_deref().and_then(|u| {
            self.directory
                .load()
                .consultant_by_username(u)
                .map(|c| c.id)
        });
        let detail = Detail {
            steps: r.steps.clone(),
            attempts: rec.attempts.clone(),
            reject: r.reject,
            expired: rec.expired,
        };
        let ms = |t: Option<chrono::DateTime<Utc>>| t.map(|t| t.timestamp_millis());
        CallRow {
            call_id: r.call_id.clone(),
            direction: r.direction.as_str().into(),
            from_uri: r.from.clone(),
            to_uri: r.to.clone(),
            caller_number: r.party.e164.clone().or_else(|| r.party.raw.clone()),
            caller_class: serde_json::to_value(r.party.class)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            provider_id: r.party.provider_id,
            provider_user_id: r.party.user_id,
            protocol_id: r.party.protocol_id,
            consultant_id,
            consultant: rec.consultant.clone(),
            rule: r.rule.clone(),
            route: rec.route.as_str().into(),
            outcome: rec.outcome.map(|o| o.as_str().into()),
            final_code: rec.final_code.map(i64::from),
            started_at_ms: r.at.timestamp_millis(),
            ringing_at_ms: ms(rec.ringing_at),
            answered_at_ms: ms(rec.answered_at),
            ended_at_ms: ms(rec.ended_at),
            ended_by: rec.ended_by.clone(),
            detail: serde_json::to_string(&detail).unwrap_or_else(|_| "{}".into()),
        }
    }
}

fn new_callback(cb: CallbackDue) -> NewCallback {
    NewCallback {
        call_id: cb.call_id,
        consultant_id: cb.owner_id,
        provider_id: cb.provider_id,
        protocol_id: cb.protocol_id,
        caller_number: cb.caller_number,
        reason: cb.reason,
        created_at_ms: cb.at.timestamp_millis(),
        due_at_ms: cb.due.timestamp_millis(),
    }
}

async fn write(
    store: &Store,
    w: &Write,
    metrics: &CallMetrics,
) -> Result<(), crate::store::StoreError> {
    match w {
        Write::Call(row) => store.save_call(row).await,
        Write::Callback(cb) => match store.create_callback(cb).await {
            Ok(true) => {
                metrics.callbacks_created.inc();
                Ok(())
            }
            Ok(false) => Ok(()),
            // The owner was deleted since: nobody to call back.
            Err(crate::store::StoreError::Reference(_)) => Ok(()),
            Err(e) => Err(e),
        },
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Write>, metrics: CallMetrics) {
    let mut retry: VecDeque<Write> = VecDeque::new();
    let mut closed = false;
    let mut tries_after_close = 0;
    loop {
        // Failed writes go first, in order, once the database answers.
        while let Some(w) = retry.front() {
            match write(&store, w, &metrics).await {
                Ok(()) => {
                    retry.pop_front();
                    metrics.log_pending.dec();
                }
                Err(e) => {
                    tracing::warn!(error = %e, pending = retry.len(), "call log not written; retrying");
                    break;
                }
            }
        }
        if closed {
            // Shutting down: a few more tries for a database that is
            // down, then say what was lost.
            if retry.is_empty() || tries_after_close >= 5 {
                if !retry.is_empty() {
                    tracing::error!(lost = retry.len(), "call log rows not written at shutdown");
                }
                return;
            }
            tries_after_close += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        if !retry.is_empty() {
            tokio::select! {
                w = rx.recv() => match w {
                    Some(w) => retry.push_back(w),
                    None => closed = true,
                },
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        match rx.recv().await {
            None => closed = true,
            Some(w) => {
                if let Err(e) = write(&store, &w, &metrics).await {
                    tracing::warn!(error = %e, "call log not written; will retry");
                    retry.push_back(w);
                } else {
                    metrics.log_pending.dec();
                }
            }
        }
    }
}
