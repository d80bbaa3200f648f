//! Where each rule of a profile is written: `file:line:column` of every `syscalls[i]`
//! entry and of `defaultAction`, so that a prediction can point at the line that
//! decided it (an editor jumps there; code scanning annotates it).
//!
//! serde_json gives no positions for values it has read, so the file is read a second
//! time with jsonc-parser (dprint's parser, kept up to date for dprint and Deno), whose
//! syntax tree carries the byte range of every node.

use std::path::{Path, PathBuf};

use jsonc_parser::common::Ranged;

/// A place in a file, 1-based, in characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Place {
    #[serde(serialize_with = "crate::profile::path_text")]
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// The places of a profile's rules, by their index in `syscalls`, and of its default.
#[derive(Debug, Clone, Default)]
pub struct RulePlaces {
    pub rules: Vec<Place>,
    pub default_action: Option<Place>,
    /// Every top-level key's value, by the key's name (`flags`, `defaultErrnoRet`, ...).
    pub keys: Vec<(String, Place)>,
}

impl RulePlaces {
    /// Where the top-level `key`'s value is written.
    pub fn key(&self, key: &str) -> Option<&Place> {
        self.keys.iter().find(|(k, _)| k == key).map(|(_, p)| p)
    }

    /// Reads `path` again for positions; empty where it cannot (the profile itself was
    /// read and checked already, so this only loses the places, never a rule).
    pub fn of(path: &Path) -> RulePlaces {
        std::fs::read_to_string(path)
            .ok()
            .map(|text| Self::in_text(path, &text))
            .unwrap_or_default()
    }

    fn in_text(path: &Path, text: &str) -> RulePlaces {
        let Ok(parsed) = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default())
        else {
            return RulePlaces::default();
        };
        let Some(root) = parsed.value.as_ref().and_then(|v| v.as_object()) else {
            return RulePlaces::default();
        };
        // Line starts once, then a binary search per rule: a profile of thousands of
        // rules must not cost a scan from the top for each.
        let starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let place = |offset: usize| {
            let line = starts.partition_point(|s| *s <= offset);
            let start = starts[line - 1];
            let column = text
                .get(start..offset)
                .map_or(1, |before| before.chars().count() + 1);
            Place {
                file: path.to_path_buf(),
                line,
                column,
            }
        };
        RulePlaces {
            rules: root
                .get_array("syscalls")
                .map(|a| a.elements.iter().map(|e| place(e.start())).collect())
                .unwrap_or_default(),
            default_action: root.get("defaultAction").map(|p| place(p.start())),
            keys: root
                .properties
                .iter()
                .map(|p| (p.name.as_str().to_string(), place(p.value.start())))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_found_where_they_are_written() {
        let text = "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n    {\"names\": [\"a\"]},\n      {\"names\": [\"b\"]}\n  ]\n}\n";
        let places = RulePlaces::in_text(Path::new("p.json"), text);
        let at: Vec<String> = places.rules.iter().map(|p| p.to_string()).collect();
        assert_eq!(at, ["p.json:4:5", "p.json:5:7"]);
        assert_eq!(
            places
                .default_action
                .as_ref()
                .map(|p| p.to_string())
                .as_deref(),
            Some("p.json:2:3")
        );
        assert_eq!(
            places.key("syscalls").map(|p| p.to_string()).as_deref(),
            Some("p.json:3:15")
        );
        assert!(RulePlaces::in_text(Path::new("x"), "not json")
            .rules
            .is_empty());
    }
}
