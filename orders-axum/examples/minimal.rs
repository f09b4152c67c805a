//! The smallest host: a fresh axum app with its own users (API keys, sent
//! as bearer tokens) and its own routes, the shop's JSON API at
//! `/shop/api` on a SQLite file, served until Ctrl-C with a graceful
//! shutdown that closes the order-tracking websockets.
//!
//! ```sh
//! cargo run -p orders-axum --features serve --example minimal
//! curl -s -H 'authorization: Bearer key-of-ada' localhost:8080/shop/api/orders
//! ```
//!
//! The lines between `glue:start` and `glue:end` are the ones the host
//! writes because of these crates (`use` lines aside); the README counts
//! them, and `orders-axum/tests/examples.rs` checks the count.

use std::collections::HashMap;
use std::future::Future;

use axum::Router;
use axum::routing::get;
use orders_axum::serve::{ServeOptions, serve};
use orders_axum::{Api, Caller, Identify, IdentifyError};
use orders_sqlx::Storage;
use tokio::net::TcpListener;

/// The host's error type.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One of the host's users.
pub struct User {
    /// The host's id of the user.
    pub id: u64,
    /// Their email address.
    pub email: String,
}

/// The host's users, by API key.
pub struct Users(pub HashMap<String, User>);

impl Users {
    /// Ada (key `key-of-ada`) and Bob (key `key-of-bob`).
    pub fn demo() -> Self {
        let user = |id, email: &str| User {
            id,
            email: email.to_owned(),
        };
        Self(HashMap::from([
            ("key-of-ada".to_owned(), user(1, "ada@example.com")),
            ("key-of-bob".to_owned(), user(2, "bob@example.com")),
        ]))
    }
}

/// The host's own routes.
pub fn host_routes() -> Router {
    Router::new().route("/", get(|| async { "the host's home page" }))
}

// glue:start
#[orders_axum::async_trait]
impl Identify for Users {
    async fn identify(&self, key: &str) -> Result<Option<Caller>, IdentifyError> {
        let user = self.0.get(key);
        user.map(|u| Caller::new(u.id, &u.email, false)).transpose()
    }
}
// glue:end

/// Serves the host's routes and the shop on `listener`, the shop's data in
/// the SQLite database `url` (created and migrated if needed),
/// until `shutdown` resolves.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn run(
    listener: TcpListener,
    url: &str,
    users: Users,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // glue:start
    // The demo shop's prices and a test gateway: a real shop's go here.
    let orders = Storage::open_migrated(url).await?.engine().demo().build();
    let api = Api::new(orders, users).mount_path("/shop/api");
    let options = ServeOptions::default().shutdown_handle(api.shutdown_handle());
    let app = api.nest_into(host_routes());
    serve(listener, app, options, shutdown).await;
    // glue:end
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:8080").await?;
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    run(listener, "sqlite://shop.db", Users::demo(), ctrl_c).await
}
