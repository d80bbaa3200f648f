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

pub mod canary;
pub mod collector;
mod follow;
mod matrix;
pub mod netns;
mod plan;
mod rejected;
mod settle;
pub mod triage;
mod witness;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::bundle::{self, BundleError, RunDir};
use crate::container::{self, PROVIDED_SHELL_PATH};
use crate::protocol::{Invocation, Key};
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

/// Hears of a run's progress, for a progress bar. Called from the run's thread.
pub trait Progress: Sync {
    /// The run is about to start `total` probe steps.
    fn begin(&self, _runtime: &str, _total: usize) {}
    /// A step got its verdict.
    fn step(&self, _runtime: &str, _step: &str) {}
    /// The run is over.
    fn end(&self, _runtime: &str) {}
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Builds the run's rootfs: the default one, or an overlay over the user's. Returns the
/// shell the probes should try and the host busybox to provide as that shell, for a
/// rootfs without one.
fn prepare_rootfs(
    run_dir: &mut RunDir,
    plan: &Plan,
) -> Result<(Option<String>, Option<std::path::PathBuf>), RunError> {
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

/// Runs the plan under one runtime and returns its verdicts.
pub fn execute(
    plan: &Plan,
    runtime: &Runtime,
    interrupted: &AtomicBool,
) -> Result<RunReport, RunError> {
    execute_with(plan, runtime, interrupted, &NoProgress)
}

/// [`execute`], telling `progress` about each verdict.
pub fn execute_with(
    plan: &Plan,
    runtime: &Runtime,
    interrupted: &AtomicBool,
    progress: &dyn Progress,
) -> Result<RunReport, RunError> {
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
    let mut run_dir = RunDir::create()?;
    if let Some(entry) = run_dir.ledger() {
        entry.set_runtime(runtime);
    }
    let (shell, provided_shell) = prepare_rootfs(&mut run_dir, plan)?;
    // Declared before the canary so the namespaces outlive the sockets inside them.
    let bridge = match plan.settings.network {
        container::Network::Bridge => {
            let net = netns::BridgeNet::create()?;
            if let Some(entry) = run_dir.ledger() {
                entry.add_netns(net.created());
            }
            Some(net)
        }
        _ => None,
    };
    let key = Key::random().map_err(RunError::Key)?;
    let mounts = plan.settings.mount_points();
    let probe_ids: Vec<String> = plan.probes.iter().map(|p| p.id.to_string()).collect();
    let all_steps = crate::catalog::expand_steps(&probe_ids, &mounts);
    let canary = witness::start_canary(bridge.as_ref(), &key, &all_steps)?;
    let witness = Witness {
        nonces: Default::default(),
        key,
        rootfs_writes: run_dir.rootfs_writes().to_path_buf(),
        settings: &plan.settings,
        canary,
    };

    let mut verdicts: BTreeMap<String, Verdict> = BTreeMap::new();
    let mut after: Option<String> = None;
    // Engines run images, not bundles: the rootfs is imported once per run.
    let mut image = None;
    let mut import_error = None;
    if runtime.engine().is_some() {
        let tag = format!("breakout-rootfs:{}", bundle::unique_token());
        match runtime.import_image(&run_dir.state(), &run_dir.rootfs(), &tag) {
            Ok(()) => image = Some(tag),
            Err(e) => import_error = Some(e.to_string()),
        }
    }
    let mut containers = 0u32;
    let mut start = StartStatus::Started;
    let name = runtime.name.as_str();
    let mut was_interrupted = false;
    progress.begin(name, all_steps.len());

    if let Some(error) = import_error {
        start = StartStatus::FailedToStart { error };
    }
    // Each pass is one container; a pass ends in done, a kill (resume), or a failure.
    while start == StartStatus::Started && containers as usize <= all_steps.len() {
        if interrupted.load(Ordering::Relaxed) {
            was_interrupted = true;
            break;
        }
        // A program of the image may have changed the rootfs in an earlier container:
        // a mount destination it turned into a link to /.breakout would cover the
        // runner, or have the runtime make our mount point in a volume on the host.
        if containers > 0 {
            if let Err(e) = plan.settings.check_mounts_against(&run_dir.rootfs()) {
                let why = format!(
                    "the suite cannot resume in a new container: an earlier container changed the rootfs ({e})"
                );
                settle::give_up(
                    &mut verdicts,
                    &all_steps,
                    name,
                    &crate::sanitize::untrusted(&why),
                );
                break;
            }
        }
        containers += 1;
        let nonce = format!("nonce-{}", bundle::unique_token());
        witness.nonces.borrow_mut().push(nonce.clone());
        let follow = Follow {
            name,
            nonce: &nonce,
            all_steps: &all_steps,
            witness: &witness,
            timeout: plan.timeout,
            interrupted,
            progress,
        };
        let invocation = Invocation {
            nonce: nonce.clone(),
            after: after.clone(),
            canary: witness.canary.as_ref().map(|c| c.addr().to_string()),
            shell: shell.clone(),
            mounts: mounts.clone(),
            probes: probe_ids.clone(),
            fault: plan.fault.clone(),
            sandbox: runtime.kind.sandbox_kernel.map(str::to_string),
        };
        let netns = bridge.as_ref().map(|b| b.container_path());
        let inputs = plan::spec_inputs(
            plan,
            &invocation,
            provided_shell.as_deref(),
            netns,
            &witness.key,
        );
        let launch = launch(runtime, &run_dir, image.as_deref(), &inputs)?;
        let id = format!("breakout-{}-{}", bundle::unique_token(), containers);
        if let Some(entry) = run_dir.ledger() {
            entry.add_container(&id);
        }
        let result = follow::run_container(runtime, &run_dir, &launch, &id, &follow, &mut verdicts);
        let (in_flight, next) = match result {
            Ok(outcome) => {
                for note in &outcome.notes {
                    eprintln!("breakout: {name}: {note}");
                }
                if outcome.notes_dropped > 0 {
                    eprintln!(
                        "breakout: {name}: and {} more such notes",
                        outcome.notes_dropped
                    );
                }
                settle::next(name, containers == 1, &outcome, plan.timeout)
            }
            Err(e) => (None, settle::refused(containers == 1, &e)),
        };
        if let Some(verdict) = in_flight {
            progress.step(name, &verdict.step());
            verdicts.insert(verdict.step(), verdict);
        }
        match next {
            Next::Resume { after: step } => after = Some(step),
            Next::Done => break,
            Next::Interrupted => {
                was_interrupted = true;
                break;
            }
            Next::StartFailed { error } => {
                start = StartStatus::FailedToStart { error };
                break;
            }
            Next::RestFailed { error } => {
                settle::resume_failed(&mut verdicts, &all_steps, name, &error);
                break;
            }
            Next::GiveUp { why } => {
                settle::give_up(&mut verdicts, &all_steps, name, &why);
                break;
            }
        }
    }

    let verdicts = settle::complete(name, &all_steps, verdicts, &start, was_interrupted);
    progress.end(name);
    if let Some(tag) = &image {
        runtime.remove_image(&run_dir.state(), tag);
    }
    drop(witness);
    drop(bridge);
    drop(run_dir);
    Ok(RunReport {
        runtime: version,
        start,
        containers,
        escapes_by_goal: crate::report::GoalEscapes::of(&verdicts),
        profile_handling: runtime.kind.profile_handling(),
        triage: None,
        verdicts,
    })
}
