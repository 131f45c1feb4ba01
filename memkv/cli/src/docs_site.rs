//! The documentation site compiled into the binary (rendered from `docs/` by `build.rs`).
//!
//! Pages are looked up by URL path; `/` and directory paths map to their `index.html`.

/// One embedded file of the site.
#[derive(Debug)]
pub(crate) struct Page {
    /// URL path, e.g. `/cli.html`.
    pub(crate) path: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) body: &'static [u8],
}

// Defines `PAGES` (sorted by path) and `NOT_FOUND_HTML`.
include!(concat!(env!("OUT_DIR"), "/docs_site.rs"));

/// Finds the page for a request path (still percent-encoded, without the query string).
pub(crate) fn lookup(request_path: &str) -> Option<&'static Page> {
    let mut path = percent_decode(request_path)?;
    if path.ends_with('/') {
        path.push_str("index.html");
    }
    let find = |path: &str| {
        PAGES
            .binary_search_by(|page| page.path.cmp(path))
            .ok()
            .map(|index| &PAGES[index])
    };
    // `/cli` serves `/cli.html`, as people type it.
    find(&path).or_else(|| find(&format!("{path}.html")))
}

/// Every embedded page, sorted by path.
#[cfg(test)]
pub(crate) fn pages() -> &'static [Page] {
    PAGES
}

/// Decodes `%XX` escapes; `None` for malformed escapes or non-UTF-8 results.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::{lookup, pages, percent_decode};

    #[test]
    fn index_is_always_present_and_pages_are_sorted() {
        let index = lookup("/").expect("index page");
        assert_eq!(index.path, "/index.html");
        assert!(index.content_type.starts_with("text/html"));
        assert!(pages().windows(2).all(|pair| pair[0].path < pair[1].path));
    }

    #[test]
    fn lookup_accepts_path_without_extension_and_rejects_unknown() {
        assert_eq!(lookup("/index").map(|page| page.path), Some("/index.html"));
        assert!(lookup("/no-such-page.html").is_none());
        assert!(lookup("/%zz").is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/a%20b.html").as_deref(), Some("/a b.html"));
        assert_eq!(percent_decode("/%"), None);
        assert_eq!(percent_decode("/%+f"), None);
        assert_eq!(percent_decode("/%ff"), None);
    }
}
