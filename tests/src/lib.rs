//! Cross-crate tests of Wicket. The library holds the shared harness of the end-to-end tests
//! (kube-sim and Wicket's real HTTP server on `127.0.0.1:0` with the configuration in
//! `fixtures/wicket.toml`, test tokens, test certificates, real kubectl), the paths of the test guests in
//! `tests/guests/` (built to wasm32-wasip2 by the build script), and helpers shared by the
//! integration tests in `tests/`.

pub mod env;
pub mod kubectl;
pub mod metrics;
pub mod native;
pub mod pki;
pub mod postgres;
pub mod replicas;
pub mod tokens;

pub use env::{Env, Running, wait_for};

/// Paths of the guest components, one constant per guest (e.g. [`guests::INFINITE_LOOP`]).
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

use wicket::domain::{AccessRequest, Identity};

/// An identity of a person in the `sre` group of the issuer aliased `idp`, as policies see it.
pub fn alice() -> Identity {
    serde_json::from_value(serde_json::json!({
        "subject": "alice",
        "issuer": "https://idp.example.com",
        "groups": ["idp:sre"],
        "claims": {"email": "alice@example.com"}
    }))
    .expect("a valid identity")
}

/// A request for `edit` in `payments` on `prod` for half an hour.
pub fn edit_payments() -> AccessRequest {
    serde_json::from_value(serde_json::json!({
        "id": "req-1",
        "cluster": "prod",
        "namespaces": ["payments"],
        "role": "edit",
        "duration_seconds": 1800,
        "reason": "INC-123 payments failing",
        "requested_at": "2026-11-23T10:00:00Z"
    }))
    .expect("a valid request")
}
