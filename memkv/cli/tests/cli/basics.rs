//! Version output, help on every command, exit codes for usage errors, the allocator.

use crate::support::{memkv, run, stderr, stdout};

#[test]
fn short_version_is_one_line_with_the_tag() {
    let output = run(&["-V"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "{text:?}");
    let tag = text
        .trim_end()
        .strip_prefix("memkv ")
        .unwrap_or_else(|| panic!("{text:?} does not start with `memkv `"));
    assert!(
        tag.starts_with("DEVELOPMENT.") || tag.starts_with("RELEASE."),
        "unexpected tag {tag:?}"
    );
    assert!(!tag.contains(' '), "{tag:?}");
}

#[test]
fn long_version_adds_commit_and_compiler() {
    let short = stdout(&run(&["-V"]));
    let output = run(&["--version"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], short.trim_end());
    assert!(
        lines.iter().any(|line| line.starts_with("commit: ")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("compiler: rustc ")),
        "{text}"
    );
}

/// The server allocates with jemalloc (`memkv/cli/src/main.rs`): asked through its own
/// environment variable, jemalloc prints its statistics when the process exits.
#[test]
fn the_binary_allocates_with_jemalloc() {
    let output = memkv()
        .arg("-V")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .expect("running memkv");
    assert!(output.status.success(), "{output:?}");
    let text = stderr(&output);
    assert!(
        text.contains("Begin jemalloc statistics"),
        "no jemalloc statistics on stderr: {text}"
    );
}

#[test]
fn every_command_has_help() {
    for command in [
        &[][..],
        &["start"],
        &["admin"],
        &["admin", "status"],
        &["admin", "health"],
        &["kv"],
        &["kv", "put"],
        &["kv", "get"],
        &["kv", "rm"],
        &["kv", "stat"],
        &["kv", "exists"],
        &["doc"],
        &["setup"],
        &["drive"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let output = run(&args);
        assert!(output.status.success(), "memkv {args:?}: {output:?}");
        let text = stdout(&output);
        let usage = ["memkv"]
            .iter()
            .chain(command)
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            text.contains(&format!("Usage: {usage}")),
            "memkv {args:?} help lacks `Usage: {usage}`:\n{text}"
        );
    }
    let help = stdout(&run(&["--help"]));
    for command in ["start", "admin", "kv", "doc", "setup", "drive"] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "top-level help does not list {command}:\n{help}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["--bogus"],
        &["frobnicate"],
        &["admin", "status", "--bogus"],
        &["admin"],
        &["start", "--config"],
        &["doc", "--address"],
        &["kv", "exists"],
        &["admin", "status", "--servers", "no-port-here"],
        &["admin", "status", "--servers", "127.0.0.1:65535"],
        &["admin", "status", "--ca-cert", "/nonexistent/ca.pem"],
        &["admin", "status", "--timeout", "0"],
        &["doc", "--address", "not an address"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "memkv {args:?}: {output:?}");
        assert!(
            !stderr(&output).is_empty(),
            "memkv {args:?} printed no error"
        );
    }
}

#[test]
fn drive_tools_exit_2_on_missing_arguments() {
    for args in [&["setup"][..], &["drive"], &["drive", "check"]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "memkv {args:?}: {output:?}");
        assert!(!stderr(&output).is_empty());
        assert!(stdout(&output).is_empty());
    }
}
