//! The export macros and the functions they call.

use alloc::string::String;

use crate::bindings::types as wit;
use crate::policy::{self, Policy};
use crate::relay::RelayPolicy;
use crate::settings_cache::SettingsCache;
use crate::{AccessRequest, ApiCall, CallDecision, Decision, Identity};

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
    let inputs = Identity::try_from(identity)
        .and_then(|identity| Ok((identity, AccessRequest::try_from(request)?)));
    let decision = match inputs {
        Ok((identity, request)) => {
            cache.with(settings, policy::settings::<P>, |parsed| match parsed {
                Ok(settings) => P::evaluate(settings, &identity, &request),
                Err(message) => Decision::deny(message),
            })
        }
        Err(message) => Decision::deny(message),
    };
    decision.into()
}

/// The `authorize-call` export of a relay policy `P`: settings that do not parse or validate
/// refuse the call.
#[doc(hidden)]
pub fn authorize_export<P: RelayPolicy>(
    cache: &SettingsCache<P::Settings>,
    settings: String,
    identity: wit::Identity,
    request: wit::AccessRequest,
    call: wit::ApiCall,
) -> wit::CallDecision {
    let inputs = Identity::try_from(identity).and_then(|identity| {
        Ok((
            identity,
            AccessRequest::try_from(request)?,
            ApiCall::try_from(call)?,
        ))
    });
    let decision = match inputs {
        Ok((identity, request, call)) => {
            cache.with(settings, policy::settings::<P>, |parsed| match parsed {
                Ok(settings) => P::authorize_call(settings, &identity, &request, &call),
                Err(message) => CallDecision::deny(message),
            })
        }
        Err(message) => CallDecision::deny(message),
    };
    decision.into()
}

/// The `evaluator` export, with the module's settings cache; used by
/// [`export_policy!`] and [`export_relay_policy!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __export_evaluator {
    ($policy:ty) => {
        struct WicketPolicyExport;

        /// The settings this module parsed last (see `SettingsCache`).
        #[cfg(target_arch = "wasm32")]
        static WICKET_SETTINGS: $crate::__private::SettingsCache<
            <$policy as $crate::Policy>::Settings,
        > = $crate::__private::SettingsCache::new();

        /// The cache the exports use: the module's own on `wasm32`; natively (where the
        /// exports are only type-checked) an empty one per call.
        fn wicket_settings<R>(
            f: impl FnOnce(
                &$crate::__private::SettingsCache<<$policy as $crate::Policy>::Settings>,
            ) -> R,
        ) -> R {
            #[cfg(target_arch = "wasm32")]
            return f(&WICKET_SETTINGS);
            #[cfg(not(target_arch = "wasm32"))]
            return f(&$crate::__private::SettingsCache::new());
        }

        impl $crate::bindings::relay::exports::wicket::policy::evaluator::Guest
            for WicketPolicyExport
        {
            fn validate_settings(
                settings: $crate::__private::String,
            ) -> ::core::result::Result<(), $crate::__private::String> {
                wicket_settings(|cache| {
                    $crate::__private::validate_export::<$policy>(cache, settings)
                })
            }

            fn evaluate(
                settings: $crate::__private::String,
                requester: $crate::bindings::types::Identity,
                request: $crate::bindings::types::AccessRequest,
            ) -> $crate::bindings::types::Decision {
                wicket_settings(|cache| {
                    $crate::__private::evaluate_export::<$policy>(
                        cache, settings, requester, request,
                    )
                })
            }
        }
    };
}

/// Exports a [`Policy`] as the component's `wicket:policy/evaluator` interface (world `policy`).
///
/// Use it once, in the policy crate's `lib.rs`, on a crate with
/// `crate-type = ["cdylib", "rlib"]` (`#![no_std]` too without the SDK's `std` feature, see the
/// crate docs), then build with `cargo build --release --target wasm32-wasip2`. A policy that also
/// decides relayed API calls uses [`export_relay_policy!`](crate::export_relay_policy!) instead.
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
            $crate::__export_evaluator!($policy);

            // Natively the impl above is only type-checked: the exports' names (with `:` and
            // `@`) are component-model names that a native linker rejects.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::relay::exports::wicket::policy::evaluator::__export_wicket_policy_evaluator_0_2_0_cabi!(
                WicketPolicyExport with_types_in $crate::bindings::relay::exports::wicket::policy::evaluator
            );

            // The generated bindings live in the SDK's rlib: keep the function that carries the
            // component type of world `policy` into the component.
            #[cfg(target_arch = "wasm32")]
            #[used]
            static WICKET_LINK_REALLOC: fn() = $crate::bindings::policy::__link_custom_section_describing_imports;
        };
    };
}

/// Exports a [`RelayPolicy`](crate::RelayPolicy) as the `wicket:policy/evaluator` and
/// `wicket:policy/relay` interfaces (world `relay-policy`): the host calls its
/// `authorize_call` for every API call made through the relay. Used like [`export_policy!`](crate::export_policy!);
/// see [`RelayPolicy`](crate::RelayPolicy) for an example.
#[macro_export]
macro_rules! export_relay_policy {
    ($policy:ty) => {
        const _: () = {
            $crate::__export_evaluator!($policy);

            impl $crate::bindings::relay::exports::wicket::policy::relay::Guest for WicketPolicyExport {
                fn authorize_call(
                    settings: $crate::__private::String,
                    requester: $crate::bindings::types::Identity,
                    request: $crate::bindings::types::AccessRequest,
                    call: $crate::bindings::types::ApiCall,
                ) -> $crate::bindings::types::CallDecision {
                    wicket_settings(|cache| {
                        $crate::__private::authorize_export::<$policy>(
                            cache, settings, requester, request, call,
                        )
                    })
                }
            }

            #[cfg(target_arch = "wasm32")]
            $crate::bindings::relay::__export_relay_policy_world!(WicketPolicyExport with_types_in $crate::bindings::relay);

            #[cfg(target_arch = "wasm32")]
            #[used]
            static WICKET_LINK_REALLOC: fn() = $crate::bindings::relay::__link_custom_section_describing_imports;
        };
    };
}
