//! The vocabulary every room speaks: who asks ([`Identity`]), what they ask for
//! ([`AccessRequest`]), what a policy answers ([`Decision`], [`Grant`], [`Rule`],
//! [`Approval`]), what was done about it (the one [`ObjectRef`], each [`ModuleVerdict`]),
//! where a request stands ([`RequestState`] and its moves) and which names Kubernetes
//! accepts. It depends on no other room; every room may depend on it.

mod access;
mod names;
mod records;
mod state;

#[cfg(test)]
pub(crate) use access::rule_of;
pub use access::{
    Access, AccessRequest, ApiCall, Approval, CallDecision, Decision, Grant, Identity,
    NamespaceGrant, RequestInput, Rule,
};
pub use names::{is_dns1123_label, is_dns1123_subdomain};
pub use records::{Kind, ModuleVerdict, ObjectRef, UnknownKind};
pub use state::{RequestState, UnknownState};
