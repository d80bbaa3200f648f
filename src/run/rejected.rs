//! A profile the runtime rejected itself: before triage bisects the profile's denials
//! (which answers "which calls does the start need"), it asks whether the start failed
//! because the runtime could not build or load the filter at all. Then bisecting
//! would name an innocent syscall; the cause is said instead, from the runtime's own
//! words where they name it and from the profile where they do not.

use crate::predict::refusals::{refusals, Written};
use crate::predict::source::RulePlaces;
use crate::runtime::Runtime;

use super::Plan;

/// Runtime messages that name the cause, as runc, crun and runsc word them (Debian 12's
/// runc 1.1.5, crun 1.8.1, runsc 20221219): a fragment to find, and the cause. `{}` in
/// the cause is what follows the fragment up to the next space or quote.
const SAID: &[(&str, &str)] = &[
    (
        "invalid action: ",
        "the runtime does not support the action {} and refuses the profile",
    ),
    (
        "listenerPath is not set",
        "SCMP_ACT_NOTIFY needs a listenerPath (a seccomp agent to answer the notifications); without one the runtime refuses the profile",
    ),
    (
        "invalid number of instructions",
        "the filter is too large to load: the kernel takes at most 4096 BPF instructions per filter",
    ),
    (
        "seccomp flags are not yet supported",
        "the runtime takes no seccomp flags, and the profile gives some",
    ),
    (
        "cannot be used as default action",
        "SCMP_ACT_NOTIFY cannot be the default action",
    ),

];

/// Why the runtime rejected the profile itself, if it did: its own words where they
/// name the cause, else what the quirks table says it refuses in this profile
/// ([`crate::predict::refusals`]), with the place in the file. `None` leaves it to the
/// bisection.
pub fn cause(plan: &Plan, runtime: &Runtime, error: &str) -> Option<String> {
    let seccomp = plan.seccomp.as_ref()?;
    let cause = said_by_runtime(error).or_else(|| {
        let places = plan
            .profile_path
            .as_deref()
            .map(RulePlaces::of)
            .unwrap_or_default();
        let written = Written {
            seccomp,
            sources: &plan.seccomp_sources,
            places: &places,
        };
        let found = refusals(&runtime.kind, &written);
        let words: Vec<String> = found
            .iter()
            .map(|r| match &r.place {
                Some(place) => format!("{} ({place})", r.cause),
                None => r.cause.clone(),
            })
            .collect();
        (!words.is_empty()).then(|| words.join("; "))
    })?;
    Some(format!(
        "{} rejected the profile itself: {cause}",
        runtime.name
    ))
}

fn said_by_runtime(error: &str) -> Option<String> {
    SAID.iter().find_map(|(fragment, cause)| {
        let at = error.find(fragment)? + fragment.len();
        let word: String = error[at..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
            .collect();
        Some(cause.replace("{}", &word))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtimes_own_words_name_the_cause() {
        assert_eq!(
            said_by_runtime(
                "building seccomp program: invalid seccomp rules: invalid action: SCMP_ACT_LOG"
            ),
            Some(
                "the runtime does not support the action SCMP_ACT_LOG and refuses the profile"
                    .into()
            )
        );
        assert!(said_by_runtime(
            "runc run failed: unable to start container process: listenerPath is not set"
        )
        .unwrap()
        .contains("listenerPath"));
        assert_eq!(said_by_runtime("exec: operation not permitted"), None);
    }
}
