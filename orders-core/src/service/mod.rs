//! The facade applications call: [`Orders`].
//!
//! Every operation goes through here: it reads through the ports, applies
//! the rules of this crate, writes through the ports, and announces events
//! after commit. Adapters (HTTP, CLI) parse their input into this crate's
//! types, call one method, and map the [`Error`].

mod aftersale;
mod carts;
mod checkout;
mod config;
mod guests;
mod lifecycle;
mod payments;

use std::sync::Arc;

use crate::Error;
use crate::catalogue::{NewProduct, Product, ProductEdit, VersionPolicy};
use crate::discount::Discount;
use crate::ids::{CustomerId, ProductId};
use crate::memory::MemoryNotifier;
use crate::order::TransitionGuard;
use crate::ports::{
    Clock, Notifier, Page, PageRequest, PaymentGateway, Store, StoreError, SystemClock, TestGateway,
};

pub use carts::{PricedCart, PricingOptions};
pub use checkout::{CheckoutOutcome, MAX_IDEMPOTENCY_KEY};
pub use config::OrdersConfig;
pub use guests::ClaimedCart;
pub use lifecycle::customer_view;
pub use payments::{SweepReport, WebhookOutcome};

/// Who may see an order or a cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access<'a> {
    /// Only the owner: anyone else gets [`Error::NotFound`], exactly as for
    /// a missing one.
    Owner(&'a CustomerId),
    /// Staff: every order.
    Staff,
}

impl Access<'_> {
    fn allows(&self, owner: &CustomerId) -> bool {
        match self {
            Self::Owner(id) => *id == owner,
            Self::Staff => true,
        }
    }

    /// The order as this caller may see it: a customer never gets an
    /// internal note.
    fn shown(&self, order: crate::order::Order) -> crate::order::Order {
        match self {
            Self::Owner(_) => order.for_customer(),
            Self::Staff => order,
        }
    }
}

struct Inner {
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
    payments: Arc<dyn PaymentGateway>,
    clock: Arc<dyn Clock>,
    config: OrdersConfig,
    guards: Vec<Arc<dyn TransitionGuard>>,
}

/// The ordering engine. Cheap to clone: clones share everything.
#[derive(Clone)]
pub struct Orders {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Orders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orders")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Orders`]; see [`Orders::builder`].
///
/// The configuration (currencies, tax, shipping) and the payment gateway
/// are choices a shop must make, so [`build`](OrdersBuilder::build) exists
/// only once both are given: an engine can never take a card through the
/// test gateway, or charge demo tax, because a host forgot to say
/// otherwise. `C` and `P` track whether they were given ([`Unset`] until
/// then).
///
/// ```compile_fail
/// # use std::sync::Arc;
/// # use orders_core::{Orders, memory::MemoryStore};
/// // No configuration, no payment gateway: does not compile.
/// let orders = Orders::builder(Arc::new(MemoryStore::new())).build();
/// ```
pub struct OrdersBuilder<C = Unset, P = Unset> {
    store: Arc<dyn Store>,
    notifier: Option<Arc<dyn Notifier>>,
    payments: P,
    clock: Option<Arc<dyn Clock>>,
    config: C,
    guards: Vec<Arc<dyn TransitionGuard>>,
}

/// A choice of [`OrdersBuilder`] not made yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unset;

impl<C, P> OrdersBuilder<C, P> {
    /// The notifier (default: an in-process [`MemoryNotifier`] over the store).
    #[must_use]
    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// The clock (default: the system's).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Adds a host rule on status moves.
    #[must_use]
    pub fn guard(mut self, guard: Arc<dyn TransitionGuard>) -> Self {
        self.guards.push(guard);
        self
    }

    /// The payment gateway: the shop's provider, or the [`TestGateway`]
    /// (which charges nobody) for demos and tests.
    #[must_use]
    pub fn payments(
        self,
        payments: Arc<dyn PaymentGateway>,
    ) -> OrdersBuilder<C, Arc<dyn PaymentGateway>> {
        OrdersBuilder {
            store: self.store,
            notifier: self.notifier,
            payments,
            clock: self.clock,
            config: self.config,
            guards: self.guards,
        }
    }

    /// The configuration: currencies, tax and shipping
    /// ([`OrdersConfig::demo`] is the demo shop's).
    #[must_use]
    pub fn config(self, config: OrdersConfig) -> OrdersBuilder<OrdersConfig, P> {
        OrdersBuilder {
            store: self.store,
            notifier: self.notifier,
            payments: self.payments,
            clock: self.clock,
            config,
            guards: self.guards,
        }
    }

    /// The demo shop: [`OrdersConfig::demo`] and the [`TestGateway`].
    /// For examples, tests and benchmarks; a real shop chooses both.
    #[must_use]
    pub fn demo(self) -> OrdersBuilder<OrdersConfig, Arc<dyn PaymentGateway>> {
        self.config(OrdersConfig::demo())
            .payments(Arc::new(TestGateway::new()))
    }
}

impl OrdersBuilder<OrdersConfig, Arc<dyn PaymentGateway>> {
    /// The engine.
    pub fn build(self) -> Orders {
        let store = self.store;
        let notifier = self.notifier.unwrap_or_else(|| {
            let log: Arc<dyn crate::ports::EventLog> = Arc::new(StoreLog(store.clone()));
            Arc::new(MemoryNotifier::new(log))
        });
        Orders {
            inner: Arc::new(Inner {
                store,
                notifier,
                payments: self.payments,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                config: self.config,
                guards: self.guards,
            }),
        }
    }
}

/// Adapts a whole store to the event-log port the notifier replays from.
struct StoreLog(Arc<dyn Store>);

#[async_trait::async_trait]
impl crate::ports::EventLog for StoreLog {
    async fn events_after(
        &self,
        after: Option<crate::ids::EventId>,
        order: Option<&crate::ids::OrderId>,
        limit: usize,
    ) -> Result<Vec<crate::order::OrderEvent>, StoreError> {
        self.0.events_after(after, order, limit).await
    }
}

impl Orders {
    /// Starts building an engine over `store`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use orders_core::{Orders, OrdersConfig};
    /// use orders_core::memory::MemoryStore;
    /// use orders_core::ports::TestGateway;
    ///
    /// let orders = Orders::builder(Arc::new(MemoryStore::new()))
    ///     .config(OrdersConfig::demo())
    ///     .payments(Arc::new(TestGateway::new()))
    ///     .build();
    /// # let _ = orders;
    /// ```
    pub fn builder(store: Arc<dyn Store>) -> OrdersBuilder {
        OrdersBuilder {
            store,
            notifier: None,
            payments: Unset,
            clock: None,
            config: Unset,
            guards: Vec::new(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The notifier.
    pub fn notifier(&self) -> &Arc<dyn Notifier> {
        &self.inner.notifier
    }

    /// The configuration.
    pub fn config(&self) -> &OrdersConfig {
        &self.inner.config
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Whether the store answers.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when it does not.
    pub async fn health(&self) -> Result<(), Error> {
        Ok(self.inner.store.ping().await?)
    }

    /// Adds a product to the catalogue.
    ///
    /// # Errors
    /// [`Error::Duplicate`]`("sku")` if the SKU is taken.
    pub async fn create_product(&self, product: NewProduct) -> Result<Product, Error> {
        let product = product.into_product(self.inner.clock.now());
        self.inner.store.insert_product(&product).await?;
        Ok(product)
    }

    /// Changes a product: applies `edit`'s patch if the product is still
    /// at `edit`'s expected version (any version when it has none).
    ///
    /// A stock adjustment applies to the stock as stored; an absolute
    /// stock count needs the version it was read at
    /// ([`ProductEdit::check`] with [`VersionPolicy::ForStockCount`]).
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::Stale`] with the product as stored
    /// when it has moved on since `edit`'s version (nothing is saved);
    /// [`Error::Validation`] on `version` for an absolute stock without
    /// one, on `price` for a price in another currency than the product's,
    /// on `stock_adjustment` for an adjustment that would take the stock
    /// below zero (nothing is saved).
    pub async fn update_product(
        &self,
        id: &ProductId,
        edit: impl Into<ProductEdit>,
    ) -> Result<Product, Error> {
        let edit = edit.into();
        edit.check(VersionPolicy::ForStockCount)?;
        if let Some(price) = edit.patch.price {
            let current = self.product(id).await?;
            if price.currency() != current.currency() {
                return Err(Error::field(
                    "price",
                    format!("must be in {}", current.currency()),
                ));
            }
        }
        let result = self
            .inner
            .store
            .update_product(
                id,
                &edit.patch,
                edit.expected_version,
                self.inner.clock.now(),
            )
            .await;
        match result {
            Ok(product) => Ok(product),
            Err(StoreError::NotFound) => Err(Error::NotFound("product")),
            Err(StoreError::Conflict) => Err(Error::Stale(Box::new(self.product(id).await?))),
            Err(StoreError::StockOutOfRange) => {
                let current = self.product(id).await?;
                Err(Error::field(
                    "stock_adjustment",
                    format!(
                        "would take the stock below zero: {} in stock",
                        current.stock()
                    ),
                ))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// One product, active or not.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn product(&self, id: &ProductId) -> Result<Product, Error> {
        self.inner
            .store
            .product(id)
            .await?
            .ok_or(Error::NotFound("product"))
    }

    /// One product as shoppers see it: only while it is active.
    ///
    /// # Errors
    /// [`Error::NotFound`] if unknown or inactive.
    pub async fn active_product(&self, id: &ProductId) -> Result<Product, Error> {
        match self.inner.store.product(id).await? {
            Some(product) if product.active() => Ok(product),
            _ => Err(Error::NotFound("product")),
        }
    }

    /// Products, newest first; only active ones when `active_only`.
    ///
    /// # Errors
    /// [`Error::Validation`] on `cursor` for a bad cursor.
    pub async fn list_products(
        &self,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, Error> {
        Ok(self.inner.store.list_products(active_only, page).await?)
    }

    /// The products that match `query` (all of them for `None`), newest
    /// first; only active ones when `active_only`. See
    /// [`ProductQuery`](crate::catalogue::ProductQuery) for what matches.
    ///
    /// # Errors
    /// [`Error::Validation`] on `cursor` for a bad cursor.
    pub async fn search_products(
        &self,
        query: Option<&crate::catalogue::ProductQuery>,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, Error> {
        let store = &self.inner.store;
        Ok(match query {
            Some(query) => store.search_products(query, active_only, page).await?,
            None => store.list_products(active_only, page).await?,
        })
    }

    /// Creates a discount code.
    ///
    /// # Errors
    /// [`Error::Duplicate`]`("code")` if the code exists.
    pub async fn create_discount(&self, discount: Discount) -> Result<Discount, Error> {
        self.inner.store.insert_discount(&discount).await?;
        Ok(discount)
    }

    /// Enables (`active`) or disables the discount `code` (any case):
    /// a disabled code is refused when applied to a cart and at checkout,
    /// until it is enabled again. Its uses are kept.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown (or malformed) code.
    pub async fn set_discount_active(&self, code: &str, active: bool) -> Result<Discount, Error> {
        let code =
            crate::discount::DiscountCode::parse(code).map_err(|_| Error::NotFound("discount"))?;
        match self.inner.store.set_discount_active(&code, active).await {
            Err(crate::ports::StoreError::NotFound) => Err(Error::NotFound("discount")),
            other => Ok(other?),
        }
    }

    /// Discount codes, newest first.
    ///
    /// # Errors
    /// [`Error::Validation`] on `cursor` for a bad cursor.
    pub async fn list_discounts(&self, page: &PageRequest) -> Result<Page<Discount>, Error> {
        Ok(self.inner.store.list_discounts(page).await?)
    }
}
