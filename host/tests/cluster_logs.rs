//! Tokens never reach the logs: every event of provisioning, credential issue and teardown, at
//! TRACE level and from every crate (Wicket, kube-rs, hyper), is captured and searched for them.
//! Also: a hung API server makes provisioning fail on its timeout and roll back, never hang.

mod cluster_env;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_env::{INSTALLATION, env, labelled, rule, spec};
use kube_sim::{FaultAction, FaultRule};
use wicket::cluster::{
    ClusterTarget, Connection, Error, ProvisionStep, StepFailure, TargetSettings,
};
use wicket::domain::Access;

/// A log sink shared with the subscriber.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = env(&["payments"]).await;
    let s = spec(
        "r1",
        vec![("payments", Access::Rules(vec![rule(&["pods"], &["get"])]))],
        vec![rule(&["namespaces"], &["get"])],
    );
    let provisioned = env.wicket.provision(&s).await.expect("provision");
    let again = env
        .wicket
        .issue_credential(INSTALLATION, "r1", Duration::from_secs(600))
        .await
        .expect("re-issue");
    tracing::info!(?provisioned, ?again, "credentials as Debug");
    env.wicket
        .teardown(INSTALLATION, "r1")
        .await
        .expect("teardown");

    let logs = sink.text();
    assert!(
        logs.contains("grant provisioned"),
        "the capture must have seen Wicket's events"
    );
    assert!(logs.contains("grant torn down"));
    for token in [provisioned.credential.token.expose(), again.token.expose()] {
        assert!(token.len() > 20);
        assert!(!logs.contains(token), "a token reached the logs");
        // Each JWT segment on its own, too (header and claims are shared, so check the signature).
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !logs.contains(signature),
            "a token signature reached the logs"
        );
    }
    assert!(logs.contains("[redacted]"));
}

#[tokio::test]
async fn a_hung_api_server_fails_the_step_on_timeout_and_rolls_back() {
    let env = env(&["payments"]).await;
    // Wicket connected with a short per-call timeout (the default is 30 s).
    let token = env.sim.token_for("wicket-system", "wicket", 3600).unwrap();
    let path = env.dir.path().join("short-timeout.kubeconfig");
    std::fs::write(
        &path,
        env.sim.kubeconfig_with_token("wicket", &token).unwrap(),
    )
    .unwrap();
    let mut settings = TargetSettings::new(
        "sim",
        Connection::Kubeconfig {
            path,
            context: None,
        },
    );
    settings.request_timeout = Some(Duration::from_secs(2));
    let wicket = ClusterTarget::connect(&settings).await.unwrap();

    env.sim.faults().add(
        FaultRule::new(FaultAction::Hang)
            .verb("create")
            .resource("rolebindings"),
    );
    let s = spec(
        "r2",
        vec![("payments", Access::Role("view".into()))],
        vec![],
    );
    let err = wicket.provision(&s).await.unwrap_err();
    let Error::Provision(failure) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failure.step, ProvisionStep::RoleBinding);
    assert!(
        matches!(
            failure.source,
            StepFailure::Api(wicket::cluster::ApiError::Transport(_))
        ),
        "{err:?}"
    );
    assert_eq!(err.status(), None, "no status: the server never answered");
    assert!(labelled(&env.admin, "r2").await.is_empty());
}
