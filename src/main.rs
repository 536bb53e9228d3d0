//! The `rollmatch` binary: parse, dispatch, exit with the contract's code.

use std::process::ExitCode;

use clap::Parser;
use rollmatch::error::exit;

/// mimalloc instead of glibc malloc: the pipeline allocates millions of
/// small rows across threads, where glibc's arenas fragment (RSS) and its
/// free lists cost a sixth of the run (issue #7's profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option `purge_delay` (its position in `mi_option_e` of the
/// mimalloc 3 that libmimalloc-sys 0.1.49 builds) and its default there.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
const MIMALLOC_DEFAULT_PURGE_DELAY_MS: std::ffi::c_long = 1000;
/// The delay the run uses, in milliseconds.
const PURGE_DELAY_MS: std::ffi::c_long = 100;

unsafe extern "C" {
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    fn mi_collect(force: bool);
}

/// Freed memory goes back to the system after 100 ms instead of
/// mimalloc 3's one second. The run's highest points at 10 M households
/// are steps that free about as much as they allocate (the flag lists
/// joined into one, matching's grouping, the movement indexes one after
/// another): with a second's delay the freed gigabyte stayed resident
/// beside the new one. 100 ms took the 10 M run's peak from 7,075 to
/// 6,782 MiB, and the 1 M run's from about 955 to 825 MiB, for more
/// system time: about 1.5 % of the CPU time at 10 M, 3–4 % at 1 M, which
/// the wall time did not show (issue #7). Left alone when the
/// option is not at its known default: set by `MIMALLOC_PURGE_DELAY`, or
/// a mimalloc whose options are numbered otherwise.
fn tune_allocator() {
    // SAFETY: both read or write one integer in mimalloc's option table;
    // called once, before any other thread runs.
    unsafe {
        if mi_option_get(MI_OPTION_PURGE_DELAY) == MIMALLOC_DEFAULT_PURGE_DELAY_MS {
            mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        }
    }
}

/// Return the calling thread's freed memory, and the memory mimalloc holds
/// for later purging, to the system now (see `memory::return_freed`).
fn return_freed() {
    // SAFETY: mimalloc's own collection of the calling thread's heap and of
    // its arenas; it frees nothing that is still allocated.
    unsafe { mi_collect(true) }
}

fn main() -> ExitCode {
    tune_allocator();
    rollmatch::memory::set_return_freed(return_freed);
    // A panic is a bug: one generic line, exit 70, no backtrace (it could
    // quote a value from the data). Only the first panicking thread
    // reports and exits: two threads calling `exit` at once could abort
    // the process (seen on a full disk: exit 134).
    std::panic::set_hook(Box::new(|info| {
        static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if REPORTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            loop {
                std::thread::park();
            }
        }
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("rollmatch: internal error{place}; please report it (exit 70)");
        std::process::exit(exit::SOFTWARE);
    }));
    let cli = match rollmatch::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    match rollmatch::cli::dispatch(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("rollmatch: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option numbered 15 is the purge delay: at mimalloc's default
    /// before, at the run's after (a mimalloc that numbers its options
    /// otherwise fails here, not silently in production).
    #[test]
    fn the_purge_delay_is_the_option_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads one integer of mimalloc's option table.
        let read = || unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(read(), MIMALLOC_DEFAULT_PURGE_DELAY_MS);
        tune_allocator();
        assert_eq!(read(), PURGE_DELAY_MS);
    }
}
