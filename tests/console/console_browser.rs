//! The console in a real browser: Debian's headless Chromium driven over
//! WebDriver (chromedriver, through `fantoccini`), against the real daemon
//! with phones registered and a SIPp carrier calling through it.
//!
//! A consultant signs in (after a wrong password, and after another
//! account's fifth wrong one in a minute is throttled), sees a SIPp call
//! ring on the live panel with who is calling, then its running time once
//! the phone answers, while a manager sees them "in a call"; the
//! consultant starts and stops a task, logs a chat, marks a call-back done,
//! and cannot open the manager's page. Screenshots of each page at desktop
//! and phone width go to `target/console-screenshots/` (not committed).
//! With `PROTOCALL_TEST_AXE_JS` naming axe-core's `axe.min.js`, every page
//! (and the weekly report) is checked with axe-core and must have no
//! violation.
//!
//! Runs when `PROTOCALL_TEST_CHROMEDRIVER` names chromedriver (CI sets it
//! and installs Chromium and SIPp); without it the test says so and skips.

use crate::support;

use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use protocall::sip::message::Method;
use protocall::store::NewCallback;
use serde_json::json;
use support::daemon::{free_tcp_port as free_port, Owned};
use support::desk::{desk_custom, Desk, PASSWORD, T};
use support::{json, Backend};

/// The desk's plan with the owner's phone ringing long enough to watch.
const PLAN: &str = r#"
[teams]
consulting = ["bia"]

[[rule]]
name = "consulting-with-protocol"
when.caller = ["consulting"]
when.has_open_protocol = true
steps = [ { action = "owner", ring_seconds = 30 }, { action = "ura" } ]

[[rule]]
name = "everyone-else"
steps = [ { action = "ura" } ]
"#;

/// How long the browser may take to show something.
const SEE: Duration = Duration::from_secs(10);

fn free_udp_port(ip: [u8; 4]) -> u16 {
    std::net::UdpSocket::bind((std::net::Ipv4Addr::from(ip), 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn chromedriver(bin: &str) -> (Owned, String) {
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let owned = Owned(child);
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{url}/status")).await.is_ok() {
            return (owned, url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {url}");
}

async fn browser(driver: &str) -> Client {
    let mut caps = serde_json::Map::new();
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--lang=pt-BR",
        "--window-size=1280,900",
    ];
    let chromium = std::env::var("PROTOCALL_TEST_CHROMIUM").ok();
    let mut opts = json!({ "prefs": { "intl.accept_languages": "pt-BR" } });
    if let Some(bin) = &chromium {
        opts["binary"] = json!(bin);
    }
    args.retain(|a| !a.is_empty());
    opts["args"] = json!(args);
    caps.insert("goog:chromeOptions".into(), opts);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a Chromium session")
}

fn shots_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Screenshots of the current page at desktop and phone width, and the
/// axe-core check when asked for.
async fn record(c: &Client, name: &str) {
    for (label, w, h) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        c.set_window_size(w, h).await.unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(shots_dir().join(format!("{name}-{label}.png")), png).unwrap();
    }
    c.set_window_size(1280, 900).await.unwrap();
    axe(c, name).await;
}

/// axe-core on the current page: no violation of any rule.
async fn axe(c: &Client, name: &str) {
    let Ok(path) = std::env::var("PROTOCALL_TEST_AXE_JS") else {
        return;
    };
    let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // Injected through WebDriver, which the page's CSP does not govern.
    c.execute(&format!("{src}\nreturn true;"), vec![])
        .await
        .unwrap();
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document).then(r => done(r.violations.map(v => ({
                 id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.map(n => n.target.join(' ')) }))),
               e => done([{ id: 'axe-error', help: String(e) }]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        found.as_array().map(Vec::len),
        Some(0),
        "axe-core on {name}: {found:#}"
    );
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the element `css` shows `want` (the live panels update by
/// themselves, without a reload).
async fn until_shows(c: &Client, css: &str, want: &str) -> String {
    let deadline = tokio::time::Instant::now() + SEE;
    loop {
        let got = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if got.contains(want) {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} never showed {want:?}; it shows {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    let f = c.form(Locator::Css("form[action='/login']")).await.unwrap();
    f.set_by_name("username", user).await.unwrap();
    f.set_by_name("password", password).await.unwrap();
    f.submit().await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

fn sipp_call(d: &Desk, pause_ms: u32) -> Owned {
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uac.xml");
    let port = free_udp_port([127, 0, 0, 2]);
    let child = Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .arg(format!("127.0.0.1:{}", d.app.sip_udp.port()))
        .args(["-i", "127.0.0.2", "-p", &port.to_string()])
        .args(["-s", "4000", "-key", "caller", "011987654321"])
        .args(["-m", "1", "-d", &pause_ms.to_string()])
        .args(["-timeout", "60s", "-timeout_error", "-nostdin", "-bg"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp starts (apt-get install sip-tester)");
    Owned(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consultant_and_manager_work_the_console_in_chromium() {
    let Ok(driver_bin) = std::env::var("PROTOCALL_TEST_CHROMEDRIVER") else {
        eprintln!("PROTOCALL_TEST_CHROMEDRIVER not set: the browser test is skipped");
        return;
    };
    let mut d = desk_custom(Backend::Sqlite, PLAN, |_, _| {
        vec![(
            "PROTOCALL__HTTP__CONSOLE_SECURE_COOKIE".into(),
            "false".into(),
        )]
    })
    .await;
    json(
        d.app
            .post(
                "/api/consultants",
                json!({"name": "Gil Gestor", "sip_username": "gil", "password": PASSWORD,
                       "role": "manager"}),
            )
            .await,
        201,
    )
    .await;
    let base = d.app.url("");
    let (_driver, driver_url) = chromedriver(&driver_bin).await;
    let ana = browser(&driver_url).await;
    let gil = browser(&driver_url).await;

    // The sign-in page, a wrong password, then bia's fifth wrong one in a
    // minute is throttled (another account's lock does not touch ana).
    ana.goto(&format!("{base}/login")).await.unwrap();
    record(&ana, "login").await;
    sign_in(&ana, &base, "ana", "wrong").await;
    until_shows(&ana, "main", "Usuário ou senha incorretos").await;
    for i in 1..=5 {
        sign_in(&ana, &base, "bia", &format!("wrong {i}")).await;
        let want = if i < 5 {
            "Usuário ou senha incorretos"
        } else {
            "Muitas tentativas"
        };
        until_shows(&ana, "main", want).await;
    }
    sign_in(&ana, &base, "ana", PASSWORD).await;
    until_shows(&ana, "h1", "Minha mesa").await;
    until_shows(&ana, "#live", "Nenhuma chamada agora").await;
    record(&ana, "desk").await;

    sign_in(&gil, &base, "gil", PASSWORD).await;
    // The form's POST navigates on its own; going elsewhere before its
    // redirect lands races it (the redirect to the desk wins).
    until_shows(&gil, "h1", "Minha mesa").await;
    gil.goto(&format!("{base}/gestao")).await.unwrap();
    until_shows(&gil, "h1", "A mesa agora").await;
    record(&gil, "manager").await;

    // A SIPp carrier calls NetSul's number: ana's phone rings, and her
    // live panel says who calls without a reload.
    let _sipp = sipp_call(&d, 6000);
    let (invite, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    d.ana.respond(&invite, 180).await.unwrap();
    let panel = until_shows(&ana, "#live", "Tocando").await;
    assert!(panel.contains("NetSul"), "{panel}");
    assert!(panel.contains("+5511987654321"), "{panel}");
    assert!(
        panel.contains("prazo 01/12/2026"),
        "the protocol's deadline: {panel}"
    );
    assert!(panel.contains("atrasado"), "{panel}");
    until_shows(&gil, "#board", "Telefone tocando").await;
    until_shows(&gil, "#board", "Tocando para ana").await;
    record(&ana, "desk-ringing").await;

    // She answers: "in a call", with a running clock, on both pages.
    d.ana.answer(&invite).await.unwrap();
    d.ana.next_request_of(Method::Ack, T).await.unwrap();
    until_shows(&ana, "#live", "Em chamada com NetSul").await;
    until_shows(&gil, "#board tr[data-user='ana']", "Em chamada").await;
    let row = until_shows(&gil, "#board tr[data-user='ana']", "NetSul").await;
    assert!(row.contains("0:0"), "the call's running time: {row}");
    // The running time counts on (the page's clock between updates, the
    // server's redraws).
    let deadline = tokio::time::Instant::now() + SEE;
    loop {
        let clock = text_of(&ana, "#live time.clock").await;
        if clock != "0:00" {
            assert!(clock.starts_with("0:0"), "{clock}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the clock stays at {clock}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    record(&ana, "desk-in-call").await;
    record(&gil, "manager-in-call").await;

    // SIPp hangs up after its pause; the panel empties by itself.
    let (bye, _) = d
        .ana
        .next_request_of(Method::Bye, Duration::from_secs(15))
        .await
        .unwrap();
    d.ana.respond(&bye, 200).await.unwrap();
    until_shows(&ana, "#live", "Nenhuma chamada agora").await;

    // A task: start with a category, then stop.
    let f = ana
        .form(Locator::Css("form[action='/task/start']"))
        .await
        .unwrap();
    f.set_by_name("title", "Documentar a OLT").await.unwrap();
    f.submit().await.unwrap();
    until_shows(&ana, "main", "Tarefa iniciada").await;
    until_shows(&ana, "#task-h + p", "Documentar a OLT").await;
    click(&ana, "form[action='/task/stop'] button").await;
    until_shows(&ana, "main", "Tarefa parada").await;

    // A chat, in two clicks: the form comes filled with the last quarter
    // hour and "chat" chosen.
    click(&ana, "form[action='/contact'] button[type='submit']").await;
    until_shows(&ana, "main", "Contato registrado").await;
    let contacts = json(
        d.app
            .get(&format!("/api/contacts?consultant_id={}", d.ana_id))
            .await,
        200,
    )
    .await;
    let channels: Vec<&str> = contacts["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["channel"].as_str())
        .collect();
    assert!(channels.contains(&"chat"), "{contacts}");

    // A call-back owed to a client: done from the page.
    let now = chrono::Utc::now().timestamp_millis();
    d.app
        .store
        .create_callback(&NewCallback {
            call_id: "browser-cb".into(),
            from_tag: "t".into(),
            consultant_id: d.ana_id,
            provider_id: Some(d.netsul_id),
            protocol_id: None,
            caller_number: Some("+5511987654321".into()),
            reason: "missed".into(),
            created_at_ms: now,
            due_at_ms: now + 600_000,
        })
        .await
        .unwrap();
    let owed = json(
        d.app
            .get(&format!(
                "/api/callbacks?consultant_id={}&status=pending",
                d.ana_id
            ))
            .await,
        200,
    )
    .await;
    let cb_id = owed["items"][0]["id"].as_i64().unwrap();
    ana.goto(&format!("{base}/")).await.unwrap();
    // Done with the conversation's real times (rule 3), before the chat.
    let sp = |minutes_ago: i64| {
        (chrono::Utc::now() - chrono::Duration::minutes(minutes_ago))
            .with_timezone(&chrono_tz::America::Sao_Paulo)
            .format("%d/%m/%Y %H:%M")
            .to_string()
    };
    let f = ana
        .form(Locator::Css(&format!(
            "form[action='/callbacks/{cb_id}/done']"
        )))
        .await
        .unwrap();
    f.set_by_name("started", &sp(40)).await.unwrap();
    f.set_by_name("ended", &sp(32)).await.unwrap();
    click(
        &ana,
        &format!("form[action='/callbacks/{cb_id}/done'] button"),
    )
    .await;
    until_shows(&ana, "main", "Retorno marcado como feito").await;
    let left = json(
        d.app
            .get(&format!(
                "/api/callbacks?consultant_id={}&status=pending",
                d.ana_id
            ))
            .await,
        200,
    )
    .await;
    assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "{left}");
    record(&ana, "desk-after").await;

    // The manager's page is not hers.
    ana.goto(&format!("{base}/gestao")).await.unwrap();
    until_shows(&ana, "main", "Acesso negado").await;
    record(&ana, "forbidden").await;

    // The weekly report, as the manager opens it.
    gil.goto(&format!("{base}/gestao/report?format=html"))
        .await
        .unwrap();
    record(&gil, "weekly-report").await;

    // The admin's pages, in the manager's browser signed in as an admin.
    json(
        d.app
            .post(
                "/api/consultants",
                json!({"name": "Ada Admin", "sip_username": "ada", "password": PASSWORD,
                       "role": "admin"}),
            )
            .await,
        201,
    )
    .await;
    gil.goto(&format!("{base}/login")).await.unwrap();
    sign_in(&gil, &base, "ada", PASSWORD).await;
    until_shows(&gil, "h1", "Minha mesa").await;
    for (path, name) in [
        ("/admin", "admin"),
        ("/admin/tokens", "admin-tokens"),
        ("/admin/consultants", "admin-people"),
        ("/admin/import", "admin-import"),
    ] {
        gil.goto(&format!("{base}{path}")).await.unwrap();
        until_shows(&gil, "h1", "").await;
        let h1 = text_of(&gil, "h1").await;
        assert!(!h1.contains("Acesso negado"), "{path}: {h1}");
        record(&gil, name).await;
    }

    ana.close().await.unwrap();
    gil.close().await.unwrap();
}
