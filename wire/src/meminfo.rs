//! `/proc/meminfo`'s `MemTotal`, read the same way by the runner (inside, against its
//! cgroup's limit) and the harness (on the host, against the container's).

/// The `MemTotal` of a `/proc/meminfo` text, in bytes.
pub fn mem_total(meminfo: &str) -> Option<u64> {
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_kib_as_bytes() {
        let text = "MemTotal:       24684032 kB\nMemFree:  1 kB\n";
        assert_eq!(super::mem_total(text), Some(24_684_032 * 1024));
        assert_eq!(super::mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(super::mem_total("MemTotal: many kB\n"), None);
    }
}
