//! `kernel.*` probes: kernel attack surface a profile should close. Each calls the
//! syscall with arguments the kernel rejects after the seccomp and capability checks:
//! EPERM/ENOSYS/SIGSYS is a block, EINVAL/EFAULT/EBADF means the call reached the kernel,
//! once [`crate::kernel_proof`] has ruled out the filter imitating the kernel.
//!
//! Where the kernel itself can refuse (a sysctl, a missing capability, a facility not
//! built in), the verdict's detail says so, so a reader can tell the profile's block
//! from the kernel's. An ENOSYS is read with [`enosys`]: a kernel built without the
//! syscall makes the probe not applicable, a filter's ENOSYS is a block.

use crate::attempts::FAKE_SUCCESS;
use crate::ctx::{Ctx, Verdict};
use crate::facts::{
    enosys, has_cap, syscall_built, sysctl, CAP_BPF, CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_SYS_MODULE,
    CAP_SYS_PTRACE,
};
use crate::kernel_proof::{judged, not_the_kernel, proven_fd, second_opinion};
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

/// A success the kernel never gives: the filter made it up (`errnoRet` 0).
fn faked(what: &str) -> Verdict {
    Verdict::blocked_as(
        FAKE_SUCCESS.to_string(),
        format!("{what}, which the kernel never answers: the filter made the success up"),
    )
}

fn with_note(mut verdict: Verdict, note: Option<String>) -> Verdict {
    if let Some(note) = note {
        verdict.detail.push_str("; ");
        verdict.detail.push_str(&note);
    }
    verdict
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

/// A path that names no file: uselib fails on the lookup (ENOENT) after the seccomp
/// check, and never gets near loading anything.
const USELIB_PATH: &std::ffi::CStr = c"/.breakout-no-such-library";

pub fn uselib(_: &Ctx) -> Verdict {
    let ret = uselib_call(USELIB_PATH);
    match ret {
        Ok(v) => faked(&format!(
            "uselib of a file that does not exist returned {v}"
        )),
        Err(e @ Errno(libc::ENOENT | libc::ENOEXEC)) if syscall_built("uselib") == Some(false) => {
            not_the_kernel("uselib", e, "this kernel is built without CONFIG_USELIB")
        }
        // The second opinion: uselib of a directory is EACCES.
        Err(e @ Errno(libc::ENOENT | libc::ENOEXEC)) => {
            let second = second_opinion(e, uselib_call(c"/"), &[libc::EACCES]);
            judged("uselib", e, second, || {
                reached("uselib on a path that names no library", e)
            })
        }
        Err(e @ Errno(libc::ENOSYS)) => enosys(e, "uselib", "uselib", "CONFIG_USELIB"),
        Err(e) => noted(
            Verdict::blocked(e, "uselib"),
            not_built_note("uselib", "CONFIG_USELIB"),
        ),
    }
}

fn uselib_call(path: &std::ffi::CStr) -> Result<libc::c_long, Errno> {
    // SAFETY: a NUL-terminated static path.
    sys::cvt(unsafe { libc::syscall(libc::SYS_uselib, path.as_ptr()) })
}

/// What the kernel answers before it looks at the arguments, when it does: ENOSYS
/// without the call built in, EPERM without the capability or with the sysctl that
/// turns the call off. An argument error then came from the filter.
fn refused_first(
    syscall: &str,
    option: &str,
    cap: u32,
    cap_name: &str,
    disabled: &str,
) -> Option<String> {
    if syscall_built(syscall) == Some(false) {
        return Some(format!("this kernel is built without {option}"));
    }
    if !has_cap(cap) {
        return Some(format!(
            "this process has no {cap_name}, which the kernel checks first"
        ));
    }
    (sysctl(disabled).as_deref() == Some("1"))
        .then(|| format!("{} is 1", disabled.replace('/', ".")))
}

pub fn init_module(_: &Ctx) -> Verdict {
    let ret = init_module_call(0);
    match ret {
        Ok(v) => faked(&format!("init_module of an empty image returned {v}")),
        Err(e @ Errno(libc::ENOEXEC | libc::EFAULT | libc::EINVAL)) => {
            let module_support = "module support (CONFIG_MODULES)";
            if let Some(why) = refused_first(
                "init_module",
                module_support,
                CAP_SYS_MODULE,
                "CAP_SYS_MODULE",
                "kernel/modules_disabled",
            ) {
                return not_the_kernel("init_module", e, &why);
            }
            // The second opinion: a 4096-byte image at NULL fails copying in (EFAULT).
            let second = second_opinion(e, init_module_call(4096), &[libc::EFAULT]);
            judged("init_module", e, second, || {
                reached("init_module with an empty image", e)
            })
        }
        Err(e @ Errno(libc::ENOSYS)) => enosys(
            e,
            "init_module",
            "init_module",
            "module support (CONFIG_MODULES)",
        ),
        Err(e) => {
            let note = match sysctl("kernel/modules_disabled").as_deref() {
                _ if e != Errno(libc::EPERM) => None,
                _ if syscall_built("init_module") == Some(false) => {
                    not_built_note("init_module", "module support (CONFIG_MODULES)")
                }
                Some("1") => Some("kernel.modules_disabled=1: the kernel refuses every module load, whatever the profile and capabilities".to_string()),
                _ if !has_cap(CAP_SYS_MODULE) => Some("no CAP_SYS_MODULE: the kernel refuses it whatever the profile".to_string()),
                _ => None,
            };
            noted(Verdict::blocked(e, "init_module"), note)
        }
    }
}

/// `init_module(NULL, len, "")`: too short an image (len 0) is ENOEXEC before anything
/// is read; a longer one fails copying from NULL (EFAULT) before anything is loaded.
fn init_module_call(len: libc::c_ulong) -> Result<libc::c_long, Errno> {
    // SAFETY: the image pointer is NULL, which the kernel never reads successfully; the
    // parameter string is a static empty C string.
    sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_init_module,
            std::ptr::null::<libc::c_void>(),
            len,
            c"".as_ptr(),
        )
    })
}

/// One more than `KEXEC_SEGMENT_MAX`: the kernel refuses it with EINVAL, after the
/// capability check and before it reads any segment.
const KEXEC_TOO_MANY_SEGMENTS: libc::c_ulong = 17;

pub fn kexec_load(_: &Ctx) -> Verdict {
    let ret = kexec_load_call(KEXEC_TOO_MANY_SEGMENTS);
    match ret {
        Ok(v) => faked(&format!("kexec_load of 17 segments returned {v}")),
        Err(e @ Errno(libc::EINVAL | libc::EFAULT)) => {
            if let Some(why) = refused_first(
                "kexec_load",
                "CONFIG_KEXEC",
                CAP_SYS_BOOT,
                "CAP_SYS_BOOT",
                "kernel/kexec_load_disabled",
            ) {
                return not_the_kernel("kexec_load", e, &why);
            }
            // The second opinion: one segment at NULL fails copying the list (EFAULT).
            // Never 0 segments: that unloads a loaded kernel.
            let second = second_opinion(e, kexec_load_call(1), &[libc::EFAULT]);
            judged("kexec_load", e, second, || {
                reached("kexec_load with too many segments", e)
            })
        }
        Err(e @ Errno(libc::ENOSYS)) => enosys(e, "kexec_load", "kexec_load", "CONFIG_KEXEC"),
        Err(e) => {
            let note = match sysctl("kernel/kexec_load_disabled").as_deref() {
                _ if e != Errno(libc::EPERM) => None,
                _ if syscall_built("kexec_load") == Some(false) => {
                    not_built_note("kexec_load", "CONFIG_KEXEC")
                }
                Some("1") => Some("kernel.kexec_load_disabled=1: the kernel refuses kexec_load, whatever the profile and capabilities".to_string()),
                _ if !has_cap(CAP_SYS_BOOT) => Some("no CAP_SYS_BOOT: the kernel refuses it whatever the profile".to_string()),
                _ => None,
            };
            noted(Verdict::blocked(e, "kexec_load"), note)
        }
    }
}

/// `kexec_load(0, segments, NULL, 0)` with 1 or 17 segments (never 0, which unloads).
fn kexec_load_call(segments: libc::c_ulong) -> Result<libc::c_long, Errno> {
    debug_assert!(segments > 0);
    // SAFETY: the segment list is NULL: with too many segments it is never read, with
    // one the copy fails; entry 0 and flags 0 (the default architecture).
    sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_kexec_load,
            0 as libc::c_ulong,
            segments,
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_ulong,
        )
    })
}

/// Neither is `LINUX_REBOOT_MAGIC1` (0xfee1dead) nor any `LINUX_REBOOT_MAGIC2`, and the
/// command is none the kernel knows: two independent reasons for EINVAL.
const REBOOT_BAD_MAGIC: libc::c_long = 0;
const REBOOT_NO_SUCH_COMMAND: libc::c_long = 0x0bad_c0de;

pub fn reboot(_: &Ctx) -> Verdict {
    // SAFETY: integer arguments and a NULL argument pointer, which the kernel reads only
    // for LINUX_REBOOT_CMD_RESTART2 after the magic check this call fails.
    let ret = sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_reboot,
            REBOOT_BAD_MAGIC,
            REBOOT_BAD_MAGIC,
            REBOOT_NO_SUCH_COMMAND,
            std::ptr::null::<libc::c_void>(),
        )
    });
    match ret {
        Ok(v) => faked(&format!("reboot with a bad magic number returned {v}")),
        // The kernel checks CAP_SYS_BOOT before the magic numbers. In a child PID
        // namespace every other command answers EINVAL too (and the valid ones end the
        // namespace), so there is no second opinion to ask.
        Err(e @ Errno(libc::EINVAL)) if !has_cap(CAP_SYS_BOOT) => not_the_kernel(
            "reboot",
            e,
            "this process has no CAP_SYS_BOOT, which the kernel checks first",
        ),
        // With no filter installed the EINVAL is the kernel's; under one, nothing tells.
        Err(e @ Errno(libc::EINVAL)) => match crate::facts::seccomp_filtered() {
            Some(false) => reached("reboot with a bad magic number", e),
            _ => Verdict::indeterminate(
                Some(e),
                "reboot with a bad magic number: EINVAL, and with CAP_SYS_BOOT no second call can tell the kernel's EINVAL from a filter's (a valid command would end the PID namespace)",
            ),
        },
        Err(e) => {
            let note = (e == Errno(libc::EPERM) && !has_cap(CAP_SYS_BOOT))
                .then(|| "no CAP_SYS_BOOT: the kernel refuses it whatever the profile".to_string());
            noted(Verdict::blocked(e, "reboot"), note)
        }
    }
}

/// The verdict of a call that got past seccomp and the capability checks and was
/// refused only for its deliberately bad arguments.
/// Escaped as far as the attack surface goes (`reachable`): the call reached the
/// kernel's own argument checks. That is not the feature being usable: the kernel may
/// still refuse what a real attempt asks for (a map under unprivileged_bpf_disabled).
fn reached(what: &str, errno: Errno) -> Verdict {
    let mut v = Verdict::escaped(format!(
        "{what} reached the kernel: {errno} is the kernel refusing the arguments, past the seccomp and capability checks"
    ));
    v.mechanism = Some(REACHABLE.to_string());
    v
}

/// The mechanism of an escape that reached the kernel's surface without using it.
const REACHABLE: &str = "reachable";

/// A kernel without `syscall` answers ENOSYS before any check of its own, so any other
/// refusal came from the filter.
fn not_built_note(syscall: &str, option: &str) -> Option<String> {
    (syscall_built(syscall) == Some(false)).then(|| {
        format!(
            "this kernel is built without {option} and would answer ENOSYS, so the filter answered"
        )
    })
}

/// The running kernel's (major, minor) version.
fn kernel_version() -> Option<(u32, u32)> {
    let release = sysctl("kernel/osrelease")?;
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Appends a note on who refused to a verdict's detail. With no filter installed no note
/// may blame one: the kernel (or the sandbox's) refused it itself.
fn noted(mut verdict: Verdict, note: Option<String>) -> Verdict {
    let note = match (note, crate::facts::seccomp_filtered()) {
        (Some(n), Some(false)) if n.contains("the filter") => Some(format!(
            "no seccomp filter is installed: {} refused it itself",
            crate::facts::sandbox().unwrap_or("the kernel")
        )),
        (note, _) => note,
    };
    if let Some(note) = note {
        verdict.detail.push_str("; ");
        verdict.detail.push_str(&note);
    }
    verdict
}

fn close(fd: libc::c_long) {
    // SAFETY: `fd` was returned by the kernel to this probe and is closed exactly once.
    unsafe {
        libc::close(fd as libc::c_int);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
