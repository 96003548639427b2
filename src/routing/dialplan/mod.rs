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
//! national_holidays = true          # Brazil's, computed for any year (default)
//! optional_holidays = ["carnival"]   # also: ash_wednesday, corpus_christi
//! local_holidays = ["07-09"]         # state/city holidays, every year
//! holidays = ["2026-12-24"]          # one-off closures, all day
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
//!
//! This file owns the model and the decision; `load` reads and checks the
//! TOML files into it (`load/hours` the `[hours]` table and its days off); `tests` holds both's tests.

use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, WorkingHours};

mod load;
#[cfg(test)]
mod tests;

pub use load::{load_dir, parse_file};

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
const HOURS_KEYS: &str = "mon, tue, wed, thu, fri, sat, sun, holidays, national_holidays, \
                          optional_holidays, local_holidays";
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
    #[error("`{value}` is not a day of the year; expected `MM-DD`, e.g. `07-09`")]
    BadYearlyHoliday { value: String },
    #[error("unknown optional holiday `{value}`; expected one of: carnival, ash_wednesday, corpus_christi")]
    UnknownOptionalHoliday { value: String },
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
    /// Per weekday from Monday: sorted, disjoint `[start, end)` ranges.
    week: WorkingHours,
    /// Days closed whatever the weekday.
    calendar: Calendar,
}

impl Hours {
    fn is_open(&self, tz: Tz, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&tz);
        !self.calendar.is_holiday(local.date_naive())
            && self.week.covers(local.weekday(), local.time())
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
    /// The days off of the `[hours]` table: national holidays of any
    /// year unless switched off, the chosen optional days, local yearly
    /// holidays and dated closures (no day off without `[hours]`).
    pub fn calendar(&self) -> Calendar {
        self.hours
            .as_ref()
            .map(|h| h.calendar.clone())
            .unwrap_or_else(Calendar::none)
    }

    /// Business hours per weekday from Monday; `None` when the plan has no
    /// `[hours]` (always open).
    pub fn working_hours(&self) -> Option<WorkingHours> {
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
    while let Some(&c) = text.get(t) {
        match pattern.get(p) {
            Some(&pc) if pc == b'?' || pc == c => {
                p += 1;
                t += 1;
            }
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            _ => {
                let Some((star_p, star_t)) = star else {
                    return false;
                };
                p = star_p + 1;
                t = star_t + 1;
                star = Some((star_p, star_t + 1));
            }
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|&c| c == b'*')
}

// ---------------------------------------------------------------------------
// Loading.
