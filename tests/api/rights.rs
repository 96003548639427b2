//! Rights, end to end: every operation of the OpenAPI document, called by
//! every kind of caller (admin, manager, a consultant on their own data and
//! on someone else's, a feed token on its own feed and on another's, no
//! token, an expired and a revoked one), gets exactly the outcome its role
//! table says; an operation the table below does not know fails the test,
//! so no route ships without a rights decision. On SQLite and PostgreSQL.

use crate::support;

use serde_json::{json, Value};
use support::{json, Backend, TestApp};

on_every_backend!(every_operation_admits_exactly_its_roles);

/// Who may call an operation (mirrors `src/http/rights.rs`, written out
/// again on purpose: a change there must be made here too, knowingly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Anyone,
    Own,
    Feed,
    Manager,
    Admin,
    /// A foreign system's webhook: no token, an HMAC signature.
    Signed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Admin,
    Manager,
    ConsultantOwn,
    ConsultantOther,
    FeedOwn,
    FeedOther,
    NoToken,
    Expired,
    Revoked,
}

/// Feed callers before Ana herself: her issuing a feed token revokes the
/// one they hold.
const CALLERS: [Caller; 9] = [
    Caller::Admin,
    Caller::Manager,
    Caller::FeedOwn,
    Caller::FeedOther,
    Caller::ConsultantOwn,
    Caller::ConsultantOther,
    Caller::NoToken,
    Caller::Expired,
    Caller::Revoked,
];

impl Caller {
    fn allowed(self, need: Need) -> bool {
        // A signed webhook admits no token at all: without a signature
        // every caller is refused alike.
        if need == Need::Signed {
            return false;
        }
        match self {
            Caller::Admin => true,
            Caller::Manager => need != Need::Admin,
            Caller::ConsultantOwn => matches!(need, Need::Anyone | Need::Own | Need::Feed),
            Caller::ConsultantOther => need == Need::Anyone,
            Caller::FeedOwn => need == Need::Feed,
            Caller::FeedOther | Caller::NoToken | Caller::Expired | Caller::Revoked => false,
        }
    }

    /// Signed in but refused is 403; not signed in (or, for a signed
    /// webhook, no signature) is 401.
    fn refusal(self, need: Need) -> u16 {
        if need == Need::Signed {
            return 401;
        }
        match self {
            Caller::NoToken | Caller::Expired | Caller::Revoked => 401,
            _ => 403,
        }
    }
}

/// The ids of one consultant's things.
#[derive(Debug, Clone)]
struct Mine {
    consultant: i64,
    task: i64,
    contact: i64,
    callback: i64,
    call: String,
    protocol: i64,
    /// A chat conversation the consultant attends.
    chat: i64,
}

struct Fx {
    provider: i64,
    user: i64,
}

enum Body {
    None,
    Json(Value),
    Csv(&'static str),
}

type Build = fn(&Fx, &Mine) -> (String, Body);

/// Ids that exist nowhere: destructive admin operations aim at them, so
/// the admin's call is judged (404, not 403) without destroying fixtures.
const NONE: i64 = 999_999;

fn ops() -> Vec<(&'static str, &'static str, Need, Build)> {
    use Body::{Csv, Json as J};
    vec![
        ("GET", "/api/openapi.json", Need::Anyone, |_, _| {
            ("/api/openapi.json".into(), Body::None)
        }),
        ("GET", "/api/providers", Need::Anyone, |_, _| {
            ("/api/providers".into(), Body::None)
        }),
        ("POST", "/api/providers", Need::Admin, |_, _| {
            ("/api/providers".into(), J(json!({"name": "Walk Telecom"})))
        }),
        ("GET", "/api/providers/{id}", Need::Anyone, |f, _| {
            (format!("/api/providers/{}", f.provider), Body::None)
        }),
        ("PATCH", "/api/providers/{id}", Need::Admin, |f, _| {
            (
                format!("/api/providers/{}", f.provider),
                J(json!({"name": "NetSul"})),
            )
        }),
        ("DELETE", "/api/providers/{id}", Need::Admin, |_, _| {
            (format!("/api/providers/{NONE}"), Body::None)
        }),
        (
            "GET",
            "/api/providers/{id}/numbers",
            Need::Anyone,
            |f, _| (format!("/api/providers/{}/numbers", f.provider), Body::None),
        ),
        (
            "POST",
            "/api/providers/{id}/numbers",
            Need::Admin,
            |f, _| {
                (
                    format!("/api/providers/{}/numbers", f.provider),
                    J(json!({"number": "(11) 3333-4444"})),
                )
            },
        ),
        ("DELETE", "/api/numbers/{id}", Need::Admin, |_, _| {
            (format!("/api/numbers/{NONE}"), Body::None)
        }),
        ("GET", "/api/providers/{id}/users", Need::Anyone, |f, _| {
            (format!("/api/providers/{}/users", f.provider), Body::None)
        }),
        ("POST", "/api/providers/{id}/users", Need::Admin, |f, _| {
            (
                format!("/api/providers/{}/users", f.provider),
                J(json!({"name": "Walker"})),
            )
        }),
        ("GET", "/api/users/{id}", Need::Anyone, |f, _| {
            (format!("/api/users/{}", f.user), Body::None)
        }),
        ("PATCH", "/api/users/{id}", Need::Admin, |f, _| {
            (
                format!("/api/users/{}", f.user),
                J(json!({"name": "Carlos"})),
            )
        }),
        ("DELETE", "/api/users/{id}", Need::Admin, |_, _| {
            (format!("/api/users/{NONE}"), Body::None)
        }),
        ("GET", "/api/consultants", Need::Anyone, |_, _| {
            ("/api/consultants".into(), Body::None)
        }),
        ("POST", "/api/consultants", Need::Admin, |_, _| {
            (
                "/api/consultants".into(),
                J(json!({"name": "Walker", "sip_username": "walker", "password": "correct horse"})),
            )
        }),
        ("GET", "/api/consultants/{id}", Need::Anyone, |_, m| {
            (format!("/api/consultants/{}", m.consultant), Body::None)
        }),
        ("PATCH", "/api/consultants/{id}", Need::Admin, |_, m| {
            (
                format!("/api/consultants/{}", m.consultant),
                J(json!({"weekly_capacity_hours": 40})),
            )
        }),
        ("DELETE", "/api/consultants/{id}", Need::Admin, |_, _| {
            (format!("/api/consultants/{NONE}"), Body::None)
        }),
        (
            "PUT",
            "/api/consultants/{id}/presence",
            Need::Own,
            |_, m| {
                (
                    format!("/api/consultants/{}/presence", m.consultant),
                    J(json!({"status": "available"})),
                )
            },
        ),
        ("GET", "/api/protocols", Need::Own, |_, m| {
            (
                format!("/api/protocols?owner_id={}", m.consultant),
                Body::None,
            )
        }),
        ("POST", "/api/protocols", Need::Manager, |f, m| {
            (
                "/api/protocols".into(),
                J(json!({"provider_id": f.provider, "owner_id": m.consultant, "subject": "walk"})),
            )
        }),
        ("GET", "/api/protocols/{id}", Need::Own, |_, m| {
            (format!("/api/protocols/{}", m.protocol), Body::None)
        }),
        (
            "POST",
            "/api/protocols/{id}/assign",
            Need::Manager,
            |_, m| {
                (
                    format!("/api/protocols/{}/assign", m.protocol),
                    J(json!({"owner_id": m.consultant})),
                )
            },
        ),
        (
            "POST",
            "/api/protocols/{id}/close",
            Need::Manager,
            |_, _| (format!("/api/protocols/{NONE}/close"), Body::None),
        ),
        ("PATCH", "/api/protocols/{id}", Need::Manager, |_, m| {
            (
                format!("/api/protocols/{}", m.protocol),
                J(json!({"subject": "walked"})),
            )
        }),
        (
            "POST",
            "/api/protocols/{id}/reopen",
            Need::Manager,
            |_, _| (format!("/api/protocols/{NONE}/reopen"), Body::None),
        ),
        ("GET", "/api/protocols/{id}/audit", Need::Own, |_, m| {
            (format!("/api/protocols/{}/audit", m.protocol), Body::None)
        }),
        ("POST", "/api/protocols/events", Need::Signed, |_, _| {
            ("/api/protocols/events".into(), J(json!({})))
        }),
        (
            "GET",
            "/api/protocols/events/pending",
            Need::Manager,
            |_, _| ("/api/protocols/events/pending".into(), Body::None),
        ),
        ("GET", "/api/lookup", Need::Anyone, |_, _| {
            ("/api/lookup?number=%2B5511987654321".into(), Body::None)
        }),
        ("POST", "/api/import", Need::Admin, |_, _| {
            (
                "/api/import".into(),
                Csv("provider,consulting,number\nNetSul,sim,(11) 98765-4321\n"),
            )
        }),
        ("POST", "/api/routing/simulate", Need::Manager, |_, _| {
            (
                "/api/routing/simulate".into(),
                J(json!({"from": "+5511987654321"})),
            )
        }),
        ("POST", "/api/routing/reload", Need::Admin, |_, _| {
            ("/api/routing/reload".into(), Body::None)
        }),
        ("GET", "/api/calls", Need::Own, |_, m| {
            (
                format!("/api/calls?consultant_id={}", m.consultant),
                Body::None,
            )
        }),
        ("GET", "/api/calls/{id}", Need::Own, |_, m| {
            (format!("/api/calls/{}", m.call), Body::None)
        }),
        ("GET", "/api/callbacks", Need::Own, |_, m| {
            (
                format!("/api/callbacks?consultant_id={}", m.consultant),
                Body::None,
            )
        }),
        ("PUT", "/api/callbacks/{id}/status", Need::Own, |_, m| {
            (
                format!("/api/callbacks/{}/status", m.callback),
                J(json!({"status": "pending"})),
            )
        }),
        ("GET", "/api/callbacks/{id}/audit", Need::Own, |_, m| {
            (format!("/api/callbacks/{}/audit", m.callback), Body::None)
        }),
        ("GET", "/api/contacts", Need::Own, |_, m| {
            (
                format!("/api/contacts?consultant_id={}", m.consultant),
                Body::None,
            )
        }),
        ("POST", "/api/contacts", Need::Own, |_, m| {
            (
                "/api/contacts".into(),
                J(json!({"channel": "email", "consultant_id": m.consultant,
                         "started_at": "2026-11-02T09:00:00-03:00",
                         "ended_at": "2026-11-02T09:10:00-03:00"})),
            )
        }),
        ("POST", "/api/contacts/start", Need::Own, |_, m| {
            (
                "/api/contacts/start".into(),
                J(json!({"channel": "chat", "consultant_id": m.consultant})),
            )
        }),
        ("POST", "/api/contacts/stop", Need::Own, |_, m| {
            (
                "/api/contacts/stop".into(),
                J(json!({"consultant_id": m.consultant})),
            )
        }),
        ("POST", "/api/contacts/{id}/start", Need::Own, |_, m| {
            (format!("/api/contacts/{}/start", m.contact), J(json!({})))
        }),
        ("POST", "/api/contacts/{id}/stop", Need::Own, |_, m| {
            (format!("/api/contacts/{}/stop", m.contact), J(json!({})))
        }),
        ("GET", "/api/contacts/{id}", Need::Own, |_, m| {
            (format!("/api/contacts/{}", m.contact), Body::None)
        }),
        ("PATCH", "/api/contacts/{id}", Need::Own, |_, m| {
            (
                format!("/api/contacts/{}", m.contact),
                J(json!({"notes": "walked"})),
            )
        }),
        // The scheduled-contact timers (a realised contact: 409 for
        // whoever may act on it, the refusal for whoever may not).
        ("POST", "/api/contacts/{id}/start", Need::Own, |_, m| {
            (format!("/api/contacts/{}/start", m.contact), J(json!({})))
        }),
        ("POST", "/api/contacts/{id}/stop", Need::Own, |_, m| {
            (format!("/api/contacts/{}/stop", m.contact), J(json!({})))
        }),
        ("GET", "/api/contacts/{id}/audit", Need::Own, |_, m| {
            (format!("/api/contacts/{}/audit", m.contact), Body::None)
        }),
        ("GET", "/api/tasks", Need::Own, |_, m| {
            (
                format!("/api/tasks?consultant_id={}", m.consultant),
                Body::None,
            )
        }),
        ("POST", "/api/tasks", Need::Own, |_, m| {
            (
                "/api/tasks".into(),
                J(json!({"consultant_id": m.consultant, "category": "review",
                         "started_at": "2026-11-03T09:00:00-03:00",
                         "ended_at": "2026-11-03T09:30:00-03:00"})),
            )
        }),
        ("POST", "/api/tasks/start", Need::Own, |_, m| {
            (
                "/api/tasks/start".into(),
                J(json!({"consultant_id": m.consultant, "category": "documentation"})),
            )
        }),
        ("POST", "/api/tasks/stop", Need::Own, |_, m| {
            (
                "/api/tasks/stop".into(),
                J(json!({"consultant_id": m.consultant})),
            )
        }),
        ("GET", "/api/tasks/{id}", Need::Own, |_, m| {
            (format!("/api/tasks/{}", m.task), Body::None)
        }),
        ("PATCH", "/api/tasks/{id}", Need::Own, |_, m| {
            (
                format!("/api/tasks/{}", m.task),
                J(json!({"title": "walked"})),
            )
        }),
        ("POST", "/api/tasks/{id}/stop", Need::Own, |_, m| {
            (format!("/api/tasks/{}/stop", m.task), J(json!({})))
        }),
        ("GET", "/api/tasks/{id}/audit", Need::Own, |_, m| {
            (format!("/api/tasks/{}/audit", m.task), Body::None)
        }),
        ("GET", "/api/task-categories", Need::Anyone, |_, _| {
            ("/api/task-categories".into(), Body::None)
        }),
        ("POST", "/api/task-categories", Need::Manager, |_, _| {
            ("/api/task-categories".into(), J(json!({"name": "walking"})))
        }),
        ("GET", "/api/rooms", Need::Anyone, |_, _| {
            ("/api/rooms".into(), Body::None)
        }),
        ("POST", "/api/rooms", Need::Manager, |_, _| {
            ("/api/rooms".into(), J(json!({"name": "Walk room"})))
        }),
        ("GET", "/api/workplans", Need::Own, |_, m| {
            (
                format!(
                    "/api/workplans?week=2026-W49&consultant_id={}",
                    m.consultant
                ),
                Body::None,
            )
        }),
        (
            "PUT",
            "/api/workplans/{consultant_id}/{week}",
            Need::Manager,
            |_, m| {
                (
                    format!("/api/workplans/{}/2026-W49", m.consultant),
                    J(json!({"items": [{"category": "documentation", "hours": 2}]})),
                )
            },
        ),
        ("POST", "/api/workplans/copy", Need::Manager, |_, m| {
            (
                "/api/workplans/copy".into(),
                J(json!({"from_week": "2026-W49", "consultant_id": m.consultant})),
            )
        }),
        ("GET", "/api/consultants/{id}/hours", Need::Own, |_, m| {
            (
                format!("/api/consultants/{}/hours", m.consultant),
                Body::None,
            )
        }),
        ("PUT", "/api/consultants/{id}/hours", Need::Own, |_, m| {
            (
                format!("/api/consultants/{}/hours", m.consultant),
                J(json!({"fri": ["09:00-13:00"]})),
            )
        }),
        ("GET", "/api/absences", Need::Own, |_, m| {
            (
                format!(
                    "/api/absences?consultant_id={}&from=2026-12-01&to=2026-12-31",
                    m.consultant
                ),
                Body::None,
            )
        }),
        ("POST", "/api/absences", Need::Own, |_, m| {
            (
                "/api/absences".into(),
                J(
                    json!({"consultant_id": m.consultant, "first_day": "2026-12-24",
                         "last_day": "2026-12-25"}),
                ),
            )
        }),
        ("POST", "/api/schedule", Need::Manager, |_, m| {
            (
                "/api/schedule".into(),
                J(json!({"week": "2026-W49", "consultant_id": m.consultant})),
            )
        }),
        (
            "GET",
            "/api/consultants/{id}/calendar.ics",
            Need::Feed,
            |_, m| {
                (
                    format!("/api/consultants/{}/calendar.ics", m.consultant),
                    Body::None,
                )
            },
        ),
        ("GET", "/api/reports/weekly", Need::Manager, |_, _| {
            (
                "/api/reports/weekly?week=2026-W48&format=json".into(),
                Body::None,
            )
        }),
        ("GET", "/api/mail/unmatched", Need::Manager, |_, _| {
            ("/api/mail/unmatched".into(), Body::None)
        }),
        (
            "POST",
            "/api/mail/threads/{id}/match",
            Need::Manager,
            |_, _| {
                (
                    format!("/api/mail/threads/{NONE}/match"),
                    J(json!({"not_client": true})),
                )
            },
        ),
        ("GET", "/api/mail/flagged", Need::Manager, |_, _| {
            ("/api/mail/flagged?week=2026-W49".into(), Body::None)
        }),
        ("GET", "/api/bans", Need::Admin, |_, _| {
            ("/api/bans".into(), Body::None)
        }),
        ("DELETE", "/api/bans/{ip}", Need::Admin, |_, _| {
            ("/api/bans/192.0.2.1".into(), Body::None)
        }),
        ("GET", "/api/tokens", Need::Admin, |_, _| {
            ("/api/tokens".into(), Body::None)
        }),
        ("POST", "/api/tokens", Need::Admin, |_, _| {
            (
                "/api/tokens".into(),
                J(json!({"name": "walk-bot", "role": "admin"})),
            )
        }),
        ("DELETE", "/api/tokens/{id}", Need::Admin, |_, _| {
            (format!("/api/tokens/{NONE}"), Body::None)
        }),
        ("GET", "/api/duty", Need::Anyone, |_, _| {
            ("/api/duty".into(), Body::None)
        }),
        ("PUT", "/api/duty", Need::Manager, |_, _| {
            ("/api/duty".into(), J(json!({"slots": []})))
        }),
        ("GET", "/api/duty/now", Need::Anyone, |_, _| {
            ("/api/duty/now?channel=chat".into(), Body::None)
        }),
        ("POST", "/api/duty/exceptions", Need::Manager, |_, _| {
            (
                "/api/duty/exceptions".into(),
                J(json!({"channel": "email", "day": "2026-12-24"})),
            )
        }),
        (
            "DELETE",
            "/api/duty/exceptions/{id}",
            Need::Manager,
            |_, _| (format!("/api/duty/exceptions/{NONE}"), Body::None),
        ),
        ("POST", "/api/chat/events", Need::Signed, |_, _| {
            (
                "/api/chat/events".into(),
                J(json!({"event": "started", "conversation_id": "walk", "handle": "w"})),
            )
        }),
        ("GET", "/api/chat/conversations", Need::Own, |_, m| {
            (
                format!("/api/chat/conversations?consultant_id={}", m.consultant),
                Body::None,
            )
        }),
        ("GET", "/api/chat/conversations/{id}", Need::Own, |_, m| {
            (format!("/api/chat/conversations/{}", m.chat), Body::None)
        }),
        ("POST", "/api/contacts/{id}/identify", Need::Own, |_, m| {
            (
                format!("/api/contacts/{}/identify", m.contact),
                J(json!({"result": "not_client"})),
            )
        }),
        // Last: a consultant issuing their feed token revokes the one the
        // feed callers use.
        (
            "POST",
            "/api/consultants/{id}/feed-token",
            Need::Own,
            |_, m| {
                (
                    format!("/api/consultants/{}/feed-token", m.consultant),
                    Body::None,
                )
            },
        ),
    ]
}

async fn id_of(r: reqwest::Response) -> i64 {
    json(r, 201).await["id"].as_i64().unwrap()
}

async fn person(app: &TestApp, user: &str, role: &str) -> i64 {
    id_of(
        app.post(
            "/api/consultants",
            json!({"name": user, "sip_username": user, "password": "correct horse", "role": role}),
        )
        .await,
    )
    .await
}

/// A consultant's task, contact, call, call-back and protocol.
async fn things_of(app: &TestApp, id: i64, user: &str, provider: i64) -> Mine {
    use protocall::store::{CallRow, NewCallback};
    let task = json(
        app.post(
            "/api/tasks",
            json!({"consultant_id": id, "category": "documentation",
                   "started_at": "2026-11-01T09:00:00-03:00", "ended_at": "2026-11-01T10:00:00-03:00"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let contact = id_of(
        app.post(
            "/api/contacts",
            json!({"channel": "chat", "consultant_id": id,
                   "started_at": "2026-11-01T11:00:00-03:00", "ended_at": "2026-11-01T11:10:00-03:00"}),
        )
        .await,
    )
    .await;
    let protocol = id_of(
        app.post(
            "/api/protocols",
            json!({"provider_id": provider, "owner_id": id, "subject": format!("{user}'s")}),
        )
        .await,
    )
    .await;
    let call = format!("call-of-{user}");
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
            consultant_id: Some(id),
            consultant: Some(user.into()),
            rule: "direct".into(),
            route: "owner".into(),
            outcome: Some("busy".into()),
            final_code: Some(486),
            started_at_ms: now,
            ringing_at_ms: None,
            answered_at_ms: None,
            ended_at_ms: Some(now + 1_000),
            ended_by: None,
            detail: "{}".into(),
        })
        .await
        .unwrap();
    app.store
        .create_callback(&NewCallback {
            call_id: call.clone(),
            from_tag: String::new(),
            consultant_id: id,
            provider_id: Some(provider),
            protocol_id: Some(protocol),
            caller_number: Some("+5511987654321".into()),
            reason: "busy".into(),
            created_at_ms: now,
            due_at_ms: now + 3_600_000,
        })
        .await
        .unwrap();
    let callbacks = json(
        app.get(&format!("/api/callbacks?consultant_id={id}")).await,
        200,
    )
    .await;
    let chat = {
        use protocall::store::{NewChatContact, NewConversation};
        let mut tx = app.store.begin().await.unwrap();
        let (chat, _) = app
            .store
            .insert_conversation(
                &mut tx,
                &NewConversation {
                    external_id: format!("chat-of-{user}"),
                    handle: format!("{user}-client"),
                    provider_id: None,
                    provider_user_id: None,
                    protocol_id: None,
                    owner_id: None,
                    consultant_id: Some(id),
                    routed_to: "duty",
                    started_at_ms: now,
                },
                &NewChatContact {
                    consultant_id: Some(id),
                    provider_id: None,
                    provider_user_id: None,
                    protocol_id: None,
                    rang_at_ms: now,
                    identification: "unidentified",
                },
                now,
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        chat
    };
    Mine {
        chat,
        consultant: id,
        task,
        contact,
        callback: callbacks["items"][0]["id"].as_i64().unwrap(),
        call,
        protocol,
    }
}

async fn every_operation_admits_exactly_its_roles(b: Backend) {
    use protocall::directory::Role;
    use protocall::store::NewToken;
    // Both webhooks configured, so they judge signatures.
    let app = TestApp::spawn_with(
        b,
        &[
            ("PROTOCALL__PROTOCOL_SYNC__WEBHOOK_SECRET", "s3cret"),
            (
                "PROTOCALL__CHAT__WEBHOOK_SECRET",
                "rights-test-shared-secret",
            ),
        ],
    )
    .await;
    let provider = id_of(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "consulting": true, "numbers": ["(11) 98765-4321"]}),
        )
        .await,
    )
    .await;
    let user = id_of(
        app.post(
            &format!("/api/providers/{provider}/users"),
            json!({"name": "Carlos"}),
        )
        .await,
    )
    .await;
    let fx = Fx { provider, user };
    let ana_id = person(&app, "ana", "consultant").await;
    let bia_id = person(&app, "bia", "consultant").await;
    let gil_id = person(&app, "gil", "manager").await;
    let ana = things_of(&app, ana_id, "ana", provider).await;
    let bia = things_of(&app, bia_id, "bia", provider).await;

    let token = |role, owner: i64, name: &str, expires_at_ms| {
        let store = app.store.clone();
        let name = name.to_string();
        async move {
            store
                .create_api_token(
                    &NewToken {
                        name,
                        role,
                        consultant_id: Some(owner),
                        expires_at_ms,
                    },
                    "test",
                )
                .await
                .unwrap()
        }
    };
    let (_, manager) = token(Role::Manager, gil_id, "gil", None).await;
    let (_, consultant) = token(Role::Consultant, ana_id, "ana", None).await;
    let soon = chrono::Utc::now().timestamp_millis() + 300;
    let (_, expired) = token(Role::Consultant, ana_id, "ana-soon", Some(soon)).await;
    let (old, revoked) = token(Role::Consultant, ana_id, "ana-old", None).await;
    app.store.revoke_token(old.id, "test").await.unwrap();
    let (_, feed) = app.store.create_feed_token(ana_id).await.unwrap();
    // Fixed: the "soon" token's 300 ms must genuinely run out.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;

    // The document and the table name the same operations.
    let doc = json(app.get("/api/openapi.json").await, 200).await;
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let key = (method.to_uppercase(), path.clone());
            // Every operation says who may call it and what a refusal is.
            for code in ["401", "403"] {
                assert!(
                    op["responses"][code].is_object(),
                    "{key:?} declares no {code}"
                );
            }
            assert!(op["security"].is_array(), "{key:?} declares no security");
            assert!(op["x-roles"].is_array(), "{key:?} has no x-roles");
            documented.insert(key);
        }
    }
    let ops = ops();
    let tested: std::collections::BTreeSet<_> = ops
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    let untested: Vec<_> = documented.difference(&tested).collect();
    assert!(
        untested.is_empty(),
        "operations without a rights decision in this test: {untested:?}"
    );
    // The document does not describe itself.
    let undocumented: Vec<_> = tested
        .difference(&documented)
        .filter(|(m, p)| (m.as_str(), p.as_str()) != ("GET", "/api/openapi.json"))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in the document: {undocumented:?}"
    );

    let mut wrong = Vec::new();
    for (method, route, need, build) in &ops {
        for caller in CALLERS {
            let (bearer, target) = match caller {
                Caller::Admin => (Some(app.token.as_str()), &bia),
                Caller::Manager => (Some(manager.as_str()), &bia),
                Caller::ConsultantOwn => (Some(consultant.as_str()), &ana),
                Caller::ConsultantOther => (Some(consultant.as_str()), &bia),
                Caller::FeedOwn => (Some(feed.as_str()), &ana),
                Caller::FeedOther => (Some(feed.as_str()), &bia),
                Caller::NoToken => (None, &ana),
                Caller::Expired => (Some(expired.as_str()), &ana),
                Caller::Revoked => (Some(revoked.as_str()), &ana),
            };
            let (path, body) = build(&fx, target);
            let mut req = app.client.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&path),
            );
            if let Some(t) = bearer {
                req = req.bearer_auth(t);
            }
            req = match body {
                Body::None => req,
                Body::Json(v) => req.json(&v),
                Body::Csv(s) => req.header("content-type", "text/csv").body(s),
            };
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let allowed = caller.allowed(*need);
            let ok = if allowed {
                status != 401 && status != 403 && status < 500
            } else {
                status == caller.refusal(*need)
            };
            if !ok {
                wrong.push(format!(
                    "{method} {route} as {caller:?} ({path}): {status}, expected {}; {text}",
                    if allowed {
                        "not 401/403".to_string()
                    } else {
                        caller.refusal(*need).to_string()
                    }
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong outcome(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
