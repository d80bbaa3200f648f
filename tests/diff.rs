//! `breakout diff` as CI runs it on a pull request's profile change: real profile
//! pairs (Docker's default against itself with one edit), each format, and the exit
//! code a gate reads. Nothing is started, so none of these needs root.

mod common;

use std::path::{Path, PathBuf};

use common::{breakout, fixture, repo, Scratch};
use serde_json::Value;

fn docker_default() -> String {
    repo()
        .join("profiles/docker-default.json")
        .display()
        .to_string()
}

/// Docker's default profile with `line` replaced by `with`, written into `dir`: the
/// one-line change a pull request makes (every other place stays where it was).
fn edited(dir: &Path, name: &str, line: &str, with: &str) -> String {
    let text = std::fs::read_to_string(docker_default()).unwrap();
    assert_eq!(text.matches(line).count(), 1, "{line:?} is not one line");
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text.replace(line, with)).unwrap();
    path.display().to_string()
}

fn json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["diff", "--format", "json"];
    all.extend_from_slice(args);
    let out = breakout(&all);
    let report = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: no JSON ({e}); exit {}\nstderr: {}\nstdout: {}",
            out.code, out.stderr, out.stdout
        )
    });
    (out.code, report)
}

fn runtime<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["runtime"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

fn step<'a>(runtime: &'a Value, id: &str) -> Option<&'a Value> {
    runtime["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == id)
}

fn place(side: &Value) -> String {
    let p = &side["place"];
    format!(
        "{}:{}:{}",
        p["file"].as_str().unwrap(),
        p["line"],
        p["column"]
    )
}

#[test]
fn denying_execve_closes_the_exec_routes_and_stops_runc_and_crun() {
    let b = fixture("docker-default-no-execve.json");
    let a = docker_default();
    let (code, report) = json(&[&a, &b]);
    // Only closes, but runc and crun exec the container's process after their filter:
    // the start that stops is exit 4, not a pass.
    assert_eq!(code, 4, "{report:#}");
    assert_eq!(report["schema"], "breakout-diff/1");
    assert_eq!(report["exit_code"], 4);
    for name in ["runc", "crun"] {
        let r = runtime(&report, name);
        assert_eq!(r["compared"], false, "{r:#}");
        assert!(r["steps"].as_array().unwrap().is_empty());
        let starts = r["starts"].as_array().unwrap();
        assert_eq!(starts.len(), 2, "{r:#}");
        for s in starts {
            assert_eq!(s["change"], "stops");
            let because = &s["b"]["because"][0];
            assert!(
                because["cause"].as_str().unwrap().contains("execve"),
                "{because}"
            );
            assert_eq!(place(because), format!("{b}:2:2"));
        }
    }
    let oci = runtime(&report, "runsc-oci");
    let execve = step(oci, "exec.execve").expect("exec.execve closes under runsc-oci");
    assert_eq!(execve["change"], "closed");
    assert_eq!(execve["a"]["filter"], "open");
    assert_eq!(execve["b"]["filter"], "closed");
    assert_eq!(execve["b"]["mechanism"], "EPERM");
    let route = &execve["routes"][0];
    assert_eq!(route["change"], "closed");
    // A's allow list, B's default action, each where it is written.
    assert_eq!(place(&route["a"]), format!("{a}:62:3"));
    assert_eq!(place(&route["b"]), format!("{b}:2:2"));
    for id in ["exec.shell", "exec.posix-spawn", "exec.interpreter"] {
        assert_eq!(step(oci, id).unwrap()["change"], "closed", "{id}");
    }
    // exec.memfd still gets through execveat: the same verdict, one route fewer.
    let memfd = step(oci, "exec.memfd").unwrap();
    assert_eq!(memfd["change"], "routes");
    assert_eq!(memfd["routes"].as_array().unwrap().len(), 1);
    assert_eq!(memfd["routes"][0]["route"], "execve(/proc/self/fd/N)");
    // execveat is not execve: its own probe does not move.
    assert!(step(oci, "exec.execveat").is_none());
    assert_eq!(report["summary"]["opened"], 0);
    assert_eq!(report["summary"]["routes_opened"], 0);
    assert_eq!(report["summary"]["starts_stopped"], 2);
}

#[test]
fn allowing_clone_without_its_argument_filter_opens_the_namespace_probes() {
    let dir = Scratch::new("diff-clone");
    let b = edited(
        dir.path(),
        "with-clone.json",
        "\t\t\t\t\"clock_nanosleep_time64\",\n",
        "\t\t\t\t\"clock_nanosleep_time64\",\n\t\t\t\t\"clone\",\n",
    );
    let (code, report) = json(&[&docker_default(), &b]);
    assert_eq!(code, 1, "{report:#}");
    for name in ["runc", "crun", "runsc-oci"] {
        let r = runtime(&report, name);
        let newuser = step(r, "namespace.clone-newuser")
            .unwrap_or_else(|| panic!("namespace.clone-newuser unchanged under {name}"));
        assert_eq!(newuser["change"], "opened");
        assert_eq!(newuser["b"]["filter"], "open");
        // The rule now naming clone, in B.
        assert_eq!(place(&newuser["routes"][0]["b"]), format!("{b}:62:3"));
        assert!(r["starts"].as_array().unwrap().is_empty());
    }
    // The text and the PR comment say it.
    let text = breakout(&["diff", &docker_default(), &b]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains(
            "OPENED namespace.clone-newuser    closed (EPERM) -> open via clone(CLONE_NEWUSER)"
        ),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("crun: the same as runc"),
        "{}",
        text.stdout
    );
    let md = breakout(&["diff", "--format", "markdown", &docker_default(), &b]);
    assert_eq!(md.code, 1);
    assert!(
        md.stdout.starts_with("❌ **breakout diff**: 1 step opened"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout
            .contains("| runc, crun, runsc-oci | `namespace.clone-newuser` |"),
        "{}",
        md.stdout
    );
    // The reverse change only closes: exit 0.
    let (code, back) = json(&[&b, &docker_default()]);
    assert_eq!(code, 0, "{back:#}");
    assert_eq!(back["summary"]["closed"], 1);
}

#[test]
fn a_profile_diffed_with_itself_changes_nothing() {
    let a = docker_default();
    let (code, report) = json(&[&a, &a]);
    assert_eq!(code, 0);
    for r in report["runtimes"].as_array().unwrap() {
        assert_eq!(r["compared"], true);
        assert!(r["steps"].as_array().unwrap().is_empty(), "{r:#}");
        assert!(r["starts"].as_array().unwrap().is_empty(), "{r:#}");
    }
    let out = breakout(&["diff", &a, &a]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.ends_with("summary: no change\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn seccomp_flags_stop_runc_alone() {
    // runc 1.1.5 takes no seccomp flags; crun and runsc-oci load the same filter.
    let dir = Scratch::new("diff-flags");
    let b = edited(
        dir.path(),
        "with-flags.json",
        "\t\"defaultAction\": \"SCMP_ACT_ERRNO\",\n",
        "\t\"defaultAction\": \"SCMP_ACT_ERRNO\",\n\t\"flags\": [\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"],\n",
    );
    let (code, report) = json(&[&docker_default(), &b]);
    assert_eq!(code, 4, "{report:#}");
    let runc = runtime(&report, "runc");
    assert_eq!(runc["starts"].as_array().unwrap().len(), 2);
    let because = &runc["starts"][0]["b"]["because"][0];
    assert!(
        because["cause"].as_str().unwrap().contains("flags"),
        "{because}"
    );
    assert_eq!(place(because), format!("{b}:3:11"));
    for name in ["crun", "runsc-oci"] {
        let r = runtime(&report, name);
        assert!(r["starts"].as_array().unwrap().is_empty(), "{r:#}");
        assert!(r["steps"].as_array().unwrap().is_empty(), "{r:#}");
    }
    // Fixing it is a start gained, not a failure.
    let (code, back) = json(&[&b, &docker_default()]);
    assert_eq!(code, 0, "{back:#}");
    assert_eq!(runtime(&back, "runc")["starts"][0]["change"], "starts");
}

#[test]
fn runtime_picks_what_is_predicted() {
    let (code, report) = json(&[
        "--runtime",
        "runsc-oci",
        &docker_default(),
        &fixture("docker-default-no-execve.json"),
    ]);
    // Under runsc-oci alone nothing stops: closing only.
    assert_eq!(code, 0, "{report:#}");
    let names: Vec<&str> = report["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runtime"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["runsc-oci"]);
}

#[test]
fn a_seccomp_profile_yaml_is_read_as_its_spec() {
    let dir = Scratch::new("diff-yaml");
    let yaml = |name: &str, action: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata: {{name: fork}}\nspec:\n  defaultAction: SCMP_ACT_ALLOW\n  syscalls:\n  - {{action: {action}, names: [fork]}}\n"
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let (a, b) = (
        yaml("deny.yaml", "SCMP_ACT_ERRNO"),
        yaml("allow.yaml", "SCMP_ACT_LOG"),
    );
    let (code, report) = json(&["--runtime", "runc", &a, &b]);
    assert_eq!(code, 1, "{report:#}");
    let fork = step(runtime(&report, "runc"), "spawn.fork").unwrap();
    assert_eq!(fork["change"], "opened");
}

#[test]
fn bad_input_is_exit_2_naming_the_file() {
    let good = docker_default();
    let cases: &[(&[&str], &[&str])] = &[
        (&[&good, "/nonexistent/b.json"], &["/nonexistent/b.json"]),
        (
            &[&fixture("invalid-trailing-comma.json"), &good],
            &["invalid-trailing-comma.json:7:5", "trailing comma"],
        ),
        (
            &[&good, &fixture("invalid-unknown-action.json")],
            &["invalid-unknown-action.json:", "SCMP_ACT_"],
        ),
        (
            &[
                &repo().join("scenarios/seed.json").display().to_string(),
                &good,
            ],
            &["scenarios/seed.json", "scenario"],
        ),
        (
            &["--runtime", "podman", &good, &good],
            &["--runtime podman"],
        ),
        (&[&good], &["<B>"]),
    ];
    for (args, needles) in cases {
        let mut all = vec!["diff"];
        all.extend_from_slice(args);
        let out = breakout(&all);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        for needle in *needles {
            assert!(
                out.stderr.contains(needle),
                "{args:?}: stderr lacks {needle:?}:\n{}",
                out.stderr
            );
        }
    }
    // What Docker lets pass is a warning, and with --strict an error.
    let lenient = breakout(&["diff", &fixture("invalid-unknown-key.json"), &good]);
    assert_ne!(lenient.code, 2, "{}", lenient.stderr);
    assert!(lenient.stderr.contains("warning: "), "{}", lenient.stderr);
    let strict = breakout(&[
        "diff",
        "--strict",
        &fixture("invalid-unknown-key.json"),
        &good,
    ]);
    assert_eq!(strict.code, 2, "{}", strict.stderr);
    assert!(
        strict.stderr.contains("invalid-unknown-key.json:3:3"),
        "{}",
        strict.stderr
    );
}
