//! Container cases for the settings every run has (rootfs, mounts, network, user), the
//! seed's profiles, and every verdict the harness prints produced for real: a start
//! failure, a SIGSYS kill and the resume after it, a timeout, a runner that dies,
//! untrusted lines, Ctrl-C, the table and the report file.

use serde_json::{json, Value};

use crate::common::needs::{Need, RUNC};
use crate::harness::*;
use crate::procedures;

pub fn cases() -> Vec<Case> {
    vec![
        // No profile, host network, a writable volume and an exec tmpfs: every probe
        // escapes, witnessed from outside wherever the harness can see the effect.
        case(
            "no_profile_everything_escapes",
            RUNC,
            [run("--network host --tmpfs /scratch:exec")
                .volume("data", "/data")
                .code(1)
                .verdicts([
                    ("exec.execve", escaped().witnessed()),
                    ("exec.execveat", escaped().witnessed()),
                    ("exec.shell", escaped().witnessed()),
                    ("spawn.fork", escaped()),
                    ("spawn.vfork", escaped()),
                    ("spawn.clone", escaped()),
                    ("spawn.clone3", escaped()),
                    ("fs.write-rootfs", escaped().witnessed()),
                    ("fs.write-mount@/data", escaped().witnessed()),
                    // A tmpfs exists only in the container: the harness takes the
                    // marker through the held runner's /proc/PID/root.
                    ("fs.write-mount@/scratch", escaped().witnessed()),
                    ("fs.exec-mount@/data", escaped().witnessed()),
                    ("fs.exec-mount@/scratch", escaped().witnessed()),
                    ("net.tcp-connect", escaped().witnessed()),
                ])
                // One container, plus one after each step that handed the process to
                // the image's shell (exec.shell, exec.interpreter on each mount): that
                // container is the image's from then on, and the suite resumes in a
                // new one.
                .check(Check::Named("three handoffs", three_handoffs))
                .containers(4)
                .check(Check::Field("/subject/settings/seccomp", Value::Null))
                .check(Check::FieldHas(
                    "/subject/seccomp",
                    "without a seccomp filter",
                ))
                // The harness removed the markers it witnessed on the bind mount.
                .check(Check::Empty("data"))],
        ),
        // --read-only --tmpfs /scratch:noexec, as the issue states it.
        case(
            "read_only_rootfs_and_noexec_tmpfs",
            RUNC,
            [
                run("--read-only --tmpfs /scratch:noexec --probe fs.* --probe net.*")
                    .code(1)
                    .verdicts([
                        ("fs.write-rootfs", blocked("EROFS")),
                        ("fs.write-mount@/scratch", escaped()),
                        ("fs.exec-mount@/scratch", blocked("EACCES")),
                        // The default network is a bridge, like docker run's: the
                        // canary is reached.
                        ("net.tcp-connect", escaped().witnessed()),
                    ]),
                run("--read-only --network none --probe net.tcp-connect")
                    .code(0)
                    .verdicts([("net.tcp-connect", blocked("ECONNREFUSED"))]),
            ],
        ),
        // A read-only volume blocks writes; exec there has nothing to try; no mounts at
        // all makes the per-mount probes not applicable.
        case(
            "read_only_volume_and_no_mounts",
            RUNC,
            [
                run("--probe fs.*")
                    .volume("data", "/data:ro")
                    .code(1) // fs.write-rootfs escapes
                    .verdicts([
                        ("fs.write-mount@/data", blocked("EROFS")),
                        ("fs.exec-mount@/data", not_applicable("EROFS")),
                    ]),
                run("--probe fs.write-mount --probe fs.exec-mount")
                    .code(0)
                    .verdicts([
                        ("fs.write-mount", not_applicable_any()),
                        ("fs.exec-mount", not_applicable_any()),
                    ]),
            ],
        ),
        // The seed's profile denies execve, which runc's own start needs: a start
        // failure with runc's text and exit code 4, never a table of blocks, and the
        // table says so in words too.
        case(
            "seed_profile_cannot_start",
            RUNC,
            [
                run("")
                    .shipped_profile("seed.json")
                    .code(4)
                    .check(Check::Field(
                        "/runs/0/start/status",
                        "failed-to-start".into(),
                    ))
                    .check(Check::FieldHas(
                        "/runs/0/start/error",
                        "operation not permitted",
                    ))
                    .check(Check::EveryVerdict(not_run("start-failure")))
                    .check(Check::Field("/summary/blocked", 0.into())),
                table("")
                    .shipped_profile("seed.json")
                    .code(4)
                    .check(Check::Stdout("did not start"))
                    .check(Check::NotStdout("blocked (")),
            ],
        ),
        // The seed's list minus execve: the routes it lists are blocked, the ones it
        // misses (vfork, execve and the shell through execve) escape.
        case(
            "seed_minus_execve",
            RUNC,
            [run("")
                .shipped_profile("seed-minus-execve.json")
                .code(1)
                .verdicts([
                    ("spawn.fork", blocked("EPERM").reported()),
                    ("spawn.clone", blocked("EPERM").reported()),
                    ("spawn.clone3", blocked("EPERM").reported()),
                    ("exec.execveat", blocked("EPERM").reported()),
                    ("spawn.vfork", escaped()),
                    ("exec.execve", escaped().witnessed()),
                    ("exec.shell", escaped()),
                ])
                .check(Check::Named(
                    "spawn escapes via vfork alone",
                    spawn_via_vfork,
                ))],
        ),
        // Denying every process-creation syscall blocks every spawn route, vfork
        // included, and the container still starts (runc needs none of them after the
        // filter is in).
        case(
            "every_spawn_route_denied",
            RUNC,
            [run("--probe spawn.*")
                .profile(json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["fork", "vfork", "clone", "clone3"],
                                  "action": "SCMP_ACT_ERRNO"}]
                }))
                .code(0)
                .verdicts([
                    ("spawn.fork", blocked("EPERM")),
                    ("spawn.vfork", blocked("EPERM")),
                    ("spawn.clone", blocked("EPERM")),
                    ("spawn.clone3", blocked("EPERM")),
                ])],
        ),
        // A probe killed by seccomp (SIGSYS) is blocked, witnessed by the container's
        // death, and the suite resumes in a new container after it. A profile without
        // an architectures list covers x86_64 only: libseccomp kills every i386 call,
        // which costs one more container.
        case(
            "sigsys_kill_is_blocked_and_the_run_resumes",
            RUNC,
            ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL"].map(|action| {
                run("--probe spawn.*fork --probe spawn.clone*")
                    .label(action)
                    .profile(json!({
                        "defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["fork"], "action": action}]
                    }))
                    .code(1)
                    .verdicts([
                        ("spawn.fork", blocked("SIGSYS").witnessed()),
                        ("spawn.vfork", escaped()),
                        ("spawn.clone", escaped()),
                        ("spawn.clone3", escaped()),
                        ("spawn.i386-fork", blocked("SIGSYS").witnessed()),
                    ])
                    .containers(3)
            }),
        )
        .and(Need::I386),
        // Exec probes blocked in a container that still starts: the probes exec with a
        // NULL environment pointer, which runc never does, so an argument filter on it
        // denies the probes' execs and not runc's. errnoRet is honoured by runc.
        case(
            "exec_probes_blocked_by_argument_filter",
            RUNC,
            [run(
                "--tmpfs /scratch:exec --probe exec.execve* --probe exec.shell \
                 --probe fs.exec-mount",
            )
            .profile(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["execve"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}]},
                    {"names": ["execveat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
                ]
            }))
            .code(0)
            .verdicts([
                ("exec.execve", blocked("EPERM")),
                ("exec.shell", blocked("EPERM")),
                ("fs.exec-mount@/scratch", blocked("EPERM")),
                ("exec.execveat", blocked("EACCES")),
            ])],
        ),
        // Under a non-root user the rootfs (owned by root) is not writable.
        case(
            "non_root_user_cannot_write_rootfs",
            RUNC,
            [run("--user 1000:1000 --probe fs.write-rootfs")
                .code(0)
                .verdicts([("fs.write-rootfs", blocked("EACCES"))])],
        ),
        // A user's rootfs without a shell: the harness provides one, and the user's
        // directory is untouched afterwards (the run works on an overlay).
        case(
            "user_rootfs_gets_a_shell_and_stays_untouched",
            RUNC,
            [run("--probe exec.shell --probe fs.write-rootfs")
                .rootfs(&["proc", "sys", "dev", "tmp"])
                .code(1)
                .verdicts([
                    ("exec.shell", escaped().witnessed()),
                    ("fs.write-rootfs", escaped().witnessed()),
                ])
                .check(Check::Unchanged("rootfs"))],
        ),
        // A probe that hangs becomes `error (timeout)`; the rest of the suite still runs.
        case(
            "hung_probe_times_out_and_the_run_goes_on",
            RUNC,
            [
                run("--probe spawn.* --timeout 3 --inject-fault hang@spawn.vfork")
                    .code(1)
                    .verdicts([
                        ("spawn.fork", escaped()),
                        ("spawn.vfork", error("timeout")),
                        ("spawn.clone", escaped()),
                        ("spawn.clone3", escaped()),
                    ])
                    .containers(2),
            ],
        ),
        // A runner that dies without a verdict makes that step an error, not a block.
        case(
            "runner_death_is_an_error",
            RUNC,
            [run("--probe spawn.* --inject-fault exit@spawn.fork")
                .code(1)
                .verdicts([("spawn.fork", error_any()), ("spawn.vfork", escaped())])],
        ),
        // Malformed, overlong and unplanned lines from the container are reported and
        // ignored.
        case(
            "untrusted_lines_are_not_believed",
            RUNC,
            [run("--probe spawn.fork --inject-fault garbage")
                .code(1)
                .verdicts([("spawn.fork", escaped())])
                .check(Check::VerdictCount(1))
                .check(Check::Stderr("ignored a line"))
                .check(Check::Stderr("overlong"))
                .check(Check::Stderr("not in flight"))],
        ),
        procedure(
            "interrupt_cleans_up_and_reports",
            RUNC,
            procedures::interrupt_cleans_up_and_reports,
        ),
        // The human table: escapes stand out and a summary closes it; --output writes a
        // file, and stdout stays empty.
        case(
            "table_and_output_file",
            RUNC,
            [
                table("--probe spawn.fork --probe fs.write-mount")
                    .code(1)
                    .check(Check::Named("the escape stands out", escape_stands_out))
                    .check(Check::Stdout("summary: 1 escaped"))
                    .check(Check::Stdout("spawn: escaped via fork\n")),
                run("--probe spawn.fork")
                    .report_to_file()
                    .code(1)
                    .check(Check::Field("/schema", "breakout-report/1".into()))
                    .check(Check::IsString("/environment/kernel"))
                    .check(Check::IsString("/environment/arch"))
                    .check(Check::IsString("/environment/cgroup"))
                    .check(Check::Field("/runs/0/runtime/name", "runc".into()))
                    .check(Check::FieldHas("/runs/0/runtime/version", "runc"))
                    .check(Check::IsString("/runs/0/runtime/libseccomp")),
            ],
        ),
        // Docker's default profile starts under runc and leaves execve and fork open.
        case(
            "docker_default_profile_runs",
            RUNC,
            [run("").docker_default().code(1).verdicts([
                ("exec.execve", escaped().witnessed()),
                ("spawn.fork", escaped()),
            ])],
        )
        .and(Need::DockerDefaultProfile),
        procedure(
            "emitted_bundle_runs_by_hand",
            RUNC,
            procedures::emitted_bundle_runs_by_hand,
        ),
    ]
}

/// Three steps handed the container to the image's shell.
fn three_handoffs(seen: &Seen) -> Result<(), String> {
    let handoffs = seen
        .verdicts()?
        .iter()
        .filter(|v| v["image_code"] == true)
        .count();
    if handoffs != 3 {
        return Err(format!("{handoffs} handoffs"));
    }
    Ok(())
}

/// The goal line for spawn names vfork and nothing else.
fn spawn_via_vfork(seen: &Seen) -> Result<(), String> {
    let spawn = seen.report()?["runs"][0]["escapes_by_goal"]
        .as_array()
        .and_then(|goals| goals.iter().find(|g| g["goal"] == "spawn"))
        .ok_or("no spawn line in escapes_by_goal")?;
    if spawn["via"] != json!(["vfork"]) {
        return Err(format!("{spawn}"));
    }
    Ok(())
}

/// The escaped step's line is marked and says so in capitals.
fn escape_stands_out(seen: &Seen) -> Result<(), String> {
    let line = seen
        .out
        .stdout
        .lines()
        .find(|l| l.contains("spawn.fork"))
        .unwrap_or_default();
    if !line.starts_with("!!") || !line.contains("ESCAPED") {
        return Err(format!("{line:?} in:\n{}", seen.out.stdout));
    }
    Ok(())
}
