//! Host cases for `exec.*` and `spawn.*`.

use super::{Case, Deny, Expect};

pub fn cases() -> Vec<Case> {
    vec![
        Case::unfiltered("exec.execve", Expect::Escaped),
        Case::denied(
            "exec.execve",
            "deny-execve",
            vec![Deny::probe_exec(libc::SYS_execve)],
            Expect::Blocked("EPERM"),
        ),
        Case::unfiltered("exec.execveat", Expect::Escaped),
        Case::denied(
            "exec.execveat",
            "deny-execveat",
            vec![Deny::eperm(libc::SYS_execveat)],
            Expect::Blocked("EPERM"),
        ),
        Case::unfiltered("spawn.vfork", Expect::Escaped),
        Case::denied(
            "spawn.vfork",
            "kill-vfork",
            vec![Deny::kill(libc::SYS_vfork)],
            Expect::Blocked("SIGSYS"),
        ),
    ]
}
