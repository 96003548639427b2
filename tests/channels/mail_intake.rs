//! The e-mail channel against a real IMAP server (a private Dovecot per
//! test, `support::imap`), on SQLite and PostgreSQL: new mail becomes
//! triggered e-mail contacts matched to provider, user and protocol (the
//! owner attends); a reply joins its thread; an unknown sender is listed
//! and matched by a manager; replies in Sent close the waiting time and
//! are flagged without the team in copy or the protocol number; a restart
//! imports nothing twice; the server going away and coming back loses
//! nothing; the mailbox is never marked \Seen, never loses a message, and
//! carries our keyword.

use crate::support;

use std::time::{Duration, Instant};

use protocall::app::Application;
use serde_json::{json, Value};
use support::imap::{self, Dovecot};
use support::{json, Backend};

on_every_backend!(
    new_mail_becomes_matched_contacts_and_replies_close_and_flag_them,
    an_unknown_sender_is_listed_and_matched_through_the_api,
    restarts_and_outages_lose_nothing_and_double_nothing,
    implicit_tls_and_starttls_reach_the_mailbox,
    a_new_uidvalidity_rereads_without_doubling_and_bad_mail_is_skipped,
);

const TEAM: &str = "consultoria@desk.example";
const DESK: &str = "atendimento@desk.example";
const WAIT: Duration = Duration::from_secs(40);

/// The daemon on one database, which can be stopped and started again.
struct Desk {
    settings: protocall::config::Settings,
    base: String,
    token: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    run: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Desk {
    async fn start(backend: Backend, dovecot: &Dovecot) -> Desk {
        Self::start_with(backend, dovecot, &[]).await
    }

    async fn start_with(backend: Backend, dovecot: &Dovecot, over: &[(&str, String)]) -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let db = support::fresh_database(&backend, dir.path()).await;
        let journal = dir.path().join("journal").display().to_string();
        let mut extra = dovecot.settings(TEAM);
        extra.retain(|(k, _)| !over.iter().any(|(o, _)| o == k));
        extra.extend(over.iter().map(|(k, v)| (k.to_string(), v.clone())));
        extra.push(("PROTOCALL__TRACKING__JOURNAL_DIR".into(), journal));
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let settings = support::settings(&db, &extra);
        let mut desk = Desk {
            settings,
            base: String::new(),
            token: String::new(),
            client: support::english_client(),
            stop: None,
            run: None,
            _dir: dir,
        };
        desk.start_again().await;
        desk
    }

    async fn start_again(&mut self) {
        let app = Application::build(&self.settings).await.unwrap();
        self.base = format!("http://{}", app.http_addr());
        if self.token.is_empty() {
            self.token = app.state().store.create_token("test").await.unwrap();
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        self.run = Some(tokio::spawn(async move {
            app.run_until_stopped(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }));
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(run) = self.run.take() {
            tokio::time::timeout(WAIT, run)
                .await
                .expect("the daemon stops in time")
                .unwrap();
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn email_contacts(&self) -> Vec<Value> {
        let v = json(self.get("/api/contacts?channel=email&limit=500").await, 200).await;
        v["items"].as_array().unwrap().clone()
    }

    /// Polls until `pick` finds what it wants in the e-mail contacts.
    async fn contacts_until(&self, what: &str, pick: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let c = self.email_contacts().await;
            if pick(&c) {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "waited too long for {what}; contacts: {c:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls the flagged replies of 2026-W49 until there are `n`.
    async fn flagged_until(&self, n: i64) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let f = json(self.get("/api/mail/flagged?week=2026-W49").await, 200).await;
            if f["total"].as_i64() == Some(n) {
                return f;
            }
            assert!(
                Instant::now() < deadline,
                "never {n} flagged replies: {f:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    async fn metric_until(&self, name: &str, want: f64) {
        let deadline = Instant::now() + WAIT;
        while self.metric(name).await != want {
            assert!(Instant::now() < deadline, "{name} never became {want}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A raw message.
fn mail(
    from: &str,
    to: &[&str],
    cc: &[&str],
    subject: &str,
    id: &str,
    parent: Option<&str>,
    body: &str,
) -> String {
    let mut m = format!(
        "From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n",
        to.join(", ")
    );
    if !cc.is_empty() {
        m.push_str(&format!("Cc: {}\r\n", cc.join(", ")));
    }
    if let Some(p) = parent {
        m.push_str(&format!("In-Reply-To: <{p}>\r\nReferences: <{p}>\r\n"));
    }
    m.push_str(&format!("\r\n{body}\r\n"));
    m
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

/// A provider with a user at `domain`, an owner consultant and an open
/// protocol of the provider: (provider, user, consultant, protocol id,
/// protocol number).
async fn directory(desk: &Desk, name: &str, domain: &str) -> (i64, i64, i64, i64, String) {
    let p = id(&json(
        desk.post("/api/providers", json!({"name": name, "consulting": true}))
            .await,
        201,
    )
    .await);
    let u = id(&json(
        desk.post(
            &format!("/api/providers/{p}/users"),
            json!({"name": "Ana", "email": format!("Ana@{domain}")}),
        )
        .await,
        201,
    )
    .await);
    let user = format!("owner{p}");
    let c = id(&json(
        desk.post(
            "/api/consultants",
            json!({"name": user, "sip_username": user, "password": "correct horse"}),
        )
        .await,
        201,
    )
    .await);
    let proto = json(
        desk.post(
            "/api/protocols",
            json!({"provider_id": p, "owner_id": c, "subject": "lenta"}),
        )
        .await,
        201,
    )
    .await;
    (
        p,
        u,
        c,
        id(&proto),
        proto["number"].as_str().unwrap().to_string(),
    )
}

fn by_provider(contacts: &[Value], p: i64) -> Vec<Value> {
    contacts
        .iter()
        .filter(|c| c["provider_id"].as_i64() == Some(p))
        .cloned()
        .collect()
}

async fn new_mail_becomes_matched_contacts_and_replies_close_and_flag_them(backend: Backend) {
    if !imap::available() {
        return;
    }
    let dovecot = Dovecot::start().await;
    dovecot.create("Sent").await;
    let desk = Desk::start(backend, &dovecot).await;
    let (p1, u1, c1, proto1, number1) = directory(&desk, "NetSul", "netsul.com.br").await;
    let (p2, _, _, _, _) = directory(&desk, "FibraNorte", "fibranorte.net").await;
    // Exact address (in another case), protocol number in the subject.
    dovecot
        .append(
            "INBOX",
            &mail(
                "Ana <ana@NETSUL.com.br>",
                &[DESK],
                &[],
                &format!("Lentidão {number1}"),
                "m1@netsul",
                None,
                "ajuda",
            ),
            "03-Dec-2026 10:00:00 +0000",
        )
        .await;
    // Domain only: another person at the second provider; no protocol.
    dovecot
        .append(
            "INBOX",
            &mail(
                "bruno@fibranorte.net",
                &[DESK],
                &[],
                "Boleto",
                "m2@fibra",
                None,
                "segunda via",
            ),
            "03-Dec-2026 10:05:00 +0000",
        )
        .await;
    let contacts = desk.contacts_until("two contacts", |c| c.len() == 2).await;
    let a = &by_provider(&contacts, p1)[0];
    assert_eq!(a["channel"], "email");
    assert_eq!(a["source"], "mail");
    assert_eq!(a["kind"], "triggered");
    assert_eq!(a["direction"], "inbound");
    assert_eq!(a["status"], "open");
    assert_eq!(a["provider_user_id"].as_i64(), Some(u1));
    assert_eq!(a["protocol_id"].as_i64(), Some(proto1));
    assert_eq!(
        a["consultant_id"].as_i64(),
        Some(c1),
        "the protocol's owner attends"
    );
    assert!(a["started_at"].is_null(), "waiting: no realised time yet");
    assert!(
        a["rang_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-03T07:00:00"),
        "{a}"
    );
    let b = &by_provider(&contacts, p2)[0];
    assert!(b["provider_user_id"].is_null());
    assert!(b["protocol_id"].is_null());

    // The client writes again in the thread (In-Reply-To), and once more
    // under the same subject without threading headers: no new contact.
    dovecot
        .append(
            "INBOX",
            &mail(
                "ana@netsul.com.br",
                &[DESK],
                &[],
                &format!("Re: Lentidão {number1}"),
                "m3@netsul",
                Some("m1@netsul"),
                "e então?",
            ),
            "03-Dec-2026 11:00:00 +0000",
        )
        .await;
    dovecot
        .append(
            "INBOX",
            &mail(
                "bruno@fibranorte.net",
                &[DESK],
                &[],
                "RES: Boleto",
                "m4@fibra",
                None,
                "?",
            ),
            "03-Dec-2026 11:05:00 +0000",
        )
        .await;
    // Replies: the first to NetSul has both (team in Cc, number in the
    // subject) two hours after arrival; the one to FibraNorte lacks the
    // team copy; a second NetSul reply lacks the number.
    dovecot
        .append(
            "Sent",
            &mail(
                DESK,
                &["ana@netsul.com.br"],
                &[TEAM],
                &format!("Re: Lentidão {number1}"),
                "r1@desk",
                Some("m3@netsul"),
                "resolvido",
            ),
            "03-Dec-2026 12:00:00 +0000",
        )
        .await;
    dovecot
        .append(
            "Sent",
            &mail(
                TEAM,
                &["bruno@fibranorte.net"],
                &[],
                "Re: Boleto",
                "r2@desk",
                Some("m2@fibra"),
                "segue",
            ),
            "03-Dec-2026 10:35:00 +0000",
        )
        .await;
    dovecot
        .append(
            "Sent",
            &mail(
                DESK,
                &["ana@netsul.com.br"],
                &[TEAM],
                "Re: Lentidão",
                "r3@desk",
                Some("r1@desk"),
                "mais",
            ),
            "03-Dec-2026 13:00:00 +0000",
        )
        .await;
    let contacts = desk
        .contacts_until("both contacts done", |c| {
            c.len() >= 2 && c.iter().all(|k| k["status"] == "done")
        })
        .await;
    assert_eq!(
        contacts.len(),
        2,
        "joined messages made no contact: {contacts:#?}"
    );
    let a = &by_provider(&contacts, p1)[0];
    assert_eq!(a["wait_ms"].as_i64(), Some(2 * 3_600_000), "{a}");
    assert_eq!(
        a["duration_ms"].as_i64(),
        Some(0),
        "waiting is nobody's time"
    );
    assert_eq!(a["started_at"], a["ended_at"]);
    let b = &by_provider(&contacts, p2)[0];
    assert_eq!(b["wait_ms"].as_i64(), Some(30 * 60_000));

    // The third reply may still be on its way: wait for both flags.
    let flagged = desk.flagged_until(2).await;
    let mut reasons: Vec<(String, Vec<Value>)> = flagged["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["message_id"].as_str().unwrap().to_string(),
                f["reasons"].as_array().unwrap().clone(),
            )
        })
        .collect();
    reasons.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        reasons,
        vec![
            ("r2@desk".to_string(), vec![json!("no_team_copy")]),
            ("r3@desk".to_string(), vec![json!("no_protocol_number")]),
        ],
        "r1 has both and is not flagged"
    );
    assert_eq!(flagged["total"], 2);
    let other_week = json(desk.get("/api/mail/flagged?week=2026-W48").await, 200).await;
    assert_eq!(other_week["total"], 0);
    json(desk.get("/api/mail/flagged?week=2026-W99").await, 400).await;
    desk.metric_until(
        "protocall_mail_replies_flagged_total{reason=\"no_team_copy\"}",
        1.0,
    )
    .await;
    desk.metric_until(
        "protocall_mail_replies_flagged_total{reason=\"no_protocol_number\"}",
        1.0,
    )
    .await;
    desk.metric_until(
        "protocall_mail_messages_total{folder=\"inbox\",result=\"joined\"}",
        2.0,
    )
    .await;
    desk.metric_until(
        "protocall_mail_messages_total{folder=\"inbox\",result=\"imported\"}",
        2.0,
    )
    .await;
    desk.metric_until("protocall_mail_connected", 1.0).await;
    assert!(
        desk.metric("protocall_mail_last_sync_timestamp_seconds")
            .await
            > 1.7e9
    );

    // Replies that reach the intake as a Bcc (from the team address): a
    // copy of one already read in Sent is not counted again; a reply seen
    // only in the inbox closes its thread like one in Sent.
    dovecot
        .append(
            "INBOX",
            &mail(
                TEAM,
                &["bruno@fibranorte.net"],
                &[],
                "Re: Boleto",
                "r2@desk",
                Some("m2@fibra"),
                "segue",
            ),
            "03-Dec-2026 10:35:00 +0000",
        )
        .await;
    dovecot
        .append(
            "INBOX",
            &mail(
                "ana@netsul.com.br",
                &[DESK],
                &[],
                "Outro assunto",
                "m5@netsul",
                None,
                "?",
            ),
            "03-Dec-2026 14:00:00 +0000",
        )
        .await;
    dovecot
        .append(
            "INBOX",
            &mail(
                TEAM,
                &["ana@netsul.com.br"],
                &[TEAM],
                "Re: Outro assunto",
                "r5@desk",
                Some("m5@netsul"),
                "ok",
            ),
            "03-Dec-2026 14:10:00 +0000",
        )
        .await;
    let contacts = desk
        .contacts_until("the Bcc reply closing the third", |c| {
            c.len() == 3 && c.iter().all(|k| k["status"] == "done")
        })
        .await;
    let waits: Vec<i64> = contacts
        .iter()
        .filter_map(|c| c["wait_ms"].as_i64())
        .collect();
    assert!(waits.contains(&(10 * 60_000)), "{contacts:#?}");
    desk.metric_until(
        "protocall_mail_replies_flagged_total{reason=\"no_team_copy\"}",
        1.0,
    )
    .await;
    assert_eq!(
        json(desk.get("/api/mail/flagged?week=2026-W49").await, 200).await["total"],
        2
    );

    // The mailbox: nothing \Seen, nothing deleted, everything keyworded.
    for (folder, n) in [("INBOX", 7), ("Sent", 3)] {
        let deadline = Instant::now() + WAIT;
        loop {
            let flags = dovecot.flags(folder).await;
            assert_eq!(flags.len(), n, "{folder}: no message removed");
            for (_, f) in &flags {
                assert!(
                    !f.iter().any(|x| x == "Seen" || x == "Deleted"),
                    "{folder}: {f:?}"
                );
            }
            if flags
                .iter()
                .all(|(_, f)| f.iter().any(|x| x.contains("$ProtocallSeen")))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{folder}: keyword never set: {flags:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn an_unknown_sender_is_listed_and_matched_through_the_api(backend: Backend) {
    if !imap::available() {
        return;
    }
    let dovecot = Dovecot::start().await;
    dovecot.create("Sent").await;
    let desk = Desk::start(backend, &dovecot).await;
    let (p1, u1, _, proto1, _) = directory(&desk, "NetSul", "netsul.com.br").await;
    let (p2, u2, _, _, _) = directory(&desk, "FibraNorte", "fibranorte.net").await;
    for (i, from) in ["carla@gmail.example", "spam@ads.example"]
        .iter()
        .enumerate()
    {
        dovecot
            .append(
                "INBOX",
                &mail(
                    from,
                    &[DESK],
                    &[],
                    &format!("Pedido {i}"),
                    &format!("u{i}@x"),
                    None,
                    "oi",
                ),
                "03-Dec-2026 09:00:00 +0000",
            )
            .await;
    }
    desk.contacts_until("two contacts", |c| c.len() == 2).await;
    let list = json(desk.get("/api/mail/unmatched").await, 200).await;
    assert_eq!(list["total"], 2);
    let threads = list["items"].as_array().unwrap().clone();
    let carla = threads
        .iter()
        .find(|t| t["sender"] == "carla@gmail.example")
        .unwrap();
    let spam = threads
        .iter()
        .find(|t| t["sender"] == "spam@ads.example")
        .unwrap();
    assert_eq!(carla["identification"], "unidentified");
    assert!(carla["provider_id"].is_null());
    let tid = id(carla);

    // Refusals change nothing.
    let path = format!("/api/mail/threads/{tid}/match");
    json(
        desk.post("/api/mail/threads/999999/match", json!({"provider_id": p1}))
            .await,
        404,
    )
    .await;
    let e = json(desk.post(&path, json!({"provider_id": 999999})).await, 422).await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("provider_id"),
        "{e}"
    );
    let e = json(
        desk.post(&path, json!({"provider_id": p1, "provider_user_id": u2}))
            .await,
        422,
    )
    .await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("provider_user_id"),
        "{e}"
    );
    json(desk.post(&path, json!({})).await, 400).await;
    json(
        desk.post(&path, json!({"not_client": true, "provider_id": p2}))
            .await,
        409,
    )
    .await;
    assert_eq!(
        json(desk.get("/api/mail/unmatched").await, 200).await["total"],
        2
    );

    let t = json(
        desk.post(
            &path,
            json!({"provider_id": p1, "provider_user_id": u1, "protocol_id": proto1}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["identification"], "client");
    assert_eq!(t["provider_id"].as_i64(), Some(p1));
    let contact = json(
        desk.get(&format!("/api/contacts/{}", t["contact_id"]))
            .await,
        200,
    )
    .await;
    assert_eq!(contact["provider_id"].as_i64(), Some(p1));
    assert_eq!(contact["provider_user_id"].as_i64(), Some(u1));
    assert_eq!(contact["protocol_id"].as_i64(), Some(proto1));
    let audit = json(
        desk.get(&format!("/api/contacts/{}/audit", t["contact_id"]))
            .await,
        200,
    )
    .await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["field"] == "identification" && a["new_value"] == "client"),
        "{audit}"
    );

    let t = json(
        desk.post(
            &format!("/api/mail/threads/{}/match", id(spam)),
            json!({"not_client": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["identification"], "not_client");
    assert_eq!(
        json(desk.get("/api/mail/unmatched").await, 200).await["total"],
        0
    );
}

/// Writes a message straight into the maildir while the server is down,
/// as a delivery agent would.
fn deliver_to_maildir(dovecot: &Dovecot, raw: &str, name: &str) {
    use std::os::unix::fs::MetadataExt;
    let home = dovecot.dir.path().join("mail").join(imap::USER);
    let owner = std::fs::metadata(&home).unwrap();
    let path = home.join("new").join(name);
    std::fs::write(&path, raw).unwrap();
    std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
}

async fn restarts_and_outages_lose_nothing_and_double_nothing(backend: Backend) {
    if !imap::available() {
        return;
    }
    let mut dovecot = Dovecot::start().await;
    dovecot.create("Sent").await;
    let mut desk = Desk::start(backend, &dovecot).await;
    let (p1, ..) = directory(&desk, "NetSul", "netsul.com.br").await;
    let one = |i: usize| {
        mail(
            "ana@netsul.com.br",
            &[DESK],
            &[],
            &format!("Assunto {i}"),
            &format!("k{i}@netsul"),
            None,
            "x",
        )
    };
    dovecot
        .append("INBOX", &one(1), "03-Dec-2026 09:00:00 +0000")
        .await;
    dovecot
        .append("INBOX", &one(2), "03-Dec-2026 09:01:00 +0000")
        .await;
    desk.contacts_until("two contacts", |c| c.len() == 2).await;

    // The daemon stops; mail comes meanwhile; it starts again on the same
    // database: the new message once, the old ones not again.
    desk.stop().await;
    dovecot
        .append("INBOX", &one(3), "03-Dec-2026 09:02:00 +0000")
        .await;
    desk.start_again().await;
    desk.contacts_until("the third contact", |c| c.len() >= 3)
        .await;
    desk.metric_until("protocall_mail_connected", 1.0).await;

    // The server goes away; mail is delivered while it is down; it comes
    // back on the same port and the daemon reconnects by itself.
    dovecot.stop().await;
    desk.metric_until("protocall_mail_connected", 0.0).await;
    deliver_to_maildir(&dovecot, &one(4), "1796380000.M1P1.outage");
    dovecot.start_again().await;
    dovecot
        .append("INBOX", &one(5), "03-Dec-2026 09:05:00 +0000")
        .await;
    let contacts = desk.contacts_until("five contacts", |c| c.len() >= 5).await;
    desk.metric_until("protocall_mail_connected", 1.0).await;
    // One more round of reading (the sync time moves on) changes nothing.
    let synced = desk
        .metric("protocall_mail_last_sync_timestamp_seconds")
        .await;
    let deadline = Instant::now() + WAIT;
    while desk
        .metric("protocall_mail_last_sync_timestamp_seconds")
        .await
        <= synced
    {
        assert!(Instant::now() < deadline, "no further round of reading");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let again = desk.email_contacts().await;
    assert_eq!(again.len(), 5, "{again:#?}");
    assert_eq!(by_provider(&contacts, p1).len(), 5);
    let mut subjects: Vec<String> = again
        .iter()
        .map(|c| c["agenda"].as_str().unwrap().to_string())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        (1..=5).map(|i| format!("Assunto {i}")).collect::<Vec<_>>()
    );
    assert_eq!(dovecot.flags("INBOX").await.len(), 5);
    desk.stop().await;
}

async fn implicit_tls_and_starttls_reach_the_mailbox(backend: Backend) {
    if !imap::available() {
        return;
    }
    let dovecot = Dovecot::start().await;
    dovecot.create("Sent").await;
    let modes = [("implicit", dovecot.tls_port), ("starttls", dovecot.port)];
    for (i, (mode, port)) in modes.into_iter().enumerate() {
        let over = [
            ("PROTOCALL__INTAKE__TLS", mode.to_string()),
            ("PROTOCALL__INTAKE__PORT", port.to_string()),
            ("PROTOCALL__INTAKE__CA_FILE", dovecot.ca_file()),
        ];
        let mut desk = Desk::start_with(backend.clone(), &dovecot, &over).await;
        // Each desk has its own database: it reads every message so far.
        dovecot
            .append(
                "INBOX",
                &mail(
                    "ana@netsul.com.br",
                    &[DESK],
                    &[],
                    &format!("TLS {mode}"),
                    &format!("t{i}@x"),
                    None,
                    "x",
                ),
                "03-Dec-2026 09:00:00 +0000",
            )
            .await;
        desk.contacts_until(mode, |c| c.len() == i + 1).await;
        desk.metric_until("protocall_mail_connected", 1.0).await;
        desk.stop().await;
    }
}

async fn a_new_uidvalidity_rereads_without_doubling_and_bad_mail_is_skipped(backend: Backend) {
    if !imap::available() {
        return;
    }
    let mut dovecot = Dovecot::start().await;
    dovecot.create("Sent").await;
    let desk = Desk::start(backend, &dovecot).await;
    let one = |i: usize| {
        mail(
            "ana@netsul.com.br",
            &[DESK],
            &[],
            &format!("Caso {i}"),
            &format!("v{i}@netsul"),
            None,
            "x",
        )
    };
    dovecot
        .append("INBOX", &one(1), "03-Dec-2026 09:00:00 +0000")
        .await;
    // No sender: counted, skipped, and no obstacle to what follows.
    dovecot
        .append(
            "INBOX",
            "Subject: no sender\r\n\r\nhi\r\n",
            "03-Dec-2026 09:00:30 +0000",
        )
        .await;
    dovecot
        .append("INBOX", &one(2), "03-Dec-2026 09:01:00 +0000")
        .await;
    desk.contacts_until("two contacts", |c| c.len() == 2).await;
    desk.metric_until(
        "protocall_mail_messages_total{folder=\"inbox\",result=\"unparseable\"}",
        1.0,
    )
    .await;

    // The mailbox is rebuilt (its UID list lost): new UIDVALIDITY, new UIDs.
    let before = dovecot.uid_validity("INBOX").await;
    dovecot.stop().await;
    let home = dovecot.dir.path().join("mail").join(imap::USER);
    for entry in std::fs::read_dir(&home).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "dovecot-uidlist" || name.starts_with("dovecot.index") {
            std::fs::remove_file(&path).unwrap();
        }
    }
    dovecot.start_again().await;
    assert_ne!(
        dovecot.uid_validity("INBOX").await,
        before,
        "the test rebuilt nothing"
    );
    dovecot
        .append("INBOX", &one(3), "03-Dec-2026 09:02:00 +0000")
        .await;
    let contacts = desk
        .contacts_until("the third contact", |c| c.len() >= 3)
        .await;
    // The re-read found the two it knew (and the unreadable one) by
    // Message-ID before it reached the new one.
    desk.metric_until(
        "protocall_mail_messages_total{folder=\"inbox\",result=\"duplicate\"}",
        3.0,
    )
    .await;
    assert_eq!(desk.email_contacts().await.len(), 3, "{contacts:#?}");
}
