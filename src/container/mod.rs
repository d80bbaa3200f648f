//! Container settings in `docker run` vocabulary, validated, and their OCI spec.
//!
//! Defaults follow `docker run`: Docker's default capability set, a private network
//! namespace, a writable rootfs, `no-new-privileges` off. One deliberate difference:
//! without a profile there is no seccomp filter at all (Docker would apply its default
//! profile), and reports say so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod caps;

use caps::resolve_caps;
pub use caps::{own_bounding_caps, ALL_CAPS, DOCKER_DEFAULT_CAPS};

use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, LinuxMemoryBuilder, LinuxNamespaceType, LinuxPidsBuilder,
    LinuxResourcesBuilder, LinuxSeccomp, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec,
    UserBuilder,
};

/// The container directory that holds the harness's own files. No volume or tmpfs
/// may be mounted at it or below it: whatever lands there replaces the trusted runner.
pub const HARNESS_DIR: &str = "/.breakout";
/// Where the probe binary appears inside every container.
pub const PROBE_PATH: &str = "/.breakout/breakout-probe";
/// Where the harness puts a shell when the rootfs has none.
pub const PROVIDED_SHELL_PATH: &str = "/.breakout/sh";

/// Linux's limits on a path and on one of its components (PATH_MAX with its NUL,
/// NAME_MAX): longer destinations fail only when the runtime creates them.
const PATH_MAX: usize = 4095;
const NAME_MAX: usize = 255;

/// Limits that keep a fork bomb or a memory hog inside the container.
const PIDS_LIMIT: i64 = 256;
const MEMORY_LIMIT: i64 = 512 * 1024 * 1024;

/// Bad container settings; each message names the flag and the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("unknown capability {name:?} in {flag} (expected a name like CAP_NET_RAW or NET_RAW, or ALL)")]
    UnknownCapability { flag: &'static str, name: String },
    #[error("--cap-add {name}: this host's bounding set lacks it, so no container here can be granted it")]
    CapabilityUnavailable { name: String },
    #[error("--volume {spec:?}: {problem}")]
    Volume { spec: String, problem: String },
    #[error("--tmpfs {spec:?}: {problem}")]
    Tmpfs { spec: String, problem: String },
    #[error("{flag} {spec:?}: destination {destination} is already the destination of {first_flag} {first:?}")]
    DuplicateDestination {
        flag: &'static str,
        spec: String,
        destination: String,
        first_flag: &'static str,
        first: String,
    },
    #[error("--user {spec:?}: {problem}")]
    User { spec: String, problem: String },
    #[error("--network {value:?}: expected none, host or bridge")]
    Network { value: String },
    #[error("--security-opt {value:?}: {problem}")]
    SecurityOpt { value: String, problem: String },
    #[error("--rootfs {rootfs}: the mount destination {destination} leads through a symlink in the rootfs to {resolved:?}, over the harness's own directory {HARNESS_DIR}")]
    ShadowingSymlink {
        rootfs: PathBuf,
        destination: String,
        resolved: String,
    },
    #[error("--rootfs {path}: {problem}")]
    Rootfs { path: PathBuf, problem: String },
}

/// Which seccomp filter the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// No profile given: no filter. Reports say so.
    None,
    /// `seccomp=unconfined`: no filter, by request.
    Unconfined,
    /// A profile file to resolve for this host and these capabilities.
    Profile(PathBuf),
}

/// Network mode, as `docker run --network` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// A private network namespace holding only loopback.
    None,
    /// The host's network namespace.
    Host,
    /// A network namespace of the harness's, joined by a veth pair to a second one
    /// where the canary listens: egress to a "remote" host, without leaving the machine.
    Bridge,
}

/// A `-v SRC:DST[:opts]` bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub source: PathBuf,
    pub destination: String,
    pub options: Vec<String>,
}

/// A `--tmpfs DST[:opts]` mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub destination: String,
    pub options: Vec<String>,
}

/// Validated container settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub seccomp: Seccomp,
    pub no_new_privileges: bool,
    /// `systempaths=unconfined`: no masked or read-only paths under /proc and /sys.
    pub unconfined_paths: bool,
    pub caps: BTreeSet<String>,
    pub read_only: bool,
    pub volumes: Vec<Volume>,
    pub tmpfs: Vec<Tmpfs>,
    pub user: Option<(u32, u32)>,
    pub network: Network,
    pub rootfs: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seccomp: Seccomp::None,
            no_new_privileges: false,
            unconfined_paths: false,
            caps: DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
            read_only: false,
            volumes: Vec::new(),
            tmpfs: Vec::new(),
            user: None,
            network: Network::None,
            rootfs: None,
        }
    }
}

/// The flags as the user typed them, before validation.
#[derive(Debug, Clone, Default)]
pub struct RawSettings {
    pub profile: Option<PathBuf>,
    pub security_opts: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub read_only: bool,
    pub volumes: Vec<String>,
    pub tmpfs: Vec<String>,
    pub user: Option<String>,
    pub network: Option<String>,
    pub rootfs: Option<PathBuf>,
}

/// Mount options we pass through for volumes and tmpfs mounts.
const MOUNT_FLAGS: &[&str] = &[
    "ro", "rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev",
];

/// Merges user options over defaults: a later `exec` cancels an earlier `noexec`.
fn merge_mount_options(defaults: &[&str], given: &[String]) -> Vec<String> {
    let opposite = |o: &str| -> Option<&'static str> {
        Some(match o {
            "ro" => "rw",
            "rw" => "ro",
            "exec" => "noexec",
            "noexec" => "exec",
            "suid" => "nosuid",
            "nosuid" => "suid",
            "dev" => "nodev",
            "nodev" => "dev",
            _ => return None,
        })
    };
    let mut out: Vec<String> = defaults.iter().map(|s| s.to_string()).collect();
    for option in given {
        if let Some(other) = opposite(option) {
            out.retain(|o| o != other && o != option);
        } else if let Some((key, _)) = option.split_once('=') {
            out.retain(|o| !o.starts_with(&format!("{key}=")));
        }
        out.push(option.clone());
    }
    out
}

/// Checks a container path a volume or tmpfs is mounted at and returns its one
/// spelling: repeated and trailing slashes collapsed. `.` and `..` are refused rather
/// than resolved, so that what the user wrote is where the mount lands, and so that
/// no spelling of [`HARNESS_DIR`] slips past the check that keeps it the harness's.
/// A problem is returned as a phrase for the flag's error message.
pub fn normalize_destination(destination: &str) -> Result<String, String> {
    if destination.is_empty() {
        return Err("the destination is empty".into());
    }
    if let Some(c) = destination.chars().find(|c| c.is_control()) {
        return Err(format!(
            "the destination contains the control character {}",
            c.escape_default()
        ));
    }
    // Engines get the destination spliced into SRC:DST:OPTS and DST:OPTS strings.
    if let Some(c) = destination.chars().find(|c| matches!(c, ':' | ',')) {
        return Err(format!(
            "the destination contains {c:?}, which engines read as a separator"
        ));
    }
    if !destination.starts_with('/') {
        return Err("the destination must be an absolute container path".into());
    }
    let mut normal = String::with_capacity(destination.len());
    for component in destination.split('/').filter(|c| !c.is_empty()) {
        if component == "." || component == ".." {
            return Err(format!(
                "the destination has a {component:?} component; write the path it stands for"
            ));
        }
        if component.len() > NAME_MAX {
            return Err(format!(
                "a component of the destination is longer than {NAME_MAX} bytes"
            ));
        }
        normal.push('/');
        normal.push_str(component);
    }
    if normal.is_empty() {
        return Err("the destination must be a container path other than /".into());
    }
    if normal.len() > PATH_MAX {
        return Err(format!("the destination is longer than {PATH_MAX} bytes"));
    }
    if normal == HARNESS_DIR || normal.starts_with(&format!("{HARNESS_DIR}/")) {
        return Err(format!(
            "{HARNESS_DIR} is the harness's own directory (its runner {PROBE_PATH} and \
             shell {PROVIDED_SHELL_PATH}); a mount at or below it would replace them"
        ));
    }
    Ok(normal)
}

/// A tmpfs `size=`: bytes with an optional k, m, g, t, p or e suffix (any case), or
/// a percentage of RAM, as the kernel's tmpfs reads it.
fn check_tmpfs_size(value: &str) -> Result<(), String> {
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "%" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        "e" => 60,
        _ => {
            return Err(format!(
                "size={value}: expected a number of bytes with an optional k, m or g suffix, \
                 or a percentage like 50%"
            ))
        }
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!("size={value}: expected a number of bytes with an optional k, m or g suffix, or a percentage like 50%")
    })?;
    if n.checked_mul(1u64 << shift).is_none() {
        return Err(format!("size={value}: more bytes than 64 bits can count"));
    }
    Ok(())
}

/// A tmpfs `mode=`: octal permission bits, at most 07777.
fn check_tmpfs_mode(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.bytes().all(|b| (b'0'..=b'7').contains(&b))
        && u32::from_str_radix(value, 8).is_ok_and(|m| m <= 0o7777);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "mode={value}: expected octal permission bits up to 07777, like 1777"
        ))
    }
}

fn parse_volume(spec: &str) -> Result<Volume, SettingsError> {
    let err = |problem: &str| SettingsError::Volume {
        spec: spec.to_string(),
        problem: problem.to_string(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, options) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => return Err(err("expected SRC:DST[:OPTIONS]")),
    };
    if !source.starts_with('/') {
        return Err(err(
            "the source must be an absolute host path (named volumes need a Docker engine)",
        ));
    }
    if source.contains('\0') {
        return Err(err("the source contains a NUL byte"));
    }
    if !Path::new(source).is_dir() {
        return Err(err("the source is not an existing directory on the host"));
    }
    let destination = normalize_destination(destination).map_err(|p| err(&p))?;
    let mut opts = Vec::new();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        if !MOUNT_FLAGS.contains(&option) {
            return Err(err(&format!(
                "unknown option {option:?} (known: {})",
                MOUNT_FLAGS.join(", ")
            )));
        }
        opts.push(option.to_string());
    }
    Ok(Volume {
        source: PathBuf::from(source),
        destination,
        options: merge_mount_options(&["rw"], &opts),
    })
}

fn parse_tmpfs(spec: &str) -> Result<Tmpfs, SettingsError> {
    let err = |problem: String| SettingsError::Tmpfs {
        spec: spec.to_string(),
        problem,
    };
    let (destination, options) = spec.split_once(':').unwrap_or((spec, ""));
    let destination = normalize_destination(destination).map_err(err)?;
    let mut opts = Vec::new();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        if let Some(size) = option.strip_prefix("size=") {
            check_tmpfs_size(size).map_err(err)?;
        } else if let Some(mode) = option.strip_prefix("mode=") {
            check_tmpfs_mode(mode).map_err(err)?;
        } else if !MOUNT_FLAGS.contains(&option) {
            return Err(err(format!(
                "unknown option {option:?} (known: {}, size=, mode=)",
                MOUNT_FLAGS.join(", ")
            )));
        }
        opts.push(option.to_string());
    }
    // Docker mounts --tmpfs with these unless the options say otherwise.
    Ok(Tmpfs {
        destination,
        options: merge_mount_options(&["rw", "noexec", "nosuid", "nodev"], &opts),
    })
}

/// The id setuid(2) and setgid(2) read as "leave unchanged": a container asked to run
/// as it would keep running as root.
const UNSETTABLE_ID: u32 = u32::MAX;

fn parse_user(spec: &str) -> Result<(u32, u32), SettingsError> {
    let err = |problem: String| SettingsError::User {
        spec: spec.to_string(),
        problem,
    };
    let id = |what: &str, text: &str| -> Result<u32, SettingsError> {
        // Digits only: u32's parser would also take "+5".
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(format!(
                "the {what} {text:?} is not a number (expected UID or UID:GID with numeric ids)"
            )));
        }
        match text.parse::<u32>() {
            Ok(n) if n != UNSETTABLE_ID => Ok(n),
            _ => Err(err(format!(
                "the {what} {text} cannot be set (ids go from 0 to {})",
                UNSETTABLE_ID - 1
            ))),
        }
    };
    let (uid, gid) = spec.split_once(':').unwrap_or((spec, spec));
    Ok((id("uid", uid)?, id("gid", gid)?))
}

/// Where `path` lands inside `root` when a runtime resolves it there: symlinks
/// followed, `..` and absolute targets kept inside `root` (as `RESOLVE_IN_ROOT`
/// does). Components that do not exist are where the runtime would create
/// directories, so they are taken as written.
fn resolve_in_root(root: &Path, path: &str) -> String {
    // Linux's own limit on symlinks in one resolution.
    const MAX_LINKS: usize = 40;
    let mut pending: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(component) = pending.pop() {
        match component.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let host = resolved
            .iter()
            .chain(std::iter::once(&component))
            .fold(root.to_path_buf(), |p, c| p.join(c));
        let is_link = std::fs::symlink_metadata(&host).is_ok_and(|m| m.file_type().is_symlink());
        match std::fs::read_link(&host) {
            Ok(target) if is_link && links < MAX_LINKS => {
                links += 1;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(target.split('/').rev().map(str::to_string));
            }
            _ => resolved.push(component),
        }
    }
    format!("/{}", resolved.join("/"))
}

/// Whether a mount at `resolved` would cover the harness's directory or land in it.
fn covers_harness_dir(resolved: &str) -> bool {
    resolved == "/" || resolved == HARNESS_DIR || resolved.starts_with(&format!("{HARNESS_DIR}/"))
}

/// Refuses two mounts at one destination: only the later one would be seen, and the
/// per-mount probes would report on the same path twice.
fn check_duplicates(
    volumes: &[Volume],
    raw_volumes: &[String],
    tmpfs: &[Tmpfs],
    raw_tmpfs: &[String],
) -> Result<(), SettingsError> {
    let all = volumes
        .iter()
        .zip(raw_volumes)
        .map(|(v, raw)| ("--volume", &v.destination, raw))
        .chain(
            tmpfs
                .iter()
                .zip(raw_tmpfs)
                .map(|(t, raw)| ("--tmpfs", &t.destination, raw)),
        );
    let mut seen: Vec<(&'static str, &String, &String)> = Vec::new();
    for (flag, destination, spec) in all {
        if let Some((first_flag, _, first)) = seen.iter().find(|(_, d, _)| *d == destination) {
            return Err(SettingsError::DuplicateDestination {
                flag,
                spec: spec.clone(),
                destination: destination.clone(),
                first_flag,
                first: (*first).clone(),
            });
        }
        seen.push((flag, destination, spec));
    }
    Ok(())
}

impl RawSettings {
    /// Validates every flag; the first problem found is returned.
    pub fn validate(&self) -> Result<Settings, SettingsError> {
        self.validate_for(own_bounding_caps().as_ref())
    }

    /// Validates against a given bounding set (`None`: no limit), for tests.
    pub fn validate_for(
        &self,
        bounding: Option<&BTreeSet<String>>,
    ) -> Result<Settings, SettingsError> {
        let mut seccomp = match &self.profile {
            Some(path) => Seccomp::Profile(path.clone()),
            None => Seccomp::None,
        };
        let mut no_new_privileges = false;
        let mut unconfined_paths = false;
        for opt in &self.security_opts {
            let problem = |p: &str| SettingsError::SecurityOpt {
                value: opt.clone(),
                problem: p.to_string(),
            };
            let (key, value) = match opt.split_once(['=', ':']) {
                Some((k, v)) => (k, Some(v)),
                None => (opt.as_str(), None),
            };
            match (key, value) {
                ("seccomp", Some("unconfined")) => seccomp = Seccomp::Unconfined,
                ("seccomp", Some(path)) if !path.is_empty() => {
                    if let Some(flag) = self.profile.as_deref().filter(|f| *f != Path::new(path)) {
                        return Err(problem(&format!(
                            "conflicts with --profile {}",
                            flag.display()
                        )));
                    }
                    seccomp = Seccomp::Profile(PathBuf::from(path));
                }
                ("seccomp", _) => {
                    return Err(problem("expected seccomp=FILE or seccomp=unconfined"))
                }
                ("no-new-privileges", None | Some("true")) => no_new_privileges = true,
                ("no-new-privileges", Some("false")) => no_new_privileges = false,
                ("no-new-privileges", _) => {
                    return Err(problem("expected no-new-privileges[=true|false]"))
                }
                ("systempaths", Some("unconfined")) => unconfined_paths = true,
                ("systempaths", _) => return Err(problem("expected systempaths=unconfined")),
                _ => return Err(problem(
                    "supported options are seccomp=FILE, seccomp=unconfined, no-new-privileges and systempaths=unconfined",
                )),
            }
        }
        let network = match self.network.as_deref() {
            None | Some("none") => Network::None,
            Some("host") => Network::Host,
            Some("bridge") => Network::Bridge,
            Some(other) => {
                return Err(SettingsError::Network {
                    value: other.to_string(),
                })
            }
        };
        if let Some(rootfs) = &self.rootfs {
            if !rootfs.is_dir() {
                return Err(SettingsError::Rootfs {
                    path: rootfs.clone(),
                    problem: "not a directory".into(),
                });
            }
        }
        let volumes = self
            .volumes
            .iter()
            .map(|v| parse_volume(v))
            .collect::<Result<Vec<_>, _>>()?;
        let tmpfs = self
            .tmpfs
            .iter()
            .map(|t| parse_tmpfs(t))
            .collect::<Result<Vec<_>, _>>()?;
        check_duplicates(&volumes, &self.volumes, &tmpfs, &self.tmpfs)?;
        if let Some(rootfs) = &self.rootfs {
            // The rootfs is the attacker's: a destination written innocently may be a
            // symlink there to the harness's directory. The spec mounts the runner
            // last as well; this makes the attempt an error instead of a surprise.
            let destinations = volumes.iter().map(|v| &v.destination);
            for destination in destinations.chain(tmpfs.iter().map(|t| &t.destination)) {
                let resolved = resolve_in_root(rootfs, destination);
                if covers_harness_dir(&resolved) {
                    return Err(SettingsError::ShadowingSymlink {
                        rootfs: rootfs.clone(),
                        destination: destination.clone(),
                        resolved,
                    });
                }
            }
        }
        Ok(Settings {
            seccomp,
            no_new_privileges,
            unconfined_paths,
            caps: resolve_caps(&self.cap_add, &self.cap_drop, bounding)?,
            read_only: self.read_only,
            volumes,
            tmpfs,
            user: self.user.as_deref().map(parse_user).transpose()?,
            network,
            rootfs: self.rootfs.clone(),
        })
    }
}

impl Settings {
    /// The settings as the JSON report shows them.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seccomp": match &self.seccomp {
                Seccomp::None => serde_json::Value::Null,
                Seccomp::Unconfined => "unconfined".into(),
                Seccomp::Profile(p) => p.display().to_string().into(),
            },
            "no_new_privileges": self.no_new_privileges,
            "systempaths": if self.unconfined_paths { "unconfined" } else { "default" },
            "caps": self.caps,
            "read_only": self.read_only,
            "volumes": self.volumes.iter().map(|v| serde_json::json!({
                "source": v.source.to_string_lossy(), "destination": v.destination, "options": v.options,
            })).collect::<Vec<_>>(),
            "tmpfs": self.tmpfs.iter().map(|t| serde_json::json!({
                "destination": t.destination, "options": t.options,
            })).collect::<Vec<_>>(),
            "user": self.user.map(|(u, g)| format!("{u}:{g}")),
            "network": self.network,
            // Paths need not be UTF-8; the report shows them as well as it can.
            "rootfs": self.rootfs.as_ref().map(|p| p.to_string_lossy()),
        })
    }

    /// Container paths of every volume and tmpfs mount, for the per-mount probes.
    pub fn mount_points(&self) -> Vec<String> {
        self.volumes
            .iter()
            .map(|v| v.destination.clone())
            .chain(self.tmpfs.iter().map(|t| t.destination.clone()))
            .collect()
    }

    /// The host directory behind a container path, when it is a bind mount.
    pub fn host_source(&self, destination: &str) -> Option<&Path> {
        self.volumes
            .iter()
            .find(|v| v.destination == destination)
            .map(|v| v.source.as_path())
    }
}

/// Everything the spec needs besides the settings.
pub struct SpecInputs<'a> {
    pub settings: &'a Settings,
    /// Host path of the probe binary, bind-mounted read-only at [`PROBE_PATH`].
    pub probe_bin: &'a Path,
    /// Host path of a static shell to provide at [`PROVIDED_SHELL_PATH`], if any.
    pub provided_shell: Option<&'a Path>,
    /// The container process's argv.
    pub args: Vec<String>,
    /// The resolved filter, if any.
    pub seccomp: Option<LinuxSeccomp>,
    /// The network namespace to join (bridge mode).
    pub netns: Option<PathBuf>,
    /// The run's key, for the runner's environment (never its argv: see
    /// `protocol::KEY_ENV`).
    pub key: Option<&'a crate::protocol::Key>,
}

/// The same settings as flags of a docker-compatible engine's `run`, for the engine
/// drivers: the engine builds the spec (and resolves the profile) itself.
pub fn engine_args(inputs: &SpecInputs, podman: bool) -> Vec<String> {
    let settings = inputs.settings;
    let mut args: Vec<String> = vec!["--hostname".into(), "breakout".into()];
    let mut opt = |flag: &str, value: String| {
        args.push(flag.to_string());
        args.push(value);
    };
    match &settings.seccomp {
        Seccomp::Profile(path) => {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            opt("--security-opt", format!("seccomp={}", path.display()));
        }
        // No profile means no filter here too, not the engine's default profile.
        Seccomp::None | Seccomp::Unconfined => opt("--security-opt", "seccomp=unconfined".into()),
    }
    if settings.no_new_privileges {
        opt("--security-opt", "no-new-privileges".into());
    }
    if settings.unconfined_paths {
        opt("--security-opt", "systempaths=unconfined".into());
    }
    opt("--cap-drop", "ALL".into());
    for cap in &settings.caps {
        opt("--cap-add", cap.clone());
    }
    for volume in &settings.volumes {
        opt(
            "--volume",
            format!(
                "{}:{}:{}",
                volume.source.display(),
                volume.destination,
                volume.options.join(",")
            ),
        );
    }
    for tmpfs in &settings.tmpfs {
        opt(
            "--tmpfs",
            format!("{}:{}", tmpfs.destination, tmpfs.options.join(",")),
        );
    }
    if let Some((uid, gid)) = settings.user {
        opt("--user", format!("{uid}:{gid}"));
    }
    let network = match (&inputs.netns, settings.network) {
        (Some(path), _) => format!("ns:{}", path.display()),
        (None, Network::Host) => "host".into(),
        (None, _) => "none".into(),
    };
    opt("--network", network);
    if inputs.key.is_some() {
        // By name only: the engine takes the value from its own environment, which
        // the driver sets; a value here would be on the engine's command line.
        opt("--env", crate::protocol::KEY_ENV.to_string());
    }
    opt("--pids-limit", PIDS_LIMIT.to_string());
    opt("--memory", MEMORY_LIMIT.to_string());
    // The same open-files limit as the OCI spec; podman would otherwise raise nofile
    // and nproc to values a host without CAP_SYS_RESOURCE cannot grant.
    opt("--ulimit", "nofile=1024:1024".into());
    opt("--ulimit", "nproc=1024:1024".into());
    opt(
        "--volume",
        format!("{}:{PROBE_PATH}:ro", inputs.probe_bin.display()),
    );
    if let Some(shell) = inputs.provided_shell {
        opt(
            "--volume",
            format!("{}:{PROVIDED_SHELL_PATH}:ro", shell.display()),
        );
    }
    if settings.read_only {
        args.push("--read-only".into());
        if podman {
            // podman adds writable tmpfs mounts on /tmp, /run and /var/tmp otherwise.
            args.push("--read-only-tmpfs=false".into());
        }
    }
    args
}

fn bind_mount(source: &Path, destination: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .expect("bind mount has every field")
}

/// Builds the OCI runtime spec for one container.
pub fn build_spec(inputs: &SpecInputs) -> Spec {
    let settings = inputs.settings;
    let mut spec = Spec::default();
    spec.set_hostname(Some("breakout".to_string()));
    spec.set_annotations(None);
    spec.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(settings.read_only)
            .build()
            .expect("root has every field"),
    ));

    let caps: std::collections::HashSet<Capability> = settings
        .caps
        .iter()
        .map(|c| {
            serde_json::from_value(serde_json::Value::String(c.clone()))
                .expect("capability names were validated")
        })
        .collect();
    // Inheritable and ambient stay empty, as Docker has them: the builder's defaults
    // would put KILL, AUDIT_WRITE and NET_BIND_SERVICE there, which hands those to a
    // non-root --user through the ambient set, and makes runc refuse to start any
    // container whose permitted set lacks one of them (--cap-drop ALL).
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(std::collections::HashSet::new())
        .ambient(std::collections::HashSet::new())
        .build()
        .expect("capabilities have every field");
    let (uid, gid) = settings.user.unwrap_or((0, 0));
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(
            UserBuilder::default()
                .uid(uid)
                .gid(gid)
                .build()
                .expect("user has every field"),
        )
        .args(inputs.args.clone())
        .env(
            std::iter::once(
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            )
            .chain(
                inputs
                    .key
                    .map(|key| format!("{}={}", crate::protocol::KEY_ENV, key.to_hex())),
            )
            .collect::<Vec<_>>(),
        )
        .cwd("/")
        .capabilities(capabilities)
        .no_new_privileges(settings.no_new_privileges)
        .build()
        .expect("process has every field");
    spec.set_process(Some(process));

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    // The cgroup mount of the default spec needs a cgroup namespace layout we do not set up.
    mounts.retain(|m| m.destination() != Path::new("/sys/fs/cgroup"));
    for volume in &settings.volumes {
        let mut options = vec!["rbind", "rprivate"];
        options.extend(volume.options.iter().map(String::as_str));
        mounts.push(bind_mount(&volume.source, &volume.destination, &options));
    }
    for tmpfs in &settings.tmpfs {
        mounts.push(
            MountBuilder::default()
                .destination(&tmpfs.destination)
                .typ("tmpfs")
                .source("tmpfs")
                .options(tmpfs.options.clone())
                .build()
                .expect("tmpfs mount has every field"),
        );
    }
    // The harness's own mounts come last, on top of everything: a user mount whose
    // destination is a symlink in the (hostile) rootfs to /.breakout lands there when
    // the runtime resolves it, and must not cover the runner.
    mounts.push(bind_mount(
        inputs.probe_bin,
        PROBE_PATH,
        &["bind", "ro", "nosuid", "nodev"],
    ));
    if let Some(shell) = inputs.provided_shell {
        mounts.push(bind_mount(
            shell,
            PROVIDED_SHELL_PATH,
            &["bind", "ro", "nosuid", "nodev"],
        ));
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    if let Some(namespaces) = linux.namespaces_mut() {
        namespaces.retain(|ns| {
            ns.typ() != LinuxNamespaceType::Cgroup
                && !(settings.network == Network::Host && ns.typ() == LinuxNamespaceType::Network)
        });
        if let Some(path) = &inputs.netns {
            for ns in namespaces.iter_mut() {
                if ns.typ() == LinuxNamespaceType::Network {
                    ns.set_path(Some(path.clone()));
                }
            }
        }
    }
    linux.set_resources(Some(
        LinuxResourcesBuilder::default()
            .pids(
                LinuxPidsBuilder::default()
                    .limit(PIDS_LIMIT)
                    .build()
                    .expect("pids has every field"),
            )
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(MEMORY_LIMIT)
                    .build()
                    .expect("memory has every field"),
            )
            .build()
            .expect("resources have every field"),
    ));
    if settings.unconfined_paths {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }
    linux.set_seccomp(inputs.seccomp.clone());
    spec.set_linux(Some(linux));
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSettings {
        RawSettings::default()
    }

    #[test]
    fn defaults_match_docker_run() {
        let s = raw().validate().unwrap();
        assert_eq!(s.caps.len(), 14);
        assert!(s.caps.contains("CAP_NET_RAW"));
        assert_eq!(s.network, Network::None);
        assert_eq!(s.seccomp, Seccomp::None);
        assert!(!s.no_new_privileges);
        assert!(!s.read_only);
    }

    #[test]
    fn tmpfs_gets_docker_defaults_and_overrides() {
        let t = parse_tmpfs("/scratch").unwrap();
        assert_eq!(t.options, ["rw", "noexec", "nosuid", "nodev"]);
        let t = parse_tmpfs("/scratch:exec,size=1m").unwrap();
        assert_eq!(t.options, ["rw", "nosuid", "nodev", "exec", "size=1m"]);
        assert!(parse_tmpfs("scratch").is_err());
        assert!(parse_tmpfs("/scratch:bogus").is_err());
    }

    #[test]
    fn destinations_are_normalized_or_refused() {
        for (given, normal) in [
            ("/data", "/data"),
            ("//data//x/", "/data/x"),
            ("/.breakoutx", "/.breakoutx"),
            ("/x/.breakout", "/x/.breakout"),
        ] {
            assert_eq!(
                normalize_destination(given).as_deref(),
                Ok(normal),
                "{given}"
            );
        }
        let long_component = format!("/{}", "a".repeat(256));
        let long_path = "/aaaaaaaa".repeat(512);
        for bad in [
            "",
            "/",
            "//",
            "data",
            "/..",
            "/x/..",
            "/x/../.breakout",
            "/./x",
            "/.breakout",
            "/.breakout/",
            "//.breakout",
            "/.breakout/breakout-probe",
            "/.breakout/sh",
            "/.breakout/other",
            "/x\0y",
            "/x\ny",
            "/x\u{1b}[2J",
            "/a,b",
            "/a:b",
            &long_component,
            &long_path,
        ] {
            assert!(normalize_destination(bad).is_err(), "{bad:?} was accepted");
        }
        let problem = normalize_destination("/x\u{1b}").unwrap_err();
        assert!(!problem.contains('\u{1b}'), "{problem:?}");
    }

    #[test]
    fn tmpfs_sizes_and_modes_are_what_tmpfs_accepts() {
        for good in [
            "/t:size=0",
            "/t:size=1024",
            "/t:size=64k",
            "/t:size=1M",
            "/t:size=2g",
            "/t:size=50%",
            "/t:mode=1777",
            "/t:mode=0755",
            "/t:mode=7",
        ] {
            assert!(parse_tmpfs(good).is_ok(), "{good}");
        }
        for bad in [
            "/t:size=",
            "/t:size=banana",
            "/t:size=1x",
            "/t:size=-1",
            "/t:size=1.5m",
            "/t:size=%",
            "/t:size=99999999999999999999",
            "/t:size=16777216e",
            "/t:size=1m:mode=1777",
            "/t:mode=",
            "/t:mode=8",
            "/t:mode=10000",
            "/t:mode=rwx",
            "/t:mode=-1",
            "/t:mode=0x1ff",
        ] {
            let e = parse_tmpfs(bad).unwrap_err();
            assert!(e.to_string().starts_with("--tmpfs "), "{e}");
        }
    }

    #[test]
    fn users_that_cannot_be_set_are_refused() {
        assert_eq!(parse_user("4294967294").unwrap(), (4294967294, 4294967294));
        for bad in [
            "4294967295",
            "0:4294967295",
            "4294967295:0",
            "4294967296",
            "+5",
            "-1",
            "",
            ":",
            "1:",
            ":1",
            "1:2:3",
            " 1",
        ] {
            let e = parse_user(bad).unwrap_err();
            assert!(e.to_string().starts_with("--user "), "{e}");
        }
    }

    #[test]
    fn duplicate_destinations_are_refused() {
        let dir = std::env::temp_dir();
        let src = dir.display().to_string();
        for (volumes, tmpfs) in [
            (vec![format!("{src}:/x"), format!("{src}:/x:ro")], vec![]),
            (vec![], vec!["/x".to_string(), "//x/".to_string()]),
            (vec![format!("{src}:/x")], vec!["/x:size=1m".to_string()]),
        ] {
            let e = RawSettings {
                volumes,
                tmpfs,
                ..raw()
            }
            .validate_for(None)
            .unwrap_err();
            assert!(
                matches!(e, SettingsError::DuplicateDestination { .. }),
                "{e}"
            );
            assert!(e.to_string().contains("destination /x"), "{e}");
        }
        // Nested mounts are fine: Docker allows them.
        assert!(RawSettings {
            tmpfs: vec!["/x".into(), "/x/y".into()],
            ..raw()
        }
        .validate_for(None)
        .is_ok());
    }

    #[test]
    fn destinations_resolved_in_the_rootfs_stay_off_the_harness_dir() {
        let root =
            std::env::temp_dir().join(format!("breakout-unit-rootfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("real")).unwrap();
        let link =
            |name: &str, target: &str| std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        link("abs", "/.breakout");
        link("rel", ".breakout");
        link("up", "../../../.breakout");
        link("top", "/");
        link("chain", "abs");
        link("loop", "loop");
        assert_eq!(resolve_in_root(&root, "/real/x"), "/real/x");
        assert_eq!(resolve_in_root(&root, "/abs"), "/.breakout");
        assert_eq!(resolve_in_root(&root, "/rel/sh"), "/.breakout/sh");
        assert_eq!(resolve_in_root(&root, "/up"), "/.breakout");
        assert_eq!(resolve_in_root(&root, "/top"), "/");
        assert_eq!(resolve_in_root(&root, "/chain"), "/.breakout");
        assert!(!covers_harness_dir(&resolve_in_root(&root, "/loop")));
        let settings = |tmpfs: &str| {
            RawSettings {
                rootfs: Some(root.clone()),
                tmpfs: vec![tmpfs.into()],
                ..raw()
            }
            .validate_for(None)
        };
        for bad in ["/abs", "/rel/x", "/up", "/top", "/chain"] {
            let e = settings(bad).unwrap_err();
            assert!(
                matches!(e, SettingsError::ShadowingSymlink { .. }),
                "{bad}: {e}"
            );
        }
        assert!(settings("/real").is_ok());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_harness_mounts_come_last() {
        let settings = RawSettings {
            tmpfs: vec!["/scratch".into()],
            volumes: vec![format!("{}:/data", std::env::temp_dir().display())],
            ..raw()
        }
        .validate()
        .unwrap();
        let spec = build_spec(&SpecInputs {
            settings: &settings,
            probe_bin: Path::new("/usr/bin/true"),
            provided_shell: Some(Path::new("/bin/sh")),
            args: vec![PROBE_PATH.into()],
            seccomp: None,
            netns: None,
            key: None,
        });
        let destinations: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().clone())
            .collect();
        let n = destinations.len();
        assert_eq!(destinations[n - 2], Path::new(PROBE_PATH));
        assert_eq!(destinations[n - 1], Path::new(PROVIDED_SHELL_PATH));
    }

    #[test]
    fn volumes_parse_and_reject() {
        let v = parse_volume("/tmp:/data:ro,noexec").unwrap();
        assert_eq!(v.source, PathBuf::from("/tmp"));
        assert_eq!(v.destination, "/data");
        assert_eq!(v.options, ["ro", "noexec"]);
        assert!(parse_volume("/tmp").is_err());
        assert!(parse_volume("rel:/data").is_err());
        assert!(parse_volume("/definitely/not/here:/data").is_err());
        assert!(parse_volume("/tmp:/data:sideways").is_err());
    }

    #[test]
    fn security_opts() {
        let s = RawSettings {
            security_opts: vec!["seccomp=unconfined".into(), "no-new-privileges".into()],
            ..raw()
        }
        .validate()
        .unwrap();
        assert_eq!(s.seccomp, Seccomp::Unconfined);
        assert!(s.no_new_privileges);
        assert!(!s.unconfined_paths);
        let s = RawSettings {
            security_opts: vec!["systempaths=unconfined".into()],
            ..raw()
        }
        .validate()
        .unwrap();
        assert!(s.unconfined_paths);
        let s = RawSettings {
            security_opts: vec!["seccomp=/x.json".into()],
            ..raw()
        }
        .validate()
        .unwrap();
        assert_eq!(s.seccomp, Seccomp::Profile("/x.json".into()));
        assert!(RawSettings {
            security_opts: vec!["apparmor=foo".into()],
            ..raw()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn users_and_networks() {
        assert_eq!(parse_user("1000").unwrap(), (1000, 1000));
        assert_eq!(parse_user("1000:50").unwrap(), (1000, 50));
        assert!(parse_user("nobody").is_err());
        assert!(RawSettings {
            network: Some("wifi".into()),
            ..raw()
        }
        .validate()
        .is_err());
    }

    /// Settings that touch every branch of the spec and the engine argv.
    fn pinned_settings() -> Settings {
        RawSettings {
            profile: Some("/x.json".into()),
            security_opts: vec!["no-new-privileges".into(), "systempaths=unconfined".into()],
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["NET_RAW".into(), "sys_admin".into()],
            read_only: true,
            volumes: vec!["/tmp:/data:ro,noexec".into()],
            tmpfs: vec!["/scratch:exec,size=1m".into()],
            user: Some("1000:50".into()),
            network: Some("host".into()),
            rootfs: None,
        }
        .validate_for(None)
        .unwrap()
    }

    fn pinned_key() -> crate::protocol::Key {
        crate::protocol::Key::from_hex(&"ab".repeat(32)).unwrap()
    }

    fn pinned_inputs<'a>(settings: &'a Settings, key: &'a crate::protocol::Key) -> SpecInputs<'a> {
        SpecInputs {
            settings,
            probe_bin: Path::new("/usr/bin/true"),
            provided_shell: Some(Path::new("/bin/sh")),
            args: vec![PROBE_PATH.into(), "run".into()],
            seccomp: None,
            netns: Some("/run/netns/x".into()),
            key: Some(key),
        }
    }

    /// config.json as written, with the capability sets sorted: they are hash sets,
    /// whose order differs from one process to the next.
    fn stable_spec_json(spec: &Spec) -> String {
        let mut json = serde_json::to_value(spec).unwrap();
        if let Some(caps) = json["process"]["capabilities"].as_object_mut() {
            for set in caps.values_mut() {
                if let Some(list) = set.as_array_mut() {
                    list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                }
            }
        }
        serde_json::to_string_pretty(&json).unwrap() + "\n"
    }

    #[test]
    fn config_json_is_pinned() {
        let settings = pinned_settings();
        let key = pinned_key();
        let got = stable_spec_json(&build_spec(&pinned_inputs(&settings, &key)));
        let golden =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("src/container/testdata/config.json");
        if std::env::var_os("BREAKOUT_BLESS").is_some() {
            std::fs::write(&golden, &got).unwrap();
        }
        assert_eq!(got, std::fs::read_to_string(&golden).unwrap());
        let defaults = raw().validate_for(None).unwrap();
        let got = stable_spec_json(&build_spec(&SpecInputs {
            provided_shell: None,
            netns: None,
            key: None,
            ..pinned_inputs(&defaults, &key)
        }));
        let golden = golden.with_file_name("config-defaults.json");
        if std::env::var_os("BREAKOUT_BLESS").is_some() {
            std::fs::write(&golden, &got).unwrap();
        }
        assert_eq!(got, std::fs::read_to_string(&golden).unwrap());
    }

    #[test]
    fn engine_argv_is_pinned() {
        let settings = pinned_settings();
        let key = pinned_key();
        let inputs = pinned_inputs(&settings, &key);
        let common = [
            "--hostname",
            "breakout",
            "--security-opt",
            "seccomp=/x.json",
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            "systempaths=unconfined",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CAP_NET_RAW",
            "--cap-add",
            "CAP_SYS_ADMIN",
            "--volume",
            "/tmp:/data:ro,noexec",
            "--tmpfs",
            "/scratch:rw,nosuid,nodev,exec,size=1m",
            "--user",
            "1000:50",
            "--network",
            "ns:/run/netns/x",
            "--env",
            crate::protocol::KEY_ENV,
            "--pids-limit",
            "256",
            "--memory",
            "536870912",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "--volume",
            "/usr/bin/true:/.breakout/breakout-probe:ro",
            "--volume",
            "/bin/sh:/.breakout/sh:ro",
            "--read-only",
        ];
        assert_eq!(engine_args(&inputs, false), common);
        let mut podman = common.to_vec();
        podman.push("--read-only-tmpfs=false");
        assert_eq!(engine_args(&inputs, true), podman);
        let defaults = raw().validate_for(None).unwrap();
        let argv = engine_args(
            &SpecInputs {
                provided_shell: None,
                netns: None,
                key: None,
                ..pinned_inputs(&defaults, &key)
            },
            true,
        );
        let caps: Vec<String> = DOCKER_DEFAULT_CAPS
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .flat_map(|c| ["--cap-add".to_string(), c.to_string()])
            .collect();
        let mut want: Vec<String> = [
            "--hostname",
            "breakout",
            "--security-opt",
            "seccomp=unconfined",
            "--cap-drop",
            "ALL",
        ]
        .map(String::from)
        .to_vec();
        want.extend(caps);
        want.extend(
            [
                "--network",
                "none",
                "--pids-limit",
                "256",
                "--memory",
                "536870912",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                "--volume",
                "/usr/bin/true:/.breakout/breakout-probe:ro",
            ]
            .map(String::from),
        );
        assert_eq!(argv, want);
    }

    #[test]
    fn spec_carries_settings() {
        let settings = RawSettings {
            read_only: true,
            network: Some("host".into()),
            tmpfs: vec!["/scratch:noexec".into()],
            user: Some("1000:1000".into()),
            ..raw()
        }
        .validate()
        .unwrap();
        let spec = build_spec(&SpecInputs {
            settings: &settings,
            probe_bin: Path::new("/usr/bin/true"),
            provided_shell: None,
            args: vec![PROBE_PATH.into(), "run".into()],
            seccomp: None,
            netns: None,
            key: None,
        });
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["root"]["readonly"], true);
        assert_eq!(json["process"]["user"]["uid"], 1000);
        assert_eq!(json["process"]["noNewPrivileges"], false);
        let namespaces = json["linux"]["namespaces"].as_array().unwrap();
        assert!(namespaces.iter().all(|n| n["type"] != "network"));
        let mounts = json["mounts"].as_array().unwrap();
        let scratch = mounts
            .iter()
            .find(|m| m["destination"] == "/scratch")
            .unwrap();
        assert!(scratch["options"]
            .as_array()
            .unwrap()
            .contains(&"noexec".into()));
        assert!(mounts.iter().any(|m| m["destination"] == PROBE_PATH));
        assert!(json["linux"].get("seccomp").is_none());
        assert_eq!(json["linux"]["resources"]["pids"]["limit"], PIDS_LIMIT);
        // As Docker: no inheritable and no ambient capabilities, whatever the user.
        let caps = &json["process"]["capabilities"];
        for set in ["inheritable", "ambient"] {
            assert!(
                caps[set].as_array().is_none_or(|a| a.is_empty()),
                "{set}: {}",
                caps[set]
            );
        }
        assert!(caps["bounding"]
            .as_array()
            .unwrap()
            .contains(&"CAP_KILL".into()));
    }
}
