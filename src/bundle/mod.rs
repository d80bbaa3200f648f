//! Bundle assembly: the run's private directory, the rootfs, `config.json`, and the
//! host-side places where the harness looks for witness markers.
//!
//! Everything lives under one directory per run, removed (and unmounted) on drop, so
//! every path out of a run, including errors and Ctrl-C, leaves nothing behind.
//!
//! The rootfs is the attacker's (DESIGN.md, threat model). So a run's directories are
//! root's alone (`0700`, created under names no one can guess or take first), its
//! mounts are `nosuid,nodev`, the harness's own mount points in a user's rootfs are
//! made in the overlay's upper layer before the image is mounted under it (nothing in
//! the image can pre-empt them), and files the container made are reached only through
//! [`inroot`].

pub mod inroot;
mod mounts;

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::container::{HARNESS_DIR, PROBE_PATH, PROVIDED_SHELL_PATH, SETUID_BINARY_PATH};

/// Where the default rootfs takes its shell from (Debian's busybox-static).
pub const BUSYBOX_CANDIDATES: &[&str] = &["/bin/busybox", "/usr/bin/busybox"];

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "failed to {action} {path}: {source}{}",
        crate::hint::suffix(crate::hint::io_here(source, doing(action)))
    )]
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
    #[error("failed to mount an overlay over --rootfs {}: {source}", lower.display())]
    Overlay {
        lower: PathBuf,
        #[source]
        source: mounts::OverlayError,
    },
    #[error("failed to write config.json: {0}")]
    Spec(String),
    #[error("{} is full ({free_kib} KiB and {free_inodes} inodes free): runtimes keep their state there; make room and run again", path.display())]
    HostFull {
        path: PathBuf,
        free_kib: u64,
        free_inodes: u64,
    },
}

/// The least room a run needs where runtime state goes: runc writes a few KiB per
/// container, podman a few hundred; a full /run fails every container's start, which
/// is the host's problem to report, not a start failure of the profile's.
const MIN_STATE_ROOM_KIB: u64 = 1024;
const MIN_STATE_INODES: u64 = 64;

/// Fails with [`BundleError::HostFull`] if the filesystem of `dir` has too little room.
fn check_room(dir: &Path) -> Result<(), BundleError> {
    let Ok(st) = rustix::fs::statvfs(dir) else {
        return Ok(());
    };
    let free_kib = st.f_bavail.saturating_mul(st.f_frsize) / 1024;
    // Filesystems without inode accounting report 0 files in all.
    let free_inodes = if st.f_files == 0 {
        u64::MAX
    } else {
        st.f_favail
    };
    if free_kib < MIN_STATE_ROOM_KIB || free_inodes < MIN_STATE_INODES {
        return Err(BundleError::HostFull {
            path: dir.to_path_buf(),
            free_kib,
            free_inodes: free_inodes.min(st.f_favail),
        });
    }
    Ok(())
}

/// What an [`BundleError::Io`] action is, for its likely cause.
fn doing(action: &str) -> crate::hint::Doing {
    use crate::hint::Doing;
    match action {
        "create" => Doing::MakeDir,
        a if a.starts_with("mount") => Doing::Mount,
        _ => Doing::Other,
    }
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
    use std::os::unix::fs::FileExt;
    // Only the ELF header and the program headers are read: the binaries checked here
    // are megabytes, and this runs for every container.
    let file = fs::File::open(path)?;
    let not_elf = || io::Error::new(io::ErrorKind::InvalidData, "not a 64-bit ELF file");
    let mut head = [0u8; 64];
    file.read_exact_at(&mut head, 0).map_err(|_| not_elf())?;
    if &head[..4] != b"\x7fELF" || head[4] != 2 {
        return Err(not_elf());
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let mut phoff = [0u8; 8];
    phoff.copy_from_slice(&head[32..40]);
    let (phoff, phentsize, phnum) = (u64::from_le_bytes(phoff), u16_at(54), u16_at(56));
    if phentsize < 4 {
        return Err(not_elf());
    }
    // Real tables are a few hundred bytes; one that runs past the end of the file is
    // read as far as it goes.
    let mut table = vec![0u8; (phnum * phentsize).min(1 << 16)];
    let got = read_at_most(&file, &mut table, phoff)?;
    const PT_INTERP: u32 = 3;
    Ok(!table[..got]
        .chunks_exact(phentsize)
        .any(|h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]) == PT_INTERP))
}

/// Reads into `buf` from `offset` until it is full or the file ends; the byte count.
fn read_at_most(file: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Size limit of a run directory's tmpfs: busybox (about 2 MiB), config.json, what the
/// probes write, and an overlay's upper layer over --rootfs, with room to spare.
const RUN_DIR_TMPFS_SIZE: &str = "128m";

/// Mounts the run directory's tmpfs (root-only, nosuid, nodev). Huge pages for files
/// that fill them (busybox is just under 2 MiB) make its copy one page allocation
/// instead of ~500: measured here, 0.18 ms against 0.6 ms, and a fifth of the unmount
/// time. A kernel without huge pages for tmpfs refuses the option; then the mount goes
/// without it.
fn mount_tmpfs(target: &Path) -> io::Result<()> {
    mounts::tmpfs(
        target,
        &[("size", RUN_DIR_TMPFS_SIZE), ("huge", "within_size")],
    )
    .or_else(|_| mounts::tmpfs(target, &[("size", RUN_DIR_TMPFS_SIZE)]))
}

/// Copies `from` to a new file `to` with mode 0755. The length is set first so that a
/// tmpfs with huge=within_size can back the copy with large pages from the start.
fn copy_executable(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let source = fs::File::open(from)?;
    let len = source.metadata()?.len();
    let target = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(to)?;
    target.set_len(len)?;
    let mut copied = 0u64;
    while copied < len {
        let chunk = usize::try_from(len - copied)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        let mut offset = copied;
        match rustix::fs::sendfile(&target, &source, Some(&mut offset), chunk) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended before its length",
                ))
            }
            Ok(n) => copied += n as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // The mode given at creation is cut by the umask; the rootfs needs it exact.
    target.set_permissions(fs::Permissions::from_mode(0o755))
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
    /// config.json and rootfs/: `root/bundle`, or `root` itself for a kept bundle.
    bundle: PathBuf,
    /// A bundle written for the user ([`RunDir::keep_at`]): never removed.
    keep: bool,
    /// The runtime's `--root`: under /run where it can be, see [`RunDir::create`].
    state: PathBuf,
    /// What this run mounted (its tmpfs, an overlay over --rootfs), in mount order;
    /// unmounted in reverse on drop.
    mounts: Vec<PathBuf>,
    /// Where files written to the container's rootfs land on the host.
    rootfs_writes: PathBuf,
    /// The run's record in the ledger (what a later run must clean if this one dies);
    /// dropped, so removed, after everything else.
    ledger: Option<crate::ledger::Entry>,
}

pub use crate::names::{random_u64, unique_token, SHORT_STATE_BASE};

/// Creates `path` as a new directory of root's alone (0700): never one that exists
/// already (another user's, or a link), which `create_dir_all` would accept.
fn create_private_dir(path: &Path) -> Result<(), BundleError> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(io_err("create", path))?;
    // The mode given at creation is cut by the umask.
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .map_err(io_err("set permissions on", path))
}

/// A directory of the harness's alone (0700, under an unguessable name in the temporary
/// directory), for files a run reads but no container writes; removed on drop.
#[derive(Debug)]
pub struct PrivateDir(PathBuf);

impl PrivateDir {
    pub fn create(label: &str) -> Result<PrivateDir, BundleError> {
        let path = std::env::temp_dir().join(format!("breakout-{label}-{}", unique_token()));
        create_private_dir(&path)?;
        Ok(PrivateDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The base of the runtime state directories, root's alone: made so if it is new,
/// made so again if it is ours, refused if it is a link or someone else's.
fn state_base() -> io::Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let base = PathBuf::from(SHORT_STATE_BASE);
    match fs::DirBuilder::new().mode(0o700).create(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(&base)?;
    if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(io::Error::other(format!(
            "{} is not a directory of ours",
            base.display()
        )));
    }
    if meta.mode() & 0o777 != 0o700 {
        fs::set_permissions(&base, fs::Permissions::from_mode(0o700))?;
    }
    Ok(base)
}

impl RunDir {
    /// Creates the directory under `$TMPDIR` (or /tmp) with a unique name, root's
    /// alone.
    pub fn create() -> Result<RunDir, BundleError> {
        let base = std::env::temp_dir();
        let token = unique_token();
        let root = base.join(format!("breakout-{token}"));
        // Runtime state wants a short path (podman refuses a runroot over 50 bytes,
        // sockets live there); /run is short and in memory. A host without a
        // writable /run keeps it in the run directory; a full one is an error before
        // anything is made.
        let state_base = state_base().ok();
        if let Some(state_base) = &state_base {
            check_room(state_base)?;
        }
        create_private_dir(&root)?;
        let state = match state_base {
            Some(base) => base.join(&token),
            None => root.join("state"),
        };
        // Recorded before anything is mounted or started, so no trace of the run can
        // exist without its record.
        let ledger = crate::ledger::Entry::create(&root, &state);
        let mut dir = RunDir {
            rootfs_writes: root.join("bundle/rootfs"),
            bundle: root.join("bundle"),
            keep: false,
            root,
            state,
            mounts: Vec::new(),
            ledger,
        };
        // The run directory lives in memory where it can: building the rootfs (a
        // dozen inodes and a 2 MB copy) and removing it afterwards is then memory work
        // and one unmount, against ~2 ms of journalled disk work per run on ext4. It is
        // nosuid and nodev: a set-uid file or a device node the container makes in its
        // rootfs gives nothing on the host (the container's own mounts of it carry the
        // same flags; the probes of set-uid files and devices run on the volumes and
        // tmpfs mounts the settings name). Pages the container writes are charged to
        // its own memory limit. Where no tmpfs can be mounted (no CAP_SYS_ADMIN) it
        // stays a plain directory, root's alone all the same.
        if mount_tmpfs(&dir.root).is_ok() {
            dir.mounts.push(dir.root.clone());
        }
        // From here on, an error drops `dir`, which removes what was made.
        create_private_dir(&dir.state)?;
        dir.rootfs_writes = dir.rootfs();
        Ok(dir)
    }

    /// A bundle directory to keep: `dir` (absent or empty) gets config.json and
    /// rootfs/ and stays when this is dropped. Nothing is mounted on it.
    pub fn keep_at(dir: &Path) -> Result<RunDir, BundleError> {
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        let dir = fs::canonicalize(dir).map_err(io_err("resolve", dir))?;
        Ok(RunDir {
            rootfs_writes: dir.join("rootfs"),
            bundle: dir.clone(),
            keep: true,
            state: dir.join("state"),
            root: dir,
            mounts: Vec::new(),
            ledger: None,
        })
    }

    /// The run's ledger record, if it keeps one.
    pub fn ledger(&mut self) -> Option<&mut crate::ledger::Entry> {
        self.ledger.as_mut()
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn bundle(&self) -> PathBuf {
        self.bundle.clone()
    }

    pub fn state(&self) -> PathBuf {
        self.state.clone()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    /// The host directory where a file the container writes at `/NAME` appears.
    pub fn rootfs_writes(&self) -> &Path {
        &self.rootfs_writes
    }

    /// Builds the default rootfs: a static busybox as /bin/sh plus the directories a
    /// container needs, and the mount point for the probe.
    pub fn build_default_rootfs(&mut self, busybox: &Path) -> Result<(), BundleError> {
        let rootfs = self.rootfs();
        for dir in ["bin", "dev", "etc", "proc", "sys", "tmp", "root"] {
            let path = rootfs.join(dir);
            fs::create_dir_all(&path).map_err(io_err("create", &path))?;
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
            .map_err(io_err("set permissions on", &rootfs.join("tmp")))?;
        let target = rootfs.join("bin/busybox");
        // A copy, never a hard link: a writable rootfs would let the container change
        // the host's own busybox through a link.
        copy_executable(busybox, &target).map_err(io_err("copy busybox to", &target))?;
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

    /// Makes `/.breakout` with the mount points of the probe and the provided shell in
    /// `top`: a directory of ours (the default rootfs we just built, or the overlay's
    /// empty upper layer before the image is mounted under it), so no path here is
    /// the image's.
    fn add_probe_mountpoint(&self, top: &Path) -> Result<(), BundleError> {
        let dir = top.join(HARNESS_DIR.trim_start_matches('/'));
        fs::create_dir(&dir).map_err(io_err("create", &dir))?;
        for file in [PROBE_PATH, PROVIDED_SHELL_PATH, SETUID_BINARY_PATH] {
            let mountpoint = top.join(file.trim_start_matches('/'));
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&mountpoint)
                .map_err(io_err("create", &mountpoint))?;
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
        // In the upper layer, before the image is under it: whatever the image has at
        // /.breakout (a link to a host path, a file) is hidden by our directory.
        self.add_probe_mountpoint(&upper)?;
        // Opaque: none of the image's own /.breakout shows through ours. Best effort;
        // our names shadow the image's either way.
        let _ = rustix::fs::setxattr(
            upper.join(HARNESS_DIR.trim_start_matches('/')),
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        );
        let lower = fs::canonicalize(lower).map_err(io_err("resolve", lower))?;
        mounts::overlay(&lower, &upper, &work, &rootfs)
            .map_err(|source| BundleError::Overlay { lower, source })?;
        self.mounts.push(rootfs);
        self.rootfs_writes = upper;
        Ok(())
    }

    /// Lets host uid `uid` (the root of a container's user namespace) search the run
    /// directory, and nobody else: an access ACL entry for that one user, so that the
    /// runtime's init, already in the namespace, can reach the rootfs below. The
    /// directory stays closed to every other user (its mode is still 0700 for them).
    pub fn grant_search(&self, uid: u32) -> Result<(), BundleError> {
        // The kernel's POSIX ACL xattr: a version, then (tag, permissions, id) entries
        // sorted by tag. No maintained crate writes one without libacl; the format is
        // small and fixed (linux/posix_acl_xattr.h).
        const VERSION: u32 = 2;
        let entries: [(u16, u16, u32); 5] = [
            (0x01, 7, u32::MAX), // ACL_USER_OBJ: rwx
            (0x02, 1, uid),      // ACL_USER uid: --x
            (0x04, 0, u32::MAX), // ACL_GROUP_OBJ: ---
            (0x10, 1, u32::MAX), // ACL_MASK: --x
            (0x20, 0, u32::MAX), // ACL_OTHER: ---
        ];
        let mut value = VERSION.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            value.extend_from_slice(&tag.to_le_bytes());
            value.extend_from_slice(&perm.to_le_bytes());
            value.extend_from_slice(&id.to_le_bytes());
        }
        rustix::fs::setxattr(
            &self.root,
            "system.posix_acl_access",
            &value,
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(|e| BundleError::Io {
            action: "grant search to the user namespace's root on",
            path: self.root.clone(),
            source: e.into(),
        })
    }

    /// A set-uid-root copy of `probe` for `fs.setuid-binary`, on a tmpfs of its own
    /// in the run directory that honours set-uid bits (every other mount of the
    /// harness is nosuid). Only root can reach it on the host: the run directory is
    /// root's alone (0700), and so is the tmpfs's root. A kept bundle gets none: no
    /// set-uid file is left in a directory of the user's.
    pub fn setuid_binary(&mut self, probe: &Path) -> Result<PathBuf, BundleError> {
        use std::os::unix::fs::MetadataExt;
        if self.keep {
            return Err(BundleError::Io {
                action: "prepare",
                path: self.root.join("setuid"),
                source: io::Error::other("a kept bundle gets no set-uid binary"),
            });
        }
        let dir = self.root.join("setuid");
        create_private_dir(&dir)?;
        let len = fs::metadata(probe).map_err(io_err("read", probe))?.len();
        // Room for the copy and a page of slack; nothing else goes there.
        let size = (len + 2 * 4096).to_string();
        mounts::tmpfs_honouring_setuid(&dir, &size).map_err(io_err("mount a tmpfs at", &dir))?;
        self.mounts.push(dir.clone());
        let copy = dir.join("breakout-probe");
        copy_executable(probe, &copy).map_err(io_err("copy the probe to", &copy))?;
        std::os::unix::fs::chown(&copy, Some(0), Some(0)).map_err(io_err("chown", &copy))?;
        // After chown, which clears the bit.
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o4755))
            .map_err(io_err("chmod", &copy))?;
        // What the probe will check too: root's, set-uid, nothing else writable.
        let meta = fs::symlink_metadata(&copy).map_err(io_err("read", &copy))?;
        if meta.uid() != 0 || meta.mode() & 0o7777 != 0o4755 {
            return Err(BundleError::Io {
                action: "make set-uid root",
                path: copy,
                source: io::Error::other(format!(
                    "it is {}:{} {:o}",
                    meta.uid(),
                    meta.gid(),
                    meta.mode() & 0o7777
                )),
            });
        }
        Ok(copy)
    }

    /// Writes config.json for the next container of this run, readable by root alone
    /// (it holds the run's key).
    pub fn write_spec(&self, spec: &Spec) -> Result<(), BundleError> {
        use std::io::Write;
        let path = self.bundle().join("config.json");
        let text = serde_json::to_vec(spec).map_err(|e| BundleError::Spec(e.to_string()))?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("write", &path))?;
        file.write_all(&text).map_err(io_err("write", &path))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        while let Some(target) = self.mounts.pop() {
            mounts::detach(&target);
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
        use std::os::unix::fs::MetadataExt;
        for private in [dir.path(), state.as_path()] {
            let meta = fs::metadata(private).unwrap();
            assert_eq!(meta.mode() & 0o777, 0o700, "{}", private.display());
            assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
        }
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

    #[test]
    fn copies_an_executable_whole() {
        let dir = std::env::temp_dir().join(format!("breakout-copy-test-{}", unique_token()));
        fs::create_dir_all(&dir).unwrap();
        let me = std::env::current_exe().unwrap();
        let copy = dir.join("copy");
        copy_executable(&me, &copy).unwrap();
        assert_eq!(fs::read(&me).unwrap(), fs::read(&copy).unwrap());
        assert_eq!(
            fs::metadata(&copy).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        // Never over an existing file.
        assert!(copy_executable(&me, &copy).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_what_is_not_elf() {
        let dir = std::env::temp_dir().join(format!("breakout-elf-test-{}", unique_token()));
        fs::create_dir_all(&dir).unwrap();
        let short = dir.join("short");
        fs::write(&short, b"\x7fELF").unwrap();
        assert!(is_static_elf(&short).is_err());
        let text = dir.join("text");
        fs::write(&text, [b'#'; 200]).unwrap();
        assert!(is_static_elf(&text).is_err());
        // A header whose program table lies past the end: no PT_INTERP to be found.
        let mut head = vec![0u8; 64];
        head[..5].copy_from_slice(b"\x7fELF\x02");
        head[32..40].copy_from_slice(&1_000_000u64.to_le_bytes());
        head[54] = 56;
        head[56] = 3;
        let cut = dir.join("cut");
        fs::write(&cut, &head).unwrap();
        assert!(is_static_elf(&cut).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }
}
