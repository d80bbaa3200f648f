//! `breakout harden`: the seed discussion's advice as a command. Start from a profile
//! (Docker's default, or the user's), and for each escape route the filter still lets
//! through, try the profile with that route's calls denied: keep the denial when the
//! runtime still starts (predicted, [`crate::predict::start`]) and the workload still
//! works (run for real, [`crate::run::workload_only`]); otherwise keep the call and say
//! who needs it. The result is a profile file in Docker's format and the routes it
//! still leaves open, each with its reason.
//!
//! Routes come from the static prediction in catalog order (exec first, as the advice
//! has it: "deny execve and execveat first, then test whether fork and clone are
//! needed"), one denial at a time; a call tried once is not tried again. A route
//! through the i386 or x32 entry is closed by listing only the native architecture.
//! Denials are whole calls (`errnoRet` EPERM): where the workload needs a call only
//! with some arguments, the call stays open and the report says so.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;
use serde_json::{json, Value};

use crate::catalog::CATALOG;
use crate::predict::Predictor;
use crate::run::{Plan, RunError};
use crate::runtime::Runtime;
use crate::workload::{Status, Workload};
use breakout_wire::routes::Entry;

/// One denial tried.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// The call denied (`execve`), or `32-bit entries` for the architectures.
    pub closes: String,
    /// The probe whose open route made it a candidate, and that route.
    pub for_probe: String,
    pub route: String,
    /// Kept in the hardened profile.
    pub kept: bool,
    /// Why it was not kept: the runtime's start, or the workload (its words).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needed_by: Option<String>,
}

/// What hardening did.
#[derive(Debug, Clone, Serialize)]
pub struct Hardened {
    pub from: PathBuf,
    pub written: PathBuf,
    pub runtime: String,
    pub attempts: Vec<Attempt>,
    /// Probes whose route is still open under the hardened profile, with why.
    pub still_open: Vec<StillOpen>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StillOpen {
    pub probe: String,
    pub route: String,
    pub why: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HardenError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Environment(String),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What `harden` needs to build a plan for a candidate profile.
pub struct Inputs<'a> {
    /// Builds the plan for a profile file (the run's settings, its workload).
    pub plan_for: &'a dyn Fn(&Path) -> Result<Plan, HardenError>,
    pub runtime: &'a Runtime,
    pub from: &'a Path,
    pub write_to: &'a Path,
    pub interrupted: &'a AtomicBool,
    /// Called with each attempt as it is decided (progress on stderr).
    pub told: &'a dyn Fn(&Attempt),
}

/// Hardens the profile at `inputs.from` for the plan's workload under one runtime.
pub fn harden(inputs: &Inputs) -> Result<Hardened, HardenError> {
    let text = std::fs::read_to_string(inputs.from)
        .map_err(|e| HardenError::Usage(format!("cannot read {}: {e}", inputs.from.display())))?;
    let mut profile: Value = serde_json::from_str(&text).map_err(|e| {
        HardenError::Usage(format!(
            "{}: harden writes the profile back as JSON, and this is not plain JSON: {e}",
            inputs.from.display()
        ))
    })?;
    let scratch = crate::bundle::PrivateDir::create("harden")
        .map_err(|e| HardenError::Environment(e.to_string()))?;
    let candidate = scratch.path().join("candidate.json");
    // The workload must work where we start, or nothing can be learnt.
    let first = (inputs.plan_for)(inputs.from)?;
    let workload = first.workload.clone().ok_or_else(|| {
        HardenError::Usage(
            "harden needs the workload: --workload (the image's command) or --workload -- CMD"
                .into(),
        )
    })?;
    let baseline = crate::run::workload_only(&first, inputs.runtime, inputs.interrupted)?;
    if baseline.status != Status::Works {
        return Err(HardenError::Usage(format!(
            "the workload does not work under {} to begin with ({}): harden starts from a profile it works under",
            inputs.from.display(),
            baseline.summary()
        )));
    }
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut tried: std::collections::BTreeSet<String> = Default::default();
    loop {
        let plan = plan_of(inputs, &profile, &candidate, &workload)?;
        let Some((probe, route, closes)) = next_candidate(&plan, inputs.runtime, &tried) else {
            break;
        };
        tried.insert(closes.clone());
        let denied = deny(&profile, &closes);
        let needed_by = match start_refused(&denied, &candidate, inputs)? {
            Some(why) => Some(why),
            None => {
                let plan = plan_of(inputs, &denied, &candidate, &workload)?;
                let report = crate::run::workload_only(&plan, inputs.runtime, inputs.interrupted)?;
                (report.status != Status::Works).then(|| {
                    let said = report
                        .stderr_tail
                        .lines()
                        .last()
                        .map(|l| format!(" ({l})"))
                        .unwrap_or_default();
                    format!("the workload: {}{said}", report.summary())
                })
            }
        };
        let attempt = Attempt {
            closes,
            for_probe: probe,
            route,
            kept: needed_by.is_none(),
            needed_by,
        };
        (inputs.told)(&attempt);
        if attempt.kept {
            profile = denied;
        }
        attempts.push(attempt);
    }
    let text = serde_json::to_string_pretty(&profile).expect("a JSON value serialises") + "\n";
    std::fs::write(inputs.write_to, text).map_err(|e| {
        HardenError::Environment(format!("cannot write {}: {e}", inputs.write_to.display()))
    })?;
    let plan = plan_of(inputs, &profile, &candidate, &workload)?;
    let still_open = still_open(&plan, inputs.runtime, &attempts);
    Ok(Hardened {
        from: inputs.from.to_path_buf(),
        written: inputs.write_to.to_path_buf(),
        runtime: inputs.runtime.name.clone(),
        attempts,
        still_open,
    })
}

/// The plan for `profile` (written to `file` first), with the workload.
fn plan_of(
    inputs: &Inputs,
    profile: &Value,
    file: &Path,
    workload: &Workload,
) -> Result<Plan, HardenError> {
    std::fs::write(file, profile.to_string())
        .map_err(|e| HardenError::Environment(format!("cannot write {}: {e}", file.display())))?;
    let mut plan = (inputs.plan_for)(file)?;
    plan.workload = Some(workload.clone());
    Ok(plan)
}

fn predictor(plan: &Plan, runtime: &Runtime) -> Predictor {
    Predictor::new(
        &runtime.kind,
        plan.seccomp.as_ref(),
        &plan.seccomp_sources,
        plan.profile_path.as_deref(),
    )
}

/// The first probe (catalog order) with an open route whose closing was not tried:
/// the probe, the route, and what closes it.
fn next_candidate(
    plan: &Plan,
    runtime: &Runtime,
    tried: &std::collections::BTreeSet<String>,
) -> Option<(String, String, String)> {
    let predictor = predictor(plan, runtime);
    for probe in CATALOG {
        let Some(prediction) = predictor.predict(probe.id) else {
            continue;
        };
        if prediction.filter != "open" {
            continue;
        }
        let Some(route_name) = prediction.route.clone() else {
            continue;
        };
        let route = probe.routes().iter().find(|r| r.name == route_name)?;
        let closes: Vec<String> = match route.entry {
            Entry::X86_64 => route.calls.iter().map(|c| c.syscall.to_string()).collect(),
            Entry::I386 | Entry::X32 => vec![ENTRIES_32.to_string()],
        };
        if let Some(closes) = closes.into_iter().find(|c| !tried.contains(c)) {
            return Some((probe.id.to_string(), route_name, closes));
        }
    }
    None
}

/// What closes every route through the i386 and x32 entries.
const ENTRIES_32: &str = "32-bit entries";

/// `profile` with `call` denied: taken out of every rule that lets it through, and
/// denied by a rule of its own where the default action would let it through. For
/// [`ENTRIES_32`], only the native architecture listed.
fn deny(profile: &Value, call: &str) -> Value {
    let mut out = profile.clone();
    if call == ENTRIES_32 {
        if let Some(map) = out.get_mut("archMap").and_then(Value::as_array_mut) {
            map.retain(|a| a["architecture"] == "SCMP_ARCH_X86_64");
            for arch in map.iter_mut() {
                arch["subArchitectures"] = json!([]);
            }
        }
        if out.get("architectures").is_some() {
            out["architectures"] = json!(["SCMP_ARCH_X86_64"]);
        }
        return out;
    }
    let lets_through = |action: &Value| {
        matches!(
            action.as_str(),
            Some("SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" | "SCMP_ACT_NOTIFY" | "SCMP_ACT_TRACE")
        )
    };
    if let Some(rules) = out.get_mut("syscalls").and_then(Value::as_array_mut) {
        for rule in rules.iter_mut() {
            if !lets_through(&rule["action"]) {
                continue;
            }
            if let Some(names) = rule.get_mut("names").and_then(Value::as_array_mut) {
                names.retain(|n| n != call);
            }
            if rule.get("name").and_then(Value::as_str) == Some(call) {
                rule["name"] = Value::Null;
            }
        }
        rules.retain(|r| {
            r.get("names")
                .and_then(Value::as_array)
                .is_none_or(|n| !n.is_empty())
                && !r.get("name").is_some_and(Value::is_null)
        });
        if lets_through(&profile["defaultAction"]) {
            rules.push(json!({"names": [call], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}));
        }
    }
    out
}

/// Why the runtime would not start under `profile`, predicted (no container is
/// started for a denial the start cannot survive).
fn start_refused(
    profile: &Value,
    file: &Path,
    inputs: &Inputs,
) -> Result<Option<String>, HardenError> {
    std::fs::write(file, profile.to_string())
        .map_err(|e| HardenError::Environment(format!("cannot write {}: {e}", file.display())))?;
    let plan = (inputs.plan_for)(file)?;
    let Some(seccomp) = plan.seccomp.as_ref() else {
        return Ok(None);
    };
    let analysis = crate::profile::start_analysis(seccomp);
    let needs = crate::predict::start::predicted_needs(
        &inputs.runtime.kind,
        plan.settings.no_new_privileges,
        &analysis,
    );
    Ok((!needs.is_empty()).then(|| {
        format!(
            "{}'s start: it needs {}",
            inputs.runtime.name,
            needs.join(", ")
        )
    }))
}

/// Probes still open under the hardened profile, each with the reason its call stayed.
fn still_open(plan: &Plan, runtime: &Runtime, attempts: &[Attempt]) -> Vec<StillOpen> {
    let predictor = predictor(plan, runtime);
    CATALOG
        .iter()
        .filter_map(|probe| {
            let prediction = predictor.predict(probe.id)?;
            if prediction.filter != "open" {
                return None;
            }
            let route = prediction.route.clone().unwrap_or_default();
            let why = attempts
                .iter()
                .find(|a| a.route == route && !a.kept)
                .or_else(|| {
                    let calls = probe.routes().iter().find(|r| r.name == route)?.calls;
                    attempts
                        .iter()
                        .find(|a| !a.kept && calls.iter().any(|c| c.syscall == a.closes))
                })
                .and_then(|a| {
                    a.needed_by
                        .clone()
                        .map(|n| format!("{} stays: {n}", a.closes))
                })
                .unwrap_or_else(|| prediction.rule.clone());
            Some(StillOpen {
                probe: probe.id.to_string(),
                route,
                why,
            })
        })
        .collect()
}

/// The text report: what was denied, what stays and why, what is still open.
pub fn summary(h: &Hardened) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "harden: from {} under {}; wrote {}\n",
        h.from.display(),
        h.runtime,
        h.written.display()
    );
    let denied: Vec<&str> = h
        .attempts
        .iter()
        .filter(|a| a.kept)
        .map(|a| a.closes.as_str())
        .collect();
    let _ = writeln!(
        out,
        "  denied: {}",
        if denied.is_empty() {
            "nothing".to_string()
        } else {
            denied.join(", ")
        }
    );
    for a in h.attempts.iter().filter(|a| !a.kept) {
        let _ = writeln!(
            out,
            "  stays allowed: {} (for {}), needed by {}",
            a.closes,
            a.for_probe,
            crate::sanitize::untrusted(a.needed_by.as_deref().unwrap_or(""))
        );
    }
    for open in &h.still_open {
        let _ = writeln!(
            out,
            "  still open: {} by {}: {}",
            open.probe,
            open.route,
            crate::sanitize::untrusted(&open.why)
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_takes_the_call_out_of_allow_rules_and_adds_its_own() {
        let profile = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["execve", "read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["execve"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO"}
            ]
        });
        let out = deny(&profile, "execve");
        let rules = out["syscalls"].as_array().unwrap();
        assert_eq!(rules[0]["names"], json!(["read"]));
        assert_eq!(rules.len(), 3, "{out:#}");
        assert_eq!(rules[2]["names"], json!(["execve"]));
        assert_eq!(rules[2]["action"], "SCMP_ACT_ERRNO");
        // Under a denying default, taking it out of the allow rules is enough.
        let strict = json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["fork", "read"], "action": "SCMP_ACT_ALLOW"}]});
        let out = deny(&strict, "fork");
        assert_eq!(
            out["syscalls"],
            json!([{"names": ["read"], "action": "SCMP_ACT_ALLOW"}])
        );
    }

    #[test]
    fn the_32_bit_entries_close_by_listing_the_native_architecture_only() {
        let profile = json!({"defaultAction": "SCMP_ACT_ERRNO",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}]});
        let out = deny(&profile, ENTRIES_32);
        assert_eq!(
            out["archMap"],
            json!([{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}])
        );
    }
}
