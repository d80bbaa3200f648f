//! `fs.setuid`: does a set-uid-root binary on a mount raise an unprivileged process to
//! euid 0? The runner (root) leaves a set-uid-root copy of the payload on the mount; a
//! child drops to nobody (65534) and execs it as `payload --once`; the payload itself
//! judges its euid ([`payload_verdict`]) and prints the step's verdict, with the nonce
//! as the witness that it ran. The runner waits for the child and removes the copy.
//!
//! `fs.setuid-binary`: the same exec of a set-uid-root binary, but one the harness
//! prepared from outside on a mount that honours set-uid bits
//! ([`SETUID_BINARY_PATH`]), so that it needs no root in the container: the case of a
//! set-uid program in an image run as a non-root user, where only no-new-privileges
//! (or a user namespace, or a filter on execve) stands in the way. A root runner drops
//! to 65534 first, a non-root one execs it as itself.

use breakout_wire::names::{Leftover, SETUID_BINARY_PATH};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use breakout_wire::protocol::ProbeOutcome;

use crate::ctx::{Ctx, Verdict};
use crate::payload;
use crate::sys::{self, CArgv, ChildEnd, Errno};

/// The unprivileged ids the child drops to (`nobody`/`nogroup` on most systems).
const NOBODY: libc::c_long = 65534;

/// Child exit statuses: `EXEC_FAILED + errno` when the exec failed (errno values stay
/// below 134, so this fits a status byte and stays clear of the payload's own 0, 2, 3);
/// [`DROP_FAILED`] when the child could not drop its privileges.
const EXEC_FAILED: i32 = 100;
const DROP_FAILED: i32 = 250;

/// Where the set-uid copy goes.
pub fn copy_path(dir: &str, nonce: &str) -> PathBuf {
    Leftover::Suid.path(dir, nonce)
}

/// A verdict whose mechanism is not an errno.
fn blocked_by(mechanism: &str, detail: String) -> Verdict {
    Verdict {
        outcome: ProbeOutcome::Blocked,
        mechanism: Some(mechanism.to_string()),
        ..Verdict::escaped(detail)
    }
}

pub fn setuid(ctx: &Ctx, mount: &str) -> Verdict {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Verdict::not_applicable(None, "needs root to create a set-uid-root copy");
    }
    let step = format!("fs.setuid@{mount}");
    let copy = copy_path(mount, &ctx.inv.nonce);
    if let Err(verdict) = make_setuid_copy(&ctx.payload, &copy, mount) {
        return verdict;
    }
    let verdict = run_unprivileged(ctx, &step, &copy, mount);
    match std::fs::remove_file(&copy) {
        Ok(()) => verdict,
        Err(err) => Verdict {
            detail: format!(
                "{}; removing {} failed: {err}",
                verdict.detail,
                copy.display()
            ),
            ..verdict
        },
    }
}

pub fn setuid_binary(ctx: &Ctx) -> Verdict {
    use std::os::unix::fs::MetadataExt;
    let path = Path::new(SETUID_BINARY_PATH);
    match std::fs::metadata(path) {
        Ok(meta) if meta.uid() == 0 && meta.mode() & 0o4000 != 0 && meta.is_file() => {}
        // The empty mount point in the harness's own directory, with nothing mounted
        // on it: the harness offered no binary (a private user namespace, where the
        // host's root is no id of the container's).
        Ok(meta) if meta.is_file() && meta.len() == 0 && meta.mode() & 0o4000 == 0 => {
            return Verdict::not_applicable(
                None,
                format!("no set-uid binary from the harness at {SETUID_BINARY_PATH}: only its empty mount point"),
            )
        }
        Ok(meta) => {
            return Verdict::error(
                None,
                format!(
                    "{SETUID_BINARY_PATH} is not the harness's set-uid-root binary (uid {}, mode {:o})",
                    meta.uid(),
                    meta.mode()
                ),
            )
        }
        Err(err) => {
            return Verdict::not_applicable(
                Errno::from_io(&err),
                format!(
                    "no set-uid binary from the harness at {SETUID_BINARY_PATH} ({err}): it could not mount one on this host"
                ),
            )
        }
    }
    run_unprivileged(ctx, "fs.setuid-binary", path, "the harness's set-uid mount")
}

/// Copies the payload to `copy`, owned by 0:65534 with mode 04750 (0:0 and 04711
/// without CAP_CHOWN). The set-uid bit is set last:
/// chown clears it. Everything but a mount that cannot be written is a verdict of its own.
fn make_setuid_copy(payload: &str, copy: &Path, mount: &str) -> Result<(), Verdict> {
    let image = std::fs::read(payload).map_err(|err| {
        Verdict::error(
            Errno::from_io(&err),
            format!("cannot read the payload {payload}: {err}"),
        )
    })?;
    // A copy from an earlier container of this run that died in this step.
    let _ = std::fs::remove_file(copy);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .custom_flags(libc::O_CLOEXEC)
        .open(copy)
        .map_err(|err| {
            let errno = Errno::from_io(&err);
            let why = errno.map_or_else(|| err.to_string(), Errno::name);
            Verdict::not_applicable(errno, format!("{mount} is not writable ({why})"))
        })?;
    let fd = libc::c_long::from(file.as_raw_fd());
    let made = file
        .write_all(&image)
        .map_err(|err| Verdict::error(Errno::from_io(&err), format!("writing the copy: {err}")))
        .and_then(|()| {
            // Executable by root and group 65534 only (the child's group): on a volume
            // the copy is on the host for a moment, where no one else should run it.
            // Without CAP_CHOWN the group cannot be given away; the copy stays 0:0 and
            // only executable (04711) by others. Either way a set-uid run of the runner
            // does nothing but this step's report (`refuse_set_uid_runs`).
            // SAFETY: fchown takes an fd we own and two plain ids.
            let grouped = unsafe { libc::syscall(libc::SYS_fchown, fd, 0, NOBODY) } == 0;
            let mode = if grouped {
                0o4750
            } else {
                // SAFETY: as above; 0:0 is the creator's own ids here (root).
                sys::cvt(unsafe { libc::syscall(libc::SYS_fchown, fd, 0, 0) })
                    .map_err(|errno| Verdict::blocked(errno, "fchown of the copy to 0:0"))?;
                0o4711
            };
            // SAFETY: fchmod takes an fd we own and a plain mode.
            sys::cvt(unsafe { libc::syscall(libc::SYS_fchmod, fd, mode) }).map_err(|errno| {
                Verdict::blocked(errno, &format!("fchmod {mode:#o} (the set-uid bit)"))
            })
        })
        .and_then(|_| {
            file.sync_all().map_err(|err| {
                Verdict::error(Errno::from_io(&err), format!("syncing the copy: {err}"))
            })
        });
    // Closed before any exec: a descriptor open for writing would make it ETXTBSY.
    drop(file);
    if made.is_err() {
        let _ = std::fs::remove_file(copy);
    }
    made
}

/// Forks (or clones) a child that drops to 65534 when it is root, and execs the copy;
/// the verdict comes from how the child ended.
fn run_unprivileged(ctx: &Ctx, step: &str, copy: &Path, mount: &str) -> Verdict {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    // SAFETY: as above.
    let uid = unsafe { libc::getuid() };
    // `payload --step STEP --once FLAGS...`: report and exit, the runner goes on.
    let argv = payload::with_once(payload::payload_argv(&ctx.payload, step, &ctx.inv));
    let (Ok(path), Ok(argv)) = (sys::path_cstring(copy), CArgv::new(&argv)) else {
        return Verdict::error(None, "the payload's path or arguments hold a NUL byte");
    };
    // The payload writes to the same stdout: nothing may be left in our buffer.
    ctx.out.flush();
    // fork, else clone, else vfork (whose child runs in assembly only): a profile that
    // denies one way of making a process must not make the step not-applicable.
    let created = match sys::raw_fork().or_else(|_| sys::raw_clone_sigchld()) {
        Ok(0) => child(&path, &argv, root),
        Ok(pid) => Ok(pid),
        Err(_) => sys::raw_vfork_exec(&path, &argv, root, EXEC_FAILED, DROP_FAILED),
    };
    let pid = match created {
        Ok(pid) => pid,
        Err(errno) => return without_a_child(ctx, &argv, errno),
    };
    match sys::wait_child(pid) {
        Ok(ChildEnd::Exited(0)) => Verdict::already_reported(format!(
            "the set-uid copy on {mount} ran as uid {} and reported",
            if root { 65534 } else { uid }
        )),
        // Without CAP_SETUID/CAP_SETGID there is no unprivileged process to run the copy.
        Ok(ChildEnd::Exited(DROP_FAILED)) => Verdict::not_applicable(
            None,
            "the child could not drop to uid 65534 (setgroups/setgid/setuid failed: no CAP_SETUID or CAP_SETGID?)",
        ),
        Ok(ChildEnd::Exited(code)) if code > EXEC_FAILED && code < DROP_FAILED => {
            exec_refused(Errno(code - EXEC_FAILED), copy, mount, uid)
        }
        Ok(ChildEnd::Exited(code)) => Verdict::error(
            None,
            format!("the payload exited {code} without reporting ({mount})"),
        ),
        Ok(ChildEnd::Signaled(libc::SIGSYS)) => blocked_by(
            "SIGSYS",
            format!(
                "the child was killed by SIGSYS (seccomp) before the payload on {mount} reported"
            ),
        ),
        Ok(ChildEnd::Signaled(sig)) => Verdict::error(
            None,
            format!("the child was killed by signal {sig} before the payload on {mount} reported"),
        ),
        Err(errno) => Verdict::error(Some(errno), format!("waiting for child {pid}: {errno}")),
    }
}

/// No process can be made to run the binary in. Whether any exec could run it at all
/// decides: an exec of a path that does not exist, with the same arguments, answers
/// ENOENT where exec is allowed and the filter's answer where it is not. A denied exec
/// keeps every set-uid binary from running (blocked); an allowed one leaves the
/// question open (not applicable: the runner cannot give itself up to ask it).
fn without_a_child(ctx: &Ctx, argv: &CArgv, created: Errno) -> Verdict {
    let missing = format!("/.breakout/.breakout-no-such-file-{}", ctx.inv.nonce);
    let Ok(missing) = sys::path_cstring(Path::new(&missing)) else {
        return Verdict::error(None, "the nonce holds a NUL byte");
    };
    match sys::raw_execve(&missing, argv) {
        Errno(libc::ENOENT) => Verdict::not_applicable(
            Some(created),
            format!(
                "cannot create a child to run it in (fork, clone and vfork: {created}), and execve is allowed"
            ),
        ),
        errno => Verdict {
            detail: format!(
                "execve: {errno}, so no process here can run a set-uid binary (no child could be made either: {created})"
            ),
            ..Verdict::blocked(errno, "execve")
        },
    }
}

/// The forked child: drop every privilege a set-uid bit could give back (when it is
/// root), then exec. Raw system calls only: they act on this one thread, which is all
/// the process has.
fn child(path: &std::ffi::CStr, argv: &CArgv, root: bool) -> ! {
    if !root {
        let Errno(errno) = sys::raw_execve(path, argv);
        sys::exit_now_with(EXEC_FAILED + errno.clamp(1, DROP_FAILED - EXEC_FAILED - 1));
    }
    // SAFETY: setgroups with size 0 reads no memory; setgid/setuid take plain ids.
    let dropped =
        sys::cvt(unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) })
            // SAFETY: as above.
            .and_then(|_| sys::cvt(unsafe { libc::syscall(libc::SYS_setgid, NOBODY) }))
            // SAFETY: as above.
            .and_then(|_| sys::cvt(unsafe { libc::syscall(libc::SYS_setuid, NOBODY) }));
    if dropped.is_err() {
        sys::exit_now_with(DROP_FAILED);
    }
    let Errno(errno) = sys::raw_execve(path, argv);
    sys::exit_now_with(EXEC_FAILED + errno.clamp(1, DROP_FAILED - EXEC_FAILED - 1));
}

/// The exec of the copy failed. On a noexec mount that is noexec's doing (EACCES): the
/// set-uid bit never got a chance, which the detail says so nobody reads it as nosuid.
fn exec_refused(errno: Errno, copy: &Path, mount: &str, uid: libc::uid_t) -> Verdict {
    let uid = if uid == 0 { 65534 } else { uid };
    let what = format!("execve of the set-uid copy {} as uid {uid}", copy.display());
    let noexec = mount_flags(mount).is_some_and(|f| f & libc::ST_NOEXEC != 0);
    if errno == Errno(libc::EACCES) && noexec {
        Verdict {
            detail: format!(
                "{what}: {errno}; {mount} is mounted noexec, so this is a block by noexec, \
                 not a set-uid finding"
            ),
            ..Verdict::blocked(errno, &what)
        }
    } else if errno == Errno(libc::EACCES) {
        // Not the set-uid bit either: nobody may lack search permission on the way.
        Verdict {
            detail: format!(
                "{what}: {errno}; {mount} is not noexec, so uid {uid} may be unable to reach the copy"
            ),
            ..Verdict::blocked(errno, &what)
        }
    } else {
        Verdict::blocked(errno, &what)
    }
}

/// statvfs flags of the mount holding `path` (`ST_NOSUID`, `ST_NOEXEC`, ...).
fn mount_flags(path: &str) -> Option<libc::c_ulong> {
    let path = sys::path_cstring(Path::new(path)).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: path is NUL-terminated and `st` is a writable statvfs, both alive across
    // the call.
    let ret = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    sys::cvt(libc::c_long::from(ret)).ok()?;
    // SAFETY: statvfs succeeded, so it filled the struct (it was zeroed before anyway).
    Some(unsafe { st.assume_init() }.f_flag)
}

/// Whether `/proc/self/status` says `NoNewPrivs: 1`.
fn no_new_privs() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|l| l.starts_with("NoNewPrivs:") && l.split_whitespace().nth(1) == Some("1"))
    })
}

/// What the set-uid payload concludes, in the child, about its own euid.
pub fn payload_verdict(dst: &str) -> Verdict {
    // SAFETY: getuid/geteuid have no preconditions and cannot fail.
    let (uid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
    if euid == 0 {
        return Verdict::escaped(format!(
            "set-uid bit honoured on {dst}: the payload runs with euid 0 (uid {uid})"
        ));
    }
    let what = format!("the set-uid-root payload on {dst} runs with euid {euid}");
    if no_new_privs() {
        return blocked_by(
            "no-new-privileges",
            format!("{what}: no_new_privs keeps exec from granting privileges"),
        );
    }
    match mount_flags(dst) {
        Some(flags) if flags & libc::ST_NOSUID == 0 => match crate::facts::sandbox() {
            Some(kernel) => blocked_by(
                "set-uid-ignored",
                format!("{what}, though {dst} is not nosuid and no_new_privs is off: {kernel}'s kernel does not honour the set-uid bit"),
            ),
            None => blocked_by(
            "set-uid-ignored",
            format!("{what}, though {dst} is not nosuid and no_new_privs is off (a user namespace or an LSM?)"),
            ),
        },
        _ => blocked_by("nosuid", format!("{what}: {dst} is mounted nosuid")),
    }
}
