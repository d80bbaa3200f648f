//! The OCI runtime spec (config.json) for one container: the settings, the harness's
//! own mounts on top, the limits and the resolved filter.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, LinuxDeviceBuilder, LinuxDeviceCgroup,
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResourcesBuilder, LinuxSeccomp, Mount, MountBuilder, ProcessBuilder,
    RootBuilder, Spec, UserBuilder,
};

use super::{Network, Settings, PROBE_PATH, PROVIDED_SHELL_PATH, SETUID_BINARY_PATH};

/// Limits that keep a fork bomb or a memory hog inside the container.
pub(crate) const PIDS_LIMIT: i64 = 256;
pub(crate) const MEMORY_LIMIT: i64 = 512 * 1024 * 1024;

/// Everything the spec needs besides the settings.
pub struct SpecInputs<'a> {
    pub settings: &'a Settings,
    /// Host path of the probe binary, bind-mounted read-only at [`PROBE_PATH`].
    pub probe_bin: &'a Path,
    /// Host path of a static shell to provide at [`PROVIDED_SHELL_PATH`], if any.
    pub provided_shell: Option<&'a Path>,
    /// Host path of the set-uid-root copy of the probe to provide at
    /// [`SETUID_BINARY_PATH`], if any: mounted with set-uid bits honoured.
    pub setuid_binary: Option<&'a Path>,
    /// The container process's argv.
    pub args: Vec<String>,
    /// The resolved filter, if any.
    pub seccomp: Option<LinuxSeccomp>,
    /// The network namespace to join (bridge mode).
    pub netns: NetJoin,
    /// The run's key, for the runner's environment (never its argv: see
    /// `protocol::KEY_ENV`).
    pub key: Option<&'a crate::protocol::Key>,
}

/// The network namespace a bridge run's containers join: by path for the OCI runtimes
/// and podman (`ns:PATH`), by the container holding it for docker, which takes no path
/// (`--network container:NAME`, see `run::keeper`).
#[derive(Debug, Clone, Default)]
pub struct NetJoin {
    pub path: Option<PathBuf>,
    pub container: Option<String>,
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

/// The container's environment: an image's (which has no name of the harness's, see
/// `image::config`), Docker's default PATH where it sets none, and the run's key.
fn environment(inputs: &SpecInputs) -> Vec<String> {
    let image_env: &[String] = inputs
        .settings
        .image
        .as_ref()
        .map_or(&[], |i| i.config.env.as_slice());
    let mut env = image_env.to_vec();
    if !image_env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        );
    }
    env.extend(
        inputs
            .key
            .map(|key| format!("{}={}", crate::protocol::KEY_ENV, key.to_hex())),
    );
    env
}

/// Builds the OCI runtime spec for one container.
pub fn build_spec(inputs: &SpecInputs) -> Spec {
    let settings = inputs.settings;
    let mut spec = Spec::default();
    let flags = &settings.flags;
    // A container in the host's UTS namespace keeps the host's name: runtimes refuse
    // to set one there.
    spec.set_hostname((!flags.host_uts).then(|| "breakout".to_string()));
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
        .env(environment(inputs))
        .cwd(
            settings
                .image
                .as_ref()
                .and_then(|i| i.config.working_dir().ok().flatten())
                .unwrap_or("/"),
        )
        .capabilities(capabilities)
        .no_new_privileges(settings.no_new_privileges)
        .build()
        .expect("process has every field");
    let mut process = process;
    if let Some(profile) = apparmor_profile(settings) {
        process.set_apparmor_profile(Some(profile));
    }
    spec.set_process(Some(process));

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    if flags.privileged {
        // Docker's privileged container has /sys writable.
        for m in mounts
            .iter_mut()
            .filter(|m| m.destination() == Path::new("/sys"))
        {
            let options = m
                .options()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|o| if o == "ro" { "rw".to_string() } else { o })
                .collect::<Vec<_>>();
            m.set_options(Some(options));
        }
    }
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
    // Set-uid bits honoured on purpose: it is the one file whose bit is the question.
    if let Some(binary) = inputs.setuid_binary {
        mounts.push(bind_mount(
            binary,
            SETUID_BINARY_PATH,
            &["bind", "ro", "nodev", "suid", "exec"],
        ));
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    if let Some(namespaces) = linux.namespaces_mut() {
        namespaces.retain(|ns| match ns.typ() {
            LinuxNamespaceType::Cgroup => false,
            LinuxNamespaceType::Network => settings.network != Network::Host,
            LinuxNamespaceType::Pid => !flags.host_pid,
            LinuxNamespaceType::Ipc => !flags.host_ipc,
            LinuxNamespaceType::Uts => !flags.host_uts,
            _ => true,
        });
        if flags.private_userns {
            namespaces.push(
                oci_spec::runtime::LinuxNamespaceBuilder::default()
                    .typ(LinuxNamespaceType::User)
                    .build()
                    .expect("a namespace has every field"),
            );
        }
        if let Some(path) = &inputs.netns.path {
            for ns in namespaces.iter_mut() {
                if ns.typ() == LinuxNamespaceType::Network {
                    ns.set_path(Some(path.clone()));
                }
            }
        }
    }
    let mut resources = LinuxResourcesBuilder::default()
        .build()
        .expect("resources have every field");
    // `--memory 0`: none, as Docker's default.
    let memory = flags.memory.unwrap_or(MEMORY_LIMIT);
    if memory > 0 {
        resources.set_memory(Some(
            LinuxMemoryBuilder::default()
                .limit(memory)
                .build()
                .expect("memory has every field"),
        ));
    }
    // `--pids-limit 0` or -1: none, as Docker has it.
    if let Some(limit) = flags.pids_limit.unwrap_or(Some(PIDS_LIMIT)) {
        resources.set_pids(Some(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .expect("pids has every field"),
        ));
    }
    let mut device_rules = Vec::new();
    if flags.privileged {
        device_rules.push(device_rule(None, "rwm"));
    }
    let mut devices = Vec::new();
    for d in &flags.devices {
        device_rules.push(device_rule(Some(d), &d.access));
        devices.push(
            LinuxDeviceBuilder::default()
                .path(&d.container)
                .typ(if d.kind == 'b' {
                    LinuxDeviceType::B
                } else {
                    LinuxDeviceType::C
                })
                .major(d.major)
                .minor(d.minor)
                .file_mode(0o666u32)
                .uid(0u32)
                .gid(0u32)
                .build()
                .expect("a device has every field"),
        );
    }
    if !device_rules.is_empty() {
        resources.set_devices(Some(device_rules));
    }
    if !devices.is_empty() {
        linux.set_devices(Some(devices));
    }
    linux.set_resources(Some(resources));
    if flags.private_userns {
        let mapping = oci_spec::runtime::LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(super::run_flags::USERNS_HOST_ID)
            .size(super::run_flags::USERNS_SIZE)
            .build()
            .expect("a mapping has every field");
        linux.set_uid_mappings(Some(vec![mapping]));
        linux.set_gid_mappings(Some(vec![mapping]));
    }
    if !flags.sysctls.is_empty() {
        linux.set_sysctl(Some(flags.sysctls.clone().into_iter().collect()));
    }
    if settings.unconfined_paths {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }
    linux.set_seccomp(inputs.seccomp.clone());
    spec.set_linux(Some(linux));
    spec
}

/// A device cgroup rule allowing `device` (every device where `None`).
fn device_rule(device: Option<&super::Device>, access: &str) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .access(access)
        .build()
        .expect("a device rule has every field");
    if let Some(d) = device {
        rule.set_typ(Some(if d.kind == 'b' {
            LinuxDeviceType::B
        } else {
            LinuxDeviceType::C
        }));
        rule.set_major(Some(d.major));
        rule.set_minor(Some(d.minor));
    } else {
        rule.set_typ(Some(LinuxDeviceType::A));
    }
    rule
}

/// The AppArmor profile asked for, where AppArmor is active; elsewhere the option is
/// recorded only (the report says it was not enforced).
fn apparmor_profile(settings: &Settings) -> Option<String> {
    let profile = settings.lsm.iter().find_map(|o| {
        o.strip_prefix("apparmor=")
            .or_else(|| o.strip_prefix("apparmor:"))
    })?;
    super::lsm_active("apparmor").then(|| profile.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::fixtures::{pinned_inputs, pinned_key, pinned_settings};
    use crate::container::RawSettings;

    fn raw() -> RawSettings {
        RawSettings::default()
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
            setuid_binary: None,
            netns: Default::default(),
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
            setuid_binary: None,
            args: vec![PROBE_PATH.into()],
            seccomp: None,
            netns: Default::default(),
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
            setuid_binary: None,
            args: vec![PROBE_PATH.into(), "run".into()],
            seccomp: None,
            netns: Default::default(),
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

    /// `--privileged`, the host namespaces, limits, sysctls and a device, as Docker
    /// would set them.
    #[test]
    fn run_flags_reach_the_spec() {
        let settings = RawSettings {
            run_flags: crate::container::RawRunFlags {
                privileged: true,
                pid: Some("host".into()),
                ipc: Some("host".into()),
                uts: Some("host".into()),
                pids_limit: Some(-1),
                memory: Some("64m".into()),
                sysctls: vec!["kernel.shmmni=8".into()],
                devices: vec!["/dev/null:/dev/probe-null:r".into()],
                userns: None,
            },
            profile: Some("/x.json".into()),
            ..raw()
        }
        .validate_for(None)
        .unwrap();
        assert_eq!(settings.seccomp, crate::container::Seccomp::Unconfined);
        assert!(settings.caps.contains("CAP_SYS_ADMIN"));
        let key = pinned_key();
        let mut inputs = pinned_inputs(&settings, &key);
        inputs.seccomp = None;
        let json = serde_json::to_value(build_spec(&inputs)).unwrap();
        let kinds: Vec<&str> = json["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["type"].as_str())
            .collect();
        assert!(!kinds.contains(&"pid") && !kinds.contains(&"ipc") && !kinds.contains(&"uts"));
        assert!(json["hostname"].is_null());
        assert!(json["linux"]["resources"]["pids"].is_null());
        assert_eq!(json["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(json["linux"]["sysctl"]["kernel.shmmni"], "8");
        assert_eq!(json["linux"]["devices"][0]["path"], "/dev/probe-null");
        let rules = json["linux"]["resources"]["devices"].as_array().unwrap();
        assert!(rules.iter().any(|r| r["allow"] == true && r["type"] == "a"));
        assert!(json["linux"]["maskedPaths"].is_null());
        let sys = json["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys")
            .unwrap();
        assert!(!sys["options"].as_array().unwrap().iter().any(|o| o == "ro"));
    }
}
