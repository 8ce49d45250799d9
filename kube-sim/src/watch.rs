//! Watches: a chunked stream of `{"type": ..., "object": ...}` lines. Without a resourceVersion (or
//! with `0`) the current objects come first as `ADDED`; then every change that matches the
//! namespace and selectors, until `timeoutSeconds`, the client leaves, or the server shuts down.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::api::State;
use crate::request_info::RequestInfo;
use crate::resources::{ResourceType, Storage, lookup};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, Result};
use crate::store::{Change, labels, meta_str};

/// Longest a watch stays open when the client does not say.
const DEFAULT_TIMEOUT_SECS: u64 = 1800;

struct Filter {
    rt: &'static ResourceType,
    namespace: String,
    labels: LabelSelector,
    fields: FieldSelector,
    after_rv: u64,
}

impl Filter {
    fn matches(&self, c: &Change) -> bool {
        let ns = meta_str(&c.object, "namespace");
        c.plural == self.rt.plural
            && (self.namespace.is_empty() || ns == self.namespace)
            && self.labels.matches(&labels(&c.object))
            && self.fields.matches(meta_str(&c.object, "name"), ns)
            && meta_str(&c.object, "resourceVersion")
                .parse::<u64>()
                .unwrap_or(0)
                > self.after_rv
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

/// Starts a watch that RBAC has already allowed; returns the body to stream.
pub fn start(
    state: Arc<State>,
    info: &RequestInfo,
    query: &BTreeMap<String, String>,
) -> Result<Channel<Bytes, Infallible>> {
    let a = &info.attrs;
    let rt = lookup(&a.api_group, &info.api_version, &a.resource).ok_or_else(ApiError::no_route)?;
    if rt.storage != Storage::Stored || !a.subresource.is_empty() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let mut fields = query.get("fieldSelector").cloned().unwrap_or_default();
    if !a.name.is_empty() {
        // `/watch/namespaces/ns/pods/name` watches one object.
        fields = if fields.is_empty() {
            format!("metadata.name={}", a.name)
        } else {
            format!("{fields},metadata.name={}", a.name)
        };
    }
    let rv_param = query.get("resourceVersion").cloned().unwrap_or_default();
    let after_rv = match rv_param.as_str() {
        "" | "0" => 0,
        rv => rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion `{rv}`")))?,
    };
    let filter = Filter {
        rt,
        namespace: if rt.namespaced {
            a.namespace.clone()
        } else {
            String::new()
        },
        labels: LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))?,
        fields: FieldSelector::parse(&fields)?,
        after_rv,
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    // Subscribe before the snapshot so that no change falls between them.
    let mut events = state.events.subscribe();
    let initial = if after_rv == 0 {
        state
            .store()
            .list(rt, &filter.namespace, &filter.labels, &filter.fields)
    } else {
        Vec::new()
    };
    let (tx, body) = Channel::new(16);
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let mut tx: Sender<Bytes, Infallible> = tx;
        for obj in &initial {
            if tx.send_data(line("ADDED", obj)).await.is_err() {
                return;
            }
        }
        loop {
            let change = tokio::select! {
                c = events.recv() => c,
                _ = &mut deadline => return,
                _ = shutdown.wait_for(|down| *down) => return,
            };
            let sent = match change {
                Ok(c) if filter.matches(&c) => tx.send_data(line(c.kind, &c.object)).await,
                Ok(_) => Ok(()),
                Err(RecvError::Lagged(_)) => {
                    let gone =
                        ApiError::custom(410, "Expired", "too old resource version").to_status();
                    let _ = tx.send_data(line("ERROR", &gone)).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            };
            if sent.is_err() {
                return;
            }
        }
    });
    Ok(body)
}
