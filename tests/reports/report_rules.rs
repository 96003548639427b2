//! The counting rules of the weekly report, each on a small week worked
//! out by hand (week 47 of 2026, São Paulo), on SQLite and PostgreSQL: a
//! minute counted once, a meeting counted with its real times, a reopened
//! protocol judged at its last close, a call-back closed by the call that
//! returned it.

use crate::report_checks;
use crate::support;

use protocall::store::{CallContact, Write};
use report_checks::seed::{call, consultant, exec, find, iso, report_as, rows, sp, task};
use serde_json::{json, Value};
use support::{json, Backend, TestApp};

on_every_backend!(
    a_timer_across_calls_is_counted_once,
    a_meeting_counts_its_real_times_not_its_plan,
    a_reopened_protocol_counts_at_its_last_close,
    a_call_back_closed_by_a_call,
);

/// An answered inbound call of `who` talking from `start` for `talk_s`
/// seconds, after 10 s of ringing.
fn answered_call(n: u32, who: i64, start: i64, talk_s: i64) -> Write {
    call(n, who, "done", start - 10_000, 10, Some(talk_s))
}

/// Minutes of the rows of `section` (items 1 and 2) for one consultant.
fn minutes_of(r: &Value, section: &str, who: i64) -> i64 {
    rows(r, section, Some(who))
        .iter()
        .map(|x| x["minutes"].as_i64().unwrap())
        .sum()
}

/// The accounting rule (issue 13) on a week worked out by hand: a
/// documentation timer runs through two calls and a chat, another across
/// the week's start through a call across midnight. A minute is counted
/// once: contacts beat tasks, the later-started contact beats the earlier;
/// items 1–4, 7 and 9 agree, and attendance counts in the work plan.
async fn a_timer_across_calls_is_counted_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "Ana").await;
    let bia = consultant(&app, "Bia").await;

    // Ana, Monday 16: documentation 09:00–12:00; call A 09:30–09:40 and
    // call B 10:00–10:20; a chat 10:10–10:50 (call B still running).
    // Across the week's start: documentation Sunday 23:30 – Monday 00:30
    // through call C, Sunday 23:50 – Monday 00:10.
    task(
        &app,
        ana,
        "documentation",
        sp(16, 9, 0),
        sp(16, 12, 0),
        None,
    )
    .await;
    task(
        &app,
        ana,
        "documentation",
        sp(15, 23, 30),
        sp(16, 0, 30),
        None,
    )
    .await;
    app.store
        .write_batch(&[
            answered_call(1, ana, sp(16, 9, 30), 600),
            answered_call(2, ana, sp(16, 10, 0), 1200),
            answered_call(3, ana, sp(15, 23, 50), 1200),
        ])
        .await
        .unwrap();
    json(
        app.post(
            "/api/contacts",
            json!({"consultant_id": ana, "channel": "chat", "started_at": iso(sp(16, 10, 10)), "ended_at": iso(sp(16, 10, 50))}),
        )
        .await,
        201,
    )
    .await;
    // Bia's GIN at the same hour as Ana's calls: consultants share nothing.
    task(&app, bia, "gin", sp(16, 10, 0), sp(16, 11, 0), None).await;

    // Attendance is a plan category, no task's.
    let refused = json(
        app.post(
            "/api/tasks",
            json!({"consultant_id": ana, "category": "attendance", "started_at": iso(sp(17, 9, 0)), "ended_at": iso(sp(17, 10, 0))}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(refused["error"]["code"], "invalid_field");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("contact"),
        "{refused}"
    );
    let put = |path: String, body: Value| {
        app.client
            .put(app.url(&path))
            .bearer_auth(&app.token)
            .json(&body)
            .send()
    };
    for (week, items) in [
        (
            "2026-W47",
            json!([{"category": "documentation", "hours": 3}, {"category": "attendance", "hours": 1}]),
        ),
        (
            "2026-W48",
            json!([{"category": "attendance", "hours": 4}, {"category": "documentation", "hours": 2}]),
        ),
    ] {
        json(
            put(
                format!("/api/workplans/{ana}/{week}"),
                json!({ "items": items }),
            )
            .await
            .unwrap(),
            200,
        )
        .await;
    }
    // The schedule places the documentation only; the four hours of
    // attendance fit beside it and are kept free for contacts.
    let placed = json(
        app.post("/api/schedule", json!({"week": "2026-W48"})).await,
        200,
    )
    .await;
    let week = placed
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["consultant_id"] == ana)
        .unwrap();
    assert_eq!(week["planned_minutes"], 360, "{week}");
    assert_eq!(week["placed_minutes"], 120, "{week}");
    assert_eq!(week["reserved_minutes"], 240, "{week}");
    assert_eq!(week["unfit"].as_array().unwrap().len(), 0, "{week}");
    assert!(week["placed"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["category"] == "documentation"));

    let r = json(
        app.get("/api/reports/weekly?week=2026-W47&schedule_week=2026-W48")
            .await,
        200,
    )
    .await;

    // 1. Tasks. Monday's timer: 09:00–12:00 is 180 min, less call A (10),
    // call B's 10:00–10:10 (10) and the chat's 10:10–10:50 (40): 120. The
    // timer across the week's start: 00:00–00:30 in this week, less call
    // C's 00:00–00:10: 20. Documentation: 140, one task started here.
    let a1 = rows(&r, "tasks", Some(ana));
    let doc = find(&a1, "category", "documentation");
    assert_eq!(
        (doc["count"].as_i64(), doc["minutes"].as_i64()),
        (Some(1), Some(120 + 20))
    );
    assert_eq!(
        find(&rows(&r, "tasks", Some(bia)), "category", "gin")["minutes"],
        60
    );

    // 2. Contacts. The chat started after call B, so it has their shared
    // 10:10–10:20: call B counts 10, the chat all its 40. Phone: A 10 + B
    // 10 + C's 10 minutes in this week (C started last week: not counted
    // here, its minutes are).
    let c2 = rows(&r, "contacts", Some(ana));
    let phone = find(&c2, "channel", "phone");
    assert_eq!(
        (phone["count"].as_i64(), phone["minutes"].as_i64()),
        (Some(2), Some(30))
    );
    let chat = find(&c2, "channel", "chat");
    assert_eq!(
        (chat["count"].as_i64(), chat["minutes"].as_i64()),
        (Some(1), Some(40))
    );

    // 3. Realised: the union of Ana's time in the week, 00:00–00:30 and
    // 09:00–12:00 = 210 (adding tasks and contacts whole gave 290: tasks
    // 180 + 30, contacts 10 + 20 + 10 + 40), and items 1 and 2 add up to
    // it. Bia: 60. Team: 270.
    let h_ana = rows(&r, "hours", Some(ana))[0];
    assert_eq!(h_ana["realised_minutes"], 210);
    assert_eq!(
        minutes_of(&r, "tasks", ana) + minutes_of(&r, "contacts", ana),
        210
    );
    assert_eq!(rows(&r, "hours", Some(bia))[0]["realised_minutes"], 60);
    assert_eq!(rows(&r, "hours", None)[0]["realised_minutes"], 270);

    // 4. Work plan: documentation 180 planned, 140 realised; attendance
    // (contacts) 60 planned, 70 realised (phone 30 + chat 40). The team's
    // rows are Ana's: only she has a plan and contacts.
    for who in [Some(ana), None] {
        let w4 = rows(&r, "work_plan", who);
        let d4 = find(&w4, "category", "documentation");
        assert_eq!(
            (
                d4["planned_minutes"].as_i64(),
                d4["realised_minutes"].as_i64(),
                d4["gap_minutes"].as_i64()
            ),
            (Some(180), Some(140), Some(-40))
        );
        let at = find(&w4, "category", "attendance");
        assert_eq!(
            (
                at["planned_minutes"].as_i64(),
                at["realised_minutes"].as_i64(),
                at["gap_minutes"].as_i64()
            ),
            (Some(60), Some(70), Some(10))
        );
    }

    // 5. Next week: only the documentation is a task to place.
    let s5 = rows(&r, "schedule", Some(ana))[0];
    assert_eq!(
        (
            s5["planned_minutes"].as_i64(),
            s5["placed_minutes"].as_i64(),
            s5["unfit_minutes"].as_i64()
        ),
        (Some(120), Some(120), Some(0))
    );
    assert!(r["scheduled_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["category"] != "attendance"));

    // 7. Demand: contacts 70 and tasks 200 (Ana's 140, Bia's 60) make
    // the realised 270 exactly. Forecast: offered 2 this week (A, B), 1 the week before
    // (C), none the two before: 0.75 calls at this week's AHT of
    // (600 + 1200) / 2 = 900 s = 11.25 → 11 min.
    let d = &r["demand"];
    assert_eq!(d["contact_minutes"], 70);
    assert_eq!(d["task_minutes"], 200);
    assert_eq!(d["forecast_contacts"], 0.75);
    assert_eq!(d["forecast_minutes"], 11);
    assert_eq!(d["demand_minutes"], 70 + 200 + 11);

    // 9. Evolution: this week's 270; last week holds Sunday 23:30–24:00,
    // 30 minutes once (the task's 20 and call C's 10).
    let e = r["evolution"].as_array().unwrap();
    assert_eq!(e[7]["realised_minutes"], 270);
    assert_eq!(e[7]["contacts"], 3, "A, B and the chat");
    assert_eq!(e[6]["realised_minutes"], 30);

    // The page explains the rule, in Portuguese.
    let (_, _, html) = report_as(&app, "html", None).await;
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("Contado uma vez"), "no definition");
    assert!(html.contains("Atendimento (contatos)"), "no attendance row");
}

/// Rule 3 on a meeting: Ana's meeting planned Tuesday 17 November
/// 14:00–15:00 starts late and runs over, timed 14:10–15:25 (75 min); her
/// call with a client planned Wednesday 10:00–10:30 is marked done with the
/// times she gives, 10:05–10:25 (20 min); a third, planned Thursday
/// 09:00–09:45, is still scheduled at the week's end. By hand: item 2 has
/// two done meetings of 95 min and one still scheduled; item 3 has 60 + 30 +
/// 45 = 135 planned minutes and 95 realised; item 7's contact minutes are 95.
async fn a_meeting_counts_its_real_times_not_its_plan(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "Ana").await;
    let meeting = |start: i64, end: i64| {
        json!({"consultant_id": ana, "channel": "meeting",
               "planned_start": iso(start), "planned_end": iso(end)})
    };
    let tue = json(
        app.post("/api/contacts", meeting(sp(17, 14, 0), sp(17, 15, 0)))
            .await,
        201,
    )
    .await;
    let wed = json(
        app.post("/api/contacts", meeting(sp(18, 10, 0), sp(18, 10, 30)))
            .await,
        201,
    )
    .await;
    json(
        app.post("/api/contacts", meeting(sp(19, 9, 0), sp(19, 9, 45)))
            .await,
        201,
    )
    .await;
    json(
        app.post(
            &format!("/api/contacts/{}/start", tue["id"]),
            json!({"at": iso(sp(17, 14, 10))}),
        )
        .await,
        200,
    )
    .await;
    json(
        app.post(
            &format!("/api/contacts/{}/stop", tue["id"]),
            json!({"at": iso(sp(17, 15, 25))}),
        )
        .await,
        200,
    )
    .await;
    // Done without its times is refused; with them it is counted as given.
    json(
        app.patch(
            &format!("/api/contacts/{}", wed["id"]),
            json!({"status": "done"}),
        )
        .await,
        409,
    )
    .await;
    json(
        app.patch(
            &format!("/api/contacts/{}", wed["id"]),
            json!({"status": "done", "started_at": iso(sp(18, 10, 5)), "ended_at": iso(sp(18, 10, 25))}),
        )
        .await,
        200,
    )
    .await;

    let r = json(
        app.get("/api/reports/weekly?week=2026-W47&schedule_week=2026-W48")
            .await,
        200,
    )
    .await;
    let mine = rows(&r, "contacts", Some(ana));
    let done = mine
        .iter()
        .find(|x| x["channel"] == "meeting" && x["status"] == "done")
        .unwrap_or_else(|| panic!("no done meetings in {mine:?}"));
    assert_eq!(done["kind"], "scheduled");
    assert_eq!(done["count"], 2, "{done}");
    assert_eq!(done["minutes"], 95, "{done}");
    let pending = mine
        .iter()
        .find(|x| x["channel"] == "meeting" && x["status"] == "scheduled")
        .unwrap_or_else(|| panic!("no pending meeting in {mine:?}"));
    assert_eq!(pending["count"], 1);
    assert_eq!(pending["minutes"], 0);
    let hours = rows(&r, "hours", Some(ana));
    assert_eq!(hours[0]["scheduled_minutes"], 135, "{hours:?}");
    assert_eq!(hours[0]["realised_minutes"], 95, "{hours:?}");
    assert_eq!(r["demand"]["contact_minutes"], 95, "{}", r["demand"]);
}

/// A reopened protocol (docs/reports.md): a reopen undoes the close, the
/// SLA judges the last close against the same deadline, and the week of a
/// reopen counts it once. Worked out by hand, week 47 of 2026 (Monday 16
/// to Sunday 22 November) and the weeks either side:
///
/// - P1 due Wednesday 18:00: closed Tuesday 10:00 (in time), reopened
///   Wednesday 09:00, closed Thursday 16:00: concluded in week 47, late;
/// - P2 due Friday 18:00: closed Tuesday 12:00, reopened Wednesday 10:00,
///   closed 11:00, reopened 13:00, closed 15:00: concluded in time,
///   reopened (once, though twice over);
/// - P3 without a deadline, Monday 09:00 to 15:00 (within the default
///   16 business hours): concluded in time, never reopened;
/// - P4 due Friday 13 November (week 46), closed in time on Thursday the
///   12th, reopened Tuesday the 17th 11:00, closed Tuesday the 24th
///   (week 48) 10:00: week 46 loses its conclusion, week 47 counts the
///   reopen, week 48 concludes it late against the deadline it always had.
///
/// Week 47: concluded 3, within 2, SLA 2/3, reopened 3. Week 46: nothing
/// concluded (no SLA). Week 48: concluded 1, within 0, reopened 0.
async fn a_reopened_protocol_counts_at_its_last_close(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "Ana").await;
    let prov = json(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "consulting": true}),
        )
        .await,
        201,
    )
    .await;
    // (opened, deadline, [close, reopen, close, ...]) as they happened.
    let lives: [(i64, Option<i64>, Vec<i64>); 4] = [
        (
            sp(16, 9, 0),
            Some(sp(18, 18, 0)),
            vec![sp(17, 10, 0), sp(18, 9, 0), sp(19, 16, 0)],
        ),
        (
            sp(16, 9, 0),
            Some(sp(20, 18, 0)),
            vec![
                sp(17, 12, 0),
                sp(18, 10, 0),
                sp(18, 11, 0),
                sp(18, 13, 0),
                sp(18, 15, 0),
            ],
        ),
        (sp(16, 9, 0), None, vec![sp(16, 15, 0)]),
        (
            sp(9, 9, 0),
            Some(sp(13, 18, 0)),
            vec![sp(12, 10, 0), sp(17, 11, 0), sp(24, 10, 0)],
        ),
    ];
    let mut sqls = Vec::new();
    for (opened, due, steps) in &lives {
        let id = json(
            app.post(
                "/api/protocols",
                json!({"provider_id": prov["id"], "owner_id": ana, "category": "incident",
                       "due_at": due.map(iso)}),
            )
            .await,
            201,
        )
        .await["id"]
            .as_i64()
            .unwrap();
        // Through the API, as the desk would; the clock is set after.
        for (i, _) in steps.iter().enumerate() {
            let verb = if i % 2 == 0 { "close" } else { "reopen" };
            json(
                app.post(&format!("/api/protocols/{id}/{verb}"), json!({}))
                    .await,
                200,
            )
            .await;
        }
        let last = steps[steps.len() - 1];
        sqls.push(format!(
            "UPDATE protocols SET opened_at = {opened}, closed_at = {last} WHERE id = {id}"
        ));
        // The reopens in order, each with the close it undid.
        for (n, pair) in steps.chunks(2).enumerate() {
            if let [closed, reopened] = pair {
                sqls.push(format!(
                    "UPDATE protocol_reopens SET reopened_at = {reopened}, closed_at = {closed} \
                     WHERE id = (SELECT id FROM protocol_reopens WHERE protocol_id = {id} \
                     ORDER BY id LIMIT 1 OFFSET {n})"
                ));
            }
        }
    }
    exec(&app.db_url, &sqls).await;

    let week = |w: &str| {
        let app = &app;
        let w = w.to_string();
        async move { json(app.get(&format!("/api/reports/weekly?week={w}")).await, 200).await }
    };
    let r = week("2026-W47").await;
    let s = &r["sla"];
    assert_eq!(
        (
            s["concluded"].as_i64(),
            s["within_deadline"].as_i64(),
            s["reopened"].as_i64()
        ),
        (Some(3), Some(2), Some(3)),
        "{s}"
    );
    assert!((s["ratio"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let e = r["evolution"].as_array().unwrap();
    assert_eq!(e[7]["week"], "2026-W47");
    assert!((e[7]["sla"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(e[6]["week"], "2026-W46");
    assert!(e[6]["sla"].is_null(), "P4's close in week 46 was undone");
    let r46 = week("2026-W46").await;
    assert_eq!(
        (
            r46["sla"]["concluded"].as_i64(),
            r46["sla"]["reopened"].as_i64()
        ),
        (Some(0), Some(0))
    );
    let r48 = week("2026-W48").await;
    assert_eq!(
        (
            r48["sla"]["concluded"].as_i64(),
            r48["sla"]["within_deadline"].as_i64(),
            r48["sla"]["reopened"].as_i64()
        ),
        (Some(1), Some(0), Some(0)),
        "P4, late against the deadline it always had"
    );
    // The column is in every table of the item, in both languages.
    let (_, _, en_csv) = report_as(&app, "csv", Some("en")).await;
    let en_csv = String::from_utf8(en_csv).unwrap();
    assert!(en_csv.contains("Reopened"), "{en_csv}");
    let (_, _, pt_csv) = report_as(&app, "csv", None).await;
    assert!(String::from_utf8(pt_csv).unwrap().contains("Reabertos"));
}

/// One call of the call-back week, as the call log journals it: the call
/// log's row, then the contact (at the answer, then at the end).
fn logged_call(
    name: &str,
    who: i64,
    provider: i64,
    rang: i64,
    wait_s: i64,
    talk_s: Option<i64>,
) -> Vec<Write> {
    use protocall::store::CallRow;
    let answered = talk_s.map(|_| rang + wait_s * 1000);
    let ended = rang + wait_s * 1000 + talk_s.unwrap_or(0) * 1000;
    let row = CallRow {
        call_id: name.into(),
        from_tag: "t".into(),
        direction: "inbound".into(),
        from_uri: "sip:11987654321@carrier".into(),
        to_uri: "sip:4000@desk".into(),
        caller_number: Some("+5511987654321".into()),
        caller_class: "consulting".into(),
        provider_id: Some(provider),
        provider_user_id: None,
        protocol_id: None,
        consultant_id: answered.map(|_| who),
        consultant: answered.map(|_| "ana".into()),
        rule: "consulting-without-protocol".into(),
        route: "owner".into(),
        outcome: Some(
            if answered.is_some() {
                "answered"
            } else {
                "busy"
            }
            .into(),
        ),
        final_code: Some(if answered.is_some() { 200 } else { 486 }),
        started_at_ms: rang,
        ringing_at_ms: Some(rang),
        answered_at_ms: answered,
        ended_at_ms: Some(ended),
        ended_by: Some("caller".into()),
        detail: "{}".into(),
    };
    let contact = |status: &str, ended_at_ms: Option<i64>| {
        Write::Contact(CallContact {
            call_id: name.into(),
            from_tag: "t".into(),
            direction: "inbound".into(),
            status: status.into(),
            reason: answered.is_none().then(|| "busy".into()),
            consultant_id: Some(who),
            provider_id: Some(provider),
            provider_user_id: None,
            protocol_id: None,
            rang_at_ms: rang,
            started_at_ms: answered,
            ended_at_ms,
            wait_ms: Some(wait_s * 1000),
            flag: None,
        })
    };
    match answered {
        Some(_) => vec![
            Write::Call(row),
            contact("open", None),
            contact("done", Some(ended)),
        ],
        None => vec![
            Write::Call(row),
            contact("missed", Some(ended)),
            Write::Callback(protocall::store::NewCallback {
                call_id: name.into(),
                from_tag: "t".into(),
                consultant_id: who,
                provider_id: Some(provider),
                protocol_id: None,
                caller_number: Some("+5511987654321".into()),
                reason: "busy".into(),
                created_at_ms: ended,
                due_at_ms: rang + 10 * 60_000,
            }),
        ],
    }
}

/// Week 47 again, with call-backs only: Monday 10:00 NetSul calls, Ana is
/// busy (missed, 20 s of ringing): a call-back due 10:10, planned 10:10 to
/// 10:25. At 10:30 NetSul calls again and Ana answers after 10 s and
/// talks 12 minutes: the call-back is done, closed at 10:30:10, and the
/// conversation is its scheduled contact, done with the call's times.
/// Tuesday 09:00 NetSul calls and Ana misses it again: a call-back still
/// open when the week ends (planned 09:10 to 09:25).
///
/// By hand: contacts (item 2) for Ana: scheduled phone done 1 (12 min),
/// triggered phone missed 2, scheduled phone scheduled 1, and no
/// triggered phone done (the conversation is counted once); hours (item
/// 3): scheduled 15 + 15 = 30, realised 12; demand: contacts 12 minutes,
/// 1 open call-back (15 min); phone: offered 3, answered 1, ASA 10 s, AHT
/// 720 s.
async fn a_call_back_closed_by_a_call(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "Ana").await;
    let prov = json(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "consulting": true}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let mut writes = logged_call("w47-miss-1", ana, prov, sp(16, 10, 0), 20, None);
    writes.extend(logged_call(
        "w47-again",
        ana,
        prov,
        sp(16, 10, 30),
        10,
        Some(720),
    ));
    writes.extend(logged_call("w47-miss-2", ana, prov, sp(17, 9, 0), 20, None));
    let summary = app.store.write_batch(&writes).await.unwrap();
    assert_eq!(summary.callbacks_created, 2);
    assert_eq!(summary.callbacks_closed, 1);
    // The call-back list says the same as the report.
    let cbs = json(app.get("/api/callbacks").await, 200).await;
    let status: Vec<_> = cbs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["status"].as_str().unwrap(), c["closed_at"].clone()))
        .collect();
    assert_eq!(
        status,
        [
            ("done", json!("2026-11-16T10:30:10-03:00")),
            ("pending", Value::Null)
        ]
    );

    let r = json(app.get("/api/reports/weekly?week=2026-W47").await, 200).await;
    // 2. Contacts.
    let c2 = rows(&r, "contacts", Some(ana));
    let key = |x: &&Value| {
        (
            x["kind"].as_str().unwrap().to_string(),
            x["channel"].as_str().unwrap().to_string(),
            x["status"].as_str().unwrap().to_string(),
            x["count"].as_i64().unwrap(),
            x["minutes"].as_i64().unwrap(),
        )
    };
    let mut got: Vec<_> = c2.iter().map(key).collect();
    got.sort();
    let want = |k: &str, s: &str, n: i64, m: i64| (k.into(), "phone".into(), s.into(), n, m);
    assert_eq!(
        got,
        vec![
            want("scheduled", "done", 1, 12),
            want("scheduled", "scheduled", 1, 0),
            want("triggered", "missed", 2, 0),
        ],
        "the conversation once, as the call-back's contact done"
    );
    // 3. Hours scheduled versus realised.
    let h = rows(&r, "hours", Some(ana))[0];
    assert_eq!(
        (
            h["scheduled_minutes"].as_i64(),
            h["realised_minutes"].as_i64()
        ),
        (Some(30), Some(12))
    );
    // 7. Demand: the open call-back at the week's end.
    let d = &r["demand"];
    assert_eq!(d["contact_minutes"], 12);
    assert_eq!(d["open_callbacks"], 1);
    assert_eq!(d["open_callback_minutes"], 15);
    // 8. The phone: the answered call is still an offered, answered call.
    let s = &r["sla"];
    assert_eq!(s["offered"], 3);
    assert_eq!(s["answered"], 1);
    assert_eq!(s["abandoned"], 0);
    assert_eq!(s["asa_seconds"], 10.0);
    assert_eq!(s["aht_seconds"], 720.0);
}
