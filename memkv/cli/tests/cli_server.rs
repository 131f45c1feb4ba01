//! The `memkv` binary as an operator uses it: starting with good and bad configurations, the
//! admin and kv commands against a live server, and the admin API over HTTPS.

mod common;

use std::process::{Command, Output};

use common::{Server, ServerOptions, memkv_bin, random_key_hex};

fn memkv(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(memkv_bin());
    cmd.args(args)
        .env_remove("MEMKV_SERVERS")
        .env_remove("MEMKV_CONFIG")
        .env_remove("MEMKV_AUTH_KEY")
        .env_remove("MEMKV_AUTH_KEY_FILE");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run memkv")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn start_expecting_failure(yaml: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    memkv(&["start", "--config", path.to_str().unwrap()], &[])
}

#[test]
fn config_errors_name_the_key_and_exit_2() {
    let out = start_expecting_failure("network:\n  adress: 127.0.0.1:0\n");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("network.adress"), "{err}");
    assert!(err.contains("address"), "the known keys are listed: {err}");

    let out = start_expecting_failure("memory:\n  max_size: 12 parsecs\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("memory.max_size"),
        "{}",
        text(&out.stderr)
    );

    let out =
        start_expecting_failure("network:\n  address: 127.0.0.1:0\n  tls_cert: /nonexistent.pem\n");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("network.tls_cert") && err.contains("network.tls_key"),
        "{err}"
    );

    let out = memkv(&["start", "--config", "/nonexistent/memkv.yaml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/memkv.yaml"));
}

#[test]
fn a_public_address_without_a_key_refuses_to_start_and_says_how_to_make_one() {
    let out = start_expecting_failure("network:\n  address: 0.0.0.0:0\n");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("network.auth_key") && err.contains("openssl rand -hex 32"),
        "{err}"
    );
}

#[test]
fn a_public_address_takes_its_key_from_the_environment_or_a_key_file() {
    // The container image's config: all interfaces, no key in the file.
    let key_hex = random_key_hex();
    for by_file in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, "network:\n  address: 0.0.0.0:0\n").unwrap();
        let key_file = dir.path().join("auth-key");
        std::fs::write(&key_file, format!("{key_hex}\n")).unwrap();
        let mut cmd = Command::new(memkv_bin());
        cmd.arg("start")
            .arg("--config")
            .arg(&config_path)
            .env_remove("MEMKV_AUTH_KEY")
            .env_remove("MEMKV_AUTH_KEY_FILE");
        if by_file {
            cmd.env("MEMKV_AUTH_KEY_FILE", &key_file);
        } else {
            cmd.env("MEMKV_AUTH_KEY", &key_hex);
        }
        let server = Server::spawn(cmd, key_hex.clone(), dir, config_path);
        assert!(server.banner.contains("auth=key "), "{}", server.banner);
        assert!(!server.stderr().contains(&key_hex), "the key was logged");
        let servers = format!("127.0.0.1:{}", server.data.port());
        let env = [
            ("MEMKV_SERVERS", servers.as_str()),
            ("MEMKV_AUTH_KEY", key_hex.as_str()),
        ];
        let out = memkv(&["kv", "put", "env-key", "works"], &env);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = memkv(&["kv", "get", "env-key"], &env);
        assert_eq!(text(&out.stdout), "works");
        // A client with another key is refused.
        let wrong = random_key_hex();
        let env = [
            ("MEMKV_SERVERS", servers.as_str()),
            ("MEMKV_AUTH_KEY", wrong.as_str()),
        ];
        let out = memkv(&["kv", "get", "env-key"], &env);
        assert!(!out.status.success(), "{}", text(&out.stdout));
    }

    // A bad key in the environment stops the server (exit 2) without echoing it.
    let bad = format!("{}zz", &key_hex[..62]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "network:\n  address: 0.0.0.0:0\n").unwrap();
    let out = memkv(
        &["start", "--config", path.to_str().unwrap()],
        &[("MEMKV_AUTH_KEY", bad.as_str())],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("MEMKV_AUTH_KEY"), "{err}");
    assert!(!err.contains(&bad[..40]), "{err}");
}

#[test]
fn a_bad_tls_certificate_fails_at_startup_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let out = start_expecting_failure(&format!(
        "network:\n  address: 127.0.0.1:0\n  tls_cert: {}\n  tls_key: {}\n",
        cert.display(),
        key.display()
    ));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cert.pem"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_embedded_default_runs_without_a_config_file() {
    // `memkv start` with no flag and no /etc/memkv/config.yaml: loopback 9900, memory mode.
    if std::path::Path::new("/etc/memkv/config.yaml").exists() {
        panic!("this test needs /etc/memkv/config.yaml to be absent (a package install left one?)");
    }
    let mut cmd = Command::new(memkv_bin());
    cmd.arg("start")
        .env_remove("MEMKV_AUTH_KEY")
        .env_remove("MEMKV_AUTH_KEY_FILE");
    let server = Server::spawn(
        cmd,
        String::new(),
        tempfile::tempdir().unwrap(),
        "embedded".into(),
    );
    assert!(
        server.banner.contains("config=embedded default"),
        "{}",
        server.banner
    );
    assert!(
        server.banner.contains("storage=memory"),
        "{}",
        server.banner
    );
    assert!(
        server.banner.contains("auth=loopback dev key"),
        "{}",
        server.banner
    );
    assert!(server.banner.contains("try:"), "{}", server.banner);
    assert_eq!(server.data.to_string(), "127.0.0.1:9900");
    assert_eq!(server.admin.to_string(), "127.0.0.1:9901");
    // A client with no key reaches it through the shared loopback development key.
    let out = memkv(&["kv", "put", "hello", "world"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = memkv(&["kv", "get", "hello"], &[]);
    assert_eq!(text(&out.stdout), "world");
}

#[test]
fn kv_commands_round_trip_through_the_client_engine() {
    let server = Server::start();
    let servers = server.data.to_string();
    let env = [
        ("MEMKV_SERVERS", servers.as_str()),
        ("MEMKV_AUTH_KEY", server.key_hex.as_str()),
    ];
    let out = memkv(&["kv", "put", "greeting", "hello world"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = memkv(&["kv", "get", "greeting"], &env);
    assert_eq!(text(&out.stdout), "hello world");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    let blob: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file, &blob).unwrap();
    let out = memkv(
        &["kv", "put", "blob", "--file", file.to_str().unwrap()],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let back = dir.path().join("back");
    let out = memkv(
        &["kv", "get", "blob", "--output", back.to_str().unwrap()],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&back).unwrap(), blob);

    let out = memkv(&["kv", "stat", "blob"], &env);
    let stat = text(&out.stdout);
    assert!(
        stat.contains("3000000 bytes") && stat.contains(&servers),
        "{stat}"
    );

    let out = memkv(&["kv", "exists", "greeting", "nope"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "greeting\tyes\nnope\tno\n");

    assert!(memkv(&["kv", "rm", "greeting"], &env).status.success());
    let out = memkv(&["kv", "get", "greeting"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not found"));

    // The wrong key: a runtime failure that says what to do.
    let wrong = random_key_hex();
    let out = memkv(
        &["kv", "get", "blob"],
        &[
            ("MEMKV_SERVERS", servers.as_str()),
            ("MEMKV_AUTH_KEY", wrong.as_str()),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("auth"), "{}", text(&out.stderr));
}

#[test]
fn admin_status_and_health_read_a_live_server() {
    let server = Server::start();
    let servers = server.data.to_string();
    let env = [
        ("MEMKV_SERVERS", servers.as_str()),
        ("MEMKV_AUTH_KEY", server.key_hex.as_str()),
    ];
    for i in 0..10 {
        assert!(
            memkv(&["kv", "put", &format!("k{i}"), "v"], &env)
                .status
                .success()
        );
    }
    let out = memkv(&["admin", "status", "--servers", &servers], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains(&servers), "{table}");
    assert!(
        table.contains("DEVELOPMENT.") || table.contains("RELEASE."),
        "the version is shown: {table}"
    );

    let out = memkv(&["admin", "status", "--json", "--servers", &servers], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = if json.is_array() {
        json[0].clone()
    } else {
        json
    };
    assert_eq!(status["storage"]["keys"], 10, "{status}");
    assert!(status["storage"]["usable_bytes_total"].as_u64().unwrap() > 0);
    assert!(
        status["ops"]["put"]["requests"].as_u64().unwrap() >= 10,
        "{status}"
    );

    let out = memkv(&["admin", "health", "--servers", &servers], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("healthy"));
    let (code, body) = server.admin_get("/v1/health");
    assert_eq!(code, 200);
    assert!(body.contains("\"status\":\"healthy\""), "{body}");
    assert_eq!(server.admin_get("/v1/ready"), (200, "ok".to_owned()));
    let (code, metrics) = server.admin_get("/v1/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("memkv_requests_total{op=\"put\",status=\"ok\"} 10"),
        "{metrics}"
    );
    assert!(metrics.contains("memkv_keys 10"), "{metrics}");
}

#[test]
fn the_admin_api_serves_https_with_a_throwaway_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let server = Server::start_with(ServerOptions {
        network_extra: format!(
            "  tls_cert: {}\n  tls_key: {}\n",
            cert_path.display(),
            key_path.display()
        ),
        ..Default::default()
    });
    assert!(
        server
            .banner
            .contains(&format!("admin=https://{}", server.admin)),
        "{}",
        server.banner
    );
    let servers = server.data.to_string();
    let out = memkv(
        &[
            "admin",
            "health",
            "--servers",
            &servers,
            "--ca-cert",
            cert_path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("healthy"));
    // Without trusting the certificate the client refuses.
    let out = memkv(
        &[
            "admin",
            "health",
            "--servers",
            &format!("https://{servers}"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}
