//! Calls: INVITE, ACK, CANCEL, BYE and requests inside a dialog, and
//! answering them as the called phone.

use super::*;

impl Agent {
    pub(super) fn sdp(&self) -> String {
        let ip = self.shared.local.ip();
        format!(
            "v=0\r\n\
             o={user} 1 1 IN IP4 {ip}\r\n\
             s=protocall test\r\n\
             c=IN IP4 {ip}\r\n\
             t=0 0\r\n\
             m=audio 40000 RTP/AVP 0\r\n\
             a=rtpmap:0 PCMU/8000\r\n",
            user = self.user
        )
    }

    /// Sends an INVITE for `target_uri` (with SDP) to the proxy.
    pub async fn invite(&mut self, target_uri: &str) -> Result<Call> {
        self.invite_with(target_uri, &[]).await
    }

    /// [`Agent::invite`] with extra header lines.
    pub async fn invite_with(
        &mut self,
        target_uri: &str,
        headers: &[(&str, &str)],
    ) -> Result<Call> {
        let call_id = format!("{}@127.0.0.1", random_hex(10));
        self.invite_with_call_id(target_uri, &call_id, headers)
            .await
    }

    /// [`Agent::invite_with`] under a Call-ID of the test's choosing (a
    /// fresh From tag all the same), e.g. one another call already used.
    pub async fn invite_with_call_id(
        &mut self,
        target_uri: &str,
        call_id: &str,
        headers: &[(&str, &str)],
    ) -> Result<Call> {
        let call_id = call_id.to_owned();
        let tag = random_hex(6);
        let from = format!("<{}>;tag={}", self.aor(), tag);
        let to = format!("<{target_uri}>");
        let cseq = self.next_cseq;
        self.next_cseq += 1;
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let call = self
            .send_invite(target_uri, &call_id, &from, &to, cseq, &headers)
            .await?;
        self.dialogs.insert(
            (call_id, tag),
            Dialog {
                local_hdr: from,
                remote_hdr: to,
                remote_tag: None,
                remote_target: target_uri.to_owned(),
                route_set: Vec::new(),
                local_cseq: cseq,
                invite_cseq: cseq,
                is_caller: true,
            },
        );
        Ok(call)
    }

    pub(super) async fn send_invite(
        &mut self,
        target: &str,
        call_id: &str,
        from: &str,
        to: &str,
        cseq: u32,
        headers: &[(String, String)],
    ) -> Result<Call> {
        let (via, branch) = self.new_via();
        let body = self.sdp();
        let mut m = format!(
            "INVITE {target} SIP/2.0\r\n\
             Via: {via}\r\n\
             Max-Forwards: 70\r\n\
             From: {from}\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} INVITE\r\n\
             Contact: <{contact}>\r\n\
             User-Agent: {USER_AGENT}\r\n",
            contact = self.contact_uri(),
        );
        for (k, v) in headers {
            m.push_str(&format!("{k}: {v}\r\n"));
        }
        m.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        let bytes = Bytes::from(m);
        let peer = self.proxy_peer()?;
        self.shared.send(peer, bytes.clone()).await?;
        let local_tag = from
            .rsplit_once(";tag=")
            .map(|(_, t)| t.to_owned())
            .unwrap_or_default();
        Ok(Call {
            call_id: call_id.to_owned(),
            local_tag,
            target: target.to_owned(),
            cseq,
            branch,
            invite: bytes,
            is_caller: true,
            peer,
            via,
            from: from.to_owned(),
            to: to.to_owned(),
            routes: Vec::new(),
        })
    }

    /// Re-sends the INVITE bytes unchanged (a retransmission).
    pub async fn retransmit_invite(&self, call: &Call) -> Result<()> {
        self.shared.send(call.peer, call.invite.clone()).await
    }

    /// UAC: remembers the dialog a 2xx to one of our INVITEs establishes.
    pub(super) fn learn_from_response(&mut self, m: &SipMessage) {
        let Some(status) = m.status() else { return };
        if !(200..300).contains(&status) || !cseq_of(m).is_some_and(|c| c.1 == Method::Invite) {
            return;
        }
        let Ok(Some(from_tag)) = m.from_tag() else {
            return;
        };
        let key = (call_id_of(m), text(&from_tag));
        let Some(d) = self.dialogs.get_mut(&key) else {
            return;
        };
        if !d.is_caller || d.remote_tag.is_some() {
            return;
        }
        let Ok(Some(to_tag)) = m.to_tag() else { return };
        d.remote_tag = Some(text(&to_tag));
        if let Some(to) = header_text(m, "To") {
            d.remote_hdr = to;
        }
        if let Some(c) = contact_uri_of(m) {
            d.remote_target = c;
        }
        let mut rr = record_routes(m);
        rr.reverse();
        d.route_set = rr;
    }

    /// ACKs a final response to our INVITE. For a 2xx: a new transaction
    /// to the remote Contact along the route set (Record-Route reversed);
    /// otherwise the INVITE transaction's own ACK (same branch, To from the
    /// response). Both go to the proxy the INVITE went to.
    pub async fn ack(&mut self, call: &Call, resp: &SipMessage) -> Result<Sent> {
        let status = resp.status().ok_or_else(|| protocol("not a response"))?;
        if (200..300).contains(&status) {
            self.learn_from_response(resp);
            let d = self
                .dialogs
                .get(&(call.call_id.clone(), call.local_tag.clone()))
                .cloned()
                .ok_or(AgentError::NoDialog)?;
            let (via, branch) = self.new_via();
            let mut m = format!(
                "ACK {target} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n",
                target = d.remote_target
            );
            for r in &d.route_set {
                m.push_str(&format!("Route: {r}\r\n"));
            }
            let to = header_text(resp, "To").unwrap_or(d.remote_hdr.clone());
            m.push_str(&format!(
                "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
                d.local_hdr, call.call_id, call.cseq
            ));
            let bytes = Bytes::from(m);
            self.shared.send(call.peer, bytes.clone()).await?;
            lock(&self.shared.auto).acks.insert(
                (call.call_id.clone(), call.cseq),
                (bytes.clone(), call.peer),
            );
            // Retransmissions of this 2xx already queued are answered by
            // this ACK; keep them from confusing later waits.
            let (cid, n) = (call.call_id.clone(), call.cseq);
            lock(&self.shared.inbox).retain(|i| {
                !i.msg.as_ref().is_some_and(|m| {
                    m.status().is_some_and(|s| (200..300).contains(&s))
                        && call_id_of(m) == cid
                        && cseq_of(m).is_some_and(|c| c.0 == n && c.1 == Method::Invite)
                })
            });
            Ok(Sent {
                bytes,
                branch,
                call_id: call.call_id.clone(),
                cseq: call.cseq,
            })
        } else {
            let to = header_text(resp, "To").unwrap_or(call.to.clone());
            let mut m = format!(
                "ACK {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\n",
                call.target, call.via
            );
            for r in &call.routes {
                m.push_str(&format!("Route: {r}\r\n"));
            }
            m.push_str(&format!(
                "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
                call.from, call.call_id, call.cseq
            ));
            let bytes = Bytes::from(m);
            self.shared.send(call.peer, bytes.clone()).await?;
            Ok(Sent {
                bytes,
                branch: call.branch.clone(),
                call_id: call.call_id.clone(),
                cseq: call.cseq,
            })
        }
    }

    /// CANCELs our pending INVITE (same branch, Request-URI, From, To).
    pub async fn cancel(&mut self, call: &Call) -> Result<Sent> {
        let mut m = format!(
            "CANCEL {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\n",
            call.target, call.via
        );
        for r in &call.routes {
            m.push_str(&format!("Route: {r}\r\n"));
        }
        m.push_str(&format!(
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} CANCEL\r\nContent-Length: 0\r\n\r\n",
            call.from, call.to, call.call_id, call.cseq
        ));
        let bytes = Bytes::from(m);
        self.shared.send(call.peer, bytes.clone()).await?;
        Ok(Sent {
            bytes,
            branch: call.branch.clone(),
            call_id: call.call_id.clone(),
            cseq: call.cseq,
        })
    }

    /// Sends BYE in the call's dialog (either side) to the proxy.
    pub async fn bye(&mut self, call: &Call) -> Result<Sent> {
        self.request_in_dialog(call, "BYE", &[], None).await
    }

    /// Any in-dialog request: Request-URI = remote target, Route = route
    /// set, our next CSeq, sent to the proxy the call went through.
    pub async fn request_in_dialog(
        &mut self,
        call: &Call,
        method: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<Sent> {
        let (via, branch) = self.new_via();
        let contact = self.contact_uri();
        let d = self
            .dialogs
            .get_mut(&(call.call_id.clone(), call.local_tag.clone()))
            .ok_or(AgentError::NoDialog)?;
        if d.remote_tag.is_none() {
            return Err(AgentError::NoDialog);
        }
        d.local_cseq += 1;
        let mut m = format!(
            "{method} {} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n",
            d.remote_target
        );
        for r in &d.route_set {
            m.push_str(&format!("Route: {r}\r\n"));
        }
        m.push_str(&format!(
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {method}\r\nContact: <{contact}>\r\n",
            d.local_hdr, d.remote_hdr, call.call_id, d.local_cseq
        ));
        let cseq = d.local_cseq;
        for (k, v) in headers {
            m.push_str(&format!("{k}: {v}\r\n"));
        }
        let mut bytes = m.into_bytes();
        match body {
            Some((ct, b)) => {
                bytes.extend_from_slice(
                    format!("Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n", b.len()).as_bytes(),
                );
                bytes.extend_from_slice(b);
            }
            None => bytes.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
        }
        let bytes = Bytes::from(bytes);
        let to = match (call.is_caller, self.proxy) {
            (false, Some(p)) => Peer::addr(p),
            _ => call.peer,
        };
        self.shared.send(to, bytes.clone()).await?;
        Ok(Sent {
            bytes,
            branch,
            call_id: call.call_id.clone(),
            cseq,
        })
    }

    /// Route set and remote target of a call's dialog, for assertions.
    pub fn dialog_route(&self, call: &Call) -> Option<(String, Vec<String>)> {
        self.dialogs
            .get(&(call.call_id.clone(), call.local_tag.clone()))
            .map(|d| (d.remote_target.clone(), d.route_set.clone()))
    }

    // ----- UAS -------------------------------------------------------------

    pub(super) fn uas_tag(&mut self, req: &SipMessage) -> String {
        let from_tag = req
            .from_tag()
            .ok()
            .flatten()
            .map(|t| text(&t))
            .unwrap_or_default();
        let key = (call_id_of(req), from_tag, branch_of(req));
        self.uas_tags
            .entry(key)
            .or_insert_with(|| random_hex(6))
            .clone()
    }

    /// Answers a received request with `code` (To tag added for the
    /// dialog; for INVITE 101-299 our Contact and the Record-Route copied;
    /// SDP on a 2xx to INVITE). Goes back where the request came from.
    pub async fn respond(&mut self, req: &SipMessage, code: u16) -> Result<()> {
        self.respond_with(req, code, &[], None).await
    }

    /// [`Agent::respond`] with extra header lines and an optional body
    /// (content type, bytes) replacing the default SDP.
    pub async fn respond_with(
        &mut self,
        req: &SipMessage,
        code: u16,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<()> {
        let method = req.method().ok_or_else(|| protocol("not a request"))?;
        let is_invite = method == Method::Invite;
        let tag = self.uas_tag(req);
        let contact = self.contact_uri();
        let sdp = self.sdp();
        let mut b = response(req, code).to_tag(&tag);
        let dialog_forming = is_invite && (101..300).contains(&code);
        if dialog_forming {
            for rr in req.headers("Record-Route") {
                b = b.header("Record-Route", text(&rr));
            }
            b = b.header("Contact", format!("<{contact}>"));
        }
        for (k, v) in headers {
            b = b.header(k, *v);
        }
        if let Some((ct, bytes)) = body {
            b = b.body(ct, bytes);
        } else if is_invite && (200..300).contains(&code) {
            b = b.body("application/sdp", sdp.as_bytes());
        }
        let bytes = b.build();

        let key = server_key(req);
        let reply_to = {
            let mut auto = lock(&self.shared.auto);
            let fallback = auto.last_source;
            let to = match auto.server_tx.get_mut(&key) {
                Some(tx) => {
                    tx.last_response = Some(bytes.clone());
                    Some(tx.reply_to)
                }
                None => None,
            };
            to.or(fallback)
        };
        let reply_to = match reply_to {
            Some(p) => p,
            None => self.proxy_peer()?,
        };
        self.shared.send(reply_to, bytes.clone()).await?;

        if dialog_forming && code >= 200 {
            self.remember_uas_dialog(req, &tag, reply_to);
        }
        let retransmit = is_invite
            && code >= 200
            && self.transport == Transport::Udp
            && lock(&self.shared.auto).retransmit_finals;
        if retransmit {
            let key = if code < 300 {
                RetransKey::Ok(call_id_of(req), cseq_of(req).map(|c| c.0).unwrap_or(0))
            } else {
                RetransKey::Final(branch_of(req))
            };
            self.shared.retransmit(key, bytes, reply_to);
        }
        Ok(())
    }

    pub(super) fn remember_uas_dialog(&mut self, req: &SipMessage, tag: &str, peer: Peer) {
        let call_id = call_id_of(req);
        let key = (call_id, tag.to_owned());
        if self.dialogs.contains_key(&key) {
            return;
        }
        let to = header_text(req, "To").unwrap_or_default();
        let from = header_text(req, "From").unwrap_or_default();
        let remote_target = contact_uri_of(req)
            .or_else(|| req.from().ok().map(|na| text(&na.uri.raw)))
            .unwrap_or_default();
        let invite_cseq = cseq_of(req).map(|c| c.0).unwrap_or(0);
        let _ = peer;
        self.dialogs.insert(
            key,
            Dialog {
                local_hdr: format!("{to};tag={tag}"),
                remote_hdr: from,
                remote_tag: req.from_tag().ok().flatten().map(|t| text(&t)),
                remote_target,
                route_set: record_routes(req),
                local_cseq: 100,
                invite_cseq,
                is_caller: false,
            },
        );
    }

    /// The callee's handle on a call whose INVITE it answered with 2xx
    /// (needed to send BYE from the callee side).
    pub fn call_for(&self, invite: &SipMessage) -> Result<Call> {
        let from_tag = invite
            .from_tag()
            .ok()
            .flatten()
            .map(|t| text(&t))
            .unwrap_or_default();
        let call_id = call_id_of(invite);
        let tag = self
            .uas_tags
            .get(&(call_id.clone(), from_tag, branch_of(invite)))
            .cloned()
            .ok_or(AgentError::NoDialog)?;
        if !self.dialogs.contains_key(&(call_id.clone(), tag.clone())) {
            return Err(AgentError::NoDialog);
        }
        let peer = lock(&self.shared.auto)
            .server_tx
            .get(&server_key(invite))
            .map(|t| t.reply_to)
            .or(self.proxy.map(Peer::addr))
            .ok_or(AgentError::NoPeer)?;
        Ok(Call {
            call_id,
            local_tag: tag,
            target: invite.request_uri().map(text).unwrap_or_default(),
            cseq: cseq_of(invite).map(|c| c.0).unwrap_or(0),
            branch: branch_of(invite),
            invite: invite.as_bytes().clone(),
            is_caller: false,
            peer,
            via: header_text(invite, "Via").unwrap_or_default(),
            from: header_text(invite, "From").unwrap_or_default(),
            to: header_text(invite, "To").unwrap_or_default(),
            routes: Vec::new(),
        })
    }

    /// Convenience: respond 200 to `invite` and return the callee's call.
    pub async fn answer(&mut self, invite: &SipMessage) -> Result<Call> {
        self.respond(invite, 200).await?;
        self.call_for(invite)
    }
}
