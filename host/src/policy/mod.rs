//! The policy engine: loads WebAssembly policy modules and evaluates access requests with
//! them. It knows nothing of HTTP or Kubernetes.
//!
//! ```no_run
//! use std::sync::Arc;
//! use wicket::policy::{Chain, ChainEntry, EngineConfig, Limits, PolicyEngine};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = PolicyEngine::new(&EngineConfig::default())?;
//! let module = engine.load_file("group_access.wasm".as_ref(), Limits::default())?;
//! let settings = serde_json::json!({"groups": {}});
//! let chain = Chain::new(vec![ChainEntry::new("groups", Arc::new(module), &settings)])?;
//! # let (identity, request) = todo!();
//! let evaluation = chain.evaluate(&identity, &request);
//! println!("{:?}", evaluation.verdict);
//! # Ok(()) }
//! ```
//!
//! - [`PolicyEngine`]: one per process; compiles (with an on-disk cache) and pre-links modules.
//! - [`PolicyModule`]: one loaded module; every call gets a fresh instance in its own store,
//!   with a memory limit, a deadline, no files, no environment, no network and captured output.
//! - [`Chain`]: modules with settings, validated once; [`Chain::evaluate`] combines their
//!   decisions (deny overrides, abstentions are skipped, then needs-approval, grants
//!   intersected, minimum TTL; `on_deny = "stop"` and `on_allow = "sufficient"` end it early).
//! - [`Evaluation`]: the verdict plus per-module diagnostics; failures are denies, never errors.

mod bindings;
pub mod cases;
mod chain;
mod engine;
mod error;
pub mod intersect;
mod module;
mod outcome;
pub mod pool;
mod prepare;
mod sandbox;
pub mod set;
pub mod validate;
pub mod within;

pub use chain::{Chain, ChainEntry, OnAllow, OnDeny, combine};
pub use engine::{EngineConfig, PolicyEngine};
pub use error::{Error, Result};
pub use module::{CallOutcome, Contract, Limits, PolicyModule, World};
pub use outcome::{Evaluation, ModuleOutcome, ModuleResult, Stop, Verdict};
pub use pool::EvaluationPool;
pub use sandbox::Output;
pub use set::{PolicySet, Rejection};
