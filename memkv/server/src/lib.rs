//! memkv server: configuration, the TCP data plane, the admin HTTP API and metrics.
//!
//! Module ownership: `config` (server config file: raw form, validation, human sizes),
//! `metrics` (counters, histograms, Prometheus exposition), `admin` (admin HTTP/HTTPS API),
//! `status` (the `/v1/status` and `/v1/health` report types), `dataplane` (TCP listener,
//! connections, request handling) and `run` (start-up and shutdown glue).

pub mod admin;
pub mod config;
pub mod metrics;
pub mod status;
