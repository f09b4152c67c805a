//! The messages: one per [`MailKind`], and the password reset.
//!
//! Each is built from the order as stored and, for a shipment, what the
//! event says; none ever shows an event's note (staff may write internal
//! ones).

use super::message::Parts;
use super::{Email, Mail, MailKind};
use crate::checkout;
use crate::order::{Order, OrderEvent};

/// What a shipping message tells: the tracking number, and the carrier
/// when the shipment names one (fulfilments may add it to their events).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shipment {
    /// The carrier's name, if known.
    pub carrier: Option<String>,
    /// The carrier's tracking number, if known.
    pub tracking_number: Option<String>,
}

impl Shipment {
    /// The shipment `event` tells of: its data's `carrier` and
    /// `tracking_number` when it carries them, else the order's tracking
    /// number.
    pub fn of(event: &OrderEvent, order: &Order) -> Self {
        let field = |name: &str| {
            event
                .data
                .as_ref()
                .and_then(|d| d.get(name))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        Self {
            carrier: field("carrier"),
            tracking_number: field("tracking_number")
                .or_else(|| order.tracking_number().map(|t| t.as_str().to_owned())),
        }
    }
}

/// The message `mail` (of kind [`MailKind`]) sends for `event` to the
/// customer of `order`, addressed to the order's email.
pub fn render(mail: &Mail, event: &OrderEvent, order: &Order) -> Email {
    render_with_link(mail, event, order, None)
}

/// [`render`], with `order_link` (where the customer opens the order: for a
/// guest, a link carrying the order's token) shown after the message.
pub fn render_with_link(
    mail: &Mail,
    event: &OrderEvent,
    order: &Order,
    order_link: Option<&str>,
) -> Email {
    let number = order.number().to_string();
    let total = format!("{} {}", order.totals().total, order.currency());
    let mut parts = Parts::default();
    parts.paragraph(&[("Hello,", "")]);
    let subject = match mail.kind {
        MailKind::Placed => {
            parts.paragraph(&[("Thank you for your order ", &number), (".", "")]);
            let lines: Vec<String> = order
                .lines()
                .iter()
                .map(|l| {
                    format!(
                        "{} × {} ({} {})",
                        l.quantity,
                        l.name.as_str(),
                        l.line_subtotal,
                        order.currency()
                    )
                })
                .collect();
            parts.list(&lines);
            parts.paragraph(&[("Total: ", &total)]);
            // Words a customer reads (crate::words), never the codes.
            let address = crate::words::address_lines(order.shipping_address()).join(", ");
            parts.paragraph(&[("Payment: ", &crate::words::payment(order.payment()))]);
            parts.paragraph(&[("Shipping to: ", &address)]);
            format!("Order {number} confirmed")
        }
        MailKind::PaymentNeedsAction => {
            parts.paragraph(&[
                ("Your payment for order ", &number),
                (" needs one more step from you. Please return to the shop to complete it (total ", &total),
                (").", ""),
            ]);
            format!("Order {number}: your payment needs your action")
        }
        MailKind::Shipped => {
            let shipment = Shipment::of(event, order);
            parts.paragraph(&[("Your order ", &number), (" is on its way.", "")]);
            if let Some(carrier) = &shipment.carrier {
                parts.paragraph(&[("Carrier: ", carrier)]);
            }
            if let Some(tracking) = &shipment.tracking_number {
                parts.paragraph(&[("Tracking number: ", tracking)]);
            }
            format!("Order {number} has shipped")
        }
        MailKind::Delivered => {
            parts.paragraph(&[("Your order ", &number), (" has been delivered.", "")]);
            format!("Order {number} delivered")
        }
        MailKind::Cancelled => {
            parts.paragraph(&[("Your order ", &number), (" has been cancelled.", "")]);
            format!("Order {number} cancelled")
        }
        MailKind::Refunded => {
            parts.paragraph(&[
                ("Your order ", &number),
                (
                    " has been refunded. The money goes back to how you paid.",
                    "",
                ),
            ]);
            format!("Order {number} refunded")
        }
    };
    if let Some(link) = order_link {
        parts.link("View your order", link);
    }
    parts.paragraph(&[(
        "You receive this email because you ordered from our shop.",
        "",
    )]);
    let (text, html) = parts.finish(&subject);
    Email {
        id: mail.id.as_str().to_owned(),
        to: order.email().clone(),
        subject,
        text,
        html,
    }
}

/// What a password-reset message needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset<'a> {
    /// A fresh id for the message.
    pub id: &'a str,
    /// The account's address.
    pub to: &'a checkout::Email,
    /// The link that resets the password (with its one-time token).
    pub link: &'a str,
    /// How long the link works, in minutes.
    pub valid_minutes: u32,
}

/// The message that sends a password-reset link.
pub fn password_reset(reset: &PasswordReset<'_>) -> Email {
    let subject = "Reset your password".to_owned();
    let minutes = reset.valid_minutes.to_string();
    let mut parts = Parts::default();
    parts
        .paragraph(&[("Hello,", "")])
        .paragraph(&[
            (
                "Someone asked to reset the password of the account for ",
                reset.to.as_str(),
            ),
            (".", ""),
        ])
        .link("Choose a new password", reset.link)
        .paragraph(&[
            ("The link works for ", &minutes),
            (
                " minutes. If you did not ask, ignore this email: your password stays as it is.",
                "",
            ),
        ]);
    let (text, html) = parts.finish(&subject);
    Email {
        id: reset.id.to_owned(),
        to: reset.to.clone(),
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_reset_has_both_parts_and_escapes_the_link() {
        let to = checkout::Email::parse("ada@example.com").expect("address");
        let link = "https://shop.example/reset?token=a<b>&x=\"1\"";
        let email = password_reset(&PasswordReset {
            id: "reset-1",
            to: &to,
            link,
            valid_minutes: 30,
        });
        assert_eq!((email.id.as_str(), &email.to), ("reset-1", &to));
        assert_eq!(email.subject, "Reset your password");
        assert!(email.text.contains(link), "the text has the link as it is");
        assert!(email.text.contains("30 minutes"));
        assert!(
            email.html.contains(
                "href=\"https://shop.example/reset?token=a&lt;b&gt;&amp;x=&quot;1&quot;\""
            ),
            "{}",
            email.html
        );
        assert!(!email.html.contains("a<b>"), "nothing unescaped");
        assert!(
            email.html.starts_with("<!DOCTYPE html>")
                && email.html.contains("<title>Reset your password</title>")
        );
    }
}
