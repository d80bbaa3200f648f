//! Capabilities in `docker run` vocabulary: Docker's default set, `--cap-add` and
//! `--cap-drop` (with `ALL`) resolved against the bounding set the harness holds.
//!
//! Names and numbers come from the `caps` crate rather than a table of our own; the
//! names it knows must also be names the OCI spec knows (tested), since they end up
//! in `process.capabilities`.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::LazyLock;

use caps::Capability;

use super::SettingsError;

/// Capabilities `docker run` grants by default.
pub const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability name the `caps` crate knows, in the kernel's order: a
/// capability's index here is its number.
pub static ALL_CAPS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut all: Vec<Capability> = caps::all().into_iter().collect();
    all.sort_by_key(Capability::index);
    all.iter().map(Capability::to_string).collect()
});

/// Accepts `CAP_NET_RAW`, `NET_RAW` and `net_raw`, like Docker.
fn normalize_cap(flag: &'static str, name: &str) -> Result<String, SettingsError> {
    // ASCII only: `caps::to_canonical` upper-cases Unicode, which reads "ſys_admin"
    // as SYS_ADMIN.
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    match Capability::from_str(&full) {
        Ok(cap) => Ok(cap.to_string()),
        Err(_) => Err(SettingsError::UnknownCapability {
            flag,
            name: name.to_string(),
        }),
    }
}

/// The capabilities in this process's bounding set (`CapBnd` in /proc/self/status):
/// a container can be granted no other. `None` where it cannot be read.
pub fn own_bounding_caps() -> Option<BTreeSet<String>> {
    // /proc rather than `caps::read` (PR_CAPBSET_READ): it is the process's set, not
    // the calling thread's, and a host without /proc gets no limit rather than a guess.
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))?
        .trim();
    let bits = u64::from_str_radix(hex, 16).ok()?;
    Some(
        caps::all()
            .into_iter()
            .filter(|c| bits & c.bitmask() != 0)
            .map(|c| c.to_string())
            .collect(),
    )
}

/// Applies `--cap-drop` then `--cap-add` to Docker's default set, as Docker does
/// (`ALL` allowed in both).
///
/// `ALL` means every capability this host can grant: every known one, cut to what
/// the harness itself holds (a machine may drop some from every process's bounding
/// set; runtimes then fail at capset).
pub(super) fn resolve_caps(
    add: &[String],
    drop: &[String],
    bounding: Option<&BTreeSet<String>>,
) -> Result<BTreeSet<String>, SettingsError> {
    let mut caps: BTreeSet<String> = DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    for name in drop {
        if name.eq_ignore_ascii_case("ALL") {
            caps.clear();
        } else {
            caps.remove(&normalize_cap("--cap-drop", name)?);
        }
    }
    for name in add {
        if name.eq_ignore_ascii_case("ALL") {
            caps.extend(
                ALL_CAPS
                    .iter()
                    .filter(|c| bounding.is_none_or(|b| b.contains(*c)))
                    .cloned(),
            );
        } else {
            let cap = normalize_cap("--cap-add", name)?;
            if bounding.is_some_and(|b| !b.contains(&cap)) {
                return Err(SettingsError::CapabilityUnavailable { name: cap });
            }
            caps.insert(cap);
        }
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::RawSettings;

    fn raw() -> RawSettings {
        RawSettings::default()
    }

    #[test]
    fn caps_drop_then_add_with_all() {
        let s = RawSettings {
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["net_raw".into(), "CAP_SYS_ADMIN".into()],
            ..raw()
        }
        .validate()
        .unwrap();
        assert_eq!(
            s.caps.iter().map(String::as_str).collect::<Vec<_>>(),
            ["CAP_NET_RAW", "CAP_SYS_ADMIN"]
        );
        let all = RawSettings {
            cap_add: vec!["all".into()],
            ..raw()
        }
        .validate_for(None)
        .unwrap();
        assert_eq!(all.caps.len(), ALL_CAPS.len());
        let bounding: BTreeSet<String> = ["CAP_CHOWN".to_string(), "CAP_KILL".to_string()].into();
        let limited = RawSettings {
            cap_drop: vec!["all".into()],
            cap_add: vec!["all".into()],
            ..raw()
        }
        .validate_for(Some(&bounding))
        .unwrap();
        assert_eq!(limited.caps, bounding);
        let missing = RawSettings {
            cap_add: vec!["SYS_RESOURCE".into()],
            ..raw()
        }
        .validate_for(Some(&bounding))
        .unwrap_err();
        assert!(missing.to_string().contains("bounding set"), "{missing}");
        let bad = RawSettings {
            cap_add: vec!["CAP_FLY".into()],
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert!(bad.to_string().contains("CAP_FLY"));
    }

    #[test]
    fn names_are_read_as_docker_reads_them() {
        for (given, name) in [
            ("net_raw", "CAP_NET_RAW"),
            (" NET_RAW ", "CAP_NET_RAW"),
            ("cap_sys_admin", "CAP_SYS_ADMIN"),
            ("Cap_Bpf", "CAP_BPF"),
        ] {
            assert_eq!(normalize_cap("--cap-add", given).as_deref(), Ok(name));
        }
        for bad in ["", "CAP_", "ALL", "ſys_admin", "CAP_NET_RAW,CAP_KILL", "21"] {
            assert!(normalize_cap("--cap-add", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cap_index_is_its_number() {
        assert_eq!(ALL_CAPS[0], "CAP_CHOWN");
        assert_eq!(ALL_CAPS[21], "CAP_SYS_ADMIN");
        assert_eq!(ALL_CAPS[24], "CAP_SYS_RESOURCE");
        assert_eq!(ALL_CAPS[40], "CAP_CHECKPOINT_RESTORE");
        // No gaps: the bounding set's bits map onto these positions.
        for (i, name) in ALL_CAPS.iter().enumerate() {
            let cap = Capability::from_str(name).unwrap();
            assert_eq!(usize::from(cap.index()), i, "{name}");
        }
    }

    #[test]
    fn every_known_cap_is_an_oci_capability() {
        for name in ALL_CAPS.iter() {
            let parsed: Result<oci_spec::runtime::Capability, _> =
                serde_json::from_value(serde_json::Value::String(name.clone()));
            assert!(parsed.is_ok(), "{name}");
        }
    }
}
