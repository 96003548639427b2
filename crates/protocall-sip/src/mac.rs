//! Keyed hashes and secret comparison, shared by every place that signs or
//! checks a secret: SIP digest nonces, console sessions, signed webhooks.
//! It sits in protocall-sip, the crate the others build on, and
//! `protocall::mac` re-exports it.

use sha2::{Digest, Sha256};

/// HMAC-SHA256 (RFC 2104) with the `hmac` crate over the concatenation of
/// `msg`. The key is brought to one block first as RFC 2104 §2 does it (a
/// longer key hashed, a shorter one zero-padded), so the fixed-size
/// constructor applies and no key length can make it fail.
pub fn hmac_sha256(key: &[u8], msg: &[&[u8]]) -> [u8; 32] {
    use hmac::digest::KeyInit;
    use hmac::{Hmac, Mac};
    let mut block = [0u8; 64];
    let hashed;
    let key = if key.len() > block.len() {
        hashed = Sha256::digest(key);
        hashed.as_slice()
    } else {
        key
    };
    for (b, k) in block.iter_mut().zip(key) {
        *b = *k;
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
    for m in msg {
        mac.update(m);
    }
    mac.finalize().into_bytes().into()
}

/// Equality whose running time depends only on the lengths (`subtle`), so
/// a byte-by-byte guessing attack learns nothing from timing. Lengths are
/// public wherever this is used (fixed by a hash or a token format).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}
