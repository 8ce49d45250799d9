//! `wicket policy eval <module> --settings <file> --request <file>`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::LimitArgs;
use super::files::{RequestFile, parse_request, read_json};
use crate::cli::{Error, GlobalArgs, Result};
use crate::policy::{Chain, ChainEntry};

/// Arguments of `wicket policy eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The policy module (a `.wasm` component).
    module: PathBuf,
    /// The module's settings (any JSON value).
    #[arg(long)]
    settings: PathBuf,
    /// The request file: `{"identity": {...}, "request": {...}}`.
    #[arg(long)]
    request: PathBuf,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Validates the settings, decides the request and prints the evaluation as JSON.
pub fn run(global: &GlobalArgs, args: &EvalArgs) -> Result<ExitCode> {
    let settings: serde_json::Value = read_json(&args.settings)?;
    let file: RequestFile = read_json(&args.request)?;
    let (identity, request) = parse_request(&args.request, file.identity, file.request)?;
    let module = super::load(global, &args.module, args.limits.limits())?;
    let name = module.name().to_owned();
    let chain = Chain::new(vec![ChainEntry::new(name, Arc::new(module), &settings)])?;
    let evaluation = chain.evaluate(&identity, &request);
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &evaluation)
        .map_err(std::io::Error::other)
        .and_then(|()| writeln!(out))
        .map_err(Error::Output)?;
    Ok(ExitCode::SUCCESS)
}
