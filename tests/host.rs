//! Level 1 of the probe tests: each probe runs on the host, in a child process, once
//! without a filter (it escapes, or says why it cannot apply) and once under a seccomp
//! filter built for the test with seccompiler that denies exactly the syscalls of its
//! technique (it is blocked, with the mechanism the filter chose).
//!
//! The cases live beside this file, one module per group of goals; this file runs them.
//! Probes whose effect would land on the host (writing to `/`, mounting) are tested only
//! in containers (`tests/runc.rs`).
//!
//! The filter is installed in the child between fork and exec, so the probe binary's
//! own `execve` must pass it: exec techniques are denied with a condition on the
//! environment pointer (the probes exec with a NULL one, `Command` never does).

mod common;

#[path = "host/exec_spawn.rs"]
mod exec_spawn;
#[path = "host/fs_net.rs"]
mod fs_net;
#[path = "host/kernel_ns_ipc.rs"]
mod kernel_ns_ipc;

use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use breakout::protocol::{self, Event, ProbeOutcome};
use breakout::run::canary::Canary;
use libtest_mimic::{Arguments, Failed, Trial};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// What the filter does to a denied call.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Errno(i32),
    KillProcess,
}

/// One denied syscall, optionally only when all `when` conditions hold.
#[derive(Debug, Clone)]
pub struct Deny {
    pub syscall: i64,
    pub action: Action,
    /// (argument index, comparison) pairs, all of which must hold.
    pub when: Vec<(u8, Cmp)>,
}

/// An argument comparison.
#[derive(Debug, Clone, Copy)]
pub enum Cmp {
    Eq(u64),
    /// `arg & mask == value`.
    MaskedEq(u64, u64),
}

impl Deny {
    pub fn errno(syscall: i64, errno: i32) -> Deny {
        Deny {
            syscall,
            action: Action::Errno(errno),
            when: Vec::new(),
        }
    }

    pub fn eperm(syscall: i64) -> Deny {
        Deny::errno(syscall, libc::EPERM)
    }

    pub fn kill(syscall: i64) -> Deny {
        Deny {
            syscall,
            action: Action::KillProcess,
            when: Vec::new(),
        }
    }

    /// Only when argument `index` compares as given.
    pub fn when(mut self, index: u8, cmp: Cmp) -> Deny {
        self.when.push((index, cmp));
        self
    }

    /// An exec call denied only for the probes' NULL environment pointer (argument 2 of
    /// execve, 3 of execveat), so the probe binary itself still starts.
    pub fn probe_exec(syscall: i64) -> Deny {
        let envp = if syscall == libc::SYS_execveat { 3 } else { 2 };
        Deny::eperm(syscall).when(envp, Cmp::Eq(0))
    }
}

/// What a case expects of the probe's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Escaped; an exec probe must prove it with the nonce (the payload's, or the one
    /// `exec.mmap-exec`'s mapped code hands back).
    Escaped,
    /// Blocked with this mechanism (errno name or `SIGSYS`).
    Blocked(&'static str),
    /// Not applicable on this host, with this text somewhere in the detail.
    NotApplicable(&'static str),
    /// Escaped where the host supports the technique, not applicable (with the text)
    /// where it does not: for facilities a kernel may lack (i386 emulation, x32, uselib).
    EscapedOrNotApplicable(&'static str),
}

/// One trial: a probe, a filter (none when empty), what the verdict must be.
#[derive(Debug, Clone)]
pub struct Case {
    pub probe: &'static str,
    /// Trial name suffix, e.g. `unfiltered` or `deny-vfork`.
    pub label: &'static str,
    pub deny: Vec<Deny>,
    pub expect: Expect,
    /// Give the probe a scratch directory as its one "mount" (per-mount probes).
    pub scratch_mount: bool,
}

impl Case {
    pub fn unfiltered(probe: &'static str, expect: Expect) -> Case {
        Case {
            probe,
            label: "unfiltered",
            deny: Vec::new(),
            expect,
            scratch_mount: false,
        }
    }

    pub fn denied(
        probe: &'static str,
        label: &'static str,
        deny: Vec<Deny>,
        expect: Expect,
    ) -> Case {
        Case {
            probe,
            label,
            deny,
            expect,
            scratch_mount: false,
        }
    }

    pub fn with_scratch_mount(mut self) -> Case {
        self.scratch_mount = true;
        self
    }
}

fn build_filter(deny: &[Deny]) -> Result<BpfProgram, String> {
    // seccompiler has one match action per filter; group by action into stacked
    // filters (the kernel applies the strictest result).
    let mut by_action: BTreeMap<String, (SeccompAction, BTreeMap<i64, Vec<SeccompRule>>)> =
        BTreeMap::new();
    for d in deny {
        let action = match d.action {
            Action::Errno(e) => SeccompAction::Errno(e as u32),
            Action::KillProcess => SeccompAction::KillProcess,
        };
        let entry = by_action
            .entry(format!("{action:?}"))
            .or_insert_with(|| (action, BTreeMap::new()));
        let rules = entry.1.entry(d.syscall).or_default();
        if !d.when.is_empty() {
            let conditions = d
                .when
                .iter()
                .map(|(index, cmp)| {
                    let (op, value) = match *cmp {
                        Cmp::Eq(v) => (SeccompCmpOp::Eq, v),
                        Cmp::MaskedEq(mask, v) => (SeccompCmpOp::MaskedEq(mask), v),
                    };
                    SeccompCondition::new(*index, SeccompCmpArgLen::Qword, op, value)
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(SeccompRule::new(conditions).map_err(|e| e.to_string())?);
        }
    }
    if by_action.len() > 1 {
        return Err("one action per case keeps the filter simple; split the case".into());
    }
    let (_, (action, rules)) = by_action.into_iter().next().ok_or("empty deny list")?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, TargetArch::x86_64)
        .map_err(|e| e.to_string())?;
    BpfProgram::try_from(filter).map_err(|e| e.to_string())
}

/// The probe's verdict on its step, as the harness would read it: its own verdict
/// line, or SIGSYS when the filter killed it mid-step.
struct Seen {
    outcome: ProbeOutcome,
    mechanism: Option<String>,
    detail: String,
    nonce: Option<String>,
}

fn run_case(case: &Case) -> Result<(), Failed> {
    let nonce = format!("host{}x{}", std::process::id(), case.label.len());
    let key = protocol::Key::random().map_err(|e| format!("key: {e}"))?;
    let tokens = [
        "net.tcp-connect",
        "net.udp-send",
        "net.io-uring-connect",
        "net.i386-socketcall",
    ]
    .iter()
    .map(|step| protocol::canary_token(&key, step))
    .collect();
    let canary = Canary::start(tokens).map_err(|e| format!("canary: {e}"))?;
    let scratch = common::Scratch::new("host-mount");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breakout-probe"));
    cmd.args([
        "run",
        "--nonce",
        &nonce,
        "--canary",
        &canary.addr().to_string(),
    ]);
    if case.scratch_mount {
        cmd.arg("--mount").arg(scratch.path());
    }
    cmd.args(["--probes", case.probe])
        .env_clear()
        .env(protocol::KEY_ENV, key.to_hex())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !case.deny.is_empty() {
        let program = build_filter(&case.deny)?;
        // SAFETY: the closure runs in the forked child before exec; it only makes the
        // prctl and seccomp system calls and touches no lock or allocator state.
        unsafe {
            cmd.pre_exec(move || {
                seccompiler::apply_filter(&program)
                    .map_err(|e| std::io::Error::other(e.to_string()))
            });
        }
    }
    let child = cmd.spawn().map_err(|e| format!("spawn probe: {e}"))?;
    let out = wait_bounded(child, std::time::Duration::from_secs(30))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut seen: Option<Seen> = None;
    let mut started = false;
    let mut handed_off = None;
    for line in stdout.lines() {
        match protocol::parse_line(line) {
            Ok(Event::Start { step }) if step.starts_with(case.probe) => started = true,
            Ok(Event::Handoff { step }) if step.starts_with(case.probe) => handed_off = Some(step),
            Ok(Event::Verdict {
                step,
                outcome,
                mechanism,
                detail,
                nonce,
                ..
            }) if step.starts_with(case.probe) && seen.is_none() => {
                seen = Some(Seen {
                    outcome,
                    mechanism,
                    detail,
                    nonce,
                })
            }
            _ => {}
        }
    }
    // A handoff that never came back: the shell ran, and its payload proves it on
    // stderr (where the runner moved stdout before the exec), as the harness reads it.
    if let (None, Some(step)) = (&seen, &handed_off) {
        let proof = format!(
            "{} {}",
            protocol::HANDOFF_PROOF,
            protocol::handoff_token(&nonce, step)
        );
        if stderr.contains(&proof) {
            seen = Some(Seen {
                outcome: ProbeOutcome::Escaped,
                mechanism: None,
                detail: "handed off; the payload proved it".into(),
                nonce: Some(nonce.clone()),
            });
        }
    }
    if seen.is_none() && started && out.status.signal() == Some(libc::SIGSYS) {
        seen = Some(Seen {
            outcome: ProbeOutcome::Blocked,
            mechanism: Some("SIGSYS".into()),
            detail: "killed by the filter".into(),
            nonce: None,
        });
    }
    let seen = seen.ok_or_else(|| {
        format!(
            "no verdict for {} (status {:?}); stdout:\n{stdout}\nstderr:\n{stderr}",
            case.probe, out.status
        )
    })?;
    if let Some(n) = &seen.nonce {
        if *n != nonce {
            return Err(format!("payload printed nonce {n:?}, expected {nonce:?}").into());
        }
    }
    let ok = match case.expect {
        Expect::Escaped => seen.outcome == ProbeOutcome::Escaped,
        Expect::Blocked(m) => {
            seen.outcome == ProbeOutcome::Blocked && seen.mechanism.as_deref() == Some(m)
        }
        Expect::NotApplicable(text) => {
            seen.outcome == ProbeOutcome::NotApplicable && seen.detail.contains(text)
        }
        Expect::EscapedOrNotApplicable(text) => {
            seen.outcome == ProbeOutcome::Escaped
                || (seen.outcome == ProbeOutcome::NotApplicable && seen.detail.contains(text))
        }
    };
    if !ok {
        return Err(format!(
            "{} [{}]: expected {:?}, got {:?} {:?}: {}\nstderr:\n{stderr}",
            case.probe, case.label, case.expect, seen.outcome, seen.mechanism, seen.detail
        )
        .into());
    }
    if matches!(case.expect, Expect::Escaped)
        && case.probe.starts_with("exec.")
        && seen.nonce.is_none()
    {
        return Err(format!("{}: an exec escape without the payload's nonce", case.probe).into());
    }
    Ok(())
}

fn wait_bounded(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> Result<std::process::Output, Failed> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            return child.wait_with_output().map_err(|e| e.to_string().into());
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the probe did not finish within its deadline".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn main() {
    let args = Arguments::from_args();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!(
            "host probe tests are skipped: they need root (capabilities decide many verdicts)"
        );
    }
    let mut cases = Vec::new();
    cases.extend(exec_spawn::cases());
    cases.extend(fs_net::cases());
    cases.extend(kernel_ns_ipc::cases());
    let trials = cases
        .into_iter()
        .map(|case| {
            let name = format!("{}::{}", case.probe, case.label);
            Trial::test(name, move || run_case(&case)).with_ignored_flag(!root)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
