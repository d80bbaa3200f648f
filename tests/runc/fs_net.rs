//! Container cases for the probes of this group whose verdict depends on container
//! settings (mounts, capabilities, user, network), with both controls.
//!
//! The measured verdicts under runc 1.1 (libseccomp 2.5) on this project's machines are
//! written down as the expectations; where a flag turned out not to matter, the trial
//! says so and the host tests (`tests/host/fs_net.rs`) carry the positive control.

use serde_json::{json, Value};

use crate::common::*;

pub fn trials() -> Trials {
    vec![
        (
            "fs_remount_rw_needs_sys_admin",
            fs_remount_rw_needs_sys_admin,
        ),
        ("fs_mount_new_needs_sys_admin", fs_mount_new_needs_sys_admin),
        ("fs_mknod_nodev_and_cap_mknod", fs_mknod_nodev_and_cap_mknod),
        (
            "fs_setuid_nosuid_and_no_new_privileges",
            fs_setuid_nosuid_and_no_new_privileges,
        ),
        ("fs_proc_sys_systempaths", fs_proc_sys_systempaths),
        (
            "fs_sysfs_read_only_either_way",
            fs_sysfs_read_only_either_way,
        ),
        (
            "fs_open_by_handle_needs_dac_read_search",
            fs_open_by_handle_needs_dac_read_search,
        ),
        (
            "net_udp_send_needs_the_canary",
            net_udp_send_needs_the_canary,
        ),
        (
            "net_raw_and_packet_sockets_need_net_raw",
            net_raw_and_packet_sockets_need_net_raw,
        ),
        (
            "net_vsock_socket_family_filter",
            net_vsock_socket_family_filter,
        ),
        (
            "net_io_uring_connect_passes_a_connect_filter",
            net_io_uring_connect_passes_a_connect_filter,
        ),
        (
            "net_i386_socketcall_and_profile_architectures",
            net_i386_socketcall_and_profile_architectures,
        ),
    ]
}

/// The probe's detail text for a step.
fn detail(report: &Value, step: &str) -> Result<String, libtest_mimic::Failed> {
    Ok(verdict(report, step)?["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

fn expect_detail(report: &Value, step: &str, needle: &str) -> TestResult {
    let text = detail(report, step)?;
    if !text.contains(needle) {
        return Err(format!("{step}: detail {text:?} does not say {needle:?}").into());
    }
    Ok(())
}

/// Files a probe left in a volume's host directory.
fn expect_empty(dir: &std::path::Path) -> TestResult {
    let left: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    if !left.is_empty() {
        return Err(format!("left behind in {}: {left:?}", dir.display()).into());
    }
    Ok(())
}

/// A read-only rootfs and a read-only volume: a bind remount needs CAP_SYS_ADMIN. With
/// it both are remounted read-write and back. The probe re-reads mountinfo after putting
/// each back (its detail says "then read-only again" only then), and `fs.exec-mount`,
/// which runs after it, still cannot write to the volume. (`fs.write-rootfs` runs
/// before `fs.remount-rw` in catalog order, so it cannot witness the rootfs afterwards.)
fn fs_remount_rw_needs_sys_admin() -> TestResult {
    let scratch = Scratch::new("remount");
    let vol = scratch.sub("data");
    let volume = format!("{}:/data:ro", vol.display());
    let probes = [
        "--probe",
        "fs.write-rootfs",
        "--probe",
        "fs.remount-rw",
        "--probe",
        "fs.exec-mount",
    ];
    let mut args = vec!["--read-only", "-v", &volume];
    args.extend(probes);
    let (out, report) = run_json(&args)?;
    out.expect_code(0)?;
    expect(&report, "fs.remount-rw", "blocked", Some("EPERM"), None)?;
    expect_detail(&report, "fs.remount-rw", "remounting /data: EPERM")?;

    args.extend(["--cap-add", "SYS_ADMIN"]);
    let (out, report) = run_json(&args)?;
    out.expect_code(1)?;
    expect(&report, "fs.remount-rw", "escaped", None, Some("reported"))?;
    expect_detail(
        &report,
        "fs.remount-rw",
        "remounted / read-write, then read-only again",
    )?;
    expect_detail(
        &report,
        "fs.remount-rw",
        "remounted /data read-write, then read-only again",
    )?;
    expect(&report, "fs.write-rootfs", "blocked", Some("EROFS"), None)?;
    expect(
        &report,
        "fs.exec-mount@/data",
        "not-applicable",
        Some("EROFS"),
        None,
    )?;
    expect_empty(&vol)?;

    // Nothing read-only, nothing to try.
    let (out, report) = run_json(&["--cap-add", "SYS_ADMIN", "--probe", "fs.remount-rw"])?;
    out.expect_code(0)?;
    expect(&report, "fs.remount-rw", "not-applicable", None, None)?;
    Ok(())
}

fn fs_mount_new_needs_sys_admin() -> TestResult {
    let (out, report) = run_json(&["--probe", "fs.mount-new"])?;
    out.expect_code(0)?;
    expect(&report, "fs.mount-new", "blocked", Some("EPERM"), None)?;
    let (out, report) = run_json(&["--cap-add", "SYS_ADMIN", "--probe", "fs.mount-new"])?;
    out.expect_code(1)?;
    expect(&report, "fs.mount-new", "escaped", None, None)?;
    expect_detail(&report, "fs.mount-new", "and unmounted it")?;
    Ok(())
}

/// Docker's defaults keep CAP_MKNOD, so the node is made; a nodev tmpfs refuses to open
/// it (EACCES). Where devices are allowed (`dev`, a volume) the open works: runc's device
/// cgroup allows 1:3. Without CAP_MKNOD the node is never made.
fn fs_mknod_nodev_and_cap_mknod() -> TestResult {
    let scratch = Scratch::new("mknod");
    let vol = scratch.sub("data");
    let ro = scratch.sub("ro");
    let volume = format!("{}:/data", vol.display());
    let ro_volume = format!("{}:/ro:ro", ro.display());
    let (out, report) = run_json(&[
        "--tmpfs",
        "/scratch:exec",
        "-v",
        &volume,
        "-v",
        &ro_volume,
        "--probe",
        "fs.mknod",
    ])?;
    out.expect_code(1)?;
    expect(
        &report,
        "fs.mknod@/scratch",
        "blocked",
        Some("EACCES"),
        None,
    )?;
    expect_detail(&report, "fs.mknod@/scratch", "(nodev)")?;
    expect(&report, "fs.mknod@/data", "escaped", None, None)?;
    expect(
        &report,
        "fs.mknod@/ro",
        "not-applicable",
        Some("EROFS"),
        None,
    )?;
    expect_empty(&vol)?;

    let (out, report) = run_json(&["--tmpfs", "/scratch:dev", "--probe", "fs.mknod"])?;
    out.expect_code(1)?;
    expect(&report, "fs.mknod@/scratch", "escaped", None, None)?;

    let (out, report) = run_json(&[
        "--tmpfs",
        "/scratch:dev",
        "--cap-drop",
        "MKNOD",
        "--probe",
        "fs.mknod",
    ])?;
    out.expect_code(0)?;
    expect(&report, "fs.mknod@/scratch", "blocked", Some("EPERM"), None)?;
    Ok(())
}

/// The set-uid copy runs in a child at uid 65534. Docker's tmpfs default is nosuid, so
/// the payload runs without euid 0; `suid` (or a volume without nosuid) lets it become
/// root, witnessed by the payload's nonce; no-new-privileges stops it even there. On a
/// noexec tmpfs the exec itself fails, which is noexec's block, not nosuid's.
fn fs_setuid_nosuid_and_no_new_privileges() -> TestResult {
    let (out, report) = run_json(&["--tmpfs", "/scratch:exec", "--probe", "fs.setuid"])?;
    out.expect_code(0)?;
    expect(
        &report,
        "fs.setuid@/scratch",
        "blocked",
        Some("nosuid"),
        None,
    )?;

    let scratch = Scratch::new("setuid");
    let vol = scratch.sub("data");
    let volume = format!("{}:/data", vol.display());
    let (out, report) = run_json(&[
        "--tmpfs",
        "/scratch:exec,suid",
        "-v",
        &volume,
        "--probe",
        "fs.setuid",
    ])?;
    out.expect_code(1)?;
    for step in ["fs.setuid@/scratch", "fs.setuid@/data"] {
        expect(&report, step, "escaped", None, Some("witnessed"))?;
        expect_detail(&report, step, "euid 0 (uid 65534)")?;
    }
    expect_empty(&vol)?;

    let (out, report) = run_json(&[
        "--tmpfs",
        "/scratch:exec,suid",
        "--security-opt",
        "no-new-privileges",
        "--probe",
        "fs.setuid",
    ])?;
    out.expect_code(0)?;
    expect(
        &report,
        "fs.setuid@/scratch",
        "blocked",
        Some("no-new-privileges"),
        None,
    )?;

    let (out, report) = run_json(&["--tmpfs", "/scratch:suid", "--probe", "fs.setuid"])?;
    out.expect_code(0)?;
    expect(
        &report,
        "fs.setuid@/scratch",
        "blocked",
        Some("EACCES"),
        None,
    )?;
    expect_detail(&report, "fs.setuid@/scratch", "block by noexec")?;

    let (out, report) = run_json(&[
        "--user",
        "1000:1000",
        "--tmpfs",
        "/scratch:exec,suid",
        "--probe",
        "fs.setuid",
    ])?;
    out.expect_code(0)?;
    expect(&report, "fs.setuid@/scratch", "not-applicable", None, None)?;
    Ok(())
}

/// runc mounts /proc/sys read-only unless the masked and read-only paths are dropped;
/// then root in the container opens the host's core_pattern for writing.
fn fs_proc_sys_systempaths() -> TestResult {
    let (out, report) = run_json(&["--probe", "fs.proc-sys"])?;
    out.expect_code(0)?;
    expect(&report, "fs.proc-sys", "blocked", Some("EROFS"), None)?;
    let (out, report) = run_json(&[
        "--security-opt",
        "systempaths=unconfined",
        "--probe",
        "fs.proc-sys",
    ])?;
    out.expect_code(1)?;
    expect(&report, "fs.proc-sys", "escaped", None, None)?;
    expect_detail(&report, "fs.proc-sys", "core_pattern")?;
    Ok(())
}

/// /sys is a read-only sysfs mount in the runtime's spec itself, not one of the
/// read-only paths, so neither systempaths=unconfined nor CAP_SYS_ADMIN makes it
/// writable (only a privileged container would). The escaped control is the host case.
fn fs_sysfs_read_only_either_way() -> TestResult {
    for extra in [
        &[][..],
        &["--security-opt", "systempaths=unconfined"][..],
        &["--cap-add", "SYS_ADMIN"][..],
    ] {
        let mut args = vec!["--probe", "fs.sysfs"];
        args.extend_from_slice(extra);
        let (out, report) = run_json(&args)?;
        out.expect_code(0)?;
        expect(&report, "fs.sysfs", "blocked", Some("EROFS"), None)
            .map_err(|e| format!("with {extra:?}: {}", e.message().unwrap_or_default()))?;
    }
    Ok(())
}

fn fs_open_by_handle_needs_dac_read_search() -> TestResult {
    let (out, report) = run_json(&["--probe", "fs.open-by-handle"])?;
    out.expect_code(0)?;
    expect(&report, "fs.open-by-handle", "blocked", Some("EPERM"), None)?;
    let (out, report) = run_json(&[
        "--cap-add",
        "DAC_READ_SEARCH",
        "--probe",
        "fs.open-by-handle",
    ])?;
    out.expect_code(1)?;
    expect(&report, "fs.open-by-handle", "escaped", None, None)?;
    Ok(())
}

/// The send succeeds either way; only the canary's receipt makes it an escape. With
/// the host's network the canary answers; in the container's own namespace (no route
/// to the canary) the datagram meets a closed port and comes back as ICMP; a profile
/// that fakes sendto's success (errnoRet 0: nothing is sent, the call returns 0) gets
/// neither, and only the canary's silence shows that nothing left.
fn net_udp_send_needs_the_canary() -> TestResult {
    let (out, report) = run_json(&["--network", "host", "--probe", "net.udp-send"])?;
    out.expect_code(1)?;
    expect(&report, "net.udp-send", "escaped", None, Some("witnessed"))?;
    let (out, report) = run_json(&["--probe", "net.udp-send"])?;
    out.expect_code(0)?;
    expect(
        &report,
        "net.udp-send",
        "blocked",
        Some("ECONNREFUSED"),
        Some("reported"),
    )?;
    let scratch = Scratch::new("udp-fake");
    let path = write_profile(
        scratch.path(),
        "fake-sendto.json",
        &json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["sendto"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}]
        }),
    );
    let args = [
        "--network",
        "host",
        "--profile",
        &path,
        "--probe",
        "net.udp-send",
    ];
    let (out, report) = run_json(&args)?;
    out.expect_code(0)?;
    expect(
        &report,
        "net.udp-send",
        "blocked",
        Some("not-received"),
        Some("witnessed"),
    )?;
    Ok(())
}

/// Docker's default capability set includes NET_RAW: raw and packet sockets are open
/// by default, in the container's own network namespace too.
fn net_raw_and_packet_sockets_need_net_raw() -> TestResult {
    let probes = ["--probe", "net.raw-socket", "--probe", "net.packet-socket"];
    let (out, report) = run_json(&probes)?;
    out.expect_code(1)?;
    expect(&report, "net.raw-socket", "escaped", None, None)?;
    expect(&report, "net.packet-socket", "escaped", None, None)?;
    let mut args = vec!["--cap-drop", "NET_RAW"];
    args.extend(probes);
    let (out, report) = run_json(&args)?;
    out.expect_code(0)?;
    expect(&report, "net.raw-socket", "blocked", Some("EPERM"), None)?;
    expect(&report, "net.packet-socket", "blocked", Some("EPERM"), None)?;
    // Every capability dropped: the container still starts (runc refuses ambient or
    // inheritable capabilities outside the permitted set, so the spec has none).
    let mut args = vec!["--cap-drop", "ALL"];
    args.extend(probes);
    let (out, report) = run_json(&args)?;
    out.expect_code(0)?;
    expect(&report, "net.raw-socket", "blocked", Some("EPERM"), None)?;
    expect(&report, "net.packet-socket", "blocked", Some("EPERM"), None)?;
    Ok(())
}

/// An AF_VSOCK socket needs no capability and no route: only a filter on socket's
/// family stops it, and that filter leaves the other families alone.
fn net_vsock_socket_family_filter() -> TestResult {
    let probes = ["--probe", "net.vsock", "--probe", "net.raw-socket"];
    let (out, report) = run_json(&probes)?;
    out.expect_code(1)?;
    expect(&report, "net.vsock", "escaped", None, None)?;
    let scratch = Scratch::new("vsock");
    let path = write_profile(
        scratch.path(),
        "no-vsock.json",
        &json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": libc::AF_VSOCK, "op": "SCMP_CMP_EQ"}]}]
        }),
    );
    let mut args = vec!["--profile", &path];
    args.extend(probes);
    let (out, report) = run_json(&args)?;
    out.expect_code(1)?;
    expect(&report, "net.vsock", "blocked", Some("EPERM"), None)?;
    expect(&report, "net.raw-socket", "escaped", None, None)?;
    Ok(())
}

/// The ring's connect reaches the canary; denying io_uring_setup blocks it, denying
/// connect(2) does not (the kernel connects inside io_uring), while the plain TCP probe
/// is blocked by that same profile.
fn net_io_uring_connect_passes_a_connect_filter() -> TestResult {
    let probes = [
        "--network",
        "host",
        "--probe",
        "net.io-uring-connect",
        "--probe",
        "net.tcp-connect",
    ];
    let (out, report) = run_json(&probes)?;
    out.expect_code(1)?;
    expect(
        &report,
        "net.io-uring-connect",
        "escaped",
        None,
        Some("witnessed"),
    )?;

    let scratch = Scratch::new("uring");
    for (name, denied, uring, tcp) in [
        (
            "no-io-uring.json",
            "io_uring_setup",
            ("blocked", Some("EPERM")),
            "escaped",
        ),
        ("no-connect.json", "connect", ("escaped", None), "blocked"),
    ] {
        let path = write_profile(
            scratch.path(),
            name,
            &json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": [denied], "action": "SCMP_ACT_ERRNO"}]
            }),
        );
        let mut args = vec!["--profile", &path];
        args.extend(probes);
        let (out, report) = run_json(&args)?;
        out.expect_code(1)?;
        expect(&report, "net.io-uring-connect", uring.0, uring.1, None)?;
        expect(&report, "net.tcp-connect", tcp, None, None)?;
        if uring.0 == "escaped" {
            expect(
                &report,
                "net.io-uring-connect",
                "escaped",
                None,
                Some("witnessed"),
            )?;
        }
    }
    Ok(())
}

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
fn net_i386_socketcall_and_profile_architectures() -> TestResult {
    let probes = [
        "--network",
        "host",
        "--probe",
        "net.i386-socketcall",
        "--probe",
        "net.tcp-connect",
    ];
    let (out, report) = run_json(&probes)?;
    out.expect_code(1)?;
    expect(
        &report,
        "net.i386-socketcall",
        "escaped",
        None,
        Some("witnessed"),
    )?;

    let scratch = Scratch::new("socketcall");
    let deny_both = json!([{"names": ["socket", "connect"], "action": "SCMP_ACT_ERRNO"}]);
    let family_filter = json!([{"names": ["socket"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": libc::AF_PACKET, "op": "SCMP_CMP_EQ"}]}]);
    let cases = [
        (
            "x86_64-only.json",
            json!(["SCMP_ARCH_X86_64"]),
            &deny_both,
            ("blocked", "SIGSYS"),
            "blocked",
            2,
        ),
        (
            "with-x86.json",
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
            &deny_both,
            ("blocked", "EPERM"),
            "blocked",
            1,
        ),
        (
            "family-filter.json",
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
            &family_filter,
            ("blocked", "EPERM"),
            "escaped",
            1,
        ),
    ];
    for (name, arches, rules, i386, tcp, containers) in cases {
        let path = write_profile(
            scratch.path(),
            name,
            &json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": arches,
                "syscalls": rules,
            }),
        );
        let mut args = vec!["--profile", &path];
        args.extend(probes);
        let (_, report) = run_json(&args)?;
        let context =
            |e: libtest_mimic::Failed| format!("{name}: {}", e.message().unwrap_or_default());
        expect(&report, "net.i386-socketcall", i386.0, Some(i386.1), None).map_err(context)?;
        expect(&report, "net.tcp-connect", tcp, None, None).map_err(context)?;
        if report["runs"][0]["containers"] != containers {
            return Err(format!(
                "{name}: expected {containers} container(s), got {}",
                report["runs"][0]["containers"]
            )
            .into());
        }
    }
    Ok(())
}
