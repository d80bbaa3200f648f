//! JUnit XML of a `breakout test` suite, for CI systems that show test results.
//!
//! Made with quick-junit (the nextest project's model and serializer), never by hand:
//! it escapes text and drops the characters XML cannot carry (ANSI colours in a
//! runtime's error, say). The shape:
//!
//! * one `<testsuite>` per trial, named `scenario::runtime`, timed with the trial;
//! * one `<testcase>` per check, named after the step, classname `scenario.runtime`;
//!   a failed check is a `<failure>` whose message is
//!   `expected X, got Y (MECHANISM): DETAIL` and whose type is `escaped` or `mismatch`;
//! * a trial that failed on its start (the start was not what the scenario expected,
//!   or no check ran or failed to carry the failure) has a failing case `start`; the
//!   checks that then did not run are skipped rather than failed, so the one cause
//!   is counted once;
//! * an ignored trial is one skipped case `trial` carrying the reason.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::suite::{Check, SuiteReport, TrialOutcome, TrialStatus};
use super::Outcome;
use crate::sanitize::{untrusted, untrusted_lines};

/// The JUnit XML document for a suite.
pub fn to_junit(suite: &SuiteReport) -> String {
    let mut report = Report::new("breakout");
    let mut total = Duration::ZERO;
    for trial in &suite.trials {
        let suite = trial_suite(trial);
        if let Some(t) = suite.time {
            total = total.saturating_add(t);
        }
        report.add_test_suite(suite);
    }
    report.set_time(total);
    // Serializing into memory fails only on an I/O error of the writer (a Vec has
    // none) or on invalid UTF-8 (every string here is a Rust string).
    report
        .to_string()
        .expect("a JUnit report serialises into memory")
}

/// Whether a failed trial failed on its start: the container's start was not what
/// the scenario expected, or its checks cannot carry the failure (there are none, none
/// ran, or none failed). Reporters then show the trial's message as the failure.
pub(crate) fn failed_on_start(trial: &TrialOutcome) -> bool {
    if !matches!(trial.status, TrialStatus::Failed { .. }) {
        return false;
    }
    let start_differs = matches!(
        (trial.expected_start.as_str(), trial.start.as_deref()),
        ("starts", Some("failed-to-start")) | ("fails-to-start", Some("started"))
    );
    start_differs
        || trial
            .checks
            .iter()
            .all(|c| c.got == Outcome::NotRun.as_str())
        || trial.checks.iter().all(|c| c.ok)
}

/// `expected X, got Y (MECHANISM): DETAIL`, the parts that are there.
pub(crate) fn mismatch_message(check: &Check) -> String {
    let mut out = format!("expected {}, got {}", check.expected, check.got);
    if let Some(m) = &check.mechanism {
        out.push_str(&format!(" ({m})"));
    }
    if !check.detail.is_empty() {
        out.push_str(&format!(": {}", check.detail));
    }
    out
}

/// A trial's duration as given, or none when the number is not one a `Duration` can
/// hold (negative or not finite, from a hand-edited baseline).
pub(crate) fn duration(seconds: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(seconds).ok()
}

fn trial_suite(trial: &TrialOutcome) -> TestSuite {
    // quick-junit escapes XML syntax; sanitizing also takes out what XML 1.0 cannot
    // carry and what would reach a CI log viewer's terminal as a control sequence.
    let classname = untrusted(&format!("{}.{}", trial.scenario, trial.runtime));
    let mut suite = TestSuite::new(untrusted(&trial.name));
    let time = duration(trial.duration);
    if let Some(t) = time {
        suite.set_time(t);
    }
    suite.add_properties([
        (
            "scenario-file".to_string(),
            untrusted(&trial.scenario_file.display().to_string()),
        ),
        ("runtime".to_string(), untrusted(&trial.runtime)),
        (
            "expected-start".to_string(),
            untrusted(&trial.expected_start),
        ),
        (
            "start".to_string(),
            untrusted(trial.start.as_deref().unwrap_or("not-attempted")),
        ),
    ]);
    let case = |name: &str, status: TestCaseStatus| {
        let mut case = TestCase::new(untrusted(name), status);
        case.set_classname(classname.as_str());
        case
    };
    match &trial.status {
        TrialStatus::Ignored { reason } => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(untrusted_lines(reason));
            suite.add_test_case(case("trial", status));
            return suite;
        }
        TrialStatus::Failed { message } if failed_on_start(trial) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(untrusted_lines(message))
                .set_type("start");
            if let Some(error) = &trial.start_error {
                status.set_description(untrusted_lines(error));
            }
            let mut start = case("start", status);
            if let Some(t) = time {
                start.set_time(t);
            }
            suite.add_test_case(start);
        }
        TrialStatus::Failed { .. } | TrialStatus::Passed => {
            if trial.checks.is_empty() {
                // A scenario may list no probes (it only expects a start or its
                // failure); a suite with no case would read as "nothing tested".
                suite.add_test_case(case("start", TestCaseStatus::success()));
            }
        }
    }
    let start_failed = failed_on_start(trial);
    for check in &trial.checks {
        let status = if check.ok {
            TestCaseStatus::success()
        } else if start_failed && check.got == Outcome::NotRun.as_str() {
            let mut s = TestCaseStatus::skipped();
            s.set_message(untrusted(&format!(
                "not run: {}",
                check.mechanism.as_ref().map_or_else(
                    || "the trial failed on its start".to_string(),
                    ToString::to_string
                )
            )));
            s
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(untrusted(&mismatch_message(check))).set_type(
                if check.got == Outcome::Escaped.as_str() {
                    "escaped"
                } else {
                    "mismatch"
                },
            );
            s
        };
        suite.add_test_case(case(&check.step, status));
    }
    suite
}

#[cfg(test)]
mod tests {
    use quick_junit::Report;

    use super::*;
    use crate::report::baseline::tests::{check, trial};

    fn sample() -> SuiteReport {
        let mut vfork = check("spawn.vfork", "blocked", "escaped", false);
        vfork.mechanism = None;
        vfork.detail = "vfork returned a child".into();
        let mut fork = check("spawn.fork", "blocked", "blocked", true);
        fork.mechanism = Some("EPERM".into());
        let mut bpf = check("kernel.bpf", "blocked:EPERM", "blocked", false);
        bpf.mechanism = Some("EACCES".into());
        bpf.detail = "bpf(2) answered EACCES".into();
        let mut not_started = trial(
            "seed::crun",
            TrialStatus::Failed {
                message: "expected the container to start; it did not".into(),
            },
            vec![check("spawn.vfork", "blocked", "not-run", false)],
        );
        not_started.start = Some("failed-to-start".into());
        not_started.start_error = Some("exec: operation not permitted\x1b[0m".into());
        not_started.checks[0].mechanism = Some("start-failure".into());
        SuiteReport::new(
            None,
            vec![
                trial(
                    "seed::runc",
                    TrialStatus::Failed {
                        message: "2 checks failed".into(),
                    },
                    vec![fork, vfork, bpf],
                ),
                not_started,
                trial(
                    "seed::runsc",
                    TrialStatus::Ignored {
                        reason: "runsc is not installed".into(),
                    },
                    vec![],
                ),
                trial(
                    "nothing::runc",
                    TrialStatus::Passed,
                    vec![check("spawn.fork", "blocked", "blocked", true)],
                ),
            ],
        )
    }

    #[test]
    fn junit_counts_and_messages_survive_a_round_trip() {
        let xml = to_junit(&sample());
        let report = Report::deserialize_from_str(&xml).expect("valid JUnit XML");
        assert_eq!(report.test_suites.len(), 4);
        // 3 checks + (start + 1 skipped check) + 1 skipped trial + 1 check.
        assert_eq!(report.tests, 7);
        assert_eq!(report.failures, 3);
        assert_eq!(report.skipped, 2);
        assert_eq!(report.errors, 0);
        assert_eq!(report.time, Some(Duration::from_secs(6)));

        let runc = &report.test_suites[0];
        assert_eq!(runc.name.as_str(), "seed::runc");
        assert_eq!(runc.failures, 2);
        assert_eq!(runc.time, Some(Duration::from_secs_f64(1.5)));
        let vfork = &runc.test_cases[1];
        assert_eq!(vfork.name.as_str(), "spawn.vfork");
        assert_eq!(
            vfork.classname.as_ref().map(|c| c.as_str()),
            Some("seed.runc")
        );
        match &vfork.status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                message,
                ty,
                ..
            } => {
                assert_eq!(
                    message.as_ref().map(|m| m.as_str()),
                    Some("expected blocked, got escaped: vfork returned a child")
                );
                assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("escaped"));
            }
            other => panic!("spawn.vfork should fail: {other:?}"),
        }
        assert!(matches!(
            runc.test_cases[0].status,
            TestCaseStatus::Success { .. }
        ));
        assert!(
            xml.contains("expected blocked:EPERM, got blocked (EACCES): bpf(2) answered EACCES")
        );
    }

    #[test]
    fn junit_start_failure_is_one_failing_start_case() {
        let report = Report::deserialize_from_str(&to_junit(&sample())).unwrap();
        let crun = &report.test_suites[1];
        assert_eq!((crun.tests, crun.failures, crun.skipped), (2, 1, 1));
        let start = &crun.test_cases[0];
        assert_eq!(start.name.as_str(), "start");
        match &start.status {
            TestCaseStatus::NonSuccess {
                message,
                description,
                ..
            } => {
                assert_eq!(
                    message.as_ref().map(|m| m.as_str()),
                    Some("expected the container to start; it did not")
                );
                // The ANSI escape is not a character XML can carry; quick-junit drops it.
                let description = description.as_ref().map(|d| d.as_str()).unwrap_or("");
                assert!(description.starts_with("exec: operation not permitted"));
                assert!(!description.contains('\x1b'));
            }
            other => panic!("start should fail: {other:?}"),
        }
        assert!(matches!(
            &crun.test_cases[1].status,
            TestCaseStatus::Skipped { message: Some(m), .. } if m.as_str() == "not run: start-failure"
        ));
    }

    #[test]
    fn junit_ignored_trial_is_skipped_with_reason() {
        let report = Report::deserialize_from_str(&to_junit(&sample())).unwrap();
        let runsc = &report.test_suites[2];
        assert_eq!((runsc.tests, runsc.skipped), (1, 1));
        assert_eq!(runsc.test_cases[0].name.as_str(), "trial");
        assert!(matches!(
            &runsc.test_cases[0].status,
            TestCaseStatus::Skipped { message: Some(m), .. } if m.as_str() == "runsc is not installed"
        ));
        let passed = &report.test_suites[3];
        assert_eq!((passed.tests, passed.failures, passed.skipped), (1, 0, 0));
    }

    #[test]
    fn junit_failed_trial_whose_checks_all_pass_still_fails() {
        // The container started though the scenario expected it not to.
        let mut t = trial(
            "execve::runsc",
            TrialStatus::Failed {
                message: "expected fails-to-start, the container started".into(),
            },
            vec![check("exec.execve", "any", "blocked", true)],
        );
        t.expected_start = "fails-to-start".into();
        let mut bad_duration = trial("empty::runc", TrialStatus::Passed, vec![]);
        bad_duration.duration = f64::NAN;
        let report =
            Report::deserialize_from_str(&to_junit(&SuiteReport::new(None, vec![t, bad_duration])))
                .unwrap();
        assert_eq!((report.tests, report.failures), (3, 1));
        assert_eq!(report.test_suites[0].test_cases[0].name.as_str(), "start");
        assert_eq!(report.test_suites[1].test_cases[0].name.as_str(), "start");
        assert_eq!(report.test_suites[1].time, None);
    }
}
