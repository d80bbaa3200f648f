//! `fs.remount-rw` and `fs.mount-new`: the mount(2) probes. Both change only the
//! container's own mount namespace, and both undo what they did before returning:
//! a remount made read-write is made read-only again at once, without anything written
//! in between, and the fresh tmpfs is unmounted and its mount point removed.

use std::ffi::CStr;
use std::fs::DirBuilder;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::ctx::{Ctx, Verdict};
use crate::sys::{self, Errno};

/// One line of `/proc/self/mountinfo`, the fields these probes read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted, with the kernel's octal escapes decoded.
    pub mount_point: String,
    /// The per-mount options (field 6): `ro`/`rw`, `nosuid`, `nodev`, `noexec`, atime.
    pub options: Vec<String>,
}

impl MountEntry {
    pub fn read_only(&self) -> bool {
        self.has("ro")
    }

    fn has(&self, option: &str) -> bool {
        self.options.iter().any(|o| o == option)
    }

    /// The per-mount flags to pass again on a bind remount so that it changes only
    /// read-only/read-write. Atime flags are left out on purpose: a remount that names
    /// none of them keeps the mount's own.
    pub fn kept_flags(&self) -> libc::c_ulong {
        [
            ("nosuid", libc::MS_NOSUID),
            ("nodev", libc::MS_NODEV),
            ("noexec", libc::MS_NOEXEC),
            ("nosymfollow", MS_NOSYMFOLLOW),
        ]
        .iter()
        .filter(|(name, _)| self.has(name))
        .fold(0, |flags, (_, flag)| flags | flag)
    }
}

/// `MS_NOSYMFOLLOW` (Linux 5.10); not every libc version names it.
const MS_NOSYMFOLLOW: libc::c_ulong = 256;

/// Parses mountinfo text; lines that do not have the fixed fields are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let (mount_point, options) = (fields.get(4)?, fields.get(5)?);
            Some(MountEntry {
                mount_point: unescape(mount_point),
                options: options.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// Undoes mountinfo's `\ooo` octal escapes (space, tab, newline, backslash).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount visible at `mount_point`: the last one mounted there (later mounts on the
/// same point hide earlier ones and come later in mountinfo).
pub fn visible_mount<'a>(mounts: &'a [MountEntry], mount_point: &str) -> Option<&'a MountEntry> {
    let wanted = normalise(mount_point);
    mounts
        .iter()
        .rev()
        .find(|m| normalise(&m.mount_point) == wanted)
}

fn normalise(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

fn read_mountinfo() -> Result<Vec<MountEntry>, std::io::Error> {
    std::fs::read_to_string("/proc/self/mountinfo").map(|text| parse_mountinfo(&text))
}

/// `mount(NULL, target, NULL, flags, NULL)`: a remount needs neither source, type nor data.
fn remount(target: &CStr, flags: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: target is a NUL-terminated string alive across the call; the other
    // pointers are NULL, which a bind remount accepts.
    sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_mount,
            std::ptr::null::<libc::c_char>(),
            target.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            flags,
            std::ptr::null::<libc::c_void>(),
        )
    })
    .map(drop)
}

/// What happened to one read-only mount.
enum Attempt {
    Refused(Errno),
    /// Remounted read-write; `restored` is how putting it back went.
    Remounted {
        restored: Result<(), String>,
    },
}

/// Remounts one read-only mount read-write with a bind remount, and at once read-only
/// again with the same flags plus `MS_RDONLY`.
fn try_remount(entry: &MountEntry) -> Attempt {
    let Ok(target) = sys::path_cstring(Path::new(&entry.mount_point)) else {
        return Attempt::Refused(Errno(libc::EINVAL));
    };
    let kept = entry.kept_flags();
    if let Err(errno) = remount(&target, libc::MS_REMOUNT | libc::MS_BIND | kept) {
        return Attempt::Refused(errno);
    }
    let restored = remount(
        &target,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | kept,
    )
    .map_err(|errno| format!("putting it back read-only failed: {errno}"))
    .and_then(|()| {
        // Trust, but check: the mount table must say read-only again.
        let now = read_mountinfo().map_err(|e| format!("cannot re-read mountinfo: {e}"))?;
        match visible_mount(&now, &entry.mount_point) {
            Some(m) if m.read_only() => Ok(()),
            Some(_) => Err("mountinfo still shows it read-write".to_string()),
            None => Err("it vanished from mountinfo".to_string()),
        }
    });
    Attempt::Remounted { restored }
}

pub fn remount_rw(ctx: &Ctx) -> Verdict {
    let mounts = match read_mountinfo() {
        Ok(mounts) => mounts,
        Err(err) => {
            return Verdict::error(
                Errno::from_io(&err),
                format!("cannot read /proc/self/mountinfo: {err}"),
            )
        }
    };
    let mut targets: Vec<&str> = vec!["/"];
    targets.extend(ctx.inv.mounts.iter().map(String::as_str));
    let mut read_only: Vec<&MountEntry> = Vec::new();
    for entry in targets.iter().filter_map(|t| visible_mount(&mounts, t)) {
        // A mount given twice (or `/` given as a mount) is tried once.
        if entry.read_only() && !read_only.iter().any(|seen| std::ptr::eq(*seen, entry)) {
            read_only.push(entry);
        }
    }
    if read_only.is_empty() {
        return Verdict::not_applicable(
            None,
            "neither the rootfs nor any mount of the container settings is read-only",
        );
    }
    let mut remounted = Vec::new();
    let mut refused = Vec::new();
    let mut first_errno = None;
    for entry in read_only {
        match try_remount(entry) {
            Attempt::Remounted { restored: Ok(()) } => remounted.push(format!(
                "remounted {} read-write, then read-only again",
                entry.mount_point
            )),
            Attempt::Remounted { restored: Err(why) } => {
                remounted.push(format!("remounted {} read-write; {why}", entry.mount_point))
            }
            Attempt::Refused(errno) => {
                first_errno.get_or_insert(errno);
                refused.push(format!("{}: {errno}", entry.mount_point));
            }
        }
    }
    let mut detail = remounted.clone();
    detail.extend(refused.iter().map(|r| format!("remounting {r}")));
    let detail = detail.join("; ");
    match first_errno {
        Some(errno) if remounted.is_empty() => Verdict {
            detail: format!("bind remount read-write refused: {detail}"),
            ..Verdict::blocked(errno, "")
        },
        _ => Verdict::escaped(detail),
    }
}

/// Where `fs.mount-new` mounts its tmpfs: under /dev, which runtimes mount as a tmpfs
/// of the container's own, writable even when the rootfs is read-only.
pub fn mount_new_path(nonce: &str) -> PathBuf {
    PathBuf::from(format!("/dev/.breakout-mnt-{nonce}"))
}

pub fn mount_new(ctx: &Ctx) -> Verdict {
    let dir = mount_new_path(&ctx.inv.nonce);
    let Ok(target) = sys::path_cstring(&dir) else {
        return Verdict::error(None, format!("{} is not a valid path", dir.display()));
    };
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
        Err(err) => {
            let errno = Errno::from_io(&err);
            return Verdict::not_applicable(
                errno,
                format!("cannot create the mount point {}: {err}", dir.display()),
            );
        }
    }
    let verdict = mount_tmpfs_and_unmount(&target, &dir);
    match std::fs::remove_dir(&dir) {
        Ok(()) => verdict,
        Err(err) => Verdict {
            detail: format!(
                "{}; removing {} failed: {err}",
                verdict.detail,
                dir.display()
            ),
            ..verdict
        },
    }
}

fn mount_tmpfs_and_unmount(target: &CStr, dir: &Path) -> Verdict {
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: every pointer is a NUL-terminated string literal or `target`, all alive
    // across the call; "size=4k" is the tmpfs option text the kernel parses.
    let mounted = sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_mount,
            c"breakout".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            flags,
            c"size=4k".as_ptr(),
        )
    });
    if let Err(errno) = mounted {
        return Verdict::blocked(errno, &format!("mounting a tmpfs on {}", dir.display()));
    }
    // SAFETY: as above; 0 and MNT_DETACH are plain flags.
    let unmounted = sys::cvt(unsafe { libc::syscall(libc::SYS_umount2, target.as_ptr(), 0) })
        .or_else(|_| {
            // SAFETY: as above.
            sys::cvt(unsafe { libc::syscall(libc::SYS_umount2, target.as_ptr(), libc::MNT_DETACH) })
        });
    match unmounted {
        Ok(_) => Verdict::escaped(format!(
            "mounted a fresh tmpfs on {} and unmounted it",
            dir.display()
        )),
        Err(errno) => Verdict::escaped(format!(
            "mounted a fresh tmpfs on {}; unmounting it failed: {errno}",
            dir.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
300 27 0:50 / / ro,nosuid,nodev,relatime - overlay overlay rw
301 300 0:51 / /my\\040data ro,noexec,nosymfollow master:3 - tmpfs tmpfs rw
bad line
";

    #[test]
    fn reads_the_visible_mount_and_its_flags() {
        let mounts = parse_mountinfo(SAMPLE);
        assert_eq!(mounts.len(), 4);
        let root = visible_mount(&mounts, "/").unwrap();
        assert!(root.read_only());
        assert_eq!(root.kept_flags(), libc::MS_NOSUID | libc::MS_NODEV);
        let data = visible_mount(&mounts, "/my data/").unwrap();
        assert!(data.read_only());
        assert_eq!(data.kept_flags(), libc::MS_NOEXEC | MS_NOSYMFOLLOW);
        assert!(!visible_mount(&mounts, "/proc").unwrap().read_only());
        assert!(visible_mount(&mounts, "/nowhere").is_none());
    }

    #[test]
    fn unescapes_octal_only() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/a\\9"), "/a\\9");
        assert_eq!(unescape("/tail\\"), "/tail\\");
    }
}
