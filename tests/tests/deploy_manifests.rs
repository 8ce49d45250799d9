//! The manifests of `examples/deploy/`: every document parses as its Kubernetes kind with no
//! field the kind does not have (k8s-openapi types; kube-sim's OpenAPI documents carry no
//! schemas, so `kubectl apply --dry-run=client` could not validate them); they fit together
//! (labels, selectors, ports, probes, volumes, the replica id from the pod name, every file the
//! configuration names mounted); `kubectl kustomize` builds them; real kubectl applies the
//! kinds kube-sim knows (namespaces, accounts, RBAC, ConfigMaps, Secrets, Deployments) to
//! kube-sim; and the ConfigMap's `wicket.toml` is a valid configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wicket_tests::kubectl;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/deploy")
}

/// Every manifest file (`*.yaml` but the kustomization), by file name.
fn manifest_files() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(deploy_dir()).expect("examples/deploy") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            files.insert(name, std::fs::read_to_string(&path).expect("a manifest"));
        }
    }
    files
}

/// Every document of every manifest file: (file, document).
fn documents() -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for (file, text) in manifest_files() {
        let parsed: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{file} is not YAML: {e}"));
        docs.extend(
            parsed
                .into_iter()
                .filter(|d| !d.is_null())
                .map(|d| (file.clone(), d)),
        );
    }
    docs
}

/// Paths of `original` that `typed` (the same document read as its kind and written back)
/// lacks or holds differently: fields the kind does not have, or values it does not keep.
fn lost_fields(original: &Value, typed: &Value, path: &str, lost: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(fields), Value::Object(kept)) => {
            for (key, value) in fields {
                let at = format!("{path}.{key}");
                match kept.get(key) {
                    Some(found) => lost_fields(value, found, &at, lost),
                    None => lost.push(at),
                }
            }
        }
        (Value::Array(items), Value::Array(kept)) if items.len() == kept.len() => {
            for (index, (item, found)) in items.iter().zip(kept).enumerate() {
                lost_fields(item, found, &format!("{path}[{index}]"), lost);
            }
        }
        (a, b) if a == b => {}
        _ => lost.push(format!("{path}: {original} became {typed}")),
    }
}

/// `doc` read as `K`: panics naming every field `K` does not have.
fn typed<K: DeserializeOwned + Serialize>(file: &str, doc: &Value) -> K {
    let object: K = serde_json::from_value(doc.clone()).unwrap_or_else(|e| {
        panic!("{file}: a `{}` does not parse: {e}", doc["kind"]);
    });
    let back = serde_json::to_value(&object).expect("serialize");
    let mut lost = Vec::new();
    lost_fields(doc, &back, "", &mut lost);
    assert!(
        lost.is_empty(),
        "{file}: `{}` `{}` has fields its kind does not: {lost:?}",
        doc["kind"],
        doc["metadata"]["name"]
    );
    object
}

/// Checks `doc` against its kind; returns the kind.
fn check_kind(file: &str, doc: &Value) -> String {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    match (api_version, kind) {
        ("v1", "Namespace") => drop(typed::<Namespace>(file, doc)),
        ("v1", "ServiceAccount") => drop(typed::<ServiceAccount>(file, doc)),
        ("v1", "ConfigMap") => drop(typed::<ConfigMap>(file, doc)),
        ("v1", "Secret") => drop(typed::<Secret>(file, doc)),
        ("v1", "Service") => drop(typed::<Service>(file, doc)),
        ("apps/v1", "Deployment") => drop(typed::<Deployment>(file, doc)),
        ("policy/v1", "PodDisruptionBudget") => drop(typed::<PodDisruptionBudget>(file, doc)),
        ("networking.k8s.io/v1", "NetworkPolicy") => drop(typed::<NetworkPolicy>(file, doc)),
        ("rbac.authorization.k8s.io/v1", "Role") => drop(typed::<Role>(file, doc)),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => drop(typed::<RoleBinding>(file, doc)),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => drop(typed::<ClusterRole>(file, doc)),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            drop(typed::<ClusterRoleBinding>(file, doc));
        }
        other => panic!("{file}: no check for {other:?}"),
    }
    kind.to_owned()
}

/// The one document of `kind` named `name`.
fn find<K: DeserializeOwned + Serialize>(kind: &str, name: &str) -> K {
    let found: Vec<(String, Value)> = documents()
        .into_iter()
        .filter(|(_, d)| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one `{kind}` `{name}` in examples/deploy");
    typed(&found[0].0, &found[0].1)
}

#[test]
fn every_document_is_its_kind_with_no_unknown_field() {
    let mut kinds = BTreeSet::new();
    for (file, doc) in documents() {
        kinds.insert(check_kind(&file, &doc));
    }
    for kind in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "ClusterRole",
    ] {
        assert!(kinds.contains(kind), "no `{kind}` in examples/deploy");
    }
    // The check itself: a misspelt field is found.
    let mut misspelt = documents()
        .into_iter()
        .find(|(_, d)| d["kind"] == "Deployment")
        .expect("a deployment")
        .1;
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"]["periodSecond"] =
        Value::from(5);
    let caught = std::panic::catch_unwind(|| typed::<Deployment>("test", &misspelt));
    assert!(caught.is_err(), "a misspelt field must be refused");
}

fn wicket_container(deployment: &Deployment) -> Container {
    let spec = &deployment.spec;
    let pod = spec.template.spec.as_ref().expect("a pod spec");
    pod.containers
        .iter()
        .find(|c| c.name == "wicket")
        .expect("a `wicket` container")
        .clone()
}

#[test]
fn the_deployment_service_budget_and_network_policy_fit_together() {
    let deployment: Deployment = find("Deployment", "wicket");
    let spec = &deployment.spec;
    let replicas = spec.replicas.expect("replicas");
    assert!(replicas >= 2, "replicas: {replicas}");
    let labels = spec.template.metadata.as_ref().unwrap().labels.clone();
    let labels = labels.expect("pod labels");
    let selects = |selector: &BTreeMap<String, String>, what: &str| {
        assert!(
            selector.iter().all(|(k, v)| labels.get(k) == Some(v)) && !selector.is_empty(),
            "{what} {selector:?} does not select the pods {labels:?}"
        );
    };
    selects(
        spec.selector.match_labels.as_ref().unwrap(),
        "the Deployment's selector",
    );
    let rolling = spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
        .expect("a rolling update");
    assert_eq!(
        rolling.max_unavailable,
        Some(IntOrString::Int(0)),
        "a rollout never lowers the replicas answering"
    );

    let pod = spec.template.spec.as_ref().unwrap();
    // Wicket runs as the account wicket-rbac.yaml gives its RBAC to.
    let account: ServiceAccount = find("ServiceAccount", "wicket");
    assert_eq!(pod.service_account_name, account.metadata.name);
    assert_eq!(
        deployment.metadata.namespace,
        account.metadata.namespace.clone()
    );
    let container = wicket_container(&deployment);
    let replica = container
        .env
        .as_ref()
        .and_then(|env| env.iter().find(|e| e.name == "WICKET_REPLICA"))
        .expect("WICKET_REPLICA");
    let field = replica
        .value_from
        .as_ref()
        .and_then(|from| from.field_ref.as_ref())
        .expect("WICKET_REPLICA from a field");
    assert_eq!(field.field_path, "metadata.name");

    let port = container
        .ports
        .as_ref()
        .and_then(|ports| ports.iter().find(|p| p.name.as_deref() == Some("https")))
        .expect("a port named `https`")
        .container_port;
    for (what, probe, path) in [
        ("startup", &container.startup_probe, "/healthz"),
        ("liveness", &container.liveness_probe, "/healthz"),
        ("readiness", &container.readiness_probe, "/readyz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("a {what} probe over HTTP"));
        assert_eq!(get.path.as_deref(), Some(path), "{what}");
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"), "{what}");
        assert_eq!(get.port, IntOrString::String("https".to_owned()), "{what}");
    }

    let service: Service = find("Service", "wicket");
    let service_spec = service.spec.unwrap();
    selects(service_spec.selector.as_ref().unwrap(), "the Service");
    for service_port in service_spec.ports.unwrap() {
        assert_eq!(
            service_port.target_port,
            Some(IntOrString::String("https".to_owned()))
        );
    }

    let budget: PodDisruptionBudget = find("PodDisruptionBudget", "wicket");
    let budget_spec = budget.spec.unwrap();
    selects(
        budget_spec.selector.unwrap().match_labels.as_ref().unwrap(),
        "the PodDisruptionBudget",
    );
    let IntOrString::Int(unavailable) = budget_spec.max_unavailable.expect("maxUnavailable") else {
        panic!("maxUnavailable as a number");
    };
    assert!(
        (1..replicas).contains(&unavailable),
        "{unavailable} of {replicas}"
    );

    let policy: NetworkPolicy = find("NetworkPolicy", "wicket");
    let policy_spec = policy.spec.unwrap();
    selects(
        policy_spec
            .pod_selector
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap(),
        "the NetworkPolicy",
    );
    let ingress_ports: Vec<IntOrString> = policy_spec
        .ingress
        .unwrap()
        .into_iter()
        .flat_map(|rule| rule.ports.unwrap_or_default())
        .filter_map(|p| p.port)
        .collect();
    assert_eq!(ingress_ports, vec![IntOrString::Int(port)]);
    let egress_ports: BTreeSet<i32> = policy_spec
        .egress
        .unwrap()
        .into_iter()
        .flat_map(|rule| rule.ports.unwrap_or_default())
        .filter_map(|p| match p.port {
            Some(IntOrString::Int(port)) => Some(port),
            _ => None,
        })
        .collect();
    for needed in [53, 5432, 443] {
        assert!(egress_ports.contains(&needed), "egress to port {needed}");
    }
}

/// The configuration in ConfigMap `wicket-config`.
fn configuration() -> String {
    let config: ConfigMap = find("ConfigMap", "wicket-config");
    config.data.unwrap()["wicket.toml"].clone()
}

/// Every string value of `value` that is an absolute path, with its key.
fn paths(value: &toml::Value, key: &str, found: &mut Vec<(String, String)>) {
    match value {
        toml::Value::String(text) if text.starts_with('/') => {
            found.push((key.to_owned(), text.clone()));
        }
        toml::Value::Table(table) => {
            for (k, v) in table {
                paths(v, &format!("{key}.{k}"), found);
            }
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                paths(v, &format!("{key}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn every_file_the_configuration_names_is_mounted_from_a_defined_source() {
    let deployment: Deployment = find("Deployment", "wicket");
    let pod = &deployment.spec.template.spec.clone().unwrap();
    let container = wicket_container(&deployment);
    let args = container.args.clone().unwrap_or_default();
    let config_path = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1].clone())
        .expect("serve --config <file>");
    let mounts = container.volume_mounts.clone().unwrap_or_default();
    let mount_of = |path: &str| {
        mounts
            .iter()
            .filter(|m| Path::new(path).starts_with(&m.mount_path))
            .max_by_key(|m| m.mount_path.len())
            .map(|m| m.name.clone())
    };
    let volumes: BTreeMap<String, _> = pod
        .volumes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.name.clone(), v))
        .collect();

    // The configuration file comes from ConfigMap `wicket-config`, key `wicket.toml`.
    let volume = &volumes[&mount_of(&config_path).expect("the configuration is mounted")];
    assert_eq!(
        volume.config_map.as_ref().map(|c| c.name.as_str()),
        Some("wicket-config")
    );
    assert!(config_path.ends_with("/wicket.toml"), "{config_path}");

    let config: toml::Value = toml::from_str(&configuration()).expect("the configuration is TOML");
    let listen = config["listen"].as_str().expect("listen");
    let port = container.ports.as_ref().unwrap()[0].container_port;
    assert!(listen.ends_with(&format!(":{port}")), "{listen} vs {port}");
    let mut named = Vec::new();
    paths(&config, "", &mut named);
    // Files the service account token volume and the ConfigMap of modules provide.
    let projected = "/var/run/secrets/kubernetes.io/serviceaccount/";
    let mut secrets = BTreeSet::new();
    let mut config_maps = BTreeSet::new();
    for (key, path) in &named {
        if path.starts_with(projected) {
            continue;
        }
        let Some(name) = mount_of(path) else {
            panic!("`{key}` `{path}` is on no volume of the container");
        };
        let volume = &volumes[&name];
        if let Some(secret) = &volume.secret {
            secrets.insert(secret.secret_name.clone().unwrap());
        }
        if let Some(map) = &volume.config_map {
            config_maps.insert(map.name.clone());
        }
    }
    // The audit key is copied to a private file by the init container, from its Secret.
    let init = pod.init_containers.clone().unwrap_or_default();
    assert!(
        init.iter().any(|c| c
            .command
            .iter()
            .flatten()
            .any(|a| a.contains("install -m 0400"))),
        "an init container copies the audit key to a private file"
    );
    for volume in volumes.values() {
        if let Some(secret) = &volume.secret {
            secrets.insert(secret.secret_name.clone().unwrap());
        }
    }
    // Every Secret mounted is defined (with its keys), and the modules' ConfigMap is the one
    // made from the built modules (docs/high-availability.md).
    for name in &secrets {
        let secret: Secret = find("Secret", name);
        let keys: BTreeSet<String> = secret.string_data.unwrap_or_default().into_keys().collect();
        for volume in volumes.values() {
            if volume.secret.as_ref().and_then(|s| s.secret_name.as_ref()) == Some(name) {
                let mount = mounts
                    .iter()
                    .chain(init.iter().flat_map(|c| c.volume_mounts.iter().flatten()))
                    .find(|m| m.name == volume.name)
                    .expect("the volume is mounted");
                for (key, path) in &named {
                    if let Ok(rest) = Path::new(path).strip_prefix(&mount.mount_path) {
                        assert!(
                            keys.contains(&rest.display().to_string()),
                            "`{key}` names key `{}` of Secret `{name}`, which has {keys:?}",
                            rest.display()
                        );
                    }
                }
            }
        }
    }
    for name in ["wicket-tls", "wicket-audit-key", "wicket-database"] {
        assert!(secrets.contains(name), "Secret `{name}` is mounted");
    }
    assert_eq!(config_maps, BTreeSet::from(["wicket-policies".to_owned()]));
    let guide = std::fs::read_to_string(deploy_dir().join("../../docs/high-availability.md"))
        .expect("docs/high-availability.md");
    assert!(
        guide.contains("kubectl -n wicket-system create configmap wicket-policies"),
        "the guide says how ConfigMap `wicket-policies` is made"
    );
}

#[test]
fn the_configuration_is_valid() {
    let text = configuration();
    let config = wicket::config::Config::parse(&text, "wicket-config.yaml", Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.dev, "a deployment never runs in development mode");
    assert!(config.tls.is_some() && config.audit.is_some());
    // The database is PostgreSQL, its password not in the URL.
    assert!(text.contains("url = \"postgres://wicket@"), "{text}");
    assert!(text.contains("password_file = "), "{text}");
}

#[test]
fn the_kustomization_lists_every_manifest_but_the_placeholder_secrets() {
    let text = std::fs::read_to_string(deploy_dir().join("kustomization.yaml")).unwrap();
    let kustomization: Value = serde_saphyr::from_str(&text).expect("YAML");
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = manifest_files()
        .into_keys()
        .filter(|f| f != "wicket-secrets.yaml")
        .collect();
    assert_eq!(listed, expected);
    let Some(bin) = kube_sim::kubectl::on_path() else {
        panic!("kubectl on PATH (the end-to-end tests need real kubectl)");
    };
    let out = std::process::Command::new(bin)
        .arg("kustomize")
        .arg(deploy_dir())
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout)).expect("YAML");
    let expected_docs = documents()
        .into_iter()
        .filter(|(file, _)| file != "wicket-secrets.yaml")
        .count();
    assert_eq!(built.iter().filter(|d| !d.is_null()).count(), expected_docs);
}

#[tokio::test]
async fn kubectl_applies_the_kinds_kube_sim_knows() {
    let sim = kube_sim::KubeSim::start(kube_sim::Config::default())
        .await
        .expect("start kube-sim");
    let dir = tempfile::tempdir().unwrap();
    let admin = kubectl::on_path(dir.path(), "admin", &sim.kubeconfig("admin").unwrap());
    let known = [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Secret",
        "Deployment",
    ];
    // Namespaces first.
    let mut docs = documents();
    docs.sort_by_key(|(_, doc)| doc["kind"] != "Namespace");
    let mut applied = 0;
    for (index, (file, doc)) in docs.into_iter().enumerate() {
        if !known.contains(&doc["kind"].as_str().unwrap_or_default()) {
            continue;
        }
        let path = dir.path().join(format!("{index}.json"));
        std::fs::write(&path, doc.to_string()).unwrap();
        let out = admin
            .run(&["apply", "--validate=strict", "-f", path.to_str().unwrap()])
            .await;
        assert!(
            out.success,
            "{file}: kubectl apply of `{}` `{}`: {}",
            doc["kind"], doc["metadata"]["name"], out.stderr
        );
        applied += 1;
    }
    assert!(applied >= 10, "{applied}");
    let stored = sim.objects("apps", "deployments", "wicket-system");
    assert_eq!(stored.len(), 1, "{stored:?}");
    let deployment = &stored[0];
    let expected: Deployment = find("Deployment", "wicket");
    assert_eq!(
        deployment["spec"]["replicas"],
        Value::from(expected.spec.replicas.unwrap())
    );
    let config = sim.objects("", "configmaps", "wicket-system");
    assert!(
        config
            .iter()
            .any(|c| c["data"]["wicket.toml"].as_str() == Some(configuration().as_str())),
        "the configuration is stored as written"
    );
}
