//! Provisioning a grant: ServiceAccount → per namespace (Role +) RoleBinding → ClusterRole +
//! ClusterRoleBinding for cluster-scoped rules → TokenRequest. Idempotent (a retry adopts the
//! objects an earlier attempt created for the same request) and all-or-nothing (a failed step
//! rolls back, in reverse order, every object the call created or adopted).

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::PostParams;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::credential::Credential;
use super::error::{ApiError, Error, ProvisionFailure, ProvisionStep, Result, StepFailure};
use super::names::{
    Claim, FIELD_MANAGER, Owner, REQUEST_LABEL, object_name, validate_namespace,
    validate_request_id, validate_role_name,
};
use super::objects::{self, Content};
use super::target::ClusterTarget;
use crate::domain::{Access, Grant, Kind, ObjectRef};

/// What to provision for one allowed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionSpec {
    /// The id of the installation provisioning it (a label value: it labels every object,
    /// with the target's name as the cluster entry).
    pub installation: String,
    /// The request's id (a label value: it names and labels every object).
    pub request_id: String,
    /// Who asked (the token's subject); an annotation on every object.
    pub requester: String,
    /// Why, in the requester's words; an annotation on every object.
    pub reason: String,
    /// When the grant ends; an annotation on every object, and the token's lifetime.
    pub expires_at: Timestamp,
    /// The access to provision, exactly.
    pub grant: Grant,
}

/// Whether a step created its object or found it from an earlier attempt of the same request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Created by this call.
    Created,
    /// Already there, labelled for this request by this installation's cluster entry, and with
    /// the same content.
    Adopted,
}

/// One object put in place, for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    /// The step.
    pub step: ProvisionStep,
    /// The object.
    pub object: ObjectRef,
    /// Created or adopted.
    pub outcome: Outcome,
}

/// A provisioned grant.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The ServiceAccount every binding names.
    pub service_account: ObjectRef,
    /// Every object, in the order it was put in place.
    pub objects: Vec<StepRecord>,
    /// The first credential.
    pub credential: Credential,
}

/// A failed step: which, on what, why.
type Failed = (ProvisionStep, ObjectRef, StepFailure);

impl ClusterTarget {
    /// Provisions `spec`'s grant and issues its first credential. On any failure, every object this
    /// call created or adopted is deleted again in reverse order and the error names the failed step.
    #[tracing::instrument(skip_all, fields(cluster = %self.name, request_id = %spec.request_id))]
    pub async fn provision(&self, spec: &ProvisionSpec) -> Result<Provisioned> {
        validate(spec)?;
        let owner = Owner::new(&spec.installation, &self.name)?;
        let name = object_name(&spec.request_id);
        let mut done = Vec::new();
        match self.provision_steps(spec, &owner, &name, &mut done).await {
            Ok(credential) => {
                tracing::info!(objects = done.len(), "grant provisioned");
                let service_account = ObjectRef::service_account(&self.jit_namespace, &name);
                Ok(Provisioned {
                    service_account,
                    objects: done,
                    credential,
                })
            }
            Err((step, object, source)) => {
                tracing::warn!(%step, %object, error = %source, "provisioning failed, rolling back");
                let (rolled_back, left_behind) = self.roll_back(&done).await;
                let failure = ProvisionFailure {
                    step,
                    object,
                    rolled_back,
                    left_behind,
                    source,
                };
                Err(Error::Provision(Box::new(failure)))
            }
        }
    }

    async fn provision_steps(
        &self,
        spec: &ProvisionSpec,
        owner: &Owner,
        name: &str,
        done: &mut Vec<StepRecord>,
    ) -> Result<Credential, Failed> {
        let jit = self.jit_namespace.as_str();
        let account = objects::service_account(spec, owner, jit, name);
        let api = Api::namespaced(self.client.clone(), jit);
        self.step(
            api,
            &account,
            (spec, owner),
            ProvisionStep::ServiceAccount,
            ObjectRef::service_account(jit, name),
            done,
        )
        .await?;

        for ns_grant in &spec.grant.namespaces {
            let ns = ns_grant.namespace.as_str();
            let role_ref = match &ns_grant.access {
                Access::Role(cluster_role) => objects::role_ref(Kind::ClusterRole, cluster_role),
                Access::Rules(rules) => {
                    let role = objects::role(spec, owner, ns, name, rules);
                    let api = Api::<Role>::namespaced(self.client.clone(), ns);
                    self.step(
                        api,
                        &role,
                        (spec, owner),
                        ProvisionStep::Role,
                        ObjectRef::role(ns, name),
                        done,
                    )
                    .await?;
                    objects::role_ref(Kind::Role, name)
                }
            };
            let binding = objects::role_binding(spec, owner, ns, name, role_ref, jit);
            let api = Api::<RoleBinding>::namespaced(self.client.clone(), ns);
            self.step(
                api,
                &binding,
                (spec, owner),
                ProvisionStep::RoleBinding,
                ObjectRef::role_binding(ns, name),
                done,
            )
            .await?;
        }

        if !spec.grant.cluster_rules.is_empty() {
            let role = objects::cluster_role(spec, owner, name);
            let api = Api::<ClusterRole>::all(self.client.clone());
            self.step(
                api,
                &role,
                (spec, owner),
                ProvisionStep::ClusterRole,
                ObjectRef::cluster_role(name),
                done,
            )
            .await?;
            let binding = objects::cluster_role_binding(spec, owner, name, jit);
            let api = Api::<ClusterRoleBinding>::all(self.client.clone());
            let object = ObjectRef::cluster_role_binding(name);
            self.step(
                api,
                &binding,
                (spec, owner),
                ProvisionStep::ClusterRoleBinding,
                object,
                done,
            )
            .await?;
        }

        let namespace = spec.grant.namespaces.first().map(|g| g.namespace.clone());
        self.mint(name, namespace, remaining(spec.expires_at))
            .await
            .map_err(|failure| {
                (
                    ProvisionStep::TokenRequest,
                    ObjectRef::service_account(jit, name),
                    failure,
                )
            })
    }

    /// Runs one step: creates `desired`, or adopts an identical object of the same request.
    async fn step<K>(
        &self,
        api: Api<K>,
        desired: &K,
        (spec, owner): (&ProvisionSpec, &Owner),
        step: ProvisionStep,
        object: ObjectRef,
        done: &mut Vec<StepRecord>,
    ) -> Result<(), Failed>
    where
        K: Resource + Content + Clone + Debug + Serialize + DeserializeOwned,
    {
        match ensure(&api, desired, &object.name, owner, &spec.request_id).await {
            Ok(outcome) => {
                tracing::debug!(%step, %object, ?outcome, "object in place");
                done.push(StepRecord {
                    step,
                    object,
                    outcome,
                });
                Ok(())
            }
            Err(failure) => Err((step, object, failure)),
        }
    }

    /// Deletes `done` in reverse order; returns what was deleted (or already gone) and what was not.
    async fn roll_back(&self, done: &[StepRecord]) -> (Vec<ObjectRef>, Vec<ObjectRef>) {
        let mut rolled_back = Vec::new();
        let mut left_behind = Vec::new();
        for record in done.iter().rev() {
            match self.delete_object(&record.object).await {
                Ok(_) => rolled_back.push(record.object.clone()),
                Err(error) => {
                    tracing::error!(object = %record.object, %error, "rollback failed; the reconciler will remove it");
                    left_behind.push(record.object.clone());
                }
            }
        }
        (rolled_back, left_behind)
    }
}

/// Creates `desired`; on AlreadyExists, adopts the existing object if `owner` made it for
/// `request_id` and it grants the same, else fails.
async fn ensure<K>(
    api: &Api<K>,
    desired: &K,
    name: &str,
    owner: &Owner,
    request_id: &str,
) -> Result<Outcome, StepFailure>
where
    K: Resource + Content + Clone + Debug + Serialize + DeserializeOwned,
{
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_owned()),
    };
    let error = match api.create(&params, desired).await {
        Ok(_) => return Ok(Outcome::Created),
        Err(e) => ApiError::from(e),
    };
    if !error.is_already_exists() {
        return Err(error.into());
    }
    let existing = api.get(name).await.map_err(ApiError::from)?;
    let labels = existing.meta().labels.as_ref();
    let request = labels.and_then(|l| l.get(REQUEST_LABEL));
    if request.map(String::as_str) != Some(request_id) || owner.claim(labels) != Claim::Ours {
        return Err(StepFailure::Foreign);
    }
    if !existing.same_content(desired) {
        return Err(StepFailure::Mismatch);
    }
    Ok(Outcome::Adopted)
}

/// Time left until `expires_at` (zero if past).
fn remaining(expires_at: Timestamp) -> Duration {
    Duration::try_from(expires_at.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO)
}

/// Refuses what cannot be provisioned safely, before anything is written.
fn validate(spec: &ProvisionSpec) -> Result<()> {
    validate_request_id(&spec.request_id)?;
    let invalid = |reason: String| Err(Error::InvalidGrant { reason });
    let Grant {
        namespaces,
        cluster_rules,
        ..
    } = &spec.grant;
    if namespaces.is_empty() && cluster_rules.is_empty() {
        return invalid("the grant gives no access".into());
    }
    if spec.expires_at <= Timestamp::now() {
        return invalid(format!("the grant already ended at `{}`", spec.expires_at));
    }
    let mut seen = BTreeSet::new();
    for g in namespaces {
        validate_namespace(&g.namespace)?;
        if !seen.insert(g.namespace.as_str()) {
            return invalid(format!("namespace `{}` is granted twice", g.namespace));
        }
        match &g.access {
            Access::Role(role) => validate_role_name(role)?,
            Access::Rules(rules) if rules.is_empty() => {
                return invalid(format!("no rules for namespace `{}`", g.namespace));
            }
            Access::Rules(rules) => {
                if rules.iter().any(|r| r.verbs.is_empty()) {
                    return invalid(format!(
                        "a rule for namespace `{}` has no verbs",
                        g.namespace
                    ));
                }
            }
        }
    }
    if cluster_rules.iter().any(|r| r.verbs.is_empty()) {
        return invalid("a cluster rule has no verbs".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::domain::{NamespaceGrant, Rule};

    fn rule(verbs: &[&str]) -> Rule {
        Rule {
            api_groups: vec![String::new()],
            resources: vec!["pods".into()],
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
            resource_names: vec![],
        }
    }

    fn ns(name: &str, access: Access) -> NamespaceGrant {
        NamespaceGrant {
            namespace: name.into(),
            access,
        }
    }

    fn spec(namespaces: Vec<NamespaceGrant>, cluster_rules: Vec<Rule>) -> ProvisionSpec {
        ProvisionSpec {
            installation: "0123456789abcdef0123456789abcdef".into(),
            request_id: "r1".into(),
            requester: "alice".into(),
            reason: "test".into(),
            expires_at: Timestamp::now() + jiff::SignedDuration::from_secs(3600),
            grant: Grant {
                namespaces,
                cluster_rules,
                ttl_seconds: 3600,
            },
        }
    }

    #[rstest]
    #[case::role(spec(vec![ns("payments", Access::Role("edit".into()))], vec![]))]
    #[case::rules(spec(vec![ns("payments", Access::Rules(vec![rule(&["get"])]))], vec![]))]
    #[case::cluster_only(spec(vec![], vec![rule(&["list"])]))]
    #[case::two_namespaces(spec(
        vec![ns("a", Access::Role("view".into())), ns("b", Access::Rules(vec![rule(&["get"])]))],
        vec![],
    ))]
    fn valid_specs_pass(#[case] spec: ProvisionSpec) {
        validate(&spec).unwrap();
    }

    #[rstest]
    #[case::empty(spec(vec![], vec![]), "invalid grant: the grant gives no access")]
    #[case::duplicate(
        spec(vec![ns("a", Access::Role("view".into())), ns("a", Access::Role("edit".into()))], vec![]),
        "invalid grant: namespace `a` is granted twice"
    )]
    #[case::bad_namespace(
        spec(vec![ns("A_B", Access::Role("view".into()))], vec![]),
        "invalid grant: `A_B` is not a valid namespace name"
    )]
    #[case::bad_role(
        spec(vec![ns("a", Access::Role("../admin".into()))], vec![]),
        "invalid grant: `../admin` is not a valid cluster role name"
    )]
    #[case::no_rules(spec(vec![ns("a", Access::Rules(vec![]))], vec![]), "invalid grant: no rules for namespace `a`")]
    #[case::no_verbs(
        spec(vec![ns("a", Access::Rules(vec![rule(&[])]))], vec![]),
        "invalid grant: a rule for namespace `a` has no verbs"
    )]
    #[case::cluster_no_verbs(spec(vec![], vec![rule(&[])]), "invalid grant: a cluster rule has no verbs")]
    fn invalid_specs_are_refused_before_any_write(
        #[case] spec: ProvisionSpec,
        #[case] message: &str,
    ) {
        assert_eq!(validate(&spec).unwrap_err().to_string(), message);
    }

    #[test]
    fn an_ended_grant_is_refused() {
        let mut s = spec(vec![ns("a", Access::Role("view".into()))], vec![]);
        s.expires_at = Timestamp::now() - jiff::SignedDuration::from_secs(1);
        let message = validate(&s).unwrap_err().to_string();
        assert!(
            message.starts_with("invalid grant: the grant already ended at `"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_request_id_is_refused() {
        let mut s = spec(vec![ns("a", Access::Role("view".into()))], vec![]);
        s.request_id = "a/b".into();
        assert!(matches!(validate(&s), Err(Error::InvalidRequestId { .. })));
    }

    #[test]
    fn remaining_time_is_never_negative() {
        assert_eq!(
            remaining(Timestamp::now() - jiff::SignedDuration::from_secs(5)),
            Duration::ZERO
        );
        let left = remaining(Timestamp::now() + jiff::SignedDuration::from_secs(3600));
        assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3600));
    }
}
