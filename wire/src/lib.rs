//! breakout-wire: what the harness (`breakout`) and the in-container runner
//! (`breakout-probe`) share, and nothing else: the probe catalog, the wire protocol
//! between them. It depends on neither binary's code, so the runner carries none of
//! the harness into the container.

pub mod catalog;
pub mod faults;
pub mod meminfo;
pub mod names;
pub mod probe_id;
pub mod probe_info;
pub mod protocol;
pub mod routes;
