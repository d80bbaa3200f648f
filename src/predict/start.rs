//! Whether each runtime can start a container under a profile, with and without
//! no-new-privileges, predicted without starting anything: what the runtime refuses
//! ([`super::refusals`]), the `execve` a runtime that filters its own exec makes, what
//! the runtime itself calls after the filter ([`crate::profile::analysis`]'s measured
//! `RUNTIME_STARTS`), and what the container's process needs to report.

use oci_spec::runtime::LinuxSeccompAction;
use serde::Serialize;

use super::refusals::{refusals, Refusal, Written};
use crate::profile::{analysis_and_list, StartAnalysis};
use crate::runtime::RuntimeKind;

/// One runtime's start in one no-new-privileges setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartPrediction {
    pub runtime: &'static str,
    pub no_new_privileges: bool,
    pub starts: bool,
    /// Why not, each with the place in the profile that decides it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub because: Vec<Refusal>,
}

/// Every start of `kind` under the profile, without and with no-new-privileges.
pub fn predict_starts(
    kind: &RuntimeKind,
    profile: &Written,
    analysis: &StartAnalysis,
) -> Vec<StartPrediction> {
    let refused = refusals(kind, profile);
    [false, true]
        .into_iter()
        .map(|nnp| {
            let mut because = refused.clone();
            if because.is_empty() && kind.applies_profile {
                because.extend(denied_needs(kind, nnp, profile, analysis));
            }
            StartPrediction {
                runtime: kind.name,
                no_new_privileges: nnp,
                starts: because.is_empty(),
                because,
            }
        })
        .collect()
}

/// The calls `kind`'s start in this no-new-privileges setting needs and the profile
/// denies, by the analysis: its `execve`, its own calls after the filter, the
/// container's process's. Sorted, without repeats.
pub fn predicted_needs(kind: &RuntimeKind, nnp: bool, analysis: &StartAnalysis) -> Vec<String> {
    let mut names: Vec<String> = analysis
        .denied_needed
        .iter()
        .filter(|n| kind.filters_own_exec || *n != "execve")
        .cloned()
        .collect();
    if kind.filters_own_exec {
        if let Some(own) = analysis
            .runtime_starts
            .iter()
            .find(|r| r.runtime == kind.name && r.no_new_privileges == nnp)
        {
            names.extend(own.denied.iter().cloned());
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The calls a start needs that the filter stops, grouped by who needs them.
fn denied_needs(
    kind: &RuntimeKind,
    nnp: bool,
    profile: &Written,
    analysis: &StartAnalysis,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    let mut need = |who: &str, names: &[String]| {
        if !names.is_empty() {
            out.push(Refusal {
                cause: format!(
                    "{who} {}, which the profile denies",
                    analysis_and_list(names)
                ),
                place: deciding_place(profile, names),
            });
        }
    };
    let (exec, process): (Vec<String>, Vec<String>) = analysis
        .denied_needed
        .iter()
        .cloned()
        .partition(|n| n == "execve");
    if kind.filters_own_exec {
        need(
            &format!(
                "{} execs the container's process after its filter with",
                kind.name
            ),
            &exec,
        );
        if let Some(own) = analysis
            .runtime_starts
            .iter()
            .find(|r| r.runtime == kind.name && r.no_new_privileges == nnp)
        {
            need(
                &format!("{}'s own start after its filter needs", kind.name),
                &own.denied,
            );
        }
    }
    need("the container's process needs", &process);
    out
}

/// Where the profile denies the first of `names`: the first rule that names it with a
/// denying action and no argument condition, else the default action.
fn deciding_place(profile: &Written, names: &[String]) -> Option<super::source::Place> {
    let seccomp = profile.seccomp;
    let allows = |a: LinuxSeccompAction| {
        matches!(
            a,
            LinuxSeccompAction::ScmpActAllow
                | LinuxSeccompAction::ScmpActLog
                | LinuxSeccompAction::ScmpActNotify
        )
    };
    let first = names.first()?;
    let rule = seccomp.syscalls().iter().flatten().position(|r| {
        !allows(r.action())
            && r.args().as_ref().is_none_or(Vec::is_empty)
            && r.names().iter().any(|n| n == first)
    });
    match rule {
        Some(i) => {
            let source = profile.sources.get(i).copied().unwrap_or(i);
            profile.places.rules.get(source).cloned()
        }
        None => profile.places.default_action.clone(),
    }
}

/// One line per runtime for humans: "yes", "only with no-new-privileges: ...", "no: ...".
pub fn start_line(starts: &[StartPrediction]) -> Option<String> {
    let without = starts.iter().find(|s| !s.no_new_privileges)?;
    let with = starts.iter().find(|s| s.no_new_privileges)?;
    let reasons = |s: &StartPrediction| reasons(&s.because);
    let text = match (without.starts, with.starts) {
        (true, true) => "starts".to_string(),
        (false, true) => format!("starts only with no-new-privileges: {}", reasons(without)),
        (true, false) => format!("starts only without no-new-privileges: {}", reasons(with)),
        (false, false) if without.because == with.because => {
            format!("cannot start: {}", reasons(without))
        }
        (false, false) => format!(
            "cannot start: {}; with no-new-privileges: {}",
            reasons(without),
            reasons(with)
        ),
    };
    Some(format!("{:<10} {text}", without.runtime))
}

/// Each reason with where it is written, `; ` between them.
pub fn reasons(because: &[Refusal]) -> String {
    because
        .iter()
        .map(|r| match &r.place {
            Some(p) => format!("{} [{p}]", r.cause),
            None => r.cause.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
