//! A container the harness started: the foreground runtime (or engine) process is our
//! child; waiting for it, killing it through the runtime, deleting what is left, and
//! sweeping the cgroups runtimes leave behind.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::cli::REAP_PATIENCE;
use super::{run_to_end, Runtime, CLEANUP_DEADLINE, POLL};

/// How a container's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// It is gone, but it was not our child so the status is unknown.
    Unknown,
}

/// A running container: the runtime (or engine) process in the foreground is our
/// child. Dropping it kills and deletes whatever of the container is left.
#[derive(Debug)]
pub struct Container {
    pub(super) runtime: Runtime,
    pub(super) state_root: PathBuf,
    pub(super) id: String,
    /// The foreground runtime process (`RUNTIME run`, `ENGINE run`).
    pub(super) pid: Option<i32>,
    pub(super) exit: Option<Exit>,
    /// We had to kill it: the runtime may not have cleaned up after itself.
    pub(super) killed: bool,
    /// The write end of the container's stdin: never written; closing it tells a
    /// runner that holds after `done` (`--hold`) that the harness has read it all.
    pub(super) stdin: Option<std::process::ChildStdin>,
}

impl Container {
    /// The foreground runtime process, whose descendants the container's are (for an
    /// OCI runtime run in the foreground).
    pub fn runtime_pid(&self) -> Option<i32> {
        self.pid
    }

    /// Closes the container's stdin: a runner holding after `done` may end now.
    pub fn release(&mut self) {
        self.stdin = None;
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// A pidfd for the foreground runtime process: readable once it has ended, so a
    /// poll can wait for output and the exit at once. None where the kernel has no
    /// pidfd_open (before 5.3) or the process is already gone.
    pub fn pidfd(&self) -> Option<std::os::fd::OwnedFd> {
        use std::os::fd::FromRawFd;
        let pid = self.pid?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
        // SAFETY: the descriptor was just returned to us and is owned by nothing else.
        Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
    }

    /// Non-blocking: has the container's process ended, and how.
    pub fn poll_exit(&mut self) -> Option<Exit> {
        if self.exit.is_some() {
            return self.exit;
        }
        let pid = self.pid?;
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG only writes the status into our local integer.
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if ret == pid {
            let code = libc::WEXITSTATUS(status);
            // Every `run` reports the container's death by signal N as 128 + N.
            self.exit = Some(if libc::WIFSIGNALED(status) {
                Exit::Signal(libc::WTERMSIG(status))
            } else if (129..160).contains(&code) {
                Exit::Signal(code - 128)
            } else {
                Exit::Code(code)
            });
        } else if ret == -1 {
            // Not our child (the runtime did not hand it over): fall back to existence.
            // SAFETY: signal 0 only checks that the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            if !alive {
                self.exit = Some(Exit::Unknown);
            }
        }
        self.exit
    }

    /// Blocks until the process ends, the deadline passes or an interrupt arrives.
    pub fn wait_until(&mut self, deadline: Instant, interrupted: &AtomicBool) -> Option<Exit> {
        loop {
            if let Some(exit) = self.poll_exit() {
                return Some(exit);
            }
            if Instant::now() >= deadline || interrupted.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Sends SIGKILL through the runtime (which knows the whole container).
    pub fn kill(&mut self) {
        self.killed = true;
        let cmd = match self.runtime.engine() {
            Some(_) => {
                let mut cmd = self.runtime.engine_command(&self.state_root);
                cmd.args(["kill", "--signal", "KILL", &self.id]);
                cmd
            }
            None => {
                let mut cmd = self.runtime.command(&self.state_root);
                cmd.args(["kill", "--all", &self.id, "KILL"]);
                cmd
            }
        };
        let _ = run_to_end(cmd, "kill", CLEANUP_DEADLINE);
        // A runtime that does not stop its own foreground process (hung, or a fake):
        // end that process, which we started, by its pid.
        if self
            .wait_until(
                Instant::now() + Duration::from_secs(2),
                &AtomicBool::new(false),
            )
            .is_none()
        {
            if let Some(pid) = self.pid {
                // SAFETY: kill(2) on the pid of the child process we spawned and have
                // not reaped yet, so the pid cannot have been reused.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
                let _ = self.wait_until(Instant::now() + REAP_PATIENCE, &AtomicBool::new(false));
            }
        }
    }

    fn delete(&mut self) {
        let cmd = match self.runtime.engine() {
            Some(_) => {
                let mut cmd = self.runtime.engine_command(&self.state_root);
                cmd.args(["rm", "--force", &self.id]);
                cmd
            }
            None => {
                let mut cmd = self.runtime.command(&self.state_root);
                cmd.args(["delete", "--force", &self.id]);
                cmd
            }
        };
        let _ = run_to_end(cmd, "delete", CLEANUP_DEADLINE);
        // Reap our child if it has ended, so no zombie of ours outlives the run.
        let _ = self.wait_until(Instant::now() + REAP_PATIENCE, &AtomicBool::new(false));
        remove_leftover_cgroups(&self.id);
    }
}

impl Runtime {
    /// Kills and deletes container `id` of a run whose harness died (see
    /// `crate::ledger`), through the runtime with cleanup deadlines, and sweeps its
    /// cgroups. Nothing here is our child: there is no foreground process to end.
    pub fn remove_leftover_container(&self, state_root: &Path, id: &str) {
        let (kill, delete) = match self.engine() {
            Some(_) => {
                let mut kill = self.engine_command(state_root);
                kill.args(["kill", "--signal", "KILL", id]);
                let mut delete = self.engine_command(state_root);
                delete.args(["rm", "--force", id]);
                (kill, delete)
            }
            None => {
                let mut kill = self.command(state_root);
                kill.args(["kill", "--all", id, "KILL"]);
                let mut delete = self.command(state_root);
                delete.args(["delete", "--force", id]);
                (kill, delete)
            }
        };
        let _ = run_to_end(kill, "kill", CLEANUP_DEADLINE);
        let _ = run_to_end(delete, "delete", CLEANUP_DEADLINE);
        remove_leftover_cgroups(id);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.poll_exit().is_none() {
            self.kill();
        }
        // `RUNTIME run` deletes a container that ended by itself; one we killed, or
        // an engine's (which keeps its containers), is deleted here (and swept).
        if self.killed || self.runtime.engine().is_some() || self.exit == Some(Exit::Unknown) {
            self.delete();
        } else {
            let _ = self.wait_until(
                Instant::now() + Duration::from_secs(2),
                &AtomicBool::new(false),
            );
            remove_leftover_cgroups(&self.id);
        }
    }
}

/// How long the sweep waits for the last processes of a container's cgroups to go
/// (a sandbox, a fork bomb's thousands still being reaped) before it leaves them.
const CGROUP_DRAIN: Duration = Duration::from_secs(3);

/// Removes the container's cgroups that a runtime left behind, empty or emptying.
///
/// Runtimes name them after the container's id, but not in one place: runc (and the
/// runtimes that share its library) puts a relative path below the *caller's* cgroup
/// in each hierarchy, so where the harness itself sits in a non-root cgroup (here the
/// memory hierarchy) they are nested there, while crun and runsc use the top of each
/// hierarchy. A runtime's own removal also fails while the container's last
/// processes are still being reaped. So every container gets this sweep, whichever
/// runtime ran it and however it ended: it looks at both places in every hierarchy,
/// and waits a bounded while for busy ones. Only directories named exactly after the
/// container's id are touched, and a cgroup that still holds a process refuses rmdir.
fn remove_leftover_cgroups(id: &str) {
    let deadline = Instant::now() + CGROUP_DRAIN;
    for dir in cgroup_candidates(id) {
        if dir.is_dir() {
            remove_cgroup_tree(&dir, deadline);
        }
    }
}

/// Every directory a cgroup named `id` may have: `ROOT/id` and `ROOT/OWN/id` for each
/// hierarchy ROOT (each directory of /sys/fs/cgroup on v1 and hybrid hosts, and
/// /sys/fs/cgroup itself on a unified one) and each path OWN of our own cgroups.
fn cgroup_candidates(id: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut roots = vec![base.to_path_buf()];
    roots.extend(
        std::fs::read_dir(base)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path()),
    );
    let mut own: Vec<String> = vec![String::new()];
    for line in std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
    {
        // "N:controllers:/path"; the path is ours, not the container's.
        if let Some(path) = line.splitn(3, ':').nth(2) {
            let path = path.trim_matches('/');
            if !path.is_empty()
                && !path.split('/').any(|c| c == "..")
                && !own.iter().any(|o| o == path)
            {
                own.push(path.to_string());
            }
        }
    }
    let mut out = Vec::new();
    for root in &roots {
        for path in &own {
            out.push(root.join(path).join(id));
        }
    }
    out
}

/// Removes a cgroup and the cgroups below it, deepest first. One whose processes are
/// still going is retried until `deadline`, then left (it is not empty: not ours to
/// empty by force).
fn remove_cgroup_tree(dir: &Path, deadline: Instant) {
    if let Ok(children) = std::fs::read_dir(dir) {
        for child in children.flatten() {
            if child.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&child.path(), deadline);
            }
        }
    }
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return,
        }
    }
}
