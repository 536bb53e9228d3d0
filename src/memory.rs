//! The process's own memory and CPU figures, for the stage log: where in
//! a run the resident set grows, and which stage burns the CPU time, is
//! what the budgets of issue #7 are about.

/// How the binary's allocator returns freed memory to the system at once
/// (set by `main`; the library does not know the allocator).
static RETURN_FREED: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Set how freed memory is returned at once: called on every thread of
/// the pool and on the caller by [`return_freed`].
pub fn set_return_freed(f: fn()) {
    let _ = RETURN_FREED.set(f);
}

/// Return the memory freed so far to the system now, on every thread,
/// rather than when the allocator's delay runs out on each. At the end of
/// the read at 10 M households (the household numbers and names read
/// beside the rows freed) this returned 852 MiB (5,220 → 4,368 MiB), and
/// matching's first step, which allocates about 600 MB, then peaked at
/// 5,036 MiB where it had reached 5,330–5,737 (issue #7).
pub fn return_freed() {
    if let Some(f) = RETURN_FREED.get() {
        rayon::broadcast(|_| f());
        f();
    }
}

/// Tell the processor that `item` will be read soon, and return at once:
/// a walk that reads rows in an order other than their own (by hash, by
/// key) asks for the rows a few steps ahead, so that their cache and
/// page-table misses overlap instead of each waiting in turn. At 10 M
/// households the rows are gigabytes and each such read missed; at 1 M
/// far fewer did, and such walks grew 35 × (the Bloom filter's questions)
/// and 16 × (the people checks' walk) for 10 × the rows (issue #7). Only
/// a hint: it reads nothing, and does nothing off x86-64.
#[inline]
pub fn prefetch<T: ?Sized>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads no memory and cannot fault; the address is
    // that of a live reference.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((item as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

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

/// Log the end of a step inside a stage at debug level: its time since
/// `started`, the process's CPU time and minor faults so far, and the
/// resident set and its peak where the platform tells them, so that a
/// stage's own peak and its fresh memory can be placed (issue #7).
///
/// With `ROLLMATCH_STEP_PEAKS=1` the high-water mark is reset after each
/// step (Linux's `/proc/self/clear_refs`), so that each line's peak is
/// its own step's, not the run's so far. It also resets what the kernel
/// reports as the process's peak (`/usr/bin/time`, getrusage), so it is
/// for finding a peak, never for measuring the run's.
pub fn debug_step(started: std::time::Instant, step: &str) {
    let seconds = started.elapsed().as_secs_f64();
    let usage = Usage::now();
    let (cpu_s, faults) = (usage.map(|u| u.cpu_s()), usage.map(|u| u.minor_faults));
    match resident_mib() {
        Some((rss, peak)) => tracing::debug!(
            seconds,
            cpu_s,
            rss_mib = rss,
            peak_rss_mib = peak,
            minor_faults = faults,
            "{step}"
        ),
        None => tracing::debug!(seconds, cpu_s, minor_faults = faults, "{step}"),
    }
    if step_peaks() {
        // "5" resets the high-water mark to the resident set now.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
}

/// Whether `ROLLMATCH_STEP_PEAKS=1` asks for each step's own peak.
fn step_peaks() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("ROLLMATCH_STEP_PEAKS").is_some_and(|v| v == "1"))
}

/// What the process has used so far (all threads), from one getrusage.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// CPU time, user + system, in seconds: the difference between two
    /// lines is what the stage cost on all cores, which wall time hides
    /// when stages overlap.
    pub cpu_seconds: f64,
    /// Minor page faults: each a page touched for the first time (or
    /// again after it was returned to the system); their count between two
    /// step lines shows which step asks the kernel for fresh memory, whose
    /// price grows with the host's load (issue #7).
    pub minor_faults: u64,
}

impl Usage {
    /// The process's usage now; `None` where getrusage fails.
    pub fn now() -> Option<Usage> {
        // SAFETY: getrusage fills the struct it is given and reads nothing else.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
                return None;
            }
            usage
        };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Some(Usage {
            cpu_seconds: secs(usage.ru_utime) + secs(usage.ru_stime),
            minor_faults: usage.ru_minflt as u64,
        })
    }

    /// The CPU time as the log gives it (`cpu_s`), to the hundredth.
    pub fn cpu_s(&self) -> f64 {
        (self.cpu_seconds * 100.0).round() / 100.0
    }
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

    #[test]
    fn cpu_time_grows_with_work() {
        let cpu = || super::Usage::now().expect("getrusage").cpu_seconds;
        let before = cpu();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        assert!(cpu() > before);
    }

    #[test]
    fn fresh_memory_counts_as_faults() {
        if cfg!(target_os = "linux") {
            let faults = || super::Usage::now().expect("getrusage").minor_faults;
            let before = faults();
            // 64 MiB touched page by page: 16,384 pages never touched before.
            let mut block = vec![0u8; 64 << 20];
            for page in block.chunks_mut(4096) {
                page[0] = 1;
            }
            std::hint::black_box(&block);
            assert!(faults() >= before + 1_000);
        }
    }

    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[test]
    fn freed_memory_is_returned_on_every_thread_of_the_pool_and_the_caller() {
        use std::sync::atomic::Ordering;
        super::set_return_freed(|| {
            CALLS.fetch_add(1, Ordering::SeqCst);
        });
        super::return_freed();
        assert_eq!(
            CALLS.load(Ordering::SeqCst),
            rayon::current_num_threads() + 1
        );
    }
}
