//! Scopes in settings: which clusters, namespaces, roles and rules an entry allows, and for how
//! long. The block `group-access` and `workload-identity` share, for any policy whose settings
//! list what some requesters may have:
//!
//! ```json
//! {"groups": ["corp:sre"],
//!  "clusters": ["prod-*"], "namespaces": ["payments", "team-*"], "roles": ["view", "edit"],
//!  "rules": [{"api_groups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}],
//!  "cluster_rules": [], "max_ttl": "1h"}
//! ```
//!
//! [`Scoped<T>`] reads the scope's keys beside the entry's own (here `groups`, read into `T`);
//! [`Scope`] alone reads an object of scope keys only. Both check the scope while reading it,
//! so an error names the field at fault (`allow[0].clusters[1]: ...`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;
use core::str::FromStr;

use serde_alloc::de::value::StringDeserializer;
use serde_alloc::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde_alloc::{Deserialize, forward_to_deserialize_any};
use wicket_contract::Duration;

use crate::{Access, AccessRequest, Rule, name_matches};

/// A cluster or namespace name, or a pattern: `*` matches every name, `team-*` every name that
/// starts with `team-`. Read from settings as a string; empty text or a `*` anywhere but at the
/// end is an error.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamePattern(String);

impl NamePattern {
    /// Whether `name` is this name, or matches this pattern.
    pub fn matches(&self, name: &str) -> bool {
        name_matches(&self.0, name)
    }

    /// The name or pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NamePattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.trim_end_matches('*').contains('*') {
            return Err(format!(
                "`{text}` is not a name or a pattern (`*` only at the end)"
            ));
        }
        Ok(Self(text.into()))
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NamePattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(de::Error::custom)
    }
}

/// What an entry of a policy's settings allows: the requester may have any request on one of
/// `clusters` whose namespaces are all among `namespaces`, with one of `roles` or a subset of
/// `rules` there, and a subset of `cluster_rules` cluster-wide, for at most `max_ttl`.
///
/// Settings keys (a `*` pattern is a [`NamePattern`]):
///
/// | key | value | default |
/// |---|---|---|
/// | `clusters` | cluster names or patterns, at least one | required |
/// | `namespaces` | namespace names or patterns | none |
/// | `roles` | ClusterRoles bindable in those namespaces, exact names | none |
/// | `rules` | rules whose subsets may be asked for in those namespaces | none |
/// | `cluster_rules` | cluster-scoped rules whose subsets may be asked for | none |
/// | `max_ttl` | the longest access: `"90m"`, `"1h"`, `"1d"`, or seconds | the policy's |
/// | `max_ttl_seconds` | the same in seconds (the older key; not with `max_ttl`) | |
///
/// Reading a scope also checks it: no empty rule lists, at least namespaces or cluster rules,
/// roles or rules for listed namespaces, a maximum TTL of at least one second.
///
/// ```
/// use wicket_sdk::{serde_json, Access, AccessRequest, Duration, Scope};
///
/// let scope: Scope = serde_json::from_str(
///     r#"{"clusters": ["prod-*"], "namespaces": ["team-*"], "roles": ["edit"], "max_ttl": "1d"}"#,
/// ).unwrap();
/// let ask = AccessRequest::new("prod-eu", Access::role("edit"), 7200).with_namespace("team-a");
/// assert!(scope.covers(&ask));
/// assert_eq!(scope.uncovered(&ask.clone().with_namespace("kube-ops")).unwrap(), "namespace `kube-ops`");
/// assert_eq!(scope.max_ttl_or(Duration::from_secs(900)).as_secs(), 86_400);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Cluster names or patterns; never empty.
    pub clusters: Vec<NamePattern>,
    /// Namespace names or patterns.
    pub namespaces: Vec<NamePattern>,
    /// ClusterRoles that may be bound in those namespaces, by exact name.
    pub roles: Vec<String>,
    /// Rules whose subsets may be asked for in those namespaces.
    pub rules: Vec<Rule>,
    /// Cluster-scoped rules whose subsets may be asked for.
    pub cluster_rules: Vec<Rule>,
    /// The longest access, when the settings give one (`max_ttl` or `max_ttl_seconds`).
    pub max_ttl: Option<Duration>,
}

impl Scope {
    /// Whether the scope names cluster `cluster`.
    pub fn allows_cluster(&self, cluster: &str) -> bool {
        self.clusters.iter().any(|p| p.matches(cluster))
    }

    /// Whether the scope names namespace `namespace`.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|p| p.matches(namespace))
    }

    /// Whether the scope allows `access` in its namespaces: one of its roles, or rules each
    /// covered by its rules.
    pub fn allows_access(&self, access: &Access) -> bool {
        match access {
            Access::Role(role) => self.roles.contains(role),
            Access::Rules(rules) => rules.iter().all(|rule| rule.is_covered_by(&self.rules)),
        }
    }

    /// Whether the scope allows every one of the cluster-scoped `rules`.
    pub fn allows_cluster_rules(&self, rules: &[Rule]) -> bool {
        rules
            .iter()
            .all(|rule| rule.is_covered_by(&self.cluster_rules))
    }

    /// Whether the scope allows all of `request` (its TTL aside).
    pub fn covers(&self, request: &AccessRequest) -> bool {
        self.uncovered(request).is_none()
    }

    /// The first part of `request` the scope does not allow (`` cluster `x` ``,
    /// `` namespace `x` ``, the access, `` cluster rule `r` ``), or `None` when it allows all
    /// of it (its TTL aside).
    pub fn uncovered(&self, request: &AccessRequest) -> Option<String> {
        if !self.allows_cluster(&request.cluster) {
            return Some(format!("cluster `{}`", request.cluster));
        }
        if let Some(namespace) = request
            .namespaces
            .iter()
            .find(|ns| !self.allows_namespace(ns))
        {
            return Some(format!("namespace `{namespace}`"));
        }
        if !request.namespaces.is_empty() && !self.allows_access(&request.access) {
            return Some(request.access.to_string());
        }
        request
            .cluster_rules
            .iter()
            .find(|rule| !rule.is_covered_by(&self.cluster_rules))
            .map(|rule| format!("cluster rule `{rule}`"))
    }

    /// The longest access: the scope's `max_ttl`, or `default` when the settings give none.
    pub fn max_ttl_or(&self, default: Duration) -> Duration {
        self.max_ttl.unwrap_or(default)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Scoped::<NoOtherKeys>::deserialize(deserializer).map(|scoped| scoped.scope)
    }
}

/// An entry of settings made of a [`Scope`] and the entry's own keys, read into `T` (a struct
/// deriving `Deserialize`; give it `deny_unknown_fields` so that a misspelt key is an error).
/// The keys of both sit side by side in one object, and errors in either name the field.
///
/// ```
/// use wicket_sdk::serde::Deserialize;
/// use wicket_sdk::{serde_json, Scoped};
///
/// #[derive(Deserialize)]
/// #[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
/// struct Members {
///     groups: Vec<String>,
/// }
///
/// #[derive(Deserialize)]
/// #[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
/// struct Settings {
///     allow: Vec<Scoped<Members>>,
/// }
///
/// let settings: Settings = serde_json::from_str(
///     r#"{"allow": [{"groups": ["corp:sre"], "clusters": ["prod"], "cluster_rules":
///         [{"api_groups": [""], "resources": ["nodes"], "verbs": ["get"]}], "max_ttl": "30m"}]}"#,
/// ).unwrap();
/// assert_eq!(settings.allow[0].who.groups, ["corp:sre"]);
/// assert_eq!(settings.allow[0].scope.max_ttl.unwrap().as_secs(), 1800);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scoped<T> {
    /// What the entry allows.
    pub scope: Scope,
    /// The entry's own keys (typically who it is for).
    pub who: T,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Scoped<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ScopedVisitor(PhantomData))
    }
}

/// The keys a scope reads.
const SCOPE_KEYS: &[&str] = &[
    "clusters",
    "namespaces",
    "roles",
    "rules",
    "cluster_rules",
    "max_ttl",
    "max_ttl_seconds",
];

struct ScopedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ScopedVisitor<T> {
    type Value = Scoped<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with `clusters` and what they allow")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scoped<T>, A::Error> {
        let mut keys = ScopeKeys::default();
        let who = T::deserialize(OtherKeys {
            map,
            scope: &mut keys,
            fields: &[],
        })?;
        Ok(Scoped {
            scope: keys.finish()?,
            who,
        })
    }
}

/// The scope's keys as read so far.
#[derive(Default)]
struct ScopeKeys {
    clusters: Option<Vec<NamePattern>>,
    namespaces: Option<Vec<NamePattern>>,
    roles: Option<Vec<RoleName>>,
    rules: Option<Vec<CheckedRule>>,
    cluster_rules: Option<Vec<CheckedRule>>,
    max_ttl: Option<Duration>,
    max_ttl_seconds: Option<Duration>,
}

impl ScopeKeys {
    /// Reads the value of `key` from `map` when it is a scope key; `false` when it is not.
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "clusters" => fill(
                &mut self.clusters,
                key,
                map.next_value_seed(NotEmpty::new())?,
            ),
            "namespaces" => fill(&mut self.namespaces, key, map.next_value()?),
            "roles" => fill(&mut self.roles, key, map.next_value()?),
            "rules" => fill(&mut self.rules, key, map.next_value()?),
            "cluster_rules" => fill(&mut self.cluster_rules, key, map.next_value()?),
            "max_ttl" => fill(&mut self.max_ttl, key, map.next_value_seed(AtLeastASecond)?),
            "max_ttl_seconds" => fill(
                &mut self.max_ttl_seconds,
                key,
                map.next_value_seed(AtLeastASecond)?,
            ),
            _ => return Ok(false),
        }
        .map(|()| true)
    }

    /// The scope, checked as a whole.
    fn finish<E: de::Error>(self) -> Result<Scope, E> {
        let clusters = self.clusters.ok_or_else(|| E::missing_field("clusters"))?;
        let namespaces = self.namespaces.unwrap_or_default();
        let roles: Vec<String> = self
            .roles
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.0)
            .collect();
        let rules: Vec<Rule> = self
            .rules
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.0)
            .collect();
        let cluster_rules: Vec<Rule> = self
            .cluster_rules
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.0)
            .collect();
        if namespaces.is_empty() && cluster_rules.is_empty() {
            return Err(E::custom(
                "neither `namespaces` nor `cluster_rules` is given, so nothing is allowed",
            ));
        }
        if !namespaces.is_empty() && roles.is_empty() && rules.is_empty() {
            return Err(E::custom(
                "`namespaces` are listed but neither `roles` nor `rules`",
            ));
        }
        let max_ttl = match (self.max_ttl, self.max_ttl_seconds) {
            (Some(_), Some(_)) => {
                return Err(E::custom("give `max_ttl` or `max_ttl_seconds`, not both"));
            }
            (ttl, seconds) => ttl.or(seconds),
        };
        Ok(Scope {
            clusters,
            namespaces,
            roles,
            rules,
            cluster_rules,
            max_ttl,
        })
    }
}

/// Stores `value` in `slot`, unless the key was given before.
fn fill<T, E: de::Error>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom(format!("duplicate field `{key}`")));
    }
    *slot = Some(value);
    Ok(())
}

/// A deserializer over the keys of an entry that are not the scope's: the scope's keys are
/// read into `scope` on the way, the others handed to `T`. Every value is read from the
/// original map, so an error's path still names its field.
struct OtherKeys<'a, A> {
    map: A,
    scope: &'a mut ScopeKeys,
    /// The keys of `T`, once its `Deserialize` named them.
    fields: &'static [&'static str],
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for OtherKeys<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.fields = fields;
        visitor.visit_map(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for OtherKeys<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<String>()? {
            if self.scope.read(&key, &mut self.map)? {
                continue;
            }
            let known = self.fields.contains(&key.as_str());
            let name = if known { String::new() } else { key.clone() };
            let deserializer: StringDeserializer<A::Error> = key.into_deserializer();
            return seed.deserialize(deserializer).map(Some).map_err(|error| {
                // `T` refused a key of neither: say every key the entry takes.
                if known {
                    error
                } else {
                    unknown_key(&name, self.fields)
                }
            });
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// The error for `key`, unknown to both `fields` and the scope.
fn unknown_key<E: de::Error>(key: &str, fields: &[&str]) -> E {
    let expected: Vec<String> = fields
        .iter()
        .chain(SCOPE_KEYS)
        .map(|field| format!("`{field}`"))
        .collect();
    E::custom(format!(
        "unknown field `{key}`, expected one of {}",
        expected.join(", ")
    ))
}

/// What [`Scope`] alone reads beside the scope: nothing.
#[derive(Deserialize)]
#[serde(crate = "serde_alloc", deny_unknown_fields)]
struct NoOtherKeys {}

/// A ClusterRole name in `roles`: exact, no pattern.
struct RoleName(String);

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let role = String::deserialize(deserializer)?;
        if role.is_empty() || role.contains('*') {
            return Err(de::Error::custom(format!(
                "`{role}` is not a role name (roles are exact names)"
            )));
        }
        Ok(Self(role))
    }
}

/// A rule in `rules` or `cluster_rules`: none of its lists empty.
struct CheckedRule(Rule);

impl<'de> Deserialize<'de> for CheckedRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let rule = Rule::deserialize(deserializer)?;
        if rule.api_groups.is_empty() || rule.resources.is_empty() || rule.verbs.is_empty() {
            return Err(de::Error::custom(format!(
                "rule `{rule}` has an empty list"
            )));
        }
        Ok(Self(rule))
    }
}

/// Reads a list that must not be empty.
struct NotEmpty<T>(PhantomData<T>);

impl<T> NotEmpty<T> {
    fn new() -> Self {
        Self(PhantomData)
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for NotEmpty<T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        let list = Vec::<T>::deserialize(deserializer)?;
        if list.is_empty() {
            return Err(de::Error::custom("is empty"));
        }
        Ok(list)
    }
}

/// Reads a maximum TTL: a duration of at least one second.
struct AtLeastASecond;

impl<'de> DeserializeSeed<'de> for AtLeastASecond {
    type Value = Duration;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Duration, D::Error> {
        let ttl = Duration::deserialize(deserializer)?;
        if ttl.as_secs() == 0 {
            return Err(de::Error::custom(format!(
                "`{ttl}` is too short: a maximum TTL is at least one second"
            )));
        }
        Ok(ttl)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use rstest::rstest;

    use super::*;
    use crate::policy::parse_settings;

    #[derive(Debug, Deserialize)]
    #[serde(crate = "serde_alloc", deny_unknown_fields)]
    struct Settings {
        allow: Vec<Scoped<Members>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(crate = "serde_alloc", deny_unknown_fields)]
    struct Members {
        groups: Vec<String>,
    }

    /// Settings whose second entry is `{rest}` (with `"groups": ["dev"]` unless it names groups).
    fn entry(rest: &str) -> String {
        let groups = if rest.contains("\"groups\"") {
            ""
        } else {
            r#""groups": ["dev"], "#
        };
        format!(
            r#"{{"allow": [{{"groups": ["sre"], "clusters": ["prod"], "namespaces": ["pay"], "roles": ["edit"]}}, {{{groups}{rest}}}]}}"#
        )
    }

    #[rstest]
    #[case::pattern(
        r#""clusters": ["dev", "a*b"], "cluster_rules": []"#,
        "allow[1].clusters[1]: `a*b` is not a name or a pattern (`*` only at the end)"
    )]
    #[case::empty_name(
        r#""clusters": ["dev"], "namespaces": [""], "roles": ["view"]"#,
        "allow[1].namespaces[0]: `` is not a name or a pattern (`*` only at the end)"
    )]
    #[case::no_cluster(
        r#""clusters": [], "namespaces": ["a"], "roles": ["view"]"#,
        "allow[1].clusters: is empty"
    )]
    #[case::missing_clusters(
        r#""namespaces": ["a"], "roles": ["view"]"#,
        "allow[1]: missing field `clusters`"
    )]
    #[case::role_pattern(
        r#""clusters": ["dev"], "namespaces": ["a"], "roles": ["view", "edit*"]"#,
        "allow[1].roles[1]: `edit*` is not a role name (roles are exact names)"
    )]
    #[case::empty_rule(r#""clusters": ["dev"], "namespaces": ["a"], "rules": [{"api_groups": [""], "resources": [], "verbs": ["get"]}]"#, "allow[1].rules[0]: rule `get on core/` has an empty list")]
    #[case::zero_ttl(
        r#""clusters": ["dev"], "namespaces": ["a"], "roles": ["view"], "max_ttl_seconds": 0"#,
        "allow[1].max_ttl_seconds: `0s` is too short: a maximum TTL is at least one second"
    )]
    #[case::bad_ttl(
        r#""clusters": ["dev"], "namespaces": ["a"], "roles": ["view"], "max_ttl": "soon""#,
        "allow[1].max_ttl: `soon` is not a duration (write e.g. `90s`, `30m`, `1h30m` or `1d`)"
    )]
    #[case::both_ttls(r#""clusters": ["dev"], "namespaces": ["a"], "roles": ["view"], "max_ttl": "1h", "max_ttl_seconds": 60"#, "allow[1]: give `max_ttl` or `max_ttl_seconds`, not both")]
    #[case::twice(
        r#""clusters": ["dev"], "clusters": ["dev"], "cluster_rules": []"#,
        "allow[1]: duplicate field `clusters`"
    )]
    #[case::nothing(
        r#""clusters": ["dev"]"#,
        "allow[1]: neither `namespaces` nor `cluster_rules` is given, so nothing is allowed"
    )]
    #[case::no_access(
        r#""clusters": ["dev"], "namespaces": ["a"]"#,
        "allow[1]: `namespaces` are listed but neither `roles` nor `rules`"
    )]
    #[case::own_key(
        r#""clusters": ["dev"], "namespaces": ["a"], "roles": ["view"], "group": "x""#,
        "allow[1]: unknown field `group`, expected one of `groups`, `clusters`, `namespaces`, `roles`, `rules`, `cluster_rules`, `max_ttl`, `max_ttl_seconds`"
    )]
    #[case::own_type(
        r#""clusters": ["dev"], "namespaces": ["a"], "roles": ["view"], "groups": "x""#,
        "allow[1].groups: invalid type: string \"x\", expected a sequence"
    )]
    fn errors_name_the_field(#[case] rest: &str, #[case] wanted: &str) {
        let error = parse_settings::<Settings>(&entry(rest)).unwrap_err();
        assert_eq!(error, format!("invalid settings: {wanted}"));
    }

    #[rstest]
    #[case::text(r#""max_ttl": "1d""#, Some(86_400))]
    #[case::seconds(r#""max_ttl": 600"#, Some(600))]
    #[case::old_key(r#""max_ttl_seconds": 3600"#, Some(3600))]
    #[case::none("\"roles\": [\"edit\"]", None)]
    fn the_max_ttl_is_a_duration_or_the_older_seconds(
        #[case] ttl: &str,
        #[case] seconds: Option<u64>,
    ) {
        let json = entry(&format!(
            r#""clusters": ["dev"], "namespaces": ["a"], "rules": [{{"api_groups": [""], "resources": ["pods"], "verbs": ["get"]}}], {ttl}"#
        ));
        let settings: Settings = parse_settings(&json).unwrap();
        let dev = &settings.allow[1];
        assert_eq!(dev.who.groups, ["dev"]);
        assert_eq!(dev.scope.max_ttl.map(|t| t.as_secs()), seconds);
        assert_eq!(
            dev.scope.max_ttl_or(Duration::from_secs(7)).as_secs(),
            seconds.unwrap_or(7)
        );
    }

    #[test]
    fn a_scope_alone_takes_only_scope_keys() {
        let error =
            parse_settings::<Scope>(r#"{"clusters": ["a"], "cluster_rules": [], "groups": []}"#)
                .unwrap_err();
        assert!(
            error.starts_with(
                "invalid settings: unknown field `groups`, expected one of `clusters`"
            ),
            "{error}"
        );
    }

    #[test]
    fn what_a_scope_covers() {
        let scope: Scope = parse_settings(
            r#"{"clusters": ["prod-*"], "namespaces": ["team-*", "web"], "roles": ["view"],
                "rules": [{"api_groups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}],
                "cluster_rules": [{"api_groups": [""], "resources": ["nodes"], "verbs": ["get"]}]}"#,
        )
        .unwrap();
        let deployments = Rule::new(["apps"], ["deployments"], ["get"]);
        let nodes = Rule::new([""], ["nodes"], ["get"]);
        let ask = AccessRequest::new("prod-eu", Access::role("view"), 60).with_namespace("team-a");
        assert_eq!(scope.uncovered(&ask), None);
        assert!(scope.covers(&ask.clone().with_cluster_rule(nodes.clone())));
        assert!(scope.covers(
            &AccessRequest::new("prod-eu", Access::rules([deployments]), 60).with_namespace("web")
        ));
        assert_eq!(
            scope
                .uncovered(
                    &AccessRequest::new("dev", Access::role("view"), 60).with_namespace("web")
                )
                .as_deref(),
            Some("cluster `dev`")
        );
        assert_eq!(
            scope
                .uncovered(&ask.clone().with_namespace("kube-ops"))
                .as_deref(),
            Some("namespace `kube-ops`")
        );
        assert_eq!(
            scope
                .uncovered(
                    &AccessRequest::new("prod-eu", Access::role("edit"), 60).with_namespace("web")
                )
                .as_deref(),
            Some("role `edit`")
        );
        let wider = Rule::new([""], ["nodes"], ["delete"]);
        assert_eq!(
            scope.uncovered(&ask.with_cluster_rule(wider)).as_deref(),
            Some("cluster rule `delete on core/nodes`")
        );
    }
}
