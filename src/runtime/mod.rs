//! OCI runtime drivers: create, start, wait, kill and delete containers through a
//! runtime's CLI with a private state directory, and the one table of runtime quirks.
//!
//! Drivers know nothing of probes: they move bytes and exit statuses. Everything that
//! differs between runtimes is a row in [`RUNTIMES`], never a scattered condition.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdout, Command, Stdio};
use std::time::Duration;

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

mod cli;
mod container;
pub mod diagnose;
pub mod engine;
pub mod quirks;

pub use quirks::{RuntimeKind, RUNTIMES};

pub(crate) use cli::{run_to_end, wait_or_kill};
pub use container::{Container, Exit};

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
    #[error(
        "failed to run {command}: {source}{}",
        crate::hint::suffix(crate::hint::io_here(source, crate::hint::Doing::Run))
    )]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("{command} did not finish within {seconds}s")]
    Hung { command: String, seconds: u64 },
    /// The call exited non-zero; `tool` is the program when its words are known
    /// ([`crate::hint::Tool`]), for the likely cause.
    #[error("{command} failed: {stderr}{}", crate::hint::suffix(tool.and_then(|t| crate::hint::said_here(t, stderr))))]
    Failed {
        command: String,
        stderr: String,
        tool: Option<crate::hint::Tool>,
    },
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

    /// `docker version`'s answer for the engine behind this CLI: whether one answers
    /// (`diagnose`) and which version it is (the report) come from one call per binary
    /// in a process. Only an answer is kept; a failure is asked again.
    pub fn docker_server_version(&self) -> Result<String, RuntimeError> {
        static ANSWERS: std::sync::OnceLock<std::sync::Mutex<Vec<(PathBuf, String)>>> =
            std::sync::OnceLock::new();
        let answers = ANSWERS.get_or_init(Default::default);
        if let Some((_, v)) = answers
            .lock()
            .expect("server version cache")
            .iter()
            .find(|(b, _)| *b == self.binary)
        {
            return Ok(v.clone());
        }
        let mut cmd = Command::new(&self.binary);
        cmd.args(["version", "--format", "{{.Server.Version}}"])
            .stdin(Stdio::null());
        // Bounded like every other child: a CLI waiting on an unreachable daemon.
        let answer = run_to_end(cmd, "version", QUERY_DEADLINE.min(self.cli_deadline))?;
        answers
            .lock()
            .expect("server version cache")
            .push((self.binary.clone(), answer.clone()));
        Ok(answer)
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
            Path::new(crate::names::SHORT_STATE_BASE).join(format!(".version-{:016x}", h.finish())),
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
        let mut version = text.lines().next().unwrap_or_default().trim().to_string();
        if self.engine() == Some(engine::Engine::Docker) {
            // The CLI's line says nothing of the engine that resolves the profile and
            // runs the container (a CLI 28 talks to an engine 20.10 here): the daemon
            // names its own. Not kept in the file cache: DOCKER_HOST picks the daemon.
            if let Ok(server) = self.docker_server_version() {
                let server = crate::sanitize::untrusted(server.trim());
                if !server.is_empty() {
                    version = format!("{version}; engine {server}");
                }
            }
        }
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
        self.spawn_foreground(self.run_command(state_root, bundle, id), state_root, id)
    }

    /// The foreground `run` of the bundle as container `id`, not started: for a caller
    /// that starts it its own way (as a tracee, `crate::trace`) and deletes `id` after.
    pub fn run_command(&self, state_root: &Path, bundle: &Path, id: &str) -> Command {
        let mut cmd = self.command(state_root);
        cmd.arg("run").arg("--bundle").arg(bundle).arg(id);
        cmd
    }

    /// `exec` of `argv` in running container `id`, a runtime's or an engine's: a
    /// process beside the container's, in its namespaces and under its filter.
    pub fn exec_command(&self, state_root: &Path, id: &str, argv: &[String]) -> Command {
        let mut cmd = match self.engine() {
            Some(_) => self.engine_command(state_root),
            None => self.command(state_root),
        };
        cmd.arg("exec").arg(id).args(argv);
        cmd
    }

    /// Spawns a foreground `run` (a runtime's or an engine's) with stdout and stderr
    /// piped back, as the guard of the container it runs.
    pub(crate) fn spawn_foreground(
        &self,
        mut cmd: Command,
        state_root: &Path,
        id: &str,
    ) -> Result<(Container, ChildStdout, ChildStderr), RuntimeError> {
        // stdin is a pipe of ours, never the harness's own (a terminal the image could
        // read); its closing is the runner's signal to end after `done`.
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
            command: format!("{} run", self.name),
            source,
        })?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let stderr = child.stderr.take().expect("stderr was piped");
        let stdin = child.stdin.take();
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
                stdin,
            },
            stdout,
            stderr,
        ))
    }
}
