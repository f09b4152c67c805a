//! Users, tokens and failed sign-ins of this example host, in the same
//! database as the orders, under migrations of their own (history table
//! `orders_server_migrations`, beside the store's `_orders_migrations`).
//!
//! The engine keeps no users: it only needs an id per customer. This module
//! is what a host brings: accounts with argon2id password hashes, bearer
//! tokens stored as SHA-256 hashes with an expiry, a staff flag, and the
//! failed sign-in counts every instance reads. Each query is written once:
//! both backends take `$1` placeholders, and new time columns are epoch
//! milliseconds (`BIGINT`) on both.

use chrono::Utc;
use orders_core::checkout::Email;
use orders_core::ids::CustomerId;
use sqlx::migrate::Migrator;
use sqlx::{PgPool, Row, SqlitePool};

use crate::credentials;

/// The history table of the users' migrations.
pub const MIGRATIONS_TABLE: &str = "orders_server_migrations";

/// `(version, description, sql)` of every SQLite migration, in order.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "users",
        include_str!("../migrations/sqlite/0001_users.sql"),
    ),
    (
        2,
        "sign_in_limits",
        include_str!("../migrations/sqlite/0002_sign_in_limits.sql"),
    ),
    (
        3,
        "password_resets",
        include_str!("../migrations/sqlite/0003_password_resets.sql"),
    ),
];

/// `(version, description, sql)` of every PostgreSQL migration, in order.
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "users",
        include_str!("../migrations/postgres/0001_users.sql"),
    ),
    (
        2,
        "sign_in_limits",
        include_str!("../migrations/postgres/0002_sign_in_limits.sql"),
    ),
    (
        3,
        "password_resets",
        include_str!("../migrations/postgres/0003_password_resets.sql"),
    ),
];

fn migrator(set: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let mut migrator = orders_sqlx::embedded_migrator(set);
    // Two migrators with different lists on one table refuse each other's
    // versions: the store has `_orders_migrations`, these users their own,
    // and sqlx's default `_sqlx_migrations` stays free for a host's.
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Its id, which is the engine's customer id.
    pub id: CustomerId,
    /// Its email, in canonical form ([`Email::canonical`]).
    pub email: String,
    /// Whether it may use the admin routes.
    pub is_staff: bool,
}

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The email is taken.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value did not parse back.
    #[error("corrupt user row: {0}")]
    Corrupt(String),
}

impl UserError {
    /// Whether the database could not be reached (answer 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            )
        )
    }
}

/// The users' tables, on either backend.
#[derive(Debug, Clone)]
pub enum Users {
    /// On SQLite.
    Sqlite(SqlitePool),
    /// On PostgreSQL.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool: the query is
/// written once and compiled for each backend.
macro_rules! on_pool {
    ($users:expr, $pool:ident => $body:expr) => {
        match $users {
            $crate::accounts::Users::Sqlite($pool) => $body,
            $crate::accounts::Users::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Now, in milliseconds since the Unix epoch (the unit of the time columns
/// the users' migrations added).
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn user_from(id: String, email: String, is_staff: bool) -> Result<User, UserError> {
    let id = CustomerId::parse(&id).map_err(|e| UserError::Corrupt(e.to_string()))?;
    Ok(User {
        id,
        email,
        is_staff,
    })
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// What a claimed sign-in attempt came to (see [`Users::claim_attempt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Counted as a failure until a success clears it: go ahead.
    Allowed,
    /// Not before this many milliseconds.
    Wait(i64),
}

/// How failed sign-ins of one key slow the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures without any wait.
    pub free: u32,
    /// The wait after the first failure beyond `free`, doubled after each.
    pub first_ms: i64,
    /// The longest wait.
    pub max_ms: i64,
    /// A key whose last failure is older than this starts again from zero.
    pub forget_ms: i64,
}

impl Backoff {
    /// The wait that `failures` failures impose before the next attempt:
    /// none up to `free - 1`, then `first_ms`, doubled per failure, capped.
    pub fn wait_ms(&self, failures: i64) -> i64 {
        let beyond = failures - i64::from(self.free);
        if beyond < 0 {
            return 0;
        }
        let doublings = u32::try_from(beyond.min(40)).unwrap_or(40);
        self.first_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.max_ms)
    }
}

impl Users {
    /// Runs the users' migrations (their own history table): a database
    /// made by an older build (tables without history) opens too.
    ///
    /// # Errors
    /// Database and migration errors.
    pub async fn migrate(&self) -> Result<(), UserError> {
        match self {
            Self::Sqlite(pool) => migrator(SQLITE).run(pool).await?,
            // sqlx takes an advisory lock: instances starting together
            // migrate one after the other.
            Self::Postgres(pool) => migrator(POSTGRES).run(pool).await?,
        }
        Ok(())
    }

    /// Creates an account under the canonical form of `email`.
    ///
    /// # Errors
    /// [`UserError::EmailTaken`], database errors.
    pub async fn register(
        &self,
        email: &Email,
        password_hash: &str,
        is_staff: bool,
    ) -> Result<User, UserError> {
        let id = CustomerId::generate();
        let email = email.canonical();
        let now = Utc::now();
        let result = on_pool!(self, pool => sqlx::query(
            "INSERT INTO users (id, email, password_hash, is_staff, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.as_str())
        .bind(&email)
        .bind(password_hash)
        .bind(is_staff)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()));
        match result {
            Ok(()) => Ok(User {
                id,
                email,
                is_staff,
            }),
            Err(e) if is_unique_violation(&e) => Err(UserError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// The account of `email` (by its canonical form) and its password hash.
    ///
    /// # Errors
    /// Database errors.
    pub async fn by_email(&self, email: &Email) -> Result<Option<(User, String)>, UserError> {
        let email = email.canonical();
        const SQL: &str = "SELECT id, email, is_staff, password_hash FROM users WHERE email = $1";
        let row = on_pool!(self, pool => sqlx::query(SQL)
        .bind(&email)
        .fetch_optional(pool)
        .await?
        .map(|r| {
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<bool, _>(2),
                r.get::<String, _>(3),
            )
        }));
        row.map(|(id, email, staff, hash)| Ok((user_from(id, email, staff)?, hash)))
            .transpose()
    }

    /// The email of the user `id`, if it exists.
    ///
    /// # Errors
    /// Database errors.
    pub async fn email_of(&self, id: &CustomerId) -> Result<Option<String>, UserError> {
        const SQL: &str = "SELECT email FROM users WHERE id = $1";
        Ok(on_pool!(self, pool => sqlx::query(SQL)
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
            .map(|r| r.get::<String, _>(0))))
    }

    /// Makes `email` a staff account with `password_hash`, creating it if
    /// missing. Returns the user and whether it was created.
    ///
    /// # Errors
    /// Database errors.
    pub async fn upsert_staff(
        &self,
        email: &Email,
        password_hash: &str,
    ) -> Result<(User, bool), UserError> {
        match self.register(email, password_hash, true).await {
            Ok(user) => return Ok((user, true)),
            Err(UserError::EmailTaken) => {}
            Err(e) => return Err(e),
        }
        on_pool!(self, pool => sqlx::query(
            "UPDATE users SET is_staff = $1, password_hash = $2 WHERE email = $3",
        )
        .bind(true)
        .bind(password_hash)
        .bind(email.canonical())
        .execute(pool)
        .await?
        .rows_affected());
        let (user, _) = self
            .by_email(email)
            .await?
            .ok_or_else(|| UserError::Corrupt("promoted user vanished".into()))?;
        Ok((user, false))
    }

    /// Issues a new token for `user`, valid for `lifetime_ms` from now (and
    /// longer as it is used), and returns it: only its hash is kept.
    ///
    /// # Errors
    /// Database errors.
    pub async fn issue_token(&self, user: &User, lifetime_ms: i64) -> Result<String, UserError> {
        let (token, hash) = credentials::new_token();
        let now = Utc::now();
        let expires_at = now.timestamp_millis().saturating_add(lifetime_ms);
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&hash)
        .bind(user.id.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(token)
    }

    /// The user a live token belongs to, and when the token expires (epoch
    /// ms). An expired token is deleted and answers `None`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn by_token(&self, token: &str) -> Result<Option<(User, i64)>, UserError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let hash = credentials::token_hash(token);
        const SQL: &str = "SELECT u.id, u.email, u.is_staff, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1";
        let row = on_pool!(self, pool => sqlx::query(SQL)
        .bind(&hash)
        .fetch_optional(pool)
        .await?
        .map(|r| {
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<bool, _>(2),
                r.get::<i64, _>(3),
            )
        }));
        let Some((id, email, staff, expires_at)) = row else {
            return Ok(None);
        };
        if expires_at <= now_ms() {
            self.delete_token(&hash).await?;
            return Ok(None);
        }
        Ok(Some((user_from(id, email, staff)?, expires_at)))
    }

    /// Moves the expiry of `token` to `expires_at` (epoch ms), if later.
    ///
    /// # Errors
    /// Database errors.
    pub async fn extend_token(&self, token: &str, expires_at: i64) -> Result<(), UserError> {
        let hash = credentials::token_hash(token);
        on_pool!(self, pool => sqlx::query(
            "UPDATE tokens SET expires_at = $1 WHERE hash = $2 AND expires_at < $1",
        )
        .bind(expires_at)
        .bind(&hash)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    async fn delete_token(&self, hash: &str) -> Result<Option<i64>, UserError> {
        let expires_at = on_pool!(self, pool => sqlx::query(
            "DELETE FROM tokens WHERE hash = $1 RETURNING expires_at",
        )
        .bind(hash)
        .fetch_optional(pool)
        .await?
        .map(|r| r.get::<i64, _>(0)));
        Ok(expires_at)
    }

    /// Revokes a token (logout). Whether it was a live token: an unknown,
    /// already revoked or expired one answers `false` (and is gone).
    ///
    /// # Errors
    /// Database errors.
    pub async fn revoke(&self, token: &str) -> Result<bool, UserError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(false);
        }
        let expires_at = self.delete_token(&credentials::token_hash(token)).await?;
        Ok(expires_at.is_some_and(|at| at > now_ms()))
    }

    /// Deletes expired tokens, password reset tokens a day past their
    /// expiry, and failure counts not touched for `forget_ms`. Returns how
    /// many tokens and failure counts went.
    ///
    /// # Errors
    /// Database errors.
    pub async fn sweep(&self, forget_ms: i64) -> Result<(u64, u64), UserError> {
        let now = now_ms();
        let tokens = on_pool!(self, pool => sqlx::query("DELETE FROM tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        // Reset tokens a day past their expiry: they no longer count
        // towards the requests of the last hour either.
        on_pool!(self, pool => sqlx::query("DELETE FROM password_resets WHERE expires_at < $1")
            .bind(now.saturating_sub(86_400_000))
            .execute(pool)
            .await?
            .rows_affected());
        let failures = on_pool!(self, pool => sqlx::query(
            "DELETE FROM login_failures WHERE updated_at < $1",
        )
        .bind(now.saturating_sub(forget_ms))
        .execute(pool)
        .await?
        .rows_affected());
        Ok((tokens, failures))
    }

    /// Claims one sign-in attempt for `(email, address)` under `backoff`:
    /// counted as a failure at once (so a burst of concurrent guesses is
    /// counted, not raced), taken back by [`clear_failures`](Self::clear_failures)
    /// when the password matches. Refused with the wait left while the
    /// key's last failure still imposes one.
    ///
    /// One compare-and-set per attempt, the same SQL on both backends: a
    /// claim that loses a race re-reads, a few times, then waits a second.
    ///
    /// # Errors
    /// Database errors.
    pub async fn claim_attempt(
        &self,
        email: &str,
        address: &str,
        backoff: &Backoff,
    ) -> Result<Claim, UserError> {
        const SELECT: &str = "SELECT failures, next_at, updated_at FROM login_failures WHERE email = $1 AND address = $2";
        const INSERT: &str = "INSERT INTO login_failures (email, address, failures, next_at, updated_at) VALUES ($1, $2, 1, $3, $4) ON CONFLICT (email, address) DO NOTHING";
        const UPDATE: &str = "UPDATE login_failures SET failures = $1, next_at = $2, updated_at = $3 WHERE email = $4 AND address = $5 AND failures = $6 AND updated_at = $7";
        for _ in 0..5 {
            let now = now_ms();
            let row = on_pool!(self, pool => sqlx::query(SELECT)
                .bind(email)
                .bind(address)
                .fetch_optional(pool)
                .await?
                .map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1), r.get::<i64, _>(2))));
            let claimed = match row {
                None => on_pool!(self, pool => sqlx::query(INSERT)
                    .bind(email)
                    .bind(address)
                    .bind(now + backoff.wait_ms(1))
                    .bind(now)
                    .execute(pool)
                    .await?
                    .rows_affected()),
                Some((failures, next_at, updated_at)) => {
                    if now < next_at {
                        return Ok(Claim::Wait(next_at - now));
                    }
                    let base = if now - updated_at > backoff.forget_ms {
                        0
                    } else {
                        failures
                    };
                    on_pool!(self, pool => sqlx::query(UPDATE)
                        .bind(base + 1)
                        .bind(now + backoff.wait_ms(base + 1))
                        .bind(now)
                        .bind(email)
                        .bind(address)
                        .bind(failures)
                        .bind(updated_at)
                        .execute(pool)
                        .await?
                        .rows_affected())
                }
            };
            if claimed == 1 {
                return Ok(Claim::Allowed);
            }
        }
        Ok(Claim::Wait(1000))
    }

    /// Forgets the failures of `(email, address)` (a success).
    ///
    /// # Errors
    /// Database errors.
    pub async fn clear_failures(&self, email: &str, address: &str) -> Result<(), UserError> {
        on_pool!(self, pool => sqlx::query(
            "DELETE FROM login_failures WHERE email = $1 AND address = $2",
        )
        .bind(email)
        .bind(address)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Takes back one claimed attempt of `(email, address)` (a success
    /// counted against a key that is not cleared, such as an address's
    /// count across accounts).
    ///
    /// # Errors
    /// Database errors.
    pub async fn forgive_one(&self, email: &str, address: &str) -> Result<(), UserError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE login_failures SET failures = failures - 1 WHERE email = $1 AND address = $2 AND failures > 0",
        )
        .bind(email)
        .bind(address)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_free_failures_and_is_capped() {
        let backoff = Backoff {
            free: 5,
            first_ms: 1000,
            max_ms: 900_000,
            forget_ms: 86_400_000,
        };
        let waits: Vec<i64> = (1..=8).map(|n| backoff.wait_ms(n)).collect();
        assert_eq!(waits, [0, 0, 0, 0, 1000, 2000, 4000, 8000]);
        assert_eq!(backoff.wait_ms(30), 900_000);
        assert_eq!(backoff.wait_ms(i64::MAX), 900_000);
    }

    #[test]
    fn every_migration_file_is_embedded() {
        for (dir, set) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut files: Vec<String> = std::fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            files.sort();
            let embedded: Vec<String> = set
                .iter()
                .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
                .collect();
            assert_eq!(embedded, files, "{dir}");
        }
    }
}
