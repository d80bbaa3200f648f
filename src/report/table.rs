//! The human table of a run report: probes as rows grouped by goal, runtimes as
//! columns, escapes marked, a one-line summary under it. comfy-table lays the grid out
//! and styles its cells; anstyle colours the lines around it.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use comfy_table::{Attribute, Cell, Color, Table};

use super::{Evidence, Outcome, Report, StartStatus, Verdict};
use crate::catalog::{self, Goal};

/// How an escape stands out: bold red.
const ALARM: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));

/// A table without lines, its columns a space apart, coloured only when asked: the
/// layout every human table of breakout shares.
pub(super) fn grid(color: bool) -> Table {
    let mut table = Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .force_no_tty();
    if color {
        // Padding stays plain, as it would between words.
        table.enforce_styling().style_text_only();
    }
    table
}

/// A verdict's cell: the outcome (upper case when escaped), the mechanism, for an
/// escape how the harness knows, and whether the image's own program ran.
fn cell_text(v: &Verdict) -> String {
    let mut text = v.outcome.as_str().to_string();
    if v.outcome == Outcome::Escaped {
        text = text.to_uppercase();
    }
    if let Some(m) = &v.mechanism {
        let _ = write!(text, " ({m})");
    }
    if v.outcome == Outcome::Escaped {
        if let Some(Evidence::Witnessed) = v.evidence {
            text.push_str(" witnessed");
        } else {
            text.push_str(" reported");
        }
    }
    if v.image_code {
        // The image's own program had the process: said in every cell.
        text.push_str(", image code ran");
    }
    text
}

fn cell(v: Option<&Verdict>) -> Cell {
    match v {
        None => Cell::new("-"),
        Some(v) => {
            let cell = Cell::new(cell_text(v));
            match v.outcome {
                // ANSI red (31), as the lines around the grid.
                Outcome::Escaped => cell.fg(Color::DarkRed).add_attribute(Attribute::Bold),
                Outcome::NotRun => cell.add_attribute(Attribute::Dim),
                Outcome::Blocked
                | Outcome::Contained
                | Outcome::NotApplicable
                | Outcome::Error
                | Outcome::Indeterminate => cell,
            }
        }
    }
}

impl Report {
    /// The human table: probes as rows grouped by goal, runtimes as columns.
    pub fn to_table(&self, color: bool) -> String {
        let mut out = String::new();
        let alarm = if color { ALARM } else { Style::new() };
        let (bold_red, reset) = (alarm.render(), alarm.render_reset());
        // Which image the verdicts are for, by digest (strings sanitized in the JSON).
        let image = &self.subject.settings["image"];
        let image = match (image["reference"].as_str(), image["digest"].as_str()) {
            (Some(reference), Some(digest)) => format!(" · image {reference} ({digest})"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "breakout {} · seccomp: {}{image} · kernel {} {}",
            self.breakout_version,
            self.subject.seccomp,
            self.environment.kernel,
            self.environment.arch
        );
        let _ = writeln!(out, "network {}", self.subject.network);
        for run in &self.runs {
            if let StartStatus::FailedToStart { error } = &run.start {
                let _ = writeln!(
                    out,
                    "\n{bold_red}{}: the container did not start{reset}\n  {}",
                    run.runtime.name,
                    error.replace('\n', "\n  ")
                );
                match &run.triage {
                    Some(t) if t.attempts > 0 => {
                        let _ = writeln!(
                            out,
                            "  triage ({} empty containers started): {}",
                            t.attempts, t.conclusion
                        );
                    }
                    Some(t) => {
                        let _ = writeln!(out, "  diagnosis: {}", t.conclusion);
                    }
                    None => {}
                }
            }
        }
        for run in &self.runs {
            let r = &run.runtime;
            let mut line = format!("runtime {}: {}", r.name, r.version);
            if let Some(lib) = &r.libseccomp {
                let _ = write!(line, ", libseccomp {lib}");
            }
            if !r.flags.is_empty() {
                let _ = write!(line, "; flags {}", r.flags.join(" "));
            }
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
        out.push_str(&self.grid(color).trim_fmt());
        out.push('\n');
        if !self.divergences.is_empty() {
            let _ = writeln!(out, "\nwhere the runtimes differ:");
            for d in &self.divergences {
                let _ = writeln!(out, "  <> {}: {}", d.step, d.explanation);
            }
        }
        out.push('\n');
        for run in &self.runs {
            for g in &run.escapes_by_goal {
                let _ = writeln!(
                    out,
                    "{bold_red}{}: escaped via {}{reset}{}",
                    g.goal.as_str(),
                    g.via.join(", "),
                    if self.runs.len() > 1 {
                        format!(" ({})", run.runtime.name)
                    } else {
                        String::new()
                    }
                );
            }
            // Which of a technique's routes got through, where it has more than one.
            for v in run
                .verdicts
                .iter()
                .filter(|v| v.outcome == Outcome::Escaped)
            {
                let several = crate::catalog::find(&v.probe).is_some_and(|p| p.routes().len() > 1);
                if let (Some(route), true) = (&v.route, several) {
                    let _ = writeln!(
                        out,
                        "  {} got through by {route}{}",
                        v.step(),
                        if self.runs.len() > 1 {
                            format!(" ({})", run.runtime.name)
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
        for run in &self.runs {
            predictions(
                &mut out,
                run,
                self.runs.len() > 1,
                (&bold_red.to_string(), &reset.to_string()),
            );
        }
        for run in &self.runs {
            if let Some(w) = &run.workload {
                workload_lines(&mut out, &run.runtime.name, w);
            }
        }
        let s = &self.summary;
        let containers: u32 = self.runs.iter().map(|r| r.containers).sum();
        let mut contained = String::new();
        if s.contained > 0 {
            contained.push_str(&format!(", {} contained in a sandbox kernel", s.contained));
        }
        if s.indeterminate > 0 {
            contained.push_str(&format!(", {} indeterminate", s.indeterminate));
        }
        let _ = writeln!(
            out,
            "summary: {} escaped, {} blocked{contained}, {} not-applicable, {} error, {} not-run; {} start failure(s); {} container(s){}",
            s.escaped,
            s.blocked,
            s.not_applicable,
            s.error,
            s.not_run,
            s.start_failures,
            containers,
            if self.interrupted { "; INTERRUPTED" } else { "" }
        );
        out
    }
}

/// The workload's line under a run: whether it works, and when it does not, the end
/// of what it said and what the filter stopped.
fn workload_lines(out: &mut String, runtime: &str, w: &crate::workload::WorkloadReport) {
    let _ = writeln!(out, "workload under {runtime}: {}", w.summary());
    if w.status == crate::workload::Status::Works {
        return;
    }
    for stopped in &w.stopped {
        let place = stopped
            .place
            .as_ref()
            .map(|p| format!(" at {p}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  stopped: {} ({}) by {}{place}: {} [{}]",
            stopped.syscall, stopped.arch, stopped.action, stopped.rule, stopped.found_by
        );
    }
    for (name, tail) in [("stderr", &w.stderr_tail), ("check", &w.check_output)] {
        let lines: Vec<&str> = tail.lines().collect();
        for line in &lines[lines.len().saturating_sub(3)..] {
            let _ = writeln!(out, "  {name}: {line}");
        }
    }
}

impl Report {
    /// Every step seen in any run, in goal order then catalog order then target order.
    pub(super) fn steps(&self) -> Vec<(String, Option<Goal>)> {
        let mut steps: Vec<(usize, String, Option<Goal>)> = Vec::new();
        for run in &self.runs {
            for v in &run.verdicts {
                let step = v.step();
                if !steps.iter().any(|(_, s, _)| *s == step) {
                    let order = catalog::CATALOG
                        .iter()
                        .position(|p| p.id == v.probe)
                        .unwrap_or(usize::MAX);
                    steps.push((order, step, v.goal));
                }
            }
        }
        steps.sort_by_key(|(order, _, goal)| (*goal, *order));
        steps.into_iter().map(|(_, s, g)| (s, g)).collect()
    }

    /// The grid: a marker column (`!!` on a row with an escape), the goal (once per
    /// group), the probe step, one column per runtime, and `<>` where they differ.
    fn grid(&self, color: bool) -> Table {
        let mut table = grid(color);
        let mut header = vec![String::new(), "GOAL".into(), "PROBE".into()];
        header.extend(self.runs.iter().map(|r| r.runtime.name.to_uppercase()));
        header.push(String::new());
        table.set_header(header);
        let mut last_goal = None;
        for (step, goal) in self.steps() {
            let goal_text = if last_goal == Some(goal) {
                String::new()
            } else {
                goal.map_or("?".into(), |g| g.as_str().to_string())
            };
            last_goal = Some(goal);
            let verdicts: Vec<Option<&Verdict>> = self
                .runs
                .iter()
                .map(|run| run.verdicts.iter().find(|v| v.step() == step))
                .collect();
            let escaped = verdicts
                .iter()
                .any(|v| v.is_some_and(|v| v.outcome == Outcome::Escaped));
            let differs = self.divergences.iter().any(|d| d.step == step);
            let mut row = vec![
                Cell::new(if escaped { "!!" } else { "" }),
                Cell::new(goal_text),
                Cell::new(step),
            ];
            row.extend(verdicts.into_iter().map(cell));
            row.push(Cell::new(if differs { "<>" } else { "" }));
            table.add_row(row);
        }
        // The marker starts the line, so that an escape is the first thing a row says.
        if let Some(marker) = table.column_mut(0) {
            marker.set_padding((0, 0));
        }
        table
    }
}

/// Under a profile: why each escape's route was open (the filter's rule), and how the
/// observations compare with the predictions; each disagreement nothing explains is
/// listed, loudly: it is a runtime bug or a harness bug.
fn predictions(
    out: &mut String,
    run: &super::RunReport,
    several: bool,
    (alarm, reset): (&str, &str),
) {
    use crate::predict::Agreement;
    let compared: Vec<(&Verdict, &crate::predict::Prediction)> = run
        .verdicts
        .iter()
        .filter_map(|v| v.prediction.as_ref().map(|p| (v, p)))
        .filter(|(_, p)| p.filter != "none")
        .collect();
    if compared.is_empty() {
        return;
    }
    let who = if several {
        format!(" ({})", run.runtime.name)
    } else {
        String::new()
    };
    let (mut agree, mut beyond, mut quirk, mut unexplained) = (0, 0, 0, Vec::new());
    for (v, p) in &compared {
        match &p.agreement {
            Agreement::Agrees => agree += 1,
            Agreement::Beyond(_) => beyond += 1,
            Agreement::Quirk(_) => quirk += 1,
            Agreement::Unexplained(why) => unexplained.push(format!("{}: {why}", v.step())),
            Agreement::NotCompared => {}
        }
    }
    let _ = writeln!(
        out,
        "predicted vs observed{who}: {agree} agree, {beyond} blocked past the filter, {quirk} explained by a runtime quirk, {} unexplained",
        unexplained.len()
    );
    for line in &unexplained {
        let _ = writeln!(out, "{alarm}  !! unexplained: {line}{reset}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::collect::Runs;
    use crate::report::environment::Environment;
    use crate::report::event::{Event, Sink};
    use crate::report::{ProfileHandling, RuntimeVersion, Subject};

    /// runc blocks spawn.fork and runsc (ignoring the profile) lets it through; both
    /// block spawn.vfork.
    fn report() -> Report {
        let runs = Runs::default();
        for (run, name, fork, handling) in [
            (0, "runc", Outcome::Blocked, ProfileHandling::default()),
            (
                1,
                "runsc",
                Outcome::Escaped,
                ProfileHandling {
                    applies_profile: false,
                    ..ProfileHandling::default()
                },
            ),
        ] {
            let steps = vec!["spawn.fork".to_string(), "spawn.vfork".to_string()];
            let runtime = RuntimeVersion {
                name: name.into(),
                ..Default::default()
            };
            let verdicts = [
                Verdict::new(name, "spawn.fork", fork, "").mechanism(Some("EPERM")),
                Verdict::new(name, "spawn.vfork", Outcome::Blocked, "").mechanism(Some("EPERM")),
            ];
            runs.event(&Event::RunStarted {
                run,
                runtime,
                profile_handling: handling,
                steps,
            });
            for verdict in verdicts {
                runs.event(&Event::Verdict {
                    run,
                    verdict: Box::new(verdict),
                });
            }
            runs.event(&Event::RunFinished {
                run,
                start: StartStatus::Started,
            });
        }
        let environment = Environment {
            kernel: "6.1".into(),
            arch: "x86_64".into(),
            cgroup: "v2".into(),
            lsm: Vec::new(),
            euid: 0,
        };
        let subject = Subject {
            seccomp: "p.json".into(),
            network: "bridge".into(),
            settings: serde_json::Value::Null,
            profile_warnings: Vec::new(),
        };
        runs.into_report(environment, subject)
    }

    #[test]
    fn escapes_and_differences_are_marked_on_their_row() {
        let text = report().to_table(false);
        let row = |step: &str| {
            text.lines()
                .find(|l| l.contains(step))
                .unwrap_or_default()
                .to_string()
        };
        let fork = row("spawn.fork");
        assert!(fork.starts_with("!!"), "{text}");
        assert!(fork.contains("blocked (EPERM)"), "{text}");
        assert!(fork.contains("ESCAPED (EPERM) reported"), "{text}");
        assert!(fork.ends_with("<>"), "{text}");
        let vfork = row("spawn.vfork");
        assert!(!vfork.starts_with("!!") && !vfork.contains("<>"), "{text}");
        // The columns line up: each runtime's cells start where its header does.
        let header = row("RUNSC");
        let at = header.find("RUNSC").unwrap();
        assert_eq!(fork.find("ESCAPED"), Some(at), "{text}");
        assert!(text.contains("spawn: escaped via fork (runsc)\n"), "{text}");
        assert!(!text.contains('\x1b'), "{text}");
    }

    #[test]
    fn colour_only_when_asked() {
        let text = report().to_table(true);
        assert!(
            text.contains("\x1b[1m\x1b[31mspawn: escaped via fork"),
            "{text:?}"
        );
        let fork = text.lines().find(|l| l.contains("spawn.fork")).unwrap();
        assert!(fork.contains('\x1b') && fork.starts_with("!!"), "{fork:?}");
    }
}
