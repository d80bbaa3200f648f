//! The names of the files probes leave on the container's filesystems, shared by the
//! runner (which makes them) and the harness (which looks for markers on the host side
//! and removes what a container that died mid-step left on a volume). Each name carries
//! the container's nonce, so nothing of another container or run is taken for ours.

use std::path::{Path, PathBuf};

/// Where the harness puts the set-uid-root copy of the runner that `fs.setuid-binary`
/// execs: a file of its own mounted read-only, `nodev`, with set-uid bits honoured.
pub const SETUID_BINARY_PATH: &str = "/.breakout/setuid-probe";

/// A kind of file a probe makes in a directory of the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftover {
    /// `fs.write-*`: the marker, holding the step's marker token.
    Marker,
    /// `fs.exec-mount`: the payload's copy.
    ExecCopy,
    /// `exec.interpreter`: the script the shell reads.
    Script,
    /// `exec.mmap-exec`: the file mapped executable.
    Mmap,
    /// `fs.setuid`: the set-uid copy of the payload.
    Suid,
    /// `fs.mknod`: the device node.
    Dev,
}

impl Leftover {
    /// Every kind a per-mount probe may leave on a volume when its container dies.
    pub const ON_MOUNTS: &'static [Leftover] = &[
        Leftover::Marker,
        Leftover::ExecCopy,
        Leftover::Script,
        Leftover::Mmap,
        Leftover::Suid,
        Leftover::Dev,
    ];

    /// The file's name for the container with `nonce`.
    pub fn name(self, nonce: &str) -> String {
        let kind = match self {
            Leftover::Marker => "marker",
            Leftover::ExecCopy => "exec",
            Leftover::Script => "script",
            Leftover::Mmap => "mmap",
            Leftover::Suid => "suid",
            Leftover::Dev => "dev",
        };
        format!(".breakout-{kind}-{nonce}")
    }

    /// The file's path in `dir`.
    pub fn path(self, dir: impl AsRef<Path>, nonce: &str) -> PathBuf {
        dir.as_ref().join(self.name(nonce))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_nonce_and_stay_in_their_directory() {
        assert_eq!(Leftover::Marker.name("n1"), ".breakout-marker-n1");
        assert_eq!(
            Leftover::Script.path("/scratch", "n1"),
            PathBuf::from("/scratch/.breakout-script-n1")
        );
        for kind in Leftover::ON_MOUNTS {
            assert!(!kind.name("n1").contains('/'));
        }
    }
}
