//! Chains: an ordered list of modules, each with its own settings, deciding together.
//!
//! # Combining decisions
//! 1. A module that fails (trap, deadline, memory limit, malformed decision) counts as a deny.
//!    A grant wider than the request (a namespace, role or rule not asked for, see
//!    [`super::within`]) is a malformed decision: the request bounds every grant, whatever a
//!    module answers.
//! 2. Deny overrides: if any module denies, the verdict is deny, with every deny reason.
//! 3. A module that abstains ("not my concern") is left out, as if it were not in the chain.
//!    If every module that ran abstained, the verdict is deny (fail closed), naming each
//!    module's reason.
//! 4. Otherwise, if any module needs approval, the verdict needs approval, and every module's
//!    approval is required (all of them, in chain order).
//! 5. The grant (of an allow, or the one unlocked by the approvals) is the intersection of
//!    every module's grant (see [`super::intersect`]): never wider than what any module
//!    granted. If two grants cannot be narrowed safely (a role against a different role or
//!    against rules) or have nothing in common, the verdict is deny with that diagnostic.
//! 6. The TTL is the minimum of every module's TTL and never more than the request's
//!    `duration_seconds`.
//!
//! # Ending a chain early
//! By default every module runs, so that every module's verdict is recorded and a denial
//! names every reason. Two controls per entry end the chain early; the modules after it are
//! [`ModuleResult::Skipped`]:
//! - [`OnDeny::Stop`] (PAM's `requisite`): the entry denies or fails. The verdict is the same
//!   deny either way — policies are pure functions of their input, and a deny overrides
//!   whatever the later modules would say — but only the reasons of the modules that ran are
//!   given. Use it on a cheap gate (`group-access`) in front of costly modules (a Python
//!   guest), or to cut what a flood of denied requests costs.
//! - [`OnAllow::Sufficient`] (PAM's `sufficient`): the entry allows and no module before it
//!   denied, failed or asked for approval. The verdict is allow, with the entry's grant
//!   narrowed by the grants of the modules before it that allowed (and, as always, bounded by
//!   the request and the cluster's guardrails). Before it, a deny still denies and an approval
//!   is still required: then the entry's allow counts like any other and the chain goes on.
//!
//! An abstaining module ends nothing, whatever its controls. The full table is in
//! `docs/policy-composition.md`.
//!
//! Chains are immutable and `Send + Sync`; share them in an `Arc` and swap whole chains.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::intersect;
use super::module::{Input, PolicyModule};
use super::outcome::{Evaluation, ModuleOutcome, ModuleResult, Stop, Verdict};
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

/// What a chain does after one of its entries allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnAllow {
    /// Run the rest of the chain: every module must allow (the default).
    #[default]
    Continue,
    /// End the chain with this allow when no entry before it denied, failed or asked for
    /// approval: the entries after it are skipped.
    Sufficient,
}

/// One module of a chain with its settings.
#[derive(Debug, Clone)]
pub struct ChainEntry {
    name: String,
    module: Arc<PolicyModule>,
    settings: String,
    on_deny: OnDeny,
    on_allow: OnAllow,
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
            on_allow: OnAllow::Continue,
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
            on_allow: OnAllow::Continue,
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

    /// This entry, with `on_allow` deciding whether its allow is enough for the chain.
    pub fn with_on_allow(self, on_allow: OnAllow) -> Self {
        Self { on_allow, ..self }
    }

    /// What the chain does after this entry allows.
    pub fn on_allow(&self) -> OnAllow {
        self.on_allow
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
    /// whose module cannot be snapshotted (within [`prepare::BUDGET`] of guest time per settings check, without
    /// calling an import) keeps deciding as before; the reason is logged. Never fails.
    pub fn prepare(self) -> Self {
        self.prepare_within(prepare::BUDGET)
    }

    /// [`Chain::prepare`] with `budget` of guest time per settings check instead of
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
    /// an entry's control ends the chain (the rest are skipped); then the decisions are
    /// combined (see the module docs). Never fails; never panics on guest input.
    pub fn evaluate(&self, identity: &Identity, request: &AccessRequest) -> Evaluation {
        let started = Instant::now();
        let input = Input::new(identity, request);
        let steps: Vec<Step<'_>> = self
            .entries
            .iter()
            .map(|entry| Step {
                name: &entry.name,
                digest: entry.module.digest(),
                on_deny: entry.on_deny,
                on_allow: entry.on_allow,
            })
            .collect();
        let modules = run(&steps, |index| self.entries[index].decide(&input, request));
        let verdict = combine(request.duration_seconds, &modules);
        Evaluation {
            verdict,
            modules,
            duration: started.elapsed(),
        }
    }
}

/// What running a chain needs to know of an entry besides its module.
pub(crate) struct Step<'a> {
    pub(crate) name: &'a str,
    pub(crate) digest: &'a str,
    pub(crate) on_deny: OnDeny,
    pub(crate) on_allow: OnAllow,
}

/// Runs `steps` in order, `decide(index)` deciding the entry at `index`, until one's control
/// ends the chain: the entries after it are skipped, naming it.
pub(crate) fn run(
    steps: &[Step<'_>],
    mut decide: impl FnMut(usize) -> ModuleOutcome,
) -> Vec<ModuleOutcome> {
    let mut modules: Vec<ModuleOutcome> = Vec::with_capacity(steps.len());
    let mut stopped: Option<(&str, Stop)> = None;
    // Whether an entry so far denied, failed or asked for approval: no allow is then enough.
    let mut held = false;
    for (index, step) in steps.iter().enumerate() {
        let outcome = match stopped {
            Some((after, because)) => ModuleOutcome {
                name: step.name.to_owned(),
                digest: step.digest.to_owned(),
                result: ModuleResult::Skipped {
                    after: after.to_owned(),
                    because,
                },
                duration: Duration::ZERO,
                output: Output::default(),
            },
            None => decide(index),
        };
        if stopped.is_none() {
            if outcome.result.denies() {
                held = true;
                if step.on_deny == OnDeny::Stop {
                    stopped = Some((step.name, Stop::Deny));
                }
            } else if let ModuleResult::Decided { decision } = &outcome.result {
                match decision {
                    Decision::NeedsApproval { .. } => held = true,
                    Decision::Allow { .. } if !held && step.on_allow == OnAllow::Sufficient => {
                        stopped = Some((step.name, Stop::Sufficient));
                    }
                    _ => {}
                }
            }
        }
        modules.push(outcome);
    }
    modules
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
    let mut abstentions = Vec::new();
    let mut approvals: Vec<Approval> = Vec::new();
    let mut grants: Vec<(&str, &Grant)> = Vec::new();
    let mut skipped = None;
    for module in modules {
        match &module.result {
            ModuleResult::Skipped { after, because } => {
                skipped.get_or_insert((&module.name, after, *because));
            }
            ModuleResult::Failed { error, .. } => {
                denials.push(format!("module `{}` failed: {error}", module.name));
            }
            ModuleResult::Decided {
                decision: Decision::Deny { reason },
            } => denials.push(format!("module `{}`: {reason}", module.name)),
            ModuleResult::Decided {
                decision: Decision::Abstain { reason },
            } => abstentions.push(format!("module `{}`: {reason}", module.name)),
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
    // A module is only skipped after a deny, or after a sufficient allow with no approval
    // asked for before it; otherwise fail closed all the same.
    if let Some((name, after, because)) = skipped {
        let sufficient = because == Stop::Sufficient
            && approvals.is_empty()
            && modules.iter().any(|m| {
                &m.name == after
                    && matches!(
                        m.result,
                        ModuleResult::Decided {
                            decision: Decision::Allow { .. }
                        }
                    )
            });
        if !sufficient {
            return Verdict::Deny {
                reason: format!("module `{name}` did not run"),
            };
        }
    }
    let Some(((_, first), rest)) = grants.split_first() else {
        return Verdict::Deny {
            reason: if abstentions.is_empty() {
                "no module decided".into()
            } else {
                format!("every module abstained ({})", abstentions.join("; "))
            },
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
