//! The accounting rule: a minute of a consultant's time is counted once.
//! Every figure of realised time the report gives (items 1–4, 7, 9, 10)
//! takes its minutes from [`counted`]; nothing else sums time.
//!
//! # The rule
//!
//! A consultant's task timers and contacts may overlap: a documentation
//! timer keeps running while a call is answered, a call rings in while a
//! chat is open. Each instant of a consultant's time goes to exactly one
//! of the spans covering it:
//!
//! 1. **A contact beats a task.** While the consultant attends someone,
//!    that is what they do; the task is counted only outside their
//!    contacts (a timer running 09:00–11:00 across a 10-minute call counts
//!    110 minutes, the call 10).
//! 2. **Among contacts, the one that started last.** It is the
//!    interruption the consultant turned to: a call answered during an
//!    open chat keeps its whole talk time on the phone row, and the chat
//!    is counted around it. The same holds among tasks, which the tracking
//!    rules keep apart anyway.
//! 3. **Ties:** of spans starting together, the one ending first (it lies
//!    inside the other); then the higher `tie` (the later record); then
//!    the first given.
//!
//! So a consultant's total is exactly the length of the union of their
//! spans, and every breakdown (by category, by channel) adds up to it.
//! Spans of nobody (`consultant: None`, a contact the call log could not
//! file under anyone) share no time with anything and count whole.
//! Only the part inside the window counts (a span across the week's edge
//! or midnight counts its minutes where they happened).

use std::collections::BTreeMap;

/// What a span of time is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Task,
    Contact,
}

/// A realised span of time, [start, end) in UTC milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Whose time it is; `None`: nobody's, counted on its own.
    pub consultant: Option<i64>,
    pub kind: Kind,
    pub start: i64,
    pub end: i64,
    /// Breaks ties between spans with the same start and end (the record's
    /// id: the later record wins).
    pub tie: i64,
}

impl Span {
    /// The order in which spans win an instant they share (greater wins).
    fn rank(&self) -> (Kind, i64, std::cmp::Reverse<i64>, i64) {
        (self.kind, self.start, std::cmp::Reverse(self.end), self.tie)
    }
}

/// The milliseconds each span counts inside [from, to), in the order
/// given: the rule above applied per consultant.
pub fn counted(spans: &[Span], from: i64, to: i64) -> Vec<i64> {
    let clip = |s: &Span| (s.start.max(from), s.end.min(to));
    let mut out = vec![0; spans.len()];
    let mut by_consultant: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, s) in spans.iter().enumerate() {
        let (a, b) = clip(s);
        if b <= a {
            continue;
        }
        match s.consultant {
            Some(c) => by_consultant.entry(c).or_default().push(i),
            None => {
                if let Some(o) = out.get_mut(i) {
                    *o = b - a;
                }
            }
        }
    }
    for members in by_consultant.values() {
        let mut edges: Vec<i64> = members
            .iter()
            .filter_map(|&i| spans.get(i))
            .flat_map(|s| {
                let (a, b) = clip(s);
                [a, b]
            })
            .collect();
        edges.sort_unstable();
        edges.dedup();
        // Between two consecutive edges no span starts or ends, so one
        // winner takes the whole piece.
        for piece in edges.windows(2) {
            let (a, b) = match piece {
                [a, b] => (*a, *b),
                _ => continue,
            };
            let mut winner: Option<(usize, &Span)> = None;
            for &i in members {
                let Some(s) = spans.get(i) else { continue };
                let (sa, sb) = clip(s);
                if sa > a || sb < b {
                    continue;
                }
                if winner.is_none_or(|(_, w)| s.rank() > w.rank()) {
                    winner = Some((i, s));
                }
            }
            if let Some(o) = winner.and_then(|(i, _)| out.get_mut(i)) {
                *o += b - a;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const WEEK: i64 = 7 * 24 * 60 * MIN;

    fn task(who: i64, from_min: i64, to_min: i64) -> Span {
        Span {
            consultant: Some(who),
            kind: Kind::Task,
            start: from_min * MIN,
            end: to_min * MIN,
            tie: 0,
        }
    }

    fn contact(who: i64, from_min: i64, to_min: i64) -> Span {
        Span {
            kind: Kind::Contact,
            ..task(who, from_min, to_min)
        }
    }

    /// Counted minutes of each span in a window of one week from 0.
    fn minutes(spans: &[Span]) -> Vec<i64> {
        counted(spans, 0, WEEK).iter().map(|ms| ms / MIN).collect()
    }

    #[test]
    fn apart_spans_count_whole() {
        assert_eq!(minutes(&[task(1, 0, 60), contact(1, 60, 90)]), [60, 30]);
    }

    #[test]
    fn a_call_nested_in_a_timer_is_taken_out_of_the_task() {
        // Documentation 09:00–11:00, a call 10:00–10:10.
        let got = minutes(&[task(1, 540, 660), contact(1, 600, 610)]);
        assert_eq!(got, [110, 10]);
    }

    #[test]
    fn a_task_nested_in_a_contact_counts_nothing() {
        // The contact wins even though the task started later.
        assert_eq!(minutes(&[contact(1, 0, 60), task(1, 10, 20)]), [60, 0]);
    }

    #[test]
    fn partial_overlap_goes_to_the_contact_whichever_starts_first() {
        assert_eq!(minutes(&[task(1, 0, 60), contact(1, 45, 75)]), [45, 30]);
        assert_eq!(minutes(&[contact(1, 0, 30), task(1, 20, 60)]), [30, 30]);
    }

    #[test]
    fn adjacent_spans_share_nothing() {
        assert_eq!(
            minutes(&[contact(1, 0, 30), task(1, 30, 60), contact(1, 60, 61)]),
            [30, 30, 1]
        );
    }

    #[test]
    fn identical_spans_count_once() {
        // A task and a contact: the contact.
        assert_eq!(minutes(&[task(1, 0, 30), contact(1, 0, 30)]), [0, 30]);
        // Two contacts alike: the later record, else the first given.
        let mut later = contact(1, 0, 30);
        later.tie = 7;
        assert_eq!(minutes(&[later, contact(1, 0, 30)]), [30, 0]);
        assert_eq!(minutes(&[contact(1, 0, 30), contact(1, 0, 30)]), [30, 0]);
    }

    #[test]
    fn overlapping_contacts_go_to_the_later_start() {
        // A chat 10:00–10:40; a call rings in at 10:10 and lasts 15 min.
        let got = minutes(&[contact(1, 600, 640), contact(1, 610, 625)]);
        assert_eq!(got, [25, 15]);
        // A call 10:00–10:20, a chat opened at 10:15 until 10:30.
        let got = minutes(&[contact(1, 600, 620), contact(1, 615, 630)]);
        assert_eq!(got, [15, 15]);
        // Same start: the one ending first is inside the other.
        let got = minutes(&[contact(1, 0, 60), contact(1, 0, 20)]);
        assert_eq!(got, [40, 20]);
    }

    #[test]
    fn a_timer_across_two_calls_and_a_chat() {
        // Documentation 09:00–12:00; calls 09:30–09:40 and 10:00–10:20; a
        // chat 10:10–10:50 (the second call rang in while it was open).
        let spans = [
            task(1, 540, 720),
            contact(1, 570, 580),
            contact(1, 600, 620),
            contact(1, 610, 650),
        ];
        let got = minutes(&spans);
        // The chat started later than the second call, so it takes
        // 10:10–10:20 too: call 2 counts 10:00–10:10.
        assert_eq!(got, [180 - 10 - 50, 10, 10, 40]);
        assert_eq!(got.iter().sum::<i64>(), 180, "the union, 09:00–12:00");
    }

    #[test]
    fn the_week_boundary_cuts_spans() {
        // A task from 23:00 the Sunday before to 00:30 Monday, and a call
        // 23:50–00:10 across the edge: only the minutes inside count.
        let spans = [task(1, -60, 30), contact(1, -10, 10)];
        assert_eq!(minutes(&spans), [20, 10]);
        // And at the end of the week.
        let end = WEEK / MIN;
        let spans = [task(1, end - 30, end + 30), contact(1, end - 5, end + 5)];
        assert_eq!(minutes(&spans), [25, 5]);
        // Wholly outside: nothing.
        assert_eq!(minutes(&[contact(1, -60, -1)]), [0]);
    }

    #[test]
    fn spans_across_midnight_are_no_special_case() {
        // Wednesday 23:30 to Thursday 00:20 (a chat) inside a timer from
        // 23:00 to 01:00.
        let wed = 2 * 24 * 60;
        let spans = [
            task(1, wed + 23 * 60, wed + 25 * 60),
            contact(1, wed + 23 * 60 + 30, wed + 24 * 60 + 20),
        ];
        assert_eq!(minutes(&spans), [120 - 50, 50]);
    }

    #[test]
    fn consultants_do_not_share_time() {
        // Ana's call does not shorten Bia's task; nobody's contact counts
        // whole beside anyone's.
        let nobody = Span {
            consultant: None,
            ..contact(0, 0, 60)
        };
        let spans = [task(1, 0, 60), contact(2, 0, 30), task(2, 0, 60), nobody];
        assert_eq!(minutes(&spans), [60, 30, 30, 60]);
    }

    #[test]
    fn overlapping_tasks_count_once_too() {
        assert_eq!(minutes(&[task(1, 0, 60), task(1, 30, 90)]), [30, 60]);
    }

    #[test]
    fn empty_and_inverted_spans_count_nothing() {
        assert_eq!(minutes(&[task(1, 10, 10), contact(1, 20, 5)]), [0, 0]);
        assert!(counted(&[], 0, WEEK).is_empty());
    }

    #[test]
    fn totals_are_the_union_whatever_the_mix() {
        // A small exhaustive check: every instant of the union is counted
        // once, for spans on a 12-minute grid.
        let grid = [(0, 4), (2, 6), (3, 3), (5, 9), (8, 12), (1, 11)];
        for mask in 0u32..(1 << (2 * grid.len())) {
            let spans: Vec<Span> = grid
                .iter()
                .enumerate()
                .filter_map(|(i, &(a, b))| match (mask >> (2 * i)) & 3 {
                    1 => Some(task(1, a, b)),
                    2 => Some(contact(1, a, b)),
                    _ => None,
                })
                .collect();
            let union = (0..12)
                .filter(|&m| spans.iter().any(|s| s.start <= m * MIN && m * MIN < s.end))
                .count() as i64;
            let got = minutes(&spans);
            assert_eq!(got.iter().sum::<i64>(), union, "{spans:?}");
            // A task never counts a minute a contact covers.
            for (s, m) in spans.iter().zip(&got) {
                if s.kind == Kind::Task {
                    let free = (s.start / MIN..s.end / MIN)
                        .filter(|&t| {
                            !spans.iter().any(|c| {
                                c.kind == Kind::Contact && c.start <= t * MIN && t * MIN < c.end
                            })
                        })
                        .count() as i64;
                    assert!(*m <= free, "{spans:?}");
                }
            }
        }
    }
}
