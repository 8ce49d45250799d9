//! `wicket policy check <module>`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use crate::cli::{Error, GlobalArgs, Result};
use crate::policy::{Limits, World};

/// Arguments of `wicket policy check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy module (a `.wasm` component).
    module: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    module: String,
    world: World,
    world_name: String,
    size: usize,
    sha256: &'a str,
    imports: &'a [String],
    exports: &'a [String],
}

/// Loads the module (which checks its world and links it) and describes it.
pub fn run(global: &GlobalArgs, args: &CheckArgs) -> Result<ExitCode> {
    let module = super::load(global, &args.module, Limits::default())?;
    let report = Report {
        module: args.module.display().to_string(),
        world: module.world(),
        world_name: module.world_name(),
        size: module.size(),
        sha256: module.digest(),
        imports: module.imports(),
        exports: module.exports(),
    };
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        let list = |items: &[String]| {
            if items.is_empty() {
                "(none)".to_owned()
            } else {
                items.join("\n         ")
            }
        };
        writeln!(
            out,
            "module:  {}\nworld:   {}\nsize:    {} bytes\nsha256:  {}\nimports: {}\nexports: {}",
            report.module,
            report.world_name,
            report.size,
            report.sha256,
            list(report.imports),
            list(report.exports),
        )
    };
    written.map_err(Error::Output)?;
    Ok(ExitCode::SUCCESS)
}
