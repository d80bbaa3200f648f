//! `breakout test` and `breakout check` as a CI user drives them: a wrong expectation
//! fails exactly its trial (and JUnit says so), bad files exit 2 with file, line and
//! column, partitions cover every trial once, a baseline turns results into changes.

mod common;

use common::junit;
use common::needs::Host;
use common::*;
use libtest_mimic::{Arguments, Trial};
use serde_json::{json, Value};

/// A scenario directory of the test's own: the shipped seed-minus-execve scenario (its
/// profile copied beside it) with `edit` applied.
fn scenario_dir(label: &str, edit: impl FnOnce(&mut Value)) -> Scratch {
    let dir = Scratch::new(label);
    let profiles = dir.sub("profiles");
    std::fs::copy(
        repo().join("scenarios/profiles/seed-minus-execve.json"),
        profiles.join("seed-minus-execve.json"),
    )
    .unwrap();
    let mut scenario: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("scenarios/seed-minus-execve.json")).unwrap(),
    )
    .unwrap();
    scenario["runtimes"] = json!(["runc"]);
    edit(&mut scenario);
    std::fs::write(
        dir.path().join("seed-minus-execve.json"),
        serde_json::to_string_pretty(&scenario).unwrap(),
    )
    .unwrap();
    dir
}

/// Editing one expectation to the wrong value fails exactly that trial, naming the
/// probe, the expected and the got; the JUnit file shows the same failure.
fn wrong_expectation_fails_its_trial() -> TestResult {
    let dir = scenario_dir("wrong", |s| {
        s["expect"]["probes"]["spawn.vfork"] = json!("blocked");
    });
    let reports = Scratch::new("wrong-reports");
    let junit = reports.path().join("junit.xml");
    let sarif = reports.path().join("log.sarif");
    let path = dir.path().display().to_string();
    let junit_arg = junit.display().to_string();
    let sarif_arg = sarif.display().to_string();
    let out = breakout(&["test", &path, "--junit", &junit_arg, "--sarif", &sarif_arg]);
    out.expect_code(1)?;
    assert!(
        out.stdout.contains("seed-minus-execve::runc ... FAILED"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("probe spawn.vfork: expected blocked, got escaped"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("1 failed"), "{}", out.stdout);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("expected blocked, got escaped"), "{xml}");
    junit::fits_the_schemas("a failed trial", &junit)?;
    // SARIF: one alert, the unexpected escape, at the profile line that leaves vfork
    // open (the allowing default: no rule names vfork).
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let results = log["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ids: Vec<&str> = results
        .iter()
        .filter_map(|r| r["ruleId"].as_str())
        .collect();
    assert_eq!(ids, ["spawn.vfork"], "{log:#}");
    let at = &results[0]["locations"][0]["physicalLocation"];
    let uri = at["artifactLocation"]["uri"].as_str().unwrap_or_default();
    assert!(uri.ends_with("profiles/seed-minus-execve.json"), "{at:#}");
    let profile =
        std::fs::read_to_string(dir.path().join("profiles/seed-minus-execve.json")).unwrap();
    let default_line = profile
        .lines()
        .position(|l| l.contains("defaultAction"))
        .map(|i| i + 1);
    assert_eq!(
        at["region"]["startLine"].as_u64().map(|l| l as usize),
        default_line,
        "{at:#}"
    );
    let problems = sarif_problems(&log)?;
    assert!(
        problems.is_empty(),
        "the SARIF log fails the schema: {problems:?}"
    );
    let rule = &log["runs"][0]["tool"]["driver"]["rules"][0];
    assert!(
        rule["properties"]["security-severity"].is_string(),
        "{rule:#}"
    );
    assert!(rule["fullDescription"]["text"].is_string(), "{rule:#}");
    // The untouched scenario passes, and its SARIF holds no alert: its expected
    // escapes are no alerts.
    let dir = scenario_dir("right", |_| {});
    let path = dir.path().display().to_string();
    breakout(&["test", &path, "--sarif", &sarif_arg]).expect_code(0)?;
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(log["runs"][0]["results"], json!([]), "{log:#}");
    Ok(())
}

/// A baseline turns the verdict into changes: against itself nothing is worse; against
/// one where an escape was still blocked, that escape is new.
fn baseline_speaks_of_changes() -> TestResult {
    let dir = scenario_dir("baseline", |_| {});
    let path = dir.path().display().to_string();
    // Reports go elsewhere: every JSON file in a scenario directory is read as one.
    let reports = Scratch::new("baseline-reports");
    let first = reports.path().join("first.json");
    let first_arg = first.display().to_string();
    breakout(&["test", &path, "--json", &first_arg]).expect_code(0)?;
    let out = breakout(&["test", &path, "--baseline", &first_arg]);
    out.expect_code(0)?;
    assert!(out.stderr.contains("0 new escapes"), "{}", out.stderr);
    // Rewrite history: vfork used to be blocked.
    let mut old: Value = serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    for check in old["trials"][0]["checks"].as_array_mut().unwrap() {
        if check["step"] == "spawn.vfork" {
            check["got"] = json!("blocked");
        }
    }
    let old_path = reports.path().join("old.json");
    std::fs::write(&old_path, old.to_string()).unwrap();
    let old_arg = old_path.display().to_string();
    let out = breakout(&["test", &path, "--baseline", &old_arg]);
    out.expect_code(1)?;
    assert!(out.stderr.contains("1 new escape"), "{}", out.stderr);
    Ok(())
}

/// Issue 16: against a baseline that lacks the trial, or ignored it, a passing trial
/// is a new trial and exits 0, not one "new escape" per escape its scenario expects;
/// a real change of a trial in both is still reported, and only that: an escape that
/// is now blocked is fixed (exit 0), a blocked step that now escapes is new (exit 1).
fn issue_16_baseline_counts_only_real_changes() -> TestResult {
    let dir = scenario_dir("baseline16", |_| {});
    let path = dir.path().display().to_string();
    let reports = Scratch::new("baseline16-reports");
    let first = reports.path().join("first.json");
    breakout(&["test", &path, "--json", &first.display().to_string()]).expect_code(0)?;
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&first)?)?;
    let checks = report["trials"][0]["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let steps_that = |got: &str| -> Vec<String> {
        checks
            .iter()
            .filter(|c| c["got"] == got)
            .filter_map(|c| c["step"].as_str().map(str::to_string))
            .collect()
    };
    let (escaped, blocked) = (steps_that("escaped"), steps_that("blocked"));
    // The scenario expects escapes: the old count would have called each one new.
    if escaped.len() < 2 || blocked.is_empty() {
        return Err(format!("escaped {escaped:?}, blocked {blocked:?}: {report:#}").into());
    }
    let set_got = |old: &mut Value, step: &str, got: &str| {
        for check in old["trials"][0]["checks"].as_array_mut().unwrap() {
            if check["step"] == step {
                check["got"] = json!(got);
            }
        }
    };
    let trial = "`seed-minus-execve::runc`";
    type Edit<'a> = Box<dyn Fn(&mut Value) + 'a>;
    // (baseline, how it differs from this run, exit code, summary, Markdown it holds)
    let cases: Vec<(&str, Edit, i32, &str, String)> = vec![
        (
            "lacking",
            Box::new(|old| old["trials"] = json!([])),
            0,
            "0 new escapes, 0 fixed; 0 new failures; 1 new trial, 0 gone",
            format!("### New escapes\n\n_none_\n\n### Fixed\n\n_none_\n\n**New trials:** {trial}"),
        ),
        (
            "ignored",
            Box::new(|old| {
                let t = &mut old["trials"][0];
                t["status"] = json!({"status": "ignored", "reason": "runc is not installed"});
                t["checks"] = json!([]);
                t["start"] = Value::Null;
            }),
            0,
            "0 new escapes, 0 fixed; 0 new failures; 1 trial not run in the baseline",
            format!("### New escapes\n\n_none_\n\n### Fixed\n\n_none_\n\n**Not run in the baseline:** {trial}"),
        ),
        // Was escaping, now blocked: fixed, nothing worse.
        (
            "fixed",
            Box::new(|old| set_got(old, &blocked[0], "escaped")),
            0,
            "0 new escapes, 1 fixed; 0 new failures",
            format!("### Fixed\n\n- {trial}: `{}`\n", blocked[0]),
        ),
        // Was blocked, now escapes: the one new escape, beside the unchanged ones.
        (
            "new-escape",
            Box::new(|old| set_got(old, &escaped[0], "blocked")),
            1,
            "1 new escape, 0 fixed; 0 new failures",
            format!("### New escapes\n\n- {trial}: `{}`\n\n", escaped[0]),
        ),
    ];
    for (label, edit, code, summary, markdown) in cases {
        let mut old = report.clone();
        edit(&mut old);
        let file = reports.path().join(format!("{label}.json"));
        std::fs::write(&file, old.to_string())?;
        let md_file = reports.path().join(format!("{label}.md"));
        let out = breakout(&[
            "test",
            &path,
            "--baseline",
            &file.display().to_string(),
            "--markdown",
            &md_file.display().to_string(),
        ]);
        if out.code != code {
            return Err(format!(
                "against the {label} baseline: exit {}, not {code}; stderr:\n{}",
                out.code, out.stderr
            )
            .into());
        }
        let line = format!("breakout: against the baseline: {summary}\n");
        if !out.stderr.contains(&line) {
            return Err(format!("{label}: no {line:?} in: {}", out.stderr).into());
        }
        let md = std::fs::read_to_string(&md_file).unwrap_or_default();
        if !md.contains(&markdown) {
            return Err(format!("{label}: no {markdown:?} in: {md}").into());
        }
    }
    Ok(())
}

/// A suite of every kind of trial JUnit shows, made through the library: a passed
/// trial, one failed on an escape and a mismatch, one whose probe errored, one that
/// failed on its start, one ignored, one the harness could not attempt; with text a
/// hostile container could print (markup, control characters).
fn every_kind_of_trial() -> breakout::report::suite::SuiteReport {
    use breakout::report::suite::{Check, SuiteReport, TrialOutcome, TrialStatus};
    let check = |step: &str, expected: &str, got: &str, ok: bool, detail: &str| Check {
        step: step.into(),
        goal: None,
        expected: expected.into(),
        got: got.into(),
        mechanism: None,
        detail: detail.into(),
        ok,
        prediction: None,
    };
    let trial = |name: &str, status: TrialStatus, start: Option<&str>, checks: Vec<Check>| {
        let (scenario, runtime) = name.split_once("::").unwrap();
        TrialOutcome {
            name: name.into(),
            scenario: scenario.into(),
            scenario_file: format!("scenarios/{scenario}.json").into(),
            runtime: runtime.into(),
            expected_start: "starts".into(),
            start: start.map(str::to_string),
            start_error: None,
            network: Some("bridge".into()),
            status,
            checks,
            duration: 1.25,
            started: None,
        }
    };
    let failed = |m: &str| TrialStatus::Failed { message: m.into() };
    let mut no_start = trial(
        "seed::crun",
        failed("expected the container to start; it did not"),
        Some("failed-to-start"),
        vec![check("spawn.fork", "blocked", "not-run", false, "")],
    );
    no_start.start_error = Some("exec: operation not permitted\x1b[31m <b>&".into());
    SuiteReport::new(
        None,
        vec![
            trial(
                "passing::runc",
                TrialStatus::Passed,
                Some("started"),
                vec![
                    check("spawn.fork", "blocked", "blocked", true, ""),
                    check("exec.execve", "escaped", "escaped", true, "payload ran"),
                ],
            ),
            trial(
                "seed::runc",
                failed("2 checks failed"),
                Some("started"),
                vec![
                    check(
                        "spawn.vfork",
                        "blocked",
                        "escaped",
                        false,
                        "</failure><x a=\"1\">",
                    ),
                    check(
                        "kernel.bpf",
                        "blocked:EPERM",
                        "blocked",
                        false,
                        "EACCES \u{7}",
                    ),
                ],
            ),
            trial(
                "errored::runc",
                failed("1 check failed"),
                Some("started"),
                vec![check(
                    "exec.memfd",
                    "blocked",
                    "error",
                    false,
                    "the probe hung",
                )],
            ),
            no_start,
            trial(
                "seed::runsc",
                TrialStatus::Ignored {
                    reason: "runsc is not installed".into(),
                },
                None,
                vec![],
            ),
            trial(
                "broken::runc",
                failed("cannot create the run directory"),
                None,
                vec![],
            ),
        ],
    )
}

/// Issue 16: breakout's JUnit must pass the schemas CI systems check it with. The
/// Jenkins xUnit schema refused the `skipped` attribute quick-junit writes on
/// `<testsuites>`; the Ant schema wants `id`, `package`, `hostname`, a zone-less
/// `timestamp`, `system-out` and `system-err` on each suite and a `time` on each case.
/// Every kind of trial is in the document: passed, failed, errored, skipped.
fn issue_16_junit_validates_against_the_shipped_schemas() -> TestResult {
    let xml = breakout::report::junit::to_junit(&every_kind_of_trial());
    for (kind, element) in [
        ("failed", "<failure "),
        ("errored", "<error "),
        ("skipped", "<skipped "),
    ] {
        if !xml.contains(element) {
            return Err(format!("no {kind} case ({element}) in: {xml}").into());
        }
    }
    let dir = Scratch::new("junit-schemas");
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, &xml)?;
    let problems = junit::schema_problems(&file)?;
    if !problems.is_empty() {
        return Err(format!("{}\n{xml}", problems.join("\n")).into());
    }
    // A control: each schema refuses what it must (the old root with its totals for
    // both, a case without a time for Ant's), so a schema that failed to load or a
    // validator that accepts anything cannot pass this test.
    let with_totals = xml.replacen(
        "<testsuites>",
        r#"<testsuites tests="1" skipped="0" failures="0" errors="0">"#,
        1,
    );
    std::fs::write(&file, &with_totals)?;
    let problems = junit::schema_problems(&file)?;
    if problems.len() != junit::SCHEMAS.len() {
        return Err(format!("a root with `skipped` passed a schema: {problems:?}").into());
    }
    Ok(())
}

/// GitLab publishes no schema; its parser (lib/gitlab/ci/parsers/test/junit.rb) reads
/// `<testsuites>` then each `<testsuite>`'s `name` and `<testcase>`s: `classname`,
/// `name`, `file`, `time`, and a case's status from a `failure`, `error` or `skipped`
/// child, showing that child's text (it reads no `message` attribute). The document
/// gives every case a classname, name and numeric time, and every failure, error and
/// skip a text that says why.
fn junit_has_what_gitlab_reads() -> TestResult {
    use quick_xml::events::Event;
    // quick-junit declares version 1.0.
    const XML_1_0: quick_xml::XmlVersion = quick_xml::XmlVersion::Explicit1_0;
    let xml = breakout::report::junit::to_junit(&every_kind_of_trial());
    let mut reader = quick_xml::Reader::from_str(&xml);
    let attr = |tag: &quick_xml::events::BytesStart, key: &str| {
        tag.try_get_attribute(key)
            .ok()
            .flatten()
            .and_then(|a| a.normalized_value(XML_1_0).ok().map(|v| v.into_owned()))
    };
    let mut path: Vec<String> = Vec::new();
    let mut cases = 0;
    let mut statuses: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();
    loop {
        let (tag, empty) = match reader.read_event()? {
            Event::Eof => break,
            Event::Start(tag) => (tag.into_owned(), false),
            Event::Empty(tag) => (tag.into_owned(), true),
            Event::End(_) => {
                path.pop();
                continue;
            }
            Event::Text(text) => {
                if let (Some(status), Some(last)) = (path.last(), statuses.last_mut()) {
                    if ["failure", "error", "skipped"].contains(&status.as_str()) {
                        last.1.push_str(&text.xml_content(XML_1_0)?);
                    }
                }
                continue;
            }
            _ => continue,
        };
        let name = String::from_utf8(tag.name().as_ref().to_vec())?;
        match (name.as_str(), path.last().map(String::as_str)) {
            ("testsuites", None) | ("testsuite", Some("testsuites")) => {}
            ("testcase", Some("testsuite")) => {
                cases += 1;
                let time = attr(&tag, "time").and_then(|t| t.parse::<f64>().ok());
                for key in ["classname", "name"] {
                    if attr(&tag, key).is_none_or(|v| v.is_empty()) {
                        problems.push(format!("a case without {key}"));
                    }
                }
                if time.is_none() {
                    problems.push(format!("{:?}: no numeric time", attr(&tag, "name")));
                }
            }
            ("failure" | "error" | "skipped", Some("testcase")) => {
                statuses.push((name.clone(), String::new()));
            }
            ("properties" | "system-out" | "system-err", Some("testsuite"))
            | ("property", Some("properties")) => {}
            (other, parent) => problems.push(format!("<{other}> under {parent:?}")),
        }
        if !empty {
            path.push(name);
        }
    }
    // 2 passed, 2 failed, 1 errored, a failed start and its skipped check, 1 skipped
    // trial, 1 unattempted.
    if cases != 9 {
        problems.push(format!("{cases} cases, not 9"));
    }
    let kinds: Vec<&str> = statuses.iter().map(|(k, _)| k.as_str()).collect();
    for kind in ["failure", "error", "skipped"] {
        if !kinds.contains(&kind) {
            problems.push(format!("no {kind}"));
        }
    }
    for (kind, text) in &statuses {
        if text.trim().is_empty() {
            problems.push(format!("a <{kind}> without text"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n{xml}", problems.join("\n")).into())
    }
}

/// A runtime that is not installed makes its trial ignored, with the reason printed
/// and a skipped case in JUnit; never a pass.
fn missing_runtime_is_ignored_with_reason() -> TestResult {
    let dir = scenario_dir("youki", |s| {
        s["runtimes"] = json!(["runc", "mine=/nonexistent/runc"]);
    });
    let junit = dir.path().join("junit.xml");
    let path = dir.path().display().to_string();
    let junit_arg = junit.display().to_string();
    let out = breakout(&["test", &path, "--junit", &junit_arg]);
    out.expect_code(0)?;
    assert!(
        out.stdout.contains("seed-minus-execve::mine ... ignored"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("seed-minus-execve::mine is skipped"),
        "{}",
        out.stderr
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<skipped"), "{xml}");
    junit::fits_the_schemas("a passed and a skipped trial", &junit)?;
    Ok(())
}

fn list_names(extra: &[&str]) -> Vec<String> {
    let scenarios = repo().join("scenarios").display().to_string();
    let mut args = vec!["test", scenarios.as_str(), "--list"];
    args.extend_from_slice(extra);
    let out = breakout(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut names: Vec<String> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// `--partition 1/2` and `2/2` together list every trial exactly once.
fn partitions_run_every_trial_once() -> TestResult {
    let all = list_names(&[]);
    assert!(all.len() >= 10, "{all:?}");
    let mut parts = list_names(&["--partition", "1/2"]);
    let second = list_names(&["--partition", "2/2"]);
    assert!(parts.iter().all(|n| !second.contains(n)), "overlap");
    parts.extend(second);
    parts.sort();
    assert_eq!(parts, all);
    let bad = breakout(&["test", "--partition", "3/2", "--list"]);
    bad.expect_code(2)?;
    Ok(())
}

/// Bad input: a typo in a syscall name gets a suggestion, a trailing comma its line
/// and column; `check` and `test` both exit 2 and name the file. A syscall name runc
/// would leave out is a warning at its place, as Docker lets it pass, and an error
/// under `--strict`.
fn bad_files_exit_2() -> TestResult {
    let typo = fixture("invalid-syscall-typo.json");
    let out = breakout(&["check", &typo]);
    out.expect_code(0)?;
    assert!(
        out.stdout.contains("warning: ")
            && out.stdout.contains("invalid-syscall-typo.json:13:17")
            && out.stdout.contains("did you mean \"execve\""),
        "{}",
        out.stdout
    );
    let out = breakout(&["check", "--strict", &typo]);
    out.expect_code(2)?;
    assert!(
        out.stdout.contains("error: ") && out.stdout.contains("invalid-syscall-typo.json:13:17"),
        "{}",
        out.stdout
    );
    let comma = fixture("invalid-trailing-comma.json");
    let out = breakout(&["check", &comma]);
    out.expect_code(2)?;
    assert!(
        out.stdout.contains("invalid-trailing-comma.json:7:5"),
        "{}",
        out.stdout
    );
    // A scenario with the same typo in an inline profile, run through `test`.
    let dir = Scratch::new("typo");
    std::fs::write(
        dir.path().join("typo.json"),
        r#"{"runtimes": ["runc"],
 "profile": {"inline": {"defaultAction": "SCMP_ACT_ALLOW",
   "syscalls": [{"names": ["exeve"], "action": "SCMP_ACT_ERRNO"}]}}}"#,
    )
    .unwrap();
    let path = dir.path().display().to_string();
    let out = breakout(&["test", &path]);
    out.expect_code(2)?;
    assert!(
        out.stderr.contains("typo.json:3:")
            && out
                .stderr
                .contains("unknown syscall \"exeve\" (did you mean \"execve\"?)"),
        "{}",
        out.stderr
    );
    // Unknown keys are errors, not ignored.
    std::fs::write(
        dir.path().join("typo.json"),
        r#"{"runtimes": ["runc"], "expekt": {}}"#,
    )
    .unwrap();
    let out = breakout(&["test", &path]);
    out.expect_code(2)?;
    assert!(out.stderr.contains("expekt"), "{}", out.stderr);
    // The shipped files are all valid, and check says what each profile allows.
    let shipped: Vec<String> = std::fs::read_dir(repo().join("scenarios"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| e.path().display().to_string())
        .collect();
    let mut args = vec!["check"];
    args.extend(shipped.iter().map(String::as_str));
    let out = breakout(&args);
    out.expect_code(0)?;
    Ok(())
}

/// What Docker lets pass in a profile passes with a warning at its place, under
/// `check`, `run` and `test` alike, and `--strict` refuses it (exit 2); what Docker
/// refuses stays an error, with a hint where the cause is likely: YAML, a byte-order
/// mark, a directory, a misspelt action.
fn lenient_reading_and_hints() -> TestResult {
    let dir = Scratch::new("lenient");
    let profile = dir.path().join("lenient.json");
    std::fs::write(
        &profile,
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"comment\": \"ours\",\n \"syscalls\": [\n  {\"Names\": [\"fork\", \"frobnicate\"], \"action\": \"SCMP_ACT_ERRNO\"}\n ],\n \"defaultAction\": \"SCMP_ACT_ALLOW\"}\n",
    )?;
    let path = profile.display().to_string();
    let out = breakout(&["check", &path]);
    out.expect_code(0)?;
    for (place, what) in [
        (":2:2: ", "ignores a key"),
        (":4:4: ", "read as `names`"),
        (":4:22: ", "leave out names"),
        (":6:2: ", "keeps the last"),
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(place) && l.contains(what));
        if line.is_none_or(|l| !l.contains("warning: ")) {
            return Err(format!("no warning {place}{what}: {}", out.stdout).into());
        }
    }
    // The rule still holds fork: the case-mended key was read.
    let out = breakout(&[
        "run",
        "--profile",
        &path,
        "--probe",
        "spawn.fork",
        "--format",
        "json",
        "--emit-bundle",
        &dir.path().join("bundle").display().to_string(),
    ]);
    if !out.stderr.contains("warning: ") || !out.stderr.contains("--strict refuses it") {
        return Err(format!("run printed no warning: {}", out.stderr).into());
    }
    for cmd in [
        vec!["check", "--strict", &path],
        vec!["run", "--strict", "--profile", &path],
    ] {
        let out = breakout(&cmd);
        out.expect_code(2)?;
    }
    // A scenario whose profile file Docker would read: a warning, a failure if strict.
    std::fs::write(
        dir.path().join("scenario.json"),
        r#"{"runtimes": ["runc"], "profile": "lenient.json", "probes": ["spawn.fork"]}"#,
    )?;
    let scenario = dir.path().join("scenario.json").display().to_string();
    let out = breakout(&["test", "--strict", &scenario]);
    out.expect_code(2)?;
    // Hints for what is not JSON or not a file.
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "yaml.json",
            b"defaultAction: SCMP_ACT_ALLOW\n",
            "looks like YAML",
        ),
        (
            "spo.yaml",
            b"apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\n",
            "SeccompProfile",
        ),
        (
            "bom.json",
            b"\xef\xbb\xbf{\"defaultAction\": \"SCMP_ACT_ALLOW\"}",
            "byte-order mark",
        ),
        (
            "alow.json",
            b"{\"defaultAction\": \"SCMP_ACT_ALOW\"}",
            "did you mean SCMP_ACT_ALLOW?",
        ),
    ];
    for (name, bytes, hint) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes)?;
        let out = breakout(&["check", &file.display().to_string()]);
        out.expect_code(2)?;
        if !out.stdout.contains(hint) {
            return Err(format!("{name}: no hint {hint:?}: {}", out.stdout).into());
        }
    }
    let out = breakout(&["check", &dir.path().display().to_string()]);
    out.expect_code(2)?;
    if !out.stdout.contains("it is a directory") || !out.stdout.contains("lenient.json") {
        return Err(format!("directory: {}", out.stdout).into());
    }
    Ok(())
}

/// A misspelt mechanism in an expectation could never match, so the file is refused:
/// exit 2 with file, line and column and the nearest known name, under `test` and
/// `check` alike.
fn misspelt_mechanism_exits_2() -> TestResult {
    let dir = Scratch::new("mechanism");
    for (written, suggested) in [("blocked:SIGSYSS", "SIGSYS"), ("blocked:EPRM", "EPERM")] {
        std::fs::write(
            dir.path().join("typo.json"),
            format!(
                "{{\"runtimes\": [\"runc\"],\n \"expect\": {{\"probes\": {{\"spawn.fork\": \"{written}\"}}}}}}"
            ),
        )
        .unwrap();
        let path = dir.path().display().to_string();
        let out = breakout(&["test", &path]);
        out.expect_code(2)?;
        assert!(
            out.stderr.contains("typo.json:2:")
                && out.stderr.contains(&format!("(did you mean {suggested}?)")),
            "{}",
            out.stderr
        );
        let file = dir.path().join("typo.json").display().to_string();
        let out = breakout(&["check", &file]);
        out.expect_code(2)?;
        assert!(
            out.stdout.contains(&format!("did you mean {suggested}?")),
            "{}",
            out.stdout
        );
    }
    Ok(())
}

/// `check` flags a profile no runtime can start a container under.
fn never_starting_profile_is_flagged() -> TestResult {
    let dir = Scratch::new("never");
    let path = write_profile(
        dir.path(),
        "kill-all.json",
        &json!({"defaultAction": "SCMP_ACT_KILL_PROCESS"}),
    );
    let out = breakout(&["check", &path]);
    out.expect_code(2)?;
    assert!(out.stdout.contains("no runtime"), "{}", out.stdout);
    Ok(())
}

/// `check` predicts, without starting anything, what the filter does to each probe:
/// the seed's profile (no execve rule) leaves vfork open and names the line that
/// closes fork; runc's and runsc-oci's predictions differ where runsc ignores errnoRet.
fn check_predicts_each_probe() -> TestResult {
    let dir = Scratch::new("predict");
    let path = dir.path().join("p.json");
    std::fs::write(
        &path,
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"syscalls\": [\n  {\"names\": [\"fork\", \"clone\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13}\n ]}\n",
    )
    .unwrap();
    let path = path.display().to_string();
    let out = breakout(&["check", "--format", "json", &path]);
    out.expect_code(0)?;
    let json: serde_json::Value = serde_json::from_str(&out.stdout)?;
    let runs = json[0]["predictions"].as_array().ok_or("no predictions")?;
    let step = |runtime: &str, step: &str| {
        runs.iter()
            .find(|r| r["runtime"] == runtime)
            .and_then(|r| r["steps"].as_array())
            .and_then(|s| s.iter().find(|p| p["step"] == step))
            .cloned()
            .unwrap_or_default()
    };
    let vfork = step("runc", "spawn.vfork");
    let fork = step("runc", "spawn.fork");
    if vfork["filter"] != "open" || fork["filter"] != "closed" || fork["mechanism"] != "EACCES" {
        return Err(format!("vfork {vfork}, fork {fork}").into());
    }
    if fork["place"]["line"] != 3 || fork["place"]["column"] != 3 {
        return Err(format!("fork's rule is not placed at line 3: {fork}").into());
    }
    let gvisor = step("runsc-oci", "spawn.fork");
    if gvisor["mechanism"] != "EPERM" {
        return Err(format!("runsc-oci honours no errnoRet: {gvisor}").into());
    }
    // An allow-list without runc's own calls after its filter: runc cannot start with
    // or without no-new-privileges, crun can with it (tests/truth starts both).
    let tight = dir.path().join("tight.json");
    std::fs::write(
        &tight,
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["execve", "exit", "exit_group", "arch_prctl", "brk", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "readlink", "getrandom", "mprotect", "getpid", "getuid", "getgid", "write", "read", "fork", "wait4"], "action": "SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    let tight = tight.display().to_string();
    let out = breakout(&["check", "--format", "json", &tight]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout)?;
    let starts = json[0]["profile"]["analysis"]["runtime_starts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let denied = |runtime: &str, nnp: bool| {
        starts
            .iter()
            .find(|r| r["runtime"] == runtime && r["no_new_privileges"] == nnp)
            .map(|r| r["denied"].as_array().map_or(0, Vec::len))
    };
    if denied("runc", true).unwrap_or(0) == 0 || denied("crun", true) != Some(0) {
        return Err(format!("runtime starts: {starts:?}").into());
    }
    // The text names the rule's place for an editor to jump to.
    let out = breakout(&["check", &path]);
    if !out.stdout.contains(&format!("[{path}:3:3]")) {
        return Err(format!("no place in the text: {}", out.stdout).into());
    }
    Ok(())
}

/// The SARIF schema's validator (the schema ships as test data).
fn sarif_problems(log: &Value) -> Result<Vec<String>, String> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/schemas/sarif-schema-2.1.0.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let validator = jsonschema::options()
        .should_validate_formats(false)
        .build(&schema)
        .map_err(|e| e.to_string())?;
    Ok(validator.iter_errors(log).map(|e| e.to_string()).collect())
}

/// `check --format sarif` without starting anything: a scenario whose expectations the
/// profile contradicts gives one error per contradiction, at the profile line that
/// decides it (a fork expected to escape that a rule denies; a start expected that
/// the runtime refuses); the shipped scenarios, which hold, give none; a bare profile
/// gives a warning per route it leaves open, at the rule that lets it through.
fn check_sarif_points_at_the_profile_line() -> TestResult {
    let dir = Scratch::new("check-sarif");
    std::fs::write(
        dir.path().join("profile.json"),
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"],\n \"syscalls\": [\n  {\"names\": [\"fork\"], \"action\": \"SCMP_ACT_ERRNO\"}\n ]}\n",
    )?;
    std::fs::write(
        dir.path().join("scenario.json"),
        r#"{"runtimes": ["runc", "crun"], "profile": "profile.json", "probes": ["spawn.*"],
 "expect": {"probes": {"spawn.fork": "escaped"}}}"#,
    )?;
    let scenario = dir.path().join("scenario.json").display().to_string();
    let out = breakout(&["check", "--format", "sarif", &scenario]);
    out.expect_code(0)?;
    let log: Value = serde_json::from_str(&out.stdout)?;
    let problems = sarif_problems(&log)?;
    if !problems.is_empty() {
        return Err(format!("the SARIF log fails the schema: {problems:?}").into());
    }
    let results = log["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let at = |r: &Value| {
        (
            r["ruleId"].as_str().unwrap_or("").to_string(),
            r["level"].as_str().unwrap_or("").to_string(),
            r["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap_or(0),
        )
    };
    let mut got: Vec<(String, String, u64)> = results.iter().map(at).collect();
    got.sort();
    // runc refuses the flags (line 2) and so cannot start; crun starts, and its filter
    // closes fork (line 4), which the scenario expects to escape.
    let want = vec![
        ("spawn.fork".to_string(), "error".to_string(), 4),
        ("start".to_string(), "error".to_string(), 2),
    ];
    if got != want {
        return Err(format!("results {got:?}, not {want:?}: {log:#}").into());
    }
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !rules
        .iter()
        .all(|r| r["fullDescription"]["text"].is_string())
    {
        return Err(format!("a rule without a full description: {rules:#?}").into());
    }
    let fingerprints: Vec<&Value> = results.iter().map(|r| &r["partialFingerprints"]).collect();
    if fingerprints
        .iter()
        .any(|f| f.as_object().is_none_or(|o| o.is_empty()))
    {
        return Err(format!("a result without a fingerprint: {fingerprints:?}").into());
    }
    // The shipped scenarios hold: no alert.
    for entry in std::fs::read_dir(repo().join("scenarios"))?.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let out = breakout(&["check", "--format", "sarif", &path.display().to_string()]);
        let log: Value = serde_json::from_str(&out.stdout)?;
        if log["runs"][0]["results"] != json!([]) {
            return Err(format!(
                "{}: alerts from a scenario that holds: {log:#}",
                path.display()
            )
            .into());
        }
    }
    // A bare profile: fork closed, vfork open at the default (line 1).
    let profile = dir.path().join("profile.json").display().to_string();
    let out = breakout(&["check", "--format", "sarif", &profile]);
    let log: Value = serde_json::from_str(&out.stdout)?;
    let results = log["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let rule = |id: &str| results.iter().find(|r| r["ruleId"] == id).map(at);
    if rule("spawn.fork").is_some()
        || rule("spawn.vfork") != Some(("spawn.vfork".into(), "warning".into(), 1))
    {
        return Err(format!(
            "fork {:?}, vfork {:?}: {log:#}",
            rule("spawn.fork"),
            rule("spawn.vfork")
        )
        .into());
    }
    Ok(())
}

/// `check` names the deciding rule of every step of a real default profile, under
/// every runtime it predicts for: the rule's index holds the call it names, and the
/// place it gives is where that rule (or the default, or the architectures) is written.
fn check_places_every_step(path: &str) -> TestResult {
    let text = std::fs::read_to_string(path)?;
    let profile: Value = serde_json::from_str(&text)?;
    let lines: Vec<&str> = text.lines().collect();
    let out = breakout(&["check", "--format", "json", path]);
    out.expect_code(0)?;
    let json: Value = serde_json::from_str(&out.stdout)?;
    let runs = json[0]["predictions"].as_array().ok_or("no predictions")?;
    let mut wrong = Vec::new();
    let mut seen = 0;
    for run in runs {
        for step in run["steps"].as_array().into_iter().flatten() {
            seen += 1;
            let rule = step["rule"].as_str().unwrap_or_default();
            let what = format!("{} under {}: {rule}", step["step"], run["runtime"]);
            let place = &step["place"];
            let (Some(line), Some(column)) = (place["line"].as_u64(), place["column"].as_u64())
            else {
                wrong.push(format!("{what}: no place"));
                continue;
            };
            let at: String = lines
                .get(line as usize - 1)
                .map(|l| l.chars().skip(column as usize - 1).collect())
                .unwrap_or_default();
            // A rule object, or the value of defaultAction or archMap.
            if !(at.starts_with('{') || at.starts_with('"') || at.starts_with('[')) {
                wrong.push(format!("{what}: the place {line}:{column} holds {at:?}"));
            }
            // "call on entry: syscalls[i] (names...)": rule i names the call.
            if let Some(i) = rule
                .split_once("syscalls[")
                .and_then(|(_, rest)| rest.split_once(']'))
                .and_then(|(i, _)| i.parse::<usize>().ok())
            {
                let call = rule.split(" on ").next().unwrap_or_default();
                let names = &profile["syscalls"][i]["names"];
                let named = names
                    .as_array()
                    .is_some_and(|n| n.iter().any(|n| n == call));
                if !named || !at.starts_with('{') {
                    wrong.push(format!("{what}: syscalls[{i}] is {names} at {at:?}"));
                }
            }
        }
    }
    if seen < 100 {
        wrong.push(format!("only {seen} steps predicted"));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("\n").into())
    }
}

fn check_places_docker_default() -> TestResult {
    check_places_every_step(
        &repo()
            .join("profiles/docker-default.json")
            .display()
            .to_string(),
    )
}

fn check_places_podman_default() -> TestResult {
    check_places_every_step(
        &repo()
            .join("profiles/podman-default.json")
            .display()
            .to_string(),
    )
}

fn main() {
    let args = Arguments::from_args();
    let skip = container_skip_reason("runc");
    if let Some(reason) = &skip {
        eprintln!("suite trials that start containers are skipped: {reason}");
    }
    type TestFn = fn() -> TestResult;
    let containers: Vec<(&str, TestFn)> = vec![
        (
            "wrong_expectation_fails_its_trial",
            wrong_expectation_fails_its_trial,
        ),
        ("baseline_speaks_of_changes", baseline_speaks_of_changes),
        (
            "issue_16_baseline_counts_only_real_changes",
            issue_16_baseline_counts_only_real_changes,
        ),
        (
            "missing_runtime_is_ignored_with_reason",
            missing_runtime_is_ignored_with_reason,
        ),
    ];
    let plain: Vec<(&str, TestFn)> = vec![
        (
            "partitions_run_every_trial_once",
            partitions_run_every_trial_once,
        ),
        ("bad_files_exit_2", bad_files_exit_2),
        ("misspelt_mechanism_exits_2", misspelt_mechanism_exits_2),
        ("lenient_reading_and_hints", lenient_reading_and_hints),
        (
            "never_starting_profile_is_flagged",
            never_starting_profile_is_flagged,
        ),
        ("check_predicts_each_probe", check_predicts_each_probe),
        ("junit_has_what_gitlab_reads", junit_has_what_gitlab_reads),
        (
            "check_sarif_points_at_the_profile_line",
            check_sarif_points_at_the_profile_line,
        ),
    ];
    let mut trials: Vec<Trial> = containers
        .into_iter()
        .map(|(name, f)| Trial::test(name, f).with_ignored_flag(skip.is_some()))
        .collect();
    trials.push(Trial::test(
        "check_places_podman_default",
        check_places_podman_default,
    ));
    trials.push(Trial::test(
        "check_places_docker_default",
        check_places_docker_default,
    ));
    trials.extend(plain.into_iter().map(|(name, f)| Trial::test(name, f)));
    trials.push(Host::default().trial(
        "issue_16_junit_validates_against_the_shipped_schemas",
        &[junit::XMLLINT],
        issue_16_junit_validates_against_the_shipped_schemas,
    ));
    libtest_mimic::run(&args, trials).exit();
}
