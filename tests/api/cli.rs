//! The `access-requests` binary: `token`, `migrate`, start-up refusing a bad configuration
//! with one line naming the variable, and start-up saying where Swagger UI is.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::helpers::{now_secs, requests_path, spawn_app, Backend, JIRA, JWT_SECRET, WAIT};

backend_tests!(token_subcommand_mints_usable_tokens);

/// Runs the binary with only `env` in its environment; fails after [`WAIT`].
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_access-requests"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + WAIT;
    while child.try_wait().expect("a child status").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("kill the child");
            panic!("access-requests {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the child's output")
}

fn token(args: &[&str]) -> String {
    let output = run(&[&["token"], args].concat(), &[("JWT_HS256_SECRET", JWT_SECRET)]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(stdout.trim().lines().count(), 1, "the token alone: {stdout:?}");
    stdout.trim().to_owned()
}

async fn token_subcommand_mints_usable_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let identity = [
        "--sub",
        "cli-user",
        "--email",
        "cli-user@gmail.test",
        "--name",
        "Cli User",
    ];

    let verified = token(&identity);
    let request = app
        .create_request(&world.site_id, &verified, &json!({"product_key": JIRA}))
        .await
        .expect(201);
    assert_eq!(request["requester"]["account_id"], "cli-user");
    assert_eq!(request["requester"]["email"], "cli-user@gmail.test");
    assert_eq!(request["requester"]["display_name"], "Cli User");

    let unverified = token(&[&identity[..], &["--unverified"]].concat());
    app.post_json(
        &requests_path(&world.site_id),
        &unverified,
        &json!({"product_key": JIRA}),
    )
    .await
    .expect_problem(403, "email_not_verified");

    let short = token(&[&identity[..], &["--ttl-secs", "600"]].concat());
    let payload = short.split('.').nth(1).expect("a JWT payload");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims");
    let lifetime = claims["exp"].as_i64().expect("exp") - now_secs();
    assert!((590..=600).contains(&lifetime), "{claims}");
    app.get("/v1/me/access-requests", &short).await.expect(200);
}

#[test]
fn migrate_prepares_a_fresh_database_and_can_run_again() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let database = dir.path().join("migrated.db");
    let database = database.to_str().expect("a UTF-8 path");
    for _ in 0..2 {
        let output = run(
            &["migrate"],
            &[("DATABASE_URL", database), ("JWT_HS256_SECRET", JWT_SECRET)],
        );
        assert!(output.status.success(), "{output:?}");
    }
    assert!(dir.path().join("migrated.db").exists());
}

#[test]
fn bad_configuration_stops_start_up_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let database = dir.path().join("never.db");
    let database = database.to_str().expect("a UTF-8 path");
    let good = [
        ("DATABASE_URL", database),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("JWT_HS256_SECRET", JWT_SECRET),
    ];
    for (variable, value) in [
        ("ROLLOUT_PERCENT", "101"),
        ("LISTEN_ADDR", "nowhere"),
        ("WEBHOOK_MAX_ATTEMPTS", "0"),
        ("RATE_LIMIT_CREATE_PER_MINUTE", "lots"),
        ("JWT_JWKS_URL", "ftp://keys.test"),
        ("PLATFORM_ADMINS", "ok,not valid"),
        ("BILLING_SERVICE_SECRET", "s3cr3t-value"),
        ("LISTEN_ADDR", "localhost"),
        ("CORS_ALLOWED_ORIGINS", "frontend.example.test"),
        ("LOG_FORMAT", "yaml"),
    ] {
        let mut env: Vec<(&str, &str)> = good.iter().copied().filter(|(k, _)| *k != variable).collect();
        env.push((variable, value));
        if variable == "BILLING_SERVICE_SECRET" {
            env.push(("BILLING_SERVICE_URL", "http://billing.test/hooks"));
        }
        let line = refusal(&run(&["serve"], &env), variable);
        assert!(!line.contains("s3cr3t-value"), "a secret was printed: {line}");
    }

    let output = run(
        &["serve"],
        &[("DATABASE_URL", database), ("LISTEN_ADDR", "127.0.0.1:0")],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("JWT_HS256_SECRET"));
}

/// Asserts that the binary refused to start: exit status 2 and one line on stderr
/// naming `variable`; returns that line.
#[track_caller]
fn refusal(output: &Output, variable: &str) -> String {
    assert_eq!(output.status.code(), Some(2), "{variable}: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{variable}: {stderr}");
    assert!(lines[0].contains(variable), "{variable}: {stderr}");
    lines[0].to_owned()
}

#[test]
fn weak_token_settings_stop_start_up() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let database = dir.path().join("never.db");
    let database = database.to_str().expect("a UTF-8 path");
    let short = "s3cr3t-value-of-31-bytes-length";
    assert_eq!(short.len(), 31);
    let base = [("DATABASE_URL", database), ("LISTEN_ADDR", "127.0.0.1:0")];
    let jwks = ("JWT_JWKS_URL", "https://id.example.test/jwks.json");
    for (env, named) in [
        (vec![("JWT_HS256_SECRET", short)], "JWT_HS256_SECRET"),
        (vec![jwks], "JWT_ISSUER"),
        (vec![jwks, ("JWT_HS256_SECRET", JWT_SECRET)], "JWT_ISSUER"),
        (
            vec![jwks, ("JWT_ISSUER", "https://id.example.test/")],
            "JWT_AUDIENCE",
        ),
        (vec![jwks, ("JWT_AUDIENCE", "access-requests")], "JWT_ISSUER"),
    ] {
        let env = [&base[..], &env[..]].concat();
        let line = refusal(&run(&["serve"], &env), named);
        assert!(!line.contains(short), "a secret was printed: {line}");
    }
    assert!(
        !dir.path().join("never.db").exists(),
        "refused before opening the database"
    );

    // `token` holds its secret to the same rule, and mints nothing with a short one.
    let output = run(
        &["token", "--sub", "someone", "--email", "someone@acme.test"],
        &[("JWT_HS256_SECRET", short)],
    );
    let line = refusal(&output, "JWT_HS256_SECRET");
    assert!(!line.contains(short), "a secret was printed: {line}");
    assert!(output.stdout.is_empty(), "{output:?}");
}

/// `LISTEN_ADDR` may name a host; the start-up line gives the full Swagger UI URL, which works.
#[actix_web::test]
async fn start_up_says_where_swagger_ui_is() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let database = dir.path().join("swagger.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_access-requests"))
        .env_clear()
        .env("DATABASE_URL", &database)
        .env("LISTEN_ADDR", "localhost:0")
        .env("JWT_HS256_SECRET", JWT_SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    let url = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = received.recv_timeout(left) else {
            let _ = child.kill();
            panic!("no Swagger UI line in time:\n{}", seen.join("\n"));
        };
        if let Some((_, rest)) = line.split_once("Swagger UI at ") {
            break rest.split_whitespace().next().unwrap_or_default().to_owned();
        }
        seen.push(line);
    };
    let answer = reqwest::get(&url).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/swagger-ui/"),
        "{url}"
    );
    let answer = answer.unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(answer.status(), 200, "{url}");
}

/// A `DATABASE_URL` that names no known backend is refused at once (it used to become an
/// SQLite file called `postgres:/broken`); an unreachable server stops start-up within about
/// two seconds with one line, instead of ten seconds of pool errors.
#[test]
fn bad_database_urls_fail_fast_with_one_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let base = [("LISTEN_ADDR", "127.0.0.1:0"), ("JWT_HS256_SECRET", JWT_SECRET)];
    for url in ["postgres:/broken", "mysql://db.example/ar"] {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_access-requests"))
            .current_dir(dir.path())
            .env_clear()
            .envs(base)
            .env("DATABASE_URL", url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let status = child.wait().expect("it exits");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{url}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(2), "{url}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{url}: {stderr}");
        assert!(lines[0].contains("DATABASE_URL"), "{stderr}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no SQLite file was made"
    );

    // Nothing listens on port 1: refused, and said in one line within the start-up deadline.
    let started = Instant::now();
    let output = run(
        &["serve"],
        &[
            &base[..],
            &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")],
        ]
        .concat(),
    );
    let elapsed = started.elapsed();
    assert!(!output.status.success());
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("error"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("DATABASE_URL"), "{stderr}");
}
