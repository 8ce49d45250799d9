//! The in-memory object store: uid, a global resourceVersion counter, optimistic concurrency,
//! creationTimestamp, generateName, labels and selectors. Objects are JSON with uniform metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value, json};

use crate::resources::{RESOURCES, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, Result};

type Key = (&'static str, String, String);

/// The resources whose objects are indexed by subject (see [`Store::bindings_for`]).
const BINDINGS: [&str; 2] = ["clusterrolebindings", "rolebindings"];

/// What happened to an object, as a watch reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The plural of the object's resource type.
    pub plural: &'static str,
    /// The object after the change (for `DELETED`, its last state with the deletion's resourceVersion).
    pub object: Value,
}

/// All stored objects.
#[derive(Debug, Default, Clone)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    /// RBAC bindings by the subject keys of [`crate::rbac::binding_subject_keys`]: the
    /// authorizer visits only the bindings that can name the caller, not every binding.
    by_subject: BTreeMap<String, BTreeSet<Key>>,
    last_rv: u64,
    changes: Vec<Change>,
}

/// Distinguishes uids even if the system RNG ever fails.
static UID_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A fresh RFC 4122 version-4 UUID: random, with a process-wide counter in the last bytes so that
/// two uids never collide even without entropy (a re-created account must never reuse a uid).
pub fn new_uid() -> String {
    let mut b = [0u8; 16];
    // Without an OS entropy source the counter below still keeps uids unique.
    SystemRandom::new().fill(&mut b).unwrap_or_default();
    let n = UID_COUNTER
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_be_bytes();
    for (dst, src) in b[10..].iter_mut().zip(&n[2..]) {
        *dst ^= src;
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut b = [0u8; 5];
    SystemRandom::new().fill(&mut b).unwrap_or_default();
    b.iter()
        .map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char)
        .collect()
}

/// Now, in the RFC 3339 form Kubernetes uses (`2026-11-21T12:00:00Z`).
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The `metadata` map of an object (created if missing).
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// A string field of `metadata` (empty when absent).
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The labels of an object.
pub fn labels(obj: &Value) -> BTreeMap<String, String> {
    obj.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

impl Store {
    fn key(rt: &ResourceType, namespace: &str, name: &str) -> Key {
        let ns = if rt.namespaced {
            namespace.to_owned()
        } else {
            String::new()
        };
        (rt.plural, ns, name.to_owned())
    }

    /// Adds (`add`) or removes the subject index entries of the binding `obj` stored at `key`.
    fn index(&mut self, key: &Key, obj: &Value, add: bool) {
        if !BINDINGS.contains(&key.0) {
            return;
        }
        for subject in crate::rbac::binding_subject_keys(obj) {
            if add {
                self.by_subject
                    .entry(subject)
                    .or_default()
                    .insert(key.clone());
            } else if let Some(keys) = self.by_subject.get_mut(&subject) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_subject.remove(&subject);
                }
            }
        }
    }

    /// The bindings of `plural` (`clusterrolebindings` or `rolebindings`) in `namespace` (empty
    /// for cluster-scoped ones) indexed under any of `subjects`, in the order [`Store::list`]
    /// gives them.
    pub fn bindings_for(&self, plural: &str, namespace: &str, subjects: &[String]) -> Vec<&Value> {
        let keys: BTreeSet<&Key> = subjects
            .iter()
            .filter_map(|subject| self.by_subject.get(subject))
            .flatten()
            .filter(|(p, ns, _)| *p == plural && ns == namespace)
            .collect();
        keys.into_iter()
            .filter_map(|key| self.objects.get(key))
            .collect()
    }

    fn next_rv(&mut self) -> String {
        self.last_rv += 1;
        self.last_rv.to_string()
    }

    /// Takes the changes made since the last call (what watches must be told).
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    fn record(&mut self, kind: &'static str, plural: &'static str, object: &Value) {
        self.changes.push(Change {
            kind,
            plural,
            object: object.clone(),
        });
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> String {
        self.last_rv.to_string()
    }

    /// One object.
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<&Value> {
        self.objects.get(&Self::key(rt, namespace, name))
    }

    /// Objects of a type, in one namespace (or all when `namespace` is empty), filtered by selectors.
    pub fn list(
        &self,
        rt: &ResourceType,
        namespace: &str,
        labels_sel: &LabelSelector,
        fields: &FieldSelector,
    ) -> Vec<Value> {
        // Keys sort by resource, then namespace: read only this resource's (namespace's) range.
        let start = (rt.plural, namespace.to_owned(), String::new());
        self.objects
            .range((Bound::Included(start), Bound::Unbounded))
            .take_while(|((plural, ns, _), _)| {
                *plural == rt.plural && (namespace.is_empty() || ns == namespace)
            })
            .filter(|((_, ns, name), obj)| {
                labels_sel.matches(&labels(obj)) && fields.matches(name, ns)
            })
            .map(|(_, obj)| obj.clone())
            .collect()
    }

    /// Stores a new object: fills uid, resourceVersion, creationTimestamp, name from generateName.
    pub fn create(&mut self, rt: &ResourceType, namespace: &str, mut obj: Value) -> Result<Value> {
        let mut name = meta_str(&obj, "name").to_owned();
        if name.is_empty() {
            let prefix = meta_str(&obj, "generateName").to_owned();
            loop {
                name = format!("{prefix}{}", random_suffix());
                if !self.objects.contains_key(&Self::key(rt, namespace, &name)) {
                    break;
                }
            }
        }
        let key = Self::key(rt, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(rt, &name));
        }
        let rv = self.next_rv();
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        let meta = meta_mut(&mut obj);
        meta.insert("name".into(), json!(name));
        if rt.namespaced {
            meta.insert("namespace".into(), json!(namespace));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("resourceVersion".into(), json!(rv));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.remove("deletionTimestamp");
        self.index(&key, &obj, true);
        self.objects.insert(key, obj.clone());
        self.record("ADDED", rt.plural, &obj);
        Ok(obj)
    }

    /// Replaces an object; a non-empty stale `resourceVersion` in `obj` is a 409 Conflict.
    /// uid and creationTimestamp are kept from the stored object.
    pub fn update(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        mut obj: Value,
    ) -> Result<Value> {
        let key = Self::key(rt, namespace, name);
        let Some(old) = self.objects.get(&key) else {
            return Err(ApiError::not_found(rt, name));
        };
        let sent_rv = meta_str(&obj, "resourceVersion");
        if !sent_rv.is_empty() && sent_rv != meta_str(old, "resourceVersion") {
            return Err(ApiError::conflict(rt, name));
        }
        let (uid, created) = (
            meta_str(old, "uid").to_owned(),
            meta_str(old, "creationTimestamp").to_owned(),
        );
        let rv = self.next_rv();
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        let meta = meta_mut(&mut obj);
        meta.insert("name".into(), json!(name));
        if rt.namespaced {
            meta.insert("namespace".into(), json!(namespace));
        }
        meta.insert("uid".into(), json!(uid));
        meta.insert("creationTimestamp".into(), json!(created));
        meta.insert("resourceVersion".into(), json!(rv));
        if let Some(old) = self.objects.get(&key).cloned() {
            self.index(&key, &old, false);
        }
        self.index(&key, &obj, true);
        self.objects.insert(key, obj.clone());
        self.record("MODIFIED", rt.plural, &obj);
        Ok(obj)
    }

    /// Removes an object and returns it. Deleting a namespace removes every object in it.
    pub fn delete(&mut self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Value> {
        let key = Self::key(rt, namespace, name);
        let Some(mut obj) = self.objects.remove(&key) else {
            return Err(ApiError::not_found(rt, name));
        };
        self.index(&key, &obj, false);
        if rt.plural == "namespaces" {
            let inside: Vec<Key> = self
                .objects
                .keys()
                .filter(|(plural, ns, _)| {
                    ns == name
                        && RESOURCES
                            .iter()
                            .any(|r| r.plural == *plural && r.namespaced)
                })
                .cloned()
                .collect();
            for key in inside {
                if let Some(mut gone) = self.objects.remove(&key) {
                    self.index(&key, &gone, false);
                    let rv = self.next_rv();
                    meta_mut(&mut gone).insert("resourceVersion".into(), json!(rv));
                    self.record("DELETED", key.0, &gone);
                }
            }
        }
        let rv = self.next_rv();
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv));
        self.record("DELETED", rt.plural, &obj);
        Ok(obj)
    }
}
