//! `spawn.*` probes: create a process through each creation syscall; the child exits at
//! once and the parent reaps it.

use std::time::Duration;

use crate::ctx::{Ctx, Verdict};
use crate::spawn_clone_vm::{self, ChildStack, ThreadEnd};
use crate::sys::{self, ChildEnd, Errno};
use crate::sys_i386;

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

/// How long `spawn.thread` waits for its thread to be gone.
const THREAD_DEADLINE: Duration = Duration::from_secs(5);

/// A real thread, made the way `pthread_create` makes one but with raw `clone`: std's
/// threads would go through glibc's clone3-then-clone fallback and test two syscalls.
pub fn thread(_: &Ctx) -> Verdict {
    const WHAT: &str = "clone(CLONE_VM|CLONE_THREAD|CLONE_SIGHAND|...)";
    let stack = match ChildStack::new() {
        Ok(stack) => stack,
        Err(errno) => {
            return Verdict::error(
                Some(errno),
                format!("cannot map a stack for the thread: {errno}"),
            )
        }
    };
    match spawn_clone_vm::spawn_thread(stack, THREAD_DEADLINE) {
        Ok(ThreadEnd::Exited { tid }) => {
            Verdict::escaped(format!("thread {tid} was created by {WHAT} and exited"))
        }
        Ok(ThreadEnd::StillRunning { tid }) => Verdict::escaped(format!(
            "thread {tid} was created by {WHAT}; it had not exited after {}s",
            THREAD_DEADLINE.as_secs()
        )),
        Err(errno) => Verdict::blocked(errno, WHAT),
    }
}

/// i386 system call numbers (`arch/x86/entry/syscalls/syscall_32.tbl`).
const I386_EXIT: u32 = 1;
const I386_FORK: u32 = 2;

/// fork through `int 0x80` (i386 nr 2): seccomp sees `AUDIT_ARCH_I386`, so a filter
/// judges it by its x86 rules, not its x86_64 ones (libseccomp kills it when the
/// profile lists no x86). The child has its own copy of memory and exits at once
/// through the same entry.
pub fn i386_fork(_: &Ctx) -> Verdict {
    if !sys_i386::i386_available() {
        return Verdict::not_applicable(None, "no i386 emulation in this kernel");
    }
    let caller = sys::raw_gettid();
    let created = sys_i386::int80(I386_FORK, [0; 5])
        .and_then(|ret| sys::created(libc::c_long::from(ret), caller).map(|pid| pid as u32));
    if created == Ok(0) {
        let _ = sys_i386::int80(I386_EXIT, [0; 5]);
        sys::exit_now();
    }
    let created = created.map(|pid| libc::pid_t::try_from(pid).unwrap_or(libc::pid_t::MAX));
    reap("fork through int 0x80", created)
}

/// `__X32_SYSCALL_BIT`: x32 calls are x86_64 numbers with bit 30 set.
const X32_BIT: libc::c_long = 0x4000_0000;

/// fork through the x32 ABI. An x32 `getpid` first tells a kernel without x32 (ENOSYS)
/// from a filter that covers the x32 numbers (its own errno, or SIGSYS).
pub fn x32(_: &Ctx) -> Verdict {
    // SAFETY: getpid takes no arguments and cannot fail; an unknown number only returns
    // an error.
    match sys::cvt(unsafe { libc::syscall(libc::SYS_getpid | X32_BIT) }) {
        Ok(_) => {}
        Err(errno @ Errno(libc::ENOSYS)) => {
            return Verdict::not_applicable(
                Some(errno),
                "no x32 ABI in this kernel (x32 getpid: ENOSYS)",
            )
        }
        Err(errno) => return Verdict::blocked(errno, "getpid through the x32 ABI"),
    }
    let caller = sys::raw_gettid();
    // SAFETY: fork takes no arguments. The runner has no other threads, so the child
    // gets a consistent copy of every lock; it exits at once below.
    let created = sys::cvt(unsafe { libc::syscall(libc::SYS_fork | X32_BIT) })
        .and_then(|ret| sys::created(ret, caller));
    if created == Ok(0) {
        sys::exit_now();
    }
    reap("fork through the x32 ABI", created)
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
