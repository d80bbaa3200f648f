//! `kernel.*` probes of the calls that load or boot a kernel (`uselib`, `init_module`,
//! `kexec_load`, `reboot`): each is called with arguments the kernel refuses after its
//! capability check, and the answer is weighed against what the kernel would say first
//! (no capability, not built in, turned off by a sysctl), or a second call.

use crate::ctx::{Ctx, Verdict};
use crate::facts::enosys;
use crate::facts::{has_cap, syscall_built, sysctl, CAP_SYS_BOOT, CAP_SYS_MODULE};
use crate::kernel_proof::{
    faked, judged, not_built_note, not_the_kernel, noted, reached, second_opinion,
};
use crate::sys::{self, Errno};

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
