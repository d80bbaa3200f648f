//! The `breakout` binary: parses flags, runs, prints, and maps every outcome to the
//! documented exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode as ProcessExit;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;

use breakout::cli::{
    CheckArgs, CleanArgs, Cli, CliError, Command, DiffArgs, DoctorArgs, Format, HardenArgs,
    ProbesArgs, RecordArgs, RunArgs,
};
use breakout::container::Seccomp;
use breakout::report::event::Sink;
use breakout::report::exit::{self, Findings, Unable};
use breakout::report::{self, environment::Environment, ExitCode, Subject};
use breakout::runtime::{split_runtime_args, Runtime, RuntimeError, RUNTIMES};

fn main() -> ProcessExit {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap uses 0 for --help/--version and 2 for usage errors, as we do.
            return ProcessExit::from(e.exit_code() as u8);
        }
    };
    // Commands that start containers first clean up after breakout processes that died,
    // then fork the reaper that cleans up after this one if it dies (before any thread
    // exists: see `ledger::start_reaper`).
    let starts_containers = matches!(
        cli.command,
        Command::Run(_)
            | Command::Compare(_)
            | Command::Test(_)
            | Command::Harden(_)
            | Command::Record(_)
    );
    let reaper = if starts_containers {
        breakout::ledger::sweep_dead();
        breakout::ledger::start_reaper()
    } else {
        None
    };
    let code = match cli.command {
        Command::Clean(args) => clean(&args),
        Command::Run(args) => run(&args, Mode::Run),
        Command::Compare(args) => run(&args, Mode::Compare),
        Command::Doctor(args) => doctor(&args),
        Command::Test(args) => match breakout::suite::run_cli(&args) {
            Ok(code) => code,
            Err(e) => fail(e),
        },
        Command::Check(args) => check(&args),
        Command::Diff(args) => diff(&args),
        Command::AbiCheck { abi } => exit::decide(&Findings {
            unable: (!breakout::doctor::abi_check(&abi)).then_some(Unable::Environment),
            ..Findings::default()
        }),
        Command::Probes(args) => probes(&args),
        Command::Harden(args) => harden(&args),
        Command::Record(args) => record(&args),
    };
    if let Some(reaper) = reaper {
        reaper.finish();
    }
    ProcessExit::from(code as u8)
}

fn clean(args: &CleanArgs) -> ExitCode {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return fail(CliError::Environment(
            "clean needs root: what breakout leaves behind is root's".into(),
        ));
    }
    let swept = breakout::ledger::sweep_dead();
    emit(breakout::report::listing::swept(
        &swept,
        format(args.format),
    ))
}

fn fail(e: CliError) -> ExitCode {
    eprintln!("breakout: {e}");
    exit::decide(&Findings::unable(match e {
        CliError::Usage(_) => Unable::Usage,
        CliError::Environment(_) => Unable::Environment,
    }))
}

/// Writes to stdout; a closed pipe (`| head`) is a normal end, not an error.
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// Prints what a static command (`check`, `diff`) made, with its exit code.
fn printed(made: Result<(String, ExitCode), CliError>) -> ExitCode {
    match made {
        Ok((text, code)) => {
            print(&text);
            code
        }
        Err(e) => fail(e),
    }
}

fn check(args: &CheckArgs) -> ExitCode {
    printed(breakout::check::run(
        &args.files,
        args.format,
        breakout::cli::reading(args.strict),
    ))
}

fn diff(args: &DiffArgs) -> ExitCode {
    printed(breakout::diff::run(
        &args.a,
        &args.b,
        &args.runtime,
        args.format,
        breakout::cli::reading(args.strict),
    ))
}

fn doctor(args: &DoctorArgs) -> ExitCode {
    let found = breakout::doctor::examine();
    match emit(found.render(format(args.format))) {
        // The findings are printed either way; a host not ready is the exit code's.
        ExitCode::Clean => exit::decide(&Findings {
            unable: (!found.ready()).then_some(Unable::Environment),
            ..Findings::default()
        }),
        code => code,
    }
}

fn probes(args: &ProbesArgs) -> ExitCode {
    emit(breakout::report::listing::catalog(format(args.format)))
}

/// The report format a `--format` flag asks for.
fn format(flag: Format) -> report::Format {
    match flag {
        Format::Table => report::Format::Table,
        Format::Json => report::Format::Json,
    }
}

/// Prints a rendering; a format the command cannot render is a usage error (the flags
/// only offer what each command renders, so this does not happen from the CLI).
fn emit(text: Result<String, report::format::Unsupported>) -> ExitCode {
    match text {
        Ok(text) => {
            print(&text);
            exit::decide(&Findings::default())
        }
        Err(e) => fail(CliError::Usage(e.to_string())),
    }
}

/// `run` starts runc unless told otherwise; `compare` every installed runtime.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Run,
    Compare,
}

/// The runtimes asked for, looked up: whether each can start containers here is
/// [`usable`]'s to say, once it is known that we are root.
fn runtimes(args: &RunArgs, mode: Mode) -> Result<Vec<Runtime>, CliError> {
    let specs = split_runtime_args(&args.runtime);
    if specs.is_empty() {
        return match mode {
            Mode::Run => Runtime::lookup("runc")
                .map(|r| vec![r])
                .map_err(|e| CliError::Environment(e.to_string())),
            Mode::Compare => Ok(Runtime::installed()),
        };
    }
    specs
        .iter()
        .map(|spec| {
            Runtime::lookup(spec).map_err(|e| match e {
                RuntimeError::NotInstalled { .. } => CliError::Environment(e.to_string()),
                _ => CliError::Usage(format!("--runtime: {e}")),
            })
        })
        .collect()
}

/// Fails unless we are root: what starts containers mounts, makes network namespaces
/// and talks to root's engines, and fails on each of them otherwise, in words that do
/// not say so.
fn require_root() -> Result<(), CliError> {
    if rustix::process::geteuid().is_root() {
        Ok(())
    } else {
        Err(CliError::Environment(format!(
            "{}; try sudo",
            breakout::hint::ROOT
        )))
    }
}

/// The runtimes that can start containers here. One asked for by name that cannot (an
/// engine CLI without an engine, crun on hybrid cgroups) is the host's problem (exit
/// 3), said before anything starts, not a start failure; `compare` without
/// `--runtime` leaves it out and names it.
fn usable(args: &RunArgs, mode: Mode, runtimes: Vec<Runtime>) -> Result<Vec<Runtime>, CliError> {
    let leave_out = mode == Mode::Compare && split_runtime_args(&args.runtime).is_empty();
    if !leave_out {
        for runtime in &runtimes {
            if let Some(problem) = breakout::runtime::diagnose::runtime_problem(runtime) {
                return Err(CliError::Environment(format!(
                    "{} cannot start containers here: {problem}",
                    runtime.name
                )));
            }
        }
        return Ok(runtimes);
    }
    let installed: Vec<Runtime> = runtimes
        .into_iter()
        .filter(
            |rt| match breakout::runtime::diagnose::runtime_problem(rt) {
                Some(problem) => {
                    eprintln!("breakout: compare leaves out {}: {problem}", rt.name);
                    false
                }
                None => true,
            },
        )
        .collect();
    if installed.is_empty() {
        Err(CliError::Environment(format!(
            "no runtime installed (known: {})",
            RUNTIMES
                .iter()
                .map(|k| k.name)
                .collect::<Vec<_>>()
                .join(", ")
        )))
    } else {
        Ok(installed)
    }
}

/// `network_given`: whether `--network` was given (the default bridge is left out of a
/// bundle with a word; a bridge asked for is refused).
fn emit_bundle(plan: &breakout::run::Plan, dir: &std::path::Path, network_given: bool) -> ExitCode {
    let usage = |problem: &str| {
        fail(CliError::Usage(format!(
            "--emit-bundle {}: {problem}",
            dir.display()
        )))
    };
    if plan.settings.rootfs.is_some() {
        return usage("works with the default rootfs only (--rootfs and --image are used through an overlay the harness mounts for each run)");
    }
    let mut plan = plan.clone();
    if plan.settings.network == breakout::container::Network::Bridge {
        if network_given {
            return usage("--network bridge needs the namespaces the harness makes for each run; use none or host");
        }
        eprintln!("breakout: the bundle's network is none: the default bridge needs the namespaces the harness makes for each run (--network host for the host's)");
        plan.settings.network = breakout::container::Network::None;
    }
    let plan = &plan;
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return usage("the directory is not empty");
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return usage(&e.to_string()),
    }
    match breakout::run::emit_bundle(plan, dir) {
        Ok(canary) => {
            eprintln!(
                "breakout: wrote the bundle to {} (config.json, rootfs/); start it with",
                dir.display()
            );
            eprintln!("  runc run --bundle {} breakout-by-hand", dir.display());
            if let Some(addr) = canary {
                eprintln!("breakout: nothing listens at the canary address the net probes were given ({addr})");
            }
            exit::decide(&Findings::default())
        }
        Err(e) => fail(CliError::Environment(e.to_string())),
    }
}

/// `--pod`: the manifest's settings in place of the flags, and its runtime class's
/// runtime where no `--runtime` is given. The returned directory holds a profile the
/// manifest asked for (RuntimeDefault) and is removed when it drops.
fn apply_pod(args: &mut RunArgs) -> Result<Option<breakout::bundle::PrivateDir>, CliError> {
    let Some(pod_file) = args.pod.clone() else {
        return Ok(None);
    };
    let given = args.profile.is_some()
        || !args.security_opt.is_empty()
        || !args.cap_add.is_empty()
        || !args.cap_drop.is_empty()
        || args.read_only
        || !args.volume.is_empty()
        || !args.tmpfs.is_empty()
        || args.user.is_some()
        || args.network.is_some()
        || args.privileged
        || args.pid.is_some()
        || args.ipc.is_some()
        || !args.sysctl.is_empty()
        || args.memory.is_some();
    if given {
        return Err(CliError::Usage(
            "--pod takes the container's settings from the manifest: leave out the container-setting flags (--profile, --security-opt, --cap-*, --read-only, -v, --tmpfs, --user, --network, --privileged, --pid, --ipc, --sysctl, --memory)".into(),
        ));
    }
    let scratch = breakout::bundle::PrivateDir::create("pod")
        .map_err(|e| CliError::Environment(e.to_string()))?;
    let input = breakout::kube::load(&pod_file, args.container.as_deref())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let options = breakout::kube::map::Options {
        seccomp_root: args.seccomp_root.clone(),
        runtime_classes: args.runtime_class.clone(),
    };
    let mapped =
        breakout::kube::map::map(&input, &options).map_err(|e| CliError::Usage(e.to_string()))?;
    let s = mapped.settings;
    args.profile = s.profile;
    if mapped.runtime_default {
        let path = scratch.path().join("runtime-default.json");
        std::fs::write(&path, breakout::kube::map::RUNTIME_DEFAULT_PROFILE)
            .map_err(|e| CliError::Environment(format!("cannot write {}: {e}", path.display())))?;
        args.profile = Some(path);
    }
    args.security_opt = s.security_opts;
    args.cap_add = s.cap_add;
    args.cap_drop = s.cap_drop;
    args.read_only = s.read_only;
    args.volume = s.volumes;
    args.tmpfs = s.tmpfs;
    args.user = s.user;
    args.network = s.network;
    args.privileged = s.run_flags.privileged;
    args.pid = s.run_flags.pid;
    args.ipc = s.run_flags.ipc;
    args.sysctl = s.run_flags.sysctls;
    args.memory = s.run_flags.memory;
    if args.runtime.is_empty() {
        args.runtime.extend(mapped.runtime);
    }
    args.pod_notes = std::iter::once(format!(
        "--pod {}: {} container {:?}",
        pod_file.display(),
        input.source,
        input.container.name
    ))
    .chain(mapped.notes)
    .collect();
    Ok(Some(scratch))
}

/// One recorded run of the plan's workload, joined into `recording`: traced by
/// breakout under runc or crun, by gVisor's own --strace under runsc. How it ended.
fn record_once(
    plan: &breakout::run::Plan,
    runtime: &Runtime,
    recording: &mut breakout::record::Recording,
) -> Result<String, CliError> {
    if runtime.kind.sandbox_kernel.is_some() {
        let never = AtomicBool::new(false);
        return match breakout::run::record_workload_gvisor(plan, runtime, &never) {
            Ok(Some((report, log))) => {
                recording.add_gvisor_strace(&log);
                Ok(format!(
                    "gVisor's --strace; the workload {}",
                    report.summary()
                ))
            }
            Ok(None) => Err(CliError::Usage(format!(
                "record cannot trace under {}",
                runtime.name
            ))),
            Err(e) => Err(CliError::Environment(e.to_string())),
        };
    }
    let traced = match breakout::run::record_workload(plan, runtime) {
        Ok(Some(Ok(traced))) => traced,
        Ok(Some(Err(e))) => return Err(CliError::Environment(format!("record: failed to {e}"))),
        Ok(None) => {
            return Err(CliError::Usage(format!(
                "record traces under runc, crun or runsc: {} is an engine, whose runtime is not breakout's to trace",
                runtime.name
            )))
        }
        Err(e) => return Err(CliError::Environment(e.to_string())),
    };
    let ended = if traced.timed_out {
        "stopped at its deadline".to_string()
    } else {
        match traced.exit.code() {
            Some(0) => "exited 0".to_string(),
            Some(code) => format!("exited {code}: the recording holds what it called until then"),
            None => "ended by a signal".to_string(),
        }
    };
    recording.add(&traced);
    Ok(format!(
        "{} calls traced ({} distinct), the workload {ended}",
        traced.calls.len() as u64 + traced.calls_dropped,
        traced.summary.len()
    ))
}

/// The one runtime `record` and `harden` work under (what a workload calls differs by
/// runtime); we must be root before it is asked whether it can start containers here.
fn one_runtime_as_root(args: &RunArgs, command: &str) -> Result<Runtime, CliError> {
    let runtimes = runtimes(args, Mode::Run)?;
    if runtimes.len() != 1 {
        return Err(CliError::Usage(format!(
            "{command} works under one runtime: give one --runtime (what a workload calls differs by runtime)"
        )));
    }
    require_root()?;
    Ok(usable(args, Mode::Run, runtimes)?.remove(0))
}

/// `record`: trace the workload's calls under one runtime, write the profile, then run
/// the probes and the workload under it (that run's exit code is the command's).
fn record(args: &RecordArgs) -> ExitCode {
    use breakout::record::Recording;
    let mut run_args = args.run.clone();
    let _pod_dir = match apply_pod(&mut run_args) {
        Ok(dir) => dir,
        Err(e) => return fail(e),
    };
    if !run_args.workload {
        return fail(CliError::Usage(
            "record needs the workload to record: --workload (the image's entrypoint and command) or --workload -- CMD".into(),
        ));
    }
    if run_args.profile.is_some() {
        return fail(CliError::Usage(
            "record writes the profile (--write-profile): leave out --profile; record --merge joins a profile record wrote before".into(),
        ));
    }
    let merged = if args.merge && args.write_profile.exists() {
        let text = match std::fs::read_to_string(&args.write_profile) {
            Ok(text) => text,
            Err(e) => {
                return fail(CliError::Usage(format!(
                    "--merge: cannot read {}: {e}",
                    args.write_profile.display()
                )))
            }
        };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(profile) => Some(Recording::from_profile(&profile)),
            Err(e) => {
                return fail(CliError::Usage(format!(
                    "--merge: {} is not a profile record wrote: {e}",
                    args.write_profile.display()
                )))
            }
        }
    } else {
        None
    };
    let dir = match breakout::bundle::PrivateDir::create("record") {
        Ok(dir) => dir,
        Err(e) => return fail(CliError::Environment(e.to_string())),
    };
    let tracing = dir.path().join("trace-everything.json");
    if let Err(e) = std::fs::write(&tracing, breakout::record::recording_profile().to_string()) {
        return fail(CliError::Environment(format!(
            "cannot write {}: {e}",
            tracing.display()
        )));
    }
    let runtime = match one_runtime_as_root(&run_args, "record") {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let runtime = &runtime;
    let gvisor = runtime.kind.sandbox_kernel.is_some();
    let mut recording_args = run_args.clone();
    // Under gVisor its own --strace reports the calls, and no filter is wanted.
    recording_args.profile = (!gvisor).then_some(tracing);
    let plan = match recording_args.plan() {
        Ok(plan) => plan,
        Err(e) => return fail(e),
    };
    let mut recording = Recording::default();
    for n in 1..=args.runs {
        match record_once(&plan, runtime, &mut recording) {
            Ok(ended) => eprintln!("record: run {n}: {ended}"),
            Err(e) => return fail(e),
        }
    }
    // A service's check runs beside it by the runtime's exec, under the same filter:
    // its calls go into the profile too, recorded as a job of its own (a host tracer
    // does not follow an exec the runtime makes).
    if let Some(check) = plan.workload.as_ref().and_then(|w| w.check.clone()) {
        let mut check_plan = plan.clone();
        check_plan.workload = Some(breakout::workload::Workload {
            command: check,
            check: None,
            deadline: std::time::Duration::from_secs(10),
        });
        match record_once(&check_plan, runtime, &mut recording) {
            Ok(ended) => eprintln!("record: the check, on its own: {ended}"),
            Err(e) => return fail(e),
        }
    }
    if let Some(before) = merged {
        recording.join(before);
    }
    // gVisor applies the profile to the application alone, after its own start.
    let needs = if gvisor {
        Vec::new()
    } else {
        breakout::profile::runtime_start_needs(runtime.kind.name)
    };
    let profile = recording.profile(&needs);
    let text = serde_json::to_string_pretty(&profile).expect("a JSON value serialises") + "\n";
    if let Err(e) = std::fs::write(&args.write_profile, text) {
        return fail(CliError::Environment(format!(
            "cannot write {}: {e}",
            args.write_profile.display()
        )));
    }
    print(&breakout::record::summary(
        &recording,
        runtime.name.as_str(),
        &args.write_profile,
    ));
    if args.no_verify {
        return ExitCode::Clean;
    }
    let mut verify = run_args.clone();
    verify.profile = Some(args.write_profile.clone());
    verify.pod = None;
    run(&verify, Mode::Run)
}

/// `harden`: close what the workload lets be closed, write the profile, then run the
/// probes and the workload under it (that run's exit code is the command's).
fn harden(args: &HardenArgs) -> ExitCode {
    let mut run_args = args.run.clone();
    let _pod_dir = match apply_pod(&mut run_args) {
        Ok(dir) => dir,
        Err(e) => return fail(e),
    };
    if !run_args.workload {
        return fail(CliError::Usage(
            "harden needs the workload it must keep working: --workload (the image's entrypoint and command) or --workload -- CMD".into(),
        ));
    }
    // Docker's default where no profile is given: the one most containers run under.
    let default_dir = match run_args.profile {
        Some(_) => None,
        None => {
            let dir = match breakout::bundle::PrivateDir::create("harden-from") {
                Ok(dir) => dir,
                Err(e) => return fail(CliError::Environment(e.to_string())),
            };
            let path = dir.path().join("docker-default.json");
            if let Err(e) = std::fs::write(&path, breakout::kube::map::RUNTIME_DEFAULT_PROFILE) {
                return fail(CliError::Environment(format!(
                    "cannot write {}: {e}",
                    path.display()
                )));
            }
            run_args.profile = Some(path);
            Some(dir)
        }
    };
    let from = run_args.profile.clone().expect("a profile to start from");
    let base = match run_args.plan() {
        Ok(plan) => plan,
        Err(e) => return fail(e),
    };
    let runtime = match one_runtime_as_root(&run_args, "harden") {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let runtime = &runtime;
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&interrupted));
    }
    let plan_for =
        |file: &std::path::Path| -> Result<breakout::run::Plan, breakout::harden::HardenError> {
            let mut raw = run_args.raw_settings();
            raw.profile = Some(file.to_path_buf());
            let mut plan = breakout::run::Plan::build(
                &raw,
                &[],
                run_args.timeout,
                breakout::cli::reading(false),
                || Ok(base.probe_bin.clone()),
            )
            .map_err(|e| breakout::harden::HardenError::Usage(e.to_string()))?;
            plan.workload = base.workload.clone();
            Ok(plan)
        };
    let told = |a: &breakout::harden::Attempt| match &a.needed_by {
        None => eprintln!(
            "harden: {} denied (for {}: {})",
            a.closes, a.for_probe, a.route
        ),
        Some(why) => eprintln!(
            "harden: {} stays allowed (for {}): needed by {}",
            a.closes,
            a.for_probe,
            breakout::sanitize::untrusted(why)
        ),
    };
    let inputs = breakout::harden::Inputs {
        plan_for: &plan_for,
        runtime,
        from: &from,
        write_to: &args.write_profile,
        interrupted: &interrupted,
        told: &told,
    };
    let hardened = match breakout::harden::harden(&inputs) {
        Ok(h) => h,
        Err(breakout::harden::HardenError::Usage(m)) => return fail(CliError::Usage(m)),
        Err(e) => return fail(CliError::Environment(e.to_string())),
    };
    drop(default_dir);
    print(&breakout::harden::summary(&hardened));
    // What the hardened profile holds, and that the workload works under it.
    let mut verify = run_args.clone();
    verify.profile = Some(hardened.written.clone());
    verify.pod = None;
    run(&verify, Mode::Run)
}

fn run(args: &RunArgs, mode: Mode) -> ExitCode {
    let mut args = args.clone();
    let _pod_dir = match apply_pod(&mut args) {
        Ok(dir) => dir,
        Err(e) => return fail(e),
    };
    let args = &args;
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => return fail(e),
    };
    if let Some(dir) = &args.emit_bundle {
        return emit_bundle(&plan, dir, args.network.is_some());
    }
    if let Some(image) = &plan.settings.image {
        eprintln!("breakout: {}", image.summary());
    }
    let runtimes = match runtimes(args, mode) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if plan.settings.flags.private_userns {
        if let Some(rt) = runtimes.iter().find(|r| !r.kind.userns_per_container) {
            return fail(CliError::Usage(format!(
                "--userns private: {} takes a user namespace from its daemon's userns-remap only, not per container",
                rt.name
            )));
        }
    }
    if let Err(e) = require_root() {
        return fail(e);
    }
    let runtimes = match usable(args, mode, runtimes) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let environment = Environment::probe();
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&interrupted));
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let show_progress = args.format == Format::Table
        && args.output.is_none()
        && std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal();
    // The run's events feed the terminal (bars, notes) and the report, as they happen.
    let bars = breakout::progress::Bars::new(show_progress);
    let runs = report::collect::Runs::default();
    let sink: [&dyn Sink; 2] = [&bars, &runs];
    if let Err(e) = breakout::run::run_matrix(&plan, &runtimes, jobs, &interrupted, &sink) {
        return fail(CliError::Environment(e.to_string()));
    }
    drop(bars);
    let seccomp = match &plan.settings.seccomp {
        Seccomp::None => {
            "none (no profile given: the container runs without a seccomp filter)".to_string()
        }
        Seccomp::Unconfined => "unconfined (no seccomp filter, as requested)".to_string(),
        Seccomp::Profile(path) => path.display().to_string(),
    };
    let report = runs.into_report(
        environment,
        Subject {
            seccomp,
            network: plan.settings.network.describe().to_string(),
            settings: plan.settings.to_json(),
            profile_warnings: plan.profile_warnings.clone(),
        },
    );
    let color = args.output.is_none() && std::io::stdout().is_terminal();
    let text = match report.render(format(args.format), color) {
        Ok(text) => text,
        Err(e) => return fail(CliError::Usage(e.to_string())),
    };
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                return fail(CliError::Environment(format!(
                    "failed to write {}: {e}",
                    path.display()
                )));
            }
        }
        None => print(&text),
    }
    if let Some(path) = &args.html {
        let page = match report.render(report::Format::Html, false) {
            Ok(page) => page,
            Err(e) => return fail(CliError::Usage(e.to_string())),
        };
        if let Err(e) = std::fs::write(path, page) {
            return fail(CliError::Environment(format!(
                "failed to write {}: {e}",
                path.display()
            )));
        }
    }
    report.exit_code()
}
