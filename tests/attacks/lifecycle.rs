//! A harness that dies without cleaning up (kill -9, the OOM killer), and a host that
//! cannot hold a run's state (issue 10, items 10 and 13).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use std::ffi::OsStr;

use crate::common::needs::{Need, RUNC};
use crate::common::*;

use crate::sandbox::{hostile_rootfs, processes_with, wait_for};

/// A run on a bridge network (the harness makes its namespaces itself).
const RUNC_AND_BRIDGE: &[Need] = &[Need::Root, Need::Runtime("runc"), Need::Busybox];

/// Trials of this group.
pub fn trials() -> Trials {
    vec![
        (
            "harness_killed_with_sigkill_leaves_nothing",
            RUNC_AND_BRIDGE,
            harness_killed_with_sigkill_leaves_nothing,
        ),
        (
            "clean_removes_what_a_dead_harness_and_reaper_left",
            RUNC_AND_BRIDGE,
            clean_removes_what_a_dead_harness_and_reaper_left,
        ),
        (
            "a_full_run_directory_is_exit_3",
            RUNC,
            a_full_run_directory_is_exit_3,
        ),
        (
            "a_duplicate_verdict_line_changes_nothing",
            RUNC,
            a_duplicate_verdict_line_changes_nothing,
        ),
        (
            "a_set_uid_copy_of_the_runner_runs_nothing_but_its_report",
            &[Need::Root],
            a_set_uid_copy_of_the_runner_runs_nothing_but_its_report,
        ),
    ]
}

/// fs.setuid leaves a set-uid-root copy of the runner on a mount for a moment; on a
/// volume that is the host's directory. Someone who runs it from the host with other
/// arguments must get nothing of root: no suite, no probe, only the payload's report.
fn a_set_uid_copy_of_the_runner_runs_nothing_but_its_report() -> TestResult {
    use std::os::unix::fs::{chown, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let scratch = Scratch::new("suid");
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = scratch.path().join("breakout-probe");
    std::fs::copy(env!("CARGO_BIN_EXE_breakout-probe"), &copy).unwrap();
    chown(&copy, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let marker_dir = scratch.sub("target");
    std::fs::set_permissions(&marker_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new(&copy)
            .args(args)
            .uid(65534)
            .gid(65534)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // The suite, with a probe that would write into a directory only root may write.
    let mount = marker_dir.display().to_string();
    let run = as_nobody(&[
        "run",
        "--nonce",
        "n1",
        "--mount",
        &mount,
        "--probes",
        "fs.write-mount",
    ]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stderr)
        .contains("only the payload of fs.setuid and fs.setuid-binary"));
    assert!(run.stdout.is_empty(), "{run:?}");
    let other_payload = as_nobody(&[
        "payload",
        "--step",
        "exec.execve",
        "--nonce",
        "n1",
        "--probes",
        "exec.execve",
    ]);
    assert_eq!(other_payload.status.code(), Some(2), "{other_payload:?}");
    assert_eq!(std::fs::read_dir(&marker_dir).unwrap().count(), 0);
    // What fs.setuid itself asks for still runs, and says it has euid 0.
    let step = format!("fs.setuid@{mount}");
    let report = as_nobody(&[
        "payload",
        "--step",
        &step,
        "--once",
        "--nonce",
        "n1",
        "--probes",
        "fs.setuid",
    ]);
    assert_eq!(report.status.code(), Some(0), "{report:?}");
    let stdout = String::from_utf8_lossy(&report.stdout);
    assert!(
        stdout.contains("\"outcome\":\"escaped\"") && stdout.contains("euid 0"),
        "{stdout}"
    );
    Ok(())
}

/// What a run recorded in `ledger`: (netns names, run dir, state dir).
fn ledger_of(ledger: &Path, pid: u32) -> Option<(Vec<String>, PathBuf, PathBuf)> {
    std::fs::read_dir(ledger)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|t| serde_json::from_slice::<breakout::ledger::Record>(&t).ok())
        .find(|r| r.pid == pid && !r.netns.is_empty() && !r.containers.is_empty())
        .map(|r| (r.netns, r.run_dir, r.state))
}

fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Starts a run that holds every kind of resource (an overlay over a user rootfs, the
/// run's tmpfs, bridge namespaces, a container that hangs) and waits until it has
/// them all; the run and what it recorded. It keeps its ledger in `ledger`, its own,
/// so that no other harness starting meanwhile sweeps what it leaves.
fn start_hanging_run(
    dir: &Scratch,
    ledger: &Path,
) -> Result<(Background, Vec<String>, PathBuf, PathBuf), libtest_mimic::Failed> {
    let rootfs = hostile_rootfs(dir.path(), "exit 0");
    let env = [(breakout::ledger::LEDGER_ENV, ledger)];
    let run = Background::start_with_env(
        &[
            OsStr::new("run"),
            OsStr::new("--format"),
            OsStr::new("json"),
            OsStr::new("--rootfs"),
            rootfs.as_os_str(),
            OsStr::new("--network"),
            OsStr::new("bridge"),
            OsStr::new("--probe"),
            OsStr::new("spawn.fork"),
            OsStr::new("--inject-fault"),
            OsStr::new("hang@spawn.fork"),
            OsStr::new("--timeout"),
            OsStr::new("300"),
        ],
        &env,
    );
    let mark = format!("nonce-{}-", run.pid());
    wait_for(Duration::from_secs(20), || {
        (!processes_with(&mark).is_empty()).then_some(())
    })
    .ok_or("the container never started")?;
    let (netns, run_dir, state) = wait_for(Duration::from_secs(5), || ledger_of(ledger, run.pid()))
        .ok_or("the run recorded no namespaces or containers")?;
    Ok((run, netns, run_dir, state))
}

/// Waits until nothing of the run is left, and says what is.
fn expect_gone(
    ledger: &Path,
    pid: u32,
    netns: &[String],
    run_dir: &Path,
    state: &Path,
    tmp: &std::path::Path,
) -> TestResult {
    let mark = format!("nonce-{pid}-");
    let gone = wait_for(Duration::from_secs(15), || {
        let left = !processes_with(&mark).is_empty()
            || netns.iter().any(|n| netns_exists(n))
            || run_dir.exists()
            || state.exists()
            || ledger_of(ledger, pid).is_some();
        (!left).then_some(())
    });
    if gone.is_none() {
        return Err(format!(
            "left behind: processes {:?}, netns {:?}, run dir {}, state {}",
            processes_with(&mark),
            netns.iter().filter(|n| netns_exists(n)).collect::<Vec<_>>(),
            run_dir.exists(),
            state.exists()
        )
        .into());
    }
    assert_nothing_left(pid, tmp);
    Ok(())
}

/// kill -9 of the harness in the middle of a run: its reaper ends the container at
/// once (it does not live out its 300 s deadline) and removes everything.
fn harness_killed_with_sigkill_leaves_nothing() -> TestResult {
    let dir = Scratch::new("kill9");
    let ledger = dir.sub("ledger");
    let (mut run, netns, run_dir, state) = start_hanging_run(&dir, &ledger)?;
    let pid = run.pid();
    run.kill9();
    expect_gone(&ledger, pid, &netns, &run_dir, &state, run.tmp.path())
}

/// kill -9 of the harness and of its reaper (as the OOM killer might): the container
/// and everything else stay, until `breakout clean` (or the next run) removes them.
fn clean_removes_what_a_dead_harness_and_reaper_left() -> TestResult {
    let dir = Scratch::new("kill9-clean");
    let ledger = dir.sub("ledger");
    let (mut run, netns, run_dir, state) = start_hanging_run(&dir, &ledger)?;
    let pid = run.pid();
    let breakout_exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_breakout")).unwrap();
    // The reaper: the harness's child that runs the breakout binary itself.
    let reaper = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|f| f.parse::<u32>().ok());
            ppid == Some(pid)
                && std::fs::read_link(format!("/proc/{p}/exe")).ok().as_ref() == Some(&breakout_exe)
        })
        .ok_or("no reaper found")?;
    // SAFETY: kill(2) on a process our own child forked.
    unsafe { libc::kill(reaper, libc::SIGKILL) };
    run.kill9();
    std::thread::sleep(Duration::from_millis(500));
    // The run's ledger is its own: no other harness starting meanwhile sweeps it.
    let mark = format!("nonce-{pid}-");
    if processes_with(&mark).is_empty() {
        return Err("the container ended without anyone to end it".into());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_breakout"))
        .args(["clean", "--format", "json"])
        .env(breakout::ledger::LEDGER_ENV, &ledger)
        .stdin(Stdio::null())
        .output()
        .expect("breakout clean runs");
    let said: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("breakout clean printed no JSON ({e}): {:?}", out))?;
    if !out.status.success() {
        return Err(format!("breakout clean: {:?}: {said}", out.status).into());
    }
    if said["runs"].as_u64().unwrap_or(0) == 0 || said["containers"].as_u64().unwrap_or(0) == 0 {
        return Err(format!("clean removed no run or container: {said}").into());
    }
    expect_gone(&ledger, pid, &netns, &run_dir, &state, run.tmp.path())
}

/// A full /run (where runtimes keep their state) is the host's problem: exit 3 with the
/// reason, before anything starts, and no file of the run is left. The test fills a
/// small tmpfs over /run/breakout in a mount namespace of its own.
fn a_full_run_directory_is_exit_3() -> TestResult {
    let tmp = Scratch::new("full-run-tmpdir");
    let script = format!(
        "mount -t tmpfs -o size=256k tmpfs {base} && \
         dd if=/dev/zero of={base}/fill bs=4k count=1000 2>/dev/null; \
         TMPDIR={tmp} {exe} run --probe spawn.fork; echo \"exit=$?\"; \
         ls -A {base} | grep -v '^fill$' | grep -v '^runs$'; ls -A {base}/runs 2>/dev/null",
        base = breakout::bundle::SHORT_STATE_BASE,
        tmp = tmp.path().display(),
        exe = env!("CARGO_BIN_EXE_breakout"),
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("unshare runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines = stdout.lines().filter(|l| !l.trim().is_empty());
    let exit = lines.find(|l| l.starts_with("exit=")).unwrap_or("none");
    let left: Vec<&str> = lines.collect();
    if exit != "exit=3" || !stderr.contains("full") {
        return Err(format!("expected exit 3 naming a full /run, got {exit}: {stderr}").into());
    }
    if !left.is_empty() {
        return Err(format!("the run left files in the full directory: {left:?}").into());
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    if !leftovers.is_empty() {
        return Err(format!("the run left {leftovers:?} in its TMPDIR").into());
    }
    Ok(())
}

/// Item 12: a verdict line printed twice for one step (the second contradicting the
/// first) is ignored with a note: the first verdict stands, no extra container starts,
/// and the exit code is the first verdict's.
fn a_duplicate_verdict_line_changes_nothing() -> TestResult {
    let dir = Scratch::new("dup-verdict");
    let volume = format!("{}:/data", dir.sub("data").display());
    let (out, report) = run_json(&[
        "-v",
        &volume,
        "--probe",
        "fs.write-mount",
        "--probe",
        "spawn.fork",
        "--inject-fault",
        "dup@fs.write-mount@/data",
    ])?;
    out.expect_code(1)?;
    expect(
        &report,
        "fs.write-mount@/data",
        "escaped",
        None,
        Some("witnessed"),
    )?;
    expect(&report, "spawn.fork", "escaped", None, None)?;
    if report["runs"][0]["containers"] != 1 {
        return Err(format!("containers: {}", report["runs"][0]["containers"]).into());
    }
    if !out.stderr.contains("already decided") {
        return Err(format!("no note about the duplicate: {}", out.stderr).into());
    }
    Ok(())
}
