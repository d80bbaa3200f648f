//! Thin layer over raw system calls: errno names, the one adapter for `-1`/errno returns,
//! and the few raw calls the probes make that libc would otherwise route elsewhere.
//!
//! Probes call syscalls by number on purpose: glibc's `fork()` is really `clone`, and a
//! seccomp profile is about syscall numbers, so the probe must make the exact call it
//! names.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An errno value as returned by a failed system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// Not an errno: a call said it succeeded, but the kernel shows nothing came of it
    /// (a filter's `errnoRet` 0). Only the probes' own checks produce it; it reads as
    /// the `fake-success` mechanism.
    pub const FAKED: Errno = Errno(0);

    /// The calling thread's current errno.
    pub fn last() -> Self {
        Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The errno behind a std I/O error. std reports a connect timeout without an OS
    /// error; it is mapped to `ETIMEDOUT`, which is what a blocking connect would give.
    pub fn from_io(err: &io::Error) -> Option<Self> {
        match err.raw_os_error() {
            Some(n) => Some(Errno(n)),
            None if err.kind() == io::ErrorKind::TimedOut => Some(Errno(libc::ETIMEDOUT)),
            None => None,
        }
    }

    /// The symbolic name (`EPERM`), or `E<number>` for values not in the table.
    pub fn name(self) -> String {
        if self == Errno::FAKED {
            return "fake-success".to_string();
        }
        errno_name(self.0).unwrap_or_else(|| format!("E{}", self.0))
    }

    /// The C library's description, without std's "(os error N)" suffix.
    pub fn description(self) -> String {
        if self == Errno::FAKED {
            return "the call returned success, but nothing came of it: the filter made it up"
                .to_string();
        }
        let text = io::Error::from_raw_os_error(self.0).to_string();
        match text.rfind(" (os error ") {
            Some(cut) => text[..cut].to_string(),
            None => text,
        }
    }
}

impl fmt::Display for Errno {
    /// `EPERM (Operation not permitted)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.description())
    }
}

/// The C name of an errno (`EPERM`), from nix's table (its `Debug` is the C name, the
/// same table the harness reads mechanisms with); `None` for a number it does not know.
pub fn errno_name(errno: i32) -> Option<String> {
    let known = nix::errno::Errno::from_raw(errno);
    (known != nix::errno::Errno::UnknownErrno).then(|| format!("{known:?}"))
}

/// The one adapter for C-library style returns: `-1` means "look at errno".
pub fn cvt(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// The kernel's own return convention (`-4095..=-1` is `-errno`), for calls made with
/// inline assembly where glibc never sets errno.
fn from_kernel(ret: i64) -> Result<i64, Errno> {
    if (-4095..0).contains(&ret) {
        // The range check above makes the negation fit an i32.
        Err(Errno(i32::try_from(-ret).unwrap_or(libc::EINVAL)))
    } else {
        Ok(ret)
    }
}

/// Terminates the calling process at once: no atexit handlers, no stdio flush (a forked
/// child shares the parent's buffered output and must not print it twice).
pub fn exit_now() -> ! {
    // SAFETY: exit takes a plain integer and never returns; nothing is left half-done
    // because the callers are freshly created children that own no resources.
    unsafe {
        libc::syscall(libc::SYS_exit, 0);
    }
    // exit cannot fail; this only satisfies the type checker.
    unreachable!("exit returned")
}

/// [`exit_now`] with a status: how a forked child tells its parent what happened to it
/// (the status is cut to its low 8 bits by the kernel).
pub fn exit_now_with(code: i32) -> ! {
    // SAFETY: as for exit_now; the status is a plain integer.
    unsafe {
        libc::syscall(libc::SYS_exit, libc::c_long::from(code));
    }
    // exit cannot fail; this only satisfies the type checker.
    unreachable!("exit returned")
}

/// Writes all of `bytes` to `fd` with raw `write` calls (no locks, no allocation: safe
/// in a freshly forked child); false if a write failed or wrote nothing.
pub fn raw_write_all(fd: libc::c_int, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the unwritten rest of `bytes`.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_write,
                libc::c_long::from(fd),
                bytes.as_ptr(),
                bytes.len(),
            )
        };
        match cvt(ret) {
            Ok(n) if n > 0 => bytes = &bytes[usize::try_from(n).unwrap_or(bytes.len())..],
            Err(Errno(libc::EINTR)) => {}
            _ => return false,
        }
    }
    true
}

/// This thread's id, by the raw call. A child or a new thread has an id of its own.
pub fn raw_gettid() -> libc::c_long {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// What asm blocks return when a creation call answered 0 in the thread that made it:
/// outside the kernel's -4095..-1 error range, so never a real answer.
pub const FAKED_RET: i64 = -4096;

/// The result of a call that creates a process or thread, made by thread `caller`
/// ([`raw_gettid`] before the call): 0 means "in the child" only where the thread is
/// not the caller; a 0 in the caller itself is a success the filter made up.
pub fn created(ret: libc::c_long, caller: libc::c_long) -> Result<libc::pid_t, Errno> {
    if ret == 0 && caller > 0 && raw_gettid() == caller {
        return Err(Errno::FAKED);
    }
    Ok(to_pid(ret))
}

/// `fork` (nr 57) by number. `Ok(0)` in the child, `Ok(pid)` in the parent.
pub fn raw_fork() -> Result<libc::pid_t, Errno> {
    let caller = raw_gettid();
    // SAFETY: fork takes no arguments. The runner has no other threads, so the child
    // gets a consistent copy of every lock; callers make the child exit at once.
    let ret = cvt(unsafe { libc::syscall(libc::SYS_fork) })?;
    created(ret, caller)
}

/// `clone` (nr 56) with only `SIGCHLD` and no new stack: the child runs on a copy of the
/// parent's stack, exactly like fork. `x86_64` order: flags, stack, ptid, ctid, tls.
pub fn raw_clone_sigchld() -> Result<libc::pid_t, Errno> {
    let flags = libc::c_long::from(libc::SIGCHLD);
    let caller = raw_gettid();
    // SAFETY: without CLONE_VM the child gets its own copy of memory, so a null stack
    // means "keep using the (copied) current stack"; the pointer arguments are null
    // because no CLONE_*TID/SETTLS flag asks the kernel to use them.
    let ret =
        cvt(unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) })?;
    created(ret, caller)
}

/// The first version of `struct clone_args` (`CLONE_ARGS_SIZE_VER0`, 64 bytes), which
/// every kernel with clone3 accepts. libc's struct is the larger VER2 layout.
#[repr(C, align(8))]
#[derive(Default)]
struct CloneArgsV0 {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// `clone3` (nr 435) with an exit signal of `SIGCHLD` and nothing else.
pub fn raw_clone3_sigchld() -> Result<libc::pid_t, Errno> {
    raw_clone3(0)
}

/// `clone3` (nr 435) with `flags` (no CLONE_VM: the child gets a copy of memory) and
/// an exit signal of `SIGCHLD`.
pub fn raw_clone3(flags: u64) -> Result<libc::pid_t, Errno> {
    let args = CloneArgsV0 {
        flags,
        exit_signal: u64::from(libc::SIGCHLD.unsigned_abs()),
        ..CloneArgsV0::default()
    };
    let caller = raw_gettid();
    // SAFETY: `args` is a valid, initialised clone_args of the size passed and lives
    // across the call; with no stack and no CLONE_VM the child runs on a private copy
    // of the parent's stack, like fork.
    let ret = cvt(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &raw const args,
            std::mem::size_of::<CloneArgsV0>(),
        )
    })?;
    created(ret, caller)
}

/// An anonymous private read-write mapping of `len` bytes with `extra` mmap flags
/// (`MAP_32BIT`, `MAP_STACK`). The caller owns it and unmaps it.
pub fn map_anonymous(len: usize, extra: libc::c_int) -> Result<*mut u8, Errno> {
    // SAFETY: a fresh anonymous private mapping at an address the kernel picks; no
    // existing memory is touched.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        Err(Errno::last())
    } else {
        Ok(base.cast())
    }
}

/// `vfork` (nr 58) whose child writes `line` to stdout and exits inside the same
/// assembly block.
///
/// A vfork child shares the parent's memory *and stack* while the parent is suspended;
/// returning into Rust code in the child would clobber the parent's stack frame. So the
/// child never leaves the asm block: on a zero return it makes one `write(1, line)` and
/// calls `exit` right there, with 0 when the whole line was written and 1 otherwise.
/// Only the parent comes back, with the child's pid or an error. A 0 in the caller's
/// own thread (its id, in r14, is the one gettid answers) was faked: no child exists,
/// and the block returns [`FAKED_RET`] instead of exiting.
pub fn raw_vfork_child_prints(line: &[u8]) -> Result<libc::pid_t, Errno> {
    let ret: i64;
    let caller = raw_gettid();
    // SAFETY: the child path only reads `line` (alive and unchanged: the parent is
    // suspended until the child exits), changes registers (rax, rdi, rsi, rdx) and ends
    // in exit, so it writes no memory the parent can see; the parent path is a plain
    // syscall that leaves rdi, rsi and rdx as they were. The `syscall` instruction
    // clobbers rcx and r11, declared below, and no stack is used.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov eax, 186",
            "syscall",
            "cmp rax, r14",
            "je 3f",
            // write(1, line, len); exit(rax == len ? 0 : 1)
            "mov eax, 1",
            "mov edi, 1",
            "mov rsi, r12",
            "mov rdx, r13",
            "syscall",
            "xor edi, edi",
            "cmp rax, r13",
            "setne dil",
            "mov eax, 60",
            "syscall",
            "ud2",
            "3:",
            "mov rax, {faked}",
            "2:",
            faked = const FAKED_RET,
            inlateout("rax") libc::SYS_vfork => ret,
            in("r14") caller,
            in("r12") line.as_ptr(),
            in("r13") line.len(),
            out("rdi") _,
            out("rsi") _,
            out("rdx") _,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    if ret == FAKED_RET {
        return Err(Errno::FAKED);
    }
    Ok(to_pid(from_kernel(ret)?))
}

/// `vfork` (nr 58) whose child execs `path` with `argv` and an empty environment,
/// after dropping to uid and gid 65534 with no supplementary groups when `drop` is
/// set; for a profile that denies fork and clone but not vfork. The child never
/// leaves the asm block (see [`raw_vfork_child_prints`]): it ends in the exec, or in
/// `exit(exec_failed + (errno & 127))` when the exec fails, or in `exit(drop_failed)`
/// when a drop fails. Only the parent returns, with the child's pid.
pub fn raw_vfork_exec(
    path: &CStr,
    argv: &CArgv,
    drop: bool,
    exec_failed: i32,
    drop_failed: i32,
) -> Result<libc::pid_t, Errno> {
    let ret: i64;
    let caller = raw_gettid();
    // SAFETY: the child path reads `path` and `argv` through the kernel only (alive
    // and unchanged: the parent is suspended until the child execs or exits), changes
    // registers and its own credentials, and ends in execve or exit, so it writes no
    // memory the parent can see. The parent path is a plain syscall that leaves the
    // argument registers as they were; `syscall` clobbers rcx and r11, declared; no
    // stack is used.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov eax, 186",
            "syscall",
            "cmp rax, r14",
            "je 3f",
            "test r15, r15",
            "jz 4f",
            // setgroups(0, NULL); setgid(65534); setuid(65534)
            "mov eax, 116",
            "xor edi, edi",
            "xor esi, esi",
            "syscall",
            "test rax, rax",
            "jnz 5f",
            "mov eax, 106",
            "mov edi, 65534",
            "syscall",
            "test rax, rax",
            "jnz 5f",
            "mov eax, 105",
            "mov edi, 65534",
            "syscall",
            "test rax, rax",
            "jnz 5f",
            "4:",
            "mov eax, 59",
            "mov rdi, r12",
            "mov rsi, r13",
            "xor edx, edx",
            "syscall",
            "neg eax",
            "and eax, 127",
            "add eax, r8d",
            "mov edi, eax",
            "mov eax, 60",
            "syscall",
            "ud2",
            "5:",
            "mov edi, r9d",
            "mov eax, 60",
            "syscall",
            "ud2",
            "3:",
            "mov rax, {faked}",
            "2:",
            faked = const FAKED_RET,
            inlateout("rax") libc::SYS_vfork => ret,
            in("r14") caller,
            in("r12") path.as_ptr(),
            in("r13") argv.as_ptr(),
            in("r15") u64::from(drop),
            in("r8") exec_failed,
            in("r9") drop_failed,
            out("rdi") _,
            out("rsi") _,
            out("rdx") _,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    if ret == FAKED_RET {
        return Err(Errno::FAKED);
    }
    Ok(to_pid(from_kernel(ret)?))
}

/// How a waited-for child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildEnd {
    Exited(i32),
    Signaled(i32),
}

/// Waits for one child.
pub fn wait_child(pid: libc::pid_t) -> Result<ChildEnd, Errno> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the duration of the call.
        let ret = cvt(libc::c_long::from(unsafe {
            libc::waitpid(pid, &raw mut status, 0)
        }));
        match ret {
            Ok(_) => break,
            Err(Errno(libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
    }
    if libc::WIFEXITED(status) {
        Ok(ChildEnd::Exited(libc::WEXITSTATUS(status)))
    } else {
        Ok(ChildEnd::Signaled(libc::WTERMSIG(status)))
    }
}

fn to_pid(ret: i64) -> libc::pid_t {
    // Pids fit in pid_t; the kernel never returns a larger positive value here.
    libc::pid_t::try_from(ret).unwrap_or(libc::pid_t::MAX)
}

/// Owned, NUL-terminated argv arrays for the exec calls.
pub struct CArgv {
    _strings: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl CArgv {
    /// Fails on an interior NUL byte, which no valid argument has.
    pub fn new<S: AsRef<[u8]>>(items: &[S]) -> Result<Self, Errno> {
        let strings = items
            .iter()
            .map(|s| CString::new(s.as_ref()).map_err(|_| Errno(libc::EINVAL)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ptrs: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(CArgv {
            _strings: strings,
            ptrs,
        })
    }

    pub fn as_ptr(&self) -> *const *const libc::c_char {
        self.ptrs.as_ptr()
    }
}

pub fn path_cstring(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno(libc::EINVAL))
}

/// `execve` (nr 59) by number, with a NULL environment pointer (the kernel takes it
/// as an empty environment). Runtimes always pass a real array when they start the
/// container's process, so a profile can tell the probes' execs from the runtime's
/// by that argument; the tests use this for controls under runc. Returns only on failure.
pub fn raw_execve(path: &CStr, argv: &CArgv) -> Errno {
    // SAFETY: path and argv are a NUL-terminated string and a NULL-terminated array
    // owned by the caller and alive across the call; a NULL envp is accepted by the
    // kernel; on success the call does not return.
    let ret = cvt(unsafe {
        libc::syscall(
            libc::SYS_execve,
            path.as_ptr(),
            argv.as_ptr(),
            std::ptr::null::<*const libc::c_char>(),
        )
    });
    match ret {
        Err(e) => e,
        Ok(_) => Errno(0),
    }
}

/// `execveat` (nr 322) relative to the working directory, flags 0, NULL environment
/// pointer as for [`raw_execve`]. Returns only on failure.
pub fn raw_execveat(path: &CStr, argv: &CArgv) -> Errno {
    // SAFETY: as for raw_execve; AT_FDCWD is a valid dirfd and flags 0 asks for nothing
    // that reads further memory.
    let ret = cvt(unsafe {
        libc::syscall(
            libc::SYS_execveat,
            libc::c_long::from(libc::AT_FDCWD),
            path.as_ptr(),
            argv.as_ptr(),
            std::ptr::null::<*const libc::c_char>(),
            0 as libc::c_long,
        )
    });
    match ret {
        Err(e) => e,
        Ok(_) => Errno(0),
    }
}

/// The kernel's `-errno` return convention, for callers with inline assembly of their
/// own (see `from_kernel`).
pub fn kernel_result(ret: i64) -> Result<i64, Errno> {
    from_kernel(ret)
}

/// `execveat(fd, "", argv, NULL, AT_EMPTY_PATH)` (nr 322): executes the file `fd` is
/// open on, which need not have a path at all (a memfd). NULL environment pointer as
/// for [`raw_execve`]. Returns only on failure.
pub fn raw_execveat_fd(fd: std::os::fd::BorrowedFd<'_>, argv: &CArgv) -> Errno {
    use std::os::fd::AsRawFd;
    // SAFETY: the empty path is a valid NUL-terminated string, argv a NULL-terminated
    // array owned by the caller, both alive across the call; `fd` is borrowed, so it
    // stays open; a NULL envp is accepted by the kernel; on success it does not return.
    let ret = cvt(unsafe {
        libc::syscall(
            libc::SYS_execveat,
            libc::c_long::from(fd.as_raw_fd()),
            c"".as_ptr(),
            argv.as_ptr(),
            std::ptr::null::<*const libc::c_char>(),
            libc::c_long::from(libc::AT_EMPTY_PATH),
        )
    });
    match ret {
        Err(e) => e,
        Ok(_) => Errno(0),
    }
}

/// Points stdout (fd 1) at the container's stderr (fd 2) and returns a close-on-exec
/// copy of the old stdout, for [`restore_stdout`]. A program exec'd after this holds
/// no descriptor of the protocol pipe.
pub fn move_stdout_to_stderr() -> Result<libc::c_int, Errno> {
    // SAFETY: fcntl and dup2 on descriptors this process owns; neither touches memory.
    let saved = cvt(unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) }.into())?;
    // SAFETY: as above.
    if let Err(errno) = cvt(unsafe { libc::dup2(2, 1) }.into()) {
        // SAFETY: `saved` was just made by fcntl and is ours to close.
        unsafe { libc::close(saved as libc::c_int) };
        return Err(errno);
    }
    Ok(saved as libc::c_int)
}

/// Undoes [`move_stdout_to_stderr`] after an exec that failed.
pub fn restore_stdout(saved: libc::c_int) {
    // SAFETY: `saved` is the copy move_stdout_to_stderr made, still open and ours.
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
}

pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

pub fn gid() -> u32 {
    // SAFETY: getgid has no preconditions and cannot fail.
    unsafe { libc::getgid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_errnos() {
        assert_eq!(Errno(libc::EPERM).name(), "EPERM");
        assert_eq!(Errno(libc::EACCES).name(), "EACCES");
        assert_eq!(Errno(libc::EROFS).name(), "EROFS");
        assert_eq!(Errno(libc::ENOSYS).name(), "ENOSYS");
        assert_eq!(Errno(libc::ECONNREFUSED).name(), "ECONNREFUSED");
        assert_eq!(Errno(libc::ENETUNREACH).name(), "ENETUNREACH");
        assert_eq!(Errno(libc::ETIMEDOUT).name(), "ETIMEDOUT");
        assert_eq!(Errno(4000).name(), "E4000");
    }

    #[test]
    fn displays_name_and_description() {
        assert_eq!(
            Errno(libc::EPERM).to_string(),
            "EPERM (Operation not permitted)"
        );
    }

    #[test]
    fn adapter_reads_errno_only_on_minus_one() {
        assert_eq!(cvt(0), Ok(0));
        assert_eq!(cvt(42), Ok(42));
        // SAFETY: __errno_location returns this thread's errno slot, valid to write.
        unsafe { *libc::__errno_location() = libc::EROFS };
        assert_eq!(cvt(-1), Err(Errno(libc::EROFS)));
    }

    #[test]
    fn kernel_convention_is_negative_errno() {
        assert_eq!(from_kernel(1234), Ok(1234));
        assert_eq!(from_kernel(-1), Err(Errno(libc::EPERM)));
        assert_eq!(from_kernel(-38), Err(Errno(libc::ENOSYS)));
    }

    #[test]
    fn timeouts_without_os_error_are_etimedout() {
        let err = io::Error::new(io::ErrorKind::TimedOut, "connection timed out");
        assert_eq!(Errno::from_io(&err), Some(Errno(libc::ETIMEDOUT)));
        let err = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(Errno::from_io(&err), Some(Errno(libc::ECONNREFUSED)));
        assert_eq!(Errno::from_io(&io::Error::other("x")), None);
    }

    #[test]
    fn argv_is_null_terminated() {
        let argv = CArgv::new(&["a", "bc"]).unwrap();
        assert_eq!(argv.ptrs.len(), 3);
        assert!(argv.ptrs[2].is_null());
        assert!(CArgv::new(&["a\0b"]).is_err());
    }
}
