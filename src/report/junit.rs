//! JUnit XML of a `breakout test` suite, for CI systems that show test results.
//!
//! Made with quick-junit (the nextest project's model and serializer), never by hand:
//! it escapes text and drops the characters XML cannot carry (ANSI colours in a
//! runtime's error, say). The shape:
//!
//! * one `<testsuite>` per trial, named `scenario::runtime`, timed with the trial,
//!   carrying its own counts (`tests`, `failures`, `errors`, `skipped`);
//! * one `<testcase>` per check, named after the step, classname `scenario.runtime`;
//!   a failed check is a `<failure>` whose message (and text) is
//!   `expected X, got Y (MECHANISM): DETAIL` and whose type is `escaped` or `mismatch`;
//!   a check whose probe ended in `error` where the scenario expected otherwise is an
//!   `<error>` of type `error`: the harness could not tell, which is not a finding;
//! * a trial that failed on its start (the start was not what the scenario expected,
//!   or no check ran or failed to carry the failure) has a failing case `start`; the
//!   checks that then did not run are skipped rather than failed, so the one cause
//!   is counted once; a trial the harness could not attempt at all (no run directory,
//!   a plan or runtime it could not make) has that case as an `<error>` instead;
//! * an ignored trial is one skipped case `trial` carrying the reason.
//!
//! Common consumers' schemas hold it: the Jenkins xUnit plugin's `junit-10.xsd`, and
//! the Apache Ant schema that many parsers follow (tests/fixtures/junit/ has both, and
//! `issue_16_junit_validates_against_the_shipped_schemas` in tests/suite.rs checks
//! each with xmllint). What that takes:
//!
//! * `<testsuites>` carries no attribute: the Ant schema allows none, Jenkins' refuses
//!   `skipped` there (quick-junit writes totals there, so its root tag is rewritten);
//!   the counts are on each `<testsuite>`, where both schemas allow them;
//! * each `<testsuite>` has `id` (its position) and `package` (the trial's name),
//!   `hostname`, and `timestamp` (when the trial started, UTC, to the second, with no
//!   zone: the Ant schema allows none, so quick-junit's own reader, which wants RFC
//!   3339 with a zone, does not take it), `<properties>`, and an empty `<system-out>`
//!   and `<system-err>`, which the Ant schema requires;
//! * every `<testcase>` has a `time`: a `start` case the trial's, a check `0`, since
//!   probes in one container are not timed one by one (the trial's time is its
//!   suite's), an ignored trial's case `0`;
//! * failures, errors and skips carry their message as the element's text too, which
//!   is what GitLab shows (it reads no `message` attribute).

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::suite::{Check, SuiteReport, TrialOutcome, TrialStatus};
use super::Outcome;
use crate::sanitize::{untrusted, untrusted_lines};

/// The JUnit XML document for a suite.
pub fn to_junit(suite: &SuiteReport) -> String {
    let mut report = Report::new("breakout");
    let host = hostname();
    let now = chrono::Utc::now();
    for (id, trial) in suite.trials.iter().enumerate() {
        report.add_test_suite(trial_suite(trial, id, &host, now));
    }
    // Serializing into memory fails only on an I/O error of the writer (a Vec has
    // none) or on invalid UTF-8 (every string here is a Rust string).
    let xml = report
        .to_string()
        .expect("a JUnit report serialises into memory");
    bare_root(&xml)
}

/// The document with its `<testsuites>` tag stripped of attributes, every other
/// event as quick-junit wrote it.
fn bare_root(xml: &str) -> String {
    use quick_xml::events::{BytesStart, Event};
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut writer = quick_xml::Writer::new(Vec::new());
    loop {
        // quick-junit's own output reads back; a failure here is a bug of this
        // function or of quick-junit, not of the suite.
        let event = reader
            .read_event()
            .expect("quick-junit's XML reads back as XML");
        let event = match event {
            Event::Eof => break,
            Event::Start(tag) if tag.name().as_ref() == b"testsuites" => {
                Event::Start(BytesStart::new("testsuites"))
            }
            other => other,
        };
        writer
            .write_event(event)
            .expect("writing XML into memory cannot fail");
    }
    String::from_utf8(writer.into_inner()).expect("the XML read from a str is UTF-8")
}

/// This host's name, for `hostname`; `localhost` where it cannot be had, as the Ant
/// schema asks.
fn hostname() -> String {
    let name = untrusted(super::environment::hostname().unwrap_or_default().trim());
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
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

/// A status whose message is also the element's text.
fn with_text(mut status: TestCaseStatus, message: String) -> TestCaseStatus {
    status
        .set_message(message.as_str())
        .set_description(message);
    status
}

fn trial_suite(
    trial: &TrialOutcome,
    id: usize,
    host: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> TestSuite {
    // quick-junit escapes XML syntax; sanitizing also takes out what XML 1.0 cannot
    // carry and what would reach a CI log viewer's terminal as a control sequence.
    let classname = untrusted(&format!("{}.{}", trial.scenario, trial.runtime));
    let name = untrusted(&trial.name);
    let mut suite = TestSuite::new(name.as_str());
    let time = duration(trial.duration).unwrap_or_default();
    suite.set_time(time);
    // quick-junit's own timestamp has a zone and fractions of a second, which the Ant
    // schema refuses; an attribute of our own says the same in the form it takes.
    let started = trial.started.unwrap_or(now);
    suite.extra.extend([
        ("id".into(), id.to_string().into()),
        ("package".into(), name.as_str().into()),
        ("hostname".into(), host.into()),
        (
            "timestamp".into(),
            started.format("%Y-%m-%dT%H:%M:%S").to_string().into(),
        ),
    ]);
    suite.set_system_out("").set_system_err("");
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
    if let Some(network) = &trial.network {
        suite.add_property(("network".to_string(), untrusted(network)));
    }
    let case = |name: &str, status: TestCaseStatus, time: Duration| {
        let mut case = TestCase::new(untrusted(name), status);
        case.set_classname(classname.as_str()).set_time(time);
        case
    };
    match &trial.status {
        TrialStatus::Ignored { reason } => {
            let status = with_text(TestCaseStatus::skipped(), untrusted_lines(reason));
            suite.add_test_case(case("trial", status, Duration::ZERO));
            return suite;
        }
        TrialStatus::Failed { message } if trial.start.is_none() => {
            // Never attempted: the harness could not make the run.
            let mut status = with_text(
                TestCaseStatus::non_success(NonSuccessKind::Error),
                untrusted_lines(message),
            );
            status.set_type("error");
            suite.add_test_case(case("start", status, time));
        }
        TrialStatus::Failed { message } if failed_on_start(trial) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(untrusted_lines(message))
                .set_type("start");
            let text = match &trial.start_error {
                Some(error) => format!("{message}\n{error}"),
                None => message.clone(),
            };
            status.set_description(untrusted_lines(&text));
            suite.add_test_case(case("start", status, time));
        }
        TrialStatus::Failed { .. } | TrialStatus::Passed => {
            if trial.checks.is_empty() {
                // A scenario may list no probes (it only expects a start or its
                // failure); a suite with no case would read as "nothing tested".
                suite.add_test_case(case("start", TestCaseStatus::success(), time));
            }
        }
    }
    let start_failed = failed_on_start(trial);
    for check in &trial.checks {
        let status = if check.ok {
            TestCaseStatus::success()
        } else if start_failed && check.got == Outcome::NotRun.as_str() {
            let reason = check.mechanism.as_ref().map_or_else(
                || "the trial failed on its start".to_string(),
                ToString::to_string,
            );
            with_text(
                TestCaseStatus::skipped(),
                untrusted(&format!("not run: {reason}")),
            )
        } else {
            let (kind, ty) = if check.got == Outcome::Error.as_str() {
                (NonSuccessKind::Error, "error")
            } else if check.got == Outcome::Escaped.as_str() {
                (NonSuccessKind::Failure, "escaped")
            } else {
                (NonSuccessKind::Failure, "mismatch")
            };
            let mut s = with_text(
                TestCaseStatus::non_success(kind),
                untrusted(&mismatch_message(check)),
            );
            s.set_type(ty);
            s
        };
        suite.add_test_case(case(&check.step, status, Duration::ZERO));
    }
    suite
}

#[cfg(test)]
pub(crate) mod tests {
    use quick_junit::Report;

    use super::*;
    use crate::report::baseline::tests::{check, trial};

    /// A suite with a trial of every kind JUnit shows: failed checks (an escape, a
    /// mismatch, an error), a failed start, an ignored trial, a passed one, and one
    /// the harness could not attempt.
    pub(crate) fn sample() -> SuiteReport {
        let mut vfork = check("spawn.vfork", "blocked", "escaped", false);
        vfork.mechanism = None;
        vfork.detail = "vfork returned a child".into();
        let mut fork = check("spawn.fork", "blocked", "blocked", true);
        fork.mechanism = Some("EPERM".into());
        let mut bpf = check("kernel.bpf", "blocked:EPERM", "blocked", false);
        bpf.mechanism = Some("EACCES".into());
        bpf.detail = "bpf(2) answered EACCES".into();
        let mut memfd = check("exec.memfd", "blocked", "error", false);
        memfd.detail = "the probe hung".into();
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
        let mut unattempted = trial(
            "broken::runc",
            TrialStatus::Failed {
                message: "cannot create the run directory: No space left on device".into(),
            },
            vec![],
        );
        unattempted.start = None;
        let mut ran = trial(
            "seed::runc",
            TrialStatus::Failed {
                message: "3 checks failed".into(),
            },
            vec![fork, vfork, bpf, memfd],
        );
        ran.started = chrono::DateTime::from_timestamp(1_767_225_600, 250_000_000);
        SuiteReport::new(
            None,
            vec![
                ran,
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
                unattempted,
            ],
        )
    }

    /// quick-junit's reader takes only RFC 3339 timestamps with a zone, the Ant
    /// schema only without one: the reader gets the document without them.
    fn read(xml: &str) -> Report {
        use quick_xml::events::{BytesStart, Event};
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut writer = quick_xml::Writer::new(Vec::new());
        let strip = |tag: &BytesStart| {
            let mut out = BytesStart::new(String::from_utf8(tag.name().as_ref().to_vec()).unwrap());
            out.extend_attributes(
                tag.attributes()
                    .map(Result::unwrap)
                    .filter(|a| a.key.as_ref() != b"timestamp"),
            );
            out
        };
        loop {
            let event = match reader.read_event().unwrap() {
                Event::Eof => break,
                Event::Start(tag) => Event::Start(strip(&tag)),
                Event::Empty(tag) => Event::Empty(strip(&tag)),
                other => other,
            };
            writer.write_event(event).unwrap();
        }
        Report::deserialize_from_str(&String::from_utf8(writer.into_inner()).unwrap())
            .expect("valid JUnit XML")
    }

    fn totals(report: &Report) -> (usize, usize, usize, usize) {
        report.test_suites.iter().fold((0, 0, 0, 0), |t, s| {
            (
                t.0 + s.tests,
                t.1 + s.failures,
                t.2 + s.errors,
                t.3 + s.skipped,
            )
        })
    }

    fn text_of(status: &TestCaseStatus) -> Option<&str> {
        match status {
            TestCaseStatus::NonSuccess { description, .. }
            | TestCaseStatus::Skipped { description, .. } => {
                description.as_ref().map(|d| d.as_str())
            }
            TestCaseStatus::Success { .. } => None,
        }
    }

    #[test]
    fn junit_counts_and_messages_survive_a_round_trip() {
        let xml = to_junit(&sample());
        let report = read(&xml);
        assert_eq!(report.test_suites.len(), 5);
        // 4 checks + (start + 1 skipped check) + 1 skipped trial + 1 check + 1 start.
        assert_eq!(totals(&report), (9, 3, 2, 2));
        let times: Vec<Option<Duration>> = report.test_suites.iter().map(|s| s.time).collect();
        assert!(
            times
                .iter()
                .all(|t| *t == Some(Duration::from_secs_f64(1.5))),
            "{times:?}"
        );

        let runc = &report.test_suites[0];
        assert_eq!(runc.name.as_str(), "seed::runc");
        assert_eq!((runc.failures, runc.errors), (2, 1));
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
                description,
                ..
            } => {
                let want = "expected blocked, got escaped: vfork returned a child";
                assert_eq!(message.as_ref().map(|m| m.as_str()), Some(want));
                // GitLab shows the element's text, not the message.
                assert_eq!(description.as_ref().map(|m| m.as_str()), Some(want));
                assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("escaped"));
            }
            other => panic!("spawn.vfork should fail: {other:?}"),
        }
        assert!(matches!(
            runc.test_cases[0].status,
            TestCaseStatus::Success { .. }
        ));
        // A probe that ended in error is an error, not a finding.
        match &runc.test_cases[3].status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Error,
                ty,
                message,
                ..
            } => {
                assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("error"));
                assert_eq!(
                    message.as_ref().map(|m| m.as_str()),
                    Some("expected blocked, got error: the probe hung")
                );
            }
            other => panic!("exec.memfd should be an error: {other:?}"),
        }
        assert!(
            xml.contains("expected blocked:EPERM, got blocked (EACCES): bpf(2) answered EACCES")
        );
        // Each check has a time (0: probes are not timed one by one), the trial's is
        // its suite's.
        assert!(runc
            .test_cases
            .iter()
            .all(|c| c.time == Some(Duration::ZERO)));
    }

    /// What the Ant schema asks of the document beyond what quick-junit writes: a bare
    /// root, `id`, `package`, `hostname` and a zone-less `timestamp` on each suite,
    /// and `system-out`/`system-err` elements.
    #[test]
    fn junit_root_and_suite_attributes_fit_the_ant_schema() {
        let xml = to_junit(&sample());
        assert!(xml.contains("\n<testsuites>\n"), "{xml}");
        assert!(!xml.contains("<testsuites "), "{xml}");
        let report = read(&xml);
        for (i, suite) in report.test_suites.iter().enumerate() {
            let attr = |k: &str| {
                suite
                    .extra
                    .iter()
                    .find(|(key, _)| key.as_str() == k)
                    .map(|(_, v)| v.as_str().to_string())
            };
            assert_eq!(attr("id"), Some(i.to_string()));
            assert_eq!(attr("package").as_deref(), Some(suite.name.as_str()));
            assert!(attr("hostname").is_some_and(|h| !h.is_empty()));
            assert_eq!(suite.system_out.as_ref().map(|s| s.as_str()), Some(""));
            assert_eq!(suite.system_err.as_ref().map(|s| s.as_str()), Some(""));
        }
        assert!(
            xml.contains(r#"timestamp="2026-01-01T00:00:00""#),
            "the first trial started at 2026-01-01T00:00:00.25Z: {xml}"
        );
        let stamps = xml.matches(" timestamp=\"").count();
        assert_eq!(stamps, 5, "{xml}");
    }

    #[test]
    fn junit_start_failure_is_one_failing_start_case() {
        let report = read(&to_junit(&sample()));
        let crun = &report.test_suites[1];
        assert_eq!((crun.tests, crun.failures, crun.skipped), (2, 1, 1));
        let start = &crun.test_cases[0];
        assert_eq!(start.name.as_str(), "start");
        match &start.status {
            TestCaseStatus::NonSuccess {
                message,
                description,
                ty,
                ..
            } => {
                assert_eq!(
                    message.as_ref().map(|m| m.as_str()),
                    Some("expected the container to start; it did not")
                );
                assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("start"));
                // The message, then the runtime's words. The ANSI escape is not a
                // character XML can carry; it is gone.
                let description = description.as_ref().map(|d| d.as_str()).unwrap_or("");
                assert!(description.starts_with(
                    "expected the container to start; it did not\nexec: operation not permitted"
                ));
                assert!(!description.contains('\x1b'));
            }
            other => panic!("start should fail: {other:?}"),
        }
        assert_eq!(start.time, Some(Duration::from_secs_f64(1.5)));
        assert!(matches!(
            &crun.test_cases[1].status,
            TestCaseStatus::Skipped { message: Some(m), .. } if m.as_str() == "not run: start-failure"
        ));
        assert_eq!(
            text_of(&crun.test_cases[1].status),
            Some("not run: start-failure")
        );
    }

    #[test]
    fn junit_unattempted_trial_is_an_error() {
        let report = read(&to_junit(&sample()));
        let broken = &report.test_suites[4];
        assert_eq!(
            (broken.tests, broken.failures, broken.errors, broken.skipped),
            (1, 0, 1, 0)
        );
        let case = &broken.test_cases[0];
        assert_eq!(case.name.as_str(), "start");
        assert!(matches!(
            &case.status,
            TestCaseStatus::NonSuccess { kind: NonSuccessKind::Error, ty: Some(t), .. } if t.as_str() == "error"
        ));
        assert_eq!(
            text_of(&case.status),
            Some("cannot create the run directory: No space left on device")
        );
    }

    #[test]
    fn junit_ignored_trial_is_skipped_with_reason() {
        let report = read(&to_junit(&sample()));
        let runsc = &report.test_suites[2];
        assert_eq!((runsc.tests, runsc.skipped), (1, 1));
        assert_eq!(runsc.test_cases[0].name.as_str(), "trial");
        assert!(matches!(
            &runsc.test_cases[0].status,
            TestCaseStatus::Skipped { message: Some(m), .. } if m.as_str() == "runsc is not installed"
        ));
        assert_eq!(
            text_of(&runsc.test_cases[0].status),
            Some("runsc is not installed")
        );
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
        let report = read(&to_junit(&SuiteReport::new(None, vec![t, bad_duration])));
        assert_eq!(totals(&report), (3, 1, 0, 0));
        assert_eq!(report.test_suites[0].test_cases[0].name.as_str(), "start");
        assert_eq!(report.test_suites[1].test_cases[0].name.as_str(), "start");
        // A duration no Duration holds is written as 0: the schemas require a time.
        assert_eq!(report.test_suites[1].time, Some(Duration::ZERO));
    }
}
