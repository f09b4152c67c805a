//! The staff panel: server-rendered pages for orders, products, discount
//! codes and (with [`Admin::webhooks`]) outbound webhooks, as a [`Router`] the host nests at `/admin`. Feature
//! `admin`.
//!
//! ```no_run
//! # use orders_axum::{Caller, Identify, IdentifyError};
//! # use orders_axum::web::{SignIn, SignInOutcome};
//! # struct Host;
//! # #[async_trait::async_trait]
//! # impl Identify for Host {
//! #     async fn identify(&self, _: &str) -> Result<Option<Caller>, IdentifyError> { Ok(None) }
//! # }
//! # #[async_trait::async_trait]
//! # impl SignIn for Host {
//! #     async fn sign_in(&self, _: &str, _: &str, _: Option<std::net::IpAddr>) -> Result<SignInOutcome, IdentifyError> { Ok(SignInOutcome::Refused) }
//! #     async fn sign_out(&self, _: &str) -> Result<(), IdentifyError> { Ok(()) }
//! # }
//! use std::sync::Arc;
//!
//! use axum::Router;
//! use orders_axum::Api;
//! use orders_axum::admin::Admin;
//! use orders_core::{Orders, memory::MemoryStore};
//!
//! let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
//! let host = Arc::new(Host);
//! let app: Router = Router::new()
//!     .nest("/api", Api::new(orders.clone(), host.clone()).router())
//!     // `nest_service`, not `nest`: axum 0.8's `nest` does not route
//!     // `/admin/` (with the slash) to the nested `/`.
//!     .nest_service("/admin", Admin::new(orders, host.clone(), host).api_path("/api").router());
//! ```
//!
//! How it holds together:
//!
//! - Handlers are thin: they parse a form into the core's types with the
//!   same functions the JSON admin routes use, call one method of
//!   [`Orders`], and render. The legal next statuses are the core's table
//!   ([`OrderStatus::next`](orders_core::order::OrderStatus::next)); nothing
//!   here decides a rule.
//! - Errors map once, in `error.rs`: every handler returns a `PageError`
//!   (built from the core's error through the API's own mapping, so a
//!   status means the same on both surfaces), and one middleware renders
//!   it as an HTML page (503 with `Retry-After` when the store is down).
//! - Sign-in goes through the host's [`SignIn`]; the session cookie holds
//!   the host's token, and every request asks the host's
//!   [`Identify::identify_request`] with the request's parts and that
//!   token, as the API does (so a host with its own cookie sessions
//!   needs no sign-in here). Only staff get in. Every POST carries a CSRF token, checked before
//!   anything else. [`SignIn::sign_in`] gets the client's address from
//!   axum's `ConnectInfo<SocketAddr>`: serve the app with
//!   `into_make_service_with_connect_info::<SocketAddr>()` or
//!   [`serve`](crate::serve) (feature `serve`), or every sign-in comes from
//!   no address (the panel says so once in the log).
//! - After the sale (`aftersale.rs`), an order's page ships chosen units,
//!   marks fulfilments delivered, decides and receives returns, refunds
//!   and takes notes that say who sees them. Irreversible actions (a
//!   refund, a rejection, a cancellation) answer a confirmation page
//!   first, which works without JavaScript; a refund's shows the amount
//!   the core computes. Who acted is named through the host's
//!   [`Identify::label`] (a staff member's email), or "customer".
//! - Assets (one CSS, one JS file) are compiled in and served under a
//!   content-hashed name with a year-long cache. The JS opens the API's
//!   websockets (the browser sends the session cookie) so new orders and
//!   status changes appear without a reload; an open order page then
//!   fetches itself again and swaps in its current actions, tracking and
//!   payment.

mod aftersale;
mod aftersale_views;
mod assets;
mod discounts;
mod error;
mod form;
#[cfg(feature = "images")]
mod images;
mod mail_views;
mod mails;
mod orders;
mod products;
mod session;
mod views;
mod webhook_views;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use orders_core::Orders;
use orders_core::ports::{ImageStore, MailboxStore, OutboxStore};

use crate::Identify;
use crate::routes::webhooks::WebhookAdmin;
use crate::web::{Csrf, SignIn, security_headers};

/// The largest form body the panel reads (64 KiB).
const FORM_LIMIT: usize = 64 * 1024;

/// Builds the admin panel's router. See the module documentation.
pub struct Admin {
    orders: Orders,
    identify: Arc<dyn Identify>,
    sign_in: Arc<dyn SignIn>,
    csrf: Option<Csrf>,
    api_path: String,
    mount_path: String,
    page_size: usize,
    webhooks: Option<WebhookAdmin>,
    mails: Option<Arc<dyn MailboxStore>>,
    images: Option<Arc<dyn ImageStore>>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("api_path", &self.api_path)
            .field("mount_path", &self.mount_path)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// A panel over `orders`, asking `identify` who the session cookie's
    /// token belongs to and `sign_in` to check passwords.
    pub fn new(orders: Orders, identify: impl Identify, sign_in: impl SignIn) -> Self {
        Self {
            orders,
            identify: Arc::new(identify),
            sign_in: Arc::new(sign_in),
            csrf: None,
            api_path: "/api".to_owned(),
            mount_path: "/admin".to_owned(),
            page_size: 25,
            webhooks: None,
            mails: None,
            images: None,
        }
    }

    /// A panel over the engine and the [`Identify`] of `api`, its pages'
    /// script opening that API's websockets (as [`api`](Self::api) says),
    /// with `sign_in` checking passwords: the host's object is handed to
    /// [`Api::new`](crate::Api::new) once, and its sign-in here.
    pub fn for_api(api: &crate::Api, sign_in: impl SignIn) -> Self {
        Self {
            orders: api.orders.clone(),
            identify: api.identify.clone(),
            sign_in: Arc::new(sign_in),
            csrf: None,
            api_path: api.path().to_owned(),
            mount_path: "/admin".to_owned(),
            page_size: 25,
            webhooks: api.webhooks.clone(),
            mails: None,
            images: None,
        }
    }

    /// The CSRF key (default [`Csrf::random`]). Instances behind one
    /// address must share it.
    #[must_use]
    pub fn csrf(mut self, csrf: Csrf) -> Self {
        self.csrf = Some(csrf);
        self
    }

    /// Where the host nested the JSON API (default `/api`): the pages'
    /// script opens its websockets there.
    #[must_use]
    pub fn api_path(mut self, path: impl Into<String>) -> Self {
        self.api_path = path.into().trim_end_matches('/').to_owned();
        self
    }

    /// Where the API `api` is nested ([`Api::mount_path`](crate::Api::mount_path)):
    /// the same as [`api_path`](Self::api_path) with that API's path, so
    /// the path is said once.
    /// Takes that API's webhooks too ([`Api::webhooks`](crate::Api::webhooks)),
    /// if it has them and the panel none yet.
    #[must_use]
    pub fn api(mut self, api: &crate::Api) -> Self {
        if self.webhooks.is_none() {
            self.webhooks = api.webhooks.clone();
        }
        self.api_path(api.path())
    }

    /// The customer email page (`/emails`: the pending and dead mails,
    /// with a retry for the dead), over the mails kept in `store`: turn it
    /// on when the host runs a mailer ([`crate::mail::MailWorker`], feature
    /// `mail`). Without it the page is a 404 and the menu has no link.
    #[must_use]
    pub fn mails(mut self, store: Arc<dyn MailboxStore>) -> Self {
        self.mails = Some(store);
        self
    }

    /// Product pictures (feature `images`): the product page takes an
    /// upload (JPEG, PNG or WebP up to 5 MB, checked and resized by
    /// [`crate::images::prepare`]) and keeps the copies in `store`, which
    /// the host serves with [`crate::images::router`] at `/images`.
    /// Without it the product page has no upload form.
    #[cfg(feature = "images")]
    #[must_use]
    pub fn images(mut self, store: Arc<dyn ImageStore>) -> Self {
        self.images = Some(store);
        self
    }

    /// The webhook pages (`/webhooks`: the list with each one's backlog
    /// and dead deliveries, create with the secret shown once, delete,
    /// the deliveries with a retry for the dead): webhooks kept in
    /// `store`, private targets refused unless `allow_private`, as
    /// [`Api::webhooks`](crate::Api::webhooks) says. Without it (or an
    /// API that has them, [`api`](Self::api)) those pages are a 404.
    #[must_use]
    pub fn webhooks(mut self, store: Arc<dyn OutboxStore>, allow_private: bool) -> Self {
        self.webhooks = Some(WebhookAdmin {
            store,
            allow_private,
        });
        self
    }

    /// Where the host nests this router (default `/admin`): links,
    /// redirects and asset URLs are written under it.
    #[must_use]
    pub fn mount_path(mut self, path: impl Into<String>) -> Self {
        self.mount_path = path.into().trim_end_matches('/').to_owned();
        self
    }

    /// Rows per page of the lists (default 25, at most 100).
    #[must_use]
    pub fn page_size(mut self, rows: usize) -> Self {
        self.page_size = rows.clamp(1, orders_core::ports::PageRequest::MAX_LIMIT);
        self
    }

    /// Nests the panel into `router` at its [`mount_path`](Self::mount_path)
    /// (with `nest_service`, so `/admin/` is routed too): the path is said
    /// once, where it is set.
    ///
    /// ```no_run
    /// # use orders_axum::{Caller, Identify, IdentifyError};
    /// # use orders_axum::web::{SignIn, SignInOutcome};
    /// # struct Host;
    /// # #[orders_axum::async_trait]
    /// # impl Identify for Host {
    /// #     async fn identify(&self, _: &str) -> Result<Option<Caller>, IdentifyError> { Ok(None) }
    /// # }
    /// # #[orders_axum::async_trait]
    /// # impl SignIn for Host {
    /// #     async fn sign_in(&self, _: &str, _: &str, _: Option<std::net::IpAddr>) -> Result<SignInOutcome, IdentifyError> { Ok(SignInOutcome::Refused) }
    /// #     async fn sign_out(&self, _: &str) -> Result<(), IdentifyError> { Ok(()) }
    /// # }
    /// use std::sync::Arc;
    ///
    /// use axum::Router;
    /// use orders_axum::Api;
    /// use orders_axum::admin::Admin;
    /// use orders_core::{Orders, memory::MemoryStore};
    ///
    /// let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
    /// let host = Arc::new(Host);
    /// let api = Api::new(orders.clone(), host.clone()).mount_path("/shop/api");
    /// let admin = Admin::new(orders, host.clone(), host).api(&api).mount_path("/shop/admin");
    /// let app: Router = admin.nest_into(api.nest_into(Router::new()));
    /// ```
    pub fn nest_into<S: Clone + Send + Sync + 'static>(self, router: Router<S>) -> Router<S> {
        let path = self.mount_path.clone();
        router.nest_service(&path, self.router())
    }

    /// The router, to be nested at the mount path with
    /// `Router::new().nest_service("/admin", admin.router())`: then both
    /// `/admin` and `/admin/` show the orders. (axum 0.8's `Router::nest`
    /// routes `/admin` and `/admin/orders` but not `/admin/`.)
    pub fn router(self) -> Router {
        let state = PanelState(Arc::new(Inner {
            orders: self.orders,
            identify: self.identify,
            sign_in: self.sign_in,
            csrf: self.csrf.unwrap_or_else(Csrf::random),
            api: self.api_path,
            base: self.mount_path,
            page_size: self.page_size,
            assets: assets::Assets::new(),
            webhooks: self.webhooks,
            mails: self.mails,
            images: self.images,
            image_slots: tokio::sync::Semaphore::new(2),
        }));
        let router = Router::new();
        #[cfg(feature = "images")]
        let router = router.route(
            "/products/{id}/image",
            post(images::upload).layer(axum::extract::DefaultBodyLimit::max(
                images::UPLOAD_BODY_LIMIT,
            )),
        );
        router
            .route("/", get(orders::list))
            .route("/orders", get(orders::list))
            .route("/orders/{id}", get(orders::show))
            .route("/orders/{id}/row", get(orders::row))
            .route("/orders/{id}/transition", post(orders::transition))
            .route("/orders/{id}/fulfil", post(aftersale::fulfil))
            .route("/orders/{id}/refund", post(aftersale::refund))
            .route("/orders/{id}/notes", post(aftersale::note))
            .route("/fulfilments/{id}/delivered", post(aftersale::deliver))
            .route("/returns/{id}/{action}", post(aftersale::move_return))
            .route("/products", get(products::list).post(products::create))
            .route("/products/new", get(products::new))
            .route("/products/{id}", get(products::edit).post(products::update))
            .route("/discounts", get(discounts::list).post(discounts::create))
            .route("/discounts/{code}/{action}", post(discounts::set_active))
            .route("/webhooks", get(webhooks::list).post(webhooks::create))
            .route("/webhooks/{id}", get(webhooks::show))
            .route("/webhooks/{id}/delete", post(webhooks::delete))
            .route(
                "/webhooks/{id}/deliveries/{delivery}/retry",
                post(webhooks::retry),
            )
            .route("/emails", get(mails::list))
            .route("/emails/{id}/retry", post(mails::retry))
            .route("/login", get(session::login_page).post(session::login))
            .route("/logout", post(session::logout))
            .route("/assets/{file}", get(assets::serve))
            .fallback(error::fallback)
            .method_not_allowed_fallback(error::method_not_allowed)
            .layer(from_fn_with_state(state.clone(), error::render_errors))
            .layer(from_fn(security_headers))
            .with_state(state)
    }
}

/// What every handler of the panel reaches.
#[derive(Clone)]
pub(crate) struct PanelState(Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) orders: Orders,
    pub(crate) identify: Arc<dyn Identify>,
    pub(crate) sign_in: Arc<dyn SignIn>,
    pub(crate) csrf: Csrf,
    /// Where the JSON API is nested.
    pub(crate) api: String,
    /// Where the panel is nested.
    pub(crate) base: String,
    pub(crate) page_size: usize,
    pub(crate) assets: assets::Assets,
    /// The webhook pages' store, if they are on.
    pub(crate) webhooks: Option<WebhookAdmin>,
    /// The email page's store, if it is on.
    pub(crate) mails: Option<Arc<dyn MailboxStore>>,
    /// Where product pictures go, if the panel takes them.
    pub(crate) images: Option<Arc<dyn ImageStore>>,
    /// How many uploads are decoded at once (it is CPU work).
    #[cfg_attr(not(feature = "images"), allow(dead_code))]
    pub(crate) image_slots: tokio::sync::Semaphore,
}

impl std::ops::Deref for PanelState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl PanelState {
    /// `path` under the mount point (`/orders` → `/admin/orders`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
