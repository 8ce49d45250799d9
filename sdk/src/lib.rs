#![doc = include_str!("../README.md")]
//!
//! # Modules at a glance
//!
//! - [`Policy`] and [`export_policy!`]: what a policy implements and how it becomes a component.
//! - [`Identity`], [`AccessRequest`], [`Access`], [`Rule`]: what a policy reads.
//! - [`Decision`], [`Grant`], [`NamespaceGrant`], [`Approval`]: what a policy answers.
//! - [`testing`]: evaluate a policy natively in `cargo test`, run a `cases.json` file.
//!
//! # `std` or `no_std`
//!
//! The SDK is `no_std` + `alloc`; its `std` feature (on by default) links `std` into wasm
//! guests, so a policy is ordinary Rust. Without it, the SDK brings its own allocator and a panic
//! handler that traps (a trap is a deny for the host), so a policy crate that starts with
//! `#![no_std]` becomes a component that imports nothing from WASI: smaller, and a few
//! microseconds faster per decision (see the README).
#![no_std]

extern crate alloc;
#[cfg(any(feature = "std", not(target_arch = "wasm32")))]
extern crate std;

mod access;
#[doc(hidden)]
pub mod bindings;
mod convert;
mod decision;
mod export;
mod grant;
mod identity;
mod json;
mod policy;
mod request;
mod runtime;
mod settings_cache;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use access::{Access, Rule, name_matches};
pub use decision::Decision;
pub use grant::{Approval, Grant, NamespaceGrant};
pub use identity::Identity;
pub use policy::Policy;
pub use request::AccessRequest;

/// The `jiff` crate (no-std build) the SDK uses for [`AccessRequest::requested_at`].
pub use jiff_alloc as jiff;
/// The `serde` crate (no-std build) policies derive their settings with.
///
/// Derive through it and tell serde where it lives:
/// `#[derive(wicket_sdk::serde::Deserialize)] #[serde(crate = "wicket_sdk::serde")]`.
pub use serde_alloc as serde;
/// The `serde_json` crate (no-std build): settings and claims are JSON.
pub use serde_json_alloc as serde_json;

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{evaluate_export, validate_export};
    pub use crate::settings_cache::SettingsCache;
    pub use alloc::string::String;
}
