//! # orders-axum
//!
//! The HTTP face of [`orders_core`]: the JSON API (the [route table](#routes)
//! below; sign-up and login belong to the host), the websocket tracking
//! feeds and the OpenAPI 3.1 document, as an [`axum::Router`] a host nests
//! wherever it likes.
//!
//! The library keeps no users. Who the caller is comes from the host
//! through [`Identify`]: the router hands it the bearer token and gets a
//! [`Caller`] back. The host's own routes (register, login) can share the
//! API's conventions: [`ApiError`] for problem+json errors, [`JsonBody`]
//! for bodies with the same 400/413/415/422 rejections, and
//! [`Api::routes`] to mount them inside the API router so they get the same
//! 404/405 handling, request ids and tracing; [`Api::merge_openapi`] adds
//! their paths to the served document.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use axum::Router;
//! use axum::routing::post;
//! use orders_axum::{Api, Caller, Identify, IdentifyError};
//! use orders_core::{Orders, memory::MemoryStore};
//!
//! struct Sessions; // the host's users and tokens
//!
//! #[async_trait::async_trait]
//! impl Identify for Sessions {
//!     async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
//!         Ok(None) // look the token up in the host's session table
//!     }
//! }
//!
//! async fn login() -> &'static str { "…" }
//!
//! # async fn run() -> std::io::Result<()> {
//! let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
//! let api = Api::new(orders, Sessions)
//!     .body_limit(64 * 1024)
//!     // The host's auth routes, relative to the mount path, like the API's.
//!     .routes(Router::new().route("/auth/login", post(login)));
//! let shutdown = api.shutdown_handle();
//! let app = Router::new().nest("/api", api.router());
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app)
//!     .with_graceful_shutdown(async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         shutdown.shutdown(); // open websockets close with 1001
//!     })
//!     .await
//! # }
//! ```
//!
//! ## Ending sessions
//!
//! A websocket outlives the request that checked its token. When the host
//! logs a token out it calls [`Revocations::revoked`] (the API's handle:
//! [`Api::revocation_handle`], or one shared with [`Api::revocations`]),
//! and that token's open sockets close with code 4001
//! ([`CLOSE_SESSION_ENDED`]). Sockets also ask [`Identify`] about their
//! token at every ping, so one revoked on another instance or expired
//! closes within a ping interval (plus however long the host caches its
//! answers). Read bearer tokens in the host's own routes with
//! [`bearer_token`] (the scheme in any case, as RFC 7235 says).
//!
//! ## Guests
//!
//! `POST /carts` without credentials makes a guest's cart and answers its
//! `cart_token` once; the guest sends it as `X-Cart-Token` on that cart's
//! routes (a wrong or missing one is 404). A guest's checkout answers the
//! order's `order_token`, accepted as `X-Order-Token` (websocket:
//! `?order_token=`) on the order's routes. Cart tokens are stored hashed;
//! order tokens are not stored but signed, an HMAC of the order id under
//! the key of [`Api::order_token_key`] (or [`Api::order_tokens`]): give
//! every instance the same one. Guest carts are limited per client
//! address ([`Api::guest_cart_limit`]). A guest's id starts with `guest:`,
//! a prefix [`Caller::new`] refuses for the host's own users.
//! `POST /carts/{id}/claim` merges a guest cart into the customer's, and
//! `GET /carts/current` finds the customer's open cart again.
//!
//! ## Errors
//!
//! Every error is an [`ApiError`]: `application/problem+json` with `type`,
//! `title`, `status`, `detail`, a stable `code` and, on 422, `errors` (dotted
//! field path to messages). The core's errors map to it in one place
//! (`From<orders_core::Error>`). Unknown routes are 404 and wrong methods
//! 405, as problem documents too.
//!
//! ## Pages (features `web` and `admin`)
//!
//! Feature `web` has the pieces server-rendered pages share (`web`:
//! session cookie, CSRF tokens, security headers, the host's `SignIn`).
//! Feature `admin` adds `admin::Admin`, the staff panel (orders with
//! filters, search and live updates; an order's page with its legal moves;
//! products; discount codes) as a router the host nests at `/admin` with
//! `nest_service`.
//!
//! ## Serving (feature `serve`)
//!
//! `serve::serve` runs a router on a `TcpListener` the way `axum::serve`
//! does, with what a server facing the internet needs: deadlines for a
//! connection's first byte, a request head and an idle kept-alive
//! connection, a bound on open connections derived from the descriptor
//! limit, and a graceful shutdown that ends within a deadline and closes
//! the API's websockets with 1001 first. It serves HTTP/1.1 only (put a
//! reverse proxy in front for HTTP/2) and gives handlers
//! `ConnectInfo<SocketAddr>`.
//!
//! ## Metrics (feature `metrics`)
//!
//! `metrics::Metrics` holds Prometheus metrics: [`Api::metrics`] records
//! the API's requests by route template and status with their latency, its
//! open websockets and its checkouts by outcome; the host serves the
//! document (`Metrics::endpoint`) where only its operators reach it.
//!
//! ## Logging
//!
//! One span per request with its request id (`x-request-id`, generated when
//! absent or unfit — more than 64 characters, or anything but visible ASCII —
//! and echoed back), method and path (never the query string, which
//! may hold `access_token`), then the status and latency. Bodies and the
//! `Authorization` header are never logged.
//!
//! ## Cargo features
//!
//! None is on by default: the JSON API, the websockets and the OpenAPI
//! document need none.
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `web` | no | `web`: session cookie, stateless CSRF tokens, security headers and the `SignIn` trait, for server-rendered pages |
//! | `admin` | no | `admin`: the staff panel, a router the host nests at `/admin` (turns on `web`) |
//! | `serve` | no | `serve`: `serve::serve`, a router on a `TcpListener` with connection deadlines, a connection bound and a bounded graceful shutdown (HTTP/1.1) |
//! | `metrics` | no | `metrics`: Prometheus metrics of the API (requests, latencies, websockets, checkouts) and the `/metrics` document |
//! | `mail` | no | `mail::MailWorker` and `mail::SmtpMailer`: sends the customer emails the order events call for, over SMTP (lettre, STARTTLS or TLS with rustls) |
//! | `webhooks` | no | `webhooks::DeliveryWorker`: sends the deliveries of outbound webhooks (signed POSTs over reqwest, SSRF guard on every connection); the webhook routes themselves need no feature ([`Api::webhooks`]) |
//!
#![doc = include_str!("route_table.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "admin")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin")))]
pub mod admin;
mod body;
mod docs;
mod error;
mod followers;
mod form_bodies;
mod guests;
mod identify;
#[cfg(feature = "images")]
#[cfg_attr(docsrs, doc(cfg(feature = "images")))]
pub mod images;
#[cfg(feature = "mail")]
#[cfg_attr(docsrs, doc(cfg(feature = "mail")))]
pub mod mail;
mod meters;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod query;
mod request_id;
mod routes;
#[cfg(feature = "serve")]
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
pub mod serve;
mod timeout;
#[cfg(feature = "web")]
#[cfg_attr(docsrs, doc(cfg(feature = "web")))]
pub mod web;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use orders_core::Orders;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi as _;

/// The attribute the host's [`Identify`] (and, with `web`, `SignIn`)
/// implementations need: `#[orders_axum::async_trait]`, so a host needs
/// no `async-trait` dependency of its own.
pub use async_trait::async_trait;
pub use body::{JsonBody, OptionalJsonBody, parse_body};
pub use docs::Problem;
pub use error::{ApiError, PROBLEM_JSON};
pub use form_bodies::FormBody;
pub use guests::{CART_TOKEN_HEADER, ORDER_TOKEN_HEADER, ORDER_TOKEN_QUERY};
pub use identify::{
    CLOSE_SESSION_ENDED, Caller, Identify, IdentifyError, Revocations, bearer_token,
};
pub use request_id::MAX_REQUEST_ID_LEN;
pub use utoipa::openapi::OpenApi;

/// The checkout header that makes a retry safe.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The default body limit: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Tells the API's open websockets to close (code 1001, "going away").
///
/// Call [`shutdown`](Self::shutdown) when the host starts its graceful
/// shutdown: `axum::serve`'s graceful shutdown waits for requests, but an
/// upgraded websocket is no longer a request, so without this it would keep
/// the process alive (or be cut without a close frame).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Closes every open socket with 1001; new ones close at once.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow()
    }
}

/// Builds the API router. See the crate documentation for an example.
pub struct Api {
    orders: Orders,
    identify: Arc<dyn Identify>,
    body_limit: usize,
    ping_interval: Duration,
    send_timeout: Duration,
    request_timeout: Duration,
    mount_path: String,
    extra_routes: Option<Router>,
    extra_openapi: Option<OpenApi>,
    form_bodies: Vec<FormBody>,
    info: Option<utoipa::openapi::Info>,
    socket_cookie: Option<Arc<str>>,
    shutdown: Arc<watch::Sender<bool>>,
    revocations: Revocations,
    meters: meters::Meters,
    webhooks: Option<routes::webhooks::WebhookAdmin>,
    guests: guests::Guests,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("body_limit", &self.body_limit)
            .field("ping_interval", &self.ping_interval)
            .field("request_timeout", &self.request_timeout)
            .field("mount_path", &self.mount_path)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// An API over `orders`, asking `identify` who callers are.
    pub fn new(orders: Orders, identify: impl Identify) -> Self {
        Self {
            orders,
            identify: Arc::new(identify),
            body_limit: DEFAULT_BODY_LIMIT,
            ping_interval: routes::PING_INTERVAL,
            send_timeout: Duration::from_secs(10),
            request_timeout: timeout::DEFAULT_REQUEST_TIMEOUT,
            mount_path: "/api".to_owned(),
            extra_routes: None,
            extra_openapi: None,
            form_bodies: form_bodies::BODIES.to_vec(),
            info: None,
            socket_cookie: default_socket_cookie(),
            shutdown: Arc::new(watch::channel(false).0),
            revocations: Revocations::new(),
            meters: meters::Meters::default(),
            webhooks: None,
            guests: guests::Guests::default(),
        }
    }

    /// The key guest order tokens are signed with (see "Guests" in the
    /// crate docs): an HMAC-SHA256 of the order id, so a
    /// token is checked without a stored copy. Give every instance that
    /// shares a database the same key, kept secret; changing it revokes
    /// every guest's order link. Without this call a random key is made at
    /// start, and guest order tokens stop working at the next restart.
    ///
    /// # Errors
    /// [`orders_core::guest::ShortKey`] for a key under 32 bytes.
    pub fn order_token_key(mut self, key: &[u8]) -> Result<Self, orders_core::guest::ShortKey> {
        self.guests.order_tokens = orders_core::guest::OrderTokens::new(key)?;
        Ok(self)
    }

    /// Signs and checks guest order tokens with `tokens`: the same
    /// [`OrderTokens`](orders_core::guest::OrderTokens) a host uses where it
    /// shows a guest's order link itself (a confirmation page or email).
    #[must_use]
    pub fn order_tokens(mut self, tokens: orders_core::guest::OrderTokens) -> Self {
        self.guests.order_tokens = tokens;
        self
    }

    /// At most `per_minute` guest carts (`POST /carts` without
    /// credentials) per client address and minute (default 30); past it,
    /// 429 with `Retry-After`. 0: no limit. The address comes from axum's
    /// `ConnectInfo`; without it every request counts as one address.
    #[must_use]
    pub fn guest_cart_limit(mut self, per_minute: u32) -> Self {
        self.guests.carts = Arc::new(guests::GuestCartLimit::new(
            per_minute,
            Duration::from_secs(60),
        ));
        self
    }

    /// Records the API's requests (by route template, method and status,
    /// with their latency; the template has the host's mount path when
    /// nested), its open websockets and its checkouts by outcome in
    /// `metrics`. See the `metrics` module.
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    #[must_use]
    pub fn metrics(mut self, metrics: &metrics::Metrics) -> Self {
        self.meters.metrics = Some(metrics.clone());
        self
    }

    /// Enables the webhook routes (`/admin/webhooks…`) over `store`, the
    /// store the engine uses. With `allow_private`, a webhook may target a
    /// private, loopback or link-local address (for development and
    /// tests); otherwise such a URL is refused with 422 on `url`. Without
    /// this call those routes answer 404. Deliveries are made by
    /// `webhooks::DeliveryWorker` (feature `webhooks`), which the host
    /// runs.
    pub fn webhooks(
        mut self,
        store: Arc<dyn orders_core::ports::OutboxStore>,
        allow_private: bool,
    ) -> Self {
        self.webhooks = Some(routes::webhooks::WebhookAdmin {
            store,
            allow_private,
        });
        self
    }

    /// The largest request body accepted (default 64 KiB); larger ones get 413.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long a request may take, from its headers to its response,
    /// body reading included (default 30 s); past it the client gets 408
    /// `request_timeout` and the connection is closed. A websocket's
    /// deadline ends with its upgrade.
    #[must_use]
    pub fn request_timeout(mut self, limit: Duration) -> Self {
        self.request_timeout = limit;
        self
    }

    /// How often websockets are pinged (default 30 s).
    #[must_use]
    pub fn ping_interval(mut self, every: Duration) -> Self {
        self.ping_interval = every;
        self
    }

    /// Where the host nests the router (default `/api`). Only the OpenAPI
    /// document uses it, to write full paths; the router itself works at
    /// any mount point.
    #[must_use]
    pub fn mount_path(mut self, path: impl Into<String>) -> Self {
        self.mount_path = path.into().trim_end_matches('/').to_owned();
        self
    }

    /// Adds the host's own routes (register, login, ...) to the API router,
    /// with paths relative to the mount point (`/auth/login`). They share
    /// the API's body limit, request ids, tracing and problem+json 404/405.
    /// `routes` must have its state applied and no fallback.
    #[must_use]
    pub fn routes(mut self, routes: Router) -> Self {
        self.extra_routes = Some(match self.extra_routes.take() {
            Some(existing) => existing.merge(routes),
            None => routes,
        });
        self
    }

    /// Merges the host's OpenAPI document (paths relative to the mount
    /// point, like [`routes`](Self::routes)) into the served one. The
    /// `Problem` schema is in the API's components for the host to refer
    /// to (`#/components/schemas/Problem`).
    #[must_use]
    pub fn merge_openapi(mut self, doc: OpenApi) -> Self {
        self.extra_openapi = Some(match self.extra_openapi.take() {
            Some(mut existing) => {
                existing.merge(doc);
                existing
            }
            None => doc,
        });
        self
    }

    /// Documents the bodies of the host's own operations (merged with
    /// [`merge_openapi`](Self::merge_openapi)) by their forms, as the
    /// library's are: each operation's request body is its form's JSON
    /// Schema, from the form's one description.
    #[must_use]
    pub fn form_bodies(mut self, bodies: impl IntoIterator<Item = FormBody>) -> Self {
        self.form_bodies.extend(bodies);
        self
    }

    /// A handle to close the API's websockets on shutdown.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Shares `revocations` with the host, which made it before the API
    /// (to hand it to its logout route): its [`Revocations::revoked`] then
    /// closes this API's sockets of a token.
    #[must_use]
    pub fn revocations(mut self, revocations: Revocations) -> Self {
        self.revocations = revocations;
        self
    }

    /// The handle that closes this API's websockets of a revoked token
    /// (code 4001). See [`Revocations`].
    pub fn revocation_handle(&self) -> Revocations {
        self.revocations.clone()
    }

    /// Which cookie a same-origin page's websocket may present instead of a
    /// token (feature `web`): by default the pages' session cookie,
    /// `orders_session` (`web::session::SESSION_COOKIE`), so that a
    /// signed-in page can follow an order, since its script cannot read the
    /// `HttpOnly` cookie to send it. Only an upgrade whose `Origin` is the
    /// page's own host counts. `None` accepts no cookie at all: a host whose
    /// pages are not these, or whose session cookie has another name, says
    /// so here, so that no cookie of that name becomes a second credential.
    /// Without feature `web` no cookie is ever accepted.
    #[must_use]
    pub fn socket_session_cookie(mut self, name: Option<&str>) -> Self {
        self.socket_cookie = name.map(Arc::from);
        self
    }

    /// The `info` of the served OpenAPI document (title, version,
    /// description, contact...): the host's API, not this crate. Without
    /// it, the document is titled as this crate, at its version.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use orders_axum::{Api, Caller, Identify, IdentifyError};
    /// # use orders_core::{Orders, memory::MemoryStore};
    /// # struct Nobody;
    /// # #[orders_axum::async_trait]
    /// # impl Identify for Nobody {
    /// #     async fn identify(&self, _: &str) -> Result<Option<Caller>, IdentifyError> { Ok(None) }
    /// # }
    /// use utoipa::openapi::InfoBuilder;
    ///
    /// # let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
    /// let api = Api::new(orders, Nobody)
    ///     .openapi_info(InfoBuilder::new().title("Tea shop").version("2.1.0").build());
    /// assert_eq!(api.openapi().info.title, "Tea shop");
    /// assert_eq!(api.openapi().info.version, "2.1.0");
    /// ```
    #[must_use]
    pub fn openapi_info(mut self, info: utoipa::openapi::Info) -> Self {
        self.info = Some(info);
        self
    }

    /// The library's OpenAPI document, with paths relative to the mount
    /// point (`/products`).
    pub fn base_openapi() -> OpenApi {
        form_bodies::with_bodies(docs::ApiDoc::openapi(), form_bodies::BODIES)
    }

    /// The document the router serves at `openapi.json`: the library's and
    /// the host's paths, under the mount path (`/api/products`).
    pub fn openapi(&self) -> OpenApi {
        let mut relative = Self::base_openapi();
        if let Some(extra) = &self.extra_openapi {
            relative.merge(extra.clone());
        }
        let info = self.info.clone().unwrap_or_else(|| {
            let mut info = relative.info.clone();
            info.version = env!("CARGO_PKG_VERSION").to_owned();
            info
        });
        let root = utoipa::openapi::OpenApiBuilder::new().info(info).build();
        let document = optional_bodies_plain(root.nest(self.mount_path.clone(), relative));
        form_bodies::with_bodies(document, &self.form_bodies)
    }

    /// The text served at `openapi.json`: [`openapi`](Self::openapi), with
    /// the forms' schemas as the core states them (keywords utoipa's types
    /// do not hold included).
    pub fn openapi_json(&self) -> String {
        let Ok(mut value) = serde_json::to_value(self.openapi()) else {
            return "{}".to_owned();
        };
        form_bodies::insert(&mut value, &self.form_bodies);
        value.to_string()
    }

    /// Where the router is to be nested ([`mount_path`](Self::mount_path)).
    pub fn path(&self) -> &str {
        &self.mount_path
    }

    /// Nests the API into `router` at its [`mount_path`](Self::mount_path),
    /// the one path its OpenAPI document is written for: the path is said
    /// once, where it is set.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use orders_axum::{Api, Caller, Identify, IdentifyError};
    /// # use orders_core::{Orders, memory::MemoryStore};
    /// # struct Nobody;
    /// # #[orders_axum::async_trait]
    /// # impl Identify for Nobody {
    /// #     async fn identify(&self, _: &str) -> Result<Option<Caller>, IdentifyError> { Ok(None) }
    /// # }
    /// use axum::Router;
    ///
    /// # let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
    /// let api = Api::new(orders, Nobody).mount_path("/shop/api");
    /// assert!(api.openapi().paths.paths.contains_key("/shop/api/products"));
    /// let app: Router = api.nest_into(Router::new());
    /// # let _ = app;
    /// ```
    pub fn nest_into<S: Clone + Send + Sync + 'static>(self, router: Router<S>) -> Router<S> {
        let path = self.mount_path.clone();
        router.nest(&path, self.router())
    }

    /// The router, with its own state already applied, so it nests into a
    /// host router of any state type: `Router::new().nest("/api",
    /// api.router())`, or a host's `Router<AppState>` before its own
    /// `.with_state(app_state)`. Served as is, it is a `Router<()>`; where
    /// nothing else fixes the state type, say it: `let app: Router = …`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use axum::Router;
    /// use axum::extract::State;
    /// use axum::routing::get;
    /// use orders_axum::{Api, Caller, Identify, IdentifyError};
    /// use orders_core::Orders;
    /// use orders_core::memory::MemoryStore;
    ///
    /// struct Nobody;
    /// #[async_trait::async_trait]
    /// impl Identify for Nobody {
    ///     async fn identify(&self, _: &str) -> Result<Option<Caller>, IdentifyError> {
    ///         Ok(None)
    ///     }
    /// }
    ///
    /// #[derive(Clone)]
    /// struct AppState {
    ///     greeting: &'static str,
    /// }
    ///
    /// let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
    /// let api = Api::new(orders, Nobody).mount_path("/shop/api");
    /// let app: Router = Router::<AppState>::new()
    ///     .route("/", get(|State(s): State<AppState>| async move { s.greeting }))
    ///     .nest("/shop/api", api.router())
    ///     .with_state(AppState { greeting: "hello" });
    /// # let _ = app;
    /// ```
    pub fn router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        let openapi = self.openapi_json();
        let followers = followers::Followers::new(self.orders.notifier().clone());
        let state = routes::AppState {
            orders: self.orders,
            identify: self.identify,
            openapi: Arc::new(openapi),
            followers,
            sockets: routes::ws::SocketConfig {
                ping_interval: self.ping_interval,
                send_timeout: self.send_timeout,
            },
            shutdown: self.shutdown,
            revocations: self.revocations,
            socket_cookie: self.socket_cookie,
            meters: self.meters.clone(),
            webhooks: self.webhooks,
            guests: self.guests,
        };
        let mut router = routes::routes(state);
        if let Some(extra) = self.extra_routes {
            router = router.merge(extra);
        }
        let router = router
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(self.body_limit))
            .layer(axum::middleware::from_fn_with_state(
                self.request_timeout,
                timeout::limit,
            ))
            .layer(
                ServiceBuilder::new()
                    .layer(axum::middleware::map_request(request_id::drop_unfit))
                    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                    .layer(
                        TraceLayer::new_for_http()
                            .make_span_with(request_span)
                            .on_response(DefaultOnResponse::new().level(Level::INFO)),
                    )
                    .layer(PropagateRequestIdLayer::x_request_id()),
            );
        self.meters.requests(router).with_state(())
    }
}

/// The pages' session cookie with feature `web`; none without it.
fn default_socket_cookie() -> Option<Arc<str>> {
    #[cfg(feature = "web")]
    {
        Some(Arc::from(web::session::SESSION_COOKIE))
    }
    #[cfg(not(feature = "web"))]
    {
        None
    }
}

/// An optional request body (`request_body = Option<T>`) is written by
/// utoipa as `oneOf: [T, null]`, which says a client may send the JSON
/// `null`, and which client generators turn into an argument they cannot
/// serialise when left out. What the routes mean is "`T`, or no body at
/// all": the body's schema is `T` and the body is not `required`.
fn optional_bodies_plain(doc: OpenApi) -> OpenApi {
    let Ok(mut value) = serde_json::to_value(&doc) else {
        return doc;
    };
    let null = serde_json::json!({"type": "null"});
    let operations = value
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(body) = operation.get_mut("requestBody") else {
            continue;
        };
        if body.get("required") == Some(&serde_json::Value::Bool(true)) {
            continue;
        }
        let contents = body
            .get_mut("content")
            .and_then(serde_json::Value::as_object_mut)
            .into_iter()
            .flat_map(|content| content.values_mut());
        for content in contents {
            let Some(schema) = content.get_mut("schema") else {
                continue;
            };
            let plain = match schema.get("oneOf").and_then(serde_json::Value::as_array) {
                Some(one_of) if one_of.len() == 2 && one_of.contains(&null) => {
                    one_of.iter().find(|s| **s != null).cloned()
                }
                _ => None,
            };
            if let Some(plain) = plain {
                *schema = plain;
            }
        }
    }
    serde_json::from_value(value).unwrap_or(doc)
}

/// The span of one request: method, path (no query string: it may hold
/// `access_token`) and request id. No header or body is recorded.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found().with_detail("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// The code blocks of the crate's README, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
