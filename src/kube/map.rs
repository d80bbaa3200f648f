//! A pod's and its container's security context as breakout's sandbox settings, the
//! way the kubelet and a CRI runtime (containerd, CRI-O) would apply them; what one
//! machine cannot honour is listed as such.
//!
//! - `seccompProfile`: `RuntimeDefault` is the CRI runtime's default profile, which for
//!   containerd and CRI-O is Docker's (`profiles/docker-default.json`, built into
//!   breakout); `Localhost` is `localhostProfile` under `--seccomp-root` (the kubelet's
//!   `<root-dir>/seccomp`); `Unconfined`, and no profile at all (the kubelet's default
//!   without `SeccompDefault`), give no filter. The container's setting wins over the
//!   pod's.
//! - `capabilities.add/drop` in Kubernetes' spelling (`NET_RAW`), on the runtime's
//!   default set (Docker's); `privileged`; `allowPrivilegeEscalation: false` is
//!   no-new-privileges; `readOnlyRootFilesystem`; `runAsUser`/`runAsGroup`;
//!   `runAsNonRoot` with no non-root user is the kubelet's refusal to start;
//!   `procMount: Unmasked` is `systempaths=unconfined`; pod `sysctls`; `hostPID`,
//!   `hostIPC`, `hostNetwork` (else the default bridge, as a pod network lets traffic
//!   out); `hostUsers: false` (a user namespace); the container's
//!   memory limit.
//! - Volumes mounted by the container: `emptyDir` as a tmpfs (`medium: Memory` is one;
//!   on disk it is one here too, said in a note), `hostPath` as a bind mount.
//! - `runtimeClassName` picks the runtime: `runc` and `crun` by name, `gvisor` and
//!   `runsc` to runsc (gVisor's containerd shim leaves the pod's seccomp profile aside,
//!   as runsc without --oci-seccomp does), or `--runtime-class NAME=RUNTIME`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{SeccompProfile, SecurityContext};

use super::{KubeError, PodInput};
use crate::container::{RawRunFlags, RawSettings};

/// The default mapping of a pod's `runtimeClassName` to a breakout runtime.
const RUNTIME_CLASSES: &[(&str, &str)] = &[
    ("runc", "runc"),
    ("crun", "crun"),
    ("gvisor", "runsc"),
    ("runsc", "runsc"),
];

/// Docker's default profile, which containerd and CRI-O apply as RuntimeDefault.
pub const RUNTIME_DEFAULT_PROFILE: &str = include_str!("../../profiles/docker-default.json");

/// Choices `--pod` takes from the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where `Localhost` profiles are (the kubelet's `<root-dir>/seccomp`).
    pub seccomp_root: Option<PathBuf>,
    /// `NAME=RUNTIME`, over [`RUNTIME_CLASSES`].
    pub runtime_classes: Vec<String>,
}

/// What the manifest asks for, as breakout settings.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub settings: RawSettings,
    /// `RuntimeDefault`: the profile is [`RUNTIME_DEFAULT_PROFILE`], for the caller to
    /// hand over (a file of its own, or inline); `settings.profile` is then empty.
    pub runtime_default: bool,
    /// The runtime `runtimeClassName` picks, if it names one.
    pub runtime: Option<String>,
    /// What is not honoured, or honoured differently, in words.
    pub notes: Vec<String>,
}

/// What a seccompProfile asks for.
enum SeccompChoice {
    File(PathBuf),
    RuntimeDefault,
    /// A `--security-opt` (seccomp=unconfined), and a note where it is the default.
    Option(String, Option<String>),
}

fn seccomp(
    profile: Option<&SeccompProfile>,
    options: &Options,
    pod: &PodInput,
) -> Result<SeccompChoice, KubeError> {
    let err = |problem: String| KubeError {
        path: pod.path.clone(),
        problem,
    };
    let Some(profile) = profile else {
        return Ok(SeccompChoice::Option(
            "seccomp=unconfined".into(),
            Some("no seccompProfile: the kubelet's default (without SeccompDefault) is Unconfined, so no filter".into()),
        ));
    };
    match profile.type_.as_str() {
        "Unconfined" => Ok(SeccompChoice::Option("seccomp=unconfined".into(), None)),
        "RuntimeDefault" => Ok(SeccompChoice::RuntimeDefault),
        "Localhost" => {
            let name = profile
                .localhost_profile
                .as_deref()
                .ok_or_else(|| err("seccompProfile Localhost without localhostProfile".into()))?;
            let root = options.seccomp_root.as_ref().ok_or_else(|| {
                err(format!(
                    "seccompProfile Localhost {name:?}: give --seccomp-root DIR, the kubelet's <root-dir>/seccomp where it lies"
                ))
            })?;
            if Path::new(name).is_absolute() || name.split('/').any(|p| p == "..") {
                return Err(err(format!(
                    "localhostProfile {name:?} must be a path under the seccomp root"
                )));
            }
            Ok(SeccompChoice::File(root.join(name)))
        }
        other => Err(err(format!(
            "seccompProfile type {other:?}: expected RuntimeDefault, Localhost or Unconfined"
        ))),
    }
}

/// A Kubernetes memory quantity (`128Mi`, `1G`, `500000`) in bytes, as `--memory` reads.
fn quantity_bytes(q: &str) -> Option<i64> {
    let units: &[(&str, i64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, scale) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<i64>().ok()?.checked_mul(*scale);
        }
    }
    q.parse().ok()
}

/// The settings of `pod`'s picked container.
pub fn map(pod: &PodInput, options: &Options) -> Result<Mapped, KubeError> {
    let err = |problem: String| KubeError {
        path: pod.path.clone(),
        problem,
    };
    let spec = &pod.spec;
    let c = &pod.container;
    let psc = spec.security_context.clone().unwrap_or_default();
    let csc: SecurityContext = c.security_context.clone().unwrap_or_default();
    let mut notes = Vec::new();
    let mut security_opts = Vec::new();

    let mut profile = None;
    let mut runtime_default = false;
    match seccomp(
        csc.seccomp_profile
            .as_ref()
            .or(psc.seccomp_profile.as_ref()),
        options,
        pod,
    )? {
        SeccompChoice::File(path) => profile = Some(path),
        SeccompChoice::RuntimeDefault => {
            runtime_default = true;
            notes.push("seccompProfile RuntimeDefault: Docker's default profile, which containerd and CRI-O apply".into());
        }
        SeccompChoice::Option(opt, note) => {
            security_opts.push(opt);
            notes.extend(note);
        }
    }
    if csc.allow_privilege_escalation == Some(false) {
        security_opts.push("no-new-privileges".into());
    }
    match csc.proc_mount.as_deref() {
        None | Some("Default") => {}
        Some("Unmasked") => security_opts.push("systempaths=unconfined".into()),
        Some(other) => {
            return Err(err(format!(
                "procMount {other:?}: expected Default or Unmasked"
            )))
        }
    }
    if let Some(aa) = csc
        .app_armor_profile
        .as_ref()
        .or(psc.app_armor_profile.as_ref())
    {
        let value = match (aa.type_.as_str(), aa.localhost_profile.as_deref()) {
            ("Localhost", Some(name)) => name.to_string(),
            ("Unconfined", _) => "unconfined".into(),
            _ => "runtime/default".into(),
        };
        security_opts.push(format!("apparmor={value}"));
    }
    if let Some(se) = csc
        .se_linux_options
        .as_ref()
        .or(psc.se_linux_options.as_ref())
    {
        if let Some(t) = &se.type_ {
            security_opts.push(format!("label=type:{t}"));
        }
    }

    let caps = csc.capabilities.clone().unwrap_or_default();
    let uid = csc.run_as_user.or(psc.run_as_user);
    let gid = csc.run_as_group.or(psc.run_as_group);
    let non_root = csc.run_as_non_root.or(psc.run_as_non_root) == Some(true);
    if non_root && uid.unwrap_or(0) == 0 {
        return Err(err(format!(
            "{} container {:?}: runAsNonRoot with no non-root runAsUser: the kubelet refuses to start it (breakout has no image user to check)",
            pod.source, c.name
        )));
    }
    let user = uid.map(|u| format!("{u}:{}", gid.unwrap_or(u)));

    // Volumes this container mounts.
    let mut volumes = Vec::new();
    let mut tmpfs = Vec::new();
    for mount in c.volume_mounts.iter().flatten() {
        let Some(volume) = spec.volumes.iter().flatten().find(|v| v.name == mount.name) else {
            return Err(err(format!(
                "volumeMount {:?} names no volume of the pod",
                mount.name
            )));
        };
        let ro = mount.read_only == Some(true);
        if let Some(dir) = &volume.empty_dir {
            let memory = dir.medium.as_deref() == Some("Memory");
            if !memory {
                notes.push(format!(
                    "volume {:?} (emptyDir on disk) is a tmpfs here",
                    volume.name
                ));
            }
            let mut options = ["rw", "nosuid", "nodev"];
            if ro {
                options[0] = "ro";
            }
            tmpfs.push(format!("{}:{}", mount.mount_path, options.join(",")));
        } else if let Some(host) = &volume.host_path {
            volumes.push(format!(
                "{}:{}{}",
                host.path,
                mount.mount_path,
                if ro { ":ro" } else { "" }
            ));
        } else {
            notes.push(format!(
                "volume {:?} at {}: only emptyDir and hostPath are mounted here; it is left out",
                volume.name, mount.mount_path
            ));
        }
    }

    let runtime_classes: BTreeMap<String, String> = RUNTIME_CLASSES
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(options.runtime_classes.iter().filter_map(|m| {
            m.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        }))
        .collect();
    let runtime = match &spec.runtime_class_name {
        None => None,
        Some(class) => Some(runtime_classes.get(class).cloned().ok_or_else(|| {
            err(format!(
                "runtimeClassName {class:?}: no runtime is known for it (known: {}); map it with --runtime-class {class}=RUNTIME",
                runtime_classes.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?),
    };

    let memory = c
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .map(|q| {
            quantity_bytes(&q.0)
                .map(|b| b.to_string())
                .ok_or_else(|| err(format!("memory limit {:?} is not a quantity", q.0)))
        })
        .transpose()?;

    for (what, present) in [
        ("fsGroup", psc.fs_group.is_some()),
        (
            "supplementalGroups",
            psc.supplemental_groups
                .as_ref()
                .is_some_and(|g| !g.is_empty()),
        ),
        (
            "windowsOptions",
            csc.windows_options.is_some() || psc.windows_options.is_some(),
        ),
        (
            "shareProcessNamespace",
            spec.share_process_namespace == Some(true),
        ),
        (
            "command/args (the workload runs with --workload)",
            c.command.is_some() || c.args.is_some(),
        ),
    ] {
        if present {
            notes.push(format!("{what} is not honoured here"));
        }
    }
    if let Some(image) = &c.image {
        notes.push(format!(
            "image {image:?} is not pulled: give it with --image (the probes run in the default rootfs otherwise)"
        ));
    }

    let settings = RawSettings {
        profile,
        security_opts,
        cap_add: caps.add.unwrap_or_default(),
        cap_drop: caps.drop.unwrap_or_default(),
        read_only: csc.read_only_root_filesystem == Some(true),
        volumes,
        tmpfs,
        user,
        network: (spec.host_network == Some(true)).then(|| "host".to_string()),
        rootfs: None,
        // `--image` is the command line's: a manifest's image is not pulled.
        image: None,
        run_flags: RawRunFlags {
            privileged: csc.privileged == Some(true),
            pid: (spec.host_pid == Some(true)).then(|| "host".to_string()),
            ipc: (spec.host_ipc == Some(true)).then(|| "host".to_string()),
            uts: None,
            pids_limit: None,
            memory,
            sysctls: psc
                .sysctls
                .iter()
                .flatten()
                .map(|s| format!("{}={}", s.name, s.value))
                .collect(),
            devices: Vec::new(),
            // A pod with hostUsers: false runs in a user namespace of its own.
            userns: (spec.host_users == Some(false)).then(|| "private".to_string()),
        },
    };
    Ok(Mapped {
        settings,
        runtime_default,
        runtime,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_bytes() {
        assert_eq!(quantity_bytes("128Mi"), Some(128 << 20));
        assert_eq!(quantity_bytes("1G"), Some(1_000_000_000));
        assert_eq!(quantity_bytes("4096"), Some(4096));
        assert_eq!(quantity_bytes("lots"), None);
    }
}
