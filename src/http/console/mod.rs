//! The browser console: server-rendered pages on the admin listener for
//! consultants ("Minha mesa" at `/`), managers ("A mesa agora" at
//! `/gestao`) and admins (tokens, people and roles, the directory import
//! at `/admin`), signed in with their SIP username and password.
//!
//! Outside `/api`, so the token middleware does not apply; a session
//! resolves to the same `rights::Principal` an API token does, and the
//! handlers check it with the same calls (`may_act_for`, `require`), so a
//! person has the same rights here as through the API. Every page is plain
//! HTML and forms, usable without script (the live panels then show the
//! state at load), in Brazilian Portuguese unless the person or the
//! browser asks for English.
//!
//! Files: `session` (cookie, the signed-in gate and CSRF), `login`,
//! `throttle` (sign-in attempts), `desk`, `manager`, `admin`, `live` (the live
//! panels and their event stream), `layout` (page shell, dates), `i18n`
//! (which language a request gets), `console.css`, `console.js` (the one
//! script: swaps in live panels, ticks their clocks).

pub mod admin;
pub mod desk;
pub mod i18n;
pub mod layout;
pub mod live;
pub mod login;
pub mod manager;
pub mod meetings;
pub mod session;
pub mod sync_pending;
pub mod throttle;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::AppState;
use crate::config::Settings;

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

/// What the console keeps besides `AppState`: cookie settings, the
/// sign-in throttle and the results admin actions hand to their pages.
#[derive(Debug)]
pub struct Console {
    pub cookies: session::CookiePolicy,
    pub throttle: throttle::Throttle,
    /// `locale.language`: what a person reads unless they or their
    /// browser ask for the other language.
    pub lang: i18n::Lang,
    /// `http.trusted_proxies`: whose `X-Forwarded-For` names the browser.
    pub proxies: crate::net::TrustedPeers,
    pub handover: admin::handover::Handover,
    /// The largest CSV the import page takes: `http.max_body_bytes`, what
    /// `POST /api/import` takes.
    pub upload_bytes: usize,
}

impl Console {
    pub fn from_settings(settings: &Settings) -> Console {
        Console {
            cookies: session::CookiePolicy {
                secure: settings.http.console_secure_cookie,
                session_secs: i64::try_from(settings.http.console_session_hours)
                    .unwrap_or(12)
                    .saturating_mul(3600),
            },
            throttle: Default::default(),
            lang: settings.locale.lang(),
            // Checked by the config's validation; an unreadable list trusts
            // nobody.
            proxies: crate::net::TrustedPeers::parse(&settings.http.trusted_proxies)
                .unwrap_or_default(),
            handover: Default::default(),
            upload_bytes: settings.http.max_body_bytes,
        }
    }
}

/// The console's routes, to merge into the admin listener's router.
pub fn router(state: AppState) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/", get(desk::page))
        .route("/presence", post(desk::presence))
        .route("/task/start", post(desk::start_task))
        .route("/task/stop", post(desk::stop_task))
        .route("/contact", post(desk::log_contact))
        .route("/callbacks/{id}/done", post(desk::callback_done))
        .route("/contacts/{id}/start", post(meetings::start))
        .route("/contacts/{id}/stop", post(meetings::stop))
        .route("/calendar-link", post(desk::calendar_link))
        .route("/live", get(live::events))
        .route("/gestao", get(manager::page))
        .route("/gestao/report", get(manager::report))
        .route("/logout", post(login::logout))
        .merge(admin::routes(&state))
        .route_layer(middleware::from_fn_with_state(
            state,
            session::require_session,
        ));
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .route("/language", get(language))
        .merge(signed_in)
        .layer(middleware::from_fn(common_headers))
}

#[derive(Debug, serde::Deserialize)]
pub struct LanguageChoice {
    to: String,
    back: Option<String>,
}

/// The language switch: remembers the choice in a cookie for a year and
/// goes back to the page it came from. A link, not a form: it changes
/// nothing but how this browser is spoken to, so it needs no CSRF token.
async fn language(axum::extract::Query(q): axum::extract::Query<LanguageChoice>) -> Response {
    // Only a path of ours, never another site (`//host` or a scheme).
    let back = q
        .back
        .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\'))
        .unwrap_or_else(|| "/".into());
    let mut resp = axum::response::Redirect::to(&back).into_response();
    if let Some(lang) = i18n::Lang::parse(&q.to) {
        let value = format!(
            "{}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            i18n::LANG_COOKIE,
            lang.tag()
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// Headers on every console answer: pages are personal (never cached,
/// never framed, never sniffed into something else).
async fn common_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}
