//! `exec.*` probes that reach an exec by a route a deny list easily misses: a file with
//! no path (`exec.memfd`), the 32-bit system call entry (`exec.i386`) and glibc's
//! `posix_spawn` child (`exec.posix-spawn`). Each starts the payload (see
//! [`crate::exec`]), whose nonce is the witness.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use breakout_wire::protocol::ProbeOutcome;

use crate::ctx::{Ctx, Verdict};
use crate::payload::payload_argv;
use crate::spawn_clone_vm::{self, ChildStack, SpawnedExit};
use crate::sys::{self, CArgv, ChildEnd, Errno};
use crate::sys_i386::{self, LowMem};

/// `memfd_create` flags (`linux/memfd.h`). `MFD_EXEC` (Linux 6.3) says the memfd is
/// meant to be executed, so `vm.memfd_noexec=1` does not seal it non-executable; older
/// kernels reject the unknown flag with EINVAL and are asked again without it.
const MFD_CLOEXEC: libc::c_uint = 0x0001;
const MFD_EXEC: libc::c_uint = 0x0010;

/// Fileless exec: the payload's image in a memfd, run with
/// `execveat(fd, "", argv, NULL, AT_EMPTY_PATH)`. The memfd is close-on-exec: the kernel
/// has the file open for the exec already, and only a script (whose interpreter reopens
/// it through /dev/fd) needs the descriptor to survive; the payload is an ELF.
pub fn memfd(ctx: &Ctx) -> Verdict {
    let image = match ctx.payload_image() {
        Ok(image) => image,
        Err(verdict) => return verdict,
    };
    let fd = match memfd_create(c"breakout-payload") {
        Ok(fd) => fd,
        Err(errno @ Errno(libc::EACCES)) => {
            return Verdict::blocked(
                errno,
                "memfd_create(MFD_EXEC) (vm.memfd_noexec=2 refuses executable memfds)",
            )
        }
        Err(errno) => return Verdict::blocked(errno, "memfd_create"),
    };
    let mut file = std::fs::File::from(fd);
    if let Err(err) = file.write_all(&image) {
        return Verdict::error(
            Errno::from_io(&err),
            format!("writing the payload into the memfd: {err}"),
        );
    }
    let Ok(argv) = CArgv::new(&payload_argv(&ctx.payload, "exec.memfd", &ctx.inv)) else {
        return Verdict::error(Some(Errno(libc::EINVAL)), "payload argv has a NUL byte");
    };
    ctx.out.flush();
    let errno = sys::raw_execveat_fd(file.as_fd(), &argv);
    Verdict::blocked(errno, "execveat(memfd, \"\", AT_EMPTY_PATH)")
}

/// `memfd_create` (nr 319) by number, close-on-exec and executable.
fn memfd_create(name: &std::ffi::CStr) -> Result<OwnedFd, Errno> {
    let call = |flags: libc::c_uint| {
        // SAFETY: `name` is a NUL-terminated string alive across the call; the flags
        // are plain bits.
        sys::cvt(unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), flags) })
    };
    let fd = match call(MFD_CLOEXEC | MFD_EXEC) {
        Err(Errno(libc::EINVAL)) => call(MFD_CLOEXEC)?,
        other => other?,
    };
    let fd = libc::c_int::try_from(fd).map_err(|_| Errno(libc::EBADF))?;
    // SAFETY: memfd_create just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// i386 system call numbers (`arch/x86/entry/syscalls/syscall_32.tbl`).
const I386_EXECVE: u32 = 11;

/// `execve` of the payload through `int 0x80`: the kernel takes it as the i386 call
/// (nr 11, audit arch `AUDIT_ARCH_I386`), so a filter judges it by its x86 rules, not
/// its x86_64 ones (libseccomp kills it when the profile lists no x86).
pub fn i386(ctx: &Ctx) -> Verdict {
    if !sys_i386::i386_available() {
        return Verdict::not_applicable(None, "no i386 emulation in this kernel");
    }
    let argv = payload_argv(&ctx.payload, "exec.i386", &ctx.inv);
    // Each string 8-byte aligned plus a 4-byte pointer to it, with room to spare.
    let needed: usize = argv.iter().map(|a| a.len() + 16).sum::<usize>() + ctx.payload.len() + 64;
    let placed = LowMem::new(needed.next_multiple_of(4096)).and_then(|mut mem| {
        let path = mem.put_str(&ctx.payload)?;
        let argv = mem.put_argv(&argv)?;
        Ok((mem, path, argv))
    });
    let (mem, path, argv) = match placed {
        Ok(placed) => placed,
        Err(errno) => {
            return Verdict::error(
                Some(errno),
                format!("cannot place the payload's path and argv below 4 GiB: {errno}"),
            )
        }
    };
    ctx.out.flush();
    let result = sys_i386::int80(I386_EXECVE, [path, argv, 0, 0, 0]);
    // The strings had to stay mapped across the call; only a failed exec gets here.
    drop(mem);
    match result {
        Err(errno) => Verdict::blocked(errno, "execve through int 0x80"),
        Ok(ret) => Verdict::error(None, format!("i386 execve returned {ret}")),
    }
}

pub const POSIX_SPAWN_STEP: &str = "exec.posix-spawn";

/// The argv of a payload started in a child: it reports the step and exits (`--once`)
/// while the runner goes on.
pub fn once_argv(
    payload: &str,
    step: &str,
    inv: &breakout_wire::protocol::Invocation,
) -> Vec<String> {
    let mut argv = payload_argv(payload, step, inv);
    // [ARGV0, "payload", "--step", STEP, ...]: `--once` goes right after STEP.
    argv.insert(4, "--once".to_string());
    argv
}

/// glibc's `posix_spawn` route: `clone(CLONE_VM|CLONE_VFORK|SIGCHLD)` on a stack of the
/// child's own, `execve` in the child. The payload (`--once`) prints this step's verdict
/// with the nonce and exits 0; a failed exec comes back as the child's exit code.
pub fn posix_spawn(ctx: &Ctx) -> Verdict {
    const WHAT: &str = "clone(CLONE_VM|CLONE_VFORK)";
    let argv = once_argv(&ctx.payload, POSIX_SPAWN_STEP, &ctx.inv);
    let (Ok(path), Ok(argv)) = (CString::new(ctx.payload.as_str()), CArgv::new(&argv)) else {
        return Verdict::error(
            Some(Errno(libc::EINVAL)),
            "payload path or argv has a NUL byte",
        );
    };
    let stack = match ChildStack::new() {
        Ok(stack) => stack,
        Err(errno) => {
            return Verdict::error(
                Some(errno),
                format!("cannot map a stack for the child: {errno}"),
            )
        }
    };
    // The child's payload writes to the same stdout.
    ctx.out.flush();
    let pid = match spawn_clone_vm::vfork_exec(stack, &path, &argv) {
        Ok(pid) => pid,
        Err(errno) => return Verdict::blocked(errno, WHAT),
    };
    match sys::wait_child(pid) {
        Ok(ChildEnd::Exited(code)) => match spawn_clone_vm::decode_exit(code) {
            SpawnedExit::PayloadOk => Verdict::already_reported(format!(
                "payload started by execve in {WHAT} child {pid}"
            )),
            SpawnedExit::ExecFailed(errno) => {
                Verdict::blocked(errno, &format!("execve in {WHAT} child {pid}"))
            }
            SpawnedExit::PayloadFailed(code) => Verdict::error(
                None,
                format!("the payload in {WHAT} child {pid} exited {code} without its verdict"),
            ),
        },
        Ok(ChildEnd::Signaled(libc::SIGSYS)) => Verdict {
            outcome: ProbeOutcome::Blocked,
            mechanism: Some("SIGSYS".to_string()),
            detail: format!("{WHAT} child {pid} was killed by SIGSYS at its execve"),
            nonce: None,
            route: None,
            already_reported: false,
        },
        Ok(ChildEnd::Signaled(sig)) => Verdict::error(
            None,
            format!("{WHAT} child {pid} was killed by signal {sig}"),
        ),
        Err(errno) => Verdict::error(
            Some(errno),
            format!("waiting for {WHAT} child {pid} failed: {errno}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakout_wire::protocol::Invocation;

    #[test]
    fn once_goes_right_after_the_step() {
        let inv = Invocation {
            nonce: "N".into(),
            probes: vec!["exec.posix-spawn".into()],
            ..Invocation::default()
        };
        let argv = once_argv("/p", POSIX_SPAWN_STEP, &inv);
        assert_eq!(
            &argv[..5],
            ["/p", "payload", "--step", "exec.posix-spawn", "--once"]
        );
        assert_eq!(argv[5..], ["--nonce", "N", "--probes", "exec.posix-spawn"]);
    }
}
