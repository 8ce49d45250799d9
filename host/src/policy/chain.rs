//! Chains: an ordered list of modules, each with its own settings, deciding together.
//!
//! # Combining decisions
//! 1. A module that fails (trap, deadline, memory limit, malformed decision) counts as a deny.
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
//! Chains are immutable and `Send + Sync`; share them in an `Arc` and swap whole chains.

use std::sync::Arc;
use std::time::Instant;

use super::error::{Error, Result};
use super::intersect;
use super::module::{Input, PolicyModule};
use super::outcome::{Evaluation, ModuleOutcome, ModuleResult, Verdict};
use super::prepare;
use super::types::{AccessRequest, Approval, Decision, Grant, Identity};
use super::validate;

/// One module of a chain with its settings.
#[derive(Debug, Clone)]
pub struct ChainEntry {
    name: String,
    module: Arc<PolicyModule>,
    settings: String,
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
        }
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
    /// with the engine's cache), so it suits chains that decide many requests. An entry whose
    /// module cannot be snapshotted keeps deciding as before; the reason is logged.
    pub fn prepare(self) -> Self {
        let entries = self
            .entries
            .into_iter()
            .map(|entry| {
                if entry.module.prepared_for() == Some(entry.settings.as_str()) {
                    return entry;
                }
                match prepare::snapshot(&entry.module, &entry.settings) {
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

    /// Decides `request` by `identity`: every module runs, each in a fresh instance, then the
    /// decisions are combined (see the module docs). Never fails; never panics on guest input.
    pub fn evaluate(&self, identity: &Identity, request: &AccessRequest) -> Evaluation {
        let started = Instant::now();
        let input = Input::new(identity, request);
        let modules: Vec<ModuleOutcome> = self
            .entries
            .iter()
            .map(|entry| {
                let call_started = Instant::now();
                let (result, output) = entry.module.decide(&entry.settings, &input);
                let result = match result {
                    Ok(decision) => match validate::check(&decision) {
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
                    name: entry.name.clone(),
                    digest: entry.module.digest().to_owned(),
                    result,
                    duration: call_started.elapsed(),
                    output,
                }
            })
            .collect();
        let verdict = combine(request.duration_seconds, &modules);
        Evaluation {
            verdict,
            modules,
            duration: started.elapsed(),
        }
    }
}

/// Combines module outcomes into a verdict, by the rules in the module docs.
pub fn combine(requested_seconds: u64, modules: &[ModuleOutcome]) -> Verdict {
    let mut denials = Vec::new();
    let mut approvals: Vec<Approval> = Vec::new();
    let mut grants: Vec<(&str, &Grant)> = Vec::new();
    for module in modules {
        match &module.result {
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
        }
    }
    if !denials.is_empty() {
        return Verdict::Deny {
            reason: denials.join("; "),
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
