//! The process's own memory figures, for the stage log: where in a run
//! the resident set grows is what the memory budget of issue #7 is about.

/// Resident set now and its high-water mark, in MiB, from
/// `/proc/self/status`; `None` where there is no procfs.
pub fn resident_mib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn resident_set_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let (now, peak) = super::resident_mib().expect("procfs");
            assert!(peak >= now);
        }
    }
}
