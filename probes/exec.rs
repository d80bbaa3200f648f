//! `exec.*` probes: start the runner's own binary as the payload (see
//! [`crate::payload`]), which proves the exec by printing the run's nonce, or hand the
//! process to the image's shell.
//!
//! The probes themselves are here (execve, execveat, shell), in [`crate::exec_routes`]
//! (memfd, i386, posix-spawn) and in [`crate::exec_mount`] (per mount: interpreter,
//! mmap-exec).

use std::path::Path;

use breakout_wire::protocol::{handoff_token, Invocation};

use crate::ctx::{Ctx, Verdict};
use crate::payload::{exec, handoff, handoff_payload_argv, payload_argv, ExecCall, DEFAULT_SHELL};
use crate::sys::Errno;

/// What `exec.shell` asks the shell to do: replace itself with its positional arguments,
/// so the shell needs no fork.
pub const SHELL_SCRIPT: &str = "exec \"$0\" \"$@\"";

/// `sh -c 'exec "$0" "$@"' PAYLOAD payload --step exec.shell --handoff TOKEN FLAGS...`
pub fn shell_argv(payload: &str, token: &str, inv: &Invocation) -> Vec<String> {
    let mut argv = vec!["sh".to_string(), "-c".to_string(), SHELL_SCRIPT.to_string()];
    argv.extend(handoff_payload_argv(payload, "exec.shell", token, inv));
    argv
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_argv_passes_the_payload_as_positional_arguments() {
        let inv = Invocation {
            nonce: "N1".into(),
            ..Invocation::default()
        };
        let argv = shell_argv("/p", "T", &inv);
        assert_eq!(&argv[..3], ["sh", "-c", "exec \"$0\" \"$@\""]);
        assert_eq!(
            &argv[3..9],
            ["/p", "payload", "--step", "exec.shell", "--handoff", "T"]
        );
    }
}
