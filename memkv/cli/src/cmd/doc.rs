//! `memkv doc`: serves the documentation compiled into the binary over HTTP.
//!
//! The pages come from `docs_site` (rendered from the repository's `docs/` at build time), so
//! nothing is read from disk. On start one line goes to stderr:
//! `memkv doc: serving documentation at http://ADDR/` with the address actually bound (useful
//! with port 0). Runs until Ctrl-C or SIGTERM.

use std::convert::Infallible;
use std::net::{SocketAddr, ToSocketAddrs as _};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::cli::DocArgs;
use crate::docs_site;
use crate::exit::usage;

/// Serves the documentation until interrupted.
pub(crate) fn run(args: DocArgs) -> anyhow::Result<()> {
    let addresses: Vec<SocketAddr> = args
        .address
        .to_socket_addrs()
        .map_err(|e| {
            usage(anyhow::anyhow!(
                "invalid --address {:?}: {e}; expected HOST:PORT, e.g. 127.0.0.1:9980",
                args.address
            ))
        })?
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(serve(&args.address, &addresses))
}

async fn serve(requested: &str, addresses: &[SocketAddr]) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addresses).await.with_context(|| {
        format!("failed to listen on {requested}; choose another address with --address")
    })?;
    let local = listener
        .local_addr()
        .context("failed to read the listening address")?;
    eprintln!("memkv doc: serving documentation at http://{local}/");

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(|request| async move {
                            Ok::<_, Infallible>(respond(&request))
                        });
                        if let Err(e) = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                        {
                            tracing::debug!(%peer, "documentation connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    // Typically out of file descriptors; pause instead of spinning.
                    tracing::warn!("failed to accept a documentation connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            signal = &mut shutdown => {
                signal?;
                tracing::info!("stopping the documentation server");
                return Ok(());
            }
        }
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("failed to install the SIGTERM handler")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("failed to wait for Ctrl-C"),
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("failed to wait for Ctrl-C")
    }
}

fn respond<B>(request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let (status, content_type, body) = match docs_site::lookup(request.uri().path()) {
        Some(page) => (StatusCode::OK, page.content_type, page.body),
        None => (
            StatusCode::NOT_FOUND,
            "text/html; charset=utf-8",
            docs_site::NOT_FOUND_HTML,
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use hyper::{Method, Request, StatusCode};

    use super::respond;

    fn request(method: Method, path: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap()
    }

    #[test]
    fn serves_pages_404s_unknown_and_rejects_other_methods() {
        let index = respond(&request(Method::GET, "/"));
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(
            respond(&request(Method::HEAD, "/index.html")).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&request(Method::GET, "/missing.html")).status(),
            StatusCode::NOT_FOUND
        );
        let post = respond(&request(Method::POST, "/"));
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()["allow"], "GET, HEAD");
    }
}
