//! The directory as the call path reads it: an immutable snapshot in
//! memory, swapped whole when the directory changes.
//!
//! Routing must never wait for the database, so every INVITE reads this
//! snapshot (a pointer copy under a read lock held for nanoseconds) and a
//! background task rebuilds it after API writes and imports.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;

/// What a number in the directory belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberEntry {
    pub provider_id: i64,
    pub user_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEntry {
    pub id: i64,
    pub name: String,
    pub consulting: bool,
    pub contract_valid_from: Option<NaiveDate>,
    pub contract_valid_until: Option<NaiveDate>,
}

impl ProviderEntry {
    /// Whether the consulting contract covers `day` (inclusive window).
    pub fn consulting_on(&self, day: NaiveDate) -> bool {
        self.consulting
            && self.contract_valid_from.is_none_or(|f| f <= day)
            && self.contract_valid_until.is_none_or(|u| day <= u)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolEntry {
    pub id: i64,
    pub number: String,
    pub provider_id: i64,
    pub owner_id: Option<i64>,
    pub opened_at_ms: i64,
    pub due_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultantEntry {
    pub id: i64,
    pub name: String,
    pub sip_username: String,
    pub active: bool,
    pub presence: super::Presence,
}

/// One consistent view of the directory.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub numbers: HashMap<String, NumberEntry>,
    pub providers: HashMap<i64, ProviderEntry>,
    /// Open protocols per provider.
    pub open_protocols: HashMap<i64, Vec<ProtocolEntry>>,
    pub consultants: HashMap<i64, ConsultantEntry>,
    /// SIP username → consultant id.
    pub usernames: HashMap<String, i64>,
}

impl Snapshot {
    pub fn consultant_by_username(&self, user: &str) -> Option<&ConsultantEntry> {
        self.usernames
            .get(user)
            .and_then(|id| self.consultants.get(id))
    }

    /// The provider's open protocol whose owner should take the call: the
    /// nearest deadline first (protocols without one come last), ties to
    /// the most recently opened. Only protocols with an owner qualify.
    pub fn owner_protocol(&self, provider_id: i64) -> Option<&ProtocolEntry> {
        owner_protocol_of(self.open_protocols.get(&provider_id)?)
    }
}

/// The rule of [`Snapshot::owner_protocol`] over one provider's open
/// protocols, for channels that read them from the store (chat).
pub fn owner_protocol_of(open: &[ProtocolEntry]) -> Option<&ProtocolEntry> {
    open.iter()
        .filter(|p| p.owner_id.is_some())
        .min_by_key(|p| {
            (
                p.due_at_ms.is_none(),
                p.due_at_ms.unwrap_or(i64::MAX),
                std::cmp::Reverse(p.opened_at_ms),
            )
        })
}

/// The current snapshot, replaced whole on reload.
#[derive(Debug, Default)]
pub struct SharedDirectory {
    current: RwLock<Arc<Snapshot>>,
}

impl SharedDirectory {
    pub fn new(s: Snapshot) -> SharedDirectory {
        SharedDirectory {
            current: RwLock::new(Arc::new(s)),
        }
    }

    /// The snapshot to read for one decision; later swaps do not change it.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn replace(&self, s: Snapshot) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }

    /// Puts the given protocols' current state into the snapshot: each
    /// `(id, Some(entry))` is an open protocol (added or replaced), each
    /// `(id, None)` one that is closed or gone (removed). The copy is made
    /// beside the snapshot calls read and swapped in like a reload; one
    /// task does both, so a reload and a patch never undo each other.
    pub fn patch_protocols(&self, changes: &[(i64, Option<ProtocolEntry>)]) {
        let mut next = Snapshot::clone(&self.load());
        for (id, _) in changes {
            for list in next.open_protocols.values_mut() {
                list.retain(|p| p.id != *id);
            }
        }
        next.open_protocols.retain(|_, list| !list.is_empty());
        for entry in changes.iter().filter_map(|(_, e)| e.clone()) {
            next.open_protocols
                .entry(entry.provider_id)
                .or_default()
                .push(entry);
        }
        self.replace(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(id: i64, owner: Option<i64>, opened: i64, due: Option<i64>) -> ProtocolEntry {
        ProtocolEntry {
            id,
            number: format!("P{id}"),
            provider_id: 1,
            owner_id: owner,
            opened_at_ms: opened,
            due_at_ms: due,
        }
    }

    #[test]
    fn owner_protocol_is_nearest_deadline_then_most_recent() {
        let mut s = Snapshot::default();
        s.open_protocols.insert(
            1,
            vec![
                proto(1, Some(10), 100, None),
                proto(2, Some(11), 100, Some(5_000)),
                proto(3, Some(12), 200, Some(5_000)),
                proto(4, None, 300, Some(1_000)),
            ],
        );
        // #4 has no owner; #2 and #3 share the deadline, #3 is newer.
        assert_eq!(s.owner_protocol(1).map(|p| p.id), Some(3));
        s.open_protocols.insert(2, vec![proto(5, Some(1), 1, None)]);
        assert_eq!(s.owner_protocol(2).map(|p| p.id), Some(5));
        assert!(s.owner_protocol(3).is_none());
    }

    #[test]
    fn patches_move_close_and_open_protocols() {
        let d = SharedDirectory::default();
        d.patch_protocols(&[(1, Some(proto(1, Some(10), 100, None)))]);
        assert_eq!(
            d.load().owner_protocol(1).and_then(|p| p.owner_id),
            Some(10)
        );
        d.patch_protocols(&[(1, Some(proto(1, Some(11), 100, None)))]);
        assert_eq!(
            d.load().owner_protocol(1).and_then(|p| p.owner_id),
            Some(11)
        );
        assert_eq!(d.load().open_protocols[&1].len(), 1);
        d.patch_protocols(&[(1, None)]);
        assert!(d.load().open_protocols.is_empty());
    }

    #[test]
    fn readers_keep_their_snapshot_across_a_swap() {
        let d = SharedDirectory::default();
        let before = d.load();
        let mut s = Snapshot::default();
        s.numbers.insert(
            "+5511987654321".into(),
            NumberEntry {
                provider_id: 1,
                user_id: None,
            },
        );
        d.replace(s);
        assert!(before.numbers.is_empty());
        assert_eq!(d.load().numbers.len(), 1);
    }
}
