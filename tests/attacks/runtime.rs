//! Attack tests: a hostile runtime (helpers that hold the harness's pipes open), and
//! what a run leaves on the host (network namespaces of another run, cgroups).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::needs::{Need, RUNC};
use crate::common::*;

/// podman itself, on a host where the other trials of this file run.
const RUNC_AND_PODMAN: &[Need] = &[
    Need::Root,
    Need::Runtime("runc"),
    Need::Busybox,
    Need::Runtime("podman"),
];

/// Trials of this group.
pub fn trials() -> Trials {
    vec![
        (
            "issue10_8_a_runtime_whose_helpers_hold_its_pipes_costs_the_timeout_and_seconds",
            RUNC,
            sticky_runtime_is_bounded_by_the_timeout,
        ),
        (
            "issue10_8_sigterm_ends_a_run_whose_runtime_hangs_in_cleanup",
            RUNC,
            sigterm_ends_a_sticky_run_promptly,
        ),
        (
            "issue10_9_a_failed_bridge_leaves_a_namespace_it_did_not_make",
            &[Need::Root, Need::Ip],
            failed_bridge_keeps_foreign_namespaces,
        ),
        (
            "issue16_a_docker_whose_keeper_is_in_the_hosts_namespace_gets_no_bridge",
            &[Need::Root, Need::Busybox, Need::Ip],
            keeper_in_the_hosts_namespace_gets_no_bridge,
        ),
        (
            "issue10_14_a_mixed_runtime_compare_leaves_no_cgroup",
            RUNC,
            mixed_compare_leaves_no_cgroup,
        ),
        (
            "issue10_15_podman_keeps_its_state_in_the_run",
            RUNC_AND_PODMAN,
            podman_keeps_its_state_in_the_run,
        ),
    ]
}

/// How long each sleeper the fake runtime leaves behind sleeps: the test kills them
/// by pid, after checking that the pid still runs exactly this.
const SLEEPER_SECONDS: &str = "607";

/// The sleepers a fake runtime recorded (one pid a line), killed on drop, also when
/// the test fails: each only if its pid still runs our `sleep`, through a pidfd, so a
/// reused pid is never signalled.
struct Sleepers {
    pidfile: PathBuf,
    /// The command line each must still have (NUL-separated, as /proc shows it).
    cmdline: String,
}

impl Sleepers {
    fn pids(&self) -> Vec<i32> {
        std::fs::read_to_string(&self.pidfile)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    fn kill_all(&self) {
        let expected = &self.cmdline;
        for pid in self.pids() {
            // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
            let Ok(fd) = i32::try_from(fd) else { continue };
            if fd < 0 {
                continue;
            }
            // Read after the pidfd pins the process: the pidfd cannot reach another.
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline == expected.as_bytes() {
                // SAFETY: pidfd_send_signal on the pidfd just opened, with no siginfo.
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd,
                        libc::SIGKILL,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
            }
            // SAFETY: closing the descriptor we opened above, once.
            unsafe { libc::close(fd) };
        }
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// A runtime of runc's family (by its file name) whose every call, `--version`, `run`,
/// `kill` and `delete`, leaves a `sleep` behind that holds the call's stdout and stderr
/// open; the real work is runc's. Returns the `--runtime` value.
fn sticky_runtime(dir: &Path, pidfile: &Path, marker: &str) -> String {
    let runc = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("runc"))
        .find(|p| p.is_file())
        .expect("runc is installed");
    let path = dir.join("runc-sticky");
    let script = format!(
        "#!/bin/bash\n\
         sleep {SLEEPER_SECONDS} &\n\
         echo $! >> '{pidfile}'\n\
         for arg; do\n\
         \x20 if [ \"$arg\" = --version ]; then echo 'runc version 1.1.5 ({marker})'; exit 0; fi\n\
         done\n\
         exec '{runc}' \"$@\"\n",
        pidfile = pidfile.display(),
        runc = runc.display(),
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("runc-sticky={}", path.display())
}

/// Removes the `--version` answers breakout cached for the fake runtime (their text
/// carries the marker), so the test leaves no file behind.
fn forget_cached_versions(marker: &str) {
    for entry in std::fs::read_dir(breakout::bundle::SHORT_STATE_BASE)
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".version-")
            && std::fs::read_to_string(entry.path()).is_ok_and(|t| t.contains(marker))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A sticky runtime in a scratch directory of its own, and `breakout run` started under
/// it with a probe that hangs and `timeout`: the scratch (kept alive), the marker its
/// cached version answer carries, its sleepers, and the run.
fn start_sticky_run(label: &str, timeout: u64) -> (Scratch, String, Sleepers, Background) {
    let dir = Scratch::new(label);
    let marker = format!("sticky {}", dir.path().display());
    let sleepers = Sleepers {
        pidfile: dir.path().join("sleepers"),
        cmdline: format!("sleep\0{SLEEPER_SECONDS}\0"),
    };
    let runtime = sticky_runtime(dir.path(), &sleepers.pidfile, &marker);
    let harness = Background::start(&[
        "run",
        "--format",
        "json",
        "--runtime",
        &runtime,
        "--probe",
        "spawn.fork",
        "--inject-fault",
        "hang@spawn.fork",
        "--timeout",
        &timeout.to_string(),
    ]);
    (dir, marker, sleepers, harness)
}

/// Issue 10, item 8: a runtime whose helpers keep stdout and stderr open during
/// `--version`, `run`, `kill` and `delete`. The whole run costs the timeout plus a few
/// seconds, the probe in flight is `error (timeout)`, and nothing is left.
fn sticky_runtime_is_bounded_by_the_timeout() -> TestResult {
    let timeout = 3;
    let started = Instant::now();
    let (_dir, marker, sleepers, mut harness) = start_sticky_run("sticky-runtime", timeout);
    // Unfixed, the harness waits for the sleepers (10 minutes): give up long before.
    let out = harness.wait(Duration::from_secs(60));
    let elapsed = started.elapsed();
    forget_cached_versions(&marker);
    let Some(out) = out else {
        return Err(format!("breakout still ran after {elapsed:?}").into());
    };
    // The same code a hang under runc itself gets: an error is no escape.
    out.expect_code(0)?;
    let report = out.json()?;
    expect(&report, "spawn.fork", "error", Some("timeout"), None)?;
    // version, run, kill and delete each left one: the hostile paths were all taken.
    let left = sleepers.pids().len();
    assert!(left >= 4, "only {left} sleepers: not every call was made");
    // Measured 5.2s: the timeout, then two containers (the one killed and the one
    // that resumes after it) whose stdout and stderr the sleepers hold, each given up
    // on 300 ms after its runtime process ended, and the bounded cleanup calls.
    let budget = Duration::from_secs(timeout + 6);
    assert!(elapsed < budget, "took {elapsed:?}, over {budget:?}");
    sleepers.kill_all();
    assert_nothing_left(harness.pid(), harness.tmp.path());
    Ok(())
}

/// Issue 10, item 8: SIGTERM while the container runs under a runtime whose `kill` and
/// `delete` leave helpers holding their pipes: exit 130 within seconds, nothing left.
fn sigterm_ends_a_sticky_run_promptly() -> TestResult {
    let (_dir, marker, sleepers, mut harness) = start_sticky_run("sticky-runtime-term", 60);
    // `--version`, then `run`: the container is starting; give it a moment to hang.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sleepers.pids().len() < 2 {
        if Instant::now() >= deadline {
            forget_cached_versions(&marker);
            return Err("the fake runtime's run was never called".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    // SAFETY: kill(2) on our own child, not reaped yet, with a valid signal.
    unsafe { libc::kill(harness.pid() as i32, libc::SIGTERM) };
    let out = harness.wait(Duration::from_secs(60));
    let elapsed = sent.elapsed();
    forget_cached_versions(&marker);
    let Some(out) = out else {
        return Err(format!("breakout still ran {elapsed:?} after SIGTERM").into());
    };
    out.expect_code(130)?;
    assert!(
        elapsed < Duration::from_secs(8),
        "took {elapsed:?} after SIGTERM"
    );
    let left = sleepers.pids().len();
    assert!(
        left >= 4,
        "only {left} sleepers: kill or delete was not called"
    );
    sleepers.kill_all();
    assert_nothing_left(harness.pid(), harness.tmp.path());
    Ok(())
}

/// A network namespace the test made (deleted on drop, whoever else deleted it).
struct TestNetns(String);

impl TestNetns {
    fn add(name: &str) -> TestNetns {
        let ok = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        TestNetns(name.to_string())
    }

    fn exists(&self) -> bool {
        Path::new("/var/run/netns").join(&self.0).exists()
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Issue 10, item 9: a bridge whose names are already taken (another run's, here the
/// test's) fails, and deletes only what it made itself: the other namespace stays.
fn failed_bridge_keeps_foreign_namespaces() -> TestResult {
    use breakout::run::netns::{fresh_stem, BridgeNet};
    // The container's namespace is taken: the run makes nothing.
    let stem = fresh_stem()?;
    let taken = TestNetns::add(&format!("{stem}c"));
    let result = BridgeNet::create_with_stem(&stem);
    assert!(result.is_err(), "created over a taken name: {result:?}");
    drop(result);
    assert!(
        taken.exists(),
        "the run deleted a namespace it did not make"
    );
    drop(taken);

    // The canary's namespace is taken: the run made the container's and deletes it.
    let stem = fresh_stem()?;
    let taken = TestNetns::add(&format!("{stem}h"));
    let result = BridgeNet::create_with_stem(&stem);
    assert!(result.is_err(), "created over a taken name: {result:?}");
    drop(result);
    assert!(
        taken.exists(),
        "the run deleted a namespace it did not make"
    );
    let own = Path::new("/var/run/netns").join(format!("{stem}c"));
    assert!(!own.exists(), "the run left its own namespace {own:?}");
    Ok(())
}

/// A docker CLI that lies about the keeper it says it started (the holder of a
/// bridge's network namespace under docker): its pid is the host's init, or the
/// harness's own (the CLI's caller). The bridge's addresses and route must never land
/// in the host's network namespace: the run refuses and says why, and no bridge
/// address appears on the host.
fn keeper_in_the_hosts_namespace_gets_no_bridge() -> TestResult {
    let dir = Scratch::new("liar-docker");
    let marker = format!("liar-{}", std::process::id());
    // (what `inspect` answers, the exit code, words of the refusal)
    let cases = [
        ("1", 4, "expected the pid of the network's keeper"),
        ("$PPID", 3, "is the host's network namespace"),
    ];
    for (i, (pid, code, words)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("docker-liar{i}"));
        let script = format!(
            "#!/bin/bash\n\
             for arg; do [ \"$arg\" = --version ] && {{ echo 'Docker version 99.0 ({marker})'; exit 0; }}; done\n\
             case \"$1\" in\n\
             \x20 version) echo 99.0 ;;\n\
             \x20 import) cat >/dev/null; echo sha256:0 ;;\n\
             \x20 inspect) echo {pid} ;;\n\
             esac\n\
             exit 0\n"
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = breakout(&[
            "run",
            "--runtime",
            &format!("liar={}", path.display()),
            "--probe",
            "spawn.fork",
        ]);
        forget_cached_versions(&marker);
        if out.code != *code || !(out.stderr.contains(words) || out.stdout.contains(words)) {
            return Err(format!(
                "inspect answering {pid}: exit {} (want {code} naming {words:?})\nstdout: {}\nstderr: {}",
                out.code, out.stdout, out.stderr
            )
            .into());
        }
    }
    let addrs = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if addrs.contains("10.213.0.") {
        return Err(format!("a bridge address is on the host: {addrs}").into());
    }
    Ok(())
}

/// Every cgroup directory named after a container of harness `pid`, at any depth of
/// any hierarchy (runc nests them below the caller's own cgroup), deepest first.
fn cgroups_of(pid: u32) -> Vec<PathBuf> {
    fn walk(dir: &Path, mark: &str, depth: usize, found: &mut Vec<PathBuf>) {
        if depth == 0 {
            return;
        }
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            walk(&entry.path(), mark, depth - 1, found);
            if entry.file_name().to_string_lossy().starts_with(mark) {
                found.push(entry.path());
            }
        }
    }
    let mut found = Vec::new();
    walk(
        Path::new("/sys/fs/cgroup"),
        &format!("breakout-{pid}-"),
        8,
        &mut found,
    );
    found
}

/// A runtime of runc's family that leaves its container's cgroups behind, as runc
/// does when its own removal meets processes still being reaped: at the top of every
/// hierarchy and below the caller's own cgroup, the nested one kept busy by a short
/// `sleep` for a moment.
fn lingering_runtime(dir: &Path, pidfile: &Path, marker: &str) -> String {
    let runc = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("runc"))
        .find(|p| p.is_file())
        .expect("runc is installed");
    let path = dir.join("runc-lingering");
    let script = format!(
        r#"#!/bin/bash
runc='{runc}'
if [ "$1" = --version ]; then echo 'runc version 1.1.5 ({marker})'; exit 0; fi
is_run=0
for a; do [ "$a" = run ] && is_run=1; done
[ $is_run = 1 ] || exec "$runc" "$@"
id="${{@: -1}}"
"$runc" "$@"
rc=$?
busy=
while IFS=: read -r _ ctrl own; do
  if [ -z "$ctrl" ]; then hier=/sys/fs/cgroup/unified; [ -d $hier ] || hier=/sys/fs/cgroup
  else hier=/sys/fs/cgroup/${{ctrl#name=}}; fi
  [ -d "$hier" ] || continue
  mkdir -p "$hier/$id" "$hier${{own%/}}/$id"
  if [ -z "$busy" ] || [ "$own" != / ]; then busy="$hier${{own%/}}/$id"; fi
done < /proc/self/cgroup
sleep 1.5 </dev/null >/dev/null 2>&1 &
echo $! >> '{pidfile}'
echo $! > "$busy/cgroup.procs"
exit $rc
"#,
        runc = runc.display(),
        pidfile = pidfile.display(),
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("runc-lingering={}", path.display())
}

/// Removes cgroups a failed run of the test left (after their sleepers are gone).
struct CgroupsOf(u32);

impl Drop for CgroupsOf {
    fn drop(&mut self) {
        // A busy one waits for its short sleeper (1.5s) to end.
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in cgroups_of(self.0) {
            while std::fs::remove_dir(&dir).is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY))
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Issue 10, item 14: a compare over runc, crun, runsc and a runtime that leaves its
/// cgroups behind (nested below the harness's own cgroup, one still busy), with a
/// profile that kills a probe by SIGSYS (so a container is resumed) and a probe that
/// hangs into the timeout (so one is killed): no `breakout-` cgroup of the run stays
/// anywhere, whichever runtime made it and however its container ended.
fn mixed_compare_leaves_no_cgroup() -> TestResult {
    let dir = Scratch::new("lingering-cgroups");
    let marker = format!("lingering {}", dir.path().display());
    let sleepers = Sleepers {
        pidfile: dir.path().join("sleepers"),
        cmdline: "sleep\x001.5\x00".to_string(),
    };
    let lingering = lingering_runtime(dir.path(), &sleepers.pidfile, &marker);
    let profile = write_profile(
        dir.path(),
        "sigsys.json",
        &serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["vfork"], "action": "SCMP_ACT_KILL"}]
        }),
    );
    let mut runtimes = vec!["runc".to_string()];
    for extra in ["crun", "runsc"] {
        if container_skip_reason(extra).is_none() {
            runtimes.push(extra.to_string());
        }
    }
    runtimes.push(lingering);
    let runtimes = runtimes.join(",");
    let mut harness = Background::start(&[
        "compare",
        "--format",
        "json",
        "--runtime",
        &runtimes,
        "--profile",
        &profile,
        "--probe",
        "spawn.*fork",
        "--inject-fault",
        "hang@spawn.fork",
        "--timeout",
        "3",
    ]);
    let _cleanup = CgroupsOf(harness.pid());
    let out = harness.wait(Duration::from_secs(240));
    forget_cached_versions(&marker);
    let Some(out) = out else {
        return Err("breakout still ran after 240s".into());
    };
    let report = out.json()?;
    for run in report["runs"].as_array().into_iter().flatten() {
        assert_eq!(run["start"]["status"], "started", "{run}");
    }
    let left = cgroups_of(harness.pid());
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
    assert!(
        !sleepers.pids().is_empty(),
        "the lingering runtime never ran a container"
    );
    sleepers.kill_all();
    assert_nothing_left(harness.pid(), harness.tmp.path());
    Ok(())
}

/// Issue 10, item 15: every podman call the harness makes points podman's own
/// directories (`--tmpdir`: `/run/libpod`; the OCI runtime's `--root`: `/run/crun`;
/// `TMPDIR`: `/var/tmp`; volumes, network configuration) into the run's state
/// directory. A wrapper named after podman records each call, then runs podman. What
/// podman still writes outside has no flag; the module doc of `runtime::engine` says
/// what and why.
fn podman_keeps_its_state_in_the_run() -> TestResult {
    let podman = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("podman"))
        .find(|p| p.is_file())
        .expect("podman is installed");
    let dir = Scratch::new("podman-calls");
    let log = dir.path().join("calls");
    let wrapper = dir.path().join("podman");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\necho \"TMPDIR=$TMPDIR $*\" >> '{log}'\nexec '{podman}' \"$@\"\n",
            log = log.display(),
            podman = podman.display()
        ),
    )?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    let runtime = format!("podman={}", wrapper.display());
    let mut harness = Background::start(&[
        "run",
        "--format",
        "json",
        "--runtime",
        &runtime,
        "--probe",
        "spawn.fork",
    ]);
    let Some(out) = harness.wait(Duration::from_secs(120)) else {
        return Err("breakout still ran after 120s".into());
    };
    let report = out.json()?;
    assert_eq!(report["runs"][0]["start"]["status"], "started", "{report}");
    let calls = std::fs::read_to_string(&log)?;
    let state = format!("{}/", breakout::bundle::SHORT_STATE_BASE);
    let mut engine_calls = 0;
    for call in calls.lines().filter(|c| !c.contains("--version")) {
        engine_calls += 1;
        for flag in [
            "TMPDIR=",
            "--tmpdir ",
            "--root ",
            "--runroot ",
            "--volumepath ",
            "--network-config-dir ",
            "--runtime-flag root=",
        ] {
            let value = call.split(flag).nth(1).unwrap_or("");
            assert!(
                value.starts_with(&state),
                "{flag:?} is not in the run's state directory: {call}"
            );
        }
    }
    assert!(engine_calls >= 3, "import, run and rmi: {calls}");
    assert_nothing_left(harness.pid(), harness.tmp.path());
    Ok(())
}
