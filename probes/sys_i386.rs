//! The 32-bit entry (`int 0x80`) as the probes use it: whether the kernel runs it, the
//! call itself with i386 numbering, and memory below 4 GiB for the 32-bit pointers its
//! arguments need.

use crate::sys::{map_anonymous, Errno};

/// Whether the kernel runs 32-bit (i386) system calls: `int 0x80` getpid answers with
/// a pid. `false` covers kernels without IA32 emulation (ENOSYS) and `ia32_emulation=0`.
/// A filter that denies the whole x86 architecture kills the probe here (SIGSYS), which
/// the harness records as the block it is.
pub fn i386_available() -> bool {
    const I386_GETPID: u32 = 20;
    int80(I386_GETPID, [0; 5]).is_ok()
}

/// A system call through the 32-bit entry (`int 0x80`), as a 32-bit program would make
/// it: i386 numbering, arguments in ebx, ecx, edx, esi, edi, each cut to 32 bits. Seccomp
/// sees it with `AUDIT_ARCH_I386`, so a profile's x86_64 rules do not apply to it.
/// Pointers passed here must point below 4 GiB (see [`LowMem`]).
pub fn int80(nr: u32, args: [u32; 5]) -> Result<u32, Errno> {
    let ret: u32;
    // SAFETY: `int 0x80` only reads the registers set here; rbx is reserved by the
    // compiler, so the first argument travels in a scratch register and is swapped into
    // rbx around the instruction, then swapped back so rbx is as the compiler left it.
    // Memory the call reads or writes is the caller's business (see the doc above): the
    // callers pass addresses of LowMem buffers they own, or none.
    unsafe {
        std::arch::asm!(
            "xchg {b:r}, rbx",
            "int 0x80",
            "xchg {b:r}, rbx",
            b = inout(reg) u64::from(args[0]) => _,
            inlateout("eax") nr => ret,
            in("ecx") args[1],
            in("edx") args[2],
            in("esi") args[3],
            in("edi") args[4],
        );
    }
    // The compat entry returns a 32-bit value; -4095..-1 is -errno.
    let signed = ret as i32;
    if (-4095..0).contains(&signed) {
        Err(Errno(-signed))
    } else {
        Ok(ret)
    }
}

/// Memory below 2 GiB (`MAP_32BIT`), where pointers fit the 32-bit arguments of
/// [`int80`]. A bump allocator over one mapping; unmapped on drop.
pub struct LowMem {
    base: *mut u8,
    len: usize,
    used: usize,
}

impl LowMem {
    pub fn new(len: usize) -> Result<LowMem, Errno> {
        Ok(LowMem {
            base: map_anonymous(len, libc::MAP_32BIT)?,
            len,
            used: 0,
        })
    }

    /// Copies `bytes` in (8-byte aligned) and returns their 32-bit address.
    pub fn put(&mut self, bytes: &[u8]) -> Result<u32, Errno> {
        let start = self.used.next_multiple_of(8);
        let end = start + bytes.len();
        if end > self.len {
            return Err(Errno(libc::ENOMEM));
        }
        // SAFETY: start..end lies inside the mapping (checked above), which we own and
        // which does not overlap `bytes`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(start), bytes.len());
        }
        self.used = end;
        // MAP_32BIT keeps the mapping below 2 GiB, so every address in it fits.
        u32::try_from(self.base as usize + start).map_err(|_| Errno(libc::EFAULT))
    }

    /// A NUL-terminated copy of `text`.
    pub fn put_str(&mut self, text: &str) -> Result<u32, Errno> {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        self.put(&bytes)
    }

    /// A NULL-terminated array of 32-bit pointers to NUL-terminated copies of `items`:
    /// an i386 argv.
    pub fn put_argv(&mut self, items: &[String]) -> Result<u32, Errno> {
        let mut ptrs = Vec::with_capacity(items.len() + 1);
        for item in items {
            ptrs.push(self.put_str(item)?);
        }
        ptrs.push(0);
        let bytes: Vec<u8> = ptrs.iter().flat_map(|p| p.to_le_bytes()).collect();
        self.put(&bytes)
    }
}

impl Drop for LowMem {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly the mapping made in new(), unmapped once.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn int80_getpid_matches_when_i386_runs() {
        if super::i386_available() {
            assert_eq!(super::int80(20, [0; 5]), Ok(std::process::id()));
        }
    }
    #[test]
    fn low_memory_addresses_fit_32_bits() {
        let mut mem = super::LowMem::new(4096).unwrap();
        let a = mem.put_str("/bin/true").unwrap();
        let argv = mem.put_argv(&["x".to_string()]).unwrap();
        assert!(a > 0 && argv > a);
        assert!(mem.put(&[0u8; 8192]).is_err());
    }
}
