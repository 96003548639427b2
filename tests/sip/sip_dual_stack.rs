//! One daemon on `[::]` serves IPv4 and IPv6 phones at once (dual stack):
//! the same port answers a request from 127.0.0.1 and from ::1, over UDP
//! and TCP, and IPv4 peers appear as IPv4 addresses (never
//! `::ffff:`-mapped) in Via `received`, which is what bans, bindings and
//! logs key them by.

use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(5);

fn options(via_host: &str, transport: &str, n: u32) -> String {
    format!(
        "OPTIONS sip:localhost SIP/2.0\r\nVia: SIP/2.0/{transport} {via_host};rport;branch=z9hG4bKds{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@localhost>;tag=p{n}\r\nTo: <sip:localhost>\r\n\
         Call-ID: dual-{n}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

fn top_via(answer: &str) -> &str {
    answer
        .lines()
        .find(|l| l.starts_with("Via:"))
        .unwrap_or_default()
}

async fn over_udp(bind: &str, to: SocketAddr, n: u32) -> String {
    let sock = tokio::net::UdpSocket::bind(bind).await.unwrap();
    let local = sock.local_addr().unwrap();
    sock.send_to(options(&local.to_string(), "UDP", n).as_bytes(), to)
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (len, from) = tokio::time::timeout(T, sock.recv_from(&mut buf))
        .await
        .expect("no answer over UDP")
        .unwrap();
    // The answer comes from the address we wrote to, in our own family.
    assert_eq!(from.ip(), to.ip());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

async fn over_tcp(to: SocketAddr, n: u32) -> String {
    let mut s = tokio::net::TcpStream::connect(to).await.unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(options(&local.to_string(), "TCP", n).as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let len = tokio::time::timeout(T, s.read(&mut buf))
        .await
        .expect("no answer over TCP")
        .unwrap();
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

#[tokio::test]
async fn one_listener_on_the_ipv6_wildcard_answers_ipv4_and_ipv6() {
    assert!(
        std::net::UdpSocket::bind("[::1]:0").is_ok(),
        "this test needs ::1 on the loopback interface"
    );
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("PROTOCALL__SIP__LISTEN", "[::]:0"),
            ("PROTOCALL__SIP__ADVERTISED_HOST", "localhost"),
        ],
    )
    .await;
    assert!(app.sip_udp.ip().is_unspecified() && app.sip_udp.is_ipv6());
    let port = app.sip_udp.port();
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();

    let a = over_udp("127.0.0.1:0", v4, 1).await;
    assert!(a.starts_with("SIP/2.0 200"), "{a}");
    let via = top_via(&a);
    assert!(via.contains("received=127.0.0.1"), "{via}");
    assert!(!a.contains("::ffff:"), "{a}");

    let a = over_udp("[::1]:0", v6, 2).await;
    assert!(a.starts_with("SIP/2.0 200"), "{a}");

    let a = over_tcp(v4, 3).await;
    assert!(a.starts_with("SIP/2.0 200"), "{a}");
    assert!(!a.contains("::ffff:"), "{a}");
    let a = over_tcp(v6, 4).await;
    assert!(a.starts_with("SIP/2.0 200"), "{a}");
}
