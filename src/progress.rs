//! A progress bar per runtime on a terminal, for runs that take more than a moment.
//! Never drawn in JSON mode or when stdout is not a terminal.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::run::Progress;

/// Bars keyed by runtime name; a no-op when disabled.
pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    pub fn new(enabled: bool) -> Bars {
        Bars {
            multi: enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Progress for Bars {
    fn begin(&self, runtime: &str, total: usize) {
        let Some(multi) = &self.multi else { return };
        let bar = multi.add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(runtime.to_string());
        self.bars
            .lock()
            .expect("bars lock")
            .insert(runtime.to_string(), bar);
    }

    fn step(&self, runtime: &str, step: &str) {
        if let Some(bar) = self.bars.lock().expect("bars lock").get(runtime) {
            bar.set_message(step.to_string());
            bar.inc(1);
        }
    }

    fn end(&self, runtime: &str) {
        if let Some(bar) = self.bars.lock().expect("bars lock").remove(runtime) {
            bar.finish_and_clear();
        }
    }
}
