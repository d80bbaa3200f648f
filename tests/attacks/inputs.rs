//! Attack tests: inputs. Flags and scenario files that would let a mount replace the
//! trusted runner (issue 10 item 5), two mounts at one destination (item 12), values a
//! runtime only refuses once it starts (item 13), and strings from the container that
//! try to take over the operator's terminal or the reports (item 11).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::needs::{NOTHING, RUNC};
use crate::common::*;

/// Trials of this group.
pub fn trials() -> Trials {
    vec![
        (
            "issue10_mounts_over_the_runner_are_refused",
            NOTHING,
            mounts_over_the_runner_are_refused,
        ),
        (
            "issue10_rootfs_symlink_to_the_runner_is_refused",
            NOTHING,
            rootfs_symlink_to_the_runner_is_refused,
        ),
        (
            "issue10_duplicate_destinations_are_refused",
            NOTHING,
            duplicate_destinations_are_refused,
        ),
        (
            "issue10_start_failures_are_caught_before_start",
            NOTHING,
            start_failures_are_caught_before_start,
        ),
        (
            "issue10_scenario_settings_are_checked_like_flags",
            NOTHING,
            scenario_settings_are_checked_like_flags,
        ),
        (
            "issue10_hostile_runtime_text_reaches_no_report_raw",
            RUNC,
            hostile_runtime_text_reaches_no_report_raw,
        ),
    ]
}

/// `breakout run ARGS` must stop with exit 2 before starting anything, with a message
/// holding every needle and no panic.
fn refused(args: &[&str], needles: &[&str]) -> TestResult {
    let mut all = vec!["run", "--probe", "spawn.fork"];
    all.extend_from_slice(args);
    let out = breakout(&all);
    let fail = |why: &str| -> TestResult {
        Err(format!(
            "{args:?}: {why}; exit {}; stderr:\n{}\nstdout:\n{}",
            out.code, out.stderr, out.stdout
        )
        .into())
    };
    if out.code != 2 {
        return fail("expected exit 2");
    }
    if out.stderr.contains("panicked") {
        return fail("panicked");
    }
    for needle in needles {
        if !out.stderr.contains(needle) {
            return fail(&format!("the message lacks {needle:?}"));
        }
    }
    if !out.stdout.is_empty() {
        return fail("printed a report");
    }
    Ok(())
}

/// Every entry of `dir`, for "the host stays as it was".
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every spelling of the harness's directory and its files, by volume and by tmpfs.
fn mounts_over_the_runner_are_refused() -> TestResult {
    let scratch = Scratch::new("shadow");
    let src = scratch.sub("volume");
    // A runner the attacker would like to see run.
    std::fs::write(src.join("breakout-probe"), "#!/bin/sh\necho forged\n").unwrap();
    let before = entries(&src);
    for dst in [
        "/.breakout",
        "/.breakout/",
        "//.breakout",
        "/.breakout//",
        "///.breakout///breakout-probe",
        "/.breakout/breakout-probe",
        "/.breakout/sh",
        "/.breakout/anything",
        "/x/../.breakout",
        "/./.breakout",
        "/.breakout/.",
    ] {
        let volume = format!("{}:{dst}", src.display());
        refused(&["-v", &volume], &["--volume", &volume])?;
        let volume_ro = format!("{}:{dst}:ro", src.display());
        refused(&["--volume", &volume_ro], &["--volume", &volume_ro])?;
        refused(&["--tmpfs", dst], &["--tmpfs", dst])?;
        let tmpfs = format!("{dst}:exec");
        refused(&["--tmpfs", &tmpfs], &["--tmpfs", &tmpfs])?;
    }
    assert_eq!(entries(&src), before, "the volume's host side changed");
    Ok(())
}

/// A hostile `--rootfs` whose innocent-looking `/data` is a symlink to the harness's
/// directory (or to `/`): a volume there would land over the runner.
fn rootfs_symlink_to_the_runner_is_refused() -> TestResult {
    let scratch = Scratch::new("shadow-link");
    let rootfs = scratch.sub("rootfs");
    let src = scratch.sub("volume");
    std::fs::write(src.join("breakout-probe"), "#!/bin/sh\necho forged\n").unwrap();
    let link = |name: &str, target: &str| {
        std::os::unix::fs::symlink(target, rootfs.join(name)).unwrap();
    };
    link("data", "/.breakout");
    link("rel", "./.breakout");
    link("up", "../../.breakout");
    link("root", "/");
    link("chain", "data");
    let rootfs_arg = rootfs.display().to_string();
    for dst in [
        "/data",
        "/rel",
        "/up/sh",
        "/root",
        "/chain",
        "/root/.breakout",
    ] {
        let volume = format!("{}:{dst}", src.display());
        refused(
            &["--rootfs", &rootfs_arg, "-v", &volume],
            &["--rootfs", dst, "/.breakout"],
        )?;
        refused(
            &["--rootfs", &rootfs_arg, "--tmpfs", dst],
            &["--rootfs", dst, "/.breakout"],
        )?;
    }
    Ok(())
}

fn duplicate_destinations_are_refused() -> TestResult {
    let scratch = Scratch::new("dup");
    let a = scratch.sub("a").display().to_string();
    let b = scratch.sub("b").display().to_string();
    let cases: Vec<Vec<String>> = vec![
        vec![
            "-v".into(),
            format!("{a}:/x"),
            "-v".into(),
            format!("{b}:/x"),
        ],
        vec![
            "-v".into(),
            format!("{a}:/x:ro"),
            "-v".into(),
            format!("{a}:/x/:rw"),
        ],
        vec![
            "--tmpfs".into(),
            "/x".into(),
            "--tmpfs".into(),
            "//x".into(),
        ],
        vec![
            "--tmpfs".into(),
            "/x:size=1m".into(),
            "--tmpfs".into(),
            "/x/:exec".into(),
        ],
        vec![
            "-v".into(),
            format!("{a}:/x"),
            "--tmpfs".into(),
            "/x".into(),
        ],
        vec![
            "--tmpfs".into(),
            "/x/y".into(),
            "-v".into(),
            format!("{a}://x//y/"),
        ],
    ];
    for case in &cases {
        let args: Vec<&str> = case.iter().map(String::as_str).collect();
        refused(&args, &["is already the destination of"])?;
    }
    Ok(())
}

/// Values each runtime refuses only when it starts (exit 4 before), or that it reads
/// differently from what was meant: exit 2, naming the flag, the value and the problem.
fn start_failures_are_caught_before_start() -> TestResult {
    let scratch = Scratch::new("early");
    let src = scratch.sub("volume");
    let long_name = format!("/{}", "n".repeat(256));
    let long_path = "/pppppppp".repeat(512);
    let volume = |dst: &str| format!("{}:{dst}", src.display());
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec!["-v".into(), volume("/..")],
            vec!["--volume", "\"..\" component"],
        ),
        (
            vec!["-v".into(), volume("/x/..")],
            vec!["--volume", "\"..\" component"],
        ),
        (
            vec!["-v".into(), volume("//")],
            vec!["--volume", "other than /"],
        ),
        (
            vec!["-v".into(), volume("relative")],
            vec!["--volume", "absolute"],
        ),
        (
            vec!["-v".into(), volume("/a,b")],
            vec!["--volume", "separator"],
        ),
        (
            vec!["-v".into(), volume("/x\x1b[2Jy")],
            vec!["--volume", "control character"],
        ),
        (
            vec!["-v".into(), volume(&long_name)],
            vec!["--volume", "255 bytes"],
        ),
        (
            vec!["-v".into(), volume(&long_path)],
            vec!["--volume", "4095 bytes"],
        ),
        (
            vec!["--tmpfs".into(), "/..".into()],
            vec!["--tmpfs", "\"..\" component"],
        ),
        (
            vec!["--tmpfs".into(), "/t:size=banana".into()],
            vec!["--tmpfs", "size=banana"],
        ),
        (
            vec!["--tmpfs".into(), "/t:size=".into()],
            vec!["--tmpfs", "size="],
        ),
        (
            vec!["--tmpfs".into(), "/t:size=1.5m".into()],
            vec!["--tmpfs", "size=1.5m"],
        ),
        (
            vec!["--tmpfs".into(), "/t:size=-1".into()],
            vec!["--tmpfs", "size=-1"],
        ),
        (
            vec!["--tmpfs".into(), "/t:size=99999999999e".into()],
            vec!["--tmpfs", "64 bits"],
        ),
        (
            vec!["--tmpfs".into(), "/t:size=1m:mode=1777".into()],
            vec!["--tmpfs", "size=1m:mode=1777"],
        ),
        (
            vec!["--tmpfs".into(), "/t:mode=99999".into()],
            vec!["--tmpfs", "mode=99999"],
        ),
        (
            vec!["--tmpfs".into(), "/t:mode=10000".into()],
            vec!["--tmpfs", "mode=10000"],
        ),
        (
            vec!["--tmpfs".into(), "/t:mode=8".into()],
            vec!["--tmpfs", "mode=8"],
        ),
        (
            vec!["--tmpfs".into(), "/t:mode=".into()],
            vec!["--tmpfs", "mode="],
        ),
        (
            vec!["--tmpfs".into(), "/a,b".into()],
            vec!["--tmpfs", "separator"],
        ),
        (
            vec!["--tmpfs".into(), "t".into()],
            vec!["--tmpfs", "absolute"],
        ),
        (vec!["--tmpfs".into(), "".into()], vec!["--tmpfs", "empty"]),
        (
            vec!["--tmpfs".into(), "/.breakout".into()],
            vec!["--tmpfs", "/.breakout"],
        ),
        (
            vec!["--user".into(), "4294967295".into()],
            vec!["--user", "4294967295", "cannot be set"],
        ),
        (
            vec!["--user".into(), "0:4294967295".into()],
            vec!["--user", "gid 4294967295"],
        ),
        (
            vec!["--user".into(), "4294967296".into()],
            vec!["--user", "cannot be set"],
        ),
        (
            vec!["--user".into(), "+5".into()],
            vec!["--user", "not a number"],
        ),
        (
            vec!["--user".into(), "1:".into()],
            vec!["--user", "not a number"],
        ),
    ];
    for (args, needles) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, needles)?;
    }
    // `-v DIR:/..` used to leave DIR/dev behind on the host.
    assert!(entries(&src).is_empty(), "{:?}", entries(&src));
    Ok(())
}

/// The same classes in a scenario's `settings`: `check` and `test` stop with exit 2
/// and name the file, line, column and entry.
fn scenario_settings_are_checked_like_flags() -> TestResult {
    let scratch = Scratch::new("scenario-settings");
    let src = scratch.sub("volume").display().to_string();
    let cases = [
        (
            r#"{"tmpfs": ["/ok", "//.breakout/"]}"#.to_string(),
            "settings.tmpfs[1]",
            "/.breakout",
        ),
        (
            format!(r#"{{"volumes": ["{src}:/x/../.breakout/sh"]}}"#),
            "settings.volumes[0]",
            "\"..\" component",
        ),
        (
            format!(r#"{{"volumes": ["{src}:/x"], "tmpfs": ["/x/"]}}"#),
            "settings.tmpfs[0]",
            "is already the destination of",
        ),
        (
            r#"{"tmpfs": ["/t", "/t"]}"#.to_string(),
            "settings.tmpfs[1]",
            "is already the destination of",
        ),
        (
            r#"{"tmpfs": ["/t:mode=777777"]}"#.to_string(),
            "settings.tmpfs[0]",
            "mode=777777",
        ),
        (
            r#"{"tmpfs": ["/t\u0000x"]}"#.to_string(),
            "settings.tmpfs[0]",
            "control character",
        ),
        (
            r#"{"user": "4294967295:0"}"#.to_string(),
            "settings.user",
            "cannot be set",
        ),
    ];
    for (i, (settings, entry, problem)) in cases.iter().enumerate() {
        let file = scratch.path().join(format!("s{i}.json"));
        let text = format!(
            "{{\n  \"runtimes\": [\"runc\"],\n  \"probes\": [\"spawn.fork\"],\n  \"settings\": {settings}\n}}\n"
        );
        std::fs::write(&file, &text).unwrap();
        let file_arg = file.display().to_string();
        for command in ["check", "test"] {
            let out = breakout(&[command, &file_arg]);
            let where_ = format!("{file_arg}:4:");
            // `check` reports on stdout, `test` on stderr.
            let said = format!("{}{}", out.stdout, out.stderr);
            let ok = out.code == 2
                && said.contains(&where_)
                && said.contains(entry)
                && said.contains(problem)
                && !said.contains("panicked");
            if !ok {
                return Err(format!(
                    "{command} {text}: expected exit 2 naming {where_}, {entry}, {problem:?}; \
                     exit {}; stderr:\n{}\nstdout:\n{}",
                    out.code, out.stderr, out.stdout
                )
                .into());
            }
        }
    }
    Ok(())
}

/// What a hostile container or runtime prints to take over the operator's terminal
/// (a title change, a screen clear), a PR summary (a table pipe, an image, HTML,
/// backticks) or the reader's eyes (a bidi override).
const HOSTILE: &str = "\x1b]0;pwned\x07\x1b[2J| ![x](http://x) <img src=x> ```fence``` \u{202e}gnp.exe\u{2066} [link](http://x)";

/// Raw pieces none of the outputs may hold.
const RAW: &[&str] = &["\x1b", "\x07", "\u{202e}", "\u{2066}"];

/// Every string value of a JSON document, for checking what a viewer would decode.
fn json_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            json_strings(v, out);
        }),
        _ => {}
    }
}

fn assert_clean(what: &str, text: &str) -> TestResult {
    for raw in RAW {
        if text.contains(raw) {
            return Err(format!("{what} holds {raw:?}:\n{text}").into());
        }
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(format!("{what} holds the control character {c:?}:\n{text}").into());
    }
    Ok(())
}

/// A runtime (of runc's family, so the harness drives it like runc) that says
/// HOSTILE in its version and in every error, and never starts a container: its
/// words reach the start error of every report, and none may carry them raw.
fn hostile_runtime_text_reaches_no_report_raw() -> TestResult {
    let scratch = Scratch::new("hostile-text");
    let runtime = scratch.path().join("runc-hostile");
    let hostile_sh = HOSTILE.replace('\'', "'\\''");
    std::fs::write(
        &runtime,
        format!(
            "#!/bin/bash\nif [ \"$1\" = --version ]; then printf '%s\\n' 'runc version 1.1.0 {hostile_sh}'; exit 0; fi\n\
             printf '%s\\n' '{hostile_sh}' 'second line {hostile_sh}' >&2\nexit 1\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o755)).unwrap();
    let spec = format!("runc-hostile={}", runtime.display());

    // `run`, the table and the JSON report.
    for format in ["table", "json"] {
        let out = breakout(&[
            "run",
            "--format",
            format,
            "--runtime",
            &spec,
            "--probe",
            "spawn.fork",
        ]);
        if out.code != 4 {
            return Err(format!(
                "run --format {format}: expected exit 4; exit {}; stderr:\n{}\nstdout:\n{}",
                out.code, out.stderr, out.stdout
            )
            .into());
        }
        assert_clean(&format!("run --format {format} stdout"), &out.stdout)?;
        assert_clean(&format!("run --format {format} stderr"), &out.stderr)?;
        if format == "json" {
            let report = out.json()?;
            let mut strings = Vec::new();
            json_strings(&report, &mut strings);
            for s in &strings {
                assert_clean("a JSON report string", s)?;
            }
            let error = report["runs"][0]["start"]["error"].as_str().unwrap_or("");
            if !error.contains("\\x1b]0;pwned\\x07") {
                return Err(format!("the runtime's words are not shown escaped: {error}").into());
            }
        }
    }

    // `test` with every CI report.
    let scenario = scratch.path().join("hostile.json");
    std::fs::write(
        &scenario,
        format!(
            "{{\"name\": \"hostile\", \"runtimes\": [\"{spec}\"], \"probes\": [\"spawn.fork\"]}}\n"
        ),
    )
    .unwrap();
    let md = scratch.path().join("summary.md");
    let junit = scratch.path().join("junit.xml");
    let sarif = scratch.path().join("results.sarif");
    let json = scratch.path().join("suite.json");
    let out = breakout(&[
        "test",
        &scenario.display().to_string(),
        "--markdown",
        &md.display().to_string(),
        "--junit",
        &junit.display().to_string(),
        "--sarif",
        &sarif.display().to_string(),
        "--json",
        &json.display().to_string(),
    ]);
    if out.code != 1 && out.code != 4 {
        return Err(format!(
            "test: expected a failed trial; exit {}; stderr:\n{}\nstdout:\n{}",
            out.code, out.stderr, out.stdout
        )
        .into());
    }
    assert_clean("test stdout", &out.stdout)?;
    assert_clean("test stderr", &out.stderr)?;

    let md_text = std::fs::read_to_string(&md).unwrap();
    assert_clean("the Markdown summary", &md_text)?;
    // Inside a fenced block Markdown is literal text; outside, no markup may survive.
    let mut outside = String::new();
    let mut fence: Option<String> = None;
    for line in md_text.lines() {
        let ticks: String = line.chars().take_while(|c| *c == '`').collect();
        match &fence {
            None if ticks.len() >= 3 => fence = Some(ticks),
            Some(open) if ticks == *open && line.trim_end() == open.as_str() => fence = None,
            Some(_) => {}
            None => {
                outside.push_str(line);
                outside.push('\n');
            }
        }
    }
    if fence.is_some() {
        return Err(
            format!("a fenced block of the Markdown summary never closes:\n{md_text}").into(),
        );
    }
    for raw in ["<img", "![x](", "[link](", "```fence```"] {
        if outside.contains(raw) {
            return Err(format!("the Markdown summary holds {raw:?}:\n{md_text}").into());
        }
    }
    // Every table row keeps its header's column count: no pipe of the runtime's
    // splits a cell.
    let columns = |line: &str| {
        let mut n = 0;
        let mut escaped = false;
        for c in line.chars() {
            match c {
                '\\' if !escaped => escaped = true,
                '|' if !escaped => n += 1,
                _ => escaped = false,
            }
            if c != '\\' {
                escaped = false;
            }
        }
        n
    };
    let mut header = None;
    for line in md_text.lines() {
        if !line.starts_with('|') {
            header = None;
            continue;
        }
        let n = columns(line);
        match header {
            None => header = Some(n),
            Some(h) if h != n => {
                return Err(format!(
                    "a Markdown row has {n} pipes, its header {h}: {line}\n{md_text}"
                )
                .into());
            }
            Some(_) => {}
        }
    }
    if !md_text.contains("\\x1b") {
        return Err(format!("the Markdown summary lost the runtime's error:\n{md_text}").into());
    }

    let junit_text = std::fs::read_to_string(&junit).unwrap();
    assert_clean("the JUnit report", &junit_text)?;
    crate::common::junit::well_formed(&junit_text)
        .map_err(|e| format!("the JUnit report is no well-formed XML ({e}):\n{junit_text}"))?;
    crate::common::junit::fits_the_schemas("the JUnit report of a hostile runtime", &junit)?;

    for (what, path) in [("the SARIF log", &sarif), ("the JSON suite report", &json)] {
        let text = std::fs::read_to_string(path).unwrap();
        assert_clean(what, &text)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{what} is not JSON ({e}):\n{text}"))?;
        let mut strings = Vec::new();
        json_strings(&value, &mut strings);
        for s in &strings {
            assert_clean(&format!("a string of {what}"), s)?;
        }
    }
    Ok(())
}
