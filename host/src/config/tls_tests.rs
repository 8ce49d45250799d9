//! Where Wicket may listen in clear, and the `[tls]` and `[metrics]` sections.

use std::path::Path;

use rstest::rstest;

use crate::config::Config;

/// Issuer and cluster; the cases put their top-level keys and sections in front.
const BASE: &str = crate::config::tests::MINIMAL;

const TLS: &str = "[tls]\ncert_file = \"tls/tls.crt\"\nkey_file = \"tls/tls.key\"\n";

fn parse(head: &str) -> Result<Config, String> {
    Config::parse(
        &format!("{head}\n{BASE}"),
        "wicket.toml",
        Path::new("/etc/wicket"),
    )
    .map_err(|error| error.to_string())
}

#[rstest]
#[case::any_ipv4("listen = \"0.0.0.0:8080\"", "`listen` `0.0.0.0:8080`")]
#[case::any_ipv6("listen = \"[::]:8080\"", "`listen` `[::]:8080`")]
#[case::lan("listen = \"10.0.0.5:8080\"", "`listen` `10.0.0.5:8080`")]
#[case::tls_does_not_cover_metrics(
    &format!("listen = \"0.0.0.0:8443\"\n[metrics]\nlisten = \"0.0.0.0:9090\"\n{TLS}"),
    "`metrics.listen` `0.0.0.0:9090`"
)]
fn plain_http_off_loopback_is_refused(#[case] head: &str, #[case] key: &str) {
    let message = parse(head).unwrap_err();
    assert!(
        message.starts_with(&format!("wicket.toml: {key} is not a loopback address")),
        "{message}"
    );
    assert!(message.contains("`insecure_http = true`"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}

#[test]
fn the_refusal_says_what_to_do() {
    assert_eq!(
        parse("listen = \"0.0.0.0:8080\"").unwrap_err(),
        "wicket.toml: `listen` `0.0.0.0:8080` is not a loopback address and would serve in \
         clear: configure `[tls]` or, on a network you trust, set `insecure_http = true`"
    );
}

#[rstest]
#[case::loopback_v4("listen = \"127.0.0.2:8080\"")]
#[case::loopback_v6("listen = \"[::1]:8080\"")]
#[case::loopback_mapped("listen = \"[::ffff:127.0.0.1]:8080\"")]
#[case::tls(&format!("listen = \"0.0.0.0:8443\"\n{TLS}"))]
#[case::insecure_http("listen = \"0.0.0.0:8080\"\ninsecure_http = true")]
#[case::metrics_on_loopback(&format!("listen = \"0.0.0.0:8443\"\n[metrics]\nlisten = \"127.0.0.1:9090\"\n{TLS}"))]
#[case::metrics_insecure("insecure_http = true\n[metrics]\nlisten = \"0.0.0.0:9090\"")]
#[case::dev_on_loopback("dev = true\nlisten = \"127.0.0.1:8080\"")]
fn allowed_listeners(#[case] head: &str) {
    // Only parsed: nothing here binds an address.
    parse(head).unwrap();
}

#[rstest]
#[case::clear("dev = true\nlisten = \"0.0.0.0:8080\"", "`listen` `0.0.0.0:8080`")]
#[case::even_with_tls(
    &format!("dev = true\nlisten = \"0.0.0.0:8443\"\n{TLS}"),
    "`listen` `0.0.0.0:8443`"
)]
#[case::even_when_insecure(
    "dev = true\ninsecure_http = true\nlisten = \"192.168.1.2:8080\"",
    "`listen` `192.168.1.2:8080`"
)]
#[case::metrics(
    "dev = true\ninsecure_http = true\n[metrics]\nlisten = \"0.0.0.0:9090\"",
    "`metrics.listen` `0.0.0.0:9090`"
)]
fn dev_listens_on_loopback_only(#[case] head: &str, #[case] key: &str) {
    assert_eq!(
        parse(head).unwrap_err(),
        format!(
            "wicket.toml: {key} is not a loopback address: with `dev = true` Wicket listens \
             on loopback only"
        )
    );
}

#[rstest]
#[case::unknown_key(
    &format!("{TLS}certificate = \"x\"\n"),
    "unknown field `certificate`"
)]
#[case::no_key("[tls]\ncert_file = \"tls.crt\"\n", "missing field `key_file`")]
#[case::zero_interval(
    &format!("{TLS}reload_interval = \"0s\"\n"),
    "at `tls.reload_interval`: duration `0s` must be more than zero"
)]
#[case::unknown_metrics_key("[metrics]\ntoken = \"x\"\n", "unknown field `token`")]
#[case::metrics_on_the_api_address(
    "listen = \"127.0.0.1:8080\"\n[metrics]\nlisten = \"127.0.0.1:8080\"\n",
    "`metrics.listen` `127.0.0.1:8080` is the API's `listen` address"
)]
fn section_errors(#[case] head: &str, #[case] needle: &str) {
    let message = parse(head).unwrap_err();
    assert!(message.contains(needle), "{message}");
}

#[test]
fn paths_are_resolved_against_the_file() {
    let config = parse(&format!(
        "{TLS}client_ca_file = \"/abs/ca.crt\"\n[metrics]\ntoken_file = \"metrics-token\"\n"
    ))
    .unwrap();
    let tls = config.tls.unwrap();
    assert_eq!(tls.cert_file, Path::new("/etc/wicket/tls/tls.crt"));
    assert_eq!(tls.key_file, Path::new("/etc/wicket/tls/tls.key"));
    assert_eq!(
        tls.client_ca_file.as_deref(),
        Some(Path::new("/abs/ca.crt"))
    );
    assert_eq!(
        config.metrics.token_file.as_deref(),
        Some(Path::new("/etc/wicket/metrics-token"))
    );
}
