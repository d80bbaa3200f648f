//! The traced command's stdout and stderr, read with poll(2) as they come by the
//! caller's thread while the tracer thread waits for stops: the last [`TAIL_BYTES`] of
//! each are kept, and no read can block.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use rustix::event::{PollFd, PollFlags};

/// Bytes kept of each stream: the end of the output, where a failure says why.
pub const TAIL_BYTES: usize = 64 * 1024;

/// The end of a stream: its last [`TAIL_BYTES`] bytes, and how many came before them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail {
    pub bytes: Vec<u8>,
    /// Bytes of the stream before `bytes`, read and dropped.
    pub dropped: u64,
}

impl Tail {
    /// Appends, trimming the front once there is twice the bound (so the trim is paid
    /// once per [`TAIL_BYTES`] read, not per read).
    pub(super) fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > 2 * TAIL_BYTES {
            self.trim();
        }
    }

    pub(super) fn trim(&mut self) {
        let excess = self.bytes.len().saturating_sub(TAIL_BYTES);
        if excess > 0 {
            self.bytes.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    /// The bytes as text, invalid UTF-8 replaced. Untrusted: the container wrote them.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// One pipe from the command, non-blocking, until its end.
pub(super) struct Pipe {
    fd: Option<OwnedFd>,
    pub tail: Tail,
}

impl Pipe {
    pub(super) fn new(fd: OwnedFd) -> Pipe {
        let flags = rustix::fs::fcntl_getfl(&fd).unwrap_or(rustix::fs::OFlags::empty());
        // Without O_NONBLOCK a read could wait for output; polled first, it should
        // not, and this makes sure.
        let _ = rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK);
        Pipe {
            fd: Some(fd),
            tail: Tail::default(),
        }
    }

    /// Reads what is there now, a bounded number of times so that a flood cannot keep
    /// the caller from its deadline; closes the pipe at its end or on an error.
    fn read_available(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        for _ in 0..16 {
            let Some(fd) = &self.fd else { return };
            match rustix::io::read(fd, &mut chunk) {
                Ok(0) => self.fd = None,
                Ok(n) => self.tail.push(&chunk[..n]),
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => return,
                Err(_) => self.fd = None,
            }
        }
    }
}

/// Reads the open pipes as they fill until `wake` becomes readable or hangs up (it
/// returns true then), or `until` passes, or (without `wake`) every pipe has ended
/// (false).
pub(super) fn pump(pipes: &mut [&mut Pipe], wake: Option<BorrowedFd<'_>>, until: Instant) -> bool {
    loop {
        let now = Instant::now();
        let timeout = until.saturating_duration_since(now);
        let timeout = rustix::event::Timespec::try_from(timeout).ok();
        let (woken, readable) = {
            let mut fds: Vec<PollFd<'_>> = pipes
                .iter()
                .filter_map(|p| p.fd.as_ref())
                .map(|fd| PollFd::new(fd, PollFlags::IN))
                .collect();
            let n_pipes = fds.len();
            if let Some(wake) = &wake {
                fds.push(PollFd::from_borrowed_fd(wake.as_fd(), PollFlags::IN));
            }
            // Nothing to wait for: every pipe has ended and nothing can wake us.
            if fds.is_empty() {
                return false;
            }
            let _ = rustix::event::poll(&mut fds, timeout.as_ref());
            let woken = fds[n_pipes..].iter().any(|f| !f.revents().is_empty());
            (
                woken,
                fds[..n_pipes].iter().any(|f| !f.revents().is_empty()),
            )
        };
        if readable || woken || Instant::now() >= until {
            for pipe in pipes.iter_mut() {
                pipe.read_available();
            }
        }
        if woken {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
    }
}
