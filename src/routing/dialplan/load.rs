//! Reading the dialplan: the TOML files of a directory, each checked key by
//! key (unknown keys, wrong types, bad hours, teams, rules and steps are
//! errors that name file, place and field), assembled into a [`Dialplan`]
//! with the last-resort guarantee.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use toml::{Table, Value};

mod hours;

use hours::parse_hours;

use super::*;

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
pub(super) struct Fragment {
    file: String,
    hours: Option<Hours>,
    teams: Vec<(String, Vec<String>)>,
    rules: Vec<RawRule>,
}

pub(super) struct RawRule {
    place: Place,
    name: Option<String>,
    when: Conditions,
    steps: Vec<RawStep>,
}

pub(super) struct RawStep {
    field: String,
    kind: RawStepKind,
    ring: Duration,
}

pub(super) enum RawStepKind {
    Owner,
    Team { team: String, parallel: bool },
    Ura,
    Uri(String),
    Reject(u16),
}

pub(super) fn assemble(
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
pub(super) struct Checker<'a> {
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

pub(super) fn parse_fragment(file: &str, text: &str, errors: &mut Vec<DialplanError>) -> Fragment {
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

pub(super) fn parse_teams(ck: &mut Checker<'_>, teams: &Table) -> Vec<(String, Vec<String>)> {
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

pub(super) fn parse_rule(
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

pub(super) fn parse_when(ck: &mut Checker<'_>, place: &Place, when: &Table) -> Conditions {
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

pub(super) fn parse_step(
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

pub(super) fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(super) fn is_username(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

pub(super) fn is_sip_uri(text: &str) -> bool {
    let rest = text
        .strip_prefix("sips:")
        .or_else(|| text.strip_prefix("sip:"));
    rest.is_some_and(|rest| {
        !rest.is_empty() && !rest.starts_with('@') && !rest.bytes().any(|b| b.is_ascii_whitespace())
    })
}

/// DIDs are E.164, so a pattern is `+`, digits, `*` and `?`; anything else
/// (`^`, `.`, `[`) is most likely a regex that would never match.
pub(super) fn is_number_glob(text: &str) -> bool {
    let body = text.strip_prefix('+').unwrap_or(text);
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'?')
}

pub(super) fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
