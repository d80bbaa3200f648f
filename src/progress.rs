//! The terminal's consumer of the event stream: a progress bar per run for runs that
//! take more than a moment (never drawn in JSON mode or when stdout is not a terminal),
//! and what the containers said that was not a verdict, on stderr.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::event::{Event, Sink};

/// Bars by run; with bars off, only the notes are printed.
pub struct Bars {
    multi: Option<MultiProgress>,
    /// Each run's bar, by its position in the matrix.
    bars: Mutex<HashMap<usize, ProgressBar>>,
    /// Each run's runtime name, which its notes are printed under.
    names: Mutex<HashMap<usize, String>>,
}

impl Bars {
    pub fn new(enabled: bool) -> Bars {
        Bars {
            multi: enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        }
    }

    fn begin(&self, run: usize, runtime: &str, total: usize) {
        self.names
            .lock()
            .expect("bars lock")
            .insert(run, runtime.to_string());
        let Some(multi) = &self.multi else { return };
        let bar = multi.add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(runtime.to_string());
        self.bars.lock().expect("bars lock").insert(run, bar);
    }

    /// Printed above the bars, which are drawn again under them.
    fn notes(&self, run: usize, notes: &[String], dropped: usize) {
        if notes.is_empty() && dropped == 0 {
            return;
        }
        let name = self
            .names
            .lock()
            .expect("bars lock")
            .get(&run)
            .cloned()
            .unwrap_or_default();
        let print = || {
            for note in notes {
                eprintln!("breakout: {name}: {note}");
            }
            if dropped > 0 {
                eprintln!("breakout: {name}: and {dropped} more such notes");
            }
        };
        match &self.multi {
            Some(multi) => multi.suspend(print),
            None => print(),
        }
    }
}

impl Sink for Bars {
    fn event(&self, event: &Event) {
        match event {
            Event::RunStarted {
                run,
                runtime,
                steps,
                ..
            } => self.begin(*run, &runtime.name, steps.len()),
            Event::ContainerEnded {
                run,
                notes,
                notes_dropped,
            } => self.notes(*run, notes, *notes_dropped),
            Event::Verdict { run, verdict } => {
                if let Some(bar) = self.bars.lock().expect("bars lock").get(run) {
                    bar.set_message(verdict.step());
                    bar.inc(1);
                }
            }
            Event::RunFinished { run, .. } => {
                if let Some(bar) = self.bars.lock().expect("bars lock").remove(run) {
                    bar.finish_and_clear();
                }
            }
            Event::ContainerStarted { .. }
            | Event::Workload { .. }
            | Event::Triaged { .. }
            | Event::TrialFinished(_)
            | Event::Interrupted => {}
        }
    }
}
