//! Container settings in `docker run` vocabulary, validated, and their OCI spec.
//!
//! Defaults follow `docker run`: Docker's default capability set, a private network
//! namespace, a writable rootfs, `no-new-privileges` off. One deliberate difference:
//! without a profile there is no seccomp filter at all (Docker would apply its default
//! profile), and reports say so.

use std::path::{Path, PathBuf};

mod caps;
mod mounts;
mod settings;

pub use caps::{own_bounding_caps, ALL_CAPS, DOCKER_DEFAULT_CAPS};
pub use mounts::{normalize_destination, Tmpfs, Volume};
pub use settings::{Network, RawSettings, Seccomp, Settings, SettingsError};

use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, LinuxMemoryBuilder, LinuxNamespaceType, LinuxPidsBuilder,
    LinuxResourcesBuilder, LinuxSeccomp, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec,
    UserBuilder,
};

/// The container directory that holds the harness's own files. No volume or tmpfs
/// may be mounted at it or below it: whatever lands there replaces the trusted runner.
pub const HARNESS_DIR: &str = "/.breakout";
/// Where the probe binary appears inside every container.
pub const PROBE_PATH: &str = "/.breakout/breakout-probe";
/// Where the harness puts a shell when the rootfs has none.
pub const PROVIDED_SHELL_PATH: &str = "/.breakout/sh";

/// Limits that keep a fork bomb or a memory hog inside the container.
const PIDS_LIMIT: i64 = 256;
const MEMORY_LIMIT: i64 = 512 * 1024 * 1024;

/// Everything the spec needs besides the settings.
pub struct SpecInputs<'a> {
    pub settings: &'a Settings,
    /// Host path of the probe binary, bind-mounted read-only at [`PROBE_PATH`].
    pub probe_bin: &'a Path,
    /// Host path of a static shell to provide at [`PROVIDED_SHELL_PATH`], if any.
    pub provided_shell: Option<&'a Path>,
    /// The container process's argv.
    pub args: Vec<String>,
    /// The resolved filter, if any.
    pub seccomp: Option<LinuxSeccomp>,
    /// The network namespace to join (bridge mode).
    pub netns: Option<PathBuf>,
    /// The run's key, for the runner's environment (never its argv: see
    /// `protocol::KEY_ENV`).
    pub key: Option<&'a crate::protocol::Key>,
}

/// The same settings as flags of a docker-compatible engine's `run`, for the engine
/// drivers: the engine builds the spec (and resolves the profile) itself.
pub fn engine_args(inputs: &SpecInputs, podman: bool) -> Vec<String> {
    let settings = inputs.settings;
    let mut args: Vec<String> = vec!["--hostname".into(), "breakout".into()];
    let mut opt = |flag: &str, value: String| {
        args.push(flag.to_string());
        args.push(value);
    };
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
    opt("--cap-drop", "ALL".into());
    for cap in &settings.caps {
        opt("--cap-add", cap.clone());
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
    let network = match (&inputs.netns, settings.network) {
        (Some(path), _) => format!("ns:{}", path.display()),
        (None, Network::Host) => "host".into(),
        (None, _) => "none".into(),
    };
    opt("--network", network);
    if inputs.key.is_some() {
        // By name only: the engine takes the value from its own environment, which
        // the driver sets; a value here would be on the engine's command line.
        opt("--env", crate::protocol::KEY_ENV.to_string());
    }
    opt("--pids-limit", PIDS_LIMIT.to_string());
    opt("--memory", MEMORY_LIMIT.to_string());
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
    if settings.read_only {
        args.push("--read-only".into());
        if podman {
            // podman adds writable tmpfs mounts on /tmp, /run and /var/tmp otherwise.
            args.push("--read-only-tmpfs=false".into());
        }
    }
    args
}

fn bind_mount(source: &Path, destination: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .expect("bind mount has every field")
}

/// Builds the OCI runtime spec for one container.
pub fn build_spec(inputs: &SpecInputs) -> Spec {
    let settings = inputs.settings;
    let mut spec = Spec::default();
    spec.set_hostname(Some("breakout".to_string()));
    spec.set_annotations(None);
    spec.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(settings.read_only)
            .build()
            .expect("root has every field"),
    ));

    let caps: std::collections::HashSet<Capability> = settings
        .caps
        .iter()
        .map(|c| {
            serde_json::from_value(serde_json::Value::String(c.clone()))
                .expect("capability names were validated")
        })
        .collect();
    // Inheritable and ambient stay empty, as Docker has them: the builder's defaults
    // would put KILL, AUDIT_WRITE and NET_BIND_SERVICE there, which hands those to a
    // non-root --user through the ambient set, and makes runc refuse to start any
    // container whose permitted set lacks one of them (--cap-drop ALL).
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(std::collections::HashSet::new())
        .ambient(std::collections::HashSet::new())
        .build()
        .expect("capabilities have every field");
    let (uid, gid) = settings.user.unwrap_or((0, 0));
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(
            UserBuilder::default()
                .uid(uid)
                .gid(gid)
                .build()
                .expect("user has every field"),
        )
        .args(inputs.args.clone())
        .env(
            std::iter::once(
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            )
            .chain(
                inputs
                    .key
                    .map(|key| format!("{}={}", crate::protocol::KEY_ENV, key.to_hex())),
            )
            .collect::<Vec<_>>(),
        )
        .cwd("/")
        .capabilities(capabilities)
        .no_new_privileges(settings.no_new_privileges)
        .build()
        .expect("process has every field");
    spec.set_process(Some(process));

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    // The cgroup mount of the default spec needs a cgroup namespace layout we do not set up.
    mounts.retain(|m| m.destination() != Path::new("/sys/fs/cgroup"));
    for volume in &settings.volumes {
        let mut options = vec!["rbind", "rprivate"];
        options.extend(volume.options.iter().map(String::as_str));
        mounts.push(bind_mount(&volume.source, &volume.destination, &options));
    }
    for tmpfs in &settings.tmpfs {
        mounts.push(
            MountBuilder::default()
                .destination(&tmpfs.destination)
                .typ("tmpfs")
                .source("tmpfs")
                .options(tmpfs.options.clone())
                .build()
                .expect("tmpfs mount has every field"),
        );
    }
    // The harness's own mounts come last, on top of everything: a user mount whose
    // destination is a symlink in the (hostile) rootfs to /.breakout lands there when
    // the runtime resolves it, and must not cover the runner.
    mounts.push(bind_mount(
        inputs.probe_bin,
        PROBE_PATH,
        &["bind", "ro", "nosuid", "nodev"],
    ));
    if let Some(shell) = inputs.provided_shell {
        mounts.push(bind_mount(
            shell,
            PROVIDED_SHELL_PATH,
            &["bind", "ro", "nosuid", "nodev"],
        ));
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    if let Some(namespaces) = linux.namespaces_mut() {
        namespaces.retain(|ns| {
            ns.typ() != LinuxNamespaceType::Cgroup
                && !(settings.network == Network::Host && ns.typ() == LinuxNamespaceType::Network)
        });
        if let Some(path) = &inputs.netns {
            for ns in namespaces.iter_mut() {
                if ns.typ() == LinuxNamespaceType::Network {
                    ns.set_path(Some(path.clone()));
                }
            }
        }
    }
    linux.set_resources(Some(
        LinuxResourcesBuilder::default()
            .pids(
                LinuxPidsBuilder::default()
                    .limit(PIDS_LIMIT)
                    .build()
                    .expect("pids has every field"),
            )
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(MEMORY_LIMIT)
                    .build()
                    .expect("memory has every field"),
            )
            .build()
            .expect("resources have every field"),
    ));
    if settings.unconfined_paths {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }
    linux.set_seccomp(inputs.seccomp.clone());
    spec.set_linux(Some(linux));
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSettings {
        RawSettings::default()
    }

    #[test]
    fn the_harness_mounts_come_last() {
        let settings = RawSettings {
            tmpfs: vec!["/scratch".into()],
            volumes: vec![format!("{}:/data", std::env::temp_dir().display())],
            ..raw()
        }
        .validate()
        .unwrap();
        let spec = build_spec(&SpecInputs {
            settings: &settings,
            probe_bin: Path::new("/usr/bin/true"),
            provided_shell: Some(Path::new("/bin/sh")),
            args: vec![PROBE_PATH.into()],
            seccomp: None,
            netns: None,
            key: None,
        });
        let destinations: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().clone())
            .collect();
        let n = destinations.len();
        assert_eq!(destinations[n - 2], Path::new(PROBE_PATH));
        assert_eq!(destinations[n - 1], Path::new(PROVIDED_SHELL_PATH));
    }

    /// Settings that touch every branch of the spec and the engine argv.
    fn pinned_settings() -> Settings {
        RawSettings {
            profile: Some("/x.json".into()),
            security_opts: vec!["no-new-privileges".into(), "systempaths=unconfined".into()],
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["NET_RAW".into(), "sys_admin".into()],
            read_only: true,
            volumes: vec!["/tmp:/data:ro,noexec".into()],
            tmpfs: vec!["/scratch:exec,size=1m".into()],
            user: Some("1000:50".into()),
            network: Some("host".into()),
            rootfs: None,
        }
        .validate_for(None)
        .unwrap()
    }

    fn pinned_key() -> crate::protocol::Key {
        crate::protocol::Key::from_hex(&"ab".repeat(32)).unwrap()
    }

    fn pinned_inputs<'a>(settings: &'a Settings, key: &'a crate::protocol::Key) -> SpecInputs<'a> {
        SpecInputs {
            settings,
            probe_bin: Path::new("/usr/bin/true"),
            provided_shell: Some(Path::new("/bin/sh")),
            args: vec![PROBE_PATH.into(), "run".into()],
            seccomp: None,
            netns: Some("/run/netns/x".into()),
            key: Some(key),
        }
    }

    /// config.json as written, with the capability sets sorted: they are hash sets,
    /// whose order differs from one process to the next.
    fn stable_spec_json(spec: &Spec) -> String {
        let mut json = serde_json::to_value(spec).unwrap();
        if let Some(caps) = json["process"]["capabilities"].as_object_mut() {
            for set in caps.values_mut() {
                if let Some(list) = set.as_array_mut() {
                    list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                }
            }
        }
        serde_json::to_string_pretty(&json).unwrap() + "\n"
    }

    #[test]
    fn config_json_is_pinned() {
        let settings = pinned_settings();
        let key = pinned_key();
        let got = stable_spec_json(&build_spec(&pinned_inputs(&settings, &key)));
        let golden =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("src/container/testdata/config.json");
        if std::env::var_os("BREAKOUT_BLESS").is_some() {
            std::fs::write(&golden, &got).unwrap();
        }
        assert_eq!(got, std::fs::read_to_string(&golden).unwrap());
        let defaults = raw().validate_for(None).unwrap();
        let got = stable_spec_json(&build_spec(&SpecInputs {
            provided_shell: None,
            netns: None,
            key: None,
            ..pinned_inputs(&defaults, &key)
        }));
        let golden = golden.with_file_name("config-defaults.json");
        if std::env::var_os("BREAKOUT_BLESS").is_some() {
            std::fs::write(&golden, &got).unwrap();
        }
        assert_eq!(got, std::fs::read_to_string(&golden).unwrap());
    }

    #[test]
    fn engine_argv_is_pinned() {
        let settings = pinned_settings();
        let key = pinned_key();
        let inputs = pinned_inputs(&settings, &key);
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
        assert_eq!(engine_args(&inputs, false), common);
        let mut podman = common.to_vec();
        podman.push("--read-only-tmpfs=false");
        assert_eq!(engine_args(&inputs, true), podman);
        let defaults = raw().validate_for(None).unwrap();
        let argv = engine_args(
            &SpecInputs {
                provided_shell: None,
                netns: None,
                key: None,
                ..pinned_inputs(&defaults, &key)
            },
            true,
        );
        let caps: Vec<String> = DOCKER_DEFAULT_CAPS
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

    #[test]
    fn spec_carries_settings() {
        let settings = RawSettings {
            read_only: true,
            network: Some("host".into()),
            tmpfs: vec!["/scratch:noexec".into()],
            user: Some("1000:1000".into()),
            ..raw()
        }
        .validate()
        .unwrap();
        let spec = build_spec(&SpecInputs {
            settings: &settings,
            probe_bin: Path::new("/usr/bin/true"),
            provided_shell: None,
            args: vec![PROBE_PATH.into(), "run".into()],
            seccomp: None,
            netns: None,
            key: None,
        });
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["root"]["readonly"], true);
        assert_eq!(json["process"]["user"]["uid"], 1000);
        assert_eq!(json["process"]["noNewPrivileges"], false);
        let namespaces = json["linux"]["namespaces"].as_array().unwrap();
        assert!(namespaces.iter().all(|n| n["type"] != "network"));
        let mounts = json["mounts"].as_array().unwrap();
        let scratch = mounts
            .iter()
            .find(|m| m["destination"] == "/scratch")
            .unwrap();
        assert!(scratch["options"]
            .as_array()
            .unwrap()
            .contains(&"noexec".into()));
        assert!(mounts.iter().any(|m| m["destination"] == PROBE_PATH));
        assert!(json["linux"].get("seccomp").is_none());
        assert_eq!(json["linux"]["resources"]["pids"]["limit"], PIDS_LIMIT);
        // As Docker: no inheritable and no ambient capabilities, whatever the user.
        let caps = &json["process"]["capabilities"];
        for set in ["inheritable", "ambient"] {
            assert!(
                caps[set].as_array().is_none_or(|a| a.is_empty()),
                "{set}: {}",
                caps[set]
            );
        }
        assert!(caps["bounding"]
            .as_array()
            .unwrap()
            .contains(&"CAP_KILL".into()));
    }
}
