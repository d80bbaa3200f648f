//! Errors of loading a scenario, and finding where in the file each one is.
//!
//! serde_json knows the line and column only while it reads; checks that need the
//! whole scenario (an `expect.runtimes` key that `runtimes` does not list) run after
//! parsing, so this module can also find a value by its key path in the text.

use std::path::{Path, PathBuf};

use serde_json::error::Category;

pub use crate::json::FileError;

pub(crate) use crate::json::position_of;
use crate::json::{bare_message, char_position, is_escaped, string_start};
use crate::profile::ProfileError;

/// Why a scenario could not be loaded.
///
/// Each message names the file; those about its content also give the 1-based line
/// and column (in characters), as `file:line:column: key.path: problem`, so editors
/// can jump there. All of them are bad input (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read, is not UTF-8 or not JSON, or holds a value that is
    /// not valid here (see [`FileError`]).
    #[error(transparent)]
    File(#[from] FileError),

    /// The profile file the scenario names is not a valid profile; `source` says
    /// where in the profile file.
    #[error("{}:{line}:{column}: {field}: {source}", path.display())]
    Profile {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        source: Box<ProfileError>,
    },

    /// A directory given to [`discover`](super::discover) holds no scenario file.
    #[error("{}: no *.json scenario files here", path.display())]
    NoScenarios { path: PathBuf },

    /// Two scenario files use the same name, so their trials would share names.
    #[error("{}:{line}:{column}: name: scenario name {name:?} is also used by {}", path.display(), other.display())]
    DuplicateName {
        path: PathBuf,
        line: usize,
        column: usize,
        name: String,
        other: PathBuf,
    },
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

impl Seg {
    pub(crate) fn key(key: &str) -> Seg {
        Seg::Key(key.to_string())
    }
}

/// `expect.probes["spawn.vfork"]`, `runtimes[2]`: keys that are not plain words are
/// quoted, so that a probe id's dot is not read as a path separator.
pub(crate) fn display_path(path: &[Seg]) -> String {
    if path.is_empty() {
        return "top level".to_string();
    }
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k)
                if !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Key(k) => {
                out.push('[');
                out.push_str(&serde_json::to_string(k).unwrap_or_else(|_| k.clone()));
                out.push(']');
            }
            Seg::Index(i) => {
                out.push_str(&format!("[{i}]"));
            }
        }
    }
    out
}

/// Turns a serde error into a `ScenarioError` that points into `text`.
pub(crate) fn from_serde(
    path: &Path,
    text: &str,
    err: serde_path_to_error::Error<serde_json::Error>,
) -> ScenarioError {
    let segs: Vec<Seg> =
        err.path()
            .iter()
            .map_while(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                // Neither appears in a scenario's types; stop at the known part.
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
    from_json(path, text, &segs, err.into_inner())
}

/// Turns a serde_json error into a `ScenarioError`; `segs` is the key path of the
/// value being read.
pub(crate) fn from_json(
    path: &Path,
    text: &str,
    segs: &[Seg],
    inner: serde_json::Error,
) -> ScenarioError {
    let message = bare_message(&inner);
    let path = path.to_path_buf();
    let (line, column) = char_position(text, inner.line(), inner.column());
    match inner.classify() {
        Category::Syntax | Category::Eof => {
            ScenarioError::File(FileError::syntax(path, line, column, message, &inner, text))
        }
        Category::Data | Category::Io => {
            let offset = byte_offset(text, inner.line(), inner.column());
            let (line, column) = offset
                .and_then(|last| string_ending_at(text, last))
                .or_else(|| locate(text, segs).map(|l| l.value.0))
                .map_or((line, column), |o| position_of(text, o));
            ScenarioError::File(FileError::Invalid {
                path,
                line,
                column,
                field: display_path(segs),
                message,
            })
        }
    }
}

/// An error found after parsing, placed at the key (`on_key`) or the value at `segs`.
pub(crate) fn invalid_at(
    path: &Path,
    text: &str,
    segs: &[Seg],
    on_key: bool,
    message: impl Into<String>,
) -> ScenarioError {
    let (line, column) = position_at(text, segs, on_key);
    ScenarioError::File(FileError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        field: display_path(segs),
        message: message.into(),
    })
}

/// Line and column of the key or value at `segs`; the start of the file if absent.
pub(crate) fn position_at(text: &str, segs: &[Seg], on_key: bool) -> (usize, usize) {
    locate(text, segs)
        .map(|l| match l.key {
            Some((start, _)) if on_key => start,
            _ => l.value.0,
        })
        .map_or((1, 1), |o| position_of(text, o))
}

/// Byte offset of the last character serde_json consumed (`None` before the first
/// of a line).
fn byte_offset(text: &str, line: usize, byte_column: usize) -> Option<usize> {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let offset = line_start + byte_column.checked_sub(1)?;
    (offset < text.len()).then_some(offset)
}

/// When serde_json stopped on a string's closing quote, the error is about that
/// string (a key or a value): the offset of its opening quote. The text before a
/// reported error is valid JSON, so quotes pair up.
fn string_ending_at(text: &str, last: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes[last] != b'"' || is_escaped(bytes, last) {
        return None;
    }
    string_start(bytes, last)
}

/// Where a value is in the text: byte ranges `[start, end)` of its key (for an
/// object member) and of the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Located {
    pub key: Option<(usize, usize)>,
    pub value: (usize, usize),
}

/// Finds the value at `segs` in JSON `text` (the first member of that name, as
/// serde reads them). `None` when it is not there or the text is not valid JSON up
/// to it.
pub(crate) fn locate(text: &str, segs: &[Seg]) -> Option<Located> {
    let mut scan = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    scan.skip_ws();
    let mut here = Located {
        key: None,
        value: (scan.pos, scan.skip_value()?),
    };
    for seg in segs {
        scan.pos = here.value.0;
        here = match (seg, scan.bytes.get(scan.pos)?) {
            (Seg::Key(want), b'{') => scan.member(want)?,
            (Seg::Index(want), b'[') => scan.element(*want)?,
            _ => return None,
        };
    }
    Some(here)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_ws();
        (self.bytes.get(self.pos) == Some(&byte)).then(|| self.pos += 1)
    }

    /// Skips the string starting at `pos`; returns its end.
    fn skip_string(&mut self) -> Option<usize> {
        if self.bytes.get(self.pos) != Some(&b'"') {
            return None;
        }
        self.pos += 1;
        loop {
            match *self.bytes.get(self.pos)? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Some(self.pos);
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Skips the value starting at `pos`; returns its end. Iterative, with the open
    /// brackets on a heap stack: a file nested a million levels deep must give an
    /// error, not overflow the harness's stack.
    fn skip_value(&mut self) -> Option<usize> {
        let mut open: Vec<u8> = Vec::new();
        loop {
            self.skip_ws();
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    self.skip_string()?;
                }
                b @ (b'{' | b'[') => {
                    open.push(if b == b'{' { b'}' } else { b']' });
                    self.pos += 1;
                    continue;
                }
                b @ (b'}' | b']') if open.last() == Some(&b) => {
                    open.pop();
                    self.pos += 1;
                }
                b',' | b':' if !open.is_empty() => {
                    self.pos += 1;
                    continue;
                }
                _ => {
                    let start = self.pos;
                    while self.bytes.get(self.pos).is_some_and(|b| {
                        !b.is_ascii_whitespace() && !matches!(b, b',' | b'}' | b']' | b':')
                    }) {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        return None;
                    }
                }
            }
            if open.is_empty() {
                return Some(self.pos);
            }
        }
    }

    /// In the object starting at `pos`, the member named `want`.
    fn member(&mut self, want: &str) -> Option<Located> {
        self.eat(b'{')?;
        loop {
            self.skip_ws();
            let key_start = self.pos;
            let key_end = self.skip_string()?;
            let key: String = serde_json::from_str(&self.text[key_start..key_end]).ok()?;
            self.eat(b':')?;
            self.skip_ws();
            let value_start = self.pos;
            let value_end = self.skip_value()?;
            if key == want {
                return Some(Located {
                    key: Some((key_start, key_end)),
                    value: (value_start, value_end),
                });
            }
            self.eat(b',')?;
        }
    }

    /// In the list starting at `pos`, element `want`.
    fn element(&mut self, want: usize) -> Option<Located> {
        self.eat(b'[')?;
        for index in 0.. {
            self.skip_ws();
            let start = self.pos;
            let end = self.skip_value()?;
            if index == want {
                return Some(Located {
                    key: None,
                    value: (start, end),
                });
            }
            self.eat(b',')?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_members_and_elements() {
        let text = "{\n  \"a\": [1, {\"b\\u0022\": \"x\"}],\n  \"c.d\": {\"e\": true}\n}";
        let a1 = locate(text, &[Seg::key("a"), Seg::Index(1)]).unwrap();
        assert_eq!(&text[a1.value.0..a1.value.1], "{\"b\\u0022\": \"x\"}");
        let b = locate(text, &[Seg::key("a"), Seg::Index(1), Seg::key("b\"")]).unwrap();
        assert_eq!(&text[b.value.0..b.value.1], "\"x\"");
        let e = locate(text, &[Seg::key("c.d"), Seg::key("e")]).unwrap();
        assert_eq!(position_of(text, e.key.unwrap().0), (3, 11));
        assert_eq!(&text[e.value.0..e.value.1], "true");
        assert!(locate(text, &[Seg::key("zz")]).is_none());
        assert!(locate(text, &[Seg::key("a"), Seg::Index(2)]).is_none());
    }

    #[test]
    fn paths_quote_keys_that_are_not_words() {
        let path = [
            Seg::key("expect"),
            Seg::key("probes"),
            Seg::key("fs.write-mount@/scratch"),
        ];
        assert_eq!(
            display_path(&path),
            "expect.probes[\"fs.write-mount@/scratch\"]"
        );
        assert_eq!(
            display_path(&[Seg::key("runtimes"), Seg::Index(2)]),
            "runtimes[2]"
        );
        assert_eq!(display_path(&[]), "top level");
    }
}
