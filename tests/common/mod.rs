//! Shared helpers for the integration tests: running the real `breakout` binary,
//! reading its JSON report, and proving nothing of the run was left behind.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub type TestResult = Result<(), libtest_mimic::Failed>;

pub mod image;
pub mod junit;
pub mod needs;
use needs::{Host, Need};

/// Named trials, as each group's `trials()` returns them, with what each needs.
pub type Trials = Vec<(&'static str, &'static [Need], fn() -> TestResult)>;

/// Why containers of `runtime` cannot run on this host, if they cannot.
pub fn container_skip_reason(runtime: &'static str) -> Option<String> {
    Host::default().lacks(&[Need::Root, Need::Runtime(runtime), Need::Busybox])
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn profile(name: &str) -> String {
    repo()
        .join("scenarios/profiles")
        .join(name)
        .display()
        .to_string()
}

pub fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures/profiles")
        .join(name)
        .display()
        .to_string()
}

/// A directory of the test's own, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "breakout-test-{label}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn sub(&self, name: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one `breakout` invocation produced.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The JSON report on stdout. Under runc and crun every verdict in it must agree
    /// with the profile's prediction, or differ only where something past the filter
    /// or a named quirk explains it: an unexplained disagreement in any container
    /// test is a runtime bug or a harness bug, and fails that test.
    pub fn json(&self) -> Result<Value, libtest_mimic::Failed> {
        let report: Value = serde_json::from_str(&self.stdout).map_err(|e| {
            libtest_mimic::Failed::from(format!(
                "stdout is not a JSON report ({e}); exit {}; stderr:\n{}\nstdout:\n{}",
                self.code, self.stderr, self.stdout
            ))
        })?;
        let verdicts = report["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["verdicts"].as_array().cloned().unwrap_or_default());
        for v in verdicts {
            let runc_like = v["runtime"] == "runc" || v["runtime"] == "crun";
            if runc_like && v["prediction"]["agreement"]["kind"] == "unexplained" {
                return Err(format!(
                    "{} under {}: the observation contradicts the prediction: {}",
                    v["probe"], v["runtime"], v["prediction"]
                )
                .into());
            }
        }
        Ok(report)
    }

    pub fn expect_code(&self, code: i32) -> TestResult {
        if self.code != code {
            return Err(format!(
                "expected exit code {code}, got {}; stderr:\n{}\nstdout:\n{}",
                self.code, self.stderr, self.stdout
            )
            .into());
        }
        Ok(())
    }
}

/// Runs `breakout ARGS` with its temporary files in a private directory, then checks
/// that nothing of that run is left: no files, no mounts, no processes.
pub fn breakout(args: &[&str]) -> Outcome {
    breakout_with_pid(args).0
}

/// [`breakout`], also returning the harness's pid (the runs' ids and nonces embed it).
pub fn breakout_with_pid(args: &[&str]) -> (Outcome, u32) {
    breakout_with_env(args, &[])
}

/// [`breakout_with_pid`] with extra environment variables.
pub fn breakout_with_env(args: &[&str], env: &[(&str, &Path)]) -> (Outcome, u32) {
    let tmp = Scratch::new("tmpdir");
    let child = Command::new(env!("CARGO_BIN_EXE_breakout"))
        .args(args)
        .env("TMPDIR", tmp.path())
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("breakout starts");
    let pid = child.id();
    let out = child.wait_with_output().expect("breakout runs");
    let outcome = Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_nothing_left(pid, tmp.path());
    (outcome, pid)
}

/// The run's directory is gone, nothing is mounted under it, and no process carries
/// the run's ids (container ids and nonces embed the harness's pid).
pub fn assert_nothing_left(harness_pid: u32, tmp: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(tmp)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "files left behind: {leftovers:?}");
    let state_mark = format!("{harness_pid}-");
    let states: Vec<_> = std::fs::read_dir(breakout::bundle::SHORT_STATE_BASE)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&state_mark))
        .map(|e| e.path())
        .collect();
    assert!(states.is_empty(), "runtime state left behind: {states:?}");
    // Its ledger: the run records and the owner lock go when the harness (and its
    // reaper, which it waits for) end.
    let ledger: Vec<_> = std::fs::read_dir(breakout::ledger::ledger_path())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with(&format!("run-{harness_pid}-"))
                || n.starts_with(&format!("owner-{harness_pid}-"))
        })
        .collect();
    assert!(ledger.is_empty(), "ledger entries left behind: {ledger:?}");
    let mounts =
        String::from_utf8_lossy(&std::fs::read("/proc/self/mountinfo").unwrap()).into_owned();
    let tmp_text = tmp.display().to_string();
    assert!(
        !mounts.contains(&tmp_text),
        "mounts left behind under {tmp_text}"
    );
    let state_mount = format!("{}/{state_mark}", breakout::bundle::SHORT_STATE_BASE);
    assert!(
        !mounts.contains(&state_mount),
        "mounts left behind under {state_mount}"
    );
    let cgroup_mark = format!("breakout-{harness_pid}-");
    // runc nests a container's cgroups below the caller's own cgroup in a hierarchy
    // where the caller is not at the root: look there too.
    let own: Vec<String> = std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .map(|p| p.trim_matches('/').to_string())
        .collect();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|h| own.iter().map(move |o| h.path().join(o)))
    {
        for entry in std::fs::read_dir(&hierarchy)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(&cgroup_mark),
                "cgroup left behind: {}",
                entry.path().display()
            );
        }
    }
    let marks = [
        format!("breakout-{harness_pid}-"),
        format!("nonce-{harness_pid}-"),
    ];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        for mark in &marks {
            assert!(
                !cmdline.contains(mark),
                "process {} of the run is still alive: {cmdline}",
                entry.file_name().to_string_lossy()
            );
        }
    }
}

/// Runs `breakout run --format json ARGS` and returns the report.
pub fn run_json(args: &[&str]) -> Result<(Outcome, Value), libtest_mimic::Failed> {
    let mut all = vec!["run", "--format", "json"];
    all.extend_from_slice(args);
    let outcome = breakout(&all);
    let report = outcome.json()?;
    Ok((outcome, report))
}

/// The verdict of one step in the first run of a report.
pub fn verdict<'a>(report: &'a Value, step: &str) -> Result<&'a Value, libtest_mimic::Failed> {
    let (probe, target) = match step.split_once('@') {
        Some((p, t)) => (p, Some(t)),
        None => (step, None),
    };
    report["runs"][0]["verdicts"]
        .as_array()
        .and_then(|vs| {
            vs.iter()
                .find(|v| v["probe"] == probe && v["target"].as_str() == target)
        })
        .ok_or_else(|| format!("no verdict for {step} in {report:#}").into())
}

/// Asserts a step's outcome, and its mechanism and evidence where given.
pub fn expect(
    report: &Value,
    step: &str,
    outcome: &str,
    mechanism: Option<&str>,
    evidence: Option<&str>,
) -> TestResult {
    let v = verdict(report, step)?;
    let got = (
        v["outcome"].as_str().unwrap_or("?"),
        v["mechanism"].as_str(),
        v["evidence"].as_str(),
    );
    let mechanism_ok = mechanism.is_none() || got.1 == mechanism;
    let evidence_ok = evidence.is_none() || got.2 == evidence;
    if got.0 != outcome || !mechanism_ok || !evidence_ok {
        return Err(format!(
            "{step}: expected {outcome} {mechanism:?} {evidence:?}, got {} {:?} {:?} ({})",
            got.0, got.1, got.2, v["detail"]
        )
        .into());
    }
    Ok(())
}

/// Writes a profile into `dir` and returns its path.
pub fn write_profile(dir: &Path, name: &str, json: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(json).unwrap()).unwrap();
    path.display().to_string()
}

/// `breakout ARGS` started in the background with a TMPDIR of its own (world-writable
/// and sticky, like /tmp), for tests that act while it runs. Its output goes to files,
/// so that a process it leaves holding a pipe cannot keep the test waiting. Dropped
/// while still running, it is ended by its pid (it then cleans up after itself).
pub struct Background {
    child: Option<std::process::Child>,
    pid: u32,
    pub tmp: Scratch,
    out: Scratch,
}

impl Background {
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Background {
        Background::start_with_env(args, &[])
    }

    /// [`Background::start`] with extra environment variables.
    pub fn start_with_env<S: AsRef<std::ffi::OsStr>>(
        args: &[S],
        env: &[(&str, &std::path::Path)],
    ) -> Background {
        use std::os::unix::fs::PermissionsExt;
        let tmp = Scratch::new("bg-tmpdir");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let out = Scratch::new("bg-output");
        let child = Command::new(env!("CARGO_BIN_EXE_breakout"))
            .args(args)
            .env("TMPDIR", tmp.path())
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(out.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(out.path().join("stderr")).unwrap())
            .spawn()
            .expect("breakout starts");
        Background {
            pid: child.id(),
            child: Some(child),
            tmp,
            out,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits up to `limit` for it to end; `None` if it still runs then.
    pub fn wait(&mut self, limit: std::time::Duration) -> Option<Outcome> {
        let deadline = std::time::Instant::now() + limit;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let read =
                    |f: &str| std::fs::read_to_string(self.out.path().join(f)).unwrap_or_default();
                self.child = None;
                return Some(Outcome {
                    code: status.code().unwrap_or(-1),
                    stdout: read("stdout"),
                    stderr: read("stderr"),
                });
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits for it to end (10 minutes at most) and checks that it left nothing.
    pub fn finish(mut self) -> Outcome {
        let pid = self.pid();
        let out = self
            .wait(std::time::Duration::from_secs(600))
            .expect("breakout ends within 10 minutes");
        assert_nothing_left(pid, self.tmp.path());
        out
    }

    /// Kills it with SIGKILL (no cleanup of its own) and reaps it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own unreaped child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

/// A Docker engine of the test binary's own (`ci/private-dockerd.sh`), started where
/// the docker CLI is installed but no engine answers, so the docker driver's trials
/// run for real; stopped (by the pid it wrote) and its directory removed on drop.
/// `DOCKER_HOST` points this process and its children at it.
pub struct PrivateDockerd {
    dir: Option<PathBuf>,
}

impl PrivateDockerd {
    /// Starts one if needed; a host that cannot (no root, no dockerd) keeps none, and
    /// the docker trials say why they are skipped.
    pub fn start_if_needed() -> PrivateDockerd {
        let none = PrivateDockerd { dir: None };
        let answers = Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if answers || !root {
            return none;
        }
        let dir = PathBuf::from(format!("/run/breakout-dockerd-{}", std::process::id()));
        let out = Command::new("bash")
            .arg(repo().join("ci/private-dockerd.sh"))
            .arg("start")
            .arg(&dir)
            .output();
        match out {
            Ok(out) if out.status.success() => {
                let host = String::from_utf8_lossy(&out.stdout).trim().to_string();
                eprintln!("started a private Docker engine at {host}");
                // Before any trial thread starts: nothing reads the environment yet.
                std::env::set_var("DOCKER_HOST", host);
                PrivateDockerd { dir: Some(dir) }
            }
            Ok(out) => {
                eprintln!(
                    "no private Docker engine: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                none
            }
            Err(e) => {
                eprintln!("no private Docker engine: {e}");
                none
            }
        }
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = Command::new("bash")
                .arg(repo().join("ci/private-dockerd.sh"))
                .arg("stop")
                .arg(&dir)
                .status();
        }
    }
}
