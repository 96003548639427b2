//! Token authentication for `/api` (and `/metrics` when configured): finds
//! who a request acts as (`rights::Principal`) and refuses it when the
//! route needs more (`rights::RIGHTS`).
//!
//! Tokens are looked up by their SHA-256 (see `store::tokens`); the token
//! itself is never logged. API tokens travel in the Authorization header
//! only; a calendar URL carries a feed token in its query, which opens that
//! one feed and nothing else.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::rights::{self, forbidden, Need, Principal};
use super::AppState;
use crate::directory::Role;
use crate::store::{TokenCheck, TokenKind};

fn unauthorized(message: &str) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response()
}

fn bearer(req: &Request) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        })
}

/// Calendar apps cannot send headers: a feed URL carries its token in the
/// query (`?token=`), for `.ics` paths only.
fn query_token(req: &Request) -> Option<String> {
    let uri = req.uri();
    if !uri.path().ends_with(".ics") {
        return None;
    }
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "token").then(|| v.to_string())
    })
}

pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // A signed webhook carries no token; its handler checks the signature.
    let signed = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| rights::need(req.method(), m.as_str()) == Some(Need::Signed));
    if signed {
        return next.run(req).await;
    }
    let (token, in_query) = match bearer(&req) {
        Some(t) => (t, false),
        None => match query_token(&req) {
            Some(t) => (t, true),
            None => return ApiError::unauthorized().into_response(),
        },
    };
    if token.is_empty() {
        return ApiError::unauthorized().into_response();
    }
    let verified = match state.store.verify_token(&token).await {
        Ok(TokenCheck::Valid(v)) => v,
        Ok(TokenCheck::Unknown) => return ApiError::unauthorized().into_response(),
        Ok(TokenCheck::Expired) => return unauthorized("this token has expired"),
        Ok(TokenCheck::Revoked) => return unauthorized("this token was revoked"),
        Ok(TokenCheck::OwnerInactive) => return unauthorized("this token's owner is deactivated"),
        Err(e) => return ApiError::from(e).into_response(),
    };
    // A URL ends up in browser histories, proxy logs and shared calendars:
    // only a feed token, which reads one calendar, may travel in one.
    if in_query && verified.kind != TokenKind::Feed {
        return unauthorized(
            "API tokens are accepted in the Authorization header only; a calendar URL takes a \
             feed token (POST /api/consultants/{id}/feed-token)",
        );
    }
    let principal = Principal {
        person: verified
            .owner
            .clone()
            .unwrap_or_else(|| format!("token:{}", verified.name)),
        role: verified.role,
        consultant_id: verified.consultant_id,
        token_id: verified.id,
        kind: verified.kind,
    };
    // Who did it, in the request's log line (the request span declares
    // the field; a name, never the token).
    tracing::Span::current().record("person", tracing::field::display(&principal.person));
    // Unknown paths (no route matched) go on to the 404 fallback.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    if let Some(route) = route {
        if let Some(refused) = refusal(&principal, req.method(), &route) {
            return refused;
        }
    } else if principal.is_feed() {
        return forbidden("a feed token opens only its consultant's calendar feed").into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// The answer refusing `principal` on `method route`, if the route table
/// refuses it.
fn refusal(principal: &Principal, method: &Method, route: &str) -> Option<Response> {
    let Some(need) = rights::need(method, route) else {
        let allowed: Vec<&str> = rights::RIGHTS
            .iter()
            .filter(|(_, p, _)| *p == route)
            .map(|(m, _, _)| *m)
            .collect();
        if allowed.is_empty() {
            // A route nobody decided on opens to nobody.
            return Some(
                forbidden(format!(
                    "no rights are defined for {method} {route}; it is refused to everyone"
                ))
                .into_response(),
            );
        }
        // Answered here, not by the router: a method added to a route
        // without a rights decision must not slip through.
        let mut resp = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{route} answers {}", allowed.join(", ")),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        return Some(resp);
    };
    let verdict = match need {
        Need::Feed => Ok(()),
        _ if principal.is_feed() => Err(forbidden(
            "a feed token opens only its consultant's calendar feed",
        )),
        Need::Anyone | Need::Own => principal.require(Role::Consultant),
        Need::Manager => principal.require(Role::Manager),
        Need::Admin => principal.require(Role::Admin),
        // Passed on before any token was asked for.
        Need::Signed => Ok(()),
    };
    verdict.err().map(IntoResponse::into_response)
}
