//! `--image` (issue 14): images the test builds itself from the default busybox
//! rootfs, in every form breakout reads (an OCI layout, an oci-archive, a
//! docker-archive; with podman installed also podman's own `save` output and an image
//! name podman holds), run under runc with the same verdicts as that rootfs given as
//! `--rootfs`; what the image's config says reaches the report; references of no form
//! are refused with the forms named. The hostile images are in tests/attacks/image.rs.
//!
//! Each trial uses a cache of its own (`BREAKOUT_IMAGE_CACHE`), removed at its end.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed};
use serde_json::{json, Value};

use common::image::{layer_of_dir, tar_dir, write_docker_archive, write_oci_layout};
use common::needs::{Host, Need, NOTHING, RUNC};
use common::{breakout, breakout_with_env, Outcome, Scratch, TestResult, Trials};

fn main() {
    let args = Arguments::from_args();
    let dockerd = common::PrivateDockerd::start_if_needed();
    let docker_ready = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut host = Host::default();
    let trials: Trials = vec![
        (
            "image_forms_run_like_the_rootfs",
            RUNC,
            image_forms_run_like_the_rootfs,
        ),
        (
            "image_config_reaches_the_report",
            RUNC,
            image_config_reaches_the_report,
        ),
        (
            "podman_images_run_like_the_rootfs",
            PODMAN,
            podman_images_run_like_the_rootfs,
        ),
        (
            "engines_run_an_image_with_its_config",
            PODMAN,
            engines_run_an_image_with_its_config,
        ),
        (
            "unknown_references_name_the_forms",
            NOTHING,
            unknown_references_name_the_forms,
        ),
        (
            "unknown_image_names_are_usage_errors",
            &[Need::Root],
            unknown_image_names_are_usage_errors,
        ),
    ];
    let mut trials: Vec<libtest_mimic::Trial> = trials
        .into_iter()
        .map(|(name, needs, body)| host.trial(name, needs, body))
        .collect();
    if !docker_ready {
        eprintln!("docker_images_run_like_the_rootfs is skipped: no Docker engine answers and none could be started (apt-get install docker.io)");
    }
    trials.push(
        libtest_mimic::Trial::test(
            "docker_images_run_like_the_rootfs",
            docker_images_run_like_the_rootfs,
        )
        .with_ignored_flag(!docker_ready),
    );
    let conclusion = libtest_mimic::run(&args, trials);
    drop(dockerd);
    conclusion.exit();
}

const PODMAN: &[Need] = &[
    Need::Root,
    Need::Runtime("runc"),
    Need::Busybox,
    Need::Runtime("podman"),
];

/// The default busybox rootfs, as breakout builds it (written by `--emit-bundle`).
fn default_rootfs(scratch: &Scratch) -> Result<PathBuf, Failed> {
    let bundle = scratch.path().join("bundle");
    let out = breakout(&["run", "--emit-bundle", &bundle.display().to_string()]);
    out.expect_code(0)?;
    Ok(bundle.join("rootfs"))
}

/// `breakout run --format json --probe spawn.* ARGS` with the trial's own cache.
fn run_spawn(cache: &Path, args: &[&str]) -> Result<(Outcome, Value), Failed> {
    let mut all = vec!["run", "--format", "json", "--probe", "spawn.*"];
    all.extend_from_slice(args);
    let (out, _) = breakout_with_env(&all, &[(breakout::image::CACHE_ENV, cache)]);
    let report = out.json()?;
    Ok((out, report))
}

/// Each step's outcome and mechanism, in plan order.
fn outcomes(report: &Value) -> Vec<(String, String, String)> {
    report["runs"][0]["verdicts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            (
                v["probe"].as_str().unwrap_or("?").to_string(),
                v["outcome"].as_str().unwrap_or("?").to_string(),
                v["mechanism"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn same_verdicts(label: &str, baseline: &Value, report: &Value) -> TestResult {
    let (want, got) = (outcomes(baseline), outcomes(report));
    if want.is_empty() || want != got {
        return Err(format!(
            "{label}: verdicts differ from --rootfs\n--rootfs: {want:?}\n{label}: {got:?}"
        )
        .into());
    }
    Ok(())
}

fn image_of(report: &Value) -> &Value {
    &report["subject"]["settings"]["image"]
}

fn check_image(
    label: &str,
    report: &Value,
    digest: &str,
    source: &str,
    cached: bool,
) -> TestResult {
    let image = image_of(report);
    if image["digest"] != json!(digest)
        || image["source"] != json!(source)
        || image["cached"] != json!(cached)
    {
        return Err(format!(
            "{label}: expected digest {digest} from {source} (cached {cached}), got {image:#}"
        )
        .into());
    }
    Ok(())
}

/// The same rootfs as an OCI layout (gzip layers), its oci-archive, a docker-archive,
/// and the plain layout directory: each gives --rootfs's verdicts; the second run of
/// an image finds it in the cache.
fn image_forms_run_like_the_rootfs() -> TestResult {
    let scratch = Scratch::new("image-forms");
    let rootfs = default_rootfs(&scratch)?;
    let cache = scratch.path().join("cache");
    let layers = vec![layer_of_dir(&rootfs)];
    let layout = scratch.path().join("layout");
    let manifest = write_oci_layout(&layout, &layers, json!({}), true);
    let oci_archive = scratch.path().join("image.oci.tar");
    tar_dir(&layout, &oci_archive);
    let docker_archive = scratch.path().join("image.docker.tar");
    let config = write_docker_archive(&docker_archive, &layers, json!({}));

    let (out, baseline) = run_spawn(&cache, &["--rootfs", &rootfs.display().to_string()])?;
    if out.code > 1 {
        return Err(format!("--rootfs run failed: {}", out.stderr).into());
    }
    let manifest_digest = format!("sha256:{manifest}");
    let config_digest = format!("sha256:{config}");
    let cases = [
        (
            format!("oci:{}", layout.display()),
            &manifest_digest,
            "oci-layout",
            false,
        ),
        (
            layout.display().to_string(),
            &manifest_digest,
            "oci-layout",
            true,
        ),
        (
            format!("oci-archive:{}", oci_archive.display()),
            &manifest_digest,
            "oci-archive",
            true,
        ),
        (
            format!("docker-archive:{}", docker_archive.display()),
            &config_digest,
            "docker-archive",
            false,
        ),
        (
            docker_archive.display().to_string(),
            &config_digest,
            "docker-archive",
            true,
        ),
    ];
    for (reference, digest, source, cached) in cases {
        let (out, report) = run_spawn(&cache, &["--image", &reference])?;
        same_verdicts(&reference, &baseline, &report)?;
        check_image(&reference, &report, digest, source, cached)?;
        if out.code != baseline_code(&baseline) {
            return Err(format!(
                "{reference}: exit {} where --rootfs gave {}",
                out.code,
                baseline_code(&baseline)
            )
            .into());
        }
        if !out.stderr.contains(digest.as_str()) {
            return Err(format!(
                "{reference}: stderr does not name the digest: {}",
                out.stderr
            )
            .into());
        }
    }
    // The cache: one tree per digest, root's alone, nothing half-built left.
    let v1 = cache.join("v1");
    let mut names: Vec<String> = std::fs::read_dir(&v1)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    let want = vec![
        format!("config-sha256-{config}"),
        format!("manifest-sha256-{manifest}"),
    ];
    if names != want {
        return Err(format!("cache holds {names:?}, expected {want:?}").into());
    }
    use std::os::unix::fs::MetadataExt;
    for dir in [cache.clone(), v1] {
        let meta = std::fs::metadata(&dir)?;
        if meta.mode() & 0o7777 != 0o700 || meta.uid() != 0 {
            return Err(format!(
                "{} is {:o} uid {}",
                dir.display(),
                meta.mode() & 0o7777,
                meta.uid()
            )
            .into());
        }
    }
    Ok(())
}

fn baseline_code(report: &Value) -> i32 {
    // What `run` exits with for these verdicts: 1 with an escape, else 0.
    let escaped = outcomes(report).iter().any(|(_, o, _)| o == "escaped");
    i32::from(escaped)
}

/// User, working directory and environment of the image's config reach the report
/// (and the user becomes the probes' unless --user is given).
fn image_config_reaches_the_report() -> TestResult {
    let scratch = Scratch::new("image-config");
    let rootfs = default_rootfs(&scratch)?;
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
    )?;
    let cache = scratch.path().join("cache");
    let layout = scratch.path().join("layout");
    let config = json!({
        "User": "app",
        "WorkingDir": "/tmp",
        "Env": ["PATH=/bin", "GREETING=hello", "BREAKOUT_KEY=forged"],
        "Entrypoint": ["/bin/sh"],
        "Cmd": ["-c", "true"],
    });
    let manifest = write_oci_layout(&layout, &[layer_of_dir(&rootfs)], config, false);
    let reference = format!("oci:{}", layout.display());
    let (out, report) = run_spawn(&cache, &["--image", &reference])?;
    if out.code > 1 {
        return Err(format!("run failed: exit {}: {}", out.code, out.stderr).into());
    }
    let settings = &report["subject"]["settings"];
    let image = image_of(&report);
    let checks = [
        ("settings.user", &settings["user"], json!("1000:1001")),
        ("image.user", &image["user"], json!("app")),
        ("image.user_applied", &image["user_applied"], json!(true)),
        ("image.working_dir", &image["working_dir"], json!("/tmp")),
        (
            "image.env",
            &image["env"],
            json!(["PATH=/bin", "GREETING=hello"]),
        ),
        (
            "image.env_dropped",
            &image["env_dropped"],
            json!(["BREAKOUT_KEY=forged"]),
        ),
        ("image.entrypoint", &image["entrypoint"], json!(["/bin/sh"])),
        ("image.cmd", &image["cmd"], json!(["-c", "true"])),
        (
            "image.digest",
            &image["digest"],
            json!(format!("sha256:{manifest}")),
        ),
    ];
    for (what, got, want) in checks {
        if *got != want {
            return Err(format!("{what}: expected {want}, got {got}").into());
        }
    }
    // The probes ran as the image's user: a fork as uid 1000 is still a fork.
    if outcomes(&report).is_empty() {
        return Err(format!("no verdicts: {report:#}").into());
    }
    let (_, report) = run_spawn(&cache, &["--image", &reference, "--user", "0:0"])?;
    if report["subject"]["settings"]["user"] != json!("0:0")
        || image_of(&report)["user_applied"] != json!(false)
    {
        return Err(format!(
            "--user did not win over the image's user: {:#}",
            report["subject"]["settings"]
        )
        .into());
    }
    Ok(())
}

/// Runs `engine ARGS`, failing with its stderr.
fn engine_cli(engine: &str, args: &[&str]) -> Result<(), Failed> {
    let out = Command::new(engine).args(args).output()?;
    if !out.status.success() {
        return Err(format!(
            "{engine} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// The default rootfs imported into `engine` as `tag`, saved by `saves` (each an
/// archive name and the engine's arguments before the output path), then each saved
/// archive and the name itself given to `--image`: each gives --rootfs's verdicts, and
/// the report names where the image came from. The image is removed afterwards.
fn engine_images_run_like_the_rootfs(engine: &str, tag: &str, saves: &[Save]) -> TestResult {
    let scratch = Scratch::new(&format!("image-{engine}"));
    let rootfs = default_rootfs(&scratch)?;
    let cache = scratch.path().join("cache");
    let tarball = scratch.path().join("rootfs.tar");
    std::fs::write(&tarball, layer_of_dir(&rootfs))?;
    engine_cli(engine, &["import", &tarball.display().to_string(), tag])?;
    let result = (|| -> TestResult {
        let mut references = Vec::new();
        for (n, save) in saves.iter().enumerate() {
            let file = scratch.path().join(format!("{engine}.{n}.{}", save.prefix));
            let out = file.display().to_string();
            let args: Vec<String> = save
                .args
                .iter()
                .map(|a| a.replace("{out}", &out).replace("{tag}", tag))
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            engine_cli(save.program.unwrap_or(engine), &args)?;
            references.push((format!("{}:{out}", save.prefix), save.source.to_string()));
        }
        references.push((tag.to_string(), engine.to_string()));
        // Found in the cache by the engine's image id: nothing is exported again.
        references.push((tag.to_string(), engine.to_string()));
        let (_, baseline) = run_spawn(&cache, &["--rootfs", &rootfs.display().to_string()])?;
        for (reference, source) in references {
            let (out, report) = run_spawn(&cache, &["--image", &reference])?;
            same_verdicts(&reference, &baseline, &report)?;
            if image_of(&report)["source"] != json!(source) {
                return Err(format!(
                    "{reference}: source {} ({})",
                    image_of(&report)["source"],
                    out.stderr
                )
                .into());
            }
        }
        Ok(())
    })();
    let _ = Command::new(engine).args(["rmi", "--force", tag]).output();
    result
}

/// One way an engine's image is written out: the program (the engine where `None`)
/// and its arguments (`{out}` the output path, `{tag}` the image), the reference
/// prefix that names the result, and the source the report should give.
struct Save {
    program: Option<&'static str>,
    args: &'static [&'static str],
    prefix: &'static str,
    source: &'static str,
}

/// The rootfs imported into podman, saved by podman as an oci-archive, a
/// docker-archive and an OCI layout directory, copied by skopeo out of podman's
/// storage into an OCI layout and an oci-archive, and named.
fn podman_images_run_like_the_rootfs() -> TestResult {
    let tag = format!("localhost/breakout-test-image:{}", std::process::id());
    let podman = |format: &'static str| -> &'static [&'static str] {
        match format {
            "oci-archive" => &["save", "--format", "oci-archive", "-o", "{out}", "{tag}"],
            "docker-archive" => &["save", "--format", "docker-archive", "-o", "{out}", "{tag}"],
            _ => &["save", "--format", "oci-dir", "-o", "{out}", "{tag}"],
        }
    };
    let mut saves = vec![
        Save {
            program: None,
            args: podman("oci-archive"),
            prefix: "oci-archive",
            source: "oci-archive",
        },
        Save {
            program: None,
            args: podman("docker-archive"),
            prefix: "docker-archive",
            source: "docker-archive",
        },
        Save {
            program: None,
            args: podman("oci-dir"),
            prefix: "oci",
            source: "oci-layout",
        },
    ];
    if skopeo_present() {
        saves.extend([
            Save {
                program: Some("skopeo"),
                args: &["copy", "containers-storage:{tag}", "oci:{out}"],
                prefix: "oci",
                source: "oci-layout",
            },
            Save {
                program: Some("skopeo"),
                args: &["copy", "containers-storage:{tag}", "oci-archive:{out}"],
                prefix: "oci-archive",
                source: "oci-archive",
            },
        ]);
    } else {
        eprintln!("podman_images_run_like_the_rootfs: skopeo's copies are skipped: skopeo is not installed (apt-get install skopeo)");
    }
    engine_images_run_like_the_rootfs("podman", &tag, &saves)
}

fn skopeo_present() -> bool {
    Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The rootfs imported into a Docker engine (this binary's own where none answers),
/// saved by `docker save`, and named.
fn docker_images_run_like_the_rootfs() -> TestResult {
    let tag = format!("breakout-test-image:{}", std::process::id());
    engine_images_run_like_the_rootfs(
        "docker",
        &tag,
        &[Save {
            program: None,
            args: &["save", "-o", "{out}", "{tag}"],
            prefix: "docker-archive",
            source: "docker-archive",
        }],
    )
}

/// Under an engine (which imports the tree), an image whose working directory it
/// lacks still starts, as under runc: the engine makes it, as `docker run` does.
fn engines_run_an_image_with_its_config() -> TestResult {
    let scratch = Scratch::new("image-engine");
    let rootfs = default_rootfs(&scratch)?;
    let cache = scratch.path().join("cache");
    let layout = scratch.path().join("layout");
    let config = json!({"WorkingDir": "/not/in/the/image", "Env": ["GREETING=hello"]});
    write_oci_layout(&layout, &[layer_of_dir(&rootfs)], config, false);
    let reference = format!("oci:{}", layout.display());
    for runtime in ["runc", "podman"] {
        let (out, report) = run_spawn(&cache, &["--runtime", runtime, "--image", &reference])?;
        let not_run: Vec<_> = outcomes(&report)
            .into_iter()
            .filter(|(_, outcome, _)| outcome == "not-run")
            .collect();
        if outcomes(&report).is_empty() || !not_run.is_empty() {
            return Err(format!(
                "{runtime} did not run the image: {not_run:?}\n{}",
                out.stderr
            )
            .into());
        }
    }
    Ok(())
}

/// A reference of no form is a usage error that names the forms; so is --image with
/// --rootfs.
fn unknown_references_name_the_forms() -> TestResult {
    let scratch = Scratch::new("image-forms-error");
    let not_layout = scratch.sub("plain-dir");
    let junk = scratch.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar at all")?;
    for reference in [
        "/no/such/path".to_string(),
        "oci:/no/such/dir".to_string(),
        format!(
            "docker-archive:{}",
            scratch.path().join("missing.tar").display()
        ),
        not_layout.display().to_string(),
        junk.display().to_string(),
        "bad name with spaces".to_string(),
    ] {
        let out = breakout(&["run", "--image", &reference]);
        out.expect_code(2)?;
        for form in [
            "oci:DIR",
            "oci-archive:FILE",
            "docker-archive:FILE",
            "podman or docker",
        ] {
            if !out.stderr.contains(form) {
                return Err(format!(
                    "{reference}: the error does not name {form}: {}",
                    out.stderr
                )
                .into());
            }
        }
    }
    let out = breakout(&["run", "--image", "busybox", "--rootfs", "/"]);
    out.expect_code(2)?;
    Ok(())
}

/// A name no local engine holds: exit 2, with what each engine said and that nothing
/// is pulled.
fn unknown_image_names_are_usage_errors() -> TestResult {
    let scratch = Scratch::new("image-unknown-name");
    let (out, _) = breakout_with_env(
        &["run", "--image", "localhost/breakout-no-such-image:never"],
        &[(breakout::image::CACHE_ENV, &scratch.path().join("cache"))],
    );
    out.expect_code(2)?;
    if !(out.stderr.contains("podman:")
        && out.stderr.contains("docker:")
        && out.stderr.contains("oci-archive:FILE")
        && out.stderr.contains("breakout pulls nothing: pull it first"))
    {
        return Err(format!(
            "the error names neither engine nor forms, or not that nothing is pulled: {}",
            out.stderr
        )
        .into());
    }
    Ok(())
}
