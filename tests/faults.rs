//! Reliability under injected faults: a fork bomb, a flood of output, a container that
//! ends without a word, a runtime that crashes or hangs, an interrupt in the middle of
//! a matrix, and 200 runs in a row. Each fault becomes a verdict within the deadline,
//! the rest goes on, and nothing of any run is left behind. A host fault that stops
//! every run (no temporary directory) is exit 3, with its likely cause.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::*;
use libtest_mimic::{Arguments, Trial};
use serde_json::Value;

/// A fork bomb in one probe: the pids limit stops it, the deadline ends it, every one
/// of its processes is gone, and the rest of the suite runs.
fn fork_bomb_is_contained() -> TestResult {
    let (out, report) = run_json(&[
        "--probe",
        "spawn.*fork",
        "--timeout",
        "3",
        "--inject-fault",
        "forkbomb@spawn.fork",
    ])?;
    out.expect_code(1)?;
    expect(&report, "spawn.fork", "error", Some("timeout"), None)?;
    expect(&report, "spawn.vfork", "escaped", None, None)?;
    Ok(())
}

/// A container that prints without end: lines stay bounded, the harness's own output
/// stays small, the deadline ends it.
fn flood_is_bounded() -> TestResult {
    let started = Instant::now();
    let (out, report) = run_json(&[
        "--probe",
        "spawn.*fork",
        "--timeout",
        "3",
        "--inject-fault",
        "flood@spawn.fork",
    ])?;
    out.expect_code(1)?;
    expect(&report, "spawn.fork", "error", Some("timeout"), None)?;
    expect(&report, "spawn.vfork", "escaped", None, None)?;
    assert!(
        out.stderr.len() < 64 * 1024,
        "{} bytes of notes",
        out.stderr.len()
    );
    assert!(out.stderr.contains("more such notes"), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(30));
    Ok(())
}

/// A container that ends before saying anything is a start failure with the reason.
fn silent_container_is_a_start_failure() -> TestResult {
    let (out, report) = run_json(&["--probe", "spawn.fork", "--inject-fault", "silent"])?;
    out.expect_code(4)?;
    let start = &report["runs"][0]["start"];
    assert_eq!(start["status"], "failed-to-start");
    assert!(
        start["error"]
            .as_str()
            .unwrap_or("")
            .contains("ended before the probe runner started"),
        "{start}"
    );
    expect(
        &report,
        "spawn.fork",
        "not-run",
        Some("start-failure"),
        None,
    )?;
    Ok(())
}

/// A fake runtime binary: its file name tells breakout it speaks runc's CLI.
fn fake_runtime(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}={}", name, path.display())
}

/// A runtime that crashes and one that hangs, beside runc in one compare: each is a
/// start failure with its reason, within the deadline, and runc's run goes on.
fn crashing_and_hanging_runtimes() -> TestResult {
    let dir = Scratch::new("fake-runtimes");
    let crash = fake_runtime(
        dir.path(),
        "runc-crash",
        "echo 'simulated runtime crash' >&2; kill -SEGV $$",
    );
    let hang = fake_runtime(dir.path(), "runc-hang", "exec sleep 600");
    let runtimes = format!("runc,{crash},{hang}");
    let started = Instant::now();
    let out = breakout(&[
        "compare",
        "--format",
        "json",
        "--runtime",
        &runtimes,
        "--probe",
        "spawn.fork",
        "--timeout",
        "3",
    ]);
    let elapsed = started.elapsed();
    out.expect_code(1)?;
    let report = out.json()?;
    let run = |name: &str| -> Value {
        report["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["runtime"]["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(run("runc")["start"]["status"], "started");
    let crashed = run("runc-crash");
    assert_eq!(crashed["start"]["status"], "failed-to-start", "{crashed}");
    assert!(
        crashed["start"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("simulated runtime crash"),
        "{crashed}"
    );
    let hung = run("runc-hang");
    assert_eq!(hung["start"]["status"], "failed-to-start", "{hung}");
    assert!(
        hung["start"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("the runtime or the container hung"),
        "{hung}"
    );
    // The hung version call is cut at 5s, the hung run at the 3s timeout, the hung
    // kill and delete at 3s each: well under a minute.
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    Ok(())
}

/// SIGTERM in the middle of a two-runtime matrix: exit 130, a report saying what did
/// not run, nothing left.
fn interrupt_in_a_matrix() -> TestResult {
    let tmp = Scratch::new("matrix-interrupt");
    let report_path = tmp.path().join("report.json");
    let run_tmp = tmp.sub("tmp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_breakout"))
        .args([
            "compare",
            "--format",
            "json",
            "--runtime",
            "runc,crun",
            "--jobs",
            "1",
            "--probe",
            "spawn.*fork",
            "--inject-fault",
            "hang@spawn.vfork",
            "--output",
        ])
        .arg(&report_path)
        .env("TMPDIR", &run_tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(&run_tmp).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill with a pid we spawned and a valid signal number.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_nothing_left(pid, &run_tmp);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "both runtimes are in the report");
    assert_eq!(runs[1]["start"]["status"], "not-run", "{}", runs[1]);
    for v in runs[1]["verdicts"].as_array().unwrap() {
        assert_eq!(v["outcome"], "not-run");
        assert_eq!(v["mechanism"], "interrupted");
    }
    Ok(())
}

/// 200 runs in a row, every tenth with a fault: each run is checked as it ends (no
/// file, mount, process or cgroup of it), and at the end nothing of any of the 200 is
/// left anywhere: state directories, network namespaces, cgroups, mounts, processes.
fn two_hundred_runs_leave_nothing() -> TestResult {
    let faults = [
        "hang@spawn.fork",
        "exit@spawn.fork",
        "garbage",
        "forkbomb@spawn.fork",
        "silent",
    ];
    let netns_before = bridge_namespaces();
    let mut pids = Vec::new();
    for i in 0..200 {
        let mut args = vec!["run", "--probe", "spawn.fork", "--timeout", "2"];
        if i % 10 == 9 {
            args.extend(["--inject-fault", faults[(i / 10) % faults.len()]]);
        }
        let (out, pid) = breakout_with_pid(&args);
        if ![0, 1, 4].contains(&out.code) {
            return Err(format!("run {i} ({args:?}) exited {}: {}", out.code, out.stderr).into());
        }
        pids.push(pid);
    }
    let left = leftovers(&pids, &netns_before);
    assert!(left.is_empty(), "left behind by the 200 runs: {left:?}");
    Ok(())
}

/// The bridge networks' namespaces on the host now (`bo` and 12 random hex digits,
/// then `c` or `h`): their names carry no pid, so a run's are the ones that appeared.
fn bridge_namespaces() -> Vec<String> {
    std::fs::read_dir("/var/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.len() == 15
                && n.starts_with("bo")
                && n[2..14].bytes().all(|b| b.is_ascii_hexdigit())
                && (n.ends_with('c') || n.ends_with('h'))
        })
        .collect()
}

/// Everything on the machine that carries one of these harness pids in its name, and
/// bridge namespaces that were not there before.
fn leftovers(pids: &[u32], netns_before: &[String]) -> Vec<String> {
    let marks: Vec<String> = pids.iter().map(|p| format!("{p}-")).collect();
    let ours = |name: &str| marks.iter().any(|m| name.contains(m.as_str()));
    let mut found = Vec::new();
    let mut scan = |dir: &std::path::Path, pred: &dyn Fn(&str) -> bool| {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if pred(&name) {
                found.push(e.path().display().to_string());
            }
        }
    };
    scan(
        std::path::Path::new(breakout::bundle::SHORT_STATE_BASE),
        &|n| ours(n),
    );
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        scan(&hierarchy.path(), &|n| {
            n.starts_with("breakout-") && ours(n)
        });
    }
    // As bytes: a mount point elsewhere whose name is not UTF-8 must not hide ours.
    let mountinfo =
        String::from_utf8_lossy(&std::fs::read("/proc/self/mountinfo").unwrap_or_default())
            .into_owned();
    for line in mountinfo.lines() {
        if line.contains("/breakout") && ours(line) {
            found.push(line.to_string());
        }
    }
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if marks
                .iter()
                .any(|m| cmdline.contains(&format!("nonce-{m}")))
            {
                found.push(cmdline);
            }
        }
    }
    found.extend(
        bridge_namespaces()
            .into_iter()
            .filter(|n| !netns_before.contains(n))
            .map(|n| format!("/var/run/netns/{n}")),
    );
    found
}

/// A temporary directory that is not there: the run cannot make its directory, exit 3,
/// and the error names TMPDIR, where breakout makes it.
fn missing_tmpdir_is_named() -> TestResult {
    let (out, _) = breakout_with_env(
        &["run", "--probe", "spawn.fork"],
        &[(
            "TMPDIR",
            std::path::Path::new("/nonexistent/breakout-test-tmpdir"),
        )],
    );
    out.expect_code(3)?;
    for words in [
        "failed to create /nonexistent/breakout-test-tmpdir/",
        "No such file or directory",
        "likely the directory it goes in does not exist",
        "TMPDIR",
    ] {
        if !out.stderr.contains(words) {
            return Err(format!("stderr lacks {words:?}: {}", out.stderr).into());
        }
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let skip = container_skip_reason("runc");
    if let Some(reason) = &skip {
        eprintln!("fault-injection trials are skipped: {reason}");
    }
    type TestFn = fn() -> TestResult;
    let tests: Vec<(&str, TestFn)> = vec![
        ("fork_bomb_is_contained", fork_bomb_is_contained),
        ("flood_is_bounded", flood_is_bounded),
        (
            "silent_container_is_a_start_failure",
            silent_container_is_a_start_failure,
        ),
        (
            "crashing_and_hanging_runtimes",
            crashing_and_hanging_runtimes,
        ),
        ("interrupt_in_a_matrix", interrupt_in_a_matrix),
        (
            "two_hundred_runs_leave_nothing",
            two_hundred_runs_leave_nothing,
        ),
        ("missing_tmpdir_is_named", missing_tmpdir_is_named),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, f)| Trial::test(name, f).with_ignored_flag(skip.is_some()))
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
