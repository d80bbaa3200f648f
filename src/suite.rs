//! `breakout test`: scenario files as a regression suite. Each (scenario, runtime) pair
//! is one libtest-mimic trial named `scenario::runtime`, so the libtest conventions
//! (`--list`, `--exact`, filters, `--ignored`, `--format`) hold and the same trials run
//! under cargo-nextest through `tests/scenarios.rs`.
//!
//! A trial that cannot run on this host (runtime not installed, not root, profile file
//! missing) is an ignored trial whose reason is printed, never a pass.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::cli::CliError;
use crate::container::RawSettings;
use crate::profile::Reading;
use crate::report::collect::Trials;
use crate::report::event::{Event, Sink};
use crate::report::suite::{TrialOutcome, TrialStatus};
use crate::report::StartStatus;
use crate::run::Plan;
use crate::runtime::Runtime;
use crate::scenario::{self, ProfileSource, Scenario, StartExpectation};

/// Splits the full, sorted trial list deterministically: trial `i` (0-based) belongs to
/// partition `i % count + 1`, so `1/N` .. `N/N` together run every trial exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: usize,
    pub count: usize,
}

impl Partition {
    /// `K/N` with 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Partition, String> {
        let err = || format!("--partition {text:?}: expected K/N with 1 <= K <= N, e.g. 1/2");
        let (k, n) = text.split_once('/').ok_or_else(err)?;
        let (index, count): (usize, usize) =
            (k.parse().map_err(|_| err())?, n.parse().map_err(|_| err())?);
        if index == 0 || count == 0 || index > count {
            return Err(err());
        }
        Ok(Partition { index, count })
    }

    pub fn keeps(&self, position: usize) -> bool {
        position % self.count + 1 == self.index
    }
}

/// One (scenario, runtime) pair before it runs.
#[derive(Debug, Clone)]
pub struct Pair {
    pub scenario: Arc<Scenario>,
    pub runtime: String,
    /// Why it cannot run here, if it cannot.
    pub skip: Option<String>,
}

impl Pair {
    pub fn name(&self) -> String {
        format!(
            "{}::{}",
            self.scenario.name,
            crate::scenario::runtime_name(&self.runtime)
        )
    }
}

/// Why nothing can run on this host at all, if so.
fn host_skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root (containers need root)".into());
    }
    None
}

/// Every (scenario, runtime) pair, sorted by name, with skip reasons decided now.
pub fn pairs(scenarios: &[Scenario], partition: Option<Partition>) -> Vec<Pair> {
    let host = host_skip_reason();
    let mut runtimes_seen: Vec<(String, Option<String>)> = Vec::new();
    let mut runtime_skip = |name: &str| -> Option<String> {
        if let Some((_, reason)) = runtimes_seen.iter().find(|(n, _)| n == name) {
            return reason.clone();
        }
        let reason = match Runtime::lookup(name) {
            Ok(rt) => crate::runtime::diagnose::runtime_problem(&rt)
                .map(|p| format!("{name} cannot start containers here: {p}")),
            Err(e) => Some(e.to_string()),
        };
        runtimes_seen.push((name.to_string(), reason.clone()));
        reason
    };
    let mut all = Vec::new();
    for scenario in scenarios {
        let scenario = Arc::new(scenario.clone());
        for runtime in &scenario.runtimes {
            let profile_skip = match &scenario.profile {
                ProfileSource::Missing { tried } => Some(format!(
                    "none of the profile paths exists: {}",
                    tried
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                _ => None,
            };
            let skip = host
                .clone()
                .or(profile_skip)
                .or_else(|| runtime_skip(runtime));
            all.push(Pair {
                scenario: Arc::clone(&scenario),
                runtime: runtime.clone(),
                skip,
            });
        }
    }
    all.sort_by_key(Pair::name);
    match partition {
        Some(p) => all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| p.keeps(*i))
            .map(|(_, pair)| pair)
            .collect(),
        None => all,
    }
}

/// The run flags a scenario stands for, with its profile in place; an inline profile
/// is written to `inline_dir` (engines read profiles from files).
fn raw_settings(scenario: &Scenario, inline_dir: &Path) -> Result<RawSettings, String> {
    let mut raw = scenario.settings.clone();
    match &scenario.profile {
        ProfileSource::None => {}
        ProfileSource::Unconfined => raw.security_opts.push("seccomp=unconfined".into()),
        ProfileSource::File(path) => raw.profile = Some(path.clone()),
        ProfileSource::Inline(value) => {
            let path = inline_dir.join("inline-profile.json");
            std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap_or_default()).map_err(
                |e| format!("cannot write the inline profile to {}: {e}", path.display()),
            )?;
            raw.profile = Some(path);
        }
        ProfileSource::Missing { tried } => {
            return Err(format!("no profile file: tried {tried:?}"));
        }
    }
    Ok(raw)
}

/// Runs one pair for real and judges it against the scenario.
pub fn run_pair(pair: &Pair, probe_bin: &Path, interrupted: &AtomicBool) -> TrialOutcome {
    let started = Instant::now();
    let scenario = &pair.scenario;
    let expected_start = match scenario.expect.start_for(&pair.runtime) {
        StartExpectation::Starts => "starts",
        StartExpectation::FailsToStart => "fails-to-start",
    };
    let mut outcome = TrialOutcome {
        name: pair.name(),
        scenario: scenario.name.clone(),
        scenario_file: scenario.file.clone(),
        runtime: crate::scenario::runtime_name(&pair.runtime).to_string(),
        expected_start: expected_start.to_string(),
        start: None,
        start_error: None,
        network: None,
        status: TrialStatus::Passed,
        checks: Vec::new(),
        duration: 0.0,
        started: Some(chrono::Utc::now()),
    };
    let fail = |mut o: TrialOutcome, message: String| {
        o.status = TrialStatus::Failed { message };
        o.duration = started.elapsed().as_secs_f64();
        o
    };
    let scratch = match crate::bundle::RunDir::create() {
        Ok(dir) => dir,
        Err(e) => return fail(outcome, e.to_string()),
    };
    let raw = match raw_settings(scenario, scratch.path()) {
        Ok(raw) => raw,
        Err(e) => return fail(outcome, e),
    };
    let timeout = scenario.timeout.unwrap_or(60);
    // The scenario's profile was read when it was loaded (strictly, if asked): here
    // it passes.
    let mut plan = match Plan::build(&raw, &scenario.probes, timeout, Reading::Lenient, || {
        Ok(probe_bin.to_path_buf())
    }) {
        Ok(plan) => plan,
        Err(e) => return fail(outcome, e.to_string()),
    };
    outcome.network = Some(plan.settings.network.name().to_string());
    if let Some(w) = &scenario.workload {
        let image = plan.settings.image.as_ref().map(|i| &i.config);
        match crate::workload::command_of(&w.command, image) {
            Ok(command) => {
                plan.workload = Some(crate::workload::Workload {
                    command,
                    check: w.check.clone(),
                    deadline: w.deadline,
                })
            }
            Err(e) => return fail(outcome, format!("{}: {e}", scenario.file.display())),
        }
    }
    let runtime = match Runtime::lookup(&pair.runtime) {
        Ok(rt) => rt,
        Err(e) => return fail(outcome, e.to_string()),
    };
    let run = match crate::run::execute(&plan, &runtime, interrupted) {
        Ok(run) => run,
        Err(e) => return fail(outcome, e.to_string()),
    };
    match &run.start {
        StartStatus::Started => outcome.start = Some("started".into()),
        StartStatus::FailedToStart { error } => {
            outcome.start = Some("failed-to-start".into());
            outcome.start_error = Some(error.clone());
        }
        StartStatus::NotRun { reason } => {
            outcome.start = Some("not-run".into());
            outcome.start_error = Some(reason.clone());
        }
    }
    let (checks, mut failure) = scenario::judge(&scenario.expect, &pair.runtime, &run);
    outcome.checks = checks;
    if let (Some(want), Some(got)) = (&scenario.workload, &run.workload) {
        let check = workload_check(want.expect, got);
        if !check.ok {
            let line = format!(
                "the workload under {}: expected it {}, but it {}",
                crate::scenario::runtime_name(&pair.runtime),
                want.expect.as_str(),
                crate::sanitize::untrusted(&check.detail)
            );
            failure = Some(match failure {
                Some(message) => format!("{message}\n{line}"),
                None => line,
            });
        }
        outcome.checks.push(check);
    }
    outcome.duration = started.elapsed().as_secs_f64();
    if let Some(message) = failure {
        outcome.status = TrialStatus::Failed { message };
    }
    outcome
}

/// The workload as one check of the trial (step `workload`): what it did against
/// what the scenario expects.
fn workload_check(
    expect: crate::workload::Status,
    got: &crate::workload::WorkloadReport,
) -> crate::report::suite::Check {
    let mut detail = got.summary();
    for stopped in &got.stopped {
        detail.push_str(&format!("; stopped {} ({})", stopped.syscall, stopped.rule));
    }
    crate::report::suite::Check {
        step: "workload".to_string(),
        goal: None,
        expected: expect.as_str().to_string(),
        got: got.status.as_str().to_string(),
        mechanism: None,
        detail,
        ok: got.status == expect,
        prediction: None,
    }
}

/// libtest trials for the pairs; each finished trial is told to `sink`
/// ([`Event::TrialFinished`]).
pub fn trials(
    pairs: Vec<Pair>,
    probe_bin: PathBuf,
    sink: Arc<dyn Sink + Send>,
    interrupted: Arc<AtomicBool>,
) -> Vec<Trial> {
    pairs
        .into_iter()
        .map(|pair| {
            let name = pair.name();
            if let Some(reason) = &pair.skip {
                eprintln!("{name} is skipped: {reason}");
            }
            let ignored = pair.skip.is_some();
            let sink = Arc::clone(&sink);
            let probe_bin = probe_bin.clone();
            let interrupted = Arc::clone(&interrupted);
            Trial::test(name, move || {
                let outcome = run_pair(&pair, &probe_bin, &interrupted);
                let result = match &outcome.status {
                    TrialStatus::Failed { message } => Err(Failed::from(message.clone())),
                    _ => Ok(()),
                };
                sink.event(&Event::TrialFinished(Box::new(outcome)));
                result
            })
            .with_ignored_flag(ignored)
        })
        .collect()
}

/// Would libtest run a trial of this name with these arguments (filters, --exact, --skip)?
pub fn selected(name: &str, args: &Arguments) -> bool {
    let matches = |filter: &str| {
        if args.exact {
            name == filter
        } else {
            name.contains(filter)
        }
    };
    let filtered = args.filter.as_deref().is_none_or(matches);
    let skipped = args.skip.iter().any(|s| matches(s));
    filtered && !skipped
}

/// Outcomes for the ignored pairs libtest would have listed, so reports show them as
/// skipped with their reason (libtest runs no trial for them).
pub fn ignored_outcomes(pairs: &[Pair], args: &Arguments) -> Vec<TrialOutcome> {
    pairs
        .iter()
        .filter(|p| selected(&p.name(), args))
        .filter_map(|p| {
            let reason = p.skip.clone()?;
            Some(TrialOutcome {
                name: p.name(),
                scenario: p.scenario.name.clone(),
                scenario_file: p.scenario.file.clone(),
                runtime: crate::scenario::runtime_name(&p.runtime).to_string(),
                expected_start: match p.scenario.expect.start_for(&p.runtime) {
                    StartExpectation::Starts => "starts".into(),
                    StartExpectation::FailsToStart => "fails-to-start".into(),
                },
                start: None,
                start_error: None,
                network: None,
                status: TrialStatus::Ignored { reason },
                checks: Vec::new(),
                duration: 0.0,
                started: Some(chrono::Utc::now()),
            })
        })
        .collect()
}

/// Loads scenarios, or says which file is wrong and where.
pub fn load(paths: &[PathBuf], reading: Reading) -> Result<Vec<Scenario>, CliError> {
    scenario::discover(paths, reading).map_err(|e| CliError::Usage(e.to_string()))
}

/// Points fd 1 at stderr while libtest prints, so that stdout carries only the
/// document `--format markdown|sarif` asked for; restored on drop.
///
/// Not libtest-mimic's own `logfile` (`Arguments::logfile`), although it exists for
/// this: libtest-mimic 0.8 opens that path with `File::create`, and it takes no writer.
/// Given `/dev/stderr`, that opens stderr's file anew: when stderr is a regular file
/// (`2> log`) it is truncated (the "is skipped" lines printed before are lost) and
/// written from offset 0 beside our own descriptor 2, so the two overwrite each other
/// (measured: the skip lines gone, NUL bytes where they were). A temporary log file
/// copied to stderr afterwards would hold back libtest's progress until every trial
/// is over. A pipe would need a thread to copy it. The descriptor swap has neither
/// problem.
struct StdoutToStderr {
    saved: libc::c_int,
}

impl StdoutToStderr {
    fn new() -> Option<StdoutToStderr> {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: dup and dup2 on the process's standard descriptors, which exist; the
        // saved copy is restored and closed in drop.
        unsafe {
            let saved = libc::dup(1);
            if saved < 0 || libc::dup2(2, 1) < 0 {
                return None;
            }
            Some(StdoutToStderr { saved })
        }
    }
}

impl Drop for StdoutToStderr {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: `saved` is the descriptor dup'd in new(); it is put back and closed once.
        unsafe {
            libc::dup2(self.saved, 1);
            libc::close(self.saved);
        }
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::Environment(format!("failed to write {}: {e}", path.display())))
}

/// `breakout test`: the whole command, returning the documented exit code.
pub fn run_cli(args: &crate::cli::TestArgs) -> Result<crate::report::ExitCode, CliError> {
    use crate::cli::TestFormat;
    use crate::report::Format;

    // Positionals that exist are scenario paths; one that does not is the filter.
    let (paths, filters): (Vec<PathBuf>, Vec<PathBuf>) =
        args.paths.iter().cloned().partition(|p| p.exists());
    if filters.len() > 1 {
        return Err(CliError::Usage(format!(
            "more than one argument is neither a scenario path nor a single filter: {}",
            filters
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let paths = if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    };
    let partition = args
        .partition
        .as_deref()
        .map(Partition::parse)
        .transpose()
        .map_err(CliError::Usage)?;
    let baseline = args
        .baseline
        .as_deref()
        .map(crate::report::baseline::load_baseline)
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let scenarios = load(&paths, crate::cli::reading(args.strict))?;
    for scenario in &scenarios {
        crate::cli::warn(&scenario.profile_warnings);
        for note in &scenario.notes {
            eprintln!(
                "note: {}: {}",
                scenario.name,
                crate::sanitize::untrusted_lines(note)
            );
        }
    }
    let probe_bin = crate::cli::probe_bin(args.probe_bin.as_deref())?;
    let libtest = Arguments {
        list: args.list,
        exact: args.exact,
        ignored: args.ignored,
        include_ignored: args.include_ignored,
        skip: args.skip.clone(),
        test_threads: args.test_threads,
        quiet: args.quiet,
        filter: filters.first().map(|f| f.display().to_string()),
        format: match args.format {
            TestFormat::Terse => Some(libtest_mimic::FormatSetting::Terse),
            TestFormat::Json => Some(libtest_mimic::FormatSetting::Json),
            _ => Some(libtest_mimic::FormatSetting::Pretty),
        },
        ..Arguments::default()
    };
    let pairs = pairs(&scenarios, partition);
    let collected = Arc::new(Trials::default());
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&interrupted));
    }
    let conclusion = {
        let _redirect = if matches!(args.format, TestFormat::Markdown | TestFormat::Sarif) {
            StdoutToStderr::new()
        } else {
            None
        };
        libtest_mimic::run(
            &libtest,
            trials(
                pairs.clone(),
                probe_bin,
                collected.clone(),
                Arc::clone(&interrupted),
            ),
        )
    };
    if args.list {
        return Ok(crate::report::exit::decide(&Default::default()));
    }
    if !args.ignored && !args.include_ignored {
        for outcome in ignored_outcomes(&pairs, &libtest) {
            collected.event(&Event::TrialFinished(Box::new(outcome)));
        }
    }
    if interrupted.load(std::sync::atomic::Ordering::Relaxed) {
        collected.event(&Event::Interrupted);
    }
    let environment = Some(crate::report::environment::Environment::probe());
    let suite = collected.to_suite(environment);
    let diff = baseline
        .as_ref()
        .map(|b| crate::report::baseline::diff(b, &suite));
    let render = |format| {
        suite
            .render(format, diff.as_ref())
            .map_err(|e| CliError::Usage(e.to_string()))
    };
    for (path, format) in [
        (&args.junit, Format::Junit),
        (&args.json, Format::Json),
        (&args.sarif, Format::Sarif),
        (&args.markdown, Format::Markdown),
        (&args.html, Format::Html),
    ] {
        if let Some(path) = path {
            write_file(path, &render(format)?)?;
        }
    }
    // The other formats are libtest's own, printed while the trials ran.
    let document = match args.format {
        TestFormat::Markdown => Some(Format::Markdown),
        TestFormat::Sarif => Some(Format::Sarif),
        TestFormat::Pretty | TestFormat::Terse | TestFormat::Json => None,
    };
    if let Some(format) = document {
        print!("{}", render(format)?);
    }
    let interrupted = collected.interrupted();
    if interrupted {
        eprintln!("breakout: interrupted; the reports cover what ran");
    }
    if let Some(diff) = &diff {
        eprintln!("breakout: against the baseline: {}", diff.summary());
    }
    Ok(exit_code(
        &suite,
        conclusion.has_failed(),
        interrupted,
        diff.as_ref().map(|d| d.worse()),
    ))
}

/// The suite's findings for [`crate::report::exit::decide`]. A failed trial is a start
/// failure when the container should have started and did not; any other failure
/// (libtest's count included, should a trial fail without an outcome) is a mismatch.
fn exit_code(
    suite: &crate::report::suite::SuiteReport,
    has_failed: bool,
    interrupted: bool,
    baseline_worse: Option<bool>,
) -> crate::report::ExitCode {
    let failed: Vec<&TrialOutcome> = suite
        .trials
        .iter()
        .filter(|t| matches!(t.status, TrialStatus::Failed { .. }))
        .collect();
    let start_failures = failed
        .iter()
        .filter(|t| t.expected_start == "starts" && t.start.as_deref() == Some("failed-to-start"))
        .count();
    let ran = suite
        .trials
        .iter()
        .any(|t| !matches!(t.status, TrialStatus::Ignored { .. }));
    crate::report::exit::decide(&crate::report::exit::Findings {
        unable: None,
        interrupted,
        baseline_worse,
        escaped_or_mismatch: has_failed && (failed.is_empty() || start_failures < failed.len()),
        start_failure: has_failed && start_failures > 0,
        nothing_ran: !ran && !suite.trials.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ExitCode;

    fn trial(name: &str, status: TrialStatus, start: &str) -> TrialOutcome {
        TrialOutcome {
            name: name.into(),
            scenario: name.into(),
            scenario_file: PathBuf::from("s.json"),
            runtime: "runc".into(),
            expected_start: "starts".into(),
            start: Some(start.into()),
            start_error: None,
            network: None,
            status,
            checks: Vec::new(),
            duration: 0.0,
            started: None,
        }
    }

    #[test]
    fn suite_exit_code_takes_escapes_over_start_failures() {
        let failed = || TrialStatus::Failed {
            message: "m".into(),
        };
        let suite = |trials| crate::report::suite::SuiteReport::new(None, trials);
        let no_start = trial("a", failed(), "failed-to-start");
        let mismatch = trial("b", failed(), "started");
        let passed = trial("c", TrialStatus::Passed, "started");
        let ignored = TrialOutcome {
            start: None,
            ..trial("d", TrialStatus::Ignored { reason: "r".into() }, "")
        };
        let code =
            |trials: Vec<TrialOutcome>, failed| exit_code(&suite(trials), failed, false, None);
        assert_eq!(code(vec![passed.clone()], false), ExitCode::Clean);
        assert_eq!(
            code(vec![no_start.clone(), passed.clone()], true),
            ExitCode::StartFailure
        );
        assert_eq!(
            code(vec![no_start, mismatch.clone()], true),
            ExitCode::Escaped
        );
        assert_eq!(code(vec![mismatch, passed], true), ExitCode::Escaped);
        assert_eq!(code(vec![ignored.clone()], false), ExitCode::Environment);
        assert_eq!(code(vec![], false), ExitCode::Clean);
        // A failure libtest counted without an outcome is still a failure.
        assert_eq!(code(vec![ignored], true), ExitCode::Escaped);
    }

    /// Issue 16: the exit code against a baseline follows the real changes only. A
    /// suite whose trials all passed, with the escapes their scenarios expect, exits 0
    /// against a baseline that lacks or ignored those trials; a step of a trial in
    /// both that was blocked and now escapes exits 1.
    #[test]
    fn issue_16_baseline_exit_code_counts_real_changes_only() {
        use crate::report::baseline::diff;
        use crate::report::suite::{Check, SuiteReport};
        let check = |step: &str, got: &str| Check {
            step: step.into(),
            goal: None,
            expected: "any".into(),
            got: got.into(),
            mechanism: None,
            detail: String::new(),
            ok: true,
            prediction: None,
        };
        let ran = |name: &str, vfork: &str| TrialOutcome {
            checks: vec![check("exec.execve", "escaped"), check("spawn.vfork", vfork)],
            ..trial(name, TrialStatus::Passed, "started")
        };
        let now = SuiteReport::new(None, vec![ran("a", "escaped"), ran("b", "escaped")]);
        let code = |baseline: &SuiteReport| {
            let d = diff(baseline, &now);
            (exit_code(&now, false, false, Some(d.worse())), d)
        };
        let lacking = SuiteReport::new(None, vec![ran("a", "escaped")]);
        let ignoring = SuiteReport::new(
            None,
            vec![
                ran("a", "escaped"),
                TrialOutcome {
                    start: None,
                    ..trial("b", TrialStatus::Ignored { reason: "r".into() }, "")
                },
            ],
        );
        for baseline in [&lacking, &ignoring] {
            let (exit, d) = code(baseline);
            assert_eq!(exit, ExitCode::Clean, "{d:?}");
            assert!(d.new_escapes.is_empty(), "{d:?}");
        }
        let blocked_before = SuiteReport::new(None, vec![ran("a", "escaped"), ran("b", "blocked")]);
        let (exit, d) = code(&blocked_before);
        assert_eq!(exit, ExitCode::Escaped, "{d:?}");
        assert_eq!(
            d.new_escapes,
            vec![("b".to_string(), "spawn.vfork".to_string())]
        );
    }

    #[test]
    fn partitions_cover_every_trial_exactly_once() {
        for count in 1..5 {
            let mut seen = vec![0; 23];
            for index in 1..=count {
                let p = Partition { index, count };
                for (i, n) in seen.iter_mut().enumerate() {
                    if p.keeps(i) {
                        *n += 1;
                    }
                }
            }
            assert!(seen.iter().all(|n| *n == 1), "{count}: {seen:?}");
        }
    }

    #[test]
    fn partition_syntax() {
        assert_eq!(
            Partition::parse("1/2"),
            Ok(Partition { index: 1, count: 2 })
        );
        for bad in ["0/2", "3/2", "1", "a/b", "1/0", ""] {
            assert!(Partition::parse(bad).is_err(), "{bad}");
        }
    }
}
