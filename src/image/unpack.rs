//! Layers applied in order into one directory, safely by construction.
//!
//! Every layer is hostile input. How nothing lands outside the target:
//!
//! * Names are cleaned before anything is done: an absolute name, a `..` component,
//!   a NUL byte or a name over 4096 bytes is left out (and listed in the report)
//!   rather than reinterpreted.
//! * Every parent directory is reached one component at a time from a descriptor of
//!   the target with openat2(2) `RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
//!   RESOLVE_NO_XDEV`, so a symlink planted by an earlier entry or layer (an absolute
//!   one to `/etc`, a relative one climbing out) is never followed: the entry that
//!   would go through it is left out. Missing parents are made there (0755, root's).
//! * The last component is acted on with `*at` calls on that parent descriptor, with
//!   `O_NOFOLLOW`/`O_EXCL`/`AT_SYMLINK_NOFOLLOW`: whatever the name held is removed
//!   first (a directory only when the entry is not a directory), then the entry is
//!   made new. A symlink entry is stored as a link, never resolved.
//! * A hard link must name a non-directory already in the target, found the same
//!   way; `linkat` without `AT_SYMLINK_FOLLOW` links the name itself. A link to a
//!   host path cannot be expressed: the source is resolved below the target only.
//! * Device nodes, FIFOs and anything else that is not a file, directory or link are
//!   never made on the host: they are left out and listed.
//! * Modes keep the permission bits only: set-uid, set-gid and sticky bits are
//!   stripped (and listed), so no file of the image is a set-uid program on the host
//!   (probes test set-uid escalation with their own binary). No extended attribute is
//!   carried either, so no file capability (`security.capability`) and no overlayfs
//!   attribute (`trusted.overlay.*`, which could fake a whiteout or a redirect in the
//!   lower layer) comes from an image. Owners (uid, gid) are kept: they are what the
//!   image's programs expect.
//! * Bounds: the uncompressed bytes of all layers together (data, headers and padding:
//!   what decompression produces, so a small compressed layer cannot expand past it)
//!   and the number of entries (implicit parent directories included). A file larger
//!   than the bytes left is refused from its header, before any of it is written.
//!
//! Whiteouts follow the OCI image spec: `.wh.NAME` removes NAME of lower layers;
//! `.wh..wh..opq` removes everything of lower layers in its directory. Both leave
//! what the same layer wrote, wherever in the layer it came: each layer keeps the set
//! of names it wrote (a tree of name ids, linear in the entries) and an opaque
//! directory prunes what is not in it, recursively.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{
    chownat, fchmod, fchown, futimens, linkat, mkdirat, openat, openat2, statat, symlinkat,
    unlinkat, AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timestamps, Uid,
};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::archive::{walk, Counter, Member};
use super::layout::{compression, Compression};
use super::{bad, Problem};

/// How much an image may unpack to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Uncompressed bytes of all layers together.
    pub max_bytes: u64,
    /// Entries of all layers together, and members of an archive.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 8 << 30,
            max_entries: 1_000_000,
        }
    }
}

/// How many entries of each kind a report lists by name (the totals count them all).
const MAX_LISTED: usize = 100;
/// The longest entry name acted on (Linux's PATH_MAX).
const MAX_NAME: usize = 4096;

/// An entry left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Layer number, from 1.
    pub layer: usize,
    pub path: String,
    pub why: String,
}

/// An entry whose special mode bits were stripped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stripped {
    pub layer: usize,
    pub path: String,
    /// The mode the image gave it (octal), of which only the permission bits are kept.
    pub mode: String,
}

/// What unpacking did, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpackReport {
    pub layers: usize,
    pub entries: u64,
    /// Uncompressed bytes read.
    pub bytes: u64,
    pub skipped: Vec<Skipped>,
    pub skipped_total: u64,
    pub stripped: Vec<Stripped>,
    pub stripped_total: u64,
}

impl UnpackReport {
    pub fn to_json(&self) -> serde_json::Value {
        let clean = |s: &str| crate::sanitize::untrusted(s);
        serde_json::json!({
            "layers": self.layers,
            "entries": self.entries,
            "bytes": self.bytes,
            "skipped_total": self.skipped_total,
            "skipped": self.skipped.iter().map(|s| serde_json::json!({
                "layer": s.layer, "path": clean(&s.path), "why": clean(&s.why),
            })).collect::<Vec<_>>(),
            "stripped_total": self.stripped_total,
            "stripped": self.stripped.iter().map(|s| serde_json::json!({
                "layer": s.layer, "path": clean(&s.path), "mode": s.mode,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The uncompressed stream of one layer: counted against the byte budget shared by
/// all layers, and hashed (for the diff_id).
struct Stream<'a> {
    inner: Box<dyn Read + 'a>,
    left: Rc<Cell<u64>>,
    exceeded: Rc<Cell<bool>>,
    hasher: Sha256,
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the budget is enough to know it is passed.
        let room = usize::try_from(self.left.get().saturating_add(1)).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = self.inner.read(&mut buf[..want])?;
        let n64 = n as u64;
        if n64 > self.left.get() {
            self.exceeded.set(true);
            return Err(io::Error::other("past the byte limit"));
        }
        self.left.set(self.left.get() - n64);
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The names one layer wrote: a tree of ids (0 is the root), one map entry per name.
#[derive(Default)]
struct Touched {
    children: HashMap<(u32, Vec<u8>), u32>,
}

impl Touched {
    fn child(&self, parent: u32, name: &[u8]) -> Option<u32> {
        self.children.get(&(parent, name.to_vec())).copied()
    }

    fn mark(&mut self, components: &[&[u8]]) {
        let mut node = 0;
        for comp in components {
            let next = self.children.len() as u32 + 1;
            node = *self.children.entry((node, comp.to_vec())).or_insert(next);
        }
    }

    fn find(&self, components: &[&[u8]]) -> Option<u32> {
        components
            .iter()
            .try_fold(0, |node, comp| self.child(node, comp))
    }
}

/// Why an entry was left out.
type Why = String;

/// Applies layers, in order, to one directory.
pub(super) struct Unpacker {
    root: OwnedFd,
    limits: Limits,
    left: Rc<Cell<u64>>,
    counter: Rc<Counter>,
    layer: usize,
    touched: Touched,
    report: UnpackReport,
}

/// A failed file system call: the host's fault when it is out of room or broken, else
/// the image's (a name too long for a component, a link to a directory that holds
/// its own source...), which refuses the image.
fn host(what: &str, e: impl Into<io::Error>) -> Problem {
    let e: io::Error = e.into();
    let hosts = [
        libc::ENOSPC,
        libc::EDQUOT,
        libc::EIO,
        libc::ENOMEM,
        libc::EROFS,
        libc::EMFILE,
        libc::ENFILE,
    ];
    if e.raw_os_error().is_some_and(|n| hosts.contains(&n)) {
        Problem::Host(format!("failed to {what} in the cache: {e}"))
    } else {
        bad(format!("failed to {what} for one of its entries: {e}"))
    }
}

/// A 32-bit owner id; what does not fit (or is -1, "unchanged") becomes nobody's.
fn owner_id(raw: u64) -> u32 {
    u32::try_from(raw)
        .ok()
        .filter(|&id| id != u32::MAX)
        .unwrap_or(65534)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The components of an entry's name, or why it is left out.
fn clean(name: &[u8]) -> Result<Vec<&[u8]>, Why> {
    if name.starts_with(b"/") {
        return Err("an absolute path (image entries are relative to the image's root)".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!("a name longer than {MAX_NAME} bytes"));
    }
    if name.contains(&0) {
        return Err("a name with a NUL byte".into());
    }
    let mut parts = Vec::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("a path with a `..` component".into()),
            p => parts.push(p),
        }
    }
    Ok(parts)
}

fn is_dir(stat: &rustix::fs::Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::Directory
}

/// Opens the directory `name` in `dir`, never through a link or onto another mount.
fn open_dir_in(dir: impl AsFd, name: &[u8]) -> rustix::io::Result<OwnedFd> {
    openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT
            | ResolveFlags::NO_SYMLINKS
            | ResolveFlags::NO_MAGICLINKS
            | ResolveFlags::NO_XDEV,
    )
}

/// The names in directory `dir` (not `.` and `..`).
fn list(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    Ok(names)
}

/// Removes `name` in `dir`, a whole directory tree if it is one; nothing is followed.
fn remove(dir: &OwnedFd, name: &[u8]) -> io::Result<()> {
    let stat = match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !is_dir(&stat) {
        return Ok(unlinkat(dir, name, AtFlags::empty())?);
    }
    let child = open_dir_in(dir, name)?;
    for grandchild in list(&child)? {
        remove(&child, &grandchild)?;
    }
    Ok(unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

impl Unpacker {
    /// Unpacks into `target`, a new directory made here (0755).
    pub fn new(target: &Path, limits: Limits) -> Result<Unpacker, Problem> {
        std::fs::create_dir(target).map_err(|e| host("create the tree", e))?;
        let root = rustix::fs::open(
            target,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| host("open the tree", e))?;
        fchmod(&root, Mode::from_raw_mode(0o755)).map_err(|e| host("set the tree's mode", e))?;
        Ok(Unpacker {
            root,
            left: Rc::new(Cell::new(limits.max_bytes)),
            counter: Rc::new(Counter::new(limits.max_entries)),
            limits,
            layer: 0,
            touched: Touched::default(),
            report: UnpackReport::default(),
        })
    }

    /// Applies one layer blob (a tar, gzip-compressed or zstd-compressed) and checks
    /// that its uncompressed stream hashes to `diff_id`.
    pub fn apply_layer(
        &mut self,
        mut blob: Box<dyn Read + '_>,
        diff_id: &str,
    ) -> Result<(), Problem> {
        self.layer += 1;
        self.touched = Touched::default();
        let mut head = Vec::with_capacity(4);
        (&mut blob)
            .take(4)
            .read_to_end(&mut head)
            .map_err(|e| bad(format!("cannot read the layer: {e}")))?;
        let raw: Box<dyn Read + '_> = Box::new(io::Cursor::new(head.clone()).chain(blob));
        let decoded: Box<dyn Read + '_> = match compression(&head) {
            Compression::None => raw,
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            // zstd's default window limit (128 MiB) bounds the decoder's memory.
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::new(raw)
                    .map_err(|e| bad(format!("not a zstd stream: {e}")))?,
            ),
        };
        let exceeded = Rc::new(Cell::new(false));
        let mut stream = Stream {
            inner: decoded,
            left: Rc::clone(&self.left),
            exceeded: Rc::clone(&exceeded),
            hasher: Sha256::new(),
        };
        let max_bytes = self.limits.max_bytes;
        let io_problem = |e: io::Error| {
            if exceeded.get() {
                Problem::Limit(
                    format!("its layers expand to more than {max_bytes} bytes (the byte limit)"),
                    "--image-max-bytes",
                )
            } else {
                bad(format!("not a readable tar layer: {e}"))
            }
        };
        {
            let mut archive = tar::Archive::new(&mut stream);
            let counter = Rc::clone(&self.counter);
            let entries = archive.entries().map_err(io_problem)?;
            walk(entries, &counter, &io_problem, |member, entry| {
                self.apply(member, entry, &io_problem)
            })?;
        }
        // The rest of the stream (end-of-archive blocks, padding) is part of the diff_id.
        io::copy(&mut stream, &mut io::sink()).map_err(io_problem)?;
        let got: String = stream
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != diff_id {
            return Err(bad(format!(
                "the uncompressed layer hashes to sha256:{got}, not the sha256:{diff_id} the config lists"
            )));
        }
        Ok(())
    }

    /// What unpacking did.
    pub fn finish(mut self) -> UnpackReport {
        self.report.layers = self.layer;
        self.report.entries = self.counter.count.get();
        self.report.bytes = self.limits.max_bytes - self.left.get();
        self.report
    }

    fn skip(&mut self, path: &[u8], why: impl Into<String>) {
        self.report.skipped_total += 1;
        if self.report.skipped.len() < MAX_LISTED {
            self.report.skipped.push(Skipped {
                layer: self.layer,
                path: lossy(path),
                why: why.into(),
            });
        }
    }

    fn strip(&mut self, path: &[u8], mode: u32) -> Mode {
        if mode & 0o7000 != 0 {
            self.report.stripped_total += 1;
            if self.report.stripped.len() < MAX_LISTED {
                self.report.stripped.push(Stripped {
                    layer: self.layer,
                    path: lossy(path),
                    mode: format!("{:o}", mode & 0o7777),
                });
            }
        }
        Mode::from_raw_mode(mode & 0o777)
    }

    /// The directory `parents` below the target, made where missing if `create`;
    /// `Ok(None)` where it is missing and not to be made.
    fn parent(
        &mut self,
        parents: &[&[u8]],
        create: bool,
    ) -> Result<Result<Option<OwnedFd>, Why>, Problem> {
        let mut dir = self
            .root
            .try_clone()
            .map_err(|e| host("open the tree", e))?;
        for (depth, comp) in parents.iter().enumerate() {
            let shown = || lossy(&parents[..=depth].join(&b'/'));
            dir = match open_dir_in(&dir, comp) {
                Ok(next) => next,
                Err(Errno::NOENT) if create => {
                    self.counter.add(1)?;
                    mkdirat(&dir, *comp, Mode::from_raw_mode(0o755))
                        .map_err(|e| host("make a directory", e))?;
                    open_dir_in(&dir, comp).map_err(|e| host("open a directory", e))?
                }
                Err(Errno::NOENT) => return Ok(Ok(None)),
                Err(Errno::LOOP) | Err(Errno::NOTDIR) | Err(Errno::XDEV) => {
                    let link = statat(&dir, *comp, AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
                    return Ok(Err(if link {
                        format!(
                            "its parent {} is a symlink: nothing is written through a link",
                            shown()
                        )
                    } else {
                        format!("its parent {} is not a directory", shown())
                    }));
                }
                Err(e) => return Err(host("open a directory", e)),
            };
        }
        Ok(Ok(Some(dir)))
    }

    fn apply<R: Read>(
        &mut self,
        member: &Member,
        entry: &mut tar::Entry<'_, R>,
        io_problem: &dyn Fn(io::Error) -> Problem,
    ) -> Result<(), Problem> {
        let path = member.path.as_slice();
        let components = match clean(path) {
            Ok(c) => c,
            Err(why) => {
                self.skip(path, why);
                return Ok(());
            }
        };
        // The root itself (`./`): the tree's own mode and owner stay.
        let Some((name, parents)) = components.split_last() else {
            return Ok(());
        };
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            return self.whiteout(path, parents, hidden);
        }
        use tar::EntryType as T;
        let kind = member.kind;
        if matches!(kind, T::Regular | T::Continuous) && member.size > self.left.get() {
            return Err(Problem::Limit(
                format!(
                    "{} is {} bytes, more than the {} left of the byte limit ({} bytes for all layers)",
                    lossy(path),
                    member.size,
                    self.left.get(),
                    self.limits.max_bytes
                ),
                "--image-max-bytes",
            ));
        }
        let what = match kind {
            T::Regular | T::Continuous | T::Directory | T::Symlink | T::Link => None,
            T::Char => Some("a character device: no device node is made on the host"),
            T::Block => Some("a block device: no device node is made on the host"),
            T::Fifo => Some("a FIFO: none is made on the host"),
            _ => Some("an entry of a type that is neither file, directory nor link"),
        };
        if let Some(why) = what {
            self.skip(path, why);
            return Ok(());
        }
        let dir = match self.parent(parents, true)? {
            Ok(Some(dir)) => dir,
            Ok(None) => unreachable!("parents are made"),
            Err(why) => {
                self.skip(path, why);
                return Ok(());
            }
        };
        let uid = Uid::from_raw(owner_id(member.uid));
        let gid = Gid::from_raw(owner_id(member.gid));
        let done = match kind {
            T::Directory => {
                let existing = statat(&dir, *name, AtFlags::SYMLINK_NOFOLLOW).ok();
                match existing {
                    Some(stat) if is_dir(&stat) => {}
                    Some(_) => remove(&dir, name).map_err(|e| host("remove an entry", e))?,
                    None => {}
                }
                if !existing.is_some_and(|s| is_dir(&s)) {
                    mkdirat(&dir, *name, Mode::from_raw_mode(0o700))
                        .map_err(|e| host("make a directory", e))?;
                }
                let fd = open_dir_in(&dir, name).map_err(|e| host("open a directory", e))?;
                fchown(&fd, Some(uid), Some(gid)).map_err(|e| host("set an owner", e))?;
                let mode = self.strip(path, member.mode);
                fchmod(&fd, mode).map_err(|e| host("set a mode", e))?;
                true
            }
            T::Regular | T::Continuous => {
                remove(&dir, name).map_err(|e| host("remove an entry", e))?;
                let fd = openat(
                    &dir,
                    *name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| host("create a file", e))?;
                let mut file = std::fs::File::from(fd);
                copy(entry, &mut file, member.size, io_problem)?;
                fchown(&file, Some(uid), Some(gid)).map_err(|e| host("set an owner", e))?;
                // After chown, which would clear set-uid bits anyway; none are kept.
                let mode = self.strip(path, member.mode);
                fchmod(&file, mode).map_err(|e| host("set a mode", e))?;
                let time = rustix::fs::Timespec {
                    tv_sec: i64::try_from(member.mtime).unwrap_or(0),
                    tv_nsec: 0,
                };
                let _ = futimens(
                    &file,
                    &Timestamps {
                        last_access: time,
                        last_modification: time,
                    },
                );
                true
            }
            T::Symlink => match member.link.as_deref() {
                Some(target) if !target.is_empty() && !target.contains(&0) => {
                    remove(&dir, name).map_err(|e| host("remove an entry", e))?;
                    symlinkat(target, &dir, *name).map_err(|e| host("make a symlink", e))?;
                    chownat(&dir, *name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| host("set an owner", e))?;
                    true
                }
                _ => {
                    self.skip(path, "a symlink without a usable target");
                    false
                }
            },
            T::Link => self.hard_link(path, &dir, name, member.link.as_deref())?,
            _ => unreachable!("other kinds are left out above"),
        };
        if done {
            self.touched.mark(&components);
        }
        Ok(())
    }

    /// A hard link at `name` in `dir` to the entry `target` names (from the root).
    fn hard_link(
        &mut self,
        path: &[u8],
        dir: &OwnedFd,
        name: &[u8],
        target: Option<&[u8]>,
    ) -> Result<bool, Problem> {
        let Some(target) = target else {
            self.skip(path, "a hard link without a target");
            return Ok(false);
        };
        let components = match clean(target) {
            Ok(c) => c,
            Err(why) => {
                self.skip(path, format!("a hard link to {}: {why}", lossy(target)));
                return Ok(false);
            }
        };
        let Some((source_name, source_parents)) = components.split_last() else {
            self.skip(path, "a hard link to the root");
            return Ok(false);
        };
        let missing = format!(
            "a hard link to {}, which is not in the image",
            lossy(target)
        );
        let source_dir = match self.parent(source_parents, false)? {
            Ok(Some(d)) => d,
            Ok(None) => {
                self.skip(path, missing);
                return Ok(false);
            }
            Err(why) => {
                self.skip(path, format!("a hard link to {}: {why}", lossy(target)));
                return Ok(false);
            }
        };
        let source = match statat(&source_dir, *source_name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if !is_dir(&stat) => stat,
            Ok(_) => {
                self.skip(
                    path,
                    format!("a hard link to the directory {}", lossy(target)),
                );
                return Ok(false);
            }
            Err(_) => {
                self.skip(path, missing);
                return Ok(false);
            }
        };
        if let Ok(existing) = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            if existing.st_dev == source.st_dev && existing.st_ino == source.st_ino {
                return Ok(true);
            }
        }
        remove(dir, name).map_err(|e| host("remove an entry", e))?;
        linkat(&source_dir, *source_name, dir, name, AtFlags::empty())
            .map_err(|e| host("make a hard link", e))?;
        Ok(true)
    }

    /// `.wh.NAME` (or `.wh..wh..opq` for the directory itself) in `parents`.
    fn whiteout(&mut self, path: &[u8], parents: &[&[u8]], hidden: &[u8]) -> Result<(), Problem> {
        let opaque = hidden == b".wh..opq";
        if !opaque
            && (hidden.is_empty()
                || hidden == b"."
                || hidden == b".."
                || hidden.starts_with(b".wh."))
        {
            self.skip(path, "a whiteout of no usable name");
            return Ok(());
        }
        let dir = match self.parent(parents, false)? {
            Ok(Some(dir)) => dir,
            // Nothing below to hide.
            Ok(None) => return Ok(()),
            Err(why) => {
                self.skip(path, why);
                return Ok(());
            }
        };
        if opaque {
            let node = self.touched.find(parents);
            return self.prune(&dir, node);
        }
        // What this same layer wrote stays: a whiteout hides lower layers only.
        let mut name_path = parents.to_vec();
        name_path.push(hidden);
        if self.touched.find(&name_path).is_some() {
            return Ok(());
        }
        remove(&dir, hidden).map_err(|e| host("remove a whited-out entry", e))
    }

    /// Removes from `dir` everything this layer did not write (`node`: this layer's
    /// id for `dir`, if it wrote anything there).
    fn prune(&self, dir: &OwnedFd, node: Option<u32>) -> Result<(), Problem> {
        let names = list(dir).map_err(|e| host("list a directory", e))?;
        for name in names {
            match node.and_then(|n| self.touched.child(n, &name)) {
                None => remove(dir, &name).map_err(|e| host("remove an entry", e))?,
                Some(child) => {
                    let stat = statat(dir, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| host("look at an entry", e))?;
                    if is_dir(&stat) {
                        let sub =
                            open_dir_in(dir, &name).map_err(|e| host("open a directory", e))?;
                        self.prune(&sub, Some(child))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Copies a member's `size` bytes into `file`: read errors are the layer's,
/// write errors the host's.
fn copy<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    file: &mut std::fs::File,
    size: u64,
    io_problem: &dyn Fn(io::Error) -> Problem,
) -> Result<(), Problem> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    while done < size {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Err(bad("a file's data ends before its size")),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_problem(e)),
        };
        file.write_all(&buf[..n])
            .map_err(|e| host("write a file", e))?;
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// One entry of a test layer.
    enum E<'a> {
        File(&'a str, &'a [u8], u32),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
        HardLink(&'a str, &'a str),
        Node(&'a str, tar::EntryType),
    }

    fn layer(entries: &[E]) -> Vec<u8> {
        let uid = rustix::process::geteuid().as_raw() as u64;
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(uid);
            h.set_gid(rustix::process::getegid().as_raw() as u64);
            h.set_mtime(1_700_000_000);
            let (path, data): (&str, &[u8]) = match e {
                E::File(p, data, mode) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    (p, data)
                }
                E::Dir(p) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    (p, &[])
                }
                E::Symlink(p, target) | E::HardLink(p, target) => {
                    h.set_entry_type(if matches!(e, E::Symlink(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    h.set_mode(0o777);
                    // Raw bytes: the builder's own setters refuse `..` and absolute names.
                    let gnu = h.as_gnu_mut().unwrap();
                    gnu.linkname = [0; 100];
                    gnu.linkname[..target.len()].copy_from_slice(target.as_bytes());
                    (p, &[])
                }
                E::Node(p, kind) => {
                    h.set_entry_type(*kind);
                    h.set_mode(0o644);
                    (p, &[])
                }
            };
            h.set_size(data.len() as u64);
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name = [0; 100];
            gnu.name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn sha(data: &[u8]) -> String {
        Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    struct Sandbox(std::path::PathBuf);

    impl Sandbox {
        fn new() -> Sandbox {
            let dir = std::env::temp_dir()
                .join(format!("breakout-unpack-{}", crate::names::unique_token()));
            std::fs::create_dir_all(&dir).unwrap();
            Sandbox(dir)
        }
        fn tree(&self) -> std::path::PathBuf {
            self.0.join("rootfs")
        }
    }

    impl Drop for Sandbox {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn unpack(
        sandbox: &Sandbox,
        layers: &[Vec<u8>],
        limits: Limits,
    ) -> Result<UnpackReport, Problem> {
        let mut u = Unpacker::new(&sandbox.tree(), limits)?;
        for l in layers {
            u.apply_layer(Box::new(io::Cursor::new(l.clone())), &sha(l))?;
        }
        Ok(u.finish())
    }

    fn read(sandbox: &Sandbox, path: &str) -> Option<String> {
        std::fs::read_to_string(sandbox.tree().join(path)).ok()
    }

    #[test]
    fn later_layers_win_in_order() {
        let s = Sandbox::new();
        let l1 = layer(&[
            E::File("a", b"1", 0o644),
            E::File("b", b"file", 0o644),
            E::Symlink("c", "a"),
            E::Dir("d"),
            E::File("d/x", b"x", 0o644),
        ]);
        let l2 = layer(&[
            E::File("a", b"2", 0o600),
            E::Dir("b"),
            E::File("b/inside", b"in", 0o644),
            E::File("c", b"no longer a link", 0o644),
            E::File("d", b"a file now", 0o644),
        ]);
        let report = unpack(&s, &[l1, l2], Limits::default()).unwrap();
        assert_eq!(report.layers, 2);
        assert_eq!(read(&s, "a").as_deref(), Some("2"));
        assert_eq!(
            std::fs::metadata(s.tree().join("a")).unwrap().mode() & 0o7777,
            0o600
        );
        assert_eq!(read(&s, "b/inside").as_deref(), Some("in"));
        assert!(!std::fs::symlink_metadata(s.tree().join("c"))
            .unwrap()
            .is_symlink());
        assert_eq!(read(&s, "d").as_deref(), Some("a file now"));
        assert_eq!(report.skipped_total, 0);
    }

    #[test]
    fn whiteouts_hide_lower_layers_only() {
        let s = Sandbox::new();
        let l1 = layer(&[
            E::Dir("d"),
            E::File("d/x", b"x", 0o644),
            E::File("d/y", b"y", 0o644),
            E::File("f", b"f", 0o644),
            E::Dir("gone"),
            E::File("gone/deep", b"z", 0o644),
        ]);
        let l2 = layer(&[
            E::File("d/.wh.x", b"", 0o644),
            E::File(".wh.f", b"", 0o644),
            E::File(".wh.gone", b"", 0o644),
            // Written and whited out in the same layer: the file stays.
            E::File("same", b"s", 0o644),
            E::File(".wh.same", b"", 0o644),
            // Nothing to hide: nothing happens, nothing is made.
            E::File("nowhere/.wh.x", b"", 0o644),
        ]);
        unpack(&s, &[l1, l2], Limits::default()).unwrap();
        assert_eq!(read(&s, "d/x"), None);
        assert_eq!(read(&s, "d/y").as_deref(), Some("y"));
        assert_eq!(read(&s, "f"), None);
        assert!(!s.tree().join("gone").exists());
        assert_eq!(read(&s, "same").as_deref(), Some("s"));
        assert!(!s.tree().join("nowhere").exists());
        assert!(!s.tree().join("d/.wh.x").exists());
    }

    #[test]
    fn opaque_directories_keep_only_this_layer() {
        let s = Sandbox::new();
        let l1 = layer(&[
            E::Dir("d"),
            E::File("d/old", b"old", 0o644),
            E::Dir("d/sub"),
            E::File("d/sub/deep", b"deep", 0o644),
            E::File("other", b"o", 0o644),
        ]);
        // Before and after the marker, both stay; what lower layers had goes, in
        // subdirectories this layer also wrote into too.
        let l2 = layer(&[
            E::File("d/new", b"new", 0o644),
            E::File("d/.wh..wh..opq", b"", 0o644),
            E::File("d/sub/kept", b"kept", 0o644),
        ]);
        unpack(&s, &[l1, l2], Limits::default()).unwrap();
        assert_eq!(read(&s, "d/new").as_deref(), Some("new"));
        assert_eq!(read(&s, "d/sub/kept").as_deref(), Some("kept"));
        assert_eq!(read(&s, "d/old"), None);
        assert_eq!(read(&s, "d/sub/deep"), None);
        assert_eq!(read(&s, "other").as_deref(), Some("o"));
        assert!(!s.tree().join("d/.wh..wh..opq").exists());
        // An opaque directory in the first layer hides nothing.
        let s = Sandbox::new();
        let only = layer(&[
            E::Dir("e"),
            E::File("e/.wh..wh..opq", b"", 0o644),
            E::File("e/f", b"f", 0o644),
        ]);
        unpack(&s, &[only], Limits::default()).unwrap();
        assert_eq!(read(&s, "e/f").as_deref(), Some("f"));
    }

    #[test]
    fn hostile_entries_stay_inside_and_are_listed() {
        let s = Sandbox::new();
        let canary = s.0.join("canary");
        std::fs::write(&canary, b"untouched").unwrap();
        let l1 = layer(&[
            E::File("../canary", b"overwritten", 0o644),
            E::File("/abs", b"x", 0o644),
            E::Symlink("etc", "/etc"),
            E::Symlink("up", "../.."),
            E::File("suid", b"#!", 0o4755),
            E::Dir("sticky"),
            E::Node("dev", tar::EntryType::Char),
            E::Node("blk", tar::EntryType::Block),
            E::Node("fifo", tar::EntryType::Fifo),
            E::HardLink("hl-abs", "/etc/passwd"),
            E::HardLink("hl-up", "../canary"),
            E::File(".wh...", b"", 0o644),
        ]);
        let l2 = layer(&[
            E::File("etc/breakout-written-through-a-link", b"x", 0o644),
            E::File("up/canary", b"overwritten", 0o644),
            E::HardLink("hl-through-link", "etc/passwd"),
            E::File("../.wh.canary", b"", 0o644),
            E::File("up/.wh.canary", b"", 0o644),
        ]);
        let report = unpack(&s, &[l1, l2], Limits::default()).unwrap();
        assert_eq!(std::fs::read(&canary).unwrap(), b"untouched");
        assert!(!Path::new("/etc/breakout-written-through-a-link").exists());
        let mut names: Vec<_> = std::fs::read_dir(&s.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["canary", "rootfs"]);
        // Links are stored as links, pointing where the image said.
        assert_eq!(
            std::fs::read_link(s.tree().join("etc")).unwrap(),
            Path::new("/etc")
        );
        let meta = std::fs::metadata(s.tree().join("suid")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o755);
        for absent in [
            "dev",
            "blk",
            "fifo",
            "abs",
            "hl-abs",
            "hl-up",
            "hl-through-link",
        ] {
            assert!(
                std::fs::symlink_metadata(s.tree().join(absent)).is_err(),
                "{absent}"
            );
        }
        assert_eq!(report.stripped_total, 1);
        let whys: Vec<String> = report
            .skipped
            .iter()
            .map(|k| format!("{}: {}", k.path, k.why))
            .collect();
        assert_eq!(report.skipped_total, 13, "{whys:#?}");
        assert!(
            whys.iter()
                .any(|w| w.starts_with("dev: a character device")),
            "{whys:#?}"
        );
        assert!(whys.iter().any(|w| w.contains("is a symlink")), "{whys:#?}");
    }

    #[test]
    fn bounds_are_kept() {
        // A header that claims more than the budget is refused before its data.
        let s = Sandbox::new();
        let mut h = tar::Header::new_gnu();
        h.set_path("big").unwrap();
        h.set_size(1 << 40);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let mut claim = h.as_bytes().to_vec();
        claim.extend_from_slice(&[0u8; 1024]);
        let mut u = Unpacker::new(&s.tree(), Limits::default()).unwrap();
        let err = u
            .apply_layer(Box::new(io::Cursor::new(claim.clone())), &sha(&claim))
            .err()
            .unwrap();
        assert!(
            matches!(&err, Problem::Limit(t, "--image-max-bytes") if t.contains("big is 1099511627776 bytes")),
            "{err:?}"
        );
        // Bytes that are not file data (a device entry's) count too: a gzip layer that
        // expands past the budget stops there.
        let s = Sandbox::new();
        let zeros = vec![0u8; 4 << 20];
        let mut h = tar::Header::new_gnu();
        h.set_path("dev").unwrap();
        h.set_size(zeros.len() as u64);
        h.set_entry_type(tar::EntryType::Char);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &zeros[..]).unwrap();
        let plain = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() < 64 << 10);
        let limits = Limits {
            max_bytes: 1 << 20,
            max_entries: 100,
        };
        let mut u = Unpacker::new(&s.tree(), limits).unwrap();
        let err = u
            .apply_layer(Box::new(io::Cursor::new(gz)), &sha(&plain))
            .err()
            .unwrap();
        assert!(
            matches!(&err, Problem::Limit(t, _) if t.contains("expand to more than 1048576")),
            "{err:?}"
        );
        // Entries, implicit parent directories included.
        let s = Sandbox::new();
        let many = layer(&[E::File("a/b/c/d/e", b"", 0o644)]);
        let err = unpack(
            &s,
            &[many],
            Limits {
                max_bytes: 1 << 20,
                max_entries: 3,
            },
        )
        .err()
        .unwrap();
        assert!(
            matches!(&err, Problem::Limit(t, "--image-max-entries") if t.contains("more than 3 entries")),
            "{err:?}"
        );
    }

    #[test]
    fn a_layer_must_be_what_the_config_names() {
        let s = Sandbox::new();
        let l = layer(&[E::File("a", b"1", 0o644)]);
        let mut u = Unpacker::new(&s.tree(), Limits::default()).unwrap();
        let err = u
            .apply_layer(Box::new(io::Cursor::new(l)), &"0".repeat(64))
            .err()
            .unwrap();
        assert!(
            matches!(&err, Problem::Bad(t) if t.contains("hashes to")),
            "{err:?}"
        );
    }

    #[test]
    fn zstd_layers_unpack() {
        let s = Sandbox::new();
        let l = layer(&[E::File("z", b"zstd", 0o644)]);
        let compressed = zstd::encode_all(&l[..], 3).unwrap();
        let mut u = Unpacker::new(&s.tree(), Limits::default()).unwrap();
        u.apply_layer(Box::new(io::Cursor::new(compressed)), &sha(&l))
            .unwrap();
        assert_eq!(read(&s, "z").as_deref(), Some("zstd"));
    }
}
