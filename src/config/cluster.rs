//! The `[cluster]` section: whether this process is one of several
//! instances sharing one PostgreSQL desk, its name among them, and how
//! often it reads what the others changed (registrations, calls in
//! progress). Absent or with an empty `instance`: a single instance, and
//! nothing is polled.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// This instance's name, unique among the instances sharing the
    /// store; it marks the calls and contacts it wrote, so that a restart
    /// closes only its own interrupted contacts. Empty: no cluster.
    pub instance: String,
    /// Milliseconds between reads of the other instances' changes. A
    /// phone registered through one instance is reachable through the
    /// others after at most about this long.
    pub poll_ms: u64,
    /// An instance that has not said it is alive for this many
    /// milliseconds is taken for dead: its calls in progress no longer
    /// mark consultants busy.
    pub peer_timeout_ms: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            instance: String::new(),
            poll_ms: 500,
            peer_timeout_ms: 10_000,
        }
    }
}

/// The instance name of a single process: what its rows are marked with
/// (and what rows written before clusters existed carry).
pub const SINGLE_INSTANCE: &str = "default";

impl ClusterSettings {
    pub fn enabled(&self) -> bool {
        !self.instance.is_empty()
    }

    /// The name this process's rows carry.
    pub fn instance_name(&self) -> &str {
        if self.enabled() {
            &self.instance
        } else {
            SINGLE_INSTANCE
        }
    }

    pub(super) fn check(&self, store_url: &str) -> Result<(), (&'static str, String)> {
        if !self.enabled() {
            return Ok(());
        }
        let name_ok = self.instance.len() <= 40
            && self
                .instance
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err((
                "cluster.instance",
                format!(
                    "`{}` is not an instance name; expected up to 40 letters, digits, - or _",
                    self.instance
                ),
            ));
        }
        if self.instance == SINGLE_INSTANCE {
            return Err((
                "cluster.instance",
                format!("`{SINGLE_INSTANCE}` names the single instance; choose another name"),
            ));
        }
        if !(store_url.starts_with("postgres://") || store_url.starts_with("postgresql://")) {
            return Err((
                "cluster.instance",
                "instances share the desk through PostgreSQL; set store.url to a postgres:// URL"
                    .into(),
            ));
        }
        if !(50..=60_000).contains(&self.poll_ms) {
            return Err(("cluster.poll_ms", "expected 50 to 60000 ms".into()));
        }
        if self.peer_timeout_ms < 2 * self.poll_ms {
            return Err((
                "cluster.peer_timeout_ms",
                "expected at least twice cluster.poll_ms".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: &str = "postgres://postgres@127.0.0.1/test";

    fn named(instance: &str) -> ClusterSettings {
        ClusterSettings {
            instance: instance.into(),
            ..ClusterSettings::default()
        }
    }

    #[test]
    fn off_by_default() {
        let c = ClusterSettings::default();
        assert!(!c.enabled());
        assert_eq!(c.instance_name(), SINGLE_INSTANCE);
        assert_eq!(c.check("sqlite://x.db"), Ok(()));
    }

    #[test]
    fn an_instance_needs_postgres_and_a_plain_name() {
        assert_eq!(named("pc-1").check(PG), Ok(()));
        assert_eq!(named("pc-1").instance_name(), "pc-1");
        let key = |c: ClusterSettings, url: &str| c.check(url).err().map(|(k, _)| k);
        assert_eq!(
            key(named("pc-1"), "sqlite://x.db"),
            Some("cluster.instance")
        );
        assert_eq!(key(named("pc 1"), PG), Some("cluster.instance"));
        assert_eq!(key(named("default"), PG), Some("cluster.instance"));
        let fast = ClusterSettings {
            poll_ms: 10,
            ..named("a")
        };
        assert_eq!(key(fast, PG), Some("cluster.poll_ms"));
        let hasty = ClusterSettings {
            peer_timeout_ms: 600,
            ..named("a")
        };
        assert_eq!(key(hasty, PG), Some("cluster.peer_timeout_ms"));
    }
}
