//! How a page signs a user in: the host's answer, through [`SignIn`].

use std::net::IpAddr;

use async_trait::async_trait;

use crate::IdentifyError;

/// The outcome of a sign-in attempt. Its `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub enum SignInOutcome {
    /// Signed in: `token` is what the host's [`Identify`](crate::Identify)
    /// accepts; it goes into the session cookie, and `Identify` says who
    /// it is (the panel lets only staff keep it).
    Session {
        /// The new session's token (secret: never log it).
        token: String,
    },
    /// Wrong email or password (the page does not say which).
    Refused,
    /// Too many attempts: try again after this many seconds.
    Limited {
        /// Seconds until the next attempt may succeed.
        retry_after_secs: u32,
    },
}

impl SignInOutcome {
    /// A session opened with `token`. (A host's own sign-in that answers
    /// `Option<token>` converts with `.into()`: `None` is
    /// [`Refused`](Self::Refused).)
    ///
    /// ```
    /// use orders_axum::web::SignInOutcome;
    ///
    /// let opened: SignInOutcome = Some("t0k3n".to_owned()).into();
    /// assert_eq!(opened, SignInOutcome::session("t0k3n"));
    /// assert_eq!(SignInOutcome::from(None), SignInOutcome::Refused);
    /// ```
    pub fn session(token: impl Into<String>) -> Self {
        Self::Session {
            token: token.into(),
        }
    }
}

/// A host's own sign-in that answers the new session's token, or `None`
/// for a wrong email or password: `Ok(users.login(email, password).into())`.
impl From<Option<String>> for SignInOutcome {
    fn from(token: Option<String>) -> Self {
        token.map_or(Self::Refused, Self::session)
    }
}

impl std::fmt::Debug for SignInOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Session { .. } => f.debug_struct("Session").field("token", &"***").finish(),
            Self::Refused => f.write_str("Refused"),
            Self::Limited { retry_after_secs } => f
                .debug_struct("Limited")
                .field("retry_after_secs", retry_after_secs)
                .finish(),
        }
    }
}

/// What [`SignIn::sign_in`] returns.
pub type SignInResult = Result<SignInOutcome, IdentifyError>;

/// Checks credentials and opens sessions. Implemented by the host, which
/// owns users, password hashes and rate limits.
///
/// ```
/// use std::net::IpAddr;
/// use orders_axum::web::{SignIn, SignInOutcome};
/// use orders_axum::IdentifyError;
///
/// struct NoOne;
///
/// #[async_trait::async_trait]
/// impl SignIn for NoOne {
///     async fn sign_in(&self, _: &str, _: &str, _: Option<IpAddr>) -> Result<SignInOutcome, IdentifyError> {
///         Ok(SignInOutcome::Refused)
///     }
///     async fn sign_out(&self, _: &str) -> Result<(), IdentifyError> {
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait SignIn: Send + Sync + 'static {
    /// Checks `email` and `password` (from the client at `peer`, for rate
    /// limits) and, if they match, opens a session.
    ///
    /// # Errors
    /// [`IdentifyError`] when the host cannot tell (its store is down).
    async fn sign_in(&self, email: &str, password: &str, peer: Option<IpAddr>) -> SignInResult;

    /// Ends the session of `token`: it MUST stop identifying anyone.
    ///
    /// # Errors
    /// [`IdentifyError`] when the host's store is down.
    async fn sign_out(&self, token: &str) -> Result<(), IdentifyError>;
}

#[async_trait]
impl<T: SignIn + ?Sized> SignIn for std::sync::Arc<T> {
    async fn sign_in(&self, email: &str, password: &str, peer: Option<IpAddr>) -> SignInResult {
        (**self).sign_in(email, password, peer).await
    }

    async fn sign_out(&self, token: &str) -> Result<(), IdentifyError> {
        (**self).sign_out(token).await
    }
}
