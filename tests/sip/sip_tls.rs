//! SIP over TLS through the real daemon (RFC 3261 §26, RFC 5630): a phone
//! registers over TLS and is reached over its own connection, for the
//! initial INVITE and for every in-dialog request, even though its Contact
//! names a port nothing listens on; Record-Route names us once per
//! transport; a renewed certificate is served after a reload and a broken
//! one is refused without touching the running one.

use crate::support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use protocall::sip::message::SipMessage;
use protocall::sip::parse::{frame_stream, parse, Frame, DEFAULT_MAX_MESSAGE_SIZE};
use protocall::sip::transport::{self, Inbound, Sender, TlsIdentity, TlsListen, TransportConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use support::sip_agent::{challenges_of, Agent};
use support::{Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

const T: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse";

/// A test CA and a certificate it signed for 127.0.0.1.
struct Pki {
    ca: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn pki(cn: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{cn} CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Pki {
        ca: ca.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn write_pki(dir: &Path, p: &Pki) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &p.cert_pem).unwrap();
    std::fs::write(&key, &p.key_pem).unwrap();
    (cert, key)
}

fn connector(ca: &CertificateDer<'static>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A phone on one TLS connection: raw messages out, framed messages in.
struct TlsPhone {
    tls: TlsStream<TcpStream>,
    buf: BytesMut,
    local: SocketAddr,
}

impl TlsPhone {
    async fn connect(ca: &CertificateDer<'static>, to: SocketAddr) -> Result<TlsPhone, String> {
        let tcp = TcpStream::connect(to).await.map_err(|e| e.to_string())?;
        let local = tcp.local_addr().map_err(|e| e.to_string())?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let tls = connector(ca)
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        Ok(TlsPhone {
            tls,
            buf: BytesMut::new(),
            local,
        })
    }

    async fn send(&mut self, text: &str) {
        self.tls.write_all(text.as_bytes()).await.unwrap();
    }

    async fn recv(&mut self) -> SipMessage {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            match frame_stream(&self.buf, DEFAULT_MAX_MESSAGE_SIZE).unwrap() {
                Frame::Message(n) => {
                    let bytes = self.buf.split_to(n).freeze();
                    return parse(bytes, false).unwrap();
                }
                Frame::KeepAlive { len, .. } => {
                    let _ = self.buf.split_to(len);
                    continue;
                }
                Frame::Incomplete => {}
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.tls.read(&mut chunk))
                .await
                .expect("nothing arrived over TLS in time")
                .unwrap();
            assert!(n > 0, "the daemon closed the TLS connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn header(m: &SipMessage, name: &str) -> String {
    m.header(name)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

fn all(m: &SipMessage, name: &str) -> Vec<String> {
    m.headers(name)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect()
}

/// The response to `req` the phone writes: its Vias, From, To (with a tag
/// when `tag`), Call-ID, CSeq, Record-Route copied, and its Contact.
fn answer(req: &SipMessage, code: u16, reason: &str, tag: Option<&str>, contact: &str) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for v in all(req, "Via") {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    for rr in all(req, "Record-Route") {
        out.push_str(&format!("Record-Route: {rr}\r\n"));
    }
    let to = header(req, "To");
    let to = match tag {
        Some(t) if !to.contains(";tag=") => format!("{to};tag={t}"),
        _ => to,
    };
    out.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: {contact}\r\nContent-Length: 0\r\n\r\n",
        header(req, "From"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
    ));
    out
}

async fn register(phone: &mut TlsPhone, tls: SocketAddr, user: &str, contact: &str) -> SipMessage {
    let via_host = phone.local;
    let base = |cseq: u32, auth: Option<&str>| {
        format!(
            "REGISTER sip:127.0.0.1:{port};transport=tls SIP/2.0\r\n\
             Via: SIP/2.0/TLS {via_host};branch=z9hG4bKreg{cseq};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=r1\r\nTo: <sip:{user}@127.0.0.1>\r\n\
             Call-ID: reg-{user}@tls\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\nExpires: 600\r\n\
             User-Agent: tls-test-phone\r\n{auth}Content-Length: 0\r\n\r\n",
            port = tls.port(),
            auth = auth
                .map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default(),
        )
    };
    phone.send(&base(1, None)).await;
    let challenge = phone.recv().await;
    assert_eq!(challenge.status(), Some(401));
    let c = challenges_of(&challenge).into_iter().next().unwrap();
    let uri = format!("sip:127.0.0.1:{};transport=tls", tls.port());
    let auth = c
        .authorization("REGISTER", &uri, user, PASSWORD, 1, "c0ffee")
        .unwrap();
    phone.send(&base(2, Some(&auth))).await;
    phone.recv().await
}

#[tokio::test]
async fn a_phone_on_tls_is_called_and_hung_up_over_its_own_connection() {
    let certs = tempfile::tempdir().unwrap();
    let p = pki("desk");
    let (cert, key) = write_pki(certs.path(), &p);
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("PROTOCALL__SIP__TLS__LISTEN", "127.0.0.1:0"),
            ("PROTOCALL__SIP__TLS__CERT", &cert),
            ("PROTOCALL__SIP__TLS__KEY", &key),
        ],
    )
    .await;
    app.add_consultants(&["ana"], PASSWORD).await;
    let tls = app.sip_tls.expect("the TLS listener runs");

    // The Contact names a port nothing listens on, as a phone behind NAT
    // or one that only dials out would: only the connection leads back.
    let mut phone = TlsPhone::connect(&p.ca, tls).await.unwrap();
    let contact = "<sip:ana@127.0.0.1:5999;transport=tls>";
    let ok = register(&mut phone, tls, "ana", contact).await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let binding = app
        .location
        .lookup("ana", chrono::Utc::now().timestamp_millis());
    assert_eq!(binding.len(), 1);
    assert_eq!(binding[0].proto, protocall::sip::transport::Proto::Tls);

    // A carrier on UDP (127.0.0.1 is a trusted peer in the tests) calls.
    let mut carrier = Agent::udp("carrier", app.sip_udp).await.unwrap();
    carrier.set_timeout(T);
    let call = carrier
        .invite(&format!("sip:ana@127.0.0.1:{}", app.sip_udp.port()))
        .await
        .unwrap();
    let invite = phone.recv().await;
    assert!(invite.is_request(), "{invite:?}");
    let top_via = all(&invite, "Via").into_iter().next().unwrap();
    assert!(
        top_via.starts_with(&format!("SIP/2.0/TLS 127.0.0.1:{}", tls.port())),
        "{top_via}"
    );
    // RFC 5658: one Record-Route per side, each with its transport.
    let rr = all(&invite, "Record-Route").join(", ");
    assert!(
        rr.contains(&format!("127.0.0.1:{};transport=tls;lr", tls.port()))
            && rr.contains(&format!("127.0.0.1:{};lr", app.sip_udp.port())),
        "{rr}"
    );
    phone
        .send(&answer(&invite, 180, "Ringing", Some("ph1"), contact))
        .await;
    phone
        .send(&answer(&invite, 200, "OK", Some("ph1"), contact))
        .await;
    let ok = carrier
        .final_response(protocall::sip::message::Method::Invite, T)
        .await
        .unwrap();
    assert_eq!(ok.status(), Some(200));
    // The Contact the carrier will address now carries the way back.
    assert!(
        header(&ok, "Contact").contains(";alias=127.0.0.1~"),
        "{ok:?}"
    );
    carrier.ack(&call, &ok).await.unwrap();
    let ack = phone.recv().await;
    assert_eq!(ack.method(), Some(protocall::sip::message::Method::Ack));
    // The alias is ours: the phone sees its own Contact as Request-URI.
    assert_eq!(
        ack.request_uri().unwrap(),
        b"sip:ana@127.0.0.1:5999;transport=tls"
    );

    carrier.bye(&call).await.unwrap();
    let bye = phone.recv().await;
    assert_eq!(bye.method(), Some(protocall::sip::message::Method::Bye));
    phone.send(&answer(&bye, 200, "OK", None, contact)).await;
    let done = carrier
        .final_response(protocall::sip::message::Method::Bye, T)
        .await;
    let done = done.unwrap_or_else(|e| panic!("no answer to the BYE: {e}"));
    assert_eq!(done.status(), Some(200));
}

#[tokio::test]
async fn wrong_certificates_never_reach_the_registrar() {
    let certs = tempfile::tempdir().unwrap();
    let p = pki("desk");
    let (cert, key) = write_pki(certs.path(), &p);
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("PROTOCALL__SIP__TLS__LISTEN", "127.0.0.1:0"),
            ("PROTOCALL__SIP__TLS__CERT", &cert),
            ("PROTOCALL__SIP__TLS__KEY", &key),
        ],
    )
    .await;
    let tls = app.sip_tls.unwrap();
    // A phone that trusts another CA refuses the handshake.
    let stranger = pki("someone else");
    let refused = TlsPhone::connect(&stranger.ca, tls).await;
    assert!(refused.is_err());
    // Plain SIP on the TLS port is not a handshake: the connection goes.
    let mut plain = TcpStream::connect(tls).await.unwrap();
    plain
        .write_all(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n\r\n")
        .await
        .unwrap();
    let mut b = [0u8; 64];
    let n = tokio::time::timeout(T, plain.read(&mut b)).await.unwrap();
    assert!(
        !matches!(n, Ok(k) if k > 0 && b.starts_with(b"SIP/2.0")),
        "plain SIP answered on the TLS port"
    );
    let metrics = app.get_text("/metrics").await;
    let errors = metrics
        .lines()
        .find_map(|l| l.strip_prefix("protocall_tls_handshake_errors_total "))
        .unwrap_or("0");
    assert!(errors.parse::<u64>().unwrap() >= 1, "{metrics}");
}

/// Echoes nothing: the reload test needs only handshakes.
fn ignore(_: Inbound, _: &Sender) {}

async fn served_cn(ca: &CertificateDer<'static>, to: SocketAddr) -> Result<String, String> {
    let phone = TlsPhone::connect(ca, to).await?;
    let (_, conn) = phone.tls.get_ref();
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no certificate")?;
    // The CN is in the DER as plain UTF-8; good enough to tell two apart.
    let der = leaf.as_ref();
    for cn in ["desk-renewed", "desk-first"] {
        if der.windows(cn.len()).any(|w| w == cn.as_bytes()) {
            return Ok(cn.to_string());
        }
    }
    Err("unknown certificate".into())
}

#[tokio::test]
async fn a_renewed_certificate_is_served_after_reload_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Both certificates from one CA, as a renewal is.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn.to_string());
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        Pki {
            ca: ca.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    };
    let first = leaf("desk-first");
    let (cert, key) = write_pki(dir.path(), &first);
    let identity = TlsIdentity::load(&cert, &key).unwrap();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let transports = transport::start(
        TransportConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Some(TlsListen {
                listen: "127.0.0.1:0".parse().unwrap(),
                identity: identity.clone(),
            }),
            ..TransportConfig::default()
        },
        Arc::new(ignore),
        stop,
    )
    .await
    .unwrap();
    let at = transports.tls_addr.unwrap();
    assert_eq!(served_cn(&first.ca, at).await.unwrap(), "desk-first");

    let renewed = leaf("desk-renewed");
    write_pki(dir.path(), &renewed);
    identity.reload().unwrap();
    assert_eq!(served_cn(&first.ca, at).await.unwrap(), "desk-renewed");

    // A half-written renewal (key of another certificate, or garbage):
    // refused, and the running certificate stays.
    std::fs::write(&key, &first.key_pem).unwrap();
    let e = identity.reload().unwrap_err().to_string();
    assert!(e.contains("do not make a TLS server identity"), "{e}");
    std::fs::write(&cert, "not a certificate").unwrap();
    let e = identity.reload().unwrap_err().to_string();
    assert!(e.contains("no PEM certificate"), "{e}");
    assert_eq!(served_cn(&first.ca, at).await.unwrap(), "desk-renewed");
}
