//! Scenario files: the regression suite users keep in git. A scenario names a
//! profile, container settings, runtimes and probes, and the verdicts it expects.
//!
//! This module reads and validates them ([`Scenario::load`], [`discover`]), answers
//! what is expected of each runtime and probe step ([`Expectations`]), and compares
//! a run with it ([`judge`]). It starts nothing.
//!
//! # File format
//!
//! A scenario is one JSON object. Every key but `runtimes` is optional; `null` means
//! the same as leaving a key out. **Unknown keys are errors** everywhere, as are
//! unknown names (runtimes, goals, probe ids, outcomes), so a typo cannot silently
//! turn an expectation off.
//!
//! ```json
//! {
//!   "name": "seed-minus-execve",
//!   "description": "The seed's deny list without execve",
//!   "profile": "profiles/seed-minus-execve.json",
//!   "settings": {
//!     "read_only": false, "cap_add": [], "cap_drop": [], "volumes": [], "tmpfs": ["/scratch:exec"],
//!     "user": null, "network": "none", "security_opt": ["no-new-privileges"], "rootfs": null
//!   },
//!   "runtimes": ["runc", "crun", "runsc", "runsc-oci"],
//!   "probes": ["exec.*", "spawn.*"],
//!   "timeout": 60,
//!   "expect": {
//!     "start": "starts",
//!     "default": "blocked",
//!     "goals": {"fs": "not-applicable"},
//!     "probes": {"spawn.vfork": "escaped", "exec.execve": "escaped", "fs.write-mount@/scratch": "escaped",
//!                "exec.i386": "blocked:SIGSYS", "kernel.ptrace": "any"},
//!     "runtimes": {
//!       "runc":  {"start": "fails-to-start"},
//!       "runsc": {"default": "escaped", "probes": {"spawn.clone3": "blocked:ENOSYS"}}
//!     }
//!   }
//! }
//! ```
//!
//! | key | meaning |
//! |---|---|
//! | `name` | the scenario's name; trials are named `NAME::RUNTIME`. No whitespace, no `::`, unique within a suite. Default: the file name without `.json` |
//! | `description` | free text |
//! | `profile` | the seccomp profile, in one of these forms: a path; a list of paths, of which the first that exists is used (a machine keeps Docker's default at `/etc/docker/seccomp.json`, CI at a path of its own); `"unconfined"`; `{"inline": {...}}`, a profile object written in the scenario. Left out: no filter. Relative paths are relative to the scenario file's directory. A single path must exist; when no path of a list exists the scenario is still valid, and its trials are ignored with the reason ([`Scenario::ignore_reason`]). Profiles that exist, and inline ones, are validated when the scenario is loaded |
//! | `settings` | the container settings, the `run` flags' values by the flag's name: `read_only` (bool), `cap_add`, `cap_drop`, `volumes` (`SRC:DST[:OPTS]`), `tmpfs` (`DST[:OPTS]`), `security_opt` (lists of strings), `user`, `network`, `rootfs` (strings). A relative volume source or rootfs is relative to the scenario file's directory. The profile is set by `profile`, not by `security_opt` `seccomp=...` |
//! | `runtimes` | required, non-empty: runtime names from the quirks table (`runc`, `crun`, `runsc`, `runsc-oci`, ...), or `NAME=PATH[,FLAG...]` as `--runtime` takes it (a relative PATH is relative to the scenario file). Whether a runtime is installed is not checked here |
//! | `probes` | glob patterns over probe ids (`"spawn.*"`), each matching at least one probe; default: every probe |
//! | `timeout` | seconds each container may run, 1 to 3600; default: the harness's |
//! | `expect.start` | `"starts"` (the default) or `"fails-to-start"` |
//! | `expect.default` | the expected verdict of every step nothing more specific covers; default `"blocked"` |
//! | `expect.goals` | goal name (`exec`, `spawn`, `namespace`, `fs`, `net`, `kernel`, `ipc`) -> expected verdict |
//! | `expect.probes` | probe id -> expected verdict, covering all of a per-mount probe's steps; or a step `ID@/MOUNT` (a per-mount probe on one of the scenario's mount points) -> expected verdict |
//! | `expect.runtimes` | runtime name (one listed in `runtimes`) -> an object with `start`, `default`, `goals` and `probes` as above, for that runtime only |
//!
//! An **expected verdict** is `any` (every verdict matches), an outcome (`escaped`,
//! `blocked`, `not-applicable`, `error`, `not-run`), or an outcome and the mechanism
//! it must come with, `OUTCOME:MECHANISM` (`blocked:EPERM`, `blocked:SIGSYS`,
//! `error:timeout`); mechanisms are compared exactly. A mechanism is a Linux errno
//! name, a signal name, or one of breakout's own (see [`crate::report::Kind`]); any
//! other name is an error with the nearest known one suggested, since it could never
//! match.
//!
//! **Precedence**, most specific first, for step `fs.write-mount@/scratch` under
//! runtime `R`: `expect.runtimes.R.probes["fs.write-mount@/scratch"]`,
//! `expect.runtimes.R.probes["fs.write-mount"]`, `expect.runtimes.R.goals.fs`,
//! `expect.runtimes.R.default`, then the same four at the top of `expect`. A
//! runtime's `default` therefore beats every scenario-wide expectation.
//!
//! A container expected to start that does not is a failure naming the runtime's
//! error; one expected not to start that starts is a failure too. When it fails to
//! start as expected, its `not-run` verdicts pass.
//!
//! **Errors** read `FILE:LINE:COLUMN: key.path: problem`, the key path quoting keys
//! that are not plain words (`expect.probes["exec.memfd"]`); see [`ScenarioError`].
//!
//! When [`discover`] walks a directory it loads every `*.json` file below it except
//! hidden entries and seccomp profiles (a top-level `defaultAction` key and no
//! `runtimes`), since profiles usually live beside the scenarios that use them. A
//! directory holding no scenario is an error, so that a mistyped path cannot make an
//! empty suite pass.

mod error;
mod expect;
mod judge;
mod raw;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::container::{RawSettings, SettingsError};
use crate::profile::{Profile, ProfileError};
use crate::runtime::RuntimeKind;

pub use error::ScenarioError;
pub use expect::{Expectations, Expected, RuntimeExpectations, StartExpectation};
pub use judge::judge;

use error::{invalid_at, position_at, position_of, Seg};
use raw::{Obj, RawProfile, RawScenario};

/// One scenario file, validated; relative paths in it are resolved against its
/// directory.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// The file it was read from, as given.
    pub file: PathBuf,
    pub profile: ProfileSource,
    /// The container settings as written (paths resolved), checked with
    /// [`RawSettings::validate_for`] without a bounding set: whether this host can
    /// grant an added capability is for the run to find out (`validate()`).
    /// `profile` is always `None` here: the profile is [`Scenario::profile`].
    pub settings: RawSettings,
    /// Runtime specs for [`crate::runtime::Runtime::lookup`]; see [`runtime_name`].
    pub runtimes: Vec<String>,
    /// Probe glob patterns for [`crate::run::select_probes`]; empty means all.
    pub probes: Vec<String>,
    pub timeout: Option<u64>,
    pub expect: Expectations,
}

/// Where a scenario's seccomp profile comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileSource {
    /// No `profile`: no filter.
    None,
    /// `"unconfined"`: no filter, by request.
    Unconfined,
    /// A profile file that exists (the first existing one of a list).
    File(PathBuf),
    /// None of the listed paths exists on this machine: the trials are ignored.
    Missing { tried: Vec<PathBuf> },
    /// `{"inline": {...}}`: the profile object, already validated.
    Inline(serde_json::Value),
}

/// The name a runtime spec reports under: the spec itself, or NAME of `NAME=PATH`.
pub fn runtime_name(spec: &str) -> &str {
    spec.split_once('=').map_or(spec, |(name, _)| name)
}

impl Scenario {
    /// Reads and validates the scenario at `path`.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let bytes = fs::read(path).map_err(|error| ScenarioError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            // Everything before `valid` is UTF-8, so it can be measured as text.
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let (line, column) = position_of(&prefix, prefix.len());
            ScenarioError::Encoding {
                path: path.to_path_buf(),
                line,
                column,
            }
        })?;
        Scenario::parse(&text, path)
    }

    /// Validates a scenario given as text; `path` is where it came from, for
    /// messages and for resolving the relative paths in it.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let Obj(raw): Obj<RawScenario> = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| error::from_serde(path, text, e))?;
        // Trailing non-whitespace after the object.
        de.end().map_err(|e| error::from_json(path, text, &[], e))?;
        Builder { text, path }.build(raw)
    }

    /// Why this scenario's trials cannot run on this machine, if they cannot.
    pub fn ignore_reason(&self) -> Option<String> {
        match &self.profile {
            ProfileSource::Missing { tried } => Some(format!(
                "none of the profile paths exists: {}",
                tried
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => None,
        }
    }
}

/// Turns what serde read into a `Scenario`, running the checks that need more than
/// one value; errors point into `text`.
struct Builder<'a> {
    text: &'a str,
    path: &'a Path,
}

fn key(k: &str) -> Seg {
    Seg::key(k)
}

impl Builder<'_> {
    fn at_value(&self, segs: &[Seg], message: impl Into<String>) -> ScenarioError {
        invalid_at(self.path, self.text, segs, false, message)
    }

    fn at_key(&self, segs: &[Seg], message: impl Into<String>) -> ScenarioError {
        invalid_at(self.path, self.text, segs, true, message)
    }

    /// The directory relative paths in the scenario are relative to.
    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    fn build(&self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        let name = match raw.name {
            Some(n) => n.0,
            None => {
                let stem = self
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                raw::check_name(&stem).map_err(|problem| {
                    self.at_value(
                        &[],
                        format!("no \"name\", and the file name is no usable one: {problem}"),
                    )
                })?;
                stem
            }
        };
        let runtimes = self.runtimes(raw.runtimes.0)?;
        let settings = self.settings(raw.settings.map(|s| s.0).unwrap_or_default())?;
        let mounts = settings
            .validate_for(None)
            .map_err(|e| self.settings_error(e, &settings))?
            .mount_points();
        let profile = self.profile(raw.profile)?;
        let expect = match raw.expect {
            Some(Obj(e)) => self.expectations(e, &runtimes, &mounts)?,
            None => Expectations::default(),
        };
        Ok(Scenario {
            name,
            description: raw.description,
            file: self.path.to_path_buf(),
            profile,
            settings,
            runtimes,
            probes: raw
                .probes
                .map(|ps| ps.into_iter().map(|p| p.0).collect())
                .unwrap_or_default(),
            timeout: raw.timeout.map(|t| t.0),
            expect,
        })
    }

    /// Refuses a runtime listed twice; resolves custom runtimes' relative paths.
    fn runtimes(&self, specs: Vec<String>) -> Result<Vec<String>, ScenarioError> {
        let mut out: Vec<String> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            let name = runtime_name(&spec);
            if out.iter().any(|s| runtime_name(s) == name) {
                return Err(self.at_value(
                    &[key("runtimes"), Seg::Index(i)],
                    format!("runtime {name:?} is listed twice"),
                ));
            }
            let resolved = match spec.split_once('=') {
                Some((name, rest)) if !rest.starts_with('/') => {
                    format!("{name}={}", self.dir().join(rest).display())
                }
                _ => spec,
            };
            out.push(resolved);
        }
        Ok(out)
    }

    fn settings(&self, s: raw::RawSettings) -> Result<RawSettings, ScenarioError> {
        let security_opts = s.security_opt.unwrap_or_default();
        for (i, opt) in security_opts.iter().enumerate() {
            if opt.starts_with("seccomp=") || opt.starts_with("seccomp:") {
                return Err(self.at_value(
                    &[key("settings"), key("security_opt"), Seg::Index(i)],
                    format!(
                        "{opt:?}: a scenario sets its seccomp profile with the top-level \
                         \"profile\" key (a path, a list of paths, \"unconfined\" or \
                         {{\"inline\": {{...}}}})"
                    ),
                ));
            }
        }
        let volumes = s
            .volumes
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, v)| self.resolve_volume(v, i))
            .collect::<Result<_, _>>()?;
        Ok(RawSettings {
            profile: None,
            security_opts,
            cap_add: s.cap_add.unwrap_or_default(),
            cap_drop: s.cap_drop.unwrap_or_default(),
            read_only: s.read_only.unwrap_or(false),
            volumes,
            tmpfs: s.tmpfs.unwrap_or_default(),
            user: s.user,
            network: s.network,
            rootfs: s.rootfs.map(|r| self.dir().join(r)),
        })
    }

    /// `data:/data` becomes `/abs/dir/of/scenario/data:/data`: the harness wants an
    /// absolute source, and the scenario's directory is what a relative one means.
    /// A directory with `:` in its name cannot be spliced into `SRC:DST` without
    /// changing where the split falls, so it is refused rather than misread.
    fn resolve_volume(&self, spec: String, index: usize) -> Result<String, ScenarioError> {
        Ok(match spec.split_once(':') {
            Some((src, rest)) if !src.is_empty() && !src.starts_with('/') => {
                let joined = self.dir().join(src);
                let absolute = std::path::absolute(&joined).unwrap_or(joined);
                let text = absolute
                    .to_str()
                    .filter(|t| !t.contains(':'))
                    .ok_or_else(|| {
                        self.at_value(
                            &[key("settings"), key("volumes"), Seg::Index(index)],
                            format!(
                                "{spec:?}: the relative source resolves to {:?}, which cannot be \
                             written as SRC:DST (a ':' or non-UTF-8 name); give an absolute source",
                                absolute.display().to_string()
                            ),
                        )
                    })?;
                format!("{text}:{rest}")
            }
            _ => spec,
        })
    }

    /// Points a settings error at the entry it is about.
    fn settings_error(&self, e: SettingsError, s: &RawSettings) -> ScenarioError {
        let entry = |list: &str, items: &[String], wanted: &str| -> Vec<Seg> {
            let mut segs = vec![key("settings"), key(list)];
            if let Some(i) = items.iter().position(|x| x == wanted) {
                segs.push(Seg::Index(i));
            }
            segs
        };
        let segs = match &e {
            SettingsError::UnknownCapability { flag, name } if *flag == "--cap-drop" => {
                entry("cap_drop", &s.cap_drop, name)
            }
            SettingsError::UnknownCapability { name, .. } => entry("cap_add", &s.cap_add, name),
            SettingsError::CapabilityUnavailable { name } => {
                let bare = name.trim_start_matches("CAP_");
                let mut segs = vec![key("settings"), key("cap_add")];
                if let Some(i) = s
                    .cap_add
                    .iter()
                    .position(|c| c.eq_ignore_ascii_case(name) || c.eq_ignore_ascii_case(bare))
                {
                    segs.push(Seg::Index(i));
                }
                segs
            }
            SettingsError::DuplicateDestination { flag, spec, .. } => {
                let (list, items) = if *flag == "--volume" {
                    ("volumes", &s.volumes)
                } else {
                    ("tmpfs", &s.tmpfs)
                };
                // The entry that repeats a destination is the second one written the
                // same way, when it is written like an earlier one.
                let mut segs = vec![key("settings"), key(list)];
                let mut hits = items.iter().enumerate().filter(|(_, x)| *x == spec);
                let first = hits.next();
                if let Some((i, _)) = hits.next().or(first) {
                    segs.push(Seg::Index(i));
                }
                segs
            }
            SettingsError::Volume { spec, .. } => entry("volumes", &s.volumes, spec),
            SettingsError::Tmpfs { spec, .. } => entry("tmpfs", &s.tmpfs, spec),
            SettingsError::User { .. } => vec![key("settings"), key("user")],
            SettingsError::Network { .. } => vec![key("settings"), key("network")],
            SettingsError::SecurityOpt { value, .. } => {
                entry("security_opt", &s.security_opts, value)
            }
            SettingsError::Rootfs { .. } | SettingsError::ShadowingSymlink { .. } => {
                vec![key("settings"), key("rootfs")]
            }
        };
        self.at_value(&segs, e.to_string())
    }

    fn profile(&self, raw: Option<RawProfile>) -> Result<ProfileSource, ScenarioError> {
        let field = [key("profile")];
        Ok(match raw {
            None => ProfileSource::None,
            Some(RawProfile::Unconfined) => ProfileSource::Unconfined,
            Some(RawProfile::Path(p)) => {
                let file = self.dir().join(&p);
                if !file.is_file() {
                    return Err(self.at_value(
                        &field,
                        format!(
                            "no profile file at {} (to fall back when a file is absent, give a \
                             list of paths: the first that exists is used)",
                            file.display()
                        ),
                    ));
                }
                self.check_profile_file(&file, &field)?;
                ProfileSource::File(file)
            }
            Some(RawProfile::Paths(paths)) => {
                let tried: Vec<PathBuf> = paths.iter().map(|p| self.dir().join(p)).collect();
                match tried.iter().position(|p| p.is_file()) {
                    Some(i) => {
                        self.check_profile_file(&tried[i], &[key("profile"), Seg::Index(i)])?;
                        ProfileSource::File(tried[i].clone())
                    }
                    None => ProfileSource::Missing { tried },
                }
            }
            Some(RawProfile::Inline(value)) => {
                self.check_inline_profile()?;
                ProfileSource::Inline(value)
            }
        })
    }

    fn check_profile_file(&self, file: &Path, segs: &[Seg]) -> Result<(), ScenarioError> {
        Profile::load(file).map(|_| ()).map_err(|source| {
            let (line, column) = position_at(self.text, segs, false);
            ScenarioError::Profile {
                path: self.path.to_path_buf(),
                line,
                column,
                field: error::display_path(segs),
                source: Box::new(source),
            }
        })
    }

    /// Validates `profile.inline` from its own text in the scenario, so that the
    /// profile's errors point into the scenario file.
    fn check_inline_profile(&self) -> Result<(), ScenarioError> {
        let segs = [key("profile"), key("inline")];
        let Some(found) = error::locate(self.text, &segs) else {
            // serde read it, so the text holds it; nothing sensible is left to do.
            return Ok(());
        };
        let (start, end) = found.value;
        let (start_line, start_column) = position_of(self.text, start);
        let shift = |line: usize, column: usize| {
            if line <= 1 {
                (start_line, start_column + column.max(1) - 1)
            } else {
                (start_line + line - 1, column)
            }
        };
        let inline_path = |field: &str| match field {
            "" | "top level" => "profile.inline".to_string(),
            f => format!("profile.inline.{f}"),
        };
        let err = match Profile::parse(&self.text[start..end], self.path) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let (line, column, field, message) = match err {
            ProfileError::Invalid {
                line,
                column,
                field,
                message,
                ..
            } => {
                let (line, column) = shift(line, column);
                (line, column, inline_path(&field), message)
            }
            ProfileError::Syntax {
                line,
                column,
                message,
                ..
            } => {
                let (line, column) = shift(line, column);
                (line, column, inline_path(""), message)
            }
            other => (start_line, start_column, inline_path(""), other.to_string()),
        };
        Err(ScenarioError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            field,
            message,
        })
    }

    fn expectations(
        &self,
        e: raw::RawExpect,
        runtimes: &[String],
        mounts: &[String],
    ) -> Result<Expectations, ScenarioError> {
        let base = [key("expect")];
        let mut out = Expectations {
            start: e.start.unwrap_or_default(),
            default: e.default.unwrap_or_else(Expected::blocked),
            goals: e
                .goals
                .map(|g| g.0.into_iter().map(|(k, v)| (k.0, v)).collect())
                .unwrap_or_default(),
            probes: self.probe_expectations(e.probes, &base, mounts)?,
            runtimes: Default::default(),
        };
        let names: Vec<&str> = runtimes.iter().map(|s| runtime_name(s)).collect();
        for (name, Obj(r)) in e.runtimes.map(|m| m.0).unwrap_or_default() {
            let segs = [key("expect"), key("runtimes"), key(&name)];
            if !names.contains(&name.as_str()) {
                let problem = if RuntimeKind::named(&name).is_some() {
                    format!("runtime {name:?} is not in this scenario's \"runtimes\"")
                } else {
                    format!("unknown runtime {name:?}: it is not in this scenario's \"runtimes\"")
                };
                return Err(self.at_key(
                    &segs,
                    format!(
                        "{problem} ({}): add it there or remove this entry",
                        names.join(", ")
                    ),
                ));
            }
            let probes = self.probe_expectations(r.probes, &segs, mounts)?;
            out.runtimes.insert(
                name,
                RuntimeExpectations {
                    start: r.start,
                    default: r.default,
                    goals: r
                        .goals
                        .map(|g| g.0.into_iter().map(|(k, v)| (k.0, v)).collect())
                        .unwrap_or_default(),
                    probes,
                },
            );
        }
        Ok(out)
    }

    /// Keys of a `probes` object; a step's target must be one of the mount points.
    fn probe_expectations(
        &self,
        probes: Option<raw::UniqueMap<raw::StepKey, Expected>>,
        parent: &[Seg],
        mounts: &[String],
    ) -> Result<std::collections::BTreeMap<String, Expected>, ScenarioError> {
        let mut out = std::collections::BTreeMap::new();
        for (step, expected) in probes.map(|p| p.0).unwrap_or_default() {
            if let (_, Some(target)) = crate::protocol::split_step(&step.key) {
                if !mounts.iter().any(|m| m == target) {
                    let mut segs = parent.to_vec();
                    segs.extend([key("probes"), key(&step.written)]);
                    let mounted = if mounts.is_empty() {
                        "this scenario mounts none".to_string()
                    } else {
                        format!("this scenario's mounts: {}", mounts.join(", "))
                    };
                    return Err(self.at_key(
                        &segs,
                        format!("no volume or tmpfs is mounted at {target} ({mounted})"),
                    ));
                }
            }
            out.insert(step.key, expected);
        }
        Ok(out)
    }
}

/// All `*.json` scenario files under each path (a file, or a directory searched
/// recursively in name order), loaded. A directory without any is an error, as is a
/// scenario name used by two files.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Scenario>, ScenarioError> {
    let mut files: Vec<PathBuf> = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|error| ScenarioError::Read {
            path: path.clone(),
            error,
        })?;
        if meta.is_dir() {
            let before = files.len();
            walk(path, &mut files, 0)?;
            if files.len() == before {
                return Err(ScenarioError::NoScenarios { path: path.clone() });
            }
        } else {
            files.push(path.clone());
        }
    }
    // A file named directly and again through its directory is one scenario.
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert(fs::canonicalize(f).unwrap_or_else(|_| f.clone())));

    let mut scenarios: Vec<Scenario> = Vec::with_capacity(files.len());
    for file in files {
        let scenario = Scenario::load(&file)?;
        if let Some(other) = scenarios.iter().find(|s| s.name == scenario.name) {
            let text = fs::read_to_string(&file).unwrap_or_default();
            let (line, column) = position_at(&text, &[key("name")], false);
            return Err(ScenarioError::DuplicateName {
                path: file,
                line,
                column,
                name: scenario.name,
                other: other.file.clone(),
            });
        }
        scenarios.push(scenario);
    }
    Ok(scenarios)
}

/// How deep `discover` follows directories (a symlink loop must end).
const MAX_DEPTH: usize = 32;

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), ScenarioError> {
    let read_err = |error| ScenarioError::Read {
        path: dir.to_path_buf(),
        error,
    };
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            if depth < MAX_DEPTH {
                walk(&entry, out, depth + 1)?;
            }
        } else if entry.extension().is_some_and(|e| e == "json") && !is_profile(&entry) {
            out.push(entry);
        }
    }
    Ok(())
}

/// A seccomp profile (Docker's or a bare OCI object), not a scenario. A file with
/// `runtimes` is a scenario, to be refused for its stray `defaultAction`.
fn is_profile(file: &Path) -> bool {
    fs::read_to_string(file)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("defaultAction").is_some() && v.get("runtimes").is_none())
}
