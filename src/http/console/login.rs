//! Signing in and out: `GET /login` (the form), `POST /login` (username and
//! password checked against the stored SIP digest HA1; no second password
//! to keep), `POST /logout`.
//!
//! The password is hashed into the realm's SHA-256 HA1, the same value the
//! registrar checks phones against, and compared in constant time. An
//! unknown user costs the same hash and gets the same answer as a wrong
//! password. Attempts are throttled per account and per source (see
//! `throttle`). The sign-in form has no session to hold a CSRF token, so it
//! uses a double-submit cookie: `GET /login` sets a random value in an
//! HttpOnly, SameSite=Strict cookie and in the form, and the POST must
//! bring both, equal.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::i18n::Lang;
use super::layout::{self, respond};
use super::session::{cookie, ct_eq, Session};
use super::throttle::Verdict;
use crate::http::AppState;
use crate::net::TrustedPeers;
use crate::sip::digest::{ha1, Algorithm};

/// Longest username or password read; longer ones are wrong anyway.
const MAX_FIELD: usize = 256;

fn random_hex() -> Option<String> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).ok()?;
    Some(hex::encode(b))
}

fn form_page(lang: Lang, csrf: &str, username: &str, error: Option<&str>) -> maud::Markup {
    let body = html! {
        @if let Some(e) = error {
            p class="notice error" role="alert" { (e) }
        }
        form method="post" action="/login" class="card login" {
            input type="hidden" name="csrf" value=(csrf);
            label for="username" { (lang.t("login.username")) }
            input id="username" name="username" type="text" required
                autocomplete="username" autocapitalize="none" spellcheck="false"
                maxlength="256" value=(username);
            label for="password" { (lang.t("login.password")) }
            input id="password" name="password" type="password" required
                autocomplete="current-password" maxlength="256";
            button type="submit" { (lang.t("login.submit")) }
            p class="hint" { (lang.t("login.hint")) }
        }
    };
    layout::page(lang, lang.t("login.title"), None, body)
}

/// The form, with a fresh double-submit token in a cookie and a field.
fn show_form(
    st: &AppState,
    lang: Lang,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Response {
    let Some(token) = random_hex() else {
        return layout::error_page(
            lang,
            None,
            StatusCode::SERVICE_UNAVAILABLE,
            "error.unavailable",
        );
    };
    let policy = st.console.cookies;
    let mut resp = respond(status, form_page(lang, &token, username, error));
    if let Some(c) = policy.set(policy.login_name(), &token, 3600) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

pub async fn form(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let lang = super::i18n::lang_of(&headers, st.console.lang);
    show_form(&st, lang, StatusCode::OK, "", None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// The address the request came from: the peer's, or behind a trusted
/// reverse proxy the browser's as `X-Forwarded-For` gives it.
fn source(req: &Request, proxies: &TrustedPeers) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    client_address(peer, req.headers(), proxies)
}

/// Walks `X-Forwarded-For` from the right (each proxy appends the address
/// it heard from) past our own trusted proxies; the first address not one
/// of them is the client. Entries to its left are whatever the client
/// wrote and are never believed. A peer that is not a trusted proxy is the
/// client itself, whatever it claims.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, proxies: &TrustedPeers) -> IpAddr {
    if !proxies.contains(peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !proxies.contains(ip) {
                    break;
                }
            }
            // A hop we cannot read ends what we can believe.
            Err(_) => break,
        }
    }
    client
}

/// Whether `password` is `username`'s: `Some(consultant id)` if so.
async fn check_password(
    st: &AppState,
    username: &str,
    password: &str,
) -> Result<Option<i64>, crate::store::StoreError> {
    let computed = ha1(Algorithm::Sha256, username, &st.realm, password);
    let creds = st.store.sip_credentials(username).await?;
    Ok(match creds {
        Some(c) if c.active => ct_eq(
            computed.as_bytes(),
            c.ha1_sha256.to_ascii_lowercase().as_bytes(),
        )
        .then_some(c.consultant_id),
        _ => None,
    })
}

pub async fn submit(State(st): State<AppState>, req: Request) -> Response {
    let lang = super::i18n::lang_of(req.headers(), st.console.lang);
    let ip = source(&req, &st.console.proxies);
    let policy = st.console.cookies;
    let pre = cookie(req.headers(), policy.login_name());
    let Ok(Form(f)) = Form::<LoginForm>::from_request(req, &st).await else {
        return layout::error_page(lang, None, StatusCode::BAD_REQUEST, "error.bad_form");
    };
    let fresh = pre.is_some_and(|p| !p.is_empty() && ct_eq(p.as_bytes(), f.csrf.as_bytes()));
    if !fresh {
        return show_form(
            &st,
            lang,
            StatusCode::FORBIDDEN,
            "",
            Some(lang.t("login.form_expired")),
        );
    }
    let username = f.username.trim();
    if username.is_empty()
        || username.len() > MAX_FIELD
        || f.password.is_empty()
        || f.password.len() > MAX_FIELD
    {
        return show_form(
            &st,
            lang,
            StatusCode::UNAUTHORIZED,
            "",
            Some(lang.t("login.bad")),
        );
    }
    let throttled = |st: &AppState| {
        let mut r = show_form(
            st,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            username,
            Some(lang.t("login.throttled")),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
        r
    };
    let now = Instant::now();
    if st.console.throttle.check(username, ip, now) == Verdict::Throttled {
        tracing::warn!(%ip, user = username, "console sign-in throttled");
        return throttled(&st);
    }
    let who = match check_password(&st, username, &f.password).await {
        Ok(who) => who,
        Err(e) => {
            tracing::error!(error = %e, "console sign-in could not read the directory");
            return layout::error_page(
                lang,
                None,
                StatusCode::SERVICE_UNAVAILABLE,
                "error.unavailable",
            );
        }
    };
    let Some(consultant_id) = who else {
        tracing::info!(%ip, user = username, "console sign-in refused");
        if st.console.throttle.failure(username, ip, now) == Verdict::Throttled {
            return throttled(&st);
        }
        return show_form(
            &st,
            lang,
            StatusCode::UNAUTHORIZED,
            username,
            Some(lang.t("login.bad")),
        );
    };
    st.console.throttle.success(username);
    let session = match st
        .store
        .create_session(consultant_id, policy.session_secs * 1000)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "console session not created");
            return layout::error_page(
                lang,
                None,
                StatusCode::SERVICE_UNAVAILABLE,
                "error.unavailable",
            );
        }
    };
    tracing::info!(%ip, user = username, "console sign-in");
    let mut resp = Redirect::to("/").into_response();
    let h = resp.headers_mut();
    if let Some(c) = policy.set(policy.session_name(), &session.id, policy.session_secs) {
        h.append(header::SET_COOKIE, c);
    }
    if let Some(c) = policy.set(policy.login_name(), "", 0) {
        h.append(header::SET_COOKIE, c);
    }
    resp
}

pub async fn logout(State(st): State<AppState>, s: Session, headers: HeaderMap) -> Response {
    let policy = st.console.cookies;
    if let Some(id) = cookie(&headers, policy.session_name()) {
        if let Err(e) = st.store.delete_session(&id).await {
            tracing::error!(error = %e, "console session not deleted");
        }
    }
    tracing::info!(user = %s.principal.person, "console sign-out");
    let mut resp = Redirect::to("/login").into_response();
    if let Some(c) = policy.set(policy.session_name(), "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let none = TrustedPeers::default();
        let nginx = TrustedPeers::parse(&["127.0.0.1", "10.0.0.0/8"]).unwrap();
        // Straight from a browser: its own address, whatever it claims.
        assert_eq!(
            client_address(ip("203.0.113.9"), &xff(&["198.51.100.1"]), &nginx),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &xff(&["198.51.100.1"]), &none),
            ip("127.0.0.1")
        );
        // Through our proxy: the address it heard from.
        assert_eq!(
            client_address(ip("127.0.0.1"), &xff(&["198.51.100.1"]), &nginx),
            ip("198.51.100.1")
        );
        // A client's forged entry to the left of the real one is ignored;
        // a chain of our own proxies is walked past.
        assert_eq!(
            client_address(
                ip("127.0.0.1"),
                &xff(&["6.6.6.6, 198.51.100.1", "10.1.2.3"]),
                &nginx
            ),
            ip("198.51.100.1")
        );
        // Nothing readable: the proxy itself (counted as one source).
        assert_eq!(
            client_address(ip("127.0.0.1"), &xff(&["garbage"]), &nginx),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &HeaderMap::new(), &nginx),
            ip("127.0.0.1")
        );
    }
}
