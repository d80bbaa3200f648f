//! Host cases for `exec.*` and `spawn.*`.
//!
//! Exec techniques are denied with [`Deny::probe_exec`] (only for the probes' NULL
//! environment pointer), so the probe binary itself still starts. Every seccompiler
//! filter checks the architecture first and kills any other (`SECCOMP_RET_KILL_PROCESS`),
//! so the i386 techniques die of SIGSYS under a filter that denies nothing they use.

use super::{Case, Cmp, Deny, Expect};

/// `__X32_SYSCALL_BIT`.
const X32_BIT: i64 = 0x4000_0000;

/// A syscall no probe of this group makes: a filter denying it only shows what the
/// filter's architecture check does.
const UNRELATED: i64 = libc::SYS_uselib;

pub fn cases() -> Vec<Case> {
    vec![
        // exec.execve
        Case::unfiltered("exec.execve", Expect::Escaped),
        Case::denied(
            "exec.execve",
            "deny-execve",
            vec![Deny::probe_exec(libc::SYS_execve)],
            Expect::Blocked("EPERM"),
        ),
        // exec.execveat
        Case::unfiltered("exec.execveat", Expect::Escaped),
        Case::denied(
            "exec.execveat",
            "deny-execveat",
            vec![Deny::eperm(libc::SYS_execveat)],
            Expect::Blocked("EPERM"),
        ),
        // exec.shell (the host's /bin/sh)
        Case::unfiltered("exec.shell", Expect::Escaped),
        Case::denied(
            "exec.shell",
            "deny-execve",
            vec![Deny::probe_exec(libc::SYS_execve)],
            Expect::Blocked("EPERM"),
        ),
        // exec.memfd: either of its two syscalls
        Case::unfiltered("exec.memfd", Expect::Escaped),
        Case::denied(
            "exec.memfd",
            "deny-memfd_create",
            vec![Deny::eperm(libc::SYS_memfd_create)],
            Expect::Blocked("EPERM"),
        ),
        // Denying execveat alone leaves execve(/proc/self/fd/N), glibc's fexecve route.
        Case::denied(
            "exec.memfd",
            "deny-execveat-misses-proc-self-fd",
            vec![Deny::probe_exec(libc::SYS_execveat)],
            Expect::Escaped,
        ),
        Case::denied(
            "exec.memfd",
            "deny-execveat-and-execve",
            vec![
                Deny::probe_exec(libc::SYS_execveat),
                Deny::probe_exec(libc::SYS_execve),
            ],
            Expect::Blocked("EPERM"),
        ),
        // Denying execve alone does not cover it: the first route goes through execveat.
        Case::denied(
            "exec.memfd",
            "deny-execve-misses-it",
            vec![Deny::probe_exec(libc::SYS_execve)],
            Expect::Escaped,
        ),
        // exec.i386
        Case::unfiltered(
            "exec.i386",
            Expect::EscapedOrNotApplicable("no i386 emulation"),
        ),
        Case::denied(
            "exec.i386",
            "any-x86_64-filter-kills-int80",
            vec![Deny::eperm(UNRELATED)],
            Expect::Blocked("SIGSYS"),
        ),
        // exec.posix-spawn: the clone, or the child's execve (errno or kill)
        Case::unfiltered("exec.posix-spawn", Expect::Escaped),
        Case::denied(
            "exec.posix-spawn",
            "deny-clone",
            vec![Deny::eperm(libc::SYS_clone)],
            Expect::Blocked("EPERM"),
        ),
        Case::denied(
            "exec.posix-spawn",
            "deny-execve",
            vec![Deny::probe_exec(libc::SYS_execve)],
            Expect::Blocked("EPERM"),
        ),
        // The kill ends only the child (its own thread group); the runner reports it.
        Case::denied(
            "exec.posix-spawn",
            "kill-execve-in-child",
            vec![Deny::kill(libc::SYS_execve).when(2, Cmp::Eq(0))],
            Expect::Blocked("SIGSYS"),
        ),
        // Denying fork, vfork and clone3 does not cover it.
        Case::denied(
            "exec.posix-spawn",
            "deny-fork-vfork-clone3-misses-it",
            vec![
                Deny::eperm(libc::SYS_fork),
                Deny::eperm(libc::SYS_vfork),
                Deny::eperm(libc::SYS_clone3),
            ],
            Expect::Escaped,
        ),
        // exec.interpreter: the shell's execve
        Case::unfiltered("exec.interpreter", Expect::Escaped).with_scratch_mount(),
        Case::denied(
            "exec.interpreter",
            "deny-execve",
            vec![Deny::probe_exec(libc::SYS_execve)],
            Expect::Blocked("EPERM"),
        )
        .with_scratch_mount(),
        // exec.mmap-exec: mmap asking for PROT_EXEC
        Case::unfiltered("exec.mmap-exec", Expect::Escaped).with_scratch_mount(),
        Case::denied(
            "exec.mmap-exec",
            "deny-mmap-prot-exec",
            vec![Deny::eperm(libc::SYS_mmap).when(
                2,
                Cmp::MaskedEq(libc::PROT_EXEC as u64, libc::PROT_EXEC as u64),
            )],
            Expect::Blocked("EPERM"),
        )
        .with_scratch_mount(),
        // spawn.fork
        Case::unfiltered("spawn.fork", Expect::Escaped),
        Case::denied(
            "spawn.fork",
            "deny-fork",
            vec![Deny::eperm(libc::SYS_fork)],
            Expect::Blocked("EPERM"),
        ),
        // spawn.vfork
        Case::unfiltered("spawn.vfork", Expect::Escaped),
        Case::denied(
            "spawn.vfork",
            "kill-vfork",
            vec![Deny::kill(libc::SYS_vfork)],
            Expect::Blocked("SIGSYS"),
        ),
        // spawn.clone
        Case::unfiltered("spawn.clone", Expect::Escaped),
        Case::denied(
            "spawn.clone",
            "deny-clone",
            vec![Deny::eperm(libc::SYS_clone)],
            Expect::Blocked("EPERM"),
        ),
        // spawn.clone3
        Case::unfiltered("spawn.clone3", Expect::Escaped),
        Case::denied(
            "spawn.clone3",
            "deny-clone3",
            vec![Deny::eperm(libc::SYS_clone3)],
            Expect::Blocked("EPERM"),
        ),
        // Docker's way: clone3 answers ENOSYS so that callers fall back to clone.
        Case::denied(
            "spawn.clone3",
            "enosys-clone3",
            vec![Deny::errno(libc::SYS_clone3, libc::ENOSYS)],
            Expect::Blocked("ENOSYS"),
        ),
        // spawn.thread: clone with CLONE_THREAD only, so plain clone would still pass
        Case::unfiltered("spawn.thread", Expect::Escaped),
        Case::denied(
            "spawn.thread",
            "deny-clone-thread",
            vec![Deny::eperm(libc::SYS_clone).when(
                0,
                Cmp::MaskedEq(libc::CLONE_THREAD as u64, libc::CLONE_THREAD as u64),
            )],
            Expect::Blocked("EPERM"),
        ),
        // Waiting for the thread does not depend on futex: it polls instead.
        Case::denied(
            "spawn.thread",
            "deny-futex-still-waits",
            vec![Deny::eperm(libc::SYS_futex)],
            Expect::Escaped,
        ),
        // spawn.i386-fork
        Case::unfiltered(
            "spawn.i386-fork",
            Expect::EscapedOrNotApplicable("no i386 emulation"),
        ),
        Case::denied(
            "spawn.i386-fork",
            "any-x86_64-filter-kills-int80",
            vec![Deny::eperm(UNRELATED)],
            Expect::Blocked("SIGSYS"),
        ),
        // Denying every x86_64 spawn syscall does not make int 0x80 fork pass: the
        // architecture check comes first.
        Case::denied(
            "spawn.i386-fork",
            "deny-x86_64-spawns-still-kills-int80",
            vec![
                Deny::eperm(libc::SYS_fork),
                Deny::eperm(libc::SYS_vfork),
                Deny::eperm(libc::SYS_clone),
                Deny::eperm(libc::SYS_clone3),
            ],
            Expect::Blocked("SIGSYS"),
        ),
        // spawn.x32 (kernels without x32, like this one's, answer ENOSYS)
        Case::unfiltered("spawn.x32", Expect::EscapedOrNotApplicable("no x32 ABI")),
        // A filter sees x32 numbers before the kernel's table does.
        Case::denied(
            "spawn.x32",
            "deny-x32-getpid-and-fork",
            vec![
                Deny::eperm(libc::SYS_getpid | X32_BIT),
                Deny::eperm(libc::SYS_fork | X32_BIT),
            ],
            Expect::Blocked("EPERM"),
        ),
    ]
}
