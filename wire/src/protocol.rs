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
//! `{"v":2,"event":"hello","nonce":"…","after":null,"pid":1,"uid":0,"gid":0}`
//! `after` is the step the runner resumes after (see below), `null` on a fresh start.
//! A container that never prints `hello` did not start: the harness reports it as a
//! start failure with the runtime's error text, never as "blocked".
//!
//! ## `start`
//! Printed right before a step runs: `{"v":2,"event":"start","step":"fs.write-mount@/scratch"}`.
//! A step is a probe id, or `probe@target` for probes that run once per target (a mount).
//! If the container dies after `start` and before the matching `verdict`, the step
//! killed it (typically a seccomp `SIGSYS`); the harness records that and starts a new
//! container with `--after STEP` so the rest of the suite still runs.
//!
//! ## `verdict`
//! `{"v":2,"event":"verdict","step":"spawn.fork","outcome":"blocked","mechanism":"EPERM","detail":"fork: Operation not permitted","nonce":null}`
//! `outcome` is what the probe itself concluded: `escaped`, `blocked`, `not-applicable`
//! or `error`. `mechanism` names an errno (`EPERM`) or signal (`SIGSYS`) where one
//! decided the outcome. `nonce` is set only by a payload that an exec probe managed to
//! start: it repeats the run's nonce, the sign that a new program (ours) took over.
//!
//! ## `handoff`
//! `{"v":2,"event":"handoff","step":"exec.shell"}`: printed by a step that hands the
//! process to a program of the image (the image's shell) right before it does, once a
//! first attempt with a path that does not exist showed that the exec itself is not
//! denied. From here on the process may be the image's: the runner's stdout is moved
//! out of its reach first (the program gets the container's stderr as its stdout), so
//! nothing it prints is read as protocol. If the runner comes back (the exec failed) it
//! prints the step's verdict as usual; if it never does, the image's program ran. The
//! payload such a program may start prints [`HANDOFF_PROOF`] and [`handoff_token`]
//! there, and exits: the harness resumes the suite in a new container.
//!
//! ## `done`
//! `{"v":2,"event":"done"}`: every step ran; the runner exits 0 right after.
//!
//! # Who can write here
//!
//! Only the runner and the payloads it starts itself ever hold the container's stdout:
//! no program of the image runs before a `handoff`, and a handoff moves stdout out of
//! the image's reach before the exec. So every line on stdout is ours, and the harness
//! still takes each step's verdict once, only while that step is in flight.
//!
//! Witnesses that leave the container are made from a secret key the harness gives the
//! runner in the environment ([`KEY_ENV`]; never on the command line, which every local
//! user can read): marker file contents and canary tokens ([`Key::token`]). Nobody
//! without the key (another local user, a program of the image) can make one. The
//! payloads get no key: exec probes pass an empty environment, and no step a payload
//! runs sends one.
//!
//! # Bounds
//! The harness reads at most [`MAX_LINE`] bytes per line; longer lines are cut and
//! reported as malformed.

use serde::{Deserialize, Serialize};

/// Version of the wire format; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// The environment variable that carries the run's key (hex) into the container.
pub const KEY_ENV: &str = "BREAKOUT_KEY";
/// What a payload started by a program of the image prints (to the container's
/// stderr, see `handoff`), followed by [`handoff_token`].
pub const HANDOFF_PROOF: &str = "breakout-handoff-proof";

/// The token a handoff step gives the program of the image, for the payload to print.
/// It need not be secret: only a program that got the process can print it on the
/// container's stderr, and that is what it proves.
pub fn handoff_token(nonce: &str, step: &str) -> String {
    format!("{nonce}@{step}")
}

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
    /// The call's answer could be the kernel's or a filter's, and nothing else could
    /// tell: no claim either way.
    Indeterminate,
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
        /// The route (see [`crate::routes`]) that got through, or that was blocked when
        /// the probe has one route; absent where no route decided the verdict.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        route: Option<String>,
    },
    Handoff {
        step: String,
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

/// What a witness made from the key is for; each purpose gives unrelated tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// What a network probe sends to the canary.
    Canary,
    /// What a file probe writes into its marker.
    Marker,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Canary => "canary",
            Purpose::Marker => "marker",
        }
    }
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A run's secret: 32 random bytes. Only the harness and the runner hold it; see the
/// module docs.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never into a log or a report.
        f.write_str("Key(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Key {
    /// A fresh key from the kernel's random source.
    pub fn random() -> std::io::Result<Key> {
        let mut bytes = [0u8; 32];
        let mut got = 0;
        while got < bytes.len() {
            // SAFETY: the pointer and length describe the unfilled rest of `bytes`.
            let n =
                unsafe { libc::getrandom(bytes[got..].as_mut_ptr().cast(), bytes.len() - got, 0) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            } else {
                got += n as usize;
            }
        }
        Ok(Key(bytes))
    }

    /// The key as the environment carries it.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses [`Key::to_hex`].
    pub fn from_hex(text: &str) -> Option<Key> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, pair) in text.chunks(2).enumerate() {
            let pair = std::str::from_utf8(pair).ok()?;
            bytes[i] = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Key(bytes))
    }

    fn mac(&self) -> HmacSha256 {
        use hmac::Mac;
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes a key of any length")
    }

    /// The witness token of `step` for `purpose`: 32 hex digits no one without the key
    /// can make.
    pub fn token(&self, purpose: Purpose, step: &str) -> String {
        use hmac::Mac;
        let mut mac = self.mac();
        mac.update(purpose.label().as_bytes());
        mac.update(b"\0");
        mac.update(step.as_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }
}

/// What a network probe sends to the canary (one line, over TCP or UDP): a token only
/// the key's holders can make, so that no one else can pass for a probe.
pub fn canary_token(key: &Key, step: &str) -> String {
    key.token(Purpose::Canary, step)
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
    /// This run's unique label: it names the files probes leave, so that nothing of
    /// another run is taken for ours. It is not secret (it is on the command line);
    /// what proves an effect is made from the key ([`KEY_ENV`]).
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
    /// `pause@STEP` (wait 2 s before STEP, then go on), `dup@STEP` (print STEP's
    /// start and verdict lines twice, the second verdict contradicting the first),
    /// `forkbomb@STEP` (fork until the pids limit, then hang), `flood@STEP` (print
    /// without end), `garbage` (print malformed and overlong lines after `hello`),
    /// `silent` (exit 0 before saying anything).
    pub fault: Option<String>,
    /// The sandbox kernel that serves the container's system calls (`gVisor`), when
    /// it is not the host's: probes then say what they reached is that kernel's.
    pub sandbox: Option<String>,
    /// After `done`, the runner stays until its stdin is closed: the harness reads the
    /// runner's state on the host (its namespaces) while it still exists.
    pub hold: bool,
    /// The namespaces the harness runs in, as their `/proc/self/ns` links name them
    /// (`pid:[4026531836]`): `host.*-namespace` probes compare their own with these.
    pub host_namespaces: Vec<String>,
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
        if let Some(sandbox) = &self.sandbox {
            args.extend(["--sandbox".to_string(), sandbox.clone()]);
        }
        if self.hold {
            args.push("--hold".to_string());
        }
        for link in &self.host_namespaces {
            args.extend(["--host-ns".to_string(), link.clone()]);
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
                "--sandbox" => inv.sandbox = Some(value()?),
                "--hold" => inv.hold = true,
                "--host-ns" => inv.host_namespaces.push(value()?),
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
                route: Some("openat(O_CREAT) on the mount".into()),
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
            parse_line(r#"{"v":1,"event":"done"}"#),
            Err(LineError::Version(1))
        );
        assert!(matches!(
            parse_line("hello world"),
            Err(LineError::Malformed(_))
        ));
        assert!(matches!(
            parse_line(r#"{"v":2,"event":"explode"}"#),
            Err(LineError::Malformed(_))
        ));
    }

    #[test]
    fn tokens_need_the_key() {
        let key = Key::random().unwrap();
        let other = Key::random().unwrap();
        assert_ne!(key, other);
        assert_eq!(Key::from_hex(&key.to_hex()), Some(key.clone()));
        assert!(Key::from_hex("zz").is_none());
        assert!(Key::from_hex(&"g".repeat(64)).is_none());
        // Tokens differ by purpose, step and key, and are stable.
        let t = key.token(Purpose::Canary, "net.udp-send");
        assert_eq!(t, key.token(Purpose::Canary, "net.udp-send"));
        assert_eq!(t.len(), 32);
        assert_ne!(t, key.token(Purpose::Marker, "net.udp-send"));
        assert_ne!(t, key.token(Purpose::Canary, "net.tcp-connect"));
        assert_ne!(t, other.token(Purpose::Canary, "net.udp-send"));
        assert_eq!(format!("{key:?}"), "Key(..)");
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
            sandbox: Some("gVisor".into()),
            hold: true,
            host_namespaces: vec!["pid:[4026531836]".into(), "uts:[4026531838]".into()],
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
