//! Telephone numbers: turning what people and caller IDs write into E.164.
//!
//! The `phonenumber` crate carries libphonenumber's metadata, which already
//! knows Brazil's trunk prefix `0` and the carrier selection codes
//! (`0 21 11 …`), so we do not hand-roll dialling rules per country.

use phonenumber::country::Id as Country;
use phonenumber::Mode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("the number is empty")]
    Empty,
    #[error("`{input}` is not a phone number: {reason}")]
    Unparsable { input: String, reason: String },
    #[error("`{input}` is not a valid number for {country:?}")]
    Invalid { input: String, country: Country },
}

/// Normalises `raw` to E.164 (`+5511987654321`), reading numbers without a
/// country code as numbers of `country`.
pub fn normalize(raw: &str, country: Country) -> Result<String, NumberError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(NumberError::Empty);
    }
    // Caller IDs often arrive as `00<cc>…` (international prefix) or as bare
    // digits with the country code; libphonenumber handles both once we
    // hand it what a person would have dialled.
    let parsed =
        phonenumber::parse(Some(country), trimmed).map_err(|e| NumberError::Unparsable {
            input: trimmed.to_string(),
            reason: e.to_string(),
        })?;
    if !phonenumber::is_valid(&parsed) {
        return Err(NumberError::Invalid {
            input: trimmed.to_string(),
            country,
        });
    }
    Ok(parsed.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BR: Country = Country::BR;

    #[test]
    fn brazilian_spellings_land_on_one_e164() {
        for input in [
            "(11) 98765-4321",
            "011987654321",
            "0 21 11 98765-4321",
            "+55 11 98765-4321",
            "+5511987654321",
            "11 987654321",
            "0xx11 98765-4321",
        ] {
            assert_eq!(
                normalize(input, BR).as_deref(),
                Ok("+5511987654321"),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn landlines_and_other_countries() {
        assert_eq!(normalize("(21) 3456-7890", BR).unwrap(), "+552134567890");
        assert_eq!(normalize("+1 650 253 0000", BR).unwrap(), "+16502530000");
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(normalize("   ", BR), Err(NumberError::Empty));
        assert!(matches!(
            normalize("not a number", BR),
            Err(NumberError::Unparsable { .. })
        ));
        assert!(normalize("123", BR).is_err());
    }
}
