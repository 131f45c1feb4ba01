//! `memkv admin` against stand-in admin endpoints (plain HTTP and TLS) and closed ports.
//!
//! The stand-ins are real listeners on 127.0.0.1 answering canned reports; `memkv admin` is
//! given the data-plane address (admin port - 1), as an operator would.

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::{run, stderr, stdout};

fn status_report() -> Value {
    json!({
        "status": "healthy",
        "version": "RELEASE.2026-06-07T15-11-42Z",
        "uptime_seconds": 93_784,
        "storage": {
            "raw_bytes_total": 4_294_967_296_u64,
            "usable_bytes_total": 2_147_483_648_u64,
            "used_bytes_total": 1_610_612_736_u64,
            "keys": 1234
        },
        "connections": {"active": 7}
    })
}

/// What a stand-in answers for a path: status code and JSON body.
type Answer = fn(&str) -> (u16, Value);

fn healthy(path: &str) -> (u16, Value) {
    match path {
        "/v1/status" => (200, status_report()),
        "/v1/health" => (200, json!({"status": "healthy", "drives_online": 3})),
        _ => (404, json!({"error": "not found"})),
    }
}

fn unhealthy(path: &str) -> (u16, Value) {
    match path {
        "/v1/health" => (503, json!({"status": "unhealthy"})),
        other => healthy(other),
    }
}

/// Reads one request head and answers it; returns nothing on a broken connection.
fn answer<S: Read + Write>(stream: S, respond: Answer) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split(' ').nth(1).unwrap_or("/");
    let (status, body) = respond(path);
    let body = body.to_string();
    let stream = reader.get_mut();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// A plain-HTTP stand-in admin endpoint; returns the data-plane address to give `memkv`.
fn http_stand_in(respond: Answer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind stand-in");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream, respond);
        }
    });
    format!("127.0.0.1:{}", port - 1)
}

/// A data-plane address whose admin port has nothing listening.
fn closed_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("127.0.0.1:{}", port - 1)
}

#[test]
fn health_of_an_unreachable_server_exits_1_and_says_so() {
    let server = closed_server();
    let output = run(&["admin", "health", "--servers", &server]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let table = stdout(&output);
    let row = table.lines().nth(1).expect("a row for the server");
    assert!(row.starts_with(&server), "{row}");
    assert!(
        row.contains("unreachable: cannot connect to http://127.0.0.1:"),
        "{row}"
    );
    let error = stderr(&output);
    assert!(
        error.contains("1 of 1 server(s) could not be queried"),
        "{error}"
    );
    assert!(
        error.contains("admin port (data-plane port + 1)"),
        "{error}"
    );
}

#[test]
fn status_table_shows_each_server() {
    let up = http_stand_in(healthy);
    let down = closed_server();
    let servers = format!("{up},{down}");
    let output = run(&["admin", "status", "--servers", &servers]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "one server is down: {output:?}"
    );
    let table = stdout(&output);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for column in [
        "SERVER",
        "STATUS",
        "VERSION",
        "UPTIME",
        "KEYS",
        "USED / USABLE",
        "CONNECTIONS",
    ] {
        assert!(lines[0].contains(column), "{}", lines[0]);
    }
    let cells: Vec<&str> = lines[1]
        .split("  ")
        .filter(|cell| !cell.is_empty())
        .collect();
    assert_eq!(
        cells.iter().map(|cell| cell.trim()).collect::<Vec<_>>(),
        [
            up.as_str(),
            "healthy",
            "RELEASE.2026-06-07T15-11-42Z",
            "1d 2h",
            "1234",
            "1.5 GiB / 2.0 GiB",
            "7"
        ],
        "{table}"
    );
    assert!(
        lines[2].starts_with(&down) && lines[2].contains("unreachable:"),
        "{table}"
    );
}

#[test]
fn status_of_healthy_servers_exits_0_and_json_is_the_report() {
    let one = http_stand_in(healthy);
    let output = run(&["admin", "status", "--json", "--servers", &one]);
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    assert_eq!(report, status_report());

    let two = http_stand_in(healthy);
    let down = closed_server();
    let servers = format!("{one},{two},{down}");
    let output = run(&["admin", "--json", "status", "--servers", &servers]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let reports: Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    let reports = reports.as_array().expect("an array for several servers");
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[0], status_report());
    assert_eq!(reports[1], status_report());
    assert_eq!(reports[2]["address"], down.as_str());
    assert!(
        reports[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("unreachable: ")
    );
}

#[test]
fn unhealthy_server_fails_health_but_not_status() {
    let server = http_stand_in(unhealthy);
    let output = run(&["admin", "health", "--servers", &server]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let row = stdout(&output)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(row.contains("unhealthy"), "{row}");
    assert!(stderr(&output).contains("1 of 1 server(s) are not healthy"));

    let output = run(&["admin", "status", "--servers", &server]);
    assert!(output.status.success(), "{output:?}");

    let healthy_server = http_stand_in(healthy);
    let output = run(&["admin", "health", "--servers", &healthy_server]);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("drives_online=3"));
}

/// A TLS stand-in with a certificate for 127.0.0.1 issued by a fresh CA; returns the
/// data-plane address and the CA certificate PEM.
fn tls_stand_in() -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let config = Arc::new(config);

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind TLS stand-in");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            answer(
                rustls::StreamOwned::<_, TcpStream>::new(connection, tcp),
                healthy,
            );
        }
    });
    (format!("127.0.0.1:{}", port - 1), ca.pem())
}

#[test]
fn https_with_ca_cert_or_insecure() {
    let (server, ca_pem) = tls_stand_in();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();
    let ca_path = ca_path.to_str().unwrap();

    let output = run(&[
        "admin",
        "status",
        "--json",
        "--servers",
        &server,
        "--ca-cert",
        ca_path,
    ]);
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    assert_eq!(report, status_report());

    let output = run(&["admin", "health", "--servers", &server, "--insecure"]);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("healthy"));

    // Plain HTTP against the TLS endpoint gets no report.
    let output = run(&["admin", "health", "--servers", &server]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");

    // A CA file without certificates is a usage error.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let output = run(&[
        "admin",
        "status",
        "--servers",
        &server,
        "--ca-cert",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        stderr(&output).contains("contains no PEM certificate"),
        "{}",
        stderr(&output)
    );
}
