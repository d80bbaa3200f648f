//! Images as the probes' root filesystem (`--image REF`, `"image"` in scenario files):
//! which forms a reference takes, and the resolution of one into a read-only tree in
//! the cache plus what `docker run` would take from the image's config.
//!
//! The image is the attacker's (DESIGN.md, threat model): every byte of a layout, an
//! archive, a manifest, a config and a layer is hostile input. The stages, a file each:
//!
//! * `archive.rs`: tar files read entry by entry with every extension header bounded
//!   (the `tar` crate reads GNU long names and PAX headers into memory whole, so its
//!   raw mode is used and those are read here up to a bound), and the random access to
//!   the files of an `oci-archive:`/`docker-archive:` tarball;
//! * `layout.rs`: the OCI layout (`oci-layout`, `index.json`, `blobs/`) and the
//!   docker-archive `manifest.json`, read with `oci-spec`'s image types; which manifest
//!   is meant; every blob's size and sha256 checked before it is used;
//! * `unpack.rs`: layers applied in order into a directory, safely by construction;
//! * `cache.rs`: the cache under breakout's state directory, keyed by digest, built in
//!   a temporary directory and renamed into place, never modified after;
//! * `config.rs`: the image's user, working directory, environment, entrypoint and
//!   command, and the user mapped to ids through the image's own `/etc/passwd`.
//!
//! The unpacked tree is then used exactly as `--rootfs DIR` is: through an overlay
//! mounted for each run (`bundle::RunDir::overlay_user_rootfs`), so no container ever
//! writes to the cache.

mod archive;
mod cache;
mod config;
mod layout;
mod unpack;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use cache::{cache_root, CACHE_ENV};
pub use config::RunConfig;
pub use unpack::{Limits, UnpackReport};

/// An `--image` as the user gave it, with the bounds its unpacking must keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRequest {
    pub reference: String,
    pub limits: Limits,
}

impl ImageRequest {
    pub fn new(reference: impl Into<String>) -> ImageRequest {
        ImageRequest {
            reference: reference.into(),
            limits: Limits::default(),
        }
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An OCI image layout directory, and the `org.opencontainers.image.ref.name` of
    /// the manifest meant when it holds several.
    OciLayout { dir: PathBuf, name: Option<String> },
    /// A tar of an OCI image layout (`podman save --format oci-archive`).
    OciArchive { path: PathBuf, name: Option<String> },
    /// `docker save` / `podman save` output: `manifest.json`, configs, layer tars.
    DockerArchive { path: PathBuf, name: Option<String> },
    /// An image the local engine (podman, docker) knows by this name.
    Engine { name: String },
}

/// The forms a reference can take, for the error that lists them.
pub const FORMS: &str = "an OCI image layout directory (oci:DIR, or a DIR holding oci-layout and index.json), oci-archive:FILE (a tar of an OCI layout), docker-archive:FILE (docker save / podman save output), or the name of an image podman or docker holds locally";

/// Why an image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The reference names nothing breakout can read.
    #[error("--image {reference}: not an image breakout can read ({why}); give {FORMS}")]
    NoForm { reference: String, why: String },
    /// The image's content is malformed or refused (digests, formats, paths).
    #[error("--image {reference}: {problem}")]
    Bad { reference: String, problem: String },
    /// Unpacking it would pass a bound.
    #[error("--image {reference}: {problem}; the image is refused (raise the bound with {flag} if the image is trusted to be that large)")]
    Limit {
        reference: String,
        problem: String,
        flag: &'static str,
    },
    /// The host could not do it (not root, no room, an engine that hung).
    #[error("--image {reference}: {problem}")]
    Host { reference: String, problem: String },
}

impl ImageError {
    /// The host's fault (exit 3) rather than the input's (exit 2).
    pub fn is_environment(&self) -> bool {
        matches!(self, ImageError::Host { .. })
    }
}

/// An error of one stage, before the reference is known to it.
#[derive(Debug)]
pub(crate) enum Problem {
    Bad(String),
    Limit(String, &'static str),
    Host(String),
}

impl Problem {
    fn at(self, reference: &str) -> ImageError {
        let reference = reference.to_string();
        match self {
            Problem::Bad(problem) => ImageError::Bad { reference, problem },
            Problem::Limit(problem, flag) => ImageError::Limit {
                reference,
                problem,
                flag,
            },
            Problem::Host(problem) => ImageError::Host { reference, problem },
        }
    }
}

pub(crate) fn bad(text: impl Into<String>) -> Problem {
    Problem::Bad(text.into())
}

/// What a run knows of its image: where it came from, which one it is (by digest),
/// where its tree is, what its config says and what unpacking left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The reference as given.
    pub reference: String,
    /// The form it was read as (`oci-layout`, `oci-archive`, `docker-archive`,
    /// `podman`, `docker`).
    pub source: String,
    /// What the cache is keyed by: the manifest's digest, or for a docker-archive
    /// (which holds no manifest blob) the config's, which is the engine's image id.
    pub digest: String,
    /// The manifest's digest, when the image has a manifest blob.
    pub manifest_digest: Option<String>,
    pub config_digest: String,
    /// The unpacked tree (read-only: runs put an overlay over it).
    pub rootfs: PathBuf,
    /// Whether this run unpacked it, or found it in the cache.
    pub cached: bool,
    /// Whether the image's user is the probes' (no `--user` was given).
    #[serde(default)]
    pub user_applied: bool,
    pub config: RunConfig,
    pub unpack: UnpackReport,
}

impl ImageInfo {
    /// The image as the JSON report shows it; every string from the image sanitized.
    pub fn to_json(&self) -> serde_json::Value {
        let clean = |s: &str| crate::sanitize::untrusted(s);
        let list = |v: &Option<Vec<String>>| {
            v.as_ref()
                .map(|v| v.iter().map(|s| clean(s)).collect::<Vec<_>>())
        };
        serde_json::json!({
            "reference": clean(&self.reference),
            "source": self.source,
            "digest": self.digest,
            "manifest_digest": self.manifest_digest,
            "config_digest": self.config_digest,
            "rootfs": self.rootfs.to_string_lossy(),
            "cached": self.cached,
            "os": clean(&self.config.os),
            "architecture": clean(&self.config.architecture),
            "user": self.config.user.as_deref().map(clean),
            "user_applied": self.user_applied,
            "working_dir": self.config.working_dir.as_deref().map(clean),
            "env": self.config.env.iter().map(|s| clean(s)).collect::<Vec<_>>(),
            "env_dropped": self.config.env_dropped.iter().map(|s| clean(s)).collect::<Vec<_>>(),
            "entrypoint": list(&self.config.entrypoint),
            "cmd": list(&self.config.cmd),
            "unpack": self.unpack.to_json(),
        })
    }

    /// One line for the terminal: which image, by digest, and what was left out.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "image {} is {} ({})",
            crate::sanitize::untrusted(&self.reference),
            self.digest,
            if self.cached {
                "from the cache"
            } else {
                "unpacked"
            }
        );
        let u = &self.unpack;
        if u.skipped_total > 0 || u.stripped_total > 0 {
            text.push_str(&format!(
                "; {} entries left out (device nodes, FIFOs, unsafe paths) and set-uid/set-gid/sticky bits stripped from {} (listed in the JSON report)",
                u.skipped_total, u.stripped_total
            ));
        }
        text
    }
}

/// Parses a reference into its form. Paths must exist; a name is only checked for
/// the characters an image name can have (whether an engine knows it is found out
/// when it is resolved).
pub fn parse(reference: &str) -> Result<Source, ImageError> {
    let no_form = |why: String| ImageError::NoForm {
        reference: reference.to_string(),
        why,
    };
    for (prefix, kind) in [
        ("oci:", Kind::OciLayout),
        ("oci-archive:", Kind::OciArchive),
        ("docker-archive:", Kind::DockerArchive),
    ] {
        let Some(rest) = reference.strip_prefix(prefix) else {
            continue;
        };
        let want_dir = kind == Kind::OciLayout;
        let fits = |p: &Path| if want_dir { p.is_dir() } else { p.is_file() };
        // `PATH` or `PATH:NAME` (skopeo's spelling); the whole of it first, so a path
        // with a colon in it is still a path.
        let (path, name) = if fits(Path::new(rest)) {
            (PathBuf::from(rest), None)
        } else {
            match rest.rsplit_once(':') {
                Some((p, n)) if !n.is_empty() && fits(Path::new(p)) => {
                    (PathBuf::from(p), Some(n.to_string()))
                }
                _ => {
                    return Err(no_form(format!(
                        "no {} at {rest:?}",
                        if want_dir { "directory" } else { "file" }
                    )))
                }
            }
        };
        return Ok(kind.source(path, name));
    }
    let path = Path::new(reference);
    if path.is_dir() {
        if path.join("oci-layout").is_file() && path.join("index.json").is_file() {
            return Ok(Source::OciLayout {
                dir: path.to_path_buf(),
                name: None,
            });
        }
        return Err(no_form(
            "a directory without oci-layout and index.json; a root filesystem directory is --rootfs DIR".into(),
        ));
    }
    if path.is_file() {
        return match archive::sniff(path) {
            Some(archive::Sniffed::Oci) => Ok(Source::OciArchive {
                path: path.to_path_buf(),
                name: None,
            }),
            Some(archive::Sniffed::Docker) => Ok(Source::DockerArchive {
                path: path.to_path_buf(),
                name: None,
            }),
            None => Err(no_form(
                "a file that is neither a tar of an OCI layout nor a docker save archive".into(),
            )),
        };
    }
    if looks_like_name(reference) {
        return Ok(Source::Engine {
            name: reference.to_string(),
        });
    }
    Err(no_form(
        "no such file or directory, and not an image name".into(),
    ))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    OciLayout,
    OciArchive,
    DockerArchive,
}

impl Kind {
    fn source(self, path: PathBuf, name: Option<String>) -> Source {
        match self {
            Kind::OciLayout => Source::OciLayout { dir: path, name },
            Kind::OciArchive => Source::OciArchive { path, name },
            Kind::DockerArchive => Source::DockerArchive { path, name },
        }
    }
}

/// The characters of an image reference (`[registry/]repo[:tag][@digest]`), no more
/// than a reference can be long. Not a full grammar: the engine has the last word.
fn looks_like_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 512
        && !text.starts_with(['-', '.', '/', ':'])
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
}

/// A reference from a scenario file, with a relative path made relative to the
/// scenario's directory (a name stays a name).
pub fn rebase(reference: &str, dir: &Path) -> String {
    for prefix in ["oci:", "oci-archive:", "docker-archive:"] {
        if let Some(rest) = reference.strip_prefix(prefix) {
            if Path::new(rest).is_relative() {
                return format!("{prefix}{}", dir.join(rest).display());
            }
            return reference.to_string();
        }
    }
    let joined = dir.join(reference);
    if Path::new(reference).is_relative() && joined.exists() {
        return joined.display().to_string();
    }
    reference.to_string()
}

/// Resolves `request` into an unpacked tree in the cache (unpacking it there first
/// unless it already is), with its config. Needs root: the tree keeps the image's
/// owners, and the cache is root's.
pub fn resolve(request: &ImageRequest) -> Result<ImageInfo, ImageError> {
    let reference = request.reference.as_str();
    let source = parse(reference)?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Problem::Host(
            "unpacking an image needs root (its files keep their owners, and the cache is root's)"
                .into(),
        )
        .at(reference));
    }
    let cache = cache::Cache::open().map_err(|p| p.at(reference))?;
    let found = match &source {
        Source::OciLayout { dir, name } => {
            let blobs = archive::Blobs::dir(dir).map_err(|p| p.at(reference))?;
            from_blobs(
                &cache,
                &blobs,
                layout::Format::Oci,
                name.as_deref(),
                "oci-layout",
                &request.limits,
            )
        }
        Source::OciArchive { path, name } => {
            let blobs =
                archive::Blobs::archive(path, &request.limits).map_err(|p| p.at(reference))?;
            from_blobs(
                &cache,
                &blobs,
                layout::Format::Oci,
                name.as_deref(),
                "oci-archive",
                &request.limits,
            )
        }
        Source::DockerArchive { path, name } => {
            let blobs =
                archive::Blobs::archive(path, &request.limits).map_err(|p| p.at(reference))?;
            from_blobs(
                &cache,
                &blobs,
                layout::Format::Docker,
                name.as_deref(),
                "docker-archive",
                &request.limits,
            )
        }
        Source::Engine { name } => from_engine(&cache, name, &request.limits),
    };
    let mut info = found.map_err(|p| p.at(reference))?;
    info.reference = reference.to_string();
    Ok(info)
}

/// The image `name` from the first local engine that knows it: its id is the config's
/// digest, so a cached tree is found without exporting anything; otherwise the image
/// is saved as a docker-archive in the cache's scratch space and read from there.
fn from_engine(cache: &cache::Cache, name: &str, limits: &Limits) -> Result<ImageInfo, Problem> {
    let mut tried = Vec::new();
    let mut hints = Vec::new();
    for engine in crate::runtime::engine::IMAGE_ENGINES {
        let id = match crate::runtime::engine::local_image_id(engine, name) {
            Ok(id) => id,
            Err(why) => {
                tried.push(format!("{engine}: {}", why.said));
                hints.extend(why.hint.map(|h| format!("{engine}: {h}; ")));
                continue;
            }
        };
        // The engine's image id is its config's digest.
        let hex = id.strip_prefix("sha256:").unwrap_or(&id);
        if let Some(mut info) = cache.lookup(&cache::Key::config(hex)) {
            info.source = engine.to_string();
            return Ok(info);
        }
        let scratch = cache.scratch()?;
        let archive_path = scratch.path().join("image.tar");
        crate::runtime::engine::save_image(engine, name, &archive_path)
            .map_err(|e| Problem::Host(format!("{engine} could not export it: {e}")))?;
        let blobs = archive::Blobs::archive(&archive_path, limits)?;
        // The archive holds the one image saved, whatever tags it carries.
        let mut info = from_blobs(cache, &blobs, layout::Format::Docker, None, engine, limits)?;
        info.source = engine.to_string();
        return Ok(info);
    }
    Err(Problem::Bad(format!(
        "not a path, and no local engine holds an image of that name ({}); {}breakout pulls nothing: pull it first (podman pull, docker pull), or give {FORMS}",
        tried.join("; "),
        hints.concat()
    )))
}

/// Reads the image in `blobs`, and finds its tree in the cache or unpacks it there.
fn from_blobs(
    cache: &cache::Cache,
    blobs: &archive::Blobs,
    format: layout::Format,
    name: Option<&str>,
    source: &str,
    limits: &Limits,
) -> Result<ImageInfo, Problem> {
    let image = layout::read(blobs, format, name)?;
    let key = match &image.manifest_digest {
        Some(hex) => cache::Key::manifest(hex),
        None => cache::Key::config(&image.config_digest),
    };
    let config = RunConfig::from_image(&image.config);
    if let Some(mut info) = cache.lookup(&key) {
        info.source = source.to_string();
        return Ok(info);
    }
    let staging = cache.stage()?;
    let mut unpacker = unpack::Unpacker::new(&staging.rootfs(), limits.clone())?;
    for (index, layer) in image.layers.iter().enumerate() {
        layout::verify_blob(blobs, layer)?;
        let (reader, _) = blobs.open(&layer.path)?;
        unpacker
            .apply_layer(reader, &layer.diff_id)
            .map_err(|p| match p {
                Problem::Bad(text) => {
                    Problem::Bad(format!("layer {} ({}): {text}", index + 1, layer.path))
                }
                other => other,
            })?;
    }
    let info = ImageInfo {
        reference: String::new(),
        source: source.to_string(),
        digest: key.digest(),
        manifest_digest: image
            .manifest_digest
            .as_ref()
            .map(|h| format!("sha256:{h}")),
        config_digest: format!("sha256:{}", image.config_digest),
        rootfs: PathBuf::new(),
        cached: false,
        user_applied: false,
        config,
        unpack: unpacker.finish(),
    };
    staging.commit(&key, info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert!(looks_like_name("busybox"));
        assert!(looks_like_name("docker.io/library/busybox:1.36"));
        assert!(looks_like_name("localhost/x@sha256:abcd"));
        assert!(!looks_like_name("-rf"));
        assert!(!looks_like_name("a b"));
        assert!(!looks_like_name(""));
        assert!(!looks_like_name("/nowhere/at/all"));
        match parse("/nowhere/at/all").unwrap_err() {
            ImageError::NoForm { why, .. } => assert!(why.contains("no such file"), "{why}"),
            e => panic!("{e}"),
        }
        let e = parse("oci:/nowhere").unwrap_err().to_string();
        assert!(
            e.contains("oci-archive:FILE") && e.contains("docker-archive:FILE"),
            "{e}"
        );
        assert_eq!(
            parse("busybox:latest").unwrap(),
            Source::Engine {
                name: "busybox:latest".into()
            }
        );
        let dir = std::env::temp_dir();
        let e = parse(&dir.display().to_string()).unwrap_err().to_string();
        assert!(e.contains("--rootfs"), "{e}");
        assert_eq!(
            parse(&format!("oci:{}:v1", dir.display())).unwrap(),
            Source::OciLayout {
                dir: dir.clone(),
                name: Some("v1".into())
            }
        );
    }

    #[test]
    fn rebase_is_relative_to_the_scenario() {
        let dir = Path::new("/scen");
        assert_eq!(rebase("oci:img", dir), "oci:/scen/img");
        assert_eq!(rebase("oci:/abs", dir), "oci:/abs");
        assert_eq!(
            rebase("docker-archive:a.tar", dir),
            "docker-archive:/scen/a.tar"
        );
        assert_eq!(rebase("busybox", dir), "busybox");
    }
}
