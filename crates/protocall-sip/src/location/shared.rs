//! Bindings other instances wrote: when several instances share the desk,
//! each reads the store for what the others changed and folds it in here,
//! so a phone registered through one is reached through any.
//!
//! These changes are never reported to the sink (the store is where they
//! came from), the bindings-per-AoR limit is the writer's business, and a
//! change loses to what this instance already holds when that is newer:
//! the later REGISTER wins, wherever it arrived.

use super::{Binding, ContactKey, Location, Slot};

/// One binding's state as another instance wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedChange {
    /// Registered or refreshed.
    Upsert(Binding),
    /// Removed (unregistered, or expired) at `at_ms`.
    Remove {
        aor: String,
        contact: String,
        at_ms: i64,
    },
}

impl Location {
    /// Folds in changes read from the store, in the order written. Returns
    /// how many changed what this instance holds.
    pub fn merge_shared(&self, changes: impl IntoIterator<Item = SharedChange>) -> usize {
        let mut applied = 0;
        for change in changes {
            let changed = match change {
                SharedChange::Upsert(b) => self.merge_upsert(b),
                SharedChange::Remove {
                    aor,
                    contact,
                    at_ms,
                } => self.merge_removal(&aor, &contact, at_ms),
            };
            applied += usize::from(changed);
        }
        applied
    }

    fn merge_upsert(&self, b: Binding) -> bool {
        let key = ContactKey::new(&b.contact);
        let mut shard = self.shard(&b.aor);
        let slots = shard.entry(b.aor.clone()).or_default();
        match slots.iter_mut().find(|s| s.key.matches(&key)) {
            // Ours is newer, or this is ours read back: keep ours (and the
            // connection it may hold).
            Some(s) if s.binding.registered_at_ms >= b.registered_at_ms => false,
            Some(s) => {
                *s = Slot { binding: b, key };
                true
            }
            None => {
                slots.push(Slot { binding: b, key });
                true
            }
        }
    }

    fn merge_removal(&self, aor: &str, contact: &str, at_ms: i64) -> bool {
        let key = ContactKey::new(contact);
        let mut shard = self.shard(aor);
        let Some(slots) = shard.get_mut(aor) else {
            return false;
        };
        let before = slots.len();
        // A REGISTER after the removal re-created the binding: it stays.
        slots.retain(|s| !(s.key.matches(&key) && s.binding.registered_at_ms <= at_ms));
        let removed = slots.len() != before;
        if slots.is_empty() {
            shard.remove(aor);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::super::{ContactUpdate, LocationChange, LocationConfig, Update};
    use super::*;
    use crate::transport::{ConnId, Proto};
    use std::sync::{Arc, Mutex};

    const NOW: i64 = 1_800_000_000_000;

    fn binding(contact: &str, at: i64) -> Binding {
        Binding {
            aor: "ana".into(),
            contact: contact.into(),
            q: 1000,
            expires_at_ms: at + 3_600_000,
            registered_at_ms: at,
            source: "127.0.0.1:5090".parse().unwrap(),
            proto: Proto::Udp,
            conn: None,
            call_id: "c1".into(),
            cseq: 1,
            user_agent: None,
        }
    }

    fn recording() -> (Location, Arc<Mutex<Vec<LocationChange>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let loc = Location::with_sink(
            LocationConfig::default(),
            Box::new(move |c| sink.lock().unwrap().push(c)),
        );
        (loc, seen)
    }

    #[test]
    fn another_instances_binding_is_reachable_here_and_not_written_back() {
        let (loc, seen) = recording();
        let b = binding("sip:ana@127.0.0.1:5099", NOW);
        assert_eq!(loc.merge_shared([SharedChange::Upsert(b.clone())]), 1);
        assert_eq!(loc.lookup("ana", NOW + 1), vec![b.clone()]);
        // Read again (every poll overlaps the last): nothing changes.
        assert_eq!(loc.merge_shared([SharedChange::Upsert(b)]), 0);
        assert!(seen.lock().unwrap().is_empty(), "the store has it already");
    }

    #[test]
    fn the_later_register_wins_wherever_it_arrived() {
        let (loc, _) = recording();
        let contact = "sip:ana@127.0.0.1:5099";
        // Registered here over TCP, then an older copy comes from the store.
        let ours = Binding {
            conn: Some(ConnId(7)),
            proto: Proto::Tcp,
            ..binding(contact, NOW)
        };
        let update = Update::Register {
            call_id: "c1".into(),
            cseq: 1,
            contacts: vec![ContactUpdate::Upsert(ours.clone())],
        };
        loc.apply("ana", update, NOW).unwrap();
        assert_eq!(
            loc.merge_shared([SharedChange::Upsert(binding(contact, NOW - 5))]),
            0
        );
        assert_eq!(loc.lookup("ana", NOW)[0].conn, Some(ConnId(7)));
        // A newer refresh through the other instance replaces it.
        let newer = binding(contact, NOW + 60_000);
        assert_eq!(loc.merge_shared([SharedChange::Upsert(newer.clone())]), 1);
        assert_eq!(loc.lookup("ana", NOW + 60_001), vec![newer]);
    }

    #[test]
    fn a_removal_elsewhere_removes_only_what_it_saw() {
        let (loc, seen) = recording();
        let old = binding("sip:ana@127.0.0.1:5099", NOW);
        let kept = binding("sip:ana@127.0.0.1:6000", NOW + 2_000);
        loc.merge_shared([
            SharedChange::Upsert(old.clone()),
            SharedChange::Upsert(kept.clone()),
        ]);
        let gone = |contact: &str| SharedChange::Remove {
            aor: "ana".into(),
            contact: contact.into(),
            at_ms: NOW + 1_000,
        };
        // Equivalent spelling of the same contact (RFC 3261 §19.1.4).
        assert_eq!(loc.merge_shared([gone("SIP:ana@127.0.0.1:5099")]), 1);
        // Registered after the removal was written: stays.
        assert_eq!(loc.merge_shared([gone("sip:ana@127.0.0.1:6000")]), 0);
        assert_eq!(loc.lookup("ana", NOW + 3_000), vec![kept]);
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(
            loc.merge_shared([SharedChange::Remove {
                aor: "bob".into(),
                contact: "sip:bob@h".into(),
                at_ms: NOW
            }]),
            0
        );
    }
}
