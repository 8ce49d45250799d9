//! Impersonation headers (`Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid`,
//! `Impersonate-Extra-*`), authorized with the `impersonate` verb as the real filter does.

use std::collections::BTreeMap;

use hyper::HeaderMap;

use crate::api::forbidden;
use crate::auth::UserInfo;
use crate::rbac::{self, Attributes};
use crate::status::{ApiError, Result};
use crate::store::Store;

fn attrs(resource: &str, group: &str, namespace: &str, name: &str) -> Attributes {
    Attributes {
        verb: "impersonate".into(),
        resource_request: true,
        namespace: namespace.into(),
        api_group: group.into(),
        resource: resource.into(),
        name: name.into(),
        ..Default::default()
    }
}

fn check(store: &Store, user: &UserInfo, a: Attributes) -> Result<()> {
    if rbac::authorize(store, user, &a).allowed {
        Ok(())
    } else {
        Err(forbidden(user, &a))
    }
}

/// The user to act as: `user` itself without impersonation headers, else the impersonated user,
/// once `user` may impersonate each part of it.
pub fn resolve(store: &Store, user: UserInfo, headers: &HeaderMap) -> Result<UserInfo> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    };
    let name = values("impersonate-user").into_iter().next();
    let groups = values("impersonate-group");
    let uid = values("impersonate-uid").into_iter().next();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in headers {
        if let Some(k) = key.as_str().strip_prefix("impersonate-extra-")
            && let Ok(v) = value.to_str()
        {
            extra.entry(k.to_owned()).or_default().push(v.to_owned());
        }
    }
    let Some(name) = name else {
        if groups.is_empty() && uid.is_none() && extra.is_empty() {
            return Ok(user);
        }
        return Err(ApiError::internal(
            "requested impersonation of groups, uid or extra without impersonating a user",
        ));
    };
    let mut target_groups = groups.clone();
    if let Some(sa) = name.strip_prefix("system:serviceaccount:") {
        let (ns, sa_name) = sa.split_once(':').ok_or_else(|| {
            ApiError::bad_request(format!("invalid service account name `{name}`"))
        })?;
        check(store, &user, attrs("serviceaccounts", "", ns, sa_name))?;
        if groups.is_empty() {
            target_groups = vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
            ];
        }
    } else {
        check(store, &user, attrs("users", "", "", &name))?;
    }
    for g in &groups {
        check(store, &user, attrs("groups", "", "", g))?;
    }
    if let Some(u) = &uid {
        check(store, &user, attrs("uids", "authentication.k8s.io", "", u))?;
    }
    for (k, vs) in &extra {
        for v in vs {
            check(
                store,
                &user,
                attrs(&format!("userextras/{k}"), "authentication.k8s.io", "", v),
            )?;
        }
    }
    if name != "system:anonymous" && !target_groups.iter().any(|g| g == "system:authenticated") {
        target_groups.push("system:authenticated".into());
    }
    Ok(UserInfo {
        username: name,
        uid: uid.unwrap_or_default(),
        groups: target_groups,
        extra,
    })
}
