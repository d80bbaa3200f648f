//! Host cases for `fs.*` and `net.*` (those whose effect stays off the host).
//!
//! Not here: `fs.remount-rw` and `fs.mount-new` would remount and mount in the host's
//! mount namespace; `tests/runc/fs_net.rs` covers them in containers. The per-mount
//! probes get a scratch directory under the host's temporary directory as their mount
//! (on this machine the ext4 root: no nosuid, no nodev), which the probes leave empty.
//!
//! Every case runs as root. The filters come from seccompiler, which sets no_new_privs
//! and covers x86_64 only, killing any other architecture's call (SIGSYS).

use super::{Case, Cmp, Deny, Expect};

/// `socket(2)`'s first argument is the family, the second the type; the low four bits
/// of the type are the kind (flags like SOCK_CLOEXEC sit above them).
const SOCK_TYPE_MASK: u64 = 0xf;

pub fn cases() -> Vec<Case> {
    let wronly = Cmp::MaskedEq(libc::O_ACCMODE as u64, libc::O_WRONLY as u64);
    vec![
        Case::unfiltered("net.tcp-connect", Expect::Escaped),
        // Denying connect leaves TCP Fast Open: sendmsg(MSG_FASTOPEN) connects by itself.
        Case::denied(
            "net.tcp-connect",
            "deny-connect-misses-fast-open",
            vec![Deny::errno(libc::SYS_connect, libc::EACCES)],
            Expect::Escaped,
        ),
        Case::denied(
            "net.tcp-connect",
            "deny-connect-and-sendmsg",
            vec![
                Deny::errno(libc::SYS_connect, libc::EACCES),
                Deny::errno(libc::SYS_sendmsg, libc::EACCES),
            ],
            Expect::Blocked("EACCES"),
        ),
        // fs.mknod: root has CAP_MKNOD and the scratch directory is not nodev.
        Case::unfiltered("fs.mknod", Expect::Escaped).with_scratch_mount(),
        Case::denied(
            "fs.mknod",
            "deny-mknodat",
            vec![Deny::eperm(libc::SYS_mknodat)],
            Expect::Blocked("EPERM"),
        )
        .with_scratch_mount(),
        // fs.setuid: the child at uid 65534 runs the set-uid-root copy with euid 0.
        Case::unfiltered("fs.setuid", Expect::Escaped).with_scratch_mount(),
        // Denying the set-uid bit itself: fchmod with S_ISUID in the mode.
        Case::denied(
            "fs.setuid",
            "deny-fchmod-suid",
            vec![Deny::eperm(libc::SYS_fchmod)
                .when(1, Cmp::MaskedEq(libc::S_ISUID as u64, libc::S_ISUID as u64))],
            Expect::Blocked("EPERM"),
        )
        .with_scratch_mount(),
        // The child's exec of the copy (with the probes' NULL environment).
        Case::denied(
            "fs.setuid",
            "deny-execve",
            vec![Deny::probe_exec(libc::SYS_execve)],
            Expect::Blocked("EPERM"),
        )
        .with_scratch_mount(),
        // Any seccompiler filter sets no_new_privs, which the payload reads and names:
        // here the filter denies nothing the probe uses.
        Case::denied(
            "fs.setuid",
            "no-new-privileges",
            vec![Deny::eperm(libc::SYS_acct)],
            Expect::Blocked("no-new-privileges"),
        )
        .with_scratch_mount(),
        // fs.proc-sys and fs.sysfs: the host's /proc/sys and /sys are read-write for root.
        // The filter answers a write-only open as a read-only mount would.
        Case::unfiltered("fs.proc-sys", Expect::Escaped),
        Case::denied(
            "fs.proc-sys",
            "deny-open-wronly",
            vec![Deny::errno(libc::SYS_openat, libc::EROFS).when(2, wronly)],
            Expect::Blocked("EROFS"),
        ),
        Case::unfiltered("fs.sysfs", Expect::Escaped),
        Case::denied(
            "fs.sysfs",
            "deny-open-wronly",
            vec![Deny::errno(libc::SYS_openat, libc::EROFS).when(2, wronly)],
            Expect::Blocked("EROFS"),
        ),
        // fs.open-by-handle: root has CAP_DAC_READ_SEARCH and ext4 gives handles.
        Case::unfiltered("fs.open-by-handle", Expect::Escaped),
        Case::denied(
            "fs.open-by-handle",
            "deny-open-by-handle-at",
            vec![Deny::eperm(libc::SYS_open_by_handle_at)],
            Expect::Blocked("EPERM"),
        ),
        // net.udp-send: the probe's own word (the harness, not this test, asks the canary).
        Case::unfiltered("net.udp-send", Expect::Escaped),
        // Denying sendto leaves sendmsg and sendmmsg.
        Case::denied(
            "net.udp-send",
            "deny-sendto-misses-sendmsg",
            vec![Deny::eperm(libc::SYS_sendto)],
            Expect::Escaped,
        ),
        Case::denied(
            "net.udp-send",
            "deny-every-sending-call",
            vec![
                Deny::eperm(libc::SYS_sendto),
                Deny::eperm(libc::SYS_sendmsg),
                Deny::eperm(libc::SYS_sendmmsg),
            ],
            Expect::Blocked("EPERM"),
        ),
        Case::unfiltered("net.raw-socket", Expect::Escaped),
        // A rule on socket's arguments misses io_uring's socket operation; with
        // io_uring denied too, every route is closed (the i386 and x32 entries are
        // outside this x86_64 filter, which kills them).
        Case::denied(
            "net.raw-socket",
            "deny-socket-inet-raw-misses-io-uring",
            vec![Deny::eperm(libc::SYS_socket)
                .when(0, Cmp::Eq(libc::AF_INET as u64))
                .when(1, Cmp::MaskedEq(SOCK_TYPE_MASK, libc::SOCK_RAW as u64))],
            Expect::Escaped,
        ),
        Case::denied(
            "net.raw-socket",
            "deny-socket-inet-raw-and-io-uring",
            vec![
                Deny::eperm(libc::SYS_socket)
                    .when(0, Cmp::Eq(libc::AF_INET as u64))
                    .when(1, Cmp::MaskedEq(SOCK_TYPE_MASK, libc::SOCK_RAW as u64)),
                Deny::eperm(libc::SYS_io_uring_setup),
            ],
            Expect::Blocked("EPERM"),
        ),
        Case::unfiltered("net.packet-socket", Expect::Escaped),
        Case::denied(
            "net.packet-socket",
            "deny-socket-packet-misses-io-uring",
            vec![Deny::eperm(libc::SYS_socket).when(0, Cmp::Eq(libc::AF_PACKET as u64))],
            Expect::Escaped,
        ),
        Case::denied(
            "net.packet-socket",
            "deny-socket-packet-and-io-uring",
            vec![
                Deny::eperm(libc::SYS_socket).when(0, Cmp::Eq(libc::AF_PACKET as u64)),
                Deny::eperm(libc::SYS_io_uring_setup),
            ],
            Expect::Blocked("EPERM"),
        ),
        // This machine's kernel has vsock; one without it answers EAFNOSUPPORT.
        Case::unfiltered(
            "net.vsock",
            Expect::EscapedOrNotApplicable("no vsock in this kernel"),
        ),
        Case::denied(
            "net.vsock",
            "deny-socket-vsock-misses-io-uring",
            vec![Deny::eperm(libc::SYS_socket).when(0, Cmp::Eq(libc::AF_VSOCK as u64))],
            Expect::EscapedOrNotApplicable("no such family in this kernel"),
        ),
        Case::denied(
            "net.vsock",
            "deny-socket-vsock-and-io-uring",
            vec![
                Deny::eperm(libc::SYS_socket).when(0, Cmp::Eq(libc::AF_VSOCK as u64)),
                Deny::eperm(libc::SYS_io_uring_setup),
            ],
            Expect::Blocked("EPERM"),
        ),
        Case::unfiltered("net.io-uring-connect", Expect::Escaped),
        Case::denied(
            "net.io-uring-connect",
            "deny-io-uring-setup",
            vec![Deny::eperm(libc::SYS_io_uring_setup)],
            Expect::Blocked("EPERM"),
        ),
        // The point of the technique: denying connect(2) does not cover the ring's connect.
        Case::denied(
            "net.io-uring-connect",
            "deny-connect-only",
            vec![Deny::eperm(libc::SYS_connect)],
            Expect::Escaped,
        ),
        Case::unfiltered(
            "net.i386-socketcall",
            Expect::EscapedOrNotApplicable("does not run 32-bit"),
        ),
        // seccompiler's filter names x86_64 only and kills any i386 call, which is how a
        // profile without the x86 architecture blocks the multiplexer. (An x86 rule for
        // socketcall needs a libseccomp profile: see tests/runc/fs_net.rs.)
        Case::denied(
            "net.i386-socketcall",
            "x86_64-only-filter",
            vec![
                Deny::eperm(libc::SYS_socket),
                Deny::eperm(libc::SYS_connect),
            ],
            Expect::Blocked("SIGSYS"),
        ),
    ]
}
