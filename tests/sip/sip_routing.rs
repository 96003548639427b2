//! The desk's routing through the real daemon: callers identified by their
//! number, the dialplan's fallback chain, the URA as last resort.

use crate::support;

use std::time::Duration;

use protocall::sip::message::Method;
use serde_json::json;
use support::desk::*;
use support::json;

#[tokio::test]
async fn consulting_client_rings_the_protocol_owner() {
    let mut d = desk().await;
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    d.ana.answer(&inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();
    d.ana.next_request_of(Method::Ack, T).await.unwrap();
    // Fixed: the conversation must genuinely last (talk_ms >= 300 below).
    tokio::time::sleep(Duration::from_millis(300)).await;
    caller.bye(&call).await.unwrap();
    let (bye, _) = d.ana.next_request_of(Method::Bye, T).await.unwrap();
    d.ana.respond(&bye, 200).await.unwrap();
    caller.expect_response(Method::Bye, 200, T).await.unwrap();

    let log = logged(&d, &call.call_id, ended).await;
    assert_eq!(log["direction"], "inbound");
    assert_eq!(log["caller_class"], "consulting");
    assert_eq!(log["caller_number"], "+5511987654321");
    assert_eq!(log["provider_id"], d.netsul_id);
    assert_eq!(log["protocol_id"], d.protocol_id);
    assert_eq!(log["rule"], "consulting-with-protocol");
    assert_eq!(log["route"], "owner");
    assert_eq!(log["outcome"], "answered");
    assert_eq!(log["consultant"], "ana");
    assert_eq!(log["consultant_id"], d.ana_id);
    assert_eq!(log["ended_by"], "caller");
    assert!(log["talk_ms"].as_i64().unwrap() >= 300, "{log}");
    assert_eq!(attempts(&log), vec![("owner".into(), "ana".into(), 200)]);
    assert!(callbacks(&d).await.is_empty(), "the owner took the call");
    let metrics = metrics(&d).await;
    assert!(
        metrics.contains("protocall_routing_decision_seconds_count 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"protocall_calls_total{direction="inbound",outcome="answered",route="owner"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn owner_busy_goes_to_the_team() {
    let mut d = desk().await;
    let mut caller = carrier(&d, "11987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    // Screen-pop: the owner's phone shows the provider and the protocol
    // it is about, in the From display name phones show, in a
    // P-Asserted-Identity we vouch for and in the Subject.
    let protocol = json(
        d.app
            .get(&format!("/api/protocols/{}", d.protocol_id))
            .await,
        200,
    )
    .await;
    let number = protocol["number"].as_str().unwrap().to_string();
    let shown = |m: &protocall::sip::message::SipMessage, h: &str| {
        m.header(h)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    let from = shown(&inv, "From");
    assert!(
        from.starts_with(&format!("\"NetSul \u{b7} {number}\" <")),
        "{from}"
    );
    let sent_from = String::from_utf8_lossy(&call.invite).into_owned();
    let tag = sent_from
        .split("tag=")
        .nth(1)
        .and_then(|t| t.split(['\r', ';']).next())
        .unwrap()
        .to_string();
    assert!(from.ends_with(&format!(";tag={tag}")), "tag kept: {from}");
    assert_eq!(
        shown(&inv, "P-Asserted-Identity"),
        format!("\"NetSul \u{b7} {number}\" <tel:+5511987654321>")
    );
    assert_eq!(shown(&inv, "Subject"), format!("Protocolo {number}"));
    d.ana.respond(&inv, 486).await.unwrap();
    let (team_inv, _) = d.bia.next_request_of(Method::Invite, T).await.unwrap();
    // A colleague's phone shows the provider; the protocol is the owner's.
    assert!(shown(&team_inv, "From").starts_with("\"NetSul\" <"));
    assert_eq!(shown(&team_inv, "Subject"), "");
    d.bia.answer(&team_inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();

    let log = logged(&d, &call.call_id, |v| v["outcome"] == "answered").await;
    assert_eq!(log["route"], "team");
    assert_eq!(log["consultant"], "bia");
    assert_eq!(log["consultant_id"], d.bia_id);
    assert_eq!(
        attempts(&log),
        vec![
            ("owner".into(), "ana".into(), 486),
            ("team".into(), "bia".into(), 200)
        ]
    );
    // The owner missed the client: a call-back is due within 10 minutes.
    let cbs = callbacks(&d).await;
    assert_eq!(cbs.len(), 1, "{cbs:?}");
    assert_eq!(cbs[0]["consultant_id"], d.ana_id);
    assert_eq!(cbs[0]["provider_id"], d.netsul_id);
    assert_eq!(cbs[0]["protocol_id"], d.protocol_id);
    assert_eq!(cbs[0]["reason"], "busy");
    assert_eq!(cbs[0]["status"], "pending");
    assert_eq!(cbs[0]["caller_number"], "+5511987654321");
    let created =
        chrono::DateTime::parse_from_rfc3339(cbs[0]["created_at"].as_str().unwrap()).unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(cbs[0]["due_at"].as_str().unwrap()).unwrap();
    let started =
        chrono::DateTime::parse_from_rfc3339(log["started_at"].as_str().unwrap()).unwrap();
    assert_eq!((due - started).num_seconds(), 600);
    assert!(created >= started);
    let m = metrics(&d).await;
    assert!(m.contains("protocall_callbacks_created_total 1"), "{m}");
    // Done once the owner has called back, with the conversation's times.
    let id = cbs[0]["id"].as_i64().unwrap();
    let back = chrono::Utc::now() - chrono::Duration::minutes(1);
    let done = json(
        d.app
            .client
            .put(d.app.url(&format!("/api/callbacks/{id}/status")))
            .bearer_auth(&d.app.token)
            .json(&json!({"status": "done",
                "started_at": (back - chrono::Duration::minutes(3)).to_rfc3339(),
                "ended_at": back.to_rfc3339()}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(done["status"], "done");
    assert!(!done["closed_at"].is_null());
    let pending = json(d.app.get("/api/callbacks?status=pending").await, 200).await;
    assert_eq!(pending["total"], 0);
}

#[tokio::test]
async fn nobody_answers_so_the_ura_takes_the_call() {
    let mut d = desk().await;
    let mut caller = carrier(&d, "11987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    // Owner rings out (2 s), the team rings out (2 s), then the URA.
    for phone in [&mut d.ana, &mut d.bia] {
        let (inv, _) = phone.next_request_of(Method::Invite, T).await.unwrap();
        phone.respond(&inv, 180).await.unwrap();
        let (cancel, _) = phone.next_request_of(Method::Cancel, T).await.unwrap();
        phone.respond(&cancel, 200).await.unwrap();
        phone.respond(&inv, 487).await.unwrap();
    }
    let (ura_inv, _) = d.ura.next_request_of(Method::Invite, T).await.unwrap();
    d.ura.answer(&ura_inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();

    let log = logged(&d, &call.call_id, |v| v["outcome"] == "answered").await;
    assert_eq!(log["route"], "ura");
    assert!(log["consultant"].is_null(), "{log}");
    assert_eq!(
        attempts(&log),
        vec![
            ("owner".into(), "ana".into(), 408),
            ("team".into(), "bia".into(), 408),
            ("ura".into(), "".into(), 200)
        ]
    );
    let cbs = callbacks(&d).await;
    assert_eq!(cbs.len(), 1);
    assert_eq!(cbs[0]["reason"], "no_answer");
}

#[tokio::test]
async fn non_consulting_and_unknown_callers_reach_the_ura() {
    let mut d = desk().await;
    for number in ["2134567890", "3133332222"] {
        let mut caller = carrier(&d, number).await;
        let call = caller.invite(&desk_uri(&d)).await.unwrap();
        let (inv, _) = d.ura.next_request_of(Method::Invite, T).await.unwrap();
        d.ura.answer(&inv).await.unwrap();
        let ok = caller
            .expect_response(Method::Invite, 200, T)
            .await
            .unwrap();
        caller.ack(&call, &ok).await.unwrap();
        d.ura.next_request_of(Method::Ack, T).await.unwrap();
        let log = logged(&d, &call.call_id, |v| v["outcome"] == "answered").await;
        assert_eq!(log["route"], "ura");
        assert_eq!(log["rule"], "everyone-else");
        let class = if number.starts_with("21") {
            "not_consulting"
        } else {
            "unknown"
        };
        assert_eq!(log["caller_class"], class);
    }
    assert!(callbacks(&d).await.is_empty());
    d.ana
        .nothing_matching(Duration::from_millis(200), |m| {
            m.method() == Some(Method::Invite)
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn simulate_agrees_with_real_calls() {
    let mut d = desk().await;
    let sim = json(
        d.app
            .post("/api/routing/simulate", json!({"from": "011987654321"}))
            .await,
        200,
    )
    .await;
    assert_eq!(sim["rule"], "consulting-with-protocol");
    assert_eq!(sim["caller"]["class"], "consulting");
    assert_eq!(sim["groups"][0][0], d.ana.contact_uri());
    assert_eq!(sim["groups"][1][0], d.bia.contact_uri());
    // The real call rings the same phone first.
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(inv.request_uri().unwrap()),
        sim["groups"][0][0].as_str().unwrap()
    );
    d.ana.respond(&inv, 486).await.unwrap();
    let (inv2, _) = d.bia.next_request_of(Method::Invite, T).await.unwrap();
    d.bia.respond(&inv2, 603).await.unwrap();
    let fin = caller.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(fin.status(), Some(603), "a 6xx ends the search");
    caller.ack(&call, &fin).await.unwrap();

    let sim = json(
        d.app
            .post(
                "/api/routing/simulate",
                json!({"from": "2134567890", "at": "2026-12-01T12:00:00-03:00"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(sim["rule"], "everyone-else");
    assert_eq!(sim["caller"]["class"], "not_consulting");
    assert_eq!(
        sim["groups"][0][0],
        format!("sip:ura@{}", d.ura.local_addr())
    );
    let bad = json(
        d.app
            .post("/api/routing/simulate", json!({"from": "x y"}))
            .await,
        400,
    )
    .await;
    assert_eq!(bad["error"]["code"], "bad_request");
}

#[tokio::test]
async fn dialplan_reload_applies_good_plans_and_keeps_the_old_one_on_errors() {
    let d = desk().await;
    let who = |rule: &str| rule.to_string();
    let ask = || async {
        json(
            d.app
                .post("/api/routing/simulate", json!({"from": "2134567890"}))
                .await,
            200,
        )
        .await["rule"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(ask().await, who("everyone-else"));
    std::fs::write(
        d.plans.join("default.toml"),
        "[[rule]]\nname = \"night-mode\"\nsteps = [ { action = \"ura\" } ]\n",
    )
    .unwrap();
    let r = json(d.app.post("/api/routing/reload", json!({})).await, 200).await;
    assert_eq!(r["rules"], 1);
    assert_eq!(ask().await, who("night-mode"));
    std::fs::write(
        d.plans.join("default.toml"),
        "[[rule]]\nname = \"broken\"\nsteps = [ { action = \"dance\" } ]\n",
    )
    .unwrap();
    let r = json(d.app.post("/api/routing/reload", json!({})).await, 422).await;
    assert_eq!(r["reloaded"], false);
    assert!(r["errors"][0].as_str().unwrap().contains("broken"), "{r}");
    assert_eq!(ask().await, who("night-mode"), "the old plan stays");
}

#[tokio::test]
async fn an_owner_in_do_not_disturb_is_skipped() {
    let mut d = desk().await;
    let consultants = json(d.app.get("/api/consultants").await, 200).await;
    let ana = consultants["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sip_username"] == "ana")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let c = json(
        d.app
            .client
            .put(d.app.url(&format!("/api/consultants/{ana}/presence")))
            .bearer_auth(&d.app.token)
            .json(&json!({"status": "dnd"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(c["presence"], "dnd");
    // The routing snapshot reloads a moment after the write.
    d.app.directory_synced().await;
    let sim = json(
        d.app
            .post("/api/routing/simulate", json!({"from": "011987654321"}))
            .await,
        200,
    )
    .await;
    assert_eq!(sim["groups"][0][0], d.bia.contact_uri(), "{sim}");
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.bia.next_request_of(Method::Invite, T).await.unwrap();
    d.bia.answer(&inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();
    d.ana
        .nothing_matching(Duration::from_millis(200), |m| {
            m.method() == Some(Method::Invite)
        })
        .await
        .unwrap();
    let log = logged(&d, &call.call_id, |v| v["outcome"] == "answered").await;
    assert_eq!(log["detail"]["steps"][0]["skipped"][0]["user"], "ana");
    assert_eq!(log["detail"]["steps"][0]["skipped"][0]["reason"], "dnd");
    let cbs = callbacks(&d).await;
    assert_eq!(cbs.len(), 1);
    assert_eq!(cbs[0]["reason"], "dnd");
    json(
        d.app
            .client
            .put(d.app.url(&format!("/api/consultants/{ana}/presence")))
            .bearer_auth(&d.app.token)
            .json(&json!({"status": "sleeping"}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
}

#[tokio::test]
async fn anonymous_callers_reach_the_ura() {
    let mut d = desk().await;
    let mut caller = carrier(&d, "anonymous").await;
    let call = caller
        .invite_with(&desk_uri(&d), &[("Privacy", "id")])
        .await
        .unwrap();
    answered_by(&mut d.ura, &mut caller, &call).await;
    let log = logged(&d, &call.call_id, |v| v["outcome"] == "answered").await;
    assert_eq!(log["caller_class"], "anonymous");
    assert!(log["caller_number"].is_null(), "{log}");
    assert_eq!(log["route"], "ura");
}

#[tokio::test]
async fn outside_business_hours_everyone_reaches_the_ura() {
    use chrono::Datelike;
    // Open one day of the week that is not today: now is outside hours.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::America::Sao_Paulo)
        .weekday();
    let day = if today == chrono::Weekday::Mon {
        "tue"
    } else {
        "mon"
    };
    let plan = format!(
        "[hours]\n{day} = [\"08:00-18:00\"]\n\n\
         [[rule]]\nname = \"after-hours\"\nwhen.outside_hours = true\nsteps = [{{ action = \"ura\" }}]\n\n\
         [[rule]]\nname = \"owner-first\"\nsteps = [{{ action = \"owner\", ring_seconds = 2 }}, {{ action = \"ura\" }}]\n"
    );
    let mut d = desk_with_plan(&plan).await;
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    answered_by(&mut d.ura, &mut caller, &call).await;
    d.ana
        .nothing_matching(Duration::from_millis(200), |m| {
            m.method() == Some(Method::Invite)
        })
        .await
        .unwrap();
    let log = logged(&d, &call.call_id, |v| v["outcome"] == "answered").await;
    assert_eq!(log["rule"], "after-hours");
    assert_eq!(log["caller_class"], "consulting");
    assert_eq!(log["route"], "ura");
    assert!(
        callbacks(&d).await.is_empty(),
        "no owner step after hours, no call-back"
    );
}

#[tokio::test]
async fn consultant_calls_out_through_the_trunk_attributed_to_the_provider() {
    let mut d = desk().await;
    let sip = d.app.sip_udp.port();
    // A wrong password is refused (toll-fraud protection).
    let call = d
        .ana
        .invite(&format!("sip:011987654321@127.0.0.1:{sip}"))
        .await
        .unwrap();
    let challenge = d.ana.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(challenge.status(), Some(407));
    let retry = d
        .ana
        .answer_auth_challenge(&call, &challenge, "wrong password")
        .await
        .unwrap();
    let refused = d.ana.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(refused.status(), Some(403));
    d.ana.ack(&retry, &refused).await.unwrap();
    // With the right one, the call goes out with the number in E.164.
    let call = invite_authenticated(&mut d.ana, &format!("sip:011987654321@127.0.0.1:{sip}")).await;
    let (inv, _) = d.trunk.next_request_of(Method::Invite, T).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(inv.request_uri().unwrap()),
        format!("sip:+5511987654321@{}", d.trunk.local_addr())
    );
    // We vouch for who placed the call (RFC 3325).
    let pai: Vec<String> = inv
        .headers("P-Asserted-Identity")
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect();
    assert_eq!(pai, vec!["<sip:ana@127.0.0.1>".to_string()]);
    d.trunk.answer(&inv).await.unwrap();
    let ok = d.ana.expect_response(Method::Invite, 200, T).await.unwrap();
    d.ana.ack(&call, &ok).await.unwrap();
    let log = logged(&d, &call.call_id, |v| v["outcome"] == "answered").await;
    assert_eq!(log["direction"], "outbound");
    assert_eq!(log["consultant"], "ana");
    assert_eq!(log["consultant_id"], d.ana_id);
    assert_eq!(log["provider_id"], d.netsul_id);
    assert_eq!(log["protocol_id"], d.protocol_id);
    assert_eq!(log["caller_number"], "+5511987654321");
    assert_eq!(log["route"], "uri");
    let ana = json(
        d.app.get(&format!("/api/consultants/{}", d.ana_id)).await,
        200,
    )
    .await;
    assert_eq!(ana["in_call"], true, "{ana}");

    // While ana is on that call, the client's next call skips her.
    let mut caller = carrier(&d, "011987654321").await;
    let inbound = caller.invite(&desk_uri(&d)).await.unwrap();
    answered_by(&mut d.bia, &mut caller, &inbound).await;
    let log2 = logged(&d, &inbound.call_id, |v| v["outcome"] == "answered").await;
    assert_eq!(
        log2["detail"]["steps"][0]["skipped"][0]["reason"],
        "in_call"
    );
    assert_eq!(attempts(&log2), vec![("team".into(), "bia".into(), 200)]);
    let cbs = callbacks(&d).await;
    assert_eq!(cbs.len(), 1);
    assert_eq!(cbs[0]["reason"], "in_call");

    // Ana hangs up; the log closes the outbound call.
    d.ana.bye(&call).await.unwrap();
    let (bye, _) = d.trunk.next_request_of(Method::Bye, T).await.unwrap();
    d.trunk.respond(&bye, 200).await.unwrap();
    d.ana.expect_response(Method::Bye, 200, T).await.unwrap();
    let log = logged(&d, &call.call_id, ended).await;
    assert_eq!(log["ended_by"], "caller");
    let ana = json(
        d.app.get(&format!("/api/consultants/{}", d.ana_id)).await,
        200,
    )
    .await;
    assert_eq!(ana["in_call"], false, "{ana}");
    let m = metrics(&d).await;
    assert!(
        m.contains(
            r#"protocall_calls_total{direction="outbound",outcome="answered",route="uri"} 1"#
        ),
        "{m}"
    );

    // A call between consultants rings the colleague and is internal.
    let call = d
        .ana
        .invite(&format!("sip:bia@127.0.0.1:{sip}"))
        .await
        .unwrap();
    let challenge = d.ana.final_response(Method::Invite, T).await.unwrap();
    let call = d
        .ana
        .answer_auth_challenge(&call, &challenge, PASSWORD)
        .await
        .unwrap();
    let (inv, _) = d.bia.next_request_of(Method::Invite, T).await.unwrap();
    d.bia.respond(&inv, 486).await.unwrap();
    let busy = d.ana.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(busy.status(), Some(486));
    d.ana.ack(&call, &busy).await.unwrap();
    let log = logged(&d, &call.call_id, |v| !v["outcome"].is_null()).await;
    assert_eq!(log["direction"], "internal");
    assert_eq!(log["outcome"], "busy");
    assert_eq!(attempts(&log), vec![("uri".into(), "bia".into(), 486)]);
}

#[tokio::test]
async fn dialplan_reloads_under_load_drop_no_call() {
    let mut d = desk().await;
    let plan =
        |name: &str| format!("[[rule]]\nname = \"{name}\"\nsteps = [ {{ action = \"ura\" }} ]\n");
    let dir = d.plans.clone();
    let client = d.app.client.clone();
    let url = d.app.url("/api/routing/reload");
    let token = d.app.token.clone();
    let reloader = tokio::spawn(async move {
        let mut ok = 0;
        for k in 0..40 {
            std::fs::write(
                dir.join("default.toml"),
                plan(if k % 2 == 0 { "plan-a" } else { "plan-b" }),
            )
            .unwrap();
            let r = client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                ok += 1;
            }
            // Fixed: paces the reloads so they interleave with the calls.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ok
    });
    let mut ids = Vec::new();
    for _ in 0..20 {
        let mut caller = carrier(&d, "2134567890").await;
        let call = caller.invite(&desk_uri(&d)).await.unwrap();
        answered_by(&mut d.ura, &mut caller, &call).await;
        ids.push(call.call_id);
    }
    assert_eq!(reloader.await.unwrap(), 40, "every reload applied");
    for id in ids {
        let log = logged(&d, &id, |v| v["outcome"] == "answered").await;
        assert_eq!(log["route"], "ura");
    }
    let page = json(
        d.app.get("/api/calls?outcome=answered&route=ura").await,
        200,
    )
    .await;
    assert_eq!(page["total"], 20);
}

#[tokio::test]
async fn presence_set_from_the_cli_reaches_the_running_daemon() {
    let d = desk().await;
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_protocall"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", &d.app.db_url)
            .output()
            .unwrap()
    };
    let out = cli(&["consultant", "presence", "ana", "away"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("is now away"));
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let sim = json(
            d.app
                .post("/api/routing/simulate", json!({"from": "011987654321"}))
                .await,
            200,
        )
        .await;
        if sim["route"][0]["skipped"][0]["reason"] == "away" {
            assert_eq!(sim["groups"][0][0], d.bia.contact_uri(), "{sim}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{sim}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = cli(&["consultant", "presence", "nobody", "dnd"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no consultant"));
    let out = cli(&["consultant", "presence", "ana", "sleeping"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses the value");
}
