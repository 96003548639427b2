//! The seeded weeks' building blocks, shared by `tests/reports/report_weekly.rs`
//! and `tests/reports/report_rules.rs`: São Paulo wall-clock times of week 47 of
//! 2026, consultants, tasks and calls written as the desk would, and the
//! report's rows read back.

use protocall::store::{CallContact, Write};
use serde_json::{json, Value};

use crate::support::{json, TestApp};

/// UTC milliseconds of a São Paulo wall-clock time (UTC−3, no DST).
pub fn sp(day: u32, h: u32, m: u32) -> i64 {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2026, 11, day, h, m, 0)
        .unwrap()
        .timestamp_millis()
        + 3 * 3600 * 1000
}

pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub async fn consultant(app: &TestApp, user: &str) -> i64 {
    json(
        app.post(
            "/api/consultants",
            json!({"name": user, "sip_username": user.to_lowercase(), "password": "correct horse"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

pub async fn task(app: &TestApp, who: i64, cat: &str, from: i64, to: i64, protocol: Option<i64>) {
    json(
        app.post(
            "/api/tasks",
            json!({"consultant_id": who, "category": cat, "started_at": iso(from),
                   "ended_at": iso(to), "protocol_id": protocol}),
        )
        .await,
        201,
    )
    .await;
}

pub fn call(n: u32, who: i64, status: &str, rang: i64, wait_s: i64, talk_s: Option<i64>) -> Write {
    Write::Contact(CallContact {
        call_id: format!("seed-{n}"),
        from_tag: "t".into(),
        direction: "inbound".into(),
        status: status.into(),
        reason: (status != "done").then(|| "busy".into()),
        consultant_id: Some(who),
        provider_id: None,
        provider_user_id: None,
        protocol_id: None,
        rang_at_ms: rang,
        started_at_ms: talk_s.map(|_| rang + wait_s * 1000),
        ended_at_ms: Some(rang + wait_s * 1000 + talk_s.unwrap_or(0) * 1000),
        wait_ms: Some(wait_s * 1000),
        flag: None,
    })
}

/// Rows of a section for one consultant (None: the team row).
pub fn rows<'a>(r: &'a Value, section: &str, who: Option<i64>) -> Vec<&'a Value> {
    r[section]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["consultant_id"].as_i64() == who)
        .collect()
}

pub fn find<'a>(rows: &[&'a Value], key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|x| x[key] == value)
        .unwrap_or_else(|| panic!("no {key} = {value} in {rows:?}"))
}

/// The week in a format, in the language `accept` asks for (none: the
/// configured one): content type, `Content-Language` and the bytes.
pub async fn report_as(
    app: &TestApp,
    format: &str,
    accept: Option<&str>,
) -> (String, Option<String>, Vec<u8>) {
    // A client without a language of its own (the harness's asks for
    // English), so the shipped default shows.
    let mut req = reqwest::Client::new()
        .get(app.url(&format!(
            "/api/reports/weekly?week=2026-W47&schedule_week=2026-W48&format={format}"
        )))
        .bearer_auth(&app.token);
    if let Some(a) = accept {
        req = req.header("accept-language", a);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{format}");
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    let lang = r
        .headers()
        .get("content-language")
        .map(|v| v.to_str().unwrap().to_string());
    (ctype, lang, r.bytes().await.unwrap().to_vec())
}

pub async fn exec(url: &str, sqls: &[String]) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        for s in sqls {
            sqlx::Executor::execute(&mut c, s.as_str()).await.unwrap();
        }
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        for s in sqls {
            sqlx::Executor::execute(&mut c, s.as_str()).await.unwrap();
        }
    }
}
