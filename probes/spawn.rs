//! `spawn.*` probes: create a process through each creation syscall. The child proves
//! it exists by printing the step's verdict line itself, with the container's nonce,
//! which the harness takes as witnessed (a filter that fakes the call's success makes
//! no child, and the runner never prints the nonce for these steps); it exits at once
//! and the parent reaps it. A child that could not print leaves the verdict to the
//! parent, which saw its pid and its end: an escape on the probe's word.

use std::time::Duration;

use crate::ctx::{Ctx, Verdict};
use crate::spawn_clone_vm::{self, ChildStack, ThreadEnd};
use crate::sys::{self, ChildEnd, Errno};
use crate::sys_i386;

/// A child's exit status when its line did not get out whole.
const NOT_PRINTED: i32 = 1;

/// The line a child of `step`, made by `call`, prints: escaped, with the nonce.
fn child_line(ctx: &Ctx, step: &str, call: &str) -> Vec<u8> {
    let mut verdict = Verdict::escaped(format!(
        "a child made by {call} printed this line with the container's nonce"
    ));
    verdict.nonce = Some(ctx.inv.nonce.clone());
    Ctx::verdict_line(step, verdict)
}

/// In a forked child (a copy of the runner's memory): prints the line, exits.
fn child_prints(line: &[u8]) -> ! {
    if sys::raw_write_all(libc::STDOUT_FILENO, line) {
        sys::exit_now_with(0)
    }
    sys::exit_now_with(NOT_PRINTED)
}

/// Creates a child with `create` (which answers as fork does) that prints its line.
fn forked(
    ctx: &Ctx,
    step: &str,
    call: &str,
    create: fn() -> Result<libc::pid_t, Errno>,
) -> Verdict {
    let line = child_line(ctx, step, call);
    ctx.out.flush();
    let created = create();
    if created == Ok(0) {
        child_prints(&line);
    }
    reap(call, created)
}

pub fn fork(ctx: &Ctx) -> Verdict {
    forked(ctx, "spawn.fork", "fork", sys::raw_fork)
}

pub fn vfork(ctx: &Ctx) -> Verdict {
    let line = child_line(ctx, "spawn.vfork", "vfork");
    ctx.out.flush();
    // The child prints and exits inside the assembly; only the parent returns here.
    reap("vfork", sys::raw_vfork_child_prints(&line))
}

pub fn clone(ctx: &Ctx) -> Verdict {
    forked(ctx, "spawn.clone", "clone", sys::raw_clone_sigchld)
}

pub fn clone3(ctx: &Ctx) -> Verdict {
    forked(ctx, "spawn.clone3", "clone3", sys::raw_clone3_sigchld)
}

/// How long `spawn.thread` waits for its thread to be gone.
const THREAD_DEADLINE: Duration = Duration::from_secs(5);

/// A real thread, made the way `pthread_create` makes one but with raw `clone`: std's
/// threads would go through glibc's clone3-then-clone fallback and test two syscalls.
pub fn thread(ctx: &Ctx) -> Verdict {
    const WHAT: &str = "clone(CLONE_VM|CLONE_THREAD|CLONE_SIGHAND|...)";
    let line = child_line(ctx, "spawn.thread", WHAT);
    let stack = match ChildStack::new() {
        Ok(stack) => stack,
        Err(errno) => {
            return Verdict::error(
                Some(errno),
                format!("cannot map a stack for the thread: {errno}"),
            )
        }
    };
    ctx.out.flush();
    match spawn_clone_vm::spawn_thread(stack, &line, THREAD_DEADLINE) {
        Ok(ThreadEnd::Exited { printed: true, tid }) => {
            Verdict::already_reported(format!("thread {tid} printed its line and exited"))
        }
        Ok(ThreadEnd::Exited { tid, .. }) => Verdict::escaped(format!(
            "thread {tid} was created by {WHAT} and exited; it could not print its line"
        )),
        Ok(ThreadEnd::StillRunning { tid, printed }) => {
            // The thread may still read its line: it must outlive it.
            std::mem::forget(line);
            if printed {
                return Verdict::already_reported(format!("thread {tid} printed its line"));
            }
            Verdict::escaped(format!(
                "thread {tid} was created by {WHAT}; it had neither printed its line nor exited after {}s",
                THREAD_DEADLINE.as_secs()
            ))
        }
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
pub fn i386_fork(ctx: &Ctx) -> Verdict {
    const WHAT: &str = "fork through int 0x80";
    if !sys_i386::i386_available() {
        return Verdict::not_applicable(None, "no i386 emulation in this kernel");
    }
    let line = child_line(ctx, "spawn.i386-fork", WHAT);
    ctx.out.flush();
    let caller = sys::raw_gettid();
    let created = sys_i386::int80(I386_FORK, [0; 5])
        .and_then(|ret| sys::created(libc::c_long::from(ret), caller).map(|pid| pid as u32));
    if created == Ok(0) {
        // Out through the same entry when it can (exit's status is the line's).
        let status = if sys::raw_write_all(libc::STDOUT_FILENO, &line) {
            0
        } else {
            NOT_PRINTED
        };
        let _ = sys_i386::int80(I386_EXIT, [status.unsigned_abs(), 0, 0, 0, 0]);
        sys::exit_now_with(status);
    }
    let created = created.map(|pid| libc::pid_t::try_from(pid).unwrap_or(libc::pid_t::MAX));
    reap(WHAT, created)
}

/// `__X32_SYSCALL_BIT`: x32 calls are x86_64 numbers with bit 30 set.
const X32_BIT: libc::c_long = 0x4000_0000;

/// fork through the x32 ABI. An x32 `getpid` first tells a kernel without x32 (ENOSYS)
/// from a filter that covers the x32 numbers (its own errno, or SIGSYS).
pub fn x32(ctx: &Ctx) -> Verdict {
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
    forked(ctx, "spawn.x32", "fork through the x32 ABI", x32_fork)
}

/// fork (x86_64 nr 57) with the x32 bit set.
fn x32_fork() -> Result<libc::pid_t, Errno> {
    let caller = sys::raw_gettid();
    // SAFETY: fork takes no arguments. The runner has no other threads, so the child
    // gets a consistent copy of every lock; it prints and exits at once.
    sys::cvt(unsafe { libc::syscall(libc::SYS_fork | X32_BIT) })
        .and_then(|ret| sys::created(ret, caller))
}

/// The parent's side: a child pid means the spawn got through, whatever became of the
/// child afterwards; a child that exited 0 printed the step's verdict itself.
fn reap(syscall: &str, created: Result<libc::pid_t, Errno>) -> Verdict {
    let pid = match created {
        Ok(pid) => pid,
        Err(errno) => return Verdict::blocked(errno, syscall),
    };
    match sys::wait_child(pid) {
        Ok(ChildEnd::Exited(0)) => {
            Verdict::already_reported(format!("child {pid} printed its line and exited"))
        }
        Ok(ChildEnd::Exited(code)) => Verdict::escaped(format!(
            "child {pid} was created and exited {code} without printing its line"
        )),
        Ok(ChildEnd::Signaled(sig)) => Verdict::escaped(format!(
            "child {pid} was created, then killed by signal {sig}"
        )),
        Err(errno) => Verdict::escaped(format!(
            "child {pid} was created; waiting for it failed: {errno}"
        )),
    }
}
