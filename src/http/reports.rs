//! The weekly report over HTTP: `GET /api/reports/weekly?week=2026-W48&format=json|csv|xlsx|html`,
//! in the language the request's `Accept-Language` asks for when we speak
//! it, else `locale.language`. The console's `/gestao/report` serves the
//! same through [`weekly_in`], in the signed-in person's language.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiQuery};
use super::AppState;
use crate::i18n::Lang;
use crate::reports::render::ReportFormat;
use crate::reports::weekly::{self, ReportError};

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Store(s) => s.into(),
            ReportError::Week(m) => ApiError::field("week", m),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WeeklyParams {
    /// ISO week of items 1–4 and 7–10 (default: last week).
    #[param(schema_with = crate::http::schema::iso_week)]
    pub week: Option<String>,
    /// ISO week of items 5–6 (default: this week).
    #[param(schema_with = crate::http::schema::iso_week)]
    pub schedule_week: Option<String>,
    /// json (the default), csv, xlsx or html.
    #[param(schema_with = crate::http::schema::report_formats::required)]
    pub format: Option<String>,
}

/// The ten figures of the Monday report. CSV, XLSX and HTML are written
/// in the language `Accept-Language` asks for (`pt-BR` or `en`), else in
/// `locale.language`; JSON has no words.
#[utoipa::path(get, path = "/api/reports/weekly", params(WeeklyParams,
        ("Accept-Language" = Option<String>, Header, description = "pt-BR or en; default locale.language")),
    responses((status = 200, description = "The report in the asked format",
        content((Object = "application/json"), (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                (String = "text/html")))),
    security(("bearer" = [])))]
pub async fn weekly(
    State(st): State<AppState>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<WeeklyParams>,
) -> Result<Response, ApiError> {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = Lang::from_accept_language(accept, st.report_defaults.lang);
    weekly_in(&st, p, lang).await
}

/// The report for these parameters in `lang`: the one implementation
/// behind the API and the console.
pub async fn weekly_in(st: &AppState, p: WeeklyParams, lang: Lang) -> Result<Response, ApiError> {
    let now = chrono::Utc::now();
    let (last, this) = weekly::default_weeks(now, st.report_defaults.planner.tz);
    let week = p.week.unwrap_or(last);
    let schedule_week = p.schedule_week.unwrap_or(this);
    // Absent, the report is JSON; present, it must name a format (400
    // with the list otherwise).
    let format = match p.format.as_deref() {
        None => ReportFormat::Json,
        Some(name) => name.parse::<ReportFormat>().map_err(|e| {
            ApiError::field(
                "format",
                format!("must be one of {}", e.expected.join(", ")),
            )
        })?,
    };
    let r = weekly::weekly(&st.store, &st.reports(), &week, &schedule_week, now).await?;
    let (ctype, body) = render(&r, format, lang)?;
    let name = format!("protocall-{week}.{}", format.as_str());
    let mut response = (
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response();
    // The JSON is the same in every language; the other formats are not,
    // and a cache must not hand one reader's language to another.
    if format.has_words() {
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_LANGUAGE,
            header::HeaderValue::from_static(lang.tag()),
        );
        h.insert(
            header::VARY,
            header::HeaderValue::from_static("Accept-Language"),
        );
    }
    Ok(response)
}

fn render(
    r: &crate::reports::model::WeeklyReport,
    format: ReportFormat,
    lang: Lang,
) -> Result<(&'static str, Vec<u8>), ApiError> {
    let failed = |e: String| {
        tracing::error!(error = %e, format = format.as_str(), "weekly report not rendered");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "render_failed",
            "the report could not be rendered",
        )
    };
    crate::reports::render::any(r, format, lang).map_err(|e| failed(e.to_string()))
}
