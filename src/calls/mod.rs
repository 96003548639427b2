//! The call log: joins each routing decision with the proxy's dialog
//! events into one record per call (who called, the rule, every phone
//! tried with its result and timing, the outcome), marks consultants in a
//! call, and decides the call-backs owed by owners who missed a client.
//!
//! A call is a dialog: its Call-ID and the caller's From tag, as the proxy
//! reports them ([`DialogId`]). A request reusing a Call-ID with another
//! From tag is another call and never touches the first one's record.
//!
//! [`Tracker`] is the pure state machine (unit-tested here); [`task`]
//! runs it on the events and writes its output to the store, off the SIP
//! path; [`live`] is the copy of its calls in progress the console shows.

pub mod live;
pub mod task;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::routing::caller::CallerClass;
use crate::routing::note::{Direction, RouteKind, RoutedCall, StepNote};
use crate::sip::dialog::{DialogEvent, DialogId, Party};
use crate::tracking::states::ContactStatus;

/// How a call ended: the bounded `outcome` label of
/// `protocall_calls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    /// 486 Busy Here, 600 Busy Everywhere, 603 Decline.
    Busy,
    /// Rang out (408) or nobody reachable (480).
    NoAnswer,
    /// The caller hung up before an answer.
    Cancelled,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no_answer",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
        }
    }

    pub fn of_code(code: u16, cancelled: bool) -> Outcome {
        match code {
            _ if cancelled => Outcome::Cancelled,
            200..=299 => Outcome::Answered,
            486 | 600 | 603 => Outcome::Busy,
            408 | 480 => Outcome::NoAnswer,
            487 => Outcome::Cancelled,
            _ => Outcome::Failed,
        }
    }
}

/// One phone rung for a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Index into the decision's steps.
    pub step: Option<usize>,
    pub route: RouteKind,
    pub target: String,
    pub user: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// 200 when it answered; otherwise its final code (408: rang out).
    pub code: Option<u16>,
    pub result: Option<Outcome>,
}

/// Everything known about one call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRecord {
    pub routed: RoutedCall,
    pub attempts: Vec<Attempt>,
    pub route: RouteKind,
    pub outcome: Option<Outcome>,
    pub final_code: Option<u16>,
    /// The consultant who answered (inbound) or placed the call.
    pub consultant: Option<String>,
    pub ringing_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<String>,
    /// Closed by the tracker because no end was ever seen.
    pub expired: bool,
    /// RFC 4028: the session interval and when it was last (re)started.
    #[serde(default)]
    pub session: Option<(u32, DateTime<Utc>)>,
}

/// What the detail column keeps: the plan as carried out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Detail {
    pub steps: Vec<StepNote>,
    pub attempts: Vec<Attempt>,
    pub reject: Option<u16>,
    #[serde(default)]
    pub expired: bool,
}

/// A call-back the owner owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackDue {
    pub call_id: String,
    pub from_tag: String,
    pub owner_id: i64,
    pub provider_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub caller_number: Option<String>,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub due: DateTime<Utc>,
}

/// What the tracker asks its runner to do.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Write (insert or complete) the call's row.
    Save(Box<CallRecord>),
    /// The call's outcome is known: count it.
    Count {
        direction: Direction,
        route: RouteKind,
        outcome: Outcome,
    },
    Callback(CallbackDue),
    /// A consultant entered or left a call.
    Busy(String),
    Free(String),
    /// An inbound call was offered to the desk (a consultant's phone
    /// rang) and is settled: answered by a consultant within the
    /// service-level threshold, or abandoned by the caller.
    Offered {
        at: DateTime<Utc>,
        within_threshold: bool,
        abandoned: bool,
    },
}

pub struct Tracker {
    active: HashMap<DialogId, CallRecord>,
    callback_after: chrono::Duration,
    /// Longest an answered call may stay open without a BYE.
    max_call: chrono::Duration,
    /// Longest a call may ring (unanswered) before it is given up on.
    max_setup: chrono::Duration,
    /// Service level: answered by a consultant within this.
    threshold: chrono::Duration,
}

impl Tracker {
    pub fn new(callback_after: std::time::Duration, max_call: std::time::Duration) -> Tracker {
        let d = |d: std::time::Duration| {
            chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::hours(24))
        };
        Tracker {
            active: HashMap::new(),
            callback_after: d(callback_after),
            max_call: d(max_call),
            max_setup: chrono::Duration::minutes(10),
            threshold: chrono::Duration::seconds(20),
        }
    }

    /// The service-level threshold (default 20 s).
    pub fn with_threshold(mut self, t: std::time::Duration) -> Tracker {
        self.threshold = chrono::Duration::from_std(t).unwrap_or(self.threshold);
        self
    }

    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// The calls in progress for the live board, oldest first.
    pub fn live(&self) -> Vec<live::LiveCall> {
        let mut calls: Vec<_> = self.active.values().map(live::LiveCall::of).collect();
        calls.sort_by(|a, b| {
            a.offered_at
                .cmp(&b.offered_at)
                .then(a.call_id.cmp(&b.call_id))
        });
        calls
    }

    /// Starts tracking a call routing decided. A second decision for a
    /// dialog already in progress (a spiral, or someone replaying the
    /// dialog's identifiers) does not replace the call it started.
    pub fn routed(&mut self, r: RoutedCall) {
        let key = r.dialog();
        if self.active.contains_key(&key) {
            tracing::debug!("a routing decision for a dialog already tracked was ignored");
            return;
        }
        let consultant = match r.direction {
            Direction::Inbound => None,
            _ => r.consultant.clone(),
        };
        let route = r
            .steps
            .first()
            .map(|s| s.route)
            .unwrap_or(RouteKind::Rejected);
        self.active.insert(
            key,
            CallRecord {
                routed: r,
                attempts: Vec::new(),
                route,
                outcome: None,
                final_code: None,
                consultant,
                ringing_at: None,
                answered_at: None,
                ended_at: None,
                ended_by: None,
                expired: false,
                session: None,
            },
        );
    }

    /// Applies one dialog event; events of calls routing did not record
    /// (relays, static routes) are ignored.
    pub fn event(&mut self, e: &DialogEvent, out: &mut Vec<Effect>) {
        let key = e.id();
        let Some(rec) = self.active.get_mut(key) else {
            return;
        };
        match e {
            DialogEvent::Forked { target, at, .. } => {
                let (step, route, user) = locate(rec, target);
                rec.attempts.push(Attempt {
                    step,
                    route,
                    target: target.clone(),
                    user,
                    started_at: *at,
                    ended_at: None,
                    code: None,
                    result: None,
                });
            }
            DialogEvent::BranchFailed {
                target, code, at, ..
            } => {
                if let Some(a) = open_attempt(rec, target) {
                    a.ended_at = Some(*at);
                    a.code = Some(*code);
                    a.result = Some(Outcome::of_code(*code, false));
                }
            }
            DialogEvent::Ringing { at, .. } => {
                rec.ringing_at.get_or_insert(*at);
            }
            DialogEvent::Refreshed {
                session_expires,
                at,
                ..
            } => {
                rec.session = Some((*session_expires, *at));
            }
            DialogEvent::Answered {
                target,
                at,
                session_expires,
                ..
            } => {
                rec.session = session_expires.map(|s| (s, *at));
                if let Some(a) = open_attempt(rec, target) {
                    a.ended_at = Some(*at);
                    a.code = Some(200);
                    a.result = Some(Outcome::Answered);
                }
                let answered = rec
                    .attempts
                    .iter()
                    .rev()
                    .find(|a| a.result == Some(Outcome::Answered))
                    .cloned();
                if let Some(a) = &answered {
                    rec.route = a.route;
                }
                rec.answered_at = Some(*at);
                rec.outcome = Some(Outcome::Answered);
                rec.final_code = Some(200);
                if rec.routed.direction == Direction::Inbound {
                    rec.consultant = answered.and_then(|a| a.user);
                }
                // Both consultants of an internal call are busy.
                let mut busy: Vec<String> = rec.consultant.iter().cloned().collect();
                if rec.routed.direction == Direction::Internal {
                    busy.extend(rec.attempts.iter().filter_map(|a| {
                        (a.result == Some(Outcome::Answered))
                            .then(|| a.user.clone())
                            .flatten()
                    }));
                }
                busy.dedup();
                out.extend(busy.into_iter().map(Effect::Busy));
                out.push(Effect::Count {
                    direction: rec.routed.direction,
                    route: rec.route,
                    outcome: Outcome::Answered,
                });
                if offered(rec) {
                    let by_consultant = rec.consultant.is_some() && rec.route != RouteKind::Ura;
                    out.push(Effect::Offered {
                        at: *at,
                        within_threshold: by_consultant && *at - rec.routed.at <= self.threshold,
                        abandoned: false,
                    });
                }
                if let Some(cb) = callback(rec, self.callback_after, *at) {
                    out.push(Effect::Callback(cb));
                }
                out.push(Effect::Save(Box::new(rec.clone())));
            }
            DialogEvent::Ended { by, at, .. } => {
                if let Some(mut rec) = self.active.remove(key) {
                    rec.ended_at = Some(*at);
                    rec.ended_by = Some(
                        match by {
                            Party::Caller => "caller",
                            Party::Callee => "callee",
                        }
                        .into(),
                    );
                    free(&rec, out);
                    out.push(Effect::Save(Box::new(rec)));
                }
            }
            DialogEvent::Failed {
                code,
                cancelled,
                at,
                ..
            } => {
                if let Some(mut rec) = self.active.remove(key) {
                    if rec.answered_at.is_some() {
                        // A late failure of an answered call's INVITE
                        // transaction changes nothing.
                        self.active.insert(key.clone(), rec);
                        return;
                    }
                    let outcome = Outcome::of_code(*code, *cancelled);
                    for a in rec.attempts.iter_mut().filter(|a| a.ended_at.is_none()) {
                        a.ended_at = Some(*at);
                        a.code = Some(487);
                        a.result = Some(Outcome::Cancelled);
                    }
                    rec.route = match rec.attempts.last() {
                        Some(a) => a.route,
                        None => RouteKind::Rejected,
                    };
                    rec.outcome = Some(outcome);
                    rec.final_code = Some(*code);
                    rec.ended_at = Some(*at);
                    out.push(Effect::Count {
                        direction: rec.routed.direction,
                        route: rec.route,
                        outcome,
                    });
                    if offered(&rec) {
                        out.push(Effect::Offered {
                            at: *at,
                            within_threshold: false,
                            abandoned: outcome == Outcome::Cancelled,
                        });
                    }
                    if let Some(cb) = callback(&rec, self.callback_after, *at) {
                        out.push(Effect::Callback(cb));
                    }
                    out.push(Effect::Save(Box::new(rec)));
                }
            }
        }
    }

    /// Closes calls whose end never came: answered calls older than the
    /// maximum duration (the phone died before its BYE), unanswered ones
    /// that somehow never got a final response.
    pub fn sweep(&mut self, now: DateTime<Utc>, out: &mut Vec<Effect>) {
        let stale: Vec<DialogId> = self
            .active
            .iter()
            .filter(|(_, r)| match (r.answered_at, session_end(r)) {
                // RFC 4028 §10: without a refresh the session ends at its
                // expiry; the BYE gets the spec's 32 s of grace.
                (Some(_), Some(end)) if now - end > chrono::Duration::seconds(32) => true,
                (Some(a), _) => now - a > self.max_call,
                (None, _) => now - r.routed.at > self.max_setup,
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            if let Some(mut rec) = self.active.remove(&k) {
                rec.expired = true;
                // The last moment the session was alive.
                rec.ended_at = Some(session_end(&rec).map_or(now, |e| e.min(now)));
                if rec.outcome.is_none() {
                    rec.outcome = Some(Outcome::Failed);
                    out.push(Effect::Count {
                        direction: rec.routed.direction,
                        route: rec.route,
                        outcome: Outcome::Failed,
                    });
                }
                free(&rec, out);
                out.push(Effect::Save(Box::new(rec)));
            }
        }
    }
}

/// The consulting contact a call makes, if it makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactDraft {
    /// open, done, missed or abandoned.
    pub status: ContactStatus,
    pub reason: Option<String>,
    /// Username of the consultant the contact belongs to.
    pub consultant: Option<String>,
    pub rang_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub wait_ms: Option<i64>,
    pub flag: Option<&'static str>,
}

/// Which calls are consulting contacts (time tracking's rule 2):
/// - answered by a consultant, inbound or outbound: a contact opened at the
///   2xx and closed at the BYE (`expired` when no BYE came);
/// - inbound, rang at least one consultant, and no consultant answered: a
///   missed contact (`abandoned` when the caller hung up first), with the
///   reason (busy, no_answer, ura when the URA took it after the desk) and
///   attributed to the owner when the plan had one;
/// - everything else (URA-only calls, internal calls, unanswered outbound
///   attempts) stays in the call log only.
pub fn contact_of(rec: &CallRecord) -> Option<ContactDraft> {
    let r = &rec.routed;
    if r.direction == Direction::Internal {
        return None;
    }
    let by_consultant =
        rec.answered_at.is_some() && rec.consultant.is_some() && rec.route != RouteKind::Ura;
    if by_consultant {
        let answered = rec.answered_at?;
        return Some(ContactDraft {
            status: if rec.ended_at.is_some() {
                ContactStatus::Done
            } else {
                ContactStatus::Open
            },
            reason: None,
            consultant: rec.consultant.clone(),
            rang_at: r.at,
            started_at: Some(answered),
            ended_at: rec.ended_at,
            // From the stored milliseconds, so wait = started − rang exactly.
            wait_ms: Some(answered.timestamp_millis() - r.at.timestamp_millis()),
            flag: rec.expired.then_some("expired"),
        });
    }
    let rang_consultant = rec.attempts.iter().any(|a| a.user.is_some());
    if r.direction != Direction::Inbound || !rang_consultant {
        return None;
    }
    // Settled: either failed, or answered by the URA after the desk.
    let end = rec.answered_at.or(rec.ended_at)?;
    let (status, reason) = match rec.outcome {
        Some(Outcome::Answered) => (ContactStatus::Missed, "ura"),
        Some(Outcome::Cancelled) => (ContactStatus::Abandoned, "cancelled"),
        Some(Outcome::Busy) => (ContactStatus::Missed, "busy"),
        Some(Outcome::NoAnswer) => (ContactStatus::Missed, "no_answer"),
        _ => (ContactStatus::Missed, "failed"),
    };
    Some(ContactDraft {
        status,
        reason: Some(reason.into()),
        consultant: r.owner().map(str::to_string),
        rang_at: r.at,
        started_at: None,
        ended_at: Some(end),
        wait_ms: Some(end.timestamp_millis() - r.at.timestamp_millis()),
        flag: None,
    })
}

/// When an answered call's session timer runs out, if it has one.
fn session_end(r: &CallRecord) -> Option<DateTime<Utc>> {
    let (interval, since) = r.session?;
    Some(since + chrono::Duration::seconds(i64::from(interval)))
}

/// An inbound call that rang at least one consultant's phone.
fn offered(rec: &CallRecord) -> bool {
    rec.routed.direction == Direction::Inbound && rec.attempts.iter().any(|a| a.user.is_some())
}

fn free(rec: &CallRecord, out: &mut Vec<Effect>) {
    if rec.answered_at.is_none() {
        return;
    }
    let mut users: Vec<String> = rec.consultant.iter().cloned().collect();
    if rec.routed.direction == Direction::Internal {
        users.extend(rec.attempts.iter().filter_map(|a| {
            (a.result == Some(Outcome::Answered))
                .then(|| a.user.clone())
                .flatten()
        }));
    }
    users.dedup();
    out.extend(users.into_iter().map(Effect::Free));
}

/// The step a forked target belongs to: the first step, from the one of
/// the latest attempt on, that lists it and has not rung it yet (an owner
/// who is also in the team rings twice, once per step).
fn locate(rec: &CallRecord, target: &str) -> (Option<usize>, RouteKind, Option<String>) {
    let from = rec.attempts.last().and_then(|a| a.step).unwrap_or(0);
    for (i, s) in rec.routed.steps.iter().enumerate().skip(from) {
        let rung_here = rec
            .attempts
            .iter()
            .any(|a| a.step == Some(i) && a.target == target);
        if rung_here {
            continue;
        }
        if let Some(t) = s.targets.iter().find(|t| t.uri == target) {
            return (Some(i), s.route, t.user.clone());
        }
    }
    (None, RouteKind::Uri, None)
}

fn open_attempt<'a>(rec: &'a mut CallRecord, target: &str) -> Option<&'a mut Attempt> {
    rec.attempts
        .iter_mut()
        .rev()
        .find(|a| a.target == target && a.ended_at.is_none())
}

/// A consulting client's inbound call whose plan wanted the owner, and the
/// owner did not take it: the owner owes a call-back.
fn callback(rec: &CallRecord, after: chrono::Duration, at: DateTime<Utc>) -> Option<CallbackDue> {
    let r = &rec.routed;
    if r.direction != Direction::Inbound || r.party.class != CallerClass::Consulting {
        return None;
    }
    let owner_id = r.party.owner_id?;
    let owner = r.owner()?;
    if rec.consultant.as_deref() == Some(owner) {
        return None;
    }
    let step = r.steps.iter().find(|s| s.route == RouteKind::Owner)?;
    let reason = match step.skipped.iter().find(|s| s.user == owner) {
        Some(s) => serde_json::to_value(s.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "unavailable".into()),
        None => match rec
            .attempts
            .iter()
            .filter(|a| a.route == RouteKind::Owner)
            .filter_map(|a| a.code)
            .next()
        {
            Some(486 | 600) => "busy".into(),
            Some(603) => "declined".into(),
            Some(487) => "cancelled".into(),
            Some(408 | 480) => "no_answer".into(),
            _ => "no_answer".into(),
        },
    };
    Some(CallbackDue {
        call_id: r.call_id.clone(),
        from_tag: r.from_tag.clone(),
        owner_id,
        provider_id: r.party.provider_id,
        protocol_id: r.party.protocol_id,
        caller_number: r.party.e164.clone().or_else(|| r.party.raw.clone()),
        reason,
        at,
        due: r.at + after,
    })
}

#[cfg(test)]
mod tests;
