//! Container cases for the `docker run` flags beyond capabilities, mounts and the
//! profile, each beside its control: the same probe without the flag. The `host.*`
//! probes show what a host namespace, a device or the memory limit hands the
//! container; the spec breakout writes for the runtime (`--emit-bundle`) is checked
//! too, with a real start under it.

use serde_json::{json, Value};

use crate::common::needs::RUNC;
use crate::common::{breakout, Scratch, TestResult};
use crate::harness::*;

pub fn cases() -> Vec<Case> {
    vec![
        // The harness's own limit lets the probe fork; a limit of one task does not.
        case(
            "pids_limit_one_stops_fork",
            RUNC,
            [
                run("--probe spawn.fork")
                    .code(1)
                    .verdicts([("spawn.fork", escaped().witnessed())]),
                run("--pids-limit 1 --probe spawn.fork")
                    .code(0)
                    .verdicts([("spawn.fork", blocked("EAGAIN"))])
                    .check(Check::Field("/subject/settings/run/pids_limit", json!(1))),
            ],
        ),
        // A sysctl of the container's IPC namespace: no segment may be made.
        case(
            "namespaced_sysctl_reaches_the_container",
            RUNC,
            [
                run("--probe ipc.sysv-shm")
                    .code(1)
                    .verdicts([("ipc.sysv-shm", escaped())]),
                run("--sysctl kernel.shmmni=0 --probe ipc.sysv-shm")
                    .code(0)
                    .verdicts([("ipc.sysv-shm", blocked("ENOSPC"))]),
            ],
        ),
        // Docker's privileged container: /sys and /proc/sys writable, and no filter,
        // not even the profile given (a note says so).
        case(
            "privileged_opens_sys_and_drops_the_filter",
            RUNC,
            [
                run("--probe fs.sysfs --probe fs.proc-sys")
                    .code(0)
                    .verdicts([
                        ("fs.sysfs", blocked("EROFS")),
                        ("fs.proc-sys", blocked("EROFS")),
                    ]),
                run("--privileged --probe fs.sysfs --probe fs.proc-sys")
                    .code(1)
                    .verdicts([("fs.sysfs", escaped()), ("fs.proc-sys", escaped())]),
                run("--probe spawn.fork")
                    .profile(deny_fork())
                    .code(0)
                    .verdicts([("spawn.fork", blocked("EPERM"))]),
                run("--privileged --probe spawn.fork")
                    .profile(deny_fork())
                    .code(1)
                    .verdicts([("spawn.fork", escaped().witnessed())])
                    .check(Check::FieldHas("/subject/settings/notes/0", "not applied")),
            ],
        ),
        // A private user namespace: the container's root is no owner of the rootfs,
        // and the host's set-uid-root binary is no binary of its root either.
        case(
            "private_user_namespace",
            RUNC,
            [
                run("--probe fs.write-rootfs")
                    .code(1)
                    .verdicts([("fs.write-rootfs", escaped().witnessed())]),
                run("--userns private --probe fs.write-rootfs --probe spawn.fork")
                    .code(1)
                    .verdicts([
                        ("fs.write-rootfs", blocked("EACCES")),
                        ("spawn.fork", escaped().witnessed()),
                    ])
                    .check(Check::Field(
                        "/subject/settings/run/userns",
                        json!("private"),
                    ))
                    // The default bridge's namespace is the host user namespace's:
                    // the network falls back to none, and the subject says so.
                    .check(Check::Field("/subject/settings/network", json!("none"))),
                // Asked for anyway, runc cannot mount the container's sysfs there, and
                // the report says why rather than bisecting the (absent) profile.
                run("--userns private --network bridge --probe spawn.fork")
                    .code(4)
                    .check(Check::FieldHas(
                        "/runs/0/triage/conclusion",
                        "--userns private with --network bridge",
                    )),
                run("--userns private --user 1000 --probe fs.setuid-binary")
                    .code(0)
                    .verdicts([("fs.setuid-binary", not_applicable_any())]),
            ],
        ),
        // An LSM option is recorded; without that LSM the report says it did nothing.
        case(
            "apparmor_option_is_recorded",
            RUNC,
            [
                run("--security-opt apparmor=docker-default --probe spawn.fork")
                    .code(1)
                    .check(Check::Field(
                        "/subject/settings/lsm/0",
                        json!("apparmor=docker-default"),
                    ))
                    .check(Check::FieldHas("/subject/settings/notes/0", "not enforced")),
            ],
        ),
        // What the host shares with the container, probe by probe: its pid, IPC and
        // UTS namespaces (the harness confirms each link is its own), a device node
        // (/dev/fuse, 10:229, which no runtime gives by default), and its memory (the
        // harness reads the cgroup's limit on the host). Each beside its control, and
        // the shared pid namespace's route closed by the profile.
        case(
            "host_namespaces_devices_and_memory_reach_the_probes",
            RUNC,
            [
                run(HOST_PROBES).code(0).verdicts([
                    ("host.pid-namespace", blocked("private-namespace")),
                    ("host.ipc-namespace", blocked("private-namespace")),
                    ("host.uts-namespace", blocked("private-namespace")),
                    ("host.device", blocked("not-exposed")),
                    ("host.memory", blocked("memory-limit").witnessed()),
                ]),
                run(HOST_SHARED)
                    .code(1)
                    .verdicts([
                        ("host.pid-namespace", escaped().witnessed()),
                        ("host.ipc-namespace", escaped().witnessed()),
                        ("host.uts-namespace", escaped().witnessed()),
                        ("host.device", escaped().reported()),
                        ("host.memory", escaped().witnessed()),
                    ])
                    .detail("host.device", "/dev/fuse (c 10:229)"),
                run("--memory 64m --probe host.memory")
                    .code(0)
                    .verdicts([("host.memory", blocked("memory-limit").witnessed())])
                    .detail("host.memory", "limit of 64 MiB"),
                run("--pid host --probe host.pid-namespace")
                    .profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO"}]}))
                    .code(0)
                    .verdicts([("host.pid-namespace", blocked("EPERM"))]),
            ],
        ),
        procedure(
            "host_namespaces_limits_and_devices_reach_the_spec",
            RUNC,
            host_namespaces_limits_and_devices,
        ),
    ]
}

macro_rules! host_probes {
    () => {
        "--probe host.pid-namespace --probe host.ipc-namespace --probe host.uts-namespace --probe host.device --probe host.memory"
    };
}
const HOST_PROBES: &str = host_probes!();
const HOST_SHARED: &str = concat!(
    "--pid host --ipc host --uts host --device /dev/fuse --memory 0 ",
    host_probes!()
);

fn deny_fork() -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["fork"], "action": "SCMP_ACT_ERRNO"}]})
}

/// `--pid/--ipc/--uts host`, `--memory` and `--device` in the spec runc is given, and
/// their control: without the flags the namespaces are private, the limit the
/// harness's and no device added. Both start for real.
fn host_namespaces_limits_and_devices() -> TestResult {
    let flags =
        "--pid host --ipc host --uts host --memory 64m --device /dev/null:/dev/probe-null:r";
    let spec = |args: &str| -> Result<Value, String> {
        let scratch = Scratch::new("flags-bundle");
        let dir = scratch.path().join("bundle");
        let mut all: Vec<&str> = vec!["run", "--emit-bundle"];
        let dir_text = dir.display().to_string();
        all.push(&dir_text);
        all.extend(args.split_whitespace());
        let out = breakout(&all);
        if out.code != 0 {
            return Err(format!(
                "--emit-bundle {args}: exit {}: {}",
                out.code, out.stderr
            ));
        }
        let text = std::fs::read_to_string(dir.join("config.json")).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    };
    let kinds = |spec: &Value| -> Vec<String> {
        spec["linux"]["namespaces"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["type"].as_str().map(str::to_string))
            .collect()
    };
    let with = spec(flags)?;
    let without = spec("")?;
    for ns in ["pid", "ipc", "uts"] {
        if kinds(&with).contains(&ns.to_string()) || !kinds(&without).contains(&ns.to_string()) {
            return Err(format!(
                "{ns}: with {:?}, without {:?}",
                kinds(&with),
                kinds(&without)
            )
            .into());
        }
    }
    if with["linux"]["resources"]["memory"]["limit"] != json!(64 << 20)
        || without["linux"]["resources"]["memory"]["limit"] != json!(512 << 20)
    {
        return Err("the memory limit is not the one asked for".into());
    }
    if with["linux"]["devices"][0]["path"] != "/dev/probe-null"
        || !without["linux"]["devices"].is_null()
    {
        return Err(format!(
            "devices: {} / {}",
            with["linux"]["devices"], without["linux"]["devices"]
        )
        .into());
    }
    // A sysctl that would change the host, and a namespace of another container,
    // are refused before anything starts.
    for bad in [
        &["run", "--sysctl", "kernel.core_pattern=x"][..],
        &["run", "--pid", "container:x"][..],
        &["run", "--memory", "1m"][..],
    ] {
        let out = breakout(bad);
        if out.code != 2 || !out.stderr.contains(bad[1]) {
            return Err(format!("{bad:?}: exit {}: {}", out.code, out.stderr).into());
        }
    }
    // And runc starts the container under them.
    let mut args: Vec<&str> = vec!["run", "--format", "json", "--probe", "spawn.fork"];
    args.extend(flags.split_whitespace());
    let out = breakout(&args);
    let report = out.json()?;
    if report["runs"][0]["start"]["status"] != "started" {
        return Err(format!("no start under {flags}: {}", report["runs"][0]["start"]).into());
    }
    Ok(())
}
