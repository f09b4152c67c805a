//! What the store's connection pools hold and how its single writer
//! commits, for a host's metrics ([`crate::Storage::pool_stats`],
//! [`crate::Storage::write_batches`]).

/// One connection pool of a store, as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Which pool: `writer` and `readers` on SQLite (an in-memory database
    /// has only its writer), `main` on PostgreSQL.
    pub name: &'static str,
    /// Connections open, in use or idle.
    pub size: u32,
    /// Open connections waiting for work.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl PoolStats {
    /// `pool` as it is now, called `name`.
    pub(crate) fn of<DB: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<DB>) -> Self {
        Self {
            name,
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
}

/// How SQLite's single writer has committed the store's writes so far: in
/// how many batches, holding how many writes (`SqliteStore::write_batches`,
/// [`crate::Storage::write_batches`]). Writes per batch near 1 mean the
/// writer is rarely contended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteBatches {
    /// Batches committed.
    pub batches: u64,
    /// Writes in them (each answered after its batch committed), refused
    /// ones included.
    pub writes: u64,
}
