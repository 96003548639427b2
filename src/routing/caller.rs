//! Who is calling: the caller's number as the INVITE carries it, read from
//! P-Asserted-Identity when a trusted peer (carrier trunk, PBX) sent it and
//! from the From URI otherwise, normalised to E.164 and looked up in the
//! directory snapshot.
//!
//! Brazilian mobile numbers are still often written without the ninth
//! digit (`(11) 8765-4321` for `(11) 98765-4321`); a number that is not in
//! the directory as written is tried again with the nine inserted.

use std::net::IpAddr;

use chrono::NaiveDate;
use phonenumber::country::Id as Country;

use crate::directory::number::normalize;
use crate::directory::snapshot::Snapshot;
use crate::net::TrustedPeers;
use crate::sip::message::{SipMessage, Uri};

/// The classes the dialplan decides on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerClass {
    /// A provider with a consulting contract valid today.
    Consulting,
    /// A known provider without a valid consulting contract.
    NotConsulting,
    /// A number the directory does not know.
    Unknown,
    /// No number at all: withheld, anonymous or unreadable.
    #[default]
    Anonymous,
}

impl From<CallerClass> for super::dialplan::CallerClassName {
    fn from(c: CallerClass) -> Self {
        use super::dialplan::CallerClassName as N;
        match c {
            CallerClass::Consulting => N::Consulting,
            CallerClass::NotConsulting => N::NotConsulting,
            CallerClass::Unknown => N::Unknown,
            CallerClass::Anonymous => N::Anonymous,
        }
    }
}

/// The caller, as far as the directory knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Caller {
    /// The number as the request carried it.
    pub raw: Option<String>,
    pub e164: Option<String>,
    pub class: CallerClass,
    pub provider_id: Option<i64>,
    pub user_id: Option<i64>,
    /// The open protocol whose owner should attend (see
    /// [`Snapshot::owner_protocol`]) and that owner.
    pub protocol_id: Option<i64>,
    pub owner_id: Option<i64>,
}

/// The user part of a sip:/tel: URI, when it looks like a number.
fn number_of(uri: &Uri) -> Option<String> {
    let user = std::str::from_utf8(uri.user.as_ref()?).ok()?;
    let user = user.trim();
    if user.is_empty() || user.eq_ignore_ascii_case("anonymous") {
        return None;
    }
    Some(user.to_string())
}

/// The caller's number as the request carries it (not yet normalised), or
/// `None` when it is withheld.
pub fn caller_number(msg: &SipMessage, source: IpAddr, trusted: &TrustedPeers) -> Option<String> {
    if trusted.contains(source) {
        for pai in msg.headers("P-Asserted-Identity") {
            let value = bytes::Bytes::copy_from_slice(&pai);
            if let Ok(na) = crate::sip::message::NameAddr::parse(value) {
                if let Some(n) = number_of(&na.uri) {
                    return Some(n);
                }
            }
        }
        // A trusted peer that says "Privacy: id" hides the number from us
        // only in the From header; with no PAI there is nothing to read.
    }
    let from = msg.from().ok()?;
    number_of(&from.uri)
}

/// The Brazilian ninth-digit variant of an E.164 number: `+55 AA NNNNNNNN`
/// with a mobile first digit (6–9) becomes `+55 AA 9NNNNNNNN`.
fn ninth_digit_variant(e164: &str) -> Option<String> {
    let rest = e164.strip_prefix("+55")?;
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (area, local) = rest.split_at(2);
    matches!(local.as_bytes().first(), Some(b'6'..=b'9')).then(|| format!("+55{area}9{local}"))
}

/// Digits a person might have typed for an old 8-digit mobile, made E.164
/// by hand when the metadata refuses it as invalid.
fn loose_e164(raw: &str, country: Country) -> Option<String> {
    if country != Country::BR {
        return None;
    }
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let national = digits
        .strip_prefix("55")
        .filter(|_| raw.trim_start().starts_with('+'))
        .unwrap_or(&digits);
    let national = national.strip_prefix('0').unwrap_or(national);
    (national.len() == 10).then(|| format!("+55{national}"))
}

/// Classifies `raw` against the snapshot on `today` (in the desk's zone).
pub fn identify(snap: &Snapshot, raw: Option<&str>, country: Country, today: NaiveDate) -> Caller {
    let mut caller = Caller {
        raw: raw.map(str::to_string),
        e164: None,
        class: CallerClass::Anonymous,
        provider_id: None,
        user_id: None,
        protocol_id: None,
        owner_id: None,
    };
    let Some(raw) = raw else { return caller };
    let e164 = normalize(raw, country)
        .ok()
        .or_else(|| loose_e164(raw, country));
    let Some(e164) = e164 else {
        caller.class = CallerClass::Unknown;
        return caller;
    };
    let (e164, entry) = match snap.numbers.get(&e164) {
        Some(n) => (e164, Some(*n)),
        None => match ninth_digit_variant(&e164) {
            Some(v) => {
                let hit = snap.numbers.get(&v).copied();
                if hit.is_some() {
                    (v, hit)
                } else {
                    (e164, None)
                }
            }
            None => (e164, None),
        },
    };
    caller.e164 = Some(e164);
    let Some(entry) = entry else {
        caller.class = CallerClass::Unknown;
        return caller;
    };
    caller.provider_id = Some(entry.provider_id);
    caller.user_id = entry.user_id;
    let consulting = snap
        .providers
        .get(&entry.provider_id)
        .is_some_and(|p| p.consulting_on(today));
    caller.class = if consulting {
        CallerClass::Consulting
    } else {
        CallerClass::NotConsulting
    };
    if let Some(p) = snap.owner_protocol(entry.provider_id) {
        caller.protocol_id = Some(p.id);
        caller.owner_id = p.owner_id;
    }
    caller
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::snapshot::{NumberEntry, ProtocolEntry, ProviderEntry};
    use bytes::Bytes;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn snap() -> Snapshot {
        let mut s = Snapshot::default();
        s.numbers.insert(
            "+5511987654321".into(),
            NumberEntry {
                provider_id: 1,
                user_id: Some(7),
            },
        );
        s.numbers.insert(
            "+552134567890".into(),
            NumberEntry {
                provider_id: 2,
                user_id: None,
            },
        );
        s.providers.insert(
            1,
            ProviderEntry {
                id: 1,
                name: "NetSul".into(),
                consulting: true,
                contract_valid_from: Some(day("2026-01-01")),
                contract_valid_until: Some(day("2026-12-31")),
            },
        );
        s.providers.insert(
            2,
            ProviderEntry {
                id: 2,
                name: "Fibra".into(),
                consulting: false,
                contract_valid_from: None,
                contract_valid_until: None,
            },
        );
        s.open_protocols.insert(
            1,
            vec![ProtocolEntry {
                id: 9,
                number: "2026-000009".into(),
                provider_id: 1,
                owner_id: Some(3),
                opened_at_ms: 1,
                due_at_ms: Some(2),
            }],
        );
        s
    }

    #[test]
    fn classes_from_the_directory() {
        let s = snap();
        let today = day("2026-11-28");
        let c = identify(&s, Some("011987654321"), Country::BR, today);
        assert_eq!(c.class, CallerClass::Consulting);
        assert_eq!((c.provider_id, c.user_id), (Some(1), Some(7)));
        assert_eq!((c.protocol_id, c.owner_id), (Some(9), Some(3)));
        // The contract ended: same provider, no longer consulting.
        let c = identify(
            &s,
            Some("+55 11 98765-4321"),
            Country::BR,
            day("2027-01-02"),
        );
        assert_eq!(c.class, CallerClass::NotConsulting);
        assert_eq!(
            identify(&s, Some("(21) 3456-7890"), Country::BR, today).class,
            CallerClass::NotConsulting
        );
        assert_eq!(
            identify(&s, Some("(31) 3333-2222"), Country::BR, today).class,
            CallerClass::Unknown
        );
        assert_eq!(
            identify(&s, Some("garbage"), Country::BR, today).class,
            CallerClass::Unknown
        );
        assert_eq!(
            identify(&s, None, Country::BR, today).class,
            CallerClass::Anonymous
        );
    }

    #[test]
    fn ninth_digit_may_be_missing() {
        let s = snap();
        let today = day("2026-11-28");
        for raw in ["(11) 8765-4321", "01187654321", "+55 11 8765-4321"] {
            let c = identify(&s, Some(raw), Country::BR, today);
            assert_eq!(c.e164.as_deref(), Some("+5511987654321"), "{raw}");
            assert_eq!(c.class, CallerClass::Consulting, "{raw}");
        }
        // A landline is never given a ninth digit.
        assert_eq!(ninth_digit_variant("+552134567890"), None);
    }

    fn invite(from: &str, pai: Option<&str>) -> SipMessage {
        let pai = pai
            .map(|p| format!("P-Asserted-Identity: {p}\r\n"))
            .unwrap_or_default();
        let text = format!(
            "INVITE sip:desk@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
             From: {from};tag=1\r\nTo: <sip:desk@127.0.0.1>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
             {pai}Content-Length: 0\r\n\r\n"
        );
        crate::sip::parse::parse(Bytes::from(text), true).unwrap()
    }

    #[test]
    fn pai_only_from_trusted_peers() {
        let trusted = TrustedPeers::parse(&["192.0.2.0/24", "2001:db8::1"]).unwrap();
        let m = invite(
            "<sip:1134567890@192.0.2.1>",
            Some("<sip:+5511987654321@carrier.example;user=phone>"),
        );
        let trunk: IpAddr = "192.0.2.50".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            caller_number(&m, trunk, &trusted).as_deref(),
            Some("+5511987654321")
        );
        assert_eq!(
            caller_number(&m, stranger, &trusted).as_deref(),
            Some("1134567890")
        );
        let tel = invite("<tel:+5521345678900;phone-context=x>", None);
        assert_eq!(
            caller_number(&tel, stranger, &trusted).as_deref(),
            Some("+5521345678900")
        );
        let anon = invite("\"Anonymous\" <sip:anonymous@anonymous.invalid>", None);
        assert_eq!(caller_number(&anon, stranger, &trusted), None);
    }
}
