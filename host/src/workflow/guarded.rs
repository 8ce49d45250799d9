//! The cluster's guardrails around its policy chain: a request asking for anything never
//! granted there is denied before any policy runs, and a verdict whose grant crosses them
//! (including one that may run pods where Pod Security is not enforced) is denied before
//! anything is provisioned. Anything that cannot be checked (discovery or a
//! ClusterRole unreadable) refuses: the guardrails fail closed.

use std::collections::HashMap;

use super::Workflow;
use crate::guard::{self, Guardrails, PodSecurity, Scope, Violation, pod_security};
use crate::policy::Verdict;
use crate::policy::types::{Access, AccessRequest, Grant, Rule};

impl Workflow {
    pub(super) fn guardrails(&self, cluster: &str) -> Result<&Guardrails, String> {
        self.inner
            .clusters
            .guardrails(cluster)
            .ok_or_else(|| format!("cluster `{cluster}` has no guardrails"))
    }

    /// Why `request` is refused before any policy runs, if it is.
    pub(super) async fn refuse_request(&self, request: &AccessRequest) -> Option<String> {
        let checked = async {
            self.inner.clusters.reviewed(&request.cluster).await?;
            let guardrails = self.guardrails(&request.cluster)?;
            guardrails
                .check_request(request)
                .map_err(|v| v.to_string())?;
            self.check_scopes(&request.cluster, &request.cluster_rules)
                .await
        };
        checked
            .await
            .err()
            .map(|why| refused(&request.cluster, &why))
    }

    /// Why the grant of `decision` is refused, if it is: the guardrails again (defence in
    /// depth under the request check), the cluster rules' scopes, and the rules of the
    /// ClusterRoles its roles bind, read now.
    pub(super) async fn refuse_grant(&self, cluster: &str, decision: &Verdict) -> Option<String> {
        let grant = match decision {
            Verdict::Allow { grant } | Verdict::NeedsApproval { grant, .. } => grant,
            Verdict::Deny { .. } => return None,
        };
        let checked = async {
            let guardrails = self.guardrails(cluster)?;
            guardrails.check_grant(grant).map_err(|v| v.to_string())?;
            self.check_scopes(cluster, &grant.cluster_rules).await?;
            let role_rules = self.check_bound_roles(cluster, guardrails, grant).await?;
            self.check_pod_security(cluster, guardrails, grant, &role_rules)
                .await
        };
        checked.await.err().map(|why| refused(cluster, &why))
    }

    async fn check_scopes(&self, cluster: &str, cluster_rules: &[Rule]) -> Result<(), String> {
        let mut scopes: HashMap<(&str, &str), Option<Scope>> = HashMap::new();
        for (group, resource) in cluster_rules.iter().flat_map(guard::resources) {
            if scopes.contains_key(&(group, resource)) {
                continue;
            }
            let scope = self
                .inner
                .clusters
                .resource_scope(cluster, group, resource)
                .await
                .map_err(|e| format!("cannot check cluster rules against discovery: {e}"))?;
            scopes.insert((group, resource), scope);
        }
        Guardrails::check_scopes(cluster_rules, |group, resource| {
            scopes.get(&(group, resource)).copied().flatten()
        })
        .map_err(|v| v.to_string())
    }

    /// Checks the ClusterRole behind each role `grant` binds; their rules, by role.
    async fn check_bound_roles<'g>(
        &self,
        cluster: &str,
        guardrails: &Guardrails,
        grant: &'g Grant,
    ) -> Result<HashMap<&'g str, Vec<Rule>>, String> {
        let mut checked: HashMap<&str, Vec<Rule>> = HashMap::new();
        for ns in &grant.namespaces {
            let Access::Role(role) = &ns.access else {
                continue;
            };
            if checked.contains_key(role.as_str()) {
                continue;
            }
            let cluster_role = guardrails.cluster_role(role).map_err(|v| v.to_string())?;
            let rules = self
                .inner
                .clusters
                .cluster_role_rules(cluster, cluster_role)
                .await
                .map_err(|e| format!("cannot read ClusterRole `{cluster_role}`: {e}"))?
                .ok_or_else(|| {
                    format!("ClusterRole `{cluster_role}` (role `{role}`) does not exist")
                })?;
            guardrails
                .check_bindable(role, cluster_role, &rules)
                .map_err(|v| v.to_string())?;
            checked.insert(role, rules);
        }
        Ok(checked)
    }

    /// Refuses a grant that may run pods in a namespace not enforcing the cluster's Pod
    /// Security level (a privileged pod reaches the node and every token on it).
    async fn check_pod_security(
        &self,
        cluster: &str,
        guardrails: &Guardrails,
        grant: &Grant,
        role_rules: &HashMap<&str, Vec<Rule>>,
    ) -> Result<(), String> {
        let required = guardrails.pod_security();
        if required == PodSecurity::Off {
            return Ok(());
        }
        for ns in &grant.namespaces {
            let rules = match &ns.access {
                Access::Role(role) => role_rules.get(role.as_str()).map_or(&[][..], Vec::as_slice),
                Access::Rules(rules) => rules.as_slice(),
            };
            if !pod_security::runs_pods(rules) {
                continue;
            }
            let labels = self
                .inner
                .clusters
                .namespace_labels(cluster, &ns.namespace)
                .await
                .map_err(|e| format!("cannot read namespace `{}`: {e}", ns.namespace))?
                .unwrap_or_default();
            if !required.enforced_by(&labels) {
                return Err(Violation::PodSecurity {
                    namespace: ns.namespace.clone(),
                    required,
                }
                .to_string());
            }
        }
        Ok(())
    }
}

fn refused(cluster: &str, why: &str) -> String {
    format!("refused by the guardrails of cluster `{cluster}`: {why}")
}
