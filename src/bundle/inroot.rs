//! Files inside a rootfs or a volume, reached without leaving it.
//!
//! Everything under a container's rootfs or a volume is the attacker's: a name the
//! harness looks at may be a symlink to a host path, a FIFO that blocks an open or a
//! read for good, or a device that never ends (`/dev/zero`). Paths are resolved with
//! openat2(2) `RESOLVE_IN_ROOT` (a symlink inside the root is followed as the container
//! would, never out of it), and files the container made are read only if they are
//! regular files, opened `O_NOFOLLOW|O_NONBLOCK`, up to a bound.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{openat, openat2, unlinkat, AtFlags, Mode, OFlags, ResolveFlags, CWD};

/// The most the harness reads of a file a container made.
pub const MAX_WITNESS_FILE: u64 = 4096;

/// Whether `path` names something inside `root`, resolved as the container would see
/// it (`/bin/sh` through a `/bin -> usr/bin` link), never outside `root`.
pub fn exists_in_root(root: &Path, path: &str) -> bool {
    let Ok(root) = open_dir(root) else {
        return false;
    };
    openat2(
        &root,
        path.trim_start_matches('/'),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .is_ok()
}

fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    Ok(openat(
        CWD,
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Reads the file `name` directly in `dir` (no path, just a name) if it is a regular
/// file of at most [`MAX_WITNESS_FILE`] bytes, and removes whatever has that name. A
/// symlink, FIFO, socket, device or directory, or a file larger than the bound, reads
/// as `None`; nothing here blocks or follows a link.
pub fn take_witness_file(dir: &Path, name: &str) -> Option<Vec<u8>> {
    if name.contains('/') || name == "." || name == ".." {
        return None;
    }
    let dir = open_dir(dir).ok()?;
    let content = read_regular(&dir, name);
    let _ = unlinkat(&dir, name, AtFlags::empty());
    content
}

/// As [`take_witness_file`], in directory `dir` of a running container's root
/// (`/proc/PID/root`): `dir` is resolved inside that root (`RESOLVE_IN_ROOT`, no magic
/// links), never out of it, so a mount point the container replaced with a link leads
/// nowhere else.
pub fn take_witness_file_in_root(root: &Path, dir: &str, name: &str) -> Option<Vec<u8>> {
    let dir = open_witness_dir(root, dir, name)?;
    let content = read_regular(&dir, name);
    let _ = unlinkat(&dir, name, AtFlags::empty());
    content
}

/// The device number of the character device `name` in directory `dir` under `root`
/// (resolved as in [`take_witness_file_in_root`]), which is then removed. Nothing is
/// opened: the node is only looked at (`fstatat`, no link followed).
pub fn take_char_device_in_root(root: &Path, dir: &str, name: &str) -> Option<(u32, u32)> {
    let dir = open_witness_dir(root, dir, name)?;
    let stat = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).ok();
    let _ = unlinkat(&dir, name, AtFlags::empty());
    let stat = stat?;
    (rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::CharacterDevice)
        .then(|| {
            (
                rustix::fs::major(stat.st_rdev),
                rustix::fs::minor(stat.st_rdev),
            )
        })
}

/// `dir` inside `root`, for a witness called `name` (a plain name, never a path).
fn open_witness_dir(root: &Path, dir: &str, name: &str) -> Option<OwnedFd> {
    if name.contains('/') || name == "." || name == ".." {
        return None;
    }
    let root = open_dir(root).ok()?;
    openat2(
        &root,
        dir.trim_start_matches('/'),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()
}

fn read_regular(dir: &OwnedFd, name: &str) -> Option<Vec<u8>> {
    let fd = openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile
        || stat.st_size as u64 > MAX_WITNESS_FILE
    {
        return None;
    }
    let mut content = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_WITNESS_FILE + 1)
        .read_to_end(&mut content)
        .ok()?;
    (content.len() as u64 <= MAX_WITNESS_FILE).then_some(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::time::{Duration, Instant};

    fn scratch(label: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "breakout-inroot-{label}-{}",
            crate::bundle::unique_token()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_regular_files_only_and_never_blocks() {
        let dir = scratch("witness");
        std::fs::write(dir.join("plain"), b"token").unwrap();
        assert_eq!(
            take_witness_file(&dir, "plain").as_deref(),
            Some(&b"token"[..])
        );
        assert!(!dir.join("plain").exists(), "taken files are removed");
        // A FIFO nobody writes to would block an open or a read for good.
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let started = Instant::now();
        assert_eq!(take_witness_file(&dir, "fifo"), None);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(std::fs::symlink_metadata(&fifo).is_err());
        // A link to a host file, to an endless device, to a directory: not followed.
        let host = dir.join("host-secret");
        std::fs::write(&host, b"secret").unwrap();
        for (name, target) in [
            ("to-host", host.as_path()),
            ("to-zero", Path::new("/dev/zero")),
            ("to-dir", Path::new("/")),
        ] {
            symlink(target, dir.join(name)).unwrap();
            assert_eq!(take_witness_file(&dir, name), None, "{name}");
        }
        assert_eq!(std::fs::read(&host).unwrap(), b"secret");
        // Too big, and names that are paths.
        std::fs::write(dir.join("big"), vec![b'x'; MAX_WITNESS_FILE as usize + 1]).unwrap();
        assert_eq!(take_witness_file(&dir, "big"), None);
        assert_eq!(take_witness_file(&dir, "../host-secret"), None);
        assert!(host.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resolves_inside_the_root() {
        let root = scratch("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/sh"), b"").unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        assert!(exists_in_root(&root, "/bin/sh"));
        // An absolute link resolves against the root, not the host: the host's
        // /etc/passwd exists, the root's does not.
        symlink("/etc", root.join("etc")).unwrap();
        assert!(!exists_in_root(&root, "/etc/passwd"));
        symlink("../../../../../../etc/passwd", root.join("up")).unwrap();
        assert!(!exists_in_root(&root, "/up"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
