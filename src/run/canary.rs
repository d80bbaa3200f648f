//! The canary: a TCP listener and a UDP socket on the same loopback port, which the
//! network probes try to reach. A connection or datagram that delivers the run's nonce
//! and the probe's step (see `protocol::canary_token`) is witnessed egress.
//!
//! It listens on loopback only; no probe is ever given another address.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running listener; dropping it stops the thread and closes the socket.
pub struct Canary {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

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

    /// Serves sockets made by [`Canary::bind`] (possibly in another namespace).
    pub fn from_sockets(listener: TcpListener, udp: UdpSocket) -> std::io::Result<Canary> {
        listener.set_nonblocking(true)?;
        udp.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let received = Arc::clone(&received);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut datagram = [0u8; 256];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, _)) = udp.recv_from(&mut datagram) {
                        let text = String::from_utf8_lossy(&datagram[..n]).trim().to_string();
                        received.lock().expect("canary lock").push(text);
                        continue;
                    }
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                            let mut buf = Vec::new();
                            let _ = (&mut stream).take(256).read_to_end(&mut buf);
                            let text = String::from_utf8_lossy(&buf).trim().to_string();
                            received.lock().expect("canary lock").push(text);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Ok(Canary {
            addr,
            received,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits up to `patience` for a connection or datagram that delivered `token`.
    pub fn saw(&self, token: &str, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            if self
                .received
                .lock()
                .expect("canary lock")
                .iter()
                .any(|r| r == token)
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
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
    fn records_datagrams() {
        let canary = Canary::start().unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(b"n1 net.udp-send\n", canary.addr()).unwrap();
        assert!(canary.saw("n1 net.udp-send", Duration::from_secs(2)));
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
