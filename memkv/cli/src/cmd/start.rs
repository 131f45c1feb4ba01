//! `memkv start`: loads the configuration (or the embedded default) and runs the server until
//! SIGTERM or SIGINT.

use std::path::Path;

use anyhow::Context as _;
use memkv_server::config::{AuthKeyEnv, ServerConfig};
use memkv_server::run::{RunError, StartOptions};

use crate::cli::{DEFAULT_CONFIG_PATH, StartArgs};
use crate::exit::usage;

/// Runs the server with the config named by `args`, reporting `version` in its status.
pub(crate) fn run(args: StartArgs, version: &'static str) -> anyhow::Result<()> {
    let (config, config_source) = match &args.config {
        Some(path) => (
            ServerConfig::from_path(path).map_err(usage)?,
            path.display().to_string(),
        ),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => (
            ServerConfig::from_path(Path::new(DEFAULT_CONFIG_PATH)).map_err(usage)?,
            DEFAULT_CONFIG_PATH.to_owned(),
        ),
        None => (
            ServerConfig::embedded_default_with_env(&AuthKeyEnv::from_process()).map_err(usage)?,
            "embedded default".to_owned(),
        ),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("memkv-worker")
        .build()
        .context("failed to start the async runtime")?;
    let opts = StartOptions {
        config,
        config_source,
        release: version.to_owned(),
    };
    runtime
        .block_on(memkv_server::run::run(
            opts,
            memkv_server::run::shutdown_signal(),
            |_| {},
        ))
        .map_err(|e| match e {
            // Certificates and unusable settings are the operator's to fix: exit code 2.
            RunError::Admin(_) | RunError::StorageMode(_) => usage(e),
            other => anyhow::Error::new(other),
        })
}
