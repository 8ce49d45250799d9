//! Chains: an ordered list of modules, each with its own settings, deciding together.
//!
//! # Combining decisions
//! 1. A module that fails (trap, deadline, memory limit, malformed decision) counts as a deny.
//!    A grant wider than the request (a namespace, role or rule not asked for, see
//!    [`super::within`]) is a malformed decision: the request bounds every grant, whatever a
//!    module answers.
//! 2. Deny overrides: if any module denies, the verdict is deny, with every deny reason.
//! 3. Otherwise, if any module needs approval, the verdict needs approval, and every module's
//!    approval is required (all of them, in chain order).
//! 4. The grant (of an allow, or the one unlocked by the approvals) is the intersection of
//!    every module's grant (see [`super::intersect`]): never wider than what any module
//!    granted. If two grants cannot be narrowed safely (a role against a different role or
//!    against rules) or have nothing in common, the verdict is deny with that diagnostic.
//! 5. The TTL is the minimum of every module's TTL and never more than the request's
//!    `duration_seconds`.
//!
//! # Stopping at a deny
//! By default every module runs, so that every module's verdict is recorded and a denial
//! names every reason. An entry marked [`OnDeny::Stop`] (PAM's `requisite`) ends the chain
//! when it denies or fails: the modules after it are [`ModuleResult::Skipped`]. The verdict
//! is the same deny either way — policies are pure functions of their input, and a deny
//! overrides whatever the later modules would say — but only the reasons of the modules that
//! ran are given. Use it on a cheap gate (`group-access`) in front of costly modules (a
//! Python guest), or to cut what a flood of denied requests costs.
//!
//! Chains are immutable and `Send + Sync`; share them in an `Arc` and swap whole chains.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::intersect;
use super::module::{Input, PolicyModule};
use super::outcome::{Evaluation, ModuleOutcome, ModuleResult, Verdict};
use super::prepare;
use super::sandbox::Output;
use super::validate;
use crate::domain::{AccessRequest, Approval, Decision, Grant, Identity};

/// What a chain does after one of its entries denies (or fails, which counts as a deny).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeny {
    /// Run the rest of the chain, so that every module's verdict is recorded (the default).
    #[default]
    Continue,
    /// End the chain: the entries after this one are skipped.
    Stop,
}

/// One module of a chain with its settings.
#[derive(Debug, Clone)]
pub struct ChainEntry {
    name: String,
    module: Arc<PolicyModule>,
    settings: String,
    on_deny: OnDeny,
    snapshot: bool,
}

impl ChainEntry {
    /// An entry named `name` running `module` with `settings`.
    pub fn new(
        name: impl Into<String>,
        module: Arc<PolicyModule>,
        settings: &serde_json::Value,
    ) -> Self {
        Self {
            name: name.into(),
            module,
            settings: settings.to_string(),
            on_deny: OnDeny::Continue,
            snapshot: true,
        }
    }

    /// An entry named `name` running `module` with `settings` as written: a settings file's own
    /// text, so that a position in the module's error is one in that file.
    pub fn with_settings_text(
        name: impl Into<String>,
        module: Arc<PolicyModule>,
        settings: String,
    ) -> Self {
        Self {
            name: name.into(),
            module,
            settings,
            on_deny: OnDeny::Continue,
            snapshot: true,
        }
    }

    /// This entry, its decisions starting from a snapshot taken after its module accepted
    /// its settings (`true`, the default, see [`Chain::prepare`]) or from fresh instances of
    /// the module's original image (`false`).
    pub fn with_snapshot(self, snapshot: bool) -> Self {
        Self { snapshot, ..self }
    }

    /// Whether [`Chain::prepare`] snapshots this entry.
    pub fn snapshot(&self) -> bool {
        self.snapshot
    }

    /// This entry, with `on_deny` deciding whether the chain goes on after it denies.
    pub fn with_on_deny(self, on_deny: OnDeny) -> Self {
        Self { on_deny, ..self }
    }

    /// What the chain does after this entry denies.
    pub fn on_deny(&self) -> OnDeny {
        self.on_deny
    }

    /// The entry's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The module.
    pub fn module(&self) -> &Arc<PolicyModule> {
        &self.module
    }

    /// The settings as the module receives them (JSON text).
    pub fn settings(&self) -> &str {
        &self.settings
    }
}

/// An ordered, immutable list of modules whose settings were accepted.
#[derive(Debug, Clone)]
pub struct Chain {
    entries: Vec<ChainEntry>,
}

impl Chain {
    /// Builds a chain, asking each module once to validate its settings. Fails with the
    /// module's own message if it rejects them, or if it fails while checking them.
    pub fn new(entries: Vec<ChainEntry>) -> Result<Self> {
        if entries.is_empty() {
            return Err(Error::EmptyChain);
        }
        for (i, entry) in entries.iter().enumerate() {
            if entries[..i].iter().any(|e| e.name == entry.name) {
                return Err(Error::DuplicateEntry(entry.name.clone()));
            }
            let (result, _output) = entry.module.validate_settings(&entry.settings);
            match result {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    return Err(Error::Settings {
                        name: entry.name.clone(),
                        message,
                    });
                }
                Err(failure) => {
                    return Err(Error::SettingsFailed {
                        name: entry.name.clone(),
                        reason: failure.0,
                    });
                }
            }
        }
        Ok(Self { entries })
    }

    /// Starts each entry's decisions from a snapshot of its module taken right after it
    /// accepted the entry's settings (see [`super::prepare`]): still a fresh instance per
    /// decision, without parsing the settings again. Costs a compile per entry (cached on disk
    /// with the engine's cache), so it suits chains that decide many requests. Entries whose
    /// snapshot is switched off ([`ChainEntry::with_snapshot`]) are left as they are. An entry
    /// whose module cannot be snapshotted (within [`prepare::BUDGET`] of guest time, without
    /// calling an import) keeps deciding as before; the reason is logged. Never fails.
    pub fn prepare(self) -> Self {
        self.prepare_within(prepare::BUDGET)
    }

    /// [`Chain::prepare`] with `budget` of guest time per entry instead of
    /// [`prepare::BUDGET`].
    pub fn prepare_within(self, budget: Duration) -> Self {
        let entries = self
            .entries
            .into_iter()
            .map(|entry| {
                if !entry.snapshot || entry.module.prepared_for() == Some(entry.settings.as_str()) {
                    return entry;
                }
                match prepare::snapshot(&entry.module, &entry.settings, budget) {
                    Ok(module) => ChainEntry {
                        module: Arc::new(module),
                        ..entry
                    },
                    Err(reason) => {
                        // wasmtime's errors carry a multi-line wasm backtrace.
                        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
                        tracing::info!(
                            entry = %entry.name,
                            module = %entry.module.name(),
                            %reason,
                            "module not pre-initialised: every decision parses its settings"
                        );
                        entry
                    }
                }
            })
            .collect();
        Self { entries }
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[ChainEntry] {
        &self.entries
    }

    /// Decides `request` by `identity`: every module runs, each in a fresh instance, until
    /// one marked [`OnDeny::Stop`] denies (the rest are skipped); then the decisions are
    /// combined (see the module docs). Never fails; never panics on guest input.
    pub fn evaluate(&self, identity: &Identity, request: &AccessRequest) -> Evaluation {
        let started = Instant::now();
        let input = Input::new(identity, request);
        let mut modules: Vec<ModuleOutcome> = Vec::with_capacity(self.entries.len());
        let mut stopped_by: Option<&str> = None;
        for entry in &self.entries {
            let outcome = match stopped_by {
                Some(after) => ModuleOutcome {
                    name: entry.name.clone(),
                    digest: entry.module.digest().to_owned(),
                    result: ModuleResult::Skipped {
                        after: after.to_owned(),
                    },
                    duration: Duration::ZERO,
                    output: Output::default(),
                },
                None => entry.decide(&input, request),
            };
            if stopped_by.is_none() && entry.on_deny == OnDeny::Stop && outcome.result.denies() {
                stopped_by = Some(&entry.name);
            }
            modules.push(outcome);
        }
        let verdict = combine(request.duration_seconds, &modules);
        Evaluation {
            verdict,
            modules,
            duration: started.elapsed(),
        }
    }
}

impl ChainEntry {
    /// Runs this entry's module on `input` in a fresh instance.
    fn decide(&self, input: &Input, request: &AccessRequest) -> ModuleOutcome {
        let call_started = Instant::now();
        let (result, output) = self.module.decide(&self.settings, input);
        let result = match result {
            Ok(decision) => match validate::check(&decision, request) {
                Ok(()) => ModuleResult::Decided { decision },
                Err(malformed) => ModuleResult::Failed {
                    error: format!("malformed decision: {malformed}"),
                    returned: Some(decision),
                },
            },
            Err(failure) => ModuleResult::Failed {
                error: failure.0,
                returned: None,
            },
        };
        ModuleOutcome {
            name: self.name.clone(),
            digest: self.module.digest().to_owned(),
            result,
            duration: call_started.elapsed(),
            output,
        }
    }
}

/// Combines module outcomes into a verdict, by the rules in the module docs.
pub fn combine(requested_seconds: u64, modules: &[ModuleOutcome]) -> Verdict {
    let mut denials = Vec::new();
    let mut approvals: Vec<Approval> = Vec::new();
    let mut grants: Vec<(&str, &Grant)> = Vec::new();
    let mut skipped = None;
    for module in modules {
        match &module.result {
            ModuleResult::Skipped { .. } => {
                skipped.get_or_insert(&module.name);
            }
            ModuleResult::Failed { error, .. } => {
                denials.push(format!("module `{}` failed: {error}", module.name));
            }
            ModuleResult::Decided {
                decision: Decision::Deny { reason },
            } => denials.push(format!("module `{}`: {reason}", module.name)),
            ModuleResult::Decided {
                decision: Decision::Allow { grant },
            } => grants.push((&module.name, grant)),
            ModuleResult::Decided {
                decision: Decision::NeedsApproval { approval },
            } => {
                grants.push((&module.name, &approval.grant));
                approvals.push(approval.clone());
            }
            // Not its concern: as if the module were not in the chain.
            ModuleResult::Decided {
                decision: Decision::Abstain { .. },
            } => {}
        }
    }
    if !denials.is_empty() {
        return Verdict::Deny {
            reason: denials.join("; "),
        };
    }
    // A module is only skipped after a deny; without one, fail closed all the same.
    if let Some(name) = skipped {
        return Verdict::Deny {
            reason: format!("module `{name}` did not run"),
        };
    }
    let Some(((_, first), rest)) = grants.split_first() else {
        return Verdict::Deny {
            reason: "no module decided".into(),
        };
    };
    let mut grant = (*first).clone();
    for (name, next) in rest {
        grant = match intersect::grants(&grant, next) {
            Ok(narrowed) => narrowed,
            Err(conflict) => {
                return Verdict::Deny {
                    reason: format!(
                        "module `{name}` conflicts with the modules before it: {conflict}"
                    ),
                };
            }
        };
    }
    if grant.namespaces.is_empty() && grant.cluster_rules.is_empty() {
        return Verdict::Deny {
            reason: "the modules' grants have nothing in common".into(),
        };
    }
    grant.ttl_seconds = grant.ttl_seconds.min(requested_seconds);
    if grant.ttl_seconds == 0 {
        return Verdict::Deny {
            reason: "the request asks for zero seconds".into(),
        };
    }
    if approvals.is_empty() {
        Verdict::Allow { grant }
    } else {
        Verdict::NeedsApproval { approvals, grant }
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
