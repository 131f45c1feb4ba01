//! The generated sections of `docs/environment.md` (client environment variables) and
//! `docs/client.md` (client YAML keys) must match the code. Run with `MEMKV_UPDATE_DOCS=1` to
//! rewrite them.

use std::path::PathBuf;

fn docs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

/// Checks (or, with `MEMKV_UPDATE_DOCS=1`, rewrites) the text between the `name` markers.
fn check_generated(page: &str, name: &str, content: &str) {
    let path = docs_dir().join(page);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let begin = format!("<!-- BEGIN GENERATED: {name} -->\n");
    let end = format!("<!-- END GENERATED: {name} -->");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{} lacks the marker `{}`", path.display(), begin.trim()))
        + begin.len();
    let stop = start
        + text[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("{} lacks the marker `{end}`", path.display()));
    if &text[start..stop] == content {
        return;
    }
    if std::env::var_os("MEMKV_UPDATE_DOCS").is_some_and(|v| v == "1") {
        let updated = format!("{}{content}{}", &text[..start], &text[stop..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "the generated section `{name}` of {} is stale: run `MEMKV_UPDATE_DOCS=1 cargo test -p memkv-client --test generated_docs` and commit the result",
        path.display()
    );
}

#[test]
fn environment_variables_page_is_current() {
    check_generated(
        "environment.md",
        "client-env",
        &memkv_client::env_vars::render_markdown(),
    );
}

#[test]
fn client_yaml_keys_table_is_current() {
    check_generated(
        "client.md",
        "client-config",
        &memkv_client::ClientConfig::render_yaml_keys_markdown(),
    );
}
