//! From what serde read to a [`Scenario`]: the checks that need more than one value
//! (profile paths, settings, runtimes, probe ids, expectations), each error pointing
//! into the file's text.

use std::path::{Path, PathBuf};

use crate::container::{RawSettings, SettingsError};
use crate::profile::{Profile, ProfileError, Reading};
use crate::runtime::RuntimeKind;

use super::error::{invalid_at, position_at, position_of, Seg};
use super::raw::{Obj, RawProfile, RawScenario};
use super::*;
use crate::json::FileError;

/// Turns what serde read into a `Scenario`, running the checks that need more than
/// one value; errors point into `text`.
pub(super) struct Builder<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
    /// How the profile file is read; what a lenient reading let pass is kept.
    pub(super) reading: Reading,
    pub(super) warnings: std::cell::RefCell<Vec<String>>,
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

    pub(super) fn build(&self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
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
        let mut notes = Vec::new();
        let (settings, profile) = match raw.pod {
            Some(Obj(pod)) => {
                if raw.profile.is_some() || raw.settings.is_some() {
                    return Err(self.at_key(
                        &[key("pod")],
                        "a scenario with \"pod\" takes its profile and settings from the manifest: leave out \"profile\" and \"settings\"",
                    ));
                }
                self.pod(pod, &mut notes)?
            }
            None => (
                self.settings(raw.settings.map(|s| s.0).unwrap_or_default())?,
                self.profile(raw.profile)?,
            ),
        };
        let mounts = settings
            .validate_for(None)
            .map_err(|e| self.settings_error(e, &settings))?
            .mount_points();
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
            profile_warnings: self.warnings.take(),
            notes,
            workload: raw.workload.map(|Obj(w)| self.workload(w)).transpose()?,
        })
    }

    /// A `workload` entry, its command and check not empty where given.
    fn workload(&self, w: raw::RawWorkload) -> Result<ScenarioWorkload, ScenarioError> {
        for (name, argv) in [("command", &w.command), ("check", &w.check)] {
            if argv
                .as_ref()
                .is_some_and(|a| a.is_empty() || a[0].is_empty())
            {
                return Err(self.at_value(
                    &[key("workload"), key(name)],
                    format!("an empty {name}: give the program and its arguments, like [\"/bin/sh\", \"-c\", \"echo ok\"]"),
                ));
            }
        }
        Ok(ScenarioWorkload {
            command: w.command.unwrap_or_default(),
            check: w.check,
            deadline: w.deadline.map_or(crate::workload::DEADLINE, |t| {
                std::time::Duration::from_secs(t.0)
            }),
            expect: w.expect.unwrap_or(crate::workload::Status::Works),
        })
    }

    /// A `pod` entry: the manifest's container as settings and profile, as `--pod`
    /// maps it (`crate::kube::map`). `RuntimeDefault` becomes Docker's default profile
    /// inline; the scenario's `runtimes` decide the runtime (a `runtimeClassName` is
    /// noted, not followed).
    fn pod(
        &self,
        pod: raw::RawPod,
        notes: &mut Vec<String>,
    ) -> Result<(RawSettings, ProfileSource), ScenarioError> {
        let fail = |problem: String| self.at_value(&[key("pod"), key("file")], problem);
        let file = self.dir().join(&pod.file);
        let input =
            crate::kube::load(&file, pod.container.as_deref()).map_err(|e| fail(e.to_string()))?;
        let options = crate::kube::map::Options {
            seccomp_root: pod.seccomp_root.map(|r| self.dir().join(r)),
            runtime_classes: Vec::new(),
        };
        let mapped = crate::kube::map::map(&input, &options).map_err(|e| fail(e.to_string()))?;
        let mut settings = mapped.settings;
        let unconfined = settings
            .security_opts
            .iter()
            .any(|o| o == "seccomp=unconfined");
        settings.security_opts.retain(|o| o != "seccomp=unconfined");
        let profile = match (settings.profile.take(), mapped.runtime_default, unconfined) {
            (Some(path), _, _) => {
                self.check_profile_file(&path, &[key("pod"), key("seccomp_root")])?;
                ProfileSource::File(path)
            }
            (None, true, _) => ProfileSource::Inline(
                serde_json::from_str(crate::kube::map::RUNTIME_DEFAULT_PROFILE)
                    .expect("Docker's default profile is JSON"),
            ),
            (None, false, _) => ProfileSource::Unconfined,
        };
        notes.push(format!(
            "pod {}: {} container {:?}",
            pod.file, input.source, input.container.name
        ));
        if let Some(runtime) = mapped.runtime {
            notes.push(format!(
                "runtimeClassName maps to {runtime}; the scenario's runtimes are what run"
            ));
        }
        notes.extend(mapped.notes);
        Ok((settings, profile))
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
            run_flags: crate::container::RawRunFlags {
                privileged: s.privileged.unwrap_or(false),
                pid: s.pid,
                ipc: s.ipc,
                uts: s.uts,
                pids_limit: s.pids_limit,
                memory: s.memory,
                sysctls: s.sysctls.unwrap_or_default(),
                devices: s.devices.unwrap_or_default(),
                userns: s.userns,
            },
            image: s
                .image
                .map(|r| crate::image::ImageRequest::new(crate::image::rebase(&r, self.dir()))),
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
            SettingsError::RunFlag(e) => {
                let field = match e.flag {
                    "--pid" => "pid",
                    "--ipc" => "ipc",
                    "--uts" => "uts",
                    "--memory" => "memory",
                    "--sysctl" => "sysctls",
                    "--device" => "devices",
                    "--userns" => "userns",
                    _ => "pids_limit",
                };
                let mut segs = vec![key("settings"), key(field)];
                let list: &[String] = match field {
                    "sysctls" => &s.run_flags.sysctls,
                    "devices" => &s.run_flags.devices,
                    _ => &[],
                };
                if let Some(i) = list.iter().position(|x| *x == e.value) {
                    segs.push(Seg::Index(i));
                }
                segs
            }
            SettingsError::Image(_) => vec![key("settings"), key("image")],
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
        let profile = Profile::read(file, self.reading).map_err(|source| {
            let (line, column) = position_at(self.text, segs, false);
            ScenarioError::Profile {
                path: self.path.to_path_buf(),
                line,
                column,
                field: error::display_path(segs),
                source: Box::new(source),
            }
        })?;
        self.warnings.borrow_mut().extend(profile.warnings);
        Ok(())
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
            ProfileError::File(FileError::Invalid {
                line,
                column,
                field,
                message,
                ..
            }) => {
                let (line, column) = shift(line, column);
                (line, column, inline_path(&field), message)
            }
            ProfileError::File(FileError::Syntax {
                line,
                column,
                message,
                ..
            }) => {
                let (line, column) = shift(line, column);
                (line, column, inline_path(""), message)
            }
            other => (start_line, start_column, inline_path(""), other.to_string()),
        };
        Err(ScenarioError::File(FileError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            field,
            message,
        }))
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
