//! The one wasmtime engine every policy module runs on: pooling allocator with copy-on-write
//! memory images, epoch interruption driven by a ticker thread, WASI p2 linked once (its sleeps
//! bounded by the call's deadline), and an on-disk cache of compiled modules.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::StoreContextMut;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::error::{Error, Result};
use super::module::{Limits, PolicyModule};
use super::sandbox::{Sandbox, bounded_sleep};
use crate::private_fs;

/// How the engine is set up. [`EngineConfig::default`] suits a server.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where compiled modules are cached (`<sha256>-<engine>.cwasm`); `None` compiles every time.
    /// It holds native code that is loaded, so a directory another user owns or that its
    /// group or others may write is not used (modules are compiled, with a warning), and a
    /// symbolic link at a cached file's path is neither read nor written through.
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances; deadlines are enforced with this granularity.
    pub epoch_tick: Duration,
    /// How many module instances may exist at once (concurrent decisions), per pool slot kind.
    pub max_instances: u32,
    /// Bytes of each linear memory kept resident (reset in place rather than unmapped) when an
    /// instance is freed; makes the next instantiation cheaper.
    pub memory_keep_resident: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            epoch_tick: Duration::from_millis(5),
            max_instances: 256,
            memory_keep_resident: 1 << 20,
        }
    }
}

/// The policy engine: compiles and loads modules that then decide requests.
///
/// Create one per process and share it; every [`PolicyModule`] keeps what it needs of it.
pub struct PolicyEngine {
    compiler: Arc<Compiler>,
}

/// What compiling and linking a module takes. The engine and every module loaded from it share
/// it: a module compiles its pre-initialised forms (see [`super::prepare`]) later, when a chain
/// gives it settings.
pub(crate) struct Compiler {
    engine: Engine,
    linker: Linker<Sandbox>,
    cache_dir: Option<PathBuf>,
    epoch_tick: Duration,
}

/// A loaded module's source: its bytes, and the compiler that compiled them.
pub(crate) struct Origin {
    pub(crate) bytes: Box<[u8]>,
    pub(crate) compiler: Arc<Compiler>,
}

impl PolicyEngine {
    /// Builds the engine and starts its epoch ticker (which stops once the engine and every
    /// module loaded from it are dropped).
    pub fn new(config: &EngineConfig) -> Result<Self> {
        if config.epoch_tick.is_zero() {
            return Err(Error::Limit(
                "the epoch tick must be longer than zero".into(),
            ));
        }
        let mut pooling = PoolingAllocationConfig::new();
        pooling
            .total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances.saturating_mul(4))
            .total_memories(config.max_instances.saturating_mul(2))
            .total_tables(config.max_instances.saturating_mul(4))
            .total_stacks(config.max_instances)
            .max_memories_per_component(16)
            .max_tables_per_component(32)
            .max_core_instances_per_component(64)
            .linear_memory_keep_resident(config.memory_keep_resident)
            // Reset only the pages a decision dirtied (Linux >= 6.7; elsewhere wasmtime
            // falls back to resetting the first `memory_keep_resident` bytes).
            .pagemap_scan(Enabled::Auto)
            .table_keep_resident(64 << 10);
        let mut wasm = Config::new();
        wasm.epoch_interruption(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&wasm).map_err(Error::Engine)?;
        let mut linker = Linker::new(&engine);
        link_wasi(&mut linker).map_err(Error::Engine)?;
        spawn_ticker(&engine, config.epoch_tick).map_err(Error::Ticker)?;
        Ok(Self {
            compiler: Arc::new(Compiler {
                engine,
                linker,
                cache_dir: config.cache_dir.clone(),
                epoch_tick: config.epoch_tick,
            }),
        })
    }

    /// Loads a module from a file; its name is the file name.
    pub fn load_file(&self, path: &Path, limits: Limits) -> Result<PolicyModule> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        self.load(&name, &bytes, limits)
    }

    /// Compiles (or loads from the cache), checks the world and pre-links a module.
    pub fn load(&self, name: &str, bytes: &[u8], limits: Limits) -> Result<PolicyModule> {
        let digest = hex::encode(Sha256::digest(bytes));
        let (component, from_cache) = self.compiler.component(name, &digest, bytes)?;
        let origin = Arc::new(Origin {
            bytes: bytes.into(),
            compiler: Arc::clone(&self.compiler),
        });
        PolicyModule::link(name, digest, origin, &component, limits)
            .map(|module| module.with_from_cache(from_cache))
    }
}

impl Compiler {
    /// The linker every module is pre-linked with (WASI p2 behind the sandbox).
    pub(crate) fn linker(&self) -> &Linker<Sandbox> {
        &self.linker
    }

    /// How often the epoch advances.
    pub(crate) fn epoch_tick(&self) -> Duration {
        self.epoch_tick
    }

    /// The compiled component of `bytes` (whose sha256 is `digest`) with its copy-on-write
    /// memory images built, and whether it came from the cache.
    pub(crate) fn component(
        &self,
        name: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(Component, bool)> {
        let (component, from_cache) = self.compile(name, digest, bytes)?;
        // Build the copy-on-write memory images now rather than lazily in the first call, where
        // that work (a Python guest starts with ~20 MB of memory) would count against its deadline.
        component
            .initialize_copy_on_write_image()
            .map_err(|source| Error::Link {
                name: name.to_owned(),
                source,
            })?;
        Ok((component, from_cache))
    }

    /// The compiled module, and whether it came from the cache. A cache directory someone
    /// else owns or may write is not used (a warning; the module is compiled).
    fn compile(&self, name: &str, digest: &str, bytes: &[u8]) -> Result<(Component, bool)> {
        let compile = || {
            Component::new(&self.engine, bytes).map_err(|source| Error::NotComponent {
                name: name.to_owned(),
                source,
            })
        };
        let Some(dir) = &self.cache_dir else {
            return compile().map(|component| (component, false));
        };
        if let Err(error) = private_fs::ensure_dir(dir) {
            tracing::warn!(%error, "not using the compiled-module cache");
            return compile().map(|component| (component, false));
        }
        let path = dir.join(format!("{digest}-{}.cwasm", self.compatibility_key()));
        match private_fs::read_owned(&path) {
            Ok(cached) => match self.deserialize_cached(&cached) {
                Ok(component) => return Ok((component, true)),
                Err(error) => tracing::warn!(
                    path = %path.display(),
                    error = %format!("{error:#}"),
                    "ignoring unusable cached module"
                ),
            },
            Err(error) if error.is_not_found() => {}
            Err(error) => tracing::warn!(%error, "ignoring unusable cached module"),
        }
        let component = compile()?;
        if let Err(error) = write_cache(&path, &component) {
            tracing::warn!(path = %path.display(), %error, "cannot cache compiled module");
        }
        Ok((component, false))
    }

    // Loading native code is unsafe in wasmtime because tampered bytes could run arbitrary
    // code. These were read from Wicket's own cache directory (owned by this user, writable by
    // nobody else, checked just before), from a regular file of this user that nobody else may
    // write, opened without following a symbolic link; they were written by
    // `Component::serialize` of an engine with the same configuration (the compatibility key is
    // in the file's name, and wasmtime re-checks the header), under the sha256 of the module
    // they were compiled from, so they are exactly what compiling that module would produce.
    #[allow(unsafe_code)]
    fn deserialize_cached(&self, cached: &[u8]) -> wasmtime::Result<Component> {
        // SAFETY: see the comment above; the cache directory is trusted like the binary itself.
        unsafe { Component::deserialize(&self.engine, cached) }
    }

    /// A short hex key of everything that makes compiled code incompatible (wasmtime version,
    /// compiler settings, target).
    fn compatibility_key(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// Writes the compiled module to a new file with an unpredictable name beside its final name
/// (`O_EXCL | O_NOFOLLOW`, mode 0600), then renames it into place, so readers never see a
/// half-written file and a symbolic link planted at either name is never written through.
fn write_cache(path: &Path, component: &Component) -> std::result::Result<(), String> {
    let bytes = component
        .serialize()
        .map_err(|error| format!("{error:#}"))?;
    private_fs::replace(path, &bytes).map_err(|error| error.to_string())
}

/// The monotonic clock interface `add_to_linker_sync` links (a guest importing any `0.2.x`
/// version gets it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Links WASI p2 (its synchronous bindings: a call blocks its thread, which is never an async
/// worker), with the monotonic clock's two sleeps replaced by ones that end at the call's
/// deadline (see [`bounded_sleep`]).
fn link_wasi(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, Sandbox>, (nanos,): (u64,)| {
            bounded_sleep(store.data_mut(), nanos).map(|pollable| (pollable,))
        },
    )?;
    // The guest's monotonic clock reads zero (see `sandbox`), so an instant is a duration.
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, Sandbox>, (when,): (u64,)| {
            bounded_sleep(store.data_mut(), when).map(|pollable| (pollable,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Advances the engine's epoch every `tick` until the engine is dropped.
fn spawn_ticker(engine: &Engine, tick: Duration) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wicket-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .map(drop)
}
