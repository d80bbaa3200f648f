//! What `docker run` takes from an image's config: the user, the working directory,
//! the environment, and the entrypoint and command (kept for a later workload; the
//! probes are what runs now).
//!
//! The user is mapped to ids as Docker does (moby's `user.GetExecUser`): a number is
//! a uid whose primary group comes from the image's `/etc/passwd` (0 without an
//! entry); a name must be in that file; a group after `:` is a gid or a name from
//! `/etc/group`. Those files are read inside the unpacked tree with openat2(2)
//! `RESOLVE_IN_ROOT` (links followed as the container would, never out of the tree),
//! as regular files only, up to a bound.
//!
//! The environment goes into the container as the image sets it, except names that
//! begin with `BREAKOUT_`: those are the harness's own (the runner reads its key from
//! `BREAKOUT_KEY`, and getenv(3) takes the first of two), so they are dropped and
//! listed.

use std::io::Read;
use std::path::Path;

use oci_spec::image::ImageConfiguration;
use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
use serde::{Deserialize, Serialize};

/// The largest `/etc/passwd` or `/etc/group` read.
const MAX_ACCOUNTS_FILE: u64 = 4 * 1024 * 1024;
/// The prefix of the harness's own environment variables.
const HARNESS_ENV_PREFIX: &str = "BREAKOUT_";

/// The run-related part of an image's config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    pub os: String,
    pub architecture: String,
    /// `User`, as the image writes it (`name`, `uid`, `uid:gid`, `name:group`).
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// `NAME=VALUE` entries the container gets.
    pub env: Vec<String>,
    /// Entries left out: malformed, or names of the harness's.
    pub env_dropped: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
}

impl RunConfig {
    pub(super) fn from_image(image: &ImageConfiguration) -> RunConfig {
        let config = image.config().clone().unwrap_or_default();
        let (mut env, mut env_dropped) = (Vec::new(), Vec::new());
        for entry in config.env().iter().flatten() {
            let usable = entry
                .split_once('=')
                .is_some_and(|(name, _)| !name.is_empty() && !name.starts_with(HARNESS_ENV_PREFIX))
                && !entry.contains('\0');
            if usable {
                env.push(entry.clone());
            } else {
                env_dropped.push(entry.clone());
            }
        }
        RunConfig {
            os: image.os().to_string(),
            architecture: image.architecture().to_string(),
            user: config.user().clone().filter(|u| !u.is_empty()),
            working_dir: config.working_dir().clone().filter(|w| !w.is_empty()),
            env,
            env_dropped,
            entrypoint: config.entrypoint().clone(),
            cmd: config.cmd().clone(),
        }
    }

    /// The working directory, which must be absolute (Docker refuses others).
    pub fn working_dir(&self) -> Result<Option<&str>, String> {
        match self.working_dir.as_deref() {
            None => Ok(None),
            // No control characters: the directory also travels as a Dockerfile
            // instruction (`WORKDIR DIR`) to an engine's import.
            Some(dir) if dir.starts_with('/') && !dir.chars().any(char::is_control) => {
                Ok(Some(dir))
            }
            Some(dir) => Err(format!(
                "the image's working directory {:?} is not an absolute path without control characters",
                crate::sanitize::untrusted(dir)
            )),
        }
    }

    /// The image's user as ids, resolved in the tree at `rootfs`.
    pub fn user_ids(&self, rootfs: &Path) -> Result<Option<(u32, u32)>, String> {
        let Some(spec) = self.user.as_deref() else {
            return Ok(None);
        };
        let shown = crate::sanitize::untrusted(spec);
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let passwd = read_accounts(rootfs, "etc/passwd");
        let (uid, mut gid) = match number(user) {
            Some(uid) => {
                let primary = passwd
                    .as_deref()
                    .and_then(|text| find(text, |f| number(f[2]) == Some(uid)))
                    .and_then(|f| number(f[3]));
                (uid, primary.unwrap_or(0))
            }
            None => {
                let fields = passwd
                    .as_deref()
                    .and_then(|text| find(text, |f| f[0] == user))
                    .ok_or_else(|| {
                        format!("the image's user {shown:?} is not in its /etc/passwd (give --user UID[:GID])")
                    })?;
                match (number(fields[2]), number(fields[3])) {
                    (Some(uid), Some(gid)) => (uid, gid),
                    _ => {
                        return Err(format!(
                            "the image's /etc/passwd entry for {shown:?} has no numeric ids"
                        ))
                    }
                }
            }
        };
        if let Some(group) = group {
            gid = match number(group) {
                Some(gid) => gid,
                None => read_accounts(rootfs, "etc/group")
                    .as_deref()
                    .and_then(|text| find(text, |f| f[0] == group))
                    .and_then(|f| number(f[2]))
                    .ok_or_else(|| {
                        format!("the image's group in {shown:?} is not in its /etc/group (give --user UID:GID)")
                    })?,
            };
        }
        Ok(Some((uid, gid)))
    }
}

/// A decimal id that setuid(2) can set (not -1).
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|&n| n != u32::MAX)
}

/// The first line of a colon-separated accounts file (at least 4 fields) that `want`
/// accepts.
fn find<'a>(text: &'a str, want: impl Fn(&[&'a str]) -> bool) -> Option<Vec<&'a str>> {
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .find(|f| want(f))
}

/// `name` (relative) inside `rootfs`, read as the container would resolve it.
fn read_accounts(rootfs: &Path, name: &str) -> Option<String> {
    let root = rustix::fs::open(
        rootfs,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let fd = openat2(
        &root,
        name,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
    )
    .ok()?;
    let file = std::fs::File::from(fd);
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = Vec::new();
    file.take(MAX_ACCOUNTS_FILE).read_to_end(&mut text).ok()?;
    Some(String::from_utf8_lossy(&text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_user(user: &str) -> RunConfig {
        RunConfig {
            user: Some(user.into()),
            ..RunConfig::default()
        }
    }

    #[test]
    fn users_map_as_docker_maps_them() {
        let root =
            std::env::temp_dir().join(format!("breakout-user-{}", crate::names::unique_token()));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let ids = |u: &str| with_user(u).user_ids(&root);
        assert_eq!(ids("app").unwrap(), Some((1000, 1001)));
        assert_eq!(ids("1000").unwrap(), Some((1000, 1001)));
        assert_eq!(ids("4242").unwrap(), Some((4242, 0)));
        assert_eq!(ids("app:staff").unwrap(), Some((1000, 50)));
        assert_eq!(ids("4242:7").unwrap(), Some((4242, 7)));
        assert!(ids("nobody-here").unwrap_err().contains("/etc/passwd"));
        assert!(ids("app:nogroup").unwrap_err().contains("/etc/group"));
        assert_eq!(RunConfig::default().user_ids(&root).unwrap(), None);
        // A passwd that is a link out of the tree is resolved inside it (absent here).
        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/passwd")).unwrap();
        assert!(ids("root").is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_harness_environment_is_not_the_image_s() {
        let image: ImageConfiguration = serde_json::from_value(serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/x", "BREAKOUT_KEY=00", "NOEQUALS", "A=b=c"], "WorkingDir": "rel"},
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap();
        let config = RunConfig::from_image(&image);
        assert_eq!(config.env, ["PATH=/x", "A=b=c"]);
        assert_eq!(config.env_dropped, ["BREAKOUT_KEY=00", "NOEQUALS"]);
        assert!(config.working_dir().is_err());
    }
}
