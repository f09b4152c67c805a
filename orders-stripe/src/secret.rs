//! Secrets that never print: the API key, the webhook endpoint secret and a
//! PaymentIntent's client secret. Each `Debug` shows what kind of secret it
//! is and, for the API key, whether it is a test or live one, never the
//! secret part; reading the value takes an explicit `expose`.

use std::fmt;

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The API key does not start with `sk_` or `rk_` (a publishable `pk_`
    /// key cannot make server-side calls).
    #[error("a Stripe secret key starts with sk_ or rk_")]
    NotASecretKey,
    /// The secret is empty, or holds whitespace or control characters.
    #[error("the secret is empty or holds whitespace")]
    Malformed,
}

fn well_formed(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic())
}

/// A Stripe secret (`sk_…`) or restricted (`rk_…`) API key.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// Takes a key as Stripe's dashboard shows it.
    ///
    /// # Errors
    /// [`SecretError::NotASecretKey`] for anything but an `sk_`/`rk_` key,
    /// [`SecretError::Malformed`] for an empty key or one with whitespace.
    pub fn new(key: impl Into<String>) -> Result<Self, SecretError> {
        let key = key.into();
        if !well_formed(&key) {
            return Err(SecretError::Malformed);
        }
        if !(key.starts_with("sk_") || key.starts_with("rk_")) || key.len() <= 3 {
            return Err(SecretError::NotASecretKey);
        }
        Ok(Self(key))
    }

    /// The key itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `sk_test_`, `sk_live_`, `rk_test_`… : the part that is safe to show.
    fn visible_prefix(&self) -> &str {
        let mode_end = self.0[3..].find('_').map(|i| i + 4).unwrap_or(3);
        &self.0[..mode_end]
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}[redacted])", self.visible_prefix())
    }
}

/// A webhook endpoint's signing secret (`whsec_…` on Stripe; any string on
/// a local fake).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Takes the endpoint's secret.
    ///
    /// # Errors
    /// [`SecretError::Malformed`] for an empty secret or one with whitespace.
    pub fn new(secret: impl Into<String>) -> Result<Self, SecretError> {
        let secret = secret.into();
        if !well_formed(&secret) {
            return Err(SecretError::Malformed);
        }
        Ok(Self(secret))
    }

    /// The secret's bytes, the HMAC key.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// A PaymentIntent's client secret: what the customer's browser needs to
/// complete a 3-D Secure step with Stripe.js. It belongs to that customer
/// only, so it is not printed either.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// The secret, to hand to the customer's client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret_part() {
        let key = SecretKey::new("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "SecretKey(sk_test_[redacted])");
        let live = SecretKey::new("rk_live_abcdef").unwrap();
        assert_eq!(format!("{live:?}"), "SecretKey(rk_live_[redacted])");
        let bare = SecretKey::new("sk_abcdef").unwrap();
        assert!(!format!("{bare:?}").contains("abcdef"));
        let hook = WebhookSecret::new("whsec_topsecret").unwrap();
        assert!(!format!("{hook:?}").contains("topsecret"));
    }

    #[test]
    fn only_secret_keys_are_taken() {
        assert_eq!(
            SecretKey::new("pk_test_abc"),
            Err(SecretError::NotASecretKey)
        );
        assert_eq!(SecretKey::new("sk_"), Err(SecretError::NotASecretKey));
        assert_eq!(SecretKey::new(""), Err(SecretError::Malformed));
        assert_eq!(SecretKey::new("sk_test_a b"), Err(SecretError::Malformed));
        assert_eq!(WebhookSecret::new(""), Err(SecretError::Malformed));
    }
}
