//! Property-based fuzzing of every parser of untrusted input: seccomp profiles,
//! scenario files, the probe protocol's lines and argv, and the line splitter that
//! reads a container's stdout.
//!
//! cargo-fuzz needs a nightly toolchain; proptest runs on stable, shrinks a failing
//! input to a small one and fits in `cargo test`. Each target feeds its parser three
//! kinds of input where they apply: arbitrary text or bytes, JSON built from the real
//! key names with random shapes and wrong types, and mutations (bit flips, deletions,
//! insertions, truncations, duplications) of the shipped profile and scenario files.
//!
//! The properties: a parser returns `Ok` or `Err` and never panics; a profile or
//! scenario error's message starts with the path it was given and, where it has a
//! position, with `path:LINE:COLUMN:` inside the input (1-based, the column at most
//! one past the line's end); an accepted protocol line or invocation survives a
//! round trip; the line splitter (`collector::split_all`) splits exactly as a simple model does, within its bounds.
//!
//! `FUZZ_CASES` sets the cases per target (default 256, so `cargo test` stays fast);
//! a long campaign is `FUZZ_CASES=100000 cargo test --release --test fuzz`. Every
//! target prints how many cases ran clean and how many got through the parser (add
//! `-- --nocapture` to see it for passing targets). The seeds are read at run time;
//! a missing one is skipped with its reason printed. Failures are not persisted to
//! files: inputs the fuzzer found are kept as named regression tests at the end.

use std::fmt::Debug;
use std::fs;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use breakout::catalog::CATALOG;
use breakout::profile::{start_analysis, FileError, Platform, Profile, ProfileError, SYSCALLS};
use breakout::protocol::{parse_line, Invocation, Line, MAX_LINE};
use breakout::run::collector::{split_all, Incoming};
use breakout::scenario::{Scenario, ScenarioError};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Lines beyond it are drained, not handed on.
use breakout::run::collector::MAX_LINES;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const DOCKER_DEFAULT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/docker-default.json");

// ---------------------------------------------------------------------------------
// The runner

/// Cases per target: `FUZZ_CASES`, or few enough for CI.
fn cases() -> u32 {
    match std::env::var("FUZZ_CASES") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("FUZZ_CASES={v:?} is not a number of cases")),
        Err(_) => 256,
    }
}

/// Runs `property` on `cases()` inputs from `strategy`; a failure (a panic included)
/// is shrunk and reported with the smallest input proptest found. The property says
/// whether the input got through to the interesting part (`tally` names it, e.g.
/// "accepted"), so the summary shows how deep the generated inputs reach.
fn fuzz<S>(
    target: &str,
    tally: &str,
    strategy: S,
    property: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases: cases(),
        // Regressions are kept as named tests in this file, not in files proptest
        // would write beside it.
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let clean = AtomicU64::new(0);
    let counted = AtomicU64::new(0);
    let result = runner.run(&strategy, |input| {
        if property(input)? {
            counted.fetch_add(1, Ordering::Relaxed);
        }
        clean.fetch_add(1, Ordering::Relaxed);
        Ok(())
    });
    match result {
        Ok(()) => eprintln!(
            "fuzz {target}: {} cases ran clean ({} {tally})",
            clean.load(Ordering::Relaxed),
            counted.load(Ordering::Relaxed)
        ),
        Err(e) => panic!(
            "fuzz {target}: failed after {} clean cases: {e}",
            clean.load(Ordering::Relaxed)
        ),
    }
}

// ---------------------------------------------------------------------------------
// Properties shared by the targets

/// `line`/`column` point into `text`: 1-based, the column at most one past the end
/// of the line (an error at the end of the input).
fn check_position(text: &str, line: usize, column: usize) -> Result<(), TestCaseError> {
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!(
        (1..=lines.len()).contains(&line),
        "line {line} is outside the input's {} line(s)",
        lines.len()
    );
    let width = lines[line - 1].chars().count();
    prop_assert!(
        (1..=width + 1).contains(&column),
        "column {column} is outside line {line}, which has {width} character(s)"
    );
    Ok(())
}

/// The message starts with `path:` and, when the error has a position, with
/// `path:LINE:COLUMN:` inside `text`.
fn check_message(
    shown: &str,
    path: &Path,
    position: Option<(usize, usize)>,
    text: &str,
) -> Result<(), TestCaseError> {
    let file = path.display().to_string();
    prop_assert!(
        shown.starts_with(&format!("{file}:")),
        "message does not start with {file:?}: {shown}"
    );
    if let Some((line, column)) = position {
        let prefix = format!("{file}:{line}:{column}: ");
        prop_assert!(
            shown.starts_with(&prefix),
            "message does not start with {prefix:?}: {shown}"
        );
        check_position(text, line, column)
            .map_err(|e| TestCaseError::fail(format!("{e} (message: {shown})")))?;
    }
    Ok(())
}

fn check_profile_error(e: &ProfileError, path: &Path, text: &str) -> Result<(), TestCaseError> {
    let position = match e {
        ProfileError::File(FileError::Encoding { line, column, .. })
        | ProfileError::File(FileError::Syntax { line, column, .. })
        | ProfileError::File(FileError::Invalid { line, column, .. }) => Some((*line, *column)),
        _ => None,
    };
    check_message(&e.to_string(), path, position, text)
}

fn check_scenario_error(e: &ScenarioError, path: &Path, text: &str) -> Result<(), TestCaseError> {
    let position = match e {
        ScenarioError::File(FileError::Encoding { line, column, .. })
        | ScenarioError::File(FileError::Syntax { line, column, .. })
        | ScenarioError::File(FileError::Invalid { line, column, .. })
        | ScenarioError::Profile { line, column, .. }
        | ScenarioError::DuplicateName { line, column, .. } => Some((*line, *column)),
        _ => None,
    };
    check_message(&e.to_string(), path, position, text)
}

/// Platforms an accepted profile is resolved for, so that resolution and the start
/// analysis see every shape the parser lets through.
fn platforms() -> &'static [Platform] {
    static PLATFORMS: OnceLock<Vec<Platform>> = OnceLock::new();
    PLATFORMS.get_or_init(|| {
        vec![
            Platform {
                arch: "x86_64".into(),
                kernel: (6, 8),
                caps: vec!["CAP_SYS_ADMIN".into(), "CAP_CHOWN".into()],
            },
            Platform {
                arch: "aarch64".into(),
                kernel: (4, 4),
                caps: vec![],
            },
            Platform {
                arch: "s390x".into(),
                kernel: (0, 0),
                caps: vec!["CAP_SYS_PTRACE".into()],
            },
            Platform {
                arch: "riscv-unknown".into(),
                kernel: (5, 10),
                caps: vec![],
            },
        ]
    })
}

/// Parses `text`; an accepted profile is also resolved. True if it was accepted.
fn check_profile_text(text: &str, path: &Path) -> Result<bool, TestCaseError> {
    match Profile::parse(text, path) {
        Ok(profile) => {
            for platform in platforms() {
                match profile.resolve(platform) {
                    Ok(seccomp) => {
                        let _ = start_analysis(&seccomp).summary();
                    }
                    Err(e) => check_profile_error(&e, path, text)?,
                }
            }
            Ok(true)
        }
        Err(e) => check_profile_error(&e, path, text).map(|()| false),
    }
}

/// Parses `text` as a scenario; true if it was accepted.
fn check_scenario_text(text: &str, path: &Path) -> Result<bool, TestCaseError> {
    match Scenario::parse(text, path) {
        Ok(scenario) => {
            let _ = scenario.ignore_reason();
            Ok(true)
        }
        Err(e) => check_scenario_error(&e, path, text).map(|()| false),
    }
}

/// Where generated scenarios claim to live: beside the shipped ones, so that
/// `profiles/seed.json` and the like resolve to real files.
fn generated_scenario_path() -> PathBuf {
    Path::new(MANIFEST_DIR).join("scenarios/fuzz-generated.json")
}

fn generated_profile_path() -> &'static Path {
    Path::new("fuzz/generated-profile.json")
}

// ---------------------------------------------------------------------------------
// Vocabulary: for each kind of value, names the parsers accept and near misses

/// Words of one kind: `good` ones the parser accepts, `bad` ones it must refuse.
struct Words {
    good: &'static [&'static str],
    bad: &'static [&'static str],
}

const PROFILE_KEYS: &[&str] = &[
    "defaultAction",
    "defaultErrnoRet",
    "defaultErrno",
    "architectures",
    "archMap",
    "architecture",
    "subArchitectures",
    "flags",
    "listenerPath",
    "listenerMetadata",
    "syscalls",
    "name",
    "names",
    "action",
    "errnoRet",
    "errno",
    "args",
    "index",
    "value",
    "valueTwo",
    "op",
    "comment",
    "includes",
    "excludes",
    "caps",
    "arches",
    "minKernel",
    "Names",
    "syscals",
];

const SCENARIO_KEYS: &[&str] = &[
    "name",
    "description",
    "profile",
    "inline",
    "settings",
    "read_only",
    "cap_add",
    "cap_drop",
    "volumes",
    "tmpfs",
    "user",
    "network",
    "security_opt",
    "rootfs",
    "runtimes",
    "probes",
    "timeout",
    "expect",
    "start",
    "default",
    "goals",
    "defaultAction",
];

const PROTOCOL_KEYS: &[&str] = &[
    "v",
    "event",
    "nonce",
    "after",
    "pid",
    "uid",
    "gid",
    "step",
    "outcome",
    "mechanism",
    "detail",
];

const ACTIONS: Words = Words {
    good: &[
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    ],
    bad: &["SCMP_ACT_ALLOWED", "allow", ""],
};

const ARCHES: Words = Words {
    good: &[
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_RISCV64",
    ],
    bad: &["SCMP_ARCH_NATIVE", "SCMP_ARCH_AMD64", "amd64"],
};

const DOCKER_ARCHES: Words = Words {
    good: &[
        "amd64", "x86", "x32", "arm64", "arm", "s390x", "ppc64le", "riscv64",
    ],
    bad: &["x86_64", "aarch64", "AMD64", ""],
};

const OPS: Words = Words {
    good: &[
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ],
    bad: &["SCMP_CMP_EQUAL", "=="],
};

const FILTER_FLAGS: Words = Words {
    good: &[
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ],
    bad: &["SECCOMP_FILTER_FLAG_NEW_LISTENER", "TSYNC"],
};

const CAPS: Words = Words {
    good: &[
        "CAP_SYS_ADMIN",
        "CAP_SYS_PTRACE",
        "CAP_SYS_BOOT",
        "CAP_NET_RAW",
        "CAP_BPF",
        "CAP_CHOWN",
    ],
    bad: &["SYS_ADMIN", "cap_sys_admin", "CAP_NOPE", "ALL", ""],
};

/// Capabilities as `--cap-add`/`--cap-drop` take them.
const CAP_FLAGS: Words = Words {
    good: &["CAP_SYS_ADMIN", "NET_RAW", "ALL", "sys_ptrace", "CAP_CHOWN"],
    bad: &["CAP_NOPE", "", "ALL,CHOWN"],
};

const ERRNOS: Words = Words {
    good: &["EPERM", "ENOSYS", "EACCES", "EINVAL", "E2BIG"],
    bad: &["eperm", "", "EWHAT"],
};

const KERNELS: Words = Words {
    good: &["4.8", "5.10", "0.5", "50.0", "255.255", ""],
    bad: &["0.0", "256.1", "3", ".3", "3.", "+4.8", "4.15abc", "3.12.1"],
};

const NEAR_SYSCALLS: &[&str] = &["exeve", "execv", "clone4", "", "EXECVE", "fork ", "é"];

const RUNTIMES: Words = Words {
    good: &[
        "runc",
        "crun",
        "runsc",
        "runsc-oci",
        "youki",
        "podman",
        "docker",
        "mine=/opt/runc",
        "mine=bin/crun,--debug",
        "podman-runc=/usr/bin/podman,--runtime=runc",
    ],
    bad: &[
        "runc,crun",
        "rnc",
        "mine=",
        "=/opt/runc",
        "mine=/opt/mystery",
        "a b=/opt/runc",
        "",
    ],
};

const PATTERNS: Words = Words {
    good: &[
        "exec.*",
        "spawn.*",
        "*",
        "**",
        "fs.write-mount",
        "kernel.{bpf,keyctl}",
    ],
    bad: &["[", "{a,", "nope.*", ""],
};

/// Probe keys beyond the catalog's ids, which are added at run time.
const STEPS: Words = Words {
    good: &[
        "fs.write-mount@/scratch",
        "fs.write-mount@/scratch/",
        "fs.exec-mount@/data",
    ],
    bad: &[
        "fs.write-mount@/",
        "fs.write-mount@scratch",
        "fs.write-mount@",
        "exec.execve@/scratch",
        "execve",
        "nope",
        "@",
        "",
        "fs.write-mount@/elsewhere",
    ],
};

const GOALS: Words = Words {
    good: &[
        "exec",
        "spawn",
        "namespace",
        "fs",
        "net",
        "kernel",
        "ipc",
        "host",
    ],
    bad: &["Exec", "", "files"],
};

const VERDICTS: Words = Words {
    good: &[
        "any",
        "escaped",
        "blocked",
        "not-applicable",
        "error",
        "not-run",
        "blocked:EPERM",
        "blocked:SIGSYS",
        "error:timeout",
        "not-run:start-failure",
    ],
    bad: &[
        "blocked:",
        ":EPERM",
        "escaped:a:b",
        "Blocked",
        "",
        "any:EPERM",
    ],
};

const STARTS: Words = Words {
    good: &["starts", "fails-to-start"],
    bad: &["start", ""],
};

const PROFILE_PATHS: Words = Words {
    good: &[
        "profiles/seed.json",
        "profiles/seed-minus-execve.json",
        "profiles/hardened-agent.json",
        "../scenarios/profiles/seed.json",
        "unconfined",
    ],
    bad: &[
        "profiles/missing.json",
        "profiles",
        "",
        "/nonexistent/profile.json",
    ],
};

/// Relative to the directory of the generated scenarios (`scenarios/`).
const ROOTFS: Words = Words {
    good: &[".", "profiles", "/tmp"],
    bad: &["profiles/seed.json", "", "/nonexistent"],
};

const VOLUMES: Words = Words {
    good: &["/tmp:/data", "/tmp:/x:ro", "/tmp:/x:rw,noexec,nosuid,nodev"],
    bad: &[
        "/tmp:relative",
        ":/x",
        "/tmp:/x:bogus",
        "/tmp",
        "",
        "/nonexistent:/x",
    ],
};

const TMPFS: Words = Words {
    good: &["/scratch", "/scratch:exec", "/scratch:size=1m,mode=1777"],
    bad: &["relative:exec", "/scratch:bogus", "", "/"],
};

const USERS: Words = Words {
    good: &["1000", "1000:1000", "0"],
    bad: &["nobody", "", "1000:", ":1", "-1", "99999999999"],
};

const NETWORKS: Words = Words {
    good: &["none", "host", "bridge", "default"],
    bad: &["", "container:x", "Bridge"],
};

const SECURITY_OPTS: Words = Words {
    good: &[
        "no-new-privileges",
        "no-new-privileges=false",
        "systempaths=unconfined",
    ],
    bad: &[
        "seccomp=unconfined",
        "seccomp:x.json",
        "label=disable",
        "",
        "no-new-privileges=maybe",
    ],
};

const NAMES: Words = Words {
    good: &["seed", "fuzz-1", "a.b_c", "é"],
    bad: &["", "a b", "a::b", "tab\t", "nl\n"],
};

const EVENTS: Words = Words {
    good: &["hello", "start", "verdict", "done"],
    bad: &["Done", "explode", ""],
};

const OUTCOMES: Words = Words {
    good: &["escaped", "blocked", "not-applicable", "error"],
    bad: &["not-run", "notapplicable", "Blocked", ""],
};

const ALL_WORDS: &[&Words] = &[
    &ACTIONS,
    &ARCHES,
    &DOCKER_ARCHES,
    &OPS,
    &FILTER_FLAGS,
    &CAPS,
    &CAP_FLAGS,
    &ERRNOS,
    &KERNELS,
    &RUNTIMES,
    &PATTERNS,
    &STEPS,
    &GOALS,
    &VERDICTS,
    &STARTS,
    &PROFILE_PATHS,
    &ROOTFS,
    &VOLUMES,
    &TMPFS,
    &USERS,
    &NETWORKS,
    &SECURITY_OPTS,
    &NAMES,
    &EVENTS,
    &OUTCOMES,
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "5",
    "6",
    "-1",
    "-0",
    "255",
    "256",
    "3600",
    "3601",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1.0",
    "1.5",
    "1e3",
    "1E400",
    "-1e-400",
    "0.0000001",
    "01",
];

/// Pieces a mutation inserts: JSON punctuation and keywords, keys, escapes and
/// characters of several UTF-8 widths.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "false",
    "-",
    "0",
    "1e999",
    "18446744073709551616",
    "\\",
    "\\\"",
    "\\u0000",
    "\\ud800",
    "\\uDFFF\\uD800",
    "\\x",
    "\n",
    "\r\n",
    "\t",
    " ",
    "\u{0}",
    "é",
    "€",
    "\u{1F600}",
    "\u{feff}",
    "\u{2028}",
    "\"names\":",
    "\"action\":",
    "\"syscalls\":[",
    "\"defaultAction\":\"SCMP_ACT_ALLOW\"",
    "\"args\":[{\"index\":6,\"op\":\"SCMP_CMP_EQ\"}]",
    "\"runtimes\":[\"runc\"]",
    "\"inline\":{",
    "\"expect\":{\"probes\":{",
    "\"profile\":",
    "{\"v\":1,",
    "\"event\":\"verdict\"",
];

// ---------------------------------------------------------------------------------
// JSON built from the vocabulary

/// A JSON document that may repeat keys and carry numbers as written.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// How a document is laid out; the layout moves every error to other lines and
/// columns.
#[derive(Debug, Clone, Copy)]
struct Layout {
    indent: &'static str,
    newline: &'static str,
}

const LAYOUTS: &[Layout] = &[
    Layout {
        indent: "",
        newline: "",
    },
    Layout {
        indent: "  ",
        newline: "\n",
    },
    Layout {
        indent: "\t",
        newline: "\n",
    },
    Layout {
        indent: " ",
        newline: "\r\n",
    },
];

impl Json {
    fn render(&self, layout: Layout) -> String {
        let mut out = String::new();
        self.write(&mut out, layout, 0);
        out
    }

    fn write(&self, out: &mut String, layout: Layout, depth: usize) {
        let break_line = |out: &mut String, depth: usize| {
            out.push_str(layout.newline);
            if !layout.newline.is_empty() {
                out.push_str(&layout.indent.repeat(depth));
            }
        };
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => out.push_str(&quote(s)),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    break_line(out, depth + 1);
                    item.write(out, layout, depth + 1);
                }
                if !items.is_empty() {
                    break_line(out, depth);
                }
                out.push(']');
            }
            Json::Obj(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    break_line(out, depth + 1);
                    out.push_str(&quote(key));
                    out.push_str(if layout.newline.is_empty() { ":" } else { ": " });
                    value.write(out, layout, depth + 1);
                }
                if !members.is_empty() {
                    break_line(out, depth);
                }
                out.push('}');
            }
        }
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// How much of a generated document is wrong. `CLEAN` documents are mostly
/// accepted, so that the checks after parsing run; `NOISY` ones put a wrong type, a
/// near-miss name or an unknown key somewhere.
#[derive(Debug, Clone, Copy)]
struct Noise {
    /// Weight (against 10) of a member of any type at all.
    wrong_type: u32,
    /// Weight (against 10) of a near-miss word where a known one belongs.
    bad_word: u32,
    /// Weight (against 12) of members with names from anywhere.
    extra_keys: u32,
}

const CLEAN: Noise = Noise {
    wrong_type: 0,
    bad_word: 0,
    extra_keys: 0,
};
const NOISY: Noise = Noise {
    wrong_type: 1,
    bad_word: 2,
    extra_keys: 2,
};

/// Two strategies by weight, or the first alone when the second's weight is 0
/// (proptest refuses a zero weight).
fn either<T: Debug + Clone + 'static>(
    a: (u32, BoxedStrategy<T>),
    b: (u32, BoxedStrategy<T>),
) -> BoxedStrategy<T> {
    if b.0 == 0 {
        a.1
    } else {
        prop_oneof![a.0 => a.1, b.0 => b.1].boxed()
    }
}

fn strs(list: &'static [&'static str]) -> BoxedStrategy<Json> {
    select(list).prop_map(|w| Json::Str(w.to_string())).boxed()
}

fn word(words: &'static Words, n: Noise) -> BoxedStrategy<Json> {
    either((10, strs(words.good)), (n.bad_word, strs(words.bad)))
}

/// Short text of any characters, control characters and quotes included.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z./@:,=-]{0,12}",
        2 => vec(any::<char>(), 0..16).prop_map(|cs| cs.into_iter().collect()),
    ]
    .boxed()
}

fn text_json() -> BoxedStrategy<Json> {
    text().prop_map(Json::Str).boxed()
}

fn number() -> BoxedStrategy<Json> {
    prop_oneof![
        3 => select(NUMBERS).prop_map(|n| Json::Num(n.to_string())),
        1 => any::<u64>().prop_map(|n| Json::Num(n.to_string())),
        1 => any::<i64>().prop_map(|n| Json::Num(n.to_string())),
        1 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Json::Num(format!("{f:e}"))),
    ]
    .boxed()
}

/// An integer in `range` (as a well-formed value would be), or now and then any
/// number at all.
fn int(range: std::ops::RangeInclusive<u64>, n: Noise) -> BoxedStrategy<Json> {
    either(
        (10, range.prop_map(|v| Json::Num(v.to_string())).boxed()),
        (n.bad_word, number()),
    )
}

fn syscall(n: Noise) -> BoxedStrategy<Json> {
    let known = select(SYSCALLS)
        .prop_map(|s| Json::Str(s.to_string()))
        .boxed();
    let near = prop_oneof![strs(NEAR_SYSCALLS), text_json()].boxed();
    either((10, known), (n.bad_word, near))
}

/// Every word any of the formats knows, for values in the wrong place.
fn any_word() -> BoxedStrategy<Json> {
    let all: Vec<&'static str> = ALL_WORDS
        .iter()
        .flat_map(|w| w.good.iter().chain(w.bad))
        .copied()
        .collect();
    select(all).prop_map(|w| Json::Str(w.to_string())).boxed()
}

fn leaf() -> BoxedStrategy<Json> {
    prop_oneof![
        1 => Just(Json::Null),
        1 => any::<bool>().prop_map(Json::Bool),
        2 => number(),
        3 => any_word(),
        2 => text_json(),
    ]
    .boxed()
}

fn key(keys: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        5 => select(keys).prop_map(str::to_string),
        1 => text(),
    ]
    .boxed()
}

/// Any JSON value whose object keys mostly come from `keys`.
fn any_json(keys: &'static [&'static str]) -> BoxedStrategy<Json> {
    leaf()
        .prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Json::Arr),
                vec((key(keys), inner), 0..6).prop_map(Json::Obj),
            ]
        })
        .boxed()
}

type Field = BoxedStrategy<Option<(String, Json)>>;

/// An optional member: absent, well typed, or (with noise) of any type at all.
fn field(
    name: &'static str,
    good: BoxedStrategy<Json>,
    n: Noise,
    keys: &'static [&'static str],
) -> Field {
    let present = either((10, good), (n.wrong_type, any_json(keys)))
        .prop_map(move |v| Some((name.to_string(), v)))
        .boxed();
    prop_oneof![3 => Just(None), 7 => present].boxed()
}

/// A member the object needs: present unless there is noise.
fn required(
    name: &'static str,
    good: BoxedStrategy<Json>,
    n: Noise,
    keys: &'static [&'static str],
) -> Field {
    let present = either((10, good), (n.wrong_type, any_json(keys)))
        .prop_map(move |v| Some((name.to_string(), v)))
        .boxed();
    either((12, present), (n.wrong_type, Just(None).boxed()))
}

/// An object of `fields` in random order, with noise also members of any name
/// (repeated ones included).
fn object(fields: Vec<Field>, n: Noise, keys: &'static [&'static str]) -> BoxedStrategy<Json> {
    let extra = either(
        (12, Just(Vec::new()).boxed()),
        (n.extra_keys, vec((key(keys), any_json(keys)), 1..3).boxed()),
    );
    (fields, extra)
        .prop_map(|(fields, extra)| {
            fields
                .into_iter()
                .flatten()
                .chain(extra)
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
        .prop_map(Json::Obj)
        .boxed()
}

/// A JSON list of `item`; with noise now and then the item alone or null.
fn list(item: BoxedStrategy<Json>, max: usize, n: Noise) -> BoxedStrategy<Json> {
    list_from(0, item, max, n)
}

/// A list that must not be empty: clean ones are not.
fn list1(item: BoxedStrategy<Json>, max: usize, n: Noise) -> BoxedStrategy<Json> {
    list_from(usize::from(n.wrong_type == 0), item, max, n)
}

fn list_from(min: usize, item: BoxedStrategy<Json>, max: usize, n: Noise) -> BoxedStrategy<Json> {
    let items = vec(item.clone(), min..max).prop_map(Json::Arr).boxed();
    let odd = prop_oneof![item, Just(Json::Null)].boxed();
    either((10, items), (n.wrong_type, odd))
}

/// An object whose keys are words of `keys` and values from `value`; only noisy
/// ones repeat a key.
fn map(keys: BoxedStrategy<Json>, value: BoxedStrategy<Json>, n: Noise) -> BoxedStrategy<Json> {
    vec((keys, value), 0..5)
        .prop_map(move |entries| {
            let mut members: Vec<(String, Json)> = Vec::new();
            for (k, v) in entries {
                let k = match k {
                    Json::Str(k) => k,
                    other => other.render(LAYOUTS[0]),
                };
                if n.wrong_type > 0 || !members.iter().any(|(seen, _)| *seen == k) {
                    members.push((k, v));
                }
            }
            Json::Obj(members)
        })
        .boxed()
}

fn profile_json(n: Noise) -> BoxedStrategy<Json> {
    let k = PROFILE_KEYS;
    let condition = object(
        vec![
            field("caps", list(word(&CAPS, n), 4, n), n, k),
            field("arches", list(word(&DOCKER_ARCHES, n), 4, n), n, k),
            field("minKernel", word(&KERNELS, n), n, k),
        ],
        n,
        k,
    );
    let arg = object(
        vec![
            field("index", int(0..=5, n), n, k),
            field("value", int(0..=u64::MAX, n), n, k),
            field("valueTwo", int(0..=u64::MAX, n), n, k),
            required("op", word(&OPS, n), n, k),
        ],
        n,
        k,
    );
    let mut rule_fields = vec![
        required("names", list1(syscall(n), 5, n), n, k),
        required("action", word(&ACTIONS, n), n, k),
        field("errnoRet", int(0..=4095, n), n, k),
        field("errno", word(&ERRNOS, n), n, k),
        field("args", list(arg, 4, n), n, k),
        field("comment", text_json(), n, k),
        field("includes", condition.clone(), n, k),
        field("excludes", condition, n, k),
    ];
    if n.wrong_type > 0 {
        rule_fields.push(field("name", syscall(n), n, k));
    }
    let rule = object(rule_fields, n, k);
    let arch_map = object(
        vec![
            required("architecture", word(&ARCHES, n), n, k),
            field("subArchitectures", list(word(&ARCHES, n), 4, n), n, k),
        ],
        n,
        k,
    );
    // Docker refuses both at once; a clean profile has one of them.
    let arches = if n.wrong_type > 0 {
        vec![
            field("architectures", list(word(&ARCHES, n), 4, n), n, k),
            field("archMap", list(arch_map, 4, n), n, k),
        ]
    } else {
        vec![prop_oneof![
            field("architectures", list(word(&ARCHES, n), 4, n), n, k),
            field("archMap", list(arch_map, 4, n), n, k),
        ]
        .boxed()]
    };
    let mut fields = vec![
        required("defaultAction", word(&ACTIONS, n), n, k),
        field("defaultErrnoRet", int(0..=4095, n), n, k),
        field("defaultErrno", word(&ERRNOS, n), n, k),
        field("flags", list(word(&FILTER_FLAGS, n), 3, n), n, k),
        field("listenerPath", text_json(), n, k),
        field("listenerMetadata", text_json(), n, k),
        field("syscalls", list(rule, 6, n), n, k),
    ];
    fields.extend(arches);
    object(fields, n, k)
}

fn probe_key(n: Noise) -> BoxedStrategy<Json> {
    let ids: Vec<&'static str> = CATALOG.iter().map(|p| p.id).collect();
    let ids = select(ids).prop_map(|id| Json::Str(id.to_string())).boxed();
    prop_oneof![4 => ids, 1 => word(&STEPS, n)].boxed()
}

/// A scenario's `runtimes`; only noisy ones name a runtime twice.
fn runtimes(n: Noise) -> BoxedStrategy<Json> {
    list1(word(&RUNTIMES, n), 4, n)
        .prop_map(move |list| match list {
            Json::Arr(items) if n.wrong_type == 0 => {
                let mut seen: Vec<String> = Vec::new();
                let mut kept = Vec::new();
                for item in items {
                    if let Json::Str(spec) = &item {
                        let name = spec.split('=').next().unwrap_or_default().to_string();
                        if seen.contains(&name) {
                            continue;
                        }
                        seen.push(name);
                    }
                    kept.push(item);
                }
                Json::Arr(kept)
            }
            other => other,
        })
        .boxed()
}

fn scenario_json(n: Noise) -> BoxedStrategy<Json> {
    let k = SCENARIO_KEYS;
    let expectations = |runtimes: Option<BoxedStrategy<Json>>| {
        let mut fields = vec![
            field("start", word(&STARTS, n), n, k),
            field("default", word(&VERDICTS, n), n, k),
            field("goals", map(word(&GOALS, n), word(&VERDICTS, n), n), n, k),
            field("probes", map(probe_key(n), word(&VERDICTS, n), n), n, k),
        ];
        if let Some(per_runtime) = runtimes {
            fields.push(field(
                "runtimes",
                map(word(&RUNTIMES, n), per_runtime, n),
                n,
                k,
            ));
        }
        object(fields, n, k)
    };
    let profile = prop_oneof![
        4 => word(&PROFILE_PATHS, n),
        2 => list1(word(&PROFILE_PATHS, n), 3, n),
        3 => object(vec![required("inline", profile_json(n), n, k)], n, k),
    ]
    .boxed();
    let settings = object(
        vec![
            field(
                "read_only",
                any::<bool>().prop_map(Json::Bool).boxed(),
                n,
                k,
            ),
            field("cap_add", list(word(&CAP_FLAGS, n), 3, n), n, k),
            field("cap_drop", list(word(&CAP_FLAGS, n), 3, n), n, k),
            field("volumes", list(word(&VOLUMES, n), 3, n), n, k),
            field("tmpfs", list(word(&TMPFS, n), 3, n), n, k),
            field("user", word(&USERS, n), n, k),
            field("network", word(&NETWORKS, n), n, k),
            field("security_opt", list(word(&SECURITY_OPTS, n), 3, n), n, k),
            field("rootfs", word(&ROOTFS, n), n, k),
        ],
        n,
        k,
    );
    let ids: Vec<&'static str> = CATALOG.iter().map(|p| p.id).collect();
    let patterns = prop_oneof![word(&PATTERNS, n), strs(Box::leak(ids.into_boxed_slice()))].boxed();
    object(
        vec![
            field("name", word(&NAMES, n), n, k),
            field("description", text_json(), n, k),
            field("profile", profile, n, k),
            field("settings", settings, n, k),
            required("runtimes", runtimes(n), n, k),
            field("probes", list(patterns, 4, n), n, k),
            field("timeout", int(1..=3600, n), n, k),
            field("expect", expectations(Some(expectations(None))), n, k),
        ],
        n,
        k,
    )
}

fn protocol_json(n: Noise) -> BoxedStrategy<Json> {
    let k = PROTOCOL_KEYS;
    let maybe_text = prop_oneof![3 => text_json(), 1 => Just(Json::Null)].boxed();
    let id = int(0..=u64::from(u32::MAX), n);
    object(
        vec![
            required("v", int(1..=1, n), n, k),
            required("event", word(&EVENTS, n), n, k),
            field("nonce", maybe_text.clone(), n, k),
            field("after", maybe_text.clone(), n, k),
            field("pid", id.clone(), n, k),
            field("uid", id.clone(), n, k),
            field("gid", id, n, k),
            field("step", probe_key(n), n, k),
            field("outcome", word(&OUTCOMES, n), n, k),
            field("mechanism", maybe_text, n, k),
            field("detail", text_json(), n, k),
        ],
        n,
        k,
    )
}

/// A document from `doc` at both noise levels, in any layout.
fn rendered(doc: fn(Noise) -> BoxedStrategy<Json>) -> BoxedStrategy<String> {
    let docs = prop_oneof![doc(CLEAN), doc(NOISY)];
    (docs, select(LAYOUTS))
        .prop_map(|(doc, layout)| doc.render(layout))
        .boxed()
}

fn rendered_any(keys: &'static [&'static str]) -> BoxedStrategy<String> {
    (any_json(keys), select(LAYOUTS))
        .prop_map(|(doc, layout)| doc.render(layout))
        .boxed()
}

/// Text that is mostly JSON's own characters and tokens.
fn json_soup() -> BoxedStrategy<String> {
    vec(
        prop_oneof![
            3 => select(TOKENS).prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
            1 => select(NUMBERS).prop_map(str::to_string),
            1 => select(PROFILE_KEYS).prop_map(quote),
        ],
        0..48,
    )
    .prop_map(|parts| parts.concat())
    .boxed()
}

/// Deep nesting after a prefix that may already be wrong, left open or closed.
/// Deep enough for serde_json's recursion limit (128) and the code that finds an
/// error's position; far deeper input is the regression test at the end.
fn nested() -> BoxedStrategy<String> {
    const PREFIXES: &[&str] = &[
        "",
        "{\"runtimes\": 5, \"x\": ",
        "{\"defaultAction\": 5, \"x\": ",
        "{\"profile\": {\"inline\": ",
        "{\"syscalls\": ",
        "{\"v\":1,\"event\":\"done\",\"x\":",
    ];
    const OPENERS: &[(&str, &str)] = &[("[", "]"), ("{\"a\":", "}"), ("[{\"names\":", "}]")];
    (
        select(PREFIXES),
        select(OPENERS),
        0usize..3000,
        any::<bool>(),
    )
        .prop_map(|(prefix, (open, close), depth, closed)| {
            let mut text = format!("{prefix}{}", open.repeat(depth));
            if closed {
                text.push_str(&close.repeat(depth));
                if !prefix.is_empty() {
                    text.push('}');
                }
            }
            text
        })
        .boxed()
}

fn arbitrary_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => vec(any::<char>(), 0..256).prop_map(|cs| cs.into_iter().collect()),
        4 => json_soup(),
        1 => nested(),
    ]
    .boxed()
}
// ---------------------------------------------------------------------------------
// Seeds and their mutations

#[derive(Debug, Clone)]
struct Seed {
    path: PathBuf,
    bytes: Vec<u8>,
}

fn read_seeds(dirs: &[&str]) -> Vec<Seed> {
    let mut seeds = Vec::new();
    for dir in dirs {
        let dir = Path::new(MANIFEST_DIR).join(dir);
        let Ok(entries) = fs::read_dir(&dir) else {
            eprintln!("fuzz: skipping seeds in {}: cannot read it", dir.display());
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            if let Ok(bytes) = fs::read(&path) {
                seeds.push(Seed { path, bytes });
            }
        }
    }
    seeds
}

fn profile_seeds() -> &'static [Seed] {
    static SEEDS: OnceLock<Vec<Seed>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = Vec::new();
        match fs::read(DOCKER_DEFAULT) {
            Ok(bytes) => seeds.push(Seed {
                path: PathBuf::from(DOCKER_DEFAULT),
                bytes,
            }),
            Err(e) => eprintln!("fuzz: skipping seed {DOCKER_DEFAULT}: {e}"),
        }
        seeds.extend(read_seeds(&[
            "scenarios/profiles",
            "tests/fixtures/profiles",
            "tests/fixtures/scenarios/valid/profiles",
        ]));
        assert!(!seeds.is_empty(), "no profile seeds found");
        seeds
    })
}

fn scenario_seeds() -> &'static [Seed] {
    static SEEDS: OnceLock<Vec<Seed>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let seeds = read_seeds(&[
            "scenarios",
            "tests/fixtures/scenarios/valid",
            "tests/fixtures/scenarios/invalid",
        ]);
        assert!(!seeds.is_empty(), "no scenario seeds found");
        seeds
    })
}

/// Valid protocol lines, one of each event.
const PROTOCOL_SEEDS: &[&str] = &[
    r#"{"v":1,"event":"hello","nonce":"abc","after":null,"pid":1,"uid":0,"gid":0}"#,
    r#"{"v":1,"event":"hello","nonce":"abc","after":"spawn.fork","pid":7,"uid":65534,"gid":65534}"#,
    r#"{"v":1,"event":"start","step":"fs.write-mount@/scratch"}"#,
    r#"{"v":1,"event":"verdict","step":"spawn.fork","outcome":"blocked","mechanism":"EPERM","detail":"fork: Operation not permitted","nonce":null}"#,
    r#"{"v":1,"event":"verdict","step":"exec.execve","outcome":"escaped","mechanism":null,"detail":"payload ran","nonce":"abc"}"#,
    r#"{"v":1,"event":"done"}"#,
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Delete(Index, usize),
    Insert(Index, Vec<u8>),
    InsertToken(Index, &'static str),
    Truncate(Index),
    Duplicate { from: Index, len: usize, to: Index },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::SetByte(at, b)),
        2 => (any::<Index>(), 1usize..32).prop_map(|(at, n)| Mutation::Delete(at, n)),
        1 => (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(at, b)| Mutation::Insert(at, b)),
        3 => (any::<Index>(), select(TOKENS)).prop_map(|(at, t)| Mutation::InsertToken(at, t)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 1usize..256, any::<Index>())
            .prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
    ]
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        // A position in the bytes, or (for insertions) at their end.
        let within = |at: &Index| (len > 0).then(|| at.index(len));
        let gap = |at: &Index| at.index(len + 1);
        match self {
            Mutation::FlipBit(at, bit) => {
                if let Some(i) = within(at) {
                    bytes[i] ^= 1 << bit;
                }
            }
            Mutation::SetByte(at, b) => {
                if let Some(i) = within(at) {
                    bytes[i] = *b;
                }
            }
            Mutation::Delete(at, n) => {
                if let Some(i) = within(at) {
                    bytes.drain(i..(i + n).min(len));
                }
            }
            Mutation::Insert(at, b) => {
                let i = gap(at);
                bytes.splice(i..i, b.iter().copied());
            }
            Mutation::InsertToken(at, t) => {
                let i = gap(at);
                bytes.splice(i..i, t.bytes());
            }
            Mutation::Truncate(at) => bytes.truncate(gap(at)),
            Mutation::Duplicate { from, len: n, to } => {
                if let Some(i) = within(from) {
                    let piece = bytes[i..(i + n).min(len)].to_vec();
                    let j = gap(to);
                    bytes.splice(j..j, piece);
                }
            }
        }
    }
}

/// A seed and what is done to it; `Debug` shows the mutated text, the smallest
/// failing case proptest found being what a report needs.
#[derive(Clone)]
struct Mutated {
    path: PathBuf,
    bytes: Vec<u8>,
    mutations: Vec<Mutation>,
}

impl Debug for Mutated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutated")
            .field("seed", &self.path)
            .field("mutations", &self.mutations)
            .field("result", &String::from_utf8_lossy(&self.bytes))
            .finish()
    }
}

fn mutated(seeds: &'static [Seed]) -> impl Strategy<Value = Mutated> {
    // Mostly one or two changes, which keep the rest of the file valid, so that
    // the error lands anywhere in a long, well-formed document.
    let mutations = prop_oneof![3 => vec(mutation(), 1..3), 1 => vec(mutation(), 3..10)];
    (select(seeds), mutations).prop_map(|(seed, mutations)| {
        let mut bytes = seed.bytes.clone();
        for m in &mutations {
            m.apply(&mut bytes);
        }
        Mutated {
            path: seed.path.clone(),
            bytes,
            mutations,
        }
    })
}

/// Mutations of generated documents too, so that syntax errors land deep inside
/// well-formed structure rather than only in the seeds' shapes.
fn mutated_text(doc: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (doc, vec(mutation(), 1..4)).prop_map(|(text, mutations)| {
        let mut bytes = text.into_bytes();
        for m in &mutations {
            m.apply(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Raw bytes for the loaders, which read files: arbitrary ones, or a mutated seed
/// kept as bytes (so mostly UTF-8 with a bad sequence somewhere).
fn file_bytes(seeds: &'static [Seed]) -> impl Strategy<Value = (PathBuf, Vec<u8>)> {
    prop_oneof![
        vec(any::<u8>(), 0..512).prop_map(|b| (PathBuf::new(), b)),
        mutated(seeds).prop_map(|m| (m.path, m.bytes)),
    ]
}

/// A directory of this test's own under the system's temporary directory, removed
/// when dropped. Scenario files written there find the shipped profiles under
/// `profiles/`, as they would beside the shipped scenarios.
struct Scratch(PathBuf);

impl Scratch {
    fn new(target: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("breakout-fuzz-{}-{target}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the fuzz scratch directory");
        std::os::unix::fs::symlink(
            Path::new(MANIFEST_DIR).join("scenarios/profiles"),
            dir.join("profiles"),
        )
        .expect("link the shipped profiles into the scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------
// Profiles

#[test]
fn profile_parse_arbitrary_text() {
    let path = generated_profile_path();
    fuzz(
        "profile_parse_arbitrary_text",
        "accepted",
        arbitrary_text(),
        |text| check_profile_text(&text, path),
    );
}

#[test]
fn profile_parse_structured() {
    let path = generated_profile_path();
    let doc = prop_oneof![
        6 => rendered(profile_json),
        2 => rendered_any(PROFILE_KEYS),
        2 => mutated_text(rendered(profile_json)),
    ];
    fuzz("profile_parse_structured", "accepted", doc, |text| {
        check_profile_text(&text, path)
    });
}

#[test]
fn profile_parse_mutated_seeds() {
    fuzz(
        "profile_parse_mutated_seeds",
        "accepted",
        mutated(profile_seeds()),
        |m| check_profile_text(&String::from_utf8_lossy(&m.bytes), &m.path),
    );
}

#[test]
fn profile_load_bytes() {
    let scratch = Scratch::new("profile");
    let path = scratch.0.join("profile.json");
    fuzz(
        "profile_load_bytes",
        "accepted",
        file_bytes(profile_seeds()),
        |(_, bytes)| {
            fs::write(&path, &bytes).expect("write the fuzz input");
            let text = String::from_utf8_lossy(&bytes);
            match Profile::load(&path) {
                Ok(_) => Ok(true),
                Err(e) => check_profile_error(&e, &path, &text).map(|()| false),
            }
        },
    );
}

// ---------------------------------------------------------------------------------
// Scenarios

#[test]
fn scenario_parse_arbitrary_text() {
    let path = generated_scenario_path();
    fuzz(
        "scenario_parse_arbitrary_text",
        "accepted",
        arbitrary_text(),
        |text| check_scenario_text(&text, &path),
    );
}

#[test]
fn scenario_parse_structured() {
    let path = generated_scenario_path();
    let doc = prop_oneof![
        6 => rendered(scenario_json),
        2 => rendered_any(SCENARIO_KEYS),
        2 => mutated_text(rendered(scenario_json)),
    ];
    fuzz("scenario_parse_structured", "accepted", doc, |text| {
        check_scenario_text(&text, &path)
    });
}

#[test]
fn scenario_parse_mutated_seeds() {
    fuzz(
        "scenario_parse_mutated_seeds",
        "accepted",
        mutated(scenario_seeds()),
        |m| check_scenario_text(&String::from_utf8_lossy(&m.bytes), &m.path),
    );
}

#[test]
fn scenario_load_bytes() {
    let scratch = Scratch::new("scenario");
    let path = scratch.0.join("scenario.json");
    fuzz(
        "scenario_load_bytes",
        "accepted",
        file_bytes(scenario_seeds()),
        |(_, bytes)| {
            fs::write(&path, &bytes).expect("write the fuzz input");
            let text = String::from_utf8_lossy(&bytes);
            match Scenario::load(&path) {
                Ok(_) => Ok(true),
                Err(e) => check_scenario_error(&e, &path, &text).map(|()| false),
            }
        },
    );
}

// ---------------------------------------------------------------------------------
// The probe protocol

/// An accepted line's event, printed again, reads back the same. True if accepted.
fn check_line(text: &str) -> Result<bool, TestCaseError> {
    let Ok(event) = parse_line(text) else {
        return Ok(false);
    };
    let again = Line::new(event.clone()).to_json();
    prop_assert!(
        !again.contains('\n'),
        "a printed line has a newline: {again}"
    );
    prop_assert_eq!(parse_line(&again), Ok(event));
    Ok(true)
}

#[test]
fn protocol_parse_line_arbitrary_text() {
    fuzz(
        "protocol_parse_line_arbitrary_text",
        "accepted",
        arbitrary_text(),
        |text| check_line(&text),
    );
}

#[test]
fn protocol_parse_line_structured() {
    let seeds = select(PROTOCOL_SEEDS).prop_map(str::to_string);
    let doc = prop_oneof![
        5 => rendered(protocol_json),
        1 => rendered_any(PROTOCOL_KEYS),
        2 => mutated_text(rendered(protocol_json)),
        2 => mutated_text(seeds),
    ];
    fuzz("protocol_parse_line_structured", "accepted", doc, |text| {
        check_line(&text)
    });
}

const INVOCATION_FLAGS: &[&str] = &[
    "--nonce", "--after", "--canary", "--shell", "--mount", "--fault", "--probes",
];

const INVOCATION_WORDS: &[&str] = &[
    "--bogus",
    "--",
    "-n",
    "--nonce=abc",
    "",
    ",",
    "spawn.fork,exec.execve",
    ",,a,,",
    "hang@spawn.fork",
    "127.0.0.1:9",
    "/scratch",
];

/// An argv: flag and value pairs as `to_args` writes them (a nonce mostly
/// included), now and then a stray word or a flag without its value; or any words.
fn invocation_args() -> impl Strategy<Value = Vec<String>> {
    let word = prop_oneof![
        3 => select(INVOCATION_WORDS).prop_map(str::to_string),
        1 => select(INVOCATION_FLAGS).prop_map(str::to_string),
        2 => text(),
    ];
    let pair = (select(INVOCATION_FLAGS), word.clone())
        .prop_map(|(flag, value)| vec![flag.to_string(), value]);
    let item = prop_oneof![
        8 => pair,
        1 => word.clone().prop_map(|w| vec![w]),
    ];
    let nonce = prop_oneof![
        4 => text().prop_map(|n| vec!["--nonce".to_string(), n]),
        1 => Just(Vec::new()),
    ];
    // Pairs move as units, so a shuffled argv still reads as flags and values.
    let pairs = (nonce, vec(item, 0..8))
        .prop_map(|(nonce, items)| {
            let mut units = items;
            if !nonce.is_empty() {
                units.push(nonce);
            }
            units
        })
        .prop_shuffle()
        .prop_map(|units| units.into_iter().flatten().collect());
    prop_oneof![4 => pairs, 1 => vec(word, 0..14)]
}

#[test]
fn invocation_parse() {
    fuzz("invocation_parse", "accepted", invocation_args(), |args| {
        let Ok(inv) = Invocation::parse(&args) else {
            return Ok(false);
        };
        prop_assert!(!inv.nonce.is_empty());
        prop_assert_eq!(Invocation::parse(&inv.to_args()), Ok(inv));
        Ok(true)
    });
}

// ---------------------------------------------------------------------------------
// The line splitter

/// A reader that hands its bytes out in chunks of the given sizes (cycling), as a
/// pipe does, so lines straddle every kind of boundary.
struct Chunked {
    bytes: Cursor<Vec<u8>>,
    sizes: Vec<usize>,
    next: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        let n = size.min(buf.len());
        self.bytes.read(&mut buf[..n])
    }
}

/// What the splitter should hand on: each `\n`-terminated line and a last unterminated
/// one if non-empty, cut to `MAX_LINE` bytes (then marked overlong), the first
/// `MAX_LINES` of them.
fn expected_lines(input: &[u8]) -> Vec<(bool, String)> {
    let segments: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let last = segments.len() - 1;
    let mut out = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        if i == last && segment.is_empty() {
            break;
        }
        let kept = &segment[..segment.len().min(MAX_LINE)];
        let mut text = String::from_utf8_lossy(kept).into_owned();
        // Replacement characters take three bytes: the line is cut back to the bound.
        if text.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        out.push((segment.len() > MAX_LINE, text));
    }
    out.truncate(MAX_LINES);
    out
}

/// Input built from pieces, some repeated many times: over ten thousand lines,
/// lines just under, at and over `MAX_LINE`, invalid UTF-8 and multibyte characters
/// cut at the bound.
fn splitter_input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => vec(prop_oneof![3 => Just(b'\n'), 5 => any::<u8>()], 0..24),
        1 => select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
        1 => select(PROTOCOL_SEEDS).prop_map(|l| format!("{l}\n").into_bytes()),
    ];
    let repeat = prop_oneof![
        8 => 1usize..4,
        1 => 1usize..3000,
        1 => (MAX_LINE - 8)..(MAX_LINE + 8),
        1 => (MAX_LINES - 2)..(MAX_LINES + 3),
    ];
    vec((piece, repeat), 0..8).prop_map(|parts| {
        let mut out = Vec::new();
        for (piece, n) in parts {
            for _ in 0..n {
                out.extend_from_slice(&piece);
                if out.len() > 1 << 20 {
                    return out;
                }
            }
        }
        out
    })
}

fn collect(source: impl Read) -> Vec<(bool, String)> {
    split_all(source)
        .into_iter()
        .map(|incoming| match incoming {
            Incoming::Line(l) => (false, l),
            Incoming::Overlong(l) => (true, l),
        })
        .collect()
}

/// `got` is what the splitter handed on for `input`. True if the input reached a bound:
/// an overlong line, or `MAX_LINES` lines.
fn check_split(input: &[u8], got: &[(bool, String)]) -> Result<bool, TestCaseError> {
    let want = expected_lines(input);
    let newlines = input.iter().filter(|&&b| b == b'\n').count();
    prop_assert!(
        got.len() >= newlines.min(MAX_LINES),
        "{} newline-terminated line(s) but only {} sent",
        newlines,
        got.len()
    );
    prop_assert!(got.len() <= MAX_LINES, "{} lines sent", got.len());
    for (i, (overlong, line)) in got.iter().enumerate() {
        // Each character of the text stands for at least one byte that was read.
        prop_assert!(
            line.chars().count() <= MAX_LINE,
            "line {i} has {} characters",
            line.chars().count()
        );
        prop_assert!(!line.contains('\n'), "line {i} holds a newline");
        let Some((want_overlong, want_line)) = want.get(i) else {
            return Err(TestCaseError::fail(format!(
                "line {i} was sent but the input has only {} lines",
                want.len()
            )));
        };
        prop_assert_eq!(overlong, want_overlong, "line {}: overlong flag", i);
        prop_assert!(
            line == want_line,
            "line {i} differs: got {} bytes starting {:?}, want {} bytes starting {:?}",
            line.len(),
            line.chars().take(40).collect::<String>(),
            want_line.len(),
            want_line.chars().take(40).collect::<String>()
        );
    }
    prop_assert_eq!(got.len(), want.len());
    Ok(newlines >= MAX_LINES || want.iter().any(|(overlong, _)| *overlong))
}

#[test]
fn line_splitter_cursor() {
    fuzz(
        "line_splitter_cursor",
        "at a bound",
        splitter_input(),
        |input| {
            let got = collect(Cursor::new(input.clone()));
            check_split(&input, &got)
        },
    );
}

#[test]
fn line_splitter_chunked() {
    let sizes = vec(
        prop_oneof![3 => 1usize..16, 1 => 4090usize..4100, 1 => 8190usize..8200],
        1..6,
    );
    fuzz(
        "line_splitter_chunked",
        "at a bound",
        (splitter_input(), sizes),
        |(input, sizes)| {
            let reader = Chunked {
                bytes: Cursor::new(input.clone()),
                sizes,
                next: 0,
            };
            check_split(&input, &collect(reader))
        },
    );
}

// ---------------------------------------------------------------------------------
// Regressions: inputs the fuzzer found, named after what they break

#[test]
fn line_splitter_output_bytes_stay_within_max_line() {
    // A line of MAX_LINE invalid bytes is cut at MAX_LINE bytes, but from_utf8_lossy
    // then turns each byte into U+FFFD (three bytes): the line handed on is three
    // times MAX_LINE.
    let mut input = vec![0xff; MAX_LINE + 1];
    input.push(b'\n');
    for (overlong, line) in collect(Cursor::new(input)) {
        assert!(
            line.len() <= MAX_LINE,
            "the splitter handed on a line of {} bytes (overlong: {overlong}), over MAX_LINE = {MAX_LINE}",
            line.len()
        );
    }
}

/// A scenario whose `runtimes` has the wrong type, followed by `depth` unclosed
/// lists: serde stops at the type error, long before its recursion limit.
fn deeply_nested_scenario(depth: usize) -> String {
    format!("{{\"runtimes\": 5, \"x\": {}", "[".repeat(depth))
}

#[test]
fn scenario_error_position_survives_deep_nesting() {
    // Placing the error in the text (scenario/error.rs `locate`) skips the whole
    // document; it once recursed per nesting level, so ~300 KB of `[` after a type
    // error overflowed the stack and aborted `breakout test` instead of exiting 2.
    // Now iterative: two million levels on a main thread's stack size.
    let text = deeply_nested_scenario(2_000_000);
    let path = generated_scenario_path();
    let parsed = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            Scenario::parse(&text, &path)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .expect("spawn the parsing thread")
        .join()
        .expect("the parsing thread panicked");
    let message = parsed.expect_err("a scenario with \"runtimes\": 5 must be refused");
    let want = format!("{}:1:14: runtimes: ", generated_scenario_path().display());
    assert!(message.starts_with(&want), "{message}");
}
