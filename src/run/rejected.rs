//! A profile the runtime rejected itself: before triage bisects the profile's denials
//! (which answers "which calls does the start need"), it asks whether the start failed
//! because the runtime could not build or load the filter at all. Then bisecting
//! would name an innocent syscall; the cause is said instead, from the runtime's own
//! words where they name it and from the profile where they do not.

use oci_spec::runtime::LinuxSeccomp;

use crate::runtime::Runtime;

/// The kernel's limit on one seccomp program (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;
/// The largest errno the kernel passes back (`MAX_ERRNO`); libseccomp refuses more.
const MAX_ERRNO: u32 = 4095;

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
];

/// Why the runtime rejected the profile itself, if it did: its own error, then the
/// profile's content. `None` leaves it to the bisection.
pub fn cause(seccomp: &LinuxSeccomp, runtime: &Runtime, error: &str) -> Option<String> {
    said_by_runtime(error)
        .or_else(|| errno_too_large(seccomp, runtime))
        .or_else(|| too_large(seccomp))
        .map(|cause| format!("{} rejected the profile itself: {cause}", runtime.name))
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

/// An `errnoRet` libseccomp cannot encode, where the runtime passes it on (runsc
/// ignores `errnoRet` and answers EPERM).
fn errno_too_large(seccomp: &LinuxSeccomp, runtime: &Runtime) -> Option<String> {
    if !runtime.kind.honours_errno_ret {
        return None;
    }
    if let Some(e) = seccomp.default_errno_ret().filter(|e| *e > MAX_ERRNO) {
        return Some(format!(
            "defaultErrnoRet {e} is above {MAX_ERRNO}, the largest errno; libseccomp refuses it"
        ));
    }
    seccomp.syscalls().iter().flatten().enumerate().find_map(|(i, rule)| {
        let e = rule.errno_ret().filter(|e| *e > MAX_ERRNO)?;
        Some(format!(
            "rule {i} ({}) has errnoRet {e}, above {MAX_ERRNO}, the largest errno; libseccomp refuses the rule",
            rule.names().join(", ")
        ))
    })
}

/// A lower bound on the filter's size: every argument comparison of a rule needs an
/// instruction of its own (comparisons of one value with another cannot share one),
/// and every syscall a rule names needs one to be told from the others. Past the
/// kernel's limit, no runtime can load it.
pub fn least_instructions(seccomp: &LinuxSeccomp) -> usize {
    let mut names = std::collections::BTreeSet::new();
    let mut comparisons = 0;
    for rule in seccomp.syscalls().iter().flatten() {
        if rule.action() == seccomp.default_action() {
            continue;
        }
        let args = rule.args().as_ref().map_or(0, Vec::len);
        comparisons += rule.names().len() * args;
        names.extend(rule.names().iter().cloned());
    }
    comparisons + names.len()
}

fn too_large(seccomp: &LinuxSeccomp) -> Option<String> {
    let least = least_instructions(seccomp);
    (least > MAX_INSTRUCTIONS).then(|| {
        format!(
            "the filter is too large to load: its rules need at least {least} BPF instructions, and the kernel takes at most {MAX_INSTRUCTIONS}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).unwrap()
    }

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

    #[test]
    fn an_errno_past_4095_and_a_filter_past_4096_instructions_are_found() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5000}]
        }));
        let rule = &p.syscalls().as_ref().unwrap()[0];
        assert_eq!(rule.errno_ret(), Some(5000));
        let rules: Vec<serde_json::Value> = (0..2100)
            .map(|i| serde_json::json!({"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": i, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": i, "op": "SCMP_CMP_EQ"}]}))
            .collect();
        let big =
            profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
        assert!(least_instructions(&big) > MAX_INSTRUCTIONS);
        assert!(too_large(&big).is_some());
        assert!(too_large(&p).is_none());
    }
}
