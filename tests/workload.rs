//! The workload beside the probes (`run --workload`, `workload` in a scenario): jobs
//! and a service built from the test rootfs, each working without a filter and failing
//! under a profile that breaks it, with the call and the profile line named where the
//! filter stopped it; and the usage errors.

mod common;

use common::needs::{Host, NOTHING, RUNC};
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

/// A job that exits 0.
const JOB: &[&str] = &["/bin/sh", "-c", "echo done"];
/// A job that forks (a command substitution runs in a child).
const FORKS: &[&str] = &["/bin/sh", "-c", "echo $(echo from-a-child)"];
/// A job that execs a helper binary of the image.
const EXECS: &[&str] = &["/bin/sh", "-c", "/bin/ls /"];
/// A small server answering on a port inside the container's own network namespace.
const SERVER: &[&str] = &[
    "/bin/sh",
    "-c",
    "mkdir -p /tmp/www && echo up > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /tmp/www",
];
const SERVER_CHECK: &str = "busybox wget -q -O- http://127.0.0.1:8080/";

fn seed(name: &str) -> String {
    repo()
        .join("scenarios/profiles")
        .join(name)
        .display()
        .to_string()
}

/// Runs `command` as the workload (with `extra` flags) and returns the exit code and
/// the workload's report of the first run.
fn workload(extra: &[&str], check: Option<&str>, command: &[&str]) -> Result<(i32, Value), Failed> {
    // A probe no setting here lets escape: the exit code is the workload's to decide.
    let mut args: Vec<&str> = vec!["--probe", "fs.sysfs", "--workload"];
    if !extra.contains(&"--workload-deadline") {
        args.extend(["--workload-deadline", "15"]);
    }
    args.extend_from_slice(extra);
    if let Some(check) = check {
        args.extend(["--workload-check", check]);
    }
    args.push("--");
    args.extend_from_slice(command);
    let (out, report) = run_json(&args)?;
    let w = report["runs"][0]["workload"].clone();
    if w.is_null() {
        return Err(format!("no workload in the report: {report:#}").into());
    }
    Ok((out.code, w))
}

fn expect_status(w: &Value, status: &str, what: &str) -> TestResult {
    if w["status"] != status {
        return Err(format!("{what}: expected {status}: {w:#}").into());
    }
    Ok(())
}

/// Each workload works without a filter; its output's end is in the report.
fn workloads_work_unconfined() -> TestResult {
    for (command, check, says) in [
        (JOB, None, "done"),
        (FORKS, None, "from-a-child"),
        (EXECS, None, ""),
        (SERVER, Some(SERVER_CHECK), ""),
    ] {
        let (code, w) = workload(&[], check, command)?;
        expect_status(&w, "works", &command.join(" "))?;
        if code != 0 {
            return Err(format!("{command:?} works, nothing escaped, but exit {code}").into());
        }
        if !w["stdout_tail"].as_str().unwrap_or("").contains(says) {
            return Err(format!("{command:?}: output {:?}", w["stdout_tail"]).into());
        }
    }
    let (_, w) = workload(&[], Some(SERVER_CHECK), SERVER)?;
    if w["kind"] != "service" || w["check_output"] != "up" {
        return Err(format!("the service's check: {w:#}").into());
    }
    Ok(())
}

/// Under the seed's profile runc cannot exec the workload at all: the report names
/// execve and the line of the rule that denies it, and the run fails (exit 1).
fn seed_profile_stops_the_start_with_its_line() -> TestResult {
    let profile = seed("seed.json");
    let (code, w) = workload(&["--profile", &profile], None, JOB)?;
    expect_status(&w, "fails", "under the seed")?;
    let stopped = w["stopped"].as_array().cloned().unwrap_or_default();
    let execve = stopped
        .iter()
        .find(|s| s["syscall"] == "execve")
        .ok_or_else(|| format!("execve is not named: {w:#}"))?;
    if execve["place"]["line"] != 4
        || !execve["rule"]
            .as_str()
            .unwrap_or("")
            .contains("syscalls[0]")
    {
        return Err(format!("execve's rule and line: {execve:#}").into());
    }
    if code != 1 {
        return Err(format!("a failing workload exits 1, got {code}").into());
    }
    Ok(())
}

/// The seed without its execve rule starts: the job that forks fails (fork and clone
/// denied), the one that only execs works. A job past its deadline fails too.
fn a_profile_breaks_only_what_needs_its_calls() -> TestResult {
    let profile = seed("seed-minus-execve.json");
    let (_, w) = workload(&["--profile", &profile], None, FORKS)?;
    expect_status(&w, "fails", "fork under seed-minus-execve")?;
    if !w["stderr_tail"].as_str().unwrap_or("").contains("fork") {
        return Err(format!("the shell's complaint is not kept: {w:#}").into());
    }
    // The traced re-run names the call the filter stopped, and the rule's line.
    let stopped = w["stopped"].as_array().cloned().unwrap_or_default();
    let clone = stopped
        .iter()
        .find(|s| s["syscall"] == "clone" && s["found_by"] == "traced-rerun")
        .ok_or_else(|| format!("clone is not named: {w:#}"))?;
    if clone["place"]["line"] != 4 || clone["action"] != "errno(EPERM)" {
        return Err(format!("clone's rule and line: {clone:#}").into());
    }
    let (_, w) = workload(&["--profile", &profile], None, EXECS)?;
    expect_status(&w, "works", "exec under seed-minus-execve")?;
    let (_, w) = workload(
        &["--workload-deadline", "1"],
        None,
        &["/bin/sh", "-c", "read x"],
    )?;
    expect_status(&w, "fails", "a job past its deadline")?;
    if !w["why"].as_str().unwrap_or("").contains("still running") {
        return Err(format!("{w:#}").into());
    }
    Ok(())
}

/// A service whose check never passes fails by its deadline, with the check's words.
fn a_service_that_does_not_answer_fails() -> TestResult {
    let (_, w) = workload(
        &["--workload-deadline", "2"],
        Some("busybox wget -q -O- http://127.0.0.1:9/"),
        SERVER,
    )?;
    expect_status(&w, "fails", "a check on a closed port")?;
    if w["check_runs"].as_u64().unwrap_or(0) < 2 || w["check_output"] == "" {
        return Err(format!("{w:#}").into());
    }
    Ok(())
}

/// A scenario's workload is judged with its probes: the expectation decides the trial.
fn scenario_judges_the_workload() -> TestResult {
    let dir = Scratch::new("workload-scenario");
    let write = |expect: &str| -> TestResult {
        let text = serde_json::json!({
            "name": "forks",
            "runtimes": ["runc"],
            "profile": seed("seed-minus-execve.json"),
            "probes": ["spawn.fork"],
            "workload": {"command": FORKS, "expect": expect}
        });
        std::fs::write(dir.path().join("forks.json"), text.to_string())?;
        Ok(())
    };
    let path = dir.path().display().to_string();
    write("fails")?;
    let out = breakout(&["test", &path]);
    out.expect_code(0)?;
    write("works")?;
    let out = breakout(&["test", &path]);
    if out.code != 1 || !out.stdout.contains("expected it works") {
        return Err(format!("exit {}: {}{}", out.code, out.stdout, out.stderr).into());
    }
    // A misspelt expectation is refused where it is written.
    std::fs::write(
        dir.path().join("forks.json"),
        r#"{"runtimes": ["runc"], "workload": {"command": ["/bin/true"], "expect": "work"}}"#,
    )?;
    let out = breakout(&["test", &path]);
    if out.code != 2 || !out.stderr.contains("forks.json:1:") {
        return Err(format!("exit {}: {}", out.code, out.stderr).into());
    }
    Ok(())
}

/// Usage errors: exit 2 with the reason, nothing started.
fn usage_errors() -> TestResult {
    for (args, needle) in [
        (vec!["run", "--workload"], "--workload needs a command"),
        (vec!["run", "--", "/bin/true"], "add --workload"),
        (
            vec![
                "run",
                "--workload",
                "--workload-check",
                "wget 'x",
                "--",
                "/bin/true",
            ],
            "quote it",
        ),
    ] {
        let out = breakout(&args);
        if out.code != 2 || !out.stderr.contains(needle) {
            return Err(format!("{args:?}: exit {}: {}", out.code, out.stderr).into());
        }
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut host = Host::default();
    let trials: Vec<Trial> = vec![
        host.trial("workloads_work_unconfined", RUNC, workloads_work_unconfined),
        host.trial(
            "seed_profile_stops_the_start_with_its_line",
            RUNC,
            seed_profile_stops_the_start_with_its_line,
        ),
        host.trial(
            "a_profile_breaks_only_what_needs_its_calls",
            RUNC,
            a_profile_breaks_only_what_needs_its_calls,
        ),
        host.trial(
            "a_service_that_does_not_answer_fails",
            RUNC,
            a_service_that_does_not_answer_fails,
        ),
        host.trial(
            "scenario_judges_the_workload",
            RUNC,
            scenario_judges_the_workload,
        ),
        host.trial("usage_errors", NOTHING, usage_errors),
    ];
    libtest_mimic::run(&args, trials).exit();
}
