//! Bearer tokens: what is accepted, and the 401 for everything else.

use access_requests::auth::{Audience, TokenClaims};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{now_secs, spawn_app, spawn_app_with, Backend, TestApp, JWT_SECRET};
use crate::receiver::Receiver;

backend_tests!(
    bad_tokens_get_401_with_a_bearer_challenge,
    expiry_has_sixty_seconds_of_leeway,
    issuer_and_audience_are_enforced_when_configured,
    jwks_keys_verify_es256_tokens,
    unreachable_jwks_is_unavailable,
    jwks_rsa_keys_and_hostile_tokens,
    garbage_jwks_is_never_a_server_error,
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

const ME: &str = "/v1/me/access-requests";

/// An unsigned token with the given header algorithm and claims.
fn forged(alg: &str, claims: &Value, signature: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.{signature}")
}

/// An HS256 token with the test key over arbitrary claims.
fn hs256(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("a token")
}

#[track_caller]
fn assert_unauthorized(response: &crate::helpers::ApiResponse, case: &str) {
    assert_eq!(response.status, 401, "{case}: {}", response.text);
    response.expect_problem(401, "unauthorized");
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "{case}: WWW-Authenticate {challenge:?}"
    );
}

async fn send_with_authorization(app: &TestApp, authorization: Option<&str>) -> crate::helpers::ApiResponse {
    let headers: Vec<(&str, &str)> = authorization.map(|a| ("Authorization", a)).into_iter().collect();
    app.send(Method::GET, ME, None, None, &headers).await
}

async fn bad_tokens_get_401_with_a_bearer_challenge(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = now_secs();
    let valid =
        json!({"sub": "someone", "email": "someone@acme.test", "email_verified": true, "exp": now + 600});
    let with = |changes: Value| {
        let mut claims = valid.clone();
        for (k, v) in changes.as_object().expect("an object") {
            if v.is_null() {
                claims.as_object_mut().expect("an object").remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let signed = hs256(&valid);
    let signature = signed.rsplit('.').next().expect("a signature").to_owned();
    let wrong_key = encode(
        &Header::default(),
        &valid,
        &EncodingKey::from_secret(b"some-other-secret"),
    )
    .expect("a token");
    let mut tampered = signed.clone();
    tampered.truncate(signed.len() - 2);
    tampered.push_str(if signed.ends_with("AA") { "BB" } else { "AA" });

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization", None),
        (
            "not bearer",
            Some(format!("Basic {}", URL_SAFE_NO_PAD.encode("a:b"))),
        ),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("garbage", Some("Bearer not-a-jwt".to_owned())),
        (
            "expired",
            Some(format!("Bearer {}", hs256(&with(json!({"exp": now - 3600}))))),
        ),
        (
            "no exp",
            Some(format!("Bearer {}", hs256(&with(json!({"exp": null}))))),
        ),
        (
            "not yet valid",
            Some(format!("Bearer {}", hs256(&with(json!({"nbf": now + 3600}))))),
        ),
        (
            "no sub",
            Some(format!("Bearer {}", hs256(&with(json!({"sub": null}))))),
        ),
        (
            "bad sub",
            Some(format!("Bearer {}", hs256(&with(json!({"sub": "a b/c"}))))),
        ),
        ("wrong key", Some(format!("Bearer {wrong_key}"))),
        ("tampered signature", Some(format!("Bearer {tampered}"))),
        ("alg none", Some(format!("Bearer {}", forged("none", &valid, "")))),
        (
            "alg none with signature",
            Some(format!("Bearer {}", forged("none", &valid, &signature))),
        ),
        (
            "RS256 without a key",
            Some(format!("Bearer {}", forged("RS256", &valid, &signature))),
        ),
        (
            "HS512",
            Some(format!("Bearer {}", forged("HS512", &valid, &signature))),
        ),
    ];
    for (case, authorization) in &cases {
        let response = send_with_authorization(&app, authorization.as_deref()).await;
        assert_unauthorized(&response, case);
    }

    // The same claims, properly signed, pass.
    let ok = send_with_authorization(&app, Some(&format!("Bearer {signed}"))).await;
    ok.expect(200);
}

async fn expiry_has_sixty_seconds_of_leeway(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = now_secs();
    let token = |exp: i64, nbf: Option<i64>| {
        app.mint(&TokenClaims {
            exp,
            nbf,
            ..app.claims("someone", "someone@acme.test")
        })
    };
    for (case, exp, nbf, status) in [
        ("expired 30 s ago", now - 30, None, 200),
        ("expired 5 min ago", now - 300, None, 401),
        ("valid 30 s from now", now + 600, Some(now + 30), 200),
        ("valid 5 min from now", now + 600, Some(now + 300), 401),
    ] {
        let response = app.get(ME, &token(exp, nbf)).await;
        assert_eq!(response.status, status, "{case}: {}", response.text);
    }
}

async fn issuer_and_audience_are_enforced_when_configured(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.jwt_issuer = Some("https://id.acme.test/".to_owned());
        s.jwt_audience = Some("access-requests".to_owned());
    })
    .await;
    let token = |iss: Option<&str>, aud: Option<&str>| {
        app.mint(&TokenClaims {
            iss: iss.map(str::to_owned),
            aud: aud.map(|a| Audience::One(a.to_owned())),
            ..app.claims("someone", "someone@acme.test")
        })
    };
    let issuer = Some("https://id.acme.test/");
    let audience = Some("access-requests");

    app.get(ME, &token(issuer, audience)).await.expect(200);
    for (case, iss, aud) in [
        ("no issuer", None, audience),
        ("other issuer", Some("https://evil.test/"), audience),
        ("no audience", issuer, None),
        ("other audience", issuer, Some("billing")),
    ] {
        assert_unauthorized(&app.get(ME, &token(iss, aud)).await, case);
    }
    // `aud` may be a list that contains the audience.
    let listed = hs256(&json!({
        "sub": "someone",
        "email": "someone@acme.test",
        "email_verified": true,
        "exp": now_secs() + 600,
        "iss": "https://id.acme.test/",
        "aud": ["other", "access-requests"],
    }));
    app.get(ME, &listed).await.expect(200);
}

async fn jwks_keys_verify_es256_tokens(backend: Backend) {
    let jwks = Receiver::start();
    jwks.serve_json(json!({"keys": [{
        "kty": "EC", "crv": "P-256", "x": EC_KEY_1_X, "y": EC_KEY_1_Y,
        "kid": "k1", "alg": "ES256", "use": "sig",
    }]}));
    let url = jwks.url.clone();
    let app = spawn_app_with(backend, |s| s.jwt_jwks_url = Some(url)).await;
    let claims = app.claims("557058:es-user", "es@acme.test");

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
    // Unknown kids trigger a refetch at most once every 30 s.
    assert_eq!(jwks.hits(), 1);
}

async fn unreachable_jwks_is_unavailable(backend: Backend) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}/jwks.json", closed.local_addr().expect("an address"));
    drop(closed);
    let app = spawn_app_with(backend, |s| s.jwt_jwks_url = Some(url)).await;
    let token = es256(EC_KEY_1, "k1", &app.claims("someone", "someone@acme.test"));
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
    let url = jwks.url.clone();
    let app = spawn_app_with(backend, |s| s.jwt_jwks_url = Some(url)).await;
    let claims = app.claims("557058:rs-user", "rs@acme.test");
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
        let url = jwks.url.clone();
        let app = spawn_app_with(backend, |s| s.jwt_jwks_url = Some(url)).await;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("r1".to_owned());
        let rsa = rsa_key();
        let token = encode(&header, &app.claims("someone", "someone@acme.test"), &rsa).expect("a token");
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
