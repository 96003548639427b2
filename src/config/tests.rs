use super::*;

const SHIPPED: &str = include_str!("../../config/protocall.toml");

fn parse(text: &str) -> Result<Settings, ConfigError> {
    Settings::from_parts("test.toml", text, &[])
}

#[test]
fn shipped_config_has_the_documented_defaults() {
    let s = parse(SHIPPED).unwrap();
    assert_eq!(s.sip.listen.port(), 5060);
    assert_eq!(s.http.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(s.store.url, "sqlite://data/protocall.db");
    assert_eq!(s.locale.tz(), chrono_tz::America::Sao_Paulo);
    assert_eq!(s.locale.country(), phonenumber::country::Id::BR);
}

#[test]
fn tcp_abuse_keys_ship_on_and_are_checked() {
    let shipped = parse(SHIPPED).unwrap().sip;
    let default = SipSettings::default();
    for (got, want) in [
        (shipped.tcp_outbound_reserve, default.tcp_outbound_reserve),
        (
            shipped.max_tcp_connections_per_source,
            default.max_tcp_connections_per_source,
        ),
    ] {
        assert_eq!(got, want);
        assert!(got > 0);
    }
    assert!(shipped.tcp_outbound_reserve < shipped.max_tcp_connections);
    assert_eq!(shipped.tcp_message_timeout_secs, 10);
    for (text, key) in [
        (
            "max_tcp_connections = 8\ntcp_outbound_reserve = 8",
            "sip.tcp_outbound_reserve",
        ),
        (
            "max_tcp_connections_per_source = 0",
            "sip.max_tcp_connections_per_source",
        ),
        (
            "tcp_message_timeout_secs = 0",
            "sip.tcp_message_timeout_secs",
        ),
    ] {
        let err = parse(&format!("[sip]\n{text}\n")).unwrap_err().to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn wrong_type_names_key_and_line() {
    let err = parse("[http]\nlisten = \"127.0.0.1:1\"\nmax_body_bytes = \"lots\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("http.max_body_bytes"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("expected"), "{err}");
}

#[test]
fn unknown_key_is_refused() {
    let err = parse("[http]\nlisen = \"127.0.0.1:1\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("lisen"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn bad_address_names_key() {
    let err = parse("[sip]\nlisten = \"nowhere\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sip.listen"), "{err}");
}

#[test]
fn bad_timezone_names_key_and_line() {
    let err = parse("[locale]\n\ntimezone = \"Mars/Olympus\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("locale.timezone"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("Mars/Olympus"), "{err}");
}

#[test]
fn bad_country_and_store_url_are_refused() {
    let err = parse("[locale]\ndefault_country = \"XX\"\n").unwrap_err();
    assert!(err.to_string().contains("locale.default_country"));
    let err = parse("[locale]\nlanguage = \"es\"\n").unwrap_err();
    assert!(err.to_string().contains("locale.language"), "{err}");
    assert!(err.to_string().contains("pt-BR"), "{err}");
    let err = parse("[store]\nurl = \"mysql://x\"\n").unwrap_err();
    assert!(err.to_string().contains("store.url"));
}

#[test]
fn security_defaults_and_bad_values_name_the_key() {
    let s = parse(SHIPPED).unwrap();
    assert!(s.security.enabled);
    assert_eq!(s.security.max_auth_failures_per_source, 10);
    assert_eq!(s.security.pike_max_requests, 200);
    let err = parse("[security]\nban_secs = 600\nban_max_secs = 60\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("security.ban_max_secs"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    let err = parse("[security]\nmax_transactions = 10\nmax_transactions_per_source = 11\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("security.max_transactions_per_source"),
        "{err}"
    );
    let err = parse("[security]\npike_window = 5\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("pike_window"), "{err}");
}

#[test]
fn toml_syntax_error_has_a_line() {
    let err = parse("[http\nlisten = 1\n").unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn env_overrides_file_and_database_url_overrides_store() {
    let env = vec![
        (
            "PROTOCALL__HTTP__LISTEN".to_string(),
            "127.0.0.1:9999".to_string(),
        ),
        (
            "PROTOCALL__HTTP__MAX_BODY_BYTES".to_string(),
            "4096".to_string(),
        ),
        ("DATABASE_URL".to_string(), "postgres://u@h/db".to_string()),
        ("UNRELATED".to_string(), "x".to_string()),
    ];
    let s = Settings::from_parts("t", SHIPPED, &env).unwrap();
    assert_eq!(s.http.listen.port(), 9999);
    assert_eq!(s.http.max_body_bytes, 4096);
    assert_eq!(s.store.url, "postgres://u@h/db");
}

#[test]
fn bad_env_override_names_variable_and_key() {
    let env = vec![(
        "PROTOCALL__HTTP__MAX_BODY_BYTES".to_string(),
        "many".to_string(),
    )];
    let err = Settings::from_parts("t", SHIPPED, &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("http.max_body_bytes"), "{err}");
    let env = vec![("PROTOCALL__NOPE".to_string(), "1".to_string())];
    let err = Settings::from_parts("t", SHIPPED, &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("PROTOCALL__NOPE"), "{err}");
}
