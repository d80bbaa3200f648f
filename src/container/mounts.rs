//! Volume and tmpfs mounts in `docker run` vocabulary: parsing, one spelling per
//! destination, and the checks that keep every mount off the harness's directory
//! (duplicates, `.`/`..`, symlinks in the rootfs that lead there).

use std::path::{Path, PathBuf};

use super::{SettingsError, HARNESS_DIR, PROBE_PATH, PROVIDED_SHELL_PATH};

/// A `-v SRC:DST[:opts]` bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub source: PathBuf,
    pub destination: String,
    pub options: Vec<String>,
}

/// A `--tmpfs DST[:opts]` mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub destination: String,
    pub options: Vec<String>,
}

/// Linux's limits on a path and on one of its components (PATH_MAX with its NUL,
/// NAME_MAX): longer destinations fail only when the runtime creates them.
const PATH_MAX: usize = 4095;
const NAME_MAX: usize = 255;

/// Mount options we pass through for volumes and tmpfs mounts.
const MOUNT_FLAGS: &[&str] = &[
    "ro", "rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev",
];

/// Merges user options over defaults: a later `exec` cancels an earlier `noexec`.
fn merge_mount_options(defaults: &[&str], given: &[String]) -> Vec<String> {
    let opposite = |o: &str| -> Option<&'static str> {
        Some(match o {
            "ro" => "rw",
            "rw" => "ro",
            "exec" => "noexec",
            "noexec" => "exec",
            "suid" => "nosuid",
            "nosuid" => "suid",
            "dev" => "nodev",
            "nodev" => "dev",
            _ => return None,
        })
    };
    let mut out: Vec<String> = defaults.iter().map(|s| s.to_string()).collect();
    for option in given {
        if let Some(other) = opposite(option) {
            out.retain(|o| o != other && o != option);
        } else if let Some((key, _)) = option.split_once('=') {
            out.retain(|o| !o.starts_with(&format!("{key}=")));
        }
        out.push(option.clone());
    }
    out
}

/// Checks a container path a volume or tmpfs is mounted at and returns its one
/// spelling: repeated and trailing slashes collapsed. `.` and `..` are refused rather
/// than resolved, so that what the user wrote is where the mount lands, and so that
/// no spelling of [`HARNESS_DIR`] slips past the check that keeps it the harness's.
/// A problem is returned as a phrase for the flag's error message.
pub fn normalize_destination(destination: &str) -> Result<String, String> {
    if destination.is_empty() {
        return Err("the destination is empty".into());
    }
    if let Some(c) = destination.chars().find(|c| c.is_control()) {
        return Err(format!(
            "the destination contains the control character {}",
            c.escape_default()
        ));
    }
    // Engines get the destination spliced into SRC:DST:OPTS and DST:OPTS strings.
    if let Some(c) = destination.chars().find(|c| matches!(c, ':' | ',')) {
        return Err(format!(
            "the destination contains {c:?}, which engines read as a separator"
        ));
    }
    if !destination.starts_with('/') {
        return Err("the destination must be an absolute container path".into());
    }
    let mut normal = String::with_capacity(destination.len());
    for component in destination.split('/').filter(|c| !c.is_empty()) {
        if component == "." || component == ".." {
            return Err(format!(
                "the destination has a {component:?} component; write the path it stands for"
            ));
        }
        if component.len() > NAME_MAX {
            return Err(format!(
                "a component of the destination is longer than {NAME_MAX} bytes"
            ));
        }
        normal.push('/');
        normal.push_str(component);
    }
    if normal.is_empty() {
        return Err("the destination must be a container path other than /".into());
    }
    if normal.len() > PATH_MAX {
        return Err(format!("the destination is longer than {PATH_MAX} bytes"));
    }
    if normal == HARNESS_DIR || normal.starts_with(&format!("{HARNESS_DIR}/")) {
        return Err(format!(
            "{HARNESS_DIR} is the harness's own directory (its runner {PROBE_PATH} and \
             shell {PROVIDED_SHELL_PATH}); a mount at or below it would replace them"
        ));
    }
    Ok(normal)
}

/// A tmpfs `size=`: bytes with an optional k, m, g, t, p or e suffix (any case), or
/// a percentage of RAM, as the kernel's tmpfs reads it.
fn check_tmpfs_size(value: &str) -> Result<(), String> {
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "%" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        "e" => 60,
        _ => {
            return Err(format!(
                "size={value}: expected a number of bytes with an optional k, m or g suffix, \
                 or a percentage like 50%"
            ))
        }
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!("size={value}: expected a number of bytes with an optional k, m or g suffix, or a percentage like 50%")
    })?;
    if n.checked_mul(1u64 << shift).is_none() {
        return Err(format!("size={value}: more bytes than 64 bits can count"));
    }
    Ok(())
}

/// A tmpfs `mode=`: octal permission bits, at most 07777.
fn check_tmpfs_mode(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.bytes().all(|b| (b'0'..=b'7').contains(&b))
        && u32::from_str_radix(value, 8).is_ok_and(|m| m <= 0o7777);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "mode={value}: expected octal permission bits up to 07777, like 1777"
        ))
    }
}

pub(super) fn parse_volume(spec: &str) -> Result<Volume, SettingsError> {
    let err = |problem: &str| SettingsError::Volume {
        spec: spec.to_string(),
        problem: problem.to_string(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, options) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => return Err(err("expected SRC:DST[:OPTIONS]")),
    };
    if !source.starts_with('/') {
        return Err(err(
            "the source must be an absolute host path (named volumes need a Docker engine)",
        ));
    }
    if source.contains('\0') {
        return Err(err("the source contains a NUL byte"));
    }
    if !Path::new(source).is_dir() {
        return Err(err("the source is not an existing directory on the host"));
    }
    let destination = normalize_destination(destination).map_err(|p| err(&p))?;
    let mut opts = Vec::new();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        if !MOUNT_FLAGS.contains(&option) {
            return Err(err(&format!(
                "unknown option {option:?} (known: {})",
                MOUNT_FLAGS.join(", ")
            )));
        }
        opts.push(option.to_string());
    }
    Ok(Volume {
        source: PathBuf::from(source),
        destination,
        options: merge_mount_options(&["rw"], &opts),
    })
}

pub(super) fn parse_tmpfs(spec: &str) -> Result<Tmpfs, SettingsError> {
    let err = |problem: String| SettingsError::Tmpfs {
        spec: spec.to_string(),
        problem,
    };
    let (destination, options) = spec.split_once(':').unwrap_or((spec, ""));
    let destination = normalize_destination(destination).map_err(err)?;
    let mut opts = Vec::new();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        if let Some(size) = option.strip_prefix("size=") {
            check_tmpfs_size(size).map_err(err)?;
        } else if let Some(mode) = option.strip_prefix("mode=") {
            check_tmpfs_mode(mode).map_err(err)?;
        } else if !MOUNT_FLAGS.contains(&option) {
            return Err(err(format!(
                "unknown option {option:?} (known: {}, size=, mode=)",
                MOUNT_FLAGS.join(", ")
            )));
        }
        opts.push(option.to_string());
    }
    // Docker mounts --tmpfs with these unless the options say otherwise.
    Ok(Tmpfs {
        destination,
        options: merge_mount_options(&["rw", "noexec", "nosuid", "nodev"], &opts),
    })
}

/// Where `path` lands inside `root` when a runtime resolves it there: symlinks
/// followed, `..` and absolute targets kept inside `root` (as `RESOLVE_IN_ROOT`
/// does). Components that do not exist are where the runtime would create
/// directories, so they are taken as written.
fn resolve_in_root(root: &Path, path: &str) -> String {
    // Linux's own limit on symlinks in one resolution.
    const MAX_LINKS: usize = 40;
    let mut pending: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(component) = pending.pop() {
        match component.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let host = resolved
            .iter()
            .chain(std::iter::once(&component))
            .fold(root.to_path_buf(), |p, c| p.join(c));
        let is_link = std::fs::symlink_metadata(&host).is_ok_and(|m| m.file_type().is_symlink());
        match std::fs::read_link(&host) {
            Ok(target) if is_link && links < MAX_LINKS => {
                links += 1;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(target.split('/').rev().map(str::to_string));
            }
            _ => resolved.push(component),
        }
    }
    format!("/{}", resolved.join("/"))
}

/// Whether a mount at `resolved` would cover the harness's directory or land in it.
fn covers_harness_dir(resolved: &str) -> bool {
    resolved == "/" || resolved == HARNESS_DIR || resolved.starts_with(&format!("{HARNESS_DIR}/"))
}

/// Refuses two mounts at one destination: only the later one would be seen, and the
/// per-mount probes would report on the same path twice.
pub(super) fn check_duplicates(
    volumes: &[Volume],
    raw_volumes: &[String],
    tmpfs: &[Tmpfs],
    raw_tmpfs: &[String],
) -> Result<(), SettingsError> {
    let all = volumes
        .iter()
        .zip(raw_volumes)
        .map(|(v, raw)| ("--volume", &v.destination, raw))
        .chain(
            tmpfs
                .iter()
                .zip(raw_tmpfs)
                .map(|(t, raw)| ("--tmpfs", &t.destination, raw)),
        );
    let mut seen: Vec<(&'static str, &String, &String)> = Vec::new();
    for (flag, destination, spec) in all {
        if let Some((first_flag, _, first)) = seen.iter().find(|(_, d, _)| *d == destination) {
            return Err(SettingsError::DuplicateDestination {
                flag,
                spec: spec.clone(),
                destination: destination.clone(),
                first_flag,
                first: (*first).clone(),
            });
        }
        seen.push((flag, destination, spec));
    }
    Ok(())
}

/// Refuses a destination that the (hostile) rootfs turns, through a symlink, into the
/// harness's directory or `/`.
pub(super) fn check_rootfs_symlinks(
    rootfs: &Path,
    volumes: &[Volume],
    tmpfs: &[Tmpfs],
) -> Result<(), SettingsError> {
    // The rootfs is the attacker's: a destination written innocently may be a
    // symlink there to the harness's directory. The spec mounts the runner
    // last as well; this makes the attempt an error instead of a surprise.
    let destinations = volumes.iter().map(|v| &v.destination);
    for destination in destinations.chain(tmpfs.iter().map(|t| &t.destination)) {
        let resolved = resolve_in_root(rootfs, destination);
        if covers_harness_dir(&resolved) {
            return Err(SettingsError::ShadowingSymlink {
                rootfs: rootfs.to_path_buf(),
                destination: destination.clone(),
                resolved,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::RawSettings;

    fn raw() -> RawSettings {
        RawSettings::default()
    }

    #[test]
    fn tmpfs_gets_docker_defaults_and_overrides() {
        let t = parse_tmpfs("/scratch").unwrap();
        assert_eq!(t.options, ["rw", "noexec", "nosuid", "nodev"]);
        let t = parse_tmpfs("/scratch:exec,size=1m").unwrap();
        assert_eq!(t.options, ["rw", "nosuid", "nodev", "exec", "size=1m"]);
        assert!(parse_tmpfs("scratch").is_err());
        assert!(parse_tmpfs("/scratch:bogus").is_err());
    }

    #[test]
    fn destinations_are_normalized_or_refused() {
        for (given, normal) in [
            ("/data", "/data"),
            ("//data//x/", "/data/x"),
            ("/.breakoutx", "/.breakoutx"),
            ("/x/.breakout", "/x/.breakout"),
        ] {
            assert_eq!(
                normalize_destination(given).as_deref(),
                Ok(normal),
                "{given}"
            );
        }
        let long_component = format!("/{}", "a".repeat(256));
        let long_path = "/aaaaaaaa".repeat(512);
        for bad in [
            "",
            "/",
            "//",
            "data",
            "/..",
            "/x/..",
            "/x/../.breakout",
            "/./x",
            "/.breakout",
            "/.breakout/",
            "//.breakout",
            "/.breakout/breakout-probe",
            "/.breakout/sh",
            "/.breakout/other",
            "/x\0y",
            "/x\ny",
            "/x\u{1b}[2J",
            "/a,b",
            "/a:b",
            &long_component,
            &long_path,
        ] {
            assert!(normalize_destination(bad).is_err(), "{bad:?} was accepted");
        }
        let problem = normalize_destination("/x\u{1b}").unwrap_err();
        assert!(!problem.contains('\u{1b}'), "{problem:?}");
    }

    #[test]
    fn tmpfs_sizes_and_modes_are_what_tmpfs_accepts() {
        for good in [
            "/t:size=0",
            "/t:size=1024",
            "/t:size=64k",
            "/t:size=1M",
            "/t:size=2g",
            "/t:size=50%",
            "/t:mode=1777",
            "/t:mode=0755",
            "/t:mode=7",
        ] {
            assert!(parse_tmpfs(good).is_ok(), "{good}");
        }
        for bad in [
            "/t:size=",
            "/t:size=banana",
            "/t:size=1x",
            "/t:size=-1",
            "/t:size=1.5m",
            "/t:size=%",
            "/t:size=99999999999999999999",
            "/t:size=16777216e",
            "/t:size=1m:mode=1777",
            "/t:mode=",
            "/t:mode=8",
            "/t:mode=10000",
            "/t:mode=rwx",
            "/t:mode=-1",
            "/t:mode=0x1ff",
        ] {
            let e = parse_tmpfs(bad).unwrap_err();
            assert!(e.to_string().starts_with("--tmpfs "), "{e}");
        }
    }

    #[test]
    fn duplicate_destinations_are_refused() {
        let dir = std::env::temp_dir();
        let src = dir.display().to_string();
        for (volumes, tmpfs) in [
            (vec![format!("{src}:/x"), format!("{src}:/x:ro")], vec![]),
            (vec![], vec!["/x".to_string(), "//x/".to_string()]),
            (vec![format!("{src}:/x")], vec!["/x:size=1m".to_string()]),
        ] {
            let e = RawSettings {
                volumes,
                tmpfs,
                ..raw()
            }
            .validate_for(None)
            .unwrap_err();
            assert!(
                matches!(e, SettingsError::DuplicateDestination { .. }),
                "{e}"
            );
            assert!(e.to_string().contains("destination /x"), "{e}");
        }
        // Nested mounts are fine: Docker allows them.
        assert!(RawSettings {
            tmpfs: vec!["/x".into(), "/x/y".into()],
            ..raw()
        }
        .validate_for(None)
        .is_ok());
    }

    #[test]
    fn destinations_resolved_in_the_rootfs_stay_off_the_harness_dir() {
        let root =
            std::env::temp_dir().join(format!("breakout-unit-rootfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("real")).unwrap();
        let link =
            |name: &str, target: &str| std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        link("abs", "/.breakout");
        link("rel", ".breakout");
        link("up", "../../../.breakout");
        link("top", "/");
        link("chain", "abs");
        link("loop", "loop");
        assert_eq!(resolve_in_root(&root, "/real/x"), "/real/x");
        assert_eq!(resolve_in_root(&root, "/abs"), "/.breakout");
        assert_eq!(resolve_in_root(&root, "/rel/sh"), "/.breakout/sh");
        assert_eq!(resolve_in_root(&root, "/up"), "/.breakout");
        assert_eq!(resolve_in_root(&root, "/top"), "/");
        assert_eq!(resolve_in_root(&root, "/chain"), "/.breakout");
        assert!(!covers_harness_dir(&resolve_in_root(&root, "/loop")));
        let settings = |tmpfs: &str| {
            RawSettings {
                rootfs: Some(root.clone()),
                tmpfs: vec![tmpfs.into()],
                ..raw()
            }
            .validate_for(None)
        };
        for bad in ["/abs", "/rel/x", "/up", "/top", "/chain"] {
            let e = settings(bad).unwrap_err();
            assert!(
                matches!(e, SettingsError::ShadowingSymlink { .. }),
                "{bad}: {e}"
            );
        }
        assert!(settings("/real").is_ok());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn volumes_parse_and_reject() {
        let v = parse_volume("/tmp:/data:ro,noexec").unwrap();
        assert_eq!(v.source, PathBuf::from("/tmp"));
        assert_eq!(v.destination, "/data");
        assert_eq!(v.options, ["ro", "noexec"]);
        assert!(parse_volume("/tmp").is_err());
        assert!(parse_volume("rel:/data").is_err());
        assert!(parse_volume("/definitely/not/here:/data").is_err());
        assert!(parse_volume("/tmp:/data:sideways").is_err());
    }
}
