//! Container settings in `docker run` vocabulary -> the OCI spec of one container.
//!
//! The pipeline, a file per stage: [`RawSettings`] (the flags as typed) is validated
//! into [`Settings`] (`settings.rs`, with `caps.rs` for `--cap-add`/`--cap-drop` and
//! `mounts.rs` for `--volume`/`--tmpfs`, `run_flags.rs` for `--privileged`, the host
//! namespaces, limits, sysctls and devices), which `spec.rs` turns into config.json.
//! Engines take the same settings as `run` flags instead: `runtime::engine`.

mod caps;
#[cfg(test)]
pub(crate) mod fixtures;
mod mounts;
mod run_flags;
mod settings;
mod spec;

pub use caps::{own_bounding_caps, ALL_CAPS, DOCKER_DEFAULT_CAPS};
pub use mounts::{normalize_destination, Tmpfs, Volume};
pub use run_flags::{Device, RawRunFlags, RunFlagError, RunFlags, USERNS_HOST_ID, USERNS_SIZE};
pub use settings::{Network, RawSettings, Seccomp, Settings, SettingsError};
pub use spec::{build_spec, NetJoin, SpecInputs};
pub(crate) use spec::{MEMORY_LIMIT, PIDS_LIMIT};

/// Whether the Linux security module `name` (apparmor, selinux) is active here.
pub fn lsm_active(name: &str) -> bool {
    std::fs::read_to_string("/sys/kernel/security/lsm")
        .is_ok_and(|list| list.trim().split(',').any(|m| m == name))
}

/// The container directory that holds the harness's own files. No volume or tmpfs
/// may be mounted at it or below it: whatever lands there replaces the trusted runner.
pub const HARNESS_DIR: &str = "/.breakout";
/// Where the probe binary appears inside every container.
pub const PROBE_PATH: &str = "/.breakout/breakout-probe";
/// Where the harness puts a shell when the rootfs has none.
pub const PROVIDED_SHELL_PATH: &str = "/.breakout/sh";
/// Where the harness's set-uid-root copy of the probe appears (`fs.setuid-binary`).
pub use breakout_wire::names::SETUID_BINARY_PATH;
