//! Names, labels and annotations of the objects Wicket creates, all derived from the request id
//! so that a retry finds what an earlier attempt created and a cleaner finds everything without
//! the database, and the [`Owner`] labels that keep one installation's cluster entry from
//! touching the objects of another.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::error::{Error, Result};

/// Label every Wicket object carries: `app.kubernetes.io/managed-by=wicket`.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "wicket";
/// Label holding the request id an object was created for.
pub const REQUEST_LABEL: &str = "wicket.dev/request";
/// Label holding the id of the installation (one database, shared by its replicas) that
/// created an object.
pub const INSTALLATION_LABEL: &str = "wicket.dev/installation";
/// Label holding the name of the cluster entry an object was created through.
pub const CLUSTER_LABEL: &str = "wicket.dev/cluster";
/// Annotation holding the requester's subject.
pub const REQUESTER_ANNOTATION: &str = "wicket.dev/requester";
/// Annotation holding the end of the grant, RFC 3339.
pub const EXPIRES_AT_ANNOTATION: &str = "wicket.dev/expires-at";
/// Annotation holding the requester's reason.
pub const REASON_ANNOTATION: &str = "wicket.dev/reason";
/// Annotation on the ServiceAccount naming the namespace issued kubeconfigs default to.
pub const NAMESPACE_ANNOTATION: &str = "wicket.dev/namespace";
/// Field manager of every write Wicket makes.
pub const FIELD_MANAGER: &str = "wicket";

/// Prefix of every object name.
const PREFIX: &str = "wicket-";
/// Longest name we derive: a DNS-1123 label, so the name is valid for every kind.
const MAX_NAME: usize = 63;
/// Hex digits of the id's digest appended when the id cannot be used verbatim.
const DIGEST_HEX: usize = 10;

/// Whether `value` is a non-empty label value: at most 63 characters, alphanumerics, `-`, `_`
/// and `.`, starting and ending with an alphanumeric (so it cannot widen a selector either).
fn is_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Checks that `id` can be a label value (`wicket.dev/request=<id>`).
pub fn validate_request_id(id: &str) -> Result<()> {
    if is_label_value(id) {
        Ok(())
    } else {
        Err(Error::InvalidRequestId { id: id.to_owned() })
    }
}

/// Whose an object is: one installation's one cluster entry. Every object Wicket creates carries
/// both labels, and every selector of teardown and the reconciler names both, so a Wicket never
/// deletes what another installation, or another cluster entry on the same API server, created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    installation: String,
    cluster: String,
}

/// How an object found on the cluster relates to an [`Owner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// It carries the owner's installation and cluster labels.
    Ours,
    /// It carries no installation label: made by a Wicket version before those labels.
    Legacy,
    /// It belongs to another installation or cluster entry.
    Foreign,
}

impl Owner {
    /// The owner `cluster` (a configured cluster entry) of `installation`; both must be label
    /// values.
    pub fn new(installation: &str, cluster: &str) -> Result<Self> {
        for (what, value) in [("installation id", installation), ("cluster name", cluster)] {
            if !is_label_value(value) {
                return Err(Error::InvalidLabel {
                    what,
                    value: value.to_owned(),
                });
            }
        }
        Ok(Self {
            installation: installation.to_owned(),
            cluster: cluster.to_owned(),
        })
    }

    /// The installation id.
    pub fn installation(&self) -> &str {
        &self.installation
    }

    /// The labels of every object of request `id`.
    pub(crate) fn labels(&self, id: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned()),
            (REQUEST_LABEL.to_owned(), id.to_owned()),
            (INSTALLATION_LABEL.to_owned(), self.installation.clone()),
            (CLUSTER_LABEL.to_owned(), self.cluster.clone()),
        ])
    }

    /// The label selector matching every object of this owner.
    pub fn selector(&self) -> String {
        format!(
            "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{INSTALLATION_LABEL}={},{CLUSTER_LABEL}={}",
            self.installation, self.cluster
        )
    }

    /// The label selector matching every object of this owner's request `id`.
    pub fn request_selector(&self, id: &str) -> String {
        format!("{},{REQUEST_LABEL}={id}", self.selector())
    }

    /// How an object with `labels` relates to this owner.
    pub fn claim(&self, labels: Option<&BTreeMap<String, String>>) -> Claim {
        let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
        match (label(INSTALLATION_LABEL), label(CLUSTER_LABEL)) {
            (None, _) => Claim::Legacy,
            (Some(i), Some(c)) if i == self.installation && c == self.cluster => Claim::Ours,
            _ => Claim::Foreign,
        }
    }
}

/// The label selector matching the objects of request `id` made before installation labels
/// (teardown still ends such a grant when its request is this installation's).
pub fn legacy_request_selector(id: &str) -> String {
    format!("{},{REQUEST_LABEL}={id}", legacy_selector())
}

/// The label selector matching every object made before installation labels.
pub fn legacy_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},!{INSTALLATION_LABEL}")
}

/// The name of every object of request `id` (`wicket-<id>`): a DNS-1123 label. When the id is not
/// already lowercase DNS-1123 or is too long, it is lowercased, other characters become `-`, it is
/// shortened, and a digest of the original id is appended so that distinct ids keep distinct names.
pub fn object_name(id: &str) -> String {
    let verbatim = format!("{PREFIX}{id}");
    let clean = id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if clean && verbatim.len() <= MAX_NAME && !id.ends_with('-') {
        return verbatim;
    }
    let digest = hex::encode(Sha256::digest(id.as_bytes()));
    let room = MAX_NAME - PREFIX.len() - DIGEST_HEX - 1;
    let stem: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(room)
        .collect();
    let stem = stem.trim_matches('-');
    if stem.is_empty() {
        format!("{PREFIX}{}", &digest[..DIGEST_HEX])
    } else {
        format!("{PREFIX}{stem}-{}", &digest[..DIGEST_HEX])
    }
}

/// Checks that `name` is a DNS-1123 label (a namespace name).
pub fn validate_namespace(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidGrant {
            reason: format!("`{name}` is not a valid namespace name"),
        })
    }
}

/// Checks that `name` can name a ClusterRole in a RoleBinding's `roleRef` (a path segment).
pub fn validate_role_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && !name.contains(['/', '%'])
        && !name.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidGrant {
            reason: format!("`{name}` is not a valid cluster role name"),
        })
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::uuid(
        "0b6f9d5c-3a4e-4a44-9c55-1f0a3c2e7b11",
        "wicket-0b6f9d5c-3a4e-4a44-9c55-1f0a3c2e7b11"
    )]
    #[case::short("r1", "wicket-r1")]
    fn clean_ids_are_used_verbatim(#[case] id: &str, #[case] name: &str) {
        assert_eq!(object_name(id), name);
    }

    #[rstest]
    #[case::upper("01HZY3ABCDEF")]
    #[case::underscore("req_1")]
    #[case::dot("req.1")]
    #[case::long("a123456789b123456789c123456789d123456789e123456789f123456789xyz")]
    #[case::trailing_dash_after_cut(
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop-qrstuvwxyzabcdefghijk"
    )]
    fn other_ids_get_a_safe_unique_name(#[case] id: &str) {
        let name = object_name(id);
        assert!(name.len() <= 63, "{name} is too long");
        assert!(
            validate_namespace(&name).is_ok(),
            "{name} is not a DNS-1123 label"
        );
        assert!(name.starts_with("wicket-"));
        let other = object_name(&format!("{id}x"));
        assert_ne!(name, other, "distinct ids must give distinct names");
        assert_eq!(name, object_name(id), "the name must be stable");
    }

    #[test]
    fn lossy_ids_do_not_collide_with_their_clean_spelling() {
        assert_ne!(object_name("ABC"), object_name("abc"));
        assert_ne!(object_name("a_b"), object_name("a-b"));
    }

    #[rstest]
    #[case::uuid("0b6f9d5c-3a4e-4a44-9c55-1f0a3c2e7b11", true)]
    #[case::ulid("01HZY3ABCDEF", true)]
    #[case::dots_and_underscores("a.b_c", true)]
    #[case::empty("", false)]
    #[case::leading_dash("-a", false)]
    #[case::trailing_dot("a.", false)]
    #[case::slash("a/b", false)]
    #[case::space("a b", false)]
    #[case::too_long(
        "a123456789b123456789c123456789d123456789e123456789f123456789xyza",
        false
    )]
    fn request_ids_must_be_label_values(#[case] id: &str, #[case] ok: bool) {
        assert_eq!(validate_request_id(id).is_ok(), ok);
    }

    #[rstest]
    #[case::plain("payments", true)]
    #[case::dashes("kube-system", true)]
    #[case::upper("Payments", false)]
    #[case::dot("a.b", false)]
    #[case::empty("", false)]
    #[case::trailing_dash("a-", false)]
    fn namespaces_must_be_dns_labels(#[case] ns: &str, #[case] ok: bool) {
        assert_eq!(validate_namespace(ns).is_ok(), ok);
    }

    #[rstest]
    #[case::builtin("edit", true)]
    #[case::system("system:aggregate-to-view", true)]
    #[case::slash("a/b", false)]
    #[case::dotdot("..", false)]
    #[case::empty("", false)]
    fn role_names_must_be_path_segments(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(validate_role_name(name).is_ok(), ok);
    }

    fn owner() -> Owner {
        Owner::new("0123456789abcdef0123456789abcdef", "prod").unwrap()
    }

    #[test]
    fn selectors_name_the_installation_and_the_cluster() {
        assert_eq!(
            owner().request_selector("r1"),
            "app.kubernetes.io/managed-by=wicket,\
             wicket.dev/installation=0123456789abcdef0123456789abcdef,\
             wicket.dev/cluster=prod,wicket.dev/request=r1"
        );
        assert_eq!(
            legacy_request_selector("r1"),
            "app.kubernetes.io/managed-by=wicket,!wicket.dev/installation,wicket.dev/request=r1"
        );
        let labels = owner().labels("r1");
        assert_eq!(
            labels[INSTALLATION_LABEL],
            "0123456789abcdef0123456789abcdef"
        );
        assert_eq!(labels[CLUSTER_LABEL], "prod");
        assert_eq!(labels[REQUEST_LABEL], "r1");
    }

    #[rstest]
    #[case::ours(Some("0123456789abcdef0123456789abcdef"), Some("prod"), Claim::Ours)]
    #[case::legacy(None, None, Claim::Legacy)]
    #[case::legacy_with_a_cluster(None, Some("prod"), Claim::Legacy)]
    #[case::other_installation(
        Some("ffffffffffffffffffffffffffffffff"),
        Some("prod"),
        Claim::Foreign
    )]
    #[case::other_cluster(
        Some("0123456789abcdef0123456789abcdef"),
        Some("staging"),
        Claim::Foreign
    )]
    #[case::no_cluster(Some("0123456789abcdef0123456789abcdef"), None, Claim::Foreign)]
    fn objects_are_claimed_by_both_labels(
        #[case] installation: Option<&str>,
        #[case] cluster: Option<&str>,
        #[case] claim: Claim,
    ) {
        let mut labels = BTreeMap::new();
        if let Some(i) = installation {
            labels.insert(INSTALLATION_LABEL.to_owned(), i.to_owned());
        }
        if let Some(c) = cluster {
            labels.insert(CLUSTER_LABEL.to_owned(), c.to_owned());
        }
        assert_eq!(owner().claim(Some(&labels)), claim);
    }

    #[rstest]
    #[case::empty_installation("", "prod")]
    #[case::comma("a,b", "prod")]
    #[case::selector_in_cluster("0123", "prod,wicket.dev/request")]
    fn owners_must_be_label_values(#[case] installation: &str, #[case] cluster: &str) {
        assert!(Owner::new(installation, cluster).is_err());
    }
}
