//! Who may call what: the principal a request acts as, and the one table
//! of rights per route.
//!
//! Rights are decided in two places, on purpose. The table below gives each
//! route the least role it needs, checked by the auth middleware before a
//! handler runs; a route missing from it is refused to everyone (403), so a
//! new route cannot ship without a decision. Routes marked `Own` (and
//! `Feed`) are open to consultants, and their handlers narrow them to the
//! consultant's own data with `Principal::may_act_for` / `scope`, because
//! only the handler knows whose timer or call-back an id points at.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};

use super::error::ApiError;
use crate::directory::Role;
use crate::store::TokenKind;

/// The least a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any API token: reads of what the whole desk shares (the directory,
    /// categories, rooms).
    Anyone,
    /// Any API token; a consultant only for their own data (the handler
    /// checks whose).
    Own,
    /// As `Own`, and a feed token for its own consultant: the calendar.
    Feed,
    Manager,
    Admin,
    /// No token: a foreign system's webhook, which proves itself with an
    /// HMAC signature over the body (`http::signed`), checked by the
    /// handler because only it has the body and its endpoint's secret.
    Signed,
}

impl Need {
    /// A line for the OpenAPI description of the route.
    pub fn describe(self) -> &'static str {
        match self {
            Need::Anyone => "Rights: any API token (admin, manager, consultant).",
            Need::Own => {
                "Rights: admin and manager for anyone; a consultant for their own data only \
                 (403 otherwise)."
            }
            Need::Feed => {
                "Rights: admin and manager for anyone; a consultant for their own feed; \
                 a feed token for its consultant's feed only (in the `token` query parameter)."
            }
            Need::Manager => "Rights: admin and manager (403 for consultants).",
            Need::Admin => "Rights: admin only (403 for managers and consultants).",
            Need::Signed => {
                "Rights: no token; the request is signed with the endpoint's shared secret \
                 (X-Protocall-Timestamp, X-Protocall-Signature: sha256=HMAC-SHA256 of \
                 \"<timestamp>.<body>\"); 401 on a bad, stale or replayed signature."
            }
        }
    }

    /// The roles it admits, for the `x-roles` extension of the document.
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Need::Anyone => &["admin", "manager", "consultant"],
            Need::Own => &["admin", "manager", "consultant (own)"],
            Need::Feed => &["admin", "manager", "consultant (own)", "feed (own)"],
            Need::Manager => &["admin", "manager"],
            Need::Admin => &["admin"],
            Need::Signed => &["signed webhook"],
        }
    }
}

/// Every route and what it needs: method, the route as the router spells
/// it (with its `/api` prefix), need.
pub const RIGHTS: &[(&str, &str, Need)] = &[
    ("GET", "/api/openapi.json", Need::Anyone),
    // The directory: everyone reads, the admin writes.
    ("GET", "/api/providers", Need::Anyone),
    ("POST", "/api/providers", Need::Admin),
    ("GET", "/api/providers/{id}", Need::Anyone),
    ("PATCH", "/api/providers/{id}", Need::Admin),
    ("DELETE", "/api/providers/{id}", Need::Admin),
    ("GET", "/api/providers/{id}/numbers", Need::Anyone),
    ("POST", "/api/providers/{id}/numbers", Need::Admin),
    ("DELETE", "/api/numbers/{id}", Need::Admin),
    ("GET", "/api/providers/{id}/users", Need::Anyone),
    ("POST", "/api/providers/{id}/users", Need::Admin),
    ("GET", "/api/users/{id}", Need::Anyone),
    ("PATCH", "/api/users/{id}", Need::Admin),
    ("DELETE", "/api/users/{id}", Need::Admin),
    ("GET", "/api/consultants", Need::Anyone),
    ("POST", "/api/consultants", Need::Admin),
    ("GET", "/api/consultants/{id}", Need::Anyone),
    ("PATCH", "/api/consultants/{id}", Need::Admin),
    ("DELETE", "/api/consultants/{id}", Need::Admin),
    ("GET", "/api/lookup", Need::Anyone),
    ("POST", "/api/import", Need::Admin),
    // Configuration and the edge.
    ("POST", "/api/routing/simulate", Need::Manager),
    ("POST", "/api/routing/reload", Need::Admin),
    ("GET", "/api/bans", Need::Admin),
    ("DELETE", "/api/bans/{ip}", Need::Admin),
    ("GET", "/api/tokens", Need::Admin),
    ("POST", "/api/tokens", Need::Admin),
    ("DELETE", "/api/tokens/{id}", Need::Admin),
    // Protocols: managers run them; a consultant reads their own.
    ("GET", "/api/protocols", Need::Own),
    ("POST", "/api/protocols", Need::Manager),
    ("GET", "/api/protocols/{id}", Need::Own),
    ("POST", "/api/protocols/{id}/assign", Need::Manager),
    ("POST", "/api/protocols/{id}/close", Need::Manager),
    ("PATCH", "/api/protocols/{id}", Need::Manager),
    ("POST", "/api/protocols/{id}/reopen", Need::Manager),
    ("GET", "/api/protocols/{id}/audit", Need::Own),
    // The system of record's events: signed, no token; what it could not
    // match is for managers to see.
    ("POST", "/api/protocols/events", Need::Signed),
    ("GET", "/api/protocols/events/pending", Need::Manager),
    // A person's own desk.
    ("PUT", "/api/consultants/{id}/presence", Need::Own),
    ("GET", "/api/calls", Need::Own),
    ("GET", "/api/calls/{id}", Need::Own),
    ("GET", "/api/callbacks", Need::Own),
    ("PUT", "/api/callbacks/{id}/status", Need::Own),
    ("GET", "/api/callbacks/{id}/audit", Need::Own),
    ("GET", "/api/contacts", Need::Own),
    ("POST", "/api/contacts", Need::Own),
    ("POST", "/api/contacts/start", Need::Own),
    ("POST", "/api/contacts/stop", Need::Own),
    ("POST", "/api/contacts/{id}/start", Need::Own),
    ("POST", "/api/contacts/{id}/stop", Need::Own),
    ("GET", "/api/contacts/{id}", Need::Own),
    ("PATCH", "/api/contacts/{id}", Need::Own),
    ("GET", "/api/contacts/{id}/audit", Need::Own),
    ("GET", "/api/tasks", Need::Own),
    ("POST", "/api/tasks", Need::Own),
    ("POST", "/api/tasks/start", Need::Own),
    ("POST", "/api/tasks/stop", Need::Own),
    ("GET", "/api/tasks/{id}", Need::Own),
    ("PATCH", "/api/tasks/{id}", Need::Own),
    ("POST", "/api/tasks/{id}/stop", Need::Own),
    ("GET", "/api/tasks/{id}/audit", Need::Own),
    ("GET", "/api/workplans", Need::Own),
    ("GET", "/api/consultants/{id}/hours", Need::Own),
    ("PUT", "/api/consultants/{id}/hours", Need::Own),
    ("GET", "/api/absences", Need::Own),
    ("POST", "/api/absences", Need::Own),
    ("GET", "/api/consultants/{id}/calendar.ics", Need::Feed),
    ("POST", "/api/consultants/{id}/feed-token", Need::Own),
    // Shared lists of the desk: everyone reads, managers add.
    ("GET", "/api/task-categories", Need::Anyone),
    ("POST", "/api/task-categories", Need::Manager),
    ("GET", "/api/rooms", Need::Anyone),
    ("POST", "/api/rooms", Need::Manager),
    // Planning for anyone and the reports.
    (
        "PUT",
        "/api/workplans/{consultant_id}/{week}",
        Need::Manager,
    ),
    ("POST", "/api/workplans/copy", Need::Manager),
    ("POST", "/api/schedule", Need::Manager),
    ("GET", "/api/reports/weekly", Need::Manager),
    // The duty roster: everyone reads who is on duty, managers set it.
    ("GET", "/api/duty", Need::Anyone),
    ("PUT", "/api/duty", Need::Manager),
    ("GET", "/api/duty/now", Need::Anyone),
    ("POST", "/api/duty/exceptions", Need::Manager),
    ("DELETE", "/api/duty/exceptions/{id}", Need::Manager),
    // The chat channel: the bridge signs its events; conversations are
    // their attendant's.
    ("POST", "/api/chat/events", Need::Signed),
    ("GET", "/api/chat/conversations", Need::Own),
    ("GET", "/api/chat/conversations/{id}", Need::Own),
    ("POST", "/api/contacts/{id}/identify", Need::Own),
    // Outside /api, when http.metrics_require_token is set.
    ("GET", "/metrics", Need::Anyone),
    // The mail intake's lists and a person's match of a thread.
    ("GET", "/api/mail/unmatched", Need::Manager),
    ("POST", "/api/mail/threads/{id}/match", Need::Manager),
    ("GET", "/api/mail/flagged", Need::Manager),
];

/// What route `path` (as matched) needs for `method`; `None`: no decision
/// was made, so nobody gets in.
pub fn need(method: &Method, path: &str) -> Option<Need> {
    // HEAD is answered by the GET handler.
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    RIGHTS
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, n)| *n)
}

/// Who a request acts as, put in the request's extensions by the auth
/// middleware.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The person, as the audit trail names them: the owner's SIP username
    /// (`ana`), or `token:<name>` for an ownerless (automation) token.
    pub person: String,
    pub role: Role,
    /// The consultant whose rights the token carries.
    pub consultant_id: Option<i64>,
    pub token_id: i64,
    pub kind: TokenKind,
}

impl Principal {
    pub fn is_feed(&self) -> bool {
        self.kind == TokenKind::Feed
    }

    /// 403 unless the principal has at least `role` (feed tokens have none).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.is_feed() {
            return Err(forbidden(
                "a feed token opens only its consultant's calendar feed",
            ));
        }
        if self.role >= role {
            Ok(())
        } else {
            Err(forbidden(format!(
                "this needs the {role} role; {} has the {} role",
                self.person, self.role
            )))
        }
    }

    /// 403 unless the principal may act on consultant `id`'s data: managers
    /// and admins for anyone, a consultant (or their feed token) for
    /// themselves.
    pub fn may_act_for(&self, id: i64) -> Result<(), ApiError> {
        if !self.is_feed() && self.role >= Role::Manager {
            return Ok(());
        }
        if self.consultant_id == Some(id) {
            return Ok(());
        }
        Err(forbidden(format!(
            "{} may act only on their own data, not on consultant {id}'s",
            self.person
        )))
    }

    /// As `may_act_for`, for data that may belong to nobody (a call nobody
    /// answered): only managers and admins see those.
    pub fn may_see(&self, owner: Option<i64>) -> Result<(), ApiError> {
        match owner {
            Some(id) => self.may_act_for(id),
            None => self
                .require(Role::Manager)
                .map_err(|_| forbidden(format!("{} may see only their own data", self.person))),
        }
    }

    /// The consultant a list is narrowed to: what was asked for managers
    /// and admins; for a consultant, themselves (asking for someone else
    /// is a 403, not a silently different list).
    pub fn scope(&self, asked: Option<i64>) -> Result<Option<i64>, ApiError> {
        if !self.is_feed() && self.role >= Role::Manager {
            return Ok(asked);
        }
        match (asked, self.consultant_id) {
            (Some(a), _) => self.may_act_for(a).map(|()| Some(a)),
            (None, Some(own)) => Ok(Some(own)),
            (None, None) => Err(forbidden("this token has no consultant to act for")),
        }
    }

    /// The consultant an action is for: the one asked for (when the
    /// principal may act for them), else the principal's own; 403 when
    /// neither names anyone, as for a token that belongs to nobody.
    pub fn own_or(&self, asked: Option<i64>) -> Result<i64, ApiError> {
        let id = asked.or(self.consultant_id).ok_or_else(|| {
            forbidden(format!(
                "{} belongs to no consultant: name one in consultant_id",
                self.person
            ))
        })?;
        self.may_act_for(id)?;
        Ok(id)
    }

    /// Whether the principal sees everyone's data (no narrowing).
    pub fn sees_everyone(&self) -> bool {
        !self.is_feed() && self.role >= Role::Manager
    }
}

pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The middleware always sets it on the routes that take one; a
        // handler reached without it is refused rather than trusted.
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Role, consultant_id: Option<i64>, kind: TokenKind) -> Principal {
        Principal {
            person: "x".into(),
            role,
            consultant_id,
            token_id: 1,
            kind,
        }
    }

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (m, path, _) in RIGHTS {
            assert!(seen.insert((m, path)), "{m} {path} listed twice");
        }
        assert_eq!(
            need(&Method::HEAD, "/api/providers"),
            Some(Need::Anyone),
            "HEAD follows GET"
        );
        assert_eq!(need(&Method::GET, "/api/nothing"), None);
    }

    #[test]
    fn consultants_act_for_themselves_managers_for_anyone() {
        let ana = p(Role::Consultant, Some(1), TokenKind::Api);
        assert!(ana.may_act_for(1).is_ok());
        assert_eq!(
            ana.may_act_for(2).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(ana.scope(None).unwrap(), Some(1));
        assert!(ana.scope(Some(2)).is_err());
        assert!(ana.may_see(None).is_err());
        assert!(ana.require(Role::Manager).is_err());
        let boss = p(Role::Manager, Some(3), TokenKind::Api);
        assert!(boss.may_act_for(1).is_ok());
        assert_eq!(boss.scope(None).unwrap(), None);
        assert!(boss.require(Role::Admin).is_err());
        let bot = p(Role::Admin, None, TokenKind::Api);
        assert!(bot.require(Role::Admin).is_ok() && bot.may_see(None).is_ok());
    }

    #[test]
    fn feed_tokens_reach_only_their_own_consultant() {
        // A feed token's role column says consultant, but even a manager's
        // feed opens nothing beyond the feed.
        let feed = p(Role::Manager, Some(1), TokenKind::Feed);
        assert!(feed.may_act_for(1).is_ok());
        assert!(feed.may_act_for(2).is_err());
        assert!(feed.require(Role::Consultant).is_err());
        assert!(!feed.sees_everyone());
    }
}
