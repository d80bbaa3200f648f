//! The container's namespaces as the host sees them: the runner's host pid (the
//! container's init, found among the descendants of the runtime process we started)
//! and the namespace its `/proc/PID/ns` links name. A namespace probe whose runner says
//! it moved to namespace N is witnessed when the host sees the runner in N.
//!
//! The runner stays after `done` until the harness closes its stdin (`--hold`), so it
//! still exists when its verdict is read. The host cannot take a "before" reading of
//! its own (the runner reaches the namespace probes within milliseconds of hello), so
//! the runner's detail names both links and the host confirms the one it moved to.
//!
//! Only links are read (`readlink`), of processes below our own child: nothing the
//! container controls is opened or followed. Engines whose container is not below the
//! process we started (podman's conmon) and sandbox kernels (gVisor's namespaces are
//! not the host's) are not looked at; their namespace verdicts stay the runner's word.

use std::path::Path;

/// The container's init, found below the runtime process when the runner said hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Init {
    pub pid: i32,
}

impl Init {
    /// The container's init below `runtime_pid`, if one is found: the descendant that
    /// is pid 1 of its own pid namespace, or, where the container shares the host's
    /// (`--pid host`), the first descendant in another mount namespace than ours.
    pub fn find(runtime_pid: i32) -> Option<Init> {
        container_init(runtime_pid)
            .or_else(|| first_in_other_mount_namespace(runtime_pid))
            .map(|pid| Init { pid })
    }

    /// What its `kind` link names now (`mnt:[4026532178]`); `None` once it ended.
    pub fn link(&self, kind: &str) -> Option<String> {
        let link = std::fs::read_link(format!("/proc/{}/ns/{kind}", self.pid)).ok()?;
        link.to_str().map(str::to_string)
    }
}

/// The kinds of namespace `host.*-namespace` probes compare with the harness's.
const SHARED_KINDS: [&str; 3] = ["pid", "ipc", "uts"];

/// The harness's own namespaces of the kinds probes compare (`pid:[4026531836]`), for
/// the runner's invocation: data from the harness to the container, never back.
pub fn harness_links() -> Vec<String> {
    SHARED_KINDS
        .iter()
        .filter_map(|kind| own_link(kind))
        .collect()
}

fn own_link(kind: &str) -> Option<String> {
    let link = std::fs::read_link(format!("/proc/self/ns/{kind}")).ok()?;
    link.to_str().map(str::to_string)
}

/// The namespace kind a `host.*-namespace` probe shares with the host.
pub fn shared_kind_of(info: &crate::catalog::ProbeInfo) -> Option<&'static str> {
    use crate::catalog::ProbeId;
    match info.probe_id() {
        ProbeId::HostPidNamespace => Some("pid"),
        ProbeId::HostIpcNamespace => Some("ipc"),
        ProbeId::HostUtsNamespace => Some("uts"),
        _ => None,
    }
}

/// Whether the host sees `init` in the harness's own namespace of `kind`, with the
/// link it names: `None` when either link cannot be read.
pub fn shares_with_harness(init: Init, kind: &str) -> Option<(bool, String)> {
    let theirs = init.link(kind)?;
    let ours = own_link(kind)?;
    Some((theirs == ours, theirs))
}

/// The namespace a probe leaves, from its route's flags (`unshare(CLONE_NEWNS)`), for
/// probes whose escape is the runner itself leaving it.
pub fn kind_of(info: &crate::catalog::ProbeInfo) -> Option<&'static str> {
    const CLONE_NEWNS: u64 = 0x0002_0000;
    const CLONE_NEWUSER: u64 = 0x1000_0000;
    if info.witness != crate::catalog::WitnessKind::Namespace {
        return None;
    }
    let call = info.routes().first()?.calls.first()?;
    match call.args.first()? {
        (0, CLONE_NEWNS) => Some("mnt"),
        (0, CLONE_NEWUSER) => Some("user"),
        _ => None,
    }
}

/// The last `KIND:[NUMBER]` a runner's detail names: the namespace it says it moved to
/// (`(user:[A] -> user:[B])`).
pub fn claimed_link(detail: &str, kind: &str) -> Option<String> {
    let prefix = format!("{kind}:[");
    let at = detail.rfind(&prefix)?;
    let rest = &detail[at + prefix.len()..];
    let digits = &rest[..rest.find(']')?];
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{prefix}{digits}]"))
}

/// The descendant of `root` that is pid 1 of its own pid namespace: the container's
/// init, whose `NSpid` line ends in 1.
fn container_init(root: i32) -> Option<i32> {
    first_descendant(root, is_namespace_init)
}

/// The shallowest descendant of `root` whose mount namespace is not ours: a container
/// process, where its pid namespace is the host's and no descendant is a namespace's
/// pid 1. Only links are read.
fn first_in_other_mount_namespace(root: i32) -> Option<i32> {
    let ours = own_link("mnt")?;
    first_descendant(root, |pid| {
        std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
            .is_ok_and(|l| l.to_str() != Some(ours.as_str()))
    })
}

/// The shallowest descendant of `root` (to a depth of 4) for which `matches` holds.
pub(super) fn first_descendant(root: i32, matches: impl Fn(i32) -> bool) -> Option<i32> {
    let mut frontier = vec![root];
    for _ in 0..4 {
        let mut next = Vec::new();
        for pid in frontier {
            for child in children(pid) {
                if matches(child) {
                    return Some(child);
                }
                next.push(child);
            }
        }
        frontier = next;
    }
    None
}

fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            list.split_ascii_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    out
}

fn is_namespace_init(pid: i32) -> bool {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status"));
    status.ok().is_some_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .is_some_and(|ids| {
                let ids: Vec<&str> = ids.split_ascii_whitespace().collect();
                ids.len() > 1 && ids.last() == Some(&"1")
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_link_is_the_last_one_named() {
        let detail = "unshare(CLONE_NEWUSER): now in it (user:[4026531837] -> user:[4026532251])";
        assert_eq!(
            claimed_link(detail, "user").as_deref(),
            Some("user:[4026532251]")
        );
        assert_eq!(claimed_link(detail, "mnt"), None);
        assert_eq!(claimed_link("user:[12x]", "user"), None);
    }

    #[test]
    fn no_init_below_a_missing_process_and_the_kind_comes_from_the_route() {
        assert_eq!(container_init(i32::MAX), None);
        use crate::catalog::find;
        assert_eq!(
            kind_of(find("namespace.unshare-mount").unwrap()),
            Some("mnt")
        );
        assert_eq!(
            kind_of(find("namespace.unshare-user").unwrap()),
            Some("user")
        );
        assert_eq!(kind_of(find("spawn.fork").unwrap()), None);
    }
}
