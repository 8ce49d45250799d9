//! Bindings generated from the `wicket:policy` WIT package; used by [`crate::export_policy!`].
//!
//! Hidden from the documentation: policies use the curated types of the crate root.

// The generated glue implements the canonical ABI with raw pointers; `unsafe` stays inside
// this generated module.
#![allow(unsafe_code, missing_docs, clippy::all)]

wit_bindgen::generate!({
    path: "wit/0.1.0",
    world: "policy",
    pub_export_macro: true,
    export_macro_name: "__export_policy_world",
});
