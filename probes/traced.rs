//! Past `SCMP_ACT_TRACE`. A trace rule answers ENOSYS while no tracer is attached, which
//! reads like a block. It is not one for a process that may ptrace: it can trace a child
//! of its own, and when the tracer continues the child at the seccomp stop, the kernel
//! checks the filter again and a trace rule then lets the call run (Linux 4.8 and
//! later). So a step blocked with ENOSYS is tried again in a traced child; an escape
//! there is the step's verdict, printed by the child (or by the payload it started,
//! which reports once and exits).
//!
//! Steps that hand the process to a program of the image are not retried: a handoff in
//! a child would leave the image's program running beside the suite.

use std::time::{Duration, Instant};

use breakout_wire::catalog;
use breakout_wire::protocol::{split_step, ProbeOutcome};

use crate::ctx::{Ctx, Verdict};
use crate::payload;
use crate::sys::{self, Errno};

/// How long the traced child may take: long enough for an exec and its payload.
const DEADLINE: Duration = Duration::from_secs(20);
/// The child's exit codes besides 0 (it escaped and printed the verdict).
const STILL_BLOCKED: i32 = 1;
const NOT_TRACEABLE: i32 = 2;

/// The step's verdict, tried again under a tracer when `first` is an ENOSYS block.
pub fn past_trace(
    ctx: &Ctx,
    step: &str,
    first: Verdict,
    run: fn(&Ctx, &str) -> Verdict,
) -> Verdict {
    let enosys =
        first.outcome == ProbeOutcome::Blocked && first.mechanism.as_deref() == Some("ENOSYS");
    let hands_off = catalog::find(split_step(step).0).is_some_and(|p| p.hands_off);
    if !enosys || hands_off {
        return first;
    }
    ctx.out.flush();
    let pid = match sys::raw_fork().or_else(|_| sys::raw_clone_sigchld()) {
        Ok(0) => traced_child(ctx, step, run),
        Ok(pid) => pid,
        Err(errno) => {
            return noted(
                first,
                &format!("no child to try it under a tracer ({errno})"),
            )
        }
    };
    match trace(pid) {
        Ok(Traced { code: 0, .. }) => Verdict::already_reported("escaped past SCMP_ACT_TRACE"),
        Ok(Traced {
            code: NOT_TRACEABLE,
            ..
        }) => noted(
            first,
            "not tried under a tracer: PTRACE_TRACEME was refused",
        ),
        Ok(Traced { stops, .. }) => noted(
            first,
            &format!(
                "tried again under a tracer that continued {stops} seccomp stop(s): still blocked"
            ),
        ),
        Err(why) => noted(first, &format!("tried again under a tracer: {why}")),
    }
}

fn noted(mut verdict: Verdict, note: &str) -> Verdict {
    verdict.detail.push_str("; ");
    verdict.detail.push_str(note);
    verdict
}

/// The child: asks to be traced, stops until the tracer is ready, runs the step and
/// prints its verdict only if it escaped.
fn traced_child(ctx: &Ctx, step: &str, run: fn(&Ctx, &str) -> Verdict) -> ! {
    // SAFETY: PTRACE_TRACEME takes no pointers; kill/getpid take integers.
    let traced = unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) } == 0;
    if !traced {
        sys::exit_now_with(NOT_TRACEABLE);
    }
    // SAFETY: stopping ourselves until the tracer has set its options.
    unsafe { libc::kill(libc::getpid(), libc::SIGSTOP) };
    payload::report_once();
    let mut verdict = run(ctx, step);
    if verdict.outcome != ProbeOutcome::Escaped {
        sys::exit_now_with(STILL_BLOCKED);
    }
    verdict
        .detail
        .push_str("; in a child whose tracer continued it past SCMP_ACT_TRACE");
    ctx.emit_verdict(step, verdict);
    ctx.out.flush();
    sys::exit_now_with(0)
}

struct Traced {
    code: i32,
    stops: u32,
}

/// Traces `pid` to its end: every seccomp stop and the post-exec trap are continued,
/// other signals are passed on. The child is killed at the deadline.
fn trace(pid: libc::pid_t) -> Result<Traced, String> {
    let deadline = Instant::now() + DEADLINE;
    let mut stops = 0;
    let mut ready = false;
    loop {
        let status = match wait_some(pid, deadline) {
            Ok(Some(status)) => status,
            Ok(None) => {
                // SAFETY: our own child, killed and reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = sys::wait_child(pid);
                return Err(format!(
                    "the traced child ran past {} s and was killed",
                    DEADLINE.as_secs()
                ));
            }
            Err(errno) => return Err(format!("waiting for the traced child failed: {errno}")),
        };
        if libc::WIFEXITED(status) {
            return Ok(Traced {
                code: libc::WEXITSTATUS(status),
                stops,
            });
        }
        if libc::WIFSIGNALED(status) {
            return Ok(Traced {
                code: 128 + libc::WTERMSIG(status),
                stops,
            });
        }
        let sig = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        let pass = if !ready {
            ready = true;
            let options = libc::PTRACE_O_TRACESECCOMP | libc::PTRACE_O_EXITKILL;
            // SAFETY: options for our own stopped tracee; no pointers.
            let set = unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options) };
            if set != 0 {
                let errno = Errno::last();
                // SAFETY: our own child, killed and reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = sys::wait_child(pid);
                return Err(format!("PTRACE_SETOPTIONS failed: {errno}"));
            }
            0
        } else if event == libc::PTRACE_EVENT_SECCOMP {
            stops += 1;
            0
        } else if sig == libc::SIGTRAP {
            0
        } else {
            sig
        };
        // SAFETY: continue our own stopped tracee, passing on `pass` (0: none).
        unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, pass) };
    }
}

/// One status change of `pid`, polled until `deadline` (`None` when it passed).
fn wait_some(pid: libc::pid_t, deadline: Instant) -> Result<Option<libc::c_int>, Errno> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid out-pointer for the call.
        let ret = unsafe { libc::waitpid(pid, &raw mut status, libc::__WALL | libc::WNOHANG) };
        match ret {
            -1 if Errno::last() == Errno(libc::EINTR) => {}
            -1 => return Err(Errno::last()),
            0 if Instant::now() >= deadline => return Ok(None),
            0 => std::thread::sleep(Duration::from_millis(5)),
            _ => return Ok(Some(status)),
        }
    }
}
