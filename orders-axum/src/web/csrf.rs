//! CSRF tokens that need no storage.
//!
//! Each browser gets a random id in the [`CSRF_COOKIE`] cookie (`HttpOnly`,
//! `SameSite=Lax`) on its first page; every form carries
//! `HMAC-SHA256(server key, that id)` in its [`CSRF_FIELD`] field. A forged
//! request from another site can make the browser send the cookie (on a
//! top-level POST it may not even do that, thanks to `SameSite`), but it
//! cannot read the page, so it cannot know the field's value; nor can it
//! compute it without the server key. The check is constant-time.
//!
//! The token is also bound to the session: the MAC covers the SHA-256 of
//! the [`SESSION_COOKIE`](super::session::SESSION_COOKIE) the request
//! carries (nothing when signed out). So a CSRF cookie an attacker managed
//! to plant in a victim's browser, together with the token the attacker
//! obtained for it, is refused once the victim is signed in: the attacker
//! cannot know the victim's session. The sign-in form, served before there
//! is a session, is still protected by the id (login CSRF). Signing in or
//! out changes the session, so forms other tabs loaded before it are
//! refused once and served again.

use axum::http::{HeaderMap, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::session::{self, cookie, set_cookie};

/// The cookie holding the browser's CSRF id.
pub const CSRF_COOKIE: &str = "orders_csrf";
/// The form field every state-changing form carries.
pub const CSRF_FIELD: &str = "csrf_token";

/// Issues and checks CSRF tokens under one server key.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use orders_axum::web::Csrf;
///
/// let csrf = Csrf::new([7; 32]);
/// let (token, set_cookie) = csrf.issue(&HeaderMap::new(), false);
/// // The browser stores the cookie and sends it back with the form.
/// let cookie = set_cookie.unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
/// let mut headers = HeaderMap::new();
/// headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
/// assert!(csrf.verify(&headers, &token));
/// assert!(!csrf.verify(&headers, "forged"));
/// assert!(!csrf.verify(&HeaderMap::new(), &token));
/// ```
#[derive(Clone)]
pub struct Csrf {
    key: [u8; 32],
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf { key: *** }")
    }
}

impl Csrf {
    /// Tokens under `key`. Every server instance behind one address must
    /// share the key, or a form served by one fails on another.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// Tokens under a fresh random key: right for a single instance (forms
    /// served before a restart then fail once, and are served again).
    ///
    /// # Panics
    /// If the operating system has no randomness to give.
    pub fn random() -> Self {
        let mut key = [0_u8; 32];
        getrandom::fill(&mut key).expect("the operating system's random source");
        Self { key }
    }

    /// The MAC of a browser's id under the session of `headers`.
    fn mac(&self, id: &str, headers: &HeaderMap) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        // The id has a fixed length, so id and session cannot be shifted
        // into each other; the session enters hashed, never as the token.
        if let Some(session) = session::token(headers) {
            mac.update(b"\0session:");
            mac.update(&Sha256::digest(session.as_bytes()));
        }
        mac
    }

    /// The token for the forms of a page answering `headers`, and, when the
    /// browser has no CSRF id yet, the `Set-Cookie` value that gives it one
    /// (`secure`: add `Secure`). Send the cookie with the page.
    pub fn issue(&self, headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
        if let Some(id) = cookie(headers, CSRF_COOKIE).filter(|id| valid_id(id)) {
            return (self.token_for(id, headers), None);
        }
        let mut bytes = [0_u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source");
        let id = hex(&bytes);
        let token = self.token_for(&id, headers);
        (token, Some(set_cookie(CSRF_COOKIE, &id, None, secure)))
    }

    fn token_for(&self, id: &str, headers: &HeaderMap) -> String {
        hex(&self.mac(id, headers).finalize().into_bytes())
    }

    /// Whether `submitted` is the token of the browser and the session that
    /// sent `headers`.
    pub fn verify(&self, headers: &HeaderMap, submitted: &str) -> bool {
        let Some(id) = cookie(headers, CSRF_COOKIE).filter(|id| valid_id(id)) else {
            return false;
        };
        let Some(bytes) = unhex(submitted) else {
            return false;
        };
        self.mac(id, headers).verify_slice(&bytes).is_ok()
    }
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_token_is_bound_to_its_browser_and_key() {
        let csrf = Csrf::random();
        let a = with_cookie(&format!("{CSRF_COOKIE}={}", "a".repeat(32)));
        let b = with_cookie(&format!("{CSRF_COOKIE}={}", "b".repeat(32)));
        let (token, cookie) = csrf.issue(&a, false);
        assert!(cookie.is_none(), "a browser with an id keeps it");
        assert!(csrf.verify(&a, &token));
        assert!(!csrf.verify(&b, &token), "another browser's token");
        assert!(!Csrf::random().verify(&a, &token), "another key");
        assert!(!csrf.verify(&a, ""));
        assert!(!csrf.verify(&a, &token[..63]));
        assert!(!csrf.verify(&a, &"é".repeat(32)));
    }

    #[test]
    fn a_token_is_bound_to_the_session() {
        let csrf = Csrf::random();
        let id = "c".repeat(32);
        let planted = with_cookie(&format!("{CSRF_COOKIE}={id}"));
        let victim = with_cookie(&format!("{CSRF_COOKIE}={id}; orders_session=victim-token"));
        let attacker = with_cookie(&format!(
            "{CSRF_COOKIE}={id}; orders_session=attacker-token"
        ));
        // The attacker knows the planted id's token, signed out or as itself.
        let (signed_out, _) = csrf.issue(&planted, false);
        let (as_attacker, _) = csrf.issue(&attacker, false);
        assert!(csrf.verify(&planted, &signed_out));
        assert!(csrf.verify(&attacker, &as_attacker));
        assert!(!csrf.verify(&victim, &signed_out), "a signed-out token");
        assert!(
            !csrf.verify(&victim, &as_attacker),
            "another session's token"
        );
        let (own, _) = csrf.issue(&victim, false);
        assert!(csrf.verify(&victim, &own), "the victim's own form");
        assert!(!csrf.verify(&planted, &own), "signed out since");
    }

    #[test]
    fn a_new_browser_gets_a_fresh_id() {
        let csrf = Csrf::random();
        let bad = with_cookie(&format!("{CSRF_COOKIE}=short"));
        let (first, cookie) = csrf.issue(&bad, true);
        let cookie = cookie.expect("an invalid id is replaced");
        assert!(cookie.to_str().unwrap().contains("Secure"));
        let (second, _) = csrf.issue(&HeaderMap::new(), false);
        assert_ne!(first, second);
    }
}
