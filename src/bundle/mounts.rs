//! The run's own mounts: its tmpfs and the overlay over a user's rootfs, made with the
//! new mount API (fsopen, fsconfig, fsmount, move_mount) through rustix.
//!
//! Why this API: with mount(2) every option travels in one comma- and colon-separated
//! string, so a path with `:` or `,` in it (`--rootfs '/tmp/i:/etc'`) becomes options of
//! its own. fsconfig takes one key and one value per call, and overlayfs' `lowerdir+`
//! (Linux 6.8) takes the value as a path, unparsed. Every mount is `nosuid,nodev`: the
//! rootfs is the attacker's, and nothing it holds may act with privilege on the host.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::CWD;
use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, FsMountFlags, FsOpenFlags,
    MountAttrFlags, MoveMountFlags,
};

/// The attributes of every mount the harness makes.
fn attributes() -> MountAttrFlags {
    MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV
}

/// Creates a filesystem of `fstype` configured by `configure`, and attaches it at
/// `target`.
fn mount_new(
    fstype: &str,
    target: &Path,
    configure: impl FnOnce(&rustix::fd::OwnedFd) -> rustix::io::Result<()>,
) -> io::Result<()> {
    mount_new_with(fstype, target, attributes(), configure)
}

/// [`mount_new`] with the mount's attributes given.
fn mount_new_with(
    fstype: &str,
    target: &Path,
    attributes: MountAttrFlags,
    configure: impl FnOnce(&rustix::fd::OwnedFd) -> rustix::io::Result<()>,
) -> io::Result<()> {
    let fs = fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    configure(&fs)?;
    fsconfig_create(&fs)?;
    let mount = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attributes)?;
    move_mount(
        &mount,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

/// Mounts a tmpfs at `target` with `options` (`key=value` pairs of our own, never a
/// user's), root-only (`mode=0700`).
pub fn tmpfs(target: &Path, options: &[(&str, &str)]) -> io::Result<()> {
    mount_new("tmpfs", target, |fs| {
        fsconfig_set_string(fs, "mode", "0700")?;
        for (key, value) in options {
            fsconfig_set_string(fs, *key, *value)?;
        }
        Ok(())
    })
}

/// Mounts a tmpfs at `target` that honours set-uid bits (still `nodev`), root-only,
/// for the one set-uid file the harness provides (`fs.setuid-binary`).
pub fn tmpfs_honouring_setuid(target: &Path, size: &str) -> io::Result<()> {
    mount_new_with("tmpfs", target, MountAttrFlags::MOUNT_ATTR_NODEV, |fs| {
        fsconfig_set_string(fs, "mode", "0700")?;
        fsconfig_set_string(fs, "size", size)
    })
}

/// Why an overlay could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("{0}{hint}", hint = crate::hint::suffix(crate::hint::io_here(.0, crate::hint::Doing::Mount)))]
    Mount(#[from] io::Error),
    #[error("this kernel (before Linux 6.8) reads overlay directories from one option string, and the path contains {0:?}, which that string cannot carry; use a path without it")]
    Unsplicable(char),
}

/// Mounts an overlay of `lower` (read-only, never written) under `upper`/`work` at
/// `target`.
pub fn overlay(lower: &Path, upper: &Path, work: &Path, target: &Path) -> Result<(), OverlayError> {
    let plus = mount_new("overlay", target, |fs| {
        fsconfig_set_string(fs, "lowerdir+", lower)?;
        fsconfig_set_string(fs, "upperdir", upper)?;
        fsconfig_set_string(fs, "workdir", work)
    });
    match plus {
        Ok(()) => Ok(()),
        // A kernel without `lowerdir+` says EINVAL: only there is the path spliced into
        // the classic option, and only if nothing in it can be read as a separator.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            for path in [lower, upper, work] {
                if let Some(bad) = path
                    .as_os_str()
                    .as_bytes()
                    .iter()
                    .find(|b| matches!(b, b':' | b',' | b'\\'))
                {
                    return Err(OverlayError::Unsplicable(*bad as char));
                }
            }
            mount_new("overlay", target, |fs| {
                fsconfig_set_string(fs, "lowerdir", lower)?;
                fsconfig_set_string(fs, "upperdir", upper)?;
                fsconfig_set_string(fs, "workdir", work)
            })?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Detaches the mount at `target` (lazily: a busy mount goes when its last user does).
pub fn detach(target: &Path) {
    let _ = rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH);
}
