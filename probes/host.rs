//! `host.*` probes: what of the host's a container setting hands the container.
//!
//! The namespace probes compare the runner's own `/proc/self/ns` link with the one the
//! harness names in the invocation (its own): the same link is the host's namespace.
//! In it, each makes one harmless call that reaches the host's objects (a signal 0 to
//! the host's init, a count of the host's shared memory segments, the host's
//! hostname) and never one that changes them (no signal delivered, no segment touched,
//! no `sethostname`). The harness confirms the namespace from outside.
//!
//! `host.memory` maps and touches 128 MiB in a child: where a memory limit below that
//! holds, the cgroup's OOM killer ends the child, never the runner. The harness reads
//! the limit itself on the host, which decides the verdict (see the catalog).

use crate::ctx::{Ctx, Verdict};
use crate::sys::{self, ChildEnd, Errno};

/// The runner's namespace link of `kind` when it is the harness's; otherwise the
/// verdict that says why the probe ends here.
fn in_host_namespace(ctx: &Ctx, kind: &str) -> Result<String, Verdict> {
    let ours = match std::fs::read_link(format!("/proc/self/ns/{kind}")) {
        Ok(link) => link.to_string_lossy().into_owned(),
        // A sandbox kernel's namespaces are its own, whatever it shows of them.
        Err(e) if crate::facts::sandbox().is_some() => {
            return Err(Verdict::blocked_as(
                "private-namespace".to_string(),
                format!(
                    "{} serves the container: its {kind} namespace is the sandbox kernel's own, never the host's (/proc/self/ns/{kind}: {e})",
                    crate::facts::sandbox().unwrap_or_default()
                ),
            ))
        }
        Err(e) => {
            return Err(Verdict::indeterminate(
                Errno::from_io(&e),
                format!("reading /proc/self/ns/{kind}: {e}"),
            ))
        }
    };
    let prefix = format!("{kind}:[");
    let Some(host) = ctx
        .inv
        .host_namespaces
        .iter()
        .find(|l| l.starts_with(&prefix))
    else {
        return Err(Verdict::indeterminate(
            None,
            format!("the harness named no {kind} namespace of its own to compare {ours} with"),
        ));
    };
    if &ours == host {
        Ok(ours)
    } else {
        Err(Verdict::blocked_as(
            "private-namespace".to_string(),
            format!("its own {kind} namespace {ours}, not the host's {host}"),
        ))
    }
}

pub fn pid_namespace(ctx: &Ctx) -> Verdict {
    let link = match in_host_namespace(ctx, "pid") {
        Ok(link) => link,
        Err(verdict) => return verdict,
    };
    let init = std::fs::read_to_string("/proc/1/comm")
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    // SAFETY: integer arguments only; signal 0 checks permission and delivers nothing.
    match sys::cvt(unsafe { libc::syscall(libc::SYS_kill, 1 as libc::c_long, 0 as libc::c_long) }) {
        Ok(_) => Verdict::escaped(format!(
            "in the host's pid namespace {link}: kill(1, 0) to the host's init ({init}) was permitted (signal 0 delivers nothing); the container sees and may signal the host's processes"
        )),
        Err(e) => Verdict::blocked(
            e,
            &format!("in the host's pid namespace {link}, kill(1, 0) to the host's init ({init})"),
        ),
    }
}

/// shmctl(2)'s command that fills a `struct shm_info` (not in the libc crate).
const SHM_INFO: libc::c_long = 14;

/// `struct shm_info` (six ints and longs); filled with a pattern the kernel overwrites.
#[repr(C)]
struct ShmInfo {
    used_ids: libc::c_int,
    shm_tot: libc::c_ulong,
    shm_rss: libc::c_ulong,
    shm_swp: libc::c_ulong,
    swap_attempts: libc::c_ulong,
    swap_successes: libc::c_ulong,
}

pub fn ipc_namespace(ctx: &Ctx) -> Verdict {
    let link = match in_host_namespace(ctx, "ipc") {
        Ok(link) => link,
        Err(verdict) => return verdict,
    };
    const UNSET: libc::c_int = -7;
    let mut info = ShmInfo {
        used_ids: UNSET,
        shm_tot: 0,
        shm_rss: 0,
        shm_swp: 0,
        swap_attempts: 0,
        swap_successes: 0,
    };
    // SAFETY: `info` is a writable shm_info the kernel fills for SHM_INFO; it outlives
    // the call. SHM_INFO reads counts and changes nothing.
    let ret = sys::cvt(unsafe {
        libc::syscall(libc::SYS_shmctl, 0 as libc::c_long, SHM_INFO, &raw mut info)
    });
    match ret {
        Ok(_) if info.used_ids == UNSET => Verdict::blocked_as(
            "fake-success".to_string(),
            format!("in the host's IPC namespace {link}, shmctl(SHM_INFO) returned success, but wrote nothing: the filter made the success up"),
        ),
        Ok(_) => Verdict::escaped(format!(
            "in the host's IPC namespace {link}: shmctl(SHM_INFO) sees the host's {} System V shared memory segment(s) ({} pages); none was touched",
            info.used_ids, info.shm_tot
        )),
        Err(e) => Verdict::blocked(e, &format!("in the host's IPC namespace {link}, shmctl(SHM_INFO)")),
    }
}

pub fn uts_namespace(ctx: &Ctx) -> Verdict {
    let link = match in_host_namespace(ctx, "uts") {
        Ok(link) => link,
        Err(verdict) => return verdict,
    };
    // SAFETY: an all-zero utsname is a valid value of this plain C struct.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is a writable utsname that outlives the call.
    match sys::cvt(unsafe { libc::syscall(libc::SYS_uname, &raw mut name) }) {
        Ok(_) => {
            // SAFETY: the kernel NUL-terminates each field it writes; an untouched
            // (zeroed) field reads as empty.
            let host = unsafe { std::ffi::CStr::from_ptr(name.nodename.as_ptr()) };
            let host = host.to_string_lossy();
            if host.is_empty() {
                return Verdict::blocked_as(
                    "fake-success".to_string(),
                    format!("in the host's UTS namespace {link}, uname returned success, but wrote nothing: the filter made the success up"),
                );
            }
            Verdict::escaped(format!(
                "in the host's UTS namespace {link}: its hostname {host:?} is the host's, which sethostname (with CAP_SYS_ADMIN) would change for the host; not called"
            ))
        }
        Err(e) => Verdict::blocked(e, &format!("in the host's UTS namespace {link}, uname")),
    }
}

/// What `host.memory`'s child maps and touches.
const MEMORY: usize = 128 << 20;
/// Child exit status base for a failed mmap: `MAPPING_FAILED + errno`.
const MAPPING_FAILED: i32 = 100;

pub fn memory(_: &Ctx) -> Verdict {
    let pid = match sys::raw_fork().or_else(|_| sys::raw_clone_sigchld()) {
        Ok(0) => sys::exit_now_with(touch_memory()),
        Ok(pid) => pid,
        // Touching the memory in the runner could end it: it is not tried.
        Err(e) => {
            return Verdict::indeterminate(
                Some(e),
                "no child could be made to take the memory in (fork and clone failed)",
            )
        }
    };
    match sys::wait_child(pid) {
        Ok(ChildEnd::Exited(0)) => match own_limit() {
            // The cgroup an engine mounts shows a limit above what the child took.
            Some((limit, host)) if limit < host => Verdict::blocked_as(
                "memory-limit".to_string(),
                format!(
                    "child {pid} mapped and touched {} MiB, within its cgroup's limit of {} MiB (the host has {} MiB)",
                    MEMORY >> 20,
                    limit >> 20,
                    host >> 20
                ),
            ),
            _ => Verdict::escaped(format!(
                "child {pid} mapped and touched {} MiB: no memory limit stopped it at or below that",
                MEMORY >> 20
            )),
        },
        Ok(ChildEnd::Exited(code)) if code > MAPPING_FAILED => Verdict::blocked(
            Errno(code - MAPPING_FAILED),
            &format!("mmap of {} MiB in child {pid}", MEMORY >> 20),
        ),
        Ok(ChildEnd::Signaled(libc::SIGKILL)) => Verdict::blocked_as(
            "SIGKILL".to_string(),
            format!(
                "child {pid} was killed (SIGKILL) while touching {} MiB: the memory cgroup's OOM killer",
                MEMORY >> 20
            ),
        ),
        Ok(end) => Verdict::error(None, format!("child {pid} ended unexpectedly: {end:?}")),
        Err(e) => Verdict::error(Some(e), format!("waiting for child {pid}")),
    }
}

/// The container's memory limit and the host's memory, in bytes, where its own cgroup
/// is mounted at /sys/fs/cgroup (engines mount it; breakout's OCI containers do not,
/// and there the harness reads the limit on the host).
fn own_limit() -> Option<(u64, u64)> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let raw = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))?;
    let raw = raw.trim();
    let limit = if raw == "max" {
        u64::MAX
    } else {
        raw.parse().ok()?
    };
    let host = breakout_wire::meminfo::mem_total(&read("/proc/meminfo")?)?;
    Some((limit, host))
}

/// The child's work: map [`MEMORY`] and write one byte on every page. Returns its exit
/// status.
fn touch_memory() -> i32 {
    let base = match sys::map_anonymous(MEMORY, 0) {
        Ok(base) => base,
        Err(Errno(e)) => return MAPPING_FAILED + e,
    };
    for offset in (0..MEMORY).step_by(4096) {
        // SAFETY: `base` is a fresh MEMORY-byte read-write mapping owned by this child,
        // and `offset` stays below MEMORY.
        unsafe { base.add(offset).write_volatile(1) };
    }
    0
}
