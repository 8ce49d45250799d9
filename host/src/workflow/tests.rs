//! Workflow tests against an in-memory cluster double (fault injection included) and fixed
//! chain verdicts; the policy engine and kube-sim are exercised in `tests/`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rstest::rstest;

use super::*;
use crate::domain::{Approval, Decision, Grant, ObjectRef, Rule};
use crate::guard::{Guardrails, Scope};
use crate::store::WriteStats;
use crate::store::tests::{identity, test_store};

const NEW_REQUEST: &str = include_str!("fixtures/edit-payments.json");
const GRANT: &str = include_str!("fixtures/grant-edit-payments.json");

/// A chain that always answers the same.
pub(crate) struct Fixed(pub(crate) Decision);

impl Decider for Fixed {
    fn decide<'a>(
        &'a self,
        _: &'a Identity,
        request: &'a crate::domain::AccessRequest,
    ) -> BoxFuture<'a, std::result::Result<Option<ChainVerdict>, crate::policy::pool::Error>> {
        Box::pin(std::future::ready(Ok(self.verdict(request))))
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

impl Fixed {
    fn verdict(&self, request: &crate::domain::AccessRequest) -> Option<ChainVerdict> {
        let mut decision = self.0.clone();
        if let Decision::Allow { grant } = &mut decision {
            grant.ttl_seconds = grant.ttl_seconds.min(request.duration_seconds);
        }
        Some(ChainVerdict {
            modules: vec![ModuleVerdict {
                module: "fixed".into(),
                digest: "d1".into(),
                decision: Some(decision.clone()),
                duration_us: 3,
                error: None,
                skipped_after: None,
            }],
            decision: decision.into(),
            duration: Duration::from_micros(3),
            differences: Vec::new(),
        })
    }
}

/// Runs at the start of a teardown, with the request id (to play a task that races it).
pub(crate) type TeardownHook = Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;

/// An in-memory cluster named `dev`: objects by request, an optional failing step, an optional
/// request whose teardown fails, and the installation ids it was called with.
#[derive(Default)]
pub(crate) struct Memory {
    pub(crate) objects: Mutex<Vec<ManagedObject>>,
    pub(crate) fail_step: Mutex<Option<String>>,
    pub(crate) fail_teardown: Mutex<Option<String>>,
    pub(crate) on_teardown: Mutex<Option<TeardownHook>>,
    pub(crate) installations: Mutex<std::collections::BTreeSet<String>>,
    pub(crate) teardowns: Mutex<Vec<(String, jiff::Timestamp)>>,
    guardrails: Guardrails,
    /// Rules the bindable ClusterRoles hold (reading pods unless a test says otherwise).
    pub(crate) role_rules: Mutex<Option<Vec<Rule>>>,
    /// The grant of every plan provisioned, as bound.
    pub(crate) plans: Mutex<Vec<Grant>>,
    /// How long provisioning waits after creating the ServiceAccount.
    pub(crate) provision_delay: Mutex<Option<Duration>>,
    /// Whether provisioning panics after creating the ServiceAccount.
    pub(crate) provision_panics: Mutex<bool>,
}

pub(super) fn object(kind: &str, namespace: &str, id: &str) -> ObjectRef {
    ObjectRef {
        kind: kind.parse().expect("a kind Wicket creates"),
        namespace: Some(namespace.into()),
        name: format!("wicket-{id}"),
    }
}

impl Clusters for Memory {
    fn names(&self) -> Vec<String> {
        vec!["dev".into()]
    }

    fn guardrails(&self, cluster: &str) -> Option<&Guardrails> {
        (cluster == "dev").then_some(&self.guardrails)
    }

    fn reviewed<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn resource_scope<'a>(
        &'a self,
        _: &'a str,
        group: &'a str,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<Option<Scope>, ClusterFailure>> {
        Box::pin(async move {
            Ok(match (group, resource) {
                ("", "nodes" | "namespaces") => Some(Scope::Cluster),
                ("", "pods" | "secrets" | "configmaps") => Some(Scope::Namespaced),
                _ => None,
            })
        })
    }

    fn namespace_labels<'a>(
        &'a self,
        _: &'a str,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Option<std::collections::BTreeMap<String, String>>, ClusterFailure>>
    {
        Box::pin(async move {
            // Every namespace enforces Pod Security `baseline` but `unlabelled`.
            let level = (namespace != "unlabelled").then(|| {
                (
                    crate::guard::pod_security::ENFORCE_LABEL.to_owned(),
                    "baseline".to_owned(),
                )
            });
            Ok(Some(level.into_iter().collect()))
        })
    }

    fn cluster_role_rules<'a>(
        &'a self,
        _: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<Rule>>, ClusterFailure>> {
        Box::pin(async move {
            let read_pods = Rule {
                api_groups: vec![String::new()],
                resources: vec!["pods".into()],
                verbs: vec!["get".into()],
                resource_names: vec![],
            };
            Ok(name
                .starts_with("wicket-")
                .then(|| lock(&self.role_rules).clone().unwrap_or(vec![read_pods])))
        })
    }

    fn provision<'a>(
        &'a self,
        _: &'a str,
        plan: &'a ProvisionPlan,
    ) -> BoxFuture<'a, Result<Vec<ObjectRef>, ClusterFailure>> {
        Box::pin(async move {
            lock(&self.installations).insert(plan.installation.clone());
            if let Some(step) = lock(&self.fail_step).clone() {
                return Err(ClusterFailure {
                    step: Some(step),
                    message: "the api server answered 500".into(),
                });
            }
            lock(&self.plans).push(plan.grant.clone());
            let id = &plan.request_id;
            let managed = |o: &ObjectRef| ManagedObject {
                object: o.clone(),
                request_id: Some(id.clone()),
                expires_at: Some(plan.expires_at),
            };
            let mut created = vec![object("ServiceAccount", "wicket-system", id)];
            lock(&self.objects).push(managed(&created[0]));
            let delay = *lock(&self.provision_delay);
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            assert!(!*lock(&self.provision_panics), "provisioning panicked");
            for grant in &plan.grant.namespaces {
                created.push(object("RoleBinding", &grant.namespace, id));
            }
            lock(&self.objects).extend(created[1..].iter().map(managed));
            Ok(created)
        })
    }

    fn teardown<'a>(
        &'a self,
        _: &'a str,
        installation: &'a str,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ObjectRef>, ClusterFailure>> {
        Box::pin(async move {
            lock(&self.installations).insert(installation.to_owned());
            let hook = lock(&self.on_teardown).clone();
            if let Some(hook) = hook {
                hook(request_id.to_owned()).await;
            }
            if lock(&self.fail_teardown).as_deref() == Some(request_id) {
                return Err(ClusterFailure {
                    step: None,
                    message: "the api server answered 500".into(),
                });
            }
            lock(&self.teardowns).push((request_id.to_owned(), jiff::Timestamp::now()));
            let mut objects = lock(&self.objects);
            let (gone, kept) = objects
                .drain(..)
                .partition(|o| o.request_id.as_deref() == Some(request_id));
            *objects = kept;
            Ok(gone.into_iter().map(|o: ManagedObject| o.object).collect())
        })
    }

    fn kubeconfig<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<IssuedKubeconfig, ClusterFailure>> {
        Box::pin(async move {
            Ok(IssuedKubeconfig {
                yaml: "apiVersion: v1\nkind: Config\n".into(),
                expires_at: jiff::Timestamp::now()
                    + jiff::SignedDuration::try_from(ttl.max(Duration::from_secs(600))).unwrap(),
            })
        })
    }

    fn list_managed<'a>(
        &'a self,
        _: &'a str,
        installation: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ManagedObject>, ClusterFailure>> {
        Box::pin(async move {
            lock(&self.installations).insert(installation.to_owned());
            Ok(lock(&self.objects).clone())
        })
    }

    fn list_legacy<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ManagedObject>, ClusterFailure>> {
        Box::pin(async move { Ok(Vec::new()) })
    }

    fn delete_managed<'a>(
        &'a self,
        _: &'a str,
        object: &'a ManagedObject,
    ) -> BoxFuture<'a, Result<bool, ClusterFailure>> {
        Box::pin(async move {
            let mut objects = lock(&self.objects);
            let before = objects.len();
            objects.retain(|o| o != object);
            Ok(objects.len() < before)
        })
    }
}

pub(crate) fn grant() -> Grant {
    serde_json::from_str(GRANT).unwrap()
}

pub(super) fn body() -> NewRequest {
    serde_json::from_str(NEW_REQUEST).unwrap()
}

pub(crate) fn settings() -> Settings {
    Settings {
        max_duration: Duration::from_secs(12 * 3600),
        retry_interval: Duration::from_millis(50),
        retry_max_interval: Duration::from_millis(400),
        provision_timeout: Duration::from_secs(30),
        reconcile_interval: Duration::from_secs(3600),
        replica: "replica-a".into(),
        claim_lease: Duration::from_millis(900),
        claim_poll: Duration::from_millis(100),
    }
}

pub(super) struct Harness {
    pub(super) workflow: Workflow,
    pub(super) cluster: Arc<Memory>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Submits the sample body as `alice`; the request as it ended up.
    pub(super) async fn submit_as_alice(&self) -> RequestRecord {
        self.workflow
            .submit(&identity("alice"), body())
            .await
            .unwrap()
            .record
    }
}

pub(super) async fn harness(decision: Decision) -> Harness {
    harness_with(decision, settings()).await
}

pub(super) async fn harness_with(decision: Decision, settings: Settings) -> Harness {
    let test = test_store().await;
    let cluster = Arc::new(Memory::default());
    let workflow = Workflow::new(
        Arc::new(test.store),
        Arc::new(Fixed(decision)),
        cluster.clone(),
        settings,
    );
    Harness {
        workflow,
        cluster,
        _dir: test.dir,
    }
}

pub(super) fn allow() -> Decision {
    Decision::Allow { grant: grant() }
}

async fn audit_kinds(workflow: &Workflow, id: &str) -> Vec<String> {
    let events = workflow.store().audit_events_of(id, 100).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

/// Polls `check` until it holds, for at most a generous minute.
pub(super) async fn eventually<F: AsyncFn() -> bool>(what: &str, check: F) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn allowed_request_is_provisioned_and_active() {
    let h = harness(allow()).await;
    let record = h.submit_as_alice().await;
    assert_eq!(record.state, RequestState::Active);
    let expires_at = record.expires_at.expect("an active request has an expiry");
    let lifetime = expires_at.duration_since(record.created_at).as_secs();
    assert!(
        (1795..=1805).contains(&lifetime),
        "expires after {lifetime} s"
    );
    let objects = h
        .workflow
        .store()
        .objects_of(&record.id, false)
        .await
        .unwrap();
    assert_eq!(objects.len(), 2);
    assert_eq!(h.workflow.armed_timers(), 1);
    assert_eq!(
        audit_kinds(&h.workflow, &record.id).await,
        [
            "request_received",
            "verdict",
            "state_changed",
            "state_changed",
            "object_created",
            "object_created",
            "state_changed"
        ]
    );
    let modules = h
        .workflow
        .store()
        .module_verdicts(&record.id)
        .await
        .unwrap();
    assert_eq!(modules[0].digest, "d1");
}

#[rstest]
#[case::deny(Decision::Deny { reason: "not in `sre`".into() }, RequestState::Denied)]
#[case::needs_approval(
    Decision::NeedsApproval { approval: Approval { groups: vec!["leads".into()], subjects: vec![], count: 1, reason: "prod".into(), grant: grant() } },
    RequestState::PendingApproval
)]
#[tokio::test]
async fn undecided_or_denied_requests_provision_nothing(
    #[case] decision: Decision,
    #[case] state: RequestState,
) {
    let h = harness(decision.clone()).await;
    let record = h.submit_as_alice().await;
    assert_eq!(record.state, state);
    assert_eq!(record.verdict, Some(decision.into()));
    assert!(lock(&h.cluster.objects).is_empty());
    assert_eq!(h.workflow.armed_timers(), 0);
    assert_eq!(
        audit_kinds(&h.workflow, &record.id).await,
        ["request_received", "verdict", "state_changed"]
    );
}

#[rstest]
#[case::service_account("service-account")]
#[case::role_binding("role-binding")]
#[case::token_request("token-request")]
#[tokio::test]
async fn failed_provisioning_ends_failed_with_the_step(#[case] step: &str) {
    let h = harness(allow()).await;
    *lock(&h.cluster.fail_step) = Some(step.to_owned());
    let record = h.submit_as_alice().await;
    assert_eq!(record.state, RequestState::Failed);
    let error = record.error.unwrap();
    assert!(error.contains(&format!("step `{step}`")), "{error}");
    // The requester reads the step and an error id, not the cluster's words; the audit log
    // has both.
    assert!(!error.contains("api server"), "{error}");
    let id_start = error.find("error id `").expect("an error id") + "error id `".len();
    let error_id = &error[id_start..id_start + 12];
    assert!(error_id.chars().all(|c| c.is_ascii_hexdigit()), "{error}");
    let events = h
        .workflow
        .store()
        .audit_events_of(&record.id, 100)
        .await
        .unwrap();
    let note = events.last().unwrap().details["note"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        note.contains(error_id) && note.contains("the api server answered 500"),
        "{note}"
    );
    assert!(
        h.workflow
            .metrics()
            .render(0, WriteStats::default())
            .contains(&format!(
                "wicket_provisioning_failures_total{{step=\"{step}\"}} 1"
            ))
    );
    assert_eq!(h.workflow.armed_timers(), 0);
}

#[tokio::test]
async fn a_short_grant_expires_by_itself_on_time() {
    let h = harness(allow()).await;
    let mut new = body();
    new.duration = DurationValue::Seconds(1);
    let record = h
        .workflow
        .submit(&identity("alice"), new)
        .await
        .unwrap()
        .record;
    let expires_at = record.expires_at.unwrap();
    let id = record.id.clone();
    eventually("expiry", async || {
        h.workflow.store().get_request(&id).await.unwrap().state == RequestState::Expired
    })
    .await;
    let (_, torn_at) = lock(&h.cluster.teardowns)[0].clone();
    let late = torn_at.duration_since(expires_at);
    assert!(!late.is_negative(), "torn down {late:?} before expiry");
    assert!(
        late < jiff::SignedDuration::from_secs(1),
        "torn down {late:?} after expiry"
    );
    assert!(lock(&h.cluster.objects).is_empty());
    assert_eq!(h.workflow.armed_timers(), 0);
}

#[tokio::test]
async fn revoke_tears_down_at_once_for_the_requester_or_an_admin() {
    let h = harness(allow()).await;
    let alice = identity("alice");
    let record = h.workflow.submit(&alice, body()).await.unwrap().record;
    let bob = identity("bob");
    assert!(matches!(
        h.workflow.revoke(&bob, &record.id, false).await,
        Err(Error::NotFound(_))
    ));
    let revoked = h.workflow.revoke(&bob, &record.id, true).await.unwrap();
    assert_eq!(revoked.state, RequestState::Revoked);
    assert!(lock(&h.cluster.objects).is_empty());
    assert_eq!(h.workflow.armed_timers(), 0);
    assert!(matches!(
        h.workflow.revoke(&alice, &record.id, false).await,
        Err(Error::Conflict(_))
    ));
    let deleted = h
        .workflow
        .store()
        .objects_of(&record.id, true)
        .await
        .unwrap();
    assert!(deleted.iter().all(|o| o.deleted_at.is_some()));
}

#[tokio::test]
async fn kubeconfig_only_for_the_requester_while_active_and_never_audited() {
    let h = harness(allow()).await;
    let alice = identity("alice");
    let record = h.workflow.submit(&alice, body()).await.unwrap().record;
    assert!(matches!(
        h.workflow.kubeconfig(&identity("bob"), &record.id).await,
        Err(Error::NotFound(_))
    ));
    let issued = h.workflow.kubeconfig(&alice, &record.id).await.unwrap();
    assert!(issued.yaml.contains("kind: Config"));
    let events = h
        .workflow
        .store()
        .audit_events_of(&record.id, 100)
        .await
        .unwrap();
    let issued_event = events
        .iter()
        .find(|e| e.kind == "kubeconfig_issued")
        .unwrap();
    assert!(!issued_event.details.to_string().contains("kind: Config"));
    h.workflow.revoke(&alice, &record.id, false).await.unwrap();
    assert!(matches!(
        h.workflow.kubeconfig(&alice, &record.id).await,
        Err(Error::Conflict(_))
    ));
}

#[rstest]
#[case::unknown_cluster(
    r#"{"cluster":"prod","namespaces":["payments"],"role":"edit","duration":"1h","reason":"r"}"#,
    "cluster `prod` is not configured"
)]
#[case::bad_namespace(
    r#"{"cluster":"dev","namespaces":["Payments"],"role":"edit","duration":"1h","reason":"r"}"#,
    "namespace `Payments` is not a DNS-1123 label"
)]
#[case::zero_duration(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":0,"reason":"r"}"#,
    "`duration` must be more than zero"
)]
#[case::absurd_duration(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"9999h","reason":"r"}"#,
    "longer than the allowed maximum"
)]
#[case::words_duration(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"soon","reason":"r"}"#,
    "`soon` is not a duration"
)]
#[case::role_and_rules(r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","rules":[],"duration":"1h","reason":"r"}"#, "either `role` or `rules`")]
#[case::no_access(
    r#"{"cluster":"dev","namespaces":["payments"],"duration":"1h","reason":"r"}"#,
    "give `role` or `rules`"
)]
#[case::empty_reason(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"1h","reason":"  "}"#,
    "`reason` must not be empty"
)]
#[case::bad_role(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"Edit Me","duration":"1h","reason":"r"}"#,
    "is not a valid role name"
)]
#[tokio::test]
async fn invalid_requests_are_refused_and_nothing_is_written(
    #[case] json: &str,
    #[case] message: &str,
) {
    let h = harness(allow()).await;
    let new: NewRequest = serde_json::from_str(json).unwrap();
    let error = h
        .workflow
        .submit(&identity("alice"), new)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Invalid(_)));
    assert!(error.to_string().contains(message), "{error}");
    assert!(
        h.workflow
            .store()
            .audit_events(0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
/// A process stopped with a grant overdue, a provisioning half-way (its deadline passed) and an
/// orphan on the cluster: the next start expires the grant, rolls the provisioning back and the
/// reconciler deletes the orphan.
async fn start_rolls_back_abandoned_work_cleans_orphans_and_expires_overdue_grants() {
    let h = harness(allow()).await;
    let alice = identity("alice");
    // An active grant whose process stopped: expired while nobody watched.
    let mut short = body();
    short.duration = DurationValue::Seconds(1);
    let overdue = h.workflow.submit(&alice, short).await.unwrap().record;
    h.workflow.shutdown();
    // A request interrupted mid-provisioning, with an object already on the cluster.
    let request = body()
        .validate(&h.workflow.inner.bounds, "cafe01".into(), now())
        .unwrap();
    h.workflow
        .store()
        .insert_decided(Decided {
            request: &request,
            requester: &alice,
            decision: &allow().into(),
            modules: &[],
            to: RequestState::Approved,
            actor: &actor("policy"),
            also: &[],
            due_at: None,
        })
        .await
        .unwrap();
    h.workflow
        .store()
        .transition_due(
            Transition {
                id: "cafe01",
                from: RequestState::Approved,
                to: RequestState::Provisioning,
                actor: &actor("workflow"),
                note: None,
                detail: None,
                expires_at: None,
            },
            Some(now()),
        )
        .await
        .unwrap();
    lock(&h.cluster.objects).push(ManagedObject {
        object: object("ServiceAccount", "wicket-system", "cafe01"),
        request_id: Some("cafe01".into()),
        expires_at: None,
    });
    // An unlabelled orphan.
    lock(&h.cluster.objects).push(ManagedObject {
        object: object("Role", "payments", "orphan"),
        request_id: None,
        expires_at: None,
    });
    tokio::time::sleep(Duration::from_millis(1100)).await; // let the 1 s grant become overdue
    let restarted = Workflow::new(
        h.workflow.store().clone(),
        Arc::new(Fixed(allow())),
        h.cluster.clone(),
        settings(),
    );
    let sweep = restarted.start().await.unwrap();
    eventually("the rollback", async || {
        restarted.store().get_request("cafe01").await.unwrap().state == RequestState::Failed
    })
    .await;
    eventually("overdue expiry", async || {
        restarted
            .store()
            .get_request(&overdue.id)
            .await
            .unwrap()
            .state
            == RequestState::Expired
    })
    .await;
    assert_eq!(
        sweep.deleted, 1,
        "the orphan; the rest is the timers': {sweep:?}"
    );
    assert!(lock(&h.cluster.objects).is_empty());
    let events = restarted.store().audit_events(0, 1000).await.unwrap();
    let deletions = |component: &str| {
        events
            .iter()
            .filter(|e| e.kind == "object_deleted" && e.actor["component"] == component)
            .count()
    };
    assert_eq!(deletions("reconciler"), 1);
    assert_eq!(deletions("teardown"), 1, "cafe01's ServiceAccount");
    assert_eq!(deletions("expiry"), 2, "the overdue grant's objects");
    restarted.shutdown();
}

#[tokio::test]
async fn reconciler_keeps_active_grants() {
    let h = harness(allow()).await;
    let record = h.submit_as_alice().await;
    let sweep = h.workflow.reconcile().await.unwrap();
    assert_eq!(sweep, Sweep::default());
    assert_eq!(lock(&h.cluster.objects).len(), 2);
    assert_eq!(
        h.workflow
            .store()
            .get_request(&record.id)
            .await
            .unwrap()
            .state,
        RequestState::Active
    );
}

#[tokio::test]
async fn every_cluster_call_is_scoped_to_this_installation() {
    let h = harness(allow()).await;
    let record = h.submit_as_alice().await;
    h.workflow.reconcile().await.unwrap();
    h.workflow
        .revoke(&identity("alice"), &record.id, false)
        .await
        .unwrap();
    assert_eq!(
        *lock(&h.cluster.installations),
        [h.workflow.store().installation().to_owned()].into(),
        "provisioning, the reconciler and teardown name the store's installation id"
    );
}

/// Request ids are 24 lowercase hex digits (a label value and name part), sort by the time
/// they were made, and differ within one millisecond.
#[test]
fn request_ids_sort_by_creation_time_and_stay_apart() {
    let first = new_request_id();
    std::thread::sleep(Duration::from_millis(2));
    // More than one thread's batch of random bytes (42 ids), so a refill is crossed.
    let later: Vec<String> = (0..100).map(|_| new_request_id()).collect();
    for id in std::iter::once(&first).chain(&later) {
        assert_eq!(id.len(), 24, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{id}"
        );
    }
    assert!(later.iter().all(|id| *id > first), "{first} {later:?}");
    let millis = i64::from_str_radix(&first[..12], 16).unwrap();
    let made = Timestamp::from_millisecond(millis).unwrap();
    assert!((Timestamp::now() - made).get_seconds().abs() < 60, "{made}");
    let distinct: std::collections::HashSet<_> = later.iter().collect();
    assert_eq!(distinct.len(), later.len());
    // Random bits are never handed out twice, also across a refill.
    let random: std::collections::HashSet<_> = later.iter().map(|id| &id[12..]).collect();
    assert_eq!(random.len(), later.len(), "{later:?}");
}

#[tokio::test]
async fn a_protected_namespace_is_denied_before_any_policy_runs() {
    let h = harness(allow()).await;
    let mut asked = body();
    asked.namespaces = vec!["wicket-system".into()];
    let submitted = h.workflow.submit(&identity("alice"), asked).await.unwrap();
    assert_eq!(submitted.record.state, RequestState::Denied);
    assert!(submitted.modules.is_empty(), "no policy ran");
    let Some(Verdict::Deny { reason }) = &submitted.record.verdict else {
        panic!("a deny, not {:?}", submitted.record.verdict);
    };
    assert!(
        reason.contains("namespace `wicket-system` is protected"),
        "{reason}"
    );
    assert!(lock(&h.cluster.objects).is_empty(), "nothing provisioned");
}

#[tokio::test]
async fn a_bindable_role_whose_cluster_role_holds_a_forbidden_rule_is_denied() {
    let h = harness(allow()).await;
    *lock(&h.cluster.role_rules) = Some(vec![Rule {
        api_groups: vec![String::new()],
        resources: vec!["serviceaccounts/token".into()],
        verbs: vec!["create".into()],
        resource_names: vec![],
    }]);
    let record = h.submit_as_alice().await;
    assert_eq!(record.state, RequestState::Denied);
    let Some(Verdict::Deny { reason }) = &record.verdict else {
        panic!("a deny, not {:?}", record.verdict);
    };
    assert!(
        reason.contains("ClusterRole `wicket-edit` holds `create serviceaccounts/token (core)`"),
        "{reason}"
    );
    assert!(lock(&h.cluster.objects).is_empty(), "nothing provisioned");
}

#[tokio::test]
async fn roles_are_bound_through_their_cluster_role() {
    let h = harness(allow()).await;
    let record = h.submit_as_alice().await;
    assert_eq!(record.state, RequestState::Active);
    assert_eq!(
        lock(&h.cluster.plans)
            .last()
            .map(|g| g.namespaces[0].access.clone()),
        Some(crate::domain::Access::Role("wicket-edit".into())),
        "the plan binds wicket-edit, the record keeps the role asked for"
    );
    assert_eq!(record.grant, Some(grant()));
}

#[tokio::test]
async fn cluster_rules_must_name_cluster_scoped_resources_the_cluster_serves() {
    for (resource, expected) in [
        ("secrets", "never granted"),
        ("pods", "a namespaced resource"),
        ("widgets", "which the cluster does not serve"),
    ] {
        let h = harness(allow()).await;
        let mut asked = body();
        asked.cluster_rules = vec![Rule {
            api_groups: vec![String::new()],
            resources: vec!["nodes".into(), resource.into()],
            verbs: vec!["get".into()],
            resource_names: vec![],
        }];
        let submitted = h.workflow.submit(&identity("alice"), asked).await.unwrap();
        assert_eq!(submitted.record.state, RequestState::Denied, "{resource}");
        let Some(Verdict::Deny { reason }) = &submitted.record.verdict else {
            panic!("a deny");
        };
        assert!(reason.contains(expected), "{resource}: {reason}");
    }
}

#[tokio::test]
async fn a_verdict_granting_a_protected_namespace_is_denied_before_provisioning() {
    // The decider stands for a chain whose grant got past the policy engine's own checks:
    // the workflow checks the grant against the guardrails again.
    let mut wide = grant();
    wide.namespaces.push(crate::domain::NamespaceGrant {
        namespace: "kube-system".into(),
        access: crate::domain::Access::Role("edit".into()),
    });
    let h = harness(Decision::Allow { grant: wide }).await;
    let record = h.submit_as_alice().await;
    assert_eq!(record.state, RequestState::Denied);
    let Some(Verdict::Deny { reason }) = &record.verdict else {
        panic!("a deny, not {:?}", record.verdict);
    };
    assert!(
        reason.contains("guardrails") && reason.contains("namespace `kube-system` is protected"),
        "{reason}"
    );
    assert!(lock(&h.cluster.plans).is_empty(), "nothing provisioned");
}

#[tokio::test]
async fn a_grant_that_runs_pods_needs_a_namespace_enforcing_pod_security() {
    let ns_grant = |namespace: &str| Grant {
        namespaces: vec![crate::domain::NamespaceGrant {
            namespace: namespace.into(),
            access: crate::domain::Access::Role("edit".into()),
        }],
        cluster_rules: vec![],
        ttl_seconds: 600,
    };
    let create_pods = vec![crate::domain::rule_of(&[""], &["pods"], &["create"], &[])];
    for (namespace, runs_pods, expected) in [
        ("unlabelled", true, RequestState::Denied),
        ("unlabelled", false, RequestState::Active),
        ("payments", true, RequestState::Active),
    ] {
        let h = harness(Decision::Allow {
            grant: ns_grant(namespace),
        })
        .await;
        if runs_pods {
            *lock(&h.cluster.role_rules) = Some(create_pods.clone());
        }
        let mut asked = body();
        asked.namespaces = vec![namespace.into()];
        let record = h
            .workflow
            .submit(&identity("alice"), asked)
            .await
            .unwrap()
            .record;
        assert_eq!(
            record.state, expected,
            "{namespace}, runs pods: {runs_pods}"
        );
        if let Some(Verdict::Deny { reason }) = &record.verdict {
            assert!(
                reason.contains("does not enforce Pod Security `baseline`"),
                "{reason}"
            );
        }
    }
}
