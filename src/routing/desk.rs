//! The desk's router: who is calling (directory snapshot), what the
//! dialplan says for them now, and which registered phones that means.
//!
//! Everything here reads memory only: the snapshot, the dialplan and the
//! registrar's bindings, so a decision costs microseconds and never waits
//! for the database. Calls to a registered consultant's own username are
//! internal calls and ring that consultant directly. Only initial INVITEs
//! are reported to the call log; other requests are routed the same way
//! but never become calls.

use std::sync::{Arc, RwLock};

use chrono::Utc;
use phonenumber::country::Id as Country;

use super::busy::InCall;
use super::caller::{caller_number, identify, Caller};
use super::dialplan::{Action, CallFacts, Dialplan, Plan};
use super::note::{Direction, RouteKind, RoutedCall, Skip, SkippedUser, StepNote, TargetNote};
use crate::directory::snapshot::{SharedDirectory, Snapshot};
use crate::directory::Presence;
use crate::net::TrustedPeers;
use crate::sip::dialog::header_uri;
use crate::sip::location::{Binding, Location};
use crate::sip::message::Uri;
use crate::sip::resolve::{classify, Host, Role, SipResolver};
use crate::sip::router::{
    groups_by_q, Decision, LocationRouter, Presentation, RouteRequest, Router, Target, TargetGroup,
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
    /// Where the URA answers (an address or a name, see `sip::resolve`).
    pub ura: Option<Uri>,
    /// Where consultants' calls to external numbers go.
    pub trunk: Option<Trunk>,
    /// Consultants in a call now (fed by the call log).
    pub in_call: Arc<InCall>,
    /// Skip consultants already in a call instead of ringing them.
    pub skip_busy: bool,
    /// The call log's inbox; `None` when nothing records calls.
    pub notes: Option<tokio::sync::mpsc::Sender<RoutedCall>>,
    pub decision_seconds: Option<prometheus::Histogram>,
    /// Names of the trunk, the URA and dialplan `uri` steps, answered from
    /// its cache (never waiting for DNS).
    pub resolver: Arc<SipResolver>,
}

/// The carrier trunk: calls out are sent to `sip:<number>@<host_part>`.
#[derive(Debug, Clone)]
pub struct Trunk {
    /// Host, port and URI parameters of the configured trunk URI.
    pub host_part: String,
    /// The configured URI, resolved (RFC 3263) at call time from the cache.
    pub uri: Uri,
}

impl Trunk {
    /// From a configured URI such as `sip:192.0.2.30:5060;transport=tcp`
    /// or `sip:trunk.example.net`.
    pub fn parse(raw: &str) -> Result<Trunk, String> {
        let uri = Uri::parse(bytes::Bytes::from(raw.to_string()))
            .map_err(|e| format!("`{raw}` is not a SIP URI: {}", e.reason))?;
        if classify(&uri) == Host::Invalid {
            return Err(format!("`{raw}` needs an IP address or a host name"));
        }
        let rest = raw.split_once(':').map(|(_, r)| r).unwrap_or(raw);
        let host_part = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
        Ok(Trunk {
            host_part: host_part.to_string(),
            uri,
        })
    }

    /// The branch for `number`, or `None` when the trunk's name has no
    /// address now (logged and counted by the resolver).
    fn target(&self, number: &str, resolver: &SipResolver) -> Option<Target> {
        let dest = resolver.target(&self.uri, Role::Trunk)?;
        Some(Target::new(
            bytes::Bytes::from(format!("sip:{number}@{}", self.host_part)),
            dest,
        ))
    }
}

/// A configured URI as a branch, when its host has an address now.
fn configured(uri: &Uri, role: Role, resolver: &SipResolver) -> Option<Target> {
    let dest = resolver.target(uri, role)?;
    Some(Target::new(uri.raw.clone(), dest))
}

/// What was decided for one call, for the call log and `simulate`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explained {
    pub caller: Caller,
    pub plan: Plan,
    /// Every step as carried out: phones rung, consultants skipped.
    pub steps: Vec<StepNote>,
    /// The target groups actually rung, in order (steps whose targets are
    /// not reachable are skipped).
    pub groups: Vec<Vec<String>>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl DeskRouter {
    /// The dialplan in force now (a reload swaps it whole).
    pub fn current_plan(&self) -> Arc<Dialplan> {
        self.dialplan
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Puts a freshly read plan in force. A plan with errors is refused and
    /// the running one stays; calls in progress are never touched (they
    /// already have their targets).
    fn install(
        &self,
        loaded: Result<Dialplan, Vec<super::dialplan::DialplanError>>,
    ) -> Result<usize, Vec<String>> {
        match loaded {
            Ok(plan) => {
                let rules = plan.rule_names().count();
                *self.dialplan.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(plan);
                // New `uri` steps start resolving now, in the background.
                self.resolver.watch_now(&self.configured_uris());
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

    /// Reads the dialplan files again (on a blocking thread: file reads
    /// must not hold a runtime worker the SIP side needs), puts the plan in
    /// force, then waits (at most two seconds) for the new plan's names, so
    /// the first call after a reload finds them answered.
    pub async fn reload_and_resolve(&self) -> Result<usize, Vec<String>> {
        let (dir, tz) = (self.dialplans_dir.clone(), self.tz);
        let loaded = tokio::task::spawn_blocking(move || super::dialplan::load_dir(&dir, tz))
            .await
            .map_err(|e| vec![format!("the dialplan reload did not finish: {e}")])?;
        let rules = self.install(loaded)?;
        self.resolve_targets(std::time::Duration::from_secs(2))
            .await;
        Ok(rules)
    }

    /// The trunk, the URA and every dialplan `uri` step: the names to keep
    /// resolved.
    pub fn configured_uris(&self) -> Vec<Uri> {
        let plan = self
            .dialplan
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let steps = plan
            .uri_steps()
            .filter_map(|u| Uri::parse(bytes::Bytes::from(u.to_string())).ok());
        self.trunk
            .iter()
            .map(|t| t.uri.clone())
            .chain(self.ura.iter().cloned())
            .chain(steps)
            .collect()
    }

    /// Resolves the configured names now, waiting at most `wait` (at start,
    /// so that the first call finds answers); warns about those without.
    pub async fn resolve_targets(&self, wait: std::time::Duration) {
        for (q, why) in self.resolver.watch(&self.configured_uris(), wait).await {
            tracing::warn!(name = %q.describe(), reason = %why, "configured SIP target does not resolve yet; calls skip it until it does");
        }
    }

    /// The consultant's live bindings, or why routing must not ring them
    /// now. One location lookup serves both answers.
    fn reachable(&self, snap: &Snapshot, user: &str, now_ms: i64) -> Result<Vec<Binding>, Skip> {
        if let Some(c) = snap.consultant_by_username(user) {
            if !c.active {
                return Err(Skip::Inactive);
            }
            match c.presence {
                Presence::Dnd => return Err(Skip::Dnd),
                Presence::Away => return Err(Skip::Away),
                Presence::Available => {}
            }
        }
        let bindings = self.location.lookup(user, now_ms);
        if bindings.is_empty() {
            return Err(Skip::NotRegistered);
        }
        if self.skip_busy && self.in_call.contains(user) {
            return Err(Skip::InCall);
        }
        Ok(bindings)
    }

    /// The phones of `users` that may ring, noting who was skipped; each
    /// branch carries what its phone should show (`present`).
    #[allow(clippy::too_many_arguments)]
    fn reach(
        &self,
        snap: &Snapshot,
        users: &[String],
        now_ms: i64,
        ring: std::time::Duration,
        note: &mut StepNote,
        present: &dyn Fn(&str) -> Option<Arc<Presentation>>,
    ) -> Option<TargetGroup> {
        let mut targets = Vec::new();
        for u in users {
            let bindings = match self.reachable(snap, u, now_ms) {
                Ok(b) => b,
                Err(reason) => {
                    note.skipped.push(SkippedUser {
                        user: u.clone(),
                        reason,
                    });
                    continue;
                }
            };
            let shown = present(u);
            for g in groups_by_q(&bindings) {
                for mut t in g.targets {
                    note.targets.push(TargetNote {
                        uri: lossy(&t.uri),
                        user: Some(u.clone()),
                    });
                    t.present = shown.clone();
                    targets.push(t);
                }
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
        let owner_present = owner
            .as_deref()
            .is_some_and(|o| self.reachable(&snap, o, req.now_ms).is_ok());
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
        let present =
            |user: &str| presentation(&snap, &caller, facts.owner.as_deref() == Some(user));
        let mut groups = Vec::new();
        let mut steps = Vec::new();
        let mut reject = None;
        for step in &plan.steps {
            let mut note = StepNote {
                route: RouteKind::Uri,
                ring_ms: step.ring.as_millis() as u64,
                targets: Vec::new(),
                skipped: Vec::new(),
            };
            match &step.action {
                Action::Owner { username } => {
                    note.route = RouteKind::Owner;
                    groups.extend(self.reach(
                        &snap,
                        std::slice::from_ref(username),
                        req.now_ms,
                        step.ring,
                        &mut note,
                        &present,
                    ));
                }
                Action::Team {
                    members,
                    parallel: true,
                } => {
                    note.route = RouteKind::Team;
                    groups.extend(
                        self.reach(&snap, members, req.now_ms, step.ring, &mut note, &present),
                    );
                }
                Action::Team {
                    members,
                    parallel: false,
                } => {
                    note.route = RouteKind::Team;
                    for m in members {
                        groups.extend(self.reach(
                            &snap,
                            std::slice::from_ref(m),
                            req.now_ms,
                            step.ring,
                            &mut note,
                            &present,
                        ));
                    }
                }
                Action::Ura => {
                    note.route = RouteKind::Ura;
                    note.ring_ms = 0;
                    let ura = self.ura.as_ref();
                    if let Some(t) = ura.and_then(|u| configured(u, Role::Ura, &self.resolver)) {
                        note.targets.push(TargetNote {
                            uri: lossy(&t.uri),
                            user: None,
                        });
                        groups.push(TargetGroup {
                            targets: vec![t],
                            ring_timeout: None,
                        });
                    }
                }
                Action::Uri(uri) => {
                    let target = Uri::parse(bytes::Bytes::from(uri.clone()))
                        .ok()
                        .and_then(|u| configured(&u, Role::Dialplan, &self.resolver));
                    if let Some(t) = target {
                        note.targets.push(TargetNote {
                            uri: lossy(&t.uri),
                            user: None,
                        });
                        groups.push(TargetGroup {
                            targets: vec![t],
                            ring_timeout: Some(step.ring),
                        });
                    }
                }
                Action::Reject(code) => {
                    note.route = RouteKind::Rejected;
                    reject = Some(*code);
                    steps.push(note);
                    break;
                }
            }
            steps.push(note);
        }
        let explained = Explained {
            caller,
            plan,
            steps,
            groups: groups
                .iter()
                .map(|g| g.targets.iter().map(|t| lossy(&t.uri)).collect())
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

    /// A consultant dialling out: the number is normalised, attributed to
    /// its provider like an inbound caller, and sent to the trunk.
    fn outbound(&self, req: &RouteRequest<'_>, dialled: &str) -> (Caller, StepNote, Decision) {
        let snap = self.directory.load();
        let today = Utc::now().with_timezone(&self.tz).date_naive();
        let party = identify(&snap, Some(dialled), self.country, today);
        let mut note = StepNote {
            route: RouteKind::Uri,
            ring_ms: 0,
            targets: Vec::new(),
            skipped: Vec::new(),
        };
        let decision = match (&party.e164, &self.trunk) {
            (Some(number), Some(trunk)) => match trunk.target(number, &self.resolver) {
                Some(t) => {
                    note.targets.push(TargetNote {
                        uri: lossy(&t.uri),
                        user: None,
                    });
                    Decision::Forward(vec![TargetGroup {
                        targets: vec![t],
                        ring_timeout: None,
                    }])
                }
                // The trunk's name has no address now: the way out is
                // down, as when none is configured.
                None => Decision::Reject { code: 503 },
            },
            // Not a number we can dial: nobody by that name either.
            (None, _) => Decision::Reject { code: 404 },
            // No way out configured.
            (Some(_), None) => Decision::Reject { code: 503 },
        };
        if matches!(decision, Decision::Reject { .. }) {
            note.route = RouteKind::Rejected;
        }
        let _ = req;
        (party, note, decision)
    }

    /// Hands the decision to the call log when the request starts a call.
    /// Anything else (OPTIONS, MESSAGE, SUBSCRIBE...) may be routed, but it
    /// is not a call: logging it would make calls and contacts out of
    /// pings and chat, and let anyone plant rows in the log.
    fn record(&self, req: &RouteRequest<'_>, routed: impl FnOnce() -> RoutedCall) {
        let Some(tx) = &self.notes else { return };
        if !starts_a_call(req.msg) {
            return;
        }
        if tx.try_send(routed()).is_err() {
            tracing::warn!("call log queue full: a routing decision was not recorded");
        }
    }
}

/// An initial INVITE (no To tag yet) with a Call-ID: the only request
/// that makes a call. Requests inside a dialog are never calls either.
fn starts_a_call(msg: &crate::sip::message::SipMessage) -> bool {
    msg.method() == Some(crate::sip::message::Method::Invite)
        && msg.call_id().is_some()
        && matches!(msg.to_tag(), Ok(None))
}

impl Router for DeskRouter {
    fn route(&self, req: &RouteRequest<'_>) -> Decision {
        if !req.uri_is_local {
            return LocationRouter {
                location: self.location.clone(),
            }
            .route(req);
        }
        let started = std::time::Instant::now();
        let dialled = req
            .uri
            .user
            .as_ref()
            .and_then(|u| std::str::from_utf8(u).ok());
        let base = |direction, party, steps, reject| RoutedCall {
            call_id: req.msg.call_id().map(|c| lossy(&c)).unwrap_or_default(),
            from_tag: req
                .msg
                .from_tag()
                .ok()
                .flatten()
                .map(|t| lossy(&t))
                .unwrap_or_default(),
            direction,
            from: header_uri(req.msg, "From"),
            to: header_uri(req.msg, "To"),
            party,
            consultant: req.caller_user.map(str::to_string),
            rule: String::new(),
            steps,
            reject,
            at: Utc::now(),
        };
        let reject_of = |d: &Decision| match d {
            Decision::Reject { code } => Some(*code),
            Decision::Forward(_) => None,
        };
        // A call to a registered consultant's username rings that
        // consultant directly (internal calls, or a PBX transferring).
        let direct = dialled
            .map(|u| (u, self.location.lookup(u, req.now_ms)))
            .filter(|(_, bindings)| !bindings.is_empty());
        if let Some((user, bindings)) = direct {
            let mut groups = groups_by_q(&bindings);
            // An inbound caller is identified now: the phone shows who it is.
            let party = req.caller_user.is_none().then(|| {
                let snap = self.directory.load();
                let raw = caller_number(req.msg, req.source.ip(), &self.trusted);
                let today = Utc::now().with_timezone(&self.tz).date_naive();
                let party = identify(&snap, raw.as_deref(), self.country, today);
                let for_owner = party
                    .owner_id
                    .and_then(|id| snap.consultants.get(&id))
                    .is_some_and(|c| c.sip_username == user);
                if let Some(shown) = presentation(&snap, &party, for_owner) {
                    for t in groups.iter_mut().flat_map(|g| g.targets.iter_mut()) {
                        t.present = Some(shown.clone());
                    }
                }
                party
            });
            let step = StepNote {
                route: RouteKind::Uri,
                ring_ms: 0,
                targets: groups
                    .iter()
                    .flat_map(|g| &g.targets)
                    .map(|t| TargetNote {
                        uri: lossy(&t.uri),
                        user: Some(user.to_string()),
                    })
                    .collect(),
                skipped: Vec::new(),
            };
            self.record(req, || {
                let (direction, party) = match party {
                    None => (Direction::Internal, Caller::default()),
                    Some(party) => (Direction::Inbound, party),
                };
                RoutedCall {
                    rule: "direct".into(),
                    ..base(direction, party, vec![step], None)
                }
            });
            return Decision::Forward(groups);
        }
        if let (Some(_), Some(number)) = (req.caller_user, dialled) {
            let (party, step, decision) = self.outbound(req, number);
            self.record(req, || RoutedCall {
                rule: "outbound".into(),
                ..base(Direction::Outbound, party, vec![step], reject_of(&decision))
            });
            return decision;
        }
        let (explained, decision) = self.explain(req);
        if let Some(h) = &self.decision_seconds {
            h.observe(started.elapsed().as_secs_f64());
        }
        tracing::debug!(rule = %explained.plan.rule, class = ?explained.caller.class, groups = ?explained.groups, "routing decision");
        let reject = reject_of(&decision);
        self.record(req, move || RoutedCall {
            rule: explained.plan.rule,
            ..base(
                Direction::Inbound,
                explained.caller,
                explained.steps,
                reject,
            )
        });
        decision
    }
}

/// A routing question asked without a call (`POST /api/routing/simulate`).
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Simulate {
    /// The caller's number as a caller ID would carry it (default:
    /// anonymous).
    #[schema(pattern = r"^[A-Za-z0-9+_.()-]+$")]
    pub from: Option<String>,
    /// The dialled number or user (default: the desk).
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9+_.()-]+$")]
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
    /// Each step as it would be carried out: phones, skipped consultants.
    #[schema(value_type = Vec<Object>)]
    pub route: Vec<StepNote>,
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
            caller_user: None,
            now_ms: Utc::now().timestamp_millis(),
        };
        let (e, decision) = self.explain_at(&req, at);
        Ok(Simulated {
            caller: e.caller,
            rule: e.plan.rule,
            steps: e.plan.steps,
            groups: e.groups,
            route: e.steps,
            reject: match decision {
                Decision::Reject { code } => Some(code),
                Decision::Forward(_) => None,
            },
        })
    }
}

/// What a consultant's phone shows for a caller the directory knows: the
/// provider's name, with the protocol's number on the owner's phone (the
/// call is about it); nothing for callers we do not know, whose own From
/// is all there is.
fn presentation(snap: &Snapshot, caller: &Caller, for_owner: bool) -> Option<Arc<Presentation>> {
    let provider = snap.providers.get(&caller.provider_id?)?;
    let protocol = caller.protocol_id.and_then(|id| {
        snap.open_protocols
            .get(&provider.id)?
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.number.clone())
    });
    let (display, subject) = match (&protocol, for_owner) {
        (Some(number), true) => (
            format!("{} \u{b7} {number}", provider.name),
            Some(format!("Protocolo {number}")),
        ),
        _ => (provider.name.clone(), None),
    };
    Some(Arc::new(Presentation::new(
        &display,
        caller.e164.as_deref(),
        subject.as_deref(),
    )))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::sip::location::LocationConfig;
    use crate::sip::transport::Proto;

    const PLAN: &str = r#"
[[rule]]
name = "everyone"
steps = [{ action = "ura" }]
"#;

    /// The desk with `ana` registered and the call log's inbox.
    fn desk(dir: &std::path::Path) -> (DeskRouter, tokio::sync::mpsc::Receiver<RoutedCall>) {
        std::fs::write(dir.join("default.toml"), PLAN).unwrap();
        let tz = chrono_tz::America::Sao_Paulo;
        let location = Arc::new(Location::new(LocationConfig::default()));
        let now = Utc::now().timestamp_millis();
        location.load(
            [Binding {
                aor: "ana".into(),
                contact: "sip:ana@127.0.0.1:5062".into(),
                q: 1000,
                expires_at_ms: now + 3_600_000,
                registered_at_ms: now,
                source: SocketAddr::from(([127, 0, 0, 1], 5062)),
                proto: Proto::Udp,
                conn: None,
                call_id: "reg".into(),
                cseq: 1,
                user_agent: None,
            }],
            now,
        );
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let desk = DeskRouter {
            directory: Arc::new(SharedDirectory::new(Snapshot::default())),
            dialplan: Arc::new(RwLock::new(Arc::new(
                super::super::dialplan::load_dir(dir, tz).unwrap(),
            ))),
            dialplans_dir: dir.to_path_buf(),
            location,
            trusted: TrustedPeers::parse(&["127.0.0.2"]).unwrap(),
            country: Country::BR,
            tz,
            ura: None,
            trunk: None,
            in_call: Arc::new(InCall::default()),
            skip_busy: false,
            notes: Some(tx),
            decision_seconds: None,
            resolver: Arc::new(SipResolver::literal_only()),
        };
        (desk, rx)
    }

    fn request(method: &str, user: &str, to_tag: &str) -> crate::sip::message::SipMessage {
        let text = format!(
            "{method} sip:{user}@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK{method}{user}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:011987654321@carrier.example>;tag=caller-tag\r\n\
             To: <sip:{user}@127.0.0.1>{to_tag}\r\nCall-ID: shared@127.0.0.2\r\n\
             CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        );
        crate::sip::parse::parse(bytes::Bytes::from(text), true).unwrap()
    }

    fn route(desk: &DeskRouter, msg: &crate::sip::message::SipMessage) -> Decision {
        let uri = match msg.parsed_request_uri() {
            Some(Ok(u)) => u,
            other => panic!("request URI: {other:?}"),
        };
        desk.route(&RouteRequest {
            msg,
            uri: &uri,
            source: SocketAddr::from(([127, 0, 0, 2], 5060)),
            proto: Proto::Udp,
            uri_is_local: true,
            caller_user: None,
            now_ms: Utc::now().timestamp_millis(),
        })
    }

    #[test]
    fn only_initial_invites_are_reported_as_calls() {
        let dir = tempfile::tempdir().unwrap();
        let (desk, mut notes) = desk(dir.path());
        // Requests that are not calls still reach the consultant's phone
        // (or the dialplan's answer) but never the call log.
        for method in ["OPTIONS", "MESSAGE", "SUBSCRIBE", "NOTIFY", "REFER"] {
            let to_ana = route(&desk, &request(method, "ana", ""));
            assert!(
                matches!(to_ana, Decision::Forward(_)),
                "{method} to a registered consultant is routed"
            );
            route(&desk, &request(method, "4000", ""));
            assert!(notes.try_recv().is_err(), "{method} made a call");
        }
        // An INVITE inside a dialog is no new call either.
        route(&desk, &request("INVITE", "ana", ";tag=callee-tag"));
        assert!(notes.try_recv().is_err(), "an in-dialog INVITE made a call");

        route(&desk, &request("INVITE", "ana", ""));
        let note = notes.try_recv().expect("an initial INVITE is a call");
        assert_eq!(note.rule, "direct");
        assert_eq!(note.call_id, "shared@127.0.0.2");
        assert_eq!(note.from_tag, "caller-tag", "keyed like the proxy's dialog");
        route(&desk, &request("INVITE", "4000", ""));
        let note = notes.try_recv().expect("a call to the desk is a call");
        assert_eq!(note.rule, "everyone");
        assert_eq!(note.reject, Some(480));
    }
}
