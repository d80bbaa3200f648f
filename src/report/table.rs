//! The human table of a run report: probes as rows grouped by goal, runtimes as
//! columns, escapes marked, a one-line summary under it.

use std::fmt::Write as _;

use super::{Evidence, Outcome, Report, StartStatus, Verdict};
use crate::catalog::{self, Goal};

impl Report {
    /// The human table: probes as rows grouped by goal, runtimes as columns.
    pub fn to_table(&self, color: bool) -> String {
        let mut out = String::new();
        let (bold_red, dim, reset) = if color {
            ("\x1b[1;31m", "\x1b[2m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        let _ = writeln!(
            out,
            "breakout {} · seccomp: {} · kernel {} {}",
            self.breakout_version,
            self.subject.seccomp,
            self.environment.kernel,
            self.environment.arch
        );
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
        // Rows: every step seen in any run, in catalog order then target order.
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
        let cell = |v: Option<&Verdict>| -> (String, bool) {
            match v {
                None => ("-".into(), false),
                Some(v) => {
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
                    (text, v.outcome == Outcome::Escaped)
                }
            }
        };
        let step_width = steps.iter().map(|s| s.1.len()).max().unwrap_or(5).max(5);
        let mut header = format!("\n   {:<9} {:<step_width$}", "GOAL", "PROBE");
        for run in &self.runs {
            let _ = write!(header, "  {:<32}", run.runtime.name.to_uppercase());
        }
        let _ = writeln!(out, "{}", header.trim_end());
        let mut last_goal = None;
        for (_, step, goal) in &steps {
            let goal_text = if last_goal == Some(*goal) {
                String::new()
            } else {
                goal.map(|g| g.as_str().to_string()).unwrap_or("?".into())
            };
            last_goal = Some(*goal);
            let mut escaped_any = false;
            let mut line = format!(" {:<9} {:<step_width$}", goal_text, step);
            for run in &self.runs {
                let v = run.verdicts.iter().find(|v| v.step() == *step);
                let (text, escaped) = cell(v);
                escaped_any |= escaped;
                if escaped {
                    let _ = write!(line, "  {bold_red}{text:<32}{reset}");
                } else if v.map(|v| v.outcome) == Some(Outcome::NotRun) {
                    let _ = write!(line, "  {dim}{text:<32}{reset}");
                } else {
                    let _ = write!(line, "  {text:<32}");
                }
            }
            let marker = if escaped_any { "!!" } else { "  " };
            let differs = self.divergences.iter().any(|d| d.step == *step);
            let _ = writeln!(
                out,
                "{marker}{}{}",
                line.trim_end(),
                if differs { "  <>" } else { "" }
            );
        }
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
        }
        let s = &self.summary;
        let containers: u32 = self.runs.iter().map(|r| r.containers).sum();
        let _ = writeln!(
            out,
            "summary: {} escaped, {} blocked, {} not-applicable, {} error, {} not-run; {} start failure(s); {} container(s){}",
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
