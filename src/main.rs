//! The `breakout` binary: parses flags, runs, prints, and maps every outcome to the
//! documented exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode as ProcessExit;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;

use breakout::catalog::CATALOG;
use breakout::cli::{Cli, CliError, Command, Format, ProbesArgs, RunArgs};
use breakout::container::Seccomp;
use breakout::report::{environment::Environment, ExitCode, Report, Subject, Summary};
use breakout::runtime::Runtime;

fn main() -> ProcessExit {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap uses 0 for --help/--version and 2 for usage errors, as we do.
            return ProcessExit::from(e.exit_code() as u8);
        }
    };
    let code = match cli.command {
        Command::Run(args) => run(&args),
        Command::Probes(args) => probes(&args),
    };
    ProcessExit::from(code as u8)
}

fn fail(e: CliError) -> ExitCode {
    eprintln!("breakout: {e}");
    match e {
        CliError::Usage(_) => ExitCode::Usage,
        CliError::Environment(_) => ExitCode::Environment,
    }
}

/// Writes to stdout; a closed pipe (`| head`) is a normal end, not an error.
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

fn probes(args: &ProbesArgs) -> ExitCode {
    match args.format {
        Format::Json => {
            print(&(serde_json::to_string_pretty(CATALOG).expect("catalog serialises") + "\n"))
        }
        Format::Table => {
            let mut text = String::new();
            for p in CATALOG {
                text.push_str(&format!(
                    "{:<18} {:<6} {}\n{:<25} tries: {}\n{:<25} blocked by: {}\n",
                    p.id,
                    p.goal.as_str(),
                    p.technique,
                    "",
                    p.tries,
                    "",
                    p.blocked_by
                ));
            }
            print(&text);
        }
    }
    ExitCode::Clean
}

fn run(args: &RunArgs) -> ExitCode {
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => return fail(e),
    };
    let runtime = match Runtime::lookup(&args.runtime) {
        Ok(r) => r,
        Err(e @ breakout::runtime::RuntimeError::Unknown { .. }) => {
            return fail(CliError::Usage(format!("--runtime: {e}")))
        }
        Err(e) => return fail(CliError::Environment(e.to_string())),
    };
    let environment = Environment::probe();
    if environment.euid != 0 {
        return fail(CliError::Environment(
            "breakout must run as root to start containers (try sudo)".into(),
        ));
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&interrupted));
    }
    let run = match breakout::run::execute(&plan, &runtime, &interrupted) {
        Ok(run) => run,
        Err(e) => return fail(CliError::Environment(e.to_string())),
    };
    let seccomp = match &plan.settings.seccomp {
        Seccomp::None => {
            "none (no profile given: the container runs without a seccomp filter)".to_string()
        }
        Seccomp::Unconfined => "unconfined (no seccomp filter, as requested)".to_string(),
        Seccomp::Profile(path) => path.display().to_string(),
    };
    let runs = vec![run];
    let report = Report {
        schema: breakout::report::REPORT_SCHEMA,
        breakout_version: env!("CARGO_PKG_VERSION"),
        environment,
        subject: Subject {
            seccomp,
            settings: plan.settings.to_json(),
        },
        summary: Summary::of(&runs),
        runs,
        interrupted: interrupted.load(std::sync::atomic::Ordering::Relaxed),
    };
    let color = args.output.is_none() && std::io::stdout().is_terminal();
    let text = match args.format {
        Format::Table => report.to_table(color),
        Format::Json => report.to_json(),
    };
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("breakout: failed to write {}: {e}", path.display());
                return ExitCode::Environment;
            }
        }
        None => print(&text),
    }
    report.exit_code()
}
