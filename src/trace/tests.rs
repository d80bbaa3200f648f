//! The tracer on host commands (no runtime, no root: the filter is installed with
//! no_new_privs in the child before its exec), its struct layout and its names.

use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::time::{Duration, Instant};

use super::names::NEWER;
use super::tracer::SECCOMP_INFO_SIZE;
use super::*;
use crate::predict::compile::{syscall_number, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};

#[test]
fn syscall_info_layout_is_the_kernels() {
    use std::mem::{offset_of, size_of};
    type Info = libc::ptrace_syscall_info;
    type Seccomp = libc::__c_anonymous_ptrace_syscall_info_seccomp;
    // include/uapi/linux/ptrace.h: op (u8), pad, flags (u16), arch (u32), ip, sp, union.
    assert_eq!(offset_of!(Info, op), 0);
    assert_eq!(offset_of!(Info, arch), 4);
    assert_eq!(offset_of!(Info, instruction_pointer), 8);
    assert_eq!(offset_of!(Info, stack_pointer), 16);
    assert_eq!(offset_of!(Info, u), 24);
    assert_eq!(offset_of!(Seccomp, nr), 0);
    assert_eq!(offset_of!(Seccomp, args), 8);
    assert_eq!(offset_of!(Seccomp, ret_data), 56);
    // What the kernel reports filled for a seccomp stop: through ret_data.
    assert_eq!(
        offset_of!(Info, u) + offset_of!(Seccomp, ret_data) + 4,
        SECCOMP_INFO_SIZE
    );
    assert_eq!(size_of::<Info>(), 88);
}

#[test]
fn entries_by_audit_arch_and_x32_bit() {
    assert_eq!(entry_of(AUDIT_ARCH_X86_64, 63), Some(Entry::X86_64));
    assert_eq!(
        entry_of(AUDIT_ARCH_X86_64, 0x4000_0000 | 63),
        Some(Entry::X32)
    );
    assert_eq!(entry_of(AUDIT_ARCH_I386, 122), Some(Entry::I386));
    // AUDIT_ARCH_AARCH64
    assert_eq!(entry_of(0xc000_00b7, 160), None);
}

#[test]
fn names_on_each_entry() {
    let x32 = |nr: i64| (nr | 0x4000_0000) as i32;
    let cases: &[(Entry, i64, Option<&str>)] = &[
        (Entry::X86_64, libc::SYS_uname, Some("uname")),
        (Entry::X86_64, libc::SYS_execve, Some("execve")),
        (Entry::X86_64, libc::SYS_getppid, Some("getppid")),
        (Entry::X86_64, libc::SYS_clone3, Some("clone3")),
        (Entry::X86_64, libc::SYS_futex_waitv, Some("futex_waitv")),
        (Entry::I386, 122, Some("uname")),
        (Entry::I386, 102, Some("socketcall")),
        (Entry::I386, 11, Some("execve")),
        (Entry::X32, x32(libc::SYS_uname).into(), Some("uname")),
        // x32's own numbers for calls whose structures differ.
        (Entry::X32, x32(512).into(), Some("rt_sigaction")),
        (Entry::X32, x32(520).into(), Some("execve")),
        // Newer than libseccomp 2.5.4: this module's table, checked against libc's.
        (Entry::X86_64, libc::SYS_fchmodat2, Some("fchmodat2")),
        (Entry::X86_64, libc::SYS_mseal, Some("mseal")),
        (Entry::I386, libc::SYS_mseal, Some("mseal")),
        (Entry::X32, x32(libc::SYS_mseal).into(), Some("mseal")),
        (Entry::X86_64, 453, Some("map_shadow_stack")),
        (Entry::X32, x32(453).into(), None),
        (Entry::X86_64, 470, Some("listns")),
        (Entry::X86_64, 336, Some("uprobe")),
        (Entry::I386, 336, Some("perf_event_open")),
        (Entry::X86_64, 9999, None),
        (Entry::X86_64, -1, None),
    ];
    for (entry, nr, want) in cases {
        let nr = i32::try_from(*nr).unwrap();
        assert_eq!(syscall_name(*entry, nr), *want, "{entry:?} {nr:#x}");
    }
    for (_, name, _) in NEWER {
        assert!(crate::profile::SYSCALLS.contains(name), "{name}");
    }
}

/// Every number the predictor resolves a name to reads back as a name that resolves to
/// the same number: the tracer and the predictor number each entry alike (x32 with its
/// bit).
#[test]
fn names_agree_with_the_predictors_numbers() {
    let entries = [
        (Entry::X86_64, AUDIT_ARCH_X86_64, false),
        (Entry::I386, AUDIT_ARCH_I386, false),
        (Entry::X32, AUDIT_ARCH_X86_64, true),
    ];
    let mut checked = 0;
    for name in crate::profile::SYSCALLS {
        for (entry, arch, x32) in entries {
            let Some(nr) = syscall_number(name, arch, x32) else {
                continue;
            };
            assert_eq!(entry_of(arch, nr), Some(entry), "{name} {nr:#x}");
            let back = syscall_name(entry, nr)
                .unwrap_or_else(|| panic!("{name} ({nr:#x} on {entry:?}) has no name"));
            assert_eq!(
                syscall_number(back, arch, x32),
                Some(nr),
                "{name} -> {back}"
            );
            checked += 1;
        }
    }
    assert!(checked > 900, "{checked}");
}

#[test]
fn tails_keep_the_end() {
    let mut tail = Tail::default();
    for i in 0..5u8 {
        tail.push(&[i; TAIL_BYTES / 2]);
    }
    tail.trim();
    assert_eq!(tail.bytes.len(), TAIL_BYTES);
    assert_eq!(tail.dropped, 3 * (TAIL_BYTES as u64) / 2);
    assert!(tail.bytes[..TAIL_BYTES / 2].iter().all(|b| *b == 3));
    assert!(tail.bytes[TAIL_BYTES / 2..].iter().all(|b| *b == 4));
}

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script]);
    cmd
}

/// `cmd` with a filter that sends `uname` to the tracer with `data`, installed in the
/// child before its exec (no_new_privs, so no privilege is needed).
fn with_uname_traced(mut cmd: Command, data: u32) -> Command {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    let rules = BTreeMap::from([(libc::SYS_uname, vec![])]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Trace(data),
        TargetArch::x86_64,
    )
    .unwrap();
    let program: BpfProgram = filter.try_into().unwrap();
    // SAFETY: the closure runs in the forked child before exec; it only makes the
    // prctl and seccomp system calls and touches no lock or allocator state.
    unsafe {
        cmd.pre_exec(move || {
            seccompiler::apply_filter(&program).map_err(|e| std::io::Error::other(e.to_string()))
        });
    }
    cmd
}

#[test]
fn a_plain_command_runs_with_its_output_and_exit() {
    let traced = run_traced(
        sh("echo out; echo err >&2; exit 3"),
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(traced.exit.code(), Some(3));
    assert_eq!(traced.stdout.text(), "out\n");
    assert_eq!(traced.stderr.text(), "err\n");
    assert!(!traced.timed_out);
    // No filter: nothing stops.
    assert!(traced.calls.is_empty() && traced.summary.is_empty());
    assert!(!traced.exec_seen);
}

#[test]
fn a_missing_program_is_a_spawn_error() {
    let err = run_traced(
        Command::new("/nonexistent/breakout-trace-test"),
        Duration::from_secs(5),
    )
    .unwrap_err();
    assert!(matches!(err, TraceError::Spawn { .. }), "{err}");
    assert!(err.to_string().starts_with("start /nonexistent/"), "{err}");
}

#[test]
fn the_deadline_kills_the_command() {
    let began = Instant::now();
    let traced = run_traced(sh("echo before; exec sleep 60"), Duration::from_millis(500)).unwrap();
    assert!(traced.timed_out);
    assert_eq!(traced.exit.signal(), Some(libc::SIGKILL));
    assert_eq!(traced.stdout.text(), "before\n");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
}

/// The positive control: the filter's TRACE rule stops `uname` in every process of the
/// command (a forked subshell's too), with the rule's data, and the call then works.
#[test]
fn traced_calls_stop_and_proceed() {
    let cmd = with_uname_traced(sh("uname; echo rc=$?; (uname -s); getpid_is=$$"), 0x1234);
    let traced = run_traced(cmd, Duration::from_secs(20)).unwrap();
    assert!(traced.exit.success(), "{traced:?}");
    assert_eq!(traced.stdout.text(), "Linux\nrc=0\nLinux\n", "{traced:?}");
    let uname: Vec<&TracedCall> = traced.calls.iter().collect();
    assert_eq!(uname.len(), 2, "{uname:?}");
    for call in &uname {
        assert_eq!(call.name, Some("uname"));
        assert_eq!(call.entry, Some(Entry::X86_64));
        assert_eq!(call.nr, libc::SYS_uname as i32);
        assert_eq!(call.ret_data, 0x1234);
        // The filter came with the command itself, not after an exec of its own.
        assert!(!call.after_exec);
    }
    // Two processes: the shell's uname child and the subshell's.
    assert_ne!(uname[0].pid, uname[1].pid);
    assert_eq!(traced.summary.len(), 1);
    assert_eq!(traced.summary[0].before_exec, 2);
    assert_eq!(traced.summary[0].label(), "uname@x86_64");
    assert_eq!(traced.unread_stops, 0);
}

/// The negative control: without a tracer, the kernel fails a traced call with ENOSYS.
#[test]
fn without_a_tracer_a_traced_call_fails_with_enosys() {
    let out = with_uname_traced(sh("uname; echo rc=$?"), 1)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "rc=1\n", "{stderr}");
    assert!(stderr.contains("Function not implemented"), "{stderr}");
}

/// Signals reach the tracees: a real-time one (which nix's wait could not decode) is
/// delivered to its handler, and a stop signal does not leave the trace waiting.
#[test]
fn signals_are_delivered_and_stops_do_not_hang() {
    // 34 is SIGRTMIN under glibc (dash takes signal numbers).
    let script = "trap 'echo rt' 34; kill -34 $$; sh -c 'kill -STOP $$; echo resumed'; echo end";
    let traced = run_traced(sh(script), Duration::from_secs(20)).unwrap();
    assert!(!traced.timed_out, "{traced:?}");
    assert!(traced.exit.success(), "{traced:?}");
    assert_eq!(traced.stdout.text(), "rt\nresumed\nend\n");
}

/// More output than the tail keeps: the end is kept, the rest counted.
#[test]
fn long_output_keeps_its_end() {
    let traced = run_traced(
        sh("i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done"),
        Duration::from_secs(60),
    )
    .unwrap();
    let text = traced.stdout.text();
    assert!(
        text.ends_with("line-19999\n"),
        "{}",
        &text[text.len() - 40..]
    );
    assert_eq!(traced.stdout.bytes.len(), TAIL_BYTES);
    assert!(traced.stdout.dropped > 0);
}
