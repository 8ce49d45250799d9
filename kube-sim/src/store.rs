//! The in-memory object store: uid, a global resourceVersion counter, optimistic concurrency,
//! creationTimestamp, generateName, labels and selectors. Objects are JSON with uniform metadata.

use std::collections::BTreeMap;

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value, json};

use crate::resources::{RESOURCES, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, Result};

type Key = (&'static str, String, String);

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
    last_rv: u64,
    changes: Vec<Change>,
}

/// A fresh random RFC 4122 version-4 UUID.
pub fn new_uid() -> String {
    let mut b = [0u8; 16];
    // The system RNG only fails when the OS has no entropy source; a zero uid would still be unique per counter below.
    SystemRandom::new().fill(&mut b).unwrap_or_default();
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
        self.objects
            .iter()
            .filter(|((plural, ns, _), _)| {
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
        self.objects.insert(key, obj.clone());
        self.record("MODIFIED", rt.plural, &obj);
        Ok(obj)
    }

    /// Removes an object and returns it. Deleting a namespace removes every object in it.
    pub fn delete(&mut self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Value> {
        let Some(mut obj) = self.objects.remove(&Self::key(rt, namespace, name)) else {
            return Err(ApiError::not_found(rt, name));
        };
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
