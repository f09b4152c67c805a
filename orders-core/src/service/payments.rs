//! Payments after checkout: the customer's return from their bank, the
//! provider's webhooks, the sweeper that releases expired holds, and the
//! capture and refund hooks later steps (fulfilments, refunds) call.
//!
//! Every path reads the payment back from the provider and records what it
//! says ([`plan_payment`]), compare-and-set on the order's version. So when
//! the customer's return and the webhook race, one write wins, the other
//! finds nothing left to change; events that arrive twice or out of order
//! leave the order as the provider has it now. Only the write that moves
//! an order from `awaiting_payment` to `paid` captures (under
//! `on_checkout`), with a key derived from the order, so nothing is
//! captured twice.

use super::{Access, Orders};
use crate::Error;
use crate::ids::{CustomerId, OrderId};
use crate::money::Money;
use crate::order::{
    Actor, CapturePolicy, Order, OrderStatus, PaymentStatus, ProviderState, plan_payment,
};
use crate::ports::{PaymentError, StoreError};

/// What a provider webhook did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookOutcome {
    /// The event was acted on: the order as it stands now (changed, or
    /// already as the provider has it).
    Applied(Box<Order>),
    /// This event id was acted on before: nothing was done.
    Duplicate,
    /// About no order of this shop (or a kind of event not followed):
    /// nothing was done.
    Ignored,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Orders whose hold expired, cancelled with their stock returned.
    pub cancelled: Vec<OrderId>,
    /// Orders found paid after all (the customer finished in time but
    /// neither the return nor the webhook arrived).
    pub paid: Vec<OrderId>,
    /// Orders left for the next sweep (the provider did not answer, or
    /// another instance moved them first).
    pub skipped: Vec<OrderId>,
}

impl Orders {
    /// The configured payment provider's name (`"test"`, `"stripe"`): the
    /// `{provider}` of its webhook path.
    pub fn payment_provider(&self) -> &str {
        self.inner.payments.provider()
    }

    /// The request header that carries the provider's webhook signature
    /// (`Stripe-Signature`), for a host that receives its webhooks.
    pub fn payment_signature_header(&self) -> &str {
        self.inner.payments.signature_header()
    }

    /// The customer is back from their bank (`POST
    /// /api/orders/{id}/payment/confirm`): asks the provider to finish the
    /// payment and records what it says. An order `awaiting_payment`
    /// becomes `paid` (captured under `on_checkout`), or `cancelled` with
    /// its stock back if the action failed. Calling it again, or after the
    /// webhook did the same, changes nothing and returns the order.
    ///
    /// # Errors
    /// [`Error::NotFound`] (unknown or not the caller's),
    /// [`Error::PaymentUnavailable`] (nothing recorded; call again).
    pub async fn confirm_payment(
        &self,
        customer: &CustomerId,
        id: &OrderId,
    ) -> Result<Order, Error> {
        // The stored order (not the customer's view of it) is what the
        // change is planned on; the owner check is the same as `order`'s.
        let order = match self.inner.store.order(id).await? {
            Some(order) if Access::Owner(customer).allows(order.customer_id()) => order,
            _ => return Err(Error::NotFound("order")),
        };
        self.settle(order, true, Actor::customer(customer))
            .await
            .map(Order::for_customer)
    }

    /// A provider's webhook (`POST /api/payments/webhooks/{provider}`):
    /// checks its signature and age, and records the payment as the
    /// provider has it now. Each event id is acted on once.
    ///
    /// # Errors
    /// [`Error::NotFound`] for another provider's name,
    /// [`Error::WebhookRejected`] (bad or stale signature, unreadable: 400,
    /// nothing changed), [`Error::PaymentUnavailable`] (the provider
    /// retries).
    pub async fn payment_webhook(
        &self,
        provider: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookOutcome, Error> {
        let inner = &self.inner;
        if provider != inner.payments.provider() {
            return Err(Error::NotFound("payment provider"));
        }
        let signature = signature.ok_or_else(|| {
            Error::WebhookRejected(format!("no {} header", inner.payments.signature_header()))
        })?;
        let event = inner
            .payments
            .verify_webhook(signature, body, inner.clock.now())
            .map_err(|e| Error::WebhookRejected(e.to_string()))?;
        if inner.store.provider_event_seen(provider, &event.id).await? {
            return Ok(WebhookOutcome::Duplicate);
        }
        let Some(reference) = event.reference else {
            return Ok(WebhookOutcome::Ignored);
        };
        // An event about a payment no order has (yet): the checkout that
        // made it records the state it gets back itself.
        let Some(order) = inner.store.order_by_payment_reference(&reference).await? else {
            return Ok(WebhookOutcome::Ignored);
        };
        let order = self.settle(order, false, Actor::system()).await?;
        // Recorded after acting: a crash in between acts again, which
        // changes nothing the second time.
        inner
            .store
            .record_provider_event(provider, &event.id, inner.clock.now())
            .await?;
        Ok(WebhookOutcome::Applied(Box::new(order)))
    }

    /// Cancels, with their stock returned and their authorisation voided,
    /// up to `limit` orders whose hold on stock for the customer's action
    /// ([`OrdersConfig::payment_hold`](crate::OrdersConfig)) has expired.
    /// An order the provider reports paid after all becomes `paid`.
    ///
    /// Safe on several instances at once: each cancellation is a
    /// compare-and-set on the order's version, so stock goes back once.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn sweep_payments(&self, limit: usize) -> Result<SweepReport, Error> {
        let inner = &self.inner;
        let before = inner.clock.now() - inner.config.payment_hold;
        let mut report = SweepReport::default();
        for order in inner.store.awaiting_payment(before, limit).await? {
            let id = order.id().clone();
            match self.expire(order).await {
                Ok(order) if order.status() == OrderStatus::Cancelled => report.cancelled.push(id),
                Ok(order) if order.status() == OrderStatus::Paid => report.paid.push(id),
                Ok(_) | Err(Error::PaymentUnavailable | Error::ConcurrentUpdate) => {
                    report.skipped.push(id);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(report)
    }

    /// Takes `amount` (all that is authorised when `None`) of an order's
    /// authorised card payment: the hook a fulfilment calls under
    /// `on_shipment`. `idempotency_key` names this capture (a fulfilment's
    /// id): calling again with it captures nothing more.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::PaymentRefused`] (no card payment, or
    /// more than is authorised), [`Error::PaymentUnavailable`].
    pub async fn capture_payment(
        &self,
        actor: Actor,
        id: &OrderId,
        amount: Option<Money>,
        idempotency_key: &str,
    ) -> Result<Order, Error> {
        let order = self.order(Access::Staff, id).await?;
        let Some(reference) = order.payment().reference.clone() else {
            return Err(nothing_to(&order, "capture"));
        };
        if order.payment().capturable().is_zero() {
            // Already captured under this key: the provider's state says.
            return self.settle(order, false, actor).await;
        }
        let amount = amount.unwrap_or_else(|| order.payment().capturable());
        let key = format!("capture:{id}:{idempotency_key}");
        let state = self
            .inner
            .payments
            .capture(&reference, amount, &key)
            .await?;
        self.record(id, &state, actor).await
    }

    /// Gives back `amount` of an order's captured card payment, without
    /// changing its status: the hook a refund calls. `idempotency_key`
    /// names this refund: calling again with it refunds nothing more.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::PaymentRefused`] (no card payment, or
    /// more than is left), [`Error::PaymentUnavailable`].
    pub async fn refund_payment(
        &self,
        actor: Actor,
        id: &OrderId,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<Order, Error> {
        let order = self.order(Access::Staff, id).await?;
        let Some(reference) = order.payment().reference.clone() else {
            return Err(nothing_to(&order, "refund"));
        };
        let key = format!("refund:{id}:{idempotency_key}");
        let state = self.inner.payments.refund(&reference, amount, &key).await?;
        self.record(id, &state, actor).await
    }

    /// Reads the payment (asking the provider to finish the customer's
    /// action when `complete`) and records it; captures under
    /// `on_checkout` when this write made the order `paid`. Planned first
    /// on `known` (the order as the caller just read it from the store);
    /// a lost compare-and-set reads it again.
    pub(super) async fn settle(
        &self,
        known: Order,
        complete: bool,
        actor: Actor,
    ) -> Result<Order, Error> {
        let inner = &self.inner;
        let id = known.id().clone();
        let mut known = Some(known);
        for _ in 0..=inner.config.max_retries {
            let order = match known.take() {
                Some(order) => order,
                None => inner
                    .store
                    .order(&id)
                    .await?
                    .ok_or(Error::NotFound("order"))?,
            };
            let Some(reference) = order.payment().reference.clone() else {
                return Ok(order);
            };
            let mut state = if complete && order.status() == OrderStatus::AwaitingPayment {
                inner.payments.complete_action(&reference).await?
            } else {
                inner.payments.read(&reference).await?
            };
            if order.status() == OrderStatus::Cancelled && state.status == PaymentStatus::Authorized
            {
                // Authorised after its hold expired (or it was cancelled):
                // nothing may stay held for a cancelled order.
                state = inner.payments.void(&reference).await?;
            }
            let Some(change) = plan_payment(&order, &state, actor.clone(), inner.clock.now())
            else {
                return Ok(order);
            };
            // Planned on the order as the store returned it: the store
            // need not read it again.
            match inner.store.change_status_of(&order, &change).await {
                Ok((order, event)) => {
                    let _ = inner.notifier.publish(&event).await;
                    if change.from() == OrderStatus::AwaitingPayment
                        && change.to() == OrderStatus::Paid
                    {
                        return Ok(self.capture_on_checkout(order).await);
                    }
                    return Ok(order);
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::ConcurrentUpdate)
    }

    /// Under `on_checkout`, captures all that `order` has authorised and
    /// records it. A capture that fails leaves the order `paid` with its
    /// payment `authorized` (the provider's next webhook or a staff capture
    /// finishes it); the order is returned either way.
    pub(super) async fn capture_on_checkout(&self, order: Order) -> Order {
        let inner = &self.inner;
        let payment = order.payment();
        let Some(reference) = payment.reference.clone() else {
            return order;
        };
        if inner.config.capture_policy != CapturePolicy::OnCheckout
            || payment.status != PaymentStatus::Authorized
        {
            return order;
        }
        let key = format!("capture:{}:checkout", order.id());
        let Ok(state) = inner
            .payments
            .capture(&reference, payment.capturable(), &key)
            .await
        else {
            return order;
        };
        let id = order.id().clone();
        self.record_on(Some(order.clone()), &id, &state, Actor::system())
            .await
            .unwrap_or(order)
    }

    /// Records `state` on the order, reloading on a lost compare-and-set;
    /// nothing when the order already says it.
    pub(super) async fn record(
        &self,
        id: &OrderId,
        state: &ProviderState,
        actor: Actor,
    ) -> Result<Order, Error> {
        self.record_on(None, id, state, actor).await
    }

    /// [`record`](Self::record), planned first on `known` (the order as this
    /// call just wrote it) instead of a read; a lost compare-and-set reads.
    /// The write is [`change_status_of`](crate::ports::OrderStore::change_status_of)
    /// the order it was planned on, so a store need not read it again
    /// either: the capture recorded after a checkout is one statement on
    /// PostgreSQL.
    async fn record_on(
        &self,
        mut known: Option<Order>,
        id: &OrderId,
        state: &ProviderState,
        actor: Actor,
    ) -> Result<Order, Error> {
        let inner = &self.inner;
        for _ in 0..=inner.config.max_retries {
            let order = match known.take() {
                Some(order) => order,
                None => inner
                    .store
                    .order(id)
                    .await?
                    .ok_or(Error::NotFound("order"))?,
            };
            let Some(change) = plan_payment(&order, state, actor.clone(), inner.clock.now()) else {
                return Ok(order);
            };
            match inner.store.change_status_of(&order, &change).await {
                Ok((order, event)) => {
                    let _ = inner.notifier.publish(&event).await;
                    return Ok(order);
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::ConcurrentUpdate)
    }

    /// One expired hold: paid after all, or cancelled (the order first, so
    /// a customer finishing at this moment cannot be charged for a
    /// cancelled order: their authorisation is voided after).
    async fn expire(&self, order: Order) -> Result<Order, Error> {
        let inner = &self.inner;
        let Some(reference) = order.payment().reference.clone() else {
            return Ok(order);
        };
        let state = inner.payments.read(&reference).await?;
        if state.status.counts_as_paid() {
            return self.settle(order, false, Actor::system()).await;
        }
        let mut voided = state.clone();
        voided.status = if state.status == PaymentStatus::Failed {
            PaymentStatus::Failed
        } else {
            PaymentStatus::Voided
        };
        voided.next_action = None;
        let Some(change) = plan_payment(&order, &voided, Actor::system(), inner.clock.now()) else {
            return Ok(order);
        };
        let (order, event) = inner
            .store
            .change_status(&change)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => Error::ConcurrentUpdate,
                other => other.into(),
            })?;
        let _ = inner.notifier.publish(&event).await;
        // Best effort: a void that fails leaves an authorisation the
        // provider expires on its own; a payment still waiting for the
        // customer can no longer be captured by us.
        let _: Result<_, PaymentError> = inner.payments.void(&reference).await;
        Ok(order)
    }
}

/// Refused: the order has no card payment in a state to `what`.
fn nothing_to(order: &Order, what: &str) -> Error {
    Error::PaymentRefused(format!(
        "order {} has no card payment to {what}",
        order.id()
    ))
}
