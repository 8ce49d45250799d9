//! Fault and latency injection: rules that match requests by verb, resource (+ subresource),
//! namespace and name, on the nth occurrence, the first n, or every time.

use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::rbac::Attributes;

/// Which matching requests a rule fires on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum When {
    /// Every matching request.
    #[default]
    Always,
    /// Only the nth matching request (1-based).
    Nth(u64),
    /// The first n matching requests.
    First(u64),
}

/// What happens to a request a rule fires on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Action {
    /// Answer this `Status` instead of serving the request.
    Fail {
        /// HTTP code.
        code: u16,
        /// Status reason (`InternalError`, `ServiceUnavailable`, ...).
        reason: String,
        /// Status message.
        message: String,
    },
    /// Never answer (until the simulator shuts down).
    Hang,
    /// Wait this long, then serve the request.
    Latency {
        /// Delay in milliseconds.
        millis: u64,
    },
}

/// A fault rule. Unset matchers match everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// Verb as RBAC sees it (`create`, `list`, `get`, `delete`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// `resource` or `resource/subresource` (`serviceaccounts/token`); for non-resource requests, the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Object name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which occurrences.
    #[serde(default)]
    pub when: When,
    /// The effect.
    pub action: Action,
}

impl FaultRule {
    /// A rule firing `action` on every request (narrow it with the builder methods).
    pub fn new(action: Action) -> Self {
        Self {
            verb: None,
            resource: None,
            namespace: None,
            name: None,
            when: When::Always,
            action,
        }
    }

    /// Only this verb.
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_owned());
        self
    }

    /// Only this resource (`pods`, `serviceaccounts/token`).
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_owned());
        self
    }

    /// Only this namespace.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Only this object name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Only these occurrences.
    pub fn when(mut self, when: When) -> Self {
        self.when = when;
        self
    }

    fn matches(&self, a: &Attributes) -> bool {
        let resource = if !a.resource_request {
            a.path.clone()
        } else if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        self.verb.as_ref().is_none_or(|v| *v == a.verb)
            && self.resource.as_ref().is_none_or(|r| *r == resource)
            && self.namespace.as_ref().is_none_or(|n| *n == a.namespace)
            && self.name.as_ref().is_none_or(|n| *n == a.name)
    }
}

/// An installed rule, as listed by the admin endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// Id to remove it with.
    pub id: u64,
    /// How many matching requests it has seen.
    pub seen: u64,
    /// The rule.
    pub rule: FaultRule,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    rules: Vec<Installed>,
}

/// The fault rules of one simulator; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Inner>>);

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Installs a rule and returns its id.
    pub fn add(&self, rule: FaultRule) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.rules.push(Installed { id, seen: 0, rule });
        id
    }

    /// Removes one rule; false if there was none with this id.
    pub fn remove(&self, id: u64) -> bool {
        let mut inner = self.lock();
        let before = inner.rules.len();
        inner.rules.retain(|r| r.id != id);
        inner.rules.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// The installed rules.
    pub fn list(&self) -> Vec<Installed> {
        self.lock().rules.clone()
    }

    /// Counts this request against every matching rule and returns the actions that fire.
    pub fn fire(&self, attrs: &Attributes) -> Vec<Action> {
        let mut inner = self.lock();
        let mut out = Vec::new();
        for r in inner.rules.iter_mut().filter(|r| r.rule.matches(attrs)) {
            r.seen += 1;
            let fires = match r.rule.when {
                When::Always => true,
                When::Nth(n) => r.seen == n,
                When::First(n) => r.seen <= n,
            };
            if fires {
                out.push(r.rule.action.clone());
            }
        }
        out
    }
}
