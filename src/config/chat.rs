//! The `[chat]` section: the chat bridge's webhook secret and the
//! 10-minute rule (`crate::chat`), with their defaults and checks.
//!
//! The secret is given inline or, better, named as an environment
//! variable so the file can be shared; either way it never reaches a log
//! (the Debug below redacts it).

use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatSettings {
    /// The secret the bridge signs `POST /api/chat/events` with. Empty and
    /// no `webhook_secret_env`: the endpoint answers 503.
    pub webhook_secret: String,
    /// The name of an environment variable holding the secret (read at
    /// start; wins over `webhook_secret`).
    pub webhook_secret_env: String,
    /// How far a signed request's timestamp may be from our clock.
    pub signature_tolerance_secs: i64,
    /// A chat with no consultant reply after this many minutes raises an
    /// alert and gets a conference scheduled with the owner.
    pub wait_minutes: u32,
    /// How long the conference scheduled for a waiting chat is planned.
    pub conference_minutes: u32,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            webhook_secret: String::new(),
            webhook_secret_env: String::new(),
            signature_tolerance_secs: crate::http::signed::DEFAULT_TOLERANCE_SECS,
            wait_minutes: 10,
            conference_minutes: 30,
        }
    }
}

impl std::fmt::Debug for ChatSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSettings")
            .field("webhook_secret", &redacted(&self.webhook_secret))
            .field("webhook_secret_env", &self.webhook_secret_env)
            .field("signature_tolerance_secs", &self.signature_tolerance_secs)
            .field("wait_minutes", &self.wait_minutes)
            .field("conference_minutes", &self.conference_minutes)
            .finish()
    }
}

fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() {
        ""
    } else {
        "***"
    }
}

impl ChatSettings {
    /// The secret in force: the named variable's value when
    /// `webhook_secret_env` is set, else `webhook_secret`; `None` when
    /// neither gives one (the endpoint is off).
    pub fn secret(&self) -> Option<String> {
        let s = if self.webhook_secret_env.is_empty() {
            self.webhook_secret.clone()
        } else {
            std::env::var(&self.webhook_secret_env).unwrap_or_default()
        };
        (!s.is_empty()).then_some(s)
    }

    /// The first key out of range and why, for `Settings::validate`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=24 * 60).contains(&self.wait_minutes) {
            return Err((
                "chat.wait_minutes",
                format!("expected 1 to 1440, got {}", self.wait_minutes),
            ));
        }
        if !(5..=8 * 60).contains(&self.conference_minutes) {
            return Err((
                "chat.conference_minutes",
                format!("expected 5 to 480, got {}", self.conference_minutes),
            ));
        }
        if !(1..=3600).contains(&self.signature_tolerance_secs) {
            return Err((
                "chat.signature_tolerance_secs",
                format!("expected 1 to 3600, got {}", self.signature_tolerance_secs),
            ));
        }
        let env = &self.webhook_secret_env;
        if !env.is_empty() && !env.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err((
                "chat.webhook_secret_env",
                format!("`{env}` is no environment variable name (letters, digits, _)"),
            ));
        }
        if !self.webhook_secret.is_empty() && self.webhook_secret.len() < 16 {
            return Err((
                "chat.webhook_secret",
                "a shared secret needs at least 16 characters".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_never_debug_printed() {
        let s = ChatSettings {
            webhook_secret: "very-secret-value-1234".into(),
            ..Default::default()
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("***"));
        assert_eq!(s.secret().as_deref(), Some("very-secret-value-1234"));
        assert_eq!(ChatSettings::default().secret(), None);
    }

    #[test]
    fn ranges_name_their_key() {
        let s = ChatSettings {
            wait_minutes: 0,
            ..Default::default()
        };
        assert_eq!(s.check().unwrap_err().0, "chat.wait_minutes");
        let s = ChatSettings {
            webhook_secret: "short".into(),
            ..Default::default()
        };
        assert_eq!(s.check().unwrap_err().0, "chat.webhook_secret");
    }
}
