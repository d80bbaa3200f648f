//! Host cases for `kernel.*`, `namespace.*` and `ipc.*`.
//!
//! Unfiltered, as root, every technique gets through unless the host kernel itself
//! refuses it; those expectations are read from the kernel's build configuration and
//! sysctls here, independently of how the probe tells them apart (seccomp status and
//! `/proc/kallsyms`). Each filtered case denies exactly the technique's syscall, with an
//! argument condition where the technique is a flag.

use super::{Case, Cmp, Deny, Expect};

/// `READ_IMPLIES_EXEC`, and bit 31, set only in `personality(0xffffffff)` (the query).
const READ_IMPLIES_EXEC: u64 = 0x0040_0000;
const PERSONALITY_QUERY_BIT: u64 = 0x8000_0000;

const NEWUSER: u64 = libc::CLONE_NEWUSER as u64;
const NEWNS: u64 = libc::CLONE_NEWNS as u64;
const O_CREAT: u64 = libc::O_CREAT as u64;

pub fn cases() -> Vec<Case> {
    let mut cases = vec![
        // kernel.io-uring
        Case::unfiltered("kernel.io-uring", io_uring_unfiltered()),
        Case::denied(
            "kernel.io-uring",
            "deny-io_uring_setup",
            vec![Deny::eperm(libc::SYS_io_uring_setup)],
            Expect::Blocked("EPERM"),
        ),
        // kernel.bpf: killed, to show SIGSYS on a kernel probe.
        Case::unfiltered("kernel.bpf", Expect::Escaped),
        Case::denied(
            "kernel.bpf",
            "kill-bpf",
            vec![Deny::kill(libc::SYS_bpf)],
            Expect::Blocked("SIGSYS"),
        ),
        // kernel.keyctl
        Case::unfiltered("kernel.keyctl", Expect::Escaped),
        Case::denied(
            "kernel.keyctl",
            "deny-keyctl",
            vec![Deny::eperm(libc::SYS_keyctl)],
            Expect::Blocked("EPERM"),
        ),
        // kernel.userfaultfd: root has CAP_SYS_PTRACE, so vm.unprivileged_userfaultfd
        // does not apply.
        Case::unfiltered("kernel.userfaultfd", Expect::Escaped),
        Case::denied(
            "kernel.userfaultfd",
            "deny-userfaultfd",
            vec![Deny::eperm(libc::SYS_userfaultfd)],
            Expect::Blocked("EPERM"),
        ),
        // kernel.perf-event-open: EACCES is what perf_event_paranoid would answer;
        // the probe must still call it a block (and say the filter did it).
        Case::unfiltered("kernel.perf-event-open", Expect::Escaped),
        Case::denied(
            "kernel.perf-event-open",
            "eacces-perf_event_open",
            vec![Deny::errno(libc::SYS_perf_event_open, libc::EACCES)],
            Expect::Blocked("EACCES"),
        ),
        // kernel.ptrace: EPERM, not a kill: the paused child must be reaped by the probe.
        Case::unfiltered("kernel.ptrace", Expect::Escaped),
        Case::denied(
            "kernel.ptrace",
            "deny-ptrace",
            vec![Deny::eperm(libc::SYS_ptrace)],
            Expect::Blocked("EPERM"),
        ),
        // kernel.process-vm-writev
        Case::unfiltered("kernel.process-vm-writev", Expect::Escaped),
        Case::denied(
            "kernel.process-vm-writev",
            "deny-process_vm_writev",
            vec![Deny::eperm(libc::SYS_process_vm_writev)],
            Expect::Blocked("EPERM"),
        ),
        // kernel.personality: like Docker's profile, the query (0xffffffff, bit 31 set)
        // passes and setting READ_IMPLIES_EXEC does not.
        Case::unfiltered("kernel.personality", Expect::Escaped),
        Case::denied(
            "kernel.personality",
            "deny-read-implies-exec",
            vec![Deny::eperm(libc::SYS_personality).when(
                0,
                Cmp::MaskedEq(PERSONALITY_QUERY_BIT | READ_IMPLIES_EXEC, READ_IMPLIES_EXEC),
            )],
            Expect::Blocked("EPERM"),
        ),
        // kernel.uselib: the filter answers before the kernel's ENOSYS stub would.
        Case::unfiltered("kernel.uselib", built_or_not("CONFIG_USELIB")),
        Case::denied(
            "kernel.uselib",
            "deny-uselib",
            vec![Deny::eperm(libc::SYS_uselib)],
            Expect::Blocked("EPERM"),
        ),
        // kernel.init-module
        Case::unfiltered("kernel.init-module", init_module_unfiltered()),
        Case::denied(
            "kernel.init-module",
            "deny-init_module",
            vec![Deny::eperm(libc::SYS_init_module)],
            Expect::Blocked("EPERM"),
        ),
        // kernel.kexec-load
        Case::unfiltered("kernel.kexec-load", built_or_not("CONFIG_KEXEC")),
        Case::denied(
            "kernel.kexec-load",
            "deny-kexec_load",
            vec![Deny::eperm(libc::SYS_kexec_load)],
            Expect::Blocked("EPERM"),
        ),
        // kernel.reboot: bad magic, so root's call reaches the kernel and stops there.
        Case::unfiltered("kernel.reboot", Expect::Escaped),
        Case::denied(
            "kernel.reboot",
            "deny-reboot",
            vec![Deny::eperm(libc::SYS_reboot)],
            Expect::Blocked("EPERM"),
        ),
        // namespace.clone-newuser: only clone with CLONE_NEWUSER is denied.
        Case::unfiltered("namespace.clone-newuser", Expect::Escaped),
        Case::denied(
            "namespace.clone-newuser",
            "deny-clone-newuser",
            vec![Deny::eperm(libc::SYS_clone).when(0, Cmp::MaskedEq(NEWUSER, NEWUSER))],
            Expect::Blocked("EPERM"),
        ),
        // namespace.clone3-newuser: ENOSYS as Docker's profile answers; the kernel has
        // clone3, so that ENOSYS is the filter's block.
        Case::unfiltered("namespace.clone3-newuser", Expect::Escaped),
        Case::denied(
            "namespace.clone3-newuser",
            "enosys-clone3",
            vec![Deny::errno(libc::SYS_clone3, libc::ENOSYS)],
            Expect::Blocked("ENOSYS"),
        ),
        // namespace.setns
        Case::unfiltered("namespace.setns", Expect::Escaped),
        Case::denied(
            "namespace.setns",
            "deny-setns",
            vec![Deny::eperm(libc::SYS_setns)],
            Expect::Blocked("EPERM"),
        ),
        // namespace.unshare-mount: unshare with CLONE_NEWNS only.
        Case::unfiltered("namespace.unshare-mount", Expect::Escaped),
        Case::denied(
            "namespace.unshare-mount",
            "deny-unshare-newns",
            vec![Deny::eperm(libc::SYS_unshare).when(0, Cmp::MaskedEq(NEWNS, NEWNS))],
            Expect::Blocked("EPERM"),
        ),
        // namespace.unshare-user: unshare with CLONE_NEWUSER only.
        Case::unfiltered("namespace.unshare-user", Expect::Escaped),
        Case::denied(
            "namespace.unshare-user",
            "deny-unshare-newuser",
            vec![Deny::eperm(libc::SYS_unshare).when(0, Cmp::MaskedEq(NEWUSER, NEWUSER))],
            Expect::Blocked("EPERM"),
        ),
        // ipc.sysv-shm
        Case::unfiltered("ipc.sysv-shm", Expect::Escaped),
        Case::denied(
            "ipc.sysv-shm",
            "deny-shmget",
            vec![Deny::eperm(libc::SYS_shmget)],
            Expect::Blocked("EPERM"),
        ),
        // ipc.write-dev-shm: the host's /dev/shm; the probe removes its marker. The
        // filter answers a creating openat the way a read-only /dev/shm would.
        Case::unfiltered("ipc.write-dev-shm", Expect::Escaped),
        Case::denied(
            "ipc.write-dev-shm",
            "erofs-openat-creat",
            vec![
                Deny::errno(libc::SYS_openat, libc::EROFS).when(2, Cmp::MaskedEq(O_CREAT, O_CREAT))
            ],
            Expect::Blocked("EROFS"),
        ),
    ];
    // How an ENOSYS from a filter is read: a block where the kernel has the syscall, not
    // applicable where it does not (the kernel would have answered the same).
    if kernel_config("CONFIG_IO_URING") == Some(true) {
        cases.push(Case::denied(
            "kernel.io-uring",
            "enosys-io_uring_setup",
            vec![Deny::errno(libc::SYS_io_uring_setup, libc::ENOSYS)],
            Expect::Blocked("ENOSYS"),
        ));
    }
    let uselib_enosys = match kernel_config("CONFIG_USELIB") {
        Some(true) => Some(Expect::Blocked("ENOSYS")),
        Some(false) => Some(Expect::NotApplicable("built without CONFIG_USELIB")),
        None => None,
    };
    if let Some(expect) = uselib_enosys {
        cases.push(Case::denied(
            "kernel.uselib",
            "enosys-uselib",
            vec![Deny::errno(libc::SYS_uselib, libc::ENOSYS)],
            expect,
        ));
    }
    cases
}

/// kernel.io_uring_disabled=2 refuses io_uring even to root, with EPERM.
fn io_uring_unfiltered() -> Expect {
    match sysctl("kernel/io_uring_disabled").as_deref() {
        Some("2") => Expect::Blocked("EPERM"),
        _ => Expect::Escaped,
    }
}

/// A kernel without module support answers ENOSYS (not applicable); with
/// kernel.modules_disabled=1 it answers EPERM even to root.
fn init_module_unfiltered() -> Expect {
    match kernel_config("CONFIG_MODULES") {
        Some(false) => Expect::NotApplicable("built without module support"),
        Some(true) if sysctl("kernel/modules_disabled").as_deref() == Some("1") => {
            Expect::Blocked("EPERM")
        }
        Some(true) => Expect::Escaped,
        None => Expect::EscapedOrNotApplicable("built without module support"),
    }
}

/// A syscall behind a build option: escaped where it is built in, not applicable (the
/// kernel's ENOSYS) where it is not.
fn built_or_not(option: &'static str) -> Expect {
    let text = match option {
        "CONFIG_USELIB" => "built without CONFIG_USELIB",
        "CONFIG_KEXEC" => "built without CONFIG_KEXEC",
        _ => "built without",
    };
    match kernel_config(option) {
        Some(true) => Expect::Escaped,
        Some(false) => Expect::NotApplicable(text),
        None => Expect::EscapedOrNotApplicable(text),
    }
}

fn sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{name}"))
        .ok()
        .map(|v| v.trim().to_string())
}

/// Whether the running kernel was built with `option`, from `/proc/config.gz` or
/// `/boot/config-RELEASE`; `None` when neither can be read.
fn kernel_config(option: &str) -> Option<bool> {
    let text = std::process::Command::new("gzip")
        .args(["-dc", "/proc/config.gz"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .or_else(|| {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
            std::fs::read_to_string(format!("/boot/config-{}", release.trim())).ok()
        })?;
    let set = format!("{option}=");
    let unset = format!("# {option} is not set");
    text.lines()
        .find_map(|line| {
            if line.starts_with(&set) {
                Some(!line.ends_with("=n"))
            } else if line == unset {
                Some(false)
            } else {
                None
            }
        })
        // An option missing from a readable config is not built in.
        .or(Some(false))
}
