//! Who wrote and about what: a sender's address to a provider user (the
//! exact address in `provider_users.email`), else to a provider (the
//! sender's domain, when exactly one provider has users there and it is
//! no public mailbox provider's, like gmail.com); a
//! protocol by a protocol number quoted in the subject, then the body.
//!
//! Protocol numbers the store makes look like `2026-000123` (year, dash,
//! the id in six digits or more); a number typed by a person may be
//! anything, but only the year-dash-digits shape is looked for in text.

use crate::store::{ProtocolHit, Store, StoreError};

/// Public mailbox providers: a domain anyone can have an address at says
/// nothing about which provider (ISP) a sender works for.
const PUBLIC_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "hotmail.com",
    "hotmail.com.br",
    "outlook.com",
    "outlook.com.br",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.com.br",
    "icloud.com",
    "me.com",
    "aol.com",
    "uol.com.br",
    "bol.com.br",
    "terra.com.br",
    "ig.com.br",
    "protonmail.com",
    "proton.me",
    "zoho.com",
    "gmx.com",
];

/// At most this many candidate numbers are looked up per message.
const MAX_CANDIDATES: usize = 16;

/// The provider and user a sender matched, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sender {
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
}

pub async fn match_sender(store: &Store, address: &str) -> Result<Sender, StoreError> {
    let users = store.provider_users_by_email(address).await?;
    let mut providers: Vec<i64> = users.iter().map(|(_, p)| *p).collect();
    providers.dedup();
    match (users.as_slice(), providers.as_slice()) {
        ([(user, provider)], _) => {
            return Ok(Sender {
                provider_id: Some(*provider),
                provider_user_id: Some(*user),
            })
        }
        // One provider lists the address twice: the provider is sure,
        // the person is not.
        (_, [provider]) => {
            return Ok(Sender {
                provider_id: Some(*provider),
                provider_user_id: None,
            })
        }
        _ => {}
    }
    if !users.is_empty() {
        // The same address at several providers: a person decides.
        return Ok(Sender::default());
    }
    let Some((_, domain)) = address.rsplit_once('@') else {
        return Ok(Sender::default());
    };
    if PUBLIC_DOMAINS.contains(&domain.to_ascii_lowercase().as_str()) {
        return Ok(Sender::default());
    }
    match store.providers_by_email_domain(domain).await?.as_slice() {
        [p] => Ok(Sender {
            provider_id: Some(*p),
            provider_user_id: None,
        }),
        _ => Ok(Sender::default()),
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_' || c == '/'
}

/// The year-dash-digits tokens in `text`, in order, each once.
pub fn candidates(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for token in text.split(|c: char| !is_word(c)) {
        // A token glued to letters (an id in a URL, a part number) is not
        // a protocol number.
        let Some((year, rest)) = token.split_once('-') else {
            continue;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if year.len() == 4 && digits(year) && digits(rest) && rest.len() <= 12 {
            if !out.iter().any(|t| t == token) {
                out.push(token.to_string());
            }
            if out.len() >= MAX_CANDIDATES {
                break;
            }
        }
    }
    out
}

/// The first stored protocol quoted in the subject, else in the body.
pub async fn find_protocol(
    store: &Store,
    subject: &str,
    body: &str,
) -> Result<Option<ProtocolHit>, StoreError> {
    for text in [subject, body] {
        for number in candidates(text) {
            if let Some(hit) = store.protocol_hit(&number).await? {
                return Ok(Some(hit));
            }
        }
    }
    Ok(None)
}

/// Whether `number` is quoted, as a whole token, in the subject or body.
pub fn quotes_number(subject: &str, body: &str, number: &str) -> bool {
    let number = number.trim();
    if number.is_empty() {
        return false;
    }
    [subject, body].iter().any(|text| {
        text.match_indices(number).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + number.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric())
                && !after.is_some_and(|c| c.is_alphanumeric())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_year_dash_digits_tokens_only() {
        assert_eq!(
            candidates("Re: [2026-000123] lenta; ver 2025-42 e 2026-000123."),
            ["2026-000123", "2025-42"]
        );
        assert!(candidates("https://x/a2026-000123 v1-2 20261-1 2026-").is_empty());
    }

    #[test]
    fn a_quoted_number_is_a_whole_token() {
        assert!(quotes_number("Protocolo 2026-000123", "", "2026-000123"));
        assert!(quotes_number("", "ref.: 2026-000123\n", "2026-000123"));
        assert!(!quotes_number("2026-0001234", "", "2026-000123"));
        assert!(!quotes_number("x", "y", ""));
    }
}
