//! Responses from downstream (§16.7): client transaction updates,
//! provisional and 2xx forwarding, the best final response, and the server
//! transaction's final send.

use super::*;

impl Proxy {
    pub(super) fn on_response(&self, msg: SipMessage, inbound: &Inbound, wire: &dyn Wire) {
        let Some(code) = msg.status() else { return };
        self.metrics.response(code);
        if check_response(&msg).is_err() {
            return;
        }
        let Ok(via) = msg.top_via() else { return };
        let Some(branch) = via.branch.clone() else {
            return;
        };
        if !self.branches.is_ours(&branch) {
            return;
        }
        let Ok((_, cseq_method)) = msg.cseq() else {
            return;
        };
        let Some(call_id) = msg.call_id() else { return };
        let is_cancel = cseq_method == Method::Cancel;
        let now = self.now();
        let mut fx = Effects::default();
        let shard_no = self.table.shard_of(&call_id);
        let mut shard = self.table.lock(shard_no);
        let Some(cid) = shard.state.client_index.get(&(branch, is_cancel)).copied() else {
            drop(shard);
            // No transaction: a retransmitted 2xx, relayed statelessly
            // (RFC 6026 / §16.7 step 10).
            if (200..300).contains(&code) && self.knows_dialog(&msg) {
                self.forward_stateless_response(&msg, wire);
            }
            return;
        };
        let _ = inbound;
        self.client_response(&mut shard, cid, &msg, code, now, &mut fx);
        drop(shard);
        self.flush(fx, wire);
    }

    /// Whether a response belongs to a dialog we answered (From carries
    /// the caller's tag, To the callee's).
    fn knows_dialog(&self, msg: &SipMessage) -> bool {
        let (Some(call_id), Ok(Some(from)), Ok(Some(to))) =
            (msg.call_id(), msg.from_tag(), msg.to_tag())
        else {
            return false;
        };
        let shard = self.table.lock(self.table.shard_of(&call_id));
        shard
            .state
            .dialogs
            .get(&(call_id, from))
            .is_some_and(|d| d.callee_tag == to)
    }

    /// A refreshed session (RFC 4028) keeps its dialog for another
    /// interval.
    fn refresh_dialog(&self, shard: &mut CallShard, msg: &SipMessage, se: u32, now: Millis) {
        let (Some(call_id), Ok(Some(from)), Ok(Some(to))) =
            (msg.call_id(), msg.from_tag(), msg.to_tag())
        else {
            return;
        };
        let until = now.saturating_add(u64::from(se) * 1000 + 32_000);
        for caller in [from, to] {
            if let Some(d) = shard.dialogs.get_mut(&(call_id.clone(), caller)) {
                d.expires_at = d.expires_at.max(until);
            }
        }
    }

    pub(super) fn forward_stateless_response(&self, msg: &SipMessage, wire: &dyn Wire) {
        let Some(Ok(next)) = msg.vias().nth(1) else {
            return;
        };
        let Some(dest) = via_destination(&next) else {
            return;
        };
        wire.send(
            dest,
            Relay {
                pop_via: true,
                ..Default::default()
            }
            .apply(msg),
        );
    }

    pub(super) fn client_response(
        &self,
        shard: &mut Locked,
        cid: TxnId,
        msg: &SipMessage,
        code: u16,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(ct) = shard.state.clients.get_mut(&cid) else {
            return;
        };
        if ct.cancel {
            if code >= 200 {
                ct.state = CState::Completed;
                ct.retransmit_at = None;
                ct.expire_at = Some(now);
                self.rearm_client(shard, cid);
            }
            return;
        }
        let server = ct.server;
        if code < 200 {
            if ct.state == CState::Trying {
                ct.state = CState::Proceeding;
                if ct.invite {
                    ct.retransmit_at = None;
                    // Timer B stops once the branch rings; Timer C or the
                    // ring timeout bounds it from now on.
                    ct.expire_at = None;
                    if ct.ring_at.is_none() {
                        ct.ring_at = Some(now + ms(self.cfg.timers.timer_c));
                    }
                } else {
                    ct.retransmit_at = ct.retransmit_at.map(|_| now + ms(self.cfg.timers.t2));
                }
            }
            ct.got_provisional = true;
            if ct.cancel_owed {
                ct.cancel_owed = false;
                let dest = ct.dest;
                let branch = ct.branch.clone();
                if let Ok(m) = parse(ct.sent.clone(), dest.proto == Proto::Udp) {
                    let bytes = hop_request(&m, "CANCEL", None);
                    self.start_cancel_txn(shard, branch, dest, bytes, now, fx);
                }
                return;
            }
            self.rearm_client(shard, cid);
            if code > 100 {
                if let Some(sid) = server {
                    self.forward_provisional(shard, sid, msg, code, fx);
                }
            }
            return;
        }
        let invite = ct.invite;
        let timed_out = ct.timed_out;
        let target = ct.target.clone();
        if invite && (200..300).contains(&code) {
            // The branch is done; later 2xx retransmissions are relayed
            // statelessly.
            self.remove_client(shard, cid);
            if let Some(sid) = server {
                self.forward_2xx(shard, sid, msg, &target, now, fx);
            }
            return;
        }
        // A final non-2xx (or any final of a non-INVITE).
        if ct.state == CState::Completed {
            // Retransmitted final: repeat our ACK (§17.1.1.2).
            if invite {
                if let Ok(sent) = parse(ct.sent.clone(), ct.dest.proto == Proto::Udp) {
                    let to = msg.header("To").map(|t| t.into_owned()).unwrap_or_default();
                    fx.sends
                        .push((ct.dest, hop_request(&sent, "ACK", Some(&to))));
                }
            }
            return;
        }
        ct.state = CState::Completed;
        ct.settled = true;
        ct.retransmit_at = None;
        ct.ring_at = None;
        let udp = ct.dest.proto == Proto::Udp;
        ct.expire_at = Some(
            now + if !udp {
                0
            } else if invite {
                32_000
            } else {
                ms(self.cfg.timers.t4)
            },
        );
        if invite {
            if let Ok(sent) = parse(ct.sent.clone(), udp) {
                let to = msg.header("To").map(|t| t.into_owned()).unwrap_or_default();
                fx.sends
                    .push((ct.dest, hop_request(&sent, "ACK", Some(&to))));
            }
        }
        self.rearm_client(shard, cid);
        let Some(sid) = server else { return };
        let effective = if timed_out && code == 487 { 408 } else { code };
        if invite {
            self.report_branch_failed(&mut shard.state, cid, effective, fx);
        }
        let relayed = Relay {
            pop_via: true,
            ..Default::default()
        }
        .apply(msg);
        if !invite && (200..300).contains(&code) {
            // An UPDATE answered with a session interval refreshes it.
            let update = msg.cseq().ok().is_some_and(|(_, m)| m == Method::Update);
            if let (true, Some(se)) = (update, session_expires_of(msg)) {
                self.refresh_dialog(&mut shard.state, msg, se, now);
                fx.events.push(DialogEvent::Refreshed {
                    id: dialog_id(msg),
                    session_expires: se,
                    at: Utc::now(),
                });
            }
            self.send_final(&mut shard.state, sid, code, relayed, now, fx);
            self.rearm_server(shard, sid);
            return;
        }
        if let Some(st) = shard.state.servers.get_mut(&sid) {
            if better(effective, st.best.as_ref().map(|b| b.0)) {
                let bytes = match (effective != code, st.request.as_ref()) {
                    // We cancelled it for ringing too long: the caller hears
                    // "no answer", not the 487 our CANCEL provoked.
                    (true, Some(req)) => {
                        let tag = self.local_tag(req);
                        response(req, effective)
                            .source(st.reply_to.dest)
                            .to_tag(&tag)
                            .build()
                    }
                    _ => relayed,
                };
                st.best = Some((effective, bytes));
            }
        }
        if (600..700).contains(&code) {
            // §16.7 step 5: a 6xx ends the search everywhere.
            let others = shard
                .state
                .servers
                .get_mut(&sid)
                .map(|st| {
                    st.pending_groups.clear();
                    st.branches.clone()
                })
                .unwrap_or_default();
            for o in others {
                self.cancel_branch(shard, o, false, now, fx);
            }
        }
        self.check_complete(shard, sid, now, fx);
    }

    pub(super) fn forward_provisional(
        &self,
        shard: &mut Locked,
        sid: TxnId,
        msg: &SipMessage,
        code: u16,
        fx: &mut Effects,
    ) {
        let Some(st) = shard.state.servers.get_mut(&sid) else {
            return;
        };
        if st.state != SState::Proceeding {
            // Late provisional after the final: never downgrade.
            return;
        }
        let relayed = Relay {
            pop_via: true,
            ..Default::default()
        }
        .apply(msg);
        st.last = Some(relayed.clone());
        fx.sends.push((st.reply_to, relayed));
        if st.initial_invite && !st.ringing_sent && (180..190).contains(&code) {
            st.ringing_sent = true;
            if let Some(req) = &st.request {
                fx.events.push(DialogEvent::Ringing {
                    id: dialog_id(req),
                    code,
                    at: Utc::now(),
                });
            }
        }
    }

    pub(super) fn forward_2xx(
        &self,
        shard: &mut Locked,
        sid: TxnId,
        msg: &SipMessage,
        target: &Bytes,
        now: Millis,
        fx: &mut Effects,
    ) {
        let relayed = Relay {
            pop_via: true,
            ..Default::default()
        }
        .apply(msg);
        let Some(st) = shard.state.servers.get_mut(&sid) else {
            return;
        };
        // Every 2xx goes upstream at once, even a second one from another
        // fork (§16.7 step 5).
        fx.sends.push((st.reply_to, relayed));
        if st.state != SState::Proceeding {
            return;
        }
        let session = session_expires_of(msg);
        if !st.initial_invite {
            // A re-INVITE answered: the session timer restarts.
            if let Some(se) = session {
                fx.events.push(DialogEvent::Refreshed {
                    id: dialog_id(msg),
                    session_expires: se,
                    at: Utc::now(),
                });
                self.refresh_dialog(&mut shard.state, msg, se, now);
            }
        }
        let Some(st) = shard.state.servers.get_mut(&sid) else {
            return;
        };
        st.state = SState::Accepted;
        st.retransmit_at = None;
        st.expire_at = Some(now + self.t1x64());
        st.pending_groups.clear();
        st.last = None;
        let others = st.branches.clone();
        let initial = st.initial_invite;
        let request = st.request.take();
        fx.setup = Some(now.saturating_sub(st.received_at) as f64 / 1000.0);
        if let (true, Some(req)) = (initial, request) {
            let to_tag = msg.to_tag().ok().flatten().unwrap_or_default();
            let from_tag = req.from_tag().ok().flatten().unwrap_or_default();
            if let Some(call_id) = req.call_id() {
                // Owned copies, so the dialog does not pin the INVITE's
                // buffer for the whole call.
                let age = session
                    .map(|se| u64::from(se) * 1000 + 32_000)
                    .unwrap_or(u64::MAX)
                    .min(ms(self.cfg.edge.max_dialog_age));
                shard.state.dialogs.insert(
                    (
                        Bytes::copy_from_slice(&call_id),
                        Bytes::copy_from_slice(&from_tag),
                    ),
                    Dialog {
                        callee_tag: Bytes::copy_from_slice(&to_tag),
                        expires_at: now.saturating_add(age),
                    },
                );
                self.metrics.calls_active.inc();
            }
            fx.events.push(DialogEvent::Answered {
                id: dialog_id(&req),
                to_tag: lossy(&to_tag),
                caller: header_uri(&req, "From"),
                callee: header_uri(&req, "To"),
                target: lossy(target),
                session_expires: session,
                at: Utc::now(),
            });
        }
        for o in others {
            self.cancel_branch(shard, o, false, now, fx);
        }
        self.rearm_server(shard, sid);
    }

    /// When every branch of the current group is final, try the next group
    /// or send the best response upstream (§16.7 step 6).
    pub(super) fn check_complete(
        &self,
        shard: &mut Locked,
        sid: TxnId,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(st) = shard.state.servers.get(&sid) else {
            return;
        };
        if st.state != SState::Proceeding {
            return;
        }
        let all_final = st.branches.iter().all(|b| {
            shard
                .state
                .clients
                .get(b)
                .is_none_or(|c| c.settled || c.state == CState::Completed)
        });
        if !all_final {
            return;
        }
        let next_group = !st.cancelled && !st.pending_groups.is_empty();
        if next_group {
            let Some(st) = shard.state.servers.get_mut(&sid) else {
                return;
            };
            let group = st.pending_groups.remove(0);
            let Some(req) = st.request.clone() else {
                return;
            };
            let popped = req
                .routes()
                .filter_map(Result::ok)
                .take_while(|r| self.local.is_local(&r.uri))
                .count();
            let plan = RelayPlan {
                popped,
                source: Some(st.reply_to.dest),
                strict_routes: None,
                record_route: st.initial_invite,
                max_forwards: req
                    .max_forwards()
                    .ok()
                    .flatten()
                    .map(|m| m.saturating_sub(1))
                    .unwrap_or(70),
                identity: st.identity.clone(),
                strip_credentials: st.identity.is_some(),
            };
            let proto = st.reply_to.proto;
            self.fork_group(shard, sid, &req, group, &plan, proto, now, fx);
            return;
        }
        let Some(st) = shard.state.servers.get_mut(&sid) else {
            return;
        };
        let cancelled = st.cancelled;
        let (code, bytes) = match st.best.take() {
            Some((code, bytes)) if code != 503 => (code, bytes),
            other => {
                // §16.7 step 6: a 503 from downstream becomes 500 upstream;
                // with no answer at all, the caller hears 408 (or 487 when
                // it cancelled).
                let code = match (cancelled, other) {
                    (true, _) => 487,
                    (false, Some(_)) => 500,
                    (false, None) => 408,
                };
                let Some(req) = st.request.as_ref() else {
                    return;
                };
                let tag = self.local_tag(req);
                (
                    code,
                    response(req, code)
                        .source(st.reply_to.dest)
                        .to_tag(&tag)
                        .build(),
                )
            }
        };
        if st.initial_invite {
            if let Some(req) = &st.request {
                fx.events.push(DialogEvent::Failed {
                    id: dialog_id(req),
                    code,
                    cancelled,
                    caller: header_uri(req, "From"),
                    callee: header_uri(req, "To"),
                    at: Utc::now(),
                });
            }
        }
        self.send_final(&mut shard.state, sid, code, bytes, now, fx);
        self.rearm_server(shard, sid);
    }

    /// Sends a final response upstream and moves the server transaction to
    /// the state that absorbs what follows.
    pub(super) fn send_final(
        &self,
        shard: &mut CallShard,
        sid: TxnId,
        code: u16,
        bytes: Bytes,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(st) = shard.servers.get_mut(&sid) else {
            return;
        };
        if st.state != SState::Proceeding {
            return;
        }
        let udp = st.reply_to.proto == Proto::Udp;
        fx.sends.push((st.reply_to, bytes.clone()));
        st.request = None;
        st.pending_groups.clear();
        if st.invite && (200..300).contains(&code) {
            st.state = SState::Accepted;
            st.last = None;
            st.expire_at = Some(now + self.t1x64());
        } else if st.invite {
            st.state = SState::Completed;
            st.last = Some(bytes);
            st.interval = self.t1();
            st.retransmit_at = udp.then(|| now + self.t1());
            st.expire_at = Some(now + self.t1x64());
        } else {
            st.state = SState::Completed;
            st.last = Some(bytes);
            st.expire_at = Some(now + if udp { self.t1x64() } else { 0 });
        }
    }
}
