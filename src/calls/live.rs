//! The desk as it is this second: calls ringing, waiting and in progress,
//! and the last hour's service level, for the console's live panels.
//!
//! The call log's task owns the truth (the [`Tracker`](super::Tracker));
//! this is a copy it publishes on a `watch` channel a few times a second
//! when something changed, so a page being drawn never holds the tracker
//! up, and the SIP path never waits for a browser. Consumers get the whole
//! board (an `Arc`, shared by every reader) and pick what they show.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::CallRecord;
use crate::routing::caller::Caller;
use crate::routing::note::{Direction, RouteKind};

/// One call in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCall {
    pub call_id: String,
    pub direction: Direction,
    /// The other party (the caller of an inbound call), as the directory
    /// knows them.
    pub party: Caller,
    /// The consultant who answered (inbound) or placed the call.
    pub consultant: Option<String>,
    /// The consultants whose phones are ringing for it now.
    pub ringing: Vec<String>,
    /// Where the call is: the route of its latest attempt.
    pub route: RouteKind,
    /// When routing took the call: the caller's wait starts here.
    pub offered_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
}

impl LiveCall {
    pub(super) fn of(rec: &CallRecord) -> LiveCall {
        let unanswered = rec.answered_at.is_none();
        let mut ringing: Vec<String> = rec
            .attempts
            .iter()
            .filter(|a| unanswered && a.ended_at.is_none())
            .filter_map(|a| a.user.clone())
            .collect();
        ringing.sort();
        ringing.dedup();
        LiveCall {
            call_id: rec.routed.call_id.clone(),
            direction: rec.routed.direction,
            party: rec.routed.party.clone(),
            consultant: rec.consultant.clone(),
            ringing,
            route: rec.attempts.last().map_or(rec.route, |a| a.route),
            offered_at: rec.routed.at,
            answered_at: rec.answered_at,
        }
    }

    /// An inbound call nobody has answered yet and no consultant's phone
    /// is ringing for (between steps, or at the URA's door).
    pub fn waiting(&self) -> bool {
        self.direction == Direction::Inbound
            && self.answered_at.is_none()
            && self.ringing.is_empty()
    }

    /// Whether `user` is on this call or being rung for it.
    pub fn involves(&self, user: &str) -> bool {
        self.consultant.as_deref() == Some(user) || self.ringing.iter().any(|u| u == user)
    }
}

/// Everything the live panels show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveBoard {
    /// Oldest first.
    pub calls: Vec<LiveCall>,
    /// Share of the last hour's offered calls a consultant answered within
    /// the threshold; `None` when none was offered.
    pub service_level: Option<f64>,
    /// Calls offered in the last hour.
    pub offered_last_hour: u32,
}

impl LiveBoard {
    /// The call `user` is on or being rung for, if any (the answered one
    /// first: a consultant on a call whose phone rings again for a second
    /// call sees the one they are talking on).
    pub fn call_of(&self, user: &str) -> Option<&LiveCall> {
        self.calls
            .iter()
            .filter(|c| c.involves(user))
            .min_by_key(|c| c.answered_at.is_none())
    }
}

/// The sending side, kept by the call log's task.
pub type LiveSender = watch::Sender<Arc<LiveBoard>>;
/// The receiving side, cloned into every console connection.
pub type LiveReceiver = watch::Receiver<Arc<LiveBoard>>;

/// A channel holding an empty board.
pub fn channel() -> (LiveSender, LiveReceiver) {
    watch::channel(Arc::new(LiveBoard::default()))
}
