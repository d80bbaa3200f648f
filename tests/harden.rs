//! `breakout harden`: from Docker's default, for a workload, under runc. A workload
//! that forks keeps clone (the workload needs it, in its own words) while one that
//! does not loses it; execve stays for runc's own start; the hardened profile closes
//! strictly more routes than Docker's default (predicted by `check`), and the workload
//! works under it (run for real).

mod common;

use common::needs::{Host, NOTHING, RUNC};
use common::*;
use libtest_mimic::{Arguments, Trial};
use serde_json::Value;

struct Hardened {
    summary: String,
    profile: Value,
}

fn harden(command: &[&str], scratch: &Scratch) -> Result<Hardened, libtest_mimic::Failed> {
    let written = scratch.path().join("hardened.json");
    let written_arg = written.display().to_string();
    let mut args = vec![
        "harden",
        "--runtime",
        "runc",
        "--write-profile",
        &written_arg,
        "--probe",
        "spawn.*",
        "--workload",
        "--",
    ];
    args.extend_from_slice(command);
    let out = breakout(&args);
    // The verifying run: the workload works, and what is still open escapes (exit 1).
    if out.code > 1 {
        return Err(format!("exit {}: {}{}", out.code, out.stdout, out.stderr).into());
    }
    if !out.stdout.contains("workload under runc: works") {
        return Err(format!(
            "the workload does not work under the result: {}",
            out.stdout
        )
        .into());
    }
    let profile: Value = serde_json::from_str(&std::fs::read_to_string(&written)?)?;
    Ok(Hardened {
        summary: out.stdout,
        profile,
    })
}

fn denied_line(summary: &str) -> String {
    summary
        .lines()
        .find(|l| l.trim_start().starts_with("denied:"))
        .unwrap_or("")
        .to_string()
}

fn a_forking_workload_keeps_clone_and_one_that_does_not_loses_it() -> TestResult {
    let scratch = Scratch::new("harden");
    let forks = harden(&["/bin/sh", "-c", "echo $(echo sub)"], &scratch)?;
    if !forks.summary.contains("stays allowed: clone") || !forks.summary.contains("fork") {
        return Err(format!(
            "clone is not kept for the forking workload: {}",
            forks.summary
        )
        .into());
    }
    if !forks.summary.contains("stays allowed: execve") || !forks.summary.contains("runc's start") {
        return Err(format!("execve's reason: {}", forks.summary).into());
    }
    let denied = denied_line(&forks.summary);
    for call in ["vfork", "execveat", "memfd_create"] {
        if !denied.contains(call) {
            return Err(format!("{call} is not denied: {denied}").into());
        }
    }
    let lone = harden(&["/bin/ls", "/"], &scratch)?;
    if !denied_line(&lone.summary).contains("clone") {
        return Err(format!(
            "clone is kept for a workload that never forks: {}",
            lone.summary
        )
        .into());
    }
    // The written profile denies what the summary says, in Docker's format: under
    // Docker's denying default, no rule lets the call through any more.
    let rules = lone.profile["syscalls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let allows = |call: &str| {
        rules.iter().any(|r| {
            r["action"] == "SCMP_ACT_ALLOW"
                && r["names"]
                    .as_array()
                    .is_some_and(|n| n.iter().any(|x| x == call))
        })
    };
    if lone.profile["defaultAction"] != "SCMP_ACT_ERRNO" || allows("clone") || allows("vfork") {
        return Err(format!("the profile: {:#}", lone.profile).into());
    }
    if !allows("execve") || !allows("read") {
        return Err(format!("the profile lost what it keeps: {:#}", lone.profile).into());
    }
    Ok(())
}

/// Open routes per `check`: the hardened profile leaves strictly fewer than Docker's.
fn open_routes(profile: &str) -> Result<Vec<String>, libtest_mimic::Failed> {
    let out = breakout(&["check", profile, "--format", "json"]);
    let report: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| format!("check's JSON ({e}): {}{}", out.stdout, out.stderr))?;
    let text = report.to_string();
    let mut open = Vec::new();
    collect_open(&report, &mut open);
    if open.is_empty() && !text.contains("open") {
        return Err(format!("no predictions in check's report: {text}").into());
    }
    Ok(open)
}

fn collect_open(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if map.get("filter") == Some(&Value::from("open")) {
                out.push(v.to_string());
            }
            map.values().for_each(|x| collect_open(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| collect_open(x, out)),
        _ => {}
    }
}

fn the_result_closes_more_than_dockers_default() -> TestResult {
    let scratch = Scratch::new("harden-more");
    let hardened = harden(&["/bin/sh", "-c", "echo $(echo sub)"], &scratch)?;
    drop(hardened);
    let written = scratch.path().join("hardened.json").display().to_string();
    let docker = common::needs::docker_default().display().to_string();
    let (before, after) = (open_routes(&docker)?, open_routes(&written)?);
    if after.len() >= before.len() {
        return Err(format!(
            "{} open predictions under the hardened profile, {} under Docker's",
            after.len(),
            before.len()
        )
        .into());
    }
    Ok(())
}

fn usage_errors() -> TestResult {
    let out = breakout(&["harden", "--write-profile", "/tmp/x.json"]);
    if out.code != 2 || !out.stderr.contains("needs the workload") {
        return Err(format!("exit {}: {}", out.code, out.stderr).into());
    }
    let out = breakout(&["harden", "--workload", "--", "/bin/true"]);
    if out.code != 2 || !out.stderr.contains("--write-profile") {
        return Err(format!("exit {}: {}", out.code, out.stderr).into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut host = Host::default();
    let trials: Vec<Trial> = vec![
        host.trial(
            "a_forking_workload_keeps_clone_and_one_that_does_not_loses_it",
            RUNC,
            a_forking_workload_keeps_clone_and_one_that_does_not_loses_it,
        ),
        host.trial(
            "the_result_closes_more_than_dockers_default",
            RUNC,
            the_result_closes_more_than_dockers_default,
        ),
        host.trial("usage_errors", NOTHING, usage_errors),
    ];
    libtest_mimic::run(&args, trials).exit();
}
