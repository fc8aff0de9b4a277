//! Bearer tokens: what is accepted, and the 401 for everything else.
//! Keys from a JWKS are in [`jwks`].

use access_requests::auth::{Audience, TokenClaims};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{now_secs, spawn_app, spawn_app_with, Backend, TestApp, JWT_SECRET};

mod jwks;

backend_tests!(
    bad_tokens_get_401_with_a_bearer_challenge,
    expiry_has_sixty_seconds_of_leeway,
    issuer_and_audience_are_enforced_when_configured,
    future_issued_and_overlong_tokens_get_401,
);

/// The issuer and audience of every app configured with them (a JWKS needs both).
const ISSUER: &str = "https://id.acme.test/";
const AUDIENCE: &str = "access-requests";

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
        s.jwt_issuer = Some(ISSUER.to_owned());
        s.jwt_audience = Some(AUDIENCE.to_owned());
    })
    .await;
    let token = |iss: Option<&str>, aud: Option<&str>| {
        app.mint(&TokenClaims {
            iss: iss.map(str::to_owned),
            aud: aud.map(|a| Audience::One(a.to_owned())),
            ..app.claims("someone", "someone@acme.test")
        })
    };
    let issuer = Some(ISSUER);
    let audience = Some(AUDIENCE);

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
        "iss": ISSUER,
        "aud": ["other", AUDIENCE],
    }));
    app.get(ME, &listed).await.expect(200);
}

async fn future_issued_and_overlong_tokens_get_401(backend: Backend) {
    const DAY: i64 = 86_400;
    let app = spawn_app(backend).await;
    let now = now_secs();
    let token = |app: &TestApp, iat: Option<i64>, exp: i64| {
        app.mint(&TokenClaims {
            iat,
            exp,
            ..app.claims("someone", "someone@acme.test")
        })
    };
    for (case, iat, exp, accepted) in [
        ("issued 30 s from now", Some(now + 30), now + 600, true),
        ("issued 5 min from now", Some(now + 300), now + 600, false),
        ("a day long (JWT_MAX_TTL_SECS)", Some(now), now + DAY, true),
        ("ten years long", Some(now), now + 3650 * DAY, false),
        ("ten years long, without iat", None, now + 3650 * DAY, false),
        ("three days long, one left", Some(now - 2 * DAY), now + DAY, false),
        ("without iat, an hour left", None, now + 3600, true),
    ] {
        let response = app.get(ME, &token(&app, iat, exp)).await;
        if accepted {
            assert_eq!(response.status, 200, "{case}: {}", response.text);
        } else {
            assert_unauthorized(&response, case);
        }
    }
    // JWT_MAX_TTL_SECS=0 lifts the lifetime limit, not the iat rule.
    let unlimited = spawn_app_with(backend, |s| s.jwt_max_ttl_secs = 0).await;
    unlimited
        .get(ME, &token(&unlimited, Some(now), now + 3650 * DAY))
        .await
        .expect(200);
    let future = token(&unlimited, Some(now + 300), now + 600);
    assert_unauthorized(
        &unlimited.get(ME, &future).await,
        "issued 5 min from now, no limit",
    );
}
