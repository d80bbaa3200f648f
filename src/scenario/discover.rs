//! Finding scenario files: the paths given, and directories walked for `*.json` files
//! that are scenarios (a profile file beside them is not).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::{position_at, Seg};
use super::{FileError, Scenario, ScenarioError};
use crate::profile::Reading;

/// All `*.json` scenario files under each path (a file, or a directory searched
/// recursively in name order), loaded. A directory without any is an error, as is a
/// scenario name used by two files.
pub fn discover(paths: &[PathBuf], reading: Reading) -> Result<Vec<Scenario>, ScenarioError> {
    let mut files: Vec<PathBuf> = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|error| {
            ScenarioError::File(FileError::Read {
                what: "scenario",
                path: path.clone(),
                error,
            })
        })?;
        if meta.is_dir() {
            let before = files.len();
            walk(path, &mut files, 0)?;
            if files.len() == before {
                return Err(ScenarioError::NoScenarios { path: path.clone() });
            }
        } else {
            files.push(path.clone());
        }
    }
    // A file named directly and again through its directory is one scenario.
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert(fs::canonicalize(f).unwrap_or_else(|_| f.clone())));

    let mut scenarios: Vec<Scenario> = Vec::with_capacity(files.len());
    for file in files {
        let scenario = Scenario::read(&file, reading)?;
        if let Some(other) = scenarios.iter().find(|s| s.name == scenario.name) {
            let text = fs::read_to_string(&file).unwrap_or_default();
            let (line, column) = position_at(&text, &[Seg::key("name")], false);
            return Err(ScenarioError::DuplicateName {
                path: file,
                line,
                column,
                name: scenario.name,
                other: other.file.clone(),
            });
        }
        scenarios.push(scenario);
    }
    Ok(scenarios)
}

/// How deep `discover` follows directories (a symlink loop must end).
const MAX_DEPTH: usize = 32;

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), ScenarioError> {
    let read_err = |error| {
        ScenarioError::File(FileError::Read {
            what: "scenario",
            path: dir.to_path_buf(),
            error,
        })
    };
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            if depth < MAX_DEPTH {
                walk(&entry, out, depth + 1)?;
            }
        } else if entry.extension().is_some_and(|e| e == "json") && !is_profile(&entry) {
            out.push(entry);
        }
    }
    Ok(())
}

/// A seccomp profile (Docker's or a bare OCI object), not a scenario. A file with
/// `runtimes` is a scenario, to be refused for its stray `defaultAction`.
fn is_profile(file: &Path) -> bool {
    fs::read_to_string(file)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("defaultAction").is_some() && v.get("runtimes").is_none())
}
