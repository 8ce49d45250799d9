//! Bindings of the `wicket:policy` world shared by every guest (included with `#[path]`).

wit_bindgen::generate!({
    world: "policy",
    path: "../../../wit",
    default_bindings_module: "crate::common",
});

pub use exports::wicket::policy::evaluator::Guest;
pub use wicket::policy::types::{AccessRequest, Decision, Grant, Identity, NamespaceGrant};

/// The grant a well-behaved policy gives: what was asked, for as long as asked.
pub fn asked_for(request: &AccessRequest) -> Grant {
    Grant {
        namespaces: request
            .namespaces
            .iter()
            .map(|ns| NamespaceGrant {
                namespace: ns.clone(),
                access: request.access.clone(),
            })
            .collect(),
        cluster_rules: request.cluster_rules.clone(),
        ttl_seconds: request.duration_seconds,
    }
}
