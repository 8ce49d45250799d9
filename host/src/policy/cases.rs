//! Cases files (the format is in `docs/policy-files.md`): a module's own examples with the
//! decision each must get, run by the contract's one runner (`wicket_contract::cases`, which
//! `wicket_sdk::testing` runs natively too). `wicket policy test` runs them, and a reload runs
//! the cases file that sits beside a module (`<module stem>.cases.json`) before the module may
//! serve.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
pub use wicket_contract::cases::{
    Case, CaseReport, CasesFile, Evaluator, Expect, Kind, Plan, Problem, RequestFile, compare,
    render_reports,
};

use super::error::{Error, Result};
use super::{Chain, ChainEntry, ModuleResult, PolicyModule};
use crate::domain::{AccessRequest, ApiCall, CallDecision, Decision, Identity};

/// A module as the cases runner sees it: configured with a settings value it is a one-entry
/// chain, whose module's own decision (before the chain caps it) is compared.
pub struct ModuleCases<'a> {
    module: &'a Arc<PolicyModule>,
}

impl<'a> ModuleCases<'a> {
    /// Cases of `module`.
    pub fn new(module: &'a Arc<PolicyModule>) -> Self {
        Self { module }
    }
}

impl Evaluator for ModuleCases<'_> {
    type Configured = Chain;

    fn configure(&self, settings: &Value) -> std::result::Result<Chain, String> {
        let entry = ChainEntry::new(self.module.name(), Arc::clone(self.module), settings);
        Chain::new(vec![entry]).map_err(|error| error.to_string())
    }

    fn evaluate(
        &self,
        chain: &Chain,
        identity: &Identity,
        request: &AccessRequest,
    ) -> std::result::Result<Decision, String> {
        decided(
            chain
                .evaluate(identity, request)
                .modules
                .swap_remove(0)
                .result,
        )
    }

    fn authorize_call(
        &self,
        chain: &Chain,
        identity: &Identity,
        request: &AccessRequest,
        call: &ApiCall,
    ) -> std::result::Result<CallDecision, String> {
        let entry = &chain.entries()[0];
        let outcome = entry
            .module()
            .authorize_call(entry.settings(), identity, request, call);
        match outcome.failure {
            Some(failure) => Err(failure),
            None => Ok(outcome.decision),
        }
    }
}

/// A module's own result as the runner takes it: a failure is an error (a deny with the
/// diagnostic).
pub fn decided(result: ModuleResult) -> std::result::Result<Decision, String> {
    match result {
        ModuleResult::Decided { decision } => Ok(decision),
        ModuleResult::Failed { error, .. } => Err(error),
        ModuleResult::Skipped { after, .. } => Err(format!("not run: `{after}` stopped the chain")),
    }
}

/// The cases file a reload runs before a module may serve: `<module stem>.cases.json` in
/// the module's directory (`group_access.wasm` → `group_access.cases.json`).
pub fn beside(module: &Path) -> PathBuf {
    let stem = module
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    module.with_file_name(format!("{stem}.cases.json"))
}

/// Reads and parses a cases file.
pub fn read(path: &Path) -> Result<CasesFile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    CasesFile::parse(&text).map_err(|error| Error::Cases {
        path: path.to_owned(),
        message: error.to_string(),
    })
}

/// Checks the cases file at `path` (names, consistency, every request parsed) without running
/// anything, so that a malformed file is bad input.
pub fn check(path: &Path, file: &CasesFile) -> Result<()> {
    file.plans(jiff::Timestamp::now())
        .map(drop)
        .map_err(|error| Error::Cases {
            path: path.to_owned(),
            message: error.to_string(),
        })
}

/// Runs every case of `file` (read from `path`) against `module`; requests without
/// `requested_at` are made now. A malformed file is an error, not a failed case.
pub fn run(path: &Path, file: &CasesFile, module: &Arc<PolicyModule>) -> Result<Vec<CaseReport>> {
    file.run(&ModuleCases::new(module), jiff::Timestamp::now())
        .map_err(|error| Error::Cases {
            path: path.to_owned(),
            message: error.to_string(),
        })
}
