//! This host's `/api/auth/*` routes (register, login, logout) with their
//! OpenAPI paths, and [`Host`], the sign-in and registration rules they
//! share with the pages.
//!
//! Abuse limits (all in [`AuthSettings`]):
//! - sign-in failures are counted in the database per (account email,
//!   client address) pair: after a few free failures each further attempt
//!   from that pair waits 1 s, 2 s, 4 s … (capped), answered 429 with
//!   `Retry-After` until then; a success clears the pair. The owner from
//!   another address is unaffected. A generous count per address across
//!   accounts slows credential stuffing the same way. Every instance on one
//!   database shares the counts;
//! - registrations are limited per client address per hour (429);
//! - password hashing has separate slots for sign-ins and registrations,
//!   and registrations wait in a bounded queue (beyond it: 503 at once),
//!   so a registration flood does not hold up sign-ins.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use orders_axum::web::{SignIn, SignInOutcome};
use orders_axum::{ApiError, IdentifyError, JsonBody, Revocations};
use orders_core::checkout::Email;
use serde::Serialize;
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};

use crate::accounts::{Claim, User, UserError, Users};
pub use crate::auth_forms::{FORM_BODIES, Login, Registration};
use crate::config::AuthSettings;
use crate::credentials::{self, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, RegistrationLimit};
pub use crate::sessions::{Sessions, TOKEN_CACHE_TTL};

/// The window of the registration limit per address.
pub const REGISTRATION_WINDOW: Duration = Duration::from_secs(3600);
/// `Retry-After` of a registration refused because the hashing queue is full.
const BUSY_RETRY_SECS: u32 = 2;
/// The email key of an address's failure count across accounts.
const ANY_ACCOUNT: &str = "";

/// Password hashing slots: each argon2id hash takes 19 MiB and a core for
/// tens of milliseconds, so hashes queue here instead of taking every core
/// and hundreds of megabytes. Sign-ins and registrations have slots of
/// their own; registrations also have a bounded queue.
struct Hashing {
    logins: Semaphore,
    registrations: Semaphore,
    /// Registrations hashing or waiting to: beyond, 503.
    registration_queue: Semaphore,
}

/// The host's state for its routes.
#[derive(Clone)]
pub struct Host {
    users: Users,
    sessions: Sessions,
    settings: Arc<AuthSettings>,
    registrations: Arc<RegistrationLimit>,
    hashing: Arc<Hashing>,
    revocations: Revocations,
}

/// The slot pool a hash runs in.
#[derive(Debug, Clone, Copy)]
enum Pool {
    Login,
    Registration,
}

impl Host {
    /// State over `users` with the default limits, sharing the token cache
    /// of `sessions` (so logout takes effect at once).
    pub fn new(users: Users, sessions: &Sessions) -> Self {
        Self::with_settings(users, sessions, &AuthSettings::default())
    }

    /// State over `users` with the limits of `settings`.
    pub fn with_settings(users: Users, sessions: &Sessions, settings: &AuthSettings) -> Self {
        let hashing = Hashing {
            logins: Semaphore::new(settings.login_hashes),
            registrations: Semaphore::new(settings.registration_hashes),
            registration_queue: Semaphore::new(
                settings.registration_hashes + settings.registration_queue,
            ),
        };
        Self {
            users,
            sessions: sessions.clone(),
            settings: Arc::new(settings.clone()),
            registrations: Arc::new(RegistrationLimit::new(
                settings.registrations_per_hour,
                REGISTRATION_WINDOW,
            )),
            hashing: Arc::new(hashing),
            revocations: Revocations::new(),
        }
    }

    /// The handle that closes a logged-out token's websockets: give it to
    /// the API ([`orders_axum::Api::revocations`]).
    pub fn revocations(&self) -> Revocations {
        self.revocations.clone()
    }

    /// The routes, relative to the API's mount point.
    pub fn routes(self) -> Router {
        Router::new()
            .route("/auth/register", post(register))
            .route("/auth/login", post(login))
            .route("/auth/logout", post(logout))
            .with_state(self)
    }

    /// Deletes expired tokens and stale failure counts every `every`, for
    /// as long as the process runs.
    pub fn sweep_every(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let users = self.users.clone();
        let forget = self
            .settings
            .login_backoff
            .forget_ms
            .max(self.settings.address_backoff.forget_ms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match users.sweep(forget).await {
                    Ok((tokens, failures)) => {
                        tracing::debug!(
                            tokens,
                            failures,
                            "expired tokens and failure counts swept"
                        );
                    }
                    Err(error) => tracing::warn!(%error, "sweeping expired tokens failed"),
                }
            }
        })
    }

    /// Runs an argon2 computation on the blocking pool, in `pool`'s slots.
    async fn hashing<T: Send + 'static>(
        &self,
        pool: Pool,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let slots = match pool {
            Pool::Login => &self.hashing.logins,
            Pool::Registration => &self.hashing.registrations,
        };
        let _permit = slots
            .acquire()
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))
    }
}

/// A signed-in session.
#[derive(Serialize, ToSchema)]
pub struct Session {
    /// The bearer token for `Authorization: Bearer TOKEN`.
    token: String,
    /// The account.
    user: UserView,
}

/// An account as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    /// Its id.
    id: String,
    /// Its email (lowercased, Unicode NFC).
    email: String,
    /// Whether it may use the admin routes.
    is_staff: bool,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email,
            is_staff: user.is_staff,
        }
    }
}

fn storage_error(error: UserError) -> ApiError {
    if error.is_unavailable() {
        ApiError::unavailable()
    } else {
        ApiError::internal(error.to_string())
    }
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err("must be at least 8 characters")
    } else if chars > MAX_PASSWORD_CHARS {
        Err("must be at most 1024 characters")
    } else {
        Ok(())
    }
}

/// Creates a customer account and signs it in.
#[utoipa::path(
    post, path = "/auth/register", tag = "auth",
    responses(
        (status = 201, description = "Account created", body = Session),
        (status = 409, description = "Email taken (addresses differing only in case or Unicode normalisation are one)", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email (control characters included) or short password", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many registrations from this client address; `Retry-After` says when to try again", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many registrations waiting; `Retry-After` says when to try again", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Not a JSON object", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = orders_axum::Problem, content_type = "application/problem+json"),
    )
)]
async fn register(
    State(host): State<Host>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<Registration>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let (email, password) = body
        .validate(Registration::validate)
        .map_err(ApiError::validation)?;
    let (user, token) = host
        .register(email.as_str(), password, Some(peer.ip()))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Session {
            token,
            user: user.into(),
        }),
    ))
}

fn too_many_attempts(retry_after_secs: u32) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "Too many login attempts",
    )
    .with_retry_after(retry_after_secs)
}

/// Signs in and returns a new token.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth",
    responses(
        (status = 200, description = "Signed in", body = Session),
        (status = 401, description = "Wrong email or password (an email that is not a valid address, control characters included, is a wrong email)", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts from this client address for this account (or for any account); `Retry-After` says when to try again", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or mistyped field", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Not a JSON object", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = orders_axum::Problem, content_type = "application/problem+json"),
    )
)]
async fn login(
    State(host): State<Host>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<Login>,
) -> Result<Json<Session>, ApiError> {
    let (email, password) = body
        .validate(Login::validate)
        .map_err(ApiError::validation)?;
    match host.authenticate(&email, password, Some(peer.ip())).await? {
        Authenticated::Session(user, token) => Ok(Json(Session {
            token,
            user: user.into(),
        })),
        Authenticated::Refused => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "Wrong email or password",
        )),
        Authenticated::Limited(seconds) => Err(too_many_attempts(seconds)),
    }
}

/// What a sign-in attempt came to.
pub enum Authenticated {
    /// The password matched: the user and a new token.
    Session(User, String),
    /// Wrong email or password.
    Refused,
    /// Too many failed attempts from this address: retry after this many
    /// seconds.
    Limited(u32),
}

fn wait_secs(ms: i64) -> u32 {
    u32::try_from((ms.max(1) + 999) / 1000).unwrap_or(u32::MAX)
}

impl Host {
    /// Checks `email` and `password` under the sign-in backoff (per
    /// account and client address, and per address) and issues a token
    /// when they match. Shared by `POST /auth/login` and the pages'
    /// sign-in forms, so both count against one limit.
    ///
    /// An email that is not a valid address (a NUL or another control
    /// character, say) is refused like a wrong password, before any
    /// database query: no account can have it.
    ///
    /// # Errors
    /// 503 when the user store is down.
    pub async fn authenticate(
        &self,
        email: &str,
        password: String,
        peer: Option<IpAddr>,
    ) -> Result<Authenticated, ApiError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(Authenticated::Refused);
        };
        let account = email.canonical();
        let address = peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let settings = &self.settings;
        for (key, backoff) in [
            (account.as_str(), &settings.login_backoff),
            (ANY_ACCOUNT, &settings.address_backoff),
        ] {
            match self
                .users
                .claim_attempt(key, &address, backoff)
                .await
                .map_err(storage_error)?
            {
                Claim::Allowed => {}
                Claim::Wait(ms) => return Ok(Authenticated::Limited(wait_secs(ms))),
            }
        }
        let found = self.users.by_email(&email).await.map_err(storage_error)?;
        // Verify against a real hash even for an unknown email, so the answer
        // takes as long either way and does not reveal which emails exist.
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, dummy_hash().to_owned()),
        };
        let matches = self
            .hashing(Pool::Login, move || {
                credentials::verify_password(&password, &hash)
            })
            .await?;
        let Some(user) = user.filter(|_| matches) else {
            // The claimed attempt stays counted as a failure.
            return Ok(Authenticated::Refused);
        };
        self.users
            .clear_failures(&account, &address)
            .await
            .map_err(storage_error)?;
        self.users
            .forgive_one(ANY_ACCOUNT, &address)
            .await
            .map_err(storage_error)?;
        let token = self
            .users
            .issue_token(&user, self.sessions.lifetime_ms())
            .await
            .map_err(storage_error)?;
        Ok(Authenticated::Session(user, token))
    }

    /// Creates a customer account and signs it in: the rules of
    /// `POST /auth/register`, shared with the pages' form. `peer` is the
    /// client's address, for the registration limit.
    ///
    /// # Errors
    /// 422 with field errors on `email` and `password`, 409 for an email
    /// already taken (an error on `email`), 429 past the registrations of
    /// this address, 503 when too many registrations wait to be hashed or
    /// the store is down.
    pub async fn register(
        &self,
        email: &str,
        password: String,
        peer: Option<IpAddr>,
    ) -> Result<(User, String), ApiError> {
        let (email, password) = Registration {
            email: Some(email.to_owned()),
            password: Some(password),
        }
        .validate()
        .map_err(ApiError::validation)?;
        let address = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        if let Err(seconds) = self.registrations.check(address, Instant::now()) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_registrations",
                "Too many registrations from this address",
            )
            .with_retry_after(seconds));
        }
        let Ok(_queued) = self.hashing.registration_queue.try_acquire() else {
            self.registrations.refund(address);
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Too many registrations at once",
            )
            .with_detail("try again in a moment")
            .with_retry_after(BUSY_RETRY_SECS));
        };
        let hash = self
            .hashing(Pool::Registration, move || {
                credentials::hash_password(&password)
            })
            .await?
            .map_err(ApiError::internal)?;
        let user = match self.users.register(&email, &hash, false).await {
            Ok(user) => user,
            Err(UserError::EmailTaken) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "email_taken",
                    "An account with this email exists",
                )
                .with_errors(orders_core::validation::ValidationErrors::single(
                    "email",
                    "already registered",
                )));
            }
            Err(e) => return Err(storage_error(e)),
        };
        let token = self
            .users
            .issue_token(&user, self.sessions.lifetime_ms())
            .await
            .map_err(storage_error)?;
        Ok((user, token))
    }

    /// Revokes `token` (logout): in the database, in the cache, and its
    /// open websockets close with 4001. Whether it was a live token.
    ///
    /// # Errors
    /// 503 when the store is down.
    pub async fn revoke(&self, token: &str) -> Result<bool, ApiError> {
        let live = self.users.revoke(token).await.map_err(storage_error)?;
        self.sessions.forget(token);
        self.revocations.revoked(token);
        Ok(live)
    }
}

#[async_trait::async_trait]
impl SignIn for Host {
    async fn sign_in(
        &self,
        email: &str,
        password: &str,
        peer: Option<IpAddr>,
    ) -> Result<SignInOutcome, IdentifyError> {
        let outcome = self
            .authenticate(email, password.to_owned(), peer)
            .await
            .map_err(api_to_identify)?;
        Ok(match outcome {
            Authenticated::Session(_user, token) => SignInOutcome::Session { token },
            Authenticated::Refused => SignInOutcome::Refused,
            Authenticated::Limited(retry_after_secs) => SignInOutcome::Limited { retry_after_secs },
        })
    }

    async fn sign_out(&self, token: &str) -> Result<(), IdentifyError> {
        self.revoke(token).await.map(drop).map_err(api_to_identify)
    }
}

fn api_to_identify(error: ApiError) -> IdentifyError {
    if error.status() == StatusCode::SERVICE_UNAVAILABLE {
        IdentifyError::Unavailable
    } else {
        IdentifyError::Internal(error.to_string())
    }
}

fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| credentials::hash_password("not a real password").unwrap_or_default())
}

/// Revokes the token it is called with; its open websockets close (4001).
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Token revoked"),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = orders_axum::Problem, content_type = "application/problem+json"),
    )
)]
async fn logout(State(host): State<Host>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let token = orders_axum::bearer_token(&headers).ok_or_else(ApiError::unauthorized)?;
    if host.revoke(token).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::unauthorized())
    }
}

/// The OpenAPI paths of the auth routes.
#[derive(OpenApi)]
#[openapi(paths(register, login, logout), components(schemas(Session, UserView)))]
pub struct AuthDoc;
