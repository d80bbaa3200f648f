//! The one table of runtime quirks: every way runtimes differ that the harness must
//! know about lives in a row here, and nowhere else as a condition on a runtime's name.
//!
//! The facts were measured on Debian 12's packages (runc 1.1.5, crun 1.8.1, runsc
//! 20221219); DESIGN.md lists them.

use super::engine::Engine;
use crate::container::Network;
use crate::facts::ProfileHandling;
use oci_spec::runtime::LinuxSeccompAction;

/// What is known about one runtime configuration. Add a runtime by adding a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeKind {
    /// The name users select it by.
    pub name: &'static str,
    /// The executable looked up in `PATH`.
    pub binary: &'static str,
    /// The Debian package that provides the executable, if Debian has one.
    pub package: Option<&'static str>,
    /// Global flags placed before every subcommand.
    pub flags: &'static [&'static str],
    /// Extra global flags per network mode (runsc refuses the host's namespace unless
    /// told `--network=host`).
    pub network_flags: &'static [(Network, &'static [&'static str])],
    /// The profile in `linux.seccomp` is applied at all.
    pub applies_profile: bool,
    /// The filter is installed before the container's own `execve`, so a profile that
    /// denies `execve` keeps the container from starting.
    pub filters_own_exec: bool,
    /// `errnoRet` is honoured (runsc always answers EPERM).
    pub honours_errno_ret: bool,
    /// The profile's `architectures` are honoured (runsc ignores them).
    pub honours_architectures: bool,
    /// Under a default that does not allow, a call numbered above every call the
    /// profile names answers ENOSYS, not the default (runc's `patchbpf` stub), so that
    /// programs fall back from calls newer than the profile.
    pub enosys_stub: bool,
    /// Started through a docker-compatible engine CLI rather than an OCI runtime's.
    pub engine: Option<Engine>,
    /// Flags an engine's `run` needs after `--read-only` so that nothing writable is
    /// added: podman mounts writable tmpfs on /tmp, /run and /var/tmp unless told
    /// `--read-only-tmpfs=false`; Docker adds none.
    pub read_only_flags: &'static [&'static str],
    /// The engine keeps storage, state, locks and network configuration in host-wide
    /// places unless each is given by a flag; the driver gives them all under the
    /// run's state directory (podman; see `engine.rs`).
    pub engine_state_in_run_dir: bool,
    /// The engine leaves a container's cgroup parents behind, so the driver names
    /// one after the container to find and remove them (podman).
    pub cgroup_parent_per_container: bool,
    /// Refuses to run on a hybrid cgroup layout whose cgroup2 hierarchy holds a
    /// controller, even with `--cgroup-manager=disabled` (crun).
    pub refuses_hybrid_cgroups: bool,
    /// The container's system calls are served by a kernel of the sandbox's own, not
    /// the host's (gVisor's Sentry): what a probe reaches there is that kernel.
    pub sandbox_kernel: Option<&'static str>,
    /// What in a profile makes the runtime refuse it before anything runs.
    pub refuses: Refuses,
    /// The `--volume` options of an engine that bind-mount a file with set-uid and exec
    /// honoured: podman needs `suid,exec` said; Docker 20.10 refuses those modes
    /// ("invalid mode") and adds neither nosuid nor noexec to a bind mount.
    pub setuid_volume_options: &'static str,
    /// A user namespace can be given per container (`--userns private`); Docker takes
    /// it from its daemon's `userns-remap` alone.
    pub userns_per_container: bool,
}

/// What in a profile a runtime refuses to load, as measured on Debian 12's packages
/// (`src/predict/refusals.rs` turns these into reasons; `tests/truth.rs` starts a
/// container under each to check them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refuses {
    /// Actions the runtime does not implement, as a rule's or the default action.
    pub actions: &'static [LinuxSeccompAction],
    /// Any `flags` at all (runc 1.1.5: "seccomp flags are not yet supported by runc").
    pub flags: bool,
    /// An `SCMP_ACT_NOTIFY` rule without a `listenerPath` (runc; crun loads it, and
    /// the kernel answers such calls ENOSYS).
    pub notify_without_listener: bool,
    /// `errnoRet` or `defaultErrnoRet` given for an action other than errno and trace
    /// (crun: "errno value specified for action"; runc ignores it).
    pub errno_on_other_actions: bool,
    /// An errno of 4095 or more for an errno action: libseccomp refuses the rule, or the
    /// whole filter when it is the default's.
    pub errno_above_max: bool,
    /// `SCMP_ACT_NOTIFY` as the default action, even with a listener (runc: "cannot be
    /// used as default action").
    pub notify_default: bool,
    /// The filter is built by libseccomp, so what libseccomp refuses and the size of
    /// the program it generates decide (runc, crun, youki; gVisor builds its own).
    pub libseccomp: bool,
}

/// What runc refuses: crun and youki start from it.
const RUNC_REFUSES: Refuses = Refuses {
    actions: &[],
    flags: true,
    notify_without_listener: true,
    errno_on_other_actions: false,
    errno_above_max: true,
    notify_default: true,
    libseccomp: true,
};

const NO_NETWORK_FLAGS: &[(Network, &[&str])] = &[];

const RUNSC_NETWORK_FLAGS: &[(Network, &[&str])] = &[
    (Network::None, &["--network=none"]),
    (Network::Host, &["--network=host"]),
    (Network::Bridge, &["--network=host"]),
];

const RUNC_LIKE: RuntimeKind = RuntimeKind {
    name: "runc",
    binary: "runc",
    package: Some("runc"),
    flags: &[],
    network_flags: NO_NETWORK_FLAGS,
    applies_profile: true,
    filters_own_exec: true,
    honours_errno_ret: true,
    honours_architectures: true,
    // runc's source prepends an ENOSYS stub for calls newer than the profile
    // (`patchbpf`), but Debian's runc 1.1.5 measured here answers the default's errno
    // (clone3 EPERM under an errno default with no no-new-privileges needs in the way):
    // the table says what was measured. `tests/truth.rs` checks it.
    enosys_stub: false,
    engine: None,
    read_only_flags: &[],
    engine_state_in_run_dir: false,
    cgroup_parent_per_container: false,
    refuses_hybrid_cgroups: false,
    sandbox_kernel: None,
    refuses: RUNC_REFUSES,
    setuid_volume_options: "ro,suid,exec",
    userns_per_container: true,
};

/// The quirks table.
pub const RUNTIMES: &[RuntimeKind] = &[
    RUNC_LIKE,
    RuntimeKind {
        name: "crun",
        binary: "crun",
        package: Some("crun"),
        refuses_hybrid_cgroups: true,
        refuses: Refuses {
            flags: false,
            notify_without_listener: false,
            errno_on_other_actions: true,
            notify_default: false,
            ..RUNC_REFUSES
        },
        ..RUNC_LIKE
    },
    RuntimeKind {
        name: "runsc",
        binary: "runsc",
        package: Some("runsc"),
        network_flags: RUNSC_NETWORK_FLAGS,
        // Without --oci-seccomp runsc leaves linux.seccomp aside; only a log line says so.
        applies_profile: false,
        filters_own_exec: false,
        honours_errno_ret: false,
        honours_architectures: false,
        sandbox_kernel: Some("gVisor"),
        ..RUNC_LIKE
    },
    RuntimeKind {
        name: "runsc-oci",
        binary: "runsc",
        package: Some("runsc"),
        flags: &["--oci-seccomp"],
        network_flags: RUNSC_NETWORK_FLAGS,
        applies_profile: true,
        // The sentry applies the filter to the application after its own start.
        filters_own_exec: false,
        honours_errno_ret: false,
        honours_architectures: false,
        sandbox_kernel: Some("gVisor"),
        // gVisor builds the filter itself ("invalid action: ...") and takes any errno.
        refuses: Refuses {
            actions: &[
                LinuxSeccompAction::ScmpActNotify,
                LinuxSeccompAction::ScmpActLog,
                LinuxSeccompAction::ScmpActKillThread,
                LinuxSeccompAction::ScmpActKillProcess,
            ],
            flags: false,
            notify_without_listener: false,
            errno_on_other_actions: false,
            errno_above_max: false,
            notify_default: false,
            libseccomp: false,
        },
        ..RUNC_LIKE
    },
    RuntimeKind {
        name: "youki",
        binary: "youki",
        package: None,
        ..RUNC_LIKE
    },
    // The engines run the container with their default OCI runtime (add
    // `--runtime=NAME` with NAME=PATH,FLAG to pick another) and resolve the profile
    // themselves.
    RuntimeKind {
        name: "podman",
        binary: "podman",
        package: Some("podman"),
        engine: Some(Engine::Podman),
        read_only_flags: &["--read-only-tmpfs=false"],
        engine_state_in_run_dir: true,
        cgroup_parent_per_container: true,
        ..RUNC_LIKE
    },
    RuntimeKind {
        name: "docker",
        binary: "docker",
        package: Some("docker.io"),
        engine: Some(Engine::Docker),
        setuid_volume_options: "ro",
        userns_per_container: false,
        ..RUNC_LIKE
    },
];

impl RuntimeKind {
    /// The row for a runtime name.
    pub fn named(name: &str) -> Option<RuntimeKind> {
        RUNTIMES.iter().find(|k| k.name == name).copied()
    }

    /// The row whose CLI a custom binary speaks, from its file name and flags
    /// (`/opt/runsc` with `--oci-seccomp` is runsc-oci).
    pub fn infer(binary_name: &str, flags: &[String]) -> Option<RuntimeKind> {
        let base = RUNTIMES.iter().filter(|k| k.flags.is_empty()).find(|k| {
            binary_name == k.binary || binary_name.starts_with(&format!("{}-", k.binary))
        })?;
        if base.binary == "runsc" && flags.iter().any(|f| f.starts_with("--oci-seccomp")) {
            return RuntimeKind::named("runsc-oci");
        }
        Some(*base)
    }

    pub fn network_flags(&self, network: Network) -> &'static [&'static str] {
        self.network_flags
            .iter()
            .find(|(n, _)| *n == network)
            .map(|(_, flags)| *flags)
            .unwrap_or(&[])
    }

    /// How this runtime treats a seccomp profile, for reports.
    /// An engine that joins a network namespace only by container, never by path
    /// (docker: no `ns:PATH` network, unlike podman).
    pub fn engine_joins_netns_by_container(&self) -> bool {
        self.engine == Some(Engine::Docker)
    }

    pub fn profile_handling(&self) -> ProfileHandling {
        ProfileHandling {
            applies_profile: self.applies_profile,
            filters_own_exec: self.filters_own_exec,
            honours_errno_ret: self.honours_errno_ret,
            honours_architectures: self.honours_architectures,
            sandbox_kernel: self.sandbox_kernel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, k) in RUNTIMES.iter().enumerate() {
            assert!(
                RUNTIMES[i + 1..].iter().all(|o| o.name != k.name),
                "{}",
                k.name
            );
        }
    }

    #[test]
    fn custom_binaries_map_to_their_family() {
        assert_eq!(RuntimeKind::infer("runc", &[]).unwrap().name, "runc");
        assert_eq!(RuntimeKind::infer("crun-1.8", &[]).unwrap().name, "crun");
        assert_eq!(
            RuntimeKind::infer("runsc", &["--oci-seccomp".into()])
                .unwrap()
                .name,
            "runsc-oci"
        );
        assert_eq!(RuntimeKind::infer("runsc", &[]).unwrap().name, "runsc");
        assert!(RuntimeKind::infer("kata-runtime", &[]).is_none());
    }

    #[test]
    fn runsc_gets_network_flags_per_mode() {
        let runsc = RuntimeKind::named("runsc").unwrap();
        assert_eq!(runsc.network_flags(Network::Host), ["--network=host"]);
        assert_eq!(runsc.network_flags(Network::None), ["--network=none"]);
        assert!(RuntimeKind::named("runc")
            .unwrap()
            .network_flags(Network::Host)
            .is_empty());
    }
}
