//! Orders after checkout: reading them, moving them through the status
//! table, and following them live.

use super::{Access, Orders};
use crate::Error;
use crate::ids::{CustomerId, EventId, OrderId};
use crate::order::{
    Actor, Note, Order, OrderEvent, OrderStatus, PaymentStatus, Record, Transition, plan_transition,
};
use crate::ports::{OrderFilter, Page, PageRequest, StoreError, Subscription, Topic};

impl Orders {
    /// One order, if `access` allows it; for [`Access::Owner`], as the
    /// customer may see it ([`Order::for_customer`]: no internal notes).
    ///
    /// # Errors
    /// [`Error::NotFound`] if unknown or not the caller's.
    pub async fn order(&self, access: Access<'_>, id: &OrderId) -> Result<Order, Error> {
        match self.inner.store.order(id).await? {
            Some(order) if access.allows(order.customer_id()) => Ok(access.shown(order)),
            _ => Err(Error::NotFound("order")),
        }
    }

    /// Orders matching `filter` that `access` may see, newest first.
    ///
    /// [`Access::Owner`] lists that customer's orders only, whatever
    /// `filter.customer_id` says (an adapter cannot show another
    /// customer's orders by forgetting to filter); [`Access::Staff`] lists
    /// every order matching `filter`.
    ///
    /// ```
    /// # futures_executor::block_on(async {
    /// use std::sync::Arc;
    /// use orders_core::{Access, Orders};
    /// use orders_core::ids::CustomerId;
    /// use orders_core::memory::MemoryStore;
    /// use orders_core::ports::{OrderFilter, PageRequest};
    ///
    /// let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
    /// let ada = CustomerId::parse("ada").unwrap();
    /// let bob = CustomerId::parse("bob").unwrap();
    /// // Ada asks for Bob's orders: she gets her own (none).
    /// let filter = OrderFilter { customer_id: Some(bob), ..OrderFilter::default() };
    /// let page = orders
    ///     .list_orders(Access::Owner(&ada), &filter, &PageRequest::default())
    ///     .await
    ///     .unwrap();
    /// assert!(page.items.is_empty());
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] on `cursor` for a bad cursor.
    pub async fn list_orders(
        &self,
        access: Access<'_>,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<Order>, Error> {
        match access {
            Access::Staff => Ok(self.inner.store.list_orders(filter, page).await?),
            Access::Owner(customer) => {
                let own = OrderFilter {
                    customer_id: Some(customer.clone()),
                    ..filter.clone()
                };
                let mut page = self.inner.store.list_orders(&own, page).await?;
                page.items = page.items.into_iter().map(Order::for_customer).collect();
                Ok(page)
            }
        }
    }

    /// The order's events, oldest first; for [`Access::Owner`], only
    /// those the customer may see ([`OrderEvent::visible_to_customer`]:
    /// no internal note's).
    ///
    /// # Errors
    /// [`Error::NotFound`] if unknown or not the caller's.
    pub async fn order_events(
        &self,
        access: Access<'_>,
        id: &OrderId,
    ) -> Result<Vec<OrderEvent>, Error> {
        self.order(access, id).await?;
        let mut events = self.inner.store.order_events(id).await?;
        if matches!(access, Access::Owner(_)) {
            events.retain(OrderEvent::visible_to_customer);
        }
        Ok(events)
    }

    /// The customer cancels their own order (from `pending`, `paid` or
    /// `processing`): its stock goes back and a captured card payment is
    /// refunded.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Transition`] (`invalid_transition`).
    pub async fn cancel(
        &self,
        customer: &CustomerId,
        id: &OrderId,
        note: Option<Note>,
    ) -> Result<Order, Error> {
        let transition = Transition {
            to: OrderStatus::Cancelled,
            note,
            tracking_number: None,
        };
        self.move_order(
            Access::Owner(customer),
            id,
            transition,
            Actor::customer(customer),
        )
        .await
    }

    /// Staff move an order through the status table.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Transition`] (not in the table, no
    /// tracking number for `shipped`, or refused by a guard),
    /// [`Error::ConcurrentUpdate`] if it kept changing under us.
    pub async fn transition(
        &self,
        actor: Actor,
        id: &OrderId,
        transition: Transition,
    ) -> Result<Order, Error> {
        self.move_order(Access::Staff, id, transition, actor).await
    }

    async fn move_order(
        &self,
        access: Access<'_>,
        id: &OrderId,
        transition: Transition,
        actor: Actor,
    ) -> Result<Order, Error> {
        let inner = &self.inner;
        for _ in 0..=inner.config.max_retries {
            let order = self.order(access, id).await?;
            let change = plan_transition(
                &order,
                transition.clone(),
                actor.clone(),
                &inner.guards,
                inner.clock.now(),
            )?;
            if let (Some(after), Some(reference)) = (change.payment(), &order.payment().reference) {
                // Move the money before recording it: a provider call that
                // fails leaves the order as it was. Keys derive from the
                // order, so a retry after a lost race acts once.
                match after.status {
                    PaymentStatus::Refunded => {
                        let amount = order.payment().refundable();
                        let key = format!("refund:{id}:{}", transition.to);
                        inner.payments.refund(reference, amount, &key).await?;
                    }
                    PaymentStatus::Voided => {
                        inner.payments.void(reference).await?;
                    }
                    _ => {}
                }
            }
            match inner.store.change_status(&change).await {
                Ok((order, event)) => {
                    let _ = inner.notifier.publish(&event).await;
                    // Shipping by transition ships what remains in one
                    // fulfilment, which captures its share on shipment.
                    let order = match change.records().first() {
                        Some(Record::Fulfilment(f)) if change.to() == OrderStatus::Shipped => {
                            self.capture_share(order, f, actor.clone()).await
                        }
                        _ => order,
                    };
                    return Ok(access.shown(order));
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::ConcurrentUpdate)
    }

    /// Follows one order: its current state, then every later event in
    /// order, none skipped. With `after`, the events after that one are
    /// replayed first (for a client that reconnects). For
    /// [`Access::Owner`], the snapshot and the events are as the customer
    /// may see them (no internal note, nor its event).
    ///
    /// # Errors
    /// [`Error::NotFound`] if unknown or not allowed; [`Error::Validation`]
    /// on `after` if it is not an event of this order.
    pub async fn track(
        &self,
        access: Access<'_>,
        id: &OrderId,
        after: Option<EventId>,
    ) -> Result<(Order, Subscription), Error> {
        let (order, after, _) = self.track_start(access, id, after).await?;
        let subscription = self
            .inner
            .notifier
            .subscribe(Topic::Order(id.clone()), Some(after))
            .await?;
        let subscription = match access {
            Access::Staff => subscription,
            Access::Owner(_) => customer_view(subscription),
        };
        Ok((order, subscription))
    }

    /// Where [`Orders::track`] starts, without subscribing: the snapshot,
    /// the id of the last event it reflects (or `after`), and the order's
    /// events after that one which `access` may see, oldest first.
    ///
    /// For a host that shares one live subscription per order among many
    /// followers: it subscribes first, then calls this, sends the snapshot
    /// and the returned events, and then every live event except those
    /// whose id is at most the returned id or among the returned events.
    ///
    /// # Errors
    /// As [`Orders::track`].
    pub async fn track_start(
        &self,
        access: Access<'_>,
        id: &OrderId,
        after: Option<EventId>,
    ) -> Result<(Order, EventId, Vec<OrderEvent>), Error> {
        let order = self.order(access, id).await?;
        let events = self.inner.store.order_events(id).await?;
        let after = match after {
            Some(after) => {
                if !events.iter().any(|e| e.id == after) {
                    return Err(Error::field("after", "not an event of this order"));
                }
                after
            }
            // The snapshot reflects exactly its first `version` events, so
            // resuming after the version-th one neither misses nor repeats.
            None => {
                let index = usize::try_from(order.version())
                    .unwrap_or(usize::MAX)
                    .saturating_sub(1);
                events
                    .get(index)
                    .or(events.last())
                    .map(|e| e.id)
                    .ok_or_else(|| Error::Storage(format!("order {id} has no events")))?
            }
        };
        let owner = matches!(access, Access::Owner(_));
        let replay = events
            .into_iter()
            .filter(|e| e.id > after && (!owner || e.visible_to_customer()))
            .collect();
        Ok((order, after, replay))
    }

    /// Every order's events from now on (or after `after`), for dashboards.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn follow_all(&self, after: Option<EventId>) -> Result<Subscription, Error> {
        Ok(self.inner.notifier.subscribe(Topic::All, after).await?)
    }
}

/// The events of `subscription` a customer may see
/// ([`OrderEvent::visible_to_customer`]); errors pass.
pub fn customer_view(subscription: Subscription) -> Subscription {
    use futures_util::StreamExt;
    Box::pin(subscription.filter(|item| {
        std::future::ready(match item {
            Ok(event) => event.visible_to_customer(),
            Err(_) => true,
        })
    }))
}
