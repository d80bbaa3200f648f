//! What a catalog entry is: the goal, how an escape is witnessed, the entry itself, and
//! the lookups over the table (`crate::catalog`).

use serde::{Deserialize, Serialize};

use crate::probe_id::ProbeId;

/// What an escape attempt is after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    /// Run a program that is not the container's process.
    Exec,
    /// Create a process or thread.
    Spawn,
    /// Gain privileges through a new namespace.
    Namespace,
    /// Write or abuse the filesystem.
    Fs,
    /// Reach the outside over the network.
    Net,
    /// Reach kernel attack surface a profile should close.
    Kernel,
    /// Share memory or files with other processes.
    Ipc,
    /// Reach what belongs to the host: its processes, IPC objects or hostname through
    /// a namespace shared with it, its devices, its memory beyond a limit.
    Host,
}

impl Goal {
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Exec => "exec",
            Goal::Spawn => "spawn",
            Goal::Namespace => "namespace",
            Goal::Fs => "fs",
            Goal::Net => "net",
            Goal::Kernel => "kernel",
            Goal::Ipc => "ipc",
            Goal::Host => "host",
        }
    }
}

/// How the harness can see a probe's escape from outside the container; anything else
/// is the probe's own word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WitnessKind {
    /// Nothing outside shows it: the verdict is the probe's word.
    Reported,
    /// A connection delivers the step's canary token to the canary.
    CanaryStream,
    /// A datagram delivers the step's canary token; without the canary's receipt the
    /// send proves nothing (a send succeeds into the void).
    CanaryDatagram,
    /// A marker holding the step's marker token appears in the rootfs, on the host side.
    RootfsMarker,
    /// A marker appears on the volume's host side.
    MountMarker,
    /// The program started prints the container's nonce (the payload), or proves a
    /// handoff on stderr.
    Payload,
    /// The process or thread the step created prints the step's verdict line itself,
    /// with the container's nonce; the runner never prints it for such a step.
    Child,
    /// A character device 1:3 appears on the mount, seen through the held runner's root
    /// on the host (on a volume, that is the host's side of it).
    MountDevice,
    /// A marker holding the step's marker token appears in /dev/shm, the container's own
    /// tmpfs, seen through the held runner's root on the host.
    DevShmMarker,
    /// The runner leaves a namespace: the host sees its `/proc/PID/ns` link name the
    /// namespace it says it moved to.
    Namespace,
    /// The runner is in a namespace of the host's: the host sees its `/proc/PID/ns`
    /// link name the same namespace as the harness's own.
    HostNamespace,
    /// The container's memory is not limited below the host's: the host reads the
    /// limit of the runner's memory cgroup.
    MemoryLimit,
}

/// One catalog entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProbeInfo {
    /// `goal.technique`.
    pub id: &'static str,
    pub goal: Goal,
    pub technique: &'static str,
    /// One line on what the probe tries.
    pub tries: &'static str,
    /// One line on what blocks it.
    pub blocked_by: &'static str,
    /// Runs once per volume or tmpfs mount, as steps `id@/mount/point`.
    pub per_mount: bool,
    /// Hands the process to a program of the image (see `handoff` in the protocol).
    pub hands_off: bool,
    /// How its escape is seen from outside.
    pub witness: WitnessKind,
    /// What it reaches when a sandbox kernel serves the container (gVisor's Sentry):
    /// that kernel's, not the host's (its namespaces, its procfs). Such an escape is
    /// `contained`. `None`: the effect is the same either way (a program ran, a file
    /// was written, a packet left).
    pub in_sandbox: Option<&'static str>,
}

/// Turns probe ids into steps: `id`, or `id@/mount` once per mount for per-mount probes.
/// A per-mount probe with no mounts stays one bare step (it reports not-applicable), and
/// an unknown id stays a step too (it reports an error) so nothing vanishes silently.
pub fn expand_steps(probes: &[String], mounts: &[String]) -> Vec<String> {
    let mut steps = Vec::new();
    for id in probes {
        match find(id) {
            Some(info) if info.per_mount && !mounts.is_empty() => {
                steps.extend(mounts.iter().map(|m| format!("{id}@{m}")));
            }
            _ => steps.push(id.clone()),
        }
    }
    steps
}

impl ProbeInfo {
    /// The entry's id as a type (every catalog id is one: tested below).
    pub fn probe_id(&self) -> ProbeId {
        ProbeId::parse(self.id).expect("every catalog id is a ProbeId")
    }

    /// The ways the probe tries to reach its goal, in the order it tries them.
    pub fn routes(&self) -> &'static [crate::routes::Route] {
        crate::routes::routes(self.probe_id())
    }
}

/// Looks an id up.
pub fn find(id: &str) -> Option<&'static ProbeInfo> {
    crate::catalog::CATALOG.iter().find(|p| p.id == id)
}
