//! `exec.*` probes that run once per mount and get around `noexec`: a shell reading a
//! script from the mount (`exec.interpreter`) and an executable mapping of a file on it
//! (`exec.mmap-exec`, the step a dynamic loader takes for a library).

use breakout_wire::names::Leftover;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::ctx::{Ctx, Verdict};
use crate::payload::{self, handoff_payload_argv, DEFAULT_SHELL};
use crate::sys::Errno;

/// Where `exec.interpreter` writes its script; the payload removes it.
pub fn script_path(dir: &str, nonce: &str) -> PathBuf {
    Leftover::Script.path(dir, nonce)
}

/// Where `exec.mmap-exec` writes the file it maps; removed by the probe itself.
pub fn mmap_path(dir: &str, nonce: &str) -> PathBuf {
    Leftover::Mmap.path(dir, nonce)
}

/// The script: the shell replaces itself with its positional arguments (the payload's
/// argv), so it needs no fork. Not executable: the shell reads it, nothing execs it.
pub const SCRIPT: &str =
    "# breakout exec.interpreter: a shell read this file; nothing executed it\nexec \"$@\"\n";

/// What `exec.mmap-exec` maps: plain text, never run.
const MAPPED: &[u8] = b"breakout exec.mmap-exec: mapped executable, never run\n";

/// `SHELL SCRIPT PAYLOAD payload --step exec.interpreter@DST FLAGS...`: the shell reads
/// the script from the mount, which `noexec` does not forbid.
pub fn interpreter(ctx: &Ctx, mount: &str) -> Verdict {
    let step = format!("exec.interpreter@{mount}");
    let token = breakout_wire::protocol::handoff_token(&ctx.inv.nonce, &step);
    let script = script_path(mount, &ctx.inv.nonce);
    if let Err(err) = write_new(&script, SCRIPT.as_bytes()) {
        return not_writable(mount, &err);
    }
    let shell = ctx.inv.shell.as_deref().unwrap_or(DEFAULT_SHELL);
    let mut argv = vec!["sh".to_string(), script.display().to_string()];
    argv.extend(handoff_payload_argv(&ctx.payload, &step, &token, &ctx.inv));
    // The shell is the image's: the step hands the process over (see `payload::handoff`).
    let errno = payload::handoff(ctx, &step, Path::new(shell), &argv);
    let _ = std::fs::remove_file(&script);
    match errno {
        Errno(libc::ENOENT) => Verdict::not_applicable(Some(errno), format!("no shell at {shell}")),
        errno => Verdict::blocked(errno, &format!("execve {shell} {}", script.display())),
    }
}

/// `mmap(PROT_READ|PROT_EXEC, MAP_PRIVATE)` of a file written to the mount. On a
/// `noexec` mount the kernel refuses with EPERM. The mapping is never jumped into.
pub fn mmap_exec(ctx: &Ctx, mount: &str) -> Verdict {
    let path = mmap_path(mount, &ctx.inv.nonce);
    if let Err(err) = write_new(&path, MAPPED) {
        return not_writable(mount, &err);
    }
    let mapped = std::fs::File::open(&path)
        .map_err(|err| Errno::from_io(&err).unwrap_or(Errno(libc::EIO)))
        .map(|file| map_exec(&file, MAPPED.len()));
    let _ = std::fs::remove_file(&path);
    let what = format!("mmap(PROT_READ|PROT_EXEC) of {}", path.display());
    match mapped {
        Err(errno) => Verdict::error(
            Some(errno),
            format!("reopening {}: {errno}", path.display()),
        ),
        Ok(Ok(())) => Verdict::escaped(format!("{what} succeeded (unmapped, never run)")),
        Ok(Err(errno)) => Verdict::blocked(errno, &what),
    }
}

/// Maps `len` bytes of `file` readable and executable, and unmaps them at once.
fn map_exec(file: &std::fs::File, len: usize) -> Result<(), Errno> {
    // SAFETY: a new private mapping of an open file at an address the kernel picks; no
    // existing memory is touched, and nothing reads or runs the mapping.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    // SAFETY: exactly the mapping just made, unmapped once; nothing refers to it.
    unsafe {
        libc::munmap(addr, len);
    }
    Ok(())
}

fn not_writable(mount: &str, err: &io::Error) -> Verdict {
    let errno = Errno::from_io(err);
    let why = errno.map_or_else(|| err.to_string(), Errno::name);
    Verdict::not_applicable(errno, format!("{mount} is not writable ({why})"))
}

/// Creates `path` (0644) with `bytes`, replacing a leftover of an earlier container of
/// this run that died in this step; closed before returning, so an exec of it cannot
/// meet ETXTBSY. A partial file is removed.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    let written = file.write_all(bytes);
    drop(file);
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_execs_its_arguments() {
        assert!(SCRIPT.lines().any(|l| l == "exec \"$@\""));
        assert_eq!(
            script_path("/scratch", "N"),
            Path::new("/scratch/.breakout-script-N")
        );
    }
}
