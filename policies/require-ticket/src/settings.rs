//! The settings of `require-ticket`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use regex_automata_alloc::nfa::thompson::{self, WhichCaptures, pikevm::PikeVM};
use regex_automata_alloc::util::syntax;
use wicket_sdk::NamePattern;
use wicket_sdk::serde::Deserialize;

/// Where a ticket is required, what a ticket looks like, and who approves without one.
#[derive(Debug, Clone, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Settings {
    /// Cluster names or patterns (`*`, `prefix*`) in scope; empty (the default) means every
    /// cluster.
    #[serde(default)]
    pub clusters: Vec<NamePattern>,
    /// Namespace names or patterns in scope; empty (the default) means every namespace. A
    /// request is in scope when one of its namespaces is, or when it asks for cluster rules.
    #[serde(default)]
    pub namespaces: Vec<NamePattern>,
    /// The regular expression a ticket reference matches, e.g. `\b(INC|CHG)-[0-9]+\b`.
    pub ticket_pattern: TicketPattern,
    /// Members of these groups may approve a request without a ticket.
    #[serde(default)]
    pub approver_groups: Vec<String>,
    /// These subjects may approve a request without a ticket.
    #[serde(default)]
    pub approver_subjects: Vec<String>,
    /// How many distinct approvers are needed; default 1.
    #[serde(default = "one")]
    pub approvals: u32,
}

fn one() -> u32 {
    1
}

/// A compiled ticket pattern. Matching is ASCII: `\d` is `[0-9]`, `\w` is `[0-9A-Za-z_]`,
/// `\b` an ASCII word boundary; the pattern may match anywhere in the text (anchor it with
/// `^`/`$` to require more).
///
/// A policy instance is fresh for every decision, so the pattern is compiled on every
/// decision: it is compiled straight to a Pike VM, the one engine it is run with, which takes
/// half the time of the meta engine's build (that also plans engines this policy never uses),
/// without capture groups (only whether it matches is asked).
#[derive(Debug, Clone, Deserialize)]
#[serde(crate = "wicket_sdk::serde", try_from = "String")]
pub struct TicketPattern {
    source: String,
    regex: PikeVM,
}

impl TryFrom<String> for TicketPattern {
    type Error = String;

    fn try_from(source: String) -> Result<Self, String> {
        let regex = PikeVM::builder()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            // only "does it match": no capture group beyond the whole match
            .thompson(thompson::Config::new().which_captures(WhichCaptures::Implicit))
            .build(&source)
            .map_err(|e| {
                format!("`ticket_pattern` `{source}` is not a valid regular expression: {e}")
            })?;
        Ok(Self { source, regex })
    }
}

impl TicketPattern {
    /// Whether `text` cites a ticket.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(&mut self.regex.create_cache(), text)
    }

    /// The pattern as written in the settings.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl Settings {
    /// Checks what the types cannot: a pattern that an empty reason does not match, somebody
    /// to approve, at least one approval (patterns are checked as they are read).
    pub fn validate(&self) -> Result<(), String> {
        if self.ticket_pattern.is_match("") {
            return Err(format!(
                "`ticket_pattern` `{}` matches an empty reason, so it requires nothing",
                self.ticket_pattern.as_str()
            ));
        }
        if self.approver_groups.is_empty() && self.approver_subjects.is_empty() {
            return Err("name `approver_groups` or `approver_subjects`".into());
        }
        if self.approvals == 0 {
            return Err("`approvals` must be at least 1".into());
        }
        Ok(())
    }

    /// Whether a request for `cluster` and `namespaces` (and cluster rules, when
    /// `cluster_rules`) needs a ticket.
    pub fn in_scope(&self, cluster: &str, namespaces: &[String], cluster_rules: bool) -> bool {
        let cluster_listed =
            self.clusters.is_empty() || self.clusters.iter().any(|p| p.matches(cluster));
        let namespace_listed = self.namespaces.is_empty()
            || cluster_rules
            || namespaces
                .iter()
                .any(|ns| self.namespaces.iter().any(|p| p.matches(ns)));
        cluster_listed && namespace_listed
    }
}
