use super::*;
use crate::check::StepPrediction;
use crate::predict::source::Place;
use crate::predict::Agreement;

/// A route's prediction: `open`, or `closed` with EPERM, decided by `rule` at
/// `file:line:3`.
fn route(filter: &'static str, name: &str, rule: &str, file: &str, line: usize) -> Prediction {
    Prediction {
        filter,
        route: Some(name.to_string()),
        entry: Some(Entry::X86_64),
        action: if filter == "closed" {
            "errno(EPERM)".into()
        } else {
            "allow".into()
        },
        mechanism: (filter == "closed").then(|| "EPERM".to_string()),
        rule: rule.to_string(),
        place: Some(Place {
            file: file.into(),
            line,
            column: 3,
        }),
        agreement: Agreement::NotCompared,
    }
}

/// A step whose prediction is its first open route, else its first (as the predictor
/// chooses).
fn step(name: &str, routes: Vec<Prediction>) -> StepPrediction {
    let prediction = routes
        .iter()
        .find(|r| r.filter == "open")
        .unwrap_or(&routes[0])
        .clone();
    StepPrediction {
        step: name.to_string(),
        prediction,
        routes,
    }
}

fn runtime(
    name: &'static str,
    starts: [bool; 2],
    steps: Vec<StepPrediction>,
) -> RuntimePredictions {
    RuntimePredictions {
        runtime: name,
        starts: [false, true]
            .into_iter()
            .zip(starts)
            .map(|(nnp, starts)| StartPrediction {
                runtime: name,
                no_new_privileges: nnp,
                starts,
                because: if starts {
                    Vec::new()
                } else {
                    vec![Refusal {
                        cause: format!("{name} execs the container's process after its filter with execve, which the profile denies"),
                        place: Some(Place {
                            file: "b.json".into(),
                            line: 2,
                            column: 2,
                        }),
                    }]
                },
            })
            .collect(),
        steps,
    }
}

fn side(file: &str) -> ProfileSide {
    ProfileSide {
        file: file.into(),
        warnings: Vec::new(),
    }
}

fn diff_of(a: &[RuntimePredictions], b: &[RuntimePredictions]) -> ProfileDiff {
    ProfileDiff::new(side("a.json"), side("b.json"), a, b)
}

/// The diff of one step under runc, which starts under both profiles.
fn under_runc(a: StepPrediction, b: StepPrediction) -> ProfileDiff {
    diff_of(
        &[runtime("runc", [true, true], vec![a])],
        &[runtime("runc", [true, true], vec![b])],
    )
}

fn fork(filter: &'static str, file: &str) -> StepPrediction {
    let rule = if filter == "open" {
        "the filter lets fork through (x86_64)"
    } else {
        "fork on x86_64: syscalls[0] (fork) answers errno(EPERM)"
    };
    step("spawn.fork", vec![route(filter, "fork", rule, file, 4)])
}

#[test]
fn a_step_that_opens_names_both_rules_and_fails_the_gate() {
    let d = under_runc(fork("closed", "a.json"), fork("open", "b.json"));
    let steps = &d.runtimes[0].steps;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].change, Change::Opened);
    let r = &steps[0].routes[0];
    assert_eq!((r.route.as_str(), r.change), ("fork", Change::Opened));
    assert!(r.a.rule.contains("syscalls[0]"), "{}", r.a.rule);
    assert_eq!(r.a.place.as_ref().unwrap().to_string(), "a.json:4:3");
    assert_eq!(r.b.place.as_ref().unwrap().to_string(), "b.json:4:3");
    assert!(d.runtimes[0]
        .steps
        .iter()
        .any(|s| s.step == "spawn.fork" && s.change == Change::Opened));
    assert_eq!(ProfileDiff::exit_code(&d.summary), ExitCode::Escaped);
    assert_eq!(d.exit_code, 1);
}

#[test]
fn closing_only_passes_the_gate() {
    let d = under_runc(fork("open", "a.json"), fork("closed", "b.json"));
    assert_eq!(d.runtimes[0].steps[0].change, Change::Closed);
    assert_eq!((d.summary.closed, d.summary.routes_closed), (1, 1));
    assert_eq!(ProfileDiff::exit_code(&d.summary), ExitCode::Clean);
}

#[test]
fn one_more_open_route_beside_an_open_one_is_worse() {
    let memfd = |second: &'static str, file: &str| {
        step(
            "exec.memfd",
            vec![
                route(
                    "open",
                    "execveat",
                    "the filter lets execveat through",
                    file,
                    5,
                ),
                route(second, "execve(/proc/self/fd/N)", "execve's rule", file, 6),
            ],
        )
    };
    let d = under_runc(memfd("closed", "a.json"), memfd("open", "b.json"));
    let s = &d.runtimes[0].steps[0];
    assert_eq!(s.change, Change::Routes);
    // Only the route that changed is listed.
    assert_eq!(s.routes.len(), 1);
    assert_eq!(s.routes[0].route, "execve(/proc/self/fd/N)");
    assert_eq!(d.summary.routes_opened, 1);
    assert_eq!(ProfileDiff::exit_code(&d.summary), ExitCode::Escaped);
    // The reverse only closes a route.
    let back = under_runc(memfd("open", "a.json"), memfd("closed", "b.json"));
    assert_eq!(back.summary.routes_closed, 1);
    assert_eq!(ProfileDiff::exit_code(&back.summary), ExitCode::Clean);
}

#[test]
fn the_same_verdicts_are_no_change_whatever_their_rules_say() {
    // Another rule, another place, even another answer (EPERM to SIGSYS): still
    // closed, so nothing changes for escapes.
    let mut killed = fork("closed", "b.json");
    killed.routes[0].mechanism = Some("SIGSYS".into());
    killed.routes[0].rule = "another rule".into();
    let d = under_runc(fork("closed", "a.json"), killed);
    assert!(d.runtimes[0].steps.is_empty());
    assert!(d.summary.unchanged());
    assert_eq!(ProfileDiff::exit_code(&d.summary), ExitCode::Clean);
    assert!(to_text(&d).contains("runc: no change"), "{}", to_text(&d));
    assert!(to_markdown(&d).starts_with("✅ **breakout diff**: no change\n"));
}

#[test]
fn a_start_that_stops_is_a_start_change_not_closed_steps() {
    let a = [
        runtime("runc", [true, true], vec![fork("open", "a.json")]),
        runtime("runsc-oci", [true, true], vec![fork("closed", "a.json")]),
    ];
    let b = [
        runtime("runc", [false, false], Vec::new()),
        runtime("runsc-oci", [true, true], vec![fork("closed", "b.json")]),
    ];
    let d = diff_of(&a, &b);
    let runc = &d.runtimes[0];
    assert_eq!(runc.starts.len(), 2);
    assert!(runc
        .starts
        .iter()
        .all(|s| s.change == StartChangeKind::Stops && s.a.starts && !s.b.starts));
    assert!(!runc.compared && runc.steps.is_empty());
    assert_eq!(
        runc.not_compared.as_deref(),
        Some("the container does not start under B; under A, 1 of 1 steps have an open route")
    );
    assert_eq!(d.summary.starts_stopped, 1);
    assert_eq!(d.summary.closed, 0);
    assert_eq!(ProfileDiff::exit_code(&d.summary), ExitCode::StartFailure);
    // Both settings alike are said once, with the reason and its place.
    let text = to_text(&d);
    assert!(
        text.contains("  start with and without no-new-privileges: STOPS\n    A: starts\n    B: cannot start: runc execs the container's process after its filter with execve, which the profile denies [b.json:2:2]\n"),
        "{text}"
    );
    assert!(text.contains("runsc-oci: no change"), "{text}");
    // The reverse is a start gained: no start failure, and what B then leaves open is
    // counted.
    let back = diff_of(&b, &a);
    assert_eq!(back.summary.starts_gained, 1);
    assert!(back.runtimes[0]
        .not_compared
        .as_deref()
        .is_some_and(|w| w.contains("under B, 1 of 1 steps have an open route")));
    assert_eq!(ProfileDiff::exit_code(&back.summary), ExitCode::Clean);
    // An opening elsewhere takes precedence over a start that stops.
    let mut b2 = b;
    b2[1] = runtime("runsc-oci", [true, true], vec![fork("open", "b.json")]);
    let d = diff_of(&a, &b2);
    assert_eq!(ProfileDiff::exit_code(&d.summary), ExitCode::Escaped);
}

#[test]
fn only_the_setting_that_changes_is_a_start_change() {
    let d = diff_of(
        &[runtime("runc", [true, true], Vec::new())],
        &[runtime("runc", [false, true], Vec::new())],
    );
    let starts = &d.runtimes[0].starts;
    assert_eq!(starts.len(), 1);
    assert!(!starts[0].no_new_privileges);
    // It still starts with no-new-privileges, so its steps are compared.
    assert!(d.runtimes[0].compared);
    let text = to_text(&d);
    assert!(
        text.contains("start without no-new-privileges: STOPS"),
        "{text}"
    );
}

#[test]
fn the_text_says_a_runtime_with_the_same_changes_once() {
    let a = [
        runtime("runc", [true, true], vec![fork("closed", "a.json")]),
        runtime("crun", [true, true], vec![fork("closed", "a.json")]),
    ];
    let b = [
        runtime("runc", [true, true], vec![fork("open", "b.json")]),
        runtime("crun", [true, true], vec![fork("open", "b.json")]),
    ];
    let d = diff_of(&a, &b);
    // Counted once, whatever runtimes it opens under.
    assert_eq!((d.summary.opened, d.summary.routes_opened), (1, 1));
    let text = to_text(&d);
    assert!(
        text.contains(
            "runc:\n  OPENED spawn.fork                 closed (EPERM) -> open via fork\n         route fork (x86_64): OPENED\n           A: fork on x86_64: syscalls[0] (fork) answers errno(EPERM) [a.json:4:3]\n           B: the filter lets fork through (x86_64) [b.json:4:3]\n"
        ),
        "{text}"
    );
    assert!(text.contains("crun: the same as runc\n"), "{text}");
    assert!(
        text.ends_with("summary: 1 step opened, 0 closed (1 route opened, 0 closed)\n"),
        "{text}"
    );
}

#[test]
fn markdown_merges_runtimes_and_escapes_what_the_profile_wrote() {
    let open = || {
        let mut open = fork("open", "b.json");
        open.routes[0].rule = "a | pipe and <b>tag</b>".into();
        open.prediction = open.routes[0].clone();
        open
    };
    let a = [
        runtime("runc", [true, true], vec![fork("closed", "a.json")]),
        runtime("crun", [true, true], vec![fork("closed", "a.json")]),
    ];
    let b = [
        runtime("runc", [true, true], vec![open()]),
        runtime("crun", [true, true], vec![open()]),
    ];
    let md = to_markdown(&diff_of(&a, &b));
    assert!(
        md.starts_with("❌ **breakout diff**: 1 step opened, 0 closed"),
        "{md}"
    );
    assert!(
        md.contains("### Opened\n\n| runtime | step | route | A | B |\n"),
        "{md}"
    );
    let row = md
        .lines()
        .find(|l| l.starts_with("| runc, crun | `spawn.fork` |"))
        .unwrap_or_else(|| panic!("one row for both runtimes:\n{md}"));
    assert!(
        row.contains("**open**: a \\| pipe and &lt;b&gt;tag&lt;/b&gt; `b.json:4:3`"),
        "{row}"
    );
    assert!(row.contains("closed \\(EPERM\\)"), "{row}");
    assert!(!md.contains("### Closed"), "{md}");
}

#[test]
fn runtimes_default_to_checks_and_refuse_engines() {
    let names = |flags: &[&str]| -> Result<Vec<&str>, String> {
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        runtimes(&flags)
            .map(|k| k.iter().map(|k| k.name).collect())
            .map_err(|e| e.to_string())
    };
    assert_eq!(names(&[]).unwrap(), ["runc", "crun", "runsc-oci"]);
    assert_eq!(
        names(&["runsc-oci,runc", "runc"]).unwrap(),
        ["runsc-oci", "runc"]
    );
    let err = names(&["podman"]).unwrap_err();
    assert!(
        err.contains("--runtime podman") && err.contains("runsc-oci"),
        "{err}"
    );
    assert!(names(&["nosuch"]).is_err());
}

#[test]
fn the_execve_fixture_is_dockers_default_without_execve() {
    // The pair README's example diffs: one line apart, so every other place holds.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let default = std::fs::read_to_string(root.join("profiles/docker-default.json")).unwrap();
    let fixture =
        std::fs::read_to_string(root.join("tests/fixtures/profiles/docker-default-no-execve.json"))
            .unwrap();
    assert_eq!(default.replace("\t\t\t\t\"execve\",\n", ""), fixture);
    assert_ne!(default, fixture);
}

#[test]
fn a_file_name_that_is_not_utf8_still_gives_json() {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(format!("breakout-diff-{}", crate::names::unique_token()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &[u8], action: &str| {
        let path = dir.join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(
            &path,
            format!(r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": ["fork"], "action": "{action}"}}]}}"#),
        )
        .unwrap();
        path
    };
    let a = write(b"a\xff.json", "SCMP_ACT_ERRNO");
    let b = write(b"b\xff.json", "SCMP_ACT_LOG");
    let kinds = runtimes(&["runc".to_string()]).unwrap();
    let d = diff(&a, &b, &kinds, Reading::Strict);
    let _ = std::fs::remove_dir_all(&dir);
    let d = d.unwrap();
    assert!(d.runtimes[0]
        .steps
        .iter()
        .any(|s| s.step == "spawn.fork" && s.change == Change::Opened));
    // The files, and the places of the rules that decide spawn.fork.
    let json = serde_json::to_string(&d).unwrap();
    assert!(json.contains("a\u{fffd}.json\",\"warnings\""), "{json}");
    assert!(json.contains("b\u{fffd}.json\",\"line\":1"), "{json}");
}
