//! breakout: launches real containers under a seccomp profile and container settings,
//! runs escape probes inside and reports which escapes succeeded, how, and with what evidence.

pub mod bundle;
#[path = "../probes/catalog.rs"]
pub mod catalog;
pub mod check;
pub mod cli;
pub mod container;
pub mod doctor;
pub mod facts;
mod json;
pub mod ledger;
pub mod profile;
pub mod progress;
#[path = "../probes/protocol.rs"]
pub mod protocol;
pub mod report;
pub mod run;
pub mod runtime;
pub mod sanitize;
pub mod scenario;
pub mod suite;
