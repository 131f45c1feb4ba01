//! Request routing of the admin API: maps a method and path to a response built from the
//! [`AdminSource`]. Pure functions of the request, so every endpoint behaves the same over
//! HTTP and HTTPS.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};

use super::AdminSource;

/// The endpoints, in documentation order.
pub const ENDPOINTS: [&str; 4] = ["/v1/health", "/v1/ready", "/v1/status", "/v1/metrics"];

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
/// Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The response to `method path` (the path without query string).
pub(crate) fn respond(
    source: &dyn AdminSource,
    method: &Method,
    path: &str,
) -> Response<Full<Bytes>> {
    if !ENDPOINTS.contains(&path) {
        let body = serde_json::json!({
            "error": format!("no admin endpoint at {path}"),
            "endpoints": ENDPOINTS,
        });
        return json_response(StatusCode::NOT_FOUND, &body);
    }
    if method != Method::GET {
        let body = serde_json::json!({
            "error": format!("method {method} is not allowed on {path}; use GET"),
        });
        let mut response = json_response(StatusCode::METHOD_NOT_ALLOWED, &body);
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    match path {
        "/v1/health" => {
            let health = source.health();
            let code = StatusCode::from_u16(health.http_status())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            json_response(code, &health)
        }
        "/v1/ready" => {
            if source.ready() {
                text_response(StatusCode::OK, TEXT, "ok")
            } else {
                text_response(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready")
            }
        }
        "/v1/status" => json_response(StatusCode::OK, &source.status()),
        _ => text_response(StatusCode::OK, METRICS_CONTENT_TYPE, source.metrics_text()),
    }
}

fn json_response(code: StatusCode, body: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_vec(body) {
        Ok(bytes) => text_response(code, JSON, bytes),
        Err(error) => {
            tracing::error!("cannot encode an admin API response as JSON: {error}");
            text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                "internal error: response could not be encoded",
            )
        }
    }
}

fn text_response(
    code: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
