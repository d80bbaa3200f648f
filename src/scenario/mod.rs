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
//! | `settings` | the container settings, the `run` flags' values by the flag's name: `read_only` (bool), `cap_add`, `cap_drop`, `volumes` (`SRC:DST[:OPTS]`), `tmpfs` (`DST[:OPTS]`), `security_opt` (lists of strings), `user`, `network` (`bridge` when absent, as with `docker run`; `none`, `host`), `rootfs`, `image` (strings; `image` takes what `--image` takes, and not with `rootfs`). A relative volume source, rootfs or image path is relative to the scenario file's directory. The profile is set by `profile`, not by `security_opt` `seccomp=...` |
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

mod build;
mod discover;
mod error;
mod expect;
mod judge;
mod raw;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};

use crate::container::RawSettings;
use crate::profile::Reading;

pub use discover::discover;
pub use error::{FileError, ScenarioError};
pub use expect::{Expectations, Expected, RuntimeExpectations, StartExpectation};
pub use judge::judge;

use build::Builder;
use error::position_of;
use raw::{Obj, RawScenario};

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
    /// What a lenient reading of the profile file let pass, as Docker would
    /// (`file:line:column: ...`). An inline profile is part of the scenario and read
    /// strictly.
    pub profile_warnings: Vec<String>,
    /// What a `pod` manifest leaves unhonoured, in words.
    pub notes: Vec<String>,
    /// The workload to run after the probes, if any.
    pub workload: Option<ScenarioWorkload>,
}

/// A scenario's workload: its command (empty: the image's), a service's check, its
/// deadline, and whether it should work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioWorkload {
    pub command: Vec<String>,
    pub check: Option<Vec<String>>,
    pub deadline: std::time::Duration,
    pub expect: crate::workload::Status,
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
    /// Reads and validates the scenario at `path`, its profile file leniently.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::read(path, Reading::Lenient)
    }

    /// Reads and validates the scenario at `path`, its profile file as `reading` says.
    pub fn read(path: &Path, reading: Reading) -> Result<Scenario, ScenarioError> {
        let bytes = fs::read(path).map_err(|error| {
            ScenarioError::File(FileError::Read {
                what: "scenario",
                path: path.to_path_buf(),
                error,
            })
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            // Everything before `valid` is UTF-8, so it can be measured as text.
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let (line, column) = position_of(&prefix, prefix.len());
            ScenarioError::File(FileError::Encoding {
                path: path.to_path_buf(),
                line,
                column,
            })
        })?;
        Scenario::parse_with(&text, path, reading)
    }

    /// Validates a scenario given as text; `path` is where it came from, for
    /// messages and for resolving the relative paths in it.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::parse_with(text, path, Reading::Lenient)
    }

    pub(crate) fn parse_with(
        text: &str,
        path: &Path,
        reading: Reading,
    ) -> Result<Scenario, ScenarioError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let Obj(raw): Obj<RawScenario> = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| error::from_serde(path, text, e))?;
        // Trailing non-whitespace after the object.
        de.end().map_err(|e| error::from_json(path, text, &[], e))?;
        Builder {
            text,
            path,
            reading,
            warnings: Default::default(),
        }
        .build(raw)
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
