//! Tar streams read member by member with every extension header bounded, and the
//! blobs of an image: files of an OCI layout directory, or members of an archive.
//!
//! Why the `tar` crate's raw mode: in its normal mode the crate reads a GNU long name
//! (`L`/`K`) or a PAX header (`x`) into memory whole, whatever size its header claims,
//! so one hostile header could ask for gigabytes. Raw mode hands every header over as
//! it is; [`walk`] reads those extension headers here, each up to a bound, and applies
//! them (path, link path, owner, modification time) to the member they describe. A
//! PAX `size` that differs from the header's would make the crate and this reader
//! disagree on where the next header is, so it is refused, as is anything sparse (its
//! data is not laid out as its size says).
//!
//! Blobs of a layout directory are opened with openat2(2) `RESOLVE_IN_ROOT |
//! RESOLVE_NO_SYMLINKS` below the directory, as regular files only: a `blobs/sha256/…`
//! planted as a link to a host file is refused rather than read (its digest would give
//! nothing away, but nothing of the host is read on an image's say-so). Members of an
//! archive are found by an index of offsets made in one pass over its headers, and
//! read in place; a symlink or hard link member (`docker save` links a layer stored
//! twice) is followed inside the archive's own names only.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};

use super::{bad, Limits, Problem};

/// The longest GNU long name or long link name read (Linux paths are at most 4096).
const MAX_LONG_NAME: u64 = 64 * 1024;
/// The largest PAX extended header read.
const MAX_PAX: u64 = 1024 * 1024;

/// One member of a tar stream, its extension headers applied.
#[derive(Debug, Clone)]
pub(super) struct Member {
    pub path: Vec<u8>,
    pub link: Option<Vec<u8>>,
    pub kind: tar::EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// Bytes of data in the stream.
    pub size: u64,
}

/// Counts the headers of one or several streams against a bound.
pub(super) struct Counter {
    pub count: std::cell::Cell<u64>,
    pub max: u64,
}

impl Counter {
    pub fn new(max: u64) -> Counter {
        Counter {
            count: std::cell::Cell::new(0),
            max,
        }
    }

    pub fn add(&self, n: u64) -> Result<(), Problem> {
        self.count.set(self.count.get() + n);
        if self.count.get() > self.max {
            return Err(Problem::Limit(
                format!(
                    "it has more than {} entries (the entry-count limit)",
                    self.max
                ),
                "--image-max-entries",
            ));
        }
        Ok(())
    }
}

/// The extension headers read so far for the next member.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<u64>,
    size: Option<u64>,
    sparse: bool,
}

fn read_bounded<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    max: u64,
    what: &str,
) -> Result<Vec<u8>, Problem> {
    if entry.size() > max {
        return Err(bad(format!(
            "a {what} header of {} bytes (more than the {max} read)",
            entry.size()
        )));
    }
    let mut data = Vec::new();
    entry
        .by_ref()
        .take(max)
        .read_to_end(&mut data)
        .map_err(|e| bad(format!("cannot read a {what} header: {e}")))?;
    Ok(data)
}

/// A NUL-terminated name from a GNU long name header.
fn trim_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(end) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(end);
    }
    bytes
}

fn pax_number(value: &[u8]) -> Option<u64> {
    // mtime may carry a fraction ("1700000000.5"); whole seconds are enough.
    let whole = value.split(|&b| b == b'.').next()?;
    std::str::from_utf8(whole).ok()?.parse().ok()
}

fn apply_pax(pending: &mut Pending, data: &[u8]) -> Result<(), Problem> {
    for ext in tar::PaxExtensions::new(data) {
        let ext = ext.map_err(|e| bad(format!("a malformed PAX header: {e}")))?;
        let value = ext.value_bytes();
        match ext.key_bytes() {
            b"path" => pending.path = Some(value.to_vec()),
            b"linkpath" => pending.link = Some(value.to_vec()),
            b"uid" => pending.uid = pax_number(value),
            b"gid" => pending.gid = pax_number(value),
            b"mtime" => pending.mtime = pax_number(value),
            b"size" => {
                pending.size =
                    Some(pax_number(value).ok_or_else(|| bad("a PAX size that is not a number"))?)
            }
            key if key.starts_with(b"GNU.sparse.") => pending.sparse = true,
            _ => {}
        }
    }
    Ok(())
}

/// Visits every member of `archive` in order with its extension headers applied;
/// `visit` may read the member's data. Every header, extension headers included, is
/// counted in `counter`; read errors are turned into problems by `io_problem` (which
/// knows whether a byte bound under the stream was what failed).
pub(super) fn walk<'a, R: Read + 'a>(
    entries: tar::Entries<'a, R>,
    counter: &Counter,
    io_problem: &dyn Fn(io::Error) -> Problem,
    mut visit: impl FnMut(&Member, &mut tar::Entry<'a, R>) -> Result<(), Problem>,
) -> Result<(), Problem> {
    let entries = entries.raw(true);
    let mut pending = Pending::default();
    for entry in entries {
        let mut entry = entry.map_err(io_problem)?;
        counter.add(1)?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        match kind {
            tar::EntryType::GNULongName => {
                pending.path = Some(trim_nul(read_bounded(
                    &mut entry,
                    MAX_LONG_NAME,
                    "long name",
                )?));
                continue;
            }
            tar::EntryType::GNULongLink => {
                pending.link = Some(trim_nul(read_bounded(
                    &mut entry,
                    MAX_LONG_NAME,
                    "long link name",
                )?));
                continue;
            }
            tar::EntryType::XHeader => {
                let data = read_bounded(&mut entry, MAX_PAX, "PAX")?;
                apply_pax(&mut pending, &data)?;
                continue;
            }
            tar::EntryType::XGlobalHeader => {
                read_bounded(&mut entry, MAX_PAX, "PAX global")?;
                continue;
            }
            _ => {}
        }
        let pending = std::mem::take(&mut pending);
        let size = entry.size();
        if let Some(pax_size) = pending.size {
            if pax_size != size {
                return Err(bad(format!(
                    "an entry whose PAX size ({pax_size}) is not its header's ({size}); entries past what a tar header can state are refused"
                )));
            }
        }
        if pending.sparse || kind == tar::EntryType::GNUSparse {
            return Err(bad("a sparse file (GNU sparse or PAX GNU.sparse): image layers do not hold them, and their data is not laid out as their size says"));
        }
        let member = Member {
            path: pending
                .path
                .unwrap_or_else(|| header.path_bytes().into_owned()),
            link: pending
                .link
                .or_else(|| header.link_name_bytes().map(|l| l.into_owned())),
            kind,
            // A numeric field a writer left empty or garbled reads as a safe default:
            // the entry is still placed by the same rules.
            mode: header.mode().unwrap_or(0o644),
            uid: pending.uid.or_else(|| header.uid().ok()).unwrap_or(0),
            gid: pending.gid.or_else(|| header.gid().ok()).unwrap_or(0),
            mtime: pending.mtime.or_else(|| header.mtime().ok()).unwrap_or(0),
            size,
        };
        visit(&member, &mut entry)?;
    }
    Ok(())
}

/// A member's name as the index keys it: `./a//b/` is `a/b`; `None` for a name that
/// climbs (`..`) or is empty.
pub(super) fn normalize(name: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(name).ok()?;
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[derive(Debug, Clone)]
pub(super) enum Slot {
    File {
        offset: u64,
        size: u64,
    },
    /// A link to another member's name (normalized, inside the archive).
    Link(String),
}

/// Where an image's blobs and metadata files are.
pub(super) enum Blobs {
    /// An OCI layout directory.
    Dir { root: OwnedFd, path: PathBuf },
    /// A tar archive, indexed.
    Archive {
        file: File,
        path: PathBuf,
        members: HashMap<String, Slot>,
    },
}

/// A member of an archive, read in place.
struct Slice<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = usize::try_from(self.end - self.pos).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Blobs {
    pub fn dir(dir: &Path) -> Result<Blobs, Problem> {
        let root = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| bad(format!("cannot open {}: {e}", dir.display())))?;
        Ok(Blobs::Dir {
            root,
            path: dir.to_path_buf(),
        })
    }

    /// Indexes the members of the tar archive at `path` (at most the entry-count limit).
    pub fn archive(path: &Path, limits: &Limits) -> Result<Blobs, Problem> {
        let file = open_regular(CWD, path, ResolveFlags::empty())
            .map_err(|e| bad(format!("cannot open {}: {e}", path.display())))?;
        let members = index(&file, limits.max_entries)?;
        Ok(Blobs::Archive {
            file,
            path: path.to_path_buf(),
            members,
        })
    }

    fn describe(&self) -> String {
        match self {
            Blobs::Dir { path, .. } | Blobs::Archive { path, .. } => path.display().to_string(),
        }
    }

    /// Opens `name` (a path relative to the layout or archive root) and says its size.
    pub fn open(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64), Problem> {
        let missing = |why: String| bad(format!("{name:?} in {}: {why}", self.describe()));
        let Some(clean) = normalize(name.as_bytes()) else {
            return Err(missing("not a name inside the image".into()));
        };
        match self {
            Blobs::Dir { root, .. } => {
                let file = open_regular(
                    root,
                    Path::new(&clean),
                    ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV,
                )
                .map_err(|e| missing(e.to_string()))?;
                let size = file.metadata().map_err(|e| missing(e.to_string()))?.len();
                Ok((Box::new(file), size))
            }
            Blobs::Archive { file, members, .. } => {
                let mut wanted = clean;
                for _ in 0..8 {
                    match members.get(&wanted) {
                        Some(Slot::File { offset, size }) => {
                            let slice = Slice {
                                file,
                                pos: *offset,
                                end: offset + size,
                            };
                            return Ok((Box::new(slice), *size));
                        }
                        Some(Slot::Link(target)) => wanted = target.clone(),
                        None => return Err(missing("no such member".into())),
                    }
                }
                Err(missing("a chain of links".into()))
            }
        }
    }

    /// Reads all of `name`, refusing one larger than `max` bytes.
    pub fn read_small(&self, name: &str, max: u64) -> Result<Vec<u8>, Problem> {
        let (reader, size) = self.open(name)?;
        if size > max {
            return Err(bad(format!(
                "{name:?} is {size} bytes, more than the {max} a metadata file may have"
            )));
        }
        let mut data = Vec::new();
        reader
            .take(max)
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("cannot read {name:?}: {e}")))?;
        Ok(data)
    }
}

/// Opens a regular file without following links where `resolve` says so, and without
/// blocking on a FIFO; anything else is refused.
fn open_regular(
    dir: impl rustix::fd::AsFd,
    path: &Path,
    resolve: ResolveFlags,
) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = if resolve.is_empty() {
        rustix::fs::openat(dir, path, flags, Mode::empty())?
    } else {
        openat2(dir, path, flags | OFlags::NOFOLLOW, Mode::empty(), resolve)?
    };
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// One pass over the archive's headers: where each member's data is.
fn index(file: &File, max_entries: u64) -> Result<HashMap<String, Slot>, Problem> {
    let mut archive = tar::Archive::new(file);
    let mut members = HashMap::new();
    let counter = Counter::new(max_entries);
    let io_problem = |e: io::Error| bad(format!("not a readable tar archive: {e}"));
    let entries = archive.entries_with_seek().map_err(io_problem)?;
    walk(entries, &counter, &io_problem, |member, entry| {
        let Some(name) = normalize(&member.path) else {
            return Ok(());
        };
        let slot = match member.kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => Slot::File {
                offset: entry.raw_file_position(),
                size: member.size,
            },
            // A hard link names another member from the archive's root.
            tar::EntryType::Link => match member.link.as_deref().and_then(normalize) {
                Some(target) => Slot::Link(target),
                None => return Ok(()),
            },
            // A symlink names one relative to its own directory.
            tar::EntryType::Symlink => {
                let Some(link) = member.link.as_deref() else {
                    return Ok(());
                };
                if link.starts_with(b"/") {
                    return Ok(());
                }
                let parent = name.rsplit_once('/').map_or("", |(p, _)| p);
                let mut joined = parent.as_bytes().to_vec();
                joined.push(b'/');
                joined.extend_from_slice(link);
                match resolve_dots(&joined) {
                    Some(target) => Slot::Link(target),
                    None => return Ok(()),
                }
            }
            _ => return Ok(()),
        };
        members.insert(name, slot);
        Ok(())
    })?;
    Ok(members)
}

/// `a/b/../c` is `a/c`; `None` if it climbs above the root.
fn resolve_dots(path: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(path).ok()?;
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// What an archive holds, from its members' names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sniffed {
    Oci,
    Docker,
}

/// Whether the file at `path` is a tar of an OCI layout or a docker save archive
/// (newer docker writes both; the OCI layout is preferred, it has a manifest digest).
pub(super) fn sniff(path: &Path) -> Option<Sniffed> {
    let file = open_regular(CWD, path, ResolveFlags::empty()).ok()?;
    let members = index(&file, Limits::default().max_entries).ok()?;
    if members.contains_key("oci-layout") && members.contains_key("index.json") {
        Some(Sniffed::Oci)
    } else if members.contains_key("manifest.json") {
        Some(Sniffed::Docker)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize(b"./a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalize(b"../a"), None);
        assert_eq!(normalize(b"./"), None);
        assert_eq!(resolve_dots(b"a/../b").as_deref(), Some("b"));
        assert_eq!(resolve_dots(b"a/../../b"), None);
    }

    #[test]
    fn extension_headers_are_bounded() {
        // A GNU long name header that claims more than is ever read.
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_size(MAX_LONG_NAME + 1);
        header.set_cksum();
        let mut data = header.as_bytes().to_vec();
        data.extend(std::iter::repeat_n(b'a', 1024));
        let mut archive = tar::Archive::new(&data[..]);
        let counter = Counter::new(10);
        let err = walk(
            archive.entries().unwrap(),
            &counter,
            &|e| bad(e.to_string()),
            |_, _| Ok(()),
        )
        .unwrap_err();
        assert!(
            matches!(err, Problem::Bad(ref t) if t.contains("long name")),
            "{err:?}"
        );
    }

    #[test]
    fn long_names_and_pax_apply_to_the_next_member() {
        let mut builder = tar::Builder::new(Vec::new());
        let long = "d/".repeat(80) + "file";
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, &long, &b"abc"[..])
            .unwrap();
        builder
            .append_pax_extensions([("uid", &b"4242"[..])])
            .unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_path("owned").unwrap();
        header.set_cksum();
        builder.append(&header, &[][..]).unwrap();
        let data = builder.into_inner().unwrap();
        let mut seen = Vec::new();
        let counter = Counter::new(100);
        walk(
            tar::Archive::new(&data[..]).entries().unwrap(),
            &counter,
            &|e| bad(e.to_string()),
            |m, _| {
                seen.push((String::from_utf8(m.path.clone()).unwrap(), m.uid));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, vec![(long, 0), ("owned".to_string(), 4242)]);
        // Two extension headers and two members.
        assert_eq!(counter.count.get(), 4);
    }
}
