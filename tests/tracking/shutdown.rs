//! SIGTERM under load: the daemon stops taking work, finishes what it
//! holds (the call log, the journal's drain, its background tasks), closes
//! the store and exits 0 within seconds; on the next start every call it
//! logged is there once and ended (calls cut by the stop are closed then),
//! and nothing is lost.
//!
//! The load is SIPp's: a caller the directory does not know, at 40 calls a
//! second, each routed to the URA (a SIPp UAS) and hung up after 300 ms.

use crate::support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::daemon::{free_port, Daemon, Owned};

const REQUIRE: &str = "PROTOCALL_TEST_REQUIRE_SIPP";

fn sipp_installed() -> bool {
    Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn sipp(args: &[&str]) -> Child {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp");
    Command::new("sipp")
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn calls(d: &Daemon, token: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/api/calls?limit=500", d.http))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn sigterm_under_load_drains_and_exits_cleanly() {
    if !sipp_installed() {
        assert!(
            std::env::var_os(REQUIRE).is_none(),
            "{REQUIRE} is set but sipp is not installed"
        );
        eprintln!("sipp not installed (apt-get install sip-tester): SIGTERM test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ura_port = free_port();
    let d = Daemon::desk(dir.path(), &format!("sip:ura@127.0.0.1:{ura_port}"));
    let token = d.token();
    let mut daemon = d.start().await;
    let ura_port = ura_port.to_string();
    let _ura = Owned(sipp(&[
        "-sf",
        "uas.xml",
        "-i",
        "127.0.0.1",
        "-p",
        &ura_port,
        "-m",
        "400",
        "-timeout",
        "60s",
        "-nostdin",
    ]));
    let target = d.sip.to_string();
    let _load = Owned(sipp(&[
        "-sf",
        "uac.xml",
        &target,
        "-i",
        "127.0.0.2",
        "-p",
        "0",
        "-s",
        "4000",
        "-key",
        "caller",
        "011912345678",
        "-r",
        "40",
        "-m",
        "400",
        "-d",
        "300",
        "-timeout",
        "60s",
        "-nostdin",
    ]));

    // Under load: calls logged, more in flight.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = calls(&d, &token).await;
        if v["total"].as_i64().unwrap_or(0) >= 40 {
            break;
        }
        assert!(Instant::now() < deadline, "no load reached the daemon: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&daemon, "TERM");
    let stopped = Instant::now();
    let status = loop {
        if let Some(s) = daemon.try_wait().unwrap() {
            break s;
        }
        if stopped.elapsed() > Duration::from_secs(15) {
            let _ = daemon.kill();
            panic!("still running 15 s after SIGTERM:\n{}", d.log_text());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit {status:?}:\n{}", d.log_text());
    let log = d.log_text();
    assert!(log.contains("protocall stopped"), "{log}");
    assert!(!log.contains("panicked"), "{log}");

    // The next start finds every call once, each ended.
    drop(_load);
    let mut daemon = d.start().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let v = loop {
        let v = calls(&d, &token).await;
        let items = v["items"].as_array().cloned().unwrap_or_default();
        if items.iter().all(|c| !c["ended_at"].is_null()) {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "calls left open after the restart: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let items = v["items"].as_array().unwrap();
    assert!(items.len() >= 40, "{v}");
    let mut ids: Vec<_> = items.iter().map(|c| c["call_id"].to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), items.len(), "a call logged twice: {v}");
    signal(&daemon, "TERM");
    let _ = daemon.wait();
}
