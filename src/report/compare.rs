//! Divergences between runtimes: the steps whose verdicts differ, each with a one-line
//! explanation drawn from the runtimes' quirks (carried in the report) and from the
//! verdicts' mechanisms.

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::{Divergence, Mechanism, Outcome, ProfileHandling, RunReport, StartStatus, Verdict};

/// Whether a mechanism is one of these errnos or SIGSYS.
fn is_errno_or_sigsys(m: Option<&Mechanism>, errnos: &[Errno]) -> bool {
    match m {
        Some(Mechanism::Errno(e)) => errnos.contains(e),
        Some(Mechanism::Signal(s)) => *s == Signal::SIGSYS,
        Some(Mechanism::Kind(_) | Mechanism::Other(_)) | None => false,
    }
}

/// Mechanisms a seccomp filter produces (as opposed to a mount option or a capability
/// check, which give the same answer under every runtime that honours the settings).
fn is_seccomp_like(v: &Verdict) -> bool {
    v.outcome == Outcome::Blocked
        && is_errno_or_sigsys(
            v.mechanism.as_ref(),
            &[Errno::EPERM, Errno::EACCES, Errno::ENOSYS],
        )
}

fn cell(v: &Verdict) -> String {
    match &v.mechanism {
        Some(m) => format!("{} ({m})", v.outcome.as_str()),
        None => v.outcome.as_str().to_string(),
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
}

/// Explains why `runs` disagree on one step; `here` pairs each run with its verdict.
fn explain(here: &[(&RunReport, &Verdict)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let started: Vec<_> = here
        .iter()
        .filter(|(r, _)| matches!(r.start, StartStatus::Started))
        .collect();
    // Runtimes that could not start, grouped by the reason, so the sentence is said once.
    let mut failed: Vec<(String, Vec<&str>)> = Vec::new();
    for (run, _) in here {
        if let StartStatus::FailedToStart { error } = &run.start {
            let why = match &run.triage {
                Some(t) if !t.needed.is_empty() => format!(
                    "{} {} to start a container and the profile denies {}",
                    if t.needed.len() == 1 { "needs" } else { "need" },
                    t.needed.join(", "),
                    if t.needed.len() == 1 { "it" } else { "them" }
                ),
                Some(t) => t.conclusion.clone(),
                None => first_line(error).to_string(),
            };
            match failed.iter_mut().find(|(w, _)| *w == why) {
                Some((_, names)) => names.push(&run.runtime.name),
                None => failed.push((why, vec![&run.runtime.name])),
            }
        }
    }
    for (why, names) in &failed {
        parts.push(format!("{} cannot start: {why}", names.join(" and ")));
    }
    if !failed.is_empty() {
        for (other, _) in &started {
            let h = other.profile_handling;
            if h.applies_profile && !h.filters_own_exec {
                parts.push(format!(
                    "{} {}",
                    other.runtime.name,
                    ProfileHandling::FILTERS_AFTER_START
                ));
            }
        }
    }
    // Where the predictions say no runtime applies a filter (no profile), nothing is
    // the profile's doing. A report without predictions (another version's) keeps the
    // quirks' sentences.
    let mut predicted = here
        .iter()
        .filter_map(|(_, v)| v.prediction.as_ref())
        .peekable();
    let no_profile = predicted.peek().is_some() && predicted.all(|p| p.filter == "none");
    let applies = |run: &RunReport| run.profile_handling.applies_profile && !no_profile;
    let blocked_by_filter = started
        .iter()
        .any(|(r, v)| applies(r) && is_seccomp_like(v));
    // Where the filters the runtimes build decide differently, each one's decision.
    let decisions: Vec<(&str, String)> = started
        .iter()
        .filter_map(|(r, v)| {
            // A runtime without a filter is the quirk below, not a decision.
            let p = v.prediction.as_ref().filter(|p| p.filter != "none")?;
            let said = match (p.filter, &p.mechanism) {
                ("open", _) => format!(
                    "its filter leaves {} open",
                    p.route.as_deref().unwrap_or("a route")
                ),
                (_, Some(m)) => format!("its filter answers {m} ({})", p.rule),
                _ => format!("its filter stops it ({})", p.rule),
            };
            Some((r.runtime.name.as_str(), said))
        })
        .collect();
    let differ = decisions.windows(2).any(|w| w[0].1 != w[1].1) && !no_profile;
    for (run, v) in &started {
        if !applies(run) {
            if !blocked_by_filter {
                continue;
            }
            let note = ProfileHandling::IGNORES_PROFILE;
            parts.push(match (v.outcome, &v.mechanism) {
                (Outcome::Blocked, Some(Mechanism::Errno(Errno::ENOSYS))) => format!(
                    "{} {note}; its own kernel does not implement the call (ENOSYS)",
                    run.runtime.name
                ),
                (Outcome::Blocked, _) => format!(
                    "{} {note}; its own kernel answers {}",
                    run.runtime.name,
                    cell(v)
                ),
                _ => format!("{} {note}", run.runtime.name),
            });
            continue;
        }
        // errnoRet: this runtime says EPERM where one that honours errnoRet says the
        // profile's own errno.
        let custom_errno_elsewhere = started.iter().any(|(o, ov)| {
            applies(o)
                && o.profile_handling.honours_errno_ret
                && ov.outcome == Outcome::Blocked
                && ov.mechanism.is_some()
                && !is_errno_or_sigsys(ov.mechanism.as_ref(), &[Errno::EPERM, Errno::ENOSYS])
        });
        if v.mechanism == Some(Mechanism::Errno(Errno::EPERM))
            && custom_errno_elsewhere
            && !run.profile_handling.honours_errno_ret
        {
            parts.push(format!(
                "{} {}",
                run.runtime.name,
                ProfileHandling::NO_ERRNO_RET
            ));
        }
    }
    if differ {
        for (name, said) in &decisions {
            parts.push(format!("{name}: {said}"));
        }
    }
    for (run, v) in &started {
        if let (Outcome::Contained, Some(kernel)) = (v.outcome, run.profile_handling.sandbox_kernel)
        {
            parts.push(format!(
                "{} serves the call from {kernel}'s own kernel: what the probe reached there is not the host's",
                run.runtime.name
            ));
        }
    }
    if parts.is_empty() {
        let sandboxed = here
            .iter()
            .filter_map(|(run, _)| run.profile_handling.sandbox_kernel)
            .next();
        let listed: Vec<String> = here
            .iter()
            .map(|(run, v)| format!("{}: {}", run.runtime.name, cell(v)))
            .collect();
        parts.push(match sandboxed {
            Some(kernel) => format!(
                "{} (no known quirk explains it; {kernel} implements system calls itself)",
                listed.join(", ")
            ),
            None => format!(
                "{} (no known quirk explains it: a runtime or harness difference to look into)",
                listed.join(", ")
            ),
        });
    }
    parts.join("; ")
}

/// Every step whose (outcome, mechanism) is not the same under every runtime.
pub fn divergences(runs: &[RunReport]) -> Vec<Divergence> {
    if runs.len() < 2 {
        return Vec::new();
    }
    let mut steps: Vec<String> = Vec::new();
    for run in runs {
        for v in &run.verdicts {
            let step = v.step();
            if !steps.contains(&step) {
                steps.push(step);
            }
        }
    }
    let mut out = Vec::new();
    for step in steps {
        let here: Vec<(&RunReport, &Verdict)> = runs
            .iter()
            .filter_map(|r| r.verdicts.iter().find(|v| v.step() == step).map(|v| (r, v)))
            .collect();
        let first = here.first().map(|(_, v)| (v.outcome, v.mechanism.clone()));
        let same = here
            .iter()
            .all(|(_, v)| Some((v.outcome, v.mechanism.clone())) == first);
        if same {
            continue;
        }
        out.push(Divergence {
            step,
            verdicts: here
                .iter()
                .map(|(r, v)| (r.runtime.name.clone(), cell(v)))
                .collect(),
            explanation: explain(&here),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::RuntimeVersion;

    fn run(
        name: &str,
        handling: ProfileHandling,
        outcome: Outcome,
        mechanism: Option<&str>,
    ) -> RunReport {
        RunReport {
            runtime: RuntimeVersion {
                name: name.into(),
                ..Default::default()
            },
            start: StartStatus::Started,
            containers: 1,
            verdicts: vec![Verdict::new(name, "spawn.fork", outcome, "").mechanism(mechanism)],
            escapes_by_goal: Vec::new(),
            profile_handling: handling,
            triage: None,
            workload: None,
        }
    }

    #[test]
    fn one_runtime_never_diverges() {
        assert!(divergences(&[run(
            "runc",
            ProfileHandling::default(),
            Outcome::Blocked,
            Some("EPERM")
        )])
        .is_empty());
    }

    #[test]
    fn ignored_profile_is_named() {
        let runs = [
            run(
                "runc",
                ProfileHandling::default(),
                Outcome::Blocked,
                Some("EPERM"),
            ),
            run(
                "runsc",
                ProfileHandling {
                    applies_profile: false,
                    ..ProfileHandling::default()
                },
                Outcome::Escaped,
                None,
            ),
        ];
        let d = divergences(&runs);
        assert_eq!(d.len(), 1);
        assert!(
            d[0].explanation.starts_with("runsc ignores the profile"),
            "{}",
            d[0].explanation
        );
    }

    #[test]
    fn errno_ret_difference_is_named() {
        let runs = [
            run(
                "runc",
                ProfileHandling::default(),
                Outcome::Blocked,
                Some("EACCES"),
            ),
            run(
                "runsc-oci",
                ProfileHandling {
                    honours_errno_ret: false,
                    ..ProfileHandling::default()
                },
                Outcome::Blocked,
                Some("EPERM"),
            ),
        ];
        let d = divergences(&runs);
        assert!(
            d[0].explanation.contains("runsc-oci ignores errnoRet"),
            "{}",
            d[0].explanation
        );
    }

    #[test]
    fn start_failure_names_the_triage() {
        let mut runc = run(
            "runc",
            ProfileHandling::default(),
            Outcome::NotRun,
            Some("start-failure"),
        );
        runc.start = StartStatus::FailedToStart {
            error: "exec /x: operation not permitted".into(),
        };
        runc.triage = Some(crate::report::Triage {
            needed: vec!["execve".into()],
            attempts: 3,
            conclusion: "runc needs execve to start its container; the profile denies it".into(),
        });
        let oci = run(
            "runsc-oci",
            ProfileHandling {
                filters_own_exec: false,
                ..ProfileHandling::default()
            },
            Outcome::Blocked,
            Some("EPERM"),
        );
        let d = divergences(&[runc, oci]);
        assert!(
            d[0].explanation.contains(
                "runc cannot start: needs execve to start a container and the profile denies it"
            ),
            "{}",
            d[0].explanation
        );
        assert!(
            d[0].explanation
                .contains("runsc-oci applies the filter after its own start"),
            "{}",
            d[0].explanation
        );
    }
}
