//! Container cases for the `fs.*` and `net.*` probes whose verdict depends on container
//! settings (mounts, capabilities, user, network), with both controls.
//!
//! The measured verdicts under runc 1.1 (libseccomp 2.5) on this project's machines are
//! written down as the expectations; where a flag turned out not to matter, the case
//! says so and the host tests (`tests/host/fs_net.rs`) carry the positive control.

use serde_json::json;

use crate::common::needs::{Need, RUNC};
use crate::harness::*;

const EPERM: Want = blocked("EPERM");

/// A profile that allows everything but denies `names` (EPERM).
fn denying(names: &[&str]) -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO"}]
    })
}

pub fn cases() -> Vec<Case> {
    const REMOUNT: &str = "--read-only --probe fs.write-rootfs --probe fs.remount-rw \
                           --probe fs.exec-mount";
    vec![
        // A read-only rootfs and a read-only volume: a bind remount needs
        // CAP_SYS_ADMIN. With it both are remounted read-write and back. The probe
        // re-reads mountinfo after putting each back (its detail says "then read-only
        // again" only then), and `fs.exec-mount`, which runs after it, still cannot
        // write to the volume. (`fs.write-rootfs` runs before `fs.remount-rw` in catalog
        // order, so it cannot witness the rootfs afterwards.) Nothing read-only: nothing
        // to try.
        case(
            "fs_remount_rw_needs_sys_admin",
            RUNC,
            [
                run(REMOUNT)
                    .volume("data", "/data:ro")
                    .code(0)
                    .verdicts([("fs.remount-rw", EPERM)])
                    .detail("fs.remount-rw", "remounting /data: EPERM"),
                run(REMOUNT)
                    .args("--cap-add SYS_ADMIN")
                    .volume("data", "/data:ro")
                    .code(1)
                    .verdicts([
                        ("fs.remount-rw", escaped().reported()),
                        ("fs.write-rootfs", blocked("EROFS")),
                        ("fs.exec-mount@/data", not_applicable("EROFS")),
                    ])
                    .detail(
                        "fs.remount-rw",
                        "remounted / read-write, then read-only again",
                    )
                    .detail(
                        "fs.remount-rw",
                        "remounted /data read-write, then read-only again",
                    )
                    .check(Check::Empty("data")),
                run("--cap-add SYS_ADMIN --probe fs.remount-rw")
                    .code(0)
                    .verdicts([("fs.remount-rw", not_applicable_any())]),
            ],
        ),
        case(
            "fs_mount_new_needs_sys_admin",
            RUNC,
            [
                run("--probe fs.mount-new")
                    .code(0)
                    .verdicts([("fs.mount-new", EPERM)]),
                run("--cap-add SYS_ADMIN --probe fs.mount-new")
                    .code(1)
                    .verdicts([("fs.mount-new", escaped())])
                    .detail("fs.mount-new", "and unmounted it"),
            ],
        ),
        // Docker's defaults keep CAP_MKNOD, so the node is made; a nodev tmpfs refuses
        // to open it (EACCES). Where devices are allowed (`dev`, a volume) the open
        // works: runc's device cgroup allows 1:3. Without CAP_MKNOD the node is never
        // made.
        case(
            "fs_mknod_nodev_and_cap_mknod",
            RUNC,
            [
                run("--tmpfs /scratch:exec --probe fs.mknod")
                    .volume("data", "/data")
                    .volume("ro", "/ro:ro")
                    .code(1)
                    .verdicts([
                        ("fs.mknod@/scratch", blocked("EACCES")),
                        ("fs.mknod@/data", escaped()),
                        ("fs.mknod@/ro", not_applicable("EROFS")),
                    ])
                    .detail("fs.mknod@/scratch", "(nodev)")
                    .check(Check::Empty("data")),
                run("--tmpfs /scratch:dev --probe fs.mknod")
                    .code(1)
                    .verdicts([("fs.mknod@/scratch", escaped())]),
                run("--tmpfs /scratch:dev --cap-drop MKNOD --probe fs.mknod")
                    .code(0)
                    .verdicts([("fs.mknod@/scratch", EPERM)]),
            ],
        ),
        // The set-uid copy runs in a child at uid 65534. Docker's tmpfs default is
        // nosuid, so the payload runs without euid 0; `suid` (or a volume without
        // nosuid) lets it become root, witnessed by the payload's nonce;
        // no-new-privileges stops it even there. On a noexec tmpfs the exec itself
        // fails, which is noexec's block, not nosuid's. A non-root user has nothing to
        // gain.
        case(
            "fs_setuid_nosuid_and_no_new_privileges",
            RUNC,
            [
                run("--tmpfs /scratch:exec --probe fs.setuid")
                    .code(0)
                    .verdicts([("fs.setuid@/scratch", blocked("nosuid"))]),
                run("--tmpfs /scratch:exec,suid --probe fs.setuid")
                    .volume("data", "/data")
                    .code(1)
                    .verdicts([
                        ("fs.setuid@/scratch", escaped().witnessed()),
                        ("fs.setuid@/data", escaped().witnessed()),
                    ])
                    .detail("fs.setuid@/scratch", "euid 0 (uid 65534)")
                    .detail("fs.setuid@/data", "euid 0 (uid 65534)")
                    .check(Check::Empty("data")),
                run(
                    "--tmpfs /scratch:exec,suid --security-opt no-new-privileges \
                     --probe fs.setuid",
                )
                .code(0)
                .verdicts([("fs.setuid@/scratch", blocked("no-new-privileges"))]),
                run("--tmpfs /scratch:suid --probe fs.setuid")
                    .code(0)
                    .verdicts([("fs.setuid@/scratch", blocked("EACCES"))])
                    .detail("fs.setuid@/scratch", "block by noexec"),
                run("--user 1000:1000 --tmpfs /scratch:exec,suid --probe fs.setuid")
                    .code(0)
                    .verdicts([("fs.setuid@/scratch", not_applicable_any())]),
            ],
        ),
        // The harness's own set-uid-root binary, on a mount of its own that honours
        // the bit: a non-root user (the configuration most people run) becomes root
        // by running it, and only no-new-privileges stops that. A root runner drops to
        // 65534 before it runs it.
        case(
            "fs_setuid_binary_needs_no_new_privileges_for_a_non_root_user",
            RUNC,
            [
                run("--user 1000:1000 --probe fs.setuid-binary")
                    .code(1)
                    .verdicts([("fs.setuid-binary", escaped().witnessed())])
                    .detail("fs.setuid-binary", "euid 0 (uid 1000)"),
                run("--user 1000:1000 --security-opt no-new-privileges --probe fs.setuid-binary")
                    .code(0)
                    .verdicts([("fs.setuid-binary", blocked("no-new-privileges"))])
                    .detail("fs.setuid-binary", "runs with euid 1000"),
                run("--probe fs.setuid-binary")
                    .code(1)
                    .verdicts([("fs.setuid-binary", escaped().witnessed())])
                    .detail("fs.setuid-binary", "euid 0 (uid 65534)"),
            ],
        ),
        // runc mounts /proc/sys read-only unless the masked and read-only paths are
        // dropped; then root in the container opens the host's core_pattern for
        // writing.
        case(
            "fs_proc_sys_systempaths",
            RUNC,
            [
                run("--probe fs.proc-sys")
                    .code(0)
                    .verdicts([("fs.proc-sys", blocked("EROFS"))]),
                run("--security-opt systempaths=unconfined --probe fs.proc-sys")
                    .code(1)
                    .verdicts([("fs.proc-sys", escaped())])
                    .detail("fs.proc-sys", "core_pattern"),
            ],
        ),
        // /sys is a read-only sysfs mount in the runtime's spec itself, not one of the
        // read-only paths, so neither systempaths=unconfined nor CAP_SYS_ADMIN makes it
        // writable (only a privileged container would). The escaped control is the
        // host case.
        case(
            "fs_sysfs_read_only_either_way",
            RUNC,
            [
                "",
                "--security-opt systempaths=unconfined",
                "--cap-add SYS_ADMIN",
            ]
            .map(|extra| {
                run("--probe fs.sysfs")
                    .args(extra)
                    .label(format!("with {extra:?}"))
                    .code(0)
                    .verdicts([("fs.sysfs", blocked("EROFS"))])
            }),
        ),
        case(
            "fs_open_by_handle_needs_dac_read_search",
            RUNC,
            [
                run("--probe fs.open-by-handle")
                    .code(0)
                    .verdicts([("fs.open-by-handle", EPERM)]),
                run("--cap-add DAC_READ_SEARCH --probe fs.open-by-handle")
                    .code(1)
                    .verdicts([("fs.open-by-handle", escaped())]),
            ],
        ),
        // The send succeeds either way; only the canary's receipt makes it an escape.
        // With the host's network or the default bridge the canary answers; in a
        // namespace of its own (--network none: no route to the canary) the datagram meets a closed port and comes back as
        // ICMP; a profile that fakes sendto's success (errnoRet 0: nothing is sent, the
        // call returns 0) gets neither, and only the canary's silence shows that
        // nothing left.
        case(
            "net_udp_send_needs_the_canary",
            RUNC,
            [
                run("--network host --probe net.udp-send")
                    .code(1)
                    .verdicts([("net.udp-send", escaped().witnessed())]),
                run("--network none --probe net.udp-send")
                    .code(0)
                    .verdicts([("net.udp-send", blocked("ECONNREFUSED").reported())]),
                // The default bridge routes it to the canary.
                run("--probe net.udp-send")
                    .code(1)
                    .verdicts([("net.udp-send", escaped().witnessed())]),
                run("--network host --probe net.udp-send")
                    .profile(json!({
                        "defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["sendto"], "action": "SCMP_ACT_ERRNO",
                                      "errnoRet": 0}]
                    }))
                    .code(0)
                    .verdicts([("net.udp-send", blocked("not-received").witnessed())]),
            ],
        ),
        // Docker's default capability set includes NET_RAW: raw and packet sockets are
        // open by default, in the container's own network namespace too. Every
        // capability dropped: the container still starts (runc refuses ambient or
        // inheritable capabilities outside the permitted set, so the spec has none).
        case(
            "net_raw_and_packet_sockets_need_net_raw",
            RUNC,
            ["", "--cap-drop NET_RAW", "--cap-drop ALL"].map(|drop| {
                let (code, want) = match drop {
                    "" => (1, escaped()),
                    _ => (0, EPERM),
                };
                run("--probe net.raw-socket --probe net.packet-socket")
                    .args(drop)
                    .label(format!("with {drop:?}"))
                    .code(code)
                    .verdicts([("net.raw-socket", want), ("net.packet-socket", want)])
            }),
        ),
        // An AF_VSOCK socket needs no capability and no route: only a filter on socket's
        // family stops it, together with io_uring (whose socket operation makes no
        // socket call), and that filter leaves the other families alone.
        case(
            "net_vsock_socket_family_filter",
            RUNC,
            [
                run("--probe net.vsock --probe net.raw-socket")
                    .code(1)
                    .verdicts([("net.vsock", escaped())]),
                run("--probe net.vsock --probe net.raw-socket")
                    .profile(json!({
                        "defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                                      "args": [{"index": 0, "value": libc::AF_VSOCK,
                                                "op": "SCMP_CMP_EQ"}]},
                                     {"names": ["io_uring_setup"], "action": "SCMP_ACT_ERRNO"}]
                    }))
                    .code(1)
                    .verdicts([("net.vsock", EPERM), ("net.raw-socket", escaped())]),
            ],
        ),
        // The ring's connect reaches the canary; denying io_uring_setup blocks it,
        // denying connect(2) does not (the kernel connects inside io_uring). Nor does
        // it stop the TCP probe: sendmsg(MSG_FASTOPEN) connects without connect(2).
        case(
            "net_io_uring_connect_passes_a_connect_filter",
            RUNC,
            [
                run(URING)
                    .code(1)
                    .verdicts([("net.io-uring-connect", escaped().witnessed())]),
                run(URING)
                    .label("no io_uring_setup")
                    .profile(denying(&["io_uring_setup"]))
                    .code(1)
                    .verdicts([
                        ("net.io-uring-connect", EPERM),
                        ("net.tcp-connect", escaped()),
                    ]),
                run(URING)
                    .label("no connect")
                    .profile(denying(&["connect"]))
                    .code(1)
                    .verdicts([
                        ("net.io-uring-connect", escaped().witnessed()),
                        (
                            "net.tcp-connect",
                            escaped().witnessed().via("sendmsg(MSG_FASTOPEN)"),
                        ),
                    ]),
            ],
        ),
        case(
            "net_i386_socketcall_and_profile_architectures",
            RUNC,
            socketcall_runs(),
        )
        .and(Need::I386),
    ]
}

const URING: &str = "--network host --probe net.io-uring-connect --probe net.tcp-connect";

/// socket and connect through the i386 socketcall multiplexer, under libseccomp's
/// handling of the x86 architecture as runc compiles the profile:
/// * no profile: reaches the canary;
/// * socket and connect denied, `architectures` x86_64 only: any i386 call is killed
///   (libseccomp's default for a foreign architecture), so the probe dies of SIGSYS and
///   the suite resumes in a second container;
/// * the same with SCMP_ARCH_X86 added: libseccomp turns the x86 rule for `socket` into
///   one for socketcall(SYS_SOCKET), blocked EPERM;
/// * an argument filter on socket's family (AF_PACKET only) with x86: the arguments of
///   socketcall are in memory where seccomp cannot read them, and libseccomp 2.5 then
///   denies every socketcall(SYS_SOCKET), so the i386 TCP socket is blocked although
///   the x86_64 one, of another family, goes through.
fn socketcall_runs() -> Vec<Run> {
    const PROBES: &str = "--network host --probe net.i386-socketcall --probe net.tcp-connect";
    let deny_both = json!([{"names": ["socket", "connect"], "action": "SCMP_ACT_ERRNO"}]);
    let family_filter = json!([{"names": ["socket"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": libc::AF_PACKET, "op": "SCMP_CMP_EQ"}]}]);
    let with = |label: &'static str, arches: serde_json::Value, rules: &serde_json::Value| {
        run(PROBES).label(label).profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": arches,
            "syscalls": rules,
        }))
    };
    vec![
        run(PROBES)
            .code(1)
            .verdicts([("net.i386-socketcall", escaped().witnessed())]),
        with("x86_64-only", json!(["SCMP_ARCH_X86_64"]), &deny_both)
            .code(0)
            .containers(2)
            .verdicts([
                ("net.i386-socketcall", blocked("SIGSYS")),
                ("net.tcp-connect", blocked_any()),
            ]),
        with(
            "with-x86",
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
            &deny_both,
        )
        .code(0)
        .containers(1)
        .verdicts([
            ("net.i386-socketcall", EPERM),
            ("net.tcp-connect", blocked_any()),
        ]),
        with(
            "family-filter",
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
            &family_filter,
        )
        .code(1)
        .containers(1)
        .verdicts([
            ("net.i386-socketcall", EPERM),
            ("net.tcp-connect", escaped()),
        ]),
    ]
}
