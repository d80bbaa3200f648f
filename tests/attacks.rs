//! The harness against its own attacker (issue 10, DESIGN.md "Threat model"): every
//! test builds a hostile rootfs, runtime or neighbour itself, runs breakout as root
//! beside it, and checks that the host stays as it was: no file created outside the
//! run, nothing of the container reachable by other users, no forged verdict, no hang
//! past the deadline, and no leftover container, mount, netns, cgroup or process.
//!
//! A host without root or runc skips these trials with the reason printed; CI installs
//! what they need so they run there.

mod common;

#[path = "attacks/inputs.rs"]
mod inputs;
#[path = "attacks/lifecycle.rs"]
mod lifecycle;
#[path = "attacks/runtime.rs"]
mod runtime;
#[path = "attacks/sandbox.rs"]
mod sandbox;

use common::*;
use libtest_mimic::{Arguments, Trial};

fn main() {
    let args = Arguments::from_args();
    let skip = container_skip_reason("runc");
    if let Some(reason) = &skip {
        eprintln!("attack tests that start containers are skipped: {reason}");
    }
    let mut tests: Trials = Vec::new();
    tests.extend(sandbox::trials());
    tests.extend(runtime::trials());
    tests.extend(inputs::trials());
    tests.extend(lifecycle::trials());
    // Trials that start nothing (input validation) run everywhere.
    let hostless = inputs::HOSTLESS;
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            let ignored = skip.is_some() && !hostless.contains(&name);
            Trial::test(name, f).with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
