//! The HTTP edge a browser or a gateway meets first: `X-Request-Id` on every answer, CORS
//! from `CORS_ALLOWED_ORIGINS`, and `/` leading to Swagger UI.

use reqwest::header::HeaderValue;
use reqwest::Method;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with, ApiResponse, Backend, TestApp};

backend_tests!(
    request_ids_are_echoed_when_sane_and_made_otherwise,
    cors_answers_allowed_origins_only,
    cors_with_a_wildcard_allows_any_origin,
    no_cors_headers_without_the_setting,
    the_root_leads_to_swagger_ui,
);

/// The `X-Request-Id` that `GET /healthz` answers when the caller offers these bytes (which
/// may be ones the helpers' `&str` headers cannot hold).
async fn id_for_offered(app: &TestApp, offered: &[u8]) -> String {
    let response = reqwest::Client::new()
        .get(format!("{}/healthz", app.address))
        .header(
            "x-request-id",
            HeaderValue::from_bytes(offered).expect("a header value"),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);
    let id = response
        .headers()
        .get("x-request-id")
        .expect("an X-Request-Id header");
    id.to_str().expect("visible ASCII").to_owned()
}

#[track_caller]
fn request_id(response: &ApiResponse) -> &str {
    response.header("x-request-id").expect("an X-Request-Id header")
}

#[track_caller]
fn assert_generated(id: &str) {
    assert!(Uuid::parse_str(id).is_ok(), "not a generated id: {id:?}");
}

async fn request_ids_are_echoed_when_sane_and_made_otherwise(backend: Backend) {
    let app = spawn_app(backend).await;
    let longest = "a".repeat(128);
    for sane in ["abc-123", "x", "trace=1;span=2/3~!", longest.as_str()] {
        assert_eq!(id_for_offered(&app, sane.as_bytes()).await, sane);
    }
    let too_long = "a".repeat(129);
    for insane in [
        too_long.as_bytes(),
        b"two words",
        b"tab\there",
        b"caf\xc3\xa9",
        b" ",
    ] {
        assert_generated(&id_for_offered(&app, insane).await);
    }

    let plain = app.send(Method::GET, "/healthz", None, None, &[]).await;
    let again = app.send(Method::GET, "/healthz", None, None, &[]).await;
    assert_generated(request_id(&plain));
    assert_ne!(request_id(&plain), request_id(&again));

    // Problems carry it too: an unknown route, a missing or forged token, a wrong method.
    let cases = [
        (Method::GET, "/v1/nothing-here", None, 404, "not_found"),
        (Method::GET, "/v1/me/access-requests", None, 401, "unauthorized"),
        (
            Method::GET,
            "/v1/me/access-requests",
            Some("not.a.token"),
            401,
            "unauthorized",
        ),
        (Method::DELETE, "/v1/orgs", None, 405, "method_not_allowed"),
    ];
    for (i, (method, path, token, status, code)) in cases.into_iter().enumerate() {
        let offered = format!("problem-{i}");
        let response = app
            .send(method, path, token, None, &[("x-request-id", &offered)])
            .await;
        response.expect_problem(status, code);
        assert_eq!(request_id(&response), offered);
        let generated = app.send(Method::GET, path, None, None, &[]).await;
        assert_generated(request_id(&generated));
    }
}

const FRONTEND: &str = "https://frontend.example.test";

/// A browser's preflight for a POST with the headers our clients send.
async fn preflight(app: &TestApp, origin: &str) -> ApiResponse {
    app.send(
        Method::OPTIONS,
        "/v1/me/access-requests",
        None,
        None,
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type, if-match, idempotency-key, x-request-id",
            ),
        ],
    )
    .await
}

/// The comma-separated values of a header, lower-cased.
fn header_list(response: &ApiResponse, name: &str) -> Vec<String> {
    response
        .header(name)
        .unwrap_or_default()
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

async fn cors_answers_allowed_origins_only(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.cors_allowed_origins = vec![FRONTEND.to_owned(), "http://localhost:3000".to_owned()];
    })
    .await;

    let allowed = preflight(&app, FRONTEND).await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(allowed.header("access-control-allow-origin"), Some(FRONTEND));
    let methods = header_list(&allowed, "access-control-allow-methods");
    for method in ["get", "post", "put", "patch", "delete"] {
        assert!(methods.contains(&method.to_owned()), "{methods:?}");
    }
    let headers = header_list(&allowed, "access-control-allow-headers");
    for header in [
        "authorization",
        "content-type",
        "if-match",
        "idempotency-key",
        "x-request-id",
    ] {
        assert!(headers.contains(&header.to_owned()), "{headers:?}");
    }
    assert!(allowed.header("x-request-id").is_some());

    // The real call: the browser may read the headers our clients need.
    let token = app.token("cors-user", "cors-user@acme.test");
    let call = app
        .send(
            Method::GET,
            "/v1/me/access-requests",
            Some(&token),
            None,
            &[("origin", FRONTEND)],
        )
        .await;
    assert_eq!(call.status, 200, "{}", call.text);
    assert_eq!(call.header("access-control-allow-origin"), Some(FRONTEND));
    let exposed = header_list(&call, "access-control-expose-headers");
    for header in ["etag", "location", "retry-after", "x-request-id"] {
        assert!(exposed.contains(&header.to_owned()), "{exposed:?}");
    }

    // Another origin gets no permission, on the preflight or on the call.
    let other = preflight(&app, "https://evil.example.test").await;
    assert_eq!(other.header("access-control-allow-origin"), None, "{other:?}");
    other.expect_problem(400, "bad_request");
    let call = app
        .send(
            Method::GET,
            "/v1/me/access-requests",
            Some(&token),
            None,
            &[("origin", "https://evil.example.test")],
        )
        .await;
    assert_eq!(call.status, 200);
    assert_eq!(call.header("access-control-allow-origin"), None);
}

async fn cors_with_a_wildcard_allows_any_origin(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.cors_allowed_origins = vec!["*".to_owned()];
    })
    .await;
    let allowed = preflight(&app, "https://anywhere.example.test").await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(allowed.header("access-control-allow-origin"), Some("*"));
}

async fn no_cors_headers_without_the_setting(backend: Backend) {
    let app = spawn_app(backend).await;
    let refused = preflight(&app, FRONTEND).await;
    refused.expect_problem(405, "method_not_allowed");
    let health = app
        .send(Method::GET, "/healthz", None, None, &[("origin", FRONTEND)])
        .await;
    for response in [&refused, &health] {
        let cors: Vec<_> = response
            .headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .collect();
        assert!(
            cors.is_empty(),
            "CORS headers without CORS_ALLOWED_ORIGINS: {cors:?}"
        );
    }
}

async fn the_root_leads_to_swagger_ui(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.send(Method::GET, "/", None, None, &[]).await;
    assert!((300..400).contains(&root.status), "{root:?}");
    assert_eq!(root.header("location"), Some("/swagger-ui/"));
    let ui = app.send(Method::GET, "/swagger-ui/", None, None, &[]).await;
    assert_eq!(ui.status, 200);
    assert!(ui.text.contains("swagger"), "{}", ui.text);
}
