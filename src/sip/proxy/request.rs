//! Requests arriving at the proxy: validation, retransmission absorption,
//! local answers (OPTIONS, REGISTER, rejections) and the §16.3/§16.4 steps
//! that decide whether and where a request goes.

use super::*;

impl Proxy {
    pub(super) fn on_request(&self, msg: SipMessage, inbound: &Inbound, wire: &dyn Wire) {
        let Some(method) = msg.method() else { return };
        self.metrics.request(&method);
        if let Err(reject) = check_request(&msg) {
            if let (Reject::Respond { code, .. }, false) = (reject, method == Method::Ack) {
                self.reply_new(&msg, inbound, code, &[], wire);
            }
            return;
        }
        match method {
            Method::Ack => self.on_ack(msg, inbound, wire),
            Method::Cancel => self.on_cancel(msg, inbound, wire),
            _ => self.on_new_request(msg, method, inbound, wire),
        }
    }

    /// Replies to a request through a new server transaction, so that its
    /// retransmissions (and, for INVITE, its ACK) are absorbed.
    pub(super) fn reply_new(
        &self,
        msg: &SipMessage,
        inbound: &Inbound,
        code: u16,
        headers: &[(&str, String)],
        wire: &dyn Wire,
    ) {
        let mut b = response(msg, code).source(inbound.source);
        let tag = self.local_tag(msg);
        if code > 100 {
            b = b.to_tag(&tag);
        }
        for (n, v) in headers {
            b = b.header(n, v.clone());
        }
        let bytes = b.build();
        self.respond_stateful(msg, inbound, code, bytes, wire);
    }

    /// A To tag for responses we generate: derived from the request, so a
    /// retransmission gets the same tag.
    pub(super) fn local_tag(&self, msg: &SipMessage) -> String {
        let mut h = Sha256::new();
        h.update(msg.call_id().unwrap_or_default());
        h.update(msg.from_tag().ok().flatten().unwrap_or_default());
        h.update(self.cfg.advertised_host.as_bytes());
        format!("pc{}", hex::encode(&h.finalize()[..6]))
    }

    pub(super) fn respond_stateful(
        &self,
        msg: &SipMessage,
        inbound: &Inbound,
        code: u16,
        bytes: Bytes,
        wire: &dyn Wire,
    ) {
        let now = self.now();
        let mut fx = Effects::default();
        if let (Ok(key), Some(call_id)) = (ServerKey::of(msg, None), msg.call_id()) {
            let shard_no = self.table.shard_of(&call_id);
            let mut shard = self.table.lock(shard_no);
            let id = match shard.state.server_index.get(&key) {
                Some(id) => *id,
                None => {
                    let invite = msg.method() == Some(Method::Invite);
                    self.insert_server(&mut shard.state, key, invite, inbound, None, None, now)
                }
            };
            self.send_final(&mut shard.state, id, code, bytes, now, &mut fx);
            self.rearm_server(&mut shard, id);
        } else {
            fx.sends.push((inbound.reply_to(), bytes));
        }
        self.flush(fx, wire);
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
        let invite = method == Method::Invite;
        let now = self.now();
        let shard_no = self.table.shard_of(&call_id);
        let id = {
            let mut shard = self.table.lock(shard_no);
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
            drop(shard);
            if let Some(t) = trying {
                wire.send(inbound.reply_to(), t);
            }
            id
        };
        self.process(id, shard_no, msg, method, inbound, wire);
    }

    /// §16.3 request validation, §16.4 route processing, then forwarding.
    pub(super) fn process(
        &self,
        id: TxnId,
        shard_no: usize,
        msg: SipMessage,
        method: Method,
        inbound: &Inbound,
        wire: &dyn Wire,
    ) {
        let reply = |code: u16, headers: &[(&str, String)]| {
            self.reply_txn(id, shard_no, &msg, inbound, code, headers, wire)
        };
        let uri = match msg.parsed_request_uri() {
            Some(Ok(u)) => u,
            _ => return reply(400, &[]),
        };
        let mut routes: Vec<NameAddr> = msg.routes().filter_map(Result::ok).collect();
        // Loose routing: our own entries at the top of the route set go.
        let mut popped = 0;
        while routes.first().is_some_and(|r| self.local.is_local(&r.uri)) {
            routes.remove(0);
            popped += 1;
        }
        // A strict router before us put our Record-Route URI in the
        // Request-URI and the real one last in Route (§16.4).
        let mut uri = uri;
        let mut strict_fixup = None;
        if self.local.is_local(&uri) && uri.is_loose_route() && popped == 0 {
            if let Some(last) = routes.pop() {
                strict_fixup = Some(routes.iter().map(|r| r.uri.raw.clone()).collect::<Vec<_>>());
                uri = last.uri;
            }
        }
        let to_local = self.local.is_local(&uri) || self.is_local_domain(&uri);
        let max_forwards = match msg.max_forwards() {
            Ok(v) => v,
            Err(_) => return reply(400, &[]),
        };
        if to_local && routes.is_empty() && method == Method::Options && uri.user.is_none() {
            return reply(
                200,
                &[(
                    "Allow",
                    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, PRACK, REFER, NOTIFY"
                        .into(),
                )],
            );
        }
        if max_forwards == Some(0) {
            return reply(483, &[]);
        }
        if let Some(required) = msg.header("Proxy-Require") {
            return reply(420, &[("Unsupported", lossy(&required))]);
        }
        if self.is_loop(&msg) {
            return reply(482, &[]);
        }
        if method == Method::Register && to_local && routes.is_empty() {
            return match &self.registrar {
                Some(r) => {
                    let now_ms = Utc::now().timestamp_millis();
                    let (code, bytes) = r.handle_register(&msg, inbound, now_ms);
                    let now = self.now();
                    let mut fx = Effects::default();
                    let mut shard = self.table.lock(shard_no);
                    self.send_final(&mut shard.state, id, code, bytes, now, &mut fx);
                    self.rearm_server(&mut shard, id);
                    drop(shard);
                    self.flush(fx, wire);
                }
                None => reply(
                    405,
                    &[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS".into())],
                ),
            };
        }
        let in_dialog = msg.to_tag().ok().flatten().is_some();
        let mut caller_user: Option<String> = None;
        if method == Method::Invite && !in_dialog && !self.cfg.trusted.contains(inbound.source.ip())
        {
            // Toll-fraud protection: only trunks/PBXs and consultants who
            // answer the digest challenge may start calls here.
            let auth = match &self.registrar {
                Some(r) => r.authorize_call(&msg, inbound, Utc::now().timestamp_millis()),
                None => CallAuth::Respond {
                    code: 403,
                    response: response(&msg, 403).source(inbound.source).build(),
                },
            };
            if let CallAuth::Consultant(user) = &auth {
                caller_user = Some(user.clone());
            }
            if let CallAuth::Respond { code, response } = auth {
                if code == 403 {
                    self.metrics.calls_rejected_untrusted.inc();
                }
                let now = self.now();
                let mut fx = Effects::default();
                let mut shard = self.table.lock(shard_no);
                self.send_final(&mut shard.state, id, code, response, now, &mut fx);
                self.rearm_server(&mut shard, id);
                drop(shard);
                return self.flush(fx, wire);
            }
        }
        if method == Method::Bye && in_dialog {
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
        let decision = if let Some(next) = routes.first() {
            // Loose routing towards the next hop; the Request-URI stays.
            match resolve(&next.uri) {
                Some(dest) => Decision::Forward(vec![single(uri.raw.clone(), dest)]),
                None => Decision::Reject { code: 502 },
            }
        } else if in_dialog || !to_local {
            if to_local {
                // An in-dialog request addressed to us has nowhere to go.
                Decision::Reject { code: 481 }
            } else {
                match resolve(&uri) {
                    Some(dest) => Decision::Forward(vec![single(uri.raw.clone(), dest)]),
                    None => Decision::Reject { code: 404 },
                }
            }
        } else {
            self.router.route(&RouteRequest {
                msg: &msg,
                uri: &uri,
                source: inbound.source,
                proto: inbound.proto,
                uri_is_local: to_local,
                caller_user: caller_user.as_deref(),
                now_ms: Utc::now().timestamp_millis(),
            })
        };
        match decision {
            Decision::Reject { code } => reply(code, &[]),
            Decision::Forward(groups) => {
                let record_route =
                    matches!(method, Method::Invite | Method::Subscribe | Method::Refer)
                        && !in_dialog;
                let relay = RelayPlan {
                    popped,
                    source: Some(inbound.source),
                    strict_routes: strict_fixup,
                    record_route,
                    max_forwards: max_forwards.map(|m| m.saturating_sub(1)).unwrap_or(70),
                    // RFC 3325: we vouch for the consultant who proved who
                    // they are; whatever identity they claimed is dropped.
                    identity: caller_user
                        .as_deref()
                        .map(|u| format!("<sip:{u}@{}>", self.cfg.advertised_host)),
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

    /// Called for every in-dialog BYE we relay: the dialog ends now.
    pub(super) fn bye_seen(&self, msg: &SipMessage) -> Option<DialogEvent> {
        let call_id = msg.call_id()?;
        let shard_no = self.table.shard_of(&call_id);
        let dialog = self.table.lock(shard_no).state.dialogs.remove(&call_id)?;
        self.metrics.calls_active.dec();
        let from_tag = msg.from_tag().ok().flatten().unwrap_or_default();
        let by = if from_tag == dialog.caller_tag {
            Party::Caller
        } else {
            Party::Callee
        };
        let caller_tag = dialog.caller_tag;
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
