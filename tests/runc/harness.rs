//! The one harness every container case of `tests/runc` runs through. A case is data:
//! what it needs from the host, the `breakout run` invocations it makes, and for each
//! the exit code, the verdicts (step, outcome, mechanism, evidence) and the report
//! values it must produce. What data cannot say (counting handoffs, a line of the
//! table) is a named check function the row refers to; a test that drives processes
//! itself (a signal mid-run, a bundle run by hand) is a named procedure.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use crate::want::*;

use crate::common::needs::Need;
use crate::common::{self, Scratch, TestResult};

/// One container test: one trial.
pub struct Case {
    pub name: &'static str,
    pub needs: Vec<Need>,
    pub body: Body,
}

pub enum Body {
    /// Runs of `breakout run`, in order; the first that misses an expectation fails
    /// the case.
    Runs(Vec<Run>),
    /// A test that drives breakout or a runtime itself.
    Procedure(fn() -> TestResult),
}

/// A case made of runs.
pub fn case(name: &'static str, needs: &[Need], runs: impl IntoIterator<Item = Run>) -> Case {
    Case {
        name,
        needs: needs.to_vec(),
        body: Body::Runs(runs.into_iter().collect()),
    }
}

/// A case that is a procedure.
pub fn procedure(name: &'static str, needs: &[Need], body: fn() -> TestResult) -> Case {
    Case {
        name,
        needs: needs.to_vec(),
        body: Body::Procedure(body),
    }
}

impl Case {
    /// The case with one more need.
    pub fn and(mut self, need: Need) -> Case {
        self.needs.push(need);
        self
    }

    pub fn execute(self) -> TestResult {
        match self.body {
            Body::Procedure(body) => body(),
            Body::Runs(runs) => runs
                .iter()
                .try_for_each(|run| run.execute().map_err(Into::into)),
        }
    }
}

/// One argument of a run; the ones that name files are made in the run's scratch
/// directory.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(&'static str),
    /// `-v HOST:SPEC`, HOST being the scratch directory of this name.
    Volume {
        dir: &'static str,
        spec: &'static str,
    },
    /// `--profile PATH` of this profile, written for the run.
    Profile(Value),
    /// `--profile PATH` of a shipped profile (`scenarios/profiles/NAME`).
    ShippedProfile(&'static str),
    /// `--profile PATH` of Docker's default profile.
    DockerDefault,
    /// `--rootfs PATH` of a scratch directory `rootfs` holding these empty directories.
    Rootfs(&'static [&'static str]),
}

/// How the run reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `--format json` on stdout.
    Json,
    /// `--format json -o FILE`: stdout stays empty, the report is in the file.
    JsonFile,
    /// The human table on stdout; there is no report to check.
    Table,
}

/// A check on a run beyond its verdicts.
pub enum Check {
    /// The verdict's detail for a step says this.
    Detail(&'static str, &'static str),
    /// The report's value at a JSON pointer is this (a missing value is `null`).
    Field(&'static str, Value),
    /// The report's string at a JSON pointer contains this.
    FieldHas(&'static str, &'static str),
    /// The report's value at a JSON pointer is a string.
    IsString(&'static str),
    /// Every verdict of the run (at least one) is this.
    EveryVerdict(Want),
    /// The run has exactly this many verdicts.
    VerdictCount(usize),
    /// Every verdict of a probe with one of these prefixes has a row, so a probe added
    /// to the catalog cannot go unchecked.
    RowsCover(&'static [&'static str]),
    Stdout(&'static str),
    NotStdout(&'static str),
    Stderr(&'static str),
    /// The scratch directory of this name (a volume's host side) is empty afterwards.
    Empty(&'static str),
    /// The scratch directory of this name is as it was before the run.
    Unchanged(&'static str),
    /// What data cannot say, by name.
    Named(&'static str, fn(&Seen) -> Result<(), String>),
}

/// What one run produced, for the checks.
pub struct Seen<'a> {
    pub out: &'a common::Outcome,
    pub report: Option<&'a Value>,
    /// The run's scratch directory, where its volumes and rootfs are.
    pub scratch: &'a Path,
    /// The trees of the directories [`Check::Unchanged`] names, taken before the run.
    before: Vec<(&'static str, Vec<String>)>,
}

impl Seen<'_> {
    pub fn report(&self) -> Result<&Value, String> {
        self.report
            .ok_or_else(|| "the run has no JSON report".to_string())
    }

    pub fn verdicts(&self) -> Result<&Vec<Value>, String> {
        self.report()?["runs"][0]["verdicts"]
            .as_array()
            .ok_or_else(|| "the report has no verdicts".to_string())
    }
}

/// One `breakout run` and what it must produce.
pub struct Run {
    pub label: Option<String>,
    pub args: Vec<Arg>,
    pub output: Output,
    pub code: Option<i32>,
    pub verdicts: Vec<(&'static str, Want)>,
    pub checks: Vec<Check>,
}

/// `breakout run --format json ARGS` (whitespace-separated).
pub fn run(args: &'static str) -> Run {
    Run {
        label: None,
        args: Vec::new(),
        output: Output::Json,
        code: None,
        verdicts: Vec::new(),
        checks: Vec::new(),
    }
    .args(args)
}

/// `breakout run ARGS`, read as the human table.
pub fn table(args: &'static str) -> Run {
    Run {
        output: Output::Table,
        ..run(args)
    }
}

impl Run {
    /// Names the run in failures, where a case makes several alike.
    pub fn label(mut self, label: impl Into<String>) -> Run {
        self.label = Some(label.into());
        self
    }

    pub fn args(mut self, args: &'static str) -> Run {
        self.args.extend(args.split_whitespace().map(Arg::Text));
        self
    }

    pub fn volume(mut self, dir: &'static str, spec: &'static str) -> Run {
        self.args.push(Arg::Volume { dir, spec });
        self
    }

    pub fn profile(mut self, profile: Value) -> Run {
        self.args.push(Arg::Profile(profile));
        self
    }

    pub fn shipped_profile(mut self, name: &'static str) -> Run {
        self.args.push(Arg::ShippedProfile(name));
        self
    }

    pub fn docker_default(mut self) -> Run {
        self.args.push(Arg::DockerDefault);
        self
    }

    pub fn rootfs(mut self, dirs: &'static [&'static str]) -> Run {
        self.args.push(Arg::Rootfs(dirs));
        self
    }

    /// The report goes to a file (`-o`) instead of stdout.
    pub fn report_to_file(mut self) -> Run {
        self.output = Output::JsonFile;
        self
    }

    pub fn code(mut self, code: i32) -> Run {
        self.code = Some(code);
        self
    }

    pub fn verdicts(mut self, rows: impl IntoIterator<Item = (&'static str, Want)>) -> Run {
        self.verdicts.extend(rows);
        self
    }

    pub fn check(mut self, check: Check) -> Run {
        self.checks.push(check);
        self
    }

    /// The run used this many containers (one, plus one per kill or handoff).
    pub fn containers(self, n: u64) -> Run {
        self.check(Check::Field("/runs/0/containers", n.into()))
    }

    pub fn detail(self, step: &'static str, needle: &'static str) -> Run {
        self.check(Check::Detail(step, needle))
    }

    /// [`Run::detail`] where `condition` holds (a fact of this host's kernel).
    pub fn detail_if(self, condition: bool, step: &'static str, needle: &'static str) -> Run {
        if condition {
            self.detail(step, needle)
        } else {
            self
        }
    }

    fn execute(&self) -> Result<(), String> {
        let scratch = Scratch::new("case");
        let report_file = scratch.path().join("report.json");
        let mut argv = vec!["run".to_string()];
        if self.output != Output::Table {
            argv.extend(["--format".into(), "json".into()]);
        }
        if self.output == Output::JsonFile {
            argv.extend(["-o".into(), report_file.display().to_string()]);
        }
        for arg in &self.args {
            argv.extend(render(arg, scratch.path()));
        }
        let before = self
            .checks
            .iter()
            .filter_map(|c| match c {
                Check::Unchanged(dir) => Some((*dir, list_tree(&scratch.path().join(dir)))),
                _ => None,
            })
            .collect();
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = common::breakout(&argv);
        let failed = |wrong: &[String]| {
            let label = self.label.as_deref().map(|l| format!("{l}: "));
            format!(
                "{}breakout {}\n{}\nexit {}; stderr:\n{}",
                label.unwrap_or_default(),
                argv.join(" "),
                wrong.join("\n"),
                out.code,
                out.stderr
            )
        };
        let report = self.report(&out, &report_file).map_err(|e| failed(&[e]))?;
        let seen = Seen {
            out: &out,
            report: report.as_ref(),
            scratch: scratch.path(),
            before,
        };
        let mut wrong = Vec::new();
        if let Some(code) = self.code.filter(|c| *c != out.code) {
            wrong.push(format!("expected exit code {code}, got {}", out.code));
        }
        for (step, want) in &self.verdicts {
            let v = seen.report().and_then(|r| verdict(r, step));
            if let Err(e) = v.and_then(|v| want.check(step, v)) {
                wrong.push(e);
            }
        }
        wrong.extend(
            self.checks
                .iter()
                .filter_map(|c| self.check_one(c, &seen).err()),
        );
        if wrong.iter().any(|w| w.starts_with("no verdict for")) {
            wrong.push(format!("the report: {:#}", report.unwrap_or_default()));
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(failed(&wrong))
        }
    }

    /// The run's report, from stdout or the file; none for the table.
    fn report(&self, out: &common::Outcome, file: &Path) -> Result<Option<Value>, String> {
        let text = match self.output {
            Output::Table => return Ok(None),
            Output::Json => out.stdout.clone(),
            Output::JsonFile if !out.stdout.is_empty() => {
                return Err(format!("stdout is not empty:\n{}", out.stdout))
            }
            Output::JsonFile => {
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("not a JSON report ({e}):\n{text}"))
    }

    fn check_one(&self, check: &Check, seen: &Seen) -> Result<(), String> {
        let at = |pointer: &str| -> Result<Value, String> {
            Ok(seen
                .report()?
                .pointer(pointer)
                .cloned()
                .unwrap_or(Value::Null))
        };
        match check {
            Check::Detail(step, needle) => {
                let v = verdict(seen.report()?, step)?;
                let detail = v["detail"].as_str().unwrap_or_default();
                if !detail.contains(needle) {
                    return Err(format!("{step}: detail {detail:?} does not say {needle:?}"));
                }
            }
            Check::Field(pointer, expected) => {
                let got = at(pointer)?;
                if got != *expected {
                    return Err(format!("{pointer}: expected {expected}, got {got}"));
                }
            }
            Check::FieldHas(pointer, needle) => {
                let got = at(pointer)?;
                if !got.as_str().is_some_and(|s| s.contains(needle)) {
                    return Err(format!("{pointer}: {got} does not say {needle:?}"));
                }
            }
            Check::IsString(pointer) => {
                let got = at(pointer)?;
                if !got.is_string() {
                    return Err(format!("{pointer}: {got} is not a string"));
                }
            }
            Check::EveryVerdict(want) => {
                let verdicts = seen.verdicts()?;
                if verdicts.is_empty() {
                    return Err("the run has no verdicts".into());
                }
                for v in verdicts {
                    want.check(&step_of(v), v)?;
                }
            }
            Check::VerdictCount(n) => {
                let verdicts = seen.verdicts()?;
                if verdicts.len() != *n {
                    return Err(format!("expected {n} verdict(s): {verdicts:?}"));
                }
            }
            Check::RowsCover(prefixes) => {
                for v in seen.verdicts()? {
                    let step = step_of(v);
                    let covered = self.verdicts.iter().any(|(s, _)| *s == step);
                    if prefixes.iter().any(|p| step.starts_with(p)) && !covered {
                        return Err(format!("no expectation written for {step}: {v}"));
                    }
                }
            }
            Check::Stdout(needle) if !seen.out.stdout.contains(needle) => {
                return Err(format!(
                    "stdout does not say {needle:?}:\n{}",
                    seen.out.stdout
                ));
            }
            Check::NotStdout(needle) if seen.out.stdout.contains(needle) => {
                return Err(format!("stdout says {needle:?}:\n{}", seen.out.stdout));
            }
            Check::Stderr(needle) if !seen.out.stderr.contains(needle) => {
                return Err(format!("stderr does not say {needle:?}"));
            }
            Check::Stdout(_) | Check::NotStdout(_) | Check::Stderr(_) => {}
            Check::Empty(dir) => {
                let left: Vec<_> = std::fs::read_dir(seen.scratch.join(dir))
                    .map_err(|e| format!("the volume {dir}: {e}"))?
                    .flatten()
                    .map(|e| e.path())
                    .collect();
                if !left.is_empty() {
                    return Err(format!("left behind in the volume {dir}: {left:?}"));
                }
            }
            Check::Unchanged(dir) => {
                let was = seen.before.iter().find(|(d, _)| d == dir).map(|(_, t)| t);
                let now = list_tree(&seen.scratch.join(dir));
                if was != Some(&now) {
                    return Err(format!("{dir} changed: was {was:?}, now {now:?}"));
                }
            }
            Check::Named(name, check) => check(seen).map_err(|e| format!("{name}: {e}"))?,
        }
        Ok(())
    }
}

/// The argument as the command line gets it, with the files it names made.
fn render(arg: &Arg, scratch: &Path) -> Vec<String> {
    let sub = |name: &str| -> PathBuf {
        let dir = scratch.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    let (flag, value) = match arg {
        Arg::Text(text) => return vec![text.to_string()],
        Arg::Volume { dir, spec } => ("-v", format!("{}:{spec}", sub(dir).display())),
        Arg::Profile(profile) => (
            "--profile",
            common::write_profile(scratch, "profile.json", profile),
        ),
        Arg::ShippedProfile(name) => ("--profile", common::profile(name)),
        Arg::DockerDefault => (
            "--profile",
            common::needs::docker_default().display().to_string(),
        ),
        Arg::Rootfs(dirs) => {
            let rootfs = sub("rootfs");
            for dir in *dirs {
                std::fs::create_dir_all(rootfs.join(dir)).unwrap();
            }
            ("--rootfs", rootfs.display().to_string())
        }
    };
    vec![flag.to_string(), value]
}

/// Every path under `dir`, sorted.
pub fn list_tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(entry.path().display().to_string());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(list_tree(&entry.path()));
        }
    }
    out.sort();
    out
}

/// The tables themselves, without a container: names are unique, every run expects
/// something, and every step a row or a check names is a probe of the catalog, once
/// per run, so a typo fails here even on a host that skips every case.
pub fn well_formed(cases: &[Case]) -> TestResult {
    let mut wrong = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for case in cases {
        if !names.insert(case.name) {
            wrong.push(format!("{}: the name is taken", case.name));
        }
        let Body::Runs(runs) = &case.body else {
            continue;
        };
        if runs.is_empty() {
            wrong.push(format!("{}: no runs", case.name));
        }
        for (i, run) in runs.iter().enumerate() {
            let at = format!("{} run {}", case.name, i + 1);
            if run.code.is_none() && run.verdicts.is_empty() && run.checks.is_empty() {
                wrong.push(format!("{at}: expects nothing"));
            }
            let mut steps = std::collections::BTreeSet::new();
            for (step, _) in &run.verdicts {
                if !steps.insert(*step) {
                    wrong.push(format!("{at}: two rows for {step}"));
                }
            }
            // A check on a directory the run does not make would pass on nothing.
            let made: Vec<&str> = run
                .args
                .iter()
                .filter_map(|a| match a {
                    Arg::Volume { dir, .. } => Some(*dir),
                    Arg::Rootfs(_) => Some("rootfs"),
                    _ => None,
                })
                .collect();
            for check in &run.checks {
                if let Check::Empty(dir) | Check::Unchanged(dir) = check {
                    if !made.contains(dir) {
                        wrong.push(format!("{at}: checks {dir}, which no argument makes"));
                    }
                }
            }
            let detail_steps = run.checks.iter().filter_map(|c| match c {
                Check::Detail(step, _) => Some(*step),
                _ => None,
            });
            for step in steps.iter().copied().chain(detail_steps) {
                let probe = step.split_once('@').map_or(step, |(p, _)| p);
                if breakout::catalog::find(probe).is_none() {
                    wrong.push(format!("{at}: {step} is no probe of the catalog"));
                }
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("\n").into())
    }
}
