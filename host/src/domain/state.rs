//! The states of an access request and the moves between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an access request stands.
///
/// ```text
/// received ─┬─► approved ─► provisioning ─► active ─┬─► expired
///           ├─► pending-approval ─► approved         ├─► expiring ─► expired
///           │                                        └─► revoking ─► revoked
///           ├─► denied
///           └─► failed  (also from pending-approval, approved, provisioning)
/// ```
///
/// A pending or approved request is withdrawn straight to `revoked`; a grant passes through
/// `revoking` until its teardown has succeeded. An expired grant whose teardown failed is
/// `expiring` until a retry succeeds (one that succeeds at once goes straight to `expired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    /// Stored; the policy chain has not answered yet.
    Received,
    /// Allowed once approved.
    PendingApproval,
    /// Allowed; not provisioned yet.
    Approved,
    /// Objects are being created on the cluster.
    Provisioning,
    /// The grant is in effect until `expires_at`.
    Active,
    /// The grant was revoked; its teardown is under way (retried until it succeeds).
    Revoking,
    /// The grant's time is up but its teardown failed; it is retried until it succeeds.
    Expiring,
    /// The grant ended on time and was torn down.
    Expired,
    /// The grant was ended early (or a pending request withdrawn).
    Revoked,
    /// The policy chain denied it.
    Denied,
    /// Something failed; whatever was created was rolled back.
    Failed,
}

impl RequestState {
    /// Every state, in lifecycle order.
    pub const ALL: [Self; 11] = [
        Self::Received,
        Self::PendingApproval,
        Self::Approved,
        Self::Provisioning,
        Self::Active,
        Self::Revoking,
        Self::Expiring,
        Self::Expired,
        Self::Revoked,
        Self::Denied,
        Self::Failed,
    ];

    /// The state's name, as stored and shown (`pending-approval`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::PendingApproval => "pending-approval",
            Self::Approved => "approved",
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Revoking => "revoking",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }

    /// Whether nothing follows this state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Expired | Self::Revoked | Self::Denied | Self::Failed
        )
    }

    /// Whether the state machine allows moving from `self` to `to`.
    pub fn can_move_to(self, to: Self) -> bool {
        use RequestState::*;
        matches!(
            (self, to),
            (Received, PendingApproval | Approved | Denied | Failed)
                | (
                    PendingApproval,
                    Approved | Denied | Revoked | Expired | Failed
                )
                | (Approved, Provisioning | Revoked | Failed)
                | (Provisioning, Active | Failed)
                | (Active, Expired | Expiring | Revoking)
                | (Expiring, Expired)
                | (Revoking, Revoked)
        )
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`RequestState::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown request state `{0}`")]
pub struct UnknownState(String);

impl FromStr for RequestState {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<Self, UnknownState> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| UnknownState(text.to_owned()))
    }
}
