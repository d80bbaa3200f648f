//! What a scenario expects: the start of each runtime's container and each probe
//! step's verdict, with the precedence rules that pick one expectation per step.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::catalog::{self, Goal};
use crate::report::{Kind, Mechanism, Outcome};

/// Every outcome, in the order messages list them.
const OUTCOMES: &[Outcome] = &[
    Outcome::Escaped,
    Outcome::Blocked,
    Outcome::Contained,
    Outcome::NotApplicable,
    Outcome::Error,
    Outcome::Indeterminate,
    Outcome::NotRun,
];

/// Whether a runtime is expected to start the scenario's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartExpectation {
    /// The container starts and the probes run (the default).
    #[default]
    Starts,
    /// The runtime refuses to start it (e.g. runc under a profile that denies
    /// `execve`); its verdicts are then all `not-run`.
    FailsToStart,
}

impl StartExpectation {
    pub fn as_str(self) -> &'static str {
        match self {
            StartExpectation::Starts => "starts",
            StartExpectation::FailsToStart => "fails-to-start",
        }
    }
}

impl fmt::Display for StartExpectation {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StartExpectation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StartExpectation;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"starts\" or \"fails-to-start\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StartExpectation, E> {
                match v {
                    "starts" => Ok(StartExpectation::Starts),
                    "fails-to-start" => Ok(StartExpectation::FailsToStart),
                    _ => Err(E::custom(format!(
                        "unknown start expectation {v:?}, expected \"starts\" or \"fails-to-start\""
                    ))),
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// One expected verdict: an outcome, optionally with the mechanism it must come
/// with, or `any`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `None` means `any`: every verdict matches.
    pub outcome: Option<Outcome>,
    /// When given, the verdict's mechanism must be exactly this (`EPERM`, `SIGSYS`).
    pub mechanism: Option<Mechanism>,
    /// As written in the scenario (`blocked:EPERM`).
    pub text: String,
}

impl Expected {
    /// `blocked`, the default expectation: a sandbox should hold.
    pub fn blocked() -> Expected {
        Expected {
            outcome: Some(Outcome::Blocked),
            mechanism: None,
            text: "blocked".to_string(),
        }
    }

    /// Reads `any`, `OUTCOME` or `OUTCOME:MECHANISM`.
    pub fn parse(text: &str) -> Result<Expected, String> {
        let (outcome_text, mechanism) = match text.split_once(':') {
            Some((o, m)) => (o, Some(m)),
            None => (text, None),
        };
        let outcome = match outcome_text {
            "any" if mechanism.is_some() => {
                return Err(format!(
                    "{text:?}: `any` matches every verdict and takes no mechanism"
                ))
            }
            "any" => None,
            _ => Some(
                OUTCOMES
                    .iter()
                    .copied()
                    .find(|o| o.as_str() == outcome_text)
                    .ok_or_else(|| {
                        format!(
                            "unknown expected verdict {text:?}, expected any or an outcome ({}), \
                             optionally with a mechanism as OUTCOME:MECHANISM (e.g. blocked:EPERM)",
                            outcome_names()
                        )
                    })?,
            ),
        };
        let mechanism = match mechanism {
            None => None,
            Some(m) => {
                let printable = m.bytes().all(|b| (0x20..0x7f).contains(&b));
                if m.is_empty() || m.trim() != m || !printable || m.contains(':') {
                    return Err(format!(
                        "{text:?}: the mechanism after ':' must be a name such as EPERM, SIGSYS, \
                         timeout or start-failure"
                    ));
                }
                // Only names breakout knows: an unknown one could never match.
                Some(Mechanism::parse(m).map_err(|e| {
                    format!(
                        "{text:?}: {e}; expected an errno (EPERM), a signal (SIGSYS) or one of {}",
                        Kind::ALL.map(Kind::as_str).join(", ")
                    )
                })?)
            }
        };
        Ok(Expected {
            outcome,
            mechanism,
            text: text.to_string(),
        })
    }

    /// Whether a verdict with this outcome and mechanism meets the expectation.
    pub fn matches(&self, outcome: Outcome, mechanism: Option<&Mechanism>) -> bool {
        match self.outcome {
            None => true,
            Some(want) => {
                want == outcome && self.mechanism.as_ref().is_none_or(|m| mechanism == Some(m))
            }
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn outcome_names() -> String {
    OUTCOMES
        .iter()
        .map(|o| o.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'de> Deserialize<'de> for Expected {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Expected;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an expected verdict such as \"blocked\", \"blocked:EPERM\" or \"any\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Expected, E> {
                Expected::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Expectations for one runtime, overriding the scenario-wide ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeExpectations {
    pub start: Option<StartExpectation>,
    pub default: Option<Expected>,
    pub goals: BTreeMap<Goal, Expected>,
    /// Keyed by probe id or step (`id@/target`).
    pub probes: BTreeMap<String, Expected>,
}

/// Everything a scenario expects (its `expect` object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    pub start: StartExpectation,
    pub default: Expected,
    pub goals: BTreeMap<Goal, Expected>,
    /// Keyed by probe id or step (`id@/target`).
    pub probes: BTreeMap<String, Expected>,
    /// Keyed by runtime name (the NAME of a `NAME=PATH` spec).
    pub runtimes: BTreeMap<String, RuntimeExpectations>,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations {
            start: StartExpectation::Starts,
            default: Expected::blocked(),
            goals: BTreeMap::new(),
            probes: BTreeMap::new(),
            runtimes: BTreeMap::new(),
        }
    }
}

impl Expectations {
    /// Whether `runtime`'s container is expected to start. `runtime` is a name or a
    /// spec from the scenario's `runtimes` (`NAME=PATH` counts as NAME).
    pub fn start_for(&self, runtime: &str) -> StartExpectation {
        self.runtimes
            .get(super::runtime_name(runtime))
            .and_then(|r| r.start)
            .unwrap_or(self.start)
    }

    /// The expectation for one step (`id` or `id@/target`) under `runtime`, most
    /// specific first: the runtime's step, id, goal and default, then the
    /// scenario-wide step, id, goal and default. `runtime` as for
    /// [`start_for`](Self::start_for).
    pub fn expected_for(&self, runtime: &str, step: &str) -> Expected {
        let runtime = super::runtime_name(runtime);
        let (id, target) = crate::protocol::split_step(step);
        let goal = catalog::find(id).map(|p| p.goal);
        let pick = |probes: &BTreeMap<String, Expected>, goals: &BTreeMap<Goal, Expected>| {
            target
                .and_then(|_| probes.get(step))
                .or_else(|| probes.get(id))
                .or_else(|| goal.and_then(|g| goals.get(&g)))
                .cloned()
        };
        if let Some(r) = self.runtimes.get(runtime) {
            if let Some(e) = pick(&r.probes, &r.goals).or_else(|| r.default.clone()) {
                return e;
            }
        }
        pick(&self.probes, &self.goals).unwrap_or_else(|| self.default.clone())
    }
}

/// Goal names, for messages.
pub(crate) fn goal_names() -> Vec<&'static str> {
    let mut goals: Vec<Goal> = catalog::CATALOG.iter().map(|p| p.goal).collect();
    goals.sort();
    goals.dedup();
    goals.into_iter().map(Goal::as_str).collect()
}

/// A goal by name.
pub(crate) fn goal_named(name: &str) -> Option<Goal> {
    catalog::CATALOG
        .iter()
        .map(|p| p.goal)
        .find(|g| g.as_str() == name)
}
