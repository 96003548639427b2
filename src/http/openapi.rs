//! The OpenAPI document served at `/api/openapi.json`, generated from the
//! handlers' annotations so it cannot drift from the routes.

use std::collections::btree_map::Entry;

use axum::http::Method;
use axum::Json;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    bans, calls, chat, consultants, contacts, duty, error, lookup, mail, planning, protocol_events,
    protocols, providers, reports, rights, tokens, tracking,
};
use crate::directory::{self, Role};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            let mut bearer = Http::new(HttpAuthScheme::Bearer);
            bearer.description = Some(
                "An API token (`protocall token create`, `POST /api/tokens`) with a role: \
                 admin, manager or consultant. Each operation says which roles it admits."
                    .into(),
            );
            c.add_security_scheme("bearer", SecurityScheme::Http(bearer));
            c.add_security_scheme(
                "feed_token",
                SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                    "token",
                    "A feed token (`protocall token feed`, `POST /api/consultants/{id}/feed-token`): \
                     opens its consultant's calendar.ics, read-only, and nothing else.",
                ))),
            );
            c.add_security_scheme(
                "webhook_signature",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "X-Protocall-Signature",
                    "A foreign system's webhook: `sha256=` and the hex HMAC-SHA256, with the \
                     endpoint's shared secret, of `<X-Protocall-Timestamp>.<raw body>`; the \
                     timestamp (Unix seconds) within 5 minutes of the server's clock; each \
                     signature accepted once.",
                ))),
            );
        }
    }
}

/// Writes the rights table into the document: who may call each operation
/// (its description and `x-roles`), and the 401 and 403 every operation
/// can answer.
struct Rights;

impl Modify for Rights {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
            ];
            for (method, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                let need = rights::need(&method, path);
                let (line, roles): (&str, &[&str]) = match need {
                    Some(n) => (n.describe(), n.roles()),
                    None => ("Rights: none defined; refused to everyone.", &[]),
                };
                op.description = Some(match op.description.take() {
                    Some(d) if !d.is_empty() => format!("{d}\n\n{line}"),
                    _ => line.to_string(),
                });
                // OpenAPI 3.1 lets a non-OAuth requirement list the roles
                // it needs; the feed token is its own scheme.
                let mut security = Vec::new();
                let api_roles: Vec<&str> = roles
                    .iter()
                    .map(|r| r.split(' ').next().unwrap_or(r))
                    .filter(|r| *r != "feed")
                    .collect();
                if need == Some(rights::Need::Signed) {
                    security.push(SecurityRequirement::new(
                        "webhook_signature",
                        Vec::<String>::new(),
                    ));
                } else {
                    security.push(SecurityRequirement::new("bearer", api_roles));
                }
                if roles.iter().any(|r| r.starts_with("feed")) {
                    security.push(SecurityRequirement::new("feed_token", Vec::<String>::new()));
                }
                op.security = Some(security);
                let mut ext = op.extensions.take().unwrap_or_default();
                ext.merge(
                    ExtensionsBuilder::new()
                        .add("x-roles", serde_json::json!(roles))
                        .build(),
                );
                op.extensions = Some(ext);
                for (code, what) in [
                    ("401", "No token, or an unknown, expired or revoked one"),
                    (
                        "403",
                        "The token's role or owner does not admit this operation, or the \
                         operation acts for the token's own consultant and it has none",
                    ),
                ] {
                    op.responses
                        .responses
                        .entry(code.to_string())
                        .or_insert_with(|| RefOr::T(error_response(what)));
                }
            }
        }
    }
}

/// Writes the failures every operation of a given shape can answer, from
/// the layers and extractors all handlers share, so that a client
/// generated from the document knows them: a body can be malformed (400),
/// too large (413), not JSON (415) or invalid (422); a path or query can be
/// malformed (400) and a path name nothing (404); a write can conflict
/// (409) or break a rule of the directory (422); any request can time out
/// (408) or find the database unavailable (503). Responses an operation
/// declares itself keep their own description.
struct Failures;

impl Modify for Failures {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                (false, &mut item.get),
                (true, &mut item.put),
                (true, &mut item.post),
                (true, &mut item.delete),
                (true, &mut item.patch),
            ];
            for (write, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                let params = op.parameters.as_deref().unwrap_or_default();
                let in_path = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Path));
                let in_query = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query));
                let body = op.request_body.is_some();
                let mut add: Vec<(&str, &str)> = vec![
                    (
                        "408",
                        "The request took longer than `http.request_timeout_secs`",
                    ),
                    ("503", "The database is unavailable; nothing was changed"),
                ];
                if body {
                    add.extend([
                        (
                            "400",
                            "The body is not well-formed JSON, or a value breaks what its schema \
                             states (a length, pattern, format, range or set of words), or a \
                             path or query parameter does",
                        ),
                        ("413", "The body is larger than `http.max_body_bytes`"),
                        ("415", "The body is not `application/json`"),
                        (
                            "422",
                            "The body is JSON of another shape (a missing or unknown field, a \
                             value of the wrong type), or the database refused a value",
                        ),
                    ]);
                }
                if in_path || in_query {
                    add.push((
                        "400",
                        "A path or query parameter breaks what its schema states",
                    ));
                }
                if in_path {
                    add.push(("404", "Nothing has this id (or the id is no integer)"));
                }
                if write {
                    add.extend([
                        (
                            "409",
                            "Valid, but at odds with what is stored, with the clock or with \
                             itself: a duplicate, an overlap, a booked room, an id that names \
                             nothing stored or a row still referred to, a status the current \
                             one cannot become, a time in the future for a timer, or times that \
                             contradict each other or the stored ones",
                        ),
                        ("422", "The database refused a value"),
                    ]);
                }
                for (code, what) in add {
                    match op.responses.responses.entry(code.to_string()) {
                        Entry::Vacant(e) => {
                            e.insert(RefOr::T(error_response(what)));
                        }
                        // Declared by the handler without words: give it ours.
                        Entry::Occupied(mut e) => {
                            if let RefOr::T(r) = e.get_mut() {
                                if r.description.is_empty() {
                                    r.description = what.to_string();
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Writes the rules between fields that JSON Schema can state (which
/// fields come in pairs, which role needs an owner) into the request
/// schemas, from the same reading of the handlers' checks.
struct CrossField;

impl Modify for CrossField {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let null = || ObjectBuilder::new().schema_type(Type::Null);
        let both = |a: &str, b: &str| {
            ObjectBuilder::new()
                .required(a)
                .required(b)
                .property(a, string())
                .property(b, string())
        };
        let words = |w: &[&str]| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(w.iter().map(|s| s.to_string())))
        };
        let no_ref = || ObjectBuilder::new().schema_type(Type::Null);
        let rules: [(&str, &str, Vec<ObjectBuilder>); 5] = [
            (
                "MatchBody",
                "A client's thread names its provider (and maybe the provider's user and \
                 protocol); a thread that is not a client's says not_client and names none.",
                vec![
                    ObjectBuilder::new()
                        .required("provider_id")
                        .property(
                            "provider_id",
                            ObjectBuilder::new().schema_type(Type::Integer),
                        )
                        .property(
                            "not_client",
                            ObjectBuilder::new().enum_values(Some([
                                serde_json::json!(false),
                                serde_json::Value::Null,
                            ])),
                        ),
                    ObjectBuilder::new()
                        .required("not_client")
                        .property("not_client", ObjectBuilder::new().enum_values(Some([true])))
                        .property("provider_id", no_ref())
                        .property("provider_user_id", no_ref())
                        .property("protocol_id", no_ref()),
                ],
            ),
            (
                "SetCallbackStatus",
                "A call-back is done with the conversation's started_at and ended_at; \
                 pending and cancelled take no times.",
                vec![
                    both("started_at", "ended_at")
                        .required("status")
                        .property("status", words(&["done"])),
                    ObjectBuilder::new()
                        .required("status")
                        .property("status", words(&["pending", "cancelled"]))
                        .property("started_at", null())
                        .property("ended_at", null()),
                ],
            ),
            (
                "NewTaskBody",
                "A realised task has both started_at and ended_at; a planned one neither.",
                vec![
                    both("started_at", "ended_at"),
                    ObjectBuilder::new()
                        .property("started_at", null())
                        .property("ended_at", null()),
                ],
            ),
            (
                "NewContactBody",
                "A contact that happened has started_at and ended_at; a scheduled one has \
                 planned_start and planned_end and neither of the others.",
                vec![
                    both("started_at", "ended_at"),
                    both("planned_start", "planned_end")
                        .property("started_at", null())
                        .property("ended_at", null()),
                ],
            ),
            (
                "NewTokenBody",
                "Only an admin token may be ownerless: consultant and manager tokens name \
                 their consultant.",
                vec![
                    ObjectBuilder::new().property(
                        "role",
                        ObjectBuilder::new().enum_values(Some([Role::Admin.as_str()])),
                    ),
                    ObjectBuilder::new().required("consultant_id").property(
                        "consultant_id",
                        ObjectBuilder::new().schema_type(Type::Integer),
                    ),
                ],
            ),
        ];
        for (name, rule, branches) in rules {
            let Some(own) = components.schemas.remove(name) else {
                continue;
            };
            let mut any = AnyOfBuilder::new().description(Some(rule));
            for b in branches {
                any = any.item(b);
            }
            let all = AllOfBuilder::new().item(own).item(any);
            components
                .schemas
                .insert(name.to_string(), RefOr::T(Schema::AllOf(all.build())));
        }
    }
}

/// The import's CSV body, as the format its description spells out: no
/// JSON Schema keyword reads CSV.
struct ImportBody;

impl Modify for ImportBody {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/api/import")
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.request_body.as_mut());
        let Some(body) = body else { return };
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("directory-csv".into())))
            .description(Some(
                "CSV with a header row naming its columns, any order: `provider` (required), \
                 `tax_id`, `consulting`, `contract_valid_from`, `contract_valid_until`, `number`, \
                 `label`, `user`, `user_email`, `user_chat_handle`; one row per number, each value as the matching \
                 field of the JSON API takes it. A row may carry one protocol of its provider: \
                 `protocol` (its number), `protocol_owner` (a consultant's SIP username or \
                 e-mail), `protocol_category`, `protocol_subject`, `protocol_due_at` (RFC 3339), \
                 `protocol_status` (open or closed); a known number is brought up to date, rule \
                 4 and the audit trail apply. Any rejected row rejects the import (422 with \
                 every rejected line).",
            ))
            .build();
        body.content
            .insert("text/csv".into(), Content::new(Some(schema)));
    }
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "protocall admin API", description = "Directory, consultants, protocols, routing and the call log of the consulting desk. Every operation names the roles that may call it (its description and `x-roles`): admin, manager, consultant (own data), and feed tokens for the calendar feed only."),
    paths(
        providers::list, providers::create, providers::get, providers::update, providers::delete,
        providers::list_numbers, providers::add_number, providers::delete_number,
        providers::list_users, providers::create_user, providers::get_user,
        providers::update_user, providers::delete_user,
        consultants::list, consultants::create, consultants::get, consultants::update,
        consultants::delete, consultants::set_presence,
        protocols::list, protocols::open, protocols::get, protocols::assign, protocols::close,
        protocols::update, protocols::reopen, protocols::audit,
        protocol_events::receive, protocol_events::pending,
        lookup::lookup, lookup::import, lookup::simulate, lookup::reload,
        calls::list, calls::get, calls::list_callbacks, calls::set_callback_status,
        calls::callback_audit,
        contacts::list, contacts::get,
        tracking::create_task, tracking::start_task, tracking::stop_running_task,
        tracking::stop_task, tracking::update_task, tracking::get_task, tracking::list_tasks,
        tracking::task_audit, tracking::create_contact, tracking::start_contact,
        tracking::stop_open_contact, tracking::start_scheduled_contact, tracking::stop_contact,
        tracking::update_contact, tracking::contact_audit,
        tracking::categories, tracking::add_category, tracking::rooms, tracking::create_room,
        planning::get_plan, planning::put_plan, planning::copy_plan, planning::get_hours,
        planning::put_hours, planning::add_absence, planning::absences, planning::schedule,
        planning::calendar, reports::weekly, bans::list, bans::lift,
        tokens::list, tokens::create, tokens::revoke, tokens::feed,
        mail::unmatched, mail::match_thread, mail::flagged,
        duty::get_roster, duty::put_roster, duty::add_exception, duty::delete_exception,
        duty::now,
        chat::events, chat::conversations, chat::conversation, chat::identify,
    ),
    components(schemas(
        error::ErrorBody, error::ErrorDetail,
        directory::Provider, directory::NewProvider, directory::ProviderPatch,
        directory::PhoneNumber, directory::NewNumber,
        directory::ProviderUser, directory::NewProviderUser, directory::ProviderUserPatch,
        directory::Consultant, directory::NewConsultant, directory::ConsultantPatch, directory::Presence, directory::SetPresence,
        directory::Protocol, directory::NewProtocol, directory::ProtocolStatus, directory::AssignOwner,
        directory::ProtocolPatch,
        crate::sync::ProtocolEvent, crate::sync::EventKind, crate::sync::PendingEvent,
        protocol_events::EventResult,
        directory::Lookup, directory::import::ImportReport, directory::import::Rejected,
        crate::routing::desk::Simulate, crate::routing::desk::Simulated, lookup::Reloaded,
        calls::Call, calls::SetCallbackStatus, crate::store::Callback, crate::store::Contact,
        crate::store::Task, crate::store::AuditEntry, crate::store::Category, crate::store::Room,
        tracking::NewTaskBody, tracking::StartTaskBody, tracking::StopBody, tracking::TaskPatchBody,
        tracking::NewContactBody, tracking::StartContactBody, tracking::ContactPatchBody,
        tracking::NewCategory, tracking::NewRoom,
        crate::store::PlanRow, crate::store::Absence, planning::PlanItemBody, planning::PlanBody,
        planning::CopyPlan, planning::Hours, planning::NewAbsence, planning::ScheduleBody,
        crate::tracking::planning::ConsultantWeek, crate::tracking::planning::PlacedBlock,
        crate::tracking::planning::UnfitHours, bans::BanView,
        crate::directory::Role, crate::store::TokenKind, crate::store::TokenStatus,
        crate::store::TokenInfo, tokens::NewTokenBody, tokens::CreatedToken, tokens::CreatedFeed,
        crate::store::MailThread, crate::store::FlaggedReply, mail::MatchBody,
        crate::tracking::duty::DutyChannel, crate::tracking::duty::DutySlot,
        crate::tracking::duty::RosterBody, crate::tracking::duty::DutyException,
        crate::tracking::duty::NewDutyException, crate::tracking::duty::Roster,
        crate::tracking::duty::OnDuty,
        crate::chat::ChatEventBody, crate::chat::EventKind, crate::chat::Sender,
        crate::chat::EventOutcome, crate::store::ChatConversation,
        crate::chat::identify::IdentifyBody, crate::chat::identify::IdentifyResult,
    )),
    modifiers(&BearerAuth, &Rights, &Failures, &CrossField, &ImportBody)
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `iso-week` in the document has the one pattern, and its years
    /// are the ones `parse_iso_week` takes.
    #[test]
    fn iso_weeks_read_alike() {
        fn walk(v: &serde_json::Value, n: &mut usize) {
            match v {
                serde_json::Value::Object(m) => {
                    if m.get("format").and_then(|f| f.as_str()) == Some("iso-week") {
                        assert_eq!(
                            m.get("pattern").and_then(|p| p.as_str()),
                            Some(super::super::schema::ISO_WEEK_PATTERN),
                            "{v}"
                        );
                        *n += 1;
                    }
                    m.values().for_each(|c| walk(c, n));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, n)),
                _ => {}
            }
        }
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut n = 0;
        walk(&doc, &mut n);
        assert!(n >= 6, "{n} weeks");
        assert_eq!(crate::tracking::schedule::WEEK_YEARS, 1900..=2999);
        assert!(super::super::schema::ISO_WEEK_PATTERN.starts_with("^(19|2[0-9])[0-9]{2}-W"));
    }

    #[test]
    fn every_operation_carries_its_rights() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut n = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                assert!(
                    rights::need(&m, path).is_some(),
                    "{method} {path} has no rights decision in http::rights::RIGHTS"
                );
                assert!(op["x-roles"].as_array().is_some_and(|r| !r.is_empty()));
                assert!(op["description"].as_str().unwrap().contains("Rights:"));
                n += 1;
            }
        }
        assert!(n > 60, "{n} operations");
        let cal = &doc["paths"]["/api/consultants/{id}/calendar.ics"]["get"];
        assert_eq!(
            cal["security"],
            serde_json::json!([{"bearer": ["admin", "manager", "consultant"]}, {"feed_token": []}])
        );
        assert_eq!(
            doc["paths"]["/api/tokens"]["post"]["security"],
            serde_json::json!([{"bearer": ["admin"]}])
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["feed_token"]["in"],
            "query"
        );
    }
}
