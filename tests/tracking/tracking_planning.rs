//! The week ahead, on SQLite and PostgreSQL: work plans placed around a
//! fixed meeting, a holiday (the shipped dialplan's 25 December) and an
//! absence, deterministically and without overlaps; plans copied to the
//! next week; the calendar feed parsed back.

use crate::support;

use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use serde_json::{json, Value};
use support::{json, Backend, TestApp};

on_every_backend!(
    schedule_places_the_plan_around_fixed_time_and_feeds_the_calendar,
    email_duty_becomes_reserved_reading_slots,
);

async fn consultant(app: &TestApp, user: &str) -> i64 {
    json(
        app.post(
            "/api/consultants",
            json!({"name": user, "sip_username": user, "password": "correct horse"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

fn t(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap()
}

async fn put(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The process reads e-mail in reserved slots: the roster's e-mail duty
/// (weekly slots and a dated exception) becomes scheduled "email" tasks at
/// exactly those times, never on a holiday, and the plan goes around them.
async fn email_duty_becomes_reserved_reading_slots(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana").await;
    let bia = consultant(&app, "bia").await;
    let slot = |day: &str, hours: &str, who: i64| json!({"channel": "email", "weekday": day, "hours": hours, "consultant_id": who});
    json(
        put(
            &app,
            "/api/duty",
            json!({"slots": [
                slot("mon", "09:00-10:00", ana),
                slot("wed", "09:00-10:00", bia),
                // Friday 25 December 2026 is a holiday: no slot placed.
                slot("fri", "09:00-10:00", ana),
                {"channel": "chat", "weekday": "tue", "hours": "09:00-12:00", "consultant_id": ana}
            ]}),
        )
        .await,
        200,
    )
    .await;
    // Bia is away on Wednesday afternoon's reading: Ana covers it.
    json(
        app.post(
            "/api/duty/exceptions",
            json!({"channel": "email", "day": "2026-12-23", "hours": "09:00-10:00", "consultant_id": ana}),
        )
        .await,
        201,
    )
    .await;
    json(
        put(
            &app,
            &format!("/api/workplans/{ana}/2026-W52"),
            json!({"items": [{"category": "documentation", "hours": 40}]}),
        )
        .await,
        200,
    )
    .await;
    let weeks = json(
        app.post("/api/schedule", json!({"week": "2026-W52"})).await,
        200,
    )
    .await;
    let a = weeks
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["consultant_id"] == ana)
        .unwrap()
        .clone();
    let placed = a["placed"].as_array().unwrap();
    let email: Vec<(String, String)> = placed
        .iter()
        .filter(|p| p["category"] == "email")
        .map(|p| {
            (
                p["start"].as_str().unwrap().into(),
                p["end"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        email,
        [
            (
                "2026-12-21T09:00:00-03:00".into(),
                "2026-12-21T10:00:00-03:00".into()
            ),
            (
                "2026-12-23T09:00:00-03:00".into(),
                "2026-12-23T10:00:00-03:00".into()
            ),
        ],
        "{a}"
    );
    for p in placed.iter().filter(|p| p["category"] != "email") {
        for (s, e) in &email {
            let (s, e) = (t(&json!(s)), t(&json!(e)));
            assert!(t(&p["end"]) <= s || t(&p["start"]) >= e, "over a slot: {p}");
        }
    }
    assert_eq!(a["planned_minutes"], 40 * 60 + 120);
    // Counted like any task: the two slots are scheduled tasks.
    let tasks = json(
        app.get(&format!("/api/tasks?consultant_id={ana}&category=email"))
            .await,
        200,
    )
    .await;
    assert_eq!(tasks["total"], 2, "{tasks}");
    // Bia reads nothing this week: her Wednesday went to Ana.
    let w = weeks.as_array().unwrap();
    let b = w.iter().find(|w| w["consultant_id"] == bia).unwrap();
    assert!(b["placed"].as_array().unwrap().is_empty(), "{b}");
}

async fn schedule_places_the_plan_around_fixed_time_and_feeds_the_calendar(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana").await;
    let bia = consultant(&app, "bia").await;
    let room = json(
        app.post("/api/rooms", json!({"name": "Sala Azul"})).await,
        201,
    )
    .await;
    // Week 52 of 2026: Monday 21 to Sunday 27 December; the 25th is a
    // holiday in the shipped dialplan.
    let meeting = json(
        app.post(
            "/api/contacts",
            json!({"consultant_id": ana, "channel": "meeting", "room_id": room["id"],
                   "agenda": "Planning, 2027", "participants": [bia],
                   "planned_start": "2026-12-22T14:00:00-03:00", "planned_end": "2026-12-22T15:30:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    let plan = json(
        put(
            &app,
            &format!("/api/workplans/{ana}/2026-W52"),
            json!({"items": [
                {"category": "documentation", "hours": 10},
                {"category": "gin", "hours": 12},
                {"category": "review", "hours": 14}
            ]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(plan.as_array().unwrap().len(), 3);
    json(
        put(
            &app,
            &format!("/api/workplans/{bia}/2026-W52"),
            json!({"items": [{"category": "gin", "hours": 20}]}),
        )
        .await,
        200,
    )
    .await;
    json(
        app.post(
            "/api/absences",
            json!({"consultant_id": bia, "first_day": "2026-12-21", "last_day": "2026-12-22", "reason": "leave"}),
        )
        .await,
        201,
    )
    .await;
    // Bad plans change nothing.
    json(
        put(
            &app,
            &format!("/api/workplans/{ana}/2026-W52"),
            json!({"items": [{"category": "naps", "hours": 2}]}),
        )
        .await,
        409,
    )
    .await;
    json(
        put(
            &app,
            &format!("/api/workplans/{ana}/2026-W54"),
            json!({"items": []}),
        )
        .await,
        400,
    )
    .await;

    let weeks = json(
        app.post("/api/schedule", json!({"week": "2026-W52"})).await,
        200,
    )
    .await;
    let weeks = weeks.as_array().unwrap().clone();
    assert_eq!(weeks.len(), 2);
    let a = weeks.iter().find(|w| w["consultant_id"] == ana).unwrap();
    // 4 working days × 8 h, minus the 1.5 h meeting.
    assert_eq!(a["capacity_minutes"], 4 * 480 - 90);
    assert_eq!(a["planned_minutes"], 36 * 60);
    assert_eq!(a["placed_minutes"], 4 * 480 - 90);
    let unfit: i64 = a["unfit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["minutes"].as_i64().unwrap())
        .sum();
    assert_eq!(unfit, 36 * 60 - (4 * 480 - 90));
    let (m_start, m_end) = (t(&meeting["planned_start"]), t(&meeting["planned_end"]));
    let mut blocks: Vec<(DateTime<FixedOffset>, DateTime<FixedOffset>)> = Vec::new();
    for p in a["placed"].as_array().unwrap() {
        let (s, e) = (t(&p["start"]), t(&p["end"]));
        assert!(s < e);
        assert_ne!(s.day(), 25, "the holiday is free: {p}");
        assert!(s.weekday().num_days_from_monday() < 5, "weekdays only: {p}");
        assert!(e <= m_start || s >= m_end, "around the meeting: {p}");
        // Inside 08:00–12:00 or 13:00–17:00.
        let (sm, em) = (s.hour() * 60 + s.minute(), e.hour() * 60 + e.minute());
        assert!(
            (480..=720).contains(&sm) && em <= 720 || (780..=1020).contains(&sm) && em <= 1020,
            "{p}"
        );
        for (s2, e2) in &blocks {
            assert!(e <= *s2 || s >= *e2, "blocks overlap: {p}");
        }
        blocks.push((s, e));
    }
    let bw = weeks.iter().find(|w| w["consultant_id"] == bia).unwrap();
    assert_eq!(
        bw["capacity_minutes"],
        2 * 480,
        "absent Mon–Tue, holiday Fri"
    );
    assert_eq!(bw["placed_minutes"], 16 * 60);
    // The schedule wrote planned tasks; a rerun replaces them, identically.
    let tasks = json(
        app.get(&format!(
            "/api/tasks?consultant_id={ana}&week=2026-W52&source=schedule"
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(
        tasks["total"].as_i64().unwrap() as usize,
        a["placed"].as_array().unwrap().len()
    );
    let again = json(
        app.post(
            "/api/schedule",
            json!({"week": "2026-W52", "consultant_id": ana}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(again[0]["placed"], a["placed"]);
    let tasks2 = json(
        app.get(&format!(
            "/api/tasks?consultant_id={ana}&week=2026-W52&source=schedule"
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(tasks2["total"], tasks["total"]);
    // Copy to the next week: 2026 has 53 ISO weeks.
    let copied = json(
        app.post("/api/workplans/copy", json!({"from_week": "2026-W52"}))
            .await,
        200,
    )
    .await;
    assert_eq!(copied.as_array().unwrap().len(), 4);
    assert!(copied
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["week"] == "2026-W53"));
    // Working hours of one's own.
    let h = json(
        put(
            &app,
            &format!("/api/consultants/{bia}/hours"),
            json!({"fri": ["09:00-13:00"]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(h["fri"], json!(["09:00-13:00"]));
    assert_eq!(h["mon"], json!(["08:00-12:00", "13:00-17:00"]));
    json(
        put(
            &app,
            &format!("/api/consultants/{bia}/hours"),
            json!({"fri": ["13:00-09:00"]}),
        )
        .await,
        400,
    )
    .await;

    // The calendar feed, with a feed token in the URL as calendar apps need.
    let feed = json(
        app.post(&format!("/api/consultants/{ana}/feed-token"), json!({}))
            .await,
        201,
    )
    .await;
    let ics = app
        .client
        .get(app.url(feed["path"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(ics.status(), 200);
    assert!(ics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let body = ics.text().await.unwrap();
    // Read with an independent parser, as a calendar client would.
    let events = ics_events(&body);
    assert_eq!(events.len(), a["placed"].as_array().unwrap().len() + 1);
    let m = events
        .iter()
        .find(|e| e["UID"] == format!("contact-{}@protocall", meeting["id"]))
        .unwrap();
    assert_eq!(m["SUMMARY"], "Planning\\, 2027", "TEXT stays escaped");
    assert_eq!(m["LOCATION"], "Sala Azul");
    assert_eq!(
        m["DTSTART"],
        m_start
            .with_timezone(&chrono::Utc)
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    );
    // The participant sees the meeting in her feed too; without a token, 401.
    let bia_feed = app
        .client
        .get(app.url(&format!("/api/consultants/{bia}/calendar.ics")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ics_events(&bia_feed)
        .iter()
        .any(|e| e["SUMMARY"] == "Planning\\, 2027"));
    let r = app
        .client
        .get(app.url(&format!("/api/consultants/{ana}/calendar.ics?token=wrong")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn cli_schedule_prints_the_week() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let ana = consultant(&app, "ana").await;
    json(
        put(
            &app,
            &format!("/api/workplans/{ana}/2026-W50"),
            json!({"items": [{"category": "documentation", "hours": 3.5}]}),
        )
        .await,
        200,
    )
    .await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_protocall"))
        .args(["schedule", "--week", "2026-W50", "--consultant", "ana"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", &app.db_url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("3.5 h planned, 3.5 h placed"), "{text}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_protocall"))
        .args(["schedule", "--week", "2026W50"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", &app.db_url)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2026W50"));
}

/// The events of a feed as the `ical` crate reads them: one map of
/// property name to (unfolded, still escaped) value per event.
fn ics_events(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let reader = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let cals: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(cals.len(), 1);
    cals[0]
        .events
        .iter()
        .map(|e| {
            e.properties
                .iter()
                .map(|p| (p.name.clone(), p.value.clone().unwrap_or_default()))
                .collect()
        })
        .collect()
}
