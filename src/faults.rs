//! Fault injection for the crash tests: with `ROLLMATCH_FAULT_KILL=<point>`
//! in the environment, the process sends itself SIGKILL when it reaches
//! that point — exactly what an operator's `kill -9` or an OOM kill does,
//! but at a chosen stage. Without the variable it does nothing.

/// The points a run passes, in order (`checked`: Q's checks have run and
/// the flags are not yet sorted).
pub const POINTS: [&str; 5] = ["read", "checked", "staged", "published", "state_files"];

pub fn point(name: &'static str) {
    if std::env::var_os("ROLLMATCH_FAULT_KILL").is_some_and(|v| v == name) {
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}
