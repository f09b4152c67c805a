//! This host's HTTP pieces: who a bearer token is ([`Identify`]), and the
//! `/api/auth/*` routes (register, login, logout) with their OpenAPI paths.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Json, Router};
use orders_axum::web::{SignIn, SignInOutcome};
use orders_axum::{
    ApiError, Caller, FieldSpec, Identify, IdentifyError, JsonBody, JsonType, RequestBody,
};
use orders_core::checkout::Email;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};

use crate::auth::{self, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, RateLimit};
use crate::users::{User, UserError, Users};

/// Failed logins allowed per address and per email in [`LOGIN_WINDOW`].
pub const LOGIN_ATTEMPTS: usize = 10;
/// The window of the login rate limit.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(300);

/// How long a looked-up token is trusted before it is looked up again. A
/// token revoked on this instance stops working at once; one revoked on
/// another instance works here for at most this long.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);
/// Most tokens the cache holds.
const TOKEN_CACHE_MAX: usize = 100_000;
/// Password hashes computed at once: each argon2id hash takes 19 MiB and a
/// core for tens of milliseconds, so a burst of logins queues here instead
/// of taking every core and hundreds of megabytes.
const CONCURRENT_HASHES: usize = 2;

/// Who recent tokens belong to, keyed by the token's hash: most requests
/// then need no database round trip to say who is calling.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Caller, Instant)>>,
}

impl TokenCache {
    fn get(&self, key: &str, now: Instant) -> Option<Caller> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(_, at)| now.duration_since(*at) < TOKEN_CACHE_TTL)
            .map(|(caller, _)| caller.clone())
    }

    fn put(&self, key: String, caller: Caller, now: Instant) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= TOKEN_CACHE_MAX {
            entries.retain(|_, (_, at)| now.duration_since(*at) < TOKEN_CACHE_TTL);
            if entries.len() >= TOKEN_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(key, (caller, now));
    }

    fn remove(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

/// The host's state for its routes.
#[derive(Clone)]
pub struct Host {
    users: Users,
    limit: Arc<RateLimit>,
    tokens: Arc<TokenCache>,
    hashing: Arc<Semaphore>,
}

impl Host {
    /// State over `users` with the default login rate limit, sharing the
    /// token cache of `sessions` (so logout takes effect at once).
    pub fn new(users: Users, sessions: &Sessions) -> Self {
        Self {
            users,
            limit: Arc::new(RateLimit::new(LOGIN_ATTEMPTS, LOGIN_WINDOW)),
            tokens: sessions.cache.clone(),
            hashing: Arc::new(Semaphore::new(CONCURRENT_HASHES)),
        }
    }

    /// The routes, relative to the API's mount point.
    pub fn routes(self) -> Router {
        Router::new()
            .route("/auth/register", post(register))
            .route("/auth/login", post(login))
            .route("/auth/logout", post(logout))
            .with_state(self)
    }

    /// Runs an argon2 computation on the blocking pool, a few at a time.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))
    }
}

/// Tokens are looked up in the users table, through a short-lived cache.
#[derive(Clone)]
pub struct Sessions {
    users: Users,
    cache: Arc<TokenCache>,
}

impl Sessions {
    /// Sessions over `users`.
    pub fn new(users: Users) -> Self {
        Self {
            users,
            cache: Arc::default(),
        }
    }
}

#[async_trait::async_trait]
impl Identify for Sessions {
    async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
        let key = auth::token_hash(token);
        let now = Instant::now();
        if let Some(caller) = self.cache.get(&key, now) {
            return Ok(Some(caller));
        }
        match self.users.by_token(token).await {
            Ok(Some(u)) => {
                let caller = Caller {
                    id: u.id,
                    email: u.email,
                    is_staff: u.is_staff,
                };
                self.cache.put(key, caller.clone(), now);
                Ok(Some(caller))
            }
            Ok(None) => Ok(None),
            Err(e) if e.is_unavailable() => Err(IdentifyError::Unavailable),
            Err(e) => Err(IdentifyError::Internal(e.to_string())),
        }
    }
}

/// Email and password.
#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    /// The account's email.
    email: String,
    /// At least 8 characters.
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("password", &"***")
            .finish_non_exhaustive()
    }
}

impl RequestBody for Credentials {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::required("email", JsonType::String),
        FieldSpec::required("password", JsonType::String),
    ];
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
    /// Its email.
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
    post, path = "/auth/register", tag = "auth", request_body = Credentials,
    responses(
        (status = 201, description = "Account created", body = Session),
        (status = 409, description = "Email taken", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email or short password", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Not a JSON object", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = orders_axum::Problem, content_type = "application/problem+json"),
    )
)]
async fn register(
    State(host): State<Host>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let (user, token) = host.register(&body.email, body.password).await?;
    Ok((
        StatusCode::CREATED,
        Json(Session {
            token,
            user: user.into(),
        }),
    ))
}

/// Signs in and returns a new token.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = Session),
        (status = 401, description = "Wrong email or password", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or mistyped field", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Not a JSON object", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = orders_axum::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = orders_axum::Problem, content_type = "application/problem+json"),
    )
)]
async fn login(
    State(host): State<Host>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Json<Session>, ApiError> {
    match host
        .authenticate(&body.email, body.password, Some(peer.ip()))
        .await?
    {
        Authenticated::Session(user, token) => Ok(Json(Session {
            token,
            user: user.into(),
        })),
        Authenticated::Refused => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "Wrong email or password",
        )),
        Authenticated::Limited => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "Too many login attempts",
        )
        .with_retry_after(LOGIN_WINDOW.as_secs() as u32)),
    }
}

/// What a sign-in attempt came to.
pub enum Authenticated {
    /// The password matched: the user and a new token.
    Session(User, String),
    /// Wrong email or password.
    Refused,
    /// Too many failed attempts for this address or email.
    Limited,
}

impl Host {
    /// Checks `email` and `password` under the login rate limit (per
    /// address, when `peer` is known, and per email) and issues a token
    /// when they match. Shared by `POST /auth/login` and the pages' sign-in
    /// forms, so both count against one limit.
    ///
    /// # Errors
    /// 503 when the user store is down.
    pub async fn authenticate(
        &self,
        email: &str,
        password: String,
        peer: Option<IpAddr>,
    ) -> Result<Authenticated, ApiError> {
        let address = peer.map(|ip| format!("ip:{ip}"));
        let email_key = format!("email:{}", email.trim().to_lowercase());
        let keys: Vec<&str> = address
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(email_key.as_str()))
            .collect();
        if !self.limit.check(&keys, Instant::now()) {
            return Ok(Authenticated::Limited);
        }
        let found = self.users.by_email(email).await.map_err(storage_error)?;
        // Verify against a real hash even for an unknown email, so the answer
        // takes as long either way and does not reveal which emails exist.
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, dummy_hash().to_owned()),
        };
        let matches = self
            .hashing(move || auth::verify_password(&password, &hash))
            .await?;
        let Some(user) = user.filter(|_| matches) else {
            return Ok(Authenticated::Refused);
        };
        self.limit.forgive(&keys);
        let token = self.users.issue_token(&user).await.map_err(storage_error)?;
        Ok(Authenticated::Session(user, token))
    }

    /// Creates a customer account and signs it in: the rules of
    /// `POST /auth/register`, shared with the pages' form.
    ///
    /// # Errors
    /// 422 with field errors on `email` and `password`, 409 for an email
    /// already taken (an error on `email`), 503 when the store is down.
    pub async fn register(
        &self,
        email: &str,
        password: String,
    ) -> Result<(User, String), ApiError> {
        let mut errors = orders_core::validation::ValidationErrors::new();
        let email = errors.check("email", Email::parse(email));
        errors.check("password", check_password(&password));
        let Some(email) = email.filter(|_| errors.is_empty()) else {
            return Err(ApiError::validation(errors));
        };
        let hash = self
            .hashing(move || auth::hash_password(&password))
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
        let token = self.users.issue_token(&user).await.map_err(storage_error)?;
        Ok((user, token))
    }

    /// Revokes `token` here and in the cache (logout).
    ///
    /// # Errors
    /// 503 when the store is down.
    pub async fn revoke(&self, token: &str) -> Result<(), ApiError> {
        self.users.revoke(token).await.map_err(storage_error)?;
        self.tokens.remove(&auth::token_hash(token));
        Ok(())
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
            Authenticated::Session(user, token) => SignInOutcome::Session {
                caller: Caller {
                    id: user.id,
                    email: user.email,
                    is_staff: user.is_staff,
                },
                token,
            },
            Authenticated::Refused => SignInOutcome::Refused,
            Authenticated::Limited => SignInOutcome::Limited {
                retry_after_secs: LOGIN_WINDOW.as_secs() as u32,
            },
        })
    }

    async fn sign_out(&self, token: &str) -> Result<(), IdentifyError> {
        self.revoke(token).await.map_err(api_to_identify)
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
    HASH.get_or_init(|| auth::hash_password("not a real password").unwrap_or_default())
}

/// Revokes the token it is called with.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Token revoked"),
        (status = 401, description = "No token", body = orders_axum::Problem, content_type = "application/problem+json"),
    )
)]
async fn logout(State(host): State<Host>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    host.revoke(token.trim()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI paths of the auth routes.
#[derive(OpenApi)]
#[openapi(
    paths(register, login, logout),
    components(schemas(Credentials, Session, UserView))
)]
pub struct AuthDoc;
