//! Credentials for this example host: argon2id password hashes, opaque
//! random tokens stored only as hashes, and a login rate limit.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted (argon2 would take more, but nobody types
/// a kilobyte, and bounding it bounds the work an attacker can ask for).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Hashes `password` with argon2id and a fresh random salt (PHC string).
///
/// # Errors
/// Only if the hasher fails, which needs a broken RNG.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `hash` (constant time inside
/// argon2's verifier).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A new bearer token: 256 random bits, URL-safe hex, and the SHA-256 hash
/// that is all the database keeps. A token is looked up by its hash, so
/// the comparison never touches the secret itself.
pub fn new_token() -> (String, String) {
    let mut bytes = [0_u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hash = token_hash(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A sliding-window limit on failed logins per key (an address, an email).
#[derive(Debug)]
pub struct RateLimit {
    max: usize,
    window: Duration,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimit {
    /// At most `max` attempts per `window` per key.
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Records an attempt for every key and tells whether all are still
    /// under the limit. A refused attempt is not recorded, so a client that
    /// keeps hammering stays limited exactly one window after it stops.
    pub fn check(&self, keys: &[&str], now: Instant) -> bool {
        let mut attempts = self
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if attempts.len() > 100_000 {
            // Bound memory under a flood of distinct keys: forget idle ones.
            attempts.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        for key in keys {
            let times = attempts.entry((*key).to_owned()).or_default();
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                times.pop_front();
            }
            if times.len() >= self.max {
                return false;
            }
        }
        for key in keys {
            attempts
                .entry((*key).to_owned())
                .or_default()
                .push_back(now);
        }
        true
    }

    /// Takes back the attempt just recorded for each key: a successful
    /// login does not count. Earlier failures still do, so a guesser who
    /// hits the password once cannot wipe the record of the others.
    pub fn forgive(&self, keys: &[&str]) {
        let mut attempts = self
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in keys {
            if let Some(times) = attempts.get_mut(*key) {
                times.pop_back();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(hash, hash_password("correct horse").unwrap(), "salted");
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, hash) = new_token();
        let (b, _) = new_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), hash);
        assert_ne!(hash, a);
    }

    #[test]
    fn rate_limit_slides() {
        let limit = RateLimit::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limit.check(&["1.2.3.4", "ada@example.com"], t0));
        }
        assert!(
            !limit.check(&["1.2.3.4", "eve@example.com"], t0),
            "per address"
        );
        assert!(
            !limit.check(&["5.6.7.8", "ada@example.com"], t0),
            "per email"
        );
        assert!(limit.check(&["5.6.7.8", "eve@example.com"], t0));
        assert!(limit.check(&["1.2.3.4", "x@example.com"], t0 + Duration::from_secs(61)));
        let fresh = RateLimit::new(2, Duration::from_secs(60));
        assert!(fresh.check(&["a"], t0));
        fresh.forgive(&["a"]);
        assert!(
            fresh.check(&["a"], t0) && fresh.check(&["a"], t0),
            "a forgiven attempt does not count"
        );
        assert!(!fresh.check(&["a"], t0));
    }
}
