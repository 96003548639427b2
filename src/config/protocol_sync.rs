//! The `[protocol_sync]` section: how protocols reach protocall from the
//! desk's system of record — the webhook's shared secret, and the periodic
//! pull's endpoint, credentials, field mapping and pace — with defaults,
//! range checks and the secrets' indirection through environment
//! variables. Secrets never reach a log line: `Debug` shows only whether
//! one is set.

use serde::Deserialize;

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolSyncSettings {
    /// The webhook's shared secret. Empty, and `webhook_secret_env` empty
    /// or unset: `POST /api/protocols/events` answers 503.
    pub webhook_secret: String,
    /// The name of an environment variable holding the secret instead
    /// (wins over `webhook_secret` when set and non-empty).
    pub webhook_secret_env: String,
    pub pull: PullSettings,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PullSettings {
    /// The first page's URL (http://). Empty: no pull.
    pub url: String,
    /// The `Authorization` header's whole value, e.g. "Bearer abc".
    pub auth_header: String,
    /// The name of an environment variable holding that value instead.
    pub auth_header_env: String,
    /// Seconds between pulls.
    pub interval_secs: u64,
    /// A failed pull is retried after retry_min_secs, doubling up to
    /// interval_secs.
    pub retry_min_secs: u64,
    /// One request's time limit.
    pub timeout_secs: u64,
    /// Pages followed in one pull, at most (a `next` loop stops there).
    pub max_pages: u32,
    pub fields: PullFields,
}

/// Where each of the event's fields is in a record of the system of
/// record, as a key or a dotted path (`owner.email`). An empty mapping
/// leaves the field out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PullFields {
    /// The page's array of records.
    pub items: String,
    /// The page's URL of the next page (absent, null or empty: last page).
    pub next: String,
    pub number: String,
    pub updated_at: String,
    pub opened_at: String,
    pub provider_tax_id: String,
    pub owner: String,
    pub category: String,
    pub subject: String,
    pub due_at: String,
    pub status: String,
    /// Values of `status` that mean closed; any other means open.
    pub closed_values: Vec<String>,
}

impl Default for PullSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            auth_header: String::new(),
            auth_header_env: String::new(),
            interval_secs: 300,
            retry_min_secs: 5,
            timeout_secs: 30,
            max_pages: 1000,
            fields: PullFields::default(),
        }
    }
}

impl Default for PullFields {
    fn default() -> Self {
        Self {
            items: "items".into(),
            next: "next".into(),
            number: "number".into(),
            updated_at: "updated_at".into(),
            opened_at: "opened_at".into(),
            provider_tax_id: "provider_tax_id".into(),
            owner: "owner".into(),
            category: "category".into(),
            subject: "subject".into(),
            due_at: "due_at".into(),
            status: "status".into(),
            closed_values: vec!["closed".into()],
        }
    }
}

/// A secret's value: from the named environment variable when that is set
/// and non-empty, else the literal.
fn secret(literal: &str, env_name: &str) -> Option<String> {
    if !env_name.is_empty() {
        if let Ok(v) = std::env::var(env_name) {
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    Some(literal.to_string()).filter(|s| !s.is_empty())
}

impl ProtocolSyncSettings {
    pub fn webhook_secret(&self) -> Option<String> {
        secret(&self.webhook_secret, &self.webhook_secret_env)
    }

    /// The first key out of range and why, for `Settings::validate`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let p = &self.pull;
        if !p.url.is_empty() && !p.url.starts_with("http://") && !p.url.starts_with("https://") {
            return Err(("protocol_sync.pull.url", "expected an http:// URL".into()));
        }
        if p.url.starts_with("https://") {
            return Err((
                "protocol_sync.pull.url",
                "https is not supported by the pull's client; reach the system of record \
                 through a local TLS proxy (http://127.0.0.1:…)"
                    .into(),
            ));
        }
        if !(10..=86_400).contains(&p.interval_secs) {
            return Err((
                "protocol_sync.pull.interval_secs",
                format!("expected 10 to 86400, got {}", p.interval_secs),
            ));
        }
        if !(1..=p.interval_secs).contains(&p.retry_min_secs) {
            return Err((
                "protocol_sync.pull.retry_min_secs",
                format!("expected 1 to interval_secs, got {}", p.retry_min_secs),
            ));
        }
        if !(1..=600).contains(&p.timeout_secs) {
            return Err((
                "protocol_sync.pull.timeout_secs",
                format!("expected 1 to 600, got {}", p.timeout_secs),
            ));
        }
        if !(1..=100_000).contains(&p.max_pages) {
            return Err((
                "protocol_sync.pull.max_pages",
                format!("expected 1 to 100000, got {}", p.max_pages),
            ));
        }
        for (key, v) in [
            ("protocol_sync.pull.fields.items", &p.fields.items),
            ("protocol_sync.pull.fields.number", &p.fields.number),
            ("protocol_sync.pull.fields.updated_at", &p.fields.updated_at),
        ] {
            if v.trim().is_empty() {
                return Err((key, "must name the record's field".into()));
            }
        }
        Ok(())
    }
}

impl PullSettings {
    pub fn enabled(&self) -> bool {
        !self.url.is_empty()
    }

    pub fn auth_header(&self) -> Option<String> {
        secret(&self.auth_header, &self.auth_header_env)
    }
}

// The secrets show only as set or not.
impl std::fmt::Debug for ProtocolSyncSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolSyncSettings")
            .field("webhook_secret", &redacted(&self.webhook_secret))
            .field("webhook_secret_env", &self.webhook_secret_env)
            .field("pull", &self.pull)
            .finish()
    }
}

impl std::fmt::Debug for PullSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSettings")
            .field("url", &self.url)
            .field("auth_header", &redacted(&self.auth_header))
            .field("auth_header_env", &self.auth_header_env)
            .field("interval_secs", &self.interval_secs)
            .field("retry_min_secs", &self.retry_min_secs)
            .field("timeout_secs", &self.timeout_secs)
            .field("max_pages", &self.max_pages)
            .field("fields", &self.fields)
            .finish()
    }
}

fn redacted(s: &str) -> &'static str {
    if s.is_empty() {
        "<unset>"
    } else {
        "<redacted>"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let mut s = ProtocolSyncSettings {
            webhook_secret: "hunter2".into(),
            ..Default::default()
        };
        s.pull.auth_header = "Bearer sekrit".into();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("sekrit"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn checks_name_the_key() {
        let mut s = ProtocolSyncSettings::default();
        assert!(s.check().is_ok());
        s.pull.url = "ftp://x".into();
        assert_eq!(s.check().unwrap_err().0, "protocol_sync.pull.url");
        s.pull.url = "http://127.0.0.1:9/tickets".into();
        s.pull.interval_secs = 1;
        assert_eq!(s.check().unwrap_err().0, "protocol_sync.pull.interval_secs");
    }
}
