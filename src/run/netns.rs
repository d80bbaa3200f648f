//! Bridge networking: a network namespace for the container and one for the canary,
//! joined by a veth pair, so "egress allowed" is tested against a peer that is not the
//! container's own loopback, without any traffic leaving the machine.
//!
//! Both namespaces and the veth pair are the run's own: their names carry random bytes
//! (a pid repeats across PID namespaces and over time, and two harnesses share the
//! host's namespace names), and dropping [`BridgeNet`] deletes exactly the namespaces
//! this run created, never a name it merely tried (deleting a namespace removes the
//! veth end inside it, and with it the pair).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The canary's side of the pair. The /30 lives only inside the run's two namespaces.
pub const CANARY_IP: &str = "10.213.0.1";
const CONTAINER_IP: &str = "10.213.0.2";
const PREFIX: &str = "/30";

/// Random bytes in a stem: 48 bits, so that runs on one host do not meet by chance.
const STEM_RANDOM_BYTES: usize = 6;
/// The longest stem: interface names are at most 15 bytes and take a one-byte suffix.
pub const MAX_STEM: usize = 14;

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("bridge networking needs the `ip` command (apt-get install iproute2): {0}")]
    NoIp(io::Error),
    #[error(
        "`ip {args}` failed: {stderr}{}",
        crate::hint::suffix(crate::hint::said_here(crate::hint::Tool::Ip, stderr))
    )]
    Ip { args: String, stderr: String },
    #[error("failed to enter the canary's network namespace: {0}")]
    Enter(io::Error),
    #[error("failed to get random bytes for the network namespaces' names: {0}")]
    Random(io::Error),
    #[error("network namespace stem {stem:?} is not 1..={MAX_STEM} bytes of [a-z0-9]")]
    BadStem { stem: String },
}

/// The run's namespace pair; what of it this run created is deleted on drop.
#[derive(Debug)]
pub struct BridgeNet {
    container_ns: String,
    canary_ns: String,
    /// The namespaces `ip netns add` made for us, in order: only these are deleted.
    created: Vec<String>,
}

/// How long one `ip` call may take: it is a host tool, but every child gets a deadline.
const IP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let mut cmd = Command::new("ip");
    cmd.args(args).stdin(Stdio::null());
    match crate::runtime::run_to_end(cmd, &args.join(" "), IP_DEADLINE) {
        Ok(_) => Ok(()),
        Err(crate::runtime::RuntimeError::Spawn { source, .. }) => Err(NetnsError::NoIp(source)),
        Err(crate::runtime::RuntimeError::Failed { stderr, .. }) => Err(NetnsError::Ip {
            args: args.join(" "),
            stderr,
        }),
        Err(other) => Err(NetnsError::Ip {
            args: args.join(" "),
            stderr: other.to_string(),
        }),
    }
}

/// A fresh stem: `bo` and 12 hex digits from getrandom(2).
pub fn fresh_stem() -> Result<String, NetnsError> {
    let mut bytes = [0u8; STEM_RANDOM_BYTES];
    let mut filled = 0;
    while filled < bytes.len() {
        let rest = &mut bytes[filled..];
        // SAFETY: getrandom(2) writes at most `rest.len()` bytes into `rest`, a live
        // local buffer.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match usize::try_from(n) {
            Ok(n) => filled += n,
            Err(_) => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(NetnsError::Random(err));
                }
            }
        }
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("bo{hex}"))
}

impl BridgeNet {
    /// Creates both namespaces, the veth pair between them, addresses and routes,
    /// under names no other run uses.
    pub fn create() -> Result<BridgeNet, NetnsError> {
        BridgeNet::create_with_stem(&fresh_stem()?)
    }

    /// [`BridgeNet::create`] under a given stem (`STEMc`, `STEMh` for the namespaces,
    /// `STEMa`, `STEMb` for the veth pair); tests use it to meet a name already taken.
    pub fn create_with_stem(stem: &str) -> Result<BridgeNet, NetnsError> {
        let valid = (1..=MAX_STEM).contains(&stem.len())
            && stem
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(NetnsError::BadStem {
                stem: stem.to_string(),
            });
        }
        let mut net = BridgeNet {
            container_ns: format!("{stem}c"),
            canary_ns: format!("{stem}h"),
            created: Vec::new(),
        };
        // From here on the guard deletes what was made, also on a failed step; a name
        // that `ip netns add` refused (taken by someone else) is never recorded.
        for ns in [net.container_ns.clone(), net.canary_ns.clone()] {
            ip(&["netns", "add", &ns])?;
            net.created.push(ns);
        }
        let (a, b) = (format!("{stem}a"), format!("{stem}b"));
        ip(&[
            "link",
            "add",
            &a,
            "netns",
            &net.container_ns,
            "type",
            "veth",
            "peer",
            "name",
            &b,
            "netns",
            &net.canary_ns,
        ])?;
        for (ns, dev, addr) in [
            (&net.container_ns, &a, CONTAINER_IP),
            (&net.canary_ns, &b, CANARY_IP),
        ] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}{PREFIX}"),
                "dev",
                dev,
            ])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "-n",
            &net.container_ns,
            "route",
            "add",
            "default",
            "via",
            CANARY_IP,
        ])?;
        Ok(net)
    }

    /// The namespaces this run created (for its ledger record).
    pub fn created(&self) -> &[String] {
        &self.created
    }

    /// The path a container's spec joins.
    pub fn container_path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.container_ns)
    }

    fn canary_path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.canary_ns)
    }

    /// Runs `f` on a thread that has joined the canary's namespace (sockets made there
    /// stay in it), and returns its result.
    pub fn in_canary_ns<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> Result<T, NetnsError> {
        let path = self.canary_path();
        std::thread::spawn(move || {
            let file = File::open(&path)?;
            // SAFETY: setns with a valid namespace fd changes only this thread's network
            // namespace; the thread ends right after `f`.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the canary thread panicked")))
        .map_err(NetnsError::Enter)
    }
}

impl Drop for BridgeNet {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_random_and_fit_an_interface_name() {
        let stems: Vec<String> = (0..64).map(|_| fresh_stem().unwrap()).collect();
        for (i, stem) in stems.iter().enumerate() {
            assert_eq!(stem.len(), MAX_STEM, "{stem}");
            assert!(stems[i + 1..].iter().all(|o| o != stem), "{stem} twice");
        }
    }

    #[test]
    fn a_stem_that_is_not_a_plain_name_is_refused_before_anything_is_made() {
        for stem in ["", "bo/../x", "BO1", "bo0123456789abc", "bo x"] {
            assert!(
                matches!(
                    BridgeNet::create_with_stem(stem),
                    Err(NetnsError::BadStem { .. })
                ),
                "{stem:?}"
            );
        }
    }
}
