//! Errors of the command line: all of them are bad input (exit code 2).

use std::error::Error as _;
use std::path::PathBuf;

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write `{path}`")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is malformed or does not have the expected shape.
    #[error("`{path}` is not valid")]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: serde_json::Error,
    },
    /// The policy engine refused the module or its settings.
    #[error(transparent)]
    Policy(#[from] crate::policy::Error),
    /// An option or argument is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The configuration file could not be loaded.
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    /// The store could not be read.
    #[error("cannot read the store")]
    Store(#[from] crate::store::Error),
    /// Writing the output failed.
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// The error and its causes on one line, joined by `: `.
    pub fn one_line(&self) -> String {
        let mut line = self.to_string();
        let mut source = self.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            source = cause.source();
        }
        line.replace('\n', " ")
    }
}

/// The result of a command.
pub type Result<T, E = Error> = std::result::Result<T, E>;
