//! Reading a container's output, which is untrusted input: stdout split into bounded
//! lines, stderr kept up to a bound, both read by the following thread itself with
//! poll(2), so that a line, the end of the output or the runtime's exit (through a
//! pidfd) wakes it at once, without reader threads to start and hand over to.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::process::{ChildStderr, ChildStdout};
use std::time::{Duration, Instant};

use crate::protocol::MAX_LINE;

/// Lines beyond this many from one container are drained but not handed on.
pub const MAX_LINES: usize = 10_000;
/// Bytes of the container's stderr we keep for start-failure messages.
const MAX_STDERR: usize = 64 * 1024;
/// Reads per stream per wake-up: a flood cannot keep the caller from its deadline.
const READS_PER_WAKE: usize = 16;

/// One line of output, as handed on.
#[derive(Debug)]
pub enum Incoming {
    Line(String),
    /// A line longer than [`MAX_LINE`]; its start, for the report.
    Overlong(String),
}

/// Splits a byte stream into lines of at most [`MAX_LINE`] bytes, the first
/// [`MAX_LINES`] of them; the bytes may come in chunks of any size.
#[derive(Debug, Default)]
pub struct LineSplitter {
    line: Vec<u8>,
    overlong: bool,
    sent: usize,
}

impl LineSplitter {
    pub fn push(&mut self, bytes: &[u8], emit: &mut dyn FnMut(Incoming)) {
        for &b in bytes {
            if b == b'\n' {
                self.emit(emit);
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            } else {
                self.overlong = true;
            }
        }
    }

    /// The end of the stream: a last line without its newline is handed on too.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Incoming)) {
        if !self.line.is_empty() {
            self.emit(emit);
        }
    }

    fn emit(&mut self, emit: &mut dyn FnMut(Incoming)) {
        if self.sent < MAX_LINES {
            let mut text = String::from_utf8_lossy(&self.line).into_owned();
            // Invalid bytes become U+FFFD (three bytes each): cut back to the bound.
            if text.len() > MAX_LINE {
                let mut cut = MAX_LINE;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            emit(if self.overlong {
                Incoming::Overlong(text)
            } else {
                Incoming::Line(text)
            });
            self.sent += 1;
        }
        self.line.clear();
        self.overlong = false;
    }
}

/// Splits all of `source` into lines (for whole streams, e.g. in tests).
pub fn split_all(mut source: impl Read) -> Vec<Incoming> {
    let mut lines = Vec::new();
    let mut splitter = LineSplitter::default();
    let mut chunk = [0u8; 8192];
    loop {
        match source.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => splitter.push(&chunk[..n], &mut |l| lines.push(l)),
        }
    }
    splitter.finish(&mut |l| lines.push(l));
    lines
}

/// A container's stdout and stderr, non-blocking, read as they become readable.
pub struct Pipes {
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    lines: LineSplitter,
    stderr_text: Vec<u8>,
    /// A text to look for in everything stderr carries (not only the part kept).
    watch: Option<Vec<u8>>,
    /// The end of what stderr carried so far, so that a watched text split between two
    /// reads is still found.
    stderr_tail: Vec<u8>,
    watched_seen: bool,
}

impl Pipes {
    pub fn new(stdout: ChildStdout, stderr: ChildStderr) -> io::Result<Pipes> {
        set_nonblocking(stdout.as_fd())?;
        set_nonblocking(stderr.as_fd())?;
        Ok(Pipes {
            stdout: Some(stdout),
            stderr: Some(stderr),
            lines: LineSplitter::default(),
            stderr_text: Vec::new(),
            watch: None,
            stderr_tail: Vec::new(),
            watched_seen: false,
        })
    }

    /// Looks for `text` in whatever stderr carries from now on.
    pub fn watch_stderr(&mut self, text: &str) {
        let watch = text.as_bytes().to_vec();
        self.stderr_tail.clear();
        // What came before the watch began (as far as it was kept) counts too.
        self.watched_seen = scan(&watch, &mut self.stderr_tail, &self.stderr_text);
        self.watch = Some(watch);
    }

    /// Whether the watched text came on stderr.
    pub fn watched_seen(&self) -> bool {
        self.watched_seen
    }
}

/// Looks for `watch` in `bytes`, the next piece of a stream whose end so far is `tail`
/// (kept one byte shorter than `watch`, so a match split between pieces is found).
fn scan(watch: &[u8], tail: &mut Vec<u8>, bytes: &[u8]) -> bool {
    if watch.is_empty() {
        return false;
    }
    tail.extend_from_slice(bytes);
    let seen = tail.windows(watch.len()).any(|w| w == watch);
    let keep = watch.len() - 1;
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    seen
}

impl Pipes {
    /// Until stdout's writers have all closed it.
    pub fn stdout_open(&self) -> bool {
        self.stdout.is_some()
    }

    /// Waits up to `timeout` for output, the end of a stream, or `also` (a pidfd) to
    /// become readable, then reads what there is, handing stdout's lines to `emit`.
    /// True if `also` was readable.
    pub fn wait(
        &mut self,
        timeout: Duration,
        also: Option<BorrowedFd<'_>>,
        emit: &mut dyn FnMut(Incoming),
    ) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        // What is watched, in order; a closed stream is left out.
        let (out, err) = (self.stdout.is_some(), self.stderr.is_some());
        let mut fds: Vec<PollFd> = self
            .stdout
            .iter()
            .map(|s| s.as_fd())
            .chain(self.stderr.iter().map(|s| s.as_fd()))
            .chain(also)
            .map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN))
            .collect();
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        if !matches!(poll(&mut fds, Some(&timeout)), Ok(n) if n > 0) {
            return false;
        }
        let ready: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
        let mut ready = ready.into_iter();
        if out && ready.next() == Some(true) {
            self.read_stdout(emit);
        }
        if err && ready.next() == Some(true) {
            self.read_stderr();
        }
        also.is_some() && ready.next() == Some(true)
    }

    /// Reads what stdout holds now; at its end, hands on a last unterminated line.
    fn read_stdout(&mut self, emit: &mut dyn FnMut(Incoming)) {
        let Some(stdout) = self.stdout.as_mut() else {
            return;
        };
        let mut chunk = [0u8; 8192];
        for _ in 0..READS_PER_WAKE {
            match stdout.read(&mut chunk) {
                Ok(0) => {
                    self.stdout = None;
                    self.lines.finish(emit);
                    return;
                }
                Ok(n) => self.lines.push(&chunk[..n], emit),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.stdout = None;
                    self.lines.finish(emit);
                    return;
                }
            }
        }
    }

    /// Keeps the first [`MAX_STDERR`] bytes of stderr and drains the rest.
    fn read_stderr(&mut self) {
        let Some(stderr) = self.stderr.as_mut() else {
            return;
        };
        let mut chunk = [0u8; 8192];
        for _ in 0..READS_PER_WAKE {
            match stderr.read(&mut chunk) {
                Ok(0) => {
                    self.stderr = None;
                    return;
                }
                Ok(n) => {
                    let room = MAX_STDERR.saturating_sub(self.stderr_text.len());
                    self.stderr_text.extend_from_slice(&chunk[..n.min(room)]);
                    if let Some(watch) = &self.watch {
                        if !self.watched_seen && scan(watch, &mut self.stderr_tail, &chunk[..n]) {
                            self.watched_seen = true;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.stderr = None;
                    return;
                }
            }
        }
    }

    /// Reads until stdout ends or `deadline` passes (what a killed container printed
    /// before it died).
    pub fn drain_stdout(&mut self, deadline: Instant, emit: &mut dyn FnMut(Incoming)) {
        while self.stdout.is_some() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.wait(left, None, emit);
        }
    }

    /// Stderr as collected, once it ended or `patience` ran out (a process the harness
    /// could not end may keep the pipe open). Stdout read meanwhile is dropped.
    pub fn finish_stderr(mut self, patience: Duration) -> String {
        self.drain_stderr(patience);
        String::from_utf8_lossy(&self.stderr_text).into_owned()
    }

    /// Reads stderr until it ends or `patience` runs out (what a finished process
    /// wrote last may still be in the pipe; the watched text may be in it).
    pub fn drain_stderr(&mut self, patience: Duration) {
        let deadline = Instant::now() + patience;
        while self.stderr.is_some() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.wait(left, None, &mut |_| {});
        }
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    fcntl_setfl(fd, fcntl_getfl(fd)? | OFlags::NONBLOCK)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn finds_a_watched_text_split_between_reads() {
        let mut tail = Vec::new();
        assert!(!scan(b"proof T1", &mut tail, b"noise noise pro"));
        assert!(!scan(b"proof T1", &mut tail, b"of T"));
        assert!(scan(b"proof T1", &mut tail, b"1 and more"));
        let mut tail = Vec::new();
        assert!(!scan(b"proof T1", &mut tail, &[b'x'; 100_000]));
        assert!(tail.len() < 8);
        assert!(!scan(b"", &mut tail, b"anything"));
    }

    #[test]
    fn splits_and_bounds_lines() {
        let mut input = b"one\ntwo\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend(b"\nthree");
        let got = split_all(std::io::Cursor::new(input));
        assert_eq!(got.len(), 4);
        assert!(matches!(&got[0], Incoming::Line(l) if l == "one"));
        assert!(matches!(&got[2], Incoming::Overlong(l) if l.len() == MAX_LINE));
        assert!(matches!(&got[3], Incoming::Line(l) if l == "three"));
    }

    fn spawn(script: &str) -> (std::process::Child, Pipes) {
        let mut child = Command::new("/bin/sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pipes = Pipes::new(child.stdout.take().unwrap(), child.stderr.take().unwrap()).unwrap();
        (child, pipes)
    }

    #[test]
    fn reads_both_streams_to_their_end() {
        let (mut child, mut pipes) = spawn("echo one; echo oops >&2; printf 'two'");
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pipes.stdout_open() && Instant::now() < deadline {
            pipes.wait(Duration::from_millis(100), None, &mut |l| lines.push(l));
        }
        child.wait().unwrap();
        assert!(
            matches!(&lines[..], [Incoming::Line(a), Incoming::Line(b)] if a == "one" && b == "two")
        );
        assert_eq!(pipes.finish_stderr(Duration::from_secs(5)), "oops\n");
    }

    #[test]
    fn keeps_a_bounded_start_of_stderr_and_waits_only_as_long_as_asked() {
        let (mut child, pipes) = spawn("head -c 100000 /dev/zero | tr '\\0' e >&2");
        let got = pipes.finish_stderr(Duration::from_secs(10));
        child.wait().unwrap();
        assert_eq!(got.len(), MAX_STDERR);
        // A stream that does not end: finish gives up after its patience.
        let (mut child, pipes) = spawn("exec sleep 30");
        let started = Instant::now();
        assert!(pipes.finish_stderr(Duration::from_millis(50)).is_empty());
        assert!(started.elapsed() >= Duration::from_millis(50));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
