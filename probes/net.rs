//! `net.*` probes: reach the harness's canary listener, and nothing else.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::runner::{Ctx, Verdict};
use crate::sys::Errno;

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
        .write_all(format!("{}\n", ctx.inv.nonce).as_bytes())
        .and_then(|()| stream.shutdown(Shutdown::Both));
    match sent {
        Ok(()) => Verdict::escaped(format!("connected to {addr}")),
        Err(err) => Verdict::escaped(format!(
            "connected to {addr}, but sending the nonce failed: {err}"
        )),
    }
}
