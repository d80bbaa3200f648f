//! `breakout check` predicts whether each runtime can start a container under a
//! profile, without starting anything; here every prediction is held against a real
//! start under runc, crun and runsc-oci, with and without no-new-privileges.
//!
//! The profiles are the real ones others publish (`tests/fixtures/profiles/real`:
//! the Kubernetes tutorial's, runc's integration tests', the security-profiles-
//! operator's base and complain-mode profiles) and one built here for each way a
//! runtime refuses a profile, beside its control that loads (errnoRet 4095 and 4094,
//! a program past the kernel's limit and one within it, ...).
//!
//! Where a start fails, triage must say why from the prediction: a refusal without
//! starting anything more, predicted needs confirmed by a single start.

mod common;

use common::needs::{Host, Need};
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{json, Value};

const RUNTIMES: &[&str] = &["runc", "crun", "runsc-oci"];

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Busybox,
    Need::Runtime("runc"),
    Need::Runtime("crun"),
    Need::Runtime("runsc"),
];

/// A profile to start under: a shipped real one, or one built here.
enum Source {
    Real(&'static str),
    Built(fn() -> Value),
}

struct Case {
    name: &'static str,
    source: Source,
}

fn keyctl(action: &str, extra: Value) -> Value {
    let mut rule = json!({"names": ["keyctl"], "action": action});
    if let (Some(rule), Some(extra)) = (rule.as_object_mut(), extra.as_object()) {
        rule.extend(extra.clone());
    }
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
}

fn socket_rules(n: u64) -> Value {
    let rules: Vec<Value> = (0..n)
        .map(|i| {
            json!({"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1000 + i, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

/// A shipped real profile with another default action: the same allow-list made
/// stricter, where every call the runtime makes and survives failing now kills.
fn real_with_default(file: &str, action: &str) -> Value {
    let path = repo().join("tests/fixtures/profiles/real").join(file);
    let mut profile: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("a shipped fixture"))
            .expect("a shipped fixture is JSON");
    profile["defaultAction"] = json!(action);
    profile
}

/// Docker's default profile with another default action.
fn docker_default_with(action: &str) -> Value {
    let path = repo().join("profiles/docker-default.json");
    let mut profile: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("a shipped profile"))
            .expect("a shipped profile is JSON");
    profile["defaultAction"] = json!(action);
    profile
}

const CASES: &[Case] = &[
    Case {
        name: "docker_default_killing",
        source: Source::Built(|| docker_default_with("SCMP_ACT_KILL_PROCESS")),
    },
    Case {
        name: "docker_default_trapping",
        source: Source::Built(|| docker_default_with("SCMP_ACT_TRAP")),
    },
    Case {
        name: "spo_runc_base_killing",
        source: Source::Built(|| real_with_default("spo-runc-base.json", "SCMP_ACT_KILL_PROCESS")),
    },
    Case {
        name: "spo_crun_base_killing",
        source: Source::Built(|| real_with_default("spo-crun-base.json", "SCMP_ACT_KILL_PROCESS")),
    },
    Case {
        name: "k8s_fine_grained_trapping",
        source: Source::Built(|| real_with_default("k8s-fine-grained-fork.json", "SCMP_ACT_TRAP")),
    },
    Case {
        name: "k8s_audit",
        source: Source::Real("k8s-audit.json"),
    },
    Case {
        name: "k8s_violation",
        source: Source::Real("k8s-violation.json"),
    },
    Case {
        name: "k8s_fine_grained",
        source: Source::Real("k8s-fine-grained.json"),
    },
    Case {
        name: "k8s_fine_grained_fork",
        source: Source::Real("k8s-fine-grained-fork.json"),
    },
    Case {
        name: "runc_test_syscall1",
        source: Source::Real("runc-test-syscall1.json"),
    },
    Case {
        name: "runc_test_syscall2",
        source: Source::Real("runc-test-syscall2.json"),
    },
    Case {
        name: "spo_runc_base",
        source: Source::Real("spo-runc-base.json"),
    },
    Case {
        name: "spo_crun_base",
        source: Source::Real("spo-crun-base.json"),
    },
    Case {
        name: "spo_complain",
        source: Source::Real("spo-complain.json"),
    },
    Case {
        name: "spo_complain_block_high_risk",
        source: Source::Real("spo-complain-block-high-risk.json"),
    },
    Case {
        name: "errno_12345",
        source: Source::Built(|| keyctl("SCMP_ACT_ERRNO", json!({"errnoRet": 12345}))),
    },
    Case {
        name: "errno_4095",
        source: Source::Built(|| keyctl("SCMP_ACT_ERRNO", json!({"errnoRet": 4095}))),
    },
    Case {
        name: "errno_4094",
        source: Source::Built(|| keyctl("SCMP_ACT_ERRNO", json!({"errnoRet": 4094}))),
    },
    Case {
        name: "errno_on_an_allow_rule",
        source: Source::Built(|| keyctl("SCMP_ACT_ALLOW", json!({"errnoRet": 1}))),
    },
    Case {
        name: "default_errno_on_an_allow_default",
        source: Source::Built(|| {
            let mut p = keyctl("SCMP_ACT_ERRNO", Value::Null);
            p["defaultErrnoRet"] = json!(1);
            p
        }),
    },
    Case {
        name: "default_errno_12345",
        source: Source::Built(|| {
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 12345,
                "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ALLOW"}]})
        }),
    },
    Case {
        name: "notify_without_a_listener",
        source: Source::Built(|| keyctl("SCMP_ACT_NOTIFY", Value::Null)),
    },
    Case {
        name: "notify_with_no_agent_at_its_listener",
        source: Source::Built(|| {
            let mut p = keyctl("SCMP_ACT_NOTIFY", Value::Null);
            p["listenerPath"] = json!("/nonexistent/breakout-agent.sock");
            p
        }),
    },
    Case {
        name: "notify_as_the_default",
        source: Source::Built(|| {
            json!({"defaultAction": "SCMP_ACT_NOTIFY",
                "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ALLOW"}]})
        }),
    },
    Case {
        name: "log_rule",
        source: Source::Built(|| keyctl("SCMP_ACT_LOG", Value::Null)),
    },
    Case {
        name: "kill_process_rule",
        source: Source::Built(|| keyctl("SCMP_ACT_KILL_PROCESS", Value::Null)),
    },
    Case {
        name: "kill_rule",
        source: Source::Built(|| keyctl("SCMP_ACT_KILL", Value::Null)),
    },
    Case {
        name: "two_answers_to_the_same_conditions",
        source: Source::Built(|| {
            let cond = json!([{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]);
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "args": cond},
                {"names": ["uname"], "action": "SCMP_ACT_KILL", "args": cond}]})
        }),
    },
    Case {
        name: "flags",
        source: Source::Built(|| {
            let mut p = keyctl("SCMP_ACT_ERRNO", Value::Null);
            p["flags"] = json!(["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);
            p
        }),
    },
    Case {
        name: "program_past_the_kernels_limit",
        source: Source::Built(|| socket_rules(5000)),
    },
    Case {
        name: "program_within_the_kernels_limit",
        source: Source::Built(|| socket_rules(500)),
    },
];

/// check's prediction: (runtime, no-new-privileges) -> starts, and the reasons.
fn predicted(path: &str) -> Result<Vec<(String, bool, bool, String)>, Failed> {
    let out = breakout(&["check", "--format", "json", path]);
    let json: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| format!("check's JSON: {e}: {}", out.stdout))?;
    let mut all = Vec::new();
    for runtime in json[0]["predictions"].as_array().into_iter().flatten() {
        for start in runtime["starts"].as_array().into_iter().flatten() {
            all.push((
                start["runtime"].as_str().unwrap_or("?").to_string(),
                start["no_new_privileges"].as_bool().unwrap_or(false),
                start["starts"].as_bool().unwrap_or(false),
                start["because"].to_string(),
            ));
        }
    }
    if all.len() != RUNTIMES.len() * 2 {
        return Err(format!("check predicted {} starts: {}", all.len(), out.stdout).into());
    }
    Ok(all)
}

fn check(case: &Case) -> TestResult {
    let scratch = Scratch::new("starts");
    let path = match &case.source {
        Source::Real(file) => repo()
            .join("tests/fixtures/profiles/real")
            .join(file)
            .display()
            .to_string(),
        Source::Built(build) => write_profile(scratch.path(), "profile.json", &build()),
    };
    let predictions = predicted(&path)?;
    let mut wrong = Vec::new();
    for nnp in [false, true] {
        let mut args = vec![
            "--runtime",
            "runc,crun,runsc-oci",
            "--profile",
            &path,
            "--probe",
            "spawn.fork",
        ];
        if nnp {
            args.extend(["--security-opt", "no-new-privileges"]);
        }
        let (_, report) = run_json(&args)?;
        for run in report["runs"].as_array().into_iter().flatten() {
            let runtime = run["runtime"]["name"].as_str().unwrap_or("?");
            let started = run["start"]["status"] == "started";
            let Some((_, _, starts, because)) = predictions
                .iter()
                .find(|(r, n, _, _)| r == runtime && *n == nnp)
            else {
                return Err(format!("no prediction for {runtime}").into());
            };
            if *starts != started {
                wrong.push(format!(
                    "{runtime} (no-new-privileges {nnp}): predicted {}, but it {} ({}); predicted because {because}",
                    if *starts { "a start" } else { "no start" },
                    if started { "started" } else { "did not start" },
                    run["start"]["error"]
                ));
                continue;
            }
            if started {
                continue;
            }
            // Triage starts from the prediction: a refusal starts nothing more,
            // predicted needs take one start to confirm.
            let triage = &run["triage"];
            let attempts = triage["attempts"].as_u64().unwrap_or(u64::MAX);
            let rejected = triage["conclusion"]
                .as_str()
                .is_some_and(|c| c.contains("rejected the profile itself"));
            if !(rejected && attempts == 0 || !rejected && attempts == 1) {
                wrong.push(format!(
                    "{runtime} (no-new-privileges {nnp}): triage did not start from the prediction: {triage}"
                ));
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("\n").into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let mut host = Host::default();
    let trials: Vec<Trial> = CASES
        .iter()
        .map(|case| host.trial(case.name, NEEDS, move || check(case)))
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
