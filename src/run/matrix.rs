//! Scheduling: one run per runtime, up to `jobs` at once with results in runtime
//! order, triage after a start failure, and runs an interrupt kept from starting.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::report::{Outcome, RunReport, StartStatus, Verdict};
use crate::runtime::Runtime;

use super::{execute_with, triage, Plan, Progress, RunError};

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
        if let Some(problem) = crate::runtime::diagnose::runtime_problem(runtime) {
            // Not the profile's doing: say what is, and skip the bisection.
            run.triage = Some(crate::report::Triage {
                needed: Vec::new(),
                attempts: 0,
                conclusion: problem,
            });
        } else if let StartStatus::FailedToStart { error } = &run.start {
            run.triage = triage::triage(plan, runtime, &error.clone(), interrupted)?;
        }
    }
    Ok(run)
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
