//! A `breakout test` suite as SARIF 2.1.0, for code-scanning dashboards.
//!
//! One rule per probe that produced a result (rule id = probe id, described from the
//! catalog: what it tries, what blocks it, with a `security-severity` by goal for
//! code scanning), plus the rule `start` for trials that failed on their start. One
//! `error` per failed check: an escape the scenario did not expect, or another
//! mismatch. An expected result is no alert (an accepted hole that opened an alert on
//! every run would be an alert nobody can close). A trial that failed on its start is
//! one `start` result rather than one per step that did not run, so one cause is one
//! alert. A result points at the profile line that decided it (the prediction's rule:
//! the rule that leaves the route open, or that closes it), else at the scenario file,
//! and carries a fingerprint of trial and step so a dashboard tracks the same alert
//! across runs.
//!
//! The log is made of serde-sarif's types, generated from the SARIF 2.1.0 schema, so a
//! field the schema does not have is a compile error rather than a silent typo.

use std::collections::BTreeMap;

use serde_json::Value;
use serde_sarif::sarif::{
    ArtifactLocation, Location, Message, MultiformatMessageString, PhysicalLocation, PropertyBag,
    Region, ReportingDescriptor, Result as SarifResult, ResultLevel, Run, Sarif, Tool,
    ToolComponent, Version,
};

use super::junit::failed_on_start;
use super::suite::{Check, SuiteReport, TrialOutcome, TrialStatus};
use super::Outcome;
use crate::catalog;
use crate::sanitize::{untrusted, untrusted_lines};

/// The SARIF version written.
pub const SARIF_VERSION: &str = "2.1.0";
/// The JSON schema of that version, as OASIS publishes it.
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The rule of a trial that failed on its start (no probe id can be `start`: probe
/// ids are `goal.technique`).
const START_RULE: &str = "start";

/// The SARIF log for a suite, pretty-printed.
pub fn to_sarif(suite: &SuiteReport) -> String {
    let mut rules = Rules::default();
    let mut results = Vec::new();
    for trial in &suite.trials {
        if matches!(trial.status, TrialStatus::Ignored { .. }) {
            continue;
        }
        let on_start = failed_on_start(trial);
        if let (true, TrialStatus::Failed { message }) = (on_start, &trial.status) {
            let index = rules.index(START_RULE);
            let mut text = format!("{} under {}: {message}", trial.scenario, trial.runtime);
            if let Some(error) = &trial.start_error {
                text.push_str(&format!(" (the runtime said: {})", error.trim()));
            }
            results.push(result(
                trial,
                START_RULE,
                index,
                ResultLevel::Error,
                text,
                None,
            ));
        }
        for check in &trial.checks {
            if check.ok {
                continue;
            }
            if on_start && check.got == Outcome::NotRun.as_str() {
                continue;
            }
            let level = ResultLevel::Error;
            let probe = crate::protocol::split_step(&check.step).0;
            let index = rules.index(probe);
            results.push(result(
                trial,
                probe,
                index,
                level,
                check_message(trial, check),
                Some(check),
            ));
        }
    }
    let descriptors = rules.0.iter().map(|id| rule(id)).collect();
    log(&suite.breakout_version, descriptors, results)
}

/// A SARIF log of one run of breakout with these rules and results, pretty-printed.
pub(crate) fn log(
    version: &str,
    rules: Vec<ReportingDescriptor>,
    results: Vec<SarifResult>,
) -> String {
    let driver = ToolComponent::builder()
        .name("breakout")
        .version(version)
        .rules(rules)
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(results)
        .build();
    let log = Sarif::builder()
        .schema(SARIF_SCHEMA)
        .version(serde_json::to_value(Version::V2_1_0).expect("the version serialises"))
        .runs(vec![run])
        .build();
    serde_json::to_string_pretty(&log).expect("a SARIF log serialises") + "\n"
}

/// Rule ids in order of first use; a result refers to its rule by index too.
#[derive(Default)]
pub(crate) struct Rules(pub(crate) Vec<String>);

impl Rules {
    pub(crate) fn index(&mut self, id: &str) -> usize {
        // An id from a report of another version is the file's text.
        let id = untrusted(id);
        match self.0.iter().position(|r| *r == id) {
            Some(i) => i,
            None => {
                self.0.push(id);
                self.0.len() - 1
            }
        }
    }
}

pub(crate) fn text(text: impl Into<String>) -> MultiformatMessageString {
    MultiformatMessageString::builder().text(text).build()
}

pub(crate) fn rule(id: &str) -> ReportingDescriptor {
    if id == START_RULE {
        return ReportingDescriptor::builder()
            .id(START_RULE)
            .short_description(text(
                "the container's start was not what the scenario expected",
            ))
            .help(text(
                "a runtime that cannot start the container under a profile usually \
                 needs a syscall the profile denies (see the trial's triage); one \
                 that starts where failure was expected no longer enforces that denial",
            ))
            .build();
    }
    match catalog::find(id) {
        Some(info) => {
            let tags = vec![
                "security".to_string(),
                "sandbox-escape".to_string(),
                info.goal.as_str().to_string(),
            ];
            let mut severity = BTreeMap::new();
            severity.insert(
                "security-severity".to_string(),
                Value::String(security_severity(info.goal).to_string()),
            );
            ReportingDescriptor::builder()
                .id(id)
                .short_description(text(info.tries))
                .full_description(text(format!(
                    "{} ({} goal, technique {}): tries {}; blocked by {}.",
                    id,
                    info.goal.as_str(),
                    info.technique,
                    info.tries,
                    info.blocked_by
                )))
                .help(text(format!("blocked by: {}", info.blocked_by)))
                .properties(
                    PropertyBag::builder()
                        .tags(tags)
                        .additional_properties(severity)
                        .build(),
                )
                .build()
        }
        // A report from another breakout version may name a probe this one lacks.
        None => ReportingDescriptor::builder()
            .id(id)
            .short_description(text(format!("probe {id} (not in this breakout's catalog)")))
            .build(),
    }
}

/// Code scanning's severity (0.0 to 10.0) of an escape towards `goal`: reaching the
/// kernel's attack surface, a new namespace or the host's objects is worse than
/// running another program.
fn security_severity(goal: catalog::Goal) -> &'static str {
    use catalog::Goal as G;
    match goal {
        G::Kernel | G::Namespace | G::Host => "8.8",
        G::Fs | G::Net => "7.5",
        G::Exec | G::Spawn => "6.5",
        G::Ipc => "5.0",
    }
}

/// `SCENARIO under RUNTIME: STEP GOT (MECHANISM) (expected EXPECTED): DETAIL`, so
/// an escape reads `seed under runc: spawn.vfork escaped (expected blocked)`.
fn check_message(trial: &TrialOutcome, check: &Check) -> String {
    let mut text = format!(
        "{} under {}: {} {}",
        trial.scenario, trial.runtime, check.step, check.got
    );
    if let Some(m) = &check.mechanism {
        text.push_str(&format!(" ({m})"));
    }
    text.push_str(&format!(" (expected {})", check.expected));
    if !check.detail.is_empty() {
        text.push_str(&format!(": {}", check.detail));
    }
    text
}

fn result(
    trial: &TrialOutcome,
    rule_id: &str,
    rule_index: usize,
    level: ResultLevel,
    text: String,
    check: Option<&Check>,
) -> SarifResult {
    // serde_json escapes JSON syntax and control characters, but a viewer shows the
    // decoded text: it must be safe as text too.
    let step = untrusted(check.map_or(START_RULE, |c| c.step.as_str()));
    let mut properties = BTreeMap::new();
    let mut property = |key: &str, value: &str| {
        properties.insert(key.to_string(), Value::String(untrusted(value)));
    };
    property("trial", &trial.name);
    property("scenario", &trial.scenario);
    property("runtime", &trial.runtime);
    if let Some(c) = check {
        property("step", &step);
        property("expected", &c.expected);
        property("got", &c.got);
        if let Some(m) = &c.mechanism {
            property("mechanism", &m.to_string());
        }
    }
    // The profile line the prediction names, where there is one: that is the line to
    // change. Otherwise the scenario file.
    let place = check
        .and_then(|c| c.prediction.as_ref())
        .and_then(|p| p.place.as_ref());
    let location = match place {
        Some(place) => Location::builder()
            .physical_location(
                PhysicalLocation::builder()
                    .artifact_location(ArtifactLocation::builder().uri(uri(&place.file)).build())
                    .region(
                        Region::builder()
                            .start_line(place.line as i64)
                            .start_column(place.column as i64)
                            .build(),
                    )
                    .build(),
            )
            .build(),
        None => Location::builder()
            .physical_location(
                PhysicalLocation::builder()
                    .artifact_location(
                        ArtifactLocation::builder()
                            .uri(uri(&trial.scenario_file))
                            .build(),
                    )
                    .build(),
            )
            .build(),
    };
    // The scenario file holds no line for a runtime's verdict, so a dashboard cannot
    // fingerprint by content; trial and step name the alert instead.
    let fingerprint = format!("{}:{step}", untrusted(&trial.name));
    SarifResult::builder()
        .rule_id(untrusted(rule_id))
        .rule_index(rule_index as i64)
        .level(level)
        .message(Message::builder().text(untrusted_lines(&text)).build())
        .locations(vec![location])
        .partial_fingerprints(BTreeMap::from([(
            "breakoutTrialStep/v1".to_string(),
            fingerprint,
        )]))
        .properties(
            PropertyBag::builder()
                .additional_properties(properties)
                .build(),
        )
        .build()
}

/// The scenario file as a URI reference: relative paths stay relative (to the
/// checkout, where code scanning resolves them), absolute ones become `file://`.
/// Characters a URI cannot hold are percent-encoded.
pub(crate) fn uri(path: &std::path::Path) -> String {
    let raw = path.to_string_lossy();
    let mut out = String::with_capacity(raw.len());
    if raw.starts_with('/') {
        out.push_str("file://");
    }
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::baseline::tests::{check, trial};

    fn sample() -> SuiteReport {
        let mut vfork = check("spawn.vfork", "blocked", "escaped", false);
        vfork.detail = "vfork returned".into();
        let shell = check("exec.shell", "any", "escaped", true);
        let mut mount = check("fs.write-mount@/data dir", "blocked", "blocked", false);
        mount.mechanism = Some("EACCES".into());
        let mut crun = trial(
            "seed::crun",
            TrialStatus::Failed {
                message: "expected the container to start".into(),
            },
            vec![
                check("spawn.fork", "blocked", "not-run", false),
                check("spawn.vfork", "blocked", "not-run", false),
            ],
        );
        crun.start = Some("failed-to-start".into());
        crun.start_error = Some("exec: operation not permitted\n".into());
        SuiteReport::new(
            None,
            vec![
                trial(
                    "seed::runc",
                    TrialStatus::Failed {
                        message: "2 checks failed".into(),
                    },
                    vec![
                        check("spawn.fork", "blocked", "blocked", true),
                        vfork,
                        shell,
                        mount,
                    ],
                ),
                crun,
                trial(
                    "seed::runsc",
                    TrialStatus::Ignored {
                        reason: "not installed".into(),
                    },
                    vec![],
                ),
            ],
        )
    }

    fn parse(suite: &SuiteReport) -> Value {
        serde_json::from_str(&to_sarif(suite)).expect("SARIF is JSON")
    }

    #[test]
    fn sarif_has_the_2_1_0_structure() {
        let log = parse(&sample());
        assert_eq!(log["version"], "2.1.0");
        assert!(log["$schema"]
            .as_str()
            .unwrap()
            .contains("sarif-schema-2.1.0"));
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "breakout");
        assert_eq!(run["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
        for r in run["results"].as_array().unwrap() {
            for key in ["ruleId", "ruleIndex", "level", "message", "locations"] {
                assert!(r.get(key).is_some(), "{key} missing from {r}");
            }
            let index = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(run["tool"]["driver"]["rules"][index]["id"], r["ruleId"]);
        }
    }

    #[test]
    fn sarif_one_rule_per_probe_with_a_result() {
        let log = parse(&sample());
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        // spawn.fork passed under runc and did not run under crun: no rule.
        // exec.shell escaped as its scenario allows: no alert, no rule.
        assert_eq!(ids, ["spawn.vfork", "fs.write-mount", "start"]);
        let vfork = catalog::find("spawn.vfork").unwrap();
        assert_eq!(rules[0]["shortDescription"]["text"], vfork.tries);
        assert!(rules[0]["help"]["text"]
            .as_str()
            .unwrap()
            .contains(vfork.blocked_by));
    }

    #[test]
    fn sarif_results_levels_and_messages() {
        let log = parse(&sample());
        let results = log["runs"][0]["results"].as_array().unwrap();
        let summary: Vec<(&str, &str)> = results
            .iter()
            .map(|r| (r["ruleId"].as_str().unwrap(), r["level"].as_str().unwrap()))
            .collect();
        assert_eq!(
            summary,
            [
                ("spawn.vfork", "error"),
                ("fs.write-mount", "error"),
                ("start", "error"),
            ]
        );
        assert_eq!(
            results[0]["message"]["text"],
            "seed under runc: spawn.vfork escaped (expected blocked): vfork returned"
        );
        assert_eq!(
            results[1]["message"]["text"],
            "seed under runc: fs.write-mount@/data dir blocked (EACCES) (expected blocked)"
        );
        assert_eq!(
            results[2]["message"]["text"],
            "seed under crun: expected the container to start \
             (the runtime said: exec: operation not permitted)"
        );
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "scenarios/seed.toml"
        );
        assert_eq!(
            results[0]["partialFingerprints"]["breakoutTrialStep/v1"],
            "seed::runc:spawn.vfork"
        );
    }

    #[test]
    fn sarif_uris_are_encoded() {
        assert_eq!(
            uri(std::path::Path::new("scenarios/a b.toml")),
            "scenarios/a%20b.toml"
        );
        assert_eq!(
            uri(std::path::Path::new("/srv/x#1.toml")),
            "file:///srv/x%231.toml"
        );
    }

    #[test]
    fn sarif_of_a_clean_suite_has_no_results() {
        let suite = SuiteReport::new(
            None,
            vec![trial(
                "seed::runc",
                TrialStatus::Passed,
                vec![check("spawn.fork", "blocked", "blocked", true)],
            )],
        );
        let log = parse(&suite);
        assert_eq!(log["runs"][0]["results"].as_array().unwrap().len(), 0);
        assert_eq!(
            log["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
    }
}
