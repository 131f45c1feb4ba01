//! The admin HTTP(S) API on `network.address` port + 1: `GET /v1/health` (liveness, JSON),
//! `/v1/ready` (readiness), `/v1/status` (JSON) and `/v1/metrics` (Prometheus text).
//!
//! The server reads everything through the [`AdminSource`] trait, so it knows nothing about
//! the store or the data plane. It speaks HTTP/1.1 over plain TCP or, with a certificate and
//! key ([`load_tls`]), over TLS (rustls with the `ring` provider). When the shutdown future
//! resolves it stops accepting, lets in-flight requests finish, and returns.

mod routes;
mod tls;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

pub use crate::config::TlsSettings;
pub use routes::{ENDPOINTS, METRICS_CONTENT_TYPE};
pub use tls::load_tls;

use crate::status::{HealthReport, StatusReport};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// What the admin API reports. Implemented by the server over its store, metrics and config.
/// Methods are called on the async runtime and should return quickly.
pub trait AdminSource: Send + Sync + 'static {
    /// Body of `/v1/health`; its status picks the HTTP code (503 when unhealthy).
    fn health(&self) -> HealthReport;
    /// Whether `/v1/ready` answers 200 `ok` (else 503 `not ready`).
    fn ready(&self) -> bool;
    /// Body of `/v1/status`.
    fn status(&self) -> StatusReport;
    /// Body of `/v1/metrics`: the Prometheus text exposition.
    fn metrics_text(&self) -> String;
}

/// Why the admin API could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The certificate file could not be read.
    #[error("cannot read the admin TLS certificate {} (network.tls_cert): {error}", path.display())]
    ReadCert {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// The key file could not be read.
    #[error("cannot read the admin TLS key {} (network.tls_key): {error}", path.display())]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// A file is not valid PEM.
    #[error("the admin TLS {what} {} is not valid PEM: {message}", path.display())]
    BadPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The PEM parser's message.
        message: String,
    },
    /// The certificate file holds no certificate.
    #[error(
        "the admin TLS certificate {} (network.tls_cert) holds no PEM certificate; expected a `-----BEGIN CERTIFICATE-----` block",
        path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error(
        "the admin TLS key {} (network.tls_key) holds no PEM private key; expected a PKCS#8, PKCS#1 or SEC1 `-----BEGIN ... PRIVATE KEY-----` block",
        path.display()
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the certificate and key, e.g. because they do not belong together.
    #[error(
        "the admin TLS certificate {} and key {} cannot be used: {error}; check that the key belongs to the certificate",
        cert.display(),
        key.display()
    )]
    CertificateKey {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        error: rustls::Error,
    },
}

/// Serves the admin API on `listener` until `shutdown` resolves: HTTPS when `tls` is given
/// (see [`load_tls`]), plain HTTP otherwise. After `shutdown` it accepts no new connections,
/// lets requests in flight finish, closes idle connections, and returns `Ok(())`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    source: Arc<dyn AdminSource>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AdminError> {
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let connection = handle_connection(
                        stream,
                        peer,
                        acceptor.clone(),
                        Arc::clone(&source),
                        graceful.watcher(),
                    );
                    tokio::spawn(connection);
                }
                Err(error) if is_per_connection(&error) => {
                    tracing::debug!("admin API: accept failed: {error}");
                }
                Err(error) => {
                    tracing::warn!("admin API: cannot accept connections: {error}; retrying");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    tracing::debug!(
        connections = graceful.count(),
        "admin API: stopped accepting; finishing in-flight requests"
    );
    graceful.shutdown().await;
    Ok(())
}

/// Accept errors caused by one client, not by the server.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

async fn handle_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    source: Arc<dyn AdminSource>,
    watcher: Watcher,
) {
    let _ = stream.set_nodelay(true);
    match acceptor {
        None => serve_http(stream, peer, source, watcher).await,
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => serve_http(tls, peer, source, watcher).await,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, "admin API: TLS handshake failed: {error}");
                }
                Err(_) => tracing::debug!(%peer, "admin API: TLS handshake timed out"),
            }
        }
    }
}

async fn serve_http<S>(stream: S, peer: SocketAddr, source: Arc<dyn AdminSource>, watcher: Watcher)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let response = routes::respond(&*source, request.method(), request.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%peer, "admin API: connection error: {error}");
    }
}
