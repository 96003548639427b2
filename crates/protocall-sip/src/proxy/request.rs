//! Requests arriving at the proxy: validation, retransmission absorption,
//! local answers (OPTIONS, REGISTER, rejections) and the §16.3/§16.4 steps
//! that decide whether and where a request goes.

use super::edge;
use super::*;

/// Methods we answer for in `Allow`.
const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, PRACK, REFER, NOTIFY, SUBSCRIBE, MESSAGE";

/// What the edge let through, with the route processing already done.
pub(super) struct Admitted {
    uri: Uri,
    /// The Route set after our own entries.
    routes: Vec<NameAddr>,
    popped: usize,
    strict_fixup: Option<Vec<Bytes>>,
    to_local: bool,
    in_dialog: bool,
    max_forwards: Option<u32>,
    /// The consultant who authenticated it (untrusted sources).
    caller_user: Option<String>,
}

impl Proxy {
    pub(super) fn on_request(&self, msg: SipMessage, inbound: &Inbound, wire: &dyn Wire) {
        let Some(method) = msg.method() else { return };
        self.metrics.request(&method);
        if let Err(reject) = check_request(&msg) {
            if let (Reject::Respond { code, reason }, false) = (reject, method == Method::Ack) {
                // The validator's reason names what is wrong; it is ours
                // (never received bytes), but only printable ASCII goes out.
                let tag = self.local_tag(&msg);
                let mut b = response(&msg, code).source(inbound.source).to_tag(&tag);
                if reason.bytes().all(|c| (0x20..0x7f).contains(&c)) {
                    b = b.reason(&reason);
                }
                wire.send(inbound.reply_to(), b.build());
            }
            return;
        }
        match method {
            Method::Ack => self.on_ack(msg, inbound, wire),
            Method::Cancel => self.on_cancel(msg, inbound, wire),
            _ => self.on_new_request(msg, method, inbound, wire),
        }
    }

    /// Answers once, keeping nothing: what we owe a request we have not
    /// authorised. Its retransmissions get the same answer again, one for
    /// one, so a spoofed source can never make us send more than it sent.
    pub(super) fn reply_stateless(
        &self,
        msg: &SipMessage,
        inbound: &Inbound,
        code: u16,
        headers: &[(&str, String)],
        wire: &dyn Wire,
    ) {
        let tag = self.local_tag(msg);
        let mut b = response(msg, code).source(inbound.source);
        if code > 100 {
            b = b.to_tag(&tag);
        }
        for (n, v) in headers {
            b = b.header(n, v.clone());
        }
        wire.send(inbound.reply_to(), b.build());
    }

    /// A To tag for responses we generate: derived from the request, so a
    /// retransmission gets the same tag.
    pub(super) fn local_tag(&self, msg: &SipMessage) -> String {
        let mut h = Sha256::new();
        h.update(msg.call_id().unwrap_or_default());
        h.update(msg.from_tag().ok().flatten().unwrap_or_default());
        h.update(self.cfg.advertised_host.as_bytes());
        format!(
            "pc{}",
            hex::encode(h.finalize().get(..6).unwrap_or_default())
        )
    }

    /// A new server transaction in Proceeding.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_server(
        &self,
        shard: &mut CallShard,
        key: ServerKey,
        invite: bool,
        inbound: &Inbound,
        last: Option<Bytes>,
        request: Option<SipMessage>,
        now: Millis,
    ) -> TxnId {
        let id = self.next_id();
        shard.server_index.insert(key.clone(), id);
        shard.servers.insert(
            id,
            ServerTxn {
                key,
                generation: 0,
                invite,
                state: SState::Proceeding,
                reply_to: inbound.reply_to(),
                last,
                request,
                pending_groups: Vec::new(),
                branches: Vec::new(),
                best: None,
                cancelled: false,
                initial_invite: false,
                identity: None,
                ringing_sent: false,
                interval: self.t1(),
                retransmit_at: None,
                expire_at: None,
                received_at: now,
                permit: None,
            },
        );
        self.metrics.transactions_active.inc();
        id
    }

    pub(super) fn on_new_request(
        &self,
        msg: SipMessage,
        method: Method,
        inbound: &Inbound,
        wire: &dyn Wire,
    ) {
        let (Ok(key), Some(call_id)) = (ServerKey::of(&msg, None), msg.call_id()) else {
            return;
        };
        let shard_no = self.table.shard_of(&call_id);
        {
            let shard = self.table.lock(shard_no);
            if let Some(id) = shard.state.server_index.get(&key).copied() {
                // A retransmission: replay the last response, never forward
                // twice (§17.2.1, §17.2.2).
                let mut fx = Effects::default();
                if let Some(st) = shard.state.servers.get(&id) {
                    if let (Some(last), false) = (&st.last, st.state == SState::Accepted) {
                        fx.sends.push((st.reply_to, last.clone()));
                    }
                    fx.retransmissions += 1;
                }
                drop(shard);
                self.flush(fx, wire);
                return;
            }
        }
        // Everything that can be refused is refused before we keep any
        // state or say "Trying".
        let Some(admitted) = self.gate(&msg, &method, inbound, wire) else {
            return;
        };
        let Some(permit) = self.txn_permit(inbound) else {
            // The budget counted the refusal (txn_cap).
            return self.reply_stateless(&msg, inbound, 503, &[("Retry-After", "5".into())], wire);
        };
        let invite = method == Method::Invite;
        let now = self.now();
        let id = {
            let mut shard = self.table.lock(shard_no);
            if shard.state.server_index.contains_key(&key) {
                // A retransmission raced us through the gate; the first
                // copy owns the transaction.
                return;
            }
            let trying = invite.then(|| response(&msg, 100).source(inbound.source).build());
            let id = self.insert_server(
                &mut shard.state,
                key,
                invite,
                inbound,
                trying.clone(),
                Some(msg.clone()),
                now,
            );
            if let Some(st) = shard.state.servers.get_mut(&id) {
                st.permit = permit;
            }
            drop(shard);
            if let Some(t) = trying {
                wire.send(inbound.reply_to(), t);
            }
            id
        };
        self.process(id, shard_no, msg, method, inbound, admitted, wire);
    }

    /// §16.3 request validation, §16.4 route processing and the edge policy
    /// (see `edge`): `None` when the request was answered (once,
    /// statelessly) or dropped here.
    fn gate(
        &self,
        msg: &SipMessage,
        method: &Method,
        inbound: &Inbound,
        wire: &dyn Wire,
    ) -> Option<Admitted> {
        let reply = |code: u16, headers: &[(&str, String)]| {
            self.reply_stateless(msg, inbound, code, headers, wire);
            None
        };
        let Some(Ok(mut uri)) = msg.parsed_request_uri() else {
            return reply(400, &[]);
        };
        let mut routes: Vec<NameAddr> = msg.routes().filter_map(Result::ok).collect();
        // Loose routing: our own entries at the top of the route set go;
        // the first one carries the dialog MAC we wrote.
        let mut popped = 0;
        let mut our_route: Option<Uri> = None;
        while routes.first().is_some_and(|r| self.local.is_local(&r.uri)) {
            let r = routes.remove(0);
            our_route.get_or_insert(r.uri);
            popped += 1;
        }
        // A strict router before us put our Record-Route URI in the
        // Request-URI and the real one last in Route (§16.4).
        let mut strict_fixup = None;
        if self.local.is_local(&uri) && uri.is_loose_route() && popped == 0 {
            if let Some(last) = routes.pop() {
                strict_fixup = Some(routes.iter().map(|r| r.uri.raw.clone()).collect::<Vec<_>>());
                our_route = Some(std::mem::replace(&mut uri, last.uri));
            }
        }
        let to_local = self.local.is_local(&uri) || self.is_local_domain(&uri);
        let Ok(max_forwards) = msg.max_forwards() else {
            return reply(400, &[]);
        };
        let in_dialog = msg.to_tag().ok().flatten().is_some();
        if to_local
            && routes.is_empty()
            && *method == Method::Options
            && uri.user.is_none()
            && !in_dialog
        {
            return reply(200, &[("Allow", ALLOW.into())]);
        }
        if max_forwards == Some(0) {
            return reply(483, &[]);
        }
        if let Some(required) = msg.header("Proxy-Require") {
            return reply(420, &[("Unsupported", lossy(&required))]);
        }
        if self.is_loop(msg) {
            return reply(482, &[]);
        }
        let mut admitted = Admitted {
            uri,
            routes,
            popped,
            strict_fixup,
            to_local,
            in_dialog,
            max_forwards,
            caller_user: None,
        };
        if in_dialog {
            // Only along a route set we built: our signed Record-Route.
            if our_route.as_ref().is_some_and(|r| self.signed_for(r, msg)) {
                return Some(admitted);
            }
            self.metrics.guard.dropped_no_dialog.inc();
            let code = if admitted.to_local && admitted.routes.is_empty() && popped == 0 {
                481
            } else {
                403
            };
            tracing::debug!(source = %inbound.source, code, "in-dialog request outside any dialog we routed");
            return reply(code, &[]);
        }
        if *method == Method::Register && admitted.to_local && admitted.routes.is_empty() {
            self.register(msg, inbound, wire);
            return None;
        }
        if !self.cfg.trusted.contains(inbound.source.ip()) {
            // Toll-fraud and relay protection: anything a stranger sends
            // must come from a consultant who answers the digest challenge.
            match self.authorize(msg, method, inbound) {
                Ok(user) => admitted.caller_user = Some(user),
                Err(bytes) => {
                    wire.send(inbound.reply_to(), bytes);
                    return None;
                }
            }
        }
        // Addresses the requester wrote (not our directory's) must not
        // lead inside our network.
        let written = admitted
            .routes
            .first()
            .map(|r| &r.uri)
            .or((!admitted.to_local).then_some(&admitted.uri));
        if let Some(dest) =
            written.and_then(|u| nat::alias_target(u).map(|(_, d)| d).or_else(|| resolve(u)))
        {
            if !self.cfg.edge.destinations.allows(dest.dest.ip()) {
                self.metrics.guard.dropped_relay.inc();
                tracing::info!(source = %inbound.source, dest = %dest.dest, "relay to an internal address refused");
                return reply(403, &[]);
            }
        }
        Some(admitted)
    }

    /// Whether `route` (one of our Record-Route URIs, come back) carries
    /// the MAC of this request's dialog.
    pub(super) fn signed_for(&self, route: &Uri, msg: &SipMessage) -> bool {
        let Some(mac) = route
            .param(edge::ROUTE_MAC_PARAM)
            .and_then(|p| p.value.as_ref())
        else {
            return false;
        };
        let (Some(call_id), Ok(Some(from)), Ok(Some(to))) =
            (msg.call_id(), msg.from_tag(), msg.to_tag())
        else {
            return false;
        };
        self.cfg.edge.route_key.verify(mac, &call_id, [&from, &to])
    }

    /// Digest check of an out-of-dialog request from an untrusted source:
    /// the consultant's name, or the (stateless) answer to send.
    fn authorize(
        &self,
        msg: &SipMessage,
        method: &Method,
        inbound: &Inbound,
    ) -> Result<String, Bytes> {
        let refuse = |code: u16| {
            Err(response(msg, code)
                .source(inbound.source)
                .to_tag(&self.local_tag(msg))
                .build())
        };
        let Some(r) = &self.registrar else {
            return refuse(403);
        };
        match r.authorize_call(msg, inbound, Utc::now().timestamp_millis()) {
            CallAuth::Consultant(user) => {
                if self.user_locked(&user, inbound) {
                    self.auth_failed(inbound, Some(&user), method);
                    return refuse(403);
                }
                self.auth_passed(inbound, &user);
                Ok(user)
            }
            CallAuth::Challenge { response, .. } => Err(response),
            CallAuth::Failed { user, response } => {
                if *method == Method::Invite {
                    self.metrics.calls_rejected_untrusted.inc();
                }
                self.auth_failed(inbound, user.as_deref(), method);
                Err(response)
            }
        }
    }

    /// REGISTER addressed to us: the registrar decides; only an accepted
    /// one costs a transaction (its retransmissions must not re-apply).
    fn register(&self, msg: &SipMessage, inbound: &Inbound, wire: &dyn Wire) {
        let Some(r) = &self.registrar else {
            return self.reply_stateless(
                msg,
                inbound,
                405,
                &[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS".into())],
                wire,
            );
        };
        // A locked username is refused before its credentials are looked
        // at, from any source that has not logged in as it: guessing spread
        // over many addresses stops at the per-user limit.
        let claimed = msg
            .headers("Authorization")
            .filter_map(|v| crate::digest::parse_authorization_bytes(&v).ok())
            .find(|c| c.realm == self.cfg.edge.realm)
            .map(|c| c.username);
        if let Some(user) = claimed.filter(|u| self.user_locked(u, inbound)) {
            self.auth_failed(inbound, Some(&user), &Method::Register);
            return self.reply_stateless(msg, inbound, 403, &[], wire);
        }
        let out = r.handle_register(msg, inbound, Utc::now().timestamp_millis());
        match &out.auth {
            AuthNote::Passed(user) => self.auth_passed(inbound, user),
            AuthNote::Failed(user) => self.auth_failed(inbound, user.as_deref(), &Method::Register),
            AuthNote::None => {}
        }
        if !(200..300).contains(&out.code) {
            return wire.send(inbound.reply_to(), out.response);
        }
        let (Ok(key), Some(call_id)) = (ServerKey::of(msg, None), msg.call_id()) else {
            return wire.send(inbound.reply_to(), out.response);
        };
        let permit = self.txn_permit(inbound);
        let now = self.now();
        let mut fx = Effects::default();
        let mut shard = self.table.lock(self.table.shard_of(&call_id));
        if let (Some(permit), false) = (permit, shard.state.server_index.contains_key(&key)) {
            let id = self.insert_server(&mut shard.state, key, false, inbound, None, None, now);
            if let Some(st) = shard.state.servers.get_mut(&id) {
                st.permit = permit;
            }
            self.send_final(&mut shard.state, id, out.code, out.response, now, &mut fx);
            self.rearm_server(&mut shard, id);
        } else {
            fx.sends.push((inbound.reply_to(), out.response));
        }
        drop(shard);
        self.flush(fx, wire);
    }

    /// Where a URI we route by (the next Route, or a Request-URI outside
    /// our domain) leads: an address at once, a name through the RFC 3263
    /// cache. A name whose answer is not cached yet gets 503 with
    /// Retry-After (the lookup has started; the worker never waits for
    /// DNS); one with no address gets `failed`. A name may resolve inside
    /// our network, so the relay policy is checked on its answer too.
    fn hop(&self, uri: &Uri, request_uri: Bytes, failed: u16) -> Decision {
        if let Some(dest) = resolve(uri) {
            return Decision::Forward(vec![single(request_uri, dest)]);
        }
        let Some(resolver) = &self.cfg.resolver else {
            return Decision::Reject { code: failed };
        };
        let found = resolver.lookup(uri);
        match &found {
            Lookup::Ready(dest) if self.cfg.edge.destinations.allows(dest.dest.ip()) => {
                Decision::Forward(vec![single(request_uri, *dest)])
            }
            Lookup::Ready(dest) => {
                self.metrics.guard.dropped_relay.inc();
                tracing::info!(dest = %dest.dest, "relay to a name resolving inside our network refused");
                Decision::Reject { code: 403 }
            }
            Lookup::Pending => {
                resolver.report(uri, Role::Request, &found);
                Decision::Reject { code: 503 }
            }
            Lookup::Failed(_) => {
                resolver.report(uri, Role::Request, &found);
                Decision::Reject { code: failed }
            }
        }
    }

    /// Routing and forwarding of an admitted request, inside its server
    /// transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn process(
        &self,
        id: TxnId,
        shard_no: usize,
        msg: SipMessage,
        method: Method,
        inbound: &Inbound,
        a: Admitted,
        wire: &dyn Wire,
    ) {
        let reply = |code: u16, headers: &[(&str, String)]| {
            self.reply_txn(id, shard_no, &msg, inbound, code, headers, wire)
        };
        if method == Method::Bye && a.in_dialog {
            if let Some(ended) = self.bye_seen(&msg) {
                self.flush(
                    Effects {
                        events: vec![ended],
                        ..Default::default()
                    },
                    wire,
                );
            }
        }
        let uri = &a.uri;
        let decision = if let Some(next) = a.routes.first() {
            // Loose routing towards the next hop; the Request-URI stays.
            self.hop(&next.uri, uri.raw.clone(), 502)
        } else if a.in_dialog || !a.to_local {
            if a.to_local {
                // An in-dialog request addressed to us has nowhere to go.
                Decision::Reject { code: 481 }
            } else if let Some((stripped, dest)) = nat::alias_target(uri) {
                // A phone reached back the way it came (see `nat`).
                Decision::Forward(vec![single(stripped, dest)])
            } else {
                self.hop(uri, uri.raw.clone(), 404)
            }
        } else {
            self.router.route(&RouteRequest {
                msg: &msg,
                uri,
                source: inbound.source,
                proto: inbound.proto,
                uri_is_local: a.to_local,
                caller_user: a.caller_user.as_deref(),
                now_ms: Utc::now().timestamp_millis(),
            })
        };
        match decision {
            // 503 only while DNS answers a name: worth retrying soon.
            Decision::Reject { code: 503 } => reply(503, &[("Retry-After", "1".to_string())]),
            Decision::Reject { code } => reply(code, &[]),
            Decision::Forward(groups) => {
                let record_route =
                    matches!(method, Method::Invite | Method::Subscribe | Method::Refer)
                        && !a.in_dialog;
                let relay = RelayPlan {
                    popped: a.popped,
                    source: Some(inbound.source),
                    strict_routes: a.strict_fixup,
                    record_route,
                    max_forwards: a.max_forwards.map(|m| m.saturating_sub(1)).unwrap_or(70),
                    // RFC 3325: we vouch for the consultant who proved who
                    // they are; whatever identity they claimed is dropped.
                    identity: a
                        .caller_user
                        .as_deref()
                        .map(|u| format!("<sip:{u}@{}>", self.cfg.advertised_host)),
                    strip_credentials: a.caller_user.is_some(),
                };
                self.start_forwarding(id, shard_no, msg, method, inbound, groups, relay, wire);
            }
        }
    }

    pub(super) fn is_local_domain(&self, uri: &Uri) -> bool {
        uri.port.is_none()
            && self
                .local
                .hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(uri.host.as_ref()))
    }

    /// §16.3 step 4: a request is looping when one of our Vias carries the
    /// hash of this very request (same Request-URI, tags, Call-ID, CSeq).
    pub(super) fn is_loop(&self, msg: &SipMessage) -> bool {
        let hash = loop_hash(msg);
        msg.vias().filter_map(Result::ok).any(|v| {
            v.branch
                .as_ref()
                .is_some_and(|b| self.branches.is_ours(b) && b.ends_with(hash.as_bytes()))
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn reply_txn(
        &self,
        id: TxnId,
        shard_no: usize,
        msg: &SipMessage,
        inbound: &Inbound,
        code: u16,
        headers: &[(&str, String)],
        wire: &dyn Wire,
    ) {
        let tag = self.local_tag(msg);
        let mut b = response(msg, code).source(inbound.source).to_tag(&tag);
        for (n, v) in headers {
            b = b.header(n, v.clone());
        }
        let bytes = b.build();
        let now = self.now();
        let mut fx = Effects::default();
        let mut shard = self.table.lock(shard_no);
        self.send_final(&mut shard.state, id, code, bytes, now, &mut fx);
        let initial = msg.to_tag().ok().flatten().is_none();
        if let Some(st) = shard.state.servers.get(&id) {
            if st.invite && initial {
                fx.events.push(DialogEvent::Failed {
                    id: dialog_id(msg),
                    code,
                    cancelled: false,
                    caller: header_uri(msg, "From"),
                    callee: header_uri(msg, "To"),
                    at: Utc::now(),
                });
            }
        }
        self.rearm_server(&mut shard, id);
        drop(shard);
        self.flush(fx, wire);
    }

    /// Called for every in-dialog BYE we relay: the dialog ends now. Both
    /// tags must match the answered dialog, so a BYE naming only a known
    /// Call-ID ends nothing.
    pub(super) fn bye_seen(&self, msg: &SipMessage) -> Option<DialogEvent> {
        let call_id = msg.call_id()?;
        let from_tag = msg.from_tag().ok().flatten()?;
        let to_tag = msg.to_tag().ok().flatten()?;
        let shard_no = self.table.shard_of(&call_id);
        let (caller_tag, by) = {
            let mut shard = self.table.lock(shard_no);
            let dialogs = &mut shard.state.dialogs;
            let by_caller = (call_id.clone(), from_tag.clone());
            let by_callee = (call_id.clone(), to_tag.clone());
            if dialogs
                .get(&by_caller)
                .is_some_and(|d| d.callee_tag == to_tag)
            {
                dialogs.remove(&by_caller);
                (from_tag, Party::Caller)
            } else if dialogs
                .get(&by_callee)
                .is_some_and(|d| d.callee_tag == from_tag)
            {
                dialogs.remove(&by_callee);
                (to_tag, Party::Callee)
            } else {
                return None;
            }
        };
        self.metrics.calls_active.dec();
        Some(DialogEvent::Ended {
            id: DialogId {
                call_id: lossy(&call_id),
                from_tag: lossy(&caller_tag),
            },
            by,
            at: Utc::now(),
        })
    }
}
