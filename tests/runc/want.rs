//! What a verdict must be, as the rows of the case tables write it: an outcome, and
//! where it matters the mechanism and the evidence.

use std::fmt;

use breakout::report::Outcome;
use serde_json::Value;

/// What a verdict must be. A mechanism left open matches any; evidence left open
/// matches any.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    pub outcome: Outcome,
    pub mechanism: Mechanism,
    pub evidence: Option<&'static str>,
    /// The route the verdict names (the call that got through), where given.
    pub route: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Any,
    /// The verdict carries no mechanism.
    None,
    Is(&'static str),
}

const fn want(outcome: Outcome, mechanism: Mechanism) -> Want {
    Want {
        outcome,
        mechanism,
        evidence: None,
        route: None,
    }
}

pub const fn escaped() -> Want {
    want(Outcome::Escaped, Mechanism::Any)
}

pub const fn blocked(mechanism: &'static str) -> Want {
    want(Outcome::Blocked, Mechanism::Is(mechanism))
}

/// Blocked, by whatever mechanism.
pub const fn blocked_any() -> Want {
    want(Outcome::Blocked, Mechanism::Any)
}

pub const fn not_applicable(mechanism: &'static str) -> Want {
    want(Outcome::NotApplicable, Mechanism::Is(mechanism))
}

/// Not applicable, for whatever reason.
pub const fn not_applicable_any() -> Want {
    want(Outcome::NotApplicable, Mechanism::Any)
}

/// Nothing could prove either way (an answer a filter could imitate).
pub const fn indeterminate(mechanism: &'static str) -> Want {
    want(Outcome::Indeterminate, Mechanism::Is(mechanism))
}

pub const fn error(mechanism: &'static str) -> Want {
    want(Outcome::Error, Mechanism::Is(mechanism))
}

/// An error, whatever its mechanism.
pub const fn error_any() -> Want {
    want(Outcome::Error, Mechanism::Any)
}

pub const fn not_run(mechanism: &'static str) -> Want {
    want(Outcome::NotRun, Mechanism::Is(mechanism))
}

impl Want {
    pub const fn witnessed(mut self) -> Want {
        self.evidence = Some("witnessed");
        self
    }

    pub const fn reported(mut self) -> Want {
        self.evidence = Some("reported");
        self
    }

    /// The route that got through, as the verdict names it.
    pub const fn via(mut self, route: &'static str) -> Want {
        self.route = Some(route);
        self
    }

    /// The verdict must carry this mechanism (`reachable` on an escape).
    pub const fn mechanism(mut self, mechanism: &'static str) -> Want {
        self.mechanism = Mechanism::Is(mechanism);
        self
    }

    /// The verdict must carry no mechanism at all.
    pub const fn no_mechanism(mut self) -> Want {
        self.mechanism = Mechanism::None;
        self
    }

    /// Whether the verdict `v` of `step` is this, and if not, what it is.
    pub fn check(&self, step: &str, v: &Value) -> Result<(), String> {
        let got = (
            v["outcome"].as_str().unwrap_or("?"),
            v["mechanism"].as_str(),
            v["evidence"].as_str(),
            v["route"].as_str(),
        );
        let mechanism_ok = match self.mechanism {
            Mechanism::Any => true,
            Mechanism::None => got.1.is_none(),
            Mechanism::Is(m) => got.1 == Some(m),
        };
        let evidence_ok = self.evidence.is_none() || got.2 == self.evidence;
        let route_ok = self.route.is_none() || got.3 == self.route;
        if got.0 == self.outcome.as_str() && mechanism_ok && evidence_ok && route_ok {
            return Ok(());
        }
        Err(format!(
            "{step}: expected {self}, got {}{}{}{} ({})",
            got.0,
            got.1.map(|m| format!(":{m}")).unwrap_or_default(),
            got.2.map(|e| format!(" ({e})")).unwrap_or_default(),
            got.3.map(|r| format!(" via {r}")).unwrap_or_default(),
            v["detail"]
        ))
    }
}

/// As the rows read: `blocked:EPERM (witnessed)`, `escaped, no mechanism`,
/// `escaped (witnessed) via sendmsg(MSG_FASTOPEN)`.
impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.outcome.as_str())?;
        match self.mechanism {
            Mechanism::Any => {}
            Mechanism::None => f.write_str(", no mechanism")?,
            Mechanism::Is(m) => write!(f, ":{m}")?,
        }
        if let Some(evidence) = self.evidence {
            write!(f, " ({evidence})")?;
        }
        if let Some(route) = self.route {
            write!(f, " via {route}")?;
        }
        Ok(())
    }
}

/// A verdict's step: `probe` or `probe@target`.
pub fn step_of(v: &Value) -> String {
    let probe = v["probe"].as_str().unwrap_or_default();
    match v["target"].as_str() {
        Some(target) => format!("{probe}@{target}"),
        None => probe.to_string(),
    }
}

/// The verdict of one step in the first run of a report.
pub fn verdict<'a>(report: &'a Value, step: &str) -> Result<&'a Value, String> {
    report["runs"][0]["verdicts"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| step_of(v) == step))
        .ok_or_else(|| format!("no verdict for {step}"))
}
