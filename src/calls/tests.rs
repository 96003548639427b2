use super::*;
use crate::routing::caller::Caller;
use crate::routing::note::{Skip, SkippedUser, TargetNote};
use crate::sip::dialog::DialogId;
use chrono::TimeZone;

fn t(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_764_000_000_000 + ms).unwrap()
}

fn id() -> DialogId {
    DialogId {
        call_id: "c1".into(),
        from_tag: "f".into(),
    }
}

fn step(route: RouteKind, targets: &[(&str, &str)]) -> StepNote {
    StepNote {
        route,
        ring_ms: 20_000,
        targets: targets
            .iter()
            .map(|(uri, user)| TargetNote {
                uri: uri.to_string(),
                user: (!user.is_empty()).then(|| user.to_string()),
            })
            .collect(),
        skipped: Vec::new(),
    }
}

fn consulting_call(steps: Vec<StepNote>) -> RoutedCall {
    RoutedCall {
        call_id: "c1".into(),
        from_tag: "f".into(),
        direction: Direction::Inbound,
        from: "sip:11987654321@carrier".into(),
        to: "sip:4000@desk".into(),
        party: Caller {
            raw: Some("11987654321".into()),
            e164: Some("+5511987654321".into()),
            class: CallerClass::Consulting,
            provider_id: Some(7),
            user_id: None,
            protocol_id: Some(70),
            owner_id: Some(1),
        },
        consultant: None,
        rule: "consulting-with-protocol".into(),
        steps,
        reject: None,
        at: t(0),
    }
}

fn forked(target: &str, ms: i64) -> DialogEvent {
    DialogEvent::Forked {
        id: id(),
        target: target.into(),
        at: t(ms),
    }
}

fn failed_branch(target: &str, code: u16, ms: i64) -> DialogEvent {
    DialogEvent::BranchFailed {
        id: id(),
        target: target.into(),
        code,
        at: t(ms),
    }
}

fn answered(target: &str, ms: i64) -> DialogEvent {
    answered_with(target, ms, None)
}

fn answered_with(target: &str, ms: i64, session_expires: Option<u32>) -> DialogEvent {
    DialogEvent::Answered {
        id: id(),
        to_tag: "t".into(),
        caller: String::new(),
        callee: String::new(),
        target: target.into(),
        session_expires,
        at: t(ms),
    }
}

fn run(tr: &mut Tracker, events: &[DialogEvent]) -> Vec<Effect> {
    let mut out = Vec::new();
    for e in events {
        tr.event(e, &mut out);
    }
    out
}

fn saved(out: &[Effect]) -> Vec<&CallRecord> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Save(r) => Some(r.as_ref()),
            _ => None,
        })
        .collect()
}

fn tracker() -> Tracker {
    Tracker::new(
        std::time::Duration::from_secs(600),
        std::time::Duration::from_secs(3600),
    )
}

#[test]
fn owner_busy_team_answers_owner_owes_a_callback() {
    let mut tr = tracker();
    tr.routed(consulting_call(vec![
        step(RouteKind::Owner, &[("sip:ana@1", "ana")]),
        step(
            RouteKind::Team,
            &[("sip:ana@1", "ana"), ("sip:bia@2", "bia")],
        ),
        step(RouteKind::Ura, &[("sip:ura@3", "")]),
    ]));
    let out = run(
        &mut tr,
        &[
            forked("sip:ana@1", 10),
            failed_branch("sip:ana@1", 486, 500),
            forked("sip:ana@1", 510),
            forked("sip:bia@2", 510),
            answered("sip:bia@2", 3_000),
            failed_branch("sip:ana@1", 487, 3_010),
        ],
    );
    let rec = saved(&out)[0];
    assert_eq!(rec.route, RouteKind::Team);
    assert_eq!(rec.consultant.as_deref(), Some("bia"));
    assert_eq!(rec.outcome, Some(Outcome::Answered));
    // The owner rang once as owner (busy) and once in the team.
    let steps: Vec<_> = rec.attempts.iter().map(|a| (a.step, a.result)).collect();
    assert_eq!(
        steps,
        vec![
            (Some(0), Some(Outcome::Busy)),
            (Some(1), None),
            (Some(1), Some(Outcome::Answered)),
        ]
    );
    assert!(out
        .iter()
        .any(|e| matches!(e, Effect::Busy(u) if u == "bia")));
    let cb = out
        .iter()
        .find_map(|e| match e {
            Effect::Callback(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a call-back for the owner");
    assert_eq!(cb.owner_id, 1);
    assert_eq!(cb.reason, "busy");
    assert_eq!(cb.protocol_id, Some(70));
    assert_eq!(cb.due, t(600_000));
    // The BYE frees bia and completes the row.
    let out = run(
        &mut tr,
        &[DialogEvent::Ended {
            id: id(),
            by: Party::Caller,
            at: t(60_000),
        }],
    );
    assert!(out
        .iter()
        .any(|e| matches!(e, Effect::Free(u) if u == "bia")));
    let rec = saved(&out)[0];
    assert_eq!(rec.ended_at, Some(t(60_000)));
    assert_eq!(rec.ended_by.as_deref(), Some("caller"));
    assert_eq!(tr.active(), 0);
}

#[test]
fn owner_answering_owes_nothing() {
    let mut tr = tracker();
    tr.routed(consulting_call(vec![step(
        RouteKind::Owner,
        &[("sip:ana@1", "ana")],
    )]));
    let out = run(
        &mut tr,
        &[forked("sip:ana@1", 10), answered("sip:ana@1", 900)],
    );
    assert!(!out.iter().any(|e| matches!(e, Effect::Callback(_))));
    assert_eq!(saved(&out)[0].route, RouteKind::Owner);
}

#[test]
fn owner_in_dnd_and_ura_answering_counts_as_ura_with_a_callback() {
    let mut tr = tracker();
    let mut owner = step(RouteKind::Owner, &[]);
    owner.skipped.push(SkippedUser {
        user: "ana".into(),
        reason: Skip::Dnd,
    });
    tr.routed(consulting_call(vec![
        owner,
        step(RouteKind::Ura, &[("sip:ura@3", "")]),
    ]));
    let out = run(
        &mut tr,
        &[forked("sip:ura@3", 5), answered("sip:ura@3", 50)],
    );
    assert_eq!(saved(&out)[0].route, RouteKind::Ura);
    let reasons: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Callback(c) => Some(c.reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, vec!["dnd".to_string()]);
    assert!(
        out.iter().all(|e| !matches!(e, Effect::Busy(_))),
        "the URA is nobody's phone"
    );
}

#[test]
fn caller_hanging_up_while_ringing_is_cancelled() {
    let mut tr = tracker();
    tr.routed(consulting_call(vec![step(
        RouteKind::Owner,
        &[("sip:ana@1", "ana")],
    )]));
    let out = run(
        &mut tr,
        &[
            forked("sip:ana@1", 10),
            DialogEvent::Failed {
                id: id(),
                code: 487,
                cancelled: true,
                caller: String::new(),
                callee: String::new(),
                at: t(4_000),
            },
        ],
    );
    let rec = saved(&out)[0];
    assert_eq!(rec.outcome, Some(Outcome::Cancelled));
    assert_eq!(rec.attempts[0].result, Some(Outcome::Cancelled));
    assert!(out.iter().any(|e| matches!(
        e,
        Effect::Count {
            route: RouteKind::Owner,
            outcome: Outcome::Cancelled,
            ..
        }
    )));
}

#[test]
fn answered_calls_without_bye_are_closed_by_the_sweep() {
    let mut tr = tracker();
    tr.routed(consulting_call(vec![step(
        RouteKind::Owner,
        &[("sip:ana@1", "ana")],
    )]));
    run(
        &mut tr,
        &[forked("sip:ana@1", 10), answered("sip:ana@1", 100)],
    );
    let mut out = Vec::new();
    tr.sweep(t(1_000), &mut out);
    assert!(out.is_empty());
    tr.sweep(t(3_700_000), &mut out);
    let rec = saved(&out)[0];
    assert!(rec.expired);
    assert!(out
        .iter()
        .any(|e| matches!(e, Effect::Free(u) if u == "ana")));
    assert_eq!(tr.active(), 0);
}

#[test]
fn events_of_unrouted_calls_are_ignored() {
    let mut tr = tracker();
    let out = run(&mut tr, &[forked("sip:x@1", 0), answered("sip:x@1", 5)]);
    assert!(out.is_empty());
}

#[test]
fn outcome_codes() {
    assert_eq!(Outcome::of_code(486, false), Outcome::Busy);
    assert_eq!(Outcome::of_code(603, false), Outcome::Busy);
    assert_eq!(Outcome::of_code(408, false), Outcome::NoAnswer);
    assert_eq!(Outcome::of_code(480, false), Outcome::NoAnswer);
    assert_eq!(Outcome::of_code(500, true), Outcome::Cancelled);
    assert_eq!(Outcome::of_code(503, false), Outcome::Failed);
}

#[test]
fn a_session_timer_that_runs_out_ends_the_call_at_its_expiry() {
    let mut tr = tracker();
    tr.routed(consulting_call(vec![step(
        RouteKind::Owner,
        &[("sip:ana@1", "ana")],
    )]));
    run(
        &mut tr,
        &[
            forked("sip:ana@1", 10),
            answered_with("sip:ana@1", 1_000, Some(90)),
        ],
    );
    // Refreshed at 60 s: the session now runs to 150 s.
    run(
        &mut tr,
        &[DialogEvent::Refreshed {
            id: id(),
            session_expires: 90,
            at: t(61_000),
        }],
    );
    let mut out = Vec::new();
    tr.sweep(t(170_000), &mut out);
    assert!(out.is_empty(), "inside the 32 s of grace");
    tr.sweep(t(184_000), &mut out);
    let rec = saved(&out)[0];
    assert!(rec.expired);
    assert_eq!(
        rec.ended_at,
        Some(t(151_000)),
        "ended when the session expired"
    );
    assert!(out
        .iter()
        .any(|e| matches!(e, Effect::Free(u) if u == "ana")));
    let contact = contact_of(rec).unwrap();
    assert_eq!(contact.flag, Some("expired"));
    assert_eq!(contact.ended_at, Some(t(151_000)));
}

#[test]
fn a_reused_call_id_with_another_from_tag_is_another_call() {
    let mut tr = tracker();
    tr.routed(consulting_call(vec![step(
        RouteKind::Owner,
        &[("sip:ana@1", "ana")],
    )]));
    run(
        &mut tr,
        &[forked("sip:ana@1", 10), answered("sip:ana@1", 1_000)],
    );
    // A second INVITE with the first call's Call-ID and its own From tag.
    let other = DialogId {
        call_id: "c1".into(),
        from_tag: "mallory".into(),
    };
    tr.routed(RoutedCall {
        from_tag: other.from_tag.clone(),
        from: "sip:mallory@elsewhere".into(),
        rule: "everyone-else".into(),
        ..consulting_call(vec![step(RouteKind::Ura, &[("sip:ura@9", "")])])
    });
    assert_eq!(tr.active(), 2, "both calls are tracked");
    let out = run(
        &mut tr,
        &[
            DialogEvent::Forked {
                id: other.clone(),
                target: "sip:ura@9".into(),
                at: t(2_000),
            },
            DialogEvent::Failed {
                id: other.clone(),
                code: 486,
                cancelled: false,
                caller: String::new(),
                callee: String::new(),
                at: t(2_500),
            },
        ],
    );
    let rec = saved(&out)[0];
    assert_eq!(rec.routed.dialog(), other);
    assert_eq!(rec.outcome, Some(Outcome::Busy));
    assert!(
        !out.iter().any(|e| matches!(e, Effect::Free(_))),
        "the first call's consultant is still in it"
    );
    // The first call ends on its own BYE, with its own record.
    let out = run(
        &mut tr,
        &[DialogEvent::Ended {
            id: id(),
            by: Party::Caller,
            at: t(60_000),
        }],
    );
    let rec = saved(&out)[0];
    assert_eq!(rec.routed.dialog(), id());
    assert_eq!(rec.routed.rule, "consulting-with-protocol");
    assert_eq!(rec.outcome, Some(Outcome::Answered));
    assert_eq!(rec.consultant.as_deref(), Some("ana"));
    assert_eq!(rec.attempts.len(), 1, "no branch of the other call");
    assert_eq!(rec.ended_at, Some(t(60_000)));
    assert!(out
        .iter()
        .any(|e| matches!(e, Effect::Free(u) if u == "ana")));
    assert_eq!(tr.active(), 0);
}

#[test]
fn a_second_decision_for_a_tracked_dialog_does_not_replace_the_call() {
    let mut tr = tracker();
    tr.routed(consulting_call(vec![step(
        RouteKind::Owner,
        &[("sip:ana@1", "ana")],
    )]));
    run(&mut tr, &[forked("sip:ana@1", 10)]);
    tr.routed(RoutedCall {
        rule: "spiral".into(),
        ..consulting_call(Vec::new())
    });
    let out = run(&mut tr, &[answered("sip:ana@1", 1_000)]);
    let rec = saved(&out)[0];
    assert_eq!(rec.routed.rule, "consulting-with-protocol");
    assert_eq!(rec.route, RouteKind::Owner);
    assert_eq!(
        rec.consultant.as_deref(),
        Some("ana"),
        "the branch rung before"
    );
}

/// The live board follows a call: ringing at the phones forked to, waiting
/// between steps, then on the consultant who answered; gone at its end.
#[test]
fn the_live_board_follows_a_call_from_ringing_to_answered() {
    let mut tr = tracker();
    tr.routed(consulting_call(vec![
        step(RouteKind::Owner, &[("sip:ana@1", "ana")]),
        step(
            RouteKind::Team,
            &[("sip:ana@1", "ana"), ("sip:bia@2", "bia")],
        ),
    ]));
    let board = |tr: &Tracker| live::LiveBoard {
        calls: tr.live(),
        ..Default::default()
    };

    let b = board(&tr);
    assert_eq!(b.calls.len(), 1);
    assert!(b.calls[0].waiting(), "nothing forked yet: {b:?}");
    assert_eq!(b.calls[0].party.provider_id, Some(7));

    run(&mut tr, &[forked("sip:ana@1", 10)]);
    let b = board(&tr);
    assert_eq!(b.calls[0].ringing, ["ana"]);
    assert!(!b.calls[0].waiting());
    assert!(b.call_of("ana").is_some() && b.call_of("bia").is_none());

    run(
        &mut tr,
        &[
            failed_branch("sip:ana@1", 486, 500),
            forked("sip:ana@1", 510),
            forked("sip:bia@2", 510),
        ],
    );
    assert_eq!(board(&tr).calls[0].ringing, ["ana", "bia"]);

    run(&mut tr, &[answered("sip:bia@2", 3_000)]);
    let b = board(&tr);
    let c = b.call_of("bia").unwrap();
    assert_eq!(c.consultant.as_deref(), Some("bia"));
    assert_eq!(c.answered_at, Some(t(3_000)));
    assert!(c.ringing.is_empty(), "an answered call rings nobody: {c:?}");
    assert!(b.call_of("ana").is_none(), "ana's phone stopped ringing");
    assert_eq!(c.offered_at, t(0), "the caller's wait starts at routing");

    run(
        &mut tr,
        &[DialogEvent::Ended {
            id: id(),
            by: Party::Caller,
            at: t(9_000),
        }],
    );
    assert!(tr.live().is_empty());
}

/// A consultant on a call whose phone rings for a second one sees the call
/// they are talking on.
#[test]
fn a_consultant_on_a_call_sees_that_call_first() {
    let answered_call = live::LiveCall {
        call_id: "a".into(),
        direction: Direction::Inbound,
        party: Caller::default(),
        consultant: Some("ana".into()),
        ringing: vec![],
        route: RouteKind::Owner,
        offered_at: t(0),
        answered_at: Some(t(1_000)),
    };
    let ringing_call = live::LiveCall {
        call_id: "b".into(),
        consultant: None,
        ringing: vec!["ana".into()],
        answered_at: None,
        offered_at: t(-5_000),
        ..answered_call.clone()
    };
    let b = live::LiveBoard {
        calls: vec![ringing_call, answered_call],
        ..Default::default()
    };
    assert_eq!(b.call_of("ana").map(|c| c.call_id.as_str()), Some("a"));
    assert!(b.call_of("bia").is_none());
}
