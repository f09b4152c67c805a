//! A host whose router carries its own state: a `Router<AppState>`, its
//! routes reading `State<AppState>`, the state given last with
//! `with_state`. The shop's API nests into it like into any router (its
//! own state is already applied), and the host's users live in the
//! host's state, shared with the API's `Identify`.
//!
//! ```sh
//! cargo run -p orders-axum --features serve --example stateful_host
//! curl -s localhost:8080/                 # the host's route, from its state
//! curl -s localhost:8080/shop/api/products # the shop's
//! ```
//!
//! The lines between `glue:start` and `glue:end` are the ones the host
//! writes because of these crates (`use` lines aside); the README counts
//! them, and `orders-axum/tests/examples.rs` checks the count.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
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

/// What the host's handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The shop's name, which the home page shows.
    pub shop_name: Arc<str>,
    /// The host's users.
    pub users: Arc<Users>,
}

impl AppState {
    /// "Tea & Co", with Ada (API key `key-of-ada`).
    pub fn demo() -> Self {
        let ada = User {
            id: 1,
            email: "ada@example.com".to_owned(),
        };
        Self {
            shop_name: Arc::from("Tea & Co"),
            users: Arc::new(Users(HashMap::from([("key-of-ada".to_owned(), ada)]))),
        }
    }
}

/// The host's own routes, on its own state.
pub fn host_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/users/count", get(user_count))
}

async fn home(State(state): State<AppState>) -> String {
    format!("Welcome to {}", state.shop_name)
}

async fn user_count(State(state): State<AppState>) -> String {
    state.users.0.len().to_string()
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

/// Serves the host's stateful routes and the shop on `listener`, the
/// shop's data in the SQLite database `url`, until `shutdown` resolves.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn run(
    listener: TcpListener,
    url: &str,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // glue:start
    // The demo shop's prices and a test gateway: a real shop's go here.
    let orders = Storage::open_migrated(url).await?.engine().demo().build();
    let api = Api::new(orders, state.users.clone()).mount_path("/shop/api");
    let options = ServeOptions::default().shutdown_handle(api.shutdown_handle());
    let app = api.nest_into(host_routes()).with_state(state);
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
    run(listener, "sqlite://shop.db", AppState::demo(), ctrl_c).await
}
