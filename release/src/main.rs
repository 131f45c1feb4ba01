//! memkv-release: the release tool (xtask style, run as `cargo xtask ...`).
//!
//! `cargo xtask release` builds, packages, signs and describes a release under
//! `dist/RELEASE.<timestamp>/`; `keygen` makes throwaway signing keys; `notes` copies a built
//! release's notes into `notes/`; `plan` shows what the workspace would release; `docs` keeps the
//! generated part of docs/release.md in step with packaging/package.toml. docs/release.md is the
//! manual.

mod compile;
mod docs;
mod elf;
mod external;
mod generated;
mod keys;
mod manifest;
mod notes;
mod oci;
mod packages;
mod platform;
mod release;
mod signing;
mod tag;
mod workspace;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::tag::ReleaseTag;

#[derive(Debug, Parser)]
#[command(
    name = "memkv-release",
    about = "Build, package, sign and describe a memkv release"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build every artifact of a release into dist/RELEASE.<timestamp>/
    Release(ReleaseArgs),
    /// Make throwaway signing keys (minisign, GPG, apk RSA) and an env file naming them
    Keygen {
        /// Directory for the keys (created, mode 0700)
        #[arg(long)]
        dir: PathBuf,
    },
    /// Copy a built release's notes, dist/<tag>/release-notes-<tag>.md, into notes/ (to commit
    /// them). `release` generates the notes from CHANGES.md; this command does not read it
    Notes {
        /// The release tag, RELEASE.YYYY-MM-DDTHH-MM-SSZ
        #[arg(long)]
        tag: String,
        /// Where release directories are (`release --out`) [default: <repo>/dist]
        #[arg(long)]
        dist: Option<PathBuf>,
        /// Where the notes go [default: <repo>/notes]
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show which members the workspace provides and which slots stay empty
    Plan,
    /// Regenerate the package contents table in docs/release.md (--check: fail when stale)
    Docs {
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, clap::Args)]
struct ReleaseArgs {
    /// Release tag RELEASE.YYYY-MM-DDTHH-MM-SSZ [default: the current UTC second]
    #[arg(long, conflicts_with = "time")]
    tag: Option<String>,
    /// Release time as Unix seconds, instead of --tag
    #[arg(long)]
    time: Option<i64>,
    /// Build for this machine's architecture only (fast local runs)
    #[arg(long)]
    host_only: bool,
    /// Produce no signatures (no keys needed); packages are unsigned
    #[arg(long)]
    unsigned: bool,
    /// Where release directories go [default: <repo>/dist]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Parent of the release build target directories [default: <repo>/target/dist]
    #[arg(long)]
    target_dir: Option<PathBuf>,
    /// Cargo profile of the builds. Real releases use `release`; the test suite uses
    /// `release-test` (no LTO, no optimisation: the same artifacts, built in a fraction of the
    /// time; see docs/release.md)
    #[arg(long, default_value = "release")]
    profile: String,
    /// Absolute base URL of the published release tree for the notes' links
    /// [default: links relative to the release directory]
    #[arg(long)]
    download_url: Option<String>,
    /// Links for the flat assets of a GitHub release, this URL being
    /// https://github.com/OWNER/REPO/releases/download/TAG: packages by name, binaries to the
    /// platform archive memkv-<tag>-linux-<arch>.tar.gz (what release.yml uploads)
    #[arg(long, conflicts_with = "download_url")]
    github_release_url: Option<String>,
    /// Image name inside the docker archives
    #[arg(long, default_value = "memkv")]
    image_name: String,
    /// Registry repository the notes tell users to pull from
    #[arg(long, default_value = "ghcr.io/memkv/memkv")]
    image_repository: String,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let repo = workspace::repo_root()?;
    match cli.command {
        Command::Release(args) => {
            let tag = match (&args.tag, args.time) {
                (Some(tag), _) => ReleaseTag::parse(tag)?,
                (None, Some(time)) => ReleaseTag::from_epoch(time)?,
                (None, None) => ReleaseTag::now()?,
            };
            let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
                Ok(value) if !value.is_empty() => value
                    .parse()
                    .with_context(|| format!("SOURCE_DATE_EPOCH={value:?} is not Unix seconds"))?,
                _ => tag.epoch(),
            };
            let options = release::ReleaseOptions {
                source_date_epoch,
                arches: release::arches(args.host_only)?,
                out: args.out.unwrap_or_else(|| repo.join("dist")),
                target_root: args
                    .target_dir
                    .unwrap_or_else(|| repo.join("target").join("dist")),
                unsigned: args.unsigned,
                profile: args.profile,
                download_url: args.download_url,
                github_release_url: args.github_release_url,
                image_name: args.image_name,
                image_repository: args.image_repository,
                tag,
            };
            let dist = release::run(&repo, &options)?;
            println!("{}", dist.display());
        }
        Command::Keygen { dir } => {
            let keys = keys::generate(&repo, &dir)?;
            println!("env file: {}", keys.env_file.display());
            println!("minisign public key: {}", keys.minisign_public);
            println!("GPG fingerprint: {}", keys.gpg_fingerprint);
        }
        Command::Notes { tag, dist, out } => {
            let path = docs::write_notes(
                &dist.unwrap_or_else(|| repo.join("dist")),
                &out.unwrap_or_else(|| repo.join("notes")),
                &ReleaseTag::parse(&tag)?,
            )?;
            println!("{}", path.display());
        }
        Command::Plan => {
            let manifest = manifest::Manifest::load(&repo)?;
            let inventory = workspace::Inventory::scan(&repo)?;
            let plan = manifest.plan(&repo, &inventory)?;
            for source in &plan.present {
                println!("present  {source}");
            }
            for slot in &plan.empty_slots {
                println!("empty    {slot}");
            }
        }
        Command::Docs { check } => docs::contents_table(&repo, check)?,
    }
    Ok(())
}
