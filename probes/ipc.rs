//! `ipc.*` probes: System V shared memory and /dev/shm.
//!
//! Both clean up after themselves: the segment is removed whatever happened, and the
//! /dev/shm marker is deleted by the probe (a tmpfs the harness cannot see from the host).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use breakout_wire::names::Leftover;
use breakout_wire::protocol::Purpose;

use crate::ctx::{Ctx, Verdict};
use crate::sys::{self, Errno};

const SEGMENT_SIZE: usize = 4096;

pub fn sysv_shm(_: &Ctx) -> Verdict {
    let flags = libc::c_long::from(libc::IPC_CREAT | 0o600);
    // SAFETY: integer arguments only: a private key, a size and flags.
    let created = sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_shmget,
            libc::c_long::from(libc::IPC_PRIVATE),
            SEGMENT_SIZE,
            flags,
        )
    });
    let id = match created {
        Ok(id) => id,
        Err(e) => return Verdict::blocked(e, "shmget(IPC_PRIVATE)"),
    };
    let attached = attach_touch_detach(id);
    // SAFETY: IPC_RMID takes no buffer (NULL); the segment is ours.
    let removed = sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_shmctl,
            id,
            libc::c_long::from(libc::IPC_RMID),
            std::ptr::null_mut::<libc::shmid_ds>(),
        )
    });
    let removed = match removed {
        Ok(_) => "removed".to_string(),
        Err(e) => format!("removing it failed: {e}"),
    };
    match attached {
        Ok(()) => Verdict::escaped(format!(
            "created segment {id}, attached, wrote and detached it; {removed}"
        )),
        Err(e) => Verdict::blocked(e, &format!("created segment {id} ({removed}), but shmat")),
    }
}

/// Attaches the segment, writes one byte through the mapping and detaches it.
fn attach_touch_detach(id: libc::c_long) -> Result<(), Errno> {
    // SAFETY: a NULL address lets the kernel choose where to map the segment.
    let addr = sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_shmat,
            id,
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_long,
        )
    })?;
    let mem = addr as *mut u8;
    // SAFETY: shmat mapped SEGMENT_SIZE (> 0) writable bytes at `mem`, which only this
    // function uses and which stays mapped until the shmdt below.
    unsafe {
        mem.write_volatile(0x42);
    }
    // SAFETY: `mem` is the address shmat returned; nothing refers to it afterwards.
    sys::cvt(unsafe { libc::syscall(libc::SYS_shmdt, mem) })?;
    Ok(())
}

pub fn write_dev_shm(ctx: &Ctx) -> Verdict {
    // The same name fs.* probes give their markers, holding the step's marker token.
    let path = format!("/dev/shm/{}", Leftover::Marker.name(&ctx.inv.nonce));
    let token = match ctx.key() {
        Ok(key) => key.token(Purpose::Marker, "ipc.write-dev-shm"),
        Err(verdict) => return verdict,
    };
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path);
    let mut file = match created {
        Ok(file) => file,
        Err(err) => {
            let what = format!("creating {path}");
            return match Errno::from_io(&err) {
                Some(e @ Errno(libc::ENOENT | libc::ENOTDIR)) => Verdict::not_applicable(
                    Some(e),
                    format!("{what}: {e}: the container has no /dev/shm"),
                ),
                // Only this run knows the nonce: a leftover of this run, not a block.
                Some(e @ Errno(libc::EEXIST)) => {
                    Verdict::error(Some(e), format!("{what}: it already exists"))
                }
                Some(e) => Verdict::blocked(e, &what),
                None => Verdict::error(None, format!("{what}: {err}")),
            };
        }
    };
    let mut detail = format!("created {path}");
    if let Err(err) = file.write_all(token.as_bytes()) {
        detail.push_str(&format!(", but writing the token into it failed: {err}"));
    }
    drop(file);
    // A held runner's harness takes the marker through the runner's root (/dev/shm is
    // the container's own tmpfs). Otherwise no one will: run by hand, on the host, or
    // under an engine, the probe removes it itself.
    if !ctx.inv.hold {
        match std::fs::remove_file(&path) {
            Ok(()) => detail.push_str(", then removed it"),
            Err(err) => detail.push_str(&format!("; removing it failed: {err}")),
        }
    }
    Verdict::escaped(detail)
}
