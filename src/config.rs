//! Settings: the TOML file, environment overrides and their validation.
//!
//! Layering, lowest first: the file (`config/protocall.toml` or `--config`),
//! `PROTOCALL__SECTION__KEY` variables, then `DATABASE_URL` for the store.
//! Every error names the key at fault and, when it comes from the file, the
//! line, because an operator fixing a config at 3 a.m. should not have to guess.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

mod chat;
mod cluster;
mod intake;
mod protocol_sync;
mod sip_edge;
pub use chat::ChatSettings;
pub use cluster::{ClusterSettings, SINGLE_INSTANCE};
pub use intake::{ImapTls, IntakeSettings, Secret};
pub use protocol_sync::{ProtocolSyncSettings, PullFields, PullSettings};
// `[sip.dns]` and `[security]` are read only by the SIP side, which keeps
// them (protocall-sip); they are part of the file all the same.
pub use protocall_sip::settings::{SecuritySettings, SipDnsSettings};
pub use sip_edge::{advertised_host, Advertised, SipTlsSettings};

/// Where `protocall` looks for its config when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/protocall.toml";
/// Prefix of environment overrides; sections and keys are joined with `__`
/// because keys themselves contain single underscores.
pub const ENV_PREFIX: &str = "PROTOCALL__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: key `{key}`{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid {
        origin: String,
        key: String,
        line: Option<usize>,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub sip: SipSettings,
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub locale: LocaleSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub routing: RoutingSettings,
    #[serde(default)]
    pub tracking: TrackingSettings,
    #[serde(default)]
    pub reports: ReportsSettings,
    #[serde(default)]
    pub security: SecuritySettings,
    #[serde(default)]
    pub chat: ChatSettings,
    #[serde(default)]
    pub protocol_sync: ProtocolSyncSettings,
    #[serde(default)]
    pub intake: IntakeSettings,
    #[serde(default)]
    pub cluster: ClusterSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsSettings {
    /// Service level: an offered call answered by a consultant within
    /// this many seconds counts as answered in time.
    pub service_level_seconds: u32,
    /// The share of offered calls the desk aims to answer in time.
    pub service_level_target: f64,
    /// SLA: a protocol opened without a deadline must be concluded within
    /// this many business hours (the desk's calendar).
    pub default_deadline_hours: u32,
    /// Weeks the evolution item (9) looks back.
    pub evolution_weeks: u32,
    /// Mailing the pack every week.
    pub mail: MailSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    pub enabled: bool,
    /// An SMTP relay that takes mail without TLS (the host's MTA).
    pub smtp_host: String,
    pub smtp_port: u16,
    pub from: String,
    pub to: Vec<String>,
    /// When, in the desk's zone: weekday (mon…sun) and HH:MM.
    pub weekday: String,
    pub time: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            smtp_host: "127.0.0.1".into(),
            smtp_port: 25,
            from: "protocall@localhost".into(),
            to: Vec::new(),
            weekday: "mon".into(),
            time: "08:00".into(),
        }
    }
}

impl Default for ReportsSettings {
    fn default() -> Self {
        Self {
            service_level_seconds: 20,
            service_level_target: 0.8,
            default_deadline_hours: 16,
            evolution_weeks: 8,
            mail: MailSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingSettings {
    /// Where the contact journal lives (local disk; created if missing).
    pub journal_dir: std::path::PathBuf,
    /// Most journal writes kept in memory for the drainer; a backlog past
    /// it is read back from the journal's files.
    pub journal_window: usize,
    /// The journal starts a new segment file once the current one is this
    /// big (MiB); segments already in the database are deleted.
    pub journal_segment_mib: u64,
    /// Task categories added to the process's built-in ones.
    pub categories: Vec<String>,
    /// Default working hours per weekday ("HH:MM-HH:MM" ranges), for
    /// consultants without their own.
    pub hours: WeekHours,
    /// Scheduled task blocks are multiples of this many minutes.
    pub schedule_granularity_minutes: u32,
    /// Protocol categories whose close asks for a "communicate
    /// completion" task (the process's rule 4 names support attendances).
    pub communicate_completion_categories: Vec<String>,
}

impl TrackingSettings {
    /// The journal's window and segment size, as configured.
    pub fn journal_options(&self) -> crate::tracking::journal::JournalOptions {
        crate::tracking::journal::JournalOptions {
            window: self.journal_window,
            segment_bytes: self.journal_segment_mib << 20,
        }
    }
}

impl Default for TrackingSettings {
    fn default() -> Self {
        Self {
            journal_dir: "data/journal".into(),
            journal_window: crate::tracking::journal::DEFAULT_WINDOW,
            journal_segment_mib: crate::tracking::journal::DEFAULT_SEGMENT_BYTES >> 20,
            categories: Vec::new(),
            hours: WeekHours::default(),
            schedule_granularity_minutes: 15,
            communicate_completion_categories: vec![
                crate::directory::DEFAULT_PROTOCOL_CATEGORY.to_string()
            ],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeekHours {
    pub mon: Vec<String>,
    pub tue: Vec<String>,
    pub wed: Vec<String>,
    pub thu: Vec<String>,
    pub fri: Vec<String>,
    pub sat: Vec<String>,
    pub sun: Vec<String>,
}

impl Default for WeekHours {
    fn default() -> Self {
        let day = || vec!["08:00-12:00".to_string(), "13:00-17:00".to_string()];
        Self {
            mon: day(),
            tue: day(),
            wed: day(),
            thu: day(),
            fri: day(),
            sat: Vec::new(),
            sun: Vec::new(),
        }
    }
}

impl WeekHours {
    /// Monday first.
    pub fn days(&self) -> [&Vec<String>; 7] {
        [
            &self.mon, &self.tue, &self.wed, &self.thu, &self.fri, &self.sat, &self.sun,
        ]
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingSettings {
    /// Folder of dialplan files (`*.toml`), read in file-name order.
    pub dialplans: std::path::PathBuf,
    /// SIP URI of the URA (the company's IVR); unset, URA steps are skipped.
    pub ura_uri: Option<String>,
    /// Carrier trunks and PBXs (IP addresses or CIDR networks) whose
    /// P-Asserted-Identity is believed.
    pub trusted_peers: Vec<String>,
    /// Carrier trunk for consultants' calls to external numbers
    /// (`sip:<E.164 number>@<this URI's host part>`); unset, they get 503.
    pub trunk_uri: Option<String>,
    /// Skip consultants already in a call instead of ringing them.
    pub skip_busy: bool,
    /// A missed owner's call-back is due this many minutes after the call.
    pub callback_minutes: u32,
    /// An answered call with no BYE is closed after this many hours.
    pub max_call_hours: u32,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            dialplans: "dialplans".into(),
            ura_uri: None,
            trusted_peers: Vec::new(),
            trunk_uri: None,
            skip_busy: true,
            callback_minutes: 10,
            max_call_hours: 8,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipSettings {
    pub listen: SocketAddr,
    pub realm: String,
    /// Host we write in Via and Record-Route; defaults to the listen IP,
    /// or, listening on all addresses, the default route's interface.
    pub advertised_host: Option<String>,
    /// Domains served here: a Request-URI with one of these hosts is ours.
    pub domains: Vec<String>,
    /// Addresses (ip:port) of a proxy in front of this instance that hands
    /// it requests addressed to itself, e.g. Kamailio's dispatcher spreading
    /// the desk over instances (config/kamailio/): a Request-URI or Route
    /// naming one of them is ours.
    pub front_addresses: Vec<SocketAddr>,
    pub udp_workers: usize,
    pub max_message_bytes: usize,
    pub max_tcp_connections: usize,
    /// Of `max_tcp_connections`, slots kept for connections we open to
    /// phones, so that inbound connections cannot take them all.
    pub tcp_outbound_reserve: usize,
    /// Inbound TCP connections one IPv4 address (or IPv6 /64) may hold.
    pub max_tcp_connections_per_source: usize,
    pub tcp_idle_timeout_secs: u64,
    /// Time a TCP message may take to arrive once its first byte has.
    pub tcp_message_timeout_secs: u64,
    pub t1_ms: u64,
    pub t2_ms: u64,
    pub t4_ms: u64,
    pub timer_c_secs: u64,
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    pub max_bindings_per_aor: usize,
    /// Digest algorithms offered, most preferred first ("SHA-256", "MD5").
    pub digest_algorithms: Vec<String>,
    /// User-Agent substrings of clients offered MD5 alone (see docs/sip.md).
    pub digest_md5_only_agents: Vec<String>,
    /// Deprecated: moves MD5 to the front of `digest_algorithms`.
    pub digest_md5_first: bool,
    /// A static routing table (CSV `number,target`) for initial INVITEs:
    /// the caller's number (From user) picks the target URI, unknown
    /// callers go to `static_default_target`. Unset: registered users only.
    pub static_routes: Option<std::path::PathBuf>,
    pub static_default_target: Option<String>,
    /// `[sip.tls]`: the TLS listener; absent, none runs.
    pub tls: Option<SipTlsSettings>,
    /// `[sip.dns]`: how target names are resolved (RFC 3263).
    pub dns: SipDnsSettings,
}

impl Default for SipSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            realm: "protocall".into(),
            advertised_host: None,
            domains: Vec::new(),
            front_addresses: Vec::new(),
            udp_workers: 2,
            max_message_bytes: 65535,
            max_tcp_connections: 1024,
            tcp_outbound_reserve: 128,
            max_tcp_connections_per_source: 32,
            tcp_idle_timeout_secs: 120,
            tcp_message_timeout_secs: 10,
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            timer_c_secs: 181,
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_bindings_per_aor: 10,
            digest_algorithms: vec!["SHA-256".into(), "MD5".into()],
            digest_md5_only_agents: crate::sip::registrar::default_md5_only_agents(),
            digest_md5_first: false,
            static_routes: None,
            static_default_target: None,
            tls: None,
            dns: SipDnsSettings::default(),
        }
    }
}

impl SipSettings {
    /// `digest_algorithms` parsed, in the order offered.
    pub fn digest_algorithm_list(&self) -> Result<Vec<crate::sip::digest::Algorithm>, String> {
        let mut algs = Vec::new();
        for name in &self.digest_algorithms {
            let a: crate::sip::digest::Algorithm = name
                .parse()
                .map_err(|_| format!("`{name}` is not SHA-256 or MD5"))?;
            if algs.contains(&a) {
                return Err(format!("`{name}` is listed twice"));
            }
            algs.push(a);
        }
        if algs.is_empty() {
            return Err("name at least one algorithm".into());
        }
        if self.digest_md5_first {
            algs.sort_by_key(|a| *a != crate::sip::digest::Algorithm::Md5);
        }
        Ok(algs)
    }

    /// The host we advertise in Via and Record-Route, and where it came
    /// from (see `config::sip_edge`).
    pub fn advertised(&self) -> Advertised {
        advertised_host(self.advertised_host.as_deref(), self.listen)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub metrics_require_token: bool,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    /// The console's session cookie is `Secure` (sent over HTTPS only).
    /// Off only for plain-HTTP loopback use, e.g. tests.
    pub console_secure_cookie: bool,
    /// How long a console sign-in lasts.
    pub console_session_hours: u64,
    /// Reverse proxies in front of the admin listener (addresses or CIDR
    /// networks) whose `X-Forwarded-For` is believed, so that sign-in
    /// throttling counts the browser's address, not the proxy's.
    pub trusted_proxies: Vec<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_require_token: false,
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout_secs: 30,
            console_secure_cookie: true,
            // A working day and some: people sign in once in the morning.
            console_session_hours: 12,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    pub url: String,
    pub max_connections: u32,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/protocall.db".into(),
            max_connections: 8,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocaleSettings {
    pub timezone: String,
    pub default_country: String,
    /// The language people read (console, reports, mail, API messages):
    /// `pt-BR` (the default) or `en`.
    pub language: String,
}

impl Default for LocaleSettings {
    fn default() -> Self {
        Self {
            timezone: "America/Sao_Paulo".into(),
            default_country: "BR".into(),
            language: "pt-BR".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl LocaleSettings {
    /// The configured zone; valid after [`Settings::validate`].
    pub fn tz(&self) -> chrono_tz::Tz {
        chrono_tz::Tz::from_str(&self.timezone).unwrap_or(chrono_tz::UTC)
    }

    /// The configured country; valid after [`Settings::validate`].
    pub fn country(&self) -> phonenumber::country::Id {
        phonenumber::country::Id::from_str(&self.default_country)
            .unwrap_or(phonenumber::country::Id::BR)
    }

    /// The configured language; valid after [`Settings::validate`].
    pub fn lang(&self) -> crate::i18n::Lang {
        crate::i18n::Lang::parse(&self.language).unwrap_or_default()
    }
}

impl Settings {
    /// Loads the file at `path` (or the shipped default) and applies the
    /// process environment on top.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let path = path.unwrap_or_else(|| Path::new(DEFAULT_CONFIG_PATH));
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::from_parts(&path.display().to_string(), &text, &env)
    }

    /// The pure core of [`Settings::load`], so tests need not touch the
    /// process environment.
    pub fn from_parts(
        origin: &str,
        text: &str,
        env: &[(String, String)],
    ) -> Result<Settings, ConfigError> {
        // First pass on the file alone: type errors keep the parser's line.
        let file_only: Settings = deserialize_text(origin, text)?;
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| syntax(origin, &e.to_string()))?;
        let mut from_env = false;
        for (name, value) in env {
            if let Some(path) = name.strip_prefix(ENV_PREFIX) {
                apply_env(&mut table, path, value).map_err(|message| ConfigError::Invalid {
                    origin: format!("environment variable {name}"),
                    key: path.to_lowercase().replace("__", "."),
                    line: None,
                    message,
                })?;
                from_env = true;
            }
        }
        let mut settings = if from_env {
            let mut track = serde_path_to_error::Track::new();
            let de = serde_path_to_error::Deserializer::new(toml::Value::Table(table), &mut track);
            Settings::deserialize(de).map_err(|e| ConfigError::Invalid {
                origin: "environment override".into(),
                key: track.path().to_string(),
                line: None,
                message: e.to_string(),
            })?
        } else {
            file_only
        };
        if let Some((_, url)) = env.iter().find(|(k, _)| k == "DATABASE_URL") {
            if !url.is_empty() {
                settings.store.url = url.clone();
            }
        }
        settings.validate(origin, text)?;
        Ok(settings)
    }

    /// Checks what serde cannot: values that parse as strings but must name
    /// a real zone, country or database.
    fn validate(&self, origin: &str, text: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            line: locate_key(text, key),
            message,
        };
        if chrono_tz::Tz::from_str(&self.locale.timezone).is_err() {
            return Err(invalid(
                "locale.timezone",
                format!(
                    "`{}` is not an IANA time zone; expected e.g. \"America/Sao_Paulo\"",
                    self.locale.timezone
                ),
            ));
        }
        if phonenumber::country::Id::from_str(&self.locale.default_country).is_err() {
            return Err(invalid(
                "locale.default_country",
                format!(
                    "`{}` is not an ISO 3166 country code; expected e.g. \"BR\"",
                    self.locale.default_country
                ),
            ));
        }
        if crate::i18n::Lang::parse(&self.locale.language).is_none() {
            return Err(invalid(
                "locale.language",
                format!(
                    "`{}` is not a language protocall speaks; expected \"pt-BR\" or \"en\"",
                    self.locale.language
                ),
            ));
        }
        let url = self.store.url.as_str();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "store.url",
                "expected a URL starting with sqlite:, postgres:// or postgresql://".into(),
            ));
        }
        if self.store.max_connections == 0 {
            return Err(invalid(
                "store.max_connections",
                "expected a number of connections of at least 1".into(),
            ));
        }
        if self.sip.realm.trim().is_empty() || self.sip.realm.contains('"') {
            return Err(invalid(
                "sip.realm",
                "expected a non-empty realm without double quotes".into(),
            ));
        }
        let sip = &self.sip;
        if sip.udp_workers == 0 || sip.udp_workers > 64 {
            return Err(invalid(
                "sip.udp_workers",
                "expected 1 to 64 workers".into(),
            ));
        }
        if !(1500..=65535).contains(&sip.max_message_bytes) {
            return Err(invalid(
                "sip.max_message_bytes",
                "expected 1500 to 65535 bytes".into(),
            ));
        }
        if sip.t1_ms == 0 || sip.t2_ms < sip.t1_ms || sip.t4_ms == 0 {
            return Err(invalid(
                "sip.t2_ms",
                "expected t1_ms > 0, t2_ms >= t1_ms and t4_ms > 0".into(),
            ));
        }
        if sip.timer_c_secs < 1 {
            return Err(invalid(
                "sip.timer_c_secs",
                "expected at least 1 second".into(),
            ));
        }
        if sip.min_expires == 0
            || sip.min_expires > sip.default_expires
            || sip.default_expires > sip.max_expires
        {
            return Err(invalid(
                "sip.default_expires",
                "expected 0 < min_expires <= default_expires <= max_expires".into(),
            ));
        }
        if let Err(e) = sip.digest_algorithm_list() {
            return Err(invalid("sip.digest_algorithms", e));
        }
        if sip.max_bindings_per_aor == 0 || sip.max_tcp_connections == 0 {
            return Err(invalid(
                "sip.max_bindings_per_aor",
                "expected max_bindings_per_aor and max_tcp_connections of at least 1".into(),
            ));
        }
        if sip.tcp_outbound_reserve >= sip.max_tcp_connections {
            return Err(invalid(
                "sip.tcp_outbound_reserve",
                "expected fewer than max_tcp_connections".into(),
            ));
        }
        if sip.max_tcp_connections_per_source == 0 {
            return Err(invalid(
                "sip.max_tcp_connections_per_source",
                "expected at least 1 connection".into(),
            ));
        }
        if sip.tcp_idle_timeout_secs == 0 || sip.tcp_message_timeout_secs == 0 {
            return Err(invalid(
                "sip.tcp_message_timeout_secs",
                "expected tcp_idle_timeout_secs and tcp_message_timeout_secs of at least 1".into(),
            ));
        }
        if let Err(e) = crate::net::TrustedPeers::parse(&self.http.trusted_proxies) {
            return Err(invalid("http.trusted_proxies", e.to_string()));
        }
        if let Err(e) = crate::net::TrustedPeers::parse(&self.routing.trusted_peers) {
            return Err(invalid("routing.trusted_peers", e.to_string()));
        }
        if let Err(e) = crate::net::TrustedPeers::parse(&self.security.allowed_destinations) {
            return Err(invalid("security.allowed_destinations", e.to_string()));
        }
        if let Some(u) = &self.routing.ura_uri {
            // A host name is fine here: it is resolved (RFC 3263) at start
            // and kept fresh; `protocall check` says when it does not.
            let ok = crate::sip::message::Uri::parse(bytes::Bytes::from(u.clone()))
                .ok()
                .is_some_and(|u| {
                    crate::sip::resolve::classify(&u) != crate::sip::resolve::Host::Invalid
                });
            if !ok {
                return Err(invalid(
                    "routing.ura_uri",
                    format!("`{u}` is not a SIP URI with an IP address or host name"),
                ));
            }
        }
        if let Some(p) = sip.dns.problem() {
            return Err(invalid("sip.dns", p));
        }
        if let Some(u) = &self.routing.trunk_uri {
            if let Err(e) = crate::routing::desk::Trunk::parse(u) {
                return Err(invalid("routing.trunk_uri", e));
            }
        }
        let r = &self.reports;
        if r.service_level_seconds == 0
            || !(r.service_level_target > 0.0 && r.service_level_target <= 1.0)
        {
            return Err(invalid(
                "reports.service_level_target",
                "expected service_level_seconds of at least 1 and a target in (0, 1]".into(),
            ));
        }
        if r.default_deadline_hours == 0 || !(1..=52).contains(&r.evolution_weeks) {
            return Err(invalid(
                "reports.evolution_weeks",
                "expected default_deadline_hours of at least 1 and 1 to 52 evolution weeks".into(),
            ));
        }
        let m = &r.mail;
        if m.weekday.parse::<chrono::Weekday>().is_err()
            || chrono::NaiveTime::parse_from_str(&m.time, "%H:%M").is_err()
        {
            return Err(invalid(
                "reports.mail.weekday",
                "expected weekday = mon…sun and time = HH:MM".into(),
            ));
        }
        if m.enabled && m.to.is_empty() {
            return Err(invalid(
                "reports.mail.to",
                "mailing is enabled but nobody is on the list".into(),
            ));
        }
        if !(1_000..=10_000_000).contains(&self.tracking.journal_window) {
            return Err(invalid(
                "tracking.journal_window",
                "expected between 1000 and 10000000 writes (e.g. 50000)".into(),
            ));
        }
        if !(1..=4096).contains(&self.tracking.journal_segment_mib) {
            return Err(invalid(
                "tracking.journal_segment_mib",
                "expected between 1 and 4096 MiB (e.g. 64)".into(),
            ));
        }
        let g = self.tracking.schedule_granularity_minutes;
        if g == 0 || g > 240 || 1440 % g != 0 {
            return Err(invalid(
                "tracking.schedule_granularity_minutes",
                "expected a divisor of a day between 1 and 240 (e.g. 15)".into(),
            ));
        }
        for (name, ranges) in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .zip(self.tracking.hours.days())
        {
            // The planner's own parser: what passes here, it can use.
            if let Err(e) = crate::calendar::WorkingHours::parse_day(ranges) {
                return Err(invalid(&format!("tracking.hours.{name}"), e.to_string()));
            }
        }
        for c in &self.tracking.categories {
            if !valid_category(c) {
                return Err(invalid(
                    "tracking.categories",
                    format!("`{c}` is not a category name (lowercase letters, digits and -)"),
                ));
            }
        }
        for c in &self.tracking.communicate_completion_categories {
            // As a protocol's category is written (see the API's limit).
            if c.trim().is_empty() || c.chars().count() > 100 {
                return Err(invalid(
                    "tracking.communicate_completion_categories",
                    format!("`{c}` is not a protocol category (1 to 100 characters, not blank)"),
                ));
            }
        }
        if self.routing.callback_minutes == 0 || self.routing.max_call_hours == 0 {
            return Err(invalid(
                "routing.callback_minutes",
                "expected callback_minutes and max_call_hours of at least 1".into(),
            ));
        }
        if self.http.max_body_bytes < 1024 {
            return Err(invalid(
                "http.max_body_bytes",
                "expected at least 1024 bytes".into(),
            ));
        }
        if self.http.request_timeout_secs == 0 {
            return Err(invalid(
                "http.request_timeout_secs",
                "expected a timeout of at least 1 second".into(),
            ));
        }
        if !(1..=24 * 31).contains(&self.http.console_session_hours) {
            return Err(invalid(
                "http.console_session_hours",
                "expected 1 to 744 hours".into(),
            ));
        }
        if let Err((key, message)) = self.security.check() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.chat.check() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.protocol_sync.check() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.intake.check() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.cluster.check(&self.store.url) {
            return Err(invalid(key, message));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid(
                "log.level",
                format!(
                    "`{}` is not a tracing filter; expected e.g. \"info\" or \"protocall=debug\"",
                    self.log.level
                ),
            ));
        }
        Ok(())
    }
}

fn syntax(origin: &str, message: &str) -> ConfigError {
    ConfigError::Syntax {
        origin: origin.to_string(),
        message: message.trim_end().to_string(),
    }
}

fn deserialize_text(origin: &str, text: &str) -> Result<Settings, ConfigError> {
    let de = toml::Deserializer::new(text);
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(de, &mut track);
    match Settings::deserialize(tracked) {
        Ok(s) => Ok(s),
        Err(e) => {
            let key = track.path().to_string();
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim_end().to_string();
            if key.is_empty() || key == "." {
                Err(syntax(origin, &e.to_string()))
            } else {
                Err(ConfigError::Invalid {
                    origin: origin.to_string(),
                    key,
                    line,
                    message,
                })
            }
        }
    }
}

/// Sets `section.key` (or `section.sub.key`) from an environment value.
/// The value is read as a TOML value when it is one (numbers, booleans,
/// arrays) and as a string otherwise, so
/// `PROTOCALL__HTTP__LISTEN=127.0.0.1:9000` needs no quoting.
fn apply_env(table: &mut toml::Table, path: &str, value: &str) -> Result<(), String> {
    let parts: Vec<String> = path.split("__").map(|p| p.to_lowercase()).collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        return Err(
            "expected PROTOCALL__<SECTION>__<KEY> or PROTOCALL__<SECTION>__<SUB>__<KEY>".into(),
        );
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let (key, sections) = match parts.split_last() {
        Some(x) => x,
        None => return Err("empty key".into()),
    };
    let mut current = table;
    for name in sections {
        let entry = current
            .entry(name.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("`{name}` is not a section")),
        };
    }
    current.insert(key.clone(), parsed);
    Ok(())
}

/// Finds the line of `section.key` in the file, for errors found after
/// deserialisation (where the parser's spans are gone).
fn locate_key(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = dotted.split_once('.')?;
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = name.trim().to_string();
        } else if current == section {
            if let Some((k, _)) = t.split_once('=') {
                if k.trim() == key {
                    return Some(i + 1);
                }
            }
        }
    }
    None
}

/// Task category names are short slugs, easy to type in the CLI.
pub fn valid_category(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 40
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests;
