//! The results of `breakout test`: one trial per (scenario, runtime), each with one
//! check per probe step (expected against got). Every CI reporter (JUnit, Markdown,
//! SARIF, the JSON suite report, baseline comparison) reads only these types.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::environment::Environment;
use crate::catalog::Goal;

/// Identifies the JSON suite report format (`breakout test --json FILE`).
pub const SUITE_SCHEMA: &str = "breakout-suite/1";

/// One expected-against-got comparison for one probe step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `probe` or `probe@target`.
    pub step: String,
    pub goal: Option<Goal>,
    /// What the scenario expects, as written there (`blocked`, `blocked:EPERM`, `any`).
    pub expected: String,
    /// The verdict's outcome (`escaped`, `blocked`, ...).
    pub got: String,
    /// The verdict's mechanism, if any.
    pub mechanism: Option<super::Mechanism>,
    /// The verdict's detail line.
    pub detail: String,
    pub ok: bool,
    /// What the profile's filter decides for the step, and how the verdict compares.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<crate::predict::Prediction>,
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum TrialStatus {
    Passed,
    /// At least one check failed, or the start expectation was not met.
    Failed {
        message: String,
    },
    /// Not run here (runtime not installed, not root, ...), with the reason.
    Ignored {
        reason: String,
    },
}

/// One (scenario, runtime) trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialOutcome {
    /// `scenario::runtime`, the libtest trial name.
    pub name: String,
    pub scenario: String,
    pub scenario_file: PathBuf,
    pub runtime: String,
    /// `starts` or `fails-to-start`, as expected by the scenario.
    pub expected_start: String,
    /// `started` or `failed-to-start`, as happened (absent when ignored).
    pub start: Option<String>,
    /// The runtime's error text when the container did not start.
    pub start_error: Option<String>,
    /// The network the trial's verdicts were measured on (`bridge`, `none`, `host`).
    /// Absent from reports of releases that did not record it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    pub status: TrialStatus,
    pub checks: Vec<Check>,
    /// Wall time of the trial, seconds.
    pub duration: f64,
    /// When the trial started (or was found ignored), UTC. Absent from reports of
    /// releases that did not record it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<chrono::DateTime<chrono::Utc>>,
}

impl TrialOutcome {
    /// Steps whose verdict was `escaped`.
    pub fn escapes(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.got == "escaped")
    }
}

/// Everything one `breakout test` invocation found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteReport {
    pub schema: String,
    pub breakout_version: String,
    pub environment: Option<Environment>,
    pub trials: Vec<TrialOutcome>,
}

impl Check {
    fn sanitize(&mut self) {
        use crate::sanitize::untrusted;
        self.step = untrusted(&self.step);
        self.expected = untrusted(&self.expected);
        self.got = untrusted(&self.got);
        if let Some(m) = &mut self.mechanism {
            m.sanitize();
        }
        self.detail = untrusted(&self.detail);
    }
}

impl TrialOutcome {
    /// Makes every string of the trial safe to show (see [`crate::sanitize`]): the
    /// checks carry what the container said, the start error what the runtime said.
    pub fn sanitize(&mut self) {
        use crate::sanitize::{untrusted, untrusted_lines};
        self.name = untrusted(&self.name);
        self.scenario = untrusted(&self.scenario);
        self.runtime = untrusted(&self.runtime);
        self.expected_start = untrusted(&self.expected_start);
        self.start = self.start.as_deref().map(untrusted);
        self.start_error = self.start_error.as_deref().map(untrusted_lines);
        match &mut self.status {
            TrialStatus::Passed => {}
            TrialStatus::Failed { message } => *message = untrusted_lines(message),
            TrialStatus::Ignored { reason } => *reason = untrusted_lines(reason),
        }
        for check in &mut self.checks {
            check.sanitize();
        }
    }
}

impl SuiteReport {
    /// Every reporter reads a suite made here, so every one of them gets sanitized
    /// strings even where the run's edge missed one.
    pub fn new(environment: Option<Environment>, mut trials: Vec<TrialOutcome>) -> SuiteReport {
        for trial in &mut trials {
            trial.sanitize();
        }
        SuiteReport {
            schema: SUITE_SCHEMA.to_string(),
            breakout_version: env!("CARGO_PKG_VERSION").to_string(),
            environment,
            trials,
        }
    }

    /// Sanitizes a suite that did not come through [`SuiteReport::new`] (a baseline
    /// read from a file).
    pub fn sanitize(&mut self) {
        for trial in &mut self.trials {
            trial.sanitize();
        }
    }

    pub fn failed(&self) -> usize {
        self.trials
            .iter()
            .filter(|t| matches!(t.status, TrialStatus::Failed { .. }))
            .count()
    }

    /// The counts a summary line gives, one reading for every format.
    pub fn tally(&self) -> Tally {
        let failed = self.failed();
        let ignored = self
            .trials
            .iter()
            .filter(|t| matches!(t.status, TrialStatus::Ignored { .. }))
            .count();
        Tally {
            failed,
            ignored,
            passed: self.trials.len() - failed - ignored,
            escapes: self.trials.iter().map(|t| t.escapes().count()).sum(),
            unexpected: self
                .trials
                .iter()
                .map(|t| t.escapes().filter(|c| !c.ok).count())
                .sum(),
        }
    }
}

/// A suite's trials and escapes, counted ([`SuiteReport::tally`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub failed: usize,
    pub passed: usize,
    pub ignored: usize,
    /// Steps that escaped, and of those the ones no scenario expected.
    pub escapes: usize,
    pub unexpected: usize,
}
