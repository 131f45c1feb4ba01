//! `memkv admin status|health`: queries the admin HTTP(S) endpoint of running servers.
//!
//! Servers are named by their data-plane address (as clients configure them); the admin
//! endpoint is the same host at port + 1. All servers are queried concurrently. The output is
//! a table (one row per server) or, with `--json`, the servers' JSON reports as they are.
//!
//! The reports are read as `serde_json::Value` with tolerant field access: a field the server
//! does not report shows as `-`, so the table keeps working as the report grows.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls::ClientConfig;
use serde_json::Value;

use crate::cli::{AdminArgs, AdminCommand};
use crate::cmd::print_stdout;
use crate::exit::usage;
use crate::http_client::{self, Endpoint, Scheme, Trust};

/// What one server answered.
#[derive(Debug)]
enum Outcome {
    /// A JSON report (for `/v1/health` also on HTTP 503, which carries the report).
    Report(Value),
    /// No connection, TLS failure, timeout, ...
    Unreachable(String),
    /// Connected but the answer is not a report (wrong status code, not JSON).
    BadAnswer(String),
}

/// One row of the result: the server as the user named it and what it answered.
#[derive(Debug)]
struct ServerResult {
    server: String,
    outcome: Outcome,
}

/// Runs `memkv admin status` or `memkv admin health`.
pub(crate) fn run(args: AdminArgs) -> anyhow::Result<()> {
    let servers: Vec<String> = args
        .servers
        .iter()
        .map(|server| server.trim().to_owned())
        .filter(|server| !server.is_empty())
        .collect();
    if servers.is_empty() {
        return Err(usage(anyhow::anyhow!(
            "no servers given; pass --servers HOST:PORT[,HOST:PORT...] or set MEMKV_SERVERS"
        )));
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 86_400.0) {
        return Err(usage(anyhow::anyhow!(
            "--timeout must be a number of seconds between 0 and 86400, got {}",
            args.timeout
        )));
    }
    let timeout = Duration::from_secs_f64(args.timeout);

    let default_scheme = if args.ca_cert.is_some() || args.insecure {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let endpoints = servers
        .iter()
        .map(|server| Endpoint::admin_of(server, default_scheme))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let tls = if endpoints.iter().any(|e| e.scheme == Scheme::Https) {
        let trust = match (&args.ca_cert, args.insecure) {
            (Some(path), _) => Trust::CaFile(path),
            (None, true) => Trust::Insecure,
            (None, false) => Trust::System,
        };
        Some(http_client::tls_config(trust)?)
    } else {
        None
    };

    let path = match args.command {
        AdminCommand::Status => "/v1/status",
        AdminCommand::Health => "/v1/health",
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let outcomes = runtime.block_on(query_all(endpoints, path, tls, timeout));
    let results: Vec<ServerResult> = servers
        .into_iter()
        .zip(outcomes)
        .map(|(server, outcome)| ServerResult { server, outcome })
        .collect();

    let output = if args.json {
        json_output(&results)?
    } else {
        match args.command {
            AdminCommand::Status => status_table(&results),
            AdminCommand::Health => health_table(&results),
        }
    };
    print_stdout(&output)?;
    verdict(&args.command, &results)
}

async fn query_all(
    endpoints: Vec<Endpoint>,
    path: &'static str,
    tls: Option<Arc<ClientConfig>>,
    timeout: Duration,
) -> Vec<Outcome> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, endpoint) in endpoints.into_iter().enumerate() {
        let tls = tls.clone();
        tasks.spawn(async move {
            let outcome = query(&endpoint, path, tls.as_ref(), timeout).await;
            (index, outcome)
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    outcomes.resize_with(tasks.len(), || None);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, outcome)) => outcomes[index] = Some(outcome),
            Err(e) => tracing::error!("an admin query task failed: {e}"),
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| Outcome::Unreachable("the query task failed".to_owned()))
        })
        .collect()
}

async fn query(
    endpoint: &Endpoint,
    path: &str,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
) -> Outcome {
    let response = match http_client::get(endpoint, path, tls, timeout).await {
        Ok(response) => response,
        Err(e) => return Outcome::Unreachable(error_chain(&e)),
    };
    let parsed = serde_json::from_slice::<Value>(&response.body);
    let health_report = path == "/v1/health" && response.status == 503;
    match parsed {
        Ok(report @ Value::Object(_)) if response.status == 200 || health_report => {
            Outcome::Report(report)
        }
        Ok(_) | Err(_) if response.status != 200 => Outcome::BadAnswer(format!(
            "{endpoint}{path} answered HTTP {}: {}",
            response.status,
            snippet(&response.body)
        )),
        Ok(_) => Outcome::BadAnswer(format!(
            "{endpoint}{path} answered JSON that is not an object: {}",
            snippet(&response.body)
        )),
        Err(e) => Outcome::BadAnswer(format!("{endpoint}{path} answered invalid JSON: {e}")),
    }
}

/// `error: cause: cause`, as `{:#}` prints an anyhow chain.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The start of a body, on one line, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 {
        format!("{}...", line.chars().take(200).collect::<String>())
    } else if line.is_empty() {
        "(empty body)".to_owned()
    } else {
        line
    }
}

/// Decides the exit status after the output is printed.
fn verdict(command: &AdminCommand, results: &[ServerResult]) -> anyhow::Result<()> {
    let failed = results
        .iter()
        .filter(|result| !matches!(result.outcome, Outcome::Report(_)))
        .count();
    let unhealthy = match command {
        AdminCommand::Health => results
            .iter()
            .filter(|result| {
                matches!(&result.outcome, Outcome::Report(report)
                    if report.get("status").and_then(Value::as_str) != Some("healthy")
                        && report.get("status").and_then(Value::as_str) != Some("degraded"))
            })
            .count(),
        AdminCommand::Status => 0,
    };
    let total = results.len();
    match (failed, unhealthy) {
        (0, 0) => Ok(()),
        (failed, 0) => {
            let detail = if total == 1 {
                let reason = results.iter().find_map(|result| match &result.outcome {
                    Outcome::Unreachable(why) => Some(format!("unreachable: {why}")),
                    Outcome::BadAnswer(why) => Some(why.clone()),
                    Outcome::Report(_) => None,
                });
                format!(" ({})", reason.unwrap_or_default())
            } else {
                String::new()
            };
            anyhow::bail!(
                "{failed} of {total} server(s) could not be queried{detail}; check that memkv \
                 is running there and that the admin port (data-plane port + 1) is reachable"
            )
        }
        (0, unhealthy) => anyhow::bail!("{unhealthy} of {total} server(s) are not healthy"),
        (failed, unhealthy) => anyhow::bail!(
            "{failed} of {total} server(s) could not be queried and {unhealthy} are not healthy"
        ),
    }
}

fn json_output(results: &[ServerResult]) -> anyhow::Result<String> {
    let value = match results {
        [single] => match &single.outcome {
            Outcome::Report(report) => report.clone(),
            // Nothing on stdout; the error goes to stderr with exit status 1.
            Outcome::Unreachable(_) | Outcome::BadAnswer(_) => return Ok(String::new()),
        },
        several => Value::Array(
            several
                .iter()
                .map(|result| match &result.outcome {
                    Outcome::Report(report) => report.clone(),
                    Outcome::Unreachable(why) => serde_json::json!({
                        "address": result.server,
                        "error": format!("unreachable: {why}"),
                    }),
                    Outcome::BadAnswer(why) => serde_json::json!({
                        "address": result.server,
                        "error": why,
                    }),
                })
                .collect(),
        ),
    };
    let mut text = serde_json::to_string_pretty(&value).context("failed to format JSON")?;
    text.push('\n');
    Ok(text)
}

/// The text of a failed row.
fn failure_text(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Report(_) => None,
        Outcome::Unreachable(why) => Some(format!("unreachable: {why}")),
        Outcome::BadAnswer(why) => Some(format!("error: {why}")),
    }
}

fn status_table(results: &[ServerResult]) -> String {
    let header = [
        "SERVER",
        "STATUS",
        "VERSION",
        "UPTIME",
        "KEYS",
        "USED / USABLE",
        "CONNECTIONS",
    ];
    let rows = results
        .iter()
        .map(|result| {
            if let Some(failure) = failure_text(&result.outcome) {
                return Row::Failed(result.server.clone(), failure);
            }
            let Outcome::Report(report) = &result.outcome else {
                return Row::Failed(result.server.clone(), String::new());
            };
            let storage = |field: &str| report.pointer(&format!("/storage/{field}"));
            let used = storage("used_bytes_total").and_then(Value::as_u64);
            let usable = storage("usable_bytes_total").and_then(Value::as_u64);
            let capacity = match (used, usable) {
                (None, None) => "-".to_owned(),
                (used, usable) => format!(
                    "{} / {}",
                    used.map_or_else(|| "-".to_owned(), human_bytes),
                    usable.map_or_else(|| "-".to_owned(), human_bytes)
                ),
            };
            Row::Cells(vec![
                result.server.clone(),
                text_field(report.get("status")),
                text_field(report.get("version")),
                report
                    .get("uptime_seconds")
                    .and_then(Value::as_f64)
                    .map_or_else(|| "-".to_owned(), human_duration),
                text_field(storage("keys")),
                capacity,
                text_field(report.pointer("/connections/active")),
            ])
        })
        .collect::<Vec<_>>();
    render_table(&header, &rows)
}

fn health_table(results: &[ServerResult]) -> String {
    let header = ["SERVER", "STATUS", "DETAILS"];
    let rows = results
        .iter()
        .map(|result| match &result.outcome {
            Outcome::Report(report) => {
                let details = report
                    .as_object()
                    .map(|fields| {
                        fields
                            .iter()
                            .filter(|(name, value)| {
                                name.as_str() != "status" && !value.is_object() && !value.is_array()
                            })
                            .map(|(name, value)| format!("{name}={}", text_field(Some(value))))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                Row::Cells(vec![
                    result.server.clone(),
                    text_field(report.get("status")),
                    if details.is_empty() {
                        "-".to_owned()
                    } else {
                        details
                    },
                ])
            }
            other => Row::Failed(
                result.server.clone(),
                failure_text(other).unwrap_or_default(),
            ),
        })
        .collect::<Vec<_>>();
    render_table(&header, &rows)
}

#[derive(Debug)]
enum Row {
    Cells(Vec<String>),
    /// The server, then one message spanning the remaining columns.
    Failed(String, String),
}

fn render_table(header: &[&str], rows: &[Row]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        match row {
            Row::Cells(cells) => {
                for (width, cell) in widths.iter_mut().zip(cells) {
                    *width = (*width).max(cell.chars().count());
                }
            }
            Row::Failed(server, _) => widths[0] = widths[0].max(server.chars().count()),
        }
    }
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if index + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                let pad = width.saturating_sub(cell.chars().count()) + 2;
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let mut out = line(header);
    for row in rows {
        match row {
            Row::Cells(cells) => {
                out.push_str(&line(&cells.iter().map(String::as_str).collect::<Vec<_>>()));
            }
            Row::Failed(server, message) => out.push_str(&line(&[server, message])),
        }
    }
    out
}

/// A scalar JSON field as table text; `-` when absent or null.
fn text_field(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// Bytes in IEC units: `512 B`, `1.5 KiB`, `247.0 GiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision loss above 2^53 bytes is far below the one decimal shown.
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `45s`, `12m 5s`, `3h 4m`, `2d 3h`.
fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    // Saturating float-to-int conversion; the fraction of a second is dropped.
    let total = seconds as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total / 3_600 % 24,
        total / 60 % 60,
        total % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{minutes}m {secs}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{
        AdminCommand, Outcome, ServerResult, health_table, human_bytes, human_duration,
        json_output, status_table, verdict,
    };

    fn result(server: &str, outcome: Outcome) -> ServerResult {
        ServerResult {
            server: server.to_owned(),
            outcome,
        }
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(247 << 30), "247.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
        assert_eq!(human_duration(45.9), "45s");
        assert_eq!(human_duration(725.0), "12m 5s");
        assert_eq!(human_duration(3.0 * 3600.0 + 240.0), "3h 4m");
        assert_eq!(human_duration(2.0 * 86_400.0 + 3.0 * 3600.0 + 1.0), "2d 3h");
        assert_eq!(human_duration(-1.0), "-");
    }

    #[test]
    fn status_table_shows_report_fields_and_failures() {
        let report = json!({
            "status": "healthy",
            "version": "DEVELOPMENT.abc",
            "uptime_seconds": 3725,
            "storage": {"keys": 42, "used_bytes_total": 1536, "usable_bytes_total": 1u64 << 30},
            "connections": {"active": 3},
        });
        let table = status_table(&[
            result("10.0.0.1:9900", Outcome::Report(report)),
            result(
                "10.0.0.2:9900",
                Outcome::Report(json!({"status": "healthy"})),
            ),
            result(
                "10.0.0.3:9900",
                Outcome::Unreachable("connection refused".into()),
            ),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("SERVER"));
        for cell in [
            "healthy",
            "DEVELOPMENT.abc",
            "1h 2m",
            "42",
            "1.5 KiB / 1.0 GiB",
            " 3",
        ] {
            assert!(
                lines[1].contains(cell),
                "{cell:?} missing in {:?}",
                lines[1]
            );
        }
        assert!(lines[2].contains(" - "), "{:?}", lines[2]);
        assert!(lines[3].starts_with("10.0.0.3:9900  unreachable: connection refused"));
    }

    #[test]
    fn health_table_lists_scalar_details() {
        let table = health_table(&[result(
            "h:1",
            Outcome::Report(
                json!({"status": "degraded", "drives_online": 11, "rdma_active": true}),
            ),
        )]);
        let row = table.lines().nth(1).unwrap();
        assert!(row.contains("degraded"));
        assert!(row.contains("drives_online=11 rdma_active=true"), "{row}");
    }

    #[test]
    fn verdict_fails_on_unreachable_and_unhealthy_only() {
        let healthy = || result("a:1", Outcome::Report(json!({"status": "healthy"})));
        let degraded = || result("b:1", Outcome::Report(json!({"status": "degraded"})));
        let unhealthy = || result("c:1", Outcome::Report(json!({"status": "unhealthy"})));
        let down = || result("d:1", Outcome::Unreachable("refused".into()));
        assert!(verdict(&AdminCommand::Health, &[healthy(), degraded()]).is_ok());
        assert!(verdict(&AdminCommand::Health, &[healthy(), unhealthy()]).is_err());
        assert!(verdict(&AdminCommand::Status, &[healthy(), unhealthy()]).is_ok());
        let err = verdict(&AdminCommand::Status, &[down()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 of 1 server(s) could not be queried (unreachable: refused)"));
    }

    #[test]
    fn json_is_the_report_or_an_annotated_array() {
        let single =
            json_output(&[result("a:1", Outcome::Report(json!({"status": "healthy"})))]).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&single).unwrap(),
            json!({"status": "healthy"})
        );
        let several = json_output(&[
            result("a:1", Outcome::Report(json!({"status": "healthy"}))),
            result("b:1", Outcome::BadAnswer("HTTP 500".into())),
        ])
        .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&several).unwrap(),
            json!([{"status": "healthy"}, {"address": "b:1", "error": "HTTP 500"}])
        );
    }
}
