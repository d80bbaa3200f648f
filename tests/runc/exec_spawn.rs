//! Container cases for `exec.*` and `spawn.*` under runc: the routes around `noexec`
//! and a read-only rootfs, the seed's deny list route by route, argument filters on
//! clone, and what runc (libseccomp) does to the 32-bit and x32 entries depending on
//! the profile's `architectures`.

use serde_json::{json, Value};

use crate::common::*;

pub fn trials() -> Trials {
    vec![
        (
            "exec_interpreter_and_mmap_exec_on_noexec_mounts",
            exec_interpreter_and_mmap_exec_on_noexec_mounts,
        ),
        (
            "exec_mmap_exec_on_exec_and_read_only_mounts",
            exec_mmap_exec_on_exec_and_read_only_mounts,
        ),
        (
            "exec_memfd_under_read_only_rootfs_and_noexec_tmpfs",
            exec_memfd_under_read_only_rootfs_and_noexec_tmpfs,
        ),
        (
            "seed_minus_execve_every_exec_and_spawn_route",
            seed_minus_execve_every_exec_and_spawn_route,
        ),
        (
            "i386_and_x32_entries_by_profile_architectures",
            i386_and_x32_entries_by_profile_architectures,
        ),
        (
            "clone_argument_filters_tell_threads_from_processes",
            clone_argument_filters_tell_threads_from_processes,
        ),
    ]
}

/// One expected verdict: step, outcome, mechanism, evidence.
type Row = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

/// Checks every row, and that every `exec.*`/`spawn.*` step of the report has a row,
/// so a probe added to the catalog cannot go unchecked here.
fn expect_exec_and_spawn(report: &Value, rows: &[Row]) -> TestResult {
    for (step, outcome, mechanism, evidence) in rows {
        expect(report, step, outcome, *mechanism, *evidence)?;
    }
    let verdicts = report["runs"][0]["verdicts"]
        .as_array()
        .ok_or("report has no verdicts")?;
    for v in verdicts {
        let probe = v["probe"].as_str().unwrap_or_default();
        if !(probe.starts_with("exec.") || probe.starts_with("spawn.")) {
            continue;
        }
        let step = match v["target"].as_str() {
            Some(target) => format!("{probe}@{target}"),
            None => probe.to_string(),
        };
        if !rows.iter().any(|row| row.0 == step) {
            return Err(format!("no expectation written for {step}: {v}").into());
        }
    }
    Ok(())
}

/// Names the case a failure happened in.
fn in_case(name: &str, failed: libtest_mimic::Failed) -> libtest_mimic::Failed {
    format!("{name}: {}", failed.message().unwrap_or("failed")).into()
}

/// The point of `exec.interpreter`: on a noexec mount the payload copy cannot be
/// executed (EACCES) and an executable mapping is refused (EPERM), yet a shell reads a
/// script from there and execs the payload. On a bind-mounted volume the host sees
/// that the payload removed the script.
fn exec_interpreter_and_mmap_exec_on_noexec_mounts() -> TestResult {
    let scratch = Scratch::new("noexec");
    let vol = scratch.sub("data");
    let volume = format!("{}:/data:noexec", vol.display());
    let (out, report) = run_json(&[
        "--tmpfs",
        "/scratch:noexec",
        "-v",
        &volume,
        "--probe",
        "exec.interpreter",
        "--probe",
        "exec.mmap-exec",
        "--probe",
        "fs.exec-mount",
    ])?;
    out.expect_code(1)?;
    for mount in ["/scratch", "/data"] {
        expect(
            &report,
            &format!("fs.exec-mount@{mount}"),
            "blocked",
            Some("EACCES"),
            None,
        )?;
        expect(
            &report,
            &format!("exec.interpreter@{mount}"),
            "escaped",
            None,
            Some("witnessed"),
        )?;
        expect(
            &report,
            &format!("exec.mmap-exec@{mount}"),
            "blocked",
            Some("EPERM"),
            None,
        )?;
    }
    let left: Vec<_> = std::fs::read_dir(&vol).unwrap().flatten().collect();
    assert!(left.is_empty(), "files left on the volume: {left:?}");
    Ok(())
}

/// On an exec tmpfs the mapping is allowed (the probe's own word: nothing ran); on a
/// read-only volume neither per-mount exec probe has a file to work with.
fn exec_mmap_exec_on_exec_and_read_only_mounts() -> TestResult {
    let scratch = Scratch::new("rovol");
    let vol = scratch.sub("data");
    let volume = format!("{}:/data:ro", vol.display());
    let (out, report) = run_json(&[
        "--tmpfs",
        "/scratch:exec",
        "-v",
        &volume,
        "--probe",
        "exec.mmap-exec",
        "--probe",
        "exec.interpreter",
    ])?;
    out.expect_code(1)?;
    expect(
        &report,
        "exec.mmap-exec@/scratch",
        "escaped",
        None,
        Some("reported"),
    )?;
    expect(
        &report,
        "exec.interpreter@/scratch",
        "escaped",
        None,
        Some("witnessed"),
    )?;
    for step in ["exec.mmap-exec@/data", "exec.interpreter@/data"] {
        expect(&report, step, "not-applicable", Some("EROFS"), None)?;
    }
    Ok(())
}

/// Nowhere to write an executable file (read-only rootfs, noexec tmpfs), and still the
/// payload runs from a memfd.
fn exec_memfd_under_read_only_rootfs_and_noexec_tmpfs() -> TestResult {
    let (out, report) = run_json(&[
        "--read-only",
        "--tmpfs",
        "/scratch:noexec",
        "--probe",
        "exec.memfd",
        "--probe",
        "fs.write-rootfs",
        "--probe",
        "fs.exec-mount",
    ])?;
    out.expect_code(1)?;
    expect(&report, "fs.write-rootfs", "blocked", Some("EROFS"), None)?;
    expect(
        &report,
        "fs.exec-mount@/scratch",
        "blocked",
        Some("EACCES"),
        None,
    )?;
    expect(&report, "exec.memfd", "escaped", None, Some("witnessed"))?;
    Ok(())
}

/// The seed's deny list without execve (`execveat`, `fork`, `clone`, `clone3`), route
/// by route: every route through a listed syscall is blocked, every other one escapes,
/// and the 32-bit and x32 entries kill the container because the profile names no
/// architecture (libseccomp's filter then kills any other one).
fn seed_minus_execve_every_exec_and_spawn_route() -> TestResult {
    let (out, report) = run_json(&[
        "--profile",
        &profile("seed-minus-execve.json"),
        "--tmpfs",
        "/scratch:exec",
        "--probe",
        "exec.*",
        "--probe",
        "spawn.*",
    ])?;
    out.expect_code(1)?;
    let eperm = Some("EPERM");
    let sigsys = Some("SIGSYS");
    let reported = Some("reported");
    let witnessed = Some("witnessed");
    expect_exec_and_spawn(
        &report,
        &[
            ("spawn.fork", "blocked", eperm, reported),
            ("spawn.vfork", "escaped", None, reported),
            ("spawn.clone", "blocked", eperm, reported),
            ("spawn.clone3", "blocked", eperm, reported),
            // pthread_create's clone is still clone.
            ("spawn.thread", "blocked", eperm, reported),
            ("spawn.i386-fork", "blocked", sigsys, witnessed),
            ("spawn.x32", "blocked", sigsys, witnessed),
            ("exec.execve", "escaped", None, witnessed),
            ("exec.execveat", "blocked", eperm, reported),
            ("exec.shell", "escaped", None, witnessed),
            // memfd_create passes; its execveat does not.
            ("exec.memfd", "blocked", eperm, reported),
            ("exec.i386", "blocked", sigsys, witnessed),
            // posix_spawn's clone(CLONE_VM|CLONE_VFORK) is clone.
            ("exec.posix-spawn", "blocked", eperm, reported),
            ("exec.interpreter@/scratch", "escaped", None, witnessed),
            ("exec.mmap-exec@/scratch", "escaped", None, reported),
        ],
    )?;
    // One container, plus one per SIGSYS kill (i386 fork, x32, i386 exec) and one
    // after each handoff to the image's shell that got through (exec.shell,
    // exec.interpreter).
    assert_eq!(report["runs"][0]["containers"], 6, "{report:#}");
    Ok(())
}

/// What runc (through libseccomp) does to `int 0x80` and x32 calls, measured on
/// runc 1.1.5 / libseccomp 2.5.4:
///
/// * Without `SCMP_ARCH_X86` in `architectures` (only x86_64, or none at all) every
///   i386 call is killed (SIGSYS), whatever the rules say: libseccomp's bad-arch action.
///   x32 numbers are killed the same way unless `SCMP_ARCH_X32` is listed.
/// * With `SCMP_ARCH_X86` listed, rules given by name are resolved for i386 too: the
///   `fork` rule denies i386 fork (nr 2) and the `execve` rule, argument condition
///   included, denies i386 execve (nr 11), exactly as on x86_64.
/// * With `SCMP_ARCH_X86` listed and no rule for them, the i386 calls go through.
///
/// So under runc a name-based profile never lets the 32-bit entry past a rule it
/// states: the entry is either killed outright or covered by the same rule.
fn i386_and_x32_entries_by_profile_architectures() -> TestResult {
    let scratch = Scratch::new("arch");
    let rules = json!([
        {"names": ["fork"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["execve"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}],
         "comment": "the probes exec with a NULL envp, runc never does"}
    ]);
    let unrelated = json!([{"names": ["uselib"], "action": "SCMP_ACT_ERRNO"}]);
    let probes = [
        "--probe",
        "exec.execve",
        "--probe",
        "exec.i386",
        "--probe",
        "spawn.fork",
        "--probe",
        "spawn.i386-fork",
        "--probe",
        "spawn.x32",
    ];
    let eperm = Some("EPERM");
    let sigsys = Some("SIGSYS");
    let witnessed = Some("witnessed");
    let cases = [
        ArchCase {
            name: "x86_64-only-deny",
            architectures: Some(json!(["SCMP_ARCH_X86_64"])),
            syscalls: &rules,
            code: 0,
            containers: 4,
            rows: &[
                ("exec.execve", "blocked", eperm, None),
                ("exec.i386", "blocked", sigsys, witnessed),
                ("spawn.fork", "blocked", eperm, None),
                ("spawn.i386-fork", "blocked", sigsys, witnessed),
                ("spawn.x32", "blocked", sigsys, witnessed),
            ],
        },
        // No `architectures` at all is the same: libseccomp's native one only.
        ArchCase {
            name: "no-architectures-deny",
            architectures: None,
            syscalls: &rules,
            code: 0,
            containers: 4,
            rows: &[
                ("exec.execve", "blocked", eperm, None),
                ("exec.i386", "blocked", sigsys, witnessed),
                ("spawn.fork", "blocked", eperm, None),
                ("spawn.i386-fork", "blocked", sigsys, witnessed),
                ("spawn.x32", "blocked", sigsys, witnessed),
            ],
        },
        // The kill does not depend on the rules: it is the architecture check.
        ArchCase {
            name: "x86_64-only-unrelated",
            architectures: Some(json!(["SCMP_ARCH_X86_64"])),
            syscalls: &unrelated,
            code: 1,
            containers: 4,
            rows: &[
                ("exec.execve", "escaped", None, witnessed),
                ("exec.i386", "blocked", sigsys, witnessed),
                ("spawn.fork", "escaped", None, None),
                ("spawn.i386-fork", "blocked", sigsys, witnessed),
                ("spawn.x32", "blocked", sigsys, witnessed),
            ],
        },
        ArchCase {
            name: "with-x86-deny",
            architectures: Some(json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])),
            syscalls: &rules,
            code: 0,
            containers: 2,
            rows: &[
                ("exec.execve", "blocked", eperm, None),
                ("exec.i386", "blocked", eperm, None),
                ("spawn.fork", "blocked", eperm, None),
                ("spawn.i386-fork", "blocked", eperm, None),
                ("spawn.x32", "blocked", sigsys, witnessed),
            ],
        },
        // The control for the one above: the EPERMs there came from the rules.
        ArchCase {
            name: "with-x86-and-x32-unrelated",
            architectures: Some(json!([
                "SCMP_ARCH_X86_64",
                "SCMP_ARCH_X86",
                "SCMP_ARCH_X32"
            ])),
            syscalls: &unrelated,
            code: 1,
            containers: 1,
            rows: &[
                ("exec.execve", "escaped", None, witnessed),
                ("exec.i386", "escaped", None, witnessed),
                ("spawn.fork", "escaped", None, None),
                ("spawn.i386-fork", "escaped", None, None),
                // The filter lets the x32 numbers through; this kernel has no x32.
                ("spawn.x32", "not-applicable", Some("ENOSYS"), None),
            ],
        },
    ];
    for case in cases {
        let name = case.name;
        let mut profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": case.syscalls});
        if let Some(architectures) = case.architectures {
            profile["architectures"] = architectures;
        }
        let path = write_profile(scratch.path(), &format!("{name}.json"), &profile);
        let mut args = vec!["--profile", path.as_str()];
        args.extend_from_slice(&probes);
        let (out, report) = run_json(&args)?;
        expect_exec_and_spawn(&report, case.rows).map_err(|e| in_case(name, e))?;
        out.expect_code(case.code).map_err(|e| in_case(name, e))?;
        assert_eq!(
            report["runs"][0]["containers"], case.containers,
            "{name}: one container plus one per kill"
        );
    }
    Ok(())
}

/// One profile of [`i386_and_x32_entries_by_profile_architectures`].
struct ArchCase<'a> {
    name: &'static str,
    /// `None`: the profile has no `architectures` key.
    architectures: Option<Value>,
    syscalls: &'a Value,
    code: i32,
    containers: u64,
    rows: &'a [Row],
}

/// An argument filter on clone's flags: denying CLONE_THREAD stops threads and nothing
/// else (posix_spawn's CLONE_VM|CLONE_VFORK child still runs); denying CLONE_VM stops
/// threads and posix_spawn and leaves plain clone.
fn clone_argument_filters_tell_threads_from_processes() -> TestResult {
    let scratch = Scratch::new("cloneflags");
    let witnessed = Some("witnessed");
    let cases: [(&str, i32, &[Row]); 2] = [
        (
            "deny-clone-thread",
            libc::CLONE_THREAD,
            &[
                ("spawn.thread", "blocked", Some("EPERM"), None),
                ("spawn.clone", "escaped", None, None),
                ("exec.posix-spawn", "escaped", None, witnessed),
            ],
        ),
        (
            "deny-clone-vm",
            libc::CLONE_VM,
            &[
                ("spawn.thread", "blocked", Some("EPERM"), None),
                ("spawn.clone", "escaped", None, None),
                ("exec.posix-spawn", "blocked", Some("EPERM"), None),
            ],
        ),
    ];
    for (name, flag, rows) in cases {
        let path = write_profile(
            scratch.path(),
            &format!("{name}.json"),
            &json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": flag, "valueTwo": flag,
                              "op": "SCMP_CMP_MASKED_EQ"}]}]
            }),
        );
        let (out, report) = run_json(&[
            "--profile",
            &path,
            "--probe",
            "spawn.thread",
            "--probe",
            "spawn.clone",
            "--probe",
            "exec.posix-spawn",
        ])?;
        out.expect_code(1)?;
        expect_exec_and_spawn(&report, rows).map_err(|e| in_case(name, e))?;
    }
    Ok(())
}
