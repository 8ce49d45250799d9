//! The store as a port: what the workflow, the API and the CLI need from Wicket's state, as
//! one trait they hold as `Arc<dyn Store>`. [`super::SqliteStore`] implements it; any other
//! implementation must pass the conformance suite (`store/conformance.rs`).
//!
//! Every change is one transaction together with its audit events, and is answered only once
//! committed and durable. The audit chain's head is read and moved inside that transaction.

use std::future::Future;
use std::pin::Pin;

use jiff::Timestamp;

use super::{
    Claim, Decided, DueTimer, ListFilter, Page, PolicyDigests, ProvisionedObject, ReloadGeneration,
    ReplicaRecord, RequestRecord, Result, Transition, WriteStats,
};
use crate::audit::{Actor, AuditEvent, Details, StoredRow};
use crate::domain::{ModuleVerdict, ObjectRef, RequestState};
use crate::policy::set::Promotion;

/// A boxed, sendable future of a store operation's result (the trait is used as an object).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Wicket's state: requests, their objects, promotions and the audit log.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// This installation's id (32 lowercase hex digits), made once with the database and the
    /// same for every process using it: the `wicket.dev/installation` label of every object
    /// Wicket creates.
    fn installation(&self) -> &str;

    /// How much the writer has done since the store was opened (see [`WriteStats`]).
    fn write_stats(&self) -> WriteStats;

    /// Lets the writes already asked for finish, then closes the store. Writes asked for
    /// later fail with [`super::Error::Closed`].
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// Stores a decided request in one change: the request in state `to` (with its timer
    /// `due_at`), its verdict and each module's part, and its events `request_received`, `verdict`, `state_changed`
    /// (`received` → `to`) and then `also`. Fails with [`super::Error::Duplicate`] (storing
    /// nothing) if the id exists.
    fn insert_decided<'a>(&'a self, decided: Decided<'a>) -> StoreFuture<'a, RequestRecord>;

    /// Moves a request from `t.from` to `t.to` if it is still in `t.from` (compare-and-set:
    /// of two replicas racing, exactly one wins; the other gets
    /// [`super::Error::StateConflict`]), with its `state_changed` event, in one transaction.
    fn transition<'a>(&'a self, t: Transition<'a>) -> StoreFuture<'a, RequestRecord>;

    /// The request with this id.
    fn get_request<'a>(&'a self, id: &'a str) -> StoreFuture<'a, RequestRecord>;

    /// Each module's part in the request's verdict, in chain order.
    fn module_verdicts<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ModuleVerdict>>;

    /// Every request in `state`, soonest `expires_at` first, then by `(created_at, id)` (e.g.
    /// the `active` ones, to re-arm their expiry timers after a restart).
    fn requests_in_state(&self, state: RequestState) -> StoreFuture<'_, Vec<RequestRecord>>;

    /// One page of requests matching `filter`, newest first by `(created_at, id)`; its `next`
    /// cursor (opaque to callers) continues after the last one.
    fn list_requests<'a>(&'a self, filter: &'a ListFilter) -> StoreFuture<'a, Page<RequestRecord>>;

    /// Records that `object` was created for request `request_id`, with an `object_created`
    /// event. Recording the same object again (a retried step) changes nothing and returns
    /// `false`.
    fn record_object<'a>(
        &'a self,
        request_id: &'a str,
        object: &'a ObjectRef,
        actor: &'a Actor,
    ) -> StoreFuture<'a, bool>;

    /// Records that `object` of request `request_id` was deleted, with an `object_deleted`
    /// event. The event is written even for an object that was never recorded (the
    /// reconciler deleting an orphan found by its labels); returns whether it was recorded.
    fn record_object_deleted<'a>(
        &'a self,
        request_id: &'a str,
        object: &'a ObjectRef,
        actor: &'a Actor,
    ) -> StoreFuture<'a, bool>;

    /// The objects recorded for a request, in the order they were recorded; deleted ones
    /// only when `include_deleted`.
    fn objects_of<'a>(
        &'a self,
        request_id: &'a str,
        include_deleted: bool,
    ) -> StoreFuture<'a, Vec<ProvisionedObject>>;

    /// Records `promotion` (replacing an earlier one of the same cluster and entry) with its
    /// `policy_promoted` event, in one transaction.
    fn save_promotion<'a>(
        &'a self,
        promotion: &'a Promotion,
        actor: &'a Actor,
    ) -> StoreFuture<'a, ()>;

    /// Every recorded promotion, oldest first.
    fn promotions(&self) -> StoreFuture<'_, Vec<Promotion>>;

    /// Appends an event that goes with no other change (a failed authentication, an issued
    /// kubeconfig).
    fn append_audit<'a>(
        &'a self,
        request_id: Option<&'a str>,
        actor: &'a Actor,
        details: &'a Details,
    ) -> StoreFuture<'a, AuditEvent>;

    /// Up to `limit` events with `seq` greater than `after`, oldest first.
    fn audit_events(&self, after: i64, limit: u32) -> StoreFuture<'_, Vec<AuditEvent>>;

    /// Up to `limit` events about one request, oldest first.
    fn audit_events_of<'a>(
        &'a self,
        request_id: &'a str,
        limit: u32,
    ) -> StoreFuture<'a, Vec<AuditEvent>>;

    /// Up to `limit` stored audit rows with `seq` greater than `after`, in `seq` order, exactly
    /// as stored (for verification, which must survive unreadable rows).
    fn stored_audit_rows(&self, after: i64, limit: u32) -> StoreFuture<'_, Vec<StoredRow>>;

    /// The `seq` of the first audit event at or after `time` (Unix milliseconds), if any.
    fn first_audit_seq_since(&self, time: i64) -> StoreFuture<'_, Option<i64>>;

    /// [`Store::transition`] that also sets the request's timer to `due_at` (`None` clears it)
    /// and clears its claim in the same statement: a state that needs a timer is never stored
    /// without it. (A move to a final state clears the timer, by either method.)
    fn transition_due<'a>(
        &'a self,
        t: Transition<'a>,
        due_at: Option<Timestamp>,
    ) -> StoreFuture<'a, RequestRecord>;

    /// Moves the timer of request `id` to `due_at` if the request is still in `state`, clearing
    /// its claim, with the audit event `details` by `actor` (why it fires again) in the same
    /// transaction.
    /// Returns whether the request was still in `state` (nothing is written otherwise).
    fn reschedule<'a>(
        &'a self,
        id: &'a str,
        state: RequestState,
        due_at: Timestamp,
        actor: &'a Actor,
        details: &'a Details,
    ) -> StoreFuture<'a, bool>;

    /// Every armed timer of a live request, soonest first.
    fn due_timers(&self) -> StoreFuture<'_, Vec<DueTimer>>;

    /// The timer of request `id`, if it has one.
    fn due_at<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Timestamp>>;

    /// Claims up to `limit` due timers, soonest first, for `claim.replica` until
    /// `claim.until`: the requests in a state with a timer whose `due_at` is at or before
    /// `claim.now` and that no other replica holds a live claim on (free, expired at
    /// `claim.now`, or already this replica's). Of replicas claiming at once, each timer goes
    /// to exactly one. The claim ends when the timer is written again ([`Store::transition_due`],
    /// [`Store::reschedule`]), when it is released, or at its end unless renewed.
    fn claim_due<'a>(&'a self, claim: Claim<'a>, limit: u32) -> StoreFuture<'a, Vec<DueTimer>>;

    /// Claims the timer of request `id` as [`Store::claim_due`] does, whatever its due time
    /// (the caller looks at it): `None` when the request has no timer or another replica
    /// holds a live claim on it.
    fn claim_timer<'a>(
        &'a self,
        id: &'a str,
        claim: Claim<'a>,
    ) -> StoreFuture<'a, Option<DueTimer>>;

    /// Moves the end of `claim.replica`'s claims on the timers of `ids` to `claim.until`;
    /// returns the ids it still held (sorted), the others were taken over or ended.
    fn renew_claims<'a>(
        &'a self,
        ids: &'a [String],
        claim: Claim<'a>,
    ) -> StoreFuture<'a, Vec<String>>;

    /// Gives up `replica`'s claim on the timer of request `id`; returns whether it held one.
    fn release_claim<'a>(&'a self, id: &'a str, replica: &'a str) -> StoreFuture<'a, bool>;

    /// Moves the due time of those of `ids` still being decided or provisioned (`received`,
    /// `approved`, `provisioning`) to `claim.until`, and clears their claim, unless another
    /// replica holds a live claim on one (it found the work abandoned and is failing it): the
    /// heartbeat of work in progress, whose due time passes only once it stopped. Returns how
    /// many it moved.
    fn hold_deadlines<'a>(&'a self, ids: &'a [String], claim: Claim<'a>) -> StoreFuture<'a, u64>;

    /// Takes the lease `name` (e.g. the reconciler's) for `claim.replica` until `claim.until`
    /// if nobody holds it, its holder's ended at `claim.now`, or this replica holds it already
    /// (which renews it); returns whether it did. One holder at a time.
    fn acquire_lease<'a>(&'a self, name: &'a str, claim: Claim<'a>) -> StoreFuture<'a, bool>;

    /// Gives up lease `name` if `holder` holds it; returns whether it did.
    fn release_lease<'a>(&'a self, name: &'a str, holder: &'a str) -> StoreFuture<'a, bool>;

    /// Stores `replica`'s heartbeat (replacing its previous one), stamped with the store's
    /// clock as its `last_seen`, and forgets every replica not seen for
    /// [`super::FORGET_REPLICAS_AFTER`], in one transaction.
    fn heartbeat<'a>(&'a self, replica: &'a ReplicaRecord) -> StoreFuture<'a, ()>;

    /// Every replica whose last heartbeat is at or after `seen_since`, by id.
    fn replicas(&self, seen_since: Timestamp) -> StoreFuture<'_, Vec<ReplicaRecord>>;

    /// Forgets replica `id` (it stopped); returns whether it was registered.
    fn remove_replica<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;

    /// Publishes the next reload generation (1 for the first): published by `replica`
    /// because of `trigger`, serving `digests`. Of two replicas publishing at once, each gets
    /// a generation of its own.
    fn publish_generation<'a>(
        &'a self,
        replica: &'a str,
        trigger: &'a str,
        digests: &'a PolicyDigests,
    ) -> StoreFuture<'a, ReloadGeneration>;

    /// The current reload generation; `None` before the first is published.
    fn reload_generation(&self) -> StoreFuture<'_, Option<ReloadGeneration>>;
}
