//! Verdict truth, as data: each case is a profile and the verdicts it must give under
//! runc, and every finding comes as a pair: the strict profile that truly blocks the
//! technique and the gap that a one-route probe or a return value taken as proof got
//! wrong. A case declares what the host must have; a host without it skips the case
//! with the reason printed.

mod common;

use common::needs::{docker_default, Host, Need, RUNC};
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

/// The profile a case runs under.
enum Profile {
    /// No filter at all.
    Unconfined,
    /// A profile written out in the case.
    Inline(&'static str),
    /// Docker's default profile as it is.
    DockerDefault,
    /// Docker's default profile for x86_64 alone: no i386 or x32 entry gets past it.
    DockerDefaultNativeOnly,
}

/// One expected verdict: outcome, and the mechanism, route and evidence where given.
struct Row {
    step: &'static str,
    outcome: &'static str,
    mechanism: Option<&'static str>,
    route: Option<&'static str>,
    evidence: Option<&'static str>,
}

const fn row(step: &'static str, outcome: &'static str) -> Row {
    Row {
        step,
        outcome,
        mechanism: None,
        route: None,
        evidence: None,
    }
}

const fn by(step: &'static str, outcome: &'static str, mechanism: &'static str) -> Row {
    Row {
        mechanism: Some(mechanism),
        ..row(step, outcome)
    }
}

const fn via(step: &'static str, route: &'static str, evidence: &'static str) -> Row {
    Row {
        route: Some(route),
        evidence: Some(evidence),
        ..row(step, "escaped")
    }
}

/// An escape the harness witnessed, by whichever route.
const fn seen(step: &'static str) -> Row {
    Row {
        evidence: Some("witnessed"),
        ..row(step, "escaped")
    }
}

struct Case {
    name: &'static str,
    needs: &'static [Need],
    profile: Profile,
    args: &'static [&'static str],
    rows: &'static [Row],
}

/// An allow-list with what the runner needs and nothing of a runtime's own start.
const TIGHT_WITHOUT_RUNC: &str = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["execve", "exit", "exit_group", "arch_prctl", "brk", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "readlink", "getrandom", "mprotect", "getpid", "getuid", "getgid", "write", "read", "fork", "wait4"], "action": "SCMP_ACT_ALLOW"}]}"#;

const CASES: &[Case] = &[
    // net.vsock: an argument rule on socket's family does not reach the socketcall
    // multiplexer of the i386 entry (its arguments are in memory): libseccomp lets
    // socketcall(SYS_SOCKET) through for Docker's allow rules on socket, whatever the
    // family. Only leaving the i386 entry out closes it.
    Case {
        name: "vsock_without_a_filter_escapes_by_the_native_call",
        needs: &[],
        profile: Profile::Unconfined,
        args: &["--probe", "net.vsock"],
        rows: &[via("net.vsock", "socket", "reported")],
    },
    Case {
        name: "vsock_family_rule_leaks_through_socketcall",
        needs: &[Need::I386, Need::DockerDefaultProfile],
        profile: Profile::DockerDefault,
        args: &["--probe", "net.vsock", "--probe", "net.raw-socket"],
        rows: &[
            via("net.vsock", "i386 socketcall(SYS_SOCKET)", "reported"),
            via("net.raw-socket", "socket", "reported"),
        ],
    },
    Case {
        name: "vsock_family_rule_for_x86_64_alone_blocks",
        needs: &[Need::I386, Need::DockerDefaultProfile],
        profile: Profile::DockerDefaultNativeOnly,
        args: &["--probe", "net.vsock"],
        rows: &[by("net.vsock", "blocked", "EPERM")],
    },
    // exec.memfd: denying execveat leaves glibc's fexecve route, execve of the
    // descriptor's /proc/self/fd link.
    Case {
        name: "memfd_without_execveat_runs_through_proc_self_fd",
        needs: &[],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}]}"#,
        ),
        args: &["--probe", "exec.memfd", "--probe", "exec.execveat"],
        rows: &[
            via("exec.memfd", "execve(/proc/self/fd/N)", "witnessed"),
            by("exec.execveat", "blocked", "EPERM"),
        ],
    },
    Case {
        name: "memfd_without_memfd_create_blocks",
        needs: &[],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["execveat", "memfd_create"], "action": "SCMP_ACT_ERRNO"}]}"#,
        ),
        args: &["--probe", "exec.memfd"],
        rows: &[by("exec.memfd", "blocked", "EPERM")],
    },
    // Egress: connect, sendto and io_uring denied still leave sendmsg (TCP Fast Open
    // connects and sends in one call) and sendmmsg.
    Case {
        name: "egress_past_connect_and_sendto_through_sendmsg",
        needs: &[],
        profile: Profile::Inline(concat!(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "#,
            r#"["connect", "sendto", "io_uring_setup", "io_uring_enter", "io_uring_register"], "#,
            r#""action": "SCMP_ACT_ERRNO"}]}"#
        )),
        args: &[
            "--network",
            "bridge",
            "--probe",
            "net.tcp-connect",
            "--probe",
            "net.udp-send",
        ],
        rows: &[
            via("net.tcp-connect", "sendmsg(MSG_FASTOPEN)", "witnessed"),
            via("net.udp-send", "sendmsg", "witnessed"),
        ],
    },
    Case {
        name: "egress_with_every_sending_call_denied_blocks",
        needs: &[],
        profile: Profile::Inline(concat!(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "#,
            r#"["connect", "sendto", "sendmsg", "sendmmsg", "io_uring_setup"], "#,
            r#""action": "SCMP_ACT_ERRNO"}]}"#
        )),
        args: &[
            "--network",
            "bridge",
            "--probe",
            "net.tcp-connect",
            "--probe",
            "net.udp-send",
        ],
        rows: &[
            by("net.tcp-connect", "blocked", "EPERM"),
            by("net.udp-send", "blocked", "EPERM"),
        ],
    },
    // A faked success (errnoRet 0) is the filter speaking, not an escape.
    Case {
        name: "faked_connect_is_no_escape",
        needs: &[],
        profile: Profile::Inline(concat!(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ["#,
            r#"{"names": ["connect"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}, "#,
            r#"{"names": ["sendmsg"], "action": "SCMP_ACT_ERRNO"}]}"#
        )),
        args: &["--network", "bridge", "--probe", "net.tcp-connect"],
        rows: &[by("net.tcp-connect", "blocked", "fake-success")],
    },
    Case {
        name: "faked_connect_beside_an_open_sendmsg_escapes_by_it",
        needs: &[],
        profile: Profile::Inline(concat!(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ["#,
            r#"{"names": ["connect"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}]}"#
        )),
        args: &["--network", "bridge", "--probe", "net.tcp-connect"],
        rows: &[via("net.tcp-connect", "sendmsg(MSG_FASTOPEN)", "witnessed")],
    },
    Case {
        name: "faked_socket_is_no_escape",
        needs: &[],
        profile: Profile::Inline(concat!(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ["#,
            r#"{"names": ["socket", "socketcall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}, "#,
            r#"{"names": ["io_uring_setup"], "action": "SCMP_ACT_ERRNO"}]}"#
        )),
        args: &["--probe", "net.vsock", "--probe", "net.packet-socket"],
        rows: &[
            by("net.vsock", "blocked", "fake-success"),
            by("net.packet-socket", "blocked", "fake-success"),
        ],
    },
    // A filter's errno that imitates the kernel's answer to bad arguments is still the
    // filter: a second, differently invalid call (or the capability the kernel checks
    // first) tells them apart.
    Case {
        name: "kernel_surface_reached_without_a_filter",
        needs: &[],
        profile: Profile::Unconfined,
        args: &[
            "--probe",
            "kernel.bpf",
            "--probe",
            "kernel.perf-event-open",
            "--probe",
            "kernel.reboot",
        ],
        // Reaching the kernel's argument checks is attack surface, not a usable
        // feature: such escapes say `reachable`.
        rows: &[
            by("kernel.bpf", "escaped", "reachable"),
            by("kernel.perf-event-open", "escaped", "reachable"),
            by("kernel.reboot", "blocked", "EPERM"),
        ],
    },
    Case {
        name: "errno_imitating_the_kernel_is_a_block",
        needs: &[],
        profile: Profile::Inline(concat!(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "#,
            r#"["kexec_load", "init_module", "reboot", "bpf", "perf_event_open", "io_uring_setup"], "#,
            r#""action": "SCMP_ACT_ERRNO", "errnoRet": 22}]}"#
        )),
        args: &["--probe", "kernel.*"],
        rows: &[
            by("kernel.bpf", "blocked", "EINVAL"),
            by("kernel.perf-event-open", "blocked", "EINVAL"),
            by("kernel.io-uring", "blocked", "EINVAL"),
            by("kernel.reboot", "blocked", "EINVAL"),
            by("kernel.init-module", "blocked", "EINVAL"),
            by("kernel.kexec-load", "blocked", "EINVAL"),
        ],
    },
    // errnoRet 0: a success the filter made up. The kernel's own state shows nothing
    // happened (no ring, no child, the same namespace, the buffer unchanged).
    Case {
        name: "kernel_and_namespace_surface_works_without_a_filter",
        needs: &[],
        profile: Profile::Unconfined,
        args: &[
            "--cap-add",
            "SYS_ADMIN",
            "--probe",
            "kernel.keyctl",
            "--probe",
            "kernel.process-vm-writev",
            "--probe",
            "kernel.personality",
            "--probe",
            "kernel.ptrace",
            "--probe",
            "namespace.*",
        ],
        rows: &[
            row("kernel.keyctl", "escaped"),
            row("kernel.process-vm-writev", "escaped"),
            row("kernel.personality", "escaped"),
            row("kernel.ptrace", "escaped"),
            row("namespace.setns", "escaped"),
            row("namespace.unshare-mount", "escaped"),
            row("namespace.unshare-user", "escaped"),
        ],
    },
    Case {
        name: "faked_success_of_kernel_and_namespace_calls_is_no_escape",
        needs: &[],
        profile: Profile::Inline(concat!(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["#,
            r#""bpf", "perf_event_open", "io_uring_setup", "keyctl", "userfaultfd", "#,
            r#""process_vm_writev", "personality", "ptrace", "setns", "unshare", "#,
            r#""kexec_load", "init_module", "reboot"], "#,
            r#""action": "SCMP_ACT_ERRNO", "errnoRet": 0}]}"#
        )),
        args: &[
            "--cap-add",
            "SYS_ADMIN",
            "--probe",
            "kernel.*",
            "--probe",
            "namespace.*",
        ],
        rows: &[
            by("kernel.io-uring", "blocked", "fake-success"),
            by("kernel.bpf", "blocked", "fake-success"),
            by("kernel.keyctl", "blocked", "fake-success"),
            by("kernel.userfaultfd", "blocked", "fake-success"),
            by("kernel.perf-event-open", "blocked", "fake-success"),
            by("kernel.ptrace", "blocked", "fake-success"),
            by("kernel.process-vm-writev", "blocked", "fake-success"),
            by("kernel.personality", "blocked", "fake-success"),
            by("kernel.init-module", "blocked", "fake-success"),
            by("kernel.kexec-load", "blocked", "fake-success"),
            by("kernel.reboot", "blocked", "fake-success"),
            by("namespace.setns", "blocked", "fake-success"),
            by("namespace.unshare-mount", "blocked", "fake-success"),
            by("namespace.unshare-user", "blocked", "fake-success"),
        ],
    },
    Case {
        name: "process_creation_works_without_a_filter",
        needs: &[],
        profile: Profile::Unconfined,
        args: &[
            "--probe",
            "spawn.fork",
            "--probe",
            "spawn.vfork",
            "--probe",
            "spawn.clone",
            "--probe",
            "spawn.clone3",
            "--probe",
            "spawn.thread",
            "--probe",
            "exec.posix-spawn",
        ],
        // Each child prints its step's verdict with the nonce: witnessed, not the
        // parent's word (the faked case below is the control).
        rows: &[
            seen("spawn.fork"),
            seen("spawn.vfork"),
            seen("spawn.clone"),
            seen("spawn.clone3"),
            seen("spawn.thread"),
            seen("exec.posix-spawn"),
        ],
    },
    Case {
        name: "process_creation_through_the_i386_entry_is_witnessed",
        needs: &[Need::I386],
        profile: Profile::Unconfined,
        args: &["--probe", "spawn.i386-fork"],
        rows: &[seen("spawn.i386-fork")],
    },
    Case {
        name: "faked_process_creation_is_no_escape_and_the_runner_lives_on",
        needs: &[],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["fork", "vfork", "clone", "clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}]}"#,
        ),
        args: &[
            "--probe",
            "spawn.fork",
            "--probe",
            "spawn.vfork",
            "--probe",
            "spawn.clone",
            "--probe",
            "spawn.clone3",
            "--probe",
            "spawn.thread",
            "--probe",
            "namespace.clone-newuser",
            "--probe",
            "exec.posix-spawn",
        ],
        rows: &[
            by("spawn.fork", "blocked", "fake-success"),
            by("spawn.vfork", "blocked", "fake-success"),
            by("spawn.clone", "blocked", "fake-success"),
            by("spawn.clone3", "blocked", "fake-success"),
            by("spawn.thread", "blocked", "fake-success"),
            by("namespace.clone-newuser", "blocked", "fake-success"),
            by("exec.posix-spawn", "blocked", "fake-success"),
        ],
    },
    // A probe's helper must not rest on a call the profile may deny: with fork and
    // clone denied, fs.setuid-binary makes its child with vfork (the child drops to
    // 65534 and execs in assembly), and no-new-privileges is the control that blocks.
    Case {
        name: "setuid_binary_runs_from_a_vfork_child_when_fork_and_clone_are_denied",
        needs: &[],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["fork", "clone", "clone3"], "action": "SCMP_ACT_ERRNO"}]}"#,
        ),
        args: &["--probe", "fs.setuid-binary", "--probe", "spawn.fork"],
        rows: &[
            seen("fs.setuid-binary"),
            by("spawn.fork", "blocked", "EPERM"),
        ],
    },
    Case {
        name: "setuid_binary_from_a_vfork_child_is_stopped_by_no_new_privileges",
        needs: &[],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["fork", "clone", "clone3"], "action": "SCMP_ACT_ERRNO"}]}"#,
        ),
        args: &[
            "--security-opt",
            "no-new-privileges",
            "--probe",
            "fs.setuid-binary",
        ],
        rows: &[by("fs.setuid-binary", "blocked", "no-new-privileges")],
    },
    // A call numbered above every call an errno-default profile names: runc's source
    // has a stub that would answer ENOSYS, but runc 1.1.5 and crun 1.8.1 here answer
    // the default's errno, and each prediction says so (no unexplained disagreement).
    Case {
        name: "runc_answers_the_default_errno_above_the_profile",
        needs: &[],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["execve", "exit", "exit_group", "arch_prctl", "brk", "set_tid_address", "set_robust_list", "mprotect", "getpid", "getuid", "getgid", "write", "read", "wait4", "rt_sigaction", "clone", "fstatfs", "openat", "close", "fcntl", "futex", "getdents64", "newfstatat", "fstat", "rt_sigprocmask", "rt_sigreturn", "mmap", "munmap", "nanosleep", "sigaltstack", "gettid", "tgkill", "sched_yield", "epoll_ctl", "epoll_pwait", "madvise"], "action": "SCMP_ACT_ALLOW"}]}"#,
        ),
        args: &[
            "--security-opt",
            "no-new-privileges",
            "--probe",
            "spawn.clone3",
            "--probe",
            "spawn.clone",
        ],
        rows: &[by("spawn.clone3", "blocked", "EPERM"), seen("spawn.clone")],
    },
    Case {
        name: "crun_answers_the_default_errno_above_the_profile",
        needs: &[Need::Runtime("crun")],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["execve", "exit", "exit_group", "arch_prctl", "brk", "set_tid_address", "set_robust_list", "mprotect", "getpid", "getuid", "getgid", "write", "read", "wait4", "rt_sigaction", "clone"], "action": "SCMP_ACT_ALLOW"}]}"#,
        ),
        args: &[
            "--runtime",
            "crun",
            "--security-opt",
            "no-new-privileges",
            "--probe",
            "spawn.clone3",
            "--probe",
            "spawn.clone",
        ],
        rows: &[by("spawn.clone3", "blocked", "EPERM"), seen("spawn.clone")],
    },
    // `check` predicts each runtime's own start under an allow-list, with and without
    // no-new-privileges (`RUNTIME_STARTS`): this one leaves out what runc closes its
    // descriptors with (fstatfs, getdents64), so runc cannot start even with
    // no-new-privileges, while crun, which needs nothing after its filter then, can.
    Case {
        name: "runc_needs_its_own_calls_after_the_filter",
        needs: &[],
        profile: Profile::Inline(TIGHT_WITHOUT_RUNC),
        args: &[
            "--security-opt",
            "no-new-privileges",
            "--probe",
            "spawn.fork",
        ],
        rows: &[by("spawn.fork", "not-run", "start-failure")],
    },
    Case {
        name: "crun_needs_nothing_after_the_filter_with_no_new_privileges",
        needs: &[Need::Runtime("crun")],
        profile: Profile::Inline(TIGHT_WITHOUT_RUNC),
        args: &[
            "--runtime",
            "crun",
            "--security-opt",
            "no-new-privileges",
            "--probe",
            "spawn.fork",
        ],
        rows: &[seen("spawn.fork")],
    },
    // The runner itself starts and reports under a tight allow-list an application
    // would use: no poll, rt_sigaction, sigaltstack or mmap (std's start needs them
    // and aborts without them; the runner has an entry point of its own). runsc-oci
    // applies the filter after its own start, so only the runner's needs count there.
    // The control: without mprotect, which glibc's start cannot do without, the
    // container does not get as far as a report.
    Case {
        name: "the_runner_reports_under_a_tight_allow_list",
        needs: &[Need::Runtime("runsc")],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["execve", "exit", "exit_group", "arch_prctl", "brk", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "readlink", "getrandom", "mprotect", "getpid", "getuid", "getgid", "write", "read", "fork", "wait4"], "action": "SCMP_ACT_ALLOW"}]}"#,
        ),
        args: &[
            "--runtime",
            "runsc-oci",
            "--probe",
            "spawn.fork",
            "--probe",
            "spawn.vfork",
        ],
        rows: &[seen("spawn.fork"), by("spawn.vfork", "blocked", "EPERM")],
    },
    Case {
        name: "the_runner_does_not_start_without_what_glibc_needs",
        needs: &[Need::Runtime("runsc")],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["execve", "exit", "exit_group", "arch_prctl", "brk", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "readlink", "getrandom", "getpid", "getuid", "getgid", "write", "read", "fork", "wait4"], "action": "SCMP_ACT_ALLOW"}]}"#,
        ),
        args: &["--runtime", "runsc-oci", "--probe", "spawn.fork"],
        rows: &[by("spawn.fork", "not-run", "start-failure")],
    },
    // SCMP_ACT_TRACE answers ENOSYS without a tracer, but a process that may ptrace
    // traces a child of its own and continues it past the stop: the call runs.
    Case {
        name: "trace_rules_are_passed_by_a_tracer_of_its_own",
        needs: &[],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["unshare", "execveat", "keyctl"], "action": "SCMP_ACT_TRACE"}]}"#,
        ),
        args: &[
            "--probe",
            "exec.execveat",
            "--probe",
            "kernel.keyctl",
            "--probe",
            "namespace.unshare-user",
        ],
        rows: &[
            Row {
                evidence: Some("witnessed"),
                ..row("exec.execveat", "escaped")
            },
            row("kernel.keyctl", "escaped"),
            row("namespace.unshare-user", "escaped"),
        ],
    },
    Case {
        name: "trace_rules_without_ptrace_block",
        needs: &[],
        profile: Profile::Inline(concat!(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ["#,
            r#"{"names": ["unshare", "execveat", "keyctl"], "action": "SCMP_ACT_TRACE"}, "#,
            r#"{"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}]}"#
        )),
        args: &[
            "--probe",
            "exec.execveat",
            "--probe",
            "kernel.keyctl",
            "--probe",
            "namespace.unshare-user",
        ],
        rows: &[
            by("exec.execveat", "blocked", "ENOSYS"),
            by("kernel.keyctl", "blocked", "ENOSYS"),
            by("namespace.unshare-user", "blocked", "ENOSYS"),
        ],
    },
    // A sandbox kernel is not the host kernel: under gVisor a new namespace, its
    // procfs and its implementation of a call are its own.
    Case {
        name: "gvisor_namespaces_and_procfs_are_contained",
        needs: &[Need::Runtime("runsc")],
        profile: Profile::Unconfined,
        args: &[
            "--runtime",
            "runsc",
            "--cap-add",
            "SYS_ADMIN",
            "--probe",
            "fs.proc-sys",
            "--probe",
            "namespace.unshare-user",
            "--probe",
            "namespace.unshare-mount",
            "--probe",
            "exec.execve",
        ],
        rows: &[
            by("fs.proc-sys", "contained", "sandbox-kernel"),
            by("namespace.unshare-user", "contained", "sandbox-kernel"),
            by("namespace.unshare-mount", "contained", "sandbox-kernel"),
            Row {
                evidence: Some("witnessed"),
                ..row("exec.execve", "escaped")
            },
        ],
    },
    // A call gVisor does not implement answers ENOSYS with no filter in the way: not
    // applicable, not a block. Under runsc-oci a trace rule could answer ENOSYS too,
    // so there no claim is made; and under runc the same ENOSYS is the filter's.
    Case {
        name: "gvisor_unimplemented_call_is_not_applicable",
        needs: &[Need::Runtime("runsc")],
        profile: Profile::Unconfined,
        args: &[
            "--runtime",
            "runsc",
            "--probe",
            "spawn.clone3",
            "--probe",
            "spawn.fork",
        ],
        rows: &[
            by("spawn.clone3", "not-applicable", "ENOSYS"),
            seen("spawn.fork"),
        ],
    },
    Case {
        name: "gvisor_enosys_a_trace_rule_could_answer_stays_blocked",
        needs: &[Need::Runtime("runsc")],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_TRACE"}]}"#,
        ),
        args: &["--runtime", "runsc-oci", "--probe", "spawn.clone3"],
        rows: &[by("spawn.clone3", "blocked", "ENOSYS")],
    },
    Case {
        name: "enosys_of_a_filter_on_the_host_kernel_blocks",
        needs: &[],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}"#,
        ),
        args: &["--probe", "spawn.clone3"],
        rows: &[by("spawn.clone3", "blocked", "ENOSYS")],
    },
    Case {
        name: "host_kernel_namespaces_escape_under_runc",
        needs: &[],
        profile: Profile::Unconfined,
        args: &[
            "--cap-add",
            "SYS_ADMIN",
            "--probe",
            "fs.proc-sys",
            "--probe",
            "namespace.unshare-user",
            "--probe",
            "namespace.unshare-mount",
        ],
        // The host sees the runner in the namespaces it says it moved to: witnessed.
        rows: &[
            by("fs.proc-sys", "blocked", "EROFS"),
            Row {
                evidence: Some("witnessed"),
                ..row("namespace.unshare-user", "escaped")
            },
            Row {
                evidence: Some("witnessed"),
                ..row("namespace.unshare-mount", "escaped")
            },
        ],
    },
    // A probe's helpers may not depend on calls a profile denies: kernel.ptrace's
    // child must wait to be attached to even when getppid fails (crun: runc's own
    // start needs getppid).
    Case {
        name: "ptrace_helper_lives_without_getppid",
        needs: &[Need::Runtime("crun")],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}"#,
        ),
        args: &["--runtime", "crun", "--probe", "kernel.ptrace"],
        rows: &[row("kernel.ptrace", "escaped")],
    },
    Case {
        name: "ptrace_denied_blocks",
        needs: &[Need::Runtime("crun")],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid", "ptrace"], "action": "SCMP_ACT_ERRNO"}]}"#,
        ),
        args: &["--runtime", "crun", "--probe", "kernel.ptrace"],
        rows: &[by("kernel.ptrace", "blocked", "EPERM")],
    },
    // io_uring makes sockets without the socket call (IORING_OP_SOCKET, Linux 5.19):
    // a rule on socket's family does not see it; only denying io_uring closes it.
    Case {
        name: "vsock_family_rule_leaks_through_io_uring",
        needs: &[],
        profile: Profile::Inline(concat!(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "#,
            r#""syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "#,
            r#""args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]}]}"#
        )),
        args: &["--probe", "net.vsock"],
        rows: &[via("net.vsock", "IORING_OP_SOCKET", "reported")],
    },
    Case {
        name: "vsock_family_rule_with_io_uring_denied_blocks",
        needs: &[],
        profile: Profile::Inline(concat!(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "#,
            r#""syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "#,
            r#""args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]}, "#,
            r#"{"names": ["io_uring_setup"], "action": "SCMP_ACT_ERRNO"}]}"#
        )),
        args: &["--probe", "net.vsock"],
        rows: &[by("net.vsock", "blocked", "EPERM")],
    },
    // Files only the container has (a tmpfs, /dev/shm) are seen on the host through the
    // held runner's /proc/PID/root; a read-only /dev/shm blocks the write.
    Case {
        name: "container_only_files_are_witnessed_through_the_runners_root",
        needs: &[],
        profile: Profile::Unconfined,
        args: &[
            "--tmpfs",
            "/scratch",
            "--probe",
            "fs.write-mount",
            "--probe",
            "ipc.write-dev-shm",
        ],
        rows: &[
            Row {
                evidence: Some("witnessed"),
                ..row("fs.write-mount@/scratch", "escaped")
            },
            Row {
                evidence: Some("witnessed"),
                ..row("ipc.write-dev-shm", "escaped")
            },
        ],
    },
    Case {
        name: "a_read_only_dev_shm_blocks_the_write",
        needs: &[],
        profile: Profile::Unconfined,
        args: &["--tmpfs", "/dev/shm:ro", "--probe", "ipc.write-dev-shm"],
        rows: &[by("ipc.write-dev-shm", "blocked", "EROFS")],
    },
    // A device node the probe made is looked at through the held runner's root, and
    // must be the character device 1:3 it claims; a nodev mount refuses to open it.
    Case {
        name: "a_device_node_on_a_mount_is_witnessed",
        needs: &[],
        profile: Profile::Unconfined,
        args: &["--tmpfs", "/scratch:dev", "--probe", "fs.mknod"],
        rows: &[Row {
            evidence: Some("witnessed"),
            ..row("fs.mknod@/scratch", "escaped")
        }],
    },
    Case {
        name: "a_nodev_mount_blocks_the_device_node",
        needs: &[],
        profile: Profile::Unconfined,
        args: &["--tmpfs", "/scratch", "--probe", "fs.mknod"],
        rows: &[by("fs.mknod@/scratch", "blocked", "EACCES")],
    },
    // Under a filter, reboot's EINVAL with CAP_SYS_BOOT could be the kernel's or a
    // rule's, and no second call tells them apart: indeterminate. Without a filter it
    // is the kernel's.
    Case {
        name: "reboot_under_a_filter_is_indeterminate",
        needs: &[],
        profile: Profile::Inline(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]}"#,
        ),
        args: &["--cap-add", "SYS_BOOT", "--probe", "kernel.reboot"],
        rows: &[by("kernel.reboot", "indeterminate", "EINVAL")],
    },
    Case {
        name: "reboot_without_a_filter_reaches_the_kernel",
        needs: &[],
        profile: Profile::Unconfined,
        args: &["--cap-add", "SYS_BOOT", "--probe", "kernel.reboot"],
        rows: &[by("kernel.reboot", "escaped", "reachable")],
    },
];

/// Docker's default profile; `native_only` drops its i386 and x32 architectures.
fn docker_default_json(native_only: bool) -> Value {
    let text = std::fs::read_to_string(docker_default()).expect("checked by its need");
    let mut json: Value = serde_json::from_str(&text).expect("Docker's profile is JSON");
    if native_only {
        for arch in json["archMap"].as_array_mut().expect("an archMap") {
            if arch["architecture"] == "SCMP_ARCH_X86_64" {
                arch["subArchitectures"] = Value::Array(Vec::new());
            }
        }
    }
    json
}

fn check(case: &Case) -> TestResult {
    let scratch = Scratch::new("truth");
    let mut args: Vec<String> = Vec::new();
    let json = match case.profile {
        Profile::Unconfined => None,
        Profile::Inline(text) => {
            Some(serde_json::from_str(text).expect("a case's profile is JSON"))
        }
        Profile::DockerDefault => Some(docker_default_json(false)),
        Profile::DockerDefaultNativeOnly => Some(docker_default_json(true)),
    };
    if let Some(json) = json {
        args.push("--profile".into());
        args.push(write_profile(scratch.path(), "profile.json", &json));
    }
    args.extend(case.args.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, report) = run_json(&args)?;
    // Under runc and crun every verdict agrees with what the profile's filter decides,
    // or differs only where something past the filter (a capability, a mount) or a
    // named runtime quirk stepped in.
    for v in report["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["verdicts"].as_array().cloned().unwrap_or_default())
    {
        let agreement = &v["prediction"]["agreement"];
        if agreement["kind"] == "unexplained" && v["runtime"] != "runsc-oci" {
            return Err(Failed::from(format!(
                "{} under {}: the observation contradicts the prediction: {}",
                v["probe"], v["runtime"], v["prediction"]
            )));
        }
    }
    for r in case.rows {
        expect(&report, r.step, r.outcome, r.mechanism, r.evidence)?;
        if let Some(route) = r.route {
            let got = &verdict(&report, r.step)?["route"];
            if got != route {
                return Err(Failed::from(format!(
                    "{}: route {got} where {route:?} was expected: {:#}",
                    r.step,
                    verdict(&report, r.step)?
                )));
            }
        }
    }
    Ok(())
}

/// A profile runc cannot start under, and what triage must conclude: the runtime's
/// own reason, without bisecting, where the runtime rejected the profile itself; the
/// denials the start needs where it did not.
struct TriageCase {
    name: &'static str,
    profile: fn() -> Value,
    /// A fragment of the conclusion.
    says: &'static str,
    needed: &'static [&'static str],
}

fn keyctl_rule(action: &str, extra: Value) -> Value {
    let mut rule = serde_json::json!({"names": ["keyctl"], "action": action});
    if let (Some(rule), Some(extra)) = (rule.as_object_mut(), extra.as_object()) {
        rule.extend(extra.clone());
    }
    serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
}

const TRIAGE: &[TriageCase] = &[
    TriageCase {
        name: "triage_names_a_notify_rule_without_a_listener",
        profile: || keyctl_rule("SCMP_ACT_NOTIFY", Value::Null),
        says: "rejected the profile itself: SCMP_ACT_NOTIFY needs a listenerPath",
        needed: &[],
    },
    TriageCase {
        name: "triage_names_an_errno_past_4094",
        profile: || keyctl_rule("SCMP_ACT_ERRNO", serde_json::json!({"errnoRet": 5000})),
        says: "has errnoRet 5000, above 4094, the largest errno libseccomp takes",
        needed: &[],
    },
    TriageCase {
        name: "triage_names_a_filter_too_large_to_load",
        profile: || {
            let rules: Vec<Value> = (0..5000)
                .map(|i| {
                    serde_json::json!({"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 1000 + i, "op": "SCMP_CMP_EQ"}]})
                })
                .collect();
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
        },
        says: "the filter is too large to load",
        needed: &[],
    },
    TriageCase {
        name: "triage_bisects_a_denial_the_start_needs",
        profile: || {
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["execve", "keyctl", "bpf"], "action": "SCMP_ACT_ERRNO"}]})
        },
        says: "runc needs execve to start its container",
        needed: &["execve"],
    },
];

fn check_triage(case: &TriageCase) -> TestResult {
    let scratch = Scratch::new("triage");
    let path = write_profile(scratch.path(), "profile.json", &(case.profile)());
    let (out, report) = run_json(&["--profile", &path, "--probe", "kernel.keyctl"])?;
    out.expect_code(4)?;
    let triage = &report["runs"][0]["triage"];
    let says = triage["conclusion"].as_str().unwrap_or_default();
    let needed: Vec<&str> = triage["needed"]
        .as_array()
        .map(|n| n.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !says.contains(case.says) || needed != case.needed {
        return Err(Failed::from(format!(
            "triage concluded {triage:#}, not {:?} with {:?} needed",
            case.says, case.needed
        )));
    }
    if case.needed.is_empty() && triage["attempts"] != 0 {
        return Err(Failed::from(format!(
            "triage bisected a rejected profile: {triage:#}"
        )));
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut host = Host::default();
    let mut trials: Vec<Trial> = CASES
        .iter()
        .map(|case| {
            let needs = [RUNC, case.needs].concat();
            host.trial(case.name, &needs, move || check(case))
        })
        .collect();
    trials.extend(
        TRIAGE
            .iter()
            .map(|case| host.trial(case.name, RUNC, move || check_triage(case))),
    );
    libtest_mimic::run(&args, trials).exit();
}
