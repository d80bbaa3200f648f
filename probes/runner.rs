//! The suite runner: expands probe ids into steps, skips what a previous container
//! already ran, runs each step in-process and prints the protocol lines.

use breakout_wire::catalog;
use breakout_wire::faults::Fault;
use breakout_wire::protocol::Event;

use crate::ctx::{Ctx, Verdict};
use crate::registry::run_step;

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
        let verdict = crate::traced::past_trace(ctx, step, run_step(ctx, step), run_step);
        ctx.emit_verdict(step, verdict);
        if matches!(fault(ctx), Some(Fault::Dup(at)) if at == *step) {
            // The step again, with a contradicting verdict: the first one stands.
            ctx.out.emit(Event::Start { step: step.clone() });
            ctx.emit_verdict(
                step,
                Verdict::error(None, "a duplicate verdict line (fault dup@STEP)"),
            );
        }
    }
    ctx.out.emit(Event::Done);
    if ctx.inv.hold {
        hold_until_released();
    }
}

/// The fault the invocation asks for, if any (one the harness validated).
pub fn fault(ctx: &Ctx) -> Option<Fault> {
    ctx.inv.fault.as_deref().and_then(|f| Fault::parse(f).ok())
}

/// Misbehaves on request, so tests can drive the harness's timeout and death paths
/// with a real container. Never used unless `--fault` is given.
fn inject_fault(ctx: &Ctx, step: &str) {
    let Some(fault) = fault(ctx).filter(|f| f.step() == Some(step)) else {
        return;
    };
    match fault {
        Fault::Hang(_) => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        Fault::Exit(_) => std::process::exit(3),
        // Time for a test to act beside a running step (e.g. flood the canary).
        Fault::Pause(_) => std::thread::sleep(std::time::Duration::from_secs(2)),
        Fault::ForkBomb(_) => fork_bomb(),
        Fault::Flood(_) => flood(ctx),
        // Acted on elsewhere: after the step's verdict, after hello, before hello.
        Fault::Dup(_) | Fault::Garbage | Fault::Silent => {}
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
    if fault(ctx) == Some(Fault::Garbage) {
        ctx.out.raw("this is not json");
        ctx.out.raw(r#"{"v":99,"event":"done"}"#);
        ctx.out
            .raw(&"x".repeat(breakout_wire::protocol::MAX_LINE * 2));
        ctx.out.raw(r#"{"v":2,"event":"verdict","step":"not.planned","outcome":"escaped","mechanism":null,"detail":"","nonce":null}"#);
    }
}

/// Stays until stdin is closed (the harness read `done`), then returns. A read that
/// fails ends the wait too: nothing is left to wait for.
fn hold_until_released() {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: reads into a buffer of ours of the length passed.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0
            || (n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted)
        {
            return;
        }
    }
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
}
