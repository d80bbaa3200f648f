//! The HTML report (`--html FILE`) in a real browser: a `run` under runc with a profile
//! that denies fork (so the grid has a blocked cell and escaped ones) and a `test`
//! suite against a baseline are each loaded in headless Chromium, whose DOM must hold
//! the known cells and trials, and whose screenshot at laptop width (1366 × 900) is
//! kept beside the build for CI to publish. The page must ask for nothing from the
//! network, and an unwritable `--html` path is an environment error naming the file.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::needs::{Host, Need, RUNC};
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};

const CHROMIUM: Need = Need::Program {
    name: "chromium",
    from: "apt-get install chromium",
};

/// A profile that lets everything through but fork.
const NO_FORK: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["fork"],"action":"SCMP_ACT_ERRNO"}]}"#;

/// Where the screenshots are kept: the build's target directory, a stable path CI can
/// publish as an artifact.
fn artifact(name: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join(name)
}

/// Headless Chromium with `args` and a profile directory of its own, bounded in time.
fn chromium(scratch: &Scratch, args: &[&str], page: &Path) -> Result<String, Failed> {
    let profile = scratch.sub("chromium-profile");
    let out = Command::new("timeout")
        .args([
            "120",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .map_err(|e| format!("chromium did not start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "chromium {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A PNG of the given size, checked by its signature and header.
fn screenshot(scratch: &Scratch, page: &Path, name: &str) -> TestResult {
    let png = artifact(name);
    let _ = std::fs::remove_file(&png);
    chromium(
        scratch,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1366,900",
            "--hide-scrollbars",
        ],
        page,
    )?;
    let bytes = std::fs::read(&png).map_err(|e| format!("{}: {e}", png.display()))?;
    let size = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    if bytes.len() < 24 || !bytes.starts_with(b"\x89PNG\r\n\x1a\n") || &bytes[12..16] != b"IHDR" {
        return Err(format!("{} is not a PNG", png.display()).into());
    }
    if (size(16), size(20)) != (1366, 900) {
        return Err(format!("{}: {}x{}, not 1366x900", png.display(), size(16), size(20)).into());
    }
    println!("screenshot: {}", png.display());
    Ok(())
}

/// Nothing in the page's `src` or `href` attributes leaves the file.
fn loads_nothing(html: &str) -> TestResult {
    for attr in ["src=", "href="] {
        for (at, _) in html.match_indices(attr) {
            let value = html[at + attr.len()..].trim_start_matches(['"', '\'']);
            let value = value.to_ascii_lowercase();
            if ["http://", "https://", "//"]
                .iter()
                .any(|p| value.starts_with(p))
            {
                let end = (at + 80).min(html.len());
                return Err(format!("the page loads from the network: {}", &html[at..end]).into());
            }
        }
    }
    Ok(())
}

fn contains_all(what: &str, text: &str, needles: &[&str]) -> TestResult {
    for needle in needles {
        if !text.contains(needle) {
            return Err(format!("{what} lacks {needle}:\n{text}").into());
        }
    }
    Ok(())
}

fn run_page_in_a_browser() -> TestResult {
    let scratch = Scratch::new("html-run");
    let profile = scratch.path().join("no-fork.json");
    std::fs::write(&profile, NO_FORK).unwrap();
    let page = scratch.path().join("report.html");
    let (outcome, report) = run_json(&[
        "--runtime",
        "runc",
        "--profile",
        &profile.display().to_string(),
        "--probe",
        "spawn.*",
        "--html",
        &page.display().to_string(),
    ])?;
    outcome.expect_code(1)?;
    expect(&report, "spawn.fork", "blocked", Some("EPERM"), None)?;
    expect(&report, "spawn.vfork", "escaped", None, Some("witnessed"))?;
    let html = std::fs::read_to_string(&page).map_err(|e| format!("{}: {e}", page.display()))?;
    loads_nothing(&html)?;
    // The DOM as the browser built it: the grid, escapes grouped first, the two cells.
    let dom = chromium(&scratch, &["--dump-dom"], &page)?;
    contains_all(
        "the run page's DOM",
        &dom,
        &[
            "<table class=\"grid\" id=\"grid\">",
            "<tbody class=\"escapes\">",
            "data-runtime=\"runc\" data-step=\"spawn.fork\" data-outcome=\"blocked\"",
            "data-runtime=\"runc\" data-step=\"spawn.vfork\" data-outcome=\"escaped\"",
            // The prediction names the deciding rule's place in the profile file.
            &format!("{}:1:", profile.display()),
            "id=\"subject\"",
            // The network the verdicts were measured on: the default bridge.
            "<span id=\"network\">bridge: ",
        ],
    )?;
    let escapes = dom.find("<tbody class=\"escapes\">").unwrap_or(0);
    let vfork = dom.find("<tr data-step=\"spawn.vfork\"").unwrap_or(0);
    let fork = dom.find("<tr data-step=\"spawn.fork\"").unwrap_or(0);
    if !(escapes < vfork && vfork < fork) {
        return Err(
            format!("the escaped row is not grouped before the blocked one:\n{dom}").into(),
        );
    }
    screenshot(&scratch, &page, "html-report-screenshot.png")
}

/// Two scenarios under runc: one whose expectations hold, one that expects vfork
/// blocked (a failed trial); run twice, the second against the first's JSON report.
fn suite_page_in_a_browser() -> TestResult {
    let scratch = Scratch::new("html-suite");
    let dir = scratch.sub("scenarios");
    let scenario = |name: &str, vfork: &str| {
        serde_json::json!({
            "name": name,
            "profile": {"inline": serde_json::from_str::<serde_json::Value>(NO_FORK).unwrap()},
            "runtimes": ["runc"],
            "probes": ["spawn.fork", "spawn.vfork"],
            "expect": {"default": "blocked", "probes": {"spawn.vfork": vfork}}
        })
    };
    for (name, vfork) in [("holds", "escaped"), ("hopes", "blocked")] {
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_string_pretty(&scenario(name, vfork)).unwrap(),
        )
        .unwrap();
    }
    let dir = dir.display().to_string();
    let baseline = scratch.path().join("baseline.json").display().to_string();
    breakout(&["test", &dir, "--json", &baseline]).expect_code(1)?;
    let page = scratch.path().join("suite.html");
    let outcome = breakout(&[
        "test",
        &dir,
        "--baseline",
        &baseline,
        "--html",
        &page.display().to_string(),
    ]);
    // Nothing got worse than the baseline.
    outcome.expect_code(0)?;
    let html = std::fs::read_to_string(&page).map_err(|e| format!("{}: {e}", page.display()))?;
    loads_nothing(&html)?;
    let dom = chromium(&scratch, &["--dump-dom"], &page)?;
    contains_all(
        "the suite page's DOM",
        &dom,
        &[
            "id=\"baseline\"",
            "<tr data-trial=\"holds::runc\" data-status=\"passed\">",
            "<tr data-trial=\"hopes::runc\" data-status=\"failed\">",
            "<td class=\"network\">bridge</td>",
            "<section class=\"scenario\" data-scenario=\"hopes\">",
            "data-runtime=\"runc\" data-step=\"spawn.vfork\" data-outcome=\"escaped\" data-ok=\"false\"",
            "data-runtime=\"runc\" data-step=\"spawn.fork\" data-outcome=\"blocked\" data-ok=\"true\"",
        ],
    )?;
    screenshot(&scratch, &page, "html-suite-screenshot.png")
}

/// The run happens; the page cannot be written: exit 3, the file named.
fn unwritable_html_path_is_an_environment_error() -> TestResult {
    let scratch = Scratch::new("html-unwritable");
    let page = scratch.path().join("no-such-dir/report.html");
    let page = page.display().to_string();
    let outcome = breakout(&[
        "run",
        "--runtime",
        "runc",
        "--probe",
        "spawn.fork",
        "--html",
        &page,
    ]);
    outcome.expect_code(3)?;
    if !outcome.stderr.contains(&format!("failed to write {page}")) {
        return Err(format!("stderr does not name {page}:\n{}", outcome.stderr).into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut host = Host::default();
    let browser: Vec<Need> = RUNC.iter().copied().chain([CHROMIUM]).collect();
    let trials: Vec<Trial> = vec![
        host.trial("run_page_in_a_browser", &browser, run_page_in_a_browser),
        host.trial("suite_page_in_a_browser", &browser, suite_page_in_a_browser),
        host.trial(
            "unwritable_html_path_is_an_environment_error",
            RUNC,
            unwritable_html_path_is_an_environment_error,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
