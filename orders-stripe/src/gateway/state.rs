//! A PaymentIntent as the core's [`ProviderState`], and a [`StripeError`]
//! as the port's [`PaymentError`].
//!
//! Amounts come from the intent where Stripe sends them
//! (`amount_capturable`, `amount_received`) and from its latest charge
//! otherwise. localstripe sends neither field and releases the uncaptured
//! rest of a partial capture as a refund on the charge (not through the
//! intent): those refunds are told apart from ours, which are all made
//! through the intent, and counted as never captured.

use orders_core::checkout::CardBrand;
use orders_core::money::{Currency, Money};
use orders_core::order::{NextAction as CoreNextAction, PaymentStatus, ProviderState};
use orders_core::ports::PaymentError;

use crate::{Charge, NextAction, PaymentIntent, PaymentIntentStatus, StripeError, Unavailable};

/// The core's view of `intent`.
///
/// # Errors
/// [`PaymentError::Unavailable`] when Stripe answers with a currency or an
/// amount the core cannot hold (a provider answer that makes no sense).
pub(crate) fn provider_state(intent: &PaymentIntent) -> Result<ProviderState, PaymentError> {
    let currency = Currency::parse(&intent.currency.to_ascii_uppercase()).map_err(|_| {
        PaymentError::Unavailable(format!("unknown currency {:?}", intent.currency))
    })?;
    let money = |minor: u64| {
        i64::try_from(minor)
            .ok()
            .and_then(|minor| Money::from_minor(minor, currency).ok())
            .ok_or_else(|| PaymentError::Unavailable(format!("amount {minor} out of range")))
    };
    let charge = intent.latest_charge.as_ref().and_then(|c| c.object());
    let (captured, refunded) = captured_and_refunded(intent, charge);
    let (status, authorized) = match intent.status {
        PaymentIntentStatus::RequiresPaymentMethod => (PaymentStatus::Failed, 0),
        PaymentIntentStatus::RequiresConfirmation | PaymentIntentStatus::RequiresAction => {
            (PaymentStatus::RequiresAction, intent.amount)
        }
        PaymentIntentStatus::RequiresCapture => (
            PaymentStatus::Authorized,
            intent.amount_capturable.unwrap_or(intent.amount),
        ),
        PaymentIntentStatus::Canceled => (PaymentStatus::Voided, intent.amount),
        PaymentIntentStatus::Succeeded => {
            let status = if refunded == 0 {
                PaymentStatus::Captured
            } else if refunded >= captured {
                PaymentStatus::Refunded
            } else {
                PaymentStatus::PartiallyRefunded
            };
            (status, charge.map_or(intent.amount, |c| c.amount))
        }
        PaymentIntentStatus::Processing | PaymentIntentStatus::Unknown => {
            (PaymentStatus::Pending, 0)
        }
    };
    let (captured, refunded) = if intent.status == PaymentIntentStatus::Succeeded {
        (captured, refunded)
    } else {
        (0, 0)
    };
    let card = charge
        .and_then(|c| c.payment_method_details.as_ref())
        .and_then(|details| details.card.as_ref());
    Ok(ProviderState {
        status,
        authorized: money(authorized)?,
        captured: money(captured)?,
        refunded: money(refunded)?,
        next_action: (status == PaymentStatus::RequiresAction)
            .then(|| next_action(intent))
            .flatten(),
        brand: card.and_then(|c| c.brand.as_deref()).map(brand),
        last4: card
            .and_then(|c| c.last4.clone())
            .filter(|l| l.len() == 4 && l.bytes().all(|b| b.is_ascii_digit())),
    })
}

/// What was captured and what of it was given back, in minor units.
fn captured_and_refunded(intent: &PaymentIntent, charge: Option<&Charge>) -> (u64, u64) {
    let Some(charge) = charge else {
        return (intent.amount_received.unwrap_or(0), 0);
    };
    if let Some(captured) = intent.amount_received.or(charge.amount_captured) {
        return (captured, charge.amount_refunded.min(captured));
    }
    if !charge.captured {
        return (0, 0);
    }
    // localstripe: the rest of a partial capture, refunded on the charge.
    let released: u64 = charge
        .refunds
        .iter()
        .flat_map(|list| &list.data)
        .filter(|refund| refund.payment_intent.is_none())
        .map(|refund| refund.amount)
        .sum();
    let captured = charge.amount.saturating_sub(released);
    let refunded = charge
        .amount_refunded
        .saturating_sub(released)
        .min(captured);
    (captured, refunded)
}

/// What the customer must do: follow a redirect, or let Stripe.js handle
/// it with the client secret (for every action but a plain redirect).
fn next_action(intent: &PaymentIntent) -> Option<CoreNextAction> {
    match &intent.next_action {
        Some(NextAction::RedirectToUrl { url, .. }) => {
            Some(CoreNextAction::Redirect { url: url.clone() })
        }
        _ => intent
            .client_secret
            .as_ref()
            .map(|secret| CoreNextAction::UseSdk {
                client_secret: secret.expose().to_owned(),
            }),
    }
}

/// Stripe's name of a card brand.
fn brand(name: &str) -> CardBrand {
    match name {
        "visa" => CardBrand::Visa,
        "mastercard" => CardBrand::Mastercard,
        "amex" => CardBrand::Amex,
        "discover" => CardBrand::Discover,
        "jcb" => CardBrand::Jcb,
        "diners" => CardBrand::DinersClub,
        "unionpay" => CardBrand::UnionPay,
        _ => CardBrand::Unknown,
    }
}

/// What a failed call means for the port. `unknown` is the error for an
/// object Stripe does not know (404, `resource_missing`): the payment
/// method at authorisation, the PaymentIntent afterwards.
pub(crate) fn payment_error(error: StripeError, unknown: PaymentError) -> PaymentError {
    match error {
        StripeError::CardDeclined(_) => PaymentError::Declined,
        StripeError::InvalidRequest(e)
            if e.status == 404 || e.code.as_deref() == Some("resource_missing") =>
        {
            unknown
        }
        StripeError::InvalidRequest(e) | StripeError::IdempotencyConflict(e) if e.status != 409 => {
            let code = e.code.as_deref().unwrap_or("no code");
            let message = e.message.as_deref().unwrap_or("no message");
            PaymentError::Refused(format!("Stripe: HTTP {} ({code}): {message}", e.status))
        }
        StripeError::Param(e) => PaymentError::Refused(e.to_string()),
        other => PaymentError::Unavailable(unavailable(&other)),
    }
}

/// A short reason for logs: never a secret, never the whole answer.
fn unavailable(error: &StripeError) -> String {
    match error {
        StripeError::Unavailable(Unavailable::Timeout) => "Stripe: timed out".to_owned(),
        StripeError::Unavailable(Unavailable::Connect(_)) => "Stripe: no connection".to_owned(),
        StripeError::Unavailable(Unavailable::Interrupted(_)) => {
            "Stripe: the connection broke off".to_owned()
        }
        StripeError::Unavailable(Unavailable::InvalidResponse(_)) => {
            "Stripe: an answer that is not the object asked for".to_owned()
        }
        other => match other.api_error() {
            Some(e) => format!(
                "Stripe: HTTP {} ({})",
                e.status,
                e.code.as_deref().unwrap_or("no code")
            ),
            None => "Stripe: unavailable".to_owned(),
        },
    }
}

/// Whether a mutating call failed after it was sent, so that Stripe may
/// have acted: a timeout, a broken connection or a 5xx (not a refused
/// connection: nothing was sent).
pub(crate) fn outcome_unknown(error: &StripeError) -> bool {
    matches!(
        error,
        StripeError::Unavailable(
            Unavailable::Timeout | Unavailable::Interrupted(_) | Unavailable::Status(_)
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(value: serde_json::Value) -> PaymentIntent {
        let mut base = serde_json::json!({
            "id": "pi_1", "amount": 1000, "currency": "eur", "status": "requires_capture",
            "client_secret": "pi_1_secret_x",
        });
        for (key, value) in value.as_object().unwrap() {
            base[key] = value.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::EUR).unwrap()
    }

    #[test]
    fn stripe_amounts_and_card_are_read_from_the_intent_and_charge() {
        let state = provider_state(&intent(serde_json::json!({
            "status": "succeeded", "amount_received": 600,
            "latest_charge": {"id": "ch_1", "amount": 1000, "amount_captured": 600,
                "amount_refunded": 100, "captured": true,
                "payment_method_details": {"card": {"brand": "mastercard", "last4": "4444"}}},
        })))
        .unwrap();
        assert_eq!(state.status, PaymentStatus::PartiallyRefunded);
        assert_eq!(
            (state.authorized, state.captured, state.refunded),
            (eur(1000), eur(600), eur(100))
        );
        assert_eq!(state.brand, Some(CardBrand::Mastercard));
        assert_eq!(state.last4.as_deref(), Some("4444"));
    }

    #[test]
    fn localstripes_released_rest_is_not_a_refund() {
        let release = serde_json::json!({"id": "re_1", "amount": 400, "currency": "eur",
            "status": "succeeded", "payment_intent": null});
        let ours = serde_json::json!({"id": "re_2", "amount": 600, "currency": "eur",
            "status": "succeeded", "payment_intent": "pi_1"});
        let charge = |refunds: Vec<serde_json::Value>, refunded| {
            serde_json::json!({"status": "succeeded", "latest_charge": {"id": "ch_1",
                "amount": 1000, "amount_refunded": refunded, "captured": true,
                "refunds": {"object": "list", "data": refunds}}})
        };
        let partial = provider_state(&intent(charge(vec![release.clone()], 400))).unwrap();
        assert_eq!(partial.status, PaymentStatus::Captured);
        assert_eq!((partial.captured, partial.refunded), (eur(600), eur(0)));
        let refunded = provider_state(&intent(charge(vec![release, ours], 1000))).unwrap();
        assert_eq!(refunded.status, PaymentStatus::Refunded);
        assert_eq!((refunded.captured, refunded.refunded), (eur(600), eur(600)));
    }

    #[test]
    fn statuses_map_to_the_lifecycle() {
        let status = |s: &str| provider_state(&intent(serde_json::json!({"status": s}))).unwrap();
        assert_eq!(status("requires_capture").status, PaymentStatus::Authorized);
        assert_eq!(status("requires_capture").authorized, eur(1000));
        assert_eq!(status("canceled").status, PaymentStatus::Voided);
        assert_eq!(
            status("requires_payment_method").status,
            PaymentStatus::Failed
        );
        assert_eq!(status("processing").status, PaymentStatus::Pending);
        let sdk = status("requires_action");
        assert_eq!(sdk.status, PaymentStatus::RequiresAction);
        assert_eq!(
            sdk.next_action,
            Some(CoreNextAction::UseSdk {
                client_secret: "pi_1_secret_x".into()
            })
        );
        let redirect = provider_state(&intent(serde_json::json!({"status": "requires_action",
            "next_action": {"type": "redirect_to_url",
                "redirect_to_url": {"url": "https://bank.example/3ds", "return_url": null}}})))
        .unwrap();
        assert_eq!(
            redirect.next_action,
            Some(CoreNextAction::Redirect {
                url: "https://bank.example/3ds".into()
            })
        );
        assert_eq!(status("requires_capture").next_action, None);
    }

    #[test]
    fn errors_say_what_the_core_should_do() {
        let api =
            |status, body: &str| StripeError::from_status(status, body.as_bytes(), None, None);
        let missing = || PaymentError::UnknownCharge;
        assert_eq!(
            payment_error(
                api(402, r#"{"error": {"code": "card_declined"}}"#),
                missing()
            ),
            PaymentError::Declined
        );
        assert_eq!(
            payment_error(api(404, "{}"), PaymentError::InvalidToken),
            PaymentError::InvalidToken
        );
        assert!(matches!(
            payment_error(api(400, r#"{"error": {"message": "Bad request"}}"#), missing()),
            PaymentError::Refused(m) if m.contains("Bad request")
        ));
        assert!(matches!(
            payment_error(api(503, "{}"), missing()),
            PaymentError::Unavailable(_)
        ));
        assert!(matches!(
            payment_error(api(429, "{}"), missing()),
            PaymentError::Unavailable(_)
        ));
        assert!(matches!(
            payment_error(api(409, "{}"), missing()),
            PaymentError::Unavailable(_)
        ));
        assert!(outcome_unknown(&api(500, "{}")));
        assert!(!outcome_unknown(&api(400, "{}")));
    }
}
