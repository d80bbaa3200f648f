//! Stage 1, the plan: the validated inputs of a run (settings, resolved filter, probes,
//! probe binary, deadline), probe selection by glob, and what each container's spec is
//! made from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxSeccomp;

use crate::bundle::{self, RunDir};
use crate::catalog::{ProbeInfo, CATALOG};
use crate::container::{self, RawSettings, Settings, PROBE_PATH};
use crate::profile::{Platform, Profile, Reading};
use crate::protocol::{Invocation, Key};

use super::canary::Canary;
use super::RunError;

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub settings: Settings,
    /// The resolved filter, or `None` for no filter.
    pub seccomp: Option<LinuxSeccomp>,
    /// For each rule of `seccomp`, its index among the profile file's `syscalls`; and
    /// the file, for where each rule is written (predictions point there).
    pub seccomp_sources: Vec<usize>,
    pub profile_path: Option<PathBuf>,
    pub probes: Vec<&'static ProbeInfo>,
    pub probe_bin: PathBuf,
    /// Deadline for each container.
    pub timeout: Duration,
    /// A fault for the runner to inject (tests of the harness's own error paths).
    pub fault: Option<String>,
    /// What a lenient reading of the profile let pass, as Docker would.
    pub profile_warnings: Vec<String>,
    /// The application to run under the same sandbox after the probes, if asked.
    pub workload: Option<crate::workload::Workload>,
}

/// Why a plan could not be made: the input's fault (exit 2) or the host's (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Environment(String),
}

impl Plan {
    /// Validates settings and probe patterns and resolves the profile for this host: the
    /// plan `run`, `compare` and each trial of `test` execute. The probe binary is looked
    /// for last, so that bad input is reported as such before any environment problem.
    pub fn build(
        raw: &RawSettings,
        probe_patterns: &[String],
        timeout_secs: u64,
        reading: Reading,
        probe_bin: impl FnOnce() -> Result<PathBuf, PlanError>,
    ) -> Result<Plan, PlanError> {
        let usage = |e: &dyn std::fmt::Display| PlanError::Usage(e.to_string());
        let mut settings = raw.validate().map_err(|e| match e {
            // The flag is fine; this host cannot grant it.
            crate::container::SettingsError::CapabilityUnavailable { .. } => {
                PlanError::Environment(e.to_string())
            }
            e => usage(&e),
        })?;
        let probes = select_probes(probe_patterns).map_err(|e| usage(&e))?;
        let mut profile_warnings = Vec::new();
        if let Some(request) = &raw.image {
            use_image(&mut settings, request)?;
        }
        let (seccomp, seccomp_sources, profile_path) = match &settings.seccomp {
            crate::container::Seccomp::Profile(path) => {
                let profile = Profile::read(path, reading).map_err(|e| usage(&e))?;
                let platform = Platform::host(settings.caps.iter().cloned().collect());
                let (seccomp, sources) =
                    profile.resolve_traced(&platform).map_err(|e| usage(&e))?;
                profile_warnings = profile.warnings;
                (Some(seccomp), sources, Some(path.clone()))
            }
            _ => (None, Vec::new(), None),
        };
        Ok(Plan {
            settings,
            seccomp,
            seccomp_sources,
            profile_path,
            probes,
            probe_bin: probe_bin()?,
            timeout: Duration::from_secs(timeout_secs),
            fault: None,
            profile_warnings,
            workload: None,
        })
    }

    /// The ids of the probes to run, in catalog order.
    pub fn probe_ids(&self) -> Vec<String> {
        self.probes.iter().map(|p| p.id.to_string()).collect()
    }

    /// The probe steps the plan runs, in order: each probe, and a per-mount probe once
    /// per mount point (`probe@target`).
    pub fn steps(&self) -> Vec<String> {
        crate::catalog::expand_steps(&self.probe_ids(), &self.settings.mount_points())
    }
}

/// Unpacks the image (or finds it in the cache) and makes it the rootfs, with what its
/// config gives `docker run`: the user (unless `--user` was given), the working
/// directory and the environment (those two go into the spec from `settings.image`).
fn use_image(
    settings: &mut Settings,
    request: &crate::image::ImageRequest,
) -> Result<(), PlanError> {
    let mut info = crate::image::resolve(request).map_err(|e| {
        if e.is_environment() {
            PlanError::Environment(e.to_string())
        } else {
            PlanError::Usage(e.to_string())
        }
    })?;
    let usage =
        |problem: String| PlanError::Usage(format!("--image {}: {problem}", request.reference));
    info.config.working_dir().map_err(usage)?;
    // Mount destinations are checked against the image as they are against --rootfs.
    settings
        .check_mounts_against(&info.rootfs)
        .map_err(|e| usage(e.to_string()))?;
    if settings.user.is_none() {
        settings.user = info.config.user_ids(&info.rootfs).map_err(usage)?;
        info.user_applied = settings.user.is_some();
    }
    settings.rootfs = Some(info.rootfs.clone());
    settings.image = Some(info);
    Ok(())
}

/// Selects catalog probes by glob patterns; no patterns means all of them.
pub fn select_probes(patterns: &[String]) -> Result<Vec<&'static ProbeInfo>, String> {
    if patterns.is_empty() {
        return Ok(CATALOG.iter().collect());
    }
    let mut matchers = Vec::new();
    for pattern in patterns {
        let matcher = ProbeMatcher::new(pattern)?;
        if !CATALOG.iter().any(|p| matcher.is_match(p.id)) {
            return Err(format!(
                "--probe {pattern:?} matches no probe (see `breakout probes`)"
            ));
        }
        matchers.push(matcher);
    }
    Ok(CATALOG
        .iter()
        .filter(|p| matchers.iter().any(|m| m.is_match(p.id)))
        .collect())
}

/// One `--probe` pattern. A plain probe id is compared as it is: compiling it as a
/// glob costs a regex build, a fixed cost on every run for nothing.
enum ProbeMatcher {
    Exact(String),
    Glob(globset::GlobMatcher),
}

impl ProbeMatcher {
    fn new(pattern: &str) -> Result<ProbeMatcher, String> {
        if !pattern.contains(['*', '?', '[', ']', '{', '}', '\\']) {
            return Ok(ProbeMatcher::Exact(pattern.to_string()));
        }
        let glob = globset::Glob::new(pattern).map_err(|e| format!("--probe {pattern:?}: {e}"))?;
        Ok(ProbeMatcher::Glob(glob.compile_matcher()))
    }

    fn is_match(&self, id: &str) -> bool {
        match self {
            ProbeMatcher::Exact(name) => name == id,
            ProbeMatcher::Glob(glob) => glob.is_match(id),
        }
    }
}

/// Writes the bundle of the plan's first container to `dir` (absent or empty) and
/// starts nothing: config.json as the harness would write it (its probe bind mount
/// included) and the default rootfs. For running the probes by hand, e.g. to see
/// what they cost without the harness: `RUNTIME run --bundle DIR ID`. Net probes are
/// given a loopback canary address with nothing listening behind it. Returns the
/// canary address given, if any.
pub fn emit_bundle(plan: &Plan, dir: &Path) -> Result<Option<String>, RunError> {
    let mut run_dir = RunDir::keep_at(dir)?;
    run_dir.build_default_rootfs(&bundle::find_static_busybox()?)?;
    let canary = if plan
        .probes
        .iter()
        .any(|p| p.goal == crate::catalog::Goal::Net)
    {
        // A port that was free a moment ago: the probes meet a closed port there.
        let (tcp, _udp) = Canary::bind("127.0.0.1").map_err(RunError::Canary)?;
        Some(tcp.local_addr().map_err(RunError::Canary)?.to_string())
    } else {
        None
    };
    let invocation = Invocation {
        nonce: format!("nonce-{}", bundle::unique_token()),
        after: None,
        canary: canary.clone(),
        shell: None,
        mounts: plan.settings.mount_points(),
        probes: plan.probes.iter().map(|p| p.id.to_string()).collect(),
        fault: plan.fault.clone(),
        sandbox: None,
        hold: false,
        host_namespaces: super::nsview::harness_links(),
    };
    // A key of its own, in config.json (the bundle's, written root-only).
    let key = Key::random().map_err(RunError::Key)?;
    run_dir.write_spec(&container::build_spec(&spec_inputs(
        plan,
        &invocation,
        None,
        None,
        Default::default(),
        &key,
    )))?;
    Ok(canary)
}

/// What a container's spec is made from: the plan's settings, and the runner started
/// with `invocation`.
pub(super) fn spec_inputs<'a>(
    plan: &'a Plan,
    invocation: &Invocation,
    provided_shell: Option<&'a Path>,
    setuid_binary: Option<&'a Path>,
    netns: container::NetJoin,
    key: &'a Key,
) -> container::SpecInputs<'a> {
    let mut args = vec![PROBE_PATH.to_string(), "run".to_string()];
    args.extend(invocation.to_args());
    container::SpecInputs {
        settings: &plan.settings,
        probe_bin: &plan.probe_bin,
        provided_shell,
        setuid_binary,
        args,
        seccomp: plan.seccomp.clone(),
        netns,
        key: Some(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_patterns() {
        assert_eq!(select_probes(&[]).unwrap().len(), CATALOG.len());
        let spawn = select_probes(&["spawn.*".into()]).unwrap();
        assert!(spawn.iter().all(|p| p.id.starts_with("spawn.")));
        assert!(select_probes(&["nothing.*".into()]).is_err());
        // Plain ids match exactly, not as prefixes; globs still work.
        let one = select_probes(&["spawn.fork".into()]).unwrap();
        assert_eq!(one.iter().map(|p| p.id).collect::<Vec<_>>(), ["spawn.fork"]);
        assert!(select_probes(&["spawn.for".into()]).is_err());
        let braces = select_probes(&["spawn.{fork,vfork}".into()]).unwrap();
        assert_eq!(braces.len(), 2);
        assert!(select_probes(&["spawn.[".into()]).is_err());
    }
}
