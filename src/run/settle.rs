//! The verdict policy, as pure functions: what a container's end means for the step
//! in flight (a seccomp kill, a timeout, a handoff that never came back, a crash), what
//! happens next (resume after a step, stop, give up), and what the steps that never got
//! a verdict are (not-run, with why). No I/O here: every rule is unit-tested without a
//! container.

use std::time::Duration;

use crate::report::{Evidence, Outcome, StartStatus, Verdict};
use crate::runtime::{Exit, RuntimeError};

use super::follow::ContainerOutcome;

pub(super) fn signal_name(sig: i32) -> String {
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

/// The verdict of a step that handed the process to a program of the image and never
/// got it back: the exec worked, so the image's program ran, whatever it did next. It
/// is never "blocked": a seccomp kill of the exec itself would have come before the
/// handoff (see `exec::handoff` in the probes). Nothing the program printed counts.
pub(super) fn handoff_verdict(
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

/// What the run does after a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Next {
    /// The runner said `done`: the suite is over.
    Done,
    /// Start a new container that resumes after `after` (the container died in that
    /// step, or gave it up to the image, or ended between steps after it).
    Resume { after: String },
    /// The first container did not start: a start failure, with the runtime's words.
    StartFailed { error: String },
    /// A container started to resume the suite did not start: the rest is not-run.
    RestFailed { error: String },
    /// The run was interrupted.
    Interrupted,
    /// The runner ended between steps without making progress: the rest is error.
    GiveUp { why: String },
}

/// What follows from one container's end: the verdict of the step it was in (if it
/// died in one), and what the run does next.
pub(super) fn next(
    runtime: &str,
    first: bool,
    outcome: &ContainerOutcome,
    timeout: Duration,
) -> (Option<Verdict>, Next) {
    if outcome.interrupted {
        return (None, Next::Interrupted);
    }
    if !outcome.hello {
        let error = describe_start_failure(outcome);
        return (None, failed(first, error));
    }
    if let Some(step) = &outcome.in_flight {
        let verdict = in_flight_verdict(runtime, step, outcome, timeout);
        return (
            Some(verdict),
            Next::Resume {
                after: step.clone(),
            },
        );
    }
    if outcome.done {
        return (None, Next::Done);
    }
    // Ended between probes without saying done: resume after the last verdict if this
    // container made progress, otherwise give up on the rest.
    match &outcome.last_verdict {
        Some(step) if !outcome.timed_out => (
            None,
            Next::Resume {
                after: step.clone(),
            },
        ),
        _ => {
            let why = if outcome.timed_out {
                format!(
                    "the runner went silent for {}s between probes",
                    timeout.as_secs()
                )
            } else {
                format!(
                    "the runner ended without finishing ({})",
                    describe_exit(outcome.exit)
                )
            };
            (None, Next::GiveUp { why })
        }
    }
}

/// The runtime refused to run the container at all (it could not be spawned).
pub(super) fn refused(first: bool, error: &RuntimeError) -> Next {
    failed(first, crate::sanitize::untrusted_lines(&error.to_string()))
}

fn failed(first: bool, error: String) -> Next {
    if first {
        Next::StartFailed { error }
    } else {
        Next::RestFailed { error }
    }
}

/// The verdict of the step a container died in (it printed `start` and no verdict).
fn in_flight_verdict(
    runtime: &str,
    step: &str,
    outcome: &ContainerOutcome,
    timeout: Duration,
) -> Verdict {
    if outcome.handoff.as_deref() == Some(step) {
        return handoff_verdict(runtime, step, outcome, timeout);
    }
    if outcome.timed_out {
        return Verdict::new(
            runtime,
            step,
            Outcome::Error,
            format!(
                "no verdict within {}s; the container was killed",
                timeout.as_secs()
            ),
        )
        .mechanism(Some("timeout"));
    }
    match outcome.exit {
        Some(Exit::Signal(libc::SIGSYS)) => Verdict::new(
            runtime,
            step,
            Outcome::Blocked,
            "the container died of SIGSYS during this probe (seccomp kill or trap)",
        )
        .mechanism(Some("SIGSYS"))
        .evidence(Evidence::Witnessed),
        // The probe's child takes memory; where the whole container is charged as one
        // (gVisor's sandbox), the memory cgroup's OOM killer ends all of it.
        Some(Exit::Signal(libc::SIGKILL)) if step == "host.memory" => Verdict::new(
            runtime,
            step,
            Outcome::Blocked,
            "the container died of SIGKILL while the probe's child touched memory: the OOM killer of its memory cgroup",
        )
        .mechanism(Some("SIGKILL")),
        Some(Exit::Signal(sig)) => Verdict::new(
            runtime,
            step,
            Outcome::Error,
            format!(
                "the container died of {} during this probe",
                signal_name(sig)
            ),
        )
        .mechanism(Some(signal_name(sig))),
        Some(Exit::Code(code)) => Verdict::new(
            runtime,
            step,
            Outcome::Error,
            format!("the runner exited with status {code} during this probe"),
        ),
        Some(Exit::Unknown) | None => Verdict::new(
            runtime,
            step,
            Outcome::Error,
            "the container ended during this probe; its exit status is unknown",
        ),
    }
}

/// The kernel that serves a runtime's containers when it is not the host's (gVisor's
/// Sentry), and whether the filter under test could answer ENOSYS there itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sandbox {
    pub kernel: &'static str,
    /// A rule's action (SCMP_ACT_TRACE, an honoured `errnoRet` of 38) can answer
    /// ENOSYS, so an ENOSYS is not the sandbox kernel's word alone.
    pub filter_answers_enosys: bool,
}

impl Sandbox {
    /// The sandbox of `kind`, if it has one, under `seccomp` (the filter as resolved,
    /// which the runtime may or may not apply).
    pub(super) fn of(
        kind: &crate::runtime::RuntimeKind,
        seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    ) -> Option<Sandbox> {
        use oci_spec::runtime::LinuxSeccompAction as A;
        let kernel = kind.sandbox_kernel?;
        let answers = |action: A, errno: Option<u32>| {
            action == A::ScmpActTrace
                || (kind.honours_errno_ret
                    && action == A::ScmpActErrno
                    && errno == Some(libc::ENOSYS.unsigned_abs()))
        };
        let filter_answers_enosys = kind.applies_profile
            && seccomp.is_some_and(|s| {
                answers(s.default_action(), s.default_errno_ret())
                    || s.syscalls().iter().flatten().any(|rule| {
                        answers(rule.action(), rule.errno_ret().or(s.default_errno_ret()))
                    })
            });
        Some(Sandbox {
            kernel,
            filter_answers_enosys,
        })
    }
}

/// What a verdict means under a sandbox kernel (`sandbox`, from the quirks table):
/// - an escape by a probe whose effect lands in the kernel that serves the container is
///   that kernel's, not the host's: `contained`, saying what it reached;
/// - ENOSYS where no filter could have said it is the sandbox kernel not implementing
///   the call: not-applicable with that reason, not a block.
pub(super) fn in_sandbox(verdict: Verdict, sandbox: Option<Sandbox>) -> Verdict {
    let Some(sandbox) = sandbox else {
        return verdict;
    };
    let kernel = sandbox.kernel;
    let reach = crate::catalog::find(&verdict.probe).and_then(|p| p.in_sandbox);
    match (reach, verdict.outcome) {
        (Some(reach), Outcome::Escaped) => Verdict {
            outcome: Outcome::Contained,
            mechanism: Some(crate::report::Kind::SandboxKernel.into()),
            detail: format!(
                "reached {kernel}'s own kernel ({reach}), not the host's: {}",
                verdict.detail
            ),
            ..verdict
        },
        (_, Outcome::Blocked)
            if verdict.mechanism
                == Some(crate::report::Mechanism::Errno(nix::errno::Errno::ENOSYS))
                && !sandbox.filter_answers_enosys =>
        {
            Verdict {
                outcome: Outcome::NotApplicable,
                detail: format!(
                    "{kernel}'s kernel does not implement this call (ENOSYS), and no rule of the filter answers ENOSYS: {}",
                    verdict.detail
                ),
                ..verdict
            }
        }
        _ => verdict,
    }
}

pub(super) fn give_up(runtime: &str, undecided: &[String], why: &str) -> Vec<Verdict> {
    undecided
        .iter()
        .map(|step| Verdict::new(runtime, step, Outcome::Error, why))
        .collect()
}

/// The verdicts of the steps that never ran, when the run is over: why not (the
/// container did not start, an interrupt, or the suite never reached them).
pub(super) fn never_ran(
    runtime: &str,
    undecided: &[String],
    start: &StartStatus,
    interrupted: bool,
) -> Vec<Verdict> {
    let (detail, mechanism) = match (start, interrupted) {
        (StartStatus::FailedToStart { error }, _) => (
            format!("the container did not start: {}", first_line(error)),
            Some("start-failure"),
        ),
        (_, true) => (
            "interrupted before this probe ran".to_string(),
            Some("interrupted"),
        ),
        _ => ("never reached".to_string(), None),
    };
    undecided
        .iter()
        .map(|step| {
            Verdict::new(runtime, step, Outcome::NotRun, detail.clone()).mechanism(mechanism)
        })
        .collect()
}

/// A container started to resume the suite did not start: what is left is not-run.
pub(super) fn resume_failed(runtime: &str, undecided: &[String], error: &str) -> Vec<Verdict> {
    undecided
        .iter()
        .map(|step| {
            Verdict::new(
                runtime,
                step,
                Outcome::NotRun,
                format!("the container started to resume the suite did not start: {error}"),
            )
            .mechanism(Some("start-failure"))
        })
        .collect()
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
pub(super) fn runtime_error_text(stderr: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(7);

    fn mech(v: &Verdict) -> Option<String> {
        v.mechanism.as_ref().map(|m| m.to_string())
    }

    fn started() -> ContainerOutcome {
        ContainerOutcome {
            hello: true,
            ..ContainerOutcome::default()
        }
    }

    fn in_flight(step: &str, exit: Option<Exit>) -> ContainerOutcome {
        ContainerOutcome {
            in_flight: Some(step.to_string()),
            exit,
            ..started()
        }
    }

    fn resume(step: &str) -> Next {
        Next::Resume {
            after: step.to_string(),
        }
    }

    #[test]
    fn a_seccomp_kill_blocks_the_step_in_flight_and_the_suite_resumes() {
        let (v, next) = next(
            "runc",
            true,
            &in_flight("spawn.fork", Some(Exit::Signal(libc::SIGSYS))),
            T,
        );
        let v = v.unwrap();
        assert_eq!(
            (v.outcome, mech(&v)),
            (Outcome::Blocked, Some("SIGSYS".to_string()))
        );
        assert_eq!(v.evidence, Some(Evidence::Witnessed));
        assert_eq!(next, resume("spawn.fork"));
    }

    #[test]
    fn a_kill_while_host_memory_takes_memory_is_the_limit_and_elsewhere_an_error() {
        let memory = in_flight("host.memory", Some(Exit::Signal(libc::SIGKILL)));
        let (v, next_step) = next("runsc-oci", true, &memory, T);
        let v = v.unwrap();
        assert_eq!(
            (v.outcome, mech(&v)),
            (Outcome::Blocked, Some("SIGKILL".to_string()))
        );
        assert_eq!(next_step, resume("host.memory"));
        let fork = in_flight("spawn.fork", Some(Exit::Signal(libc::SIGKILL)));
        let (v, _) = next("runsc-oci", true, &fork, T);
        assert_eq!(v.unwrap().outcome, Outcome::Error);
    }

    #[test]
    fn other_deaths_in_a_step_are_errors_that_say_how() {
        let (v, _) = next(
            "runc",
            true,
            &in_flight("spawn.fork", Some(Exit::Signal(libc::SIGSEGV))),
            T,
        );
        let v = v.unwrap();
        assert_eq!(
            (v.outcome, mech(&v)),
            (Outcome::Error, Some("SIGSEGV".to_string()))
        );
        let (v, _) = next(
            "runc",
            true,
            &in_flight("spawn.fork", Some(Exit::Code(3))),
            T,
        );
        assert!(v.unwrap().detail.contains("status 3"));
        let (v, _) = next(
            "runc",
            true,
            &in_flight("spawn.fork", Some(Exit::Unknown)),
            T,
        );
        assert_eq!(v.unwrap().outcome, Outcome::Error);
        let timed_out = ContainerOutcome {
            timed_out: true,
            ..in_flight("spawn.fork", None)
        };
        let (v, next) = next("runc", true, &timed_out, T);
        let v = v.unwrap();
        assert_eq!(
            (v.outcome, mech(&v)),
            (Outcome::Error, Some("timeout".to_string()))
        );
        assert!(v.detail.contains("7s"));
        assert_eq!(next, resume("spawn.fork"));
    }

    #[test]
    fn a_handoff_that_never_came_back_is_never_blocked() {
        let handed = |exit, proof, timed_out| ContainerOutcome {
            handoff: Some("exec.shell".to_string()),
            handoff_proof: proof,
            timed_out,
            ..in_flight("exec.shell", exit)
        };
        // Even a SIGSYS death after the handoff: the image's program ran, then died.
        for (exit, proof) in [
            (Some(Exit::Signal(libc::SIGSYS)), false),
            (Some(Exit::Code(0)), false),
            (Some(Exit::Code(0)), true),
        ] {
            let (v, next) = next("runc", true, &handed(exit, proof, false), T);
            let v = v.unwrap();
            assert_eq!(v.outcome, Outcome::Escaped, "{exit:?} {proof}");
            assert!(v.image_code);
            let evidence = if proof {
                Evidence::Witnessed
            } else {
                Evidence::Reported
            };
            assert_eq!(v.evidence, Some(evidence));
            assert_eq!(next, resume("exec.shell"));
        }
        let (v, _) = next("runc", true, &handed(None, false, true), T);
        let v = v.unwrap();
        assert_eq!(
            (v.outcome, mech(&v)),
            (Outcome::Error, Some("timeout".to_string()))
        );
        assert!(v.image_code);
        // A handoff that was proved and then hung is decided: escaped.
        let (v, _) = next("runc", true, &handed(None, true, true), T);
        assert_eq!(v.unwrap().outcome, Outcome::Escaped);
    }

    #[test]
    fn a_container_without_hello_did_not_start() {
        let silent = ContainerOutcome {
            stderr: "exec: operation not permitted\n".into(),
            ..ContainerOutcome::default()
        };
        assert_eq!(
            next("runc", true, &silent, T),
            (
                None,
                Next::StartFailed {
                    error: "exec: operation not permitted".into()
                }
            )
        );
        assert!(matches!(
            next("runc", false, &silent, T).1,
            Next::RestFailed { .. }
        ));
        let error = RuntimeError::Hung {
            command: "runc run".into(),
            seconds: 3,
        };
        assert!(matches!(refused(true, &error), Next::StartFailed { .. }));
        assert!(matches!(refused(false, &error), Next::RestFailed { .. }));
    }

    #[test]
    fn between_steps_the_run_resumes_only_after_progress() {
        let interrupted = ContainerOutcome {
            interrupted: true,
            ..in_flight("spawn.fork", None)
        };
        assert_eq!(
            next("runc", true, &interrupted, T),
            (None, Next::Interrupted)
        );
        let done = ContainerOutcome {
            done: true,
            ..started()
        };
        assert_eq!(next("runc", true, &done, T), (None, Next::Done));
        let progressed = ContainerOutcome {
            last_verdict: Some("spawn.fork".into()),
            exit: Some(Exit::Code(0)),
            ..started()
        };
        assert_eq!(
            next("runc", true, &progressed, T),
            (None, resume("spawn.fork"))
        );
        let stuck = ContainerOutcome {
            exit: Some(Exit::Code(0)),
            ..started()
        };
        assert!(
            matches!(next("runc", true, &stuck, T).1, Next::GiveUp { why } if why.contains("without finishing"))
        );
        let silent = ContainerOutcome {
            timed_out: true,
            last_verdict: Some("spawn.fork".into()),
            ..started()
        };
        assert!(
            matches!(next("runc", true, &silent, T).1, Next::GiveUp { why } if why.contains("silent for 7s"))
        );
    }

    #[test]
    fn steps_without_a_verdict_say_why() {
        let rest = vec!["b.y".to_string()];
        let all = never_ran("runc", &rest, &StartStatus::Started, false);
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].outcome, mech(&all[0])), (Outcome::NotRun, None));
        assert_eq!(all[0].detail, "never reached");
        let all = never_ran("runc", &rest, &StartStatus::Started, true);
        assert_eq!(mech(&all[0]).as_deref(), Some("interrupted"));
        let failed = StartStatus::FailedToStart {
            error: "\nfirst line\nsecond".into(),
        };
        let all = never_ran("runc", &rest, &failed, false);
        assert_eq!(mech(&all[0]).as_deref(), Some("start-failure"));
        assert_eq!(all[0].detail, "the container did not start: first line");
        let all = give_up("runc", &rest, "gone");
        assert!(all
            .iter()
            .all(|v| v.outcome == Outcome::Error && v.detail == "gone"));
        let all = resume_failed("runc", &rest, "no");
        assert_eq!(mech(&all[0]).as_deref(), Some("start-failure"));
    }

    fn kind(name: &str) -> &'static crate::runtime::RuntimeKind {
        crate::runtime::quirks::RUNTIMES
            .iter()
            .find(|k| k.name == name)
            .expect("a runtime of the quirks table")
    }

    fn profile(json: &str) -> oci_spec::runtime::LinuxSeccomp {
        serde_json::from_str(json).expect("an OCI linux.seccomp")
    }

    #[test]
    fn a_sandbox_kernel_enosys_is_not_applicable_unless_the_filter_could_say_it() {
        let enosys = || {
            Verdict::new("runsc", "spawn.clone3", Outcome::Blocked, "clone3: ENOSYS")
                .mechanism(Some("ENOSYS"))
        };
        // No sandbox kernel: a block stays a block.
        assert_eq!(Sandbox::of(kind("runc"), None), None);
        assert_eq!(in_sandbox(enosys(), None).outcome, Outcome::Blocked);
        // runsc leaves the profile aside: whatever it says, ENOSYS is gVisor's.
        let trace = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_TRACE"}]}"#,
        );
        let runsc = Sandbox::of(kind("runsc"), Some(&trace));
        let v = in_sandbox(enosys(), runsc);
        assert_eq!(v.outcome, Outcome::NotApplicable);
        assert!(
            v.detail.starts_with("gVisor's kernel does not implement"),
            "{}",
            v.detail
        );
        // runsc-oci applies it, and a trace rule answers ENOSYS: no claim it was gVisor.
        let oci = Sandbox::of(kind("runsc-oci"), Some(&trace));
        assert_eq!(in_sandbox(enosys(), oci).outcome, Outcome::Blocked);
        // errnoRet 38 is not honoured there (EPERM comes back), so it cannot.
        let errno38 = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}"#,
        );
        let oci = Sandbox::of(kind("runsc-oci"), Some(&errno38));
        assert_eq!(in_sandbox(enosys(), oci).outcome, Outcome::NotApplicable);
        // Other blocks are left alone.
        let eperm = Verdict::new("runsc", "spawn.fork", Outcome::Blocked, "fork: EPERM")
            .mechanism(Some("EPERM"));
        assert_eq!(in_sandbox(eperm, runsc).outcome, Outcome::Blocked);
    }
}
