//! Which consultants are in a call right now. The call log marks them at
//! the 2xx and clears them at the BYE (or the call's end); routing reads
//! the set to skip busy consultants instead of ringing a phone already in
//! use. When instances share the desk, the consultants in a call through
//! the others are kept beside ours (replaced whole on each read of the
//! store), and count as busy too.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct InCall {
    // A count, not a flag: a consultant may hold two calls (consult
    // transfer), and the first BYE must not mark them free.
    users: Mutex<HashMap<String, u32>>,
    /// In a call through another instance, as last read.
    elsewhere: Mutex<HashSet<String>>,
}

impl InCall {
    pub fn enter(&self, user: &str) {
        let mut m = self.users.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(user.to_string()).or_default() += 1;
    }

    pub fn leave(&self, user: &str) {
        let mut m = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(user);
            }
        }
    }

    pub fn contains(&self, user: &str) -> bool {
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(user)
            || self
                .elsewhere
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(user)
    }

    /// Replaces who is in a call through the other instances.
    pub fn set_elsewhere(&self, users: impl IntoIterator<Item = String>) {
        *self.elsewhere.lock().unwrap_or_else(|e| e.into_inner()) = users.into_iter().collect();
    }

    /// Who is in a call through this instance, sorted.
    pub fn users(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_overlapping_calls() {
        let b = InCall::default();
        b.enter("ana");
        b.enter("ana");
        b.leave("ana");
        assert!(b.contains("ana"));
        b.leave("ana");
        assert!(!b.contains("ana"));
        b.leave("ana");
        assert!(b.users().is_empty());
    }

    #[test]
    fn a_call_elsewhere_is_busy_until_the_next_read_says_otherwise() {
        let b = InCall::default();
        b.enter("ana");
        b.set_elsewhere(["bia".to_string()]);
        assert!(b.contains("ana") && b.contains("bia"));
        // Only our own calls are published to the others.
        assert_eq!(b.users(), vec!["ana".to_string()]);
        b.set_elsewhere([]);
        assert!(!b.contains("bia"));
        assert!(b.contains("ana"));
    }
}
