//! `net.*` probes: reach the harness's canary listener, and nothing else. The socket
//! probes (raw, packet, vsock) only create a socket and close it; the io_uring and i386
//! routes to the canary live in [`net_uring`] and [`net_i386`].

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use std::os::fd::{AsFd, AsRawFd};

use breakout_wire::catalog::ProbeId;
use breakout_wire::routes::Route;

use crate::attempts::{self, Tried};
use crate::ctx::{Ctx, Verdict};
use crate::net_canary::{canary_addr, canary_token_for, CONNECT_TIMEOUT};
use crate::net_send;
use crate::sys::Errno;

/// The token to the canary over TCP: `connect` then `write`, or, where that is stopped,
/// `sendmsg` with `MSG_FASTOPEN`, which connects and sends without `connect(2)`. The
/// canary seeing the token is the witness; the harness waits for it.
pub fn tcp_connect(ctx: &Ctx) -> Verdict {
    let addr = match canary_addr(ctx) {
        Ok(addr) => addr,
        Err(verdict) => return verdict,
    };
    let token = match canary_token_for(ctx, "net.tcp-connect") {
        Ok(token) => token,
        Err(verdict) => return verdict,
    };
    let routes = attempts::of(ProbeId::NetTcpConnect);
    let line = format!("{token}\n");
    let first = match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        // A filter can fake connect's success (errnoRet 0): the kernel then knows of
        // no peer.
        Ok(stream) if stream.peer_addr().is_err() => Tried::Stopped {
            mechanism: attempts::FAKE_SUCCESS.to_string(),
            detail: format!("connect to {addr} returned success, but the socket has no peer"),
        },
        Ok(mut stream) => {
            let sent = stream
                .write_all(line.as_bytes())
                .and_then(|()| stream.shutdown(Shutdown::Both));
            return attempts::verdict(vec![(
                &routes[0],
                Tried::Through(match sent {
                    Ok(()) => format!("connected to {addr}, sent the token"),
                    Err(err) => format!("connected to {addr}, but sending the token failed: {err}"),
                }),
            )]);
        }
        Err(err) => match Errno::from_io(&err) {
            Some(errno) => Tried::stopped(errno, &format!("connecting to {addr}")),
            None => Tried::Unclear(format!("connecting to {addr}: {err}")),
        },
    };
    let second = fast_open(&addr, line.as_bytes());
    attempts::verdict(vec![(&routes[0], first), (&routes[1], second)])
}

/// TCP Fast Open: `sendmsg(MSG_FASTOPEN)` to the canary on a fresh socket. EOPNOTSUPP
/// is a network namespace whose `net.ipv4.tcp_fastopen` leaves the client side off.
fn fast_open(addr: &SocketAddr, line: &[u8]) -> Tried {
    let what = format!("sendmsg(MSG_FASTOPEN) to {addr}");
    let fd = match net_send::tcp_socket(addr) {
        Ok(fd) => fd,
        Err(errno) => return Tried::stopped(errno, "socket(AF_INET, SOCK_STREAM)"),
    };
    match net_send::sendmsg_to(&fd, addr, line, libc::MSG_FASTOPEN) {
        Ok(n) => {
            // SAFETY: fd is a valid socket; shutdown only ends the stream.
            unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR) };
            Tried::Through(format!("connected and sent {n} bytes in one call"))
        }
        Err(errno @ Errno(libc::EOPNOTSUPP)) => Tried::Absent(format!(
            "{what}: {errno} (TCP Fast Open is off for clients here)"
        )),
        Err(errno) => Tried::stopped(errno, &what),
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
    let mut route = None;
    let mut verdict = udp_send_by_route(ctx, &mut route);
    verdict.route = verdict.route.or(route);
    verdict
}

/// `sendto`, else `sendmsg`, else `sendmmsg`: the first route that sends, and its size.
fn send_datagram(
    socket: &UdpSocket,
    addr: &SocketAddr,
    line: &[u8],
) -> Result<(usize, &'static Route), Verdict> {
    let routes = attempts::of(ProbeId::NetUdpSend);
    let what = |call: &str| format!("{call} to {addr}");
    let first = match socket.send_to(line, addr) {
        Ok(n) => return Ok((n, &routes[0])),
        Err(err) => match Errno::from_io(&err) {
            Some(errno) => Tried::stopped(errno, &what("sendto")),
            None => Tried::Unclear(format!("{}: {err}", what("sendto"))),
        },
    };
    let fd = socket.as_fd().try_clone_to_owned();
    let Ok(fd) = fd else {
        return Err(attempts::verdict(vec![(&routes[0], first)]));
    };
    let second = match net_send::sendmsg_to(&fd, addr, line, 0) {
        Ok(n) => return Ok((n, &routes[1])),
        Err(errno) => Tried::stopped(errno, &what("sendmsg")),
    };
    let third = match net_send::sendmmsg_to(&fd, addr, line) {
        Ok(n) => return Ok((n, &routes[2])),
        Err(errno) => Tried::stopped(errno, &what("sendmmsg")),
    };
    Err(attempts::verdict(vec![
        (&routes[0], first),
        (&routes[1], second),
        (&routes[2], third),
    ]))
}

fn udp_send_by_route(ctx: &Ctx, chosen: &mut Option<&'static str>) -> Verdict {
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
    let (n, route) = match send_datagram(&socket, &addr, format!("{token}\n").as_bytes()) {
        Ok(sent) => sent,
        Err(verdict) => return verdict,
    };
    *chosen = Some(route.name);
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
