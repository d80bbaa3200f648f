//! The process exit code: a documented API (README, "Exit codes"), decided here once
//! for every command from what it found: `run`, `compare` and `test` from their
//! results, every command from whether it could do its job at all.

/// The process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Nothing escaped and every expectation was met.
    Clean = 0,
    /// An escape, or a mismatch with expectations.
    Escaped = 1,
    /// Bad input or usage.
    Usage = 2,
    /// The environment cannot run this: runtime missing, not root, unsupported kernel.
    Environment = 3,
    /// A container could not start where starting was expected.
    StartFailure = 4,
    /// Interrupted by SIGINT/SIGTERM (the shell convention, 128 + SIGINT).
    Interrupted = 130,
}

/// A command that could not do its job, by whose fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unable {
    /// The input's: a bad flag, an invalid profile or scenario.
    Usage,
    /// The host's: not root, no runtime, a file that cannot be written.
    Environment,
}

/// What a command found, as far as its exit code is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Findings {
    /// The command could not do its job; nothing else it found counts then.
    pub unable: Option<Unable>,
    /// Cut short by SIGINT/SIGTERM.
    pub interrupted: bool,
    /// Compared with a baseline: whether anything got worse. A baseline turns the
    /// verdict into changes, so known escapes no longer fail the command.
    pub baseline_worse: Option<bool>,
    /// Something escaped, or a verdict did not meet its scenario.
    pub escaped_or_mismatch: bool,
    /// A container that should have started did not.
    pub start_failure: bool,
    /// There was something to run, but every part of it was skipped on this host.
    pub nothing_ran: bool,
}

impl Findings {
    /// A command that could not do its job.
    pub fn unable(why: Unable) -> Findings {
        Findings {
            unable: Some(why),
            ..Findings::default()
        }
    }
}

/// The exit code for what a command found: a command unable to do its job first (it
/// has no results), then interrupted (the results are partial), then a baseline's
/// judgement, then escapes and mismatches, which take precedence over start failures
/// because they are what the user must act on first.
pub fn decide(found: &Findings) -> ExitCode {
    match found.unable {
        Some(Unable::Usage) => return ExitCode::Usage,
        Some(Unable::Environment) => return ExitCode::Environment,
        None => {}
    }
    if found.interrupted {
        return ExitCode::Interrupted;
    }
    if let Some(worse) = found.baseline_worse {
        return if worse {
            ExitCode::Escaped
        } else {
            ExitCode::Clean
        };
    }
    if found.escaped_or_mismatch {
        ExitCode::Escaped
    } else if found.start_failure {
        ExitCode::StartFailure
    } else if found.nothing_ran {
        ExitCode::Environment
    } else {
        ExitCode::Clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_table() {
        let none = Findings::default();
        let esc = Findings {
            escaped_or_mismatch: true,
            ..none
        };
        let start = Findings {
            start_failure: true,
            ..none
        };
        let skipped = Findings {
            nothing_ran: true,
            ..none
        };
        let all = Findings {
            unable: None,
            interrupted: false,
            baseline_worse: None,
            escaped_or_mismatch: true,
            start_failure: true,
            nothing_ran: true,
        };
        let cases: &[(&str, Findings, ExitCode)] = &[
            ("nothing found", none, ExitCode::Clean),
            ("an escape", esc, ExitCode::Escaped),
            ("a start failure", start, ExitCode::StartFailure),
            ("everything skipped", skipped, ExitCode::Environment),
            (
                "1 takes precedence over 4",
                Findings {
                    start_failure: true,
                    ..esc
                },
                ExitCode::Escaped,
            ),
            (
                "4 over everything skipped",
                Findings {
                    nothing_ran: true,
                    ..start
                },
                ExitCode::StartFailure,
            ),
            ("all of them", all, ExitCode::Escaped),
            (
                "interrupted over everything",
                Findings {
                    interrupted: true,
                    baseline_worse: Some(true),
                    ..all
                },
                ExitCode::Interrupted,
            ),
            (
                "a baseline with nothing worse forgives known escapes",
                Findings {
                    baseline_worse: Some(false),
                    ..all
                },
                ExitCode::Clean,
            ),
            (
                "bad input over everything",
                Findings {
                    unable: Some(Unable::Usage),
                    interrupted: true,
                    ..all
                },
                ExitCode::Usage,
            ),
            (
                "an unfit host over everything",
                Findings::unable(Unable::Environment),
                ExitCode::Environment,
            ),
            (
                "a baseline with something worse",
                Findings {
                    baseline_worse: Some(true),
                    ..none
                },
                ExitCode::Escaped,
            ),
        ];
        for (what, found, code) in cases {
            assert_eq!(decide(found), *code, "{what}");
        }
    }

    #[test]
    fn codes_are_the_documented_numbers() {
        let codes = [
            ExitCode::Clean,
            ExitCode::Escaped,
            ExitCode::Usage,
            ExitCode::Environment,
            ExitCode::StartFailure,
            ExitCode::Interrupted,
        ]
        .map(|c| c as u8);
        assert_eq!(codes, [0, 1, 2, 3, 4, 130]);
    }
}
