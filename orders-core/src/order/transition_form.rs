//! A staff request to move an order ([`TransitionForm`], the JSON
//! `POST /admin/orders/{id}/transition` body and the admin panel's buttons
//! alike), validated into a [`Transition`] with every bad field at once.
//! Whether the move is legal from the order's status is the status table's
//! to say, when the move is made.

use serde::Deserialize;

use super::lifecycle::{Note, OrderStatus, TrackingNumber, Transition};
use crate::checkout::{REQUIRED, present};
use crate::form::{Description, Field, Form};
use crate::text::BLANK_LINE_PATTERN;
use crate::validation::ValidationErrors;

/// `note`: optional, blank is absent.
const NOTE: Field = Field::text("note", "A note for the event.")
    .chars(0, Note::MAX_CHARS)
    .pattern(BLANK_LINE_PATTERN);

impl Form for TransitionForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "TransitionOrder",
        doc: "A move of an order through the status table (`POST /admin/orders/{id}/transition`).",
        fields: &[
            Field::text("to", "The status to move to.")
                .required()
                .one_of(&OrderStatus::NAMES),
            NOTE,
            Field::text(
                "tracking_number",
                "The carrier's tracking number; required to ship.",
            )
            .chars(0, TrackingNumber::MAX_CHARS)
            .pattern(BLANK_LINE_PATTERN),
        ],
    };
}

/// A customer's cancellation as submitted (`POST /orders/{id}/cancel`): an
/// optional note saying why.
///
/// ```
/// use orders_core::order::CancelForm;
///
/// assert!(CancelForm::default().validate().unwrap().is_none());
/// let note = CancelForm { note: Some(" changed my mind ".into()) }.validate().unwrap();
/// assert_eq!(note.unwrap().as_str(), "changed my mind");
/// assert!(CancelForm { note: Some("a\u{0}".into()) }.validate().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CancelForm {
    /// Why; blank is none.
    pub note: Option<String>,
}

impl Form for CancelForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "CancelOrder",
        doc: "A customer's cancellation: an optional note saying why.",
        fields: &[NOTE],
    };
}

impl CancelForm {
    /// The note, if any.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `note`.
    pub fn validate(self) -> Result<Option<Note>, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let note = present(self.note).and_then(|text| errors.check("note", Note::parse(&text)));
        errors.into_result(note)
    }
}

/// A move as submitted. Missing fields deserialise as `None`; blank ones
/// count as absent.
///
/// ```
/// use orders_core::order::{OrderStatus, TransitionForm};
///
/// let errors = TransitionForm {
///     to: Some("lost".into()),
///     note: Some("a\u{0}b".into()),
///     ..Default::default()
/// }
/// .validate()
/// .unwrap_err();
/// let fields: Vec<&str> = errors.iter().map(|(path, _)| path).collect();
/// assert_eq!(fields, ["note", "to"]);
///
/// let ship = TransitionForm {
///     to: Some("shipped".into()),
///     tracking_number: Some(" TRK-1 ".into()),
///     ..Default::default()
/// }
/// .validate()
/// .unwrap();
/// assert_eq!(ship.to, OrderStatus::Shipped);
/// assert_eq!(ship.tracking_number.unwrap().as_str(), "TRK-1");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TransitionForm {
    /// The status to move to. Required.
    pub to: Option<String>,
    /// A note for the event.
    pub note: Option<String>,
    /// The carrier's tracking number: required to ship.
    pub tracking_number: Option<String>,
}

impl TransitionForm {
    /// The move the form asks for.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `to` (missing or not a status), `note` and
    /// `tracking_number`, every bad field at once.
    pub fn validate(self) -> Result<Transition, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let to = match present(self.to) {
            Some(text) => errors.check("to", text.trim().parse::<OrderStatus>()),
            None => {
                errors.add("to", REQUIRED);
                None
            }
        };
        let note = present(self.note).and_then(|text| errors.check("note", Note::parse(&text)));
        let tracking_number = present(self.tracking_number)
            .and_then(|text| errors.check("tracking_number", TrackingNumber::parse(&text)));
        let Some(to) = to else {
            return Err(errors);
        };
        errors.into_result(Transition {
            to,
            note,
            tracking_number,
        })
    }
}
