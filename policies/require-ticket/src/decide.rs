//! The rule of `require-ticket`, as a pure function.

use alloc::format;

use wicket_sdk::{AccessRequest, Approval, Decision, Grant};

use crate::settings::Settings;

/// Out of scope, or citing a ticket in the reason or the `ticket` context value: allowed as
/// requested. In scope without a ticket: the same grant, once approved by the configured
/// approvers.
pub fn decide(settings: &Settings, request: &AccessRequest) -> Decision {
    let in_scope = settings.in_scope(
        &request.cluster,
        &request.namespaces,
        !request.cluster_rules.is_empty(),
    );
    let cites_ticket = settings.ticket_pattern.is_match(&request.reason)
        || request
            .context("ticket")
            .is_some_and(|ticket| settings.ticket_pattern.is_match(ticket));
    if !in_scope || cites_ticket {
        return Decision::allow_as_requested(request);
    }
    let reason = format!(
        "no ticket matching `{}` in the reason or the `ticket` context value",
        settings.ticket_pattern.as_str()
    );
    let mut approval =
        Approval::new(reason, Grant::from_request(request)).count(settings.approvals);
    approval.groups.clone_from(&settings.approver_groups);
    approval.subjects.clone_from(&settings.approver_subjects);
    Decision::needs_approval(approval)
}
