//! Tests of profile loading, validation and Docker-exact resolution.

use super::names::Named;
use super::*;
use oci_spec::runtime::LinuxSeccompOperator;
use serde_json::Value;

use crate::container::DOCKER_DEFAULT_CAPS;

const DOCKER_DEFAULT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/docker-default.json");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/profiles")
        .join(name)
}

fn platform(arch: &str, kernel: (u32, u32), extra_caps: &[&str]) -> Platform {
    let caps = DOCKER_DEFAULT_CAPS
        .iter()
        .chain(extra_caps)
        .map(|c| c.to_string())
        .collect();
    Platform {
        arch: arch.to_string(),
        kernel,
        caps,
    }
}

/// The Docker default profile, or `None` (with the reason on stderr) where the
/// shared copy is missing.
fn docker_default() -> Option<Profile> {
    let path = Path::new(DOCKER_DEFAULT);
    if !path.exists() {
        eprintln!("skipped: {} is missing", path.display());
        return None;
    }
    Some(Profile::load(path).expect("docker's default profile loads"))
}

fn rules(seccomp: &LinuxSeccomp) -> &[LinuxSyscall] {
    seccomp.syscalls().as_deref().unwrap_or(&[])
}

/// Rules that name `syscall`.
fn rules_for<'a>(seccomp: &'a LinuxSeccomp, syscall: &str) -> Vec<&'a LinuxSyscall> {
    rules(seccomp)
        .iter()
        .filter(|r| r.names().iter().any(|n| n == syscall))
        .collect()
}

/// Whether some rule allows `syscall` whatever its arguments.
fn allowed_unconditionally(seccomp: &LinuxSeccomp, syscall: &str) -> bool {
    rules_for(seccomp, syscall).iter().any(|r| {
        r.action() == LinuxSeccompAction::ScmpActAllow
            && r.args().as_ref().is_none_or(|a| a.is_empty())
    })
}

fn arg(index: usize, value: u64, op: LinuxSeccompOperator) -> LinuxSeccompArg {
    LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .value_two(0u64)
        .op(op)
        .build()
        .expect("argument builds")
}

// ---- Docker's default profile -------------------------------------------------

/// What dockerd hands runc for `docker run` with default capabilities on an x86_64
/// host with a 6.x kernel, rule by rule, worked out by hand from the profile and
/// moby's `setupSeccomp`.
#[test]
fn docker_default_resolves_as_docker_does_on_x86_64() {
    let Some(profile) = docker_default() else {
        return;
    };
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(DOCKER_DEFAULT).unwrap()).unwrap();
    let seccomp = profile.resolve(&platform("x86_64", (6, 8), &[])).unwrap();

    assert_eq!(file["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(file["defaultErrnoRet"], 1);
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(seccomp.default_errno_ret(), Some(1));
    assert_eq!(
        seccomp.architectures().as_deref(),
        Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
    );

    use LinuxSeccompAction::{ScmpActAllow as Allow, ScmpActErrno as Errno};
    use LinuxSeccompOperator::*;
    let first: Vec<String> = serde_json::from_value(file["syscalls"][0]["names"].clone()).unwrap();
    // names, action, errnoRet, args
    type Expected<'a> = (
        Vec<&'a str>,
        LinuxSeccompAction,
        Option<u32>,
        Vec<LinuxSeccompArg>,
    );
    let expected: Vec<Expected> = vec![
        (
            first.iter().map(String::as_str).collect(),
            Allow,
            None,
            vec![],
        ),
        (
            vec!["process_vm_readv", "process_vm_writev", "ptrace"],
            Allow,
            None,
            vec![],
        ),
        (vec!["socket"], Allow, None, vec![arg(0, 38, ScmpCmpLt)]),
        (vec!["socket"], Allow, None, vec![arg(0, 39, ScmpCmpEq)]),
        (vec!["socket"], Allow, None, vec![arg(0, 40, ScmpCmpGt)]),
        (vec!["personality"], Allow, None, vec![arg(0, 0, ScmpCmpEq)]),
        (vec!["personality"], Allow, None, vec![arg(0, 8, ScmpCmpEq)]),
        (
            vec!["personality"],
            Allow,
            None,
            vec![arg(0, 131072, ScmpCmpEq)],
        ),
        (
            vec!["personality"],
            Allow,
            None,
            vec![arg(0, 131080, ScmpCmpEq)],
        ),
        (
            vec!["personality"],
            Allow,
            None,
            vec![arg(0, 4294967295, ScmpCmpEq)],
        ),
        (vec!["arch_prctl"], Allow, None, vec![]),
        (vec!["modify_ldt"], Allow, None, vec![]),
        (
            vec!["clone"],
            Allow,
            None,
            vec![arg(0, 2114060288, ScmpCmpMaskedEq)],
        ),
        (vec!["clone3"], Errno, Some(38), vec![]),
        (vec!["chroot"], Allow, None, vec![]),
    ];
    let got = rules(&seccomp);
    assert_eq!(got.len(), expected.len(), "resolved rules: {got:#?}");
    for (i, (rule, (names, action, errno, args))) in got.iter().zip(&expected).enumerate() {
        assert_eq!(rule.names(), names, "rule {i}");
        assert_eq!(rule.action(), *action, "rule {i} ({names:?})");
        assert_eq!(rule.errno_ret(), *errno, "rule {i} ({names:?})");
        assert_eq!(
            rule.args().clone().unwrap_or_default(),
            *args,
            "rule {i} ({names:?})"
        );
    }

    // Spelled out because these are the rules a sandbox audit asks about.
    assert!(!allowed_unconditionally(&seccomp, "clone"));
    assert!(!allowed_unconditionally(&seccomp, "clone3"));
    for privileged in [
        "bpf",
        "mount",
        "unshare",
        "setns",
        "open_by_handle_at",
        "reboot",
    ] {
        assert!(
            rules_for(&seccomp, privileged).is_empty(),
            "{privileged} must need a capability"
        );
    }
}

#[test]
fn docker_default_with_sys_admin_allows_namespace_and_mount_syscalls() {
    let Some(profile) = docker_default() else {
        return;
    };
    let seccomp = profile
        .resolve(&platform("x86_64", (6, 8), &["CAP_SYS_ADMIN"]))
        .unwrap();
    for syscall in [
        "bpf", "mount", "unshare", "setns", "clone", "clone3", "umount2",
    ] {
        assert!(
            allowed_unconditionally(&seccomp, syscall),
            "{syscall} should be allowed with CAP_SYS_ADMIN"
        );
    }
    // The rules that excluded CAP_SYS_ADMIN are gone: no masked clone, no ENOSYS clone3.
    assert!(rules(&seccomp)
        .iter()
        .all(|r| r.args().is_none() || !r.names().contains(&"clone".to_string())));
    assert!(rules(&seccomp)
        .iter()
        .all(|r| r.action() != LinuxSeccompAction::ScmpActErrno));
}

#[test]
fn docker_default_caps_are_checked_one_by_one() {
    let Some(profile) = docker_default() else {
        return;
    };
    let seccomp = profile
        .resolve(&platform("x86_64", (6, 8), &["CAP_SYS_PTRACE", "CAP_BPF"]))
        .unwrap();
    assert!(allowed_unconditionally(&seccomp, "kcmp"));
    assert!(allowed_unconditionally(&seccomp, "bpf"));
    assert!(!allowed_unconditionally(&seccomp, "mount"));
    assert!(!allowed_unconditionally(&seccomp, "perf_event_open"));

    // Without the default CAP_SYS_CHROOT, chroot goes.
    let mut no_chroot = platform("x86_64", (6, 8), &[]);
    no_chroot.caps.retain(|c| c != "CAP_SYS_CHROOT");
    let seccomp = profile.resolve(&no_chroot).unwrap();
    assert!(rules_for(&seccomp, "chroot").is_empty());
}

#[test]
fn docker_default_arch_rules_follow_the_platform() {
    let Some(profile) = docker_default() else {
        return;
    };
    let arm = profile.resolve(&platform("aarch64", (6, 8), &[])).unwrap();
    assert_eq!(
        arm.architectures().as_deref(),
        Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
    );
    assert!(rules_for(&arm, "arch_prctl").is_empty());
    assert!(rules_for(&arm, "modify_ldt").is_empty());
    assert!(allowed_unconditionally(&arm, "set_tls"));
    assert!(!allowed_unconditionally(&arm, "clone"));

    let x86 = profile.resolve(&platform("x86_64", (6, 8), &[])).unwrap();
    assert!(allowed_unconditionally(&x86, "arch_prctl"));
    assert!(rules_for(&x86, "set_tls").is_empty());

    // s390 passes clone's flags in the second argument, and the profile says so.
    let s390 = profile.resolve(&platform("s390x", (6, 8), &[])).unwrap();
    let clone_args: Vec<usize> = rules_for(&s390, "clone")
        .iter()
        .flat_map(|r| r.args().clone().unwrap_or_default())
        .map(|a| a.index())
        .collect();
    assert_eq!(clone_args, [1]);
    assert_eq!(
        s390.architectures().as_deref(),
        Some(&[Arch::ScmpArchS390x, Arch::ScmpArchS390][..])
    );

    // RISC-V's archMap entry has "subArchitectures": null.
    let riscv = profile.resolve(&platform("riscv64", (6, 8), &[])).unwrap();
    assert_eq!(
        riscv.architectures().as_deref(),
        Some(&[Arch::ScmpArchRiscv64][..])
    );
}

#[test]
fn docker_default_ptrace_needs_kernel_4_8() {
    let Some(profile) = docker_default() else {
        return;
    };
    let old = profile.resolve(&platform("x86_64", (4, 4), &[])).unwrap();
    assert!(rules_for(&old, "ptrace").is_empty());
    assert!(rules_for(&old, "process_vm_readv").is_empty());
    for kernel in [(4, 8), (4, 20), (6, 1)] {
        let new = profile.resolve(&platform("x86_64", kernel, &[])).unwrap();
        assert!(allowed_unconditionally(&new, "ptrace"), "kernel {kernel:?}");
    }
}

#[test]
fn docker_default_personality_is_allowed_only_for_listed_personas() {
    let Some(profile) = docker_default() else {
        return;
    };
    let seccomp = profile.resolve(&platform("x86_64", (6, 8), &[])).unwrap();
    let personas: Vec<(u64, LinuxSeccompOperator)> = rules_for(&seccomp, "personality")
        .iter()
        .map(|r| {
            let args = r.args().clone().unwrap_or_default();
            assert_eq!(args.len(), 1);
            assert_eq!(args[0].index(), 0);
            (args[0].value(), args[0].op())
        })
        .collect();
    let eq = LinuxSeccompOperator::ScmpCmpEq;
    assert_eq!(
        personas,
        [
            (0, eq),
            (8, eq),
            (131072, eq),
            (131080, eq),
            (4294967295, eq)
        ]
    );
}

#[test]
fn resolved_json_has_the_keys_runc_reads() {
    let Some(profile) = docker_default() else {
        return;
    };
    let seccomp = profile.resolve(&platform("x86_64", (6, 8), &[])).unwrap();
    let json = serde_json::to_value(&seccomp).unwrap();
    assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["defaultErrnoRet"], 1);
    assert_eq!(
        json["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    );
    let syscalls = json["syscalls"].as_array().expect("syscalls is a list");
    for rule in syscalls {
        assert!(rule["names"].is_array(), "{rule}");
        assert!(rule["action"].as_str().unwrap().starts_with("SCMP_ACT_"));
    }
    let clone3 = syscalls
        .iter()
        .find(|r| r["names"] == serde_json::json!(["clone3"]))
        .unwrap();
    assert_eq!(clone3["action"], "SCMP_ACT_ERRNO");
    assert_eq!(clone3["errnoRet"], 38);
    let clone = syscalls
        .iter()
        .find(|r| r["names"] == serde_json::json!(["clone"]))
        .unwrap();
    assert_eq!(
        clone["args"],
        serde_json::json!([{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])
    );
}

// ---- Fixtures -------------------------------------------------------------------

#[test]
fn seed_denies_process_creation() {
    let profile = Profile::load(&fixture("seed.json")).unwrap();
    assert_eq!(profile.path(), fixture("seed.json"));
    let seccomp = profile.resolve(&platform("x86_64", (6, 8), &[])).unwrap();
    let json = serde_json::to_value(&seccomp).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["execve", "execveat", "fork", "clone", "clone3"],
                "action": "SCMP_ACT_ERRNO"
            }]
        })
    );
}

#[test]
fn seed_minus_execve_leaves_execve_to_the_default() {
    let profile = Profile::load(&fixture("seed-minus-execve.json")).unwrap();
    let seccomp = profile.resolve(&platform("x86_64", (6, 8), &[])).unwrap();
    assert!(rules_for(&seccomp, "execve").is_empty());
    assert_eq!(rules_for(&seccomp, "execveat").len(), 1);
}

#[test]
fn bare_oci_profile_passes_through_unchanged() {
    let profile = Profile::load(&fixture("oci-bare.json")).unwrap();
    // Docker uses a profile's own architectures whatever the host is.
    let seccomp = profile.resolve(&platform("aarch64", (6, 8), &[])).unwrap();
    let json = serde_json::to_value(&seccomp).unwrap();
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("oci-bare.json")).unwrap()).unwrap();
    assert_eq!(json, file);
}

// ---- Resolution rules on small profiles -----------------------------------------

fn parse(text: &str) -> Profile {
    Profile::parse(text, Path::new("inline.json")).unwrap()
}

fn resolved_names(profile: &Profile, platform: &Platform) -> Vec<String> {
    let seccomp = profile.resolve(platform).unwrap();
    rules(&seccomp)
        .iter()
        .map(|r| r.names().join(","))
        .collect()
}

#[test]
fn includes_caps_need_all_and_excludes_caps_need_any() {
    let profile = parse(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]}},
            {"names": ["umount2"], "action": "SCMP_ACT_ALLOW",
             "excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]}}
        ]}"#,
    );
    let with = |caps: &[&str]| Platform {
        arch: "x86_64".into(),
        kernel: (6, 8),
        caps: caps.iter().map(|c| c.to_string()).collect(),
    };
    assert_eq!(resolved_names(&profile, &with(&[])), ["umount2"]);
    assert_eq!(
        resolved_names(&profile, &with(&["CAP_SYS_ADMIN"])),
        Vec::<String>::new()
    );
    assert_eq!(
        resolved_names(&profile, &with(&["CAP_NET_ADMIN", "CAP_SYS_ADMIN"])),
        ["mount"]
    );
}

#[test]
fn excludes_min_kernel_drops_rules_on_newer_kernels() {
    let profile = parse(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["uselib"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.10"}}
        ]}"#,
    );
    assert_eq!(
        resolved_names(&profile, &platform("x86_64", (5, 4), &[])),
        ["uselib"]
    );
    assert!(resolved_names(&profile, &platform("x86_64", (5, 10), &[])).is_empty());

    // A kernel condition with no known kernel is an error, not a guess.
    let err = profile
        .resolve(&platform("x86_64", (0, 0), &[]))
        .unwrap_err();
    assert!(matches!(err, ProfileError::UnknownKernel { rule: 0, .. }));
    assert_eq!(
        err.to_string(),
        "inline.json: syscalls[0] has a minKernel condition but the kernel version is unknown"
    );
}

#[test]
fn old_format_and_nulls_are_accepted() {
    // Docker's older profiles use "name"; Go's decoder takes null as "absent".
    let profile = parse(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": null,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}],
            "syscalls": [
              {"name": "read", "action": "SCMP_ACT_ALLOW", "args": null, "comment": "old",
               "includes": null, "excludes": {"caps": null, "arches": [], "minKernel": ""}}
            ]}"#,
    );
    let seccomp = profile.resolve(&platform("x86_64", (6, 8), &[])).unwrap();
    assert_eq!(
        serde_json::to_value(&seccomp).unwrap(),
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
        })
    );
    assert_eq!(profile.rules()[0].comment.as_deref(), Some("old"));
}

#[test]
fn arch_map_without_an_entry_for_the_host_gives_no_architectures() {
    let profile = parse(
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "archMap": [{"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]}]}"#,
    );
    let seccomp = profile.resolve(&platform("x86_64", (6, 8), &[])).unwrap();
    assert_eq!(seccomp.architectures(), &None);
    assert_eq!(seccomp.syscalls(), &None);
}

#[test]
fn unknown_host_architecture_is_an_error() {
    let profile = parse(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#);
    let err = profile
        .resolve(&platform("sparc64", (6, 8), &[]))
        .unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("inline.json: "), "{message}");
    assert!(message.contains("\"sparc64\""), "{message}");
}

#[test]
fn name_tables_match_what_oci_spec_writes() {
    fn check<T: Named + serde::Serialize>() {
        for (name, value) in T::TABLE {
            assert_eq!(serde_json::to_value(value).unwrap(), *name);
        }
    }
    check::<LinuxSeccompAction>();
    check::<Arch>();
    check::<LinuxSeccompOperator>();
    check::<LinuxSeccompFilterFlag>();
}

// ---- Errors -------------------------------------------------------------------

/// Loads an invalid fixture; checks the message starts with `file:line:column: `
/// and contains `problem`.
fn assert_load_error(name: &str, line: usize, column: usize, problem: &str) -> ProfileError {
    let path = fixture(name);
    let err = Profile::read(&path, Reading::Strict).expect_err(name);
    let message = err.to_string();
    let prefix = format!("{}:{line}:{column}: ", path.display());
    assert!(
        message.starts_with(&prefix),
        "{message}\n  expected prefix {prefix}"
    );
    assert!(
        message.contains(problem),
        "{message}\n  expected {problem:?}"
    );
    err
}

#[test]
fn error_trailing_comma() {
    let err = assert_load_error(
        "invalid-trailing-comma.json",
        7,
        5,
        "invalid JSON: trailing comma",
    );
    assert!(matches!(err, ProfileError::File(FileError::Syntax { .. })));
}

#[test]
fn error_truncated_file() {
    let err = assert_load_error("invalid-truncated.json", 5, 25, "is it truncated?");
    assert!(matches!(err, ProfileError::File(FileError::Syntax { .. })));
}

#[test]
fn error_unknown_action() {
    let err = assert_load_error(
        "invalid-unknown-action.json",
        6,
        17,
        "syscalls[0].action: unknown action \"SCMP_ACT_FOO\"",
    );
    assert!(err.to_string().contains("expected one of SCMP_ACT_KILL, "));
    assert!(err.to_string().contains("SCMP_ACT_NOTIFY"));
    assert!(matches!(err, ProfileError::File(FileError::Invalid { .. })));
}

#[test]
fn error_unknown_architecture() {
    assert_load_error(
        "invalid-unknown-arch.json",
        3,
        41,
        "architectures[1]: unknown architecture \"SCMP_ARCH_AMD64\", expected one of SCMP_ARCH_NATIVE, ",
    );
}

#[test]
fn error_unknown_arch_map_architecture() {
    assert_load_error(
        "invalid-unknown-archmap-arch.json",
        6,
        28,
        "archMap[0].subArchitectures[0]: unknown architecture \"SCMP_ARCH_I386\"",
    );
}

#[test]
fn error_unknown_condition_architecture() {
    assert_load_error(
        "invalid-condition-arch.json",
        7,
        30,
        "syscalls[0].includes.arches[0]: unknown architecture \"x86_64\" in a condition \
         (docker spells it \"amd64\")",
    );
}

#[test]
fn error_names_is_a_string() {
    assert_load_error(
        "invalid-names-string.json",
        5,
        16,
        "syscalls[0].names: invalid type: string \"execve\", expected a list of syscall names",
    );
}

#[test]
fn error_errno_ret_is_a_string() {
    assert_load_error(
        "invalid-errnoret-string.json",
        7,
        19,
        "syscalls[0].errnoRet: invalid type: string \"EPERM\", expected an errno number",
    );
}

#[test]
fn error_unknown_operator() {
    assert_load_error(
        "invalid-unknown-operator.json",
        7,
        47,
        "syscalls[0].args[0].op: unknown operator \"SCMP_CMP_EQUAL\", expected one of SCMP_CMP_NE, ",
    );
}

#[test]
fn error_argument_index_out_of_range() {
    assert_load_error(
        "invalid-arg-index.json",
        7,
        26,
        "syscalls[0].args[0].index: argument index 6 is out of range",
    );
}

#[test]
fn error_rule_without_names() {
    // The position is the start of the offending rule (the second one).
    assert_load_error(
        "invalid-no-names.json",
        8,
        5,
        "syscalls[1]: the rule names no syscall",
    );
}

#[test]
fn error_empty_syscall_name() {
    assert_load_error(
        "invalid-empty-name.json",
        5,
        27,
        "syscalls[0].names[1]: syscall name is empty",
    );
}

#[test]
fn error_name_and_names() {
    assert_load_error(
        "invalid-name-and-names.json",
        4,
        5,
        "syscalls[0]: both \"name\" and \"names\" are given",
    );
}

#[test]
fn error_architectures_and_arch_map() {
    assert_load_error(
        "invalid-arch-and-archmap.json",
        4,
        3,
        "archMap: both \"architectures\" and \"archMap\" are given",
    );
}

#[test]
fn error_unknown_key() {
    assert_load_error(
        "invalid-unknown-key.json",
        3,
        3,
        "unknown field `syscals`, expected one of `defaultAction`",
    );
}

#[test]
fn error_bad_min_kernel() {
    assert_load_error(
        "invalid-min-kernel.json",
        7,
        33,
        "syscalls[0].includes.minKernel: invalid kernel version \"4\"",
    );
}

#[test]
fn error_capability_spelled_loosely() {
    assert_load_error(
        "invalid-cap.json",
        7,
        28,
        "capability \"SYS_ADMIN\" never matches: docker compares names exactly, write \"CAP_SYS_ADMIN\"",
    );
}

#[test]
fn error_unreadable_file() {
    let path = fixture("does-not-exist.json");
    let err = Profile::load(&path).unwrap_err();
    assert!(matches!(err, ProfileError::File(FileError::Read { .. })));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read profile: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn error_not_utf8() {
    let path = std::env::temp_dir().join(format!("breakout-profile-{}.json", std::process::id()));
    std::fs::write(&path, b"{\n  \"defaultAction\": \"SCMP_ACT_\xff\"\n}").unwrap();
    let err = Profile::load(&path).unwrap_err();
    std::fs::remove_file(&path).ok();
    assert_eq!(
        err.to_string(),
        format!("{}:2:30: the file is not valid UTF-8", path.display())
    );
}

#[test]
fn error_missing_default_action_points_at_the_object() {
    let err = Profile::parse("{\"syscalls\": []}", Path::new("p.json")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "p.json:1:1: top level: missing field `defaultAction`"
    );
}

#[test]
fn error_wrong_case_key_says_what_docker_would_do() {
    let err = Profile::parse(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"Names": ["read"], "action": "SCMP_ACT_ERRNO"}]}"#,
        Path::new("p.json"),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("p.json:1:51: syscalls[0].Names: unknown field `Names`"),
        "{message}"
    );
    assert!(message.ends_with("write `names` exactly)"), "{message}");
}

#[test]
fn error_duplicate_key() {
    let err = Profile::parse(
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"defaultAction\": \"SCMP_ACT_ERRNO\"}",
        Path::new("p.json"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "p.json:2:2: top level: duplicate field `defaultAction`"
    );
}

#[test]
fn error_trailing_characters() {
    let err = Profile::parse(
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\"}\n]",
        Path::new("p.json"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "p.json:2:1: invalid JSON: trailing characters"
    );
}

#[test]
fn error_object_given_as_a_list() {
    let err = Profile::parse(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [[0, 8, 0, "SCMP_CMP_EQ"]]}
        ]}"#,
        Path::new("p.json"),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("p.json:2:77: syscalls[0].args[0]: invalid type: sequence, expected an argument comparison"),
        "{message}"
    );
}

#[test]
fn error_wrong_top_level_type() {
    let err = Profile::parse("[1, 2]", Path::new("p.json")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "p.json:1:1: top level: invalid type: sequence, expected a seccomp profile object"
    );
}

#[test]
fn error_positions_land_on_the_start_of_the_value() {
    let at = |text: &str| {
        Profile::parse(text, Path::new("p.json"))
            .unwrap_err()
            .to_string()
    };
    // A string with an escaped quote in it.
    let m = at(r#"{"defaultAction": "SCMP_\"FOO"}"#);
    assert!(
        m.starts_with("p.json:1:19: defaultAction: unknown action"),
        "{m}"
    );
    // A literal where a number belongs.
    let m = at(r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": true}"#);
    assert!(
        m.starts_with("p.json:1:56: defaultErrnoRet: invalid type: boolean `true`"),
        "{m}"
    );
    // A negative number, on a later line, after a multi-byte character.
    let m = at("{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"listenerMetadata\": \"é\", \"defaultErrnoRet\": -12}");
    assert!(
        m.starts_with("p.json:2:46: defaultErrnoRet: invalid type: integer `-12`"),
        "{m}"
    );
    // An object where a name belongs (peeked, not read).
    let m = at(r#"{"defaultAction": {"a": 1}}"#);
    assert!(
        m.starts_with("p.json:1:19: defaultAction: invalid type: map"),
        "{m}"
    );
}

/// Podman's default profile (Debian's golang-github-containers-common) names errnos
/// beside the numbers; it loads and resolves.
#[test]
fn podman_default_profile_resolves() {
    let path = Path::new("/usr/share/containers/seccomp.json");
    if !path.is_file() {
        eprintln!(
            "skipped: {} is missing (apt-get install golang-github-containers-common)",
            path.display()
        );
        return;
    }
    let profile = Profile::load(path).unwrap();
    assert_eq!(profile.default_errno_ret(), Some(38));
    let seccomp = profile.resolve(&platform("x86_64", (6, 1), &[])).unwrap();
    assert_eq!(seccomp.default_errno_ret(), Some(38));
}

#[test]
fn errno_names_stand_in_for_numbers() {
    let p = Profile::parse(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOSYS",
            "syscalls": [{"names": ["fork"], "action": "SCMP_ACT_ERRNO", "errno": "EACCES"},
                         {"names": ["vfork"], "action": "SCMP_ACT_ERRNO", "errno": "EPERM", "errnoRet": 22}]}"#,
        Path::new("p.json"),
    )
    .unwrap();
    assert_eq!(p.default_errno_ret(), Some(38));
    assert_eq!(p.rules()[0].errno_ret, Some(13));
    assert_eq!(p.rules()[1].errno_ret, Some(22));
    let err = Profile::parse(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrno": "EWHAT"}"#,
        Path::new("p.json"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("p.json:1:") && err.contains("EWHAT"), "{err}");
}

// ---- Syscall names ----------------------------------------------------------------

#[test]
fn error_unknown_syscall_suggests_the_closest_name() {
    let err = assert_load_error(
        "invalid-syscall-typo.json",
        13,
        17,
        "syscalls[2].names[0]: unknown syscall \"exeve\" (did you mean \"execve\"?)",
    );
    assert!(matches!(err, ProfileError::File(FileError::Invalid { .. })));
}

#[test]
fn error_unknown_syscall_far_from_every_name_has_no_suggestion() {
    let err = Profile::parse(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"name": "frobnicate", "action": "SCMP_ACT_ERRNO"}]}"#,
        Path::new("p.json"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "p.json:2:35: syscalls[0].name: unknown syscall \"frobnicate\""
    );
}

#[test]
fn suggestions_allow_two_edits_and_count_a_swap_as_one() {
    use super::names::syscall_suggestion as suggest;
    assert_eq!(suggest("exeve"), Some("execve"));
    assert_eq!(suggest("exceve"), Some("execve"));
    assert_eq!(suggest("execev"), Some("execve"));
    assert_eq!(suggest("ptarce"), Some("ptrace"));
    assert_eq!(suggest("pivotroot"), Some("pivot_root"));
    assert_eq!(suggest("unshar"), Some("unshare"));
    assert_eq!(suggest("keyctrl"), Some("keyctl"));
    assert_eq!(suggest("bkr"), Some("brk"));
    assert_eq!(suggest("x"), None);
    assert_eq!(suggest("frobnicate"), None);
    assert_eq!(suggest("io_uring"), None);
}

#[test]
fn syscall_table_is_sorted_unique_and_well_formed() {
    assert!(SYSCALLS.len() > 450, "{} names", SYSCALLS.len());
    for pair in SYSCALLS.windows(2) {
        assert!(pair[0] < pair[1], "{:?} before {:?}", pair[0], pair[1]);
    }
    for name in SYSCALLS {
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name:?}"
        );
    }
    // Names of other architectures that Docker's profile uses.
    for name in [
        "arm_fadvise64_64",
        "s390_pci_mmio_read",
        "riscv_flush_icache",
        "riscv_hwprobe",
        "breakpoint",
        "spu_run",
        "sysmips",
        "mmap2",
        "socketcall",
        "_llseek",
    ] {
        assert!(SYSCALLS.contains(&name), "{name}");
    }
}

/// Every name the sources of the table hold is in it, where the sources are on this
/// machine. A newer linux-libc-dev or libseccomp-dev fails this test: regenerate the
/// table with `python3 src/profile/gen_syscalls.py > src/profile/syscalls.rs`.
#[test]
fn syscall_table_covers_the_kernel_headers_and_libseccomp() {
    let sources = [
        (
            "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
            "#define __NR_",
        ),
        (
            "/usr/include/x86_64-linux-gnu/asm/unistd_32.h",
            "#define __NR_",
        ),
        (
            "/usr/include/x86_64-linux-gnu/asm/unistd_x32.h",
            "#define __NR_",
        ),
        ("/usr/include/seccomp-syscalls.h", "#define __SNR_"),
        ("/usr/include/seccomp-syscalls.h", "#define __PNR_"),
    ];
    for (path, prefix) in sources {
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipped: {path} is missing (apt-get install linux-libc-dev libseccomp-dev)");
            continue;
        };
        let mut seen = 0;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(prefix) else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                SYSCALLS.binary_search(&name.as_str()).is_ok(),
                "{path} names {name:?}, which the table lacks: regenerate it"
            );
            seen += 1;
        }
        assert!(seen > 200, "{path}: only {seen} names read");
    }
}

// ---- Start analysis -----------------------------------------------------------------

fn x86_64() -> Platform {
    platform("x86_64", (6, 8), &[])
}

fn analysis_of(text: &str) -> StartAnalysis {
    start_analysis(&parse(text).resolve(&x86_64()).unwrap())
}

#[test]
fn seed_stops_runc_crun_and_youki_but_not_runsc_oci() {
    let seccomp = Profile::load(&fixture("seed.json"))
        .unwrap()
        .resolve(&x86_64())
        .unwrap();
    let a = start_analysis(&seccomp);
    assert_eq!(
        a,
        StartAnalysis {
            runc_like_can_start: false,
            runsc_oci_can_start: true,
            denied_needed: vec!["execve".to_string()],
            never_starts: false,
            runtime_starts: a.runtime_starts.clone(),
        }
    );
    // Nothing of the runtimes' own starts after the filter is denied.
    assert!(a.runtime_starts.iter().all(|r| r.denied.is_empty()));
    assert_eq!(
        a.summary(),
        "denies execve: runc, crun and youki cannot start a container under it; runsc-oci can"
    );
}

/// The shipped scenario profile is the fixture's twin.
#[test]
fn shipped_seed_profiles_match_the_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["seed.json", "seed-minus-execve.json"] {
        let shipped = root.join("scenarios/profiles").join(name);
        let a = start_analysis(&Profile::load(&shipped).unwrap().resolve(&x86_64()).unwrap());
        let b = start_analysis(
            &Profile::load(&fixture(name))
                .unwrap()
                .resolve(&x86_64())
                .unwrap(),
        );
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn seed_minus_execve_starts_everywhere() {
    let seccomp = Profile::load(&fixture("seed-minus-execve.json"))
        .unwrap()
        .resolve(&x86_64())
        .unwrap();
    let a = start_analysis(&seccomp);
    assert!(a.runc_like_can_start && a.runsc_oci_can_start && !a.never_starts);
    assert!(a.denied_needed.is_empty());
    assert_eq!(
        a.summary(),
        "denies nothing a start needs: runc, crun, youki and runsc-oci can start a container \
         under it"
    );
}

#[test]
fn docker_default_starts_everywhere() {
    let Some(profile) = docker_default() else {
        return;
    };
    let a = start_analysis(&profile.resolve(&x86_64()).unwrap());
    assert!(a.runc_like_can_start && a.runsc_oci_can_start, "{a:?}");
    assert!(a.denied_needed.is_empty() && !a.never_starts, "{a:?}");
}

#[test]
fn podman_default_starts_everywhere() {
    let path = Path::new("/usr/share/containers/seccomp.json");
    if !path.is_file() {
        eprintln!("skipped: {} is missing", path.display());
        return;
    }
    let a = start_analysis(&Profile::load(path).unwrap().resolve(&x86_64()).unwrap());
    assert!(a.runc_like_can_start && a.runsc_oci_can_start, "{a:?}");
}

#[test]
fn kill_by_default_without_rules_never_starts() {
    let a = analysis_of(r#"{"defaultAction": "SCMP_ACT_KILL"}"#);
    assert!(!a.runc_like_can_start && !a.runsc_oci_can_start && a.never_starts);
    // Under a kill, every call the start makes is fatal, in the order it makes them.
    assert_eq!(
        &a.denied_needed[..4],
        ["execve", "arch_prctl", "brk", "set_tid_address"]
    );
    assert_eq!(
        a.denied_needed.len(),
        1 + super::analysis::PROCESS_NEEDS.len()
    );
    assert!(
        a.summary()
            .starts_with("denies execve, arch_prctl, brk, set_tid_address, set_robust_list, rseq,"),
        "{}",
        a.summary()
    );
    assert!(a.summary().ends_with(
        ", which the container's process needs to start: no runtime that applies the \
         profile can start a container under it"
    ));
}

/// Under an errno default only the failures the start does not survive count: glibc's
/// TLS set-up and relocation protection, memory (brk, or mmap when brk fails), and the
/// first write (the runner's own entry point leaves out std's start, which would abort
/// without poll, rt_sigaction, mmap).
#[test]
fn errno_by_default_denies_only_what_the_start_cannot_survive() {
    let a = analysis_of(r#"{"defaultAction": "SCMP_ACT_ERRNO"}"#);
    assert!(a.never_starts);
    assert_eq!(
        a.denied_needed,
        ["execve", "arch_prctl", "brk", "mprotect", "write"]
    );
    // With mmap to fall back to, brk may fail.
    let a = analysis_of(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mmap"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(
        a.denied_needed,
        ["execve", "arch_prctl", "mprotect", "write"]
    );
}

/// The bare OCI fixture allows read, write and exit_group only.
#[test]
fn an_allow_list_without_the_start_never_starts() {
    let seccomp = Profile::load(&fixture("oci-bare.json"))
        .unwrap()
        .resolve(&x86_64())
        .unwrap();
    let a = start_analysis(&seccomp);
    assert!(a.never_starts);
    assert!(!a.denied_needed.contains(&"write".to_string()));
}

/// Positive control: an allow list of exactly what the analysis says a start needs.
#[test]
fn an_allow_list_of_the_needs_starts_everywhere() {
    let needed: Vec<&str> = std::iter::once("execve")
        .chain(super::analysis::PROCESS_NEEDS.iter().map(|n| n.syscall))
        .collect();
    let text = serde_json::json!({
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "syscalls": [{"names": needed, "action": "SCMP_ACT_ALLOW"}]
    })
    .to_string();
    let a = analysis_of(&text);
    assert!(a.runc_like_can_start && a.runsc_oci_can_start, "{a:?}");
}

#[test]
fn denying_arch_prctl_never_starts() {
    let a = analysis_of(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["arch_prctl"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(a.never_starts && !a.runc_like_can_start && !a.runsc_oci_can_start);
    assert_eq!(a.denied_needed, ["arch_prctl"]);
    assert_eq!(
        a.summary(),
        "denies arch_prctl, which the container's process needs to start: no runtime that \
         applies the profile can start a container under it"
    );
}

/// exit_group comes after the start: measured, glibc falls back to exit when it fails,
/// and a kill there ends a process that has already done its work. `check` warns.
#[test]
fn denying_exit_group_does_not_stop_the_start() {
    for action in ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL"] {
        let a = analysis_of(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{{"names": ["exit_group"], "action": "{action}"}}]}}"#
        ));
        assert!(a.runc_like_can_start && !a.never_starts, "{action}: {a:?}");
    }
}

#[test]
fn killing_a_call_the_start_survives_as_an_error_stops_it() {
    let deny_brk = |action: &str| {
        analysis_of(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{{"names": ["brk"], "action": "{action}"}}]}}"#
        ))
    };
    assert!(deny_brk("SCMP_ACT_KILL_PROCESS").never_starts);
    assert!(deny_brk("SCMP_ACT_TRAP").never_starts);
    assert!(!deny_brk("SCMP_ACT_ERRNO").never_starts);
    assert!(!deny_brk("SCMP_ACT_LOG").never_starts);
}

#[test]
fn a_conditional_execve_deny_does_not_stop_runc() {
    let a = analysis_of(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(a.runc_like_can_start && a.denied_needed.is_empty(), "{a:?}");
}

#[test]
fn a_conditional_allow_under_a_denying_default_may_start() {
    let a = analysis_of(
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
              {"names": ["arch_prctl", "mprotect", "poll", "rt_sigaction", "mmap", "write"],
               "action": "SCMP_ACT_ALLOW"},
              {"names": ["execve"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 2, "value": 0, "op": "SCMP_CMP_NE"}]}
            ]}"#,
    );
    assert!(a.runc_like_can_start, "{a:?}");
}

#[test]
fn an_allow_rule_under_an_allowing_default_does_not_undo_a_deny() {
    // runc leaves out rules whose action is the default action.
    let a = analysis_of(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["execve"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(!a.runc_like_can_start && a.runsc_oci_can_start, "{a:?}");
}

#[test]
fn start_analysis_serialises_with_its_summary() {
    let seccomp = Profile::load(&fixture("seed.json"))
        .unwrap()
        .resolve(&x86_64())
        .unwrap();
    let mut json = serde_json::to_value(start_analysis(&seccomp)).unwrap();
    // One entry per runtime and no-new-privileges setting, none denied here.
    let starts = json["runtime_starts"].take();
    assert_eq!(
        starts.as_array().map(Vec::len),
        Some(super::analysis::RUNTIME_STARTS.len())
    );
    assert!(starts
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["denied"] == serde_json::json!([])));
    assert_eq!(
        json,
        serde_json::json!({
            "runc_like_can_start": false,
            "runsc_oci_can_start": true,
            "denied_needed": ["execve"],
            "never_starts": false,
            "runtime_starts": null,
            "summary": "denies execve: runc, crun and youki cannot start a container under it; \
                        runsc-oci can"
        })
    );
}

// ---- Check report -------------------------------------------------------------------

/// Writes `text` to a fresh file and checks it on x86_64; `name` must be unique among
/// the tests, which run in parallel.
fn check_text(name: &str, text: &str) -> CheckReport {
    let dir = std::env::temp_dir().join(format!("breakout-check-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let report = check(&path, &x86_64(), Reading::Lenient);
    let _ = std::fs::remove_dir_all(&dir);
    report.unwrap()
}

#[test]
fn check_reports_the_seed_profile() {
    let path = fixture("seed.json");
    let report = check(&path, &x86_64(), Reading::Lenient).unwrap();
    assert_eq!(report.rules, 1);
    assert!(report.architectures.is_empty());
    assert_eq!(report.default_action, "SCMP_ACT_ALLOW");
    assert!(!report.analysis.runc_like_can_start);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(
        report.to_text(),
        format!(
            "{}: 1 rule, default action SCMP_ACT_ALLOW, architectures native only\n\
             start: denies execve: runc, crun and youki cannot start a container under it; \
             runsc-oci can\n",
            path.display()
        )
    );
}

#[test]
fn check_report_json_has_every_field() {
    let path = fixture("oci-bare.json");
    let report = check(&path, &x86_64(), Reading::Lenient).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["path"], path.to_string_lossy().as_ref());
    assert_eq!(json["rules"], 3);
    assert_eq!(
        json["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    );
    assert_eq!(json["default_action"], "SCMP_ACT_ERRNO");
    assert_eq!(json["analysis"]["never_starts"], true);
    assert!(json["analysis"]["summary"]
        .as_str()
        .unwrap()
        .contains("no runtime that applies the profile can start a container under it"));
    assert!(json["warnings"].is_array());
}

#[test]
fn check_of_docker_default_warns_about_nothing() {
    if docker_default().is_none() {
        return;
    }
    let report = check(Path::new(DOCKER_DEFAULT), &x86_64(), Reading::Lenient).unwrap();
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    assert!(!report.analysis.never_starts);
    assert_eq!(
        report.architectures,
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    );
    let text = report.to_text();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().next().unwrap().ends_with(
            "default action SCMP_ACT_ERRNO, architectures SCMP_ARCH_X86_64, SCMP_ARCH_X86, \
             SCMP_ARCH_X32"
        ),
        "{text}"
    );
}

#[test]
fn check_warns_about_rules_with_the_default_action() {
    let report = check_text(
        "no-effect.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "syscalls": [
              {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
              {"names": ["reboot", "kexec_load", "init_module", "delete_module"],
               "action": "SCMP_ACT_ERRNO"},
              {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]}"#,
    );
    assert_eq!(
        report.warnings,
        [
            "syscalls[1] (\"reboot\", \"kexec_load\", \"init_module\" and 1 more): its action \
          SCMP_ACT_ERRNO(1) is the default action, so the rule has no effect"
        ]
    );
    let text = report.to_text();
    assert!(
        text.ends_with(&format!("warning: {}\n", report.warnings[0])),
        "{text}"
    );
}

#[test]
fn check_warns_about_rules_that_disagree() {
    let report = check_text(
        "conflicts.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
              {"names": ["uname", "getpid"], "action": "SCMP_ACT_ERRNO"},
              {"names": ["uname"], "action": "SCMP_ACT_KILL"},
              {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
              {"names": ["mount"], "action": "SCMP_ACT_ERRNO",
               "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
              {"names": ["mount"], "action": "SCMP_ACT_KILL"},
              {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
               "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]},
              {"names": ["socket"], "action": "SCMP_ACT_TRAP",
               "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]},
              {"names": ["bind"], "action": "SCMP_ACT_ERRNO",
               "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]},
              {"names": ["bind"], "action": "SCMP_ACT_LOG",
               "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
              {"names": ["uname"], "action": "SCMP_ACT_ERRNO",
               "includes": {"caps": ["CAP_SYS_ADMIN"]}}
            ]}"#,
    );
    assert_eq!(
        report.warnings,
        [
            // getpid's two rules agree: ERRNO without errnoRet is EPERM.
            "syscalls[0] (SCMP_ACT_ERRNO(1)) and syscalls[1] (SCMP_ACT_KILL) both name \
             \"uname\" without argument conditions: libseccomp keeps syscalls[0] and ignores \
             syscalls[1] for them",
            "syscalls[3] (SCMP_ACT_ERRNO(1), with argument conditions) and syscalls[4] \
             (SCMP_ACT_KILL, without) both name \"mount\": libseccomp applies syscalls[4] to \
             every call and ignores syscalls[3] for them",
            "syscalls[5] (SCMP_ACT_ERRNO(1)) and syscalls[6] (SCMP_ACT_TRAP) both name \
             \"socket\" with the same argument conditions: libseccomp refuses such rules, so \
             runtimes that use it (runc, crun, youki) may fail to start the container",
            "syscalls[7] (SCMP_ACT_ERRNO(1)) and syscalls[8] (SCMP_ACT_LOG) both name \
             \"bind\" with different argument conditions: where both hold, which action \
             applies is up to the runtime's seccomp library",
        ]
    );
}

#[test]
fn check_warns_when_processes_cannot_exit() {
    let warnings = |exit_group: &str, exit: &str| {
        check_text(
            "exit.json",
            &format!(
                r#"{{"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{{"names": ["exit_group"], "action": "{exit_group}"}},
                                 {{"names": ["exit"], "action": "{exit}"}}]}}"#
            ),
        )
        .warnings
    };
    assert_eq!(
        warnings("SCMP_ACT_KILL", "SCMP_ACT_LOG"),
        [
            "kills on exit_group: a process that ends by itself is killed by SIGSYS instead of \
          exiting with its status"
        ]
    );
    assert_eq!(
        warnings("SCMP_ACT_ERRNO", "SCMP_ACT_LOG"),
        [
            "makes exit_group fail: glibc and musl fall back to exit, go programs crash when \
          they exit"
        ]
    );
    assert_eq!(
        warnings("SCMP_ACT_ERRNO", "SCMP_ACT_ERRNO"),
        [
            "makes exit_group and exit fail: processes cannot exit (glibc programs crash with \
          SIGSEGV when they try, musl programs retry forever)"
        ]
    );
}

#[test]
fn check_judges_only_execve_off_x86_64() {
    let path = fixture("oci-bare.json");
    let report = check(&path, &platform("aarch64", (6, 8), &[]), Reading::Lenient).unwrap();
    // oci-bare denies execve by default: runc-like cannot start, runsc-oci is not judged.
    assert_eq!(report.analysis.denied_needed, ["execve"]);
    assert!(!report.analysis.never_starts);
    assert_eq!(
        report.warnings[0],
        "what a process needs to start is known for x86_64 only: on aarch64 only the \
         runtime's execve was judged"
    );
}

#[test]
fn check_passes_load_errors_through() {
    let path = fixture("invalid-syscall-typo.json");
    let err = check(&path, &x86_64(), Reading::Strict).unwrap_err();
    assert!(
        err.to_string().contains("did you mean \"execve\"?"),
        "{err}"
    );
}

/// The probes' routes are what predictions evaluate: a misspelt call would predict
/// nothing, so every call a route names is a syscall a profile can name.
#[test]
fn every_route_names_known_syscalls() {
    for info in crate::catalog::CATALOG {
        for route in info.routes() {
            for call in route.calls {
                assert!(
                    super::syscalls::SYSCALLS
                        .binary_search(&call.syscall)
                        .is_ok(),
                    "{}: route {:?} names an unknown syscall {}",
                    info.id,
                    route.name,
                    call.syscall
                );
            }
        }
    }
}
