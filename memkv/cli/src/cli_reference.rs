//! Generates `docs/cli.md`, the command-line reference, from the clap definition in `cli.rs`.
//!
//! Each command gets a heading and its `--help` text (long form) in a code block, rendered at a
//! fixed width so the output does not depend on the terminal. The unit test below fails when
//! the committed page is stale and rewrites it when `MEMKV_UPDATE_DOCS=1` is set.

use std::fmt::Write as _;

use clap::CommandFactory as _;

use crate::cli::Cli;

/// Width the help text is wrapped at in the generated page.
const WIDTH: usize = 100;

/// The full text of `docs/cli.md`.
pub(crate) fn markdown() -> String {
    let mut root = Cli::command().term_width(WIDTH);
    root.build();
    let mut toc = String::new();
    let mut sections = String::new();
    render(&mut root, 0, &mut toc, &mut sections);
    format!(
        "<!-- Generated from memkv/cli/src/cli.rs; do not edit. Regenerate with:\n     \
         MEMKV_UPDATE_DOCS=1 cargo test -p memkv cli_reference -->\n\
         # memkv command-line reference\n\n\
         The `memkv` binary runs the server, queries running servers, reads and writes keys and \
         serves this documentation. Every command below prints the same text with `--help`.\n\n\
         {toc}\n{sections}"
    )
}

fn render(cmd: &mut clap::Command, depth: usize, toc: &mut String, sections: &mut String) {
    let name = cmd
        .get_bin_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned();
    let anchor = name.replace(' ', "-");
    let _ = writeln!(toc, "{}- [{name}](#{anchor})", "  ".repeat(depth));
    let help = cmd.render_long_help().to_string();
    let help: Vec<&str> = help.lines().map(str::trim_end).collect();
    let _ = write!(
        sections,
        "{} {name}\n\n```text\n{}\n```\n\n",
        // `## memkv`, `## memkv admin`, `### memkv admin status`.
        "#".repeat(depth.max(1) + 1),
        help.join("\n").trim_end()
    );
    for sub in cmd.get_subcommands_mut() {
        if sub.get_name() != "help" && !sub.is_hide_set() {
            render(sub, depth + 1, toc, sections);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn docs_cli_md_is_fresh() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
        let expected = super::markdown();
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        if actual == expected {
            return;
        }
        if std::env::var_os("MEMKV_UPDATE_DOCS").is_some_and(|value| value == "1") {
            std::fs::write(&path, &expected)
                .unwrap_or_else(|e| panic!("failed to write {}: {e}", path.display()));
            return;
        }
        panic!(
            "{} is stale: it no longer matches the clap definition in memkv/cli/src/cli.rs. \
             Regenerate it with `MEMKV_UPDATE_DOCS=1 cargo test -p memkv cli_reference` and \
             commit the result.",
            path.display()
        );
    }

    #[test]
    fn reference_covers_every_command_and_option() {
        let page = super::markdown();
        for heading in [
            "## memkv start",
            "## memkv admin",
            "### memkv admin status",
            "### memkv admin health",
            "### memkv kv put",
            "### memkv kv exists",
            "## memkv doc",
            "## memkv setup",
            "## memkv drive",
        ] {
            assert!(
                page.contains(&format!("\n{heading}\n")),
                "missing {heading}"
            );
        }
        for text in [
            "--config <PATH>",
            "--ca-cert <PATH>",
            "--address <ADDR>",
            "Exit status:",
        ] {
            assert!(page.contains(text), "missing {text}");
        }
        assert!(
            !page.contains('\u{1b}'),
            "help text must be rendered without ANSI styling"
        );
    }
}
