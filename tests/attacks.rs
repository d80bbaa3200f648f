//! The harness against its own attacker (issue 10, DESIGN.md "Threat model"): every
//! test builds a hostile rootfs, runtime or neighbour itself, runs breakout as root
//! beside it, and checks that the host stays as it was: no file created outside the
//! run, nothing of the container reachable by other users, no forged verdict, no hang
//! past the deadline, and no leftover container, mount, netns, cgroup or process.
//!
//! Each trial says what it needs from the host (root, runc, busybox, `ip`, podman); a
//! host that lacks it skips the trial with the reason printed, and the trials that
//! start nothing run everywhere. CI installs what they need so they run there.

mod common;

#[path = "attacks/image.rs"]
mod image;
#[path = "attacks/inputs.rs"]
mod inputs;
#[path = "attacks/lifecycle.rs"]
mod lifecycle;
#[path = "attacks/runtime.rs"]
mod runtime;
#[path = "attacks/sandbox.rs"]
mod sandbox;

use common::needs::Host;
use libtest_mimic::Arguments;

fn main() {
    let args = Arguments::from_args();
    let mut host = Host::default();
    let trials = [
        sandbox::trials(),
        runtime::trials(),
        inputs::trials(),
        lifecycle::trials(),
        image::trials(),
    ]
    .into_iter()
    .flatten()
    .map(|(name, needs, body)| host.trial(name, needs, body))
    .collect();
    libtest_mimic::run(&args, trials).exit();
}
