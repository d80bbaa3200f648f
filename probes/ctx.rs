//! What a probe sees and says: its context (the invocation, the payload's path, the
//! run's key) and its [`Verdict`], and the protocol output every verdict goes through.

use std::io::{self, Write};

use breakout_wire::protocol::{Event, Invocation, Key, Line, ProbeOutcome};

use crate::sys::Errno;

/// What a probe concluded; the runner adds the step when it prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: ProbeOutcome,
    pub mechanism: Option<String>,
    pub detail: String,
    pub nonce: Option<String>,
    /// The route that decided the verdict (`routes::Route::name`); when unset, the
    /// runner names the probe's only route for an escape or a block.
    pub route: Option<&'static str>,
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
            route: None,
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
            route: None,
            already_reported: false,
        }
    }

    /// Blocked by a mechanism the probe names itself, with the whole detail given.
    pub fn blocked_as(mechanism: String, detail: impl Into<String>) -> Self {
        Verdict {
            outcome: ProbeOutcome::Blocked,
            mechanism: Some(mechanism),
            detail: detail.into(),
            nonce: None,
            route: None,
            already_reported: false,
        }
    }

    pub fn not_applicable(mechanism: Option<Errno>, detail: impl Into<String>) -> Self {
        Verdict {
            outcome: ProbeOutcome::NotApplicable,
            mechanism: mechanism.map(Errno::name),
            detail: detail.into(),
            nonce: None,
            route: None,
            already_reported: false,
        }
    }

    /// Nothing can tell the kernel's answer from a filter's: no claim either way.
    pub fn indeterminate(mechanism: Option<Errno>, detail: impl Into<String>) -> Self {
        Verdict {
            outcome: ProbeOutcome::Indeterminate,
            ..Verdict::error(mechanism, detail)
        }
    }

    pub fn error(mechanism: Option<Errno>, detail: impl Into<String>) -> Self {
        Verdict {
            outcome: ProbeOutcome::Error,
            mechanism: mechanism.map(Errno::name),
            detail: detail.into(),
            nonce: None,
            route: None,
            already_reported: false,
        }
    }
}

/// The route of an escape or a block by a probe that has only one.
fn only_route(step: &str, outcome: ProbeOutcome) -> Option<&'static str> {
    if !matches!(outcome, ProbeOutcome::Escaped | ProbeOutcome::Blocked) {
        return None;
    }
    match breakout_wire::probe_id::ProbeId::of_step(step).0 {
        Some(id) => match breakout_wire::routes::routes(id) {
            [only] => Some(only.name),
            _ => None,
        },
        None => None,
    }
}

/// A verdict as the protocol carries it, with its route filled in where the probe has
/// only one.
fn verdict_event(step: &str, verdict: Verdict) -> Event {
    let route = verdict.route.or_else(|| only_route(step, verdict.outcome));
    Event::Verdict {
        step: step.to_string(),
        outcome: verdict.outcome,
        mechanism: verdict.mechanism,
        detail: verdict.detail,
        nonce: verdict.nonce,
        route: route.map(str::to_string),
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
    /// Prints a step's verdict, unless a payload in a child already did.
    pub fn emit_verdict(&self, step: &str, verdict: Verdict) {
        if verdict.already_reported {
            return;
        }
        self.out.emit(verdict_event(step, verdict));
    }

    /// The protocol line of a step's verdict, newline included, for a child to write
    /// with one raw `write` (a child that shares memory cannot go through [`Out`]).
    pub fn verdict_line(step: &str, verdict: Verdict) -> Vec<u8> {
        let mut text = Line::new(verdict_event(step, verdict)).to_json();
        text.push('\n');
        text.into_bytes()
    }

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
