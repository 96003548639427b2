//! The client side of digest authentication (RFC 7616 / RFC 3261 §22)
//! and REGISTER: reading challenges, answering them, and what a REGISTER
//! carries.

use super::*;

// ---------------------------------------------------------------------------
// Digest challenges (client side)
// ---------------------------------------------------------------------------

/// One `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// `None` when the parameter was absent (means MD5).
    pub algorithm: Option<String>,
    /// The qop options offered, lowercased.
    pub qop: Vec<String>,
    pub stale: bool,
}

impl DigestChallenge {
    /// Parses `Digest realm="..", nonce="..", ...`. Unknown parameters are
    /// ignored; `None` for another scheme or a value without realm/nonce.
    pub fn parse(value: &str) -> Option<DigestChallenge> {
        let v = value.trim_start();
        let scheme_end = v.find(|c: char| c.is_ascii_whitespace()).unwrap_or(v.len());
        let (scheme, rest) = v.split_at(scheme_end);
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let params = parse_auth_params(rest)?;
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        Some(DigestChallenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            algorithm: get("algorithm"),
            qop: get("qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The algorithm, if it is one we can compute.
    pub fn alg(&self) -> Option<Algorithm> {
        match self.algorithm.as_deref() {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            Some(_) => None,
        }
    }

    /// The `Authorization` / `Proxy-Authorization` value answering this
    /// challenge with qop=auth (or the RFC 2069 form when no qop was
    /// offered).
    pub fn authorization(
        &self,
        method: &str,
        uri: &str,
        username: &str,
        password: &str,
        nc: u32,
        cnonce: &str,
    ) -> Option<String> {
        let alg = self.alg()?;
        let ha1 = digest::ha1(alg, username, &self.realm, password);
        let ha2 = hash_parts(alg, &[method, uri]);
        let nc_text = format!("{nc:08x}");
        let use_qop = self.qop.is_empty() || self.qop.iter().any(|q| q == "auth");
        if !use_qop {
            return None;
        }
        let with_qop = !self.qop.is_empty();
        let resp = if with_qop {
            hash_parts(alg, &[&ha1, &self.nonce, &nc_text, cnonce, "auth", &ha2])
        } else {
            hash_parts(alg, &[&ha1, &self.nonce, &ha2])
        };
        let mut out = String::from("Digest username=");
        push_quoted(&mut out, username);
        out.push_str(", realm=");
        push_quoted(&mut out, &self.realm);
        out.push_str(", nonce=");
        push_quoted(&mut out, &self.nonce);
        out.push_str(", uri=");
        push_quoted(&mut out, uri);
        out.push_str(", response=");
        push_quoted(&mut out, &resp);
        out.push_str(", algorithm=");
        out.push_str(alg.as_str());
        if with_qop {
            out.push_str(", cnonce=");
            push_quoted(&mut out, cnonce);
            out.push_str(", qop=auth, nc=");
            out.push_str(&nc_text);
        }
        if let Some(o) = &self.opaque {
            out.push_str(", opaque=");
            push_quoted(&mut out, o);
        }
        Some(out)
    }
}

/// The challenges in a 401 (`WWW-Authenticate`) or 407
/// (`Proxy-Authenticate`), best first: SHA-256 before MD5, unusable ones
/// dropped.
pub fn challenges_of(resp: &SipMessage) -> Vec<DigestChallenge> {
    let name = if resp.status() == Some(407) {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    };
    let mut out: Vec<DigestChallenge> = resp
        .headers(name)
        .filter_map(|v| DigestChallenge::parse(&String::from_utf8_lossy(&v)))
        .filter(|c| c.alg().is_some())
        .collect();
    out.sort_by_key(|c| match c.alg() {
        Some(Algorithm::Sha256) => 0,
        _ => 1,
    });
    out
}

pub(super) fn hash_parts(alg: Algorithm, parts: &[&str]) -> String {
    pub(super) fn run<D: Digest>(parts: &[&str]) -> String {
        let mut d = D::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                d.update(b":");
            }
            d.update(p.as_bytes());
        }
        hex::encode(d.finalize())
    }
    match alg {
        Algorithm::Md5 => run::<Md5>(parts),
        Algorithm::Sha256 => run::<Sha256>(parts),
    }
}

pub(super) fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `name=value` pairs separated by commas; values are tokens or
/// quoted-strings. Names are lowercased. `None` on unterminated quotes.
pub(super) fn parse_auth_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_ascii_whitespace() {
                break;
            }
            name.push(c.to_ascii_lowercase());
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            // A bare word: skip it.
            out.push((name, String::new()));
            continue;
        }
        chars.next();
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return None;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name, value));
    }
}

// ---------------------------------------------------------------------------
// REGISTER options
// ---------------------------------------------------------------------------

/// What a REGISTER carries; see [`Agent::register_with`].
#[derive(Debug, Clone, Default)]
pub struct RegisterOpts {
    /// Password for the digest answer; `None` leaves a challenge unanswered.
    pub password: Option<String>,
    /// Digest username; defaults to the agent's user.
    pub auth_user: Option<String>,
    /// `Expires` header; `None` omits it.
    pub expires: Option<u32>,
    /// Contact header values (one line each); `None` uses the agent's own
    /// Contact, `Some(vec![])` sends none (a binding query).
    pub contacts: Option<Vec<String>>,
    /// Force this algorithm when answering (default: SHA-256 if offered).
    pub algorithm: Option<Algorithm>,
    /// Extra header lines.
    pub headers: Vec<(String, String)>,
}

impl Agent {
    /// REGISTER with our Contact and `Expires: expires`, answering a digest
    /// challenge with `password`; the final status.
    pub async fn register(&mut self, password: &str, expires: u32) -> Result<u16> {
        let r = self.register_raw(password, expires).await?;
        r.status()
            .ok_or_else(|| protocol("response without status"))
    }

    /// Like [`Agent::register`] but returns the whole final response.
    pub async fn register_raw(&mut self, password: &str, expires: u32) -> Result<SipMessage> {
        self.register_with(RegisterOpts {
            password: Some(password.to_owned()),
            expires: Some(expires),
            ..RegisterOpts::default()
        })
        .await
    }

    /// `Contact: *`, `Expires: 0`.
    pub async fn unregister_all(&mut self, password: &str) -> Result<SipMessage> {
        self.register_with(RegisterOpts {
            password: Some(password.to_owned()),
            expires: Some(0),
            contacts: Some(vec!["*".to_owned()]),
            ..RegisterOpts::default()
        })
        .await
    }

    /// One REGISTER exchange: sends, answers up to two challenges (the
    /// second only when it says `stale=true`) if a password is given, and
    /// returns the final response.
    pub async fn register_with(&mut self, opts: RegisterOpts) -> Result<SipMessage> {
        let mut auth: Option<String> = None;
        let mut answered = 0;
        loop {
            self.send_register(&opts, auth.as_deref()).await?;
            let resp = self.final_response(Method::Register, self.timeout).await?;
            let status = resp.status().unwrap_or(0);
            let Some(password) = opts.password.as_deref() else {
                return Ok(resp);
            };
            if (status != 401 && status != 407) || answered >= 2 {
                return Ok(resp);
            }
            let chs = challenges_of(&resp);
            if answered == 1 && !chs.iter().any(|c| c.stale) {
                return Ok(resp);
            }
            let ch = match opts.algorithm {
                Some(a) => chs.into_iter().find(|c| c.alg() == Some(a)),
                None => chs.into_iter().next(),
            };
            let Some(ch) = ch else { return Ok(resp) };
            let user = opts.auth_user.clone().unwrap_or_else(|| self.user.clone());
            let uri = format!("sip:{}", self.domain);
            let value = ch
                .authorization("REGISTER", &uri, &user, password, 1, &random_hex(8))
                .ok_or_else(|| protocol("cannot answer challenge"))?;
            let name = if status == 407 {
                "Proxy-Authorization"
            } else {
                "Authorization"
            };
            auth = Some(format!("{name}: {value}"));
            self.last_challenge = Some((ch, 1));
            answered += 1;
        }
    }

    /// REGISTER reusing the last challenge's nonce with the next
    /// nonce-count (no round trip first); the final response, challenges
    /// not answered. `nc` overrides the nonce-count (to test replays).
    pub async fn register_preemptive(
        &mut self,
        password: &str,
        expires: u32,
        nc: Option<u32>,
    ) -> Result<SipMessage> {
        let (ch, last_nc) = self
            .last_challenge
            .clone()
            .ok_or_else(|| protocol("no earlier challenge"))?;
        let nc = nc.unwrap_or(last_nc + 1);
        self.last_challenge = Some((ch.clone(), nc.max(last_nc)));
        let uri = format!("sip:{}", self.domain);
        let value = ch
            .authorization("REGISTER", &uri, &self.user, password, nc, &random_hex(8))
            .ok_or_else(|| protocol("cannot answer challenge"))?;
        let opts = RegisterOpts {
            expires: Some(expires),
            ..RegisterOpts::default()
        };
        self.send_register(&opts, Some(&format!("Authorization: {value}")))
            .await?;
        self.final_response(Method::Register, self.timeout).await
    }

    /// Sends one REGISTER (no waiting); `auth_line` is a whole header line
    /// such as `Authorization: Digest ...`.
    pub async fn send_register(
        &mut self,
        opts: &RegisterOpts,
        auth_line: Option<&str>,
    ) -> Result<Sent> {
        self.reg_cseq += 1;
        let (via, branch) = self.new_via();
        let aor = self.aor();
        let mut m = format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: {via}\r\n\
             Max-Forwards: 70\r\n\
             From: <{aor}>;tag={tag}\r\n\
             To: <{aor}>\r\n\
             Call-ID: {cid}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             User-Agent: {USER_AGENT}\r\n",
            domain = self.domain,
            tag = self.reg_from_tag,
            cid = self.reg_call_id,
            cseq = self.reg_cseq,
        );
        match &opts.contacts {
            None => m.push_str(&format!("Contact: <{}>\r\n", self.contact_uri())),
            Some(list) => {
                for c in list {
                    m.push_str(&format!("Contact: {c}\r\n"));
                }
            }
        }
        if let Some(e) = opts.expires {
            m.push_str(&format!("Expires: {e}\r\n"));
        }
        for (k, v) in &opts.headers {
            m.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(a) = auth_line {
            m.push_str(a);
            m.push_str("\r\n");
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        let bytes = Bytes::from(m);
        self.send_raw(bytes.clone()).await?;
        Ok(Sent {
            bytes,
            branch,
            call_id: self.reg_call_id.clone(),
            cseq: self.reg_cseq,
        })
    }

    // ----- UAC -------------------------------------------------------------

    /// Answers a 401/407 to our INVITE: ACKs it, then sends the INVITE
    /// again (CSeq + 1, new branch) with credentials. Returns the new call
    /// handle; wait for its responses as usual.
    pub async fn answer_auth_challenge(
        &mut self,
        call: &Call,
        resp: &SipMessage,
        password: &str,
    ) -> Result<Call> {
        let status = resp.status().unwrap_or(0);
        if status != 401 && status != 407 {
            return Err(protocol(format!("{status} is not a challenge")));
        }
        self.ack(call, resp).await?;
        let ch = challenges_of(resp)
            .into_iter()
            .next()
            .ok_or_else(|| protocol("no usable challenge"))?;
        let value = ch
            .authorization(
                "INVITE",
                &call.target,
                &self.user,
                password,
                1,
                &random_hex(8),
            )
            .ok_or_else(|| protocol("cannot answer challenge"))?;
        let name = if status == 407 {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let cseq = self.next_cseq.max(call.cseq + 1);
        self.next_cseq = cseq + 1;
        let new = self
            .send_invite(
                &call.target,
                &call.call_id,
                &call.from,
                &call.to,
                cseq,
                &[(name.to_owned(), value)],
            )
            .await?;
        if let Some(d) = self
            .dialogs
            .get_mut(&(call.call_id.clone(), call.local_tag.clone()))
        {
            d.local_cseq = cseq;
            d.invite_cseq = cseq;
        }
        Ok(new)
    }

    // ----- in-dialog requests (both sides) ---------------------------------
}
