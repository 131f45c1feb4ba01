//! Release signing keys: loading them from files or the environment, and making throwaway
//! ones (`keygen`) for tests and dry runs.
//!
//! | what | secret key | passphrase |
//! |---|---|---|
//! | minisign (`.minisig`) | `MEMKV_MINISIGN_KEY_FILE` or `MEMKV_MINISIGN_KEY` (the file's text) | `MEMKV_MINISIGN_PASSWORD` |
//! | GPG (`.asc`, rpm) | `MEMKV_GPG_KEY_FILE` or `MEMKV_GPG_KEY` (armored secret key) | `MEMKV_GPG_PASSPHRASE` |
//! | apk (RSA) | `MEMKV_APK_KEY_FILE` or `MEMKV_APK_KEY` (PEM) | none; `MEMKV_APK_KEY_NAME` names the public key |
//!
//! Secrets given as text are written only into the release's private work directory (mode
//! 0700), which is deleted when the release ends.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::external;

/// The apk public key's name on Alpine machines when `MEMKV_APK_KEY_NAME` is unset.
pub(crate) const DEFAULT_APK_KEY_NAME: &str = "memkv-release.rsa.pub";

/// Loaded signing keys.
pub(crate) struct SigningKeys {
    pub(crate) minisign_secret: minisign::SecretKey,
    pub(crate) minisign_public: minisign::PublicKey,
    pub(crate) gpg: GpgKey,
    pub(crate) apk_key: PathBuf,
    pub(crate) apk_key_name: String,
    pub(crate) apk_public_pem: String,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("minisign_public", &self.minisign_public.to_base64())
            .field("gpg_fingerprint", &self.gpg.fingerprint)
            .field("apk_key_name", &self.apk_key_name)
            .finish_non_exhaustive()
    }
}

/// A GPG secret key imported into a private keyring.
#[derive(Debug)]
pub(crate) struct GpgKey {
    pub(crate) gpg: PathBuf,
    pub(crate) home: PathBuf,
    pub(crate) fingerprint: String,
    /// The armored secret key (for nfpm's rpm signing).
    pub(crate) secret_file: PathBuf,
    pub(crate) passphrase: Option<String>,
    pub(crate) passphrase_file: Option<PathBuf>,
    pub(crate) public_armored: String,
}

impl GpgKey {
    /// Stops the gpg-agent that gpg started for the private keyring.
    pub(crate) fn shutdown(&self) {
        stop_agent(&self.home);
    }

    /// `gpg` with the private keyring and, when there is one, the passphrase.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.gpg);
        command.arg("--homedir").arg(&self.home).arg("--batch");
        if let Some(file) = &self.passphrase_file {
            command
                .args(["--pinentry-mode", "loopback", "--passphrase-file"])
                .arg(file);
        }
        command
    }
}

const KEY_VARS: [(&str, &str); 3] = [
    ("MEMKV_MINISIGN_KEY_FILE", "MEMKV_MINISIGN_KEY"),
    ("MEMKV_GPG_KEY_FILE", "MEMKV_GPG_KEY"),
    ("MEMKV_APK_KEY_FILE", "MEMKV_APK_KEY"),
];

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Reads a key from `<FILE var>` (a path) or `<TEXT var>` (the content), writing text keys
/// into `private` so tools that need a file get one.
fn key_material(file_var: &str, text_var: &str, private: &Path, name: &str) -> Result<PathBuf> {
    if let Some(path) = env(file_var) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{file_var}={} is not a file", path.display());
        }
        return Ok(path);
    }
    let text =
        env(text_var).with_context(|| format!("neither {file_var} nor {text_var} is set"))?;
    let path = private.join(name);
    write_private(&path, text.as_bytes())?;
    Ok(path)
}

/// Writes a file readable by the owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))
}

/// Creates `dir` with mode 0700.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", dir.display()))
}

/// Loads all three keys from the environment. `Ok(None)` when none is configured; an error
/// when only some are, or one does not load.
pub(crate) fn load(repo: &Path, private: &Path) -> Result<Option<SigningKeys>> {
    let configured: Vec<bool> = KEY_VARS
        .iter()
        .map(|(file, text)| env(file).is_some() || env(text).is_some())
        .collect();
    if configured.iter().all(|set| !set) {
        return Ok(None);
    }
    if configured.iter().any(|set| !set) {
        let missing: Vec<String> = KEY_VARS
            .iter()
            .zip(&configured)
            .filter(|(_, set)| !**set)
            .map(|((file, text), _)| format!("{file} (or {text})"))
            .collect();
        bail!(
            "some signing keys are configured but not {}: a release is signed with all three \
             keys or, with --unsigned, none (docs/release.md, \"Keys\")",
            missing.join(", ")
        );
    }
    private_dir(private)?;

    let minisign_path = key_material(KEY_VARS[0].0, KEY_VARS[0].1, private, "minisign.key")?;
    let minisign_text = std::fs::read_to_string(&minisign_path)
        .with_context(|| format!("reading {}", minisign_path.display()))?;
    let minisign_box = minisign::SecretKeyBox::from_string(&minisign_text)
        .context("the minisign secret key is not a minisign key file")?;
    let minisign_secret = match env("MEMKV_MINISIGN_PASSWORD") {
        Some(password) => minisign_box
            .into_secret_key(Some(password))
            .context("decrypting the minisign secret key with MEMKV_MINISIGN_PASSWORD")?,
        None => minisign_box.into_unencrypted_secret_key().context(
            "loading the minisign secret key (an encrypted key needs MEMKV_MINISIGN_PASSWORD)",
        )?,
    };
    let minisign_public = minisign::PublicKey::from_secret_key(&minisign_secret)
        .context("deriving the minisign public key")?;

    let gpg_path = key_material(KEY_VARS[1].0, KEY_VARS[1].1, private, "gpg-secret.asc")?;
    let gpg = import_gpg(repo, private, &gpg_path, env("MEMKV_GPG_PASSPHRASE"))?;

    let apk_key = key_material(KEY_VARS[2].0, KEY_VARS[2].1, private, "apk.rsa")?;
    let openssl = external::require(repo, "openssl")?;
    let apk_public_pem = external::stdout_of(
        Command::new(openssl)
            .args(["rsa", "-pubout", "-in"])
            .arg(&apk_key),
        "reading the apk RSA key (MEMKV_APK_KEY_FILE)",
    )?;
    let apk_key_name = env("MEMKV_APK_KEY_NAME").unwrap_or_else(|| DEFAULT_APK_KEY_NAME.to_owned());
    Ok(Some(SigningKeys {
        minisign_secret,
        minisign_public,
        gpg,
        apk_key,
        apk_key_name,
        apk_public_pem: format!("{apk_public_pem}\n"),
    }))
}

fn import_gpg(
    repo: &Path,
    private: &Path,
    secret_file: &Path,
    passphrase: Option<String>,
) -> Result<GpgKey> {
    let home = private.join("gnupg");
    private_dir(&home)?;
    stop_agent(&home);
    let passphrase_file = match &passphrase {
        Some(text) => {
            let path = private.join("gpg-passphrase");
            write_private(&path, text.as_bytes())?;
            Some(path)
        }
        None => None,
    };
    let mut key = GpgKey {
        gpg: external::require(repo, "gpg")?,
        home,
        fingerprint: String::new(),
        secret_file: secret_file.to_path_buf(),
        passphrase,
        passphrase_file,
        public_armored: String::new(),
    };
    external::run(
        key.command().arg("--import").arg(secret_file),
        "importing the GPG secret key (MEMKV_GPG_KEY_FILE)",
    )?;
    let listing = external::stdout_of(
        key.command().args(["--with-colons", "--list-secret-keys"]),
        "listing the imported GPG key",
    )?;
    key.fingerprint = listing
        .lines()
        .skip_while(|line| !line.starts_with("sec:"))
        .find_map(|line| line.strip_prefix("fpr:"))
        .map(|rest| rest.trim_matches(':').to_owned())
        .context("the GPG key file holds no secret key")?;
    key.public_armored = external::stdout_of(
        key.command()
            .args(["--armor", "--export"])
            .arg(&key.fingerprint),
        "exporting the GPG public key",
    )?;
    Ok(key)
}

/// Stops a keyring's gpg-agent (it would otherwise outlive the run).
pub(crate) fn stop_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "all"])
        .stdin(std::process::Stdio::null())
        .output();
}

/// Throwaway keys written by `keygen`.
#[derive(Debug)]
pub(crate) struct GeneratedKeys {
    pub(crate) env_file: PathBuf,
    pub(crate) minisign_public: String,
    pub(crate) gpg_fingerprint: String,
}

/// Makes a fresh set of keys in `dir` and an `env` file that points the release at them.
pub(crate) fn generate(repo: &Path, dir: &Path) -> Result<GeneratedKeys> {
    private_dir(dir)?;
    let pair = minisign::KeyPair::generate_unencrypted_keypair()
        .context("generating a minisign key pair")?;
    let sk_text = pair
        .sk
        .to_box(Some("memkv throwaway release key"))
        .context("encoding the minisign secret key")?
        .into_string();
    write_private(&dir.join("minisign.key"), sk_text.as_bytes())?;
    let pk_text = pair
        .pk
        .to_box()
        .context("encoding the minisign public key")?
        .into_string();
    std::fs::write(dir.join("minisign.pub"), pk_text).context("writing minisign.pub")?;

    let gpg = external::require(repo, "gpg")?;
    let home = dir.join("gnupg");
    private_dir(&home)?;
    let gpg_cmd = || {
        let mut command = Command::new(&gpg);
        command.arg("--homedir").arg(&home).arg("--batch");
        command
    };
    // RSA: rpm on RHEL 8 (4.14) cannot check EdDSA signatures.
    external::run(
        gpg_cmd().args([
            "--passphrase",
            "",
            "--quick-gen-key",
            "memkv release (throwaway) <release@memkv.invalid>",
            "rsa3072",
            "sign",
            "never",
        ]),
        "generating a throwaway GPG key",
    )?;
    let secret = external::run(
        gpg_cmd().args(["--armor", "--export-secret-keys"]),
        "exporting the throwaway GPG key",
    )?
    .stdout;
    write_private(&dir.join("gpg-secret.asc"), &secret)?;
    let public = external::run(
        gpg_cmd().args(["--armor", "--export"]),
        "exporting the GPG key",
    )?
    .stdout;
    std::fs::write(dir.join("gpg-public.asc"), public).context("writing gpg-public.asc")?;
    let listing = external::stdout_of(
        gpg_cmd().args(["--with-colons", "--list-keys"]),
        "listing the throwaway GPG key",
    )?;
    let fingerprint = listing
        .lines()
        .find_map(|line| line.strip_prefix("fpr:"))
        .map(|rest| rest.trim_matches(':').to_owned())
        .context("gpg listed no fingerprint")?;

    stop_agent(&home);

    let openssl = external::require(repo, "openssl")?;
    let apk_key = dir.join("apk.rsa");
    external::run(
        Command::new(&openssl)
            .args(["genrsa", "-out"])
            .arg(&apk_key)
            .arg("2048"),
        "generating a throwaway apk RSA key",
    )?;
    std::fs::set_permissions(&apk_key, std::fs::Permissions::from_mode(0o600))
        .context("restricting apk.rsa")?;
    external::run(
        Command::new(&openssl)
            .args(["rsa", "-pubout", "-in"])
            .arg(&apk_key)
            .arg("-out")
            .arg(dir.join(DEFAULT_APK_KEY_NAME)),
        "writing the apk public key",
    )?;

    let env_file = dir.join("env");
    let env_text = format!(
        "MEMKV_MINISIGN_KEY_FILE={}\nMEMKV_GPG_KEY_FILE={}\nMEMKV_APK_KEY_FILE={}\n",
        dir.join("minisign.key").display(),
        dir.join("gpg-secret.asc").display(),
        apk_key.display()
    );
    std::fs::write(&env_file, env_text).context("writing the env file")?;
    Ok(GeneratedKeys {
        env_file,
        minisign_public: pair.pk.to_base64(),
        gpg_fingerprint: fingerprint,
    })
}
