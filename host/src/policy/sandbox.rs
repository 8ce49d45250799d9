//! The per-decision sandbox state a wasm `Store` holds: memory limits and a WASI context that
//! gives the guest nothing but two bounded in-memory output pipes, a frozen clock and a fixed
//! stream of "random" bytes.
//!
//! The WIT contract promises policies no clock: "now" is the request's `requested-at`, so a
//! decision is a pure function of its inputs and `wicket policy replay` reproduces it. Guests
//! written in languages whose runtime reads the clock or the random generator (Python, JavaScript,
//! C's libc) therefore see the Unix epoch on both clocks and the same bytes on every run.
//!
//! No WASI call outlives the call's deadline: output goes to in-memory pipes (never blocks), no
//! file, socket or environment is there to wait on, and a sleep (a pollable of the monotonic
//! clock, see [`bounded_sleep`]) ends at the deadline at the latest, after which the guest's
//! next instruction is interrupted (and a call that returns after its deadline counts as
//! exceeding it, see [`Sandbox::past_deadline`]).
//!
//! The WASI context is built lazily, on the guest's first WASI call: most Rust policies never
//! make one during a decision, and building the context (random generators, clocks, pipes)
//! costs more than instantiating the guest.

use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use wasmtime::ResourceLimiter;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable};

use wasmtime_wasi::{
    Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView,
};

/// What a guest wrote to stdout and stderr during one call (lossy UTF-8, bounded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Output {
    /// Captured stdout.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// Captured stderr.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

impl Output {
    /// Whether the guest wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.stdout.is_empty() && self.stderr.is_empty()
    }
}

/// The data of one `Store`: one decision (or one settings check) of one module.
pub(crate) struct Sandbox {
    /// The most linear memory the guest may have, in bytes.
    memory_limit: usize,
    /// Set when the guest tried to grow its memory past `memory_limit`.
    memory_exceeded: bool,
    /// Capacity of each output pipe, in bytes.
    output_capacity: usize,
    /// When the call must have ended (its deadline, plus the epoch tick of slack the epoch
    /// deadline has too).
    deadline: Instant,
    /// Built on the first WASI call.
    wasi: Option<Box<WasiState>>,
}

struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Sandbox {
    /// A sandbox with this memory limit and output pipe capacity, for a call that must end by
    /// `deadline`.
    pub(crate) fn new(memory_limit: usize, output_capacity: usize, deadline: Instant) -> Self {
        Self {
            memory_limit,
            memory_exceeded: false,
            output_capacity,
            deadline,
            wasi: None,
        }
    }

    /// Whether the call's deadline has passed: a call that returns after it (having slept up
    /// to it in a host call, where epoch interruption cannot reach) is a failure all the same.
    pub(crate) fn past_deadline(&self) -> bool {
        Instant::now() > self.deadline
    }

    /// Whether the guest hit its memory limit (which traps it).
    pub(crate) fn memory_exceeded(&self) -> bool {
        self.memory_exceeded
    }

    /// What the guest wrote so far (empty if it never touched WASI).
    pub(crate) fn output(&self) -> Output {
        self.wasi
            .as_ref()
            .map(|wasi| Output {
                stdout: String::from_utf8_lossy(&wasi.stdout.contents()).into_owned(),
                stderr: String::from_utf8_lossy(&wasi.stderr.contents()).into_owned(),
            })
            .unwrap_or_default()
    }
}

impl WasiState {
    fn new(output_capacity: usize) -> Self {
        let stdout = MemoryOutputPipe::new(output_capacity);
        let stderr = MemoryOutputPipe::new(output_capacity);
        // No preopened directories, no environment, no arguments, no stdin, no sockets:
        // the builder's defaults plus explicit network denial; no clock, no entropy.
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(Deterministic::new(FIXED_RANDOM.to_vec()))
            .insecure_random(Deterministic::new(FIXED_RANDOM.to_vec()))
            .insecure_random_seed(u128::from_le_bytes(
                FIXED_RANDOM[..16].try_into().expect("16 bytes"),
            ))
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(TABLE_CAPACITY);
        Self {
            ctx,
            table,
            stdout,
            stderr,
        }
    }
}

/// Most WASI resources (streams, pollables, ...) a guest may hold at once; beyond, creating
/// one fails. A policy needs a handful; the bound keeps a guest from growing host memory.
const TABLE_CAPACITY: usize = 4096;

/// The bytes a guest's random generators return, repeated: fixed so that decisions replay.
/// (A policy has no secret to protect with entropy; a hash seed or an id it draws is the same
/// on every run.)
const FIXED_RANDOM: [u8; 32] = *b"wicket-policies-are-deterministc";

/// Both WASI clocks of a policy: stopped at the Unix epoch.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let capacity = self.output_capacity;
        let wasi = self
            .wasi
            .get_or_insert_with(|| Box::new(WasiState::new(capacity)));
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }
}

/// `wasi:clocks/monotonic-clock`'s `subscribe-duration` for a policy: a pollable ready after
/// `nanos` nanoseconds or at the call's deadline, whichever comes first. (WASI's own sleeps for
/// as long as asked, in a host call the epoch deadline cannot interrupt.)
pub(crate) fn bounded_sleep(
    sandbox: &mut Sandbox,
    nanos: u64,
) -> wasmtime::Result<Resource<DynPollable>> {
    let until = Instant::now()
        .checked_add(Duration::from_nanos(nanos))
        .map_or(sandbox.deadline, |until| until.min(sandbox.deadline));
    let table = sandbox.ctx().table;
    let sleep = table.push(Sleep(until))?;
    wasmtime_wasi::p2::subscribe(table, sleep)
}

/// A sleep until an instant (never past the call's deadline, see [`bounded_sleep`]).
struct Sleep(Instant);

impl Pollable for Sleep {
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        let until = tokio::time::Instant::from_std(self.0);
        Box::pin(tokio::time::sleep_until(until))
    }
}

/// Most elements a guest table may grow to; beyond, `table.grow` fails (returns -1).
const TABLE_ELEMENTS_LIMIT: usize = 1 << 20;

impl ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            // Trapping instead of failing the grow: a guest must not be able to carry on
            // (and decide) after running out of its budget.
            self.memory_exceeded = true;
            wasmtime::bail!(
                "memory limit of {} bytes exceeded (the guest asked for {desired})",
                self.memory_limit
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS_LIMIT)
    }
}
