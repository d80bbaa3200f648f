//! The host and container facts a profile is resolved against: architecture,
//! kernel version and the container's capabilities.

use std::ffi::CStr;
use std::mem::MaybeUninit;

/// What Docker looks at when it turns a profile into the filter it hands the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// The machine name as `uname -m` prints it ("x86_64", "aarch64", ...).
    pub arch: String,
    /// The kernel's version and major revision ("6.8.0-45-generic" is `(6, 8)`), the
    /// only parts Docker compares. `(0, 0)` means unknown.
    pub kernel: (u32, u32),
    /// The container's capabilities ("CAP_CHOWN", ...). Docker checks the bounding
    /// set, so this is the bounding set.
    pub caps: Vec<String>,
}

impl Platform {
    /// This machine's architecture and kernel, with the given container capabilities.
    ///
    /// If uname fails (it cannot, short of a broken libc), the architecture is empty
    /// and the kernel `(0, 0)`, which `Profile::resolve` reports rather than guesses.
    pub fn host(caps: Vec<String>) -> Platform {
        let (arch, release) = uname().unwrap_or_default();
        Platform {
            arch,
            kernel: parse_release(&release).unwrap_or((0, 0)),
            caps,
        }
    }
}

/// Machine and release from uname(2).
fn uname() -> Option<(String, String)> {
    let mut uts = MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: `uts` is a valid, writable utsname for uname to fill in; it is not
    // read unless uname reports success.
    let rc = unsafe { libc::uname(uts.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: uname returned 0, so it has filled every field; the struct was zeroed
    // before, so it is initialised even where uname wrote less.
    let uts = unsafe { uts.assume_init() };
    let field = |chars: &[libc::c_char]| -> String {
        // c_char is i8 or u8 depending on the target; reinterpret each as a byte.
        let bytes: Vec<u8> = chars.iter().map(|&c| c as u8).collect();
        CStr::from_bytes_until_nul(&bytes)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    Some((field(&uts.machine), field(&uts.release)))
}

/// Kernel version and major revision from a release string, as moby reads it
/// (`%d.%d` at the start: "3.12.25-gentoo" and "3.12-1-amd64" are both 3.12).
pub(crate) fn parse_release(release: &str) -> Option<(u32, u32)> {
    let number = |s: &str| -> Option<(u32, usize)> {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        Some((s[..digits].parse().ok()?, digits))
    };
    let (kernel, used) = number(release)?;
    let rest = release[used..].strip_prefix('.')?;
    let (major, _) = number(rest)?;
    Some((kernel, major))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_strings_parse_like_moby() {
        assert_eq!(parse_release("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_release("3.12-1-amd64"), Some((3, 12)));
        assert_eq!(parse_release("4.8"), Some((4, 8)));
        assert_eq!(parse_release("6"), None);
        assert_eq!(parse_release(""), None);
        assert_eq!(parse_release("v6.1"), None);
    }

    #[test]
    fn host_reads_uname() {
        let p = Platform::host(vec!["CAP_CHOWN".to_string()]);
        assert!(!p.arch.is_empty(), "uname machine is empty");
        assert_ne!(p.kernel, (0, 0), "kernel release did not parse");
        assert_eq!(p.caps, ["CAP_CHOWN"]);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(p.arch, "x86_64");
        }
    }
}
