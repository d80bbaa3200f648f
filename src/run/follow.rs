//! Following one container: start it, read its protocol lines as they come (untrusted
//! input, bounded), watch its stderr for a handoff's proof, and end it at the deadline
//! or on an interrupt. What it observed is a [`ContainerOutcome`], which the verdict
//! policy ([`super::settle`]) turns into what happens next.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::bundle::RunDir;
use crate::protocol::{self, Event, ProbeOutcome};
use crate::report::{Outcome, Verdict};
use crate::runtime::{Exit, Runtime, RuntimeError};

use super::collector::{self, Incoming};
use super::witness::{Judged, PendingWitness, Witness};
use super::Decided;

/// How the next container is started: from the bundle's config.json by the OCI
/// runtime, or by an engine from an imported image with these `run` arguments.
pub(super) enum Launch {
    Oci,
    Engine(Vec<String>),
}

/// What one container produced.
#[derive(Default)]
pub(super) struct ContainerOutcome {
    pub(super) hello: bool,
    pub(super) done: bool,
    pub(super) in_flight: Option<String>,
    /// The step in flight handed the process to a program of the image (`handoff`).
    pub(super) handoff: Option<String>,
    /// That program passed the step's handoff token on (the payload's proof, on stderr).
    pub(super) handoff_proof: bool,
    pub(super) last_verdict: Option<String>,
    /// Verdicts waiting for the canary, settled when the container has ended.
    pub(super) pending: Vec<(String, PendingWitness)>,
    pub(super) timed_out: bool,
    pub(super) interrupted: bool,
    pub(super) exit: Option<Exit>,
    pub(super) stderr: String,
    pub(super) notes: Vec<String>,
    /// Notes past [`MAX_NOTES`], counted rather than kept: a flooding container must
    /// not flood the harness's own output.
    pub(super) notes_dropped: usize,
    /// The runtime process to look for the container's init below, where the host's
    /// view of its namespaces means something (see `nsview`).
    pub(super) runtime_pid: Option<i32>,
    /// The container's init, found when the runner said hello.
    pub(super) init: Option<super::nsview::Init>,
    /// The runtime process of an OCI runtime's container, sandbox kernels too.
    pub(super) oci_pid: Option<i32>,
    /// A process charged to the container's memory cgroup, found at hello: its init,
    /// or under a sandbox kernel the sandbox (`memview`).
    pub(super) memory_pid: Option<i32>,
}

pub(super) const MAX_NOTES: usize = 20;

/// How long the container's pipes are still read once the runtime process has ended:
/// its last words are in the pipe by then; what is left holding the pipe (a helper of
/// the runtime, a process of the image) is not waited for.
pub(super) const ORPHAN_PIPE_GRACE: Duration = Duration::from_millis(300);

/// How long a container may go on after the image's program proved a handoff.
pub(super) const HANDOFF_GRACE: Duration = Duration::from_secs(2);

impl ContainerOutcome {
    pub(super) fn note(&mut self, text: String) {
        if self.notes.len() < MAX_NOTES {
            // Notes quote the container: they reach the operator's terminal.
            self.notes.push(crate::sanitize::untrusted(&text));
        } else {
            self.notes_dropped += 1;
        }
    }
}

/// What following one container needs besides the container.
pub(super) struct Follow<'a> {
    pub(super) name: &'a str,
    pub(super) nonce: &'a str,
    pub(super) witness: &'a Witness<'a>,
    pub(super) timeout: Duration,
    pub(super) interrupted: &'a AtomicBool,
}

/// Creates, starts and follows one container until it ends, killing it at the deadline.
/// Each verdict it takes is decided in `verdicts` (and so told to the event stream).
pub(super) fn run_container(
    runtime: &Runtime,
    run_dir: &RunDir,
    launch: &Launch,
    id: &str,
    follow: &Follow,
    verdicts: &mut Decided,
) -> Result<ContainerOutcome, RuntimeError> {
    let (timeout, interrupted) = (follow.timeout, follow.interrupted);
    let (mut container, stdout, stderr) = match launch {
        Launch::Oci => runtime.launch(&run_dir.state(), &run_dir.bundle(), id)?,
        Launch::Engine(args) => runtime.engine_run(
            &run_dir.state(),
            id,
            args,
            &[(protocol::KEY_ENV, follow.witness.key.to_hex())],
        )?,
    };
    let mut pipes =
        collector::Pipes::new(stdout, stderr).map_err(|source| RuntimeError::Spawn {
            command: format!("{} run (its output pipes)", runtime.name),
            source,
        })?;
    let pidfd = container.pidfd();
    let mut deadline = Instant::now() + timeout;
    let mut watching: Option<String> = None;
    let mut out = ContainerOutcome::default();
    if matches!(launch, Launch::Oci) {
        out.oci_pid = container.runtime_pid();
        if runtime.kind.sandbox_kernel.is_none() {
            out.runtime_pid = out.oci_pid;
        }
    }
    let mut exit_seen_at: Option<Instant> = None;
    loop {
        // A line, the end of the output and the runtime's exit (its pidfd) each wake
        // the poll at once; the tick is for the deadline and an interrupt. Without a
        // pidfd, the exit is looked for every millisecond once the output has ended.
        let tick = if pidfd.is_none() && !pipes.stdout_open() {
            Duration::from_millis(1)
        } else {
            Duration::from_millis(20)
        };
        let exit_fd = pidfd
            .as_ref()
            .filter(|_| out.exit.is_none())
            .map(|fd| fd.as_fd());
        pipes.wait(tick, exit_fd, &mut |incoming| match incoming {
            Incoming::Line(text) => handle_line(&text, follow, verdicts, &mut out),
            Incoming::Overlong(start) => out.note(format!(
                "ignored an overlong line from the container: {}…",
                start.chars().take(80).collect::<String>()
            )),
        });
        // Everything the runner said is read: it may end (it holds after `done`).
        if out.done {
            container.release();
        }
        // After a handoff, the image's program owns the process; its payload's proof
        // comes on stderr. Once it came, the step is decided: the container gets a
        // moment to end by itself, then it is ended (a program of the image may hang).
        if let Some(step) = out.handoff.clone() {
            if watching.as_ref() != Some(&step) {
                watch_handoff(&mut pipes, follow.nonce, &step);
                watching = Some(step);
            }
            if pipes.watched_seen() && !out.handoff_proof {
                out.handoff_proof = true;
                deadline = deadline.min(Instant::now() + HANDOFF_GRACE);
            }
        }
        if out.exit.is_none() {
            out.exit = container.poll_exit();
            if out.exit.is_some() {
                exit_seen_at = Some(Instant::now());
            }
        }
        if exit_seen_at.is_some() && !pipes.stdout_open() {
            break;
        }
        // A process that ended while something else holds its stdout: stop waiting soon.
        if exit_seen_at.is_some_and(|at| at.elapsed() > ORPHAN_PIPE_GRACE) {
            break;
        }
        if interrupted.load(Ordering::Relaxed) {
            out.interrupted = true;
            container.kill();
            break;
        }
        if Instant::now() >= deadline && out.exit.is_none() {
            // A container whose handoff step is decided is ended, not timed out.
            out.timed_out = !out.handoff_proof;
            container.kill();
            out.exit = container.wait_until(Instant::now() + Duration::from_secs(5), interrupted);
            // Read what it printed before it died.
            pipes.drain_stdout(
                Instant::now() + Duration::from_millis(200),
                &mut |incoming| {
                    if let Incoming::Line(text) = incoming {
                        handle_line(&text, follow, verdicts, &mut out);
                    }
                },
            );
            break;
        }
    }
    drop(container);
    for (_, pending) in std::mem::take(&mut out.pending) {
        verdicts.decide(follow.witness.settle(pending));
    }
    // The payload's proof may be the last thing in stderr, still unread.
    if let Some(step) = out.handoff.clone() {
        if watching.as_ref() != Some(&step) {
            watch_handoff(&mut pipes, follow.nonce, &step);
        }
    }
    pipes.drain_stderr(ORPHAN_PIPE_GRACE);
    if out.handoff.is_some() && pipes.watched_seen() {
        out.handoff_proof = true;
    }
    out.stderr = pipes.finish_stderr(Duration::ZERO);
    Ok(out)
}

/// An escape out of a namespace, checked on the host: the runner says which namespace
/// it moved to, and the host sees it there (witnessed). Otherwise (a child moved, not
/// the runner) the verdict stays the runner's word, with what the host sees.
fn namespace_witness(verdict: Verdict, init: Option<super::nsview::Init>) -> Verdict {
    use super::nsview;
    let kind = crate::catalog::find(&verdict.probe).and_then(nsview::kind_of);
    let (Some(kind), Some(init), Outcome::Escaped) = (kind, init, verdict.outcome) else {
        return verdict;
    };
    match (nsview::claimed_link(&verdict.detail, kind), init.link(kind)) {
        (Some(claimed), Some(now)) if claimed == now => Verdict {
            detail: format!(
                "{}; the harness sees /proc/{}/ns/{kind} name {now} on the host",
                verdict.detail, init.pid
            ),
            ..verdict
        }
        .evidence(crate::report::Evidence::Witnessed),
        (_, Some(now)) => Verdict {
            detail: format!(
                "{}; on the host the runner's /proc/{}/ns/{kind} names {now}",
                verdict.detail, init.pid
            ),
            ..verdict
        },
        (_, None) => verdict,
    }
}

/// What the host sees of a `host.*` step, read through the held runner: whether its
/// namespace is the harness's own (`HostNamespace`), what limits its memory
/// (`MemoryLimit`). A memory limit below the host's turns the runner's "touched it all"
/// into blocked: its child stayed below a limit that still holds the container.
fn host_witness(verdict: Verdict, out: &ContainerOutcome) -> Verdict {
    use super::{memview, nsview};
    use crate::catalog::WitnessKind as W;
    use crate::report::Evidence;
    let Some(info) = crate::catalog::find(&verdict.probe) else {
        return verdict;
    };
    match (info.witness, verdict.outcome) {
        (W::HostNamespace, Outcome::Escaped) => {
            let Some(init) = out.init else {
                return verdict;
            };
            let Some(kind) = nsview::shared_kind_of(info) else {
                return verdict;
            };
            match nsview::shares_with_harness(init, kind) {
                Some((true, link)) => Verdict {
                    detail: format!(
                        "{}; the harness sees /proc/{}/ns/{kind} name {link}, its own",
                        verdict.detail, init.pid
                    ),
                    ..verdict
                }
                .evidence(Evidence::Witnessed),
                Some((false, link)) => Verdict {
                    detail: format!(
                        "{}; but on the host the runner's /proc/{}/ns/{kind} names {link}, not the harness's",
                        verdict.detail, init.pid
                    ),
                    ..verdict
                },
                None => verdict,
            }
        }
        (W::MemoryLimit, Outcome::Escaped | Outcome::Blocked | Outcome::Indeterminate) => {
            let Some(limit) = out.memory_pid.and_then(memview::limit_of) else {
                return verdict;
            };
            let detail = format!("{}; {}", verdict.detail, limit.describe());
            match (limit, verdict.outcome) {
                (memview::Limit::None { .. }, Outcome::Escaped) => {
                    Verdict { detail, ..verdict }.evidence(Evidence::Witnessed)
                }
                // Whatever the probe could try (no child to take memory in), the limit
                // keeps the container from the host's memory.
                (memview::Limit::Bytes { .. }, _) => Verdict {
                    outcome: Outcome::Blocked,
                    mechanism: Some(crate::report::mechanism::Kind::MemoryLimit.into()),
                    detail,
                    ..verdict
                }
                .evidence(Evidence::Witnessed),
                _ => Verdict { detail, ..verdict },
            }
        }
        _ => verdict,
    }
}

/// Looks on the container's stderr for the proof of a payload that a program of the
/// image started in handoff step `step` (see `protocol::HANDOFF_PROOF`).
fn watch_handoff(pipes: &mut collector::Pipes, nonce: &str, step: &str) {
    let token = protocol::handoff_token(nonce, step);
    pipes.watch_stderr(&format!("{} {token}", protocol::HANDOFF_PROOF));
}

fn handle_line(text: &str, follow: &Follow, verdicts: &mut Decided, out: &mut ContainerOutcome) {
    let (runtime, nonce, witness) = (follow.name, follow.nonce, follow.witness);
    let all_steps = verdicts.all_steps;
    let event = match protocol::parse_line(text) {
        Ok(event) => event,
        Err(e) => {
            out.note(format!(
                "ignored a line from the container ({e}): {}",
                text.chars().take(120).collect::<String>()
            ));
            return;
        }
    };
    match event {
        Event::Hello { nonce: said, .. } => {
            if said != nonce {
                out.note("the runner greeted with another container's nonce".to_string());
            }
            out.hello = true;
            out.init = out.runtime_pid.and_then(super::nsview::Init::find);
            out.memory_pid = out
                .init
                .map(|init| init.pid)
                .or_else(|| out.oci_pid.and_then(super::memview::in_other_memory_cgroup));
        }
        Event::Start { step } => {
            if all_steps.contains(&step) && !verdicts.contains(&step) {
                out.in_flight = Some(step);
                out.handoff = None;
            } else {
                out.note(format!(
                    "ignored start of unplanned or decided step {step:?}"
                ));
            }
        }
        Event::Handoff { step } => {
            let hands_off =
                crate::catalog::find(protocol::split_step(&step).0).is_some_and(|p| p.hands_off);
            if out.in_flight.as_ref() == Some(&step) && hands_off {
                out.handoff = Some(step);
            } else {
                out.note(format!(
                    "ignored a handoff of step {step:?}, which is not in flight or never hands off"
                ));
            }
        }
        Event::Verdict {
            step,
            outcome,
            mechanism,
            detail,
            nonce: payload_nonce,
            route,
        } => {
            // A step's verdict is taken once, while that step is in flight; anything
            // else (a duplicate line, a step out of turn) changes nothing.
            if out.in_flight.as_ref() != Some(&step)
                || verdicts.contains(&step)
                || out.pending.iter().any(|(s, _)| *s == step)
            {
                out.note(format!(
                    "ignored a verdict for step {step:?}, which is not in flight or already decided"
                ));
                return;
            }
            let outcome = match outcome {
                ProbeOutcome::Escaped => Outcome::Escaped,
                ProbeOutcome::Blocked => Outcome::Blocked,
                ProbeOutcome::NotApplicable => Outcome::NotApplicable,
                ProbeOutcome::Indeterminate => Outcome::Indeterminate,
                ProbeOutcome::Error => Outcome::Error,
            };
            // The runner's words, which quote what the image holds (paths, errors):
            // made plain text here, where they enter.
            let verdict =
                Verdict::new(runtime, &step, outcome, crate::sanitize::untrusted(&detail))
                    .mechanism(mechanism.as_deref().map(crate::sanitize::untrusted))
                    .route(route.as_deref());
            let verdict = host_witness(namespace_witness(verdict, out.init), out);
            let judged = witness.judge(
                verdict,
                nonce,
                payload_nonce.as_deref(),
                Instant::now(),
                out.init,
            );
            match judged {
                Judged::Final(verdict) => verdicts.decide(verdict),
                Judged::Pending(pending) => out.pending.push((step.clone(), pending)),
            }
            out.in_flight = None;
            out.handoff = None;
            out.last_verdict = Some(step);
        }
        Event::Done => out.done = true,
    }
}
