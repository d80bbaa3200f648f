//! Start-failure triage: when a container does not start under a profile, say why.
//! In order, and stopping at the first that answers:
//!
//! 1. the runtime's own words, or what the quirks table says it refuses in this
//!    profile ([`super::rejected`]): then the filter was never loaded, and no syscall
//!    is to blame;
//! 2. the prediction: the calls the start needs that the profile denies
//!    ([`crate::predict::start`]), confirmed by one empty container started with them
//!    allowed;
//! 3. a bounded bisection over the profile's explicit denials (and, under a denying
//!    default, every call a start is known to need), starting empty containers with
//!    some of them allowed.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall, LinuxSyscallBuilder};

use super::{execute, Plan, RunError};
use crate::report::{StartStatus, Triage};
use crate::runtime::Runtime;

/// Containers triage may start before it gives up.
const MAX_ATTEMPTS: u32 = 24;

fn is_denial(action: LinuxSeccompAction) -> bool {
    !matches!(
        action,
        LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
    )
}

/// The syscall names the profile denies by an explicit rule, in a stable order.
fn denied_names(seccomp: &LinuxSeccomp) -> Vec<String> {
    let mut names = BTreeSet::new();
    for rule in seccomp.syscalls().iter().flatten() {
        if is_denial(rule.action()) {
            names.extend(rule.names().iter().cloned());
        }
    }
    names.into_iter().collect()
}

/// The profile with every denial of the names in `lift` taken out; under a denying
/// default, they are also allowed by a rule of their own.
fn without(seccomp: &LinuxSeccomp, lift: &BTreeSet<String>) -> LinuxSeccomp {
    let mut out = seccomp.clone();
    let mut rules: Vec<LinuxSyscall> = seccomp
        .syscalls()
        .iter()
        .flatten()
        .filter_map(|rule| {
            if !is_denial(rule.action()) {
                return Some(rule.clone());
            }
            let names: Vec<String> = rule
                .names()
                .iter()
                .filter(|n| !lift.contains(*n))
                .cloned()
                .collect();
            if names.is_empty() {
                return None;
            }
            let mut rule = rule.clone();
            rule.set_names(names);
            Some(rule)
        })
        .collect();
    if is_denial(seccomp.default_action()) && !lift.is_empty() {
        let allow = LinuxSyscallBuilder::default()
            .names(lift.iter().cloned().collect::<Vec<_>>())
            .action(LinuxSeccompAction::ScmpActAllow)
            .build()
            .expect("names and an action make a rule");
        rules.push(allow);
    }
    out.set_syscalls(Some(rules));
    out
}

/// The calls to bisect over: the explicit denials, and under a denying default every
/// call some runtime's start or the container's process is known to need.
fn candidates(seccomp: &LinuxSeccomp) -> Vec<String> {
    let mut names: BTreeSet<String> = denied_names(seccomp).into_iter().collect();
    if is_denial(seccomp.default_action()) {
        names.extend(crate::profile::known_start_needs().map(str::to_string));
    }
    names.into_iter().collect()
}

struct Search<'a> {
    plan: Plan,
    /// Engines read the profile from a file: each attempt's profile is written here.
    profile_file: std::path::PathBuf,
    seccomp: &'a LinuxSeccomp,
    runtime: &'a Runtime,
    interrupted: &'a AtomicBool,
    attempts: u32,
}

impl Search<'_> {
    /// Does an empty container start with these denials lifted? `None` once the budget
    /// is spent.
    fn starts(&mut self, lift: &BTreeSet<String>) -> Result<Option<bool>, RunError> {
        if self.attempts >= MAX_ATTEMPTS {
            return Ok(None);
        }
        self.attempts += 1;
        let lifted = without(self.seccomp, lift);
        if self.runtime.engine().is_some() {
            let json = serde_json::to_vec_pretty(&lifted).expect("a profile serialises");
            std::fs::write(&self.profile_file, json).map_err(|e| {
                RunError::Bundle(crate::bundle::BundleError::Io {
                    action: "write",
                    path: self.profile_file.clone(),
                    source: e,
                })
            })?;
            self.plan.settings.seccomp =
                crate::container::Seccomp::Profile(self.profile_file.clone());
        }
        self.plan.seccomp = Some(lifted);
        let run = execute(&self.plan, self.runtime, self.interrupted)?;
        Ok(Some(matches!(run.start, StartStatus::Started)))
    }

    /// The names among `candidates` that must be lifted, given that lifting `kept` and
    /// all of `candidates` starts the container and lifting `kept` alone does not.
    fn culprits(
        &mut self,
        candidates: &[String],
        kept: &BTreeSet<String>,
    ) -> Result<Option<Vec<String>>, RunError> {
        if candidates.len() == 1 {
            return Ok(Some(candidates.to_vec()));
        }
        let (a, b) = candidates.split_at(candidates.len() / 2);
        let with = |extra: &[String]| -> BTreeSet<String> {
            kept.iter().cloned().chain(extra.iter().cloned()).collect()
        };
        match self.starts(&with(a))? {
            None => return Ok(None),
            Some(true) => return self.culprits(a, kept),
            Some(false) => {}
        }
        match self.starts(&with(b))? {
            None => return Ok(None),
            Some(true) => return self.culprits(b, kept),
            Some(false) => {}
        }
        // Both halves hold a culprit: find A's with all of B lifted, then B's with
        // A's culprits lifted.
        let Some(in_a) = self.culprits(a, &with(b))? else {
            return Ok(None);
        };
        let Some(in_b) = self.culprits(b, &with(&in_a))? else {
            return Ok(None);
        };
        Ok(Some(in_a.into_iter().chain(in_b).collect()))
    }
}

/// Finds the denials a runtime's start needs lifted, or the runtime's own reason for
/// rejecting the profile (then nothing is bisected). Only called after a start failure,
/// with the runtime's error.
pub fn triage(
    plan: &Plan,
    runtime: &Runtime,
    error: &str,
    interrupted: &AtomicBool,
) -> Result<Option<Triage>, RunError> {
    let Some(seccomp) = &plan.seccomp else {
        return Ok(None);
    };
    if let Some(cause) = super::rejected::cause(plan, runtime, error) {
        return Ok(Some(Triage {
            needed: Vec::new(),
            attempts: 0,
            conclusion: cause,
        }));
    }
    let scratch = crate::bundle::RunDir::create()?;
    let mut search = Search {
        plan: Plan {
            probes: Vec::new(),
            ..plan.clone()
        },
        profile_file: scratch.path().join("triage-profile.json"),
        seccomp,
        runtime,
        interrupted,
        attempts: 0,
    };
    let conclusion = |needed: Vec<String>, attempts: u32, text: String| Triage {
        needed,
        attempts,
        conclusion: text,
    };
    // The prediction first: one start tells whether the calls it names are the cause.
    let nnp = plan.settings.no_new_privileges;
    let predicted = crate::predict::start::predicted_needs(
        &runtime.kind,
        nnp,
        &crate::profile::start_analysis(seccomp),
    );
    if !predicted.is_empty() {
        let lift: BTreeSet<String> = predicted.iter().cloned().collect();
        if search.starts(&lift)? == Some(true) {
            let text = format!(
                "{} needs {} to start its container{}; the profile denies {}. Predicted from the profile, and confirmed: an empty container starts with {} allowed",
                runtime.name,
                crate::profile::analysis_and_list(&predicted),
                match (runtime.kind.filters_own_exec, nnp) {
                    (false, _) => "",
                    (true, true) => " with no-new-privileges",
                    (true, false) => " without no-new-privileges",
                },
                if predicted.len() == 1 { "it" } else { "them" },
                if predicted.len() == 1 { "it" } else { "them" },
            );
            return Ok(Some(conclusion(predicted, search.attempts, text)));
        }
    }
    let names = candidates(seccomp);
    let all: BTreeSet<String> = names.iter().cloned().collect();
    if names.is_empty() || search.starts(&all)? != Some(true) {
        let text = if names.is_empty() {
            "the profile has no explicit denial to lift; its default action is what the start trips on, or the failure is not the profile's".to_string()
        } else {
            format!(
                "the container does not start even with all {} denials lifted that a start could need: the default action or something besides the profile stops it",
                names.len()
            )
        };
        return Ok(Some(conclusion(Vec::new(), search.attempts, text)));
    }
    let needed = search.culprits(&names, &BTreeSet::new())?;
    let attempts = search.attempts;
    Ok(Some(match needed {
        Some(needed) => {
            let list = needed.join(", ");
            let text = format!(
                "{} needs {} to start its container; the profile denies {}",
                runtime.name,
                list,
                if needed.len() == 1 { "it" } else { "them" }
            );
            conclusion(needed, attempts, text)
        }
        None => conclusion(
            Vec::new(),
            attempts,
            format!("gave up after {MAX_ATTEMPTS} attempts without isolating the denials the start needs"),
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn lifts_only_the_named_denials() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["execve", "fork"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
            ]
        }));
        assert_eq!(denied_names(&p), ["execve", "fork"]);
        let lifted = without(&p, &["execve".to_string()].into_iter().collect());
        let json = serde_json::to_value(&lifted).unwrap();
        assert_eq!(json["syscalls"][0]["names"], serde_json::json!(["fork"]));
        assert_eq!(json["syscalls"][1]["names"], serde_json::json!(["read"]));
        let all = without(&p, &["execve".into(), "fork".into()].into_iter().collect());
        assert_eq!(all.syscalls().as_ref().unwrap().len(), 1);
    }
}
