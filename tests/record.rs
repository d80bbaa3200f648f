//! `breakout record`: a workload's calls traced under runc, written as a deny-by-default
//! profile, then the probes and the workload run under it. The profile works for what
//! was recorded and not for what was not (a job that forks, under the profile of one
//! that does not), recordings merge, and the result closes more escape routes than
//! Docker's default.

mod common;

use common::needs::{Host, Need, NOTHING, RUNC};
use common::*;
use libtest_mimic::{Arguments, Trial};
use serde_json::Value;

const FORKS: &[&str] = &["/bin/sh", "-c", "echo $(echo from-a-child)"];
const LISTS: &[&str] = &["/bin/ls", "/"];

/// Records `command` into `file` (joined with what is there under `--merge`), with the
/// verifying run unless `verify` is false: the output.
fn record(file: &str, command: &[&str], extra: &[&str], verify: bool) -> Outcome {
    let mut args = vec!["record", "--runtime", "runc", "--write-profile", file];
    if !verify {
        args.push("--no-verify");
    }
    args.extend(["--probe", "namespace.*", "--workload"]);
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    breakout(&args)
}

/// Whether `command` works as the workload under `profile`.
fn works_under(profile: &str, command: &[&str]) -> Result<bool, libtest_mimic::Failed> {
    let mut args = vec![
        "--profile",
        profile,
        "--probe",
        "namespace.unshare-user",
        "--workload",
        "--",
    ];
    args.extend_from_slice(command);
    let (_, report) = run_json(&args)?;
    Ok(report["runs"][0]["workload"]["status"] == "works")
}

fn open_count(profile: &str) -> Result<usize, libtest_mimic::Failed> {
    let out = breakout(&["check", profile, "--format", "json"]);
    let report: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| format!("check's JSON ({e}): {}{}", out.stdout, out.stderr))?;
    Ok(report.to_string().matches("\"filter\":\"open\"").count())
}

fn a_recorded_job_works_under_its_profile_and_closes_more_than_docker() -> TestResult {
    let scratch = Scratch::new("record");
    let file = scratch.path().join("forks.json").display().to_string();
    let out = record(&file, FORKS, &[], true);
    if out.code > 1 || !out.stdout.contains("workload under runc: works") {
        return Err(format!("exit {}: {}{}", out.code, out.stdout, out.stderr).into());
    }
    if !out.stdout.contains("what a recording cannot know") {
        return Err(format!("the limits are not said: {}", out.stdout).into());
    }
    let profile: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    if profile["defaultAction"] != "SCMP_ACT_ERRNO" {
        return Err(format!("not deny-by-default: {profile:#}").into());
    }
    // The job forks through clone without namespace flags: clone is allowed only so.
    let clone_rule = profile["syscalls"]
        .as_array()
        .and_then(|rules| {
            rules
                .iter()
                .find(|r| r["names"] == serde_json::json!(["clone"]))
        })
        .ok_or_else(|| format!("no clone rule: {profile:#}"))?;
    if clone_rule["args"][0]["op"] != "SCMP_CMP_MASKED_EQ" {
        return Err(format!("clone's rule: {clone_rule:#}").into());
    }
    let docker = common::needs::docker_default().display().to_string();
    let (recorded, dockers) = (open_count(&file)?, open_count(&docker)?);
    if recorded >= dockers {
        return Err(format!(
            "{recorded} open predictions under the recording, {dockers} under Docker's"
        )
        .into());
    }
    Ok(())
}

/// A profile recorded for a job that never forks does not run one that does; joined
/// with a recording of that one, it runs both.
fn recordings_merge_and_what_was_not_recorded_fails() -> TestResult {
    let scratch = Scratch::new("record-merge");
    let file = scratch.path().join("both.json").display().to_string();
    record(&file, LISTS, &[], false).expect_code(0)?;
    if !works_under(&file, LISTS)? {
        return Err("the recorded job does not work under its own profile".into());
    }
    if works_under(&file, FORKS)? {
        return Err("a job that forks works under a profile recorded without a fork".into());
    }
    record(&file, FORKS, &["--merge"], false).expect_code(0)?;
    for command in [LISTS, FORKS] {
        if !works_under(&file, command)? {
            return Err(format!("{command:?} does not work under the merged profile").into());
        }
    }
    Ok(())
}

/// A service and its check: the check's calls are recorded too, and the service
/// answers it under the profile.
fn a_recorded_service_answers_its_check() -> TestResult {
    let scratch = Scratch::new("record-service");
    let file = scratch.path().join("server.json").display().to_string();
    let server = [
        "/bin/sh",
        "-c",
        "mkdir -p /tmp/www && echo up > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /tmp/www",
    ];
    let out = record(
        &file,
        &server,
        &[
            "--workload-deadline",
            "3",
            "--workload-check",
            "busybox wget -q -O- http://127.0.0.1:8080/",
        ],
        true,
    );
    if !out.stdout.contains("workload under runc: works (service)") {
        return Err(format!("exit {}: {}{}", out.code, out.stdout, out.stderr).into());
    }
    if !out.stdout.contains("socket families: 0x2") {
        return Err(format!("socket is not limited to AF_INET: {}", out.stdout).into());
    }
    Ok(())
}

/// Each job of the test rootfs (one that exits, one that execs a helper, one that
/// forks) works under the profile recorded for it.
fn each_job_works_under_its_recording() -> TestResult {
    let scratch = Scratch::new("record-jobs");
    let jobs: [&[&str]; 3] = [
        &["/bin/sh", "-c", "echo done"],
        &["/bin/sh", "-c", "/bin/ls / > /dev/null; echo listed"],
        FORKS,
    ];
    for (n, job) in jobs.iter().enumerate() {
        let file = scratch
            .path()
            .join(format!("job{n}.json"))
            .display()
            .to_string();
        record(&file, job, &[], false).expect_code(0)?;
        if !works_under(&file, job)? {
            return Err(format!("{job:?} does not work under its own recording").into());
        }
    }
    Ok(())
}

/// Under gVisor the application talks to gVisor's kernel: gVisor's own --strace
/// records it, and the job works under the profile written from it.
fn gvisor_records_with_its_own_strace() -> TestResult {
    let scratch = Scratch::new("record-gvisor");
    let file = scratch.path().join("gvisor.json").display().to_string();
    let out = breakout(&[
        "record",
        "--runtime",
        "runsc-oci",
        "--write-profile",
        &file,
        "--probe",
        "spawn.fork",
        "--workload",
        "--",
        FORKS[0],
        FORKS[1],
        FORKS[2],
    ]);
    if !out.stderr.contains("gVisor's --strace")
        || !out.stdout.contains("workload under runsc-oci: works")
    {
        return Err(format!("exit {}: {}{}", out.code, out.stdout, out.stderr).into());
    }
    let profile: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    let allowed = profile["syscalls"][0]["names"].to_string();
    if !allowed.contains("\"wait4\"") || !profile.to_string().contains("SCMP_CMP_MASKED_EQ") {
        return Err(format!("the profile: {profile:#}").into());
    }
    Ok(())
}

fn usage_errors() -> TestResult {
    for (args, needle) in [
        (
            vec!["record", "--write-profile", "/tmp/x.json"],
            "needs the workload",
        ),
        (
            vec![
                "record",
                "--write-profile",
                "/tmp/x.json",
                "--profile",
                "a.json",
                "--workload",
                "--",
                "/bin/true",
            ],
            "leave out --profile",
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
        host.trial(
            "a_recorded_job_works_under_its_profile_and_closes_more_than_docker",
            RUNC,
            a_recorded_job_works_under_its_profile_and_closes_more_than_docker,
        ),
        host.trial(
            "recordings_merge_and_what_was_not_recorded_fails",
            RUNC,
            recordings_merge_and_what_was_not_recorded_fails,
        ),
        host.trial(
            "a_recorded_service_answers_its_check",
            RUNC,
            a_recorded_service_answers_its_check,
        ),
        host.trial(
            "each_job_works_under_its_recording",
            RUNC,
            each_job_works_under_its_recording,
        ),
        host.trial(
            "gvisor_records_with_its_own_strace",
            &[Need::Root, Need::Runtime("runsc"), Need::Busybox],
            gvisor_records_with_its_own_strace,
        ),
        host.trial("usage_errors", NOTHING, usage_errors),
    ];
    libtest_mimic::run(&args, trials).exit();
}
