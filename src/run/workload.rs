//! The workload's container: the plan's sandbox with the workload's command in place
//! of the runner, on a fresh rootfs and network of its own (nothing the probes did is
//! left in it), followed until it shows whether it works (`crate::workload`).
//!
//! Its output is the image's: kept bounded (the last [`TAIL`] bytes of each stream)
//! and sanitized before it reaches a report.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bundle;
use crate::container;
use crate::runtime::{Exit, Runtime};
use crate::workload::{Kind, Status, Stopped, Workload, WorkloadReport};
use breakout_wire::routes::Entry;
use oci_spec::runtime::LinuxSeccomp;

use super::follow::Launch;
use super::{launch, plan::Plan, RunError, Stage};

/// How much of each output stream is kept: its end.
const TAIL: usize = 4096;
/// How long one run of the check may take.
const CHECK_DEADLINE: Duration = Duration::from_secs(5);
/// Between runs of the check.
const CHECK_PAUSE: Duration = Duration::from_millis(250);

/// Runs the plan's workload under `runtime` and says whether it works.
pub(super) fn run(
    plan: &Plan,
    workload: &Workload,
    runtime: &Runtime,
    interrupted: &AtomicBool,
) -> Result<WorkloadReport, RunError> {
    let stage = Stage::prepare(plan, runtime, &[])?;
    let report = follow(plan, workload, runtime, &stage, interrupted);
    stage.finish(runtime);
    report
}

fn follow(
    plan: &Plan,
    workload: &Workload,
    runtime: &Runtime,
    stage: &Stage,
    interrupted: &AtomicBool,
) -> Result<WorkloadReport, RunError> {
    let inputs = container::SpecInputs {
        settings: &plan.settings,
        probe_bin: &plan.probe_bin,
        provided_shell: stage.provided_shell.as_deref(),
        setuid_binary: None,
        args: workload.command.clone(),
        seccomp: plan.seccomp.clone(),
        netns: stage.net_join(),
        key: None,
    };
    let image = stage.image.as_ref().ok().and_then(|tag| tag.as_deref());
    let launched = launch(runtime, &stage.run_dir, image, &inputs)?;
    let id = format!("breakout-{}-workload", bundle::unique_token());
    let state = stage.run_dir.state();
    let started = match &launched {
        Launch::Oci => runtime.launch(&state, &stage.run_dir.bundle(), &id),
        Launch::Engine(args) => runtime.engine_run(&state, &id, args, &[]),
    };
    let kind = if workload.check.is_some() {
        Kind::Service
    } else {
        Kind::Job
    };
    let begun = Instant::now();
    let mut report = WorkloadReport {
        command: workload.command.clone(),
        check: workload.check.clone(),
        kind,
        status: Status::Fails,
        why: String::new(),
        exit: None,
        millis: 0,
        check_runs: workload.check.as_ref().map(|_| 0),
        check_output: String::new(),
        stdout_tail: String::new(),
        stderr_tail: String::new(),
        stopped: Vec::new(),
    };
    let (mut container, stdout, stderr) = match started {
        Ok(parts) => parts,
        Err(e) => {
            // The runtime's words may carry the container's: made safe text.
            report.why = crate::sanitize::untrusted(&format!("the container did not start: {e}"));
            return Ok(report);
        }
    };
    let out_tail = Tail::read(stdout);
    let err_tail = Tail::read(stderr);
    let deadline = begun + workload.deadline;
    let mut next_check = begun + CHECK_PAUSE;
    let (status, why) = loop {
        if let Some(exit) = container.poll_exit() {
            report.exit = Some(exit_text(exit));
            break match (kind, exit) {
                (Kind::Job, Exit::Code(0)) => (Status::Works, "exited 0".to_string()),
                (Kind::Job, _) => (Status::Fails, format!("ended with {}", exit_text(exit))),
                (Kind::Service, _) => (
                    Status::Fails,
                    format!("ended with {} before its check passed", exit_text(exit)),
                ),
            };
        }
        if interrupted.load(Ordering::Relaxed) {
            break (Status::Fails, "interrupted".to_string());
        }
        let now = Instant::now();
        if now >= deadline {
            break match kind {
                Kind::Job => (
                    Status::Fails,
                    format!(
                        "still running after {} s (a job must end; a service needs --workload-check)",
                        workload.deadline.as_secs()
                    ),
                ),
                Kind::Service => (
                    Status::Fails,
                    format!(
                        "its check did not pass within {} s",
                        workload.deadline.as_secs()
                    ),
                ),
            };
        }
        if let (Some(check), true) = (&workload.check, now >= next_check) {
            let (passed, output) = run_check(runtime, &state, &id, check);
            report.check_runs = report.check_runs.map(|n| n + 1);
            report.check_output = output;
            if passed {
                break (
                    Status::Works,
                    format!(
                        "still running, and its check passed (run {})",
                        report.check_runs.unwrap_or(1)
                    ),
                );
            }
            next_check = Instant::now() + CHECK_PAUSE;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    report.millis = u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX);
    report.status = status;
    report.why = format!("{why} in {:.1} s", begun.elapsed().as_secs_f64());
    // A service that works is ended here; so is anything past its deadline.
    if container.poll_exit().is_none() {
        container.kill();
    }
    drop(container);
    report.stdout_tail = out_tail.text();
    report.stderr_tail = err_tail.text();
    if report.status == Status::Fails {
        report.stopped = start_stops(plan, runtime);
        // It started, and something in it failed: what did the filter stop?
        if report.stopped.is_empty() && report.exit.is_some() && traceable(runtime) {
            report.stopped = traced_stops(plan, workload, runtime)?;
        }
    }
    Ok(report)
}

/// Whether the profile becomes a host kernel filter a tracer of ours meets: an OCI
/// runtime in the foreground below us, no sandbox kernel (see `crate::trace`).
pub(super) fn traceable(runtime: &Runtime) -> bool {
    runtime.engine().is_none()
        && runtime.kind.sandbox_kernel.is_none()
        && runtime.kind.applies_profile
}

/// The most stopped calls a report lists.
const MAX_STOPPED: usize = 12;

/// Runs the workload again with each denying answer of the profile turned into
/// `SCMP_ACT_TRACE`, as a tracee of ours: every call that stops is one the profile
/// stops (it goes on here, so the run gets past it to the next). Each is named with
/// the rule that stops it in the profile as written, the first one first.
fn traced_stops(
    plan: &Plan,
    workload: &Workload,
    runtime: &Runtime,
) -> Result<Vec<Stopped>, RunError> {
    let Some(seccomp) = plan.seccomp.as_ref() else {
        return Ok(Vec::new());
    };
    let Ok(traced) = traced_run(plan, workload, runtime, denials_traced(seccomp))? else {
        return Ok(Vec::new());
    };
    let predictor = super::predictor(plan, runtime);
    Ok(traced
        .summary
        .iter()
        .filter_map(|call| {
            let (entry, name) = (call.entry?, call.name?);
            let args: Vec<(u8, u64)> = (0u8..6).zip(call.first_args).collect();
            let decision = predictor.decide_call(entry, name, &args)?;
            decision.stops.then(|| Stopped {
                syscall: name.to_string(),
                arch: entry.as_str().to_string(),
                action: decision.action,
                rule: decision.rule,
                place: decision.place,
                found_by: "traced-rerun",
            })
        })
        .take(MAX_STOPPED)
        .collect())
}

/// The workload under `seccomp` (whose TRACE answers go to breakout's tracer) in a
/// fresh stage, the runtime traced from birth; the container is deleted after.
pub(super) fn traced_run(
    plan: &Plan,
    workload: &Workload,
    runtime: &Runtime,
    seccomp: LinuxSeccomp,
) -> Result<Result<crate::trace::Traced, crate::trace::TraceError>, RunError> {
    let stage = Stage::prepare(plan, runtime, &[])?;
    let inputs = container::SpecInputs {
        settings: &plan.settings,
        probe_bin: &plan.probe_bin,
        provided_shell: stage.provided_shell.as_deref(),
        setuid_binary: None,
        args: workload.command.clone(),
        seccomp: Some(seccomp),
        netns: stage.net_join(),
        key: None,
    };
    stage.run_dir.write_spec(&container::build_spec(&inputs))?;
    let id = format!("breakout-{}-traced", bundle::unique_token());
    let state = stage.run_dir.state();
    let cmd = runtime.run_command(&state, &stage.run_dir.bundle(), &id);
    let traced = crate::trace::run_traced(cmd, workload.deadline);
    runtime.remove_leftover_container(&state, &id);
    stage.finish(runtime);
    Ok(traced)
}

/// `seccomp` with every answer that stops a call (an errno, a kill, a trap) turned into
/// `SCMP_ACT_TRACE`; what lets a call through stays.
fn denials_traced(seccomp: &LinuxSeccomp) -> LinuxSeccomp {
    use oci_spec::runtime::LinuxSeccompAction as A;
    let traced = |action: A| match action {
        A::ScmpActAllow | A::ScmpActLog | A::ScmpActNotify | A::ScmpActTrace => action,
        _ => A::ScmpActTrace,
    };
    let mut out = seccomp.clone();
    out.set_default_action(traced(seccomp.default_action()));
    out.set_default_errno_ret(None);
    if let Some(rules) = seccomp.syscalls() {
        let rules = rules
            .iter()
            .map(|rule| {
                let mut rule = rule.clone();
                if traced(rule.action()) != rule.action() {
                    rule.set_action(A::ScmpActTrace);
                    rule.set_errno_ret(None);
                }
                rule
            })
            .collect();
        out.set_syscalls(Some(rules));
    }
    out
}

/// The calls the runtime's start (its exec of the container's process, its own calls
/// after the filter, what a process needs to run at all) needs and the filter stops,
/// each with its rule: a container that never ran its workload.
fn start_stops(plan: &Plan, runtime: &Runtime) -> Vec<Stopped> {
    let Some(seccomp) = plan.seccomp.as_ref() else {
        return Vec::new();
    };
    let analysis = crate::profile::start_analysis(seccomp);
    let needs = crate::predict::start::predicted_needs(
        &runtime.kind,
        plan.settings.no_new_privileges,
        &analysis,
    );
    let predictor = super::predictor(plan, runtime);
    needs
        .iter()
        .filter_map(|name| {
            let name = crate::profile::syscalls::SYSCALLS
                .iter()
                .find(|s| **s == name.as_str())?;
            let decision = predictor.decide_call(Entry::X86_64, name, &[])?;
            decision.stops.then(|| Stopped {
                syscall: name.to_string(),
                arch: Entry::X86_64.as_str().to_string(),
                action: decision.action,
                rule: decision.rule,
                place: decision.place,
                found_by: "start-prediction",
            })
        })
        .collect()
}

fn exit_text(exit: Exit) -> String {
    match exit {
        Exit::Code(code) => format!("exit {code}"),
        Exit::Signal(sig) => super::settle::signal_name(sig),
        Exit::Unknown => "an unknown status".to_string(),
    }
}

/// Runs the check once in the container, with its own deadline: whether it exited 0,
/// and the end of what it printed (sanitized).
fn run_check(runtime: &Runtime, state: &Path, id: &str, check: &[String]) -> (bool, String) {
    let mut cmd: Command = runtime.exec_command(state, id, check);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return (false, format!("the check could not be started: {e}")),
    };
    let out = child.stdout.take().map(Tail::read);
    let err = child.stderr.take().map(Tail::read);
    let deadline = Instant::now() + CHECK_DEADLINE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            // Our own child, ended by its handle.
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    // What it printed has reached the pipes by the time it ended.
    std::thread::sleep(Duration::from_millis(20));
    let text = [out, err]
        .into_iter()
        .flatten()
        .map(|t| t.text())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    match status {
        Some(status) => (status.success(), text),
        None => (
            false,
            format!("no answer within {} s; {text}", CHECK_DEADLINE.as_secs()),
        ),
    }
}

/// The end of a stream, read on a thread of its own until the stream ends.
struct Tail(Arc<Mutex<Vec<u8>>>);

impl Tail {
    fn read(mut source: impl Read + Send + 'static) -> Tail {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&kept);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = source.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let mut kept = sink.lock().expect("tail lock");
                kept.extend_from_slice(&chunk[..n]);
                let excess = kept.len().saturating_sub(TAIL);
                kept.drain(..excess);
            }
        });
        Tail(kept)
    }

    /// What was kept so far, as safe text.
    fn text(&self) -> String {
        let kept = self.0.lock().expect("tail lock");
        crate::sanitize::untrusted_lines(String::from_utf8_lossy(&kept).trim_end())
    }
}
