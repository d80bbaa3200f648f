//! Comparison of a `breakout test` run with a baseline: a suite report saved by an
//! earlier run (`breakout test --json FILE`), so CI can tell what a change made worse.
//!
//! Trials are matched by name (`scenario::runtime`) and checks by step. A baseline is
//! only as good as what it ran: a trial it lacks or ignored (runtime missing there) has
//! no verdicts to compare with, so that trial is reported as new and judged by its
//! scenario alone, never as one regression per escape its scenario expects; a step
//! that now did not run, or ended in `error`, is not called fixed either: only a
//! verdict seen not escaping is.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::suite::{SuiteReport, TrialOutcome, TrialStatus, SUITE_SCHEMA};
use super::Outcome;

/// Why a baseline file could not be used.
///
/// Each message starts with the file; those about its content give the 1-based line
/// and column as `file:line:column: ...`, so editors can jump there.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file could not be read.
    #[error("{}: cannot read baseline: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file is not JSON, or is JSON of the wrong shape. `field` is the key path of
    /// the offending value (`trials[2].checks[0].ok`), or `top level`.
    #[error("{}:{line}:{column}: {field}: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },

    /// The JSON is a report of another kind or version; comparing fields whose
    /// meaning may differ would give a wrong diff, so this is refused.
    #[error(
        "{}: not a {expected} report (its schema is {}); make the baseline with `breakout test --json FILE`",
        path.display(),
        found.as_deref().map_or_else(|| "missing".to_string(), |s| format!("{s:?}"))
    )]
    Schema {
        path: PathBuf,
        found: Option<String>,
        expected: &'static str,
    },
}

/// Reads a suite report written by `breakout test --json FILE`.
///
/// Fields added in later releases of the same schema are ignored; a different schema
/// (including a `breakout run` report, `breakout-report/1`) is an error.
pub fn load_baseline(path: &Path) -> Result<SuiteReport, BaselineError> {
    let bytes = std::fs::read(path).map_err(|source| BaselineError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes, path)
}

/// Parses a suite report from `text`; `path` is where it came from, for messages.
pub fn parse_baseline(text: &str, path: &Path) -> Result<SuiteReport, BaselineError> {
    parse(text.as_bytes(), path)
}

/// Bytes rather than text so that invalid UTF-8 is reported by serde_json with its
/// position, like any other error in the file.
fn parse(bytes: &[u8], path: &Path) -> Result<SuiteReport, BaselineError> {
    /// Only the schema, read first so that a report of another kind is named as such
    /// rather than by its first field that does not fit.
    #[derive(Deserialize)]
    struct Head {
        schema: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_slice(bytes)
        .map_err(|e| json_error(path, bytes, "top level".to_string(), &e))?;
    let found = head.schema.map(|s| match s {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    });
    if found.as_deref() != Some(SUITE_SCHEMA) {
        return Err(BaselineError::Schema {
            path: path.to_path_buf(),
            found,
            expected: SUITE_SCHEMA,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut suite: SuiteReport = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = match e.path().to_string() {
            p if p == "." => "top level".to_string(),
            p => p,
        };
        json_error(path, bytes, field, e.inner())
    })?;
    // A baseline is a file that held container output: its strings reach the
    // Markdown summary and the terminal.
    suite.sanitize();
    Ok(suite)
}

fn json_error(path: &Path, bytes: &[u8], field: String, err: &serde_json::Error) -> BaselineError {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    // serde quotes the offending value, which is the file's text.
    let message = crate::sanitize::untrusted(full.strip_suffix(&suffix).unwrap_or(&full));
    let field = crate::sanitize::untrusted(&field);
    let line = err.line().max(1);
    BaselineError::Json {
        path: path.to_path_buf(),
        line,
        column: char_column(bytes, line, err.column()),
        field,
        message,
    }
}

/// serde_json counts columns in bytes; editors count characters from 1.
fn char_column(bytes: &[u8], line: usize, byte_column: usize) -> usize {
    let Some(line_bytes) = bytes.split(|b| *b == b'\n').nth(line - 1) else {
        return byte_column.max(1);
    };
    let end = byte_column.min(line_bytes.len());
    // Counting UTF-8 lead bytes counts characters, even on a line that is not
    // valid UTF-8 (each stray byte then counts as one).
    line_bytes[..end]
        .iter()
        .filter(|b| (**b & 0xC0) != 0x80)
        .count()
        .max(1)
}

/// What changed between a baseline and this run. Every list is in the order of the
/// run it comes from (`now` for what appeared, the baseline for what went away).
///
/// Only a trial that ran in both can change its verdicts. A trial the baseline lacks
/// or did not run (ignored there) is a new trial, not a list of regressions: it is
/// judged by its scenario, as a run without a baseline would judge it, so only what
/// its scenario did not expect counts (an unexpected escape, a failure).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BaselineDiff {
    /// (trial name, step) escaped now where it did not escape before: the baseline
    /// saw that step of that trial run and not escape (`blocked`, `contained`,
    /// `not-applicable`), or it has no verdict to compare with (trial absent or
    /// ignored there, step absent, `not-run`, `error`, `indeterminate`) and the
    /// scenario does not expect the escape.
    pub new_escapes: Vec<(String, String)>,
    /// (trial name, step) escaped in the baseline, and now ran without escaping
    /// (`blocked`, `contained` or `not-applicable`).
    pub fixed: Vec<(String, String)>,
    /// Trials failed now that had not failed in the baseline (passed, ignored, absent).
    pub new_failures: Vec<String>,
    /// Trials failed in the baseline that pass now.
    pub fixed_failures: Vec<String>,
    /// Trials now that the baseline does not have.
    pub new_trials: Vec<String>,
    /// Trials that ran now and were ignored in the baseline (a runtime installed
    /// since): nothing to compare them with, like new trials.
    pub not_run_before: Vec<String>,
    /// Trials that ran in the baseline and are ignored now: what they covered was not
    /// checked this time.
    pub not_run_now: Vec<String>,
    /// Trials of the baseline that this run does not have.
    pub gone_trials: Vec<String>,
}

impl BaselineDiff {
    /// Whether this run is worse than the baseline: a new escape or a new failure.
    pub fn worse(&self) -> bool {
        !self.new_escapes.is_empty() || !self.new_failures.is_empty()
    }

    /// One line: `2 new escapes, 1 fixed; 0 new failures`, then the other counts
    /// only where they are not zero.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{}, {} fixed; {}",
            count(self.new_escapes.len(), "new escape", "new escapes"),
            self.fixed.len(),
            count(self.new_failures.len(), "new failure", "new failures"),
        );
        if !self.fixed_failures.is_empty() {
            let _ = write!(
                out,
                ", {}",
                count(self.fixed_failures.len(), "fixed failure", "fixed failures")
            );
        }
        if !self.new_trials.is_empty() || !self.gone_trials.is_empty() {
            let _ = write!(
                out,
                "; {}, {} gone",
                count(self.new_trials.len(), "new trial", "new trials"),
                self.gone_trials.len()
            );
        }
        if !self.not_run_before.is_empty() {
            let _ = write!(
                out,
                "; {} not run in the baseline",
                count(self.not_run_before.len(), "trial", "trials")
            );
        }
        if !self.not_run_now.is_empty() {
            let _ = write!(
                out,
                "; {} not run now",
                count(self.not_run_now.len(), "trial", "trials")
            );
        }
        out
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn ignored(trial: &TrialOutcome) -> bool {
    matches!(trial.status, TrialStatus::Ignored { .. })
}

/// Whether a verdict is an observation the step can be compared by: it ran and either
/// escaped or did not. `not-run`, `error` and `indeterminate` say nothing either way.
fn observed(got: &str) -> bool {
    [
        Outcome::Escaped,
        Outcome::Blocked,
        Outcome::Contained,
        Outcome::NotApplicable,
    ]
    .iter()
    .any(|o| o.as_str() == got)
}

/// Compares this run with a baseline, by trial name and step.
pub fn diff(baseline: &SuiteReport, now: &SuiteReport) -> BaselineDiff {
    // First occurrence wins should a name repeat: a report never repeats one, and a
    // hand-edited baseline must not make the diff panic or double count.
    let mut before: HashMap<&str, &TrialOutcome> = HashMap::new();
    for t in &baseline.trials {
        before.entry(t.name.as_str()).or_insert(t);
    }
    let now_names: HashSet<&str> = now.trials.iter().map(|t| t.name.as_str()).collect();
    let mut out = BaselineDiff::default();
    let mut seen: HashSet<&str> = HashSet::new();
    for t in &now.trials {
        if !seen.insert(t.name.as_str()) {
            continue;
        }
        let old = before.get(t.name.as_str()).copied();
        match old {
            None => out.new_trials.push(t.name.clone()),
            Some(o) if ignored(o) && !ignored(t) => out.not_run_before.push(t.name.clone()),
            Some(o) if !ignored(o) && ignored(t) => out.not_run_now.push(t.name.clone()),
            Some(_) => {}
        }
        let failed_now = matches!(t.status, TrialStatus::Failed { .. });
        let failed_before = old.is_some_and(|o| matches!(o.status, TrialStatus::Failed { .. }));
        if failed_now && !failed_before {
            out.new_failures.push(t.name.clone());
        }
        if failed_before && t.status == TrialStatus::Passed {
            out.fixed_failures.push(t.name.clone());
        }
        // The baseline's verdict for a step, where it observed one.
        let before_step = |step: &str| {
            old.filter(|o| !ignored(o))
                .and_then(|o| o.checks.iter().find(|c| c.step == step))
                .filter(|c| observed(&c.got))
        };
        for c in t.escapes() {
            let new = match before_step(&c.step) {
                Some(b) => b.got != Outcome::Escaped.as_str(),
                // Nothing to compare with: the scenario is the only judge.
                None => !c.ok,
            };
            if new {
                out.new_escapes.push((t.name.clone(), c.step.clone()));
            }
        }
        if let Some(old) = old {
            for c in old.escapes() {
                let now_seen_holding = t.checks.iter().any(|n| {
                    n.step == c.step && observed(&n.got) && n.got != Outcome::Escaped.as_str()
                });
                if now_seen_holding {
                    out.fixed.push((t.name.clone(), c.step.clone()));
                }
            }
        }
    }
    let mut gone_seen: HashSet<&str> = HashSet::new();
    for t in &baseline.trials {
        if !now_names.contains(t.name.as_str()) && gone_seen.insert(t.name.as_str()) {
            out.gone_trials.push(t.name.clone());
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::suite::Check;

    pub(crate) fn check(step: &str, expected: &str, got: &str, ok: bool) -> Check {
        Check {
            step: step.to_string(),
            goal: crate::catalog::find(crate::protocol::split_step(step).0).map(|p| p.goal),
            expected: expected.to_string(),
            got: got.to_string(),
            mechanism: None,
            detail: String::new(),
            ok,
            prediction: None,
        }
    }

    pub(crate) fn trial(name: &str, status: TrialStatus, checks: Vec<Check>) -> TrialOutcome {
        let (scenario, runtime) = name.split_once("::").unwrap_or((name, "runc"));
        let ignored = matches!(status, TrialStatus::Ignored { .. });
        TrialOutcome {
            name: name.to_string(),
            scenario: scenario.to_string(),
            scenario_file: PathBuf::from(format!("scenarios/{scenario}.toml")),
            runtime: runtime.to_string(),
            expected_start: "starts".to_string(),
            start: (!ignored).then(|| "started".to_string()),
            start_error: None,
            network: Some("bridge".into()),
            status,
            checks,
            duration: 1.5,
            started: None,
        }
    }

    fn failed() -> TrialStatus {
        TrialStatus::Failed {
            message: "1 check failed".into(),
        }
    }

    fn suite(trials: Vec<TrialOutcome>) -> SuiteReport {
        SuiteReport::new(None, trials)
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn new_escape_and_new_failure_make_it_worse() {
        let before = suite(vec![trial(
            "seed::runc",
            TrialStatus::Passed,
            vec![check("spawn.vfork", "blocked", "blocked", true)],
        )]);
        let now = suite(vec![trial(
            "seed::runc",
            failed(),
            vec![check("spawn.vfork", "blocked", "escaped", false)],
        )]);
        let d = diff(&before, &now);
        assert_eq!(d.new_escapes, pairs(&[("seed::runc", "spawn.vfork")]));
        assert_eq!(d.new_failures, vec!["seed::runc".to_string()]);
        assert!(d.fixed.is_empty() && d.fixed_failures.is_empty());
        assert!(d.worse());
        assert_eq!(d.summary(), "1 new escape, 0 fixed; 1 new failure");
    }

    #[test]
    fn escape_that_stops_is_fixed_and_failure_that_passes_is_fixed() {
        let before = suite(vec![trial(
            "seed::runc",
            failed(),
            vec![
                check("spawn.vfork", "blocked", "escaped", false),
                check("exec.shell", "any", "escaped", true),
            ],
        )]);
        let now = suite(vec![trial(
            "seed::runc",
            TrialStatus::Passed,
            vec![
                check("spawn.vfork", "blocked", "blocked", true),
                check("exec.shell", "any", "not-applicable", true),
            ],
        )]);
        let d = diff(&before, &now);
        assert_eq!(
            d.fixed,
            pairs(&[("seed::runc", "spawn.vfork"), ("seed::runc", "exec.shell")])
        );
        assert_eq!(d.fixed_failures, vec!["seed::runc".to_string()]);
        assert!(d.new_escapes.is_empty() && d.new_failures.is_empty());
        assert!(!d.worse());
        assert_eq!(
            d.summary(),
            "0 new escapes, 2 fixed; 0 new failures, 1 fixed failure"
        );
    }

    #[test]
    fn an_escape_that_now_did_not_run_is_not_fixed() {
        let before = suite(vec![
            trial(
                "seed::runc",
                TrialStatus::Passed,
                vec![check("spawn.vfork", "any", "escaped", true)],
            ),
            trial(
                "seed::crun",
                TrialStatus::Passed,
                vec![check("spawn.vfork", "any", "escaped", true)],
            ),
        ]);
        let mut not_started = trial(
            "seed::runc",
            failed(),
            vec![check("spawn.vfork", "any", "not-run", true)],
        );
        not_started.start = Some("failed-to-start".into());
        let now = suite(vec![
            not_started,
            trial(
                "seed::crun",
                TrialStatus::Ignored {
                    reason: "crun is not installed".into(),
                },
                vec![],
            ),
        ]);
        let d = diff(&before, &now);
        assert!(d.fixed.is_empty(), "{d:?}");
        assert_eq!(d.new_failures, vec!["seed::runc".to_string()]);
        assert!(d.new_trials.is_empty() && d.gone_trials.is_empty());
    }

    #[test]
    fn new_and_gone_trials() {
        let before = suite(vec![trial("old::runc", TrialStatus::Passed, vec![])]);
        let now = suite(vec![trial(
            "new::runc",
            TrialStatus::Passed,
            vec![check("kernel.bpf", "any", "escaped", true)],
        )]);
        let d = diff(&before, &now);
        assert_eq!(d.new_trials, vec!["new::runc".to_string()]);
        assert_eq!(d.gone_trials, vec!["old::runc".to_string()]);
        // An escape its scenario expects is no regression of a trial with no past.
        assert!(d.new_escapes.is_empty(), "{d:?}");
        assert!(!d.worse());
        assert_eq!(
            d.summary(),
            "0 new escapes, 0 fixed; 0 new failures; 1 new trial, 1 gone"
        );
    }

    /// A passing trial with expected escapes, as the shipped scenarios have them.
    fn passing_with_expected_escapes(name: &str) -> TrialOutcome {
        trial(
            name,
            TrialStatus::Passed,
            vec![
                check("exec.execve", "escaped", "escaped", true),
                check("spawn.vfork", "any", "escaped", true),
                check("spawn.fork", "blocked", "blocked", true),
            ],
        )
    }

    /// Issue 16: a baseline that lacks a trial made every expected escape of that
    /// trial a "new escape" (68 of them, exit 1, for a suite whose trials all passed).
    #[test]
    fn issue_16_a_trial_the_baseline_lacks_is_a_new_trial_not_regressions() {
        let before = suite(vec![passing_with_expected_escapes("seed::runc")]);
        let now = suite(vec![
            passing_with_expected_escapes("seed::runc"),
            passing_with_expected_escapes("seed::crun"),
        ]);
        let d = diff(&before, &now);
        assert_eq!(
            d,
            BaselineDiff {
                new_trials: vec!["seed::crun".into()],
                ..BaselineDiff::default()
            }
        );
        assert!(!d.worse());
        assert_eq!(
            d.summary(),
            "0 new escapes, 0 fixed; 0 new failures; 1 new trial, 0 gone"
        );
        // A new trial is still judged by its scenario: an escape it does not expect
        // is new, and so is its failure.
        let mut failing = passing_with_expected_escapes("seed::crun");
        failing.status = failed();
        failing.checks[2] = check("spawn.fork", "blocked", "escaped", false);
        let now = suite(vec![passing_with_expected_escapes("seed::runc"), failing]);
        let d = diff(&before, &now);
        assert_eq!(d.new_escapes, pairs(&[("seed::crun", "spawn.fork")]));
        assert_eq!(d.new_failures, vec!["seed::crun".to_string()]);
        assert!(d.worse());
    }

    #[test]
    fn issue_16_a_trial_ignored_in_the_baseline_is_not_regressions() {
        let ignored = trial(
            "seed::crun",
            TrialStatus::Ignored {
                reason: "crun is not installed".into(),
            },
            vec![],
        );
        let before = suite(vec![passing_with_expected_escapes("seed::runc"), ignored]);
        let now = suite(vec![
            passing_with_expected_escapes("seed::runc"),
            passing_with_expected_escapes("seed::crun"),
        ]);
        let d = diff(&before, &now);
        assert_eq!(
            d,
            BaselineDiff {
                not_run_before: vec!["seed::crun".into()],
                ..BaselineDiff::default()
            }
        );
        assert!(!d.worse());
        assert_eq!(
            d.summary(),
            "0 new escapes, 0 fixed; 0 new failures; 1 trial not run in the baseline"
        );
        // The other way round: ran then, ignored now. Said, and not worse.
        let d = diff(&now, &before);
        assert_eq!(
            d,
            BaselineDiff {
                not_run_now: vec!["seed::crun".into()],
                ..BaselineDiff::default()
            }
        );
        assert!(d.summary().ends_with("; 1 trial not run now"), "{d:?}");
    }

    /// The fix must not hide a real change of a trial present in both: an escape of a
    /// step that was blocked is new even where the scenario allows it (`any`), and an
    /// escape that is now blocked is fixed.
    #[test]
    fn issue_16_real_changes_between_trials_in_both_are_caught() {
        let before = suite(vec![trial(
            "seed::runc",
            TrialStatus::Passed,
            vec![
                check("spawn.vfork", "any", "blocked", true),
                check("exec.execve", "any", "escaped", true),
                check("spawn.fork", "blocked", "blocked", true),
            ],
        )]);
        let now = suite(vec![trial(
            "seed::runc",
            TrialStatus::Passed,
            vec![
                check("spawn.vfork", "any", "escaped", true),
                check("exec.execve", "any", "blocked", true),
                check("spawn.fork", "blocked", "blocked", true),
            ],
        )]);
        let d = diff(&before, &now);
        assert_eq!(
            d,
            BaselineDiff {
                new_escapes: pairs(&[("seed::runc", "spawn.vfork")]),
                fixed: pairs(&[("seed::runc", "exec.execve")]),
                ..BaselineDiff::default()
            }
        );
        assert!(d.worse());
        assert_eq!(d.summary(), "1 new escape, 1 fixed; 0 new failures");
    }

    /// A step the baseline has no verdict for (it did not run there, errored, or is
    /// new in the scenario) is judged by the scenario, like a step of a new trial.
    #[test]
    fn a_step_without_a_verdict_in_the_baseline_is_judged_by_its_scenario() {
        let before = suite(vec![trial(
            "seed::runc",
            failed(),
            vec![
                check("spawn.vfork", "any", "not-run", false),
                check("exec.execve", "blocked", "error", false),
            ],
        )]);
        let now = suite(vec![trial(
            "seed::runc",
            failed(),
            vec![
                check("spawn.vfork", "any", "escaped", true),
                check("exec.execve", "blocked", "escaped", false),
                check("exec.memfd", "blocked", "escaped", false),
                check("exec.shell", "escaped", "escaped", true),
            ],
        )]);
        let d = diff(&before, &now);
        assert_eq!(
            d.new_escapes,
            pairs(&[("seed::runc", "exec.execve"), ("seed::runc", "exec.memfd")])
        );
        assert!(d.fixed.is_empty() && d.new_trials.is_empty(), "{d:?}");
        assert!(d.worse());
    }

    #[test]
    fn same_run_is_no_change() {
        let run = suite(vec![trial(
            "seed::runc",
            failed(),
            vec![check("spawn.vfork", "blocked", "escaped", false)],
        )]);
        let d = diff(&run, &run);
        assert_eq!(d, BaselineDiff::default());
        assert!(!d.worse());
        assert_eq!(d.summary(), "0 new escapes, 0 fixed; 0 new failures");
    }

    /// A file under the temporary directory, removed when dropped.
    struct TempFile(PathBuf);

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn write_temp(name: &str, text: &str) -> TempFile {
        // Unique per process and test, since tests run in parallel threads.
        let path =
            std::env::temp_dir().join(format!("breakout-baseline-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    #[test]
    fn load_baseline_round_trips_a_suite_report() {
        let run = suite(vec![trial(
            "seed::runc",
            failed(),
            vec![check("spawn.vfork", "blocked", "escaped", false)],
        )]);
        let file = write_temp("ok.json", &serde_json::to_string_pretty(&run).unwrap());
        let loaded = load_baseline(&file.0).unwrap();
        assert_eq!(loaded.trials, run.trials);
        assert_eq!(diff(&loaded, &run), BaselineDiff::default());
    }

    #[test]
    fn load_baseline_names_file_line_and_column() {
        let file = write_temp(
            "syntax.json",
            "{\n  \"schema\": \"breakout-suite/1\",\n  oops\n}\n",
        );
        let err = load_baseline(&file.0).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                BaselineError::Json {
                    line: 3,
                    column: 3,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.starts_with(&format!("{}:3:3: ", file.0.display())),
            "{msg}"
        );
    }

    #[test]
    fn load_baseline_names_the_field_of_a_wrong_shape() {
        let mut value = serde_json::to_value(suite(vec![trial(
            "seed::runc",
            TrialStatus::Passed,
            vec![check("spawn.vfork", "blocked", "blocked", true)],
        )]))
        .unwrap();
        value["trials"][0]["checks"][0]["ok"] = serde_json::json!("yes");
        let file = write_temp("shape.json", &serde_json::to_string_pretty(&value).unwrap());
        let msg = load_baseline(&file.0).unwrap_err().to_string();
        assert!(msg.contains("trials[0].checks[0].ok"), "{msg}");
        assert!(msg.starts_with(&file.0.display().to_string()), "{msg}");
    }

    #[test]
    fn load_baseline_refuses_another_schema() {
        let file = write_temp("run.json", r#"{"schema": "breakout-report/1", "runs": []}"#);
        let err = load_baseline(&file.0).unwrap_err();
        assert!(
            matches!(&err, BaselineError::Schema { found: Some(s), .. } if s == "breakout-report/1"),
            "{err}"
        );
        assert!(err.to_string().contains("breakout-suite/1"), "{err}");
        let file = write_temp("none.json", r#"{"trials": []}"#);
        assert!(matches!(
            load_baseline(&file.0),
            Err(BaselineError::Schema { found: None, .. })
        ));
    }

    #[test]
    fn load_baseline_names_a_missing_file() {
        let path = Path::new("/nonexistent/breakout-baseline.json");
        let msg = load_baseline(path).unwrap_err().to_string();
        assert!(
            msg.starts_with("/nonexistent/breakout-baseline.json: cannot read baseline"),
            "{msg}"
        );
    }
}
