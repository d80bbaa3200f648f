//! Records the system calls a seccomp filter hands to a tracer: the OCI runtime's
//! `run` command is started as our ptrace tracee, and every call that the container's
//! profile answers with `SCMP_ACT_TRACE` stops, is recorded (entry, number, name,
//! arguments, rule data) and then goes on. Two later features stand on it: recording
//! what a workload calls, to write a profile for it (`SCMP_ACT_TRACE` as the default
//! action), and finding which call a profile stops (`SCMP_ACT_TRACE` in place of each
//! denying action).
//!
//! Why this way:
//!
//! - **The filter chooses the stops.** The tracees run with `PTRACE_CONT`, never
//!   `PTRACE_SYSCALL`, so the only system-call stops are the filter's `SECCOMP_RET_TRACE`
//!   events: only processes that carry the filter stop (the runtime's init once it has
//!   loaded it, then the container's processes), and only for the calls the profile
//!   sends. The runtime's own work and every allowed call run at full speed. An
//!   strace of the runtime would stop twice at every call of every process instead, and
//!   could not tell which calls the filter decided.
//! - **No other action does the job.** `SCMP_ACT_LOG` goes to the audit log (rate
//!   limited, no arguments, not tied to a run); `SCMP_ACT_NOTIFY` needs a listener the
//!   runtime hands the descriptor to (runc 1.1.5 wants a `listenerPath`, runsc refuses
//!   it). `SCMP_ACT_TRACE` is plain kernel behaviour under runc and crun alike. Without
//!   a tracer the kernel fails a traced call with `ENOSYS`, so the stops are what lets
//!   the container work, and a missing tracer shows at once.
//! - **Traced from birth.** The runtime is our tracee before its first instruction
//!   (`PTRACE_TRACEME` in the child: std's `spawn` returns only after the exec, so the
//!   child could not wait to be seized), and `PTRACE_O_TRACEFORK`, `TRACEVFORK` and
//!   `TRACECLONE` attach each process and thread it creates as it is created: there is
//!   no window in which a container process runs untraced. `PTRACE_O_EXITKILL` kills
//!   whatever is still traced when the tracer thread ends, so nothing is left running
//!   under a filter whose tracer is gone.
//!
//! What a trace says:
//!
//! - each call's `after_exec` tells the container's program from the runtime: it is
//!   set once a process carrying more seccomp filters than the runtime we started (so,
//!   the container's) has exec'd. Counting execs per process would not do: runc's own
//!   init is an exec (`runc init`), made before any filter is loaded;
//! - a traced call goes on exactly as if the rule allowed it: the trace shows what the
//!   workload does with the call allowed, not what it would do with it denied.
//!
//! Limits: the command must run the container in the foreground (`run`, not `run -d`
//! or `create`): the trace ends when the command's own process exits, and processes
//! still traced then are killed. Past the deadline the command is killed (through a
//! pidfd, so by no other pid than its own) and the rest go with the tracer. A stop
//! signal does not stop a traced process (a tracee attached with `PTRACE_TRACEME` runs
//! on when its group-stop is resumed), so that nothing waits on a stopped tracee.
//! It is for runtimes whose profile becomes a host kernel filter (runc, crun); runsc
//! is not covered: with `--oci-seccomp` gVisor applies the profile in its own kernel,
//! where a host tracer is not what its TRACE rules meet (untried). A process that clones itself a
//! child with `CLONE_UNTRACED` leaves the trace: that child's traced calls fail with
//! ENOSYS, as without a tracer, and are not recorded. No other thread of the process
//! may wait for "any child" without `__WNOTHREAD`, or it could take the tracees' stops;
//! nothing in breakout does.

mod names;
mod output;
mod tracer;

#[cfg(test)]
mod tests;

use std::os::fd::AsFd;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

pub use breakout_wire::routes::Entry;
pub use names::{entry_of, syscall_name};
pub use output::{Tail, TAIL_BYTES};

use output::{pump, Pipe};

/// Calls kept in [`Traced::calls`]; later ones are counted in
/// [`Traced::calls_dropped`] (the [`Traced::summary`] still counts every one). A
/// workload decides how many calls it makes, so the record is bounded: about 20 MiB.
pub const MAX_CALLS: usize = 200_000;

/// How long the command may take to go once killed at its deadline.
const KILL_PATIENCE: Duration = Duration::from_secs(5);

/// How long after the trace ends the output pipes are still read: what the command's
/// processes wrote before they ended is in the pipes by then, and what is left traced
/// is being killed.
const ORPHAN_GRACE: Duration = Duration::from_millis(300);

/// One system call a filter sent to the tracer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracedCall {
    /// The task (thread) that made it, as the host sees it.
    pub pid: i32,
    /// `seccomp_data.arch`: the `AUDIT_ARCH_*` of the entry the call came through.
    pub audit_arch: u32,
    /// The entry (x86_64, i386, x32); `None` for an architecture this harness does not
    /// know.
    pub entry: Option<Entry>,
    /// `seccomp_data.nr`, as the filter saw it: x32 numbers carry their bit.
    pub nr: i32,
    /// The name on that entry, as profiles spell it; `None` for a number unknown to
    /// libseccomp and to this module's table of newer calls.
    pub name: Option<&'static str>,
    pub args: [u64; 6],
    /// `SECCOMP_RET_DATA` of the rule that traced the call: under runc the rule's
    /// `errnoRet` (EPERM without one), so a profile can say which rule it was.
    pub ret_data: u16,
    /// Made once the container's program had started (see the module's notes).
    pub after_exec: bool,
}

/// Every call of one number on one entry, in the order first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSummary {
    pub audit_arch: u32,
    pub entry: Option<Entry>,
    pub nr: i32,
    pub name: Option<&'static str>,
    /// The arguments and task of its first call.
    pub first_args: [u64; 6],
    pub first_pid: i32,
    /// Calls made before the container's program started (the runtime's) and after.
    pub before_exec: u64,
    pub after_exec: u64,
}

impl CallSummary {
    fn first(call: &TracedCall) -> CallSummary {
        let mut summary = CallSummary {
            audit_arch: call.audit_arch,
            entry: call.entry,
            nr: call.nr,
            name: call.name,
            first_args: call.args,
            first_pid: call.pid,
            before_exec: 0,
            after_exec: 0,
        };
        summary.count(call);
        summary
    }

    fn count(&mut self, call: &TracedCall) {
        if call.after_exec {
            self.after_exec += 1;
        } else {
            self.before_exec += 1;
        }
    }

    /// `name` on `entry` (`open@i386`), or the number where the name is unknown.
    pub fn label(&self) -> String {
        let entry = self.entry.map_or("unknown-arch", Entry::as_str);
        match self.name {
            Some(name) => format!("{name}@{entry}"),
            None => format!("#{}@{entry}", self.nr),
        }
    }
}

/// What a traced run produced.
#[derive(Debug)]
pub struct Traced {
    /// How the command's own process ended.
    pub exit: ExitStatus,
    /// The deadline passed and the command was killed.
    pub timed_out: bool,
    /// The calls in the order they stopped, the first [`MAX_CALLS`].
    pub calls: Vec<TracedCall>,
    pub calls_dropped: u64,
    /// One entry per distinct (entry, number), every call counted.
    pub summary: Vec<CallSummary>,
    /// A process carrying the container's filter exec'd: the container's program
    /// started (under the filter, which is also what `after_exec` marks).
    pub exec_seen: bool,
    /// Seccomp stops whose call could not be read (the task was killed meanwhile).
    pub unread_stops: u64,
    /// The end of the command's stdout and stderr.
    pub stdout: Tail,
    pub stderr: Tail,
}

impl Traced {
    /// The summary of `name` on `entry`, if it was traced.
    pub fn find(&self, entry: Entry, name: &str) -> Option<&CallSummary> {
        self.summary
            .iter()
            .find(|s| s.entry == Some(entry) && s.name == Some(name))
    }

    /// The distinct calls the container's program made (after its exec), in the order
    /// first seen: what a profile for the workload has to allow.
    pub fn workload(&self) -> impl Iterator<Item = &CallSummary> {
        self.summary.iter().filter(|s| s.after_exec > 0)
    }

    /// The distinct calls made under the filter before the container's program started:
    /// the runtime's own, which a profile must allow for the container to start.
    pub fn runtime(&self) -> impl Iterator<Item = &CallSummary> {
        self.summary.iter().filter(|s| s.before_exec > 0)
    }
}

/// Why a traced run could not be made. Messages read after "failed to".
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(
        "start {program}: {source}{}",
        crate::hint::suffix(crate::hint::io_here(source, crate::hint::Doing::Trace))
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("start the tracer thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("trace the command ({request} on pid {pid}): {errno}{}", crate::hint::suffix(crate::hint::errno(*errno as i32, crate::hint::Doing::Trace, true)))]
    Ptrace {
        request: &'static str,
        pid: i32,
        errno: nix::errno::Errno,
    },
    #[error("trace the command: {0} before its first stop")]
    NotTraced(String),
    #[error("wait for the traced processes: {0}")]
    Wait(nix::errno::Errno),
    #[error("trace system calls on this kernel: {0}")]
    Unsupported(String),
    #[error("end the traced command: it was still there {seconds}s after it was killed")]
    Stuck { seconds: u64 },
}

/// Runs `cmd` (an OCI runtime's `run ... ID`, in the foreground) as a ptrace tracee
/// with every process it creates, recording each call that a seccomp filter sends to
/// the tracer and letting it proceed, until the command's own process exits, or until
/// `deadline` passes and it is killed.
///
/// The command's stdin is /dev/null; its stdout and stderr are read here, the last
/// [`TAIL_BYTES`] of each kept. The tracing runs on a thread of its own, which must be
/// the tracees' tracer (and their parent) for the whole run; this thread reads the
/// output and keeps the deadline.
pub fn run_traced(cmd: Command, deadline: Duration) -> Result<Traced, TraceError> {
    let due = Instant::now() + deadline;
    // The tracer thread holds the write end: the read end hangs up when it is done.
    let (done, done_writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| TraceError::Thread(e.into()))?;
    let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
    let tracer = std::thread::Builder::new()
        .name("breakout-tracer".into())
        .spawn(move || {
            let _done = done_writer;
            tracer::run(cmd, started_tx)
        })
        .map_err(TraceError::Thread)?;
    let started = match started_rx.recv() {
        Ok(Ok(started)) => started,
        Ok(Err(err)) => {
            let _ = tracer.join();
            return Err(err);
        }
        Err(_) => {
            let _ = tracer.join();
            return Err(TraceError::Thread(std::io::Error::other(
                "the tracer thread ended before starting the command",
            )));
        }
    };
    let mut stdout = Pipe::new(started.stdout);
    let mut stderr = Pipe::new(started.stderr);
    let mut timed_out = false;
    let mut until = due;
    while !pump(&mut [&mut stdout, &mut stderr], Some(done.as_fd()), until) {
        if timed_out {
            // Left to end on its own: a process stuck in the kernel outlives SIGKILL.
            return Err(TraceError::Stuck {
                seconds: KILL_PATIENCE.as_secs(),
            });
        }
        timed_out = true;
        let _ = rustix::process::pidfd_send_signal(&started.pidfd, rustix::process::Signal::KILL);
        until = Instant::now() + KILL_PATIENCE;
    }
    pump(
        &mut [&mut stdout, &mut stderr],
        None,
        Instant::now() + ORPHAN_GRACE,
    );
    stdout.tail.trim();
    stderr.tail.trim();
    let followed = match tracer.join() {
        Ok(Some(followed)) => followed?,
        Ok(None) | Err(_) => {
            return Err(TraceError::Thread(std::io::Error::other(
                "the tracer thread failed",
            )))
        }
    };
    Ok(Traced {
        exit: followed.exit,
        timed_out,
        calls: followed.calls,
        calls_dropped: followed.calls_dropped,
        summary: followed.summary,
        exec_seen: followed.exec_seen,
        unread_stops: followed.unread_stops,
        stdout: stdout.tail,
        stderr: stderr.tail,
    })
}
