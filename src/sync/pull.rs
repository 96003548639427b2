//! The periodic pull, for systems of record that cannot send webhooks:
//! every `protocol_sync.pull.interval_secs` it reads the configured JSON
//! endpoint page by page (following the page's `next` URL) and applies
//! each record as an `updated` event, with the webhook's idempotency and
//! ordering. A failed pull (connection, status, a page that cannot be
//! read, the database) is counted in `protocall_protocol_sync_failures_total`
//! and retried after `retry_min_secs`, doubling up to the interval; a
//! complete one sets `protocall_protocol_sync_last_success_timestamp_seconds`.
//!
//! The client is hyper's (already in the tree under axum), plain HTTP:
//! the system of record is reached on the desk's network or through a
//! local TLS proxy.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, Request, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;

use super::mapping::{self, MappingError};
use super::{apply, Outcome, SyncError, PULL};
use crate::config::PullSettings;
use crate::directory::protocol_changes::ProtocolChanges;
use crate::metrics::ProtocolSyncMetrics;
use crate::store::Store;

/// The largest page read; a bigger one fails the pull rather than the
/// process's memory.
pub const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("`{0}` is not a URL this client can fetch (http://host[:port]/path)")]
    Url(String),
    #[error("GET {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("GET {url}: answered {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: timed out after {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("GET {url}: the page is not JSON: {message}")]
    NotJson { url: String, message: String },
    #[error("GET {url}: {source}")]
    Page { url: String, source: MappingError },
    #[error("more than {0} pages; the rest waits for the next pull")]
    TooManyPages(u32),
    #[error(transparent)]
    Apply(#[from] SyncError),
}

/// What one complete pull did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PullReport {
    pub pages: u32,
    pub records: u64,
    pub applied: u64,
    /// Records that could not be read or named someone unknown (kept as
    /// pending); they do not fail the pull.
    pub skipped: u64,
}

/// Everything the pull needs, cheap to clone into its task.
#[derive(Clone)]
pub struct Pull {
    pub settings: PullSettings,
    pub store: Store,
    pub categories: Arc<[String]>,
    pub metrics: ProtocolSyncMetrics,
    pub changes: ProtocolChanges,
}

impl std::fmt::Debug for Pull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // PullSettings' own Debug redacts the auth header.
        f.debug_struct("Pull")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

impl Pull {
    /// Pulls until `stop` turns true: at once, then every interval; after a
    /// failure sooner, backing off.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let interval = Duration::from_secs(self.settings.interval_secs);
        let first_retry = Duration::from_secs(self.settings.retry_min_secs);
        let mut retry = first_retry;
        loop {
            let wait = match self.once(&client).await {
                Ok(r) => {
                    self.metrics
                        .last_success
                        .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
                    tracing::info!(
                        pages = r.pages,
                        records = r.records,
                        applied = r.applied,
                        skipped = r.skipped,
                        "protocols pulled from the system of record"
                    );
                    retry = first_retry;
                    interval
                }
                Err(e) => {
                    self.metrics.failures.inc();
                    tracing::warn!(error = %e, retry_in = ?retry, "protocol pull failed");
                    let wait = retry;
                    retry = (retry * 2).min(interval);
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One pull: every page, every record.
    pub async fn once(&self, client: &HttpClient) -> Result<PullReport, PullError> {
        let mut report = PullReport::default();
        let mut url = self.settings.url.clone();
        loop {
            if report.pages >= self.settings.max_pages {
                return Err(PullError::TooManyPages(self.settings.max_pages));
            }
            let body = self.fetch(client, &url).await?;
            report.pages += 1;
            let (items, next) =
                mapping::page(&body, &self.settings.fields).map_err(|source| PullError::Page {
                    url: url.clone(),
                    source,
                })?;
            for (i, record) in items.iter().enumerate() {
                report.records += 1;
                if self.one(i, record).await? {
                    report.applied += 1;
                } else {
                    report.skipped += 1;
                }
            }
            match next {
                Some(n) => url = join(&url, &n)?,
                None => return Ok(report),
            }
        }
    }

    /// Applies one record; `false` when it was skipped (unreadable, or
    /// kept as pending). Only the database failing fails the pull.
    async fn one(&self, index: usize, record: &serde_json::Value) -> Result<bool, PullError> {
        let change = match mapping::record_event(record, index, &self.settings.fields)
            .map_err(|e| e.to_string())
            .and_then(|e| e.validate().map(|c| (e, c)).map_err(|e| e.to_string()))
        {
            Ok(ec) => ec,
            Err(e) => {
                self.metrics.event("updated", "invalid");
                tracing::warn!(error = %e, "pulled record skipped");
                return Ok(false);
            }
        };
        let (event, change) = change;
        let payload = serde_json::to_string(&event).unwrap_or_default();
        let outcome = apply(&self.store, &self.categories, &change, &payload, PULL).await?;
        self.metrics.event("updated", outcome.label());
        Ok(match outcome {
            Outcome::Applied { protocol_id, .. } => {
                self.changes.mark(protocol_id);
                true
            }
            Outcome::Pending { missing } => {
                tracing::warn!(number = %change.number, missing = %missing.join("; "), "pulled record kept as pending");
                false
            }
            Outcome::Duplicate | Outcome::Stale => true,
        })
    }

    async fn fetch(&self, client: &HttpClient, url: &str) -> Result<serde_json::Value, PullError> {
        let uri: Uri = url.parse().map_err(|_| PullError::Url(url.to_string()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(PullError::Url(url.to_string()));
        }
        let mut req = Request::get(uri).header(header::ACCEPT, "application/json");
        if let Some(auth) = self.settings.auth_header() {
            let mut value = header::HeaderValue::from_str(&auth).map_err(|_| PullError::Fetch {
                url: url.to_string(),
                message: "protocol_sync.pull.auth_header is not a valid header value".into(),
            })?;
            value.set_sensitive(true);
            req = req.header(header::AUTHORIZATION, value);
        }
        let req = req.body(Empty::new()).map_err(|e| PullError::Fetch {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        let secs = self.settings.timeout_secs;
        let fetch = async {
            let resp = client.request(req).await.map_err(|e| PullError::Fetch {
                url: url.to_string(),
                message: e.to_string(),
            })?;
            let status = resp.status();
            if !status.is_success() {
                return Err(PullError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            let bytes = Limited::new(resp.into_body(), MAX_PAGE_BYTES)
                .collect()
                .await
                .map_err(|e| PullError::Fetch {
                    url: url.to_string(),
                    message: e.to_string(),
                })?
                .to_bytes();
            serde_json::from_slice(&bytes).map_err(|e| PullError::NotJson {
                url: url.to_string(),
                message: e.to_string(),
            })
        };
        tokio::time::timeout(Duration::from_secs(secs), fetch)
            .await
            .map_err(|_| PullError::Timeout {
                url: url.to_string(),
                secs,
            })?
    }
}

/// The next page's URL: absolute as given, or a path (`/tickets?page=2`)
/// on the current page's host.
fn join(current: &str, next: &str) -> Result<String, PullError> {
    if next.starts_with("http://") || next.starts_with("https://") {
        return Ok(next.to_string());
    }
    let uri: Uri = current
        .parse()
        .map_err(|_| PullError::Url(current.to_string()))?;
    match (uri.scheme_str(), uri.authority(), next.starts_with('/')) {
        (Some(scheme), Some(auth), true) => Ok(format!("{scheme}://{auth}{next}")),
        _ => Err(PullError::Url(next.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_resolve_against_the_page() {
        assert_eq!(
            join("http://10.0.0.5:8080/t?page=1", "/t?page=2").unwrap(),
            "http://10.0.0.5:8080/t?page=2"
        );
        assert_eq!(
            join("http://a/t", "http://b/t?cursor=x").unwrap(),
            "http://b/t?cursor=x"
        );
        assert!(join("http://a/t", "t?page=2").is_err());
    }
}
