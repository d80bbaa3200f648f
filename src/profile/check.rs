//! A profile check without a container: load it (every validation), resolve it for a
//! platform, judge whether runtimes can start a container under it, and warn about
//! rules that do not do what they seem to.
//!
//! What the warnings say libseccomp does was measured with libseccomp 2.5.4 (Debian
//! 12), which runc, crun and youki use to build the filter: a rule whose action is the
//! default action is refused (runc leaves it out); of two rules without argument
//! conditions for one syscall the first is kept and the second silently dropped; a
//! rule without conditions overrides rules with conditions for the same syscall,
//! whatever their order; two rules with the same conditions and different actions
//! are refused with EEXIST.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccompAction;
use serde::{Serialize, Serializer};

use super::analysis::{analyse, fate, Fate, StartAnalysis, PROCESS_NEEDS};
use super::names::{HostArch, Named};
use super::{Platform, Profile, ProfileError, Reading, Rule};

/// What runc returns for `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` without an `errnoRet`.
const EPERM: u32 = 1;

/// Names shown per rule in a warning before the rest are counted.
const NAMES_SHOWN: usize = 3;

/// The result of [`check`].
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The profile file.
    #[serde(serialize_with = "path_text")]
    pub path: PathBuf,
    /// Rules in the resolved filter.
    pub rules: usize,
    /// The resolved filter's architectures ("SCMP_ARCH_X86_64", ...); empty means the
    /// runtime's native one only.
    pub architectures: Vec<String>,
    /// "SCMP_ACT_ERRNO", ...
    pub default_action: String,
    pub analysis: StartAnalysis,
    /// Things that load and resolve but are probably not what was meant.
    pub warnings: Vec<String>,
    /// Of those, what a lenient reading let pass (Docker would), each
    /// `file:line:column: ...`.
    #[serde(skip)]
    pub reading_warnings: Vec<String>,
    /// The resolved filter, and each of its rules' index among the file's `syscalls`:
    /// what predictions are made from, without reading the file again.
    #[serde(skip)]
    pub resolved: oci_spec::runtime::LinuxSeccomp,
    #[serde(skip)]
    pub sources: Vec<usize>,
}

/// A path as JSON text: lossy where it is not UTF-8 (serde refuses such a path, which
/// would cost the whole report).
pub fn path_text<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

/// Loads the profile at `path`, resolves it for `platform` and judges it.
///
/// The start analysis knows what a process needs to start on x86_64; on another
/// architecture it judges only the runtime's `execve`, and a warning says so.
pub fn check(
    path: &Path,
    platform: &Platform,
    reading: Reading,
) -> Result<CheckReport, ProfileError> {
    let profile = Profile::read(path, reading)?;
    let (seccomp, sources) = profile.resolve_traced(platform)?;
    // resolve has refused architectures Docker has no name for.
    let host = HostArch::from_machine(&platform.arch);
    let x86_64 = host.is_some_and(|h| h.docker == "amd64");

    // What a lenient reading let pass comes first: it changes what the rest judges.
    let mut warnings = profile.warnings.clone();
    let analysis = if x86_64 {
        analyse(&seccomp, PROCESS_NEEDS)
    } else {
        warnings.push(format!(
            "what a process needs to start is known for x86_64 only: on {} only the \
             runtime's execve was judged",
            platform.arch
        ));
        analyse(&seccomp, &[])
    };
    warnings.extend(no_effect(&profile));
    if let Some(host) = host {
        warnings.extend(conflicts(&profile, host.docker, platform));
    }
    warnings.extend(exit_warning(
        fate(&seccomp, "exit_group"),
        fate(&seccomp, "exit"),
    ));

    Ok(CheckReport {
        path: path.to_path_buf(),
        rules: seccomp.syscalls().as_ref().map_or(0, Vec::len),
        architectures: seccomp
            .architectures()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|&a| Named::name_of(a).map_or_else(|| format!("{a:?}"), str::to_string))
            .collect(),
        default_action: action_name(seccomp.default_action()),
        analysis,
        warnings,
        reading_warnings: profile.warnings.clone(),
        resolved: seccomp,
        sources,
    })
}

impl CheckReport {
    /// A few lines for humans: the profile, whether it can start, the warnings.
    pub fn to_text(&self) -> String {
        self.text(true)
    }

    /// [`CheckReport::to_text`] without the start line, for a caller that says per
    /// runtime whether it starts (`breakout check`).
    pub fn text_without_start(&self) -> String {
        self.text(false)
    }

    fn text(&self, start: bool) -> String {
        let architectures = if self.architectures.is_empty() {
            "native only".to_string()
        } else {
            self.architectures.join(", ")
        };
        let mut out = format!(
            "{}: {} rule{}, default action {}, architectures {}\n",
            self.path.display(),
            self.rules,
            if self.rules == 1 { "" } else { "s" },
            self.default_action,
            architectures
        );
        // Writing to a String cannot fail.
        if start {
            let _ = writeln!(out, "start: {}", self.analysis.summary());
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        out
    }
}

fn action_name(action: LinuxSeccompAction) -> String {
    Named::name_of(action).map_or_else(|| format!("{action:?}"), str::to_string)
}

/// An action with the value it returns, where it returns one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Effect {
    action: LinuxSeccompAction,
    ret: Option<u32>,
}

impl Effect {
    fn new(action: LinuxSeccompAction, errno_ret: Option<u32>) -> Effect {
        let ret = match action {
            LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace => {
                Some(errno_ret.unwrap_or(EPERM))
            }
            _ => None,
        };
        Effect { action, ret }
    }

    fn of_default(profile: &Profile) -> Effect {
        Effect::new(profile.default_action(), profile.default_errno_ret())
    }

    fn of(rule: &Rule) -> Effect {
        Effect::new(rule.action, rule.errno_ret)
    }

    fn text(self) -> String {
        match self.ret {
            Some(ret) => format!("{}({ret})", action_name(self.action)),
            None => action_name(self.action),
        }
    }
}

/// `"a", "b", "c"`, or `"a", "b", "c" and 4 more`.
fn quoted<S: AsRef<str>>(names: &[S]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(NAMES_SHOWN)
        .map(|n| format!("{:?}", n.as_ref()))
        .collect();
    match names.len().checked_sub(NAMES_SHOWN) {
        Some(rest) if rest > 0 => format!("{} and {rest} more", shown.join(", ")),
        _ => shown.join(", "),
    }
}

/// Rules whose action is the default action: they change nothing, on any platform.
fn no_effect(profile: &Profile) -> Vec<String> {
    let default = Effect::of_default(profile);
    profile
        .rules()
        .iter()
        .enumerate()
        .filter(|(_, rule)| Effect::of(rule) == default)
        .map(|(i, rule)| {
            format!(
                "syscalls[{i}] ({}): its action {} is the default action, so the rule has \
                 no effect",
                quoted(&rule.names),
                default.text()
            )
        })
        .collect()
}

/// Pairs of rules that survive resolution, name the same syscalls and disagree on the
/// action. Rules with the default action are left to [`no_effect`].
fn conflicts(profile: &Profile, arch: &str, platform: &Platform) -> Vec<String> {
    let default = Effect::of_default(profile);
    let applied: Vec<(usize, &Rule, Effect)> = profile
        .rules()
        .iter()
        .enumerate()
        .filter(|(_, rule)| rule.applies(arch, platform) == Ok(true))
        .map(|(i, rule)| (i, rule, Effect::of(rule)))
        .filter(|(_, _, effect)| *effect != default)
        .collect();

    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (k, (_, rule, _)) in applied.iter().enumerate() {
        for name in &rule.names {
            let ks = by_name.entry(name.as_str()).or_default();
            if ks.last() != Some(&k) {
                ks.push(k);
            }
        }
    }
    let mut pairs: BTreeMap<(usize, usize), Vec<&str>> = BTreeMap::new();
    for (name, ks) in by_name {
        for (at, &a) in ks.iter().enumerate() {
            for &b in &ks[at + 1..] {
                if applied[a].2 != applied[b].2 {
                    pairs.entry((a, b)).or_default().push(name);
                }
            }
        }
    }
    pairs
        .into_iter()
        .map(|((a, b), names)| conflict_text(applied[a], applied[b], &names))
        .collect()
}

/// Says what libseccomp makes of two rules (in file order) that disagree on `names`.
fn conflict_text(
    (i, first, first_effect): (usize, &Rule, Effect),
    (j, second, second_effect): (usize, &Rule, Effect),
    names: &[&str],
) -> String {
    let names = quoted(names);
    let (a, b) = (first_effect.text(), second_effect.text());
    match (first.args.is_empty(), second.args.is_empty()) {
        (true, true) => format!(
            "syscalls[{i}] ({a}) and syscalls[{j}] ({b}) both name {names} without argument \
             conditions: libseccomp keeps syscalls[{i}] and ignores syscalls[{j}] for them"
        ),
        (true, false) => format!(
            "syscalls[{i}] ({a}, without argument conditions) and syscalls[{j}] ({b}, with \
             them) both name {names}: libseccomp applies syscalls[{i}] to every call and \
             ignores syscalls[{j}] for them"
        ),
        (false, true) => format!(
            "syscalls[{i}] ({a}, with argument conditions) and syscalls[{j}] ({b}, without) \
             both name {names}: libseccomp applies syscalls[{j}] to every call and ignores \
             syscalls[{i}] for them"
        ),
        (false, false) if first.args == second.args => format!(
            "syscalls[{i}] ({a}) and syscalls[{j}] ({b}) both name {names} with the same \
             argument conditions: libseccomp refuses such rules, so runtimes that use it \
             (runc, crun, youki) may fail to start the container"
        ),
        (false, false) => format!(
            "syscalls[{i}] ({a}) and syscalls[{j}] ({b}) both name {names} with different \
             argument conditions: where both hold, which action applies is up to the \
             runtime's seccomp library"
        ),
    }
}

/// Denying `exit_group` does not keep a process from starting, but from ending as it
/// means to. glibc's `_exit` tries `exit_group`, then `exit`, then crashes; musl's
/// retries `exit` forever; Go's runtime crashes.
fn exit_warning(exit_group: Fate, exit: Fate) -> Option<String> {
    let text = match (exit_group, exit) {
        (Fate::Allowed, _) => return None,
        (Fate::Killed, _) => {
            "kills on exit_group: a process that ends by itself is killed by SIGSYS instead \
             of exiting with its status"
        }
        (Fate::Fails, Fate::Allowed) => {
            "makes exit_group fail: glibc and musl fall back to exit, go programs crash when \
             they exit"
        }
        (Fate::Fails, Fate::Fails) => {
            "makes exit_group and exit fail: processes cannot exit (glibc programs crash \
             with SIGSEGV when they try, musl programs retry forever)"
        }
        (Fate::Fails, Fate::Killed) => {
            "makes exit_group fail and kills on exit: processes are killed by SIGSYS when \
             they exit"
        }
    };
    Some(text.to_string())
}
