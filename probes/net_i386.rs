//! `net.i386-socketcall`: socket and connect to the canary through the 32-bit entry
//! (`int 0x80`) and its socketcall(2) multiplexer. Seccomp sees these calls under
//! `AUDIT_ARCH_I386`, with socketcall's number (102) and a pointer to the real
//! arguments, so a profile whose socket/connect rules name only x86_64 does not apply;
//! a profile without the x86 architecture kills the process instead (SIGSYS).

use crate::ctx::{Ctx, Verdict};
use crate::net_canary::{self as net, CONNECT_TIMEOUT};
use crate::sys::Errno;
use crate::sys_i386::{self, LowMem};

/// i386 system call numbers.
const I386_WRITE: u32 = 4;
const I386_CLOSE: u32 = 6;
const I386_SOCKETCALL: u32 = 102;
/// socketcall's call numbers (`linux/net.h`).
const SYS_SOCKET: u32 = 1;
const SYS_CONNECT: u32 = 3;

/// socketcall(call, args): the arguments travel as an array of 32-bit words in memory.
fn socketcall(mem: &mut LowMem, call: u32, args: &[u32]) -> Result<u32, Errno> {
    let words: Vec<u8> = args.iter().flat_map(|a| a.to_le_bytes()).collect();
    let ptr = mem.put(&words)?;
    sys_i386::int80(I386_SOCKETCALL, [call, ptr, 0, 0, 0])
}

pub fn i386_socketcall(ctx: &Ctx) -> Verdict {
    let addr = match net::canary_addr(ctx) {
        Ok(addr) => addr,
        Err(verdict) => return verdict,
    };
    if !sys_i386::i386_available() {
        return Verdict::not_applicable(
            Some(Errno(libc::ENOSYS)),
            "this kernel does not run 32-bit (i386) system calls",
        );
    }
    let mut mem = match LowMem::new(4096) {
        Ok(mem) => mem,
        Err(errno) => {
            return Verdict::error(
                Some(errno),
                format!("cannot map memory below 4 GiB: {errno}"),
            )
        }
    };
    // Values of AF_INET/AF_INET6 and SOCK_STREAM are the same on i386.
    let family = net::family(&addr).unsigned_abs();
    let fd = match socketcall(
        &mut mem,
        SYS_SOCKET,
        &[family, libc::SOCK_STREAM.unsigned_abs(), 0],
    ) {
        Ok(fd) => fd,
        Err(errno) => return Verdict::blocked(errno, "i386 socketcall(SYS_SOCKET)"),
    };
    let verdict = connect_and_send(ctx, &mut mem, fd, &addr);
    if sys_i386::int80(I386_CLOSE, [fd, 0, 0, 0, 0]).is_err() {
        // SAFETY: fd is the socket made above, closed once (the i386 close failed).
        unsafe { libc::close(fd as libc::c_int) };
    }
    verdict
}

fn connect_and_send(ctx: &Ctx, mem: &mut LowMem, fd: u32, addr: &std::net::SocketAddr) -> Verdict {
    // A blocking connect honours SO_SNDTIMEO: a dropped SYN must not stall the suite.
    // Best effort; without it the kernel's own SYN retries still end the connect.
    let timeout = libc::timeval {
        tv_sec: CONNECT_TIMEOUT.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: `timeout` is a valid timeval alive across the call, its size passed.
    unsafe {
        libc::setsockopt(
            fd as libc::c_int,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const timeout).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let (storage, len) = net::sockaddr(addr);
    // SAFETY: `storage` is initialised for at least `len` bytes (sockaddr() wrote a
    // sockaddr_in or sockaddr_in6 of that size into zeroed storage).
    let bytes =
        unsafe { std::slice::from_raw_parts((&raw const storage).cast::<u8>(), len as usize) };
    let connected = mem
        .put(bytes)
        .and_then(|sa| socketcall(mem, SYS_CONNECT, &[fd, sa, len]));
    if let Err(errno) = connected {
        return Verdict::blocked(errno, &format!("i386 socketcall(SYS_CONNECT) to {addr}"));
    }
    let line = match net::canary_token_for(ctx, "net.i386-socketcall") {
        Ok(token) => format!("{token}\n"),
        Err(verdict) => return verdict,
    };
    let len = u32::try_from(line.len()).unwrap_or(0);
    let written = mem
        .put(line.as_bytes())
        .and_then(|buf| sys_i386::int80(I386_WRITE, [fd, buf, len, 0, 0]));
    match written {
        Ok(_) => Verdict::escaped(format!(
            "connected to {addr} through the i386 socketcall multiplexer"
        )),
        Err(errno) => Verdict::escaped(format!(
            "connected to {addr} through the i386 socketcall multiplexer, but sending the token failed: {errno}"
        )),
    }
}
