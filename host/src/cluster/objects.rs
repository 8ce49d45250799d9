//! The Kubernetes objects of one grant: references to them, and the desired objects built from a
//! [`ProvisionSpec`], each labelled and annotated so it can be found without the database.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::ProvisionSpec;
use super::names::{
    EXPIRES_AT_ANNOTATION, NAMESPACE_ANNOTATION, Owner, REASON_ANNOTATION, REQUESTER_ANNOTATION,
};
use crate::domain::{Kind, Rule};

/// Metadata every object of the grant carries: the labels of its owner and request, and the
/// requester, expiry and reason as annotations.
pub(crate) fn metadata(
    spec: &ProvisionSpec,
    owner: &Owner,
    name: &str,
    namespace: Option<&str>,
) -> ObjectMeta {
    let labels = owner.labels(&spec.request_id);
    let annotations = BTreeMap::from([
        (REQUESTER_ANNOTATION.to_owned(), spec.requester.clone()),
        (
            EXPIRES_AT_ANNOTATION.to_owned(),
            spec.expires_at.to_string(),
        ),
        (REASON_ANNOTATION.to_owned(), spec.reason.clone()),
    ]);
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    }
}

/// The ServiceAccount every binding of the grant names. Its `wicket.dev/namespace` annotation
/// remembers the namespace issued kubeconfigs default to.
pub(crate) fn service_account(
    spec: &ProvisionSpec,
    owner: &Owner,
    jit_namespace: &str,
    name: &str,
) -> ServiceAccount {
    let mut meta = metadata(spec, owner, name, Some(jit_namespace));
    if let Some(ns) = spec.grant.namespaces.first() {
        meta.annotations
            .get_or_insert_default()
            .insert(NAMESPACE_ANNOTATION.to_owned(), ns.namespace.clone());
    }
    ServiceAccount {
        metadata: meta,
        ..ServiceAccount::default()
    }
}

/// The single subject of every binding: the grant's ServiceAccount.
pub(crate) fn subjects(jit_namespace: &str, name: &str) -> Vec<Subject> {
    vec![Subject {
        kind: "ServiceAccount".to_owned(),
        name: name.to_owned(),
        namespace: Some(jit_namespace.to_owned()),
        api_group: Some(String::new()),
    }]
}

/// Converts policy rules to Kubernetes `PolicyRule`s.
pub(crate) fn policy_rules(rules: &[Rule]) -> Vec<PolicyRule> {
    rules
        .iter()
        .map(|r| PolicyRule {
            api_groups: Some(r.api_groups.clone()),
            resources: Some(r.resources.clone()),
            verbs: r.verbs.clone(),
            resource_names: (!r.resource_names.is_empty()).then(|| r.resource_names.clone()),
            non_resource_urls: None,
        })
        .collect()
}

/// A Role holding `rules` in `namespace`.
pub(crate) fn role(
    spec: &ProvisionSpec,
    owner: &Owner,
    namespace: &str,
    name: &str,
    rules: &[Rule],
) -> Role {
    Role {
        metadata: metadata(spec, owner, name, Some(namespace)),
        rules: Some(policy_rules(rules)),
    }
}

/// A RoleBinding in `namespace` of `role_ref` to the ServiceAccount.
pub(crate) fn role_binding(
    spec: &ProvisionSpec,
    owner: &Owner,
    namespace: &str,
    name: &str,
    role_ref: RoleRef,
    jit_namespace: &str,
) -> RoleBinding {
    RoleBinding {
        metadata: metadata(spec, owner, name, Some(namespace)),
        role_ref,
        subjects: Some(subjects(jit_namespace, name)),
    }
}

/// A reference to a ClusterRole (`kind` = `ClusterRole`) or a Role (`kind` = `Role`).
pub(crate) fn role_ref(kind: Kind, name: &str) -> RoleRef {
    RoleRef {
        api_group: Some("rbac.authorization.k8s.io".to_owned()),
        kind: kind.as_str().to_owned(),
        name: name.to_owned(),
    }
}

/// The ClusterRole holding the cluster-scoped rules.
pub(crate) fn cluster_role(spec: &ProvisionSpec, owner: &Owner, name: &str) -> ClusterRole {
    ClusterRole {
        metadata: metadata(spec, owner, name, None),
        rules: Some(policy_rules(&spec.grant.cluster_rules)),
        aggregation_rule: None,
    }
}

/// The ClusterRoleBinding of that ClusterRole to the ServiceAccount.
pub(crate) fn cluster_role_binding(
    spec: &ProvisionSpec,
    owner: &Owner,
    name: &str,
    jit_namespace: &str,
) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: metadata(spec, owner, name, None),
        role_ref: role_ref(Kind::ClusterRole, name),
        subjects: Some(subjects(jit_namespace, name)),
    }
}

/// The parts of an object that decide what it grants; an existing object of the request must match
/// the desired one in them to be adopted by a retry.
pub(crate) trait Content {
    /// Whether `self` (found on the cluster) grants the same as `desired`.
    fn same_content(&self, desired: &Self) -> bool;
}

/// Rules in a comparable form (`None` and empty lists are the same to the API server).
fn comparable_rules(rules: Option<&Vec<PolicyRule>>) -> Vec<PolicyRule> {
    let some = |v: &Option<Vec<String>>| Some(v.clone().unwrap_or_default());
    rules
        .into_iter()
        .flatten()
        .map(|r| PolicyRule {
            api_groups: some(&r.api_groups),
            resources: some(&r.resources),
            verbs: r.verbs.clone(),
            resource_names: some(&r.resource_names),
            non_resource_urls: some(&r.non_resource_urls),
        })
        .collect()
}

/// Subjects in a comparable form (the core group may be spelled `""` or left out).
fn comparable_subjects(subjects: Option<&Vec<Subject>>) -> Vec<(String, String, Option<String>)> {
    subjects
        .map(|s| {
            s.iter()
                .map(|s| (s.kind.clone(), s.name.clone(), s.namespace.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn same_role_ref(a: &RoleRef, b: &RoleRef) -> bool {
    a.kind == b.kind && a.name == b.name
}

impl Content for ServiceAccount {
    fn same_content(&self, _desired: &Self) -> bool {
        true
    }
}

impl Content for Role {
    fn same_content(&self, desired: &Self) -> bool {
        comparable_rules(self.rules.as_ref()) == comparable_rules(desired.rules.as_ref())
    }
}

impl Content for ClusterRole {
    fn same_content(&self, desired: &Self) -> bool {
        self.aggregation_rule.is_none()
            && comparable_rules(self.rules.as_ref()) == comparable_rules(desired.rules.as_ref())
    }
}

impl Content for RoleBinding {
    fn same_content(&self, desired: &Self) -> bool {
        same_role_ref(&self.role_ref, &desired.role_ref)
            && comparable_subjects(self.subjects.as_ref())
                == comparable_subjects(desired.subjects.as_ref())
    }
}

impl Content for ClusterRoleBinding {
    fn same_content(&self, desired: &Self) -> bool {
        same_role_ref(&self.role_ref, &desired.role_ref)
            && comparable_subjects(self.subjects.as_ref())
                == comparable_subjects(desired.subjects.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::domain::{Access, Grant, NamespaceGrant};

    fn owner() -> Owner {
        Owner::new("0123456789abcdef0123456789abcdef", "prod").unwrap()
    }

    fn spec() -> ProvisionSpec {
        ProvisionSpec {
            installation: "0123456789abcdef0123456789abcdef".into(),
            request_id: "r1".into(),
            requester: "alice@example.com".into(),
            reason: "INC-123: payments are failing".into(),
            expires_at: "2026-11-21T13:00:00Z".parse::<Timestamp>().unwrap(),
            grant: Grant {
                namespaces: vec![NamespaceGrant {
                    namespace: "payments".into(),
                    access: Access::Role("edit".into()),
                }],
                cluster_rules: vec![],
                ttl_seconds: 1800,
            },
        }
    }

    fn rule(verbs: &[&str], names: &[&str]) -> Rule {
        Rule {
            api_groups: vec![String::new()],
            resources: vec!["pods".into()],
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
            resource_names: names.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn every_object_is_labelled_and_annotated() {
        let meta = metadata(&spec(), &owner(), "wicket-r1", Some("payments"));
        let labels = meta.labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/managed-by"], "wicket");
        assert_eq!(labels["wicket.dev/request"], "r1");
        assert_eq!(
            labels["wicket.dev/installation"],
            "0123456789abcdef0123456789abcdef"
        );
        assert_eq!(labels["wicket.dev/cluster"], "prod");
        let annotations = meta.annotations.unwrap();
        assert_eq!(annotations["wicket.dev/requester"], "alice@example.com");
        assert_eq!(annotations["wicket.dev/expires-at"], "2026-11-21T13:00:00Z");
        assert_eq!(
            annotations["wicket.dev/reason"],
            "INC-123: payments are failing"
        );
        assert_eq!(meta.namespace.as_deref(), Some("payments"));
        assert_eq!(meta.name.as_deref(), Some("wicket-r1"));
    }

    #[test]
    fn the_service_account_remembers_the_first_namespace() {
        let sa = service_account(&spec(), &owner(), "wicket-system", "wicket-r1");
        assert_eq!(
            sa.metadata.annotations.unwrap()["wicket.dev/namespace"],
            "payments"
        );
        assert_eq!(sa.metadata.namespace.as_deref(), Some("wicket-system"));
    }

    #[test]
    fn bindings_name_only_the_service_account() {
        let rb = role_binding(
            &spec(),
            &owner(),
            "payments",
            "wicket-r1",
            role_ref(Kind::ClusterRole, "edit"),
            "wicket-system",
        );
        assert_eq!(rb.role_ref.kind, "ClusterRole");
        assert_eq!(rb.role_ref.name, "edit");
        let subjects = rb.subjects.unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0].kind, "ServiceAccount");
        assert_eq!(subjects[0].name, "wicket-r1");
        assert_eq!(subjects[0].namespace.as_deref(), Some("wicket-system"));
    }

    #[test]
    fn empty_resource_names_are_left_out() {
        let rules = policy_rules(&[rule(&["get"], &[]), rule(&["get"], &["web-0"])]);
        assert_eq!(rules[0].resource_names, None);
        assert_eq!(
            rules[1].resource_names.as_deref(),
            Some(&["web-0".to_owned()][..])
        );
    }

    #[test]
    fn content_comparison_sees_what_a_role_grants() {
        let s = spec();
        let desired = role(
            &s,
            &owner(),
            "payments",
            "wicket-r1",
            &[rule(&["get"], &[])],
        );
        let mut normalised = desired.clone();
        normalised.rules.as_mut().unwrap()[0].resource_names = Some(vec![]);
        assert!(
            normalised.same_content(&desired),
            "`[]` and a missing list are the same"
        );
        let wider = role(
            &s,
            &owner(),
            "payments",
            "wicket-r1",
            &[rule(&["get", "delete"], &[])],
        );
        assert!(!wider.same_content(&desired));
    }

    #[test]
    fn content_comparison_sees_what_a_binding_binds() {
        let s = spec();
        let desired = role_binding(
            &s,
            &owner(),
            "payments",
            "wicket-r1",
            role_ref(Kind::ClusterRole, "edit"),
            "wicket-system",
        );
        let mut defaulted = desired.clone();
        defaulted.subjects.as_mut().unwrap()[0].api_group = None;
        assert!(defaulted.same_content(&desired));
        let admin = role_binding(
            &s,
            &owner(),
            "payments",
            "wicket-r1",
            role_ref(Kind::ClusterRole, "admin"),
            "wicket-system",
        );
        assert!(!admin.same_content(&desired));
        let mut extra = desired.clone();
        extra.subjects.as_mut().unwrap().push(Subject {
            kind: "User".into(),
            name: "mallory".into(),
            namespace: None,
            api_group: Some("rbac.authorization.k8s.io".into()),
        });
        assert!(
            !extra.same_content(&desired),
            "an added subject must not be adopted"
        );
    }
}
