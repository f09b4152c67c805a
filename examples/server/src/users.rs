//! Users and tokens of this example host, in the same database as the
//! orders (tables `users` and `tokens`, created if missing).
//!
//! The engine keeps no users: it only needs an id per customer. This module
//! is what a host brings: accounts with argon2id password hashes, bearer
//! tokens stored as SHA-256 hashes, and a staff flag.

use chrono::{DateTime, Utc};
use orders_core::checkout::Email;
use orders_core::ids::CustomerId;
use sqlx::{PgPool, Row, SqlitePool};

use crate::auth;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Its id, which is the engine's customer id.
    pub id: CustomerId,
    /// Its email, lower case.
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

/// The users table, on either backend.
#[derive(Debug, Clone)]
pub enum Users {
    /// On SQLite.
    Sqlite(SqlitePool),
    /// On PostgreSQL.
    Postgres(PgPool),
}

const SCHEMA_SQLITE: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        is_staff INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS tokens (
        hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL
    )",
];

const SCHEMA_POSTGRES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        is_staff BOOLEAN NOT NULL DEFAULT FALSE,
        created_at TIMESTAMPTZ NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS tokens (
        hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at TIMESTAMPTZ NOT NULL
    )",
];

fn user_from(id: String, email: String, is_staff: bool) -> Result<User, UserError> {
    let id = CustomerId::parse(&id).map_err(|e| UserError::Corrupt(e.to_string()))?;
    Ok(User {
        id,
        email,
        is_staff,
    })
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Users {
    /// Creates the tables if missing.
    ///
    /// # Errors
    /// Database errors.
    pub async fn migrate(&self) -> Result<(), UserError> {
        match self {
            Self::Sqlite(pool) => {
                for statement in SCHEMA_SQLITE {
                    sqlx::query(*statement).execute(pool).await?;
                }
            }
            Self::Postgres(pool) => {
                // Two instances starting at once must not race on CREATE.
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(727274)")
                    .execute(&mut *tx)
                    .await?;
                for statement in SCHEMA_POSTGRES {
                    sqlx::query(*statement).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Creates an account.
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
        let email = email.as_str().to_lowercase();
        let now = Utc::now();
        let result = match self {
            Self::Sqlite(pool) => {
                sqlx::query("INSERT INTO users (id, email, password_hash, is_staff, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                    .bind(id.as_str())
                    .bind(&email)
                    .bind(password_hash)
                    .bind(is_staff)
                    .bind(now.to_rfc3339())
                    .execute(pool)
                    .await
                    .map(|_| ())
            }
            Self::Postgres(pool) => sqlx::query(
                "INSERT INTO users (id, email, password_hash, is_staff, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id.as_str())
            .bind(&email)
            .bind(password_hash)
            .bind(is_staff)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()),
        };
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

    /// The account of `email` and its password hash.
    ///
    /// # Errors
    /// Database errors.
    pub async fn by_email(&self, email: &str) -> Result<Option<(User, String)>, UserError> {
        let email = email.trim().to_lowercase();
        let row = match self {
            Self::Sqlite(pool) => {
                sqlx::query("SELECT id, email, is_staff, password_hash FROM users WHERE email = ?1")
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
                    })
            }
            Self::Postgres(pool) => {
                sqlx::query("SELECT id, email, is_staff, password_hash FROM users WHERE email = $1")
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
                    })
            }
        };
        row.map(|(id, email, staff, hash)| Ok((user_from(id, email, staff)?, hash)))
            .transpose()
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
        let lower = email.as_str().to_lowercase();
        match self {
            Self::Sqlite(pool) => {
                sqlx::query("UPDATE users SET is_staff = 1, password_hash = ?1 WHERE email = ?2")
                    .bind(password_hash)
                    .bind(&lower)
                    .execute(pool)
                    .await?;
            }
            Self::Postgres(pool) => {
                sqlx::query(
                    "UPDATE users SET is_staff = TRUE, password_hash = $1 WHERE email = $2",
                )
                .bind(password_hash)
                .bind(&lower)
                .execute(pool)
                .await?;
            }
        }
        let (user, _) = self
            .by_email(&lower)
            .await?
            .ok_or_else(|| UserError::Corrupt("promoted user vanished".into()))?;
        Ok((user, false))
    }

    /// Issues a new token for `user` and returns it (only its hash is kept).
    ///
    /// # Errors
    /// Database errors.
    pub async fn issue_token(&self, user: &User) -> Result<String, UserError> {
        let (token, hash) = auth::new_token();
        let now: DateTime<Utc> = Utc::now();
        match self {
            Self::Sqlite(pool) => {
                sqlx::query("INSERT INTO tokens (hash, user_id, created_at) VALUES (?1, ?2, ?3)")
                    .bind(&hash)
                    .bind(user.id.as_str())
                    .bind(now.to_rfc3339())
                    .execute(pool)
                    .await?;
            }
            Self::Postgres(pool) => {
                sqlx::query("INSERT INTO tokens (hash, user_id, created_at) VALUES ($1, $2, $3)")
                    .bind(&hash)
                    .bind(user.id.as_str())
                    .bind(now)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(token)
    }

    /// The user a token belongs to.
    ///
    /// # Errors
    /// Database errors.
    pub async fn by_token(&self, token: &str) -> Result<Option<User>, UserError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let hash = auth::token_hash(token);
        const SQL_SQLITE: &str = "SELECT u.id, u.email, u.is_staff FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?1";
        const SQL_PG: &str = "SELECT u.id, u.email, u.is_staff FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1";
        let row = match self {
            Self::Sqlite(pool) => sqlx::query(SQL_SQLITE)
                .bind(&hash)
                .fetch_optional(pool)
                .await?
                .map(|r| {
                    (
                        r.get::<String, _>(0),
                        r.get::<String, _>(1),
                        r.get::<bool, _>(2),
                    )
                }),
            Self::Postgres(pool) => sqlx::query(SQL_PG)
                .bind(&hash)
                .fetch_optional(pool)
                .await?
                .map(|r| {
                    (
                        r.get::<String, _>(0),
                        r.get::<String, _>(1),
                        r.get::<bool, _>(2),
                    )
                }),
        };
        row.map(|(id, email, staff)| user_from(id, email, staff))
            .transpose()
    }

    /// Revokes a token (logout).
    ///
    /// # Errors
    /// Database errors.
    pub async fn revoke(&self, token: &str) -> Result<(), UserError> {
        let hash = auth::token_hash(token);
        match self {
            Self::Sqlite(pool) => {
                sqlx::query("DELETE FROM tokens WHERE hash = ?1")
                    .bind(&hash)
                    .execute(pool)
                    .await?;
            }
            Self::Postgres(pool) => {
                sqlx::query("DELETE FROM tokens WHERE hash = $1")
                    .bind(&hash)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }
}
