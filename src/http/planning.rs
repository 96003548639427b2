//! Work plans, working hours, absences, the week's schedule and the
//! consultants' calendar feeds over HTTP.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Weekday;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Id};
use super::rights::Principal;
use super::AppState;
use crate::calendar::HoursError;
use crate::store::{Absence, PlanRow};
use crate::tracking::planning::ConsultantWeek;
use crate::tracking::schedule::parse_iso_week;

fn week(w: &str) -> Result<String, ApiError> {
    parse_iso_week(w).map_err(|e| ApiError::field("week", e))?;
    Ok(w.to_string())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PlanParams {
    /// An ISO week the year has, 1900 to 2999 (`2026-W49`).
    #[param(
        format = "iso-week",
        pattern = "^(19|2[0-9])[0-9]{2}-W(0[1-9]|[1-4][0-9]|5[0-3])$"
    )]
    pub week: String,
    pub consultant_id: Option<i64>,
}

/// Planned minutes per category for a week.
#[utoipa::path(get, path = "/api/workplans", params(PlanParams),
    responses((status = 200, body = Vec<PlanRow>)), security(("bearer" = [])))]
pub async fn get_plan(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(p): ApiQuery<PlanParams>,
) -> Result<Json<Vec<PlanRow>>, ApiError> {
    let consultant_id = who.scope(p.consultant_id)?;
    let w = week(&p.week)?;
    Ok(Json(st.store.work_plan(consultant_id, &w).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanItemBody {
    /// A name from `GET /api/task-categories` (409 when it is not one);
    /// each at most once per plan (409).
    #[schema(pattern = r"^[a-z0-9-]{1,40}$")]
    pub category: String,
    /// Planned hours (decimals allowed: 1.5 = 90 minutes), kept to the
    /// minute: at least 0.01 (a minute once rounded), at most 168.
    #[schema(minimum = 0.01, maximum = 168)]
    pub hours: f64,
}

/// The least and most hours one plan item may hold (see `PlanItemBody`).
const PLAN_HOURS: std::ops::RangeInclusive<f64> = 0.01..=168.0;

/// The path of `PUT /api/workplans/{consultant_id}/{week}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct PlanPath {
    consultant_id: i64,
    #[param(schema_with = crate::http::schema::iso_week)]
    week: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    pub items: Vec<PlanItemBody>,
}

/// Replaces a consultant's plan for a week.
#[utoipa::path(put, path = "/api/workplans/{consultant_id}/{week}",
    params(PlanPath), request_body = PlanBody,
    responses((status = 200, body = Vec<PlanRow>)), security(("bearer" = [])))]
pub async fn put_plan(
    State(st): State<AppState>,
    ApiPath((consultant, w)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<PlanBody>,
) -> Result<Json<Vec<PlanRow>>, ApiError> {
    let consultant = super::body::integer(&consultant)
        .ok_or_else(|| ApiError::field("consultant_id", "must be an integer"))?;
    let w = week(&w)?;
    st.store.get_consultant(consultant).await?;
    let mut items: Vec<(String, i64)> = Vec::new();
    for (i, it) in b.items.iter().enumerate() {
        if !PLAN_HOURS.contains(&it.hours) {
            return Err(ApiError::field(
                "items",
                format!("item {}: hours between 0.01 and 168", i + 1),
            ));
        }
        if !crate::config::valid_category(&it.category) {
            return Err(ApiError::field(
                "items",
                format!("item {}: not a category name", i + 1),
            ));
        }
        if items.iter().any(|(c, _)| *c == it.category) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "contradiction",
                format!("items: `{}` appears twice", it.category),
            ));
        }
        items.push((it.category.clone(), (it.hours * 60.0).round() as i64));
    }
    st.store
        .set_work_plan(consultant, &w, &items)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Reference(_) => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_reference",
                "items: an unknown category (GET /api/task-categories)",
            ),
            other => other.into(),
        })?;
    Ok(Json(st.store.work_plan(Some(consultant), &w).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyPlan {
    #[schema(schema_with = crate::http::schema::iso_week)]
    pub from_week: String,
    /// Default: the week after `from_week`.
    #[schema(schema_with = crate::http::schema::iso_week_or_null)]
    pub to_week: Option<String>,
    /// Default: every consultant with a plan.
    pub consultant_id: Option<i64>,
}

/// Copies plans to another week (the next one by default).
#[utoipa::path(post, path = "/api/workplans/copy", request_body = CopyPlan,
    responses((status = 200, body = Vec<PlanRow>)), security(("bearer" = [])))]
pub async fn copy_plan(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<CopyPlan>,
) -> Result<Json<Vec<PlanRow>>, ApiError> {
    let from = week(&b.from_week)?;
    let to = match &b.to_week {
        Some(t) => week(t)?,
        None => next_week(&from)?,
    };
    st.store.copy_work_plan(b.consultant_id, &from, &to).await?;
    Ok(Json(st.store.work_plan(b.consultant_id, &to).await?))
}

fn next_week(w: &str) -> Result<String, ApiError> {
    let (y, n) = parse_iso_week(w).map_err(|e| ApiError::field("week", e))?;
    let monday = chrono::NaiveDate::from_isoywd_opt(y, n, chrono::Weekday::Mon)
        .ok_or_else(|| ApiError::field("week", "no such week"))?;
    let next = monday + chrono::Duration::days(7);
    let iso = chrono::Datelike::iso_week(&next);
    Ok(format!("{}-W{:02}", iso.year(), iso.week()))
}

#[derive(Debug, Deserialize, ToSchema, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    #[schema(schema_with = crate::http::schema::time_ranges_or_null)]
    pub mon: Option<Vec<String>>,
    #[schema(schema_with = crate::http::schema::time_ranges_or_null)]
    pub tue: Option<Vec<String>>,
    #[schema(schema_with = crate::http::schema::time_ranges_or_null)]
    pub wed: Option<Vec<String>>,
    #[schema(schema_with = crate::http::schema::time_ranges_or_null)]
    pub thu: Option<Vec<String>>,
    #[schema(schema_with = crate::http::schema::time_ranges_or_null)]
    pub fri: Option<Vec<String>>,
    #[schema(schema_with = crate::http::schema::time_ranges_or_null)]
    pub sat: Option<Vec<String>>,
    #[schema(schema_with = crate::http::schema::time_ranges_or_null)]
    pub sun: Option<Vec<String>>,
}

/// A consultant's own working hours (days not given use the default).
#[utoipa::path(put, path = "/api/consultants/{id}/hours", params(("id" = i64, Path)),
    request_body = Hours, responses((status = 200, body = Hours)), security(("bearer" = [])))]
pub async fn put_hours(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(b): ApiJson<Hours>,
) -> Result<Json<Hours>, ApiError> {
    who.may_act_for(id)?;
    st.store.get_consultant(id).await?;
    let days = [&b.mon, &b.tue, &b.wed, &b.thu, &b.fri, &b.sat, &b.sun];
    let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mut set = Vec::new();
    for (i, (d, name)) in days.iter().zip(names).enumerate() {
        if let Some(ranges) = d {
            crate::calendar::WorkingHours::parse_day(ranges).map_err(|e| match e {
                // Each range is fine; two of them claim the same time.
                HoursError::OverlappingRanges { .. } => ApiError::new(
                    StatusCode::CONFLICT,
                    "contradiction",
                    format!("{name}: {e}"),
                ),
                other => ApiError::field(name, other),
            })?;
            set.push((i as i64, ranges.clone()));
        }
    }
    st.store.set_working_hours(id, &set).await?;
    hours(st, id).await
}

#[utoipa::path(get, path = "/api/consultants/{id}/hours", params(("id" = i64, Path)),
    responses((status = 200, body = Hours)), security(("bearer" = [])))]
pub async fn get_hours(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<Hours>, ApiError> {
    who.may_act_for(id)?;
    st.store.get_consultant(id).await?;
    hours(st, id).await
}

async fn hours(st: AppState, id: i64) -> Result<Json<Hours>, ApiError> {
    let own = st.store.working_hours(id).await?;
    let day = |weekday: Weekday| {
        let i = i64::from(weekday.num_days_from_monday());
        let default = st
            .report_defaults
            .planner
            .default_hours
            .on(weekday)
            .iter()
            .map(|(a, b)| {
                let end = if *b == chrono::NaiveTime::MIN {
                    "24:00".to_string()
                } else {
                    b.format("%H:%M").to_string()
                };
                format!("{}-{end}", a.format("%H:%M"))
            })
            .collect();
        Some(
            own.iter()
                .find(|(d, _)| *d == i)
                .map(|(_, r)| r.clone())
                .unwrap_or(default),
        )
    };
    Ok(Json(Hours {
        mon: day(Weekday::Mon),
        tue: day(Weekday::Tue),
        wed: day(Weekday::Wed),
        thu: day(Weekday::Thu),
        fri: day(Weekday::Fri),
        sat: day(Weekday::Sat),
        sun: day(Weekday::Sun),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAbsence {
    pub consultant_id: i64,
    /// First and last day away, inclusive (YYYY-MM-DD).
    pub first_day: chrono::NaiveDate,
    /// Not before `first_day` (409).
    pub last_day: chrono::NaiveDate,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub reason: String,
}

/// Leave and other absences: the schedule and capacity leave them out.
#[utoipa::path(post, path = "/api/absences", request_body = NewAbsence,
    responses((status = 201, body = Absence)), security(("bearer" = [])))]
pub async fn add_absence(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<NewAbsence>,
) -> Result<(StatusCode, Json<Absence>), ApiError> {
    who.may_act_for(b.consultant_id)?;
    if b.last_day < b.first_day {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "contradiction",
            "last_day: before first_day",
        ));
    }
    if b.reason.chars().count() > 200 {
        return Err(ApiError::field("reason", "at most 200 characters"));
    }
    let a = st
        .store
        .add_absence(
            b.consultant_id,
            &b.first_day.to_string(),
            &b.last_day.to_string(),
            b.reason.trim(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(a)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AbsenceParams {
    pub consultant_id: Option<i64>,
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
}

#[utoipa::path(get, path = "/api/absences", params(AbsenceParams),
    responses((status = 200, body = Vec<Absence>)), security(("bearer" = [])))]
pub async fn absences(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(p): ApiQuery<AbsenceParams>,
) -> Result<Json<Vec<Absence>>, ApiError> {
    let consultant_id = who.scope(p.consultant_id)?;
    Ok(Json(
        st.store
            .absences(consultant_id, &p.from.to_string(), &p.to.to_string())
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    #[schema(schema_with = crate::http::schema::iso_week)]
    pub week: String,
    /// Default: every consultant with a plan for the week.
    pub consultant_id: Option<i64>,
}

/// Places the week's planned hours as scheduled tasks inside working
/// hours, around meetings, scheduled contacts, holidays and absences;
/// reruns replace what an earlier run placed.
#[utoipa::path(post, path = "/api/schedule", request_body = ScheduleBody,
    responses((status = 200, body = Vec<ConsultantWeek>)), security(("bearer" = [])))]
pub async fn schedule(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<ScheduleBody>,
) -> Result<Json<Vec<ConsultantWeek>>, ApiError> {
    let w = week(&b.week)?;
    Ok(Json(
        st.planner()
            .schedule(&st.store, &w, b.consultant_id)
            .await?,
    ))
}

/// The consultant's calendar (iCalendar): scheduled and realised tasks,
/// contacts and meetings. Calendar apps, which cannot send headers, pass
/// a feed token (`POST /api/consultants/{id}/feed-token`) as `?token=`;
/// API tokens go in the Authorization header only.
#[utoipa::path(get, path = "/api/consultants/{id}/calendar.ics",
    params(("id" = i64, Path), ("token" = Option<String>, Query, description = "A feed token for this consultant")),
    responses((status = 200, content_type = "text/calendar")),
    security(("bearer" = []), ("feed_token" = [])))]
pub async fn calendar(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Response, ApiError> {
    who.may_act_for(id)?;
    let c = st.store.get_consultant(id).await?;
    let body = crate::tracking::planning::calendar_feed(
        &st.store,
        id,
        &format!("protocall: {}", c.name),
        chrono::Utc::now(),
    )
    .await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/calendar; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
