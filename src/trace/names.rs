//! A traced call's name on the entry it came through, as profiles spell it: libseccomp
//! resolves the number on that entry (the same library and tables runc, crun and the
//! predictor use), and a short table of its own covers the calls Linux added after
//! the libseccomp this project links (upstream 2.5.4 knows nothing past 450, Debian
//! 12's build nothing past 456).

use libseccomp::{ScmpArch, ScmpSyscall};

use crate::predict::compile::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use crate::profile::SYSCALLS;
use breakout_wire::routes::Entry;

/// Calls numbered after upstream libseccomp 2.5.4's tables, from the kernel's
/// `arch/x86/entry/syscalls/syscall_{64,32}.tbl` (Linux 6.5 to 6.18); consulted only
/// where libseccomp knows no name. Since 424 every entry numbers new calls alike, so
/// one number serves x86_64, i386 and x32 (with the x32 bit), except the calls marked
/// x86_64-only.
pub(super) const NEWER: &[(i32, &str, bool)] = &[
    (335, "uretprobe", true),
    (336, "uprobe", true),
    (451, "cachestat", false),
    (452, "fchmodat2", false),
    (453, "map_shadow_stack", true),
    (454, "futex_wake", false),
    (455, "futex_wait", false),
    (456, "futex_requeue", false),
    (457, "statmount", false),
    (458, "listmount", false),
    (459, "lsm_get_self_attr", false),
    (460, "lsm_set_self_attr", false),
    (461, "lsm_list_modules", false),
    (462, "mseal", false),
    (463, "setxattrat", false),
    (464, "getxattrat", false),
    (465, "listxattrat", false),
    (466, "removexattrat", false),
    (467, "open_tree_attr", false),
    (468, "file_getattr", false),
    (469, "file_setattr", false),
    (470, "listns", false),
];

/// The entry a call came through: its `AUDIT_ARCH_*` and, on x86_64's, the x32 bit of
/// its number. `None` for an architecture this x86_64 harness does not know.
pub fn entry_of(audit_arch: u32, nr: i32) -> Option<Entry> {
    match audit_arch {
        AUDIT_ARCH_X86_64 if nr & X32_SYSCALL_BIT != 0 => Some(Entry::X32),
        AUDIT_ARCH_X86_64 => Some(Entry::X86_64),
        AUDIT_ARCH_I386 => Some(Entry::I386),
        _ => None,
    }
}

/// The name of call `nr` on `entry` (x32 numbers with their bit, as seccomp sees
/// them), from the project's table of names so that it can be `'static`; `None` for a
/// number neither libseccomp nor this module's table of newer calls knows.
pub fn syscall_name(entry: Entry, nr: i32) -> Option<&'static str> {
    if nr < 0 {
        return None;
    }
    let arch = match entry {
        Entry::X86_64 => ScmpArch::X8664,
        Entry::I386 => ScmpArch::X86,
        Entry::X32 => ScmpArch::X32,
    };
    if let Ok(name) = ScmpSyscall::from(nr).get_name_by_arch(arch) {
        if let Ok(i) = SYSCALLS.binary_search(&name.as_str()) {
            return Some(SYSCALLS[i]);
        }
    }
    let plain = nr & !X32_SYSCALL_BIT;
    NEWER
        .iter()
        .find(|(n, _, x86_64_only)| *n == plain && (entry == Entry::X86_64 || !x86_64_only))
        .map(|(_, name, _)| *name)
}
