//! The SIP registrar (RFC 3261 §10.3) and the digest check shared with the
//! proxy (RFC 3261 §22, RFC 7616).
//!
//! This module owns turning a REGISTER into a response and a change of
//! bindings: admission of the request, digest authentication against a
//! [`CredentialSource`], the rule that one may only register one's own
//! AoR, the expiry interval policy (423 below the minimum, clamping above
//! the maximum), q-values, `Contact: *`, and the 200 listing the current
//! bindings. The bindings themselves, their ordering rules and their
//! persistence feed belong to [`crate::location`]; nonce cryptography
//! belongs to [`crate::digest`].
//!
//! The AoR is the SIP username: the user part of the To URI, with any
//! host accepted, since protocall serves a single domain.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::digest::uri::digest_uri_names;
use crate::digest::{
    parse_authorization_bytes, Algorithm, AuthError, Authenticator, Credentials, NonceSigner,
    ParseError, RngError, StoredHa1, DEFAULT_REPLAY_CAPACITY,
};
use crate::edit;
use crate::location::{
    ApplyError, Binding, ContactUpdate, Location, LocationChange, LocationConfig, Update,
};
use crate::message::{Contact, Method, NameAddr, Scheme, SipMessage};
use crate::parse::is_token_char;
use crate::transport::Inbound;
use crate::validate::{self, Reject};

/// Registrar policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Digest realm; the stored HA1 values depend on it.
    pub realm: String,
    /// Non-zero intervals below this get 423 Interval Too Brief.
    pub min_expires: u32,
    /// Longer intervals are shortened to this.
    pub max_expires: u32,
    /// Used when neither the Contact nor the request says.
    pub default_expires: u32,
    /// Bindings kept per AoR; also the most Contacts one REGISTER may add.
    pub max_bindings_per_aor: usize,
    /// Digest algorithms offered, most preferred first (RFC 8760 §2.4).
    pub algorithms: Vec<Algorithm>,
    /// User-Agent substrings (any case) of clients offered MD5 alone: SIP
    /// stacks that give up on a challenge set with an algorithm they cannot
    /// compute (baresip 1.0) or answer only the first challenge (SIPp 3.6).
    /// A request without User-Agent is offered MD5 alone too.
    pub md5_only_agents: Vec<String>,
    /// Host names that mean this proxy: a digest `uri` naming one of them
    /// (without a user) is accepted for any request (see `digest::uri`).
    pub local_hosts: Vec<String>,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            realm: "protocall".to_owned(),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_bindings_per_aor: crate::location::DEFAULT_MAX_BINDINGS_PER_AOR,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            md5_only_agents: default_md5_only_agents(),
            local_hosts: Vec::new(),
        }
    }
}

/// The clients we know to fail on a SHA-256 challenge beside MD5.
pub fn default_md5_only_agents() -> Vec<String> {
    vec!["baresip".to_owned(), "sipp".to_owned()]
}

/// A [`RegistrarConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("realm must be non-empty and hold no quotes or control characters")]
    Realm,
    #[error("min_expires ({min}) is above max_expires ({max})")]
    ExpiresRange { min: u32, max: u32 },
    #[error("default_expires ({0}) is outside min_expires..=max_expires")]
    DefaultExpires(u32),
    #[error("max_bindings_per_aor must be at least 1")]
    MaxBindings,
    #[error("digest_algorithms must name at least one of SHA-256, MD5, each once")]
    Algorithms,
}

impl RegistrarConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let realm_ok = !self.realm.trim().is_empty()
            && !self.realm.chars().any(|c| c == '"' || c.is_control());
        if !realm_ok {
            return Err(ConfigError::Realm);
        }
        if self.min_expires > self.max_expires {
            return Err(ConfigError::ExpiresRange {
                min: self.min_expires,
                max: self.max_expires,
            });
        }
        if !(self.min_expires..=self.max_expires).contains(&self.default_expires) {
            return Err(ConfigError::DefaultExpires(self.default_expires));
        }
        if self.max_bindings_per_aor == 0 {
            return Err(ConfigError::MaxBindings);
        }
        let unique = self
            .algorithms
            .iter()
            .enumerate()
            .all(|(i, a)| !self.algorithms.iter().skip(i + 1).any(|b| b == a));
        if self.algorithms.is_empty() || !unique {
            return Err(ConfigError::Algorithms);
        }
        Ok(())
    }

    /// The location settings matching this policy; build the shared
    /// [`Location`] from it so both agree on the per-AoR limit.
    pub fn location_config(&self) -> LocationConfig {
        LocationConfig {
            max_bindings_per_aor: self.max_bindings_per_aor,
        }
    }
}

/// Why a registrar could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrarError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Rng(#[from] RngError),
}

/// What the directory knows about a user's digest secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSecret {
    pub ha1: StoredHa1,
    /// Inactive users are answered exactly like unknown ones.
    pub active: bool,
}

/// Where user secrets come from. Called on the request path, so it must
/// answer from memory (the directory keeps it fresh), never block on I/O.
pub trait CredentialSource: Send + Sync {
    fn lookup(&self, username: &str) -> Option<UserSecret>;
}

impl<S: BuildHasher + Send + Sync> CredentialSource for HashMap<String, UserSecret, S> {
    fn lookup(&self, username: &str) -> Option<UserSecret> {
        self.get(username).cloned()
    }
}

/// Why a request was challenged. For logs and metrics only: the response
/// must not depend on it beyond `stale`, or it would tell an attacker
/// which usernames exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("malformed credentials: {0}")]
    Malformed(ParseError),
    #[error("credentials are for another realm")]
    OtherRealm,
    #[error("digest uri does not match the Request-URI")]
    UriMismatch,
    #[error("unknown user")]
    UnknownUser,
    #[error("inactive user")]
    InactiveUser,
    #[error(transparent)]
    Verify(AuthError),
    #[error("no nonce could be made: {0}")]
    Rng(RngError),
}

/// The answer owed to a request that did not authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthChallenge {
    /// 401 (registrar, UAS) or 407 (proxy); 500 when no nonce could be made.
    pub code: u16,
    /// Header lines to send: the SHA-256 challenge then the MD5 one.
    pub headers: Vec<(&'static str, String)>,
    pub stale: bool,
    /// `None` when the request carried no credentials for our realm.
    pub failure: Option<AuthFailure>,
    /// The username the failed credentials named, for the guard's
    /// per-user counters and the log (never the password or response).
    pub username: Option<String>,
}

impl AuthChallenge {
    /// Whether this is a failed guess (wrong password, unknown user, a
    /// forged nonce...), as opposed to a first challenge, a stale nonce or
    /// credentials meant for another proxy.
    pub fn is_failed_attempt(&self) -> bool {
        !self.stale
            && matches!(
                self.failure,
                Some(
                    AuthFailure::Malformed(_)
                        | AuthFailure::UriMismatch
                        | AuthFailure::UnknownUser
                        | AuthFailure::InactiveUser
                        | AuthFailure::Verify(_)
                )
            )
    }
}

impl AuthChallenge {
    fn naming(mut self, username: &str) -> AuthChallenge {
        self.username = Some(username.to_owned());
        self
    }

    /// The complete response to `req`, which arrived from `source`.
    pub fn response(&self, req: &SipMessage, source: SocketAddr) -> Bytes {
        let tag = to_tag(req);
        let mut b = edit::response(req, self.code).to_tag(&tag).source(source);
        for (name, value) in &self.headers {
            b = b.header(name, value.clone());
        }
        b.build()
    }
}

/// A handled REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOutcome {
    pub status: u16,
    /// The response to send back to the request's source.
    pub response: Bytes,
    pub result: RegisterResult,
}

/// What a REGISTER led to, for the caller's logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterResult {
    /// 401 (or 500 when no nonce could be made).
    Challenged {
        stale: bool,
        failure: Option<AuthFailure>,
        /// The username the failed credentials named.
        username: Option<String>,
        /// See [`AuthChallenge::is_failed_attempt`].
        failed_attempt: bool,
    },
    /// Refused with `status`; `reason` is the phrase sent.
    Rejected { reason: String },
    /// 200: the bindings were fetched or changed.
    Accepted {
        aor: String,
        /// Empty for a fetch.
        changes: Vec<LocationChange>,
        /// The AoR's bindings after the request, best first.
        bindings: Vec<Binding>,
    },
}

/// The registrar. `&self` everywhere; share it across the SIP workers.
pub struct Registrar {
    config: RegistrarConfig,
    auth: Authenticator,
    credentials: Arc<dyn CredentialSource>,
    location: Arc<Location>,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("config", &self.config)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Registrar {
    /// A registrar with a fresh random nonce secret.
    pub fn new(
        config: RegistrarConfig,
        credentials: Arc<dyn CredentialSource>,
        location: Arc<Location>,
    ) -> Result<Registrar, RegistrarError> {
        let signer = NonceSigner::new(crate::digest::DEFAULT_NONCE_LIFETIME_SECS)?;
        Ok(Registrar::with_nonce_signer(
            config,
            signer,
            credentials,
            location,
        )?)
    }

    /// A registrar whose nonces come from `signer` (tests, or several
    /// processes sharing one secret).
    pub fn with_nonce_signer(
        config: RegistrarConfig,
        signer: NonceSigner,
        credentials: Arc<dyn CredentialSource>,
        location: Arc<Location>,
    ) -> Result<Registrar, ConfigError> {
        config.validate()?;
        if location.max_bindings_per_aor() != config.max_bindings_per_aor {
            tracing::warn!(
                registrar = config.max_bindings_per_aor,
                location = location.max_bindings_per_aor(),
                "registrar and location disagree on max bindings per AoR; the location's limit wins"
            );
        }
        let auth = Authenticator::with_parts(config.realm.clone(), signer, DEFAULT_REPLAY_CAPACITY);
        Ok(Registrar {
            config,
            auth,
            credentials,
            location,
        })
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    pub fn location(&self) -> &Arc<Location> {
        &self.location
    }

    /// Checks the request's digest credentials (`Authorization`, or
    /// `Proxy-Authorization` when `proxy`) and returns the authenticated
    /// username, or the 401/407 challenge to send. Wrong passwords, unknown
    /// and inactive users all produce the same challenge; only a correct
    /// response on an expired nonce earns `stale=true`.
    pub fn authenticate(
        &self,
        req: &SipMessage,
        proxy: bool,
        now_ms: i64,
    ) -> Result<String, AuthChallenge> {
        let now = unix_secs(now_ms);
        let header = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        // A request may carry credentials for several realms (one per
        // proxy on the path); only ours concern us.
        let mut failure = None;
        let mut ours: Option<Credentials> = None;
        for value in req.headers(header) {
            match parse_authorization_bytes(&value) {
                Ok(c) if c.realm == self.config.realm => {
                    ours = Some(c);
                    break;
                }
                Ok(_) => {
                    failure.get_or_insert(AuthFailure::OtherRealm);
                }
                Err(e) => {
                    failure.get_or_insert(AuthFailure::Malformed(e));
                }
            }
        }
        let Some(creds) = ours else {
            return Err(self.challenge(req, proxy, false, failure, now));
        };
        // RFC 7616 §3.4 and RFC 3261 §22.4: credentials computed for one
        // Request-URI must not authorise another. Checked before the user
        // lookup, so it reveals nothing about the user.
        let ruri = req.parsed_request_uri().and_then(Result::ok);
        let raw = req.request_uri().unwrap_or_default();
        if !digest_uri_names(&creds.uri, raw, ruri.as_ref(), &self.config.local_hosts) {
            return Err(self
                .challenge(req, proxy, false, Some(AuthFailure::UriMismatch), now)
                .naming(&creds.username));
        }
        let method = req
            .method()
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
            .unwrap_or_default();
        let user = self.credentials.lookup(&creds.username);
        let (ha1, absent) = match &user {
            Some(u) if u.active => (Some(&u.ha1), None),
            Some(_) => (None, Some(AuthFailure::InactiveUser)),
            None => (None, Some(AuthFailure::UnknownUser)),
        };
        // `None` goes through the dummy-HA1 path, which costs the same
        // work and fails the same way as a wrong password.
        match self.auth.verify(&creds, &method, ha1, now) {
            Ok(()) => Ok(creds.username),
            Err(AuthError::StaleNonce) => Err(self.challenge(
                req,
                proxy,
                true,
                Some(AuthFailure::Verify(AuthError::StaleNonce)),
                now,
            )),
            Err(e) => {
                if let AuthError::BadStoredHa1(alg) = e {
                    tracing::warn!(%alg, "stored HA1 is malformed; the user cannot log in");
                }
                let why = absent.unwrap_or(AuthFailure::Verify(e));
                Err(self
                    .challenge(req, proxy, false, Some(why), now)
                    .naming(&creds.username))
            }
        }
    }

    /// The algorithms to offer this client, best first.
    fn offered(&self, req: &SipMessage) -> Vec<Algorithm> {
        let agent = req
            .header("User-Agent")
            .map(|v| String::from_utf8_lossy(&v).to_ascii_lowercase());
        let legacy = match &agent {
            None => true,
            Some(a) => self
                .config
                .md5_only_agents
                .iter()
                .any(|m| !m.is_empty() && a.contains(&m.to_ascii_lowercase())),
        };
        if legacy && self.config.algorithms.contains(&Algorithm::Md5) {
            vec![Algorithm::Md5]
        } else {
            self.config.algorithms.clone()
        }
    }

    fn challenge(
        &self,
        req: &SipMessage,
        proxy: bool,
        stale: bool,
        failure: Option<AuthFailure>,
        now: u64,
    ) -> AuthChallenge {
        let (code, name) = if proxy {
            (407, "Proxy-Authenticate")
        } else {
            (401, "WWW-Authenticate")
        };
        match self.auth.challenges(&self.offered(req), stale, now) {
            Ok(values) => AuthChallenge {
                code,
                headers: values.into_iter().map(|v| (name, v)).collect(),
                stale,
                failure,
                username: None,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot issue a digest nonce");
                AuthChallenge {
                    code: 500,
                    headers: Vec::new(),
                    stale: false,
                    failure: Some(AuthFailure::Rng(e)),
                    username: None,
                }
            }
        }
    }

    /// Handles one REGISTER (RFC 3261 §10.3) that arrived as `inbound`.
    /// Never panics on any parsed message; whatever is wrong with it
    /// becomes a status code.
    pub fn handle_register(
        &self,
        req: &SipMessage,
        inbound: &Inbound,
        now_ms: i64,
    ) -> RegisterOutcome {
        let reply = self.register(req, inbound, now_ms);
        if let RegisterResult::Rejected { reason } = &reply.result {
            tracing::debug!(status = reply.code, %reason, source = %inbound.source, "REGISTER refused");
        }
        let tag = to_tag(req);
        let mut b = edit::response(req, reply.code)
            .to_tag(&tag)
            .source(inbound.source);
        if let RegisterResult::Rejected { reason } = &reply.result {
            b = b.reason(reason);
        }
        for (name, value) in &reply.headers {
            b = b.header(name, value.clone());
        }
        RegisterOutcome {
            status: reply.code,
            response: b.build(),
            result: reply.result,
        }
    }

    fn register(&self, req: &SipMessage, inbound: &Inbound, now_ms: i64) -> Reply {
        let r = match self.admit(req) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        let username = match self.authenticate(req, false, now_ms) {
            Ok(u) => u,
            Err(ch) => {
                let failed_attempt = ch.is_failed_attempt();
                return Reply {
                    code: ch.code,
                    headers: ch.headers,
                    result: RegisterResult::Challenged {
                        stale: ch.stale,
                        failed_attempt,
                        failure: ch.failure,
                        username: ch.username,
                    },
                };
            }
        };
        // No third-party registration: an authenticated user may bind only
        // their own AoR (§10.3 step 3 leaves the policy to us).
        if username != r.aor {
            return Reply::reject(403, "Username does not match the To URI");
        }
        let update = match self.plan(req, &r, inbound, now_ms) {
            Ok(u) => u,
            Err(reply) => return reply,
        };
        let (changes, bindings) = match update {
            None => (Vec::new(), self.location.lookup(&r.aor, now_ms)),
            Some(update) => match self.location.apply(&r.aor, update, now_ms) {
                Ok(applied) => (applied.changes, applied.bindings),
                Err(ApplyError::OutOfOrder { .. }) => {
                    // §10.3 steps 7-8: a REGISTER older than what is stored
                    // fails as a whole, and a failed update is a 500.
                    return Reply::reject(500, "Out-of-order CSeq for this Call-ID");
                }
            },
        };
        let mut headers: Vec<(&'static str, String)> = bindings
            .iter()
            .filter(|b| is_safe_uri(&b.contact))
            .map(|b| ("Contact", contact_value(b, now_ms)))
            .collect();
        // §10.3 step 8: a Date lets clients without a clock know the time.
        headers.push(("Date", http_date(now_ms)));
        Reply {
            code: 200,
            headers,
            result: RegisterResult::Accepted {
                aor: r.aor,
                changes,
                bindings,
            },
        }
    }

    /// Everything about the request that does not need a user: §8.2
    /// admission, §10.3 steps 1-2 and the To header.
    fn admit(&self, req: &SipMessage) -> Result<Admitted, Reply> {
        if let Err(reject) = validate::check_request(req) {
            return Err(match reject {
                Reject::Respond { code, reason } => Reply::reject(code, reason),
                Reject::Drop { .. } => Reply::reject(400, "Not a request"),
            });
        }
        if req.method() != Some(Method::Register) {
            return Err(Reply::reject(400, "Not a REGISTER request"));
        }
        match req.parsed_request_uri() {
            Some(Ok(u)) if matches!(u.scheme, Scheme::Sip | Scheme::Sips) => {}
            Some(Ok(_)) => return Err(Reply::reject(416, "Unsupported URI Scheme")),
            _ => return Err(Reply::reject(400, "Malformed Request-URI")),
        }
        // §8.2.2.3: we implement no extension (path, outbound, gruu), and
        // one the client requires cannot be silently ignored.
        let mut unsupported = Vec::new();
        for tag in req.headers("Require") {
            let tag = tag.trim_ascii();
            if tag.is_empty() {
                continue;
            }
            if !tag.iter().all(|b| is_token_char(*b)) {
                return Err(Reply::reject(400, "Malformed Require header"));
            }
            unsupported.push(String::from_utf8_lossy(tag).into_owned());
        }
        if !unsupported.is_empty() {
            let mut reply = Reply::reject(420, "Bad Extension");
            reply.headers.push(("Unsupported", unsupported.join(", ")));
            return Err(reply);
        }
        let to = req
            .to()
            .map_err(|_| Reply::reject(400, "Malformed To header"))?;
        if !matches!(to.uri.scheme, Scheme::Sip | Scheme::Sips) {
            return Err(Reply::reject(400, "To URI must be a sip or sips URI"));
        }
        let user = to
            .uri
            .user
            .as_ref()
            .ok_or_else(|| Reply::reject(400, "To URI has no user part"))?;
        // §19.1.4: escaped and unescaped user parts are the same user.
        let aor = unescape(user).ok_or_else(|| Reply::reject(400, "Malformed To user part"))?;
        let call_id = req
            .call_id()
            .and_then(|c| String::from_utf8(c.to_vec()).ok())
            .ok_or_else(|| Reply::reject(400, "Malformed Call-ID header"))?;
        let cseq = req
            .cseq()
            .map_err(|_| Reply::reject(400, "Malformed CSeq header"))?
            .0;
        Ok(Admitted { aor, call_id, cseq })
    }

    /// §10.3 steps 6-7 up to the commit: `Ok(None)` is a fetch.
    fn plan(
        &self,
        req: &SipMessage,
        r: &Admitted,
        inbound: &Inbound,
        now_ms: i64,
    ) -> Result<Option<Update>, Reply> {
        let header_expires = req
            .expires()
            .map_err(|_| Reply::reject(400, "Malformed Expires header"))?;
        let mut star = false;
        let mut addrs: Vec<NameAddr> = Vec::new();
        for c in req.contacts() {
            match c {
                Ok(Contact::Star) => star = true,
                Ok(Contact::Addr(na)) => addrs.push(na),
                Err(_) => return Err(Reply::reject(400, "Malformed Contact header")),
            }
        }
        if star {
            if !addrs.is_empty() {
                return Err(Reply::reject(400, "Contact: * must be the only Contact"));
            }
            if header_expires != Some(0) {
                return Err(Reply::reject(400, "Contact: * requires Expires: 0"));
            }
            return Ok(Some(Update::RemoveAll {
                call_id: r.call_id.clone(),
                cseq: r.cseq,
            }));
        }
        if addrs.is_empty() {
            return Ok(None);
        }
        if addrs.len() > self.config.max_bindings_per_aor {
            return Err(Reply::reject(403, "Too Many Contacts"));
        }
        let user_agent = req.header("User-Agent").map(|ua| {
            // Bounded: it is kept for as long as the binding lives.
            String::from_utf8_lossy(&ua).chars().take(256).collect()
        });
        let mut contacts = Vec::with_capacity(addrs.len());
        for na in addrs {
            if !matches!(na.uri.scheme, Scheme::Sip | Scheme::Sips) {
                return Err(Reply::reject(400, "Contact URI must be a sip or sips URI"));
            }
            let contact = String::from_utf8(na.uri.raw.to_vec())
                .map_err(|_| Reply::reject(400, "Malformed Contact URI"))?;
            let expires = match na.param("expires") {
                Some(p) => p
                    .value
                    .as_deref()
                    .and_then(parse_delta_seconds)
                    .ok_or_else(|| Reply::reject(400, "Malformed Contact expires parameter"))?,
                None => header_expires.unwrap_or(self.config.default_expires),
            };
            let q = match na.param("q") {
                Some(p) => p
                    .value
                    .as_deref()
                    .and_then(parse_qvalue)
                    .ok_or_else(|| Reply::reject(400, "Malformed Contact q parameter"))?,
                None => 1000,
            };
            if expires == 0 {
                contacts.push(ContactUpdate::Remove(contact));
                continue;
            }
            if expires < self.config.min_expires {
                let mut reply = Reply::reject(423, "Interval Too Brief");
                reply
                    .headers
                    .push(("Min-Expires", self.config.min_expires.to_string()));
                return Err(reply);
            }
            let secs = expires.min(self.config.max_expires);
            contacts.push(ContactUpdate::Upsert(Binding {
                aor: r.aor.clone(),
                contact,
                q,
                expires_at_ms: now_ms.saturating_add(i64::from(secs) * 1000),
                registered_at_ms: now_ms,
                source: inbound.source,
                proto: inbound.proto,
                conn: inbound.conn,
                call_id: r.call_id.clone(),
                cseq: r.cseq,
                user_agent: user_agent.clone(),
            }));
        }
        Ok(Some(Update::Register {
            call_id: r.call_id.clone(),
            cseq: r.cseq,
            contacts,
        }))
    }
}

/// The parts of an admitted REGISTER that later steps need.
struct Admitted {
    aor: String,
    call_id: String,
    cseq: u32,
}

/// A response to be built.
struct Reply {
    code: u16,
    headers: Vec<(&'static str, String)>,
    result: RegisterResult,
}

impl Reply {
    /// `reason` goes on the status line, so it must be fixed text, never
    /// bytes from the request.
    fn reject(code: u16, reason: impl Into<String>) -> Reply {
        Reply {
            code,
            headers: Vec::new(),
            result: RegisterResult::Rejected {
                reason: reason.into(),
            },
        }
    }
}

fn unix_secs(now_ms: i64) -> u64 {
    u64::try_from(now_ms.div_euclid(1000)).unwrap_or(0)
}

/// A To tag derived from the request, so a retransmitted REGISTER gets the
/// same response, and two answers that must look alike (unknown user vs.
/// wrong password) differ only in their nonces.
fn to_tag(req: &SipMessage) -> String {
    let mut h = Sha256::new();
    h.update(b"protocall-to-tag\0");
    h.update(req.call_id().unwrap_or_default());
    h.update(b"\0");
    if let Ok(Some(tag)) = req.from_tag() {
        h.update(tag);
    }
    let d = h.finalize();
    hex::encode(d.get(..8).unwrap_or_default())
}

/// `delta-seconds`; values past u32 are clamped as RFC 3261 §10.2.1.1
/// allows any large value to mean "as long as you will".
fn parse_delta_seconds(v: &[u8]) -> Option<u32> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u32 = 0;
    for d in v {
        n = n.saturating_mul(10).saturating_add(u32::from(d - b'0'));
    }
    Some(n)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, as
/// thousandths.
fn parse_qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|b| *b == b'.') {
        Some(i) => (v.get(..i)?, v.get(i + 1..)?),
        None => (v, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, d) in frac.iter().enumerate() {
        let scale = match i {
            0 => 100,
            1 => 10,
            _ => 1,
        };
        thousandths += u16::from(d - b'0') * scale;
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Decodes `%XX` escapes; `None` for a broken escape or non-UTF-8 result.
fn unescape(b: &[u8]) -> Option<String> {
    fn hex_val(c: u8) -> Option<u8> {
        (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let mut out = Vec::with_capacity(b.len());
    let mut it = b.iter().copied();
    while let Some(c) = it.next() {
        if c == b'%' {
            let hi = hex_val(it.next()?)?;
            let lo = hex_val(it.next()?)?;
            out.push(hi << 4 | lo);
        } else {
            out.push(c);
        }
    }
    String::from_utf8(out).ok()
}

/// A stored contact is written back into a header; one restored from a
/// damaged store row must not be able to break out of `<...>`.
fn is_safe_uri(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b > b' ' && b != 0x7f && b != b'<' && b != b'>')
}

fn contact_value(b: &Binding, now_ms: i64) -> String {
    let mut v = format!("<{}>;expires={}", b.contact, b.remaining_secs(now_ms));
    if b.q < 1000 {
        let frac = format!("{:03}", b.q);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            v.push_str(";q=0");
        } else {
            let _ = write!(v, ";q=0.{frac}");
        }
    }
    v
}

/// RFC 1123 date (`Sun, 06 Nov 1994 08:49:37 GMT`), as RFC 3261 §20.17
/// requires.
fn http_date(now_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = now_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let wd = usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0);
    let mon = usize::try_from(m.saturating_sub(1)).unwrap_or(0);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS.get(wd).unwrap_or(&"Thu"),
        d,
        MONTHS.get(mon).unwrap_or(&"Jan"),
        y,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Proleptic Gregorian (year, month 1-12, day 1-31) of a day count from
/// 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn qvalues() {
        for (s, q) in [
            ("0", 0),
            ("1", 1000),
            ("1.", 1000),
            ("1.000", 1000),
            ("0.5", 500),
            ("0.05", 50),
            ("0.123", 123),
            ("0.", 0),
        ] {
            assert_eq!(parse_qvalue(s.as_bytes()), Some(q), "{s}");
        }
        for s in [
            "", "2", "1.1", "0.1234", "-0.5", ".5", "0.5x", "00.5", "1.0001", "0,5",
        ] {
            assert_eq!(parse_qvalue(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_delta_seconds(b"0"), Some(0));
        assert_eq!(parse_delta_seconds(b"3600"), Some(3600));
        assert_eq!(parse_delta_seconds(b"99999999999999999999"), Some(u32::MAX));
        assert_eq!(parse_delta_seconds(b""), None);
        assert_eq!(parse_delta_seconds(b"-1"), None);
        assert_eq!(parse_delta_seconds(b"\"60\""), None);
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
        // Extremes must not panic.
        let _ = http_date(i64::MIN);
        let _ = http_date(i64::MAX);
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape(b"alice").as_deref(), Some("alice"));
        assert_eq!(unescape(b"al%69ce").as_deref(), Some("alice"));
        assert_eq!(unescape(b"a%2"), None);
        assert_eq!(unescape(b"a%zz"), None);
        assert_eq!(unescape(b"%ff"), None);
    }

    #[test]
    fn contact_values() {
        let b = Binding {
            aor: "a".into(),
            contact: "sip:a@h".into(),
            q: 500,
            expires_at_ms: 60_000,
            registered_at_ms: 0,
            source: "192.0.2.1:5060".parse().unwrap(),
            proto: crate::transport::Proto::Udp,
            conn: None,
            call_id: "c".into(),
            cseq: 1,
            user_agent: None,
        };
        assert_eq!(contact_value(&b, 0), "<sip:a@h>;expires=60;q=0.5");
        let b0 = Binding { q: 0, ..b.clone() };
        assert_eq!(contact_value(&b0, 0), "<sip:a@h>;expires=60;q=0");
        let b1 = Binding { q: 1000, ..b };
        assert_eq!(contact_value(&b1, 30_000), "<sip:a@h>;expires=30");
        assert!(!is_safe_uri("sip:a@h>\r\nX: y"));
    }

    #[test]
    fn config_validation() {
        assert_eq!(RegistrarConfig::default().validate(), Ok(()));
        let bad = |f: fn(&mut RegistrarConfig)| {
            let mut c = RegistrarConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(bad(|c| c.realm = "a\"b".into()), ConfigError::Realm);
        assert_eq!(
            bad(|c| c.min_expires = 7200),
            ConfigError::ExpiresRange {
                min: 7200,
                max: 3600
            }
        );
        assert_eq!(
            bad(|c| c.default_expires = 10),
            ConfigError::DefaultExpires(10)
        );
        assert_eq!(
            bad(|c| c.max_bindings_per_aor = 0),
            ConfigError::MaxBindings
        );
    }
}
