//! The access request state machine. No HTTP types: the API edge calls it with a verified
//! [`Identity`] and a parsed [`NewRequest`].
//!
//! ```text
//! submit ─► validate ─► chain verdict ─► store it ─┬─ deny ─────────► denied
//!                                                   ├─ needs-approval ► pending-approval
//!                                                   └─ allow ─► approved ─► provisioning
//!                          provisioning ─┬─ ok ─► active ─┬─ timer at expires_at ─► expired
//!                                        │                │   (teardown failed: expiring ─► expired)
//!                                        │                └─ revoke ─► revoking ─► revoked
//!                                        └─ failed step (rolled back) ─► failed
//! ```
//!
//! A new request is decided before it is stored, then stored with its verdict, its state and
//! their audit events in one store write (a crash while deciding leaves nothing, and the
//! client got no answer). Every later transition is one compare-and-set store write with its
//! audit event. Work that changes state (submitting, revoking, minting a kubeconfig) runs in a
//! task of its own that the API handler awaits: a client that hangs up cannot cancel it half
//! way, and a panic in it fails closed (the request's timer rolls back or completes it).
//!
//! Every state that must not stay as it is carries a due time in the store, written in the
//! same statement as the state (`approved`, `provisioning`: a deadline the process working on
//! it keeps ahead; `active`: `expires_at`; `revoking`, `expiring`: the next teardown attempt),
//! and a [timer](timers.rs) drives it on when due, under a claim taken through the store: with
//! several replicas on one database each timer fires once, on whichever replica claims it, and
//! the work of a replica that died is taken over once its claims and deadlines end. Timers are
//! armed again from the store on start and by every reconciler sweep, and a poll claims what
//! nobody drives. A teardown that fails is retried with a capped exponential backoff until it
//! succeeds, counted and audited. The [reconciler](Workflow::reconcile) (one replica at a
//! time, under a lease) deletes every object of this installation whose request is unknown or
//! ended, on start and periodically, so a crash leaves nothing. The
//! [kill switch](Workflow::revoke_in_scope) ends every grant of a subject, of a cluster, or all
//! of them, at once.

mod guarded;
mod lifecycle;
pub mod metrics;
mod ports;
mod reconcile;
mod revocations;
mod timers;
mod validate;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use tokio::task::AbortHandle;

pub use metrics::Metrics;
pub use ports::{
    BoxFuture, ChainVerdict, ClusterFailure, Clusters, Decider, IssuedKubeconfig, ManagedObject,
    PolicyLifecycle, ProvisionPlan, ReloadReport, ShadowDifference,
};
pub use reconcile::Sweep;
pub use revocations::{RevocationItem, Revocations};
pub use validate::{Bounds, DurationValue, Invalid, NewRequest};

use crate::audit::{Actor, Details};
use crate::domain::{Grant, Identity, ModuleVerdict, RequestState};
use crate::policy::Verdict;
use crate::store::{self, Claim, Decided, ListFilter, Page, RequestRecord, Store, Transition};

/// Why a workflow call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The new request is invalid; nothing was stored.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such request, or not one the caller may see.
    #[error("request `{0}` not found")]
    NotFound(String),
    /// The request is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// The cluster could not do what was asked (e.g. mint a kubeconfig).
    #[error("cluster `{cluster}` failed: {source}")]
    Cluster {
        /// The cluster.
        cluster: String,
        /// Why.
        #[source]
        source: ClusterFailure,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The work on request `0` panicked or was stopped; its timer rolls the request back or
    /// completes it.
    #[error("the work on request `{0}` was interrupted")]
    Interrupted(String),
    /// No policy decision could be made now (the evaluation pool is full); nothing was stored.
    #[error(transparent)]
    Evaluation(#[from] crate::policy::pool::Error),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A submitted request as it ended up, with each policy module's part in its verdict.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The request.
    pub record: RequestRecord,
    /// Each module's part in the verdict, in chain order.
    pub modules: Vec<ModuleVerdict>,
}

/// Timing settings of the workflow.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The longest duration a request may ask for.
    pub max_duration: Duration,
    /// Wait before the first retry of a teardown that failed; each further retry waits
    /// twice as long as the one before, up to `retry_max_interval`.
    pub retry_interval: Duration,
    /// The longest wait between two teardown attempts.
    pub retry_max_interval: Duration,
    /// How long creating a grant's objects may take before it is abandoned and rolled back.
    pub provision_timeout: Duration,
    /// Time between two reconciler sweeps (by whichever replica holds the reconciler's lease).
    pub reconcile_interval: Duration,
    /// This replica's id, unique among the processes sharing the store: the holder of its
    /// claims on due timers and of the reconciler's lease.
    pub replica: Arc<str>,
    /// How long a claim lasts unless renewed: on a timer being driven, and the deadline of a
    /// request being decided or provisioned. Renewed every third of it while the work goes
    /// on; a replica that dies leaves its work to the others this long after its last renewal.
    pub claim_lease: Duration,
    /// Time between two looks for due timers no replica drives (armed by another replica, or
    /// left by one that died).
    pub claim_poll: Duration,
}

impl Settings {
    /// The default [`Settings::claim_lease`].
    pub const CLAIM_LEASE: Duration = Duration::from_secs(4);
    /// The default [`Settings::claim_poll`].
    pub const CLAIM_POLL: Duration = Duration::from_secs(1);
}

struct Inner {
    store: Arc<dyn Store>,
    decider: Arc<dyn Decider>,
    clusters: Arc<dyn Clusters>,
    bounds: Bounds,
    settings: Settings,
    metrics: Metrics,
    timers: Mutex<HashMap<String, timers::Armed>>,
    background: Mutex<Vec<AbortHandle>>,
    in_flight: Mutex<HashSet<String>>,
    /// Requests whose timer a task of this process drives (claims to renew), with how many.
    driving: Mutex<HashMap<String, usize>>,
}

/// The workflow: cheap to clone, shared by the API handlers and the background tasks.
#[derive(Clone)]
pub struct Workflow {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Workflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflow")
            .field("clusters", &self.inner.bounds.clusters)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Now, to the millisecond (what the store keeps).
fn now() -> Timestamp {
    Timestamp::from_millisecond(Timestamp::now().as_millisecond())
        .expect("the current time is a valid timestamp")
}

/// A fresh request id: 24 lowercase hex digits (a valid label value and name part), the
/// current Unix time in milliseconds (12 digits) and then 48 random bits.
///
/// Ids sort by the time they were made (as UUIDv7 and ULID do), so every index keyed by one
/// (the requests' primary key, the audit events by request) grows at its right edge. An id
/// grants nothing by itself (every read checks who asks), so the 48 random bits only keep ids
/// made in the same millisecond, on any replica, apart.
pub fn new_request_id() -> String {
    let millis = Timestamp::now().as_millisecond() & 0xffff_ffff_ffff;
    format!("{millis:012x}{}", hex::encode(random_bits()))
}

/// 48 random bits from the operating system.
fn random_bits() -> [u8; 6] {
    let mut bits = [0u8; 6];
    getrandom::fill(&mut bits).expect("the operating system provides random bytes");
    bits
}

/// A fresh error id: 12 random hex digits that tie what a caller is told to the log line with
/// the cause.
fn new_error_id() -> String {
    hex::encode(random_bits())
}

/// Marks a request as being worked on by this process, so that the reconciler leaves its
/// objects alone; unmarks it when dropped.
struct InFlight<'a> {
    inner: &'a Inner,
    id: String,
}

impl<'a> InFlight<'a> {
    fn new(inner: &'a Inner, id: &str) -> Self {
        lock(&inner.in_flight).insert(id.to_owned());
        Self {
            inner,
            id: id.to_owned(),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.inner.in_flight).remove(&self.id);
    }
}

fn actor(component: &str) -> Actor {
    Actor::service(component)
}

impl Workflow {
    /// A workflow over `store`, deciding with `decider` and provisioning on `clusters`.
    /// Call [`Workflow::start`] to recover state and start the background tasks.
    pub fn new(
        store: Arc<dyn Store>,
        decider: Arc<dyn Decider>,
        clusters: Arc<dyn Clusters>,
        settings: Settings,
    ) -> Self {
        let bounds = Bounds {
            clusters: clusters.names().into_iter().collect(),
            max_duration: settings.max_duration,
        };
        Self {
            inner: Arc::new(Inner {
                store,
                decider,
                clusters,
                bounds,
                settings,
                metrics: Metrics::default(),
                timers: Mutex::new(HashMap::new()),
                background: Mutex::new(Vec::new()),
                in_flight: Mutex::new(HashSet::new()),
                driving: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The policy chains.
    pub fn decider(&self) -> &Arc<dyn Decider> {
        &self.inner.decider
    }

    /// The clusters.
    pub fn clusters(&self) -> &Arc<dyn Clusters> {
        &self.inner.clusters
    }

    /// Validates and decides a new request, stores it with its verdict in one change, and
    /// provisions it when allowed. Returns the request in its resulting state (`active`,
    /// `pending-approval`, `denied` or `failed`) and each module's part in the verdict.
    #[tracing::instrument(skip_all, fields(subject = %identity.subject))]
    pub async fn submit(&self, identity: &Identity, body: NewRequest) -> Result<Submitted> {
        let id = new_request_id();
        let (workflow, identity) = (self.clone(), identity.clone());
        let owned = id.clone();
        self.detached(
            &id,
            async move { workflow.decide(&identity, body, owned).await },
        )
        .await
    }

    /// Runs `work` on request `id` in a task of its own and waits for it: a caller that stops
    /// waiting (a client that hung up) does not cancel it. If it panics, the request's timer
    /// is armed at once, to roll back or complete what the work left half-way.
    async fn detached<T: Send + 'static>(
        &self,
        id: &str,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        match tokio::spawn(work).await {
            Ok(done) => done,
            Err(error) => {
                tracing::error!(request_id = %id, %error, "work on a request was interrupted; its timer takes over");
                // Its deadline is now: nobody works on it any more.
                let claim = Claim {
                    until: now(),
                    ..self.claim()
                };
                if let Err(error) = self
                    .inner
                    .store
                    .hold_deadlines(&[id.to_owned()], claim)
                    .await
                {
                    tracing::warn!(request_id = %id, %error, "cannot bring the deadline of interrupted work forward");
                }
                self.arm(id, now());
                Err(Error::Interrupted(id.to_owned()))
            }
        }
    }

    /// [`Workflow::submit`]'s work, in its own task.
    async fn decide(&self, identity: &Identity, body: NewRequest, id: String) -> Result<Submitted> {
        let request = body.validate(&self.inner.bounds, id, now())?;
        let _in_flight = InFlight::new(&self.inner, &request.id);
        let deny = |reason: String| ChainVerdict {
            decision: Verdict::Deny { reason },
            modules: Vec::new(),
            duration: Duration::ZERO,
            differences: Vec::new(),
        };
        let verdict = match self.refuse_request(&request).await {
            Some(reason) => deny(reason),
            None => {
                let mut verdict = self
                    .inner
                    .decider
                    .decide(identity, &request)
                    .await?
                    .unwrap_or_else(|| {
                        deny(format!("cluster `{}` has no policy chain", request.cluster))
                    });
                if let Some(reason) = self.refuse_grant(&request.cluster, &verdict.decision).await {
                    verdict.decision = Verdict::Deny { reason };
                }
                verdict
            }
        };
        self.inner.metrics.decision(verdict.duration);
        let to = match &verdict.decision {
            Verdict::Deny { .. } => RequestState::Denied,
            Verdict::NeedsApproval { .. } => RequestState::PendingApproval,
            Verdict::Allow { .. } => RequestState::Approved,
        };
        let mut shadow = Vec::with_capacity(verdict.differences.len());
        for difference in verdict.differences {
            self.inner
                .metrics
                .shadow_difference(&request.cluster, &difference.candidate.module);
            shadow.push(Details::ShadowDifference {
                cluster: request.cluster.clone(),
                active: Box::new(difference.active),
                candidate: Box::new(difference.candidate),
            });
        }
        let record = self
            .inner
            .store
            .insert_decided(Decided {
                request: &request,
                requester: identity,
                decision: &verdict.decision,
                modules: &verdict.modules,
                to,
                actor: &actor("policy"),
                also: &shadow,
                // An approved request is provisioned next; if that stops, its timer fails it.
                due_at: (to == RequestState::Approved).then(|| self.deadline()),
            })
            .await?;
        tracing::info!(request_id = %request.id, state = %record.state, "decided");
        let record = match verdict.decision {
            Verdict::Allow { grant } => self.provision(record, grant).await?,
            _ => record,
        };
        self.inner.metrics.request(record.state.as_str());
        Ok(Submitted {
            record,
            modules: verdict.modules,
        })
    }

    /// `approved` → `provisioning` → `active` (timer armed) or `failed` (rolled back).
    /// `provisioning` is stored with a deadline that this process moves ahead while it works
    /// on it ([`Workflow::deadline`]); once it passes (the work stopped, here or on a replica
    /// that died), its timer rolls the provisioning back.
    async fn provision(&self, record: RequestRecord, grant: Grant) -> Result<RequestRecord> {
        let store = &self.inner.store;
        let settings = &self.inner.settings;
        let workflow = actor("workflow");
        let id = record.id.as_str();
        let deadline = self.deadline();
        store
            .transition_due(
                Transition {
                    id,
                    from: RequestState::Approved,
                    to: RequestState::Provisioning,
                    actor: &workflow,
                    note: None,
                    detail: None,
                    expires_at: None,
                },
                Some(deadline),
            )
            .await?;
        let ttl = i64::try_from(grant.ttl_seconds).unwrap_or(i64::MAX);
        let expires_at = now()
            .checked_add(jiff::SignedDuration::from_secs(ttl))
            .map_err(|_| Invalid::Field(format!("a grant of {ttl} s is out of range")))?;
        // Roles are bound by the ClusterRoles that carry them; a role without one fails
        // closed here (the guardrails refused it already when the request was decided).
        let bound = match self.guardrails(&record.cluster) {
            Ok(guardrails) => guardrails.bind(&grant).map_err(|v| v.to_string()),
            Err(why) => Err(why),
        };
        let provisioned = match bound {
            Ok(grant) => {
                let plan = ProvisionPlan {
                    installation: store.installation().to_owned(),
                    request_id: record.id.clone(),
                    requester: record.subject.clone(),
                    reason: record.reason.clone(),
                    expires_at,
                    grant,
                };
                let provisioning = self.inner.clusters.provision(&record.cluster, &plan);
                match tokio::time::timeout(settings.provision_timeout, provisioning).await {
                    Ok(provisioned) => provisioned,
                    Err(_) => Err(self.abandon(&record).await),
                }
            }
            Err(message) => Err(ClusterFailure {
                step: Some("guardrails".to_owned()),
                message,
            }),
        };
        match provisioned {
            Ok(objects) => {
                for object in &objects {
                    store.record_object(id, object, &workflow).await?;
                }
                let active = store
                    .transition_due(
                        Transition {
                            id,
                            from: RequestState::Provisioning,
                            to: RequestState::Active,
                            actor: &workflow,
                            note: None,
                            detail: None,
                            expires_at: Some(expires_at),
                        },
                        Some(expires_at),
                    )
                    .await?;
                self.arm(id, expires_at);
                tracing::info!(request_id = %id, %expires_at, "active");
                Ok(active)
            }
            Err(failure) => {
                // The cluster's words name Wicket's own ServiceAccount and what its RBAC
                // lacks: the requester reads the step and an error id; the log and the audit
                // log (auditors) have the cause under the same id.
                let step = failure.step.as_deref().unwrap_or("provision");
                let error_id = new_error_id();
                self.inner.metrics.provisioning_failure(step);
                tracing::warn!(request_id = %id, step, error_id, error = %failure.message, "provisioning failed");
                let note = format!("provisioning failed at step `{step}` (error id `{error_id}`)");
                let detail = format!("{note}: {}", failure.message);
                Ok(store
                    .transition_due(
                        Transition {
                            id,
                            from: RequestState::Provisioning,
                            to: RequestState::Failed,
                            actor: &workflow,
                            note: Some(&note),
                            detail: Some(&detail),
                            expires_at: None,
                        },
                        None,
                    )
                    .await?)
            }
        }
    }

    /// The request and its per-module verdicts, if `identity` may see it (its requester,
    /// or anyone when `see_all`).
    pub async fn get(
        &self,
        identity: &Identity,
        id: &str,
        see_all: bool,
    ) -> Result<(RequestRecord, Vec<ModuleVerdict>)> {
        let record = self.visible(identity, id, see_all).await?;
        let modules = self.inner.store.module_verdicts(id).await?;
        Ok((record, modules))
    }

    async fn visible(&self, identity: &Identity, id: &str, see_all: bool) -> Result<RequestRecord> {
        match self.inner.store.get_request(id).await {
            Ok(record) if see_all || owns(identity, &record) => Ok(record),
            Ok(_) | Err(store::Error::NotFound(_)) => Err(Error::NotFound(id.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of requests: the caller's own, or everyone's when `see_all`.
    pub async fn list(
        &self,
        identity: &Identity,
        see_all: bool,
        mut filter: ListFilter,
    ) -> Result<Page<RequestRecord>> {
        if !see_all {
            filter.requester = Some((identity.issuer.clone(), identity.subject.clone()));
        }
        Ok(self.inner.store.list_requests(&filter).await?)
    }

    /// Mints a kubeconfig for an active request of `identity`. Only its requester gets one;
    /// the text is never stored, logged or audited (the audit says that one was issued).
    pub async fn kubeconfig(&self, identity: &Identity, id: &str) -> Result<IssuedKubeconfig> {
        let (workflow, identity, owned) = (self.clone(), identity.clone(), id.to_owned());
        self.detached(id, async move { workflow.issue(&identity, &owned).await })
            .await
    }

    /// [`Workflow::kubeconfig`]'s work, in its own task: the token minted is always audited.
    async fn issue(&self, identity: &Identity, id: &str) -> Result<IssuedKubeconfig> {
        let record = self.visible(identity, id, false).await?;
        let now = now();
        let remaining = match (record.state, record.expires_at) {
            (RequestState::Active, Some(at)) if at > now => {
                Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
            }
            (state, _) => {
                return Err(Error::Conflict(format!(
                    "request `{id}` is `{state}`; a kubeconfig is only issued while it is active"
                )));
            }
        };
        let issued = self
            .inner
            .clusters
            .kubeconfig(
                &record.cluster,
                self.inner.store.installation(),
                id,
                remaining,
            )
            .await
            .map_err(|source| Error::Cluster {
                cluster: record.cluster.clone(),
                source,
            })?;
        self.inner
            .store
            .append_audit(
                Some(id),
                &Actor::user(identity),
                &Details::KubeconfigIssued {
                    expires_at: issued.expires_at,
                },
            )
            .await?;
        Ok(issued)
    }

    /// Ends a request early: an active grant is torn down at once, a pending one withdrawn.
    /// Its requester may revoke it, and anyone when `admin`. A grant whose teardown fails
    /// comes back `revoking`: its timer retries the teardown until it succeeds.
    pub async fn revoke(
        &self,
        identity: &Identity,
        id: &str,
        admin: bool,
    ) -> Result<RequestRecord> {
        let record = self.visible(identity, id, admin).await?;
        let workflow = self.clone();
        let by = Actor::user(identity);
        self.detached(
            id,
            async move { workflow.end_early(&record, &by, None).await },
        )
        .await
    }

    /// Revokes `record` as `by` (`note` says why, in its `state_changed` events). A grant
    /// moves to `revoking` (its timer due at once) before its teardown is tried; a failed
    /// teardown leaves it there, with its timer set to the next attempt.
    async fn end_early(
        &self,
        record: &RequestRecord,
        by: &Actor,
        note: Option<&str>,
    ) -> Result<RequestRecord> {
        let id = record.id.as_str();
        match record.state {
            RequestState::Active | RequestState::Revoking => {
                let revoking = if record.state == RequestState::Active {
                    self.inner
                        .store
                        .transition_due(
                            Transition {
                                id,
                                from: RequestState::Active,
                                to: RequestState::Revoking,
                                actor: by,
                                note,
                                detail: None,
                                expires_at: None,
                            },
                            Some(now()),
                        )
                        .await?
                } else {
                    record.clone()
                };
                // Its timer is due: claimed, so that no replica's poll tears it down meanwhile.
                let _driving = timers::Driving::new(&self.inner, id);
                if self
                    .inner
                    .store
                    .claim_timer(id, self.claim())
                    .await?
                    .is_none()
                {
                    // Another replica is tearing it down (and audits it).
                    return Ok(self.inner.store.get_request(id).await?);
                }
                match self
                    .end_grant(&revoking, RequestState::Revoked, by, note)
                    .await
                {
                    Ok(ended) => {
                        if ended.state.is_final() {
                            self.disarm(id);
                            self.inner.metrics.teardown_settled(id);
                        }
                        Ok(ended)
                    }
                    Err(error) => {
                        let next = self.retry_later(&revoking, 1, &error).await;
                        self.arm(id, next);
                        Ok(self.inner.store.get_request(id).await?)
                    }
                }
            }
            from @ (RequestState::PendingApproval | RequestState::Approved) => Ok(self
                .inner
                .store
                .transition(Transition {
                    id,
                    from,
                    to: RequestState::Revoked,
                    actor: by,
                    note,
                    detail: None,
                    expires_at: None,
                })
                .await?),
            state => Err(Error::Conflict(format!(
                "request `{id}` is `{state}`; only active, revoking or pending requests can be \
                 revoked"
            ))),
        }
    }

    /// Tears down a grant and moves it from its state (`active`, `revoking`, `expiring`, or an
    /// abandoned `provisioning`) to `to` (`expired`, `revoked` or `failed`), clearing its timer and
    /// recording each deleted object. If another task moved it first, returns it as that one
    /// left it.
    async fn end_grant(
        &self,
        record: &RequestRecord,
        to: RequestState,
        by: &Actor,
        note: Option<&str>,
    ) -> Result<RequestRecord> {
        let store = &self.inner.store;
        let deleted = self
            .inner
            .clusters
            .teardown(&record.cluster, store.installation(), &record.id)
            .await
            .map_err(|source| Error::Cluster {
                cluster: record.cluster.clone(),
                source,
            })?;
        for object in &deleted {
            store.record_object_deleted(&record.id, object, by).await?;
        }
        let moved = store
            .transition_due(
                Transition {
                    id: &record.id,
                    from: record.state,
                    to,
                    actor: by,
                    note,
                    detail: None,
                    expires_at: None,
                },
                None,
            )
            .await;
        match moved {
            Ok(record) => {
                tracing::info!(request_id = %record.id, state = %record.state, "grant ended");
                Ok(record)
            }
            Err(store::Error::StateConflict { .. }) => Ok(store.get_request(&record.id).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops every timer and background task of this workflow (the grants stay recorded;
    /// a new workflow on the same store re-arms them).
    pub fn shutdown(&self) {
        for (_, timer) in lock(&self.inner.timers).drain() {
            timer.task.abort();
        }
        for task in lock(&self.inner.background).drain(..) {
            task.abort();
        }
    }

    /// [`Workflow::shutdown`], then hands the reconciler's lease on if this replica holds it
    /// (another replica sweeps next, without waiting for it to end). Claims on timers and the
    /// deadlines of work this replica had in progress end by themselves within
    /// [`Settings::claim_lease`].
    pub async fn stop(&self) {
        self.shutdown();
        let replica = &self.inner.settings.replica;
        if let Err(error) = self
            .inner
            .store
            .release_lease(reconcile::RECONCILER_LEASE, replica)
            .await
        {
            tracing::warn!(%error, "cannot hand the reconciler's lease on");
        }
    }
}

impl Workflow {
    /// A claim by this replica from now for [`Settings::claim_lease`].
    fn claim(&self) -> Claim<'_> {
        let now = now();
        Claim {
            replica: &self.inner.settings.replica,
            now,
            until: after(now, self.inner.settings.claim_lease),
        }
    }

    /// The deadline of work starting now (a request being decided or provisioned): one claim
    /// lease ahead, moved ahead every third of it while the work goes on.
    fn deadline(&self) -> Timestamp {
        after(now(), self.inner.settings.claim_lease)
    }
}

/// `at` plus `wait` (`at` when that is out of range, which no configured duration is).
fn after(at: Timestamp, wait: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(wait)
        .ok()
        .and_then(|wait| at.checked_add(wait).ok())
        .unwrap_or(at)
}

fn owns(identity: &Identity, record: &RequestRecord) -> bool {
    record.subject == identity.subject && record.issuer == identity.issuer
}

#[cfg(test)]
mod durability_tests;
#[cfg(test)]
mod replicas_tests;
#[cfg(test)]
mod revocations_tests;
#[cfg(test)]
pub(crate) mod tests;
