//! The aggregators: the event stream made into the runs of a [`Report`] and the trials
//! of a [`SuiteReport`]. Nothing else builds those reports' contents.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::environment::Environment;
use super::event::{Event, Sink};
use super::suite::{SuiteReport, TrialOutcome};
use super::{GoalEscapes, Report, RunReport, StartStatus, Subject, Verdict};

/// One run as its events arrive.
struct Building {
    report: RunReport,
    /// The planned steps, in report order; verdicts arrive in the order decided.
    steps: Vec<String>,
    verdicts: BTreeMap<String, Verdict>,
}

impl Building {
    /// The run as the report shows it: verdicts in plan order (a verdict for a step
    /// not planned, which the pipeline never sends, would come last rather than vanish).
    fn finish(mut self) -> RunReport {
        let mut verdicts: Vec<Verdict> = self
            .steps
            .iter()
            .filter_map(|step| self.verdicts.remove(step))
            .collect();
        verdicts.extend(self.verdicts.into_values());
        self.report.escapes_by_goal = GoalEscapes::of(&verdicts);
        self.report.verdicts = verdicts;
        self.report
    }
}

#[derive(Default)]
struct RunsState {
    /// By the run's position in the matrix.
    runs: BTreeMap<usize, Building>,
    interrupted: bool,
}

/// Collects the runs of `run` and `compare` (and of each suite trial) from the stream.
#[derive(Default)]
pub struct Runs(Mutex<RunsState>);

impl RunsState {
    /// A run that said it started; events of any other belong to no report.
    fn run(&mut self, run: &usize) -> Option<&mut Building> {
        self.runs.get_mut(run)
    }
}

impl Sink for Runs {
    fn event(&self, event: &Event) {
        let mut state = self.0.lock().expect("runs lock");
        match event {
            Event::RunStarted {
                run,
                runtime,
                profile_handling,
                steps,
            } => {
                let report = RunReport {
                    runtime: runtime.clone(),
                    // Until the run says otherwise.
                    start: StartStatus::Started,
                    containers: 0,
                    verdicts: Vec::new(),
                    escapes_by_goal: Vec::new(),
                    profile_handling: *profile_handling,
                    triage: None,
                    workload: None,
                };
                let building = Building {
                    report,
                    steps: steps.clone(),
                    verdicts: BTreeMap::new(),
                };
                state.runs.insert(*run, building);
            }
            Event::ContainerStarted { run, id: _ } => {
                if let Some(b) = state.run(run) {
                    b.report.containers += 1;
                }
            }
            Event::ContainerEnded { .. } => {}
            Event::Verdict { run, verdict } => {
                if let Some(b) = state.run(run) {
                    b.verdicts
                        .entry(verdict.step())
                        .or_insert_with(|| (**verdict).clone());
                }
            }
            Event::RunFinished { run, start } => {
                if let Some(b) = state.run(run) {
                    b.report.start = start.clone();
                }
            }
            Event::Triaged { run, triage } => {
                if let Some(b) = state.run(run) {
                    b.report.triage = Some(triage.clone());
                }
            }
            Event::Workload { run, report } => {
                if let Some(b) = state.run(run) {
                    b.report.workload = Some((**report).clone());
                }
            }
            Event::TrialFinished(_) => {}
            Event::Interrupted => state.interrupted = true,
        }
    }
}

impl Runs {
    /// The runs in matrix order, and whether the stream was interrupted.
    pub fn finish(self) -> (Vec<RunReport>, bool) {
        let state = self.0.into_inner().expect("runs lock");
        let runs = state.runs.into_values().map(Building::finish).collect();
        (runs, state.interrupted)
    }

    /// The report of `run` and `compare`.
    pub fn into_report(self, environment: Environment, subject: Subject) -> Report {
        let (runs, interrupted) = self.finish();
        Report::new(environment, subject, runs, interrupted)
    }
}

#[derive(Default)]
struct TrialsState {
    trials: Vec<TrialOutcome>,
    interrupted: bool,
}

/// Collects the trials of `breakout test` from the stream.
#[derive(Default)]
pub struct Trials(Mutex<TrialsState>);

impl Sink for Trials {
    fn event(&self, event: &Event) {
        let mut state = self.0.lock().expect("trials lock");
        match event {
            Event::TrialFinished(trial) => state.trials.push((**trial).clone()),
            Event::Interrupted => state.interrupted = true,
            // A trial's own run is aggregated by the trial, into its checks.
            Event::RunStarted { .. }
            | Event::ContainerStarted { .. }
            | Event::ContainerEnded { .. }
            | Event::Verdict { .. }
            | Event::RunFinished { .. }
            | Event::Triaged { .. }
            | Event::Workload { .. } => {}
        }
    }
}

impl Trials {
    /// Whether the stream so far was interrupted.
    pub fn interrupted(&self) -> bool {
        self.0.lock().expect("trials lock").interrupted
    }

    /// The suite report, trials sorted by name (libtest's order).
    pub fn to_suite(&self, environment: Option<Environment>) -> SuiteReport {
        let mut trials = self.0.lock().expect("trials lock").trials.clone();
        trials.sort_by(|a, b| a.name.cmp(&b.name));
        SuiteReport::new(environment, trials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;

    fn verdict(step: &str, outcome: Outcome) -> Event {
        Event::Verdict {
            run: 0,
            verdict: Box::new(Verdict::new("runc", step, outcome, "d")),
        }
    }

    #[test]
    fn a_run_is_its_events_in_plan_order() {
        let runs = Runs::default();
        let steps = vec!["spawn.fork".to_string(), "spawn.vfork".to_string()];
        for event in [
            Event::RunStarted {
                run: 0,
                runtime: Default::default(),
                profile_handling: Default::default(),
                steps,
            },
            Event::ContainerStarted {
                run: 0,
                id: "a".into(),
            },
            verdict("spawn.vfork", Outcome::Escaped),
            Event::ContainerStarted {
                run: 0,
                id: "b".into(),
            },
            verdict("spawn.fork", Outcome::Blocked),
            Event::RunFinished {
                run: 0,
                start: StartStatus::Started,
            },
        ] {
            runs.event(&event);
        }
        let (runs, interrupted) = runs.finish();
        assert!(!interrupted);
        let run = &runs[0];
        assert_eq!(run.containers, 2);
        let order: Vec<String> = run.verdicts.iter().map(Verdict::step).collect();
        assert_eq!(order, ["spawn.fork", "spawn.vfork"]);
        assert_eq!(run.escapes_by_goal.len(), 1);
    }
}
