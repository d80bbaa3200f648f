//! Container settings in `docker run` vocabulary -> the OCI spec of one container.
//!
//! The pipeline, a file per stage: [`RawSettings`] (the flags as typed) is validated
//! into [`Settings`] (`settings.rs`, with `caps.rs` for `--cap-add`/`--cap-drop` and
//! `mounts.rs` for `--volume`/`--tmpfs`), which `spec.rs` turns into config.json.
//! Engines take the same settings as `run` flags instead: `runtime::engine`.

mod caps;
#[cfg(test)]
pub(crate) mod fixtures;
mod mounts;
mod settings;
mod spec;

pub use caps::{own_bounding_caps, ALL_CAPS, DOCKER_DEFAULT_CAPS};
pub use mounts::{normalize_destination, Tmpfs, Volume};
pub use settings::{Network, RawSettings, Seccomp, Settings, SettingsError};
pub use spec::{build_spec, SpecInputs};
use spec::{MEMORY_LIMIT, PIDS_LIMIT};

/// The container directory that holds the harness's own files. No volume or tmpfs
/// may be mounted at it or below it: whatever lands there replaces the trusted runner.
pub const HARNESS_DIR: &str = "/.breakout";
/// Where the probe binary appears inside every container.
pub const PROBE_PATH: &str = "/.breakout/breakout-probe";
/// Where the harness puts a shell when the rootfs has none.
pub const PROVIDED_SHELL_PATH: &str = "/.breakout/sh";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::fixtures::{pinned_inputs, pinned_key, pinned_settings};

    fn raw() -> RawSettings {
        RawSettings::default()
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
            .collect::<std::collections::BTreeSet<_>>()
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
}
