//! The canary: a TCP listener and a UDP socket on the same loopback port, which the
//! network probes try to reach. A connection or datagram that delivers the run's nonce
//! and the probe's step (see `protocol::canary_token`) is witnessed egress.
//!
//! It listens on loopback only; no probe is ever given another address.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running listener; dropping it stops the thread and closes the socket.
pub struct Canary {
    addr: SocketAddr,
    received: Arc<(Mutex<Vec<String>>, Condvar)>,
    /// Dropping this end wakes the thread and tells it to stop.
    stop: Option<UnixStream>,
    thread: Option<JoinHandle<()>>,
}

/// At most this many receipts are kept: the probes send a handful; anything past it
/// is not ours and must not grow the harness's memory.
const MAX_RECEIPTS: usize = 1000;

impl Canary {
    /// Listens on loopback.
    pub fn start() -> std::io::Result<Canary> {
        let (listener, udp) = Canary::bind("127.0.0.1")?;
        Canary::from_sockets(listener, udp)
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
    /// thread sleeps in poll(2) until a connection, a datagram or the stop comes, and
    /// answers each datagram with its own text, so that the UDP probe learns at once
    /// that it arrived (the receipt recorded here stays the witness).
    pub fn from_sockets(listener: TcpListener, udp: UdpSocket) -> std::io::Result<Canary> {
        listener.set_nonblocking(true)?;
        udp.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let received = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (stop, stopped) = UnixStream::pair()?;
        let thread = {
            let received = Arc::clone(&received);
            std::thread::spawn(move || serve(&listener, &udp, &stopped, &received))
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
            if seen.iter().any(|r| r == token) {
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

fn serve(
    listener: &TcpListener,
    udp: &UdpSocket,
    stopped: &UnixStream,
    received: &(Mutex<Vec<String>>, Condvar),
) {
    let record = |text: String| {
        let (lock, arrived) = received;
        let mut seen = lock.lock().expect("canary lock");
        if seen.len() < MAX_RECEIPTS {
            seen.push(text);
        }
        arrived.notify_all();
    };
    let mut fds =
        [listener.as_raw_fd(), udp.as_raw_fd(), stopped.as_raw_fd()].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
    loop {
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[2].revents != 0 {
            return;
        }
        let mut datagram = [0u8; 256];
        while let Ok((n, from)) = udp.recv_from(&mut datagram) {
            let text = String::from_utf8_lossy(&datagram[..n]).trim().to_string();
            // The answer goes back where the datagram came from: loopback or a
            // namespace this run made. Its failure changes nothing here.
            let _ = udp.send_to(&datagram[..n], from);
            record(text);
        }
        while let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut buf = Vec::new();
            let _ = (&mut stream).take(256).read_to_end(&mut buf);
            record(String::from_utf8_lossy(&buf).trim().to_string());
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
    use std::net::TcpStream;

    #[test]
    fn records_and_answers_datagrams() {
        let canary = Canary::start().unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(b"n1 net.udp-send\n", canary.addr()).unwrap();
        assert!(canary.saw("n1 net.udp-send", Duration::from_secs(2)));
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut answer = [0u8; 64];
        let (n, from) = s.recv_from(&mut answer).unwrap();
        assert_eq!(from, canary.addr());
        assert_eq!(&answer[..n], b"n1 net.udp-send\n");
    }

    #[test]
    fn stops_at_once_when_dropped() {
        let canary = Canary::start().unwrap();
        let started = Instant::now();
        drop(canary);
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn records_the_nonce() {
        let canary = Canary::start().unwrap();
        assert!(canary.addr().ip().is_loopback());
        assert!(!canary.saw("n1", Duration::from_millis(20)));
        let mut s = TcpStream::connect(canary.addr()).unwrap();
        s.write_all(b"n1\n").unwrap();
        drop(s);
        assert!(canary.saw("n1", Duration::from_secs(2)));
        assert!(!canary.saw("n2", Duration::from_millis(20)));
    }
}
