//! Scheduling: one run per runtime, up to `jobs` at once, each telling the one event
//! stream what happens under its position in the runtime list; triage after a start
//! failure, and runs an interrupt kept from starting.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::report::event::{Event, Sink};
use crate::report::{Outcome, StartStatus, Triage, Verdict};
use crate::runtime::Runtime;

use super::{execute_with, triage, Plan, RunError};

/// A run that never happened (interrupted before its runtime's turn): every step
/// not-run, saying why.
pub fn not_run(plan: &Plan, runtime: &Runtime, run: usize, reason: &str, sink: &dyn Sink) {
    let steps = plan.steps();
    sink.event(&Event::RunStarted {
        run,
        runtime: crate::runtime::RuntimeVersion {
            name: runtime.name.clone(),
            binary: runtime.binary.clone(),
            flags: runtime.flags.clone(),
            ..Default::default()
        },
        profile_handling: runtime.kind.profile_handling(),
        steps: steps.clone(),
    });
    for step in &steps {
        let verdict = Verdict::new(&runtime.name, step, Outcome::NotRun, reason)
            .mechanism(Some("interrupted"));
        sink.event(&Event::Verdict {
            run,
            verdict: Box::new(verdict),
        });
    }
    sink.event(&Event::RunFinished {
        run,
        start: StartStatus::NotRun {
            reason: reason.to_string(),
        },
    });
}

/// One runtime's run, the `run`-th of the matrix, with triage when its container does
/// not start.
pub fn run_one(
    plan: &Plan,
    runtime: &Runtime,
    run: usize,
    interrupted: &AtomicBool,
    sink: &dyn Sink,
) -> Result<(), RunError> {
    let start = execute_with(plan, runtime, run, interrupted, sink)?;
    let StartStatus::FailedToStart { error } = &start else {
        return Ok(());
    };
    let known = crate::runtime::diagnose::runtime_problem(runtime)
        .or_else(|| settings_problem(plan, runtime, error));
    let triage = match known {
        // Not the profile's doing: say what is, and skip the bisection.
        Some(problem) => Some(Triage {
            needed: Vec::new(),
            attempts: 0,
            conclusion: problem,
        }),
        None => triage::triage(plan, runtime, error, interrupted)?,
    };
    if let Some(triage) = triage {
        sink.event(&Event::Triaged { run, triage });
    }
    Ok(())
}

/// A start failure the settings explain, whatever the profile: runc (1.1) mounts a
/// fresh sysfs, which a user namespace may do only in a network namespace it owns, and
/// the bridge's belongs to the host's user namespace (crun binds the host's /sys
/// instead, and starts).
fn settings_problem(plan: &Plan, runtime: &Runtime, error: &str) -> Option<String> {
    let settings = &plan.settings;
    (settings.flags.private_userns
        && settings.network == crate::container::Network::Bridge
        && error.contains("sysfs")
        && error.contains("operation not permitted"))
    .then(|| {
        format!(
            "{} cannot mount sysfs in a user namespace that does not own the network namespace it joins: --userns private with --network bridge (the bridge's namespace is the host user namespace's); use --network none (the default with --userns private), or crun, which binds /sys instead",
            runtime.name
        )
    })
}

/// Runs the plan under every runtime, up to `jobs` at once, into `sink`. Runtimes whose
/// turn comes after an interrupt are reported as not run; an interrupted matrix ends
/// with [`Event::Interrupted`].
pub fn run_matrix(
    plan: &Plan,
    runtimes: &[Runtime],
    jobs: usize,
    interrupted: &AtomicBool,
    sink: &dyn Sink,
) -> Result<(), RunError> {
    let jobs = jobs.max(1);
    // A runtime whose turn comes after an interrupt is not started.
    let run_next = |run: usize| {
        let runtime = &runtimes[run];
        if interrupted.load(Ordering::Relaxed) {
            not_run(
                plan,
                runtime,
                run,
                "interrupted before this runtime ran",
                sink,
            );
            Ok(())
        } else {
            run_one(plan, runtime, run, interrupted, sink)
        }
    };
    let result = if jobs == 1 || runtimes.len() == 1 {
        // Nothing runs beside: no worker thread (starting one, and waking it on the
        // other core, is a fixed cost of every single-runtime run).
        (0..runtimes.len()).try_for_each(run_next)
    } else {
        let next = AtomicUsize::new(0);
        let first_error: Mutex<Option<(usize, RunError)>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(runtimes.len()) {
                scope.spawn(|| loop {
                    let run = next.fetch_add(1, Ordering::Relaxed);
                    if run >= runtimes.len() {
                        break;
                    }
                    if let Err(e) = run_next(run) {
                        let mut slot = first_error.lock().expect("matrix lock");
                        // The error of the first runtime in the list, as one by one.
                        if slot.as_ref().is_none_or(|(at, _)| run < *at) {
                            *slot = Some((run, e));
                        }
                    }
                });
            }
        });
        match first_error.into_inner().expect("matrix lock") {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    };
    result?;
    if interrupted.load(Ordering::Relaxed) {
        sink.event(&Event::Interrupted);
    }
    Ok(())
}
