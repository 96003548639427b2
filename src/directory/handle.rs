//! Chat handles: the name a provider user has on the desk's chat
//! platform, the key the chat bridge's events are matched by. Platforms
//! treat handles without regard to case, so they are kept in lower case.

use super::FieldError;

/// Longest handle kept (platform ids and e-mail-like logins fit).
pub const HANDLE_MAX: usize = 128;

/// A handle as stored: trimmed, lower case, no spaces or control
/// characters; empty or absent is none.
pub fn normalize_handle(field: &str, handle: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(h) = handle.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    if h.chars().count() > HANDLE_MAX {
        return Err(FieldError::new(field, "must be at most 128 characters"));
    }
    if h.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            field,
            "must not hold spaces or control characters",
        ));
    }
    Ok(Some(h.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_trimmed_lower_case_and_single_words() {
        assert_eq!(
            normalize_handle("h", Some("  Ana.NetSul ")).unwrap(),
            Some("ana.netsul".into())
        );
        assert_eq!(normalize_handle("h", Some(" ")).unwrap(), None);
        assert_eq!(normalize_handle("h", None).unwrap(), None);
        assert!(normalize_handle("h", Some("a b")).is_err());
        assert!(normalize_handle("h", Some(&"x".repeat(129))).is_err());
    }
}
