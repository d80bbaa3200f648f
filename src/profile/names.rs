//! The spellings a profile may use for actions, architectures, operators, flags and
//! syscalls, and the architecture names Docker compares `includes.arches`/
//! `excludes.arches` with.
//!
//! The tables are written out rather than taken from oci-spec's `FromStr`, so that an
//! error can list every accepted spelling, and so that a test can check each spelling
//! against what oci-spec serialises (which is what runc will read).

use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

use super::syscalls::SYSCALLS;

/// A closed set of names that map one to one onto a value.
pub(crate) trait Named: Copy + PartialEq + 'static {
    /// What one of these is called in an error message ("action", "architecture").
    const WHAT: &'static str;
    /// Used by serde in "invalid type: ..., expected <EXPECTING>".
    const EXPECTING: &'static str;
    /// Every accepted spelling, in the order errors list them.
    const TABLE: &'static [(&'static str, Self)];

    fn from_name(name: &str) -> Option<Self> {
        Self::TABLE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// The spelling of `value` (the first, where a value has several).
    fn name_of(value: Self) -> Option<&'static str> {
        Self::TABLE
            .iter()
            .find(|(_, v)| *v == value)
            .map(|(n, _)| *n)
    }

    /// The spelling closest to `name`: the same in another case, or within two edits.
    fn suggestion(name: &str) -> Option<&'static str> {
        if let Some((n, _)) = Self::TABLE
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Some(n);
        }
        let chars: Vec<char> = name.chars().collect();
        Self::TABLE
            .iter()
            .filter_map(|(n, _)| edit_distance(&chars, n, 2).map(|d| (d, *n)))
            .min_by_key(|(d, _)| *d)
            .map(|(_, n)| n)
    }

    fn all_names() -> String {
        let names: Vec<&str> = Self::TABLE.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }
}

impl Named for LinuxSeccompAction {
    const WHAT: &'static str = "action";
    const EXPECTING: &'static str = "an action name such as \"SCMP_ACT_ALLOW\"";
    const TABLE: &'static [(&'static str, Self)] = &[
        ("SCMP_ACT_KILL", Self::ScmpActKill),
        ("SCMP_ACT_KILL_PROCESS", Self::ScmpActKillProcess),
        ("SCMP_ACT_KILL_THREAD", Self::ScmpActKillThread),
        ("SCMP_ACT_TRAP", Self::ScmpActTrap),
        ("SCMP_ACT_ERRNO", Self::ScmpActErrno),
        ("SCMP_ACT_TRACE", Self::ScmpActTrace),
        ("SCMP_ACT_ALLOW", Self::ScmpActAllow),
        ("SCMP_ACT_LOG", Self::ScmpActLog),
        ("SCMP_ACT_NOTIFY", Self::ScmpActNotify),
    ];
}

impl Named for Arch {
    const WHAT: &'static str = "architecture";
    const EXPECTING: &'static str = "an architecture name such as \"SCMP_ARCH_X86_64\"";
    const TABLE: &'static [(&'static str, Self)] = &[
        ("SCMP_ARCH_NATIVE", Self::ScmpArchNative),
        ("SCMP_ARCH_X86", Self::ScmpArchX86),
        ("SCMP_ARCH_X86_64", Self::ScmpArchX86_64),
        ("SCMP_ARCH_X32", Self::ScmpArchX32),
        ("SCMP_ARCH_ARM", Self::ScmpArchArm),
        ("SCMP_ARCH_AARCH64", Self::ScmpArchAarch64),
        ("SCMP_ARCH_MIPS", Self::ScmpArchMips),
        ("SCMP_ARCH_MIPS64", Self::ScmpArchMips64),
        ("SCMP_ARCH_MIPS64N32", Self::ScmpArchMips64n32),
        ("SCMP_ARCH_MIPSEL", Self::ScmpArchMipsel),
        ("SCMP_ARCH_MIPSEL64", Self::ScmpArchMipsel64),
        ("SCMP_ARCH_MIPSEL64N32", Self::ScmpArchMipsel64n32),
        ("SCMP_ARCH_PPC", Self::ScmpArchPpc),
        ("SCMP_ARCH_PPC64", Self::ScmpArchPpc64),
        ("SCMP_ARCH_PPC64LE", Self::ScmpArchPpc64le),
        ("SCMP_ARCH_S390", Self::ScmpArchS390),
        ("SCMP_ARCH_S390X", Self::ScmpArchS390x),
        ("SCMP_ARCH_PARISC", Self::ScmpArchParisc),
        ("SCMP_ARCH_PARISC64", Self::ScmpArchParisc64),
        ("SCMP_ARCH_RISCV64", Self::ScmpArchRiscv64),
        ("SCMP_ARCH_LOONGARCH64", Self::ScmpArchLoongarch64),
        ("SCMP_ARCH_M68K", Self::ScmpArchM68k),
        ("SCMP_ARCH_SH", Self::ScmpArchSh),
        ("SCMP_ARCH_SHEB", Self::ScmpArchSheb),
    ];
}

impl Named for LinuxSeccompOperator {
    const WHAT: &'static str = "operator";
    const EXPECTING: &'static str = "an operator name such as \"SCMP_CMP_EQ\"";
    const TABLE: &'static [(&'static str, Self)] = &[
        ("SCMP_CMP_NE", Self::ScmpCmpNe),
        ("SCMP_CMP_LT", Self::ScmpCmpLt),
        ("SCMP_CMP_LE", Self::ScmpCmpLe),
        ("SCMP_CMP_EQ", Self::ScmpCmpEq),
        ("SCMP_CMP_GE", Self::ScmpCmpGe),
        ("SCMP_CMP_GT", Self::ScmpCmpGt),
        ("SCMP_CMP_MASKED_EQ", Self::ScmpCmpMaskedEq),
    ];
}

impl Named for LinuxSeccompFilterFlag {
    const WHAT: &'static str = "filter flag";
    const EXPECTING: &'static str = "a filter flag name such as \"SECCOMP_FILTER_FLAG_LOG\"";
    const TABLE: &'static [(&'static str, Self)] = &[
        ("SECCOMP_FILTER_FLAG_TSYNC", Self::SeccompFilterFlagTsync),
        ("SECCOMP_FILTER_FLAG_LOG", Self::SeccompFilterFlagLog),
        (
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            Self::SeccompFilterFlagSpecAllow,
        ),
        (
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            Self::SeccompFilterFlagWaitKillableRecv,
        ),
    ];
}

/// Names accepted in `includes.arches` and `excludes.arches`.
///
/// Docker compares these with its own name for the daemon's architecture (amd64,
/// arm64, ...), not with uname's or libseccomp's spelling, so "x86_64" there never
/// matches anything. The list is the union of the names moby's tables produce and
/// the libseccomp-golang names profiles use for sub-architectures (x32, mipsel, ...):
/// a name outside it can only be a mistake that silently disables the rule.
pub(crate) const DOCKER_ARCHES: &[&str] = &[
    "amd64",
    "x86",
    "x32",
    "arm64",
    "arm",
    "ppc64le",
    "ppc64",
    "ppc",
    "s390x",
    "s390",
    "riscv64",
    "loong64",
    "loongarch64",
    "mips",
    "mipsle",
    "mipsel",
    "mips64",
    "mips64n32",
    "mipsel64",
    "mipsel64n32",
    "mips3l64n32",
    "parisc",
    "parisc64",
    "m68k",
    "sh",
    "sheb",
];

/// Docker's spelling for a name that people commonly write instead, for hints.
pub(crate) fn docker_arch_hint(name: &str) -> Option<&'static str> {
    let bare = name.strip_prefix("SCMP_ARCH_").unwrap_or(name);
    match bare.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => Some("amd64"),
        "aarch64" => Some("arm64"),
        "i386" | "i686" | "386" => Some("x86"),
        other => DOCKER_ARCHES.iter().copied().find(|a| *a == other),
    }
}

/// The host's architecture as Docker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostArch {
    /// The name `includes.arches`/`excludes.arches` are compared with (moby's
    /// `goToNative[runtime.GOARCH]`).
    pub docker: &'static str,
    /// The `archMap` entry Docker selects (moby's `nativeToSeccomp[docker]`); `None`
    /// where moby has no entry, in which case Docker uses no `archMap` entry at all.
    pub seccomp: Option<Arch>,
}

impl HostArch {
    /// Maps a `uname -m` machine name (or a Go GOARCH name) to Docker's view of it.
    ///
    /// Docker decides by the architecture its daemon was built for; a daemon runs
    /// natively, so uname's machine names the same architecture.
    pub(crate) fn from_machine(machine: &str) -> Option<HostArch> {
        let (docker, seccomp) = match machine {
            "x86_64" | "amd64" => ("amd64", Some(Arch::ScmpArchX86_64)),
            "i386" | "i486" | "i586" | "i686" | "386" | "x86" => ("x86", Some(Arch::ScmpArchX86)),
            "aarch64" | "arm64" => ("arm64", Some(Arch::ScmpArchAarch64)),
            "ppc64le" => ("ppc64le", Some(Arch::ScmpArchPpc64le)),
            "ppc64" => ("ppc64", Some(Arch::ScmpArchPpc64)),
            "ppc" => ("ppc", Some(Arch::ScmpArchPpc)),
            "s390x" => ("s390x", Some(Arch::ScmpArchS390x)),
            "s390" => ("s390", Some(Arch::ScmpArchS390)),
            "riscv64" => ("riscv64", Some(Arch::ScmpArchRiscv64)),
            // moby maps GOARCH loong64 to "loongarch64" but keys its archMap table by
            // "loong64", so on LoongArch it selects no archMap entry. Kept as moby does.
            "loongarch64" | "loong64" => ("loongarch64", None),
            m if m == "arm" || (m.starts_with("armv") && !m.ends_with('b')) => {
                ("arm", Some(Arch::ScmpArchArm))
            }
            // MIPS is left out: uname does not say the byte order, which decides
            // between moby's mips64 and mipsel64 names.
            _ => return None,
        };
        Some(HostArch { docker, seccomp })
    }
}

/// uname machine names `HostArch::from_machine` knows, for error messages.
pub(crate) const KNOWN_MACHINES: &str =
    "x86_64, i686, aarch64, armv7l, ppc64le, ppc64, ppc, s390x, s390, riscv64, loongarch64";

/// Whether `name` is a syscall name on some architecture (see `syscalls`).
pub(crate) fn is_known_syscall(name: &str) -> bool {
    SYSCALLS.binary_search(&name).is_ok()
}

/// The known syscall name closest to `name`, if one is within two edits (insertions,
/// deletions, substitutions and swaps of neighbouring characters), or one for names
/// of up to three characters (two edits turn "x" into "mpx"); ties go to the first in
/// the table's order.
pub(crate) fn syscall_suggestion(name: &str) -> Option<&'static str> {
    let name: Vec<char> = name.chars().collect();
    let max_distance = if name.len() <= 3 { 1 } else { 2 };
    let mut best: Option<(usize, &'static str)> = None;
    for &known in SYSCALLS {
        let limit = best.map_or(max_distance, |(d, _)| d.saturating_sub(1));
        if let Some(d) = edit_distance(&name, known, limit) {
            best = Some((d, known));
            if d == 1 {
                break;
            }
        }
    }
    best.map(|(_, known)| known)
}

/// Optimal string alignment distance between `a` and `b`, or `None` if it exceeds
/// `limit`.
fn edit_distance(a: &[char], b: &str, limit: usize) -> Option<usize> {
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    // Three rows: the one before the previous (for swaps), the previous, the current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        if cur.iter().min().is_some_and(|&m| m > limit) {
            return None;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= limit).then_some(d)
}
