//! Guests: shoppers without an account, and the two secrets that stand in
//! for their credentials.
//!
//! - A **cart token** opens a guest's cart. It is 256 random bits written
//!   as base64url (no padding), shown once when the cart is made; the cart
//!   keeps only its SHA-256 hash ([`TokenHash`]), so a leaked database does
//!   not open carts, and the comparison runs in constant time.
//! - An **order token** opens a guest's order. It is not stored at all: it
//!   is the HMAC-SHA256 of the order id under a key the host configures
//!   ([`OrderTokens`]), so it is signed, not guessable, and placing an order
//!   writes nothing more than for a customer. The price of that choice: a
//!   token cannot be revoked one by one (changing the key revokes them all).
//!
//! A guest's customer id is [`CustomerId::guest`](crate::ids::CustomerId::guest):
//! `guest:` and 32 hex characters, a prefix hosts never use for their users.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::ids::OrderId;

/// `N` bytes from the operating system's random source.
///
/// # Panics
/// When the operating system has no random source, which no supported
/// platform lacks.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0_u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes
}

/// base64url without padding (RFC 4648 §5).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// Whether two byte strings are equal, in time that depends only on their
/// lengths (which are public: hashes and MACs of a fixed size).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The secret that opens a guest's cart: 256 random bits, base64url.
/// Shown to the guest once; only its [`TokenHash`] is kept.
///
/// Its `Debug` hides it, so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct CartToken(String);

impl CartToken {
    /// A new random token.
    ///
    /// ```
    /// use orders_core::guest::CartToken;
    ///
    /// let token = CartToken::generate();
    /// assert_eq!(token.as_str().len(), 43);
    /// assert!(token.hash().matches(token.as_str()));
    /// assert!(!token.hash().matches(CartToken::generate().as_str()));
    /// ```
    pub fn generate() -> Self {
        Self(base64url(&random_bytes::<32>()))
    }

    /// The token, to hand to the guest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the cart keeps of it.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for CartToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CartToken(***)")
    }
}

/// The SHA-256 hash of a cart token: what a guest cart keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

/// The text is not 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a token hash")]
pub struct InvalidTokenHash;

impl TokenHash {
    /// The hash of `token`.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether `token` hashes to this, compared in constant time.
    pub fn matches(&self, token: &str) -> bool {
        constant_time_eq(&Self::of(token).0, &self.0)
    }

    /// As 64 lowercase hex characters, as a store keeps it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// From [`to_hex`](Self::to_hex)'s text.
    ///
    /// ```
    /// use orders_core::guest::TokenHash;
    ///
    /// let hash = TokenHash::of("secret");
    /// assert_eq!(TokenHash::from_hex(&hash.to_hex()), Ok(hash));
    /// assert!(TokenHash::from_hex("abc").is_err());
    /// ```
    ///
    /// # Errors
    /// [`InvalidTokenHash`] for anything else.
    pub fn from_hex(text: &str) -> Result<Self, InvalidTokenHash> {
        if text.len() != 64
            || !text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(InvalidTokenHash);
        }
        let mut bytes = [0_u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| InvalidTokenHash)?;
        }
        Ok(Self(bytes))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", &self.to_hex()[..8])
    }
}

/// Makes and checks order tokens: the HMAC-SHA256 of an order id under the
/// host's key, base64url. Nothing is stored; any instance configured with
/// the same key accepts the tokens of every other.
///
/// ```
/// use orders_core::{guest::OrderTokens, ids::OrderId};
///
/// let tokens = OrderTokens::new(b"a key of at least 32 bytes, kept secret").unwrap();
/// let order = OrderId::generate();
/// let token = tokens.sign(&order);
/// assert!(tokens.verify(&order, &token));
/// assert!(!tokens.verify(&OrderId::generate(), &token));
/// assert!(!OrderTokens::new(b"another key of at least 32 bytes!!").unwrap().verify(&order, &token));
/// ```
#[derive(Clone)]
pub struct OrderTokens {
    key: Vec<u8>,
}

/// An order-token key shorter than [`OrderTokens::MIN_KEY_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the order token key must be at least 32 bytes")]
pub struct ShortKey;

impl OrderTokens {
    /// The shortest key accepted: 256 bits.
    pub const MIN_KEY_BYTES: usize = 32;

    /// Tokens under `key`.
    ///
    /// # Errors
    /// [`ShortKey`] for a key under [`Self::MIN_KEY_BYTES`].
    pub fn new(key: &[u8]) -> Result<Self, ShortKey> {
        if key.len() < Self::MIN_KEY_BYTES {
            return Err(ShortKey);
        }
        Ok(Self { key: key.to_vec() })
    }

    /// Tokens under a new random key (for a process that keeps no
    /// configuration: its tokens stop working when it restarts).
    pub fn random() -> Self {
        Self {
            key: random_bytes::<32>().to_vec(),
        }
    }

    fn mac(&self, order: &OrderId) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"orders/order-token/v1\0");
        mac.update(order.as_str().as_bytes());
        mac
    }

    /// The token of `order`.
    pub fn sign(&self, order: &OrderId) -> String {
        base64url(&self.mac(order).finalize().into_bytes())
    }

    /// Whether `token` is `order`'s, compared in constant time.
    pub fn verify(&self, order: &OrderId, token: &str) -> bool {
        constant_time_eq(self.sign(order).as_bytes(), token.as_bytes())
    }
}

impl fmt::Debug for OrderTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OrderTokens(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(b"fooba"), "Zm9vYmE");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn tokens_differ_and_hash_back() {
        let a = CartToken::generate();
        let b = CartToken::generate();
        assert_ne!(a, b);
        assert!(a.hash().matches(a.as_str()));
        assert!(!a.hash().matches(b.as_str()));
        assert!(!a.hash().matches(""));
        assert!(!format!("{a:?}").contains(a.as_str()));
    }

    #[test]
    fn order_tokens_need_a_long_key() {
        assert_eq!(OrderTokens::new(b"short").err(), Some(ShortKey));
        let tokens = OrderTokens::random();
        let order = OrderId::generate();
        let token = tokens.sign(&order);
        assert!(tokens.verify(&order, &token));
        assert!(!tokens.verify(&order, &token[1..]));
        assert!(!tokens.verify(&order, ""));
    }
}
