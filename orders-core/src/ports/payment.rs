//! The payment port, and a test gateway that stands in for a card network.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::checkout::CardDetails;
use crate::money::Money;

/// A successful authorise-and-capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The gateway's reference, to refund or void it later.
    pub reference: String,
}

/// Why the gateway did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaymentError {
    /// The card was declined; the customer should use another.
    #[error("the card was declined")]
    Declined,
    /// The gateway could not be reached or failed; nothing was charged.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// The reference is unknown to the gateway.
    #[error("unknown charge")]
    UnknownCharge,
}

impl PaymentError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Declined => "payment_declined",
            Self::Unavailable(_) => "payment_unavailable",
            Self::UnknownCharge => "payment_error",
        }
    }
}

/// A card payment provider.
///
/// The card details are borrowed for the call only: an implementation MUST
/// NOT keep, log or echo the number or CVC.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Authorises and captures `amount` on `card`. `idempotency_key` is the
    /// same for retries of one checkout, so a gateway that supports it
    /// charges once.
    ///
    /// # Errors
    /// [`PaymentError::Declined`] or [`PaymentError::Unavailable`].
    async fn authorize_and_capture(
        &self,
        amount: Money,
        card: &CardDetails,
        idempotency_key: &str,
    ) -> Result<Charge, PaymentError>;

    /// Gives back `amount` of a captured charge. Refunding a charge already
    /// refunded MUST succeed without refunding twice.
    ///
    /// # Errors
    /// [`PaymentError::UnknownCharge`] or [`PaymentError::Unavailable`].
    async fn refund(&self, reference: &str, amount: Money) -> Result<(), PaymentError>;

    /// Cancels a charge whose order could not be placed. Voiding twice MUST
    /// succeed.
    ///
    /// # Errors
    /// [`PaymentError::UnknownCharge`] or [`PaymentError::Unavailable`].
    async fn void(&self, reference: &str) -> Result<(), PaymentError>;
}

/// Where a test charge stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestChargeState {
    /// Captured.
    Captured,
    /// Refunded.
    Refunded,
    /// Voided.
    Voided,
}

/// A charge the [`TestGateway`] recorded: never the card number, only what
/// a real provider's dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCharge {
    /// The amount.
    pub amount: Money,
    /// The card's last four digits.
    pub last4: String,
    /// Where it stands.
    pub state: TestChargeState,
}

/// A gateway for tests and demos, with the usual test cards: it declines
/// `4000000000000002` and accepts every other valid card (such as
/// `4242424242424242`). It remembers charges by idempotency key, so a
/// retried checkout charges once.
///
/// It keeps its charges in memory: each process running it is a card
/// network of its own. References are unique across gateways (`test_ch_`
/// and a UUIDv7), so one never refunds or voids a charge another made; it
/// answers [`PaymentError::UnknownCharge`] for those.
#[derive(Debug, Default)]
pub struct TestGateway {
    state: Mutex<TestState>,
}

#[derive(Debug, Default)]
struct TestState {
    charges: HashMap<String, TestCharge>,
    by_key: HashMap<String, String>,
}

impl TestGateway {
    /// The card number this gateway always declines.
    pub const DECLINED_CARD: &'static str = "4000000000000002";

    /// A gateway with no charges.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every charge, by reference.
    pub fn charges(&self) -> HashMap<String, TestCharge> {
        self.lock().charges.clone()
    }

    /// How many charges are captured (not refunded or voided).
    pub fn captured_count(&self) -> usize {
        self.lock()
            .charges
            .values()
            .filter(|c| c.state == TestChargeState::Captured)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TestState> {
        // A panic while holding this lock leaves plain data behind; go on.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_state(&self, reference: &str, to: TestChargeState) -> Result<(), PaymentError> {
        let mut state = self.lock();
        let charge = state
            .charges
            .get_mut(reference)
            .ok_or(PaymentError::UnknownCharge)?;
        if charge.state == TestChargeState::Captured {
            charge.state = to;
        }
        Ok(())
    }
}

#[async_trait]
impl PaymentGateway for TestGateway {
    async fn authorize_and_capture(
        &self,
        amount: Money,
        card: &CardDetails,
        idempotency_key: &str,
    ) -> Result<Charge, PaymentError> {
        if card.number().expose_digits() == Self::DECLINED_CARD {
            return Err(PaymentError::Declined);
        }
        let mut state = self.lock();
        if let Some(reference) = state.by_key.get(idempotency_key) {
            return Ok(Charge {
                reference: reference.clone(),
            });
        }
        let reference = format!("test_ch_{}", uuid::Uuid::now_v7().simple());
        state.charges.insert(
            reference.clone(),
            TestCharge {
                amount,
                last4: card.last4().to_owned(),
                state: TestChargeState::Captured,
            },
        );
        state
            .by_key
            .insert(idempotency_key.to_owned(), reference.clone());
        Ok(Charge { reference })
    }

    async fn refund(&self, reference: &str, _amount: Money) -> Result<(), PaymentError> {
        self.set_state(reference, TestChargeState::Refunded)
    }

    async fn void(&self, reference: &str) -> Result<(), PaymentError> {
        self.set_state(reference, TestChargeState::Voided)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::{CardExpiry, CardHolder, CardNumber, Cvc};
    use crate::money::Currency;

    fn card() -> CardDetails {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        CardDetails::new(
            CardNumber::parse("4242424242424242").expect("number"),
            CardExpiry::parse(12, 2030, today).expect("expiry"),
            Cvc::parse("123").expect("cvc"),
            CardHolder::parse("Ada Lovelace").expect("holder"),
        )
    }

    /// Two test gateways (two server processes, each with its own
    /// simulated network) never share a reference, so neither acts on the
    /// other's charge.
    #[test]
    fn a_test_gateway_never_acts_on_another_gateways_charge() {
        futures_executor::block_on(async {
            let amount =
                Money::from_minor(1000, Currency::parse("EUR").expect("eur")).expect("money");
            let (first, second) = (TestGateway::new(), TestGateway::new());
            let theirs = first
                .authorize_and_capture(amount, &card(), "key-1")
                .await
                .expect("charge")
                .reference;
            let ours = second
                .authorize_and_capture(amount, &card(), "key-1")
                .await
                .expect("charge")
                .reference;
            assert_ne!(theirs, ours);
            assert_eq!(
                second.refund(&theirs, amount).await,
                Err(PaymentError::UnknownCharge)
            );
            assert_eq!(second.captured_count(), 1, "its own charge untouched");
            second.refund(&ours, amount).await.expect("own refund");
            assert_eq!(second.captured_count(), 0);
            assert_eq!(first.captured_count(), 1);
        });
    }
}
