//! The shared harness of Wicket's end-to-end tests: starts kube-sim and Wicket (the real
//! HTTP server on `127.0.0.1:0`) with the configuration in `fixtures/wicket.toml`, mints
//! tokens, and runs real kubectl. See `README.md` for the test tiers.

pub mod env;
pub mod kubectl;
pub mod native;
pub mod tokens;

pub use env::{Env, Running, wait_for};
