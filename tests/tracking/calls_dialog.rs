//! A call is an INVITE dialog, keyed by Call-ID and the caller's From tag,
//! through the real daemon on SQLite and PostgreSQL: requests that are not
//! calls (OPTIONS, MESSAGE) still reach a consultant but never become calls
//! or contacts, and an INVITE that reuses a logged call's Call-ID is another
//! call that leaves the first one's row alone. The schema change that makes
//! this so keeps the rows already logged.

use crate::support;

use std::time::Duration;

use protocall::sip::message::Method;
use serde_json::Value;
use support::desk::*;
use support::sip_agent::Agent;
use support::{json, Backend};

on_every_backend!(
    options_and_message_to_a_consultant_make_no_call_and_no_contact,
    an_invite_reusing_a_logged_call_id_leaves_that_call_alone,
    upgrading_keeps_the_calls_contacts_and_callbacks_already_stored,
);

/// The carrier's OPTIONS and MESSAGE numbers and the caller of the desk.
const CLIENT: &str = "011987654321";
/// A caller without a consulting contract: the dialplan sends it to the URA.
const OTHER: &str = "2134567890";

fn ana_uri(d: &Desk) -> String {
    format!("sip:ana@127.0.0.1:{}", d.app.sip_udp.port())
}

/// Sends an out-of-dialog `method` (no To tag) through the proxy.
async fn out_of_dialog(from: &Agent, method: &str, uri: &str, call_id: &str, tag: &str) {
    let (via, _) = from.new_via();
    let body = if method == "MESSAGE" { "hello" } else { "" };
    let msg = format!(
        "{method} {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
         From: <{aor}>;tag={tag}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n{body}",
        aor = from.aor(),
        len = body.len(),
    );
    from.send_raw(msg).await.unwrap();
}

/// The rows the call log holds for a Call-ID, once there are `n` of them
/// and `until` holds for each.
async fn calls_under(
    d: &Desk,
    call_id: &str,
    n: usize,
    until: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let page = json(
            d.app.get(&format!("/api/calls?call_id={call_id}")).await,
            200,
        )
        .await;
        let items = page["items"].as_array().unwrap().clone();
        if items.len() == n && items.iter().all(&until) {
            return items;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} settled calls under {call_id}: {page}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn contacts_of(d: &Desk, call_id: &str) -> Vec<Value> {
    json(
        d.app.get(&format!("/api/contacts?call_id={call_id}")).await,
        200,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn options_and_message_to_a_consultant_make_no_call_and_no_contact(b: Backend) {
    let mut d = desk_on(b, PLAN).await;
    let mut caller = carrier(&d, CLIENT).await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    answered_by(&mut d.ana, &mut caller, &call).await;
    logged(&d, &call.call_id, |v| v["outcome"] == "answered").await;

    // While the call is up, the trusted carrier pings and messages ana:
    // an OPTIONS of its own, and a MESSAGE reusing the call's Call-ID
    // with another From tag. Both still reach her phone.
    let peer = carrier(&d, CLIENT).await;
    let ping = format!("ping-{}", call.call_id);
    out_of_dialog(&peer, "OPTIONS", &ana_uri(&d), &ping, "p1").await;
    let (options, _) = d.ana.next_request_of(Method::Options, T).await.unwrap();
    d.ana.respond(&options, 200).await.unwrap();
    let mut peer = peer;
    peer.expect_response(Method::Options, 200, T).await.unwrap();
    out_of_dialog(&peer, "MESSAGE", &ana_uri(&d), &call.call_id, "m1").await;
    let (message, _) = d.ana.next_request_of(Method::Message, T).await.unwrap();
    assert_eq!(String::from_utf8_lossy(message.body()), "hello");
    d.ana.respond(&message, 200).await.unwrap();
    peer.expect_response(Method::Message, 200, T).await.unwrap();

    // The call ends as it would have without them.
    caller.bye(&call).await.unwrap();
    let (bye, _) = d.ana.next_request_of(Method::Bye, T).await.unwrap();
    d.ana.respond(&bye, 200).await.unwrap();
    caller.expect_response(Method::Bye, 200, T).await.unwrap();
    let row = logged(&d, &call.call_id, ended).await;
    assert_eq!(row["rule"], "consulting-with-protocol", "{row}");
    assert_eq!(row["outcome"], "answered", "{row}");
    assert_eq!(row["consultant"], "ana", "{row}");
    assert_eq!(row["ended_by"], "caller", "{row}");
    assert!(row["to"].as_str().unwrap().contains("4000"), "{row}");
    assert!(row["answered_at"].is_string(), "{row}");

    // A call (and a contact for it) was logged once; nothing for the pings.
    let calls = calls_under(&d, &call.call_id, 1, ended).await;
    assert_eq!(calls[0]["id"], row["id"]);
    calls_under(&d, &ping, 0, |_| true).await;
    let all = json(d.app.get("/api/calls").await, 200).await;
    assert_eq!(all["total"], 1, "{all}");
    assert!(contacts_of(&d, &ping).await.is_empty());
    let contacts = contacts_of(&d, &call.call_id).await;
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0]["status"], "done", "{contacts:?}");
    assert_eq!(contacts[0]["consultant_id"], d.ana_id);
    let m = metrics(&d).await;
    assert!(m.contains("protocall_calls_offered_total 1"), "{m}");
}

async fn an_invite_reusing_a_logged_call_id_leaves_that_call_alone(b: Backend) {
    let mut d = desk_on(b, PLAN).await;
    let mut caller = carrier(&d, CLIENT).await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    answered_by(&mut d.ana, &mut caller, &call).await;
    logged(&d, &call.call_id, |v| v["outcome"] == "answered").await;

    // Someone else sends an INVITE under the same Call-ID while the call
    // is up: another call (the URA is busy), not an end to the first.
    let mut other = carrier(&d, OTHER).await;
    let reuse = other
        .invite_with_call_id(&desk_uri(&d), &call.call_id, &[])
        .await
        .unwrap();
    assert_ne!(reuse.local_tag, call.local_tag);
    let (inv, _) = d.ura.next_request_of(Method::Invite, T).await.unwrap();
    d.ura.respond(&inv, 486).await.unwrap();
    let busy = other.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(busy.status(), Some(486));
    other.ack(&reuse, &busy).await.unwrap();
    calls_under(&d, &call.call_id, 2, |v| !v["outcome"].is_null()).await;

    // The first call then ends on its own BYE.
    caller.bye(&call).await.unwrap();
    let (bye, _) = d.ana.next_request_of(Method::Bye, T).await.unwrap();
    d.ana.respond(&bye, 200).await.unwrap();
    caller.expect_response(Method::Bye, 200, T).await.unwrap();
    let first = logged(&d, &call.call_id, ended).await;
    assert_eq!(first["rule"], "consulting-with-protocol", "{first}");
    assert_eq!(first["outcome"], "answered", "{first}");
    assert_eq!(first["consultant"], "ana", "{first}");
    assert_eq!(first["ended_by"], "caller", "{first}");
    assert!(first["from"].as_str().unwrap().contains(CLIENT), "{first}");

    // Once it is logged, the Call-ID is reused again: answered and hung
    // up this time.
    let again = other
        .invite_with_call_id(&desk_uri(&d), &call.call_id, &[])
        .await
        .unwrap();
    answered_by(&mut d.ura, &mut other, &again).await;
    other.bye(&again).await.unwrap();
    let (bye, _) = d.ura.next_request_of(Method::Bye, T).await.unwrap();
    d.ura.respond(&bye, 200).await.unwrap();
    other.expect_response(Method::Bye, 200, T).await.unwrap();

    let rows = calls_under(&d, &call.call_id, 3, |v| {
        !v["outcome"].is_null() && ended(v)
    })
    .await;
    let mut outcomes: Vec<&str> = rows
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    outcomes.sort_unstable();
    assert_eq!(outcomes, ["answered", "answered", "busy"], "{rows:?}");
    for r in rows.iter().filter(|r| r["id"] != first["id"]) {
        assert!(r["from"].as_str().unwrap().contains(OTHER), "{r}");
        assert_eq!(r["rule"], "everyone-else", "{r}");
    }
    // The first call's row is exactly what it was, by id and by Call-ID.
    let by_id = json(d.app.get(&format!("/api/calls/{}", first["id"])).await, 200).await;
    assert_eq!(by_id, first);
    let by_call_id = json(
        d.app.get(&format!("/api/calls/{}", call.call_id)).await,
        200,
    )
    .await;
    assert_eq!(
        by_call_id, first,
        "the Call-ID names the first call logged under it"
    );
    // Only the first call rang a consultant: one contact, still its own.
    let contacts = contacts_of(&d, &call.call_id).await;
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0]["status"], "done", "{contacts:?}");
    assert_eq!(contacts[0]["consultant_id"], d.ana_id);
}

/// A database at the previous schema version with a call, its contact, a
/// call-back with its scheduled contact and a participant: migrating keeps
/// every row and every reference, and then keys them by dialog.
async fn upgrading_keeps_the_calls_contacts_and_callbacks_already_stored(b: Backend) {
    use protocall::store::{CallRow, NewCallback, Store, Write, MIGRATIONS};
    use sha2::Digest;
    use sqlx::{AnyConnection, Connection, Executor};

    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let url = support::fresh_database(&b, dir.path()).await;
    let sqlite = matches!(b, Backend::Sqlite);
    let url = if sqlite {
        format!("{url}?mode=rwc")
    } else {
        url
    };
    let mut conn = AnyConnection::connect(&url).await.unwrap();
    if sqlite {
        conn.execute("PRAGMA foreign_keys = ON").await.unwrap();
    }
    conn.execute(
        "CREATE TABLE protocall_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await
    .unwrap();
    let before: Vec<_> = MIGRATIONS.iter().filter(|m| m.version < 7).collect();
    assert_eq!(before.len(), 6);
    for m in before {
        let sql = if sqlite { m.sqlite } else { m.postgres };
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        sqlx::query(
            "INSERT INTO protocall_migrations (version, name, checksum, applied_at) \
             VALUES ($1, $2, $3, 0)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(hex::encode(sha2::Sha256::digest(sql.as_bytes())))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let consultant = format!(
        "INSERT INTO consultants (id, name, sip_username, ha1_md5, ha1_sha256, created_at, \
         updated_at) VALUES (1, 'Ana', 'ana', '{}', '{}', 0, 0)",
        "0".repeat(32),
        "0".repeat(64)
    );
    let seed = [
        consultant.as_str(),
        "INSERT INTO calls (id, call_id, direction, from_uri, to_uri, caller_class, rule, route, \
         outcome, started_at, answered_at, ended_at, detail) VALUES (10, 'old@carrier', 'inbound', \
         'sip:a@c', 'sip:4000@desk', 'consulting', 'r', 'owner', 'answered', 1000, 2000, 3000, '{}')",
        "INSERT INTO contacts (id, kind, channel, status, consultant_id, call_id, rang_at, \
         started_at, ended_at, source, created_at, updated_at) VALUES (20, 'triggered', 'phone', \
         'done', 1, 'old@carrier', 1000, 2000, 3000, 'call', 0, 0)",
        "INSERT INTO contacts (id, kind, channel, status, consultant_id, planned_start, planned_end, \
         source, created_at, updated_at) VALUES (21, 'scheduled', 'meeting', 'scheduled', 1, 5000, \
         6000, 'manual', 0, 0)",
        "INSERT INTO contact_participants (contact_id, consultant_id) VALUES (21, 1)",
        "INSERT INTO callbacks (id, call_id, consultant_id, reason, created_at, due_at, contact_id) \
         VALUES (30, 'old@carrier', 1, 'busy', 1000, 2000, 21)",
    ];
    for s in seed {
        conn.execute(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    conn.close().await.unwrap();

    let store = Store::connect(&url, 2, chrono_tz::UTC).await.unwrap();
    // 7 and whatever came after it.
    assert_eq!(store.migrate().await.unwrap().first(), Some(&7));
    assert!(store.migrate().await.unwrap().is_empty(), "applied once");
    let old = store.get_call("old@carrier").await.unwrap();
    assert_eq!(old.id, 10);
    assert_eq!(old.row.from_tag, "");
    assert_eq!(old.row.outcome.as_deref(), Some("answered"));
    assert_eq!(count(&url, "SELECT COUNT(*) FROM contacts").await, 2);
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM contact_participants WHERE contact_id = 21"
        )
        .await,
        1,
        "rebuilding contacts did not cascade to its participants"
    );
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM callbacks WHERE id = 30 AND contact_id = 21"
        )
        .await,
        1,
        "the call-back still points at its contact"
    );

    // Keyed by dialog from now on: the same Call-ID with a From tag is
    // another call, call-back and contact; a replay of either is still one.
    let mut row = CallRow {
        from_tag: "new".into(),
        ..old.row.clone()
    };
    row.outcome = Some("busy".into());
    store.save_call(&row).await.unwrap();
    store.save_call(&row).await.unwrap();
    let all = store
        .list_calls(&protocall::store::CallQuery {
            call_id: Some("old@carrier".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.total, 2);
    let first = store.get_call("10").await.unwrap();
    assert_eq!(first.row, old.row, "the first call's row is untouched");
    let cb = NewCallback {
        call_id: "old@carrier".into(),
        from_tag: "new".into(),
        consultant_id: 1,
        provider_id: None,
        protocol_id: None,
        caller_number: None,
        reason: "no_answer".into(),
        created_at_ms: 4000,
        due_at_ms: 5000,
    };
    assert!(store.create_callback(&cb).await.unwrap());
    assert!(!store.create_callback(&cb).await.unwrap(), "replay ignored");
    let contact = protocall::store::CallContact {
        call_id: "old@carrier".into(),
        from_tag: "new".into(),
        direction: "inbound".into(),
        status: "missed".into(),
        reason: Some("busy".into()),
        consultant_id: Some(1),
        provider_id: None,
        provider_user_id: None,
        protocol_id: None,
        rang_at_ms: 4000,
        started_at_ms: None,
        ended_at_ms: Some(4500),
        wait_ms: Some(500),
        flag: None,
    };
    let w = Write::Contact(contact);
    store.write_batch([&w, &w]).await.unwrap();
    assert_eq!(count(&url, "SELECT COUNT(*) FROM callbacks").await, 2);
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM contacts WHERE call_id = 'old@carrier'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM contacts WHERE id = 20 AND status = 'done'"
        )
        .await,
        1,
        "the first call's contact is untouched"
    );
    store.close().await;
}

/// One number from a query, on a connection of its own.
async fn count(url: &str, sql: &str) -> i64 {
    use sqlx::{Connection, Row};
    let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
    let n: i64 = sqlx::query(sql).fetch_one(&mut c).await.unwrap().get(0);
    c.close().await.unwrap();
    n
}
