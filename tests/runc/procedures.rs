//! The container cases that drive processes themselves, referenced by name from the
//! table in `basics.rs`: an interrupt mid-run, and a bundle run by hand under runc.

use crate::common::*;

/// SIGINT mid-run: the container is killed and deleted, the report is written with
/// what did not run, exit 130.
pub fn interrupt_cleans_up_and_reports() -> TestResult {
    let tmp = Scratch::new("interrupt");
    let report_path = tmp.path().join("report.json");
    let run_tmp = tmp.sub("tmp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_breakout"))
        .args([
            "run",
            "--format",
            "json",
            "--probe",
            "spawn.*",
            "--inject-fault",
            "hang@spawn.clone",
            "--output",
        ])
        .arg(&report_path)
        .env("TMPDIR", &run_tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the container is running (its state dir exists), then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&run_tmp).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "run never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: kill with a pid we spawned and a valid signal number.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_nothing_left(pid, &run_tmp);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    expect(&report, "spawn.fork", "escaped", None, None)?;
    expect(&report, "spawn.clone", "not-run", Some("interrupted"), None)?;
    expect(
        &report,
        "spawn.clone3",
        "not-run",
        Some("interrupted"),
        None,
    )?;
    Ok(())
}

/// The bundle `--emit-bundle` writes runs by hand under runc, and its probes give the
/// verdicts the harness gives for the same settings (the bench times the probes this
/// way, without the harness).
pub fn emitted_bundle_runs_by_hand() -> TestResult {
    let scratch = Scratch::new("emit");
    let dir = scratch.path().join("bundle");
    let dir_arg = dir.display().to_string();
    let settings = [
        "--cap-drop",
        "ALL",
        "--probe",
        "spawn.*",
        "--probe",
        "fs.write-rootfs",
        "--probe",
        "net.tcp-connect",
        "--probe",
        "exec.execve",
    ];
    let mut args = vec!["run", "--emit-bundle", &dir_arg];
    args.extend(settings);
    let out = breakout(&args);
    out.expect_code(0)?;
    assert!(out.stderr.contains("runc run --bundle"), "{}", out.stderr);
    // The default bridge is made per run: the bundle has none, and says so; a bridge
    // asked for is refused.
    assert!(
        out.stderr.contains("the bundle's network is none"),
        "{}",
        out.stderr
    );
    let bridge_dir = scratch.path().join("bridge").display().to_string();
    let bridge = breakout(&["run", "--emit-bundle", &bridge_dir, "--network", "bridge"]);
    bridge.expect_code(2)?;
    assert!(
        bridge.stderr.contains("--network bridge"),
        "{}",
        bridge.stderr
    );
    // A second time into the same, now full, directory: a usage error, nothing touched.
    let again = breakout(&args);
    again.expect_code(2)?;
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
    let state = scratch.path().join("state");
    let id = format!("breakout-test-emit-{}", std::process::id());
    let by_hand = std::process::Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle", &dir_arg, &id])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("runc run: {e}"))?;
    let lines = String::from_utf8_lossy(&by_hand.stdout);
    if !by_hand.status.success() || !lines.contains(r#""event":"done""#) {
        return Err(format!(
            "runc run of the emitted bundle: {:?}\nstdout: {lines}\nstderr: {}",
            by_hand.status,
            String::from_utf8_lossy(&by_hand.stderr)
        )
        .into());
    }
    let mut by_hand_verdicts = std::collections::BTreeMap::new();
    for line in lines.lines() {
        if let Ok(breakout::protocol::Event::Verdict { step, outcome, .. }) =
            breakout::protocol::parse_line(line)
        {
            by_hand_verdicts.insert(step, format!("{outcome:?}").to_lowercase());
        }
    }
    let mut harness_args = settings.to_vec();
    harness_args.extend(["--network", "none"]);
    let (_, report) = run_json(&harness_args)?;
    let harness: std::collections::BTreeMap<String, String> = report["runs"][0]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let step = match v["target"].as_str() {
                Some(t) => format!("{}@{t}", v["probe"].as_str().unwrap()),
                None => v["probe"].as_str().unwrap().to_string(),
            };
            (step, v["outcome"].as_str().unwrap().replace('-', ""))
        })
        .collect();
    if harness.len() < 7 || by_hand_verdicts != harness {
        return Err(format!("by hand: {by_hand_verdicts:?}\nharness: {harness:?}").into());
    }
    Ok(())
}
