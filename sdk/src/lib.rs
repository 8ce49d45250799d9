#![doc = include_str!("../README.md")]
//!
//! # Modules at a glance
//!
//! - [`Policy`] and [`export_policy!`]: what a policy implements and how it becomes a component;
//!   [`RelayPolicy`] and [`export_relay_policy!`] for a policy that also decides relayed API calls.
//! - [`Identity`], [`AccessRequest`], [`Access`], [`Rule`], [`ApiCall`]: what a policy reads.
//! - [`Decision`] (allow, deny, needs approval, abstain), [`Grant`], [`NamespaceGrant`],
//!   [`Approval`], [`CallDecision`]: what a policy answers.
//! - [`Duration`], [`Scope`], [`Scoped`], [`NamePattern`]: settings types (errors name the field).
//! - [`testing`]: evaluate a policy natively in `cargo test`, run a `cases.json` file.
//!
//! The types are [`wicket_contract`]'s, the crate the Wicket host uses too, so a policy and the
//! host never disagree on a field or a JSON form.
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

#[doc(hidden)]
pub mod bindings;
mod convert;
mod export;
mod policy;
mod relay;
mod runtime;
mod scope;
mod settings_cache;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use policy::Policy;
pub use relay::RelayPolicy;
pub use scope::{NamePattern, Scope, Scoped};
/// A duration in settings: `"90s"`, `"30m"`, `"1h30m"`, `"1d"` (24 h), `"PT30S"`, or an integer
/// number of seconds; the grammar of Wicket's configuration and REST API, from `wicket-contract`.
pub use wicket_contract::Duration;
pub use wicket_contract::{
    Access, AccessRequest, ApiCall, Approval, CallDecision, Decision, Grant, Identity,
    NamespaceGrant, Rule, name_matches,
};

/// The contract crate the SDK's types come from.
pub use wicket_contract;

/// The `jiff` crate (no-std build) of [`AccessRequest::now`] and [`ApiCall::at`].
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
    pub use crate::export::{authorize_export, evaluate_export, validate_export};
    pub use crate::settings_cache::SettingsCache;
    pub use alloc::string::String;
}
