//! The export macro and the functions it calls.

use alloc::string::String;

use crate::bindings::wicket::policy::types as wit;
use crate::policy::{self, Policy};
use crate::settings_cache::SettingsCache;
use crate::{AccessRequest, Decision, Identity};

/// The `validate-settings` export of a policy `P`; valid settings stay in `cache`.
#[doc(hidden)]
pub fn validate_export<P: Policy>(
    cache: &SettingsCache<P::Settings>,
    settings: String,
) -> Result<(), String> {
    cache.with(settings, policy::settings::<P>, |parsed| parsed.map(drop))
}

/// The `evaluate` export of a policy `P`: settings that do not parse or validate deny; settings
/// found in `cache` are not parsed again.
#[doc(hidden)]
pub fn evaluate_export<P: Policy>(
    cache: &SettingsCache<P::Settings>,
    settings: String,
    identity: wit::Identity,
    request: wit::AccessRequest,
) -> wit::Decision {
    let decision = match AccessRequest::try_from(request) {
        Ok(request) => cache.with(settings, policy::settings::<P>, |parsed| match parsed {
            Ok(settings) => P::evaluate(settings, &Identity::from(identity), &request),
            Err(message) => Decision::deny(message),
        }),
        Err(message) => Decision::deny(message),
    };
    decision.into()
}

/// Exports a [`Policy`] as the component's `wicket:policy/evaluator` interface (world `policy`).
///
/// Use it once, in the policy crate's `lib.rs`, on a crate with
/// `crate-type = ["cdylib", "rlib"]` (`#![no_std]` too without the SDK's `std` feature, see the
/// crate docs), then build with `cargo build --release --target wasm32-wasip2`.
///
/// ```
/// use wicket_sdk::{AccessRequest, Decision, Identity, Policy};
///
/// /// Allows everything as requested.
/// pub struct AllowAll;
///
/// impl Policy for AllowAll {
///     type Settings = wicket_sdk::serde_json::Value;
///
///     fn evaluate(_: &Self::Settings, _: &Identity, request: &AccessRequest) -> Decision {
///         Decision::allow_as_requested(request)
///     }
/// }
///
/// wicket_sdk::export_policy!(AllowAll);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        const _: () = {
            struct WicketPolicyExport;

            /// The settings this module parsed last (see `SettingsCache`).
            #[cfg(target_arch = "wasm32")]
            static WICKET_SETTINGS: $crate::__private::SettingsCache<
                <$policy as $crate::Policy>::Settings,
            > = $crate::__private::SettingsCache::new();

            /// The cache the exports use: the module's own on `wasm32`; natively (where the
            /// exports are only type-checked) an empty one per call.
            fn wicket_settings<R>(
                f: impl FnOnce(&$crate::__private::SettingsCache<<$policy as $crate::Policy>::Settings>) -> R,
            ) -> R {
                #[cfg(target_arch = "wasm32")]
                return f(&WICKET_SETTINGS);
                #[cfg(not(target_arch = "wasm32"))]
                return f(&$crate::__private::SettingsCache::new());
            }

            impl $crate::bindings::exports::wicket::policy::evaluator::Guest for WicketPolicyExport {
                fn validate_settings(
                    settings: $crate::__private::String,
                ) -> ::core::result::Result<(), $crate::__private::String> {
                    wicket_settings(|cache| {
                        $crate::__private::validate_export::<$policy>(cache, settings)
                    })
                }

                fn evaluate(
                    settings: $crate::__private::String,
                    requester: $crate::bindings::wicket::policy::types::Identity,
                    request: $crate::bindings::wicket::policy::types::AccessRequest,
                ) -> $crate::bindings::wicket::policy::types::Decision {
                    wicket_settings(|cache| {
                        $crate::__private::evaluate_export::<$policy>(
                            cache, settings, requester, request,
                        )
                    })
                }
            }

            // Natively the impl above is only type-checked: the exports' names (with `:` and
            // `@`) are component-model names that a native linker rejects.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::__export_policy_world!(WicketPolicyExport with_types_in $crate::bindings);

            // The generated bindings live in the SDK's rlib: keep the function that carries the
            // component type of the contract into the component.
            #[cfg(target_arch = "wasm32")]
            #[used]
            static WICKET_LINK_REALLOC: fn() = $crate::bindings::__link_custom_section_describing_imports;
        };
    };
}
