//! `net.io-uring-connect`: a TCP connect to the canary submitted as `IORING_OP_CONNECT`.
//! The kernel performs the connect inside io_uring, so no connect(2) system call is
//! made and a profile that filters connect alone never sees it. The socket itself is
//! made with socket(2), as io_uring offers no portable way around that before 5.19.

use std::net::SocketAddr;

use io_uring::{opcode, squeue, types, IoUring};

use crate::ctx::{Ctx, Verdict};
use crate::net_canary::{self as net, CONNECT_TIMEOUT};
use crate::sys::{self, Errno};

const CONNECT: u64 = 1;
const TIMEOUT: u64 = 2;

/// A socket descriptor closed on drop.
struct Socket(libc::c_int);

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once, here.
        unsafe { libc::close(self.0) };
    }
}

fn errno_of(err: &std::io::Error) -> Errno {
    Errno::from_io(err).unwrap_or(Errno(libc::EIO))
}

pub fn io_uring_connect(ctx: &Ctx) -> Verdict {
    let addr = match net::canary_addr(ctx) {
        Ok(addr) => addr,
        Err(verdict) => return verdict,
    };
    let mut ring = match IoUring::new(4) {
        Ok(ring) => ring,
        Err(err) => return Verdict::blocked(errno_of(&err), "io_uring_setup"),
    };
    // SAFETY: socket takes three plain integers.
    let fd = sys::cvt(libc::c_long::from(unsafe {
        libc::socket(
            net::family(&addr),
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        )
    }));
    let socket = match fd {
        Ok(fd) => Socket(fd as libc::c_int),
        Err(errno) => return Verdict::blocked(errno, "socket(2) for the ring's connect"),
    };
    match connect(&mut ring, &socket, &addr) {
        Ok(()) => {}
        Err((errno, what)) => return Verdict::blocked(errno, &what),
    }
    let line = match net::canary_token_for(ctx, "net.io-uring-connect") {
        Ok(token) => format!("{token}\n"),
        Err(verdict) => return verdict,
    };
    // SAFETY: the buffer is valid for its length across the call and the fd is open.
    let written = sys::cvt(unsafe {
        libc::write(socket.0, line.as_ptr().cast(), line.len()) as libc::c_long
    });
    // SAFETY: a plain shutdown of our own socket, so the canary reads to the end at once.
    unsafe { libc::shutdown(socket.0, libc::SHUT_RDWR) };
    match written {
        Ok(_) => Verdict::escaped(format!("connected to {addr} through IORING_OP_CONNECT")),
        Err(errno) => Verdict::escaped(format!(
            "connected to {addr} through IORING_OP_CONNECT, but sending the token failed: {errno}"
        )),
    }
}

/// Submits the connect with a linked timeout, so a dropped SYN cannot stall the suite,
/// and waits for both completions.
fn connect(ring: &mut IoUring, socket: &Socket, addr: &SocketAddr) -> Result<(), (Errno, String)> {
    let (storage, len) = net::sockaddr(addr);
    let timespec = types::Timespec::new()
        .sec(CONNECT_TIMEOUT.as_secs())
        .nsec(CONNECT_TIMEOUT.subsec_nanos());
    let connect = opcode::Connect::new(types::Fd(socket.0), (&raw const storage).cast(), len)
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(CONNECT);
    let timeout = opcode::LinkTimeout::new(&raw const timespec)
        .build()
        .user_data(TIMEOUT);
    // SAFETY: the entries point at `storage` and `timespec`, which outlive every use:
    // the kernel copies the address (connect prep) and the timespec (timeout prep) when
    // it takes the entries in io_uring_enter below, and this function returns only after
    // that or after a failed enter, when the kernel never read them.
    let pushed = unsafe { ring.submission().push_multiple(&[connect, timeout]) };
    if pushed.is_err() {
        return Err((
            Errno(libc::EBUSY),
            "the submission queue is full".to_string(),
        ));
    }
    let mut result = None;
    let mut seen = 0;
    while seen < 2 {
        match ring.submit_and_wait(2 - seen) {
            Ok(_) => {}
            Err(err) if err.raw_os_error() == Some(libc::EINTR) => continue,
            Err(err) => return Err((errno_of(&err), "io_uring_enter".to_string())),
        }
        for cqe in ring.completion() {
            seen += 1;
            if cqe.user_data() == CONNECT {
                result = Some(cqe.result());
            }
        }
    }
    match result {
        Some(res) if res >= 0 => Ok(()),
        Some(res) if res == -libc::ECANCELED => Err((
            Errno(libc::ETIMEDOUT),
            format!("IORING_OP_CONNECT to {addr}: no answer within {CONNECT_TIMEOUT:?}"),
        )),
        Some(res) => Err((Errno(-res), format!("IORING_OP_CONNECT to {addr}"))),
        None => Err((Errno(libc::EIO), "the connect never completed".to_string())),
    }
}
