//! The sending calls besides `connect`+`write` and `sendto` that carry data to an
//! address: `sendmsg` (for TCP with `MSG_FASTOPEN`, which connects and sends in one
//! call) and `sendmmsg`. A profile that denies `connect` and `sendto` but not these has
//! not closed the network (see the routes of `net.tcp-connect` and `net.udp-send`).

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::net_canary::{sockaddr, CONNECT_TIMEOUT};
use crate::sys::{self, Errno};

/// A message to `addr` with one buffer, as sendmsg and sendmmsg take it. The pointers
/// in it point into `addr`/`iov`, which the caller keeps alive across the call.
fn message(
    addr: &mut libc::sockaddr_storage,
    len: libc::socklen_t,
    iov: &mut libc::iovec,
) -> libc::msghdr {
    // SAFETY: msghdr is plain old data for which all zeroes is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (addr as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = len;
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg
}

/// `sendmsg(fd, {addr, data}, flags)`; the number of bytes sent.
pub fn sendmsg_to(
    fd: &OwnedFd,
    addr: &SocketAddr,
    data: &[u8],
    flags: i32,
) -> Result<usize, Errno> {
    let (mut storage, len) = sockaddr(addr);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let msg = message(&mut storage, len, &mut iov);
    // SAFETY: msg points at storage and iov, both alive across the call; the kernel
    // only reads the data.
    let sent = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, flags) };
    sys::cvt(sent as libc::c_long).map(|n| n as usize)
}

/// `sendmmsg(fd, [{addr, data}], 1, 0)`; the number of bytes of the one message sent.
pub fn sendmmsg_to(fd: &OwnedFd, addr: &SocketAddr, data: &[u8]) -> Result<usize, Errno> {
    let (mut storage, len) = sockaddr(addr);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut msgs = [libc::mmsghdr {
        msg_hdr: message(&mut storage, len, &mut iov),
        msg_len: 0,
    }];
    // SAFETY: msgs (and what its header points at) is alive across the call; the kernel
    // writes only msg_len.
    let sent = unsafe { libc::sendmmsg(fd.as_raw_fd(), msgs.as_mut_ptr(), 1, 0) };
    match sys::cvt(libc::c_long::from(sent))? {
        1 => Ok(msgs[0].msg_len as usize),
        _ => Err(Errno(libc::EIO)),
    }
}

/// A TCP stream socket for `addr`, close-on-exec, whose connect and sends give up
/// after [`CONNECT_TIMEOUT`].
pub fn tcp_socket(addr: &SocketAddr) -> Result<OwnedFd, Errno> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket takes three plain integers.
    let fd = sys::cvt(libc::c_long::from(unsafe {
        libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
    }))?;
    // SAFETY: fd was just created and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    let timeout = libc::timeval {
        tv_sec: CONNECT_TIMEOUT.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    // Best effort, as for the i386 route: without it the kernel's SYN retries still end
    // the attempt.
    // SAFETY: a valid socket, and a timeval of the size passed, alive across the call.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const timeout).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    Ok(fd)
}
