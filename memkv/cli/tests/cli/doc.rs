//! `memkv doc`: serves the documentation compiled into the binary, from any directory.

use std::path::Path;

use crate::support::{http_get, spawn_doc};

#[test]
fn serves_rendered_pages_without_a_docs_directory() {
    let empty = tempfile::tempdir().expect("temp dir");
    assert!(!empty.path().join("docs").exists());
    let (_server, address) = spawn_doc(empty.path());
    assert_ne!(address.port(), 0, "the announced address is the bound one");

    let index = http_get(address, "/");
    assert_eq!(index.status, 200, "{index:?}");
    assert!(
        index.headers.contains("content-type: text/html"),
        "{}",
        index.headers
    );
    assert!(index.body.starts_with("<!DOCTYPE html>"));
    // docs/index.md, rendered: its title, and its links to `cli.md` now point at the HTML page.
    assert!(
        index.body.contains("<h1 id=\"memkv\">memkv</h1>"),
        "{}",
        index.body
    );
    assert!(index.body.contains("href=\"cli.html\""), "{}", index.body);
    assert!(!index.body.contains("href=\"cli.md\""));
    // The generated list of every page.
    assert!(index.body.contains("All pages"));

    let cli = http_get(address, "/cli.html");
    assert_eq!(cli.status, 200, "{cli:?}");
    assert!(
        cli.body
            .contains("<title>memkv command-line reference - memkv documentation</title>")
    );
    assert!(
        cli.body.contains("<h2 id=\"memkv-admin\">memkv admin</h2>"),
        "{}",
        cli.body
    );
    assert!(cli.body.contains("<pre><code class=\"language-text\">"));
    assert!(
        cli.body.contains("--ca-cert &lt;PATH&gt;"),
        "help text is HTML-escaped"
    );

    assert_eq!(http_get(address, "/cli").status, 200, "extension-less path");
    let missing = http_get(address, "/no-such-page.html");
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(missing.body.contains("Page not found"));
}

#[test]
fn every_markdown_file_in_docs_is_served() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let mut pages = Vec::new();
    collect_markdown(&docs, &docs, &mut pages);
    assert!(pages.iter().any(|page| page == "/index.html"), "{pages:?}");

    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, address) = spawn_doc(dir.path());
    for page in &pages {
        let response = http_get(address, page);
        assert_eq!(response.status, 200, "{page} is not served: {response:?}");
        assert!(response.body.contains("<main>"), "{page}");
    }
}

fn collect_markdown(root: &Path, dir: &Path, pages: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("list docs") {
        let path = entry.expect("docs entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_markdown(root, &path, pages);
        } else if let Some(stem) = path
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .and_then(|relative| relative.strip_suffix(".md"))
        {
            pages.push(format!("/{stem}.html"));
        }
    }
}
