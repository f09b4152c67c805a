//! An axum host sharing its PostgreSQL database with the orders store.
//!
//! The host has its own sqlx migrations (`shared_postgres/migrations`, next
//! to this file: a `products` table of its own and its users' API keys) and
//! its own pool, which it hands to the store; the store's tables are named
//! `orders_…` and its migration history is `_orders_migrations`, so the two
//! never meet. The JSON API is nested at `/shop/api` beside the host's own
//! `/products`, callers are the host's users (an `Identify` over its own
//! `api_keys` table), and Ctrl-C shuts down gracefully, closing the tracking
//! websockets.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1/shop \
//!     cargo run -p orders-axum --example shared_postgres
//! ```
//!
//! The lines between the `glue:start` and `glue:end` marks are those the
//! host writes for orders; the rest is the host's own.

use std::future::Future;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use orders_axum::{Api, Caller, Identify, IdentifyError};
use orders_core::ids::CustomerId;
use orders_sqlx::Storage;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

/// The host's own migrations. (A host usually embeds them at compile time
/// with `sqlx::migrate!`; this example reads the folder at run time so
/// that it builds without sqlx's macros.)
const MIGRATIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/shared_postgres/migrations"
);

/// The host's own routes: its catalogue, from its own `products` table.
async fn host_products(State(db): State<PgPool>) -> Result<Json<Vec<String>>, String> {
    sqlx::query_scalar("SELECT title FROM products ORDER BY id")
        .fetch_all(&db)
        .await
        .map(Json)
        .map_err(|e| e.to_string())
}

// glue:start
/// The host's users, by the API key they send as a bearer token.
struct ApiKeys(PgPool);

#[orders_axum::async_trait]
impl Identify for ApiKeys {
    async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
        let user: Option<(String, String, bool)> =
            sqlx::query_as("SELECT user_id, email, is_staff FROM api_keys WHERE key = $1")
                .bind(token)
                .fetch_optional(&self.0)
                .await
                .map_err(|_| IdentifyError::Unavailable)?;
        Ok(user.and_then(|(id, email, is_staff)| {
            let id = CustomerId::parse(&id).ok()?;
            Some(Caller {
                id,
                email,
                is_staff,
            })
        }))
    }
}
// glue:end

/// The host's app on its database: its migrations, its routes and the
/// orders API nested beside them. Returns the router and what closes the
/// API's websockets at shutdown.
pub(crate) async fn app(
    db: PgPool,
) -> Result<(Router, orders_axum::ShutdownHandle), Box<dyn std::error::Error>> {
    Migrator::new(std::path::Path::new(MIGRATIONS))
        .await?
        .run(&db)
        .await?;
    let host = Router::new()
        .route("/products", get(host_products))
        .with_state(db.clone());
    // glue:start
    let storage = Storage::from_pool(db.clone()).await?;
    storage.migrate().await?;
    // The demo shop's tax, shipping and a gateway that charges nobody: a
    // real shop's configuration and payment provider go here.
    let orders = storage.engine().demo().build();
    let api = Api::new(orders, ApiKeys(db)).mount_path("/shop/api");
    let shutdown = api.shutdown_handle();
    let router = api.nest_into(host);
    // glue:end
    Ok((router, shutdown))
}

/// Serves the app on `listener` until `stop` completes, then shuts down
/// gracefully.
pub(crate) async fn serve(
    listener: TcpListener,
    db: PgPool,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error>> {
    let (router, shutdown) = app(db).await?;
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            stop.await;
            // glue:start
            shutdown.shutdown(); // open websockets close with 1001
            // glue:end
        })
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = PgPool::connect(&url).await?;
    let listener = TcpListener::bind("127.0.0.1:8080").await?;
    println!("serving on http://{}", listener.local_addr()?);
    serve(listener, db, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
