//! The policy set: every cluster's chain as one immutable snapshot, and how a new snapshot is
//! built from the chains' specifications while the old one keeps serving.
//!
//! A snapshot is never changed: a reload builds a new one (reusing every module whose file is
//! unchanged) and the caller swaps it in whole. A decision holds the snapshot it started with
//! until it ends, so in-flight decisions finish on their version.
//!
//! # Granularity of a rejection
//! A chain is the unit: if any module of a cluster's new chain (or of its candidates) cannot
//! be read, compiled, linked, does not implement the policy world, rejects its settings or
//! fails a case of the cases file beside it (see [`cases::beside`]), that cluster keeps its
//! whole previous chain. The other clusters take their new chains. A chain is combined as a
//! whole (deny overrides, grants intersect), so mixing new modules with old ones would
//! produce a combination nobody wrote or tested.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::cases;
use super::error::{Error, Result};
use super::module::{Limits, PolicyModule};
use super::outcome::{Evaluation, ModuleOutcome, ModuleResult};
use super::{Chain, ChainEntry, OnAllow, OnDeny, PolicyEngine};
use crate::domain::{AccessRequest, Identity};

/// What one chain entry should run.
#[derive(Debug, Clone, PartialEq)]
pub struct EntrySpec {
    /// The entry's name.
    pub name: String,
    /// The module file.
    pub module: PathBuf,
    /// Its settings.
    pub settings: Value,
    /// Its limits.
    pub limits: Limits,
    /// Whether the chain goes on after it denies.
    pub on_deny: OnDeny,
    /// Whether its allow is enough for the chain (when nothing before it denied or asked
    /// for approval).
    pub on_allow: OnAllow,
    /// Whether its decisions (and its candidate's) start from a snapshot taken after the
    /// module accepted its settings (see [`Chain::prepare`]).
    pub snapshot: bool,
    /// A candidate evaluated beside it, whose verdict never counts.
    pub candidate: Option<CandidateSpec>,
}

/// A candidate module of a chain entry (shadow evaluation).
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateSpec {
    /// The candidate module file.
    pub module: PathBuf,
    /// Its settings.
    pub settings: Value,
}

/// Every cluster's chain, as specified (by cluster name).
pub type ChainSpecs = BTreeMap<String, Vec<EntrySpec>>;

/// A module file as loaded: where it came from and the module.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file.
    pub path: PathBuf,
    /// The module.
    pub module: Arc<PolicyModule>,
}

/// A candidate beside an active entry: a one-entry chain named like the entry.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The position of the active entry in the chain.
    pub index: usize,
    /// The candidate file.
    pub path: PathBuf,
    /// The candidate with its settings.
    pub chain: Chain,
}

/// One cluster's chain as it serves: the active chain and its candidates.
#[derive(Debug)]
pub struct LiveChain {
    spec: Vec<EntrySpec>,
    paths: Vec<PathBuf>,
    active: Chain,
    candidates: Vec<Candidate>,
    loaded_at: Timestamp,
}

/// One candidate's verdict beside the active module's, for one request.
#[derive(Debug, Clone)]
pub struct Shadowed {
    /// What the active module said (as in the evaluation).
    pub active: ModuleOutcome,
    /// What the candidate said.
    pub candidate: ModuleOutcome,
}

impl LiveChain {
    /// The active chain.
    pub fn active(&self) -> &Chain {
        &self.active
    }

    /// The module file of each active entry, in chain order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The candidates.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The specification this chain was built from.
    pub fn spec(&self) -> &[EntrySpec] {
        &self.spec
    }

    /// When this version of the chain was loaded.
    pub fn loaded_at(&self) -> Timestamp {
        self.loaded_at
    }

    /// Decides with the active chain, and runs every candidate whose active entry ran on the
    /// same request (not those of entries skipped after an earlier entry ended the chain). Only the evaluation is the
    /// decision; the candidates' answers are beside the active ones.
    pub fn evaluate(
        &self,
        identity: &Identity,
        request: &AccessRequest,
    ) -> (Evaluation, Vec<Shadowed>) {
        let evaluation = self.active.evaluate(identity, request);
        let shadowed = self
            .candidates
            .iter()
            .filter_map(|candidate| {
                let active = evaluation.modules.get(candidate.index)?;
                if matches!(active.result, ModuleResult::Skipped { .. }) {
                    return None;
                }
                let active = active.clone();
                let mut outcome = candidate.chain.evaluate(identity, request).modules;
                let candidate = outcome.pop()?;
                Some(Shadowed { active, candidate })
            })
            .collect();
        (evaluation, shadowed)
    }
}

/// A module, chain or configuration that a reload refused; the previous version serves on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The cluster whose chain kept its previous version; `None` when the whole reload was
    /// refused (e.g. an unreadable configuration).
    pub cluster: Option<String>,
    /// The chain entry at fault, when one is.
    pub entry: Option<String>,
    /// The file at fault, when one is.
    pub file: Option<PathBuf>,
    /// The sha256 of the module file at fault, when it could be read.
    pub digest: Option<String>,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

impl Rejection {
    /// A rejection of the whole reload.
    pub fn whole(reason: String) -> Self {
        Self {
            cluster: None,
            entry: None,
            file: None,
            digest: None,
            reason,
            at: Timestamp::now(),
        }
    }

    /// Whether `other` rejects the same thing for the same reason (at any time).
    pub fn same_as(&self, other: &Self) -> bool {
        (
            &self.cluster,
            &self.entry,
            &self.file,
            &self.digest,
            &self.reason,
        ) == (
            &other.cluster,
            &other.entry,
            &other.file,
            &other.digest,
            &other.reason,
        )
    }
}

/// Every cluster's chain at one generation.
#[derive(Debug, Default)]
pub struct PolicySet {
    generation: u64,
    chains: BTreeMap<String, Arc<LiveChain>>,
}

impl PolicySet {
    /// The generation: 1 for the first set, one more at every swap.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The chains, by cluster.
    pub fn chains(&self) -> &BTreeMap<String, Arc<LiveChain>> {
        &self.chains
    }

    /// The chain of `cluster`.
    pub fn chain(&self, cluster: &str) -> Option<&Arc<LiveChain>> {
        self.chains.get(cluster)
    }
}

/// The result of [`rebuild`].
#[derive(Debug)]
pub struct Rebuilt {
    /// The new set; `None` when no chain changed (nothing to swap). Its generation is one
    /// more than the previous one.
    pub set: Option<PolicySet>,
    /// The clusters whose chain changed.
    pub changed: Vec<String>,
    /// What was refused: the chains concerned keep their previous version.
    pub rejected: Vec<Rejection>,
    /// Module files taken to be still being written (changed within the settle time and not
    /// loadable): their chains keep the previous version without a rejection.
    pub deferred: Vec<PathBuf>,
}

/// How [`rebuild`] treats files.
#[derive(Debug, Clone, Copy, Default)]
pub struct RebuildOptions {
    /// Whether clusters may be added or removed (only when building the first set).
    pub initial: bool,
    /// A module file modified less than this long ago that does not load is deferred, not
    /// rejected (the watcher's reloads); `None` rejects it at once.
    pub settle: Option<Duration>,
}

/// Builds the next set from `specs` on a blocking thread's time: reads every module file,
/// reuses the previous set's module when its bytes are unchanged, otherwise compiles it (the
/// engine's cache makes a known module load in milliseconds), checks its world, runs the
/// cases file beside it and validates the settings. See the module docs for what a rejection
/// keeps.
pub fn rebuild(
    engine: &PolicyEngine,
    previous: &PolicySet,
    specs: &ChainSpecs,
    options: RebuildOptions,
) -> Rebuilt {
    let mut loader = Loader {
        engine,
        previous,
        settle: options.settle,
        loaded: HashMap::new(),
    };
    let mut chains = BTreeMap::new();
    let mut changed = Vec::new();
    let mut rejected = Vec::new();
    let mut deferred = Vec::new();
    for (cluster, spec) in specs {
        let old = previous.chains.get(cluster);
        if old.is_none() && !options.initial {
            rejected.push(Rejection {
                cluster: Some(cluster.clone()),
                reason: format!(
                    "cluster `{cluster}` is not served by this process; adding a cluster needs a restart"
                ),
                ..Rejection::whole(String::new())
            });
            continue;
        }
        match build_chain(&mut loader, spec) {
            Ok(chain) => {
                if let Some(old) = old
                    && same_version(old, &chain)
                {
                    chains.insert(cluster.clone(), Arc::clone(old));
                } else {
                    changed.push(cluster.clone());
                    chains.insert(cluster.clone(), Arc::new(chain));
                }
            }
            Err(Failure::Deferred(path)) => {
                deferred.push(path);
                if let Some(old) = old {
                    chains.insert(cluster.clone(), Arc::clone(old));
                }
            }
            Err(Failure::Rejected(mut rejection)) => {
                rejection.cluster = Some(cluster.clone());
                rejected.push(*rejection);
                if let Some(old) = old {
                    chains.insert(cluster.clone(), Arc::clone(old));
                }
            }
        }
    }
    for (cluster, old) in &previous.chains {
        if !specs.contains_key(cluster) {
            rejected.push(Rejection {
                cluster: Some(cluster.clone()),
                reason: format!(
                    "cluster `{cluster}` has no chain in the configuration any more; it keeps its chain until a restart"
                ),
                ..Rejection::whole(String::new())
            });
            chains.insert(cluster.clone(), Arc::clone(old));
        }
    }
    let set = (!changed.is_empty() || previous.generation == 0).then(|| PolicySet {
        generation: previous.generation + 1,
        chains,
    });
    Rebuilt {
        set,
        changed,
        rejected,
        deferred,
    }
}

/// Whether two chains run the same modules with the same settings and limits.
fn same_version(a: &LiveChain, b: &LiveChain) -> bool {
    let digests = |chain: &LiveChain| -> Vec<String> {
        chain
            .active
            .entries()
            .iter()
            .map(|e| e.module().digest().to_owned())
            .chain(
                chain
                    .candidates
                    .iter()
                    .flat_map(|c| c.chain.entries())
                    .map(|e| e.module().digest().to_owned()),
            )
            .collect()
    };
    a.spec == b.spec && digests(a) == digests(b)
}

enum Failure {
    Deferred(PathBuf),
    Rejected(Box<Rejection>),
}

fn build_chain(loader: &mut Loader<'_>, spec: &[EntrySpec]) -> Result<LiveChain, Failure> {
    let mut entries = Vec::with_capacity(spec.len());
    let mut paths = Vec::with_capacity(spec.len());
    let mut candidates = Vec::new();
    for (index, entry) in spec.iter().enumerate() {
        let active = loader.load(&entry.name, &entry.module, entry.limits, entry.snapshot)?;
        entries.push(
            ChainEntry::new(entry.name.clone(), active.module, &entry.settings)
                .with_on_deny(entry.on_deny)
                .with_on_allow(entry.on_allow)
                .with_snapshot(entry.snapshot),
        );
        paths.push(active.path);
        if let Some(candidate) = &entry.candidate {
            let loaded =
                loader.load(&entry.name, &candidate.module, entry.limits, entry.snapshot)?;
            let chain = Chain::new(vec![
                ChainEntry::new(
                    entry.name.clone(),
                    Arc::clone(&loaded.module),
                    &candidate.settings,
                )
                .with_snapshot(entry.snapshot),
            ])
            .map_err(|error| rejected(&entry.name, &loaded, &error))?
            .prepare();
            candidates.push(Candidate {
                index,
                path: loaded.path,
                chain,
            });
        }
    }
    let active = Chain::new(entries)
        .map_err(|error| {
            let entry = match &error {
                Error::Settings { name, .. } | Error::SettingsFailed { name, .. } => {
                    spec.iter().position(|e| &e.name == name)
                }
                _ => None,
            };
            Failure::Rejected(Box::new(Rejection {
                entry: entry.map(|i| spec[i].name.clone()),
                file: entry.map(|i| paths[i].clone()),
                digest: None,
                reason: one_line(&error),
                ..Rejection::whole(String::new())
            }))
        })?
        .prepare();
    Ok(LiveChain {
        spec: spec.to_vec(),
        paths,
        active,
        candidates,
        loaded_at: Timestamp::now(),
    })
}

fn rejected(entry: &str, loaded: &Loaded, error: &Error) -> Failure {
    Failure::Rejected(Box::new(Rejection {
        entry: Some(entry.to_owned()),
        file: Some(loaded.path.clone()),
        digest: Some(loaded.module.digest().to_owned()),
        reason: one_line(error),
        ..Rejection::whole(String::new())
    }))
}

/// An error and its causes on one line.
fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = format!("{cause}");
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.replace('\n', " ")
}

/// Runs the cases file beside `path` (if there is one) against `module`.
fn pass_cases(
    entry: &str,
    path: &Path,
    digest: &str,
    module: Arc<PolicyModule>,
) -> Result<Arc<PolicyModule>, Failure> {
    let cases_path = cases::beside(path);
    if cases_path.is_file() {
        let reports =
            cases::read(&cases_path).and_then(|file| cases::run(&cases_path, &file, &module));
        let failed = match reports {
            Err(error) => Some(error),
            Ok(reports) => reports.into_iter().find_map(|report| {
                report.problem.map(|problem| Error::CaseFailed {
                    path: cases_path.clone(),
                    case: report.name,
                    problem: problem.to_string(),
                })
            }),
        };
        if let Some(error) = failed {
            return Err(Failure::Rejected(Box::new(Rejection {
                entry: Some(entry.to_owned()),
                file: Some(path.to_owned()),
                digest: Some(digest.to_owned()),
                reason: one_line(&error),
                ..Rejection::whole(String::new())
            })));
        }
    }
    Ok(module)
}

/// Loads each (file, limits) once per rebuild, reusing the previous set's modules.
struct Loader<'a> {
    engine: &'a PolicyEngine,
    previous: &'a PolicySet,
    settle: Option<Duration>,
    loaded: HashMap<(PathBuf, Limits, bool), Result<Loaded, Rejection>>,
}

impl Loader<'_> {
    /// The module of `path` with `limits`: the previous set's if its bytes are unchanged (only
    /// one that is not prepared when `snapshot` is off), else freshly loaded.
    fn load(
        &mut self,
        entry: &str,
        path: &Path,
        limits: Limits,
        snapshot: bool,
    ) -> Result<Loaded, Failure> {
        let key = (path.to_owned(), limits, snapshot);
        if let Some(done) = self.loaded.get(&key) {
            return done.clone().map_err(|mut rejection| {
                rejection.entry = Some(entry.to_owned());
                Failure::Rejected(Box::new(rejection))
            });
        }
        let bytes = std::fs::read(path).map_err(|source| {
            self.fail(
                entry,
                path,
                None,
                &Error::Read {
                    path: path.to_owned(),
                    source,
                },
            )
        })?;
        let digest = hex::encode(Sha256::digest(&bytes));
        // The cases file runs even for an unchanged module: it may be new or changed.
        let result = match self.reusable(path, &digest, limits, snapshot) {
            Some(module) => Ok(module),
            None => self.fresh(entry, path, &digest, &bytes, limits),
        }
        .and_then(|module| pass_cases(entry, path, &digest, module));
        let result = result.map(|module| Loaded {
            path: path.to_owned(),
            module,
        });
        match result {
            Ok(loaded) => {
                self.loaded.insert(key, Ok(loaded.clone()));
                Ok(loaded)
            }
            Err(failure) => {
                if let Failure::Rejected(rejection) = &failure {
                    self.loaded.insert(key, Err((**rejection).clone()));
                }
                Err(failure)
            }
        }
    }

    fn fresh(
        &self,
        entry: &str,
        path: &Path,
        digest: &str,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<Arc<PolicyModule>, Failure> {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let module = self
            .engine
            .load(&name, bytes, limits)
            .map(Arc::new)
            .map_err(|error| self.fail(entry, path, Some(digest), &error))?;
        Ok(module)
    }

    /// The previous set's module loaded from `path` with these bytes and limits (and not
    /// deciding from a snapshot unless `snapshot`), if any.
    fn reusable(
        &self,
        path: &Path,
        digest: &str,
        limits: Limits,
        snapshot: bool,
    ) -> Option<Arc<PolicyModule>> {
        self.previous.chains.values().find_map(|chain| {
            let active = chain
                .active
                .entries()
                .iter()
                .zip(&chain.paths)
                .map(|(entry, p)| (entry.module(), p));
            let candidates = chain
                .candidates
                .iter()
                .flat_map(|c| c.chain.entries().iter().map(move |e| (e.module(), &c.path)));
            active.chain(candidates).find_map(|(module, p)| {
                (p == path
                    && module.digest() == digest
                    && module.limits() == limits
                    && (snapshot || module.prepared_for().is_none()))
                .then(|| Arc::clone(module))
            })
        })
    }

    /// A rejection, or a deferral when the file changed within the settle time.
    fn fail(&self, entry: &str, path: &Path, digest: Option<&str>, error: &Error) -> Failure {
        let young = self.settle.is_some_and(|settle| {
            match std::fs::metadata(path).and_then(|m| m.modified()) {
                // A file changed "in the future" (clock skew) is as young as can be.
                Ok(modified) => SystemTime::now()
                    .duration_since(modified)
                    .map_or(true, |age| age < settle),
                Err(_) => false,
            }
        });
        if young {
            return Failure::Deferred(path.to_owned());
        }
        Failure::Rejected(Box::new(Rejection {
            entry: Some(entry.to_owned()),
            file: Some(path.to_owned()),
            digest: digest.map(str::to_owned),
            reason: one_line(error),
            ..Rejection::whole(String::new())
        }))
    }
}

/// A cluster's chain after a reload changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedChain {
    /// The cluster.
    pub cluster: String,
    /// Its entries: name and module digest (and the candidate's digest, if any).
    pub entries: Vec<ChangedEntry>,
}

/// One entry of a changed chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedEntry {
    /// The entry's name.
    pub name: String,
    /// The active module's digest.
    pub digest: String,
    /// The candidate's digest, if the entry has a candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
}

/// A candidate made active: it serves instead of the entry's module for as long as the
/// configuration names it as that entry's candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    /// The cluster.
    pub cluster: String,
    /// The chain entry.
    pub entry: String,
    /// The candidate module file now active.
    pub candidate: PathBuf,
}
