//! Bridge networking: a network namespace for the container and one for the canary,
//! joined by a veth pair, so "egress allowed" is tested against a peer that is not the
//! container's own loopback, without any traffic leaving the machine.
//!
//! Both namespaces and the veth pair are the run's own; dropping [`BridgeNet`] deletes
//! them (deleting a namespace removes the veth end inside it, and with it the pair).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The canary's side of the pair. The /30 lives only inside the run's two namespaces.
pub const CANARY_IP: &str = "10.213.0.1";
const CONTAINER_IP: &str = "10.213.0.2";
const PREFIX: &str = "/30";

static COUNTER: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("bridge networking needs the `ip` command (apt-get install iproute2): {0}")]
    NoIp(io::Error),
    #[error("`ip {args}` failed: {stderr}")]
    Ip { args: String, stderr: String },
    #[error("failed to enter the canary's network namespace: {0}")]
    Enter(io::Error),
}

/// The run's namespace pair; deleted on drop.
#[derive(Debug)]
pub struct BridgeNet {
    container_ns: String,
    canary_ns: String,
}

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(NetnsError::NoIp)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Ip {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl BridgeNet {
    /// Creates both namespaces, the veth pair between them, addresses and routes.
    pub fn create() -> Result<BridgeNet, NetnsError> {
        // Interface names are at most 15 bytes; namespace names share the stem.
        let stem = format!(
            "bo{}x{}",
            std::process::id() % 1_000_000,
            COUNTER.fetch_add(1, Ordering::Relaxed) % 1000
        );
        let net = BridgeNet {
            container_ns: format!("{stem}c"),
            canary_ns: format!("{stem}h"),
        };
        // From here on the guard deletes whatever was made, also on a failed step.
        ip(&["netns", "add", &net.container_ns])?;
        ip(&["netns", "add", &net.canary_ns])?;
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
        let _ = ip(&["netns", "del", &self.container_ns]);
        let _ = ip(&["netns", "del", &self.canary_ns]);
    }
}
