//! Roles: what a person (or an ownerless automation token) may do through
//! the API. The rights each role gets per route live in `http::rights`;
//! this is only the vocabulary, shared by the directory, the store and the
//! HTTP layer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Ordered from least to most: a manager may do everything a consultant
/// may (for anyone), an admin everything a manager may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Their own timers, contacts, call-backs, schedule and presence; reads
    /// the directory and their own protocols.
    Consultant,
    /// Everything of the desk, for anyone: people's timers, contacts and
    /// call-backs, protocols, plans, reports, presence.
    Manager,
    /// Configuration, directory writes, tokens, reloads, bans; and all a
    /// manager may do.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Consultant, Role::Manager, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Consultant => "consultant",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    /// `None` for anything but the three names (the store's CHECK keeps
    /// others out, so a `None` from a row means a corrupt value).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "consultant" => Some(Role::Consultant),
            "manager" => Some(Role::Manager),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::parse(s).ok_or_else(|| format!("`{s}` is not a role (admin, manager, consultant)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(Role::Consultant < Role::Manager && Role::Manager < Role::Admin);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
