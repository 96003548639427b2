//! The `[intake]` section: the desk's IMAP mailbox that `crate::intake`
//! reads (server, TLS mode, credentials, folder names, the team address
//! replies must copy, the polling interval), with its defaults and checks.
//!
//! The password is given inline or, better, as the name of an environment
//! variable (`password_env`); either way it is a [`Secret`], which no log
//! line or Debug print shows.

use std::net::IpAddr;

use serde::Deserialize;

/// A credential: its Debug prints a placeholder, never the value.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The value, for the one place that sends it (IMAP LOGIN).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"<redacted>\""
        })
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ImapTls {
    /// TLS from the first byte (IMAPS, port 993).
    #[default]
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 143).
    Starttls,
    /// No TLS: only to a server on a loopback address.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeSettings {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub tls: ImapTls,
    /// A PEM file of CA certificates to trust instead of the system's
    /// (a private CA, a self-signed server). Empty: the system's.
    pub ca_file: String,
    pub username: String,
    pub password: Secret,
    /// The name of an environment variable holding the password.
    pub password_env: String,
    pub inbox: String,
    pub sent: String,
    /// The consulting team's address that every reply must have in To or
    /// Cc (empty: not checked).
    pub team_address: String,
    /// Seconds between reads when the server has no IDLE, and the longest
    /// an IDLE waits before the Sent folder is read again.
    pub poll_seconds: u64,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            host: String::new(),
            port: 993,
            tls: ImapTls::Implicit,
            ca_file: String::new(),
            username: String::new(),
            password: Secret::default(),
            password_env: String::new(),
            inbox: "INBOX".into(),
            sent: "Sent".into(),
            team_address: String::new(),
            poll_seconds: 60,
        }
    }
}

/// Whether `host` is a loopback address or `localhost`.
fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl IntakeSettings {
    /// The password, from the config or from the named variable.
    pub fn password(&self) -> Result<Secret, (&'static str, String)> {
        if !self.password_env.is_empty() {
            return match std::env::var(&self.password_env) {
                Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
                _ => Err((
                    "intake.password_env",
                    format!(
                        "the environment variable {} is not set or empty",
                        self.password_env
                    ),
                )),
            };
        }
        Ok(self.password.clone())
    }

    /// The first key at fault and why, for `Settings::validate`. Off, only
    /// what would be wrong whatever the server is checked.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(5..=3600).contains(&self.poll_seconds) {
            return Err((
                "intake.poll_seconds",
                format!("expected 5 to 3600 seconds, got {}", self.poll_seconds),
            ));
        }
        if !self.password.is_empty() && !self.password_env.is_empty() {
            return Err((
                "intake.password",
                "give password or password_env, not both".into(),
            ));
        }
        if !self.team_address.is_empty() && !self.team_address.contains('@') {
            return Err((
                "intake.team_address",
                format!("`{}` is not an e-mail address", self.team_address),
            ));
        }
        if !self.enabled {
            return Ok(());
        }
        if self.host.trim().is_empty() {
            return Err(("intake.host", "the IMAP server's name is required".into()));
        }
        if self.port == 0 {
            return Err(("intake.port", "expected a port from 1 to 65535".into()));
        }
        if self.tls == ImapTls::None && !is_loopback(&self.host) {
            return Err((
                "intake.tls",
                format!(
                    "\"none\" sends the password in clear text; it is allowed only to a \
                     loopback address, not to {}; use \"implicit\" or \"starttls\"",
                    self.host
                ),
            ));
        }
        if self.username.is_empty() {
            return Err(("intake.username", "the mailbox's login is required".into()));
        }
        if self.password.is_empty() && self.password_env.is_empty() {
            return Err((
                "intake.password",
                "give password or password_env (the name of an environment variable)".into(),
            ));
        }
        self.password()?;
        if self.inbox.trim().is_empty() || self.sent.trim().is_empty() {
            return Err(("intake.inbox", "folder names cannot be empty".into()));
        }
        if self.inbox == self.sent {
            return Err(("intake.sent", "the sent folder cannot be the inbox".into()));
        }
        if !self.ca_file.is_empty() && !std::path::Path::new(&self.ca_file).is_file() {
            return Err((
                "intake.ca_file",
                format!("{} is not a readable file", self.ca_file),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> IntakeSettings {
        IntakeSettings {
            enabled: true,
            host: "imap.example.com".into(),
            username: "desk".into(),
            password: Secret::new("hunter2"),
            ..Default::default()
        }
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        let s = on();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn clear_text_only_to_loopback() {
        let mut s = on();
        s.tls = ImapTls::None;
        assert_eq!(s.check().unwrap_err().0, "intake.tls");
        for h in ["127.0.0.1", "::1", "[::1]", "localhost"] {
            s.host = h.into();
            assert_eq!(s.check(), Ok(()), "{h}");
        }
    }

    #[test]
    fn exactly_one_password_source() {
        let mut s = on();
        s.password_env = "X".into();
        assert_eq!(s.check().unwrap_err().0, "intake.password");
        s.password = Secret::default();
        s.password_env = "PROTOCALL_TEST_SURELY_UNSET_VARIABLE".into();
        assert_eq!(s.check().unwrap_err().0, "intake.password_env");
        s.password_env.clear();
        assert_eq!(s.check().unwrap_err().0, "intake.password");
    }
}
