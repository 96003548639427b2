//! The OpenAPI document served at `/api/openapi.json`, generated from the
//! handlers' annotations so it cannot drift from the routes.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    bans, calls, consultants, contacts, error, lookup, planning, protocols, providers, reports,
    tracking,
};
use crate::directory;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "protocall admin API", description = "Directory, consultants, protocols, routing and the call log of the consulting desk."),
    paths(
        providers::list, providers::create, providers::get, providers::update, providers::delete,
        providers::list_numbers, providers::add_number, providers::delete_number,
        providers::list_users, providers::create_user, providers::get_user,
        providers::update_user, providers::delete_user,
        consultants::list, consultants::create, consultants::get, consultants::update,
        consultants::delete, consultants::set_presence,
        protocols::list, protocols::open, protocols::get, protocols::assign, protocols::close,
        lookup::lookup, lookup::import, lookup::simulate, lookup::reload,
        calls::list, calls::get, calls::list_callbacks, calls::set_callback_status,
        contacts::list, contacts::get,
        tracking::create_task, tracking::start_task, tracking::stop_running_task,
        tracking::stop_task, tracking::update_task, tracking::get_task, tracking::list_tasks,
        tracking::task_audit, tracking::create_contact, tracking::start_contact,
        tracking::stop_open_contact, tracking::update_contact, tracking::contact_audit,
        tracking::categories, tracking::add_category, tracking::rooms, tracking::create_room,
        planning::get_plan, planning::put_plan, planning::copy_plan, planning::get_hours,
        planning::put_hours, planning::add_absence, planning::absences, planning::schedule,
        planning::calendar, reports::weekly, bans::list, bans::lift,
    ),
    components(schemas(
        error::ErrorBody, error::ErrorDetail,
        directory::Provider, directory::NewProvider, directory::ProviderPatch,
        directory::PhoneNumber, directory::NewNumber,
        directory::ProviderUser, directory::NewProviderUser, directory::ProviderUserPatch,
        directory::Consultant, directory::NewConsultant, directory::ConsultantPatch, directory::Presence, directory::SetPresence,
        directory::Protocol, directory::NewProtocol, directory::ProtocolStatus, directory::AssignOwner,
        directory::Lookup, directory::import::ImportReport, directory::import::Rejected,
        crate::routing::desk::Simulate, crate::routing::desk::Simulated, lookup::Reloaded,
        calls::Call, calls::SetCallbackStatus, crate::store::Callback, crate::store::Contact,
        crate::store::Task, crate::store::AuditEntry, crate::store::Category, crate::store::Room,
        tracking::NewTaskBody, tracking::StartTaskBody, tracking::StopBody, tracking::TaskPatchBody,
        tracking::NewContactBody, tracking::StartContactBody, tracking::ContactPatchBody,
        tracking::NewCategory, tracking::NewRoom,
        crate::store::PlanRow, crate::store::Absence, planning::PlanItemBody, planning::PlanBody,
        planning::CopyPlan, planning::Hours, planning::NewAbsence, planning::ScheduleBody,
        crate::tracking::planning::ConsultantWeek, crate::tracking::planning::PlacedBlock,
        crate::tracking::planning::UnfitHours, bans::BanView,
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
