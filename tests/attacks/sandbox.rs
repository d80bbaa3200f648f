//! Attack tests: sandbox.

use crate::common::*;

/// Trials of this group.
pub fn trials() -> Trials {
    vec![]
}
