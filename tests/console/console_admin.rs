//! The console's admin pages through the real daemon, with a cookie-keeping
//! HTTP client as the browser: an admin makes a token (shown once, working
//! against the API, listed without its secret) and revokes it; adds a
//! person who can then sign in; changes roles (the person's rights change
//! with them) but not their own; imports a CSV, refused whole with the bad
//! lines named or written whole; managers and consultants are refused
//! every admin page and form; a form without the session's CSRF token is
//! refused. Every write is checked afterwards through the API and the audit
//! trail. On SQLite and PostgreSQL.

use crate::support;

use serde_json::{json, Value};
use support::console::{csrf, location, page, person, post_form, sign_in};
use support::{json, Backend, TestApp};

on_every_backend!(
    an_admin_makes_and_revokes_a_token,
    an_admin_adds_people_and_changes_roles,
    an_admin_cannot_demote_or_deactivate_themself,
    a_csv_import_is_written_whole_or_not_at_all,
    an_upload_over_the_api_limit_is_refused,
    only_admins_reach_the_admin_pages,
    admin_forms_without_the_csrf_token_are_refused,
);

async fn spawn(b: Backend) -> TestApp {
    spawn_with(b, &[]).await
}

async fn spawn_with(b: Backend, extra: &[(&str, &str)]) -> TestApp {
    support::console::spawn(b, extra).await
}

/// A browser that speaks Brazilian Portuguese.
fn browser() -> reqwest::Client {
    support::console::browser("pt-BR")
}

/// A form POST that must redirect to `to`.
async fn post_to(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
    to: &str,
) -> String {
    let r = post_form(app, b, path, form).await;
    assert_eq!(r.status(), 303, "{path}: {}", r.text().await.unwrap());
    let at = location(&r);
    assert!(at.starts_with(to), "{path} went to {at}, not {to}");
    at
}

/// A `multipart/form-data` body: (name, file name, content) per part.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "protocall-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let head = match file {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                 Content-Type: text/csv\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    app: &TestApp,
    b: &reqwest::Client,
    parts: &[(&str, Option<&str>, &[u8])],
) -> reqwest::Response {
    let (content_type, body) = multipart(parts);
    b.post(app.url("/admin/import"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn get_with(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn audit(app: &TestApp, entity: &str, id: i64) -> Vec<(String, Option<String>, String)> {
    app.store
        .audit_trail(entity, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.field, e.new_value, e.actor))
        .collect()
}

fn token_named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no token {name} in {list}"))
}

async fn an_admin_makes_and_revokes_a_token(b: Backend) {
    let app = spawn(b).await;
    let root = person(&app, "root", "admin").await;
    person(&app, "ana", "consultant").await;
    let br = browser();
    sign_in(&app, &br, "root").await;

    // The admin sees the way in.
    let (_, desk) = page(&app, &br, "/").await;
    assert!(desk.contains("href=\"/admin\""));
    let (status, html) = page(&app, &br, "/admin").await;
    assert_eq!(status, 200);
    for part in ["/admin/tokens", "/admin/consultants", "/admin/import"] {
        assert!(html.contains(&format!("href=\"{part}\"")), "{part}");
    }

    let (status, html) = page(&app, &br, "/admin/tokens").await;
    assert_eq!(status, 200);
    assert!(html.contains("Novo token"));
    let token = csrf(&html);
    let owner = root.to_string();
    let at = post_to(
        &app,
        &br,
        "/admin/tokens",
        &[
            ("csrf", &token),
            ("name", "planilha-gestao"),
            ("role", "manager"),
            ("owner", &owner),
            ("expires", "24/11/2099 09:30"),
        ],
        "/admin/tokens/created?r=",
    )
    .await;
    let (status, shown) = page(&app, &br, &at).await;
    assert_eq!(status, 200);
    assert!(shown.contains("não será mostrado de novo"), "{shown}");
    let from = shown.find("value=\"pc_").unwrap() + "value=\"".len();
    let secret = shown[from..from + shown[from..].find('"').unwrap()].to_string();
    assert_eq!(secret.len(), 3 + 64);
    // Once only.
    let r = br.get(app.url(&at)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/tokens?err=token_gone");

    // It works against the API, with a manager's rights.
    let week = "/api/reports/weekly?week=2026-W48&format=json";
    assert_eq!(get_with(&app, &secret, week).await.status(), 200);
    assert_eq!(get_with(&app, &secret, "/api/tokens").await.status(), 403);

    // Listed, never with its secret.
    let (_, html) = page(&app, &br, "/admin/tokens").await;
    assert!(html.contains("planilha-gestao"));
    assert!(html.contains("24/11/2099 09:30"));
    assert!(!html.contains(&secret));
    assert!(!html.contains(&secret[3..20]));
    let list = json(app.get("/api/tokens").await, 200).await;
    let t = token_named(&list, "planilha-gestao");
    assert_eq!(t["role"], "manager");
    assert_eq!(t["owner"], "root");
    assert_eq!(t["status"], "active");
    assert!(t["expires_at"]
        .as_str()
        .unwrap()
        .starts_with("2099-11-24T09:30"));
    let id = t["id"].as_i64().unwrap();
    let trail = audit(&app, "token", id).await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].0, "created");
    assert_eq!(trail[0].2, "root");

    // The store's refusals come back as notices.
    let dup = post_to(
        &app,
        &br,
        "/admin/tokens",
        &[
            ("csrf", &token),
            ("name", "planilha-gestao"),
            ("role", "admin"),
        ],
        "/admin/tokens?err=",
    )
    .await;
    assert_eq!(dup, "/admin/tokens?err=token_name_taken");
    let (_, html) = page(&app, &br, &dup).await;
    assert!(html.contains("Já existe um token ativo com esse nome"));
    let ownerless = post_to(
        &app,
        &br,
        "/admin/tokens",
        &[("csrf", &token), ("name", "solto"), ("role", "consultant")],
        "/admin/tokens?err=",
    )
    .await;
    assert_eq!(ownerless, "/admin/tokens?err=token_refused");
    let bad = post_to(
        &app,
        &br,
        "/admin/tokens",
        &[
            ("csrf", &token),
            ("name", "mais-tarde"),
            ("role", "admin"),
            ("expires", "quando der"),
        ],
        "/admin/tokens?err=",
    )
    .await;
    assert_eq!(bad, "/admin/tokens?err=bad_expiry");
    let list = json(app.get("/api/tokens").await, 200).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "test + planilha: {list}");

    // Revoking asks first, then takes effect at once.
    let confirm = format!("/admin/tokens/{id}/revoke");
    let (status, html) = page(&app, &br, &confirm).await;
    assert_eq!(status, 200);
    assert!(html.contains("Revogar o token planilha-gestao?"));
    assert!(html.contains(&format!("action=\"{confirm}\"")));
    assert_eq!(
        get_with(&app, &secret, week).await.status(),
        200,
        "asking revokes nothing"
    );
    post_to(
        &app,
        &br,
        &confirm,
        &[("csrf", &token)],
        "/admin/tokens?ok=token_revoked",
    )
    .await;
    assert_eq!(get_with(&app, &secret, week).await.status(), 401);
    let list = json(app.get("/api/tokens").await, 200).await;
    assert_eq!(token_named(&list, "planilha-gestao")["status"], "revoked");
    let trail = audit(&app, "token", id).await;
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert_eq!(
        (trail[1].0.as_str(), trail[1].2.as_str()),
        ("revoked_at", "root")
    );
    let (_, html) = page(&app, &br, "/admin/tokens?ok=token_revoked").await;
    assert!(html.contains("Token revogado."));
    assert!(
        !html.contains(&format!("href=\"{confirm}\"")),
        "no revoke link left"
    );
    let again = br.get(app.url(&confirm)).send().await.unwrap();
    assert_eq!(location(&again), "/admin/tokens?err=token_already_revoked");
    assert_eq!(page(&app, &br, "/admin/tokens/999999/revoke").await.0, 404);
}

async fn an_admin_adds_people_and_changes_roles(b: Backend) {
    let app = spawn(b).await;
    person(&app, "root", "admin").await;
    let br = browser();
    sign_in(&app, &br, "root").await;
    let (status, html) = page(&app, &br, "/admin/consultants").await;
    assert_eq!(status, 200);
    assert!(html.contains("Cadastrar pessoa"));
    let token = csrf(&html);

    post_to(
        &app,
        &br,
        "/admin/consultants",
        &[
            ("csrf", &token),
            ("name", "Bia Souza"),
            ("sip_username", "bia"),
            ("password", "senha da bia"),
            ("email", ""),
            ("role", "consultant"),
        ],
        "/admin/consultants?ok=person_created",
    )
    .await;
    let list = json(app.get("/api/consultants").await, 200).await;
    let bia_rec = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sip_username"] == "bia")
        .unwrap()
        .clone();
    assert_eq!(bia_rec["name"], "Bia Souza");
    assert_eq!(bia_rec["role"], "consultant");
    assert_eq!(bia_rec["active"], true);
    assert!(bia_rec.get("password").is_none() && bia_rec.get("ha1_md5").is_none());
    let bia = bia_rec["id"].as_i64().unwrap();

    // She signs in with that password (checked against the stored HA1).
    let bia_br = browser();
    assert_eq!(
        support::console::try_sign_in(&app, &bia_br, "bia", "senha errada")
            .await
            .status(),
        401
    );
    assert_eq!(
        support::console::try_sign_in(&app, &bia_br, "bia", "senha da bia")
            .await
            .status(),
        303
    );
    assert_eq!(page(&app, &bia_br, "/gestao").await.0, 403);

    // Refusals from the shared validation, as notices.
    for (form, code) in [
        (
            [("sip_username", "bia"), ("password", "outra senha")],
            "username_taken",
        ),
        (
            [("sip_username", "caio"), ("password", "curta")],
            "bad_password",
        ),
        (
            [("sip_username", "caio silva"), ("password", "outra senha")],
            "bad_username",
        ),
    ] {
        let mut f = vec![
            ("csrf", token.as_str()),
            ("name", "Caio"),
            ("role", "manager"),
        ];
        f.extend_from_slice(&form);
        post_to(
            &app,
            &br,
            "/admin/consultants",
            &f,
            &format!("/admin/consultants?err={code}"),
        )
        .await;
    }
    let list = json(app.get("/api/consultants").await, 200).await;
    assert_eq!(list["total"], 2, "nobody else was added: {list}");

    // A new role takes effect on her next page.
    let (_, html) = page(&app, &br, "/admin/consultants").await;
    assert!(html.contains(&format!("action=\"/admin/consultants/{bia}/role\"")));
    assert!(html.contains("Papel de Bia Souza"));
    post_to(
        &app,
        &br,
        &format!("/admin/consultants/{bia}/role"),
        &[("csrf", &token), ("role", "manager")],
        "/admin/consultants?ok=role_changed",
    )
    .await;
    let c = json(app.get(&format!("/api/consultants/{bia}")).await, 200).await;
    assert_eq!(c["role"], "manager");
    assert_eq!(page(&app, &bia_br, "/gestao").await.0, 200);
    assert_eq!(page(&app, &bia_br, "/admin").await.0, 403);
    post_to(
        &app,
        &br,
        &format!("/admin/consultants/{bia}/role"),
        &[("csrf", &token), ("role", "admin")],
        "/admin/consultants?ok=role_changed",
    )
    .await;
    assert_eq!(page(&app, &bia_br, "/admin").await.0, 200);
    post_to(
        &app,
        &br,
        &format!("/admin/consultants/{bia}/role"),
        &[("csrf", &token), ("role", "root")],
        "/admin/consultants?err=invalid",
    )
    .await;

    // Deactivated, her session opens nothing; reactivated, she signs in.
    post_to(
        &app,
        &br,
        &format!("/admin/consultants/{bia}/active"),
        &[("csrf", &token), ("active", "false")],
        "/admin/consultants?ok=deactivated",
    )
    .await;
    let c = json(app.get(&format!("/api/consultants/{bia}")).await, 200).await;
    assert_eq!(c["active"], false);
    let r = bia_br.get(app.url("/")).send().await.unwrap();
    assert_eq!(location(&r), "/login");
    let (_, html) = page(&app, &br, "/admin/consultants").await;
    assert!(html.contains("Reativar Bia Souza"));
    post_to(
        &app,
        &br,
        &format!("/admin/consultants/{bia}/active"),
        &[("csrf", &token), ("active", "true")],
        "/admin/consultants?ok=activated",
    )
    .await;
    let c = json(app.get(&format!("/api/consultants/{bia}")).await, 200).await;
    assert_eq!(c["active"], true);
    assert_eq!(
        support::console::try_sign_in(&app, &bia_br, "bia", "senha da bia")
            .await
            .status(),
        303
    );

    let trail = audit(&app, "consultant", bia).await;
    let fields: Vec<(&str, Option<&str>)> = trail
        .iter()
        .map(|(f, v, _)| (f.as_str(), v.as_deref()))
        .collect();
    assert_eq!(
        fields[1..],
        [
            ("role", Some("manager")),
            ("role", Some("admin")),
            ("active", Some("false")),
            ("active", Some("true")),
        ],
        "{trail:?}"
    );
    assert_eq!(fields[0].0, "created");
    assert!(
        trail.iter().all(|(_, _, actor)| actor == "root"),
        "{trail:?}"
    );
}

async fn an_admin_cannot_demote_or_deactivate_themself(b: Backend) {
    let app = spawn(b).await;
    let root = person(&app, "root", "admin").await;
    let br = browser();
    let token = sign_in(&app, &br, "root").await;
    let (_, html) = page(&app, &br, "/admin/consultants").await;
    assert!(html.contains("não dá para tirar seu próprio papel de administrador"));
    assert!(!html.contains(&format!("action=\"/admin/consultants/{root}/role\"")));
    assert!(!html.contains(&format!("action=\"/admin/consultants/{root}/active\"")));

    // The form is not offered; sent anyway, it is refused and says why.
    let at = post_to(
        &app,
        &br,
        &format!("/admin/consultants/{root}/role"),
        &[("csrf", &token), ("role", "manager")],
        "/admin/consultants?err=own_rights",
    )
    .await;
    let (_, html) = page(&app, &br, &at).await;
    assert!(html.contains("Você não pode tirar seu próprio papel de administrador"));
    post_to(
        &app,
        &br,
        &format!("/admin/consultants/{root}/active"),
        &[("csrf", &token), ("active", "false")],
        "/admin/consultants?err=own_rights",
    )
    .await;
    let c = json(app.get(&format!("/api/consultants/{root}")).await, 200).await;
    assert_eq!(
        (c["role"].clone(), c["active"].clone()),
        (json!("admin"), json!(true))
    );
    assert_eq!(page(&app, &br, "/admin").await.0, 200, "still an admin");
    assert!(audit(&app, "consultant", root)
        .await
        .iter()
        .all(|(f, _, _)| f == "created"));

    // The API applies the same rule to a person's own token.
    let made = json(
        app.post(
            "/api/tokens",
            json!({"name": "root-laptop", "role": "admin", "consultant_id": root}),
        )
        .await,
        201,
    )
    .await;
    let own = made["token"].as_str().unwrap();
    let r = reqwest::Client::new()
        .patch(app.url(&format!("/api/consultants/{root}")))
        .bearer_auth(own)
        .json(&json!({"role": "manager"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Another admin may.
    json(
        app.patch(
            &format!("/api/consultants/{root}"),
            json!({"role": "manager"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page(&app, &br, "/admin").await.0, 403);
}

const GOOD_CSV: &str =
    "provider,tax_id,consulting,contract_valid_from,number,label,user,user_email\n\
NetSul,11.222.333/0001-81,sim,2025-01-01,(11) 98765-4321,main,,\n\
NetSul,11.222.333/0001-81,sim,2025-01-01,(11) 91234-5678,,Carlos,carlos@netsul.com.br\n";

async fn a_csv_import_is_written_whole_or_not_at_all(b: Backend) {
    let app = spawn(b).await;
    person(&app, "root", "admin").await;
    let br = browser();
    sign_in(&app, &br, "root").await;
    let (status, html) = page(&app, &br, "/admin/import").await;
    assert_eq!(status, 200);
    assert!(html.contains("enctype=\"multipart/form-data\""));
    let token = csrf(&html);

    // Line 3 is fine; lines 2 and 4 are not: nothing is written.
    let bad = "provider,consulting,number\n\
               NetSul,talvez,(11) 98765-4321\n\
               Rede Norte,sim,(92) 3234-5678\n\
               ,sim,(21) 2222-3333\n";
    let r = upload(
        &app,
        &br,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some("cadastro.csv"), bad.as_bytes()),
            ("csv", None, b""),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let at = location(&r);
    assert!(at.starts_with("/admin/import?r="), "{at}");
    let (status, html) = page(&app, &br, &at).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Nada foi importado. Linhas recusadas: 2."),
        "{html}"
    );
    assert!(html.contains("<th scope=\"row\">2</th>"), "{html}");
    assert!(html.contains("<th scope=\"row\">4</th>"), "{html}");
    assert!(!html.contains("<th scope=\"row\">3</th>"));
    assert!(html.contains("consulting") && html.contains("talvez"));
    assert!(html.contains("role=\"region\" aria-labelledby=\"rejected-h rejected-t\""));
    let providers = json(app.get("/api/providers").await, 200).await;
    assert_eq!(providers["total"], 0, "all or nothing: {providers}");
    // The same result on a reload (the page is a GET).
    assert_eq!(page(&app, &br, &at).await.1, html);

    // Pasted text, the good file: written whole.
    let r = upload(
        &app,
        &br,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some(""), b""),
            ("csv", None, GOOD_CSV.replace('\n', "\r\n").as_bytes()),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, html) = page(&app, &br, &location(&r)).await;
    assert!(html.contains("Importação concluída."), "{html}");
    assert!(
        html.contains("<dt>Números incluídos</dt><dd>2</dd>"),
        "{html}"
    );
    assert!(
        html.contains("<dt>Provedores criados</dt><dd>1</dd>"),
        "{html}"
    );
    let providers = json(app.get("/api/providers").await, 200).await;
    assert_eq!(providers["total"], 1);
    assert_eq!(providers["items"][0]["name"], "NetSul");
    let found = json(app.get("/api/lookup?number=011912345678").await, 200).await;
    assert_eq!(found["user"]["name"], "Carlos");
    let trail = audit(&app, "directory", 0).await;
    assert_eq!(trail.len(), 1, "one audited import: {trail:?}");
    assert_eq!(trail[0].0, "import");
    assert_eq!(trail[0].2, "root");
    assert!(trail[0].1.as_deref().unwrap().contains("numbers_added=2"));

    // Neither, or both, is refused before anything is read.
    let r = upload(
        &app,
        &br,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some(""), b""),
            ("csv", None, b"  "),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/import?err=import_empty");
    let r = upload(
        &app,
        &br,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some("a.csv"), GOOD_CSV.as_bytes()),
            ("csv", None, GOOD_CSV.as_bytes()),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/import?err=import_both");
    let (_, html) = page(&app, &br, "/admin/import?err=import_both").await;
    assert!(html.contains("não os dois"));
    // A result handle of nobody's is no result.
    let r = br
        .get(app.url("/admin/import?r=0123456789abcdef"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/import?err=import_gone");
}

async fn an_upload_over_the_api_limit_is_refused(b: Backend) {
    let app = spawn_with(b, &[("PROTOCALL__HTTP__MAX_BODY_BYTES", "4096")]).await;
    person(&app, "root", "admin").await;
    let br = browser();
    let token = sign_in(&app, &br, "root").await;
    let mut big = String::from("provider,number\n");
    for i in 0..200 {
        big.push_str(&format!("Provedor {i},(11) 9{i:04}-0000\n"));
    }
    assert!(big.len() > 4096);
    // The API refuses such a body, and so does the page.
    let r = app
        .post_raw("/api/import", "text/csv", big.clone().into_bytes())
        .await;
    assert_eq!(r.status(), 413);
    let r = upload(
        &app,
        &br,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some("big.csv"), big.as_bytes()),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/import?err=import_too_large");
    // Past even the room the gate leaves for the form's other fields, the
    // body is not read at all, and the answer is the same.
    let huge = big.repeat(20);
    assert!(huge.len() > 4096 + 64 * 1024);
    let r = upload(
        &app,
        &br,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some("huge.csv"), huge.as_bytes()),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/import?err=import_too_large");
    let (_, html) = page(&app, &br, "/admin/import?err=import_too_large").await;
    assert!(html.contains("divida-o em partes"));
    let providers = json(app.get("/api/providers").await, 200).await;
    assert_eq!(providers["total"], 0);
    // Under the limit, the same form imports.
    let r = upload(
        &app,
        &br,
        &[
            ("csrf", None, token.as_bytes()),
            ("file", Some("small.csv"), GOOD_CSV.as_bytes()),
        ],
    )
    .await;
    assert!(location(&r).starts_with("/admin/import?r="));
    let providers = json(app.get("/api/providers").await, 200).await;
    assert_eq!(providers["total"], 1);
}

async fn only_admins_reach_the_admin_pages(b: Backend) {
    let app = spawn(b).await;
    person(&app, "root", "admin").await;
    let ana = person(&app, "ana", "consultant").await;
    person(&app, "gil", "manager").await;
    let tokens_before = json(app.get("/api/tokens").await, 200).await;
    let test_token = tokens_before[0]["id"].as_i64().unwrap();
    for user in ["gil", "ana"] {
        let br = browser();
        let token = sign_in(&app, &br, user).await;
        let (_, desk) = page(&app, &br, "/").await;
        assert!(!desk.contains("href=\"/admin\""), "{user} sees no way in");
        for path in [
            "/admin".to_string(),
            "/admin/tokens".into(),
            "/admin/tokens/created?r=x".into(),
            format!("/admin/tokens/{test_token}/revoke"),
            "/admin/consultants".into(),
            "/admin/import".into(),
        ] {
            let (status, html) = page(&app, &br, &path).await;
            assert_eq!(status, 403, "{user} GET {path}");
            assert!(
                html.contains("só para administradores"),
                "{user} GET {path}"
            );
        }
        let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
            (
                "/admin/tokens".into(),
                vec![("name", "sneaky"), ("role", "admin")],
            ),
            (format!("/admin/tokens/{test_token}/revoke"), vec![]),
            (
                "/admin/consultants".into(),
                vec![
                    ("name", "Zé"),
                    ("sip_username", "ze"),
                    ("password", "senha do zé"),
                    ("role", "admin"),
                ],
            ),
            (
                format!("/admin/consultants/{ana}/role"),
                vec![("role", "admin")],
            ),
            (
                format!("/admin/consultants/{ana}/active"),
                vec![("active", "false")],
            ),
        ];
        for (path, fields) in &posts {
            let mut form = vec![("csrf", token.as_str())];
            form.extend_from_slice(fields);
            let r = post_form(&app, &br, path, &form).await;
            assert_eq!(r.status(), 403, "{user} POST {path}");
        }
        let r = upload(
            &app,
            &br,
            &[
                ("csrf", None, token.as_bytes()),
                ("csv", None, GOOD_CSV.as_bytes()),
            ],
        )
        .await;
        assert_eq!(r.status(), 403, "{user} POST /admin/import");
    }
    // Nothing changed.
    assert_eq!(json(app.get("/api/tokens").await, 200).await, tokens_before);
    let people = json(app.get("/api/consultants").await, 200).await;
    assert_eq!(people["total"], 3);
    let a = json(app.get(&format!("/api/consultants/{ana}")).await, 200).await;
    assert_eq!(
        (a["role"].clone(), a["active"].clone()),
        (json!("consultant"), json!(true))
    );
    assert_eq!(json(app.get("/api/providers").await, 200).await["total"], 0);
}

async fn admin_forms_without_the_csrf_token_are_refused(b: Backend) {
    let app = spawn(b).await;
    person(&app, "root", "admin").await;
    let ana = person(&app, "ana", "consultant").await;
    let br = browser();
    let token = sign_in(&app, &br, "root").await;
    let role = format!("/admin/consultants/{ana}/role");
    for csrf in [None, Some("0000")] {
        let with = |mut f: Vec<(&'static str, String)>| {
            if let Some(c) = csrf {
                f.push(("csrf", c.to_string()));
            }
            f
        };
        let r = br
            .post(app.url("/admin/tokens"))
            .form(&with(vec![("name", "x".into()), ("role", "admin".into())]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("O formulário expirou"));
        let r = br
            .post(app.url(&role))
            .form(&with(vec![("role", "admin".into())]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![("csv", None, GOOD_CSV.as_bytes())];
        if let Some(c) = csrf {
            parts.insert(0, ("csrf", None, c.as_bytes()));
        }
        assert_eq!(upload(&app, &br, &parts).await.status(), 403);
    }
    // The token after the file is still found, and still checked.
    let r = upload(
        &app,
        &br,
        &[("csv", None, GOOD_CSV.as_bytes()), ("csrf", None, b"0000")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let list = json(app.get("/api/tokens").await, 200).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "only the test's own token"
    );
    let a = json(app.get(&format!("/api/consultants/{ana}")).await, 200).await;
    assert_eq!(a["role"], "consultant");
    assert_eq!(json(app.get("/api/providers").await, 200).await["total"], 0);
    // With it, the same form goes through.
    post_to(
        &app,
        &br,
        &role,
        &[("csrf", &token), ("role", "manager")],
        "/admin/consultants?ok=role_changed",
    )
    .await;
}
