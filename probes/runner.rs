//! The suite runner: expands probe ids into steps, skips what a previous container
//! already ran, runs each step in-process and prints the protocol lines.

use std::io::{self, Write};

use breakout_wire::catalog;
use breakout_wire::protocol::{split_step, Event, Invocation, Key, Line, ProbeOutcome};

use crate::sys::Errno;
use crate::{exec, fs, ipc, kernel, namespace, net, spawn};

/// What a probe concluded; the runner adds the step when it prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: ProbeOutcome,
    pub mechanism: Option<String>,
    pub detail: String,
    pub nonce: Option<String>,
    /// A payload in a child already printed this step's verdict (`payload --once`);
    /// the runner prints nothing more for it.
    pub already_reported: bool,
}

impl Verdict {
    /// The step's verdict line came from a payload started in a child.
    pub fn already_reported(detail: impl Into<String>) -> Self {
        Verdict {
            already_reported: true,
            ..Verdict::escaped(detail)
        }
    }

    pub fn escaped(detail: impl Into<String>) -> Self {
        Verdict {
            outcome: ProbeOutcome::Escaped,
            mechanism: None,
            detail: detail.into(),
            nonce: None,
            already_reported: false,
        }
    }

    /// Blocked by the errno the attempt failed with; the detail gets the errno appended.
    pub fn blocked(errno: Errno, what: &str) -> Self {
        Verdict {
            outcome: ProbeOutcome::Blocked,
            mechanism: Some(errno.name()),
            detail: format!("{what}: {errno}"),
            nonce: None,
            already_reported: false,
        }
    }

    pub fn not_applicable(mechanism: Option<Errno>, detail: impl Into<String>) -> Self {
        Verdict {
            outcome: ProbeOutcome::NotApplicable,
            mechanism: mechanism.map(Errno::name),
            detail: detail.into(),
            nonce: None,
            already_reported: false,
        }
    }

    pub fn error(mechanism: Option<Errno>, detail: impl Into<String>) -> Self {
        Verdict {
            outcome: ProbeOutcome::Error,
            mechanism: mechanism.map(Errno::name),
            detail: detail.into(),
            nonce: None,
            already_reported: false,
        }
    }
}

/// Everything a probe may look at.
pub struct Ctx {
    /// How this runner was started (`after` as given on the command line).
    pub inv: Invocation,
    /// The runner's own binary, which exec probes start in payload mode.
    pub payload: String,
    pub out: Out,
    /// The run's key, from the environment; payloads have none.
    pub key: Option<Key>,
}

impl Ctx {
    /// The key, for witnesses that leave the container; the error is the verdict of a
    /// step that needs one where there is none (a payload, or a runner started by hand).
    pub fn key(&self) -> Result<&Key, Verdict> {
        self.key.as_ref().ok_or_else(|| {
            Verdict::error(
                None,
                format!(
                    "no key in the environment ({}): this step's witness needs one",
                    breakout_wire::protocol::KEY_ENV
                ),
            )
        })
    }

    /// The payload binary's bytes, for probes that copy it somewhere to run it; the
    /// error is the verdict to give when it cannot be read.
    pub fn payload_image(&self) -> Result<Vec<u8>, Verdict> {
        std::fs::read(&self.payload).map_err(|err| {
            Verdict::error(
                Errno::from_io(&err),
                format!("cannot read the payload {}: {err}", self.payload),
            )
        })
    }
}

/// Protocol output on stdout: one line per event, flushed at once, because the container
/// may be killed (SIGSYS) by the very next step.
pub struct Out {
    stdout: io::Stdout,
}

impl Out {
    pub fn new() -> Self {
        Out {
            stdout: io::stdout(),
        }
    }

    pub fn emit(&self, event: Event) {
        let mut text = Line::new(event).to_json();
        text.push('\n');
        let mut lock = self.stdout.lock();
        if let Err(err) = lock.write_all(text.as_bytes()).and_then(|()| lock.flush()) {
            // Nobody reads the protocol any more (the harness went away): stopping
            // quietly is the only useful thing left, as for a broken pipe in any CLI.
            drop(lock);
            if err.kind() == io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("breakout-probe: cannot write to stdout: {err}");
            std::process::exit(3);
        }
    }

    /// Writes one raw line (fault injection only).
    pub fn raw(&self, text: &str) {
        let mut lock = self.stdout.lock();
        let _ = writeln!(lock, "{text}").and_then(|()| lock.flush());
    }

    /// Flushes before an exec replaces the process.
    pub fn flush(&self) {
        let _ = self.stdout.lock().flush();
    }
}

/// How a probe runs: once, or once per mount (it gets the mount point).
pub enum Impl {
    Once(fn(&Ctx) -> Verdict),
    PerMount(fn(&Ctx, &str) -> Verdict),
}

/// The implementation of each catalog id: every goal's module answers for its own ids.
fn implementation(id: &str) -> Option<Impl> {
    exec::implementation(id)
        .or_else(|| spawn::implementation(id))
        .or_else(|| namespace::implementation(id))
        .or_else(|| fs::implementation(id))
        .or_else(|| net::implementation(id))
        .or_else(|| kernel::implementation(id))
        .or_else(|| ipc::implementation(id))
}

pub const NO_MOUNTS: &str = "no volume or tmpfs mounts in the container settings";

/// The steps left to run after `after`, and whether `after` was found. A step that is
/// not in the suite cannot have been run, so then every step runs.
pub fn steps_after<'a>(steps: &'a [String], after: Option<&str>) -> (&'a [String], bool) {
    match after {
        None => (steps, true),
        Some(after) => match steps.iter().position(|s| s == after) {
            Some(i) => (&steps[i + 1..], true),
            None => (steps, false),
        },
    }
}

/// Runs one step and returns its verdict (exec probes may not return at all).
pub fn run_step(ctx: &Ctx, step: &str) -> Verdict {
    let (id, target) = split_step(step);
    match (implementation(id), target) {
        (None, _) => Verdict::error(None, format!("unknown probe {id}")),
        (Some(Impl::Once(f)), None) => f(ctx),
        (Some(Impl::Once(_)), Some(_)) => {
            Verdict::error(None, format!("probe {id} does not run per mount"))
        }
        (Some(Impl::PerMount(f)), Some(mount)) => f(ctx, mount),
        (Some(Impl::PerMount(_)), None) => Verdict::not_applicable(None, NO_MOUNTS),
    }
}

/// Runs the suite after `after` (all of it for `None`), then prints `done`.
pub fn run_suite(ctx: &Ctx, after: Option<&str>) {
    let steps = catalog::expand_steps(&ctx.inv.probes, &ctx.inv.mounts);
    let (todo, found) = steps_after(&steps, after);
    if !found {
        eprintln!(
            "breakout-probe: step {} to resume after is not in this suite; running every step",
            after.unwrap_or_default()
        );
    }
    for step in todo {
        ctx.out.emit(Event::Start { step: step.clone() });
        inject_fault(ctx, step);
        let verdict = run_step(ctx, step);
        emit_verdict(ctx, step, verdict);
        if matches!(ctx.inv.fault.as_deref().and_then(|f| f.split_once('@')), Some(("dup", at)) if at == step)
        {
            // The step again, with a contradicting verdict: the first one stands.
            ctx.out.emit(Event::Start { step: step.clone() });
            emit_verdict(
                ctx,
                step,
                Verdict::error(None, "a duplicate verdict line (fault dup@STEP)"),
            );
        }
    }
    ctx.out.emit(Event::Done);
}

/// Misbehaves on request, so tests can drive the harness's timeout and death paths
/// with a real container. Never used unless `--fault` is given.
fn inject_fault(ctx: &Ctx, step: &str) {
    match ctx.inv.fault.as_deref().and_then(|f| f.split_once('@')) {
        Some(("hang", at)) if at == step => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        Some(("exit", at)) if at == step => std::process::exit(3),
        // Time for a test to act beside a running step (e.g. flood the canary).
        Some(("pause", at)) if at == step => std::thread::sleep(std::time::Duration::from_secs(2)),
        Some(("forkbomb", at)) if at == step => fork_bomb(),
        Some(("flood", at)) if at == step => flood(ctx),
        _ => {}
    }
}

/// Forks until the kernel refuses (the container's pids limit), every child parked
/// asleep, then hangs: the harness must end it at the deadline and kill every child.
fn fork_bomb() -> ! {
    let mut made = 0u32;
    while let Ok(pid) = crate::sys::raw_fork() {
        if pid == 0 {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        made += 1;
    }
    eprintln!("breakout-probe: fault forkbomb: {made} children before fork failed");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Prints without end: overlong lines, garbage, lines that look like verdicts for other
/// steps. The harness must stay bounded and end it at the deadline.
fn flood(ctx: &Ctx) -> ! {
    let long = "x".repeat(breakout_wire::protocol::MAX_LINE * 4);
    loop {
        ctx.out.raw(&long);
        ctx.out.raw("{\"v\":2,\"event\":\"verdict\",\"step\":\"nowhere\",\"outcome\":\"escaped\",\"mechanism\":null,\"detail\":\"\",\"nonce\":null}");
        ctx.out.raw("garbage garbage garbage");
    }
}

/// Prints malformed and overlong lines, for tests of the harness's line handling.
pub fn inject_garbage(ctx: &Ctx) {
    if ctx.inv.fault.as_deref() == Some("garbage") {
        ctx.out.raw("this is not json");
        ctx.out.raw(r#"{"v":99,"event":"done"}"#);
        ctx.out
            .raw(&"x".repeat(breakout_wire::protocol::MAX_LINE * 2));
        ctx.out.raw(r#"{"v":2,"event":"verdict","step":"not.planned","outcome":"escaped","mechanism":null,"detail":"","nonce":null}"#);
    }
}

pub fn emit_verdict(ctx: &Ctx, step: &str, verdict: Verdict) {
    if verdict.already_reported {
        return;
    }
    ctx.out.emit(Event::Verdict {
        step: step.to_string(),
        outcome: verdict.outcome,
        mechanism: verdict.mechanism,
        detail: verdict.detail,
        nonce: verdict.nonce,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn skips_up_to_and_including_after() {
        let steps = strings(&["a", "b@/x", "b@/y", "c"]);
        assert_eq!(steps_after(&steps, None), (&steps[..], true));
        assert_eq!(steps_after(&steps, Some("b@/x")), (&steps[2..], true));
        assert_eq!(steps_after(&steps, Some("c")), (&steps[4..], true));
        assert_eq!(steps_after(&steps, Some("b")), (&steps[..], false));
    }

    #[test]
    fn every_catalog_probe_is_implemented_with_its_shape() {
        for info in catalog::CATALOG {
            match implementation(info.id) {
                Some(Impl::Once(_)) => assert!(!info.per_mount, "{}", info.id),
                Some(Impl::PerMount(_)) => assert!(info.per_mount, "{}", info.id),
                None => panic!("{} has no implementation", info.id),
            }
        }
    }

    fn ctx() -> Ctx {
        Ctx {
            inv: Invocation {
                nonce: "n".into(),
                ..Invocation::default()
            },
            payload: "/nonexistent".to_string(),
            out: Out::new(),
            key: None,
        }
    }

    #[test]
    fn steps_that_cannot_run_say_why() {
        let ctx = ctx();
        let v = run_step(&ctx, "fs.write-mount");
        assert_eq!(v.outcome, ProbeOutcome::NotApplicable);
        assert_eq!(v.detail, NO_MOUNTS);
        assert_eq!(run_step(&ctx, "no.such").outcome, ProbeOutcome::Error);
        assert_eq!(run_step(&ctx, "spawn.fork@/x").outcome, ProbeOutcome::Error);
        let v = run_step(&ctx, "net.tcp-connect");
        assert_eq!(v.outcome, ProbeOutcome::NotApplicable);
        assert_eq!(v.detail, "no canary address given");
    }
}
