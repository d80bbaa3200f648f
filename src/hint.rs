//! Likely causes of host failures: what a host tool's known words or an errno most
//! probably mean, and what to do, in one table, so that every error with a likely cause
//! names it in the same words. A hint is read from the failure's own text (the tool's
//! stderr, the errno); where it is a guess it says "likely".

use std::io;
use std::path::Path;

/// The words of [`ROOT`], for the hints that quote it.
macro_rules! root_words {
    () => {
        "breakout must run as root (it mounts, makes network namespaces and starts containers)"
    };
}

/// Why breakout needs root, said wherever a failure comes down to not having it.
pub const ROOT: &str = root_words!();

/// Where the probe binary comes from.
pub const PROBE_BUILT: &str = "`cargo build` builds breakout-probe beside breakout";

/// A host tool whose failure words are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// The docker CLI.
    Docker,
}

impl Tool {
    /// The tool a program is, by its file name (`/usr/bin/docker` is docker).
    pub fn of(program: &Path) -> Option<Tool> {
        match program.file_name()?.to_str()? {
            "docker" => Some(Tool::Docker),
            _ => None,
        }
    }
}

/// What the harness was doing when the host said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    /// Starting a program.
    Run,
    /// Making one directory (not its parents).
    MakeDir,
    /// Mounting a filesystem.
    Mount,
    /// Tracing a command with ptrace (`record`).
    Trace,
    /// Anything else on the host's files.
    Other,
}

/// A cause, which for a refusal depends on whether breakout runs as root.
#[derive(Debug, Clone, Copy)]
enum Cause {
    Said(&'static str),
    /// EPERM, EACCES or a tool's "Operation not permitted".
    Refused,
}

const NOT_ROOT: &str = concat!("likely not root: ", root_words!());
const ROOT_CONFINED: &str = "likely root without full capabilities (inside a container that was not started privileged, or confined by an LSM)";

/// A tool's words (lowercase, found anywhere in its stderr, case-insensitively) and
/// what they most likely mean. The first row that matches wins.
const SAID: &[(Tool, &str, Cause)] = &[
    (
        Tool::Docker,
        "permission denied while trying to connect to the docker daemon socket",
        Cause::Refused,
    ),
    (
        Tool::Docker,
        "cannot connect to the docker daemon",
        Cause::Said("likely no dockerd is running, or DOCKER_HOST points elsewhere (ci/private-dockerd.sh in breakout's repository starts one and prints its DOCKER_HOST)"),
    ),
];

fn refused(root: bool) -> &'static str {
    if root {
        ROOT_CONFINED
    } else {
        NOT_ROOT
    }
}

/// The likely cause of `tool` failing with `stderr`, for a harness that runs as root
/// or not.
pub fn said(tool: Tool, stderr: &str, root: bool) -> Option<&'static str> {
    let stderr = stderr.to_lowercase();
    SAID.iter()
        .find(|(t, words, _)| *t == tool && stderr.contains(words))
        .map(|(_, _, cause)| match cause {
            Cause::Said(hint) => hint,
            Cause::Refused => refused(root),
        })
}

/// The likely cause of a host call failing with `errno` while `doing` it, for a
/// harness that runs as root or not.
pub fn errno(errno: i32, doing: Doing, root: bool) -> Option<&'static str> {
    match (errno, doing) {
        (libc::EPERM | libc::EACCES, Doing::Trace) => Some("likely ptrace is not allowed here (kernel.yama.ptrace_scope, or a seccomp filter around breakout)"),
        // An exec refused is the file's mode or its mount's, not breakout's rights.
        (libc::EPERM | libc::EACCES, Doing::Run) => None,
        (libc::EPERM | libc::EACCES, _) => Some(refused(root)),
        (libc::ENOENT, Doing::Run) => Some("likely not installed, or not in PATH"),
        (libc::ENOENT, Doing::MakeDir) => Some("likely the directory it goes in does not exist (breakout makes its directories under TMPDIR, else /tmp)"),
        (libc::ENODEV, Doing::Mount) => Some("likely the kernel lacks that filesystem (for an overlay: modprobe overlay)"),
        _ => None,
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// [`said`] for this process.
pub fn said_here(tool: Tool, stderr: &str) -> Option<&'static str> {
    said(tool, stderr, is_root())
}

/// [`errno`] for this process and an I/O error.
pub fn io_here(error: &io::Error, doing: Doing) -> Option<&'static str> {
    errno(error.raw_os_error()?, doing, is_root())
}

/// A hint as it ends a message: `"; HINT"`, or nothing.
pub fn suffix(hint: Option<&str>) -> String {
    hint.map(|h| format!("; {h}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_without_a_daemon_names_dockerd_and_docker_host() {
        // The docker CLI's words (27.x) for a socket with nothing behind it.
        let stderr = "Cannot connect to the Docker daemon at unix:///nonexistent.sock. Is the docker daemon running?";
        let hint = said(Tool::Docker, stderr, true).unwrap();
        assert!(hint.contains("no dockerd is running"), "{hint}");
        assert!(hint.contains("DOCKER_HOST"), "{hint}");
        assert!(hint.contains("ci/private-dockerd.sh"), "{hint}");
    }

    #[test]
    fn a_refused_docker_socket_is_root_or_confinement() {
        let stderr = "permission denied while trying to connect to the Docker daemon socket at unix:///tmp/s: Get \"http://%2Ftmp%2Fs/v1.50/version\": dial unix /tmp/s: connect: permission denied";
        assert_eq!(said(Tool::Docker, stderr, false), Some(NOT_ROOT));
        assert_eq!(said(Tool::Docker, stderr, true), Some(ROOT_CONFINED));
        assert!(NOT_ROOT.contains(ROOT));
    }

    #[test]
    fn errnos_by_what_was_being_done() {
        assert_eq!(errno(libc::EPERM, Doing::Mount, false), Some(NOT_ROOT));
        assert_eq!(
            errno(libc::EACCES, Doing::MakeDir, true),
            Some(ROOT_CONFINED)
        );
        assert!(errno(libc::EPERM, Doing::Trace, true)
            .unwrap()
            .contains("ptrace"));
        assert_eq!(errno(libc::EACCES, Doing::Run, false), None);
        assert!(errno(libc::ENOENT, Doing::Run, true)
            .unwrap()
            .contains("PATH"));
        assert!(errno(libc::ENOENT, Doing::MakeDir, true)
            .unwrap()
            .contains("TMPDIR"));
        assert!(errno(libc::ENODEV, Doing::Mount, true)
            .unwrap()
            .contains("overlay"));
        assert_eq!(errno(libc::ENOENT, Doing::Other, true), None);
        assert_eq!(errno(libc::ENOSPC, Doing::MakeDir, true), None);
    }

    #[test]
    fn tools_are_told_by_file_name() {
        assert_eq!(Tool::of(Path::new("/usr/bin/docker")), Some(Tool::Docker));
        assert_eq!(Tool::of(Path::new("docker")), Some(Tool::Docker));
        assert_eq!(Tool::of(Path::new("/usr/bin/podman")), None);
        assert_eq!(Tool::of(Path::new("/usr/sbin/ip")), None);
        assert_eq!(Tool::of(Path::new("/usr/sbin/runc")), None);
    }

    #[test]
    fn a_hint_ends_a_message() {
        assert_eq!(suffix(Some("likely x")), "; likely x");
        assert_eq!(suffix(None), "");
    }
}
