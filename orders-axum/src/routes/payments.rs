//! Payments after checkout: the customer's return from their bank
//! (`POST /orders/{id}/payment/confirm`) and the provider's webhooks
//! (`POST /payments/webhooks/{provider}`).
//!
//! Both only make the engine read the payment back from the provider
//! ([`orders_core::Orders::confirm_payment`],
//! [`orders_core::Orders::payment_webhook`]); whichever comes first
//! completes the order, the other finds nothing left to change.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use orders_core::WebhookOutcome;
use orders_core::ids::OrderId;
use orders_core::order::Order;
use serde_json::{Value, json};

use super::{AppState, path_id};
use crate::ApiError;
use crate::identify::Customer;

/// The largest webhook body read (256 KiB): a provider's event is a few
/// KiB; anything larger is refused with 413 before its signature is
/// checked.
pub(crate) const WEBHOOK_BODY_LIMIT: usize = 256 * 1024;

/// Seconds a provider is told to wait before retrying a webhook we could
/// not act on.
const WEBHOOK_RETRY_AFTER: u32 = 5;

/// Completes the payment of the caller's order after their action at the
/// bank (3-D Secure).
#[utoipa::path(
    post, path = "/orders/{id}/payment/confirm", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order as the provider has its payment now: `paid` \
            (captured under `on_checkout`), `cancelled` with its stock back if the action failed, \
            or unchanged (already completed, by this call or the provider's webhook)",
            body = crate::docs::Order),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not yours", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`concurrent_update`: changed at the same moment; call again", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 502, description = "`payment_unavailable`: the provider did not answer; nothing was recorded, call again", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn confirm_payment(
    State(state): State<AppState>,
    Customer(caller): Customer,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let id: OrderId = path_id(&id)?;
    Ok(Json(state.orders.confirm_payment(&caller.id, &id).await?))
}

/// A payment provider's webhook, signed by the provider.
#[utoipa::path(
    post, path = "/payments/webhooks/{provider}", tag = "payments",
    params(("provider" = String, Path, description = "The configured provider's name (`test`, `stripe`)")),
    request_body(content = crate::docs::ProviderEvent, content_type = "application/json",
        description = "The provider's event, as it signed it (read as bytes). The signature is in the \
            provider's header (`Stripe-Signature`; the test gateway's `Orders-Test-Signature`)."),
    responses(
        (status = 200, description = "Acted on, a duplicate of an event acted on, or ignored", body = crate::docs::WebhookReceipt),
        (status = 400, description = "`webhook_rejected`: a bad, missing or stale signature, or an unreadable event; nothing was changed", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not the configured provider", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KiB", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider or the database is unreachable: nothing was recorded; the provider retries (`Retry-After`)", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn payment_webhook(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    if provider != state.orders.payment_provider() {
        return Err(ApiError::not_found().with_detail("payment provider not found"));
    }
    let header = state.orders.payment_signature_header();
    let signature = match request.headers().get(header) {
        None => None,
        Some(value) => Some(value.to_str().map(str::to_owned).map_err(|_| {
            ApiError::from(orders_core::Error::WebhookRejected(format!(
                "the {header} header is not text"
            )))
        })?),
    };
    let body = Bytes::from_request(request, &state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(Some(WEBHOOK_BODY_LIMIT))
            } else {
                ApiError::bad_request("the body could not be read")
            }
        })?;
    let outcome = state
        .orders
        .payment_webhook(&provider, signature.as_deref(), &body)
        .await
        .map_err(webhook_error)?;
    let outcome = match outcome {
        WebhookOutcome::Applied(_) => "applied",
        WebhookOutcome::Duplicate => "duplicate",
        _ => "ignored",
    };
    Ok(Json(json!({ "outcome": outcome })))
}

/// A provider retries any webhook not answered 2xx: what it should retry
/// (the provider or the database was down, a change raced this one) is a
/// 503 with `Retry-After`; a refused signature stays 400.
fn webhook_error(error: orders_core::Error) -> ApiError {
    use orders_core::Error as E;
    match error {
        E::PaymentUnavailable | E::ConcurrentUpdate => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error.code(),
            "Try again later",
        )
        .with_detail("the event was not acted on; send it again")
        .with_retry_after(WEBHOOK_RETRY_AFTER),
        other => other.into(),
    }
}
