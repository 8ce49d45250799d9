//! This process as one replica among those sharing the database: its id, its heartbeat in the
//! replica registry, and the reload generation every replica follows.
//!
//! A reload that every replica must follow (`POST /v1/policies/reload`, a promotion, a
//! reload that changed this replica's chains, a start with modules other than the current
//! generation's) publishes the next reload generation in the database with the module digests
//! this replica serves then. Every replica polls the generation (every [`POLL_INTERVAL`]) and,
//! when it moved, applies the recorded promotions and reloads its own files. A replica whose
//! digests then differ from the generation's (its files are not the publisher's) is not ready.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::task::AbortHandle;

use crate::audit::Actor;
use crate::policy::set::Promotion;
use crate::store::{self, EntryDigest, PolicyDigests, ReloadGeneration, ReplicaRecord};
use crate::workflow::{self, ReloadReport, Workflow};

/// How often a replica looks for a new reload generation and for new promotions.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often a replica records its heartbeat (also after each reload).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// A replica not seen for this long is no longer listed.
pub const LIVE_FOR: Duration = Duration::from_secs(10);
/// How long a replica that has not followed the newest generation yet is still taken to be
/// about to (it polls every [`POLL_INTERVAL`]).
const FOLLOW_GRACE: Duration = Duration::from_secs(5);

/// The environment variable naming the replica (a pod's name, through the downward API).
pub const REPLICA_ENV: &str = "WICKET_REPLICA";

/// The replica id is not usable.
#[derive(Debug, thiserror::Error)]
#[error("`{REPLICA_ENV}` `{0}` must be 1 to 253 visible characters")]
pub struct BadReplicaId(String);

/// This replica's id: `WICKET_REPLICA` when set, else `<hostname>-<6 random hex digits>`.
pub fn replica_id() -> Result<Arc<str>, BadReplicaId> {
    match std::env::var(REPLICA_ENV) {
        Ok(id) => valid(id).map(Arc::from),
        Err(_) => Ok(generated_id().into()),
    }
}

fn valid(id: String) -> Result<String, BadReplicaId> {
    let visible = !id.is_empty()
        && id.len() <= 253
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() || (!c.is_ascii() && !c.is_whitespace()));
    if visible {
        Ok(id)
    } else {
        Err(BadReplicaId(id))
    }
}

fn generated_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| valid(name.clone()).is_ok() && name.len() <= 240)
        .unwrap_or_else(|| "wicket".to_owned());
    let mut bits = [0u8; 3];
    getrandom::fill(&mut bits).expect("the operating system provides random bytes");
    format!("{host}-{}", hex::encode(bits))
}

/// This replica: cheap to clone.
#[derive(Debug, Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: Arc<str>,
    started_at: Timestamp,
    workflow: Workflow,
    /// The reload generation applied (0: none yet).
    generation: AtomicU64,
    /// The stored promotions last applied; held through every reload, so that reloads,
    /// publishing and following happen one at a time.
    promotions: Mutex<Vec<Promotion>>,
}

impl Replica {
    /// Replica `id` of `workflow`'s service, starting now.
    pub fn new(id: Arc<str>, workflow: Workflow) -> Self {
        Self {
            inner: Arc::new(Inner {
                id,
                started_at: Timestamp::now(),
                workflow,
                generation: AtomicU64::new(0),
                promotions: Mutex::default(),
            }),
        }
    }

    /// The replica's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The workflow whose policies this replica serves.
    pub fn workflow(&self) -> &Workflow {
        &self.inner.workflow
    }

    fn store(&self) -> &Arc<dyn store::Store> {
        self.inner.workflow.store()
    }

    /// Reloads this replica's policies (see [`Workflow::reload_policies`]) and, when every
    /// replica must follow (asked through the API, or its chains changed), publishes the next
    /// reload generation.
    pub async fn reload(&self, trigger: &str, by: &Actor) -> workflow::Result<ReloadReport> {
        let one_at_a_time = self.inner.promotions.lock().await;
        let report = self.inner.workflow.reload_policies(trigger, by).await?;
        if trigger == "api" || report.swapped {
            self.publish(trigger).await?;
        }
        drop(one_at_a_time);
        self.heartbeat_logged().await;
        Ok(report)
    }

    /// Promotes (see [`Workflow::promote_policy`]) and publishes the next reload generation,
    /// so that every replica applies the promotion.
    pub async fn promote(
        &self,
        entry: &str,
        cluster: Option<&str>,
        by: &Actor,
    ) -> workflow::Result<(Vec<Promotion>, ReloadReport)> {
        let mut promotions = self.inner.promotions.lock().await;
        let promoted = self
            .inner
            .workflow
            .promote_policy(entry, cluster, by)
            .await?;
        *promotions = self.store().promotions().await?;
        self.publish("promote").await?;
        drop(promotions);
        self.heartbeat_logged().await;
        Ok(promoted)
    }

    /// Publishes the next reload generation with the digests this replica serves; the caller
    /// holds `promotions`.
    async fn publish(&self, trigger: &str) -> store::Result<()> {
        let digests = digests(&self.inner.workflow.decider().describe());
        let published = self
            .store()
            .publish_generation(self.id(), trigger, &digests)
            .await?;
        tracing::info!(
            generation = published.generation,
            trigger,
            "reload generation published"
        );
        self.inner
            .generation
            .store(published.generation, Ordering::SeqCst);
        Ok(())
    }

    /// Joins the replicas (after the workflow started): adopts the current reload generation
    /// if this replica serves its modules, else publishes the next one (a replica started with
    /// other modules brings the newest configuration); records a heartbeat and starts
    /// following.
    pub(super) async fn join(&self) -> store::Result<AbortHandle> {
        {
            let mut promotions = self.inner.promotions.lock().await;
            *promotions = self.store().promotions().await?;
            let serving = digests(&self.inner.workflow.decider().describe());
            match self.store().reload_generation().await? {
                Some(current) if current.digests == serving => {
                    self.inner
                        .generation
                        .store(current.generation, Ordering::SeqCst);
                }
                _ => self.publish("start").await?,
            }
        }
        self.heartbeat().await?;
        let replica = self.clone();
        let task = tokio::spawn(async move { replica.follow().await });
        Ok(task.abort_handle())
    }

    /// Leaves the replicas (the service stops): its registry row goes at once.
    pub(super) async fn leave(&self) {
        if let Err(error) = self.store().remove_replica(self.id()).await {
            tracing::warn!(%error, "cannot remove this replica from the registry");
        }
    }

    /// Polls the reload generation and the promotions, follows them, and heartbeats.
    async fn follow(&self) {
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_beat = tokio::time::Instant::now();
        // While the store is unreachable, said once (and when it is back), not every poll.
        let mut failing = false;
        loop {
            poll.tick().await;
            let followed = match self.follow_once().await {
                Ok(followed) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("following the reload generation again");
                    }
                    followed
                }
                Err(error) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(%error, "cannot follow the reload generation; retrying");
                    }
                    false
                }
            };
            if followed || last_beat.elapsed() >= HEARTBEAT_INTERVAL {
                if let Err(error) = self.heartbeat().await
                    && !failing
                {
                    tracing::warn!(%error, "cannot record this replica's heartbeat");
                }
                last_beat = tokio::time::Instant::now();
            }
        }
    }

    /// Reloads when another replica published a newer generation or the stored promotions
    /// changed; returns whether it did.
    async fn follow_once(&self) -> workflow::Result<bool> {
        let mut applied = self.inner.promotions.lock().await;
        let current = self.store().reload_generation().await?;
        let generation = current.as_ref().map_or(0, |c| c.generation);
        let promotions = self.store().promotions().await?;
        if generation <= self.inner.generation.load(Ordering::SeqCst) && promotions == *applied {
            return Ok(false);
        }
        if self.inner.workflow.decider().lifecycle().is_some() {
            let by = Actor::service("policy-reload");
            self.inner
                .workflow
                .follow_policies(promotions.clone(), &by)
                .await?;
        }
        if let Some(current) = &current {
            tracing::info!(
                generation = current.generation,
                published_by = %current.replica,
                trigger = %current.trigger,
                "followed the reload generation"
            );
        }
        self.inner
            .generation
            .fetch_max(generation, Ordering::SeqCst);
        *applied = promotions;
        Ok(true)
    }

    async fn heartbeat(&self) -> store::Result<()> {
        let described = self.inner.workflow.decider().describe();
        let generation = self.inner.generation.load(Ordering::SeqCst);
        let record = ReplicaRecord {
            id: self.id().to_owned(),
            started_at: self.inner.started_at,
            last_seen: Timestamp::now(),
            generation,
            serving: described["generation"].as_u64().unwrap_or(0),
            digests: digests(&described),
        };
        self.store().heartbeat(&record).await
    }

    async fn heartbeat_logged(&self) {
        if let Err(error) = self.heartbeat().await {
            tracing::warn!(%error, "cannot record this replica's heartbeat");
        }
    }

    /// Whether this replica serves the modules of the current reload generation; `Err` with
    /// the reason when not. A replica about to follow a generation just published is taken
    /// to serve it.
    pub async fn in_step(&self) -> Result<(), String> {
        let current = self.store().reload_generation().await.map_err(|error| {
            tracing::warn!(%error, "cannot read the reload generation");
            "the store is not reachable".to_owned()
        })?;
        let Some(current) = current else {
            return Ok(());
        };
        let applied = self.inner.generation.load(Ordering::SeqCst);
        let age = Timestamp::now().duration_since(current.published_at);
        if applied < current.generation
            && age < SignedDuration::try_from(FOLLOW_GRACE).unwrap_or_default()
        {
            return Ok(());
        }
        let serving = digests(&self.inner.workflow.decider().describe());
        match difference(&serving, &current.digests) {
            None => Ok(()),
            Some(difference) => Err(format!(
                "this replica's policies differ from reload generation {} (published by \
                 replica `{}`): {difference}",
                current.generation, current.replica
            )),
        }
    }

    /// This replica's id, the current reload generation and every live replica (with whether
    /// it serves that generation's modules), for `GET /v1/policies`.
    pub async fn view(&self) -> store::Result<Value> {
        let current = self.store().reload_generation().await?;
        let live_for = SignedDuration::try_from(LIVE_FOR).unwrap_or_default();
        let replicas = self.store().replicas(Timestamp::now() - live_for).await?;
        let replicas: Vec<Value> = replicas
            .into_iter()
            .map(|replica| {
                let in_step = current
                    .as_ref()
                    .is_none_or(|c| difference(&replica.digests, &c.digests).is_none());
                json!({
                    "id": replica.id,
                    "started_at": replica.started_at,
                    "last_seen": replica.last_seen,
                    "reload_generation": replica.generation,
                    "generation": replica.serving,
                    "in_step": in_step,
                    "digests": replica.digests,
                })
            })
            .collect();
        Ok(json!({
            "replica": self.id(),
            "reload_generation": current.as_ref().map(view_generation),
            "replicas": replicas,
        }))
    }
}

fn view_generation(generation: &ReloadGeneration) -> Value {
    json!({
        "generation": generation.generation,
        "replica": generation.replica,
        "trigger": generation.trigger,
        "published_at": generation.published_at,
        "digests": generation.digests,
    })
}

/// The active module digests in a `describe` answer (see `GET /v1/policies`).
fn digests(described: &Value) -> PolicyDigests {
    described["clusters"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(cluster, view)| {
            let entries = view["chain"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|entry| EntryDigest {
                    entry: entry["name"].as_str().unwrap_or_default().to_owned(),
                    digest: entry["digest"].as_str().unwrap_or_default().to_owned(),
                })
                .collect();
            (cluster.clone(), entries)
        })
        .collect()
}

/// The first difference between what a replica serves and what it should, in words.
fn difference(serving: &PolicyDigests, expected: &PolicyDigests) -> Option<String> {
    for (cluster, entries) in expected {
        let Some(served) = serving.get(cluster) else {
            return Some(format!("it has no chain for cluster `{cluster}`"));
        };
        for (index, want) in entries.iter().enumerate() {
            match served.get(index) {
                Some(have) if have == want => {}
                Some(have) if have.entry == want.entry => {
                    return Some(format!(
                        "cluster `{cluster}`, policy `{}`: it serves module {} instead of {}",
                        want.entry,
                        short(&have.digest),
                        short(&want.digest)
                    ));
                }
                _ => {
                    return Some(format!(
                        "cluster `{cluster}`: its chain differs at policy `{}`",
                        want.entry
                    ));
                }
            }
        }
        if served.len() > entries.len() {
            return Some(format!(
                "cluster `{cluster}`: its chain has policy `{}` too",
                served[entries.len()].entry
            ));
        }
    }
    serving
        .keys()
        .find(|cluster| !expected.contains_key(*cluster))
        .map(|cluster| format!("it has a chain for cluster `{cluster}` too"))
}

/// The first 12 digits of a digest (after its algorithm), enough to tell modules apart.
fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.get(..12).unwrap_or(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(entries: &[(&str, &str, &str)]) -> PolicyDigests {
        let mut digests = PolicyDigests::new();
        for (cluster, entry, digest) in entries {
            digests
                .entry((*cluster).to_owned())
                .or_default()
                .push(EntryDigest {
                    entry: (*entry).to_owned(),
                    digest: (*digest).to_owned(),
                });
        }
        digests
    }

    #[test]
    fn differences_name_the_cluster_and_policy() {
        let expected = served(&[
            ("prod", "groups", "sha256:aaaaaaaaaaaaaaaa"),
            ("dev", "groups", "x"),
        ]);
        assert_eq!(difference(&expected, &expected), None);
        let cases = [
            (
                served(&[
                    ("prod", "groups", "sha256:bbbbbbbbbbbbbbbb"),
                    ("dev", "groups", "x"),
                ]),
                "cluster `prod`, policy `groups`: it serves module bbbbbbbbbbbb instead of aaaaaaaaaaaa",
            ),
            (
                served(&[("prod", "groups", "sha256:aaaaaaaaaaaaaaaa")]),
                "it has no chain for cluster `dev`",
            ),
            (
                served(&[("prod", "window", "y"), ("dev", "groups", "x")]),
                "cluster `prod`: its chain differs at policy `groups`",
            ),
            (
                served(&[
                    ("prod", "groups", "sha256:aaaaaaaaaaaaaaaa"),
                    ("prod", "window", "y"),
                    ("dev", "groups", "x"),
                ]),
                "cluster `prod`: its chain has policy `window` too",
            ),
            (
                served(&[
                    ("prod", "groups", "sha256:aaaaaaaaaaaaaaaa"),
                    ("dev", "groups", "x"),
                    ("qa", "groups", "x"),
                ]),
                "it has a chain for cluster `qa` too",
            ),
        ];
        for (serving, said) in cases {
            assert_eq!(difference(&serving, &expected).as_deref(), Some(said));
        }
    }

    #[test]
    fn digests_come_from_the_described_chains() {
        let described = json!({"generation": 3, "clusters": {
            "prod": {"chain": [{"name": "groups", "digest": "sha256:aa"}, {"name": "window", "digest": "sha256:bb"}]},
            "dev": {"chain": []},
        }});
        assert_eq!(
            digests(&described),
            served(&[
                ("prod", "groups", "sha256:aa"),
                ("prod", "window", "sha256:bb")
            ])
            .into_iter()
            .chain([("dev".to_owned(), Vec::new())])
            .collect()
        );
    }

    #[test]
    fn replica_ids_are_visible_characters() {
        assert!(valid("wicket-7d9f8b-abcde".to_owned()).is_ok());
        for bad in ["", "has space", "tab\there", &"x".repeat(254)] {
            let error = valid(bad.to_owned()).unwrap_err();
            assert!(
                error.to_string().starts_with("`WICKET_REPLICA` `"),
                "{error}"
            );
        }
        let generated = generated_id();
        assert!(valid(generated.clone()).is_ok(), "{generated}");
        let (_, suffix) = generated.rsplit_once('-').unwrap();
        assert_eq!(suffix.len(), 6, "{generated}");
    }
}
