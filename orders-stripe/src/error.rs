//! One error type for every call, sorted by what the caller should do:
//! tell the customer (a decline), fix the request (invalid, auth), stop
//! retrying with that key (an idempotency conflict), wait (rate limited), or
//! retry with the same idempotency key / read the state back (the provider
//! is unavailable, and a mutating call's outcome is unknown).

use std::time::Duration;

use serde::Deserialize;

use crate::PaymentIntent;

/// Stripe's error object, as it came: the raw code is kept for logs and for
/// the adapter's finer mapping.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status.
    #[serde(skip)]
    pub status: u16,
    /// Stripe's `type` (`card_error`, `invalid_request_error`,
    /// `idempotency_error`, `api_error`, …).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Stripe's `code` (`card_declined`, `resource_missing`,
    /// `amount_too_large`, …).
    #[serde(default)]
    pub code: Option<String>,
    /// The issuer's reason for a card decline.
    #[serde(default)]
    pub decline_code: Option<String>,
    /// Stripe's message. For card errors it may be shown to the customer.
    #[serde(default)]
    pub message: Option<String>,
    /// The parameter at fault, when Stripe names one.
    #[serde(default)]
    pub param: Option<String>,
    /// The PaymentIntent as it stands after a failed confirmation, when
    /// Stripe includes it (it does for card errors).
    #[serde(default)]
    pub payment_intent: Option<Box<PaymentIntent>>,
    /// Stripe's `Request-Id` header, for its support.
    #[serde(skip)]
    pub request_id: Option<String>,
}

impl ApiError {
    fn summary(&self) -> String {
        let code = self.code.as_deref().unwrap_or("no code");
        match &self.message {
            Some(message) => format!("HTTP {} ({code}): {message}", self.status),
            None => format!("HTTP {} ({code})", self.status),
        }
    }
}

/// Why the provider could not be reached or did not answer usefully.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// No connection could be made (refused, DNS, TLS).
    Connect(String),
    /// The call took longer than the client's timeout.
    Timeout,
    /// The connection broke before a whole answer came.
    Interrupted(String),
    /// Stripe answered 5xx.
    Status(Box<ApiError>),
    /// A 2xx answer that is not the object asked for.
    InvalidResponse(String),
}

/// What went wrong with a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StripeError {
    /// The card was declined (402, `card_error`): tell the customer; the
    /// raw `code`/`decline_code` say why.
    #[error("card declined: {}", .0.summary())]
    CardDeclined(Box<ApiError>),
    /// The request was refused as invalid (400, 404, or any other 4xx not
    /// listed here): a bug or a state the call does not apply to (capturing
    /// a cancelled intent, refunding more than was captured).
    #[error("invalid request: {}", .0.summary())]
    InvalidRequest(Box<ApiError>),
    /// The API key was refused (401) or lacks the permission (403).
    #[error("authentication failed: {}", .0.summary())]
    Authentication(Box<ApiError>),
    /// The idempotency key was used with other parameters (400,
    /// `idempotency_error`: a bug), or another request with that key is
    /// still running (409: retry shortly, see [`StripeError::is_retryable`]).
    #[error("idempotency conflict: {}", .0.summary())]
    IdempotencyConflict(Box<ApiError>),
    /// Too many requests (429): wait `retry_after` if given.
    #[error("rate limited: {}", .error.summary())]
    RateLimited {
        /// Stripe's error.
        error: Box<ApiError>,
        /// The `Retry-After` header, when sent.
        retry_after: Option<Duration>,
    },
    /// The provider could not be reached, timed out, broke off or answered
    /// 5xx. A mutating call's outcome is then unknown: retry it with the
    /// same idempotency key, or read the object back.
    #[error("payment provider unavailable: {0:?}")]
    Unavailable(Unavailable),
    /// A parameter the client refused before sending anything.
    #[error("invalid parameter {0}")]
    Param(#[from] crate::ParamError),
}

impl StripeError {
    /// Stripe's raw error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        self.api_error().and_then(|error| error.code.as_deref())
    }

    /// Stripe's error object, when it sent one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            StripeError::CardDeclined(error)
            | StripeError::InvalidRequest(error)
            | StripeError::Authentication(error)
            | StripeError::IdempotencyConflict(error)
            | StripeError::RateLimited { error, .. }
            | StripeError::Unavailable(Unavailable::Status(error)) => Some(error),
            StripeError::Unavailable(_) | StripeError::Param(_) => None,
        }
    }

    /// Whether the same call, with the same idempotency key, may succeed
    /// later: rate limits, an unavailable provider, and a 409 (another
    /// request with that key still running), as Stripe's own libraries
    /// retry. A key reused with other parameters (400) is not.
    pub fn is_retryable(&self) -> bool {
        match self {
            StripeError::RateLimited { .. } | StripeError::Unavailable(_) => true,
            StripeError::IdempotencyConflict(error) => error.status == 409,
            _ => false,
        }
    }

    /// The error for a non-2xx answer.
    pub(crate) fn from_status(
        status: u16,
        body: &[u8],
        request_id: Option<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        #[derive(Deserialize)]
        struct Envelope {
            error: ApiError,
        }
        let mut error = serde_json::from_slice::<Envelope>(body)
            .map(|envelope| envelope.error)
            .unwrap_or(ApiError {
                status,
                kind: None,
                code: None,
                decline_code: None,
                message: None,
                param: None,
                payment_intent: None,
                request_id: None,
            });
        error.status = status;
        error.request_id = request_id;
        let error = Box::new(error);
        let kind = error.kind.as_deref();
        match status {
            _ if kind == Some("idempotency_error") => StripeError::IdempotencyConflict(error),
            402 => StripeError::CardDeclined(error),
            _ if kind == Some("card_error") => StripeError::CardDeclined(error),
            401 | 403 => StripeError::Authentication(error),
            409 => StripeError::IdempotencyConflict(error),
            429 => StripeError::RateLimited { error, retry_after },
            500..=599 => StripeError::Unavailable(Unavailable::Status(error)),
            _ => StripeError::InvalidRequest(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16, body: &str) -> StripeError {
        StripeError::from_status(status, body.as_bytes(), Some("req_1".into()), None)
    }

    #[test]
    fn each_answer_maps_to_what_the_caller_should_do() {
        let declined = error(
            402,
            r#"{"error": {"type": "card_error", "code": "card_declined",
                "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}}"#,
        );
        assert!(matches!(&declined, StripeError::CardDeclined(e)
            if e.decline_code.as_deref() == Some("insufficient_funds") && e.request_id.as_deref() == Some("req_1")));
        assert_eq!(declined.code(), Some("card_declined"));
        let reused = error(
            400,
            r#"{"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters"}}"#,
        );
        assert!(matches!(reused, StripeError::IdempotencyConflict(_)));
        assert!(!reused.is_retryable());
        assert!(matches!(
            error(400, r#"{"error": {"type": "invalid_request_error", "code": "parameter_missing", "param": "amount"}}"#),
            StripeError::InvalidRequest(e) if e.param.as_deref() == Some("amount")
        ));
        assert!(matches!(error(404, "{}"), StripeError::InvalidRequest(_)));
        assert!(
            matches!(error(401, "not json"), StripeError::Authentication(e) if e.status == 401)
        );
        let in_progress = error(409, "{}");
        assert!(matches!(in_progress, StripeError::IdempotencyConflict(_)));
        assert!(in_progress.is_retryable());
        let limited = StripeError::from_status(429, b"{}", None, Some(Duration::from_secs(2)));
        assert!(
            matches!(&limited, StripeError::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 2)
        );
        assert!(limited.is_retryable());
        let down = error(503, r#"{"error": {"type": "api_error"}}"#);
        assert!(
            matches!(&down, StripeError::Unavailable(Unavailable::Status(e)) if e.status == 503)
        );
        assert!(down.is_retryable());
        assert!(!declined.is_retryable());
    }
}
