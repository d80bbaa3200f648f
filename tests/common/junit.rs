//! JUnit files as their consumers read them: validated with xmllint against the
//! schemas in tests/fixtures/junit/ (the Jenkins xUnit plugin's and Apache Ant's; its
//! README says where each comes from), and read through as well-formed XML.

use std::path::Path;

use super::needs::{Host, Need};
use super::{repo, TestResult};

/// The shipped schemas, by file name.
pub const SCHEMAS: [&str; 2] = ["jenkins-xunit-junit-10.xsd", "ant-junit-windyroad.xsd"];

pub const XMLLINT: Need = Need::Program {
    name: "xmllint",
    from: "apt-get install libxml2-utils; ci/setup.sh installs it",
};

/// What xmllint finds wrong with a JUnit file under each shipped schema.
pub fn schema_problems(xml: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for schema in SCHEMAS {
        let xsd = repo().join("tests/fixtures/junit").join(schema);
        let out = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&xsd)
            .arg(xml)
            .output()
            .map_err(|e| format!("xmllint: {e}"))?;
        // xmllint exits 3 for a document the schema refuses, 4 and 5 when the schema
        // itself does not load: only 0 is valid.
        if !out.status.success() {
            problems.push(format!(
                "{schema} (xmllint exit {:?}): {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(problems)
}

/// The shipped schemas' verdict on a JUnit file a real run wrote, where xmllint is
/// here; where it is not, the check is skipped with the reason printed.
pub fn fits_the_schemas(label: &str, xml: &Path) -> TestResult {
    if let Some(reason) = Host::default().lacks(&[XMLLINT]) {
        eprintln!("{label}: the JUnit schema check is skipped: {reason}");
        return Ok(());
    }
    let problems = schema_problems(xml)?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{label}: {}", problems.join("\n")).into())
    }
}

/// Reads the document through: tags that match, attributes and text whose escapes
/// resolve, one root. An error names what broke.
pub fn well_formed(xml: &str) -> Result<(), String> {
    use quick_xml::events::Event;
    // breakout's JUnit declares XML 1.0.
    const XML_1_0: quick_xml::XmlVersion = quick_xml::XmlVersion::Explicit1_0;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0usize;
    let mut roots = 0;
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| format!("byte {at}: {e}"))?;
        let tag = match &event {
            Event::Start(tag) | Event::Empty(tag) => Some(tag.clone()),
            _ => None,
        };
        if let Some(tag) = tag {
            if depth == 0 {
                roots += 1;
            }
            for attr in tag.attributes() {
                let attr = attr.map_err(|e| format!("byte {at}: {e}"))?;
                attr.normalized_value(XML_1_0)
                    .map_err(|e| format!("byte {at}: {e}"))?;
            }
        }
        match event {
            Event::Eof => break,
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(text) => {
                text.xml_content(XML_1_0)
                    .map_err(|e| format!("byte {at}: {e}"))?;
            }
            _ => {}
        }
    }
    if roots != 1 || depth != 0 {
        return Err(format!("{roots} root elements, {depth} left open"));
    }
    Ok(())
}
