//! The failures a run can end in, each with its exit code (contract §6).
//!
//! Messages name the file and the cause, never an ID number or a name:
//! they go to stderr and into log collectors.

use std::path::Path;

/// Exit codes of the contract, section 6.
pub mod exit {
    pub const OK: i32 = 0;
    pub const USAGE: i32 = 2;
    pub const DATA: i32 = 65;
    pub const NO_INPUT: i32 = 66;
    pub const SOFTWARE: i32 = 70;
    pub const CANT_CREATE: i32 = 73;
    pub const TEMP_FAIL: i32 = 75;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Command line or job file is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// An input's data cannot be used (exit 65).
    #[error("{0}")]
    Data(String),
    /// An input file does not exist or cannot be opened (exit 66).
    #[error("{0}")]
    MissingInput(String),
    /// An output or state file cannot be written (exit 73).
    #[error("{0}")]
    Output(String),
    /// Another run holds the job's lock (exit 75).
    #[error("{0}")]
    Locked(String),
    /// A bug or an unexpected library failure (exit 70).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Data(_) => exit::DATA,
            Error::MissingInput(_) => exit::NO_INPUT,
            Error::Output(_) => exit::CANT_CREATE,
            Error::Locked(_) => exit::TEMP_FAIL,
            Error::Internal(_) => exit::SOFTWARE,
        }
    }

    pub fn output(path: &Path, cause: impl std::fmt::Display) -> Error {
        Error::Output(format!("{}: cannot write: {cause}", path.display()))
    }

    pub fn data(path: &Path, cause: impl std::fmt::Display) -> Error {
        Error::Data(format!("{}: {cause}", path.display()))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
