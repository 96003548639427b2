//! Incremental framing of a stream (TCP/TLS) receive buffer.
//!
//! This module owns [`StreamFramer`]: it decides where the next message in
//! a growing buffer ends while remembering, between reads, how far it has
//! looked. A peer that drips a message a byte at a time therefore costs one
//! look at each byte, not a rescan of everything buffered so far, and the
//! header-count and size limits the datagram parser applies are enforced as
//! the lines arrive rather than once the whole header section is in.

use super::{
    header_line, parse_decimal, trim_lws, ContentLengthProblem, Frame, Limits, Line, ParseError,
};
use crate::message::{HeaderName, Span};

/// Frames the messages of one stream connection.
///
/// Feed it the connection's receive buffer after every read. Between calls
/// the buffer may only grow at the end, except that after
/// [`Frame::KeepAlive`] or [`Frame::Message`] the caller removes exactly
/// the reported bytes from the front before the next call. Content-Length
/// is mandatory, because nothing else marks the end of a body on a stream;
/// any error means framing is lost and the connection should be closed.
///
/// Only Content-Length is interpreted. Malformed header lines are passed
/// over, as the full parse reports them with the message boundary intact,
/// but every header line counts against `max_headers`: a message the
/// datagram parser would refuse for its header count never frames.
#[derive(Debug, Clone)]
pub struct StreamFramer {
    limits: Limits,
    /// Start of the first line not yet seen whole.
    line_start: usize,
    /// How far the search for that line's LF has got.
    searched: usize,
    /// Whether the start line is behind us.
    past_start_line: bool,
    /// Header lines seen, continuation lines not included.
    headers: usize,
    /// The value of a Content-Length header that folded lines may extend.
    open_length: Option<Span>,
    declared: Option<usize>,
    /// The first Content-Length problem met, reported once the header
    /// section ends so that the error matches what a one-shot scan reports.
    problem: Option<ContentLengthProblem>,
    /// The frame's full length, once the header section has ended.
    total: Option<usize>,
    scanned: u64,
}

impl StreamFramer {
    pub fn new(limits: Limits) -> StreamFramer {
        StreamFramer {
            limits,
            line_start: 0,
            searched: 0,
            past_start_line: false,
            headers: 0,
            open_length: None,
            declared: None,
            problem: None,
            total: None,
            scanned: 0,
        }
    }

    /// Bytes looked at so far, over every frame. Each byte of a message is
    /// looked at once however the message is cut into reads; only CR/LF
    /// keep-alive bytes may be looked at again while a ping is incomplete.
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    /// What the front of `buf` holds; see the type's contract on `buf`.
    pub fn frame(&mut self, buf: &[u8]) -> Result<Frame, ParseError> {
        if buf.len() < self.searched {
            // The caller broke the contract; starting over is still correct.
            self.restart();
        }
        if self.searched == 0 {
            let run = buf
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            if run > 0 {
                // A ping may be split across reads; wait rather than
                // consume half of it and miss that a pong is owed. Its
                // bytes are counted once, when they are consumed.
                if run == buf.len() && run < 4 && b"\r\n\r\n".starts_with(buf) {
                    return Ok(Frame::Incomplete);
                }
                self.count(run);
                let pings = count_pings(buf.get(..run).unwrap_or_default());
                return Ok(Frame::KeepAlive { len: run, pings });
            }
        }
        if let Some(total) = self.total {
            return Ok(self.complete_if(buf, total));
        }
        loop {
            let from = self.searched.max(self.line_start);
            let fresh = buf.get(from..).unwrap_or_default();
            let Some(rel) = memchr::memchr(b'\n', fresh) else {
                self.count(fresh.len());
                self.searched = buf.len();
                return incomplete_or_too_large(buf.len(), self.limits.max_message_size);
            };
            self.count(rel + 1);
            let lf = from + rel;
            let start = self.line_start;
            let content_end = if lf > start && buf.get(lf - 1) == Some(&b'\r') {
                lf - 1
            } else {
                lf
            };
            let line = Line {
                start,
                content_end,
                end: lf + 1,
            };
            self.line_start = line.end;
            self.searched = line.end;
            if let Some(total) = self.on_line(buf, line)? {
                self.total = Some(total);
                return Ok(self.complete_if(buf, total));
            }
        }
    }

    /// Takes one whole line; the frame's length once it is the empty line
    /// that ends the header section.
    fn on_line(&mut self, buf: &[u8], line: Line) -> Result<Option<usize>, ParseError> {
        let max = self.limits.max_message_size;
        if !self.past_start_line {
            // Judged by the full parse; framing only needs to get past it.
            self.past_start_line = true;
            return Ok(None);
        }
        if line.end > max {
            return Err(ParseError::TooLarge {
                size: line.end,
                limit: max,
            });
        }
        if line.content_end == line.start {
            self.close_length(buf);
            return self.end_of_headers(line.end).map(Some);
        }
        if matches!(buf.get(line.start), Some(b' ' | b'\t')) {
            if let Some(value) = &mut self.open_length {
                value.end = line.content_end;
            }
            return Ok(None);
        }
        self.close_length(buf);
        if self.headers >= self.limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                limit: self.limits.max_headers,
            });
        }
        self.headers += 1;
        if let Ok(entry) = header_line(buf, line) {
            if entry.kind == HeaderName::ContentLength {
                self.open_length = Some(entry.value);
            }
        }
        Ok(None)
    }

    /// Judges the Content-Length header whose folded lines have all arrived.
    fn close_length(&mut self, buf: &[u8]) {
        let Some(value) = self.open_length.take() else {
            return;
        };
        if self.problem.is_some() {
            return;
        }
        let raw = buf.get(trim_lws(buf, value).range()).unwrap_or_default();
        match parse_decimal(raw).and_then(|n| usize::try_from(n).ok()) {
            None => self.problem = Some(ContentLengthProblem::Invalid),
            Some(n) => match self.declared {
                Some(prev) if prev != n => self.problem = Some(ContentLengthProblem::Conflicting),
                _ => self.declared = Some(n),
            },
        }
    }

    fn end_of_headers(&self, body_start: usize) -> Result<usize, ParseError> {
        let problem = match (self.problem, self.declared) {
            (Some(problem), _) => problem,
            (None, None) => ContentLengthProblem::Missing,
            (None, Some(declared)) => {
                let total = body_start
                    .checked_add(declared)
                    .ok_or(ParseError::ContentLength {
                        problem: ContentLengthProblem::Invalid,
                        message: None,
                    })?;
                if total > self.limits.max_message_size {
                    return Err(ParseError::TooLarge {
                        size: total,
                        limit: self.limits.max_message_size,
                    });
                }
                return Ok(total);
            }
        };
        Err(ParseError::ContentLength {
            problem,
            message: None,
        })
    }

    /// Reports the message once all of it is in, and then expects the
    /// caller to have removed it before the next call.
    fn complete_if(&mut self, buf: &[u8], total: usize) -> Frame {
        if buf.len() >= total {
            self.restart();
            Frame::Message(total)
        } else {
            Frame::Incomplete
        }
    }

    fn restart(&mut self) {
        *self = StreamFramer {
            scanned: self.scanned,
            ..StreamFramer::new(self.limits)
        };
    }

    fn count(&mut self, bytes: usize) {
        self.scanned = self
            .scanned
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
    }
}

fn incomplete_or_too_large(len: usize, max_size: usize) -> Result<Frame, ParseError> {
    if len > max_size {
        Err(ParseError::TooLarge {
            size: len,
            limit: max_size,
        })
    } else {
        Ok(Frame::Incomplete)
    }
}

fn count_pings(run: &[u8]) -> usize {
    let mut pings = 0;
    let mut rest = run;
    while let Some(pos) = memchr::memmem::find(rest, b"\r\n\r\n") {
        pings += 1;
        rest = rest.get(pos + 4..).unwrap_or_default();
    }
    pings
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::super::DEFAULT_MAX_MESSAGE_SIZE;
    use super::*;
    use proptest::prelude::*;

    const UNLIMITED: Limits = Limits {
        max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        max_headers: usize::MAX,
    };

    fn request(headers: usize, body: &str) -> Vec<u8> {
        let mut m = b"OPTIONS sip:bob@example.com SIP/2.0\r\n".to_vec();
        for i in 0..headers {
            m.extend_from_slice(format!("X-Filler-{i}: some value {i}\r\n").as_bytes());
        }
        m.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
        m
    }

    /// Feeds `wire` to one framer `chunk` bytes at a time, consuming what
    /// it frames, and checks every answer against a fresh one-shot framing
    /// of the same buffer. Returns the messages framed and the first error.
    fn feed(wire: &[u8], chunk: usize, limits: Limits) -> (Vec<Vec<u8>>, Option<String>) {
        let mut framer = StreamFramer::new(limits);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for part in wire.chunks(chunk) {
            buf.extend_from_slice(part);
            loop {
                let ours = framer.frame(&buf);
                let fresh = StreamFramer::new(limits).frame(&buf);
                assert_eq!(format!("{ours:?}"), format!("{fresh:?}"), "at {buf:?}");
                match ours {
                    Ok(Frame::KeepAlive { len, .. }) => {
                        buf.drain(..len);
                    }
                    Ok(Frame::Message(n)) => got.push(buf.drain(..n).collect()),
                    Ok(Frame::Incomplete) => break,
                    Err(e) => return (got, Some(format!("{e:?}"))),
                }
            }
        }
        (got, None)
    }

    /// RFC 4475's messages, kept with the integration tests at the
    /// workspace root (two levels up from this crate).
    fn torture_files() -> Vec<Vec<u8>> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/sip-torture");
        let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
        manifest
            .lines()
            .skip(1)
            .filter_map(|l| l.split('\t').next())
            .filter(|f| !f.is_empty())
            .map(|f| std::fs::read(dir.join(f)).unwrap())
            .collect()
    }

    /// However the bytes are cut, remembering progress between reads gives
    /// the answer a fresh look at the whole buffer gives, on well-formed
    /// messages and on every torture vector.
    #[test]
    fn incremental_framing_matches_a_fresh_look() {
        let mut wires: Vec<Vec<u8>> = vec![
            [&b"\r\n\r\n"[..], &request(3, "hello"), &request(0, "")].concat(),
            b"OPTIONS sip:a@b SIP/2.0\nl : 2\n\nhi".to_vec(),
            b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n  3\r\n\r\nabc".to_vec(),
            b"OPTIONS sip:a@b SIP/2.0\r\nbad line\r\n x\r\nl: 1\r\n\r\nz".to_vec(),
            b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\n".to_vec(),
            b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nl: x\r\n\r\n".to_vec(),
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n".to_vec(),
        ];
        wires.extend(torture_files());
        for wire in &wires {
            let whole = feed(wire, wire.len(), UNLIMITED);
            for chunk in [1, 2, 7] {
                assert_eq!(
                    feed(wire, chunk, UNLIMITED),
                    whole,
                    "{}",
                    String::from_utf8_lossy(wire)
                );
            }
        }
        let (got, err) = feed(&wires[0], 1, UNLIMITED);
        assert_eq!(got, vec![request(3, "hello"), request(0, "")]);
        assert_eq!(err, None);
    }

    /// A message dripped a byte per read costs one look at each byte; a
    /// rescan per read would cost about len²/2.
    #[test]
    fn dripped_message_is_scanned_once() {
        let msg = request(100, &"b".repeat(2000));
        let mut framer = StreamFramer::new(UNLIMITED);
        let mut calls = 0;
        for end in 1..=msg.len() {
            calls += 1;
            match framer.frame(&msg[..end]).unwrap() {
                Frame::Incomplete => assert!(end < msg.len()),
                Frame::Message(n) => assert_eq!((n, end), (msg.len(), msg.len())),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(calls, msg.len());
        let len = u64::try_from(msg.len()).unwrap();
        assert!(framer.scanned() <= len, "{} > {len}", framer.scanned());
        // The headers were all looked at: the bound is not met by skipping.
        let headers = msg.len() - 2000;
        assert!(framer.scanned() >= u64::try_from(headers).unwrap());
    }

    /// The count is the datagram parser's, enforced as the lines arrive:
    /// the refusal comes with the first line over the limit, before the
    /// header section (or a Content-Length) ever ends.
    #[test]
    fn header_count_limit_applies_line_by_line() {
        let limits = Limits {
            max_headers: 5,
            ..UNLIMITED
        };
        // Four fillers plus Content-Length: exactly at the limit.
        let at = request(4, "ok");
        assert_eq!(feed(&at, 1, limits), (vec![at.clone()], None));
        assert!(crate::parse::parse_with_limits(at.into(), false, &limits).is_ok());

        let over = request(5, "");
        let mut framer = StreamFramer::new(limits);
        let sixth_line_end = over
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(6)
            .unwrap()
            .0
            + 1;
        for end in 1..sixth_line_end {
            assert_eq!(framer.frame(&over[..end]).unwrap(), Frame::Incomplete);
        }
        assert!(matches!(
            framer.frame(&over[..sixth_line_end]),
            Err(ParseError::TooManyHeaders { limit: 5 })
        ));
        assert!(matches!(
            crate::parse::parse_with_limits(over.into(), false, &limits),
            Err(ParseError::TooManyHeaders { limit: 5 })
        ));
        // Malformed lines count too, so they cannot pad past the limit.
        let junk = [
            &b"OPTIONS sip:a@b SIP/2.0\r\n"[..],
            &b"junk\r\n".repeat(6),
            b"l: 0\r\n\r\n",
        ]
        .concat();
        let (got, err) = feed(&junk, 3, limits);
        assert!(got.is_empty());
        assert!(err.unwrap().starts_with("TooManyHeaders"));
    }

    /// A line that never ends is refused once the buffer passes the size
    /// limit, without waiting for its LF.
    #[test]
    fn endless_line_is_refused_at_the_size_limit() {
        let limits = Limits {
            max_message_size: 64,
            max_headers: 8,
        };
        let mut wire = b"OPTIONS sip:a@b SIP/2.0\r\nX: ".to_vec();
        wire.extend_from_slice(&[b'y'; 100]);
        let mut framer = StreamFramer::new(limits);
        for end in 1..=64 {
            assert_eq!(framer.frame(&wire[..end]).unwrap(), Frame::Incomplete);
        }
        assert!(matches!(
            framer.frame(&wire[..65]),
            Err(ParseError::TooLarge {
                size: 65,
                limit: 64
            })
        ));
    }

    proptest! {
        /// Messages and pings cut anywhere come out whole and in order
        /// from one framer kept across reads.
        #[test]
        fn any_cuts_frame_the_messages_sent(
            msgs in prop::collection::vec((0usize..20, "[a-z]{0,40}", 0usize..3), 1..6),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
        ) {
            let mut wire = Vec::new();
            let mut sent = Vec::new();
            for (headers, body, pings) in &msgs {
                wire.extend_from_slice(&b"\r\n\r\n".repeat(*pings));
                let m = request(*headers, body);
                wire.extend_from_slice(&m);
                sent.push(m);
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
            points.push(wire.len());
            points.sort_unstable();
            let mut framer = StreamFramer::new(UNLIMITED);
            let mut buf: Vec<u8> = Vec::new();
            let mut got: Vec<Vec<u8>> = Vec::new();
            let mut prev = 0;
            for p in points {
                buf.extend_from_slice(&wire[prev..p]);
                prev = p;
                loop {
                    match framer.frame(&buf).unwrap() {
                        Frame::KeepAlive { len, .. } => { buf.drain(..len); }
                        Frame::Message(n) => got.push(buf.drain(..n).collect()),
                        Frame::Incomplete => break,
                    }
                }
            }
            prop_assert_eq!(got, sent);
            prop_assert!(buf.is_empty());
            prop_assert!(framer.scanned() <= u64::try_from(wire.len()).unwrap());
        }
    }
}
