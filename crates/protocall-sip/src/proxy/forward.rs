//! Sending a request on: forking a target group into client transactions
//! (§16.6) and the stateless relay of ACKs for 2xx.

use super::*;

impl Proxy {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_forwarding(
        &self,
        id: TxnId,
        shard_no: usize,
        msg: SipMessage,
        method: Method,
        inbound: &Inbound,
        mut groups: Vec<TargetGroup>,
        plan: RelayPlan,
        wire: &dyn Wire,
    ) {
        if groups.is_empty() {
            return self.reply_txn(id, shard_no, &msg, inbound, 404, &[], wire);
        }
        let first = groups.remove(0);
        let now = self.now();
        let mut fx = Effects::default();
        let mut shard = self.table.lock(shard_no);
        let initial_invite = method == Method::Invite && plan.record_route;
        match shard.state.servers.get_mut(&id) {
            Some(st) => {
                st.pending_groups = groups;
                st.initial_invite = initial_invite;
                st.identity = plan.identity.clone();
            }
            None => return,
        }
        self.fork_group(
            &mut shard,
            id,
            &msg,
            first,
            &plan,
            inbound.proto,
            now,
            &mut fx,
        );
        drop(shard);
        self.flush(fx, wire);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn fork_group(
        &self,
        shard: &mut Locked,
        server: TxnId,
        msg: &SipMessage,
        group: TargetGroup,
        plan: &RelayPlan,
        inbound_proto: Proto,
        now: Millis,
        fx: &mut Effects,
    ) {
        let invite = msg.method() == Some(Method::Invite);
        let initial = invite
            && shard
                .state
                .servers
                .get(&server)
                .is_some_and(|st| st.initial_invite);
        let call = initial.then(|| Arc::new(dialog_id(msg)));
        let hash = loop_hash(msg);
        let mac = if plan.record_route {
            self.cfg.edge.route_key.sign(
                &msg.call_id().unwrap_or_default(),
                &msg.from_tag().ok().flatten().unwrap_or_default(),
            )
        } else {
            String::new()
        };
        let ring_at = group
            .ring_timeout
            .map(|d| now + ms(d))
            .or_else(|| invite.then(|| now + ms(self.cfg.timers.timer_c)));
        for target in group.targets {
            let branch = format!("{}.{hash}", self.branches.next());
            let relay = Relay {
                request_uri: Some(target.uri.clone()),
                push_via: Some(self.our_via(target.dest.proto, &branch)),
                pop_via: false,
                push_record_route: plan
                    .record_route
                    .then(|| self.record_route(inbound_proto, target.dest.proto, &mac)),
                pop_route: false,
                replace_routes: Some(plan.routes_after_pop(msg)),
                max_forwards: Some(plan.max_forwards),
                stamp_via: plan.source,
                // RFC 3325: towards our own phones we vouch for the caller
                // we identified (the directory's name, the E.164 number).
                assert_identity: plan
                    .identity
                    .clone()
                    .or_else(|| target.present.as_ref()?.asserted.clone()),
                strip_credentials_for: plan.strip_credentials.then(|| self.cfg.edge.realm.clone()),
                from_display: target.present.as_ref().map(|p| p.display.clone()),
                subject: target.present.as_ref().and_then(|p| p.subject.clone()),
            };
            let bytes = relay.apply(msg);
            let cid = self.next_id();
            let udp = target.dest.proto == Proto::Udp;
            let branch = Bytes::from(branch);
            shard
                .state
                .client_index
                .insert((branch.clone(), false), cid);
            shard.state.clients.insert(
                cid,
                ClientTxn {
                    server: Some(server),
                    branch,
                    generation: 0,
                    invite,
                    cancel: false,
                    state: CState::Trying,
                    dest: target.dest,
                    sent: bytes.clone(),
                    interval: self.t1(),
                    retransmit_at: udp.then(|| now + self.t1()),
                    expire_at: Some(now + self.t1x64()),
                    ring_at,
                    got_provisional: false,
                    cancel_owed: false,
                    timed_out: false,
                    settled: false,
                    target: target.uri.clone(),
                    call: call.clone(),
                    reported: false,
                },
            );
            if let Some(id) = &call {
                fx.events.push(DialogEvent::Forked {
                    id: DialogId::clone(id),
                    target: lossy(&target.uri),
                    at: Utc::now(),
                });
            }
            self.metrics.transactions_active.inc();
            if let Some(st) = shard.state.servers.get_mut(&server) {
                st.branches.push(cid);
            }
            fx.sends.push((target.dest, bytes));
            self.rearm_client(shard, cid);
        }
    }

    pub(super) fn on_ack(&self, msg: SipMessage, inbound: &Inbound, wire: &dyn Wire) {
        let (Ok(key), Some(call_id)) = (ServerKey::of(&msg, None), msg.call_id()) else {
            return;
        };
        let shard_no = self.table.shard_of(&call_id);
        {
            let mut shard = self.table.lock(shard_no);
            if let Some(id) = shard.state.server_index.get(&key).copied() {
                if let Some(st) = shard.state.servers.get_mut(&id) {
                    if st.state == SState::Completed {
                        // The ACK for our non-2xx: absorbed here (§17.2.1).
                        st.state = SState::Confirmed;
                        st.retransmit_at = None;
                        let wait = if st.reply_to.proto == Proto::Udp {
                            ms(self.cfg.timers.t4)
                        } else {
                            0
                        };
                        st.expire_at = Some(self.now() + wait);
                        self.rearm_server(&mut shard, id);
                        return;
                    }
                    if st.state == SState::Confirmed {
                        return;
                    }
                }
            }
        }
        // An ACK for a 2xx is its own transaction: relay it statelessly
        // along the route set (§16.6, §16.11).
        let Some(Ok(uri)) = msg.parsed_request_uri() else {
            return;
        };
        let routes: Vec<NameAddr> = msg.routes().filter_map(Result::ok).collect();
        let popped = routes
            .iter()
            .take_while(|r| self.local.is_local(&r.uri))
            .count();
        let next = routes.get(popped).map(|r| &r.uri).unwrap_or(&uri);
        if popped == 0 && routes.is_empty() && self.local.is_local(&uri) {
            return;
        }
        // Only along a route set we built (see `edge`).
        let signed = routes
            .first()
            .filter(|_| popped > 0)
            .is_some_and(|r| self.signed_for(&r.uri, &msg));
        if !signed {
            self.metrics.guard.dropped_no_dialog.inc();
            return;
        }
        // Past our routes, the Request-URI: a phone's Contact, maybe with
        // the way back we wrote into it (see `nat`).
        let aliased = (popped == routes.len())
            .then(|| nat::alias_target(&uri))
            .flatten();
        let (request_uri, dest) = match aliased {
            Some((stripped, dest)) => (Some(stripped), dest),
            None => match resolve(next) {
                Some(dest) => (None, dest),
                // A name: only an answer already cached; the ACK's sender
                // retransmits it (with the 2xx) if this one is dropped.
                None => match self.cfg.resolver.as_ref().map(|r| r.lookup(next)) {
                    Some(Lookup::Ready(dest))
                        if self.cfg.edge.destinations.allows(dest.dest.ip()) =>
                    {
                        (None, dest)
                    }
                    _ => return,
                },
            },
        };
        let mf = match msg.max_forwards() {
            Ok(Some(0)) => return,
            Ok(Some(n)) => n - 1,
            _ => 70,
        };
        let branch = format!("{}.{}", self.branches.next(), loop_hash(&msg));
        let plan = RelayPlan {
            popped,
            source: None,
            strict_routes: None,
            record_route: false,
            max_forwards: mf,
            identity: None,
            strip_credentials: false,
        };
        let bytes = Relay {
            request_uri,
            push_via: Some(self.our_via(dest.proto, &branch)),
            replace_routes: Some(plan.routes_after_pop(&msg)),
            max_forwards: Some(mf),
            ..Default::default()
        }
        .apply(&msg);
        let _ = inbound;
        wire.send(dest, bytes);
    }
}
