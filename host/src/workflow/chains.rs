//! [`Decider`] with the WebAssembly policy chains of the configured clusters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::ports::{ChainVerdict, Decider};
use crate::config::ClusterConfig;
use crate::policy::types::{AccessRequest, Approval, Decision, Identity};
use crate::policy::{self, Chain, ChainEntry, Limits, ModuleResult, PolicyEngine, Verdict};
use crate::store::ModuleVerdict;

/// One chain per cluster.
#[derive(Debug, Clone, Default)]
pub struct PolicyChains {
    chains: BTreeMap<String, Chain>,
}

impl PolicyChains {
    /// Chains built elsewhere, by cluster name.
    pub fn new(chains: BTreeMap<String, Chain>) -> Self {
        Self { chains }
    }

    /// Loads every cluster's modules (each file once) and checks their settings.
    pub fn load(engine: &PolicyEngine, clusters: &[ClusterConfig]) -> policy::Result<Self> {
        let mut loaded: BTreeMap<(std::path::PathBuf, u32, u64), Arc<policy::PolicyModule>> =
            BTreeMap::new();
        let mut chains = BTreeMap::new();
        for cluster in clusters {
            let mut entries = Vec::new();
            for config in &cluster.policies {
                let key = (
                    config.module.clone(),
                    config.memory_limit_mib,
                    config.deadline_ms,
                );
                let module = match loaded.get(&key) {
                    Some(module) => module.clone(),
                    None => {
                        let limits = Limits {
                            memory_bytes: usize::try_from(config.memory_limit_mib)
                                .unwrap_or(usize::MAX)
                                .saturating_mul(1 << 20),
                            deadline: Duration::from_millis(config.deadline_ms),
                            ..Limits::default()
                        };
                        let module = Arc::new(engine.load_file(&config.module, limits)?);
                        loaded.insert(key, module.clone());
                        module
                    }
                };
                let settings = Value::Object(config.settings.clone());
                entries.push(ChainEntry::new(config.name.clone(), module, &settings));
            }
            chains.insert(cluster.name.clone(), Chain::new(entries)?);
        }
        Ok(Self { chains })
    }
}

/// The chain's verdict in the store's terms. Several approvals (one per module that asked)
/// are kept as one: every group and subject named, the largest count, every reason.
fn decision(verdict: Verdict) -> Decision {
    match verdict {
        Verdict::Allow { grant } => Decision::Allow { grant },
        Verdict::Deny { reason } => Decision::Deny { reason },
        Verdict::NeedsApproval { approvals, grant } => {
            let mut merged = Approval {
                groups: Vec::new(),
                subjects: Vec::new(),
                count: 1,
                reason: String::new(),
                grant,
            };
            let mut reasons = Vec::new();
            for approval in approvals {
                for group in approval.groups {
                    if !merged.groups.contains(&group) {
                        merged.groups.push(group);
                    }
                }
                for subject in approval.subjects {
                    if !merged.subjects.contains(&subject) {
                        merged.subjects.push(subject);
                    }
                }
                merged.count = merged.count.max(approval.count);
                reasons.push(approval.reason);
            }
            merged.reason = reasons.join("; ");
            Decision::NeedsApproval { approval: merged }
        }
    }
}

impl Decider for PolicyChains {
    fn decide(&self, identity: &Identity, request: &AccessRequest) -> Option<ChainVerdict> {
        let chain = self.chains.get(&request.cluster)?;
        let evaluation = chain.evaluate(identity, request);
        let modules = evaluation
            .modules
            .into_iter()
            .map(|outcome| {
                if !outcome.output.is_empty() {
                    tracing::debug!(
                        module = %outcome.name,
                        stdout = %outcome.output.stdout,
                        stderr = %outcome.output.stderr,
                        "policy output"
                    );
                }
                let (decision, error) = match outcome.result {
                    ModuleResult::Decided { decision } => (Some(decision), None),
                    ModuleResult::Failed { error, .. } => (None, Some(error)),
                };
                ModuleVerdict {
                    module: outcome.name,
                    digest: outcome.digest,
                    decision,
                    duration_us: u64::try_from(outcome.duration.as_micros()).unwrap_or(u64::MAX),
                    error,
                }
            })
            .collect();
        Some(ChainVerdict {
            decision: decision(evaluation.verdict),
            modules,
            duration: evaluation.duration,
        })
    }

    fn describe(&self) -> Value {
        let clusters: serde_json::Map<String, Value> = self
            .chains
            .iter()
            .map(|(cluster, chain)| {
                let modules: Vec<Value> = chain
                    .entries()
                    .iter()
                    .map(|entry| {
                        let module = entry.module();
                        json!({
                            "name": entry.name(),
                            "module": module.name(),
                            "digest": module.digest(),
                            "world": module.world().to_string(),
                            "size": module.size(),
                        })
                    })
                    .collect();
                (cluster.clone(), json!({ "chain": modules }))
            })
            .collect();
        json!({ "clusters": clusters })
    }
}
