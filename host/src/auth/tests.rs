use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::config::{KeySource, Secret};

const RSA_A: &str = include_str!("fixtures/test-only-rsa-a.pem");
const RSA_A_PUBLIC: &str = include_str!("fixtures/test-only-rsa-a.pub.pem");
const RSA_B: &str = include_str!("fixtures/test-only-rsa-b.pem");
const EC: &str = include_str!("fixtures/test-only-ec.pem");
const JWKS_A: &str = include_str!("fixtures/jwks-a.json");
const JWKS_AB: &str = include_str!("fixtures/jwks-ab.json");

const ISSUER: &str = "https://login.example.com";
const DEV_ISSUER: &str = "wicket-dev";
const DEV_SECRET: &str = "dev-only-secret-never-use-in-production";
/// The `oct` key of `jwks-a.json`, which must never be used.
const JWKS_OCT_SECRET: &[u8] = b"secret-secret-secret-secret-secret";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/auth/fixtures")
        .join(name)
}

fn issuer(name: &str, algorithms: &[Algorithm], keys: KeySource) -> IssuerConfig {
    IssuerConfig {
        alias: if name == DEV_ISSUER { "dev" } else { "corp" }.to_owned(),
        issuer: name.to_owned(),
        audiences: vec!["wicket".to_owned()],
        algorithms: algorithms.to_vec(),
        keys,
        groups_claim: "groups".to_owned(),
        leeway: Duration::from_secs(30),
        max_token_lifetime: Duration::from_secs(24 * 3600),
    }
}

fn authenticator() -> Authenticator {
    Authenticator::new(&[
        issuer(
            ISSUER,
            &[Algorithm::RS256, Algorithm::ES256],
            KeySource::JwksFile(fixture("jwks-a.json")),
        ),
        issuer(
            DEV_ISSUER,
            &[Algorithm::HS256],
            KeySource::Hs256Secret(Secret::new(DEV_SECRET)),
        ),
    ])
    .unwrap()
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": "wicket",
        "sub": "alice",
        "exp": now() + 600,
        "iat": now(),
        "groups": ["sre", "oncall"],
        "email": "alice@example.com",
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

const DAY: i64 = 24 * 3600;
const YEAR: i64 = 365 * DAY;

fn signed_rs256(claims: Value) -> String {
    sign(Algorithm::RS256, Some("rsa-a"), &rsa(RSA_A), &claims)
}

fn rsa(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// How each token of the matrix is made.
#[derive(Debug, Clone, Copy)]
enum Make {
    GoodRs256,
    GoodEs256,
    GoodHs256Dev,
    AudienceAmongSeveral,
    AlgNone,
    AlgNoneCapitalised,
    /// HS256 signed with the issuer's RSA public key as the HMAC secret.
    HsRsConfusion,
    /// HS256 signed with the symmetric key a JWKS (wrongly) publishes.
    HsWithJwksOctKey,
    /// RS256 sent to the issuer configured for the HS256 dev secret.
    RsToHsIssuer,
    /// RS256 header naming the EC key.
    KidOfOtherFamily,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    UnknownKid,
    EncryptionKeyKid,
    MissingKid,
    TamperedPayload,
    SignedByOtherKey,
    MissingSub,
    EmptySub,
    MissingExp,
    MissingAud,
    MissingIss,
    GroupsNotStrings,
    /// `exp` a hundred years away.
    CenturyLong,
    /// Issued 24 h ago, valid for another hour.
    IssuedLongBefore,
    /// No `iat`, `exp` 25 h away.
    NoIatTooLong,
    /// `exp` a hundred years away, `iat` an hour before it.
    LateIatFarExp,
    /// Exactly the 24 h allowed.
    LifetimeAtTheLimit,
    IatNotANumber,
    NotAJwt,
    HeaderNotBase64,
    Oversized,
}

impl Make {
    fn token(self) -> String {
        let good = claims();
        match self {
            Self::GoodRs256 => sign(Algorithm::RS256, Some("rsa-a"), &rsa(RSA_A), &good),
            Self::GoodEs256 => sign(
                Algorithm::ES256,
                Some("ec"),
                &EncodingKey::from_ec_pem(EC.as_bytes()).unwrap(),
                &good,
            ),
            Self::GoodHs256Dev => sign(
                Algorithm::HS256,
                None,
                &EncodingKey::from_secret(DEV_SECRET.as_bytes()),
                &with(good, "iss", json!(DEV_ISSUER)),
            ),
            Self::AudienceAmongSeveral => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &with(good, "aud", json!(["other", "wicket"])),
            ),
            Self::AlgNone => format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&good)
            ),
            Self::AlgNoneCapitalised => {
                format!(
                    "{}.{}.",
                    b64(&json!({"alg": "None", "kid": "rsa-a"})),
                    b64(&good)
                )
            }
            Self::HsRsConfusion => sign(
                Algorithm::HS256,
                Some("rsa-a"),
                &EncodingKey::from_secret(RSA_A_PUBLIC.as_bytes()),
                &good,
            ),
            Self::HsWithJwksOctKey => sign(
                Algorithm::HS256,
                Some("shared"),
                &EncodingKey::from_secret(JWKS_OCT_SECRET),
                &good,
            ),
            Self::RsToHsIssuer => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &with(good, "iss", json!(DEV_ISSUER)),
            ),
            Self::KidOfOtherFamily => sign(Algorithm::RS256, Some("ec"), &rsa(RSA_A), &good),
            Self::Expired => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &with(good, "exp", json!(now() - 3600)),
            ),
            Self::NotYetValid => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &with(good, "nbf", json!(now() + 3600)),
            ),
            Self::WrongIssuer => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &with(good, "iss", json!("https://evil.example.com")),
            ),
            Self::WrongAudience => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &with(good, "aud", json!("someone-else")),
            ),
            Self::UnknownKid => sign(Algorithm::RS256, Some("rsa-b"), &rsa(RSA_B), &good),
            Self::EncryptionKeyKid => sign(
                Algorithm::RS256,
                Some("encryption-only"),
                &rsa(RSA_B),
                &good,
            ),
            Self::MissingKid => sign(Algorithm::RS256, None, &rsa(RSA_A), &good),
            Self::TamperedPayload => {
                let token = sign(Algorithm::RS256, Some("rsa-a"), &rsa(RSA_A), &good);
                let parts: Vec<&str> = token.split('.').collect();
                let forged = b64(&with(good, "groups", json!(["platform-admins"])));
                format!("{}.{forged}.{}", parts[0], parts[2])
            }
            Self::SignedByOtherKey => sign(Algorithm::RS256, Some("rsa-a"), &rsa(RSA_B), &good),
            Self::MissingSub => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &without(good, "sub"),
            ),
            Self::EmptySub => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &with(good, "sub", json!("")),
            ),
            Self::MissingExp => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &without(good, "exp"),
            ),
            Self::MissingAud => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &without(good, "aud"),
            ),
            Self::MissingIss => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &without(good, "iss"),
            ),
            Self::GroupsNotStrings => sign(
                Algorithm::RS256,
                Some("rsa-a"),
                &rsa(RSA_A),
                &with(good, "groups", json!([1, 2])),
            ),
            Self::CenturyLong => signed_rs256(with(good, "exp", json!(now() + 100 * YEAR))),
            Self::IssuedLongBefore => signed_rs256(with(
                with(good, "iat", json!(now() - DAY)),
                "exp",
                json!(now() + 3600),
            )),
            Self::NoIatTooLong => {
                signed_rs256(with(without(good, "iat"), "exp", json!(now() + DAY + 3600)))
            }
            Self::LateIatFarExp => {
                let exp = now() + 100 * YEAR;
                signed_rs256(with(
                    with(good, "iat", json!(exp - 3600)),
                    "exp",
                    json!(exp),
                ))
            }
            Self::LifetimeAtTheLimit => {
                let iat = now();
                signed_rs256(with(with(good, "iat", json!(iat)), "exp", json!(iat + DAY)))
            }
            Self::IatNotANumber => signed_rs256(with(good, "iat", json!("yesterday"))),
            Self::NotAJwt => "not-a-token".to_owned(),
            Self::HeaderNotBase64 => "!!!.e30.sig".to_owned(),
            Self::Oversized => format!(
                "{}.{}.sig",
                b64(&json!({"alg": "RS256"})),
                "A".repeat(MAX_TOKEN_BYTES)
            ),
        }
    }
}

#[rstest]
#[case::good_rs256(Make::GoodRs256, Ok(()))]
#[case::good_es256(Make::GoodEs256, Ok(()))]
#[case::good_hs256_in_dev(Make::GoodHs256Dev, Ok(()))]
#[case::audience_among_several(Make::AudienceAmongSeveral, Ok(()))]
#[case::alg_none(Make::AlgNone, Err(Error::AlgorithmNone))]
#[case::alg_none_capitalised(Make::AlgNoneCapitalised, Err(Error::AlgorithmNone))]
#[case::hs_rs_confusion(Make::HsRsConfusion, Err(Error::AlgorithmNotAllowed("HS256".into())))]
#[case::hs_with_jwks_oct_key(Make::HsWithJwksOctKey, Err(Error::AlgorithmNotAllowed("HS256".into())))]
#[case::rs_to_hs_issuer(Make::RsToHsIssuer, Err(Error::AlgorithmNotAllowed("RS256".into())))]
#[case::kid_of_other_family(Make::KidOfOtherFamily, Err(Error::AlgorithmNotAllowed("RS256".into())))]
#[case::expired(Make::Expired, Err(Error::Expired))]
#[case::not_yet_valid(Make::NotYetValid, Err(Error::NotYetValid))]
#[case::wrong_issuer(Make::WrongIssuer, Err(Error::UnknownIssuer("https://evil.example.com".into())))]
#[case::wrong_audience(Make::WrongAudience, Err(Error::WrongAudience))]
#[case::unknown_kid(Make::UnknownKid, Err(Error::UnknownKey("rsa-b".into())))]
#[case::encryption_key_kid(Make::EncryptionKeyKid, Err(Error::UnknownKey("encryption-only".into())))]
#[case::missing_kid(Make::MissingKid, Err(Error::MissingKeyId))]
#[case::tampered_payload(Make::TamperedPayload, Err(Error::BadSignature))]
#[case::signed_by_other_key(Make::SignedByOtherKey, Err(Error::BadSignature))]
#[case::missing_sub(Make::MissingSub, Err(Error::MissingClaim("sub".into())))]
#[case::empty_sub(Make::EmptySub, Err(Error::InvalidClaim("sub".into())))]
#[case::missing_exp(Make::MissingExp, Err(Error::MissingClaim("exp".into())))]
#[case::missing_aud(Make::MissingAud, Err(Error::MissingClaim("aud".into())))]
#[case::missing_iss(Make::MissingIss, Err(Error::MissingClaim("iss".into())))]
#[case::groups_not_strings(Make::GroupsNotStrings, Err(Error::InvalidClaim("groups".into())))]
#[case::century_long(Make::CenturyLong, Err(Error::LifetimeTooLong(24 * 3600)))]
#[case::issued_long_before(Make::IssuedLongBefore, Err(Error::LifetimeTooLong(24 * 3600)))]
#[case::no_iat_too_long(Make::NoIatTooLong, Err(Error::LifetimeTooLong(24 * 3600)))]
#[case::late_iat_far_exp(Make::LateIatFarExp, Err(Error::LifetimeTooLong(24 * 3600)))]
#[case::lifetime_at_the_limit(Make::LifetimeAtTheLimit, Ok(()))]
#[case::iat_not_a_number(Make::IatNotANumber, Err(Error::InvalidClaim("iat".into())))]
#[case::not_a_jwt(Make::NotAJwt, Err(Error::Malformed))]
#[case::header_not_base64(Make::HeaderNotBase64, Err(Error::Malformed))]
#[case::oversized(Make::Oversized, Err(Error::Malformed))]
#[tokio::test]
async fn token_matrix(#[case] make: Make, #[case] expected: Result<(), Error>) {
    let result = authenticator().verify(&make.token()).await;
    match (&result, &expected) {
        (Ok(identity), Ok(())) => assert_eq!(identity.subject, "alice"),
        _ => assert_eq!(result.map(|_| ()), expected, "{make:?}"),
    }
}

#[tokio::test]
async fn identity_carries_groups_and_every_other_claim() {
    let identity = authenticator()
        .verify(&Make::GoodRs256.token())
        .await
        .unwrap();
    assert_eq!(identity.subject, "alice");
    assert_eq!(identity.issuer, ISSUER);
    assert_eq!(identity.groups, ["corp:sre", "corp:oncall"]);
    assert_eq!(identity.claims["email"], "alice@example.com");
    assert_eq!(identity.claims["aud"], "wicket");
    assert!(identity.claims.contains_key("exp"));
    for lifted in ["sub", "iss", "groups"] {
        assert!(
            !identity.claims.contains_key(lifted),
            "{lifted} stays in claims"
        );
    }
}

#[tokio::test]
async fn groups_come_from_the_configured_claim() {
    let mut config = issuer(
        ISSUER,
        &[Algorithm::RS256],
        KeySource::JwksFile(fixture("jwks-a.json")),
    );
    config.groups_claim = "teams".into();
    let auth = Authenticator::new(&[config]).unwrap();
    let token = sign(
        Algorithm::RS256,
        Some("rsa-a"),
        &rsa(RSA_A),
        &with(claims(), "teams", json!("payments")),
    );
    let identity = auth.verify(&token).await.unwrap();
    assert_eq!(identity.groups, ["corp:payments"]);
    assert_eq!(
        identity.claims["groups"],
        json!(["sre", "oncall"]),
        "now just a claim"
    );
}

#[tokio::test]
async fn groups_are_qualified_by_their_issuers_alias_whatever_they_claim() {
    let auth = authenticator();
    let dev = |groups: Value| {
        sign(
            Algorithm::HS256,
            None,
            &EncodingKey::from_secret(DEV_SECRET.as_bytes()),
            &with(with(claims(), "iss", json!(DEV_ISSUER)), "groups", groups),
        )
    };
    // The dev issuer naming the other issuer's group, bare or already qualified, is still
    // only in groups of its own.
    let identity = auth.verify(&dev(json!(["sre", "corp:sre"]))).await.unwrap();
    assert_eq!(identity.groups, ["dev:sre", "dev:corp:sre"]);
    let identity = auth.verify(&dev(json!("sre"))).await.unwrap();
    assert_eq!(identity.groups, ["dev:sre"]);
    let identity = auth.verify(&Make::GoodRs256.token()).await.unwrap();
    assert_eq!(identity.groups, ["corp:sre", "corp:oncall"]);
}

#[tokio::test]
async fn leeway_tolerates_small_clock_skew_only() {
    let auth = authenticator();
    let just_expired = sign(
        Algorithm::RS256,
        Some("rsa-a"),
        &rsa(RSA_A),
        &with(claims(), "exp", json!(now() - 5)),
    );
    assert!(
        auth.verify(&just_expired).await.is_ok(),
        "5 s past exp is within 30 s leeway"
    );
    let long_expired = sign(
        Algorithm::RS256,
        Some("rsa-a"),
        &rsa(RSA_A),
        &with(claims(), "exp", json!(now() - 300)),
    );
    assert_eq!(
        auth.verify(&long_expired).await.unwrap_err(),
        Error::Expired
    );
}

#[test]
fn messages_never_echo_more_than_a_short_clean_value() {
    let long = format!("https://{}\u{7}.example.com", "a".repeat(500));
    let message = Error::UnknownIssuer(shown(&long)).to_string();
    assert!(message.len() < 120, "{message}");
    assert!(!message.contains('\u{7}'));
    assert!(message.ends_with("…` is not trusted"), "{message}");
}

#[test]
fn a_jwks_file_without_usable_keys_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(
        &path,
        r#"{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}"#,
    )
    .unwrap();
    let error = Authenticator::new(&[issuer(
        ISSUER,
        &[Algorithm::RS256],
        KeySource::JwksFile(path),
    )])
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "JWKS of issuer `https://login.example.com` is unusable: it holds no public signature key with a `kid`"
    );
}

/// A JWKS endpoint on 127.0.0.1 that counts its fetches and serves what the test sets.
struct JwksServer {
    url: reqwest::Url,
    fetches: Arc<AtomicUsize>,
    document: Arc<std::sync::Mutex<(StatusCode, &'static str)>>,
}

impl JwksServer {
    async fn start(document: &'static str) -> Self {
        let fetches = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(std::sync::Mutex::new((StatusCode::OK, document)));
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get({
                let fetches = fetches.clone();
                let served = served.clone();
                move || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = *served.lock().unwrap();
                    async move { (status, body) }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: url.parse().unwrap(),
            fetches,
            document: served,
        }
    }

    fn serve(&self, status: StatusCode, document: &'static str) {
        *self.document.lock().unwrap() = (status, document);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn authenticator(&self, refresh: Duration, min_refetch: Duration) -> Authenticator {
        self.authenticator_with_max_age(refresh, min_refetch, 4 * HOUR)
    }

    fn authenticator_with_max_age(
        &self,
        refresh: Duration,
        min_refetch: Duration,
        max_age: Duration,
    ) -> Authenticator {
        Authenticator::new(&[issuer(
            ISSUER,
            &[Algorithm::RS256, Algorithm::ES256],
            KeySource::JwksUrl {
                url: self.url.clone(),
                refresh,
                min_refetch,
                max_age,
            },
        )])
        .unwrap()
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn jwks_url_is_fetched_once_and_cached() {
    let server = JwksServer::start(JWKS_A).await;
    let auth = server.authenticator(HOUR, HOUR);
    assert_eq!(server.fetches(), 0, "fetched on first use, not at start");
    for _ in 0..5 {
        auth.verify(&Make::GoodRs256.token()).await.unwrap();
    }
    auth.verify(&Make::GoodEs256.token()).await.unwrap();
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn a_stale_key_set_is_refreshed() {
    let server = JwksServer::start(JWKS_A).await;
    let auth = server.authenticator(Duration::ZERO, HOUR);
    for expected in 1..=3 {
        auth.verify(&Make::GoodRs256.token()).await.unwrap();
        assert_eq!(server.fetches(), expected);
    }
}

#[tokio::test]
async fn an_unknown_kid_refetches_so_rotated_keys_work() {
    let server = JwksServer::start(JWKS_A).await;
    let auth = server.authenticator(HOUR, Duration::ZERO);
    auth.verify(&Make::GoodRs256.token()).await.unwrap();
    let rotated = sign(Algorithm::RS256, Some("rsa-b"), &rsa(RSA_B), &claims());
    assert_eq!(
        auth.verify(&rotated).await.unwrap_err(),
        Error::UnknownKey("rsa-b".into()),
        "the refetch still has no rsa-b"
    );
    server.serve(StatusCode::OK, JWKS_AB);
    assert_eq!(auth.verify(&rotated).await.unwrap().subject, "alice");
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let server = JwksServer::start(JWKS_A).await;
    let auth = server.authenticator(HOUR, HOUR);
    auth.verify(&Make::GoodRs256.token()).await.unwrap();
    server.serve(StatusCode::OK, JWKS_AB);
    for n in 0..10 {
        let kid = format!("random-{n}");
        let token = sign(Algorithm::RS256, Some(&kid), &rsa(RSA_B), &claims());
        assert_eq!(
            auth.verify(&token).await.unwrap_err(),
            Error::UnknownKey(kid)
        );
    }
    assert_eq!(
        server.fetches(),
        1,
        "a spray of unknown kids does not hammer the issuer"
    );
}

#[tokio::test]
async fn an_unreachable_jwks_fails_closed() {
    let server = JwksServer::start(JWKS_A).await;
    server.serve(StatusCode::INTERNAL_SERVER_ERROR, "{}");
    let auth = server.authenticator(HOUR, HOUR);
    assert_eq!(
        auth.verify(&Make::GoodRs256.token()).await.unwrap_err(),
        Error::KeysUnavailable(ISSUER.into())
    );
    assert_eq!(
        auth.verify(&Make::GoodRs256.token()).await.unwrap_err(),
        Error::KeysUnavailable(ISSUER.into())
    );
    assert_eq!(server.fetches(), 1, "failed fetches are rate-limited too");
}

#[tokio::test]
async fn known_keys_keep_working_while_a_refresh_fails() {
    let server = JwksServer::start(JWKS_A).await;
    let auth = server.authenticator(Duration::ZERO, Duration::ZERO);
    auth.verify(&Make::GoodRs256.token()).await.unwrap();
    server.serve(StatusCode::SERVICE_UNAVAILABLE, "down");
    assert_eq!(
        auth.verify(&Make::GoodRs256.token()).await.unwrap().subject,
        "alice"
    );
    assert_eq!(server.fetches(), 2, "it did try to refresh");
}

#[tokio::test]
async fn keys_not_refreshed_within_their_max_age_verify_nothing_until_a_fetch_succeeds() {
    let server = JwksServer::start(JWKS_A).await;
    let max_age = Duration::from_millis(500);
    let auth = server.authenticator_with_max_age(Duration::from_millis(100), HOUR, max_age);
    let token = Make::GoodRs256.token();
    auth.verify(&token).await.unwrap();
    auth.verify(&token).await.unwrap();
    assert_eq!(remembered_total(&auth), "wicket_auth_remembered_total 1");
    server.serve(StatusCode::SERVICE_UNAVAILABLE, "down");
    let started = std::time::Instant::now();
    // The same (remembered) token, and a fresh one, are refused once the keys are too old.
    loop {
        match auth.verify(&token).await {
            Ok(_) => {}
            Err(error) => {
                assert_eq!(error, Error::KeysTooOld(ISSUER.into()));
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "keys are still trusted long after their max age"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        auth.verify(&Make::GoodEs256.token()).await.unwrap_err(),
        Error::KeysTooOld(ISSUER.into())
    );
    server.serve(StatusCode::OK, JWKS_A);
    let started = std::time::Instant::now();
    while auth.verify(&token).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "keys fetched again are trusted again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The API edge verifies tokens from many tasks at once.
#[test]
fn the_authenticator_and_its_futures_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let auth = authenticator();
    send_sync(&auth);
    send(auth.verify("x"));
}

/// Authentication's metrics as a scrape renders them.
fn metrics_text(auth: &Authenticator) -> String {
    let mut registry = Registry::default();
    auth.register_metrics(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
    text
}

fn remembered_total(auth: &Authenticator) -> String {
    metrics_text(auth)
        .lines()
        .find(|line| line.starts_with("wicket_auth_remembered_total "))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_token_sent_again_is_remembered_and_proves_the_same_identity() {
    let auth = authenticator();
    let token = Make::GoodRs256.token();
    let first = auth.verify(&token).await.unwrap();
    assert_eq!(remembered_total(&auth), "wicket_auth_remembered_total 0");
    assert_eq!(auth.verify(&token).await.unwrap(), first);
    assert_eq!(remembered_total(&auth), "wicket_auth_remembered_total 1");
    assert!(metrics_text(&auth).contains("wicket_auth_remembered_tokens 1\n"));
    // A refused token is never remembered: refused again, on the same grounds.
    let tampered = format!("{}x", token.trim_end_matches('x'));
    for _ in 0..2 {
        assert!(auth.verify(&tampered).await.is_err());
    }
    assert_eq!(remembered_total(&auth), "wicket_auth_remembered_total 1");
}

#[tokio::test]
async fn a_remembered_token_still_expires_on_time() {
    let auth = Authenticator::new(&[IssuerConfig {
        leeway: Duration::ZERO,
        ..issuer(
            DEV_ISSUER,
            &[Algorithm::HS256],
            KeySource::Hs256Secret(Secret::new(DEV_SECRET)),
        )
    }])
    .unwrap();
    let exp = now() + 2;
    let token = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(DEV_SECRET.as_bytes()),
        &with(with(claims(), "iss", json!(DEV_ISSUER)), "exp", json!(exp)),
    );
    auth.verify(&token).await.unwrap();
    auth.verify(&token).await.unwrap();
    assert_eq!(remembered_total(&auth), "wicket_auth_remembered_total 1");
    while now() <= exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(auth.verify(&token).await.unwrap_err(), Error::Expired);
    assert_eq!(remembered_total(&auth), "wicket_auth_remembered_total 1");
}

/// The JWKS document `JWKS_AB` with `rsa-b`'s public key published under the kid `rsa-a`.
fn jwks_rebinding_rsa_a_to_rsa_b() -> &'static str {
    let mut document: Value = serde_json::from_str(JWKS_AB).unwrap();
    let keys = document["keys"].as_array_mut().unwrap();
    keys.retain(|key| key["kid"] == "rsa-b");
    keys[0]["kid"] = json!("rsa-a");
    Box::leak(document.to_string().into_boxed_str())
}

#[tokio::test]
async fn a_refetched_jwks_makes_remembered_tokens_verify_again() {
    let server = JwksServer::start(JWKS_A).await;
    let auth = server.authenticator(HOUR, Duration::ZERO);
    let token = Make::GoodRs256.token();
    auth.verify(&token).await.unwrap();
    auth.verify(&token).await.unwrap();
    assert_eq!(remembered_total(&auth), "wicket_auth_remembered_total 1");
    // The issuer now publishes another key under the same kid; a token naming an unknown kid
    // makes Wicket fetch the new document.
    server.serve(StatusCode::OK, jwks_rebinding_rsa_a_to_rsa_b());
    let unknown = sign(Algorithm::RS256, Some("rsa-c"), &rsa(RSA_B), &claims());
    assert!(auth.verify(&unknown).await.is_err());
    assert_eq!(server.fetches(), 2);
    assert_eq!(
        auth.verify(&token).await.unwrap_err(),
        Error::BadSignature,
        "checked against the key published now, not accepted from memory"
    );
    assert_eq!(remembered_total(&auth), "wicket_auth_remembered_total 1");
}
