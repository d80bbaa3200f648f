//! What a trial needs from the host, each need probed once per test binary, and the
//! trial built from that: a host that lacks something skips the trial with the reason
//! printed, never passes it silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use libtest_mimic::Trial;

use super::{repo, TestResult};

/// One thing a trial needs from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Containers, mounts and namespaces need root.
    Root,
    /// A runtime or engine binary in PATH, by name (`runc`, `crun`, `podman`).
    Runtime(&'static str),
    /// busybox-static: the shell and tools of the default rootfs.
    Busybox,
    /// Docker's default profile, the copy in `profiles/`.
    DockerDefaultProfile,
    /// A kernel that runs system calls through the 32-bit entry (`int 0x80`): without
    /// IA32 emulation the i386 routes never reach seccomp.
    I386,
    /// iproute2's `ip`, with which a test makes a network namespace of its own.
    Ip,
    /// A program in PATH that a test runs (a validator, a linter), and how to get it.
    Program {
        name: &'static str,
        from: &'static str,
    },
}

/// What a container under runc needs.
pub const RUNC: &[Need] = &[Need::Root, Need::Runtime("runc"), Need::Busybox];

/// A trial that starts nothing (input validation, a reader on files of its own).
pub const NOTHING: &[Need] = &[];

/// Docker's default profile, the copy kept in `profiles/`.
pub fn docker_default() -> PathBuf {
    repo().join("profiles/docker-default.json")
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

impl Need {
    /// Why this host lacks it; `None` when it has it.
    fn lacking(self) -> Option<String> {
        let (has, why) = match self {
            Need::Root => (
                // SAFETY: geteuid has no preconditions.
                unsafe { libc::geteuid() } == 0,
                "not running as root (containers need root)".to_string(),
            ),
            Need::Runtime(name) => (
                in_path(name),
                format!("{name} is not installed (apt-get install {name})"),
            ),
            Need::Busybox => (
                Path::new("/bin/busybox").is_file() || Path::new("/usr/bin/busybox").is_file(),
                "busybox-static is not installed (apt-get install busybox-static)".to_string(),
            ),
            Need::DockerDefaultProfile => (
                docker_default().is_file(),
                format!("{} is missing", docker_default().display()),
            ),
            // Asked in a child: without IA32 emulation `int 0x80` kills the caller.
            Need::I386 => (
                Command::new(env!("CARGO_BIN_EXE_breakout"))
                    .args(["abi-check", "i386"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "the kernel runs no 32-bit system calls (no IA32 emulation)".to_string(),
            ),
            Need::Ip => (
                Command::new("ip")
                    .arg("-V")
                    .output()
                    .is_ok_and(|o| o.status.success()),
                "no `ip` command (apt-get install iproute2)".to_string(),
            ),
            Need::Program { name, from } => {
                (in_path(name), format!("{name} is not installed ({from})"))
            }
        };
        (!has).then_some(why)
    }
}

/// The host's answer to each need asked so far.
#[derive(Default)]
pub struct Host(BTreeMap<Need, Option<String>>);

impl Host {
    /// Why a trial needing `needs` cannot run here: every need the host lacks.
    pub fn lacks(&mut self, needs: &[Need]) -> Option<String> {
        let missing: Vec<String> = needs
            .iter()
            .filter_map(|need| {
                self.0
                    .entry(*need)
                    .or_insert_with(|| need.lacking())
                    .clone()
            })
            .collect();
        (!missing.is_empty()).then(|| missing.join("; "))
    }

    /// A trial of `body`, ignored with the reason printed where the host lacks one of
    /// `needs`.
    pub fn trial(
        &mut self,
        name: &str,
        needs: &[Need],
        body: impl FnOnce() -> TestResult + Send + 'static,
    ) -> Trial {
        let skip = self.lacks(needs);
        if let Some(reason) = &skip {
            eprintln!("{name} is skipped: {reason}");
        }
        Trial::test(name, body).with_ignored_flag(skip.is_some())
    }
}
