//! `fs.*` probes: write marker files on the rootfs and on each mount (the harness looks
//! for them from the host and removes them), execute a copy of the payload from each
//! mount, create a device node there, open kernel tunables for writing (never writing
//! them) and open the root by file handle. The mount(2) probes live in [`fs_mount`], the
//! set-uid probe in [`fs_setuid`].

use breakout_wire::names::Leftover;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use breakout_wire::protocol::Purpose;

use crate::ctx::{Ctx, Verdict};
use crate::fs_setuid;
use crate::payload::{self, ExecCall};
use crate::sys::{self, Errno};

/// Where `fs.write-rootfs` and `fs.write-mount` leave their marker.
pub fn marker_path(dir: &str, nonce: &str) -> PathBuf {
    Leftover::Marker.path(dir, nonce)
}

/// Where `fs.exec-mount` puts its copy of the payload.
pub fn exec_copy_path(dir: &str, nonce: &str) -> PathBuf {
    Leftover::ExecCopy.path(dir, nonce)
}

/// The verdict of a set-uid payload started by `fs.setuid` for mount `dst`: escaped only
/// if the set-uid bit made it euid 0 (see [`fs_setuid`]).
pub fn setuid_payload(_ctx: &Ctx, dst: &str) -> Verdict {
    fs_setuid::payload_verdict(dst)
}

pub fn write_rootfs(ctx: &Ctx) -> Verdict {
    match ctx.key() {
        Ok(key) => write_marker(
            &marker_path("/", &ctx.inv.nonce),
            &key.token(Purpose::Marker, "fs.write-rootfs"),
        ),
        Err(verdict) => verdict,
    }
}

pub fn write_mount(ctx: &Ctx, mount: &str) -> Verdict {
    match ctx.key() {
        Ok(key) => write_marker(
            &marker_path(mount, &ctx.inv.nonce),
            &key.token(Purpose::Marker, &format!("fs.write-mount@{mount}")),
        ),
        Err(verdict) => verdict,
    }
}

/// Creates the marker (never replacing a file) with `token` in it, and leaves it for
/// the harness to find: only the key's holders can make that content.
fn write_marker(path: &Path, token: &str) -> Verdict {
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
    match file.write_all(token.as_bytes()) {
        Ok(()) => Verdict::escaped(format!("created {}", path.display())),
        // The file exists, which is the escape; say that its content is missing.
        Err(err) => Verdict::escaped(format!(
            "created {}, but writing the token into it failed: {err}",
            path.display()
        )),
    }
}

pub fn exec_mount(ctx: &Ctx, mount: &str) -> Verdict {
    let step = format!("fs.exec-mount@{mount}");
    let copy = exec_copy_path(mount, &ctx.inv.nonce);
    let image = match ctx.payload_image() {
        Ok(image) => image,
        Err(verdict) => return verdict,
    };
    if let Err(err) = write_executable(&copy, &image) {
        let errno = Errno::from_io(&err);
        let why = errno.map_or_else(|| err.to_string(), Errno::name);
        return Verdict::not_applicable(errno, format!("{mount} is not writable ({why})"));
    }
    let argv = payload::payload_argv(&ctx.payload, &step, &ctx.inv);
    let errno = payload::exec(ctx, ExecCall::Execve, &copy, &argv);
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

/// Where `fs.mknod` creates its device node.
pub fn mknod_path(dir: &str, nonce: &str) -> PathBuf {
    Leftover::Dev.path(dir, nonce)
}

/// `fs.mknod`: a character device 1:3 (the kernel's null device, harmless to open) made
/// with mknodat(2), which is what glibc's mknod() calls, then opened read-only. The node
/// is removed, unless an escape's node is left for a held runner's harness to see.
pub fn mknod(ctx: &Ctx, mount: &str) -> Verdict {
    let node = mknod_path(mount, &ctx.inv.nonce);
    let Ok(cnode) = sys::path_cstring(&node) else {
        return Verdict::error(None, format!("{} is not a valid path", node.display()));
    };
    // A node from an earlier container of this run that died in this step.
    let _ = std::fs::remove_file(&node);
    // mknodat takes the device as the kernel's 32-bit encoding, which makedev matches
    // for numbers this small.
    let dev = libc::c_long::try_from(libc::makedev(1, 3)).unwrap_or(0x103);
    // SAFETY: cnode is a NUL-terminated path alive across the call; the rest are plain
    // integers.
    let made = sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_mknodat,
            libc::c_long::from(libc::AT_FDCWD),
            cnode.as_ptr(),
            libc::c_long::from(libc::S_IFCHR | 0o600),
            dev,
        )
    });
    if let Err(errno) = made {
        let unwritable = matches!(errno, Errno(libc::EROFS | libc::EACCES)) && !writable(mount);
        return if unwritable {
            Verdict::not_applicable(
                Some(errno),
                format!("{mount} is not writable ({})", errno.name()),
            )
        } else {
            Verdict::blocked(errno, &format!("mknod c 1:3 {}", node.display()))
        };
    }
    // SAFETY: as above; the flags ask for nothing beyond a read-only open.
    let opened = sys::cvt(libc::c_long::from(unsafe {
        libc::open(
            cnode.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    }));
    if let Ok(fd) = opened {
        // SAFETY: fd was just opened by us and is closed once.
        unsafe { libc::close(fd as libc::c_int) };
    }
    // A held runner's harness inspects the node of an escape through the runner's root
    // (on a volume that is the host's side) and removes it; otherwise it goes now.
    let leave = ctx.inv.hold && opened.is_ok();
    let removed = if leave {
        Ok(())
    } else {
        std::fs::remove_file(&node)
    };
    let verdict = match opened {
        Ok(_) => Verdict::escaped(format!(
            "created character device 1:3 at {} and opened it",
            node.display()
        )),
        Err(errno @ Errno(libc::EACCES)) => Verdict::blocked(
            errno,
            &format!("created {}, but opening it failed (nodev)", node.display()),
        ),
        Err(errno @ Errno(libc::EPERM)) => Verdict::blocked(
            errno,
            &format!(
                "created {}, but opening it failed (the device cgroup)",
                node.display()
            ),
        ),
        Err(errno) => Verdict::blocked(
            errno,
            &format!("created {}, but opening it failed", node.display()),
        ),
    };
    match removed {
        Ok(()) => verdict,
        Err(err) => Verdict {
            detail: format!("{}; removing the node failed: {err}", verdict.detail),
            ..verdict
        },
    }
}

/// Whether the calling user may create files in `dir` (access(2) with W_OK).
fn writable(dir: &str) -> bool {
    let Ok(path) = sys::path_cstring(Path::new(dir)) else {
        return false;
    };
    // SAFETY: path is a NUL-terminated string alive across the call.
    sys::cvt(libc::c_long::from(unsafe {
        libc::access(path.as_ptr(), libc::W_OK)
    }))
    .is_ok()
}

/// The tunables `fs.proc-sys` opens for writing, first one that exists. `core_pattern` is
/// the classic escape: it is global (not namespaced), and a `|program` written there is
/// run by the kernel as root on the host at the next core dump. `hostname` (in every
/// kernel with sysctl) is the fallback where core dumps are compiled out.
pub const PROC_SYS_TUNABLES: &[&str] =
    &["/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname"];

/// The attributes `fs.sysfs` opens for writing, first one that exists. `uevent_helper`
/// is the classic escape (the kernel runs it as root on the host on every uevent) but
/// needs CONFIG_UEVENT_HELPER; the transparent hugepage switch (most distribution
/// kernels) and `profiling` (CONFIG_PROFILING) are global attributes with no effect on
/// open. All are root-owned 0644 files, so only the mount decides.
pub const SYSFS_ATTRIBUTES: &[&str] = &[
    "/sys/kernel/uevent_helper",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/kernel/profiling",
];

pub fn proc_sys(_: &Ctx) -> Verdict {
    open_for_writing(PROC_SYS_TUNABLES, "/proc/sys")
}

pub fn sysfs(_: &Ctx) -> Verdict {
    open_for_writing(SYSFS_ATTRIBUTES, "/sys")
}

/// Opens the first existing file of `candidates` with O_WRONLY and closes it unwritten.
/// Opening writes nothing: proc and sysfs act only on write(2). Without O_TRUNC and
/// O_CREAT the open cannot change the file either.
fn open_for_writing(candidates: &[&str], root: &str) -> Verdict {
    for candidate in candidates {
        let Ok(path) = sys::path_cstring(Path::new(candidate)) else {
            continue;
        };
        // SAFETY: path is a NUL-terminated string alive across the call.
        let opened = sys::cvt(libc::c_long::from(unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOCTTY,
            )
        }));
        match opened {
            Ok(fd) => {
                // SAFETY: fd was just opened by us and is closed once, with nothing written.
                unsafe { libc::close(fd as libc::c_int) };
                return Verdict::escaped(format!(
                    "opened {candidate} for writing (closed without writing)"
                ));
            }
            Err(Errno(libc::ENOENT)) => {}
            Err(errno) => {
                return Verdict::blocked(errno, &format!("opening {candidate} for writing"))
            }
        }
    }
    Verdict::not_applicable(
        Some(Errno(libc::ENOENT)),
        format!("none of {} exists under {root}", candidates.join(", ")),
    )
}

/// `struct file_handle` with room for the largest handle (`MAX_HANDLE_SZ`).
#[repr(C)]
struct FileHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; 128],
}

/// `fs.open-by-handle`: the "shocker" escape. name_to_handle_at(2) needs no privilege;
/// open_by_handle_at(2) checks CAP_DAC_READ_SEARCH on every call, before it decodes the
/// handle, whatever the filesystem. So when `/` cannot give a handle (overlayfs without
/// `nfs_export`, proc) the probe tries other filesystems: the probe binary, which the
/// harness bind-mounts from the host's filesystem (the very setting of the original
/// exploit, which guessed handles relative to such a bind mount), then /dev (a tmpfs,
/// which issues handles). Only when none can, the probe is not applicable.
pub fn open_by_handle(ctx: &Ctx) -> Verdict {
    let candidates = ["/", ctx.payload.as_str(), "/dev"];
    let mut unsupported = Vec::new();
    for candidate in candidates {
        match handle_of(candidate) {
            Ok(handle) => return open_handle(candidate, &handle),
            Err(errno @ Errno(libc::EOPNOTSUPP | libc::ENOENT)) => {
                unsupported.push(format!("{candidate}: {}", errno.name()));
            }
            Err(errno) => {
                return Verdict::blocked(errno, &format!("name_to_handle_at {candidate}"))
            }
        }
    }
    Verdict::not_applicable(
        Some(Errno(libc::EOPNOTSUPP)),
        format!(
            "no filesystem here gives file handles ({})",
            unsupported.join(", ")
        ),
    )
}

fn handle_of(path: &str) -> Result<FileHandle, Errno> {
    let cpath = sys::path_cstring(Path::new(path))?;
    let mut handle = FileHandle {
        handle_bytes: 128,
        handle_type: 0,
        f_handle: [0; 128],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: cpath is NUL-terminated, `handle` has room for handle_bytes bytes of
    // handle after its header, and mount_id is a writable int; all live across the call.
    sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::c_long::from(libc::AT_FDCWD),
            cpath.as_ptr(),
            &raw mut handle,
            &raw mut mount_id,
            0 as libc::c_long,
        )
    })?;
    Ok(handle)
}

fn open_handle(path: &str, handle: &FileHandle) -> Verdict {
    let Ok(cpath) = sys::path_cstring(Path::new(path)) else {
        return Verdict::error(None, format!("{path} is not a valid path"));
    };
    // Any descriptor on the mount the handle belongs to will do.
    // SAFETY: cpath is NUL-terminated and alive across the call.
    let mount_fd = match sys::cvt(libc::c_long::from(unsafe {
        libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC)
    })) {
        Ok(fd) => fd,
        Err(errno) => return Verdict::error(Some(errno), format!("opening {path}: {errno}")),
    };
    // SAFETY: `handle` was filled by name_to_handle_at and is read-only here; mount_fd
    // is open; the flags are plain.
    let opened = sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount_fd,
            std::ptr::from_ref(handle),
            libc::c_long::from(libc::O_RDONLY | libc::O_CLOEXEC),
        )
    });
    // SAFETY: mount_fd was opened above and is closed once.
    unsafe { libc::close(mount_fd as libc::c_int) };
    match opened {
        Ok(fd) => {
            // SAFETY: fd was just opened by the kernel for us and is closed once.
            unsafe { libc::close(fd as libc::c_int) };
            Verdict::escaped(format!(
                "opened {path} by its file handle (type {}, {} bytes)",
                handle.handle_type, handle.handle_bytes
            ))
        }
        Err(errno) => Verdict::blocked(errno, &format!("open_by_handle_at for {path}")),
    }
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
