//! Seccomp profiles: the Docker/Moby and bare OCI JSON forms, their validation, and
//! their resolution into the `linux.seccomp` object Docker would hand the runtime.
//!
//! A profile is loaded once ([`Profile::load`]), which checks all of it and reports
//! the first problem with its file, line and column. It is then resolved for a
//! [`Platform`] ([`Profile::resolve`]) exactly as moby's `setupSeccomp` does:
//!
//! * `architectures` are taken as they are. From `archMap`, the entry whose
//!   `architecture` is the host's own is taken, followed by its `subArchitectures`;
//!   the other entries are ignored. A profile may not have both.
//! * A rule is dropped when `excludes.arches` holds the host architecture, when
//!   `excludes.caps` holds *any* capability the container has, or when the kernel
//!   is at least `excludes.minKernel`. It is also dropped when `includes.arches` is
//!   non-empty and lacks the host architecture, when the container lacks *any* of
//!   `includes.caps`, or when the kernel is older than `includes.minKernel`.
//!   Architectures in conditions use Docker's spelling ("amd64", "arm64"), and
//!   capabilities are compared with the container's bounding set.
//! * Surviving rules keep their order, names (the old singular `name` becomes a
//!   one-element `names`), action, `errnoRet` and `args`; `defaultAction`,
//!   `defaultErrnoRet`, `flags`, `listenerPath` and `listenerMetadata` are copied.
//!
//! Docker accepts what decodes and leaves the runtime to fail at the container's start,
//! or silently ignores what it does not know. A file is read as Docker reads it
//! ([`Reading::Lenient`], the default; `lenient.rs`): an unknown key, a key in another
//! case ("Names"), a duplicate key (the last wins) and a syscall name libseccomp does
//! not know (runc leaves it out) pass, each with a warning at its place, and
//! [`Reading::Strict`] (`--strict`) makes each an error. Everything else is an error
//! either way: unknown actions, architectures, operators, flags and capabilities,
//! rules without syscall names, argument indexes above 5, and JSON lists where objects
//! belong. `defaultAction` is required: Docker reads a profile with neither it nor
//! rules as "no filter at all", which the container settings say with `unconfined`,
//! not with a profile. Syscall names are checked against [`SYSCALLS`] (every name the
//! kernel or libseccomp knows on any architecture); a near miss is named ("did you
//! mean"), as is a near miss of an action.
//!
//! [`start_analysis`] judges whether runtimes can start a container under a resolved
//! profile at all, and [`check`] wraps loading, resolution and that judgement into a
//! report with warnings about rules that do not do what they seem to.
//!
//! Error positions are 1-based lines and columns, in characters, of the first
//! character of the offending value (for a whole rule, its opening brace).

mod analysis;
mod check;
mod error;
mod lenient;
mod names;
mod platform;
mod raw;
pub mod syscalls;

#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompFilterFlag, LinuxSyscall, LinuxSyscallBuilder,
};

pub(crate) use analysis::and_list as analysis_and_list;
pub use analysis::{known_start_needs, runtime_start_needs, start_analysis, StartAnalysis};
pub use check::{check, path_text, CheckReport};
pub use error::{FileError, ProfileError};
pub use platform::Platform;
pub use syscalls::SYSCALLS;

use names::{HostArch, KNOWN_MACHINES};
use raw::{Obj, RawProfile};

/// A parsed and validated seccomp profile, not yet resolved for a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    path: PathBuf,
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    architectures: Vec<Arch>,
    arch_map: Vec<ArchMapEntry>,
    flags: Vec<LinuxSeccompFilterFlag>,
    listener_path: Option<String>,
    listener_metadata: Option<String>,
    rules: Vec<Rule>,
    /// What a lenient reading let pass, as Docker does, each `file:line:column: ...`.
    pub warnings: Vec<String>,
}

/// How a profile file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reading {
    /// As Docker reads it: unknown keys, keys in another case, duplicate keys and
    /// syscall names libseccomp does not know pass, each with a warning.
    #[default]
    Lenient,
    /// Each of those is an error (`--strict`, for CI).
    Strict,
}

/// What to say of a directory given as a profile: the JSON files in it.
fn directory_hint(path: &Path) -> String {
    let mut files: Vec<String> = fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    files.truncate(5);
    if files.is_empty() {
        "it is a directory; give the profile file itself".to_string()
    } else {
        format!(
            "it is a directory; give the profile file itself (JSON files in it: {})",
            files.join(", ")
        )
    }
}

/// One `archMap` entry: an architecture and the ones that come with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchMapEntry {
    pub architecture: Arch,
    pub sub_architectures: Vec<Arch>,
}

/// One entry of `syscalls`, with its conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// At least one name, none empty.
    pub names: Vec<String>,
    pub action: LinuxSeccompAction,
    pub errno_ret: Option<u32>,
    pub args: Vec<LinuxSeccompArg>,
    pub comment: Option<String>,
    pub includes: Condition,
    pub excludes: Condition,
}

/// `includes` or `excludes` of a rule; empty parts impose nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    /// Capability names as Docker compares them ("CAP_SYS_ADMIN").
    pub caps: Vec<String>,
    /// Architecture names in Docker's spelling ("amd64", "arm64", "s390x").
    pub arches: Vec<String>,
    /// Kernel version and major revision.
    pub min_kernel: Option<(u32, u32)>,
}

impl Profile {
    /// Reads and validates the profile at `path`, leniently ([`Reading::Lenient`]).
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        Profile::read(path, Reading::Lenient)
    }

    /// Reads and validates the profile at `path`.
    pub fn read(path: &Path, reading: Reading) -> Result<Profile, ProfileError> {
        if path.is_dir() {
            return Err(ProfileError::File(FileError::Read {
                what: "profile",
                path: path.to_path_buf(),
                error: std::io::Error::other(directory_hint(path)),
            }));
        }
        let bytes = fs::read(path).map_err(|error| {
            ProfileError::File(FileError::Read {
                what: "profile",
                path: path.to_path_buf(),
                error,
            })
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            // Everything before `valid` is UTF-8, so it can be measured as text.
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let (line, column) = error::position_of(&prefix, prefix.len());
            ProfileError::File(FileError::Encoding {
                path: path.to_path_buf(),
                line,
                column,
            })
        })?;
        // A security-profiles-operator SeccompProfile (YAML) is taken for its spec,
        // which is the profile; positions then refer to that spec written as JSON.
        let text = match crate::kube::seccomp_profile_spec(path) {
            Some(spec) if !text.trim_start().starts_with('{') => {
                serde_json::to_string_pretty(&spec).unwrap_or(text)
            }
            _ => text,
        };
        match reading {
            Reading::Strict => Profile::parse(&text, path),
            Reading::Lenient => lenient::parse(&text, path).map(|(mut profile, warnings)| {
                profile.warnings = warnings;
                profile
            }),
        }
    }

    /// Validates a profile given as text; `path` is where it came from, for messages.
    pub fn parse(text: &str, path: &Path) -> Result<Profile, ProfileError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let Obj(raw): Obj<RawProfile> = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| error::from_serde(path, text, e))?;
        // Trailing non-whitespace after the object.
        de.end()
            .map_err(|e| error::from_json(path, text, "top level".to_string(), e))?;

        if !raw.architectures.is_empty() && !raw.arch_map.is_empty() {
            let (line, column) = error::key_position(text, "archMap");
            return Err(ProfileError::File(FileError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                field: "archMap".to_string(),
                message: "both \"architectures\" and \"archMap\" are given; docker refuses \
                          this: use one of them"
                    .to_string(),
            }));
        }

        let build = |message: String| ProfileError::Build {
            path: path.to_path_buf(),
            message,
        };
        let mut rules = Vec::with_capacity(raw.syscalls.len());
        for rule in raw.syscalls {
            let mut args = Vec::with_capacity(rule.args.len());
            for arg in &rule.args {
                // valueTwo is written even when 0 so that every comparison carries
                // all four keys; runc reads a missing one as 0 anyway.
                let built = LinuxSeccompArgBuilder::default()
                    .index(arg.index.0)
                    .value(arg.value.0)
                    .value_two(arg.value_two.map_or(0, |v| v.0))
                    .op(arg.op.0)
                    .build()
                    .map_err(|e| build(e.to_string()))?;
                args.push(built);
            }
            let condition = |f: raw::RawFilter| Condition {
                caps: f.caps.into_iter().map(|c| c.0).collect(),
                arches: f.arches.into_iter().map(|a| a.0).collect(),
                min_kernel: f.min_kernel.and_then(|k| k.0),
            };
            rules.push(Rule {
                names: rule.names,
                action: rule.action,
                errno_ret: rule.errno_ret,
                args,
                comment: rule.comment,
                includes: condition(rule.includes),
                excludes: condition(rule.excludes),
            });
        }

        Ok(Profile {
            path: path.to_path_buf(),
            warnings: Vec::new(),
            default_action: raw.default_action.0,
            default_errno_ret: raw
                .default_errno_ret
                .map(|e| e.0)
                .or(raw.default_errno.map(|e| e.0)),
            architectures: raw.architectures.into_iter().map(|a| a.0).collect(),
            arch_map: raw
                .arch_map
                .into_iter()
                .map(|Obj(m)| ArchMapEntry {
                    architecture: m.architecture.0,
                    sub_architectures: m.sub_architectures.into_iter().map(|a| a.0).collect(),
                })
                .collect(),
            flags: raw.flags.into_iter().map(|f| f.0).collect(),
            // Docker omits an empty listenerPath/listenerMetadata from what it hands on.
            listener_path: raw.listener_path.filter(|p| !p.is_empty()),
            listener_metadata: raw.listener_metadata.filter(|m| !m.is_empty()),
            rules,
        })
    }

    /// The filter Docker would hand the runtime for this profile on `platform`.
    pub fn resolve(&self, platform: &Platform) -> Result<LinuxSeccomp, ProfileError> {
        self.resolve_traced(platform).map(|(seccomp, _)| seccomp)
    }

    /// [`Profile::resolve`], with the index in this profile's `syscalls` of each rule
    /// the resolved filter keeps (rules Docker drops for this platform leave gaps).
    pub fn resolve_traced(
        &self,
        platform: &Platform,
    ) -> Result<(LinuxSeccomp, Vec<usize>), ProfileError> {
        let host = HostArch::from_machine(&platform.arch).ok_or_else(|| {
            ProfileError::UnknownHostArch {
                path: self.path.clone(),
                arch: platform.arch.clone(),
                known: KNOWN_MACHINES,
            }
        })?;

        let mut architectures = self.architectures.clone();
        if let Some(native) = host.seccomp {
            // Only the first matching entry counts, as in moby.
            if let Some(entry) = self.arch_map.iter().find(|e| e.architecture == native) {
                architectures.push(entry.architecture);
                architectures.extend(entry.sub_architectures.iter().copied());
            }
        }

        let mut syscalls = Vec::new();
        let mut sources = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if rule
                .applies(host.docker, platform)
                .map_err(|()| ProfileError::UnknownKernel {
                    path: self.path.clone(),
                    rule: index,
                })?
            {
                syscalls.push(self.to_oci(rule)?);
                sources.push(index);
            }
        }

        // Empty lists are left out, as Go's omitempty leaves them out of Docker's.
        let mut seccomp = LinuxSeccompBuilder::default().default_action(self.default_action);
        if let Some(errno) = self.default_errno_ret {
            seccomp = seccomp.default_errno_ret(errno);
        }
        if !architectures.is_empty() {
            seccomp = seccomp.architectures(architectures);
        }
        if !self.flags.is_empty() {
            seccomp = seccomp.flags(self.flags.clone());
        }
        if let Some(listener) = &self.listener_path {
            seccomp = seccomp.listener_path(listener);
        }
        if let Some(metadata) = &self.listener_metadata {
            seccomp = seccomp.listener_metadata(metadata.clone());
        }
        if !syscalls.is_empty() {
            seccomp = seccomp.syscalls(syscalls);
        }
        let seccomp = seccomp.build().map_err(|e| ProfileError::Build {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        Ok((seccomp, sources))
    }

    /// Where the profile was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn default_action(&self) -> LinuxSeccompAction {
        self.default_action
    }

    pub fn default_errno_ret(&self) -> Option<u32> {
        self.default_errno_ret
    }

    /// `architectures` as the file gives them (bare OCI form).
    pub fn architectures(&self) -> &[Arch] {
        &self.architectures
    }

    /// `archMap` as the file gives it (Docker form).
    pub fn arch_map(&self) -> &[ArchMapEntry] {
        &self.arch_map
    }

    /// The rules in file order, before resolution.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    fn to_oci(&self, rule: &Rule) -> Result<LinuxSyscall, ProfileError> {
        let mut syscall = LinuxSyscallBuilder::default()
            .names(rule.names.clone())
            .action(rule.action);
        if let Some(errno) = rule.errno_ret {
            syscall = syscall.errno_ret(errno);
        }
        if !rule.args.is_empty() {
            syscall = syscall.args(rule.args.clone());
        }
        syscall.build().map_err(|e| ProfileError::Build {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
}

impl Rule {
    /// Whether Docker keeps this rule on `platform`, whose architecture Docker
    /// calls `arch`. Checks run in moby's order, which matters only for when an
    /// unknown kernel version becomes an error (`Err(())`).
    fn applies(&self, arch: &str, platform: &Platform) -> Result<bool, ()> {
        let has = |cap: &String| platform.caps.contains(cap);
        let kernel_at_least = |min: (u32, u32)| {
            if platform.kernel == (0, 0) {
                Err(())
            } else {
                Ok(platform.kernel >= min)
            }
        };

        let ex = &self.excludes;
        if ex.arches.iter().any(|a| a == arch) || ex.caps.iter().any(has) {
            return Ok(false);
        }
        if let Some(min) = ex.min_kernel {
            if kernel_at_least(min)? {
                return Ok(false);
            }
        }

        let inc = &self.includes;
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch) {
            return Ok(false);
        }
        if !inc.caps.iter().all(has) {
            return Ok(false);
        }
        if let Some(min) = inc.min_kernel {
            if !kernel_at_least(min)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
