//! The CLI without containers: the static probe, bad input and its exit code 2, the
//! catalog listing. None of these needs root.

mod common;

use common::{breakout, fixture};

#[test]
fn probe_has_no_program_interpreter() {
    let probe = std::path::Path::new(env!("CARGO_BIN_EXE_breakout-probe"));
    assert!(
        breakout::bundle::is_static_elf(probe).unwrap(),
        "{} has a PT_INTERP header: it cannot start in an empty rootfs",
        probe.display()
    );
    // Cross-check with binutils where it is installed.
    if let Ok(out) = std::process::Command::new("readelf")
        .arg("-l")
        .arg(probe)
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("program interpreter"), "{text}");
    }
}

fn assert_usage_error(args: &[&str], needles: &[&str]) {
    let out = breakout(args);
    assert_eq!(out.code, 2, "{args:?}: stderr {}", out.stderr);
    for needle in needles {
        assert!(
            out.stderr.contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn malformed_profiles_name_file_line_and_column() {
    let cases = [
        (
            "invalid-trailing-comma.json",
            "invalid-trailing-comma.json:",
        ),
        ("invalid-unknown-action.json", "SCMP_ACT_"),
        ("invalid-names-string.json", "invalid-names-string.json:"),
        ("invalid-truncated.json", "invalid-truncated.json:"),
    ];
    for (file, needle) in cases {
        let path = fixture(file);
        assert_usage_error(&["run", "--profile", &path], &[file, needle]);
        // line:column appear right after the file name
        let out = breakout(&["run", "--profile", &path]);
        let after = out.stderr.split(file).nth(1).unwrap_or_default();
        let mut parts = after.trim_start_matches(':').split(':');
        let line = parts.next().unwrap_or_default();
        let column = parts.next().unwrap_or_default();
        assert!(
            line.parse::<u32>().is_ok() && column.parse::<u32>().is_ok(),
            "{file}: no line:column in {:?}",
            out.stderr
        );
    }
}

#[test]
fn missing_profile_is_a_usage_error() {
    assert_usage_error(
        &["run", "--profile", "/nonexistent/profile.json"],
        &["/nonexistent/profile.json"],
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    assert_usage_error(&["run", "--network", "wifi"], &["--network"]);
    assert_usage_error(&["run", "--cap-add", "CAP_FLY"], &["CAP_FLY"]);
    assert_usage_error(&["run", "--tmpfs", "relative"], &["--tmpfs"]);
    assert_usage_error(&["run", "-v", "/nonexistent:/data"], &["--volume"]);
    assert_usage_error(&["run", "--user", "nobody"], &["--user"]);
    assert_usage_error(&["run", "--probe", "nothing.*"], &["matches no probe"]);
    // apparmor=PROFILE is accepted (and recorded); a bare or unknown option is not.
    assert_usage_error(&["run", "--security-opt", "apparmor"], &["--security-opt"]);
    assert_usage_error(&["run", "--security-opt", "selinux=x"], &["--security-opt"]);
    assert_usage_error(&["run", "--sysctl", "vm.swappiness=1"], &["--sysctl"]);
    assert_usage_error(&["run", "--pid", "container:x"], &["--pid"]);
    assert_usage_error(&["run", "--runtime", "nosuch"], &["nosuch"]);
    assert_usage_error(&["run", "--timeout", "0"], &["--timeout"]);
    assert_usage_error(&["run", "--bogus"], &["--bogus"]);
}

#[test]
fn probes_lists_the_catalog_as_json() {
    let out = breakout(&["probes", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    for id in [
        "exec.execve",
        "exec.execveat",
        "exec.shell",
        "spawn.fork",
        "spawn.vfork",
        "spawn.clone",
        "spawn.clone3",
        "fs.write-rootfs",
        "fs.write-mount",
        "fs.exec-mount",
        "net.tcp-connect",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    for p in list.as_array().unwrap() {
        for key in ["goal", "technique", "tries", "blocked_by"] {
            assert!(p[key].is_string(), "{p}: {key}");
        }
    }
}

#[test]
fn dynamic_probe_binary_is_an_environment_error() {
    // Debian's coreutils are dynamically linked.
    let out = breakout(&["run", "--probe-bin", "/bin/ls"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("dynamically linked"), "{}", out.stderr);
}

/// Runs `breakout ARGS` as an unprivileged user (nobody, when the tests run as root),
/// with `DOCKER_HOST` naming a socket that is not there: exit code and stderr.
fn breakout_not_root(args: &[&str]) -> (Option<i32>, String) {
    // SAFETY: geteuid has no preconditions.
    let mut cmd = if unsafe { libc::geteuid() } != 0 {
        std::process::Command::new(env!("CARGO_BIN_EXE_breakout"))
    } else {
        // As root, drop to nobody for the one call.
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_breakout"));
        c
    };
    let out = cmd
        .args(args)
        .env("DOCKER_HOST", "unix:///nonexistent/breakout-test.sock")
        .output()
        .expect("setpriv from util-linux (an essential Debian package)");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn not_root_is_an_environment_error() {
    let (code, stderr) = breakout_not_root(&["run"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains(breakout::hint::ROOT), "{stderr}");
    assert!(stderr.contains("must run as root"), "{stderr}");
}

/// Not root is said before a runtime is asked whether it can start containers: the
/// docker CLI's complaint about its socket is not the cause, breakout's rights are.
#[test]
fn not_root_is_said_before_the_runtimes_are_asked() {
    for args in [
        &["run", "--runtime", "docker", "--probe", "spawn.fork"][..],
        &["compare", "--probe", "spawn.fork"],
        &[
            "record",
            "--runtime",
            "docker",
            "--write-profile",
            "/nonexistent/profile.json",
            "--workload",
            "--",
            "/bin/true",
        ],
    ] {
        let (code, stderr) = breakout_not_root(args);
        assert_eq!(code, Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(breakout::hint::ROOT), "{args:?}: {stderr}");
        assert!(!stderr.contains("Docker"), "{args:?}: {stderr}");
    }
    // Bad input is still bad input, root or not.
    let (code, stderr) = breakout_not_root(&["run", "--runtime", "nosuch"]);
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn a_missing_probe_binary_says_where_the_probe_comes_from() {
    assert_usage_error(
        &["run", "--probe-bin", "/nonexistent/breakout-probe"],
        &[
            "--probe-bin /nonexistent/breakout-probe: no such file",
            breakout::hint::PROBE_BUILT,
        ],
    );
}

#[test]
fn help_names_every_runtime_and_engine() {
    for command in ["run", "compare", "harden", "record"] {
        let out = breakout(&[command, "--help"]);
        assert_eq!(out.code, 0, "{command} --help: {}", out.stderr);
        for kind in breakout::runtime::RUNTIMES {
            assert!(
                out.stdout.contains(kind.name),
                "{command} --help does not name {}:\n{}",
                kind.name,
                out.stdout
            );
        }
    }
}
