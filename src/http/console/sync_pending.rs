//! The manager page's card of protocol events from the system of record
//! that wait for a person (`GET /api/protocols/events/pending` as the
//! console shows it): which protocol, what happened, and what protocall
//! is missing to apply it (a provider's CNPJ, a consultant's e-mail).

use maud::{html, Markup};

use super::i18n::Lang;
use super::layout::{scroll_table, when};
use crate::http::AppState;

/// How many are shown; the API pages through the rest.
const SHOWN: i64 = 50;

pub async fn card(st: &AppState, lang: Lang) -> Markup {
    let pending = match st.store.pending_events(SHOWN, 0).await {
        Ok(p) => p,
        Err(e) => {
            // The rest of the page is still worth showing.
            tracing::warn!(error = %e, "pending protocol events not loaded");
            return html! {};
        }
    };
    html! {
        section class="card wide" aria-labelledby="sync-h" {
            h2 id="sync-h" { (lang.t("manager.sync_pending")) }
            @if pending.items.is_empty() {
                p { (lang.t("manager.sync_pending_none")) }
            } @else {
                (scroll_table(lang, "sync", &[lang.t("manager.protocol"), lang.t("manager.sync_event"), lang.t("manager.sync_missing"), lang.t("manager.sync_received")], html! {
                    @for e in &pending.items {
                        tr {
                            td { (e.number) }
                            td { (e.kind) }
                            td { @for m in &e.missing { (m) br; } }
                            td { (when(&e.received_at)) }
                        }
                    }
                }))
            }
        }
    }
}
