//! Checkouts by outcome, read from the checkout route's response: its
//! status and, for an error, the problem's `code` (which
//! [`crate::ApiError`] leaves in the response's extensions), so a request
//! refused by an extractor (a bad token, a malformed body, an invalid
//! field) counts as well as one the engine refused.

use std::borrow::Cow;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::Metrics;

/// How a checkout request ended: the `outcome` label of
/// `orders_checkouts_total`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckoutOutcome {
    /// An order was placed (201).
    Placed,
    /// A retry under the same `Idempotency-Key` got the order placed
    /// before (200).
    Replayed,
    /// The card was declined (422 `payment_declined`).
    Declined,
    /// The request itself was invalid: fields (422 `validation`), or a
    /// body that is not JSON, too large, or not declared as JSON (400,
    /// 413, 415).
    Validation,
    /// Not enough stock (409 `insufficient_stock`).
    OutOfStock,
    /// The total changed since the client saw it (409 `price_changed`).
    PriceChanged,
    /// Another conflict: a product no longer on sale, a closed or empty
    /// cart, a discount no longer valid, an idempotency key reused or in
    /// progress (409).
    Conflict,
    /// No or bad credentials (401, 403).
    Unauthorized,
    /// No such cart, or not the caller's (404).
    NotFound,
    /// The payment provider failed; nothing was charged (502).
    PaymentFailed,
    /// The server failed: a timeout, an unreachable database, a bug (408,
    /// 5xx).
    Error,
}

impl CheckoutOutcome {
    /// Every outcome.
    pub const ALL: [Self; 11] = [
        Self::Placed,
        Self::Replayed,
        Self::Declined,
        Self::Validation,
        Self::OutOfStock,
        Self::PriceChanged,
        Self::Conflict,
        Self::Unauthorized,
        Self::NotFound,
        Self::PaymentFailed,
        Self::Error,
    ];

    /// The outcome of a checkout answered with `status` and, for a
    /// problem, `code`.
    pub fn of(status: StatusCode, code: Option<&str>) -> Self {
        match (status.as_u16(), code.unwrap_or("")) {
            (201, _) => Self::Placed,
            (200..=299, _) => Self::Replayed,
            (_, "payment_declined") => Self::Declined,
            (_, "insufficient_stock") => Self::OutOfStock,
            (_, "price_changed") => Self::PriceChanged,
            (400 | 413 | 415 | 422, _) => Self::Validation,
            (401 | 403, _) => Self::Unauthorized,
            (404, _) => Self::NotFound,
            (409, _) => Self::Conflict,
            (502, _) => Self::PaymentFailed,
            _ => Self::Error,
        }
    }

    /// The outcome of a checkout the engine refused with `error`, as the
    /// API would answer it: for a host's own checkout page, so that its
    /// checkouts count beside the API's ([`Metrics::record_checkout`]).
    pub fn of_error(error: &orders_core::Error) -> Self {
        let answer = crate::ApiError::from(error.clone());
        Self::of(answer.status(), Some(answer.code()))
    }

    /// The label's value: `placed`, `replayed`, `declined`, `validation`,
    /// `out_of_stock`, `price_changed`, `conflict`, `unauthorized`,
    /// `not_found`, `payment_failed` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Replayed => "replayed",
            Self::Declined => "declined",
            Self::Validation => "validation",
            Self::OutOfStock => "out_of_stock",
            Self::PriceChanged => "price_changed",
            Self::Conflict => "conflict",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::PaymentFailed => "payment_failed",
            Self::Error => "error",
        }
    }
}

impl EncodeLabelValue for CheckoutOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// The problem `code` of an error response (see [`crate::ApiError`]).
#[derive(Clone, Debug)]
pub(crate) struct ProblemCode(pub(crate) Cow<'static, str>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OutcomeLabels {
    outcome: CheckoutOutcome,
}

impl From<CheckoutOutcome> for OutcomeLabels {
    fn from(outcome: CheckoutOutcome) -> Self {
        Self { outcome }
    }
}

pub(super) type CheckoutFamily = Family<OutcomeLabels, Counter>;

pub(super) fn register(registry: &mut Registry) -> CheckoutFamily {
    let family = CheckoutFamily::default();
    registry.register(
        "checkouts",
        "Checkout requests, by how they ended",
        family.clone(),
    );
    for outcome in CheckoutOutcome::ALL {
        // Every series exists from the start, at 0.
        drop(family.get_or_create(&outcome.into()));
    }
    family
}

/// Middleware of the checkout route: counts its outcome.
pub(crate) async fn record_checkout(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let code = response.extensions().get::<ProblemCode>();
    let outcome = CheckoutOutcome::of(response.status(), code.map(|c| &*c.0));
    metrics.record_checkout(outcome);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_of_the_checkout_route_statuses() {
        let of = |status: u16, code: &str| {
            CheckoutOutcome::of(StatusCode::from_u16(status).unwrap(), Some(code))
        };
        assert_eq!(
            CheckoutOutcome::of(StatusCode::CREATED, None),
            CheckoutOutcome::Placed
        );
        assert_eq!(
            CheckoutOutcome::of(StatusCode::OK, None),
            CheckoutOutcome::Replayed
        );
        assert_eq!(of(422, "payment_declined"), CheckoutOutcome::Declined);
        assert_eq!(of(422, "validation"), CheckoutOutcome::Validation);
        assert_eq!(of(400, "bad_request"), CheckoutOutcome::Validation);
        assert_eq!(of(409, "insufficient_stock"), CheckoutOutcome::OutOfStock);
        assert_eq!(of(409, "price_changed"), CheckoutOutcome::PriceChanged);
        assert_eq!(of(409, "cart_empty"), CheckoutOutcome::Conflict);
        assert_eq!(of(409, "idempotency_mismatch"), CheckoutOutcome::Conflict);
        assert_eq!(of(401, "unauthorized"), CheckoutOutcome::Unauthorized);
        assert_eq!(of(404, "not_found"), CheckoutOutcome::NotFound);
        assert_eq!(
            of(502, "payment_unavailable"),
            CheckoutOutcome::PaymentFailed
        );
        assert_eq!(of(503, "storage_unavailable"), CheckoutOutcome::Error);
        assert_eq!(of(408, "request_timeout"), CheckoutOutcome::Error);
        let declined = CheckoutOutcome::of_error(&orders_core::Error::PaymentDeclined {
            field: "payment.card.number",
        });
        assert_eq!(declined, CheckoutOutcome::Declined);
        let gone = CheckoutOutcome::of_error(&orders_core::Error::Unavailable);
        assert_eq!(gone, CheckoutOutcome::Error);
    }
}
