//! A `breakout test` suite as a pull-request comment (GitHub-flavoured Markdown).
//!
//! Read top to bottom by a reviewer with little time: the verdict in one line, then
//! what changed against the baseline (when there is one), the trials in a table, what
//! went wrong in each failed trial, and each trial's escapes folded away in
//! `<details>`. Text from the suite (details, runtime errors) is escaped so that it
//! cannot break a table or inject HTML into the comment.

use std::fmt::Write as _;

use super::baseline::BaselineDiff;
use super::junit::failed_on_start;
use super::suite::{Check, SuiteReport, TrialOutcome, TrialStatus};
use super::Outcome;
use crate::sanitize;

/// The comment for a suite, with the changes against a baseline first if given.
pub fn to_markdown(suite: &SuiteReport, baseline: Option<&BaselineDiff>) -> String {
    let mut out = String::new();
    verdict_line(&mut out, suite);
    if let Some(diff) = baseline {
        baseline_sections(&mut out, diff);
    }
    trial_table(&mut out, suite);
    for trial in &suite.trials {
        if let TrialStatus::Failed { message } = &trial.status {
            failed_section(&mut out, trial, message);
        }
    }
    escapes_section(&mut out, suite);
    // Sections end in a blank line to separate them; the comment ends in one newline.
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn verdict_line(out: &mut String, suite: &SuiteReport) {
    let crate::report::suite::Tally {
        failed,
        passed,
        ignored,
        escapes,
        unexpected,
    } = suite.tally();
    let mismatches: usize = suite.trials.iter().map(mismatches).sum();
    let _ = writeln!(
        out,
        "{} **breakout test**: {failed} failed, {passed} passed, {ignored} ignored · \
         {escapes} escaped {} ({unexpected} not expected) · {mismatches} {}\n",
        if failed == 0 { "✅" } else { "❌" },
        plural(escapes, "step", "steps"),
        plural(mismatches, "mismatch", "mismatches"),
    );
}

fn baseline_sections(out: &mut String, diff: &BaselineDiff) {
    let _ = writeln!(out, "**Against the baseline:** {}\n", text(&diff.summary()));
    for (title, steps) in [("New escapes", &diff.new_escapes), ("Fixed", &diff.fixed)] {
        let _ = writeln!(out, "### {title}\n");
        if steps.is_empty() {
            out.push_str("_none_\n");
        }
        for (trial, step) in steps {
            let _ = writeln!(out, "- {}: {}", code(trial), code(step));
        }
        out.push('\n');
    }
    let mut others = Vec::new();
    for (title, names) in [
        ("New failures", &diff.new_failures),
        ("Fixed failures", &diff.fixed_failures),
        ("New trials", &diff.new_trials),
        ("Not run in the baseline", &diff.not_run_before),
        ("Not run now", &diff.not_run_now),
        ("Gone trials", &diff.gone_trials),
    ] {
        if !names.is_empty() {
            let names: Vec<String> = names.iter().map(|n| code(n)).collect();
            others.push(format!("**{title}:** {}", names.join(", ")));
        }
    }
    if !others.is_empty() {
        let _ = writeln!(out, "{}\n", others.join(" · "));
    }
}

fn trial_table(out: &mut String, suite: &SuiteReport) {
    if suite.trials.is_empty() {
        out.push_str("_No trials._\n\n");
        return;
    }
    out.push_str("| scenario | runtime | network | status | escapes | mismatches |\n");
    out.push_str("|---|---|---|---|---:|---:|\n");
    for t in &suite.trials {
        let status = match &t.status {
            TrialStatus::Passed => "✅ passed".to_string(),
            TrialStatus::Failed { .. } if failed_on_start(t) => "❌ failed (start)".to_string(),
            TrialStatus::Failed { .. } => "❌ failed".to_string(),
            TrialStatus::Ignored { reason } => format!("⏭️ ignored: {}", cell(reason)),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {status} | {} | {} |",
            cell(&t.scenario),
            cell(&t.runtime),
            cell(t.network.as_deref().unwrap_or("–")),
            t.escapes().count(),
            mismatches(t),
        );
    }
    out.push('\n');
}

fn failed_section(out: &mut String, trial: &TrialOutcome, message: &str) {
    let _ = writeln!(out, "### ❌ {}\n", code(&trial.name));
    let _ = writeln!(out, "> {}\n", text(message));
    if let Some(error) = &trial.start_error {
        let _ = writeln!(out, "The runtime said:\n\n{}", fenced(error));
    }
    let on_start = failed_on_start(trial);
    let (not_run, shown): (Vec<&Check>, Vec<&Check>) = trial
        .checks
        .iter()
        .filter(|c| !c.ok)
        .partition(|c| on_start && c.got == Outcome::NotRun.as_str());
    if !shown.is_empty() {
        out.push_str("| step | expected | got | mechanism |\n|---|---|---|---|\n");
        for c in shown {
            let got = if c.got == Outcome::Escaped.as_str() {
                format!("**{}**", cell(&c.got))
            } else {
                cell(&c.got)
            };
            let _ = writeln!(
                out,
                "| {} | {} | {got} | {} |",
                code(&c.step),
                cell(&c.expected),
                c.mechanism
                    .as_ref()
                    .map(|m| cell(&m.to_string()))
                    .unwrap_or_default(),
            );
        }
        out.push('\n');
    }
    if !not_run.is_empty() {
        // One cause, many rows: listing every step that did not run would bury it.
        let _ = writeln!(
            out,
            "{} {} did not run.\n",
            not_run.len(),
            plural(not_run.len(), "step", "steps")
        );
    }
}

fn escapes_section(out: &mut String, suite: &SuiteReport) {
    let with_escapes: Vec<&TrialOutcome> = suite
        .trials
        .iter()
        .filter(|t| t.escapes().next().is_some())
        .collect();
    if with_escapes.is_empty() {
        return;
    }
    out.push_str("### Escaped steps\n\n");
    for t in with_escapes {
        let n = t.escapes().count();
        let unexpected = t.escapes().filter(|c| !c.ok).count();
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code>: {n} escaped {} ({unexpected} not expected)</summary>\n",
            html(&t.name),
            plural(n, "step", "steps"),
        );
        out.push_str("| step | expected | mechanism | detail |\n|---|---|---|---|\n");
        for c in t.escapes() {
            let expected = if c.ok {
                cell(&c.expected)
            } else {
                format!("**{}**", cell(&c.expected))
            };
            let _ = writeln!(
                out,
                "| {} | {expected} | {} | {} |",
                code(&c.step),
                c.mechanism
                    .as_ref()
                    .map(|m| cell(&m.to_string()))
                    .unwrap_or_default(),
                cell(&c.detail),
            );
        }
        out.push_str("\n</details>\n\n");
    }
}

fn mismatches(t: &TrialOutcome) -> usize {
    t.checks.iter().filter(|c| !c.ok).count()
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

// Every string below may hold what a container printed: each helper sanitizes it
// (crate::sanitize) and escapes it for where it goes, so no string can leave its
// table cell, code span or block.

/// Text safe in HTML: GitHub renders raw tags in comments, and a runtime's error
/// such as `<nil>` would otherwise vanish.
fn html(s: &str) -> String {
    sanitize::html(s)
}

/// Multi-line text folded into one line, as Markdown text.
fn text(s: &str) -> String {
    sanitize::markdown_text(&s.replace(['\r', '\n'], " "))
}

/// Text for a table cell: [`text`] already escapes every pipe.
fn cell(s: &str) -> String {
    text(s)
}

/// A code span that no backtick or pipe inside can end or split.
fn code(s: &str) -> String {
    sanitize::markdown_code(&s.replace(['\r', '\n'], " "))
}

/// A fenced block that no run of backticks inside can close.
fn fenced(s: &str) -> String {
    sanitize::markdown_fenced(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::baseline::tests::{check, trial};

    fn sample() -> SuiteReport {
        let mut vfork = check("spawn.vfork", "blocked", "escaped", false);
        vfork.detail = "child | pid 7 <exited>".into();
        let mut shell = check("exec.shell", "any", "escaped", true);
        shell.mechanism = Some("witnessed".into());
        let mut bpf = check("kernel.bpf", "blocked:EPERM", "blocked", false);
        bpf.mechanism = Some("EACCES".into());
        let mut crun = trial(
            "seed::crun",
            TrialStatus::Failed {
                message: "expected the container to start".into(),
            },
            vec![
                check("spawn.fork", "blocked", "not-run", false),
                check("spawn.vfork", "blocked", "not-run", false),
            ],
        );
        crun.start = Some("failed-to-start".into());
        crun.start_error = Some("exec: ``` operation not permitted".into());
        SuiteReport::new(
            None,
            vec![
                trial(
                    "seed::runc",
                    TrialStatus::Failed {
                        message: "2 checks failed".into(),
                    },
                    vec![check("spawn.fork", "blocked", "blocked", true), vfork, bpf],
                ),
                crun,
                trial("shell::runc", TrialStatus::Passed, vec![shell]),
                trial(
                    "seed::runsc",
                    TrialStatus::Ignored {
                        reason: "runsc | gVisor not installed".into(),
                    },
                    vec![],
                ),
            ],
        )
    }

    #[test]
    fn markdown_verdict_line_and_table() {
        let md = to_markdown(&sample(), None);
        let first = md.lines().next().unwrap();
        assert_eq!(
            first,
            "❌ **breakout test**: 2 failed, 1 passed, 1 ignored · 2 escaped steps \
             (1 not expected) · 4 mismatches"
        );
        assert!(
            md.contains("| seed | runc | bridge | ❌ failed | 1 | 2 |"),
            "{md}"
        );
        assert!(
            md.contains("| seed | crun | bridge | ❌ failed (start) | 0 | 2 |"),
            "{md}"
        );
        assert!(
            md.contains("| shell | runc | bridge | ✅ passed | 1 | 0 |"),
            "{md}"
        );
        // The pipe in the reason would otherwise end the cell.
        assert!(
            md.contains(
                "| seed | runsc | bridge | ⏭️ ignored: runsc \\| gVisor not installed | 0 | 0 |"
            ),
            "{md}"
        );
        assert!(!md.contains("New escapes"));
    }

    #[test]
    fn markdown_failed_trials_list_their_mismatches() {
        let md = to_markdown(&sample(), None);
        assert!(
            md.contains("### ❌ `seed::runc`\n\n> 2 checks failed\n"),
            "{md}"
        );
        assert!(
            md.contains("| `spawn.vfork` | blocked | **escaped** |  |"),
            "{md}"
        );
        assert!(
            md.contains("| `kernel.bpf` | blocked:EPERM | blocked | EACCES |"),
            "{md}"
        );
        // A passing check is no mismatch.
        assert!(!md.contains("| `spawn.fork` | blocked | blocked |"), "{md}");
        // The start failure: the runtime's words in a fence its backticks cannot close,
        // and the steps that did not run counted, not listed.
        assert!(
            md.contains("````\nexec: ``` operation not permitted\n````\n"),
            "{md}"
        );
        assert!(md.contains("2 steps did not run."), "{md}");
        assert!(!md.contains("| `spawn.fork` | blocked | not-run"), "{md}");
    }

    #[test]
    fn markdown_escapes_fold_into_details_per_trial() {
        let md = to_markdown(&sample(), None);
        assert!(md.contains(
            "<details><summary><code>seed::runc</code>: 1 escaped step (1 not expected)</summary>"
        ));
        assert!(md.contains(
            "<details><summary><code>shell::runc</code>: 1 escaped step (0 not expected)</summary>"
        ));
        // Pipes and angle brackets of the detail are escaped for the table.
        assert!(
            md.contains("| `spawn.vfork` | **blocked** |  | child \\| pid 7 &lt;exited&gt; |"),
            "{md}"
        );
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
    }

    #[test]
    fn markdown_baseline_sections_come_first() {
        let diff = BaselineDiff {
            new_escapes: vec![("seed::runc".into(), "spawn.vfork".into())],
            fixed: vec![],
            new_failures: vec!["seed::crun".into()],
            not_run_before: vec!["seed::runsc".into()],
            ..Default::default()
        };
        let md = to_markdown(&sample(), Some(&diff));
        let new = md.find("### New escapes").unwrap();
        let fixed = md.find("### Fixed").unwrap();
        let table = md.find("| scenario |").unwrap();
        assert!(new < fixed && fixed < table, "{md}");
        assert!(md.contains("**Against the baseline:** 1 new escape, 0 fixed; 1 new failure"));
        assert!(
            md.contains("### New escapes\n\n- `seed::runc`: `spawn.vfork`\n"),
            "{md}"
        );
        assert!(md.contains("### Fixed\n\n_none_\n"), "{md}");
        assert!(
            md.contains(
                "**New failures:** `seed::crun` · **Not run in the baseline:** `seed::runsc`"
            ),
            "{md}"
        );
    }

    #[test]
    fn markdown_all_passed() {
        let suite = SuiteReport::new(
            None,
            vec![trial(
                "seed::runc",
                TrialStatus::Passed,
                vec![check("spawn.fork", "blocked", "blocked", true)],
            )],
        );
        let md = to_markdown(&suite, None);
        assert!(md.starts_with(
            "✅ **breakout test**: 0 failed, 1 passed, 0 ignored · 0 escaped steps \
             (0 not expected) · 0 mismatches\n"
        ));
        assert!(!md.contains("<details>") && !md.contains("### "));
    }
}
