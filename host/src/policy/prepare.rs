//! Pre-initialised instances: a chain entry's module, snapshotted right after it accepted the
//! entry's settings, so that every decision's fresh instance starts with the settings already
//! parsed (and whatever the module built from them, such as a compiled pattern).
//!
//! A module gets its settings as JSON text on every call, and a fresh instance has forgotten
//! everything, so a module would otherwise parse them on every decision: for `require-ticket`,
//! building its ticket pattern's automaton is most of a decision. Preparing an entry:
//! 1. instruments the module with `wasmtime-wizer` (exports that read its globals and memory),
//! 2. instantiates that with every import trapping and calls `validate-settings(settings)`
//!    (first on the module as compiled, which is cheap, to find a module that calls an import
//!    before spending a compile on it),
//! 3. snapshots globals and memory into a new component (the same code, new data segments),
//!    which is compiled (through the engine's cache) and pre-linked like any module.
//!
//! Each decision still gets its own fresh instance and store, only from the snapshot's image
//! instead of the original one. A module that keeps what it parsed (the Rust SDK keeps the
//! settings it validated, keyed by their exact text) finds it there; any other module behaves
//! as before. The `wicket:policy` contract says so: `evaluate` may start from the state
//! `validate-settings` left.
//!
//! Preparation is an optimisation and never a condition: a module it does not apply to (one
//! whose validation calls an import such as WASI, since host-side state cannot be snapshotted,
//! one using instructions wizer cannot snapshot, such as `table.grow`, or one whose settings
//! check does not finish within the preparation's budget) keeps deciding from its original
//! image, with the reason logged. Any failure, a panic inside wizer included, means "not
//! prepared"; it never rejects a chain.
//!
//! The budget ([`BUDGET`], not the per-decision deadline) bounds the guest code preparation
//! runs: each of the two calls of `validate-settings`, not the host's own work between them
//! (instrumenting and compiling a large module takes seconds in a debug build on a loaded
//! machine, and counting it made preparation fail by chance). Reading the snapshotted state
//! afterwards calls only
//! the accessors wizer generated (they copy globals and memory), with a fresh allowance of
//! their own: a deadline running out between two of them would leave wizer with half a
//! snapshot.

use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::{Component, Instance, Lift, Linker, WasmList};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use super::module::PolicyModule;
use super::sandbox::Sandbox;

/// How long each of preparation's two settings checks may run the module's own code. A
/// module whose check takes longer is not prepared.
pub const BUDGET: Duration = Duration::from_secs(10);

/// How long the accessors wizer generated may take to hand over the state, once the module's
/// settings check is done: they only copy memory, so this is never reached in practice.
const ACCESSORS_ALLOWANCE: Duration = Duration::from_secs(10);

/// `module` deciding from a snapshot taken after it accepted `settings`, or why it cannot,
/// running the module's code for at most `budget` per settings check. Never panics.
pub(crate) fn snapshot(
    module: &PolicyModule,
    settings: &str,
    budget: Duration,
) -> Result<PolicyModule, String> {
    std::panic::catch_unwind(AssertUnwindSafe(|| take(module, settings, budget))).unwrap_or_else(
        |panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("preparing the snapshot panicked: {what}"))
        },
    )
}

/// [`snapshot`], each settings check running the module's code for at most `budget`.
fn take(module: &PolicyModule, settings: &str, budget: Duration) -> Result<PolicyModule, String> {
    // First on the module as compiled, which costs one instantiation: a module that calls an
    // import while validating (a Python guest reads its environment) is found out before
    // instrumenting and compiling it, which takes seconds for a large guest.
    validated(module, module.component(), settings, budget)?;

    let origin = module.origin();
    let compiler = &origin.compiler;
    let wizer = Wizer::new();
    let (context, instrumented) = wizer
        .instrument_component(&origin.bytes)
        .map_err(|error| format!("cannot instrument the module: {error:#}"))?;
    let name = format!("{} (instrumented)", module.name());
    let digest = hex::encode(Sha256::digest(&instrumented));
    let (component, _) = compiler
        .component(&name, &digest, &instrumented)
        .map_err(|error| format!("{error:#}"))?;
    let (mut store, instance) = validated(module, &component, settings, budget)?;

    store.set_epoch_deadline(module.ticks(ACCESSORS_ALLOWANCE));
    let mut state = Accessors {
        store: &mut store,
        instance,
        error: None,
    };
    let snapshot = complete(wizer.snapshot_component(&context, &mut state))?
        .map_err(|error| format!("cannot snapshot the module: {error:#}"))?;
    if let Some(error) = state.error {
        return Err(format!("cannot read the module's state: {error}"));
    }

    let digest = hex::encode(Sha256::digest(&snapshot));
    let (component, _) = compiler
        .component(module.name(), &digest, &snapshot)
        .map_err(|error| format!("{error:#}"))?;
    module
        .with_snapshot(&component, settings)
        .map_err(|error| format!("{error:#}"))
}

/// An instance of `component` (the module or its instrumented form) under the module's
/// memory limit that accepted `settings` within `budget` of its own time. Host-side state
/// (WASI streams, resources) would not be in a snapshot, so every import traps.
fn validated(
    module: &PolicyModule,
    component: &Component,
    settings: &str,
    budget: Duration,
) -> Result<(Store<Sandbox>, Instance), String> {
    if budget.is_zero() {
        return Err("the preparation's budget ran out".to_owned());
    }
    let mut linker = Linker::new(component.engine());
    linker
        .define_unknown_imports_as_traps(component)
        .map_err(|error| format!("{error:#}"))?;
    let mut store = module.sandbox_store();
    store.set_epoch_deadline(module.ticks(budget));
    let instance = linker
        .instantiate(&mut store, component)
        .map_err(|error| format!("cannot instantiate the module: {error:#}"))?;
    validate(
        &mut store,
        &instance,
        &module.contract().evaluator_interface(),
        settings,
    )?;
    Ok((store, instance))
}

/// Calls `validate-settings(settings)` of the instance's `evaluator` interface, which must
/// accept them.
fn validate(
    store: &mut Store<Sandbox>,
    instance: &Instance,
    evaluator: &str,
    settings: &str,
) -> Result<(), String> {
    let interface = instance
        .get_export_index(&mut *store, None, evaluator)
        .ok_or_else(|| format!("no `{evaluator}` export"))?;
    let export = instance
        .get_export_index(&mut *store, Some(&interface), "validate-settings")
        .ok_or_else(|| "no `validate-settings` export".to_owned())?;
    let validate = instance
        .get_typed_func::<(&str,), (Result<(), String>,)>(&mut *store, &export)
        .map_err(|error| format!("{error:#}"))?;
    match validate.call(&mut *store, (settings,)) {
        Ok((Ok(()),)) => Ok(()),
        Ok((Err(message),)) => Err(format!("the module rejected its settings: {message}")),
        Err(error) => Err(format!(
            "validating the settings failed (an import is called, or a trap): {error:#}"
        )),
    }
}

/// Drives a future that never waits: wizer's snapshot only awaits [`Accessors`], whose calls
/// are synchronous.
fn complete<F: Future>(future: F) -> Result<F::Output, String> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err("the snapshot did not complete synchronously".to_owned()),
    }
}

/// Wizer's view of the instrumented instance: calls to the accessor functions it exported.
/// The trait has no error path, so the first failure is kept and the snapshot discarded.
struct Accessors<'a> {
    store: &'a mut Store<Sandbox>,
    instance: Instance,
    error: Option<String>,
}

impl Accessors<'_> {
    /// Calls `instance#func`, a `func() -> R`, and hands its result to `read`.
    fn call<R: Lift + 'static, T: Default>(
        &mut self,
        instance: &str,
        func: &str,
        read: impl FnOnce(&Store<Sandbox>, R) -> T,
    ) -> T {
        if self.error.is_some() {
            return T::default();
        }
        match self.try_call(instance, func) {
            Ok(result) => read(&*self.store, result),
            Err(error) => {
                self.error = Some(format!("`{instance}#{func}`: {error}"));
                T::default()
            }
        }
    }

    fn try_call<R: Lift + 'static>(&mut self, instance: &str, func: &str) -> Result<R, String> {
        let store = &mut *self.store;
        let parent = self
            .instance
            .get_export_index(&mut *store, None, instance)
            .ok_or("no such export")?;
        let export = self
            .instance
            .get_export_index(&mut *store, Some(&parent), func)
            .ok_or("no such export")?;
        let func = self
            .instance
            .get_typed_func::<(), (R,)>(&mut *store, &export)
            .map_err(|error| format!("{error:#}"))?;
        func.call(&mut *store, ())
            .map(|(result,)| result)
            .map_err(|error| format!("{error:#}"))
    }
}

impl ComponentInstanceState for Accessors<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        self.call(instance, func, |store, list: WasmList<u8>| {
            contents(list.as_le_slice(store));
        });
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func, |_, value| value)
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func, |_, value| value)
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call(instance, func, |_, value: f32| value.to_bits())
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call(instance, func, |_, value: f64| value.to_bits())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;

    use crate::embedded::REQUIRE_TICKET;
    use crate::policy::{Chain, ChainEntry, EngineConfig, Limits, PolicyEngine};

    fn chain(limits: Limits) -> Chain {
        let engine = PolicyEngine::new(&EngineConfig::default()).expect("an engine");
        let module = engine
            .load("require_ticket.wasm", REQUIRE_TICKET, limits)
            .expect("the shipped policy loads");
        let settings = json!({
            "namespaces": ["payments"],
            "ticket_pattern": "\\b(INC|CHG)-[0-9]+\\b",
            "approver_groups": ["idp:sre-leads"],
        });
        Chain::new(vec![ChainEntry::new(
            "tickets",
            Arc::new(module),
            &settings,
        )])
        .expect("settings accepted")
    }

    /// A budget that runs out means "not prepared", never a panic or a rejected chain.
    #[test]
    fn a_budget_that_runs_out_means_not_prepared() {
        let chain = chain(Limits::default());
        let entry = &chain.entries()[0];
        let refused = super::snapshot(entry.module(), entry.settings(), Duration::ZERO);
        let Err(reason) = refused else {
            panic!("prepared without any budget")
        };
        assert!(reason.contains("budget ran out"), "{reason}");
        let prepared = chain.prepare_within(Duration::ZERO);
        assert_eq!(prepared.entries()[0].module().prepared_for(), None);
    }

    /// The budget is the module's own time, not the host's: a budget far shorter than
    /// instrumenting and compiling the module (seconds in a debug build) still prepares it,
    /// since the module's settings check takes milliseconds.
    #[test]
    fn the_budget_does_not_count_compiling() {
        let chain = chain(Limits::default());
        let prepared = chain.prepare_within(Duration::from_secs(1));
        assert!(prepared.entries()[0].module().prepared_for().is_some());
    }

    /// The per-decision deadline does not bound preparation: with a deadline of 1 ms (which
    /// made wizer panic when it ran out between two accessor calls) the entry is prepared.
    #[test]
    fn a_one_millisecond_decision_deadline_still_prepares() {
        let limits = Limits {
            deadline: Duration::from_millis(1),
            ..Limits::default()
        };
        let prepared = chain(limits).prepare();
        assert!(prepared.entries()[0].module().prepared_for().is_some());
    }

    /// The switch: an entry with its snapshot off is left as it is.
    #[test]
    fn an_entry_with_its_snapshot_off_is_not_prepared() {
        let chain = chain(Limits::default());
        let entries = chain
            .entries()
            .iter()
            .map(|entry| entry.clone().with_snapshot(false))
            .collect();
        let prepared = Chain::new(entries).expect("settings accepted").prepare();
        assert_eq!(prepared.entries()[0].module().prepared_for(), None);
    }
}
