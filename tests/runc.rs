//! breakout end to end under runc: real containers, real profiles, both controls for
//! every probe, and every verdict the harness prints produced for real.
//!
//! The cases are data (`tests/runc/*.rs`, run by `tests/runc/harness.rs`): each says
//! what it needs from the host, and a host that lacks it skips the case with the
//! reason printed. CI installs what they need so they run there. One more trial checks
//! the tables themselves, and runs everywhere.

mod common;

#[path = "runc/basics.rs"]
mod basics;
#[path = "runc/exec_spawn.rs"]
mod exec_spawn;
#[path = "runc/fs_net.rs"]
mod fs_net;
#[path = "runc/harness.rs"]
mod harness;
#[path = "runc/kernel_ns_ipc.rs"]
mod kernel_ns_ipc;
#[path = "runc/procedures.rs"]
mod procedures;
#[path = "runc/run_flags.rs"]
mod run_flags;
#[path = "runc/want.rs"]
mod want;

use common::needs::Host;
use harness::Case;
use libtest_mimic::{Arguments, Trial};

fn cases() -> Vec<Case> {
    [
        basics::cases(),
        exec_spawn::cases(),
        fs_net::cases(),
        kernel_ns_ipc::cases(),
        run_flags::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn main() {
    let args = Arguments::from_args();
    let mut host = Host::default();
    let mut trials: Vec<Trial> = cases()
        .into_iter()
        .map(|case| {
            let needs = case.needs.clone();
            host.trial(case.name, &needs, move || case.execute())
        })
        .collect();
    trials.push(Trial::test("cases_are_well_formed", || {
        harness::well_formed(&cases())
    }));
    libtest_mimic::run(&args, trials).exit();
}
