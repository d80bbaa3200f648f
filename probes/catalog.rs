//! The probe catalog as data: ids, goals, techniques and what each one tries.
//!
//! Shared by the harness (listing, `--probe` patterns, grouping reports by goal) and by
//! the runner (which implements each id). The order here is the order probes run in:
//! probes that need no process creation come first, and exec probes, which replace the
//! runner with the payload, come after the cheap ones.

use serde::Serialize;

/// What an escape attempt is after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    /// Run a program that is not the container's process.
    Exec,
    /// Create a process or thread.
    Spawn,
    /// Write or abuse the filesystem.
    Fs,
    /// Reach the outside over the network.
    Net,
}

impl Goal {
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Exec => "exec",
            Goal::Spawn => "spawn",
            Goal::Fs => "fs",
            Goal::Net => "net",
        }
    }
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
}

pub const CATALOG: &[ProbeInfo] = &[
    ProbeInfo {
        id: "spawn.fork",
        goal: Goal::Spawn,
        technique: "fork",
        tries: "the fork(2) system call; the child exits at once",
        blocked_by: "seccomp denying fork",
        per_mount: false,
    },
    ProbeInfo {
        id: "spawn.vfork",
        goal: Goal::Spawn,
        technique: "vfork",
        tries: "the vfork(2) system call; the child exits at once",
        blocked_by: "seccomp denying vfork (denying fork does not cover it)",
        per_mount: false,
    },
    ProbeInfo {
        id: "spawn.clone",
        goal: Goal::Spawn,
        technique: "clone",
        tries: "clone(2) with SIGCHLD, the way glibc's fork() creates a process",
        blocked_by: "seccomp denying clone",
        per_mount: false,
    },
    ProbeInfo {
        id: "spawn.clone3",
        goal: Goal::Spawn,
        technique: "clone3",
        tries: "clone3(2) with an exit signal, as newer glibc does",
        blocked_by: "seccomp denying clone3 (ENOSYS is also a block: callers fall back to clone)",
        per_mount: false,
    },
    ProbeInfo {
        id: "fs.write-rootfs",
        goal: Goal::Fs,
        technique: "write-rootfs",
        tries: "creating a marker file in the root of the container's rootfs",
        blocked_by: "a read-only rootfs (EROFS)",
        per_mount: false,
    },
    ProbeInfo {
        id: "fs.write-mount",
        goal: Goal::Fs,
        technique: "write-mount",
        tries: "creating a marker file on each volume and tmpfs mount",
        blocked_by: "the mount being read-only (EROFS)",
        per_mount: true,
    },
    ProbeInfo {
        id: "net.tcp-connect",
        goal: Goal::Net,
        technique: "tcp-connect",
        tries: "a TCP connection to the harness's canary listener, sending the run's nonce",
        blocked_by:
            "a network namespace without a route to the canary, or seccomp denying socket/connect",
        per_mount: false,
    },
    ProbeInfo {
        id: "exec.execve",
        goal: Goal::Exec,
        technique: "execve",
        tries: "execve(2) of the payload, which prints the run's nonce",
        blocked_by: "seccomp denying execve",
        per_mount: false,
    },
    ProbeInfo {
        id: "exec.execveat",
        goal: Goal::Exec,
        technique: "execveat",
        tries: "execveat(2) of the payload by path",
        blocked_by: "seccomp denying execveat (denying execve does not cover it)",
        per_mount: false,
    },
    ProbeInfo {
        id: "exec.shell",
        goal: Goal::Exec,
        technique: "shell",
        tries: "/bin/sh -c 'exec PAYLOAD', the way an attacker pops a shell",
        blocked_by: "seccomp denying execve, or a rootfs without a shell",
        per_mount: false,
    },
    ProbeInfo {
        id: "fs.exec-mount",
        goal: Goal::Fs,
        technique: "exec-mount",
        tries: "copying the payload onto each writable mount and executing it",
        blocked_by: "the noexec mount option (EACCES), or seccomp denying execve",
        per_mount: true,
    },
];

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

/// Looks an id up.
pub fn find(id: &str) -> Option<&'static ProbeInfo> {
    CATALOG.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn expands_per_mount_probes_once_per_mount() {
        let steps = expand_steps(
            &strings(&["spawn.fork", "fs.write-mount", "fs.exec-mount"]),
            &strings(&["/a", "/b@c"]),
        );
        assert_eq!(
            steps,
            strings(&[
                "spawn.fork",
                "fs.write-mount@/a",
                "fs.write-mount@/b@c",
                "fs.exec-mount@/a",
                "fs.exec-mount@/b@c",
            ])
        );
    }

    #[test]
    fn per_mount_probe_without_mounts_is_one_bare_step() {
        let steps = expand_steps(&strings(&["fs.write-mount", "no.such"]), &[]);
        assert_eq!(steps, strings(&["fs.write-mount", "no.such"]));
    }

    #[test]
    fn ids_are_unique_and_match_goal_and_technique() {
        for (i, p) in CATALOG.iter().enumerate() {
            assert_eq!(p.id, format!("{}.{}", p.goal.as_str(), p.technique));
            assert!(
                CATALOG[i + 1..].iter().all(|q| q.id != p.id),
                "duplicate {}",
                p.id
            );
        }
    }
}
