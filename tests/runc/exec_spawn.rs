//! Container cases for `exec.*` and `spawn.*` under runc: the routes around `noexec`
//! and a read-only rootfs, the seed's deny list route by route, argument filters on
//! clone, and what runc (libseccomp) does to the 32-bit and x32 entries depending on
//! the profile's `architectures`.

use serde_json::{json, Value};

use crate::common::needs::{Need, RUNC};
use crate::harness::*;

/// Every `exec.*` and `spawn.*` verdict must have a row in the cases that say so.
const EXEC_AND_SPAWN: Check = Check::RowsCover(&["exec.", "spawn."]);

const EPERM: Want = blocked("EPERM");
const SIGSYS: Want = blocked("SIGSYS").witnessed();

pub fn cases() -> Vec<Case> {
    vec![
        // The point of `exec.interpreter`: on a noexec mount the payload copy cannot be
        // executed (EACCES) and an executable mapping is refused (EPERM), yet a shell
        // reads a script from there and execs the payload. On a bind-mounted volume the
        // host sees that the payload removed the script.
        case(
            "exec_interpreter_and_mmap_exec_on_noexec_mounts",
            RUNC,
            [run(
                "--tmpfs /scratch:noexec --probe exec.interpreter --probe exec.mmap-exec \
                 --probe fs.exec-mount",
            )
            .volume("data", "/data:noexec")
            .code(1)
            .verdicts([
                ("fs.exec-mount@/scratch", blocked("EACCES")),
                ("exec.interpreter@/scratch", escaped().witnessed()),
                ("exec.mmap-exec@/scratch", EPERM),
                ("fs.exec-mount@/data", blocked("EACCES")),
                ("exec.interpreter@/data", escaped().witnessed()),
                ("exec.mmap-exec@/data", EPERM),
            ])
            .check(Check::Empty("data"))],
        ),
        // On an exec tmpfs the mapping is allowed (the probe's own word: nothing ran);
        // on a read-only volume neither per-mount exec probe has a file to work with.
        case(
            "exec_mmap_exec_on_exec_and_read_only_mounts",
            RUNC,
            [
                run("--tmpfs /scratch:exec --probe exec.mmap-exec --probe exec.interpreter")
                    .volume("data", "/data:ro")
                    .code(1)
                    .verdicts([
                        ("exec.mmap-exec@/scratch", escaped().witnessed()),
                        ("exec.interpreter@/scratch", escaped().witnessed()),
                        ("exec.mmap-exec@/data", not_applicable("EROFS")),
                        ("exec.interpreter@/data", not_applicable("EROFS")),
                    ]),
            ],
        ),
        // Nowhere to write an executable file (read-only rootfs, noexec tmpfs), and
        // still the payload runs from a memfd.
        case(
            "exec_memfd_under_read_only_rootfs_and_noexec_tmpfs",
            RUNC,
            [
                run("--read-only --tmpfs /scratch:noexec --probe exec.memfd \
                 --probe fs.write-rootfs --probe fs.exec-mount")
                .code(1)
                .verdicts([
                    ("fs.write-rootfs", blocked("EROFS")),
                    ("fs.exec-mount@/scratch", blocked("EACCES")),
                    ("exec.memfd", escaped().witnessed()),
                ]),
            ],
        ),
        // The seed's deny list without execve (`execveat`, `fork`, `clone`, `clone3`),
        // route by route: every route through a listed syscall is blocked, every other
        // one escapes, and the 32-bit and x32 entries kill the container because the
        // profile names no architecture (libseccomp's filter then kills any other one).
        // One container, plus one per SIGSYS kill (i386 fork, x32, i386 exec) and one
        // after each handoff to the image's shell that got through (exec.shell,
        // exec.interpreter).
        case(
            "seed_minus_execve_every_exec_and_spawn_route",
            RUNC,
            [run("--tmpfs /scratch:exec --probe exec.* --probe spawn.*")
                .shipped_profile("seed-minus-execve.json")
                .code(1)
                .verdicts([
                    ("spawn.fork", EPERM.reported()),
                    ("spawn.vfork", escaped().witnessed()),
                    ("spawn.clone", EPERM.reported()),
                    ("spawn.clone3", EPERM.reported()),
                    // pthread_create's clone is still clone.
                    ("spawn.thread", EPERM.reported()),
                    ("spawn.i386-fork", SIGSYS),
                    ("spawn.x32", SIGSYS),
                    ("exec.execve", escaped().witnessed()),
                    ("exec.execveat", EPERM.reported()),
                    ("exec.shell", escaped().witnessed()),
                    // memfd_create passes and its execveat does not, but execve of
                    // /proc/self/fd/N, which the list misses, runs the memfd.
                    (
                        "exec.memfd",
                        escaped().witnessed().via("execve(/proc/self/fd/N)"),
                    ),
                    ("exec.i386", SIGSYS),
                    // posix_spawn's clone(CLONE_VM|CLONE_VFORK) is clone.
                    ("exec.posix-spawn", EPERM.reported()),
                    ("exec.interpreter@/scratch", escaped().witnessed()),
                    ("exec.mmap-exec@/scratch", escaped().witnessed()),
                ])
                .check(EXEC_AND_SPAWN)
                .containers(6)],
        )
        .and(Need::I386),
        case(
            "i386_and_x32_entries_by_profile_architectures",
            RUNC,
            arch_runs(),
        )
        .and(Need::I386),
        // An argument filter on clone's flags: denying CLONE_THREAD stops threads and
        // nothing else (posix_spawn's CLONE_VM|CLONE_VFORK child still runs); denying
        // CLONE_VM stops threads and posix_spawn and leaves plain clone.
        case(
            "clone_argument_filters_tell_threads_from_processes",
            RUNC,
            [
                clone_flag_run("deny-clone-thread", libc::CLONE_THREAD).verdicts([
                    ("spawn.thread", EPERM),
                    ("spawn.clone", escaped()),
                    ("exec.posix-spawn", escaped().witnessed()),
                ]),
                clone_flag_run("deny-clone-vm", libc::CLONE_VM).verdicts([
                    ("spawn.thread", EPERM),
                    ("spawn.clone", escaped()),
                    ("exec.posix-spawn", EPERM),
                ]),
            ],
        ),
    ]
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
/// states: the entry is either killed outright or covered by the same rule. Each run
/// uses one container plus one per kill.
fn arch_runs() -> Vec<Run> {
    let rules = json!([
        {"names": ["fork"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["execve"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}],
         "comment": "the probes exec with a NULL envp, runc never does"}
    ]);
    let unrelated = json!([{"names": ["uselib"], "action": "SCMP_ACT_ERRNO"}]);
    let x86_64 = Some(json!(["SCMP_ARCH_X86_64"]));
    vec![
        arch_run("x86_64-only-deny", x86_64.clone(), &rules)
            .code(0)
            .containers(4)
            .verdicts([
                ("exec.execve", EPERM),
                ("exec.i386", SIGSYS),
                ("spawn.fork", EPERM),
                ("spawn.i386-fork", SIGSYS),
                ("spawn.x32", SIGSYS),
            ]),
        // No `architectures` at all is the same: libseccomp's native one only.
        arch_run("no-architectures-deny", None, &rules)
            .code(0)
            .containers(4)
            .verdicts([
                ("exec.execve", EPERM),
                ("exec.i386", SIGSYS),
                ("spawn.fork", EPERM),
                ("spawn.i386-fork", SIGSYS),
                ("spawn.x32", SIGSYS),
            ]),
        // The kill does not depend on the rules: it is the architecture check.
        arch_run("x86_64-only-unrelated", x86_64, &unrelated)
            .code(1)
            .containers(4)
            .verdicts([
                ("exec.execve", escaped().witnessed()),
                ("exec.i386", SIGSYS),
                ("spawn.fork", escaped()),
                ("spawn.i386-fork", SIGSYS),
                ("spawn.x32", SIGSYS),
            ]),
        arch_run(
            "with-x86-deny",
            Some(json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])),
            &rules,
        )
        .code(0)
        .containers(2)
        .verdicts([
            ("exec.execve", EPERM),
            ("exec.i386", EPERM),
            ("spawn.fork", EPERM),
            ("spawn.i386-fork", EPERM),
            ("spawn.x32", SIGSYS),
        ]),
        // The control for the one above: the EPERMs there came from the rules.
        arch_run(
            "with-x86-and-x32-unrelated",
            Some(json!([
                "SCMP_ARCH_X86_64",
                "SCMP_ARCH_X86",
                "SCMP_ARCH_X32"
            ])),
            &unrelated,
        )
        .code(1)
        .containers(1)
        .verdicts([
            ("exec.execve", escaped().witnessed()),
            ("exec.i386", escaped().witnessed()),
            ("spawn.fork", escaped()),
            ("spawn.i386-fork", escaped()),
            // The filter lets the x32 numbers through; this kernel has no x32.
            ("spawn.x32", not_applicable("ENOSYS")),
        ]),
    ]
}

/// One profile of [`arch_runs`]: `architectures` (`None`: no such key) and rules.
fn arch_run(label: &'static str, architectures: Option<Value>, syscalls: &Value) -> Run {
    let mut profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": syscalls});
    if let Some(architectures) = architectures {
        profile["architectures"] = architectures;
    }
    run(
        "--probe exec.execve --probe exec.i386 --probe spawn.fork --probe spawn.i386-fork \
         --probe spawn.x32",
    )
    .label(label)
    .profile(profile)
    .check(EXEC_AND_SPAWN)
}

/// A profile denying clone when `flag` is set in its flags.
fn clone_flag_run(label: &'static str, flag: i32) -> Run {
    run("--probe spawn.thread --probe spawn.clone --probe exec.posix-spawn")
        .label(label)
        .profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": flag, "valueTwo": flag,
                          "op": "SCMP_CMP_MASKED_EQ"}]}]
        }))
        .code(1)
        .check(EXEC_AND_SPAWN)
}
