//! CANCEL (§9.2, §16.10): answering it, and cancelling the branches of the
//! INVITE it names.

use super::*;

impl Proxy {
    pub(super) fn on_cancel(&self, msg: SipMessage, inbound: &Inbound, wire: &dyn Wire) {
        let (Ok(key), Some(call_id)) =
            (ServerKey::of(&msg, Some(KeyMethod::Invite)), msg.call_id())
        else {
            return;
        };
        let shard_no = self.table.shard_of(&call_id);
        let mut fx = Effects::default();
        let found = {
            let mut shard = self.table.lock(shard_no);
            match shard.state.server_index.get(&key).copied() {
                None => false,
                Some(id) => {
                    let now = self.now();
                    let mut to_cancel = Vec::new();
                    if let Some(st) = shard.state.servers.get_mut(&id) {
                        if st.state == SState::Proceeding && !st.cancelled {
                            st.cancelled = true;
                            st.pending_groups.clear();
                            to_cancel = st.branches.clone();
                        }
                    }
                    for cid in to_cancel {
                        self.cancel_branch(&mut shard, cid, false, now, &mut fx);
                    }
                    self.check_complete(&mut shard, id, now, &mut fx);
                    true
                }
            }
        };
        // 200 to the CANCEL, whether or not the INVITE still rings (§16.10);
        // 481 when we know no such INVITE.
        let code = if found { 200 } else { 481 };
        let tag = self.local_tag(&msg);
        fx.sends.push((
            inbound.reply_to(),
            response(&msg, code)
                .source(inbound.source)
                .to_tag(&tag)
                .build(),
        ));
        self.flush(fx, wire);
    }

    /// Sends CANCEL on a branch that has rung; a branch that has not gets
    /// its CANCEL when its first provisional arrives and counts as
    /// terminated now.
    pub(super) fn cancel_branch(
        &self,
        shard: &mut Locked,
        cid: TxnId,
        timed_out: bool,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(ct) = shard.state.clients.get_mut(&cid) else {
            return;
        };
        if ct.state == CState::Completed || !ct.invite || ct.settled {
            return;
        }
        ct.timed_out |= timed_out;
        ct.ring_at = None;
        if ct.got_provisional {
            let cancel = parse(ct.sent.clone(), ct.dest.proto == Proto::Udp)
                .map(|m| hop_request(&m, "CANCEL", None));
            if let Ok(bytes) = cancel {
                let dest = ct.dest;
                let branch = ct.branch.clone();
                // Give the branch 64·T1 to answer the CANCEL with its final.
                ct.expire_at = Some(now + self.t1x64());
                self.rearm_client(shard, cid);
                self.start_cancel_txn(shard, branch, dest, bytes, now, fx);
            }
        } else {
            ct.cancel_owed = true;
            ct.settled = true;
        }
    }

    pub(super) fn start_cancel_txn(
        &self,
        shard: &mut Locked,
        branch: Bytes,
        dest: Outbound,
        bytes: Bytes,
        now: Millis,
        fx: &mut Effects,
    ) {
        if shard
            .state
            .client_index
            .contains_key(&(branch.clone(), true))
        {
            return;
        }
        let id = self.next_id();
        let udp = dest.proto == Proto::Udp;
        shard.state.client_index.insert((branch.clone(), true), id);
        shard.state.clients.insert(
            id,
            ClientTxn {
                server: None,
                branch,
                generation: 0,
                invite: false,
                cancel: true,
                state: CState::Trying,
                dest,
                sent: bytes.clone(),
                interval: self.t1(),
                retransmit_at: udp.then(|| now + self.t1()),
                expire_at: Some(now + self.t1x64()),
                ring_at: None,
                got_provisional: false,
                cancel_owed: false,
                timed_out: false,
                settled: false,
                target: Bytes::new(),
                call: None,
                reported: false,
            },
        );
        self.metrics.transactions_active.inc();
        fx.sends.push((dest, bytes));
        self.rearm_client(shard, id);
    }
}
