//! `breakout check --format sarif`: each finding as a SARIF 2.1.0 result, at the
//! profile line that causes it, so code scanning annotates a pull request that changes
//! a profile and an editor jumps to the line. Rules are the run report's
//! ([`crate::report::sarif::rule`]: one per probe, with its security severity), plus
//! `start` and `profile`. A fingerprint of file, rule and step keeps an alert the same
//! one across commits that move the line.

use std::collections::BTreeMap;

use serde_json::Value;
use serde_sarif::sarif::{
    ArtifactLocation, Location, Message, PhysicalLocation, PropertyBag, Region,
    ReportingDescriptor, Result as SarifResult, ResultLevel,
};

use super::{FileCheck, Finding};
use crate::report::sarif::{log, rule, text, uri, Rules};
use crate::sanitize::{untrusted, untrusted_lines};

/// The SARIF log of every file's findings, pretty-printed.
pub(super) fn to_sarif(checks: &[FileCheck]) -> String {
    let mut rules = Rules::default();
    let mut results = Vec::new();
    for check in checks {
        for finding in &check.findings {
            let index = rules.index(&finding.rule);
            results.push(result(check, finding, index));
        }
    }
    let descriptors = rules.0.iter().map(|id| descriptor(id)).collect();
    log(env!("CARGO_PKG_VERSION"), descriptors, results)
}

fn descriptor(id: &str) -> ReportingDescriptor {
    match id {
        "start" => ReportingDescriptor::builder()
            .id("start")
            .short_description(text("a runtime cannot start a container under the profile"))
            .full_description(text(
                "The runtime refuses the profile, or the profile denies a call the runtime or \
                 the container's first process needs to start; predicted from the profile \
                 and the runtimes' measured needs, without starting anything.",
            ))
            .help(text(
                "allow the calls named, or drop what the runtime refuses; `breakout run` \
                 confirms the cause with a real start",
            ))
            .build(),
        "profile" => ReportingDescriptor::builder()
            .id("profile")
            .short_description(text("the file cannot be used as it is"))
            .full_description(text(
                "The profile or scenario file does not parse, names something unknown, or \
                 no runtime can start a container under it.",
            ))
            .build(),
        probe => rule(probe),
    }
}

fn level(finding: &Finding) -> ResultLevel {
    match finding.level {
        "error" => ResultLevel::Error,
        _ => ResultLevel::Warning,
    }
}

fn result(check: &FileCheck, finding: &Finding, index: usize) -> SarifResult {
    let (file, region) = match &finding.place {
        Some(place) => (
            place.file.as_path(),
            Some(
                Region::builder()
                    .start_line(place.line as i64)
                    .start_column(place.column as i64)
                    .build(),
            ),
        ),
        None => (check.file.as_path(), None),
    };
    let artifact = ArtifactLocation::builder().uri(uri(file)).build();
    let physical = match region {
        Some(region) => PhysicalLocation::builder()
            .artifact_location(artifact)
            .region(region)
            .build(),
        None => PhysicalLocation::builder()
            .artifact_location(artifact)
            .build(),
    };
    let mut properties = BTreeMap::new();
    properties.insert(
        "runtimes".to_string(),
        Value::Array(
            finding
                .runtimes
                .iter()
                .map(|r| Value::String(r.to_string()))
                .collect(),
        ),
    );
    if let Some(step) = &finding.step {
        properties.insert("step".to_string(), Value::String(untrusted(step)));
    }
    // What the finding is about without where it is: its step, or for a finding of
    // the file itself its words after `file:line:column: `, so that an alert stays
    // the same one when lines move.
    let about = finding.step.clone().unwrap_or_else(|| {
        let file = format!("{}:", check.file.display());
        finding
            .message
            .strip_prefix(&file)
            .and_then(|rest| rest.split_once(": "))
            .map_or(finding.message.clone(), |(_, words)| words.to_string())
    });
    let fingerprint = format!(
        "{}:{}:{}:{}",
        untrusted(&check.file.to_string_lossy()),
        untrusted(&finding.rule),
        untrusted(&about),
        finding.runtimes.join(",")
    );
    SarifResult::builder()
        .rule_id(untrusted(&finding.rule))
        .rule_index(index as i64)
        .level(level(finding))
        .message(
            Message::builder()
                .text(untrusted_lines(&finding.message))
                .build(),
        )
        .locations(vec![Location::builder()
            .physical_location(physical)
            .build()])
        .partial_fingerprints(BTreeMap::from([(
            "breakoutCheck/v1".to_string(),
            fingerprint,
        )]))
        .properties(
            PropertyBag::builder()
                .additional_properties(properties)
                .build(),
        )
        .build()
}
