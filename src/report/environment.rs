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
    // SAFETY: utsname is plain old data; zeroed is a valid value and uname fills it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: we pass a valid pointer to a utsname we own.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return ("unknown".into(), std::env::consts::ARCH.into());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&uts.release), field(&uts.machine))
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
