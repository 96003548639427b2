//! Transaction timers (§17): arming, firing, and what a branch that never
//! answered means for its call.

use super::*;

/// How often answered dialogs are checked for their age.
const DIALOG_SWEEP_MS: Millis = 1000;

impl Proxy {
    /// Forgets answered dialogs whose BYE never came (the phone died, or
    /// the BYE took another path): the table stays bounded. The call log
    /// closes such calls on its own clock.
    fn sweep_dialogs(&self, now: Millis) {
        let mut gone = 0i64;
        for i in 0..self.table.len() {
            let mut shard = self.table.lock(i);
            let before = shard.state.dialogs.len();
            shard.state.dialogs.retain(|_, d| d.expires_at > now);
            gone += (before - shard.state.dialogs.len()) as i64;
        }
        if gone > 0 {
            self.metrics.calls_active.sub(gone);
        }
    }

    pub(super) fn rearm_server(&self, shard: &mut Locked, id: TxnId) {
        let Some(st) = shard.state.servers.get_mut(&id) else {
            return;
        };
        st.generation += 1;
        let next = [st.retransmit_at, st.expire_at].into_iter().flatten().min();
        if let Some(at) = next {
            let generation = st.generation;
            shard.arm(at, generation, id << 1);
        }
    }

    pub(super) fn rearm_client(&self, shard: &mut Locked, id: TxnId) {
        let Some(ct) = shard.state.clients.get_mut(&id) else {
            return;
        };
        ct.generation += 1;
        let next = [ct.retransmit_at, ct.expire_at, ct.ring_at]
            .into_iter()
            .flatten()
            .min();
        if let Some(at) = next {
            let generation = ct.generation;
            shard.arm(at, generation, (id << 1) | 1);
        }
    }

    /// Fires due timers in every shard; called every few milliseconds.
    pub fn tick(&self, wire: &dyn Wire) {
        let now = self.now();
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= DIALOG_SWEEP_MS
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep_dialogs(now);
        }
        for i in 0..self.table.len() {
            if !self.table.may_be_due(i, now) {
                continue;
            }
            let mut fx = Effects::default();
            {
                let mut shard = self.table.lock(i);
                while let Some(e) = shard.pop_due(now) {
                    let id = e.id >> 1;
                    if e.id & 1 == 1 {
                        self.client_timer(&mut shard, id, e.generation, now, &mut fx);
                    } else {
                        self.server_timer(&mut shard, id, e.generation, now, &mut fx);
                    }
                }
            }
            self.flush(fx, wire);
        }
    }

    pub(super) fn server_timer(
        &self,
        shard: &mut Locked,
        id: TxnId,
        generation: u64,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(st) = shard.state.servers.get_mut(&id) else {
            return;
        };
        if st.generation != generation {
            return;
        }
        if st.expire_at.is_some_and(|t| t <= now) {
            // Timers H, I, J, L: the transaction is over.
            let key = st.key.clone();
            let branches = std::mem::take(&mut st.branches);
            shard.state.servers.remove(&id);
            shard.state.server_index.remove(&key);
            self.metrics.transactions_active.dec();
            for b in branches {
                if let Some(c) = shard.state.clients.get_mut(&b) {
                    c.server = None;
                }
            }
            return;
        }
        if st.retransmit_at.is_some_and(|t| t <= now) {
            // Timer G: the non-2xx final again, until the ACK.
            if let Some(last) = &st.last {
                fx.sends.push((st.reply_to, last.clone()));
                fx.retransmissions += 1;
            }
            st.interval = (st.interval * 2).min(ms(self.cfg.timers.t2));
            st.retransmit_at = Some(now + st.interval);
        }
        self.rearm_server(shard, id);
    }

    pub(super) fn client_timer(
        &self,
        shard: &mut Locked,
        id: TxnId,
        generation: u64,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(ct) = shard.state.clients.get_mut(&id) else {
            return;
        };
        if ct.generation != generation {
            return;
        }
        if ct.expire_at.is_some_and(|t| t <= now) {
            let completed = ct.state == CState::Completed;
            let server = ct.server;
            let was_settled = ct.settled;
            if !completed && !ct.got_provisional && !ct.cancel {
                // Not a word from it (Timer B/F): the next request for the
                // same name tries its next address (RFC 3263 §4.3).
                if let Some(r) = &self.cfg.resolver {
                    r.mark_unreachable(ct.dest.dest);
                }
            }
            if !completed && ct.invite && !ct.cancel {
                self.report_branch_failed(&mut shard.state, id, 408, fx);
            }
            self.remove_client(shard, id);
            if !completed {
                // Timers B/F (or no answer to our CANCEL): the branch
                // failed with 408 (§16.7 step 2 treats it as a response).
                if let (Some(sid), false) = (server, was_settled) {
                    self.note_no_answer(&mut shard.state, sid);
                }
                if let Some(sid) = server {
                    self.check_complete(shard, sid, now, fx);
                }
            }
            return;
        }
        if ct.ring_at.is_some_and(|t| t <= now) {
            ct.ring_at = None;
            // Ring timeout / Timer C (§16.8): CANCEL a ringing branch, give
            // up on a silent one.
            if ct.got_provisional {
                let server = ct.server;
                self.cancel_branch(shard, id, true, now, fx);
                if let Some(sid) = server {
                    self.check_complete(shard, sid, now, fx);
                }
            } else {
                ct.settled = true;
                ct.cancel_owed = true;
                ct.timed_out = true;
                let server = ct.server;
                if ct.invite {
                    self.report_branch_failed(&mut shard.state, id, 408, fx);
                }
                if let Some(sid) = server {
                    self.note_no_answer(&mut shard.state, sid);
                    self.check_complete(shard, sid, now, fx);
                }
            }
            self.rearm_client(shard, id);
            return;
        }
        if ct.retransmit_at.is_some_and(|t| t <= now) {
            // Timers A and E.
            fx.sends.push((ct.dest, ct.sent.clone()));
            fx.retransmissions += 1;
            ct.interval = if ct.invite {
                ct.interval * 2
            } else {
                (ct.interval * 2).min(ms(self.cfg.timers.t2))
            };
            ct.retransmit_at = Some(now + ct.interval);
        }
        self.rearm_client(shard, id);
    }

    /// Emits [`DialogEvent::BranchFailed`] once per branch of an initial
    /// INVITE.
    pub(super) fn report_branch_failed(
        &self,
        shard: &mut CallShard,
        cid: TxnId,
        code: u16,
        fx: &mut Effects,
    ) {
        let Some(ct) = shard.clients.get_mut(&cid) else {
            return;
        };
        if ct.reported {
            return;
        }
        ct.reported = true;
        if let Some(id) = &ct.call {
            fx.events.push(DialogEvent::BranchFailed {
                id: DialogId::clone(id),
                target: lossy(&ct.target),
                code,
                at: Utc::now(),
            });
        }
    }

    /// A branch that never answered counts as 408 in the best-response
    /// choice (§16.7 step 2), losing to any real answer.
    pub(super) fn note_no_answer(&self, shard: &mut CallShard, sid: TxnId) {
        let Some(st) = shard.servers.get_mut(&sid) else {
            return;
        };
        if !better(408, st.best.as_ref().map(|b| b.0)) {
            return;
        }
        if let Some(req) = &st.request {
            let tag = self.local_tag(req);
            let resp = response(req, 408)
                .source(st.reply_to.dest)
                .to_tag(&tag)
                .build();
            st.best = Some((408, resp));
        }
    }

    pub(super) fn remove_client(&self, shard: &mut Locked, id: TxnId) {
        if let Some(ct) = shard.state.clients.remove(&id) {
            shard.state.client_index.remove(&(ct.branch, ct.cancel));
            self.metrics.transactions_active.dec();
        }
    }
}
