//! Children that share the runner's memory (`CLONE_VM`): a thread for `spawn.thread`
//! and glibc's `posix_spawn` child for `exec.posix-spawn`.
//!
//! A child that shares memory must not run compiled Rust code: that code would use the
//! parent's stack, thread-local storage and allocator while the parent may be using them
//! too. So each child gets a stack of its own (an anonymous mapping) and never leaves
//! the assembly block that creates it; it only reads memory the parent keeps alive and
//! unchanged until the child is gone, and ends in `exit`.

use std::ffi::CStr;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sys::{self, CArgv, Errno};

/// Size of a child's stack. The children push nothing; the kernel uses it only to
/// deliver a signal with a handler, and the runner installs none that could arrive then.
const STACK_LEN: usize = 64 * 1024;

/// A `posix_spawn` child whose exec failed exits with this plus the errno (cut to 7 bits).
pub const EXEC_FAILED_BASE: i32 = 128;

/// The x86_64 `clone` argument order is flags, stack, parent_tid, child_tid, tls.
const SYS_CLONE: i64 = libc::SYS_clone;
const SYS_EXECVE: i64 = libc::SYS_execve;
const SYS_EXIT: i64 = libc::SYS_exit;

/// An anonymous read-write mapping a child runs on. Unmapped on drop, which only
/// happens once the child can no longer touch it (see [`ChildStack::leak`]).
pub struct ChildStack {
    base: *mut u8,
    len: usize,
}

impl ChildStack {
    /// A stack for one child. Separate from creating the child, so that a failure here
    /// is not mistaken for the creation being blocked.
    pub fn new() -> Result<ChildStack, Errno> {
        Ok(ChildStack {
            base: sys::map_anonymous(STACK_LEN, libc::MAP_STACK)?,
            len: STACK_LEN,
        })
    }

    /// The initial stack pointer: the end of the mapping (stacks grow down), which mmap's
    /// page alignment makes 16-byte aligned as the ABI wants.
    fn top(&self) -> usize {
        self.base as usize + self.len
    }

    /// Keeps the mapping for good: a thread that may still run must not lose its stack.
    fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly the mapping made in new(), unmapped once, and the
        // owner drops it only when no child runs on it any more.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

/// How a thread made by [`spawn_thread`] ended, and whether it wrote its whole line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadEnd {
    /// The kernel cleared its tid word: it exited.
    Exited { tid: u32, printed: bool },
    /// Still not gone after the deadline; its stack is leaked so it can never fault.
    StillRunning { tid: u32, printed: bool },
}

/// The flags glibc's `pthread_create` passes (minus `CLONE_SETTLS`: the thread runs no
/// code that reads thread-local storage, so it keeps the creator's, untouched).
const THREAD_FLAGS: libc::c_int = libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM
    | libc::CLONE_PARENT_SETTID
    | libc::CLONE_CHILD_CLEARTID;

/// Creates a real thread with raw `clone` (nr 56); it writes `line` to stdout with one
/// `write`, keeps that call's result in its stack mapping and calls `exit` (nr 60,
/// which ends only the thread). Waits until the kernel clears its tid
/// (`CLONE_CHILD_CLEARTID`), polling with `futex` and falling back to sleeping if a
/// profile denies `futex`.
pub fn spawn_thread(
    stack: ChildStack,
    line: &[u8],
    deadline: Duration,
) -> Result<ThreadEnd, Errno> {
    // The tid word lives in the thread's own mapping, below anything a signal frame
    // could reach from the top, so that if the thread outlives the wait and the mapping
    // is leaked, the kernel's final write of 0 still lands in memory nobody else uses.
    let tid_ptr = stack.base.cast::<AtomicU32>();
    // SAFETY: the mapping is page-aligned, readable, writable and zero-filled, so its
    // first four bytes are a valid, aligned AtomicU32 for as long as the mapping lives.
    let tid_word: &AtomicU32 = unsafe { &*tid_ptr };
    // The write's result, right after the tid word in the same zero-filled mapping.
    // SAFETY: offset 8 of a page-aligned mapping is an aligned i64 inside it.
    let wrote_ptr = unsafe { stack.base.add(8) }.cast::<AtomicI64>();
    // SAFETY: valid, aligned and zero-filled for as long as the mapping lives.
    let wrote: &AtomicI64 = unsafe { &*wrote_ptr };
    wrote.store(-1, Ordering::Relaxed);
    let ret: i64;
    let caller = sys::raw_gettid();
    // SAFETY: the child starts on `stack` (private to it) with the creator's registers;
    // it reads `line` (alive and unchanged until the thread is seen gone, or leaked with
    // the stack when it is not: see the caller), writes only the result word in its own
    // mapping, and calls exit, which ends the thread (not the process); `ud2` is never
    // reached. The parent's side is a plain
    // syscall: the kernel writes the new tid into the tid word (CLONE_PARENT_SETTID)
    // before returning and, when the thread exits, writes 0 there and wakes futex
    // waiters (CLONE_CHILD_CLEARTID). `syscall` clobbers rcx and r11, declared; the
    // other argument registers are preserved for the parent. No stack is used.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            // A 0 in the creator's own thread was faked: no thread exists.
            "mov eax, 186",
            "syscall",
            "cmp rax, r14",
            "je 3f",
            // write(1, line, len), its result into the word at r15, then exit(0).
            "mov eax, 1",
            "mov edi, 1",
            "mov rsi, r12",
            "mov rdx, r13",
            "syscall",
            "mov [r15], rax",
            "mov eax, {exit}",
            "xor edi, edi",
            "syscall",
            "ud2",
            "3:",
            "mov rax, {faked}",
            "2:",
            exit = const SYS_EXIT,
            faked = const sys::FAKED_RET,
            inlateout("rax") SYS_CLONE => ret,
            in("r14") caller,
            in("r12") line.as_ptr(),
            in("r13") line.len(),
            in("r15") wrote_ptr as usize,
            in("rdi") THREAD_FLAGS as u64,
            in("rsi") stack.top(),
            in("rdx") tid_ptr as usize,
            in("r10") tid_ptr as usize,
            in("r8") 0usize,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    if ret == sys::FAKED_RET {
        return Err(Errno::FAKED);
    }
    let tid = u32::try_from(sys::kernel_result(ret)?).unwrap_or(u32::MAX);
    let end = Instant::now() + deadline;
    loop {
        let seen = tid_word.load(Ordering::Acquire);
        let printed = usize::try_from(wrote.load(Ordering::Acquire)) == Ok(line.len());
        if seen == 0 {
            // Exited: the kernel is done with the word and the stack.
            return Ok(ThreadEnd::Exited { tid, printed });
        }
        let now = Instant::now();
        if now >= end {
            stack.leak();
            return Ok(ThreadEnd::StillRunning { tid, printed });
        }
        if futex_wait(tid_word, seen, (end - now).min(Duration::from_millis(100))).is_err() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// `FUTEX_WAIT` on `word` while it holds `expected`, for at most `timeout`. EAGAIN (the
/// word changed), EINTR and ETIMEDOUT are normal returns; other errors (a profile
/// denying futex) make the caller poll instead.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Result<(), Errno> {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(1),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
    };
    // SAFETY: `word` is a valid aligned u32 and `ts` a valid timespec, both alive across
    // the call; FUTEX_WAIT (shared, because the kernel's exit-time wake is shared) only
    // reads them.
    let ret = sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &raw const ts,
            0usize,
            0u32,
        )
    });
    match ret {
        Ok(_) | Err(Errno(libc::EAGAIN | libc::EINTR | libc::ETIMEDOUT)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// glibc's `posix_spawn`: raw `clone(CLONE_VM|CLONE_VFORK|SIGCHLD)` (nr 56) with a
/// stack of the child's own; the child calls `execve(path, argv, NULL)` and, if that
/// fails, `exit(EXEC_FAILED_BASE + errno)`. The caller is suspended until the child
/// has exec'd or exited (`CLONE_VFORK`), then gets the child's pid to wait for.
pub fn vfork_exec(stack: ChildStack, path: &CStr, argv: &CArgv) -> Result<libc::pid_t, Errno> {
    let flags = (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64;
    let ret: i64;
    let caller = sys::raw_gettid();
    // SAFETY: the child starts on `stack` with the creator's registers: r12/r13 hold
    // `path` and `argv`, which the caller owns and keeps alive and unchanged, because
    // CLONE_VFORK suspends the caller until the child's execve succeeded (the child then
    // has memory of its own) or it exited. The child only reads those two through the
    // kernel, writes no memory, and ends in execve or exit; `ud2` is never reached. Its
    // register changes are its own. The parent's side is a plain syscall whose argument
    // registers the kernel preserves; `syscall` clobbers rcx and r11, declared. No
    // stack is used. Signals: the runner installs no handler for asynchronous signals,
    // so nothing of Rust's can run in the child between clone and exec.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            // A 0 in the creator's own thread was faked: no child exists, and this
            // exec would replace the runner itself.
            "mov eax, 186",
            "syscall",
            "cmp rax, r14",
            "je 3f",
            "mov eax, {execve}",
            "mov rdi, r12",
            "mov rsi, r13",
            "xor edx, edx",
            "syscall",
            // execve returned: rax is -errno. exit(128 + (errno & 127)).
            "neg eax",
            "and eax, 127",
            "add eax, {base}",
            "mov edi, eax",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "3:",
            "mov rax, {faked}",
            "2:",
            faked = const sys::FAKED_RET,
            execve = const SYS_EXECVE,
            exit = const SYS_EXIT,
            base = const EXEC_FAILED_BASE,
            inlateout("rax") SYS_CLONE => ret,
            in("rdi") flags,
            in("rsi") stack.top(),
            in("rdx") 0usize,
            in("r10") 0usize,
            in("r8") 0usize,
            in("r12") path.as_ptr(),
            in("r13") argv.as_ptr(),
            in("r14") caller,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    // Once clone returned in the parent the child has exec'd (new memory) or exited, so
    // dropping the stack here is safe.
    drop(stack);
    if ret == sys::FAKED_RET {
        return Err(Errno::FAKED);
    }
    Ok(libc::pid_t::try_from(sys::kernel_result(ret)?).unwrap_or(libc::pid_t::MAX))
}

/// What a `posix_spawn` child's exit status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnedExit {
    /// The payload ran and exited 0.
    PayloadOk,
    /// The exec failed with this errno.
    ExecFailed(Errno),
    /// The payload ran but exited with this code.
    PayloadFailed(i32),
}

pub fn decode_exit(code: i32) -> SpawnedExit {
    match code {
        0 => SpawnedExit::PayloadOk,
        c if c > EXEC_FAILED_BASE && c < EXEC_FAILED_BASE + 128 => {
            SpawnedExit::ExecFailed(Errno(c - EXEC_FAILED_BASE))
        }
        c => SpawnedExit::PayloadFailed(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_decode() {
        assert_eq!(decode_exit(0), SpawnedExit::PayloadOk);
        assert_eq!(
            decode_exit(129),
            SpawnedExit::ExecFailed(Errno(libc::EPERM))
        );
        assert_eq!(decode_exit(128 + 13), SpawnedExit::ExecFailed(Errno(13)));
        assert_eq!(decode_exit(2), SpawnedExit::PayloadFailed(2));
        assert_eq!(decode_exit(128), SpawnedExit::PayloadFailed(128));
    }

    #[test]
    fn a_thread_is_created_and_exits() {
        // An empty line: the thread's write of nothing still answers 0 = its length.
        let end = spawn_thread(ChildStack::new().unwrap(), b"", Duration::from_secs(5)).unwrap();
        assert!(
            matches!(end, ThreadEnd::Exited { tid, printed: true } if tid > 0),
            "{end:?}"
        );
    }

    #[test]
    fn a_vfork_child_reports_a_failed_exec() {
        let path = c"/nonexistent/breakout";
        let argv = CArgv::new(&["x"]).unwrap();
        let pid = vfork_exec(ChildStack::new().unwrap(), path, &argv).unwrap();
        assert_eq!(
            sys::wait_child(pid),
            Ok(sys::ChildEnd::Exited(EXEC_FAILED_BASE + libc::ENOENT))
        );
    }
}
