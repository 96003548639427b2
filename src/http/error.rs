//! API errors and the extractors that produce them.
//!
//! Every failure leaves as `{"error": {"code", "message"}}` with the status
//! that fits, including axum's own rejections (bad JSON, wrong types, too
//! large), which would otherwise answer in plain text.
//!
//! `code` is for programs and never changes; `message` is for people, in
//! the language `Accept-Language` asks for, else `locale.language`
//! ([`localize`]). The handlers write the precise English detail; in
//! Portuguese the catalogue's sentence for the code leads (`api-error-*`
//! in `src/i18n`), followed by that detail where there is one.

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

/// What an error response was made of, kept on the response for
/// [`localize`] to reword.
#[derive(Debug, Clone)]
struct Worded {
    code: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let worded = Worded {
            code: self.code,
            message: self.message.clone(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        resp.extensions_mut().insert(worded);
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

/// The `message` of an error in `lang`: English as the handler wrote it; in
/// another language the catalogue's sentence for the code, with the
/// handler's detail where the sentence has a place for it. A code without
/// a sentence keeps the handler's words.
pub fn message_in(lang: crate::i18n::Lang, code: &str, detail: &str) -> String {
    if lang == crate::i18n::Lang::En {
        return detail.to_string();
    }
    let key = format!("api.error.{code}");
    if let Some(fixed) = lang.get(&key) {
        return fixed.to_string();
    }
    let worded = lang.tf(&key, &[("detail", detail)]);
    if worded == key {
        detail.to_string()
    } else {
        worded
    }
}

/// Rewords error answers in the language the request asks for
/// (`Accept-Language`, else `locale.language`), and says which it is.
pub async fn localize(
    axum::extract::State(st): axum::extract::State<super::AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let asked = req
        .headers()
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = crate::i18n::Lang::from_accept_language(asked, st.report_defaults.lang);
    let mut resp = next.run(req).await;
    let Some(worded) = resp.extensions_mut().remove::<Worded>() else {
        return resp;
    };
    if lang == crate::i18n::Lang::En {
        return resp;
    }
    let status = resp.status();
    let mut out = (
        status,
        Json(ErrorBody {
            error: ErrorDetail {
                code: worded.code.to_string(),
                message: message_in(lang, worded.code, &worded.message),
            },
        }),
    )
        .into_response();
    // Keep what the handler set (WWW-Authenticate, Retry-After, Allow).
    for (name, value) in resp.headers() {
        if name != axum::http::header::CONTENT_LENGTH && name != axum::http::header::CONTENT_TYPE {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if let Ok(v) = axum::http::HeaderValue::from_str(lang.tag()) {
        out.headers_mut()
            .insert(axum::http::header::CONTENT_LANGUAGE, v);
    }
    out.headers_mut().append(
        axum::http::header::VARY,
        axum::http::HeaderValue::from_static("accept-language"),
    );
    out
}

#[cfg(test)]
mod language_tests {
    use super::message_in;
    use crate::i18n::Lang;

    /// Every error code a handler writes (`StatusCode::X, "code"`) has its
    /// Portuguese sentence, so no answer falls back to English unnoticed.
    #[test]
    fn every_error_code_has_a_sentence() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut stack = vec![root];
        let mut codes = std::collections::BTreeSet::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let src = std::fs::read_to_string(&path).unwrap();
                for (i, _) in src.match_indices("StatusCode::") {
                    let rest = &src[i..];
                    let Some(comma) = rest.find(',') else {
                        continue;
                    };
                    let after = rest[comma + 1..].trim_start();
                    if let Some(lit) = after.strip_prefix('"') {
                        let code = &lit[..lit.find('"').unwrap()];
                        // (`code` itself is this test's own doc comment.)
                        if !code.is_empty()
                            && code != "code"
                            && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                        {
                            codes.insert(code.to_string());
                        }
                    }
                }
            }
        }
        assert!(codes.len() > 15, "found only {codes:?}");
        for code in &codes {
            let pt = message_in(Lang::PtBr, code, "DETAIL");
            assert_ne!(pt, "DETAIL", "no Portuguese sentence for `{code}`");
        }
    }

    #[test]
    fn english_keeps_the_handlers_words() {
        assert_eq!(
            message_in(Lang::En, "not_found", "provider 7"),
            "provider 7"
        );
        assert_eq!(
            message_in(Lang::PtBr, "not_found", "provider 7"),
            "Não encontrado: provider 7"
        );
        assert_eq!(message_in(Lang::PtBr, "no_such_code", "as is"), "as is");
    }
}
