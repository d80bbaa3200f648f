//! The cache of unpacked images: `/run/breakout/images/v1/KIND-sha256-HEX/` (beside
//! the runtime state directories, root's alone), each holding `rootfs/` and
//! `image.json` (what the image's config says and what unpacking left out).
//!
//! Keyed by digest: the manifest's for an OCI image, the config's for a
//! docker-archive (it has no manifest blob; the config digest is the engine's image
//! id, so an engine's image is found without exporting it again). Both name the layers
//! by digest, so a key names one tree. `v1` is the unpacking rules' version: a change
//! in what is left out or stripped gets a new directory instead of reusing old trees.
//!
//! A tree is built in `.tmp-TOKEN/` (TOKEN starts with the builder's pid) and renamed
//! into place with `RENAME_NOREPLACE` once complete, so a key's directory exists only
//! whole; two runs that build the same image at once both finish, one rename wins and
//! the other's copy is removed. Nothing changes a tree after that: runs use it as the
//! lower layer of an overlay (`bundle::RunDir::overlay_user_rootfs`), like --rootfs.
//! A builder that died leaves a `.tmp-` directory whose pid is gone; the next open of
//! the cache removes it. Every directory here is root's, mode 0700, and refused if it
//! is a link or someone else's. `BREAKOUT_IMAGE_CACHE` moves the cache (tests, or a
//! host whose /run is a small tmpfs).

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{ImageInfo, Problem};

/// The environment variable that moves the cache.
pub const CACHE_ENV: &str = "BREAKOUT_IMAGE_CACHE";

/// The version of the unpacking rules trees in the cache were made with.
const VERSION: &str = "v1";

/// The cache's directory in force: [`CACHE_ENV`] if set, else `/run/breakout/images`.
pub fn cache_root() -> PathBuf {
    std::env::var_os(CACHE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(crate::names::SHORT_STATE_BASE).join("images"))
}

/// A cache key: which digest, and of what.
pub(super) struct Key {
    kind: &'static str,
    hex: String,
}

impl Key {
    pub fn manifest(hex: &str) -> Key {
        Key {
            kind: "manifest",
            hex: hex.to_string(),
        }
    }

    pub fn config(hex: &str) -> Key {
        Key {
            kind: "config",
            hex: hex.to_string(),
        }
    }

    fn dir_name(&self) -> Option<String> {
        // Only a digest's characters reach a path.
        (self.hex.len() == 64 && self.hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| format!("{}-sha256-{}", self.kind, self.hex.to_ascii_lowercase()))
    }

    pub fn digest(&self) -> String {
        format!("sha256:{}", self.hex)
    }
}

fn host(what: String, e: io::Error) -> Problem {
    Problem::Host(format!("{what}: {e}"))
}

/// Makes `dir` if it is missing and makes sure it is a directory of ours, mode 0700.
fn private_dir(dir: &Path) -> Result<(), Problem> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Parents of a cache moved elsewhere are made (the last one is checked).
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| host(format!("failed to create {}", dir.display()), e))?;
        }
        Err(e) => return Err(host(format!("failed to create {}", dir.display()), e)),
    }
    let meta = fs::symlink_metadata(dir)
        .map_err(|e| host(format!("failed to look at {}", dir.display()), e))?;
    if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(Problem::Host(format!(
            "{} is not a directory of ours: the image cache must be root's alone",
            dir.display()
        )));
    }
    if meta.mode() & 0o7777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| host(format!("failed to chmod {}", dir.display()), e))?;
    }
    Ok(())
}

/// The cache, opened.
pub(super) struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn open() -> Result<Cache, Problem> {
        let root = cache_root();
        if std::env::var_os(CACHE_ENV).is_none() {
            // The state base itself: root's, 0700 (see `bundle`).
            private_dir(Path::new(crate::names::SHORT_STATE_BASE))?;
        }
        private_dir(&root)?;
        let dir = root.join(VERSION);
        private_dir(&dir)?;
        let cache = Cache { dir };
        cache.sweep();
        Ok(cache)
    }

    /// Removes what builders that died left (`.tmp-PID-…` with PID gone).
    fn sweep(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(".tmp-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    /// The tree for `key`, if the cache has it whole.
    pub fn lookup(&self, key: &Key) -> Option<ImageInfo> {
        let dir = self.dir.join(key.dir_name()?);
        let mut text = Vec::new();
        fs::File::open(dir.join("image.json"))
            .ok()?
            .take(64 << 20)
            .read_to_end(&mut text)
            .ok()?;
        let mut info: ImageInfo = serde_json::from_slice(&text).ok()?;
        let rootfs = dir.join("rootfs");
        if !fs::symlink_metadata(&rootfs).ok()?.is_dir() {
            return None;
        }
        info.rootfs = rootfs;
        info.cached = true;
        Some(info)
    }

    /// A new directory to build a tree in.
    pub fn stage(&self) -> Result<Staging, Problem> {
        let path = self
            .dir
            .join(format!(".tmp-{}", crate::names::unique_token()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| host(format!("failed to create {}", path.display()), e))?;
        Ok(Staging {
            path,
            dir: self.dir.clone(),
            done: false,
        })
    }

    /// A scratch directory (an engine's export), removed when dropped.
    pub fn scratch(&self) -> Result<Staging, Problem> {
        self.stage()
    }
}

/// A tree being built; removed on drop unless committed.
pub(super) struct Staging {
    path: PathBuf,
    dir: PathBuf,
    done: bool,
}

impl Staging {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    /// Writes `info` beside the tree and renames the whole into place under `key`.
    /// Another run that got there first wins; its tree is the same image.
    pub fn commit(mut self, key: &Key, mut info: ImageInfo) -> Result<ImageInfo, Problem> {
        let name = key
            .dir_name()
            .ok_or_else(|| Problem::Bad(format!("{} is not a sha256 digest", key.digest())))?;
        let text = serde_json::to_vec_pretty(&info).expect("image info serializes");
        let meta = self.path.join("image.json");
        fs::write(&meta, text)
            .map_err(|e| host(format!("failed to write {}", meta.display()), e))?;
        let target = self.dir.join(&name);
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &self.path,
            rustix::fs::CWD,
            &target,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {
                self.done = true;
                info.rootfs = target.join("rootfs");
                info.cached = false;
                Ok(info)
            }
            Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::NOTEMPTY) => {
                let cache = Cache {
                    dir: self.dir.clone(),
                };
                let mut found = cache.lookup(key).ok_or_else(|| {
                    Problem::Host(format!(
                        "{} exists but is not a whole tree",
                        target.display()
                    ))
                })?;
                found.cached = false;
                Ok(found)
            }
            Err(e) => Err(host(
                format!("failed to move the tree into {}", target.display()),
                e.into(),
            )),
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            // std's remove_dir_all does not follow symlinks inside the tree.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
