//! Reading a profile as leniently as Docker does, with a warning for each thing it
//! lets pass: Go's decoder ignores unknown keys, takes a key in any case ("Names"),
//! keeps the last of duplicate keys, and runc and crun leave out syscall names
//! libseccomp does not know. [`Profile::parse`] stays strict and precise; this module
//! runs it, and where it stops on one of those four, mends the text the way Docker
//! reads it and runs it again. Each mend keeps every other character where it was
//! (the removed part becomes spaces, a key in another case is rewritten in place), so
//! later errors and warnings still point into the file as written.
//!
//! Everything else (syntax, an unknown action or architecture, a wrong type) stays an
//! error: Docker's runtime would refuse those at the container's start.

use std::path::Path;

use jsonc_parser::ast::{Array, Object, Value};
use jsonc_parser::common::Ranged;

use super::{Profile, ProfileError};
use crate::json::FileError;

/// More mends than this and the file is not a profile with a few slips.
const MAX_MENDS: usize = 10_000;

/// A profile read leniently, and what was let pass, each as `file:line:column: ...`.
pub(crate) fn parse(text: &str, path: &Path) -> Result<(Profile, Vec<String>), ProfileError> {
    let mut current = text.to_string();
    let mut warnings = Vec::new();
    for _ in 0..MAX_MENDS {
        let error = match Profile::parse(&current, path) {
            Ok(profile) => return Ok((profile, warnings)),
            Err(e) => e,
        };
        let Some((mended, what)) = mend(&error, &current) else {
            return Err(error);
        };
        warnings.push(format!("{}; {what}", plain(&error)));
        current = mended;
    }
    Profile::parse(&current, path).map(|p| (p, warnings))
}

/// The error's text without the hint meant for a strict reading.
fn plain(error: &ProfileError) -> String {
    let text = error.to_string();
    match text.find(" (docker would take it") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The text mended where `error` points, and what the mend did; `None` for an error
/// Docker would not let pass.
fn mend(error: &ProfileError, text: &str) -> Option<(String, String)> {
    let ProfileError::File(FileError::Invalid {
        line,
        column,
        message,
        ..
    }) = error
    else {
        return None;
    };
    let offset = byte_offset(text, *line, *column)?;
    let parsed = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default()).ok()?;
    let root = parsed.value.as_ref()?;
    if let Some(key) = between(message, "unknown field `", "`") {
        let (object, index) = property_at(root, offset)?;
        let known = between(message, "expected one of ", "")
            .map(|list| {
                list.split(", ")
                    .map(|k| k.trim_matches(|c: char| c == '`' || c.is_whitespace()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let prop = &object.properties[index];
        if let Some(exact) = known.iter().find(|k| k.eq_ignore_ascii_case(key)) {
            // The key's text, quotes included, in the same bytes.
            let name_start = match &prop.name {
                jsonc_parser::ast::ObjectPropName::String(lit) => lit.range.start,
                jsonc_parser::ast::ObjectPropName::Word(word) => word.range.start,
            };
            let mut mended = text.to_string();
            let at = name_start + usize::from(text.as_bytes()[name_start] == b'"');
            mended.replace_range(at..at + key.len(), exact);
            return Some((
                mended,
                format!("Docker's decoder takes keys in any case: read as `{exact}`"),
            ));
        }
        return Some((
            blank_entry(text, &ranges_of_props(object), index),
            "Docker ignores a key it does not know: left out".to_string(),
        ));
    }
    if let Some(key) = between(message, "duplicate field `", "`") {
        let (object, index) = property_at(root, offset)?;
        let first = object
            .properties
            .iter()
            .position(|p| p.name.as_str() == key)
            .filter(|first| *first != index)?;
        let at = crate::json::position_of(text, object.properties[first].range.start);
        return Some((
            blank_entry(text, &ranges_of_props(object), first),
            format!(
                "Docker keeps the last of duplicate keys: the `{key}` at {}:{} is left out",
                at.0, at.1
            ),
        ));
    }
    if message.starts_with("unknown syscall") {
        let (rules, rule, names) = name_at(root, offset)?;
        let leave_rule = names.is_none_or(|(array, _)| array.elements.len() <= 1);
        let mended = match names {
            Some((array, index)) if !leave_rule => {
                let ranges: Vec<(usize, usize)> = array
                    .elements
                    .iter()
                    .map(|e| (e.start(), e.end()))
                    .collect();
                blank_entry(text, &ranges, index)
            }
            _ => {
                let ranges: Vec<(usize, usize)> = rules
                    .elements
                    .iter()
                    .map(|e| (e.start(), e.end()))
                    .collect();
                blank_entry(text, &ranges, rule)
            }
        };
        let what = if leave_rule {
            "runc and crun leave out names libseccomp does not know; this rule names no other, so it has no effect: left out"
        } else {
            "runc and crun leave out names libseccomp does not know: left out"
        };
        return Some((mended, what.to_string()));
    }
    None
}

/// The text between `start` and `end` (or the end of the message) after `start`.
fn between<'a>(message: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = message.find(start)? + start.len();
    let rest = &message[from..];
    if end.is_empty() {
        return Some(rest.split(" (").next().unwrap_or(rest));
    }
    Some(&rest[..rest.find(end)?])
}

/// The byte offset of a 1-based line and character column.
fn byte_offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let start = if line == 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let rest = &text[start..];
    let within = rest
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(rest.len(), |(i, _)| i);
    Some(start + within)
}

fn ranges_of_props(object: &Object) -> Vec<(usize, usize)> {
    object
        .properties
        .iter()
        .map(|p| (p.range.start, p.range.end))
        .collect()
}

/// The innermost object with a property whose range holds `offset`, and its index.
fn property_at<'a>(value: &'a Value<'a>, offset: usize) -> Option<(&'a Object<'a>, usize)> {
    match value {
        Value::Object(object) => {
            let index = object
                .properties
                .iter()
                .position(|p| p.range.start <= offset && offset < p.range.end)?;
            property_at(&object.properties[index].value, offset).or(Some((object, index)))
        }
        Value::Array(array) => array
            .elements
            .iter()
            .find(|e| e.start() <= offset && offset < e.end())
            .and_then(|e| property_at(e, offset)),
        _ => None,
    }
}

/// Where a syscall name at `offset` is: the `syscalls` array and its rule's index,
/// and the `names` array and the name's index (none for a singular `name`).
#[allow(clippy::type_complexity)]
fn name_at<'a>(
    root: &'a Value<'a>,
    offset: usize,
) -> Option<(&'a Array<'a>, usize, Option<(&'a Array<'a>, usize)>)> {
    let Value::Object(top) = root else {
        return None;
    };
    let rules = top
        .properties
        .iter()
        .find_map(|p| match (&p.value, p.name.as_str()) {
            (Value::Array(a), "syscalls") => Some(a),
            _ => None,
        })?;
    let rule = rules
        .elements
        .iter()
        .position(|e| e.start() <= offset && offset < e.end())?;
    let Value::Object(object) = &rules.elements[rule] else {
        return None;
    };
    let names = object.properties.iter().find_map(|p| match &p.value {
        Value::Array(a) if a.start() <= offset && offset < a.end() => Some(a),
        _ => None,
    });
    let names = names.and_then(|array| {
        let index = array
            .elements
            .iter()
            .position(|e| e.start() <= offset && offset < e.end())?;
        Some((array, index))
    });
    Some((rules, rule, names))
}

/// `text` with entry `index` of a list (object properties or array elements, given
/// by their ranges) turned into spaces, with the comma that separates it from its
/// neighbour: the one after it, or for the last entry the one before.
fn blank_entry(text: &str, ranges: &[(usize, usize)], index: usize) -> String {
    let (start, end) = ranges[index];
    let (from, to) = match (ranges.get(index + 1), index.checked_sub(1)) {
        (Some(next), _) => (start, next.0),
        (None, Some(previous)) => (ranges[previous].1, end),
        (None, None) => (start, end),
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..from]);
    // Newlines stay, so every later line keeps its number.
    out.extend(
        text[from..to]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' }),
    );
    out.push_str(&text[to..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(Profile, Vec<String>), ProfileError> {
        parse(text, Path::new("p.json"))
    }

    #[test]
    fn what_docker_lets_pass_is_a_warning_at_its_place() {
        let text = "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"comment\": \"x\",\n \"syscalls\": [\n  {\"Names\": [\"exeve\", \"fork\"], \"action\": \"SCMP_ACT_ERRNO\", \"note\": 1},\n  {\"names\": [\"frobnicate\"], \"action\": \"SCMP_ACT_ERRNO\"}\n ],\n \"defaultAction\": \"SCMP_ACT_ERRNO\"}\n";
        let (profile, warnings) = read(text).unwrap();
        let joined = warnings.join("\n");
        assert_eq!(warnings.len(), 6, "{joined}");
        assert!(
            joined.contains("p.json:2:2: ") && joined.contains("ignores a key"),
            "{joined}"
        );
        assert!(joined.contains("read as `names`"), "{joined}");
        assert!(joined.contains("did you mean \"execve\""), "{joined}");
        assert!(joined.contains("this rule names no other"), "{joined}");
        assert!(joined.contains("keeps the last"), "{joined}");
        // Go keeps the last defaultAction; fork's rule is all that is left.
        assert_eq!(
            profile.default_action(),
            oci_spec::runtime::LinuxSeccompAction::ScmpActErrno
        );
        assert_eq!(profile.rules.len(), 1);
        assert_eq!(profile.rules[0].names, ["fork"]);
    }

    #[test]
    fn what_docker_refuses_stays_an_error() {
        for text in [
            r#"{"defaultAction": "SCMP_ACT_ALOW"}"#,
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": 3}]}"#,
            r#"{"defaultAction": "SCMP_ACT_ALLOW",}"#,
        ] {
            assert!(read(text).is_err(), "{text}");
        }
    }

    #[test]
    fn blanking_keeps_every_other_place() {
        let text = "[1,\n 2, 3]";
        let ranges = [(1, 2), (5, 6), (8, 9)];
        assert_eq!(blank_entry(text, &ranges, 0), "[  \n 2, 3]");
        assert_eq!(blank_entry(text, &ranges, 2), "[1,\n 2   ]");
    }
}
