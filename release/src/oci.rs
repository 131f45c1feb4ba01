//! The container image, built without a container daemon: one gzip'd layer per architecture,
//! an OCI image configuration and manifest each, a multi-arch index, written as an OCI image
//! layout directory and as one `docker load` archive per architecture.
//!
//! Everything is byte-reproducible: the layer tar has fixed headers (sorted paths, mtime =
//! `SOURCE_DATE_EPOCH`, numeric owners), gzip has a zero mtime and no name, and the JSON
//! documents are written with sorted keys (oci-spec keeps labels and ports in `HashMap`s).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_spec::image::{
    ANNOTATION_REF_NAME, ConfigBuilder, Descriptor, Digest, HistoryBuilder,
    ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType,
    OciLayoutBuilder, Os, PlatformBuilder, RootFsBuilder,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::manifest::{ImageSpec, PackageMeta, ResolvedFile};
use crate::platform::Arch;
use crate::tag::{self, ReleaseTag};

/// The inputs of one architecture's image.
#[derive(Debug)]
pub(crate) struct ArchImage {
    pub(crate) arch: Arch,
    pub(crate) files: Vec<ResolvedFile>,
}

/// Where the image went.
#[derive(Debug)]
pub(crate) struct ImageOutput {
    pub(crate) layout_dir: PathBuf,
    /// One docker-loadable archive per architecture.
    pub(crate) docker_archives: Vec<(Arch, PathBuf)>,
    /// `name:tag` references the archives load as.
    pub(crate) references: Vec<String>,
}

/// Everything the image's metadata says.
#[derive(Debug)]
pub(crate) struct ImageMeta<'a> {
    pub(crate) spec: &'a ImageSpec,
    pub(crate) package: &'a PackageMeta,
    pub(crate) tag: &'a ReleaseTag,
    pub(crate) revision: &'a str,
    pub(crate) source_date_epoch: i64,
    /// Repository name the docker archives carry (e.g. `memkv`).
    pub(crate) image_name: &'a str,
}

/// A blob ready to be written: its bytes and descriptor.
struct Blob {
    bytes: Vec<u8>,
    descriptor: Descriptor,
}

impl Blob {
    fn new(media_type: MediaType, bytes: Vec<u8>) -> Result<Self> {
        let digest = sha256_digest(&bytes)?;
        let size = u64::try_from(bytes.len()).context("blob too large")?;
        Ok(Self {
            descriptor: Descriptor::new(media_type, size, digest),
            bytes,
        })
    }

    fn file_name(&self) -> String {
        self.descriptor.digest().digest().to_owned()
    }
}

struct BuiltArch {
    arch: Arch,
    layer: Blob,
    config: Blob,
    manifest: Blob,
}

/// Builds the image for every architecture and writes the layout and the archives under `out`.
pub(crate) fn build(meta: &ImageMeta<'_>, arches: &[ArchImage], out: &Path) -> Result<ImageOutput> {
    let mut built = Vec::new();
    for arch_image in arches {
        built.push(build_arch(meta, arch_image)?);
    }

    let tag = meta.tag.to_string();
    let mut nested = Vec::new();
    for image in &built {
        let mut descriptor = image.manifest.descriptor.clone();
        descriptor.set_platform(Some(
            PlatformBuilder::default()
                .architecture(oci_arch(image.arch))
                .os(Os::Linux)
                .build()?,
        ));
        nested.push(descriptor);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(nested.clone())
        .build()?;
    let index_blob = Blob::new(MediaType::ImageIndex, canonical_json(&index)?)?;

    // The layout's own index: the multi-arch index under both tags, and each architecture's
    // manifest under `<tag>-linux-<arch>` (umoci cannot pick a platform from an index).
    let mut top = Vec::new();
    for name in [tag.as_str(), "latest"] {
        top.push(with_ref_name(&index_blob.descriptor, name)?);
    }
    for (image, platform_descriptor) in built.iter().zip(&nested) {
        let name = format!("{tag}-{}", image.arch.platform_dir());
        top.push(with_ref_name(platform_descriptor, &name)?);
    }
    let top_index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(top)
        .build()?;

    let layout_dir = out.join("oci");
    let blobs_dir = layout_dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs_dir)
        .with_context(|| format!("creating {}", blobs_dir.display()))?;
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()?;
    write(&layout_dir.join("oci-layout"), &canonical_json(&layout)?)?;
    write(&layout_dir.join("index.json"), &canonical_json(&top_index)?)?;
    write(&blobs_dir.join(index_blob.file_name()), &index_blob.bytes)?;
    for image in &built {
        for blob in [&image.layer, &image.config, &image.manifest] {
            write(&blobs_dir.join(blob.file_name()), &blob.bytes)?;
        }
    }

    let references = vec![
        format!("{}:{tag}", meta.image_name),
        format!("{}:latest", meta.image_name),
    ];
    let mut docker_archives = Vec::new();
    for image in &built {
        let path = out
            .join(image.arch.platform_dir())
            .join(format!("{}-image.docker.tar", meta.package.name));
        write_docker_archive(&path, image, &references, meta.source_date_epoch)?;
        docker_archives.push((image.arch, path));
    }
    Ok(ImageOutput {
        layout_dir,
        docker_archives,
        references,
    })
}

fn build_arch(meta: &ImageMeta<'_>, image: &ArchImage) -> Result<BuiltArch> {
    let tar = layer_tar(meta, &image.files)?;
    let diff_id = sha256_digest(&tar)?;
    let layer = Blob::new(MediaType::ImageLayerGzip, crate::generated::gzip(&tar)?)?;

    let created = tag::rfc3339(meta.source_date_epoch);
    let label_map: std::collections::HashMap<String, String> = labels(meta).into_iter().collect();
    let spec = meta.spec;
    let config = ConfigBuilder::default()
        .user(spec.user.clone())
        .env(spec.env.clone())
        .entrypoint(spec.entrypoint.clone())
        .cmd(spec.cmd.clone())
        .exposed_ports(
            spec.ports
                .iter()
                .map(|port| format!("{port}/tcp"))
                .collect::<Vec<_>>(),
        )
        .working_dir("/var/lib/memkv")
        .labels(label_map)
        .stop_signal("SIGTERM")
        .build()?;
    let configuration = ImageConfigurationBuilder::default()
        .created(created.clone())
        .architecture(oci_arch(image.arch))
        .os(Os::Linux)
        .config(config)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.to_string()])
                .build()?,
        )
        .history(vec![
            HistoryBuilder::default()
                .created(created)
                .created_by(format!("memkv-release {}", meta.tag))
                .build()?,
        ])
        .build()?;
    let config = Blob::new(MediaType::ImageConfig, canonical_json(&configuration)?)?;

    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config.descriptor.clone())
        .layers(vec![layer.descriptor.clone()])
        .annotations(
            labels(meta)
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .build()?;
    let manifest = Blob::new(MediaType::ImageManifest, canonical_json(&manifest)?)?;
    Ok(BuiltArch {
        arch: image.arch,
        layer,
        config,
        manifest,
    })
}

/// The OCI labels (and manifest annotations) of the image.
fn labels(meta: &ImageMeta<'_>) -> BTreeMap<String, String> {
    let package = meta.package;
    [
        ("org.opencontainers.image.title", package.name.clone()),
        (
            "org.opencontainers.image.description",
            package.summary.clone(),
        ),
        ("org.opencontainers.image.version", meta.tag.to_string()),
        (
            "org.opencontainers.image.revision",
            meta.revision.to_owned(),
        ),
        ("org.opencontainers.image.source", package.homepage.clone()),
        ("org.opencontainers.image.url", package.homepage.clone()),
        ("org.opencontainers.image.vendor", package.vendor.clone()),
        ("org.opencontainers.image.licenses", package.license.clone()),
        (
            "org.opencontainers.image.created",
            tag::rfc3339(meta.source_date_epoch),
        ),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

fn oci_arch(arch: Arch) -> oci_spec::image::Arch {
    match arch {
        Arch::Amd64 => oci_spec::image::Arch::Amd64,
        Arch::Arm64 => oci_spec::image::Arch::ARM64,
    }
}

fn with_ref_name(descriptor: &Descriptor, name: &str) -> Result<Descriptor> {
    let mut descriptor = descriptor.clone();
    descriptor.set_annotations(Some(
        [(ANNOTATION_REF_NAME.to_owned(), name.to_owned())]
            .into_iter()
            .collect(),
    ));
    Ok(descriptor)
}

/// The layer: every parent directory, the declared empty directories and the files.
fn layer_tar(meta: &ImageMeta<'_>, files: &[ResolvedFile]) -> Result<Vec<u8>> {
    let (uid, gid) = parse_user(&meta.spec.user)?;
    // path -> (mode, uid, gid, Some(source) for files)
    let mut entries: BTreeMap<String, (u32, u64, u64, Option<PathBuf>)> = BTreeMap::new();
    let add_parents = |path: &str, entries: &mut BTreeMap<_, _>| {
        let mut parent = Path::new(path).parent();
        while let Some(dir) = parent {
            let text = dir.to_string_lossy().trim_start_matches('/').to_owned();
            if text.is_empty() {
                break;
            }
            entries
                .entry(format!("{text}/"))
                .or_insert((0o755, 0, 0, None));
            parent = dir.parent();
        }
    };
    for dir in &meta.spec.dirs {
        add_parents(&dir.path, &mut entries);
        let (u, g) = if dir.owned { (uid, gid) } else { (0, 0) };
        let key = format!("{}/", dir.path.trim_matches('/'));
        entries.insert(key, (dir.mode, u, g, None));
    }
    for file in files {
        add_parents(&file.dst, &mut entries);
        let key = file.dst.trim_start_matches('/').to_owned();
        entries.insert(key, (file.mode, 0, 0, Some(file.src.clone())));
    }

    let mut builder = tar::Builder::new(Vec::new());
    let mtime = u64::try_from(meta.source_date_epoch).context("SOURCE_DATE_EPOCH is negative")?;
    for (path, (mode, uid, gid, source)) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_mtime(mtime);
        header.set_username("")?;
        header.set_groupname("")?;
        match source {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, &path, std::io::empty())
                    .with_context(|| format!("adding {path} to the layer"))?;
            }
            Some(src) => {
                let data =
                    std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(u64::try_from(data.len()).context("file too large")?);
                builder
                    .append_data(&mut header, &path, data.as_slice())
                    .with_context(|| format!("adding {path} to the layer"))?;
            }
        }
    }
    builder.into_inner().context("finishing the layer tar")
}

fn parse_user(user: &str) -> Result<(u64, u64)> {
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    let parse = |text: &str| {
        text.parse::<u64>()
            .with_context(|| format!("[image] user = {user:?} must be numeric uid:gid"))
    };
    Ok((parse(uid)?, parse(gid)?))
}

/// A `docker load` archive (the `docker save` format) of one architecture's image.
fn write_docker_archive(
    path: &Path,
    image: &BuiltArch,
    references: &[String],
    source_date_epoch: i64,
) -> Result<()> {
    let config_path = format!("blobs/sha256/{}", image.config.file_name());
    let layer_path = format!("blobs/sha256/{}", image.layer.file_name());
    let manifest = serde_json::json!([{
        "Config": config_path,
        "RepoTags": references,
        "Layers": [layer_path],
    }]);
    let manifest = serde_json::to_vec(&manifest).context("rendering manifest.json")?;
    let mut builder = tar::Builder::new(Vec::new());
    let mtime = u64::try_from(source_date_epoch).context("SOURCE_DATE_EPOCH is negative")?;
    let mut dirs = BTreeSet::new();
    dirs.insert("blobs/".to_owned());
    dirs.insert("blobs/sha256/".to_owned());
    for dir in dirs {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_mtime(mtime);
        header.set_size(0);
        builder.append_data(&mut header, &dir, std::io::empty())?;
    }
    let mut files: Vec<(String, &[u8])> = vec![
        (config_path, &image.config.bytes),
        (layer_path, &image.layer.bytes),
        ("manifest.json".to_owned(), &manifest),
    ];
    files.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_size(u64::try_from(bytes.len()).context("file too large")?);
        builder.append_data(&mut header, &name, bytes)?;
    }
    let bytes = builder
        .into_inner()
        .context("finishing the docker archive")?;
    write(path, &bytes)
}

fn sha256_digest(bytes: &[u8]) -> Result<Digest> {
    let hex = hex::encode(Sha256::digest(bytes));
    Digest::try_from(format!("sha256:{hex}")).context("making a sha256 digest")
}

/// Compact JSON with every object's keys sorted, whatever map type the value used.
pub(crate) fn canonical_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    fn sort(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let sorted: BTreeMap<String, Value> =
                    map.into_iter().map(|(k, v)| (k, sort(v))).collect();
                let mut out = serde_json::Map::new();
                for (key, value) in sorted {
                    out.insert(key, value);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sort).collect()),
            other => other,
        }
    }
    let value = sort(serde_json::to_value(value).context("serialising JSON")?);
    serde_json::to_vec(&value).context("serialising JSON")
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::canonical_json;
    use std::collections::HashMap;

    #[test]
    fn canonical_json_sorts_hash_map_keys() {
        let map: HashMap<String, u32> = (0..50).map(|i| (format!("k{i:02}"), i)).collect();
        let text = String::from_utf8(canonical_json(&map).expect("json")).expect("utf8");
        let keys: Vec<&str> = text
            .match_indices("\"k")
            .map(|(i, _)| &text[i + 1..i + 4])
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        assert_eq!(keys.len(), 50);
    }
}
