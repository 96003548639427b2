//! Bad bytes at the SIP edge, through the real daemon: a control character
//! in a header value is answered 400 naming the header, and a Call-ID
//! carrying a NUL never becomes a call, a contact or a binding (on
//! PostgreSQL it used to jam the contacts journal, so no later call
//! arrived either).

use crate::support;

use std::time::Duration;

use protocall::sip::message::Method;
use serde_json::Value;
use support::desk::*;
use support::sip_agent::Agent;
use support::{json, Backend};

on_every_backend!(a_nul_in_the_call_id_is_refused_and_stored_nowhere);

/// A trunk's INVITE to the desk, as `invite` would send it, but with a
/// Call-ID of our choosing.
fn raw_invite(agent: &Agent, target: &str, call_id: &str) -> Vec<u8> {
    let (via, _) = agent.new_via();
    format!(
        "INVITE {target} SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: <{aor}>;tag=badbytes\r\n\
         To: <{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <{contact}>\r\n\
         Content-Length: 0\r\n\r\n",
        aor = agent.aor(),
        contact = agent.contact_uri(),
    )
    .into_bytes()
}

fn raw_register(agent: &Agent, call_id: &str) -> Vec<u8> {
    let (via, _) = agent.new_via();
    format!(
        "REGISTER sip:{domain} SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: <{aor}>;tag=badbytes\r\n\
         To: <{aor}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:evil@127.0.0.1:9>\r\n\
         Expires: 300\r\n\
         Content-Length: 0\r\n\r\n",
        domain = agent.domain(),
        aor = agent.aor(),
    )
    .into_bytes()
}

async fn answered_and_hung_up(d: &mut Desk) -> String {
    let mut caller = carrier(d, "011987654321").await;
    let call = caller.invite(&desk_uri(d)).await.unwrap();
    answered_by(&mut d.ana, &mut caller, &call).await;
    caller.bye(&call).await.unwrap();
    let (bye, _) = d.ana.next_request_of(Method::Bye, T).await.unwrap();
    d.ana.respond(&bye, 200).await.unwrap();
    caller.expect_response(Method::Bye, 200, T).await.unwrap();
    call.call_id
}

async fn a_nul_in_the_call_id_is_refused_and_stored_nowhere(b: Backend) {
    let mut d = desk_on(b, PLAN).await;
    // NetSul's number: a clean INVITE like this one rings ana, its owner.
    let mut caller = carrier(&d, "011987654321").await;
    let bad_id = "nul\0inside@127.0.0.2";
    caller
        .send_raw(raw_invite(&caller, &desk_uri(&d), bad_id))
        .await
        .unwrap();
    let resp = caller.final_response(Method::Invite, T).await.unwrap();
    // The reason phrase says what is wrong.
    assert_eq!(resp.status(), Some(400));
    assert_eq!(
        resp.reason().unwrap(),
        b"Control character in Call-ID header"
    );
    d.ana
        .nothing_matching(Duration::from_millis(500), |m| {
            m.method() == Some(Method::Invite)
        })
        .await
        .unwrap();

    // The registrar refuses it too, before it looks at credentials.
    let mut bia = Agent::udp("bia", d.app.sip_udp).await.unwrap();
    bia.send_raw(raw_register(&bia, "reg\0nul@127.0.0.1"))
        .await
        .unwrap();
    let resp = bia.final_response(Method::Register, T).await.unwrap();
    assert_eq!(resp.status(), Some(400));

    // A clean call afterwards: the journal is written in order, so once its
    // contact is in the database, anything the bad INVITE caused would be
    // there too.
    let good = answered_and_hung_up(&mut d).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let contacts = loop {
        let page = json(d.app.get("/api/contacts?limit=100").await, 200).await;
        let done = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["call_id"] == good.as_str() && c["status"] == "done");
        if done {
            break page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the clean call's contact never reached the database: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let call_ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["call_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(call_ids(&contacts), vec![good.clone()], "{contacts}");
    let calls = json(d.app.get("/api/calls?limit=100").await, 200).await;
    assert_eq!(call_ids(&calls), vec![good], "{calls}");
}
