//! `wicket policy test <module> <cases.json>`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::LimitArgs;
use super::files::read_json;
use crate::cli::{Error, GlobalArgs, Result};
use crate::policy::cases::{CasesFile, Problem};

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
    // Check the file before loading anything: a malformed file is bad input (exit 2).
    file.plans(&args.cases)?;
    let module = Arc::new(super::load(global, &args.module, args.limits.limits())?);
    let reports = file.run(&args.cases, &module)?;
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for report in &reports {
        let line = match &report.problem {
            None => format!("ok   {}\n", report.name),
            Some(problem) => {
                failed += 1;
                let detail = match problem {
                    Problem::Mismatch { expected, actual } => super::diff::render(expected, actual),
                    other => format!("  {other}\n"),
                };
                format!("FAIL {}\n{detail}", report.name)
            }
        };
        out.write_all(line.as_bytes()).map_err(Error::Output)?;
    }
    let total = reports.len();
    writeln!(out, "\n{} passed, {failed} failed", total - failed).map_err(Error::Output)?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
