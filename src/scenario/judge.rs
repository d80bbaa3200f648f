//! Comparing one run's verdicts with what its scenario expects.

use std::fmt::Write as _;

use super::expect::{Expectations, StartExpectation};
use crate::report::suite::Check;
use crate::report::{Outcome, RunReport, StartStatus, Verdict};
use crate::sanitize::untrusted;

/// Compares one run's verdicts against the scenario: one [`Check`] per verdict, plus
/// a message when the start expectation is not met. Returns the checks and the
/// failure message (`None`: the trial passed).
///
/// A container expected not to start that did not start passes, its `not-run`
/// verdicts included. Otherwise every verdict must match
/// [`Expectations::expected_for`]; the message then has a line per mismatch:
/// `  probe STEP: expected EXPECTED, got OUTCOME (MECHANISM) — DETAIL`.
pub fn judge(
    expect: &Expectations,
    runtime: &str,
    run: &RunReport,
) -> (Vec<Check>, Option<String>) {
    // Messages name the runtime as reports do, not by its NAME=PATH spec.
    let runtime = super::runtime_name(runtime);
    let start = expect.start_for(runtime);
    let failed_to_start = match &run.start {
        // A run interrupted before its turn never tried to start: its not-run verdicts
        // are judged one by one (and fail unless the scenario expects not-run).
        StartStatus::Started | StartStatus::NotRun { .. } => None,
        StartStatus::FailedToStart { error } => Some(error.as_str()),
    };
    let checks: Vec<Check> = run
        .verdicts
        .iter()
        .map(|v| {
            if start == StartExpectation::FailsToStart
                && failed_to_start.is_some()
                && v.outcome == Outcome::NotRun
            {
                // Nothing could run, as the scenario says: not a per-probe matter.
                return check(v, Outcome::NotRun.as_str().to_string(), true);
            }
            let expected = expect.expected_for(runtime, &v.step());
            let ok = expected.matches(v.outcome, v.mechanism.as_ref());
            check(v, expected.text, ok)
        })
        .collect();
    let mismatches = || -> Option<String> {
        let lines: Vec<String> = run
            .verdicts
            .iter()
            .zip(&checks)
            .filter(|(_, c)| !c.ok)
            .map(|(v, c)| mismatch_line(v, &c.expected))
            .collect();
        (!lines.is_empty()).then(|| {
            format!(
                "{} probe step(s) under {runtime} did not match the scenario:\n{}",
                lines.len(),
                lines.join("\n")
            )
        })
    };
    let message = match (start, failed_to_start) {
        (StartExpectation::FailsToStart, Some(_)) => checks.iter().any(|c| !c.ok).then(|| {
            // Only a verdict other than not-run can get here: the run did start some.
            mismatches().unwrap_or_default()
        }),
        (StartExpectation::FailsToStart, None) => {
            let mut message =
                format!("expected the container not to start under {runtime}, but it started");
            if let Some(more) = mismatches() {
                let _ = write!(message, "\n{more}");
            }
            Some(message)
        }
        (StartExpectation::Starts, Some(error)) => {
            // The message goes to the operator's terminal as the trial's failure:
            // the runtime's words (the container's stderr among them) are sanitized.
            let first = error.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let mut message = format!(
                "expected the container to start under {runtime}, but it did not: {}",
                untrusted(first.trim())
            );
            if let Some(triage) = &run.triage {
                let _ = write!(message, "\n  triage: {}", untrusted(&triage.conclusion));
            }
            Some(message)
        }
        (StartExpectation::Starts, None) => mismatches(),
    };
    (checks, message)
}

fn check(v: &Verdict, expected: String, ok: bool) -> Check {
    Check {
        step: v.step(),
        goal: v.goal,
        expected,
        got: v.outcome.as_str().to_string(),
        mechanism: v.mechanism.clone(),
        detail: v.detail.clone(),
        ok,
        prediction: v.prediction.clone(),
    }
}

/// `  probe STEP: expected EXPECTED, got OUTCOME (MECHANISM) — DETAIL`.
fn mismatch_line(v: &Verdict, expected: &str) -> String {
    let mut line = format!(
        "  probe {}: expected {expected}, got {}",
        untrusted(&v.step()),
        v.outcome.as_str()
    );
    if let Some(m) = &v.mechanism {
        let _ = write!(line, " ({})", untrusted(&m.to_string()));
    }
    let detail = untrusted(&v.detail.split_whitespace().collect::<Vec<_>>().join(" "));
    if !detail.is_empty() {
        let _ = write!(line, " — {detail}");
    }
    line
}
