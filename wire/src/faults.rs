//! The faults the runner injects on request (`--inject-fault`, hidden), so that tests
//! drive the harness's timeout, death and bad-output paths with a real container. One
//! vocabulary for the harness (which validates the flag) and the runner (which acts).

/// One fault, and the step it strikes at where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Stop answering once STEP started.
    Hang(String),
    /// Exit 3 once STEP started.
    Exit(String),
    /// Fork until the pids limit, then hang.
    ForkBomb(String),
    /// Print without end (overlong lines, garbage, verdicts for other steps).
    Flood(String),
    /// Wait 2 s before STEP, then go on (time for a test to act beside the run).
    Pause(String),
    /// Print STEP's start and verdict lines twice, the second verdict contradicting.
    Dup(String),
    /// Print malformed and overlong lines after `hello`.
    Garbage,
    /// Exit 0 before saying anything.
    Silent,
}

/// The forms [`Fault::parse`] accepts, for messages.
pub const FAULTS: &str =
    "hang@STEP, exit@STEP, forkbomb@STEP, flood@STEP, pause@STEP, dup@STEP, garbage or silent";

impl Fault {
    /// Parses `KIND@STEP`, `garbage` or `silent`.
    pub fn parse(text: &str) -> Result<Fault, String> {
        let fault = match text.split_once('@') {
            Some((kind, step)) if !step.is_empty() => {
                let step = step.to_string();
                match kind {
                    "hang" => Fault::Hang(step),
                    "exit" => Fault::Exit(step),
                    "forkbomb" => Fault::ForkBomb(step),
                    "flood" => Fault::Flood(step),
                    "pause" => Fault::Pause(step),
                    "dup" => Fault::Dup(step),
                    _ => return Err(format!("unknown fault {text:?}: expected {FAULTS}")),
                }
            }
            None if text == "garbage" => Fault::Garbage,
            None if text == "silent" => Fault::Silent,
            _ => return Err(format!("unknown fault {text:?}: expected {FAULTS}")),
        };
        Ok(fault)
    }

    /// The step the fault strikes at, if it has one.
    pub fn step(&self) -> Option<&str> {
        match self {
            Fault::Hang(s)
            | Fault::Exit(s)
            | Fault::ForkBomb(s)
            | Fault::Flood(s)
            | Fault::Pause(s)
            | Fault::Dup(s) => Some(s),
            Fault::Garbage | Fault::Silent => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_refuses_the_rest() {
        assert_eq!(
            Fault::parse("hang@spawn.fork"),
            Ok(Fault::Hang("spawn.fork".into()))
        );
        assert_eq!(
            Fault::parse("dup@fs.write-mount@/data"),
            Ok(Fault::Dup("fs.write-mount@/data".into()))
        );
        assert_eq!(Fault::parse("garbage"), Ok(Fault::Garbage));
        assert_eq!(Fault::parse("silent"), Ok(Fault::Silent));
        for bad in ["hang@", "explode@x", "garbage@x", "", "pause"] {
            assert!(Fault::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Fault::parse("exit@a").unwrap().step(), Some("a"));
        assert_eq!(Fault::Silent.step(), None);
    }
}
