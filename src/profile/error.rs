//! Errors of loading and resolving a profile; every message starts with the file.

use std::path::{Path, PathBuf};

use serde_json::error::Category;

pub use crate::json::FileError;

pub(crate) use crate::json::position_of;
use crate::json::{bare_message, char_position, is_escaped, string_start};

/// Why a profile could not be loaded or resolved.
///
/// Each message names the file; those about its content also give the 1-based line
/// and column (in characters), as `file:line:column: ...`, so editors can jump there.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read, is not UTF-8 or not JSON, or holds a value that is
    /// not valid here (see [`FileError`]).
    #[error(transparent)]
    File(#[from] FileError),

    /// The platform's architecture is not one Docker has a name for, so Docker's
    /// resolution is not defined for it.
    #[error(
        "{}: cannot resolve the profile for architecture {arch:?}: docker has no name for it \
         (known: {known})",
        path.display()
    )]
    UnknownHostArch {
        path: PathBuf,
        arch: String,
        known: &'static str,
    },

    /// A rule depends on the kernel version and the platform's is not known.
    #[error(
        "{}: syscalls[{rule}] has a minKernel condition but the kernel version is unknown",
        path.display()
    )]
    UnknownKernel { path: PathBuf, rule: usize },

    /// oci-spec refused to build the resolved filter.
    #[error("{}: cannot build the OCI seccomp object: {message}", path.display())]
    Build { path: PathBuf, message: String },
}

/// Turns a serde error into a `ProfileError` that points into `text`.
pub(crate) fn from_serde(
    path: &Path,
    text: &str,
    err: serde_path_to_error::Error<serde_json::Error>,
) -> ProfileError {
    let field = match err.path().to_string() {
        p if p == "." => "top level".to_string(),
        p => p,
    };
    from_json(path, text, field, err.into_inner())
}

/// Turns a serde_json error into a `ProfileError` that points into `text`; `field`
/// is the key path of the value being read.
pub(crate) fn from_json(
    path: &Path,
    text: &str,
    field: String,
    inner: serde_json::Error,
) -> ProfileError {
    let (line, column) = char_position(text, inner.line(), inner.column());
    let message = bare_message(&inner);
    let path = path.to_path_buf();
    match inner.classify() {
        Category::Syntax | Category::Eof => {
            ProfileError::File(FileError::syntax(path, line, column, message, &inner, text))
        }
        Category::Data | Category::Io => {
            let (line, column) = value_start(text, inner.line(), inner.column())
                .map_or((line, column), |offset| position_of(text, offset));
            ProfileError::File(FileError::Invalid {
                path,
                line,
                column,
                field,
                message: with_key_hint(message),
            })
        }
    }
}

/// Where the value that caused a data error starts, as a byte offset.
///
/// serde_json reports the last character it consumed (column 0: none yet on that
/// line). For a value it has read that is the value's last character: a string's
/// closing quote, a number's last digit, an object's closing brace. For a value it
/// only peeked at (an object where a string belongs) it is the character before the
/// value. Either way the value's first character is what a reader wants.
fn value_start(text: &str, line: usize, byte_column: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let next_value = |from: usize| (from..bytes.len()).find(|&i| !bytes[i].is_ascii_whitespace());
    let Some(last) = byte_column.checked_sub(1).map(|c| line_start + c) else {
        return next_value(line_start);
    };
    match *bytes.get(last)? {
        b'"' => string_start(bytes, last),
        b'}' | b']' => container_start(bytes, last),
        b if b.is_ascii_alphanumeric() => {
            // A number or true/false/null: back over its characters.
            let mut i = last;
            while i > 0
                && matches!(bytes[i - 1], b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'+' | b'.')
            {
                i -= 1;
            }
            Some(i)
        }
        _ => next_value(last + 1),
    }
}

/// Offset of the bracket that opens the object or list closed at `close`.
fn container_start(bytes: &[u8], close: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = close + 1;
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b'"' if !is_escaped(bytes, i) => i = string_start(bytes, i)?,
            b'}' | b']' => depth += 1,
            b'{' | b'[' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Docker's decoder (Go's encoding/json) matches keys case-insensitively, so a
/// profile that works with Docker may spell a key "Names"; say what to write.
fn with_key_hint(message: String) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message;
    };
    let Some((key, expected)) = rest.split_once('`') else {
        return message;
    };
    let known = expected.split('`').skip(1).step_by(2);
    let hint = known
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(key))
        .map(|k| {
            format!(" (docker would take it case-insensitively as `{k}`; write `{k}` exactly)")
        });
    match hint {
        Some(hint) => format!("{message}{hint}"),
        None => message,
    }
}

/// Position of the first `"key":` in `text`, for errors found after parsing; falls
/// back to the start of the file.
pub(crate) fn key_position(text: &str, key: &str) -> (usize, usize) {
    let quoted = format!("\"{key}\"");
    let mut from = 0;
    while let Some(found) = text[from..].find(&quoted) {
        let at = from + found;
        let after = text[at + quoted.len()..].trim_start();
        if after.starts_with(':') {
            return position_of(text, at);
        }
        from = at + quoted.len();
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_from_one() {
        let text = "{\n  \"é\": 1,\n  \"x\": 2\n}";
        assert_eq!(position_of(text, 0), (1, 1));
        assert_eq!(key_position(text, "x"), (3, 3));
        // "é" is two bytes: byte column 7 is character column 6.
        assert_eq!(char_position(text, 2, 7), (2, 6));
        assert_eq!(char_position(text, 4, 0), (4, 1));
    }

    #[test]
    fn key_hint_names_the_exact_spelling() {
        let m = with_key_hint(
            "unknown field `Names`, expected one of `name`, `names`, `action`".to_string(),
        );
        assert!(m.ends_with("write `names` exactly)"), "{m}");
        let m = with_key_hint("unknown field `syscals`, expected `syscalls`".to_string());
        assert_eq!(m, "unknown field `syscals`, expected `syscalls`");
    }
}
