//! Admin API over real sockets: every endpoint over plain HTTP, HTTPS with a throwaway
//! certificate, plain HTTP refused on the TLS port, certificate loading errors, and graceful
//! shutdown finishing a request in flight.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use memkv_server::admin::{self, AdminError, AdminSource, METRICS_CONTENT_TYPE};
use memkv_server::config::{ConfigError, IntegrityMode, ServerConfig, StorageMode};
use memkv_server::status::{
    ConnectionsReport, HealthReport, HealthStatus, MemoryReport, StatusReport, StorageReport,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A source with settable answers; `status` can be made to wait for the test.
struct TestSource {
    health: Mutex<HealthStatus>,
    ready: AtomicBool,
    /// When set, `status` reports that it started, then waits for a release message.
    status_gate: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl TestSource {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            health: Mutex::new(HealthStatus::Healthy),
            ready: AtomicBool::new(true),
            status_gate: Mutex::new(None),
        })
    }
}

impl AdminSource for TestSource {
    fn health(&self) -> HealthReport {
        HealthReport {
            status: *self.health.lock().unwrap(),
            rdma_active: false,
            drives_online: 0,
            drives_offline: 0,
            drives_total: 0,
        }
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn status(&self) -> StatusReport {
        if let Some((started, release)) = self.status_gate.lock().unwrap().take() {
            started.send(()).unwrap();
            release.recv().unwrap();
        }
        StatusReport {
            version: "test-version".into(),
            uptime_seconds: 42,
            address: "127.0.0.1:9900".parse().unwrap(),
            admin_address: "127.0.0.1:9901".parse().unwrap(),
            storage_mode: StorageMode::Memory,
            integrity: IntegrityMode::Mac,
            memory: MemoryReport {
                max_size: 1 << 30,
                block_size: 2 << 20,
            },
            storage: StorageReport {
                engine: "memory".into(),
                raw_bytes_total: 1 << 30,
                ..Default::default()
            },
            connections: ConnectionsReport {
                active: 3,
                total: 9,
                rejected: 1,
            },
            ops: BTreeMap::new(),
        }
    }

    fn metrics_text(&self) -> String {
        "# HELP memkv_keys Keys stored.\n# TYPE memkv_keys gauge\nmemkv_keys 7\n".into()
    }
}

/// A running admin server on an ephemeral loopback port.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), AdminError>>,
}

impl Running {
    async fn start(source: Arc<TestSource>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(admin::serve(listener, tls, source, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn shut_down(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Reply {
    code: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// Sends one request with `Connection: close` and reads the whole response.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    method: &str,
    path: &str,
) -> Reply {
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("response without header end");
    let mut lines = head.lines();
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let code = status_line[9..12].parse().unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    Reply {
        code,
        headers,
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    exchange(TcpStream::connect(addr).await.unwrap(), "GET", path).await
}

#[tokio::test]
async fn every_endpoint_answers_over_plain_http() {
    let source = TestSource::new();
    let server = Running::start(Arc::clone(&source), None).await;

    let health = get(server.addr, "/v1/health").await;
    assert_eq!(health.code, 200);
    assert_eq!(health.headers["content-type"], "application/json");
    let report: HealthReport = serde_json::from_str(&health.body).unwrap();
    assert_eq!(report.status, HealthStatus::Healthy);

    *source.health.lock().unwrap() = HealthStatus::Degraded;
    assert_eq!(get(server.addr, "/v1/health").await.code, 200);
    *source.health.lock().unwrap() = HealthStatus::Unhealthy;
    let unhealthy = get(server.addr, "/v1/health").await;
    assert_eq!(unhealthy.code, 503);
    assert!(
        unhealthy.body.contains(r#""status":"unhealthy""#),
        "{}",
        unhealthy.body
    );

    let ready = get(server.addr, "/v1/ready").await;
    assert_eq!((ready.code, ready.body.as_str()), (200, "ok"));
    source.ready.store(false, Ordering::SeqCst);
    let not_ready = get(server.addr, "/v1/ready").await;
    assert_eq!(
        (not_ready.code, not_ready.body.as_str()),
        (503, "not ready")
    );

    let status = get(server.addr, "/v1/status").await;
    assert_eq!(status.code, 200);
    let report: StatusReport = serde_json::from_str(&status.body).unwrap();
    assert_eq!(report.version, "test-version");
    assert_eq!(report.connections.total, 9);
    let json: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(json["storage"]["raw_bytes_total"], 1u64 << 30);

    let metrics = get(server.addr, "/v1/metrics").await;
    assert_eq!(metrics.code, 200);
    assert_eq!(metrics.headers["content-type"], METRICS_CONTENT_TYPE);
    assert!(METRICS_CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
    assert!(metrics.body.ends_with("memkv_keys 7\n"));

    server.shut_down().await;
}

#[tokio::test]
async fn unknown_paths_are_404_json_and_other_methods_405() {
    let server = Running::start(TestSource::new(), None).await;

    let missing = get(server.addr, "/v1/nope").await;
    assert_eq!(missing.code, 404);
    assert_eq!(missing.headers["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_str(&missing.body).unwrap();
    assert!(json["error"].as_str().unwrap().contains("/v1/nope"));
    assert_eq!(json["endpoints"][0], "/v1/health");

    let post = exchange(
        TcpStream::connect(server.addr).await.unwrap(),
        "POST",
        "/v1/status",
    )
    .await;
    assert_eq!(post.code, 405);
    assert_eq!(post.headers["allow"], "GET");
    let json: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    assert!(json["error"].as_str().unwrap().contains("POST"));

    // A query string does not change the route.
    assert_eq!(get(server.addr, "/v1/ready?verbose=1").await.code, 200);
    server.shut_down().await;
}

/// A throwaway certificate for `localhost` and its key, written as PEM files.
struct TestCert {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
}

impl TestCert {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("memkv-admin-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.join("admin.crt");
        let key = dir.join("admin.key");
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        Self {
            dir,
            cert,
            key,
            der: certified.cert.der().clone(),
        }
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client_trusting(der: &rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn https_works_with_a_trusted_certificate_and_plain_http_is_refused() {
    let cert = TestCert::new("https");
    let tls = admin::load_tls(&cert.cert, &cert.key).unwrap();
    let server = Running::start(TestSource::new(), Some(tls)).await;
    let connector = client_trusting(&cert.der);

    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let reply = exchange(stream, "GET", "/v1/ready").await;
    assert_eq!((reply.code, reply.body.as_str()), (200, "ok"));

    // Plain HTTP to the TLS port gets no HTTP response (a TLS alert or a closed connection).
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET /v1/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw).await;
    assert!(
        !raw.starts_with(b"HTTP/"),
        "plain HTTP was answered: {raw:?}"
    );

    // The server still serves TLS clients afterwards.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(exchange(stream, "GET", "/v1/health").await.code, 200);

    server.shut_down().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_fails() {
    let cert = TestCert::new("untrusted");
    let other = TestCert::new("other");
    let server = Running::start(
        TestSource::new(),
        Some(admin::load_tls(&cert.cert, &cert.key).unwrap()),
    )
    .await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let result = client_trusting(&other.der)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    assert!(result.is_err());
    server.shut_down().await;
}

#[test]
fn half_configured_tls_is_a_config_error_naming_both_keys() {
    for (set, missing) in [
        ("network.tls_cert", "network.tls_key"),
        ("network.tls_key", "network.tls_cert"),
    ] {
        let key_name = set.strip_prefix("network.").unwrap();
        let yaml = format!("network:\n  address: 127.0.0.1:9900\n  {key_name}: /etc/memkv/x.pem\n");
        let error = ServerConfig::from_yaml_str(&yaml).unwrap_err();
        assert!(
            matches!(&error, ConfigError::TlsIncomplete { set: s, missing: m } if *s == set && *m == missing),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("network.tls_cert") && message.contains("network.tls_key"));
    }
}

fn assert_path_error(error: &AdminError, want: &Path) {
    assert!(
        error.to_string().contains(&want.display().to_string()),
        "message does not name {}: {error}",
        want.display()
    );
}

#[test]
fn unreadable_or_wrong_files_fail_with_the_path() {
    let cert = TestCert::new("errors");
    let missing = cert.dir.join("missing.crt");

    let error = admin::load_tls(&missing, &cert.key).unwrap_err();
    assert!(
        matches!(&error, AdminError::ReadCert { path, .. } if *path == missing),
        "{error:?}"
    );
    assert_path_error(&error, &missing);

    let error = admin::load_tls(&cert.cert, &missing).unwrap_err();
    assert!(
        matches!(&error, AdminError::ReadKey { path, .. } if *path == missing),
        "{error:?}"
    );
    assert_path_error(&error, &missing);

    // The key file is not a certificate, and the certificate file is not a key.
    let error = admin::load_tls(&cert.key, &cert.key).unwrap_err();
    assert!(
        matches!(&error, AdminError::NoCertificate { path } if *path == cert.key),
        "{error:?}"
    );
    let error = admin::load_tls(&cert.cert, &cert.cert).unwrap_err();
    assert!(
        matches!(&error, AdminError::NoPrivateKey { path } if *path == cert.cert),
        "{error:?}"
    );

    // A key that belongs to another certificate.
    let other = TestCert::new("errors-other");
    let error = admin::load_tls(&cert.cert, &other.key).unwrap_err();
    assert!(
        matches!(&error, AdminError::CertificateKey { .. }),
        "{error:?}"
    );
    assert_path_error(&error, &cert.cert);
    assert_path_error(&error, &other.key);

    // Broken PEM.
    let broken = cert.dir.join("broken.crt");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let error = admin::load_tls(&broken, &cert.key).unwrap_err();
    assert!(
        matches!(&error, AdminError::BadPem { path, .. } if *path == broken),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight_then_stops_listening() {
    let source = TestSource::new();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    *source.status_gate.lock().unwrap() = Some((started_tx, release_rx));
    let server = Running::start(Arc::clone(&source), None).await;
    let addr = server.addr;

    let client = tokio::spawn(get(addr, "/v1/status"));
    // Wait until the server is inside `status()` for this request.
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    let Running { stop, task, .. } = server;
    stop.unwrap().send(()).unwrap();
    release_tx.send(()).unwrap();

    let reply = client.await.unwrap();
    assert_eq!(reply.code, 200);
    let report: StatusReport = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(report.uptime_seconds, 42);
    task.await.unwrap().unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still listening after shutdown"
    );
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections() {
    let server = Running::start(TestSource::new(), None).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /v1/ready HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    // The connection is now idle and kept alive; shutdown must not wait for the client.
    server.shut_down().await;
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest).await;
}
