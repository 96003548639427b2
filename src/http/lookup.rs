//! Caller lookup and directory import.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiQuery};
use super::AppState;
use crate::directory::import::{parse_csv, ImportReport};
use crate::directory::Lookup;
use crate::store::StoreError;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LookupParams {
    /// The number as a caller ID carries it, in any common spelling.
    #[param(format = "phone")]
    pub number: String,
}

/// Who a number belongs to. A consultant sees only their own protocols
/// among the open ones; managers and admins see them all.
#[utoipa::path(get, path = "/api/lookup", params(LookupParams),
    responses((status = 200, body = Lookup), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn lookup(
    State(st): State<AppState>,
    who: super::rights::Principal,
    ApiQuery(p): ApiQuery<LookupParams>,
) -> Result<Json<Lookup>, ApiError> {
    let e164 = st.e164("number", &p.number)?;
    let found = st.store.lookup_number(&e164).await?;
    let Some((provider, user, mut open_protocols)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{e164} is not in the directory"),
        ));
    };
    if !who.sees_everyone() {
        open_protocols.retain(|p| p.owner_id.is_some() && p.owner_id == who.consultant_id);
    }
    let today = chrono::Utc::now()
        .with_timezone(&st.store.tz())
        .date_naive();
    Ok(Json(Lookup {
        input: p.number,
        e164,
        consulting_active: provider.consulting_on(today),
        provider: Some(provider),
        user,
        open_protocols,
    }))
}

/// Imports a CSV directory (see `directory::import` for the columns): all
/// rows or none. 200 with the counts when written, 422 with every rejected
/// line when not.
#[utoipa::path(post, path = "/api/import", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = ImportReport)),
    security(("bearer" = [])))]
pub async fn import(
    State(st): State<AppState>,
    who: super::rights::Principal,
    body: Bytes,
) -> Result<(StatusCode, Json<ImportReport>), ApiError> {
    let report = run_import(&st, &body, &who.person).await?;
    let status = if report.imported {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(report)))
}

/// Shared by the API, the console's import page and `protocall import`;
/// a written import is audited under `actor`.
pub async fn run_import(
    st: &AppState,
    data: &[u8],
    actor: &str,
) -> Result<ImportReport, StoreError> {
    let report = match parse_csv(data, st.country) {
        Ok(rows) => {
            let (report, protocols) =
                crate::sync::import::import(&st.store, &st.completion_categories, &rows, actor)
                    .await?;
            for id in protocols {
                st.protocol_changes.mark(id);
            }
            report
        }
        Err(rejected) => ImportReport {
            rejected,
            ..Default::default()
        },
    };
    if report.imported {
        st.directory_changed();
    }
    Ok(report)
}

/// What would happen to a call from `from` to `to` at `at` (default now):
/// the same decision code as a real call, without placing one.
#[utoipa::path(post, path = "/api/routing/simulate", request_body = crate::routing::desk::Simulate,
    responses((status = 200, body = crate::routing::desk::Simulated),
              (status = 400, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn simulate(
    State(st): State<AppState>,
    super::error::ApiJson(q): super::error::ApiJson<crate::routing::desk::Simulate>,
) -> Result<Json<crate::routing::desk::Simulated>, ApiError> {
    let Some(desk) = &st.desk else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_dialplan",
            "routing uses a static table (sip.static_routes); there is no dialplan to simulate",
        ));
    };
    desk.simulate(&q, st.sip_port)
        .map(Json)
        .map_err(ApiError::bad_request)
}

/// Result of a dialplan reload.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    pub reloaded: bool,
    pub rules: usize,
    /// Every error, naming file, rule and field; the running plan stays.
    pub errors: Vec<String>,
}

/// Reloads the dialplan files, as SIGHUP does. 200 when the new plan is in
/// force; 422 with every error when it was refused.
#[utoipa::path(post, path = "/api/routing/reload",
    responses((status = 200, body = Reloaded), (status = 422, body = Reloaded),
              (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn reload(State(st): State<AppState>) -> Result<(StatusCode, Json<Reloaded>), ApiError> {
    let Some(desk) = &st.desk else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_dialplan",
            "routing uses a static table (sip.static_routes); there is no dialplan to reload",
        ));
    };
    Ok(match desk.reload_and_resolve().await {
        Ok(rules) => (
            StatusCode::OK,
            Json(Reloaded {
                reloaded: true,
                rules,
                errors: Vec::new(),
            }),
        ),
        Err(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(Reloaded {
                reloaded: false,
                rules: 0,
                errors,
            }),
        ),
    })
}
