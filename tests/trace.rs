//! The system-call tracer (`breakout::trace`) on real containers: the bundle
//! `breakout run --emit-bundle` writes, given a busybox command and a profile that sends
//! calls to the tracer, run by runc and crun under `run_traced`. Each trial has its
//! control: the untraced run of the same profile fails the traced call with ENOSYS,
//! and a profile tracing one call records that call alone.
//!
//! What tracing costs beside `strace -f` is measured by `ci/bench` (section 6), not
//! here: a shared machine's timings are no test.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use breakout::trace::{run_traced, Entry, Traced};
use common::needs::{Host, Need};
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(60);

/// Every entry x86_64 runs, so that no call of the container dies on a bad arch.
fn arches() -> Value {
    json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
}

/// Everything traced: what a recording uses.
fn trace_all() -> Value {
    json!({"defaultAction": "SCMP_ACT_TRACE", "architectures": arches()})
}

/// `uname` traced (with `errnoRet` as the rule's data), everything else allowed.
fn trace_uname(errno_ret: Option<u32>) -> Value {
    let mut rule = json!({"names": ["uname"], "action": "SCMP_ACT_TRACE"});
    if let Some(e) = errno_ret {
        rule["errnoRet"] = json!(e);
    }
    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches(), "syscalls": [rule]})
}

/// A container of `runtime` with a private state directory, deleted (forcibly, by its
/// id) when dropped, whatever the trial's outcome.
struct Container {
    runtime: &'static str,
    state: PathBuf,
    bundle: PathBuf,
    id: String,
    _scratch: Scratch,
}

impl Container {
    /// The bundle breakout emits, running `/bin/sh -c SCRIPT` under `seccomp`.
    fn new(
        runtime: &'static str,
        label: &str,
        script: &str,
        seccomp: Value,
    ) -> Result<Self, Failed> {
        let label = format!("{runtime}-{label}");
        let scratch = Scratch::new(&format!("trace-{label}"));
        let bundle = scratch.path().join("bundle");
        let out = breakout(&["run", "--emit-bundle", &bundle.display().to_string()]);
        out.expect_code(0)?;
        let config_path = bundle.join("config.json");
        let mut config: Value = serde_json::from_slice(
            &std::fs::read(&config_path).map_err(|e| format!("read config.json: {e}"))?,
        )
        .map_err(|e| format!("config.json: {e}"))?;
        config["process"]["args"] = json!(["/bin/sh", "-c", script]);
        config["linux"]["seccomp"] = seccomp;
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap())
            .map_err(|e| format!("write config.json: {e}"))?;
        let state = scratch.sub("state");
        Ok(Container {
            runtime,
            state,
            bundle,
            id: format!("breakout-trace-{label}-{}", std::process::id()),
            _scratch: scratch,
        })
    }

    /// `RUNTIME --root STATE run --bundle BUNDLE ID`: the container in the foreground.
    fn run_command(&self) -> Command {
        let mut cmd = Command::new(self.runtime);
        cmd.arg("--root")
            .arg(&self.state)
            .arg("run")
            .arg("--bundle")
            .arg(&self.bundle)
            .arg(&self.id);
        cmd
    }

    fn traced(&self, deadline: Duration) -> Result<Traced, Failed> {
        run_traced(self.run_command(), deadline).map_err(|e| format!("failed to {e}").into())
    }

    /// The container's status in `RUNTIME state`, if the runtime still knows it.
    fn status(&self) -> Option<String> {
        let out = Command::new(self.runtime)
            .arg("--root")
            .arg(&self.state)
            .args(["state", &self.id])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let state: Value = serde_json::from_slice(&out.stdout).ok()?;
        state["status"].as_str().map(str::to_string)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new(self.runtime)
            .arg("--root")
            .arg(&self.state)
            .args(["delete", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `cmd` untraced to its end within `limit` (killed through a pidfd past it).
fn run_untraced(mut cmd: Command, limit: Duration) -> Result<std::process::Output, Failed> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {:?}: {e}", cmd.get_program()))?;
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(&child),
        rustix::process::PidfdFlags::empty(),
    )
    .map_err(|e| format!("pidfd_open: {e}"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => Ok(out.map_err(|e| format!("wait: {e}"))?),
        Err(_) => {
            let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
            Err(format!("{:?} still running after {limit:?}", cmd.get_program()).into())
        }
    }
}

fn show(traced: &Traced) -> String {
    let labels = |calls: Vec<String>| calls.join(" ");
    format!(
        "exit {:?} (timed out: {}), exec seen: {}\nruntime calls: {}\nworkload calls: {}\nstdout: {}\nstderr: {}",
        traced.exit,
        traced.timed_out,
        traced.exec_seen,
        labels(traced.runtime().map(|s| s.label()).collect()),
        labels(traced.workload().map(|s| s.label()).collect()),
        traced.stdout.text(),
        traced.stderr.text(),
    )
}

/// Whether `runtime` can start containers here, as doctor tells (crun cannot on a
/// hybrid cgroup layout whose cgroup2 mount holds a controller).
fn runtime_problem(runtime: &str) -> Option<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_breakout"))
        .args(["doctor", "--format", "json"])
        .output()
        .ok()?;
    let found: Value = serde_json::from_slice(&out.stdout).ok()?;
    let row = found["runtimes"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == runtime)?;
    row["problem"]
        .as_str()
        .map(|p| format!("{runtime} cannot start containers here: {p}"))
}

/// Recording: with every call traced, the container works as without a filter, and
/// the trace holds the runtime's calls under the filter before the exec and the
/// workload's after it, in its child processes too.
fn records_runtime_and_workload(runtime: &'static str) -> TestResult {
    let c = Container::new(
        runtime,
        "all",
        "echo hi; busybox uname; echo bye",
        trace_all(),
    )?;
    let traced = c.traced(DEADLINE)?;
    let shown = show(&traced);
    if !traced.exit.success() || traced.timed_out {
        return Err(format!("the traced container failed: {shown}").into());
    }
    assert_eq!(traced.stdout.text(), "hi\nLinux\nbye\n", "{shown}");
    assert!(traced.exec_seen, "{shown}");
    for name in ["execve", "uname", "write", "wait4"] {
        let s = traced
            .find(Entry::X86_64, name)
            .ok_or(format!("no {name}: {shown}"))?;
        assert!(s.after_exec > 0, "{name} only before the exec: {shown}");
    }
    // The runtime's init starts the program with an execve under the filter, after
    // the calls of its own that follow the filter's load.
    let execve = traced.find(Entry::X86_64, "execve").unwrap();
    assert!(execve.before_exec >= 1, "{shown}");
    assert!(traced.runtime().count() >= 2, "{shown}");
    // The shell's child (attached as it was created) exec'd busybox and called uname.
    let shell = traced
        .calls
        .iter()
        .find(|c| c.name == Some("wait4"))
        .map(|c| c.pid);
    let in_child = |name: &str| {
        traced
            .calls
            .iter()
            .any(|c| c.after_exec && c.name == Some(name) && Some(c.pid) != shell)
    };
    assert!(
        in_child("execve") && in_child("uname"),
        "{shell:?}: {shown}"
    );
    // The runtime's first traced call comes before the program's first.
    let first_after = traced.calls.iter().position(|c| c.after_exec).unwrap();
    assert!(first_after > 0, "{shown}");
    assert!(traced.calls[first_after..].iter().all(|c| c.after_exec));
    assert!(
        traced
            .calls
            .iter()
            .all(|c| c.entry == Some(Entry::X86_64) && c.name.is_some()),
        "{shown}"
    );
    assert_eq!(traced.unread_stops, 0);
    assert_eq!(traced.calls_dropped, 0);
    // The rule data of a TRACE without errnoRet: EPERM under both.
    assert!(
        traced
            .calls
            .iter()
            .all(|c| c.ret_data == libc::EPERM as u16),
        "{:?}",
        traced
            .calls
            .iter()
            .map(|c| c.ret_data)
            .collect::<std::collections::BTreeSet<_>>()
    );
    Ok(())
}

/// The control: a profile that traces `uname` alone stops `uname` alone, in the
/// workload, with the rule's errnoRet as its data.
fn records_only_the_traced_call(runtime: &'static str) -> TestResult {
    // crun refuses errnoRet on an action that returns no errno.
    let errno_ret: Option<u16> = (runtime == "runc").then_some(42);
    let c = Container::new(
        runtime,
        "uname",
        "echo hi; busybox uname",
        trace_uname(errno_ret.map(u32::from)),
    )?;
    let traced = c.traced(DEADLINE)?;
    let shown = show(&traced);
    if !traced.exit.success() || traced.timed_out {
        return Err(format!("the traced container failed: {shown}").into());
    }
    assert_eq!(traced.stdout.text(), "hi\nLinux\n", "{shown}");
    assert_eq!(traced.summary.len(), 1, "{shown}");
    assert!(!traced.calls.is_empty());
    for call in &traced.calls {
        assert_eq!(call.name, Some("uname"), "{shown}");
        assert!(call.after_exec, "{shown}");
        assert_eq!(
            call.ret_data,
            errno_ret.unwrap_or(libc::EPERM as u16),
            "{call:?}"
        );
    }
    Ok(())
}

/// The same profile and command with the tracer and without: without it the kernel
/// fails each traced call with ENOSYS (busybox's `uname` prints an empty name, its
/// `mkdir` says why), with it they work: the stops are what let them through.
fn untraced_fails_with_enosys(runtime: &'static str) -> TestResult {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": arches(),
        "syscalls": [{"names": ["uname", "mkdir", "mkdirat"], "action": "SCMP_ACT_TRACE"}],
    });
    let script = "busybox uname; busybox mkdir /tmp/d; echo rc=$?";
    let c = Container::new(runtime, "untraced", script, profile.clone())?;
    let out = run_untraced(c.run_command(), DEADLINE)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success()
        || stdout != "\nrc=1\n"
        || !stderr.contains("can't create directory '/tmp/d': Function not implemented")
    {
        return Err(format!(
            "untraced: {:?}\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        )
        .into());
    }
    drop(c);
    let c = Container::new(runtime, "retraced", script, profile)?;
    let traced = c.traced(DEADLINE)?;
    let shown = show(&traced);
    if !traced.exit.success() || traced.stdout.text() != "Linux\nrc=0\n" {
        return Err(format!("traced: {shown}").into());
    }
    let names: std::collections::BTreeSet<_> = traced.calls.iter().filter_map(|c| c.name).collect();
    assert!(names.contains("uname") && names.len() == 2, "{names:?}");
    Ok(())
}

/// Past the deadline the runtime is killed and the container's processes (tracees)
/// with the tracer; the container is then stopped, not running.
fn deadline_kills_runtime_and_container(runtime: &'static str) -> TestResult {
    let c = Container::new(
        runtime,
        "deadline",
        "echo up; exec busybox sleep 120",
        trace_all(),
    )?;
    let began = Instant::now();
    let traced = c.traced(Duration::from_secs(5))?;
    let shown = show(&traced);
    assert!(traced.timed_out, "{shown}");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&traced.exit),
        Some(libc::SIGKILL),
        "{shown}"
    );
    assert_eq!(traced.stdout.text(), "up\n", "{shown}");
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "{:?}",
        began.elapsed()
    );
    // EXITKILL's SIGKILL lands as the tracer thread ends: give it a moment.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let status = c.status();
        if status.as_deref() != Some("running") {
            break;
        }
        if Instant::now() > until {
            return Err(format!("the container is still {status:?}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A trial run once per runtime.
type RuntimeTrial = fn(&'static str) -> TestResult;

fn main() {
    let args = Arguments::from_args();
    let mut host = Host::default();
    let mut trials = Vec::new();
    for runtime in ["runc", "crun"] {
        let needs: &'static [Need] = match runtime {
            "runc" => common::needs::RUNC,
            _ => &[Need::Root, Need::Runtime("crun"), Need::Busybox],
        };
        let problem = host
            .lacks(needs)
            .is_none()
            .then(|| runtime_problem(runtime))
            .flatten();
        let cases: [(&str, RuntimeTrial); 4] = [
            ("records_runtime_and_workload", records_runtime_and_workload),
            ("records_only_the_traced_call", records_only_the_traced_call),
            ("untraced_fails_with_enosys", untraced_fails_with_enosys),
            (
                "deadline_kills_runtime_and_container",
                deadline_kills_runtime_and_container,
            ),
        ];
        for (name, f) in cases {
            let name = format!("{name}::{runtime}");
            let trial = match &problem {
                Some(reason) => {
                    eprintln!("{name} is skipped: {reason}");
                    let reason = reason.clone();
                    Trial::test(name, move || Err(reason.into())).with_ignored_flag(true)
                }
                None => host.trial(&name, needs, move || f(runtime)),
            };
            trials.push(trial);
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
