//! OCI runtime drivers: create, start, wait, kill and delete containers through a
//! runtime's CLI with a private state directory, and the one table of runtime quirks.
//!
//! Drivers know nothing of probes: they move bytes and exit statuses. Everything that
//! differs between runtimes is a row in [`RUNTIMES`], never a scattered condition.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a runtime CLI call (create, start, kill, delete, --version) may take, at
/// most; a run with a shorter timeout gives its runtime calls that instead.
const CLI_DEADLINE: Duration = Duration::from_secs(30);
/// How long one cleanup call (kill, delete, an engine's rm and rmi) may take: a
/// runtime that hangs while cleaning up must cost seconds, not a CLI deadline each.
pub(crate) const CLEANUP_DEADLINE: Duration = Duration::from_secs(3);
/// How long `--version` may take: it starts nothing, so a slow answer is a hang.
pub(crate) const QUERY_DEADLINE: Duration = Duration::from_secs(5);
/// How often we look at a container that has not said anything.
const POLL: Duration = Duration::from_millis(1);

pub mod diagnose;
pub mod engine;
pub mod quirks;

pub use quirks::{RuntimeKind, RUNTIMES};

/// Failures of the runtime itself (not of the container's process).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("unknown runtime {name:?} (known: {known}; or NAME=PATH[,FLAG...] for a binary of one of those families)")]
    Unknown { name: String, known: String },
    #[error("runtime {name:?}: executable {binary:?} not found in PATH ({install})")]
    NotInstalled {
        name: String,
        binary: String,
        install: String,
    },
    #[error("runtime {name:?}: {path} is not an executable file")]
    NotExecutable { name: String, path: PathBuf },
    #[error("runtime {name:?}: cannot tell which runtime family {path} belongs to; name the file after runc, crun, runsc or youki")]
    UnknownFamily { name: String, path: PathBuf },
    #[error("failed to run {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("{command} did not finish within {seconds}s")]
    Hung { command: String, seconds: u64 },
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
}

/// A runtime ready to drive: binary, flags and quirks.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The name in reports (a table row's, or the user's for a custom binary).
    pub name: String,
    pub kind: RuntimeKind,
    pub binary: PathBuf,
    /// Global flags: the row's, the user's, and the network mode's.
    pub flags: Vec<String>,
    /// How long one CLI call may take before the runtime is taken for hung.
    pub cli_deadline: Duration,
}

pub use crate::facts::RuntimeVersion;

fn find_in_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}

fn known_names() -> String {
    RUNTIMES
        .iter()
        .map(|k| k.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `--runtime` values: `runc,crun` is two runtimes, `NAME=PATH[,FLAG...]` one
/// custom runtime with flags.
pub fn split_runtime_args(values: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for value in values {
        let custom = value
            .split(',')
            .next()
            .is_some_and(|first| first.contains('='));
        if custom {
            out.push(value.clone());
        } else {
            out.extend(
                value
                    .split(',')
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
            );
        }
    }
    out
}

impl Runtime {
    /// Resolves one runtime spec: a row's name (binary looked up in `PATH`), or
    /// `NAME=PATH[,FLAG...]` for a binary of one of the known families.
    pub fn lookup(spec: &str) -> Result<Runtime, RuntimeError> {
        if let Some((name, rest)) = spec.split_once('=') {
            let mut parts = rest.split(',');
            let path = PathBuf::from(parts.next().unwrap_or_default());
            let user_flags: Vec<String> = parts
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect();
            let file_name = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let kind = RuntimeKind::named(name)
                .or_else(|| RuntimeKind::infer(&file_name, &user_flags))
                .ok_or_else(|| RuntimeError::UnknownFamily {
                    name: name.to_string(),
                    path: path.clone(),
                })?;
            if !path.is_file() {
                return Err(RuntimeError::NotExecutable {
                    name: name.to_string(),
                    path,
                });
            }
            let mut flags: Vec<String> = kind.flags.iter().map(|f| f.to_string()).collect();
            flags.extend(user_flags);
            return Ok(Runtime {
                name: name.to_string(),
                kind,
                binary: path,
                flags,
                cli_deadline: CLI_DEADLINE,
            });
        }
        let kind = RuntimeKind::named(spec).ok_or_else(|| RuntimeError::Unknown {
            name: spec.to_string(),
            known: known_names(),
        })?;
        let binary = find_in_path(kind.binary).ok_or_else(|| RuntimeError::NotInstalled {
            name: spec.to_string(),
            binary: kind.binary.to_string(),
            install: match kind.package {
                Some(p) => format!("install it: apt-get install {p}"),
                None => "Debian has no package for it: put its binary in PATH, or name it with NAME=PATH".to_string(),
            },
        })?;
        Ok(Runtime {
            name: kind.name.to_string(),
            kind,
            binary,
            flags: kind.flags.iter().map(|f| f.to_string()).collect(),
            cli_deadline: CLI_DEADLINE,
        })
    }

    /// Every row of the table whose binary is installed.
    pub fn installed() -> Vec<Runtime> {
        RUNTIMES
            .iter()
            .filter_map(|k| Runtime::lookup(k.name).ok())
            .collect()
    }

    /// The same runtime, with CLI calls held to `limit`, within 10s..30s: a slow
    /// runtime (runsc takes seconds to create) is not taken for hung.
    pub fn with_cli_deadline(&self, limit: Duration) -> Runtime {
        Runtime {
            cli_deadline: limit.clamp(Duration::from_secs(10), CLI_DEADLINE),
            ..self.clone()
        }
    }

    /// The same runtime with the flags a network mode needs.
    pub fn for_network(&self, network: crate::container::Network) -> Runtime {
        let mut runtime = self.clone();
        runtime.flags.extend(
            self.kind
                .network_flags(network)
                .iter()
                .map(|f| f.to_string()),
        );
        runtime
    }

    fn command(&self, state_root: &Path) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.flags)
            .arg("--root")
            .arg(state_root)
            .stdin(Stdio::null());
        cmd
    }

    /// `RUNTIME --version`, parsed into the version line and libseccomp's version;
    /// asked once per binary and flags in a process.
    pub fn version(&self) -> Result<RuntimeVersion, RuntimeError> {
        static CACHE: std::sync::OnceLock<std::sync::Mutex<Vec<RuntimeVersion>>> =
            std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let known = cache
            .lock()
            .expect("version cache")
            .iter()
            .find(|v| v.binary == self.binary && v.flags == self.flags && v.name == self.name)
            .cloned();
        if let Some(v) = known {
            return Ok(v);
        }
        let v = self.ask_version()?;
        cache.lock().expect("version cache").push(v.clone());
        Ok(v)
    }

    /// Where `--version`'s answer for this binary (as it is now: path, size, mtime,
    /// flags) is kept between invocations: asking costs a process start per run.
    fn version_cache_file(&self) -> Option<PathBuf> {
        use std::hash::{Hash, Hasher};
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.binary).ok()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            &self.binary,
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            &self.flags,
        )
            .hash(&mut h);
        Some(
            Path::new(crate::bundle::SHORT_STATE_BASE)
                .join(format!(".version-{:016x}", h.finish())),
        )
    }

    fn ask_version(&self) -> Result<RuntimeVersion, RuntimeError> {
        let cached = self.version_cache_file();
        let text = match cached
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
        {
            Some(text) => text,
            None => {
                let mut cmd = Command::new(&self.binary);
                cmd.arg("--version").stdin(Stdio::null());
                let text = run_to_end(cmd, "--version", QUERY_DEADLINE.min(self.cli_deadline))?;
                if let Some(file) = &cached {
                    // Written aside and renamed, so a parallel reader never sees half.
                    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
                    if std::fs::write(&tmp, &text)
                        .and_then(|()| std::fs::rename(&tmp, file))
                        .is_err()
                    {
                        // A full /run: the cache is only a cache, and leaves nothing.
                        let _ = std::fs::remove_file(&tmp);
                    }
                }
                text
            }
        };
        let version = text.lines().next().unwrap_or_default().trim().to_string();
        let libseccomp = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("libseccomp:"))
            .map(|v| v.trim().to_string());
        Ok(RuntimeVersion {
            name: self.name.clone(),
            binary: self.binary.clone(),
            flags: self.flags.clone(),
            version,
            libseccomp,
        })
    }

    /// Starts a container from the bundle with `RUNTIME run`, in the foreground: one
    /// runtime process that creates, starts and waits for the container, deletes it
    /// when it ends, and exits with its status (128 + N for a death by signal N). Its
    /// stdout and stderr, which the container shares, are pipes back to us. The
    /// guard kills and deletes the container if it is still there when dropped.
    pub fn launch(
        &self,
        state_root: &Path,
        bundle: &Path,
        id: &str,
    ) -> Result<(Container, ChildStdout, ChildStderr), RuntimeError> {
        let mut cmd = self.command(state_root);
        cmd.arg("run").arg("--bundle").arg(bundle).arg(id);
        self.spawn_foreground(cmd, state_root, id)
    }

    /// Spawns a foreground `run` (a runtime's or an engine's) with stdout and stderr
    /// piped back, as the guard of the container it runs.
    pub(crate) fn spawn_foreground(
        &self,
        mut cmd: Command,
        state_root: &Path,
        id: &str,
    ) -> Result<(Container, ChildStdout, ChildStderr), RuntimeError> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
            command: format!("{} run", self.name),
            source,
        })?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        let pid = i32::try_from(child.id()).ok();
        // The guard reaps the process by its pid; the handle is not needed.
        drop(child);
        Ok((
            Container {
                runtime: self.clone(),
                state_root: state_root.to_path_buf(),
                id: id.to_string(),
                pid,
                exit: None,
                killed: false,
            },
            stdout,
            stderr,
        ))
    }
}

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
    runtime: Runtime,
    state_root: PathBuf,
    id: String,
    /// The foreground runtime process (`RUNTIME run`, `ENGINE run`).
    pid: Option<i32>,
    exit: Option<Exit>,
    /// We had to kill it: the runtime may not have cleaned up after itself.
    killed: bool,
}

impl Container {
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

/// Bytes of a CLI call's stdout kept (`--version`, `import`'s image id).
const MAX_CLI_STDOUT: usize = 1024 * 1024;
/// Bytes of a CLI call's stderr kept for its error message.
const MAX_CLI_STDERR: usize = 64 * 1024;
/// How long after a CLI call's exit we still read pipes that a process it left behind
/// holds open: its own last words are already in the pipe by then.
const ORPHAN_GRACE: Duration = Duration::from_millis(300);
/// How long a killed child may take to be reaped before we stop waiting for it.
const REAP_PATIENCE: Duration = Duration::from_secs(1);

/// One piped stream of a child, read without blocking up to a bound; bytes past the
/// bound are read and dropped so that the writer never stalls on a full pipe.
struct Stream {
    fd: Option<std::os::fd::OwnedFd>,
    kept: Vec<u8>,
    bound: usize,
}

impl Stream {
    fn new(fd: impl Into<std::os::fd::OwnedFd>, bound: usize) -> Stream {
        use std::os::fd::AsRawFd;
        let fd: std::os::fd::OwnedFd = fd.into();
        // SAFETY: fcntl on a descriptor we own; F_GETFL/F_SETFL only change its flags.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        Stream {
            fd: Some(fd),
            kept: Vec::new(),
            bound,
        }
    }

    /// Reads what is there now; a bounded number of reads, so a flood cannot keep the
    /// caller from its deadline. Closes the stream at its end or on an error.
    fn read_available(&mut self) {
        use std::os::fd::AsRawFd;
        let mut chunk = [0u8; 16 * 1024];
        for _ in 0..16 {
            let Some(fd) = &self.fd else { return };
            // SAFETY: read(2) into a local buffer of the length given, on a descriptor
            // we own.
            let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            match usize::try_from(n) {
                Ok(0) => self.fd = None,
                Ok(n) => {
                    let room = self.bound.saturating_sub(self.kept.len());
                    self.kept.extend_from_slice(&chunk[..n.min(room)]);
                }
                Err(_) => {
                    let err = io::Error::last_os_error();
                    match err.kind() {
                        io::ErrorKind::Interrupted => continue,
                        io::ErrorKind::WouldBlock => return,
                        _ => self.fd = None,
                    }
                }
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept).into_owned()
    }
}

/// A pidfd for our own unreaped child, to wake a poll when it exits; None where the
/// kernel has no pidfd_open (a short tick stands in).
fn child_pidfd(child: &Child) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; the
    // pid is our child's, not yet reaped, so it names that process.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id(), 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the descriptor was just returned to us and is owned by nothing else.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// poll(2) on the open streams and `also` for at most `timeout`; which wake-up it was
/// does not matter, the caller looks at everything again.
fn poll_streams(streams: &[&Stream], also: Option<&std::os::fd::OwnedFd>, timeout: Duration) {
    use std::os::fd::AsRawFd;
    let mut fds: Vec<libc::pollfd> = streams
        .iter()
        .filter_map(|s| s.fd.as_ref())
        .chain(also)
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Rounded up, so a poll never returns early and spins on a sub-millisecond rest.
    let ms = i32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
    // SAFETY: poll(2) on a local array of pollfd whose length is passed with it; the
    // descriptors stay open for the call.
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms);
    }
}

/// Waits for our child `child` until `deadline`, reading its piped `streams` as they
/// fill. Past the deadline the child is killed (by its own pid: it is ours and not
/// reaped, so the pid cannot name another process) and None returned. Once it has
/// exited, pipes that something it left behind still holds are abandoned after
/// [`ORPHAN_GRACE`]: no wait here can outlast the deadline by more than that.
fn follow_child(
    child: &mut Child,
    streams: &mut [&mut Stream],
    deadline: Instant,
) -> Option<std::process::ExitStatus> {
    let pidfd = child_pidfd(child);
    let mut exited: Option<(std::process::ExitStatus, Instant)> = None;
    loop {
        for stream in streams.iter_mut() {
            stream.read_available();
        }
        if exited.is_none() {
            if let Ok(Some(status)) = child.try_wait() {
                exited = Some((status, Instant::now()));
            }
        }
        let open = streams.iter().any(|s| s.fd.is_some());
        let now = Instant::now();
        let wake = match exited {
            Some((status, at)) if !open || now >= at + ORPHAN_GRACE => return Some(status),
            Some((_, at)) => at + ORPHAN_GRACE,
            None if now >= deadline => {
                let _ = child.kill();
                reap_within(child, REAP_PATIENCE);
                return None;
            }
            None => deadline,
        };
        let mut timeout = wake.saturating_duration_since(now);
        if pidfd.is_none() && exited.is_none() {
            timeout = timeout.min(Duration::from_millis(10));
        }
        let views: Vec<&Stream> = streams.iter().map(|s| &**s).collect();
        poll_streams(&views, pidfd.as_ref().filter(|_| exited.is_none()), timeout);
    }
}

/// Reaps our child if it ends within `limit`; a child stuck in the kernel (an
/// uninterruptible sleep survives SIGKILL) is given up on rather than waited for.
fn reap_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => return None,
        }
    }
}

/// Waits for our child until `limit` has passed, then kills it (by its own pid) and
/// reaps it if it goes; for children whose output goes elsewhere (`tar` into an
/// import).
pub(crate) fn wait_or_kill(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    follow_child(child, &mut [], Instant::now() + limit)
}

/// Runs a short CLI call to completion within `limit`; returns stdout or the error.
///
/// Its stdout and stderr are read here with poll(2), bounded in size; past the limit
/// the call is killed, and pipes held open by processes it left behind are abandoned
/// shortly after it exits, so a runtime cannot hold the harness past the deadline.
pub(crate) fn run_to_end(
    mut cmd: Command,
    label: &str,
    limit: Duration,
) -> Result<String, RuntimeError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let command = format!("{program} {label}");
    let deadline = Instant::now() + limit;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RuntimeError::Spawn {
            command: command.clone(),
            source,
        })?;
    // The command keeps descriptors it was given (an import's archive pipe): close
    // ours, so the other end sees its reader go when the child goes.
    drop(cmd);
    let mut out = Stream::new(
        child.stdout.take().expect("stdout was piped"),
        MAX_CLI_STDOUT,
    );
    let mut err = Stream::new(
        child.stderr.take().expect("stderr was piped"),
        MAX_CLI_STDERR,
    );
    let status = follow_child(&mut child, &mut [&mut out, &mut err], deadline);
    match status {
        None => Err(RuntimeError::Hung {
            command,
            seconds: limit.as_secs_f64().ceil() as u64,
        }),
        Some(s) if s.success() => Ok(out.text()),
        Some(_) => Err(RuntimeError::Failed {
            command,
            stderr: err.text().trim().to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kills a sleeper a test's command left behind, by the pid it printed, only if
    /// that pid still runs the sleep the test started.
    fn kill_sleeper(pid_text: &str, marker: &str) {
        let Ok(pid) = pid_text.trim().parse::<i32>() else {
            return;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            // SAFETY: kill(2) with a pid checked just above to run our own sleeper.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }

    #[test]
    fn a_call_whose_helper_keeps_its_pipes_open_returns_soon_after_it_exits() {
        // A failing call: its stderr (the sleeper's pid) is the error text.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 61.5 & echo $! >&2; exit 3"]);
        let started = Instant::now();
        let result = run_to_end(cmd, "test", Duration::from_secs(20));
        let elapsed = started.elapsed();
        let Err(RuntimeError::Failed { stderr, .. }) = &result else {
            panic!("{result:?}");
        };
        kill_sleeper(stderr, "61.5");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

        // A succeeding call: its stdout (the sleeper's pid) is the answer.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 61.5 & echo $!"]);
        let started = Instant::now();
        let pid = run_to_end(cmd, "test", Duration::from_secs(20)).unwrap();
        let elapsed = started.elapsed();
        kill_sleeper(&pid, "61.5");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }

    #[test]
    fn a_hung_call_is_killed_at_its_deadline() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exec sleep 62.5"]);
        let started = Instant::now();
        let result = run_to_end(cmd, "test", Duration::from_millis(500));
        let elapsed = started.elapsed();
        assert!(
            matches!(result, Err(RuntimeError::Hung { .. })),
            "{result:?}"
        );
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    #[test]
    fn output_is_bounded_and_read_while_the_call_runs() {
        // 4 MiB through a 64 KiB pipe: the call only finishes if we read as it writes.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "head -c 4194304 /dev/zero"]);
        let out = run_to_end(cmd, "test", Duration::from_secs(20)).unwrap();
        assert_eq!(out.len(), MAX_CLI_STDOUT);
    }
}
