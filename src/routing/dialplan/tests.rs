//! The dialplan's tests: loading and checking files, and decisions.

use super::load::*;
use std::path::Path;

use super::*;
use chrono::TimeZone;
use chrono_tz::America::Sao_Paulo;

const DEFAULT: &str = include_str!("../../../dialplans/default.toml");

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
fn has_error(errors: &[DialplanError], place: &str, field: &str, problem: fn(&Problem) -> bool) {
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

#[test]
fn one_digit_hours_read_as_everywhere_else() {
    // The schedule and the consultants' hours always took `8:00`; the
    // dialplan reads it with the same parser now, not as an error.
    let text = "[hours]\nmon = [\"8:00-12:00\", \"13:00-18:00\"]\nnational_holidays = false\n\
                [[rule]]\nname = \"x\"\nsteps = [{ action = \"ura\" }]\n";
    let plan = parse_file("one-digit.toml", text, chrono_tz::America::Sao_Paulo).unwrap();
    // Monday 2026-03-09.
    for (h, m, open) in [
        (7, 59, false),
        (8, 0, true),
        (11, 59, true),
        (12, 0, false),
        (13, 0, true),
    ] {
        assert_eq!(
            plan.is_business_hours(sp(2026, 3, 9, h, m)),
            Some(open),
            "{h}:{m:02}"
        );
    }
    assert_eq!(
        plan.working_hours().map(|w| w.days[0].clone()),
        crate::calendar::WorkingHours::parse_day(&["08:00-12:00".into(), "13:00-18:00".into()])
            .ok()
    );
}

// --- evaluation order and last resort --------------------------------

#[test]
fn first_match_wins_across_files_in_name_order() {
    let dir = std::env::temp_dir().join(format!("protocall-dialplan-order-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let vip = "[[rule]]\nname = \"vip-line\"\nwhen.called = [\"+55113000*\"]\n\
               steps = [{ action = \"uri\", uri = \"sip:vip@pbx.example\", ring_seconds = 15 }]\n";
    let default = "[[rule]]\nname = \"everyone\"\nsteps = [{ action = \"reject\", code = 603 }]\n\
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
    let dir = std::env::temp_dir().join(format!("protocall-dialplan-span-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let a =
        "[teams]\nsupport = [\"dan\"]\n[[rule]]\nname = \"x\"\nsteps = [{ action = \"ura\" }]\n";
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
    let text =
        "[[rule]]\nname = \"away\"\nwhen.owner_present = false\nsteps = [{ action = \"ura\" }]\n\
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
    let text = "[hours]\nmon = [\"8:0-12:00\", \"13:00-25:00\"]\ntue = [\"12:00-08:00\", \"09:00-09:00\"]\n\
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
    let dir = std::env::temp_dir().join(format!("protocall-dialplan-empty-{}", std::process::id()));
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
