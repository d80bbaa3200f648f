//! `breakout-probe`: the in-container side of breakout.
//!
//! ```text
//! breakout-probe run --nonce N [--after STEP] [--canary ADDR] [--shell PATH] [--mount DST]... --probes ID,...
//! breakout-probe payload --step STEP [--once | --handoff TOKEN] <the same flags>
//! breakout-probe keep
//! ```
//!
//! `run` prints `hello`, then `start`/`verdict` for every step and `done` (see
//! [`breakout_wire::protocol`]). `payload` is what exec probes start: it reports STEP as
//! escaped with the nonce as witness and continues the suite after STEP, without a
//! second `hello`. Everything runs in one thread of one process, so neither mode
//! depends on being allowed to fork or to create threads.
//!
//! Exit codes: 0 the suite ran to `done`; 2 bad arguments.
//!
//! The binary has an entry point of its own ([`main`]), not std's: std's start makes
//! calls a tight allow-list may not grant, and aborts when one fails (`poll` of the
//! standard descriptors, `rt_sigaction` for SIGPIPE, `sigaltstack` and `mmap` for its
//! stack-overflow handler). An application's profile must be testable with the runner
//! as its process, so the runner asks only for what it cannot do without, and tries
//! to ignore SIGPIPE without needing to.

// The unit tests keep libtest's own entry point.
#![cfg_attr(not(test), no_main)]

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("breakout-probe makes raw x86_64 Linux system calls");

mod attempts;
mod ctx;
mod exec;
mod exec_mount;
mod exec_routes;
mod facts;
mod fs;
mod fs_mount;
mod fs_setuid;
mod host;
mod host_device;
mod ipc;
mod kernel;
mod kernel_load;
mod kernel_proof;
mod kernel_ptrace;
mod namespace;
mod net;
mod net_canary;
mod net_i386;
mod net_send;
mod net_socket;
mod net_uring;
mod payload;
mod registry;
mod runner;
mod spawn;
mod spawn_clone_vm;
mod sys;
mod sys_i386;
mod traced;

use std::ffi::OsString;

use breakout_wire::faults::Fault;
use breakout_wire::protocol::{Event, Invocation};

use ctx::{Ctx, Out};

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Run(Invocation),
    /// `once`: report the step and exit instead of continuing the suite; for payloads
    /// started in a child (`exec.posix-spawn`, `fs.setuid`) while the runner goes on.
    Payload {
        step: String,
        once: bool,
        /// Which of the step's routes started it (`--route K`), when the step has several.
        route: Option<usize>,
        inv: Invocation,
    },
    /// Started by a program of the image in a handoff step: print the proof, exit.
    Handoff {
        step: String,
        token: String,
        inv: Invocation,
    },
}

fn parse_args(args: &[String]) -> Result<Mode, String> {
    let (mode, rest) = args
        .split_first()
        .ok_or_else(|| "missing mode: run or payload".to_string())?;
    let mode = match mode.as_str() {
        "run" => Mode::Run(Invocation::parse(rest)?),
        "payload" => {
            let (route, rest) = payload::take_route(rest)?;
            payload_mode(&rest, route)?
        }
        other => return Err(format!("unknown mode {other} (expected run or payload)")),
    };
    let inv = match &mode {
        Mode::Run(inv) | Mode::Payload { inv, .. } | Mode::Handoff { inv, .. } => inv,
    };
    check_nonce(&inv.nonce)?;
    Ok(mode)
}

/// `payload --step STEP [--once | --handoff TOKEN] FLAGS...`, with `--route K` taken out.
fn payload_mode(rest: &[String], route: Option<usize>) -> Result<Mode, String> {
    Ok(match rest {
        [flag, step, handoff, token, flags @ ..] if flag == "--step" && handoff == "--handoff" => {
            Mode::Handoff {
                step: step.clone(),
                token: token.clone(),
                inv: Invocation::parse(flags)?,
            }
        }
        [flag, step, once, flags @ ..] if flag == "--step" && once == "--once" => Mode::Payload {
            step: step.clone(),
            once: true,
            route,
            inv: Invocation::parse(flags)?,
        },
        [flag, step, flags @ ..] if flag == "--step" => Mode::Payload {
            step: step.clone(),
            once: false,
            route,
            inv: Invocation::parse(flags)?,
        },
        _ => return Err("payload mode needs --step STEP first".to_string()),
    })
}

/// The nonce becomes part of file names; keeping it to a plain token keeps every marker
/// inside the directory it is meant for.
fn check_nonce(nonce: &str) -> Result<(), String> {
    let plain = nonce
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain && nonce.len() <= 128 {
        Ok(())
    } else {
        Err(format!(
            "nonce {nonce:?} must be at most 128 characters of [A-Za-z0-9_-]"
        ))
    }
}

/// The binary exec probes start: our own path as the harness gave it. Otherwise the
/// target of `/proc/self/exe`, resolved now: passed on as a link it would name whatever
/// binary reads it, which for `exec.shell` is the shell.
fn payload_path(argv0: Option<&OsString>) -> String {
    match argv0.and_then(|a| a.to_str()) {
        Some(path) if path.starts_with('/') => path.to_string(),
        _ => std::fs::read_link(SELF_EXE)
            .ok()
            .and_then(|p| p.into_os_string().into_string().ok())
            .filter(|p| p.starts_with('/') && !p.ends_with(" (deleted)"))
            .unwrap_or_else(|| SELF_EXE.to_string()),
    }
}

const SELF_EXE: &str = "/proc/self/exe";

/// `keep`: does nothing until killed. The first process of a container that only holds
/// a network namespace for the run's probe containers to join, where an engine can
/// share one only by container (docker's `--network container:NAME`).
fn keep() -> ! {
    loop {
        // SAFETY: pause(2) takes nothing and only waits for a signal.
        unsafe { libc::pause() };
    }
}

/// A set-uid run of this binary (fs.setuid's copy, run by the child that dropped to
/// 65534) does one thing: report as that step's payload, once. Anything else started
/// with privileges it was not given (a copy on a volume found from the host in the
/// moment it exists) stops here: no suite, no probe, no resumed run.
fn refuse_set_uid_runs(mode: &Mode) {
    // The kernel's own word, with no system call a filter could deny: AT_SECURE is set
    // for a process started set-uid or set-gid (or with file capabilities).
    // SAFETY: getauxval reads the auxiliary vector glibc kept; it cannot fail.
    let raised = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    if !raised {
        return;
    }
    use breakout_wire::probe_id::ProbeId;
    let fs_setuid_payload = matches!(
        mode,
        Mode::Payload { step, once: true, .. }
            if matches!(
                ProbeId::of_step(step).0,
                Some(ProbeId::FsSetuid | ProbeId::FsSetuidBinary)
            )
    );
    if !fs_setuid_payload {
        eprintln!(
            "breakout-probe: started set-uid or set-gid: only the payload of fs.setuid and fs.setuid-binary may run so"
        );
        std::process::exit(2);
    }
}

/// The C entry point glibc's start calls. std's own start is left out (see the crate
/// docs); std still gets the arguments, which glibc hands to every init function.
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    start()
}

/// Under `cargo test` libtest's entry point runs the tests; this `main`, never called,
/// keeps the runner's code as used as it is in the real binary.
#[cfg(test)]
fn main() {
    let _ = start();
}

fn start() -> libc::c_int {
    // Writes to a pipe or socket whose reader is gone then fail with EPIPE instead of
    // killing the runner. A filter that denies rt_sigaction leaves SIGPIPE as it is:
    // the runner still starts and reports.
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    run();
    use std::io::Write;
    let _ = std::io::stdout().flush();
    0
}

fn run() {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let words: Result<Vec<String>, _> = argv
        .iter()
        .skip(1)
        .map(|a| a.clone().into_string())
        .collect();
    if matches!(words.as_deref(), Ok([only]) if only == "keep") {
        keep();
    }
    let mode = words
        .map_err(|bad| format!("argument {bad:?} is not UTF-8"))
        .and_then(|args| parse_args(&args));
    let mode = match mode {
        Ok(mode) => mode,
        Err(err) => {
            eprintln!("breakout-probe: {err}");
            eprintln!("usage: breakout-probe run --nonce N [--after STEP] [--canary ADDR] [--shell PATH] [--mount DST]... [--sandbox KERNEL] --probes ID,...");
            eprintln!(
                "       breakout-probe payload --step STEP [--once | --handoff TOKEN] <run flags>"
            );
            eprintln!("       breakout-probe keep");
            std::process::exit(2);
        }
    };
    refuse_set_uid_runs(&mode);
    let payload = payload_path(argv.first());
    let (Mode::Run(inv) | Mode::Payload { inv, .. } | Mode::Handoff { inv, .. }) = &mode;
    facts::set_sandbox(inv.sandbox.as_deref());
    // The key comes in the environment (root-only to read, unlike argv); payloads,
    // started with an empty environment, have none.
    let key = std::env::var(breakout_wire::protocol::KEY_ENV)
        .ok()
        .and_then(|hex| breakout_wire::protocol::Key::from_hex(&hex));
    match mode {
        // Fault injection: a container that ends without a word.
        Mode::Run(inv) if inv.fault.as_deref().map(Fault::parse) == Some(Ok(Fault::Silent)) => {
            std::process::exit(0)
        }
        Mode::Run(inv) => {
            let ctx = Ctx {
                inv,
                payload,
                out: Out::new(),
                key,
            };
            ctx.out.emit(Event::Hello {
                nonce: ctx.inv.nonce.clone(),
                after: ctx.inv.after.clone(),
                pid: std::process::id(),
                uid: sys::uid(),
                gid: sys::gid(),
            });
            runner::inject_garbage(&ctx);
            runner::run_suite(&ctx, ctx.inv.after.as_deref());
        }
        Mode::Payload {
            step,
            once,
            route,
            inv,
        } => {
            let ctx = Ctx {
                inv,
                payload,
                out: Out::new(),
                key,
            };
            payload::payload(
                &ctx,
                &step,
                once,
                route,
                registry::payload_judge,
                runner::run_suite,
            );
        }
        Mode::Handoff { step, token, inv } => {
            let ctx = Ctx {
                inv,
                payload,
                out: Out::new(),
                key: None,
            };
            payload::handoff_payload(&ctx, &step, &token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_both_modes() {
        let run = parse_args(&strings(&["run", "--nonce", "n", "--probes", "spawn.fork"])).unwrap();
        assert!(matches!(run, Mode::Run(inv) if inv.probes == ["spawn.fork"]));
        let payload = parse_args(&strings(&[
            "payload",
            "--step",
            "exec.execve",
            "--nonce",
            "n",
            "--probes",
            "exec.execve",
        ]))
        .unwrap();
        assert!(matches!(payload, Mode::Payload { step, .. } if step == "exec.execve"));
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert!(parse_args(&[]).is_err());
        assert!(parse_args(&strings(&["walk", "--nonce", "n"])).is_err());
        assert!(parse_args(&strings(&["payload", "--nonce", "n"])).is_err());
        assert!(parse_args(&strings(&["run", "--nonce", "../etc"])).is_err());
    }

    #[test]
    fn payload_path_is_argv0_only_when_absolute() {
        assert_eq!(
            payload_path(Some(&"/.breakout/breakout-probe".into())),
            "/.breakout/breakout-probe"
        );
        let own = std::fs::read_link(SELF_EXE).unwrap();
        assert_eq!(
            payload_path(Some(&"./breakout-probe".into())),
            own.to_str().unwrap()
        );
        assert_eq!(payload_path(None), own.to_str().unwrap());
    }
}
