//! `fs.*` probes: write marker files on the rootfs and on each mount (the harness looks
//! for them from the host and removes them), and execute a copy of the payload from
//! each mount.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::exec::{self, ExecCall};
use crate::runner::{Ctx, Impl, Verdict};
use crate::sys::Errno;

/// This module's catalog ids.
pub fn implementation(id: &str) -> Option<Impl> {
    Some(match id {
        "fs.write-rootfs" => Impl::Once(write_rootfs),
        "fs.write-mount" => Impl::PerMount(write_mount),
        "fs.exec-mount" => Impl::PerMount(exec_mount),
        _ => return None,
    })
}

/// Where `fs.write-rootfs` and `fs.write-mount` leave their marker.
pub fn marker_path(dir: &str, nonce: &str) -> PathBuf {
    Path::new(dir).join(format!(".breakout-marker-{nonce}"))
}

/// Where `fs.exec-mount` puts its copy of the payload.
pub fn exec_copy_path(dir: &str, nonce: &str) -> PathBuf {
    Path::new(dir).join(format!(".breakout-exec-{nonce}"))
}

/// The verdict of a set-uid payload started by `fs.setuid` for mount `dst`.
pub fn setuid_payload(_ctx: &Ctx, dst: &str) -> Verdict {
    Verdict::escaped(format!("set-uid payload ran from {dst}"))
}

pub fn write_rootfs(ctx: &Ctx) -> Verdict {
    write_marker(&marker_path("/", &ctx.inv.nonce), &ctx.inv.nonce)
}

pub fn write_mount(ctx: &Ctx, mount: &str) -> Verdict {
    write_marker(&marker_path(mount, &ctx.inv.nonce), &ctx.inv.nonce)
}

/// Creates the marker (never replacing a file) and leaves it for the harness to find.
fn write_marker(path: &Path, nonce: &str) -> Verdict {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path);
    let mut file = match created {
        Ok(file) => file,
        Err(err) => {
            let errno = Errno::from_io(&err);
            let what = format!("creating {}", path.display());
            return match errno {
                // Only this run knows the nonce, so the file is a leftover of this run,
                // not something a confinement did.
                Some(e @ Errno(libc::EEXIST)) => {
                    Verdict::error(Some(e), format!("{what}: it already exists"))
                }
                Some(e) => Verdict::blocked(e, &what),
                None => Verdict::error(None, format!("{what}: {err}")),
            };
        }
    };
    match file.write_all(nonce.as_bytes()) {
        Ok(()) => Verdict::escaped(format!("created {}", path.display())),
        // The file exists, which is the escape; say that its content is missing.
        Err(err) => Verdict::escaped(format!(
            "created {}, but writing the nonce into it failed: {err}",
            path.display()
        )),
    }
}

pub fn exec_mount(ctx: &Ctx, mount: &str) -> Verdict {
    let step = format!("fs.exec-mount@{mount}");
    let copy = exec_copy_path(mount, &ctx.inv.nonce);
    let image = match std::fs::read(&ctx.payload) {
        Ok(image) => image,
        Err(err) => {
            return Verdict::error(
                Errno::from_io(&err),
                format!("cannot read the payload {}: {err}", ctx.payload),
            )
        }
    };
    if let Err(err) = write_executable(&copy, &image) {
        let errno = Errno::from_io(&err);
        let why = errno.map_or_else(|| err.to_string(), Errno::name);
        return Verdict::not_applicable(errno, format!("{mount} is not writable ({why})"));
    }
    let argv = exec::payload_argv(&ctx.payload, &step, &ctx.inv);
    let errno = exec::exec(ctx, ExecCall::Execve, &copy, &argv);
    let _ = std::fs::remove_file(&copy);
    Verdict::blocked(errno, &format!("execve {}", copy.display()))
}

/// Writes `image` to `path` as a 0755 file, synced and closed. The fd is close-on-exec
/// (std opens every file that way) and closed before returning, so the exec that follows
/// does not fail with ETXTBSY. A partial copy is removed.
fn write_executable(path: &Path, image: &[u8]) -> io::Result<()> {
    // A copy from an earlier container of this run that died in this step's exec.
    let _ = std::fs::remove_file(path);
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    let written = file
        .write_all(image)
        // The umask may have taken bits off the mode given to open.
        .and_then(|()| file.set_permissions(Permissions::from_mode(0o755)))
        .and_then(|()| file.sync_all());
    drop(file);
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_files_by_nonce() {
        assert_eq!(
            marker_path("/", "abc"),
            PathBuf::from("/.breakout-marker-abc")
        );
        assert_eq!(
            marker_path("/scratch/", "abc"),
            PathBuf::from("/scratch/.breakout-marker-abc")
        );
        assert_eq!(
            exec_copy_path("/scratch", "abc"),
            PathBuf::from("/scratch/.breakout-exec-abc")
        );
    }
}
