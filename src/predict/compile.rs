//! A resolved `linux.seccomp` compiled to the BPF program the runtime would load, with
//! libseccomp itself (the `libseccomp` crate over the system library, linked
//! statically), the way runc and crun build it:
//!
//! - the default action (with `defaultErrnoRet`, EPERM without one), the native
//!   architecture and every one the profile lists;
//! - a rule per syscall name, skipped where the name is unknown to libseccomp or the
//!   action equals the default (runc and crun skip both; libseccomp refuses the latter);
//! - argument conditions ANDed in one rule, unless two name the same argument, which
//!   runc then adds as one rule each (ORed); `SCMP_CMP_MASKED_EQ` takes `value` as the
//!   mask and `valueTwo` as the datum;
//! - libseccomp itself expands a rule on `socket` and the other multiplexed calls into
//!   checks of the x86 `socketcall`/`ipc` multiplexers, which is why an argument rule
//!   cannot reach through them.
//!
//! runc's own ENOSYS stub (`libcontainer/seccomp/patchbpf`) is modelled after the
//! program: under a default that does not allow, a system call numbered above the
//! highest one the profile names for its architecture answers ENOSYS, so that programs
//! fall back from calls newer than the profile (clone3 to clone).

use std::os::fd::AsFd;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall,
};

use super::bpf::{self, Insn, SeccompData};

/// `AUDIT_ARCH_*` values: what `seccomp_data.arch` holds for each entry.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// x32 calls carry this bit in their number and x86_64's audit arch.
pub const X32_SYSCALL_BIT: i32 = 0x4000_0000;

/// An entry as the filter tells them apart: audit arch, and whether the x32 bit is set.
type EntryKey = (u32, bool);
/// One architecture's program, shared between the runtimes that build the same one.
type Program = std::sync::Arc<Vec<Insn>>;

/// A filter ready to be run on calls: one program per architecture it lists. libseccomp
/// builds a filter of several architectures as an arch dispatch in front of each one's
/// own section, so each entry's calls meet exactly the rules of its own program, and an
/// entry the filter does not list meets the bad-arch action (kill). Compiling them one
/// by one is much cheaper (libseccomp's sort grows faster than linearly) and lets
/// runtimes that build the same section share it ([`cached`]).
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Per entry, its program.
    programs: Vec<(EntryKey, Program)>,
    /// Per entry (audit arch, x32 or not), the highest number the profile names
    /// (runc's ENOSYS stub), when the runtime adds the stub and the default does not
    /// allow.
    enosys_above: Vec<((u32, bool), i32)>,
}

/// The action a filter returned, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Log,
    Notify,
    Trace,
    Errno(u16),
    Trap,
    KillThread,
    KillProcess,
}

impl Action {
    fn from_ret(ret: u32) -> Action {
        match ret & 0xffff_0000 {
            0x8000_0000 => Action::KillProcess,
            0x0000_0000 => Action::KillThread,
            0x0003_0000 => Action::Trap,
            0x0005_0000 => Action::Errno((ret & 0xffff) as u16),
            0x7fc0_0000 => Action::Notify,
            0x7ff0_0000 => Action::Trace,
            0x7ffc_0000 => Action::Log,
            0x7fff_0000 => Action::Allow,
            // The kernel treats an unknown action as KILL_PROCESS.
            _ => Action::KillProcess,
        }
    }

    /// The call runs (`LOG` runs it after logging).
    pub fn lets_through(self) -> bool {
        matches!(self, Action::Allow | Action::Log)
    }
}

/// Why a profile could not be compiled as the runtime would.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("libseccomp refused the filter: {0}")]
    Libseccomp(String),
    #[error("the exported filter could not be read: {0}")]
    Export(String),
}

fn lib(e: impl std::fmt::Display) -> CompileError {
    CompileError::Libseccomp(e.to_string())
}

/// How a runtime builds its filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// runc's ENOSYS stub for calls newer than the profile.
    pub enosys_stub: bool,
    /// The profile's `architectures` are honoured (runsc ignores them: native only).
    pub architectures: bool,
}

/// The OCI action with its errno as libseccomp takes it; `errno` is the rule's
/// `errnoRet`, or the default's.
pub fn scmp_action(action: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    use LinuxSeccompAction as A;
    let errno = errno.map_or(libc::EPERM, |e| i32::try_from(e).unwrap_or(i32::MAX));
    match action {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(errno),
        A::ScmpActTrace => ScmpAction::Trace(u16::try_from(errno).unwrap_or(u16::MAX)),
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActNotify => ScmpAction::Notify,
    }
}

fn scmp_arch(arch: Arch) -> Option<ScmpArch> {
    Some(match arch {
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        // Other architectures never see a call on this host; their rules change
        // nothing here.
        _ => return None,
    })
}

/// The conditions of `rule` as libseccomp takes them, grouped into the rules runc adds:
/// one rule with every condition, or one per condition when two share an argument.
fn condition_groups(rule: &LinuxSyscall) -> Vec<Vec<ScmpArgCompare>> {
    let Some(args) = rule.args().as_ref().filter(|a| !a.is_empty()) else {
        return vec![Vec::new()];
    };
    let compare = |a: &oci_spec::runtime::LinuxSeccompArg| {
        use LinuxSeccompOperator as O;
        let op = match a.op() {
            O::ScmpCmpNe => ScmpCompareOp::NotEqual,
            O::ScmpCmpLt => ScmpCompareOp::Less,
            O::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
            O::ScmpCmpEq => ScmpCompareOp::Equal,
            O::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
            O::ScmpCmpGt => ScmpCompareOp::Greater,
            O::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(a.value()),
        };
        let datum = if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
            a.value_two().unwrap_or(0)
        } else {
            a.value()
        };
        ScmpArgCompare::new(u32::try_from(a.index()).unwrap_or(u32::MAX), op, datum)
    };
    let mut indices: Vec<usize> = args.iter().map(|a| a.index()).collect();
    indices.sort_unstable();
    let shared = indices.windows(2).any(|w| w[0] == w[1]);
    if shared {
        args.iter().map(|a| vec![compare(a)]).collect()
    } else {
        vec![args.iter().map(compare).collect()]
    }
}

/// The kernel's limit on one seccomp program (`BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = 4096;

/// The architectures a runtime of `style` builds the filter for: the native one and,
/// where honoured, every one the profile lists.
fn filter_arches(seccomp: &LinuxSeccomp, style: Style) -> Vec<ScmpArch> {
    let mut arches = vec![ScmpArch::X8664];
    if style.architectures {
        for arch in seccomp.architectures().iter().flatten() {
            if let Some(a) = scmp_arch(*arch).filter(|a| !arches.contains(a)) {
                arches.push(a);
            }
        }
    }
    arches
}

/// More instructions than libseccomp spends on a filter: per architecture a fixed
/// part, per named call its comparison and return, per argument comparison the loads
/// and jumps of both 32-bit halves and a return. `a_bound_above_what_libseccomp_makes`
/// holds it against real programs of every shape; it spares compiling a whole profile
/// only to learn that it fits.
fn size_bound(seccomp: &LinuxSeccomp, style: Style) -> usize {
    let mut names = std::collections::BTreeSet::new();
    let mut comparisons = 0;
    for rule in seccomp.syscalls().iter().flatten() {
        let args = rule.args().as_ref().map_or(0, Vec::len);
        comparisons += rule.names().len() * args;
        names.extend(rule.names().iter().map(String::as_str));
    }
    filter_arches(seccomp, style).len() * (32 + 2 * names.len() + 6 * comparisons)
}

/// The length of the program libseccomp generates for `seccomp`, where it is past the
/// kernel's limit; `None` where it fits. Below [`size_bound`] nothing is compiled;
/// above it, each architecture's section (in parallel), and where their sum comes near
/// the limit, the whole filter at once, which is exact (its one shared dispatch makes
/// it a little shorter than the sum).
pub fn oversize(seccomp: &LinuxSeccomp, style: Style) -> Result<Option<usize>, CompileError> {
    if size_bound(seccomp, style) <= MAX_INSTRUCTIONS {
        return Ok(None);
    }
    let sum: usize = compile(seccomp, style)?
        .programs
        .iter()
        .map(|(_, p)| p.len())
        .sum();
    let arches = filter_arches(seccomp, style);
    let length = if arches.len() == 1 || sum < MAX_INSTRUCTIONS * 7 / 8 {
        sum
    } else {
        let default = scmp_action(seccomp.default_action(), seccomp.default_errno_ret());
        compile_arches(seccomp, &arches, default)?.len()
    };
    Ok((length > MAX_INSTRUCTIONS).then_some(length))
}

/// Compiles `seccomp` as a runtime of `style` would.
pub fn compile(seccomp: &LinuxSeccomp, style: Style) -> Result<Compiled, CompileError> {
    compile_parts(seccomp, seccomp, style)
}

/// Compiles the rules of `rules` (a part of `whole`, see `routes_only` in the
/// predictor), with runc's stub bound taken from the `whole` profile.
pub fn compile_parts(
    rules: &LinuxSeccomp,
    whole: &LinuxSeccomp,
    style: Style,
) -> Result<Compiled, CompileError> {
    let seccomp = rules;
    let default = scmp_action(seccomp.default_action(), seccomp.default_errno_ret());
    let arches = filter_arches(seccomp, style);
    // One thread per architecture: each is a filter of its own to libseccomp.
    let programs = std::thread::scope(|scope| {
        let handles: Vec<_> = arches
            .iter()
            .map(|arch| scope.spawn(move || (entry_key(*arch), cached(seccomp, *arch, default))))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok((key, program)) => program.map(|p| (key, p)),
                Err(_) => Err(CompileError::Libseccomp("a compile thread panicked".into())),
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let allows = matches!(default, ScmpAction::Allow | ScmpAction::Log);
    let enosys_default = seccomp.default_errno_ret() == Some(libc::ENOSYS.unsigned_abs());
    let enosys_above = if style.enosys_stub && !allows && !enosys_default {
        highest_named(whole, &arches)
    } else {
        Vec::new()
    };
    Ok(Compiled {
        programs,
        enosys_above,
    })
}

fn entry_key(arch: ScmpArch) -> (u32, bool) {
    match arch {
        ScmpArch::X86 => (AUDIT_ARCH_I386, false),
        ScmpArch::X32 => (AUDIT_ARCH_X86_64, true),
        _ => (AUDIT_ARCH_X86_64, false),
    }
}

type Programs = std::collections::HashMap<(String, i32), std::sync::Arc<Vec<Insn>>>;

/// The program of `arch` for `seccomp`, compiled once per process: `check` predicts
/// for three runtimes whose sections are the same.
fn cached(
    seccomp: &LinuxSeccomp,
    arch: ScmpArch,
    default: ScmpAction,
) -> Result<std::sync::Arc<Vec<Insn>>, CompileError> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Programs>> = std::sync::OnceLock::new();
    let key = (
        serde_json::to_string(seccomp).unwrap_or_default(),
        entry_key(arch).0 as i32 ^ i32::from(entry_key(arch).1),
    );
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(p);
    }
    let program = std::sync::Arc::new(compile_arches(seccomp, &[arch], default)?);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, program.clone());
    }
    Ok(program)
}

/// The filter of these architectures (x86_64 first when it is one of them).
fn compile_arches(
    seccomp: &LinuxSeccomp,
    arches: &[ScmpArch],
    default: ScmpAction,
) -> Result<Vec<Insn>, CompileError> {
    let mut ctx = ScmpFilterContext::new(default).map_err(lib)?;
    for arch in arches.iter().filter(|a| **a != ScmpArch::X8664) {
        ctx.add_arch(*arch).map_err(lib)?;
    }
    if !arches.contains(&ScmpArch::X8664) {
        ctx.remove_arch(ScmpArch::Native).map_err(lib)?;
    }
    for rule in seccomp.syscalls().iter().flatten() {
        let action = scmp_action(
            rule.action(),
            rule.errno_ret().or(seccomp.default_errno_ret()),
        );
        if action == default {
            continue;
        }
        for name in rule.names() {
            // Unknown to libseccomp: runc and crun leave the name out.
            let Ok(syscall) = libseccomp::ScmpSyscall::from_name(name) else {
                continue;
            };
            for group in condition_groups(rule) {
                let added = if group.is_empty() {
                    ctx.add_rule(action, syscall)
                } else {
                    ctx.add_rule_conditional(action, syscall, &group)
                };
                added.map_err(lib)?;
            }
        }
    }
    export(&ctx)
}

/// The program libseccomp generates, read back through a memfd.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<Insn>, CompileError> {
    use std::io::{Read, Seek};
    let fd = rustix::fs::memfd_create("breakout-filter", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| CompileError::Export(e.to_string()))?;
    let mut file = std::fs::File::from(fd);
    ctx.export_bpf(file.as_fd()).map_err(lib)?;
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|()| file.read_to_end(&mut bytes))
        .map_err(|e| CompileError::Export(e.to_string()))?;
    Insn::parse_program(&bytes).map_err(CompileError::Export)
}

/// runc's stub bound: per architecture of the filter, the highest number of any name
/// the profile lists (whatever its action). x32 shares x86_64's audit arch and has a
/// bound of its own (its numbers carry bit 30).
fn highest_named(seccomp: &LinuxSeccomp, arches: &[ScmpArch]) -> Vec<((u32, bool), i32)> {
    let mut out = Vec::new();
    for arch in arches {
        let key = match arch {
            ScmpArch::X86 => (AUDIT_ARCH_I386, false),
            ScmpArch::X32 => (AUDIT_ARCH_X86_64, true),
            _ => (AUDIT_ARCH_X86_64, false),
        };
        let max = seccomp
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names())
            .filter_map(|n| syscall_number(n, key.0, key.1))
            .max();
        if let Some(max) = max.filter(|m| *m != 0) {
            out.push((key, max));
        }
    }
    out
}

impl Compiled {
    /// What the filter answers a call of `nr` on `arch` with these arguments.
    pub fn action(&self, arch: u32, nr: i32, args: [u64; 6]) -> Result<Action, String> {
        let data = SeccompData {
            nr,
            arch,
            instruction_pointer: 0,
            args,
        };
        let key = (arch, arch == AUDIT_ARCH_X86_64 && nr & X32_SYSCALL_BIT != 0);
        // An entry the filter does not list: libseccomp's bad-arch action.
        let Some((_, program)) = self.programs.iter().find(|(k, _)| *k == key) else {
            return Ok(Action::KillThread);
        };
        let action = Action::from_ret(bpf::run(program, &data)?);
        if let Some((_, max)) = self.enosys_above.iter().find(|(k, _)| *k == key) {
            if nr > *max {
                return Ok(Action::Errno(libc::ENOSYS.unsigned_abs() as u16));
            }
        }
        Ok(action)
    }
}

/// The number of `name` on the entry `arch` (an `AUDIT_ARCH_*`, x32 by `x32`), as
/// libseccomp resolves it; `None` where the entry has no such call. Remembered: the
/// lookup is a scan of libseccomp's table, and `check` asks for the same few hundred
/// names again and again.
pub fn syscall_number(name: &str, arch: u32, x32: bool) -> Option<i32> {
    type Numbers = std::collections::HashMap<(String, u32, bool), Option<i32>>;
    static NUMBERS: std::sync::OnceLock<std::sync::Mutex<Numbers>> = std::sync::OnceLock::new();
    let numbers = NUMBERS.get_or_init(Default::default);
    let key = (name.to_string(), arch, x32);
    if let Some(known) = numbers.lock().ok().and_then(|n| n.get(&key).copied()) {
        return known;
    }
    let nr = resolve(name, arch, x32);
    if let Ok(mut n) = numbers.lock() {
        n.insert(key, nr);
    }
    nr
}

fn resolve(name: &str, arch: u32, x32: bool) -> Option<i32> {
    let scmp = match (arch, x32) {
        (AUDIT_ARCH_I386, _) => ScmpArch::X86,
        (_, true) => ScmpArch::X32,
        _ => ScmpArch::X8664,
    };
    libseccomp::ScmpSyscall::from_name_by_arch(name, scmp)
        .ok()
        .map(i32::from)
        .filter(|nr| *nr >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    const RUNC: Style = Style {
        enosys_stub: true,
        architectures: true,
    };

    fn native(c: &Compiled, name: &str, args: [u64; 6]) -> Action {
        let nr = syscall_number(name, AUDIT_ARCH_X86_64, false).unwrap();
        c.action(AUDIT_ARCH_X86_64, nr, args).unwrap()
    }

    #[test]
    fn a_bound_above_what_libseccomp_makes() {
        let arches = r#""architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]"#;
        let ops = [
            "SCMP_CMP_EQ",
            "SCMP_CMP_NE",
            "SCMP_CMP_GT",
            "SCMP_CMP_LE",
            "SCMP_CMP_MASKED_EQ",
        ];
        let mut shapes = Vec::new();
        // Many plain names; 64-bit comparisons of every operator, on one argument and
        // on several; two conditions on one argument (ORed rules).
        let names: Vec<String> = [
            "read", "write", "openat", "close", "fork", "clone", "mmap", "brk",
        ]
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect();
        shapes.push(format!(
            r#"{{"defaultAction": "SCMP_ACT_ERRNO", {arches}, "syscalls": [{{"names": [{}], "action": "SCMP_ACT_ALLOW"}}]}}"#,
            names.join(", ")
        ));
        // Every name its own answer, so no return is shared.
        let own: Vec<String> = crate::profile::SYSCALLS
            .iter()
            .take(300)
            .enumerate()
            .map(|(i, name)| {
                format!(
                    r#"{{"names": ["{name}"], "action": "SCMP_ACT_ERRNO", "errnoRet": {}}}"#,
                    i + 2
                )
            })
            .collect();
        shapes.push(format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", {arches}, "syscalls": [{}]}}"#,
            own.join(", ")
        ));
        for op in ops {
            let rules: Vec<String> = (0..40u64)
                .map(|i| {
                    let v = 0x1_0000_0001u64 * (i + 1);
                    format!(
                        r#"{{"names": ["socket", "personality"], "action": "SCMP_ACT_ERRNO", "args": [{{"index": 0, "value": {v}, "valueTwo": {i}, "op": "{op}"}}, {{"index": 1, "value": {v}, "valueTwo": 3, "op": "{op}"}}, {{"index": 1, "value": {i}, "op": "SCMP_CMP_EQ"}}]}}"#
                    )
                })
                .collect();
            shapes.push(format!(
                r#"{{"defaultAction": "SCMP_ACT_ALLOW", {arches}, "syscalls": [{}]}}"#,
                rules.join(", ")
            ));
        }
        let style = Style {
            enosys_stub: false,
            architectures: true,
        };
        for shape in shapes {
            let seccomp = profile(&shape);
            let default = scmp_action(seccomp.default_action(), seccomp.default_errno_ret());
            let made = compile_arches(&seccomp, &filter_arches(&seccomp, style), default)
                .unwrap()
                .len();
            let bound = size_bound(&seccomp, style);
            assert!(bound >= made, "{made} above {bound} for {shape}");
        }
    }

    #[test]
    fn a_deny_rule_with_its_errno() {
        let c = compile(
            &profile(
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["execve", "no_such_call"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22},
                    {"names": ["fork"], "action": "SCMP_ACT_KILL_PROCESS"}]}"#,
            ),
            RUNC,
        )
        .unwrap();
        assert_eq!(native(&c, "execve", [0; 6]), Action::Errno(22));
        assert_eq!(native(&c, "fork", [0; 6]), Action::KillProcess);
        assert_eq!(native(&c, "vfork", [0; 6]), Action::Allow);
        // No i386 in the profile: libseccomp's bad-arch action kills.
        let nr = syscall_number("fork", AUDIT_ARCH_I386, false).unwrap();
        assert_eq!(
            c.action(AUDIT_ARCH_I386, nr, [0; 6]),
            Ok(Action::KillThread)
        );
    }

    #[test]
    fn an_argument_rule_does_not_reach_through_socketcall() {
        let c = compile(
            &profile(
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                   "syscalls": [
                    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
                    {"names": ["write", "socketcall"], "action": "SCMP_ACT_ALLOW"}]}"#,
            ),
            RUNC,
        )
        .unwrap();
        assert_eq!(native(&c, "socket", [2, 0, 0, 0, 0, 0]), Action::Allow);
        assert_eq!(native(&c, "socket", [40, 0, 0, 0, 0, 0]), Action::Errno(1));
        let socketcall = syscall_number("socketcall", AUDIT_ARCH_I386, false).unwrap();
        assert_eq!(
            c.action(AUDIT_ARCH_I386, socketcall, [1, 0, 0, 0, 0, 0]),
            Ok(Action::Allow)
        );
    }

    #[test]
    fn runcs_stub_answers_enosys_above_the_profile() {
        let c = compile(
            &profile(
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "write", "clone"], "action": "SCMP_ACT_ALLOW"}]}"#,
            ),
            RUNC,
        )
        .unwrap();
        assert_eq!(native(&c, "clone", [0; 6]), Action::Allow);
        // Below the highest named call (clone, 56): the default's answer.
        assert_eq!(native(&c, "mmap", [0; 6]), Action::Errno(1));
        // Above it, even fork (57): ENOSYS, as runc's stub answers.
        assert_eq!(
            native(&c, "fork", [0; 6]),
            Action::Errno(libc::ENOSYS as u16)
        );
        assert_eq!(
            native(&c, "clone3", [0; 6]),
            Action::Errno(libc::ENOSYS as u16)
        );
    }
}
