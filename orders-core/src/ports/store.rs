//! The storage port: what a store MUST do, sentence by sentence. The
//! conformance kit (`testkit` feature) checks these sentences.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::cart::Cart;
use crate::catalogue::{Product, ProductPatch, ProductQuery};
use crate::discount::{Discount, DiscountCode};
use crate::ids::{
    CartId, CustomerId, EventId, FulfilmentId, OrderId, ProductId, RefundId, ReturnId,
};
use crate::money::Currency;
use crate::order::{Actor, NewOrder, Order, OrderEvent, OrderStatus, StatusChange};

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The thing to change does not exist.
    #[error("not found")]
    NotFound,
    /// A compare-and-set on `version` lost: someone changed it first.
    #[error("changed concurrently; reload and retry")]
    Conflict,
    /// A unique value is taken: `"sku"` (product), `"code"` (discount),
    /// `"cart"`, `"order"` (an id reused) or `"idempotency_key"`.
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// Checkout: these products have less stock than the cart needs.
    #[error("insufficient stock")]
    InsufficientStock(Vec<ProductId>),
    /// Product update: a stock adjustment would take the stock below zero
    /// (or above [`crate::catalogue::Stock::MAX`]).
    #[error("the stock adjustment would take the stock out of range")]
    StockOutOfRange,
    /// Checkout: the cart is no longer open.
    #[error("the cart is closed")]
    CartClosed,
    /// Checkout: the discount code has no use left (or vanished).
    #[error("the discount code is no longer available")]
    DiscountUnavailable,
    /// Checkout: the order's customer (a guest: its email) has used the
    /// discount code `max_uses_per_customer` times.
    #[error("the customer has used the discount code as many times as it allows")]
    DiscountUsedUpByCustomer,
    /// Checkout: the idempotency key completed meanwhile.
    #[error("idempotency key already used")]
    IdempotencyKeyUsed,
    /// The pagination cursor was not made by this store.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The database cannot be reached; worth retrying later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else the backend reported.
    #[error("storage error: {0}")]
    Backend(String),
}

impl StoreError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Conflict => "concurrent_update",
            Self::Duplicate(_) => "duplicate",
            Self::InsufficientStock(_) => "insufficient_stock",
            Self::StockOutOfRange => "validation",
            Self::CartClosed => "cart_closed",
            Self::DiscountUnavailable | Self::DiscountUsedUpByCustomer => "discount_unavailable",
            Self::IdempotencyKeyUsed => "idempotency_in_progress",
            Self::InvalidCursor => "validation",
            Self::Unavailable(_) => "storage_unavailable",
            Self::Backend(_) => "storage",
        }
    }
}

/// An opaque position in a list, made by the store that listed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

/// Which page of a list: at most `limit` items after `cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1 to [`PageRequest::MAX_LIMIT`].
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    /// The default page size.
    pub const DEFAULT_LIMIT: usize = 20;
    /// The largest page size.
    pub const MAX_LIMIT: usize = 100;

    /// The first page of `limit` items (clamped to 1..=100).
    pub fn first(limit: usize) -> Self {
        Self {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            cursor: None,
        }
    }

    /// The page after `cursor`.
    #[must_use]
    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(Self::DEFAULT_LIMIT)
    }
}

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

/// Which orders to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only this customer's.
    pub customer_id: Option<CustomerId>,
    /// Only in this status.
    pub status: Option<OrderStatus>,
    /// Only with this email (exact, case-insensitive).
    pub email: Option<String>,
    /// Order number (exact) or email (case-insensitive substring).
    pub search: Option<String>,
}

/// The idempotency part of a checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// Whose key.
    pub customer_id: CustomerId,
    /// The key.
    pub key: String,
    /// A fingerprint of the request.
    pub fingerprint: String,
}

/// What [`IdempotencyStore::begin_idempotent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// The key was free (or its claim stale); it is now claimed by this request.
    Claimed,
    /// Another request holds the key and has not finished.
    InProgress {
        /// That request's fingerprint.
        fingerprint: String,
    },
    /// A request with this key placed an order.
    Completed {
        /// That request's fingerprint.
        fingerprint: String,
        /// The order it placed.
        order_id: OrderId,
    },
}

/// Everything a checkout writes, in one atomic step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPlacement {
    /// The order, priced and validated.
    pub order: NewOrder,
    /// The cart it came from, which is closed.
    pub cart_id: CartId,
    /// The discount whose use is counted, if any.
    pub discount_code: Option<DiscountCode>,
    /// The idempotency key to complete, if any.
    pub idempotency: Option<IdempotencyClaim>,
    /// Who placed it (the first event's actor).
    pub actor: Actor,
}

/// A placed order and its first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The stored order, numbered.
    pub order: Order,
    /// Its first event, `null -> status`.
    pub event: OrderEvent,
}

/// Products.
#[async_trait]
pub trait CatalogueStore: Send + Sync {
    /// Stores a new product.
    ///
    /// MUST return [`StoreError::Duplicate`]`("sku")` if another product has
    /// its SKU, and then store nothing.
    async fn insert_product(&self, product: &Product) -> Result<(), StoreError>;

    /// Applies `patch` at `now` and returns the product as stored, with
    /// version + 1, atomically: what [`ProductPatch::applied_to`] makes of
    /// the product as stored when the write happens (read under the
    /// write's lock, never a copy read earlier).
    ///
    /// - MUST return [`StoreError::NotFound`] for an unknown id.
    /// - With `expected_version`, MUST return [`StoreError::Conflict`] if
    ///   the stored version is not `expected_version` (the edit was made
    ///   from a product that has changed since: a staff edit, a sale or a
    ///   cancellation), and then write nothing. `None` applies the patch
    ///   to whatever is stored.
    /// - MUST apply a [`StockChange::Adjust`](crate::catalogue::StockChange)
    ///   to the stock as stored, and MUST return
    ///   [`StoreError::StockOutOfRange`] if it would take the stock below
    ///   zero, writing nothing.
    /// - MUST leave the product unchanged on any error.
    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        expected_version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Product, StoreError>;

    /// The product, or `None`.
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError>;

    /// The products of `ids` that exist, in any order.
    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError>;

    /// Products newest first; only active ones when `active_only`.
    ///
    /// MUST return [`StoreError::InvalidCursor`] for a cursor it did not make.
    async fn list_products(
        &self,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError>;

    /// The products that match `query`, newest first, as
    /// [`list_products`](CatalogueStore::list_products) pages them; only
    /// active ones when `active_only`.
    ///
    /// - MUST return exactly the products for which
    ///   [`ProductQuery::matches`] holds: the query is a substring of
    ///   [`Product::search_text`] (name, SKU and description, folded), so
    ///   the match ignores case in every script.
    /// - MUST match a `%`, `_` or `\` of the query literally, never as a
    ///   wildcard.
    /// - MUST return [`StoreError::InvalidCursor`] for a cursor it did not
    ///   make.
    async fn search_products(
        &self,
        query: &ProductQuery,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError>;
}

/// Carts. Every cart change and every checkout reads a cart together with
/// its products, hence the catalogue as a supertrait.
#[async_trait]
pub trait CartStore: CatalogueStore {
    /// Stores a new cart.
    async fn insert_cart(&self, cart: &Cart) -> Result<(), StoreError>;

    /// The cart, or `None`.
    async fn cart(&self, id: &CartId) -> Result<Option<Cart>, StoreError>;

    /// The cart with the products of its lines and of `extra` (those of
    /// them that exist, each once, in any order), or `None` for an unknown
    /// cart.
    ///
    /// The default reads the cart, then the products (one read, none for
    /// an empty cart and no `extra`). A backend that can read both in one
    /// round trip SHOULD override it: the engine calls it on every cart
    /// change and every checkout.
    async fn cart_with_products(
        &self,
        id: &CartId,
        extra: &[ProductId],
    ) -> Result<Option<(Cart, Vec<Product>)>, StoreError> {
        let Some(cart) = self.cart(id).await? else {
            return Ok(None);
        };
        let mut ids: Vec<ProductId> = cart.lines().iter().map(|l| l.product_id.clone()).collect();
        for id in extra {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        let products = if ids.is_empty() {
            Vec::new()
        } else {
            self.products(&ids).await?
        };
        Ok(Some((cart, products)))
    }

    /// Replaces the stored cart with `cart` if the stored one is at
    /// `expected_version`.
    ///
    /// MUST return [`StoreError::Conflict`] if the stored version differs,
    /// [`StoreError::NotFound`] for an unknown cart.
    async fn update_cart(&self, cart: &Cart, expected_version: u64) -> Result<(), StoreError>;

    /// The customer's newest open cart (the one changed last; ties broken
    /// by the greater id), only among carts in `currency` when given, or
    /// `None`.
    ///
    /// MUST NOT return a closed cart or another customer's.
    async fn open_cart(
        &self,
        customer: &CustomerId,
        currency: Option<Currency>,
    ) -> Result<Option<Cart>, StoreError>;

    /// Writes a guest cart's claim, atomically: both writes or neither.
    ///
    /// - MUST replace the stored guest cart with `claim.guest` if the
    ///   stored one is at `claim.guest_version`;
    /// - with `claim.into`, MUST also replace that cart if the stored one
    ///   is at its expected version.
    ///
    /// MUST return [`StoreError::Conflict`] if either stored version
    /// differs, and [`StoreError::NotFound`] if either cart is unknown,
    /// writing nothing then: of two claims of one guest cart at once, one
    /// writes and the other gets `Conflict`.
    async fn claim_cart(&self, claim: &CartClaim) -> Result<(), StoreError>;
}

/// What [`CartStore::claim_cart`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartClaim {
    /// The guest cart as it is to be stored: closed after a merge, or
    /// adopted (now the customer's, with no token) when there is no `into`.
    pub guest: Cart,
    /// The guest cart's stored version this claim was made from.
    pub guest_version: u64,
    /// The customer's cart with the guest lines merged in, and the stored
    /// version that merge was made from; `None` when the guest cart is
    /// adopted.
    pub into: Option<(Cart, u64)>,
}

/// Discount codes.
#[async_trait]
pub trait DiscountStore: Send + Sync {
    /// Stores a new code.
    ///
    /// MUST return [`StoreError::Duplicate`]`("code")` if the code exists.
    async fn insert_discount(&self, discount: &Discount) -> Result<(), StoreError>;

    /// The code's discount, or `None`.
    async fn discount(&self, code: &DiscountCode) -> Result<Option<Discount>, StoreError>;

    /// Codes, newest first.
    async fn list_discounts(&self, page: &PageRequest) -> Result<Page<Discount>, StoreError>;

    /// Enables (`active = true`) or disables a code and returns it as
    /// stored. Its uses are kept.
    ///
    /// MUST return [`StoreError::NotFound`] for an unknown code. A disabled
    /// code MUST then be refused by [`OrderStore::place_order`] with
    /// [`StoreError::DiscountUnavailable`].
    async fn set_discount_active(
        &self,
        code: &DiscountCode,
        active: bool,
    ) -> Result<Discount, StoreError>;
}

/// Orders and their events.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Places an order, atomically: all of the following or none of it.
    ///
    /// - MUST take `quantity` from the stock of every line's product, and
    ///   add 1 to its version (so an edit made before the sale is stale
    ///   after it), in the same write as the stock.
    ///   MUST NOT let any stock go below zero: if any product is short, MUST
    ///   return [`StoreError::InsufficientStock`] listing every short product
    ///   (each once, in line order) and write nothing.
    /// - MUST close the cart `cart_id` (status checked out, version + 1);
    ///   if it is not open, MUST return [`StoreError::CartClosed`].
    /// - With a `discount_code`, MUST count one use, and MUST return
    ///   [`StoreError::DiscountUnavailable`] if that would pass `max_uses`,
    ///   the code is disabled or gone. When the code has a
    ///   `max_uses_per_customer`, MUST also count one use under
    ///   [`use_key`](crate::discount::use_key)`(customer_id, email)` of the
    ///   order, and MUST return [`StoreError::DiscountUsedUpByCustomer`] if
    ///   that would pass it (two placements of one customer at once: one
    ///   wins).
    /// - MUST give the order a number greater than every earlier order's
    ///   (a backend whose sequences skip values on rollback may leave
    ///   gaps), store it with version 1, and store its first event
    ///   (`from = None`) with an event id greater than every committed one.
    /// - With an `idempotency` claim, MUST mark the key completed with this
    ///   order's id.
    /// - Under any concurrency no stock is sold twice; a write conflict the
    ///   backend reports is retried inside, so concurrent placements fail
    ///   only with the errors above.
    async fn place_order(&self, placement: OrderPlacement) -> Result<Placed, StoreError>;

    /// The order, or `None`.
    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError>;

    /// Orders matching `filter`, newest first (by order number).
    ///
    /// MUST be stable under concurrent inserts: following `next_cursor`
    /// never repeats or skips an order that existed when the first page was
    /// read. MUST return [`StoreError::InvalidCursor`] for a cursor it did
    /// not make.
    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError>;

    /// Applies a status change, atomically: compare-and-set on
    /// `expected_version`, the new status (and tracking number when given),
    /// with [`StatusChange::payment`] every payment field from it (status,
    /// authorised, captured and refunded amounts, next action), version +
    /// 1, the event with the next event id (its
    /// [`kind`](StatusChange::kind) and [`data`](StatusChange::data) too),
    /// and every unit of [`restock`](StatusChange::restock) back to its
    /// product's stock, raising each such product's version once. `from`
    /// and `to` may be equal (a payment-only or record-only change).
    ///
    /// - MUST insert each of [`StatusChange::records`] (fulfilment, return,
    ///   refund, note), or replace the stored record with its id, in the
    ///   same transaction; MUST delete the refund
    ///   [`StatusChange::removed_refund`] names.
    /// - The order it returns, and every later read of the order, MUST
    ///   carry its records, each list in insertion order (a replaced record
    ///   keeps its place).
    ///
    /// MUST return [`StoreError::Conflict`] if the stored version is not
    /// `expected_version`, [`StoreError::NotFound`] for an unknown order,
    /// and then write nothing.
    async fn change_status(&self, change: &StatusChange)
    -> Result<(Order, OrderEvent), StoreError>;

    /// [`change_status`](Self::change_status) of an order the caller
    /// already holds: `known` is the order as this store returned it (read
    /// or written) at `change.expected_version()`. A store MAY then skip
    /// its own read of the order, and return `known` with the change
    /// applied when its compare-and-set on `expected_version` succeeds
    /// (the stored order is then exactly `known`).
    ///
    /// MUST write, return and refuse exactly as
    /// [`change_status`](Self::change_status) would. When `known` is not
    /// that order (another id, version or status than `change` expects) it
    /// MUST NOT trust it. The default is `change_status`, which reads.
    async fn change_status_of(
        &self,
        known: &Order,
        change: &StatusChange,
    ) -> Result<(Order, OrderEvent), StoreError> {
        let _ = known;
        self.change_status(change).await
    }

    /// Whether the database answers.
    ///
    /// MUST return [`StoreError::Unavailable`] when it does not.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The order's events, oldest first.
    async fn order_events(&self, id: &OrderId) -> Result<Vec<OrderEvent>, StoreError>;

    /// The order that has the fulfilment `id`, or `None`.
    async fn order_by_fulfilment(&self, id: &FulfilmentId) -> Result<Option<Order>, StoreError>;

    /// The order that has the return `id`, or `None`.
    async fn order_by_return(&self, id: &ReturnId) -> Result<Option<Order>, StoreError>;

    /// The order that has the refund `id`, or `None`.
    async fn order_by_refund(&self, id: &RefundId) -> Result<Option<Order>, StoreError>;

    /// The order whose payment has the provider `reference`, or `None`.
    async fn order_by_payment_reference(
        &self,
        reference: &str,
    ) -> Result<Option<Order>, StoreError>;

    /// Up to `limit` orders in `awaiting_payment` placed before
    /// `placed_before`, oldest first: the holds the sweeper looks at.
    async fn awaiting_payment(
        &self,
        placed_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError>;

    /// Whether the provider's webhook event `event_id` was acted on.
    async fn provider_event_seen(&self, provider: &str, event_id: &str)
    -> Result<bool, StoreError>;

    /// Records that the provider's webhook event `event_id` was acted on,
    /// at `at`. Returns `false` if it already was (then writes nothing).
    async fn record_provider_event(
        &self,
        provider: &str,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// The event sequence, read back (for replay to subscribers).
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Up to `limit` events with an id greater than `after` (all when
    /// `None`), of `order` only when given, oldest first.
    async fn events_after(
        &self,
        after: Option<EventId>,
        order: Option<&OrderId>,
        limit: usize,
    ) -> Result<Vec<OrderEvent>, StoreError>;
}

/// What [`IdempotencyStore::begin_idempotent_with_cart`] found: the state
/// of the key, and the cart with its products (`None`: no such cart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAndCart {
    /// As [`IdempotencyStore::begin_idempotent`] returns it.
    pub claim: IdempotencyState,
    /// As [`CartStore::cart_with_products`] returns it, with no extra products.
    pub cart: Option<(Cart, Vec<Product>)>,
}

/// Idempotency keys of checkouts. A keyed checkout claims its key and reads
/// its cart together ([`Self::begin_idempotent_with_cart`]), hence carts as
/// a supertrait.
#[async_trait]
pub trait IdempotencyStore: CartStore {
    /// Claims `claim.key` for `claim.customer_id`, atomically.
    ///
    /// MUST return [`IdempotencyState::Claimed`] and record the claim if the
    /// key is unknown for that customer, or if its claim is in progress but
    /// began before `stale_before` (the request that held it died). MUST
    /// otherwise return the state found, changing nothing. Two concurrent
    /// calls for one key MUST NOT both get `Claimed`.
    async fn begin_idempotent(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyState, StoreError>;

    /// A keyed checkout's first read: [`Self::begin_idempotent`] for `claim`
    /// and [`CartStore::cart_with_products`] for `cart_id` (no extra
    /// products), as if called one after the other.
    ///
    /// The claim MUST behave exactly as `begin_idempotent`'s, whether or
    /// not the cart exists (the engine releases a claim it cannot use).
    /// The default makes the two calls. A backend that can do both in one
    /// round trip SHOULD override it: the engine calls it on every checkout
    /// with an idempotency key.
    async fn begin_idempotent_with_cart(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        cart_id: &CartId,
    ) -> Result<ClaimAndCart, StoreError> {
        let state = self.begin_idempotent(claim, now, stale_before).await?;
        let cart = match self.cart_with_products(cart_id, &[]).await {
            Ok(cart) => cart,
            Err(error) => {
                if state == IdempotencyState::Claimed {
                    // Best effort; a claim left behind goes stale after the lease.
                    let _ = self
                        .release_idempotent(&claim.customer_id, &claim.key)
                        .await;
                }
                return Err(error);
            }
        };
        Ok(ClaimAndCart { claim: state, cart })
    }

    /// Drops an in-progress claim (the checkout failed and placed nothing),
    /// so the key can be used again. A completed key MUST be left as it is.
    ///
    /// Best effort, on a failure path: the engine ignores its error, and a
    /// claim left behind goes stale after the lease. It runs before the
    /// client hears of the failure, often because the store is away, so an
    /// implementation SHOULD give up quickly rather than wait for its
    /// storage as long as a normal call would.
    async fn release_idempotent(
        &self,
        customer_id: &CustomerId,
        key: &str,
    ) -> Result<(), StoreError>;
}

/// Everything the engine stores: implemented by every type that implements
/// each part.
pub trait Store:
    CatalogueStore + CartStore + DiscountStore + OrderStore + EventLog + IdempotencyStore
{
}

impl<T> Store for T where
    T: CatalogueStore + CartStore + DiscountStore + OrderStore + EventLog + IdempotencyStore
{
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::memory::MemoryStore;

    /// A memory store whose cart reads fail while `fail` is set, and which
    /// keeps the default `begin_idempotent_with_cart`.
    struct FailingCartReads {
        inner: MemoryStore,
        fail: AtomicBool,
    }

    #[async_trait]
    impl CatalogueStore for FailingCartReads {
        async fn insert_product(&self, product: &Product) -> Result<(), StoreError> {
            self.inner.insert_product(product).await
        }
        async fn update_product(
            &self,
            id: &ProductId,
            patch: &ProductPatch,
            expected_version: Option<u64>,
            now: DateTime<Utc>,
        ) -> Result<Product, StoreError> {
            self.inner
                .update_product(id, patch, expected_version, now)
                .await
        }
        async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
            self.inner.product(id).await
        }
        async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
            self.inner.products(ids).await
        }
        async fn list_products(
            &self,
            active_only: bool,
            page: &PageRequest,
        ) -> Result<Page<Product>, StoreError> {
            self.inner.list_products(active_only, page).await
        }
        async fn search_products(
            &self,
            query: &ProductQuery,
            active_only: bool,
            page: &PageRequest,
        ) -> Result<Page<Product>, StoreError> {
            self.inner.search_products(query, active_only, page).await
        }
    }

    #[async_trait]
    impl CartStore for FailingCartReads {
        async fn insert_cart(&self, cart: &Cart) -> Result<(), StoreError> {
            self.inner.insert_cart(cart).await
        }
        async fn cart(&self, id: &CartId) -> Result<Option<Cart>, StoreError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("cart read failed".into()));
            }
            self.inner.cart(id).await
        }
        async fn update_cart(&self, cart: &Cart, expected_version: u64) -> Result<(), StoreError> {
            self.inner.update_cart(cart, expected_version).await
        }
        async fn open_cart(
            &self,
            customer: &CustomerId,
            currency: Option<crate::money::Currency>,
        ) -> Result<Option<Cart>, StoreError> {
            self.inner.open_cart(customer, currency).await
        }
        async fn claim_cart(&self, claim: &crate::ports::CartClaim) -> Result<(), StoreError> {
            self.inner.claim_cart(claim).await
        }
    }

    #[async_trait]
    impl IdempotencyStore for FailingCartReads {
        async fn begin_idempotent(
            &self,
            claim: &IdempotencyClaim,
            now: DateTime<Utc>,
            stale_before: DateTime<Utc>,
        ) -> Result<IdempotencyState, StoreError> {
            self.inner.begin_idempotent(claim, now, stale_before).await
        }
        async fn release_idempotent(
            &self,
            customer_id: &CustomerId,
            key: &str,
        ) -> Result<(), StoreError> {
            self.inner.release_idempotent(customer_id, key).await
        }
    }

    fn claim(key: &str) -> IdempotencyClaim {
        IdempotencyClaim {
            customer_id: CustomerId::parse("claimer").expect("id"),
            key: key.to_owned(),
            fingerprint: "f".to_owned(),
        }
    }

    /// The default claim-and-cart read frees a claim it made when the cart
    /// read then fails, and leaves alone a claim someone else holds.
    #[test]
    fn a_failed_cart_read_releases_only_its_own_claim() {
        futures_executor::block_on(async {
            let store = FailingCartReads {
                inner: MemoryStore::new(),
                fail: AtomicBool::new(true),
            };
            let now = Utc::now();
            let stale_before = now - chrono::Duration::minutes(5);
            let cart_id = CartId::parse("some-cart").expect("id");

            // Claimed, then the cart read fails: the error, and the key free.
            let mine = claim("mine");
            let result = store
                .begin_idempotent_with_cart(&mine, now, stale_before, &cart_id)
                .await;
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{result:?}"
            );
            let state = store
                .begin_idempotent(&mine, now, stale_before)
                .await
                .expect("claim again");
            assert_eq!(state, IdempotencyState::Claimed, "the claim was released");

            // Someone else's claim in progress: the error, and their claim kept.
            let theirs = claim("theirs");
            let state = store
                .begin_idempotent(&theirs, now, stale_before)
                .await
                .expect("their claim");
            assert_eq!(state, IdempotencyState::Claimed);
            let result = store
                .begin_idempotent_with_cart(&theirs, now, stale_before, &cart_id)
                .await;
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{result:?}"
            );
            store.fail.store(false, Ordering::SeqCst);
            let found = store
                .begin_idempotent_with_cart(&theirs, now, stale_before, &cart_id)
                .await
                .expect("read");
            assert!(
                matches!(found.claim, IdempotencyState::InProgress { .. }),
                "their claim is still held: {:?}",
                found.claim
            );
            assert!(found.cart.is_none(), "no such cart");
        });
    }
}
