//! `wicket policy test <module> <cases.json>`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serde_json::Value;

use super::LimitArgs;
use super::cases::{CasesFile, Plan, compare};
use super::files::{parse_request, read_json};
use crate::cli::{Error, GlobalArgs, Result};
use crate::policy::{self, Chain, ChainEntry, PolicyModule};

/// Arguments of `wicket policy test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The policy module (a `.wasm` component).
    module: PathBuf,
    /// The cases file.
    cases: PathBuf,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Runs every case; exit 0 if all pass, 1 if any fails.
pub fn run(global: &GlobalArgs, args: &TestArgs) -> Result<ExitCode> {
    let file: CasesFile = read_json(&args.cases)?;
    let plans = file.plans(&args.cases)?;
    // Parse every request before running anything: a malformed file is bad input (exit 2).
    let mut inputs = Vec::with_capacity(plans.len());
    for plan in &plans {
        inputs.push(match plan {
            Plan::Decide { identity, request } => Some(parse_request(
                &args.cases,
                (*identity).clone(),
                (*request).clone(),
            )?),
            Plan::SettingsError(_) => None,
        });
    }
    let module = Arc::new(super::load(global, &args.module, args.limits.limits())?);
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for ((case, plan), input) in file.cases.iter().zip(&plans).zip(inputs) {
        let settings = case.settings.as_ref().unwrap_or(&file.settings);
        let problem = match (plan, input) {
            (Plan::SettingsError(want), _) => settings_problem(&module, &case.name, settings, want),
            (Plan::Decide { .. }, Some((identity, request))) => {
                match Chain::new(vec![ChainEntry::new(case.name.clone(), Arc::clone(&module), settings)]) {
                    Err(error) => Some(format!("  settings rejected: {error}\n")),
                    Ok(chain) => {
                        let evaluation = chain.evaluate(&identity, &request);
                        evaluation.modules.first().and_then(|outcome| {
                            compare(&case.expect, outcome)
                                .map(|(expected, actual)| super::diff::render(&expected, &actual))
                        })
                    }
                }
            }
            (Plan::Decide { .. }, None) => Some("  the case has no request\n".into()),
        };
        let line = match &problem {
            None => format!("ok   {}\n", case.name),
            Some(detail) => {
                failed += 1;
                format!("FAIL {}\n{detail}", case.name)
            }
        };
        out.write_all(line.as_bytes()).map_err(Error::Output)?;
    }
    let total = file.cases.len();
    writeln!(out, "\n{} passed, {failed} failed", total - failed).map_err(Error::Output)?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `None` if the module rejects `settings` with a message containing `want`.
fn settings_problem(module: &Arc<PolicyModule>, name: &str, settings: &Value, want: &str) -> Option<String> {
    match Chain::new(vec![ChainEntry::new(name, Arc::clone(module), settings)]) {
        Ok(_) => Some(format!(
            "  expected the settings to be rejected with a message containing `{want}`, but they were accepted\n"
        )),
        Err(policy::Error::Settings { message, .. }) if message.contains(want) => None,
        Err(error) => Some(format!(
            "  expected a settings error containing `{want}`, got: {error}\n"
        )),
    }
}
