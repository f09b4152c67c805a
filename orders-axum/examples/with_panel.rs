//! `minimal.rs` with the staff panel: the host's users sign in with a
//! password and get a session token, staff may use the panel at
//! `/shop/admin/`, everyone the JSON API at `/shop/api`.
//!
//! ```sh
//! cargo run -p orders-axum --features admin,serve --example with_panel
//! # then open http://127.0.0.1:8080/shop/admin/ as staff@example.com / staff password
//! ```
//!
//! The lines between `glue:start` and `glue:end` are the ones the host
//! writes because of these crates (`use` lines aside); the README counts
//! them, and `orders-axum/tests/examples.rs` checks the count.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::get;
use orders_axum::admin::Admin;
use orders_axum::serve::{ServeOptions, serve};
use orders_axum::web::{SignIn, SignInResult};
use orders_axum::{Api, Caller, Identify, IdentifyError};
use orders_sqlx::Storage;
use tokio::net::TcpListener;

/// The host's error type.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One of the host's accounts.
#[derive(Debug, Clone)]
pub struct Account {
    /// The host's id of the account.
    pub id: u64,
    /// The email address it signs in with.
    pub email: String,
    /// Its password (a real host stores a hash).
    pub password: String,
    /// Whether it may use the staff panel.
    pub staff: bool,
}

/// The host's accounts and their open sessions (a real host keeps both
/// in its database).
#[derive(Clone, Default)]
pub struct Users {
    accounts: Arc<Vec<Account>>,
    sessions: Arc<Mutex<HashMap<String, Account>>>,
}

impl Users {
    /// Ada, a customer (`ada@example.com`, `ada password`), and a staff
    /// member (`staff@example.com`, `staff password`).
    pub fn demo() -> Self {
        let account = |id, name: &str, staff| Account {
            id,
            email: format!("{name}@example.com"),
            password: format!("{name} password"),
            staff,
        };
        Self {
            accounts: Arc::new(vec![account(1, "ada", false), account(2, "staff", true)]),
            sessions: Arc::default(),
        }
    }

    /// A new session's token when the password matches.
    ///
    /// # Errors
    /// When the session table cannot be read (as a database can fail).
    pub fn login(&self, email: &str, password: &str) -> Result<Option<String>, Error> {
        let Some(account) = self
            .accounts
            .iter()
            .find(|a| a.email == email && a.password == password)
        else {
            return Ok(None);
        };
        // Random enough for an example; a real host uses a CSPRNG.
        let token = format!("{:016x}", RandomState::new().hash_one(email));
        self.sessions()?.insert(token.clone(), account.clone());
        Ok(Some(token))
    }

    /// The account of an open session.
    ///
    /// # Errors
    /// When the session table cannot be read.
    pub fn session(&self, token: &str) -> Result<Option<Account>, Error> {
        Ok(self.sessions()?.get(token).cloned())
    }

    /// Ends a session.
    ///
    /// # Errors
    /// When the session table cannot be read.
    pub fn logout(&self, token: &str) -> Result<(), Error> {
        self.sessions()?.remove(token);
        Ok(())
    }

    fn sessions(&self) -> Result<MutexGuard<'_, HashMap<String, Account>>, Error> {
        self.sessions
            .lock()
            .map_err(|_| "a session write panicked".into())
    }
}

/// The host's own routes.
pub fn host_routes() -> Router {
    Router::new().route("/", get(|| async { "the host's home page" }))
}

// glue:start
#[orders_axum::async_trait]
impl Identify for Users {
    async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
        let a = self.session(token)?; // the account of the session, if any
        a.map(|a| Caller::new(a.id, a.email, a.staff)).transpose()
    }
}

#[orders_axum::async_trait]
impl SignIn for Users {
    async fn sign_in(&self, email: &str, password: &str, _: Option<IpAddr>) -> SignInResult {
        Ok(self.login(email, password)?.into())
    }
    async fn sign_out(&self, token: &str) -> Result<(), IdentifyError> {
        Ok(self.logout(token)?)
    }
}
// glue:end

/// Serves the host's routes, the shop's API and the staff panel on
/// `listener`, the shop's data in the SQLite database `url`,
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
    let api = Api::new(orders, users.clone()).mount_path("/shop/api");
    let admin = Admin::for_api(&api, users).mount_path("/shop/admin");
    let options = ServeOptions::default().shutdown_handle(api.shutdown_handle());
    let app = admin.nest_into(api.nest_into(host_routes()));
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
