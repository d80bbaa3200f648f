//! What makes a runtime refuse a profile before the container's process runs: an
//! action it does not implement, flags it does not take, an errno libseccomp cannot
//! encode, a notify rule without an agent, a program longer than the kernel loads.
//! The facts are the quirks table's ([`Refuses`]); this module finds them in a
//! resolved profile and says each with the place in the file that causes it.
//!
//! `breakout check` predicts a start from these before it starts anything, and
//! start-failure triage takes them as the cause instead of bisecting the profile's
//! denials, which would blame an innocent syscall for a filter that was never loaded.

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};
use serde::Serialize;

use super::compile::{self, MAX_INSTRUCTIONS};
use super::source::{Place, RulePlaces};
use crate::runtime::quirks::{Refuses, RuntimeKind};

/// The largest errno libseccomp takes: it refuses the kernel's `MAX_ERRNO` (4095) and
/// anything above (measured: 4094 loads under runc, 4095 does not).
pub const MAX_ERRNO: u32 = 4094;

/// One reason a runtime refuses a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub cause: String,
    /// Where the profile says what is refused, when one place does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
}

/// A resolved profile and where its parts are written.
pub struct Written<'a> {
    pub seccomp: &'a LinuxSeccomp,
    /// For each resolved rule, its index among the file's `syscalls`.
    pub sources: &'a [usize],
    pub places: &'a RulePlaces,
}

impl Written<'_> {
    fn rule_place(&self, resolved: usize) -> Option<Place> {
        let source = self.sources.get(resolved).copied().unwrap_or(resolved);
        self.places.rules.get(source).cloned()
    }

    fn key_place(&self, key: &str) -> Option<Place> {
        self.places.key(key).cloned()
    }

    /// A rule's index in the file, for the words ("syscalls[3] (keyctl)").
    fn rule_name(&self, resolved: usize, names: &[String]) -> String {
        let source = self.sources.get(resolved).copied().unwrap_or(resolved);
        let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
        let more = names.len().saturating_sub(3);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!("syscalls[{source}] ({}{more})", shown.join(", "))
    }
}

fn action_name(action: LinuxSeccompAction) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{action:?}"))
}

fn errno_action(action: LinuxSeccompAction) -> bool {
    matches!(
        action,
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
    )
}

/// Every reason `kind` refuses the profile, in the order the runtime meets them: the
/// default, the flags, each rule, then the program as a whole. Empty for a runtime
/// that does not apply profiles, and for an engine, whose default runtime and own
/// reading of the profile are not in the table.
pub fn refusals(kind: &RuntimeKind, profile: &Written) -> Vec<Refusal> {
    if !kind.applies_profile || kind.engine.is_some() {
        return Vec::new();
    }
    let refuses = &kind.refuses;
    let seccomp = profile.seccomp;
    let mut out = Vec::new();
    out.extend(default_refusals(refuses, profile));
    if refuses.flags && seccomp.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        out.push(Refusal {
            cause: format!(
                "{} takes no seccomp flags, and the profile gives some",
                kind.name
            ),
            place: profile.key_place("flags"),
        });
    }
    for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        let action = rule.action();
        let what = || profile.rule_name(i, rule.names());
        let mut refuse = |cause: String| {
            out.push(Refusal {
                cause,
                place: profile.rule_place(i),
            })
        };
        if refuses.actions.contains(&action) {
            refuse(format!(
                "{} has action {}, which {} does not implement",
                what(),
                action_name(action),
                kind.name
            ));
            continue;
        }
        if action == LinuxSeccompAction::ScmpActNotify && seccomp.listener_path().is_none() {
            if refuses.notify_without_listener {
                refuse(format!(
                    "{} has action SCMP_ACT_NOTIFY, and the profile names no listenerPath (a seccomp agent to answer)",
                    what()
                ));
            }
            continue;
        }
        if let Some(errno) = rule.errno_ret() {
            if refuses.errno_on_other_actions && !errno_action(action) {
                refuse(format!(
                    "{} gives errnoRet {errno} to action {}, which takes none",
                    what(),
                    action_name(action)
                ));
            } else if refuses.errno_above_max
                && action == LinuxSeccompAction::ScmpActErrno
                && errno > MAX_ERRNO
            {
                refuse(format!(
                    "{} has errnoRet {errno}, above {MAX_ERRNO}, the largest errno libseccomp takes; it refuses the rule",
                    what()
                ));
            }
        }
    }
    if refuses.libseccomp {
        out.extend(conflicting_rules(profile));
    }
    if let Some(r) = agent_missing(refuses, seccomp, profile) {
        out.push(r);
    }
    // A program that was not built cannot be measured: only a clean profile is.
    if out.is_empty() {
        out.extend(size_refusal(kind, profile));
    }
    out
}

/// What the default action and its errno make the runtime refuse.
fn default_refusals(refuses: &Refuses, profile: &Written) -> Vec<Refusal> {
    let seccomp = profile.seccomp;
    let default = seccomp.default_action();
    let at = || profile.places.default_action.clone();
    let mut out = Vec::new();
    if refuses.actions.contains(&default) {
        out.push(Refusal {
            cause: format!(
                "the default action {} is one the runtime does not implement",
                action_name(default)
            ),
            place: at(),
        });
    } else if default == LinuxSeccompAction::ScmpActNotify {
        if refuses.notify_default {
            out.push(Refusal {
                cause: "SCMP_ACT_NOTIFY cannot be the default action".into(),
                place: at(),
            });
        } else if seccomp.listener_path().is_none() {
            out.push(Refusal {
                cause: "the default action is SCMP_ACT_NOTIFY and no listenerPath names an agent: every call answers ENOSYS, the runtime's own start among them".into(),
                place: at(),
            });
        }
    }
    if let Some(errno) = seccomp.default_errno_ret() {
        let place = profile.key_place("defaultErrnoRet");
        if refuses.errno_on_other_actions && !errno_action(default) {
            out.push(Refusal {
                cause: format!(
                    "defaultErrnoRet {errno} is given to the default action {}, which takes none",
                    action_name(default)
                ),
                place,
            });
        } else if refuses.errno_above_max
            && default == LinuxSeccompAction::ScmpActErrno
            && errno > MAX_ERRNO
        {
            out.push(Refusal {
                cause: format!(
                    "defaultErrnoRet {errno} is above {MAX_ERRNO}, the largest errno libseccomp takes; it cannot make the filter"
                ),
                place,
            });
        }
    }
    out
}

/// Two rules for one call with the same argument conditions and different answers:
/// libseccomp refuses the second with EEXIST ("file exists"), and runc and crun with
/// it. Rules whose action is the default's are left out first, as runc does.
fn conflicting_rules(profile: &Written) -> Vec<Refusal> {
    let seccomp = profile.seccomp;
    let default = seccomp.default_action();
    let mut seen: Vec<(&str, String, String)> = Vec::new();
    let mut out = Vec::new();
    for (i, rule) in seccomp.syscalls().iter().flatten().enumerate() {
        if rule.action() == default {
            continue;
        }
        let answer = format!(
            "{:?}",
            compile::scmp_action(
                rule.action(),
                rule.errno_ret().or(seccomp.default_errno_ret())
            )
        );
        let conditions = serde_json::to_string(rule.args()).unwrap_or_default();
        for name in rule.names() {
            let earlier = seen
                .iter()
                .find(|(n, c, a)| *n == name.as_str() && *c == conditions && *a != answer);
            if earlier.is_some() {
                out.push(Refusal {
                    cause: format!(
                        "{} answers {name} differently from an earlier rule with the same argument conditions; libseccomp refuses it (EEXIST)",
                        profile.rule_name(i, rule.names())
                    ),
                    place: profile.rule_place(i),
                });
                break;
            }
        }
        seen.extend(
            rule.names()
                .iter()
                .map(|n| (n.as_str(), conditions.clone(), answer.clone())),
        );
    }
    out
}

/// A notify action with a `listenerPath` where no socket is: the runtime connects to
/// the agent before it starts the container, and fails.
fn agent_missing(refuses: &Refuses, seccomp: &LinuxSeccomp, profile: &Written) -> Option<Refusal> {
    let path = seccomp.listener_path().as_ref()?;
    let notify = LinuxSeccompAction::ScmpActNotify;
    let uses_notify = seccomp.default_action() == notify
        || seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == notify);
    if !uses_notify || refuses.actions.contains(&notify) {
        return None;
    }
    use std::os::unix::fs::FileTypeExt;
    let listening = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket());
    (!listening).then(|| Refusal {
        cause: format!(
            "no seccomp agent listens at {} on this host: the runtime connects to it before the start",
            path.display()
        ),
        place: profile.key_place("listenerPath"),
    })
}

/// A program past the kernel's limit: counted exactly where libseccomp builds it,
/// bounded from below where the runtime builds its own (gVisor).
fn size_refusal(kind: &RuntimeKind, profile: &Written) -> Option<Refusal> {
    let style = compile::Style {
        enosys_stub: kind.enosys_stub,
        architectures: kind.honours_architectures,
    };
    if kind.refuses.libseccomp {
        return match compile::oversize(profile.seccomp, style) {
            Ok(Some(n)) => Some(Refusal {
                cause: format!(
                    "the filter is too large to load: libseccomp makes a program of {n} BPF instructions, and the kernel takes at most {MAX_INSTRUCTIONS}"
                ),
                place: profile.key_place("syscalls"),
            }),
            Ok(None) => None,
            Err(e) => Some(Refusal {
                cause: format!("libseccomp cannot build the filter: {e}"),
                place: None,
            }),
        };
    }
    let least = least_instructions(profile.seccomp);
    (least > MAX_INSTRUCTIONS).then(|| Refusal {
        cause: format!(
            "the filter is too large to load: its rules need at least {least} BPF instructions, and the kernel takes at most {MAX_INSTRUCTIONS}"
        ),
        place: profile.key_place("syscalls"),
    })
}

/// A lower bound on any filter's size: every argument comparison of a rule needs an
/// instruction of its own, and every syscall a rule names one to be told from the
/// others.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(runtime: &str, json: serde_json::Value) -> Vec<String> {
        let seccomp: LinuxSeccomp = serde_json::from_value(json).unwrap();
        let places = RulePlaces::default();
        let written = Written {
            seccomp: &seccomp,
            sources: &[],
            places: &places,
        };
        refusals(&RuntimeKind::named(runtime).unwrap(), &written)
            .into_iter()
            .map(|r| r.cause)
            .collect()
    }

    fn keyctl(action: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut rule = serde_json::json!({"names": ["keyctl"], "action": action});
        rule.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
    }

    #[test]
    fn each_runtime_refuses_what_was_measured() {
        let none = serde_json::Value::Null;
        let big_errno = serde_json::json!({"errnoRet": 12345});
        // errnoRet past 4094: runc and crun (libseccomp), not runsc.
        let edge = serde_json::json!({"errnoRet": 4095});
        assert_eq!(refused("runc", keyctl("SCMP_ACT_ERRNO", edge)).len(), 1);
        let fits = serde_json::json!({"errnoRet": 4094});
        assert!(refused("runc", keyctl("SCMP_ACT_ERRNO", fits)).is_empty());
        assert_eq!(
            refused("runc", keyctl("SCMP_ACT_ERRNO", big_errno.clone())).len(),
            1
        );
        assert_eq!(
            refused("crun", keyctl("SCMP_ACT_ERRNO", big_errno.clone())).len(),
            1
        );
        assert!(refused("runsc-oci", keyctl("SCMP_ACT_ERRNO", big_errno)).is_empty());
        // Notify without a listener: runc refuses, crun loads it, runsc has no notify.
        assert_eq!(
            refused("runc", keyctl("SCMP_ACT_NOTIFY", none.clone())).len(),
            1
        );
        assert!(refused("crun", keyctl("SCMP_ACT_NOTIFY", none.clone())).is_empty());
        assert!(
            refused("runsc-oci", keyctl("SCMP_ACT_NOTIFY", none.clone()))[0]
                .contains("does not implement")
        );
        // gVisor's missing actions, and what it takes.
        for action in [
            "SCMP_ACT_LOG",
            "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_KILL_PROCESS",
        ] {
            assert_eq!(refused("runsc-oci", keyctl(action, none.clone())).len(), 1);
            assert!(refused("runc", keyctl(action, none.clone())).is_empty());
        }
        for action in ["SCMP_ACT_KILL", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE"] {
            assert!(refused("runsc-oci", keyctl(action, none.clone())).is_empty());
        }
        // An errno where the action takes none: crun only.
        let allow_errno = keyctl("SCMP_ACT_ALLOW", serde_json::json!({"errnoRet": 1}));
        assert_eq!(refused("crun", allow_errno.clone()).len(), 1);
        assert!(refused("runc", allow_errno).is_empty());
        // The same conditions, another answer: libseccomp's EEXIST, not gVisor's.
        let cond = serde_json::json!([{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]);
        let conflict = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "args": cond},
            {"names": ["uname"], "action": "SCMP_ACT_KILL", "args": cond}]});
        assert_eq!(refused("runc", conflict.clone()).len(), 1);
        assert_eq!(refused("crun", conflict.clone()).len(), 1);
        assert!(refused("runsc-oci", conflict).is_empty());
        let same = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "args": cond},
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "args": cond}]});
        assert!(refused("runc", same).is_empty());
        // Flags: runc 1.1.5 takes none.
        let mut flagged = keyctl("SCMP_ACT_ERRNO", none);
        flagged["flags"] = serde_json::json!(["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);
        assert_eq!(refused("runc", flagged.clone()).len(), 1);
        assert!(refused("crun", flagged).is_empty());
    }

    #[test]
    fn the_default_and_its_errno() {
        let default = |action: &str, errno: Option<u32>| {
            let mut p = serde_json::json!({"defaultAction": action,
                "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ALLOW"}]});
            if let Some(e) = errno {
                p["defaultErrnoRet"] = e.into();
            }
            p
        };
        assert_eq!(
            refused("runc", default("SCMP_ACT_ERRNO", Some(12345))).len(),
            1
        );
        assert_eq!(
            refused("crun", default("SCMP_ACT_ERRNO", Some(12345))).len(),
            1
        );
        assert!(refused("runc", default("SCMP_ACT_ALLOW", Some(1))).is_empty());
        assert_eq!(refused("crun", default("SCMP_ACT_ALLOW", Some(1))).len(), 1);
        for runtime in ["runc", "crun", "runsc-oci"] {
            assert_eq!(
                refused(runtime, default("SCMP_ACT_NOTIFY", None)).len(),
                1,
                "{runtime}"
            );
        }
    }

    #[test]
    fn a_program_past_the_kernels_limit() {
        let rules: Vec<serde_json::Value> = (0..5000)
            .map(|i| {
                serde_json::json!({"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1000 + i, "op": "SCMP_CMP_EQ"}]})
            })
            .collect();
        let big = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
        for runtime in ["runc", "crun", "runsc-oci"] {
            let r = refused(runtime, big.clone());
            assert!(
                r.len() == 1 && r[0].contains("too large"),
                "{runtime}: {r:?}"
            );
        }
        // Under the limit: the same rules, fewer of them.
        let rules: Vec<serde_json::Value> = (0..500)
            .map(|i| {
                serde_json::json!({"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1000 + i, "op": "SCMP_CMP_EQ"}]})
            })
            .collect();
        let fits = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
        assert!(refused("runc", fits).is_empty());
    }
}
