//! [`Conns`]: healthy connections kept between store calls, in front of
//! sqlx's pool.
//!
//! sqlx checks every connection that comes back to its pool with a ping (a
//! round trip to the server, or a trip to SQLite's worker thread) before
//! another caller may have it. A checkout makes several store calls, so on
//! a small machine those checks would be a large share of the work. A [`Lease`]
//! whose caller saw its operation complete ([`Lease::keep`]) goes back on a
//! free list here instead, ready for the next call; any other lease (an
//! error, or a future dropped mid-query) returns to sqlx, which checks it
//! and discards it if broken. So a connection is reused only in the state
//! sqlx's own check would have found: idle, with no result pending.
//!
//! # Never starving the pool's other users
//!
//! A kept connection stays checked out of sqlx's pool, so nobody else can
//! have it. The list holds at most `keep` connections, and at most `keep`
//! leases exist at once (a fair semaphore), so this store never holds more
//! than `keep` connections of the pool; `keep` is chosen below the pool's
//! size where anyone else (a host's queries through `pool()`) shares it.
//! With `keep = 0` leases come straight from sqlx and go straight back.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};

use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};
use tokio::sync::{Semaphore, SemaphorePermit};

/// The kept connections, and whether keeping has stopped
/// ([`Conns::release_all`]); one lock for both, so a lease that ends while
/// the store closes either is kept before the release (and released with
/// the rest) or sees that keeping has stopped.
#[derive(Debug)]
struct Idle<DB: Database> {
    conns: Vec<PoolConnection<DB>>,
    released: bool,
}

/// A pool and the connections kept from it; see the module docs.
#[derive(Debug)]
pub(crate) struct Conns<DB: Database> {
    pool: Pool<DB>,
    idle: Mutex<Idle<DB>>,
    /// One permit per lease that may be kept; `None` when nothing is kept.
    permits: Option<Semaphore>,
}

impl<DB: Database> Conns<DB> {
    /// Keeps up to `keep` connections of `pool` between calls.
    pub(crate) fn new(pool: Pool<DB>, keep: usize) -> Self {
        Self {
            pool,
            idle: Mutex::new(Idle {
                conns: Vec::with_capacity(keep),
                released: false,
            }),
            permits: (keep > 0).then(|| Semaphore::new(keep)),
        }
    }

    /// A connection: a kept one if any, else one from the pool.
    ///
    /// Waiting for a lease and then for the pool together take at most the
    /// pool's acquire timeout, after which this fails with
    /// [`sqlx::Error::PoolTimedOut`]: when the database is away, every
    /// caller hears so within that time, however many are queued.
    pub(crate) async fn get(&self) -> Result<Lease<'_, DB>, sqlx::Error> {
        self.get_within(self.acquire_timeout()).await
    }

    /// The pool's acquire timeout: the longest [`Conns::get`] waits.
    pub(crate) fn acquire_timeout(&self) -> std::time::Duration {
        self.pool.options().get_acquire_timeout()
    }

    /// As [`Conns::get`], waiting at most `limit` (and never longer than
    /// the pool's acquire timeout): for best-effort work on a failure path,
    /// which should not double the time a caller waits to hear of it.
    pub(crate) async fn get_within(
        &self,
        limit: std::time::Duration,
    ) -> Result<Lease<'_, DB>, sqlx::Error> {
        let limit = limit.min(self.acquire_timeout());
        tokio::time::timeout(limit, self.get_unbounded())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn get_unbounded(&self) -> Result<Lease<'_, DB>, sqlx::Error> {
        let permit = match &self.permits {
            Some(permits) => Some(
                permits
                    .acquire()
                    .await
                    .map_err(|_| sqlx::Error::PoolClosed)?,
            ),
            None => None,
        };
        let kept = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .conns
            .pop();
        let conn = match kept {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(Lease {
            conns: self,
            conn: Some(conn),
            keep: false,
            _permit: permit,
        })
    }

    /// Hands every kept connection back to the pool and keeps none from
    /// now on (before closing the pool, which waits for all its
    /// connections: one kept after this would hold the close forever).
    pub(crate) fn release_all(&self) {
        let kept = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.released = true;
            std::mem::take(&mut idle.conns)
        };
        drop(kept);
    }
}

/// A connection of [`Conns`]; derefs to the driver's connection.
pub(crate) struct Lease<'a, DB: Database> {
    conns: &'a Conns<DB>,
    conn: Option<PoolConnection<DB>>,
    keep: bool,
    _permit: Option<SemaphorePermit<'a>>,
}

impl<DB: Database> Lease<'_, DB> {
    /// Marks the connection idle and healthy: the caller's operations on it
    /// completed (successfully or with an error the server reported, which
    /// leaves the connection usable), so it may be kept for the next call.
    pub(crate) fn keep(&mut self) {
        self.keep = true;
    }

    /// Keeps the connection after `result` if the query ran to its end: it
    /// succeeded, or the server refused it (a constraint, a timeout), which
    /// leaves the connection idle and usable. Anything else (an I/O error,
    /// a protocol error) sends it back to sqlx to be checked.
    #[cfg(any(test, feature = "postgres"))]
    pub(crate) fn settle<T>(&mut self, result: &Result<T, sqlx::Error>) {
        if matches!(result, Ok(_) | Err(sqlx::Error::Database(_))) {
            self.keep();
        }
    }
}

impl<DB: Database> Deref for Lease<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        self.conn.as_ref().expect("a lease holds its connection")
    }
}

impl<DB: Database> DerefMut for Lease<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn.as_mut().expect("a lease holds its connection")
    }
}

impl<DB: Database> Drop for Lease<'_, DB> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.keep && self.conns.permits.is_some() && !self.conns.pool.is_closed() {
            // Pushed before the permit is released (fields drop after this
            // body), so the next lease to get a permit finds it.
            let mut idle = self
                .conns
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !idle.released {
                idle.conns.push(conn);
            }
        }
        // Otherwise `conn` drops here: back to sqlx, checked, and discarded
        // if broken.
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePoolOptions;

    fn kept(conns: &Conns<sqlx::Sqlite>) -> usize {
        conns
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .conns
            .len()
    }

    /// A connection is kept after a success and after an error the database
    /// reported (the connection is idle and usable), and handed back to sqlx
    /// after any other error or a lease dropped unsettled.
    #[tokio::test]
    async fn settle_keeps_a_connection_only_when_its_query_ran_to_the_end() {
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect("sqlite::memory:")
            .await
            .expect("pool");
        let conns = Conns::new(pool, 1);
        assert_eq!(kept(&conns), 0);

        let mut lease = conns.get().await.expect("lease");
        let ok = sqlx::query("SELECT 1").execute(&mut *lease).await;
        lease.settle(&ok);
        drop(lease);
        assert_eq!(kept(&conns), 1, "kept after a success");

        let mut lease = conns.get().await.expect("lease");
        assert_eq!(kept(&conns), 0, "the kept connection was handed out");
        let refused = sqlx::query("SELECT * FROM no_such_table")
            .execute(&mut *lease)
            .await;
        assert!(
            matches!(refused, Err(sqlx::Error::Database(_))),
            "{refused:?}"
        );
        lease.settle(&refused);
        drop(lease);
        assert_eq!(kept(&conns), 1, "kept after an error the database reported");

        let mut lease = conns.get().await.expect("lease");
        lease.settle::<()>(&Err(sqlx::Error::Protocol("cut off".into())));
        drop(lease);
        assert_eq!(kept(&conns), 0, "back to sqlx after any other error");

        let lease = conns.get().await.expect("lease");
        drop(lease);
        assert_eq!(kept(&conns), 0, "back to sqlx when dropped unsettled");
    }

    /// A lease that ends after the release, while the pool closes (a task
    /// still querying when the store is closed), goes back to the pool
    /// instead of being kept, so the close does not wait for it forever.
    #[tokio::test]
    async fn a_lease_ending_after_the_release_goes_back_to_the_pool() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("pool");
        let conns = Conns::new(pool.clone(), 1);
        let mut lease = conns.get().await.expect("lease");
        let ok = sqlx::query("SELECT 1").execute(&mut *lease).await;
        lease.settle(&ok);
        conns.release_all();
        drop(lease);
        assert_eq!(kept(&conns), 0, "nothing kept after the release");
        tokio::time::timeout(std::time::Duration::from_secs(5), pool.close())
            .await
            .expect("the pool closes: no connection is held");
    }
}
