//! The calendar outlives 2026: routing simulated with the shipped dialplan
//! closes the desk on national holidays of any year (computed, not listed),
//! opens it on the working days around them, and closes it on a local
//! holiday the dialplan adds; a reload brings a new local holiday in.

use crate::support;

use serde_json::json;
use support::{json, Backend, TestApp};

const DIALPLANS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans");

async fn rule_at(app: &TestApp, at: &str) -> String {
    let sim = json(
        app.post(
            "/api/routing/simulate",
            json!({"from": "011987654321", "at": at}),
        )
        .await,
        200,
    )
    .await;
    sim["rule"].as_str().unwrap().to_string()
}

async fn desk(dialplans: &str) -> TestApp {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("PROTOCALL__ROUTING__DIALPLANS", dialplans)],
    )
    .await;
    json(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "consulting": true, "numbers": ["(11) 98765-4321"]}),
        )
        .await,
        201,
    )
    .await;
    // The routing snapshot refreshes after directory writes.
    app.directory_synced().await;
    app
}

#[tokio::test]
async fn the_shipped_dialplan_closes_on_holidays_of_any_year() {
    let app = desk(DIALPLANS).await;
    // Mid-morning on weekdays, desk hours 08:00-18:00 São Paulo.
    for (day, why) in [
        ("2027-01-01", "Confraternização Universal (a Friday)"),
        ("2027-03-26", "Good Friday 2027"),
        ("2028-04-14", "Good Friday 2028"),
        ("2028-11-20", "Consciência Negra (a Monday)"),
        ("2031-12-25", "Christmas 2031 (a Thursday)"),
    ] {
        assert_eq!(
            rule_at(&app, &format!("{day}T10:00:00-03:00")).await,
            "after-hours",
            "{why}"
        );
    }
    for day in ["2027-01-04", "2027-03-25", "2028-04-13", "2028-11-21"] {
        assert_eq!(
            rule_at(&app, &format!("{day}T10:00:00-03:00")).await,
            "consulting-without-protocol",
            "{day} is a working day"
        );
    }
    // Carnival is an optional day the shipped plan does not take.
    assert_eq!(
        rule_at(&app, "2027-02-09T10:00:00-03:00").await,
        "consulting-without-protocol"
    );
}

#[tokio::test]
async fn a_local_holiday_from_the_dialplan_closes_the_desk_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(format!("{DIALPLANS}/default.toml")).unwrap();
    let with = |local: &str, optional: &str| {
        shipped
            .replace("local_holidays = []", local)
            .replace("optional_holidays = []", optional)
    };
    std::fs::write(
        dir.path().join("default.toml"),
        with("local_holidays = [\"07-09\"]", "optional_holidays = []"),
    )
    .unwrap();
    let app = desk(dir.path().to_str().unwrap()).await;
    // 9 July (São Paulo's state holiday) in 2027 and 2029, weekdays.
    assert_eq!(
        rule_at(&app, "2027-07-09T10:00:00-03:00").await,
        "after-hours"
    );
    assert_eq!(
        rule_at(&app, "2029-07-09T10:00:00-03:00").await,
        "after-hours"
    );
    assert_eq!(
        rule_at(&app, "2027-02-09T10:00:00-03:00").await,
        "consulting-without-protocol"
    );

    // Carnival chosen, then reloaded through the API: closed from now on.
    std::fs::write(
        dir.path().join("default.toml"),
        with(
            "local_holidays = [\"07-09\"]",
            "optional_holidays = [\"carnival\"]",
        ),
    )
    .unwrap();
    let r = app.post("/api/routing/reload", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        rule_at(&app, "2027-02-09T10:00:00-03:00").await,
        "after-hours"
    );
}

/// `report` and `schedule` refuse to run on a dialplan that does not load,
/// instead of counting its holidays as working days.
#[tokio::test]
async fn the_cli_stops_on_a_broken_dialplan() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("default.toml"),
        "[hours]\nmon = [\"08:00-18:00\"]\nlocal_holidays = [\"13-45\"]\n[[rule]]\nname = \"x\"\nsteps = [{ action = \"ura\" }]\n",
    )
    .unwrap();
    for args in [
        &[
            "report", "weekly", "--week", "2026-W47", "--format", "csv", "--out", "-",
        ][..],
        &["schedule", "--week", "2026-W47"][..],
    ] {
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_protocall"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", &app.db_url)
            .env("PROTOCALL__ROUTING__DIALPLANS", dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{args:?} ran: {err}");
        assert!(err.contains("does not load"), "{err}");
        assert!(
            err.contains("13-45"),
            "the error names the bad value: {err}"
        );
    }
}
