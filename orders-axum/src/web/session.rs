//! The session cookie: the host's bearer token, `HttpOnly`, `SameSite=Lax`,
//! `Secure` when served over TLS.
//!
//! The cookie holds exactly the token the host's [`Identify`](crate::Identify)
//! already understands, so a signed-in browser is the same caller on pages,
//! on the JSON API's websockets (which accept the cookie from a same-origin
//! page, see [`same_origin`]) and through bearer tokens.

use axum::http::{HeaderMap, HeaderValue, header};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "orders_session";

/// How long a session cookie lives in the browser (30 days). The host's
/// token may expire sooner; the cookie then simply stops identifying.
pub const SESSION_MAX_AGE_SECS: u64 = 30 * 24 * 3600;

/// The value of one cookie of the request, if present and non-empty.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use orders_axum::web::session::cookie;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::COOKIE, HeaderValue::from_static("a=1; orders_session=tok"));
/// assert_eq!(cookie(&headers, "orders_session"), Some("tok"));
/// assert_eq!(cookie(&headers, "missing"), None);
/// ```
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.trim_matches('"'))
}

/// The session token of the request's cookie.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// A `Set-Cookie` value: `name=value`, `HttpOnly`, `SameSite=Lax`,
/// `Path=/`, `Secure` when `secure`. `max_age` of `None` makes a cookie that
/// lasts as long as the browser session; `Some(0)` deletes it.
///
/// Only token-like values are accepted (visible ASCII without `;`, `,`,
/// `"`, `\` or spaces): a cookie can never be used to inject attributes.
///
/// # Panics
/// Never for values that pass that check; a value that does not is
/// replaced by an empty cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> HeaderValue {
    let safe = |text: &str| {
        text.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
    };
    let value = if safe(value) { value } else { "" };
    let name = if safe(name) { name } else { "invalid" };
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Path=/"))
}

/// The `Set-Cookie` value that signs `token` in.
pub fn sign_in_cookie(token: &str, secure: bool) -> HeaderValue {
    set_cookie(SESSION_COOKIE, token, Some(SESSION_MAX_AGE_SECS), secure)
}

/// The `Set-Cookie` value that signs out (deletes the session cookie).
pub fn sign_out_cookie(secure: bool) -> HeaderValue {
    set_cookie(SESSION_COOKIE, "", Some(0), secure)
}

/// Whether the request came over TLS, as far as the server can tell: the
/// `X-Forwarded-Proto: https` of a proxy in front, or an `https` Origin.
/// Used to decide the cookie's `Secure` attribute.
pub fn is_tls(headers: &HeaderMap) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("https://"));
    forwarded || origin
}

/// Whether a request that carries cookies may act on them: it has no
/// `Origin` (not a cross-site browser request) or its `Origin`'s host and
/// port equal the `Host` header. A websocket upgrade is not covered by
/// `SameSite` or CORS, so cookie-authenticated sockets check this to stop
/// cross-site websocket hijacking.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use orders_axum::web::session::same_origin;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::HOST, HeaderValue::from_static("shop.example:8080"));
/// assert!(same_origin(&headers));
/// headers.insert(header::ORIGIN, HeaderValue::from_static("http://shop.example:8080"));
/// assert!(same_origin(&headers));
/// headers.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
/// assert!(!same_origin(&headers));
/// ```
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_no_injected_attributes() {
        let value = set_cookie("orders_session", "abc; Domain=evil", Some(10), true);
        let text = value.to_str().unwrap();
        assert!(text.starts_with("orders_session=; "), "{text}");
        assert!(!text.contains("evil"));
        let ok = sign_in_cookie("0123abcd", false);
        let text = ok.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Lax"));
        assert!(!text.contains("Secure"));
        assert!(
            sign_in_cookie("t", true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
        assert!(
            sign_out_cookie(false)
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }

    #[test]
    fn cookie_lookup() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("x=1"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("orders_session=\"t\"; y="),
        );
        assert_eq!(token(&headers), Some("t"));
        assert_eq!(cookie(&headers, "y"), None);
        assert_eq!(cookie(&headers, "x"), Some("1"));
    }

    #[test]
    fn origin_checks() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://a:1"));
        assert!(
            !same_origin(&headers),
            "an Origin without a Host is refused"
        );
        headers.insert(header::HOST, HeaderValue::from_static("a:2"));
        assert!(!same_origin(&headers));
        headers.insert(header::HOST, HeaderValue::from_static("a:1"));
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&headers));
    }
}
