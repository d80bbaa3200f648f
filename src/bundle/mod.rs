//! Bundle assembly: the run's private directory, the rootfs, `config.json`, and the
//! host-side places where the harness looks for witness markers.
//!
//! Everything lives under one directory per run, removed (and unmounted) on drop, so
//! every path out of a run, including errors and Ctrl-C, leaves nothing behind.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::runtime::Spec;

use crate::container::PROBE_PATH;

/// Where the default rootfs takes its shell from (Debian's busybox-static).
pub const BUSYBOX_CANDIDATES: &[&str] = &["/bin/busybox", "/usr/bin/busybox"];

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("failed to {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no static busybox found at {} to build the default rootfs (apt-get install busybox-static, or pass --rootfs DIR)", BUSYBOX_CANDIDATES.join(" or "))]
    NoBusybox,
    #[error("{path} is dynamically linked; the default rootfs needs a static busybox (apt-get install busybox-static)")]
    DynamicBusybox { path: PathBuf },
    #[error("failed to mount an overlay over --rootfs {lower}: {source}")]
    Overlay {
        lower: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to write config.json: {0}")]
    Spec(String),
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BundleError {
    let path = path.to_path_buf();
    move |source| BundleError::Io {
        action,
        path,
        source,
    }
}

/// Is this ELF file free of a program interpreter (statically linked)?
pub fn is_static_elf(path: &Path) -> io::Result<bool> {
    let data = fs::read(path)?;
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a 64-bit ELF file",
        ));
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[o..o + 8]);
        u64::from_le_bytes(b) as usize
    };
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        if at + 4 > data.len() {
            break;
        }
        let kind = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        if kind == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The host's static busybox, if any.
pub fn find_static_busybox() -> Result<PathBuf, BundleError> {
    let path = BUSYBOX_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(BundleError::NoBusybox)?;
    match is_static_elf(&path) {
        Ok(true) => Ok(path),
        _ => Err(BundleError::DynamicBusybox { path }),
    }
}

/// One run's directory: `bundle/` (config.json, rootfs) and `state/` (the runtime's
/// `--root`). Dropping it unmounts what it mounted and removes everything.
#[derive(Debug)]
pub struct RunDir {
    root: PathBuf,
    /// The runtime's `--root`: under /run where it can be, see [`RunDir::create`].
    state: PathBuf,
    overlay: Option<PathBuf>,
    /// Where files written to the container's rootfs land on the host.
    rootfs_writes: PathBuf,
}

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where runtime state directories go: `/run/breakout/TOKEN`.
pub const SHORT_STATE_BASE: &str = "/run/breakout";

/// A run-unique token: process id, a counter and clock noise.
pub fn unique_token() -> String {
    let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{}-{:08x}", std::process::id(), n, nanos)
}

impl RunDir {
    /// Creates the directory under `$TMPDIR` (or /tmp) with a unique name.
    pub fn create() -> Result<RunDir, BundleError> {
        let base = std::env::temp_dir();
        let token = unique_token();
        let root = base.join(format!("breakout-{token}"));
        fs::create_dir_all(&root).map_err(io_err("create", &root))?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o711))
            .map_err(io_err("set permissions on", &root))?;
        // Runtime state wants a short path (podman refuses a runroot over 50 bytes,
        // sockets live there); /run is short and in memory. A host without a
        // writable /run keeps it in the run directory.
        let short = PathBuf::from(SHORT_STATE_BASE).join(&token);
        let state = match fs::create_dir_all(&short) {
            Ok(()) => short,
            Err(_) => root.join("state"),
        };
        let mut dir = RunDir {
            rootfs_writes: root.join("bundle/rootfs"),
            root,
            state,
            overlay: None,
        };
        fs::create_dir_all(&dir.state).map_err(io_err("create", &dir.state))?;
        dir.rootfs_writes = dir.rootfs();
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn bundle(&self) -> PathBuf {
        self.root.join("bundle")
    }

    pub fn state(&self) -> PathBuf {
        self.state.clone()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.root.join("bundle/rootfs")
    }

    /// The host directory where a file the container writes at `/NAME` appears.
    pub fn rootfs_writes(&self) -> &Path {
        &self.rootfs_writes
    }

    /// Builds the default rootfs: a static busybox as /bin/sh plus the directories a
    /// container needs, and the mount point for the probe.
    pub fn build_default_rootfs(&mut self, busybox: &Path) -> Result<(), BundleError> {
        let rootfs = self.rootfs();
        for dir in [
            "bin",
            "dev",
            "etc",
            "proc",
            "sys",
            "tmp",
            "root",
            ".breakout",
        ] {
            let path = rootfs.join(dir);
            fs::create_dir_all(&path).map_err(io_err("create", &path))?;
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
            .map_err(io_err("set permissions on", &rootfs.join("tmp")))?;
        let target = rootfs.join("bin/busybox");
        // A copy, never a hard link: a writable rootfs would let the container change
        // the host's own busybox through a link.
        fs::copy(busybox, &target).map_err(io_err("copy busybox to", &target))?;
        for applet in ["sh", "cat", "ls", "echo"] {
            let link = rootfs.join("bin").join(applet);
            symlink("busybox", &link).map_err(io_err("link", &link))?;
        }
        let etc = [
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            ),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ];
        for (name, text) in etc {
            let path = rootfs.join(name);
            fs::write(&path, text).map_err(io_err("write", &path))?;
        }
        self.add_probe_mountpoint(&rootfs)
    }

    fn add_probe_mountpoint(&self, rootfs: &Path) -> Result<(), BundleError> {
        let mountpoint = rootfs.join(PROBE_PATH.trim_start_matches('/'));
        if let Some(parent) = mountpoint.parent() {
            fs::create_dir_all(parent).map_err(io_err("create", parent))?;
        }
        if !mountpoint.exists() {
            fs::write(&mountpoint, b"").map_err(io_err("create", &mountpoint))?;
        }
        Ok(())
    }

    /// Uses the user's rootfs through an overlay, so that neither the runtime's mount
    /// points nor anything the probes write ever lands in the user's directory.
    pub fn overlay_user_rootfs(&mut self, lower: &Path) -> Result<(), BundleError> {
        let upper = self.root.join("overlay/upper");
        let work = self.root.join("overlay/work");
        let rootfs = self.rootfs();
        for dir in [&upper, &work, &rootfs] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        let lower = fs::canonicalize(lower).map_err(io_err("resolve", lower))?;
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        let c = |s: &[u8]| CString::new(s).expect("paths hold no NUL byte");
        let (source, target, fstype, data) = (
            c(b"overlay"),
            c(rootfs.as_os_str().as_bytes()),
            c(b"overlay"),
            c(data.as_bytes()),
        );
        // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
        let ret = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if ret != 0 {
            return Err(BundleError::Overlay {
                lower,
                source: io::Error::last_os_error(),
            });
        }
        self.overlay = Some(rootfs.clone());
        self.rootfs_writes = upper;
        self.add_probe_mountpoint(&rootfs)
    }

    /// Writes config.json for the next container of this run.
    pub fn write_spec(&self, spec: &Spec) -> Result<(), BundleError> {
        spec.save(self.bundle().join("config.json"))
            .map_err(|e| BundleError::Spec(e.to_string()))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Some(target) = self.overlay.take() {
            if let Ok(c) = CString::new(target.as_os_str().as_bytes()) {
                // SAFETY: a valid NUL-terminated path; MNT_DETACH cannot fail on busy mounts.
                unsafe {
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
        let _ = fs::remove_dir_all(&self.root);
        let _ = fs::remove_dir_all(&self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dir_is_removed_on_drop() {
        let dir = RunDir::create().unwrap();
        let path = dir.path().to_path_buf();
        let state = dir.state();
        assert!(state.is_dir());
        drop(dir);
        assert!(!path.exists());
        assert!(!state.exists());
    }

    #[test]
    fn tokens_are_unique() {
        assert_ne!(unique_token(), unique_token());
    }

    #[test]
    fn detects_dynamic_elf() {
        // The test binary itself is static (crt-static), /bin/ls on Debian is not.
        let me = std::env::current_exe().unwrap();
        assert!(is_static_elf(&me).unwrap());
        if Path::new("/bin/ls").exists() {
            assert!(!is_static_elf(Path::new("/bin/ls")).unwrap());
        }
    }
}
