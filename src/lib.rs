//! breakout: launches real containers under a seccomp profile and container settings,
//! runs escape probes inside and reports which escapes succeeded, how, and with what evidence.

#[path = "../probes/catalog.rs"]
pub mod catalog;
#[path = "../probes/protocol.rs"]
pub mod protocol;
