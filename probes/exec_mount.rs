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

/// What `exec.mmap-exec` maps and runs: `lea rax, [rip+1]; ret`, then the nonce. The
/// code returns the address of the bytes after it, so what the probe reads back there
/// is the nonce only if the mapped code ran.
const CODE: [u8; 8] = [0x48, 0x8d, 0x05, 0x01, 0x00, 0x00, 0x00, 0xc3];

fn mapped_image(nonce: &str) -> Vec<u8> {
    let mut image = CODE.to_vec();
    image.extend_from_slice(nonce.as_bytes());
    image
}

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

/// `mmap(PROT_READ|PROT_EXEC, MAP_PRIVATE)` of a file written to the mount, the step a
/// dynamic loader takes, then a call into it: the code hands back the nonce, which the
/// verdict carries (the witness, as a payload's). On a `noexec` mount the kernel
/// refuses the mapping with EPERM. The file is written and mapped through one
/// descriptor, so nothing can swap it in between.
pub fn mmap_exec(ctx: &Ctx, mount: &str) -> Verdict {
    let path = mmap_path(mount, &ctx.inv.nonce);
    let image = mapped_image(&ctx.inv.nonce);
    let _ = std::fs::remove_file(&path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(&image).map(|()| file));
    let file = match file {
        Ok(file) => file,
        Err(err) => {
            let _ = std::fs::remove_file(&path);
            return not_writable(mount, &err);
        }
    };
    let ran = run_mapped(&file, image.len(), ctx.inv.nonce.len());
    drop(file);
    let _ = std::fs::remove_file(&path);
    let what = format!("mmap(PROT_READ|PROT_EXEC) of {}", path.display());
    match ran {
        Ok(said) if said == ctx.inv.nonce.as_bytes() => {
            let mut v = Verdict::escaped(format!("{what} succeeded, and the mapped code ran"));
            v.nonce = Some(ctx.inv.nonce.clone());
            v
        }
        Ok(_) => Verdict::error(None, format!("{what} ran, but handed back something else")),
        Err(errno) => Verdict::blocked(errno, &what),
    }
}

/// Maps `len` bytes of `file` readable and executable, calls the code at its start,
/// copies the `said` bytes it points back at, and unmaps.
fn run_mapped(file: &std::fs::File, len: usize, said: usize) -> Result<Vec<u8>, Errno> {
    // SAFETY: a new private mapping of an open file at an address the kernel picks; no
    // existing memory is touched.
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
    // SAFETY: the mapping holds `CODE` (written by us through the descriptor it maps,
    // which no one else holds), a function of the C ABI that takes nothing, touches
    // only rax and returns a pointer into the mapping: CODE.len() bytes past its start,
    // where `said` bytes lie within `len`.
    let said_bytes = unsafe {
        let code: extern "C" fn() -> *const u8 = std::mem::transmute(addr);
        let at = code();
        std::slice::from_raw_parts(at, said).to_vec()
    };
    // SAFETY: exactly the mapping just made, unmapped once; nothing refers to it now.
    unsafe {
        libc::munmap(addr, len);
    }
    Ok(said_bytes)
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
