//! [`Decider`] with the WebAssembly policy chains of the configured clusters, live: the set
//! of chains is one immutable snapshot behind an [`ArcSwap`]. Every decision loads the
//! snapshot once and uses it to the end; a reload builds the next snapshot on a blocking
//! thread and swaps it in whole (see [`crate::policy::set`] for what a rejection keeps).
//! Decisions run on the [evaluation pool](crate::policy::pool), never on an async worker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde_json::{Value, json};

use crate::config::{ClusterConfig, Config};
use crate::domain::{AccessRequest, Identity, ModuleVerdict};
use crate::policy::set::{
    CandidateSpec, ChainSpecs, ChangedChain, ChangedEntry, EntrySpec, LiveChain, Promotion,
    RebuildOptions, Shadowed, rebuild,
};
use crate::policy::{
    EvaluationPool, Limits, ModuleOutcome, ModuleResult, PolicyEngine, PolicySet, Rejection, pool,
};

use crate::workflow::{
    BoxFuture, ChainVerdict, Decider, PolicyLifecycle, ReloadReport, ShadowDifference,
};

/// The chains could not be loaded at start.
#[derive(Debug, thiserror::Error)]
#[error("cannot load the policy chains: {}", describe_rejections(.0))]
pub struct LoadError(pub Vec<Rejection>);

fn describe_rejections(rejections: &[Rejection]) -> String {
    rejections
        .iter()
        .map(|r| match (&r.cluster, &r.entry) {
            (Some(cluster), Some(entry)) => {
                format!("cluster `{cluster}`, policy `{entry}`: {}", r.reason)
            }
            (Some(cluster), None) => format!("cluster `{cluster}`: {}", r.reason),
            _ => r.reason.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where the chains' specifications come from on every reload.
#[derive(Debug, Clone)]
enum Source {
    /// Fixed configurations: a reload re-reads the module files only.
    Fixed(Vec<ClusterConfig>),
    /// The configuration file: a reload re-reads it (its chains and settings) and the modules.
    File(PathBuf),
}

impl Source {
    fn read(&self) -> Result<Vec<ClusterConfig>, String> {
        match self {
            Self::Fixed(clusters) => Ok(clusters.clone()),
            Self::File(path) => Config::load(path)
                .map(|config| config.clusters)
                .map_err(|error| error.to_string().replace('\n', " ")),
        }
    }
}

/// The chain specifications of `clusters`.
fn specs(clusters: &[ClusterConfig]) -> ChainSpecs {
    clusters
        .iter()
        .map(|cluster| {
            let entries = cluster
                .policies
                .iter()
                .map(|policy| EntrySpec {
                    name: policy.name.clone(),
                    module: policy.module.clone(),
                    settings: Value::Object(policy.settings.clone()),
                    limits: Limits {
                        memory_bytes: usize::try_from(policy.memory_limit_mib)
                            .unwrap_or(usize::MAX)
                            .saturating_mul(1 << 20),
                        deadline: Duration::from_millis(policy.deadline_ms),
                        ..Limits::default()
                    },
                    on_deny: policy.on_deny,
                    on_allow: policy.on_allow,
                    snapshot: policy.snapshot,
                    candidate: policy.candidate.as_ref().map(|module| CandidateSpec {
                        module: module.clone(),
                        settings: Value::Object(
                            policy
                                .candidate_settings
                                .clone()
                                .unwrap_or_else(|| policy.settings.clone()),
                        ),
                    }),
                })
                .collect();
            (cluster.name.clone(), entries)
        })
        .collect()
}

/// Applies `promotions` to `specs` (the candidate serves as the entry's module, with its
/// settings); returns the promotions that still apply.
fn promote(specs: &mut ChainSpecs, promotions: &[Promotion]) -> Vec<Promotion> {
    promotions
        .iter()
        .filter(|promotion| {
            let entry = specs.get_mut(&promotion.cluster).and_then(|entries| {
                entries.iter_mut().find(|e| {
                    e.name == promotion.entry
                        && e.candidate.as_ref().map(|c| &c.module) == Some(&promotion.candidate)
                })
            });
            let Some(entry) = entry else {
                tracing::info!(cluster = %promotion.cluster, entry = %promotion.entry,
                    "a promotion no longer applies: the configuration changed that entry");
                return false;
            };
            if let Some(candidate) = entry.candidate.take() {
                entry.module = candidate.module;
                entry.settings = candidate.settings;
            }
            true
        })
        .cloned()
        .collect()
}

/// Counts of one candidate's shadow evaluations.
#[derive(Debug, Clone, Copy, Default)]
struct ShadowCount {
    evaluated: u64,
    differences: u64,
}

#[derive(Debug, Default)]
struct Status {
    rejections: Vec<Rejection>,
    promotions: Vec<Promotion>,
    watched: Vec<PathBuf>,
    last_reload: Option<ReloadReport>,
    /// By (cluster, entry, candidate digest).
    shadow: HashMap<(String, String, String), ShadowCount>,
}

/// The live policy chains, one per cluster.
pub struct PolicyChains {
    engine: Arc<PolicyEngine>,
    pool: EvaluationPool,
    source: Source,
    settle: Duration,
    current: ArcSwap<PolicySet>,
    reloading: tokio::sync::Mutex<()>,
    status: Mutex<Status>,
}

impl std::fmt::Debug for PolicyChains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyChains")
            .field("source", &self.source)
            .field("generation", &self.current.load().generation())
            .finish_non_exhaustive()
    }
}

impl PolicyChains {
    /// Loads every cluster's chain (each module file once) and checks the settings; fails
    /// if anything is refused. A reload re-reads the module files with these configurations.
    pub fn load(engine: Arc<PolicyEngine>, clusters: &[ClusterConfig]) -> Result<Self, LoadError> {
        Self::start(engine, Source::Fixed(clusters.to_vec()), clusters)
    }

    /// Like [`PolicyChains::load`] for `config`, read from `path`: a reload re-reads that
    /// file's chains and settings, then the modules.
    pub fn from_config_file(
        engine: Arc<PolicyEngine>,
        path: &Path,
        config: &Config,
    ) -> Result<Self, LoadError> {
        let chains = Self::start(engine, Source::File(path.to_owned()), &config.clusters)?;
        Ok(chains.with_settle(config.reload.settle))
    }

    /// Sets how long a watched module file that does not load is taken to be still being
    /// written (default 2 s).
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Decides on a pool of `threads` threads with at most `waiting` decisions queued, instead
    /// of one thread per core and [`EvaluationPool::DEFAULT_WAITING`].
    pub fn with_evaluation_pool(mut self, threads: usize, waiting: usize) -> std::io::Result<Self> {
        self.pool = EvaluationPool::new(threads, waiting)?;
        Ok(self)
    }

    fn start(
        engine: Arc<PolicyEngine>,
        source: Source,
        clusters: &[ClusterConfig],
    ) -> Result<Self, LoadError> {
        let specs = specs(clusters);
        // On a thread of its own: validating settings runs the modules, whose WASI calls
        // block their thread, which must not be an async worker (start-up may run on one).
        let rebuilt = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let options = RebuildOptions {
                        initial: true,
                        settle: None,
                    };
                    rebuild(&engine, &PolicySet::default(), &specs, options)
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        let set = match rebuilt.set {
            Some(set) if rebuilt.rejected.is_empty() => set,
            _ => return Err(LoadError(rebuilt.rejected)),
        };
        let pool = EvaluationPool::new(
            EvaluationPool::default_threads(),
            EvaluationPool::DEFAULT_WAITING,
        )
        .map_err(|error| {
            LoadError(vec![Rejection::whole(format!(
                "cannot start the policy evaluation threads: {error}"
            ))])
        })?;
        let chains = Self {
            engine,
            pool,
            settle: Duration::from_secs(2),
            current: ArcSwap::from_pointee(set),
            reloading: tokio::sync::Mutex::new(()),
            status: Mutex::new(Status {
                watched: watched(&source, &specs),
                ..Status::default()
            }),
            source,
        };
        Ok(chains)
    }

    /// The set serving now.
    pub fn current(&self) -> Arc<PolicySet> {
        self.current.load_full()
    }

    fn status<R>(&self, f: impl FnOnce(&mut Status) -> R) -> R {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner))
    }

    async fn run_reload(&self, trigger: &str) -> ReloadReport {
        let _one_at_a_time = self.reloading.lock().await;
        let started = Instant::now();
        let previous = self.current.load_full();
        let engine = Arc::clone(&self.engine);
        let source = self.source.clone();
        let promotions = self.status(|s| s.promotions.clone());
        let settle = (trigger == "watch").then_some(self.settle);
        let built = tokio::task::spawn_blocking(move || {
            let clusters = source.read()?;
            let mut specs = specs(&clusters);
            let promotions = promote(&mut specs, &promotions);
            let watched = watched(&source, &specs);
            let rebuilt = rebuild(
                &engine,
                &previous,
                &specs,
                RebuildOptions {
                    initial: false,
                    settle,
                },
            );
            Ok::<_, String>((rebuilt, promotions, watched))
        })
        .await
        .unwrap_or_else(|error| Err(format!("the reload failed: {error}")));
        let mut report = ReloadReport::nothing(trigger, 0);
        match built {
            Err(reason) => report.rejected.push(Rejection::whole(reason)),
            Ok((rebuilt, promotions, watched)) => {
                if let Some(set) = rebuilt.set {
                    report.changed = rebuilt
                        .changed
                        .iter()
                        .filter_map(|cluster| Some(changed(cluster, set.chain(cluster)?)))
                        .collect();
                    self.current.store(Arc::new(set));
                    report.swapped = true;
                }
                report.rejected = rebuilt.rejected;
                report.deferred = rebuilt.deferred;
                self.status(|s| {
                    s.promotions = promotions;
                    s.watched = watched;
                });
            }
        }
        report.generation = self.current.load().generation();
        report.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        self.status(|s| {
            s.rejections.clone_from(&report.rejected);
            s.last_reload = Some(report.clone());
        });
        tracing::info!(
            trigger,
            generation = report.generation,
            swapped = report.swapped,
            rejected = report.rejected.len(),
            deferred = report.deferred.len(),
            "policies reloaded"
        );
        report
    }

    fn shadow(&self, cluster: &str, shadowed: Vec<Shadowed>) -> Vec<ShadowDifference> {
        if shadowed.is_empty() {
            return Vec::new();
        }
        self.status(|s| {
            shadowed
                .into_iter()
                .filter_map(|Shadowed { active, candidate }| {
                    let differs = !active.result.decides_like(&candidate.result);
                    let key = (
                        cluster.to_owned(),
                        candidate.name.clone(),
                        candidate.digest.clone(),
                    );
                    let count = s.shadow.entry(key).or_default();
                    count.evaluated += 1;
                    count.differences += u64::from(differs);
                    differs.then(|| ShadowDifference {
                        active: module_verdict(active),
                        candidate: module_verdict(candidate),
                    })
                })
                .collect()
        })
    }
}

/// The configuration file (if any) and every module and candidate file.
fn watched(source: &Source, specs: &ChainSpecs) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = match source {
        Source::File(path) => vec![path.clone()],
        Source::Fixed(_) => Vec::new(),
    };
    for entry in specs.values().flatten() {
        for file in
            std::iter::once(&entry.module).chain(entry.candidate.as_ref().map(|c| &c.module))
        {
            if !paths.contains(file) {
                paths.push(file.clone());
            }
        }
    }
    paths
}

fn changed(cluster: &str, chain: &LiveChain) -> ChangedChain {
    ChangedChain {
        cluster: cluster.to_owned(),
        entries: chain
            .active()
            .entries()
            .iter()
            .enumerate()
            .map(|(index, entry)| ChangedEntry {
                name: entry.name().to_owned(),
                digest: entry.module().digest().to_owned(),
                candidate: chain
                    .candidates()
                    .iter()
                    .find(|c| c.index == index)
                    .and_then(|c| c.chain.entries().first())
                    .map(|e| e.module().digest().to_owned()),
            })
            .collect(),
    }
}

/// A module's outcome in the store's terms (what it printed was logged, bounded, when it ran).
fn module_verdict(outcome: ModuleOutcome) -> ModuleVerdict {
    let (decision, error, skipped_after) = match outcome.result {
        ModuleResult::Decided { decision } => (Some(decision), None, None),
        ModuleResult::Failed { error, .. } => (None, Some(error), None),
        ModuleResult::Skipped { after, .. } => (None, None, Some(after)),
    };
    ModuleVerdict {
        module: outcome.name,
        digest: outcome.digest,
        decision,
        duration_us: u64::try_from(outcome.duration.as_micros()).unwrap_or(u64::MAX),
        error,
        skipped_after,
    }
}

impl Decider for PolicyChains {
    fn decide<'a>(
        &'a self,
        identity: &'a Identity,
        request: &'a AccessRequest,
    ) -> BoxFuture<'a, Result<Option<ChainVerdict>, pool::Error>> {
        // The snapshot is held until the decision ends: a swap meanwhile does not touch it.
        let set = self.current.load_full();
        let Some(chain) = set.chain(&request.cluster).map(Arc::clone) else {
            return Box::pin(std::future::ready(Ok(None)));
        };
        let (identity, request) = (identity.clone(), request.clone());
        let evaluated = self
            .pool
            .run(move || (chain.evaluate(&identity, &request), request.cluster));
        Box::pin(async move {
            let ((evaluation, shadowed), cluster) = evaluated.await?;
            let differences = self.shadow(&cluster, shadowed);
            Ok(Some(ChainVerdict {
                decision: evaluation.verdict,
                modules: evaluation.modules.into_iter().map(module_verdict).collect(),
                duration: evaluation.duration,
                differences,
            }))
        })
    }

    fn describe(&self) -> Value {
        let set = self.current.load_full();
        let status = self.status(|s| {
            (
                s.rejections.clone(),
                s.promotions.clone(),
                s.last_reload.clone(),
                s.shadow.clone(),
            )
        });
        let (rejections, promotions, last_reload, shadow) = status;
        let clusters: serde_json::Map<String, Value> = set
            .chains()
            .iter()
            .map(|(cluster, chain)| {
                let modules: Vec<Value> = chain
                    .active()
                    .entries()
                    .iter()
                    .zip(chain.paths())
                    .enumerate()
                    .map(|(index, (entry, path))| {
                        let module = entry.module();
                        let mut view = json!({
                            "name": entry.name(),
                            "module": module.name(),
                            "path": path,
                            "digest": module.digest(),
                            "world": module.world_name(),
                            "contract": module.contract(),
                            "size": module.size(),
                            "on_deny": entry.on_deny(),
                            "on_allow": entry.on_allow(),
                            "promoted": promotions.iter().any(|p| &p.cluster == cluster
                                && p.entry == entry.name() && &p.candidate == path),
                        });
                        let candidate = chain.candidates().iter().find(|c| c.index == index);
                        if let Some(candidate) = candidate
                            && let Some(candidate_entry) = candidate.chain.entries().first()
                        {
                            let digest = candidate_entry.module().digest();
                            let key = (cluster.clone(), entry.name().to_owned(), digest.to_owned());
                            let count = shadow.get(&key).copied().unwrap_or_default();
                            view["candidate"] = json!({
                                "path": candidate.path,
                                "digest": digest,
                                "evaluated": count.evaluated,
                                "differences": count.differences,
                            });
                        }
                        view
                    })
                    .collect();
                (
                    cluster.clone(),
                    json!({ "chain": modules, "loaded_at": chain.loaded_at() }),
                )
            })
            .collect();
        json!({
            "generation": set.generation(),
            "clusters": clusters,
            "rejections": rejections,
            "last_reload": last_reload,
        })
    }

    fn lifecycle(&self) -> Option<&dyn PolicyLifecycle> {
        Some(self)
    }
}

impl PolicyLifecycle for PolicyChains {
    fn reload<'a>(&'a self, trigger: &'a str) -> BoxFuture<'a, ReloadReport> {
        Box::pin(self.run_reload(trigger))
    }

    fn promote<'a>(
        &'a self,
        entry: &'a str,
        cluster: Option<&'a str>,
    ) -> BoxFuture<'a, (Vec<Promotion>, ReloadReport)> {
        Box::pin(async move {
            let set = self.current.load_full();
            let promoted: Vec<Promotion> = set
                .chains()
                .iter()
                .filter(|(name, _)| cluster.is_none_or(|c| c == name.as_str()))
                .filter_map(|(name, chain)| {
                    let candidate = chain
                        .candidates()
                        .iter()
                        .find(|c| chain.active().entries()[c.index].name() == entry)?;
                    Some(Promotion {
                        cluster: name.clone(),
                        entry: entry.to_owned(),
                        candidate: candidate.path.clone(),
                    })
                })
                .collect();
            if promoted.is_empty() {
                return (promoted, ReloadReport::nothing("promote", set.generation()));
            }
            self.status(|s| {
                s.promotions.retain(|p| {
                    !promoted
                        .iter()
                        .any(|n| n.cluster == p.cluster && n.entry == p.entry)
                });
                s.promotions.extend(promoted.iter().cloned());
            });
            let report = self.run_reload("promote").await;
            (promoted, report)
        })
    }

    fn restore<'a>(
        &'a self,
        promotions: Vec<Promotion>,
        trigger: &'a str,
    ) -> BoxFuture<'a, ReloadReport> {
        Box::pin(async move {
            self.status(|s| s.promotions = promotions);
            self.run_reload(trigger).await
        })
    }

    fn watched(&self) -> Vec<PathBuf> {
        self.status(|s| s.watched.clone())
    }
}
