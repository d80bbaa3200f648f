//! The canary, as every network probe meets it: its address (the only one a network
//! probe is given or uses), the token each step sends it, and the socket addresses the
//! raw routes (i386 socketcall, io_uring) build by hand.

use std::net::SocketAddr;
use std::time::Duration;

use breakout_wire::protocol::canary_token;

use crate::ctx::{Ctx, Verdict};

/// Long enough for a local bridge, short enough that a dropped SYN does not stall the suite.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The canary's address, the only address any network probe is given or uses.
pub fn canary_addr(ctx: &Ctx) -> Result<SocketAddr, Verdict> {
    let Some(canary) = ctx.inv.canary.as_deref() else {
        return Err(Verdict::not_applicable(None, "no canary address given"));
    };
    canary
        .parse()
        .map_err(|_| Verdict::error(None, format!("canary address {canary} is not IP:PORT")))
}

/// `addr` as the kernel's `sockaddr_in`/`sockaddr_in6`, and its length.
pub fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data for which all zeroes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    // Both sizes are small constants.
    (storage, len as libc::socklen_t)
}

/// The address family of `addr`, for socket(2).
pub fn family(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// The token `step` sends to the canary; the error is the verdict when there is no key.
pub fn canary_token_for(ctx: &Ctx, step: &str) -> Result<String, Verdict> {
    Ok(canary_token(ctx.key()?, step))
}
