//! Container settings and spec inputs that touch every branch of the spec and of the
//! engine argv, shared by the tests that pin both.

use std::path::Path;

use super::{RawSettings, Settings, SpecInputs, PROBE_PATH};

/// Settings that touch every branch of the spec and the engine argv.
pub(crate) fn pinned_settings() -> Settings {
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
        run_flags: Default::default(),
        image: None,
    }
    .validate_for(None)
    .unwrap()
}

pub(crate) fn pinned_key() -> crate::protocol::Key {
    crate::protocol::Key::from_hex(&"ab".repeat(32)).unwrap()
}

pub(crate) fn pinned_inputs<'a>(
    settings: &'a Settings,
    key: &'a crate::protocol::Key,
) -> SpecInputs<'a> {
    SpecInputs {
        settings,
        probe_bin: Path::new("/usr/bin/true"),
        provided_shell: Some(Path::new("/bin/sh")),
        setuid_binary: None,
        args: vec![PROBE_PATH.into(), "run".into()],
        seccomp: None,
        netns: super::NetJoin {
            path: Some("/run/netns/x".into()),
            container: Some("breakout-x-net".into()),
        },
        key: Some(key),
    }
}
