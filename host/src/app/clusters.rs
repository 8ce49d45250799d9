//! [`Clusters`] on real API servers: the configured clusters as [`ClusterTarget`]s.

use std::collections::BTreeMap;
use std::time::Duration;

use super::preflight::Review;
use crate::cluster::{self, ClusterTarget, Endpoint, TargetSettings};
use crate::config::{ClusterConfig, Connection};
use crate::domain::{ObjectRef, Rule};
use crate::guard::{Guardrails, Scope};

use crate::workflow::{
    BoxFuture, ClusterFailure, Clusters, IssuedKubeconfig, ManagedObject, ProvisionPlan,
};

/// The configured clusters, by name, with their guardrails.
#[derive(Debug, Clone, Default)]
pub struct KubeClusters {
    pub(super) targets: BTreeMap<String, (ClusterTarget, Guardrails)>,
    pub(super) reviews: BTreeMap<String, Review>,
}

/// An error with its causes, `outer: inner: ...`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub(super) fn failure(error: &cluster::Error) -> ClusterFailure {
    ClusterFailure {
        step: error.step().map(|step| step.as_str().to_owned()),
        message: chain(error),
    }
}

fn to_port(managed: &cluster::ManagedObject) -> ManagedObject {
    ManagedObject {
        object: managed.object.clone(),
        request_id: managed.request_id.clone(),
        expires_at: managed.expires_at,
    }
}

impl KubeClusters {
    /// Connects (builds clients; sends nothing yet) to every configured cluster.
    pub async fn connect(configs: &[ClusterConfig]) -> cluster::Result<Self> {
        let mut targets = BTreeMap::new();
        let mut reviews = BTreeMap::new();
        for config in configs {
            let connection = match &config.connection {
                Connection::Kubeconfig { path, context } => cluster::Connection::Kubeconfig {
                    path: path.clone(),
                    context: context.clone(),
                },
                Connection::InCluster => cluster::Connection::InCluster,
            };
            let ca_pem = config
                .ca_file
                .as_ref()
                .map(|file| {
                    std::fs::read_to_string(file).map_err(|e| cluster::Error::InvalidTarget {
                        cluster: config.name.clone(),
                        reason: format!("cannot read `ca_file` `{}`: {e}", file.display()),
                    })
                })
                .transpose()?;
            let mut settings = TargetSettings::new(config.name.clone(), connection);
            settings.jit_namespace = Some(config.namespace.clone());
            settings.issued_endpoint = Some(Endpoint {
                server: config.server.as_str().trim_end_matches('/').to_owned(),
                ca_pem,
            });
            targets.insert(
                config.name.clone(),
                (
                    ClusterTarget::connect(&settings).await?,
                    config.guardrails.clone(),
                ),
            );
            reviews.insert(config.name.clone(), Review::new(config));
        }
        Ok(Self { targets, reviews })
    }

    /// The target of `cluster`.
    fn target(&self, cluster: &str) -> Result<&ClusterTarget, ClusterFailure> {
        self.targets
            .get(cluster)
            .map(|(target, _)| target)
            .ok_or_else(|| ClusterFailure {
                step: None,
                message: format!("cluster `{cluster}` is not configured"),
            })
    }
}

impl Clusters for KubeClusters {
    fn names(&self) -> Vec<String> {
        self.targets.keys().cloned().collect()
    }

    fn guardrails(&self, cluster: &str) -> Option<&Guardrails> {
        self.targets.get(cluster).map(|(_, guardrails)| guardrails)
    }

    fn reviewed<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.ensure_reviewed(cluster))
    }

    fn resource_scope<'a>(
        &'a self,
        cluster: &'a str,
        group: &'a str,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<Option<Scope>, ClusterFailure>> {
        Box::pin(async move {
            self.target(cluster)?
                .resource_scope(group, resource)
                .await
                .map_err(|e| failure(&e))
        })
    }

    fn namespace_labels<'a>(
        &'a self,
        cluster: &'a str,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Option<BTreeMap<String, String>>, ClusterFailure>> {
        Box::pin(async move {
            self.target(cluster)?
                .namespace_labels(namespace)
                .await
                .map_err(|e| failure(&e))
        })
    }

    fn cluster_role_rules<'a>(
        &'a self,
        cluster: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<Rule>>, ClusterFailure>> {
        Box::pin(async move {
            self.target(cluster)?
                .cluster_role_rules(name)
                .await
                .map_err(|e| failure(&e))
        })
    }

    fn provision<'a>(
        &'a self,
        cluster: &'a str,
        plan: &'a ProvisionPlan,
    ) -> BoxFuture<'a, Result<Vec<ObjectRef>, ClusterFailure>> {
        Box::pin(async move {
            let spec = cluster::ProvisionSpec {
                installation: plan.installation.clone(),
                request_id: plan.request_id.clone(),
                requester: plan.requester.clone(),
                reason: plan.reason.clone(),
                expires_at: plan.expires_at,
                grant: plan.grant.clone(),
            };
            let provisioned = self
                .target(cluster)?
                .provision(&spec)
                .await
                .map_err(|e| failure(&e))?;
            Ok(provisioned
                .objects
                .iter()
                .map(|step| step.object.clone())
                .collect())
        })
    }

    fn teardown<'a>(
        &'a self,
        cluster: &'a str,
        installation: &'a str,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ObjectRef>, ClusterFailure>> {
        Box::pin(async move {
            let report = self
                .target(cluster)?
                .teardown(installation, request_id)
                .await
                .map_err(|e| failure(&e))?;
            Ok(report.deleted)
        })
    }

    fn kubeconfig<'a>(
        &'a self,
        cluster: &'a str,
        installation: &'a str,
        request_id: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<IssuedKubeconfig, ClusterFailure>> {
        Box::pin(async move {
            let credential = self
                .target(cluster)?
                .issue_credential(installation, request_id, ttl)
                .await
                .map_err(|e| failure(&e))?;
            Ok(IssuedKubeconfig {
                yaml: credential.kubeconfig.expose().to_owned(),
                expires_at: credential.token_expires_at,
            })
        })
    }

    fn list_managed<'a>(
        &'a self,
        cluster: &'a str,
        installation: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ManagedObject>, ClusterFailure>> {
        Box::pin(async move {
            let found = self
                .target(cluster)?
                .list_managed(installation)
                .await
                .map_err(|e| failure(&e))?;
            Ok(found.iter().map(to_port).collect())
        })
    }

    fn list_legacy<'a>(
        &'a self,
        cluster: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ManagedObject>, ClusterFailure>> {
        Box::pin(async move {
            let found = self
                .target(cluster)?
                .list_legacy()
                .await
                .map_err(|e| failure(&e))?;
            Ok(found.iter().map(to_port).collect())
        })
    }

    fn delete_managed<'a>(
        &'a self,
        cluster: &'a str,
        object: &'a ManagedObject,
    ) -> BoxFuture<'a, Result<bool, ClusterFailure>> {
        Box::pin(async move {
            let target = self.target(cluster)?;
            let managed = cluster::ManagedObject {
                object: object.object.clone(),
                request_id: object.request_id.clone(),
                expires_at: object.expires_at,
            };
            target
                .delete_managed(&managed)
                .await
                .map(|deleted| deleted == cluster::Deleted::Now)
                .map_err(|e| failure(&e))
        })
    }
}
