//! The policy engine: loads WebAssembly policy modules and evaluates access requests with
//! them. It knows nothing of HTTP or Kubernetes.

pub mod types;
