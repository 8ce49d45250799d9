//! The rule of `workload-identity`, as a pure function.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wicket_sdk::{AccessRequest, Decision, Grant, Identity};

use crate::settings::{Humans, Settings, Workload, max_ttl_seconds};

/// - A requester whose issuer is no workload issuer is a person: not this policy's concern
///   (`humans: abstain`, the default: another policy of the chain decides people), allowed as
///   requested (`humans: allow`) or denied (`humans: deny`).
/// - A workload that matches no configured entry is denied.
/// - A workload is allowed exactly what it asked for when a matching entry covers all of it
///   (cluster, namespaces, role or rules, cluster rules), never more, for at most the entry's
///   `max_ttl` (default 15 minutes; the largest among covering entries); otherwise denied with the first
///   part of the request that is not covered.
pub fn decide(settings: &Settings, identity: &Identity, request: &AccessRequest) -> Decision {
    if !settings.is_workload(identity) {
        return match settings.humans {
            Humans::Abstain => Decision::abstain(format!(
                "issuer `{}` is not a workload issuer: people are another policy's concern",
                identity.issuer
            )),
            Humans::Allow => Decision::allow_as_requested(request),
            Humans::Deny => Decision::deny(format!(
                "only workloads may request access; issuer `{}` is not a workload issuer",
                identity.issuer
            )),
        };
    }
    let matching: Vec<&Workload> = settings
        .workloads
        .iter()
        .filter(|w| w.who.matches(identity))
        .collect();
    let Some(first) = matching.first() else {
        return Decision::deny(format!(
            "workload `{}` of issuer `{}` matches no configured workload",
            identity.subject, identity.issuer
        ));
    };
    let uncovered = |w: &Workload| -> Option<String> { w.scope.uncovered(request) };
    let max_ttl = matching
        .iter()
        .filter(|w| uncovered(w).is_none())
        .map(|w| max_ttl_seconds(w))
        .max();
    match max_ttl {
        Some(max_ttl) => Decision::allow(Grant::from_request(request).cap_ttl(max_ttl)),
        None => Decision::deny(format!(
            "workload `{}` may not have {}",
            first.who.name,
            uncovered(first).unwrap_or_else(|| String::from("this access"))
        )),
    }
}
