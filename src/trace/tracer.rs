//! The ptrace side: starts the command as our tracee, follows every process and thread
//! it creates, records each seccomp stop and lets the call proceed, until the command's
//! own process has exited. Runs on a thread of its own, which is the tracer of them all
//! (ptrace belongs to a thread, not to the process).
//!
//! nix's wrappers are used where they fit: `traceme`, `setoptions`, `getevent` and
//! `getsiginfo`. Three are written here instead, each for a reason nix cannot meet:
//!
//! - waiting: nix's `waitpid` decodes the stop signal into its `Signal` enum, which has
//!   no real-time signals; a tracee stopped by one (`SIGRTMIN` is glibc's signal for
//!   `setxid`) would come back as `EINVAL` with its status consumed, and the tracee
//!   would stay stopped for good. The raw status is decoded here with libc's macros;
//! - resuming: nix's `cont` takes that same enum, so it could not re-inject a
//!   real-time signal either;
//! - `PTRACE_GET_SYSCALL_INFO`: nix 0.30's `syscall_info` passes no buffer size (the
//!   request's `addr`), so the kernel copies nothing and nix returns uninitialised
//!   memory (nix-rust/nix#2660). libc's `ptrace_syscall_info` is the struct; the call
//!   is made here with its size.

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};

use nix::errno::Errno;
use nix::sys::ptrace;
use nix::unistd::Pid;

use super::names::{entry_of, syscall_name};
use super::{CallSummary, TraceError, TracedCall, MAX_CALLS};

/// What the caller needs at once: a pidfd to kill the command by past its deadline
/// (it cannot name another process, even after the tracer has reaped ours), and its
/// output pipes.
pub(super) struct Started {
    pub pidfd: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// What following the command produced.
pub(super) struct Followed {
    pub exit: ExitStatus,
    pub calls: Vec<TracedCall>,
    pub calls_dropped: u64,
    pub summary: Vec<CallSummary>,
    pub exec_seen: bool,
    pub unread_stops: u64,
}

/// Seccomp stops, every process and thread created after the start followed, every
/// exec reported as an event (so no stray SIGTRAP), and every tracee killed when this
/// thread ends, so that nothing is left running, or stopped, past the trace.
fn options() -> ptrace::Options {
    use ptrace::Options as O;
    O::PTRACE_O_TRACESECCOMP
        | O::PTRACE_O_TRACEFORK
        | O::PTRACE_O_TRACEVFORK
        | O::PTRACE_O_TRACECLONE
        | O::PTRACE_O_TRACEEXEC
        | O::PTRACE_O_EXITKILL
}

/// Starts `cmd` as our tracee (stdin from /dev/null, stdout and stderr piped) and
/// follows it to its end. `started` gets the pidfd and pipes as soon as the command
/// runs, or the reason it did not start (and then there is nothing to follow: `None`).
pub(super) fn run(
    mut cmd: Command,
    started: std::sync::mpsc::SyncSender<Result<Started, TraceError>>,
) -> Option<Result<Followed, TraceError>> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec; it makes one ptrace(2)
    // call (async-signal-safe), allocates nothing and touches no lock. The child then
    // stops with SIGTRAP once its exec has succeeded, and waits for us there.
    unsafe {
        cmd.pre_exec(|| ptrace::traceme().map_err(std::io::Error::from));
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(source) => {
            let _ = started.send(Err(TraceError::Spawn { program, source }));
            return None;
        }
    };
    let root = Pid::from_raw(child.id() as i32);
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        unreachable!("stdout and stderr were piped");
    };
    let pidfd = match rustix::process::pidfd_open(
        rustix::process::Pid::from_child(&child),
        rustix::process::PidfdFlags::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            // Not waited for yet, so its pid still names it.
            let _ = child.kill();
            reap(root);
            let _ = started.send(Err(TraceError::Unsupported(format!("pidfd_open: {e}"))));
            return None;
        }
    };
    let start = match wait_for(root) {
        Ok(status) if stop_signal(status) == Some(libc::SIGTRAP) => {
            ptrace::setoptions(root, options()).map_err(|e| TraceError::Ptrace {
                request: "PTRACE_SETOPTIONS",
                pid: root.as_raw(),
                errno: e,
            })
        }
        Ok(status) => Err(TraceError::NotTraced(describe(status))),
        Err(e) => Err(TraceError::Wait(e)),
    };
    if let Err(err) = start {
        // Through the pidfd: the wait above may have reaped it already.
        let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
        reap(root);
        let _ = started.send(Err(err));
        return None;
    }
    let _ = started.send(Ok(Started {
        pidfd,
        stdout: stdout.into(),
        stderr: stderr.into(),
    }));
    let mut tracer = Tracer::new(root);
    resume(root, 0);
    Some(tracer.follow())
}

/// Reaps our child `pid`, killed before it could start anything (a single process
/// then), unless it is reaped already.
fn reap(pid: Pid) {
    while let Ok(status) = wait_for(pid) {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return;
        }
    }
}

/// Waits for `pid` alone.
fn wait_for(pid: Pid) -> Result<i32, Errno> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) writing into a local int.
        let got = unsafe { libc::waitpid(pid.as_raw(), &mut status, libc::__WALL) };
        match Errno::result(got) {
            Ok(_) => return Ok(status),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Waits for the next event of any of this thread's children and tracees, and of no
/// other thread's (`__WNOTHREAD`): other threads of the process keep their children.
fn wait_any() -> Result<(Pid, i32), Errno> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) writing into a local int.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::__WNOTHREAD) };
        match Errno::result(pid) {
            Ok(pid) => return Ok((Pid::from_raw(pid), status)),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// PTRACE_CONT with `signal` (0 for none). A tracee killed meanwhile (ESRCH) is not an
/// error: its exit is the next thing we hear of it.
fn resume(pid: Pid, signal: i32) {
    // SAFETY: ptrace(2) with integer arguments only; `data` is the signal number.
    unsafe {
        libc::ptrace(
            libc::PTRACE_CONT,
            pid.as_raw(),
            std::ptr::null_mut::<libc::c_void>(),
            signal as libc::c_long as *mut libc::c_void,
        );
    }
}

/// The signal of a plain (signal-delivery or group) stop; `None` for an exit or an
/// event stop.
fn stop_signal(status: i32) -> Option<i32> {
    (libc::WIFSTOPPED(status) && status >> 16 == 0).then(|| libc::WSTOPSIG(status))
}

fn describe(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("it exited with {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("it was killed by signal {}", libc::WTERMSIG(status))
    } else if libc::WIFSTOPPED(status) {
        format!(
            "it stopped with signal {} (event {})",
            libc::WSTOPSIG(status),
            status >> 16
        )
    } else {
        format!("wait status {status:#x}")
    }
}

/// The seccomp part of `PTRACE_GET_SYSCALL_INFO` at a seccomp stop.
pub(super) struct SeccompInfo {
    pub arch: u32,
    pub nr: u64,
    pub args: [u64; 6],
    pub ret_data: u32,
}

/// Bytes the kernel fills for a seccomp stop: up to and including `seccomp.ret_data`.
pub(super) const SECCOMP_INFO_SIZE: usize = 84;

/// `PTRACE_GET_SYSCALL_INFO` of a tracee in a seccomp stop.
pub(super) fn seccomp_info(pid: Pid) -> Result<SeccompInfo, Errno> {
    let mut info = std::mem::MaybeUninit::<libc::ptrace_syscall_info>::zeroed();
    let size = std::mem::size_of::<libc::ptrace_syscall_info>();
    // SAFETY: PTRACE_GET_SYSCALL_INFO writes at most `addr` bytes (the buffer's size)
    // to `data`, which points to a buffer of exactly that size that we own.
    let filled = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_SYSCALL_INFO,
            pid.as_raw(),
            size as *mut libc::c_void,
            info.as_mut_ptr().cast::<libc::c_void>(),
        )
    };
    let filled = Errno::result(filled)?;
    // SAFETY: the buffer was zeroed, and every field of the struct and its union is an
    // integer (or padding), for which zero is a valid value; the kernel wrote the rest.
    let info = unsafe { info.assume_init() };
    if info.op != libc::PTRACE_SYSCALL_INFO_SECCOMP || (filled as usize) < SECCOMP_INFO_SIZE {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `op` is PTRACE_SYSCALL_INFO_SECCOMP, so the kernel filled the union's
    // `seccomp` member (and, zeroed or written, every bit of it is an integer).
    let seccomp = unsafe { info.u.seccomp };
    Ok(SeccompInfo {
        arch: info.arch,
        nr: seccomp.nr,
        args: seccomp.args,
        ret_data: seccomp.ret_data,
    })
}

/// How many seccomp filters `pid` carries (`Seccomp_filters`, Linux 5.9), or for an
/// older kernel whether it carries any (`Seccomp: 2`). `/proc/PID/status` is readable
/// for every process, dumpable or not.
fn seccomp_filters(pid: Pid) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
    };
    field("Seccomp_filters:").or_else(|| field("Seccomp:").map(|mode| u64::from(mode == 2)))
}

struct Tracer {
    root: Pid,
    /// Seccomp filters our own command carries (any the harness runs under): a process
    /// with more carries the container's.
    baseline: u64,
    /// Tasks (threads) seen stopped at least once: a new one's first stop is the
    /// SIGSTOP of its auto-attach, not a signal to deliver.
    seen: HashSet<Pid>,
    exec_seen: bool,
    calls: Vec<TracedCall>,
    calls_dropped: u64,
    summary: Vec<CallSummary>,
    /// Index in `summary` by (audit arch, number).
    summary_index: HashMap<(u32, i32), usize>,
    names: HashMap<(u32, i32), Option<&'static str>>,
    unread_stops: u64,
}

impl Tracer {
    fn new(root: Pid) -> Tracer {
        Tracer {
            root,
            baseline: seccomp_filters(root).unwrap_or(0),
            seen: HashSet::from([root]),
            exec_seen: false,
            calls: Vec::new(),
            calls_dropped: 0,
            summary: Vec::new(),
            summary_index: HashMap::new(),
            names: HashMap::new(),
            unread_stops: 0,
        }
    }

    /// Handles stops until our command's own process has exited. Every stop ends in a
    /// PTRACE_CONT: nothing traced is ever left stopped.
    fn follow(&mut self) -> Result<Followed, TraceError> {
        let exit = loop {
            // ECHILD: our command is gone without our having reaped it, which only
            // another thread's wait for any child (without __WNOTHREAD) can do.
            let (pid, status) = wait_any().map_err(TraceError::Wait)?;
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                self.seen.remove(&pid);
                if pid == self.root {
                    break ExitStatus::from_raw(status);
                }
                continue;
            }
            if !libc::WIFSTOPPED(status) {
                continue;
            }
            let first_stop = self.seen.insert(pid);
            let signal = libc::WSTOPSIG(status);
            match status >> 16 {
                0 => resume(pid, self.signal_to_deliver(pid, signal, first_stop)),
                libc::PTRACE_EVENT_SECCOMP => {
                    self.record(pid);
                    resume(pid, 0);
                }
                libc::PTRACE_EVENT_EXEC => {
                    self.exec(pid);
                    resume(pid, 0);
                }
                // Fork, vfork and clone (the child is attached and will report its own
                // first stop), vfork-done, and the group-stop or interrupt of a seized
                // tracee: nothing to record, nothing to deliver.
                _ => resume(pid, 0),
            }
        };
        Ok(Followed {
            exit,
            calls: std::mem::take(&mut self.calls),
            calls_dropped: self.calls_dropped,
            summary: std::mem::take(&mut self.summary),
            exec_seen: self.exec_seen,
            unread_stops: self.unread_stops,
        })
    }

    /// The signal to resume a signal-delivery stop with: the one it stopped for (SIGURG
    /// of Go's preemption and every other), except the SIGSTOP of a new tracee's
    /// attach, and a group-stop, which has no signal to deliver. A tracee not seized
    /// (ours start with PTRACE_TRACEME) runs on when a group-stop is resumed: a stop
    /// signal does not stop a traced process, and nothing waits on a stopped one.
    fn signal_to_deliver(&self, pid: Pid, signal: i32, first_stop: bool) -> i32 {
        if first_stop && signal == libc::SIGSTOP {
            return 0;
        }
        let stop_signal = matches!(
            signal,
            libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
        );
        // A group-stop is told from the delivery of a stop signal by having no siginfo.
        if stop_signal && ptrace::getsiginfo(pid) == Err(Errno::EINVAL) {
            return 0;
        }
        signal
    }

    /// An exec: the container's program has started once a process carrying more
    /// filters than our command (the container's) has exec'd.
    fn exec(&mut self, pid: Pid) {
        // A thread other than the leader exec'd: it now has the leader's id, and its
        // own id is gone without an exit to tell of it.
        if let Ok(former) = ptrace::getevent(pid) {
            let former = Pid::from_raw(former as i32);
            if former != pid {
                self.seen.remove(&former);
            }
        }
        if !self.exec_seen && seccomp_filters(pid).is_some_and(|n| n > self.baseline) {
            self.exec_seen = true;
        }
    }

    fn record(&mut self, pid: Pid) {
        let Ok(info) = seccomp_info(pid) else {
            // Killed meanwhile, or a kernel without the request (before 5.3).
            self.unread_stops += 1;
            return;
        };
        // seccomp_data.nr is an int: a 32-bit entry's number is sign-extended to u64.
        let nr = info.nr as i32;
        let entry = entry_of(info.arch, nr);
        let name = *self
            .names
            .entry((info.arch, nr))
            .or_insert_with(|| entry.and_then(|e| syscall_name(e, nr)));
        let call = TracedCall {
            pid: pid.as_raw(),
            audit_arch: info.arch,
            entry,
            nr,
            name,
            args: info.args,
            ret_data: info.ret_data as u16,
            after_exec: self.exec_seen,
        };
        match self.summary_index.get(&(info.arch, nr)) {
            Some(&i) => self.summary[i].count(&call),
            None => {
                self.summary_index
                    .insert((info.arch, nr), self.summary.len());
                self.summary.push(CallSummary::first(&call));
            }
        }
        if self.calls.len() < MAX_CALLS {
            self.calls.push(call);
        } else {
            self.calls_dropped += 1;
        }
    }
}
