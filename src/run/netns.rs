//! Bridge networking: a network namespace for the container and one for the canary,
//! joined by a veth pair, so "egress allowed" is tested against a peer that is not the
//! container's own loopback, without any traffic leaving the machine.
//!
//! Both namespaces and the veth pair are the run's own: their names carry random bytes
//! (a pid repeats across PID namespaces and over time, and two harnesses share the
//! host's namespace names), and dropping [`BridgeNet`] deletes exactly the namespaces
//! this run created, never a name it merely tried (deleting a namespace removes the
//! veth end inside it, and with it the pair).
//!
//! All of it happens in process, as `ip netns add` and `ip link` would do it: a
//! namespace is named by bind-mounting it on a file of `/var/run/netns` (so `ip netns`
//! lists it, and the ledger's sweep finds it after a crash), and the links, addresses
//! and route are rtnetlink requests (`netlink`). Each `ip` process cost about 3 ms,
//! and a bridge took sixteen of them: most of a run's fixed cost.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use super::netlink::Rtnl;

/// The canary's side of the pair. The /30 lives only inside the run's two namespaces.
pub const CANARY_IP: &str = "10.213.0.1";
const CANARY_ADDR: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 1);
const CONTAINER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 2);
const PREFIX: u8 = 30;

/// Where named network namespaces live, as iproute2 keeps them.
const NETNS_DIR: &str = "/var/run/netns";

/// Random bytes in a stem: 48 bits, so that runs on one host do not meet by chance.
const STEM_RANDOM_BYTES: usize = 6;
/// The longest stem: interface names are at most 15 bytes and take a one-byte suffix.
pub const MAX_STEM: usize = 14;

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error(
        "failed to {what}: {source}{}",
        crate::hint::suffix(crate::hint::io_here(source, crate::hint::Doing::Other))
    )]
    Make {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("failed to enter the canary's network namespace: {0}")]
    Enter(io::Error),
    #[error("failed to get random bytes for the network namespaces' names: {0}")]
    Random(io::Error),
    #[error("network namespace stem {stem:?} is not 1..={MAX_STEM} bytes of [a-z0-9]")]
    BadStem { stem: String },
}

fn make_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetnsError {
    let what = what.into();
    move |source| NetnsError::Make { what, source }
}

/// The run's namespace pair; what of it this run created is deleted on drop.
#[derive(Debug)]
pub struct BridgeNet {
    container_ns: String,
    canary_ns: String,
    /// The namespaces named for us, in order: only these are deleted.
    created: Vec<String>,
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

/// A name this module could have given: what a ledger's record may ask to delete.
fn plain_name(name: &str) -> bool {
    (1..=MAX_STEM + 1).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn path_of(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// `/var/run/netns` as iproute2 sets it up: a directory that is a shared mount, so that
/// a namespace's bind mount there, and its removal, reach mount namespaces made later
/// (a copy kept elsewhere would keep the namespace alive after its deletion).
fn prepare_netns_dir() -> io::Result<()> {
    use rustix::mount::{mount_bind_recursive, mount_change, MountPropagationFlags};
    std::fs::create_dir_all(NETNS_DIR)?;
    let shared = MountPropagationFlags::SHARED | MountPropagationFlags::REC;
    match mount_change(NETNS_DIR, shared) {
        Ok(()) => Ok(()),
        // Not a mount point yet: make it one, on itself.
        Err(rustix::io::Errno::INVAL) => {
            mount_bind_recursive(NETNS_DIR, NETNS_DIR)?;
            mount_change(NETNS_DIR, shared).map_err(Into::into)
        }
        Err(e) => Err(e.into()),
    }
}

/// Names a network namespace `name`: a new one (`of` None), or that of process `of`.
/// A name that exists is refused (EEXIST) and left alone.
fn name_namespace(name: &str, of: Option<u32>) -> io::Result<()> {
    let path = path_of(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let bound = match of {
        Some(pid) => {
            let source = PathBuf::from(format!("/proc/{pid}/ns/net"));
            match not_the_hosts(&source) {
                Ok(()) => bind_namespace(&source, &path),
                Err(e) => Err(e),
            }
        }
        None => {
            let target = path.clone();
            std::thread::spawn(move || {
                // SAFETY: unshare(2) moves only this thread, which ends right after,
                // into a new network namespace.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                bind_namespace(Path::new("/proc/thread-self/ns/net"), &target)
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
        }
    };
    if bound.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    bound
}

/// Refuses a process's network namespace that is the harness's own or init's: the
/// bridge's addresses and route must never land on the host's, whatever became of the
/// process (a keeper gone, its pid reused by a host process).
fn not_the_hosts(ns: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let theirs = id(ns)?;
    for host in ["/proc/self/ns/net", "/proc/1/ns/net"] {
        if id(Path::new(host)).ok() == Some(theirs) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} is the host's network namespace", ns.display()),
            ));
        }
    }
    Ok(())
}

fn bind_namespace(source: &Path, target: &Path) -> io::Result<()> {
    rustix::mount::mount_bind(source, target).map_err(Into::into)
}

/// Deletes the namespace name `name` (the namespace goes once nothing else holds it);
/// whether a name of ours was there to delete. Names this module could not have given
/// are refused.
pub fn delete_named(name: &str) -> bool {
    if !plain_name(name) {
        return false;
    }
    let path = path_of(name);
    let unmounted = rustix::mount::unmount(&path, rustix::mount::UnmountFlags::DETACH).is_ok();
    std::fs::remove_file(&path).is_ok() && unmounted
}

impl BridgeNet {
    /// Creates both namespaces, the veth pair between them, addresses and routes,
    /// under names no other run uses.
    pub fn create() -> Result<BridgeNet, NetnsError> {
        BridgeNet::create_with_stem(&fresh_stem()?)
    }

    /// [`BridgeNet::create`] with the container's side in the network namespace of
    /// process `pid` (an engine's container that holds it, see `run::keeper`) rather
    /// than a new one; the name given to it is removed on drop, the namespace lives as
    /// long as that process.
    pub fn create_for_process(pid: u32) -> Result<BridgeNet, NetnsError> {
        BridgeNet::create_in(&fresh_stem()?, Some(pid))
    }

    /// [`BridgeNet::create`] under a given stem (`STEMc`, `STEMh` for the namespaces,
    /// `STEMa`, `STEMb` for the veth pair); tests use it to meet a name already taken.
    pub fn create_with_stem(stem: &str) -> Result<BridgeNet, NetnsError> {
        BridgeNet::create_in(stem, None)
    }

    fn create_in(stem: &str, container_pid: Option<u32>) -> Result<BridgeNet, NetnsError> {
        let valid = (1..=MAX_STEM).contains(&stem.len()) && plain_name(stem);
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
        prepare_netns_dir().map_err(make_err(format!("prepare {NETNS_DIR}")))?;
        // From here on the guard deletes what was made, also on a failed step; a name
        // that was taken (by someone else) is never recorded.
        for (ns, of) in [
            (net.container_ns.clone(), container_pid),
            (net.canary_ns.clone(), None),
        ] {
            name_namespace(&ns, of).map_err(make_err(format!("make network namespace {ns}")))?;
            net.created.push(ns);
        }
        let (a, b) = (format!("{stem}a"), format!("{stem}b"));
        let container = File::open(net.container_path())
            .map_err(make_err("open the container's network namespace"))?;
        let canary = File::open(net.canary_path())
            .map_err(make_err("open the canary's network namespace"))?;
        // One thread enters each namespace in turn; each netlink socket acts in the
        // namespace it was opened in. The harness's own threads stay where they are.
        std::thread::spawn(move || -> Result<(), NetnsError> {
            enter(&container).map_err(make_err("enter the container's network namespace"))?;
            let mut here = Rtnl::open().map_err(make_err("open a netlink socket"))?;
            let step = |what: &str| make_err(format!("{what} in the container's namespace"));
            here.add_veth(&a, &b, canary.as_fd())
                .map_err(step(&format!("add the veth pair {a}/{b}")))?;
            here.add_address(&a, CONTAINER_ADDR, PREFIX)
                .map_err(step("add the address"))?;
            here.set_up(&a).map_err(step("bring the veth up"))?;
            here.set_up("lo").map_err(step("bring lo up"))?;
            here.add_default_route(CANARY_ADDR)
                .map_err(step("add the default route"))?;
            enter(&canary).map_err(make_err("enter the canary's network namespace"))?;
            let mut there = Rtnl::open().map_err(make_err("open a netlink socket"))?;
            let step = |what: &str| make_err(format!("{what} in the canary's namespace"));
            there
                .add_address(&b, CANARY_ADDR, PREFIX)
                .map_err(step("add the address"))?;
            there.set_up(&b).map_err(step("bring the veth up"))?;
            there.set_up("lo").map_err(step("bring lo up"))?;
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetnsError::Make {
                what: "configure the bridge".into(),
                source: io::Error::other("the configuring thread panicked"),
            })
        })?;
        Ok(net)
    }

    /// The namespaces this run created (for its ledger record).
    pub fn created(&self) -> &[String] {
        &self.created
    }

    /// The path a container's spec joins.
    pub fn container_path(&self) -> PathBuf {
        path_of(&self.container_ns)
    }

    fn canary_path(&self) -> PathBuf {
        path_of(&self.canary_ns)
    }

    /// Runs `f` on a thread that has joined the canary's namespace (sockets made there
    /// stay in it), and returns its result.
    pub fn in_canary_ns<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> Result<T, NetnsError> {
        let path = self.canary_path();
        std::thread::spawn(move || {
            enter(&File::open(&path)?)?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the canary thread panicked")))
        .map_err(NetnsError::Enter)
    }
}

/// Moves the calling thread into the network namespace `ns` refers to.
fn enter(ns: &File) -> io::Result<()> {
    // SAFETY: setns with a valid namespace fd changes only the calling thread's network
    // namespace; callers are threads of their own that end after their work.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Drop for BridgeNet {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            delete_named(ns);
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

    /// A process in the host's network namespace (here, this test) is never given a
    /// bridge: nothing is named, nothing is made.
    #[test]
    fn a_process_in_the_hosts_network_namespace_gets_no_bridge() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root (it would name a network namespace)");
            return;
        }
        let err = BridgeNet::create_for_process(std::process::id()).unwrap_err();
        assert!(
            err.to_string().contains("the host's network namespace"),
            "{err}"
        );
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
