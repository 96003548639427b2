//! Consultants' digest secrets, kept in memory for the registrar (which
//! must not wait on the database per REGISTER) and refreshed from the
//! store whenever the directory changes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::sip::digest::StoredHa1;
use crate::sip::registrar::{CredentialSource, UserSecret};
use crate::store::{Store, StoreError};

/// Consultants' HA1 values, served from memory to the registrar and
/// refreshed whenever the directory changes.
#[derive(Default)]
pub struct CredentialCache {
    map: RwLock<Arc<HashMap<String, UserSecret>>>,
}

impl CredentialCache {
    pub async fn reload(&self, store: &Store) -> Result<usize, StoreError> {
        let all = store.all_sip_credentials().await?;
        let map: HashMap<String, UserSecret> = all
            .into_iter()
            .map(|c| {
                (
                    c.sip_username,
                    UserSecret {
                        ha1: StoredHa1 {
                            md5: c.ha1_md5,
                            sha256: c.ha1_sha256,
                        },
                        active: c.active,
                    },
                )
            })
            .collect();
        let n = map.len();
        let mut guard = self.map.write().unwrap_or_else(|e| e.into_inner());
        *guard = Arc::new(map);
        Ok(n)
    }
}

impl CredentialSource for CredentialCache {
    fn lookup(&self, username: &str) -> Option<UserSecret> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner()).clone();
        map.get(username).cloned()
    }
}
