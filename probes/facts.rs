//! What the probes read about the kernel they run on and their own process, to tell a
//! kernel that lacks a facility from a filter that denied it: `/proc/kallsyms`,
//! `/proc/self/status`, sysctls. Shared by every goal that needs it.

use std::io::{BufRead, BufReader};
use std::sync::OnceLock;

use crate::ctx::Verdict;
use crate::sys::Errno;

/// Reads an ENOSYS: the kernel's (built without `option`: not applicable) or a seccomp
/// filter's (blocked). No filter at all settles it; otherwise `/proc/kallsyms` tells a
/// built syscall (`T __x64_sys_NAME`) from the weak stub a kernel without it keeps
/// (`W __x64_sys_NAME`, which answers ENOSYS). Where neither can be read, a filter is
/// installed and could have answered, so the verdict is a block and the detail says
/// the kernel might lack the syscall too: it is no escape either way.
pub fn enosys(errno: Errno, what: &str, syscall: &str, option: &str) -> Verdict {
    if let Some(kernel) = sandbox() {
        return match seccomp_filtered() {
            Some(true) => Verdict::blocked(
                errno,
                &format!("{what} (under a seccomp filter in {kernel}, which may not implement {syscall} either)"),
            ),
            _ => Verdict::not_applicable(
                Some(errno),
                format!("{what}: {errno} with no seccomp filter installed: {kernel} does not implement {syscall}"),
            ),
        };
    }
    let built = syscall_built(syscall);
    match (seccomp_filtered(), built) {
        (Some(false), _) => Verdict::not_applicable(
            Some(errno),
            format!("{what}: {errno} with no seccomp filter installed: this kernel is built without {option}"),
        ),
        (_, Some(false)) => Verdict::not_applicable(
            Some(errno),
            format!("{what}: {errno}; /proc/kallsyms holds only the stub of {syscall}: this kernel is built without {option}"),
        ),
        (_, Some(true)) => Verdict::blocked(
            errno,
            &format!("{what} (the kernel implements {syscall}, so the seccomp filter answered)"),
        ),
        (_, None) => Verdict::blocked(
            errno,
            &format!("{what} (under a seccomp filter, on a kernel whose syscall table cannot be read: a kernel without {option} would answer the same)"),
        ),
    }
}

/// The sandbox kernel serving this process (`gVisor`), as the harness said.
static SANDBOX: OnceLock<Option<String>> = OnceLock::new();

/// Records the sandbox kernel the harness named; set once, at start.
pub fn set_sandbox(kernel: Option<&str>) {
    let _ = SANDBOX.set(kernel.map(str::to_string));
}

/// The sandbox kernel that serves this process's system calls, when it is not the
/// host's: what a probe reaches is that kernel's.
pub fn sandbox() -> Option<&'static str> {
    SANDBOX.get().and_then(|k| k.as_deref())
}

/// Whether the kernel implements `syscall`, from the symbol type of its x86_64 entry in
/// `/proc/kallsyms` (`T` real, `W` the ENOSYS stub of a syscall not built in). `None`
/// when the file cannot be read or does not name the entry (gVisor, old kernels).
pub fn syscall_built(syscall: &str) -> Option<bool> {
    let file = std::fs::File::open("/proc/kallsyms").ok()?;
    let wanted = [format!("__x64_sys_{syscall}"), format!("sys_{syscall}")];
    let mut found = None;
    for line in BufReader::new(file).lines() {
        let line = line.ok()?;
        let mut fields = line.split_ascii_whitespace();
        let (Some(_addr), Some(kind), Some(name), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if name == wanted[0] || (found.is_none() && name == wanted[1]) {
            found = Some(matches!(kind, "T" | "t"));
            if name == wanted[0] {
                break;
            }
        }
    }
    found
}

/// Whether a seccomp filter is installed on this process (`Seccomp:` in
/// `/proc/self/status`: 0 none, 1 strict, 2 filter).
pub fn seccomp_filtered() -> Option<bool> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mode = status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))?
        .trim();
    Some(mode != "0")
}

pub const CAP_SYS_MODULE: u32 = 16;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_BOOT: u32 = 22;
pub const CAP_BPF: u32 = 39;

/// Whether `cap` is in this process's effective set (`CapEff` in `/proc/self/status`);
/// `false` when that cannot be read.
pub fn has_cap(cap: u32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|set| cap < 64 && set & (1u64 << cap) != 0)
}

/// A sysctl's value, trimmed (`kernel/io_uring_disabled` for `kernel.io_uring_disabled`).
pub fn sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{name}"))
        .ok()
        .map(|v| v.trim().to_string())
}
