//! The consulting desk's directory: providers, their numbers and people,
//! consultants and protocols, as the rest of protocall sees them.
//!
//! These are plain values plus the validation rules an input must pass
//! before it reaches the store (field-named errors, so the API can say which
//! field is wrong). Loading and saving is `store`'s job.

pub mod handle;
pub mod import;
pub mod import_protocol;
pub mod number;
pub mod protocol_changes;
pub mod role;
pub mod snapshot;

pub use role::Role;

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// A validation failure that names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// The value is fine on its own but contradicts another one (the API
    /// answers 409 rather than 400: no schema can state such a rule).
    pub contradiction: bool,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            contradiction: false,
        }
    }

    pub fn contradiction(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            contradiction: true,
            ..Self::new(field, message)
        }
    }
}

/// Distinguishes "absent" (leave as is) from `null` (clear) in PATCH bodies.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Provider {
    pub id: i64,
    pub name: String,
    /// CNPJ, 14 digits without punctuation.
    pub tax_id: Option<String>,
    /// Whether the provider has a consulting contract at all.
    pub consulting: bool,
    pub contract_valid_from: Option<NaiveDate>,
    pub contract_valid_until: Option<NaiveDate>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Tz>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Tz>,
}

impl Provider {
    /// Whether the consulting contract covers `day` (in the desk's zone).
    pub fn consulting_on(&self, day: NaiveDate) -> bool {
        self.consulting
            && self.contract_valid_from.is_none_or(|from| from <= day)
            && self.contract_valid_until.is_none_or(|until| day <= until)
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProvider {
    #[schema(schema_with = crate::http::schema::person_name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::cnpj_or_null)]
    pub tax_id: Option<String>,
    #[serde(default)]
    pub consulting: bool,
    #[serde(default)]
    pub contract_valid_from: Option<NaiveDate>,
    #[serde(default)]
    pub contract_valid_until: Option<NaiveDate>,
    /// Numbers to attach at creation, in any common spelling.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::phones)]
    pub numbers: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderPatch {
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::person_name_or_null)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = crate::http::schema::cnpj_or_null)]
    pub tax_id: Option<Option<String>>,
    #[serde(default)]
    pub consulting: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub contract_valid_from: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub contract_valid_until: Option<Option<NaiveDate>>,
}

/// A provider's fields after validation, ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderFields {
    pub name: String,
    pub tax_id: Option<String>,
    pub consulting: bool,
    pub contract_valid_from: Option<NaiveDate>,
    pub contract_valid_until: Option<NaiveDate>,
}

impl ProviderFields {
    pub fn validate(self) -> Result<ProviderFields, FieldError> {
        let name = validate_person_name("name", &self.name)?;
        let tax_id = match self.tax_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(normalize_cnpj(raw).map_err(|m| FieldError::new("tax_id", m))?),
        };
        if let (Some(from), Some(until)) = (self.contract_valid_from, self.contract_valid_until) {
            if from > until {
                return Err(FieldError::contradiction(
                    "contract_valid_until",
                    "must not be before contract_valid_from",
                ));
            }
        }
        Ok(ProviderFields {
            name,
            tax_id,
            ..self
        })
    }

    pub fn patched(current: &Provider, patch: ProviderPatch) -> ProviderFields {
        ProviderFields {
            name: patch.name.unwrap_or_else(|| current.name.clone()),
            tax_id: patch.tax_id.unwrap_or_else(|| current.tax_id.clone()),
            consulting: patch.consulting.unwrap_or(current.consulting),
            contract_valid_from: patch
                .contract_valid_from
                .unwrap_or(current.contract_valid_from),
            contract_valid_until: patch
                .contract_valid_until
                .unwrap_or(current.contract_valid_until),
        }
    }
}

impl From<&NewProvider> for ProviderFields {
    fn from(p: &NewProvider) -> Self {
        ProviderFields {
            name: p.name.clone(),
            tax_id: p.tax_id.clone(),
            consulting: p.consulting,
            contract_valid_from: p.contract_valid_from,
            contract_valid_until: p.contract_valid_until,
        }
    }
}

/// Checks a CNPJ's two check digits and returns its 14 digits; punctuation
/// (`12.345.678/0001-95`) is accepted because that is how people write it.
pub fn normalize_cnpj(raw: &str) -> Result<String, String> {
    let digits: Vec<u32> = raw
        .chars()
        .filter(|c| !matches!(c, '.' | '/' | '-' | ' '))
        .map(|c| c.to_digit(10).ok_or(()))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{raw}` is not a CNPJ: only digits and . / - are allowed"))?;
    if digits.len() != 14 {
        return Err(format!("`{raw}` is not a CNPJ: expected 14 digits"));
    }
    if digits.windows(2).all(|w| w.first() == w.last()) {
        return Err(format!("`{raw}` is not a valid CNPJ"));
    }
    let check = |n: usize| -> u32 {
        let weights: &[u32] = if n == 12 {
            &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
        } else {
            &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
        };
        let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
        match sum % 11 {
            0 | 1 => 0,
            r => 11 - r,
        }
    };
    if digits.get(12) != Some(&check(12)) || digits.get(13) != Some(&check(13)) {
        return Err(format!(
            "`{raw}` is not a valid CNPJ: check digits do not match"
        ));
    }
    Ok(digits.iter().map(|d| char::from(b'0' + *d as u8)).collect())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PhoneNumber {
    pub id: i64,
    pub provider_id: i64,
    pub user_id: Option<i64>,
    /// The number in E.164, e.g. `+5511987654321`.
    #[schema(schema_with = crate::http::schema::e164)]
    pub e164: String,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNumber {
    /// Any common spelling: `(11) 98765-4321`, `011987654321`, `+55 11 …`.
    #[schema(schema_with = crate::http::schema::phone)]
    pub number: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub user_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderUser {
    pub id: i64,
    pub provider_id: i64,
    pub name: String,
    pub email: Option<String>,
    /// In E.164.
    #[schema(schema_with = crate::http::schema::e164s)]
    pub numbers: Vec<String>,
    /// The user's handle on the desk's chat platform (lower case, unique).
    pub chat_handle: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProviderUser {
    #[schema(schema_with = crate::http::schema::person_name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::email_or_null)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::phones)]
    pub numbers: Vec<String>,
    /// The user's handle on the desk's chat platform; unique (409 when
    /// another user has it), kept in lower case.
    #[serde(default)]
    #[schema(max_length = 128, pattern = r"^\S*$")]
    pub chat_handle: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderUserPatch {
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::person_name_or_null)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = crate::http::schema::email_or_null)]
    pub email: Option<Option<String>>,
    /// null or empty removes the handle.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 128, pattern = r"^\S*$", nullable)]
    pub chat_handle: Option<Option<String>>,
}

/// Longest name of a person or provider, counted as the document counts
/// (characters, before trimming).
pub const NAME_MAX: usize = 200;
pub const SIP_USERNAME_MAX: usize = 64;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 256;

pub fn validate_person_name(field: &str, name: &str) -> Result<String, FieldError> {
    if name.chars().count() > NAME_MAX {
        return Err(FieldError::new(field, "must be at most 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not hold control characters"));
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    Ok(name.to_string())
}

/// A light e-mail check: one `@` with text on both sides and no spaces;
/// anything stricter rejects real addresses.
pub fn validate_email(field: &str, email: Option<&str>) -> Result<Option<String>, FieldError> {
    match email.map(str::trim) {
        None | Some("") => Ok(None),
        Some(e) => {
            let ok = e.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
            }) && !e.contains(char::is_whitespace)
                && e.matches('@').count() == 1;
            if ok {
                Ok(Some(e.to_string()))
            } else {
                Err(FieldError::new(
                    field,
                    format!("`{e}` is not an e-mail address"),
                ))
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Consultant {
    pub id: i64,
    pub name: String,
    pub sip_username: String,
    pub email: Option<String>,
    pub weekly_capacity_hours: f64,
    pub active: bool,
    /// What the person may do through the API (one person, one SIP login,
    /// one role).
    pub role: Role,
    pub presence: Presence,
    /// In a call right now (derived from answered calls, not stored).
    #[serde(default)]
    pub in_call: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Tz>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Tz>,
}

/// A consultant's own availability for calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Available,
    /// Do not disturb: routing skips them.
    Dnd,
    /// Away from the desk: routing skips them.
    Away,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Available => "available",
            Presence::Dnd => "dnd",
            Presence::Away => "away",
        }
    }

    pub fn parse(s: &str) -> Presence {
        match s {
            "dnd" => Presence::Dnd,
            "away" => Presence::Away,
            _ => Presence::Available,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPresence {
    pub status: Presence,
}

/// What the registrar needs to check a digest response; never serialised.
#[derive(Clone)]
pub struct SipCredentials {
    pub consultant_id: i64,
    pub sip_username: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
    pub active: bool,
}

impl std::fmt::Debug for SipCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipCredentials")
            .field("sip_username", &self.sip_username)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsultant {
    #[schema(schema_with = crate::http::schema::person_name)]
    pub name: String,
    #[schema(schema_with = crate::http::schema::sip_username)]
    pub sip_username: String,
    /// Used once to derive the digest HA1 values; never stored or returned.
    #[schema(schema_with = crate::http::schema::new_password)]
    pub password: String,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::email_or_null)]
    pub email: Option<String>,
    #[serde(default = "default_capacity")]
    #[schema(minimum = 0, maximum = 168)]
    pub weekly_capacity_hours: f64,
    #[serde(default = "default_true")]
    pub active: bool,
    /// consultant (the default), manager or admin.
    #[serde(default = "default_role")]
    pub role: Role,
}

fn default_role() -> Role {
    Role::Consultant
}

/// Weekly hours a new consultant is planned for unless told otherwise.
pub fn default_capacity() -> f64 {
    40.0
}

fn default_true() -> bool {
    true
}

#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsultantPatch {
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::person_name_or_null)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::password_or_null)]
    pub password: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = crate::http::schema::email_or_null)]
    pub email: Option<Option<String>>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 168)]
    pub weekly_capacity_hours: Option<f64>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub role: Option<Role>,
}

/// SIP user part rules (RFC 3261 `user` unreserved set, minus escapes) so a
/// username always fits in a URI and an HA1 without quoting surprises.
pub fn validate_sip_username(raw: &str) -> Result<String, FieldError> {
    // Not trimmed: whitespace is outside the set, and a name the document
    // refuses must not pass here.
    let u = raw;
    if u.is_empty() || u.len() > SIP_USERNAME_MAX {
        return Err(FieldError::new(
            "sip_username",
            "must be 1 to 64 characters",
        ));
    }
    if !u
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(c))
    {
        return Err(FieldError::new(
            "sip_username",
            "may hold only letters, digits and - _ . ! ~ * ' ( ) & = + $ , ; ? /",
        ));
    }
    Ok(u.to_string())
}

pub fn validate_password(raw: &str) -> Result<(), FieldError> {
    let n = raw.chars().count();
    if n < PASSWORD_MIN {
        return Err(FieldError::new("password", "must be at least 8 characters"));
    }
    if n > PASSWORD_MAX {
        return Err(FieldError::new(
            "password",
            "must be at most 256 characters",
        ));
    }
    Ok(())
}

pub fn validate_capacity(hours: f64) -> Result<f64, FieldError> {
    if !(0.0..=168.0).contains(&hours) || !hours.is_finite() {
        return Err(FieldError::new(
            "weekly_capacity_hours",
            "must be between 0 and 168",
        ));
    }
    Ok(hours)
}

crate::text_enum! {
    /// Whether a protocol is still being worked on.
    pub enum ProtocolStatus as "protocol status" {
        Open = "open",
        Closed = "closed",
    }
}

// Written out rather than derived: utoipa's derive does not see the
// words `text_enum!` renames the variants to (a macro's literal reaches it
// wrapped), and would document "Open" where the API says "open".
impl utoipa::PartialSchema for ProtocolStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("Whether a protocol is still being worked on."))
            .enum_values(Some(ProtocolStatus::NAMES.iter().copied()))
            .into()
    }
}

impl utoipa::ToSchema for ProtocolStatus {}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Protocol {
    pub id: i64,
    #[schema(schema_with = crate::http::schema::protocol_number_out)]
    pub number: String,
    pub provider_id: i64,
    pub owner_id: Option<i64>,
    pub category: String,
    pub subject: String,
    pub status: ProtocolStatus,
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: DateTime<Tz>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<DateTime<Tz>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<DateTime<Tz>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProtocol {
    /// Left out (or blank), the store numbers it `YYYY-NNNNNN`; unique
    /// (409).
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::protocol_number)]
    pub number: Option<String>,
    pub provider_id: i64,
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// Left out (or blank), `support`.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::protocol_category)]
    pub category: String,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::protocol_subject)]
    pub subject: String,
    /// RFC 3339; without an offset it is read in the configured zone.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<DateTime<chrono::FixedOffset>>,
}

/// What a protocol opened without a category (or with a blank one) is
/// filed under: the desk's attendances are support unless said otherwise.
pub const DEFAULT_PROTOCOL_CATEGORY: &str = "support";

/// A manager's edit of a protocol: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtocolPatch {
    /// Blank files it under `support`, as when opening.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::protocol_category_or_null)]
    pub category: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::protocol_subject_or_null)]
    pub subject: Option<String>,
    /// RFC 3339; null clears the deadline. A closed protocol's deadline
    /// does not move (409): reopen it first.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Option<DateTime<chrono::FixedOffset>>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignOwner {
    pub owner_id: i64,
}

/// A page of a list endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// Everything the desk knows about a caller's number.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Lookup {
    /// The number as given.
    pub input: String,
    #[schema(schema_with = crate::http::schema::e164)]
    pub e164: String,
    pub provider: Option<Provider>,
    pub user: Option<ProviderUser>,
    /// Consulting contract valid today, in the configured zone.
    pub consulting_active: bool,
    pub open_protocols: Vec<Protocol>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cnpj_check_digits() {
        assert_eq!(
            normalize_cnpj("11.222.333/0001-81").unwrap(),
            "11222333000181"
        );
        assert!(normalize_cnpj("11.222.333/0001-82").is_err());
        assert!(normalize_cnpj("11111111111111").is_err());
        assert!(normalize_cnpj("123").is_err());
        assert!(normalize_cnpj("1122233300018a").is_err());
    }

    #[test]
    fn contract_window_is_inclusive() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let p = Provider {
            id: 1,
            name: "x".into(),
            tax_id: None,
            consulting: true,
            contract_valid_from: Some(d("2026-01-01")),
            contract_valid_until: Some(d("2026-12-31")),
            created_at: chrono::Utc::now().with_timezone(&chrono_tz::UTC),
            updated_at: chrono::Utc::now().with_timezone(&chrono_tz::UTC),
        };
        assert!(p.consulting_on(d("2026-01-01")));
        assert!(p.consulting_on(d("2026-12-31")));
        assert!(!p.consulting_on(d("2027-01-01")));
        assert!(!Provider {
            consulting: false,
            ..p
        }
        .consulting_on(d("2026-06-01")));
    }

    #[test]
    fn provider_fields_validation_names_fields() {
        let base = ProviderFields {
            name: "  Net  ".into(),
            tax_id: Some("11.222.333/0001-81".into()),
            consulting: true,
            contract_valid_from: None,
            contract_valid_until: None,
        };
        let ok = base.clone().validate().unwrap();
        assert_eq!(ok.name, "Net");
        assert_eq!(ok.tax_id.as_deref(), Some("11222333000181"));
        let err = ProviderFields {
            name: " ".into(),
            ..base.clone()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.field, "name");
        let err = ProviderFields {
            tax_id: Some("1".into()),
            ..base
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.field, "tax_id");
    }

    #[test]
    fn usernames_and_emails() {
        assert!(validate_sip_username("ana.silva").is_ok());
        assert!(validate_sip_username("ana silva").is_err());
        assert!(validate_sip_username("ana\"x").is_err());
        assert!(validate_email("e", Some("a@b.co")).unwrap().is_some());
        assert!(validate_email("e", Some("a@b")).is_err());
        assert!(validate_email("e", Some("")).unwrap().is_none());
    }

    #[test]
    fn the_protocol_status_is_documented_with_the_words_the_api_uses() {
        let schema = <ProtocolStatus as utoipa::PartialSchema>::schema();
        let json = serde_json::to_value(&schema).unwrap();
        assert_eq!(json["enum"], serde_json::json!(["open", "closed"]));
        assert_eq!(
            serde_json::to_value(ProtocolStatus::Open).unwrap(),
            serde_json::json!("open")
        );
    }
}
