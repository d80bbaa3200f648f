//! The environment a report was made in: results depend on kernel, arch, cgroups, LSMs.

use std::fs;

use serde::{Deserialize, Serialize};

/// Facts about the host that change what probes find.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    pub kernel: String,
    pub arch: String,
    /// `v1`, `v2` or `hybrid` (v1 controllers plus a cgroup2 mount at `unified`).
    pub cgroup: String,
    /// Active LSMs in load order, from /sys/kernel/security/lsm.
    pub lsm: Vec<String>,
    pub euid: u32,
}

/// Release and machine from uname(2).
pub fn uname() -> (String, String) {
    match uts_fields(|uts| [&uts.release[..], &uts.machine[..]]) {
        Some([release, machine]) => (release, machine),
        None => ("unknown".into(), std::env::consts::ARCH.into()),
    }
}

/// The host's name (uname(2)'s nodename), or none where uname fails.
pub fn hostname() -> Option<String> {
    uts_fields(|uts| [&uts.nodename[..]]).map(|[node]| node)
}

/// Fields of uname(2)'s answer as text, or none where it fails.
fn uts_fields<const N: usize>(
    pick: impl for<'a> Fn(&'a libc::utsname) -> [&'a [libc::c_char]; N],
) -> Option<[String; N]> {
    // SAFETY: utsname is plain old data; zeroed is a valid value and uname fills it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: we pass a valid pointer to a utsname we own.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some(pick(&uts).map(field))
}

impl Environment {
    pub fn probe() -> Environment {
        let (kernel, arch) = uname();
        let lsm = fs::read_to_string("/sys/kernel/security/lsm")
            .map(|t| {
                t.trim()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Environment {
            kernel,
            arch,
            cgroup: crate::facts::cgroup_layout(),
            lsm,
            // SAFETY: geteuid has no preconditions.
            euid: unsafe { libc::geteuid() },
        }
    }
}
