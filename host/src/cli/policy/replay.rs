//! `wicket policy replay <module> [--entry NAME] [--settings F] [--since T] [--config F | --data DIR]`:
//! decides the requests recorded in the audit log again with a candidate module and reports
//! every request whose decision would change, against what the chain entry it would replace
//! decided then.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use jiff::Timestamp;
use serde_json::Value;

use super::LimitArgs;
use super::files::read_settings;
use crate::audit::{AuditEvent, Details};
use crate::cli::{Error, GlobalArgs, Result};
use crate::config::DataConfig;
use crate::config::{Config, duration};
use crate::domain::{AccessRequest, Decision, ModuleVerdict};
use crate::policy::{Chain, ChainEntry, ModuleResult, Stop};
use crate::store;

/// Arguments of `wicket policy replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The candidate module (a `.wasm` component).
    module: PathBuf,
    /// The chain entry whose recorded decisions the candidate is compared with [default:
    /// with `--config`, the entry whose `module` or `candidate` has this file name].
    #[arg(long)]
    entry: Option<String>,
    /// The candidate's settings (JSON) [default: with `--config`, that entry's settings;
    /// otherwise `{}`].
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Only requests recorded since this time (RFC 3339, e.g. `2026-11-21T00:00:00Z`) or
    /// this long ago (e.g. `24h`).
    #[arg(long)]
    since: Option<String>,
    /// The service's configuration (its store, and the entry's settings).
    #[arg(long, conflicts_with = "data")]
    config: Option<PathBuf>,
    /// The data directory (or database file) holding the audit log.
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// One recorded request, as the policies saw it, and what the entry decided then.
struct Recorded {
    subject: String,
    request: AccessRequest,
    identity: crate::domain::Identity,
    before: Option<ModuleResult>,
}

/// Replays; exit 0 if no decision changes, 1 if any does.
pub fn run(global: &GlobalArgs, args: &ReplayArgs) -> Result<ExitCode> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let database = match (&config, &args.data) {
        (Some(config), _) => config.data.clone(),
        (None, Some(data)) => DataConfig {
            path: data.clone(),
            postgres: None,
        },
        (None, None) => {
            return Err(Error::Invalid(
                "give `--config` or `--data` to name the audit log to replay".into(),
            ));
        }
    };
    let entry = entry_name(args, config.as_ref())?;
    let settings = match (&args.settings, &config) {
        (Some(path), _) => read_settings(path)?,
        (None, Some(config)) => configured_settings(config, &entry, &args.module).to_string(),
        (None, None) => String::from("{}"),
    };
    let module = Arc::new(super::load(global, &args.module, args.limits.limits())?);
    let chain = Chain::new(vec![ChainEntry::with_settings_text(
        entry.clone(),
        module,
        settings,
    )])?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Output)?;
    let (recorded, skipped) = runtime.block_on(read_recorded(&database, &entry, since))?;
    let mut out = std::io::stdout().lock();
    let mut changed = 0;
    let mut unreached = 0;
    for record in &recorded {
        // The entry did not run then: its verdict could not have counted, so there is
        // nothing to compare.
        if matches!(record.before, Some(ModuleResult::Skipped { .. })) {
            unreached += 1;
            continue;
        }
        let evaluation = chain.evaluate(&record.identity, &record.request);
        let Some(after) = evaluation.modules.into_iter().next() else {
            continue;
        };
        let unchanged = record
            .before
            .as_ref()
            .is_some_and(|before| before.decides_like(&after.result));
        if unchanged {
            continue;
        }
        changed += 1;
        writeln!(
            out,
            "{} {} {}: {} -> {}",
            record.request.id,
            record.subject,
            asked(&record.request),
            record
                .before
                .as_ref()
                .map_or("not decided by this entry".into(), summary),
            summary(&after.result)
        )
        .map_err(Error::Output)?;
    }
    writeln!(
        out,
        "replayed {} requests against `{entry}`: {changed} changed, {} unchanged{}{}",
        recorded.len() - unreached,
        recorded.len() - unreached - changed,
        if unreached > 0 {
            format!(" ({unreached} not reached then: an earlier module denied them)")
        } else {
            String::new()
        },
        if skipped > 0 {
            format!(" ({skipped} recorded without the requester's identity skipped)")
        } else {
            String::new()
        }
    )
    .map_err(Error::Output)?;
    Ok(if changed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_since(text: &str) -> Result<Timestamp> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    let ago = duration::parse(text).map_err(|_| {
        Error::Invalid(format!(
            "`--since` `{text}` is neither a time (RFC 3339) nor a duration such as `24h`"
        ))
    })?;
    jiff::SignedDuration::try_from(ago)
        .ok()
        .and_then(|ago| Timestamp::now().checked_sub(ago).ok())
        .ok_or_else(|| Error::Invalid(format!("`--since` `{text}` is out of range")))
}

/// `--entry`, or the one configured entry running a file of the module's name.
fn entry_name(args: &ReplayArgs, config: Option<&Config>) -> Result<String> {
    if let Some(entry) = &args.entry {
        return Ok(entry.clone());
    }
    let name = args.module.file_name();
    let mut found: Vec<&str> = config
        .iter()
        .flat_map(|c| &c.clusters)
        .flat_map(|c| &c.policies)
        .filter(|p| {
            p.module.file_name() == name
                || p.candidate.as_ref().is_some_and(|c| c.file_name() == name)
        })
        .map(|p| p.name.as_str())
        .collect();
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [one] => Ok((*one).to_owned()),
        _ => Err(Error::Invalid(
            "name the chain entry to compare with, with `--entry`".into(),
        )),
    }
}

/// The settings `config` gives `entry` when it runs `module` (its candidate settings when
/// `module` is its candidate).
fn configured_settings(config: &Config, entry: &str, module: &Path) -> Value {
    let policy = config
        .clusters
        .iter()
        .flat_map(|c| &c.policies)
        .find(|p| p.name == entry);
    let settings = policy.map(|p| {
        let is_candidate = p
            .candidate
            .as_ref()
            .is_some_and(|c| c.file_name() == module.file_name());
        match (&p.candidate_settings, is_candidate) {
            (Some(candidate), true) => candidate.clone(),
            _ => p.settings.clone(),
        }
    });
    Value::Object(settings.unwrap_or_default())
}

/// Every request recorded with its requester's identity (since `since`), with `entry`'s
/// recorded decision; and how many were recorded without an identity.
async fn read_recorded(
    database: &DataConfig,
    entry: &str,
    since: Option<Timestamp>,
) -> Result<(Vec<Recorded>, usize)> {
    let store = store::open_existing(database).await?;
    let mut received: Vec<(String, Recorded)> = Vec::new();
    let mut verdicts: HashMap<String, Vec<ModuleVerdict>> = HashMap::new();
    let mut skipped = 0;
    let mut after = 0;
    loop {
        let events = store.audit_events(after, 1000).await?;
        let Some(last) = events.last() else { break };
        after = last.seq;
        for event in events {
            if since.is_some_and(|since| event.time < since) {
                continue;
            }
            match recorded(&event) {
                Event::Request(id, record) => received.push((id, *record)),
                Event::WithoutIdentity => skipped += 1,
                Event::Other => {
                    if let (Some(id), Ok(Details::Verdict { modules, .. })) = (
                        &event.request_id,
                        serde_json::from_value::<Details>(event.details.clone()),
                    ) {
                        verdicts.insert(id.clone(), modules);
                    }
                }
            }
        }
    }
    store.close().await;
    let recorded = received
        .into_iter()
        .map(|(id, mut record)| {
            record.before = verdicts
                .get(&id)
                .and_then(|modules| modules.iter().find(|m| m.module == entry))
                .map(|m| match (&m.decision, &m.error, &m.skipped_after) {
                    (Some(decision), ..) => ModuleResult::Decided {
                        decision: decision.clone(),
                    },
                    (None, None, Some(after)) => ModuleResult::Skipped {
                        after: after.clone(),
                        because: stop_of(verdicts.get(&id), after),
                    },
                    (None, error, _) => ModuleResult::Failed {
                        error: error.clone().unwrap_or_default(),
                        returned: None,
                    },
                });
            record
        })
        .collect();
    Ok((recorded, skipped))
}

/// What an audit event is to a replay.
enum Event {
    /// A request to replay, by id.
    Request(String, Box<Recorded>),
    /// A request recorded before identities were kept.
    WithoutIdentity,
    /// Anything else.
    Other,
}

fn recorded(event: &AuditEvent) -> Event {
    let (true, Some(id)) = (event.kind == "request_received", event.request_id.clone()) else {
        return Event::Other;
    };
    let Ok(Details::RequestReceived {
        cluster,
        namespaces,
        access,
        cluster_rules,
        duration_seconds,
        reason,
        context,
        identity,
        requested_at,
    }) = serde_json::from_value::<Details>(event.details.clone())
    else {
        return Event::WithoutIdentity;
    };
    let Some(identity) = identity else {
        return Event::WithoutIdentity;
    };
    Event::Request(
        id.clone(),
        Box::new(Recorded {
            subject: identity.subject.clone(),
            request: AccessRequest {
                id,
                cluster,
                namespaces,
                access,
                cluster_rules,
                duration_seconds,
                reason,
                context,
                requested_at: requested_at.unwrap_or(event.time),
                evaluated_at: requested_at.unwrap_or(event.time),
                extends: None,
            },
            identity,
            before: None,
        }),
    )
}

/// What was asked, e.g. `dev orders/view 600s`.
fn asked(request: &AccessRequest) -> String {
    let access = match &request.access {
        crate::domain::Access::Role(role) => role.clone(),
        crate::domain::Access::Rules(rules) => format!("{} rules", rules.len()),
    };
    format!(
        "{} {}/{} {}s",
        request.cluster,
        request.namespaces.join(","),
        access,
        request.duration_seconds
    )
}

/// A decision on one line: `allow 600s`, `deny (reason)`, `needs-approval 600s`,
/// `abstain (reason)`, `failed (error)`.
fn summary(result: &ModuleResult) -> String {
    match result {
        ModuleResult::Decided { decision } => match decision {
            Decision::Allow { grant } => format!("allow {}s", grant.ttl_seconds),
            Decision::Deny { reason } => format!("deny ({reason})"),
            Decision::NeedsApproval { approval } => {
                format!("needs-approval {}s", approval.grant.ttl_seconds)
            }
            Decision::Abstain { reason } => format!("abstain ({reason})"),
        },
        ModuleResult::Failed { error, .. } => format!("failed ({error})"),
        ModuleResult::Skipped {
            after,
            because: Stop::Deny,
        } => format!("skipped (`{after}` denied before it)"),
        ModuleResult::Skipped {
            after,
            because: Stop::Sufficient,
        } => format!("skipped (`{after}` allowed before it, which was enough)"),
    }
}

/// How the recorded entry `after` ended its chain: by a sufficient allow if it allowed,
/// otherwise by a deny.
fn stop_of(modules: Option<&Vec<ModuleVerdict>>, after: &str) -> Stop {
    let allowed = modules
        .and_then(|modules| modules.iter().find(|m| m.module == after))
        .is_some_and(|m| matches!(m.decision, Some(Decision::Allow { .. })));
    if allowed {
        Stop::Sufficient
    } else {
        Stop::Deny
    }
}
