//! Keys from a JWKS: RS256/ES256 tokens, hostile documents and tokens, an
//! unreachable JWKS, and the key cache: refresh, outages, single-flight fetches.

use std::time::{Duration, Instant};

use access_requests::auth::{Audience, TokenClaims};
use access_requests::config::Settings;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::{assert_unauthorized, AUDIENCE, ISSUER, ME};
use crate::helpers::{spawn_app, spawn_app_with, wait_for, Backend, TestApp, WAIT};
use crate::receiver::Receiver;

backend_tests!(
    jwks_keys_verify_es256_tokens,
    unreachable_jwks_is_unavailable,
    jwks_rsa_keys_and_hostile_tokens,
    garbage_jwks_is_never_a_server_error,
    removed_keys_stop_working_within_the_refresh_interval,
    a_jwks_that_is_down_keeps_the_last_good_keys,
    known_keys_never_wait_for_a_fetch,
    concurrent_unknown_kids_share_one_fetch,
);

/// A P-256 key (PKCS#8 DER, base64) whose public half the JWKS publishes as `k1`.
const EC_KEY_1: &str = concat!(
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghO9v86l2Fk+FsqCM",
    "I6D4nf7IeOBDR0/v7SQ7l9raHWKhRANCAAQvvcnT2xCDbg9I4Qxk8BWSjMCi2eMx",
    "sI1xQ5CeaZ6Kl9NWd0HBbu+eWJmgKcySK0Ovbp8WrWFnPwzrnOufplwQ",
);
const EC_KEY_1_X: &str = "L73J09sQg24PSOEMZPAVkozAotnjMbCNcUOQnmmeipc";
const EC_KEY_1_Y: &str = "01Z3QcFu755YmaApzJIrQ69unxatYWc_DOuc65-mXBA";
/// A P-256 key the JWKS does not publish.
const EC_KEY_2: &str = concat!(
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0xVsxWC7QcPcJj+J",
    "/ZTCtG8xy59nCDp3xsJJu3WWDFKhRANCAAQi6Ev8qt7voOLNDRy+ye+x3fIFQwd7",
    "oyFdLHdIx3SLt86peYpoz96eFNX8G/3NXNCyi9Z1q3aHFW3TJpTRQmbc",
);

fn ec_key(pkcs8: &str) -> EncodingKey {
    EncodingKey::from_ec_der(&STANDARD.decode(pkcs8).expect("base64 PKCS#8"))
}

/// An ES256 token over `claims`, naming `kid`.
fn es256(pkcs8: &str, kid: &str, claims: &TokenClaims) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &ec_key(pkcs8)).expect("a token")
}

/// A JWKS publishing `EC_KEY_1`'s public half under each of `kids`.
fn ec_key_set(kids: &[&str]) -> Value {
    let keys: Vec<Value> = kids
        .iter()
        .map(|kid| {
            json!({
                "kty": "EC", "crv": "P-256", "x": EC_KEY_1_X, "y": EC_KEY_1_Y,
                "kid": kid, "alg": "ES256", "use": "sig",
            })
        })
        .collect();
    json!({ "keys": keys })
}

/// Points the settings at a JWKS, with the issuer and audience it requires.
fn with_jwks(settings: &mut Settings, url: &str) {
    settings.jwt_jwks_url = Some(url.to_owned());
    settings.jwt_issuer = Some(ISSUER.to_owned());
    settings.jwt_audience = Some(AUDIENCE.to_owned());
}

/// An app verifying with `jwks`, once its start-up fetch has been answered, so
/// that the fetches a test counts are its own.
async fn spawn_with_jwks(backend: Backend, jwks: &Receiver, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let app = spawn_app_with(backend, |s| {
        with_jwks(s, &jwks.url);
        tweak(s);
    })
    .await;
    wait_for("the start-up JWKS fetch", WAIT, async || jwks.hits() >= 1).await;
    app
}

/// `app.claims` for the issuer and audience of [`with_jwks`].
fn jwks_claims(app: &TestApp, sub: &str, email: &str) -> TokenClaims {
    TokenClaims {
        iss: Some(ISSUER.to_owned()),
        aud: Some(Audience::One(AUDIENCE.to_owned())),
        ..app.claims(sub, email)
    }
}

async fn jwks_keys_verify_es256_tokens(backend: Backend) {
    let jwks = Receiver::start();
    jwks.serve_json(json!({"keys": [{
        "kty": "EC", "crv": "P-256", "x": EC_KEY_1_X, "y": EC_KEY_1_Y,
        "kid": "k1", "alg": "ES256", "use": "sig",
    }]}));
    let app = spawn_with_jwks(backend, &jwks, |_| {}).await;
    let claims = jwks_claims(&app, "557058:es-user", "es@acme.test");

    app.get(ME, &es256(EC_KEY_1, "k1", &claims)).await.expect(200);
    // HS256 tokens still work alongside.
    app.get(ME, &app.mint(&claims)).await.expect(200);

    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("k1".to_owned());
    let public_key = format!("{EC_KEY_1_X}.{EC_KEY_1_Y}");
    let confused = encode(
        &confused,
        &claims,
        &EncodingKey::from_secret(public_key.as_bytes()),
    )
    .expect("a token");
    for (case, token) in [
        ("another key under a known kid", es256(EC_KEY_2, "k1", &claims)),
        ("an unknown kid", es256(EC_KEY_2, "k2", &claims)),
        ("the same unknown kid again", es256(EC_KEY_2, "k2", &claims)),
        ("a public key used as an HMAC secret", confused),
        (
            "ES256 without a kid",
            encode(&Header::new(Algorithm::ES256), &claims, &ec_key(EC_KEY_1)).expect("a token"),
        ),
    ] {
        assert_unauthorized(&app.get(ME, &token).await, case);
    }
    // The start-up fetch, and one for the unknown kid: its repeat within 30 s fetched nothing.
    assert_eq!(jwks.hits(), 2);
}

async fn unreachable_jwks_is_unavailable(backend: Backend) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}/jwks.json", closed.local_addr().expect("an address"));
    drop(closed);
    let app = spawn_app_with(backend, |s| with_jwks(s, &url)).await;
    let token = es256(EC_KEY_1, "k1", &jwks_claims(&app, "someone", "someone@acme.test"));
    app.get(ME, &token).await.expect_problem(503, "unavailable");
    // Without any key source for ES256, the token is simply refused.
    let plain = spawn_app(backend).await;
    assert_unauthorized(&plain.get(ME, &token).await, "ES256 without a JWKS");
}

/// A 2048-bit RSA test key (PKCS#1 DER, base64); the JWKS publishes its public half as `r1`.
const RSA_KEY_DER: &str = concat!(
    "MIIEpAIBAAKCAQEAn5twymph8quhcrO6aRTHXpnZjMi3y3E0V4rDDsuPVycRFvB/",
    "eYMTfxh+B9yQddT4F0p9LxX0uW2FpbTA6G8zX+nF+uJFKV1i+WS3Vt4ady94lzhW",
    "KS3yqE5aDSFgwmfrka5TIozzC2rI5zEVGC4tOA70WGuXyZtYMBofUGwh27BuwI8S",
    "y6XTEsj8POCrNsHs3FvKKq38I5XmKpt9IltmWJtjKjdgSjk/+w4mTD1MHddQexHu",
    "q4Tq6wtw5GyYmsInEhCce7pE9QfmIzuzHwn9YjeyJCNpG+lEeDIxc8plH4hnvD72",
    "KHiZYO77RKw59PoZ48G5HBVyLyfqz3GwgXVuxwIDAQABAoIBACXVFA6+2bnKagoE",
    "xS5sUPfBExq2Zy6Phl8r0qGaqb74USo1VpoIcmIhfZpCc3Giyi3HJ9Y155zec5v8",
    "NO/DkBNvl9CouskbzD6eW4D5Q5+1vmll3rKDJC416E2NeGCMfn+5KRaa/29Y4AdB",
    "EKV7KJfNn6in1EJjEqvQPVT0VLA8iZrIwQJJdUjt4UHg5d/vtIfgKn+ZD/qCQVAd",
    "EKuMm8mgUGHRTtH2Nrvz2vJEOmXzdLvhAVk92ilyUyMfHYSVIr+UDup3MGQLfu/y",
    "lB3E/1VuBRf7c8t+EBUzISPigB0+vTuWCpVWzlRgH0tnwo5rFQEhFwWkZoChDgZw",
    "jEW16IUCgYEA0OVtpliCsOg6QNm/KCJaS3/ViRitnwhMq8BPfRjrTY5pBHg0Ech3",
    "2n1gIE7tmFhBv24+pJtatBzCE2AlDCdujPe9ejtbuIUXE239yTqA8OX9RlIwAYwb",
    "CtvtG0tMDg3mzWIrBY8SccObxpNUesueOoyBfxE7ep0t0j5zhUjzCbsCgYEAw5jL",
    "fJlUMyiNdcHeYxZsFqtGxwToUaTaRmXfyH2yH9sLmhOu+Id079MukrBkAJAm66gm",
    "ARA4IfAaRh3lkVmREJpfjRh2bf7xaIxdQ8YtpuxyiqL7zfMQSjemrjSg2RzGFru/",
    "P8jxrvcr+UR0Mvnnbg6/fJ2T1h3P9rWeAfwiSGUCgYBqiZgyjlGZB9ct29+yCFMk",
    "zj2JfhyOTx1LOvlPQ7Y+B7NnpCZqK2N0+xxbXeWvHNPrXb51FQZddY1FdHNwj2vC",
    "WVc5T6ynnrj2H9KfHkdElQdnJeN15o6kKyXyFaTkRhLADKEEZMNzYd/AlsMvHUnF",
    "coNY2uEK177WyyL/hwTsoQKBgQCL4DHs+e2X5DE9fBXgQIGtuHCWFLFa6Yxa+bGO",
    "PC1s0IW8esUO4DfE5f4RUulA6dWbgxUif4nU41K2v9yTFD1EZVFdopfW05GqFW8A",
    "77FoBQFomWN/hYopuSCOxf4dJZGXYk5DfB0x5Xrh+I0sg0B4mT1hDYNShOFa6ciE",
    "XN3bbQKBgQC6UijVmUU7vT3EtpdIbnRz2rptEmULPp4kr3eTKlworZSOBMqTpVV7",
    "ly/VGYQVDOCz5mFUBm2GUdrlNLnxUphDJUq0qA49PPRY5PHdL6bVUoXB4M9XdgKL",
    "vXV9htWkxbH1IyOvCGGHpLjoPXflOrhjTFgMUK7ynYjNXDI8f4awtA==",
);
const RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAn5twymph8quhcrO6aRTH
XpnZjMi3y3E0V4rDDsuPVycRFvB/eYMTfxh+B9yQddT4F0p9LxX0uW2FpbTA6G8z
X+nF+uJFKV1i+WS3Vt4ady94lzhWKS3yqE5aDSFgwmfrka5TIozzC2rI5zEVGC4t
OA70WGuXyZtYMBofUGwh27BuwI8Sy6XTEsj8POCrNsHs3FvKKq38I5XmKpt9Iltm
WJtjKjdgSjk/+w4mTD1MHddQexHuq4Tq6wtw5GyYmsInEhCce7pE9QfmIzuzHwn9
YjeyJCNpG+lEeDIxc8plH4hnvD72KHiZYO77RKw59PoZ48G5HBVyLyfqz3GwgXVu
xwIDAQAB
-----END PUBLIC KEY-----";
const RSA_N: &str = "n5twymph8quhcrO6aRTHXpnZjMi3y3E0V4rDDsuPVycRFvB_eYMTfxh-B9yQddT4F0p9LxX0uW2FpbTA6G8zX-nF-uJFKV1i-WS3Vt4ady94lzhWKS3yqE5aDSFgwmfrka5TIozzC2rI5zEVGC4tOA70WGuXyZtYMBofUGwh27BuwI8Sy6XTEsj8POCrNsHs3FvKKq38I5XmKpt9IltmWJtjKjdgSjk_-w4mTD1MHddQexHuq4Tq6wtw5GyYmsInEhCce7pE9QfmIzuzHwn9YjeyJCNpG-lEeDIxc8plH4hnvD72KHiZYO77RKw59PoZ48G5HBVyLyfqz3GwgXVuxw";

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_der(&STANDARD.decode(RSA_KEY_DER).expect("base64 DER"))
}

async fn jwks_rsa_keys_and_hostile_tokens(backend: Backend) {
    let jwks = Receiver::start();
    jwks.serve_json(
        json!({"keys": [{"kty": "RSA", "n": RSA_N, "e": "AQAB", "kid": "r1", "alg": "RS256", "use": "sig"}]}),
    );
    let app = spawn_with_jwks(backend, &jwks, |_| {}).await;
    let claims = jwks_claims(&app, "557058:rs-user", "rs@acme.test");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("r1".to_owned());
    let rsa = rsa_key();
    app.get(ME, &encode(&header, &claims, &rsa).expect("a token"))
        .await
        .expect(200);

    // The classic confusion: HS256 signed with the RSA public key as the HMAC secret.
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("r1".to_owned());
    for secret in [RSA_PUBLIC_PEM.as_bytes(), RSA_N.as_bytes()] {
        let token = encode(&confused, &claims, &EncodingKey::from_secret(secret)).expect("a token");
        assert_unauthorized(&app.get(ME, &token).await, "HS256 with the RSA public key");
    }
    // The RSA key under an ES256 header, and a token far larger than any real one.
    let mut es_header = header.clone();
    es_header.alg = Algorithm::ES256;
    let forged = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&es_header).expect("json")),
        encode(&header, &claims, &rsa)
            .expect("a token")
            .split_once('.')
            .expect("a JWT")
            .1
    );
    assert_unauthorized(
        &app.get(ME, &forged).await,
        "RS256 signature under an ES256 header",
    );
    let huge = format!(
        "{}.{}.{}",
        "a".repeat(50_000),
        "b".repeat(50_000),
        "c".repeat(2_000)
    );
    assert_unauthorized(&app.get(ME, &huge).await, "a 100 KB token");
    // Claims of the wrong types are refused, not coerced.
    for (case, changes) in [
        ("email_verified as a string", json!({"email_verified": "true"})),
        ("exp as a string", json!({"exp": "tomorrow"})),
        ("sub as a number", json!({"sub": 42})),
        ("email as a list", json!({"email": ["a@acme.test"]})),
        ("name as an object", json!({"name": {"first": "A"}})),
    ] {
        let mut body = serde_json::to_value(&claims).expect("claims as JSON");
        for (k, v) in changes.as_object().expect("an object") {
            body[k] = v.clone();
        }
        let token = encode(&header, &body, &rsa).expect("a token");
        assert_unauthorized(&app.get(ME, &token).await, case);
    }
    assert_eq!(jwks.hits(), 1, "one JWKS fetch served every known kid");
}

async fn garbage_jwks_is_never_a_server_error(backend: Backend) {
    for document in [
        json!("not a key set"),
        json!({"keys": "nope"}),
        json!({"keys": [{"kty": "RSA", "kid": "r1"}]}),
    ] {
        let jwks = Receiver::start();
        jwks.serve_json(document.clone());
        let app = spawn_with_jwks(backend, &jwks, |_| {}).await;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("r1".to_owned());
        let rsa = rsa_key();
        let token =
            encode(&header, &jwks_claims(&app, "someone", "someone@acme.test"), &rsa).expect("a token");
        let response = app.get(ME, &token).await;
        assert!(
            [401, 503].contains(&response.status),
            "JWKS {document}: {} {}",
            response.status,
            response.text
        );
        assert!(response
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/problem+json"));
    }
}

async fn removed_keys_stop_working_within_the_refresh_interval(backend: Backend) {
    let jwks = Receiver::start();
    jwks.serve_json(ec_key_set(&["k1"]));
    let app = spawn_with_jwks(backend, &jwks, |s| s.jwt_jwks_refresh_secs = 1).await;
    let claims = jwks_claims(&app, "rotating", "rotating@acme.test");
    let old = es256(EC_KEY_1, "k1", &claims);
    app.get(ME, &old).await.expect(200);

    // The identity provider rotates: `k1` is withdrawn, the key lives on as `k2`.
    jwks.serve_json(ec_key_set(&["k2"]));
    // Tokens keep coming (steady traffic must not keep the old key alive); a 1 s
    // interval gets a generous deadline on a loaded machine.
    wait_for("k1 to be refused", Duration::from_secs(5), async || {
        app.get(ME, &old).await.status == 401
    })
    .await;
    assert_unauthorized(&app.get(ME, &old).await, "a key removed from the JWKS");
    app.get(ME, &es256(EC_KEY_1, "k2", &claims)).await.expect(200);
}

async fn a_jwks_that_is_down_keeps_the_last_good_keys(backend: Backend) {
    let jwks = Receiver::start();
    jwks.serve_json(ec_key_set(&["k1"]));
    let app = spawn_with_jwks(backend, &jwks, |s| s.jwt_jwks_refresh_secs = 1).await;
    let claims = jwks_claims(&app, "steady", "steady@acme.test");
    let known = es256(EC_KEY_1, "k1", &claims);
    app.get(ME, &known).await.expect(200);

    jwks.answer(500);
    // Two failed fetches: the second began after the first was dealt with.
    let failures = || jwks.statuses().iter().filter(|s| **s == 500).count();
    wait_for("two failed refreshes", WAIT, async || failures() >= 2).await;
    app.get(ME, &known).await.expect(200);
    // A kid that no cached key has may be one that could not be fetched: try again later.
    let unknown = es256(EC_KEY_2, "k9", &claims);
    app.get(ME, &unknown).await.expect_problem(503, "unavailable");

    jwks.answer(200);
    wait_for("the JWKS to be back", WAIT, async || {
        app.get(ME, &unknown).await.status == 401
    })
    .await;
    app.get(ME, &known).await.expect(200);
}

async fn known_keys_never_wait_for_a_fetch(backend: Backend) {
    let jwks = Receiver::start();
    jwks.serve_json(ec_key_set(&["k1"]));
    let app = spawn_with_jwks(backend, &jwks, |_| {}).await;
    let claims = jwks_claims(&app, "patient", "patient@acme.test");
    let known = es256(EC_KEY_1, "k1", &claims);
    app.get(ME, &known).await.expect(200);

    // A junk token with a random kid makes the service fetch from a slow JWKS.
    jwks.stall_next_for(1, Duration::from_secs(3));
    let fetches = jwks.arrivals();
    let junk = es256(EC_KEY_2, "junk-kid", &claims);
    let (junk, (answer, took)) = tokio::join!(app.get(ME, &junk), async {
        wait_for("the slow fetch to start", WAIT, async || {
            jwks.arrivals() > fetches
        })
        .await;
        let started = Instant::now();
        let answer = app.get(ME, &known).await;
        (answer, started.elapsed())
    });
    answer.expect(200);
    assert!(
        took < Duration::from_secs(1),
        "a known kid waited {took:?} for a JWKS fetch"
    );
    assert_unauthorized(&junk, "an unknown kid");
    assert_eq!(jwks.arrivals(), fetches + 1);
}

async fn concurrent_unknown_kids_share_one_fetch(backend: Backend) {
    let jwks = Receiver::start();
    jwks.serve_json(ec_key_set(&["k1"]));
    let app = spawn_with_jwks(backend, &jwks, |_| {}).await;
    let claims = jwks_claims(&app, "rotated", "rotated@acme.test");

    // After start-up the JWKS gains eight keys; a slow answer makes the requests overlap.
    let new_kids: Vec<String> = (0..8).map(|i| format!("new-{i}")).collect();
    let published: Vec<&str> = new_kids.iter().map(String::as_str).chain(["k1"]).collect();
    jwks.serve_json(ec_key_set(&published));
    jwks.stall_next_for(1, Duration::from_secs(1));
    let fetches = jwks.arrivals();
    let tokens: Vec<String> = new_kids
        .iter()
        .map(String::as_str)
        .chain(["never-published"])
        .map(|kid| es256(EC_KEY_1, kid, &claims))
        .collect();
    let answers = futures_util::future::join_all(tokens.iter().map(|token| app.get(ME, token))).await;

    let (last, new) = answers.split_last().expect("answers");
    for (kid, answer) in new_kids.iter().zip(new) {
        assert_eq!(answer.status, 200, "{kid}: {}", answer.text);
    }
    assert_unauthorized(last, "a kid the JWKS does not publish");
    assert_eq!(
        jwks.arrivals(),
        fetches + 1,
        "one JWKS fetch for {} unknown kids",
        tokens.len()
    );
}
