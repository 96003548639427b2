//! Bearer-token authentication for `/api` (and `/metrics` when configured).
//!
//! Tokens are looked up by their SHA-256 (see `store::tokens`); the token
//! itself is never logged.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;

/// The authenticated token's name, for request logs.
#[derive(Clone, Debug)]
pub struct TokenName(pub String);

pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    // Calendar apps cannot send headers: a feed URL carries the token in
    // its query (`?token=`), for `.ics` paths only.
    let presented = presented.or_else(|| {
        let uri = req.uri();
        if !uri.path().ends_with(".ics") {
            return None;
        }
        uri.query()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == "token").then(|| v.to_string())
        })
    });
    let Some(token) = presented.filter(|t| !t.is_empty()) else {
        return ApiError::unauthorized().into_response();
    };
    match state.store.verify_token(&token).await {
        Ok(Some(name)) => {
            req.extensions_mut().insert(TokenName(name));
            next.run(req).await
        }
        Ok(None) => ApiError::unauthorized().into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
