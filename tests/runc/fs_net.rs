//! Container cases for the probes of this group whose verdict depends on container
//! settings (mounts, capabilities, user, network), with both controls.

use crate::common::*;

pub fn trials() -> Vec<(&'static str, fn() -> TestResult)> {
    vec![]
}
