//! The journal's files without a store: what a start finds, and what the
//! reader makes of torn and unreadable lines.

use super::reader::DiskReader;
use super::*;
use crate::store::CallRow;

fn write(n: u64) -> Write {
    Write::Call(CallRow {
        call_id: format!("c{n}"),
        from_tag: String::new(),
        direction: "inbound".into(),
        from_uri: "sip:a@127.0.0.1".into(),
        to_uri: "sip:b@127.0.0.1".into(),
        caller_number: None,
        caller_class: "unknown".into(),
        provider_id: None,
        provider_user_id: None,
        protocol_id: None,
        consultant_id: None,
        consultant: None,
        rule: String::new(),
        route: "ura".into(),
        outcome: None,
        final_code: None,
        started_at_ms: n as i64,
        ringing_at_ms: None,
        answered_at_ms: None,
        ended_at_ms: None,
        ended_by: None,
        detail: "{}".into(),
    })
}

fn line(seq: u64) -> String {
    let l = LineRef {
        seq,
        write: &write(seq),
    };
    format!("{}\n", serde_json::to_string(&l).unwrap())
}

fn seqs(ws: &[(u64, Write)]) -> Vec<u64> {
    ws.iter().map(|(s, _)| *s).collect()
}

#[test]
fn the_old_single_file_is_adopted_and_counted_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let torn = &line(4)[..20];
    let text = format!("{}{}{}{torn}", line(1), line(2), line(3));
    std::fs::write(dir.path().join("journal.log"), &text).unwrap();
    std::fs::write(dir.path().join("journal.checkpoint"), "1").unwrap();
    std::fs::write(dir.path().join("heartbeat"), "1764000000000").unwrap();
    let (journal, handle, rec) = Journal::open(dir.path()).unwrap();
    assert_eq!(rec.replayed, 2, "seq 2 and 3; 1 was drained, 4 is torn");
    assert_eq!(rec.last_alive_ms, Some(1_764_000_000_000));
    assert_eq!(handle.pending(), 2);
    assert_eq!(journal.next_seq, 4);
    assert!(!dir.path().join("journal.log").exists());
    let seg = segment::path(dir.path(), 1);
    let on_disk = std::fs::read_to_string(&seg).unwrap();
    assert_eq!(
        on_disk,
        format!("{text}\n"),
        "nothing cut: the torn tail only gets its newline"
    );
}

#[test]
fn segments_entirely_before_the_checkpoint_are_deleted_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(segment::path(dir.path(), 1), line(1) + &line(2)).unwrap();
    std::fs::write(segment::path(dir.path(), 3), line(3) + &line(4)).unwrap();
    std::fs::write(segment::path(dir.path(), 5), line(5)).unwrap();
    std::fs::write(dir.path().join("journal.checkpoint"), "3").unwrap();
    let (journal, _, rec) = Journal::open(dir.path()).unwrap();
    assert_eq!(segment::list(dir.path()).unwrap(), vec![3, 5]);
    assert_eq!(rec.replayed, 2, "seq 4 and 5");
    assert_eq!(journal.next_seq, 6);
}

#[test]
fn a_torn_line_glued_to_the_next_costs_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let torn = &line(3)[..25];
    let text = format!(
        "{}{}{torn}{}not json\n{}",
        line(1),
        line(2),
        line(4),
        line(5)
    );
    std::fs::write(segment::path(dir.path(), 1), &text).unwrap();
    let stats = Stats::default();
    let mut r = DiskReader::new(dir.path(), 0);
    let from = Pos {
        segment: 1,
        offset: 0,
    };
    let read = r.read(from, 5, &[1], 100, &stats).unwrap();
    assert_eq!(seqs(&read.writes), vec![1, 2, 4, 5]);
    assert_eq!(stats.quarantined.load(Ordering::Relaxed), 2);
    let q = std::fs::read_to_string(dir.path().join(QUARANTINE_FILE)).unwrap();
    let first: serde_json::Value = serde_json::from_str(q.lines().next().unwrap()).unwrap();
    assert_eq!(first["offset"], (line(1).len() + line(2).len()) as u64);
    assert_eq!(first["line"], torn);
    assert!(first["segment"]
        .as_str()
        .unwrap()
        .ends_with("00000000000000000001.log"));
}

#[test]
fn the_reader_stops_at_what_is_not_yet_fsynced_and_resumes_there() {
    let dir = tempfile::tempdir().unwrap();
    let partial = &line(3)[..10];
    std::fs::write(segment::path(dir.path(), 1), line(1) + &line(2) + partial).unwrap();
    let stats = Stats::default();
    let mut r = DiskReader::new(dir.path(), 0);
    let from = Pos {
        segment: 1,
        offset: 0,
    };
    let read = r.read(from, 2, &[1], 100, &stats).unwrap();
    assert_eq!(seqs(&read.writes), vec![1, 2]);
    assert_eq!(
        stats.quarantined.load(Ordering::Relaxed),
        0,
        "the live end is not torn"
    );
    // The rest of the line arrives, then a second segment.
    std::fs::write(segment::path(dir.path(), 1), line(1) + &line(2) + &line(3)).unwrap();
    std::fs::write(segment::path(dir.path(), 4), line(4)).unwrap();
    let read = r.read(r.pos(), 4, &[1, 4], 100, &stats).unwrap();
    assert_eq!(seqs(&read.writes), vec![3, 4]);
    assert_eq!(stats.quarantined.load(Ordering::Relaxed), 0);
}

#[test]
fn a_torn_tail_of_an_older_segment_is_quarantined_and_the_next_one_read() {
    let dir = tempfile::tempdir().unwrap();
    let torn = &line(3)[..30];
    std::fs::write(segment::path(dir.path(), 1), line(1) + &line(2) + torn).unwrap();
    std::fs::write(segment::path(dir.path(), 3), line(3) + &line(4)).unwrap();
    let stats = Stats::default();
    let mut r = DiskReader::new(dir.path(), 1);
    let from = Pos {
        segment: 1,
        offset: 0,
    };
    let read = r.read(from, 4, &[1, 3], 100, &stats).unwrap();
    assert_eq!(
        seqs(&read.writes),
        vec![2, 3, 4],
        "1 is before the checkpoint"
    );
    assert_eq!(stats.quarantined.load(Ordering::Relaxed), 1);
}
