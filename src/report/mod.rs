//! Verdicts, the report they make up, and its reporters (table, JSON; the suite's in `suite`).
//!
//! The pipeline tells what happens as a stream of [`event::Event`]s; [`collect`] makes
//! the reports from it. Reporters only see this model; they know nothing of runtimes or
//! probes' insides.
//! The JSON report is a versioned wire format: [`REPORT_SCHEMA`] changes whenever a
//! field changes meaning or disappears; new fields may be added within a version.

pub mod baseline;
pub mod collect;
pub mod compare;
pub mod environment;
pub mod event;
pub mod exit;
pub mod format;
pub mod html;
pub mod junit;
pub mod listing;
pub mod markdown;
pub mod mechanism;
pub mod sarif;
pub mod suite;
mod table;

use serde::Serialize;

use crate::catalog::{self, Goal};
pub use crate::facts::{ProfileHandling, RuntimeVersion};
pub use exit::ExitCode;
pub use format::Format;
pub use mechanism::{Kind, Mechanism};

/// Identifies the JSON report format.
pub const REPORT_SCHEMA: &str = "breakout-report/1";

/// A probe's result as the harness reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The escape worked.
    Escaped,
    /// Something (seccomp, a capability, a mount option, the network) stopped it.
    Blocked,
    /// It reached what it aimed at, but inside a sandbox kernel (gVisor's namespaces,
    /// its procfs, its implementation of a call): not the host kernel's.
    Contained,
    /// The probe has nothing to try here (no mounts, no shell, no canary).
    NotApplicable,
    /// The probe could not tell: it failed, hung, or its container died oddly.
    Error,
    /// The probe ran, but nothing could prove either way what stopped or let through
    /// its call (an answer a filter could have imitated, with no second opinion).
    Indeterminate,
    /// The probe never ran: its container did not start or the run was interrupted.
    NotRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Escaped => "escaped",
            Outcome::Blocked => "blocked",
            Outcome::Contained => "contained",
            Outcome::NotApplicable => "not-applicable",
            Outcome::Error => "error",
            Outcome::Indeterminate => "indeterminate",
            Outcome::NotRun => "not-run",
        }
    }
}

/// How the harness knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// Seen from outside the container: the canary got the nonce, a marker appeared on
    /// the host side, a payload printed the run's nonce, the container died of SIGSYS.
    Witnessed,
    /// The probe's own word.
    Reported,
}

/// One probe's verdict in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub runtime: String,
    pub probe: String,
    pub goal: Option<Goal>,
    pub technique: Option<String>,
    /// The mount point for per-mount probes.
    pub target: Option<String>,
    pub outcome: Outcome,
    /// Errno, signal, or breakout's own condition (`timeout`, `start-failure`).
    pub mechanism: Option<Mechanism>,
    pub evidence: Option<Evidence>,
    /// The route (the catalog's name for it) that got through, or that was blocked
    /// when the probe has one; absent where no route decided the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    pub detail: String,
    /// The step handed the container's process to a program of the image (its shell):
    /// what that program printed was never read as a verdict.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub image_code: bool,
    /// What the profile's filter decides for this step, and how the observation
    /// compares (`predict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<crate::predict::Prediction>,
}

impl Verdict {
    pub fn ran_image_code(mut self) -> Self {
        self.image_code = true;
        self
    }

    pub fn new(runtime: &str, step: &str, outcome: Outcome, detail: impl Into<String>) -> Self {
        let (probe, target) = crate::protocol::split_step(step);
        let info = catalog::find(probe);
        Verdict {
            runtime: runtime.to_string(),
            probe: probe.to_string(),
            goal: info.map(|i| i.goal),
            technique: info.map(|i| i.technique.to_string()),
            target: target.map(str::to_string),
            outcome,
            mechanism: None,
            evidence: None,
            route: None,
            detail: detail.into(),
            image_code: false,
            prediction: None,
        }
    }

    pub fn mechanism(mut self, mechanism: Option<impl Into<Mechanism>>) -> Self {
        self.mechanism = mechanism.map(Into::into);
        self
    }

    /// Names the route, if it is one of the probe's: the name comes from the container,
    /// and a name the catalog does not know is dropped rather than shown.
    pub fn route(mut self, route: Option<&str>) -> Self {
        let known = catalog::find(&self.probe)
            .and_then(|info| info.routes().iter().find(|r| Some(r.name) == route));
        self.route = known.map(|r| r.name.to_string());
        self
    }

    /// An escape or a block the harness decided (SIGSYS, a handoff, a witness) names the
    /// probe's route when it has only one: there is no other it could have been.
    pub fn with_only_route(mut self) -> Self {
        if self.route.is_none() && matches!(self.outcome, Outcome::Escaped | Outcome::Blocked) {
            if let Some([only]) = catalog::find(&self.probe).map(|i| i.routes()) {
                self.route = Some(only.name.to_string());
            }
        }
        self
    }

    pub fn evidence(mut self, evidence: Evidence) -> Self {
        self.evidence = Some(evidence);
        self
    }

    /// `probe` or `probe@target`.
    pub fn step(&self) -> String {
        match &self.target {
            Some(t) => format!("{}@{}", self.probe, t),
            None => self.probe.clone(),
        }
    }
}

/// How the container(s) of a run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum StartStatus {
    Started,
    /// The run never happened (interrupted before its turn).
    NotRun {
        reason: String,
    },
    /// The runtime could not start the container; `error` is its own text.
    FailedToStart {
        error: String,
    },
}

/// One (settings, runtime) run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub runtime: RuntimeVersion,
    pub start: StartStatus,
    /// Containers started for this run: 1 plus one per probe that killed its container.
    pub containers: u32,
    pub verdicts: Vec<Verdict>,
    /// For each goal with an escape, the techniques that got through: the one line a
    /// reader needs ("spawn: escaped via vfork").
    pub escapes_by_goal: Vec<GoalEscapes>,
    /// How this runtime treats a seccomp profile (from the quirks table).
    pub profile_handling: ProfileHandling,
    /// When the container did not start under a profile: which denials its start needs.
    pub triage: Option<Triage>,
    /// How the workload did in the same sandbox, when one was run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<crate::workload::WorkloadReport>,
}

/// What start-failure triage found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Triage {
    /// Syscalls the runtime's start needs that the profile denies.
    pub needed: Vec<String>,
    /// Empty containers started to find them.
    pub attempts: u32,
    pub conclusion: String,
}

/// A probe whose verdicts differ between runtimes, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    pub step: String,
    /// runtime name -> outcome (with mechanism), in run order.
    pub verdicts: Vec<(String, String)>,
    pub explanation: String,
}

/// The techniques through which one goal was reached in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoalEscapes {
    pub goal: Goal,
    /// `technique`, or `technique@target` for per-mount probes.
    pub via: Vec<String>,
}

impl GoalEscapes {
    /// Groups the escaped verdicts by goal, in goal order, techniques in verdict order.
    pub fn of(verdicts: &[Verdict]) -> Vec<GoalEscapes> {
        let mut out: Vec<GoalEscapes> = Vec::new();
        for v in verdicts.iter().filter(|v| v.outcome == Outcome::Escaped) {
            let Some(goal) = v.goal else { continue };
            let technique = v.technique.clone().unwrap_or_else(|| v.probe.clone());
            let via = match &v.target {
                Some(t) => format!("{technique}@{t}"),
                None => technique,
            };
            match out.iter_mut().find(|g| g.goal == goal) {
                Some(g) => g.via.push(via),
                None => out.push(GoalEscapes {
                    goal,
                    via: vec![via],
                }),
            }
        }
        out.sort_by_key(|g| g.goal);
        out
    }
}

/// The profile and settings a report is about.
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    /// The profile file, or a sentence saying there was no filter.
    pub seccomp: String,
    /// The network the verdicts were measured on, in words (`settings.network` names it).
    pub network: String,
    pub settings: serde_json::Value,
    /// What a lenient reading of the profile let pass, as Docker would.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile_warnings: Vec<String>,
}

/// A whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub breakout_version: &'static str,
    pub environment: environment::Environment,
    pub subject: Subject,
    pub runs: Vec<RunReport>,
    pub summary: Summary,
    /// Steps whose verdicts differ between runtimes (empty with one runtime).
    pub divergences: Vec<Divergence>,
    /// Set when the run was cut short (Ctrl-C); what did not run is `not-run`.
    pub interrupted: bool,
}

/// Counts by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub escaped: usize,
    pub blocked: usize,
    /// Reached inside a sandbox kernel only; counted apart from escapes.
    pub contained: usize,
    pub not_applicable: usize,
    pub error: usize,
    /// Nothing could prove either way.
    pub indeterminate: usize,
    pub not_run: usize,
    pub start_failures: usize,
}

impl Summary {
    pub fn of(runs: &[RunReport]) -> Summary {
        let mut s = Summary::default();
        for run in runs {
            if matches!(run.start, StartStatus::FailedToStart { .. }) {
                s.start_failures += 1;
            }
            for v in &run.verdicts {
                match v.outcome {
                    Outcome::Escaped => s.escaped += 1,
                    Outcome::Blocked => s.blocked += 1,
                    Outcome::Contained => s.contained += 1,
                    Outcome::NotApplicable => s.not_applicable += 1,
                    Outcome::Error => s.error += 1,
                    Outcome::Indeterminate => s.indeterminate += 1,
                    Outcome::NotRun => s.not_run += 1,
                }
            }
        }
        s
    }
}

impl Verdict {
    /// Makes every string the container or the runtime could have chosen safe to show.
    pub fn sanitize(&mut self) {
        use crate::sanitize::untrusted;
        self.runtime = untrusted(&self.runtime);
        self.probe = untrusted(&self.probe);
        self.technique = self.technique.as_deref().map(untrusted);
        self.target = self.target.as_deref().map(untrusted);
        if let Some(m) = &mut self.mechanism {
            m.sanitize();
        }
        self.detail = untrusted(&self.detail);
    }
}

impl RunReport {
    /// Sanitizes the run's verdicts, its start error and triage (runtime text with
    /// the container's stderr in it) and the runtime's own words (`--version`).
    pub fn sanitize(&mut self) {
        use crate::sanitize::{untrusted, untrusted_lines};
        let r = &mut self.runtime;
        r.name = untrusted(&r.name);
        r.version = untrusted(&r.version);
        r.libseccomp = r.libseccomp.as_deref().map(untrusted);
        r.flags = r.flags.iter().map(|f| untrusted(f)).collect();
        match &mut self.start {
            StartStatus::Started => {}
            StartStatus::NotRun { reason } => *reason = untrusted_lines(reason),
            StartStatus::FailedToStart { error } => *error = untrusted_lines(error),
        }
        for v in &mut self.verdicts {
            v.sanitize();
        }
        for g in &mut self.escapes_by_goal {
            g.via = g.via.iter().map(|v| untrusted(v)).collect();
        }
        if let Some(t) = &mut self.triage {
            t.needed = t.needed.iter().map(|n| untrusted(n)).collect();
            t.conclusion = untrusted_lines(&t.conclusion);
        }
    }
}

impl Report {
    /// Every reporter of `run` and `compare` reads a report made here, so the runs
    /// are sanitized here, whatever the run's edge did.
    pub fn new(
        environment: environment::Environment,
        mut subject: Subject,
        mut runs: Vec<RunReport>,
        interrupted: bool,
    ) -> Report {
        for run in &mut runs {
            run.sanitize();
        }
        subject.seccomp = crate::sanitize::untrusted(&subject.seccomp);
        Report {
            schema: REPORT_SCHEMA,
            breakout_version: env!("CARGO_PKG_VERSION"),
            environment,
            subject,
            summary: Summary::of(&runs),
            divergences: compare::divergences(&runs),
            runs,
            interrupted,
        }
    }

    /// See [`exit::decide`]: escapes (and a workload that fails) dominate start
    /// failures.
    pub fn exit_code(&self) -> ExitCode {
        exit::decide(&exit::Findings {
            interrupted: self.interrupted,
            // A workload that does not work fails the run as an escape does: the
            // profile is not fit for rollout either way.
            escaped_or_mismatch: self.summary.escaped > 0
                || self.runs.iter().any(|r| {
                    r.workload
                        .as_ref()
                        .is_some_and(|w| w.status == crate::workload::Status::Fails)
                }),
            start_failure: self.summary.start_failures > 0,
            ..exit::Findings::default()
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises") + "\n"
    }
}
