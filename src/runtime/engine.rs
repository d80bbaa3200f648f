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

use super::quirks::RuntimeKind;
use super::{run_to_end, wait_or_kill, Container, Runtime, RuntimeError, CLEANUP_DEADLINE};
use crate::container::{
    Network, Seccomp, SpecInputs, MEMORY_LIMIT, PIDS_LIMIT, PROBE_PATH, PROVIDED_SHELL_PATH,
    SETUID_BINARY_PATH,
};

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

    /// The container settings as flags of this engine's `run`: see [`engine_args`].
    pub fn engine_args(&self, inputs: &SpecInputs) -> Vec<String> {
        engine_args(inputs, &self.kind)
    }

    /// The engine command with the run's global flags.
    pub(super) fn engine_command(&self, state_root: &Path) -> Command {
        let mut cmd = Command::new(&self.binary);
        if self.kind.engine_state_in_run_dir {
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

    /// Imports a rootfs directory as an image tagged `tag`, with `changes` (Dockerfile
    /// instructions such as `WORKDIR /app`, `--change`) in its config; the image lives
    /// in the run's storage (podman) or is removed by [`Runtime::remove_image`]
    /// (docker).
    pub fn import_image(
        &self,
        state_root: &Path,
        rootfs: &Path,
        tag: &str,
        changes: &[String],
    ) -> Result<(), RuntimeError> {
        let label = format!("{} import", self.name);
        // Only tar is spawned here; the import's own failures come from run_to_end.
        let spawn_err = |source| RuntimeError::Spawn {
            command: format!("tar, which feeds {label}"),
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
        cmd.arg("import");
        for change in changes {
            cmd.arg("--change").arg(change);
        }
        cmd.args(["-", tag]).stdin(Stdio::from(archive));
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
        if self.kind.cgroup_parent_per_container {
            // Under a parent named after the container, so its cgroups can be found
            // and removed afterwards; conmon stays in our own cgroup rather than in
            // one the engine makes.
            cmd.arg(format!("--cgroup-parent=/{id}"))
                .arg("--cgroups=no-conmon");
        }
        cmd.args(args);
        self.spawn_foreground(cmd, state_root, id)
    }
}

impl Runtime {
    /// Starts detached container `id` of `image` whose only process waits (the
    /// runner's `keep`), with no network, no capability and no privilege to gain, and
    /// returns the host pid of that process: the run builds its bridge in the
    /// container's network namespace, for an engine that joins one only by container
    /// (see `run::keeper`). The caller removes it (`remove_leftover_container`).
    pub fn engine_keeper(
        &self,
        state_root: &Path,
        id: &str,
        image: &str,
        probe_bin: &Path,
        hostname: bool,
    ) -> Result<u32, RuntimeError> {
        let mut cmd = self.engine_command(state_root);
        cmd.args(["run", "--detach", "--name", id]);
        if self.kind.cgroup_parent_per_container {
            cmd.arg(format!("--cgroup-parent=/{id}"));
        }
        // docker refuses a hostname beside `--network container:`: the namespace's
        // holder carries it for the containers that join.
        if hostname {
            cmd.args(["--hostname", "breakout"]);
        }
        cmd.args([
            "--network=none",
            "--cap-drop=ALL",
            "--security-opt=no-new-privileges",
            "--read-only",
            "--pids-limit=4",
            "--volume",
        ])
        .arg(format!("{}:{PROBE_PATH}:ro", probe_bin.display()))
        .args(["--entrypoint", PROBE_PATH, image, "keep"]);
        run_to_end(
            cmd,
            "run --detach (the network's keeper)",
            self.cli_deadline,
        )?;
        let mut inspect = self.engine_command(state_root);
        inspect.args(["inspect", "--format", "{{.State.Pid}}", id]);
        let out = run_to_end(inspect, "inspect", self.cli_deadline)?;
        match out.trim().parse::<u32>() {
            Ok(pid) if pid > 1 => Ok(pid),
            _ => Err(RuntimeError::Failed {
                command: format!("{} inspect {id}", self.name),
                stderr: format!(
                    "expected the pid of the network's keeper, got {:?}",
                    crate::sanitize::untrusted(out.trim())
                ),
                tool: None,
            }),
        }
    }
}

/// The same settings as flags of a docker-compatible engine's `run`, for the engine
/// drivers: the engine builds the spec (and resolves the profile) itself. `kind` is
/// the engine's row in the quirks table.
pub fn engine_args(inputs: &SpecInputs, kind: &RuntimeKind) -> Vec<String> {
    let settings = inputs.settings;
    let flags = &settings.flags;
    let mut args: Vec<String> = Vec::new();
    // Joined by container, the namespace's holder has the hostname (see `run::keeper`).
    let join_container = inputs
        .netns
        .container
        .as_ref()
        .filter(|_| kind.engine_joins_netns_by_container());
    if !flags.host_uts && join_container.is_none() {
        args.extend(["--hostname".into(), "breakout".into()]);
    }
    if flags.privileged {
        args.push("--privileged".into());
    }
    let mut opt = |flag: &str, value: String| {
        args.push(flag.to_string());
        args.push(value);
    };
    for (flag, host) in [
        ("--pid", flags.host_pid),
        ("--ipc", flags.host_ipc),
        ("--uts", flags.host_uts),
    ] {
        if host {
            opt(flag, "host".into());
        }
    }
    for o in &settings.lsm {
        opt("--security-opt", o.clone());
    }
    if flags.private_userns {
        // podman maps it per container; the docker driver refuses it before this.
        let map = format!(
            "0:{}:{}",
            crate::container::USERNS_HOST_ID,
            crate::container::USERNS_SIZE
        );
        opt("--uidmap", map.clone());
        opt("--gidmap", map);
    }
    for (key, value) in &flags.sysctls {
        opt("--sysctl", format!("{key}={value}"));
    }
    for d in &flags.devices {
        opt(
            "--device",
            format!("{}:{}:{}", d.host.display(), d.container, d.access),
        );
    }
    match &settings.seccomp {
        Seccomp::Profile(path) => {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            opt("--security-opt", format!("seccomp={}", path.display()));
        }
        // No profile means no filter here too, not the engine's default profile.
        Seccomp::None | Seccomp::Unconfined => opt("--security-opt", "seccomp=unconfined".into()),
    }
    if settings.no_new_privileges {
        opt("--security-opt", "no-new-privileges".into());
    }
    if settings.unconfined_paths {
        opt("--security-opt", "systempaths=unconfined".into());
    }
    // A privileged container has every capability the engine knows; naming them
    // could name one it does not (Docker 20.10 refuses CAP_BPF).
    if !flags.privileged {
        opt("--cap-drop", "ALL".into());
        for cap in &settings.caps {
            opt("--cap-add", cap.clone());
        }
    }
    for volume in &settings.volumes {
        opt(
            "--volume",
            format!(
                "{}:{}:{}",
                volume.source.display(),
                volume.destination,
                volume.options.join(",")
            ),
        );
    }
    for tmpfs in &settings.tmpfs {
        opt(
            "--tmpfs",
            format!("{}:{}", tmpfs.destination, tmpfs.options.join(",")),
        );
    }
    if let Some((uid, gid)) = settings.user {
        opt("--user", format!("{uid}:{gid}"));
    }
    // The image's environment, which the imported rootfs no longer carries (its
    // working directory goes into the import, see `import_changes`: given to `run`,
    // an engine refuses one the image lacks, where `docker run` makes it).
    if let Some(image) = &settings.image {
        for entry in &image.config.env {
            opt("--env", entry.clone());
        }
    }
    let network = match (join_container, &inputs.netns.path, settings.network) {
        (Some(holder), _, _) => format!("container:{holder}"),
        (None, Some(path), _) => format!("ns:{}", path.display()),
        (None, None, Network::Host) => "host".into(),
        (None, None, _) => "none".into(),
    };
    opt("--network", network);
    if inputs.key.is_some() {
        // By name only: the engine takes the value from its own environment, which
        // the driver sets; a value here would be on the engine's command line.
        opt("--env", crate::protocol::KEY_ENV.to_string());
    }
    let pids = flags.pids_limit.unwrap_or(Some(PIDS_LIMIT)).unwrap_or(-1);
    opt("--pids-limit", pids.to_string());
    let memory = flags.memory.unwrap_or(MEMORY_LIMIT);
    if memory > 0 {
        opt("--memory", memory.to_string());
    }
    // The same open-files limit as the OCI spec; podman would otherwise raise nofile
    // and nproc to values a host without CAP_SYS_RESOURCE cannot grant.
    opt("--ulimit", "nofile=1024:1024".into());
    opt("--ulimit", "nproc=1024:1024".into());
    opt(
        "--volume",
        format!("{}:{PROBE_PATH}:ro", inputs.probe_bin.display()),
    );
    if let Some(shell) = inputs.provided_shell {
        opt(
            "--volume",
            format!("{}:{PROVIDED_SHELL_PATH}:ro", shell.display()),
        );
    }
    if let Some(binary) = inputs.setuid_binary {
        opt(
            "--volume",
            format!(
                "{}:{SETUID_BINARY_PATH}:{}",
                binary.display(),
                kind.setuid_volume_options
            ),
        );
    }
    if settings.read_only {
        args.push("--read-only".into());
        args.extend(kind.read_only_flags.iter().map(|f| f.to_string()));
    }
    args
}

/// What an imported rootfs's config must say for the engine to run it as `docker run`
/// runs the image it came from: its working directory (which the engine then makes if
/// the image lacks it, as it does for an image's own).
pub fn import_changes(settings: &crate::container::Settings) -> Vec<String> {
    settings
        .image
        .as_ref()
        .and_then(|i| i.config.working_dir().ok().flatten())
        .map(|dir| vec![format!("WORKDIR {dir}")])
        .unwrap_or_default()
}

/// The engines whose local images `--image NAME` may name, in the order asked.
pub const IMAGE_ENGINES: &[&str] = &["podman", "docker"];
/// How long an engine may take to say whether it has an image.
const IMAGE_QUERY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long an engine may take to export one (images can be gigabytes).
const IMAGE_SAVE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

/// Why an engine gave no image id: its words, and their likely cause where the hint
/// table knows it (a daemon that does not answer).
#[derive(Debug)]
pub struct NoImage {
    pub said: String,
    pub hint: Option<&'static str>,
}

/// The id of the image `name` in `engine`'s own store (the user's, not a run's), or
/// why there is none: not installed, no such image, no daemon. Nothing is pulled.
pub fn local_image_id(engine: &str, name: &str) -> Result<String, NoImage> {
    let said = |said: &str| NoImage {
        said: crate::sanitize::untrusted(said),
        hint: None,
    };
    let binary = super::find_in_path(engine).ok_or_else(|| said("not installed"))?;
    let mut cmd = Command::new(binary);
    cmd.args(["image", "inspect", "--format", "{{.Id}}", name])
        .stdin(Stdio::null());
    match run_to_end(cmd, "image inspect", IMAGE_QUERY_DEADLINE) {
        Ok(out) => out
            .lines()
            .next()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .ok_or_else(|| said("no image id")),
        Err(RuntimeError::Failed { stderr, tool, .. }) => {
            let last = stderr.lines().last().unwrap_or("no such image");
            Err(NoImage {
                hint: tool.and_then(|t| crate::hint::said_here(t, last)),
                ..said(last)
            })
        }
        Err(e) => Err(said(&e.to_string())),
    }
}

/// Saves the image `name` of `engine` as a docker-archive at `dest`.
pub fn save_image(engine: &str, name: &str, dest: &Path) -> Result<(), RuntimeError> {
    let binary = super::find_in_path(engine).ok_or_else(|| RuntimeError::Spawn {
        command: format!("{engine} save"),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })?;
    let mut cmd = Command::new(binary);
    cmd.arg("save");
    if engine == "podman" {
        cmd.args(["--format", "docker-archive"]);
    }
    cmd.arg("-o").arg(dest).arg(name).stdin(Stdio::null());
    run_to_end(cmd, "save", IMAGE_SAVE_DEADLINE).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::fixtures::{pinned_inputs, pinned_key, pinned_settings};
    use crate::container::RawSettings;

    fn raw() -> RawSettings {
        RawSettings::default()
    }

    #[test]
    fn engine_argv_is_pinned() {
        let settings = pinned_settings();
        let key = pinned_key();
        let inputs = pinned_inputs(&settings, &key);
        let docker = RuntimeKind::named("docker").unwrap();
        let podman_row = RuntimeKind::named("podman").unwrap();
        let common = [
            "--hostname",
            "breakout",
            "--security-opt",
            "seccomp=/x.json",
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            "systempaths=unconfined",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CAP_NET_RAW",
            "--cap-add",
            "CAP_SYS_ADMIN",
            "--volume",
            "/tmp:/data:ro,noexec",
            "--tmpfs",
            "/scratch:rw,nosuid,nodev,exec,size=1m",
            "--user",
            "1000:50",
            "--network",
            "ns:/run/netns/x",
            "--env",
            crate::protocol::KEY_ENV,
            "--pids-limit",
            "256",
            "--memory",
            "536870912",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "--volume",
            "/usr/bin/true:/.breakout/breakout-probe:ro",
            "--volume",
            "/bin/sh:/.breakout/sh:ro",
            "--read-only",
        ];
        // docker joins the namespace by its holder, which has the hostname.
        let mut docker_args: Vec<&str> = common[2..].to_vec();
        let at = docker_args
            .iter()
            .position(|a| *a == "ns:/run/netns/x")
            .unwrap();
        docker_args[at] = "container:breakout-x-net";
        assert_eq!(engine_args(&inputs, &docker), docker_args);
        let mut podman = common.to_vec();
        podman.push("--read-only-tmpfs=false");
        assert_eq!(engine_args(&inputs, &podman_row), podman);
        let defaults = raw().validate_for(None).unwrap();
        let argv = engine_args(
            &SpecInputs {
                provided_shell: None,
                netns: Default::default(),
                key: None,
                ..pinned_inputs(&defaults, &key)
            },
            &podman_row,
        );
        let caps: Vec<String> = crate::container::DOCKER_DEFAULT_CAPS
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .flat_map(|c| ["--cap-add".to_string(), c.to_string()])
            .collect();
        let mut want: Vec<String> = [
            "--hostname",
            "breakout",
            "--security-opt",
            "seccomp=unconfined",
            "--cap-drop",
            "ALL",
        ]
        .map(String::from)
        .to_vec();
        want.extend(caps);
        want.extend(
            [
                "--network",
                "none",
                "--pids-limit",
                "256",
                "--memory",
                "536870912",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                "--volume",
                "/usr/bin/true:/.breakout/breakout-probe:ro",
            ]
            .map(String::from),
        );
        assert_eq!(argv, want);
    }
}
