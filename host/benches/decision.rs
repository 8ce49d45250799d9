//! One `group-access` decision, five ways, on identical inputs (outputs asserted equal before
//! timing): the wasm module with a fresh instance (the production path, `Chain::evaluate`),
//! prepared and not, the policy's logic as native Rust, the same rule in Cedar, and in Rego
//! (regorus).
//!
//! A second bench: a `require-ticket` decision (a policy compiling a regular expression).
//!
//! "Fresh instance" is what the service runs: a prepared chain (`Chain::prepare`), whose
//! instances start from a snapshot taken after the module accepted its settings; "not
//! prepared" starts from the module's original image and parses the settings every time.
//!
//! `cargo build --release --target wasm32-wasip2 -p group-access -p require-ticket`, then
//! `cargo bench -p wicket --features bench-compare --bench decision`.

use std::hint::black_box;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use wicket::policy::types::{AccessRequest, Decision, Grant, Identity, NamespaceGrant};
use wicket::policy::{
    Chain, ChainEntry, EngineConfig, Limits, PolicyEngine, PolicyModule, Verdict,
};

const SETTINGS: &str = include_str!("../tests/fixtures/settings.json");
const REQUEST: &str = include_str!("../tests/fixtures/request.json");

const CEDAR: &str = r#"
permit(principal, action == Action::"request", resource == Cluster::"prod")
when {
    context.groups.contains("idp:sre") &&
    ["payments"].containsAll(context.namespaces) &&
    ["edit"].contains(context.role)
};
"#;

const REGO: &str = r#"
package wicket
import rego.v1

covers(e) if {
    some g in input.identity.groups
    g in e.groups
    input.request.cluster in e.clusters
    every ns in input.request.namespaces { ns in e.namespaces }
    input.request.role in e.roles
}

ttls contains t if {
    some e in data.allow
    covers(e)
    t := min({input.request.duration_seconds, e.max_ttl_seconds})
}
"#;

/// The decision every implementation must reach: what was asked, TTL capped at the entry's.
fn grant_for(request: &AccessRequest, ttl: u64) -> Decision {
    Decision::Allow {
        grant: Grant {
            namespaces: request
                .namespaces
                .iter()
                .map(|ns| NamespaceGrant {
                    namespace: ns.clone(),
                    access: request.access.clone(),
                })
                .collect(),
            cluster_rules: vec![],
            ttl_seconds: ttl,
        },
    }
}

fn inputs() -> (Value, Identity, AccessRequest) {
    let mut file: Value = serde_json::from_str(REQUEST).expect("request fixture");
    file["request"]["id"] = json!("bench");
    file["request"]["requested_at"] = json!("2026-11-23T10:00:00Z");
    let identity = serde_json::from_value(file["identity"].clone()).expect("identity");
    let request = serde_json::from_value(file["request"].clone()).expect("request");
    (file, identity, request)
}

/// The request in the SDK's types (same JSON form as the host's), converted once: the native
/// rule gets typed inputs, as it would inside a Rust service.
fn native_inputs(file: &Value) -> (wicket_sdk::Identity, wicket_sdk::AccessRequest) {
    (
        serde_json::from_value(file["identity"].clone()).expect("sdk identity"),
        serde_json::from_value(file["request"].clone()).expect("sdk request"),
    )
}

fn host_decision(decision: &wicket_sdk::Decision) -> Decision {
    serde_json::from_value(serde_json::to_value(decision).expect("json")).expect("host decision")
}

fn cedar(
    policies: &cedar_policy::PolicySet,
    identity: &Identity,
    request: &AccessRequest,
) -> Decision {
    use cedar_policy::{Authorizer, Context, Entities, EntityUid, Request};
    let role = match &request.access {
        wicket::policy::types::Access::Role(role) => role.clone(),
        wicket::policy::types::Access::Rules(_) => String::new(),
    };
    let context = Context::from_json_value(
        json!({"groups": identity.groups, "namespaces": request.namespaces, "role": role}),
        None,
    )
    .expect("context");
    let cedar_request = Request::new(
        EntityUid::from_str(&format!("User::{:?}", identity.subject)).expect("principal"),
        EntityUid::from_str(r#"Action::"request""#).expect("action"),
        EntityUid::from_str(&format!("Cluster::{:?}", request.cluster)).expect("resource"),
        context,
        None,
    )
    .expect("cedar request");
    let response = Authorizer::new().is_authorized(&cedar_request, policies, &Entities::empty());
    if response.decision() == cedar_policy::Decision::Allow {
        grant_for(request, request.duration_seconds.min(3600))
    } else {
        Decision::Deny {
            reason: "cedar denied".into(),
        }
    }
}

fn rego(engine: &mut regorus::Engine, file: &Value, request: &AccessRequest) -> Decision {
    engine.set_input(regorus::Value::from_json_str(&file.to_string()).expect("input"));
    let ttls = engine
        .eval_rule("data.wicket.ttls".into())
        .expect("rego eval");
    let ttl = ttls
        .as_set()
        .ok()
        .and_then(|set| set.iter().filter_map(|v| v.as_u64().ok()).max());
    match ttl {
        Some(ttl) => grant_for(request, ttl),
        None => Decision::Deny {
            reason: "rego denied".into(),
        },
    }
}

/// The shipped policy `package` as built to `target/wasm32-wasip2/release`, on its own engine.
fn shipped(package: &str) -> Arc<PolicyModule> {
    let module_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../target/wasm32-wasip2/release/{}.wasm",
        package.replace('-', "_")
    ));
    let engine = PolicyEngine::new(&EngineConfig::default()).expect("engine");
    Arc::new(
        engine
            .load_file(&module_path, Limits::default())
            .unwrap_or_else(|error| panic!("build {package} first: {error}")),
    )
}

fn bench(c: &mut Criterion) {
    let module = shipped("group-access");
    let settings: Value = serde_json::from_str(SETTINGS).expect("settings");
    let plain = Chain::new(vec![ChainEntry::new(
        "group-access",
        Arc::clone(&module),
        &settings,
    )])
    .expect("chain");
    // What the service runs: instances start from a snapshot taken after settings validation.
    let chain = plain.clone().prepare();
    assert!(chain.entries()[0].module().prepared_for().is_some());
    let (file, identity, request) = inputs();
    let expected = grant_for(&request, 1800);

    for chain in [&plain, &chain] {
        let Verdict::Allow { grant } = chain.evaluate(&identity, &request).verdict else {
            panic!("group-access must allow the benchmark request")
        };
        assert_eq!(Decision::Allow { grant }, expected);
    }
    let native_settings: group_access::Settings =
        serde_json::from_value(settings.clone()).expect("native settings");
    let (native_identity, native_request) = native_inputs(&file);
    assert_eq!(
        host_decision(&group_access::decide(
            &native_settings,
            &native_identity,
            &native_request
        )),
        expected
    );
    let policies = cedar_policy::PolicySet::from_str(CEDAR).expect("cedar policy");
    assert_eq!(cedar(&policies, &identity, &request), expected);
    let mut rego_engine = regorus::Engine::new();
    rego_engine
        .add_policy("wicket.rego".into(), REGO.into())
        .expect("rego policy");
    rego_engine
        .add_data(regorus::Value::from_json_str(SETTINGS).expect("data"))
        .expect("data");
    assert_eq!(rego(&mut rego_engine, &file, &request), expected);

    let mut group = c.benchmark_group("group-access decision");
    group.bench_function("wasm, fresh instance (Chain::evaluate)", |b| {
        b.iter(|| {
            // Checked on every iteration: a decision that failed closed (a trap, an exhausted
            // instance pool) is fast and must not pass for a fast decision.
            let evaluation = chain.evaluate(black_box(&identity), black_box(&request));
            assert!(matches!(evaluation.verdict, Verdict::Allow { .. }));
            black_box(evaluation)
        });
    });
    group.bench_function("wasm, fresh instance, not prepared", |b| {
        b.iter(|| {
            let evaluation = plain.evaluate(black_box(&identity), black_box(&request));
            assert!(matches!(evaluation.verdict, Verdict::Allow { .. }));
            black_box(evaluation)
        });
    });
    group.bench_function("native Rust", |b| {
        b.iter(|| {
            black_box(group_access::decide(
                &native_settings,
                black_box(&native_identity),
                black_box(&native_request),
            ))
        });
    });
    group.bench_function("Cedar", |b| {
        b.iter(|| black_box(cedar(&policies, black_box(&identity), black_box(&request))));
    });
    group.bench_function("Rego (regorus)", |b| {
        b.iter(|| {
            black_box(rego(
                &mut rego_engine,
                black_box(&file),
                black_box(&request),
            ))
        });
    });
    group.finish();
}

/// The cost of a policy that compiles a regular expression from its settings (`require-ticket`):
/// on every decision when not prepared; the request names a ticket, the namespace needs one.
fn ticket(c: &mut Criterion) {
    let module = shipped("require-ticket");
    let settings = json!({
        "namespaces": ["payments"],
        "ticket_pattern": "\\b(INC|CHG)-[0-9]+\\b",
        "approver_groups": ["idp:sre-leads"],
    });
    let plain =
        Chain::new(vec![ChainEntry::new("require-ticket", module, &settings)]).expect("chain");
    let prepared = plain.clone().prepare();
    assert!(prepared.entries()[0].module().prepared_for().is_some());
    let (_, identity, request) = inputs();
    let mut group = c.benchmark_group("require-ticket decision");
    for (name, chain) in [
        ("wasm, fresh instance (Chain::evaluate)", &prepared),
        ("wasm, fresh instance, not prepared", &plain),
    ] {
        assert!(matches!(
            chain.evaluate(&identity, &request).verdict,
            Verdict::Allow { .. }
        ));
        group.bench_function(name, |b| {
            b.iter(|| {
                let evaluation = chain.evaluate(black_box(&identity), black_box(&request));
                assert!(matches!(evaluation.verdict, Verdict::Allow { .. }));
                black_box(evaluation)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench, ticket);
criterion_main!(benches);
