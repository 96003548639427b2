//! Consultants: the people who answer. Passwords come in, HA1 values are
//! stored, and neither ever goes back out.
//!
//! Adding and changing a consultant go through [`add`] and [`change`],
//! shared by the API and the console's admin pages, so both validate,
//! refuse and audit alike.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, Id};
use super::rights::{forbidden, Principal};
use super::AppState;
use crate::directory::{
    validate_capacity, validate_email, validate_password, validate_person_name,
    validate_sip_username, Consultant, ConsultantPatch, FieldError, NewConsultant, Page,
};
use crate::sip::digest::{ha1, Algorithm};
use crate::store::{ConsultantQuery, ConsultantRecord, StoreError};

/// Why adding or changing a consultant was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Nobody lowers their own role or deactivates themself: an admin
    /// doing so by mistake could leave the desk without one.
    #[error("{person} may not lower their own role or deactivate themself; another admin can")]
    Own { person: String },
}

impl From<PeopleError> for ApiError {
    fn from(e: PeopleError) -> Self {
        match e {
            PeopleError::Field(e) => e.into(),
            PeopleError::Store(e) => e.into(),
            own @ PeopleError::Own { .. } => forbidden(own.to_string()),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsultantListParams {
    pub active: Option<bool>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Both HA1 values for a username and password in `realm`.
pub fn ha1_pair(username: &str, realm: &str, password: &str) -> (String, String) {
    (
        ha1(Algorithm::Md5, username, realm, password),
        ha1(Algorithm::Sha256, username, realm, password),
    )
}

/// Validates a new consultant and derives its HA1 values; shared by the API
/// and `protocall consultant add`.
pub fn consultant_record(c: &NewConsultant, realm: &str) -> Result<ConsultantRecord, FieldError> {
    let name = validate_person_name("name", &c.name)?;
    let sip_username = validate_sip_username(&c.sip_username)?;
    validate_password(&c.password)?;
    let email = validate_email("email", c.email.as_deref())?;
    let weekly_capacity_hours = validate_capacity(c.weekly_capacity_hours)?;
    let (ha1_md5, ha1_sha256) = ha1_pair(&sip_username, realm, &c.password);
    Ok(ConsultantRecord {
        name,
        sip_username,
        ha1_md5,
        ha1_sha256,
        email,
        weekly_capacity_hours,
        active: c.active,
        role: c.role,
    })
}

#[utoipa::path(get, path = "/api/consultants", params(ConsultantListParams),
    responses((status = 200, body = Page<Consultant>)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<ConsultantListParams>,
) -> Result<Json<Page<Consultant>>, ApiError> {
    let q = ConsultantQuery {
        active: p.active,
        limit: p.limit.unwrap_or(0),
        offset: p.offset.unwrap_or(0),
    };
    let mut page = st.store.list_consultants(&q).await?;
    for c in &mut page.items {
        c.in_call = st.in_call.contains(&c.sip_username);
    }
    Ok(Json(page))
}

#[utoipa::path(post, path = "/api/consultants", request_body = NewConsultant,
    responses((status = 201, body = Consultant), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<NewConsultant>,
) -> Result<(StatusCode, Json<Consultant>), ApiError> {
    let c = add(&st, &who, &body).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// Adds a consultant (the password becomes HA1 values) as `who`, audited
/// under their name.
pub async fn add(
    st: &AppState,
    who: &Principal,
    new: &NewConsultant,
) -> Result<Consultant, PeopleError> {
    let record = consultant_record(new, &st.realm)?;
    let c = st.store.create_consultant(&record, &who.person).await?;
    st.directory_changed();
    Ok(c)
}

#[utoipa::path(get, path = "/api/consultants/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = Consultant)), security(("bearer" = [])))]
pub async fn get(State(st): State<AppState>, Id(id): Id) -> Result<Json<Consultant>, ApiError> {
    let mut c = st.store.get_consultant(id).await?;
    c.in_call = st.in_call.contains(&c.sip_username);
    Ok(Json(c))
}

/// Changes a consultant: name, e-mail, capacity, active, role, password.
/// Nobody may lower their own role or deactivate themself (403): another
/// admin has to, so the desk is not left without one by mistake.
#[utoipa::path(patch, path = "/api/consultants/{id}", params(("id" = i64, Path)),
    request_body = ConsultantPatch, responses((status = 200, body = Consultant)),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(patch): ApiJson<ConsultantPatch>,
) -> Result<Json<Consultant>, ApiError> {
    Ok(Json(change(&st, &who, id, &patch).await?))
}

/// Applies `patch` to consultant `id` as `who`, audited under their name;
/// refuses `who` lowering their own role or deactivating themself.
pub async fn change(
    st: &AppState,
    who: &Principal,
    id: i64,
    patch: &ConsultantPatch,
) -> Result<Consultant, PeopleError> {
    let mut c = st.store.get_consultant(id).await?;
    let was = (c.role, c.active);
    if let Some(n) = &patch.name {
        c.name = validate_person_name("name", n)?;
    }
    if let Some(e) = &patch.email {
        c.email = validate_email("email", e.as_deref())?;
    }
    if let Some(h) = patch.weekly_capacity_hours {
        c.weekly_capacity_hours = validate_capacity(h)?;
    }
    if let Some(a) = patch.active {
        c.active = a;
    }
    if let Some(r) = patch.role {
        c.role = r;
    }
    if who.consultant_id == Some(id) && (c.role < was.0 || (was.1 && !c.active)) {
        return Err(PeopleError::Own {
            person: who.person.clone(),
        });
    }
    let ha1 = match &patch.password {
        Some(p) => {
            validate_password(p)?;
            Some(ha1_pair(&c.sip_username, &st.realm, p))
        }
        None => None,
    };
    let c = st.store.update_consultant(id, &c, ha1, &who.person).await?;
    st.directory_changed();
    Ok(c)
}

#[utoipa::path(delete, path = "/api/consultants/{id}", params(("id" = i64, Path)),
    responses((status = 204)), security(("bearer" = [])))]
pub async fn delete(State(st): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    st.store.delete_consultant(id).await?;
    st.directory_changed();
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a consultant's presence: `available`, `dnd` or `away`. Routing
/// skips consultants who are not available.
#[utoipa::path(put, path = "/api/consultants/{id}/presence", params(("id" = i64, Path)),
    request_body = crate::directory::SetPresence, responses((status = 200, body = Consultant)),
    security(("bearer" = [])))]
pub async fn set_presence(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(body): ApiJson<crate::directory::SetPresence>,
) -> Result<Json<Consultant>, ApiError> {
    who.may_act_for(id)?;
    let c = st.store.set_presence(id, body.status).await?;
    st.directory_changed();
    Ok(Json(c))
}
