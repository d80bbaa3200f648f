//! `net.*` probes: reach the harness's canary listener, and nothing else. The socket
//! probes (raw, packet, vsock) only create a socket and close it; the io_uring and i386
//! routes to the canary live in [`net_uring`] and [`net_i386`].

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use crate::ctx::{Ctx, Verdict};
use crate::net_canary::{canary_addr, canary_token_for, CONNECT_TIMEOUT};
use crate::sys::{self, Errno};

pub fn tcp_connect(ctx: &Ctx) -> Verdict {
    let addr = match canary_addr(ctx) {
        Ok(addr) => addr,
        Err(verdict) => return verdict,
    };
    let token = match canary_token_for(ctx, "net.tcp-connect") {
        Ok(token) => token,
        Err(verdict) => return verdict,
    };
    let mut stream = match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(stream) => stream,
        Err(err) => {
            let what = format!("connecting to {addr}");
            return match Errno::from_io(&err) {
                Some(errno) => Verdict::blocked(errno, &what),
                None => Verdict::error(None, format!("{what}: {err}")),
            };
        }
    };
    // The canary seeing the token is the witness; the connection alone already escaped.
    let sent = stream
        .write_all(format!("{token}\n").as_bytes())
        .and_then(|()| stream.shutdown(Shutdown::Both));
    match sent {
        Ok(()) => Verdict::escaped(format!("connected to {addr}")),
        Err(err) => Verdict::escaped(format!(
            "connected to {addr}, but sending the token failed: {err}"
        )),
    }
}

/// How long the UDP probe listens for the canary's answer or an ICMP error after its
/// datagram; only a datagram that meets neither (dropped on the way) waits this long.
pub const UDP_ANSWER_WAIT: Duration = Duration::from_millis(500);

/// A datagram to the canary. The send succeeding proves nothing by itself (UDP sends
/// succeed into the void), so the probe listens for what comes back: the canary
/// answers every datagram with the same token, and with IP_RECVERR an ICMP error (a
/// closed port in the container's own namespace: no route to the canary) comes back
/// as an error on the socket. An answer is escaped (the harness still asks the canary,
/// which is the witness); an ICMP error is blocked; neither within the wait is escaped
/// as far as the probe can tell, and the harness turns that into blocked
/// "not-received" unless the canary got the token.
pub fn udp_send(ctx: &Ctx) -> Verdict {
    let addr = match canary_addr(ctx) {
        Ok(addr) => addr,
        Err(verdict) => return verdict,
    };
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let token = match canary_token_for(ctx, "net.udp-send") {
        Ok(token) => token,
        Err(verdict) => return verdict,
    };
    let socket = match UdpSocket::bind(local) {
        Ok(socket) => socket,
        Err(err) => return send_failed("creating a UDP socket", addr, &err),
    };
    // Without it (a kernel or sandbox that refuses the option) only the answer or the
    // wait tells; the send is the same.
    let recverr = ask_for_icmp_errors(&socket, &addr);
    let n = match socket.send_to(format!("{token}\n").as_bytes(), addr) {
        Ok(n) => n,
        Err(err) => return send_failed("sending a datagram", addr, &err),
    };
    let sent = format!("sent a {n}-byte datagram to {addr}");
    if socket.set_read_timeout(Some(UDP_ANSWER_WAIT)).is_err() {
        // The harness counts on the datagram having had this long to arrive.
        std::thread::sleep(UDP_ANSWER_WAIT);
        return Verdict::escaped(format!("{sent}; could not listen for an answer"));
    }
    let mut answer = [0u8; 256];
    match socket.recv_from(&mut answer) {
        Ok((got, from)) if from == addr && answer[..got].trim_ascii() == token.as_bytes() => {
            Verdict::escaped(format!("{sent}; the canary answered"))
        }
        Ok((_, from)) => Verdict::escaped(format!("{sent}; an unexpected answer came from {from}")),
        Err(err) => match Errno::from_io(&err) {
            // Errors an ICMP message reports: the datagram met a host or a router that
            // could not deliver it, so it never reached the canary.
            Some(errno)
                if recverr
                    && matches!(
                        errno.0,
                        libc::ECONNREFUSED
                            | libc::EHOSTUNREACH
                            | libc::ENETUNREACH
                            | libc::EHOSTDOWN
                            | libc::ENONET
                            | libc::EPROTO
                    ) =>
            {
                Verdict::blocked(
                    errno,
                    &format!("{sent}, and it came back undelivered (ICMP)"),
                )
            }
            _ => Verdict::escaped(format!(
                "{sent}; no answer and no error within {} ms",
                UDP_ANSWER_WAIT.as_millis()
            )),
        },
    }
}

fn send_failed(what: &str, addr: SocketAddr, err: &std::io::Error) -> Verdict {
    match Errno::from_io(err) {
        Some(errno) => Verdict::blocked(errno, &format!("{what} to {addr}")),
        None => Verdict::error(None, format!("{what} to {addr}: {err}")),
    }
}

/// IP_RECVERR (IPV6_RECVERR): ICMP errors reach an unconnected UDP socket as errors on
/// its next receive. True if the option took.
fn ask_for_icmp_errors(socket: &UdpSocket, addr: &SocketAddr) -> bool {
    use std::os::fd::AsRawFd;
    let (level, name) = match addr {
        SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_RECVERR),
        SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_RECVERR),
    };
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and a pointer to a c_int of the given size.
    let ret = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    ret == 0
}

/// Creates a socket and closes it at once: nothing is bound, connected or sent.
fn socket_only(family: libc::c_int, kind: libc::c_int, protocol: libc::c_int) -> Result<(), Errno> {
    // SAFETY: socket takes three plain integers.
    let fd = sys::cvt(libc::c_long::from(unsafe {
        libc::socket(family, kind | libc::SOCK_CLOEXEC, protocol)
    }))?;
    // SAFETY: fd was just created by us and is closed once.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(())
}

pub fn raw_socket(_: &Ctx) -> Verdict {
    match socket_only(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) {
        Ok(()) => Verdict::escaped("created an AF_INET SOCK_RAW (ICMP) socket; sent nothing"),
        Err(errno) => Verdict::blocked(errno, "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)"),
    }
}

pub fn packet_socket(_: &Ctx) -> Verdict {
    match socket_only(libc::AF_PACKET, libc::SOCK_RAW, 0) {
        Ok(()) => Verdict::escaped("created an AF_PACKET SOCK_RAW socket; sent nothing"),
        Err(errno) => Verdict::blocked(errno, "socket(AF_PACKET, SOCK_RAW, 0)"),
    }
}

/// Only the socket: a connect would go to CID 2, the host outside a VM, which is
/// nothing a probe may reach.
pub fn vsock(_: &Ctx) -> Verdict {
    match socket_only(libc::AF_VSOCK, libc::SOCK_STREAM, 0) {
        Ok(()) => Verdict::escaped("created an AF_VSOCK socket; connected nowhere"),
        Err(errno @ Errno(libc::EAFNOSUPPORT)) => {
            Verdict::not_applicable(Some(errno), "no vsock in this kernel")
        }
        Err(errno) => Verdict::blocked(errno, "socket(AF_VSOCK, SOCK_STREAM, 0)"),
    }
}
