//! `RawSettings` (the flags as typed) validated into `Settings`, and the errors that
//! name the flag at fault.
//!
//! Defaults follow `docker run`: Docker's default capability set, a private network
//! namespace, a writable rootfs, `no-new-privileges` off. One deliberate difference:
//! without a profile there is no seccomp filter at all (Docker would apply its default
//! profile), and reports say so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::caps::{own_bounding_caps, resolve_caps, DOCKER_DEFAULT_CAPS};
use super::mounts::{check_duplicates, check_rootfs_symlinks, parse_tmpfs, parse_volume};
use super::{Tmpfs, Volume, HARNESS_DIR};

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
    #[error("--network {value:?}: expected bridge (the default), none or host; a named network or container:NAME is an engine's, not breakout's")]
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
    #[error(transparent)]
    RunFlag(#[from] super::RunFlagError),
    /// `--image`: a reference of no known form, or given with `--rootfs`.
    #[error("{0}")]
    Image(String),
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
    /// The default, like `docker run`'s: a network namespace of the harness's, joined
    /// by a veth pair to a second one where the canary listens: egress to a "remote"
    /// host, without leaving the machine.
    Bridge,
}

impl Network {
    /// The mode's name, as `--network` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Network::Bridge => "bridge",
            Network::None => "none",
            Network::Host => "host",
        }
    }

    /// What the verdicts were measured on, in words for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Network::Bridge => "bridge: the run's own namespace, egress to breakout's canary only (as docker run's default network lets traffic out)",
            Network::None => "none: a private network namespace, loopback only",
            Network::Host => "host: the host's network namespace",
        }
    }
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
    /// The root filesystem: a user's directory, or an image's unpacked tree.
    pub rootfs: Option<PathBuf>,
    /// `--privileged`, host namespaces, limits, sysctls, devices.
    pub flags: super::RunFlags,
    /// `--security-opt apparmor=...` and `label=...` as given: recorded, passed to an
    /// engine, and enforced only where that LSM is active (the report says).
    pub lsm: Vec<String>,
    /// Where these settings mean less than they say here, in words for the report.
    pub notes: Vec<String>,
    /// The image `rootfs` was unpacked from, once the plan has resolved it.
    pub image: Option<crate::image::ImageInfo>,
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
            network: Network::Bridge,
            rootfs: None,
            flags: super::RunFlags::default(),
            lsm: Vec::new(),
            notes: Vec::new(),
            image: None,
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
    pub run_flags: super::RawRunFlags,
    /// `--image`: unpacked when the plan is made (validation only reads its form).
    pub image: Option<crate::image::ImageRequest>,
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
        let mut lsm = Vec::new();
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
                ("apparmor" | "label", Some(v)) if !v.is_empty() => lsm.push(opt.clone()),
                ("apparmor", _) => return Err(problem("expected apparmor=PROFILE")),
                ("label", _) => return Err(problem("expected label=VALUE (label=disable, label=type:TYPE, ...)")),
                _ => return Err(problem(
                    "supported options are seccomp=FILE, seccomp=unconfined, no-new-privileges, systempaths=unconfined, apparmor=PROFILE and label=VALUE",
                )),
            }
        }
        let mut network = match self.network.as_deref() {
            Some("none") => Network::None,
            Some("host") => Network::Host,
            // `default` is docker's name for its default network: the bridge.
            None | Some("bridge") | Some("default") => Network::Bridge,
            Some(other) => {
                return Err(SettingsError::Network {
                    value: other.to_string(),
                })
            }
        };
        if let Some(image) = &self.image {
            if self.rootfs.is_some() {
                return Err(SettingsError::Image(format!(
                    "--image {}: give --image or --rootfs, not both",
                    image.reference
                )));
            }
            crate::image::parse(&image.reference)
                .map_err(|e| SettingsError::Image(e.to_string()))?;
        }
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
            check_rootfs_symlinks(rootfs, &volumes, &tmpfs)?;
        }
        let flags = self.run_flags.validate(network)?;
        let mut notes = flags.notes(matches!(seccomp, Seccomp::Profile(_)));
        if flags.private_userns && self.network.is_none() {
            network = Network::None;
            notes.push("--userns private: the network is none, not the default bridge: the bridge's namespace belongs to the host's user namespace, in which the container cannot mount its sysfs (runc refuses to start); --network bridge asks for it anyway".to_string());
        }
        for opt in &lsm {
            let module = if opt.starts_with("apparmor") {
                "apparmor"
            } else {
                "selinux"
            };
            if !super::lsm_active(module) {
                notes.push(format!(
                    "--security-opt {opt}: {module} is not active on this host, so the option was not enforced"
                ));
            }
        }
        let mut caps = resolve_caps(&self.cap_add, &self.cap_drop, bounding)?;
        if flags.privileged {
            // Docker's privileged container: every capability, no filter, nothing
            // masked (see run_flags.rs).
            caps = resolve_caps(&["ALL".to_string()], &[], bounding)?;
            seccomp = Seccomp::Unconfined;
            unconfined_paths = true;
        }
        Ok(Settings {
            seccomp,
            no_new_privileges,
            unconfined_paths,
            caps,
            read_only: self.read_only,
            volumes,
            tmpfs,
            user: self.user.as_deref().map(parse_user).transpose()?,
            network,
            rootfs: self.rootfs.clone(),
            flags,
            lsm,
            notes,
            image: None,
        })
    }
}

impl Settings {
    /// Refuses the mounts if `rootfs` (as it is now: a container may have changed it)
    /// turns a destination, through a symlink, into the harness's directory or `/`.
    /// Checked again before each container that resumes a suite.
    pub fn check_mounts_against(&self, rootfs: &std::path::Path) -> Result<(), SettingsError> {
        check_rootfs_symlinks(rootfs, &self.volumes, &self.tmpfs)
    }

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
            "run": self.flags.to_json(),
            "lsm": self.lsm,
            "notes": self.notes,
            "image": self.image.as_ref().map(|i| i.to_json()),
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
        assert_eq!(s.network, Network::Bridge);
        assert_eq!(s.seccomp, Seccomp::None);
        assert!(!s.no_new_privileges);
        assert!(!s.read_only);
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
        // An LSM option is accepted and recorded; a malformed one is not.
        let s = RawSettings {
            security_opts: vec!["apparmor=foo".into(), "label=disable".into()],
            ..raw()
        }
        .validate()
        .unwrap();
        assert_eq!(s.lsm, ["apparmor=foo", "label=disable"]);
        assert!(RawSettings {
            security_opts: vec!["apparmor".into()],
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
}
