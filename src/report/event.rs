//! The one stream of events that `run`, `compare` and `test` produce, and what hears it.
//!
//! The pipeline (`run::execute_with`, the matrix, the suite's trials) tells a [`Sink`]
//! what happens as it happens; it keeps no report of its own. The consumers are sinks:
//! the progress bars (`crate::progress`), the aggregators that make a [`super::Report`]
//! and a [`super::suite::SuiteReport`] ([`super::collect`]). Each consumer matches
//! every event kind without a catch-all, so a new kind is a compile error in every one
//! of them until it says what it does with it.
//!
//! Events of one run come in order; runs of a matrix run in parallel, so their events
//! interleave: each event of a run names it by its position in the matrix (`run`).

use super::suite::TrialOutcome;
use super::{ProfileHandling, RuntimeVersion, StartStatus, Triage, Verdict};

/// Something that happened in a run, a matrix or a suite.
#[derive(Debug, Clone)]
pub enum Event {
    /// A run is about to start its containers: its runtime, how that runtime treats a
    /// profile, and the probe steps planned, in the order the report lists them.
    RunStarted {
        run: usize,
        runtime: RuntimeVersion,
        profile_handling: ProfileHandling,
        steps: Vec<String>,
    },
    /// A container of the run is being started: the first, or one that resumes the
    /// suite after a probe killed the last one or handed it to the image.
    ContainerStarted { run: usize, id: String },
    /// That container ended; `notes` are what it said that was not a verdict
    /// (sanitized), `notes_dropped` how many more there were.
    ContainerEnded {
        run: usize,
        notes: Vec<String>,
        notes_dropped: usize,
    },
    /// A step got its verdict; each step of a run gets exactly one.
    Verdict { run: usize, verdict: Box<Verdict> },
    /// The run's workload ran (after its probes) and this is how it did.
    Workload {
        run: usize,
        report: Box<crate::workload::WorkloadReport>,
    },
    /// The run is over: every planned step has its verdict. `start` says whether its
    /// container started.
    RunFinished { run: usize, start: StartStatus },
    /// After a start failure: which denials the runtime's start needs, or why the
    /// runtime cannot start containers here at all.
    Triaged { run: usize, triage: Triage },
    /// A trial of `breakout test` is over, judged against its scenario (or ignored).
    TrialFinished(Box<TrialOutcome>),
    /// The matrix or the suite was cut short by SIGINT/SIGTERM; what did not run is
    /// `not-run`.
    Interrupted,
}

/// Hears the events. Called from the threads the runs are on, hence `Sync`.
pub trait Sink: Sync {
    fn event(&self, event: &Event);
}

/// Several consumers of one stream: each hears every event, in list order.
impl<const N: usize> Sink for [&dyn Sink; N] {
    fn event(&self, event: &Event) {
        for sink in self {
            sink.event(event);
        }
    }
}

/// Hears nothing: for a stream no one reads (the trials of `tests/scenarios.rs`, which
/// libtest alone reports).
pub struct Discard;

impl Sink for Discard {
    fn event(&self, _event: &Event) {}
}
