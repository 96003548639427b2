//! The directory import at `/admin/import`: a CSV file upload or a pasted
//! CSV, read by the API's own `lookup::run_import`, so it is all rows or
//! none and refused rows are named by their line. The result (the counts,
//! or every refused line with its reason) is handed to the page the POST
//! redirects to.
//!
//! The form is `multipart/form-data`; the session gate reads it up to the
//! API's body limit (`http.max_body_bytes`) plus room for the other fields
//! (see `session::require_session`), and a file or pasted text larger than
//! that limit is refused here, as the API refuses such a body.

use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::handover::Outcome;
use super::{back, refused, unavailable, Notice};
use crate::directory::import::ImportReport;
use crate::http::console::i18n::Lang;
use crate::http::console::layout::csrf_field;
use crate::http::console::session::Session;
use crate::http::lookup::run_import;
use crate::http::AppState;

/// The page and the one path whose POST may carry an upload.
pub const PATH: &str = "/admin/import";

/// An example a person can paste and adapt (the one in docs/api.md).
const EXAMPLE: &str =
    "provider,tax_id,consulting,contract_valid_from,number,label,user,user_email\n\
NetSul,11.222.333/0001-81,sim,2025-01-01,(11) 98765-4321,main,,\n\
NetSul,11.222.333/0001-81,sim,2025-01-01,(11) 91234-5678,,Carlos,carlos@netsul.com.br";

#[derive(Debug, Default, Deserialize)]
pub struct ImportQuery {
    #[serde(flatten)]
    notice: Notice,
    #[serde(default)]
    r: String,
}

fn form(s: &Session) -> Markup {
    let lang = s.lang;
    html! {
        section class="card wide" aria-labelledby="upload-h" {
            h2 id="upload-h" { (lang.t("admin.import.upload")) }
            p { (lang.t("admin.import.columns")) }
            p { code { "provider, tax_id, consulting, contract_valid_from, contract_valid_until, number, label, user, user_email" } }
            p class="hint" { (lang.t("admin.import.rules")) }
            // The CSRF field first: the gate stops reading at it.
            form method="post" action=(PATH) enctype="multipart/form-data" class="stack" {
                (csrf_field(s))
                label for="import-file" { (lang.t("admin.import.file")) }
                input id="import-file" name="file" type="file" accept=".csv,text/csv,text/plain";
                label for="import-text" { (lang.t("admin.import.paste")) }
                textarea id="import-text" name="csv" rows="8" spellcheck="false"
                    aria-describedby="import-hint" {}
                p class="hint" id="import-hint" { (lang.t("admin.import.paste_hint")) }
                button type="submit" { (lang.t("admin.import.submit")) }
            }
            details {
                summary { (lang.t("admin.import.example")) }
                pre { code { (EXAMPLE) } }
            }
        }
    }
}

fn imported(lang: Lang, r: &ImportReport) -> Markup {
    let counts = [
        (lang.t("admin.import.rows"), r.rows),
        (
            lang.t("admin.import.providers_created"),
            r.providers_created,
        ),
        (
            lang.t("admin.import.providers_updated"),
            r.providers_updated,
        ),
        (lang.t("admin.import.users_created"), r.users_created),
        (lang.t("admin.import.numbers_added"), r.numbers_added),
        (
            lang.t("admin.import.numbers_unchanged"),
            r.numbers_unchanged,
        ),
    ];
    html! {
        section class="card wide" aria-labelledby="result-h" {
            h2 id="result-h" { (lang.t("admin.import.result")) }
            p class="notice ok" role="status" { (lang.t("admin.import.done")) }
            dl class="who" {
                @for (label, n) in counts {
                    dt { (label) } dd { (lang.number(n as f64, 0)) }
                }
            }
        }
    }
}

fn rejected(lang: Lang, r: &ImportReport) -> Markup {
    html! {
        section class="card wide" aria-labelledby="result-h" {
            h2 id="result-h" { (lang.t("admin.import.result")) }
            p class="notice error" role="alert" {
                (lang.tf("admin.import.refused", &[("n", &r.rejected.len().to_string())]))
            }
            div id="rejected-t" class="scroll" tabindex="0" role="region" aria-labelledby="rejected-h rejected-t" aria-label=(lang.t("a11y.table")) {
                table {
                    caption id="rejected-h" { (lang.t("admin.import.rejected")) }
                    thead { tr {
                        th scope="col" { (lang.t("admin.import.line")) }
                        th scope="col" { (lang.t("admin.import.field")) }
                        th scope="col" { (lang.t("admin.import.reason")) }
                    } }
                    tbody {
                        @for x in &r.rejected {
                            tr {
                                th scope="row" { (x.line) }
                                td {
                                    @match &x.field {
                                        Some(f) => code { (f) },
                                        None => span class="muted" { (lang.t("admin.import.whole_row")) },
                                    }
                                }
                                td { (x.message) }
                            }
                        }
                    }
                }
            }
            p class="hint" { (lang.t("admin.import.reason_hint")) }
        }
    }
}

/// `GET /admin/import`, with the last import's result when `r` names one.
pub async fn page(
    State(st): State<AppState>,
    s: Session,
    Query(q): Query<ImportQuery>,
) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let lang = s.lang;
    let report = match (q.r.is_empty(), st.console.handover.read(s.csrf(), &q.r)) {
        (true, _) => None,
        (false, Some(Outcome::Import(r))) => Some(r),
        (false, _) => return back(PATH, "err", "import_gone"),
    };
    let body = html! {
        (q.notice.render(lang))
        p { (lang.t("admin.import.intro")) }
        div class="grid" {
            @if let Some(r) = &report {
                @if r.imported { (imported(lang, r)) } @else { (rejected(lang, r)) }
            }
            (form(&s))
        }
    };
    super::shell(&s, PATH, lang.t("admin.import.title"), body)
}

/// Why the upload could not be read.
enum Unread {
    TooLarge,
    Malformed,
}

impl From<MultipartError> for Unread {
    fn from(e: MultipartError) -> Self {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Unread::TooLarge
        } else {
            Unread::Malformed
        }
    }
}

/// The file and the pasted text, each at most `limit` bytes.
async fn read_form(mut m: Multipart, limit: usize) -> Result<(Vec<u8>, String), Unread> {
    let mut file = Vec::new();
    let mut text = String::new();
    while let Some(mut field) = m.next_field().await? {
        let name = field.name().map(str::to_owned);
        match name.as_deref() {
            Some("file") => file = read_field(&mut field, limit).await?,
            Some("csv") => {
                text = String::from_utf8(read_field(&mut field, limit).await?)
                    .map_err(|_| Unread::Malformed)?
            }
            // The CSRF token (the gate checked it) and anything else.
            _ => {}
        }
    }
    Ok((file, text))
}

/// One field, refused once it passes `limit`, without holding more.
async fn read_field(
    field: &mut axum::extract::multipart::Field<'_>,
    limit: usize,
) -> Result<Vec<u8>, Unread> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        if out.len().saturating_add(chunk.len()) > limit {
            return Err(Unread::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `POST /admin/import`: reads the file or the text (not both), imports
/// it all or not at all, and hands the report to the page.
pub async fn submit(
    State(st): State<AppState>,
    s: Session,
    m: Result<Multipart, MultipartRejection>,
) -> Response {
    if let Some(r) = refused(&s) {
        return r;
    }
    let Ok(m) = m else {
        return back(PATH, "err", "invalid");
    };
    let (file, text) = match read_form(m, st.console.upload_bytes).await {
        Ok(v) => v,
        Err(Unread::TooLarge) => return back(PATH, "err", "import_too_large"),
        Err(Unread::Malformed) => return back(PATH, "err", "invalid"),
    };
    let data: &[u8] = match (file.is_empty(), text.trim().is_empty()) {
        (true, true) => return back(PATH, "err", "import_empty"),
        (false, false) => return back(PATH, "err", "import_both"),
        (false, true) => &file,
        (true, false) => text.as_bytes(),
    };
    let report = match run_import(&st, data, &s.principal.person).await {
        Ok(r) => r,
        Err(e) => return unavailable(&s, &e),
    };
    let done = report.imported;
    match st.console.handover.put(s.csrf(), Outcome::Import(report)) {
        Some(h) => Redirect::to(&format!("{PATH}?r={h}")).into_response(),
        // Without the report, at least whether anything was written.
        None if done => back(PATH, "ok", "imported"),
        None => back(PATH, "err", "import_refused"),
    }
}
