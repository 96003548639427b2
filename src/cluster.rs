//! Several instances, one desk: keeps this instance in step with the
//! others sharing the PostgreSQL store (the `[cluster]` section).
//!
//! Every `poll_ms` it reads the bindings the others wrote since its last
//! look and folds them into the location table, so a phone registered
//! through any instance rings through this one; and it says it is alive,
//! with the consultants in a call through it and how many directory
//! changes it has made, while reading the same from the live others: who
//! is in a call elsewhere (so no instance rings a phone already in use),
//! and whether another instance changed the directory (a provider, a
//! consultant, a protocol's owner), in which case this one reloads its
//! snapshot and credentials. An instance that stops beating is taken for
//! dead after `peer_timeout_ms`, and its calls with it.
//!
//! Presence needs nothing here: it lives in the store and every instance
//! already polls it. Contacts need nothing either: each instance drains
//! its own journal into the same tables, its rows marked with its name.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::ClusterSettings;
use crate::directory::protocol_changes::ProtocolChanges;
use crate::directory::snapshot::SharedDirectory;
use crate::routing::busy::InCall;
use crate::server::CredentialCache;
use crate::sip::location::{Location, SharedChange};
use crate::store::{now_ms, Beat, ChangedRegistration, Store, StoreError};

/// What this instance shares, and what it refreshes from the others.
pub struct Local {
    pub location: Arc<Location>,
    pub in_call: Arc<InCall>,
    pub directory: Arc<SharedDirectory>,
    pub credentials: Arc<CredentialCache>,
    /// Bumped on every directory change made through this instance.
    pub directory_version: watch::Receiver<u64>,
    /// Protocol changes patched into this instance's snapshot.
    pub protocol_changes: ProtocolChanges,
}

impl Local {
    /// Grows with every directory change made here (never the reloads
    /// this module makes for the others' changes, or two instances would
    /// make each other reload for ever).
    fn directory_generation(&self) -> i64 {
        let made = self
            .directory_version
            .borrow()
            .saturating_add(self.protocol_changes.patched_upto());
        i64::try_from(made).unwrap_or(i64::MAX)
    }
}

/// How far back each read reaches before the newest change already seen.
/// A change is stamped when it is written and visible when its statement
/// commits, a moment later; reading the overlap again is harmless (merging
/// is idempotent), missing it would not be.
const OVERLAP_MS: i64 = 5_000;

/// How often the rows of long-gone bindings are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Runs until `stop` changes.
pub async fn run(
    settings: ClusterSettings,
    store: Store,
    local: Local,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(settings.poll_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Bindings up to the start were loaded with the table.
    let mut seen = now_ms();
    let mut last_sweep = std::time::Instant::now();
    let mut failing = false;
    // The generations last seen; the snapshot was loaded at start-up.
    let mut generations: HashMap<String, i64> = HashMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let result = step(&settings, &store, &local, &mut seen, &mut generations).await;
        match (result, failing) {
            (Ok(()), true) => {
                failing = false;
                tracing::info!("cluster state read again");
            }
            (Err(e), false) => {
                failing = true;
                tracing::warn!(error = %e, "cluster state not read; retrying");
            }
            _ => {}
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = std::time::Instant::now();
            if let Err(e) = store.sweep_registrations(now_ms()).await {
                tracing::warn!(error = %e, "old registration rows not swept");
            }
        }
    }
    // Leaving: our calls are over as far as the others are concerned.
    if let Err(e) = store.cluster_beat(&Beat::default(), 0).await {
        tracing::debug!(error = %e, "cluster exit not recorded");
    }
}

async fn step(
    settings: &ClusterSettings,
    store: &Store,
    local: &Local,
    seen: &mut i64,
    generations: &mut HashMap<String, i64>,
) -> Result<(), StoreError> {
    let changed = store
        .registrations_changed_since(seen.saturating_sub(OVERLAP_MS))
        .await?;
    let now = now_ms();
    if let Some(last) = changed.iter().map(|c| c.changed_at_ms).max() {
        *seen = (*seen).max(last);
    }
    let merged = local
        .location
        .merge_shared(changed.into_iter().filter_map(|c| shared(c, now)));
    if merged > 0 {
        tracing::debug!(bindings = merged, "bindings from other instances merged");
    }
    let beat = Beat {
        in_call: local.in_call.users(),
        directory_generation: local.directory_generation(),
    };
    store.cluster_beat(&beat, now).await?;
    let timeout = i64::try_from(settings.peer_timeout_ms).unwrap_or(i64::MAX);
    let peers = store.cluster_peers(now.saturating_sub(timeout)).await?;
    local.in_call.set_elsewhere(peers.in_call);
    let mut moved = false;
    for (name, generation) in peers.generations {
        // A peer seen for the first time changed nothing we loaded.
        match generations.insert(name, generation) {
            Some(before) if before != generation => moved = true,
            _ => {}
        }
    }
    if moved {
        let started = std::time::Instant::now();
        let snapshot = store.load_snapshot().await?;
        local.directory.replace(snapshot);
        local.credentials.reload(store).await?;
        tracing::debug!(elapsed = ?started.elapsed(), "directory reloaded after another instance changed it");
    }
    Ok(())
}

/// A changed row as a location change: live, a binding; expired, its
/// removal (when it was written). A row the SIP side cannot read is
/// skipped, as it is at start-up.
fn shared(c: ChangedRegistration, now_ms: i64) -> Option<SharedChange> {
    if c.row.expires_at_ms <= now_ms {
        return Some(SharedChange::Remove {
            aor: c.row.aor,
            contact: c.row.contact,
            at_ms: c.changed_at_ms,
        });
    }
    crate::server::row_binding(c.row).map(SharedChange::Upsert)
}
