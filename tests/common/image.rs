//! Images built by the tests themselves, byte by byte with the `tar` crate: an OCI
//! image layout (and its tar, an oci-archive) and a docker-archive, from layers given
//! as tar bytes. Raw headers let a test write what no well-behaved builder would
//! (`..` names, absolute names, links to host paths, device nodes).

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A layer: the tar of `rootfs` as it is (links stored as links, owners kept).
pub fn layer_of_dir(rootfs: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", rootfs).unwrap();
    b.into_inner().unwrap()
}

/// One entry written with a raw header: the name and link name go in unchecked.
pub struct Raw<'a> {
    pub name: &'a [u8],
    pub kind: tar::EntryType,
    pub mode: u32,
    pub uid: u64,
    pub data: &'a [u8],
    pub link: &'a [u8],
    /// The size the header states (default: the data's length).
    pub size: Option<u64>,
    pub device: (u32, u32),
}

impl<'a> Raw<'a> {
    pub fn new(name: &'a str, kind: tar::EntryType) -> Raw<'a> {
        Raw {
            name: name.as_bytes(),
            kind,
            mode: if kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            },
            uid: 0,
            data: b"",
            link: b"",
            size: None,
            device: (0, 0),
        }
    }

    pub fn file(name: &'a str, data: &'a [u8]) -> Raw<'a> {
        Raw {
            data,
            ..Raw::new(name, tar::EntryType::Regular)
        }
    }

    pub fn link(name: &'a str, kind: tar::EntryType, target: &'a str) -> Raw<'a> {
        Raw {
            link: target.as_bytes(),
            ..Raw::new(name, kind)
        }
    }
}

/// A layer of raw entries (GNU headers; names up to 100 bytes).
pub fn raw_layer(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..e.name.len()].copy_from_slice(e.name);
        gnu.linkname[..e.link.len()].copy_from_slice(e.link);
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.uid);
        h.set_mtime(1_700_000_000);
        h.set_size(e.size.unwrap_or(e.data.len() as u64));
        if matches!(e.kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(e.device.0).unwrap();
            h.set_device_minor(e.device.1).unwrap();
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// An image config for `layers` (uncompressed tars) with `config` as its `config`.
pub fn image_config(layers: &[Vec<u8>], config: Value) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256(l)))
        .collect();
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

fn put_blob(dir: &Path, data: &[u8]) -> String {
    let hex = sha256(data);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(&hex), data).unwrap();
    hex
}

/// Writes an OCI image layout of `layers` (uncompressed tars, stored gzip-compressed
/// when `compress`) into `dir`; returns the manifest's digest (hex).
pub fn write_oci_layout(dir: &Path, layers: &[Vec<u8>], config: Value, compress: bool) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let config = image_config(layers, config);
    let config_hex = put_blob(dir, &config);
    let descriptors: Vec<Value> = layers
        .iter()
        .map(|l| {
            let blob = if compress { gzip(l) } else { l.clone() };
            let hex = put_blob(dir, &blob);
            json!({
                "mediaType": if compress {
                    "application/vnd.oci.image.layer.v1.tar+gzip"
                } else {
                    "application/vnd.oci.image.layer.v1.tar"
                },
                "digest": format!("sha256:{hex}"),
                "size": blob.len(),
            })
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_hex}"),
            "size": config.len(),
        },
        "layers": descriptors,
    }))
    .unwrap();
    let manifest_hex = put_blob(dir, &manifest);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_hex}"),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "test"},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    manifest_hex
}

/// The tar of a directory's files (an oci-archive of a layout).
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap().flush().unwrap();
}

/// Writes a docker-archive (`docker save`'s layout: `manifest.json`, `HEX.json`,
/// `N/layer.tar`) of `layers` to `out`; returns the config's digest (hex).
pub fn write_docker_archive(out: &Path, layers: &[Vec<u8>], config: Value) -> String {
    let config = image_config(layers, config);
    let config_hex = sha256(&config);
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("{i}/layer.tar"))
        .collect();
    for (name, layer) in names.iter().zip(layers) {
        add(name, layer);
    }
    add(&format!("{config_hex}.json"), &config);
    let manifest = json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": ["localhost/breakout-test:latest"],
        "Layers": names,
    }]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.into_inner().unwrap().flush().unwrap();
    config_hex
}
