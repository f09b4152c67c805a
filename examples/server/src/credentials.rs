//! Credentials for this example host: argon2id password hashes, opaque
//! random tokens stored only as hashes, and the registration limit per
//! address (the sign-in backoff is in the database: [`crate::accounts`]).

use std::collections::HashMap;
use std::net::IpAddr;
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

/// Registrations per client address in a fixed window (an hour), kept
/// in this process: a flood from one address is refused (429) before it
/// costs a password hash.
#[derive(Debug)]
pub struct RegistrationLimit {
    max: u32,
    window: Duration,
    counts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RegistrationLimit {
    /// At most `max` per `window` per address; 0: no limit.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a registration from `address`; `Err(seconds)` until the
    /// address may register again when it is over the limit.
    pub fn check(&self, address: IpAddr, now: Instant) -> Result<(), u32> {
        if self.max == 0 {
            return Ok(());
        }
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() > 100_000 {
            // Bound memory under a flood of distinct addresses.
            counts.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = counts.entry(address).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(u32::try_from(left.as_secs().max(1)).unwrap_or(u32::MAX));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Takes back a registration counted for `address` that did not happen
    /// (the server was too busy to hash it).
    pub fn refund(&self, address: IpAddr) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, count)) = counts.get_mut(&address) {
            *count = count.saturating_sub(1);
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
    fn registrations_per_address_per_window() {
        let limit = RegistrationLimit::new(2, Duration::from_secs(3600));
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limit.check(a, t0).is_ok() && limit.check(a, t0).is_ok());
        assert_eq!(limit.check(a, t0 + Duration::from_secs(600)), Err(3000));
        assert!(limit.check(b, t0).is_ok(), "per address");
        limit.refund(a);
        assert!(limit.check(a, t0).is_ok(), "a refunded registration");
        assert!(
            limit.check(a, t0 + Duration::from_secs(3600)).is_ok(),
            "a new window"
        );
        let none = RegistrationLimit::new(0, Duration::from_secs(3600));
        assert!((0..100).all(|_| none.check(a, t0).is_ok()));
    }
}
