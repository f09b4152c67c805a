//! # orders-sqlx
//!
//! `orders-core`'s storage and notifier ports on sqlx: the same engine runs
//! embedded on one SQLite file (feature `sqlite`, the default) or on a
//! PostgreSQL server shared by many stateless instances (feature
//! `postgres`).
//!
//! [`Storage::open`] takes a URL (`sqlite://orders.db`, `sqlite::memory:`,
//! `postgres://user@host/db`), [`Storage::migrate`] runs the backend's
//! embedded migrations, and [`Storage::engine`] starts an
//! [`orders_core::Orders`] builder wired to the store and its notifier:
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//!
//! use orders_core::OrdersConfig;
//! use orders_core::ports::TestGateway;
//! use orders_sqlx::Storage;
//!
//! let storage = Storage::open("sqlite::memory:").await.unwrap();
//! storage.migrate().await.unwrap();
//! let orders = storage
//!     .engine()
//!     .config(OrdersConfig::demo()) // the demo shop's currencies, tax and shipping
//!     .payments(Arc::new(TestGateway::new())) // charges nobody: a real shop's provider goes here
//!     .build();
//! orders.health().await.unwrap();
//! # });
//! ```
//!
//! A host shares its own database with the store: [`Storage::from_pool`]
//! takes the host's sqlx pool, and the store's tables, indexes,
//! constraints, sequences and functions are all named `orders_…`
//! ([`TABLE_PREFIX`]) with their migrations recorded in [`HISTORY_TABLE`],
//! beside the host's own.
//!
//! Each backend's module explains its concurrency choices:
//! [`SqliteStore`] (one writer, `BEGIN IMMEDIATE`, WAL) and `PgStore`
//! (`READ COMMITTED` with conditional updates, `LISTEN/NOTIFY` fan-out).
//!
//! ## Cargo features
//!
//! At least one backend must be on.
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `sqlite` | yes | `SqliteStore`: the embedded store on one file (SQLite is compiled in; nothing to install) |
//! | `postgres` | no | `PgStore` and `PgNotifier`: the PostgreSQL store, with `LISTEN/NOTIFY` across instances |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("orders-sqlx needs the `sqlite` or the `postgres` feature");

mod aftersale;
mod codec;
mod error;
mod lease;
mod mails;
mod migrations;
mod outbox;
mod pools;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;
mod statements;
mod stored;

use std::sync::Arc;

use orders_core::OrdersBuilder;
use orders_core::ports::{Notifier, Store};

pub use error::OpenError;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use migrations::{HISTORY_TABLE, TABLE_PREFIX, embedded_migrator};
pub use pools::{PoolStats, WriteBatches};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{
    ANNOUNCE_GAP, DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, LISTENER_APPLICATION_NAME,
    LISTENER_SWEEP, PgNotifier, PgStore, RELEASE_CLAIM_WAIT,
};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

/// Which database a [`Storage`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one file, one process.
    Sqlite,
    /// PostgreSQL: one server, any number of processes.
    Postgres,
}

impl Backend {
    /// The backend a URL names, by its scheme.
    ///
    /// # Errors
    /// [`OpenError::UnsupportedUrl`] for any other scheme.
    pub fn of_url(url: &str) -> Result<Self, OpenError> {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(OpenError::UnsupportedUrl(redact(url))),
        }
    }
}

/// A URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let credentials = &url[start + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..start + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A host's own sqlx pool, for [`Storage::from_pool`]: made with `.into()`
/// from a `SqlitePool` or a `PgPool`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum HostPool {
    /// A SQLite pool.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    Sqlite(sqlx::SqlitePool),
    /// A PostgreSQL pool.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    Postgres(sqlx::PgPool),
}

#[cfg(feature = "sqlite")]
impl From<sqlx::SqlitePool> for HostPool {
    fn from(pool: sqlx::SqlitePool) -> Self {
        Self::Sqlite(pool)
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgPool> for HostPool {
    fn from(pool: sqlx::PgPool) -> Self {
        Self::Postgres(pool)
    }
}

#[derive(Debug, Clone)]
enum Inner {
    #[cfg(feature = "sqlite")]
    Sqlite(Arc<SqliteStore>),
    #[cfg(feature = "postgres")]
    Postgres(Arc<PgStore>),
}

/// An opened store and its notifier: what an engine needs from a database.
#[derive(Clone)]
pub struct Storage {
    inner: Inner,
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens the database `url` names: `sqlite://PATH` (the file is created
    /// if missing), `sqlite::memory:`, or `postgres://…`. On PostgreSQL this
    /// also starts the process's listener, so it needs a Tokio runtime.
    /// Does not migrate: call [`Storage::migrate`].
    ///
    /// # Errors
    /// [`OpenError::UnsupportedUrl`], [`OpenError::FeatureDisabled`],
    /// [`OpenError::Connect`].
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        match Backend::of_url(url)? {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => Ok(Self::sqlite(Arc::new(SqliteStore::connect(url).await?))),
            #[cfg(not(feature = "sqlite"))]
            Backend::Sqlite => Err(OpenError::FeatureDisabled("sqlite")),
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let store = Arc::new(PgStore::connect(url).await?);
                let notifier = store.notifier().await?;
                Ok(Self::postgres(store, notifier))
            }
            #[cfg(not(feature = "postgres"))]
            Backend::Postgres => Err(OpenError::FeatureDisabled("postgres")),
        }
    }

    /// Opens the store on a host's own sqlx pool, so the host's tables and
    /// the store's share one database (the store's are named `orders_…`,
    /// [`TABLE_PREFIX`], and its migration history is [`HISTORY_TABLE`]). On
    /// PostgreSQL the store runs on the pool (`PgStore::from_pool`) and
    /// also starts the process's listener, so it needs a Tokio runtime; on
    /// SQLite it opens its own writer and readers with the pool's connect
    /// options (`SqliteStore::from_pool` says why and what it checks).
    /// Does not migrate: call [`Storage::migrate`].
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use orders_sqlx::Storage;
    ///
    /// let host = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    /// sqlx::query("CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT UNIQUE)")
    ///     .execute(&host)
    ///     .await
    ///     .unwrap();
    /// let storage = Storage::from_pool(host.clone()).await.unwrap();
    /// storage.migrate().await.unwrap(); // beside the host's own `products`
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`OpenError::HostPool`] for a SQLite pool the store cannot share,
    /// [`OpenError::Connect`].
    pub async fn from_pool(pool: impl Into<HostPool>) -> Result<Self, OpenError> {
        match pool.into() {
            #[cfg(feature = "sqlite")]
            HostPool::Sqlite(pool) => {
                Ok(Self::sqlite(Arc::new(SqliteStore::from_pool(&pool).await?)))
            }
            #[cfg(feature = "postgres")]
            HostPool::Postgres(pool) => {
                let store = Arc::new(PgStore::from_pool(pool));
                let notifier = store.notifier().await?;
                Ok(Self::postgres(store, notifier))
            }
        }
    }

    /// A storage over an opened SQLite store, with its in-process notifier.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn sqlite(store: Arc<SqliteStore>) -> Self {
        let notifier = Arc::new(store.notifier());
        Self {
            inner: Inner::Sqlite(store.clone()),
            store,
            notifier,
        }
    }

    /// A storage over an opened PostgreSQL store and its notifier.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn postgres(store: Arc<PgStore>, notifier: PgNotifier) -> Self {
        Self {
            inner: Inner::Postgres(store.clone()),
            store,
            notifier: Arc::new(notifier),
        }
    }

    /// Runs the backend's embedded migrations; running them again is a
    /// no-op.
    ///
    /// # Errors
    /// [`OpenError::Migrate`].
    pub async fn migrate(&self) -> Result<(), OpenError> {
        match &self.inner {
            #[cfg(feature = "sqlite")]
            Inner::Sqlite(store) => store.migrate().await,
            #[cfg(feature = "postgres")]
            Inner::Postgres(store) => store.migrate().await,
        }
    }

    /// [`open`](Self::open) and [`migrate`](Self::migrate) in one call:
    /// a store ready for [`engine`](Self::engine), which is what a host
    /// starting on its own database wants.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let storage = orders_sqlx::Storage::open_migrated("sqlite::memory:").await.unwrap();
    /// let orders = storage.engine().demo().build(); // the demo shop: a test gateway
    /// orders.health().await.unwrap();
    /// # });
    /// ```
    ///
    /// # Errors
    /// Those of [`open`](Self::open) and [`migrate`](Self::migrate).
    pub async fn open_migrated(url: &str) -> Result<Self, OpenError> {
        let storage = Self::open(url).await?;
        storage.migrate().await?;
        Ok(storage)
    }

    /// Which backend it is.
    pub fn backend(&self) -> Backend {
        match &self.inner {
            #[cfg(feature = "sqlite")]
            Inner::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The notifier.
    pub fn notifier(&self) -> Arc<dyn Notifier> {
        self.notifier.clone()
    }

    /// The store as the mail worker uses it (the same store as
    /// [`Storage::store`], with its mail port).
    pub fn mailbox(&self) -> Arc<dyn orders_core::ports::MailboxStore> {
        match &self.inner {
            #[cfg(feature = "sqlite")]
            Inner::Sqlite(store) => store.clone(),
            #[cfg(feature = "postgres")]
            Inner::Postgres(store) => store.clone(),
        }
    }

    /// The store as the webhook routes and the delivery worker use it
    /// (the same store as [`Storage::store`], with its delivery port).
    pub fn outbox(&self) -> Arc<dyn orders_core::ports::OutboxStore> {
        match &self.inner {
            #[cfg(feature = "sqlite")]
            Inner::Sqlite(store) => store.clone(),
            #[cfg(feature = "postgres")]
            Inner::Postgres(store) => store.clone(),
        }
    }

    /// An engine builder over this store and notifier; add the
    /// configuration, payments and clock, then `build()`.
    pub fn engine(&self) -> OrdersBuilder {
        orders_core::Orders::builder(self.store()).notifier(self.notifier())
    }

    /// The store's connection pools as they are now, for a host's metrics.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        match &self.inner {
            #[cfg(feature = "sqlite")]
            Inner::Sqlite(store) => store.pool_stats(),
            #[cfg(feature = "postgres")]
            Inner::Postgres(store) => vec![PoolStats::of("main", store.pool())],
        }
    }

    /// How SQLite's single writer has committed so far (see
    /// [`SqliteStore::write_batches`]), for a host's metrics; `None` on
    /// PostgreSQL, whose writes commit on their own connections.
    pub fn write_batches(&self) -> Option<WriteBatches> {
        match &self.inner {
            #[cfg(feature = "sqlite")]
            Inner::Sqlite(store) => Some(store.write_batches()),
            #[cfg(feature = "postgres")]
            Inner::Postgres(_) => None,
        }
    }

    /// Closes the store's connections. (The PostgreSQL listener stops when
    /// the last clone of its notifier, this storage's included, is dropped.)
    pub async fn close(&self) {
        match &self.inner {
            #[cfg(feature = "sqlite")]
            Inner::Sqlite(store) => store.close().await,
            #[cfg(feature = "postgres")]
            Inner::Postgres(store) => store.close().await,
        }
    }
}

/// The code blocks of the crate's README, compiled and run as doc tests.
#[cfg(all(doctest, feature = "sqlite"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(
            Backend::of_url("sqlite://orders.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(Backend::of_url("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::of_url("PostgreSQL://u@h/db").unwrap(),
            Backend::Postgres
        );
        let err = Backend::of_url("mysql://root:hunter2@h/db").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(matches!(err, OpenError::UnsupportedUrl(_)));
    }
}
