//! SIP over TLS (RFC 3261 §26.2, RFC 5630 §3): the server identity
//! (certificate chain and key from PEM files, swapped whole on reload) and
//! the TLS listener's accept loop. A connection that finished its handshake
//! runs exactly like a TCP one (`conn`), so framing, keep-alive pongs and
//! limits are the same; the registry keeps TLS connections apart from TCP
//! ones so that a request for a phone registered over TLS goes back over
//! its own TLS connection.
//!
//! Only server-side TLS: phones open connections to us. We open none, so
//! we need no trust anchors and check no client certificates (phones prove
//! who they are with digest, as over UDP and TCP).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::conn::{run_connection, Stream};
use super::tcp::{next_admitted, Slots, TcpOut};
use super::{bump, shutdown_requested, Proto, Sender, TaskToken};

/// A handshake must finish within this, or the connection (and the slot
/// it holds) goes: a peer that opens connections and says nothing must
/// not pin slots for the idle timeout.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} is not a PEM certificate chain: {detail}", path.display())]
    BadCertificate { path: PathBuf, detail: String },
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {detail}", path.display())]
    NoKey { path: PathBuf, detail: String },
    #[error("certificate {} and key {} do not make a TLS server identity: {source}", cert.display(), key.display())]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// The certificate and key phones see, reloadable while connections run:
/// a reload affects only handshakes that start after it.
#[derive(Clone)]
pub struct TlsIdentity {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Paths only: the key's bytes never reach a log.
        f.debug_struct("TlsIdentity")
            .field("cert", &self.cert_path)
            .field("key", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TlsIdentity {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.current, &other.current)
    }
}

impl Eq for TlsIdentity {}

impl TlsIdentity {
    /// Reads and checks both files; the error names the file at fault.
    pub fn load(cert: &Path, key: &Path) -> Result<TlsIdentity, TlsError> {
        let config = server_config(cert, key)?;
        Ok(TlsIdentity {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            current: Arc::new(RwLock::new(Arc::new(config))),
        })
    }

    /// Reads the same files again (a renewed certificate). On error the
    /// identity in use stays as it was.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.cert_path, &self.key_path)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        Ok(())
    }

    fn acceptor(&self) -> TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        TlsAcceptor::from(config)
    }
}

/// Checks that `cert` and `key` make a usable identity (`protocall check`).
pub fn check_files(cert: &Path, key: &Path) -> Result<(), TlsError> {
    server_config(cert, key).map(|_| ())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let cert_pem = read(cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: cert.to_path_buf(),
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let key_pem = read(key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::NoKey {
        path: key.to_path_buf(),
        detail: e.to_string(),
    })?;
    let identity_error = |source| TlsError::Identity {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    };
    // ring rather than the default aws-lc-rs: no cmake or NASM in the build.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(identity_error)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(identity_error)
}

/// Accepts until shutdown. The handshake runs in the connection's own task
/// under [`HANDSHAKE_TIMEOUT`], holding the connection's slots, so that a
/// slow or silent peer neither blocks this loop nor escapes the caps.
pub(super) async fn accept_loop(
    listener: TcpListener,
    identity: TlsIdentity,
    sender: Sender,
    mut shutdown: watch::Receiver<bool>,
    token: TaskToken,
) {
    let shared = Arc::clone(&sender.shared);
    while let Some((stream, remote, slot)) =
        next_admitted(&listener, &shared, &mut shutdown, Proto::Tls).await
    {
        tokio::spawn(handshake(
            stream,
            remote,
            identity.acceptor(),
            slot,
            sender.clone(),
            shutdown.clone(),
            token.clone(),
        ));
    }
}

async fn handshake(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    slot: Slots,
    sender: Sender,
    mut shutdown: watch::Receiver<bool>,
    token: TaskToken,
) {
    let stats = Arc::clone(&sender.shared.stats);
    let local = match stream.local_addr() {
        Ok(local) => super::canonical(local),
        Err(_) => return,
    };
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%remote, error = %e, "cannot set TCP_NODELAY");
    }
    let attempt = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let tls = tokio::select! {
        biased;
        _ = shutdown_requested(&mut shutdown) => return,
        result = attempt => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                bump(&stats.tls_handshake_errors);
                tracing::debug!(%remote, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                bump(&stats.tls_handshake_errors);
                tracing::debug!(%remote, "TLS handshake timed out");
                return;
            }
        },
    };
    bump(&stats.tls_accepted);
    let conn = TcpOut::inbound(&sender, slot, Proto::Tls, remote, shutdown, token);
    let (read, write) = tokio::io::split(tls);
    let stream = Stream {
        read: Box::new(read),
        write: Box::new(write),
        remote,
        local,
        proto: Proto::Tls,
    };
    run_connection(stream, sender, conn).await;
}
