//! Directory import from CSV: parsing and validating every row before
//! anything is written, so an import is all-or-nothing and its report names
//! each rejected row by its line number.
//!
//! Columns (header row required, any order; only `provider` is mandatory):
//! `provider, tax_id, consulting, contract_valid_from, contract_valid_until,
//! number, label, user, user_email, user_chat_handle`, and a protocol of the
//! provider's (`import_protocol::COLUMNS`). One row per number; rows repeating a
//! provider (same tax_id, or same name when there is none) update it.

use chrono::NaiveDate;
use phonenumber::country::Id as Country;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::import_protocol::{self, ProtocolRow, RawProtocol};
use super::number::normalize;
use super::{validate_email, validate_person_name, ProviderFields};

/// Largest import accepted, in rows; bigger directories are split.
pub const MAX_ROWS: usize = 200_000;

const KNOWN_COLUMNS: &[&str] = &[
    "provider",
    "tax_id",
    "consulting",
    "contract_valid_from",
    "contract_valid_until",
    "number",
    "label",
    "user",
    "user_email",
    "user_chat_handle",
    "protocol",
    "protocol_owner",
    "protocol_category",
    "protocol_subject",
    "protocol_due_at",
    "protocol_status",
];

#[derive(Debug, Deserialize)]
struct RawRow {
    provider: Option<String>,
    tax_id: Option<String>,
    consulting: Option<String>,
    contract_valid_from: Option<String>,
    contract_valid_until: Option<String>,
    number: Option<String>,
    label: Option<String>,
    user: Option<String>,
    user_email: Option<String>,
    #[serde(default)]
    user_chat_handle: Option<String>,
    protocol: Option<String>,
    protocol_owner: Option<String>,
    protocol_category: Option<String>,
    protocol_subject: Option<String>,
    protocol_due_at: Option<String>,
    protocol_status: Option<String>,
}

/// A validated row, ready for the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub line: u64,
    pub provider: ProviderFields,
    pub e164: Option<String>,
    pub label: Option<String>,
    pub user: Option<String>,
    pub user_email: Option<String>,
    /// The user's chat handle (see `directory::handle`).
    pub user_chat_handle: Option<String>,
    pub protocol: Option<ProtocolRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rejected {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ImportReport {
    pub protocols_created: u64,
    pub protocols_updated: u64,
    /// True when the rows were written; false when any row was rejected and
    /// nothing was.
    pub imported: bool,
    pub rows: u64,
    pub providers_created: u64,
    pub providers_updated: u64,
    pub users_created: u64,
    pub numbers_added: u64,
    pub numbers_unchanged: u64,
    pub rejected: Vec<Rejected>,
}

impl ImportReport {
    /// An import refused as a whole: nothing written, every count zero.
    pub fn refused(rows: usize, rejected: Vec<Rejected>) -> ImportReport {
        ImportReport {
            rows: rows as u64,
            rejected,
            ..Default::default()
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "" | "0" | "false" | "no" | "n" | "nao" | "não" => Some(false),
        "1" | "true" | "yes" | "y" | "sim" | "s" => Some(true),
        _ => None,
    }
}

fn parse_date(field: &str, s: Option<&str>) -> Result<Option<NaiveDate>, (String, String)> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(v, "%d/%m/%Y"))
            .map(Some)
            .map_err(|_| {
                (
                    field.to_string(),
                    format!("`{v}` is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
                )
            }),
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn validate_row(raw: RawRow, country: Country) -> Result<ImportRow, (Option<String>, String)> {
    let field_err = |(f, m): (String, String)| (Some(f), m);
    let name = non_empty(raw.provider).ok_or((Some("provider".into()), "is empty".into()))?;
    let consulting = match raw.consulting.as_deref() {
        None => false,
        Some(v) => parse_bool(v).ok_or((
            Some("consulting".into()),
            format!("`{v}` is not yes/no/true/false/1/0/sim/não"),
        ))?,
    };
    let provider = ProviderFields {
        name,
        tax_id: non_empty(raw.tax_id),
        consulting,
        contract_valid_from: parse_date("contract_valid_from", raw.contract_valid_from.as_deref())
            .map_err(field_err)?,
        contract_valid_until: parse_date(
            "contract_valid_until",
            raw.contract_valid_until.as_deref(),
        )
        .map_err(field_err)?,
    }
    .validate()
    .map_err(|e| (Some(e.field), e.message))?;
    let e164 = match non_empty(raw.number) {
        None => None,
        Some(n) => {
            Some(normalize(&n, country).map_err(|e| (Some("number".into()), e.to_string()))?)
        }
    };
    let user = match non_empty(raw.user) {
        None => None,
        Some(u) => Some(validate_person_name("user", &u).map_err(|e| (Some(e.field), e.message))?),
    };
    let user_email = validate_email("user_email", raw.user_email.as_deref())
        .map_err(|e| (Some(e.field), e.message))?;
    if user.is_none() && user_email.is_some() {
        return Err((Some("user".into()), "is empty but user_email is set".into()));
    }
    let user_chat_handle =
        super::handle::normalize_handle("user_chat_handle", raw.user_chat_handle.as_deref())
            .map_err(|e| (Some(e.field), e.message))?;
    if user.is_none() && user_chat_handle.is_some() {
        return Err((
            Some("user".into()),
            "is empty but user_chat_handle is set".into(),
        ));
    }
    let protocol = import_protocol::validate(&RawProtocol {
        number: raw.protocol.as_deref(),
        owner: raw.protocol_owner.as_deref(),
        category: raw.protocol_category.as_deref(),
        subject: raw.protocol_subject.as_deref(),
        due_at: raw.protocol_due_at.as_deref(),
        status: raw.protocol_status.as_deref(),
    })
    .map_err(|(f, m)| (Some(f), m))?;
    Ok(ImportRow {
        line: 0,
        provider,
        e164,
        label: non_empty(raw.label),
        user,
        user_email,
        user_chat_handle,
        protocol,
    })
}

/// Reads and validates a whole CSV file. Returns every valid row, or every
/// rejection (so the operator fixes the file in one pass, not one error at
/// a time).
pub fn parse_csv(data: &[u8], country: Country) -> Result<Vec<ImportRow>, Vec<Rejected>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(data);
    let header_err = |message: String| {
        vec![Rejected {
            line: 1,
            field: None,
            message,
        }]
    };
    let headers = reader
        .headers()
        .map_err(|e| header_err(format!("cannot read the header row: {e}")))?
        .clone();
    for h in headers.iter() {
        if !KNOWN_COLUMNS.contains(&h) {
            return Err(header_err(format!(
                "unknown column `{h}`; expected some of: {}",
                KNOWN_COLUMNS.join(", ")
            )));
        }
    }
    if !headers.iter().any(|h| h == "provider") {
        return Err(header_err("the header has no `provider` column".into()));
    }
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    let mut seen_numbers: std::collections::HashMap<String, u64> = Default::default();
    let mut seen_protocols: std::collections::HashMap<String, u64> = Default::default();
    let mut record = csv::StringRecord::new();
    let mut i: usize = 0;
    loop {
        let line = i as u64 + 2;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                rejected.push(Rejected {
                    line,
                    field: None,
                    message: e.to_string(),
                });
                // A malformed record (ragged row, bad UTF-8) leaves the reader
                // usable; an I/O error cannot happen on a byte slice.
                i += 1;
                if i > MAX_ROWS {
                    break;
                }
                continue;
            }
        }
        i += 1;
        if i > MAX_ROWS {
            return Err(header_err(format!(
                "more than {MAX_ROWS} rows; split the file"
            )));
        }
        let line = record.position().map(|p| p.line()).unwrap_or(line);
        let raw: RawRow = match record.deserialize(Some(&headers)) {
            Ok(r) => r,
            Err(e) => {
                rejected.push(Rejected {
                    line,
                    field: None,
                    message: e.to_string(),
                });
                continue;
            }
        };
        match validate_row(raw, country) {
            Ok(mut row) => {
                row.line = line;
                if let Some(n) = &row.e164 {
                    if let Some(first) = seen_numbers.insert(n.clone(), line) {
                        rejected.push(Rejected {
                            line,
                            field: Some("number".into()),
                            message: format!("{n} already appears on line {first}"),
                        });
                        continue;
                    }
                }
                if let Some(p) = &row.protocol {
                    if let Some(first) = seen_protocols.insert(p.number.clone(), line) {
                        rejected.push(Rejected {
                            line,
                            field: Some("protocol".into()),
                            message: format!(
                                "protocol {} already appears on line {first}",
                                p.number
                            ),
                        });
                        continue;
                    }
                }
                rows.push(row);
            }
            Err((field, message)) => rejected.push(Rejected {
                line,
                field,
                message,
            }),
        }
    }
    if rejected.is_empty() {
        Ok(rows)
    } else {
        Err(rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_file_parses_with_lines() {
        let csv = "provider,tax_id,consulting,number,user\n\
                   NetSul,11.222.333/0001-81,sim,(11) 98765-4321,Ana\n\
                   NetSul,11.222.333/0001-81,sim,011 3456-7890,\n";
        let rows = parse_csv(csv.as_bytes(), Country::BR).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[0].e164.as_deref(), Some("+5511987654321"));
        assert!(rows[0].provider.consulting);
        assert_eq!(rows[0].user.as_deref(), Some("Ana"));
    }

    #[test]
    fn every_bad_row_is_reported_by_line() {
        let csv = "provider,consulting,number\n\
                   A,yes,(11) 98765-4321\n\
                   ,yes,\n\
                   B,maybe,\n\
                   C,no,12\n\
                   D,no,+55 11 98765-4321\n";
        let rej = parse_csv(csv.as_bytes(), Country::BR).unwrap_err();
        let lines: Vec<_> = rej.iter().map(|r| (r.line, r.field.clone())).collect();
        assert_eq!(
            lines,
            vec![
                (3, Some("provider".into())),
                (4, Some("consulting".into())),
                (5, Some("number".into())),
                (6, Some("number".into())),
            ]
        );
    }

    #[test]
    fn protocol_columns_are_read_and_a_repeated_protocol_is_refused() {
        let csv = "provider,protocol,protocol_owner,protocol_status\n\
                   A,P-1,ana,closed\n\
                   A,,,\n\
                   B,P-1,bia,\n";
        let rej = parse_csv(csv.as_bytes(), Country::BR).unwrap_err();
        assert_eq!(rej.len(), 1);
        assert_eq!(
            (rej[0].line, rej[0].field.as_deref()),
            (4, Some("protocol"))
        );
        let rows = parse_csv(
            b"provider,protocol,protocol_owner\nA,P-1,ana\nA,,\n",
            Country::BR,
        )
        .unwrap();
        assert_eq!(
            rows[0].protocol.as_ref().map(|p| p.number.as_str()),
            Some("P-1")
        );
        assert!(rows[1].protocol.is_none());
    }

    #[test]
    fn unknown_column_and_ragged_rows() {
        let rej = parse_csv(b"provider,colour\nA,red\n", Country::BR).unwrap_err();
        assert_eq!(rej[0].line, 1);
        assert!(rej[0].message.contains("colour"));
        let rej = parse_csv(b"provider,number\nA\n", Country::BR).unwrap_err();
        assert_eq!(rej[0].line, 2);
    }
}
