//! The canary: a TCP listener and a UDP socket on the same loopback port, which the
//! network probes try to reach. A connection or datagram that delivers one of the run's
//! canary tokens (see `protocol::canary_token`: made from the run's key, so no one else
//! can make one) is witnessed egress.
//!
//! It listens on loopback only; no probe is ever given another address. With
//! `--network host` that is the host's loopback, where every local user can reach it,
//! so it trusts nothing it receives: only the tokens it was told to expect are recorded
//! (junk cannot crowd them out or pass for them), only they get an answer, and
//! connections are served side by side, each for at most [`CONNECTION_TIME`], at most
//! [`MAX_CONNECTIONS`] at once: an idle connection holds up neither the probes' nor
//! the end of the run.

use std::collections::HashSet;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running listener; dropping it stops the thread and closes the socket.
pub struct Canary {
    addr: SocketAddr,
    received: Arc<(Mutex<HashSet<String>>, Condvar)>,
    /// Dropping this end wakes the thread and tells it to stop.
    stop: Option<UnixStream>,
    thread: Option<JoinHandle<()>>,
}

/// Connections served at once; past it the oldest is dropped for the newest.
pub const MAX_CONNECTIONS: usize = 32;
/// How long one connection may take to deliver its token.
pub const CONNECTION_TIME: Duration = Duration::from_secs(1);
/// The longest token line read from a connection or datagram.
const MAX_TOKEN_LINE: usize = 256;

impl Canary {
    /// Listens on loopback for `expected` tokens.
    pub fn start(expected: HashSet<String>) -> std::io::Result<Canary> {
        let (listener, udp) = Canary::bind("127.0.0.1")?;
        Canary::from_sockets(listener, udp, expected)
    }

    /// Binds TCP and UDP on one port of `ip`, in the calling thread's network namespace.
    pub fn bind(ip: &str) -> std::io::Result<(TcpListener, UdpSocket)> {
        // The UDP port is bound to match the TCP one; another process may hold it, so
        // try a few ports before giving up.
        for _ in 0..16 {
            let listener = TcpListener::bind((ip, 0))?;
            if let Ok(udp) = UdpSocket::bind(listener.local_addr()?) {
                return Ok((listener, udp));
            }
        }
        Err(std::io::Error::other("no port free for both TCP and UDP"))
    }

    /// Serves sockets made by [`Canary::bind`] (possibly in another namespace). The
    /// thread sleeps in poll(2) until a connection, data, a datagram or the stop comes,
    /// and answers each expected datagram with its own text, so that the UDP probe
    /// learns at once that it arrived (the receipt recorded here stays the witness).
    pub fn from_sockets(
        listener: TcpListener,
        udp: UdpSocket,
        expected: HashSet<String>,
    ) -> std::io::Result<Canary> {
        listener.set_nonblocking(true)?;
        udp.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let received = Arc::new((Mutex::new(HashSet::new()), Condvar::new()));
        let (stop, stopped) = UnixStream::pair()?;
        let thread = {
            let received = Arc::clone(&received);
            std::thread::spawn(move || {
                Server {
                    listener: &listener,
                    udp: &udp,
                    stopped: &stopped,
                    received: &received,
                    expected: &expected,
                    connections: Vec::new(),
                }
                .serve()
            })
        };
        Ok(Canary {
            addr,
            received,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits up to `patience` for a connection or datagram that delivered `token`.
    pub fn saw(&self, token: &str, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        let (lock, arrived) = &*self.received;
        let mut seen = lock.lock().expect("canary lock");
        loop {
            if seen.contains(token) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            seen = arrived.wait_timeout(seen, left).expect("canary lock").0;
        }
    }
}

/// One connection being read.
struct Connection {
    stream: TcpStream,
    data: Vec<u8>,
    until: Instant,
}

struct Server<'a> {
    listener: &'a TcpListener,
    udp: &'a UdpSocket,
    stopped: &'a UnixStream,
    received: &'a (Mutex<HashSet<String>>, Condvar),
    expected: &'a HashSet<String>,
    connections: Vec<Connection>,
}

impl Server<'_> {
    /// Records `text` if it is an expected token; whether it was.
    fn record(&self, text: &[u8]) -> bool {
        let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
        let Ok(token) = std::str::from_utf8(line) else {
            return false;
        };
        let token = token.trim();
        if !self.expected.contains(token) {
            return false;
        }
        let (lock, arrived) = self.received;
        lock.lock().expect("canary lock").insert(token.to_string());
        arrived.notify_all();
        true
    }

    fn serve(mut self) {
        loop {
            use rustix::event::{poll, PollFd, PollFlags, Timespec};
            let stop = {
                let mut fds: Vec<PollFd> = [
                    self.listener.as_fd(),
                    self.udp.as_fd(),
                    self.stopped.as_fd(),
                ]
                .into_iter()
                .chain(self.connections.iter().map(|c| c.stream.as_fd()))
                .map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN))
                .collect();
                // Until the first connection's time is up, or without end.
                let wait = self
                    .connections
                    .iter()
                    .map(|c| c.until.saturating_duration_since(Instant::now()))
                    .min()
                    .map(|d| Timespec::try_from(d + Duration::from_millis(1)))
                    .transpose()
                    .unwrap_or(None);
                match poll(&mut fds, wait.as_ref()) {
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => return,
                    Ok(_) => !fds[2].revents().is_empty(),
                }
            };
            if stop {
                return;
            }
            let mut datagram = [0u8; MAX_TOKEN_LINE];
            while let Ok((n, from)) = self.udp.recv_from(&mut datagram) {
                // Only an expected token is answered: the answer goes back where it
                // came from (loopback, or a namespace this run made) and tells the probe
                // it arrived; junk gets nothing, so the canary reflects nothing.
                if self.record(&datagram[..n]) {
                    let _ = self.udp.send_to(&datagram[..n], from);
                }
            }
            while let Ok((stream, _)) = self.listener.accept() {
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                if self.connections.len() >= MAX_CONNECTIONS {
                    self.connections.remove(0);
                }
                self.connections.push(Connection {
                    stream,
                    data: Vec::new(),
                    until: Instant::now() + CONNECTION_TIME,
                });
            }
            // Every connection is read as far as it goes now; one that is complete
            // (a line, its end, the bound) or out of time is judged and closed.
            let now = Instant::now();
            let mut open = std::mem::take(&mut self.connections);
            open.retain_mut(|c| {
                let finished = read_some(c);
                if finished || now >= c.until {
                    self.record(&c.data);
                    false
                } else {
                    true
                }
            });
            self.connections = open;
        }
    }
}

/// Reads what a connection has without blocking; whether it is complete.
fn read_some(c: &mut Connection) -> bool {
    let mut chunk = [0u8; MAX_TOKEN_LINE];
    loop {
        let room = MAX_TOKEN_LINE - c.data.len();
        match c.stream.read(&mut chunk[..room.max(1)]) {
            Ok(0) => return true,
            Ok(n) => {
                c.data.extend_from_slice(&chunk[..n.min(room)]);
                if c.data.contains(&b'\n') || c.data.len() >= MAX_TOKEN_LINE {
                    return true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        // Closing our end makes the thread's end readable (EOF): it returns.
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn expecting(tokens: &[&str]) -> Canary {
        Canary::start(tokens.iter().map(|t| t.to_string()).collect()).unwrap()
    }

    #[test]
    fn records_and_answers_expected_datagrams_only() {
        let canary = expecting(&["t-udp"]);
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut answer = [0u8; 64];
        // Junk first, lots of it: no answer, no receipt, no room taken.
        for i in 0..2000 {
            s.send_to(format!("junk {i}\n").as_bytes(), canary.addr())
                .unwrap();
        }
        assert!(!canary.saw("junk 1", Duration::from_millis(50)));
        s.send_to(b"t-udp\n", canary.addr()).unwrap();
        assert!(canary.saw("t-udp", Duration::from_secs(2)));
        let (n, from) = s.recv_from(&mut answer).unwrap();
        assert_eq!(from, canary.addr());
        assert_eq!(&answer[..n], b"t-udp\n");
        assert!(s.recv_from(&mut answer).is_err(), "junk was answered");
    }

    #[test]
    fn stops_at_once_when_dropped_even_with_idle_connections() {
        let canary = expecting(&["t"]);
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS + 8)
            .map(|_| TcpStream::connect(canary.addr()).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        drop(canary);
        assert!(started.elapsed() < Duration::from_millis(500));
        drop(idle);
    }

    #[test]
    fn idle_connections_do_not_hold_up_a_token() {
        let canary = expecting(&["t-tcp"]);
        assert!(canary.addr().ip().is_loopback());
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS * 2)
            .map(|_| TcpStream::connect(canary.addr()).unwrap())
            .collect();
        let started = Instant::now();
        let mut s = TcpStream::connect(canary.addr()).unwrap();
        s.write_all(b"t-tcp\n").unwrap();
        assert!(canary.saw("t-tcp", Duration::from_secs(2)));
        assert!(started.elapsed() < Duration::from_millis(500));
        let mut junk = TcpStream::connect(canary.addr()).unwrap();
        junk.write_all(b"not-a-token\n").unwrap();
        drop(junk);
        assert!(!canary.saw("not-a-token", Duration::from_millis(100)));
        drop(idle);
    }
}
