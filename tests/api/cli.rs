//! The `protocall` binary as an operator uses it: check, migrate, token,
//! consultant add (password on stdin), import.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_protocall");

fn config_in(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("protocall.toml");
    let text = format!(
        "[store]\nurl = \"sqlite://{}/db/protocall.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n{extra}",
        dir.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_accepts_the_shipped_config() {
    let out = Command::new(BIN)
        .arg("check")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("America/Sao_Paulo"));
}

#[test]
fn check_rejects_a_broken_config_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path(), "[locale]\ntimezone = \"Nowhere/Land\"\n");
    let out = run(&["check", "--config", cfg.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("locale.timezone") && err.contains("line 6"),
        "{err}"
    );
    let out = run(&["check", "--config", "/nonexistent/protocall.toml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/protocall.toml"));
}

#[test]
fn token_consultant_and_import_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path(), "");
    let cfg = cfg.to_str().unwrap();
    let out = run(&["migrate", "--config", cfg], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("db/protocall.db").exists());

    let out = run(&["token", "create", "--name", "ops", "--config", cfg], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(token.starts_with("pc_") && token.len() == 67, "{token}");
    let out = run(&["token", "create", "--name", "ops", "--config", cfg], None);
    assert_eq!(out.status.code(), Some(1), "duplicate names are refused");

    let out = run(
        &[
            "consultant",
            "add",
            "--name",
            "Ana",
            "--username",
            "ana",
            "--config",
            cfg,
        ],
        Some("s3cret-pass\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\"sip_username\": \"ana\"") && !stdout.contains("s3cret"));
    let out = run(
        &[
            "consultant",
            "add",
            "--name",
            "Bo",
            "--username",
            "bo",
            "--config",
            cfg,
        ],
        Some(""),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("password"));

    let csv = dir.path().join("providers.csv");
    std::fs::write(
        &csv,
        "provider,consulting,number\nNetSul,sim,(11) 98765-4321\n",
    )
    .unwrap();
    let out = run(&["import", csv.to_str().unwrap(), "--config", cfg], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"imported\": true"));
    std::fs::write(&csv, "provider,consulting,number\nX,sim,12\n").unwrap();
    let out = run(&["import", csv.to_str().unwrap(), "--config", cfg], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("\"line\": 2"));
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["check", "--help"],
        vec!["import", "--help"],
        vec!["consultant", "add", "--help"],
        vec!["token", "create", "--help"],
    ] {
        let out = run(&args, None);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn check_validates_dialplans_naming_file_rule_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("plans");
    std::fs::create_dir(&plans).unwrap();
    std::fs::write(
        plans.join("default.toml"),
        "[[rule]]\nname = \"broken\"\nsteps = [ { action = \"ura\", ring_seconds = 0 } ]\n",
    )
    .unwrap();
    let cfg = config_in(
        dir.path(),
        &format!("[routing]\ndialplans = \"{}\"\n", plans.display()),
    );
    let out = run(&["check", "--config", cfg.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("default.toml") && err.contains("broken") && err.contains("ring_seconds"),
        "{err}"
    );
    std::fs::write(
        plans.join("default.toml"),
        "[[rule]]\nname = \"all\"\nsteps = [ { action = \"ura\" } ]\n",
    )
    .unwrap();
    let out = run(&["check", "--config", cfg.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("dialplan OK"));
}

/// Nothing secret in the logs: a calendar feed's token travels in its URL,
/// and the request log keeps the path only. (`curl -f`: the feed answers
/// 200, so the feed token really opened it.)
#[test]
fn request_logs_leave_tokens_out() {
    let dir = tempfile::tempdir().unwrap();
    let free = || {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (sip, http) = (free(), free());
    let cfg = config_in(
        dir.path(),
        &format!(
            "[sip]\nlisten = \"127.0.0.1:{sip}\"\n[tracking]\njournal_dir = \"{}/journal\"\n\
             [log]\nlevel = \"debug\"\n[routing]\ndialplans = \"{}/dialplans\"\n",
            dir.path().display(),
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    let text_cfg = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{http}"));
    std::fs::write(&cfg, text_cfg).unwrap();
    let cfg = cfg.to_str().unwrap();
    let out = run(
        &[
            "consultant",
            "add",
            "--name",
            "Ana",
            "--username",
            "ana",
            "--config",
            cfg,
        ],
        Some("s3cret-pass\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["token", "feed", "ana", "--config", cfg], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    // Killed and reaped on drop, also when a wait below fails.
    let daemon = crate::support::daemon::Owned(
        Command::new(BIN)
            .args(["serve", "--config", cfg])
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{http}/api/consultants/1/calendar.ics?token={token}");
    // Generous: a loaded CI machine runs other daemons beside this one.
    crate::support::wait_until_blocking(
        "the daemon answering the calendar feed",
        std::time::Duration::from_secs(30),
        || {
            Command::new("curl")
                .args(["-sf", "-o", "/dev/null", &url])
                .output()
                .is_ok_and(|out| out.status.success())
        },
    );
    // The request's log line is written as it is answered: wait for it
    // whole.
    let log = dir.path().join("log");
    crate::support::wait_until_blocking(
        "the calendar request's line reaching the log",
        std::time::Duration::from_secs(10),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .split_inclusive('\n')
                .any(|l| l.ends_with('\n') && l.contains("/api/consultants/1/calendar.ics"))
        },
    );
    drop(daemon);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("/api/consultants/1/calendar.ics"),
        "{logged}"
    );
    assert!(!logged.contains(&token), "the token was logged: {logged}");
    // The person behind the token is named instead, in plain text: a log
    // written to a file carries no terminal colour codes.
    assert!(
        !logged.contains('\u{1b}'),
        "colour codes in a file: {logged}"
    );
    assert!(logged.contains("person=ana"), "{logged}");
}

#[test]
fn check_reads_the_tls_certificate_and_key_as_serve_would() {
    let dir = tempfile::tempdir().unwrap();
    let one = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, one.cert.pem()).unwrap();
    std::fs::write(&key, one.key_pair.serialize_pem()).unwrap();
    let tls = format!(
        "[sip]\nadvertised_host = \"sip.example.com\"\n[sip.tls]\nlisten = \"127.0.0.1:5061\"\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let cfg = config_in(dir.path(), &tls);
    let out = run(&["check", "--config", cfg.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("TLS OK") && said.contains("sip.example.com"),
        "{said}"
    );

    // The key of another certificate: refused, naming the section.
    std::fs::write(&key, other.key_pair.serialize_pem()).unwrap();
    let out = run(&["check", "--config", cfg.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("sip.tls") && err.contains("key.pem"), "{err}");

    // A missing certificate file is named.
    std::fs::remove_file(&cert).unwrap();
    let out = run(&["check", "--config", cfg.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cert.pem"),
        "{}",
        text(&out.stderr)
    );
}
