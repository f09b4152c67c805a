//! Who is calling: the host's answer, through [`Identify`].
//!
//! The library keeps no users. The host owns accounts, passwords and
//! sessions; for each request the router hands it the bearer token and gets
//! back a [`Caller`] (or nobody). The token comes from
//! `Authorization: Bearer TOKEN`, and on websocket routes also from
//! `?access_token=TOKEN`, since browsers cannot set headers there.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use orders_core::ids::CustomerId;
use tokio::sync::broadcast;

use crate::ApiError;

/// The authenticated caller, as the host knows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    /// The host's user id; carts and orders belong to it.
    pub id: CustomerId,
    /// The user's email address.
    pub email: String,
    /// Whether the user may use the `/admin` routes.
    pub is_staff: bool,
}

impl Caller {
    /// The caller a host's user is: its id in any form that displays (a
    /// number, a UUID, a string), its email, and whether it is staff.
    /// Returns the error an [`Identify`] implementation returns, so a
    /// lookup ends in `Caller::new(user.id, &user.email, user.admin).map(Some)`.
    ///
    /// ```
    /// use orders_axum::Caller;
    ///
    /// let caller = Caller::new(42, "ada@example.com", false).unwrap();
    /// assert_eq!(caller.id.as_str(), "42");
    /// assert!(Caller::new("", "nobody@example.com", false).is_err());
    /// // `guest:` begins the ids of guests (shoppers without an account).
    /// assert!(Caller::new("guest:0123", "ada@example.com", false).is_err());
    /// ```
    ///
    /// # Errors
    /// [`IdentifyError::Internal`] when the id does not display as a
    /// customer id (1 to 64 visible ASCII characters), or starts with
    /// `guest:` ([`orders_core::ids::GUEST_PREFIX`], reserved for guests'
    /// carts and orders): a host's bug, answered 500.
    pub fn new(
        id: impl std::fmt::Display,
        email: impl Into<String>,
        is_staff: bool,
    ) -> Result<Self, IdentifyError> {
        let id = id.to_string();
        let id = CustomerId::parse(&id).map_err(|error| {
            IdentifyError::Internal(format!("the host's user id {id:?}: {error}"))
        })?;
        if id.is_guest() {
            return Err(IdentifyError::Internal(format!(
                "the host's user id {id:?} starts with {:?}, which is reserved for guests",
                orders_core::ids::GUEST_PREFIX
            )));
        }
        Ok(Self {
            id,
            email: email.into(),
            is_staff,
        })
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The email is personal data: keep it out of debug logs.
        f.debug_struct("Caller")
            .field("id", &self.id)
            .field("is_staff", &self.is_staff)
            .finish_non_exhaustive()
    }
}

/// The host could not decide who the caller is (its user store failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifyError {
    /// The user store is unreachable: answered 503 with `Retry-After`.
    #[error("the identity store is unavailable")]
    Unavailable,
    /// Anything else: answered 500; the message is logged, not sent.
    #[error("identity lookup failed: {0}")]
    Internal(String),
}

impl From<IdentifyError> for ApiError {
    fn from(error: IdentifyError) -> Self {
        match error {
            IdentifyError::Unavailable => ApiError::unavailable(),
            IdentifyError::Internal(message) => ApiError::internal(message),
        }
    }
}

/// A host's own boxed error (what its user store's functions return):
/// [`IdentifyError::Internal`], logged and answered 500, so an
/// [`Identify`] implementation can use `?` on them.
///
/// ```
/// use orders_axum::IdentifyError;
///
/// fn lookup() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     Err("the session table is unreadable".into())
/// }
/// fn identify() -> Result<(), IdentifyError> {
///     Ok(lookup()?)
/// }
/// assert!(matches!(identify(), Err(IdentifyError::Internal(m)) if m.contains("unreadable")));
/// ```
impl From<Box<dyn std::error::Error + Send + Sync>> for IdentifyError {
    fn from(error: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Self::Internal(error.to_string())
    }
}

/// Turns a bearer token into a caller. Implemented by the host.
///
/// ```
/// use orders_axum::{Caller, Identify, IdentifyError};
/// use orders_core::ids::CustomerId;
///
/// struct OneUser;
///
/// #[async_trait::async_trait]
/// impl Identify for OneUser {
///     async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
///         Ok((token == "secret").then(|| Caller {
///             id: CustomerId::parse("u1").unwrap(),
///             email: "ada@example.com".into(),
///             is_staff: false,
///         }))
///     }
/// }
/// ```
#[async_trait]
pub trait Identify: Send + Sync + 'static {
    /// The caller `token` belongs to; `Ok(None)` for an unknown, expired or
    /// revoked token (answered 401).
    ///
    /// # Errors
    /// [`IdentifyError`] when the host cannot tell (answered 503 or 500).
    async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError>;

    /// The caller of a request, from its parts (headers, cookies,
    /// extensions such as a client certificate a TLS layer put there) and
    /// the `token` the API found in it: the bearer header, and on websocket
    /// routes `?access_token=` or (feature `web`) the session cookie of a
    /// same-origin page. `Ok(None)` answers 401.
    ///
    /// By default, [`identify`](Self::identify) with the token, and nobody
    /// without one. A host that authenticates otherwise (its own cookie
    /// sessions, API keys, mTLS) overrides this and reads `parts`; a token
    /// it does not use may then be `None`. The admin panel (feature
    /// `admin`) asks this too, with its session cookie's token.
    ///
    /// ```
    /// use axum::http::request::Parts;
    /// use orders_axum::{Caller, Identify, IdentifyError};
    /// use orders_core::ids::CustomerId;
    ///
    /// /// Callers sign each request with an API key header.
    /// struct ApiKeys;
    ///
    /// #[orders_axum::async_trait]
    /// impl Identify for ApiKeys {
    ///     async fn identify(&self, _token: &str) -> Result<Option<Caller>, IdentifyError> {
    ///         Ok(None) // no bearer tokens here
    ///     }
    ///
    ///     async fn identify_request(
    ///         &self,
    ///         parts: &Parts,
    ///         _token: Option<&str>,
    ///     ) -> Result<Option<Caller>, IdentifyError> {
    ///         let key = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok());
    ///         Ok((key == Some("key-of-ada")).then(|| Caller {
    ///             id: CustomerId::parse("ada").unwrap(),
    ///             email: "ada@example.com".into(),
    ///             is_staff: false,
    ///         }))
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// [`IdentifyError`] when the host cannot tell (answered 503 or 500).
    async fn identify_request(
        &self,
        parts: &Parts,
        token: Option<&str>,
    ) -> Result<Option<Caller>, IdentifyError> {
        let _ = parts;
        match token {
            Some(token) => self.identify(token).await,
            None => Ok(None),
        }
    }

    /// How the admin panel names the host's user `id` where it shows who
    /// acted on an order (a timeline entry, a note's author): their email,
    /// say. By default `Ok(None)`, and the panel shows "staff" and the id
    /// as the engine recorded it.
    ///
    /// # Errors
    /// [`IdentifyError`] when the host cannot tell (the panel then shows
    /// the id).
    async fn label(&self, id: &CustomerId) -> Result<Option<String>, IdentifyError> {
        let _ = id;
        Ok(None)
    }
}

#[async_trait]
impl<T: Identify + ?Sized> Identify for Arc<T> {
    async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
        (**self).identify(token).await
    }

    async fn identify_request(
        &self,
        parts: &Parts,
        token: Option<&str>,
    ) -> Result<Option<Caller>, IdentifyError> {
        (**self).identify_request(parts, token).await
    }

    async fn label(&self, id: &CustomerId) -> Result<Option<String>, IdentifyError> {
        (**self).label(id).await
    }
}

/// Gives extractors access to the host's [`Identify`].
pub(crate) trait HasIdentify {
    fn identifier(&self) -> &dyn Identify;

    /// The cookie whose value a same-origin page's websocket may present
    /// as its token (feature `web`); `None` accepts no cookie.
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    fn socket_cookie(&self) -> Option<&str> {
        None
    }
}

/// The token of an `Authorization: Bearer TOKEN` header, if well-formed.
/// The scheme is matched without regard to case (`bearer`, `BEARER`), as
/// RFC 7235 says; the token is trimmed. Every route of the library reads
/// its token with this, and a host's own routes (logout) should too.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use orders_axum::bearer_token;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc"));
/// assert_eq!(bearer_token(&headers), Some("abc"));
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The bearer token of a request's `Authorization`, if well-formed.
pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    bearer_token(&parts.headers)
}

/// Closes the websockets of a token that stopped working.
///
/// A tracking or admin-stream websocket is opened with a token and then
/// outlives the request that checked it. When the host ends a session
/// (logout), it calls [`revoked`](Self::revoked) with the token, and every
/// socket of this process opened with it closes with code 4001
/// ([`CLOSE_SESSION_ENDED`]). Sockets also ask the host's [`Identify`]
/// again at every ping, so a token revoked on another instance, or
/// expired, closes its sockets within one ping interval.
///
/// Get the API's handle with [`Api::revocation_handle`](crate::Api::revocation_handle),
/// or make one first and give it to the API with
/// [`Api::revocations`](crate::Api::revocations). Clones share one channel.
#[derive(Debug, Clone)]
pub struct Revocations(Arc<broadcast::Sender<Arc<str>>>);

/// Close code of a websocket whose token was revoked (logout) or expired.
pub const CLOSE_SESSION_ENDED: u16 = 4001;

impl Default for Revocations {
    fn default() -> Self {
        Self::new()
    }
}

impl Revocations {
    /// A new channel. Sockets that fall more than 256 revocations behind
    /// ask [`Identify`] about their token instead of missing one.
    pub fn new() -> Self {
        Self(Arc::new(broadcast::channel(256).0))
    }

    /// Closes every open socket of `token` (code 4001). Call it after the
    /// token stopped identifying anyone.
    pub fn revoked(&self, token: &str) {
        // No receiver (no socket open) is not an error.
        let _ = self.0.send(Arc::from(token));
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.0.subscribe()
    }
}

/// The `access_token` query parameter, if any.
pub(crate) fn query_token(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    crate::query::pairs(query)
        .into_iter()
        .find(|(key, _)| key == "access_token")
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The caller of the request `parts` (with the `token` found in it), or
/// 401.
pub(crate) async fn identify(
    identifier: &dyn Identify,
    parts: &Parts,
    token: Option<&str>,
) -> Result<Caller, ApiError> {
    identifier
        .identify_request(parts, token)
        .await?
        .ok_or_else(ApiError::unauthorized)
}

/// Any authenticated caller (the customer routes). Rejects with 401.
#[derive(Debug, Clone)]
pub(crate) struct Customer(pub(crate) Caller);

impl<S: HasIdentify + Send + Sync> FromRequestParts<S> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        identify(state.identifier(), parts, bearer(parts))
            .await
            .map(Self)
    }
}

/// A staff caller (the `/admin` routes). Rejects with 401, or 403 for a
/// customer.
#[derive(Debug, Clone)]
pub(crate) struct Staff(pub(crate) Caller);

impl<S: HasIdentify + Send + Sync> FromRequestParts<S> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = identify(state.identifier(), parts, bearer(parts)).await?;
        if caller.is_staff {
            Ok(Self(caller))
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// Any authenticated caller of a websocket route: the bearer header, or
/// else `?access_token=`, or else (feature `web`) the session cookie of a
/// same-origin page ([`Api::socket_session_cookie`](crate::Api::socket_session_cookie)). Holds the token too, so the socket can close when it
/// is revoked.
#[derive(Clone)]
pub(crate) struct SocketCaller(pub(crate) Caller, pub(crate) String);

impl std::fmt::Debug for SocketCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SocketCaller")
            .field(&self.0)
            .field(&"***")
            .finish()
    }
}

impl<S: HasIdentify + Send + Sync> FromRequestParts<S> for SocketCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let from_query = query_token(parts);
        let token = bearer(parts).or(from_query.as_deref());
        // A page's script cannot read the HttpOnly session cookie, but the
        // browser sends it with the upgrade: accept it from a same-origin
        // page only (websockets are outside SameSite and CORS).
        #[cfg(feature = "web")]
        let token = token.or_else(|| {
            let name = state.socket_cookie()?;
            crate::web::session::same_origin(&parts.headers)
                .then(|| crate::web::session::cookie(&parts.headers, name))
                .flatten()
        });
        let caller = identify(state.identifier(), parts, token).await?;
        Ok(Self(caller, token.unwrap_or_default().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(authorization: Option<&str>, uri: &str) -> Parts {
        let mut request = Request::builder().uri(uri);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer(&parts(Some("Bearer abc"), "/")), Some("abc"));
        assert_eq!(bearer(&parts(Some("bearer  abc "), "/")), Some("abc"));
        assert_eq!(bearer(&parts(Some("BEARER abc"), "/")), Some("abc"));
        assert_eq!(bearer(&parts(Some("Basic abc"), "/")), None);
        assert_eq!(bearer(&parts(Some("Bearer "), "/")), None);
        assert_eq!(bearer(&parts(None, "/")), None);
        assert_eq!(
            query_token(&parts(None, "/x?after=1&access_token=a%2Bb")),
            Some("a+b".to_owned())
        );
        assert_eq!(query_token(&parts(None, "/x?access_token=")), None);
    }

    #[test]
    fn identify_errors_are_503_or_500() {
        let unavailable = ApiError::from(IdentifyError::Unavailable);
        assert_eq!(unavailable.status().as_u16(), 503);
        let internal = ApiError::from(IdentifyError::Internal("db password wrong".into()));
        assert_eq!(internal.status().as_u16(), 500);
        assert!(!internal.to_json().to_string().contains("password"));
    }
}
