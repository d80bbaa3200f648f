//! Engine drivers: containers started through a docker-compatible CLI (podman, or
//! docker where an engine runs) instead of an OCI runtime's own CLI. The engine
//! resolves the profile itself, which makes it a cross-check of ours.
//!
//! podman is pointed at the run's own state directory for everything it has a flag
//! or variable for: storage and images (`--root`, vfs), state (`--runroot`), its
//! "alive" lock and conmon's exit files (`--tmpdir`, else `/run/libpod`), the OCI
//! runtime's state (`--runtime-flag root=`, else `/run/crun` or `/run/runc`), volumes
//! (`--volumepath`), network configuration (`--network-config-dir`) and the copy of an
//! imported archive (`TMPDIR`, else `/var/tmp`); removing the run directory removes
//! all of it. Checked with podman 4.3.1 by listing `/run`, `/var`, `/tmp`, `/dev/shm`
//! and `/etc` before and after a run, two things outside are still written, because
//! podman has no flag for them: `/var/lib/containers/cache/blob-info-cache-v1.boltdb`
//! (containers/image's cache of blob digests and where they were seen: the digest of
//! each imported rootfs is added, no content; 4.3.1 does not move it under `--root`),
//! and `/dev/shm/libpod_lock` (the host-wide shared-memory lock table every podman
//! shares; a run takes a slot per container and frees it on `rm`, the file stays).
//! Both are created once per host, hold no data of a container, and are safe to
//! delete while no podman runs.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{run_to_end, wait_or_kill, Container, Runtime, RuntimeError, CLEANUP_DEADLINE};

/// Which engine CLI a row speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Podman,
    Docker,
}

impl Runtime {
    pub fn engine(&self) -> Option<Engine> {
        self.kind.engine
    }

    /// The engine command with the run's global flags.
    pub(super) fn engine_command(&self, state_root: &Path) -> Command {
        let mut cmd = Command::new(&self.binary);
        if self.kind.engine == Some(Engine::Podman) {
            let scratch = state_root.join("scratch");
            // podman stages an imported archive in TMPDIR, which must exist.
            let _ = std::fs::create_dir_all(&scratch);
            let mut runtime_root = std::ffi::OsString::from("root=");
            runtime_root.push(state_root.join("oci"));
            cmd.arg("--root")
                .arg(state_root.join("storage"))
                .arg("--runroot")
                .arg(state_root.join("run"))
                .arg("--tmpdir")
                .arg(state_root.join("libpod"))
                .arg("--volumepath")
                .arg(state_root.join("volumes"))
                .arg("--network-config-dir")
                .arg(state_root.join("networks"))
                .arg("--runtime-flag")
                .arg(runtime_root)
                .env("TMPDIR", scratch)
                .args([
                    "--storage-driver=vfs",
                    "--cgroup-manager=cgroupfs",
                    "--events-backend=none",
                    "--log-level=error",
                ]);
        }
        cmd.args(&self.flags).stdin(Stdio::null());
        cmd
    }

    /// Imports a rootfs directory as an image tagged `tag`; the image lives in the
    /// run's storage (podman) or is removed by [`Runtime::remove_image`] (docker).
    pub fn import_image(
        &self,
        state_root: &Path,
        rootfs: &Path,
        tag: &str,
    ) -> Result<(), RuntimeError> {
        let label = format!("{} import", self.name);
        let spawn_err = |source| RuntimeError::Spawn {
            command: label.clone(),
            source,
        };
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(rootfs)
            .args(["-cf", "-", "."])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(spawn_err)?;
        let archive = tar.stdout.take().expect("stdout was piped");
        let mut cmd = self.engine_command(state_root);
        cmd.args(["import", "-", tag]).stdin(Stdio::from(archive));
        let result = run_to_end(cmd, &label, self.cli_deadline);
        // tar ends once the import has read all or gone; one that does neither (a
        // rootfs that stalls it) is killed rather than waited for.
        let _ = wait_or_kill(&mut tar, CLEANUP_DEADLINE);
        result.map(|_| ())
    }

    pub fn remove_image(&self, state_root: &Path, tag: &str) {
        let mut cmd = self.engine_command(state_root);
        cmd.args(["rmi", "--force", tag]);
        let _ = run_to_end(cmd, "rmi", CLEANUP_DEADLINE);
    }

    /// `ENGINE run --name ID ARGS...` in the foreground, stdout and stderr piped back;
    /// the engine process is our child and ends with the container.
    pub fn engine_run(
        &self,
        state_root: &Path,
        id: &str,
        args: &[String],
        env: &[(&str, String)],
    ) -> Result<
        (
            Container,
            std::process::ChildStdout,
            std::process::ChildStderr,
        ),
        RuntimeError,
    > {
        let mut cmd = self.engine_command(state_root);
        // Values the container's environment takes by name (`--env NAME`): from here,
        // not from the engine's command line, which every local user can read.
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd.args(["run", "--name", id]);
        if self.kind.engine == Some(Engine::Podman) {
            // Under a parent named after the container, so its cgroups can be found
            // and removed afterwards (podman leaves the parents behind); conmon stays
            // in our own cgroup rather than in a podman-made one.
            cmd.arg(format!("--cgroup-parent=/{id}"))
                .arg("--cgroups=no-conmon");
        }
        cmd.args(args);
        self.spawn_foreground(cmd, state_root, id)
    }
}
