//! Names no one can guess or take first: a run-unique token for directories, container
//! ids and nonces, random bits, and where runtime state goes. Its own module because
//! the run directory, the ledger and the runtime driver all name things with it, and
//! none of them should depend on another for that.

use std::sync::atomic::{AtomicU64, Ordering};

/// Where runtime state directories go: `/run/breakout/TOKEN`.
pub const SHORT_STATE_BASE: &str = "/run/breakout";

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A run-unique token: process id (so a run's traces can be told apart), a counter
/// and 64 random bits (so that no one can guess a name and take it first).
pub fn unique_token() -> String {
    let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{:016x}", std::process::id(), n, random_u64())
}

/// 64 bits from the kernel's random source.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // getrandom(2) for 8 bytes from the urandom pool neither blocks (after boot) nor
    // comes back short; on the impossible failure the clock still varies the value.
    let got = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    if !matches!(got, Ok(n) if n == bytes.len()) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        bytes = nanos.to_le_bytes();
    }
    u64::from_le_bytes(bytes)
}
