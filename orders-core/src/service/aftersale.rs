//! After the sale: fulfilments (capturing their share under
//! `on_shipment`), returns, refunds through the payment port, and notes.
//!
//! Each change is planned on the order as read and written
//! compare-and-set on its version with its event; a lost race is planned
//! again on the fresh order (or, for a refund's reservation, answered
//! [`Error::ConcurrentUpdate`], so two staff refunding at once never both
//! pass the limit).

use super::{Access, Orders};
use crate::Error;
use crate::ids::{CustomerId, FulfilmentId, OrderId, RefundId, ReturnId};
use crate::order::{
    Actor, CapturePolicy, Fulfilment, FulfilmentRequest, NewNote, Order, OrderNote, PaymentStatus,
    ProviderState, Record, Refund, RefundAmount, RefundRequest, Return, ReturnMove, ReturnRequest,
    StatusChange, plan_delivery, plan_fulfilment, plan_note, plan_refund, plan_refund_failed,
    plan_refund_succeeded, plan_return, plan_return_move,
};
use crate::ports::{PaymentError, StoreError};

impl Orders {
    /// Writes the change `plan` makes of the order `id` as read (through
    /// `access`), planning again on a lost compare-and-set; publishes its
    /// event. Returns the order and the change written.
    async fn write_planned(
        &self,
        access: Access<'_>,
        id: &OrderId,
        plan: impl Fn(&Order) -> Result<StatusChange, Error>,
    ) -> Result<(Order, StatusChange), Error> {
        let inner = &self.inner;
        for _ in 0..=inner.config.max_retries {
            let order = self.order(access, id).await?;
            let change = plan(&order)?;
            match inner.store.change_status(&change).await {
                Ok((order, event)) => {
                    let _ = inner.notifier.publish(&event).await;
                    return Ok((order, change));
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::ConcurrentUpdate)
    }

    /// Staff ship some units of an order (`POST
    /// /admin/orders/{id}/fulfilments`): the order becomes
    /// `partially_shipped` or `shipped`. Under `on_shipment`, the
    /// fulfilment then captures its share of the total (key: its id); a
    /// capture that fails leaves the fulfilment recorded and its share
    /// authorised ([`Orders::capture_payment`] with the fulfilment's id and
    /// amount takes it later).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Transition`] (`invalid_transition`:
    /// not from `paid`, `processing` or `partially_shipped`),
    /// [`Error::Validation`] on `lines` (more than is left to ship),
    /// [`Error::ConcurrentUpdate`].
    pub async fn create_fulfilment(
        &self,
        actor: Actor,
        id: &OrderId,
        request: FulfilmentRequest,
    ) -> Result<(Order, Fulfilment), Error> {
        let now = self.inner.clock.now();
        let (order, change) = self
            .write_planned(Access::Staff, id, |order| {
                plan_fulfilment(
                    order,
                    request.clone(),
                    actor.clone(),
                    &self.inner.guards,
                    now,
                )
            })
            .await?;
        let Some(Record::Fulfilment(fulfilment)) = change.records().first().cloned() else {
            return Err(Error::Storage(
                "a fulfilment plan without its fulfilment".into(),
            ));
        };
        let order = self.capture_share(order, &fulfilment, actor).await;
        Ok((order, fulfilment))
    }

    /// Under `on_shipment`, captures `fulfilment`'s share of a card
    /// payment; the order as it stands after (unchanged if nothing is to
    /// capture or the capture failed).
    pub(super) async fn capture_share(
        &self,
        order: Order,
        fulfilment: &Fulfilment,
        actor: Actor,
    ) -> Order {
        let payment = order.payment();
        let capture = self.inner.config.capture_policy == CapturePolicy::OnShipment
            && payment.reference.is_some()
            && !payment.capturable().is_zero()
            && !fulfilment.amount.is_zero()
            && payment.status != PaymentStatus::Voided;
        if !capture {
            return order;
        }
        let amount = fulfilment.amount.min(payment.capturable()).ok();
        match self
            .capture_payment(actor, order.id(), amount, fulfilment.id.as_str())
            .await
        {
            Ok(order) => order,
            Err(_) => order,
        }
    }

    /// Staff mark a fulfilment delivered (`POST
    /// /admin/fulfilments/{id}/delivered`); the order is `delivered` once
    /// every unit has shipped and every fulfilment is delivered.
    ///
    /// # Errors
    /// [`Error::NotFound`] (no such fulfilment), [`Error::Transition`]
    /// (delivered already), [`Error::ConcurrentUpdate`].
    pub async fn mark_delivered(
        &self,
        actor: Actor,
        fulfilment: &FulfilmentId,
    ) -> Result<(Order, Fulfilment), Error> {
        let order = self
            .inner
            .store
            .order_by_fulfilment(fulfilment)
            .await?
            .ok_or(Error::NotFound("fulfilment"))?;
        let now = self.inner.clock.now();
        let (order, _) = self
            .write_planned(Access::Staff, order.id(), |order| {
                plan_delivery(order, fulfilment, actor.clone(), now)
            })
            .await?;
        let found = order
            .fulfilments()
            .iter()
            .find(|f| &f.id == fulfilment)
            .cloned()
            .ok_or(Error::NotFound("fulfilment"))?;
        Ok((order, found))
    }

    /// The customer asks to return delivered units (`POST
    /// /orders/{id}/returns`, owner only), within
    /// [`OrdersConfig::return_window`](crate::OrdersConfig) of the last
    /// delivery.
    ///
    /// # Errors
    /// [`Error::NotFound`] (unknown or not theirs), [`Error::Transition`]
    /// (not delivered), [`Error::Validation`] on `lines` (more than is
    /// returnable, or the window closed).
    pub async fn request_return(
        &self,
        customer: &CustomerId,
        id: &OrderId,
        request: ReturnRequest,
    ) -> Result<(Order, Return), Error> {
        let now = self.inner.clock.now();
        let window = self.inner.config.return_window;
        let (order, change) = self
            .write_planned(Access::Owner(customer), id, |order| {
                plan_return(
                    order,
                    request.clone(),
                    Actor::customer(customer),
                    window,
                    now,
                )
            })
            .await?;
        let Some(Record::Return(ret)) = change.records().first().cloned() else {
            return Err(Error::Storage("a return plan without its return".into()));
        };
        Ok((order.for_customer(), ret))
    }

    /// Staff approve, reject or receive a return (`POST
    /// /admin/returns/{id}/approve`, `/reject`, `/receive`); receiving with
    /// restock puts exactly its units back in stock.
    ///
    /// # Errors
    /// [`Error::NotFound`] (no such return), [`Error::Transition`]
    /// (`invalid_transition` from its status), [`Error::ConcurrentUpdate`].
    pub async fn move_return(
        &self,
        actor: Actor,
        id: &ReturnId,
        action: ReturnMove,
    ) -> Result<(Order, Return), Error> {
        let order = self
            .inner
            .store
            .order_by_return(id)
            .await?
            .ok_or(Error::NotFound("return"))?;
        let now = self.inner.clock.now();
        let (order, _) = self
            .write_planned(Access::Staff, order.id(), |order| {
                plan_return_move(order, id, action.clone(), actor.clone(), now)
            })
            .await?;
        let found = order
            .returns()
            .iter()
            .find(|r| &r.id == id)
            .cloned()
            .ok_or(Error::NotFound("return"))?;
        Ok((order, found))
    }

    /// Staff refund part or all of an order (`POST
    /// /admin/orders/{id}/refunds`). The refund is reserved (`pending`)
    /// compare-and-set on the order's version, asked of the provider with
    /// its id as idempotency key, then recorded `succeeded` with the
    /// payment as the provider reports it; the order is `refunded` once
    /// all of it is. A refund the provider refused is removed, its event
    /// (`refund_updated`, `failed`) the only trace, and the refusal is
    /// returned.
    ///
    /// # Errors
    /// [`Error::Validation`] (more than is left to refund: on `lines`,
    /// `shipping` or `amount`), [`Error::NotFound`],
    /// [`Error::ConcurrentUpdate`] (the order changed while the refund
    /// was being reserved: reload, the limit may have moved),
    /// [`Error::PaymentRefused`], [`Error::PaymentUnavailable`] (the
    /// refund stays `pending`; [`Orders::complete_refund`] finishes it).
    pub async fn refund(
        &self,
        actor: Actor,
        id: &OrderId,
        request: RefundRequest,
    ) -> Result<(Order, Refund), Error> {
        let inner = &self.inner;
        let order = self.order(Access::Staff, id).await?;
        let request = with_return_lines(&order, request);
        let change = plan_refund(&order, request, actor.clone(), inner.clock.now())?;
        let Some(Record::Refund(refund)) = change.records().first().cloned() else {
            return Err(Error::Storage("a refund plan without its refund".into()));
        };
        // The reservation is not retried: a lost race means the limit was
        // checked against an order that has moved on.
        match inner.store.change_status(&change).await {
            Ok((_, event)) => {
                let _ = inner.notifier.publish(&event).await;
            }
            Err(StoreError::Conflict) => return Err(Error::ConcurrentUpdate),
            Err(error) => return Err(error.into()),
        }
        let order = self.complete_refund(actor, &refund.id).await?;
        let refund = order
            .refunds()
            .iter()
            .find(|r| r.id == refund.id)
            .cloned()
            .unwrap_or(refund);
        Ok((order, refund))
    }

    /// Asks the provider for the pending refund `refund` (again: its id is
    /// the idempotency key, so it is given back once) and records the
    /// answer: `succeeded`, or removed if refused.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::PaymentRefused`] (the refund was
    /// removed), [`Error::PaymentUnavailable`] (it stays pending).
    pub async fn complete_refund(&self, actor: Actor, refund: &RefundId) -> Result<Order, Error> {
        let inner = &self.inner;
        let order = inner
            .store
            .order_by_refund(refund)
            .await?
            .ok_or(Error::NotFound("refund"))?;
        let Some(pending) = order.refunds().iter().find(|r| &r.id == refund).cloned() else {
            return Err(Error::NotFound("refund"));
        };
        if pending.amount.is_zero() {
            // Units whose share rounds to nothing: no money moves.
            let p = order.payment();
            let state = ProviderState {
                status: p.status,
                authorized: p.authorized,
                captured: p.captured,
                refunded: p.refunded,
                next_action: p.next_action.clone(),
                brand: p.brand,
                last4: p.last4.clone(),
            };
            let now = inner.clock.now();
            let id = order.id().clone();
            return self
                .write_planned(Access::Staff, &id, |order| {
                    plan_refund_succeeded(order, refund, &state, actor.clone(), now)
                        .ok_or(Error::NotFound("refund"))
                })
                .await
                .map(|(order, _)| order);
        }
        let Some(reference) = order.payment().reference.clone() else {
            return self
                .refund_refused(actor, order.id(), refund, "no card payment to refund")
                .await;
        };
        let key = format!("refund:{}:{}", order.id(), refund);
        match inner
            .payments
            .refund(&reference, pending.amount, &key)
            .await
        {
            Ok(_) => {}
            Err(PaymentError::Unavailable(_)) => return Err(Error::PaymentUnavailable),
            Err(error) => {
                return self
                    .refund_refused(actor, order.id(), refund, &error.to_string())
                    .await;
            }
        }
        let id = order.id().clone();
        for _ in 0..=inner.config.max_retries {
            let order = self.order(Access::Staff, &id).await?;
            // The provider's state now, which later refunds may have moved.
            let state = inner.payments.read(&reference).await?;
            let Some(change) =
                plan_refund_succeeded(&order, refund, &state, actor.clone(), inner.clock.now())
            else {
                return Ok(order);
            };
            match inner.store.change_status(&change).await {
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

    /// Removes a refused refund, writing the event that says so, and
    /// returns the refusal.
    async fn refund_refused(
        &self,
        actor: Actor,
        id: &OrderId,
        refund: &RefundId,
        reason: &str,
    ) -> Result<Order, Error> {
        let now = self.inner.clock.now();
        let written = self
            .write_planned(Access::Staff, id, |order| {
                plan_refund_failed(order, refund, reason, actor.clone(), now)
                    .ok_or(Error::NotFound("refund"))
            })
            .await;
        match written {
            Ok(_) | Err(Error::NotFound(_)) => Err(Error::PaymentRefused(reason.to_owned())),
            Err(error) => Err(error),
        }
    }

    /// Staff add a note (`POST /admin/orders/{id}/notes`), internal or
    /// visible to the customer. An internal note never reaches the
    /// customer: [`Orders::order`], [`Orders::order_events`] and
    /// [`Orders::track`] leave it out for [`Access::Owner`].
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::ConcurrentUpdate`].
    pub async fn add_note(
        &self,
        actor: Actor,
        id: &OrderId,
        note: NewNote,
    ) -> Result<(Order, OrderNote), Error> {
        let now = self.inner.clock.now();
        let (order, change) = self
            .write_planned(Access::Staff, id, |order| {
                Ok(plan_note(order, note.clone(), actor.clone(), now))
            })
            .await?;
        let Some(Record::Note(note)) = change.records().first().cloned() else {
            return Err(Error::Storage("a note plan without its note".into()));
        };
        Ok((order, note))
    }
}

/// A refund naming a return with neither lines nor shipping refunds the
/// return's lines.
fn with_return_lines(order: &Order, mut request: RefundRequest) -> RefundRequest {
    if let (Some(return_id), RefundAmount::Lines { lines, shipping }) =
        (&request.return_id, &mut request.amount)
        && lines.is_empty()
        && !*shipping
        && let Some(ret) = order.returns().iter().find(|r| &r.id == return_id)
    {
        lines.clone_from(&ret.lines);
    }
    request
}
