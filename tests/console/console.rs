//! The browser console through the real daemon, with a cookie-keeping
//! HTTP client as the browser: signing in (right and wrong passwords, the
//! throttle), CSRF, a consultant's desk (presence, task timer, a logged
//! chat, a call-back done, each checked afterwards through the API), and
//! the manager's page that consultants cannot open, with the weekly report
//! in the manager's language.

use crate::support;

use protocall::store::{CallRow, NewCallback};
use serde_json::json;
use support::console::{
    browser, csrf, location, page, person, post_form, sign_in, try_sign_in, PASSWORD,
};
use support::{json, Backend, TestApp};

on_every_backend!(
    sign_in_right_and_wrong,
    fifth_wrong_password_is_throttled,
    posts_without_the_csrf_token_are_refused,
    a_consultant_works_the_desk,
    only_managers_open_the_desk_now,
    live_panels_stream_and_the_board_is_for_managers,
    the_language_switch_is_remembered,
    my_week_and_my_calendar_link,
    todays_meetings_are_timed_from_the_desk,
);

async fn spawn(b: Backend) -> TestApp {
    support::console::spawn(b, &[]).await
}

async fn sign_in_right_and_wrong(b: Backend) {
    let app = spawn(b).await;
    person(&app, "ana", "consultant").await;
    let br = browser("pt-BR");
    // Not signed in: the desk sends to the sign-in page.
    let r = br.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");

    let r = try_sign_in(&app, &br, "ana", "wrong horse").await;
    assert_eq!(r.status(), 401);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Usuário ou senha incorretos"));
    let r = try_sign_in(&app, &br, "nobody", PASSWORD).await;
    assert_eq!(r.status(), 401);

    let r = try_sign_in(&app, &br, "ana", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let set: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = set.iter().find(|c| c.starts_with("protocall=")).unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    // The value is a 256-bit random id; the database keeps only its hash.
    let id = session["protocall=".len()..].split(';').next().unwrap();
    assert_eq!(id.len(), 64);

    let (status, html) = page(&app, &br, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("lang=\"pt-BR\""));
    assert!(html.contains("Minha mesa"));
    assert!(html.contains("Olá, ana Silva"));
    let (_, csp) = {
        let r = br.get(app.url("/")).send().await.unwrap();
        (
            r.status(),
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_string(),
        )
    };
    assert!(csp.contains("default-src 'none'"));

    // English on request.
    let en = browser("en-US,en;q=0.9");
    sign_in(&app, &en, "ana").await;
    let (_, html) = page(&app, &en, "/").await;
    assert!(html.contains("My desk") && html.contains("lang=\"en\""));

    // Signing out ends the session on the server too.
    let token = csrf(&page(&app, &br, "/").await.1);
    let r = post_form(&app, &br, "/logout", &[("csrf", &token)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");
    let stolen = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = stolen
        .get(app.url("/"))
        .header("cookie", format!("protocall={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "a signed-out session opens nothing");

    // The sign-in form's own CSRF: a POST without the form's cookie fails.
    let bare = browser("pt-BR");
    let r = post_form(
        &app,
        &bare,
        "/login",
        &[("username", "ana"), ("password", PASSWORD), ("csrf", "x")],
    )
    .await;
    assert_eq!(r.status(), 403);
}

async fn fifth_wrong_password_is_throttled(b: Backend) {
    let app = spawn(b).await;
    person(&app, "ana", "consultant").await;
    person(&app, "bia", "consultant").await;
    let br = browser("pt-BR");
    for i in 1..=4 {
        let r = try_sign_in(&app, &br, "ana", "wrong").await;
        assert_eq!(r.status(), 401, "wrong password {i}");
    }
    let r = try_sign_in(&app, &br, "ana", "wrong").await;
    assert_eq!(r.status(), 429, "the 5th wrong password");
    assert_eq!(r.headers()["retry-after"], "60");
    assert!(r.text().await.unwrap().contains("Aguarde um minuto"));
    // Until the minute passes, even the right password is not checked.
    let r = try_sign_in(&app, &br, "ana", PASSWORD).await;
    assert_eq!(r.status(), 429);
    // Another person at the same address signs in.
    let r = try_sign_in(&app, &br, "bia", PASSWORD).await;
    assert_eq!(r.status(), 303);
}

async fn posts_without_the_csrf_token_are_refused(b: Backend) {
    let app = spawn(b).await;
    let id = person(&app, "ana", "consultant").await;
    let br = browser("pt-BR");
    let token = sign_in(&app, &br, "ana").await;
    let r = post_form(&app, &br, "/presence", &[("status", "dnd")]).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("O formulário expirou"));
    let r = post_form(
        &app,
        &br,
        "/presence",
        &[("status", "dnd"), ("csrf", "0000")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let c = json(app.get(&format!("/api/consultants/{id}")).await, 200).await;
    assert_eq!(c["presence"], "available", "a refused form changes nothing");
    // Another session's token is not this one's.
    let other = browser("pt-BR");
    let theirs = sign_in(&app, &other, "ana").await;
    assert_ne!(theirs, token);
    let r = post_form(
        &app,
        &br,
        "/presence",
        &[("status", "dnd"), ("csrf", &theirs)],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post_form(
        &app,
        &br,
        "/presence",
        &[("status", "dnd"), ("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/?ok=presence");
    let c = json(app.get(&format!("/api/consultants/{id}")).await, 200).await;
    assert_eq!(c["presence"], "dnd");
}

/// A pending call-back owed by `consultant`, due `due_in_ms` from now.
async fn callback(app: &TestApp, consultant: i64, user: &str, due_in_ms: i64) -> i64 {
    let provider = json(
        app.post(
            "/api/providers",
            json!({"name": format!("Provedor de {user}")}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let call = format!("console-call-{user}");
    let now = chrono::Utc::now().timestamp_millis();
    app.store
        .save_call(&CallRow {
            call_id: call.clone(),
            from_tag: String::new(),
            direction: "inbound".into(),
            from_uri: "sip:+5511987654321@carrier".into(),
            to_uri: "sip:desk@protocall".into(),
            caller_number: Some("+5511987654321".into()),
            caller_class: "consulting".into(),
            provider_id: Some(provider),
            provider_user_id: None,
            protocol_id: None,
            consultant_id: Some(consultant),
            consultant: Some(user.into()),
            rule: "direct".into(),
            route: "owner".into(),
            outcome: Some("busy".into()),
            final_code: Some(486),
            started_at_ms: now - 120_000,
            ringing_at_ms: None,
            answered_at_ms: None,
            ended_at_ms: Some(now - 119_000),
            ended_by: None,
            detail: "{}".into(),
        })
        .await
        .unwrap();
    app.store
        .create_callback(&NewCallback {
            call_id: call,
            from_tag: String::new(),
            consultant_id: consultant,
            provider_id: Some(provider),
            protocol_id: None,
            caller_number: Some("+5511987654321".into()),
            reason: "busy".into(),
            created_at_ms: now - 119_000,
            due_at_ms: now + due_in_ms,
        })
        .await
        .unwrap();
    let list = json(
        app.get(&format!("/api/callbacks?consultant_id={consultant}"))
            .await,
        200,
    )
    .await;
    list["items"][0]["id"].as_i64().unwrap()
}

async fn a_consultant_works_the_desk(b: Backend) {
    let app = spawn(b).await;
    let ana = person(&app, "ana", "consultant").await;
    let bia = person(&app, "bia", "consultant").await;
    let mine = callback(&app, ana, "ana", 3_600_000).await;
    let theirs = callback(&app, bia, "bia", 3_600_000).await;
    let br = browser("pt-BR");
    let token = sign_in(&app, &br, "ana").await;
    let (_, html) = page(&app, &br, "/").await;
    assert!(html.contains("Nenhuma tarefa em andamento"));
    assert!(html.contains("+5511987654321") && html.contains("ocupado"));
    assert!(html.contains(&format!("/callbacks/{mine}/done")));
    assert!(!html.contains(&format!("/callbacks/{theirs}/done")));

    // Start a task.
    let r = post_form(
        &app,
        &br,
        "/task/start",
        &[
            ("category", "documentation"),
            ("title", "Manual do cliente"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/?ok=task_started");
    let (_, html) = page(&app, &br, "/?ok=task_started").await;
    assert!(html.contains("Tarefa iniciada."));
    assert!(html.contains("Documentação") && html.contains("Manual do cliente"));
    let tasks = json(
        app.get(&format!("/api/tasks?consultant_id={ana}&status=running"))
            .await,
        200,
    )
    .await;
    assert_eq!(tasks["total"], 1);
    assert_eq!(tasks["items"][0]["category"], "documentation");
    let task = tasks["items"][0]["id"].as_i64().unwrap();
    // An unknown category is refused with a notice.
    let r = post_form(
        &app,
        &br,
        "/task/start",
        &[("category", "nope"), ("csrf", &token)],
    )
    .await;
    assert_eq!(location(&r), "/?err=unknown_category");

    // Stop it.
    let r = post_form(&app, &br, "/task/stop", &[("csrf", &token)]).await;
    assert_eq!(location(&r), "/?ok=task_stopped");
    let t = json(app.get(&format!("/api/tasks/{task}")).await, 200).await;
    assert_eq!(t["status"], "done");
    assert_eq!(t["consultant_id"], ana);
    let audit = json(app.get(&format!("/api/tasks/{task}/audit")).await, 200).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "ana"),
        "the audit trail names the person: {audit}"
    );
    let r = post_form(&app, &br, "/task/stop", &[("csrf", &token)]).await;
    assert_eq!(location(&r), "/?err=not_running");

    // Log a chat, with human times.
    let r = post_form(
        &app,
        &br,
        "/contact",
        &[
            ("channel", "chat"),
            ("started", "24/11/2025 09:30"),
            ("ended", "24/11/2025 09:50"),
            ("notes", "Dúvida sobre o boleto"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(location(&r), "/?ok=contact_logged");
    let contacts = json(
        app.get(&format!("/api/contacts?consultant_id={ana}&channel=chat"))
            .await,
        200,
    )
    .await;
    assert_eq!(contacts["total"], 1, "{contacts}");
    let c = &contacts["items"][0];
    assert_eq!(c["consultant_id"], ana);
    assert_eq!(c["status"], "done");
    assert_eq!(c["duration_ms"], 20 * 60_000);
    assert!(c["started_at"]
        .as_str()
        .unwrap()
        .starts_with("2025-11-24T09:30:00"));
    let r = post_form(
        &app,
        &br,
        "/contact",
        &[
            ("channel", "chat"),
            ("started", "ontem de manhã"),
            ("ended", "10:00"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(location(&r), "/?err=bad_time");
    let r = post_form(
        &app,
        &br,
        "/contact",
        &[
            ("channel", "chat"),
            ("started", "24/11/2025 09:40"),
            ("ended", "24/11/2025 09:45"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(location(&r), "/?err=overlap");

    // Call-backs: mine is marked done; someone else's is not mine to mark.
    let r = post_form(
        &app,
        &br,
        &format!("/callbacks/{theirs}/done"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), 403);
    // Done needs the conversation's real times (rule 3).
    let r = post_form(
        &app,
        &br,
        &format!("/callbacks/{mine}/done"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(location(&r), "/?err=callback_times");
    let r = post_form(
        &app,
        &br,
        &format!("/callbacks/{mine}/done"),
        &[
            ("started", "24/11/2025 10:00"),
            ("ended", "24/11/2025 10:07"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(location(&r), "/?ok=callback_done");
    let list = json(
        app.get(&format!("/api/callbacks?consultant_id={ana}"))
            .await,
        200,
    )
    .await;
    assert_eq!(list["items"][0]["status"], "done");
    let list = json(
        app.get(&format!("/api/callbacks?consultant_id={bia}"))
            .await,
        200,
    )
    .await;
    assert_eq!(list["items"][0]["status"], "pending");
    let (_, html) = page(&app, &br, "/").await;
    assert!(html.contains("Nenhum retorno pendente."));
}

async fn only_managers_open_the_desk_now(b: Backend) {
    let app = spawn(b).await;
    let ana = person(&app, "ana", "consultant").await;
    person(&app, "gil", "manager").await;
    callback(&app, ana, "ana", -600_000).await;
    // What protocall_callbacks_overdue (and its alert) counts.
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(app.store.callbacks_overdue(now).await.unwrap(), 1);
    assert_eq!(
        app.store.callbacks_overdue(now - 3_600_000).await.unwrap(),
        0
    );
    let consultant = browser("pt-BR");
    let token = sign_in(&app, &consultant, "ana").await;
    let (status, html) = page(&app, &consultant, "/gestao").await;
    assert_eq!(status, 403);
    assert!(html.contains("Acesso negado") && html.contains("só para gestores"));
    let (status, _) = page(&app, &consultant, "/gestao/report?week=2026-W01").await;
    assert_eq!(status, 403);
    assert!(!page(&app, &consultant, "/")
        .await
        .1
        .contains("href=\"/gestao\""));
    let r = post_form(
        &app,
        &consultant,
        "/presence",
        &[("status", "away"), ("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), 303);

    let manager = browser("pt-BR");
    sign_in(&app, &manager, "gil").await;
    let (_, desk) = page(&app, &manager, "/").await;
    assert!(desk.contains("href=\"/gestao\""));
    let (status, html) = page(&app, &manager, "/gestao").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("A mesa agora"));
    assert!(html.contains("ana Silva") && html.contains("Ausente"));
    assert!(html.contains("gil Silva") && html.contains("Disponível"));
    // The overdue call-back, with its owner.
    assert!(html.contains("Retornos atrasados") && html.contains("+5511987654321"));
    // The weekly report, as the API renders it, in the manager's language.
    let (status, report) = page(&app, &manager, "/gestao/report?week=2026-W01&format=html").await;
    assert_eq!(status, 200);
    assert!(
        report.contains("<svg") || report.contains("<table"),
        "{report}"
    );
    assert!(report.contains("<html lang=\"pt-BR\">"));
    assert!(report.contains("Relatório semanal, semana 2026-W01"));
    // Picking English in the console switches the report too, though the
    // browser still asks for Portuguese: the person's choice wins.
    let r = manager
        .get(app.url("/language?to=en&back=/gestao"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (status, report) = page(&app, &manager, "/gestao/report?week=2026-W01&format=html").await;
    assert_eq!(status, 200);
    assert!(report.contains("<html lang=\"en\">"), "{report}");
    assert!(report.contains("Weekly report, week 2026-W01"));
    assert!(!report.contains("Relatório"));
    let r = manager
        .get(app.url("/gestao/report?week=2026-W01&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-language"], "en");
    assert!(r
        .text()
        .await
        .unwrap()
        .starts_with("# 1. Tasks by category"));
    manager
        .get(app.url("/language?to=pt-BR&back=/gestao"))
        .send()
        .await
        .unwrap();
    let r = manager
        .get(app.url("/gestao/report?week=2026-W01&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let (status, _) = page(&app, &manager, "/gestao/report?week=not-a-week").await;
    assert_eq!(status, 400);
}

/// The first `panel` event of a live stream, as the browser's script
/// receives it.
async fn first_panel(mut r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), r.chunk())
            .await
            .expect("a panel within 5 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.starts_with("event: panel\n"), "{text}");
    text
}

async fn live_panels_stream_and_the_board_is_for_managers(b: Backend) {
    let app = spawn(b).await;
    person(&app, "ana", "consultant").await;
    person(&app, "gil", "manager").await;
    // Not signed in: no stream.
    let r = browser("pt-BR").get(app.url("/live")).send().await.unwrap();
    assert_eq!(r.status(), 303);

    let ana = browser("pt-BR");
    sign_in(&app, &ana, "ana").await;
    let panel = first_panel(ana.get(app.url("/live?view=desk")).send().await.unwrap()).await;
    assert!(panel.contains("Nenhuma chamada agora"), "{panel}");
    let r = ana.get(app.url("/live?view=board")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = ana
        .get(app.url("/live?view=nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let gil = browser("pt-BR");
    sign_in(&app, &gil, "gil").await;
    let board = first_panel(gil.get(app.url("/live?view=board")).send().await.unwrap()).await;
    assert!(board.contains("ana Silva"), "{board}");
    assert!(board.contains("Nenhuma chamada aguardando"), "{board}");
    assert!(board.contains("Nível de serviço"), "{board}");
    // The manager's page draws the same board at load, for browsers
    // without script.
    let (_, html) = page(&app, &gil, "/gestao").await;
    assert!(html.contains("data-live=\"/live?view=board\""));
    assert!(html.contains("Protocolos com prazo vencido"));
}

async fn the_language_switch_is_remembered(b: Backend) {
    let app = spawn(b).await;
    person(&app, "ana", "consultant").await;
    // A browser that asks for nothing in particular gets Portuguese.
    let br = browser("de");
    sign_in(&app, &br, "ana").await;
    let (_, html) = page(&app, &br, "/").await;
    assert!(html.contains("Minha mesa") && html.contains("lang=\"pt-BR\""));
    let r = br
        .get(app.url("/language?to=en&back=/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    let (_, html) = page(&app, &br, "/").await;
    assert!(
        html.contains("My desk") && html.contains("lang=\"en\""),
        "{html}"
    );
    // Back only to our own pages.
    let r = br
        .get(app.url("/language?to=pt-BR&back=//evil.example/"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/");
    let (_, html) = page(&app, &br, "/").await;
    assert!(html.contains("Minha mesa"));
}

async fn my_week_and_my_calendar_link(b: Backend) {
    let app = spawn(b).await;
    person(&app, "ana", "consultant").await;
    let br = browser("pt-BR");
    let token = sign_in(&app, &br, "ana").await;
    let (_, html) = page(&app, &br, "/").await;
    assert!(html.contains("Minha semana") && html.contains("Nada agendado"));
    // A task started now is in the week.
    let r = post_form(
        &app,
        &br,
        "/task/start",
        &[
            ("category", "documentation"),
            ("title", "Manual da OLT"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, html) = page(&app, &br, "/").await;
    let week = &html[html.find("id=\"week-h\"").unwrap()..];
    assert!(week.contains("Manual da OLT"), "{week}");

    // The calendar link: made on request, shown once, and it works.
    let r = post_form(&app, &br, "/calendar-link", &[("csrf", &token)]).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with("/?feed="), "{to}");
    assert!(
        !to.contains("token="),
        "the secret never travels in a redirect"
    );
    let (_, html) = page(&app, &br, &to).await;
    let at = html.find("/api/consultants/").expect("the link is shown");
    let link = html[at..at + html[at..].find('<').unwrap()].replace("&amp;", "&");
    assert!(html.contains("só aparece esta vez"));
    let feed = reqwest::get(app.url(&link)).await.unwrap();
    assert_eq!(feed.status(), 200, "{link}");
    assert!(feed.text().await.unwrap().contains("BEGIN:VCALENDAR"));
    let (_, again) = page(&app, &br, &to).await;
    assert!(!again.contains("/api/consultants/"), "shown once only");
    // Without the CSRF token, no link.
    let r = post_form(&app, &br, "/calendar-link", &[]).await;
    assert_eq!(r.status(), 403);
}

/// Rule 3 from the desk: today's scheduled meeting is started and ended
/// with a click each, so its real times are the clock's; another
/// consultant's meeting is not hers to run.
async fn todays_meetings_are_timed_from_the_desk(b: Backend) {
    use chrono::TimeZone;
    let app = spawn(b).await;
    let ana = person(&app, "ana", "consultant").await;
    let bia = person(&app, "bia", "consultant").await;
    // 00:01-00:30 today at the desk (São Paulo): "today" whenever this runs.
    let tz = chrono_tz::America::Sao_Paulo;
    let midnight = tz
        .from_local_datetime(
            &chrono::Utc::now()
                .with_timezone(&tz)
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        )
        .earliest()
        .unwrap();
    let planned = |who: i64, agenda: &str| {
        json!({"consultant_id": who, "channel": "meeting", "agenda": agenda,
               "planned_start": (midnight + chrono::Duration::minutes(1)).to_rfc3339(),
               "planned_end": (midnight + chrono::Duration::minutes(30)).to_rfc3339()})
    };
    let mine = json(
        app.post("/api/contacts", planned(ana, "Revisão da OLT"))
            .await,
        201,
    )
    .await;
    let theirs = json(
        app.post("/api/contacts", planned(bia, "Outra pauta")).await,
        201,
    )
    .await;
    let (mine, theirs) = (mine["id"].as_i64().unwrap(), theirs["id"].as_i64().unwrap());

    let br = browser("pt-BR");
    let token = sign_in(&app, &br, "ana").await;
    let (_, html) = page(&app, &br, "/").await;
    let today = &html[html
        .find("id=\"today-h\"")
        .expect("the section is on the desk")..];
    assert!(today.contains("Revisão da OLT"), "{today}");
    assert!(today.contains(&format!("/contacts/{mine}/start")));
    assert!(!today.contains("Outra pauta"), "only her own");

    let r = post_form(
        &app,
        &br,
        &format!("/contacts/{theirs}/start"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post_form(&app, &br, &format!("/contacts/{mine}/start"), &[]).await;
    assert_eq!(r.status(), 403, "no CSRF token, no timer");
    let before = chrono::Utc::now();
    let r = post_form(
        &app,
        &br,
        &format!("/contacts/{mine}/start"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/?ok=contact_started");
    let c = json(app.get(&format!("/api/contacts/{mine}")).await, 200).await;
    assert_eq!(c["status"], "open", "{c}");
    let started = chrono::DateTime::parse_from_rfc3339(c["started_at"].as_str().unwrap()).unwrap();
    assert!(started >= before - chrono::Duration::seconds(1), "{c}");
    let (_, html) = page(&app, &br, "/?ok=contact_started").await;
    assert!(html.contains("Contato iniciado"));
    assert!(html.contains(&format!("/contacts/{mine}/stop")));
    assert!(html.contains("em andamento desde"));

    let r = post_form(
        &app,
        &br,
        &format!("/contacts/{mine}/stop"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(location(&r), "/?ok=contact_stopped");
    let c = json(app.get(&format!("/api/contacts/{mine}")).await, 200).await;
    assert_eq!(c["status"], "done", "{c}");
    assert!(
        c["ended_at"].is_string() && c["duration_ms"].as_i64().unwrap() >= 0,
        "{c}"
    );
    // A done meeting does not start again, and leaves the list.
    let r = post_form(
        &app,
        &br,
        &format!("/contacts/{mine}/start"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(location(&r), "/?err=invalid");
    let (_, html) = page(&app, &br, "/").await;
    assert!(!html.contains(&format!("/contacts/{mine}/st")));
    let theirs_after = json(app.get(&format!("/api/contacts/{theirs}")).await, 200).await;
    assert_eq!(theirs_after["status"], "scheduled");
}
