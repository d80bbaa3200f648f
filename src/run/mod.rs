//! One run: a bundle, a canary, one container (plus one per probe that killed its
//! container), the collector, witness checks, and the run's verdicts.

pub mod canary;
pub mod collector;
pub mod netns;
pub mod triage;

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxSeccomp;

use crate::bundle::{self, BundleError, RunDir};
use crate::catalog::{ProbeInfo, CATALOG};
use crate::container::{self, Settings, PROBE_PATH, PROVIDED_SHELL_PATH};
use crate::protocol::{self, Event, Invocation, Key, ProbeOutcome, Purpose};
use crate::report::{Evidence, Outcome, RunReport, StartStatus, Verdict};
use crate::runtime::{Exit, Runtime, RuntimeError};

use canary::Canary;
use collector::Incoming;

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub settings: Settings,
    /// The resolved filter, or `None` for no filter.
    pub seccomp: Option<LinuxSeccomp>,
    pub probes: Vec<&'static ProbeInfo>,
    pub probe_bin: PathBuf,
    /// Deadline for each container.
    pub timeout: Duration,
    /// A fault for the runner to inject (tests of the harness's own error paths).
    pub fault: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("failed to start the canary listener: {0}")]
    Canary(std::io::Error),
    #[error("failed to make the run's key: {0}")]
    Key(std::io::Error),
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
}

/// Selects catalog probes by glob patterns; no patterns means all of them.
pub fn select_probes(patterns: &[String]) -> Result<Vec<&'static ProbeInfo>, String> {
    if patterns.is_empty() {
        return Ok(CATALOG.iter().collect());
    }
    let mut matchers = Vec::new();
    for pattern in patterns {
        let matcher = ProbeMatcher::new(pattern)?;
        if !CATALOG.iter().any(|p| matcher.is_match(p.id)) {
            return Err(format!(
                "--probe {pattern:?} matches no probe (see `breakout probes`)"
            ));
        }
        matchers.push(matcher);
    }
    Ok(CATALOG
        .iter()
        .filter(|p| matchers.iter().any(|m| m.is_match(p.id)))
        .collect())
}

/// One `--probe` pattern. A plain probe id is compared as it is: compiling it as a
/// glob costs a regex build, a fixed cost on every run for nothing.
enum ProbeMatcher {
    Exact(String),
    Glob(globset::GlobMatcher),
}

impl ProbeMatcher {
    fn new(pattern: &str) -> Result<ProbeMatcher, String> {
        if !pattern.contains(['*', '?', '[', ']', '{', '}', '\\']) {
            return Ok(ProbeMatcher::Exact(pattern.to_string()));
        }
        let glob = globset::Glob::new(pattern).map_err(|e| format!("--probe {pattern:?}: {e}"))?;
        Ok(ProbeMatcher::Glob(glob.compile_matcher()))
    }

    fn is_match(&self, id: &str) -> bool {
        match self {
            ProbeMatcher::Exact(name) => name == id,
            ProbeMatcher::Glob(glob) => glob.is_match(id),
        }
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGSYS => "SIGSYS".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        other => format!("signal {other}"),
    }
}

/// Host-side witness places of one run; removes what the probes left there on drop.
struct Witness<'a> {
    /// The nonce of each container so far: each container gets its own, so that what a
    /// program of the image learns in one container (the nonce is on its command line)
    /// names nothing in the next one, on the rootfs or a volume it could tamper with.
    nonces: std::cell::RefCell<Vec<String>>,
    /// The run's secret: witnesses are made from it (see `protocol::Key`).
    key: Key,
    rootfs_writes: PathBuf,
    settings: &'a Settings,
    canary: Option<Canary>,
}

impl Witness<'_> {
    fn marker_name(nonce: &str) -> String {
        format!(".breakout-marker-{nonce}")
    }

    /// Takes the marker of `step` out of `dir` (the container's, so through
    /// [`bundle::inroot`]: a link, FIFO or device there is never followed or read);
    /// true if it was a regular file holding the step's marker token.
    fn take_marker(&self, dir: &Path, nonce: &str, step: &str) -> bool {
        let expected = self.key.token(Purpose::Marker, step);
        bundle::inroot::take_witness_file(dir, &Self::marker_name(nonce))
            .is_some_and(|content| content == expected.as_bytes())
    }

    /// Upgrades an escape the probe reported to witnessed where we can see its effect.
    /// What the canary must confirm is settled later ([`Witness::settle`]), by a
    /// deadline counted from when the verdict arrived: the wait overlaps with the rest
    /// of the suite instead of holding up the reading of its output.
    fn judge(
        &self,
        verdict: Verdict,
        nonce: &str,
        payload_nonce: Option<&str>,
        arrived: Instant,
    ) -> Judged {
        if verdict.outcome != Outcome::Escaped {
            return Judged::Final(verdict.evidence(Evidence::Reported));
        }
        if let Some(payload) = payload_nonce {
            return Judged::Final(if payload == nonce {
                verdict.evidence(Evidence::Witnessed)
            } else {
                Verdict {
                    outcome: Outcome::Error,
                    detail: format!(
                        "a payload printed a nonce that is not this container's: {}",
                        verdict.detail
                    ),
                    ..verdict
                }
            });
        }
        let witnessed = match (verdict.probe.as_str(), verdict.target.as_deref()) {
            (
                "net.tcp-connect" | "net.udp-send" | "net.io-uring-connect" | "net.i386-socketcall",
                _,
            ) => {
                // A connection the probe made has reached the canary already. The UDP
                // probe reports escaped after the canary's answer (recorded before it
                // is sent) or after 500 ms of silence (the datagram had that long), so
                // the short wait only covers the canary's thread catching up.
                let patience = if verdict.probe == "net.udp-send" {
                    Duration::from_millis(10)
                } else {
                    Duration::from_secs(2)
                };
                let token = protocol::canary_token(&self.key, &verdict.step());
                if self
                    .canary
                    .as_ref()
                    .is_some_and(|c| c.saw(&token, Duration::ZERO))
                {
                    true
                } else if self.canary.is_some() {
                    return Judged::Pending(PendingWitness {
                        verdict,
                        token,
                        deadline: arrived + patience,
                    });
                } else {
                    false
                }
            }
            ("fs.write-rootfs", _) => self.take_marker(&self.rootfs_writes, nonce, &verdict.step()),
            ("fs.write-mount", Some(target)) => match self.settings.host_source(target) {
                Some(source) => self.take_marker(source, nonce, &verdict.step()),
                None => false,
            },
            _ => false,
        };
        Judged::Final(Self::conclude(verdict, witnessed))
    }

    /// Waits for the canary until the pending verdict's deadline, and concludes it.
    fn settle(&self, pending: PendingWitness) -> Verdict {
        let left = pending.deadline.saturating_duration_since(Instant::now());
        let witnessed = self
            .canary
            .as_ref()
            .is_some_and(|c| c.saw(&pending.token, left));
        Self::conclude(pending.verdict, witnessed)
    }

    fn conclude(verdict: Verdict, witnessed: bool) -> Verdict {
        if witnessed {
            verdict.evidence(Evidence::Witnessed)
        } else if verdict.probe == "net.udp-send" {
            // Sending a datagram succeeds whether or not anything can receive it: only
            // the canary's receipt makes it an escape.
            Verdict {
                outcome: Outcome::Blocked,
                mechanism: Some("not-received".into()),
                detail: format!("{}; the canary never received it", verdict.detail),
                ..verdict
            }
            .evidence(Evidence::Witnessed)
        } else {
            verdict.evidence(Evidence::Reported)
        }
    }
}

/// A verdict the harness has judged, or one waiting for the canary's word.
enum Judged {
    Final(Verdict),
    Pending(PendingWitness),
}

/// An escape the canary has not confirmed yet, to settle by `deadline`.
struct PendingWitness {
    verdict: Verdict,
    token: String,
    deadline: Instant,
}

impl Drop for Witness<'_> {
    fn drop(&mut self) {
        // Everything a probe may leave on a mount when its container dies mid-step.
        for nonce in self.nonces.borrow().iter() {
            let names = [
                Self::marker_name(nonce),
                format!(".breakout-exec-{nonce}"),
                format!(".breakout-script-{nonce}"),
                format!(".breakout-mmap-{nonce}"),
                format!(".breakout-suid-{nonce}"),
                format!(".breakout-dev-{nonce}"),
            ];
            for volume in &self.settings.volumes {
                for name in &names {
                    let _ = std::fs::remove_file(volume.source.join(name));
                }
            }
        }
    }
}

/// How the next container is started: from the bundle's config.json by the OCI
/// runtime, or by an engine from an imported image with these `run` arguments.
enum Launch {
    Oci,
    Engine(Vec<String>),
}

/// What one container produced.
#[derive(Default)]
struct ContainerOutcome {
    hello: bool,
    done: bool,
    in_flight: Option<String>,
    /// The step in flight handed the process to a program of the image (`handoff`).
    handoff: Option<String>,
    /// That program passed the step's handoff token on (the payload's proof, on stderr).
    handoff_proof: bool,
    last_verdict: Option<String>,
    /// Verdicts waiting for the canary, settled when the container has ended.
    pending: Vec<(String, PendingWitness)>,
    timed_out: bool,
    interrupted: bool,
    exit: Option<Exit>,
    stderr: String,
    notes: Vec<String>,
    /// Notes past [`MAX_NOTES`], counted rather than kept: a flooding container must
    /// not flood the harness's own output.
    notes_dropped: usize,
}

const MAX_NOTES: usize = 20;

/// How long the container's pipes are still read once the runtime process has ended:
/// its last words are in the pipe by then; what is left holding the pipe (a helper of
/// the runtime, a process of the image) is not waited for.
const ORPHAN_PIPE_GRACE: Duration = Duration::from_millis(300);

/// How long a container may go on after the image's program proved a handoff.
const HANDOFF_GRACE: Duration = Duration::from_secs(2);

impl ContainerOutcome {
    fn note(&mut self, text: String) {
        if self.notes.len() < MAX_NOTES {
            // Notes quote the container: they reach the operator's terminal.
            self.notes.push(crate::sanitize::untrusted(&text));
        } else {
            self.notes_dropped += 1;
        }
    }
}

/// Hears of a run's progress, for a progress bar. Called from the run's thread.
pub trait Progress: Sync {
    /// The run is about to start `total` probe steps.
    fn begin(&self, _runtime: &str, _total: usize) {}
    /// A step got its verdict.
    fn step(&self, _runtime: &str, _step: &str) {}
    /// The run is over.
    fn end(&self, _runtime: &str) {}
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What following one container needs besides the container.
struct Follow<'a> {
    name: &'a str,
    nonce: &'a str,
    all_steps: &'a [String],
    witness: &'a Witness<'a>,
    timeout: Duration,
    interrupted: &'a AtomicBool,
    progress: &'a dyn Progress,
}

/// Runs the plan under one runtime and returns its verdicts.
pub fn execute(
    plan: &Plan,
    runtime: &Runtime,
    interrupted: &AtomicBool,
) -> Result<RunReport, RunError> {
    execute_with(plan, runtime, interrupted, &NoProgress)
}

/// [`execute`], telling `progress` about each verdict.
pub fn execute_with(
    plan: &Plan,
    runtime: &Runtime,
    interrupted: &AtomicBool,
    progress: &dyn Progress,
) -> Result<RunReport, RunError> {
    let runtime = &runtime
        .for_network(plan.settings.network)
        .with_cli_deadline(plan.timeout);
    let version = runtime
        .version()
        .unwrap_or_else(|e| crate::runtime::RuntimeVersion {
            name: runtime.name.clone(),
            binary: runtime.binary.clone(),
            version: format!("unknown ({e})"),
            ..Default::default()
        });
    let mut run_dir = RunDir::create()?;
    if let Some(entry) = run_dir.ledger() {
        entry.set_runtime(runtime);
    }
    let mut shell = None;
    let mut provided_shell = None;
    match &plan.settings.rootfs {
        None => run_dir.build_default_rootfs(&bundle::find_static_busybox()?)?,
        Some(lower) => {
            run_dir.overlay_user_rootfs(lower)?;
            // Resolved as the container will (inside the image, never out of it).
            let has_shell = bundle::inroot::exists_in_root(lower, "/bin/sh");
            if !has_shell {
                provided_shell = bundle::find_static_busybox().ok();
                if provided_shell.is_some() {
                    shell = Some(PROVIDED_SHELL_PATH.to_string());
                }
            }
        }
    }
    // Declared before the canary so the namespaces outlive the sockets inside them.
    let bridge = match plan.settings.network {
        container::Network::Bridge => {
            let net = netns::BridgeNet::create()?;
            if let Some(entry) = run_dir.ledger() {
                entry.add_netns(net.created());
            }
            Some(net)
        }
        _ => None,
    };
    let key = Key::random().map_err(RunError::Key)?;
    let mounts = plan.settings.mount_points();
    let probe_ids: Vec<String> = plan.probes.iter().map(|p| p.id.to_string()).collect();
    let all_steps = crate::catalog::expand_steps(&probe_ids, &mounts);
    // Only network probes talk to the canary; without them there is none to start. It
    // records nothing but the tokens of this run's network steps.
    let expected: std::collections::HashSet<String> = all_steps
        .iter()
        .filter(|step| {
            crate::catalog::find(protocol::split_step(step).0)
                .is_some_and(|p| p.goal == crate::catalog::Goal::Net)
        })
        .map(|step| protocol::canary_token(&key, step))
        .collect();
    let canary = match (&bridge, expected.is_empty()) {
        (_, true) => None,
        (Some(net), false) => {
            let (tcp, udp) = net.in_canary_ns(|| Canary::bind(netns::CANARY_IP))?;
            Some(Canary::from_sockets(tcp, udp, expected).map_err(RunError::Canary)?)
        }
        (None, false) => Some(Canary::start(expected).map_err(RunError::Canary)?),
    };
    let witness = Witness {
        nonces: Default::default(),
        key,
        rootfs_writes: run_dir.rootfs_writes().to_path_buf(),
        settings: &plan.settings,
        canary,
    };

    let mut verdicts: BTreeMap<String, Verdict> = BTreeMap::new();
    let mut after: Option<String> = None;
    // Engines run images, not bundles: the rootfs is imported once per run.
    let mut image = None;
    let mut import_error = None;
    if runtime.engine().is_some() {
        let tag = format!("breakout-rootfs:{}", bundle::unique_token());
        match runtime.import_image(&run_dir.state(), &run_dir.rootfs(), &tag) {
            Ok(()) => image = Some(tag),
            Err(e) => import_error = Some(e.to_string()),
        }
    }
    let mut containers = 0u32;
    let mut start = StartStatus::Started;
    let name = runtime.name.as_str();
    let mut was_interrupted = false;
    progress.begin(name, all_steps.len());

    if let Some(error) = import_error {
        start = StartStatus::FailedToStart { error };
    }
    // Each pass is one container; a pass ends in done, a kill (resume), or a failure.
    while start == StartStatus::Started && containers as usize <= all_steps.len() {
        if interrupted.load(Ordering::Relaxed) {
            was_interrupted = true;
            break;
        }
        containers += 1;
        let nonce = format!("nonce-{}", bundle::unique_token());
        witness.nonces.borrow_mut().push(nonce.clone());
        let follow = Follow {
            name,
            nonce: &nonce,
            all_steps: &all_steps,
            witness: &witness,
            timeout: plan.timeout,
            interrupted,
            progress,
        };
        let invocation = Invocation {
            nonce: nonce.clone(),
            after: after.clone(),
            canary: witness.canary.as_ref().map(|c| c.addr().to_string()),
            shell: shell.clone(),
            mounts: mounts.clone(),
            probes: probe_ids.clone(),
            fault: plan.fault.clone(),
        };
        let netns = bridge.as_ref().map(|b| b.container_path());
        let inputs = spec_inputs(
            plan,
            &invocation,
            provided_shell.as_deref(),
            netns,
            &witness.key,
        );
        let launch = match &image {
            Some(tag) => {
                let mut args = runtime.engine_args(&inputs);
                args.push(tag.clone());
                args.extend(inputs.args.iter().cloned());
                Launch::Engine(args)
            }
            None => {
                run_dir.write_spec(&container::build_spec(&inputs))?;
                Launch::Oci
            }
        };
        let id = format!("breakout-{}-{}", bundle::unique_token(), containers);
        if let Some(entry) = run_dir.ledger() {
            entry.add_container(&id);
        }
        let result = run_container(runtime, &run_dir, &launch, &id, &follow, &mut verdicts);
        let outcome = match result {
            Ok(o) => o,
            Err(e) if containers == 1 => {
                // The runtime itself refused: that is a start failure, with its text.
                start = StartStatus::FailedToStart {
                    error: crate::sanitize::untrusted_lines(&e.to_string()),
                };
                break;
            }
            Err(e) => {
                let error = crate::sanitize::untrusted_lines(&e.to_string());
                resume_failed(&mut verdicts, &all_steps, name, &error);
                break;
            }
        };
        for note in &outcome.notes {
            eprintln!("breakout: {name}: {note}");
        }
        if outcome.notes_dropped > 0 {
            eprintln!(
                "breakout: {name}: and {} more such notes",
                outcome.notes_dropped
            );
        }
        if outcome.interrupted {
            was_interrupted = true;
            break;
        }
        if !outcome.hello {
            let error = describe_start_failure(&outcome);
            if containers == 1 {
                start = StartStatus::FailedToStart { error };
            } else {
                resume_failed(&mut verdicts, &all_steps, name, &error);
            }
            break;
        }
        if let Some(step) = outcome.in_flight.clone() {
            let verdict = if outcome.handoff.as_ref() == Some(&step) {
                handoff_verdict(name, &step, &outcome, plan.timeout)
            } else if outcome.timed_out {
                Verdict::new(
                    name,
                    &step,
                    Outcome::Error,
                    format!(
                        "no verdict within {}s; the container was killed",
                        plan.timeout.as_secs()
                    ),
                )
                .mechanism(Some("timeout"))
            } else {
                match outcome.exit {
                    Some(Exit::Signal(libc::SIGSYS)) => Verdict::new(
                        name,
                        &step,
                        Outcome::Blocked,
                        "the container died of SIGSYS during this probe (seccomp kill or trap)",
                    )
                    .mechanism(Some("SIGSYS"))
                    .evidence(Evidence::Witnessed),
                    Some(Exit::Signal(sig)) => Verdict::new(
                        name,
                        &step,
                        Outcome::Error,
                        format!(
                            "the container died of {} during this probe",
                            signal_name(sig)
                        ),
                    )
                    .mechanism(Some(signal_name(sig))),
                    Some(Exit::Code(code)) => Verdict::new(
                        name,
                        &step,
                        Outcome::Error,
                        format!("the runner exited with status {code} during this probe"),
                    ),
                    Some(Exit::Unknown) | None => Verdict::new(
                        name,
                        &step,
                        Outcome::Error,
                        "the container ended during this probe; its exit status is unknown",
                    ),
                }
            };
            verdicts.insert(step.clone(), verdict);
            progress.step(name, &step);
            after = Some(step);
            continue;
        }
        if outcome.done {
            break;
        }
        // Ended between probes without saying done: resume after the last verdict if
        // this container made progress, otherwise give up on the rest.
        match outcome.last_verdict.clone() {
            Some(step) if !outcome.timed_out => after = Some(step),
            _ => {
                let why = if outcome.timed_out {
                    format!(
                        "the runner went silent for {}s between probes",
                        plan.timeout.as_secs()
                    )
                } else {
                    format!(
                        "the runner ended without finishing ({})",
                        describe_exit(outcome.exit)
                    )
                };
                for step in &all_steps {
                    verdicts
                        .entry(step.clone())
                        .or_insert_with(|| Verdict::new(name, step, Outcome::Error, why.clone()));
                }
                break;
            }
        }
    }

    let (missing_outcome, missing_detail, missing_mechanism) = match (&start, was_interrupted) {
        (StartStatus::FailedToStart { error }, _) => (
            Outcome::NotRun,
            format!("the container did not start: {}", first_line(error)),
            Some("start-failure"),
        ),
        (_, true) => (
            Outcome::NotRun,
            "interrupted before this probe ran".to_string(),
            Some("interrupted"),
        ),
        _ => (Outcome::NotRun, "never reached".to_string(), None),
    };
    let verdicts: Vec<Verdict> = all_steps
        .iter()
        .map(|step| {
            verdicts.remove(step).unwrap_or_else(|| {
                Verdict::new(name, step, missing_outcome, missing_detail.clone())
                    .mechanism(missing_mechanism)
            })
        })
        .collect();
    progress.end(name);
    if let Some(tag) = &image {
        runtime.remove_image(&run_dir.state(), tag);
    }
    drop(witness);
    drop(bridge);
    drop(run_dir);
    Ok(RunReport {
        runtime: version,
        start,
        containers,
        escapes_by_goal: crate::report::GoalEscapes::of(&verdicts),
        profile_handling: runtime.kind.profile_handling(),
        triage: None,
        verdicts,
    })
}

/// The verdict of a step that handed the process to a program of the image and never
/// got it back: the exec worked, so the image's program ran, whatever it did next. It
/// is never "blocked": a seccomp kill of the exec itself would have come before the
/// handoff (see `exec::handoff` in the probes). Nothing the program printed counts.
fn handoff_verdict(
    runtime: &str,
    step: &str,
    outcome: &ContainerOutcome,
    timeout: Duration,
) -> Verdict {
    let after = match outcome.exit {
        Some(Exit::Signal(sig)) => format!("; it then died of {}", signal_name(sig)),
        Some(Exit::Code(code)) => format!("; it then exited with status {code}"),
        _ => String::new(),
    };
    let verdict = if outcome.handoff_proof {
        Verdict::new(
            runtime,
            step,
            Outcome::Escaped,
            format!("a program of the image ran: the runner handed the process to it and the payload it started proved it with the step's token{after}"),
        )
        .evidence(Evidence::Witnessed)
    } else if outcome.timed_out {
        Verdict::new(
            runtime,
            step,
            Outcome::Error,
            format!("the runner handed the process to a program of the image, which neither proved itself nor ended within {}s; the container was killed", timeout.as_secs()),
        )
        .mechanism(Some("timeout"))
    } else {
        Verdict::new(
            runtime,
            step,
            Outcome::Escaped,
            format!("the runner handed the process to a program of the image and never got it back (the exec worked); the program gave no proof{after}"),
        )
        .evidence(Evidence::Reported)
    };
    verdict.ran_image_code()
}

/// A container started to resume the suite did not start: what is left is not-run.
fn resume_failed(
    verdicts: &mut BTreeMap<String, Verdict>,
    all_steps: &[String],
    runtime: &str,
    error: &str,
) {
    for step in all_steps {
        verdicts.entry(step.clone()).or_insert_with(|| {
            Verdict::new(
                runtime,
                step,
                Outcome::NotRun,
                format!("the container started to resume the suite did not start: {error}"),
            )
            .mechanism(Some("start-failure"))
        });
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
}

fn describe_exit(exit: Option<Exit>) -> String {
    match exit {
        Some(Exit::Code(c)) => format!("exit status {c}"),
        Some(Exit::Signal(s)) => format!("killed by {}", signal_name(s)),
        Some(Exit::Unknown) => "exit status unknown".into(),
        None => "still running".into(),
    }
}

/// A runtime's error text, with JSON log lines (podman, crun) reduced to their message,
/// made plain text (it carries the container's stderr).
fn runtime_error_text(stderr: &str) -> String {
    let text = stderr
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("msg").and_then(|m| m.as_str()).map(str::to_string))
                .unwrap_or_else(|| line.to_string())
        })
        .collect::<Vec<_>>()
        .join("\n");
    crate::sanitize::untrusted_lines(text.trim())
}

fn describe_start_failure(outcome: &ContainerOutcome) -> String {
    let text = runtime_error_text(&outcome.stderr);
    if !text.is_empty() {
        text
    } else if outcome.timed_out {
        "nothing came from the container before the deadline: the runtime or the container hung"
            .to_string()
    } else {
        format!(
            "the container ended before the probe runner started ({})",
            describe_exit(outcome.exit)
        )
    }
}

/// Creates, starts and follows one container until it ends, killing it at the deadline.
fn run_container(
    runtime: &Runtime,
    run_dir: &RunDir,
    launch: &Launch,
    id: &str,
    follow: &Follow,
    verdicts: &mut BTreeMap<String, Verdict>,
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
    for (step, pending) in std::mem::take(&mut out.pending) {
        verdicts.insert(step, follow.witness.settle(pending));
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

/// Looks on the container's stderr for the proof of a payload that a program of the
/// image started in handoff step `step` (see `protocol::HANDOFF_PROOF`).
fn watch_handoff(pipes: &mut collector::Pipes, nonce: &str, step: &str) {
    let token = protocol::handoff_token(nonce, step);
    pipes.watch_stderr(&format!("{} {token}", protocol::HANDOFF_PROOF));
}

fn handle_line(
    text: &str,
    follow: &Follow,
    verdicts: &mut BTreeMap<String, Verdict>,
    out: &mut ContainerOutcome,
) {
    let (runtime, nonce, all_steps, witness) =
        (follow.name, follow.nonce, follow.all_steps, follow.witness);
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
        }
        Event::Start { step } => {
            if all_steps.contains(&step) && !verdicts.contains_key(&step) {
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
        } => {
            // A step's verdict is taken once, while that step is in flight; anything
            // else (a duplicate line, a step out of turn) changes nothing.
            if out.in_flight.as_ref() != Some(&step)
                || verdicts.contains_key(&step)
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
                ProbeOutcome::Error => Outcome::Error,
            };
            // The runner's words, which quote what the image holds (paths, errors):
            // made plain text here, where they enter.
            let verdict =
                Verdict::new(runtime, &step, outcome, crate::sanitize::untrusted(&detail))
                    .mechanism(mechanism.as_deref().map(crate::sanitize::untrusted));
            match witness.judge(verdict, nonce, payload_nonce.as_deref(), Instant::now()) {
                Judged::Final(verdict) => {
                    verdicts.insert(step.clone(), verdict);
                }
                Judged::Pending(pending) => out.pending.push((step.clone(), pending)),
            }
            follow.progress.step(runtime, &step);
            out.in_flight = None;
            out.handoff = None;
            out.last_verdict = Some(step);
        }
        Event::Done => out.done = true,
    }
}

/// A run that never happened (interrupted before its runtime's turn): every step
/// not-run, saying why.
pub fn not_run(plan: &Plan, runtime: &Runtime, reason: &str) -> RunReport {
    let mounts = plan.settings.mount_points();
    let probe_ids: Vec<String> = plan.probes.iter().map(|p| p.id.to_string()).collect();
    let verdicts: Vec<Verdict> = crate::catalog::expand_steps(&probe_ids, &mounts)
        .iter()
        .map(|step| {
            Verdict::new(&runtime.name, step, Outcome::NotRun, reason)
                .mechanism(Some("interrupted"))
        })
        .collect();
    RunReport {
        runtime: crate::runtime::RuntimeVersion {
            name: runtime.name.clone(),
            binary: runtime.binary.clone(),
            flags: runtime.flags.clone(),
            ..Default::default()
        },
        start: StartStatus::NotRun {
            reason: reason.to_string(),
        },
        containers: 0,
        escapes_by_goal: Vec::new(),
        profile_handling: runtime.kind.profile_handling(),
        triage: None,
        verdicts,
    }
}

/// One runtime's run, with triage when its container does not start.
pub fn run_one(
    plan: &Plan,
    runtime: &Runtime,
    interrupted: &AtomicBool,
    progress: &dyn Progress,
) -> Result<RunReport, RunError> {
    let mut run = execute_with(plan, runtime, interrupted, progress)?;
    if matches!(run.start, StartStatus::FailedToStart { .. }) {
        if let Some(problem) = crate::doctor::runtime_problem(runtime) {
            // Not the profile's doing: say what is, and skip the bisection.
            run.triage = Some(crate::report::Triage {
                needed: Vec::new(),
                attempts: 0,
                conclusion: problem,
            });
        } else {
            run.triage = triage::triage(plan, runtime, interrupted)?;
        }
    }
    Ok(run)
}

/// Writes the bundle of the plan's first container to `dir` (absent or empty) and
/// starts nothing: config.json as the harness would write it (its probe bind mount
/// included) and the default rootfs. For running the probes by hand, e.g. to see
/// what they cost without the harness: `RUNTIME run --bundle DIR ID`. Net probes are
/// given a loopback canary address with nothing listening behind it. Returns the
/// canary address given, if any.
pub fn emit_bundle(plan: &Plan, dir: &Path) -> Result<Option<String>, RunError> {
    let mut run_dir = RunDir::keep_at(dir)?;
    run_dir.build_default_rootfs(&bundle::find_static_busybox()?)?;
    let canary = if plan
        .probes
        .iter()
        .any(|p| p.goal == crate::catalog::Goal::Net)
    {
        // A port that was free a moment ago: the probes meet a closed port there.
        let (tcp, _udp) = Canary::bind("127.0.0.1").map_err(RunError::Canary)?;
        Some(tcp.local_addr().map_err(RunError::Canary)?.to_string())
    } else {
        None
    };
    let invocation = Invocation {
        nonce: format!("nonce-{}", bundle::unique_token()),
        after: None,
        canary: canary.clone(),
        shell: None,
        mounts: plan.settings.mount_points(),
        probes: plan.probes.iter().map(|p| p.id.to_string()).collect(),
        fault: plan.fault.clone(),
    };
    // A key of its own, in config.json (the bundle's, written root-only).
    let key = Key::random().map_err(RunError::Key)?;
    run_dir.write_spec(&container::build_spec(&spec_inputs(
        plan,
        &invocation,
        None,
        None,
        &key,
    )))?;
    Ok(canary)
}

/// What a container's spec is made from: the plan's settings, and the runner started
/// with `invocation`.
fn spec_inputs<'a>(
    plan: &'a Plan,
    invocation: &Invocation,
    provided_shell: Option<&'a Path>,
    netns: Option<PathBuf>,
    key: &'a Key,
) -> container::SpecInputs<'a> {
    let mut args = vec![PROBE_PATH.to_string(), "run".to_string()];
    args.extend(invocation.to_args());
    container::SpecInputs {
        settings: &plan.settings,
        probe_bin: &plan.probe_bin,
        provided_shell,
        args,
        seccomp: plan.seccomp.clone(),
        netns,
        key: Some(key),
    }
}

/// Runs the plan under every runtime, up to `jobs` at once, results in runtime order.
/// Runtimes whose turn comes after an interrupt are reported as not run.
pub fn run_matrix(
    plan: &Plan,
    runtimes: &[Runtime],
    jobs: usize,
    interrupted: &AtomicBool,
    progress: &dyn Progress,
) -> Result<Vec<RunReport>, RunError> {
    let jobs = jobs.max(1);
    // A runtime whose turn comes after an interrupt is not started.
    let run_next = |runtime: &Runtime| {
        if interrupted.load(Ordering::Relaxed) {
            Ok(not_run(
                plan,
                runtime,
                "interrupted before this runtime ran",
            ))
        } else {
            run_one(plan, runtime, interrupted, progress)
        }
    };
    if jobs == 1 || runtimes.len() == 1 {
        // Nothing runs beside: no worker thread (starting one, and waking it on the
        // other core, is a fixed cost of every single-runtime run).
        return runtimes.iter().map(run_next).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<RunReport, RunError>>>> = runtimes
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(runtimes.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(runtime) = runtimes.get(i) else {
                    break;
                };
                *results[i].lock().expect("matrix lock") = Some(run_next(runtime));
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("matrix lock")
                .expect("every runtime ran")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_patterns() {
        assert_eq!(select_probes(&[]).unwrap().len(), CATALOG.len());
        let spawn = select_probes(&["spawn.*".into()]).unwrap();
        assert!(spawn.iter().all(|p| p.id.starts_with("spawn.")));
        assert!(select_probes(&["nothing.*".into()]).is_err());
        // Plain ids match exactly, not as prefixes; globs still work.
        let one = select_probes(&["spawn.fork".into()]).unwrap();
        assert_eq!(one.iter().map(|p| p.id).collect::<Vec<_>>(), ["spawn.fork"]);
        assert!(select_probes(&["spawn.for".into()]).is_err());
        let braces = select_probes(&["spawn.{fork,vfork}".into()]).unwrap();
        assert_eq!(braces.len(), 2);
        assert!(select_probes(&["spawn.[".into()]).is_err());
    }
}
