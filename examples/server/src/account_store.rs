//! The users' queries behind password resets and the account page: reset
//! tokens (only their SHA-256 hashes, each with its expiry, used at most
//! once), password and email changes, and revoking a user's sessions.
//!
//! Every change that must happen together runs in one transaction: a reset
//! consumes its token, sets the password, voids the user's other reset
//! tokens and deletes every session token of the user, or does none of it.
//! The token is consumed by one conditional `UPDATE … WHERE used_at IS NULL
//! AND expires_at > now`, so two requests with one token cannot both use
//! it. Each query is written once for both backends (`$1` placeholders,
//! epoch milliseconds).

use orders_core::checkout::Email;
use orders_core::ids::CustomerId;
use sqlx::Row;

use crate::accounts::{UserError, Users, is_unique_violation, on_pool};

/// Voids the live reset tokens of a user ($1 now, $2 user id).
const VOID_RESETS: &str =
    "UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL";

impl Users {
    /// Records a new reset token (its `hash`) for `user`, valid until
    /// `expires_at` (epoch ms), and voids the user's older ones.
    ///
    /// # Errors
    /// Database errors.
    pub async fn create_reset(
        &self,
        user: &CustomerId,
        hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), UserError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(VOID_RESETS)
                .bind(now)
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO password_resets (hash, user_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)",
            )
            .bind(hash)
            .bind(user.as_str())
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// How many reset tokens `user` was sent since `since` (epoch ms),
    /// used or not.
    ///
    /// # Errors
    /// Database errors.
    pub async fn resets_since(&self, user: &CustomerId, since: i64) -> Result<i64, UserError> {
        const SQL: &str =
            "SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND created_at >= $2";
        Ok(on_pool!(self, pool => sqlx::query(SQL)
            .bind(user.as_str())
            .bind(since)
            .fetch_one(pool)
            .await?
            .get::<i64, _>(0)))
    }

    /// Whether the reset token with `hash` is live at `now` (unused, not
    /// expired): the reset page asks before showing its form.
    ///
    /// # Errors
    /// Database errors.
    pub async fn reset_is_live(&self, hash: &str, now: i64) -> Result<bool, UserError> {
        const SQL: &str =
            "SELECT 1 FROM password_resets WHERE hash = $1 AND used_at IS NULL AND expires_at > $2";
        Ok(on_pool!(self, pool => sqlx::query(SQL)
            .bind(hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
            .is_some()))
    }

    /// Uses the reset token with `hash` at `now`, atomically: consumes it
    /// (only if live), sets the user's password to `password_hash`, voids
    /// the user's other reset tokens and deletes every session token of the
    /// user. Returns the user's id, or `None` (nothing changed) when the
    /// token is unknown, used, void or expired.
    ///
    /// # Errors
    /// Database errors.
    pub async fn complete_reset(
        &self,
        hash: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<CustomerId>, UserError> {
        let user = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let user = sqlx::query(
                "UPDATE password_resets SET used_at = $1 WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
            )
            .bind(now)
            .bind(hash)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.get::<String, _>(0));
            if let Some(user) = &user {
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(VOID_RESETS)
                    .bind(now)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM tokens WHERE user_id = $1")
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            user
        });
        user.map(|id| CustomerId::parse(&id).map_err(|e| UserError::Corrupt(e.to_string())))
            .transpose()
    }

    /// The password hash of `user`, if the user exists.
    ///
    /// # Errors
    /// Database errors.
    pub async fn password_hash_of(&self, user: &CustomerId) -> Result<Option<String>, UserError> {
        Ok(
            on_pool!(self, pool => sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(user.as_str())
            .fetch_optional(pool)
            .await?
            .map(|r| r.get::<String, _>(0))),
        )
    }

    /// Sets the password of `user` to `password_hash` and deletes every
    /// session token of the user but `keep` (the hash of the session that
    /// made the change), and voids the user's reset tokens, in one
    /// transaction.
    ///
    /// # Errors
    /// Database errors.
    pub async fn change_password(
        &self,
        user: &CustomerId,
        password_hash: &str,
        keep: Option<&str>,
        now: i64,
    ) -> Result<(), UserError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM tokens WHERE user_id = $1 AND hash <> $2")
                .bind(user.as_str())
                .bind(keep.unwrap_or(""))
                .execute(&mut *tx)
                .await?;
            sqlx::query(VOID_RESETS)
                .bind(now)
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Moves `user` to the canonical form of `email` and voids the user's
    /// reset tokens (a link sent to the old address stops working).
    ///
    /// # Errors
    /// [`UserError::EmailTaken`] when another account has that email
    /// (emails differing only in case are one), database errors.
    pub async fn change_email(
        &self,
        user: &CustomerId,
        email: &Email,
        now: i64,
    ) -> Result<String, UserError> {
        let canonical = email.canonical();
        let result: Result<(), sqlx::Error> = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET email = $1 WHERE id = $2")
                .bind(&canonical)
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(VOID_RESETS)
                .bind(now)
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
        .await);
        match result {
            Ok(()) => Ok(canonical),
            Err(e) if is_unique_violation(&e) => Err(UserError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }
}
