use std::path::Path;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use rstest::rstest;

use super::*;
use crate::policy::{OnAllow, OnDeny};

const EXAMPLE: &str = include_str!("../../../examples/config/wicket.toml");
const DEV_EXAMPLE: &str = include_str!("../../../examples/config/dev.toml");

/// A minimal valid configuration the error cases below append to or replace parts of.
pub(super) const MINIMAL: &str = r#"
[[issuers]]
alias = "corp"
issuer = "https://login.example.com"
audiences = ["wicket"]
algorithms = ["RS256"]
jwks_file = "jwks.json"

[[clusters]]
name = "prod"
kubeconfig = "prod.kubeconfig"
server = "https://prod.example.com:6443"

[[clusters.policies]]
name = "group-access"
module = "group_access.wasm"
"#;

/// `on_allow = "sufficient"` reads beside `on_deny = "stop"` on one entry.
#[test]
fn an_entry_may_stop_on_deny_and_be_sufficient_on_allow() {
    let text = MINIMAL.replace(
        "module = \"group_access.wasm\"",
        "module = \"group_access.wasm\"\non_deny = \"stop\"\non_allow = \"sufficient\"",
    );
    let config = parse(&text).expect("valid");
    let entry = &config.clusters[0].policies[0];
    assert_eq!(
        (entry.on_deny, entry.on_allow),
        (OnDeny::Stop, OnAllow::Sufficient)
    );
}

fn parse(text: &str) -> Result<Config> {
    Config::parse(text, "wicket.toml", Path::new("/etc/wicket"))
}

#[test]
fn documented_example_parses_with_every_section() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.listen.to_string(), "0.0.0.0:8443");
    assert!(!config.insecure_http);
    let tls = config.tls.as_ref().expect("the example configures TLS");
    assert_eq!(tls.cert_file, Path::new("/etc/wicket/tls/tls.crt"));
    assert_eq!(tls.key_file, Path::new("/etc/wicket/tls/tls.key"));
    assert_eq!(
        tls.client_ca_file.as_deref(),
        Some(Path::new("/etc/wicket/tls/clients-ca.crt"))
    );
    assert_eq!(tls.reload_interval, Duration::from_secs(10));
    assert_eq!(
        config.metrics.token_file.as_deref(),
        Some(Path::new("/etc/wicket/metrics-token"))
    );
    assert_eq!(
        config.metrics.listen.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:9090")
    );
    assert_eq!(config.data.path, Path::new("/var/lib/wicket/wicket.db"));
    assert_eq!(config.admin_groups, ["corp:platform-admins"]);
    assert_eq!(config.auditor_groups, ["corp:security"]);
    assert_eq!(config.limits.source_requests_per_minute, 600);
    assert!(
        config.limits.trusted_proxies[0].contains("10.1.2.3".parse().unwrap()),
        "{:?}",
        config.limits.trusted_proxies
    );
    assert_eq!(config.expiry.max_duration, Duration::from_secs(8 * 3600));
    assert_eq!(config.reconcile.interval, Duration::from_secs(300));
    assert!(config.reload.watch);
    assert_eq!(config.reload.debounce, Duration::from_millis(250));
    assert_eq!(config.reload.settle, Duration::from_secs(2));
    let groups = &config.clusters[0].policies[0];
    assert_eq!(
        groups.candidate.as_deref(),
        Some(Path::new("/etc/wicket/policies/group_access.next.wasm"))
    );
    assert_eq!(
        groups.candidate_settings.as_ref().unwrap()["allow"][1]["roles"],
        serde_json::json!(["view", "edit"])
    );
    let people = &config.issuers[0];
    assert_eq!(people.alias, "corp");
    assert_eq!(people.qualify("sre"), "corp:sre");
    assert_eq!(people.algorithms, [Algorithm::RS256, Algorithm::ES256]);
    assert_eq!(people.max_token_lifetime, Duration::from_secs(12 * 3600));
    let KeySource::JwksUrl {
        url,
        refresh,
        min_refetch,
        max_age,
    } = &people.keys
    else {
        panic!("expected a JWKS URL, got {:?}", people.keys)
    };
    assert_eq!(
        url.as_str(),
        "https://login.example.com/.well-known/jwks.json"
    );
    assert_eq!(*refresh, Duration::from_secs(3600));
    assert_eq!(*min_refetch, Duration::from_secs(30));
    assert_eq!(*max_age, DEFAULT_JWKS_MAX_AGE);
    let ci = &config.issuers[1];
    assert_eq!(ci.alias, "ci");
    assert_eq!(ci.groups_claim, "teams");
    assert_eq!(ci.max_token_lifetime, Duration::from_secs(3600));
    assert_eq!(
        ci.keys,
        KeySource::JwksFile("/etc/wicket/keys/ci-jwks.json".into())
    );
    let prod = &config.clusters[0];
    assert_eq!(
        prod.connection,
        Connection::Kubeconfig {
            path: "/etc/wicket/prod.kubeconfig".into(),
            context: Some("wicket@prod".into()),
        }
    );
    assert_eq!(prod.policies.len(), 2);
    assert_eq!(
        prod.policies[0].settings["allow"][0]["groups"],
        serde_json::json!(["corp:sre"])
    );
    assert_eq!(prod.policies[1].memory_limit_mib, DEFAULT_MEMORY_LIMIT_MIB);
    assert_eq!(prod.policies[1].deadline_ms, DEFAULT_DEADLINE_MS);
    assert_eq!(prod.policies[0].on_deny, OnDeny::Stop);
    assert_eq!(prod.policies[1].on_deny, OnDeny::Continue);
    assert_eq!(prod.policies[0].on_allow, OnAllow::Continue);
    assert_eq!(prod.policies[1].on_allow, OnAllow::Continue);
    assert_eq!(
        config.audit,
        Some(AuditConfig {
            key_file: "/etc/wicket/audit-key".into(),
            anchor_file: "/var/log/wicket/audit-anchors.jsonl".into(),
            anchor_interval: Duration::from_secs(10),
            events_file: Some("/var/log/wicket/audit-events.jsonl".into()),
        })
    );
}

#[test]
fn audit_paths_resolve_and_the_interval_defaults() {
    let config = parse(&format!(
        "[audit]\nkey_file = \"audit-key\"\nanchor_file = \"/log/anchors\"\n{MINIMAL}"
    ))
    .unwrap();
    let audit = config.audit.unwrap();
    assert_eq!(audit.key_file, Path::new("/etc/wicket/audit-key"));
    assert_eq!(audit.anchor_file, Path::new("/log/anchors"));
    assert_eq!(audit.anchor_interval, Duration::from_secs(10));
    assert_eq!(audit.events_file, None);
}

#[test]
fn dev_example_parses_and_resolves_relative_paths() {
    let config = Config::parse(DEV_EXAMPLE, "dev.toml", Path::new("/tmp/wicket-dev")).unwrap();
    assert!(config.dev);
    assert!(matches!(config.issuers[0].keys, KeySource::Hs256Secret(_)));
    assert_eq!(config.data.path, Path::new("/tmp/wicket-dev/wicket.db"));
    assert_eq!(
        config.clusters[0].policies[0].module,
        Path::new("/tmp/wicket-dev/group_access.wasm")
    );
}

#[test]
fn defaults_fill_what_is_left_out() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert!(!config.dev);
    assert!(!config.insecure_http);
    assert_eq!(config.tls, None);
    assert_eq!(config.metrics, MetricsConfig::default());
    assert_eq!(config.data.path, Path::new("/etc/wicket/wicket.db"));
    assert_eq!(config.limits, Limits::default());
    assert_eq!(config.issuers[0].groups_claim, "groups");
    assert_eq!(config.issuers[0].leeway, Duration::from_secs(30));
    assert_eq!(
        config.issuers[0].max_token_lifetime,
        DEFAULT_MAX_TOKEN_LIFETIME
    );
    assert_eq!(
        config.clusters[0].namespace,
        crate::guard::DEFAULT_JIT_NAMESPACE
    );
    assert_eq!(
        config.clusters[0].policies[0].settings,
        serde_json::Map::new()
    );
    assert_eq!(config.clusters[0].policies[0].on_deny, OnDeny::Continue);
    assert_eq!(config.clusters[0].policies[0].on_allow, OnAllow::Continue);
    assert_eq!(config.clusters[0].own_namespace, "wicket-system");
    assert_eq!(
        config.clusters[0].guardrails,
        crate::guard::Guardrails::default()
    );
    assert!(!config.clusters[0].allow_excess_privileges);
    assert_eq!(config.audit, None);
}

#[test]
fn the_jit_and_own_namespaces_are_always_protected() {
    let text = MINIMAL.replacen(
        r#"name = "prod""#,
        "name = \"prod\"\nnamespace = \"jit\"\nown_namespace = \"me\"\nprotected_namespaces = []",
        1,
    );
    let config = parse(&text).unwrap();
    let protected: Vec<&str> = config.clusters[0].guardrails.protected().collect();
    assert_eq!(
        protected,
        ["jit", "kube-node-lease", "kube-public", "kube-system", "me"],
        "the defaults stay protected whatever the list says"
    );
    let text = MINIMAL.replacen(
        r#"name = "prod""#,
        "name = \"prod\"\nprotected_namespaces = [\"monitoring\"]",
        1,
    );
    let config = parse(&text).unwrap();
    let protected: Vec<&str> = config.clusters[0].guardrails.protected().collect();
    assert!(
        protected.contains(&"monitoring") && protected.contains(&"kube-system"),
        "{protected:?}"
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let config = Config::parse(DEV_EXAMPLE, "dev.toml", Path::new("/")).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("dev-only-secret"), "{debug}");
    assert!(debug.contains("<redacted>"));
}

#[test]
fn missing_file_names_the_file() {
    let error = Config::load(Path::new("/nonexistent/wicket.toml")).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot read config file `/nonexistent/wicket.toml`"),
        "{error}"
    );
}

/// Errors that name the unknown or wrong key and where it is.
#[rstest]
#[case::unknown_top_level_key(
    "lisen = \"0.0.0.0:1\"\n",
    "wicket.toml:1:1: ",
    "unknown field `lisen`"
)]
#[case::unknown_policy_key(
    "[[clusters]]\nname = \"a\"\nin_cluster = true\nserver = \"https://a.example.com\"\n\
     [[clusters.policies]]\nname = \"x\"\nmodule = \"x.wasm\"\nmodul = \"y\"\n",
    "wicket.toml:8:1: ",
    "at `clusters[0].policies[0].modul`: unknown field `modul`"
)]
#[case::unknown_issuer_key(
    "[[issuers]]\nalias = \"b\"\nissuer = \"b\"\naudiences = [\"w\"]\nalgorithms = [\"RS256\"]\njwks_file = \"k\"\naudience = \"w\"\n",
    "wicket.toml:7:1: ",
    "unknown field `audience`"
)]
#[case::unknown_limits_key("[limits]\nbody = 3\n", "wicket.toml:2:1: ", "unknown field `body`")]
#[case::wrong_type(
    "[limits]\nbody_bytes = \"big\"\n",
    "wicket.toml:2:14: ",
    "at `limits.body_bytes`: invalid type: string \"big\", expected a non-negative integer"
)]
#[case::bad_trusted_proxy(
    "[limits]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.1/8\"]\n",
    "wicket.toml:2:",
    "`10.0.0.1/8` has address bits set after its /8 prefix"
)]
#[case::bad_duration(
    "[reconcile]\ninterval = \"soon\"\n",
    "wicket.toml:2:12: ",
    "`soon` is not a duration"
)]
#[case::bad_listen(
    "listen = \"everywhere\"\n",
    "wicket.toml:1:10: ",
    "at `listen`: invalid socket address"
)]
#[case::issuer_without_alias(
    "[[issuers]]\nissuer = \"b\"\naudiences = [\"w\"]\nalgorithms = [\"RS256\"]\njwks_file = \"k\"\n",
    "wicket.toml:1:1: ",
    "missing field `alias`"
)]
#[case::not_toml("[[issuers]\n", "wicket.toml:1:", "")]
#[case::unknown_audit_key(
    "[audit]\nkey_file = \"k\"\nanchor_file = \"a\"\nanchor_file_mode = 1\n",
    "wicket.toml:4:1: ",
    "unknown field `anchor_file_mode`"
)]
#[case::audit_without_anchor_file(
    "[audit]\nkey_file = \"k\"\n",
    "wicket.toml:1:1: ",
    "missing field `anchor_file`"
)]
#[case::audit_zero_interval(
    "[audit]\nkey_file = \"k\"\nanchor_file = \"a\"\nanchor_interval = \"0s\"\n",
    "wicket.toml:4:",
    "must be more than zero"
)]
fn parse_errors_name_key_and_place(#[case] text: &str, #[case] prefix: &str, #[case] needle: &str) {
    // Unknown keys are found wherever they sit, so put the snippet in front of a valid file.
    let error = parse(&format!("{text}{MINIMAL}")).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Parse { .. }), "{message}");
    assert!(message.starts_with(prefix), "{message}");
    assert!(message.contains(needle), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}

/// Values that parse but make no sense: one clear line naming what is wrong.
#[rstest]
#[case::alg_none(
    r#"algorithms = ["RS256"]"#,
    r#"algorithms = ["none"]"#,
    "algorithm `none` is never allowed"
)]
#[case::alg_unknown(
    r#"algorithms = ["RS256"]"#,
    r#"algorithms = ["XS999"]"#,
    "algorithm `XS999` is not supported"
)]
#[case::hmac_with_jwks(
    r#"algorithms = ["RS256"]"#,
    r#"algorithms = ["RS256", "HS256"]"#,
    "HMAC algorithm `HS256` cannot be used with a JWKS"
)]
#[case::no_audiences(
    r#"audiences = ["wicket"]"#,
    "audiences = []",
    "at least one non-empty entry in `audiences`"
)]
#[case::two_key_sources(
    r#"jwks_file = "jwks.json""#,
    "jwks_file = \"jwks.json\"\njwks_url = \"https://login.example.com/k\"",
    "needs exactly one of `jwks_file`, `jwks_url` or `hs256_secret`"
)]
#[case::no_key_source(r#"jwks_file = "jwks.json""#, "", "needs exactly one of")]
#[case::plain_http_jwks(
    r#"jwks_file = "jwks.json""#,
    r#"jwks_url = "http://login.example.com/k""#,
    "must use https (plain http only on loopback)"
)]
#[case::refresh_without_url(
    r#"jwks_file = "jwks.json""#,
    "jwks_file = \"jwks.json\"\njwks_refresh = \"1h\"",
    "`jwks_refresh`, `jwks_min_refetch` and `jwks_max_age` only apply with `jwks_url`"
)]
#[case::max_age_without_url(
    r#"jwks_file = "jwks.json""#,
    "jwks_file = \"jwks.json\"\njwks_max_age = \"2h\"",
    "`jwks_refresh`, `jwks_min_refetch` and `jwks_max_age` only apply with `jwks_url`"
)]
#[case::max_age_not_after_refresh(
    r#"jwks_file = "jwks.json""#,
    "jwks_url = \"https://login.example.com/k\"\njwks_refresh = \"2h\"\njwks_max_age = \"2h\"",
    "`jwks_max_age` (7200 s) must be longer than `jwks_refresh` (7200 s)"
)]
#[case::default_max_age_not_after_refresh(
    r#"jwks_file = "jwks.json""#,
    "jwks_url = \"https://login.example.com/k\"\njwks_refresh = \"6h\"",
    "`jwks_max_age` (14400 s) must be longer than `jwks_refresh` (21600 s)"
)]
#[case::zero_lifetime(
    r#"jwks_file = "jwks.json""#,
    "jwks_file = \"jwks.json\"\nmax_token_lifetime = \"0s\"",
    "duration `0s` must be more than zero"
)]
#[case::alias_not_a_label(
    r#"alias = "corp""#,
    r#"alias = "Corp:IdP""#,
    "issuer `https://login.example.com`: `alias` `Corp:IdP` must be a DNS-1123 label"
)]
#[case::secret_without_dev(
    "algorithms = [\"RS256\"]\njwks_file = \"jwks.json\"",
    "algorithms = [\"HS256\"]\nhs256_secret = \"0123456789abcdef0123456789abcdef\"",
    "`hs256_secret` is only allowed with `dev = true`"
)]
#[case::cluster_name(
    r#"name = "prod""#,
    r#"name = "Prod_1""#,
    "cluster name `Prod_1` is not a DNS-1123 label"
)]
#[case::two_connections(
    r#"kubeconfig = "prod.kubeconfig""#,
    "kubeconfig = \"prod.kubeconfig\"\nin_cluster = true",
    "needs exactly one of `kubeconfig` or `in_cluster = true`"
)]
#[case::plain_http_server(
    r#"server = "https://prod.example.com:6443""#,
    r#"server = "http://prod.example.com""#,
    "`server` `http://prod.example.com` must be an https URL"
)]
#[case::deadline(
    r#"module = "group_access.wasm""#,
    "module = \"group_access.wasm\"\ndeadline_ms = 0",
    "`deadline_ms` must be between 1 and 60000, not 0"
)]
#[case::on_deny(
    r#"module = "group_access.wasm""#,
    "module = \"group_access.wasm\"\non_deny = \"halt\"",
    "unknown variant `halt`, expected `continue` or `stop`"
)]
#[case::on_allow(
    r#"module = "group_access.wasm""#,
    "module = \"group_access.wasm\"\non_allow = \"enough\"",
    "unknown variant `enough`, expected `continue` or `sufficient`"
)]
#[case::memory(
    r#"module = "group_access.wasm""#,
    "module = \"group_access.wasm\"\nmemory_limit_mib = 100000",
    "`memory_limit_mib` must be between 1 and 4096, not 100000"
)]
#[case::jit_is_own(
    r#"name = "prod""#,
    "name = \"prod\"\nnamespace = \"wicket-system\"",
    "`namespace` (JIT ServiceAccounts) and `own_namespace` (Wicket's ServiceAccount) must differ"
)]
#[case::protected_namespace(
    r#"name = "prod""#,
    "name = \"prod\"\nprotected_namespaces = [\"Kube System\"]",
    "`protected_namespaces` `Kube System` is not a DNS-1123 label"
)]
#[case::role_name(
    r#"name = "prod""#,
    "name = \"prod\"\nroles = { edit = \"../edit\" }",
    "`roles` entry `edit` = `../edit` is not a pair of ClusterRole names"
)]
fn invalid_values_are_explained(#[case] from: &str, #[case] to: &str, #[case] needle: &str) {
    assert!(MINIMAL.contains(from), "case does not fit the base: {from}");
    let error = parse(&MINIMAL.replacen(from, to, 1)).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(needle), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}

#[rstest]
#[case::duplicate_issuer(
    "[[issuers]]\nalias = \"other\"\nissuer = \"https://login.example.com\"\naudiences = [\"x\"]\nalgorithms = [\"ES256\"]\njwks_file = \"b.json\"\n",
    "issuer `https://login.example.com` is configured twice"
)]
#[case::duplicate_alias(
    "[[issuers]]\nalias = \"corp\"\nissuer = \"https://ci.example.com\"\naudiences = [\"x\"]\nalgorithms = [\"ES256\"]\njwks_file = \"b.json\"\n",
    "issuer `https://ci.example.com`: `alias` `corp` is already used by another issuer"
)]
#[case::duplicate_cluster(
    "[[clusters]]\nname = \"prod\"\nin_cluster = true\nserver = \"https://a.example.com\"\n[[clusters.policies]]\nname = \"p\"\nmodule = \"p.wasm\"\n",
    "cluster `prod` is configured twice"
)]
#[case::same_server_and_namespace(
    "[[clusters]]\nname = \"prod-2\"\nin_cluster = true\nserver = \"https://PROD.example.com:6443/\"\n[[clusters.policies]]\nname = \"p\"\nmodule = \"p.wasm\"\n",
    "clusters `prod` and `prod-2` are the same API server (same `server` or the same connection) with the same JIT `namespace` `wicket-jit`"
)]
#[case::same_connection_and_namespace(
    "[[clusters]]\nname = \"prod-2\"\nkubeconfig = \"./prod.kubeconfig\"\nserver = \"https://other.example.com\"\n[[clusters.policies]]\nname = \"p\"\nmodule = \"p.wasm\"\n",
    "clusters `prod` and `prod-2` are the same API server"
)]
#[case::both_in_cluster(
    "[[clusters]]\nname = \"a\"\nin_cluster = true\nserver = \"https://a.example.com\"\nnamespace = \"jit\"\n[[clusters.policies]]\nname = \"p\"\nmodule = \"p.wasm\"\n[[clusters]]\nname = \"b\"\nin_cluster = true\nserver = \"https://b.example.com\"\nnamespace = \"jit\"\n[[clusters.policies]]\nname = \"p\"\nmodule = \"p.wasm\"\n",
    "clusters `a` and `b` are the same API server"
)]
#[case::no_policies(
    "[[clusters]]\nname = \"stage\"\nin_cluster = true\nserver = \"https://a.example.com\"\n",
    "cluster `stage` has no `[[clusters.policies]]`"
)]
#[case::zero_rate(
    "[limits]\nrequests_per_minute = 0\n",
    "`limits.requests_per_minute` must be more than zero"
)]
#[case::zero_source_rate(
    "[limits]\nsource_requests_per_minute = 0\n",
    "`limits.source_requests_per_minute` must be more than zero"
)]
#[case::zero_source_burst(
    "[limits]\nsource_burst = 0\n",
    "`limits.source_burst` must be more than zero"
)]
#[case::no_tracked_sources(
    "[limits]\ntracked_sources = 0\n",
    "`limits.tracked_sources` must be between 1 and 10000000, not 0"
)]
#[case::retry_cap_below_retry(
    "[expiry]\nretry_interval = \"1m\"\nretry_max_interval = \"10s\"\n",
    "`expiry.retry_max_interval` must be at least `expiry.retry_interval`"
)]
#[case::unknown_url_scheme(
    "[data]\nurl = \"mysql://db/wicket\"\n",
    "`url` scheme `mysql` is not supported; use `postgres://` or `sqlite:`"
)]
#[case::password_for_sqlite(
    "[data]\npath = \"w.db\"\npassword_env = \"PGPASSWORD\"\n",
    "`password_env` is for a `postgres://` `url`"
)]
#[case::two_passwords(
    "[data]\nurl = \"postgres://wicket@db/wicket\"\npassword_env = \"P\"\npassword_file = \"p\"\n",
    "give either `password_file` or `password_env`, not both"
)]
#[case::unknown_ssl_mode(
    "[data]\nurl = \"postgres://wicket@db/wicket\"\nssl_mode = \"always\"\n",
    "`ssl_mode` `always` is not one of"
)]
#[case::tiny_pool(
    "[data]\nurl = \"postgres://wicket@db/wicket\"\npool_size = 1\n",
    "`pool_size` must be between 2 and 1000, not 1"
)]
fn whole_file_rules(#[case] extra: &str, #[case] needle: &str) {
    // Plain tables must come before the arrays of tables of the base file.
    let text = if extra.starts_with('[') && !extra.starts_with("[[") {
        format!("{extra}{MINIMAL}")
    } else {
        format!("{MINIMAL}{extra}")
    };
    let message = parse(&text).unwrap_err().to_string();
    assert!(message.contains(needle), "{message}");
}

/// Admin and auditor groups name the issuer whose group they mean, by a configured alias.
#[rstest]
#[case::unknown_alias(
    r#"admin_groups = ["ci:platform-admins"]"#,
    "wicket.toml: `admin_groups` entry `ci:platform-admins` names issuer alias `ci`, which no \
     `[[issuers]]` entry has (configured: `corp`)"
)]
#[case::unqualified(
    r#"auditor_groups = ["security"]"#,
    "wicket.toml: `auditor_groups` entry `security` must be `<alias>:<group>`, with the `alias` \
     of one of the `[[issuers]]`"
)]
#[case::empty_group(
    r#"admin_groups = ["corp:"]"#,
    "wicket.toml: `admin_groups` entry `corp:` names no group after `corp:`"
)]
#[case::url_is_not_an_alias(
    r#"admin_groups = ["https://login.example.com:platform-admins"]"#,
    "wicket.toml: `admin_groups` entry `https://login.example.com:platform-admins` names issuer \
     alias `https`, which no `[[issuers]]` entry has (configured: `corp`)"
)]
fn admin_and_auditor_groups_name_a_configured_alias(#[case] line: &str, #[case] expected: &str) {
    let message = parse(&format!("{line}\n{MINIMAL}"))
        .unwrap_err()
        .to_string();
    assert_eq!(message, expected);
    let config = parse(&format!(
        "admin_groups = [\"corp:platform-admins\"]\nauditor_groups = [\"corp:security\"]\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(config.admin_groups, ["corp:platform-admins"]);
}

#[test]
fn one_api_server_may_serve_two_entries_in_two_namespaces() {
    let second = "[[clusters]]\nname = \"prod-readonly\"\nkubeconfig = \"prod.kubeconfig\"\n\
                  server = \"https://prod.example.com:6443\"\nnamespace = \"wicket-readonly\"\n\
                  [[clusters.policies]]\nname = \"p\"\nmodule = \"p.wasm\"\n";
    let config = parse(&format!("{MINIMAL}{second}")).unwrap();
    assert_eq!(config.clusters.len(), 2);
}

#[test]
fn no_issuers_is_refused() {
    let clusters_only = &MINIMAL[MINIMAL.find("[[clusters]]").unwrap()..];
    let message = parse(clusters_only).unwrap_err().to_string();
    assert_eq!(
        message,
        "wicket.toml: no `[[issuers]]`: nobody could authenticate"
    );
}

#[test]
fn sqlite_url_is_a_path() {
    let config = parse(&format!(
        "[data]\nurl = \"sqlite:///srv/w.db?mode=rwc\"\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(config.data.path, Path::new("/srv/w.db"));
}

#[test]
fn candidates_are_resolved_and_candidate_settings_need_a_candidate() {
    let config = parse(&format!("{MINIMAL}candidate = \"next.wasm\"\n")).unwrap();
    assert_eq!(
        config.clusters[0].policies[0].candidate.as_deref(),
        Some(Path::new("/etc/wicket/next.wasm"))
    );
    assert_eq!(config.reload, crate::config::Reload::default());
    let error = parse(&format!("{MINIMAL}candidate_settings = {{ a = 1 }}\n")).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`candidate_settings` needs a `candidate` module"),
        "{error}"
    );
    let error = parse(&format!("[reload]\nsettle = \"0s\"\n{MINIMAL}")).unwrap_err();
    assert!(
        error.to_string().contains("must be more than zero"),
        "{error}"
    );
}

#[test]
fn a_postgres_url_selects_postgresql_with_its_password_file_resolved() {
    let config = parse(&format!(
        "[data]\nurl = \"postgres://wicket@db.internal:5432/wicket?sslmode=verify-full\"\n\
         password_file = \"secrets/db-password\"\nconnect_timeout = \"1500ms\"\n\
         ca_file = \"/etc/wicket/db-ca.pem\"\n{MINIMAL}"
    ))
    .unwrap();
    let postgres = config.data.postgres.expect("postgres");
    assert_eq!(
        postgres.url,
        "postgres://wicket@db.internal:5432/wicket?sslmode=verify-full"
    );
    assert!(postgres.password_file.unwrap().is_absolute());
    assert_eq!(postgres.connect_timeout, Duration::from_millis(1500));
    assert_eq!(postgres.pool_size, 10);
    assert_eq!(
        postgres.ca_file.unwrap(),
        Path::new("/etc/wicket/db-ca.pem")
    );
    let defaults = parse(&format!(
        "[data]\nurl = \"postgresql://wicket@db/wicket\"\npassword_env = \"WICKET_DB_PASSWORD\"\n{MINIMAL}"
    ))
    .unwrap();
    let postgres = defaults.data.postgres.expect("postgres");
    assert_eq!(postgres.connect_timeout, Duration::from_secs(2));
    assert_eq!(postgres.password_env.as_deref(), Some("WICKET_DB_PASSWORD"));
}

#[test]
fn a_password_file_loses_its_final_newline_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "s3cret \n").unwrap();
    let config = crate::config::PostgresConfig {
        url: "postgres://wicket@db/wicket".into(),
        password_file: Some(file),
        password_env: None,
        connect_timeout: Duration::from_secs(2),
        pool_size: 10,
        ssl_mode: None,
        ca_file: None,
    };
    assert_eq!(config.password().unwrap().as_deref(), Some("s3cret "));
    let missing = crate::config::PostgresConfig {
        password_file: Some(dir.path().join("none")),
        ..config
    };
    assert!(
        missing
            .password()
            .unwrap_err()
            .starts_with("cannot read `data.password_file`")
    );
}
