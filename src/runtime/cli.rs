//! Runtime CLI calls with a deadline: stdout and stderr read with poll(2) as they come,
//! bounded; the call killed by its pid past the deadline; pipes that a helper the call
//! left behind still holds given up on soon after the call exits. No thread here can
//! block for good.

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::RuntimeError;

/// Bytes of a CLI call's stdout kept (`--version`, `import`'s image id).
const MAX_CLI_STDOUT: usize = 1024 * 1024;
/// Bytes of a CLI call's stderr kept for its error message.
const MAX_CLI_STDERR: usize = 64 * 1024;
/// How long after a CLI call's exit we still read pipes that a process it left behind
/// holds open: its own last words are already in the pipe by then.
const ORPHAN_GRACE: Duration = Duration::from_millis(300);
/// How long a killed child may take to be reaped before we stop waiting for it.
pub(super) const REAP_PATIENCE: Duration = Duration::from_secs(1);

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
    let tool = crate::hint::Tool::of(std::path::Path::new(cmd.get_program()));
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
            tool,
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
