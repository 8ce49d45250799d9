//! The cluster's guardrails around its policy chain: a request asking for anything never
//! granted there is denied before any policy runs, and a verdict whose grant crosses them is
//! denied before anything is provisioned. Anything that cannot be checked (discovery or a
//! ClusterRole unreadable) refuses: the guardrails fail closed.

use std::collections::HashMap;

use super::Workflow;
use crate::guard::{self, Guardrails, Scope};
use crate::policy::types::{Access, AccessRequest, Decision, Grant, Rule};

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
    pub(super) async fn refuse_grant(&self, cluster: &str, decision: &Decision) -> Option<String> {
        let grant = match decision {
            Decision::Allow { grant } => grant,
            Decision::NeedsApproval { approval } => &approval.grant,
            Decision::Deny { .. } => return None,
        };
        let checked = async {
            let guardrails = self.guardrails(cluster)?;
            guardrails.check_grant(grant).map_err(|v| v.to_string())?;
            self.check_scopes(cluster, &grant.cluster_rules).await?;
            self.check_bound_roles(cluster, guardrails, grant).await
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

    async fn check_bound_roles(
        &self,
        cluster: &str,
        guardrails: &Guardrails,
        grant: &Grant,
    ) -> Result<(), String> {
        let mut checked: Vec<&str> = Vec::new();
        for ns in &grant.namespaces {
            let Access::Role(role) = &ns.access else {
                continue;
            };
            if checked.contains(&role.as_str()) {
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
            checked.push(role);
        }
        Ok(())
    }
}

fn refused(cluster: &str, why: &str) -> String {
    format!("refused by the guardrails of cluster `{cluster}`: {why}")
}
