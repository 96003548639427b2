//! Providers, their numbers and their people.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{number_error, ApiError, ApiJson, ApiQuery, Id};
use super::AppState;
use crate::directory::handle::normalize_handle;
use crate::directory::number::normalize;
use crate::directory::{
    validate_email, validate_person_name, NewNumber, NewProvider, NewProviderUser, Page,
    PhoneNumber, Provider, ProviderFields, ProviderPatch, ProviderUser, ProviderUserPatch,
};
use crate::store::ProviderQuery;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProviderListParams {
    /// Substring of the name, case-insensitive.
    pub name: Option<String>,
    /// A number in any spelling; finds the provider that owns it.
    #[param(format = "phone")]
    pub number: Option<String>,
    pub consulting: Option<bool>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl AppState {
    pub(super) fn e164(&self, field: &str, raw: &str) -> Result<String, ApiError> {
        normalize(raw, self.country).map_err(|e| number_error(field, e))
    }

    fn e164_all(&self, field: &str, raws: &[String]) -> Result<Vec<String>, ApiError> {
        raws.iter()
            .enumerate()
            .map(|(i, n)| self.e164(&format!("{field}[{i}]"), n))
            .collect()
    }
}

#[utoipa::path(get, path = "/api/providers", params(ProviderListParams),
    responses((status = 200, body = Page<Provider>)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<ProviderListParams>,
) -> Result<Json<Page<Provider>>, ApiError> {
    let e164 = p
        .number
        .as_deref()
        .map(|n| st.e164("number", n))
        .transpose()?;
    let q = ProviderQuery {
        name: p.name,
        e164,
        consulting: p.consulting,
        limit: p.limit.unwrap_or(0),
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.store.list_providers(&q).await?))
}

#[utoipa::path(post, path = "/api/providers", request_body = NewProvider,
    responses((status = 201, body = Provider), (status = 400, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<NewProvider>,
) -> Result<(StatusCode, Json<Provider>), ApiError> {
    let fields = ProviderFields::from(&body).validate()?;
    let numbers = st.e164_all("numbers", &body.numbers)?;
    let p = st.store.create_provider(&fields, &numbers).await?;
    st.directory_changed();
    Ok((StatusCode::CREATED, Json(p)))
}

#[utoipa::path(get, path = "/api/providers/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = Provider), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(State(st): State<AppState>, Id(id): Id) -> Result<Json<Provider>, ApiError> {
    Ok(Json(st.store.get_provider(id).await?))
}

#[utoipa::path(patch, path = "/api/providers/{id}", params(("id" = i64, Path)),
    request_body = ProviderPatch, responses((status = 200, body = Provider)),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    Id(id): Id,
    ApiJson(patch): ApiJson<ProviderPatch>,
) -> Result<Json<Provider>, ApiError> {
    let current = st.store.get_provider(id).await?;
    let fields = ProviderFields::patched(&current, patch).validate()?;
    let p = st.store.update_provider(id, &fields).await?;
    st.directory_changed();
    Ok(Json(p))
}

#[utoipa::path(delete, path = "/api/providers/{id}", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = super::error::ErrorBody,
        description = "The provider still has protocols")),
    security(("bearer" = [])))]
pub async fn delete(State(st): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    st.store.delete_provider(id).await?;
    st.directory_changed();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/providers/{id}/numbers", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PhoneNumber>)), security(("bearer" = [])))]
pub async fn list_numbers(
    State(st): State<AppState>,
    Id(id): Id,
) -> Result<Json<Vec<PhoneNumber>>, ApiError> {
    Ok(Json(st.store.list_numbers(id).await?))
}

#[utoipa::path(post, path = "/api/providers/{id}/numbers", params(("id" = i64, Path)),
    request_body = NewNumber, responses((status = 201, body = PhoneNumber),
    (status = 409, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn add_number(
    State(st): State<AppState>,
    Id(id): Id,
    ApiJson(body): ApiJson<NewNumber>,
) -> Result<(StatusCode, Json<PhoneNumber>), ApiError> {
    let e164 = st.e164("number", &body.number)?;
    let label = body
        .label
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let n = st.store.add_number(id, body.user_id, &e164, label).await?;
    st.directory_changed();
    Ok((StatusCode::CREATED, Json(n)))
}

#[utoipa::path(delete, path = "/api/numbers/{id}", params(("id" = i64, Path)),
    responses((status = 204)), security(("bearer" = [])))]
pub async fn delete_number(State(st): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    st.store.delete_number(id).await?;
    st.directory_changed();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/providers/{id}/users", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ProviderUser>)), security(("bearer" = [])))]
pub async fn list_users(
    State(st): State<AppState>,
    Id(id): Id,
) -> Result<Json<Vec<ProviderUser>>, ApiError> {
    Ok(Json(st.store.list_users(id).await?))
}

#[utoipa::path(post, path = "/api/providers/{id}/users", params(("id" = i64, Path)),
    request_body = NewProviderUser, responses((status = 201, body = ProviderUser)),
    security(("bearer" = [])))]
pub async fn create_user(
    State(st): State<AppState>,
    Id(id): Id,
    ApiJson(body): ApiJson<NewProviderUser>,
) -> Result<(StatusCode, Json<ProviderUser>), ApiError> {
    let name = validate_person_name("name", &body.name)?;
    let email = validate_email("email", body.email.as_deref())?;
    let numbers = st.e164_all("numbers", &body.numbers)?;
    let handle = normalize_handle("chat_handle", body.chat_handle.as_deref())?;
    let u = st
        .store
        .create_user(id, &name, email.as_deref(), &numbers, handle.as_deref())
        .await?;
    st.directory_changed();
    Ok((StatusCode::CREATED, Json(u)))
}

#[utoipa::path(get, path = "/api/users/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = ProviderUser)), security(("bearer" = [])))]
pub async fn get_user(
    State(st): State<AppState>,
    Id(id): Id,
) -> Result<Json<ProviderUser>, ApiError> {
    Ok(Json(st.store.get_user(id).await?))
}

#[utoipa::path(patch, path = "/api/users/{id}", params(("id" = i64, Path)),
    request_body = ProviderUserPatch, responses((status = 200, body = ProviderUser)),
    security(("bearer" = [])))]
pub async fn update_user(
    State(st): State<AppState>,
    Id(id): Id,
    ApiJson(patch): ApiJson<ProviderUserPatch>,
) -> Result<Json<ProviderUser>, ApiError> {
    let current = st.store.get_user(id).await?;
    let name = validate_person_name("name", patch.name.as_deref().unwrap_or(&current.name))?;
    let email = match patch.email {
        Some(e) => validate_email("email", e.as_deref())?,
        None => current.email,
    };
    let handle = match patch.chat_handle {
        Some(h) => normalize_handle("chat_handle", h.as_deref())?,
        None => current.chat_handle,
    };
    let u = st
        .store
        .update_user(id, &name, email.as_deref(), handle.as_deref())
        .await?;
    st.directory_changed();
    Ok(Json(u))
}

#[utoipa::path(delete, path = "/api/users/{id}", params(("id" = i64, Path)),
    responses((status = 204)), security(("bearer" = [])))]
pub async fn delete_user(State(st): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    st.store.delete_user(id).await?;
    st.directory_changed();
    Ok(StatusCode::NO_CONTENT)
}
