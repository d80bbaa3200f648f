//! Attacks from inside: a hostile rootfs (its links, its shell) and other local users
//! against a run in progress (issue 10, items 1, 2, 4, 6 and 7).

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use std::ffi::OsStr;

use crate::common::needs::{NOTHING, RUNC};
use crate::common::*;

/// Trials of this group.
pub fn trials() -> Trials {
    vec![
        (
            "planted_setuid_file_is_out_of_other_users_reach",
            RUNC,
            planted_setuid_file_is_out_of_other_users_reach,
        ),
        (
            "rootfs_links_create_nothing_on_the_host",
            RUNC,
            rootfs_links_create_nothing_on_the_host,
        ),
        (
            "hostile_shell_cannot_forge_verdicts",
            RUNC,
            hostile_shell_cannot_forge_verdicts,
        ),
        (
            "image_code_killed_by_seccomp_is_not_blocked",
            RUNC,
            image_code_killed_by_seccomp_is_not_blocked,
        ),
        (
            "canary_ignores_local_floods_and_idle_connections",
            RUNC,
            canary_ignores_local_floods_and_idle_connections,
        ),
        (
            "rootfs_paths_are_never_mount_options",
            RUNC,
            rootfs_paths_are_never_mount_options,
        ),
        (
            "planted_names_do_not_reach_the_next_container",
            RUNC,
            planted_names_do_not_reach_the_next_container,
        ),
        (
            "witness_files_are_never_followed_or_waited_on",
            NOTHING,
            witness_files_are_never_followed_or_waited_on,
        ),
        (
            "a_rootfs_changed_to_cover_the_runner_stops_the_resume",
            RUNC,
            a_rootfs_changed_to_cover_the_runner_stops_the_resume,
        ),
    ]
}

const BUSYBOX: &str = "/bin/busybox";

/// A rootfs of the test's own: a copy of busybox and `/bin/sh` as a script run by it.
pub fn hostile_rootfs(dir: &Path, sh_script: &str) -> PathBuf {
    let root = dir.join("rootfs");
    for sub in ["bin", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let busybox = if Path::new(BUSYBOX).is_file() {
        BUSYBOX
    } else {
        "/usr/bin/busybox"
    };
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    let sh = root.join("bin/sh");
    std::fs::write(&sh, format!("#!/bin/busybox sh\n{sh_script}\n")).unwrap();
    std::fs::set_permissions(&sh, std::fs::Permissions::from_mode(0o755)).unwrap();
    root
}

/// Polls `what` every 20 ms until it gives a value or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut what: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = what() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes whose command line contains `text`: (pid, cmdline with spaces).
pub fn processes_with(text: &str) -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(text).then_some((pid, cmdline))
        })
        .collect()
}

/// Runs `sh -c SCRIPT` as the unprivileged user 65534; its exit status and output.
fn as_nobody(script: &str) -> (i32, String) {
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("setpriv runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn first_verdict(report: &Value, probe: &str) -> Value {
    report["runs"][0]["verdicts"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["probe"] == probe))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Item 1: the image's shell plants a set-uid root copy of busybox and a device node in
/// its writable rootfs and waits. Another local user can reach neither (the run and
/// state directories are root's alone), and the mounts under them are nosuid,nodev,
/// but for the tmpfs that holds the harness's own set-uid binary (`fs.setuid-binary`),
/// which is nodev, root's alone, and out of that user's reach too.
fn planted_setuid_file_is_out_of_other_users_reach() -> TestResult {
    let dir = Scratch::new("suid-plant");
    let rootfs = hostile_rootfs(
        dir.path(),
        "/bin/busybox cp /bin/busybox /planted\n\
         /bin/busybox chmod 4755 /planted\n\
         /bin/busybox mknod /planted-mem c 1 1\n\
         exec /bin/busybox sleep 7.25",
    );
    let run = Background::start(&[
        OsStr::new("run"),
        OsStr::new("--format"),
        OsStr::new("json"),
        OsStr::new("--rootfs"),
        rootfs.as_os_str(),
        OsStr::new("--probe"),
        OsStr::new("exec.shell"),
        OsStr::new("--probe"),
        OsStr::new("fs.setuid-binary"),
        OsStr::new("--timeout"),
        OsStr::new("30"),
    ]);
    // The plant is in place once the shell sleeps.
    wait_for(Duration::from_secs(20), || {
        (!processes_with("sleep 7.25").is_empty()).then_some(())
    })
    .ok_or("the hostile shell never started")?;
    let planted: Vec<PathBuf> = walk(run.tmp.path())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "planted"))
        .collect();
    if planted.is_empty() {
        return Err("the planted file is not under the run directory".into());
    }
    let harness_setuid: Vec<PathBuf> = walk(run.tmp.path())
        .into_iter()
        .filter(|p| {
            use std::os::unix::fs::MetadataExt;
            p.parent().is_some_and(|d| d.ends_with("setuid"))
                && std::fs::metadata(p).is_ok_and(|m| m.mode() & 0o4000 != 0)
        })
        .collect();
    if harness_setuid.is_empty() {
        return Err("the harness's set-uid binary is not under the run directory".into());
    }
    let mut attempts = String::new();
    for path in planted.iter().chain(&harness_setuid) {
        let quoted = shell_quote(path);
        attempts.push_str(&format!(
            "{quoted} id -u && echo REACHED; ls -l {quoted} && echo REACHED; "
        ));
    }
    // Every directory of the run, as another user: not listable, not traversable.
    let mut dirs = vec![run.tmp.path().to_path_buf()];
    dirs.extend(walk_dirs(run.tmp.path()));
    for state in std::fs::read_dir(breakout::bundle::SHORT_STATE_BASE)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{}-", run.pid()))
        })
    {
        dirs.push(state.path());
    }
    for dir in dirs.iter().skip(1) {
        let quoted = shell_quote(dir);
        attempts.push_str(&format!(
            "ls {quoted} >/dev/null 2>&1 && echo LISTED {quoted}; cd {quoted} 2>/dev/null && echo ENTERED {quoted}; "
        ));
    }
    let (_, said) = as_nobody(&attempts);
    let mounts =
        String::from_utf8_lossy(&std::fs::read("/proc/self/mountinfo").unwrap()).into_owned();
    let tmp = run.tmp.path().display().to_string();
    let unsafe_mounts: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(&tmp))
        .filter(|l| {
            let opts = l.split_whitespace().nth(5).unwrap_or("");
            let setuid_tmpfs = l
                .split_whitespace()
                .nth(4)
                .is_some_and(|target| target.ends_with("/setuid"));
            !(opts.contains("nodev") && (opts.contains("nosuid") || setuid_tmpfs))
        })
        .collect();
    let out = run.finish();
    if said.contains("REACHED") || said.contains("LISTED") || said.contains("ENTERED") {
        return Err(format!("another user reached the run: {said}").into());
    }
    if !unsafe_mounts.is_empty() {
        return Err(format!("mounts of the run without nosuid,nodev: {unsafe_mounts:?}").into());
    }
    let report = out.json()?;
    let shell = first_verdict(&report, "exec.shell");
    if shell["outcome"] != "escaped" || shell["image_code"] != true {
        return Err(format!("exec.shell: {shell}").into());
    }
    let setuid = first_verdict(&report, "fs.setuid-binary");
    if setuid["outcome"] != "escaped" || setuid["evidence"] != "witnessed" {
        return Err(format!("fs.setuid-binary: {setuid}").into());
    }
    if harness_setuid.iter().any(|p| p.exists()) {
        return Err(
            format!("the harness's set-uid binary outlived the run: {harness_setuid:?}").into(),
        );
    }
    Ok(())
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// Every file and directory under `dir` (as root), not following links.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk(&path));
            }
            out.push(path);
        }
    }
    out
}

fn walk_dirs(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .collect()
}

/// Item 2: an image whose `/.breakout` or `/.breakout/breakout-probe` is a link to a
/// host path (dangling or not), or whose volume destination links to `/.breakout`:
/// the harness creates nothing on the host and the trusted runner still runs.
fn rootfs_links_create_nothing_on_the_host() -> TestResult {
    let dir = Scratch::new("rootfs-links");
    let host = dir.sub("host-side");
    type Plant<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Plant)> = vec![
        (
            "dot-breakout links to a missing host directory",
            Box::new(|root: &Path| {
                symlink(
                    dir.path().join("host-side/made-by-harness"),
                    root.join(".breakout"),
                )
                .unwrap()
            }),
        ),
        (
            "dot-breakout links to an existing host directory",
            Box::new(|root: &Path| {
                symlink(dir.path().join("host-side"), root.join(".breakout")).unwrap()
            }),
        ),
        (
            "the probe's mount point links to a host file",
            Box::new(|root: &Path| {
                std::fs::create_dir(root.join(".breakout")).unwrap();
                symlink(
                    dir.path().join("host-side/probe-made-by-harness"),
                    root.join(".breakout/breakout-probe"),
                )
                .unwrap();
                symlink(
                    dir.path().join("host-side/sh-made-by-harness"),
                    root.join(".breakout/sh"),
                )
                .unwrap();
            }),
        ),
        (
            "bin links out of the image",
            Box::new(|root: &Path| {
                std::fs::remove_file(root.join("bin/sh")).unwrap();
                std::fs::create_dir(root.join("usr")).unwrap();
                symlink(dir.path().join("host-side"), root.join("usr/bin")).unwrap();
            }),
        ),
    ];
    for (i, (label, plant)) in cases.iter().enumerate() {
        let case = dir.sub(&format!("case{i}"));
        let root = hostile_rootfs(&case, "exit 0");
        plant(&root);
        let rootfs = root.display().to_string();
        let (out, report) = run_json(&["--rootfs", &rootfs, "--probe", "spawn.fork"])?;
        out.expect_code(1).map_err(|e| format!("{label}: {e:?}"))?;
        expect(&report, "spawn.fork", "escaped", None, None)
            .map_err(|e| format!("{label}: {e:?}"))?;
        let made: Vec<_> = std::fs::read_dir(&host)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        if !made.is_empty() {
            return Err(format!("{label}: the run created {made:?} on the host").into());
        }
    }
    Ok(())
}

/// Item 4: the image's `/bin/sh` prints forged protocol lines for other steps, for its
/// own step and `done`, on every descriptor it can find, and fakes a payload. No other
/// step's verdict changes (they are the same as under a benign rootfs), and its own
/// step is not "blocked": it ran image code and says so.
fn hostile_shell_cannot_forge_verdicts() -> TestResult {
    let dir = Scratch::new("forger");
    let forged = [
        r#"{"v":2,"event":"verdict","step":"exec.shell","outcome":"blocked","mechanism":"EPERM","detail":"forged","nonce":null}"#,
        r#"{"v":2,"event":"verdict","step":"exec.memfd","outcome":"blocked","mechanism":"EPERM","detail":"forged","nonce":null}"#,
        r#"{"v":2,"event":"start","step":"exec.i386"}"#,
        r#"{"v":2,"event":"verdict","step":"exec.i386","outcome":"blocked","mechanism":"EPERM","detail":"forged","nonce":null}"#,
        r#"{"v":2,"event":"verdict","step":"exec.posix-spawn","outcome":"blocked","mechanism":"EPERM","detail":"forged","nonce":null}"#,
        r#"{"v":2,"event":"done"}"#,
    ];
    let mut script = String::new();
    for target in [
        "/proc/self/fd/1",
        "/proc/1/fd/1",
        "/dev/stdout",
        "/proc/self/fd/2",
    ] {
        for line in forged {
            script.push_str(&format!("echo '{line}' > {target} 2>/dev/null\n"));
        }
    }
    script.push_str("exit 0");
    let root = hostile_rootfs(dir.path(), &script);
    let rootfs = root.display().to_string();
    let probes = [
        "--probe",
        "exec.shell",
        "--probe",
        "exec.memfd",
        "--probe",
        "exec.i386",
        "--probe",
        "exec.posix-spawn",
    ];
    let mut args = vec!["--rootfs", rootfs.as_str()];
    args.extend(probes);
    let (out, report) = run_json(&args)?;
    out.expect_code(1)?;
    let shell = first_verdict(&report, "exec.shell");
    if shell["outcome"] != "escaped" || shell["image_code"] != true {
        return Err(format!("exec.shell: {shell}").into());
    }
    // The same steps under the harness's own rootfs: the control.
    let (_, control) = run_json(&probes)?;
    for probe in ["exec.memfd", "exec.i386", "exec.posix-spawn"] {
        let (got, want) = (
            first_verdict(&report, probe),
            first_verdict(&control, probe),
        );
        if got["outcome"] != want["outcome"] || got["mechanism"] != want["mechanism"] {
            return Err(format!("{probe}: {got} under the forger, {want} without it").into());
        }
        if got["detail"].as_str().is_some_and(|d| d.contains("forged")) {
            return Err(format!("{probe}: a forged line was believed: {got}").into());
        }
    }
    Ok(())
}

/// Item 4, the other way to fake "blocked": the image's shell gets itself killed by a
/// seccomp rule (busybox's ash calls getppid as it starts; the profile kills getppid)
/// after the exec worked. The step escaped: a program of the image ran.
fn image_code_killed_by_seccomp_is_not_blocked() -> TestResult {
    let dir = Scratch::new("sigsys-shell");
    let root = hostile_rootfs(dir.path(), "echo never");
    let profile = write_profile(
        dir.path(),
        "kill-getppid.json",
        &serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]
        }),
    );
    let rootfs = root.display().to_string();
    // With no-new-privileges runc installs the filter last, so runc itself is not
    // caught by the rule; the control shows the shell dies of it.
    let (out, report) = run_json(&[
        "--rootfs",
        &rootfs,
        "--profile",
        &profile,
        "--security-opt",
        "no-new-privileges",
        "--probe",
        "exec.shell",
        "--probe",
        "exec.memfd",
    ])?;
    out.expect_code(1)?;
    let shell = first_verdict(&report, "exec.shell");
    if shell["outcome"] != "escaped"
        || shell["image_code"] != true
        || !shell["detail"].as_str().unwrap_or("").contains("SIGSYS")
    {
        return Err(format!("exec.shell: {shell}").into());
    }
    expect(&report, "exec.memfd", "escaped", None, Some("witnessed"))?;
    Ok(())
}

/// Item 6: with `--network host` the canary sits on the host's loopback. A local
/// attacker who reads its address (the runner's argv is public) floods it with junk
/// and with tokens made from the (public) nonce, and holds connections open. The real
/// escapes are still witnessed, nothing forged counts, the run ends on time, and the
/// run's key is readable neither in any command line nor by another user.
fn canary_ignores_local_floods_and_idle_connections() -> TestResult {
    let run = Background::start(&[
        OsStr::new("run"),
        OsStr::new("--format"),
        OsStr::new("json"),
        OsStr::new("--network"),
        OsStr::new("host"),
        OsStr::new("--probe"),
        OsStr::new("net.tcp-connect"),
        OsStr::new("--probe"),
        OsStr::new("net.udp-send"),
        OsStr::new("--inject-fault"),
        OsStr::new("pause@net.tcp-connect"),
    ]);
    let started = Instant::now();
    let (runner_pid, cmdline) = wait_for(Duration::from_secs(20), || {
        processes_with("breakout-probe run")
            .into_iter()
            .find(|(_, c)| c.contains("--canary"))
    })
    .ok_or("the runner never started")?;
    let words: Vec<&str> = cmdline.split_whitespace().collect();
    let after = |flag: &str| {
        words
            .iter()
            .position(|w| *w == flag)
            .and_then(|i| words.get(i + 1))
            .map(|s| s.to_string())
    };
    let canary = after("--canary").ok_or("no --canary")?;
    let nonce = after("--nonce").ok_or("no --nonce")?;
    // The key: in the runner's environment, which root can read and no one else.
    let environ = std::fs::read(format!("/proc/{runner_pid}/environ")).unwrap_or_default();
    let key = environ
        .split(|b| *b == 0)
        .find_map(|v| v.strip_prefix(b"BREAKOUT_KEY="))
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .ok_or("no key in the runner's environment")?;
    let (_, said) = as_nobody(&format!(
        "cat /proc/{runner_pid}/environ >/dev/null 2>&1 && echo READ; \
         cat /proc/{runner_pid}/cmdline >/dev/null 2>&1 && echo CMDLINE"
    ));
    if said.contains("READ") || !said.contains("CMDLINE") {
        return Err(format!("another user read the runner's environment: {said}").into());
    }
    let leaked: Vec<_> = processes_with(&key);
    if !leaked.is_empty() {
        return Err(format!("the key is on a command line: {leaked:?}").into());
    }
    // Flood: junk, old-style tokens made from the public nonce, idle connections.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..3000 {
        let junk = match i % 3 {
            0 => format!("junk {i}\n"),
            1 => format!("{nonce} net.udp-send\n"),
            _ => format!("{nonce} net.tcp-connect\n"),
        };
        let _ = udp.send_to(junk.as_bytes(), &canary);
    }
    // Another user, over TCP, with what it can know: the public nonce.
    if let Some((host, port)) = canary.rsplit_once(':') {
        let _ = as_nobody(&format!(
            "for s in net.tcp-connect net.udp-send junk; do \
             echo \"{nonce} $s\" | {BUSYBOX} timeout 2 {BUSYBOX} nc {host} {port}; done"
        ));
    }
    let idle: Vec<_> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect(&canary).ok())
        .collect();
    let out = run.finish();
    let took = started.elapsed();
    drop(idle);
    let report = out.json()?;
    expect(
        &report,
        "net.tcp-connect",
        "escaped",
        None,
        Some("witnessed"),
    )?;
    expect(&report, "net.udp-send", "escaped", None, Some("witnessed"))?;
    if took > Duration::from_secs(15) {
        return Err(format!("the run took {took:?} under the flood").into());
    }
    Ok(())
}

/// Item 7: a rootfs path with `:` and `,` in it is used as it is, never read as
/// overlay options (`--rootfs DIR/i:/etc` once made the container's / the host's /etc),
/// and a path that is not UTF-8 works too.
fn rootfs_paths_are_never_mount_options() -> TestResult {
    let dir = Scratch::new("overlay-options");
    // What the old splice would have stacked: DIR/i over the host's /etc.
    let decoy = dir.sub("i");
    std::fs::write(decoy.join("decoy"), b"").unwrap();
    // The shell proves the step only if / is the rootfs given: its marker is there and
    // nothing of the host's /etc shows through.
    let check = "[ -f /given-rootfs ] && [ ! -e /debian_version ] && [ ! -e /decoy ] && \
                 echo \"breakout-handoff-proof $8\" >&2; exit 0";
    for name in [
        std::ffi::OsString::from("i:/etc"),
        std::ffi::OsString::from("a,upperdir=x,b"),
        std::ffi::OsString::from(std::ffi::OsStr::from_bytes(b"not-utf8-\xff")),
    ] {
        let case = dir.0.join(&name);
        std::fs::create_dir_all(&case).unwrap();
        let root = hostile_rootfs(&case, check);
        std::fs::write(root.join("given-rootfs"), b"").unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_breakout"))
            .args(["run", "--format", "json", "--rootfs"])
            .arg(&root)
            .args(["--probe", "exec.shell"])
            .env("TMPDIR", dir.sub("tmp"))
            .output()
            .expect("breakout runs");
        let out = Outcome {
            code: child.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&child.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&child.stderr).into_owned(),
        };
        let report = out.json()?;
        let shell = first_verdict(&report, "exec.shell");
        if shell["outcome"] != "escaped" || shell["evidence"] != "witnessed" {
            return Err(format!(
                "{}: the container's / is not the rootfs given: {shell}; stderr: {}",
                root.display(),
                out.stderr
            )
            .into());
        }
    }
    Ok(())
}

/// The image's shell learns its container's nonce (it is on its command line) and
/// plants FIFOs under every name the probes would use with it, on the volume and in
/// the rootfs, both of which outlive the container. The next container has a nonce of
/// its own: `exec.interpreter` on the volume still gets through, as without the plant.
fn planted_names_do_not_reach_the_next_container() -> TestResult {
    let dir = Scratch::new("planted-names");
    let data = dir.sub("data");
    let root = hostile_rootfs(
        dir.path(),
        r#"if [ "$1" != "-c" ]; then exec /bin/busybox sh "$@"; fi
n=""; prev=""
for a in "$@"; do [ "$prev" = "--nonce" ] && n="$a"; prev="$a"; done
for f in script marker exec mmap suid dev; do
  /bin/busybox mkfifo "/data/.breakout-$f-$n" "/.breakout-$f-$n"
done
exit 0"#,
    );
    let rootfs = root.display().to_string();
    let volume = format!("{}:/data", data.display());
    let (out, report) = run_json(&[
        "--rootfs",
        &rootfs,
        "-v",
        &volume,
        "--probe",
        "exec.shell",
        "--probe",
        "exec.interpreter",
    ])?;
    out.expect_code(1)?;
    expect(
        &report,
        "exec.interpreter@/data",
        "escaped",
        None,
        Some("witnessed"),
    )?;
    let planted = std::fs::read_dir(&data).unwrap().count();
    if planted != 0 {
        return Err(format!("{planted} planted names left on the volume").into());
    }
    Ok(())
}

/// Item 3: what a container can leave where the harness looks for a witness (its
/// rootfs, a volume): a FIFO no one writes (an open or a read would block for good),
/// links to `/dev/zero` (a read without end), to a host file and to a directory, a
/// file over the bound. The harness's reader takes none of them for a marker, follows
/// nothing, returns at once, and removes the name.
fn witness_files_are_never_followed_or_waited_on() -> TestResult {
    use breakout::bundle::inroot::{take_witness_file, MAX_WITNESS_FILE};
    let dir = Scratch::new("witness-traps");
    let volume = dir.sub("volume");
    let host = dir.path().join("host-file");
    std::fs::write(&host, b"host").unwrap();
    let fifo = std::ffi::CString::new(volume.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) } != 0 {
        return Err("mkfifo failed".into());
    }
    symlink("/dev/zero", volume.join("zero")).unwrap();
    symlink(&host, volume.join("host")).unwrap();
    symlink("/", volume.join("root")).unwrap();
    std::fs::write(
        volume.join("big"),
        vec![b'x'; MAX_WITNESS_FILE as usize * 4],
    )
    .unwrap();
    std::fs::write(volume.join("good"), b"token").unwrap();
    let started = Instant::now();
    for name in ["fifo", "zero", "host", "root", "big"] {
        if let Some(got) = take_witness_file(&volume, name) {
            return Err(format!("{name} was read as a witness: {} bytes", got.len()).into());
        }
        if std::fs::symlink_metadata(volume.join(name)).is_ok() {
            return Err(format!("{name} was not removed").into());
        }
    }
    if take_witness_file(&volume, "good").as_deref() != Some(&b"token"[..]) {
        return Err("a plain marker was not read".into());
    }
    if started.elapsed() > Duration::from_secs(2) {
        return Err(format!("the reader took {:?}", started.elapsed()).into());
    }
    if std::fs::read(&host).unwrap() != b"host" {
        return Err("the host file changed".into());
    }
    Ok(())
}

/// The image's shell, in the first container, turns a volume's destination into a link
/// to `/.breakout` (it renames the directory above it and puts a link in its place).
/// Mounted there in the next container, the volume would cover the runner, and the
/// runtime would make the runner's mount point in the volume's host directory. The
/// harness checks the rootfs again before each resume and stops instead: the rest is
/// `error`, saying why, and nothing appears on the host.
fn a_rootfs_changed_to_cover_the_runner_stops_the_resume() -> TestResult {
    let dir = Scratch::new("resume-link");
    let volume = dir.sub("volume");
    let root = hostile_rootfs(
        dir.path(),
        "/bin/busybox mv /new /new.old && /bin/busybox mkdir /new && \
         /bin/busybox ln -s /.breakout /new/b; exit 0",
    );
    let rootfs = root.display().to_string();
    let mount = format!("{}:/new/b", volume.display());
    let (out, report) = run_json(&[
        "--rootfs",
        &rootfs,
        "-v",
        &mount,
        "--probe",
        "exec.shell",
        "--probe",
        "exec.memfd",
    ])?;
    out.expect_code(1)?;
    let shell = first_verdict(&report, "exec.shell");
    if shell["outcome"] != "escaped" {
        return Err(format!("exec.shell: {shell}").into());
    }
    let memfd = first_verdict(&report, "exec.memfd");
    if memfd["outcome"] != "error"
        || !memfd["detail"]
            .as_str()
            .unwrap_or("")
            .contains("cannot resume")
    {
        return Err(format!("exec.memfd: {memfd}").into());
    }
    if report["runs"][0]["containers"] != 1 {
        return Err(format!("containers: {}", report["runs"][0]["containers"]).into());
    }
    let made: Vec<_> = std::fs::read_dir(&volume)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    if !made.is_empty() {
        return Err(format!("the run made {made:?} in the volume's host directory").into());
    }
    Ok(())
}
