//! The desk's router: who is calling (directory snapshot), what the
//! dialplan says for them now, and which registered phones that means.
//!
//! Everything here reads memory only: the snapshot, the dialplan and the
//! registrar's bindings, so a decision costs microseconds and never waits
//! for the database. Calls to a registered consultant's own username are
//! internal calls and ring that consultant directly.

use std::sync::{Arc, RwLock};

use chrono::Utc;
use phonenumber::country::Id as Country;

use super::caller::{caller_number, identify, Caller, TrustedPeers};
use super::dialplan::{Action, CallFacts, Dialplan, Plan};
use crate::directory::snapshot::SharedDirectory;
use crate::location::Location;
use crate::sip::router::{
    groups_by_q, resolve, Decision, LocationRouter, RouteRequest, Router, Target, TargetGroup,
};

pub struct DeskRouter {
    pub directory: Arc<SharedDirectory>,
    pub dialplan: Arc<RwLock<Arc<Dialplan>>>,
    /// Where the dialplan files live, for reloads.
    pub dialplans_dir: std::path::PathBuf,
    pub location: Arc<Location>,
    pub trusted: TrustedPeers,
    pub country: Country,
    pub tz: chrono_tz::Tz,
    /// Where the URA answers.
    pub ura: Option<Target>,
    pub decision_seconds: Option<prometheus::Histogram>,
}

/// What was decided for one call, for the call log and `simulate`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explained {
    pub caller: Caller,
    pub plan: Plan,
    /// The target groups actually rung, in order (steps whose targets are
    /// not registered are skipped).
    pub groups: Vec<Vec<String>>,
}

impl DeskRouter {
    /// Reads the dialplan files again. A plan with errors is refused and
    /// the running one stays; calls in progress are never touched (they
    /// already have their targets).
    pub fn reload(&self) -> Result<usize, Vec<String>> {
        match super::dialplan::load_dir(&self.dialplans_dir, self.tz) {
            Ok(plan) => {
                let rules = plan.rule_names().count();
                *self.dialplan.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(plan);
                tracing::info!(rules, dir = %self.dialplans_dir.display(), "dialplan reloaded");
                Ok(rules)
            }
            Err(errors) => {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                tracing::warn!(?errors, "dialplan reload refused; the previous plan stays");
                Err(errors)
            }
        }
    }

    /// Usernames routing must skip: inactive, do-not-disturb or away.
    fn unavailable(snap: &crate::directory::snapshot::Snapshot, user: &str) -> bool {
        snap.consultants
            .values()
            .find(|c| c.sip_username == user)
            .is_some_and(|c| !c.active || !c.available)
    }

    fn bindings_group(
        &self,
        snap: &crate::directory::snapshot::Snapshot,
        users: &[String],
        now_ms: i64,
        ring: std::time::Duration,
    ) -> Option<TargetGroup> {
        let mut targets = Vec::new();
        for u in users.iter().filter(|u| !Self::unavailable(snap, u)) {
            for g in groups_by_q(&self.location.lookup(u, now_ms)) {
                targets.extend(g.targets);
            }
        }
        (!targets.is_empty()).then_some(TargetGroup {
            targets,
            ring_timeout: Some(ring),
        })
    }

    /// The caller, the plan and the groups for a request; the same code
    /// answers real calls and simulations.
    pub fn explain(&self, req: &RouteRequest<'_>) -> (Explained, Decision) {
        self.explain_at(req, Utc::now())
    }

    /// [`DeskRouter::explain`] as if the call arrived at `now`.
    pub fn explain_at(
        &self,
        req: &RouteRequest<'_>,
        now: chrono::DateTime<Utc>,
    ) -> (Explained, Decision) {
        let snap = self.directory.load();
        let raw = caller_number(req.msg, req.source.ip(), &self.trusted);
        let today = now.with_timezone(&self.tz).date_naive();
        let caller = identify(&snap, raw.as_deref(), self.country, today);
        let owner = caller
            .owner_id
            .and_then(|id| snap.consultants.get(&id))
            .filter(|c| c.active)
            .map(|c| c.sip_username.clone());
        let owner_present = owner.as_deref().is_some_and(|o| {
            self.location.is_registered(o, req.now_ms) && !Self::unavailable(&snap, o)
        });
        let called = req
            .uri
            .user
            .as_ref()
            .and_then(|u| std::str::from_utf8(u).ok())
            .and_then(|u| crate::directory::number::normalize(u, self.country).ok());
        let facts = CallFacts {
            class: caller.class.into(),
            has_open_protocol: caller.protocol_id.is_some(),
            owner,
            owner_present,
            called,
            at: now,
        };
        let plan = self
            .dialplan
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .decide(&facts);
        let mut groups = Vec::new();
        let mut reject = None;
        for step in &plan.steps {
            let group = match &step.action {
                Action::Owner { username } => self.bindings_group(
                    &snap,
                    std::slice::from_ref(username),
                    req.now_ms,
                    step.ring,
                ),
                Action::Team {
                    members,
                    parallel: true,
                } => self.bindings_group(&snap, members, req.now_ms, step.ring),
                Action::Team {
                    members,
                    parallel: false,
                } => {
                    for m in members {
                        if let Some(g) = self.bindings_group(
                            &snap,
                            std::slice::from_ref(m),
                            req.now_ms,
                            step.ring,
                        ) {
                            groups.push(g);
                        }
                    }
                    None
                }
                Action::Ura => self.ura.clone().map(|t| TargetGroup {
                    targets: vec![t],
                    ring_timeout: None,
                }),
                Action::Uri(uri) => {
                    crate::sip::message::Uri::parse(bytes::Bytes::from(uri.clone()))
                        .ok()
                        .and_then(|u| resolve(&u).map(|dest| (u, dest)))
                        .map(|(u, dest)| TargetGroup {
                            targets: vec![Target { uri: u.raw, dest }],
                            ring_timeout: Some(step.ring),
                        })
                }
                Action::Reject(code) => {
                    reject = Some(*code);
                    break;
                }
            };
            if let Some(g) = group {
                groups.push(g);
            }
        }
        let explained = Explained {
            caller,
            plan,
            groups: groups
                .iter()
                .map(|g| {
                    g.targets
                        .iter()
                        .map(|t| String::from_utf8_lossy(&t.uri).into_owned())
                        .collect()
                })
                .collect(),
        };
        let decision = match (groups.is_empty(), reject) {
            (false, _) => Decision::Forward(groups),
            (true, Some(code)) => Decision::Reject { code },
            // Nothing reachable and no URA configured: temporarily
            // unavailable rather than "not found".
            (true, None) => Decision::Reject { code: 480 },
        };
        (explained, decision)
    }
}

impl Router for DeskRouter {
    fn route(&self, req: &RouteRequest<'_>) -> Decision {
        if !req.uri_is_local {
            return LocationRouter {
                location: self.location.clone(),
            }
            .route(req);
        }
        // Internal call: a consultant dialling a colleague's username.
        if let Some(user) = req
            .uri
            .user
            .as_ref()
            .and_then(|u| std::str::from_utf8(u).ok())
        {
            if self.location.is_registered(user, req.now_ms) {
                return Decision::Forward(groups_by_q(&self.location.lookup(user, req.now_ms)));
            }
        }
        let started = std::time::Instant::now();
        let (explained, decision) = self.explain(req);
        if let Some(h) = &self.decision_seconds {
            h.observe(started.elapsed().as_secs_f64());
        }
        tracing::debug!(rule = %explained.plan.rule, class = ?explained.caller.class, groups = ?explained.groups, "routing decision");
        decision
    }
}

/// A routing question asked without a call (`POST /api/routing/simulate`).
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Simulate {
    /// The caller's number as a caller ID would carry it.
    pub from: Option<String>,
    /// The dialled number or user (default: the desk).
    #[serde(default)]
    pub to: Option<String>,
    /// When (RFC 3339); default now.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// The answer: who the caller is, the rule, and the targets in order.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Simulated {
    #[schema(value_type = Object)]
    pub caller: Caller,
    pub rule: String,
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<super::dialplan::PlannedStep>,
    /// Request-URIs rung per group, in order; empty when nobody is
    /// reachable.
    pub groups: Vec<Vec<String>>,
    /// The final answer when no group is left (e.g. 480).
    pub reject: Option<u16>,
}

impl DeskRouter {
    /// Runs the real decision on a synthetic INVITE: the same code as a
    /// call, minus the SIP transaction.
    pub fn simulate(&self, q: &Simulate, local_port: u16) -> Result<Simulated, String> {
        let from_user = q.from.as_deref().unwrap_or("anonymous");
        let to_user = q.to.as_deref().unwrap_or("desk");
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-_.()".contains(c))
        };
        if !ok(from_user) || !ok(to_user) {
            return Err("from and to must be numbers or SIP user names".into());
        }
        let text = format!(
            "INVITE sip:{to_user}@127.0.0.1:{local_port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKsimulate\r\n\
             From: <sip:{from_user}@simulate.invalid>;tag=simulate\r\n\
             To: <sip:{to_user}@127.0.0.1>\r\nCall-ID: simulate\r\nCSeq: 1 INVITE\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let msg =
            crate::sip::parse::parse(bytes::Bytes::from(text), true).map_err(|e| e.to_string())?;
        let uri = match msg.parsed_request_uri() {
            Some(Ok(u)) => u,
            _ => return Err("cannot build a Request-URI from `to`".into()),
        };
        let at = q.at.map(|a| a.with_timezone(&Utc)).unwrap_or_else(Utc::now);
        let req = RouteRequest {
            msg: &msg,
            uri: &uri,
            source: std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
            proto: crate::sip::transport::Proto::Udp,
            uri_is_local: true,
            now_ms: Utc::now().timestamp_millis(),
        };
        let (e, decision) = self.explain_at(&req, at);
        Ok(Simulated {
            caller: e.caller,
            rule: e.plan.rule,
            steps: e.plan.steps,
            groups: e.groups,
            reject: match decision {
                Decision::Reject { code } => Some(code),
                Decision::Forward(_) => None,
            },
        })
    }
}
