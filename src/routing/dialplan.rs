//! The dialplan: the operator's routing rules (`dialplans/*.toml`), their
//! validation, and the pure decision "given these facts about a call, which
//! ordered fallback chain should the proxy try". This module owns the rule
//! file format, the business-hours calendar and the last-resort guarantee
//! (every plan ends in the URA or an explicit reject). It does no SIP and
//! knows nothing of registrations: whether a target is reachable at ring
//! time is the proxy's business.
//!
//! # File format
//!
//! ```toml
//! [defaults]
//! ring_seconds = 30                  # ring time of steps that give none
//!
//! [hours]                            # evaluated in the configured time zone
//! mon = ["08:00-12:00", "13:00-18:00"]
//! tue = ["08:00-18:00"]              # a day left out is closed all day
//! holidays = ["2026-12-25"]          # closed all day
//!
//! [teams]
//! consulting = ["ana", "bia"]        # consultants' SIP usernames
//!
//! [[rule]]
//! name = "consulting-with-protocol"
//! when.caller = ["consulting"]       # consulting | not_consulting | unknown | anonymous
//! when.has_open_protocol = true
//! when.owner_present = true
//! when.outside_hours = false
//! when.called = ["+5511*", "+55213?00000"]
//! steps = [
//!   { action = "owner", ring_seconds = 20 },
//!   { action = "team", team = "consulting", strategy = "parallel" },
//!   { action = "uri", uri = "sip:overflow@pbx.example" },
//!   { action = "ura" },
//! ]
//! ```
//!
//! `[defaults]` applies to the file it is in; `[teams]` entries may live in
//! any file (each team once); `[hours]` may appear in one file only. Every
//! `when` condition is optional and all given ones must hold; a rule
//! without `when` matches every call.
//!
//! # Evaluation
//!
//! Files are taken in file-name order (byte order, so `10-vip.toml` comes
//! before `default.toml`) and rules in file order; the first rule whose
//! conditions all hold wins. When none does, the implicit rule
//! [`LAST_RESORT_RULE`] sends the call to the URA. A rule whose steps do
//! not end in `ura` or `reject` gets a `ura` step appended, because a call
//! is never dropped just because a consultant is away.
//!
//! At decision time an `owner` step is left out when the call has no
//! protocol owner, and a `team` step is left out when the team has no
//! members (the shipped `consulting` team is empty until the operator lists
//! the consultants, and the shipped plan must still be valid).
//!
//! Error positions count from 1: `rule #2`, `steps[1]`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

/// Ring time of a step that names none, when its file has no `[defaults]`.
pub const DEFAULT_RING_SECONDS: u64 = 30;

/// The longest ring a step may ask for; beyond it a caller has long hung up.
pub const MAX_RING_SECONDS: i64 = 600;

/// The rule name reported when no rule matched and the URA takes the call.
pub const LAST_RESORT_RULE: &str = "last-resort";

const REJECT_CODES: std::ops::RangeInclusive<i64> = 403..=699;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const TOP_KEYS: &str = "defaults, hours, teams, rule";
const DEFAULTS_KEYS: &str = "ring_seconds";
const HOURS_KEYS: &str = "mon, tue, wed, thu, fri, sat, sun, holidays";
const RULE_KEYS: &str = "name, when, steps";
const WHEN_KEYS: &str = "caller, called, has_open_protocol, owner_present, outside_hours";
const CLASS_NAMES: &str = "consulting, not_consulting, unknown, anonymous";

// ---------------------------------------------------------------------------
// Facts in, plan out.

/// The caller classes a rule can select on (`when.caller`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerClassName {
    Consulting,
    NotConsulting,
    Unknown,
    Anonymous,
}

impl CallerClassName {
    pub const ALL: [CallerClassName; 4] = [
        CallerClassName::Consulting,
        CallerClassName::NotConsulting,
        CallerClassName::Unknown,
        CallerClassName::Anonymous,
    ];

    /// The spelling used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            CallerClassName::Consulting => "consulting",
            CallerClassName::NotConsulting => "not_consulting",
            CallerClassName::Unknown => "unknown",
            CallerClassName::Anonymous => "anonymous",
        }
    }

    pub fn from_name(name: &str) -> Option<CallerClassName> {
        CallerClassName::ALL
            .into_iter()
            .find(|class| class.as_str() == name)
    }

    // A bit set keeps `when.caller` matching allocation-free.
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// What the router knows about a call when it asks for a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFacts {
    pub class: CallerClassName,
    pub has_open_protocol: bool,
    /// SIP username of the consultant owning the chosen open protocol.
    pub owner: Option<String>,
    pub owner_present: bool,
    /// The dialled number (DID) in E.164.
    pub called: Option<String>,
    pub at: DateTime<Utc>,
}

/// The ordered fallback chain for one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The matching rule's name, or [`LAST_RESORT_RULE`].
    pub rule: String,
    pub steps: Vec<PlannedStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    pub action: Action,
    /// How long the step rings before the next one is tried; for a
    /// sequential team, how long each member rings.
    pub ring: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Owner {
        username: String,
    },
    Team {
        members: Vec<String>,
        parallel: bool,
    },
    /// The URA's address comes from the daemon's config, not the dialplan.
    Ura,
    Uri(String),
    Reject(u16),
}

// ---------------------------------------------------------------------------
// Errors.

/// Where in a file a mistake is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Outside any rule: `[defaults]`, `[hours]`, `[teams]`, the file itself.
    TopLevel,
    /// The `index`-th `[[rule]]` of the file (from 1), with its name if it
    /// has a usable one.
    Rule { index: usize, name: Option<String> },
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::TopLevel => f.write_str("top level"),
            Place::Rule {
                index,
                name: Some(name),
            } => write!(f, "rule #{index} `{name}`"),
            Place::Rule { index, name: None } => write!(f, "rule #{index}"),
        }
    }
}

/// One mistake in the dialplan, with the file, the rule and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {place}{}: {problem}", field_suffix(.field))]
pub struct DialplanError {
    pub file: String,
    pub place: Place,
    /// Dotted path inside the rule or file, e.g. `steps[2].team`; empty
    /// when the mistake concerns the whole file.
    pub field: String,
    pub problem: Problem,
}

fn field_suffix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!(", field `{field}`")
    }
}

/// What is wrong, and what was expected instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("cannot read: {0}")]
    Read(String),
    #[error("no `*.toml` rule files found; expected at least one")]
    NoFiles,
    #[error("not valid TOML: {0}")]
    Syntax(String),
    #[error("unknown field; expected one of: {expected}")]
    UnknownField { expected: &'static str },
    #[error("missing; expected {expected}")]
    Missing { expected: &'static str },
    #[error("found a {found}; expected {expected}")]
    WrongType {
        found: &'static str,
        expected: &'static str,
    },
    #[error("expected {expected}, found an empty one")]
    Empty { expected: &'static str },
    #[error("`{value}` is listed twice; expected each once")]
    Duplicate { value: String },
    #[error("`{value}` is not a time range; expected `HH:MM-HH:MM` (00:00 to 24:00), e.g. `08:00-12:00`")]
    BadTimeRange { value: String },
    #[error("`{value}` ends before or when it starts; expected start earlier than end")]
    InvertedTimeRange { value: String },
    #[error("`{second}` overlaps `{first}`; expected ranges that do not overlap")]
    OverlappingTimeRanges { first: String, second: String },
    #[error("`{value}` is not a date; expected `YYYY-MM-DD`, e.g. `2026-12-25`")]
    BadHoliday { value: String },
    #[error("`{value}` is not a name; expected letters, digits, `_` and `-`")]
    BadName { value: String },
    #[error("`{value}` is not a SIP username; expected letters, digits and `.`, `_`, `-`, `+`, without `sip:` or a host")]
    BadUsername { value: String },
    #[error("`{value}` is not a SIP URI; expected `sip:` or `sips:` followed by an address without spaces")]
    BadUri { value: String },
    #[error("`{value}` is not a number pattern; expected an E.164 number or glob such as `+5511*` (`+` first, then digits, `*` for any run, `?` for one digit; not a regex)")]
    BadGlob { value: String },
    #[error("unknown caller class `{value}`; expected one of: {CLASS_NAMES}")]
    UnknownCallerClass { value: String },
    #[error("unknown action `{value}`; expected one of: owner, team, ura, uri, reject")]
    UnknownAction { value: String },
    #[error("unknown field for action `{action}`; expected one of: {expected}")]
    UnknownStepField {
        action: &'static str,
        expected: &'static str,
    },
    #[error("unknown strategy `{value}`; expected `parallel` or `sequential`")]
    UnknownStrategy { value: String },
    #[error(
        "unknown team `{team}`; expected a team defined in a [teams] table (defined: {known})"
    )]
    UnknownTeam { team: String, known: String },
    #[error("{code} is out of range; expected a SIP response code from 403 to 699")]
    RejectCode { code: i64 },
    #[error("{value} is out of range; expected 1 to 600 seconds")]
    RingSeconds { value: i64 },
    #[error("a `reject` step does not ring; expected no `ring_seconds`")]
    RingOnReject,
    #[error("nothing after a `reject` step is ever tried; expected `reject` to be the last step")]
    StepAfterReject,
    #[error("`{name}` is reserved for the implicit last-resort rule; expected another name")]
    ReservedName { name: String },
    #[error(
        "rule name `{name}` is already used by rule #{index} in {file}; expected unique rule names"
    )]
    DuplicateRule {
        name: String,
        file: String,
        index: usize,
    },
    #[error("team `{team}` is already defined in {file}; expected each team once")]
    DuplicateTeam { team: String, file: String },
    #[error("[hours] is already defined in {file}; expected one [hours] table across all files")]
    DuplicateHours { file: String },
    #[error("uses `outside_hours` but no file has an [hours] table; expected one")]
    NoHours,
}

// ---------------------------------------------------------------------------
// The validated dialplan.

/// A validated set of rules, ready to decide calls.
#[derive(Debug, Clone)]
pub struct Dialplan {
    tz: Tz,
    hours: Option<Hours>,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    when: Conditions,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, Default)]
struct Conditions {
    /// Bit set of [`CallerClassName::bit`]; `None` = any class.
    callers: Option<u8>,
    has_open_protocol: Option<bool>,
    owner_present: Option<bool>,
    outside_hours: Option<bool>,
    /// Any may match; empty = any number (or none).
    called: Vec<String>,
}

#[derive(Debug, Clone)]
struct Step {
    kind: StepKind,
    ring: Duration,
}

#[derive(Debug, Clone)]
enum StepKind {
    Owner,
    Team {
        members: Vec<String>,
        parallel: bool,
    },
    Ura,
    Uri(String),
    Reject(u16),
}

#[derive(Debug, Clone, Default)]
struct Hours {
    /// Per weekday from Monday: sorted, disjoint `[start, end)` minutes.
    week: [Vec<(u16, u16)>; 7],
    /// Sorted, for binary search.
    holidays: Vec<NaiveDate>,
}

impl Hours {
    fn is_open(&self, tz: Tz, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&tz);
        if self.holidays.binary_search(&local.date_naive()).is_ok() {
            return false;
        }
        // A minute of the day is below 1440; the fallback can never be hit.
        let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(u16::MAX);
        let day = local.weekday().num_days_from_monday() as usize;
        self.week[day]
            .iter()
            .any(|&(start, end)| start <= minute && minute < end)
    }
}

impl Conditions {
    fn matches(&self, facts: &CallFacts, outside_hours: &mut dyn FnMut() -> bool) -> bool {
        if let Some(set) = self.callers {
            if set & facts.class.bit() == 0 {
                return false;
            }
        }
        if self
            .has_open_protocol
            .is_some_and(|want| want != facts.has_open_protocol)
        {
            return false;
        }
        if self
            .owner_present
            .is_some_and(|want| want != facts.owner_present)
        {
            return false;
        }
        if !self.called.is_empty() {
            let Some(called) = facts.called.as_deref() else {
                return false;
            };
            if !self
                .called
                .iter()
                .any(|pattern| glob_match(pattern.as_bytes(), called.as_bytes()))
            {
                return false;
            }
        }
        // Last, because it is the only condition that needs a time-zone lookup.
        if let Some(want) = self.outside_hours {
            if want != outside_hours() {
                return false;
            }
        }
        true
    }
}

impl Dialplan {
    /// The holidays of the `[hours]` table, sorted (none without one).
    pub fn holidays(&self) -> &[NaiveDate] {
        self.hours
            .as_ref()
            .map(|h| h.holidays.as_slice())
            .unwrap_or(&[])
    }

    /// Business hours per weekday from Monday, as `[start, end)` minutes
    /// of the day; `None` when the plan has no `[hours]` (always open).
    pub fn week_minutes(&self) -> Option<[Vec<(u16, u16)>; 7]> {
        self.hours.as_ref().map(|h| h.week.clone())
    }

    /// Whether the desk is open at `at` (always, without `[hours]`).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.hours.as_ref().is_none_or(|h| h.is_open(self.tz, at))
    }

    /// The plan for one call: the first matching rule's steps, with steps
    /// that cannot apply to this call left out, or the URA alone.
    #[must_use]
    pub fn decide(&self, facts: &CallFacts) -> Plan {
        let mut outside: Option<bool> = None;
        let mut outside_hours =
            || *outside.get_or_insert_with(|| !self.is_business_hours(facts.at).unwrap_or(true));
        let Some(rule) = self
            .rules
            .iter()
            .find(|rule| rule.when.matches(facts, &mut outside_hours))
        else {
            return Plan {
                rule: LAST_RESORT_RULE.to_string(),
                steps: vec![PlannedStep {
                    action: Action::Ura,
                    ring: Duration::from_secs(DEFAULT_RING_SECONDS),
                }],
            };
        };
        let mut steps = Vec::with_capacity(rule.steps.len());
        for step in &rule.steps {
            let action = match &step.kind {
                StepKind::Owner => match facts.owner.as_deref() {
                    Some(owner) if !owner.is_empty() => Action::Owner {
                        username: owner.to_string(),
                    },
                    _ => continue,
                },
                StepKind::Team { members, .. } if members.is_empty() => continue,
                StepKind::Team { members, parallel } => Action::Team {
                    members: members.clone(),
                    parallel: *parallel,
                },
                StepKind::Ura => Action::Ura,
                StepKind::Uri(uri) => Action::Uri(uri.clone()),
                StepKind::Reject(code) => Action::Reject(*code),
            };
            steps.push(PlannedStep {
                action,
                ring: step.ring,
            });
        }
        Plan {
            rule: rule.name.clone(),
            steps,
        }
    }

    /// Whether `at` falls in business hours; `None` when no file has an
    /// `[hours]` table.
    pub fn is_business_hours(&self, at: DateTime<Utc>) -> Option<bool> {
        self.hours.as_ref().map(|hours| hours.is_open(self.tz, at))
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Rule names in evaluation order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|rule| rule.name.as_str())
    }

    /// Every `uri` step's URI, for the resolver to keep answered.
    pub fn uri_steps(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .flat_map(|r| &r.steps)
            .filter_map(|s| match &s.kind {
                StepKind::Uri(u) => Some(u.as_str()),
                _ => None,
            })
    }
}

/// `*` matches any run of characters (also none), `?` exactly one; the
/// rest literally. Backtracks only to the last `*`, so it stays linear-ish
/// and allocation-free.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

// ---------------------------------------------------------------------------
// Loading.

/// Reads every `*.toml` file directly in `dir` (file-name order) and
/// validates them together.
///
/// # Errors
///
/// Every mistake found (unreadable files included), not just the first;
/// a caller reloading should keep its current plan.
pub fn load_dir(dir: &Path, tz: Tz) -> Result<Dialplan, Vec<DialplanError>> {
    let dir_name = dir.display().to_string();
    let top_error = |file: String, problem| DialplanError {
        file,
        place: Place::TopLevel,
        field: String::new(),
        problem,
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| vec![top_error(dir_name.clone(), Problem::Read(e.to_string()))])?;
    let mut errors = Vec::new();
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                if path.extension().is_some_and(|ext| ext == "toml") && path.is_file() {
                    paths.push(path);
                }
            }
            Err(e) => errors.push(top_error(dir_name.clone(), Problem::Read(e.to_string()))),
        }
    }
    if paths.is_empty() && errors.is_empty() {
        return Err(vec![top_error(dir_name, Problem::NoFiles)]);
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    let mut fragments = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => fragments.push(parse_fragment(&name, &text, &mut errors)),
            Err(e) => errors.push(top_error(name, Problem::Read(e.to_string()))),
        }
    }
    assemble(fragments, tz, errors)
}

/// Validates one file on its own as a complete dialplan (what `load_dir`
/// does for a directory holding just this file).
///
/// # Errors
///
/// Every mistake found in the file.
pub fn parse_file(name: &str, text: &str, tz: Tz) -> Result<Dialplan, Vec<DialplanError>> {
    let mut errors = Vec::new();
    let fragment = parse_fragment(name, text, &mut errors);
    assemble(vec![fragment], tz, errors)
}

/// One file after its own checks, before the checks that span files.
#[derive(Default)]
struct Fragment {
    file: String,
    hours: Option<Hours>,
    teams: Vec<(String, Vec<String>)>,
    rules: Vec<RawRule>,
}

struct RawRule {
    place: Place,
    name: Option<String>,
    when: Conditions,
    steps: Vec<RawStep>,
}

struct RawStep {
    field: String,
    kind: RawStepKind,
    ring: Duration,
}

enum RawStepKind {
    Owner,
    Team { team: String, parallel: bool },
    Ura,
    Uri(String),
    Reject(u16),
}

fn assemble(
    fragments: Vec<Fragment>,
    tz: Tz,
    mut errors: Vec<DialplanError>,
) -> Result<Dialplan, Vec<DialplanError>> {
    let mut hours: Option<(String, Hours)> = None;
    let mut teams: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for fragment in &fragments {
        if let Some(h) = &fragment.hours {
            match &hours {
                Some((first, _)) => errors.push(DialplanError {
                    file: fragment.file.clone(),
                    place: Place::TopLevel,
                    field: "hours".into(),
                    problem: Problem::DuplicateHours {
                        file: first.clone(),
                    },
                }),
                None => hours = Some((fragment.file.clone(), h.clone())),
            }
        }
        for (team, members) in &fragment.teams {
            if let Some((first, _)) = teams.get(team) {
                errors.push(DialplanError {
                    file: fragment.file.clone(),
                    place: Place::TopLevel,
                    field: format!("teams.{team}"),
                    problem: Problem::DuplicateTeam {
                        team: team.clone(),
                        file: first.clone(),
                    },
                });
            } else {
                teams.insert(team.clone(), (fragment.file.clone(), members.clone()));
            }
        }
    }
    let known_teams = {
        let mut names: Vec<&str> = teams.keys().map(String::as_str).collect();
        names.sort_unstable();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };

    let mut names: HashMap<String, (String, usize)> = HashMap::new();
    let mut rules = Vec::new();
    for fragment in fragments {
        for raw in fragment.rules {
            let error = |field: &str, problem| DialplanError {
                file: fragment.file.clone(),
                place: raw.place.clone(),
                field: field.to_string(),
                problem,
            };
            let index = match raw.place {
                Place::Rule { index, .. } => index,
                Place::TopLevel => 0,
            };
            if let Some(name) = &raw.name {
                if let Some((file, first)) = names.get(name) {
                    errors.push(error(
                        "name",
                        Problem::DuplicateRule {
                            name: name.clone(),
                            file: file.clone(),
                            index: *first,
                        },
                    ));
                } else {
                    names.insert(name.clone(), (fragment.file.clone(), index));
                }
            }
            if raw.when.outside_hours.is_some() && hours.is_none() {
                errors.push(error("when.outside_hours", Problem::NoHours));
            }
            let mut steps = Vec::with_capacity(raw.steps.len() + 1);
            for step in raw.steps {
                let kind = match step.kind {
                    RawStepKind::Owner => StepKind::Owner,
                    RawStepKind::Team { team, parallel } => match teams.get(&team) {
                        Some((_, members)) => StepKind::Team {
                            members: members.clone(),
                            parallel,
                        },
                        None => {
                            errors.push(error(
                                &format!("{}.team", step.field),
                                Problem::UnknownTeam {
                                    team,
                                    known: known_teams.clone(),
                                },
                            ));
                            continue;
                        }
                    },
                    RawStepKind::Ura => StepKind::Ura,
                    RawStepKind::Uri(uri) => StepKind::Uri(uri),
                    RawStepKind::Reject(code) => StepKind::Reject(code),
                };
                steps.push(Step {
                    kind,
                    ring: step.ring,
                });
            }
            if !matches!(
                steps.last().map(|s| &s.kind),
                Some(StepKind::Ura | StepKind::Reject(_))
            ) {
                steps.push(Step {
                    kind: StepKind::Ura,
                    ring: Duration::from_secs(DEFAULT_RING_SECONDS),
                });
            }
            if let Some(name) = raw.name {
                rules.push(Rule {
                    name,
                    when: raw.when,
                    steps,
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(Dialplan {
            tz,
            hours: hours.map(|(_, h)| h),
            rules,
        })
    } else {
        Err(errors)
    }
}

/// Collects one file's mistakes, each stamped with the file name.
struct Checker<'a> {
    file: &'a str,
    errors: &'a mut Vec<DialplanError>,
}

impl Checker<'_> {
    fn push(&mut self, place: &Place, field: impl Into<String>, problem: Problem) {
        self.errors.push(DialplanError {
            file: self.file.to_string(),
            place: place.clone(),
            field: field.into(),
            problem,
        });
    }

    fn wrong_type(&mut self, place: &Place, field: &str, value: &Value, expected: &'static str) {
        self.push(
            place,
            field,
            Problem::WrongType {
                found: value.type_str(),
                expected,
            },
        );
    }

    fn table<'v>(&mut self, place: &Place, field: &str, value: &'v Value) -> Option<&'v Table> {
        match value {
            Value::Table(table) => Some(table),
            other => {
                self.wrong_type(place, field, other, "a table");
                None
            }
        }
    }

    fn boolean(&mut self, place: &Place, field: &str, value: &Value) -> Option<bool> {
        match value {
            Value::Boolean(b) => Some(*b),
            other => {
                self.wrong_type(place, field, other, "`true` or `false`");
                None
            }
        }
    }

    fn string<'v>(&mut self, place: &Place, field: &str, value: &'v Value) -> Option<&'v str> {
        match value {
            Value::String(s) => Some(s),
            other => {
                self.wrong_type(place, field, other, "a string");
                None
            }
        }
    }

    fn array<'v>(
        &mut self,
        place: &Place,
        field: &str,
        value: &'v Value,
        expected: &'static str,
    ) -> Option<&'v [Value]> {
        match value {
            Value::Array(items) => Some(items),
            other => {
                self.wrong_type(place, field, other, expected);
                None
            }
        }
    }

    fn ring(&mut self, place: &Place, field: &str, value: &Value) -> Option<Duration> {
        match value {
            Value::Integer(n) if (1..=MAX_RING_SECONDS).contains(n) => {
                Some(Duration::from_secs(n.unsigned_abs()))
            }
            Value::Integer(n) => {
                self.push(place, field, Problem::RingSeconds { value: *n });
                None
            }
            other => {
                self.wrong_type(place, field, other, "a whole number of seconds");
                None
            }
        }
    }
}

fn parse_fragment(file: &str, text: &str, errors: &mut Vec<DialplanError>) -> Fragment {
    let mut fragment = Fragment {
        file: file.to_string(),
        ..Fragment::default()
    };
    let mut ck = Checker { file, errors };
    let top = Place::TopLevel;
    let table: Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => {
            let position = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: ")
            });
            let message = format!("{}{}", position.unwrap_or_default(), e.message().trim_end());
            ck.push(&top, "", Problem::Syntax(message));
            return fragment;
        }
    };

    for key in table.keys() {
        if !matches!(key.as_str(), "defaults" | "hours" | "teams" | "rule") {
            ck.push(
                &top,
                key.clone(),
                Problem::UnknownField { expected: TOP_KEYS },
            );
        }
    }

    let mut default_ring = Duration::from_secs(DEFAULT_RING_SECONDS);
    if let Some(defaults) = table.get("defaults") {
        if let Some(defaults) = ck.table(&top, "defaults", defaults) {
            for (key, value) in defaults {
                match key.as_str() {
                    "ring_seconds" => {
                        if let Some(ring) = ck.ring(&top, "defaults.ring_seconds", value) {
                            default_ring = ring;
                        }
                    }
                    _ => ck.push(
                        &top,
                        format!("defaults.{key}"),
                        Problem::UnknownField {
                            expected: DEFAULTS_KEYS,
                        },
                    ),
                }
            }
        }
    }

    if let Some(hours) = table.get("hours") {
        if let Some(hours) = ck.table(&top, "hours", hours) {
            fragment.hours = Some(parse_hours(&mut ck, hours));
        }
    }

    if let Some(teams) = table.get("teams") {
        if let Some(teams) = ck.table(&top, "teams", teams) {
            fragment.teams = parse_teams(&mut ck, teams);
        }
    }

    if let Some(rules) = table.get("rule") {
        if let Some(rules) = ck.array(&top, "rule", rules, "an array of [[rule]] tables") {
            for (i, rule) in rules.iter().enumerate() {
                if let Some(rule) = parse_rule(&mut ck, i + 1, rule, default_ring) {
                    fragment.rules.push(rule);
                }
            }
        }
    }
    fragment
}

fn parse_hours(ck: &mut Checker<'_>, hours: &Table) -> Hours {
    let top = Place::TopLevel;
    let mut parsed = Hours::default();
    for (key, value) in hours {
        if key == "holidays" {
            let Some(items) = ck.array(&top, "hours.holidays", value, "an array of dates") else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let field = format!("hours.holidays[{}]", i + 1);
                let date = match item {
                    Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .filter(|_| s.len() == 10),
                    // A bare TOML date (`2026-12-25` without quotes) is just as clear.
                    Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
                        dt.date.and_then(|d| {
                            NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                        })
                    }
                    _ => None,
                };
                match date {
                    Some(date) if parsed.holidays.contains(&date) => ck.push(
                        &top,
                        field,
                        Problem::Duplicate {
                            value: date.to_string(),
                        },
                    ),
                    Some(date) => parsed.holidays.push(date),
                    None => ck.push(
                        &top,
                        field,
                        Problem::BadHoliday {
                            value: display_value(item),
                        },
                    ),
                }
            }
            parsed.holidays.sort_unstable();
            continue;
        }
        let Some(day) = DAYS.iter().position(|d| d == key) else {
            ck.push(
                &top,
                format!("hours.{key}"),
                Problem::UnknownField {
                    expected: HOURS_KEYS,
                },
            );
            continue;
        };
        let field = format!("hours.{key}");
        let Some(items) = ck.array(&top, &field, value, "an array of `HH:MM-HH:MM` ranges") else {
            continue;
        };
        let mut ranges: Vec<(u16, u16, &str, String)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_field = format!("{field}[{}]", i + 1);
            let Some(text) = ck.string(&top, &item_field, item) else {
                continue;
            };
            match parse_range(text) {
                Some((start, end)) if start < end => ranges.push((start, end, text, item_field)),
                Some(_) => ck.push(
                    &top,
                    item_field,
                    Problem::InvertedTimeRange {
                        value: text.to_string(),
                    },
                ),
                None => ck.push(
                    &top,
                    item_field,
                    Problem::BadTimeRange {
                        value: text.to_string(),
                    },
                ),
            }
        }
        ranges.sort_by_key(|r| (r.0, r.1));
        for pair in ranges.windows(2) {
            if pair[1].0 < pair[0].1 {
                ck.push(
                    &top,
                    pair[1].3.clone(),
                    Problem::OverlappingTimeRanges {
                        first: pair[0].2.to_string(),
                        second: pair[1].2.to_string(),
                    },
                );
            }
        }
        parsed.week[day] = ranges.iter().map(|r| (r.0, r.1)).collect();
    }
    parsed
}

/// `HH:MM-HH:MM` as minutes since midnight; `24:00` is allowed as an end.
fn parse_range(text: &str) -> Option<(u16, u16)> {
    let (start, end) = text.split_once('-')?;
    let start = parse_clock(start.trim())?;
    let end = parse_clock(end.trim())?;
    (start < 24 * 60).then_some((start, end))
}

fn parse_clock(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn parse_teams(ck: &mut Checker<'_>, teams: &Table) -> Vec<(String, Vec<String>)> {
    let top = Place::TopLevel;
    let mut parsed = Vec::new();
    for (team, value) in teams {
        let field = format!("teams.{team}");
        if !is_name(team) {
            ck.push(
                &top,
                field.clone(),
                Problem::BadName {
                    value: team.clone(),
                },
            );
        }
        let Some(items) = ck.array(&top, &field, value, "an array of SIP usernames") else {
            continue;
        };
        let mut members: Vec<String> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_field = format!("{field}[{}]", i + 1);
            let Some(member) = ck.string(&top, &item_field, item) else {
                continue;
            };
            if !is_username(member) {
                ck.push(
                    &top,
                    item_field,
                    Problem::BadUsername {
                        value: member.to_string(),
                    },
                );
            } else if members.iter().any(|m| m == member) {
                ck.push(
                    &top,
                    item_field,
                    Problem::Duplicate {
                        value: member.to_string(),
                    },
                );
            } else {
                members.push(member.to_string());
            }
        }
        parsed.push((team.clone(), members));
    }
    parsed
}

fn parse_rule(
    ck: &mut Checker<'_>,
    index: usize,
    value: &Value,
    default_ring: Duration,
) -> Option<RawRule> {
    let mut place = Place::Rule { index, name: None };
    let rule = ck.table(&place, "", value)?;
    // Read the name first so every later error can quote it.
    let name = match rule.get("name") {
        None => {
            ck.push(
                &place,
                "name",
                Problem::Missing {
                    expected: "a rule name (it appears in the call log)",
                },
            );
            None
        }
        Some(value) => match ck.string(&place, "name", value) {
            Some("") => {
                ck.push(
                    &place,
                    "name",
                    Problem::Empty {
                        expected: "a rule name",
                    },
                );
                None
            }
            Some(LAST_RESORT_RULE) => {
                ck.push(
                    &place,
                    "name",
                    Problem::ReservedName {
                        name: LAST_RESORT_RULE.to_string(),
                    },
                );
                None
            }
            Some(name) => Some(name.to_string()),
            None => None,
        },
    };
    place = Place::Rule {
        index,
        name: name.clone(),
    };
    for key in rule.keys() {
        if !matches!(key.as_str(), "name" | "when" | "steps") {
            ck.push(
                &place,
                key.clone(),
                Problem::UnknownField {
                    expected: RULE_KEYS,
                },
            );
        }
    }
    let when = match rule.get("when") {
        Some(value) => match ck.table(&place, "when", value) {
            Some(table) => parse_when(ck, &place, table),
            None => Conditions::default(),
        },
        None => Conditions::default(),
    };
    let mut steps = Vec::new();
    match rule.get("steps") {
        None => ck.push(
            &place,
            "steps",
            Problem::Missing {
                expected: "an array of steps, e.g. `[{ action = \"ura\" }]`",
            },
        ),
        Some(value) => {
            if let Some(items) = ck.array(&place, "steps", value, "an array of step tables") {
                if items.is_empty() {
                    ck.push(
                        &place,
                        "steps",
                        Problem::Empty {
                            expected: "at least one step",
                        },
                    );
                }
                // Once is enough: the fix is the same for every step after it.
                let first_reject = items
                    .iter()
                    .position(|item| item.get("action").and_then(Value::as_str) == Some("reject"));
                if let Some(i) = first_reject.filter(|&i| i + 1 < items.len()) {
                    ck.push(
                        &place,
                        format!("steps[{}]", i + 2),
                        Problem::StepAfterReject,
                    );
                }
                for (i, item) in items.iter().enumerate() {
                    let field = format!("steps[{}]", i + 1);
                    if let Some(step) = parse_step(ck, &place, field, item, default_ring) {
                        steps.push(step);
                    }
                }
            }
        }
    }
    Some(RawRule {
        place,
        name,
        when,
        steps,
    })
}

fn parse_when(ck: &mut Checker<'_>, place: &Place, when: &Table) -> Conditions {
    let mut conditions = Conditions::default();
    for (key, value) in when {
        let field = format!("when.{key}");
        match key.as_str() {
            "has_open_protocol" => conditions.has_open_protocol = ck.boolean(place, &field, value),
            "owner_present" => conditions.owner_present = ck.boolean(place, &field, value),
            "outside_hours" => conditions.outside_hours = ck.boolean(place, &field, value),
            "caller" => {
                let Some(items) = ck.array(place, &field, value, "an array of caller classes")
                else {
                    continue;
                };
                if items.is_empty() {
                    ck.push(
                        place,
                        field.clone(),
                        Problem::Empty {
                            expected: "at least one caller class",
                        },
                    );
                }
                let mut set = 0u8;
                for (i, item) in items.iter().enumerate() {
                    let item_field = format!("{field}[{}]", i + 1);
                    let Some(name) = ck.string(place, &item_field, item) else {
                        continue;
                    };
                    match CallerClassName::from_name(name) {
                        Some(class) => set |= class.bit(),
                        None => ck.push(
                            place,
                            item_field,
                            Problem::UnknownCallerClass {
                                value: name.to_string(),
                            },
                        ),
                    }
                }
                conditions.callers = Some(set);
            }
            "called" => {
                let Some(items) = ck.array(place, &field, value, "an array of number patterns")
                else {
                    continue;
                };
                if items.is_empty() {
                    ck.push(
                        place,
                        field.clone(),
                        Problem::Empty {
                            expected: "at least one number pattern",
                        },
                    );
                }
                for (i, item) in items.iter().enumerate() {
                    let item_field = format!("{field}[{}]", i + 1);
                    let Some(pattern) = ck.string(place, &item_field, item) else {
                        continue;
                    };
                    if is_number_glob(pattern) {
                        conditions.called.push(pattern.to_string());
                    } else {
                        ck.push(
                            place,
                            item_field,
                            Problem::BadGlob {
                                value: pattern.to_string(),
                            },
                        );
                    }
                }
            }
            _ => ck.push(
                place,
                field,
                Problem::UnknownField {
                    expected: WHEN_KEYS,
                },
            ),
        }
    }
    conditions
}

fn parse_step(
    ck: &mut Checker<'_>,
    place: &Place,
    field: String,
    value: &Value,
    default_ring: Duration,
) -> Option<RawStep> {
    let step = ck.table(place, &field, value)?;
    let action_field = format!("{field}.action");
    let action = match step.get("action") {
        None => {
            ck.push(
                place,
                action_field,
                Problem::Missing {
                    expected: "one of: owner, team, ura, uri, reject",
                },
            );
            return None;
        }
        Some(value) => ck.string(place, &action_field, value)?,
    };
    let (action, allowed): (&'static str, &'static [&'static str]) = match action {
        "owner" => ("owner", &["action", "ring_seconds"]),
        "team" => ("team", &["action", "team", "strategy", "ring_seconds"]),
        "ura" => ("ura", &["action", "ring_seconds"]),
        "uri" => ("uri", &["action", "uri", "ring_seconds"]),
        "reject" => ("reject", &["action", "code"]),
        other => {
            ck.push(
                place,
                action_field,
                Problem::UnknownAction {
                    value: other.to_string(),
                },
            );
            return None;
        }
    };
    for key in step.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        let problem = if action == "reject" && key == "ring_seconds" {
            Problem::RingOnReject
        } else {
            Problem::UnknownStepField {
                action,
                expected: match action {
                    "owner" | "ura" => "action, ring_seconds",
                    "team" => "action, team, strategy, ring_seconds",
                    "uri" => "action, uri, ring_seconds",
                    _ => "action, code",
                },
            }
        };
        ck.push(place, format!("{field}.{key}"), problem);
    }
    let ring = match step.get("ring_seconds") {
        Some(value) if action != "reject" => {
            let ring = ck.ring(place, &format!("{field}.ring_seconds"), value);
            ring.unwrap_or(default_ring)
        }
        _ => default_ring,
    };
    let kind = match action {
        "owner" => RawStepKind::Owner,
        "ura" => RawStepKind::Ura,
        "team" => {
            let team_field = format!("{field}.team");
            let team = match step.get("team") {
                None => {
                    ck.push(
                        place,
                        team_field,
                        Problem::Missing {
                            expected: "the name of a team from a [teams] table",
                        },
                    );
                    None
                }
                Some(value) => ck.string(place, &team_field, value),
            };
            let strategy_field = format!("{field}.strategy");
            let parallel = match step.get("strategy") {
                None => Some(true),
                Some(value) => match ck.string(place, &strategy_field, value) {
                    Some("parallel") => Some(true),
                    Some("sequential") => Some(false),
                    Some(other) => {
                        ck.push(
                            place,
                            strategy_field,
                            Problem::UnknownStrategy {
                                value: other.to_string(),
                            },
                        );
                        None
                    }
                    None => None,
                },
            };
            RawStepKind::Team {
                team: team?.to_string(),
                // A bad strategy is already reported; keep the step so
                // its team is still checked.
                parallel: parallel.unwrap_or(true),
            }
        }
        "uri" => {
            let uri_field = format!("{field}.uri");
            let uri = match step.get("uri") {
                None => {
                    ck.push(
                        place,
                        uri_field,
                        Problem::Missing {
                            expected: "a SIP URI, e.g. `sip:desk@pbx.example`",
                        },
                    );
                    return None;
                }
                Some(value) => ck.string(place, &uri_field, value)?,
            };
            if !is_sip_uri(uri) {
                ck.push(
                    place,
                    uri_field,
                    Problem::BadUri {
                        value: uri.to_string(),
                    },
                );
                return None;
            }
            RawStepKind::Uri(uri.to_string())
        }
        _ => {
            let code_field = format!("{field}.code");
            match step.get("code") {
                None => {
                    ck.push(
                        place,
                        code_field,
                        Problem::Missing {
                            expected: "a SIP response code from 403 to 699, e.g. 603",
                        },
                    );
                    return None;
                }
                Some(Value::Integer(code)) => match u16::try_from(*code) {
                    Ok(c) if REJECT_CODES.contains(code) => RawStepKind::Reject(c),
                    _ => {
                        ck.push(place, code_field, Problem::RejectCode { code: *code });
                        return None;
                    }
                },
                Some(other) => {
                    ck.wrong_type(
                        place,
                        &code_field,
                        other,
                        "a SIP response code from 403 to 699",
                    );
                    return None;
                }
            }
        }
    };
    // Kept despite other mistakes in the step (already reported) so that
    // the checks across files still see it.
    Some(RawStep { field, kind, ring })
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_username(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

fn is_sip_uri(text: &str) -> bool {
    let rest = text
        .strip_prefix("sips:")
        .or_else(|| text.strip_prefix("sip:"));
    rest.is_some_and(|rest| {
        !rest.is_empty() && !rest.starts_with('@') && !rest.bytes().any(|b| b.is_ascii_whitespace())
    })
}

/// DIDs are E.164, so a pattern is `+`, digits, `*` and `?`; anything else
/// (`^`, `.`, `[`) is most likely a regex that would never match.
fn is_number_glob(text: &str) -> bool {
    let body = text.strip_prefix('+').unwrap_or(text);
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'?')
}

fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::America::Sao_Paulo;

    const DEFAULT: &str = include_str!("../../dialplans/default.toml");

    /// A wall-clock time at the desk, as the UTC instant the router sees.
    fn sp(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Sao_Paulo
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("unambiguous local time")
            .with_timezone(&Utc)
    }

    // Tuesday 10 March 2026, 10:00 in São Paulo.
    fn in_hours() -> DateTime<Utc> {
        sp(2026, 3, 10, 10, 0)
    }

    fn facts(class: CallerClassName, protocol: bool, owner: Option<&str>) -> CallFacts {
        CallFacts {
            class,
            has_open_protocol: protocol,
            owner: owner.map(str::to_string),
            owner_present: owner.is_some(),
            called: Some("+551130000000".into()),
            at: in_hours(),
        }
    }

    fn shipped() -> Dialplan {
        parse_file("default.toml", DEFAULT, Sao_Paulo).expect("shipped plan is valid")
    }

    /// The shipped plan once the operator has listed consultants.
    fn staffed() -> Dialplan {
        let text = DEFAULT.replace("consulting = []", r#"consulting = ["bia", "caio"]"#);
        parse_file("default.toml", &text, Sao_Paulo).expect("staffed plan is valid")
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn step(action: Action, ring: u64) -> PlannedStep {
        PlannedStep {
            action,
            ring: secs(ring),
        }
    }

    fn owner(name: &str) -> Action {
        Action::Owner {
            username: name.into(),
        }
    }

    fn team() -> Action {
        Action::Team {
            members: vec!["bia".into(), "caio".into()],
            parallel: true,
        }
    }

    fn errors(text: &str) -> Vec<DialplanError> {
        match parse_file("test.toml", text, Sao_Paulo) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(errors) => errors,
        }
    }

    /// Asserts that one error has this place, field and kind of problem,
    /// and that its message names all three.
    fn has_error(
        errors: &[DialplanError],
        place: &str,
        field: &str,
        problem: fn(&Problem) -> bool,
    ) {
        let found = errors
            .iter()
            .find(|e| e.place.to_string() == place && e.field == field && problem(&e.problem));
        let Some(found) = found else {
            panic!("no error at {place} / {field} with the expected problem in {errors:#?}");
        };
        let message = found.to_string();
        assert!(message.starts_with("test.toml: "), "{message}");
        assert!(message.contains(place), "{message}");
        assert!(message.contains(&format!("`{field}`")), "{message}");
        assert!(message.contains("expected"), "{message}");
    }

    const HOURS: &str = "[hours]\nmon = [\"08:00-18:00\"]\n";

    // --- the shipped plan ----------------------------------------------

    #[test]
    fn shipped_plan_loads_from_its_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
        let plan = load_dir(&dir, Sao_Paulo).expect("shipped directory is valid");
        assert_eq!(
            plan.rule_names().collect::<Vec<_>>(),
            [
                "after-hours",
                "consulting-with-protocol",
                "consulting-without-protocol",
                "not-a-consulting-client"
            ]
        );
    }

    #[test]
    fn consulting_with_protocol_in_hours_rings_owner_then_team_then_ura() {
        let plan = staffed().decide(&facts(CallerClassName::Consulting, true, Some("ana")));
        assert_eq!(plan.rule, "consulting-with-protocol");
        assert_eq!(
            plan.steps,
            [
                step(owner("ana"), 20),
                step(team(), 30),
                step(Action::Ura, 30)
            ]
        );
    }

    #[test]
    fn empty_shipped_team_is_skipped() {
        let plan = shipped().decide(&facts(CallerClassName::Consulting, true, Some("ana")));
        assert_eq!(plan.rule, "consulting-with-protocol");
        assert_eq!(plan.steps, [step(owner("ana"), 20), step(Action::Ura, 30)]);
    }

    #[test]
    fn protocol_without_owner_drops_the_owner_step() {
        let plan = staffed().decide(&facts(CallerClassName::Consulting, true, None));
        assert_eq!(plan.rule, "consulting-with-protocol");
        assert_eq!(plan.steps, [step(team(), 30), step(Action::Ura, 30)]);
    }

    #[test]
    fn consulting_without_protocol_rings_team_then_ura() {
        let plan = staffed().decide(&facts(CallerClassName::Consulting, false, None));
        assert_eq!(plan.rule, "consulting-without-protocol");
        assert_eq!(plan.steps, [step(team(), 30), step(Action::Ura, 30)]);
    }

    #[test]
    fn non_consulting_unknown_and_anonymous_go_to_the_ura() {
        let plan = staffed();
        for class in [
            CallerClassName::NotConsulting,
            CallerClassName::Unknown,
            CallerClassName::Anonymous,
        ] {
            let mut f = facts(class, false, None);
            if class == CallerClassName::Anonymous {
                f.called = None;
            }
            let decided = plan.decide(&f);
            assert_eq!(decided.rule, "not-a-consulting-client", "{class:?}");
            assert_eq!(decided.steps, [step(Action::Ura, 30)], "{class:?}");
        }
    }

    #[test]
    fn after_hours_weekend_and_holiday_go_to_the_ura() {
        let plan = staffed();
        let cases = [
            ("weekday evening", sp(2026, 3, 10, 18, 0)),
            ("weekday early morning", sp(2026, 3, 10, 7, 59)),
            ("weekday night", sp(2026, 3, 10, 23, 30)),
            ("saturday", sp(2026, 3, 14, 10, 0)),
            ("sunday", sp(2026, 3, 15, 10, 0)),
            ("tiradentes (a tuesday)", sp(2026, 4, 21, 10, 0)),
            ("christmas (a friday)", sp(2026, 12, 25, 10, 0)),
        ];
        for (what, at) in cases {
            let mut f = facts(CallerClassName::Consulting, true, Some("ana"));
            f.at = at;
            let decided = plan.decide(&f);
            assert_eq!(decided.rule, "after-hours", "{what}");
            assert_eq!(decided.steps, [step(Action::Ura, 30)], "{what}");
        }
    }

    #[test]
    fn business_hours_are_local_time_not_utc() {
        let plan = shipped();
        // 08:00 and 17:59 in São Paulo are 11:00 and 20:59 UTC (UTC-3).
        let open = Utc.with_ymd_and_hms(2026, 3, 10, 11, 0, 0).single();
        assert_eq!(open, Some(sp(2026, 3, 10, 8, 0)));
        for at in [sp(2026, 3, 10, 8, 0), sp(2026, 3, 10, 17, 59)] {
            assert_eq!(plan.is_business_hours(at), Some(true), "{at}");
        }
        // 09:00 UTC is 06:00 at the desk: closed, though in hours in UTC.
        let early = Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).single();
        assert_eq!(early.and_then(|at| plan.is_business_hours(at)), Some(false));
        // 22:00 UTC on Friday is 19:00 Friday locally: closed.
        let friday = Utc.with_ymd_and_hms(2026, 3, 13, 22, 0, 0).single();
        assert_eq!(
            friday.and_then(|at| plan.is_business_hours(at)),
            Some(false)
        );
    }

    // --- evaluation order and last resort --------------------------------

    #[test]
    fn first_match_wins_across_files_in_name_order() {
        let dir =
            std::env::temp_dir().join(format!("protocall-dialplan-order-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let vip = "[[rule]]\nname = \"vip-line\"\nwhen.called = [\"+55113000*\"]\n\
                   steps = [{ action = \"uri\", uri = \"sip:vip@pbx.example\", ring_seconds = 15 }]\n";
        let default =
            "[[rule]]\nname = \"everyone\"\nsteps = [{ action = \"reject\", code = 603 }]\n\
                       [[rule]]\nname = \"never-reached\"\nsteps = [{ action = \"ura\" }]\n";
        std::fs::write(dir.join("10-vip.toml"), vip).expect("write");
        std::fs::write(dir.join("default.toml"), default).expect("write");
        std::fs::write(dir.join("notes.txt"), "not a rule file").expect("write");
        let loaded = load_dir(&dir, Sao_Paulo);
        let _ = std::fs::remove_dir_all(&dir);
        let plan = loaded.expect("valid");
        assert_eq!(
            plan.rule_names().collect::<Vec<_>>(),
            ["vip-line", "everyone", "never-reached"]
        );

        let f = facts(CallerClassName::Unknown, false, None);
        let decided = plan.decide(&f);
        assert_eq!(decided.rule, "vip-line");
        assert_eq!(
            decided.steps,
            [
                step(Action::Uri("sip:vip@pbx.example".into()), 15),
                step(Action::Ura, 30)
            ]
        );

        let mut other = f.clone();
        other.called = Some("+552130000000".into());
        let decided = plan.decide(&other);
        assert_eq!(decided.rule, "everyone");
        assert_eq!(decided.steps, [step(Action::Reject(603), 30)]);
    }

    #[test]
    fn teams_and_names_span_files() {
        let dir =
            std::env::temp_dir().join(format!("protocall-dialplan-span-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let a = "[teams]\nsupport = [\"dan\"]\n[[rule]]\nname = \"x\"\nsteps = [{ action = \"ura\" }]\n";
        let b = "[[rule]]\nname = \"x\"\nsteps = [{ action = \"team\", team = \"support\" }]\n";
        std::fs::write(dir.join("a.toml"), a).expect("write");
        std::fs::write(dir.join("b.toml"), b).expect("write");
        let loaded = load_dir(&dir, Sao_Paulo);
        let _ = std::fs::remove_dir_all(&dir);
        let errors = loaded.expect_err("duplicate name across files");
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].file.ends_with("b.toml"));
        assert!(
            matches!(&errors[0].problem, Problem::DuplicateRule { file, index: 1, .. } if file.ends_with("a.toml"))
        );
    }

    #[test]
    fn ura_is_appended_unless_the_rule_ends_in_ura_or_reject() {
        let text = "[defaults]\nring_seconds = 25\n[teams]\nt = [\"ana\"]\n\
            [[rule]]\nname = \"seq\"\nwhen.caller = [\"consulting\"]\n\
            steps = [{ action = \"team\", team = \"t\", strategy = \"sequential\" }, { action = \"owner\" }]\n\
            [[rule]]\nname = \"no\"\nwhen.caller = [\"anonymous\"]\nsteps = [{ action = \"reject\", code = 403 }]\n";
        let plan = parse_file("test.toml", text, Sao_Paulo).expect("valid");
        let decided = plan.decide(&facts(CallerClassName::Consulting, true, Some("bia")));
        assert_eq!(
            decided.steps,
            [
                step(
                    Action::Team {
                        members: vec!["ana".into()],
                        parallel: false
                    },
                    25
                ),
                step(owner("bia"), 25),
                step(Action::Ura, DEFAULT_RING_SECONDS),
            ]
        );
        let decided = plan.decide(&facts(CallerClassName::Anonymous, false, None));
        assert_eq!(decided.steps, [step(Action::Reject(403), 25)]);
        // Nothing matches a non-consulting caller: the implicit last resort.
        let decided = plan.decide(&facts(CallerClassName::NotConsulting, false, None));
        assert_eq!(decided.rule, LAST_RESORT_RULE);
        assert_eq!(decided.steps, [step(Action::Ura, DEFAULT_RING_SECONDS)]);
    }

    #[test]
    fn owner_present_condition() {
        let text = "[[rule]]\nname = \"away\"\nwhen.owner_present = false\nsteps = [{ action = \"ura\" }]\n\
                    [[rule]]\nname = \"here\"\nsteps = [{ action = \"owner\" }]\n";
        let plan = parse_file("test.toml", text, Sao_Paulo).expect("valid");
        let mut f = facts(CallerClassName::Consulting, true, Some("ana"));
        assert_eq!(plan.decide(&f).rule, "here");
        f.owner_present = false;
        assert_eq!(plan.decide(&f).rule, "away");
    }

    // --- called-number globs ---------------------------------------------

    #[test]
    fn glob_matching() {
        let yes = [
            ("+551130000000", "+551130000000"),
            ("+5511*", "+551130000000"),
            ("*", "+551130000000"),
            ("+55113?000000", "+551130000000"),
            ("+55*0000", "+551130000000"),
            ("+5511*0*0", "+551130000000"),
            ("+55??3*", "+551130000000"),
        ];
        for (pattern, number) in yes {
            assert!(
                glob_match(pattern.as_bytes(), number.as_bytes()),
                "{pattern} {number}"
            );
        }
        let no = [
            ("+551130000000", "+551130000001"),
            ("+5521*", "+551130000000"),
            ("+55113?", "+551130000000"),
            ("+551130000000?", "+551130000000"),
            ("+55*1", "+551130000000"),
        ];
        for (pattern, number) in no {
            assert!(
                !glob_match(pattern.as_bytes(), number.as_bytes()),
                "{pattern} {number}"
            );
        }
    }

    #[test]
    fn called_patterns_select_rules() {
        let text = "[[rule]]\nname = \"rio\"\nwhen.called = [\"+5521*\", \"+551140040000\"]\n\
                    steps = [{ action = \"uri\", uri = \"sip:rio@pbx.example\" }]\n";
        let plan = parse_file("test.toml", text, Sao_Paulo).expect("valid");
        let mut f = facts(CallerClassName::Unknown, false, None);
        for (called, rule) in [
            (Some("+552133334444"), "rio"),
            (Some("+551140040000"), "rio"),
            (Some("+551140040001"), LAST_RESORT_RULE),
            (None, LAST_RESORT_RULE),
        ] {
            f.called = called.map(str::to_string);
            assert_eq!(plan.decide(&f).rule, rule, "{called:?}");
        }
    }

    // --- validation -------------------------------------------------------

    #[test]
    fn unknown_fields_are_refused_at_every_level() {
        let text = "[rules]\n[defaults]\nring = 3\n[hours]\nmonday = []\n\
            [[rule]]\nname = \"a\"\nwhen.callers = [\"consulting\"]\npriority = 1\n\
            steps = [{ action = \"owner\", team = \"x\" }]\n";
        let e = errors(text);
        let unknown = |p: &Problem| matches!(p, Problem::UnknownField { .. });
        has_error(&e, "top level", "rules", unknown);
        has_error(&e, "top level", "defaults.ring", unknown);
        has_error(&e, "top level", "hours.monday", unknown);
        has_error(&e, "rule #1 `a`", "when.callers", unknown);
        has_error(&e, "rule #1 `a`", "priority", unknown);
        has_error(&e, "rule #1 `a`", "steps[1].team", |p| {
            matches!(
                p,
                Problem::UnknownStepField {
                    action: "owner",
                    ..
                }
            )
        });
        assert_eq!(e.len(), 6, "{e:#?}");
    }

    #[test]
    fn bad_inverted_and_overlapping_time_ranges() {
        let text = "[hours]\nmon = [\"8:00-12:00\", \"13:00-25:00\"]\ntue = [\"12:00-08:00\", \"09:00-09:00\"]\n\
                    wed = [\"08:00-12:00\", \"11:30-18:00\"]\nthu = \"08:00-18:00\"\nfri = [\"00:00-24:00\"]\n";
        let e = errors(text);
        has_error(&e, "top level", "hours.mon[1]", |p| {
            matches!(p, Problem::BadTimeRange { .. })
        });
        has_error(&e, "top level", "hours.mon[2]", |p| {
            matches!(p, Problem::BadTimeRange { .. })
        });
        has_error(&e, "top level", "hours.tue[1]", |p| {
            matches!(p, Problem::InvertedTimeRange { .. })
        });
        has_error(&e, "top level", "hours.tue[2]", |p| {
            matches!(p, Problem::InvertedTimeRange { .. })
        });
        has_error(
            &e,
            "top level",
            "hours.wed[2]",
            |p| matches!(p, Problem::OverlappingTimeRanges { first, second } if first == "08:00-12:00" && second == "11:30-18:00"),
        );
        has_error(&e, "top level", "hours.thu", |p| {
            matches!(
                p,
                Problem::WrongType {
                    found: "string",
                    ..
                }
            )
        });
        assert_eq!(e.len(), 6, "{e:#?}");
    }

    #[test]
    fn bad_holidays() {
        let text = format!(
            "{HOURS}holidays = [\"2026-02-30\", \"25/12/2026\", 2026-12-25, \"2026-12-25\", 20261225]\n"
        );
        let e = errors(&text);
        let bad = |p: &Problem| matches!(p, Problem::BadHoliday { .. });
        has_error(&e, "top level", "hours.holidays[1]", bad);
        has_error(&e, "top level", "hours.holidays[2]", bad);
        has_error(&e, "top level", "hours.holidays[4]", |p| {
            matches!(p, Problem::Duplicate { .. })
        });
        has_error(&e, "top level", "hours.holidays[5]", bad);
        assert_eq!(e.len(), 4, "{e:#?}");
    }

    #[test]
    fn unknown_team_action_strategy_and_bad_uri() {
        let text = "[teams]\nconsulting = [\"ana\", \"sip:bia@x\", \"ana\"]\n\
            [[rule]]\nname = \"r\"\nsteps = [\n\
              { action = \"team\", team = \"sales\" },\n\
              { action = \"voicemail\" },\n\
              { action = \"team\", team = \"consulting\", strategy = \"random\" },\n\
              { action = \"uri\", uri = \"http://example.com\" },\n\
              { ring_seconds = 10 },\n]\n";
        let e = errors(text);
        has_error(
            &e,
            "rule #1 `r`",
            "steps[1].team",
            |p| matches!(p, Problem::UnknownTeam { team, known } if team == "sales" && known == "consulting"),
        );
        has_error(&e, "rule #1 `r`", "steps[2].action", |p| {
            matches!(p, Problem::UnknownAction { .. })
        });
        has_error(&e, "rule #1 `r`", "steps[3].strategy", |p| {
            matches!(p, Problem::UnknownStrategy { .. })
        });
        has_error(&e, "rule #1 `r`", "steps[4].uri", |p| {
            matches!(p, Problem::BadUri { .. })
        });
        has_error(&e, "rule #1 `r`", "steps[5].action", |p| {
            matches!(p, Problem::Missing { .. })
        });
        has_error(&e, "top level", "teams.consulting[2]", |p| {
            matches!(p, Problem::BadUsername { .. })
        });
        has_error(&e, "top level", "teams.consulting[3]", |p| {
            matches!(p, Problem::Duplicate { .. })
        });
        assert_eq!(e.len(), 7, "{e:#?}");
    }

    #[test]
    fn reject_codes_and_ring_seconds_out_of_range() {
        let text = "[defaults]\nring_seconds = 0\n[[rule]]\nname = \"r\"\nsteps = [\n\
              { action = \"owner\", ring_seconds = 601 },\n\
              { action = \"ura\", ring_seconds = 1.5 },\n\
              { action = \"reject\", code = 200 },\n\
              { action = \"reject\", code = 700 },\n\
              { action = \"reject\", code = 486, ring_seconds = 5 },\n\
              { action = \"reject\" },\n]\n";
        let e = errors(text);
        has_error(&e, "top level", "defaults.ring_seconds", |p| {
            matches!(p, Problem::RingSeconds { value: 0 })
        });
        has_error(&e, "rule #1 `r`", "steps[1].ring_seconds", |p| {
            matches!(p, Problem::RingSeconds { value: 601 })
        });
        has_error(&e, "rule #1 `r`", "steps[2].ring_seconds", |p| {
            matches!(p, Problem::WrongType { found: "float", .. })
        });
        has_error(&e, "rule #1 `r`", "steps[3].code", |p| {
            matches!(p, Problem::RejectCode { code: 200 })
        });
        has_error(&e, "rule #1 `r`", "steps[4].code", |p| {
            matches!(p, Problem::RejectCode { code: 700 })
        });
        has_error(&e, "rule #1 `r`", "steps[5].ring_seconds", |p| {
            matches!(p, Problem::RingOnReject)
        });
        has_error(&e, "rule #1 `r`", "steps[6].code", |p| {
            matches!(p, Problem::Missing { .. })
        });
        // Nothing after a reject is reachable.
        has_error(&e, "rule #1 `r`", "steps[4]", |p| {
            matches!(p, Problem::StepAfterReject)
        });
        assert_eq!(e.len(), 8, "{e:#?}");
    }

    #[test]
    fn rule_names_conditions_and_globs() {
        let text = "[[rule]]\nname = \"same\"\nsteps = [{ action = \"ura\" }]\n\
            [[rule]]\nname = \"same\"\nsteps = [{ action = \"ura\" }]\n\
            [[rule]]\nsteps = [{ action = \"ura\" }]\n\
            [[rule]]\nname = \"last-resort\"\nsteps = []\n\
            [[rule]]\nname = \"conds\"\nwhen.caller = [\"vip\"]\nwhen.called = [\"^\\\\+55113.*\", \"+55 11\"]\n\
            when.outside_hours = true\nwhen.has_open_protocol = \"yes\"\n";
        let e = errors(text);
        has_error(&e, "rule #2 `same`", "name", |p| {
            matches!(p, Problem::DuplicateRule { index: 1, .. })
        });
        has_error(&e, "rule #3", "name", |p| {
            matches!(p, Problem::Missing { .. })
        });
        has_error(&e, "rule #4", "name", |p| {
            matches!(p, Problem::ReservedName { .. })
        });
        has_error(&e, "rule #4", "steps", |p| {
            matches!(p, Problem::Empty { .. })
        });
        has_error(&e, "rule #5 `conds`", "when.caller[1]", |p| {
            matches!(p, Problem::UnknownCallerClass { .. })
        });
        has_error(&e, "rule #5 `conds`", "when.called[1]", |p| {
            matches!(p, Problem::BadGlob { .. })
        });
        has_error(&e, "rule #5 `conds`", "when.called[2]", |p| {
            matches!(p, Problem::BadGlob { .. })
        });
        has_error(&e, "rule #5 `conds`", "when.outside_hours", |p| {
            matches!(p, Problem::NoHours)
        });
        has_error(&e, "rule #5 `conds`", "when.has_open_protocol", |p| {
            matches!(
                p,
                Problem::WrongType {
                    found: "string",
                    ..
                }
            )
        });
        has_error(&e, "rule #5 `conds`", "steps", |p| {
            matches!(p, Problem::Missing { .. })
        });
        assert_eq!(e.len(), 10, "{e:#?}");
    }

    #[test]
    fn one_step_can_carry_several_mistakes() {
        let text = "[[rule]]\nname = \"r\"\nsteps = [{ action = \"team\", team = \"sales\", \
                    strategy = \"all\", ring_seconds = 0 }]\n";
        let e = errors(text);
        has_error(&e, "rule #1 `r`", "steps[1].ring_seconds", |p| {
            matches!(p, Problem::RingSeconds { value: 0 })
        });
        has_error(&e, "rule #1 `r`", "steps[1].strategy", |p| {
            matches!(p, Problem::UnknownStrategy { .. })
        });
        has_error(&e, "rule #1 `r`", "steps[1].team", |p| {
            matches!(p, Problem::UnknownTeam { .. })
        });
        assert_eq!(e.len(), 3, "{e:#?}");
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let e = errors("[[rule]]\nname = \"a\"\nsteps = [{ action = \"ura\" }\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        let message = e[0].to_string();
        assert!(matches!(e[0].problem, Problem::Syntax(_)), "{message}");
        assert!(
            message.starts_with("test.toml: top level: not valid TOML: line "),
            "{message}"
        );
    }

    #[test]
    fn message_reads_well() {
        let text =
            "[[rule]]\nname = \"after-hours\"\nsteps = [{ action = \"team\", team = \"sales\" }]\n";
        let e = errors(text);
        assert_eq!(
            e[0].to_string(),
            "test.toml: rule #1 `after-hours`, field `steps[1].team`: unknown team `sales`; \
             expected a team defined in a [teams] table (defined: none)"
        );
    }

    #[test]
    fn empty_or_missing_directory_is_an_error() {
        let dir =
            std::env::temp_dir().join(format!("protocall-dialplan-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let empty = load_dir(&dir, Sao_Paulo).err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(
            empty.as_deref(),
            Some([DialplanError {
                problem: Problem::NoFiles,
                ..
            }])
        ));
        let missing = load_dir(&dir, Sao_Paulo).err();
        assert!(matches!(
            missing.as_deref(),
            Some([DialplanError {
                problem: Problem::Read(_),
                ..
            }])
        ));
    }
}
