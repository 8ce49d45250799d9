#![doc = include_str!("../README.md")]
#![no_std]

extern crate alloc;

mod access;
mod call;
pub mod cases;
mod decision;
pub mod duration;
mod grant;
mod identity;
mod json;
mod request;

pub use access::{Access, Rule, name_matches};
pub use call::{ApiCall, CallDecision};
pub use decision::Decision;
pub use duration::{Duration, DurationError};
pub use grant::{Approval, Grant, NamespaceGrant};
pub use identity::Identity;
pub use request::{AccessRequest, RequestError, RequestInput};

/// The `jiff` crate (no-std build) of [`AccessRequest::requested_at`] and [`ApiCall::at`].
pub use jiff;
/// The `serde_json` crate (no-std build): claims and settings are JSON.
pub use serde_json;
