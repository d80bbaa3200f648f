//! Command-line flags as typed (clap) and their translation into validated plans.
//!
//! Raw flags and validated arguments are separate types: clap handles syntax, and
//! [`RunArgs::plan`] turns the rest into a [`Plan`] or an error that names the flag.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::container::{RawRunFlags, RawSettings};
use crate::run::{Plan, PlanError};

#[derive(Debug, Parser)]
#[command(
    name = "breakout",
    version,
    about = "Runs escape probes in real containers under a seccomp profile and reports which escapes succeed"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a container under the given profile and settings, run the probes, report.
    Run(Box<RunArgs>),
    /// Run the same settings under several runtimes (default: every installed one) and
    /// explain where they differ.
    Compare(Box<RunArgs>),
    /// Run scenario files as a regression suite: one trial per (scenario, runtime),
    /// with libtest's conventions (--list, --exact, filters, --ignored, --format).
    Test(Box<TestArgs>),
    /// Validate profile and scenario files, resolve them, and predict what the filter does to every probe under runc, crun and runsc-oci, without starting anything.
    Check(CheckArgs),
    /// What a profile change does to escapes: the steps and routes profile B opens or
    /// closes against A, and starts it changes, under runc, crun and runsc-oci, without
    /// starting anything. Exit 1 when B opens anything A closed.
    Diff(DiffArgs),
    /// Show what this host can run: runtimes, kernel, architectures, cgroups, LSMs.
    Doctor(DoctorArgs),
    /// Remove what breakout processes that died (kill -9, the OOM killer) left behind:
    /// their containers, mounts, directories, network namespaces and cgroups. Runs in
    /// progress are left alone. Every run also does this when it starts.
    Clean(CleanArgs),
    /// Internal: exit 0 if a getpid through ABI (i386, x32) works (used by doctor).
    #[command(hide = true)]
    AbiCheck { abi: String },
    /// List the probe catalog.
    Probes(ProbesArgs),
    /// Harden a profile for a workload: close each escape route the filter leaves
    /// open, keeping each closure the runtime's start and the workload survive; write
    /// the hardened profile, then run the probes and the workload under it.
    Harden(Box<HardenArgs>),
    /// Record what the workload calls under one runtime (runc or crun), traced by
    /// breakout, and write a deny-by-default profile of it; then run the probes and
    /// the workload under that profile.
    Record(Box<RecordArgs>),
}

/// `breakout record`: the run flags (the sandbox, the runtime, the workload), where to
/// write, and how many runs to join.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Where the recorded profile goes (Docker's format).
    #[arg(long = "write-profile", value_name = "FILE", required = true)]
    pub write_profile: PathBuf,
    /// Record the workload this many times and join what each run called.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Join this recording with the profile already at --write-profile (one `record`
    /// wrote), for a workload recorded command by command.
    #[arg(long)]
    pub merge: bool,
    /// Write the profile and stop: no run of the probes and the workload under it.
    #[arg(long = "no-verify")]
    pub no_verify: bool,
}

/// `breakout harden`: the run flags (the sandbox, the runtime, the workload) and where
/// to write the hardened profile.
#[derive(Debug, Clone, Args)]
pub struct HardenArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Where the hardened profile goes (Docker's format).
    #[arg(long = "write-profile", value_name = "FILE", required = true)]
    pub write_profile: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `breakout test` flags: the suite's own, then libtest's.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Scenario files or directories (default: scenarios/); one argument that is not an
    /// existing path is the libtest FILTER.
    #[arg(value_name = "PATH|FILTER")]
    pub paths: Vec<PathBuf>,
    /// Refuse what Docker lets pass in a profile file (unknown or duplicate keys, keys
    /// in another case, syscall names libseccomp does not know) instead of warning:
    /// exit 2. For CI.
    #[arg(long)]
    pub strict: bool,
    /// Write a JUnit XML report (one test case per probe verdict).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the suite's JSON report (the input of a later --baseline).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a SARIF 2.1.0 report for code-scanning tools.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write a Markdown summary (for a pull-request comment).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write an HTML page (self-contained: scenarios, trials, each check, and the
    /// changes against --baseline).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// A previous --json report: the exit code and summary speak of changes (new
    /// escapes, fixed ones) rather than of every mismatch.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Run partition K of N (1-based): N machines with 1/N .. N/N run every trial once.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
    /// libtest's output (pretty, terse, json), or a whole document on stdout instead
    /// (markdown, sarif; libtest's progress then goes to stderr).
    #[arg(long, value_enum, default_value_t = TestFormat::Pretty)]
    pub format: TestFormat,
    /// The probe binary (default: breakout-probe beside this executable).
    #[arg(long = "probe-bin", value_name = "PATH")]
    pub probe_bin: Option<PathBuf>,
    /// List the trials without running them.
    #[arg(long)]
    pub list: bool,
    /// The FILTER must match a trial name exactly.
    #[arg(long)]
    pub exact: bool,
    /// Run only the ignored trials.
    #[arg(long)]
    pub ignored: bool,
    /// Run the ignored trials too.
    #[arg(long = "include-ignored")]
    pub include_ignored: bool,
    /// Skip trials whose name contains this (repeatable).
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,
    /// Trials run at once (default: the number of cores); --jobs is the same.
    #[arg(
        long = "test-threads",
        visible_alias = "jobs",
        short = 'j',
        value_name = "N"
    )]
    pub test_threads: Option<usize>,
    /// Less output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    Pretty,
    Terse,
    Json,
    Markdown,
    Sarif,
}

/// `breakout check` flags.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Profile or scenario files (a scenario is recognised by its "runtimes" key).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// sarif: one alert per finding, at the profile line that causes it (for code
    /// scanning and editors).
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
    /// Refuse what Docker lets pass in a profile file (unknown or duplicate keys, keys
    /// in another case, syscall names libseccomp does not know) instead of warning:
    /// exit 2. For CI.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
    Sarif,
}

/// `breakout diff` flags.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The profile before the change (Docker/Moby JSON, a bare OCI linux.seccomp object
    /// or a SeccompProfile YAML, read as `check` reads it).
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// The profile after the change.
    #[arg(value_name = "B")]
    pub b: PathBuf,
    /// Runtime(s) to predict for: runc, crun, runsc, runsc-oci, youki; repeatable or a
    /// comma list (default: runc, crun, runsc-oci, as `check`).
    #[arg(long, value_name = "RUNTIME")]
    pub runtime: Vec<String>,
    /// text (readable in a log), json (the documented breakout-diff/1 object) or
    /// markdown (a pull-request comment).
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Refuse what Docker lets pass in a profile file (unknown or duplicate keys, keys
    /// in another case, syscall names libseccomp does not know) instead of warning:
    /// exit 2. For CI.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    #[value(alias = "table")]
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ProbesArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `--runtime`'s help, naming every runtime and engine of the quirks table.
fn runtime_help() -> String {
    let (engines, runtimes): (Vec<_>, Vec<_>) = crate::runtime::RUNTIMES
        .iter()
        .partition(|k| k.engine.is_some());
    let names = |kinds: &[&crate::runtime::RuntimeKind]| {
        kinds.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
    };
    format!(
        "Runtime(s): the OCI runtimes {}, or the engines {} (a local daemon or podman's own storage); repeatable or a comma list; NAME=PATH[,FLAG...] for a binary of one of those families with extra flags. `run` defaults to runc, `compare` to every installed runtime",
        names(&runtimes),
        names(&engines)
    )
}

/// `breakout run` flags, in `docker run` vocabulary where one exists.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[arg(long, value_name = "RUNTIME", help = runtime_help())]
    pub runtime: Vec<String>,
    /// Seccomp profile (Docker/Moby JSON or a bare OCI linux.seccomp object).
    /// Without one the container has no seccomp filter.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// seccomp=FILE, seccomp=unconfined, no-new-privileges[=true|false],
    /// systempaths=unconfined (no masked or read-only paths under /proc and /sys).
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Capability to drop from Docker's default set (ALL allowed).
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Capability to add (ALL allowed).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Mount the container's rootfs read-only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Bind mount SRC:DST[:ro|rw,noexec,nosuid,nodev].
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:OPTS]")]
    pub volume: Vec<String>,
    /// tmpfs mount DST[:OPTS]; like Docker, rw,noexec,nosuid,nodev unless OPTS say otherwise.
    #[arg(long, value_name = "DST[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Run the probes as UID[:GID].
    #[arg(short = 'u', long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// bridge (the default, like docker run's: a namespace of the run's own with egress
    /// to breakout's canary only), none (loopback only), or host (the host's network).
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// Root filesystem to use instead of the minimal one the harness builds. It is used
    /// through an overlay, so nothing is written into it.
    #[arg(long, value_name = "DIR", conflicts_with = "image")]
    pub rootfs: Option<PathBuf>,
    /// Run the probes in an image's root filesystem: oci:DIR (an OCI image layout),
    /// oci-archive:FILE, docker-archive:FILE (docker/podman save), or the name of an
    /// image podman or docker holds. Unpacked (safely, bounded) into a cache keyed by
    /// digest and used through an overlay like --rootfs; its user, working directory
    /// and environment apply as with `docker run`.
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// The most an --image may unpack to, in bytes of all its layers uncompressed
    /// (suffixes K, M, G, T: powers of 1024).
    #[arg(long = "image-max-bytes", value_name = "SIZE", default_value = "8G", value_parser = parse_size)]
    pub image_max_bytes: u64,
    /// The most entries an --image may have, all layers together.
    #[arg(
        long = "image-max-entries",
        value_name = "N",
        default_value_t = 1_000_000
    )]
    pub image_max_entries: u64,
    /// Run only probes whose id matches this glob (repeatable), e.g. 'spawn.*'.
    #[arg(long = "probe", value_name = "PATTERN")]
    pub probe: Vec<String>,
    /// Runtimes to run at once (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(usize))]
    pub jobs: Option<usize>,
    /// Seconds each container may run before it is killed.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// The probe binary (default: breakout-probe beside this executable).
    #[arg(long = "probe-bin", value_name = "PATH")]
    pub probe_bin: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page to FILE (the grid with
    /// each cell's evidence and prediction, divergences, subject, environment).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the OCI bundle of the first container (config.json and rootfs) to DIR,
    /// which must be absent or empty, and start nothing; run it by hand with
    /// `RUNTIME run --bundle DIR ID`. Default rootfs only; network none (the default bridge
    /// needs namespaces the harness makes per run) or host.
    #[arg(long = "emit-bundle", value_name = "DIR")]
    pub emit_bundle: Option<PathBuf>,
    /// A Kubernetes manifest (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
    /// Job, CronJob; YAML, several documents allowed): the container's and the pod's
    /// security context become the sandbox. Not with the container-setting flags.
    #[arg(long, value_name = "FILE")]
    pub pod: Option<PathBuf>,
    /// The container of --pod to test, where it has several.
    #[arg(long, value_name = "NAME", requires = "pod")]
    pub container: Option<String>,
    /// Where --pod's Localhost seccomp profiles lie (the kubelet's <root-dir>/seccomp).
    #[arg(long = "seccomp-root", value_name = "DIR", requires = "pod")]
    pub seccomp_root: Option<PathBuf>,
    /// Map a runtimeClassName to a runtime, NAME=RUNTIME (repeatable; defaults: runc,
    /// crun, gvisor=runsc, runsc).
    #[arg(long = "runtime-class", value_name = "NAME=RUNTIME", requires = "pod")]
    pub runtime_class: Vec<String>,
    /// What --pod's manifest leaves unhonoured here (filled in from it).
    #[arg(skip)]
    pub pod_notes: Vec<String>,
    /// Docker's privileged container: every capability, no seccomp filter (even a
    /// profile given is not applied, as in Docker), nothing masked, /sys writable, the
    /// device cgroup open. Host device nodes are not added.
    #[arg(long)]
    pub privileged: bool,
    /// host: share the host's PID namespace (default: a private one).
    #[arg(long, value_name = "host")]
    pub pid: Option<String>,
    /// host: share the host's IPC namespace.
    #[arg(long, value_name = "host")]
    pub ipc: Option<String>,
    /// host: share the host's UTS namespace (host name).
    #[arg(long, value_name = "host")]
    pub uts: Option<String>,
    /// Tasks the container may hold (0 or -1: no limit; default: the harness's 256).
    #[arg(long = "pids-limit", value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Memory limit, like 512m or 1g (default: the harness's 512m).
    #[arg(long, short = 'm', value_name = "BYTES")]
    pub memory: Option<String>,
    /// A sysctl of the container's own namespaces, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// A host device, HOST[:CONTAINER][:PERMS] (repeatable).
    #[arg(long, value_name = "HOST[:CONTAINER][:PERMS]")]
    pub device: Vec<String>,
    /// private: a user namespace whose root is host uid 100000 (Docker's
    /// userns-remap range); host (the default): none.
    #[arg(long, value_name = "host|private")]
    pub userns: Option<String>,
    /// Test hook: make the runner misbehave (see `breakout_wire::faults`) so tests can
    /// drive the harness's timeout, death and bad-output paths with a real container.
    #[arg(long = "inject-fault", hide = true, value_name = "FAULT")]
    pub inject_fault: Option<String>,
    /// Refuse what Docker lets pass in a profile file (unknown or duplicate keys, keys
    /// in another case, syscall names libseccomp does not know) instead of warning:
    /// exit 2. For CI.
    #[arg(long)]
    pub strict: bool,
    /// After the probes, run the workload in the same sandbox and report whether it
    /// still works: the image's entrypoint and command, or the command after `--`.
    /// A job must exit 0; with --workload-check it is a service.
    #[arg(long)]
    pub workload: bool,
    /// The workload is a service: CMD (split as a shell would, no shell run) runs
    /// inside the container by the runtime's exec until it exits 0, e.g.
    /// 'wget -q -O- http://127.0.0.1:8080/'.
    #[arg(long = "workload-check", value_name = "CMD", requires = "workload")]
    pub workload_check: Option<String>,
    /// A job's time to end, a service's time to answer its check.
    #[arg(long = "workload-deadline", value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub workload_deadline: u64,
    /// The workload's command (after `--`), in place of the image's.
    #[arg(last = true, value_name = "CMD")]
    pub workload_command: Vec<String>,
}

impl From<PlanError> for CliError {
    fn from(e: PlanError) -> CliError {
        match e {
            PlanError::Usage(m) => CliError::Usage(m),
            PlanError::Environment(m) => CliError::Environment(m),
        }
    }
}

impl From<CliError> for PlanError {
    fn from(e: CliError) -> PlanError {
        match e {
            CliError::Usage(m) => PlanError::Usage(m),
            CliError::Environment(m) => PlanError::Environment(m),
        }
    }
}

/// A problem that maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input or usage: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The host cannot run this: exit 3.
    #[error("{0}")]
    Environment(String),
}

impl RunArgs {
    pub fn raw_settings(&self) -> RawSettings {
        RawSettings {
            profile: self.profile.clone(),
            security_opts: self.security_opt.clone(),
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            read_only: self.read_only,
            volumes: self.volume.clone(),
            tmpfs: self.tmpfs.clone(),
            user: self.user.clone(),
            network: self.network.clone(),
            rootfs: self.rootfs.clone(),
            run_flags: RawRunFlags {
                privileged: self.privileged,
                pid: self.pid.clone(),
                ipc: self.ipc.clone(),
                uts: self.uts.clone(),
                pids_limit: self.pids_limit,
                memory: self.memory.clone(),
                sysctls: self.sysctl.clone(),
                devices: self.device.clone(),
                userns: self.userns.clone(),
            },
            image: self
                .image
                .as_ref()
                .map(|reference| crate::image::ImageRequest {
                    reference: reference.clone(),
                    limits: crate::image::Limits {
                        max_bytes: self.image_max_bytes,
                        max_entries: self.image_max_entries,
                    },
                }),
        }
    }

    /// Validates flags and files, resolves the profile: everything short of starting.
    pub fn plan(&self) -> Result<Plan, CliError> {
        if let Some(fault) = &self.inject_fault {
            breakout_wire::faults::Fault::parse(fault)
                .map_err(|e| CliError::Usage(format!("--inject-fault: {e}")))?;
        }
        let mut plan = Plan::build(
            &self.raw_settings(),
            &self.probe,
            self.timeout,
            reading(self.strict),
            || probe_bin(self.probe_bin.as_deref()).map_err(PlanError::from),
        )?;
        plan.fault = self.inject_fault.clone();
        plan.workload = self.workload(&plan)?;
        warn(&plan.profile_warnings);
        plan.settings.notes.extend(self.pod_notes.iter().cloned());
        for note in &plan.settings.notes {
            eprintln!("note: {}", crate::sanitize::untrusted_lines(note));
        }
        Ok(plan)
    }
}

impl RunArgs {
    /// The workload `--workload` asks for, with its command resolved.
    fn workload(&self, plan: &Plan) -> Result<Option<crate::workload::Workload>, CliError> {
        if !self.workload {
            if !self.workload_command.is_empty() {
                return Err(CliError::Usage(format!(
                    "{:?} after -- is a workload's command: add --workload to run it",
                    self.workload_command.join(" ")
                )));
            }
            return Ok(None);
        }
        let image = plan.settings.image.as_ref().map(|i| &i.config);
        let command =
            crate::workload::command_of(&self.workload_command, image).map_err(CliError::Usage)?;
        let check = self
            .workload_check
            .as_deref()
            .map(crate::workload::parse_check)
            .transpose()
            .map_err(CliError::Usage)?;
        Ok(Some(crate::workload::Workload {
            command,
            check,
            deadline: std::time::Duration::from_secs(self.workload_deadline),
        }))
    }
}

/// How `--strict` reads profile files.
pub fn reading(strict: bool) -> crate::profile::Reading {
    if strict {
        crate::profile::Reading::Strict
    } else {
        crate::profile::Reading::Lenient
    }
}

/// Prints what a lenient reading let pass, on stderr: the file's words are shown as
/// text, never as terminal controls.
pub fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!(
            "warning: {} (--strict refuses it)",
            crate::sanitize::untrusted_lines(w)
        );
    }
}

/// A size in bytes, with an optional K, M, G or T suffix (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => {
                    return Err(format!(
                        "{text:?}: expected a number of bytes with an optional K, M, G or T suffix"
                    ))
                }
            };
            (&text[..i], shift)
        }
        _ => (text, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| {
            format!("{text:?}: expected a number of bytes with an optional K, M, G or T suffix")
        })
}

/// The probe binary: the one given, or `breakout-probe` beside this executable; it must
/// be static to start in any rootfs.
pub fn probe_bin(explicit: Option<&Path>) -> Result<PathBuf, CliError> {
    let probe_bin = match explicit {
        Some(path) => {
            if !path.is_file() {
                return Err(CliError::Usage(format!(
                    "--probe-bin {}: no such file ({}; leave out --probe-bin to use it)",
                    path.display(),
                    crate::hint::PROBE_BUILT
                )));
            }
            path.to_path_buf()
        }
        None => default_probe_bin()?,
    };
    match crate::bundle::is_static_elf(&probe_bin) {
        Ok(true) => Ok(probe_bin),
        Ok(false) => Err(CliError::Environment(format!(
            "{} is dynamically linked; the probe must be static to start in any rootfs (build with this repository's .cargo/config.toml)",
            probe_bin.display()
        ))),
        Err(e) => Err(CliError::Environment(format!(
            "{}: not a usable probe binary: {e} (the probe is breakout-probe: {})",
            probe_bin.display(),
            crate::hint::PROBE_BUILT
        ))),
    }
}

fn default_probe_bin() -> Result<PathBuf, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Environment(format!("cannot find this executable: {e}")))?;
    let beside = exe.with_file_name("breakout-probe");
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(CliError::Environment(format!(
            "no probe binary at {} ({}: build it, or pass --probe-bin PATH)",
            beside.display(),
            crate::hint::PROBE_BUILT
        )))
    }
}
