//! Container cases for `kernel.*`, `namespace.*` and `ipc.*` under runc: Docker's
//! default profile, no profile, and the capabilities and mounts that change the
//! verdicts, with both controls.
//!
//! Where the host kernel decides (a syscall not built in, a sysctl), the expectation is
//! read from the kernel's build configuration and sysctls here, so each case asserts
//! exactly what this kernel must answer. Measured on Linux 6.18 (no CONFIG_MODULES, no
//! CONFIG_KEXEC, no uselib; kernel.io_uring_disabled=0, vm.unprivileged_userfaultfd=0,
//! kernel.perf_event_paranoid=2):
//!
//! | probe | Docker default profile | no profile | no profile, caps added |
//! |---|---|---|---|
//! | kernel.io-uring | blocked EPERM | escaped | |
//! | kernel.bpf | blocked EPERM | escaped (EINVAL) | |
//! | kernel.keyctl | blocked EPERM | escaped | |
//! | kernel.userfaultfd | blocked EPERM | blocked EPERM (sysctl) | escaped (SYS_PTRACE) |
//! | kernel.perf-event-open | blocked EPERM | escaped (EFAULT) | |
//! | kernel.ptrace | escaped | escaped | |
//! | kernel.process-vm-writev | escaped | escaped | |
//! | kernel.personality | blocked EPERM | escaped | |
//! | kernel.uselib | blocked EPERM | not-applicable ENOSYS | |
//! | kernel.init-module | blocked EPERM | not-applicable ENOSYS | not-applicable ENOSYS (SYS_MODULE) |
//! | kernel.kexec-load | blocked EPERM | not-applicable ENOSYS | not-applicable ENOSYS (SYS_BOOT) |
//! | kernel.reboot | blocked EPERM | blocked EPERM (no CAP_SYS_BOOT) | escaped (SYS_BOOT, EINVAL) |
//! | ipc.sysv-shm | escaped | escaped | |
//! | ipc.write-dev-shm | escaped | escaped; blocked EROFS with `--tmpfs /dev/shm:ro` | |
//! | namespace.clone-newuser | blocked EPERM | escaped | |
//! | namespace.clone3-newuser | blocked ENOSYS | escaped | |
//! | namespace.setns | blocked EPERM | blocked EPERM | escaped (SYS_ADMIN) |
//! | namespace.unshare-mount | blocked EPERM | blocked EPERM | escaped (SYS_ADMIN) |
//! | namespace.unshare-user | blocked EPERM | escaped | |

use crate::common::needs::{Need, RUNC};
use crate::harness::*;

/// An expected `None` mechanism is checked as such here: the verdict carries none.
const ESCAPED: Want = escaped().no_mechanism();
/// Escaped as attack surface: the call reached the kernel's own argument checks.
const REACHED: Want = escaped().mechanism("reachable");
const EPERM: Want = blocked("EPERM");
const NOT_BUILT: Want = not_applicable("ENOSYS");

const GROUP: &str = "--probe kernel.* --probe namespace.* --probe ipc.*";
const CAPS: &str = "--cap-add SYS_BOOT --cap-add SYS_MODULE --cap-add SYS_PTRACE";

pub fn cases() -> Vec<Case> {
    let no_modules = kernel_config("CONFIG_MODULES") == Some(false);
    let no_kexec = kernel_config("CONFIG_KEXEC") == Some(false);
    vec![
        // Docker's default profile with Docker's default capabilities: every namespace
        // route and the kernel surface Docker closes are blocked by the filter (whatever
        // this kernel would have answered: seccomp decides first); ptrace and
        // process_vm_writev are open by design (kernels from 4.8), and so are System V
        // shm and /dev/shm. Where this kernel lacks the syscall it would have answered
        // ENOSYS: the probe says the EPERM was the filter's.
        case(
            "docker_default_kernel_ns_ipc",
            RUNC,
            [run(GROUP)
                .docker_default()
                .code(1)
                .containers(1)
                .verdicts([
                    ("kernel.io-uring", EPERM),
                    ("kernel.bpf", EPERM),
                    ("kernel.keyctl", EPERM),
                    ("kernel.userfaultfd", EPERM),
                    ("kernel.perf-event-open", EPERM),
                    ("kernel.ptrace", ESCAPED),
                    ("kernel.process-vm-writev", ESCAPED),
                    // Docker allows only the personas 0, 8, 0x20000, 0x20008 and the
                    // query.
                    ("kernel.personality", EPERM),
                    ("kernel.uselib", EPERM),
                    ("kernel.init-module", EPERM),
                    ("kernel.kexec-load", EPERM),
                    ("kernel.reboot", EPERM),
                    ("ipc.sysv-shm", ESCAPED),
                    ("ipc.write-dev-shm", ESCAPED),
                    // clone is allowed only without namespace flags.
                    ("namespace.clone-newuser", EPERM),
                    // clone3 answers ENOSYS so that libc falls back to clone.
                    ("namespace.clone3-newuser", blocked("ENOSYS")),
                    ("namespace.setns", EPERM),
                    ("namespace.unshare-mount", EPERM),
                    ("namespace.unshare-user", EPERM),
                ])
                .detail_if(no_kexec, "kernel.kexec-load", "so the filter answered")
                .detail("namespace.clone3-newuser", "the seccomp filter answered")],
        )
        .and(Need::DockerDefaultProfile),
        // Docker's profile opens reboot to CAP_SYS_BOOT and the module calls to
        // CAP_SYS_MODULE (reboot's EINVAL under a filter is indeterminate: no second
        // call tells it from a filter's); ptrace and process_vm_writev stay open, but nothing opens
        // userfaultfd or kexec_load. With CAP_SYS_PTRACE the sysctl allows userfaultfd:
        // the probe says the filter refused it. Under a filter, the kernel's ENOSYS for
        // init_module is told apart through /proc/kallsyms.
        case(
            "docker_default_follows_added_caps_for_kernel_probes",
            RUNC,
            [run(CAPS)
                .args("--probe kernel.*")
                .docker_default()
                .code(1)
                .verdicts([
                    ("kernel.reboot", indeterminate("EINVAL")),
                    ("kernel.init-module", init_module_with_cap()),
                    ("kernel.kexec-load", EPERM),
                    ("kernel.userfaultfd", EPERM),
                    ("kernel.ptrace", ESCAPED),
                    ("kernel.keyctl", EPERM),
                ])
                .detail(
                    "kernel.reboot",
                    "no second call can tell the kernel's EINVAL",
                )
                .detail("kernel.userfaultfd", "so the filter refused it")
                .detail_if(no_modules, "kernel.init-module", "/proc/kallsyms")],
        )
        .and(Need::DockerDefaultProfile),
        // No profile, Docker's default capabilities: the kernel and the capabilities
        // decide.
        case(
            "kernel_ns_ipc_without_profile",
            RUNC,
            [run(GROUP)
                .code(1)
                .verdicts([
                    ("kernel.io-uring", io_uring_unprivileged()),
                    ("kernel.bpf", bpf_unprivileged()),
                    ("kernel.keyctl", ESCAPED),
                    ("kernel.userfaultfd", userfaultfd_without_ptrace_cap()),
                    ("kernel.perf-event-open", perf_unprivileged()),
                    ("kernel.ptrace", ESCAPED),
                    ("kernel.process-vm-writev", ESCAPED),
                    ("kernel.personality", ESCAPED),
                    ("kernel.uselib", built_or("CONFIG_USELIB", REACHED)),
                    ("kernel.init-module", built_or("CONFIG_MODULES", EPERM)),
                    ("kernel.kexec-load", built_or("CONFIG_KEXEC", EPERM)),
                    // Capability check before the magic numbers.
                    ("kernel.reboot", EPERM),
                    ("ipc.sysv-shm", ESCAPED),
                    ("ipc.write-dev-shm", ESCAPED),
                    ("namespace.clone-newuser", user_namespaces()),
                    ("namespace.clone3-newuser", user_namespaces()),
                    // Both need CAP_SYS_ADMIN, which Docker's default set lacks.
                    ("namespace.setns", EPERM),
                    ("namespace.unshare-mount", EPERM),
                    ("namespace.unshare-user", user_namespaces()),
                ])
                .detail("kernel.reboot", "no CAP_SYS_BOOT")
                .detail_if(no_modules, "kernel.init-module", "no seccomp filter")],
        ),
        // setns into its own mount namespace and unshare(CLONE_NEWNS) are
        // CAP_SYS_ADMIN's: blocked without it (see above), escaped with `--cap-add
        // SYS_ADMIN`. runc pivots into the rootfs, so the namespace's root is the
        // container's root and the probe had nothing to put back.
        case(
            "namespace_setns_and_unshare_mount_need_sys_admin",
            RUNC,
            [
                run("--cap-add SYS_ADMIN --probe namespace.setns --probe namespace.unshare-mount")
                    .code(1)
                    .verdicts([
                        ("namespace.setns", ESCAPED),
                        ("namespace.unshare-mount", ESCAPED),
                    ])
                    .check(Check::Named("nothing to put back", setns_put_nothing_back)),
            ],
        ),
        // No profile with CAP_SYS_BOOT, CAP_SYS_MODULE and CAP_SYS_PTRACE added: reboot
        // reaches its magic-number check, userfaultfd passes
        // vm.unprivileged_userfaultfd, and the module and kexec calls get what this
        // kernel has.
        case(
            "kernel_boot_module_ptrace_caps_without_profile",
            RUNC,
            [run(CAPS)
                .args(
                    "--probe kernel.reboot --probe kernel.kexec-load \
                     --probe kernel.init-module --probe kernel.userfaultfd",
                )
                .code(1)
                .verdicts([
                    ("kernel.reboot", REACHED),
                    ("kernel.kexec-load", kexec_with_cap()),
                    ("kernel.init-module", init_module_with_cap()),
                    ("kernel.userfaultfd", ESCAPED),
                ])
                .detail("kernel.reboot", "reached the kernel: EINVAL")],
        ),
        // runc mounts a writable tmpfs on /dev/shm; a read-only tmpfs over it blocks the
        // marker with EROFS, while System V shm (not a file) stays open. The control:
        // the same run without the read-only tmpfs escapes (also asserted in
        // kernel_ns_ipc_without_profile, here on its own so this case fails alone).
        case(
            "ipc_write_dev_shm_blocked_by_read_only_tmpfs",
            RUNC,
            [
                run("--tmpfs /dev/shm:ro --probe ipc.*").code(1).verdicts([
                    ("ipc.write-dev-shm", blocked("EROFS")),
                    ("ipc.sysv-shm", ESCAPED),
                ]),
                run("--probe ipc.write-dev-shm")
                    .code(1)
                    .verdicts([("ipc.write-dev-shm", ESCAPED)]),
            ],
        ),
    ]
}

/// The setns probe's detail says nothing of a chroot or a failure.
fn setns_put_nothing_back(seen: &Seen) -> Result<(), String> {
    let detail = verdict(seen.report()?, "namespace.setns")?["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if detail.contains("chroot") || detail.contains("failed") {
        return Err(format!("namespace.setns: {detail}"));
    }
    Ok(())
}

/// `built` where the kernel has `option` (the capabilities decide); where it does not,
/// the kernel's ENOSYS stub answers and the probe is not applicable.
fn built_or(option: &str, built: Want) -> Want {
    match kernel_config(option) {
        Some(false) => NOT_BUILT,
        _ => built,
    }
}

/// With CAP_SYS_MODULE: the empty image reaches the kernel (ENOEXEC) unless
/// kernel.modules_disabled=1 refuses every load.
fn init_module_with_cap() -> Want {
    match kernel_config("CONFIG_MODULES") {
        Some(false) => NOT_BUILT,
        _ if sysctl("kernel/modules_disabled").as_deref() == Some("1") => EPERM,
        _ => REACHED,
    }
}

/// With CAP_SYS_BOOT: too many segments reach the kernel (EINVAL) unless
/// kernel.kexec_load_disabled=1.
fn kexec_with_cap() -> Want {
    match kernel_config("CONFIG_KEXEC") {
        Some(false) => NOT_BUILT,
        _ if sysctl("kernel/kexec_load_disabled").as_deref() == Some("1") => EPERM,
        _ => REACHED,
    }
}

/// kernel.io_uring_disabled: 1 allows only CAP_SYS_ADMIN (or a group), 2 nobody.
fn io_uring_unprivileged() -> Want {
    match sysctl("kernel/io_uring_disabled").as_deref() {
        Some("1" | "2") => EPERM,
        _ => ESCAPED,
    }
}

/// Before 6.5 kernel.unprivileged_bpf_disabled refused every command to callers
/// without CAP_BPF; since, only map and program creation.
fn bpf_unprivileged() -> Want {
    let disabled = sysctl("kernel/unprivileged_bpf_disabled").is_some_and(|v| v != "0");
    if disabled && kernel_version().is_some_and(|v| v < (6, 5)) {
        EPERM
    } else {
        REACHED
    }
}

/// vm.unprivileged_userfaultfd=0 needs CAP_SYS_PTRACE, which Docker's set lacks.
fn userfaultfd_without_ptrace_cap() -> Want {
    match sysctl("vm/unprivileged_userfaultfd").as_deref() {
        Some("0") => EPERM,
        _ => ESCAPED,
    }
}

/// A NULL attribute fails to copy (EFAULT) before perf_event_paranoid applies, except
/// on kernels with the Debian/Android patch, which refuses everyone without
/// CAP_SYS_ADMIN at level 3 and up (EACCES) first.
fn perf_unprivileged() -> Want {
    let level: Option<i32> = sysctl("kernel/perf_event_paranoid").and_then(|v| v.parse().ok());
    match level {
        Some(l) if l >= 3 => blocked("EACCES"),
        _ => REACHED,
    }
}

/// user.max_user_namespaces=0 makes the kernel answer ENOSPC.
fn user_namespaces() -> Want {
    match sysctl("user/max_user_namespaces").as_deref() {
        Some("0") => blocked("ENOSPC"),
        _ => ESCAPED,
    }
}

fn sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{name}"))
        .ok()
        .map(|v| v.trim().to_string())
}

fn kernel_version() -> Option<(u32, u32)> {
    let release = sysctl("kernel/osrelease")?;
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Whether the running kernel was built with `option`, from `/proc/config.gz` or
/// `/boot/config-RELEASE`; `None` when neither can be read. An option the readable
/// configuration does not mention is not built in.
fn kernel_config(option: &str) -> Option<bool> {
    static CONFIG: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let text = CONFIG
        .get_or_init(|| {
            std::process::Command::new("gzip")
                .args(["-dc", "/proc/config.gz"])
                .output()
                .ok()
                .filter(|out| out.status.success())
                .and_then(|out| String::from_utf8(out.stdout).ok())
                .or_else(|| {
                    let release = sysctl("kernel/osrelease")?;
                    std::fs::read_to_string(format!("/boot/config-{release}")).ok()
                })
        })
        .as_deref()?;
    let set = format!("{option}=");
    let unset = format!("# {option} is not set");
    let found = text.lines().find_map(|line| {
        if line.starts_with(&set) {
            Some(!line.ends_with("=n"))
        } else if line == unset {
            Some(false)
        } else {
            None
        }
    });
    Some(found.unwrap_or(false))
}
