//! Names, labels and annotations of the objects Wicket creates, all derived from the request id
//! so that a retry finds what an earlier attempt created and a cleaner finds everything without
//! the database.

use sha2::{Digest, Sha256};

use super::error::{Error, Result};

/// Label every Wicket object carries: `app.kubernetes.io/managed-by=wicket`.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "wicket";
/// Label holding the request id an object was created for.
pub const REQUEST_LABEL: &str = "wicket.dev/request";
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

/// Checks that `id` can be a label value (`wicket.dev/request=<id>`): at most 63 characters,
/// alphanumerics, `-`, `_` and `.`, starting and ending with an alphanumeric.
pub fn validate_request_id(id: &str) -> Result<()> {
    let bytes = id.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequestId { id: id.to_owned() })
    }
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

/// The label selector matching every object of request `id`.
pub fn request_selector(id: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{REQUEST_LABEL}={id}")
}

/// The label selector matching every object Wicket manages.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
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

    #[test]
    fn selectors_name_both_labels() {
        assert_eq!(
            request_selector("r1"),
            "app.kubernetes.io/managed-by=wicket,wicket.dev/request=r1"
        );
        assert_eq!(managed_selector(), "app.kubernetes.io/managed-by=wicket");
    }
}
