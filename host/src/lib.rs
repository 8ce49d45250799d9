//! Wicket: just-in-time access to Kubernetes, decided by WebAssembly policies.

pub mod cluster;
pub mod policy;
