//! The `rollmatch` binary: parse, dispatch, exit with the contract's code.

use std::process::ExitCode;

use clap::Parser;
use rollmatch::error::exit;

/// mimalloc instead of glibc malloc: the pipeline allocates millions of
/// small rows across threads, where glibc's arenas fragment (RSS) and its
/// free lists cost a sixth of the run (issue #7's profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// rust_xlsxwriter's panic message when a write to a worksheet's temporary
/// file fails (`XML_WRITE_ERROR` in its `xmlwriter.rs`, 0.102).
const WORKBOOK_TEMP_WRITE_PANIC: &str = "Couldn't write to xml file";

fn main() -> ExitCode {
    // A panic is a bug: one generic line, exit 70, no backtrace (it could
    // quote a value from the data). One exception is not a bug: the
    // workbook library panics, with this message, when it cannot write a
    // sheet's temporary file (a full disk or temporary directory); that is
    // an output that cannot be written, exit 73. Only the first panicking
    // thread reports and exits: two threads calling `exit` at once could
    // abort the process (seen on a full disk: exit 134).
    std::panic::set_hook(Box::new(|info| {
        static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if REPORTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            loop {
                std::thread::park();
            }
        }
        // `expect` adds the I/O error after the message.
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        if message.is_some_and(|m| m.starts_with(WORKBOOK_TEMP_WRITE_PANIC)) {
            eprintln!(
                "rollmatch: {}: cannot write: a temporary sheet file of report.xlsx could not be written (is the disk or the temporary directory full?)",
                std::env::temp_dir().display()
            );
            std::process::exit(exit::CANT_CREATE);
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
