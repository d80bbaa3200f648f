//! `kernel.*` probes: kernel attack surface a profile should close. Each calls the
//! syscall with arguments the kernel rejects after the seccomp and capability checks:
//! EPERM/ENOSYS/SIGSYS is a block, EINVAL/EFAULT/EBADF means the call reached the kernel,
//! once [`crate::kernel_proof`] has ruled out the filter imitating the kernel.
//!
//! Where the kernel itself can refuse (a sysctl, a missing capability, a facility not
//! built in), the verdict's detail says so, so a reader can tell the profile's block
//! from the kernel's. An ENOSYS is read with [`enosys`]: a kernel built without the
//! syscall makes the probe not applicable, a filter's ENOSYS is a block.

use crate::ctx::{Ctx, Verdict};
use crate::facts::{enosys, has_cap, sysctl, CAP_BPF, CAP_SYS_ADMIN, CAP_SYS_PTRACE};
use crate::kernel_proof::{
    close, faked, judged, kernel_version, noted, proven_fd, reached, second_opinion, with_note,
};
use crate::sys::{self, Errno};

pub fn io_uring(_: &Ctx) -> Verdict {
    // struct io_uring_params is 120 bytes; zeroed it asks for nothing but the ring.
    let mut params = [0u64; 15];
    // SAFETY: `params` is a writable, zeroed io_uring_params-sized buffer that outlives
    // the call; the kernel reads it and writes the ring offsets back into it.
    let ret = io_uring_setup(1, &mut params);
    match ret {
        Ok(fd) => match proven_fd(fd, "io_uring", "io_uring_setup") {
            Ok(note) => {
                close(fd);
                with_note(
                    Verdict::escaped(format!(
                        "io_uring_setup created a ring (fd {fd}), closed again"
                    )),
                    note,
                )
            }
            Err(faked) => faked,
        },
        Err(e @ Errno(libc::ENOSYS)) => {
            enosys(e, "io_uring_setup", "io_uring_setup", "CONFIG_IO_URING")
        }
        // Refusals about the ring itself (its memory, its size) come after every check;
        // a ring of no entries is refused with EINVAL.
        Err(e @ Errno(libc::ENOMEM | libc::EINVAL | libc::EFAULT)) => {
            let second = second_opinion(e, io_uring_setup(0, &mut [0u64; 15]), &[libc::EINVAL]);
            judged("io_uring_setup", e, second, || reached("io_uring_setup", e))
        }
        Err(e) => {
            let note = match sysctl("kernel/io_uring_disabled").as_deref() {
                _ if e != Errno(libc::EPERM) => None,
                Some("2") => Some("kernel.io_uring_disabled=2: the kernel refuses io_uring to every process, whatever the profile".to_string()),
                Some("1") if !has_cap(CAP_SYS_ADMIN) => Some("kernel.io_uring_disabled=1: the kernel allows io_uring only to CAP_SYS_ADMIN or kernel.io_uring_group".to_string()),
                Some(v) => Some(format!("kernel.io_uring_disabled={v} lets this process use io_uring, so the filter refused it")),
                None => None,
            };
            noted(Verdict::blocked(e, "io_uring_setup"), note)
        }
    }
}

fn io_uring_setup(entries: libc::c_long, params: &mut [u64; 15]) -> Result<libc::c_long, Errno> {
    // SAFETY: `params` is a writable io_uring_params-sized buffer that outlives the call;
    // the kernel reads it and writes the ring offsets back into it.
    sys::cvt(unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, params.as_mut_ptr()) })
}

/// A `bpf` command number no kernel defines (commands are a small dense enum).
const BPF_NO_SUCH_COMMAND: libc::c_long = 0x7fff_0000;

pub fn bpf(_: &Ctx) -> Verdict {
    let ret = bpf_call(BPF_NO_SUCH_COMMAND, 0);
    match ret {
        Ok(v) => faked(&format!(
            "bpf with a command that does not exist returned {v}"
        )),
        // The second opinion: BPF_MAP_CREATE (0) with a NULL attribute of 8 bytes fails
        // copying it in (EFAULT), before anything is created.
        Err(e @ Errno(libc::EINVAL | libc::EFAULT | libc::E2BIG)) => {
            let second = second_opinion(e, bpf_call(0, 8), &[libc::EFAULT]);
            judged("bpf", e, second, || {
                let mut v = reached("bpf with an invalid command", e);
                let disabled = sysctl("kernel/unprivileged_bpf_disabled").filter(|v| v != "0");
                if let Some(level) =
                    disabled.filter(|_| !has_cap(CAP_BPF) && !has_cap(CAP_SYS_ADMIN))
                {
                    v.detail.push_str(&format!(
                        "; kernel.unprivileged_bpf_disabled={level} and no CAP_BPF: creating maps and programs is still refused"
                    ));
                }
                v
            })
        }
        Err(e @ Errno(libc::ENOSYS)) => enosys(e, "bpf", "bpf", "CONFIG_BPF_SYSCALL"),
        Err(e) => {
            // Kernels before 6.5 refuse every command to callers without CAP_BPF or
            // CAP_SYS_ADMIN when kernel.unprivileged_bpf_disabled is set; later ones
            // check it only when creating maps and programs.
            let early_check = kernel_version().is_none_or(|v| v < (6, 5));
            let note = sysctl("kernel/unprivileged_bpf_disabled")
                .filter(|v| v != "0" && e == Errno(libc::EPERM))
                .filter(|_| !has_cap(CAP_BPF) && !has_cap(CAP_SYS_ADMIN))
                .map(|v| if early_check {
                    format!("kernel.unprivileged_bpf_disabled={v} and no CAP_BPF: kernels before 6.5 answer EPERM themselves")
                } else {
                    format!("kernel.unprivileged_bpf_disabled={v} applies only to creating maps and programs on this kernel, so the filter refused it")
                });
            noted(Verdict::blocked(e, "bpf with an invalid command"), note)
        }
    }
}

/// `bpf(cmd, NULL, size)`: the kernel copies `size` bytes from NULL, or nothing.
fn bpf_call(cmd: libc::c_long, size: libc::c_long) -> Result<libc::c_long, Errno> {
    // SAFETY: a NULL attribute: the kernel copies nothing (size 0) or fails to (EFAULT).
    sys::cvt(unsafe { libc::syscall(libc::SYS_bpf, cmd, std::ptr::null::<libc::c_void>(), size) })
}

/// `KEYCTL_GET_KEYRING_ID` and `KEY_SPEC_SESSION_KEYRING` from `<linux/keyctl.h>`.
const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
/// `ENOKEY`, which the errno table does not name.
const ENOKEY: i32 = 126;

pub fn keyctl(_: &Ctx) -> Verdict {
    let ret = keyctl_call(KEYCTL_GET_KEYRING_ID);
    match ret {
        // Key serial numbers are positive.
        Ok(id) if id > 0 => {
            Verdict::escaped(format!("keyctl answered the session keyring's id ({id})"))
        }
        Ok(id) => faked(&format!("keyctl answered the keyring id {id}")),
        // The second opinion: an operation keyctl does not have is EOPNOTSUPP.
        Err(e @ Errno(ENOKEY | libc::EKEYEXPIRED | libc::EKEYREVOKED)) => {
            let second = second_opinion(
                e,
                keyctl_call(KEYCTL_NO_SUCH_OPERATION),
                &[libc::EOPNOTSUPP],
            );
            judged("keyctl", e, second, || {
                reached("keyctl reading the session keyring's id", e)
            })
        }
        Err(e @ Errno(libc::ENOSYS)) => enosys(e, "keyctl", "keyctl", "CONFIG_KEYS"),
        Err(e) => Verdict::blocked(e, "keyctl reading the session keyring's id"),
    }
}

/// An operation number past every keyctl operation.
const KEYCTL_NO_SUCH_OPERATION: libc::c_long = 0x7fff;

fn keyctl_call(operation: libc::c_long) -> Result<libc::c_long, Errno> {
    // SAFETY: plain integer arguments; create=0 makes the lookup create nothing.
    sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            operation,
            KEY_SPEC_SESSION_KEYRING,
            0 as libc::c_long,
        )
    })
}

pub fn userfaultfd(_: &Ctx) -> Verdict {
    let flags = libc::c_long::from(libc::O_CLOEXEC | libc::O_NONBLOCK);
    // SAFETY: a flags-only call; the descriptor it returns is closed below.
    match sys::cvt(unsafe { libc::syscall(libc::SYS_userfaultfd, flags) }) {
        Ok(fd) => match proven_fd(fd, "userfaultfd", "userfaultfd") {
            Ok(note) => {
                close(fd);
                with_note(
                    Verdict::escaped(format!(
                        "userfaultfd created a descriptor (fd {fd}), closed again"
                    )),
                    note,
                )
            }
            Err(faked) => faked,
        },
        Err(e @ Errno(libc::ENOSYS)) => {
            enosys(e, "userfaultfd", "userfaultfd", "CONFIG_USERFAULTFD")
        }
        Err(e) => {
            let ptrace_cap = has_cap(CAP_SYS_PTRACE);
            let note = match sysctl("vm/unprivileged_userfaultfd").as_deref() {
                _ if e != Errno(libc::EPERM) => None,
                Some("0") if !ptrace_cap => Some("vm.unprivileged_userfaultfd=0 and no CAP_SYS_PTRACE: the kernel refuses it whatever the profile".to_string()),
                Some(v) => Some(format!(
                    "vm.unprivileged_userfaultfd={v}{}: the kernel would allow it, so the filter refused it",
                    if ptrace_cap { " with CAP_SYS_PTRACE" } else { "" }
                )),
                None => None,
            };
            noted(Verdict::blocked(e, "userfaultfd"), note)
        }
    }
}

pub fn perf_event_open(_: &Ctx) -> Verdict {
    let ret = perf_event_open_call(std::ptr::null_mut());
    let paranoid = sysctl("kernel/perf_event_paranoid");
    match ret {
        // Never closed: the kernel has no event for a NULL attribute, so this is not one.
        Ok(fd) => faked(&format!(
            "perf_event_open with a NULL attribute returned {fd}"
        )),
        // The second opinion: an attribute whose size field is 1 is E2BIG.
        Err(e @ Errno(libc::EFAULT | libc::EINVAL | libc::E2BIG)) => {
            let mut attr = [0u32; 32];
            attr[1] = 1;
            let second = second_opinion(e, perf_event_open_call(attr.as_mut_ptr()), &[libc::E2BIG]);
            judged("perf_event_open", e, second, || {
                let mut v = reached("perf_event_open with a NULL attribute", e);
                if let Some(p) = paranoid {
                    v.detail.push_str(&format!(
                        "; kernel.perf_event_paranoid={p} still limits what a real event may watch"
                    ));
                }
                v
            })
        }
        Err(e @ Errno(libc::ENOSYS)) => enosys(
            e,
            "perf_event_open",
            "perf_event_open",
            "CONFIG_PERF_EVENTS",
        ),
        Err(e) => {
            // The kernel reads the attribute before perf_event_paranoid applies, so a
            // NULL one only meets the paranoid check on kernels with the Debian/Android
            // patch that refuses everything at level 3 and up (EACCES, first thing).
            let level: Option<i32> = paranoid.as_deref().and_then(|p| p.parse().ok());
            let note = match (e, level) {
                (Errno(libc::EACCES), Some(l)) if l >= 3 && !has_cap(CAP_SYS_ADMIN) => format!(
                    "kernel.perf_event_paranoid={l}: the kernel refuses perf_event_open to callers without CAP_SYS_ADMIN, whatever the profile"
                ),
                (_, Some(l)) => format!(
                    "kernel.perf_event_paranoid={l} does not apply to a NULL attribute, so the filter refused it"
                ),
                (_, None) => "the kernel answers a NULL attribute with EFAULT, so the filter refused it".to_string(),
            };
            noted(Verdict::blocked(e, "perf_event_open"), Some(note))
        }
    }
}

/// `perf_event_open(attr, 0, -1, -1, 0)`: this process, any CPU, no group, no flags.
fn perf_event_open_call(attr: *mut u32) -> Result<libc::c_long, Errno> {
    // SAFETY: `attr` is NULL (the kernel fails to copy it) or a 128-byte buffer the
    // caller keeps alive, whose size field the kernel reads and may write back.
    sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr,
            0 as libc::c_long,
            -1 as libc::c_long,
            -1 as libc::c_long,
            0 as libc::c_long,
        )
    })
}

pub fn process_vm_writev(_: &Ctx) -> Verdict {
    let source = [0x42u8; 8];
    let mut target = [0u8; 8];
    let local = libc::iovec {
        iov_base: source.as_ptr().cast_mut().cast(),
        iov_len: source.len(),
    };
    let remote = libc::iovec {
        iov_base: target.as_mut_ptr().cast(),
        iov_len: target.len(),
    };
    let pid = libc::c_long::from(std::process::id() as libc::pid_t);
    // SAFETY: both iovecs describe live buffers of this process of the stated length;
    // the kernel reads `source` and writes `target`, which nothing else references
    // during the call.
    let ret = sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_process_vm_writev,
            pid,
            &raw const local,
            1 as libc::c_ulong,
            &raw const remote,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    });
    match ret {
        Ok(n) => {
            // The kernel wrote through a pointer the compiler cannot follow.
            let seen = std::hint::black_box(&target);
            if seen == &source {
                Verdict::escaped(format!(
                    "process_vm_writev wrote {n} bytes into its own memory"
                ))
            } else {
                faked(&format!(
                    "process_vm_writev answered {n} bytes, yet the buffer reads {seen:?}"
                ))
            }
        }
        Err(e @ Errno(libc::ENOSYS)) => enosys(
            e,
            "process_vm_writev",
            "process_vm_writev",
            "CONFIG_CROSS_MEMORY_ATTACH",
        ),
        Err(e) => Verdict::blocked(e, "process_vm_writev into its own memory"),
    }
}

/// `personality(0xffffffff)` only reads the current persona.
const PERSONALITY_QUERY: libc::c_ulong = 0xffff_ffff;

pub fn personality(_: &Ctx) -> Verdict {
    let old = match set_personality(PERSONALITY_QUERY) {
        Ok(old) => old,
        Err(e) => return Verdict::blocked(e, "personality(0xffffffff) reading the persona"),
    };
    let wanted = old | READ_IMPLIES_EXEC;
    if let Err(e) = set_personality(wanted) {
        return Verdict::blocked(
            e,
            &format!("personality({wanted:#x}) setting READ_IMPLIES_EXEC"),
        );
    }
    let now = set_personality(PERSONALITY_QUERY);
    let restored = set_personality(old);
    let restore_note = match restored {
        Ok(_) => "restored".to_string(),
        Err(e) => format!("restoring {old:#x} failed: {e}"),
    };
    match now {
        Ok(now) if now & READ_IMPLIES_EXEC != 0 => Verdict::escaped(format!(
            "personality set READ_IMPLIES_EXEC ({old:#x} -> {now:#x}), then {restore_note}"
        )),
        Ok(now) => faked(&format!(
            "personality({wanted:#x}) returned, yet the persona reads {now:#x} ({restore_note})"
        )),
        Err(e) => Verdict::escaped(format!(
            "personality({wanted:#x}) was accepted; reading it back failed ({e}); {restore_note}"
        )),
    }
}

/// `READ_IMPLIES_EXEC` from `<linux/personality.h>`.
const READ_IMPLIES_EXEC: libc::c_ulong = 0x0040_0000;

fn set_personality(persona: libc::c_ulong) -> Result<libc::c_ulong, Errno> {
    // SAFETY: personality takes one integer; every persona is a valid value to set.
    let ret = sys::cvt(unsafe { libc::syscall(libc::SYS_personality, persona) })?;
    // The persona is a 32-bit value; the kernel never returns a negative one.
    Ok(ret as libc::c_ulong)
}

#[cfg(test)]
mod tests {
    use crate::facts::syscall_built;

    #[test]
    fn kallsyms_tells_built_syscalls() {
        // getpid is in every kernel; where kallsyms is readable it must say "built".
        if let Some(built) = syscall_built("getpid") {
            assert!(built);
        }
        assert_eq!(syscall_built("no_such_syscall_anywhere"), None);
    }

    #[test]
    fn reads_own_status() {
        assert!(crate::facts::seccomp_filtered().is_some());
    }
}
