//! The browser console: server-rendered pages on the admin listener for
//! consultants ("Minha mesa" at `/`) and managers ("A mesa agora" at
//! `/gestao`), signed in with their SIP username and password.
//!
//! Outside `/api`, so the token middleware does not apply; a session
//! resolves to the same `rights::Principal` an API token does, and the
//! handlers check it with the same calls (`may_act_for`, `require`), so a
//! person has the same rights here as through the API. Every page is plain
//! HTML and forms (no script), in Brazilian Portuguese unless the browser
//! asks for English.
//!
//! Files: `session` (cookie, the signed-in gate and CSRF), `login`,
//! `throttle` (sign-in attempts), `desk`, `manager`, `layout` (page shell,
//! dates), `i18n` (the catalogues), `console.css`.

pub mod desk;
pub mod i18n;
pub mod layout;
pub mod login;
pub mod manager;
pub mod session;
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

/// What the console keeps besides `AppState`: cookie settings and the
/// sign-in throttle.
#[derive(Debug)]
pub struct Console {
    pub cookies: session::CookiePolicy,
    pub throttle: throttle::Throttle,
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
        .route("/gestao", get(manager::page))
        .route("/gestao/report", get(manager::report))
        .route("/logout", post(login::logout))
        .route_layer(middleware::from_fn_with_state(
            state,
            session::require_session,
        ));
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/static/console.css", get(stylesheet))
        .merge(signed_in)
        .layer(middleware::from_fn(common_headers))
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
