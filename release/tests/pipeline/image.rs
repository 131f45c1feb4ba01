//! The container image: `skopeo inspect` of the OCI layout (index, platforms, labels),
//! `umoci unpack` + a chroot run of `memkv -V`, and `docker load` + `docker run` of the
//! archive with a put/get from the host against the container.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::harness::{Arch, TAG, cmd, output_any, release, run, scratch, stdout};
use crate::server;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn skopeo_inspects_the_multi_arch_layout() {
    let release = release();
    let layout = release.dist.join("oci");
    let reference = format!("oci:{}:{TAG}", layout.display());
    let raw = json(&stdout(
        cmd("skopeo").args(["inspect", "--raw", &reference]),
    ));
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let platforms: Vec<String> = raw["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap_or(""),
                m["platform"]["architecture"].as_str().unwrap_or("")
            )
        })
        .collect();
    for &arch in &release.arches {
        assert!(
            platforms.contains(&format!("linux/{}", arch.debian())),
            "{platforms:?}"
        );
    }
    for &arch in &release.arches {
        for tag in [TAG, "latest"] {
            let reference = format!("oci:{}:{tag}", layout.display());
            let info = json(&stdout(cmd("skopeo").args([
                "inspect",
                "--override-arch",
                arch.debian(),
                &reference,
            ])));
            assert_eq!(info["Architecture"], arch.debian());
            assert_eq!(info["Os"], "linux");
            let labels = &info["Labels"];
            assert_eq!(labels["org.opencontainers.image.version"], TAG);
            assert_eq!(
                labels["org.opencontainers.image.licenses"],
                "AGPL-3.0-or-later"
            );
            assert!(
                labels["org.opencontainers.image.revision"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty())
            );
            assert!(
                labels["org.opencontainers.image.source"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("https://"))
            );
        }
        let config = json(&stdout(cmd("skopeo").args([
            "inspect",
            "--config",
            "--override-arch",
            arch.debian(),
            &reference,
        ])));
        let c = &config["config"];
        assert_eq!(c["User"], "10001:10001");
        assert_eq!(c["Entrypoint"], serde_json::json!(["memkv"]));
        assert_eq!(c["Cmd"], serde_json::json!(["start"]));
        assert!(
            c["ExposedPorts"].get("9900/tcp").is_some()
                && c["ExposedPorts"].get("9901/tcp").is_some(),
            "{c}"
        );
    }
}

#[test]
fn umoci_unpacks_each_platform_and_the_server_runs_in_a_chroot() {
    let release = release();
    let layout = release.dist.join("oci");
    for &arch in &release.arches {
        let dir = scratch(&format!("umoci-{}", arch.debian()));
        let bundle = dir.join("bundle");
        run(cmd("umoci")
            .args(["unpack", "--image"])
            .arg(format!(
                "{}:{TAG}-linux-{}",
                layout.display(),
                arch.debian()
            ))
            .arg(&bundle));
        let rootfs = bundle.join("rootfs");
        assert!(rootfs.join("etc/memkv/config.yaml").is_file());
        let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).expect("passwd");
        assert!(passwd.contains("memkv:x:10001:10001"), "{passwd}");
        let version = if arch.is_host() {
            stdout(
                cmd("chroot")
                    .arg(&rootfs)
                    .args(["/usr/local/bin/memkv", "-V"]),
            )
        } else {
            stdout(
                cmd(&crate::harness::qemu_aarch64())
                    .arg(rootfs.join("usr/local/bin/memkv"))
                    .arg("-V"),
            )
        };
        assert_eq!(version, format!("memkv {TAG}"));
    }
}

/// Removes the loaded image tags and the containers on drop.
struct DockerCleanup {
    containers: Vec<String>,
}

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        for id in &self.containers {
            let _ = output_any(cmd("docker").args(["rm", "-f", id]));
        }
        let _ = output_any(cmd("docker").args(["rmi", &format!("memkv:{TAG}"), "memkv:latest"]));
    }
}

/// `docker run -d` of the image with `args` before the image name, its data port published
/// on loopback; returns the container, the host address of its data port and its log up to
/// the start-up line.
fn run_container(cleanup: &mut DockerCleanup, args: &[&str]) -> (String, String, Vec<String>) {
    let image = format!("memkv:{TAG}");
    let mut run = cmd("docker");
    run.args(["run", "-d", "-p", "127.0.0.1::9900"])
        .args(args)
        .arg(&image);
    let id = stdout(&mut run);
    cleanup.containers.push(id.clone());
    let mut logs = cmd("docker");
    logs.args(["logs", "-f", &id])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = logs.spawn().expect("docker logs");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("log line");
        let ready = line.contains("memkv: listening on");
        seen.push(line);
        if ready {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.last()
            .is_some_and(|l| l.contains("memkv: listening on")),
        "the container never listened:\n{}",
        seen.join("\n")
    );
    let port = stdout(cmd("docker").args(["port", &id, "9900/tcp"]));
    let address = port
        .lines()
        .next()
        .expect("published port")
        .trim()
        .to_owned();
    (id, address, seen)
}

/// A file of a container, copied out with `docker cp` (the image has no shell tools to
/// `docker exec`); `None` when the container has no such file.
fn container_file(id: &str, path: &str) -> Option<String> {
    let dir = scratch(&format!("docker-cp-{id}"));
    let (ok, _) = output_any(
        cmd("docker")
            .arg("cp")
            .arg(format!("{id}:{path}"))
            .arg(dir.join("file")),
    );
    ok.then(|| std::fs::read_to_string(dir.join("file")).expect("copied file"))
}

#[test]
fn docker_loads_and_runs_the_image_and_the_host_puts_and_gets() {
    let release = release();
    let Some(&arch) = release.arches.iter().find(|a| a.is_host()) else {
        panic!("no host-architecture image in the test release");
    };
    let _ = Arch::Amd64;
    let archive = arch.dir(release).join("memkv-image.docker.tar");
    let mut cleanup = DockerCleanup {
        containers: Vec::new(),
    };
    let loaded = stdout(cmd("docker").arg("load").arg("-i").arg(&archive));
    assert!(loaded.contains(&format!("memkv:{TAG}")), "{loaded}");
    assert!(loaded.contains("memkv:latest"), "{loaded}");
    let client = arch.dir(release).join("memkv");

    // The entrypoint is the server binary.
    assert_eq!(
        stdout(cmd("docker").args(["run", "--rm", &format!("memkv:{TAG}"), "-V"])),
        format!("memkv {TAG}")
    );

    // No key and no config of one's own: the image's config (/etc/memkv/config.yaml, all
    // interfaces) generates a key into the data directory, says where, never prints it, and
    // serves the host with it.
    let (id, address, log) = run_container(&mut cleanup, &[]);
    let key_file = "/var/lib/memkv/auth_key";
    let key = container_file(&id, key_file).expect("the generated key file");
    let key = key.trim().to_owned();
    assert_eq!(key.len(), 64, "a 64-hex-character key in {key_file}");
    let log = log.join("\n");
    assert!(
        log.contains(&format!("generated a new one in {key_file}")),
        "{log}"
    );
    assert!(!log.contains(&key), "the key is never logged:\n{log}");
    server::put_get(&client, &address, Some(&key));
    // The server runs as the image's user, not root.
    let top = stdout(cmd("docker").args(["top", &id, "-o", "pid,uid,args"]));
    assert!(
        top.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("10001") && l.contains("memkv")),
        "{top}"
    );

    // With a key in the environment (MEMKV_AUTH_KEY), the image's own config uses it and
    // generates nothing.
    let key = stdout(cmd("openssl").args(["rand", "-hex", "32"]));
    let (id, address, _) = run_container(&mut cleanup, &["-e", &format!("MEMKV_AUTH_KEY={key}")]);
    server::put_get(&client, &address, Some(&key));
    assert_eq!(
        container_file(&id, key_file),
        None,
        "a key was generated although MEMKV_AUTH_KEY was given"
    );
    let user = stdout(cmd("docker").args(["exec", &id, "/usr/local/bin/memkv", "-V"]));
    assert_eq!(user, format!("memkv {TAG}"));
    let inspect = json(&stdout(cmd("docker").args(["inspect", &id])));
    assert_eq!(inspect[0]["Config"]["User"], "10001:10001");
}
