//! The probe protocol: what the in-container runner prints and how the harness reads it.
//!
//! # Wire format
//!
//! The runner writes **JSON Lines** on its stdout: one JSON object per line, UTF-8,
//! terminated by `\n`. Every object carries `"v"`, the schema version (currently
//! [`SCHEMA_VERSION`]), and `"event"`, one of the kinds below. This list may expand; a
//! reader skips (and reports) lines it does not understand rather than trusting them.
//!
//! ## `hello`
//! Printed once when a runner starts or resumes.
//! `{"v":1,"event":"hello","nonce":"…","after":null,"pid":1,"uid":0,"gid":0}`
//! `after` is the step the runner resumes after (see below), `null` on a fresh start.
//! A container that never prints `hello` did not start: the harness reports it as a
//! start failure with the runtime's error text, never as "blocked".
//!
//! ## `start`
//! Printed right before a step runs: `{"v":1,"event":"start","step":"fs.write-mount@/scratch"}`.
//! A step is a probe id, or `probe@target` for probes that run once per target (a mount).
//! If the container dies after `start` and before the matching `verdict`, the step
//! killed it (typically a seccomp `SIGSYS`); the harness records that and starts a new
//! container with `--after STEP` so the rest of the suite still runs.
//!
//! ## `verdict`
//! `{"v":1,"event":"verdict","step":"spawn.fork","outcome":"blocked","mechanism":"EPERM","detail":"fork: Operation not permitted","nonce":null}`
//! `outcome` is what the probe itself concluded: `escaped`, `blocked`, `not-applicable`
//! or `error`. `mechanism` names an errno (`EPERM`) or signal (`SIGSYS`) where one
//! decided the outcome. `nonce` is set only by a payload that an exec probe managed to
//! start: it repeats the run's nonce, which the harness takes as a witness.
//!
//! ## `done`
//! `{"v":1,"event":"done"}`: every step ran; the runner exits 0 right after.
//!
//! # Bounds
//! The harness reads at most [`MAX_LINE`] bytes per line; longer lines are cut and
//! reported as malformed.

use serde::{Deserialize, Serialize};

/// Version of the wire format; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Longest line the harness accepts from a container.
pub const MAX_LINE: usize = 16 * 1024;

/// What a probe concluded about its own attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeOutcome {
    Escaped,
    Blocked,
    NotApplicable,
    Error,
}

/// One event as the runner emits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Hello {
        nonce: String,
        after: Option<String>,
        pid: u32,
        uid: u32,
        gid: u32,
    },
    Start {
        step: String,
    },
    Verdict {
        step: String,
        outcome: ProbeOutcome,
        mechanism: Option<String>,
        detail: String,
        nonce: Option<String>,
    },
    Done,
}

/// A line on the wire: the schema version plus the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub v: u32,
    #[serde(flatten)]
    pub event: Event,
}

impl Line {
    pub fn new(event: Event) -> Self {
        Line {
            v: SCHEMA_VERSION,
            event,
        }
    }

    /// Serialises to one line without the trailing newline.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail.
        serde_json::to_string(self).expect("protocol line serialises")
    }
}

/// Why a line from the container was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    #[error("line is not a protocol object: {0}")]
    Malformed(String),
    #[error("unsupported schema version {0} (this harness reads {SCHEMA_VERSION})")]
    Version(u32),
}

/// Parses one line of untrusted container output.
pub fn parse_line(text: &str) -> Result<Event, LineError> {
    #[derive(Deserialize)]
    struct Versioned {
        v: u32,
    }
    let versioned: Versioned =
        serde_json::from_str(text).map_err(|e| LineError::Malformed(e.to_string()))?;
    if versioned.v != SCHEMA_VERSION {
        return Err(LineError::Version(versioned.v));
    }
    let line: Line = serde_json::from_str(text).map_err(|e| LineError::Malformed(e.to_string()))?;
    Ok(line.event)
}

/// What a network probe sends to the canary (one line, over TCP or UDP): the run's
/// nonce and the step, so the harness can tell which probe got through.
pub fn canary_token(nonce: &str, step: &str) -> String {
    format!("{nonce} {step}")
}

/// Splits a step into its probe id and target (`fs.write-mount@/data` -> (`fs.write-mount`, `/data`)).
pub fn split_step(step: &str) -> (&str, Option<&str>) {
    match step.split_once('@') {
        Some((probe, target)) => (probe, Some(target)),
        None => (step, None),
    }
}

/// How the harness starts the runner: the container's argv after the binary path.
///
/// `breakout-probe run --nonce N [--after STEP] [--canary ADDR] [--shell PATH]
/// [--mount DST]... [--fault FAULT] --probes ID,ID,...`
///
/// The payload mode takes the same flags after `payload --step STEP`; an exec probe
/// passes its own invocation on so the payload can continue the suite after that step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invocation {
    /// Secret of this run; a payload that prints it proves an exec succeeded.
    pub nonce: String,
    /// Resume after this step (the previous container died in it).
    pub after: Option<String>,
    /// `IP:PORT` of the harness's canary listener, for network probes.
    pub canary: Option<String>,
    /// Shell to try in `exec.shell`.
    pub shell: Option<String>,
    /// Container paths of the volumes and tmpfs mounts the settings asked for.
    pub mounts: Vec<String>,
    /// Probe ids to run, in order.
    pub probes: Vec<String>,
    /// A fault to inject, for tests of the harness's error paths: `hang@STEP` (stop
    /// answering once STEP started), `exit@STEP` (exit 3 once STEP started),
    /// `forkbomb@STEP` (fork until the pids limit, then hang), `flood@STEP` (print
    /// without end), `garbage` (print malformed and overlong lines after `hello`),
    /// `silent` (exit 0 before saying anything).
    pub fault: Option<String>,
}

impl Invocation {
    /// The flags, without the leading mode word.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["--nonce".to_string(), self.nonce.clone()];
        if let Some(after) = &self.after {
            args.extend(["--after".to_string(), after.clone()]);
        }
        if let Some(canary) = &self.canary {
            args.extend(["--canary".to_string(), canary.clone()]);
        }
        if let Some(shell) = &self.shell {
            args.extend(["--shell".to_string(), shell.clone()]);
        }
        for mount in &self.mounts {
            args.extend(["--mount".to_string(), mount.clone()]);
        }
        if let Some(fault) = &self.fault {
            args.extend(["--fault".to_string(), fault.clone()]);
        }
        args.extend(["--probes".to_string(), self.probes.join(",")]);
        args
    }

    /// Parses the flags written by [`Invocation::to_args`].
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut inv = Invocation::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("flag {flag} needs a value"))
            };
            match flag.as_str() {
                "--nonce" => inv.nonce = value()?,
                "--after" => inv.after = Some(value()?),
                "--canary" => inv.canary = Some(value()?),
                "--shell" => inv.shell = Some(value()?),
                "--mount" => inv.mounts.push(value()?),
                "--fault" => inv.fault = Some(value()?),
                "--probes" => {
                    inv.probes = value()?
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect()
                }
                other => return Err(format!("unknown flag {other}")),
            }
        }
        if inv.nonce.is_empty() {
            return Err("--nonce is required".to_string());
        }
        Ok(inv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_event() {
        let events = [
            Event::Hello {
                nonce: "n".into(),
                after: Some("spawn.fork".into()),
                pid: 1,
                uid: 0,
                gid: 0,
            },
            Event::Start {
                step: "exec.execve".into(),
            },
            Event::Verdict {
                step: "fs.write-mount@/data".into(),
                outcome: ProbeOutcome::NotApplicable,
                mechanism: Some("EROFS".into()),
                detail: "read-only".into(),
                nonce: None,
            },
            Event::Done,
        ];
        for event in events {
            let text = Line::new(event.clone()).to_json();
            assert!(!text.contains('\n'));
            assert_eq!(parse_line(&text).unwrap(), event);
        }
    }

    #[test]
    fn rejects_other_versions_and_garbage() {
        assert_eq!(
            parse_line(r#"{"v":2,"event":"done"}"#),
            Err(LineError::Version(2))
        );
        assert!(matches!(
            parse_line("hello world"),
            Err(LineError::Malformed(_))
        ));
        assert!(matches!(
            parse_line(r#"{"v":1,"event":"explode"}"#),
            Err(LineError::Malformed(_))
        ));
    }

    #[test]
    fn invocation_round_trips() {
        let inv = Invocation {
            nonce: "abc".into(),
            after: Some("exec.execve".into()),
            canary: Some("127.0.0.1:9".into()),
            shell: Some("/bin/sh".into()),
            mounts: vec!["/scratch".into(), "/data".into()],
            probes: vec!["spawn.fork".into(), "exec.execve".into()],
            fault: Some("hang@spawn.fork".into()),
        };
        assert_eq!(Invocation::parse(&inv.to_args()).unwrap(), inv);
        assert!(Invocation::parse(&["--bogus".to_string()]).is_err());
        assert!(Invocation::parse(&[]).is_err());
    }

    #[test]
    fn splits_steps() {
        assert_eq!(split_step("spawn.fork"), ("spawn.fork", None));
        assert_eq!(
            split_step("fs.write-mount@/a@b"),
            ("fs.write-mount", Some("/a@b"))
        );
    }
}
