//! Errors of the policy engine: loading a module, or a chain's settings being rejected.
//!
//! Evaluating a request never fails with one of these: a failing module becomes a deny with a
//! diagnostic (see [`crate::policy::Evaluation`]).

use std::path::PathBuf;

/// An error while setting up the engine or loading a policy module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The wasmtime engine could not be configured.
    #[error("cannot set up the policy engine")]
    Engine(#[source] wasmtime::Error),
    /// The thread that enforces deadlines could not be started.
    #[error("cannot start the policy deadline ticker")]
    Ticker(#[source] std::io::Error),
    /// A limit in the configuration is out of range.
    #[error("invalid limit: {0}")]
    Limit(String),
    /// The module file could not be read.
    #[error("cannot read policy module `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component (e.g. a core module or garbage).
    #[error("`{name}` is not a valid WebAssembly component")]
    NotComponent {
        /// The module's name.
        name: String,
        /// What wasmtime said.
        #[source]
        source: wasmtime::Error,
    },
    /// The component does not implement a `wicket:policy` world.
    #[error(
        "`{name}` does not implement the `wicket:policy/policy` world (it must export \
         `wicket:policy/evaluator@0.2.0` or `wicket:policy/evaluator@0.1.0`); it exports: \
         {exports}"
    )]
    WrongWorld {
        /// The module's name.
        name: String,
        /// What it exports instead, comma separated.
        exports: String,
    },
    /// The component imports something the sandbox does not provide, or its exports have the
    /// wrong types.
    #[error("`{name}` cannot be linked into the policy sandbox")]
    Link {
        /// The module's name.
        name: String,
        /// What wasmtime said.
        #[source]
        source: wasmtime::Error,
    },
    /// The module rejected its settings with its own message.
    #[error("module `{name}` rejected its settings: {message}")]
    Settings {
        /// The chain entry's name.
        name: String,
        /// The module's own message.
        message: String,
    },
    /// The module failed (trapped, timed out, ran out of memory) while checking its settings.
    #[error("module `{name}` failed while checking its settings: {reason}")]
    SettingsFailed {
        /// The chain entry's name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// The chain holds no module: it would decide nothing.
    #[error("a policy chain needs at least one module")]
    EmptyChain,
    /// Two chain entries have the same name.
    #[error("the policy chain names `{0}` twice")]
    DuplicateEntry(String),
    /// A cases file is malformed or inconsistent.
    #[error("`{path}`: {message}")]
    Cases {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A module failed a case of the cases file beside it.
    #[error("case `{case}` of `{path}` fails: {problem}")]
    CaseFailed {
        /// The cases file.
        path: PathBuf,
        /// The first failing case.
        case: String,
        /// What went wrong.
        problem: String,
    },
}

/// The result of policy engine set-up and loading.
pub type Result<T, E = Error> = std::result::Result<T, E>;
