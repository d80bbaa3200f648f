//! Each probe's routes as data: the ways it tries to reach its goal, the system call
//! entry (ABI) each route goes through, and the calls a filter must let through for the
//! route to work, with the argument values a filter may compare.
//!
//! This is what a prediction (evaluating a profile's filter for each route) and a
//! verdict ("blocked only when every route is blocked", "escaped via ...") are made of.
//! The probe binary tries the routes in this order and names the route of each verdict
//! by [`Route::name`]; the harness lists them (`breakout probes`).
//!
//! Only the calls that gate a route are listed: the ones without which the route
//! cannot work, and that a profile written to stop the goal would name. Calls every
//! process needs anyway (`write`, `close`, `exit`, `wait4` to reap a child) are left out.

use serde::Serialize;

use crate::probe_id::ProbeId;

/// The system call entry a route goes through. Seccomp sees each as its own
/// architecture (x32 shares x86_64's, with bit 30 set in the number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Entry {
    /// `syscall` with x86_64 numbers.
    X86_64,
    /// `int 0x80` with i386 numbers: `AUDIT_ARCH_I386` to seccomp.
    I386,
    /// `syscall` with x32 numbers (x86_64 number | 0x40000000).
    X32,
}

impl Entry {
    pub fn as_str(self) -> &'static str {
        match self {
            Entry::X86_64 => "x86_64",
            Entry::I386 => "i386",
            Entry::X32 => "x32",
        }
    }
}

/// One system call a route makes, with the values it passes in the arguments that a
/// profile's argument rules compare (index from 0). Pointers and lengths are omitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The name as profiles spell it (the entry's own table: `socketcall` exists only
    /// on i386).
    pub syscall: &'static str,
    /// `(index, value)` of the arguments that matter to argument rules.
    pub args: &'static [(u8, u64)],
}

/// One way to the probe's goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Route {
    /// How reports name it: `execveat(fd, "", AT_EMPTY_PATH)`.
    pub name: &'static str,
    pub entry: Entry,
    /// The calls that gate it, in the order the probe makes them.
    pub calls: &'static [Call],
}

// Constant values the routes pass (x86_64 Linux uapi).
const SIGCHLD: u64 = 17;
const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_NEWNS: u64 = 0x0002_0000;
const CLONE_NEWUSER: u64 = 0x1000_0000;
/// pthread_create's clone flags: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|
/// PARENT_SETTID|CHILD_CLEARTID.
const THREAD_FLAGS: u64 = 0x003d_0f00;
const AT_EMPTY_PATH: u64 = 0x1000;
const AF_INET: u64 = 2;
const AF_PACKET: u64 = 17;
const AF_VSOCK: u64 = 40;
const SOCK_STREAM: u64 = 1;
const SOCK_DGRAM: u64 = 2;
const SOCK_RAW: u64 = 3;
const SOCK_CLOEXEC: u64 = 0o2000000;
const IPPROTO_ICMP: u64 = 1;
/// shmctl(2)'s command that reports the namespace's segment counts.
const SHM_INFO: u64 = 14;
const MSG_FASTOPEN: u64 = 0x2000_0000;
/// socketcall(2)'s first argument: which socket call it multiplexes.
const SYS_SOCKET: u64 = 1;
const SYS_CONNECT: u64 = 3;
const READ_IMPLIES_EXEC: u64 = 0x0040_0000;
const PTRACE_ATTACH: u64 = 16;
const MFD_CLOEXEC_EXEC: u64 = 0x0011;
const PROT_READ_EXEC: u64 = 0x5;
/// MS_REMOUNT|MS_BIND: a bind remount changes only the per-mount flags.
const MS_REMOUNT_BIND: u64 = 0x1020;

// Macros rather than `const fn`s: a struct literal in a `&[...]` is promoted to a
// `'static`, a function call is not.

/// A call with no argument of note.
macro_rules! call {
    ($syscall:expr $(,)?) => {
        Call {
            syscall: $syscall,
            args: &[],
        }
    };
}

/// A route through the native entry.
macro_rules! native {
    ($name:expr, $calls:expr $(,)?) => {
        Route {
            name: $name,
            entry: Entry::X86_64,
            calls: $calls,
        }
    };
}

/// One route through the native entry that makes one call with no argument of note.
macro_rules! one {
    ($name:expr, $syscall:expr) => {
        &[native!($name, &[call!($syscall)])]
    };
}

/// The routes to a socket of one family: the x86_64 call, the i386 call and the i386
/// multiplexer (whose arguments are in memory, out of a filter's sight), the x32 call,
/// and io_uring's socket operation (no socket call at all).
macro_rules! socket_routes {
    ($domain:expr, $kind:expr, $protocol:expr) => {
        const {
            &[
                native!(
                    "socket",
                    &[Call {
                        syscall: "socket",
                        args: &[(0, $domain), (1, $kind | SOCK_CLOEXEC), (2, $protocol)],
                    }],
                ),
                Route {
                    name: "i386 socket",
                    entry: Entry::I386,
                    calls: &[Call {
                        syscall: "socket",
                        args: &[(0, $domain), (1, $kind), (2, $protocol)],
                    }],
                },
                Route {
                    name: "i386 socketcall(SYS_SOCKET)",
                    entry: Entry::I386,
                    calls: &[Call {
                        syscall: "socketcall",
                        args: &[(0, SYS_SOCKET)],
                    }],
                },
                Route {
                    name: "x32 socket",
                    entry: Entry::X32,
                    calls: &[Call {
                        syscall: "socket",
                        args: &[(0, $domain), (1, $kind), (2, $protocol)],
                    }],
                },
                native!(
                    "IORING_OP_SOCKET",
                    &[call!("io_uring_setup"), call!("io_uring_enter")],
                ),
            ]
        }
    };
}

/// The UDP probe's socket, made once before any of its sending routes.
const UDP_SOCKET: Call = Call {
    syscall: "socket",
    args: &[(0, AF_INET), (1, SOCK_DGRAM | SOCK_CLOEXEC)],
};

/// Every probe's routes, in the order it tries them.
pub fn routes(id: ProbeId) -> &'static [Route] {
    use ProbeId as P;
    match id {
        P::KernelIoUring => one!("io_uring_setup", "io_uring_setup"),
        P::KernelBpf => one!("bpf", "bpf"),
        P::KernelKeyctl => one!("keyctl(KEYCTL_GET_KEYRING_ID)", "keyctl"),
        P::KernelUserfaultfd => one!("userfaultfd", "userfaultfd"),
        P::KernelPerfEventOpen => one!("perf_event_open", "perf_event_open"),
        P::KernelPtrace => &[native!(
            "ptrace(PTRACE_ATTACH) to a child",
            &[
                call!("fork"),
                Call {
                    syscall: "ptrace",
                    args: &[(0, PTRACE_ATTACH)],
                },
            ],
        )],
        P::KernelProcessVmWritev => one!("process_vm_writev", "process_vm_writev"),
        P::KernelPersonality => &[native!(
            "personality(READ_IMPLIES_EXEC)",
            &[Call {
                syscall: "personality",
                args: &[(0, READ_IMPLIES_EXEC)],
            }],
        )],
        P::KernelUselib => one!("uselib", "uselib"),
        P::KernelInitModule => one!("init_module", "init_module"),
        P::KernelKexecLoad => one!("kexec_load", "kexec_load"),
        P::KernelReboot => one!("reboot", "reboot"),
        P::IpcSysvShm => &[native!(
            "shmget, shmat",
            &[
                call!("shmget"),
                call!("shmat"),
                call!("shmdt"),
                call!("shmctl")
            ],
        )],
        P::IpcWriteDevShm => one!("openat(/dev/shm/..., O_CREAT)", "openat"),
        P::HostPidNamespace => &[native!(
            "kill(1, 0) in the host's pid namespace",
            &[Call {
                syscall: "kill",
                args: &[(0, 1), (1, 0)],
            }],
        )],
        P::HostIpcNamespace => &[native!(
            "shmctl(SHM_INFO) in the host's IPC namespace",
            &[Call {
                syscall: "shmctl",
                args: &[(1, SHM_INFO)],
            }],
        )],
        P::HostUtsNamespace => one!("uname in the host's UTS namespace", "uname"),
        P::HostDevice => one!("openat(a host device node, O_RDONLY)", "openat"),
        // The child comes from fork or clone, whichever the profile leaves.
        P::HostMemory => one!("mmap of 128 MiB, touched, in a child", "mmap"),
        P::SpawnFork => one!("fork", "fork"),
        P::SpawnVfork => one!("vfork", "vfork"),
        P::SpawnClone => &[native!(
            "clone(SIGCHLD)",
            &[Call {
                syscall: "clone",
                args: &[(0, SIGCHLD)],
            }],
        )],
        P::SpawnClone3 => one!("clone3(exit_signal = SIGCHLD)", "clone3"),
        P::SpawnThread => &[native!(
            "clone(pthread flags)",
            &[Call {
                syscall: "clone",
                args: &[(0, THREAD_FLAGS)],
            }],
        )],
        P::SpawnI386Fork => &[Route {
            name: "fork through int 0x80",
            entry: Entry::I386,
            calls: &[call!("fork")],
        }],
        P::SpawnX32 => &[Route {
            name: "fork through the x32 ABI",
            entry: Entry::X32,
            calls: &[call!("getpid"), call!("fork")],
        }],
        P::NamespaceCloneNewuser => &[native!(
            "clone(CLONE_NEWUSER)",
            &[Call {
                syscall: "clone",
                args: &[(0, CLONE_NEWUSER | SIGCHLD)],
            }],
        )],
        P::NamespaceClone3Newuser => one!("clone3(CLONE_NEWUSER)", "clone3"),
        P::NamespaceSetns => &[native!(
            "setns(mount namespace)",
            &[
                call!("openat"),
                Call {
                    syscall: "setns",
                    args: &[(1, CLONE_NEWNS)],
                },
            ],
        )],
        P::FsWriteRootfs => one!("openat(O_CREAT) in /", "openat"),
        P::FsWriteMount => one!("openat(O_CREAT) on the mount", "openat"),
        P::FsRemountRw => &[native!(
            "mount(MS_REMOUNT) read-write",
            &[Call {
                syscall: "mount",
                args: &[(3, MS_REMOUNT_BIND)],
            }],
        )],
        P::FsMountNew => one!("mount(tmpfs)", "mount"),
        P::FsMknod => one!("mknodat(S_IFCHR 1:3)", "mknodat"),
        // The child that runs it comes from fork, clone or vfork, whichever the
        // profile leaves: no one of them gates the route.
        P::FsSetuid => &[native!(
            "execve of a set-uid-root copy after setuid(65534)",
            &[
                call!("fchown"),
                call!("fchmod"),
                call!("setuid"),
                call!("execve"),
            ],
        )],
        P::FsSetuidBinary => &[native!(
            "execve of the harness's set-uid-root binary (after setuid(65534) when root)",
            &[call!("execve")],
        )],
        P::FsProcSys => one!("openat(/proc/sys/kernel/core_pattern, O_WRONLY)", "openat"),
        P::FsSysfs => one!("openat(/sys/..., O_WRONLY)", "openat"),
        P::FsOpenByHandle => &[native!(
            "open_by_handle_at",
            &[call!("name_to_handle_at"), call!("open_by_handle_at")],
        )],
        P::NetTcpConnect => &[
            native!(
                "connect + write",
                &[
                    Call {
                        syscall: "socket",
                        args: &[(0, AF_INET), (1, SOCK_STREAM | SOCK_CLOEXEC)],
                    },
                    call!("connect"),
                ],
            ),
            native!(
                "sendmsg(MSG_FASTOPEN)",
                &[
                    Call {
                        syscall: "socket",
                        args: &[(0, AF_INET), (1, SOCK_STREAM | SOCK_CLOEXEC)],
                    },
                    Call {
                        syscall: "sendmsg",
                        args: &[(2, MSG_FASTOPEN)],
                    },
                ],
            ),
        ],
        P::NetUdpSend => &[
            native!("sendto", &[UDP_SOCKET, call!("sendto")]),
            native!("sendmsg", &[UDP_SOCKET, call!("sendmsg")]),
            native!("sendmmsg", &[UDP_SOCKET, call!("sendmmsg")]),
        ],
        P::NetRawSocket => socket_routes!(AF_INET, SOCK_RAW, IPPROTO_ICMP),
        P::NetPacketSocket => socket_routes!(AF_PACKET, SOCK_RAW, 0),
        P::NetVsock => socket_routes!(AF_VSOCK, SOCK_STREAM, 0),
        P::NetIoUringConnect => &[native!(
            "IORING_OP_CONNECT",
            &[
                Call {
                    syscall: "socket",
                    args: &[(0, AF_INET), (1, SOCK_STREAM | SOCK_CLOEXEC)],
                },
                call!("io_uring_setup"),
                call!("io_uring_enter"),
            ],
        )],
        P::NetI386Socketcall => &[Route {
            name: "socketcall(SYS_SOCKET, SYS_CONNECT) through int 0x80",
            entry: Entry::I386,
            calls: &[
                Call {
                    syscall: "socketcall",
                    args: &[(0, SYS_SOCKET)],
                },
                Call {
                    syscall: "socketcall",
                    args: &[(0, SYS_CONNECT)],
                },
            ],
        }],
        P::ExecExecve => one!("execve", "execve"),
        P::ExecExecveat => one!("execveat(AT_FDCWD, path)", "execveat"),
        P::ExecShell => one!("execve(/bin/sh)", "execve"),
        P::ExecMemfd => &[
            native!(
                "execveat(memfd, \"\", AT_EMPTY_PATH)",
                &[
                    Call {
                        syscall: "memfd_create",
                        args: &[(1, MFD_CLOEXEC_EXEC)],
                    },
                    Call {
                        syscall: "execveat",
                        args: &[(4, AT_EMPTY_PATH)],
                    },
                ],
            ),
            native!(
                "execve(/proc/self/fd/N)",
                &[
                    Call {
                        syscall: "memfd_create",
                        args: &[(1, MFD_CLOEXEC_EXEC)],
                    },
                    call!("execve"),
                ],
            ),
        ],
        P::ExecI386 => &[Route {
            name: "execve through int 0x80",
            entry: Entry::I386,
            calls: &[call!("execve")],
        }],
        P::ExecPosixSpawn => &[native!(
            "clone(CLONE_VM|CLONE_VFORK) + execve",
            &[
                Call {
                    syscall: "clone",
                    args: &[(0, CLONE_VM | CLONE_VFORK | SIGCHLD)],
                },
                call!("execve"),
            ],
        )],
        P::ExecInterpreter => one!("execve(/bin/sh SCRIPT)", "execve"),
        P::ExecMmapExec => &[native!(
            "mmap(PROT_READ|PROT_EXEC) of a file",
            &[Call {
                syscall: "mmap",
                args: &[(2, PROT_READ_EXEC)],
            }],
        )],
        P::FsExecMount => one!("execve of a copy on the mount", "execve"),
        P::NamespaceUnshareMount => &[native!(
            "unshare(CLONE_NEWNS)",
            &[Call {
                syscall: "unshare",
                args: &[(0, CLONE_NEWNS)],
            }],
        )],
        P::NamespaceUnshareUser => &[native!(
            "unshare(CLONE_NEWUSER)",
            &[Call {
                syscall: "unshare",
                args: &[(0, CLONE_NEWUSER)],
            }],
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_has_a_named_route_with_calls() {
        for id in ProbeId::ALL {
            let routes = routes(*id);
            assert!(!routes.is_empty(), "{}", id.as_str());
            for (i, r) in routes.iter().enumerate() {
                assert!(!r.name.is_empty() && !r.calls.is_empty(), "{}", id.as_str());
                assert!(
                    routes[..i].iter().all(|o| o.name != r.name),
                    "{}: two routes named {}",
                    id.as_str(),
                    r.name
                );
                for c in r.calls {
                    assert!(c.args.iter().all(|(i, _)| *i < 6), "{}", c.syscall);
                }
            }
        }
    }
}
