//! `kernel.ptrace`: attaching to a process, shown on a paused child of the probe's own,
//! which it then detaches, kills and reaps.

use crate::ctx::{Ctx, Verdict};
use crate::sys::{self, ChildEnd, Errno};

pub fn ptrace(_: &Ctx) -> Verdict {
    let child = match spawn_waiting_child() {
        Ok(pid) => pid,
        Err((e, why)) => {
            return Verdict::not_applicable(
                Some(e),
                format!("cannot create a child to attach to: {why}"),
            )
        }
    };
    let attach = ptrace_call(libc::PTRACE_ATTACH, child);
    let mut reaped = false;
    let verdict = match attach {
        // A filter can fake the attach's success (errnoRet 0): the kernel then names no
        // tracer for the child.
        Ok(()) if tracer_of(child).is_some_and(|t| t != std::process::id()) => Verdict::blocked_as(
            crate::attempts::FAKE_SUCCESS.to_string(),
            format!("PTRACE_ATTACH to child {child} returned success, but the child has no tracer"),
        ),
        Ok(()) => {
            let how = match wait_stopped(child) {
                Ok(Some(sig)) => match ptrace_call(libc::PTRACE_DETACH, child) {
                    Ok(()) => format!("it stopped with signal {sig}; detached"),
                    Err(e) => format!("it stopped with signal {sig}; detaching failed: {e}"),
                },
                Ok(None) => {
                    reaped = true;
                    "it ended before it stopped".to_string()
                }
                Err(e) => format!("waiting for it to stop failed: {e}"),
            };
            Verdict::escaped(format!("PTRACE_ATTACH to child {child} succeeded; {how}"))
        }
        // The child died before the attach: nothing was tested.
        Err(e @ Errno(libc::ESRCH)) => Verdict::error(
            Some(e),
            format!("child {child} vanished before PTRACE_ATTACH"),
        ),
        Err(e) => Verdict::blocked(e, "PTRACE_ATTACH to a child of its own"),
    };
    if !reaped {
        kill_and_reap(child);
    }
    verdict
}

/// The child's tracer by the kernel's word (`TracerPid` in /proc), where /proc shows it.
fn tracer_of(pid: libc::pid_t) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Forks a child that waits to be killed: it dies with the runner (PDEATHSIG) if the
/// runner goes first. Tries fork, then clone; the error says why neither worked.
fn spawn_waiting_child() -> Result<libc::pid_t, (Errno, String)> {
    let parent = std::process::id() as libc::pid_t;
    let created = match sys::raw_fork() {
        Ok(pid) => Ok(pid),
        Err(fork_err) => sys::raw_clone_sigchld()
            .map_err(|clone_err| (clone_err, format!("fork: {fork_err}; clone: {clone_err}"))),
    }?;
    if created == 0 {
        wait_to_be_killed(parent);
    }
    Ok(created)
}

/// The child's side: raw system calls only (it is a copy of the runner without its
/// other state), and it never returns.
fn wait_to_be_killed(parent: libc::pid_t) -> ! {
    // Nothing here may depend on a call a profile can deny: a getppid that fails (or
    // answers 0, a faked success) says nothing, and the child stays to be attached to.
    // SAFETY: prctl and getppid take integers only.
    let orphaned = unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::c_long::from(libc::PR_SET_PDEATHSIG),
            libc::c_long::from(libc::SIGKILL),
        );
        let ppid = libc::syscall(libc::SYS_getppid);
        ppid > 0 && ppid != libc::c_long::from(parent)
    };
    if orphaned {
        sys::exit_now();
    }
    let pause = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: `pause` is a valid timespec; the remaining-time pointer may be NULL.
        // If a filter refuses nanosleep the loop spins until the parent's SIGKILL.
        unsafe {
            libc::syscall(
                libc::SYS_nanosleep,
                &raw const pause,
                std::ptr::null_mut::<libc::timespec>(),
            );
        }
    }
}

fn ptrace_call(request: libc::c_uint, pid: libc::pid_t) -> Result<(), Errno> {
    // SAFETY: ATTACH and DETACH read no memory: addr is ignored and data is the signal
    // to deliver on detach (0, none).
    sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_ptrace,
            libc::c_long::from(request),
            libc::c_long::from(pid),
            0 as libc::c_long,
            0 as libc::c_long,
        )
    })
    .map(drop)
}

/// Waits for the traced child's attach stop: `Some(signal)` once it stopped, `None` if
/// it ended instead (and is reaped).
fn wait_stopped(pid: libc::pid_t) -> Result<Option<i32>, Errno> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid out-pointer for the duration of the call.
        let ret = sys::cvt(libc::c_long::from(unsafe {
            libc::waitpid(pid, &raw mut status, libc::__WALL)
        }));
        match ret {
            Ok(_) if libc::WIFSTOPPED(status) => return Ok(Some(libc::WSTOPSIG(status))),
            Ok(_) => return Ok(None),
            Err(Errno(libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
    }
}

/// SIGKILL and reap; a child that already ended is reaped all the same.
fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: kill with our own child's pid and a valid signal.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    // Nothing is left to do if waiting fails: the child is ours and was killed.
    let _: Result<ChildEnd, Errno> = sys::wait_child(pid);
}
