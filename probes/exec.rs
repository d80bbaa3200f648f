//! `exec.*` probes and payload mode: start the runner's own binary as the payload, which
//! proves the exec by printing the run's nonce and then continues the suite.
//!
//! Payload argv, for every exec probe:
//! `[ARGV0, "payload", "--step", STEP, <Invocation::to_args() with `after` cleared>]`
//! where ARGV0 is the runner's path (the payload takes its own path from it, so an
//! exec-mount copy that is unlinked, or a memfd, does not become the path later probes
//! exec). A payload started in a child (`exec.posix-spawn`) gets `--once` right after
//! STEP: it reports and exits while the runner goes on.
//!
//! The probes themselves are here (execve, execveat, shell), in [`crate::exec_routes`]
//! (memfd, i386, posix-spawn) and in [`crate::exec_mount`] (per mount: interpreter,
//! mmap-exec).

use std::path::Path;

use breakout_wire::protocol::{handoff_token, split_step, Event, Invocation, HANDOFF_PROOF};

use crate::runner::{self, Ctx, Impl, Verdict};
use crate::sys::{self, CArgv, Errno};
use crate::{exec_mount, exec_routes, fs};

/// This module's catalog ids.
pub fn implementation(id: &str) -> Option<Impl> {
    Some(match id {
        "exec.execve" => Impl::Once(execve),
        "exec.execveat" => Impl::Once(execveat),
        "exec.shell" => Impl::Once(shell),
        "exec.memfd" => Impl::Once(exec_routes::memfd),
        "exec.i386" => Impl::Once(exec_routes::i386),
        "exec.posix-spawn" => Impl::Once(exec_routes::posix_spawn),
        "exec.interpreter" => Impl::PerMount(exec_mount::interpreter),
        "exec.mmap-exec" => Impl::PerMount(exec_mount::mmap_exec),
        _ => return None,
    })
}

/// What `exec.shell` asks the shell to do: replace itself with its positional arguments,
/// so the shell needs no fork.
pub const SHELL_SCRIPT: &str = "exec \"$0\" \"$@\"";

pub const DEFAULT_SHELL: &str = "/bin/sh";

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
    argv.extend(flags.to_args());
    argv
}

/// The argv of a payload started by a program of the image in a handoff step: it
/// prints its proof (`--handoff TOKEN`) and exits; see [`handoff`].
pub fn handoff_payload_argv(argv0: &str, step: &str, token: &str, inv: &Invocation) -> Vec<String> {
    let mut argv = payload_argv(argv0, step, inv);
    // [ARGV0, "payload", "--step", STEP, ...]: `--handoff TOKEN` goes right after STEP.
    argv.splice(4..4, ["--handoff".to_string(), token.to_string()]);
    argv
}

/// `sh -c 'exec "$0" "$@"' PAYLOAD payload --step exec.shell --handoff TOKEN FLAGS...`
pub fn shell_argv(payload: &str, token: &str, inv: &Invocation) -> Vec<String> {
    let mut argv = vec!["sh".to_string(), "-c".to_string(), SHELL_SCRIPT.to_string()];
    argv.extend(handoff_payload_argv(payload, "exec.shell", token, inv));
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

pub fn execve(ctx: &Ctx) -> Verdict {
    let argv = payload_argv(&ctx.payload, "exec.execve", &ctx.inv);
    let errno = exec(ctx, ExecCall::Execve, Path::new(&ctx.payload), &argv);
    Verdict::blocked(errno, &format!("execve {}", ctx.payload))
}

pub fn execveat(ctx: &Ctx) -> Verdict {
    let argv = payload_argv(&ctx.payload, "exec.execveat", &ctx.inv);
    let errno = exec(ctx, ExecCall::Execveat, Path::new(&ctx.payload), &argv);
    Verdict::blocked(errno, &format!("execveat AT_FDCWD {}", ctx.payload))
}

pub fn shell(ctx: &Ctx) -> Verdict {
    let shell = ctx.inv.shell.as_deref().unwrap_or(DEFAULT_SHELL);
    let token = handoff_token(&ctx.inv.nonce, "exec.shell");
    let argv = shell_argv(&ctx.payload, &token, &ctx.inv);
    match handoff(ctx, "exec.shell", Path::new(shell), &argv) {
        errno @ Errno(libc::ENOENT) => {
            Verdict::not_applicable(Some(errno), format!("no shell at {shell}"))
        }
        errno => Verdict::blocked(errno, &format!("execve {shell}")),
    }
}

/// How the payload says it was started, by step.
pub fn payload_detail(step: &str) -> String {
    match split_step(step) {
        ("exec.execve", None) => "payload started by execve(2)".to_string(),
        ("exec.execveat", None) => "payload started by execveat(2)".to_string(),
        ("exec.shell", None) => "payload started by a shell's exec".to_string(),
        ("exec.memfd", None) => {
            "payload started from a memfd by execveat(AT_EMPTY_PATH), with no file on disk"
                .to_string()
        }
        ("exec.i386", None) => {
            "payload started by execve through the 32-bit entry (int 0x80)".to_string()
        }
        ("exec.posix-spawn", None) => {
            "payload started by execve in a clone(CLONE_VM|CLONE_VFORK) child, as posix_spawn does"
                .to_string()
        }
        ("exec.interpreter", Some(dst)) => {
            format!("payload started by a shell that read its script from {dst}")
        }
        ("fs.exec-mount", Some(dst)) => {
            format!("payload copied to {dst} and started from there by execve(2)")
        }
        _ => format!("payload started for step {step}"),
    }
}

/// Payload mode after a handoff: a program of the image started us, so stdout is the
/// container's stderr and nothing here is believed but the token, which proves that
/// the program ran with what the step gave it. Prints the proof and exits.
pub fn handoff_payload(ctx: &Ctx, step: &str, token: &str) -> ! {
    if let ("exec.interpreter", Some(dst)) = split_step(step) {
        let _ = std::fs::remove_file(exec_mount::script_path(dst, &ctx.inv.nonce));
    }
    ctx.out.raw(&format!("{HANDOFF_PROOF} {token}"));
    std::process::exit(0);
}

/// Payload mode: report the exec of `step` as escaped with the nonce as witness, then
/// carry on with the suite after it, as the runner it replaced would have. With `once`
/// (a payload started in a child while the runner waits) it reports and exits.
pub fn payload(ctx: &Ctx, step: &str, once: bool) {
    let verdict = payload_verdict(ctx, step);
    runner::emit_verdict(ctx, step, verdict);
    if once {
        ctx.out.flush();
        std::process::exit(0);
    }
    runner::run_suite(ctx, Some(step));
}

/// What a payload says about the step that started it: escaped, with the nonce as the
/// witness, unless the step judges the payload's circumstances (`fs.setuid` looks at
/// whether it runs with euid 0).
fn payload_verdict(ctx: &Ctx, step: &str) -> Verdict {
    let mut verdict = match split_step(step) {
        ("fs.setuid", Some(dst)) => fs::setuid_payload(ctx, dst),
        ("fs.exec-mount", Some(dst)) => {
            let mut detail = payload_detail(step);
            let copy = fs::exec_copy_path(dst, &ctx.inv.nonce);
            if let Err(err) = std::fs::remove_file(&copy) {
                detail = format!("{detail}; removing {} failed: {err}", copy.display());
            }
            Verdict::escaped(detail)
        }
        ("exec.interpreter", Some(dst)) => {
            let mut detail = payload_detail(step);
            let script = exec_mount::script_path(dst, &ctx.inv.nonce);
            if let Err(err) = std::fs::remove_file(&script) {
                detail = format!("{detail}; removing {} failed: {err}", script.display());
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
    fn shell_argv_passes_the_payload_as_positional_arguments() {
        let argv = shell_argv("/p", "T", &inv());
        assert_eq!(&argv[..3], ["sh", "-c", "exec \"$0\" \"$@\""]);
        assert_eq!(
            &argv[3..9],
            ["/p", "payload", "--step", "exec.shell", "--handoff", "T"]
        );
    }

    #[test]
    fn exec_and_spawn_ids_are_implemented_with_their_shape() {
        use breakout_wire::catalog::{Goal, CATALOG};
        for info in CATALOG
            .iter()
            .filter(|p| matches!(p.goal, Goal::Exec | Goal::Spawn))
        {
            match implementation(info.id).or_else(|| crate::spawn::implementation(info.id)) {
                Some(Impl::Once(_)) => assert!(!info.per_mount, "{}", info.id),
                Some(Impl::PerMount(_)) => assert!(info.per_mount, "{}", info.id),
                None => panic!("{} has no implementation", info.id),
            }
        }
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
