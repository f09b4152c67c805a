//! The payment port: a provider's lifecycle (authorise, capture, void,
//! refund, read), its webhooks, and a test gateway that stands in for a
//! card network.
//!
//! The core hands a provider a *token* (a payment method reference its
//! client library made in the customer's browser), never a card number.
//! Raw test cards reach only the [`TestGateway`], and only because it says
//! it takes them ([`PaymentGateway::accepts_test_cards`]).

mod test_gateway;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::checkout::{CardDetails, PaymentToken};
use crate::ids::OrderId;
use crate::money::Money;
use crate::order::ProviderState;

pub use test_gateway::{TestGateway, TestPayment};

/// Why the provider did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaymentError {
    /// The card was declined; the customer should use another.
    #[error("the card was declined")]
    Declined,
    /// The token is not one the provider made (or it was used up).
    #[error("the payment method is not valid")]
    InvalidToken,
    /// The provider could not be reached, timed out or failed. Whether it
    /// acted is unknown: the caller reads back, or retries with the same
    /// idempotency key.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// The reference is unknown to the provider.
    #[error("unknown payment")]
    UnknownCharge,
    /// The provider refused the request as it stands (capturing more than
    /// was authorised, refunding a voided payment).
    #[error("the payment provider refused: {0}")]
    Refused(String),
}

impl PaymentError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Declined => "payment_declined",
            Self::InvalidToken => "validation",
            Self::Unavailable(_) => "payment_unavailable",
            Self::UnknownCharge | Self::Refused(_) => "payment_error",
        }
    }
}

/// What pays: a provider token, or (the test gateway only) a test card.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum PaymentSource<'a> {
    /// A payment method reference from the provider's client library.
    Token(&'a PaymentToken),
    /// A raw test card: only for a gateway that
    /// [accepts test cards](PaymentGateway::accepts_test_cards).
    TestCard(&'a CardDetails),
}

/// An authorisation to ask for.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Authorize<'a> {
    /// The order it pays for (placed after the authorisation).
    pub order_id: &'a OrderId,
    /// How much to hold.
    pub amount: Money,
    /// What pays.
    pub source: PaymentSource<'a>,
    /// The same for every retry of one checkout, so the provider
    /// authorises once.
    pub idempotency_key: &'a str,
}

impl<'a> Authorize<'a> {
    /// An authorisation of `amount` from `source` for `order_id`.
    pub fn new(
        order_id: &'a OrderId,
        amount: Money,
        source: PaymentSource<'a>,
        idempotency_key: &'a str,
    ) -> Self {
        Self {
            order_id,
            amount,
            source,
            idempotency_key,
        }
    }
}

/// A payment the provider made: its reference and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPayment {
    /// The provider's reference (a PaymentIntent id), for every later call.
    pub reference: String,
    /// Where it stands: `authorized`, `captured` (a provider that captures
    /// at once), `requires_action` with its next action, or `failed`.
    pub state: ProviderState,
}

/// A provider's webhook, verified: which payment to look at again.
///
/// The core never trusts a webhook's body for the payment's state: it reads
/// the payment back ([`PaymentGateway::read`]), so events that arrive out
/// of order or twice leave the order as the provider has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The provider's event id (each is acted on once).
    pub id: String,
    /// The payment it is about, or `None` for an event the core does not
    /// follow (answered 2xx and otherwise ignored).
    pub reference: Option<String>,
}

/// Why a webhook was refused (answered 400, nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No signature, or one that does not match the body.
    #[error("the signature does not match")]
    BadSignature,
    /// Signed too long ago (or in the future): a replay.
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    /// Signed, but not an event this provider sends.
    #[error("the event could not be read: {0}")]
    Malformed(String),
}

/// A card payment provider, with the lifecycle real providers have:
/// authorise now, capture later (all or part), void, refund (all or part),
/// read back; and signed webhooks.
///
/// Every mutating call takes an idempotency key the core derives from the
/// order (`capture:{order}:{n}`, ...), so a retry after a timeout acts
/// once; an implementation MUST pass it on to a provider that supports
/// keys, or keep the answers by key itself.
///
/// An implementation MUST NOT keep, log or echo a card number, CVC or
/// secret key.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// The provider's name in webhook paths (`/api/payments/webhooks/{provider}`):
    /// `"test"`, `"stripe"`.
    fn provider(&self) -> &str;

    /// Whether raw test cards may be sent ([`PaymentSource::TestCard`]):
    /// only a test gateway; a real provider says no (the default), and the
    /// checkout refuses a card on `payment.card`.
    fn accepts_test_cards(&self) -> bool {
        false
    }

    /// Asks to hold `request.amount`. `Ok` with `authorized` (or
    /// `captured`), `requires_action` (and what the customer must do), or
    /// `failed`.
    ///
    /// # Errors
    /// [`PaymentError::Declined`], [`PaymentError::InvalidToken`],
    /// [`PaymentError::Unavailable`].
    async fn authorize(&self, request: Authorize<'_>) -> Result<ProviderPayment, PaymentError>;

    /// Asks the provider to finish a payment after the customer acted (the
    /// customer's return): it reads the payment and, where the provider
    /// needs it, confirms it. The default reads.
    ///
    /// # Errors
    /// [`PaymentError::UnknownCharge`], [`PaymentError::Unavailable`].
    async fn complete_action(&self, reference: &str) -> Result<ProviderState, PaymentError> {
        self.read(reference).await
    }

    /// Takes `amount` (at most what is authorised and not yet captured) of
    /// an authorised payment. The same key again MUST NOT capture twice.
    ///
    /// Under `on_shipment` each fulfilment captures its share, so a payment
    /// shipped in several parts is captured several times. A provider
    /// with multicapture (the [`TestGateway`]) takes each part while some
    /// of the authorisation is left; one that captures once (Stripe
    /// without multicapture: a partial capture releases the rest) refuses
    /// every capture after the first, and the order's later fulfilments
    /// stay uncaptured (a limit of that adapter).
    ///
    /// # Errors
    /// [`PaymentError::UnknownCharge`], [`PaymentError::Refused`],
    /// [`PaymentError::Unavailable`].
    async fn capture(
        &self,
        reference: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<ProviderState, PaymentError>;

    /// Releases an authorisation (or one waiting for the customer). Voiding
    /// a voided payment MUST succeed.
    ///
    /// # Errors
    /// [`PaymentError::UnknownCharge`], [`PaymentError::Refused`] (already
    /// captured), [`PaymentError::Unavailable`].
    async fn void(&self, reference: &str) -> Result<ProviderState, PaymentError>;

    /// Gives back `amount` of what was captured. The same key again MUST
    /// NOT refund twice.
    ///
    /// # Errors
    /// [`PaymentError::UnknownCharge`], [`PaymentError::Refused`] (more
    /// than is left), [`PaymentError::Unavailable`].
    async fn refund(
        &self,
        reference: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<ProviderState, PaymentError>;

    /// Where the payment stands now, as the provider has it.
    ///
    /// # Errors
    /// [`PaymentError::UnknownCharge`], [`PaymentError::Unavailable`].
    async fn read(&self, reference: &str) -> Result<ProviderState, PaymentError>;

    /// The request header carrying the webhook signature
    /// (`Stripe-Signature`).
    fn signature_header(&self) -> &str;

    /// Checks a webhook's signature and timestamp against `now` and reads
    /// which payment it is about.
    ///
    /// # Errors
    /// [`WebhookError`]: the caller answers 400 and changes nothing.
    fn verify_webhook(
        &self,
        signature: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookError>;
}
