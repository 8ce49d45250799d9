//! The resource types kube-sim serves, as discovery advertises them.

/// The RBAC API group.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// How a resource type is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Objects are stored and can be read back.
    Stored,
    /// A create-only review (`TokenReview`, `SelfSubjectAccessReview`, ...): answered, never stored.
    Review,
}

/// One resource type (or subresource) of the emulated API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// API group (`""` for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural resource name (`pods`), or `resource/subresource` for a subresource.
    pub plural: &'static str,
    /// Singular name.
    pub singular: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names for kubectl.
    pub short_names: &'static [&'static str],
    /// Verbs advertised by discovery.
    pub verbs: &'static [&'static str],
    /// Stored or review.
    pub storage: Storage,
}

const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CREATE: &[&str] = &["create"];

const fn stored(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        verbs: CRUD,
        storage: Storage::Stored,
    }
}

const fn review(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        plural,
        singular: "",
        kind,
        namespaced,
        short_names: &[],
        verbs: CREATE,
        storage: Storage::Review,
    }
}

/// Every resource type served, in discovery order.
pub const RESOURCES: &[ResourceType] = &[
    stored("", "namespaces", "namespace", "Namespace", false, &["ns"]),
    stored(
        "",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
    ),
    review(
        "authentication.k8s.io",
        "serviceaccounts/token",
        "TokenRequest",
        true,
    ),
    stored("", "secrets", "secret", "Secret", true, &[]),
    stored("", "configmaps", "configmap", "ConfigMap", true, &["cm"]),
    stored("", "pods", "pod", "Pod", true, &["po"]),
    stored(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
    ),
    stored(RBAC_GROUP, "roles", "role", "Role", true, &[]),
    stored(
        RBAC_GROUP,
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &[],
    ),
    stored(
        RBAC_GROUP,
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &[],
    ),
    stored(
        RBAC_GROUP,
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
    ),
    review(
        "authentication.k8s.io",
        "tokenreviews",
        "TokenReview",
        false,
    ),
    review(
        "authentication.k8s.io",
        "selfsubjectreviews",
        "SelfSubjectReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        true,
    ),
];

/// The API groups other than core, in discovery order.
pub const GROUPS: &[&str] = &[
    "apps",
    RBAC_GROUP,
    "authentication.k8s.io",
    "authorization.k8s.io",
];

impl ResourceType {
    /// `group/version`, or `version` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `resource.group` as error messages print it (`pods`, `roles.rbac.authorization.k8s.io`).
    pub fn group_resource(&self) -> String {
        let base = self.plural.split('/').next().unwrap_or(self.plural);
        if self.group.is_empty() {
            base.to_owned()
        } else {
            format!("{base}.{}", self.group)
        }
    }

    /// The group that serves the URL of this resource (`serviceaccounts/token` lives under core).
    pub fn url_group(&self) -> &'static str {
        if self.plural == "serviceaccounts/token" {
            ""
        } else {
            self.group
        }
    }
}

/// The resource served at `group`/`version` under `plural` (optionally `plural/sub`).
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.url_group() == group && r.version == version && r.plural == plural)
}

/// The stored resource type of a kind in `group`.
pub fn by_kind(group: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind && r.storage == Storage::Stored)
}
