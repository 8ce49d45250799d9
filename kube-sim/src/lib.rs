//! kube-sim: an in-memory Kubernetes API server that authenticates and authorizes every request
//! like the real one (service-account tokens, RBAC with the escalation check), for tests and
//! `wicket dev`. Real kubectl (1.27–1.33) and kube-rs accept it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_sim::Error> {
//! let sim = kube_sim::KubeSim::start(kube_sim::Config::default()).await?;
//! let kubeconfig = sim.kubeconfig("kube-sim")?; // admin kubeconfig (CA + bearer token)
//! println!("{} {}", sim.url(), kubeconfig.len());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod api;
pub mod auth;
pub mod discovery;
mod error;
pub mod faults;
pub mod impersonation;
mod kubeconfig;
pub mod kubectl;
pub mod objects;
pub mod patch;
pub mod proto;
pub mod rbac;
pub mod request_info;
pub mod resources;
pub mod reviews;
pub mod selector;
mod server;
pub mod status;
pub mod store;
pub mod tls;
pub mod token_cache;
pub mod validation;
pub mod watch;

pub use api::RequestRecord;
pub use error::{Error, Result};
pub use faults::{Action as FaultAction, FaultRule, Faults, When};
pub use server::{Config, KubeSim};
