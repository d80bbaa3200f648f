//! Container cases for `kernel.*`, `namespace.*` and `ipc.*` under runc: Docker's
//! default profile, no profile, and the capabilities and mounts that change the
//! verdicts, with both controls.
//!
//! Where the host kernel decides (a syscall not built in, a sysctl), the expectation is
//! read from the kernel's build configuration and sysctls here, so each trial asserts
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

use crate::common::*;

/// The trials under Docker's default profile are left out, with the reason printed,
/// when the profile is missing (as `docker_default_profile_runs` is ignored).
pub fn trials() -> Trials {
    let mut trials: Trials = Vec::new();
    let profile = crate::docker_default();
    if profile.is_file() {
        trials.push(("docker_default_kernel_ns_ipc", docker_default_kernel_ns_ipc));
        trials.push((
            "docker_default_follows_added_caps_for_kernel_probes",
            docker_default_follows_added_caps_for_kernel_probes,
        ));
    } else {
        eprintln!(
            "docker_default_kernel_ns_ipc and docker_default_follows_added_caps_for_kernel_probes are skipped: {} is missing",
            profile.display()
        );
    }
    trials.extend([
        (
            "kernel_ns_ipc_without_profile",
            kernel_ns_ipc_without_profile as fn() -> TestResult,
        ),
        (
            "namespace_setns_and_unshare_mount_need_sys_admin",
            namespace_setns_and_unshare_mount_need_sys_admin,
        ),
        (
            "kernel_boot_module_ptrace_caps_without_profile",
            kernel_boot_module_ptrace_caps_without_profile,
        ),
        (
            "ipc_write_dev_shm_blocked_by_read_only_tmpfs",
            ipc_write_dev_shm_blocked_by_read_only_tmpfs,
        ),
    ]);
    trials
}

const GROUP: &[&str] = &[
    "--probe",
    "kernel.*",
    "--probe",
    "namespace.*",
    "--probe",
    "ipc.*",
];

/// One expected verdict: step, outcome, mechanism (`None`: none, checked as such).
type Row = (&'static str, &'static str, Option<&'static str>);

const ESCAPED: (&str, Option<&str>) = ("escaped", None);
const EPERM: (&str, Option<&str>) = ("blocked", Some("EPERM"));
const NOT_BUILT: (&str, Option<&str>) = ("not-applicable", Some("ENOSYS"));

/// Docker's default profile with Docker's default capabilities: every namespace route
/// and the kernel surface Docker closes are blocked by the filter (whatever this kernel
/// would have answered: seccomp decides first); ptrace and process_vm_writev are open
/// by design (kernels from 4.8), and so are System V shm and /dev/shm.
fn docker_default_kernel_ns_ipc() -> TestResult {
    let profile = docker_profile();
    let mut args = vec!["--profile", profile.as_str()];
    args.extend_from_slice(GROUP);
    let (out, report) = run_json(&args)?;
    out.expect_code(1)?;
    let rows: Vec<Row> = vec![
        row("kernel.io-uring", EPERM),
        row("kernel.bpf", EPERM),
        row("kernel.keyctl", EPERM),
        row("kernel.userfaultfd", EPERM),
        row("kernel.perf-event-open", EPERM),
        row("kernel.ptrace", ESCAPED),
        row("kernel.process-vm-writev", ESCAPED),
        // Docker allows only the personas 0, 8, 0x20000, 0x20008 and the query.
        row("kernel.personality", EPERM),
        row("kernel.uselib", EPERM),
        row("kernel.init-module", EPERM),
        row("kernel.kexec-load", EPERM),
        row("kernel.reboot", EPERM),
        row("ipc.sysv-shm", ESCAPED),
        row("ipc.write-dev-shm", ESCAPED),
        // clone is allowed only without namespace flags.
        row("namespace.clone-newuser", EPERM),
        // clone3 answers ENOSYS so that libc falls back to clone.
        ("namespace.clone3-newuser", "blocked", Some("ENOSYS")),
        row("namespace.setns", EPERM),
        row("namespace.unshare-mount", EPERM),
        row("namespace.unshare-user", EPERM),
    ];
    check(&report, &rows)?;
    assert_eq!(report["runs"][0]["containers"], 1);
    // Where this kernel lacks the syscall it would have answered ENOSYS: the probe
    // says the EPERM was the filter's.
    if kernel_config("CONFIG_KEXEC") == Some(false) {
        detail_contains(&report, "kernel.kexec-load", "so the filter answered")?;
    }
    detail_contains(
        &report,
        "namespace.clone3-newuser",
        "the seccomp filter answered",
    )?;
    Ok(())
}

/// Docker's profile opens reboot to CAP_SYS_BOOT and the module calls to
/// CAP_SYS_MODULE; ptrace and process_vm_writev stay open, but nothing opens
/// userfaultfd or kexec_load.
fn docker_default_follows_added_caps_for_kernel_probes() -> TestResult {
    let profile = docker_profile();
    let (out, report) = run_json(&[
        "--profile",
        &profile,
        "--cap-add",
        "SYS_BOOT",
        "--cap-add",
        "SYS_MODULE",
        "--cap-add",
        "SYS_PTRACE",
        "--probe",
        "kernel.*",
    ])?;
    out.expect_code(1)?;
    let rows: Vec<Row> = vec![
        row("kernel.reboot", ESCAPED),
        row("kernel.init-module", init_module_with_cap()),
        row("kernel.kexec-load", EPERM),
        row("kernel.userfaultfd", EPERM),
        row("kernel.ptrace", ESCAPED),
        row("kernel.keyctl", EPERM),
    ];
    check(&report, &rows)?;
    detail_contains(&report, "kernel.reboot", "reached the kernel: EINVAL")?;
    // With CAP_SYS_PTRACE the sysctl allows it: the probe says the filter refused.
    detail_contains(&report, "kernel.userfaultfd", "so the filter refused it")?;
    if kernel_config("CONFIG_MODULES") == Some(false) {
        // Under a filter, the kernel's ENOSYS is told apart through /proc/kallsyms.
        detail_contains(&report, "kernel.init-module", "/proc/kallsyms")?;
    }
    Ok(())
}

/// No profile, Docker's default capabilities: the kernel and the capabilities decide.
fn kernel_ns_ipc_without_profile() -> TestResult {
    let (out, report) = run_json(GROUP)?;
    out.expect_code(1)?;
    let rows: Vec<Row> = vec![
        row("kernel.io-uring", io_uring_unprivileged()),
        row("kernel.bpf", bpf_unprivileged()),
        row("kernel.keyctl", ESCAPED),
        row("kernel.userfaultfd", userfaultfd_without_ptrace_cap()),
        row("kernel.perf-event-open", perf_unprivileged()),
        row("kernel.ptrace", ESCAPED),
        row("kernel.process-vm-writev", ESCAPED),
        row("kernel.personality", ESCAPED),
        row("kernel.uselib", built_or("CONFIG_USELIB", ESCAPED)),
        row("kernel.init-module", built_or("CONFIG_MODULES", EPERM)),
        row("kernel.kexec-load", built_or("CONFIG_KEXEC", EPERM)),
        // Capability check before the magic numbers.
        row("kernel.reboot", EPERM),
        row("ipc.sysv-shm", ESCAPED),
        row("ipc.write-dev-shm", ESCAPED),
        row("namespace.clone-newuser", user_namespaces()),
        row("namespace.clone3-newuser", user_namespaces()),
        // Both need CAP_SYS_ADMIN, which Docker's default set lacks.
        row("namespace.setns", EPERM),
        row("namespace.unshare-mount", EPERM),
        row("namespace.unshare-user", user_namespaces()),
    ];
    check(&report, &rows)?;
    detail_contains(&report, "kernel.reboot", "no CAP_SYS_BOOT")?;
    if kernel_config("CONFIG_MODULES") == Some(false) {
        detail_contains(&report, "kernel.init-module", "no seccomp filter")?;
    }
    Ok(())
}

/// setns into its own mount namespace and unshare(CLONE_NEWNS) are CAP_SYS_ADMIN's:
/// blocked without it (see above), escaped with `--cap-add SYS_ADMIN`.
fn namespace_setns_and_unshare_mount_need_sys_admin() -> TestResult {
    let (out, report) = run_json(&[
        "--cap-add",
        "SYS_ADMIN",
        "--probe",
        "namespace.setns",
        "--probe",
        "namespace.unshare-mount",
    ])?;
    out.expect_code(1)?;
    check(
        &report,
        &[
            row("namespace.setns", ESCAPED),
            row("namespace.unshare-mount", ESCAPED),
        ],
    )?;
    // runc pivots into the rootfs, so the namespace's root is the container's root and
    // the probe had nothing to put back.
    let detail = verdict(&report, "namespace.setns")?["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if detail.contains("chroot") || detail.contains("failed") {
        return Err(format!("namespace.setns: {detail}").into());
    }
    Ok(())
}

/// No profile with CAP_SYS_BOOT, CAP_SYS_MODULE and CAP_SYS_PTRACE added: reboot
/// reaches its magic-number check, userfaultfd passes vm.unprivileged_userfaultfd, and
/// the module and kexec calls get what this kernel has.
fn kernel_boot_module_ptrace_caps_without_profile() -> TestResult {
    let (out, report) = run_json(&[
        "--cap-add",
        "SYS_BOOT",
        "--cap-add",
        "SYS_MODULE",
        "--cap-add",
        "SYS_PTRACE",
        "--probe",
        "kernel.reboot",
        "--probe",
        "kernel.kexec-load",
        "--probe",
        "kernel.init-module",
        "--probe",
        "kernel.userfaultfd",
    ])?;
    out.expect_code(1)?;
    check(
        &report,
        &[
            row("kernel.reboot", ESCAPED),
            row("kernel.kexec-load", kexec_with_cap()),
            row("kernel.init-module", init_module_with_cap()),
            row("kernel.userfaultfd", ESCAPED),
        ],
    )?;
    detail_contains(&report, "kernel.reboot", "reached the kernel: EINVAL")?;
    Ok(())
}

/// runc mounts a writable tmpfs on /dev/shm; a read-only tmpfs over it blocks the
/// marker with EROFS, while System V shm (not a file) stays open.
fn ipc_write_dev_shm_blocked_by_read_only_tmpfs() -> TestResult {
    let (out, report) = run_json(&["--tmpfs", "/dev/shm:ro", "--probe", "ipc.*"])?;
    out.expect_code(1)?;
    check(
        &report,
        &[
            ("ipc.write-dev-shm", "blocked", Some("EROFS")),
            row("ipc.sysv-shm", ESCAPED),
        ],
    )?;
    // The control: the same run without the read-only tmpfs escapes (also asserted in
    // kernel_ns_ipc_without_profile, here on its own so this trial fails alone).
    let (out, report) = run_json(&["--probe", "ipc.write-dev-shm"])?;
    out.expect_code(1)?;
    check(&report, &[row("ipc.write-dev-shm", ESCAPED)])
}

fn row(step: &'static str, (outcome, mechanism): (&'static str, Option<&'static str>)) -> Row {
    (step, outcome, mechanism)
}

/// Checks every row and reports all mismatches at once. An expected `None` mechanism
/// must be absent from the verdict.
fn check(report: &serde_json::Value, rows: &[Row]) -> TestResult {
    let mut wrong = Vec::new();
    for &(step, outcome, mechanism) in rows {
        let v = verdict(report, step)?;
        let got = (
            v["outcome"].as_str().unwrap_or("?"),
            v["mechanism"].as_str(),
        );
        if got != (outcome, mechanism) {
            wrong.push(format!(
                "{step}: expected {outcome} {mechanism:?}, got {} {:?} ({})",
                got.0, got.1, v["detail"]
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("\n").into())
    }
}

fn detail_contains(report: &serde_json::Value, step: &str, text: &str) -> TestResult {
    let v = verdict(report, step)?;
    let detail = v["detail"].as_str().unwrap_or_default();
    if detail.contains(text) {
        Ok(())
    } else {
        Err(format!("{step}: detail {detail:?} should say {text:?}").into())
    }
}

/// Docker's default profile (present: `trials` checked).
fn docker_profile() -> String {
    crate::docker_default().display().to_string()
}

/// `built` where the kernel has `option` (the capabilities decide); where it does not,
/// the kernel's ENOSYS stub answers and the probe is not applicable.
fn built_or(
    option: &str,
    built: (&'static str, Option<&'static str>),
) -> (&'static str, Option<&'static str>) {
    match kernel_config(option) {
        Some(false) => NOT_BUILT,
        _ => built,
    }
}

/// With CAP_SYS_MODULE: the empty image reaches the kernel (ENOEXEC) unless
/// kernel.modules_disabled=1 refuses every load.
fn init_module_with_cap() -> (&'static str, Option<&'static str>) {
    match kernel_config("CONFIG_MODULES") {
        Some(false) => NOT_BUILT,
        _ if sysctl("kernel/modules_disabled").as_deref() == Some("1") => EPERM,
        _ => ESCAPED,
    }
}

/// With CAP_SYS_BOOT: too many segments reach the kernel (EINVAL) unless
/// kernel.kexec_load_disabled=1.
fn kexec_with_cap() -> (&'static str, Option<&'static str>) {
    match kernel_config("CONFIG_KEXEC") {
        Some(false) => NOT_BUILT,
        _ if sysctl("kernel/kexec_load_disabled").as_deref() == Some("1") => EPERM,
        _ => ESCAPED,
    }
}

/// kernel.io_uring_disabled: 1 allows only CAP_SYS_ADMIN (or a group), 2 nobody.
fn io_uring_unprivileged() -> (&'static str, Option<&'static str>) {
    match sysctl("kernel/io_uring_disabled").as_deref() {
        Some("1" | "2") => EPERM,
        _ => ESCAPED,
    }
}

/// Before 6.5 kernel.unprivileged_bpf_disabled refused every command to callers
/// without CAP_BPF; since, only map and program creation.
fn bpf_unprivileged() -> (&'static str, Option<&'static str>) {
    let disabled = sysctl("kernel/unprivileged_bpf_disabled").is_some_and(|v| v != "0");
    if disabled && kernel_version().is_some_and(|v| v < (6, 5)) {
        EPERM
    } else {
        ESCAPED
    }
}

/// vm.unprivileged_userfaultfd=0 needs CAP_SYS_PTRACE, which Docker's set lacks.
fn userfaultfd_without_ptrace_cap() -> (&'static str, Option<&'static str>) {
    match sysctl("vm/unprivileged_userfaultfd").as_deref() {
        Some("0") => EPERM,
        _ => ESCAPED,
    }
}

/// A NULL attribute fails to copy (EFAULT) before perf_event_paranoid applies, except
/// on kernels with the Debian/Android patch, which refuses everyone without
/// CAP_SYS_ADMIN at level 3 and up (EACCES) first.
fn perf_unprivileged() -> (&'static str, Option<&'static str>) {
    let level: Option<i32> = sysctl("kernel/perf_event_paranoid").and_then(|v| v.parse().ok());
    match level {
        Some(l) if l >= 3 => ("blocked", Some("EACCES")),
        _ => ESCAPED,
    }
}

/// user.max_user_namespaces=0 makes the kernel answer ENOSPC.
fn user_namespaces() -> (&'static str, Option<&'static str>) {
    match sysctl("user/max_user_namespaces").as_deref() {
        Some("0") => ("blocked", Some("ENOSPC")),
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
    let text = std::process::Command::new("gzip")
        .args(["-dc", "/proc/config.gz"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .or_else(|| {
            let release = sysctl("kernel/osrelease")?;
            std::fs::read_to_string(format!("/boot/config-{release}")).ok()
        })?;
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
