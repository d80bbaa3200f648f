//! The workload: the application the sandbox is for, run in a container under exactly
//! the probes' sandbox, and whether it still works there. A profile that holds every
//! escape but breaks the application is an outage; a run passes only when both hold.
//!
//! A job works when it exits 0 before its deadline. A service works when, while it
//! still runs, its check (`--workload-check`, run inside the container by the
//! runtime's `exec`, as a kubelet's exec probe is) exits 0 before the deadline. When it
//! fails, the report names what stopped it where breakout can tell: the call the
//! runtime's start needs and the profile denies (the start prediction), or the calls
//! the filter stopped (a traced re-run).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::predict::source::Place;

/// What to run, and how to tell it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// The container's argv.
    pub command: Vec<String>,
    /// Run inside the container beside a service; exit 0 is an answer.
    pub check: Option<Vec<String>>,
    /// A job's time to end; a service's time to answer.
    pub deadline: Duration,
}

/// The default deadline.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Whether the workload is a job (it ends) or a service (it answers its check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Job,
    Service,
}

/// Whether it worked: also what a scenario expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Works,
    Fails,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Works => "works",
            Status::Fails => "fails",
        }
    }
}

/// A call the filter stopped (or, for a start, would stop), and the rule that did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stopped {
    pub syscall: String,
    /// `x86_64`, `i386`, `x32`.
    pub arch: String,
    /// The filter's answer (`errno(EPERM)`, `kill`).
    pub action: String,
    /// The rule, in words.
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    /// How breakout knows: `start-prediction` or `traced-rerun`.
    pub found_by: &'static str,
}

/// How the workload did under one runtime.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadReport {
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<Vec<String>>,
    pub kind: Kind,
    pub status: Status,
    /// One line on why.
    pub why: String,
    /// How the container's process ended, if it did (`0`, `1`, `SIGSYS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<String>,
    pub millis: u64,
    /// The check's runs, and what the last one printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_runs: Option<u32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub check_output: String,
    /// The end of what the workload printed (sanitized: it is the image's output).
    pub stdout_tail: String,
    pub stderr_tail: String,
    /// What the filter stopped, where breakout found it.
    pub stopped: Vec<Stopped>,
}

impl WorkloadReport {
    /// `works (job, exit 0 in 0.4 s)`, for tables.
    pub fn summary(&self) -> String {
        let kind = match self.kind {
            Kind::Job => "job",
            Kind::Service => "service",
        };
        format!("{} ({kind}): {}", self.status.as_str(), self.why)
    }
}

/// `--workload-check`'s one string as an argv, split as a shell would (quotes,
/// escapes), with no shell run.
pub fn parse_check(text: &str) -> Result<Vec<String>, String> {
    let argv = shell_words::split(text)
        .map_err(|e| format!("--workload-check {text:?}: {e} (quote it as a shell would)"))?;
    if argv.is_empty() {
        return Err(
            "--workload-check is empty: give a command, like 'wget -q -O- http://127.0.0.1:8080/'"
                .to_string(),
        );
    }
    Ok(argv)
}

/// The workload's command: the one given, else the image's entrypoint and command.
pub fn command_of(
    given: &[String],
    image: Option<&crate::image::RunConfig>,
) -> Result<Vec<String>, String> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let Some(config) = image else {
        return Err("--workload needs a command: the image's (--image REF) or one after --, like `--workload -- /bin/sh -c 'echo ok'`".to_string());
    };
    let mut argv: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    argv.extend(config.cmd.clone().unwrap_or_default());
    if argv.is_empty() {
        return Err(
            "--workload: the image has no entrypoint or command; give one after --".to_string(),
        );
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_split_as_a_shell_would() {
        assert_eq!(
            parse_check("wget -q -O- 'http://127.0.0.1:8080/a b'").unwrap(),
            ["wget", "-q", "-O-", "http://127.0.0.1:8080/a b"]
        );
        assert!(parse_check("echo 'unclosed").is_err());
        assert!(parse_check("  ").is_err());
    }

    #[test]
    fn the_command_is_the_given_one_else_the_images() {
        let given = vec!["/bin/true".to_string()];
        assert_eq!(command_of(&given, None).unwrap(), given);
        assert!(command_of(&[], None).unwrap_err().contains("--image"));
    }
}
