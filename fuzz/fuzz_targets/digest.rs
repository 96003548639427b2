//! Fuzz target `digest`: the `Authorization` / `Proxy-Authorization` value
//! parser and digest verification against a fixed HA1 store.
//!
//! Input: one header value. What it asserts besides "never panics":
//! - a parsed username, realm or nonce never carries a control character
//!   other than whitespace (they end up in logs and the location table);
//! - the fuzzed response, nonce or user never verifies (the fuzzer cannot
//!   know the secret or the password);
//! - the same credentials with a nonce we issued and a response computed
//!   from the right password do verify, exactly once (the nonce-count is
//!   then spent), and a wrong password does not;
//! - challenges we build parse back as the parameter list they claim.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use protocall::sip::digest::{
    challenge, expected_response, parse_authorization, parse_authorization_bytes, unix_now,
    Algorithm, AuthError, Authenticator, Credentials, NonceSigner, ParseError, Qop, StoredHa1,
    DEFAULT_REPLAY_CAPACITY, MAX_HEADER_LEN,
};

const REALM: &str = "protocall.test";
const USER: &str = "alice";
const PASSWORD: &str = "alice-pass";

struct Fixture {
    signer: NonceSigner,
    alice: StoredHa1,
    wrong: StoredHa1,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        signer: NonceSigner::from_secret([7; 32], 300),
        alice: StoredHa1::from_password(USER, REALM, PASSWORD),
        wrong: StoredHa1::from_password(USER, REALM, "not-the-password"),
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    // A fresh replay table per input keeps runs independent of each other.
    let auth = Authenticator::with_parts(REALM, f.signer.clone(), DEFAULT_REPLAY_CAPACITY);
    let now = unix_now();

    let parsed = parse_authorization_bytes(data);
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(
            parse_authorization(s),
            parsed,
            "str and bytes parsers disagree"
        );
        if let Ok(c) = s.parse::<Credentials>() {
            assert_eq!(Ok(c), parsed);
        }
    } else if data.len() <= MAX_HEADER_LEN {
        assert_eq!(parsed, Err(ParseError::NotUtf8));
    }
    let Ok(creds) = parsed else {
        return;
    };
    for field in [&creds.username, &creds.realm, &creds.nonce, &creds.uri] {
        assert!(
            !field
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n')),
            "control character survived parsing: {field:?}"
        );
    }
    assert!(creds.qop.is_none() || (creds.cnonce.is_some() && creds.nc.is_some()));
    if let Some(nc) = &creds.nc {
        assert_eq!(
            creds.nc_value().map(|n| format!("{n:08x}")),
            Some(nc.to_ascii_lowercase())
        );
    }

    // As sent: whatever the fuzzer wrote must not authenticate.
    for method in ["REGISTER", "INVITE"] {
        assert!(auth.verify(&creds, method, Some(&f.alice), now).is_err());
        assert!(auth.verify(&creds, method, None, now).is_err());
    }

    // Challenges from these values must stay one well-formed header value.
    let ch = challenge(
        &creds.realm,
        &creds.nonce,
        creds.algorithm,
        true,
        Some(&creds.username),
    );
    assert!(
        !ch.contains(['\r', '\n']),
        "challenge breaks the header line: {ch:?}"
    );

    // Now a real client's answer built from the fuzzed fields.
    if creds.qop != Some(Qop::Auth) || creds.nc_value().is_none_or(|n| n == 0) {
        return;
    }
    let Ok(nonce) = f.signer.issue(now) else {
        return;
    };
    let mut good = Credentials {
        realm: REALM.to_owned(),
        nonce,
        ..creds.clone()
    };
    let method = "INVITE";
    let Ok(response) = expected_response(&good, method, f.alice.for_algorithm(good.algorithm))
    else {
        panic!("expected_response failed on credentials with qop=auth, cnonce and nc");
    };
    good.response = response.to_ascii_uppercase();

    let wrong = auth.verify(&good, method, Some(&f.wrong), now);
    assert_eq!(wrong, Err(AuthError::BadCredentials));
    let unknown = auth.verify(&good, method, None, now);
    assert_eq!(unknown, Err(AuthError::BadCredentials));
    let other_method = auth.verify(&good, "REGISTER", Some(&f.alice), now);
    assert_eq!(other_method, Err(AuthError::BadCredentials));

    assert_eq!(auth.verify(&good, method, Some(&f.alice), now), Ok(()));
    // The same nonce-count again is a replay.
    assert_eq!(
        auth.verify(&good, method, Some(&f.alice), now),
        Err(AuthError::Replay)
    );

    // Written back out as a header value, it parses to the same thing.
    let alg = match good.algorithm {
        Algorithm::Md5 => "MD5",
        Algorithm::Sha256 => "SHA-256",
    };
    let header = format!(
        "Digest username={}, realm=\"{REALM}\", nonce=\"{}\", uri={}, response=\"{}\", \
         algorithm={alg}, cnonce={}, qop=auth, nc={}",
        quote(&good.username),
        good.nonce,
        quote(&good.uri),
        good.response,
        quote(good.cnonce.as_deref().unwrap_or_default()),
        good.nc.as_deref().unwrap_or_default(),
    );
    if header.len() > MAX_HEADER_LEN {
        // Quoting and our 64-digit nonce can push a value near the cap
        // over it; that is refused by length, not misparsed.
        assert_eq!(parse_authorization(&header), Err(ParseError::TooLong));
        return;
    }
    let Ok(again) = parse_authorization(&header) else {
        panic!("re-quoted credentials do not parse: {header:?}");
    };
    assert_eq!(again.username, good.username);
    assert_eq!(again.uri, good.uri);
    assert_eq!(again.cnonce, good.cnonce);
});

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
