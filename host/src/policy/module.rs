//! One loaded policy module: compiled, world checked, pre-linked once, then instantiated
//! afresh in its own sandboxed `Store` for every call.

use std::cell::OnceCell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::component::{Component, Instance, InstancePre};
use wasmtime::{Store, Trap};

use super::bindings::{v0_1, v0_2};
use super::engine::Origin;
use super::error::{Error, Result};
use super::sandbox::{Output, Sandbox};
use super::validate;
use crate::domain::{AccessRequest, ApiCall, CallDecision, Decision, Identity};

/// A version of the `wicket:policy` contract the host loads modules of. Every supported
/// version is loaded side by side; a module's version is read from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Contract {
    /// `wicket:policy@0.1.0`: no `abstain`, no `evaluated-at`, `extends` or `api-call.at`.
    #[serde(rename = "0.1.0")]
    V0_1,
    /// `wicket:policy@0.2.0`, the current version (`wit/policy.wit`).
    #[serde(rename = "0.2.0")]
    V0_2,
}

impl Contract {
    /// Every supported version, newest first (a module exporting several is called by the
    /// newest).
    pub const SUPPORTED: [Contract; 2] = [Contract::V0_2, Contract::V0_1];

    /// The version number, e.g. `0.2.0`.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }

    /// The interface every policy of this version exports, e.g.
    /// `wicket:policy/evaluator@0.2.0`.
    pub fn evaluator_interface(self) -> String {
        format!("wicket:policy/evaluator@{}", self.version())
    }

    /// The interface a relay policy of this version exports in addition.
    pub fn relay_interface(self) -> String {
        format!("wicket:policy/relay@{}", self.version())
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.version())
    }
}

/// Which `wicket:policy` world a module implements, detected from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// `wicket:policy/policy`: decides access requests.
    Policy,
    /// `wicket:policy/relay-policy`: also decides each relayed API call.
    RelayPolicy,
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            World::Policy => "wicket:policy/policy",
            World::RelayPolicy => "wicket:policy/relay-policy",
        })
    }
}

/// Where a module's exported functions are, for its contract version.
#[derive(Clone)]
enum Exports {
    V0_1 {
        evaluator: v0_1::Evaluator,
        relay: Option<v0_1::Relay>,
    },
    V0_2 {
        evaluator: v0_2::Evaluator,
        relay: Option<v0_2::Relay>,
    },
}

impl Exports {
    /// Looks up the functions of `contract`'s evaluator (and relay, for a relay policy).
    fn new(contract: Contract, world: World, pre: &InstancePre<Sandbox>) -> wasmtime::Result<Self> {
        let relay = world == World::RelayPolicy;
        Ok(match contract {
            Contract::V0_1 => Exports::V0_1 {
                evaluator: v0_1::Evaluator::new(pre)?,
                relay: relay.then(|| v0_1::Relay::new(pre)).transpose()?,
            },
            Contract::V0_2 => Exports::V0_2 {
                evaluator: v0_2::Evaluator::new(pre)?,
                relay: relay.then(|| v0_2::Relay::new(pre)).transpose()?,
            },
        })
    }

    /// Type-checks every function against the contract in `instance`.
    fn check(&self, store: &mut Store<Sandbox>, instance: &Instance) -> wasmtime::Result<()> {
        match self {
            Exports::V0_1 { evaluator, relay } => {
                evaluator.load(&mut *store, instance)?;
                if let Some(relay) = relay {
                    relay.load(&mut *store, instance)?;
                }
            }
            Exports::V0_2 { evaluator, relay } => {
                evaluator.load(&mut *store, instance)?;
                if let Some(relay) = relay {
                    relay.load(&mut *store, instance)?;
                }
            }
        }
        Ok(())
    }
}

/// Per-module resource limits, enforced on every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// The most linear memory the module may use, in bytes (default 64 MiB). Growing past it
    /// traps the module.
    pub memory_bytes: usize,
    /// How long one call may run (default 100 ms).
    pub deadline: Duration,
    /// Bytes of stdout and of stderr captured per call (default 64 KiB); writing more traps.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            deadline: Duration::from_millis(100),
            output_bytes: 64 << 10,
        }
    }
}

/// A compiled, checked, pre-linked policy module. Cheap to share (`Arc`), `Send + Sync`.
pub struct PolicyModule {
    name: String,
    digest: String,
    size: usize,
    contract: Contract,
    world: World,
    imports: Vec<String>,
    exports: Vec<String>,
    pre: InstancePre<Sandbox>,
    functions: Exports,
    limits: Limits,
    deadline_ticks: u64,
    /// The epoch tick: the slack of the deadline (see [`PolicyModule::link`]).
    tick: Duration,
    from_cache: bool,
    /// The settings whose snapshot instances start from, if they do.
    prepared_for: Option<String>,
    origin: Arc<Origin>,
}

impl fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyModule")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .field("contract", &self.contract)
            .field("world", &self.world)
            .finish_non_exhaustive()
    }
}

/// Why a call into a module produced no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure(pub(crate) String);

impl PolicyModule {
    /// Checks the world of `origin`'s compiled `component` and pre-links it.
    pub(crate) fn link(
        name: &str,
        digest: String,
        origin: Arc<Origin>,
        component: &Component,
        limits: Limits,
    ) -> Result<Self> {
        if limits.memory_bytes == 0 || limits.deadline.is_zero() {
            return Err(Error::Limit(format!(
                "module `{name}` needs a memory limit and a deadline above zero"
            )));
        }
        let linker = origin.compiler.linker();
        let engine = linker.engine();
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
        let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();
        let Some(contract) = Contract::SUPPORTED
            .into_iter()
            .find(|c| exports.contains(&c.evaluator_interface()))
        else {
            return Err(Error::WrongWorld {
                name: name.to_owned(),
                exports: if exports.is_empty() {
                    "nothing".to_owned()
                } else {
                    exports
                        .iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        };
        let world = if exports.contains(&contract.relay_interface()) {
            World::RelayPolicy
        } else {
            World::Policy
        };
        let link_error = |source| Error::Link {
            name: name.to_owned(),
            source,
        };
        let pre = linker.instantiate_pre(component).map_err(link_error)?;
        let functions = Exports::new(contract, world, &pre).map_err(link_error)?;
        let tick = origin.compiler.epoch_tick();
        let deadline_ticks = ticks(limits.deadline, tick);
        // Loading the functions from an instance type-checks them against the contract: a
        // module whose functions have other types fails here, at load.
        let mut store = sandbox_store(engine, limits, deadline_ticks, tick);
        pre.instantiate(&mut store)
            .and_then(|instance| functions.check(&mut store, &instance))
            .map_err(|error| {
                link_error(error.context(
                    "the exported functions (`evaluate`, `validate-settings`, \
                     `authorize-call`) do not have the contract's types",
                ))
            })?;
        Ok(Self {
            name: name.to_owned(),
            digest,
            size: origin.bytes.len(),
            contract,
            world,
            imports,
            exports,
            pre,
            functions,
            limits,
            deadline_ticks,
            tick,
            from_cache: false,
            prepared_for: None,
            origin,
        })
    }

    /// This module, deciding from instances of `snapshot` (the component a
    /// [`super::prepare`] snapshot after accepting `settings` produced) instead: same name,
    /// digest, limits and world.
    pub(crate) fn with_snapshot(&self, snapshot: &Component, settings: &str) -> Result<Self> {
        let prepared = Self::link(
            &self.name,
            self.digest.clone(),
            Arc::clone(&self.origin),
            snapshot,
            self.limits,
        )?;
        Ok(Self {
            prepared_for: Some(settings.to_owned()),
            from_cache: self.from_cache,
            ..prepared
        })
    }

    /// The compiled component instances are made from.
    pub(crate) fn component(&self) -> &Component {
        self.pre.component()
    }

    /// Where the module came from: its bytes and the compiler.
    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    /// A fresh store for one call: the module's memory limit, output bound and deadline.
    pub(crate) fn sandbox_store(&self) -> Store<Sandbox> {
        sandbox_store(
            self.pre.engine(),
            self.limits,
            self.deadline_ticks,
            self.tick,
        )
    }

    /// Epoch ticks that give a guest at least `duration` (see [`ticks`]).
    pub(crate) fn ticks(&self, duration: Duration) -> u64 {
        ticks(duration, self.tick)
    }

    /// Marks the module as loaded from the compiled-module cache.
    pub(crate) fn with_from_cache(mut self, from_cache: bool) -> Self {
        self.from_cache = from_cache;
        self
    }

    /// The module's name (its file name when loaded from a file).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sha256 of the module's bytes, lowercase hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The size of the module's bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The version of the contract the module was built against.
    pub fn contract(&self) -> Contract {
        self.contract
    }

    /// The world the module implements.
    pub fn world(&self) -> World {
        self.world
    }

    /// The world's full name, e.g. `wicket:policy/relay-policy@0.2.0`.
    pub fn world_name(&self) -> String {
        format!("{}@{}", self.world, self.contract)
    }

    /// What the module imports (WIT interface names), all provided by the sandbox.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// What the module exports (WIT interface names).
    pub fn exports(&self) -> &[String] {
        &self.exports
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether this load took the compiled code from the engine's on-disk cache (`true`) rather
    /// than compiling the module's bytes (`false`, also when the engine has no cache). Large
    /// guests (Python, JavaScript: 2–20 MB) take seconds to compile and milliseconds to load
    /// from the cache, so a restart with a warm cache is fast.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The settings (JSON text) after whose acceptance the snapshot every call starts from was
    /// taken, if calls start from one (see [`super::Chain::prepare`]).
    pub fn prepared_for(&self) -> Option<&str> {
        self.prepared_for.as_deref()
    }

    /// Asks the module whether `settings` (JSON text) are valid: `Ok(Err(message))` is the
    /// module's own rejection, `Err` a failure (trap, deadline, memory) while checking.
    pub(crate) fn validate_settings(
        &self,
        settings: &str,
    ) -> (Result<Result<(), String>, Failure>, Output) {
        self.call(|store, instance| match &self.functions {
            Exports::V0_1 { evaluator, .. } => evaluator
                .load(&mut *store, instance)?
                .call_validate_settings(store, settings),
            Exports::V0_2 { evaluator, .. } => evaluator
                .load(&mut *store, instance)?
                .call_validate_settings(store, settings),
        })
    }

    /// Decides one request in a fresh instance. Never fails: a trap, a deadline or memory
    /// limit hit is a [`Failure`]; the decision itself is not validated here.
    pub(crate) fn decide(
        &self,
        settings: &str,
        input: &Input<'_>,
    ) -> (Result<Decision, Failure>, Output) {
        self.call(|store, instance| match &self.functions {
            Exports::V0_1 { evaluator, .. } => {
                let (identity, request) = input.v0_1();
                evaluator
                    .load(&mut *store, instance)?
                    .call_evaluate(store, settings, identity, request)
                    .map(v0_1::decision)
            }
            Exports::V0_2 { evaluator, .. } => {
                let (identity, request) = input.v0_2();
                evaluator
                    .load(&mut *store, instance)?
                    .call_evaluate(store, settings, identity, request)
                    .map(v0_2::decision)
            }
        })
    }

    /// Decides one API call that `requester` makes under the access granted for `request`,
    /// in a fresh instance under the module's limits, with `settings` (JSON text the module
    /// accepted). Fails closed: a module that is not a relay policy, a trap, an exceeded
    /// deadline or memory limit, or a malformed deny reason is a deny, and says so in
    /// [`CallOutcome::failure`].
    pub fn authorize_call(
        &self,
        settings: &str,
        requester: &Identity,
        request: &AccessRequest,
        call: &ApiCall,
    ) -> CallOutcome {
        let started = Instant::now();
        let (result, output) = match &self.functions {
            Exports::V0_1 {
                relay: Some(relay), ..
            } => self.call(|store, instance| {
                relay
                    .load(&mut *store, instance)?
                    .call_authorize_call(
                        store,
                        settings,
                        &v0_1::identity(requester),
                        &v0_1::request(request),
                        &v0_1::call(call),
                    )
                    .map(v0_1::call_decision)
            }),
            Exports::V0_2 {
                relay: Some(relay), ..
            } => self.call(|store, instance| {
                relay
                    .load(&mut *store, instance)?
                    .call_authorize_call(
                        store,
                        settings,
                        &v0_2::identity(requester),
                        &v0_2::request(request),
                        &v0_2::call(call),
                    )
                    .map(v0_2::call_decision)
            }),
            _ => (
                Err(Failure(format!(
                    "it implements `{}`, which does not decide API calls",
                    self.world_name()
                ))),
                Output::default(),
            ),
        };
        let result = result.and_then(|decision| match &decision {
            CallDecision::Deny { reason } => validate::check_reason("deny reason", reason)
                .map(|()| decision)
                .map_err(|malformed| Failure(format!("malformed decision: {malformed}"))),
            CallDecision::Allow => Ok(decision),
        });
        let (decision, failure) = match result {
            Ok(decision) => (decision, None),
            Err(Failure(error)) => (
                CallDecision::Deny {
                    reason: format!("module `{}` failed: {error}", self.name),
                },
                Some(error),
            ),
        };
        CallOutcome {
            decision,
            failure,
            output,
            duration: started.elapsed(),
        }
    }

    /// Runs `f` against a fresh instance in a fresh store under the module's limits. A call
    /// that returns after its deadline (having slept up to it) is a deadline failure too.
    fn call<R>(
        &self,
        f: impl FnOnce(&mut Store<Sandbox>, &Instance) -> wasmtime::Result<R>,
    ) -> (Result<R, Failure>, Output) {
        let mut store = self.sandbox_store();
        let started = Instant::now();
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&mut store, &instance))
            .and_then(|returned| {
                if store.data().past_deadline() {
                    Err(wasmtime::Error::new(Trap::Interrupt))
                } else {
                    Ok(returned)
                }
            });
        let result = result.map_err(|error| self.failure(&store, &error, started.elapsed()));
        let output = store.data().output();
        if !output.is_empty() {
            tracing::info!(
                module = %self.name,
                digest = %self.digest,
                stdout = %truncated(&output.stdout),
                stderr = %truncated(&output.stderr),
                "policy module wrote output"
            );
        }
        (result, output)
    }

    fn failure(
        &self,
        store: &Store<Sandbox>,
        error: &wasmtime::Error,
        elapsed: Duration,
    ) -> Failure {
        let message = if store.data().memory_exceeded() {
            format!(
                "memory limit of {} MiB exceeded",
                self.limits.memory_bytes.div_ceil(1 << 20)
            )
        } else {
            match error.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => format!(
                    "deadline of {} ms exceeded (stopped after {} ms)",
                    self.limits.deadline.as_millis(),
                    elapsed.as_millis()
                ),
                Some(trap) => format!("module trapped: {trap}"),
                None => format!("module failed: {error:#}"),
            }
        };
        let message = message.replace('\n', " ");
        tracing::warn!(module = %self.name, digest = %self.digest, %message, "policy module failed");
        Failure(message)
    }
}

/// Epoch ticks of `tick` that give a guest at least `duration`: the epoch may advance right
/// after a deadline is set, so one extra tick. Bounded far below overflow of the epoch counter.
fn ticks(duration: Duration, tick: Duration) -> u64 {
    let ticks = duration.as_nanos().div_ceil(tick.as_nanos().max(1)) + 1;
    u64::try_from(ticks).map_or(u64::MAX >> 2, |ticks| ticks.min(u64::MAX >> 2))
}

/// At most this much of a stream a guest wrote goes into one log line.
const LOGGED_OUTPUT_BYTES: usize = 4 << 10;

/// `text`, cut to [`LOGGED_OUTPUT_BYTES`] (at a character boundary) with a note of the rest.
fn truncated(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= LOGGED_OUTPUT_BYTES {
        return text.into();
    }
    let mut end = LOGGED_OUTPUT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} more bytes)", &text[..end], text.len() - end).into()
}

/// A fresh store for one call: `limits`' memory limit and output bound, a deadline of
/// `deadline_ticks` epoch ticks (and, for host calls, of `limits.deadline` plus one `tick`
/// of wall time from now).
fn sandbox_store(
    engine: &wasmtime::Engine,
    limits: Limits,
    deadline_ticks: u64,
    tick: Duration,
) -> Store<Sandbox> {
    let now = Instant::now();
    let deadline = now
        .checked_add(limits.deadline.saturating_add(tick))
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
    let mut store = Store::new(
        engine,
        Sandbox::new(limits.memory_bytes, limits.output_bytes, deadline),
    );
    store.limiter(|sandbox| sandbox);
    store.set_epoch_deadline(deadline_ticks);
    store
}

/// What a relay policy answered to one API call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallOutcome {
    /// The answer to act on: a failure is a deny naming the module.
    #[serde(flatten)]
    pub decision: CallDecision,
    /// Why the module produced no usable answer, when it did not (the decision is then a
    /// deny).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// What it printed.
    #[serde(skip_serializing_if = "Output::is_empty")]
    pub output: Output,
    /// Wall time of the call, instantiation included.
    #[serde(skip)]
    pub duration: Duration,
}

/// A request converted at most once per contract version to the form modules receive,
/// shared by every module of a chain.
pub(crate) struct Input<'a> {
    identity: &'a Identity,
    request: &'a AccessRequest,
    v0_1: OnceCell<(v0_1::wit::Identity, v0_1::wit::AccessRequest)>,
    v0_2: OnceCell<(v0_2::wit::Identity, v0_2::wit::AccessRequest)>,
}

impl<'a> Input<'a> {
    pub(crate) fn new(identity: &'a Identity, request: &'a AccessRequest) -> Self {
        Self {
            identity,
            request,
            v0_1: OnceCell::new(),
            v0_2: OnceCell::new(),
        }
    }

    fn v0_1(&self) -> &(v0_1::wit::Identity, v0_1::wit::AccessRequest) {
        self.v0_1
            .get_or_init(|| (v0_1::identity(self.identity), v0_1::request(self.request)))
    }

    fn v0_2(&self) -> &(v0_2::wit::Identity, v0_2::wit::AccessRequest) {
        self.v0_2
            .get_or_init(|| (v0_2::identity(self.identity), v0_2::request(self.request)))
    }
}
