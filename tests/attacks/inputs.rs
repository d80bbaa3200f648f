//! Attack tests: inputs.

use crate::common::*;

/// Trials of this group.
pub fn trials() -> Trials {
    vec![]
}

/// Trials of this group that start nothing, so they run without root or a runtime.
pub const HOSTLESS: &[&str] = &[];
