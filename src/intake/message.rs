//! One raw RFC 5322 message read into what the intake decides on: who
//! wrote to whom, the subject, the threading headers, when, and a plain
//! text body. Parsing is `mail-parser`'s (MIME, encoded words, charsets);
//! this module only picks and normalises.

use sha2::{Digest, Sha256};

/// The longest body kept for matching a protocol number: numbers are
/// quoted near the top; a 20 MB attachment need not be searched.
const BODY_MAX_CHARS: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The sender's address, lower-cased.
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    /// Without angle brackets; a hash of the raw message when it has none,
    /// so that a re-read folder still recognises it.
    pub message_id: String,
    /// In-Reply-To then References, oldest first, without brackets.
    pub references: Vec<String>,
    /// The Date header, UTC milliseconds.
    pub date_ms: Option<i64>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("not a message mail-parser can read")]
    Unreadable,
    #[error("no sender address in From")]
    NoSender,
}

/// The Message-ID a message without one is known by: stable across
/// re-reads, since it is the hash of its bytes.
pub fn fallback_id(raw: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(raw)))
}

fn addresses(a: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address())
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn ids(v: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    match v {
        mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

pub fn parse(raw: &[u8]) -> Result<Mail, MessageError> {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .ok_or(MessageError::Unreadable)?;
    let from = addresses(m.from())
        .into_iter()
        .next()
        .ok_or(MessageError::NoSender)?;
    let message_id = m
        .message_id()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| fallback_id(raw));
    let mut references = ids(m.references());
    for id in ids(m.in_reply_to()) {
        // In-Reply-To is the direct parent: last, where the newest goes.
        references.retain(|r| *r != id);
        references.push(id);
    }
    let body: String = m
        .body_text(0)
        .map(|b| b.chars().take(BODY_MAX_CHARS).collect())
        .unwrap_or_default();
    Ok(Mail {
        from,
        to: addresses(m.to()),
        cc: addresses(m.cc()),
        subject: m.subject().unwrap_or("").trim().to_string(),
        message_id,
        references,
        date_ms: m.date().map(|d| d.to_timestamp().saturating_mul(1000)),
        body,
    })
}

/// The subject a reply or forward shares with its original: prefixes
/// (Re:, RES:, Fwd:, Fw:, Enc:, RV:, also bracketed counts like `Re[2]:`)
/// stripped, whitespace folded, lower-cased.
pub fn subject_key(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        // ASCII only, so that byte offsets in `lower` are offsets in `s`.
        let lower = s.to_ascii_lowercase();
        let mut stripped = None;
        for p in ["re", "res", "fwd", "fw", "enc", "rv", "tr", "aw", "wg"] {
            let Some(rest) = lower.strip_prefix(p) else {
                continue;
            };
            let rest_orig = &s[p.len()..];
            // An optional `[n]` or `(n)` count between prefix and colon.
            let rest_trim = rest.trim_start_matches(|c: char| {
                c == '[' || c == ']' || c == '(' || c == ')' || c.is_ascii_digit()
            });
            if rest_trim.starts_with(':') {
                let skip = rest.len() - rest_trim.len() + 1;
                stripped = Some(rest_orig[skip..].trim_start());
                break;
            }
        }
        match stripped {
            Some(r) => s = r,
            None => break,
        }
    }
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_headers_and_the_text() {
        let raw = b"From: Ana Souza <Ana@NetSul.com.br>\r\n\
            To: desk@consult.example, other@x.example\r\n\
            Cc: Team <team@consult.example>\r\n\
            Subject: =?UTF-8?Q?Lenta_conex=C3=A3o?=\r\n\
            Message-ID: <abc@netsul>\r\n\
            In-Reply-To: <p2@x>\r\n\
            References: <p1@x> <p2@x>\r\n\
            Date: Thu, 03 Dec 2026 10:00:00 -0300\r\n\
            \r\n\
            Protocolo 2026-000123, por favor.\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.from, "ana@netsul.com.br");
        assert_eq!(m.to, ["desk@consult.example", "other@x.example"]);
        assert_eq!(m.cc, ["team@consult.example"]);
        assert_eq!(m.subject, "Lenta conexão");
        assert_eq!(m.message_id, "abc@netsul");
        assert_eq!(m.references, ["p1@x", "p2@x"]);
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-03T13:00:00Z").unwrap();
        assert_eq!(m.date_ms, Some(at.timestamp_millis()));
        assert!(m.body.contains("2026-000123"));
    }

    #[test]
    fn a_message_without_id_is_known_by_its_hash_and_without_sender_is_refused() {
        let raw = b"From: a@b.example\r\nSubject: x\r\n\r\nhi\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.message_id, fallback_id(raw));
        assert_eq!(
            parse(b"Subject: x\r\n\r\nhi\r\n"),
            Err(MessageError::NoSender)
        );
    }

    #[test]
    fn reply_prefixes_are_stripped() {
        assert_eq!(
            subject_key("Re: RES: Fwd:  Lenta   conexão"),
            "lenta conexão"
        );
        assert_eq!(subject_key("RE[2]: Boleto"), "boleto");
        assert_eq!(subject_key("Resumo da semana"), "resumo da semana");
        assert_eq!(subject_key(""), "");
    }
}
