//! The socket-family probes (`net.raw-socket`, `net.packet-socket`, `net.vsock`): create
//! a socket of the family and close it, by every route a filter has to cover: the
//! x86_64 `socket`, the i386 `socket` and `socketcall(SYS_SOCKET)` (whose arguments sit
//! in memory, where an argument rule cannot look), and the x32 `socket`.
//!
//! Last, the socket is asked of io_uring (`IORING_OP_SOCKET`, Linux 5.19): the kernel
//! makes it inside the ring, and no socket system call is made at all.
//!
//! A descriptor proves nothing by itself (a filter can return 0, which is stdin): a
//! route gets through only when the kernel says the descriptor is a socket of the family
//! (`SO_DOMAIN`).

use breakout_wire::catalog::ProbeId;
use io_uring::{opcode, IoUring};

use crate::attempts::{self, Came, Tried};
use crate::ctx::{Ctx, Verdict};
use crate::sys::{self, Errno};
use crate::sys_i386::{self, LowMem};

/// i386 numbers: `socket` (since Linux 4.3) and the multiplexer.
const I386_SOCKET: u32 = 359;
const I386_SOCKETCALL: u32 = 102;
const SYS_SOCKET: u32 = 1;
/// `__X32_SYSCALL_BIT`.
const X32_BIT: libc::c_long = 0x4000_0000;

#[derive(Clone, Copy)]
struct Family {
    domain: libc::c_int,
    kind: libc::c_int,
    protocol: libc::c_int,
}

pub fn raw_socket(_: &Ctx) -> Verdict {
    let family = Family {
        domain: libc::AF_INET,
        kind: libc::SOCK_RAW,
        protocol: libc::IPPROTO_ICMP,
    };
    every_route(ProbeId::NetRawSocket, family, "sent nothing")
}

pub fn packet_socket(_: &Ctx) -> Verdict {
    let family = Family {
        domain: libc::AF_PACKET,
        kind: libc::SOCK_RAW,
        protocol: 0,
    };
    every_route(ProbeId::NetPacketSocket, family, "sent nothing")
}

/// Only the socket: a connect would go to CID 2, the host outside a VM, which is
/// nothing a probe may reach.
pub fn vsock(_: &Ctx) -> Verdict {
    let family = Family {
        domain: libc::AF_VSOCK,
        kind: libc::SOCK_STREAM,
        protocol: 0,
    };
    every_route(ProbeId::NetVsock, family, "connected nowhere")
}

/// The routes in catalog order: x86_64 in the runner, the others in a child each.
fn every_route(id: ProbeId, family: Family, after: &str) -> Verdict {
    attempts::try_in_order(
        id,
        &[
            &|| native(family, after),
            &|| i386(family, "i386 socket", |mem| i386_socket(mem, family)),
            &|| {
                i386(family, "i386 socketcall(SYS_SOCKET)", |mem| {
                    i386_socketcall(mem, family)
                })
            },
            &|| x32(family),
            &|| uring(family),
        ],
    )
}

fn native(family: Family, after: &str) -> Tried {
    // SAFETY: socket takes three plain integers.
    let made = sys::cvt(libc::c_long::from(unsafe {
        libc::socket(
            family.domain,
            family.kind | libc::SOCK_CLOEXEC,
            family.protocol,
        )
    }));
    let what = "socket";
    match made {
        Ok(fd) => match proven(fd as libc::c_int, family) {
            Ok(()) => {
                // SAFETY: fd is the socket made above, closed once.
                unsafe { libc::close(fd as libc::c_int) };
                Tried::Through(format!("a socket of the family; {after}"))
            }
            Err(errno) => faked(what, fd, errno),
        },
        Err(errno) => absent_or_stopped(errno, what),
    }
}

/// A route whose socket is not one: the filter answered with a success of its own.
fn faked(what: &str, fd: libc::c_long, errno: Errno) -> Tried {
    Tried::Stopped {
        mechanism: attempts::FAKE_SUCCESS.to_string(),
        detail: format!("{what} returned {fd}, which is no socket of the family ({errno})"),
    }
}

/// EAFNOSUPPORT: the kernel has no such family (vsock without its module).
fn absent_or_stopped(errno: Errno, what: &str) -> Tried {
    match errno {
        Errno(libc::EAFNOSUPPORT) => {
            Tried::Absent(format!("{what}: no such family in this kernel"))
        }
        errno => Tried::stopped(errno, what),
    }
}

/// What a descriptor a route returned comes to.
fn came(made: Result<u32, Errno>, family: Family) -> Came {
    match made {
        Ok(fd) => match proven(fd as libc::c_int, family) {
            Ok(()) => Came::Through,
            Err(_) => Came::Faked,
        },
        Err(Errno(libc::EAFNOSUPPORT)) => Came::Absent,
        Err(errno) => Came::Stopped(errno),
    }
}

/// Whether `fd` is a socket of the family, by the kernel's own word.
fn proven(fd: libc::c_int, family: Family) -> Result<(), Errno> {
    let mut domain: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: domain/len are valid for the call and sized as passed.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&raw mut domain).cast(),
            &raw mut len,
        )
    };
    if ret != 0 {
        return Err(Errno::last());
    }
    if domain == family.domain {
        Ok(())
    } else {
        Err(Errno(libc::EPROTOTYPE))
    }
}

/// A route through the 32-bit entry, in a child: even asking whether the kernel runs
/// i386 calls is an i386 call, which a filter without the x86 architecture kills.
fn i386(
    family: Family,
    what: &'static str,
    make: impl FnOnce(&mut LowMem) -> Result<u32, Errno>,
) -> Tried {
    attempts::in_child(what, || {
        if !sys_i386::i386_available() {
            return Came::Absent;
        }
        match LowMem::new(4096) {
            Ok(mut mem) => came(make(&mut mem), family),
            Err(errno) => Came::Stopped(errno),
        }
    })
}

fn i386_socket(_: &mut LowMem, family: Family) -> Result<u32, Errno> {
    sys_i386::int80(
        I386_SOCKET,
        [
            family.domain.unsigned_abs(),
            family.kind.unsigned_abs(),
            family.protocol.unsigned_abs(),
            0,
            0,
        ],
    )
}

fn i386_socketcall(mem: &mut LowMem, family: Family) -> Result<u32, Errno> {
    let words: Vec<u8> = [family.domain, family.kind, family.protocol]
        .iter()
        .flat_map(|a| a.unsigned_abs().to_le_bytes())
        .collect();
    let args = mem.put(&words)?;
    sys_i386::int80(I386_SOCKETCALL, [SYS_SOCKET, args, 0, 0, 0])
}

/// The x32 `socket`, in a child. ENOSYS from an x32 `getpid` first means a kernel
/// without the x32 ABI, as in `spawn.x32`.
fn x32(family: Family) -> Tried {
    attempts::in_child("x32 socket", || {
        // SAFETY: getpid takes no arguments; an unknown number only returns an error.
        let pid = unsafe { libc::syscall(libc::SYS_getpid | X32_BIT) };
        if let Err(Errno(libc::ENOSYS)) = sys::cvt(pid) {
            return Came::Absent;
        }
        // SAFETY: socket takes three plain integers.
        let made = sys::cvt(unsafe {
            libc::syscall(
                libc::SYS_socket | X32_BIT,
                family.domain,
                family.kind,
                family.protocol,
            )
        });
        came(made.map(|fd| fd as u32), family)
    })
}

/// `IORING_OP_SOCKET` on a ring of its own. A kernel without the operation (before 5.19)
/// answers EINVAL in the completion: the route does not exist there.
fn uring(family: Family) -> Tried {
    let what = "IORING_OP_SOCKET";
    let mut ring = match IoUring::new(2) {
        Ok(ring) => ring,
        Err(err) => {
            let errno = Errno::from_io(&err).unwrap_or(Errno(libc::EIO));
            return Tried::stopped(errno, "io_uring_setup");
        }
    };
    let entry = opcode::Socket::new(
        family.domain,
        family.kind | libc::SOCK_CLOEXEC,
        family.protocol,
    )
    .build()
    .user_data(1);
    // SAFETY: the entry owns no buffers; the ring outlives the submission.
    if unsafe { ring.submission().push(&entry) }.is_err() {
        return Tried::Unclear(format!("{what}: the submission queue is full"));
    }
    if let Err(err) = ring.submit_and_wait(1) {
        let errno = Errno::from_io(&err).unwrap_or(Errno(libc::EIO));
        return Tried::stopped(errno, "io_uring_enter");
    }
    let Some(done) = ring.completion().next() else {
        return Tried::Unclear(format!("{what}: no completion"));
    };
    match done.result() {
        fd if fd >= 0 => {
            let proof = proven(fd, family);
            // SAFETY: the descriptor the ring made for us, closed once.
            unsafe { libc::close(fd) };
            match proof {
                Ok(()) => Tried::Through("the ring made a socket of the family".to_string()),
                Err(errno) => faked(what, libc::c_long::from(fd), errno),
            }
        }
        e if -e == libc::EINVAL => Tried::Absent(format!("{what}: not in this kernel (EINVAL)")),
        e => absent_or_stopped(Errno(-e), what),
    }
}
