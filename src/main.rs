//! The `access-requests` binary: `serve` (default), `migrate`, `openapi`, `token`.

use std::process::ExitCode;

use access_requests::auth::{mint_hs256, TokenClaims};
use access_requests::config::{self, Settings};
use access_requests::{openapi, store, telemetry, Application};
use clap::{Parser, Subcommand};

/// mimalloc: the request path allocates many small, short-lived strings (rows, JSON), which
/// it serves with less CPU than glibc's allocator, and it hands freed memory back sooner.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "access-requests",
    version,
    about = "Access requests: ask for a product on a site; admins approve or deny."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Mint an HS256 token with JWT_HS256_SECRET, for local use and Swagger UI.
    Token {
        /// The account id (`sub`).
        #[arg(long)]
        sub: String,
        /// The email claim.
        #[arg(long)]
        email: String,
        /// The display name (`name`).
        #[arg(long)]
        name: Option<String>,
        /// Mark the email as not verified.
        #[arg(long)]
        unverified: bool,
        /// Lifetime in seconds; the service refuses tokens living longer than JWT_MAX_TTL_SECS (default 86400).
        #[arg(long, default_value_t = 3600)]
        ttl_secs: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", openapi::document_json());
            ExitCode::SUCCESS
        }
        Command::Token {
            sub,
            email,
            name,
            unverified,
            ttl_secs,
        } => token(sub, email, name, unverified, ttl_secs),
        Command::Migrate => with_settings(|settings| {
            telemetry::init(settings.log_format);
            store::Db::connect(&settings.database_url, settings.database_pool_size)?;
            tracing::info!("migrations are up to date");
            Ok(())
        }),
        Command::Serve => with_settings(|settings| {
            telemetry::init(settings.log_format);
            actix_web::rt::System::new().block_on(serve(settings))
        }),
    }
}

fn with_settings(run: impl FnOnce(Settings) -> anyhow::Result<()>) -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let backend = if settings.uses_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let database = store::redact_url(&settings.database_url);
    let app = Application::build(settings).await?;
    let mut shown = app.local_addr();
    if shown.ip().is_unspecified() {
        // Listening on every interface: the loopback is one of them, and a browser can open it.
        shown.set_ip(if shown.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    tracing::info!(
        address = %app.local_addr(),
        %backend,
        %database,
        "serving; Swagger UI at http://{shown}/swagger-ui/"
    );
    app.run_until_stopped().await?;
    Ok(())
}

fn token(sub: String, email: String, name: Option<String>, unverified: bool, ttl_secs: i64) -> ExitCode {
    let Some(raw) = std::env::var("JWT_HS256_SECRET").ok().filter(|s| !s.is_empty()) else {
        eprintln!("invalid configuration: JWT_HS256_SECRET: required to mint a token");
        return ExitCode::from(2);
    };
    // The service does not start with a shorter secret, so its tokens would verify nowhere.
    let secret = match config::hs256_secret(&raw) {
        Ok(secret) => secret,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    if access_requests::domain::AccountId::parse(&sub).is_err() {
        eprintln!("--sub: {}", access_requests::domain::AccountId::RULE);
        return ExitCode::from(2);
    }
    let now = chrono::Utc::now().timestamp();
    let claims = TokenClaims {
        sub,
        email: Some(email),
        email_verified: Some(!unverified),
        name,
        exp: now + ttl_secs.max(1),
        iat: Some(now),
        nbf: None,
        iss: std::env::var("JWT_ISSUER").ok().filter(|s| !s.is_empty()),
        aud: std::env::var("JWT_AUDIENCE")
            .ok()
            .filter(|s| !s.is_empty())
            .map(access_requests::auth::Audience::One),
    };
    println!("{}", mint_hs256(secret.expose(), &claims));
    ExitCode::SUCCESS
}
