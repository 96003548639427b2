//! API errors and the extractors that produce them.
//!
//! Every failure leaves as `{"error": {"code", "message"}}` with the status
//! that fits, including axum's own rejections (bad JSON, wrong types, too
//! large), which would otherwise answer in plain text.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use super::body::Strict;
use crate::directory::number::NumberError;
use crate::directory::FieldError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn field(field: &str, err: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!("{field}: {err}"),
        )
    }

    /// Refuses a value outside a fixed set, naming the field and the set.
    pub fn one_of(field: &str, v: Option<&str>, allowed: &[&str]) -> Result<(), ApiError> {
        match v {
            Some(s) if !allowed.contains(&s) => Err(ApiError::field(
                field,
                format!("must be one of {}", allowed.join(", ")),
            )),
            _ => Ok(()),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        if e.contradiction {
            return ApiError::new(StatusCode::CONFLICT, "contradiction", e.to_string());
        }
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            StoreError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            // A well-formed id that names nothing stored (or a row still
            // referred to): the request is valid, the stored data says no.
            StoreError::Reference(_) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_reference", e.to_string())
            }
            StoreError::Constraint(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "constraint",
                e.to_string(),
            ),
            // A value the database will not hold (PostgreSQL's NUL byte in
            // text, SQLite's over-long blob): a malformed value of the
            // request, which retrying cannot help; every operation that
            // takes values declares the 400.
            ref data if data.is_data_error() => {
                tracing::info!(error = %data, "value refused by the database");
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_value",
                    "the database refused a value of this request",
                )
            }
            other => {
                // The details may hold SQL; they go to the log, not the client.
                tracing::error!(error = %other, "store error");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database could not complete the request",
                )
            }
        }
    }
}

/// Numbers in request bodies and queries: a bad one is the caller's error.
pub fn number_error(field: &str, e: NumberError) -> ApiError {
    ApiError::field(field, e)
}

/// `Json<T>` with our error shape.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Parsed first, then read as the document reads it (see `body`).
        match Json::<serde_json::Value>::from_request(req, state).await {
            Ok(Json(v)) => serde_path_to_error::deserialize(Strict(v))
                .map(ApiJson)
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_body",
                        format!("Failed to deserialize the JSON body into the target type: {e}"),
                    )
                }),
            Err(rej) => Err(match rej {
                JsonRejection::JsonDataError(e) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_body",
                    e.body_text(),
                ),
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.body_text())
                }
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "expected Content-Type: application/json",
                ),
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "the request body is larger than http.max_body_bytes",
                    )
                }
                other => ApiError::new(other.status(), "bad_request", other.body_text()),
            }),
        }
    }
}

/// `Query<T>` with our error shape.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let _ = state;
        super::body::query(parts.uri.query().unwrap_or_default())
            .map(ApiQuery)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("Failed to deserialize query string: {e}"),
                )
            })
    }
}

/// Path ids: an integer in any JSON spelling (`7`, `7.0`); anything else
/// (`/api/providers/abc`, or a `None` a client put in for a missing id)
/// names nothing, so it is the 404 every id path declares, not a 500.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|p| super::body::integer(&p.0))
            .map(Id)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "nothing has this id: the id in the path must be an integer",
                )
            })
    }
}

/// `Path<T>` with our error shape, for paths that are not a single id: a
/// malformed segment is a JSON 400, never axum's plain-text answer.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))
    }
}
