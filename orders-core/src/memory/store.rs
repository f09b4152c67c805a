//! [`MemoryStore`]: every storage port in memory, behind one lock.
//!
//! One `std::sync::Mutex` guards the whole state. Every port call takes it
//! once, does its work without awaiting, and releases it, so each call is
//! atomic (a checkout takes all its stock or none) and the lock is never
//! held across an `.await`. A std mutex, not an async one, because no
//! critical section awaits and uncontended std locks cost tens of
//! nanoseconds.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::cart::{Cart, CartStatus};
use crate::catalogue::{Product, ProductPatch, ProductQuery, Sku};
use crate::discount::{Discount, DiscountCode};
use crate::ids::{
    CartId, CustomerId, EventId, FulfilmentId, OrderId, ProductId, RefundId, ReturnId,
};
use crate::order::{Order, OrderEvent, OrderNumber, StatusChange};
use crate::ports::{
    CartClaim, CartStore, CatalogueStore, Cursor, DiscountStore, EventLog, IdempotencyClaim,
    IdempotencyState, IdempotencyStore, OrderFilter, OrderPlacement, OrderStore, Page, PageRequest,
    Placed, StoreError,
};

/// A thread-safe in-memory store: for applications that want no database,
/// for tests and for benchmarks. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Webhooks and deliveries, in `deliveries.rs`; taken before `state`
    /// when both are needed, never after.
    pub(super) outbox: Mutex<super::deliveries::Outbox>,
    /// The mailer's cursor and mails, in `mails.rs`; taken before `state`
    /// when both are needed, never after.
    pub(super) mailbox: Mutex<super::mails::Mailbox>,
}

#[derive(Debug, Default)]
struct State {
    products: HashMap<ProductId, Product>,
    product_seq: BTreeMap<u64, ProductId>,
    skus: HashMap<Sku, ProductId>,
    next_product: u64,
    carts: HashMap<CartId, Cart>,
    discounts: HashMap<DiscountCode, Discount>,
    discount_seq: BTreeMap<u64, DiscountCode>,
    /// Uses of codes with a per-customer limit, by code and
    /// [`use_key`](crate::discount::use_key).
    discount_uses: HashMap<(DiscountCode, String), u32>,
    next_discount: u64,
    orders: HashMap<OrderId, Order>,
    numbers: BTreeMap<u64, OrderId>,
    events: Vec<OrderEvent>,
    events_by_order: HashMap<OrderId, Vec<usize>>,
    idempotency: HashMap<(CustomerId, String), Claim>,
    provider_events: HashMap<(String, String), DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct Claim {
    fingerprint: String,
    started_at: DateTime<Utc>,
    order_id: Option<OrderId>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before it can
        // panic (checks first, writes last), so a poisoned lock is safe.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The events after `after`, oldest first, at most `limit`, and the
    /// last event's id (for the delivery store).
    pub(super) fn events_since(
        &self,
        after: Option<EventId>,
        limit: usize,
    ) -> (Vec<OrderEvent>, Option<EventId>) {
        let s = self.lock();
        let start = after.map_or(0, |a| usize::try_from(a.get()).unwrap_or(usize::MAX));
        let events = s.events.iter().skip(start).take(limit).cloned().collect();
        (events, s.events.last().map(|e| e.id))
    }

    /// The event `id`, if any.
    pub(super) fn event(&self, id: EventId) -> Option<OrderEvent> {
        let s = self.lock();
        let index = usize::try_from(id.get()).ok()?.checked_sub(1)?;
        s.events.get(index).cloned()
    }
}

fn cursor_number(cursor: Option<&Cursor>) -> Result<Option<u64>, StoreError> {
    cursor
        .map(|c| c.0.parse::<u64>().map_err(|_| StoreError::InvalidCursor))
        .transpose()
}

/// Walks `seq` newest first from below `cursor`, keeping up to `limit`
/// items that `keep` maps to `Some`.
fn page_of<K, T>(
    seq: &BTreeMap<u64, K>,
    page: &PageRequest,
    mut keep: impl FnMut(&K) -> Option<T>,
) -> Result<Page<T>, StoreError> {
    let before = cursor_number(page.cursor.as_ref())?.unwrap_or(u64::MAX);
    let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
    let mut items = Vec::with_capacity(limit);
    let mut last = None;
    let mut more = false;
    for (n, key) in seq.range(..before).rev() {
        if let Some(item) = keep(key) {
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(item);
            last = Some(*n);
        }
    }
    Ok(Page {
        items,
        next_cursor: if more {
            last.map(|n| Cursor(n.to_string()))
        } else {
            None
        },
    })
}

#[async_trait]
impl CatalogueStore for MemoryStore {
    async fn insert_product(&self, product: &Product) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.skus.contains_key(product.sku()) || s.products.contains_key(product.id()) {
            return Err(StoreError::Duplicate("sku"));
        }
        s.next_product += 1;
        let n = s.next_product;
        s.product_seq.insert(n, product.id().clone());
        s.skus.insert(product.sku().clone(), product.id().clone());
        s.products.insert(product.id().clone(), product.clone());
        Ok(())
    }

    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        expected_version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Product, StoreError> {
        let mut s = self.lock();
        let product = s.products.get_mut(id).ok_or(StoreError::NotFound)?;
        let updated = patch.applied_to(product, expected_version, now)?;
        *product = updated.clone();
        Ok(updated)
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        Ok(self.lock().products.get(id).cloned())
    }

    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let s = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| s.products.get(id).cloned())
            .collect())
    }

    async fn list_products(
        &self,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError> {
        let s = self.lock();
        page_of(&s.product_seq, page, |id| {
            s.products
                .get(id)
                .filter(|p| p.active() || !active_only)
                .cloned()
        })
    }

    async fn search_products(
        &self,
        query: &ProductQuery,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError> {
        let s = self.lock();
        page_of(&s.product_seq, page, |id| {
            s.products
                .get(id)
                .filter(|p| (p.active() || !active_only) && query.matches(p))
                .cloned()
        })
    }
}

#[async_trait]
impl CartStore for MemoryStore {
    async fn insert_cart(&self, cart: &Cart) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.carts.contains_key(cart.id()) {
            return Err(StoreError::Duplicate("cart"));
        }
        s.carts.insert(cart.id().clone(), cart.clone());
        Ok(())
    }

    async fn cart(&self, id: &CartId) -> Result<Option<Cart>, StoreError> {
        Ok(self.lock().carts.get(id).cloned())
    }

    async fn update_cart(&self, cart: &Cart, expected_version: u64) -> Result<(), StoreError> {
        let mut s = self.lock();
        let stored = s.carts.get_mut(cart.id()).ok_or(StoreError::NotFound)?;
        if stored.version() != expected_version {
            return Err(StoreError::Conflict);
        }
        *stored = cart.clone();
        Ok(())
    }

    async fn open_cart(
        &self,
        customer: &CustomerId,
        currency: Option<crate::money::Currency>,
    ) -> Result<Option<Cart>, StoreError> {
        let s = self.lock();
        Ok(s.carts
            .values()
            .filter(|c| c.customer_id() == customer && c.is_open())
            .filter(|c| currency.is_none_or(|currency| c.currency() == currency))
            .max_by(|a, b| (a.updated_at(), a.id()).cmp(&(b.updated_at(), b.id())))
            .cloned())
    }

    async fn claim_cart(&self, claim: &CartClaim) -> Result<(), StoreError> {
        let mut s = self.lock();
        let check = |s: &State, cart: &Cart, version: u64| match s.carts.get(cart.id()) {
            None => Err(StoreError::NotFound),
            Some(stored) if stored.version() != version => Err(StoreError::Conflict),
            Some(_) => Ok(()),
        };
        check(&s, &claim.guest, claim.guest_version)?;
        if let Some((into, version)) = &claim.into {
            check(&s, into, *version)?;
            s.carts.insert(into.id().clone(), into.clone());
        }
        s.carts
            .insert(claim.guest.id().clone(), claim.guest.clone());
        Ok(())
    }
}

#[async_trait]
impl DiscountStore for MemoryStore {
    async fn insert_discount(&self, discount: &Discount) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.discounts.contains_key(discount.code()) {
            return Err(StoreError::Duplicate("code"));
        }
        s.next_discount += 1;
        let n = s.next_discount;
        s.discount_seq.insert(n, discount.code().clone());
        s.discounts
            .insert(discount.code().clone(), discount.clone());
        Ok(())
    }

    async fn discount(&self, code: &DiscountCode) -> Result<Option<Discount>, StoreError> {
        Ok(self.lock().discounts.get(code).cloned())
    }

    async fn list_discounts(&self, page: &PageRequest) -> Result<Page<Discount>, StoreError> {
        let s = self.lock();
        page_of(&s.discount_seq, page, |code| s.discounts.get(code).cloned())
    }

    async fn set_discount_active(
        &self,
        code: &DiscountCode,
        active: bool,
    ) -> Result<Discount, StoreError> {
        let mut s = self.lock();
        let stored = s.discounts.get_mut(code).ok_or(StoreError::NotFound)?;
        *stored = stored.clone().with_active(active);
        Ok(stored.clone())
    }
}

impl State {
    fn push_event(&mut self, make: impl FnOnce(EventId) -> OrderEvent) -> OrderEvent {
        let id = EventId::new(self.events.len() as u64 + 1);
        let event = make(id);
        self.events_by_order
            .entry(event.order_id.clone())
            .or_default()
            .push(self.events.len());
        self.events.push(event.clone());
        event
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn place_order(&self, placement: OrderPlacement) -> Result<Placed, StoreError> {
        let mut s = self.lock();
        // Check everything first; write only when nothing can fail.
        match s.carts.get(&placement.cart_id) {
            Some(cart) if cart.status() == CartStatus::Open => {}
            Some(_) => return Err(StoreError::CartClosed),
            None => return Err(StoreError::NotFound),
        }
        let mut short = Vec::new();
        let mut needed: HashMap<&ProductId, u32> = HashMap::new();
        for line in &placement.order.lines {
            *needed.entry(&line.product_id).or_default() += line.quantity.get();
        }
        for line in &placement.order.lines {
            let have = s.products.get(&line.product_id).map_or(0, |p| p.stock());
            if have < needed[&line.product_id] && !short.contains(&line.product_id) {
                short.push(line.product_id.clone());
            }
        }
        if !short.is_empty() {
            return Err(StoreError::InsufficientStock(short));
        }
        let mut use_key = None;
        if let Some(code) = &placement.discount_code {
            match s.discounts.get(code) {
                Some(d) if d.active() && !d.used_up() => {
                    if let Some(max) = d.max_uses_per_customer() {
                        let key = (
                            code.clone(),
                            crate::discount::use_key(
                                &placement.order.customer_id,
                                placement.order.email.as_str(),
                            ),
                        );
                        if s.discount_uses.get(&key).copied().unwrap_or(0) >= max {
                            return Err(StoreError::DiscountUsedUpByCustomer);
                        }
                        use_key = Some(key);
                    }
                }
                _ => return Err(StoreError::DiscountUnavailable),
            }
        }
        if let Some(claim) = &placement.idempotency
            && s.idempotency
                .get(&(claim.customer_id.clone(), claim.key.clone()))
                .is_some_and(|c| c.order_id.is_some())
        {
            return Err(StoreError::IdempotencyKeyUsed);
        }

        // Each of these was checked above and cannot be refused now.
        for (id, quantity) in needed {
            if let Some(product) = s.products.get_mut(id) {
                let _ = product.take_stock(quantity);
            }
        }
        let now = placement.order.created_at;
        if let Some(cart) = s.carts.get_mut(&placement.cart_id) {
            let _ = cart.close(now);
        }
        if let Some(code) = &placement.discount_code
            && let Some(d) = s.discounts.get_mut(code)
        {
            let _ = d.record_use();
        }
        if let Some(key) = use_key {
            *s.discount_uses.entry(key).or_default() += 1;
        }
        let number = s.numbers.keys().next_back().map_or(1, |n| n + 1);
        let actor = placement.actor;
        let new = placement.order;
        let event = s.push_event(|id| new.first_event(id, actor));
        let order = new.into_order(OrderNumber::new(number));
        s.numbers.insert(number, order.id().clone());
        s.orders.insert(order.id().clone(), order.clone());
        if let Some(claim) = placement.idempotency {
            s.idempotency.insert(
                (claim.customer_id, claim.key),
                Claim {
                    fingerprint: claim.fingerprint,
                    started_at: now,
                    order_id: Some(order.id().clone()),
                },
            );
        }
        Ok(Placed { order, event })
    }

    async fn order_by_fulfilment(&self, id: &FulfilmentId) -> Result<Option<Order>, StoreError> {
        let s = self.lock();
        Ok(s.orders
            .values()
            .find(|o| o.fulfilments().iter().any(|f| &f.id == id))
            .cloned())
    }

    async fn order_by_return(&self, id: &ReturnId) -> Result<Option<Order>, StoreError> {
        let s = self.lock();
        Ok(s.orders
            .values()
            .find(|o| o.returns().iter().any(|r| &r.id == id))
            .cloned())
    }

    async fn order_by_refund(&self, id: &RefundId) -> Result<Option<Order>, StoreError> {
        let s = self.lock();
        Ok(s.orders
            .values()
            .find(|o| o.refunds().iter().any(|r| &r.id == id))
            .cloned())
    }

    async fn order_by_payment_reference(
        &self,
        reference: &str,
    ) -> Result<Option<Order>, StoreError> {
        let s = self.lock();
        Ok(s.orders
            .values()
            .find(|o| o.payment().reference.as_deref() == Some(reference))
            .cloned())
    }

    async fn awaiting_payment(
        &self,
        placed_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let s = self.lock();
        Ok(s.numbers
            .values()
            .filter_map(|id| s.orders.get(id))
            .filter(|o| {
                o.status() == crate::order::OrderStatus::AwaitingPayment
                    && o.created_at() < placed_before
            })
            .take(limit)
            .cloned()
            .collect())
    }

    async fn provider_event_seen(
        &self,
        provider: &str,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let key = (provider.to_owned(), event_id.to_owned());
        Ok(self.lock().provider_events.contains_key(&key))
    }

    async fn record_provider_event(
        &self,
        provider: &str,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let key = (provider.to_owned(), event_id.to_owned());
        let mut s = self.lock();
        if s.provider_events.contains_key(&key) {
            return Ok(false);
        }
        s.provider_events.insert(key, at);
        Ok(true)
    }

    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self.lock().orders.get(id).cloned())
    }

    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let s = self.lock();
        let email = filter.email.as_ref().map(|e| e.to_lowercase());
        let search = filter.search.as_ref().map(|q| q.trim().to_lowercase());
        page_of(&s.numbers, page, |id| {
            let order = s.orders.get(id)?;
            let keep = filter
                .customer_id
                .as_ref()
                .is_none_or(|c| order.customer_id() == c)
                && filter.status.is_none_or(|st| order.status() == st)
                && email
                    .as_ref()
                    .is_none_or(|e| &order.email().as_str().to_lowercase() == e)
                && search.as_ref().is_none_or(|q| {
                    order.number().to_string() == *q
                        || order.email().as_str().to_lowercase().contains(q.as_str())
                });
            keep.then(|| order.clone())
        })
    }

    async fn change_status(
        &self,
        change: &StatusChange,
    ) -> Result<(Order, OrderEvent), StoreError> {
        let mut s = self.lock();
        let mut order = s
            .orders
            .get(&change.order_id)
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if order.version() != change.expected_version || order.status() != change.from {
            return Err(StoreError::Conflict);
        }
        for line in change.restock() {
            if let Some(product) = s.products.get_mut(&line.product_id) {
                product.return_stock(line.quantity.get());
            }
        }
        let event = s.push_event(|id| change.apply(&mut order, id));
        s.orders.insert(order.id().clone(), order.clone());
        Ok((order, event))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn order_events(&self, id: &OrderId) -> Result<Vec<OrderEvent>, StoreError> {
        let s = self.lock();
        Ok(s.events_by_order
            .get(id)
            .map(|ix| ix.iter().map(|&i| s.events[i].clone()).collect())
            .unwrap_or_default())
    }
}

#[async_trait]
impl EventLog for MemoryStore {
    async fn events_after(
        &self,
        after: Option<EventId>,
        order: Option<&OrderId>,
        limit: usize,
    ) -> Result<Vec<OrderEvent>, StoreError> {
        let s = self.lock();
        // Event n sits at index n - 1.
        let start = after.map_or(0, |a| usize::try_from(a.get()).unwrap_or(usize::MAX));
        let events = match order {
            Some(id) => s
                .events_by_order
                .get(id)
                .map(|ix| {
                    ix.iter()
                        .filter(|&&i| i >= start)
                        .take(limit)
                        .map(|&i| s.events[i].clone())
                        .collect()
                })
                .unwrap_or_default(),
            None => s.events.iter().skip(start).take(limit).cloned().collect(),
        };
        Ok(events)
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn begin_idempotent(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyState, StoreError> {
        let mut s = self.lock();
        let key = (claim.customer_id.clone(), claim.key.clone());
        match s.idempotency.get(&key) {
            Some(Claim {
                fingerprint,
                order_id: Some(order_id),
                ..
            }) => {
                return Ok(IdempotencyState::Completed {
                    fingerprint: fingerprint.clone(),
                    order_id: order_id.clone(),
                });
            }
            Some(Claim {
                fingerprint,
                started_at,
                order_id: None,
            }) if *started_at >= stale_before => {
                return Ok(IdempotencyState::InProgress {
                    fingerprint: fingerprint.clone(),
                });
            }
            _ => {}
        }
        s.idempotency.insert(
            key,
            Claim {
                fingerprint: claim.fingerprint.clone(),
                started_at: now,
                order_id: None,
            },
        );
        Ok(IdempotencyState::Claimed)
    }

    async fn release_idempotent(
        &self,
        customer_id: &CustomerId,
        key: &str,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let key = (customer_id.clone(), key.to_owned());
        if s.idempotency
            .get(&key)
            .is_some_and(|c| c.order_id.is_none())
        {
            s.idempotency.remove(&key);
        }
        Ok(())
    }
}
