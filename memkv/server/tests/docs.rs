//! The generated references in `docs/configuration.md` and `docs/metrics.md` are fresh, and
//! every YAML example in `docs/configuration.md` is a valid config file.
//!
//! Regenerate with: `MEMKV_UPDATE_DOCS=1 cargo test -p memkv-server --test docs`.

use std::path::PathBuf;

use memkv_server::config::{self, ServerConfig};
use memkv_server::metrics;

fn doc_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name)
}

/// Checks that the text between the BEGIN/END markers named `marker` in `docs/<name>` equals
/// `generated`; with `MEMKV_UPDATE_DOCS=1` rewrites it instead.
fn check_generated(name: &str, marker: &str, generated: &str) {
    let path = doc_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let begin = format!("<!-- BEGIN GENERATED: {marker} -->\n");
    let end = format!("<!-- END GENERATED: {marker} -->");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{} has no `{}` line", path.display(), begin.trim()))
        + begin.len();
    let stop = start
        + text[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("{} has no `{end}` line", path.display()));
    if &text[start..stop] == generated {
        return;
    }
    if std::env::var_os("MEMKV_UPDATE_DOCS").is_some_and(|v| v == "1") {
        let updated = format!("{}{generated}{}", &text[..start], &text[stop..]);
        // Write a sibling file and rename it, so a test reading the page meanwhile never sees
        // a half-written file.
        let temporary = path.with_extension("md.tmp");
        std::fs::write(&temporary, updated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", temporary.display()));
        std::fs::rename(&temporary, &path)
            .unwrap_or_else(|e| panic!("cannot replace {}: {e}", path.display()));
        eprintln!("updated {}", path.display());
        return;
    }
    panic!(
        "docs/{name} is stale: the {marker} section differs from the code.\n\
         Regenerate it with: MEMKV_UPDATE_DOCS=1 cargo test -p memkv-server --test docs"
    );
}

#[test]
fn configuration_reference_is_fresh() {
    check_generated(
        "configuration.md",
        "config-reference",
        &config::reference_markdown(),
    );
}

#[test]
fn metrics_reference_is_fresh() {
    check_generated(
        "metrics.md",
        "metrics-reference",
        &metrics::reference_markdown(),
    );
}

/// The contents of every ```` ```yaml ```` block in `text`.
fn yaml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match current.as_mut() {
            None if line.trim() == "```yaml" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(current.is_none(), "unterminated ```yaml block");
    blocks
}

#[test]
fn every_yaml_example_in_the_configuration_guide_is_valid() {
    let text = std::fs::read_to_string(doc_path("configuration.md")).unwrap();
    let blocks = yaml_blocks(&text);
    assert!(
        blocks.len() >= 3,
        "expected several examples, found {}",
        blocks.len()
    );
    for block in blocks {
        if let Err(error) = ServerConfig::from_yaml_str(&block) {
            panic!("example in docs/configuration.md does not load: {error}\n---\n{block}");
        }
    }
}
