//! Runtimes side by side: every driver started for real, `compare` and its
//! explanations, start-failure triage, bridge networking, custom runtime specs, doctor.
//!
//! A runtime that is not installed (or cannot start containers on this host, as crun
//! on a hybrid cgroup layout) makes the trials that need it ignored, with the reason
//! printed; CI installs and prepares all of them.

mod common;

use common::*;
use libtest_mimic::{Arguments, Trial};
use serde_json::{json, Value};

/// The run of `runtime` in a report.
fn run_of<'a>(report: &'a Value, runtime: &str) -> Result<&'a Value, libtest_mimic::Failed> {
    report["runs"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["runtime"]["name"] == runtime))
        .ok_or_else(|| format!("no run for {runtime} in {report:#}").into())
}

fn verdict_in<'a>(run: &'a Value, step: &str) -> Result<&'a Value, libtest_mimic::Failed> {
    run["verdicts"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["probe"] == step))
        .ok_or_else(|| format!("no verdict for {step} in {run:#}").into())
}

fn expect_in(run: &Value, step: &str, outcome: &str, mechanism: Option<&str>) -> TestResult {
    let v = verdict_in(run, step)?;
    if v["outcome"] != outcome || (mechanism.is_some() && v["mechanism"].as_str() != mechanism) {
        return Err(format!(
            "{} {step}: expected {outcome} {mechanism:?}, got {} {} ({})",
            run["runtime"]["name"], v["outcome"], v["mechanism"], v["detail"]
        )
        .into());
    }
    Ok(())
}

fn divergence<'a>(report: &'a Value, step: &str) -> Option<&'a Value> {
    report["divergences"]
        .as_array()?
        .iter()
        .find(|d| d["step"] == step)
}

/// Each driver starts a container for real and runs a probe in it.
fn each_driver_runs(runtime: &'static str) -> impl Fn() -> TestResult {
    move || {
        let (out, report) = run_json(&["--runtime", runtime, "--probe", "spawn.fork"])?;
        out.expect_code(1)?;
        let run = run_of(&report, runtime)?;
        assert_eq!(run["start"]["status"], "started", "{run}");
        expect_in(run, "spawn.fork", "escaped", None)?;
        let version = run["runtime"]["version"].as_str().unwrap_or("");
        assert!(version.len() > 3, "{run}");
        // docker's CLI and engine have versions of their own: both are named.
        if runtime == "docker" {
            assert!(version.contains("; engine "), "{version}");
        }
        Ok(())
    }
}

/// An engine's container in the host's namespaces, without a memory limit, and its
/// control: the defaults keep each private and limited. The engine's container is not
/// below our process, so these stay the runner's word (`reported`).
fn engine_shares_the_host(runtime: &'static str) -> impl Fn() -> TestResult {
    move || {
        let probes = [
            "--probe",
            "host.pid-namespace",
            "--probe",
            "host.ipc-namespace",
            "--probe",
            "host.uts-namespace",
            "--probe",
            "host.memory",
        ];
        let mut args = vec!["--runtime", runtime];
        args.extend(probes);
        let (out, report) = run_json(&args)?;
        out.expect_code(0)?;
        let run = run_of(&report, runtime)?;
        for probe in [
            "host.pid-namespace",
            "host.ipc-namespace",
            "host.uts-namespace",
        ] {
            expect_in(run, probe, "blocked", Some("private-namespace"))?;
        }
        expect_in(run, "host.memory", "blocked", Some("memory-limit"))?;
        let mut args = vec![
            "--runtime",
            runtime,
            "--pid",
            "host",
            "--ipc",
            "host",
            "--uts",
            "host",
            "--memory",
            "0",
        ];
        args.extend(probes);
        let (out, report) = run_json(&args)?;
        out.expect_code(1)?;
        let run = run_of(&report, runtime)?;
        for probe in [
            "host.pid-namespace",
            "host.ipc-namespace",
            "host.uts-namespace",
            "host.memory",
        ] {
            expect_in(run, probe, "escaped", None)?;
        }
        Ok(())
    }
}

/// A profile denying fork, clone, clone3 and execveat: runsc (no --oci-seccomp) ignores
/// it, so it diverges from runc and runsc-oci on the spawn probes, and says why.
fn compare_names_the_oci_seccomp_quirk() -> TestResult {
    let scratch = Scratch::new("cmp");
    let path = write_profile(
        scratch.path(),
        "no-fork.json",
        &json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["fork", "clone", "clone3", "execveat"], "action": "SCMP_ACT_ERRNO"}]
        }),
    );
    let out = breakout(&[
        "compare",
        "--format",
        "json",
        "--profile",
        &path,
        "--runtime",
        "runc,runsc,runsc-oci",
        "--probe",
        "spawn.fork",
        "--probe",
        "spawn.clone",
        "--probe",
        "spawn.vfork",
    ]);
    out.expect_code(1)?;
    let report = out.json()?;
    for rt in ["runc", "runsc-oci"] {
        let run = run_of(&report, rt)?;
        expect_in(run, "spawn.fork", "blocked", Some("EPERM"))?;
        expect_in(run, "spawn.clone", "blocked", Some("EPERM"))?;
    }
    let runsc = run_of(&report, "runsc")?;
    expect_in(runsc, "spawn.fork", "escaped", None)?;
    expect_in(runsc, "spawn.clone", "escaped", None)?;
    for step in ["spawn.fork", "spawn.clone"] {
        let d = divergence(&report, step).ok_or(format!("{step} should diverge"))?;
        let why = d["explanation"].as_str().unwrap_or_default();
        assert!(
            why.contains("runsc ignores the profile") && why.contains("--oci-seccomp"),
            "{why}"
        );
    }
    // vfork is not in the list: every runtime lets it through, no divergence.
    assert!(divergence(&report, "spawn.vfork").is_none(), "{report:#}");
    // The table marks the same divergences.
    let table = breakout(&[
        "compare",
        "--profile",
        &path,
        "--runtime",
        "runc,runsc,runsc-oci",
        "--probe",
        "spawn.fork",
    ]);
    assert!(
        table.stdout.contains("where the runtimes differ"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("<> spawn.fork: runsc ignores the profile"),
        "{}",
        table.stdout
    );
    Ok(())
}

/// The seed's profile: runc and crun cannot start and triage names execve; runsc-oci
/// starts and blocks exec.execve.
fn seed_profile_triage_names_execve(runtimes: &'static str) -> impl Fn() -> TestResult {
    move || {
        let out = breakout(&[
            "compare",
            "--format",
            "json",
            "--profile",
            &profile("seed.json"),
            "--runtime",
            runtimes,
            "--probe",
            "exec.execve",
        ]);
        // runsc-oci blocks everything here; the start failures make it 4.
        out.expect_code(4)?;
        let report = out.json()?;
        for rt in runtimes.split(',').filter(|r| *r != "runsc-oci") {
            let run = run_of(&report, rt)?;
            assert_eq!(run["start"]["status"], "failed-to-start", "{run}");
            assert_eq!(run["triage"]["needed"], json!(["execve"]), "{run}");
            expect_in(run, "exec.execve", "not-run", Some("start-failure"))?;
        }
        let oci = run_of(&report, "runsc-oci")?;
        assert_eq!(oci["start"]["status"], "started");
        expect_in(oci, "exec.execve", "blocked", Some("EPERM"))?;
        let d = divergence(&report, "exec.execve").ok_or("exec.execve should diverge")?;
        let why = d["explanation"].as_str().unwrap_or_default();
        assert!(why.contains("cannot start: needs execve"), "{why}");
        assert!(
            why.contains("runsc-oci applies the filter after its own start"),
            "{why}"
        );
        Ok(())
    }
}

/// errnoRet: runc answers with the profile's errno, runsc-oci with EPERM.
fn errno_ret_divergence_is_explained() -> TestResult {
    let scratch = Scratch::new("errno");
    let path = write_profile(
        scratch.path(),
        "eacces-fork.json",
        &json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["fork"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        }),
    );
    let out = breakout(&[
        "compare",
        "--format",
        "json",
        "--profile",
        &path,
        "--runtime",
        "runc,runsc-oci",
        "--probe",
        "spawn.fork",
    ]);
    out.expect_code(0)?;
    let report = out.json()?;
    expect_in(
        run_of(&report, "runc")?,
        "spawn.fork",
        "blocked",
        Some("EACCES"),
    )?;
    expect_in(
        run_of(&report, "runsc-oci")?,
        "spawn.fork",
        "blocked",
        Some("EPERM"),
    )?;
    let d = divergence(&report, "spawn.fork").ok_or("spawn.fork should diverge")?;
    assert!(
        d["explanation"]
            .as_str()
            .unwrap_or_default()
            .contains("runsc-oci ignores errnoRet"),
        "{d}"
    );
    Ok(())
}

/// Bridge networking, the default as with `docker run`: the canary in a namespace of
/// its own is reached (witnessed), by default and when asked for; `--network none`
/// blocks it; the report names the network. (That docker's keeper container is gone
/// afterwards is checked once all trials have run, in `main`.)
fn bridge_network(runtime: &'static str) -> impl Fn() -> TestResult {
    move || {
        for network in [None, Some("bridge")] {
            let mut args = vec!["--runtime", runtime, "--probe", "net.tcp-connect"];
            args.extend(network.iter().flat_map(|n| ["--network", *n]));
            let (out, report) = run_json(&args)?;
            out.expect_code(1)?;
            let run = run_of(&report, runtime)?;
            expect_in(run, "net.tcp-connect", "escaped", None)?;
            assert_eq!(verdict_in(run, "net.tcp-connect")?["evidence"], "witnessed");
            assert_eq!(report["subject"]["settings"]["network"], "bridge");
            let said = report["subject"]["network"].as_str().unwrap_or_default();
            assert!(said.starts_with("bridge: "), "{said}");
        }
        let (out, report) = run_json(&[
            "--runtime",
            runtime,
            "--network",
            "none",
            "--probe",
            "net.tcp-connect",
        ])?;
        out.expect_code(0)?;
        expect_in(
            run_of(&report, runtime)?,
            "net.tcp-connect",
            "blocked",
            None,
        )?;
        assert!(report["subject"]["network"]
            .as_str()
            .unwrap_or_default()
            .starts_with("none: "));
        Ok(())
    }
}

/// kill -9 of a harness whose docker run is on the default bridge, while its probe
/// container hangs: the reaper removes both containers the run's ledger names, the
/// keeper that holds the network namespace and the probe's.
fn docker_keeper_goes_with_a_killed_harness() -> TestResult {
    let ledger = Scratch::new("keeper-ledger");
    let mut run = Background::start_with_env(
        &[
            "run",
            "--runtime",
            "docker",
            "--probe",
            "spawn.fork",
            "--inject-fault",
            "hang@spawn.fork",
            "--timeout",
            "300",
        ],
        &[(breakout::ledger::LEDGER_ENV, ledger.path())],
    );
    let pid = run.pid();
    let containers = |ledger: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(ledger)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|t| serde_json::from_slice::<breakout::ledger::Record>(&t).ok())
            .find(|r| r.pid == pid)
            .map(|r| r.containers)
            .unwrap_or_default()
    };
    let running = |id: &str| -> bool {
        std::process::Command::new("docker")
            .args(["ps", "--quiet", "--filter", &format!("name=^/{id}$")])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    };
    // The keeper and the probe container, both running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let ids = loop {
        let ids = containers(ledger.path());
        if ids.len() >= 2 && ids.iter().all(|id| running(id)) {
            break ids;
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("the run never had its keeper and probe running: {ids:?}").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(ids.iter().any(|id| id.ends_with("-net")), "{ids:?}");
    run.kill9();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let exists = |id: &str| -> bool {
        std::process::Command::new("docker")
            .args([
                "ps",
                "--all",
                "--quiet",
                "--filter",
                &format!("name=^/{id}$"),
            ])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    };
    while ids.iter().any(|id| exists(id)) {
        if std::time::Instant::now() > deadline {
            let left: Vec<&String> = ids.iter().filter(|id| exists(id)).collect();
            return Err(format!("left behind after kill -9: {left:?}").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Ok(())
}

/// Containers and images named by breakout that the engine still holds.
fn breakout_docker_leftovers() -> Vec<String> {
    let list = |args: &[&str]| -> Vec<String> {
        std::process::Command::new("docker")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| l.starts_with("breakout-"))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut left = list(&["ps", "--all", "--format", "{{.Names}}"]);
    left.extend(list(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    left
}

/// `NAME=PATH[,FLAG...]` names a binary of a known family; bad ones exit 2.
fn custom_runtime_specs() -> TestResult {
    let runc = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("runc"))
        .find(|p| p.is_file())
        .ok_or("runc not in PATH")?;
    let spec = format!("mine={}", runc.display());
    let (out, report) = run_json(&["--runtime", &spec, "--probe", "spawn.fork"])?;
    out.expect_code(1)?;
    let run = run_of(&report, "mine")?;
    assert_eq!(run["runtime"]["binary"], runc.display().to_string());
    let bad = breakout(&["run", "--runtime", "mine=/nonexistent/runc"]);
    bad.expect_code(2)?;
    assert!(bad.stderr.contains("/nonexistent/runc"), "{}", bad.stderr);
    let unknown = breakout(&["run", "--runtime", "kata=/bin/true"]);
    unknown.expect_code(2)?;
    assert!(unknown.stderr.contains("family"), "{}", unknown.stderr);
    let typo = breakout(&["run", "--runtime", "runcc"]);
    typo.expect_code(2)?;
    Ok(())
}

/// doctor lists the runtimes with versions and says what will be skipped.
fn doctor_reports_the_host() -> TestResult {
    let out = breakout(&["doctor", "--format", "json"]);
    out.expect_code(0)?;
    let found = out.json()?;
    assert_eq!(found["root"], true);
    let runc = found["runtimes"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "runc"))
        .ok_or("runc missing from doctor")?;
    assert_eq!(runc["installed"], true);
    assert!(runc["version"].as_str().unwrap_or("").contains("runc"));
    assert!(found["architectures"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    let table = breakout(&["doctor"]);
    assert!(table.stdout.contains("runtimes"), "{}", table.stdout);
    Ok(())
}

const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

/// Podman resolves its own default profile; ours must agree with it, probe by probe.
fn podman_profile_cross_check() -> TestResult {
    let out = breakout(&[
        "compare",
        "--format",
        "json",
        "--profile",
        PODMAN_PROFILE,
        "--runtime",
        "runc,podman",
        "--probe",
        "namespace.*",
        "--probe",
        "spawn.fork",
        "--probe",
        "kernel.bpf",
        "--probe",
        "kernel.keyctl",
    ]);
    out.expect_code(1)?;
    let report = out.json()?;
    let divergences = report["divergences"].as_array().map_or(0, Vec::len);
    assert_eq!(
        divergences, 0,
        "our resolution differs from podman's: {:#}",
        report["divergences"]
    );
    for rt in ["runc", "podman"] {
        let run = run_of(&report, rt)?;
        // Podman's default, unlike Docker's, lets a user namespace be made.
        expect_in(run, "namespace.clone-newuser", "escaped", None)?;
        expect_in(run, "namespace.setns", "blocked", Some("EPERM"))?;
        expect_in(run, "kernel.bpf", "blocked", Some("EPERM"))?;
        expect_in(run, "spawn.fork", "escaped", None)?;
    }
    Ok(())
}

/// Through podman too, the seed's profile stops the start, and triage names execve.
fn podman_seed_triage() -> TestResult {
    let (out, report) = run_json(&[
        "--runtime",
        "podman",
        "--profile",
        &profile("seed.json"),
        "--probe",
        "exec.execve",
    ])?;
    out.expect_code(4)?;
    let run = run_of(&report, "podman")?;
    assert_eq!(run["start"]["status"], "failed-to-start", "{run}");
    assert!(
        run["start"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("Operation not permitted"),
        "{run}"
    );
    assert_eq!(run["triage"]["needed"], json!(["execve"]), "{run}");
    Ok(())
}

/// The docker CLI with no engine behind it is the host's problem: exit 3, said before
/// anything starts, not a start failure (exit 4), with the CLI's words and their likely
/// cause.
fn docker_without_an_engine_is_exit_3() -> TestResult {
    let scratch = Scratch::new("no-engine");
    let socket = scratch.path().join("nobody.sock").display().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_breakout"))
        .args(["run", "--runtime", "docker", "--probe", "spawn.fork"])
        .env("DOCKER_HOST", format!("unix://{socket}"))
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = [
        "no Docker engine answers",
        "Cannot connect to the Docker daemon",
        &socket,
    ];
    let hint = [
        "likely no dockerd is running, or DOCKER_HOST points elsewhere",
        "ci/private-dockerd.sh",
    ];
    if out.status.code() != Some(3) || !said.iter().chain(&hint).all(|w| stderr.contains(w)) {
        return Err(format!("exit {:?}: {stderr}", out.status.code()).into());
    }
    Ok(())
}

fn runtime_ready(name: &str) -> Result<(), String> {
    if let Some(reason) = container_skip_reason("runc") {
        return Err(reason);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_breakout"))
        .args(["doctor", "--format", "json"])
        .output()
        .map_err(|e| e.to_string())?;
    let found: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let row = found["runtimes"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == name))
        .ok_or(format!("{name} unknown to doctor"))?;
    if row["installed"] != true {
        return Err(format!("{name} is not installed"));
    }
    if let Some(problem) = row["problem"].as_str() {
        return Err(format!("{name} cannot start containers here: {problem}"));
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    // Before the trials ask doctor whether docker is ready.
    let dockerd = PrivateDockerd::start_if_needed();
    let mut trials = Vec::new();
    let mut add = |name: &str, needs: &[&str], f: Box<dyn Fn() -> TestResult + Send + Sync>| {
        let missing: Vec<String> = needs
            .iter()
            .filter_map(|rt| runtime_ready(rt).err())
            .collect();
        if !missing.is_empty() {
            eprintln!("{name} is skipped: {}", missing.join("; "));
        }
        let f = std::sync::Arc::new(f);
        trials.push(Trial::test(name, move || f()).with_ignored_flag(!missing.is_empty()));
    };
    for rt in ["runc", "crun", "runsc", "runsc-oci", "podman", "docker"] {
        add(
            &format!("driver_runs::{rt}"),
            &[rt],
            Box::new(each_driver_runs(rt)),
        );
    }
    for rt in ["podman", "docker"] {
        add(
            &format!("engine_shares_the_host::{rt}"),
            &[rt],
            Box::new(engine_shares_the_host(rt)),
        );
    }
    // Podman's default profile ships with golang-github-containers-common.
    let podman_profile_needs: &[&str] = if std::path::Path::new(PODMAN_PROFILE).is_file() {
        &["runc", "podman"]
    } else {
        eprintln!("podman_profile_cross_check needs {PODMAN_PROFILE} (apt-get install golang-github-containers-common)");
        &["podman-profile"]
    };
    add(
        "podman_profile_cross_check",
        podman_profile_needs,
        Box::new(podman_profile_cross_check),
    );
    add(
        "podman_seed_triage",
        &["podman"],
        Box::new(podman_seed_triage),
    );
    add(
        "compare_names_the_oci_seccomp_quirk",
        &["runc", "runsc", "runsc-oci"],
        Box::new(compare_names_the_oci_seccomp_quirk),
    );
    add(
        "seed_profile_triage_names_execve",
        &["runc", "crun", "runsc-oci"],
        Box::new(seed_profile_triage_names_execve("runc,crun,runsc-oci")),
    );
    add(
        "errno_ret_divergence_is_explained",
        &["runc", "runsc-oci"],
        Box::new(errno_ret_divergence_is_explained),
    );
    for rt in ["runc", "crun", "runsc", "runsc-oci", "podman", "docker"] {
        add(
            &format!("bridge_network::{rt}"),
            &[rt],
            Box::new(bridge_network(rt)),
        );
    }
    add(
        "docker_keeper_goes_with_a_killed_harness",
        &["docker"],
        Box::new(docker_keeper_goes_with_a_killed_harness),
    );
    add(
        "custom_runtime_specs",
        &["runc"],
        Box::new(custom_runtime_specs),
    );
    add(
        "doctor_reports_the_host",
        &["runc"],
        Box::new(doctor_reports_the_host),
    );
    let docker_cli = std::process::Command::new("docker")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    // Not root is said before any runtime is asked whether it can start containers.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !docker_cli {
        eprintln!("docker_without_an_engine_is_exit_3 is skipped: the docker CLI is not installed (apt-get install docker.io)");
    } else if !root {
        eprintln!("docker_without_an_engine_is_exit_3 is skipped: not running as root (containers need root)");
    }
    trials.push(
        Trial::test(
            "docker_without_an_engine_is_exit_3",
            docker_without_an_engine_is_exit_3,
        )
        .with_ignored_flag(!docker_cli || !root),
    );
    let conclusion = libtest_mimic::run(&args, trials);
    // Every docker trial removed what it made: its containers (the bridge's keeper
    // too) and its imported images.
    let left = breakout_docker_leftovers();
    drop(dockerd);
    if !left.is_empty() {
        eprintln!("the docker trials left behind: {left:?}");
        std::process::exit(101);
    }
    conclusion.exit();
}
