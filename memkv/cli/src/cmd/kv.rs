//! `memkv kv`: put, get, remove, stat and check keys through the client engine, the same path
//! every integration uses. Meant for operators and tests, not for bulk traffic.

use std::io::{Read, Write};

use anyhow::Context as _;
use memkv_client::{Client, ClientConfig, ClientError};

use crate::cli::{KvArgs, KvCommand, KvExistsArgs, KvGetArgs, KvKeyArgs, KvPutArgs};
use crate::exit::usage;

/// The server used when neither `--servers`, MEMKV_SERVERS nor MEMKV_CONFIG names one.
const DEFAULT_SERVER: &str = "127.0.0.1:9900";

/// Runs one key-value operation against the servers named by `args`.
pub(crate) fn run(args: KvArgs) -> anyhow::Result<()> {
    let KvArgs { servers, command } = args;
    let client = connect(&servers)?;
    match command {
        KvCommand::Put(KvPutArgs { key, value, file }) => {
            let value = match (value, file) {
                (Some(v), _) => v.into_bytes(),
                (None, Some(path)) => std::fs::read(&path)
                    .with_context(|| format!("failed to read {}", path.display()))?,
                (None, None) => {
                    let mut buf = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut buf)
                        .context("failed to read standard input")?;
                    buf
                }
            };
            client.put(key.as_bytes(), &value)?;
        }
        KvCommand::Get(KvGetArgs { key, output }) => {
            let Some(value) = client.get(key.as_bytes())? else {
                anyhow::bail!("key `{key}` not found");
            };
            match output {
                Some(path) => std::fs::write(&path, &value)
                    .with_context(|| format!("failed to write {}", path.display()))?,
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&value)
                        .and_then(|()| out.flush())
                        .context("failed to write standard output")?;
                }
            }
        }
        KvCommand::Rm(KvKeyArgs { key }) => {
            if !client.delete(key.as_bytes())? {
                anyhow::bail!("key `{key}` not found");
            }
        }
        KvCommand::Stat(KvKeyArgs { key }) => {
            let Some(meta) = client.stat(key.as_bytes())? else {
                anyhow::bail!("key `{key}` not found");
            };
            let server = &client.servers()[client.server_for(key.as_bytes())];
            println!("key:     {key}");
            println!("size:    {} bytes", meta.len);
            println!("crc32c:  {:#010x}", meta.crc);
            println!("server:  {server}");
        }
        KvCommand::Exists(KvExistsArgs { keys }) => {
            let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
            let found = client.exists(&refs)?;
            for (key, present) in keys.iter().zip(&found) {
                println!("{key}\t{}", if *present { "yes" } else { "no" });
            }
            let missing = found.iter().filter(|p| !**p).count();
            if missing > 0 {
                anyhow::bail!("{missing} of {} keys not found", keys.len());
            }
        }
    }
    Ok(())
}

/// Builds the client: `--servers` (or MEMKV_SERVERS) first, then MEMKV_CONFIG, else the local
/// default server; everything else from the usual MEMKV_* chain.
fn connect(servers: &[String]) -> anyhow::Result<Client> {
    let servers_arg = (!servers.is_empty()).then(|| servers.join(","));
    let has_config_file = std::env::var_os("MEMKV_CONFIG").is_some_and(|v| !v.is_empty());
    let config = ClientConfig::from_env_with(|name| {
        if name == "MEMKV_SERVERS" {
            if let Some(s) = &servers_arg {
                return Some(s.clone());
            }
            let from_env = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
            return from_env.or_else(|| (!has_config_file).then(|| DEFAULT_SERVER.to_owned()));
        }
        std::env::var(name).ok()
    })
    .map_err(usage)?;
    Client::new(config).map_err(|e| match e {
        ClientError::Config(_) => usage(e),
        other => anyhow::Error::new(other),
    })
}
