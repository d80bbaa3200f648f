//! Whether a container can start at all under a resolved profile, and under which
//! runtimes, judged from the filter alone without starting anything.
//!
//! Two runtime facts decide it (the quirks table holds them per runtime):
//!
//! * runc, crun and youki install the filter before they `execve` the container's
//!   process, so the filter must allow `execve`;
//! * runsc-oci (runsc `--oci-seccomp`) applies it to the container's process after its
//!   own start, so only that process's needs count; runsc without `--oci-seccomp`
//!   ignores the profile, and nothing here concerns it.
//!
//! The container's first process is breakout's probe, a static glibc Rust binary with
//! an entry point of its own (std's start would add `poll`, `rt_sigaction`,
//! `sigaltstack` and `mmap`, and abort when one fails; see `probes/main.rs`). What it
//! needs was measured on x86_64 with strace's fault injection
//! (`strace -f -e inject=SYSCALL:error=EPERM breakout-probe run --nonce n --probes
//! spawn.fork`) for every syscall it makes up to its first `write`: see
//! [`PROCESS_NEEDS`]. A dynamic glibc program (`/bin/echo`) and busybox-static died on
//! the same failures of `arch_prctl`, `mprotect` and `write`. Real filters (libseccomp
//! 2.5.4) agreed: allowing `execve` and the needs marked `OnError` under an errno
//! default, or all of them under `SCMP_ACT_KILL_PROCESS`, the probe started and
//! reported; leaving out any one of them, it did not.
//!
//! `exit_group` is not a need: it comes after the start, glibc falls back to `exit`
//! when it fails, and a kill there ends a process that has done its work. The
//! profile check warns about it instead.
//!
//! A syscall's fate is judged for every call at once, erring towards "allowed" so that
//! a start is never called impossible unless it is:
//!
//! * `SCMP_ACT_ALLOW` and `SCMP_ACT_LOG` allow; `SCMP_ACT_NOTIFY` leaves the answer to
//!   a supervisor and counts as allowing; `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` (with
//!   no tracer attached the call fails with ENOSYS) make the call fail; the kill
//!   actions and `SCMP_ACT_TRAP` (SIGSYS, which nothing handles at start) kill.
//! * Under an allowing default, a syscall is denied only when a rule *without*
//!   argument conditions names it with a denying action; a conditional one denies
//!   only some calls.
//! * Under a denying default, a syscall is denied unless some rule with an allowing
//!   action names it, with argument conditions or not (a conditional allow may allow
//!   the call the start makes).
//! * Where rules disagree, the least severe outcome is taken. libseccomp is stricter
//!   (an unconditional rule overrides conditional ones for the same syscall, and of
//!   two unconditional ones the first wins); the profile check warns about such rules.
//!
//! Not modelled: the syscalls runc itself makes between installing the filter and its
//! `execve` when `no_new_privileges` is off (it then installs the filter before it
//! sets up the user and capabilities).

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::runtime::quirks::{RuntimeKind, RUNTIMES};

/// What runc, crun and youki call to start the container's process, after the filter
/// is in place.
const RUNTIME_EXEC: &str = "execve";

/// When a denied call stops the process that makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fatal {
    /// When the call fails (errno) or kills.
    OnError,
    /// Only when the call kills: the process copes with an error.
    OnKill,
    /// When the call kills, or fails and so does the other call named, which the
    /// process falls back to (glibc's malloc takes memory with `mmap` when `brk` fails;
    /// Go tries `faccessat2`, then `faccessat`). The fallback is made only when the call
    /// fails, so its own fate matters only then.
    WhenBothFail(&'static str),
}

/// One syscall the container's process makes before it can report anything.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Need {
    pub syscall: &'static str,
    pub fatal: Fatal,
}

const fn need(syscall: &'static str, fatal: Fatal) -> Need {
    Need { syscall, fatal }
}

/// The probe's start on x86_64, in the order it makes the calls.
pub(crate) const PROCESS_NEEDS: &[Need] = &[
    // glibc sets the thread pointer for thread-local storage and exits without it
    // ("cannot set %fs base address"); musl and Go do the same.
    need("arch_prctl", Fatal::OnError),
    // Measured under a deny-all errno default (the Kubernetes tutorial's violation
    // profile) under runsc-oci, which applies the filter to the probe alone: arch_prctl,
    // brk, mprotect and write allowed, it starts.
    need("brk", Fatal::WhenBothFail("mmap")),
    need("set_tid_address", Fatal::OnKill),
    need("set_robust_list", Fatal::OnKill),
    need("rseq", Fatal::OnKill),
    need("prlimit64", Fatal::OnKill),
    need("readlink", Fatal::OnKill),
    need("getrandom", Fatal::OnKill),
    // glibc write-protects its relocated data and exits if it cannot.
    need("mprotect", Fatal::OnError),
    // The runner asks to ignore SIGPIPE and goes on without it.
    need("rt_sigaction", Fatal::OnKill),
    // `hello` names the runner's pid, uid and gid.
    need("getpid", Fatal::OnKill),
    need("getuid", Fatal::OnKill),
    need("getgid", Fatal::OnKill),
    // The probe reports on stdout: without write nothing it does is observable.
    need("write", Fatal::OnError),
];

/// What a runtime itself calls after it has installed the filter and before the
/// container's process runs, where a failure stops the start. Measured on this
/// project's machines (runc 1.1.5, crun 1.8.1) under an errno default: each call left
/// out of an allow-list that otherwise starts, one at a time, then completed where
/// real profiles (`tests/fixtures/profiles/real`) showed more: a call the runtime
/// survives losing alone may be fatal beside another denial. With no-new-privileges
/// the filter comes last (just before the exec); without it the runtime installs it
/// before it drops privileges. Under a kill default (and SCMP_ACT_TRAP, which Go's
/// handler does not rescue) the calls whose failure the runtime ignores are fatal too:
/// those marked `OnKill`, measured the same way under `SCMP_ACT_KILL_PROCESS`, with
/// every failure repeated and the final lists started 30 times each.
pub(crate) struct RuntimeStart {
    pub runtime: &'static str,
    pub no_new_privileges: bool,
    pub needs: &'static [Need],
}

pub(crate) const RUNTIME_STARTS: &[RuntimeStart] = &[
    // Closing the descriptors it must not pass on: it checks that /proc/self/fd is
    // procfs, then lists it.
    RuntimeStart {
        runtime: "runc",
        no_new_privileges: true,
        needs: &[
            need("fstatfs", Fatal::OnError),
            need("openat", Fatal::OnError),
            need("close", Fatal::OnError),
            need("getdents64", Fatal::OnError),
            // Go's os.Open registers each file with its poller: a failure is ignored,
            // a kill is not.
            need("epoll_ctl", Fatal::OnKill),
            // Go's runtime in runc's init: futex parks and wakes its threads, and a
            // signal (its preemption, SIGURG) returns through rt_sigreturn. Either
            // denied, the start fails some of the time (futex under an errno default:
            // 3 starts in 12; under a kill default, with neither: 7 in 20).
            need("futex", Fatal::OnError),
            need("rt_sigreturn", Fatal::OnError),
        ],
    },
    RuntimeStart {
        runtime: "runc",
        no_new_privileges: false,
        needs: &[
            need("capget", Fatal::OnError),
            need("capset", Fatal::OnError),
            need("chdir", Fatal::OnError),
            need("close", Fatal::OnError),
            // Looking up the process's executable (Go's exec.LookPath): faccessat2
            // first (kernels from 5.8), faccessat when it fails. Found missing on the
            // security-profiles-operator's crun base profile, which allows neither (its
            // runc base allows faccessat2).
            need("faccessat2", Fatal::WhenBothFail("faccessat")),
            need("epoll_ctl", Fatal::OnKill),
            need("fcntl", Fatal::OnKill),
            need("fstat", Fatal::OnError),
            need("fstatfs", Fatal::OnError),
            need("futex", Fatal::OnError),
            need("getcwd", Fatal::OnError),
            need("getdents64", Fatal::OnError),
            need("getppid", Fatal::OnError),
            need("newfstatat", Fatal::OnError),
            need("openat", Fatal::OnError),
            need("prctl", Fatal::OnError),
            // Found missing on the Kubernetes tutorial's deny-all profile.
            need("read", Fatal::OnError),
            // As with no-new-privileges (above).
            need("rt_sigreturn", Fatal::OnError),
            need("setgid", Fatal::OnError),
            need("setgroups", Fatal::OnError),
            need("setuid", Fatal::OnError),
        ],
    },
    RuntimeStart {
        runtime: "crun",
        no_new_privileges: true,
        // It closes descriptors it must not pass on and copes with an error.
        needs: &[need("close", Fatal::OnKill)],
    },
    RuntimeStart {
        runtime: "crun",
        no_new_privileges: false,
        needs: &[
            need("capset", Fatal::OnError),
            need("close", Fatal::OnKill),
            need("prctl", Fatal::OnError),
            // Found missing on the security-profiles-operator's runc base profile.
            need("rt_sigaction", Fatal::OnError),
            need("rt_sigprocmask", Fatal::OnError),
            need("setresgid", Fatal::OnError),
            need("setresuid", Fatal::OnError),
        ],
    },
];

/// Every call some start is known to need: the runtimes' `execve` and own calls after
/// the filter, and the container's process's.
pub fn known_start_needs() -> impl Iterator<Item = &'static str> {
    std::iter::once(RUNTIME_EXEC)
        .chain(
            RUNTIME_STARTS
                .iter()
                .flat_map(|r| r.needs.iter().map(|n| n.syscall)),
        )
        .chain(PROCESS_NEEDS.iter().map(|n| n.syscall))
}

/// What `runtime` itself calls after its filter, with and without no-new-privileges,
/// and its exec of the container's process: what a profile written for a workload must
/// allow besides the workload's own calls (`breakout record`).
pub fn runtime_start_needs(runtime: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = std::iter::once(RUNTIME_EXEC)
        .chain(
            RUNTIME_STARTS
                .iter()
                .filter(|r| r.runtime == runtime)
                .flat_map(|r| r.needs.iter().map(|n| n.syscall)),
        )
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// One runtime's own start under a profile, in one no-new-privileges setting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuntimeStartVerdict {
    pub runtime: &'static str,
    pub no_new_privileges: bool,
    /// What the runtime itself needs after the filter and the profile denies.
    pub denied: Vec<String>,
}

/// What happens to a call, from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fate {
    Allowed,
    Fails,
    Killed,
}

pub(crate) fn action_fate(action: LinuxSeccompAction) -> Fate {
    use LinuxSeccompAction as A;
    match action {
        A::ScmpActAllow | A::ScmpActLog | A::ScmpActNotify => Fate::Allowed,
        A::ScmpActErrno | A::ScmpActTrace => Fate::Fails,
        A::ScmpActKill | A::ScmpActKillProcess | A::ScmpActKillThread | A::ScmpActTrap => {
            Fate::Killed
        }
    }
}

pub(crate) fn is_conditional(rule: &LinuxSyscall) -> bool {
    rule.args().as_ref().is_some_and(|a| !a.is_empty())
}

/// What certainly happens to every call of `syscall` under `seccomp` (see the module
/// documentation for how doubt is resolved).
pub(crate) fn fate(seccomp: &LinuxSeccomp, syscall: &str) -> Fate {
    let default = seccomp.default_action();
    let naming = seccomp
        .syscalls()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter(|r| r.names().iter().any(|n| n == syscall));
    match action_fate(default) {
        Fate::Allowed => naming
            .filter(|r| !is_conditional(r) && r.action() != default)
            .map(|r| action_fate(r.action()))
            .min()
            .unwrap_or(Fate::Allowed),
        denying => naming
            .map(|r| action_fate(r.action()))
            .fold(denying, Fate::min),
    }
}

/// Whether the need `syscall` is denied fatally under `seccomp`.
fn denies(seccomp: &LinuxSeccomp, syscall: &str, fatal: Fatal) -> bool {
    let fate = fate(seccomp, syscall);
    match fatal {
        Fatal::OnError => fate >= Fate::Fails,
        Fatal::OnKill => fate == Fate::Killed,
        Fatal::WhenBothFail(other) => {
            fate == Fate::Killed
                || (fate == Fate::Fails && self::fate(seccomp, other) >= Fate::Fails)
        }
    }
}

/// Which runtimes can start a container under a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartAnalysis {
    /// runc, crun and youki, which filter their own `execve` of the container's
    /// process, can start it.
    pub runc_like_can_start: bool,
    /// runsc-oci, which filters the container's process after its own start, can
    /// start it.
    pub runsc_oci_can_start: bool,
    /// Syscalls a start needs that the profile denies, `execve` first.
    pub denied_needed: Vec<String>,
    /// No runtime that applies the profile can start a container under it.
    pub never_starts: bool,
    /// The runtimes' own needs after the filter ([`RUNTIME_STARTS`]), with and without
    /// no-new-privileges: separate from the container's process's.
    pub runtime_starts: Vec<RuntimeStartVerdict>,
}

/// Judges whether runtimes can start a container under `seccomp`, a resolved profile,
/// on x86_64.
pub fn start_analysis(seccomp: &LinuxSeccomp) -> StartAnalysis {
    analyse(seccomp, PROCESS_NEEDS)
}

/// [`start_analysis`] with the given needs of the container's process (none where
/// they are not known, as on architectures other than x86_64).
pub(crate) fn analyse(seccomp: &LinuxSeccomp, process_needs: &[Need]) -> StartAnalysis {
    let exec_denied = denies(seccomp, RUNTIME_EXEC, Fatal::OnError);
    let process_denied: Vec<String> = process_needs
        .iter()
        .filter(|n| denies(seccomp, n.syscall, n.fatal))
        .map(|n| n.syscall.to_string())
        .collect();
    let runsc_oci_can_start = process_denied.is_empty();
    let runc_like_can_start = runsc_oci_can_start && !exec_denied;
    let mut denied_needed = Vec::with_capacity(process_denied.len() + 1);
    if exec_denied {
        denied_needed.push(RUNTIME_EXEC.to_string());
    }
    denied_needed.extend(process_denied);
    let runtime_starts = RUNTIME_STARTS
        .iter()
        .map(|r| RuntimeStartVerdict {
            runtime: r.runtime,
            no_new_privileges: r.no_new_privileges,
            denied: r
                .needs
                .iter()
                .filter(|n| denies(seccomp, n.syscall, n.fatal))
                .map(|n| n.syscall.to_string())
                .collect(),
        })
        .collect();
    StartAnalysis {
        runc_like_can_start,
        runsc_oci_can_start,
        denied_needed,
        never_starts: !runc_like_can_start && !runsc_oci_can_start,
        runtime_starts,
    }
}

/// Runtimes that install the filter before their own `execve` (runc, crun, youki).
fn runc_like() -> Vec<&'static str> {
    runtime_names(|k| k.applies_profile && k.filters_own_exec)
}

/// Runtimes that apply the filter after their own start (runsc-oci).
fn late_filtering() -> Vec<&'static str> {
    runtime_names(|k| k.applies_profile && !k.filters_own_exec)
}

/// OCI runtimes (not engines, which pick one of these) of the quirks table.
fn runtime_names(select: impl Fn(&RuntimeKind) -> bool) -> Vec<&'static str> {
    RUNTIMES
        .iter()
        .filter(|k| k.engine.is_none() && select(k))
        .map(|k| k.name)
        .collect()
}

/// "a", "a and b", "a, b and c".
pub(crate) fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
    }
}

impl StartAnalysis {
    /// One sentence for humans, e.g. "denies execve: runc, crun and youki cannot start
    /// a container under it; runsc-oci can".
    pub fn summary(&self) -> String {
        let runc_like = runc_like();
        let late = late_filtering();
        let denied = and_list(&self.denied_needed);
        if self.never_starts {
            let whose = if self.denied_needed.iter().any(|s| s != RUNTIME_EXEC) {
                ", which the container's process needs to start"
            } else {
                ""
            };
            format!(
                "denies {denied}{whose}: no runtime that applies the profile can start a \
                 container under it"
            )
        } else if !self.runc_like_can_start {
            format!(
                "denies {denied}: {} cannot start a container under it; {} can",
                and_list(&runc_like),
                and_list(&late)
            )
        } else {
            let blocked = self.runtime_blocks();
            if blocked.is_empty() {
                let all = and_list(&[runc_like, late].concat());
                format!("denies nothing a start needs: {all} can start a container under it")
            } else {
                format!(
                    "denies nothing the container's process needs, but {}; {} can",
                    blocked.join("; "),
                    and_list(&late)
                )
            }
        }
    }

    /// Per runtime whose own start the profile gets in the way of: with which
    /// no-new-privileges setting it can start, and what it needs otherwise.
    fn runtime_blocks(&self) -> Vec<String> {
        let mut names: Vec<&str> = self.runtime_starts.iter().map(|r| r.runtime).collect();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| {
                let denied = |nnp: bool| {
                    self.runtime_starts
                        .iter()
                        .find(|r| r.runtime == name && r.no_new_privileges == nnp)
                        .map(|r| r.denied.clone())
                        .unwrap_or_default()
                };
                let (with, without) = (denied(true), denied(false));
                match (with.is_empty(), without.is_empty()) {
                    (true, true) => None,
                    (true, false) => Some(format!(
                        "{name} can only with no-new-privileges (without it, its own start needs {}, which the profile denies)",
                        and_list(&without)
                    )),
                    (false, true) => Some(format!(
                        "{name} can only without no-new-privileges (with it, its own start needs {})",
                        and_list(&with)
                    )),
                    (false, false) => Some(format!(
                        "{name} cannot: its own start needs {} with no-new-privileges and {} without, which the profile denies",
                        and_list(&with),
                        and_list(&without)
                    )),
                }
            })
            .collect()
    }
}

/// The fields, and the summary for readers of the JSON.
impl Serialize for StartAnalysis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("StartAnalysis", 6)?;
        st.serialize_field("runc_like_can_start", &self.runc_like_can_start)?;
        st.serialize_field("runsc_oci_can_start", &self.runsc_oci_can_start)?;
        st.serialize_field("denied_needed", &self.denied_needed)?;
        st.serialize_field("never_starts", &self.never_starts)?;
        st.serialize_field("runtime_starts", &self.runtime_starts)?;
        st.serialize_field("summary", &self.summary())?;
        st.end()
    }
}
