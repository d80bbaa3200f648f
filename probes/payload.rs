//! The payload mechanism every exec probe shares: the payload's argv, the exec itself
//! (with an empty environment), the handoff of the process to a program of the image,
//! and the payload modes the runner's binary starts in.
//!
//! Payload argv, for every exec probe:
//! `[ARGV0, "payload", "--step", STEP, <Invocation::to_args() with `after` cleared>]`
//! where ARGV0 is the runner's path (the payload takes its own path from it, so an
//! exec-mount copy that is unlinked, or a memfd, does not become the path later probes
//! exec). A payload started in a child (`exec.posix-spawn`) gets `--once` right after
//! STEP: it reports and exits while the runner goes on; one started by a program of the
//! image (a handoff) gets `--handoff TOKEN` there.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use breakout_wire::catalog::ProbeId;
use breakout_wire::names::Leftover;
use breakout_wire::protocol::{Event, Invocation, HANDOFF_PROOF};

use crate::ctx::{Ctx, Verdict};
use crate::sys::{self, CArgv, Errno};

/// The shell handoff steps give the process to, unless the harness names another.
pub const DEFAULT_SHELL: &str = "/bin/sh";

/// Set in a child that runs a step beside the runner (see [`crate::traced`]): every
/// payload it starts reports once and exits, as a payload started in a child must.
static ONCE: AtomicBool = AtomicBool::new(false);

/// From now on, payloads this process starts get `--once`.
pub fn report_once() {
    ONCE.store(true, Ordering::Relaxed);
}

/// The payload's argv (see the module docs).
pub fn payload_argv(argv0: &str, step: &str, inv: &Invocation) -> Vec<String> {
    let mut flags = inv.clone();
    flags.after = None;
    let mut argv = vec![
        argv0.to_string(),
        "payload".to_string(),
        "--step".to_string(),
        step.to_string(),
    ];
    if ONCE.load(Ordering::Relaxed) {
        argv.push("--once".to_string());
    }
    argv.extend(flags.to_args());
    argv
}

/// `argv` (a [`payload_argv`]) with `--once` right after STEP, once.
pub fn with_once(mut argv: Vec<String>) -> Vec<String> {
    if argv.get(4).map(String::as_str) != Some("--once") {
        argv.insert(4, "--once".to_string());
    }
    argv
}

/// `argv` (a [`payload_argv`]) telling the payload which of the step's routes started it.
pub fn with_route(mut argv: Vec<String>, route: usize) -> Vec<String> {
    // [ARGV0, "payload", "--step", STEP, ...]: `--route K` goes right after STEP.
    argv.splice(4..4, ["--route".to_string(), route.to_string()]);
    argv
}

/// Takes `--route K` out of a payload's arguments (right after `--step STEP`).
pub fn take_route(rest: &[String]) -> Result<(Option<usize>, Vec<String>), String> {
    match rest {
        [flag, step, route, k, tail @ ..] if flag == "--step" && route == "--route" => {
            let k = k
                .parse::<usize>()
                .map_err(|_| format!("--route needs a route number, not {k:?}"))?;
            let mut kept = vec![flag.clone(), step.clone()];
            kept.extend(tail.iter().cloned());
            Ok((Some(k), kept))
        }
        _ => Ok((None, rest.to_vec())),
    }
}

/// The argv of a payload started by a program of the image in a handoff step: it
/// prints its proof (`--handoff TOKEN`) and exits; see [`handoff`].
pub fn handoff_payload_argv(argv0: &str, step: &str, token: &str, inv: &Invocation) -> Vec<String> {
    let mut argv = payload_argv(argv0, step, inv);
    // [ARGV0, "payload", "--step", STEP, ...]: `--handoff TOKEN` goes right after STEP.
    argv.splice(4..4, ["--handoff".to_string(), token.to_string()]);
    argv
}

/// Hands the process to `program`, a program of the image (see the `handoff` event in
/// `breakout_wire::protocol`). Returns only if the exec failed, with its errno; stdout is
/// ours again then.
///
/// 1. The same execve with a path that does not exist: a filter sees the very same
///    argument registers (the path is written into one buffer), so if it kills or
///    denies the exec, it does so here, before any program of the image ran, and the
///    answer is ours to report. ENOENT means the exec itself is allowed.
/// 2. `handoff` on stdout, then stdout moves out of reach: the program gets the
///    container's stderr as its stdout, and our copy of the protocol pipe is
///    close-on-exec. Nothing the image prints can be read as a protocol line.
/// 3. The real exec, with an empty environment (the key stays here).
pub fn handoff(ctx: &Ctx, step: &str, program: &Path, argv: &[String]) -> Errno {
    use std::os::unix::ffi::OsStrExt;
    let missing = format!("/.breakout/.breakout-no-such-file-{}", ctx.inv.nonce);
    let real = program.as_os_str().as_bytes();
    if real.contains(&0) {
        return Errno(libc::EINVAL);
    }
    let Ok(argv) = CArgv::new(argv) else {
        return Errno(libc::EINVAL);
    };
    let mut path = vec![0u8; real.len().max(missing.len()) + 1];
    path[..missing.len()].copy_from_slice(missing.as_bytes());
    ctx.out.flush();
    let first = sys::raw_execve(nul_terminated(&path), &argv);
    if first != Errno(libc::ENOENT) {
        return first;
    }
    ctx.out.emit(Event::Handoff {
        step: step.to_string(),
    });
    let saved = match sys::move_stdout_to_stderr() {
        Ok(saved) => saved,
        Err(errno) => return errno,
    };
    path.fill(0);
    path[..real.len()].copy_from_slice(real);
    let errno = sys::raw_execve(nul_terminated(&path), &argv);
    sys::restore_stdout(saved);
    errno
}

fn nul_terminated(bytes: &[u8]) -> &std::ffi::CStr {
    std::ffi::CStr::from_bytes_until_nul(bytes).expect("the buffer ends with a NUL byte")
}

/// Which exec system call to use.
#[derive(Clone, Copy)]
pub enum ExecCall {
    Execve,
    Execveat,
}

/// Execs `path` with `argv` and an empty (NULL) environment. Returns only on failure.
pub fn exec(ctx: &Ctx, call: ExecCall, path: &Path, argv: &[String]) -> Errno {
    let (Ok(path), Ok(argv)) = (sys::path_cstring(path), CArgv::new(argv)) else {
        // Only an interior NUL byte gets here, which the kernel would reject the same way.
        return Errno(libc::EINVAL);
    };
    // The payload writes to the same stdout; anything still buffered here would be lost.
    ctx.out.flush();
    match call {
        ExecCall::Execve => sys::raw_execve(&path, &argv),
        ExecCall::Execveat => sys::raw_execveat(&path, &argv),
    }
}

/// How the payload says it was started, by step.
pub fn payload_detail(step: &str) -> String {
    match ProbeId::of_step(step) {
        (Some(ProbeId::ExecExecve), None) => "payload started by execve(2)".to_string(),
        (Some(ProbeId::ExecExecveat), None) => "payload started by execveat(2)".to_string(),
        (Some(ProbeId::ExecMemfd), None) => {
            "payload started from a memfd, with no file on disk (the route names the call)"
                .to_string()
        }
        (Some(ProbeId::ExecI386), None) => {
            "payload started by execve through the 32-bit entry (int 0x80)".to_string()
        }
        (Some(ProbeId::ExecPosixSpawn), None) => {
            "payload started by execve in a clone(CLONE_VM|CLONE_VFORK) child, as posix_spawn does"
                .to_string()
        }
        (Some(ProbeId::FsExecMount), Some(dst)) => {
            format!("payload copied to {dst} and started from there by execve(2)")
        }
        _ => format!("payload started for step {step}"),
    }
}

/// Payload mode after a handoff: a program of the image started us, so stdout is the
/// container's stderr and nothing here is believed but the token, which proves that
/// the program ran with what the step gave it. Prints the proof and exits.
pub fn handoff_payload(ctx: &Ctx, step: &str, token: &str) -> ! {
    if let (Some(ProbeId::ExecInterpreter), Some(dst)) = ProbeId::of_step(step) {
        let _ = std::fs::remove_file(Leftover::Script.path(dst, &ctx.inv.nonce));
    }
    ctx.out.raw(&format!("{HANDOFF_PROOF} {token}"));
    std::process::exit(0);
}

/// A step's own judgement of the payload it started (`fs.setuid` looks at whether the
/// payload runs with euid 0); `None` for steps whose payload running is the escape.
pub type Judge = fn(&Ctx, &str) -> Option<Verdict>;

/// Payload mode: report the exec of `step` as escaped with the nonce as witness (or as
/// `judge` says), then carry on with the suite after it through `resume`, as the runner
/// it replaced would have. With `once` (a payload started in a child while the runner
/// waits) it reports and exits.
pub fn payload(
    ctx: &Ctx,
    step: &str,
    once: bool,
    route: Option<usize>,
    judge: Judge,
    resume: fn(&Ctx, Option<&str>),
) {
    let mut verdict = payload_verdict(ctx, step, judge);
    if let (Some(k), (Some(id), _)) = (route, ProbeId::of_step(step)) {
        verdict.route = breakout_wire::routes::routes(id).get(k).map(|r| r.name);
    }
    ctx.emit_verdict(step, verdict);
    if once {
        ctx.out.flush();
        std::process::exit(0);
    }
    resume(ctx, Some(step));
}

/// What a payload says about the step that started it: escaped, with the nonce as the
/// witness, unless the step judges the payload's circumstances (`fs.setuid` looks at
/// whether it runs with euid 0).
fn payload_verdict(ctx: &Ctx, step: &str, judge: Judge) -> Verdict {
    if let Some(mut verdict) = judge(ctx, step) {
        verdict.nonce = Some(ctx.inv.nonce.clone());
        return verdict;
    }
    let mut verdict = match ProbeId::of_step(step) {
        (Some(ProbeId::FsExecMount), Some(dst)) => {
            let mut detail = payload_detail(step);
            let copy = Leftover::ExecCopy.path(dst, &ctx.inv.nonce);
            if let Err(err) = std::fs::remove_file(&copy) {
                detail = format!("{detail}; removing {} failed: {err}", copy.display());
            }
            Verdict::escaped(detail)
        }
        _ => Verdict::escaped(payload_detail(step)),
    };
    verdict.nonce = Some(ctx.inv.nonce.clone());
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Invocation {
        Invocation {
            nonce: "N1".into(),
            after: Some("spawn.fork".into()),
            canary: Some("10.0.0.1:9".into()),
            shell: None,
            mounts: vec!["/scratch".into()],
            probes: vec!["exec.execve".into(), "fs.exec-mount".into()],
            fault: None,
            sandbox: None,
            hold: false,
            host_namespaces: Vec::new(),
        }
    }

    #[test]
    fn payload_argv_carries_the_run_without_after() {
        let argv = payload_argv("/.breakout/breakout-probe", "exec.execve", &inv());
        assert_eq!(
            argv,
            [
                "/.breakout/breakout-probe",
                "payload",
                "--step",
                "exec.execve",
                "--nonce",
                "N1",
                "--canary",
                "10.0.0.1:9",
                "--mount",
                "/scratch",
                "--probes",
                "exec.execve,fs.exec-mount",
            ]
        );
        // What the payload parses back is the same run, resuming nowhere by itself.
        let parsed = Invocation::parse(&argv[4..]).unwrap();
        assert_eq!(parsed.after, None);
        assert_eq!(parsed.nonce, "N1");
    }

    #[test]
    fn payload_names_the_technique() {
        assert_eq!(
            payload_detail("fs.exec-mount@/scratch"),
            "payload copied to /scratch and started from there by execve(2)"
        );
        assert_eq!(
            payload_detail("exec.execveat"),
            "payload started by execveat(2)"
        );
    }
}
