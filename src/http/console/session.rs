//! The console's session cookie and the gate every signed-in page passes:
//! it resolves the cookie to a person (the same [`Principal`] an API token
//! resolves to, so rights are the API's), and refuses any POST whose form
//! does not carry the session's CSRF token, whether the form is urlencoded
//! or, for the one upload (the admin's directory import), multipart.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no
//! other site's page sends it), `Path=/`, and `Secure` unless
//! `http.console_secure_cookie` is off; a secure cookie gets the `__Host-`
//! prefix, which browsers accept only from HTTPS, for the whole host.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::i18n::Lang;
use super::layout;
use crate::http::rights::Principal;
use crate::http::AppState;
use crate::store::sessions::SessionInfo;
use crate::store::TokenKind;

/// Largest console form read (the contact form's notes are the longest);
/// the import's upload gets its file's limit on top.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// What the console knows about the cookie, from config.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
    pub session_secs: i64,
}

impl CookiePolicy {
    pub fn session_name(self) -> &'static str {
        if self.secure {
            "__Host-protocall"
        } else {
            "protocall"
        }
    }

    /// The sign-in form's own CSRF cookie (double submit: there is no
    /// session yet to hold a token).
    pub fn login_name(self) -> &'static str {
        if self.secure {
            "__Host-protocall-login"
        } else {
            "protocall-login"
        }
    }

    /// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
    pub fn set(self, name: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .ok()
    }
}

/// The value of cookie `name`, from any `Cookie` header.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.trim().to_string())
        })
}

pub use crate::mac::ct_eq;

/// A signed-in request: who, in which language, and the token its forms
/// must echo. Put in the request's extensions by [`require_session`].
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub info: SessionInfo,
    pub lang: Lang,
}

impl Session {
    pub fn consultant_id(&self) -> i64 {
        self.info.consultant_id
    }

    pub fn csrf(&self) -> &str {
        &self.info.csrf
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only reachable behind the gate; without it nobody is trusted.
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

fn principal(info: &SessionInfo) -> Principal {
    Principal {
        person: info.sip_username.clone(),
        role: info.role,
        consultant_id: Some(info.consultant_id),
        // Sessions are not tokens; 0 is no token's id. `Api` carries the
        // role's full rights, as a person's own API token would.
        token_id: 0,
        kind: TokenKind::Api,
    }
}

/// The gate: no session → the sign-in page; a POST without the session's
/// CSRF token → 403. The form body is read here (bounded) and handed on.
pub async fn require_session(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let lang = super::i18n::lang_of(req.headers(), st.console.lang);
    let policy = st.console.cookies;
    let Some(id) = cookie(req.headers(), policy.session_name()) else {
        return Redirect::to("/login").into_response();
    };
    let info = match st.store.session(&id).await {
        Ok(Some(info)) => info,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console session not read");
            return layout::error_page(
                lang,
                None,
                StatusCode::SERVICE_UNAVAILABLE,
                "error.unavailable",
            );
        }
    };
    tracing::Span::current().record("person", tracing::field::display(&info.sip_username));
    let session = Session {
        principal: principal(&info),
        info,
        lang,
    };
    let (mut parts, body) = req.into_parts();
    let body = if parts.method == Method::POST {
        let upload = parts.uri.path() == super::admin::IMPORT_PATH;
        let limit = if upload {
            st.console.upload_bytes.saturating_add(MAX_FORM_BYTES)
        } else {
            MAX_FORM_BYTES
        };
        let bytes = match axum::body::to_bytes(body, limit).await {
            Ok(b) => b,
            // Back to the form, saying why; nothing was read or done, so
            // the missing CSRF check costs nothing.
            Err(_) if upload => {
                return Redirect::to(&format!(
                    "{}?err=import_too_large",
                    super::admin::IMPORT_PATH
                ))
                .into_response()
            }
            Err(_) => {
                return layout::error_page(
                    lang,
                    Some(&session),
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "error.bad_form",
                )
            }
        };
        let sent = if is_multipart(&parts.headers) {
            multipart_csrf(&parts.headers, bytes.clone()).await
        } else {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                .ok()
                .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf"))
                .map(|(_, v)| v)
        };
        let ok = sent.is_some_and(|s| ct_eq(s.as_bytes(), session.csrf().as_bytes()));
        if !ok {
            return layout::error_page(lang, Some(&session), StatusCode::FORBIDDEN, "error.csrf");
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(session);
    next.run(Request::from_parts(parts, body)).await
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("multipart/form-data"))
}

/// The `csrf` field of a multipart form. Our forms put it first, so the
/// file after it is not parsed here. The body is whole and already bounded
/// by the gate, so no further limit applies.
async fn multipart_csrf(headers: &HeaderMap, bytes: axum::body::Bytes) -> Option<String> {
    let boundary =
        multer::parse_boundary(headers.get(header::CONTENT_TYPE)?.to_str().ok()?).ok()?;
    let body = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut form = multer::Multipart::new(body, boundary);
    while let Some(field) = form.next_field().await.ok()? {
        if field.name() == Some("csrf") {
            return field.text().await.ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; protocall=abc".parse().unwrap());
        h.append(header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&h, "protocall").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&h, "protocall-login"), None);
    }

    #[test]
    fn the_cookie_is_strict_and_secure_by_default() {
        let p = CookiePolicy {
            secure: true,
            session_secs: 60,
        };
        let v = p.set(p.session_name(), "x", 60).unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "__Host-protocall=x; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        let plain = CookiePolicy {
            secure: false,
            session_secs: 60,
        };
        assert!(!plain
            .set(plain.session_name(), "x", 0)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Secure"));
    }

    #[tokio::test]
    async fn a_multipart_form_s_csrf_field_is_found_wherever_it_is() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=XyZ".parse().unwrap(),
        );
        assert!(is_multipart(&h));
        let body = |parts: &[(&str, &str)]| {
            let mut b = String::new();
            for (name, value) in parts {
                b.push_str(&format!(
                    "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                ));
            }
            b.push_str("--XyZ--\r\n");
            axum::body::Bytes::from(b)
        };
        let first = body(&[("csrf", "abc"), ("csv", "provider\nX")]);
        assert_eq!(multipart_csrf(&h, first).await.as_deref(), Some("abc"));
        let last = body(&[("csv", "provider\nX"), ("csrf", "def")]);
        assert_eq!(multipart_csrf(&h, last).await.as_deref(), Some("def"));
        assert_eq!(multipart_csrf(&h, body(&[("csv", "x")])).await, None);
        assert_eq!(
            multipart_csrf(&h, axum::body::Bytes::from_static(b"not multipart")).await,
            None
        );
        let mut form = HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert!(!is_multipart(&form));
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
