//! The weekly report as data: what each of the ten items holds. Computed by
//! `reports::weekly` from the store, rendered by `reports::render` as JSON,
//! CSV, XLSX and HTML. Durations are minutes (integers); ratios are 0..=1
//! and `None` when there is nothing to divide by. `consultant_id: None`
//! marks the team's total row.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklyReport {
    /// The week items 1–4 and 7–10 describe (default: last week).
    pub week: String,
    /// Monday 00:00 and next Monday 00:00 of `week`, RFC 3339 in `timezone`.
    pub week_start: String,
    pub week_end: String,
    /// The week items 5–6 describe (default: this week).
    pub schedule_week: String,
    pub timezone: String,
    pub generated_at: String,
    pub consultants: Vec<ConsultantRef>,
    /// 1. Tasks with realised time, by category.
    pub tasks: Vec<TaskTime>,
    /// 2. Contacts: scheduled (by status) and triggered (by channel).
    pub contacts: Vec<ContactCount>,
    /// 3. Hours scheduled versus hours realised.
    pub hours: Vec<HoursRow>,
    /// 4. Work-plan compliance per category.
    pub work_plan: Vec<PlanCompliance>,
    /// 5. This week's schedule from the work plan.
    pub schedule: Vec<ScheduleRow>,
    /// 6. This week's scheduled tasks.
    pub scheduled_tasks: Vec<ScheduledTask>,
    /// 7. Demand versus capacity, and the phone line by Erlang C.
    pub demand: Demand,
    /// 8. SLA ("ANS") and the phone service level.
    pub sla: Sla,
    /// 9. The main figures week over week, oldest first.
    pub evolution: Vec<WeekFigures>,
    /// 10. Support follow-up: "communicate completion" tasks.
    pub followup: Vec<Followup>,
    /// Item 2: contacts by their "which provider?" state (those that had
    /// one).
    #[serde(default)]
    pub identification: Vec<IdentificationCount>,
    /// Item 7: who was on chat and e-mail duty in the week, by the roster
    /// and its exceptions.
    #[serde(default)]
    pub duty: Vec<DutyTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentificationCount {
    /// unidentified, identified, not_client or client.
    pub state: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DutyTime {
    /// chat or email.
    pub channel: String,
    pub consultant_id: i64,
    /// Minutes on duty in the week.
    pub minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsultantRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskTime {
    pub consultant_id: Option<i64>,
    pub category: String,
    /// Tasks with realised time in the week.
    pub count: i64,
    /// Realised minutes inside the week (a task crossing the week's edge
    /// counts only its part inside), less the minutes the consultant's
    /// contacts took (`reports::accounting`).
    pub minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactCount {
    pub consultant_id: Option<i64>,
    /// scheduled or triggered.
    pub kind: String,
    /// phone, chat, email, meeting or other.
    pub channel: String,
    /// done, missed, abandoned, cancelled, scheduled (still pending), open.
    pub status: String,
    pub count: i64,
    /// Realised minutes inside the week; where a consultant's contacts
    /// overlap, the later-started one's (`reports::accounting`).
    pub minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoursRow {
    pub consultant_id: Option<i64>,
    /// Planned task minutes plus scheduled contacts' planned minutes.
    pub scheduled_minutes: i64,
    /// Realised task minutes plus attended contact minutes, each minute
    /// of a consultant counted once (`reports::accounting`).
    pub realised_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanCompliance {
    pub consultant_id: Option<i64>,
    /// A plan category; `attendance` is realised by contacts, the others
    /// by tasks.
    pub category: String,
    pub planned_minutes: i64,
    pub realised_minutes: i64,
    /// realised − planned (negative: short of the plan).
    pub gap_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRow {
    pub consultant_id: Option<i64>,
    /// The plan's task categories (attendance is not placed as tasks).
    pub planned_minutes: i64,
    /// Placed as scheduled tasks by `protocall schedule`.
    pub placed_minutes: i64,
    /// Planned but not placed.
    pub unfit_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledTask {
    pub consultant_id: i64,
    pub category: String,
    pub title: String,
    /// RFC 3339 in the report's zone.
    pub start: String,
    pub minutes: i64,
    /// manual, schedule or rule.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    /// Attended contacts' minutes in the week.
    pub contact_minutes: i64,
    /// Realised task minutes in the week outside the consultants'
    /// contacts: with `contact_minutes`, every minute once.
    pub task_minutes: i64,
    /// Call-backs still pending at the week's end, and the time they need.
    pub open_callbacks: i64,
    pub open_callback_minutes: i64,
    /// Inbound contacts expected next week (average of the last weeks) and
    /// their handling time at this week's average.
    pub forecast_contacts: f64,
    pub forecast_minutes: i64,
    /// Everything above.
    pub demand_minutes: i64,
    /// Working minutes minus holidays and absences.
    pub capacity_minutes: i64,
    pub per_consultant: Vec<Capacity>,
    /// The phone line, per hour of the day.
    pub phone: Vec<ErlangHour>,
    pub service_level_seconds: i64,
    pub service_level_target: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub consultant_id: i64,
    pub working_days: i64,
    pub absent_days: i64,
    pub capacity_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErlangHour {
    /// Local hour of the day (0–23).
    pub hour: u32,
    /// Offered calls per hour, averaged over the week's working days.
    pub calls_per_hour: f64,
    /// Average handling (talk) time of the week's answered calls.
    pub aht_seconds: f64,
    /// Agents Erlang C asks for to meet the target.
    pub agents_needed: u32,
    /// Consultants whose working hours cover that hour, on average.
    pub on_duty: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sla {
    /// Protocols concluded (closed) in the week.
    pub concluded: i64,
    /// Of those, within their deadline.
    pub within_deadline: i64,
    pub ratio: Option<f64>,
    /// Protocols reopened in the week (each once): a close that did not
    /// hold. A reopened protocol is judged again at its next close.
    #[serde(default)]
    pub reopened: i64,
    /// The deadline for protocols opened without one, in business hours.
    pub default_deadline_hours: i64,
    /// Inbound calls offered to the desk in the week.
    pub offered: i64,
    pub answered: i64,
    pub answered_in_threshold: i64,
    pub abandoned: i64,
    /// answered in threshold / offered.
    pub service_level: Option<f64>,
    /// abandoned / offered.
    pub abandonment: Option<f64>,
    /// Average speed of answer and handling time of answered calls.
    pub asa_seconds: Option<f64>,
    pub aht_seconds: Option<f64>,
    pub threshold_seconds: i64,
    pub target: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeekFigures {
    pub week: String,
    /// Attended contacts (all channels).
    pub contacts: i64,
    pub talk_minutes: i64,
    pub sla: Option<f64>,
    pub service_level: Option<f64>,
    pub abandonment: Option<f64>,
    /// Realised minutes (tasks and contacts, counted once).
    pub realised_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Followup {
    pub consultant_id: Option<i64>,
    pub done: i64,
    pub done_minutes: i64,
    /// Not done by the week's end.
    pub pending: i64,
}

impl WeeklyReport {
    /// A consultant's name, `#id` for one the report does not list. (The
    /// team's rows are named by the renderers, in the report's language.)
    pub fn consultant_name(&self, id: i64) -> String {
        self.consultants
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    }
}
