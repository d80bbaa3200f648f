//! Why an installed runtime cannot start containers on this host, with the fix where
//! one is known: asked by `doctor`, by `compare` when it picks runtimes, and after a
//! start failure (so that the host's problem is not bisected as the profile's).

use std::fs;

use super::engine::Engine;
use super::{Runtime, RuntimeKind};

/// Controllers on the cgroup2 mount of a hybrid layout: crun refuses to run while any
/// is there.
fn hybrid_cgroup2_controllers() -> Vec<String> {
    fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .map(|t| t.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Why a runtime cannot start containers on this host's cgroup layout, with the fix;
/// `None` when nothing in the layout stands in its way.
pub fn cgroup_problem(kind: &RuntimeKind) -> Option<String> {
    if !kind.refuses_hybrid_cgroups || crate::facts::cgroup_layout() != "hybrid" {
        return None;
    }
    let controllers = hybrid_cgroup2_controllers();
    if controllers.is_empty() {
        return None;
    }
    Some(format!(
        "{} refuses hybrid cgroups while cgroup2 holds controllers ({}); fix: {}",
        kind.name,
        controllers.join(", "),
        hybrid_cgroup_fix(&controllers)
    ))
}

/// Why an installed runtime cannot start containers here, if it cannot: crun on a
/// hybrid cgroup layout, the docker CLI without an engine behind it.
pub fn runtime_problem(runtime: &Runtime) -> Option<String> {
    if let Some(problem) = cgroup_problem(&runtime.kind) {
        return Some(problem);
    }
    if runtime.engine() == Some(Engine::Docker) {
        if let Err(e) = runtime.docker_server_version() {
            return Some(no_docker_engine(&e));
        }
    }
    None
}

/// Why the docker CLI's `version` found no engine: its own words (the last line; its
/// warnings come first) and their likely cause.
fn no_docker_engine(error: &super::RuntimeError) -> String {
    let said = match error {
        super::RuntimeError::Failed { stderr, .. } => {
            let last = stderr.lines().last().unwrap_or_default();
            format!(
                "{}{}",
                crate::sanitize::untrusted(last),
                crate::hint::suffix(crate::hint::said_here(crate::hint::Tool::Docker, last))
            )
        }
        other => crate::sanitize::untrusted(&other.to_string()),
    };
    format!("no Docker engine answers: {said}")
}

/// The fix for crun on a hybrid layout: move each controller to a v1 hierarchy.
pub fn hybrid_cgroup_fix(controllers: &[String]) -> String {
    controllers
        .iter()
        .map(|c| {
            format!(
                "mkdir -p /sys/fs/cgroup/{c} && mount -t cgroup -o {c} cgroup /sys/fs/cgroup/{c}"
            )
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_fix_mounts_each_controller_as_v1() {
        assert_eq!(
            hybrid_cgroup_fix(&["hugetlb".to_string()]),
            "mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb"
        );
    }

    #[test]
    fn only_crun_minds_the_layout() {
        let runc = RuntimeKind::named("runc").unwrap();
        assert_eq!(cgroup_problem(&runc), None);
    }
}
