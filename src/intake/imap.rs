//! The IMAP side of the intake (`async-imap` on tokio): connect with
//! implicit TLS, STARTTLS or (loopback only) in the clear, log in, select a
//! folder, list and fetch the messages above a UID, wait with IDLE, and set
//! our keyword.
//!
//! Reading never changes the mailbox except for the `$ProtocallSeen`
//! keyword: bodies are fetched with `BODY.PEEK[]` (no `\Seen`), and no
//! command here stores `\Deleted`, expunges, copies or moves.

use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use crate::config::{ImapTls, IntakeSettings, Secret};

/// The keyword set on every message once the store holds what was made
/// of it.
pub const SEEN_KEYWORD: &str = "$ProtocallSeen";
/// A message larger than this is read by its header only (its body cannot
/// be searched for a protocol number, but it still makes its contact).
pub const MAX_MESSAGE_BYTES: u32 = 32 * 1024 * 1024;
/// Bodies fetched in one round trip, in bytes (messages are never split).
const FETCH_CHUNK_BYTES: u64 = 16 * 1024 * 1024;
/// Messages listed per sync: the rest wait for the next round.
const LIST_MAX: usize = 2000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Any one command: a server that stops answering is a reconnect.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("TLS with {host}: {source}")]
    Tls {
        host: String,
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    TlsSetup(String),
    #[error("login as {user} refused: {source}")]
    Login {
        user: String,
        source: async_imap::error::Error,
    },
    #[error("{what}: {source}")]
    Command {
        what: String,
        source: async_imap::error::Error,
    },
    #[error("{what}: the server did not answer within {secs} s")]
    Timeout { what: String, secs: u64 },
    #[error("folder {folder} has no UIDVALIDITY")]
    NoUidValidity { folder: String },
}

fn command(what: impl Into<String>) -> impl FnOnce(async_imap::error::Error) -> ImapError {
    let what = what.into();
    move |source| ImapError::Command { what, source }
}

async fn timed<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, ImapError>>,
) -> Result<T, ImapError> {
    tokio::time::timeout(COMMAND_TIMEOUT, f)
        .await
        .map_err(|_| ImapError::Timeout {
            what: what.to_string(),
            secs: COMMAND_TIMEOUT.as_secs(),
        })?
}

/// The connection, in the clear or in TLS.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type Session = async_imap::Session<Stream>;

/// The trust anchors: the configured CA file, else the system's store.
fn tls_config(cfg: &IntakeSettings) -> Result<Arc<rustls::ClientConfig>, ImapError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    if cfg.ca_file.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "intake: a system CA certificate could not be read");
        }
        roots.add_parsable_certificates(found.certs);
    } else {
        let certs = CertificateDer::pem_file_iter(&cfg.ca_file)
            .map_err(|e| ImapError::TlsSetup(format!("{}: {e}", cfg.ca_file)))?;
        for c in certs {
            let c = c.map_err(|e| ImapError::TlsSetup(format!("{}: {e}", cfg.ca_file)))?;
            roots
                .add(c)
                .map_err(|e| ImapError::TlsSetup(format!("{}: {e}", cfg.ca_file)))?;
        }
    }
    if roots.is_empty() {
        return Err(ImapError::TlsSetup(
            "no CA certificate to verify the server with (install ca-certificates or set \
             intake.ca_file)"
                .into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::TlsSetup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn tls_wrap(cfg: &IntakeSettings, tcp: TcpStream) -> Result<Stream, ImapError> {
    let host = cfg.host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| ImapError::TlsSetup(format!("intake.host {host}: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config(cfg)?);
    let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| ImapError::Timeout {
            what: "TLS handshake".into(),
            secs: CONNECT_TIMEOUT.as_secs(),
        })?
        .map_err(|source| ImapError::Tls {
            host: cfg.host.clone(),
            source,
        })?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// Reads the server's greeting, which comes before any command.
async fn greeting(client: &mut async_imap::Client<Stream>) -> Result<(), ImapError> {
    let g = tokio::time::timeout(CONNECT_TIMEOUT, client.read_response())
        .await
        .map_err(|_| ImapError::Timeout {
            what: "greeting".into(),
            secs: CONNECT_TIMEOUT.as_secs(),
        })?
        .map_err(|e| ImapError::Command {
            what: "greeting".into(),
            source: e.into(),
        })?;
    if g.is_none() {
        return Err(ImapError::Command {
            what: "greeting".into(),
            source: async_imap::error::Error::ConnectionLost,
        });
    }
    Ok(())
}

/// A logged-in session and whether the server has IDLE.
pub async fn connect(
    cfg: &IntakeSettings,
    password: &Secret,
) -> Result<(Session, bool), ImapError> {
    let connect_err = |source| ImapError::Connect {
        host: cfg.host.clone(),
        port: cfg.port,
        source,
    };
    let host = cfg.host.trim_start_matches('[').trim_end_matches(']');
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, cfg.port)))
        .await
        .map_err(|_| {
            connect_err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ))
        })?
        .map_err(connect_err)?;
    let client = match cfg.tls {
        ImapTls::Implicit => {
            let mut c = async_imap::Client::new(tls_wrap(cfg, tcp).await?);
            greeting(&mut c).await?;
            c
        }
        ImapTls::None => {
            let mut c = async_imap::Client::new(Stream::Plain(tcp));
            greeting(&mut c).await?;
            c
        }
        ImapTls::Starttls => {
            let mut c = async_imap::Client::new(Stream::Plain(tcp));
            greeting(&mut c).await?;
            timed("STARTTLS", async {
                c.run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(command("STARTTLS"))
            })
            .await?;
            let Stream::Plain(tcp) = c.into_inner() else {
                return Err(ImapError::TlsSetup("STARTTLS on a TLS stream".into()));
            };
            // No greeting after STARTTLS: the server waits for us.
            async_imap::Client::new(tls_wrap(cfg, tcp).await?)
        }
    };
    // Some servers announce capabilities only after login, so ask then.
    let mut session = timed("LOGIN", async {
        client
            .login(&cfg.username, password.expose())
            .await
            .map_err(|(source, _)| ImapError::Login {
                user: cfg.username.clone(),
                source,
            })
    })
    .await?;
    let caps = timed("CAPABILITY", async {
        session.capabilities().await.map_err(command("CAPABILITY"))
    })
    .await?;
    Ok((session, caps.has_str("IDLE")))
}

/// Selects `folder` read-write (for the keyword) and answers its
/// UIDVALIDITY.
pub async fn select(session: &mut Session, folder: &str) -> Result<u32, ImapError> {
    let what = format!("SELECT {folder}");
    let mailbox = timed(&what, async {
        session.select(folder).await.map_err(command(&what))
    })
    .await?;
    mailbox
        .uid_validity
        .ok_or_else(|| ImapError::NoUidValidity {
            folder: folder.to_string(),
        })
}

/// A message above the mark, as listed: its UID and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub uid: u32,
    pub size: u32,
}

/// The selected folder's messages with a UID above `after`, oldest first,
/// at most `LIST_MAX`.
pub async fn list_after(session: &mut Session, after: u32) -> Result<Vec<Listed>, ImapError> {
    let Some(from) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    let what = "UID FETCH (list)";
    let mut out = timed(what, async {
        let mut stream = session
            .uid_fetch(format!("{from}:*"), "(UID RFC822.SIZE)")
            .await
            .map_err(command(what))?;
        let mut out = Vec::new();
        while let Some(f) = stream.next().await {
            let f = f.map_err(command(what))?;
            // `n:*` always names the last message, even below n.
            if let Some(uid) = f.uid.filter(|u| *u > after) {
                out.push(Listed {
                    uid,
                    size: f.size.unwrap_or(0),
                });
            }
        }
        Ok(out)
    })
    .await?;
    out.sort_by_key(|l| l.uid);
    out.dedup_by_key(|l| l.uid);
    out.truncate(LIST_MAX);
    Ok(out)
}

/// A fetched message: its bytes (header only when it was too large;
/// `None` when the server sent none) and when the server received it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub uid: u32,
    pub raw: Option<Vec<u8>>,
    pub internal_ms: Option<i64>,
}

/// Groups listed messages into fetches of bounded size.
pub fn chunks(listed: &[Listed]) -> Vec<Vec<Listed>> {
    let mut out: Vec<Vec<Listed>> = Vec::new();
    let mut bytes = 0u64;
    for l in listed {
        let size = u64::from(l.size.min(MAX_MESSAGE_BYTES));
        match out.last_mut() {
            Some(c) if bytes + size <= FETCH_CHUNK_BYTES => {
                c.push(*l);
                bytes += size;
            }
            _ => {
                out.push(vec![*l]);
                bytes = size;
            }
        }
    }
    out
}

/// Fetches the messages without setting `\Seen` (BODY.PEEK).
pub async fn fetch(session: &mut Session, chunk: &[Listed]) -> Result<Vec<Fetched>, ImapError> {
    let (big, small): (Vec<&Listed>, Vec<&Listed>) =
        chunk.iter().partition(|l| l.size > MAX_MESSAGE_BYTES);
    let mut out = Vec::with_capacity(chunk.len());
    for (set, query, header_only) in [
        (small, "(UID INTERNALDATE BODY.PEEK[])", false),
        (big, "(UID INTERNALDATE BODY.PEEK[HEADER])", true),
    ] {
        if set.is_empty() {
            continue;
        }
        let uids = set
            .iter()
            .map(|l| l.uid.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let what = "UID FETCH (bodies)";
        let got = timed(what, async {
            let mut stream = session
                .uid_fetch(&uids, query)
                .await
                .map_err(command(what))?;
            let mut got = Vec::new();
            while let Some(f) = stream.next().await {
                let f = f.map_err(command(what))?;
                let Some(uid) = f.uid else { continue };
                let raw = if header_only { f.header() } else { f.body() };
                got.push(Fetched {
                    uid,
                    raw: raw.map(<[u8]>::to_vec),
                    internal_ms: f.internal_date().map(|d| d.timestamp_millis()),
                });
            }
            Ok(got)
        })
        .await?;
        out.extend(got);
    }
    // A UID the server did not answer for (expunged meanwhile) is still
    // passed on, without bytes, so the mark can move past it.
    for l in chunk {
        if !out.iter().any(|f| f.uid == l.uid) {
            out.push(Fetched {
                uid: l.uid,
                raw: None,
                internal_ms: None,
            });
        }
    }
    out.sort_by_key(|f| f.uid);
    Ok(out)
}

/// Sets our keyword on `uids` in the selected folder. Nothing else.
pub async fn mark_seen(session: &mut Session, uids: &[u32]) -> Result<(), ImapError> {
    if uids.is_empty() {
        return Ok(());
    }
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let what = "UID STORE +FLAGS";
    timed(what, async {
        let mut stream = session
            .uid_store(&set, format!("+FLAGS.SILENT ({SEEN_KEYWORD})"))
            .await
            .map_err(command(what))?;
        while let Some(r) = stream.next().await {
            r.map_err(command(what))?;
        }
        Ok(())
    })
    .await
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// Something changed, or it is time to look again.
    Look,
    /// The daemon is stopping.
    Stop,
}

/// Waits in IDLE on the selected folder for at most `max` (RFC 2177: the
/// command is re-issued at least every 29 minutes), or until `stop`.
pub async fn idle(
    session: Session,
    max: Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(Session, Woken), ImapError> {
    let max = max.min(Duration::from_secs(29 * 60));
    let mut handle = session.idle();
    timed("IDLE", async {
        handle.init().await.map_err(command("IDLE"))
    })
    .await?;
    let woken = {
        let (wait, _interrupt) = handle.wait_with_timeout(max);
        tokio::select! {
            r = wait => match r.map_err(command("IDLE"))? {
                IdleResponse::NewData(_) | IdleResponse::Timeout
                | IdleResponse::ManualInterrupt => Woken::Look,
            },
            _ = stop.changed() => Woken::Stop,
        }
    };
    let session = timed("DONE", async {
        handle.done().await.map_err(command("DONE"))
    })
    .await?;
    Ok((session, woken))
}

/// Drops what the server said unasked (EXISTS, FETCH of flags…): the
/// channel is bounded and what matters is read by UID anyway.
pub fn drain(session: &mut Session) {
    while session.unsolicited_responses.try_recv().is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_are_bounded_and_keep_every_message() {
        let l = |uid, size| Listed { uid, size };
        let listed = [
            l(1, 10),
            l(2, 10 * 1024 * 1024),
            l(3, 10 * 1024 * 1024),
            l(4, u32::MAX),
            l(5, 1),
        ];
        let c = chunks(&listed);
        let uids: Vec<Vec<u32>> = c
            .iter()
            .map(|c| c.iter().map(|l| l.uid).collect())
            .collect();
        assert_eq!(uids, [vec![1, 2], vec![3], vec![4], vec![5]]);
    }
}
