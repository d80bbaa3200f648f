//! Plain facts that both the runtime drivers and the reports carry: a runtime's version
//! and how it treats a seccomp profile, and the host's cgroup layout. Here, depending
//! on neither, so that `report` and `runtime` do not import each other.

use std::path::PathBuf;

use serde::Serialize;

/// Version facts a report carries.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuntimeVersion {
    pub name: String,
    pub binary: PathBuf,
    pub flags: Vec<String>,
    pub version: String,
    pub libseccomp: Option<String>,
}

/// How a runtime treats a seccomp profile; runc honours all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProfileHandling {
    /// The profile is applied at all.
    pub applies_profile: bool,
    /// The filter is in place before the container's own execve.
    pub filters_own_exec: bool,
    pub honours_errno_ret: bool,
    pub honours_architectures: bool,
    /// The sandbox kernel that serves the container's system calls (`gVisor`), when it
    /// is not the host's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_kernel: Option<&'static str>,
}

impl Default for ProfileHandling {
    fn default() -> Self {
        ProfileHandling {
            applies_profile: true,
            filters_own_exec: true,
            honours_errno_ret: true,
            honours_architectures: true,
            sandbox_kernel: None,
        }
    }
}

impl ProfileHandling {
    pub const IGNORES_PROFILE: &'static str =
        "ignores the profile (gVisor applies linux.seccomp only with --oci-seccomp)";
    pub const FILTERS_AFTER_START: &'static str =
        "applies the filter after its own start, so a profile denying execve does not stop the container";
    pub const NO_ERRNO_RET: &'static str = "ignores errnoRet: denied calls fail with EPERM";
    pub const NO_ARCHITECTURES: &'static str = "ignores the profile's architectures list";

    /// Sentences on how this differs from runc; empty for runc itself.
    pub fn notes(&self) -> Vec<&'static str> {
        if !self.applies_profile {
            return vec![Self::IGNORES_PROFILE];
        }
        let mut notes = Vec::new();
        if !self.filters_own_exec {
            notes.push(Self::FILTERS_AFTER_START);
        }
        if !self.honours_errno_ret {
            notes.push(Self::NO_ERRNO_RET);
        }
        if !self.honours_architectures {
            notes.push(Self::NO_ARCHITECTURES);
        }
        notes
    }
}

/// The host's cgroup layout: `v2`, `hybrid` (v1 controllers plus a cgroup2 mount at
/// `unified`), `v1`, or `none`.
pub fn cgroup_layout() -> String {
    let base = std::path::Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        "v2".into()
    } else if base.join("unified").is_dir() {
        "hybrid".into()
    } else if base.is_dir() {
        "v1".into()
    } else {
        "none".into()
    }
}
