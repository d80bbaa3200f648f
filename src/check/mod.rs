//! `breakout check`: validates profile and scenario files and resolves them for this
//! host, without starting a container. Every problem names the file, the place and
//! what is wrong; a profile no runtime can start a container under is one of them.
//!
//! Then it predicts, per runtime, whether a container starts and what the filter does
//! to each probe, and turns that into findings ([`Finding`]): for a profile, each route
//! the filter leaves open and each runtime that cannot start; for a scenario, each
//! prediction that contradicts what the scenario expects (none when it holds). The
//! findings are the SARIF output's alerts ([`sarif`]).

mod sarif;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{CheckFormat, CliError};
use crate::container::DOCKER_DEFAULT_CAPS;
use crate::predict::refusals::Written;
use crate::predict::source::{Place, RulePlaces};
use crate::predict::start::{predict_starts, start_line, StartPrediction};
use crate::profile::{self, CheckReport, Platform, Reading};
use crate::report::Outcome;
use crate::report::{exit, ExitCode};
use crate::scenario::{ProfileSource, Scenario, StartExpectation};

/// What checking one file found.
#[derive(Debug, Serialize)]
struct FileCheck {
    /// A name that is not UTF-8 is written lossily, never refused.
    #[serde(serialize_with = "crate::profile::path_text")]
    file: PathBuf,
    /// `profile` or `scenario`.
    kind: &'static str,
    ok: bool,
    errors: Vec<String>,
    notes: Vec<String>,
    profile: Option<CheckReport>,
    /// What the filter decides for each probe, under each runtime that applies it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    predictions: Vec<RuntimePredictions>,
    /// What deserves attention, each at the place that causes it.
    findings: Vec<Finding>,
}

impl FileCheck {
    fn new(path: &Path, kind: &'static str) -> FileCheck {
        FileCheck {
            file: path.to_path_buf(),
            kind,
            ok: true,
            errors: Vec::new(),
            notes: Vec::new(),
            profile: None,
            predictions: Vec::new(),
            findings: Vec::new(),
        }
    }
}

/// One thing `check` draws attention to: an alert in SARIF.
#[derive(Debug, Serialize)]
pub struct Finding {
    /// `error`: the file is wrong, or a prediction contradicts the scenario for
    /// certain; `warning`: a route the filter leaves open, a runtime that cannot start.
    pub level: &'static str,
    /// A probe id, `start`, or `profile` (the file itself).
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub runtimes: Vec<&'static str>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
}

/// Under one runtime: whether a container starts, and the filter's decision for each
/// step where one does.
#[derive(Debug, Serialize)]
pub(crate) struct RuntimePredictions {
    pub runtime: &'static str,
    /// Without and with no-new-privileges.
    pub starts: Vec<StartPrediction>,
    pub steps: Vec<StepPrediction>,
}

impl RuntimePredictions {
    pub fn ever_starts(&self) -> bool {
        self.starts.iter().any(|s| s.starts)
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct StepPrediction {
    pub step: String,
    #[serde(flatten)]
    pub prediction: crate::predict::Prediction,
    /// Each route on its own, in the probe's order, where asked for (what `breakout
    /// diff` compares).
    #[serde(skip)]
    pub routes: Vec<crate::predict::Prediction>,
}

/// The runtimes a prediction is made for: those that apply the profile themselves.
pub(crate) const PREDICTED: &[&str] = &["runc", "crun", "runsc-oci"];

/// Predicts the start and every probe step (no mounts) under each runtime of
/// [`PREDICTED`], from the filter the check resolved; no steps where it cannot start.
fn predictions(report: &CheckReport) -> Vec<RuntimePredictions> {
    let kinds: Vec<crate::runtime::RuntimeKind> = PREDICTED
        .iter()
        .filter_map(|name| crate::runtime::RuntimeKind::named(name))
        .collect();
    predictions_for(report, &kinds, false)
}

/// [`predictions`] under the given runtimes, in their order; with each step's every
/// route judged on its own where `each_route` (what `diff` compares; it adds about a
/// third to the time `check` takes, so `check` does without).
pub(crate) fn predictions_for(
    report: &CheckReport,
    kinds: &[crate::runtime::RuntimeKind],
    each_route: bool,
) -> Vec<RuntimePredictions> {
    let (path, seccomp, sources) = (&report.path, &report.resolved, &report.sources);
    let places = RulePlaces::of(path);
    let written = Written {
        seccomp,
        sources,
        places: &places,
    };
    let ids: Vec<String> = crate::catalog::CATALOG
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    let steps = crate::catalog::expand_steps(&ids, &[]);
    kinds
        .iter()
        .map(|kind| {
            let starts = predict_starts(kind, &written, &report.analysis);
            if !starts.iter().any(|s| s.starts) {
                return RuntimePredictions {
                    runtime: kind.name,
                    starts,
                    steps: Vec::new(),
                };
            }
            let predictor =
                crate::predict::Predictor::new(kind, Some(seccomp), sources, Some(path));
            RuntimePredictions {
                runtime: kind.name,
                starts,
                steps: steps
                    .iter()
                    .filter_map(|step| {
                        Some(StepPrediction {
                            step: step.clone(),
                            prediction: predictor.predict(step)?,
                            routes: if each_route {
                                predictor.predict_routes(step)?
                            } else {
                                Vec::new()
                            },
                        })
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The text of the predictions: each runtime's start, then the first startable
/// runtime's every step and the others' differences.
fn predictions_text(all: &[RuntimePredictions]) -> String {
    let mut text = String::new();
    if !all.is_empty() {
        text.push_str("start, predicted:\n");
    }
    for r in all {
        if let Some(line) = start_line(&r.starts) {
            text.push_str(&format!("  {line}\n"));
        }
    }
    let mut startable = all.iter().filter(|r| r.ever_starts());
    let Some(first) = startable.next() else {
        return text;
    };
    let open = first
        .steps
        .iter()
        .filter(|s| s.prediction.filter == "open")
        .count();
    text.push_str(&format!(
        "predicted under {}: {open} of {} steps have a route the filter lets through\n",
        first.runtime,
        first.steps.len()
    ));
    for s in &first.steps {
        text.push_str(&format!("  {}\n", step_line(s)));
    }
    for other in startable {
        let differ: Vec<&StepPrediction> = other
            .steps
            .iter()
            .filter(|s| {
                first
                    .steps
                    .iter()
                    .find(|f| f.step == s.step)
                    .is_none_or(|f| {
                        f.prediction.filter != s.prediction.filter
                            || f.prediction.mechanism != s.prediction.mechanism
                    })
            })
            .collect();
        if differ.is_empty() {
            text.push_str(&format!("predicted under {}: the same\n", other.runtime));
        } else {
            text.push_str(&format!(
                "predicted under {}, where it differs:\n",
                other.runtime
            ));
            for s in differ {
                text.push_str(&format!("  {}\n", step_line(s)));
            }
        }
    }
    text
}

fn step_line(s: &StepPrediction) -> String {
    let p = &s.prediction;
    format!(
        "{:<26} {}: {}{}",
        s.step,
        filter_words(p),
        p.rule,
        place_suffix(p.place.as_ref())
    )
}

/// What the filter does to a step or route, in a few words: "open via ROUTE",
/// "closed (EPERM)", "no filter".
pub(crate) fn filter_words(p: &crate::predict::Prediction) -> String {
    match (p.filter, &p.mechanism) {
        ("open", _) => format!("open via {}", p.route.as_deref().unwrap_or("?")),
        ("none", _) => "no filter".to_string(),
        (_, Some(m)) => format!("closed ({m})"),
        _ => "closed".to_string(),
    }
}

/// ` [file:line:column]` where a rule is written, or nothing.
pub(crate) fn place_suffix(place: Option<&Place>) -> String {
    place.map(|pl| format!(" [{pl}]")).unwrap_or_default()
}

/// A scenario is an object with a `runtimes` key; anything else is read as a profile
/// (and a file that is no JSON at all gets the profile parser's precise error).
pub(crate) fn is_scenario(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("runtimes").is_some())
}

fn check_profile(path: &Path, caps: Vec<String>, reading: Reading) -> FileCheck {
    let mut out = FileCheck::new(path, "profile");
    match profile::check(path, &Platform::host(caps.clone()), reading) {
        Ok(report) => {
            out.predictions = predictions(&report);
            if report.analysis.never_starts {
                out.errors
                    .push(format!("{}: {}", path.display(), report.analysis.summary()));
            } else if !out.predictions.iter().any(RuntimePredictions::ever_starts) {
                out.errors.push(format!(
                    "{}: no runtime can start a container under it (see each runtime's reason below)",
                    path.display()
                ));
            }
            out.profile = Some(report);
        }
        Err(e) => out.errors.push(e.to_string()),
    }
    out.findings = error_findings(&out.errors);
    if let Some(report) = &out.profile {
        out.findings
            .extend(reading_findings(path, &report.reading_warnings));
    }
    out.findings.extend(start_findings(&out.predictions, None));
    out.findings.extend(open_findings(&out.predictions));
    out.ok = out.errors.is_empty();
    out
}

/// Each error as a finding of the file itself.
fn error_findings(errors: &[String]) -> Vec<Finding> {
    errors
        .iter()
        .map(|e| Finding {
            level: "error",
            rule: "profile".into(),
            step: None,
            runtimes: Vec::new(),
            message: e.clone(),
            place: None,
        })
        .collect()
}

/// What a lenient reading let pass (`file:line:column: ...`), each at its place.
fn reading_findings(path: &Path, warnings: &[String]) -> Vec<Finding> {
    let prefix = format!("{}:", path.display());
    warnings
        .iter()
        .map(|w| {
            let place = w.strip_prefix(&prefix).and_then(|rest| {
                let mut parts = rest.splitn(3, ':');
                let line = parts.next()?.parse().ok()?;
                let column = parts.next()?.parse().ok()?;
                Some(Place {
                    file: path.to_path_buf(),
                    line,
                    column,
                })
            });
            Finding {
                level: "warning",
                rule: "profile".into(),
                step: None,
                runtimes: Vec::new(),
                message: w.clone(),
                place,
            }
        })
        .collect()
}

/// Each runtime that cannot start, in the given no-new-privileges setting (or in
/// neither, when none is given), at the place that decides it.
fn start_findings(all: &[RuntimePredictions], nnp: Option<bool>) -> Vec<Finding> {
    all.iter()
        .filter_map(|r| {
            let failing: Vec<&StartPrediction> = r
                .starts
                .iter()
                .filter(|s| nnp.is_none_or(|n| s.no_new_privileges == n))
                .collect();
            if failing.iter().any(|s| s.starts) {
                return None;
            }
            let first = failing.first()?;
            let reason = first.because.first();
            Some(Finding {
                level: "warning",
                rule: "start".into(),
                step: None,
                runtimes: vec![r.runtime],
                message: format!(
                    "{} cannot start a container under this profile{}: {}",
                    r.runtime,
                    match nnp {
                        None => "",
                        Some(true) => " with no-new-privileges",
                        Some(false) => " without no-new-privileges",
                    },
                    reason.map_or("(no reason known)", |b| b.cause.as_str())
                ),
                place: reason.and_then(|b| b.place.clone()),
            })
        })
        .collect()
}

/// Each step some runtime's filter leaves open, once, with the runtimes it is open
/// under and the rule of the first.
fn open_findings(all: &[RuntimePredictions]) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for r in all {
        for s in r.steps.iter().filter(|s| s.prediction.filter == "open") {
            if let Some(f) = out.iter_mut().find(|f| f.step.as_deref() == Some(&s.step)) {
                f.runtimes.push(r.runtime);
                continue;
            }
            out.push(Finding {
                level: "warning",
                rule: crate::protocol::split_step(&s.step).0.to_string(),
                step: Some(s.step.clone()),
                runtimes: vec![r.runtime],
                message: format!(
                    "the filter leaves {} open via {}: {}",
                    s.step,
                    s.prediction.route.as_deref().unwrap_or("?"),
                    s.prediction.rule
                ),
                place: s.prediction.place.clone(),
            });
        }
    }
    for f in &mut out {
        f.message = format!("{} (under {})", f.message, f.runtimes.join(", "));
    }
    out
}

/// What the scenario expects against what is predicted, for its runtimes and probes,
/// where the prediction is certain: a start expected that cannot happen (or the
/// reverse), a step expected to escape that the filter closes. A step expected blocked
/// that the filter leaves open is no finding: a capability, a mount or the sandbox
/// kernel may block it, which only a run shows.
fn scenario_findings(scenario: &Scenario, all: &[RuntimePredictions], nnp: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let selected: Option<Vec<&str>> = (!scenario.probes.is_empty()).then(|| {
        crate::run::select_probes(&scenario.probes)
            .map(|p| p.iter().map(|i| i.id).collect())
            .unwrap_or_default()
    });
    for runtime in &scenario.runtimes {
        let name = crate::scenario::runtime_name(runtime);
        let Some(r) = all.iter().find(|r| r.runtime == name) else {
            continue;
        };
        let Some(start) = r.starts.iter().find(|s| s.no_new_privileges == nnp) else {
            continue;
        };
        let expects_start = scenario.expect.start_for(runtime) == StartExpectation::Starts;
        if expects_start != start.starts {
            let reason = start.because.first();
            out.push(Finding {
                level: "error",
                rule: "start".into(),
                step: None,
                runtimes: vec![r.runtime],
                message: match reason {
                    Some(b) => format!(
                        "scenario {} expects {} to start, but it cannot: {}",
                        scenario.name, r.runtime, b.cause
                    ),
                    None => format!(
                        "scenario {} expects {} not to start, but nothing in the profile stops it",
                        scenario.name, r.runtime
                    ),
                },
                place: reason.and_then(|b| b.place.clone()),
            });
        }
        if !start.starts {
            continue;
        }
        for s in &r.steps {
            let id = crate::protocol::split_step(&s.step).0;
            if selected.as_ref().is_some_and(|ids| !ids.contains(&id)) {
                continue;
            }
            let expected = scenario.expect.expected_for(runtime, &s.step);
            if !(expected.outcome == Some(Outcome::Escaped) && s.prediction.filter == "closed") {
                continue;
            }
            out.push(Finding {
                level: "error",
                rule: id.to_string(),
                step: Some(s.step.clone()),
                runtimes: vec![r.runtime],
                message: format!(
                    "scenario {} expects {} {} under {}, but the filter closes it: {}",
                    scenario.name, s.step, expected.text, r.runtime, s.prediction.rule
                ),
                place: s.prediction.place.clone(),
            });
        }
    }
    out
}

fn check_scenario(path: &Path, reading: Reading) -> FileCheck {
    let mut out = FileCheck::new(path, "scenario");
    let scenario = match Scenario::read(path, reading) {
        Ok(s) => s,
        Err(e) => {
            out.errors.push(e.to_string());
            out.findings = error_findings(&out.errors);
            out.ok = false;
            return out;
        }
    };
    out.notes.push(format!(
        "scenario {}: {} runtime(s), probes {}",
        scenario.name,
        scenario.runtimes.len(),
        if scenario.probes.is_empty() {
            "all".to_string()
        } else {
            scenario.probes.join(", ")
        }
    ));
    let (caps, no_new_privileges): (Vec<String>, bool) = match scenario.settings.validate_for(None)
    {
        Ok(settings) => (
            settings.caps.into_iter().collect(),
            settings.no_new_privileges,
        ),
        Err(_) => (
            DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
            false,
        ),
    };
    match &scenario.profile {
        ProfileSource::File(profile_path) => {
            let inner = check_profile(profile_path, caps, reading);
            out.errors.extend(inner.errors);
            if let Some(report) = &inner.profile {
                // The scenario's start expectations against what the profile allows.
                for runtime in &scenario.runtimes {
                    let name = crate::scenario::runtime_name(runtime);
                    let runc_like = crate::runtime::RuntimeKind::named(name)
                        .is_some_and(|k| k.filters_own_exec && k.applies_profile);
                    let expects_start =
                        scenario.expect.start_for(runtime) == StartExpectation::Starts;
                    if runc_like && !report.analysis.runc_like_can_start && expects_start {
                        out.notes.push(format!(
                            "expects {name} to start, but {}",
                            report.analysis.summary()
                        ));
                    }
                    // The runtime's own start after its filter, in this scenario's
                    // no-new-privileges setting.
                    let own =
                        report.analysis.runtime_starts.iter().find(|r| {
                            r.runtime == name && r.no_new_privileges == no_new_privileges
                        });
                    if let (Some(own), true) = (own, expects_start) {
                        if !own.denied.is_empty() {
                            out.notes.push(format!(
                                "expects {name} to start, but its own start needs {}, which the profile denies",
                                crate::profile::analysis_and_list(&own.denied)
                            ));
                        }
                    }
                }
            }
            out.findings = scenario_findings(&scenario, &inner.predictions, no_new_privileges);
            out.profile = inner.profile;
            out.predictions = inner.predictions;
        }
        ProfileSource::Missing { tried } => out.notes.push(format!(
            "none of the profile paths exists here ({}): its trials will be ignored",
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        ProfileSource::Inline(_) => out.notes.push("inline profile".to_string()),
        ProfileSource::None => out.notes.push("no seccomp filter".to_string()),
        ProfileSource::Unconfined => out.notes.push("seccomp unconfined".to_string()),
    }
    let mut findings = error_findings(&out.errors);
    findings.append(&mut out.findings);
    out.findings = findings;
    out.ok = out.errors.is_empty();
    out
}

/// Checks every file; the text (or JSON) to print and the exit code: 2 if any file
/// has a problem, 0 otherwise.
pub fn run(
    files: &[PathBuf],
    format: CheckFormat,
    reading: Reading,
) -> Result<(String, ExitCode), CliError> {
    let checks: Vec<FileCheck> = files
        .iter()
        .map(|f| {
            if is_scenario(f) {
                check_scenario(f, reading)
            } else {
                check_profile(
                    f,
                    DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
                    reading,
                )
            }
        })
        .collect();
    let code = exit::decide(&exit::Findings {
        unable: checks.iter().any(|c| !c.ok).then_some(exit::Unable::Usage),
        ..exit::Findings::default()
    });
    match format {
        CheckFormat::Json => {
            let text = serde_json::to_string_pretty(&checks).expect("checks serialise") + "\n";
            return Ok((text, code));
        }
        CheckFormat::Sarif => return Ok((sarif::to_sarif(&checks), code)),
        CheckFormat::Table => {}
    }
    let mut text = String::new();
    for c in &checks {
        let verdict = if c.ok { "ok" } else { "FAILED" };
        text.push_str(&format!("{} ({}): {verdict}\n", c.file.display(), c.kind));
        for e in &c.errors {
            text.push_str(&format!("  error: {e}\n"));
        }
        for n in &c.notes {
            text.push_str(&format!("  {n}\n"));
        }
        if let Some(report) = &c.profile {
            for line in report.text_without_start().lines() {
                text.push_str(&format!("  {line}\n"));
            }
        }
        for line in predictions_text(&c.predictions).lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    Ok((text, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_that_is_not_utf8_is_written_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let check = FileCheck::new(
            Path::new(std::ffi::OsStr::from_bytes(b"bad\xff.json")),
            "profile",
        );
        let json = serde_json::to_value(&check).expect("serialises");
        assert_eq!(json["file"], "bad\u{fffd}.json");
    }
}
