//! Adversarial guests: every one is denied with a diagnostic, within its deadline plus a
//! generous margin, and the same engine decides normally right after.

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::json;
use wicket::domain::{Access, ApiCall, CallDecision, Decision};
use wicket::policy::{
    Chain, ChainEntry, Contract, EngineConfig, Error, Evaluation, Limits, ModuleResult, OnAllow,
    OnDeny, PolicyEngine, PolicyModule, Stop, Verdict, World, cases,
};
use wicket_tests::{alice, edit_payments, guests};

// Every guest must have a test function of its own name below.
macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
wicket_tests::foreach_guest!(assert_test_exists);

/// Far more than any deadline, so a slow shared machine cannot fail the tests.
const MARGIN: Duration = Duration::from_secs(10);

fn engine() -> &'static PolicyEngine {
    static ENGINE: OnceLock<PolicyEngine> = OnceLock::new();
    ENGINE.get_or_init(|| PolicyEngine::new(&EngineConfig::default()).expect("engine"))
}

fn chain(path: &str, settings: serde_json::Value, limits: Limits) -> Chain {
    let module = engine()
        .load_file(path.as_ref(), limits)
        .expect("guest loads");
    Chain::new(vec![ChainEntry::new("guest", Arc::new(module), &settings)])
        .expect("settings accepted")
}

fn evaluate(path: &str, settings: serde_json::Value) -> Evaluation {
    chain(path, settings, Limits::default()).evaluate(&alice(), &edit_payments())
}

/// The module's own error (failure) and the verdict's reason.
fn failure(evaluation: &Evaluation) -> (&str, &str) {
    let ModuleResult::Failed { error, .. } = &evaluation.modules[0].result else {
        panic!("expected a failure, got {evaluation:#?}")
    };
    let Verdict::Deny { reason } = &evaluation.verdict else {
        panic!("expected deny, got {evaluation:#?}")
    };
    (error, reason)
}

/// The reason of a deny the module itself decided.
fn denied(evaluation: &Evaluation) -> &str {
    match &evaluation.modules[0].result {
        ModuleResult::Decided {
            decision: Decision::Deny { reason },
        } => reason,
        other => panic!("expected the module to deny, got {other:#?}"),
    }
}

fn assert_engine_still_serves() {
    let evaluation = evaluate(guests::ALLOW, json!({}));
    assert!(
        matches!(&evaluation.verdict, Verdict::Allow { grant } if grant.ttl_seconds == 1800),
        "{evaluation:#?}"
    );
}

#[test]
fn allow() {
    let evaluation = evaluate(guests::ALLOW, json!({}));
    let Verdict::Allow { grant } = &evaluation.verdict else {
        panic!("{evaluation:#?}")
    };
    assert_eq!(grant.namespaces.len(), 1);
    assert_eq!(grant.namespaces[0].namespace, "payments");
    assert_eq!(grant.namespaces[0].access, Access::Role("edit".into()));
    assert_eq!(evaluation.modules[0].digest.len(), 64);
    assert!(evaluation.modules[0].output.is_empty());
}

#[test]
fn infinite_loop() {
    let deadline = Duration::from_millis(100);
    let limits = Limits {
        deadline,
        ..Limits::default()
    };
    let chain = chain(guests::INFINITE_LOOP, json!({}), limits);
    let started = Instant::now();
    let evaluation = chain.evaluate(&alice(), &edit_payments());
    let elapsed = started.elapsed();
    let (error, reason) = failure(&evaluation);
    assert!(error.contains("deadline of 100 ms exceeded"), "{error}");
    assert!(reason.contains("deadline"), "{reason}");
    assert!(
        elapsed >= deadline,
        "stopped before its deadline: {elapsed:?}"
    );
    assert!(elapsed < deadline + MARGIN, "took {elapsed:?}");
    assert_engine_still_serves();
}

/// A guest that prints (what the author guide suggests for debugging) decides normally; its
/// output is captured, in the evaluation and bounded, and the host does not block or crash.
#[test]
fn print() {
    let chain = chain(guests::PRINT, json!({}), Limits::default());
    let evaluation = chain.evaluate(&alice(), &edit_payments());
    assert_eq!(denied(&evaluation), "printed while deciding for alice");
    let output = &evaluation.modules[0].output;
    assert_eq!(output.stdout, "print guest: deciding for alice\n");
    assert_eq!(output.stderr, "print guest: on stderr while deciding\n");
    // From a snapshot too: validation printed, so the module is not prepared, and decides.
    let prepared = chain.prepare();
    assert_eq!(prepared.entries()[0].module().prepared_for(), None);
    assert_eq!(
        denied(&prepared.evaluate(&alice(), &edit_payments())),
        "printed while deciding for alice"
    );
    assert_engine_still_serves();
}

/// A guest sleeping 5 s (a host call, out of the epoch deadline's reach) is stopped at its
/// deadline and denied, not answered 5 s later.
#[test]
fn sleep() {
    let deadline = Duration::from_millis(100);
    let limits = Limits {
        deadline,
        ..Limits::default()
    };
    let chain = chain(guests::SLEEP, json!({}), limits);
    let started = Instant::now();
    let evaluation = chain.evaluate(&alice(), &edit_payments());
    let elapsed = started.elapsed();
    let (error, reason) = failure(&evaluation);
    assert!(error.contains("deadline of 100 ms exceeded"), "{error}");
    assert!(reason.contains("deadline"), "{reason}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_engine_still_serves();
}

/// Sleeping while checking its settings: the module is refused at load, within its deadline.
#[test]
fn sleep_while_validating() {
    let limits = Limits {
        deadline: Duration::from_millis(100),
        ..Limits::default()
    };
    let module = engine()
        .load_file(guests::SLEEP.as_ref(), limits)
        .expect("guest loads");
    let started = Instant::now();
    let refused = Chain::new(vec![ChainEntry::new(
        "guest",
        Arc::new(module),
        &json!({"validate": true}),
    )]);
    let elapsed = started.elapsed();
    let Err(Error::SettingsFailed { reason, .. }) = refused else {
        panic!("expected a settings failure, got {refused:?}")
    };
    assert!(reason.contains("deadline of 100 ms exceeded"), "{reason}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[test]
fn big_alloc() {
    let started = Instant::now();
    let evaluation = evaluate(guests::BIG_ALLOC, json!({}));
    let (error, _) = failure(&evaluation);
    assert!(error.contains("memory limit of 64 MiB exceeded"), "{error}");
    assert!(started.elapsed() < Limits::default().deadline + MARGIN);
    assert_engine_still_serves();
}

#[test]
fn recursion() {
    let evaluation = evaluate(guests::RECURSION, json!({}));
    let (error, _) = failure(&evaluation);
    assert!(error.contains("stack"), "{error}");
    assert_engine_still_serves();
}

#[test]
fn panic() {
    let evaluation = evaluate(guests::PANIC, json!({}));
    let (error, _) = failure(&evaluation);
    assert!(error.contains("trapped"), "{error}");
    let output = &evaluation.modules[0].output;
    assert!(output.stdout.contains("deciding for alice"), "{output:?}");
    assert!(
        output.stderr.contains("guest panicked on purpose"),
        "{output:?}"
    );
    assert_engine_still_serves();
}

#[test]
fn huge_reason() {
    // Within the default 64 MiB the 100 MB string cannot even be built.
    let evaluation = evaluate(guests::HUGE_REASON, json!({}));
    let (error, _) = failure(&evaluation);
    assert!(error.contains("memory limit"), "{error}");
    // With room for it, the host refuses the oversized reason.
    let roomy = Limits {
        memory_bytes: 512 << 20,
        deadline: Duration::from_secs(5),
        ..Limits::default()
    };
    let evaluation =
        chain(guests::HUGE_REASON, json!({}), roomy).evaluate(&alice(), &edit_payments());
    let (error, reason) = failure(&evaluation);
    assert!(
        error.contains("malformed decision: the deny reason is 100000000 bytes long"),
        "{error}"
    );
    assert!(
        reason.len() < 1000,
        "the verdict must not carry the huge reason"
    );
    assert_engine_still_serves();
}

#[test]
fn read_file() {
    let evaluation = evaluate(guests::READ_FILE, json!({}));
    assert!(
        denied(&evaluation).starts_with("no file access"),
        "{evaluation:#?}"
    );
    assert!(matches!(evaluation.verdict, Verdict::Deny { .. }));
    assert_engine_still_serves();
}

#[test]
fn read_env() {
    let evaluation = evaluate(guests::READ_ENV, json!({}));
    assert_eq!(
        denied(&evaluation),
        "no environment: 0 variables, 0 arguments"
    );
    assert_engine_still_serves();
}

#[test]
fn read_clock() {
    let first = evaluate(guests::READ_CLOCK, json!({}));
    let reason = denied(&first);
    assert!(reason.starts_with("wall clock 0 s, hash "), "{reason}");
    // A new instance draws the same "random" seed: decisions replay exactly.
    let second = evaluate(guests::READ_CLOCK, json!({}));
    assert_eq!(denied(&second), reason);
    assert_engine_still_serves();
}

/// A module that calls an import while validating its settings cannot be snapshotted: the
/// chain keeps deciding from its original image, with the same answers.
#[test]
fn read_clock_is_not_prepared() {
    let plain = chain(guests::READ_CLOCK, json!({}), Limits::default());
    let prepared = chain(guests::READ_CLOCK, json!({}), Limits::default()).prepare();
    assert_eq!(prepared.entries()[0].module().prepared_for(), None);
    assert_eq!(
        denied(&prepared.evaluate(&alice(), &edit_payments())),
        denied(&plain.evaluate(&alice(), &edit_payments()))
    );
}

#[test]
fn socket() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let address = listener.local_addr().expect("address").to_string();
    let evaluation = evaluate(guests::SOCKET, json!(address));
    assert!(
        denied(&evaluation).starts_with("no network"),
        "{evaluation:#?}"
    );
    assert!(listener.accept().is_err(), "the guest reached the listener");
    assert_engine_still_serves();
}

#[test]
fn counter() {
    let chain = chain(guests::COUNTER, json!({}), Limits::default());
    for _ in 0..3 {
        let evaluation = chain.evaluate(&alice(), &edit_payments());
        assert_eq!(denied(&evaluation), "decision number 1");
    }
}

/// Prepared, every decision starts from the state right after validation (which counted
/// once): the same count every time, never a count carried over from a previous decision.
#[test]
fn counter_prepared() {
    let chain = chain(guests::COUNTER, json!({}), Limits::default()).prepare();
    assert_eq!(chain.entries()[0].module().prepared_for(), Some("{}"));
    for _ in 0..3 {
        let evaluation = chain.evaluate(&alice(), &edit_payments());
        assert_eq!(denied(&evaluation), "decision number 2");
    }
}

#[test]
fn reject_settings() {
    let module = engine()
        .load_file(guests::REJECT_SETTINGS.as_ref(), Limits::default())
        .expect("loads");
    let error = Chain::new(vec![ChainEntry::new(
        "picky",
        Arc::new(module),
        &json!({"max_ttl": 0}),
    )])
    .expect_err("settings must be rejected");
    assert!(
        matches!(&error, Error::Settings { name, .. } if name == "picky"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        r#"module `picky` rejected its settings: `max_ttl` must be a positive number of seconds (settings: {"max_ttl":0})"#
    );
}

#[test]
fn wrong_world() {
    let error = engine()
        .load_file(guests::WRONG_WORLD.as_ref(), Limits::default())
        .expect_err("must be refused");
    assert!(matches!(error, Error::WrongWorld { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("`wicket:policy/evaluator@0.2.0` or `wicket:policy/evaluator@0.1.0`"),
        "{message}"
    );
    assert!(message.contains("it exports: `answer`"), "{message}");
}

/// A module exporting the evaluator interface by name with other signatures is refused at
/// load (the exports are type-checked there), never called.
#[test]
fn wrong_signature() {
    let error = engine()
        .load_file(guests::WRONG_SIGNATURE.as_ref(), Limits::default())
        .expect_err("must be refused");
    assert!(matches!(error, Error::Link { .. }), "{error:?}");
    let source = std::error::Error::source(&error).expect("wasmtime's reason");
    let message = format!("{source:#}");
    assert!(
        message.contains("do not have the contract's types"),
        "{message}"
    );
}

#[test]
fn relay() {
    let module = engine()
        .load_file(guests::RELAY.as_ref(), Limits::default())
        .expect("a relay-policy module loads");
    assert_eq!(module.world(), World::RelayPolicy);
    assert_eq!(module.contract(), Contract::V0_2);
    assert_eq!(module.world_name(), "wicket:policy/relay-policy@0.2.0");
    let evaluation = evaluate(guests::RELAY, json!({}));
    assert_eq!(
        denied(&evaluation),
        "relay guest: prod is decided call by call"
    );
}

/// A call at `at` (RFC 3339) with `verb` on pods in `payments`.
fn call(verb: &str, at: &str) -> ApiCall {
    serde_json::from_value(json!({
        "verb": verb, "resource": "pods", "namespace": "payments", "name": "api-0", "at": at
    }))
    .expect("a valid call")
}

fn authorize(
    module: &PolicyModule,
    settings: &str,
    call: &ApiCall,
) -> (CallDecision, Option<String>) {
    let outcome = module.authorize_call(settings, &alice(), &edit_payments(), call);
    (outcome.decision, outcome.failure)
}

/// The host calls `authorize-call` of a relay policy with the call's time: the guest is
/// read-only from 2026-11-23T10:30:00Z (1795429800).
#[rstest]
#[case::read(
    r#"{"read_only_from":1795429800}"#,
    "get",
    "2026-11-23T11:00:00Z",
    CallDecision::Allow
)]
#[case::write_before(
    r#"{"read_only_from":1795429800}"#,
    "patch",
    "2026-11-23T10:29:59Z",
    CallDecision::Allow
)]
#[case::write_after(r#"{"read_only_from":1795429800}"#, "patch", "2026-11-23T10:30:00Z", CallDecision::Deny { reason: "alice may only read from 1795429800".into() })]
#[case::delete("{}", "delete", "2026-11-23T10:00:00Z", CallDecision::Deny { reason: "deletes are not relayed".into() })]
fn relay_policies_authorize_each_call(
    #[case] settings: &str,
    #[case] verb: &str,
    #[case] at: &str,
    #[case] expected: CallDecision,
) {
    let module = engine()
        .load_file(guests::RELAY.as_ref(), Limits::default())
        .expect("loads");
    assert_eq!(
        authorize(&module, settings, &call(verb, at)),
        (expected, None)
    );
}

/// Whatever goes wrong in `authorize-call` is a deny naming the module, never an allow.
#[rstest]
#[case::deadline(guests::RELAY, "\"loop\"", "deadline of 50 ms exceeded")]
#[case::trap(guests::RELAY, "\"panic\"", "module trapped")]
#[case::malformed(
    guests::RELAY,
    "\"huge_reason\"",
    "malformed decision: the deny reason is 1048576 bytes long"
)]
#[case::not_a_relay_policy(
    guests::ALLOW,
    "{}",
    "it implements `wicket:policy/policy@0.2.0`, which does not decide API calls"
)]
fn authorizing_a_call_fails_closed(
    #[case] guest: &str,
    #[case] settings: &str,
    #[case] diagnostic: &str,
) {
    let limits = Limits {
        deadline: Duration::from_millis(50),
        ..Limits::default()
    };
    let module = engine().load_file(guest.as_ref(), limits).expect("loads");
    let started = Instant::now();
    let (decision, failure) = authorize(&module, settings, &call("get", "2026-11-23T10:00:00Z"));
    assert!(started.elapsed() < MARGIN, "took {:?}", started.elapsed());
    let failure = failure.expect("a failure is reported");
    assert!(failure.starts_with(diagnostic), "{failure}");
    let name = module.name();
    assert_eq!(
        decision,
        CallDecision::Deny {
            reason: format!("module `{name}` failed: {failure}")
        }
    );
}

/// A module built against `wicket:policy@0.1.0` still loads beside 0.2.0 modules, decides
/// (its decisions mapped in, the request converted to its version), composes in a chain with
/// a 0.2.0 module, and authorizes calls.
#[test]
fn legacy() {
    let module = Arc::new(
        engine()
            .load_file(guests::LEGACY.as_ref(), Limits::default())
            .expect("a 0.1.0 module loads"),
    );
    assert_eq!(module.contract(), Contract::V0_1);
    assert_eq!(module.world_name(), "wicket:policy/relay-policy@0.1.0");
    assert!(
        module
            .exports()
            .contains(&"wicket:policy/evaluator@0.1.0".to_owned()),
        "{:?}",
        module.exports()
    );

    let evaluation = evaluate(guests::LEGACY, json!("deny"));
    assert_eq!(
        denied(&evaluation),
        "the 0.1.0 guest refuses alice (asked at 1795428000)"
    );
    let evaluation = evaluate(guests::LEGACY, json!("needs_approval"));
    let Verdict::NeedsApproval { approvals, grant } = &evaluation.verdict else {
        panic!("{evaluation:#?}")
    };
    assert_eq!(approvals[0].reason, "the 0.1.0 guest wants a lead to agree");
    assert_eq!(grant.ttl_seconds, 1800);

    let current = Arc::new(
        engine()
            .load_file(guests::ALLOW.as_ref(), Limits::default())
            .expect("a 0.2.0 module loads"),
    );
    let chain = Chain::new(vec![
        ChainEntry::new("old", Arc::clone(&module), &json!({})),
        ChainEntry::new("new", current, &json!({})),
    ])
    .expect("a chain of both versions");
    let evaluation = chain.evaluate(&alice(), &edit_payments());
    let Verdict::Allow { grant } = &evaluation.verdict else {
        panic!("{evaluation:#?}")
    };
    assert_eq!(grant.namespaces[0].namespace, "payments");
    assert_eq!(grant.namespaces[0].access, Access::Role("edit".into()));

    assert_eq!(
        authorize(&module, "{}", &call("delete", "2026-11-23T10:00:00Z")),
        (
            CallDecision::Deny {
                reason: "the 0.1.0 guest relays no deletes".into()
            },
            None
        )
    );
    assert_eq!(
        authorize(&module, "{}", &call("get", "2026-11-23T10:00:00Z")),
        (CallDecision::Allow, None)
    );
}

/// Chains of real modules with the composition controls: abstentions are skipped, a chain of
/// abstentions denies, a sufficient allow ends the chain.
#[rstest]
#[case::every_module_abstains(&[("abstain", OnAllow::Continue), ("abstain", OnAllow::Continue)], "deny", "every module abstained (module `m0`: alice is not my concern; module `m1`: alice is not my concern)")]
#[case::an_abstention_is_skipped(&[("abstain", OnAllow::Continue), ("allow", OnAllow::Continue)], "allow", "")]
#[case::an_abstention_does_not_hide_a_deny(&[("abstain", OnAllow::Continue), ("deny", OnAllow::Continue)], "deny", "module `m1`: alice may not")]
#[case::a_sufficient_allow_ends_the_chain(&[("abstain", OnAllow::Continue), ("allow", OnAllow::Sufficient), ("deny", OnAllow::Continue)], "allow", "")]
#[case::a_sufficient_allow_after_a_deny_is_not_enough(&[("deny", OnAllow::Continue), ("allow", OnAllow::Sufficient), ("allow", OnAllow::Continue)], "deny", "module `m0`: alice may not")]
fn composing_real_modules(
    #[case] entries: &[(&str, OnAllow)],
    #[case] expected: &str,
    #[case] reason: &str,
) {
    let module = Arc::new(
        engine()
            .load_file(guests::ALLOW.as_ref(), Limits::default())
            .expect("loads"),
    );
    let chain = Chain::new(
        entries
            .iter()
            .enumerate()
            .map(|(index, (mode, on_allow))| {
                ChainEntry::new(format!("m{index}"), Arc::clone(&module), &json!(mode))
                    .with_on_allow(*on_allow)
            })
            .collect(),
    )
    .expect("chain");
    let evaluation = chain.evaluate(&alice(), &edit_payments());
    let verdict = serde_json::to_value(&evaluation.verdict).expect("json");
    assert_eq!(verdict["decision"], expected, "{evaluation:#?}");
    if let Verdict::Deny { reason: actual } = &evaluation.verdict {
        assert_eq!(actual, reason);
    }
    let sufficient = entries
        .iter()
        .position(|(mode, on_allow)| *mode == "allow" && *on_allow == OnAllow::Sufficient);
    for (index, module) in evaluation.modules.iter().enumerate() {
        let skipped = matches!(module.result, ModuleResult::Skipped { .. });
        let stopped = expected == "allow" && sufficient.is_some_and(|s| index > s);
        assert_eq!(skipped, stopped, "{evaluation:#?}");
    }
}

#[test]
fn deny() {
    let evaluation = evaluate(guests::DENY, json!({}));
    assert_eq!(denied(&evaluation), "the deny guest refuses alice");
}

#[test]
fn needs_approval() {
    let evaluation = evaluate(guests::NEEDS_APPROVAL, json!({}));
    let Verdict::NeedsApproval { approvals, grant } = &evaluation.verdict else {
        panic!("{evaluation:#?}")
    };
    assert_eq!(approvals[0].groups, ["leads"]);
    assert_eq!(grant.ttl_seconds, 1800);
}

#[rstest]
#[case::zero_ttl("zero_ttl", "the grant's ttl_seconds is 0")]
#[case::empty_verbs("empty_verbs", "a rule has no verbs")]
#[case::bad_namespace("bad_namespace", "`Not A Namespace` is not a valid namespace name")]
#[case::no_namespaces("no_namespaces", "the grant has no namespaces and no cluster rules")]
#[case::empty_role("empty_role", "is not a valid role name")]
#[case::zero_approvals("zero_approvals", "the approval requires no approver")]
fn malformed_decisions_are_denied(#[case] mode: &str, #[case] diagnostic: &str) {
    let evaluation = evaluate(guests::ALLOW, json!(mode));
    let (error, _) = failure(&evaluation);
    assert!(error.starts_with("malformed decision: "), "{error}");
    assert!(error.contains(diagnostic), "{error}");
    assert!(matches!(
        evaluation.modules[0].result,
        ModuleResult::Failed {
            returned: Some(_),
            ..
        }
    ));
}

#[rstest]
#[case::accepted(guests::ALLOW, json!({"anything": true}), None)]
#[case::rejected_with_its_own_message(guests::REJECT_SETTINGS, json!({}), Some("`max_ttl` must be a positive number of seconds"))]
fn settings_are_validated_once_at_load(
    #[case] path: &str,
    #[case] settings: serde_json::Value,
    #[case] rejection: Option<&str>,
) {
    let module = engine()
        .load_file(path.as_ref(), Limits::default())
        .expect("loads");
    let result = Chain::new(vec![ChainEntry::new("m", Arc::new(module), &settings)]);
    match (result, rejection) {
        (Ok(chain), None) => assert_eq!(chain.entries()[0].settings(), settings.to_string()),
        (Err(Error::Settings { message, .. }), Some(want)) => {
            assert!(message.contains(want), "{message}")
        }
        (other, _) => panic!("unexpected {other:?}"),
    }
}

#[rstest]
#[case::deny_overrides(json!("deny"), "deny")]
#[case::approval_required(json!("needs_approval"), "needs_approval")]
#[case::both_allow(json!({}), "allow")]
fn chains_of_real_modules(#[case] second: serde_json::Value, #[case] expected: &str) {
    let load = || {
        Arc::new(
            engine()
                .load_file(guests::ALLOW.as_ref(), Limits::default())
                .expect("loads"),
        )
    };
    let chain = Chain::new(vec![
        ChainEntry::new("first", load(), &json!({})),
        ChainEntry::new("second", load(), &second),
    ])
    .expect("chain");
    let evaluation = chain.evaluate(&alice(), &edit_payments());
    assert_eq!(evaluation.modules.len(), 2);
    let verdict = serde_json::to_value(&evaluation.verdict).expect("json");
    assert_eq!(verdict["decision"], expected, "{verdict:#}");
}

/// A chain of `first` (with `on_deny`) then the allow guest, on alice's request.
fn two_entries(first: &str, first_settings: serde_json::Value, on_deny: OnDeny) -> Evaluation {
    let load = |path: &str| {
        Arc::new(
            engine()
                .load_file(path.as_ref(), Limits::default())
                .expect("loads"),
        )
    };
    Chain::new(vec![
        ChainEntry::new("first", load(first), &first_settings).with_on_deny(on_deny),
        ChainEntry::new("second", load(guests::ALLOW), &json!({})),
    ])
    .expect("chain")
    .evaluate(&alice(), &edit_payments())
}

#[rstest]
#[case::deny_stops(guests::DENY, json!({}), OnDeny::Stop, true, "module `first`: the deny guest refuses alice")]
#[case::failure_stops(guests::PANIC, json!({}), OnDeny::Stop, true, "module `first` failed: module trapped")]
#[case::deny_continues_by_default(guests::DENY, json!({}), OnDeny::Continue, false, "module `first`: the deny guest refuses alice")]
#[case::allow_goes_on(guests::ALLOW, json!({}), OnDeny::Stop, false, "allow")]
#[case::approval_goes_on(guests::ALLOW, json!("needs_approval"), OnDeny::Stop, false, "needs_approval")]
fn a_deny_stops_the_chain_only_where_configured(
    #[case] first: &str,
    #[case] first_settings: serde_json::Value,
    #[case] on_deny: OnDeny,
    #[case] second_skipped: bool,
    #[case] expected: &str,
) {
    let evaluation = two_entries(first, first_settings, on_deny);
    assert_eq!(evaluation.modules.len(), 2, "{evaluation:#?}");
    let second = &evaluation.modules[1];
    assert_eq!(second.name, "second");
    assert_eq!(
        second.digest.len(),
        64,
        "a skipped module still names its version"
    );
    if second_skipped {
        assert_eq!(
            second.result,
            ModuleResult::Skipped {
                after: "first".into(),
                because: Stop::Deny,
            }
        );
        assert_eq!(second.duration, Duration::ZERO);
    } else {
        assert!(
            matches!(second.result, ModuleResult::Decided { .. }),
            "{second:#?}"
        );
    }
    match &evaluation.verdict {
        Verdict::Deny { reason } => assert!(reason.starts_with(expected), "{reason}"),
        other => {
            let decision = serde_json::to_value(other).expect("json")["decision"].clone();
            assert_eq!(decision, expected, "{evaluation:#?}");
        }
    }
}

/// `wicket policy test`'s runner calls `authorize-call` of a relay module for cases with a
/// `call`: the call's time reaches the module, and a module of world `policy` fails such a case.
#[test]
fn relay_cases_run_against_the_module() {
    let cases = json!({
        "settings": {"read_only_from": 1_795_429_800},
        "cases": [
            {"name": "reads pass", "identity": {"subject": "alice", "issuer": "i"},
             "request": {"cluster": "prod", "namespaces": ["payments"], "role": "edit", "duration": "1h"},
             "call": {"verb": "get", "resource": "pods", "namespace": "payments", "at": "2026-11-23T11:00:00Z"},
             "expect": {"decision": "allow"}},
            {"name": "writes before the hour pass", "identity": {"subject": "alice", "issuer": "i"},
             "request": {"cluster": "prod", "namespaces": ["payments"], "role": "edit", "duration": "1h"},
             "call": {"verb": "patch", "resource": "pods", "namespace": "payments", "at": "2026-11-23T10:29:59Z"},
             "expect": {"decision": "allow"}},
            {"name": "writes after the hour are refused", "identity": {"subject": "alice", "issuer": "i"},
             "request": {"cluster": "prod", "namespaces": ["payments"], "role": "edit", "duration": "1h"},
             "call": {"verb": "patch", "resource": "pods", "namespace": "payments", "at": "2026-11-23T10:30:00Z"},
             "expect": {"decision": "deny", "reason_contains": "may only read"}}
        ]
    });
    let file = cases::CasesFile::parse(&cases.to_string()).expect("a valid cases file");
    let run = |guest: &str| {
        let module = Arc::new(
            engine()
                .load_file(guest.as_ref(), Limits::default())
                .expect("loads"),
        );
        cases::run("relay.cases.json".as_ref(), &file, &module).expect("the cases run")
    };
    let reports = run(guests::RELAY);
    assert!(
        reports.iter().all(|r| r.problem.is_none()),
        "{}",
        cases::render_reports(&reports)
    );
    let reports = run(guests::ALLOW);
    assert!(
        reports.iter().all(|r| r.problem.is_some()),
        "{}",
        cases::render_reports(&reports)
    );
}
