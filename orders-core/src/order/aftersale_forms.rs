//! The forms of the after-sale commands: a fulfilment, a return, a refund,
//! a note, a rejection and a receipt, each validated with every bad field
//! at once. Whether the quantities fit the order is the plan's to say.

use serde::Deserialize;

use super::aftersale::{Carrier, ItemLine, NoteText, ReturnReason};
use super::fulfilment::FulfilmentRequest;
use super::lifecycle::{Note, TrackingNumber};
use super::note::NewNote;
use super::refund::{RefundAmount, RefundRequest};
use super::returns::ReturnRequest;
use crate::cart::{MAX_LINES, Quantity};
use crate::checkout::{REQUIRED, present};
use crate::form::{Description, Field, Form};
use crate::ids::{ID_PATTERN, MAX_ID_CHARS, ProductId, ReturnId};
use crate::money::{Currency, Money};
use crate::text::{BLANK_LINE_PATTERN, LINE_PATTERN};
use crate::validation::ValidationErrors;

/// One `{product_id, quantity}` of a `lines` list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ItemLineForm {
    /// A product of the order. Required.
    pub product_id: Option<String>,
    /// 1 to 999 units. Required.
    pub quantity: Option<i64>,
}

impl Form for ItemLineForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "ItemLine",
        doc: "Some units of one line of the order.",
        fields: &[
            Field::text("product_id", "A product of the order.")
                .required()
                .chars(1, MAX_ID_CHARS)
                .pattern(ID_PATTERN),
            Field::integer(
                "quantity",
                "How many of its units.",
                Some(Quantity::MIN as i64),
                Some(Quantity::MAX as i64),
            )
            .required(),
        ],
    };
}

const LINES_DOC: &str = "The units, by product: `[{product_id, quantity}]`.";

/// `lines`, each element checked, errors by element (`lines.0.quantity`).
fn lines(
    value: Option<Vec<ItemLineForm>>,
    required: bool,
    errors: &mut ValidationErrors,
) -> Option<Vec<ItemLine>> {
    let Some(items) = value else {
        if required {
            errors.add("lines", REQUIRED);
        }
        return None;
    };
    if items.is_empty() || items.len() > MAX_LINES {
        errors.add("lines", format!("1 to {MAX_LINES} lines"));
        return None;
    }
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let product = match item.product_id {
            Some(id) => errors.check(&format!("lines.{i}.product_id"), ProductId::parse(&id)),
            None => {
                errors.add(format!("lines.{i}.product_id"), REQUIRED);
                None
            }
        };
        let quantity = match item.quantity {
            Some(n) => errors.check(
                &format!("lines.{i}.quantity"),
                Quantity::from_i64(n).map_err(|_| "must be between 1 and 999"),
            ),
            None => {
                errors.add(format!("lines.{i}.quantity"), REQUIRED);
                None
            }
        };
        if let (Some(product_id), Some(quantity)) = (product, quantity) {
            out.push(ItemLine {
                product_id,
                quantity,
            });
        }
    }
    Some(out)
}

/// A fulfilment as submitted (`POST /admin/orders/{id}/fulfilments`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FulfilmentForm {
    /// What ships. Required.
    pub lines: Option<Vec<ItemLineForm>>,
    /// The carrier.
    pub carrier: Option<String>,
    /// The carrier's tracking number. Required.
    pub tracking_number: Option<String>,
}

impl Form for FulfilmentForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "CreateFulfilment",
        doc: "Units of an order handed to a carrier (`POST /admin/orders/{id}/fulfilments`).",
        fields: &[
            Field::object_list("lines", LINES_DOC, ItemLineForm::DESCRIPTION, 1, MAX_LINES)
                .required(),
            Field::text("carrier", "The carrier's name.")
                .chars(0, Carrier::MAX_CHARS)
                .pattern(BLANK_LINE_PATTERN),
            Field::text("tracking_number", "The carrier's tracking number.")
                .required()
                .chars(1, TrackingNumber::MAX_CHARS)
                .pattern(LINE_PATTERN),
        ],
    };
}

impl FulfilmentForm {
    /// The fulfilment asked for.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `lines` (by element), `carrier`,
    /// `tracking_number`.
    pub fn validate(self) -> Result<FulfilmentRequest, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let lines = lines(self.lines, true, &mut errors);
        let carrier =
            present(self.carrier).and_then(|t| errors.check("carrier", Carrier::parse(&t)));
        let tracking_number = match present(self.tracking_number) {
            Some(t) => errors.check("tracking_number", TrackingNumber::parse(&t)),
            None => {
                errors.add("tracking_number", REQUIRED);
                None
            }
        };
        match (lines, tracking_number) {
            (Some(lines), Some(tracking_number)) if errors.is_empty() => Ok(FulfilmentRequest {
                lines,
                carrier,
                tracking_number,
            }),
            _ => Err(errors),
        }
    }
}

/// A customer's return request as submitted (`POST /orders/{id}/returns`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ReturnForm {
    /// What goes back. Required.
    pub lines: Option<Vec<ItemLineForm>>,
    /// Why. Required.
    pub reason: Option<String>,
}

impl Form for ReturnForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "RequestReturn",
        doc: "Delivered units the customer sends back (`POST /orders/{id}/returns`).",
        fields: &[
            Field::object_list("lines", LINES_DOC, ItemLineForm::DESCRIPTION, 1, MAX_LINES)
                .required(),
            Field::text("reason", "Why they go back.")
                .required()
                .chars(1, ReturnReason::MAX_CHARS)
                .pattern(LINE_PATTERN),
        ],
    };
}

impl ReturnForm {
    /// The return asked for.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `lines` (by element) and `reason`.
    pub fn validate(self) -> Result<ReturnRequest, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let lines = lines(self.lines, true, &mut errors);
        let reason = match present(self.reason) {
            Some(t) => errors.check("reason", ReturnReason::parse(&t)),
            None => {
                errors.add("reason", REQUIRED);
                None
            }
        };
        match (lines, reason) {
            (Some(lines), Some(reason)) if errors.is_empty() => Ok(ReturnRequest { lines, reason }),
            _ => Err(errors),
        }
    }
}

/// A refund as submitted (`POST /admin/orders/{id}/refunds`): `lines`
/// and/or `shipping`, or an `amount`, not both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RefundForm {
    /// Units to pay back.
    pub lines: Option<Vec<ItemLineForm>>,
    /// Whether the shipping goes back.
    pub shipping: Option<bool>,
    /// A free amount, in the order's currency.
    pub amount: Option<String>,
    /// Why.
    pub note: Option<String>,
    /// The received return it pays for; its lines when no lines are given.
    pub return_id: Option<String>,
}

impl Form for RefundForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "CreateRefund",
        doc: "Money given back (`POST /admin/orders/{id}/refunds`): lines and/or shipping, or an amount.",
        fields: &[
            Field::object_list("lines", LINES_DOC, ItemLineForm::DESCRIPTION, 1, MAX_LINES),
            Field::boolean("shipping", "Whether the shipping (with its tax) goes back."),
            Field::text(
                "amount",
                "A free amount, in the order's currency (`\"5.00\"`).",
            )
            .pattern(Money::PRICE_PATTERN)
            .example("5.00"),
            Field::text("note", "Why.")
                .chars(0, Note::MAX_CHARS)
                .pattern(BLANK_LINE_PATTERN),
            Field::text("return_id", "The received return it pays for.")
                .chars(0, MAX_ID_CHARS)
                .pattern("^[!-~]*$"),
        ],
    };
}

impl RefundForm {
    /// The refund asked for, an `amount` read in `currency`. With a
    /// `return_id` and neither lines nor amount, the engine refunds the
    /// return's lines ([`RefundAmount::Lines`] empty here).
    ///
    /// # Errors
    /// [`ValidationErrors`] on `lines`, `amount` (not money of `currency`,
    /// or given with lines or shipping), `note`, `return_id`; on `lines`
    /// when nothing is asked.
    pub fn validate(self, currency: Currency) -> Result<RefundRequest, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let has_lines = self.lines.is_some();
        let lines = lines(self.lines, false, &mut errors);
        let shipping = self.shipping.unwrap_or(false);
        let amount = present(self.amount)
            .and_then(|t| errors.check("amount", Money::parse_price(t.trim(), currency)));
        let note = present(self.note).and_then(|t| errors.check("note", Note::parse(&t)));
        let return_id =
            present(self.return_id).and_then(|t| errors.check("return_id", ReturnId::parse(&t)));
        let amount = match (amount, has_lines || shipping) {
            (Some(_), true) => {
                errors.add("amount", "give lines and shipping, or an amount, not both");
                None
            }
            (Some(amount), false) => Some(RefundAmount::Free(amount)),
            (None, true) => Some(RefundAmount::Lines {
                lines: lines.unwrap_or_default(),
                shipping,
            }),
            (None, false) if return_id.is_some() => Some(RefundAmount::Lines {
                lines: Vec::new(),
                shipping: false,
            }),
            (None, false) => {
                if errors.is_empty() {
                    errors.add("lines", "give lines, shipping or an amount");
                }
                None
            }
        };
        match amount {
            Some(amount) if errors.is_empty() => Ok(RefundRequest {
                amount,
                note,
                return_id,
            }),
            _ => Err(errors),
        }
    }
}

/// A note as submitted (`POST /admin/orders/{id}/notes`): whether the
/// customer sees it is required, never assumed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NoteForm {
    /// What it says. Required.
    pub text: Option<String>,
    /// Whether the customer sees it. Required.
    pub visible_to_customer: Option<bool>,
}

impl Form for NoteForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "AddNote",
        doc: "A note on an order (`POST /admin/orders/{id}/notes`), internal or visible to the customer.",
        fields: &[
            Field::text("text", "What it says, on one line.")
                .required()
                .chars(1, NoteText::MAX_CHARS)
                .pattern(LINE_PATTERN),
            Field::boolean(
                "visible_to_customer",
                "Whether the customer sees it (`false`: staff only).",
            )
            .required(),
        ],
    };
}

impl NoteForm {
    /// The note asked for.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `text` and `visible_to_customer`.
    pub fn validate(self) -> Result<NewNote, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let text = match present(self.text) {
            Some(t) => errors.check("text", NoteText::parse(&t)),
            None => {
                errors.add("text", REQUIRED);
                None
            }
        };
        if self.visible_to_customer.is_none() {
            errors.add("visible_to_customer", REQUIRED);
        }
        match (text, self.visible_to_customer) {
            (Some(text), Some(visible_to_customer)) if errors.is_empty() => Ok(NewNote {
                text,
                visible_to_customer,
            }),
            _ => Err(errors),
        }
    }
}

/// A return's rejection as submitted (`POST /admin/returns/{id}/reject`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RejectForm {
    /// Why. Required.
    pub note: Option<String>,
}

impl Form for RejectForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "RejectReturn",
        doc: "A return refused, saying why (`POST /admin/returns/{id}/reject`).",
        fields: &[Field::text("note", "Why it is refused.")
            .required()
            .chars(1, Note::MAX_CHARS)
            .pattern(LINE_PATTERN)],
    };
}

impl RejectForm {
    /// The note.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `note`.
    pub fn validate(self) -> Result<Note, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let note = match present(self.note) {
            Some(t) => errors.check("note", Note::parse(&t)),
            None => {
                errors.add("note", REQUIRED);
                None
            }
        };
        match note {
            Some(note) if errors.is_empty() => Ok(note),
            _ => Err(errors),
        }
    }
}

/// A return's receipt as submitted (`POST /admin/returns/{id}/receive`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ReceiveForm {
    /// Whether the units go back to stock. Required.
    pub restock: Option<bool>,
}

impl Form for ReceiveForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "ReceiveReturn",
        doc: "A return's units came back (`POST /admin/returns/{id}/receive`).",
        fields: &[
            Field::boolean("restock", "Whether exactly those units go back to stock.").required(),
        ],
    };
}

impl ReceiveForm {
    /// Whether to restock.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `restock`.
    pub fn validate(self) -> Result<bool, ValidationErrors> {
        self.restock
            .ok_or_else(|| ValidationErrors::single("restock", REQUIRED))
    }
}
