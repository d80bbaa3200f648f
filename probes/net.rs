//! `net.*` probes: reach the harness's canary listener, and nothing else.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use breakout::protocol::canary_token;

use crate::runner::{Ctx, Impl, Verdict};
use crate::sys::Errno;

/// This module's catalog ids.
pub fn implementation(id: &str) -> Option<Impl> {
    Some(match id {
        "net.tcp-connect" => Impl::Once(tcp_connect),
        _ => return None,
    })
}

/// Long enough for a local bridge, short enough that a dropped SYN does not stall the suite.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub fn tcp_connect(ctx: &Ctx) -> Verdict {
    let Some(canary) = ctx.inv.canary.as_deref() else {
        return Verdict::not_applicable(None, "no canary address given");
    };
    let addr: SocketAddr = match canary.parse() {
        Ok(addr) => addr,
        Err(_) => return Verdict::error(None, format!("canary address {canary} is not IP:PORT")),
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
    // The canary seeing the nonce is the witness; the connection alone already escaped.
    let sent = stream
        .write_all(format!("{}\n", canary_token(&ctx.inv.nonce, "net.tcp-connect")).as_bytes())
        .and_then(|()| stream.shutdown(Shutdown::Both));
    match sent {
        Ok(()) => Verdict::escaped(format!("connected to {addr}")),
        Err(err) => Verdict::escaped(format!(
            "connected to {addr}, but sending the nonce failed: {err}"
        )),
    }
}
