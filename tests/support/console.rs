//! The console through plain HTTP: a cookie-keeping client that does not
//! follow redirects (the tests read them), people to sign in as, and the
//! forms' CSRF token.

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::json;

use super::{json, Backend, TestApp};

pub const PASSWORD: &str = "correct horse";

/// The daemon with a console cookie that plain HTTP on loopback keeps.
pub async fn spawn(b: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("PROTOCALL__HTTP__CONSOLE_SECURE_COOKIE", "false")];
    env.extend_from_slice(extra);
    TestApp::spawn_with(b, &env).await
}

/// A browser asking for `lang`.
pub fn browser(lang: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ACCEPT_LANGUAGE, lang.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A consultant `user` ("{user} Silva") with `role` and [`PASSWORD`].
pub async fn person(app: &TestApp, user: &str, role: &str) -> i64 {
    json(
        app.post(
            "/api/consultants",
            json!({"name": format!("{user} Silva"), "sip_username": user, "password": PASSWORD,
                   "role": role}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

/// The CSRF token in a page's forms.
pub fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no csrf field in {html}"))
        + "name=\"csrf\" value=\"".len();
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

pub async fn page(app: &TestApp, b: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let r = b.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

pub async fn post_form(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    b.post(app.url(path)).form(form).send().await.unwrap()
}

pub async fn try_sign_in(
    app: &TestApp,
    b: &reqwest::Client,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let (status, html) = page(app, b, "/login").await;
    assert_eq!(status, 200);
    let token = csrf(&html);
    post_form(
        app,
        b,
        "/login",
        &[("username", user), ("password", password), ("csrf", &token)],
    )
    .await
}

/// Signs in and returns the desk page's CSRF token.
pub async fn sign_in(app: &TestApp, b: &reqwest::Client, user: &str) -> String {
    let r = try_sign_in(app, b, user, PASSWORD).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["location"], "/");
    let (status, html) = page(app, b, "/").await;
    assert_eq!(status, 200);
    csrf(&html)
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}
