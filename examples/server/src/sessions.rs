//! Who a bearer token is ([`Identify`]): tokens looked up in the database
//! through a short-lived cache, expiring after a sliding lifetime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orders_axum::{Caller, Identify, IdentifyError};
use orders_core::ids::CustomerId;

use crate::accounts::{Users, now_ms};
use crate::config::DEFAULT_TOKEN_LIFETIME;
use crate::credentials;

/// How long a looked-up token is trusted before it is looked up again. A
/// token revoked on this instance stops working at once; one revoked on
/// another instance works here for at most this long.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);
/// Most tokens the cache holds.
const TOKEN_CACHE_MAX: usize = 100_000;
/// A used token's expiry moves forward at most this often (one write per
/// token per day, not per request); shorter for lifetimes under 30 days.
const EXTENSION_STEP_MAX_MS: i64 = 86_400_000;

/// A cached token: who, when it was looked up, when it expires (epoch ms).
type Entry = (Caller, Instant, i64);

/// Who recent tokens belong to, keyed by the token's hash: most requests
/// then need no database round trip to say who is calling.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &str, now: Instant) -> Option<(Caller, i64)> {
        self.lock()
            .get(key)
            .filter(|(_, at, _)| now.duration_since(*at) < TOKEN_CACHE_TTL)
            .map(|(caller, _, expires)| (caller.clone(), *expires))
    }

    fn put(&self, key: String, caller: Caller, expires: i64, now: Instant) {
        let mut entries = self.lock();
        if entries.len() >= TOKEN_CACHE_MAX {
            entries.retain(|_, (_, at, _)| now.duration_since(*at) < TOKEN_CACHE_TTL);
            if entries.len() >= TOKEN_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(key, (caller, now, expires));
    }

    /// Records a new expiry without renewing the entry's age.
    fn extended(&self, key: &str, expires: i64) {
        if let Some(entry) = self.lock().get_mut(key) {
            entry.2 = expires;
        }
    }

    fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Forgets every cached token of `user`.
    fn remove_user(&self, user: &CustomerId) {
        self.lock().retain(|_, (caller, _, _)| &caller.id != user);
    }
}

/// Tokens are looked up in the users' tables, through a short-lived cache.
/// A token lives [`lifetime`](Self::with_lifetime) past its last
/// extension; each use extends it, written at most once per step (a day
/// for the default 30 days).
#[derive(Clone)]
pub struct Sessions {
    users: Users,
    cache: Arc<TokenCache>,
    lifetime_ms: i64,
}

impl Sessions {
    /// Sessions over `users`, with tokens of the default lifetime (30 days).
    pub fn new(users: Users) -> Self {
        Self::with_lifetime(users, DEFAULT_TOKEN_LIFETIME)
    }

    /// Sessions over `users`, whose tokens live `lifetime` since their last
    /// extension.
    pub fn with_lifetime(users: Users, lifetime: Duration) -> Self {
        Self {
            users,
            cache: Arc::default(),
            lifetime_ms: i64::try_from(lifetime.as_millis())
                .unwrap_or(i64::MAX)
                .max(1000),
        }
    }

    /// A new token's lifetime, in milliseconds.
    pub fn lifetime_ms(&self) -> i64 {
        self.lifetime_ms
    }

    fn step_ms(&self) -> i64 {
        (self.lifetime_ms / 30).min(EXTENSION_STEP_MAX_MS)
    }

    /// Forgets `token` here at once (after a logout).
    pub(crate) fn forget(&self, token: &str) {
        self.cache.remove(&credentials::token_hash(token));
    }

    /// Forgets every token of `user` here at once (after a password reset
    /// or change revoked them in the database, or an email change): the
    /// next use looks each up again.
    pub(crate) fn forget_user(&self, user: &CustomerId) {
        self.cache.remove_user(user);
    }
}

fn store_error(error: crate::accounts::UserError) -> IdentifyError {
    if error.is_unavailable() {
        IdentifyError::Unavailable
    } else {
        IdentifyError::Internal(error.to_string())
    }
}

#[async_trait::async_trait]
impl Identify for Sessions {
    async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
        let key = credentials::token_hash(token);
        let now = Instant::now();
        let now_ms = now_ms();
        let cached = self
            .cache
            .get(&key, now)
            .filter(|(_, expires)| *expires > now_ms);
        let (caller, expires) = match cached {
            Some(hit) => hit,
            None => match self.users.by_token(token).await.map_err(store_error)? {
                Some((user, expires)) => {
                    let caller = Caller {
                        id: user.id,
                        email: user.email,
                        is_staff: user.is_staff,
                    };
                    self.cache.put(key.clone(), caller.clone(), expires, now);
                    (caller, expires)
                }
                None => {
                    self.cache.remove(&key);
                    return Ok(None);
                }
            },
        };
        // Sliding: extended when a step has passed since the last extension.
        if expires - now_ms < self.lifetime_ms - self.step_ms() {
            let extended = now_ms.saturating_add(self.lifetime_ms);
            self.users
                .extend_token(token, extended)
                .await
                .map_err(store_error)?;
            self.cache.extended(&key, extended);
        }
        Ok(Some(caller))
    }

    /// The staff member's email, for the admin panel's timeline.
    async fn label(&self, id: &CustomerId) -> Result<Option<String>, IdentifyError> {
        self.users.email_of(id).await.map_err(store_error)
    }
}
