//! `namespace.*` probes: gain privileges through a new namespace.
//!
//! The clone probes put only a child into the new namespace, and it exits at once.
//! `namespace.setns` enters the runner's own mount namespace (no change of namespace)
//! and puts its root and working directory back. The `unshare-*` probes move the
//! runner itself into a new namespace for good, which is why the catalog runs them last.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::ctx::{Ctx, Verdict};
use crate::facts;
use crate::sys::{self, ChildEnd, Errno};

/// `CLONE_NEWUSER` and `CLONE_NEWNS` as the u64/long the raw calls take.
const NEWUSER: u64 = libc::CLONE_NEWUSER as u64;
const NEWNS: u64 = libc::CLONE_NEWNS as u64;

pub fn clone_newuser(_: &Ctx) -> Verdict {
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_long;
    let caller = sys::raw_gettid();
    // SAFETY: as sys::raw_clone_sigchld: without CLONE_VM the child runs on a private
    // copy of the stack, so a null stack is fine, and no flag asks the kernel to use the
    // null pointer arguments. The child exits at once below.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    let created = sys::cvt(ret).and_then(|ret| sys::created(ret, caller));
    if created == Ok(0) {
        sys::exit_now();
    }
    in_new_user_ns("clone(CLONE_NEWUSER)", created)
}

pub fn clone3_newuser(_: &Ctx) -> Verdict {
    let created = sys::raw_clone3(NEWUSER);
    if created == Ok(0) {
        sys::exit_now();
    }
    match created {
        // Docker's profile answers clone3 with ENOSYS so that libc falls back to clone.
        Err(e @ Errno(libc::ENOSYS)) => {
            facts::enosys(e, "clone3(CLONE_NEWUSER)", "clone3", "clone3 (Linux 5.3)")
        }
        other => in_new_user_ns("clone3(CLONE_NEWUSER)", other),
    }
}

/// The parent's side of a clone into a new user namespace: the child's existence is the
/// escape; it is reaped whatever became of it.
fn in_new_user_ns(call: &str, created: Result<libc::pid_t, Errno>) -> Verdict {
    let pid = match created {
        Ok(pid) => pid,
        Err(e) => return noted_userns_limit(Verdict::blocked(e, call), e),
    };
    let end = match sys::wait_child(pid) {
        Ok(ChildEnd::Exited(code)) => format!("exited {code}"),
        Ok(ChildEnd::Signaled(sig)) => format!("was killed by signal {sig}"),
        Err(e) => format!("could not be waited for ({e})"),
    };
    Verdict::escaped(format!(
        "{call} created child {pid} in a new user namespace; it {end}"
    ))
}

/// ENOSPC is the kernel's own limit on user namespaces, not the profile's.
fn noted_userns_limit(mut verdict: Verdict, errno: Errno) -> Verdict {
    if errno == Errno(libc::ENOSPC) {
        if let Some(max) = facts::sysctl("user/max_user_namespaces") {
            verdict.detail.push_str(&format!(
                "; user.max_user_namespaces={max}: the kernel's limit, not the profile"
            ));
        }
    }
    verdict
}

pub fn setns(_: &Ctx) -> Verdict {
    let ns = match open_dir_or_file(c"/proc/self/ns/mnt", libc::O_RDONLY) {
        Ok(fd) => fd,
        Err(e) => {
            return Verdict::not_applicable(
                Some(e),
                format!("cannot open /proc/self/ns/mnt to enter: {e}"),
            )
        }
    };
    // Entering a mount namespace resets the root and working directory to the
    // namespace's; these put them back afterwards.
    let saved = open_dir_or_file(c"/", libc::O_PATH | libc::O_DIRECTORY).and_then(|root| {
        open_dir_or_file(c".", libc::O_PATH | libc::O_DIRECTORY).map(|cwd| (root, cwd))
    });
    let (root, cwd) = match saved {
        Ok(pair) => pair,
        Err(e) => {
            return Verdict::error(
                Some(e),
                format!("cannot hold on to the root and working directory: {e}"),
            )
        }
    };
    // Entering resets the working directory to the namespace's root: from /dev, that is
    // a change a faked success (errnoRet 0) cannot make.
    let away = open_dir_or_file(c"/dev", libc::O_PATH | libc::O_DIRECTORY)
        // SAFETY: fchdir to a directory descriptor owned here.
        .is_ok_and(|dev| unsafe { libc::fchdir(dev.as_raw_fd()) } == 0);
    // SAFETY: `ns` is an open namespace descriptor owned here; CLONE_NEWNS asks for a
    // mount namespace, which it is.
    let entered = sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_setns,
            libc::c_long::from(ns.as_raw_fd()),
            NEWNS as libc::c_long,
        )
    });
    let reset = away.then(|| same_dir(".", "/"));
    if let Err(e) = entered {
        let _ = restore_root(&root, &cwd);
        return Verdict::blocked(e, "setns into its own mount namespace");
    }
    if reset == Some(Some(false)) {
        let restored = restore_root(&root, &cwd);
        return Verdict::blocked_as(
            crate::attempts::FAKE_SUCCESS.to_string(),
            format!(
                "setns(CLONE_NEWNS) returned success, but the working directory was not reset to the namespace's root: the filter made the success up{}",
                restored.map_or_else(|e| format!("; putting the working directory back failed: {e}"), |()| String::new())
            ),
        );
    }
    let moved = same_file_as_root(&root).map_or(String::new(), |same| {
        if same {
            String::new()
        } else {
            "; the namespace's root is not the container's root, so the container's root was a chroot that setns left".to_string()
        }
    });
    let restored = restore_root(&root, &cwd).map_or_else(
        |e| format!("; putting the root and working directory back failed: {e}"),
        |()| String::new(),
    );
    Verdict::escaped(format!(
        "setns(CLONE_NEWNS) into its own mount namespace succeeded{moved}{restored}"
    ))
}

/// Whether two paths name the same directory; `None` if either cannot be read.
fn same_dir(a: &str, b: &str) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (std::fs::metadata(a).ok()?, std::fs::metadata(b).ok()?);
    Some(a.dev() == b.dev() && a.ino() == b.ino())
}

/// Whether `/` (after setns) is the directory `root` (from before).
fn same_file_as_root(root: &OwnedFd) -> Option<bool> {
    let before = fstat(root.as_raw_fd())?;
    let now = std::fs::metadata("/").ok()?;
    use std::os::unix::fs::MetadataExt;
    Some(before.st_dev == now.dev() && before.st_ino == now.ino())
}

fn fstat(fd: libc::c_int) -> Option<libc::stat> {
    // SAFETY: an all-zero stat is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer; fstat on an O_PATH descriptor is allowed.
    let ret = sys::cvt(libc::c_long::from(unsafe { libc::fstat(fd, &raw mut st) }));
    ret.ok().map(|_| st)
}

fn restore_root(root: &OwnedFd, cwd: &OwnedFd) -> Result<(), Errno> {
    // SAFETY: descriptors owned by the caller; chroot takes a static C string. setns
    // needed CAP_SYS_CHROOT, so chroot is allowed wherever this runs.
    unsafe {
        sys::cvt(libc::c_long::from(libc::fchdir(root.as_raw_fd())))?;
        sys::cvt(libc::c_long::from(libc::chroot(c".".as_ptr())))?;
        sys::cvt(libc::c_long::from(libc::fchdir(cwd.as_raw_fd())))?;
    }
    Ok(())
}

fn open_dir_or_file(path: &std::ffi::CStr, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    // SAFETY: a NUL-terminated path; the descriptor returned is owned by the OwnedFd.
    let fd = sys::cvt(libc::c_long::from(unsafe {
        libc::open(path.as_ptr(), flags | libc::O_CLOEXEC)
    }))?;
    // SAFETY: `fd` was just opened here and is owned by nobody else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as libc::c_int) })
}

pub fn unshare_mount(_: &Ctx) -> Verdict {
    unshare(NEWNS, "unshare(CLONE_NEWNS)", "a private mount namespace")
}

pub fn unshare_user(_: &Ctx) -> Verdict {
    unshare(NEWUSER, "unshare(CLONE_NEWUSER)", "a new user namespace")
}

/// The namespace `/proc/self/ns/<kind>` names (`mnt:[4026531841]`); `None` without /proc.
fn namespace_of(kind: &str) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/ns/{kind}")).ok()
}

fn unshare(flags: u64, call: &str, what: &str) -> Verdict {
    let kind = if flags == NEWUSER { "user" } else { "mnt" };
    // A sandbox kernel's /proc/self/ns names do not follow its namespaces (gVisor's
    // keep one inode): there the call's word is all there is, and the harness says the
    // namespace was the sandbox's.
    let before = namespace_of(kind).filter(|_| crate::facts::sandbox().is_none());
    // SAFETY: unshare takes flags only. The runner is single-threaded, which
    // CLONE_NEWUSER requires; the change is for good, so these probes run last.
    match sys::cvt(unsafe { libc::syscall(libc::SYS_unshare, flags as libc::c_long) }) {
        // The kernel's word on it: /proc/self/ns names another namespace now.
        Ok(_) => match (before, namespace_of(kind)) {
            (Some(before), Some(after)) if before == after => Verdict::blocked_as(
                crate::attempts::FAKE_SUCCESS.to_string(),
                format!("{call} returned success, but /proc/self/ns/{kind} still names {}: the filter made the success up", before.display()),
            ),
            (Some(before), Some(after)) => Verdict::escaped(format!(
                "{call}: the runner is now in {what} ({} -> {})",
                before.display(),
                after.display()
            )),
            _ => match (crate::facts::sandbox(), crate::facts::seccomp_filtered()) {
                (Some(kernel), _) => {
                    Verdict::escaped(format!("{call}: the runner is now in {what} of {kernel}'s"))
                }
                (None, Some(false)) => Verdict::escaped(format!(
                    "{call}: the runner is now in {what} (no /proc/self/ns to confirm it, but no filter is installed to make a success up)"
                )),
                (None, _) => Verdict::indeterminate(
                    None,
                    format!("{call} returned success, and without /proc/self/ns nothing shows whether the namespace changed or a filter made the success up"),
                ),
            },
        },
        Err(e) => noted_userns_limit(Verdict::blocked(e, call), e),
    }
}
