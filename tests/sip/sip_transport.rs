//! Loopback tests of the SIP transports: UDP echo, TCP framing, reuse of
//! connections in both directions, the connection caps (in all, per source,
//! the outbound reserve), idle, message-deadline, oversize and header-count
//! closes, keep-alive pongs, IPv6 and shutdown; and the daemon applying its
//! `[sip]` TCP keys.

use crate::support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use protocall::sip::transport::{
    start, ConnId, Handler, Inbound, Outbound, Proto, SendError, Sender, TransportConfig,
    TransportError, TransportStats, Transports,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout, Instant};

/// Upper bound on every wait; generous for a loaded CI machine.
const WAIT: Duration = Duration::from_secs(5);

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

fn request(tag: &str, body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:{tag}@example.com SIP/2.0\r\n\
         Via: SIP/2.0/TCP client.example.com;branch=z9hG4bK{tag}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:a@example.com>;tag=1\r\n\
         To: <sip:{tag}@example.com>\r\n\
         Call-ID: {tag}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: {}\r\n\
         \r\n\
         {body}",
        body.len()
    )
    .into_bytes()
}

fn response(tag: &str) -> Vec<u8> {
    format!(
        "SIP/2.0 200 OK\r\n\
         Via: SIP/2.0/TCP client.example.com;branch=z9hG4bK{tag}\r\n\
         Call-ID: {tag}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\
         \r\n"
    )
    .into_bytes()
}

fn loopback_v4() -> TransportConfig {
    TransportConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..TransportConfig::default()
    }
}

struct Running {
    t: Transports,
    stop: watch::Sender<bool>,
}

impl Running {
    fn stats(&self) -> &TransportStats {
        &self.t.stats
    }

    /// Stops the transports and checks every task ends.
    async fn shutdown(self) {
        self.stop.send(true).unwrap();
        within("transport tasks to end", self.t.join()).await;
    }
}

async fn run(cfg: TransportConfig, handler: impl Handler) -> Running {
    let (stop, rx) = watch::channel(false);
    let t = start(cfg, Arc::new(handler), rx).await.unwrap();
    Running { t, stop }
}

/// Sends every message straight back where it came from.
fn echo(msg: Inbound, tx: &Sender) {
    tx.send(msg.reply_to(), msg.bytes.clone()).unwrap();
}

/// A handler that hands every message to the test through a bounded queue.
fn recorder() -> (
    impl Fn(Inbound, &Sender) + Send + Sync + 'static,
    mpsc::Receiver<Inbound>,
) {
    let (tx, rx) = mpsc::channel(64);
    let handler = move |msg: Inbound, _: &Sender| {
        tx.try_send(msg).unwrap();
    };
    (handler, rx)
}

async fn next(rx: &mut mpsc::Receiver<Inbound>) -> Inbound {
    within("a message at the handler", rx.recv())
        .await
        .expect("handler queue closed")
}

/// True once the peer has closed (EOF or reset), discarding any data.
async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return true,
            Ok(_) => continue,
        }
    }
}

async fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    within("bytes from the transport", stream.read_exact(&mut buf))
        .await
        .unwrap();
    buf
}

#[tokio::test]
async fn udp_and_tcp_share_one_port() {
    let r = run(loopback_v4(), echo).await;
    assert_eq!(r.t.udp_addr.port(), r.t.tcp_addr.port());
    assert_ne!(r.t.udp_addr.port(), 0);
    assert_eq!(r.t.sender.local_addr(Proto::Udp), r.t.udp_addr);
    assert_eq!(r.t.sender.local_addr(Proto::Tcp), r.t.tcp_addr);
    r.shutdown().await;
}

#[tokio::test]
async fn fixed_port_binds_both_protocols() {
    // Borrow a free port from the kernel, release it, then ask for it.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = TransportConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        ..TransportConfig::default()
    };
    let (stop, rx) = watch::channel(false);
    match start(cfg, Arc::new(echo), rx).await {
        Ok(t) => {
            assert_eq!(t.udp_addr.port(), port);
            assert_eq!(t.tcp_addr.port(), port);
            stop.send(true).unwrap();
            within("tasks to end", t.join()).await;
        }
        // Another test grabbed the port in between; nothing to check.
        Err(TransportError::Bind { .. }) => {}
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test]
async fn invalid_config_is_refused() {
    let (_stop, rx) = watch::channel(false);
    let cfg = TransportConfig {
        udp_workers: 0,
        ..loopback_v4()
    };
    let err = start(cfg, Arc::new(echo), rx).await.unwrap_err();
    assert!(matches!(err, TransportError::Config(_)), "{err}");
}

#[tokio::test]
async fn udp_echo() {
    let r = run(loopback_v4(), echo).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = vec![0u8; 70000];
    for i in 0..3 {
        let msg = request(&format!("u{i}"), "hello");
        client.send_to(&msg, r.t.udp_addr).await.unwrap();
        let (n, from) = within("UDP echo", client.recv_from(&mut buf))
            .await
            .unwrap();
        assert_eq!(from, r.t.udp_addr);
        assert_eq!(&buf[..n], &msg[..]);
    }
    let s = r.stats().snapshot();
    assert_eq!((s.udp_rx, s.udp_tx, s.udp_send_errors), (3, 3, 0));
    r.shutdown().await;
}

#[tokio::test]
async fn udp_inbound_fields_and_oversize_drop() {
    let (handler, mut rx) = recorder();
    let cfg = TransportConfig {
        max_message_size: 400,
        ..loopback_v4()
    };
    let r = run(cfg, handler).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&[b'x'; 401], r.t.udp_addr).await.unwrap();
    let msg = request("small", "");
    assert!(msg.len() <= 400);
    client.send_to(&msg, r.t.udp_addr).await.unwrap();

    let got = next(&mut rx).await;
    assert_eq!(got.bytes, Bytes::from(msg));
    assert_eq!(got.source, client.local_addr().unwrap());
    assert_eq!(got.local, r.t.udp_addr);
    assert_eq!(got.proto, Proto::Udp);
    assert_eq!(got.conn, None);
    // Another worker may still be between reading the oversize datagram
    // and counting it.
    let stats = Arc::clone(&r.t.stats);
    support::wait_until("oversize accounting", WAIT, async || {
        let s = stats.snapshot();
        (s.udp_rx, s.udp_dropped_oversize) == (1, 1)
    })
    .await;
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_fragments_and_pipelined_messages() {
    let (handler, mut rx) = recorder();
    let r = run(loopback_v4(), handler).await;
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    client.set_nodelay(true).unwrap();

    let first = request("frag", "v=0\r\n");
    let cuts = [10, first.len() - 3];
    for part in [
        &first[..cuts[0]],
        &first[cuts[0]..cuts[1]],
        &first[cuts[1]..],
    ] {
        client.write_all(part).await.unwrap();
        client.flush().await.unwrap();
        // Fixed: spaces the parts so each reaches the reader on its own.
        sleep(Duration::from_millis(30)).await;
    }
    let got = next(&mut rx).await;
    assert_eq!(got.bytes, Bytes::from(first));
    assert_eq!(got.proto, Proto::Tcp);
    assert_eq!(got.source, client.local_addr().unwrap());
    assert_eq!(got.local, r.t.tcp_addr);
    let conn = got.conn.expect("TCP message without ConnId");

    let (a, b) = (request("pipe-a", "aaa"), request("pipe-b", ""));
    client
        .write_all(&[a.clone(), b.clone()].concat())
        .await
        .unwrap();
    for want in [a, b] {
        let got = next(&mut rx).await;
        assert_eq!(got.bytes, Bytes::from(want));
        assert_eq!(got.conn, Some(conn));
    }
    assert_eq!(r.stats().snapshot().tcp_rx, 3);
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_reply_goes_back_on_the_same_connection() {
    // The destination is deliberately wrong: the ConnId must win.
    let nowhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let handler = move |msg: Inbound, tx: &Sender| {
        let to = Outbound {
            dest: nowhere,
            proto: Proto::Tcp,
            conn: msg.conn,
        };
        tx.send(to, Bytes::from(response("same"))).unwrap();
    };
    let r = run(loopback_v4(), handler).await;
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    client.write_all(&request("same", "")).await.unwrap();
    let want = response("same");
    assert_eq!(read_exactly(&mut client, want.len()).await, want);
    let s = r.stats().snapshot();
    assert_eq!((s.tcp_accepted, s.tcp_connected, s.tcp_open), (1, 0, 1));
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_reply_by_source_address_reuses_the_connection() {
    let handler = |msg: Inbound, tx: &Sender| {
        let to = Outbound {
            conn: None,
            ..msg.reply_to()
        };
        tx.send(to, Bytes::from(response("addr"))).unwrap();
    };
    let r = run(loopback_v4(), handler).await;
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    client.write_all(&request("addr", "")).await.unwrap();
    let want = response("addr");
    assert_eq!(read_exactly(&mut client, want.len()).await, want);
    assert_eq!(r.stats().snapshot().tcp_connected, 0);
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_send_connects_then_reuses_and_reads_back() {
    let (handler, mut rx) = recorder();
    let r = run(loopback_v4(), handler).await;
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = Outbound {
        dest: peer.local_addr().unwrap(),
        proto: Proto::Tcp,
        conn: None,
    };

    // Both sends happen before the connect can finish: the second must
    // queue on the pending connection rather than open another.
    let (one, two) = (request("out-1", ""), request("out-2", "x"));
    r.t.sender.send(to, Bytes::from(one.clone())).unwrap();
    r.t.sender.send(to, Bytes::from(two.clone())).unwrap();
    let (mut conn, from) = within("outbound connect", peer.accept()).await.unwrap();
    assert_eq!(from.ip(), r.t.tcp_addr.ip());
    assert_eq!(read_exactly(&mut conn, one.len()).await, one);
    assert_eq!(read_exactly(&mut conn, two.len()).await, two);

    // Once established, a later send still reuses it.
    let three = request("out-3", "");
    r.t.sender.send(to, Bytes::from(three.clone())).unwrap();
    assert_eq!(read_exactly(&mut conn, three.len()).await, three);
    assert!(
        timeout(Duration::from_millis(200), peer.accept())
            .await
            .is_err(),
        "a second connection was opened"
    );

    // The peer answers on the connection we opened; that reaches the
    // handler with the connection's id, and replying by id uses it.
    let answer = response("out-1");
    conn.write_all(&answer).await.unwrap();
    let got = next(&mut rx).await;
    assert_eq!(got.bytes, Bytes::from(answer));
    assert_eq!(got.source, to.dest);
    let id: ConnId = got.conn.expect("no ConnId on an outbound connection");
    let four = request("out-4", "");
    r.t.sender
        .send(got.reply_to(), Bytes::from(four.clone()))
        .unwrap();
    assert_eq!(read_exactly(&mut conn, four.len()).await, four);

    let s = r.stats().snapshot();
    assert_eq!((s.tcp_connected, s.tcp_accepted, s.tcp_open), (1, 0, 1));
    assert_eq!(got.conn, Some(id));
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_connect_failure_frees_the_slot() {
    // Bind then drop a listener so the port most likely refuses.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = TransportConfig {
        max_tcp_connections: 1,
        tcp_outbound_reserve: 0,
        ..loopback_v4()
    };
    let r = run(cfg, echo).await;
    let to = Outbound {
        dest: dead,
        proto: Proto::Tcp,
        conn: None,
    };
    r.t.sender
        .send(to, Bytes::from(request("dead", "")))
        .unwrap();
    let stats = Arc::clone(&r.t.stats);
    support::wait_until("connect failure", WAIT, async || {
        let s = stats.snapshot();
        s.tcp_connect_errors == 1 && s.tcp_open == 0
    })
    .await;
    // The slot is free again: a new connection may be made.
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    client.write_all(b"\r\n\r\n").await.unwrap();
    assert_eq!(read_exactly(&mut client, 2).await, b"\r\n");
    r.shutdown().await;
}

/// Connects to `to` from `ip`, another loopback address standing for
/// another host.
async fn connect_from(ip: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(ip.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    let stream = within("connect", socket.connect(to)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A pong proves the connection was accepted and is being served.
async fn served(c: &mut TcpStream) {
    c.write_all(b"\r\n\r\n").await.unwrap();
    assert_eq!(read_exactly(c, 2).await, b"\r\n");
}

#[tokio::test]
async fn tcp_connection_cap_keeps_a_reserve_for_outbound() {
    let cfg = TransportConfig {
        max_tcp_connections: 3,
        tcp_outbound_reserve: 1,
        ..loopback_v4()
    };
    let r = run(cfg, echo).await;
    // Two hosts take every slot inbound connections may have.
    let mut kept = Vec::new();
    for ip in ["127.0.0.2", "127.0.0.3"] {
        let mut c = connect_from(ip, r.t.tcp_addr).await;
        served(&mut c).await;
        kept.push(c);
    }
    let mut over = connect_from("127.0.0.4", r.t.tcp_addr).await;
    assert!(within("cap close", closed_by_peer(&mut over)).await);
    let s = r.stats().snapshot();
    assert_eq!((s.tcp_accepted, s.tcp_rejected_cap, s.tcp_open), (2, 1, 2));

    // We can still reach a phone: the reserve is ours.
    let phone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = Outbound {
        dest: phone.local_addr().unwrap(),
        proto: Proto::Tcp,
        conn: None,
    };
    let invite = request("to-phone", "");
    r.t.sender.send(to, Bytes::from(invite.clone())).unwrap();
    let (mut at_phone, _) = within("outbound connect", phone.accept()).await.unwrap();
    assert_eq!(read_exactly(&mut at_phone, invite.len()).await, invite);
    assert_eq!(r.stats().snapshot().tcp_connected, 1);

    // Outbound connections count against the cap in all.
    let to = Outbound {
        dest: "127.0.0.1:9".parse().unwrap(),
        proto: Proto::Tcp,
        conn: None,
    };
    let err = r.t.sender.send(to, Bytes::from_static(b"x")).unwrap_err();
    assert!(matches!(err, SendError::ConnectionLimit { .. }), "{err}");

    // Closing an inbound connection frees an inbound slot.
    drop(kept.pop());
    let stats = Arc::clone(&r.t.stats);
    support::wait_until("slot release", WAIT, async || {
        stats.snapshot().tcp_open == 2
    })
    .await;
    let mut again = connect_from("127.0.0.4", r.t.tcp_addr).await;
    served(&mut again).await;
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_one_source_cannot_take_more_than_its_share() {
    let cfg = TransportConfig {
        max_tcp_connections_per_source: 3,
        ..loopback_v4()
    };
    let r = run(cfg, echo).await;
    let mut greedy = Vec::new();
    for _ in 0..3 {
        let mut c = connect_from("127.0.0.2", r.t.tcp_addr).await;
        served(&mut c).await;
        greedy.push(c);
    }
    for _ in 0..2 {
        let mut over = connect_from("127.0.0.2", r.t.tcp_addr).await;
        assert!(within("per-source close", closed_by_peer(&mut over)).await);
    }
    let s = r.stats().snapshot();
    assert_eq!(
        (s.tcp_rejected_source, s.tcp_rejected_cap, s.tcp_open),
        (2, 0, 3)
    );

    // Another host still connects and gets answers.
    let mut other = connect_from("127.0.0.3", r.t.tcp_addr).await;
    let msg = request("other-host", "hi");
    other.write_all(&msg).await.unwrap();
    assert_eq!(read_exactly(&mut other, msg.len()).await, msg);

    // The greedy host's own connections are still served, and a closed
    // one gives its share back.
    served(&mut greedy[0]).await;
    drop(greedy.pop());
    let stats = Arc::clone(&r.t.stats);
    support::wait_until("share release", WAIT, async || {
        stats.snapshot().tcp_open == 3
    })
    .await;
    let mut again = connect_from("127.0.0.2", r.t.tcp_addr).await;
    served(&mut again).await;
    assert_eq!(r.stats().snapshot().tcp_rejected_source, 2);
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_slow_drip_is_closed_at_the_message_deadline() {
    let deadline = Duration::from_millis(600);
    let cfg = TransportConfig {
        tcp_message_timeout: deadline,
        tcp_idle_timeout: Duration::from_secs(30),
        ..loopback_v4()
    };
    let (handler, mut rx) = recorder();
    let r = run(cfg, handler).await;
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    client.set_nodelay(true).unwrap();

    // Quiet between messages, a lone CRLF included, is the idle
    // timeout's business, not the message deadline's.
    let first = request("before-quiet", "");
    client.write_all(&first).await.unwrap();
    assert_eq!(next(&mut rx).await.bytes, Bytes::from(first));
    client.write_all(b"\r\n").await.unwrap();
    // Fixed: the quiet must genuinely outlast the message deadline.
    sleep(deadline * 2).await;
    let second = request("after-quiet", "");
    client.write_all(&second).await.unwrap();
    assert_eq!(next(&mut rx).await.bytes, Bytes::from(second));

    // A message dripped a byte every 50 ms would take seconds; it is cut
    // off at the deadline although bytes keep coming.
    let (mut read, mut write) = client.into_split();
    let dripped = request("drip", "");
    let began = Instant::now();
    let drip = tokio::spawn(async move {
        for b in dripped {
            if write.write_all(&[b]).await.is_err() {
                return;
            }
            // Fixed: the drip's pace is what is tested.
            sleep(Duration::from_millis(50)).await;
        }
    });
    let closed = within("deadline close", async {
        let mut buf = [0u8; 64];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed - began >= deadline - Duration::from_millis(20));
    drip.abort();
    let stats = Arc::clone(&r.t.stats);
    support::wait_until("deadline accounting", WAIT, async || {
        let s = stats.snapshot();
        s.tcp_message_timeouts == 1 && s.tcp_open == 0
    })
    .await;
    let s = r.stats().snapshot();
    assert_eq!((s.tcp_idle_closed, s.tcp_rx), (0, 2));
    assert!(rx.try_recv().is_err(), "the dripped message was delivered");
    r.shutdown().await;
}

/// [`request`] with `extra` more header lines; it has seven of its own.
fn request_with_headers(tag: &str, extra: usize) -> Vec<u8> {
    let base = request(tag, "");
    let split = base.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut m = base[..split].to_vec();
    for i in 0..extra {
        m.extend_from_slice(format!("X-Extra-{i}: value number {i} of {extra}\r\n").as_bytes());
    }
    m.extend_from_slice(&base[split..]);
    m
}

#[tokio::test]
async fn tcp_message_with_too_many_headers_is_refused() {
    let limit = protocall::sip::parse::DEFAULT_MAX_HEADERS;
    let (handler, mut rx) = recorder();
    let r = run(loopback_v4(), handler).await;
    assert_eq!(TransportConfig::default().max_headers, limit);

    // At the limit: delivered, and the parser takes it.
    let at = request_with_headers("at-limit", limit - 7);
    assert!(protocall::sip::parse::parse(Bytes::from(at.clone()), false).is_ok());
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    client.write_all(&at).await.unwrap();
    assert_eq!(next(&mut rx).await.bytes, Bytes::from(at));

    // One more: the datagram parser refuses it, and TCP closes on it.
    let over = request_with_headers("over-limit", limit - 6);
    assert!(matches!(
        protocall::sip::parse::parse(Bytes::from(over.clone()), true),
        Err(protocall::sip::parse::ParseError::TooManyHeaders { .. })
    ));
    client.write_all(&over).await.unwrap();
    assert!(within("header-count close", closed_by_peer(&mut client)).await);
    let stats = Arc::clone(&r.t.stats);
    support::wait_until("header-count accounting", WAIT, async || {
        let s = stats.snapshot();
        s.tcp_too_many_headers == 1 && s.tcp_framing_errors == 1 && s.tcp_open == 0
    })
    .await;
    assert!(
        rx.try_recv().is_err(),
        "the over-limit message was delivered"
    );
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_long_header_block_sent_byte_by_byte_is_framed() {
    let (handler, mut rx) = recorder();
    let r = run(loopback_v4(), handler).await;
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    client.set_nodelay(true).unwrap();
    let long = request_with_headers("long", 120);
    let follow = request("follow", "after");
    assert!(long.len() > 4000);
    for (i, b) in long.iter().chain(&follow).enumerate() {
        client.write_all(&[*b]).await.unwrap();
        // Pauses now and then, so the reader sees many partial reads.
        if i % 256 == 0 {
            sleep(Duration::from_millis(2)).await;
        }
    }
    assert_eq!(next(&mut rx).await.bytes, Bytes::from(long));
    assert_eq!(next(&mut rx).await.bytes, Bytes::from(follow));
    let s = r.stats().snapshot();
    assert_eq!((s.tcp_rx, s.tcp_framing_errors), (2, 0));
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_idle_connection_is_closed() {
    let idle = Duration::from_millis(300);
    let cfg = TransportConfig {
        tcp_idle_timeout: idle,
        ..loopback_v4()
    };
    let r = run(cfg, echo).await;
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();

    // Keep-alives are traffic: the connection outlives several timeouts.
    let began = Instant::now();
    let mut quiet_since = began;
    while began.elapsed() < idle * 3 {
        // Fixed: keep-alives paced inside the idle timeout.
        sleep(idle / 4).await;
        client.write_all(b"\r\n\r\n").await.unwrap();
        assert_eq!(read_exactly(&mut client, 2).await, b"\r\n");
        quiet_since = Instant::now();
    }

    assert!(within("idle close", closed_by_peer(&mut client)).await);
    // Allow for the pong having been written a little before we read it.
    assert!(quiet_since.elapsed() >= idle - Duration::from_millis(50));
    let stats = Arc::clone(&r.t.stats);
    support::wait_until("idle accounting", WAIT, async || {
        let s = stats.snapshot();
        s.tcp_idle_closed == 1 && s.tcp_open == 0
    })
    .await;
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_oversize_message_closes_the_connection() {
    let cfg = TransportConfig {
        max_message_size: 512,
        ..loopback_v4()
    };
    let (handler, mut rx) = recorder();
    let r = run(cfg, handler).await;

    // Declared body pushes the message over the limit.
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    let big = request("big", &"b".repeat(600));
    let headers_only = &big[..big.len() - 600];
    assert!(headers_only.len() < 512);
    client.write_all(headers_only).await.unwrap();
    assert!(within("oversize close", closed_by_peer(&mut client)).await);

    // Headers that never end past the limit.
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    let endless = format!("OPTIONS sip:x SIP/2.0\r\nX: {}\r\n", "y".repeat(600));
    let _ = client.write_all(endless.as_bytes()).await;
    assert!(within("header flood close", closed_by_peer(&mut client)).await);

    let stats = Arc::clone(&r.t.stats);
    support::wait_until("oversize accounting", WAIT, async || {
        let s = stats.snapshot();
        s.tcp_oversize == 2 && s.tcp_framing_errors == 2 && s.tcp_open == 0
    })
    .await;
    assert!(rx.try_recv().is_err(), "an oversize message was delivered");
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_unframeable_message_closes_the_connection() {
    let (handler, mut rx) = recorder();
    let r = run(loopback_v4(), handler).await;
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    let good = request("ok", "");
    client.write_all(&good).await.unwrap();
    assert_eq!(next(&mut rx).await.bytes, Bytes::from(good));
    client
        .write_all(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: nolen\r\n\r\n")
        .await
        .unwrap();
    assert!(within("framing close", closed_by_peer(&mut client)).await);
    assert_eq!(r.stats().snapshot().tcp_framing_errors, 1);
    r.shutdown().await;
}

#[tokio::test]
async fn tcp_ping_gets_pong() {
    let (handler, mut rx) = recorder();
    let r = run(loopback_v4(), handler).await;
    let mut client = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    client.set_nodelay(true).unwrap();

    client.write_all(b"\r\n\r\n").await.unwrap();
    assert_eq!(read_exactly(&mut client, 2).await, b"\r\n");

    // A ping split across segments still earns exactly one pong.
    client.write_all(b"\r\n").await.unwrap();
    client.flush().await.unwrap();
    // Fixed: the second half must arrive as a segment of its own.
    sleep(Duration::from_millis(50)).await;
    client.write_all(b"\r\n").await.unwrap();
    assert_eq!(read_exactly(&mut client, 2).await, b"\r\n");

    // Two pings then a message in one write.
    let msg = request("after-ping", "");
    client
        .write_all(&[&b"\r\n\r\n\r\n\r\n"[..], &msg].concat())
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut client, 4).await, b"\r\n\r\n");
    assert_eq!(next(&mut rx).await.bytes, Bytes::from(msg));

    // Nothing more is owed.
    let mut extra = [0u8; 1];
    assert!(
        timeout(Duration::from_millis(100), client.read(&mut extra))
            .await
            .is_err(),
        "unexpected bytes after the pongs"
    );
    r.shutdown().await;
}

#[tokio::test]
async fn ipv6_loopback() {
    // Hosts without IPv6 loopback (some containers) cannot run this.
    if std::net::UdpSocket::bind("[::1]:0").is_err()
        || std::net::TcpListener::bind("[::1]:0").is_err()
    {
        eprintln!("skipping ipv6_loopback: no IPv6 loopback on this host");
        return;
    }
    let cfg = TransportConfig {
        listen: "[::1]:0".parse().unwrap(),
        ..TransportConfig::default()
    };
    let r = run(cfg, echo).await;
    assert!(r.t.udp_addr.is_ipv6() && r.t.tcp_addr.is_ipv6());
    assert_eq!(r.t.udp_addr.port(), r.t.tcp_addr.port());

    let udp = UdpSocket::bind("[::1]:0").await.unwrap();
    let msg = request("v6udp", "");
    udp.send_to(&msg, r.t.udp_addr).await.unwrap();
    let mut buf = vec![0u8; 2048];
    let (n, _) = within("UDP echo over IPv6", udp.recv_from(&mut buf))
        .await
        .unwrap();
    assert_eq!(&buf[..n], &msg[..]);

    let mut tcp = TcpStream::connect(r.t.tcp_addr).await.unwrap();
    let msg = request("v6tcp", "body");
    tcp.write_all(&msg).await.unwrap();
    assert_eq!(read_exactly(&mut tcp, msg.len()).await, msg);

    // An IPv6 listener cannot reach IPv4 destinations.
    let to = Outbound {
        dest: "127.0.0.1:5060".parse().unwrap(),
        proto: Proto::Udp,
        conn: None,
    };
    let err = r.t.sender.send(to, Bytes::from_static(b"x")).unwrap_err();
    assert!(matches!(err, SendError::AddressFamily { .. }), "{err}");
    r.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_every_task_and_refuses_sends() {
    let r = run(loopback_v4(), echo).await;
    let sender = r.t.sender.clone();
    let tcp_addr = r.t.tcp_addr;

    // Open connections in both directions must not hold shutdown up.
    let mut inbound = TcpStream::connect(tcp_addr).await.unwrap();
    inbound.write_all(b"\r\n\r\n").await.unwrap();
    assert_eq!(read_exactly(&mut inbound, 2).await, b"\r\n");
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = Outbound {
        dest: peer.local_addr().unwrap(),
        proto: Proto::Tcp,
        conn: None,
    };
    sender.send(to, Bytes::from(request("bye", ""))).unwrap();
    let (mut outbound, _) = within("outbound connect", peer.accept()).await.unwrap();

    r.shutdown().await;
    assert!(within("inbound close", closed_by_peer(&mut inbound)).await);
    assert!(within("outbound close", closed_by_peer(&mut outbound)).await);
    assert!(TcpStream::connect(tcp_addr).await.is_err());
    let err = sender.send(to, Bytes::from_static(b"x")).unwrap_err();
    assert!(matches!(err, SendError::Shutdown), "{err}");
    assert_eq!(sender.stats().snapshot().tcp_open, 0);
}

#[tokio::test]
async fn handler_panic_does_not_stop_the_udp_worker() {
    let handler = |msg: Inbound, tx: &Sender| {
        if msg.bytes.starts_with(b"PANIC") {
            panic!("handler bug");
        }
        tx.send(msg.reply_to(), msg.bytes.clone()).unwrap();
    };
    let cfg = TransportConfig {
        udp_workers: 1,
        ..loopback_v4()
    };
    let r = run(cfg, handler).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"PANIC", r.t.udp_addr).await.unwrap();
    let msg = request("survivor", "");
    client.send_to(&msg, r.t.udp_addr).await.unwrap();
    let mut buf = vec![0u8; 2048];
    let (n, _) = within("echo after a panic", client.recv_from(&mut buf))
        .await
        .unwrap();
    assert_eq!(&buf[..n], &msg[..]);
    r.shutdown().await;
}

/// Reads one response's header section from `stream`.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    within("a response", async {
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed early");
            head.push(byte[0]);
        }
    })
    .await;
    String::from_utf8(head).unwrap()
}

/// The `[sip]` TCP keys reach the daemon's transport: a host over its
/// share is turned away while another still gets answers from the proxy,
/// and a message dripped past the deadline closes its connection.
#[tokio::test]
async fn daemon_applies_the_tcp_keys() {
    let app = support::TestApp::spawn_with(
        support::Backend::Sqlite,
        &[
            ("PROTOCALL__SIP__MAX_TCP_CONNECTIONS_PER_SOURCE", "2"),
            ("PROTOCALL__SIP__TCP_MESSAGE_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let mut greedy = Vec::new();
    for _ in 0..2 {
        let mut c = connect_from("127.0.0.2", app.sip_tcp).await;
        served(&mut c).await;
        greedy.push(c);
    }
    let mut over = connect_from("127.0.0.2", app.sip_tcp).await;
    assert!(within("per-source close", closed_by_peer(&mut over)).await);

    let mut caller = connect_from("127.0.0.1", app.sip_tcp).await;
    let local = caller.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:{proxy} SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bKtcpkeys\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{local}>;tag=1\r\n\
         To: <sip:{proxy}>\r\n\
         Call-ID: tcp-keys\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        proxy = app.sip_tcp
    );
    caller.write_all(options.as_bytes()).await.unwrap();
    let head = read_head(&mut caller).await;
    assert!(head.starts_with("SIP/2.0 200 "), "{head}");

    // Half a request, then nothing: closed about a second later, long
    // before the idle timeout.
    let began = Instant::now();
    caller.write_all(b"OPTIONS sip:").await.unwrap();
    assert!(within("deadline close", closed_by_peer(&mut caller)).await);
    assert!(began.elapsed() >= Duration::from_millis(980));
}
