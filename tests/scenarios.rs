//! The shipped scenarios (`scenarios/`) as trials, the same ones `breakout test`
//! builds, so `cargo test` and cargo-nextest run the regression suite too. Trials whose
//! runtime is missing here are ignored with the reason printed.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use libtest_mimic::Arguments;

mod common;

fn main() {
    let args = Arguments::from_args();
    // The docker trials need an engine: one of this binary's own where none answers.
    let dockerd = common::PrivateDockerd::start_if_needed();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let scenarios = match breakout::suite::load(&[dir], breakout::profile::Reading::Strict) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("the shipped scenarios do not load: {e}");
            std::process::exit(101);
        }
    };
    let pairs = breakout::suite::pairs(&scenarios, None);
    let trials = breakout::suite::trials(
        pairs,
        PathBuf::from(env!("CARGO_BIN_EXE_breakout-probe")),
        // The trials' outcomes are libtest's to report here.
        Arc::new(breakout::report::event::Discard),
        Arc::new(AtomicBool::new(false)),
    );
    let conclusion = libtest_mimic::run(&args, trials);
    drop(dockerd);
    // Every trial ran in this process: nothing of any run may be left.
    let mark = format!("{}-", std::process::id());
    let states: Vec<_> = std::fs::read_dir(breakout::bundle::SHORT_STATE_BASE)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&mark))
        .map(|e| e.path())
        .collect();
    if !states.is_empty() {
        eprintln!("runtime state left behind: {states:?}");
        std::process::exit(101);
    }
    conclusion.exit();
}
