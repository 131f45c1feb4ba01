//! memkv server: configuration, the TCP data plane, the admin HTTP API and metrics.
//!
//! - [`config`]: the server config file: raw form, validation, human sizes and durations.
//! - [`dataplane`]: the TCP listener, connections, authentication and request handling.
//! - [`admin`]: the admin HTTP(S) API (`/v1/health`, `/v1/ready`, `/v1/status`, `/v1/metrics`).
//! - [`metrics`]: counters, histograms and the Prometheus exposition.
//! - [`status`]: the report types the admin API serves and the CLI reads back.
//! - [`run`]: start-up and shutdown glue.

pub mod admin;
pub mod config;
pub mod dataplane;
pub mod metrics;
pub mod run;
pub mod status;
