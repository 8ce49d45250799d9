//! Bindings generated from the `wicket:policy@0.2.0` WIT package, one module per world; used by
//! [`crate::export_policy!`] and [`crate::export_relay_policy!`].
//!
//! Hidden from the documentation: policies use the curated types of the crate root.

// The generated glue implements the canonical ABI with raw pointers; `unsafe` stays inside
// these generated modules.
#![allow(unsafe_code, missing_docs, clippy::all)]

/// World `relay-policy`: `evaluator` and `relay`. Its `types` are the ones both worlds use.
pub mod relay {
    wit_bindgen::generate!({
        path: "../wit",
        world: "relay-policy",
        pub_export_macro: true,
        export_macro_name: "__export_relay_policy_world",
        default_bindings_module: "$crate::bindings::relay",
    });
}

/// World `policy` (`evaluator` only), for the component type a plain policy carries; its
/// `evaluator` export is made with the one of [`relay`] (two public export macros of the same
/// interface would clash), from the same types.
pub mod policy {
    wit_bindgen::generate!({
        path: "../wit",
        world: "policy",
        with: {
            "wicket:policy/types@0.2.0": crate::bindings::relay::wicket::policy::types,
        },
    });
}

/// The contract's types, in their generated form.
pub use relay::wicket::policy::types;
