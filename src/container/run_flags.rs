//! The `docker run` flags people try first beyond capabilities, mounts and the
//! profile: `--privileged`, `--pid`/`--ipc`/`--uts host`, `--pids-limit`, `--memory`,
//! `--sysctl` and `--device`, read as Docker reads them, validated, and turned into
//! the OCI spec by [`super::spec`] and into engine flags by the engine driver.
//!
//! Docker's meanings, kept here:
//! - `--privileged`: every capability, no seccomp filter (Docker applies none to a
//!   privileged container, even one it was given: said as a note), no masked or
//!   read-only paths, `/sys` writable, and every device allowed by the device cgroup.
//!   Docker also adds every host device node; breakout adds none (no probe reads one,
//!   and a device node of the host's disk is not a thing to hand a hostile image),
//!   which the note says too.
//! - `--sysctl`: only sysctls the container's own namespaces hold (`kernel.shm*`,
//!   `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`, and `net.*` in a network namespace
//!   of its own), as Docker and runc allow: any other would change the host.
//! - `--pids-limit` and `--memory` replace the harness's own limits (256 tasks, 512
//!   MiB), which keep a fork bomb or a memory hog of the image inside the container;
//!   `--pids-limit` of 0 or -1 means none, as in Docker.
//! - `--device HOST[:CONTAINER][:PERMS]`: a host character or block device, with the
//!   device cgroup opened for it (`rwm` by default).
//! - `--userns private`: a user namespace whose root is host uid and gid 100000 (65536
//!   ids), the subordinate range Docker's `userns-remap=default` takes; `host` (the
//!   default) is none. Docker sets this for its whole daemon, so the docker driver
//!   cannot run it per container (refused before anything starts).

use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::Network;

/// The flags as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRunFlags {
    pub privileged: bool,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
    pub pids_limit: Option<i64>,
    pub memory: Option<String>,
    pub sysctls: Vec<String>,
    pub devices: Vec<String>,
    pub userns: Option<String>,
}

/// The host ids a private user namespace maps its ids 0.. onto, and how many.
pub const USERNS_HOST_ID: u32 = 100_000;
pub const USERNS_SIZE: u32 = 65_536;

/// A host device handed to the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub host: PathBuf,
    pub container: String,
    /// `c` or `b`.
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    /// A subset of `rwm`.
    pub access: String,
}

/// The flags, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFlags {
    pub privileged: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub host_uts: bool,
    /// `None`: the harness's own limit; `Some(None)`: no limit; `Some(Some(n))`: `n`.
    pub pids_limit: Option<Option<i64>>,
    /// Bytes; `None`: the harness's own limit.
    pub memory: Option<i64>,
    pub sysctls: BTreeMap<String, String>,
    pub devices: Vec<Device>,
    /// `--userns private`: a user namespace (see the module documentation).
    pub private_userns: bool,
}

/// Why a flag is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{flag} {value:?}: {problem}")]
pub struct RunFlagError {
    pub flag: &'static str,
    pub value: String,
    pub problem: String,
}

fn refuse(flag: &'static str, value: &str, problem: impl Into<String>) -> RunFlagError {
    RunFlagError {
        flag,
        value: value.to_string(),
        problem: problem.into(),
    }
}

/// Docker refuses less memory than this (6 MiB).
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

impl RawRunFlags {
    pub fn validate(&self, network: Network) -> Result<RunFlags, RunFlagError> {
        let host = |flag: &'static str, value: &Option<String>| {
            match value.as_deref() {
            None | Some("private") => Ok(false),
            Some("host") => Ok(true),
            Some(other) => Err(refuse(
                flag,
                other,
                "expected host (or private, the default); joining another container's namespace is not supported",
            )),
        }
        };
        let pids_limit = self.pids_limit.map(|n| (n > 0).then_some(n));
        let memory = self.memory.as_deref().map(parse_memory).transpose()?;
        let mut sysctls = BTreeMap::new();
        for spec in &self.sysctls {
            let (key, value) = parse_sysctl(spec, network)?;
            sysctls.insert(key, value);
        }
        let devices = self
            .devices
            .iter()
            .map(|d| parse_device(d))
            .collect::<Result<Vec<_>, _>>()?;
        let private_userns = match self.userns.as_deref() {
            None | Some("host") => false,
            Some("private") => true,
            Some(other) => {
                return Err(refuse(
                    "--userns",
                    other,
                    "expected host (the default: no user namespace) or private (container root is host uid 100000)",
                ))
            }
        };
        if private_userns && self.privileged {
            return Err(refuse(
                "--userns",
                "private",
                "Docker refuses a privileged container in a user namespace; so does breakout",
            ));
        }
        Ok(RunFlags {
            private_userns,
            privileged: self.privileged,
            host_pid: host("--pid", &self.pid)?,
            host_ipc: host("--ipc", &self.ipc)?,
            host_uts: host("--uts", &self.uts)?,
            pids_limit,
            memory,
            sysctls,
            devices,
        })
    }
}

/// `512m`, `1g`, `1048576`: bytes, as Docker reads `--memory` (suffixes b, k, m, g).
/// `0` is no limit at all, as Docker's default (breakout's own default is 512 MiB).
fn parse_memory(text: &str) -> Result<i64, RunFlagError> {
    if text.trim() == "0" {
        return Ok(0);
    }
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => lower.split_at(at),
        None => (lower.as_str(), ""),
    };
    let scale: i64 = match unit {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => {
            return Err(refuse(
                "--memory",
                text,
                "expected a number of bytes with an optional unit b, k, m or g (512m)",
            ))
        }
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| refuse("--memory", text, "expected a number, like 512m"))?;
    let bytes = n
        .checked_mul(scale)
        .ok_or_else(|| refuse("--memory", text, "too large"))?;
    if bytes < MIN_MEMORY {
        return Err(refuse(
            "--memory",
            text,
            "below 6m, the least Docker allows",
        ));
    }
    Ok(bytes)
}

/// A sysctl of the container's own namespaces, as Docker and runc allow.
fn parse_sysctl(spec: &str, network: Network) -> Result<(String, String), RunFlagError> {
    let Some((key, value)) = spec.split_once('=') else {
        return Err(refuse("--sysctl", spec, "expected KEY=VALUE"));
    };
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let namespaced = ipc.contains(&key) || key.starts_with("fs.mqueue.");
    let net = key.starts_with("net.");
    if net && network == Network::Host {
        return Err(refuse(
            "--sysctl",
            spec,
            "with --network host a net.* sysctl would change the host's own network settings",
        ));
    }
    if !(namespaced || net) {
        return Err(refuse(
            "--sysctl",
            spec,
            "not a sysctl of the container's own namespaces (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.*): it would change the host",
        ));
    }
    if value.is_empty() || value.contains(['\n', '\0']) {
        return Err(refuse("--sysctl", spec, "expected a value after ="));
    }
    Ok((key.to_string(), value.to_string()))
}

/// `HOST[:CONTAINER][:PERMS]`.
fn parse_device(spec: &str) -> Result<Device, RunFlagError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let is_perms = |s: &str| !s.is_empty() && s.chars().all(|c| "rwm".contains(c));
    let (host, container, access) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_perms(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if is_perms(p) => (*h, *c, *p),
        _ => {
            return Err(refuse(
                "--device",
                spec,
                "expected HOST[:CONTAINER][:PERMS], PERMS a subset of rwm",
            ))
        }
    };
    if !container.starts_with("/dev/") || container.contains("/../") {
        return Err(refuse(
            "--device",
            spec,
            "the container path must be under /dev",
        ));
    }
    let meta = std::fs::metadata(Path::new(host))
        .map_err(|e| refuse("--device", spec, format!("{host}: {e}")))?;
    let kind = if meta.file_type().is_char_device() {
        'c'
    } else if meta.file_type().is_block_device() {
        'b'
    } else {
        return Err(refuse(
            "--device",
            spec,
            format!("{host} is not a character or block device"),
        ));
    };
    use std::os::unix::fs::MetadataExt;
    let rdev = meta.rdev();
    Ok(Device {
        host: PathBuf::from(host),
        container: container.to_string(),
        kind,
        major: libc::major(rdev) as i64,
        minor: libc::minor(rdev) as i64,
        access: access.to_string(),
    })
}

impl RunFlags {
    /// What breakout does differently from Docker for these flags, for the report.
    pub fn notes(&self, profile_given: bool) -> Vec<String> {
        let mut notes = Vec::new();
        if self.privileged {
            if profile_given {
                notes.push("--privileged: Docker applies no seccomp filter to a privileged container, so the profile given is not applied".to_string());
            }
            notes.push("--privileged: the host's device nodes are not added (Docker adds every one); the device cgroup allows all, as Docker's".to_string());
        }
        notes
    }

    /// The flags as the JSON report shows them.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "privileged": self.privileged,
            "pid": if self.host_pid { "host" } else { "private" },
            "ipc": if self.host_ipc { "host" } else { "private" },
            "uts": if self.host_uts { "host" } else { "private" },
            "pids_limit": self.pids_limit.map(|l| l.unwrap_or(-1)),
            "memory": self.memory,
            "sysctls": self.sysctls,
            "devices": self.devices.iter().map(|d| format!("{}:{}:{}", d.host.display(), d.container, d.access)).collect::<Vec<_>>(),
            "userns": if self.private_userns { "private" } else { "host" },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_spellings_are_read() {
        assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory("1G").unwrap(), 1 << 30);
        assert_eq!(parse_memory("0").unwrap(), 0);
        assert!(parse_memory("5m").is_err());
        assert!(parse_memory("12q").is_err());
        assert!(parse_sysctl("kernel.shmmni=0", Network::None).is_ok());
        assert!(parse_sysctl("net.ipv4.ip_forward=1", Network::None).is_ok());
        assert!(parse_sysctl("net.ipv4.ip_forward=1", Network::Host).is_err());
        assert!(parse_sysctl("kernel.core_pattern=|/bin/x", Network::None).is_err());
        assert!(parse_sysctl("vm.overcommit_memory=1", Network::None).is_err());
        let null = parse_device("/dev/null:/dev/probe-null:r").unwrap();
        assert_eq!((null.kind, null.major, null.minor), ('c', 1, 3));
        assert_eq!(null.access, "r");
        assert!(parse_device("/etc/passwd").is_err());
        assert!(parse_device("/dev/null:/etc/x").is_err());
        let flags = RawRunFlags {
            pid: Some("host".into()),
            ipc: Some("container:x".into()),
            ..Default::default()
        };
        assert!(flags.validate(Network::None).is_err());
    }
}
