//! `host.device`: a device node of the host's in the container, beyond the ones every
//! runtime creates (null, zero, full, random, urandom, tty, console, ptmx and the
//! pseudo-terminals). `--device`, `--privileged` or a pod's volume put them there.
//!
//! Opening a device can act on it (a watchdog arms, a tape rewinds, a serial line
//! raises its modem lines), so only kinds whose opening does nothing are opened:
//! block devices and a short list of character devices, each read-only and
//! non-blocking, closed at once and never read. Any other kind is named, not opened.

use std::fs::OpenOptions;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::ctx::{Ctx, Verdict};
use crate::sys::Errno;

/// Character devices every runtime creates: (major, minor).
const DEFAULT_CHAR: [(u64, u64); 8] = [
    (1, 3),
    (1, 5),
    (1, 7),
    (1, 8),
    (1, 9),
    (5, 0),
    (5, 1),
    (5, 2),
];
/// Character devices a sandbox kernel (gVisor) serves itself in every container: tun
/// and fuse, its own implementations, not the host's.
const SANDBOX_CHAR: [(u64, u64); 2] = [(10, 200), (10, 229)];
/// Majors of the pseudo-terminal slaves (`/dev/pts/*`, and `/dev/console` bound to one).
const PTY_SLAVE_MAJORS: std::ops::RangeInclusive<u64> = 136..=143;
/// Subdirectories of /dev that hold the container's own things, not the host's.
const OWN_DIRS: [&str; 3] = ["pts", "shm", "mqueue"];

/// A device node found under /dev.
struct Node {
    path: PathBuf,
    block: bool,
    major: u64,
    minor: u64,
}

impl Node {
    fn name(&self) -> String {
        let kind = if self.block { 'b' } else { 'c' };
        format!(
            "{} ({kind} {}:{})",
            self.path.display(),
            self.major,
            self.minor
        )
    }

    fn is_default(&self) -> bool {
        !self.block
            && (DEFAULT_CHAR.contains(&(self.major, self.minor))
                || PTY_SLAVE_MAJORS.contains(&self.major)
                || (crate::facts::sandbox().is_some()
                    && SANDBOX_CHAR.contains(&(self.major, self.minor))))
    }

    /// Whether opening it read-only does nothing to the device: block devices, the
    /// memory devices (major 1), input (13), framebuffers (29), DRM (226), and from the
    /// misc major (10) tun, fuse, kvm, device-mapper control and loop-control.
    fn safe_to_open(&self) -> bool {
        self.block
            || matches!(self.major, 1 | 13 | 29 | 226)
            || (self.major == 10 && matches!(self.minor, 200 | 229 | 232 | 236 | 237))
    }
}

/// The device nodes in `dir` and its subdirectories one level down (not the
/// container's own: pts, shm, mqueue). Links are not followed.
fn nodes(dir: &Path) -> Vec<Node> {
    let mut found = Vec::new();
    let mut dirs = vec![(dir.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            let kind = meta.file_type();
            if kind.is_dir() && depth == 0 {
                let name = entry.file_name();
                if !OWN_DIRS.iter().any(|own| name == *own) {
                    dirs.push((entry.path(), depth + 1));
                }
            } else if kind.is_char_device() || kind.is_block_device() {
                let rdev = meta.rdev();
                found.push(Node {
                    path: entry.path(),
                    block: kind.is_block_device(),
                    major: libc::major(rdev).into(),
                    minor: libc::minor(rdev).into(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

pub fn device(_: &Ctx) -> Verdict {
    let extra: Vec<Node> = nodes(Path::new("/dev"))
        .into_iter()
        .filter(|n| !n.is_default())
        .collect();
    if extra.is_empty() {
        return Verdict::blocked_as(
            "not-exposed".to_string(),
            "no device node under /dev beyond the runtime's defaults (null, zero, full, random, urandom, tty, console, ptmx, pts)",
        );
    }
    let (openable, unopened): (Vec<&Node>, Vec<&Node>) =
        extra.iter().partition(|n| n.safe_to_open());
    let mut refused: Vec<(String, Errno)> = Vec::new();
    for node in &openable {
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&node.path);
        match opened {
            Ok(file) => {
                // The descriptor must be the node itself: a filter's made-up success
                // (errnoRet 0) hands back a number that names something else (fd 0,
                // the runner's stdin), which is left open as it was.
                let same = file.metadata().is_ok_and(|m| {
                    m.rdev() == libc::makedev(node.major as u32, node.minor as u32)
                        && m.file_type().is_block_device() == node.block
                });
                if !same {
                    let _ = std::os::fd::IntoRawFd::into_raw_fd(file);
                    return Verdict::blocked_as(
                        "fake-success".to_string(),
                        format!(
                            "open {} returned success, but the descriptor is not that device: the filter made the success up",
                            node.name()
                        ),
                    );
                }
                return Verdict::escaped(format!(
                    "opened {} read-only (the descriptor is that device), a device the runtime does not give by default; closed unread{}",
                    node.name(),
                    also(&extra, node)
                ));
            }
            Err(e) => refused.push((node.name(), Errno::from_io(&e).unwrap_or(Errno(0)))),
        }
    }
    let unopened_text = if unopened.is_empty() {
        String::new()
    } else {
        format!(
            "; not opened (opening a device of this kind may act on it): {}",
            names(&unopened)
        )
    };
    match refused.first() {
        Some((name, errno)) => {
            let rest: Vec<String> = refused
                .iter()
                .map(|(name, errno)| format!("{name}: {}", errno.name()))
                .collect();
            Verdict::blocked(
                *errno,
                &format!(
                    "open {name} read-only (every device tried: {}){unopened_text}",
                    rest.join(", ")
                ),
            )
        }
        None => Verdict::indeterminate(
            None,
            format!(
                "device nodes beyond the runtime's defaults are present, none of a kind safe to open{unopened_text}"
            ),
        ),
    }
}

fn names(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .map(|n| n.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The other extra nodes, for the detail of an escape.
fn also(extra: &[Node], opened: &Node) -> String {
    let others: Vec<&Node> = extra.iter().filter(|n| n.path != opened.path).collect();
    match others.len() {
        0 => String::new(),
        n if n <= 8 => format!("; also present: {}", names(&others)),
        n => format!("; also present: {} and {} more", names(&others[..8]), n - 8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_safe_kinds() {
        let node = |block, major, minor| Node {
            path: PathBuf::from("/dev/x"),
            block,
            major,
            minor,
        };
        assert!(node(false, 1, 3).is_default());
        assert!(node(false, 136, 4).is_default());
        assert!(!node(true, 1, 3).is_default());
        assert!(!node(false, 10, 237).is_default());
        assert!(node(false, 10, 237).safe_to_open());
        assert!(node(true, 8, 0).safe_to_open());
        // A watchdog (10:130) and a serial line (4:64) are named, never opened.
        assert!(!node(false, 10, 130).safe_to_open());
        assert!(!node(false, 4, 64).safe_to_open());
    }

    #[test]
    fn the_hosts_dev_has_nodes_and_skips_its_own_dirs() {
        let found = nodes(Path::new("/dev"));
        assert!(found.iter().any(|n| n.path == Path::new("/dev/null")));
        assert!(!found.iter().any(|n| n.path.starts_with("/dev/pts")));
    }
}
