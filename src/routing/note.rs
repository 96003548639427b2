//! What routing tells the call log about each call it decided: who called,
//! the rule, every step with the phones it rang and the consultants it
//! skipped (and why). The call log joins this with the proxy's dialog
//! events to explain a call after the fact (`GET /api/calls/{id}`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use crate::sip::dialog::DialogId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From a trusted trunk or PBX to the desk.
    Inbound,
    /// From a consultant to an external number, through the trunk.
    Outbound,
    /// From a consultant to a colleague.
    Internal,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
        }
    }
}

/// Where a call went: the bounded label set of `protocall_calls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    Owner,
    Team,
    Ura,
    /// Any other SIP URI: a dialplan `uri` step, a colleague's phone, the
    /// trunk for outbound calls.
    Uri,
    Rejected,
}

impl RouteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Owner => "owner",
            RouteKind::Team => "team",
            RouteKind::Ura => "ura",
            RouteKind::Uri => "uri",
            RouteKind::Rejected => "rejected",
        }
    }
}

/// Why a consultant's phones were not rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    NotRegistered,
    Inactive,
    Dnd,
    Away,
    InCall,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetNote {
    pub uri: String,
    /// The consultant whose phone this is, when it is one.
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedUser {
    pub user: String,
    pub reason: Skip,
}

/// One step of the plan as it was carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepNote {
    pub route: RouteKind,
    pub ring_ms: u64,
    pub targets: Vec<TargetNote>,
    pub skipped: Vec<SkippedUser>,
}

/// The routing decision for one call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoutedCall {
    pub call_id: String,
    /// The caller's From tag: with the Call-ID, the dialog the proxy
    /// reports events for. A Call-ID alone is anyone's to reuse.
    #[serde(default)]
    pub from_tag: String,
    pub direction: Direction,
    /// From and To URIs of the INVITE.
    pub from: String,
    pub to: String,
    /// The other party: the caller of an inbound call, the dialled number
    /// of an outbound one, identified against the directory.
    pub party: Caller,
    /// The consultant placing an outbound or internal call.
    pub consultant: Option<String>,
    pub rule: String,
    pub steps: Vec<StepNote>,
    /// The final answer when nothing could be rung.
    pub reject: Option<u16>,
    pub at: DateTime<Utc>,
}

impl RoutedCall {
    /// The dialog this decision belongs to, as the proxy's events name it.
    pub fn dialog(&self) -> DialogId {
        DialogId {
            call_id: self.call_id.clone(),
            from_tag: self.from_tag.clone(),
        }
    }

    /// The owner the plan wanted to reach first, if it had an owner step.
    pub fn owner(&self) -> Option<&str> {
        let step = self.steps.iter().find(|s| s.route == RouteKind::Owner)?;
        step.targets
            .iter()
            .filter_map(|t| t.user.as_deref())
            .chain(step.skipped.iter().map(|s| s.user.as_str()))
            .next()
    }
}
