//! The library's error type: every variant names the file (or tool) involved and the fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{tool}` was not found on PATH; install it with: {install}")]
    ToolMissing { tool: String, install: String },

    #[error("{tool} failed: {message}")]
    ToolFailed { tool: String, message: String },

    #[error("{file}:{line}: {message}")]
    Located {
        file: PathBuf,
        line: u32,
        message: String,
    },

    #[error("{file}: {message}")]
    Input { file: PathBuf, message: String },

    #[error("unknown multiplier `{0}`: not a built-in name (see `autoapprox mult list`) and not an existing .v file")]
    UnknownMultiplier(String),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an I/O error.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
