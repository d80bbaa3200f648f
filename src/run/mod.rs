//! One run of the plan under one runtime, as stages a newcomer can follow:
//!
//! 1. [`plan`]: the validated inputs, and what each container's spec is made from;
//! 2. the bundle (`crate::bundle`): the run's directory, rootfs and config.json;
//! 3. [`follow`]: one container's life, its protocol lines and its end;
//! 4. [`witness`]: evidence from outside the container;
//! 5. [`settle`]: the verdict policy, pure: what a container's end means, what comes
//!    next, what the steps without a verdict are;
//! 6. [`matrix`]: one run per runtime, in parallel.
//!
//! [`execute_with`] is the loop that ties them: one container, plus one per probe that
//! killed its container and one per handoff that got through, until the suite is done.
//! It keeps no report: it tells a [`Sink`] what happens (`crate::report::event`), and
//! the report is what the consumers of that stream make of it.

pub mod canary;
pub mod collector;
mod follow;
mod keeper;
mod matrix;
mod memview;
mod netlink;
pub mod netns;
mod nsview;
mod plan;
mod rejected;
mod settle;
pub mod triage;
mod witness;
mod workload;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::bundle::{self, BundleError, RunDir};
use crate::container::{self, PROVIDED_SHELL_PATH};
use crate::protocol::{Invocation, Key};
use crate::report::event::{Event, Sink};
use crate::report::{RunReport, StartStatus, Verdict};
use crate::runtime::Runtime;

use follow::{Follow, Launch};
use settle::Next;
use witness::Witness;

pub use matrix::{not_run, run_matrix, run_one};
pub use plan::{emit_bundle, select_probes, Plan, PlanError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("failed to start the canary listener: {0}")]
    Canary(std::io::Error),
    #[error("failed to make the run's key: {0}")]
    Key(std::io::Error),
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
}

/// Which steps of one run have their verdict. Each verdict is told to the stream once,
/// when it is decided; the run's own decisions (is this step decided, which are left)
/// read this.
struct Decided<'a> {
    run: usize,
    /// The sandbox kernel serving the containers, if any (see `settle::in_sandbox`).
    sandbox: Option<settle::Sandbox>,
    /// What the filter decides for each step, to set beside each verdict.
    predictor: crate::predict::Predictor,
    all_steps: &'a [String],
    steps: BTreeSet<String>,
    sink: &'a dyn Sink,
}

impl<'a> Decided<'a> {
    fn new(
        run: usize,
        sandbox: Option<settle::Sandbox>,
        predictor: crate::predict::Predictor,
        all_steps: &'a [String],
        sink: &'a dyn Sink,
    ) -> Self {
        Decided {
            run,
            sandbox,
            predictor,
            all_steps,
            steps: BTreeSet::new(),
            sink,
        }
    }

    fn contains(&self, step: &str) -> bool {
        self.steps.contains(step)
    }

    /// Tells the stream the verdict of a step that has none yet (naming its route when
    /// the probe has only one); a second verdict for a step changes nothing.
    fn decide(&mut self, verdict: Verdict) {
        let mut verdict = settle::in_sandbox(verdict.with_only_route(), self.sandbox);
        // Not for a step that never ran: nothing to compare, and a huge profile costs
        // libseccomp seconds to compile (the filter is compiled at the first use).
        if verdict.outcome != crate::report::Outcome::NotRun {
            verdict.prediction = self.predictor.judge(&verdict);
        }
        if self.steps.insert(verdict.step()) {
            self.sink.event(&Event::Verdict {
                run: self.run,
                verdict: Box::new(verdict),
            });
        }
    }

    /// The planned steps without a verdict, in plan order.
    fn undecided(&self) -> Vec<String> {
        self.all_steps
            .iter()
            .filter(|step| !self.steps.contains(*step))
            .cloned()
            .collect()
    }

    fn decide_all(&mut self, verdicts: Vec<Verdict>) {
        for verdict in verdicts {
            self.decide(verdict);
        }
    }
}

/// The run's predictor (its filter is compiled at the first verdict judged).
fn predictor(plan: &Plan, runtime: &Runtime) -> crate::predict::Predictor {
    crate::predict::Predictor::new(
        &runtime.kind,
        plan.seccomp.as_ref(),
        &plan.seccomp_sources,
        plan.profile_path.as_deref(),
    )
}

/// Whether the harness reads `step`'s witness through the running runner (its
/// namespaces, its root), so the runner must still exist when the verdict is judged.
fn witnessed_through_runner(step: &str) -> bool {
    use crate::catalog::WitnessKind as W;
    crate::catalog::find(crate::protocol::split_step(step).0).is_some_and(|p| {
        matches!(
            p.witness,
            W::Namespace
                | W::HostNamespace
                | W::MemoryLimit
                | W::DevShmMarker
                | W::MountDevice
                | W::MountMarker
        )
    })
}

/// Builds the run's rootfs: the default one, or an overlay over the user's. Returns the
/// shell the probes should try and the host busybox to provide as that shell, for a
/// rootfs without one.
fn prepare_rootfs(
    run_dir: &mut RunDir,
    plan: &Plan,
) -> Result<(Option<String>, Option<PathBuf>), RunError> {
    let Some(lower) = &plan.settings.rootfs else {
        run_dir.build_default_rootfs(&bundle::find_static_busybox()?)?;
        return Ok((None, None));
    };
    run_dir.overlay_user_rootfs(lower)?;
    // Resolved as the container will (inside the image, never out of it).
    if bundle::inroot::exists_in_root(lower, "/bin/sh") {
        return Ok((None, None));
    }
    Ok(match bundle::find_static_busybox().ok() {
        Some(busybox) => (Some(PROVIDED_SHELL_PATH.to_string()), Some(busybox)),
        None => (None, None),
    })
}

/// The keeper of a bridge run under an engine that joins a network namespace only by
/// container (docker). One that cannot start makes the image unusable, so every
/// container of the run reports why it did not start.
fn start_keeper(
    plan: &Plan,
    runtime: &Runtime,
    run_dir: &mut RunDir,
    image: &mut Result<Option<String>, String>,
) -> Option<keeper::Keeper> {
    if !runtime.kind.engine_joins_netns_by_container() {
        return None;
    }
    let Ok(Some(tag)) = image.clone() else {
        return None;
    };
    let id = format!("breakout-{}-net", bundle::unique_token());
    if let Some(entry) = run_dir.ledger() {
        entry.add_container(&id);
    }
    let hostname = !plan.settings.flags.host_uts;
    match keeper::Keeper::start(
        runtime,
        &run_dir.state(),
        id,
        &tag,
        &plan.probe_bin,
        hostname,
    ) {
        Ok(k) => Some(k),
        Err(e) => {
            *image = Err(format!(
                "the container holding the run's network namespace did not start: {e}"
            ));
            None
        }
    }
}

/// How the next container starts: config.json for an OCI runtime, or `run` arguments
/// for an engine that imported the rootfs as `image`.
fn launch(
    runtime: &Runtime,
    run_dir: &RunDir,
    image: Option<&str>,
    inputs: &container::SpecInputs,
) -> Result<Launch, RunError> {
    Ok(match image {
        Some(tag) => {
            let mut args = runtime.engine_args(inputs);
            args.push(tag.to_string());
            args.extend(inputs.args.iter().cloned());
            Launch::Engine(args)
        }
        None => {
            run_dir.write_spec(&container::build_spec(inputs))?;
            Launch::Oci
        }
    })
}

/// What a run keeps for all its containers. Fields drop in declaration order: the
/// canary's sockets (in `witness`) before the namespaces they are in (`bridge`), both
/// before the run directory.
struct Stage<'a> {
    witness: Witness<'a>,
    bridge: Option<netns::BridgeNet>,
    /// The container holding the bridge's namespace, for docker (see `keeper`).
    keeper: Option<keeper::Keeper>,
    run_dir: RunDir,
    /// The shell the probes should try, when the rootfs has none of its own.
    shell: Option<String>,
    /// The host busybox provided as that shell.
    provided_shell: Option<PathBuf>,
    /// The set-uid-root copy of the probe, when `fs.setuid-binary` runs and the host
    /// could mount one.
    setuid_binary: Option<PathBuf>,
    /// The image an engine imported the rootfs as, or why the import failed.
    image: Result<Option<String>, String>,
}

impl<'a> Stage<'a> {
    /// The run's directory, rootfs, network, key, canary and (for an engine) image.
    fn prepare(plan: &'a Plan, runtime: &Runtime, steps: &[String]) -> Result<Self, RunError> {
        let mut run_dir = RunDir::create()?;
        if let Some(entry) = run_dir.ledger() {
            entry.set_runtime(runtime);
        }
        if plan.settings.flags.private_userns {
            run_dir.grant_search(crate::container::USERNS_HOST_ID)?;
        }
        let (shell, provided_shell) = prepare_rootfs(&mut run_dir, plan)?;
        // Without it the step says it is not applicable, and why. In a private user
        // namespace the host's root is no id of the container's: a set-uid-root file
        // of the host would be one of nobody's there, so none is offered.
        let setuid_binary = steps
            .iter()
            .any(|s| s == "fs.setuid-binary" && !plan.settings.flags.private_userns)
            .then(|| run_dir.setuid_binary(&plan.probe_bin).ok())
            .flatten();
        // Engines run images, not bundles: the rootfs is imported once per run.
        let mut image = Ok(None);
        if runtime.engine().is_some() {
            let tag = format!("breakout-rootfs:{}", bundle::unique_token());
            if let Some(entry) = run_dir.ledger() {
                entry.add_image(&tag);
            }
            let changes = crate::runtime::engine::import_changes(&plan.settings);
            image = match runtime.import_image(&run_dir.state(), &run_dir.rootfs(), &tag, &changes)
            {
                Ok(()) => Ok(Some(tag)),
                Err(e) => Err(e.to_string()),
            };
        }
        let (witness, bridge, keeper) =
            match Self::network(plan, runtime, &mut run_dir, &mut image, steps) {
                Ok(made) => made,
                Err(e) => {
                    // The image outlives the run's directory: it goes here.
                    if let Ok(Some(tag)) = &image {
                        runtime.remove_image(&run_dir.state(), tag);
                    }
                    return Err(e);
                }
            };
        Ok(Stage {
            witness,
            bridge,
            keeper,
            run_dir,
            shell,
            provided_shell,
            setuid_binary,
            image,
        })
    }

    /// The run's network (the bridge, and docker's keeper of it), its key and canary.
    fn network(
        plan: &'a Plan,
        runtime: &Runtime,
        run_dir: &mut RunDir,
        image: &mut Result<Option<String>, String>,
        steps: &[String],
    ) -> Result<
        (
            Witness<'a>,
            Option<netns::BridgeNet>,
            Option<keeper::Keeper>,
        ),
        RunError,
    > {
        let (bridge, keeper) = match plan.settings.network {
            container::Network::Bridge => {
                let keeper = start_keeper(plan, runtime, run_dir, image);
                let net = match &keeper {
                    Some(k) => netns::BridgeNet::create_for_process(k.pid())?,
                    None => netns::BridgeNet::create()?,
                };
                if let Some(entry) = run_dir.ledger() {
                    entry.add_netns(net.created());
                }
                (Some(net), keeper)
            }
            _ => (None, None),
        };
        let key = Key::random().map_err(RunError::Key)?;
        let canary = witness::start_canary(bridge.as_ref(), &key, steps)?;
        let witness = Witness {
            nonces: Default::default(),
            key,
            rootfs_writes: run_dir.rootfs_writes().to_path_buf(),
            settings: &plan.settings,
            canary,
        };
        Ok((witness, bridge, keeper))
    }

    /// The network namespace the run's containers join, by path and, for docker, by
    /// the container that holds it.
    fn net_join(&self) -> container::NetJoin {
        container::NetJoin {
            path: self.bridge.as_ref().map(|b| b.container_path()),
            container: self.keeper.as_ref().map(|k| k.name().to_string()),
        }
    }

    /// Removes what outlives the run's directory (an engine's image), then the rest.
    fn finish(mut self, runtime: &Runtime) {
        // The keeper runs the image: it goes first.
        drop(self.keeper.take());
        if let Ok(Some(tag)) = &self.image {
            runtime.remove_image(&self.run_dir.state(), tag);
        }
    }
}

/// Runs only the plan's workload under one runtime (no probes), as `harden` and
/// `record` try a profile: how it did.
pub fn workload_only(
    plan: &Plan,
    runtime: &Runtime,
    interrupted: &AtomicBool,
) -> Result<crate::workload::WorkloadReport, RunError> {
    let workload = plan
        .workload
        .as_ref()
        .expect("workload_only is given a plan with a workload");
    let runtime = runtime
        .for_network(plan.settings.network)
        .with_cli_deadline(plan.timeout);
    workload::run(plan, workload, &runtime, interrupted)
}

/// The plan's workload under gVisor with its `--strace`: the sandbox's debug log,
/// where gVisor writes each call the application makes to its kernel. `None` for a
/// runtime without a sandbox kernel.
pub fn record_workload_gvisor(
    plan: &Plan,
    runtime: &Runtime,
    interrupted: &AtomicBool,
) -> Result<Option<(crate::workload::WorkloadReport, String)>, RunError> {
    if runtime.kind.sandbox_kernel.is_none() || runtime.engine().is_some() {
        return Ok(None);
    }
    let logs = crate::bundle::PrivateDir::create("gvisor-strace").map_err(RunError::Bundle)?;
    let mut traced = runtime.clone();
    traced.flags.push("--strace".into());
    traced
        .flags
        .push(format!("--debug-log={}/", logs.path().display()));
    let report = workload_only(plan, &traced, interrupted)?;
    let mut log = String::new();
    for entry in std::fs::read_dir(logs.path())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        // The sandbox's own log (`boot`): the gofer's and the CLI's hold no calls.
        if name.contains(".boot.") {
            log.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    Ok(Some((report, log)))
}

/// The plan's workload under its own profile (one whose answers are `SCMP_ACT_TRACE`),
/// traced by breakout: what it called. `None` for a runtime a host tracer cannot
/// follow (an engine, a sandbox kernel).
pub fn record_workload(
    plan: &Plan,
    runtime: &Runtime,
) -> Result<Option<Result<crate::trace::Traced, crate::trace::TraceError>>, RunError> {
    let (Some(workload), Some(seccomp)) = (plan.workload.as_ref(), plan.seccomp.clone()) else {
        return Ok(None);
    };
    if !workload::traceable(runtime) {
        return Ok(None);
    }
    let runtime = runtime
        .for_network(plan.settings.network)
        .with_cli_deadline(plan.timeout);
    workload::traced_run(plan, workload, &runtime, seccomp).map(Some)
}

/// Runs the plan under one runtime and returns its report, made from the run's events
/// (the containers' notes go to stderr). For the suite's trials and triage's attempts.
pub fn execute(
    plan: &Plan,
    runtime: &Runtime,
    interrupted: &AtomicBool,
) -> Result<RunReport, RunError> {
    let notes = crate::progress::Bars::new(false);
    let runs = crate::report::collect::Runs::default();
    let sink: [&dyn Sink; 2] = [&notes, &runs];
    execute_with(plan, runtime, 0, interrupted, &sink)?;
    let (mut runs, _) = runs.finish();
    Ok(runs.pop().expect("a run that returned Ok finished"))
}

/// Runs the plan under one runtime, the `run`-th of its matrix, telling `sink` what
/// happens: `RunStarted`, then each container's start, verdicts and end, then a verdict
/// for every step left and `RunFinished`. One container, plus one per probe that
/// killed its container and one per handoff that got through. Returns how the run's
/// container started, which is what the matrix decides triage on.
pub fn execute_with(
    plan: &Plan,
    runtime: &Runtime,
    run: usize,
    interrupted: &AtomicBool,
    sink: &dyn Sink,
) -> Result<StartStatus, RunError> {
    let runtime = &runtime
        .for_network(plan.settings.network)
        .with_cli_deadline(plan.timeout);
    let version = runtime
        .version()
        .unwrap_or_else(|e| crate::runtime::RuntimeVersion {
            name: runtime.name.clone(),
            binary: runtime.binary.clone(),
            version: format!("unknown ({e})"),
            ..Default::default()
        });
    let steps = plan.steps();
    let mut stage = Stage::prepare(plan, runtime, &steps)?;
    sink.event(&Event::RunStarted {
        run,
        runtime: version,
        profile_handling: runtime.kind.profile_handling(),
        steps: steps.clone(),
    });
    let mut decided = Decided::new(
        run,
        settle::Sandbox::of(&runtime.kind, plan.seccomp.as_ref()),
        predictor(plan, runtime),
        &steps,
        sink,
    );
    let (start, was_interrupted) = match stage.image.clone() {
        Err(error) => (StartStatus::FailedToStart { error }, false),
        Ok(_) => containers(plan, runtime, &mut stage, interrupted, &mut decided)?,
    };
    let rest = settle::never_ran(&runtime.name, &decided.undecided(), &start, was_interrupted);
    decided.decide_all(rest);
    if let (Some(workload), false) = (&plan.workload, was_interrupted) {
        let report = workload::run(plan, workload, runtime, interrupted)?;
        sink.event(&Event::Workload {
            run,
            report: Box::new(report),
        });
    }
    sink.event(&Event::RunFinished {
        run,
        start: start.clone(),
    });
    stage.finish(runtime);
    Ok(start)
}

/// The run's containers, one after another until the suite is done: each pass is one
/// container, and ends in done, a resume (a kill or a handoff), or a failure. Returns
/// how the first one started and whether an interrupt cut the run short.
fn containers(
    plan: &Plan,
    runtime: &Runtime,
    stage: &mut Stage,
    interrupted: &AtomicBool,
    decided: &mut Decided,
) -> Result<(StartStatus, bool), RunError> {
    let name = runtime.name.as_str();
    let steps = decided.all_steps;
    let mut after: Option<String> = None;
    let mut count = 0usize;
    while count <= steps.len() {
        if interrupted.load(Ordering::Relaxed) {
            return Ok((StartStatus::Started, true));
        }
        // A program of the image may have changed the rootfs in an earlier container:
        // a mount destination it turned into a link to /.breakout would cover the
        // runner, or have the runtime make our mount point in a volume on the host.
        if count > 0 {
            if let Err(e) = plan.settings.check_mounts_against(&stage.run_dir.rootfs()) {
                let why = format!(
                    "the suite cannot resume in a new container: an earlier container changed the rootfs ({e})"
                );
                let why = crate::sanitize::untrusted(&why);
                decided.decide_all(settle::give_up(name, &decided.undecided(), &why));
                break;
            }
        }
        count += 1;
        match one_container(
            plan,
            runtime,
            stage,
            count,
            after.take(),
            interrupted,
            decided,
        )? {
            Next::Resume { after: step } => after = Some(step),
            Next::Done => break,
            Next::Interrupted => return Ok((StartStatus::Started, true)),
            Next::StartFailed { error } => {
                return Ok((StartStatus::FailedToStart { error }, false));
            }
            Next::RestFailed { error } => {
                decided.decide_all(settle::resume_failed(name, &decided.undecided(), &error));
                break;
            }
            Next::GiveUp { why } => {
                decided.decide_all(settle::give_up(name, &decided.undecided(), &why));
                break;
            }
        }
    }
    Ok((StartStatus::Started, false))
}

/// The `number`-th container of the run (from 1): started where the suite stands
/// (`after` the last step a container ended in), followed to its end, which is then
/// settled into the verdict of the step in flight and what comes next.
fn one_container(
    plan: &Plan,
    runtime: &Runtime,
    stage: &mut Stage,
    number: usize,
    after: Option<String>,
    interrupted: &AtomicBool,
    decided: &mut Decided,
) -> Result<Next, RunError> {
    let name = runtime.name.as_str();
    let nonce = format!("nonce-{}", bundle::unique_token());
    stage.witness.nonces.borrow_mut().push(nonce.clone());
    let invocation = Invocation {
        nonce: nonce.clone(),
        after,
        canary: stage.witness.canary.as_ref().map(|c| c.addr().to_string()),
        shell: stage.shell.clone(),
        mounts: plan.settings.mount_points(),
        probes: plan.probe_ids(),
        fault: plan.fault.clone(),
        sandbox: runtime.kind.sandbox_kernel.map(str::to_string),
        // An OCI runtime's container is followed below our own child: the runner holds
        // after `done` so that its namespaces and files can be read on the host (see
        // `nsview`). Not where nothing is read: an engine's, a sandbox kernel's, or a
        // suite without a step witnessed through the runner.
        hold: runtime.engine().is_none()
            && runtime.kind.sandbox_kernel.is_none()
            && plan.steps().iter().any(|s| witnessed_through_runner(s)),
        host_namespaces: nsview::harness_links(),
    };
    let inputs = plan::spec_inputs(
        plan,
        &invocation,
        stage.provided_shell.as_deref(),
        stage.setuid_binary.as_deref(),
        stage.net_join(),
        &stage.witness.key,
    );
    let image = stage.image.as_ref().ok().and_then(|tag| tag.as_deref());
    let launch = launch(runtime, &stage.run_dir, image, &inputs)?;
    let id = format!("breakout-{}-{}", bundle::unique_token(), number);
    if let Some(entry) = stage.run_dir.ledger() {
        entry.add_container(&id);
    }
    let run = decided.run;
    decided.sink.event(&Event::ContainerStarted {
        run,
        id: id.clone(),
    });
    let follow = Follow {
        name,
        nonce: &nonce,
        witness: &stage.witness,
        timeout: plan.timeout,
        interrupted,
    };
    let result = follow::run_container(runtime, &stage.run_dir, &launch, &id, &follow, decided);
    let (notes, notes_dropped) = match &result {
        Ok(outcome) => (outcome.notes.clone(), outcome.notes_dropped),
        Err(_) => (Vec::new(), 0),
    };
    decided.sink.event(&Event::ContainerEnded {
        run,
        notes,
        notes_dropped,
    });
    let first = number == 1;
    let (in_flight, next) = match result {
        Ok(outcome) => settle::next(name, first, &outcome, plan.timeout),
        Err(e) => (None, settle::refused(first, &e)),
    };
    if let Some(verdict) = in_flight {
        decided.decide(verdict);
    }
    Ok(next)
}
