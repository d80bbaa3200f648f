//! The probe catalog as data: ids, goals, techniques and what each one tries.
//!
//! Shared by the harness (listing, `--probe` patterns, grouping reports by goal) and by
//! the runner (which implements each id). The order here is the order probes run in:
//! kernel-surface and IPC probes first (they change nothing), then process creation,
//! the filesystem and the network, then exec probes (which replace the runner with the
//! payload), and last the probes that change the runner's own state for good
//! (`namespace.unshare-*`), so that nothing after them runs in a changed process.

use serde::{Deserialize, Serialize};

pub use crate::probe_id::ProbeId;

/// What an escape attempt is after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    /// Run a program that is not the container's process.
    Exec,
    /// Create a process or thread.
    Spawn,
    /// Gain privileges through a new namespace.
    Namespace,
    /// Write or abuse the filesystem.
    Fs,
    /// Reach the outside over the network.
    Net,
    /// Reach kernel attack surface a profile should close.
    Kernel,
    /// Share memory or files with other processes.
    Ipc,
}

impl Goal {
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Exec => "exec",
            Goal::Spawn => "spawn",
            Goal::Namespace => "namespace",
            Goal::Fs => "fs",
            Goal::Net => "net",
            Goal::Kernel => "kernel",
            Goal::Ipc => "ipc",
        }
    }
}

/// How the harness can see a probe's escape from outside the container; anything else
/// is the probe's own word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WitnessKind {
    /// Nothing outside shows it: the verdict is the probe's word.
    Reported,
    /// A connection delivers the step's canary token to the canary.
    CanaryStream,
    /// A datagram delivers the step's canary token; without the canary's receipt the
    /// send proves nothing (a send succeeds into the void).
    CanaryDatagram,
    /// A marker holding the step's marker token appears in the rootfs, on the host side.
    RootfsMarker,
    /// A marker appears on the volume's host side.
    MountMarker,
    /// The program started prints the container's nonce (the payload), or proves a
    /// handoff on stderr.
    Payload,
}

/// One catalog entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProbeInfo {
    /// `goal.technique`.
    pub id: &'static str,
    pub goal: Goal,
    pub technique: &'static str,
    /// One line on what the probe tries.
    pub tries: &'static str,
    /// One line on what blocks it.
    pub blocked_by: &'static str,
    /// Runs once per volume or tmpfs mount, as steps `id@/mount/point`.
    pub per_mount: bool,
    /// Hands the process to a program of the image (see `handoff` in the protocol).
    pub hands_off: bool,
    /// How its escape is seen from outside.
    pub witness: WitnessKind,
    /// What it reaches when a sandbox kernel serves the container (gVisor's Sentry):
    /// that kernel's, not the host's (its namespaces, its procfs). Such an escape is
    /// `contained`. `None`: the effect is the same either way (a program ran, a file
    /// was written, a packet left).
    pub in_sandbox: Option<&'static str>,
}

pub const CATALOG: &[ProbeInfo] = &[
    ProbeInfo {
        id: "kernel.io-uring",
        goal: Goal::Kernel,
        technique: "io-uring",
        tries: "io_uring_setup(2) with one entry, then closes the ring",
        blocked_by: "seccomp denying io_uring_setup, or kernel.io_uring_disabled",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.bpf",
        goal: Goal::Kernel,
        technique: "bpf",
        tries: "bpf(2) with an invalid command; EINVAL or EFAULT means it reached the kernel",
        blocked_by: "seccomp denying bpf, or no CAP_BPF/CAP_SYS_ADMIN (EPERM)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.keyctl",
        goal: Goal::Kernel,
        technique: "keyctl",
        tries: "keyctl(2) reading the session keyring's id, creating nothing",
        blocked_by: "seccomp denying keyctl",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.userfaultfd",
        goal: Goal::Kernel,
        technique: "userfaultfd",
        tries: "userfaultfd(2), closing the descriptor at once",
        blocked_by: "seccomp denying userfaultfd, or vm.unprivileged_userfaultfd=0 without CAP_SYS_PTRACE",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.perf-event-open",
        goal: Goal::Kernel,
        technique: "perf-event-open",
        tries: "perf_event_open(2) with a NULL attribute; EFAULT means it reached the kernel",
        blocked_by: "seccomp denying perf_event_open, or kernel.perf_event_paranoid",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.ptrace",
        goal: Goal::Kernel,
        technique: "ptrace",
        tries: "PTRACE_ATTACH to a paused child of its own, then detaches, kills and reaps it",
        blocked_by: "seccomp denying ptrace, or no CAP_SYS_PTRACE under Yama",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.process-vm-writev",
        goal: Goal::Kernel,
        technique: "process-vm-writev",
        tries: "process_vm_writev(2) into a buffer of its own",
        blocked_by: "seccomp denying process_vm_writev",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.personality",
        goal: Goal::Kernel,
        technique: "personality",
        tries: "personality(2) setting READ_IMPLIES_EXEC, then restores the old persona",
        blocked_by: "seccomp allowing personality only for harmless personas",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.uselib",
        goal: Goal::Kernel,
        technique: "uselib",
        tries: "uselib(2) on a path that names no library; ENOENT or ENOEXEC means it reached the kernel",
        blocked_by: "seccomp denying uselib (kernels without it, CONFIG_USELIB off or a recent kernel that dropped it, answer ENOSYS: not applicable)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.init-module",
        goal: Goal::Kernel,
        technique: "init-module",
        tries: "init_module(2) with an invalid image; ENOEXEC/EFAULT means it reached the kernel",
        blocked_by: "seccomp denying init_module, no CAP_SYS_MODULE or kernel.modules_disabled=1 (EPERM); kernels without modules answer ENOSYS (not applicable)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.kexec-load",
        goal: Goal::Kernel,
        technique: "kexec-load",
        tries: "kexec_load(2) with too many segments; EINVAL means it reached the kernel",
        blocked_by: "seccomp denying kexec_load, no CAP_SYS_BOOT or kernel.kexec_load_disabled=1 (EPERM); kernels without CONFIG_KEXEC answer ENOSYS (not applicable)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "kernel.reboot",
        goal: Goal::Kernel,
        technique: "reboot",
        tries: "reboot(2) with bad magic numbers and an unknown command; EINVAL means it reached the kernel",
        blocked_by: "seccomp denying reboot, or no CAP_SYS_BOOT (EPERM)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its implementation of the call"),
    },
    ProbeInfo {
        id: "ipc.sysv-shm",
        goal: Goal::Ipc,
        technique: "sysv-shm",
        tries: "creates, attaches and removes a private System V shared memory segment",
        blocked_by: "seccomp denying shmget/shmat",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its System V IPC"),
    },
    ProbeInfo {
        id: "ipc.write-dev-shm",
        goal: Goal::Ipc,
        technique: "write-dev-shm",
        tries: "creates a marker file in /dev/shm and removes it (the harness cannot see /dev/shm)",
        blocked_by: "a read-only /dev/shm (EROFS); without /dev/shm it is not applicable",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "spawn.fork",
        goal: Goal::Spawn,
        technique: "fork",
        tries: "the fork(2) system call; the child exits at once",
        blocked_by: "seccomp denying fork",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "spawn.vfork",
        goal: Goal::Spawn,
        technique: "vfork",
        tries: "the vfork(2) system call; the child exits at once",
        blocked_by: "seccomp denying vfork (denying fork does not cover it)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "spawn.clone",
        goal: Goal::Spawn,
        technique: "clone",
        tries: "clone(2) with SIGCHLD, the way glibc's fork() creates a process",
        blocked_by: "seccomp denying clone",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "spawn.clone3",
        goal: Goal::Spawn,
        technique: "clone3",
        tries: "clone3(2) with an exit signal, as newer glibc does",
        blocked_by: "seccomp denying clone3 (ENOSYS is also a block: callers fall back to clone)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "spawn.thread",
        goal: Goal::Spawn,
        technique: "thread",
        tries: "raw clone(2) with pthread_create's flags (CLONE_VM|CLONE_THREAD|CLONE_SIGHAND|...) on a stack of its own; the thread exits at once",
        blocked_by: "seccomp denying clone, or clone with CLONE_THREAD (or CLONE_VM) in its flags",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "spawn.i386-fork",
        goal: Goal::Spawn,
        technique: "i386-fork",
        tries: "fork through the 32-bit entry (int 0x80, i386 nr 2), which seccomp checks as the x86 architecture, not x86_64",
        blocked_by: "a profile without the x86 architecture (libseccomp kills the call: SIGSYS), or one listing x86 whose fork rule then applies by name",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "spawn.x32",
        goal: Goal::Spawn,
        technique: "x32",
        tries: "getpid, then fork, through the x32 ABI (x86_64 number | 0x40000000)",
        blocked_by: "a filter without the x32 architecture (libseccomp kills the call: SIGSYS); kernels without x32 answer ENOSYS (not applicable)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "namespace.clone-newuser",
        goal: Goal::Namespace,
        technique: "clone-newuser",
        tries: "clone(2) with CLONE_NEWUSER; the child exits at once",
        blocked_by: "seccomp masking CLONE_NEWUSER in clone's flags, or user.max_user_namespaces=0 (ENOSPC)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its namespaces"),
    },
    ProbeInfo {
        id: "namespace.clone3-newuser",
        goal: Goal::Namespace,
        technique: "clone3-newuser",
        tries: "clone3(2) with CLONE_NEWUSER, which argument filters on clone cannot see",
        blocked_by: "seccomp denying clone3 (ENOSYS), or user.max_user_namespaces=0",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its namespaces"),
    },
    ProbeInfo {
        id: "namespace.setns",
        goal: Goal::Namespace,
        technique: "setns",
        tries: "setns(2) into its own mount namespace (then puts its root back), which needs CAP_SYS_ADMIN",
        blocked_by: "seccomp denying setns, or no CAP_SYS_ADMIN (EPERM)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its namespaces"),
    },
    ProbeInfo {
        id: "fs.write-rootfs",
        goal: Goal::Fs,
        technique: "write-rootfs",
        tries: "creating a marker file in the root of the container's rootfs",
        blocked_by: "a read-only rootfs (EROFS), a non-root user (EACCES)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::RootfsMarker,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "fs.write-mount",
        goal: Goal::Fs,
        technique: "write-mount",
        tries: "creating a marker file on each volume and tmpfs mount",
        blocked_by: "the mount being read-only (EROFS)",
        per_mount: true,
        hands_off: false,
        witness: WitnessKind::MountMarker,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "fs.remount-rw",
        goal: Goal::Fs,
        technique: "remount-rw",
        tries: "remounting a read-only rootfs or mount read-write (and back)",
        blocked_by: "no CAP_SYS_ADMIN (EPERM), seccomp denying mount",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "fs.mount-new",
        goal: Goal::Fs,
        technique: "mount-new",
        tries: "mounting a fresh tmpfs under /dev and unmounting it",
        blocked_by: "no CAP_SYS_ADMIN (EPERM), seccomp denying mount",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its mount table"),
    },
    ProbeInfo {
        id: "fs.mknod",
        goal: Goal::Fs,
        technique: "mknod",
        tries: "mknodat(2) of a character device node 1:3 (the null device) on each writable mount, then opening it read-only",
        blocked_by: "nodev (EACCES), no CAP_MKNOD (EPERM), the device cgroup",
        per_mount: true,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "fs.setuid",
        goal: Goal::Fs,
        technique: "setuid",
        tries: "a set-uid-root copy of the payload on each writable mount, run by a child that dropped to uid 65534",
        blocked_by: "nosuid or no-new-privileges (the payload runs without euid 0)",
        per_mount: true,
        hands_off: false,
        witness: WitnessKind::Payload,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "fs.proc-sys",
        goal: Goal::Fs,
        technique: "proc-sys",
        tries: "opening /proc/sys/kernel/core_pattern (the host-wide core dump handler) for writing; never writes it",
        blocked_by: "/proc/sys mounted read-only (EROFS)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its procfs"),
    },
    ProbeInfo {
        id: "fs.sysfs",
        goal: Goal::Fs,
        technique: "sysfs",
        tries: "opening a global kernel attribute under /sys (uevent_helper, or another) for writing; never writes it",
        blocked_by: "/sys mounted read-only (EROFS), as runtimes do for every unprivileged container",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its sysfs"),
    },
    ProbeInfo {
        id: "fs.open-by-handle",
        goal: Goal::Fs,
        technique: "open-by-handle",
        tries: "name_to_handle_at then open_by_handle_at on the root (or another filesystem that gives handles): the shocker escape",
        blocked_by: "no CAP_DAC_READ_SEARCH (EPERM), seccomp denying open_by_handle_at",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "net.tcp-connect",
        goal: Goal::Net,
        technique: "tcp-connect",
        tries: "the step's token to the canary over TCP: connect and write, else sendmsg(MSG_FASTOPEN), which connects without connect(2); only the canary's receipt counts",
        blocked_by: "a network namespace without a route to the canary, or seccomp denying socket, or both connect and sendmsg",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::CanaryStream,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "net.udp-send",
        goal: Goal::Net,
        technique: "udp-send",
        tries: "a UDP datagram with the step's token to the canary by sendto, else sendmsg, else sendmmsg; the canary answers it (only its receipt counts; an ICMP error back means it never arrived)",
        blocked_by: "a network namespace without a route to the canary, or seccomp denying socket, or sendto, sendmsg and sendmmsg",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::CanaryDatagram,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "net.raw-socket",
        goal: Goal::Net,
        technique: "raw-socket",
        tries: "creating an AF_INET SOCK_RAW socket (sends nothing) by socket(2), else through the i386 socket and socketcall entries, else x32; the kernel must confirm the family",
        blocked_by: "no CAP_NET_RAW (EPERM), or seccomp on socket's arguments on every entry (an argument rule cannot see i386 socketcall's arguments)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "net.packet-socket",
        goal: Goal::Net,
        technique: "packet-socket",
        tries: "creating an AF_PACKET socket (sends nothing) by socket(2), else through the i386 socket and socketcall entries, else x32; the kernel must confirm the family",
        blocked_by: "no CAP_NET_RAW (EPERM), or seccomp on socket's arguments on every entry (an argument rule cannot see i386 socketcall's arguments)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "net.vsock",
        goal: Goal::Net,
        technique: "vsock",
        tries: "creating an AF_VSOCK socket, the way out of a VM guest (connects nowhere), by socket(2), else through the i386 socket and socketcall entries, else x32; the kernel must confirm the family",
        blocked_by: "seccomp on socket's arguments on every entry: an argument rule cannot see i386 socketcall's arguments, so the x86 architecture must be left out or socketcall denied; kernels without vsock answer EAFNOSUPPORT (not applicable)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "net.io-uring-connect",
        goal: Goal::Net,
        technique: "io-uring-connect",
        tries: "a TCP connect to the canary submitted as an io_uring operation, which never calls connect(2)",
        blocked_by: "seccomp denying io_uring_setup/io_uring_enter (denying connect does not cover it), or no route to the canary",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::CanaryStream,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "net.i386-socketcall",
        goal: Goal::Net,
        technique: "i386-socketcall",
        tries: "socket and connect to the canary through the 32-bit socketcall multiplexer (int 0x80)",
        blocked_by: "a profile covering the x86 architecture's socketcall, or one without x86 (SIGSYS)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::CanaryStream,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "exec.execve",
        goal: Goal::Exec,
        technique: "execve",
        tries: "execve(2) of the payload, which prints the run's nonce",
        blocked_by: "seccomp denying execve",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Payload,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "exec.execveat",
        goal: Goal::Exec,
        technique: "execveat",
        tries: "execveat(2) of the payload by path",
        blocked_by: "seccomp denying execveat (denying execve does not cover it)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Payload,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "exec.shell",
        goal: Goal::Exec,
        technique: "shell",
        tries: "/bin/sh -c 'exec PAYLOAD', the way an attacker pops a shell; the image's shell gets the process (a handoff: nothing it prints is believed, and the suite resumes in a new container)",
        blocked_by: "seccomp denying execve, or a rootfs without a shell",
        per_mount: false,
        hands_off: true,
        witness: WitnessKind::Payload,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "exec.memfd",
        goal: Goal::Exec,
        technique: "memfd",
        tries: "memfd_create(MFD_CLOEXEC|MFD_EXEC), write the payload, run it by execveat(fd, \"\", AT_EMPTY_PATH), else by execve(/proc/self/fd/N) as glibc's fexecve does: fileless, so noexec and a read-only rootfs do not apply",
        blocked_by: "seccomp denying memfd_create, or both execveat and execve (denying execveat alone does not cover it), or vm.memfd_noexec=2 (EACCES)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Payload,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "exec.i386",
        goal: Goal::Exec,
        technique: "i386",
        tries: "execve of the payload through the 32-bit entry (int 0x80, i386 nr 11), which seccomp checks as the x86 architecture, not x86_64",
        blocked_by: "a profile without the x86 architecture (libseccomp kills the call: SIGSYS), or one listing x86 whose execve rule then applies by name",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Payload,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "exec.posix-spawn",
        goal: Goal::Exec,
        technique: "posix-spawn",
        tries: "clone(CLONE_VM|CLONE_VFORK) on a stack of the child's own, then execve in the child, glibc's posix_spawn route; the payload reports and exits",
        blocked_by: "seccomp denying clone (or CLONE_VM in its flags) or execve; denying fork, vfork and clone3 does not cover it",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Payload,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "exec.interpreter",
        goal: Goal::Exec,
        technique: "interpreter",
        tries: "writes a script to each writable mount and has the shell read it (sh SCRIPT): noexec does not stop an interpreter",
        blocked_by: "seccomp denying execve of the shell (not applicable on a read-only mount or without a shell)",
        per_mount: true,
        hands_off: true,
        witness: WitnessKind::Payload,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "exec.mmap-exec",
        goal: Goal::Exec,
        technique: "mmap-exec",
        tries: "mmap(PROT_READ|PROT_EXEC) of a file written to each writable mount, the step a dynamic loader takes; never runs it",
        blocked_by: "noexec (EPERM), seccomp on mmap's protection argument (not applicable on a read-only mount)",
        per_mount: true,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "fs.exec-mount",
        goal: Goal::Fs,
        technique: "exec-mount",
        tries: "copying the payload onto each writable mount and executing it",
        blocked_by: "the noexec mount option (EACCES), or seccomp denying execve",
        per_mount: true,
        hands_off: false,
        witness: WitnessKind::Payload,
        in_sandbox: None,
    },
    ProbeInfo {
        id: "namespace.unshare-mount",
        goal: Goal::Namespace,
        technique: "unshare-mount",
        tries: "unshare(CLONE_NEWNS), a private mount namespace",
        blocked_by: "seccomp denying unshare, or no CAP_SYS_ADMIN (EPERM)",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its namespaces"),
    },
    ProbeInfo {
        id: "namespace.unshare-user",
        goal: Goal::Namespace,
        technique: "unshare-user",
        tries: "unshare(CLONE_NEWUSER), the first step of most namespace escapes",
        blocked_by: "seccomp denying unshare, or user.max_user_namespaces=0",
        per_mount: false,
        hands_off: false,
        witness: WitnessKind::Reported,
        in_sandbox: Some("its namespaces"),
    },
];

/// Turns probe ids into steps: `id`, or `id@/mount` once per mount for per-mount probes.
/// A per-mount probe with no mounts stays one bare step (it reports not-applicable), and
/// an unknown id stays a step too (it reports an error) so nothing vanishes silently.
pub fn expand_steps(probes: &[String], mounts: &[String]) -> Vec<String> {
    let mut steps = Vec::new();
    for id in probes {
        match find(id) {
            Some(info) if info.per_mount && !mounts.is_empty() => {
                steps.extend(mounts.iter().map(|m| format!("{id}@{m}")));
            }
            _ => steps.push(id.clone()),
        }
    }
    steps
}

/// Looks an id up.
impl ProbeInfo {
    /// The entry's id as a type (every catalog id is one: tested below).
    pub fn probe_id(&self) -> ProbeId {
        ProbeId::parse(self.id).expect("every catalog id is a ProbeId")
    }

    /// The ways the probe tries to reach its goal, in the order it tries them.
    pub fn routes(&self) -> &'static [crate::routes::Route] {
        crate::routes::routes(self.probe_id())
    }
}

pub fn find(id: &str) -> Option<&'static ProbeInfo> {
    CATALOG.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_ids_are_the_catalog_in_order() {
        let ids: Vec<&str> = CATALOG.iter().map(|p| p.id).collect();
        let typed: Vec<&str> = ProbeId::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(ids, typed);
        for p in ProbeId::ALL {
            assert_eq!(ProbeId::parse(p.as_str()), Some(*p));
        }
        assert_eq!(ProbeId::parse("spawn.forks"), None);
    }
    #[test]
    fn witness_kinds_fit_their_probes() {
        for p in CATALOG {
            match p.witness {
                WitnessKind::CanaryStream | WitnessKind::CanaryDatagram => {
                    assert_eq!(p.goal, Goal::Net, "{}", p.id)
                }
                WitnessKind::RootfsMarker => assert!(!p.per_mount, "{}", p.id),
                WitnessKind::MountMarker => assert!(p.per_mount, "{}", p.id),
                WitnessKind::Payload | WitnessKind::Reported => {}
            }
            if p.hands_off {
                assert_eq!(p.witness, WitnessKind::Payload, "{}", p.id);
            }
        }
    }

    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn expands_per_mount_probes_once_per_mount() {
        let steps = expand_steps(
            &strings(&["spawn.fork", "fs.write-mount", "fs.exec-mount"]),
            &strings(&["/a", "/b@c"]),
        );
        assert_eq!(
            steps,
            strings(&[
                "spawn.fork",
                "fs.write-mount@/a",
                "fs.write-mount@/b@c",
                "fs.exec-mount@/a",
                "fs.exec-mount@/b@c",
            ])
        );
    }

    #[test]
    fn per_mount_probe_without_mounts_is_one_bare_step() {
        let steps = expand_steps(&strings(&["fs.write-mount", "no.such"]), &[]);
        assert_eq!(steps, strings(&["fs.write-mount", "no.such"]));
    }

    #[test]
    fn ids_are_unique_and_match_goal_and_technique() {
        for (i, p) in CATALOG.iter().enumerate() {
            assert_eq!(p.id, format!("{}.{}", p.goal.as_str(), p.technique));
            assert!(
                CATALOG[i + 1..].iter().all(|q| q.id != p.id),
                "duplicate {}",
                p.id
            );
        }
    }
}
