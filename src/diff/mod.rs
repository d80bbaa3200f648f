//! `breakout diff A B`: what a profile change does to escapes, for reviewing it in a
//! pull request, without starting anything. Both profiles go through `check`'s reading
//! and prediction ([`crate::check::predictions_for`]); this module only compares them:
//! per runtime, the start in each no-new-privileges setting, each step's verdict
//! (opened: closed under A, open under B; closed: the reverse) and each of its routes,
//! each side with the rule that decides it and where that rule is written.
//!
//! Steps are compared only under a runtime that starts under both profiles: a start
//! failure is a result of its own, never "every step closed".
//!
//! # JSON (`--format json`)
//!
//! One object, `"schema": "breakout-diff/1"`; within a schema version fields may be
//! added, never removed or changed in meaning.
//!
//! * `a`, `b`: `{file, warnings}`: the profiles and what a lenient reading let pass.
//! * `runtimes[]`: `runtime`; `starts[]`, one per no-new-privileges setting whose start
//!   changes: `no_new_privileges`, `change` (`stops`: started under A only, `starts`:
//!   under B only), `a` and `b` as `{starts, because[]}` with each reason's `cause`
//!   and `place`; `compared` (whether steps were compared: the container starts
//!   under both) and, when not, `not_compared` (why); `steps[]`, one per step that
//!   changes: `step`, `change` (`opened`, `closed`, or `routes`: the verdict is the
//!   same, some route's is not), `a` and `b` (the step's prediction), and `routes[]`
//!   (each route whose verdict changes: `route`, `entry`, `change` `opened` or
//!   `closed`, `a`, `b`). A prediction is `{filter, route, entry, action, mechanism,
//!   rule, place}` as in `check --format json`: `filter` is `open`, `closed` or `none`
//!   (the runtime applies no filter), `rule` the deciding rule in words, `place`
//!   `{file, line, column}` where it is written.
//! * `summary`: `opened`, `closed` and `routes_changed` (the verdict is the same) count
//!   steps, `routes_opened` and `routes_closed` routes, `starts_stopped` and
//!   `starts_gained` runtimes; each once, whatever runtimes it changes under.
//! * `exit_code`: the process's, decided by [`ProfileDiff::exit_code`].

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::check::{filter_words, place_suffix, predictions_for, RuntimePredictions};
use crate::cli::{CliError, DiffFormat};
use crate::predict::refusals::Refusal;
use crate::predict::start::{reasons, StartPrediction};
use crate::predict::Prediction;
use crate::profile::{self, Platform, Reading};
use crate::report::exit::{self, ExitCode, Findings};
use crate::runtime::RuntimeKind;
use crate::sanitize;
use breakout_wire::routes::Entry;

/// What changes from profile A to profile B.
#[derive(Debug, Serialize)]
pub struct ProfileDiff {
    pub schema: &'static str,
    pub a: ProfileSide,
    pub b: ProfileSide,
    pub runtimes: Vec<RuntimeDiff>,
    pub summary: Summary,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
pub struct ProfileSide {
    #[serde(serialize_with = "crate::profile::path_text")]
    pub file: PathBuf,
    pub warnings: Vec<String>,
}

/// What changes under one runtime.
#[derive(Debug, Serialize, PartialEq)]
pub struct RuntimeDiff {
    pub runtime: &'static str,
    pub starts: Vec<StartChange>,
    pub compared: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_compared: Option<String>,
    pub steps: Vec<StepChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartChangeKind {
    /// Starts under A, not under B.
    Stops,
    /// Starts under B, not under A.
    Starts,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct StartChange {
    pub no_new_privileges: bool,
    pub change: StartChangeKind,
    pub a: StartSide,
    pub b: StartSide,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct StartSide {
    pub starts: bool,
    pub because: Vec<Refusal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Closed under A, open under B.
    Opened,
    /// Open under A, closed under B.
    Closed,
    /// The step's verdict is the same; some of its routes' are not.
    Routes,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct StepChange {
    pub step: String,
    pub change: Change,
    #[serde(serialize_with = "decision")]
    pub a: Prediction,
    #[serde(serialize_with = "decision")]
    pub b: Prediction,
    pub routes: Vec<RouteChange>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RouteChange {
    pub route: String,
    pub entry: Option<Entry>,
    /// `opened` or `closed`.
    pub change: Change,
    #[serde(serialize_with = "decision")]
    pub a: Prediction,
    #[serde(serialize_with = "decision")]
    pub b: Prediction,
}

/// A prediction as `check --format json` gives it, without its `agreement`: that
/// compares with an observation, and a diff has none.
fn decision<S: serde::Serializer>(p: &Prediction, s: S) -> Result<S::Ok, S::Error> {
    let mut value = serde_json::to_value(p).map_err(serde::ser::Error::custom)?;
    if let Some(fields) = value.as_object_mut() {
        fields.remove("agreement");
    }
    value.serialize(s)
}

/// Closed is the only verdict that stops a step: no filter lets everything by.
fn is_open(p: &Prediction) -> bool {
    p.filter != "closed"
}

/// The deciding rule and its place, for a line of text.
fn because(p: &Prediction) -> String {
    format!("{}{}", p.rule, place_suffix(p.place.as_ref()))
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    pub opened: usize,
    pub closed: usize,
    pub routes_changed: usize,
    pub routes_opened: usize,
    pub routes_closed: usize,
    pub starts_stopped: usize,
    pub starts_gained: usize,
}

impl Summary {
    /// Each step, route and runtime counted once, whatever runtimes it changes under.
    fn of(runtimes: &[RuntimeDiff]) -> Summary {
        use std::collections::BTreeSet;
        let mut steps: [BTreeSet<&str>; 3] = Default::default();
        let mut routes: [BTreeSet<(&str, &str)>; 2] = Default::default();
        let mut starts: [BTreeSet<&str>; 2] = Default::default();
        for r in runtimes {
            for step in &r.steps {
                steps[step.change as usize].insert(&step.step);
                for route in &step.routes {
                    routes[route.change as usize].insert((&step.step, &route.route));
                }
            }
            for start in &r.starts {
                starts[start.change as usize].insert(r.runtime);
            }
        }
        Summary {
            opened: steps[Change::Opened as usize].len(),
            closed: steps[Change::Closed as usize].len(),
            routes_changed: steps[Change::Routes as usize].len(),
            routes_opened: routes[Change::Opened as usize].len(),
            routes_closed: routes[Change::Closed as usize].len(),
            starts_stopped: starts[StartChangeKind::Stops as usize].len(),
            starts_gained: starts[StartChangeKind::Starts as usize].len(),
        }
    }

    /// Anything open under B that was closed under A: a step, or a route of a step
    /// that was open already (one more way through).
    fn worse(&self) -> bool {
        self.routes_opened > 0
    }

    fn unchanged(&self) -> bool {
        *self == Summary::default()
    }
}

impl ProfileDiff {
    /// The diff of two profiles' predictions, made for the same runtimes in the same
    /// order.
    pub(crate) fn new(
        a: ProfileSide,
        b: ProfileSide,
        pa: &[RuntimePredictions],
        pb: &[RuntimePredictions],
    ) -> ProfileDiff {
        let runtimes = compare(pa, pb);
        let summary = Summary::of(&runtimes);
        ProfileDiff {
            schema: "breakout-diff/1",
            a,
            b,
            exit_code: ProfileDiff::exit_code(&summary) as u8,
            runtimes,
            summary,
        }
    }

    /// 1 when B opens a step or a route A closed (CI gates on it), else 4 when a
    /// runtime that started under A no longer does, else 0.
    pub fn exit_code(summary: &Summary) -> ExitCode {
        exit::decide(&Findings {
            escaped_or_mismatch: summary.worse(),
            start_failure: summary.starts_stopped > 0,
            ..Findings::default()
        })
    }
}

/// Compares the predictions under A and under B, runtime by runtime (both made for
/// the same runtimes, in the same order).
pub(crate) fn compare(a: &[RuntimePredictions], b: &[RuntimePredictions]) -> Vec<RuntimeDiff> {
    a.iter().zip(b).map(|(a, b)| runtime_diff(a, b)).collect()
}

fn runtime_diff(a: &RuntimePredictions, b: &RuntimePredictions) -> RuntimeDiff {
    let side = |s: &StartPrediction| StartSide {
        starts: s.starts,
        because: s.because.clone(),
    };
    let starts = a
        .starts
        .iter()
        .filter_map(|sa| {
            let sb = b
                .starts
                .iter()
                .find(|s| s.no_new_privileges == sa.no_new_privileges)?;
            (sa.starts != sb.starts).then(|| StartChange {
                no_new_privileges: sa.no_new_privileges,
                change: if sa.starts {
                    StartChangeKind::Stops
                } else {
                    StartChangeKind::Starts
                },
                a: side(sa),
                b: side(sb),
            })
        })
        .collect();
    // Where one side starts, how open its filter is says what the start change means.
    let open_steps = |r: &RuntimePredictions| {
        let open = r.steps.iter().filter(|s| is_open(&s.prediction)).count();
        format!("{open} of {} steps have an open route", r.steps.len())
    };
    let not_compared = match (a.ever_starts(), b.ever_starts()) {
        (true, true) => None,
        (true, false) => Some(format!(
            "the container does not start under B; under A, {}",
            open_steps(a)
        )),
        (false, true) => Some(format!(
            "the container does not start under A; under B, {}",
            open_steps(b)
        )),
        (false, false) => Some("the container starts under neither".to_string()),
    };
    let steps = if not_compared.is_none() {
        a.steps
            .iter()
            .filter_map(|sa| {
                let sb = b.steps.iter().find(|s| s.step == sa.step)?;
                step_change(
                    &sa.step,
                    (&sa.prediction, &sa.routes),
                    (&sb.prediction, &sb.routes),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    RuntimeDiff {
        runtime: a.runtime,
        starts,
        compared: not_compared.is_none(),
        not_compared,
        steps,
    }
}

type Predicted<'a> = (&'a Prediction, &'a [Prediction]);

/// The change of one step from A to B, if its verdict or any route's changes.
fn step_change(step: &str, a: Predicted, b: Predicted) -> Option<StepChange> {
    let opened_or_closed = |a: &Prediction, b: &Prediction| match (is_open(a), is_open(b)) {
        (false, true) => Some(Change::Opened),
        (true, false) => Some(Change::Closed),
        _ => None,
    };
    let routes: Vec<RouteChange> =
        a.1.iter()
            .zip(b.1)
            .filter_map(|(ra, rb)| {
                Some(RouteChange {
                    route: ra.route.clone().unwrap_or_default(),
                    entry: ra.entry,
                    change: opened_or_closed(ra, rb)?,
                    a: ra.clone(),
                    b: rb.clone(),
                })
            })
            .collect();
    let change = match opened_or_closed(a.0, b.0) {
        Some(change) => change,
        None if !routes.is_empty() => Change::Routes,
        None => return None,
    };
    Some(StepChange {
        step: step.to_string(),
        change,
        a: a.0.clone(),
        b: b.0.clone(),
        routes,
    })
}

/// The runtimes `--runtime` names (repeatable, or comma lists), or `check`'s.
pub fn runtimes(names: &[String]) -> Result<Vec<RuntimeKind>, CliError> {
    let names: Vec<&str> = names
        .iter()
        .flat_map(|n| n.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(crate::check::PREDICTED
            .iter()
            .filter_map(|n| RuntimeKind::named(n))
            .collect());
    }
    let known: Vec<&str> = crate::runtime::RUNTIMES
        .iter()
        .filter(|k| k.engine.is_none())
        .map(|k| k.name)
        .collect();
    let mut kinds: Vec<RuntimeKind> = Vec::new();
    for name in names {
        match RuntimeKind::named(name).filter(|k| k.engine.is_none()) {
            Some(kind) if !kinds.iter().any(|k| k.name == kind.name) => kinds.push(kind),
            Some(_) => {}
            None => {
                return Err(CliError::Usage(format!(
                    "--runtime {name}: diff predicts for {} only (an engine's own runtime and reading of the profile are not in the quirks table)",
                    known.join(", ")
                )))
            }
        }
    }
    Ok(kinds)
}

/// Reads and resolves one profile as `check` does; bad input is a usage error that
/// names the file (and the place, from the profile reader).
fn read(path: &Path, reading: Reading) -> Result<profile::CheckReport, CliError> {
    if crate::check::is_scenario(path) {
        return Err(CliError::Usage(format!(
            "{}: a scenario file; diff compares profiles (the file its \"profile\" names)",
            path.display()
        )));
    }
    let caps = crate::container::DOCKER_DEFAULT_CAPS
        .iter()
        .map(|c| c.to_string())
        .collect();
    profile::check(path, &Platform::host(caps), reading).map_err(|e| CliError::Usage(e.to_string()))
}

/// Diffs profile `a` against profile `b` under `kinds`.
pub fn diff(
    a: &Path,
    b: &Path,
    kinds: &[RuntimeKind],
    reading: Reading,
) -> Result<ProfileDiff, CliError> {
    let (ra, rb) = (read(a, reading)?, read(b, reading)?);
    let (pa, pb) = (
        predictions_for(&ra, kinds, true),
        predictions_for(&rb, kinds, true),
    );
    let side = |file: &Path, report: profile::CheckReport| ProfileSide {
        file: file.to_path_buf(),
        warnings: report.reading_warnings,
    };
    Ok(ProfileDiff::new(side(a, ra), side(b, rb), &pa, &pb))
}

/// `breakout diff`: the rendering and the exit code.
pub fn run(
    a: &Path,
    b: &Path,
    runtime_flags: &[String],
    format: DiffFormat,
    reading: Reading,
) -> Result<(String, ExitCode), CliError> {
    let kinds = runtimes(runtime_flags)?;
    let d = diff(a, b, &kinds, reading)?;
    crate::cli::warn(&d.a.warnings);
    crate::cli::warn(&d.b.warnings);
    let text = match format {
        DiffFormat::Text => to_text(&d),
        // Paths are written lossily, so nothing in a diff can fail to serialise.
        DiffFormat::Json => serde_json::to_string_pretty(&d).expect("a diff serialises") + "\n",
        DiffFormat::Markdown => to_markdown(&d),
    };
    Ok((text, ProfileDiff::exit_code(&d.summary)))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary in one line: "0 steps opened, 7 closed (...); no longer starts under
/// runc".
fn summary_words(d: &ProfileDiff) -> String {
    let s = &d.summary;
    if s.unchanged() {
        return "no change".to_string();
    }
    let mut out = format!(
        "{} opened, {} closed",
        plural(s.opened, "step", "steps"),
        s.closed
    );
    if s.routes_changed > 0 {
        out.push_str(&format!(
            ", {} with routes changed",
            plural(s.routes_changed, "step", "steps")
        ));
    }
    out.push_str(&format!(
        " ({} opened, {} closed)",
        plural(s.routes_opened, "route", "routes"),
        s.routes_closed
    ));
    for (kind, words) in [
        (StartChangeKind::Stops, "no longer starts"),
        (StartChangeKind::Starts, "now starts"),
    ] {
        let runtimes: Vec<&str> = d
            .runtimes
            .iter()
            .filter(|r| r.starts.iter().any(|c| c.change == kind))
            .map(|r| r.runtime)
            .collect();
        if !runtimes.is_empty() {
            out.push_str(&format!("; {words} under {}", runtimes.join(", ")));
        }
    }
    out
}

/// A runtime's start changes with the setting each is in; both settings alike (the
/// usual case) are one.
fn start_changes(r: &RuntimeDiff) -> Vec<(&'static str, &StartChange)> {
    match r.starts.as_slice() {
        [one, two] if one.a == two.a && one.b == two.b => {
            vec![("with and without no-new-privileges", one)]
        }
        all => all
            .iter()
            .map(|c| (nnp_words(c.no_new_privileges), c))
            .collect(),
    }
}

fn nnp_words(nnp: bool) -> &'static str {
    if nnp {
        "with no-new-privileges"
    } else {
        "without no-new-privileges"
    }
}

fn start_words(s: &StartSide) -> String {
    if s.starts {
        return "starts".to_string();
    }
    format!("cannot start: {}", reasons(&s.because))
}

/// The text: each runtime's changes (or "the same as" an earlier runtime's), then the
/// summary.
pub fn to_text(d: &ProfileDiff) -> String {
    let mut out = format!(
        "breakout diff\n  A {}\n  B {}\n\n",
        d.a.file.display(),
        d.b.file.display()
    );
    for (i, r) in d.runtimes.iter().enumerate() {
        if r.starts.is_empty() && r.steps.is_empty() && r.compared {
            out.push_str(&format!("{}: no change\n", r.runtime));
            continue;
        }
        // Start reasons name their runtime, so only start-less changes can repeat.
        let same = d.runtimes[..i].iter().find(|e| {
            e.starts.is_empty()
                && r.starts.is_empty()
                && e.steps == r.steps
                && e.not_compared == r.not_compared
        });
        if let Some(earlier) = same {
            out.push_str(&format!("{}: the same as {}\n", r.runtime, earlier.runtime));
            continue;
        }
        out.push_str(&format!("{}:\n", r.runtime));
        for (setting, s) in start_changes(r) {
            out.push_str(&format!(
                "  start {setting}: {}\n    A: {}\n    B: {}\n",
                match s.change {
                    StartChangeKind::Stops => "STOPS",
                    StartChangeKind::Starts => "now starts",
                },
                start_words(&s.a),
                start_words(&s.b),
            ));
        }
        if let Some(why) = &r.not_compared {
            out.push_str(&format!("  steps not compared: {why}\n"));
        }
        for s in &r.steps {
            let what = match s.change {
                Change::Opened => "OPENED",
                Change::Closed => "closed",
                Change::Routes => "routes",
            };
            let (a, b) = (filter_words(&s.a), filter_words(&s.b));
            let verdicts = if a == b {
                format!("{a} under both")
            } else {
                format!("{a} -> {b}")
            };
            out.push_str(&format!("  {what:<6} {:<26} {verdicts}\n", s.step));
            for route in &s.routes {
                out.push_str(&format!(
                    "         route {} ({}): {}\n           A: {}\n           B: {}\n",
                    route.route,
                    route.entry.map_or("?", Entry::as_str),
                    match route.change {
                        Change::Opened => "OPENED",
                        _ => "closed",
                    },
                    because(&route.a),
                    because(&route.b),
                ));
            }
        }
    }
    out.push_str(&format!("\nsummary: {}\n", summary_words(d)));
    out
}

/// A pull-request comment: the verdict in one line, then tables of what opened, what
/// closed, routes that changed within an unchanged verdict, and starts. Rows that are
/// the same under several runtimes are one row naming them all.
pub fn to_markdown(d: &ProfileDiff) -> String {
    let s = &d.summary;
    let icon = match ProfileDiff::exit_code(s) {
        ExitCode::Escaped => "❌",
        ExitCode::StartFailure => "⚠️",
        _ => "✅",
    };
    let mut out = format!(
        "{icon} **breakout diff**: {}\n\n{} → {}\n\n",
        md_text(&summary_words(d)),
        md_code(&d.a.file.display().to_string()),
        md_code(&d.b.file.display().to_string()),
    );
    let starts: Vec<(String, String)> = d
        .runtimes
        .iter()
        .flat_map(|r| {
            start_changes(r).into_iter().map(move |(setting, c)| {
                (
                    r.runtime.to_string(),
                    format!(
                        "| {} | {} | {} |",
                        setting,
                        md_text(&start_words(&c.a)),
                        md_text(&start_words(&c.b))
                    ),
                )
            })
        })
        .collect();
    table(
        &mut out,
        "Start",
        "| runtime | setting | A | B |\n|---|---|---|---|",
        &starts,
    );
    for (title, change) in [
        ("Opened", Change::Opened),
        ("Closed", Change::Closed),
        ("Routes changed, same verdict", Change::Routes),
    ] {
        let rows: Vec<(String, String)> = d
            .runtimes
            .iter()
            .flat_map(|r| {
                r.steps
                    .iter()
                    .filter(move |s| s.change == change)
                    .flat_map(move |s| step_rows(r.runtime, s))
            })
            .collect();
        table(
            &mut out,
            title,
            "| runtime | step | route | A | B |\n|---|---|---|---|---|",
            &rows,
        );
    }
    let not_compared: Vec<String> = d
        .runtimes
        .iter()
        .filter_map(|r| {
            let why = r.not_compared.as_ref()?;
            Some(format!("- {}: {}\n", md_code(r.runtime), md_text(why)))
        })
        .collect();
    if !not_compared.is_empty() {
        out.push_str(&format!(
            "**Steps not compared:**\n\n{}\n",
            not_compared.concat()
        ));
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// A step's rows: one per changed route, or the step's own where no route changed
/// (it cannot happen with a verdict change, but a row is never lost).
fn step_rows(runtime: &str, s: &StepChange) -> Vec<(String, String)> {
    let row = |route: &str, a: &Prediction, b: &Prediction| {
        (
            runtime.to_string(),
            format!(
                "| {} | {} | {} | {} |",
                md_code(&s.step),
                md_text(route),
                md_side(a),
                md_side(b)
            ),
        )
    };
    if s.routes.is_empty() {
        return vec![row(s.a.route.as_deref().unwrap_or(""), &s.a, &s.b)];
    }
    s.routes
        .iter()
        .map(|r| {
            let route = format!("{} ({})", r.route, r.entry.map_or("?", Entry::as_str));
            row(&route, &r.a, &r.b)
        })
        .collect()
}

/// A section with a table whose rows are `(runtime, rest of the row)`; rows with the
/// same rest under several runtimes become one. Nothing when there are no rows.
fn table(out: &mut String, title: &str, header: &str, rows: &[(String, String)]) {
    if rows.is_empty() {
        return;
    }
    let mut merged: Vec<(Vec<&str>, &str)> = Vec::new();
    for (runtime, rest) in rows {
        match merged.iter_mut().find(|(_, r)| r == rest) {
            Some((runtimes, _)) => runtimes.push(runtime),
            None => merged.push((vec![runtime], rest)),
        }
    }
    out.push_str(&format!("### {title}\n\n{header}\n"));
    for (runtimes, rest) in merged {
        out.push_str(&format!("| {} {rest}\n", md_text(&runtimes.join(", "))));
    }
    out.push('\n');
}

/// A route's verdict (its row names the route) and the rule that decides it.
fn md_side(s: &Prediction) -> String {
    let place = s
        .place
        .as_ref()
        .map(|p| format!(" {}", md_code(&p.to_string())))
        .unwrap_or_default();
    let words = match (s.filter, &s.mechanism) {
        ("closed", Some(m)) => md_text(&format!("closed ({m})")),
        ("closed", None) => "closed".to_string(),
        (other, _) => format!("**{}**", md_text(other)),
    };
    format!("{words}: {}{place}", md_text(&s.rule))
}

fn md_text(s: &str) -> String {
    sanitize::markdown_text(&s.replace(['\r', '\n'], " "))
}

fn md_code(s: &str) -> String {
    sanitize::markdown_code(&s.replace(['\r', '\n'], " "))
}

#[cfg(test)]
mod tests;
