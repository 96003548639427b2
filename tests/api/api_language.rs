//! The API's error messages speak the desk's language: Brazilian
//! Portuguese by default (`locale.language`), English when the request
//! asks with `Accept-Language: en`; `code` is the same in both, for
//! programs.

use crate::support;

use serde_json::json;
use support::{Backend, TestApp};

async fn error_of(r: reqwest::Response) -> (u16, String, String, Option<String>) {
    let status = r.status().as_u16();
    let lang = r
        .headers()
        .get("content-language")
        .map(|v| v.to_str().unwrap().to_string());
    let v: serde_json::Value = r.json().await.unwrap();
    (
        status,
        v["error"]["code"].as_str().unwrap().to_string(),
        v["error"]["message"].as_str().unwrap().to_string(),
        lang,
    )
}

#[tokio::test]
async fn errors_are_worded_in_portuguese_unless_english_is_asked() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = reqwest::Client::new();

    // No token: the fixed sentence, and the challenge header stays.
    let r = client.get(app.url("/api/providers")).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let (status, code, message, lang) = error_of(r).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    assert!(
        message.starts_with("É preciso um token válido"),
        "{message}"
    );
    assert_eq!(lang.as_deref(), Some("pt-BR"));

    let r = client
        .get(app.url("/api/providers"))
        .header("accept-language", "en-US,en;q=0.9")
        .send()
        .await
        .unwrap();
    let (_, code, message, lang) = error_of(r).await;
    assert_eq!(code, "unauthorized");
    assert!(
        message.starts_with("a valid bearer token is required"),
        "{message}"
    );
    assert_eq!(lang, None);

    // A field the handler refuses: the Portuguese lead, then its detail.
    let authed = |b: reqwest::RequestBuilder| b.bearer_auth(&app.token);
    let r = authed(client.post(app.url("/api/providers")))
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    let (status, code, message, _) = error_of(r).await;
    assert_eq!(status, 400, "{message}");
    assert_eq!(code, "invalid_field");
    assert!(message.starts_with("Campo inválido: "), "{message}");
    assert!(
        message.contains("name"),
        "the detail names the field: {message}"
    );

    let r = authed(client.get(app.url("/api/providers/999999")))
        .send()
        .await
        .unwrap();
    let (status, code, message, _) = error_of(r).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert!(message.starts_with("Não encontrado: "), "{message}");

    let r = authed(client.post(app.url("/api/providers")))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, code, message, _) = error_of(r).await;
    assert_eq!((status, code.as_str()), (400, "malformed_json"));
    assert!(message.starts_with("JSON malformado: "), "{message}");
}
