//! `spawn.*` probes: create a process through each creation syscall; the child exits at
//! once and the parent reaps it.

use crate::runner::{Ctx, Impl, Verdict};
use crate::sys::{self, ChildEnd, Errno};

/// This module's catalog ids.
pub fn implementation(id: &str) -> Option<Impl> {
    Some(match id {
        "spawn.fork" => Impl::Once(fork),
        "spawn.vfork" => Impl::Once(vfork),
        "spawn.clone" => Impl::Once(clone),
        "spawn.clone3" => Impl::Once(clone3),
        _ => return None,
    })
}

pub fn fork(_: &Ctx) -> Verdict {
    let created = sys::raw_fork();
    if created == Ok(0) {
        sys::exit_now();
    }
    reap("fork", created)
}

pub fn vfork(_: &Ctx) -> Verdict {
    // The child exits inside the assembly; only the parent returns here.
    reap("vfork", sys::raw_vfork_child_exits())
}

pub fn clone(_: &Ctx) -> Verdict {
    let created = sys::raw_clone_sigchld();
    if created == Ok(0) {
        sys::exit_now();
    }
    reap("clone", created)
}

pub fn clone3(_: &Ctx) -> Verdict {
    let created = sys::raw_clone3_sigchld();
    if created == Ok(0) {
        sys::exit_now();
    }
    reap("clone3", created)
}

/// The parent's side: a child pid means the spawn got through, whatever became of the
/// child afterwards.
fn reap(syscall: &str, created: Result<libc::pid_t, Errno>) -> Verdict {
    let pid = match created {
        Ok(pid) => pid,
        Err(errno) => return Verdict::blocked(errno, syscall),
    };
    match sys::wait_child(pid) {
        Ok(ChildEnd::Exited(code)) => Verdict::escaped(format!("child {pid} exited {code}")),
        Ok(ChildEnd::Signaled(sig)) => Verdict::escaped(format!(
            "child {pid} was created, then killed by signal {sig}"
        )),
        Err(errno) => Verdict::escaped(format!(
            "child {pid} was created; waiting for it failed: {errno}"
        )),
    }
}
