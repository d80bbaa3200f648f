//! What a run owns, written down where a later run can find it: the ledger under
//! `/run/breakout/runs`, the reaper that cleans up after a harness that died, and the
//! sweep that `breakout clean` and every starting run perform.
//!
//! Every harness process that starts containers holds an owner lock: a file in the
//! ledger directory locked with flock(2) for as long as the process (or its reaper)
//! lives; the kernel releases it when they die, however they die. Each run records
//! what it made (run directory, state directory, runtime, container ids, bridge
//! namespaces) in a record file naming its owner, rewritten as it makes more and
//! removed when it has cleaned up itself.
//!
//! A record whose owner lock can be taken belongs to a dead harness. The sweep kills
//! and deletes its containers through their runtime, unmounts and removes its
//! directories, deletes its namespaces and empty cgroups, then its record.
//!
//! The reaper makes "dead" mean "cleaned up within a second": a child forked when the
//! harness starts, before any thread, in a session of its own (an interrupt on the
//! terminal is the harness's to handle), holding nothing but the lock and the read end
//! of a pipe only the harness can write. When the harness ends, however it ends, the
//! pipe reports end of file and the reaper sweeps what the harness left, so a
//! container never outlives a harness killed with SIGKILL or by the OOM killer.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::runtime::{Runtime, RuntimeKind};

/// Where owner locks and run records live.
pub const LEDGER_DIR: &str = "/run/breakout/runs";

/// The environment variable that moves the ledger elsewhere: a harness (and `clean`)
/// with its own ledger neither sweeps nor is swept by the others. For tests that must
/// know who cleaned up.
pub const LEDGER_ENV: &str = "BREAKOUT_LEDGER";

/// The ledger directory in force: [`LEDGER_ENV`] if set, else [`LEDGER_DIR`].
pub fn ledger_path() -> PathBuf {
    std::env::var_os(LEDGER_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(LEDGER_DIR))
}

/// This process's owner lock: held (flock) until the process and its reaper are gone.
#[derive(Debug)]
pub struct Owner {
    /// The lock file's name in the ledger; records name their owner by it.
    name: String,
    _lock: File,
}

static OWNER: OnceLock<Option<Owner>> = OnceLock::new();

/// The owner lock of this process, made on first use; `None` where the ledger cannot
/// be written (not root), in which case runs keep no records.
pub fn owner() -> Option<&'static Owner> {
    OWNER.get_or_init(|| take_owner_lock().ok()).as_ref()
}

/// The ledger directory, made if need be, and only if it is ours alone: the sweep
/// removes what records name, so a record someone else could write would let them
/// have root remove any path.
fn ledger_dir() -> io::Result<PathBuf> {
    let dir = ledger_path();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    trusted_dir(&dir)?;
    Ok(dir)
}

/// `dir` is a directory (not a link) of this process's user that no one else can
/// write to.
fn trusted_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir()
        || meta.uid() != rustix::process::geteuid().as_raw()
        || meta.mode() & 0o022 != 0
    {
        return Err(io::Error::other(format!(
            "{} is not a directory of ours that only we can write",
            dir.display()
        )));
    }
    Ok(())
}

/// Whether a record names only what a run of ours makes (directories named
/// `breakout-*` or under the state base, `breakout-*` container ids, bridge
/// namespaces `bo*`): a damaged record is left alone rather than believed.
fn plausible(record: &Record) -> bool {
    let ours = |path: &Path| {
        path.is_absolute()
            && !path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            && path.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("breakout-") || n.starts_with(&format!("{}-", record.pid))
            })
    };
    let state_ok = ours(&record.state) || record.state.starts_with(&record.run_dir);
    let name_ok = |n: &String| {
        !n.is_empty()
            && n.len() < 64
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    ours(&record.run_dir)
        && state_ok
        && record
            .containers
            .iter()
            .all(|c| c.starts_with("breakout-") && name_ok(c))
        && record
            .netns
            .iter()
            .all(|n| n.starts_with("bo") && name_ok(n))
        && record.images.iter().all(|i| {
            i.strip_prefix("breakout-rootfs:")
                .is_some_and(|tag| name_ok(&tag.to_string()))
        })
}

/// Locks a new file and only then gives it its owner name: a sweep never sees an owner
/// file that is not locked yet (and would take it for a dead owner's).
fn take_owner_lock() -> io::Result<Owner> {
    let dir = ledger_dir()?;
    let token = crate::names::unique_token();
    let hidden = dir.join(format!(".new-{token}"));
    let lock = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&hidden)?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)?;
    let name = format!("owner-{token}.lock");
    fs::rename(&hidden, dir.join(&name))?;
    Ok(Owner { name, _lock: lock })
}

/// The runtime of a record, enough to drive it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeRecord {
    /// The quirks table row (`runc`, `podman`, ...).
    pub kind: String,
    pub binary: PathBuf,
    pub flags: Vec<String>,
}

/// What one run made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// The owner lock's file name.
    pub owner: String,
    /// The harness's pid (container and cgroup names start with `breakout-PID-`).
    pub pid: u32,
    pub run_dir: PathBuf,
    pub state: PathBuf,
    pub runtime: Option<RuntimeRecord>,
    pub containers: Vec<String>,
    pub netns: Vec<String>,
    /// Images an engine imported the run's rootfs as (`breakout-rootfs:TOKEN`). Absent
    /// from records of releases that did not keep them.
    #[serde(default)]
    pub images: Vec<String>,
}

/// A run's live record; dropping it removes the file (the run has cleaned up).
#[derive(Debug)]
pub struct Entry {
    path: PathBuf,
    record: Record,
}

impl Entry {
    /// Starts the record of a run whose directories are `run_dir` and `state`; `None`
    /// without an owner lock.
    pub fn create(run_dir: &Path, state: &Path) -> Option<Entry> {
        let owner = owner()?;
        let dir = ledger_dir().ok()?;
        let token = crate::names::unique_token();
        let entry = Entry {
            path: dir.join(format!("run-{token}.json")),
            record: Record {
                owner: owner.name.clone(),
                pid: std::process::id(),
                run_dir: run_dir.to_path_buf(),
                state: state.to_path_buf(),
                ..Record::default()
            },
        };
        entry.write().ok()?;
        Some(entry)
    }

    /// Rewrites the file: a new file renamed over the old, so a reader (a sweep) never
    /// sees half of it.
    fn write(&self) -> io::Result<()> {
        let text = serde_json::to_vec(&self.record).map_err(io::Error::other)?;
        let tmp = self.path.with_extension("tmp");
        let result = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&text))
            .and_then(|()| fs::rename(&tmp, &self.path));
        if result.is_err() {
            // A full /run: nothing half-written stays behind.
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    pub fn set_runtime(&mut self, runtime: &Runtime) {
        self.record.runtime = Some(RuntimeRecord {
            kind: runtime.kind.name.to_string(),
            binary: runtime.binary.clone(),
            flags: runtime.flags.clone(),
        });
        let _ = self.write();
    }

    /// Written before the container is started, so that no container can exist
    /// without its record.
    pub fn add_container(&mut self, id: &str) {
        self.record.containers.push(id.to_string());
        let _ = self.write();
    }

    /// Written before the import, as a container before its start.
    pub fn add_image(&mut self, tag: &str) {
        self.record.images.push(tag.to_string());
        let _ = self.write();
    }

    pub fn add_netns(&mut self, names: &[String]) {
        self.record.netns.extend(names.iter().cloned());
        let _ = self.write();
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// What a sweep removed, for `breakout clean` to report.
#[derive(Debug, Default, Serialize)]
pub struct Swept {
    pub runs: usize,
    pub containers: usize,
    pub mounts: usize,
    pub netns: usize,
    pub owners: usize,
}

/// Sweeps the records of every dead owner (lock files no one holds, and records whose
/// owner file is gone). Live runs are left alone.
pub fn sweep_dead() -> Swept {
    let mut swept = Swept::default();
    if trusted_dir(&ledger_path()).is_err() {
        return swept;
    }
    let Ok(entries) = fs::read_dir(ledger_path()) else {
        return swept;
    };
    let mut owners_dead = Vec::new();
    let mut live = Vec::new();
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("owner-") && name.ends_with(".lock") {
            match try_lock(&entry.path()) {
                Some(lock) => owners_dead.push((name, entry.path(), lock)),
                None => live.push(name),
            }
        } else if name.starts_with("run-") && name.ends_with(".json") {
            records.push(entry.path());
        } else if name.starts_with(".new-") || name.ends_with(".tmp") {
            // A lock being born (skip if held) or a record half-written by a dead run.
            if try_lock(&entry.path()).is_some() && is_stale(&entry.path()) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    for path in records {
        let Some(record) = read_record(&path) else {
            continue;
        };
        if live.contains(&record.owner) {
            continue;
        }
        // The owner is dead (its lock could be taken, or its file is gone).
        sweep_record(&record, &mut swept);
        let _ = fs::remove_file(&path);
        swept.runs += 1;
    }
    for (_, path, _lock) in owners_dead {
        let _ = fs::remove_file(path);
        swept.owners += 1;
    }
    swept
}

/// A file not touched for a minute: surely not one a live process is about to use.
fn is_stale(path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > 60)
}

fn try_lock(path: &Path) -> Option<File> {
    let file = File::open(path).ok()?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(file)
}

fn read_record(path: &Path) -> Option<Record> {
    let mut text = Vec::new();
    File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut text)
        .ok()?;
    serde_json::from_slice(&text).ok()
}

/// Removes what one dead run made, in the order that frees each next step: its
/// containers (through their runtime, which also sweeps their cgroups), an engine's
/// images, its mounts, its directories, its namespaces.
fn sweep_record(record: &Record, swept: &mut Swept) {
    if !plausible(record) {
        return;
    }
    if let Some(rt) = &record.runtime {
        if let Some(kind) = RuntimeKind::named(&rt.kind) {
            let runtime = Runtime {
                name: rt.kind.clone(),
                kind,
                binary: rt.binary.clone(),
                flags: rt.flags.clone(),
                cli_deadline: std::time::Duration::from_secs(3),
            };
            for id in &record.containers {
                runtime.remove_leftover_container(&record.state, id);
                swept.containers += 1;
            }
            // Once no container of theirs is left.
            for tag in &record.images {
                runtime.remove_image(&record.state, tag);
            }
        }
    }
    swept.mounts += unmount_below(&record.run_dir);
    let _ = fs::remove_dir_all(&record.run_dir);
    let _ = fs::remove_dir_all(&record.state);
    for name in &record.netns {
        if crate::run::netns::delete_named(name) {
            swept.netns += 1;
        }
    }
}

/// Detaches every mount at or below `dir`, deepest first; how many. The table is read
/// as bytes: a mount point anywhere on the host whose name is not UTF-8 (a container's
/// rootfs may hold any) must not keep ours from being found.
fn unmount_below(dir: &Path) -> usize {
    let Ok(mountinfo) = fs::read("/proc/self/mountinfo") else {
        return 0;
    };
    let targets = targets_below(&mountinfo, dir);
    for target in &targets {
        let _ = rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH);
    }
    targets.len()
}

/// The mount points of a mountinfo table at or below `dir`, deepest first.
fn targets_below(mountinfo: &[u8], dir: &Path) -> Vec<PathBuf> {
    let mut targets: Vec<PathBuf> = mountinfo
        .split(|b| *b == b'\n')
        .filter_map(|line| line.split(|b| *b == b' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|target| target.starts_with(dir))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.components().count()));
    targets
}

/// mountinfo writes space, tab, newline and backslash in paths as `\NNN` octal.
fn unescape_mountinfo(bytes: &[u8]) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    std::ffi::OsString::from_vec(out)
}

/// The reaper of this process (see the module docs): dropping it, or [`Reaper::finish`],
/// ends it after the harness has cleaned up itself.
#[derive(Debug)]
pub struct Reaper {
    pid: libc::pid_t,
    /// The write end: its close (by us, or by the kernel when we die) wakes the reaper.
    pipe: Option<OwnedFd>,
}

/// Forks the reaper. Call it before any thread exists (the child runs Rust code after
/// fork). `None` where there is no ledger (not root) or the fork failed: the run goes
/// on, and a later run or `breakout clean` still finds what it may leave.
pub fn start_reaper() -> Option<Reaper> {
    let owner = owner()?;
    // Close-on-exec: a runtime we start must not hold the write end, or the reaper
    // would not wake when we die.
    let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
    // SAFETY: the process has one thread here (see the doc comment), so the child may
    // run any code; both sides own their copies of the descriptors.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => None,
        0 => {
            drop(write_end);
            reap(read_end, owner);
        }
        pid => {
            drop(read_end);
            Some(Reaper {
                pid,
                pipe: Some(write_end),
            })
        }
    }
}

/// The reaper's life: out of the terminal's way, deaf to interrupts, it waits for the
/// harness to end, sweeps what it left, and removes the owner lock.
fn reap(pipe: OwnedFd, owner: &Owner) -> ! {
    // SAFETY: setsid and signal take no pointers; SIG_IGN is a valid disposition.
    unsafe {
        libc::setsid();
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
    // The harness's stdout and stderr may be pipes someone reads to their end: the
    // reaper must not hold them open.
    if let Ok(null) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of this (single-threaded)
            // process; `null` stays open across the calls.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    let mut pipe = File::from(pipe);
    let mut byte = [0u8; 1];
    loop {
        match pipe.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    sweep_owner(&owner.name);
    let _ = fs::remove_file(ledger_path().join(&owner.name));
    // SAFETY: _exit ends the process without running the parent's exit handlers.
    unsafe { libc::_exit(0) }
}

/// Sweeps every record of `owner` (the harness that just ended).
fn sweep_owner(owner: &str) {
    let Ok(entries) = fs::read_dir(ledger_path()) else {
        return;
    };
    let mut swept = Swept::default();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("run-") && name.ends_with(".json")) {
            continue;
        }
        if let Some(record) = read_record(&entry.path()).filter(|r| r.owner == owner) {
            sweep_record(&record, &mut swept);
            let _ = fs::remove_file(entry.path());
        }
    }
}

impl Reaper {
    /// Ends the reaper once the harness has cleaned up after itself (it then finds
    /// nothing to sweep), and waits for it.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if let Some(pipe) = self.pipe.take() {
            drop(pipe);
            let mut status = 0;
            // SAFETY: waitpid on our own child, writing its status into a local.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_records_are_swept() {
        let good = Record {
            owner: "owner-1-0-aa.lock".into(),
            pid: 4242,
            run_dir: "/tmp/breakout-4242-1-aa".into(),
            state: "/run/breakout/4242-1-aa".into(),
            runtime: None,
            containers: vec!["breakout-4242-3-bb-1".into()],
            netns: vec!["bo0123456789ab".into()],
            images: vec!["breakout-rootfs:7-1-0123456789abcdef".into()],
        };
        assert!(plausible(&good));
        for bad in [
            Record {
                run_dir: "/".into(),
                ..good.clone()
            },
            Record {
                run_dir: "/home".into(),
                ..good.clone()
            },
            Record {
                run_dir: "/tmp/breakout-x/../..".into(),
                ..good.clone()
            },
            Record {
                state: "/etc".into(),
                ..good.clone()
            },
            Record {
                containers: vec!["--all".into()],
                ..good.clone()
            },
            Record {
                netns: vec!["../x".into()],
                ..good.clone()
            },
            // Only an image a run imported: never another of the engine's.
            Record {
                images: vec!["debian:12".into()],
                ..good.clone()
            },
            Record {
                images: vec!["breakout-rootfs:x y".into()],
                ..good.clone()
            },
        ] {
            assert!(!plausible(&bad), "{bad:?}");
        }
    }

    #[test]
    fn a_mount_point_that_is_not_utf8_hides_nothing() {
        let table = b"36 25 0:32 / /srv/\xff\xfe rw - tmpfs tmpfs rw\n\
            37 25 0:33 / /tmp/breakout-1 rw - tmpfs tmpfs rw\n\
            38 37 0:34 / /tmp/breakout-1/setuid rw - tmpfs tmpfs rw\n";
        let found = targets_below(table, Path::new("/tmp/breakout-1"));
        assert_eq!(
            found,
            [
                PathBuf::from("/tmp/breakout-1/setuid"),
                PathBuf::from("/tmp/breakout-1")
            ]
        );
    }

    #[test]
    fn mountinfo_paths_unescape() {
        assert_eq!(unescape_mountinfo(b"/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo(b"/a\\134b"), "/a\\b");
        assert_eq!(unescape_mountinfo(b"/plain"), "/plain");
        assert_eq!(unescape_mountinfo(b"/cut\\04"), "/cut\\04");
    }
}
