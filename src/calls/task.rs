//! Runs the [`Tracker`](super::Tracker) on the proxy's dialog events and
//! routing's decisions, and hands what it produces (call-log rows,
//! call-backs, contacts) to the time-tracking journal, which makes them
//! durable and drains them to the store. Nothing here waits for a disk or a
//! database, so the busy set routing reads is always current.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};

use super::live::{LiveBoard, LiveSender};
use super::{CallRecord, CallbackDue, Detail, Effect, Tracker};
use crate::directory::snapshot::SharedDirectory;
use crate::metrics::CallMetrics;
use crate::routing::busy::InCall;
use crate::routing::note::RoutedCall;
use crate::sip::dialog::DialogEvent;
use crate::store::{CallContact, CallRow, NewCallback, Write};
use crate::tracking::journal::JournalHandle;

#[derive(Debug, Clone)]
pub struct CallLogConfig {
    /// How soon a missed owner must call back.
    pub callback_after: Duration,
    /// An answered call without a BYE is closed after this long.
    pub max_call: Duration,
    /// Service level: answered within this.
    pub service_threshold: Duration,
}

pub struct CallLog {
    pub routed: mpsc::Receiver<RoutedCall>,
    pub events: mpsc::Receiver<DialogEvent>,
    /// Every event is passed on here after the tracker saw it (tests).
    pub tap: Option<mpsc::Sender<DialogEvent>>,
    pub journal: JournalHandle,
    pub metrics: CallMetrics,
    pub desk: crate::metrics::DeskMetrics,
    pub in_call: Arc<InCall>,
    pub directory: Arc<SharedDirectory>,
    pub config: CallLogConfig,
    /// Where the live board goes for the console (none in tests that do
    /// not look).
    pub live: Option<LiveSender>,
}

impl CallLog {
    /// Runs until `stop` flips, after applying what the proxy emitted
    /// before it stopped.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut tracker = Tracker::new(self.config.callback_after, self.config.max_call)
            .with_threshold(self.config.service_threshold);
        let mut last_hour = LastHour::default();
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        // The board is redrawn at most four times a second whatever the
        // call rate: it copies every active call.
        let mut board = tokio::time::interval(Duration::from_millis(250));
        board.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut dirty = false;
        let mut out = Vec::new();
        loop {
            tokio::select! {
                _ = board.tick() => {
                    if let Some(live) = &self.live {
                        publish(live, &tracker, &last_hour, &mut dirty);
                    }
                    continue;
                }
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
                    while let Ok(r) = self.routed.try_recv() {
                        tracker.routed(r);
                    }
                    while let Ok(e) = self.events.try_recv() {
                        tracker.event(&e, &mut out);
                    }
                    for effect in out.drain(..) {
                        self.apply(effect);
                    }
                    break;
                }
            }
            dirty = true;
            for effect in out.drain(..) {
                if let Effect::Offered {
                    at,
                    within_threshold,
                    ..
                } = &effect
                {
                    last_hour.add(*at, *within_threshold);
                }
                self.apply(effect);
            }
            last_hour.expire(Utc::now());
            if let Some(level) = last_hour.service_level() {
                self.desk.service_level.set(level);
            }
        }
    }

    fn apply(&self, effect: Effect) {
        let writes = match effect {
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
            Effect::Save(rec) => {
                let mut w = vec![Write::Call(self.row(&rec))];
                w.extend(self.contact(&rec).map(Write::Contact));
                w
            }
            Effect::Callback(cb) => vec![Write::Callback(new_callback(cb))],
            Effect::Offered {
                within_threshold,
                abandoned,
                ..
            } => {
                self.desk.offered.inc();
                if within_threshold {
                    self.desk.answered_in_threshold.inc();
                }
                if abandoned {
                    self.desk.abandoned.inc();
                }
                return;
            }
        };
        for w in writes {
            // A write not taken is counted and logged by the journal, once
            // per run of them (a full disk refuses thousands a second).
            self.journal.append(w);
        }
    }

    fn consultant_id(&self, user: Option<&str>) -> Option<i64> {
        let user = user?;
        self.directory
            .load()
            .consultant_by_username(user)
            .map(|c| c.id)
    }

    fn contact(&self, rec: &CallRecord) -> Option<CallContact> {
        let d = super::contact_of(rec)?;
        let r = &rec.routed;
        let ms = |t: chrono::DateTime<Utc>| t.timestamp_millis();
        Some(CallContact {
            call_id: r.call_id.clone(),
            from_tag: r.from_tag.clone(),
            direction: r.direction.as_str().into(),
            status: d.status.as_str().into(),
            reason: d.reason,
            consultant_id: self.consultant_id(d.consultant.as_deref()),
            provider_id: r.party.provider_id,
            provider_user_id: r.party.user_id,
            protocol_id: r.party.protocol_id,
            rang_at_ms: ms(d.rang_at),
            started_at_ms: d.started_at.map(ms),
            ended_at_ms: d.ended_at.map(ms),
            wait_ms: d.wait_ms,
            flag: d.flag.map(str::to_string),
        })
    }

    fn row(&self, rec: &CallRecord) -> CallRow {
        let r = &rec.routed;
        let detail = Detail {
            steps: r.steps.clone(),
            attempts: rec.attempts.clone(),
            reject: r.reject,
            expired: rec.expired,
        };
        let ms = |t: Option<chrono::DateTime<Utc>>| t.map(|t| t.timestamp_millis());
        CallRow {
            call_id: r.call_id.clone(),
            from_tag: r.from_tag.clone(),
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
            consultant_id: self.consultant_id(rec.consultant.as_deref()),
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

/// Offered calls of the last hour in per-minute buckets (minute, offered,
/// answered within the threshold): the service level costs the same per
/// call whatever the call rate.
#[derive(Debug, Default)]
struct LastHour {
    buckets: std::collections::VecDeque<(i64, u64, u64)>,
    offered: u64,
    within: u64,
}

impl LastHour {
    fn add(&mut self, at: chrono::DateTime<Utc>, within: bool) {
        let minute = at.timestamp().div_euclid(60);
        match self.buckets.back_mut() {
            Some(b) if b.0 == minute => {
                b.1 += 1;
                b.2 += u64::from(within);
            }
            _ => self.buckets.push_back((minute, 1, u64::from(within))),
        }
        self.offered += 1;
        self.within += u64::from(within);
    }

    fn expire(&mut self, now: chrono::DateTime<Utc>) {
        let oldest = now.timestamp().div_euclid(60) - 59;
        while let Some(&(minute, offered, within)) = self.buckets.front() {
            if minute >= oldest {
                break;
            }
            self.buckets.pop_front();
            self.offered -= offered;
            self.within -= within;
        }
    }

    fn service_level(&self) -> Option<f64> {
        (self.offered > 0).then(|| self.within as f64 / self.offered as f64)
    }
}

/// Sends a fresh board when calls changed or the last hour's figures
/// moved; readers are woken only by a board that differs.
fn publish(live: &LiveSender, tracker: &Tracker, last_hour: &LastHour, dirty: &mut bool) {
    let level = last_hour.service_level();
    let offered = u32::try_from(last_hour.offered).unwrap_or(u32::MAX);
    let current = live.borrow().clone();
    if !*dirty && current.service_level == level && current.offered_last_hour == offered {
        return;
    }
    *dirty = false;
    let next = LiveBoard {
        calls: tracker.live(),
        service_level: level,
        offered_last_hour: offered,
    };
    live.send_if_modified(|b| {
        if **b == next {
            false
        } else {
            *b = Arc::new(next);
            true
        }
    });
}

fn new_callback(cb: CallbackDue) -> NewCallback {
    NewCallback {
        call_id: cb.call_id,
        from_tag: cb.from_tag,
        consultant_id: cb.owner_id,
        provider_id: cb.provider_id,
        protocol_id: cb.protocol_id,
        caller_number: cb.caller_number,
        reason: cb.reason,
        created_at_ms: cb.at.timestamp_millis(),
        due_at_ms: cb.due.timestamp_millis(),
    }
}

#[cfg(test)]
mod tests {
    use super::LastHour;
    use chrono::TimeZone;

    #[test]
    fn the_last_hour_forgets_older_calls() {
        let t = |m: i64| {
            chrono::Utc
                .timestamp_opt(1_764_000_000 + m * 60, 0)
                .unwrap()
        };
        let mut h = LastHour::default();
        assert_eq!(h.service_level(), None);
        h.add(t(0), true);
        h.add(t(0), false);
        h.add(t(30), true);
        h.expire(t(30));
        assert_eq!(h.service_level(), Some(2.0 / 3.0));
        h.expire(t(61));
        assert_eq!(h.service_level(), Some(1.0), "minute 0 is over an hour old");
        h.expire(t(200));
        assert_eq!(h.service_level(), None);
    }
}
