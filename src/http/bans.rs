//! The SIP edge's ban list over HTTP: `GET /api/bans` lists the source
//! addresses the guard drops now, `DELETE /api/bans/{ip}` lifts one (an
//! operator's answer to a phone with a stale password that got its office
//! NAT banned).

use std::net::IpAddr;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::DateTime;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiPath};
use super::AppState;
use crate::sip::guard::{Ban, Guard};

/// A source address the SIP edge drops without an answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct BanView {
    pub ip: String,
    /// auth (failed digest checks), flood (request density) or manual.
    pub reason: String,
    /// Bans of this address within `security.offence_memory_secs`, this one
    /// included; each makes the next four times longer.
    pub offences: u32,
    #[schema(value_type = String, format = DateTime)]
    pub banned_at: DateTime<chrono_tz::Tz>,
    #[schema(value_type = String, format = DateTime)]
    pub until: DateTime<chrono_tz::Tz>,
    pub remaining_secs: u64,
}

impl BanView {
    fn new(b: Ban, tz: chrono_tz::Tz) -> BanView {
        BanView {
            ip: b.ip.to_string(),
            reason: b.reason.as_str().to_string(),
            offences: b.offences,
            banned_at: b.banned_at.with_timezone(&tz),
            until: b.until.with_timezone(&tz),
            remaining_secs: b.remaining.as_secs(),
        }
    }
}

fn guard(st: &AppState) -> Result<&Guard, ApiError> {
    st.guard.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sip_not_running",
            "the SIP side is not running in this process",
        )
    })
}

/// The bans in force, earliest first.
#[utoipa::path(get, path = "/api/bans",
    responses((status = 200, body = Vec<BanView>)), security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>) -> Result<Json<Vec<BanView>>, ApiError> {
    let tz = st.store.tz();
    let bans = guard(&st)?.bans(Instant::now());
    Ok(Json(
        bans.into_iter().map(|b| BanView::new(b, tz)).collect(),
    ))
}

/// Lifts the ban on an address and forgets its past offences.
/// The path of `DELETE /api/bans/{ip}`.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct BanPath {
    /// An IPv4 or IPv6 address.
    #[param(schema_with = crate::http::schema::ip)]
    ip: String,
}

#[utoipa::path(delete, path = "/api/bans/{ip}", params(BanPath),
    responses((status = 204), (status = 400, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn lift(
    State(st): State<AppState>,
    ApiPath(ip): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| ApiError::field("ip", "not an IPv4 or IPv6 address"))?;
    if guard(&st)?.unban(ip, Instant::now()) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{ip} is not banned"),
        ))
    }
}
