//! `orders-server`: the example shop server, a host of `orders-axum` on
//! SQLite (default) or PostgreSQL. The binary is a thin `main` over this
//! library, so tests can start the same server in-process.
//!
//! ```sh
//! orders-server                                  # serve on 127.0.0.1:8080, sqlite://orders.db
//! orders-server serve --demo --bind 127.0.0.1:0  # seed a catalogue; print the bound address
//! orders-server create-superuser --email E --password P
//! orders-server --database-url postgres://postgres@127.0.0.1/shop migrate
//! ```
#![forbid(unsafe_code)]

pub mod account_store;
pub mod accounts;
pub mod auth_forms;
pub mod client;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod mail;
pub mod metrics;
pub mod password_reset;
pub mod payments;
pub mod sessions;
pub mod sign_in;
pub mod storefront;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use clap::{Parser, Subcommand};
use orders_axum::Api;
use orders_axum::serve::ServeOptions;
use orders_axum::web::Csrf;
use orders_core::Orders;
use orders_core::catalogue::ProductImage;
use orders_core::checkout::Email;
use orders_sqlx::{Backend, SqliteStore, Storage};
use tracing::info;
use utoipa::OpenApi as _;

use crate::accounts::Users;
use crate::config::Settings;

/// The example shop server of `orders`.
/// The command line.
#[derive(Debug, Parser)]
#[command(name = "orders-server", version, about)]
pub struct Cli {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://orders.db",
        global = true
    )]
    pub database_url: String,
    /// A TOML configuration file (currency, tax, shipping, limits, CORS).
    #[arg(long, env = "ORDERS_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// How log lines are written to stderr: `text` (colour only when
    /// stderr is a terminal) or `json` (one object a line, for log
    /// shippers).
    #[arg(
        long,
        env = "ORDERS_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, accepted with or without the subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Sign-in, registration and token settings (over the file's `[auth]`).
    #[command(flatten)]
    pub auth: config::AuthArgs,
    /// Where `/metrics` is answered, and to whom (over the file's `[metrics]`).
    #[command(flatten)]
    pub metrics: metrics::MetricsArgs,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colour only on a terminal.
    Text,
    /// One JSON object a line.
    Json,
}

/// Options of `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(
        long,
        env = "ORDERS_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,
    /// Seed the demo catalogue and discount code on start.
    #[arg(long, global = true)]
    pub demo: bool,
    /// The directory that keeps product pictures (the resized copies staff
    /// upload on the panel's product page), created when the first one is
    /// stored. Served at `/images/`.
    #[arg(
        long,
        env = "ORDERS_IMAGES_DIR",
        default_value = "orders-images",
        global = true
    )]
    pub images_dir: std::path::PathBuf,
    /// Seconds a request may take, body included, before it is answered
    /// 408 and its connection closed.
    #[arg(
        long,
        env = "ORDERS_REQUEST_TIMEOUT",
        default_value_t = 30.0,
        global = true,
        value_parser = parse_seconds
    )]
    pub request_timeout: f64,
    /// Seconds a new connection may stay silent before it is closed.
    #[arg(
        long,
        env = "ORDERS_FIRST_BYTE_TIMEOUT",
        default_value_t = 10.0,
        global = true,
        value_parser = parse_seconds
    )]
    pub first_byte_timeout: f64,
    /// Seconds a request head (request line and headers) may take from its
    /// first byte to its end before the connection is closed.
    #[arg(
        long,
        env = "ORDERS_HEADER_TIMEOUT",
        default_value_t = 10.0,
        global = true,
        value_parser = parse_seconds
    )]
    pub header_timeout: f64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(
        long,
        env = "ORDERS_IDLE_TIMEOUT",
        default_value_t = 60.0,
        global = true,
        value_parser = parse_seconds
    )]
    pub idle_timeout: f64,
    /// Most connections open at once (websockets included); beyond it new
    /// ones are closed at once. Default: the soft open-files limit less a
    /// quarter of it (at least 64, at most 1024) for everything else.
    #[arg(long, env = "ORDERS_MAX_CONNECTIONS", global = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Seconds a shutdown (SIGINT/SIGTERM) may take before the process
    /// exits anyway, whatever the clients do. Within it, requests finish
    /// and the webhook deliveries in flight are recorded.
    #[arg(
        long,
        env = "ORDERS_SHUTDOWN_TIMEOUT",
        default_value_t = 10.0,
        global = true,
        value_parser = parse_seconds
    )]
    pub shutdown_timeout: f64,
    /// The key (64 hex digits) that signs the pages' CSRF tokens and guests'
    /// order links (`/orders/{id}?token=`, `X-Order-Token`). Give every
    /// instance behind one address the same key; without one, each process
    /// makes a random key, forms served before a restart are refused once,
    /// and guests' order links stop working at a restart.
    #[arg(long, env = "ORDERS_SECRET_KEY", global = true, value_parser = parse_key, hide_env_values = true)]
    pub secret_key: Option<SecretKey>,
    /// Let webhooks target private, loopback and link-local addresses
    /// (development and tests); by default such a URL is refused when the
    /// webhook is created and when a delivery is made.
    #[arg(long, env = "ORDERS_ALLOW_PRIVATE_WEBHOOKS", global = true)]
    pub allow_private_webhooks: bool,
    /// Seconds a webhook delivery waits after its first failure; each
    /// further failure doubles the wait, up to `--webhook-max-retry`.
    #[arg(
        long,
        env = "ORDERS_WEBHOOK_FIRST_RETRY",
        default_value_t = 1.0,
        global = true,
        value_parser = parse_seconds
    )]
    pub webhook_first_retry: f64,
    /// The longest wait, in seconds, between two attempts of a delivery.
    #[arg(
        long,
        env = "ORDERS_WEBHOOK_MAX_RETRY",
        default_value_t = 3600.0,
        global = true,
        value_parser = parse_seconds
    )]
    pub webhook_max_retry: f64,
    /// Hours after its first attempt a failing delivery is retried before
    /// it is dead (staff can retry a dead one).
    #[arg(
        long,
        env = "ORDERS_WEBHOOK_DEAD_AFTER_HOURS",
        default_value_t = 72,
        global = true,
        value_parser = clap::value_parser!(u32).range(1..=8760)
    )]
    pub webhook_dead_after_hours: u32,
    /// The most webhook requests in flight to one webhook at once (in
    /// order per order all the same: a later event of an order waits for
    /// the earlier ones).
    #[arg(
        long,
        env = "ORDERS_WEBHOOK_MAX_IN_FLIGHT",
        default_value_t = orders_axum::webhooks::DEFAULT_MAX_IN_FLIGHT,
        global = true,
        value_parser = parse_in_flight
    )]
    pub webhook_max_in_flight: usize,
}

/// A per-webhook in-flight limit: 1 to 1024.
fn parse_in_flight(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from 1 to 1024, not {text:?}"
        )),
    }
}

impl ServeArgs {
    /// The connection limits these arguments set.
    pub fn serve_options(&self) -> ServeOptions {
        let seconds = std::time::Duration::from_secs_f64;
        let options = ServeOptions::default()
            .first_byte_timeout(seconds(self.first_byte_timeout))
            .header_timeout(seconds(self.header_timeout))
            .idle_timeout(seconds(self.idle_timeout))
            .shutdown_timeout(seconds(self.shutdown_timeout));
        match self.max_connections {
            Some(bound) => options.max_connections(bound as usize),
            None => options,
        }
    }

    /// The delivery worker's configuration these arguments set.
    pub fn webhook_worker(&self) -> orders_axum::webhooks::WorkerConfig {
        let millis = |seconds: f64| chrono::Duration::milliseconds((seconds * 1000.0) as i64);
        orders_axum::webhooks::WorkerConfig {
            policy: orders_core::webhook::RetryPolicy {
                first_delay: millis(self.webhook_first_retry),
                max_delay: millis(self.webhook_max_retry),
                give_up_after: chrono::Duration::hours(i64::from(self.webhook_dead_after_hours)),
            },
            allow_private: self.allow_private_webhooks,
            ..orders_axum::webhooks::WorkerConfig::default()
        }
    }
}

/// A 256-bit key given as 64 hex digits; its `Debug` hides it.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

fn parse_key(text: &str) -> Result<SecretKey, String> {
    let text = text.trim();
    let mut key = [0_u8; 32];
    let valid = text.len() == 64
        && text.is_ascii()
        && key.iter_mut().enumerate().all(|(i, byte)| {
            u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map(|b| *byte = b)
                .is_ok()
        });
    if valid {
        Ok(SecretKey(key))
    } else {
        Err("must be 64 hex digits (32 random bytes, e.g. `openssl rand -hex 32`)".into())
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve (the default).
    Serve,
    /// Migrate the database and exit.
    Migrate,
    /// Create a staff account, or promote an existing one.
    CreateSuperuser {
        /// The account's email (prompted for on a terminal).
        #[arg(long)]
        email: Option<String>,
        /// Its password, at least 8 characters (prompted for on a terminal).
        #[arg(long)]
        password: Option<String>,
    },
    /// Add the demo catalogue and discount code.
    SeedDemo,
}

/// Runs the command `cli` names.
///
/// # Errors
/// A message for the operator.
pub async fn run(cli: Cli) -> Result<(), String> {
    let mut settings = config::load_with(cli.config.as_deref(), &cli.auth)?;
    settings.metrics.apply(&cli.metrics)?;
    // The provider is set up before anything else: a bad key stops the
    // server at once, with a message naming it.
    let gateway = settings.payments.gateway()?;
    let (storage, users) = open(&cli.database_url).await?;
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&storage, users, settings, gateway, cli.serve).await,
        Command::Migrate => {
            info!("database migrated");
            Ok(())
        }
        Command::CreateSuperuser { email, password } => {
            create_superuser(&users, email, password).await
        }
        Command::SeedDemo => {
            let orders = engine(&storage, &settings, gateway);
            let added = demo::seed(&orders).await.map_err(|e| e.to_string())?;
            info!(added, "demo catalogue seeded");
            Ok(())
        }
    };
    storage.close().await;
    result
}

/// Opens and migrates the database, orders and users alike.
///
/// # Errors
/// A message naming what failed (never the URL's password).
pub async fn open(url: &str) -> Result<(Storage, Users), String> {
    let redact = |e: &dyn std::fmt::Display| format!("cannot open the database: {e}");
    let (storage, users) = match Backend::of_url(url).map_err(|e| redact(&e))? {
        Backend::Sqlite => {
            let store = Arc::new(SqliteStore::connect(url).await.map_err(|e| redact(&e))?);
            let users = Users::Sqlite(store.pool().clone());
            (Storage::sqlite(store), users)
        }
        Backend::Postgres => {
            let store = Arc::new(
                orders_sqlx::PgStore::connect(url)
                    .await
                    .map_err(|e| redact(&e))?,
            );
            let users = Users::Postgres(store.pool().clone());
            let notifier = store.notifier().await.map_err(|e| redact(&e))?;
            (Storage::postgres(store, notifier), users)
        }
    };
    storage
        .migrate()
        .await
        .map_err(|e| format!("cannot migrate the database: {e}"))?;
    users
        .migrate()
        .await
        .map_err(|e| format!("cannot migrate the users: {e}"))?;
    Ok((storage, users))
}

fn engine(
    storage: &Storage,
    settings: &Settings,
    gateway: Arc<dyn orders_core::ports::PaymentGateway>,
) -> Orders {
    storage
        .engine()
        .config(settings.orders.clone())
        .payments(gateway)
        .build()
}

async fn serve(
    storage: &Storage,
    users: Users,
    settings: Settings,
    gateway: Arc<dyn orders_core::ports::PaymentGateway>,
    args: ServeArgs,
) -> Result<(), String> {
    let orders = engine(storage, &settings, gateway);
    if args.demo {
        let added = demo::seed(&orders).await.map_err(|e| e.to_string())?;
        info!(added, "demo catalogue seeded");
    }
    let sessions = sign_in::Sessions::with_lifetime(users.clone(), settings.auth.token_lifetime);
    let host = sign_in::Host::with_settings(users.clone(), &sessions, &settings.auth);
    let _sweeper = host.sweep_every(std::time::Duration::from_secs(3600));
    // One CSRF key for both surfaces (they share the browser's CSRF cookie).
    let csrf = match &args.secret_key {
        Some(SecretKey(key)) => Csrf::new(*key),
        None => Csrf::random(),
    };
    // Guest order tokens are signed with the same key (its HMAC input is
    // labelled, so it never collides with a CSRF token); without one, a
    // random key: guests' order links stop working at a restart.
    let order_tokens = match &args.secret_key {
        Some(SecretKey(key)) => {
            orders_core::guest::OrderTokens::new(key).map_err(|e| e.to_string())?
        }
        None => orders_core::guest::OrderTokens::random(),
    };
    let meters = metrics::registry(storage);
    // Password reset mails go straight to the SMTP server (once, not
    // through the order mails' outbox), with links to the shop's address.
    let reset_mailer = match &settings.mail {
        Some(mail) => Some(Arc::new(mail.mailer()?) as Arc<dyn orders_core::ports::Mailer>),
        None => None,
    };
    let links = password_reset::Links::new(settings.mail.as_ref().and_then(|m| m.shop_url.clone()));
    let accounts =
        password_reset::Accounts::new(users.clone(), &sessions, reset_mailer, links.clone());
    let shop = storefront::Storefront::new(orders.clone(), sessions.clone(), host.clone())
        .accounts(accounts)
        .csrf(csrf.clone())
        .metrics(&meters)
        .stripe(settings.payments.stripe())
        .order_tokens(order_tokens.clone());
    let api = Api::new(orders.clone(), sessions.clone())
        .order_tokens(order_tokens.clone())
        .metrics(&meters)
        .mount_path("/api")
        .body_limit(settings.body_limit)
        .request_timeout(std::time::Duration::from_secs_f64(args.request_timeout))
        .revocations(host.revocations())
        .routes(host.clone().routes())
        .merge_openapi(sign_in::AuthDoc::openapi())
        .form_bodies(sign_in::FORM_BODIES)
        .webhooks(storage.outbox(), args.allow_private_webhooks);
    // Webhook deliveries, beside the server, until it stops.
    let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
    let stop_worker = Arc::new(stop_worker);
    let worker = orders_axum::webhooks::DeliveryWorker::new(
        storage.outbox(),
        Arc::new(orders_core::ports::SystemClock),
        args.webhook_worker(),
    )
    .max_in_flight(args.webhook_max_in_flight)
    .metrics(&meters);
    // Expired 3-D Secure holds released, beside the server, until it stops.
    let sweeper = tokio::spawn(payments::sweep_every(
        orders.clone(),
        settings.payments.sweep_interval,
        worker_stop.clone(),
    ));
    let worker = tokio::spawn(worker.run(worker_stop.clone()));
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.bind))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    links.listening_on(format!("http://{address}"));
    // Customer emails, when `[mail]` is configured, until it stops; each
    // links to its order's page (a guest's with the order's token), under
    // `[mail] shop_url` when set, else the address the server listens on.
    let shop_base = settings
        .mail
        .as_ref()
        .and_then(|mail| mail.shop_url.as_deref())
        .map_or_else(
            || format!("http://{address}"),
            |url| url.trim_end_matches('/').to_owned(),
        );
    let mailer = mail::MailTask::start(
        storage,
        settings.mail.as_ref(),
        args.webhook_worker().policy,
        &meters,
        storefront::order_link(order_tokens, shop_base),
        worker_stop.clone(),
    )?;
    // Product pictures: uploaded on the panel, served at `/images/`.
    let images: Arc<dyn orders_core::ports::ImageStore> =
        Arc::new(orders_axum::images::FsImages::new(&args.images_dir));
    let admin = orders_axum::admin::Admin::new(orders, sessions, host.clone())
        .csrf(csrf)
        .api(&api)
        .mount_path(ADMIN_PATH)
        .images(images.clone());
    // The email page when the mailer runs.
    let admin = if mailer.is_some() {
        admin.mails(storage.mailbox())
    } else {
        admin
    };
    let shutdown = api.shutdown_handle();
    // The pages' requests are recorded as the API's are (by route template).
    let mut app = api
        .nest_into(Router::new())
        .nest_service(ADMIN_PATH, admin.router().layer(meters.layer()))
        .merge(shop.router().layer(meters.layer()))
        .nest(
            ProductImage::URL_PREFIX.trim_end_matches('/'),
            orders_axum::images::router(images).layer(meters.layer()),
        );
    if settings.metrics.bind.is_none() {
        app = metrics::route(app, &meters, &settings.metrics);
    }
    if !settings.cors_origins.is_empty() {
        app = app.layer(cors(&settings.cors_origins)?);
    }
    // The client's address (from a trusted proxy's header) for everything.
    app = app.layer(axum::middleware::from_fn_with_state(
        settings.auth.client_address(),
        client::resolve,
    ));

    let apart = match &settings.metrics.bind {
        Some(bind) => {
            let clients = settings.auth.client_address();
            let (at, task) =
                metrics::serve_apart(bind, &meters, &settings.metrics, clients).await?;
            println!("metrics on http://{at}/metrics");
            Some(task)
        }
        None => None,
    };
    let options = args.serve_options().shutdown_handle(shutdown);
    info!(
        %address,
        backend = ?storage.backend(),
        max_connections = options.connection_bound(),
        payments = if settings.payments.stripe().is_some() { "stripe" } else { "test" },
        "serving"
    );
    println!("listening on http://{address}");
    let _ = std::io::stdout().flush();
    // The signal stops the webhook and mail workers at once, so their
    // requests in flight finish and are recorded while the connections
    // drain, all within --shutdown-timeout of the signal.
    let signalled = Arc::new(std::sync::OnceLock::new());
    let signal = {
        let (stop_worker, signalled) = (stop_worker.clone(), signalled.clone());
        async move {
            shutdown_signal().await;
            let _ = signalled.set(tokio::time::Instant::now());
            let _ = stop_worker.send(true);
        }
    };
    let stopped = orders_axum::serve::serve(listener, app, options, signal).await;
    if let Some(task) = apart {
        task.abort();
    }
    let _ = stop_worker.send(true);
    let deadline = signalled
        .get()
        .copied()
        .unwrap_or_else(tokio::time::Instant::now)
        + std::time::Duration::from_secs_f64(args.shutdown_timeout);
    if tokio::time::timeout_at(deadline, worker).await.is_err() {
        tracing::warn!("webhook deliveries still in flight at the shutdown deadline");
    }
    let _ = sweeper.await;
    if let Some(mailer) = mailer
        && !mailer.finish_by(deadline).await
    {
        tracing::warn!("mails still being sent at the shutdown deadline");
    }
    info!(dropped = stopped.dropped, "stopped");
    Ok(())
}

/// Where the staff panel is nested.
const ADMIN_PATH: &str = "/admin";

fn cors(origins: &[String]) -> Result<tower_http::cors::CorsLayer, String> {
    use axum::http::{HeaderValue, Method, header};
    let origins = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o).map_err(|_| format!("cors_origins: invalid origin {o:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            "idempotency-key".parse().map_err(|_| "header")?,
        ]))
}

/// A positive number of seconds, at most a day.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 86_400.0 => Ok(seconds),
        _ => Err(format!(
            "{text:?} is not a number of seconds between 0 and 86400"
        )),
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

async fn create_superuser(
    users: &Users,
    email: Option<String>,
    password: Option<String>,
) -> Result<(), String> {
    let terminal = std::io::stdin().is_terminal();
    let email = match email {
        Some(email) => email,
        None if terminal => prompt("Email: ")?,
        None => return Err("--email is required (no terminal to ask on)".into()),
    };
    let email = Email::parse(&email).map_err(|e| format!("email: {e}"))?;
    let password = match password {
        Some(password) => password,
        None if terminal => rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?,
        None => return Err("--password is required (no terminal to ask on)".into()),
    };
    sign_in::check_password(&password).map_err(|e| format!("password: {e}"))?;
    let hash = credentials::hash_password(&password)?;
    let (user, created) = users
        .upsert_staff(&email, &hash)
        .await
        .map_err(|e| e.to_string())?;
    if created {
        println!("created staff account {}", user.email);
    } else {
        println!("promoted {} to staff", user.email);
    }
    Ok(())
}

fn prompt(label: &str) -> Result<String, String> {
    print!("{label}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(line.trim().to_owned())
}
