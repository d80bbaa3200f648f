//! breakout: launches real containers under a seccomp profile and container settings,
//! runs escape probes inside and reports which escapes succeeded, how, and with what evidence.

pub mod bundle;
pub use breakout_wire::catalog;
pub mod check;
pub mod cli;
pub mod container;
pub mod diff;
pub mod doctor;
pub mod facts;
pub mod harden;
pub mod hint;
pub mod image;
mod json;
pub mod kube;
pub mod ledger;
pub mod names;
pub mod predict;
pub mod profile;
pub mod progress;
pub mod record;
pub use breakout_wire::protocol;
pub mod report;
pub mod run;
pub mod runtime;
pub mod sanitize;
pub mod scenario;
pub mod suite;
pub mod trace;
pub mod workload;
