//! How a verdict came about: an errno, a signal, or a condition breakout names itself.
//!
//! One typed value for what the runner reports and what a scenario expects, so the two
//! are compared as values and a misspelt name in a scenario is an error where it is
//! written. Strings exist only at the edges: [`Mechanism::parse`] (scenario files,
//! strict) and [`Mechanism::reported`] (what a run produced, lenient), and `Display`,
//! which prints exactly the name the runner sent, so every report stays byte-identical.
//!
//! Errno and signal names come from nix; only breakout's own conditions are listed here.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A verdict's mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// The call failed with this errno (`EPERM`).
    Errno(Errno),
    /// The process died of this signal (`SIGSYS`).
    Signal(Signal),
    /// A condition the harness or a probe names itself (`timeout`, `nosuid`).
    Kind(Kind),
    /// A name a run produced that breakout does not know (`E200`, `signal 64`), kept as
    /// it came. Never accepted from a scenario file.
    Other(String),
}

/// The conditions breakout names itself, as the runner and the harness spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No verdict within the probe's deadline; the container was killed.
    Timeout,
    /// The container never started, so the probe never ran.
    StartFailure,
    /// The run was interrupted (Ctrl-C) before the probe ran.
    Interrupted,
    /// A datagram was sent but the canary never received it.
    NotReceived,
    /// The mount is `nosuid`, so exec grants no privileges.
    Nosuid,
    /// `no_new_privs` keeps exec from granting privileges.
    NoNewPrivileges,
    /// A set-uid-root binary ran without euid 0 on a mount that is not nosuid and
    /// without no_new_privs (a sandbox kernel that ignores the bit, a user namespace).
    SetUidIgnored,
    /// The call returned success, but the kernel shows nothing came of it: the filter
    /// made the success up (`errnoRet` 0).
    FakeSuccess,
    /// An escape that reached the kernel's own argument checks (attack surface), which
    /// is not the feature being usable.
    Reachable,
    /// Reached, but inside a sandbox kernel (gVisor's), not the host's.
    SandboxKernel,
    /// The container has a namespace of its own where the probe looks for the host's.
    PrivateNamespace,
    /// Nothing of the host's of that kind was given to the container (no host device).
    NotExposed,
    /// A memory limit below the host's memory keeps the container from taking it.
    MemoryLimit,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::Timeout,
        Kind::StartFailure,
        Kind::Interrupted,
        Kind::NotReceived,
        Kind::Nosuid,
        Kind::NoNewPrivileges,
        Kind::SetUidIgnored,
        Kind::FakeSuccess,
        Kind::Reachable,
        Kind::SandboxKernel,
        Kind::PrivateNamespace,
        Kind::NotExposed,
        Kind::MemoryLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Timeout => "timeout",
            Kind::StartFailure => "start-failure",
            Kind::Interrupted => "interrupted",
            Kind::NotReceived => "not-received",
            Kind::Nosuid => "nosuid",
            Kind::NoNewPrivileges => "no-new-privileges",
            Kind::SetUidIgnored => "set-uid-ignored",
            Kind::FakeSuccess => "fake-success",
            Kind::Reachable => "reachable",
            Kind::SandboxKernel => "sandbox-kernel",
            Kind::PrivateNamespace => "private-namespace",
            Kind::NotExposed => "not-exposed",
            Kind::MemoryLimit => "memory-limit",
        }
    }
}

/// A mechanism name in a scenario file that names no errno, signal or condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mechanism {name:?}{}", suggestion_text(.suggestion))]
pub struct UnknownMechanism {
    pub name: String,
    /// The nearest known name, when one is close.
    pub suggestion: Option<String>,
}

fn suggestion_text(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    }
}

/// Errno names by value, built once from nix's table: nix has no name lookup, but its
/// `Debug` is the C name. Aliases (`EWOULDBLOCK`) are not variants and so not here; the
/// runner never sends them.
fn errnos() -> &'static [(String, Errno)] {
    static TABLE: OnceLock<Vec<(String, Errno)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (1..4096)
            .map(Errno::from_raw)
            .filter(|e| *e != Errno::UnknownErrno)
            .map(|e| (format!("{e:?}"), e))
            .collect()
    })
}

impl Mechanism {
    /// A name as a scenario writes it: only known names. Errno and signal names are
    /// upper case (`EPERM`, `SIGSYS`), breakout's own conditions lower case (`timeout`).
    pub fn parse(name: &str) -> Result<Mechanism, UnknownMechanism> {
        Self::known(name).ok_or_else(|| UnknownMechanism {
            name: name.to_string(),
            suggestion: suggest(name),
        })
    }

    /// A name as a run produced it: what breakout does not know is kept as
    /// [`Mechanism::Other`], never refused (the runner's words were sanitized upstream).
    pub fn reported(name: &str) -> Mechanism {
        Self::known(name).unwrap_or_else(|| Mechanism::Other(name.to_string()))
    }

    fn known(name: &str) -> Option<Mechanism> {
        if let Some(kind) = Kind::ALL.into_iter().find(|k| k.as_str() == name) {
            return Some(Mechanism::Kind(kind));
        }
        if name.starts_with("SIG") {
            return Signal::from_str(name).ok().map(Mechanism::Signal);
        }
        errnos()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| Mechanism::Errno(*e))
    }

    /// Every name [`Mechanism::parse`] accepts.
    pub fn known_names() -> impl Iterator<Item = String> {
        Kind::ALL
            .into_iter()
            .map(|k| k.as_str().to_string())
            .chain(Signal::iterator().map(|s| s.as_str().to_string()))
            .chain(errnos().iter().map(|(n, _)| n.clone()))
    }

    /// Makes an unknown name safe to show; known ones are breakout's own spelling.
    pub fn sanitize(&mut self) {
        if let Mechanism::Other(text) = self {
            *text = crate::sanitize::untrusted(text);
        }
    }
}

/// The nearest known name within two edits (a swap counts as one), ignoring case.
fn suggest(name: &str) -> Option<String> {
    let wanted = name.to_ascii_lowercase();
    Mechanism::known_names()
        .map(|known| {
            (
                strsim::osa_distance(&wanted, &known.to_ascii_lowercase()),
                known,
            )
        })
        .filter(|(distance, known)| *distance <= 2 && *distance < known.len().max(2) - 1)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // nix's Debug of an errno is its C name; its Display adds the description.
            Mechanism::Errno(e) => write!(f, "{e:?}"),
            Mechanism::Signal(s) => f.write_str(s.as_str()),
            Mechanism::Kind(k) => f.write_str(k.as_str()),
            Mechanism::Other(text) => f.write_str(text),
        }
    }
}

/// What a run reports arrives as text; these keep the harness's call sites plain.
impl From<&str> for Mechanism {
    fn from(name: &str) -> Mechanism {
        Mechanism::reported(name)
    }
}

impl From<String> for Mechanism {
    fn from(name: String) -> Mechanism {
        match Mechanism::known(&name) {
            Some(m) => m,
            None => Mechanism::Other(name),
        }
    }
}

impl From<Kind> for Mechanism {
    fn from(kind: Kind) -> Mechanism {
        Mechanism::Kind(kind)
    }
}

impl Serialize for Mechanism {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reports read back (a baseline) are runs' output: lenient, like [`Mechanism::reported`].
impl<'de> Deserialize<'de> for Mechanism {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Mechanism::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_to_the_same_text() {
        for name in [
            "EPERM",
            "EACCES",
            "ENOSYS",
            "ECONNREFUSED",
            "EROFS",
            "SIGSYS",
            "SIGKILL",
            "timeout",
            "start-failure",
            "interrupted",
            "not-received",
            "nosuid",
            "no-new-privileges",
        ] {
            let m = Mechanism::parse(name).unwrap();
            assert!(!matches!(m, Mechanism::Other(_)), "{name}");
            assert_eq!(m.to_string(), name);
            assert_eq!(Mechanism::reported(name), m);
        }
        assert_eq!(
            Mechanism::parse("EPERM").unwrap(),
            Mechanism::Errno(Errno::EPERM)
        );
        assert_eq!(
            Mechanism::parse("SIGSYS").unwrap(),
            Mechanism::Signal(Signal::SIGSYS)
        );
        assert_eq!(
            Mechanism::parse("timeout").unwrap(),
            Mechanism::Kind(Kind::Timeout)
        );
    }

    #[test]
    fn what_a_run_reports_unknown_is_kept_not_refused() {
        for name in ["E200", "signal 64", "EWOULDBLOCK", "witnessed", ""] {
            let m = Mechanism::reported(name);
            assert_eq!(m, Mechanism::Other(name.to_string()));
            assert_eq!(m.to_string(), name);
            assert!(Mechanism::parse(name).is_err(), "{name}");
        }
    }

    #[test]
    fn misspelt_names_get_the_nearest_known_one() {
        let hint = |name: &str| Mechanism::parse(name).unwrap_err().suggestion;
        assert_eq!(hint("SIGSYSS").as_deref(), Some("SIGSYS"));
        assert_eq!(hint("EPRM").as_deref(), Some("EPERM"));
        assert_eq!(hint("eperm").as_deref(), Some("EPERM"));
        assert_eq!(hint("timout").as_deref(), Some("timeout"));
        assert_eq!(hint("start_failure").as_deref(), Some("start-failure"));
        assert_eq!(hint("frobnicated"), None);
        assert_eq!(
            Mechanism::parse("SIGSYSS").unwrap_err().to_string(),
            "unknown mechanism \"SIGSYSS\" (did you mean SIGSYS?)"
        );
    }

    #[test]
    fn serializes_as_its_name() {
        let json = serde_json::to_string(&vec![
            Mechanism::Errno(Errno::EPERM),
            Mechanism::Kind(Kind::NoNewPrivileges),
            Mechanism::Other("E200".into()),
        ])
        .unwrap();
        assert_eq!(json, r#"["EPERM","no-new-privileges","E200"]"#);
        let back: Vec<Mechanism> = serde_json::from_str(&json).unwrap();
        assert_eq!(back[0], Mechanism::Errno(Errno::EPERM));
        assert_eq!(back[2], Mechanism::Other("E200".into()));
    }
}
