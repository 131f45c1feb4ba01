//! The `memkv` command line, declared with clap derive.
//!
//! This is the single source of the command surface: `--help` output and the generated
//! reference page `docs/cli.md` (see `cli_reference.rs`) both come from these definitions, so
//! the doc comments here are user-facing text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::version::{LONG_VERSION, VERSION};

/// Where `memkv start` looks for its config file when `--config` is not given.
pub(crate) const DEFAULT_CONFIG_PATH: &str = "/etc/memkv/config.yaml";
/// The data-plane address `memkv admin` queries when neither `--servers` nor
/// `MEMKV_SERVERS` is given.
pub(crate) const DEFAULT_SERVER: &str = "127.0.0.1:9900";
/// Where `memkv doc` listens by default.
pub(crate) const DEFAULT_DOC_ADDRESS: &str = "127.0.0.1:9980";

const AFTER_LONG_HELP: &str = "\
Exit status:
  0  success
  1  runtime failure (a server unreachable or unhealthy, an I/O error, ...)
  2  usage or configuration error (bad flags, invalid config file, unavailable command)

Environment:
  RUST_LOG        log filter for the messages memkv writes to stderr (default: info)
  NO_COLOR        when set, log messages are never coloured
  MEMKV_SERVERS   comma-separated data-plane addresses used by `admin` and `kv`";

/// memkv: a shared, persistent KV-cache store for LLM inference.
///
/// One binary runs the server (`start`), queries running servers (`admin`), reads and writes
/// keys (`kv`) and serves this build's documentation (`doc`).
#[derive(Debug, Parser)]
#[command(
    name = "memkv",
    bin_name = "memkv",
    version = VERSION,
    long_version = LONG_VERSION,
    subcommand_required = true,
    arg_required_else_help = true,
    max_term_width = 100,
    after_long_help = AFTER_LONG_HELP,
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start the server
    ///
    /// Runs a memkv server in the foreground: the TCP data plane on `network.address` and the
    /// admin HTTP(S) API on the same IP at port + 1. Stop it with Ctrl-C or SIGTERM.
    Start(StartArgs),
    /// Query the admin HTTP endpoint of one or more running memkv servers
    ///
    /// Servers are named by their data-plane address, as clients configure them; the admin
    /// endpoint queried is the same host at port + 1. The endpoint is spoken to over HTTP, or
    /// HTTPS when `--ca-cert` or `--insecure` is given or the address starts with `https://`.
    Admin(AdminArgs),
    /// Put, get, delete and inspect keys on running servers
    ///
    /// Talks the data-plane protocol through the memkv client engine, like any other client:
    /// each key is routed to its server by rendezvous hashing over `--servers`.
    Kv(KvArgs),
    /// Serve the bundled memkv documentation over HTTP
    ///
    /// The documentation is compiled into this binary, so it matches this build exactly and
    /// needs no files at run time. Prints the URL it serves on to stderr; stop with Ctrl-C.
    Doc(DocArgs),
    /// Initialize drives and generate config (outputs YAML to stdout)
    ///
    /// Formats the named drives (raw block devices, or existing data files) as one memkv drive
    /// set and prints a working config.yaml on stdout; logs go to stderr. Refuses a drive that
    /// carries a memkv superblock (unless --force), a filesystem or partition-table signature,
    /// or that is mounted or in use, and says why. Never touches a drive not named here.
    Setup(SetupArgs),
    /// Offline drive maintenance (server stopped)
    ///
    /// `info` prints a drive's superblock, geometry and usage; `check` verifies its segments,
    /// summaries and value checksums and reports damage, changing nothing unless `--repair` is
    /// given.
    Drive(DriveArgs),
}

/// Arguments of `memkv start`.
#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Server config file (YAML) [default: /etc/memkv/config.yaml]
    ///
    /// When this option is not given and /etc/memkv/config.yaml does not exist, the server
    /// runs on the built-in default configuration. A file named explicitly must exist.
    // `None`: the default path, where a missing file selects the built-in defaults.
    #[arg(long, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
}

/// Arguments of `memkv admin`.
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    #[command(subcommand)]
    pub(crate) command: AdminCommand,

    /// Data-plane addresses of the servers to query, comma separated (host:port)
    ///
    /// The admin endpoint queried is the same host at port + 1. Prefix an address with
    /// `https://` to use HTTPS for that server (`http://` forces plain HTTP).
    #[arg(
        long,
        global = true,
        env = "MEMKV_SERVERS",
        hide_env_values = true,
        value_name = "HOST:PORT,...",
        value_delimiter = ',',
        default_value = DEFAULT_SERVER,
    )]
    pub(crate) servers: Vec<String>,

    /// Print the servers' full JSON reports instead of a table
    ///
    /// One server: its report object. Several: an array in `--servers` order, where a server
    /// that did not answer appears as {"address": ..., "error": ...}.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Use HTTPS and trust the CA certificate(s) in this PEM file
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "insecure")]
    pub(crate) ca_cert: Option<PathBuf>,

    /// Use HTTPS without verifying the server's certificate (testing only)
    #[arg(long, global = true)]
    pub(crate) insecure: bool,

    /// Give up on a server that has not answered within this many seconds
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 5.0)]
    pub(crate) timeout: f64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Show each server's status: version, uptime, keys, capacity, connections
    ///
    /// Queries GET /v1/status. Exits 1 when any server cannot be reached.
    Status,
    /// Show each server's health
    ///
    /// Queries GET /v1/health. Exits 1 when any server cannot be reached or reports
    /// `unhealthy`; `degraded` is shown but still exits 0.
    Health,
}

/// Arguments of `memkv kv`.
#[derive(Debug, Args)]
pub(crate) struct KvArgs {
    /// Data-plane addresses of the servers, comma separated (host:port)
    ///
    /// When neither this option nor MEMKV_SERVERS is given, `servers` from the client
    /// configuration file named by MEMKV_CONFIG is used.
    #[arg(
        long,
        global = true,
        env = "MEMKV_SERVERS",
        hide_env_values = true,
        value_name = "HOST:PORT,...",
        value_delimiter = ','
    )]
    pub(crate) servers: Vec<String>,

    #[command(subcommand)]
    pub(crate) command: KvCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KvCommand {
    /// Store a value under a key
    ///
    /// The value is VALUE, or the contents of `--file`, or standard input when neither is
    /// given. An existing value under the key is replaced.
    Put(KvPutArgs),
    /// Fetch a key's value
    ///
    /// Writes the value to standard output, or to `--output`. Exits 1 when the key is absent.
    Get(KvGetArgs),
    /// Delete a key
    Rm(KvKeyArgs),
    /// Show a key's size and server
    Stat(KvKeyArgs),
    /// Check whether keys exist
    ///
    /// Prints one line per key. Exits 1 when any key is absent.
    Exists(KvExistsArgs),
}

/// Arguments of `memkv kv put`.
#[derive(Debug, Args)]
pub(crate) struct KvPutArgs {
    /// The key
    pub(crate) key: String,
    /// The value, as a command-line string
    #[arg(conflicts_with = "file")]
    pub(crate) value: Option<String>,
    /// Read the value from this file
    #[arg(long, short = 'f', value_name = "PATH")]
    pub(crate) file: Option<PathBuf>,
}

/// Arguments of `memkv kv get`.
#[derive(Debug, Args)]
pub(crate) struct KvGetArgs {
    /// The key
    pub(crate) key: String,
    /// Write the value to this file instead of standard output
    #[arg(long, short = 'o', value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
}

/// Arguments of the single-key `memkv kv` commands (`rm`, `stat`).
#[derive(Debug, Args)]
pub(crate) struct KvKeyArgs {
    /// The key
    pub(crate) key: String,
}

/// Arguments of `memkv kv exists`.
#[derive(Debug, Args)]
pub(crate) struct KvExistsArgs {
    /// The keys to check
    #[arg(required = true, value_name = "KEY")]
    pub(crate) keys: Vec<String>,
}

/// Arguments of `memkv doc`.
#[derive(Debug, Args)]
pub(crate) struct DocArgs {
    /// Address to listen on (host:port; port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_DOC_ADDRESS)]
    pub(crate) address: String,
}

/// Arguments of `memkv setup`.
#[derive(Debug, Args)]
pub(crate) struct SetupArgs {
    /// Drives to format: block devices (e.g. /dev/nvme0n1) or existing data files
    #[arg(long, value_name = "PATH", num_args = 1.., required = true)]
    pub(crate) drives: Vec<PathBuf>,
    /// Minimum shard size in KiB; 1024 or more sets storage.block_size to shard_size/1024 MiB
    /// (a power of two), smaller values keep the default 4 MiB
    #[arg(long, value_name = "KB", default_value_t = 64)]
    pub(crate) shard_size: u64,
    /// RDMA device name written to rdma.device
    #[arg(long, value_name = "DEV", default_value = "mlx5_0")]
    pub(crate) rdma: String,
    /// Reformat drives that carry a memkv superblock (destroys their data)
    #[arg(long)]
    pub(crate) force: bool,
    /// Succeed without reformatting when the drives already form one set with these settings
    #[arg(long)]
    pub(crate) idempotent: bool,
}

/// Arguments of `memkv drive`.
#[derive(Debug, Args)]
pub(crate) struct DriveArgs {
    #[command(subcommand)]
    pub(crate) command: DriveCommand,
}

/// `memkv drive` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum DriveCommand {
    /// Print the superblock, geometry and usage of each drive
    Info {
        /// Drives or data files
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
    },
    /// Verify segments, summaries and value checksums; exit 1 when damage is found
    Check {
        /// Drives or data files
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
        /// Rebuild damaged segment summaries from their records and free extents whose
        /// segment header is damaged
        #[arg(long)]
        repair: bool,
    },
    /// Remove the memkv superblock and discard the data, so the drives can be reused
    ///
    /// Refuses, before changing anything, a drive that holds no memkv superblock and a drive
    /// in use (held by a running server or mounted). Only the named paths are touched. Asks
    /// for confirmation on the terminal unless --force is given.
    Wipe {
        /// Drives or data files
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
        /// Do not ask for confirmation (destroys the drives' memkv data)
        #[arg(long, visible_alias = "yes")]
        force: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::{AdminCommand, Cli, Command, KvCommand};

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn admin_flags_work_before_and_after_the_subcommand() {
        for argv in [
            &["memkv", "admin", "--json", "--servers", "a:1,b:2", "health"][..],
            &["memkv", "admin", "health", "--json", "--servers", "a:1,b:2"][..],
        ] {
            let cli = Cli::try_parse_from(argv).expect("parses");
            let Command::Admin(admin) = cli.command else {
                panic!("not admin: {argv:?}")
            };
            assert!(matches!(admin.command, AdminCommand::Health));
            assert!(admin.json);
            assert_eq!(admin.servers, ["a:1", "b:2"]);
        }
    }

    #[test]
    fn kv_put_value_and_file_conflict() {
        let err = Cli::try_parse_from(["memkv", "kv", "put", "k", "v", "--file", "x"])
            .expect_err("conflict");
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let cli = Cli::try_parse_from(["memkv", "kv", "put", "k", "--servers", "h:1"]).unwrap();
        let Command::Kv(kv) = cli.command else {
            panic!("not kv")
        };
        assert_eq!(kv.servers, ["h:1"]);
        assert!(matches!(kv.command, KvCommand::Put(ref put) if put.value.is_none()));
    }

    #[test]
    fn start_config_defaults_to_etc() {
        let cli = Cli::try_parse_from(["memkv", "start"]).unwrap();
        let Command::Start(start) = cli.command else {
            panic!("not start")
        };
        assert_eq!(start.config, None);
        assert_eq!(super::DEFAULT_CONFIG_PATH, "/etc/memkv/config.yaml");
    }
}
