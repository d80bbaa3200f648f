//! Hostile images (issue 14): an image's layers are the attacker's, and unpacking them
//! runs as root. A layer with `..` paths, absolute paths, a symlink to /etc and an
//! entry written through it, a symlinked parent directory, hard links to host paths,
//! device nodes, a FIFO, a set-uid root file, whiteouts that climb out, and an image
//! whose layer expands past the limit: nothing outside the cache's tree changes (a
//! canary directory beside it is fingerprinted before and after), the tree holds no
//! device node, FIFO or special mode bit, and the over-limit image is exit 2 with the
//! limit named.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::image::{gzip, layer_of_dir, raw_layer, sha256, write_oci_layout, Raw};
use crate::common::needs::RUNC;
use crate::common::*;

pub fn trials() -> Trials {
    vec![
        (
            "issue14_hostile_image_unpacks_without_touching_the_host",
            RUNC,
            hostile_image_unpacks_without_touching_the_host,
        ),
        (
            "issue14_image_past_the_limit_is_refused",
            RUNC,
            image_past_the_limit_is_refused,
        ),
    ]
}

/// Every path under `dir` with its type, mode, owner, size, content digest or link
/// target: what must not change.
fn fingerprint(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let detail = if meta.is_symlink() {
            format!("-> {}", std::fs::read_link(&path).unwrap().display())
        } else if meta.is_file() {
            sha256(&std::fs::read(&path).unwrap())
        } else {
            String::new()
        };
        out.push(format!(
            "{} {:o} {}:{} {} ino {} {detail}",
            path.display(),
            meta.mode(),
            meta.uid(),
            meta.gid(),
            meta.len(),
            meta.ino(),
        ));
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    out.sort();
    out
}

/// The default rootfs, as breakout builds it.
fn default_rootfs(scratch: &Scratch) -> Result<PathBuf, libtest_mimic::Failed> {
    let bundle = scratch.path().join("bundle");
    breakout(&["run", "--emit-bundle", &bundle.display().to_string()]).expect_code(0)?;
    Ok(bundle.join("rootfs"))
}

/// What in `tree` a host must not get from an image: device nodes, FIFOs, sockets,
/// set-uid, set-gid or sticky bits.
fn dangerous(tree: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let kind = meta.file_type();
        if kind.is_block_device() || kind.is_char_device() || kind.is_fifo() || kind.is_socket() {
            found.push(format!("{}: a special file", path.display()));
        }
        if !meta.is_symlink() && meta.mode() & 0o7000 != 0 {
            found.push(format!(
                "{}: mode {:o}",
                path.display(),
                meta.mode() & 0o7777
            ));
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    found
}

fn hostile_image_unpacks_without_touching_the_host() -> TestResult {
    let scratch = Scratch::new("hostile-image");
    let rootfs = default_rootfs(&scratch)?;
    // The canary: beside the cache, where `..` from the tree would lead.
    let canary = scratch.sub("canary");
    std::fs::write(canary.join("file"), b"canary")?;
    std::fs::create_dir(canary.join("dir"))?;
    std::fs::write(canary.join("dir/x"), b"x")?;
    let before = fingerprint(&canary);
    let cache = scratch.path().join("cache");
    // The tree is built at cache/v1/.tmp-TOKEN/rootfs: four levels below the scratch.
    let up = "../../../../canary";
    let abs_canary = canary.display().to_string();
    let names: Vec<String> = vec![
        format!("{up}/planted"),             // 0: `..` out of the tree
        format!("{abs_canary}/planted-abs"), // 1: absolute path
        format!("{up}/.wh.file"),            // 2: whiteout of ../x
        format!("{up}/dir/.wh..wh..opq"),    // 3: opaque whiteout outside
        format!("{abs_canary}/file"),        // 4: hard link target, absolute
        format!("{up}/file"),                // 5: hard link target, climbing
        abs_canary.clone(),                  // 6: symlink target, absolute
    ];
    let layer1 = raw_layer(&[
        Raw::file(&names[0], b"escaped"),
        Raw::file(&names[1], b"escaped"),
        // An absolute symlink to /etc, then a file written through it (next layer too).
        Raw::link("etc-link", tar::EntryType::Symlink, "/etc"),
        Raw::file("etc-link/breakout-test-canary-absent", b"escaped"),
        // A symlinked parent directory, to the canary.
        Raw::link("canary-link", tar::EntryType::Symlink, &names[6]),
        Raw::link("rel-link", tar::EntryType::Symlink, "../../../../canary"),
        // Hard links to host paths.
        Raw::link("hard-etc", tar::EntryType::Link, "/etc/passwd"),
        Raw::link("hard-abs", tar::EntryType::Link, &names[4]),
        Raw::link("hard-up", tar::EntryType::Link, &names[5]),
        // Device nodes and a FIFO.
        Raw {
            device: (1, 1),
            mode: 0o666,
            ..Raw::new("mem", tar::EntryType::Char)
        },
        Raw {
            device: (8, 0),
            ..Raw::new("sda", tar::EntryType::Block)
        },
        Raw::new("fifo", tar::EntryType::Fifo),
        // A set-uid root program, a set-gid directory, a sticky directory.
        Raw {
            mode: 0o4755,
            uid: 0,
            ..Raw::file("suid-root", b"\x7fELF")
        },
        Raw {
            mode: 0o2775,
            ..Raw::new("setgid-dir", tar::EntryType::Directory)
        },
        Raw {
            mode: 0o1777,
            ..Raw::new("sticky-dir", tar::EntryType::Directory)
        },
        // Whiteouts that climb out.
        Raw::file(&names[2], b""),
        Raw::file(&names[3], b""),
        Raw::file(".wh...", b""),
    ]);
    let layer2 = raw_layer(&[
        Raw::file("canary-link/planted-through-link", b"escaped"),
        Raw::file("rel-link/planted-through-link", b"escaped"),
        Raw::file("etc-link/breakout-test-canary-absent", b"escaped"),
        Raw::link(
            "hard-through-link",
            tar::EntryType::Link,
            "canary-link/file",
        ),
        Raw::file("canary-link/.wh.file", b""),
        Raw::file("rel-link/.wh..wh..opq", b""),
    ]);
    let layout = scratch.path().join("layout");
    let layers = vec![layer_of_dir(&rootfs), layer1, layer2];
    let manifest = write_oci_layout(&layout, &layers, json!({}), true);
    let (out, _) = breakout_with_env(
        &[
            "run",
            "--format",
            "json",
            "--probe",
            "spawn.fork",
            "--image",
            &format!("oci:{}", layout.display()),
        ],
        &[(breakout::image::CACHE_ENV, &cache)],
    );
    if out.code > 1 {
        return Err(format!(
            "the hostile image did not run: exit {}: {}",
            out.code, out.stderr
        )
        .into());
    }
    let report = out.json()?;
    if before != fingerprint(&canary) {
        return Err(format!(
            "the canary changed:\nbefore {before:#?}\nafter {:#?}",
            fingerprint(&canary)
        )
        .into());
    }
    if Path::new("/etc/breakout-test-canary-absent").exists() {
        return Err("a file appeared in the host's /etc".into());
    }
    let tree = cache.join(format!("v1/manifest-sha256-{manifest}/rootfs"));
    let found = dangerous(&tree);
    if !found.is_empty() {
        return Err(
            format!("the unpacked tree holds what the host must not get: {found:#?}").into(),
        );
    }
    // The links are stored as links, the set-uid file is there without its bit.
    if std::fs::read_link(tree.join("etc-link"))? != Path::new("/etc") {
        return Err("etc-link is not the image's symlink".into());
    }
    if std::fs::metadata(tree.join("suid-root"))?.mode() & 0o7777 != 0o755 {
        return Err("suid-root kept more than its permission bits".into());
    }
    for absent in [
        "mem",
        "sda",
        "fifo",
        "hard-etc",
        "hard-abs",
        "hard-up",
        "hard-through-link",
    ] {
        if std::fs::symlink_metadata(tree.join(absent)).is_ok() {
            return Err(format!("{absent} was made in the tree").into());
        }
    }
    // What was left out and stripped is in the report.
    let unpack = &report["subject"]["settings"]["image"]["unpack"];
    let skipped = unpack["skipped_total"].as_u64().unwrap_or(0);
    let stripped = unpack["stripped_total"].as_u64().unwrap_or(0);
    let whys = unpack["skipped"].to_string();
    let stripped_list = unpack["stripped"].to_string();
    if skipped < 17
        || stripped < 3
        || !stripped_list.contains("suid-root")
        || !whys.contains("character device")
        || !whys.contains("is a symlink")
    {
        return Err(format!("the report does not list what was left out: {unpack:#}").into());
    }
    // Nothing half-built is left in the cache.
    let leftovers: Vec<_> = std::fs::read_dir(cache.join("v1"))?
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    if !leftovers.is_empty() {
        return Err(format!("staging directories left: {leftovers:?}").into());
    }
    Ok(())
}

/// A small gzip layer of one file whose header states more than the limit, and one
/// whose zeros expand past it: both refused with exit 2, the limit named, and nothing
/// left in the cache.
fn image_past_the_limit_is_refused() -> TestResult {
    let scratch = Scratch::new("image-limit");
    let cache = scratch.path().join("cache");
    let zeros = vec![0u8; 64 << 20];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a file larger than the limit",
            raw_layer(&[Raw::file("zeros", &zeros)]),
        ),
        (
            "files that add up past the limit",
            raw_layer(&[
                Raw::file("a", &zeros[..12 << 20]),
                Raw::file("b", &zeros[..12 << 20]),
            ]),
        ),
    ];
    for (what, layer) in cases {
        let layout = scratch.path().join(format!("layout-{}", what.len()));
        write_oci_layout(&layout, std::slice::from_ref(&layer), json!({}), true);
        let blob_size: u64 = std::fs::read_dir(layout.join("blobs/sha256"))?
            .map(|e| e.unwrap().metadata().unwrap().len())
            .max()
            .unwrap_or(0);
        if blob_size > gzip(&[]).len() as u64 + (1 << 20) {
            return Err(
                format!("{what}: the compressed layer is not small ({blob_size} bytes)").into(),
            );
        }
        let (out, _) = breakout_with_env(
            &[
                "run",
                "--image-max-bytes",
                "16M",
                "--image",
                &format!("oci:{}", layout.display()),
            ],
            &[(breakout::image::CACHE_ENV, &cache)],
        );
        out.expect_code(2)?;
        if !(out.stderr.contains("byte limit") && out.stderr.contains("--image-max-bytes")) {
            return Err(
                format!("{what}: the error does not name the limit: {}", out.stderr).into(),
            );
        }
        let left: Vec<_> = std::fs::read_dir(cache.join("v1"))?.collect();
        if !left.is_empty() {
            return Err(format!("{what}: the cache keeps {left:?}").into());
        }
    }
    Ok(())
}
