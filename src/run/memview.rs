//! The container's memory limit as the host sees it: the limit of the held runner's
//! memory cgroup, read from the host's cgroup filesystem, against the host's memory.
//! `host.memory` is an escape only where that limit does not keep the container below
//! the host's memory.
//!
//! Only the kernel's files are read: `/proc/PID/cgroup` of a process below our own
//! child, and the limit file of the cgroup it names under `/sys/fs/cgroup`.

use std::path::{Path, PathBuf};

/// What bounds the container's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// No limit below the host's memory (`max`, or a number at least as large).
    None { host_bytes: u64 },
    /// A limit below the host's memory.
    Bytes { limit: u64, host_bytes: u64 },
}

impl Limit {
    /// In words, for a verdict's detail.
    pub fn describe(self) -> String {
        match self {
            Limit::None { host_bytes } => format!(
                "the host sees no memory limit on the container's cgroup below the host's {}",
                mib(host_bytes)
            ),
            Limit::Bytes { limit, host_bytes } => format!(
                "the host sees a memory limit of {} on the container's cgroup (the host has {})",
                mib(limit),
                mib(host_bytes)
            ),
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// The memory limit of `pid`'s cgroup, where the host's cgroup files show one.
pub fn limit_of(pid: i32) -> Option<Limit> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let host_bytes = host_memory()?;
    let raw = limit_files(&cgroups, Path::new("/sys/fs/cgroup"))
        .into_iter()
        .find_map(|file| std::fs::read_to_string(file).ok())?;
    let raw = raw.trim();
    let limit = if raw == "max" {
        u64::MAX
    } else {
        raw.parse().ok()?
    };
    Some(if limit >= host_bytes {
        Limit::None { host_bytes }
    } else {
        Limit::Bytes { limit, host_bytes }
    })
}

/// The first process below `root` (the runtime we started) in another memory cgroup
/// than the harness's: the container's, where no init of it is found (a sandbox kernel
/// serves the container; its sandbox process is charged for the container's memory).
pub fn in_other_memory_cgroup(root: i32) -> Option<i32> {
    let ours = memory_cgroup(&std::fs::read_to_string("/proc/self/cgroup").ok()?)?;
    super::nsview::first_descendant(root, |pid| {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .ok()
            .and_then(|text| memory_cgroup(&text))
            .is_some_and(|theirs| theirs != ours)
    })
}

/// The memory controller's cgroup in a `/proc/PID/cgroup` text (v1), or the unified
/// hierarchy's (v2).
fn memory_cgroup(cgroups: &str) -> Option<String> {
    let v1 = cgroups.lines().find_map(|l| {
        let (_, rest) = l.split_once(':')?;
        let (controllers, path) = rest.split_once(':')?;
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then(|| path.to_string())
    });
    v1.or_else(|| {
        cgroups
            .lines()
            .find_map(|l| l.strip_prefix("0::").map(str::to_string))
    })
}

/// The files that may hold the limit, for a `/proc/PID/cgroup` text: the v1 memory
/// controller's, then the unified hierarchy's (mounted at the root, or at `unified` on
/// a hybrid host).
fn limit_files(cgroups: &str, root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        // The kernel writes an absolute path without `..`; anything else is not read.
        let Some(relative) = path.strip_prefix('/') else {
            continue;
        };
        if relative.split('/').any(|c| c == "..") {
            continue;
        }
        if controllers.split(',').any(|c| c == "memory") {
            files.insert(
                0,
                root.join("memory")
                    .join(relative)
                    .join("memory.limit_in_bytes"),
            );
        } else if controllers.is_empty() {
            files.push(root.join(relative).join("memory.max"));
            files.push(root.join("unified").join(relative).join("memory.max"));
        }
    }
    files
}

/// The host's memory (`MemTotal`), in bytes.
fn host_memory() -> Option<u64> {
    breakout_wire::meminfo::mem_total(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_controller_comes_first_and_paths_stay_below_the_root() {
        let root = Path::new("/cg");
        let text = "12:pids:/a\n0::/ctr/x\n4:memory:/ctr/x\n9:cpu:/../evil\n";
        assert_eq!(
            limit_files(text, root),
            vec![
                PathBuf::from("/cg/memory/ctr/x/memory.limit_in_bytes"),
                PathBuf::from("/cg/ctr/x/memory.max"),
                PathBuf::from("/cg/unified/ctr/x/memory.max"),
            ]
        );
        assert!(limit_files("0::/../../etc\n3:memory:relative\n", root).is_empty());
    }

    #[test]
    fn the_memory_cgroup_is_the_v1_controllers_else_the_unified_one() {
        assert_eq!(
            memory_cgroup("5:cpu,cpuacct:/a\n4:memory:/ctr/x\n0::/u\n").as_deref(),
            Some("/ctr/x")
        );
        assert_eq!(memory_cgroup("0::/u\n").as_deref(), Some("/u"));
        assert_eq!(memory_cgroup("3:pids:/p\n"), None);
    }

    #[test]
    fn our_own_cgroup_has_a_readable_answer_or_none() {
        // The test process's own cgroup: whatever the host says, it is parsed.
        if let Some(limit) = limit_of(std::process::id() as i32) {
            assert!(limit.describe().contains("MiB"));
        }
        assert_eq!(limit_of(i32::MAX), None);
    }
}
