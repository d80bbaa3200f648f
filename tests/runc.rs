//! breakout end to end under runc: real containers, real profiles, both controls for
//! every probe, and every verdict the harness prints produced for real.
//!
//! A host without root or runc skips these trials with the reason printed; CI installs
//! what they need so they run there.

mod common;

#[path = "runc/exec_spawn.rs"]
mod exec_spawn;
#[path = "runc/fs_net.rs"]
mod fs_net;
#[path = "runc/kernel_ns_ipc.rs"]
mod kernel_ns_ipc;

use common::*;
use libtest_mimic::{Arguments, Trial};
use serde_json::json;

const ALL_STEPS_WITH_MOUNTS: &[&str] = &[
    "exec.execve",
    "exec.execveat",
    "exec.shell",
    "spawn.fork",
    "spawn.vfork",
    "spawn.clone",
    "spawn.clone3",
    "fs.write-rootfs",
    "fs.write-mount@/data",
    "fs.write-mount@/scratch",
    "fs.exec-mount@/data",
    "fs.exec-mount@/scratch",
    "net.tcp-connect",
];

/// No profile, host network, a writable volume and an exec tmpfs: every probe escapes,
/// witnessed from outside wherever the harness can see the effect.
fn no_profile_everything_escapes() -> TestResult {
    let scratch = Scratch::new("vol");
    let vol = scratch.sub("data");
    let volume = format!("{}:/data", vol.display());
    let (out, report) = run_json(&[
        "--network",
        "host",
        "-v",
        &volume,
        "--tmpfs",
        "/scratch:exec",
    ])?;
    out.expect_code(1)?;
    for step in ALL_STEPS_WITH_MOUNTS {
        expect(&report, step, "escaped", None, None)?;
    }
    for step in [
        "exec.execve",
        "exec.execveat",
        "exec.shell",
        "fs.write-rootfs",
        "fs.write-mount@/data",
        "fs.exec-mount@/data",
        "fs.exec-mount@/scratch",
        "net.tcp-connect",
    ] {
        expect(&report, step, "escaped", None, Some("witnessed"))?;
    }
    // A tmpfs cannot be seen from the host: the probe's word is all there is.
    expect(
        &report,
        "fs.write-mount@/scratch",
        "escaped",
        None,
        Some("reported"),
    )?;
    // One container, plus one after each step that handed the process to the image's
    // shell (exec.shell, exec.interpreter on each mount): that container is the
    // image's from then on, and the suite resumes in a new one.
    let handoffs = report["runs"][0]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["image_code"] == true)
        .count();
    assert_eq!(handoffs, 3, "{report:#}");
    assert_eq!(report["runs"][0]["containers"], 1 + handoffs);
    assert_eq!(
        report["subject"]["settings"]["seccomp"],
        serde_json::Value::Null
    );
    assert!(report["subject"]["seccomp"]
        .as_str()
        .unwrap()
        .contains("without a seccomp filter"));
    // The harness removed the markers it witnessed on the bind mount.
    let left: Vec<_> = std::fs::read_dir(&vol).unwrap().collect();
    assert!(left.is_empty(), "markers left on the volume: {left:?}");
    Ok(())
}

/// --read-only --tmpfs /scratch:noexec, as the issue states it.
fn read_only_rootfs_and_noexec_tmpfs() -> TestResult {
    let (out, report) = run_json(&[
        "--read-only",
        "--tmpfs",
        "/scratch:noexec",
        "--probe",
        "fs.*",
        "--probe",
        "net.*",
    ])?;
    out.expect_code(1)?;
    expect(&report, "fs.write-rootfs", "blocked", Some("EROFS"), None)?;
    expect(&report, "fs.write-mount@/scratch", "escaped", None, None)?;
    expect(
        &report,
        "fs.exec-mount@/scratch",
        "blocked",
        Some("EACCES"),
        None,
    )?;
    // The default network is a private namespace: the canary is out of reach.
    expect(
        &report,
        "net.tcp-connect",
        "blocked",
        Some("ECONNREFUSED"),
        None,
    )?;
    Ok(())
}

/// A read-only volume blocks writes; exec there has nothing to try; no mounts at all
/// makes the per-mount probes not applicable.
fn read_only_volume_and_no_mounts() -> TestResult {
    let scratch = Scratch::new("rovol");
    let vol = scratch.sub("data");
    let volume = format!("{}:/data:ro", vol.display());
    let (out, report) = run_json(&["-v", &volume, "--probe", "fs.*"])?;
    out.expect_code(1)?; // fs.write-rootfs escapes
    expect(
        &report,
        "fs.write-mount@/data",
        "blocked",
        Some("EROFS"),
        None,
    )?;
    expect(
        &report,
        "fs.exec-mount@/data",
        "not-applicable",
        Some("EROFS"),
        None,
    )?;

    let (out, report) = run_json(&["--probe", "fs.write-mount", "--probe", "fs.exec-mount"])?;
    out.expect_code(0)?;
    expect(&report, "fs.write-mount", "not-applicable", None, None)?;
    expect(&report, "fs.exec-mount", "not-applicable", None, None)?;
    Ok(())
}

/// The seed's profile denies execve, which runc's own start needs: a start failure
/// with runc's text and exit code 4, never a table of blocks.
fn seed_profile_cannot_start() -> TestResult {
    let (out, report) = run_json(&["--profile", &profile("seed.json")])?;
    out.expect_code(4)?;
    let start = &report["runs"][0]["start"];
    assert_eq!(start["status"], "failed-to-start", "{start}");
    let error = start["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("operation not permitted"),
        "runc's error text should be carried: {error:?}"
    );
    for v in report["runs"][0]["verdicts"].as_array().unwrap() {
        assert_eq!(v["outcome"], "not-run", "{v}");
        assert_eq!(v["mechanism"], "start-failure", "{v}");
    }
    assert_eq!(report["summary"]["blocked"], 0);

    // The table says so in words too.
    let table = breakout(&["run", "--profile", &profile("seed.json")]);
    table.expect_code(4)?;
    assert!(table.stdout.contains("did not start"), "{}", table.stdout);
    assert!(!table.stdout.contains("blocked ("), "{}", table.stdout);
    Ok(())
}

/// The seed's list minus execve: the routes it lists are blocked, the ones it misses
/// (vfork, execve and the shell through execve) escape.
fn seed_minus_execve() -> TestResult {
    let (out, report) = run_json(&["--profile", &profile("seed-minus-execve.json")])?;
    out.expect_code(1)?;
    for step in ["spawn.fork", "spawn.clone", "spawn.clone3", "exec.execveat"] {
        expect(&report, step, "blocked", Some("EPERM"), Some("reported"))?;
    }
    for step in ["spawn.vfork", "exec.execve", "exec.shell"] {
        expect(&report, step, "escaped", None, None)?;
    }
    expect(&report, "exec.execve", "escaped", None, Some("witnessed"))?;
    let spawn = report["runs"][0]["escapes_by_goal"]
        .as_array()
        .and_then(|goals| goals.iter().find(|g| g["goal"] == "spawn"))
        .ok_or("no spawn line in escapes_by_goal")?;
    assert_eq!(spawn["via"], json!(["vfork"]), "{spawn}");
    Ok(())
}

/// Denying every process-creation syscall blocks every spawn route, vfork included,
/// and the container still starts (runc needs none of them after the filter is in).
fn every_spawn_route_denied() -> TestResult {
    let scratch = Scratch::new("spawn");
    let path = write_profile(
        scratch.path(),
        "no-spawn.json",
        &json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["fork", "vfork", "clone", "clone3"], "action": "SCMP_ACT_ERRNO"}]
        }),
    );
    let (out, report) = run_json(&["--profile", &path, "--probe", "spawn.*"])?;
    out.expect_code(0)?;
    for step in ["spawn.fork", "spawn.vfork", "spawn.clone", "spawn.clone3"] {
        expect(&report, step, "blocked", Some("EPERM"), None)?;
    }
    Ok(())
}

/// A probe killed by seccomp (SIGSYS) is blocked, witnessed by the container's death,
/// and the suite resumes in a new container after it.
fn sigsys_kill_is_blocked_and_the_run_resumes() -> TestResult {
    let scratch = Scratch::new("kill");
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL"] {
        let path = write_profile(
            scratch.path(),
            "kill-fork.json",
            &json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["fork"], "action": action}]
            }),
        );
        let (out, report) = run_json(&[
            "--profile",
            &path,
            "--probe",
            "spawn.*fork",
            "--probe",
            "spawn.clone*",
        ])?;
        out.expect_code(1)?;
        expect(
            &report,
            "spawn.fork",
            "blocked",
            Some("SIGSYS"),
            Some("witnessed"),
        )?;
        for step in ["spawn.vfork", "spawn.clone", "spawn.clone3"] {
            expect(&report, step, "escaped", None, None)?;
        }
        // A profile without an architectures list covers x86_64 only: libseccomp kills
        // every i386 call, which costs one more container.
        expect(
            &report,
            "spawn.i386-fork",
            "blocked",
            Some("SIGSYS"),
            Some("witnessed"),
        )?;
        assert_eq!(report["runs"][0]["containers"], 3, "{action}");
    }
    Ok(())
}

/// Exec probes blocked in a container that still starts: the probes exec with a NULL
/// environment pointer, which runc never does, so an argument filter on it denies the
/// probes' execs and not runc's.
fn exec_probes_blocked_by_argument_filter() -> TestResult {
    let scratch = Scratch::new("argfilter");
    let path = write_profile(
        scratch.path(),
        "deny-probe-exec.json",
        &json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["execve"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["execveat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
            ]
        }),
    );
    let (out, report) = run_json(&[
        "--profile",
        &path,
        "--tmpfs",
        "/scratch:exec",
        "--probe",
        "exec.execve*",
        "--probe",
        "exec.shell",
        "--probe",
        "fs.exec-mount",
    ])?;
    out.expect_code(0)?;
    expect(&report, "exec.execve", "blocked", Some("EPERM"), None)?;
    expect(&report, "exec.shell", "blocked", Some("EPERM"), None)?;
    expect(
        &report,
        "fs.exec-mount@/scratch",
        "blocked",
        Some("EPERM"),
        None,
    )?;
    // errnoRet is honoured by runc.
    expect(&report, "exec.execveat", "blocked", Some("EACCES"), None)?;
    Ok(())
}

/// Under a non-root user the rootfs (owned by root) is not writable.
fn non_root_user_cannot_write_rootfs() -> TestResult {
    let (out, report) = run_json(&["--user", "1000:1000", "--probe", "fs.write-rootfs"])?;
    out.expect_code(0)?;
    expect(&report, "fs.write-rootfs", "blocked", Some("EACCES"), None)?;
    Ok(())
}

/// A user's rootfs without a shell: the harness provides one, and the user's directory
/// is untouched afterwards (the run works on an overlay).
fn user_rootfs_gets_a_shell_and_stays_untouched() -> TestResult {
    let scratch = Scratch::new("rootfs");
    let rootfs = scratch.sub("rootfs");
    for dir in ["proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    let before = list_tree(&rootfs);
    let rootfs_arg = rootfs.display().to_string();
    let (out, report) = run_json(&[
        "--rootfs",
        &rootfs_arg,
        "--probe",
        "exec.shell",
        "--probe",
        "fs.write-rootfs",
    ])?;
    out.expect_code(1)?;
    expect(&report, "exec.shell", "escaped", None, Some("witnessed"))?;
    expect(
        &report,
        "fs.write-rootfs",
        "escaped",
        None,
        Some("witnessed"),
    )?;
    assert_eq!(before, list_tree(&rootfs), "the user's rootfs changed");
    Ok(())
}

fn list_tree(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(entry.path().display().to_string());
        if entry.file_type().unwrap().is_dir() {
            out.extend(list_tree(&entry.path()));
        }
    }
    out.sort();
    out
}

/// A probe that hangs becomes `error (timeout)`; the rest of the suite still runs.
fn hung_probe_times_out_and_the_run_goes_on() -> TestResult {
    let (out, report) = run_json(&[
        "--probe",
        "spawn.*",
        "--timeout",
        "3",
        "--inject-fault",
        "hang@spawn.vfork",
    ])?;
    out.expect_code(1)?;
    expect(&report, "spawn.fork", "escaped", None, None)?;
    expect(&report, "spawn.vfork", "error", Some("timeout"), None)?;
    expect(&report, "spawn.clone", "escaped", None, None)?;
    expect(&report, "spawn.clone3", "escaped", None, None)?;
    assert_eq!(report["runs"][0]["containers"], 2);
    Ok(())
}

/// A runner that dies without a verdict makes that step an error, not a block.
fn runner_death_is_an_error() -> TestResult {
    let (out, report) = run_json(&["--probe", "spawn.*", "--inject-fault", "exit@spawn.fork"])?;
    out.expect_code(1)?;
    expect(&report, "spawn.fork", "error", None, None)?;
    expect(&report, "spawn.vfork", "escaped", None, None)?;
    Ok(())
}

/// Malformed, overlong and unplanned lines from the container are reported and ignored.
fn untrusted_lines_are_not_believed() -> TestResult {
    let (out, report) = run_json(&["--probe", "spawn.fork", "--inject-fault", "garbage"])?;
    out.expect_code(1)?;
    expect(&report, "spawn.fork", "escaped", None, None)?;
    let verdicts = report["runs"][0]["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert!(out.stderr.contains("ignored a line"), "{}", out.stderr);
    assert!(out.stderr.contains("overlong"), "{}", out.stderr);
    assert!(out.stderr.contains("not in flight"), "{}", out.stderr);
    Ok(())
}

/// SIGINT mid-run: the container is killed and deleted, the report is written with
/// what did not run, exit 130.
fn interrupt_cleans_up_and_reports() -> TestResult {
    let tmp = Scratch::new("interrupt");
    let report_path = tmp.path().join("report.json");
    let run_tmp = tmp.sub("tmp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_breakout"))
        .args([
            "run",
            "--format",
            "json",
            "--probe",
            "spawn.*",
            "--inject-fault",
            "hang@spawn.clone",
            "--output",
        ])
        .arg(&report_path)
        .env("TMPDIR", &run_tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the container is running (its state dir exists), then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&run_tmp).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "run never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: kill with a pid we spawned and a valid signal number.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_nothing_left(pid, &run_tmp);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    expect(&report, "spawn.fork", "escaped", None, None)?;
    expect(&report, "spawn.clone", "not-run", Some("interrupted"), None)?;
    expect(
        &report,
        "spawn.clone3",
        "not-run",
        Some("interrupted"),
        None,
    )?;
    Ok(())
}

/// The human table: escapes stand out and a summary closes it; --output writes a file.
fn table_and_output_file() -> TestResult {
    let out = breakout(&["run", "--probe", "spawn.fork", "--probe", "fs.write-mount"]);
    out.expect_code(1)?;
    let escaped_line = out
        .stdout
        .lines()
        .find(|l| l.contains("spawn.fork"))
        .unwrap_or_default();
    assert!(escaped_line.starts_with("!!"), "{}", out.stdout);
    assert!(escaped_line.contains("ESCAPED"), "{}", out.stdout);
    assert!(out.stdout.contains("summary: 1 escaped"), "{}", out.stdout);
    assert!(
        out.stdout.contains("spawn: escaped via fork\n"),
        "{}",
        out.stdout
    );
    let tmp = Scratch::new("output");
    let file = tmp.path().join("r.json");
    let file_arg = file.display().to_string();
    let out = breakout(&[
        "run",
        "--probe",
        "spawn.fork",
        "--format",
        "json",
        "-o",
        &file_arg,
    ]);
    out.expect_code(1)?;
    assert!(out.stdout.is_empty());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(report["schema"], "breakout-report/1");
    for key in ["kernel", "arch", "cgroup"] {
        assert!(report["environment"][key].is_string(), "{key}");
    }
    let runtime = &report["runs"][0]["runtime"];
    assert_eq!(runtime["name"], "runc");
    assert!(runtime["version"].as_str().unwrap().contains("runc"));
    assert!(runtime["libseccomp"].is_string(), "{runtime}");
    Ok(())
}

/// The bundle `--emit-bundle` writes runs by hand under runc, and its probes give the
/// verdicts the harness gives for the same settings (the bench times the probes this
/// way, without the harness).
fn emitted_bundle_runs_by_hand() -> TestResult {
    let scratch = Scratch::new("emit");
    let dir = scratch.path().join("bundle");
    let dir_arg = dir.display().to_string();
    let settings = [
        "--cap-drop",
        "ALL",
        "--probe",
        "spawn.*",
        "--probe",
        "fs.write-rootfs",
        "--probe",
        "net.tcp-connect",
        "--probe",
        "exec.execve",
    ];
    let mut args = vec!["run", "--emit-bundle", &dir_arg];
    args.extend(settings);
    let out = breakout(&args);
    out.expect_code(0)?;
    assert!(out.stderr.contains("runc run --bundle"), "{}", out.stderr);
    // A second time into the same, now full, directory: a usage error, nothing touched.
    let again = breakout(&args);
    again.expect_code(2)?;
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
    let state = scratch.path().join("state");
    let id = format!("breakout-test-emit-{}", std::process::id());
    let by_hand = std::process::Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle", &dir_arg, &id])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("runc run: {e}"))?;
    let lines = String::from_utf8_lossy(&by_hand.stdout);
    if !by_hand.status.success() || !lines.contains(r#""event":"done""#) {
        return Err(format!(
            "runc run of the emitted bundle: {:?}\nstdout: {lines}\nstderr: {}",
            by_hand.status,
            String::from_utf8_lossy(&by_hand.stderr)
        )
        .into());
    }
    let mut by_hand_verdicts = std::collections::BTreeMap::new();
    for line in lines.lines() {
        if let Ok(breakout::protocol::Event::Verdict { step, outcome, .. }) =
            breakout::protocol::parse_line(line)
        {
            by_hand_verdicts.insert(step, format!("{outcome:?}").to_lowercase());
        }
    }
    let (_, report) = run_json(&settings)?;
    let harness: std::collections::BTreeMap<String, String> = report["runs"][0]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let step = match v["target"].as_str() {
                Some(t) => format!("{}@{t}", v["probe"].as_str().unwrap()),
                None => v["probe"].as_str().unwrap().to_string(),
            };
            (step, v["outcome"].as_str().unwrap().replace('-', ""))
        })
        .collect();
    if harness.len() < 7 || by_hand_verdicts != harness {
        return Err(format!("by hand: {by_hand_verdicts:?}\nharness: {harness:?}").into());
    }
    Ok(())
}

/// Docker's default profile starts under runc and leaves execve and fork open.
fn docker_default_profile_runs() -> TestResult {
    let path = docker_default().display().to_string();
    let (out, report) = run_json(&["--profile", &path])?;
    out.expect_code(1)?;
    expect(&report, "exec.execve", "escaped", None, Some("witnessed"))?;
    expect(&report, "spawn.fork", "escaped", None, None)?;
    Ok(())
}

fn docker_default() -> std::path::PathBuf {
    repo().join("../shared/profiles/docker-default.json")
}

fn main() {
    let args = Arguments::from_args();
    let skip = container_skip_reason("runc");
    if let Some(reason) = &skip {
        eprintln!("runc container tests are skipped: {reason}");
    }
    type TestFn = fn() -> TestResult;
    let tests: Vec<(&str, TestFn)> = vec![
        (
            "no_profile_everything_escapes",
            no_profile_everything_escapes,
        ),
        (
            "read_only_rootfs_and_noexec_tmpfs",
            read_only_rootfs_and_noexec_tmpfs,
        ),
        (
            "read_only_volume_and_no_mounts",
            read_only_volume_and_no_mounts,
        ),
        ("seed_profile_cannot_start", seed_profile_cannot_start),
        ("seed_minus_execve", seed_minus_execve),
        ("every_spawn_route_denied", every_spawn_route_denied),
        (
            "sigsys_kill_is_blocked_and_the_run_resumes",
            sigsys_kill_is_blocked_and_the_run_resumes,
        ),
        (
            "exec_probes_blocked_by_argument_filter",
            exec_probes_blocked_by_argument_filter,
        ),
        (
            "non_root_user_cannot_write_rootfs",
            non_root_user_cannot_write_rootfs,
        ),
        (
            "user_rootfs_gets_a_shell_and_stays_untouched",
            user_rootfs_gets_a_shell_and_stays_untouched,
        ),
        (
            "hung_probe_times_out_and_the_run_goes_on",
            hung_probe_times_out_and_the_run_goes_on,
        ),
        ("runner_death_is_an_error", runner_death_is_an_error),
        (
            "untrusted_lines_are_not_believed",
            untrusted_lines_are_not_believed,
        ),
        (
            "interrupt_cleans_up_and_reports",
            interrupt_cleans_up_and_reports,
        ),
        ("table_and_output_file", table_and_output_file),
        ("docker_default_profile_runs", docker_default_profile_runs),
        ("emitted_bundle_runs_by_hand", emitted_bundle_runs_by_hand),
    ];
    let mut tests = tests;
    tests.extend(exec_spawn::trials());
    tests.extend(fs_net::trials());
    tests.extend(kernel_ns_ipc::trials());
    let no_docker_profile = !docker_default().is_file();
    if skip.is_none() && no_docker_profile {
        eprintln!(
            "docker_default_profile_runs is skipped: {} is missing",
            docker_default().display()
        );
    }
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            let ignored =
                skip.is_some() || (name == "docker_default_profile_runs" && no_docker_profile);
            Trial::test(name, f).with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
