//! Password resets and account changes ([`Accounts`]): the rules the
//! pages (and the JSON routes) share.
//!
//! A reset request always gets the same answer, whether or not an account
//! has that email, and takes as long either way: the mail is sent in the
//! background. For an account, a token of 256 random bits is made, only its
//! SHA-256 hash is stored (with its expiry, [`RESET_LIFETIME`] by default),
//! the user's older tokens are voided, and the link goes out by email. The
//! link is built from the configured shop address (`[mail] shop_url`), or
//! the address the server listens on: never from the request's `Host`, so
//! a forged `Host` cannot send a customer a link to another site.
//!
//! Limits: per client address, a few requests per hour (answered 429, which
//! says nothing about any account); per account, a few mails per hour
//! (further requests get the same answer and send nothing).
//!
//! Using a token consumes it atomically, sets the new password (the rules of
//! registration), voids the user's other tokens and revokes every session of
//! the user (see [`crate::account_store`]). Changing the password on the
//! account page revokes every other session; changing the email needs the
//! current password and an email no other account has.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use orders_core::checkout::Email;
use orders_core::ids::CustomerId;
use orders_core::mail::{PasswordReset, password_reset};
use orders_core::ports::Mailer;
use orders_core::validation::ValidationErrors;
use tokio::sync::Semaphore;

use crate::accounts::{User, UserError, Users, now_ms};
use crate::credentials::{self, RegistrationLimit};
use crate::sessions::Sessions;
use crate::sign_in::check_password;

/// How long a reset link works by default.
pub const RESET_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Reset mails per account per hour, by default.
pub const RESETS_PER_ACCOUNT_PER_HOUR: i64 = 3;
/// Reset requests per client address per hour, by default.
pub const RESETS_PER_ADDRESS_PER_HOUR: u32 = 20;
/// The path of the page a reset link opens.
pub const RESET_PATH: &str = "/password/reset";
const HOUR_MS: i64 = 3_600_000;

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Bad fields (errors keyed by field name).
    #[error("invalid fields")]
    Invalid(ValidationErrors),
    /// Too many requests from this client address; retry after seconds.
    #[error("too many requests")]
    Limited(u32),
    /// The users' store failed.
    #[error(transparent)]
    Store(#[from] UserError),
    /// Hashing failed (a broken RNG or a cancelled task).
    #[error("hashing failed: {0}")]
    Hashing(String),
}

impl AccountError {
    fn field(path: &str, message: &str) -> Self {
        Self::Invalid(ValidationErrors::single(path, message))
    }
}

/// Where reset links point: the configured shop address, or else the
/// address the server listens on once it is bound.
#[derive(Clone, Default)]
pub struct Links {
    configured: Option<String>,
    listening: Arc<OnceLock<String>>,
}

impl Links {
    /// Links under `shop_url` (e.g. `https://shop.example`), if configured.
    pub fn new(shop_url: Option<String>) -> Self {
        Self {
            configured: shop_url.map(|url| url.trim_end_matches('/').to_owned()),
            listening: Arc::default(),
        }
    }

    /// Records the address the server listens on (`http://127.0.0.1:8080`),
    /// used when no shop address is configured.
    pub fn listening_on(&self, base: String) {
        let _ = self.listening.set(base);
    }

    fn base(&self) -> Option<&str> {
        self.configured
            .as_deref()
            .or_else(|| self.listening.get().map(String::as_str))
    }

    /// The reset link holding `token`.
    fn reset(&self, token: &str) -> Option<String> {
        self.base()
            .map(|base| format!("{base}{RESET_PATH}?token={token}"))
    }
}

/// Password resets and account changes over the users' tables.
#[derive(Clone)]
pub struct Accounts {
    users: Users,
    sessions: Sessions,
    mailer: Option<Arc<dyn Mailer>>,
    links: Links,
    lifetime_ms: i64,
    per_account: i64,
    per_address: Arc<RegistrationLimit>,
    hashing: Arc<Semaphore>,
}

impl Accounts {
    /// Resets and changes over `users`, forgetting revoked sessions in
    /// `sessions`' cache; reset mails go through `mailer` (none: no mail
    /// is sent, and the answer is still the same) with links from `links`.
    pub fn new(
        users: Users,
        sessions: &Sessions,
        mailer: Option<Arc<dyn Mailer>>,
        links: Links,
    ) -> Self {
        Self {
            users,
            sessions: sessions.clone(),
            mailer,
            links,
            lifetime_ms: i64::try_from(RESET_LIFETIME.as_millis()).unwrap_or(i64::MAX),
            per_account: RESETS_PER_ACCOUNT_PER_HOUR,
            per_address: Arc::new(RegistrationLimit::new(
                RESETS_PER_ADDRESS_PER_HOUR,
                Duration::from_secs(3600),
            )),
            hashing: Arc::new(Semaphore::new(1)),
        }
    }

    /// With reset links working for `lifetime` (at least a second).
    #[must_use]
    pub fn reset_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime_ms = i64::try_from(lifetime.as_millis())
            .unwrap_or(i64::MAX)
            .max(1000);
        self
    }

    /// How many minutes a reset link works (rounded up).
    pub fn reset_minutes(&self) -> u32 {
        u32::try_from((self.lifetime_ms + 59_999) / 60_000).unwrap_or(u32::MAX)
    }

    async fn hash(&self, password: String) -> Result<String, AccountError> {
        let _slot = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AccountError::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(move || credentials::hash_password(&password))
            .await
            .map_err(|e| AccountError::Hashing(e.to_string()))?
            .map_err(AccountError::Hashing)
    }

    async fn verify(&self, password: String, hash: String) -> Result<bool, AccountError> {
        let _slot = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AccountError::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(move || credentials::verify_password(&password, &hash))
            .await
            .map_err(|e| AccountError::Hashing(e.to_string()))
    }

    /// Asks for a reset link for `email` from `peer`. The answer is the same
    /// whether or not an account has that email (`Ok`); for an account under
    /// its hourly limit a token is stored and the mail sent in the
    /// background.
    ///
    /// # Errors
    /// [`AccountError::Invalid`] on `email` when it is missing or not an
    /// address, [`AccountError::Limited`] past the requests of this client
    /// address, store errors.
    pub async fn request_reset(
        &self,
        email: &str,
        peer: Option<IpAddr>,
    ) -> Result<(), AccountError> {
        let email =
            Email::parse(email.trim()).map_err(|e| AccountError::field("email", &e.to_string()))?;
        let address = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        self.per_address
            .check(address, Instant::now())
            .map_err(AccountError::Limited)?;
        let Some((user, _)) = self.users.by_email(&email).await? else {
            tracing::info!("password reset asked for an unknown email");
            return Ok(());
        };
        let now = now_ms();
        if self.users.resets_since(&user.id, now - HOUR_MS).await? >= self.per_account {
            tracing::info!(user = %user.id, "password reset limit reached; no mail sent");
            return Ok(());
        }
        let (token, hash) = credentials::new_token();
        let (Some(mailer), Some(link)) = (self.mailer.clone(), self.links.reset(&token)) else {
            tracing::warn!("password reset asked, but mail is not configured ([mail])");
            return Ok(());
        };
        self.users
            .create_reset(&user.id, &hash, now, now.saturating_add(self.lifetime_ms))
            .await?;
        let to = Email::parse(&user.email).map_err(|e| UserError::Corrupt(e.to_string()))?;
        let id = format!("reset-{}", CustomerId::generate());
        let message = password_reset(&PasswordReset {
            id: &id,
            to: &to,
            link: &link,
            valid_minutes: self.reset_minutes(),
        });
        tokio::spawn(async move {
            if let Err(error) = mailer.send(&message).await {
                tracing::warn!(%error, "the password reset mail was not sent");
            }
        });
        Ok(())
    }

    /// Whether `token` is a live reset token (for the reset page's form).
    ///
    /// # Errors
    /// Store errors.
    pub async fn reset_is_live(&self, token: &str) -> Result<bool, AccountError> {
        if !plausible_token(token) {
            return Ok(false);
        }
        Ok(self
            .users
            .reset_is_live(&credentials::token_hash(token), now_ms())
            .await?)
    }

    /// Sets a new `password` with the reset `token`: checked by the rules
    /// of registration, then the token is consumed, the password set and
    /// every session of the user revoked, together.
    ///
    /// # Errors
    /// [`AccountError::Invalid`] on `password` (its rules) or on `token`
    /// (unknown, used, void or expired), store errors.
    pub async fn complete_reset(
        &self,
        token: &str,
        password: String,
    ) -> Result<CustomerId, AccountError> {
        let invalid_link =
            || AccountError::field("token", "this link has expired or was already used");
        check_password(&password).map_err(|e| AccountError::field("password", e))?;
        if !self.reset_is_live(token).await? {
            return Err(invalid_link());
        }
        let hash = self.hash(password).await?;
        let user = self
            .users
            .complete_reset(&credentials::token_hash(token), &hash, now_ms())
            .await?
            .ok_or_else(invalid_link)?;
        self.sessions.forget_user(&user);
        Ok(user)
    }

    /// Changes the password of `user` after checking `current`; every other
    /// session of the user (all but `session_token`) is revoked.
    ///
    /// # Errors
    /// [`AccountError::Invalid`] on `current_password` (wrong) or
    /// `new_password` (its rules), store errors.
    pub async fn change_password(
        &self,
        user: &CustomerId,
        session_token: Option<&str>,
        current: String,
        new: String,
    ) -> Result<(), AccountError> {
        let mut errors = ValidationErrors::new();
        errors.check("new_password", check_password(&new));
        let stored = self.users.password_hash_of(user).await?.unwrap_or_default();
        if !self.verify(current, stored).await? {
            errors.add("current_password", "wrong password");
        }
        if !errors.is_empty() {
            return Err(AccountError::Invalid(errors));
        }
        let hash = self.hash(new).await?;
        let keep = session_token.map(credentials::token_hash);
        self.users
            .change_password(user, &hash, keep.as_deref(), now_ms())
            .await?;
        self.sessions.forget_user(user);
        Ok(())
    }

    /// Moves `user` to `email` after checking `current` (the password).
    /// Returns the email as stored (canonical: lowercase).
    ///
    /// # Errors
    /// [`AccountError::Invalid`] on `email` (not an address, or another
    /// account has it, in any case) or `current_password` (wrong), store
    /// errors.
    pub async fn change_email(
        &self,
        user: &User,
        email: &str,
        current: String,
    ) -> Result<String, AccountError> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(email.trim()));
        let stored = self
            .users
            .password_hash_of(&user.id)
            .await?
            .unwrap_or_default();
        if !self.verify(current, stored).await? {
            errors.add("current_password", "wrong password");
        }
        let Some(email) = email.filter(|_| errors.is_empty()) else {
            return Err(AccountError::Invalid(errors));
        };
        if email.canonical() == user.email {
            return Ok(user.email.clone());
        }
        match self.users.change_email(&user.id, &email, now_ms()).await {
            Ok(stored) => {
                self.sessions.forget_user(&user.id);
                Ok(stored)
            }
            Err(UserError::EmailTaken) => Err(AccountError::field("email", "already registered")),
            Err(error) => Err(error.into()),
        }
    }
}

/// Whether `token` can be one of ours (64 hex digits): anything else is
/// refused before a query.
fn plausible_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_use_the_configured_address_else_the_bound_one() {
        let links = Links::new(None);
        assert_eq!(links.reset("t"), None);
        links.listening_on("http://127.0.0.1:8080".into());
        assert_eq!(
            links.reset("t").as_deref(),
            Some("http://127.0.0.1:8080/password/reset?token=t")
        );
        let configured = Links::new(Some("https://shop.example/".into()));
        configured.listening_on("http://127.0.0.1:8080".into());
        assert_eq!(
            configured.reset("t").as_deref(),
            Some("https://shop.example/password/reset?token=t")
        );
    }

    #[test]
    fn only_token_shaped_text_is_looked_up() {
        let (token, _) = credentials::new_token();
        assert!(plausible_token(&token));
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(65), "' OR 1=1 --"] {
            assert!(!plausible_token(bad), "{bad:?}");
        }
    }
}
