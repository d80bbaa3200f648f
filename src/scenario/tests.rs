use std::path::{Path, PathBuf};

use super::*;
use crate::catalog::Goal;
use crate::report::{Outcome, ProfileHandling, RunReport, StartStatus, Triage, Verdict};
use crate::runtime::RuntimeVersion;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios")
}

fn fixture(rel: &str) -> PathBuf {
    fixtures().join(rel)
}

/// A scenario that is never on disk; relative paths in it resolve under /virtual.
fn virtual_path() -> &'static Path {
    Path::new("/virtual/suite/s.json")
}

fn parse(text: &str) -> Scenario {
    Scenario::parse(text, virtual_path()).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_message(
    err: &ScenarioError,
    path: &Path,
    line: usize,
    column: usize,
    field: &str,
    problem: &str,
) {
    let message = err.to_string();
    let prefix = format!("{}:{line}:{column}: {field}: ", path.display());
    assert!(
        message.starts_with(&prefix),
        "{message}\n  expected prefix {prefix}"
    );
    assert!(
        message.contains(problem),
        "{message}\n  expected {problem:?}"
    );
}

fn assert_load_error(
    name: &str,
    line: usize,
    column: usize,
    field: &str,
    problem: &str,
) -> ScenarioError {
    let path = fixture(&format!("invalid/{name}"));
    let err = Scenario::load(&path).expect_err(name);
    assert_message(&err, &path, line, column, field, problem);
    err
}

fn assert_parse_error(
    text: &str,
    line: usize,
    column: usize,
    field: &str,
    problem: &str,
) -> ScenarioError {
    let err = Scenario::parse(text, virtual_path()).expect_err(text);
    assert_message(&err, virtual_path(), line, column, field, problem);
    err
}

// ---- parsing -------------------------------------------------------------------

#[test]
fn parses_a_full_scenario() {
    let path = fixture("valid/seed-minus-execve.json");
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "seed-minus-execve");
    assert_eq!(
        s.description.as_deref(),
        Some("The seed's deny list without execve")
    );
    assert_eq!(s.file, path);
    let dir = fixture("valid");
    assert_eq!(
        s.profile,
        ProfileSource::File(dir.join("../../profiles/seed-minus-execve.json"))
    );
    assert_eq!(s.runtimes, ["runc", "crun", "runsc", "runsc-oci"]);
    assert_eq!(s.probes, ["exec.*", "spawn.*"]);
    assert_eq!(s.timeout, Some(60));

    assert!(!s.settings.read_only);
    assert_eq!(s.settings.profile, None);
    assert_eq!(
        s.settings.volumes,
        [format!("{}:/data:ro", dir.join("data").display())]
    );
    assert_eq!(s.settings.tmpfs, ["/scratch:exec"]);
    assert_eq!(s.settings.security_opts, ["no-new-privileges"]);
    assert_eq!(s.settings.network.as_deref(), Some("none"));
    assert_eq!(s.settings.user, None);
    assert_eq!(s.settings.rootfs, None);
    let settings = s.settings.validate_for(None).expect("settings validate");
    assert!(settings.no_new_privileges);
    assert_eq!(settings.mount_points(), ["/data", "/scratch"]);

    let e = &s.expect;
    assert_eq!(e.start, StartExpectation::Starts);
    assert_eq!(e.default, Expected::blocked());
    assert_eq!(e.goals.len(), 1);
    assert_eq!(e.goals[&Goal::Fs].outcome, Some(Outcome::NotApplicable));
    assert_eq!(
        e.probes["exec.i386"],
        Expected {
            outcome: Some(Outcome::Blocked),
            mechanism: Some("SIGSYS".into()),
            text: "blocked:SIGSYS".into(),
        }
    );
    assert_eq!(e.probes["kernel.ptrace"].outcome, None);
    assert_eq!(e.probes["kernel.ptrace"].text, "any");
    assert!(e.probes.contains_key("fs.write-mount@/scratch"));
    assert_eq!(
        e.runtimes["runc"].start,
        Some(StartExpectation::FailsToStart)
    );
    assert_eq!(
        e.runtimes["runsc"]
            .default
            .as_ref()
            .map(|d| d.text.as_str()),
        Some("escaped")
    );
    assert_eq!(
        e.runtimes["runsc"].probes["spawn.clone3"]
            .mechanism
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("ENOSYS")
    );
    assert!(!e.runtimes.contains_key("crun"));
}

#[test]
fn everything_but_runtimes_is_optional() {
    let s = parse(r#"{"runtimes": ["runc"]}"#);
    assert_eq!(s.name, "s", "the name defaults to the file stem");
    assert_eq!(s.profile, ProfileSource::None);
    assert!(s.probes.is_empty());
    assert_eq!(s.timeout, None);
    assert_eq!(s.expect, Expectations::default());
    assert_eq!(s.expect.expected_for("runc", "spawn.fork").text, "blocked");
    assert_eq!(s.expect.start_for("runc"), StartExpectation::Starts);
    // null is the same as absent.
    let s = parse(
        r#"{"name": null, "profile": null, "settings": {"user": null, "volumes": null},
            "runtimes": ["runc"], "probes": null, "timeout": null, "expect": {"goals": null}}"#,
    );
    assert_eq!(s.profile, ProfileSource::None);
}

#[test]
fn relative_paths_resolve_against_the_scenario_directory() {
    let s = parse(r#"{"runtimes": ["mine=bin/runc,--debug", "abs=/opt/crun"]}"#);
    assert_eq!(
        s.runtimes,
        ["mine=/virtual/suite/bin/runc,--debug", "abs=/opt/crun"]
    );
    assert_eq!(runtime_name(&s.runtimes[0]), "mine");
    assert_eq!(runtime_name("runsc-oci"), "runsc-oci");
    // The rootfs must exist, so this one is read as if it were in the fixtures.
    let s = Scenario::parse(
        r#"{"runtimes": ["runc"], "settings": {"rootfs": "data"}}"#,
        &fixture("valid/virtual.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.settings.rootfs, Some(fixture("valid").join("data")));
}

#[test]
fn image_references_resolve_against_the_scenario_directory() {
    // A name stays a name (an engine is asked when the trial runs).
    let s = parse(r#"{"runtimes": ["runc"], "settings": {"image": "busybox:latest"}}"#);
    assert_eq!(
        s.settings.image.as_ref().map(|i| i.reference.as_str()),
        Some("busybox:latest")
    );
    // A path in one of the prefixed forms is the scenario directory's; a missing one
    // is an error at the key, naming the forms.
    let s = Scenario::parse(
        r#"{"runtimes": ["runc"], "settings": {"image": "oci:data"}}"#,
        &fixture("valid/virtual.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let want = format!("oci:{}", fixture("valid").join("data").display());
    assert_eq!(
        s.settings.image.as_ref().map(|i| i.reference.as_str()),
        Some(want.as_str())
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"image": "oci:nowhere"}}"#,
        1,
        46,
        "settings.image",
        "oci-archive:FILE",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"image": "busybox", "rootfs": "/"}}"#,
        1,
        46,
        "settings.image",
        "not both",
    );
}

// ---- errors --------------------------------------------------------------------

#[test]
fn error_trailing_comma() {
    let err = assert_load_error(
        "trailing-comma.json",
        6,
        3,
        "invalid JSON",
        "trailing comma",
    );
    assert!(matches!(err, ScenarioError::File(FileError::Syntax { .. })));
}

#[test]
fn error_unknown_key_at_top_level() {
    let err = assert_load_error(
        "unknown-key.json",
        4,
        3,
        "expected",
        "unknown field `expected`, expected one of `name`, `description`, `profile`",
    );
    assert!(matches!(
        err,
        ScenarioError::File(FileError::Invalid { .. })
    ));
}

#[test]
fn error_unknown_key_inside_a_runtimes_expectations() {
    assert_load_error(
        "unknown-key-in-runtime.json",
        7,
        38,
        "expect.runtimes.runc.probe",
        "unknown field `probe`, expected one of `start`, `default`, `goals`, `probes`",
    );
    // `runtimes` does not nest.
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"runtimes": {"runc": {"runtimes": {}}}}}"#,
        1,
        57,
        "expect.runtimes.runc.runtimes",
        "unknown field `runtimes`",
    );
}

#[test]
fn error_unknown_probe_id_in_expect_probes() {
    assert_load_error(
        "unknown-probe.json",
        7,
        7,
        "expect.probes[\"spawn.vforkk\"]",
        "unknown probe \"spawn.vforkk\"",
    );
    // A technique without its goal gets a hint; a step key is checked too.
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"probes": {"vfork": "escaped"}}}"#,
        1,
        46,
        "expect.probes.vfork",
        "(did you mean \"spawn.vfork\"?)",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"probes": {"fs.write-mnt@/x": "escaped"}}}"#,
        1,
        46,
        "expect.probes[\"fs.write-mnt@/x\"]",
        "unknown probe \"fs.write-mnt\"",
    );
}

#[test]
fn error_bad_outcome_string() {
    assert_load_error(
        "bad-outcome.json",
        5,
        43,
        "expect.goals.exec",
        "unknown expected verdict \"denied:EPERM\", expected any or an outcome (escaped, blocked, \
         contained, not-applicable, error, indeterminate, not-run)",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"default": "any:EPERM"}}"#,
        1,
        46,
        "expect.default",
        "`any` matches every verdict and takes no mechanism",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"default": "blocked:"}}"#,
        1,
        46,
        "expect.default",
        "the mechanism after ':' must be a name",
    );
    // A mechanism must be one breakout knows, or it could never match: the nearest
    // known name is suggested.
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"default": "blocked:SIGSYSS"}}"#,
        1,
        46,
        "expect.default",
        "\"blocked:SIGSYSS\": unknown mechanism \"SIGSYSS\" (did you mean SIGSYS?)",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"probes": {"spawn.fork": "blocked:EPRM"}}}"#,
        1,
        60,
        "expect.probes[\"spawn.fork\"]",
        "unknown mechanism \"EPRM\" (did you mean EPERM?)",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"default": "blocked:frobnicated"}}"#,
        1,
        46,
        "expect.default",
        "unknown mechanism \"frobnicated\"; expected an errno (EPERM), a signal (SIGSYS) or one of timeout",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"start": "started"}}"#,
        1,
        44,
        "expect.start",
        "unknown start expectation \"started\"",
    );
}

#[test]
fn error_runtime_in_expect_runtimes_not_in_runtimes() {
    assert_load_error(
        "runtime-not-listed.json",
        7,
        7,
        "expect.runtimes.runsc",
        "runtime \"runsc\" is not in this scenario's \"runtimes\" (runc, crun): add it there",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"runtimes": {"kata": {}}}}"#,
        1,
        48,
        "expect.runtimes.kata",
        "unknown runtime \"kata\"",
    );
}

#[test]
fn error_empty_runtimes() {
    assert_load_error(
        "empty-runtimes.json",
        4,
        15,
        "runtimes",
        "the list of runtimes is empty: name at least one of runc, crun, runsc, runsc-oci",
    );
    assert_parse_error(
        r#"{"name": "x"}"#,
        1,
        1,
        "top level",
        "missing field `runtimes`",
    );
}

#[test]
fn error_unknown_or_repeated_runtime() {
    assert_parse_error(
        r#"{"runtimes": ["runc", "kata"]}"#,
        1,
        23,
        "runtimes[1]",
        "unknown runtime \"kata\" (known: runc, crun",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc,crun"]}"#,
        1,
        15,
        "runtimes[0]",
        "one runtime per list entry",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc", "x=/opt/kata-runtime"]}"#,
        1,
        23,
        "runtimes[1]",
        "cannot tell which runtime family /opt/kata-runtime belongs to",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc", "crun", "runc=/opt/runc"]}"#,
        1,
        31,
        "runtimes[2]",
        "runtime \"runc\" is listed twice",
    );
}

#[test]
fn error_unknown_goal() {
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"goals": {"network": "blocked"}}}"#,
        1,
        45,
        "expect.goals.network",
        "unknown goal \"network\", expected one of exec, spawn, namespace, fs, net, kernel, ipc",
    );
}

#[test]
fn error_duplicate_key_points_at_the_second() {
    assert_parse_error(
        "{\"runtimes\": [\"runc\"], \"expect\": {\"probes\": {\n  \"spawn.fork\": \"blocked\",\n  \"spawn.fork\": \"escaped\"}}}",
        3,
        3,
        "expect.probes[\"spawn.fork\"]",
        "\"spawn.fork\" is given twice",
    );
}

#[test]
fn error_step_keys_need_a_per_mount_probe_and_a_mount() {
    assert_parse_error(
        r#"{"runtimes": ["runc"], "expect": {"probes": {"spawn.fork@/x": "blocked"}}}"#,
        1,
        46,
        "expect.probes[\"spawn.fork@/x\"]",
        "spawn.fork does not run once per mount",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"tmpfs": ["/scratch"]},
            "expect": {"runtimes": {"runc": {"probes": {"fs.write-mount@/scrach": "escaped"}}}}}"#,
        2,
        57,
        "expect.runtimes.runc.probes[\"fs.write-mount@/scrach\"]",
        "no volume or tmpfs is mounted at /scrach (this scenario's mounts: /scratch)",
    );
    // A trailing slash names the same mount point.
    let s = parse(
        r#"{"runtimes": ["runc"], "settings": {"tmpfs": ["/scratch"]},
            "expect": {"probes": {"fs.write-mount@/scratch/": "escaped"}}}"#,
    );
    assert!(s.expect.probes.contains_key("fs.write-mount@/scratch"));
}

#[test]
fn error_settings_point_at_the_entry() {
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"tmpfs": ["/a", "/b:exec,huge"]}}"#,
        1,
        53,
        "settings.tmpfs[1]",
        "--tmpfs \"/b:exec,huge\": unknown option \"huge\"",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"cap_drop": ["NET_RAW", "CAP_NOPE"]}}"#,
        1,
        61,
        "settings.cap_drop[1]",
        "unknown capability \"CAP_NOPE\"",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"network": "bridged"}}"#,
        1,
        48,
        "settings.network",
        "expected bridge (the default), none or host",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"volumes": ["nowhere:/data"]}}"#,
        1,
        49,
        "settings.volumes[0]",
        "/virtual/suite/nowhere:/data\": the source is not an existing directory",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"security_opt": ["seccomp=x.json"]}}"#,
        1,
        54,
        "settings.security_opt[0]",
        "a scenario sets its seccomp profile with the top-level \"profile\" key",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"priviledged": true}}"#,
        1,
        37,
        "settings.priviledged",
        "unknown field `priviledged`, expected one of `read_only`",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": ["read_only"]}"#,
        1,
        36,
        "settings",
        "expected a settings object",
    );
}

#[test]
fn error_probe_patterns_and_timeout() {
    assert_parse_error(
        r#"{"runtimes": ["runc"], "probes": ["spawn.*", "spwan.*"]}"#,
        1,
        46,
        "probes[1]",
        "probe pattern \"spwan.*\" matches no probe",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "timeout": 0}"#,
        1,
        35,
        "timeout",
        "timeout 0 is out of range",
    );
}

#[test]
fn error_name_is_usable_in_trial_names() {
    assert_parse_error(
        r#"{"name": "a::b", "runtimes": ["runc"]}"#,
        1,
        10,
        "name",
        "without \"::\"",
    );
}

// ---- profile sources ----------------------------------------------------------

#[test]
fn profile_unconfined_and_absent() {
    let s = parse(r#"{"profile": "unconfined", "runtimes": ["runc"]}"#);
    assert_eq!(s.profile, ProfileSource::Unconfined);
    assert_eq!(s.ignore_reason(), None);
    let s = parse(r#"{"runtimes": ["runc"]}"#);
    assert_eq!(s.profile, ProfileSource::None);
}

#[test]
fn profile_list_uses_the_first_path_that_exists() {
    let path = fixture("valid/docker-default-fallback.json");
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "docker-default-fallback");
    // The first is absent; the second exists and wins over the third.
    assert_eq!(
        s.profile,
        ProfileSource::File(fixture("valid").join("profiles/allow-all.json"))
    );
    assert_eq!(s.ignore_reason(), None);
}

#[test]
fn profile_list_with_no_existing_path_is_missing() {
    let path = fixture("valid/missing-profile.json");
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let tried = vec![
        PathBuf::from("/nonexistent/etc/docker/seccomp.json"),
        fixture("valid").join("profiles/not-here.json"),
    ];
    assert_eq!(
        s.profile,
        ProfileSource::Missing {
            tried: tried.clone()
        }
    );
    assert_eq!(
        s.ignore_reason().unwrap(),
        format!(
            "none of the profile paths exists: {}, {}",
            tried[0].display(),
            tried[1].display()
        )
    );
}

#[test]
fn profile_single_path_must_exist_and_be_valid() {
    assert_parse_error(
        r#"{"profile": "profiles/nope.json", "runtimes": ["runc"]}"#,
        1,
        13,
        "profile",
        "no profile file at /virtual/suite/profiles/nope.json (to fall back",
    );
    let bad = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/profiles/invalid-unknown-key.json");
    let text = format!(
        "{{\"runtimes\": [\"runc\"],\n \"profile\": {}}}",
        serde_json::to_string(&bad.display().to_string()).unwrap()
    );
    // Docker lets an unknown key pass: a warning, unless read strictly.
    let lenient = Scenario::parse(&text, virtual_path()).expect("a lenient reading");
    assert!(
        lenient.profile_warnings[0].contains("unknown field `syscals`"),
        "{:?}",
        lenient.profile_warnings
    );
    let err = Scenario::parse_with(&text, virtual_path(), crate::profile::Reading::Strict)
        .expect_err("invalid profile");
    assert!(matches!(err, ScenarioError::Profile { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "/virtual/suite/s.json:2:13: profile: {}:3:3: syscals: unknown field",
            bad.display()
        )),
        "{message}"
    );
}

#[test]
fn profile_inline_is_validated_with_positions_in_the_scenario() {
    let path = fixture("valid/inline-allow-all.json");
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    match &s.profile {
        ProfileSource::Inline(v) => assert_eq!(v["defaultAction"], "SCMP_ACT_ALLOW"),
        other => panic!("{other:?}"),
    }
    assert_parse_error(
        "{\"runtimes\": [\"runc\"],\n \"profile\": {\"inline\": {\"defaultAction\": \"SCMP_ACT_ALLOW\",\n   \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_NOPE\"}]}}}",
        3,
        47,
        "profile.inline.syscalls[0].action",
        "unknown action \"SCMP_ACT_NOPE\"",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "profile": {"inline": {"syscalls": []}}}"#,
        1,
        46,
        "profile.inline",
        "missing field `defaultAction`",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "profile": {"file": "x.json"}}"#,
        1,
        36,
        "profile.file",
        "unknown field `file`, expected `inline`",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "profile": {"inline": "x.json"}}"#,
        1,
        46,
        "profile.inline",
        "expected a seccomp profile object",
    );
}

// ---- precedence ----------------------------------------------------------------

/// Each level is set to a different verdict; removing the winner must reveal the
/// next level down.
#[test]
fn precedence_each_level_beats_the_next() {
    let levels = [
        // (path to the key, key, value): each level a different mechanism
        ("runtime.probes", "fs.write-mount@/m", "error:EPERM"),
        ("runtime.probes", "fs.write-mount", "error:EACCES"),
        ("runtime.goals", "fs", "error:ENOSYS"),
        ("runtime.default", "", "error:EINVAL"),
        ("probes", "fs.write-mount@/m", "error:EFAULT"),
        ("probes", "fs.write-mount", "error:EBADF"),
        ("goals", "fs", "error:ENOENT"),
        ("default", "", "error:EIO"),
    ];
    for first in 0..levels.len() {
        let mut runtime = serde_json::Map::new();
        let mut top = serde_json::Map::new();
        for (where_, k, v) in &levels[first..] {
            let (target, field) = match where_.strip_prefix("runtime.") {
                Some(f) => (&mut runtime, f),
                None => (&mut top, *where_),
            };
            if field == "default" {
                target.insert("default".into(), (*v).into());
            } else {
                target
                    .entry(field)
                    .or_insert_with(|| serde_json::json!({}))
                    .as_object_mut()
                    .unwrap()
                    .insert((*k).into(), (*v).into());
            }
        }
        top.insert("runtimes".into(), serde_json::json!({ "runc": runtime }));
        let text = serde_json::json!({
            "runtimes": ["runc", "crun"],
            "settings": {"tmpfs": ["/m", "/n"]},
            "expect": top,
        })
        .to_string();
        let s = parse(&text);
        let got = s.expect.expected_for("runc", "fs.write-mount@/m");
        assert_eq!(got.text, levels[first].2, "with levels {first}.. set");
    }
}

#[test]
fn precedence_applies_per_runtime_step_and_goal() {
    let s = Scenario::load(&fixture("valid/seed-minus-execve.json")).unwrap();
    let e = &s.expect;
    let text = |rt: &str, step: &str| e.expected_for(rt, step).text;
    // Scenario-wide levels, for a runtime without its own.
    assert_eq!(text("crun", "spawn.vfork"), "escaped");
    assert_eq!(text("crun", "spawn.fork"), "blocked");
    assert_eq!(text("crun", "fs.write-mount@/scratch"), "escaped");
    assert_eq!(text("crun", "fs.write-mount@/data"), "not-applicable");
    assert_eq!(text("crun", "fs.write-rootfs"), "not-applicable");
    assert_eq!(text("crun", "kernel.ptrace"), "any");
    // runsc: its default beats every scenario-wide expectation; its step wins.
    assert_eq!(text("runsc", "exec.i386"), "escaped");
    assert_eq!(text("runsc", "fs.write-rootfs"), "escaped");
    assert_eq!(text("runsc", "spawn.clone3"), "blocked:ENOSYS");
    // runc overrides only the start.
    assert_eq!(text("runc", "exec.i386"), "blocked:SIGSYS");
    assert_eq!(e.start_for("runc"), StartExpectation::FailsToStart);
    assert_eq!(e.start_for("runsc"), StartExpectation::Starts);
    // A step not in the catalog still gets the defaults.
    assert_eq!(text("crun", "no.such"), "blocked");
}

#[test]
fn custom_runtimes_are_looked_up_by_name_or_spec() {
    let s = Scenario::load(&fixture("valid/inline-allow-all.json")).unwrap();
    assert_eq!(
        s.runtimes[1],
        format!("mine={},--debug", fixture("valid/bin/runc-1.2").display())
    );
    for runtime in ["mine", s.runtimes[1].as_str()] {
        assert_eq!(s.expect.expected_for(runtime, "kernel.reboot").text, "any");
        assert_eq!(s.expect.expected_for(runtime, "spawn.fork").text, "escaped");
    }
    assert_eq!(
        s.expect.expected_for("runsc-oci", "kernel.reboot").text,
        "blocked:EPERM"
    );
}

// ---- judge ---------------------------------------------------------------------

fn run(runtime: &str, start: StartStatus, verdicts: Vec<Verdict>) -> RunReport {
    RunReport {
        runtime: RuntimeVersion {
            name: runtime.to_string(),
            ..Default::default()
        },
        start,
        containers: 1,
        escapes_by_goal: crate::report::GoalEscapes::of(&verdicts),
        verdicts,
        profile_handling: ProfileHandling::default(),
        triage: None,
        workload: None,
    }
}

fn verdict(runtime: &str, step: &str, outcome: Outcome, mechanism: Option<&str>) -> Verdict {
    Verdict::new(runtime, step, outcome, format!("{step} detail")).mechanism(mechanism)
}

fn expectations(expect: &str) -> Expectations {
    parse(&format!(
        r#"{{"runtimes": ["runc", "crun"], "settings": {{"tmpfs": ["/scratch"]}}, "expect": {expect}}}"#
    ))
    .expect
}

#[test]
fn judge_passes_when_every_verdict_matches() {
    let e = expectations(r#"{"probes": {"spawn.vfork": "escaped"}}"#);
    let r = run(
        "runc",
        StartStatus::Started,
        vec![
            verdict("runc", "spawn.fork", Outcome::Blocked, Some("EPERM")),
            verdict("runc", "spawn.vfork", Outcome::Escaped, None),
        ],
    );
    let (checks, failure) = judge(&e, "runc", &r);
    assert_eq!(failure, None);
    assert_eq!(checks.len(), 2);
    assert!(checks.iter().all(|c| c.ok));
    assert_eq!(checks[0].step, "spawn.fork");
    assert_eq!(checks[0].goal, Some(Goal::Spawn));
    assert_eq!(checks[0].expected, "blocked");
    assert_eq!(checks[0].got, "blocked");
    assert_eq!(checks[0].mechanism, Some("EPERM".into()));
    assert_eq!(checks[0].detail, "spawn.fork detail");
    assert_eq!(checks[1].expected, "escaped");
}

#[test]
fn judge_lists_each_mismatch_on_its_own_line() {
    let e = expectations(r#"{"probes": {"fs.write-mount@/scratch": "blocked:EROFS"}}"#);
    let r = run(
        "runc",
        StartStatus::Started,
        vec![
            verdict("runc", "spawn.fork", Outcome::Blocked, Some("EPERM")),
            verdict("runc", "spawn.vfork", Outcome::Escaped, None),
            verdict("runc", "fs.write-mount@/scratch", Outcome::Escaped, None)
                .evidence(crate::report::Evidence::Witnessed),
            verdict("runc", "exec.i386", Outcome::Error, Some("timeout")),
        ],
    );
    let (checks, failure) = judge(&e, "runc", &r);
    assert_eq!(
        checks.iter().map(|c| c.ok).collect::<Vec<_>>(),
        [true, false, false, false]
    );
    assert_eq!(
        failure.as_deref(),
        Some(
            "3 probe step(s) under runc did not match the scenario:\n\
             \x20 probe spawn.vfork: expected blocked, got escaped — spawn.vfork detail\n\
             \x20 probe fs.write-mount@/scratch: expected blocked:EROFS, got escaped — fs.write-mount@/scratch detail\n\
             \x20 probe exec.i386: expected blocked, got error (timeout) — exec.i386 detail"
        )
    );
}

#[test]
fn judge_any_matches_every_outcome() {
    let e = expectations(r#"{"default": "any"}"#);
    let outcomes = [
        Outcome::Escaped,
        Outcome::Blocked,
        Outcome::NotApplicable,
        Outcome::Error,
        Outcome::NotRun,
    ];
    let verdicts = outcomes
        .iter()
        .map(|o| verdict("runc", "kernel.bpf", *o, Some("EPERM")))
        .collect();
    let (checks, failure) = judge(&e, "runc", &run("runc", StartStatus::Started, verdicts));
    assert_eq!(failure, None);
    assert!(checks.iter().all(|c| c.ok && c.expected == "any"));
}

#[test]
fn judge_compares_the_mechanism_when_one_is_expected() {
    let e = expectations(r#"{"default": "blocked:EPERM", "probes": {"exec.i386": "blocked"}}"#);
    let r = run(
        "crun",
        StartStatus::Started,
        vec![
            verdict("crun", "spawn.fork", Outcome::Blocked, Some("EPERM")),
            verdict("crun", "spawn.clone3", Outcome::Blocked, Some("ENOSYS")),
            verdict("crun", "spawn.vfork", Outcome::Blocked, None),
            verdict("crun", "exec.i386", Outcome::Blocked, Some("SIGSYS")),
        ],
    );
    let (checks, failure) = judge(&e, "crun", &r);
    assert_eq!(
        checks.iter().map(|c| c.ok).collect::<Vec<_>>(),
        [true, false, false, true]
    );
    let failure = failure.unwrap();
    assert!(
        failure.contains("  probe spawn.clone3: expected blocked:EPERM, got blocked (ENOSYS) — "),
        "{failure}"
    );
    assert!(
        failure.contains("  probe spawn.vfork: expected blocked:EPERM, got blocked — "),
        "{failure}"
    );
}

fn not_run(runtime: &str, steps: &[&str]) -> Vec<Verdict> {
    steps
        .iter()
        .map(|s| verdict(runtime, s, Outcome::NotRun, Some("start-failure")))
        .collect()
}

#[test]
fn judge_fails_to_start_as_expected() {
    let e = expectations(r#"{"runtimes": {"runc": {"start": "fails-to-start"}}}"#);
    let r = run(
        "runc",
        StartStatus::FailedToStart {
            error: "exec /.breakout/breakout-probe: operation not permitted".into(),
        },
        not_run("runc", &["spawn.fork", "exec.execve"]),
    );
    let (checks, failure) = judge(&e, "runc", &r);
    assert_eq!(failure, None);
    assert_eq!(checks.len(), 2);
    assert!(checks.iter().all(|c| c.ok && c.got == "not-run"));
}

#[test]
fn judge_expected_not_to_start_but_it_started() {
    let e = expectations(r#"{"start": "fails-to-start"}"#);
    let r = run(
        "crun",
        StartStatus::Started,
        vec![verdict(
            "crun",
            "spawn.fork",
            Outcome::Blocked,
            Some("EPERM"),
        )],
    );
    let (checks, failure) = judge(&e, "crun", &r);
    assert!(checks[0].ok);
    assert_eq!(
        failure.as_deref(),
        Some("expected the container not to start under crun, but it started")
    );
}

#[test]
fn judge_expected_to_start_but_it_did_not() {
    let e = expectations(r#"{}"#);
    let mut r = run(
        "runc",
        StartStatus::FailedToStart {
            error: "\nexec /.breakout/breakout-probe: operation not permitted\nmore".into(),
        },
        not_run("runc", &["spawn.fork"]),
    );
    r.triage = Some(Triage {
        needed: vec!["execve".into()],
        attempts: 4,
        conclusion: "runc needs execve to start its container; the profile denies it".into(),
    });
    let (checks, failure) = judge(&e, "runc", &r);
    assert!(!checks[0].ok);
    assert_eq!(
        failure.as_deref(),
        Some(
            "expected the container to start under runc, but it did not: exec /.breakout/breakout-probe: operation not permitted\n\
             \x20 triage: runc needs execve to start its container; the profile denies it"
        )
    );
}

// ---- discovery -----------------------------------------------------------------

#[test]
fn discover_walks_directories_in_order_and_skips_profiles() {
    let scenarios = discover(&[fixture("valid")], crate::profile::Reading::Strict)
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    // profiles/allow-all.json is a profile, not a scenario.
    assert_eq!(
        names,
        [
            "docker-default-fallback",
            "inline-allow-all",
            "missing-profile",
            "seed-minus-execve"
        ]
    );
    // A file named again beside its directory is loaded once.
    let again = discover(
        &[fixture("valid"), fixture("valid/missing-profile.json")],
        crate::profile::Reading::Strict,
    )
    .unwrap();
    assert_eq!(again.len(), 4);
}

#[test]
fn discover_refuses_duplicate_names_and_empty_directories() {
    let dir = std::env::temp_dir().join(format!("breakout-scenarios-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::write(
        dir.join("a.json"),
        "{\"name\": \"same\", \"runtimes\": [\"runc\"]}",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.json"),
        "{\n  \"name\": \"same\", \"runtimes\": [\"runc\"]}",
    )
    .unwrap();
    let err = discover(
        &[dir.join("a.json"), dir.join("b.json")],
        crate::profile::Reading::Strict,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:11: name: scenario name \"same\" is also used by {}",
            dir.join("b.json").display(),
            dir.join("a.json").display()
        )
    );
    let err = discover(&[dir.join("empty")], crate::profile::Reading::Strict).unwrap_err();
    assert!(matches!(err, ScenarioError::NoScenarios { .. }), "{err}");
    let err = discover(&[dir.join("nowhere")], crate::profile::Reading::Strict).unwrap_err();
    assert!(
        matches!(err, ScenarioError::File(FileError::Read { .. })),
        "{err}"
    );
    // An invalid scenario found by walking is an error, not skipped.
    let err = discover(&[fixture("invalid")], crate::profile::Reading::Strict).unwrap_err();
    assert!(
        err.to_string().contains("invalid/bad-outcome.json:5:43:"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 10 (items 5, 12, 13): mounts over the harness's directory, duplicate
/// destinations and values a runtime would only refuse at start are errors at load,
/// pointing at the entry.
#[test]
fn error_settings_the_runtime_would_refuse_point_at_the_entry() {
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"tmpfs": ["/a", "//.breakout/"]}}"#,
        1,
        53,
        "settings.tmpfs[1]",
        "/.breakout is the harness's own directory",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"volumes": ["/tmp:/x/../.breakout"]}}"#,
        1,
        49,
        "settings.volumes[0]",
        "the destination has a \"..\" component",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"tmpfs": ["/x", "/y", "/x"]}}"#,
        1,
        59,
        "settings.tmpfs[2]",
        "destination /x is already the destination of --tmpfs \"/x\"",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"volumes": ["/tmp:/x"], "tmpfs": ["/x/"]}}"#,
        1,
        71,
        "settings.tmpfs[0]",
        "already the destination of --volume \"/tmp:/x\"",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"tmpfs": ["/x:size=lots"]}}"#,
        1,
        47,
        "settings.tmpfs[0]",
        "size=lots: expected a number of bytes",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"tmpfs": ["/x\u0000y"]}}"#,
        1,
        47,
        "settings.tmpfs[0]",
        "control character \\u{0}",
    );
    assert_parse_error(
        r#"{"runtimes": ["runc"], "settings": {"user": "4294967295"}}"#,
        1,
        45,
        "settings.user",
        "the uid 4294967295 cannot be set",
    );
}

/// The `docker run` flags beyond mounts and capabilities are scenario settings too,
/// and a bad one points at its entry.
#[test]
fn run_flags_are_settings() {
    let s = Scenario::parse(
        r#"{"runtimes": ["runc"], "settings": {"privileged": true, "pid": "host",
            "pids_limit": 1, "memory": "64m", "sysctls": ["kernel.shmmni=0"]}}"#,
        virtual_path(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let flags = &s.settings.run_flags;
    assert!(flags.privileged);
    assert_eq!(flags.pid.as_deref(), Some("host"));
    assert_eq!(flags.pids_limit, Some(1));
    assert_eq!(flags.sysctls, ["kernel.shmmni=0"]);
    assert_parse_error(
        "{\"runtimes\": [\"runc\"],\n \"settings\": {\"sysctls\": [\"kernel.shmmni=0\", \"vm.swappiness=1\"]}}",
        2,
        46,
        "settings.sysctls[1]",
        "would change the host",
    );
}
