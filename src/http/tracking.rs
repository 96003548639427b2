//! Tasks, manual contacts, categories, rooms and the audit trail over
//! HTTP: thin handlers over `crate::tracking::service`, which holds the
//! rules the CLI shares.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiJson, ApiQuery, Id};
use super::rights::Principal;
use super::schema::words;
use super::AppState;
use crate::directory::Page;
use crate::store::{AuditEntry, Category, Contact, Room, Task, TaskQuery};
use crate::tracking::service::{self, ContactPatch, NewContact, NewTask, TaskPatch, TrackingError};
use crate::tracking::states::ContactStatus;

impl From<TrackingError> for ApiError {
    fn from(e: TrackingError) -> Self {
        match e {
            TrackingError::Store(s) => s.into(),
            TrackingError::Invalid { field, message } => ApiError::field(field, message),
            TrackingError::Unknown { .. } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_reference", e.to_string())
            }
            TrackingError::State { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            TrackingError::Overlap { .. } => {
                ApiError::new(StatusCode::CONFLICT, "overlap", e.to_string())
            }
            TrackingError::NotRunning(_) => {
                ApiError::new(StatusCode::CONFLICT, "not_running", e.to_string())
            }
            TrackingError::RoomBooked(_) => {
                ApiError::new(StatusCode::CONFLICT, "room_booked", e.to_string())
            }
            TrackingError::OwnerRequired(_) => {
                ApiError::new(StatusCode::CONFLICT, "owner_required", e.to_string())
            }
        }
    }
}

type Time = Option<DateTime<FixedOffset>>;

/// Titles, notes and agendas: the tracking service's limit.
fn text_4000() -> utoipa::openapi::schema::Object {
    crate::http::schema::text(service::MAX_TEXT, true)
}

fn ms(t: Time) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

/// A field that may be absent (unchanged: `None`), null (cleared:
/// `Some(None)`) or set (`Some(Some(v))`).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Whether `p` may read contact `c`: its consultant, a participant (a
/// meeting they were asked to), or a manager.
pub(crate) fn may_read_contact(p: &Principal, c: &Contact) -> Result<(), ApiError> {
    match p.consultant_id {
        Some(me) if !p.is_feed() && c.participants.contains(&me) => Ok(()),
        _ => p.may_see(c.consultant_id),
    }
}

// ---- tasks ----------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaskBody {
    pub consultant_id: i64,
    /// A name from `GET /api/task-categories` (409 when it is not one).
    #[schema(pattern = r"^[a-z0-9-]{1,40}$")]
    pub category: String,
    pub protocol_id: Option<i64>,
    #[schema(schema_with = text_4000)]
    pub title: Option<String>,
    #[schema(schema_with = text_4000)]
    pub notes: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Time,
    #[schema(minimum = 1, maximum = 1440)]
    pub planned_minutes: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Time,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Time,
}

impl NewTaskBody {
    fn into_new(self) -> NewTask {
        NewTask {
            consultant_id: self.consultant_id,
            category: self.category,
            protocol_id: self.protocol_id,
            title: self.title,
            notes: self.notes,
            planned_start_ms: ms(self.planned_start),
            planned_minutes: self.planned_minutes,
            started_at_ms: ms(self.started_at),
            ended_at_ms: ms(self.ended_at),
        }
    }
}

/// A task entered whole: planned (start, minutes) and/or realised (start,
/// end). Realised times may not overlap the consultant's other tasks.
#[utoipa::path(post, path = "/api/tasks", request_body = NewTaskBody,
    responses((status = 201, body = Task), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_task(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<NewTaskBody>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    who.may_act_for(b.consultant_id)?;
    let t = service::add_task(&st.store, b.into_new(), &who.person).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTaskBody {
    pub consultant_id: i64,
    /// A name from `GET /api/task-categories` (409 when it is not one).
    #[schema(pattern = r"^[a-z0-9-]{1,40}$")]
    pub category: String,
    pub protocol_id: Option<i64>,
    #[schema(schema_with = text_4000)]
    pub title: Option<String>,
    #[schema(schema_with = text_4000)]
    pub notes: Option<String>,
    /// When it started (default now).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Time,
}

/// A task timer just started, and the one it stopped.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedTask {
    pub started: Task,
    /// The timer this one stopped, if one was running.
    pub stopped: Option<Task>,
}

/// A contact timer just started, and the open contact it ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedContact {
    pub started: Contact,
    /// The contact this one ended, if one was open.
    pub stopped: Option<Contact>,
}

/// Starts a task timer; the consultant's running task stops at the same
/// instant (one timer per consultant).
#[utoipa::path(post, path = "/api/tasks/start", request_body = StartTaskBody,
    responses((status = 201, body = StartedTask)), security(("bearer" = [])))]
pub async fn start_task(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<StartTaskBody>,
) -> Result<(StatusCode, Json<StartedTask>), ApiError> {
    who.may_act_for(b.consultant_id)?;
    let at = ms(b.at).unwrap_or_else(|| Utc::now().timestamp_millis());
    let new = NewTask {
        consultant_id: b.consultant_id,
        category: b.category,
        protocol_id: b.protocol_id,
        title: b.title,
        notes: b.notes,
        ..Default::default()
    };
    let (started, stopped) = service::start_task(&st.store, new, at, &who.person).await?;
    st.refresh_tasks_running().await;
    Ok((StatusCode::CREATED, Json(StartedTask { started, stopped })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    /// Whose timer (when no id is in the path); absent or null: the
    /// consultant the token or session belongs to (403 for a token that
    /// belongs to nobody). Ignored where the path names the task or contact.
    pub consultant_id: Option<i64>,
    /// When it stopped (default now).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Time,
}

/// Stops the consultant's running task.
#[utoipa::path(post, path = "/api/tasks/stop", request_body = StopBody,
    responses((status = 200, body = Task), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn stop_running_task(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<StopBody>,
) -> Result<Json<Task>, ApiError> {
    let consultant = who.own_or(b.consultant_id)?;
    let at = ms(b.at).unwrap_or_else(|| Utc::now().timestamp_millis());
    let t = service::stop_task(&st.store, consultant, None, at, &who.person).await?;
    st.refresh_tasks_running().await;
    Ok(Json(t))
}

/// Stops this running task.
#[utoipa::path(post, path = "/api/tasks/{id}/stop", params(("id" = i64, Path)),
    request_body = StopBody, responses((status = 200, body = Task)), security(("bearer" = [])))]
pub async fn stop_task(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(b): ApiJson<StopBody>,
) -> Result<Json<Task>, ApiError> {
    who.may_act_for(st.store.get_task(id).await?.consultant_id)?;
    let at = ms(b.at).unwrap_or_else(|| Utc::now().timestamp_millis());
    let t = service::stop_task(&st.store, 0, Some(id), at, &who.person).await?;
    st.refresh_tasks_running().await;
    Ok(Json(t))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatchBody {
    /// A name from `GET /api/task-categories` (409 when it is not one).
    #[schema(pattern = r"^[a-z0-9-]{1,40}$")]
    pub category: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub protocol_id: Option<Option<i64>>,
    #[schema(schema_with = text_4000)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = text_4000)]
    pub notes: Option<Option<String>>,
    /// planned, done or cancelled (a timer runs a task).
    #[schema(schema_with = crate::http::schema::task_patch_statuses::optional)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<Time>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1440)]
    pub planned_minutes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Time>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Time>,
}

/// Edits a task; time changes go to the audit trail.
#[utoipa::path(patch, path = "/api/tasks/{id}", params(("id" = i64, Path)),
    request_body = TaskPatchBody, responses((status = 200, body = Task)), security(("bearer" = [])))]
pub async fn update_task(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(b): ApiJson<TaskPatchBody>,
) -> Result<Json<Task>, ApiError> {
    who.may_act_for(st.store.get_task(id).await?.consultant_id)?;
    let p = TaskPatch {
        category: b.category,
        protocol_id: b.protocol_id,
        title: b.title,
        notes: b.notes,
        status: b.status,
        planned_start_ms: b.planned_start.map(ms),
        planned_minutes: b.planned_minutes,
        started_at_ms: b.started_at.map(ms),
        ended_at_ms: b.ended_at.map(ms),
    };
    let t = service::update_task(&st.store, id, p, &who.person).await?;
    st.refresh_tasks_running().await;
    Ok(Json(t))
}

#[utoipa::path(get, path = "/api/tasks/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = Task)), security(("bearer" = [])))]
pub async fn get_task(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<Task>, ApiError> {
    let t = st.store.get_task(id).await?;
    who.may_act_for(t.consultant_id)?;
    Ok(Json(t))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskListParams {
    pub consultant_id: Option<i64>,
    #[param(schema_with = crate::http::schema::task_statuses::required)]
    pub status: Option<String>,
    pub category: Option<String>,
    pub protocol_id: Option<i64>,
    #[param(schema_with = crate::http::schema::task_sources::required)]
    pub source: Option<String>,
    /// ISO week of scheduled tasks, e.g. 2026-W49.
    pub week: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Time,
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Time,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/tasks", params(TaskListParams),
    responses((status = 200, body = Page<Task>)), security(("bearer" = [])))]
pub async fn list_tasks(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(p): ApiQuery<TaskListParams>,
) -> Result<Json<Page<Task>>, ApiError> {
    let consultant_id = who.scope(p.consultant_id)?;
    ApiError::one_of("status", p.status.as_deref(), words::TASK_STATUSES)?;
    ApiError::one_of("source", p.source.as_deref(), words::TASK_SOURCES)?;
    let q = TaskQuery {
        consultant_id,
        status: p.status,
        category: p.category,
        protocol_id: p.protocol_id,
        source: p.source,
        iso_week: p.week,
        from_ms: ms(p.from),
        to_ms: ms(p.to),
        limit: p.limit.unwrap_or(0),
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.store.list_tasks(&q).await?))
}

/// Who changed which time of a task, when.
#[utoipa::path(get, path = "/api/tasks/{id}/audit", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<AuditEntry>)), security(("bearer" = [])))]
pub async fn task_audit(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    who.may_act_for(st.store.get_task(id).await?.consultant_id)?;
    Ok(Json(st.store.audit_trail("task", id).await?))
}

// ---- contacts ---------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContactBody {
    #[schema(schema_with = crate::http::schema::channels::required)]
    pub channel: String,
    pub consultant_id: i64,
    #[schema(schema_with = crate::http::schema::contact_directions::optional)]
    pub direction: Option<String>,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Time,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Time,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Time,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_end: Time,
    pub room_id: Option<i64>,
    #[schema(schema_with = text_4000)]
    pub agenda: Option<String>,
    #[schema(schema_with = text_4000)]
    pub notes: Option<String>,
    /// Other consultants taking part (meetings).
    #[serde(default)]
    pub participants: Vec<i64>,
}

/// A contact entered whole: one that happened (started_at, ended_at) or a
/// scheduled one (planned_start, planned_end), e.g. a meeting in a room.
#[utoipa::path(post, path = "/api/contacts", request_body = NewContactBody,
    responses((status = 201, body = Contact), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_contact(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<NewContactBody>,
) -> Result<(StatusCode, Json<Contact>), ApiError> {
    who.may_act_for(b.consultant_id)?;
    let n = NewContact {
        channel: b.channel,
        consultant_id: b.consultant_id,
        direction: b.direction,
        provider_id: b.provider_id,
        provider_user_id: b.provider_user_id,
        protocol_id: b.protocol_id,
        started_at_ms: ms(b.started_at),
        ended_at_ms: ms(b.ended_at),
        planned_start_ms: ms(b.planned_start),
        planned_end_ms: ms(b.planned_end),
        room_id: b.room_id,
        agenda: b.agenda,
        notes: b.notes,
        participants: b.participants,
    };
    let c = service::add_contact(&st.store, n, &who.person).await?;
    if c.status == ContactStatus::Done {
        st.metrics.tracking.contact_closed(
            c.channel.as_str(),
            ContactStatus::Done.as_str(),
            c.duration_ms,
        );
    }
    Ok((StatusCode::CREATED, Json(c)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartContactBody {
    #[schema(schema_with = crate::http::schema::channels::required)]
    pub channel: String,
    pub consultant_id: i64,
    #[schema(schema_with = crate::http::schema::contact_directions::optional)]
    pub direction: Option<String>,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    #[schema(schema_with = text_4000)]
    pub notes: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Time,
}

/// Starts a contact timer (a chat or a call made elsewhere begins); the
/// consultant's open one ends at the same instant.
#[utoipa::path(post, path = "/api/contacts/start", request_body = StartContactBody,
    responses((status = 201, body = StartedContact)), security(("bearer" = [])))]
pub async fn start_contact(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<StartContactBody>,
) -> Result<(StatusCode, Json<StartedContact>), ApiError> {
    who.may_act_for(b.consultant_id)?;
    let at = ms(b.at).unwrap_or_else(|| Utc::now().timestamp_millis());
    let n = NewContact {
        channel: b.channel,
        consultant_id: b.consultant_id,
        direction: b.direction,
        provider_id: b.provider_id,
        provider_user_id: b.provider_user_id,
        protocol_id: b.protocol_id,
        notes: b.notes,
        ..Default::default()
    };
    let (started, stopped) = service::start_contact(&st.store, n, at, &who.person).await?;
    if let Some(s) = &stopped {
        st.metrics.tracking.contact_closed(
            s.channel.as_str(),
            ContactStatus::Done.as_str(),
            s.duration_ms,
        );
    }
    Ok((
        StatusCode::CREATED,
        Json(StartedContact { started, stopped }),
    ))
}

/// Ends the consultant's open contact.
#[utoipa::path(post, path = "/api/contacts/stop", request_body = StopBody,
    responses((status = 200, body = Contact)), security(("bearer" = [])))]
pub async fn stop_open_contact(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<StopBody>,
) -> Result<Json<Contact>, ApiError> {
    let consultant = who.own_or(b.consultant_id)?;
    let at = ms(b.at).unwrap_or_else(|| Utc::now().timestamp_millis());
    let c = service::stop_contact(&st.store, consultant, None, at, &who.person).await?;
    st.metrics.tracking.contact_closed(
        c.channel.as_str(),
        ContactStatus::Done.as_str(),
        c.duration_ms,
    );
    Ok(Json(c))
}

/// Starts the timer of a scheduled contact (a meeting or a call-back
/// begins): it becomes open with the real start; the consultant's open
/// contact ends at the same instant.
#[utoipa::path(post, path = "/api/contacts/{id}/start", params(("id" = i64, Path)),
    request_body = StopBody,
    responses((status = 200, body = StartedContact), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn start_scheduled_contact(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(b): ApiJson<StopBody>,
) -> Result<Json<StartedContact>, ApiError> {
    who.may_see(st.store.get_contact(id).await?.consultant_id)?;
    let at = ms(b.at).unwrap_or_else(|| Utc::now().timestamp_millis());
    let (started, stopped) =
        service::start_scheduled_contact(&st.store, id, at, &who.person).await?;
    if let Some(s) = &stopped {
        st.metrics.tracking.contact_closed(
            s.channel.as_str(),
            ContactStatus::Done.as_str(),
            s.duration_ms,
        );
    }
    Ok(Json(StartedContact { started, stopped }))
}

/// Ends this open contact (a meeting's timer stops).
#[utoipa::path(post, path = "/api/contacts/{id}/stop", params(("id" = i64, Path)),
    request_body = StopBody,
    responses((status = 200, body = Contact), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn stop_contact(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(b): ApiJson<StopBody>,
) -> Result<Json<Contact>, ApiError> {
    who.may_see(st.store.get_contact(id).await?.consultant_id)?;
    let at = ms(b.at).unwrap_or_else(|| Utc::now().timestamp_millis());
    let c = service::stop_contact(&st.store, 0, Some(id), at, &who.person).await?;
    st.metrics.tracking.contact_closed(
        c.channel.as_str(),
        ContactStatus::Done.as_str(),
        c.duration_ms,
    );
    Ok(Json(c))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatchBody {
    /// scheduled → done, missed or cancelled; open → done (409 for a
    /// change the current status does not allow).
    #[schema(schema_with = crate::http::schema::contact_patch_statuses::optional)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub provider_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub provider_user_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub protocol_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Time>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Time>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<Time>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_end: Option<Time>,
    #[serde(default, deserialize_with = "nullable")]
    pub room_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = text_4000)]
    pub agenda: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = text_4000)]
    pub notes: Option<Option<String>>,
}

/// Edits a contact (a scheduled one done, missed or cancelled; times
/// corrected); time changes go to the audit trail.
#[utoipa::path(patch, path = "/api/contacts/{id}", params(("id" = i64, Path)),
    request_body = ContactPatchBody, responses((status = 200, body = Contact)),
    security(("bearer" = [])))]
pub async fn update_contact(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(b): ApiJson<ContactPatchBody>,
) -> Result<Json<Contact>, ApiError> {
    let before = st.store.get_contact(id).await?;
    // Participants read a meeting; its consultant (or a manager) edits it.
    who.may_see(before.consultant_id)?;
    ApiError::one_of("status", b.status.as_deref(), words::CONTACT_PATCH_STATUSES)?;
    let p = ContactPatch {
        status: b.status,
        provider_id: b.provider_id,
        provider_user_id: b.provider_user_id,
        protocol_id: b.protocol_id,
        started_at_ms: b.started_at.map(ms),
        ended_at_ms: b.ended_at.map(ms),
        planned_start_ms: b.planned_start.map(ms),
        planned_end_ms: b.planned_end.map(ms),
        room_id: b.room_id,
        agenda: b.agenda,
        notes: b.notes,
    };
    let c = service::update_contact(&st.store, id, p, &who.person).await?;
    if before.status != c.status
        && matches!(
            c.status,
            ContactStatus::Done | ContactStatus::Missed | ContactStatus::Cancelled
        )
    {
        st.metrics
            .tracking
            .contact_closed(c.channel.as_str(), c.status.as_str(), c.duration_ms);
    }
    Ok(Json(c))
}

#[utoipa::path(get, path = "/api/contacts/{id}/audit", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<AuditEntry>)), security(("bearer" = [])))]
pub async fn contact_audit(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    may_read_contact(&who, &st.store.get_contact(id).await?)?;
    Ok(Json(st.store.audit_trail("contact", id).await?))
}

// ---- categories and rooms ---------------------------------------------------

#[utoipa::path(get, path = "/api/task-categories",
    responses((status = 200, body = Vec<Category>)), security(("bearer" = [])))]
pub async fn categories(State(st): State<AppState>) -> Result<Json<Vec<Category>>, ApiError> {
    Ok(Json(st.store.categories().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    /// lowercase letters, digits and -, e.g. `training`.
    #[schema(pattern = r"^[a-z0-9-]{1,40}$")]
    pub name: String,
}

#[utoipa::path(post, path = "/api/task-categories", request_body = NewCategory,
    responses((status = 201, body = Vec<Category>)), security(("bearer" = [])))]
pub async fn add_category(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<NewCategory>,
) -> Result<(StatusCode, Json<Vec<Category>>), ApiError> {
    if !crate::config::valid_category(&b.name) {
        return Err(ApiError::field(
            "name",
            "lowercase letters, digits and -, at most 40",
        ));
    }
    st.store.add_categories(&[b.name]).await?;
    Ok((StatusCode::CREATED, Json(st.store.categories().await?)))
}

#[utoipa::path(get, path = "/api/rooms", responses((status = 200, body = Vec<Room>)),
    security(("bearer" = [])))]
pub async fn rooms(State(st): State<AppState>) -> Result<Json<Vec<Room>>, ApiError> {
    Ok(Json(st.store.rooms().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    #[schema(schema_with = room_name)]
    pub name: String,
    #[schema(minimum = 1)]
    pub capacity: Option<i64>,
}

fn room_name() -> utoipa::openapi::schema::Object {
    crate::http::schema::name(ROOM_NAME_MAX, false)
}

const ROOM_NAME_MAX: usize = 100;

#[utoipa::path(post, path = "/api/rooms", request_body = NewRoom,
    responses((status = 201, body = Room), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_room(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<NewRoom>,
) -> Result<(StatusCode, Json<Room>), ApiError> {
    if !crate::http::schema::is_printable(&b.name) || b.name.chars().count() > ROOM_NAME_MAX {
        return Err(ApiError::field(
            "name",
            "1 to 100 printable characters, not blank",
        ));
    }
    let name = b.name.trim();
    if b.capacity.is_some_and(|c| c <= 0) {
        return Err(ApiError::field("capacity", "at least 1"));
    }
    Ok((
        StatusCode::CREATED,
        Json(st.store.create_room(name, b.capacity).await?),
    ))
}
