//! `wicket policy test <module> <cases.json>`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::LimitArgs;
use super::files::read_json;
use crate::cli::{Error, GlobalArgs, Result};
use crate::policy::cases::{self, CasesFile};

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
    cases::check(&args.cases, &file)?;
    let module = Arc::new(super::load(global, &args.module, args.limits.limits())?);
    let reports = cases::run(&args.cases, &file, &module)?;
    let mut out = std::io::stdout().lock();
    out.write_all(cases::render_reports(&reports).as_bytes())
        .map_err(Error::Output)?;
    Ok(if reports.iter().all(|report| report.problem.is_none()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
