//! Which image a layout or archive holds, read with `oci-spec`'s image types: the OCI
//! layout (`oci-layout`, `index.json`, the manifest and config blobs) or a
//! docker-archive (`manifest.json`, `HEX.json`, layer tars), and every blob's digest
//! checked before it is used.
//!
//! Why `oci-spec`: the project already builds its runtime spec with it; its image
//! types parse exactly what the image spec says (digests are validated as they are
//! read, so a `blobs/sha256/…` path made from one cannot climb out of `blobs/`).
//!
//! Digests: every blob the image names by digest (the manifest, through the index;
//! the config; each layer) is hashed with sha256 and compared, size included, before
//! it is parsed or unpacked. A docker-archive names no layer by digest: its config
//! lists the sha256 of each uncompressed layer (`rootfs.diff_ids`), which is checked
//! before use for an uncompressed layer and, for every layer, on the uncompressed
//! stream as it is unpacked (in a temporary directory that is thrown away on a
//! mismatch). That second check also covers a layer file swapped between the first
//! read and the unpacking (an archive in a directory someone else can write): what is
//! unpacked is what the verified config names, or nothing. Only sha256 is accepted: it
//! is what every engine writes.

use std::io::Read;

use oci_spec::image::{
    Descriptor, Digest, DigestAlgorithm, ImageConfiguration, ImageIndex, ImageManifest, MediaType,
};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::archive::Blobs;
use super::{bad, Problem};

/// The largest index, manifest, config or oci-layout file read.
const MAX_METADATA: u64 = 4 * 1024 * 1024;
/// How deep indexes may nest (an index of platforms inside the layout's index).
const MAX_NESTING: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Oci,
    Docker,
}

/// One layer: where its blob is, what it must hash to.
#[derive(Debug, Clone)]
pub(super) struct Layer {
    /// The blob's name in the layout or archive.
    pub path: String,
    /// The blob's sha256 (hex) and size, when the manifest names them.
    pub digest: Option<(String, u64)>,
    /// The sha256 (hex) of the uncompressed tar, from the config.
    pub diff_id: String,
}

/// The image chosen, its config parsed, its layers in order.
pub(super) struct Image {
    /// The manifest's sha256 (hex), when there is a manifest blob.
    pub manifest_digest: Option<String>,
    pub config_digest: String,
    pub config: ImageConfiguration,
    pub layers: Vec<Layer>,
}

pub(super) fn read(blobs: &Blobs, format: Format, name: Option<&str>) -> Result<Image, Problem> {
    match format {
        Format::Oci => read_oci(blobs, name),
        Format::Docker => read_docker(blobs, name),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hex of a sha256 digest; any other algorithm is refused.
fn sha256_of(digest: &Digest) -> Result<String, Problem> {
    if *digest.algorithm() != DigestAlgorithm::Sha256 {
        return Err(bad(format!(
            "the digest {digest} is not sha256 (the only algorithm verified)"
        )));
    }
    Ok(digest.digest().to_string())
}

/// `sha256:HEX` as written in a config's diff_ids.
fn parse_sha256(text: &str) -> Result<String, Problem> {
    let digest: Digest = text
        .parse()
        .map_err(|e| bad(format!("a bad digest {text:?}: {e}")))?;
    sha256_of(&digest)
}

/// A blob named by `descriptor`, read whole (metadata only) and checked against its
/// size and digest before anything parses it.
fn verified_metadata(blobs: &Blobs, descriptor: &Descriptor) -> Result<(Vec<u8>, String), Problem> {
    let hex = sha256_of(descriptor.digest())?;
    if descriptor.size() > MAX_METADATA {
        return Err(bad(format!(
            "the blob {} claims {} bytes, more than the {MAX_METADATA} a manifest or config may have",
            descriptor.digest(),
            descriptor.size()
        )));
    }
    let data = blobs.read_small(&format!("blobs/sha256/{hex}"), MAX_METADATA)?;
    if data.len() as u64 != descriptor.size() {
        return Err(bad(format!(
            "the blob {} is {} bytes, not the {} its descriptor says",
            descriptor.digest(),
            data.len(),
            descriptor.size()
        )));
    }
    let got = sha256_hex(&data);
    if got != hex {
        return Err(bad(format!(
            "the blob {} hashes to sha256:{got}: it is not what the image names",
            descriptor.digest()
        )));
    }
    Ok((data, hex))
}

fn is_index(media: &MediaType) -> bool {
    match media {
        MediaType::ImageIndex => true,
        MediaType::Other(m) => m == "application/vnd.docker.distribution.manifest.list.v2+json",
        _ => false,
    }
}

/// The annotations that name a manifest in a layout's index.
fn names_of(descriptor: &Descriptor) -> Vec<&str> {
    descriptor
        .annotations()
        .iter()
        .flatten()
        .filter(|(k, _)| {
            *k == "org.opencontainers.image.ref.name" || *k == "io.containerd.image.name"
        })
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The Go architecture name of this host, as image platforms spell it.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The manifest meant among `manifests`: the one named `name`, else the only one,
/// else the only one for this host's platform.
fn choose<'a>(manifests: &'a [Descriptor], name: Option<&str>) -> Result<&'a Descriptor, Problem> {
    let named: Vec<&Descriptor> = match name {
        Some(name) => manifests
            .iter()
            .filter(|d| {
                names_of(d)
                    .iter()
                    .any(|n| *n == name || n.rsplit_once(':').is_some_and(|(_, tag)| tag == name))
            })
            .collect(),
        None => manifests.iter().collect(),
    };
    if named.len() == 1 {
        return Ok(named[0]);
    }
    let for_host: Vec<&Descriptor> = named
        .iter()
        .copied()
        .filter(|d| {
            d.platform().as_ref().is_none_or(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == host_arch()
            })
        })
        .collect();
    match for_host.as_slice() {
        [one] => Ok(one),
        [] if named.is_empty() => Err(bad(match name {
            Some(name) => format!("the index names no manifest {name:?}"),
            None => "the index lists no manifest".into(),
        })),
        [] => Err(bad(format!(
            "no manifest for linux/{} among the {} in the index",
            host_arch(),
            named.len()
        ))),
        several => {
            let names: Vec<String> = several
                .iter()
                .flat_map(|d| names_of(d))
                .map(|n| format!("{n:?}"))
                .collect();
            Err(bad(format!(
                "the index holds {} manifests ({}); name one as oci:DIR:NAME or oci-archive:FILE:NAME",
                several.len(),
                names.join(", ")
            )))
        }
    }
}

fn read_oci(blobs: &Blobs, name: Option<&str>) -> Result<Image, Problem> {
    let layout = blobs.read_small("oci-layout", MAX_METADATA)?;
    oci_spec::image::OciLayout::from_reader(&layout[..])
        .map_err(|e| bad(format!("oci-layout is not an OCI layout file: {e}")))?;
    let index = blobs.read_small("index.json", MAX_METADATA)?;
    let mut index = ImageIndex::from_reader(&index[..])
        .map_err(|e| bad(format!("index.json is not an OCI image index: {e}")))?;
    let mut wanted = name;
    for _ in 0..MAX_NESTING {
        let descriptor = choose(index.manifests(), wanted)?.clone();
        let (data, hex) = verified_metadata(blobs, &descriptor)?;
        if is_index(descriptor.media_type()) {
            index = ImageIndex::from_reader(&data[..]).map_err(|e| {
                bad(format!(
                    "the index {} is not an image index: {e}",
                    descriptor.digest()
                ))
            })?;
            // The name chose this index; inside it, the platform chooses.
            wanted = None;
            continue;
        }
        let manifest = ImageManifest::from_reader(&data[..]).map_err(|e| {
            bad(format!(
                "the manifest {} is not an image manifest: {e}",
                descriptor.digest()
            ))
        })?;
        return from_manifest(blobs, &manifest, hex);
    }
    Err(bad(format!("indexes nest more than {MAX_NESTING} deep")))
}

fn layer_media_ok(media: &MediaType) -> bool {
    match media {
        MediaType::ImageLayer
        | MediaType::ImageLayerGzip
        | MediaType::ImageLayerZstd
        | MediaType::ImageLayerNonDistributable
        | MediaType::ImageLayerNonDistributableGzip
        | MediaType::ImageLayerNonDistributableZstd => true,
        MediaType::Other(m) => matches!(
            m.as_str(),
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
                | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
                | "application/vnd.docker.image.rootfs.diff.tar"
        ),
        _ => false,
    }
}

fn from_manifest(
    blobs: &Blobs,
    manifest: &ImageManifest,
    manifest_hex: String,
) -> Result<Image, Problem> {
    let (config_data, config_hex) = verified_metadata(blobs, manifest.config())?;
    let config = parse_config(&config_data)?;
    let diff_ids = diff_ids(&config)?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(bad(format!(
            "the manifest lists {} layers and the config {} diff_ids",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::new();
    for (descriptor, diff_id) in manifest.layers().iter().zip(diff_ids) {
        if !layer_media_ok(descriptor.media_type()) {
            return Err(bad(format!(
                "the layer {} has media type {}, which is not a tar, tar+gzip or tar+zstd layer (encrypted and foreign layers are not unpacked)",
                descriptor.digest(),
                descriptor.media_type()
            )));
        }
        let hex = sha256_of(descriptor.digest())?;
        layers.push(Layer {
            path: format!("blobs/sha256/{hex}"),
            digest: Some((hex, descriptor.size())),
            diff_id,
        });
    }
    Ok(Image {
        manifest_digest: Some(manifest_hex),
        config_digest: config_hex,
        config,
        layers,
    })
}

fn parse_config(data: &[u8]) -> Result<ImageConfiguration, Problem> {
    let config = ImageConfiguration::from_reader(data).map_err(|e| {
        bad(format!(
            "the image config is not an OCI image configuration: {e}"
        ))
    })?;
    if config.os().to_string() != "linux" {
        return Err(bad(format!("the image is for {}, not linux", config.os())));
    }
    Ok(config)
}

fn diff_ids(config: &ImageConfiguration) -> Result<Vec<String>, Problem> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| parse_sha256(d))
        .collect()
}

/// One image of a docker-archive's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn read_docker(blobs: &Blobs, name: Option<&str>) -> Result<Image, Problem> {
    let data = blobs.read_small("manifest.json", MAX_METADATA)?;
    let entries: Vec<DockerEntry> = serde_json::from_slice(&data)
        .map_err(|e| bad(format!("manifest.json is not a docker save manifest: {e}")))?;
    let chosen: Vec<&DockerEntry> = match name {
        Some(name) => entries
            .iter()
            .filter(|e| {
                e.repo_tags.iter().flatten().any(|t| {
                    t == name
                        || t.strip_suffix(":latest") == Some(name)
                        || t.rsplit_once('/').is_some_and(|(_, short)| short == name)
                })
            })
            .collect(),
        None => entries.iter().collect(),
    };
    let entry = match chosen.as_slice() {
        [one] => *one,
        [] => {
            return Err(bad(match name {
                Some(name) => format!("manifest.json has no image tagged {name:?}"),
                None => "manifest.json lists no image".into(),
            }))
        }
        several => {
            let tags: Vec<String> = several
                .iter()
                .flat_map(|e| e.repo_tags.iter().flatten())
                .map(|t| format!("{t:?}"))
                .collect();
            return Err(bad(format!(
                "manifest.json lists {} images ({}); name one as docker-archive:FILE:NAME",
                several.len(),
                tags.join(", ")
            )));
        }
    };
    let config_data = blobs.read_small(&entry.config, MAX_METADATA)?;
    let config_hex = sha256_hex(&config_data);
    // The config is stored under its digest (`HEX.json` or `blobs/sha256/HEX`): the
    // name must agree with the content.
    let named = entry
        .config
        .trim_end_matches(".json")
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if named.len() == 64 && named.bytes().all(|b| b.is_ascii_hexdigit()) && named != config_hex {
        return Err(bad(format!(
            "the config {:?} hashes to sha256:{config_hex}: it is not what the archive names",
            entry.config
        )));
    }
    let config = parse_config(&config_data)?;
    let diff_ids = diff_ids(&config)?;
    if diff_ids.len() != entry.layers.len() {
        return Err(bad(format!(
            "manifest.json lists {} layers and the config {} diff_ids",
            entry.layers.len(),
            diff_ids.len()
        )));
    }
    let layers = entry
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(path, diff_id)| Layer {
            path: path.clone(),
            digest: None,
            diff_id,
        })
        .collect();
    Ok(Image {
        manifest_digest: None,
        config_digest: config_hex,
        config,
        layers,
    })
}

/// Whether `data` starts as a compressed stream does.
pub(super) fn compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Hashes a layer's blob before it is unpacked: against the manifest's digest and
/// size, or (a docker-archive's uncompressed layer) against its diff_id.
pub(super) fn verify_blob(blobs: &Blobs, layer: &Layer) -> Result<(), Problem> {
    let (mut reader, size) = blobs.open(&layer.path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| bad(format!("cannot read the layer {}: {e}", layer.path)))?;
        if n == 0 {
            break;
        }
        if head.len() < 4 {
            head.extend_from_slice(&buf[..n.min(4 - head.len())]);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    let got = hex(&hasher.finalize());
    let expected = match &layer.digest {
        Some((hex, want_size)) => {
            if total != *want_size || size != *want_size {
                return Err(bad(format!(
                    "the layer sha256:{hex} is {total} bytes, not the {want_size} the manifest says"
                )));
            }
            Some(hex.clone())
        }
        // Uncompressed: the blob is the tar the diff_id names.
        None if compression(&head) == Compression::None => Some(layer.diff_id.clone()),
        // Compressed: checked on the uncompressed stream while it is unpacked.
        None => None,
    };
    if let Some(expected) = expected {
        if got != expected {
            return Err(bad(format!(
                "the layer {} hashes to sha256:{got}, not the sha256:{expected} the image names",
                layer.path
            )));
        }
    }
    Ok(())
}
