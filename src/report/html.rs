//! The HTML report (`--html FILE` on `run`, `compare` and `test`): one self-contained
//! page a person opens in a browser or prints, with nothing fetched from anywhere.
//!
//! A run's page is the probe × runtime grid, colour-coded, rows with an escape first,
//! each cell opening (a `<details>`) its route, evidence, mechanism, detail and the
//! profile's prediction (filter open or closed, the deciding rule and its
//! `file:line:column`, agreement); then where the runtimes differ and why, the subject
//! (profile and settings), the environment and the workload's result. A suite's page
//! is the trials' verdicts, the changes against a baseline when there is one, and each
//! scenario's grid of checks (expected against got) with its trials' failures.
//!
//! Why maud: its templates are checked at compile time and every interpolated value
//! is HTML-escaped unless wrapped in `PreEscaped`, which this module uses only for its
//! own constant stylesheet and script. A forgotten escape is therefore not possible by
//! omission, unlike `format!` with an escaping helper at each call. Every string is
//! also passed through [`crate::sanitize`] first (the reports are sanitized when made;
//! doing it again is idempotent and keeps a raw string that reaches this module inert):
//! control and bidi characters become visible escapes.
//!
//! The page's Content-Security-Policy allows nothing but its own stylesheet and script,
//! named by hash: it loads nothing from the network, and markup that slipped through
//! could run no script. The script only opens every `<details>` before printing, for
//! browsers whose print stylesheet cannot (`::details-content`).

use base64::Engine as _;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::{Digest, Sha256};

use super::baseline::BaselineDiff;
use super::suite::{Check, SuiteReport, TrialOutcome, TrialStatus};
use super::{environment::Environment, Evidence, Outcome, Report, RunReport, StartStatus, Verdict};
use crate::catalog::Goal;
use crate::predict::{Agreement, Prediction};
use crate::sanitize;

const STYLE: &str = r#"
:root { --esc: #b71c1c; --esc-bg: #fde8e8; --blk: #1b5e20; --blk-bg: #e6f4e7;
  --con: #7a5200; --con-bg: #fff3d6; --na-bg: #f0f0f0; --err: #5e2a84; --err-bg: #f1e6f8;
  --ind: #6b5d00; --ind-bg: #fbf7d0; --nr-bg: #fafafa; --line: #c9c9c9; --muted: #555; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem;
  color: #111; background: #fff; max-width: 100%; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem;
  border-bottom: 1px solid var(--line); } h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: #f6f6f6; border: 1px solid #e2e2e2; padding: .5rem; white-space: pre-wrap;
  overflow-wrap: anywhere; margin: .3rem 0; max-height: 30em; overflow: auto; }
.verdict { font-size: 1.05rem; padding: .5rem .7rem; border-radius: 4px; background: var(--blk-bg);
  border-left: 5px solid var(--blk); }
.verdict.alarm { background: var(--esc-bg); border-left-color: var(--esc); font-weight: 600; }
table { border-collapse: collapse; margin: .3rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .45rem; text-align: left; vertical-align: top; }
th { background: #eee; font-weight: 600; }
table.grid { width: 100%; table-layout: auto; }
table.grid thead th { position: sticky; top: 0; z-index: 1; }
tbody.group-head th { background: #ddd; text-transform: uppercase; letter-spacing: .04em; font-size: 12px; }
tbody.escapes tr th.step { color: var(--esc); }
td.cell { min-width: 9rem; max-width: 32rem; }
td.cell summary { cursor: pointer; font-weight: 600; }
td.cell dl, .facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .6rem; margin: .35rem 0 .1rem;
  font-weight: normal; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
.escaped { background: var(--esc-bg); color: var(--esc); } .escaped summary { text-transform: uppercase; }
.blocked { background: var(--blk-bg); color: var(--blk); }
.contained { background: var(--con-bg); color: var(--con); }
.not-applicable { background: var(--na-bg); color: #444; }
.error { background: var(--err-bg); color: var(--err); }
.indeterminate { background: var(--ind-bg); color: var(--ind); }
.not-run { background: var(--nr-bg); color: #777; }
td.cell dl, td.cell dd { color: #111; }
td.mismatch { outline: 3px solid var(--esc); outline-offset: -3px; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-weight: 600; font-size: 12px; }
.passed { background: var(--blk-bg); color: var(--blk); } .failed { background: var(--esc-bg); color: var(--esc); }
.ignored { background: var(--na-bg); color: #444; }
.unexplained { color: var(--esc); font-weight: 700; }
.muted { color: var(--muted); } .differs { color: var(--err); font-weight: 600; }
ul.plain { margin: .2rem 0; padding-left: 1.2rem; }
.legend span { margin-right: .4rem; }
@media (max-width: 900px) { body { margin: .6rem; } td.cell { min-width: 6rem; } }
@media print {
  body { margin: 0; font-size: 10pt; }
  details::details-content { content-visibility: visible; display: block; }
  summary { list-style: none; } summary::-webkit-details-marker { display: none; }
  table.grid thead th { position: static; }
  tr, td.cell, section.trial { break-inside: avoid; }
  pre { max-height: none; overflow: visible; }
  .verdict, td.cell, .badge, th { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
"#;

/// Opens every `<details>` before printing, where the stylesheet cannot.
const SCRIPT: &str = "addEventListener('beforeprint',function(){document.querySelectorAll('details').forEach(function(d){d.open=true})});";

fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The policy: nothing from anywhere, but the page's own stylesheet and script.
fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; base-uri 'none'; form-action 'none'",
        csp_hash(STYLE),
        csp_hash(SCRIPT)
    )
}

/// One line of untrusted text, safe to show (maud escapes the markup).
fn t(text: &str) -> String {
    sanitize::untrusted(text)
}

/// Lines of untrusted text, newlines kept.
fn lines(text: &str) -> String {
    sanitize::untrusted_lines(text)
}

fn page(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(content_security_policy());
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (t(title)) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (body)
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
    .into_string()
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn goal_text(goal: Option<Goal>) -> &'static str {
    goal.map_or("?", Goal::as_str)
}

/// The words of an agreement, and whether it is a finding to show loudly.
fn agreement_text(a: &Agreement) -> (String, bool) {
    match a {
        Agreement::Agrees => ("agrees".into(), false),
        Agreement::Beyond(why) => (format!("blocked past the filter: {}", t(why)), false),
        Agreement::Quirk(why) => (format!("explained by a runtime quirk: {}", t(why)), false),
        Agreement::Unexplained(why) => (format!("UNEXPLAINED: {}", t(why)), true),
        Agreement::NotCompared => ("not compared".into(), false),
    }
}

fn prediction_rows(p: &Prediction) -> Markup {
    let (agreement, loud) = agreement_text(&p.agreement);
    html! {
        dt { "filter" }
        dd { (p.filter) @if let Some(entry) = p.entry { " · " (entry.as_str()) " entry" } }
        @if let Some(route) = &p.route { dt { "predicted route" } dd.mono { (t(route)) } }
        dt { "filter's answer" }
        dd.mono { (t(&p.action)) @if let Some(m) = &p.mechanism { " → " (t(m)) } }
        dt { "deciding rule" } dd { (t(&p.rule)) }
        @if let Some(place) = &p.place { dt { "rule at" } dd.mono { (t(&place.to_string())) } }
        dt { "agreement" }
        dd.unexplained[loud] data-agreement=(agreement_kind(&p.agreement)) { (agreement) }
    }
}

fn agreement_kind(a: &Agreement) -> &'static str {
    match a {
        Agreement::Agrees => "agrees",
        Agreement::Beyond(_) => "beyond",
        Agreement::Quirk(_) => "quirk",
        Agreement::Unexplained(_) => "unexplained",
        Agreement::NotCompared => "not-compared",
    }
}

/// A verdict's cell in the grid: the outcome and mechanism, opening onto the rest.
fn verdict_cell(v: Option<&Verdict>, runtime: &str, step: &str) -> Markup {
    let Some(v) = v else {
        return html! {
            td.cell.none data-runtime=(t(runtime)) data-step=(t(step)) data-outcome="none" { span.muted { "–" } }
        };
    };
    let outcome = v.outcome.as_str();
    let evidence = v.evidence.map(|e| match e {
        Evidence::Witnessed => "witnessed",
        Evidence::Reported => "reported",
    });
    html! {
        td.cell.(outcome) data-runtime=(t(runtime)) data-step=(t(step)) data-outcome=(outcome) {
            details {
                summary {
                    (outcome)
                    @if let Some(m) = &v.mechanism { " · " span.mono { (t(&m.to_string())) } }
                    @if v.outcome == Outcome::Escaped { " · " (evidence.unwrap_or("reported")) }
                    @if v.image_code { " · image code ran" }
                }
                dl {
                    @if let Some(route) = &v.route { dt { "route" } dd.mono { (t(route)) } }
                    @if let Some(e) = evidence { dt { "evidence" } dd { (e) } }
                    @if let Some(m) = &v.mechanism { dt { "mechanism" } dd.mono { (t(&m.to_string())) } }
                    @if !v.detail.is_empty() { dt { "detail" } dd { (t(&v.detail)) } }
                    @if v.image_code { dt { "image code" } dd { "the image's own program had the process: what it printed was not read as a verdict" } }
                    @if let Some(p) = &v.prediction { (prediction_rows(p)) }
                }
            }
        }
    }
}

/// Rows with an escape first, then the others, each group in goal and catalog order.
fn grid(report: &Report) -> Markup {
    let steps = report.steps();
    let cells = |step: &str| -> Vec<Option<&Verdict>> {
        report
            .runs
            .iter()
            .map(|run| run.verdicts.iter().find(|v| v.step() == step))
            .collect()
    };
    let (escaping, others): (Vec<_>, Vec<_>) = steps.iter().partition(|(step, _)| {
        cells(step)
            .iter()
            .any(|v| v.is_some_and(|v| v.outcome == Outcome::Escaped))
    });
    let width = report.runs.len() + 3;
    let row = |step: &str, goal: Option<Goal>, escaped: bool| {
        let divergence = report.divergences.iter().find(|d| d.step == step);
        html! {
            tr data-step=(t(step)) data-escaped=(escaped) {
                td { (goal_text(goal)) }
                th.step.mono scope="row" { (t(step)) }
                @for (run, v) in report.runs.iter().zip(cells(step)) {
                    (verdict_cell(v, &run.runtime.name, step))
                }
                td {
                    @if let Some(d) = divergence { span.differs title=(t(&d.explanation)) { "differs" } }
                }
            }
        }
    };
    html! {
        table.grid #grid {
            thead {
                tr {
                    th { "goal" } th { "probe" }
                    @for run in &report.runs { th.mono { (t(&run.runtime.name)) } }
                    th { "differs" }
                }
            }
            @if !escaping.is_empty() {
                tbody.group-head { tr { th colspan=(width) { "escapes (" (escaping.len()) ")" } } }
                tbody.escapes {
                    @for (step, goal) in &escaping { (row(step, *goal, true)) }
                }
            }
            @if !others.is_empty() {
                tbody.group-head { tr { th colspan=(width) { "no escape (" (others.len()) ")" } } }
                tbody.others {
                    @for (step, goal) in &others { (row(step, *goal, false)) }
                }
            }
        }
    }
}

fn legend() -> Markup {
    html! {
        p.legend {
            @for o in [Outcome::Escaped, Outcome::Blocked, Outcome::Contained, Outcome::NotApplicable,
                       Outcome::Error, Outcome::Indeterminate, Outcome::NotRun] {
                span.badge.(o.as_str()) { (o.as_str()) }
            }
            span.muted { "Each cell opens onto its route, evidence, detail and the profile's prediction." }
        }
    }
}

fn environment(env: &Environment, version: &str) -> Markup {
    html! {
        dl.facts {
            dt { "breakout" } dd { (t(version)) }
            dt { "kernel" } dd.mono { (t(&env.kernel)) " " (t(&env.arch)) }
            dt { "cgroup" } dd { (t(&env.cgroup)) }
            dt { "LSMs" } dd { @if env.lsm.is_empty() { "none" } @else { (t(&env.lsm.join(", "))) } }
            dt { "effective uid" } dd { (env.euid) }
        }
    }
}

fn runtimes(report: &Report) -> Markup {
    html! {
        table #runtimes {
            thead { tr { th { "runtime" } th { "version" } th { "libseccomp" } th { "flags" } th { "start" } th { "containers" } th { "how it treats a profile" } } }
            tbody {
                @for run in &report.runs {
                    @let r = &run.runtime;
                    tr data-runtime=(t(&r.name)) {
                        td.mono { (t(&r.name)) }
                        td.mono { (t(&r.version)) }
                        td.mono { (r.libseccomp.as_deref().map(t).unwrap_or_default()) }
                        td.mono { (t(&r.flags.join(" "))) }
                        td { (start_text(&run.start)) }
                        td { (run.containers) }
                        td {
                            @let notes = run.profile_handling.notes();
                            @if notes.is_empty() { "applies all of it" }
                            @for n in notes { (n) br; }
                        }
                    }
                }
            }
        }
    }
}

fn start_text(start: &StartStatus) -> &'static str {
    match start {
        StartStatus::Started => "started",
        StartStatus::NotRun { .. } => "not run",
        StartStatus::FailedToStart { .. } => "failed to start",
    }
}

fn start_failures(report: &Report) -> Markup {
    html! {
        @for run in &report.runs {
            @match &run.start {
                StartStatus::FailedToStart { error } => {
                    h3.unexplained { (t(&run.runtime.name)) ": the container did not start" }
                    pre { (lines(error)) }
                    @if let Some(triage) = &run.triage {
                        p {
                            @if triage.attempts > 0 { "triage (" (triage.attempts) " empty containers started): " } @else { "diagnosis: " }
                            (lines(&triage.conclusion))
                        }
                        @if !triage.needed.is_empty() {
                            p { "calls its start needs that the profile denies: " span.mono { (t(&triage.needed.join(", "))) } }
                        }
                    }
                }
                StartStatus::NotRun { reason } => {
                    h3 { (t(&run.runtime.name)) ": not run" }
                    p { (lines(reason)) }
                }
                StartStatus::Started => {}
            }
        }
    }
}

fn workload(run: &RunReport) -> Markup {
    let Some(w) = &run.workload else {
        return html! {};
    };
    let status = w.status.as_str();
    html! {
        section.workload data-runtime=(t(&run.runtime.name)) data-status=(status) {
            h3 { "under " span.mono { (t(&run.runtime.name)) } ": "
                span.badge.(if status == "works" { "passed" } else { "failed" }) { (status) } }
            dl.facts {
                dt { "command" } dd.mono { (t(&shell_words::join(&w.command))) }
                @if let Some(check) = &w.check { dt { "check" } dd.mono { (t(&shell_words::join(check))) } }
                dt { "why" } dd { (t(&w.why)) }
                @if let Some(exit) = &w.exit { dt { "exit" } dd.mono { (t(exit)) } }
                dt { "time" } dd { (w.millis) " ms" }
                @if let Some(n) = w.check_runs { dt { "check runs" } dd { (n) } }
            }
            @if !w.stopped.is_empty() {
                table {
                    thead { tr { th { "stopped call" } th { "arch" } th { "filter's answer" } th { "rule" } th { "at" } th { "found by" } } }
                    tbody {
                        @for s in &w.stopped {
                            tr {
                                td.mono { (t(&s.syscall)) } td { (t(&s.arch)) } td.mono { (t(&s.action)) }
                                td { (t(&s.rule)) }
                                td.mono { (s.place.as_ref().map(|p| t(&p.to_string())).unwrap_or_default()) }
                                td { (s.found_by) }
                            }
                        }
                    }
                }
            }
            @for (name, text) in [("stdout", &w.stdout_tail), ("stderr", &w.stderr_tail), ("check output", &w.check_output)] {
                @if !text.is_empty() {
                    details { summary { "the end of its " (name) } pre { (lines(text)) } }
                }
            }
        }
    }
}

/// The page of a `run` or `compare` report.
pub fn run_page(report: &Report) -> String {
    let s = &report.summary;
    let verdict = format!(
        "{} escaped, {} blocked, {} contained, {} not applicable, {} error, {} indeterminate, {} not run; {} start {}{}",
        s.escaped,
        s.blocked,
        s.contained,
        s.not_applicable,
        s.error,
        s.indeterminate,
        s.not_run,
        s.start_failures,
        plural(s.start_failures, "failure", "failures"),
        if report.interrupted { " · INTERRUPTED: what did not run is not-run" } else { "" },
    );
    let workload_fails = report.runs.iter().any(|r| {
        r.workload
            .as_ref()
            .is_some_and(|w| w.status == crate::workload::Status::Fails)
    });
    let alarm = s.escaped > 0 || workload_fails || report.interrupted;
    let body = html! {
        header {
            h1 { "breakout report" }
            p.verdict.alarm[alarm] #verdict data-escaped=(s.escaped) { (verdict) }
            p.muted { "seccomp: " span.mono { (t(&report.subject.seccomp)) } " · network " span #network { (t(&report.subject.network)) } " · schema " (report.schema) }
        }
        (start_failures(report))
        h2 { "Probes × runtimes" }
        (legend())
        @if report.runs.iter().all(|r| r.verdicts.is_empty()) { p { "No verdicts." } } @else { (grid(report)) }
        @let escapes: Vec<(&RunReport, String)> = report.runs.iter().flat_map(|r| r.escapes_by_goal.iter().map(move |g| (r, format!("{}: escaped via {}", g.goal.as_str(), g.via.join(", "))))).collect();
        @if !escapes.is_empty() {
            h2 { "Escapes by goal" }
            ul.plain #escapes {
                @for (run, line) in &escapes { li { (t(line)) " " span.muted { "(" (t(&run.runtime.name)) ")" } } }
            }
        }
        h2 { "Where the runtimes differ" }
        @if report.divergences.is_empty() {
            p.muted { @if report.runs.len() > 1 { "Every step has the same verdict under every runtime." } @else { "One runtime: nothing to compare." } }
        } @else {
            table #divergences {
                thead { tr { th { "probe" } th { "verdicts" } th { "why" } } }
                tbody {
                    @for d in &report.divergences {
                        tr data-step=(t(&d.step)) {
                            td.mono { (t(&d.step)) }
                            td { @for (runtime, verdict) in &d.verdicts { span.mono { (t(runtime)) } ": " (t(verdict)) br; } }
                            td { (t(&d.explanation)) }
                        }
                    }
                }
            }
        }
        @if report.runs.iter().any(|r| r.workload.is_some()) {
            h2 { "Workload" }
            @for run in &report.runs { (workload(run)) }
        }
        h2 { "Subject" }
        dl.facts #subject {
            dt { "seccomp" } dd.mono { (t(&report.subject.seccomp)) }
            dt { "network" } dd { (t(&report.subject.network)) }
            @if !report.subject.profile_warnings.is_empty() {
                dt { "profile warnings" }
                dd { ul.plain { @for w in &report.subject.profile_warnings { li { (t(w)) } } } }
            }
        }
        h3 { "Container settings" }
        pre #settings { (lines(&serde_json::to_string_pretty(&report.subject.settings).unwrap_or_default())) }
        h2 { "Environment" }
        (environment(&report.environment, report.breakout_version))
        (runtimes(report))
    };
    page("breakout report", body)
}

/// The page of a `breakout test` suite, with the changes against a baseline if given.
pub fn suite_page(suite: &SuiteReport, diff: Option<&BaselineDiff>) -> String {
    let crate::report::suite::Tally {
        failed,
        passed,
        ignored,
        escapes,
        unexpected,
    } = suite.tally();
    let verdict = format!(
        "{failed} failed, {passed} passed, {ignored} ignored · {escapes} escaped {} ({unexpected} not expected)",
        plural(escapes, "step", "steps")
    );
    let alarm = failed > 0 || diff.is_some_and(BaselineDiff::worse);
    // Scenarios in the order their first trial comes.
    let mut scenarios: Vec<&str> = Vec::new();
    for trial in &suite.trials {
        if !scenarios.contains(&trial.scenario.as_str()) {
            scenarios.push(&trial.scenario);
        }
    }
    let body = html! {
        header {
            h1 { "breakout test" }
            p.verdict.alarm[alarm] #verdict data-failed=(failed) { (verdict) }
        }
        @if let Some(diff) = diff { (baseline(diff)) }
        h2 { "Trials" }
        @if suite.trials.is_empty() { p { "No trials." } } @else {
            table #trials {
                thead { tr { th { "trial" } th { "status" } th { "network" } th { "start (expected → got)" } th { "escapes" } th { "mismatches" } th { "time" } } }
                tbody {
                    @for (i, trial) in suite.trials.iter().enumerate() {
                        @let (status, class) = trial_status(trial);
                        tr data-trial=(t(&trial.name)) data-status=(class) {
                            td.mono { a href={ "#trial-" (i) } { (t(&trial.name)) } }
                            td { span.badge.(class) { (status) } }
                            td.network { (trial.network.as_deref().map(t).unwrap_or_else(|| "–".into())) }
                            td { (t(&trial.expected_start)) " → " (trial.start.as_deref().map(t).unwrap_or_else(|| "–".into())) }
                            td { (trial.escapes().count()) }
                            td { (trial.checks.iter().filter(|c| !c.ok).count()) }
                            td { (format!("{:.1} s", trial.duration)) }
                        }
                    }
                }
            }
        }
        @for scenario in &scenarios {
            (scenario_section(suite, scenario))
        }
        @if let Some(env) = &suite.environment {
            h2 { "Environment" }
            (environment(env, &suite.breakout_version))
        }
    };
    page("breakout test", body)
}

fn trial_status(trial: &TrialOutcome) -> (String, &'static str) {
    match &trial.status {
        TrialStatus::Passed => ("passed".into(), "passed"),
        TrialStatus::Failed { .. } if super::junit::failed_on_start(trial) => {
            ("failed (start)".into(), "failed")
        }
        TrialStatus::Failed { .. } => ("failed".into(), "failed"),
        TrialStatus::Ignored { .. } => ("ignored".into(), "ignored"),
    }
}

fn baseline(diff: &BaselineDiff) -> Markup {
    let steps = |title: &str, id: &str, list: &[(String, String)]| {
        html! {
            h3 { (title) }
            @if list.is_empty() { p.muted { "none" } } @else {
                ul.plain id=(id) { @for (trial, step) in list { li { span.mono { (t(trial)) } ": " span.mono { (t(step)) } } } }
            }
        }
    };
    html! {
        section #baseline {
            h2 { "Against the baseline" }
            p.unexplained[diff.worse()] { (t(&diff.summary())) }
            (steps("New escapes", "new-escapes", &diff.new_escapes))
            (steps("Fixed", "fixed", &diff.fixed))
            @for (title, names) in [("New failures", &diff.new_failures), ("Fixed failures", &diff.fixed_failures),
                                    ("New trials", &diff.new_trials), ("Not run in the baseline", &diff.not_run_before),
                                    ("Not run now", &diff.not_run_now), ("Gone trials", &diff.gone_trials)] {
                @if !names.is_empty() {
                    p { strong { (title) ": " } @for (i, n) in names.iter().enumerate() { @if i > 0 { ", " } span.mono { (t(n)) } } }
                }
            }
        }
    }
}

/// A check's cell: what came, coloured by outcome, outlined when not what was expected.
fn check_cell(c: Option<&Check>, runtime: &str, step: &str) -> Markup {
    let Some(c) = c else {
        return html! {
            td.cell.none data-runtime=(t(runtime)) data-step=(t(step)) data-outcome="none" { span.muted { "–" } }
        };
    };
    let got = t(&c.got);
    html! {
        td.cell.(got).mismatch[!c.ok] data-runtime=(t(runtime)) data-step=(t(step))
            data-outcome=(got) data-ok=(c.ok) {
            details {
                summary {
                    @if !c.ok { "✗ " }
                    (got)
                    @if let Some(m) = &c.mechanism { " · " span.mono { (t(&m.to_string())) } }
                }
                dl {
                    dt { "expected" } dd.mono { (t(&c.expected)) }
                    dt { "got" } dd.mono { (got) }
                    dt { "as expected" } dd { @if c.ok { "yes" } @else { "NO" } }
                    @if let Some(m) = &c.mechanism { dt { "mechanism" } dd.mono { (t(&m.to_string())) } }
                    @if !c.detail.is_empty() { dt { "detail" } dd { (t(&c.detail)) } }
                    @if let Some(p) = &c.prediction { (prediction_rows(p)) }
                }
            }
        }
    }
}

fn scenario_section(suite: &SuiteReport, scenario: &str) -> Markup {
    let trials: Vec<(usize, &TrialOutcome)> = suite
        .trials
        .iter()
        .enumerate()
        .filter(|(_, t)| t.scenario == scenario)
        .collect();
    let mut steps: Vec<(&str, Option<Goal>)> = Vec::new();
    for (_, trial) in &trials {
        for c in &trial.checks {
            if !steps.iter().any(|(s, _)| *s == c.step) {
                steps.push((&c.step, c.goal));
            }
        }
    }
    // Mismatches first, then escapes, then the rest; goal order within each.
    let rank = |step: &str| {
        let checks = trials
            .iter()
            .filter_map(|(_, t)| t.checks.iter().find(|c| c.step == step));
        let (mut bad, mut escaped) = (false, false);
        for c in checks {
            bad |= !c.ok;
            escaped |= c.got == Outcome::Escaped.as_str();
        }
        match (bad, escaped) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => 2,
        }
    };
    steps.sort_by_key(|(step, goal)| (rank(step), *goal));
    let file = trials
        .first()
        .map(|(_, t)| t.scenario_file.display().to_string())
        .unwrap_or_default();
    html! {
        section.scenario data-scenario=(t(scenario)) {
            h2 { "Scenario " span.mono { (t(scenario)) } }
            p.muted.mono { (t(&file)) }
            @for (i, trial) in &trials {
                @let (status, class) = trial_status(trial);
                section.trial id={ "trial-" (i) } data-trial=(t(&trial.name)) data-status=(class) {
                    h3 { span.mono { (t(&trial.runtime)) } " " span.badge.(class) { (status) } }
                    @match &trial.status {
                        TrialStatus::Failed { message } => { pre { (lines(message)) } }
                        TrialStatus::Ignored { reason } => { p.muted { "ignored: " (lines(reason)) } }
                        TrialStatus::Passed => {}
                    }
                    @if let Some(error) = &trial.start_error {
                        details { summary { "the runtime's error" } pre { (lines(error)) } }
                    }
                }
            }
            @if !steps.is_empty() {
                table.grid {
                    thead { tr { th { "goal" } th { "probe" } @for (_, trial) in &trials { th.mono { (t(&trial.runtime)) } } } }
                    tbody {
                        @for (step, goal) in &steps {
                            tr data-step=(t(step)) {
                                td { (goal_text(*goal)) }
                                th.step.mono scope="row" { (t(step)) }
                                @for (_, trial) in &trials {
                                    (check_cell(trial.checks.iter().find(|c| c.step == *step), &trial.runtime, step))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::collect::Runs;
    use crate::report::event::{Event, Sink};
    use crate::report::{ProfileHandling, RuntimeVersion, Subject};

    /// Text a container could print, aimed at a page: a script, an attribute breaking
    /// out of its quotes, a closing tag, terminal escapes and a bidi override.
    const HOSTILE: &str = "<script>alert(1)</script>\"onload=alert(2) x=\"</td></table><img src=x onerror=alert(3)>\x1b[2J\x07\u{202e}evil\0";

    fn env() -> Environment {
        Environment {
            kernel: "6.1<b>".into(),
            arch: "x86_64".into(),
            cgroup: "v2".into(),
            lsm: vec!["apparmor".into()],
            euid: 0,
        }
    }

    fn report(detail: &str) -> Report {
        let runs = Runs::default();
        for (run, name) in [(0, "runc"), (1, "runsc")] {
            let steps = vec!["spawn.fork".to_string(), "spawn.vfork".to_string()];
            runs.event(&Event::RunStarted {
                run,
                runtime: RuntimeVersion {
                    name: name.into(),
                    version: "1.1".into(),
                    ..Default::default()
                },
                profile_handling: ProfileHandling::default(),
                steps,
            });
            // vfork escapes under runsc only: its row comes first, though the catalog
            // lists fork first.
            let vfork = if run == 0 {
                Verdict::new(name, "spawn.vfork", Outcome::Blocked, detail).mechanism(Some("EPERM"))
            } else {
                Verdict::new(name, "spawn.vfork", Outcome::Escaped, detail)
                    .evidence(Evidence::Witnessed)
            };
            for verdict in [
                Verdict::new(name, "spawn.fork", Outcome::Blocked, detail).mechanism(Some("EPERM")),
                vfork,
            ] {
                runs.event(&Event::Verdict {
                    run,
                    verdict: Box::new(verdict),
                });
            }
            runs.event(&Event::RunFinished {
                run,
                start: StartStatus::Started,
            });
        }
        let subject = Subject {
            seccomp: format!("p.json {detail}"),
            network: format!("bridge {detail}"),
            settings: serde_json::json!({ "note": detail }),
            profile_warnings: vec![detail.to_string()],
        };
        runs.into_report(env(), subject)
    }

    /// Everything between `<body>` and the page's own script, which is the only
    /// markup a template writes: what came from a report must not add a tag there.
    fn tags(page: &str) -> Vec<String> {
        page.split('<')
            .skip(1)
            .map(|s| {
                s.split(|c: char| c.is_whitespace() || c == '>')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase()
            })
            .collect()
    }

    /// The attribute names of each tag, read as a browser would: values are in double
    /// quotes (maud writes them so, and escapes a quote inside).
    fn attributes(tag: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut chars = tag.chars().skip_while(|c| !c.is_whitespace()).peekable();
        let mut name = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    for q in chars.by_ref() {
                        if q == '"' {
                            break;
                        }
                    }
                }
                '=' | '/' => {}
                c if c.is_whitespace() => {
                    if !name.is_empty() {
                        names.push(std::mem::take(&mut name));
                    }
                }
                c => name.push(c.to_ascii_lowercase()),
            }
            if c == '=' && !name.is_empty() {
                names.push(std::mem::take(&mut name));
            }
        }
        if !name.is_empty() {
            names.push(name);
        }
        names
    }

    fn assert_inert(page: &str) {
        // One script (the page's own), no image, no event handler attribute, no raw
        // control character, and the hostile text is there as text.
        let tags = tags(page);
        assert_eq!(tags.iter().filter(|t| *t == "script").count(), 1, "{page}");
        assert!(!tags.iter().any(|t| t == "img"), "{page}");
        for tag in page.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or_default();
            for name in attributes(tag) {
                assert!(!name.starts_with("on"), "{name} in <{tag}>");
            }
        }
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;onload"),
            "{page}"
        );
        assert!(page.contains("\\x1b[2J\\x07\\u{202e}evil\\x00"), "{page}");
        for c in page.chars() {
            assert!(c == '\n' || !c.is_control(), "{c:?} in the page");
            assert_ne!(c, '\u{202e}');
        }
    }

    #[test]
    fn hostile_text_is_inert_in_a_run_page() {
        let page = run_page(&report(HOSTILE));
        assert_inert(&page);
        // The grid has the cells, the row with an escape first, marked as differing.
        let vfork = page.find("<tr data-step=\"spawn.vfork\"").unwrap();
        let others = page.find("<tbody class=\"others\">").unwrap();
        let fork = page.find("<tr data-step=\"spawn.fork\"").unwrap();
        assert!(vfork < others && others < fork, "{page}");
        assert!(page
            .contains("data-runtime=\"runc\" data-step=\"spawn.vfork\" data-outcome=\"blocked\""));
        assert!(page
            .contains("data-runtime=\"runsc\" data-step=\"spawn.vfork\" data-outcome=\"escaped\""));
        assert_eq!(page.matches("class=\"differs\"").count(), 1, "{page}");
    }

    #[test]
    fn hostile_text_is_inert_in_a_suite_page() {
        let check = |step: &str, got: &str, ok: bool| Check {
            step: step.into(),
            goal: None,
            expected: "blocked".into(),
            got: got.into(),
            mechanism: None,
            detail: HOSTILE.into(),
            ok,
            prediction: None,
        };
        let trial = TrialOutcome {
            name: format!("s{HOSTILE}::runc"),
            scenario: format!("s{HOSTILE}"),
            scenario_file: "s.json".into(),
            runtime: "runc".into(),
            expected_start: "starts".into(),
            start: Some("started".into()),
            start_error: Some(HOSTILE.into()),
            network: None,
            status: TrialStatus::Failed {
                message: HOSTILE.into(),
            },
            checks: vec![
                check("spawn.fork", "blocked", true),
                check("spawn.vfork", "escaped", false),
            ],
            duration: 1.0,
            started: None,
        };
        let suite = SuiteReport::new(Some(env()), vec![trial]);
        let diff = BaselineDiff {
            new_escapes: vec![(HOSTILE.into(), "spawn.vfork".into())],
            ..BaselineDiff::default()
        };
        let page = suite_page(&suite, Some(&diff));
        assert_inert(&page);
        assert!(
            page.contains("data-step=\"spawn.vfork\" data-outcome=\"escaped\" data-ok=\"false\""),
            "{page}"
        );
        assert!(page.contains("id=\"new-escapes\""), "{page}");
        // The mismatch row comes before the row as expected.
        assert!(
            page.find("<tr data-step=\"spawn.vfork\"") < page.find("<tr data-step=\"spawn.fork\"")
        );
    }

    #[test]
    fn the_page_loads_nothing_and_allows_only_its_own_code() {
        let page = run_page(&report("plain"));
        let policy = content_security_policy();
        assert!(policy.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(
            page.contains(&format!("content=\"{}\"", policy.replace('\'', "&#39;")))
                || page.contains(&format!("content=\"{policy}\"")),
            "{page}"
        );
        assert!(page.contains(&format!("<style>{STYLE}</style>")));
        assert!(page.contains(&format!("<script>{SCRIPT}</script>")));
        for attr in ["src=", "href="] {
            for (at, _) in page.match_indices(attr) {
                let value = &page[at + attr.len()..];
                assert!(
                    !value.starts_with("\"http") && !value.starts_with("\"//"),
                    "{}",
                    &page[at..at + 40]
                );
            }
        }
    }
}
