//! What the guardrails need to know of a cluster: whether a resource is namespaced or
//! cluster-scoped (from the API server's discovery, cached per API group for a while), the
//! rules of a ClusterRole Wicket binds, and a namespace's labels (its Pod Security level).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;

use super::error::{ApiError, Error, Result};
use super::target::ClusterTarget;
use crate::domain::Rule;
use crate::guard::Scope;

/// How long one API group's discovery answer is believed.
const FRESH_FOR: Duration = Duration::from_secs(300);

/// Discovery answers by API group: when fetched, and each resource's scope.
pub(crate) type DiscoveryCache = Arc<Mutex<HashMap<String, (Instant, HashMap<String, Scope>)>>>;

impl ClusterTarget {
    /// Whether `resource` (no subresource) of API group `group` (`""`: core) is namespaced or
    /// cluster-scoped; `None` when the cluster does not serve it.
    pub async fn resource_scope(&self, group: &str, resource: &str) -> Result<Option<Scope>> {
        let cached = {
            let cache = self
                .discovery
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            cache
                .get(group)
                .filter(|(at, _)| at.elapsed() < FRESH_FOR)
                .map(|(_, scopes)| scopes.get(resource).copied())
        };
        if let Some(scope) = cached {
            return Ok(scope);
        }
        let scopes = self.discover(group).await.map_err(|e| Error::Discovery {
            cluster: self.name.clone(),
            group: group.to_owned(),
            source: ApiError::from(e),
        })?;
        let scope = scopes.get(resource).copied();
        self.discovery
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(group.to_owned(), (Instant::now(), scopes));
        Ok(scope)
    }

    async fn discover(&self, group: &str) -> kube::Result<HashMap<String, Scope>> {
        let list = if group.is_empty() {
            self.client.list_core_api_resources("v1").await?
        } else {
            let groups = self.client.list_api_groups().await?;
            let version = groups
                .groups
                .iter()
                .find(|g| g.name == group)
                .and_then(|g| {
                    g.preferred_version
                        .as_ref()
                        .or_else(|| g.versions.first())
                        .map(|v| v.group_version.clone())
                });
            match version {
                Some(version) => self.client.list_api_group_resources(&version).await?,
                None => return Ok(HashMap::new()),
            }
        };
        Ok(list
            .resources
            .into_iter()
            .filter(|r| !r.name.contains('/'))
            .map(|r| {
                let scope = if r.namespaced {
                    Scope::Namespaced
                } else {
                    Scope::Cluster
                };
                (r.name, scope)
            })
            .collect())
    }

    /// The labels of namespace `name`; `None` when there is no such namespace.
    pub async fn namespace_labels(&self, name: &str) -> Result<Option<BTreeMap<String, String>>> {
        let api = Api::<Namespace>::all(self.client.clone());
        let namespace = api.get_opt(name).await.map_err(|e| Error::ReadNamespace {
            cluster: self.name.clone(),
            name: name.to_owned(),
            source: ApiError::from(e),
        })?;
        Ok(namespace.map(|ns| ns.metadata.labels.unwrap_or_default()))
    }

    /// The resource rules of ClusterRole `name`; `None` when there is no such ClusterRole.
    /// (Non-resource URL rules are left out: a RoleBinding cannot grant them.)
    pub async fn cluster_role_rules(&self, name: &str) -> Result<Option<Vec<Rule>>> {
        let api = Api::<ClusterRole>::all(self.client.clone());
        let role = api.get_opt(name).await.map_err(|e| Error::ReadRole {
            cluster: self.name.clone(),
            name: name.to_owned(),
            source: ApiError::from(e),
        })?;
        Ok(role.map(|role| {
            role.rules
                .unwrap_or_default()
                .into_iter()
                .filter(|rule| rule.non_resource_urls.as_ref().is_none_or(Vec::is_empty))
                .map(|rule| Rule {
                    api_groups: rule.api_groups.unwrap_or_default(),
                    resources: rule.resources.unwrap_or_default(),
                    verbs: rule.verbs,
                    resource_names: rule.resource_names.unwrap_or_default(),
                })
                .collect()
        }))
    }
}
