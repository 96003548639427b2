//! Counters for SIP target name resolution (`sip::resolve`): answers
//! obtained, and routing steps skipped because a name had none.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use crate::resolve::Role;

const ROLES: [Role; 4] = [Role::Trunk, Role::Ura, Role::Dialplan, Role::Request];

/// Handles resolved once, so the hot path does no label lookup.
#[derive(Clone)]
pub struct DnsMetrics {
    /// Per role: [pending, failed].
    failures: [[IntCounter; 2]; 4],
    resolved: IntCounter,
    unresolved: IntCounter,
}

impl DnsMetrics {
    pub fn new(registry: &Registry) -> Result<DnsMetrics, prometheus::Error> {
        let failures = IntCounterVec::new(
            Opts::new(
                "protocall_dns_failures_total",
                "SIP targets skipped because their name had no address, by target kind \
                 (trunk, ura, dialplan, request) and reason (pending: no answer yet; \
                 failed: DNS had none).",
            ),
            &["target", "reason"],
        )?;
        let resolutions = IntCounterVec::new(
            Opts::new(
                "protocall_dns_resolutions_total",
                "RFC 3263 resolutions of SIP target names, by outcome.",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(resolutions.clone()))?;
        Ok(DnsMetrics {
            failures: ROLES.map(|r| {
                ["pending", "failed"].map(|why| failures.with_label_values(&[r.label(), why]))
            }),
            resolved: resolutions.with_label_values(&["ok"]),
            unresolved: resolutions.with_label_values(&["failed"]),
        })
    }

    /// On a private registry, for tests and benchmarks.
    pub fn unregistered() -> DnsMetrics {
        match DnsMetrics::new(&Registry::new()) {
            Ok(m) => m,
            // A fresh registry has no name clashes; this cannot fail.
            Err(_) => std::process::abort(),
        }
    }

    pub fn failure(&self, role: Role, reason: &str) {
        let i = match role {
            Role::Trunk => 0,
            Role::Ura => 1,
            Role::Dialplan => 2,
            Role::Request => 3,
        };
        if let Some(c) = self
            .failures
            .get(i)
            .and_then(|r| r.get(usize::from(reason != "pending")))
        {
            c.inc();
        }
    }

    pub fn resolution(&self, ok: bool) {
        if ok {
            self.resolved.inc();
        } else {
            self.unresolved.inc();
        }
    }
}
