//! Reading hand-written JSON files (profiles, scenarios) with positions a person can
//! use: serde helpers and byte-to-line:column arithmetic shared by both parsers.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// A JSON object read into `T`.
///
/// serde's derived structs also accept a JSON list, read by position; Go's decoder
/// does not, and neither should a hand-written file (`"args": [[0, 8, 0,
/// "SCMP_CMP_EQ"]]` would otherwise pass), so objects are read through this.
pub(crate) struct Obj<T>(pub T);

/// An object type, and how to describe it when something else is found.
pub(crate) trait Object {
    const EXPECTING: &'static str;
}

impl<'de, T: Object + Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Object + Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// The message of a serde_json error without the " at line L column C" that its
/// Display appends; the position is reported in `file:line:column` form instead.
pub(crate) fn bare_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

/// serde_json counts columns in bytes, and reports column 0 before the first
/// character of a line; editors count characters from 1.
pub(crate) fn char_position(text: &str, line: usize, byte_column: usize) -> (usize, usize) {
    let line = line.max(1);
    let Some(line_text) = text.split('\n').nth(line - 1) else {
        return (line, byte_column.max(1));
    };
    let mut end = byte_column.min(line_text.len());
    while !line_text.is_char_boundary(end) {
        end -= 1;
    }
    (line, line_text[..end].chars().count().max(1))
}

/// Whether the byte at `i` is preceded by an odd number of backslashes.
pub(crate) fn is_escaped(bytes: &[u8], i: usize) -> bool {
    bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// Offset of the quote that opens the string whose closing quote is at `close`.
/// The text before a reported error is valid JSON, so quotes pair up.
pub(crate) fn string_start(bytes: &[u8], close: usize) -> Option<usize> {
    (0..close)
        .rev()
        .find(|&i| bytes[i] == b'"' && !is_escaped(bytes, i))
}

/// Line and column (1-based, in characters) of byte offset `offset` in `text`.
pub(crate) fn position_of(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// What any JSON file the harness reads (a profile, a scenario) can be wrong with, in
/// the same words for each: every message names the file, and those about its content
/// give the 1-based line and column (in characters) as `file:line:column: ...`.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read; `what` says what it was read as.
    #[error("{}: cannot read {what}: {error}", path.display())]
    Read {
        what: &'static str,
        path: std::path::PathBuf,
        error: std::io::Error,
    },

    /// The file is not valid UTF-8 (JSON must be).
    #[error("{}:{line}:{column}: the file is not valid UTF-8", path.display())]
    Encoding {
        path: std::path::PathBuf,
        line: usize,
        column: usize,
    },

    /// The file is not valid JSON.
    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    Syntax {
        path: std::path::PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// The JSON is well formed but a value is not valid here: a wrong type, an unknown
    /// key or name, a missing key, or values that contradict each other. `field` is the
    /// key path of the offending value (`syscalls[3].action`, `expect.probes["x"]`).
    #[error("{}:{line}:{column}: {field}: {message}", path.display())]
    Invalid {
        path: std::path::PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
}

/// Why a file that is not JSON at its very start is probably something else: a
/// byte-order mark, or YAML (a Kubernetes object, a profile written as YAML).
fn not_json_hint(text: &str) -> Option<&'static str> {
    if text.starts_with('\u{feff}') {
        return Some(
            "the file starts with a byte-order mark (U+FEFF), which JSON does not allow \
             and Docker refuses too: save it without one",
        );
    }
    let first = text.trim_start();
    let looks_yaml = first.starts_with("---")
        || first
            .lines()
            .next()
            .is_some_and(|l| !l.starts_with(['{', '[', '"']) && l.contains(':'));
    if !looks_yaml {
        return None;
    }
    if text.contains("kind: SeccompProfile") {
        return Some(
            "this is YAML, a security-profiles-operator SeccompProfile: breakout reads its \
             `spec` as the profile, and this one has none",
        );
    }
    Some("this looks like YAML; profiles and scenarios are JSON files")
}

impl FileError {
    /// A syntax error at `line`:`column` of `text`; one where the text ends too early,
    /// or that is not JSON from its first character (YAML, a byte-order mark), says so.
    pub(crate) fn syntax(
        path: std::path::PathBuf,
        line: usize,
        column: usize,
        message: String,
        inner: &serde_json::Error,
        text: &str,
    ) -> FileError {
        let message = match (inner.classify(), not_json_hint(text)) {
            (serde_json::error::Category::Eof, _) => {
                format!("{message} (the file ends too early: is it truncated?)")
            }
            (_, Some(hint)) if line == 1 && column <= 2 => format!("{message} ({hint})"),
            _ => message,
        };
        FileError::Syntax {
            path,
            line,
            column,
            message,
        }
    }
}
