//! A staff request to add a webhook ([`WebhookForm`], the JSON body of
//! `POST /admin/webhooks`), validated into a [`WebhookRequest`] with every
//! bad field at once. Whether the URL's host may be called is the
//! adapter's check (it resolves names).

use serde::Deserialize;

use super::endpoint::{EventFilter, EventType, MAX_URL_CHARS, WebhookUrl};
use crate::checkout::{REQUIRED, present};
use crate::form::{Description, Field, Form};
use crate::validation::ValidationErrors;

/// Every name `events` accepts: the event types, and `*` for all.
pub const EVENT_NAMES: [&str; EventType::ALL.len() + 1] = [
    "*",
    EventType::Created.as_str(),
    EventType::StatusChanged.as_str(),
    EventType::PaymentUpdated.as_str(),
    EventType::FulfilmentCreated.as_str(),
    EventType::FulfilmentDelivered.as_str(),
    EventType::ReturnUpdated.as_str(),
    EventType::RefundCreated.as_str(),
    EventType::NoteAdded.as_str(),
];

impl Form for WebhookForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "CreateWebhook",
        doc: "A webhook endpoint to add (`POST /admin/webhooks`).",
        fields: &[
            Field::text("url", "Where deliveries are POSTed: an http or https URL.")
                .required()
                .chars(1, MAX_URL_CHARS)
                .pattern("^[Hh][Tt][Tt][Pp][Ss]?://")
                .format("uri")
                .example("https://erp.example.com/hooks/orders"),
            Field::text_list(
                "events",
                "The event types to receive, or `*` for all.",
                1,
                EVENT_NAMES.len(),
            )
            .required()
            .one_of(&EVENT_NAMES),
        ],
    };
}

/// A webhook as submitted. Missing fields deserialise as `None`.
///
/// ```
/// use orders_core::webhook::{EventFilter, WebhookForm};
///
/// let ok = WebhookForm {
///     url: Some("https://erp.example.com/in".into()),
///     events: Some(vec!["*".into()]),
/// }
/// .validate()
/// .unwrap();
/// assert_eq!(ok.events, EventFilter::All);
///
/// let errors = WebhookForm {
///     url: Some("ftp://erp.example.com/in".into()),
///     events: Some(vec!["order.eaten".into()]),
/// }
/// .validate()
/// .unwrap_err();
/// let fields: Vec<&str> = errors.iter().map(|(path, _)| path).collect();
/// assert_eq!(fields, ["events", "url"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WebhookForm {
    /// Where to send. Required.
    pub url: Option<String>,
    /// Which event types (`*` for all). Required, not empty.
    pub events: Option<Vec<String>>,
}

/// A valid webhook request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// Where to send.
    pub url: WebhookUrl,
    /// Which events.
    pub events: EventFilter,
}

impl WebhookForm {
    /// The webhook the form asks for.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `url` (missing, not http or https, too
    /// long, no host) and `events` (missing, empty, an unknown name).
    pub fn validate(self) -> Result<WebhookRequest, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let url = match present(self.url) {
            Some(text) => errors.check("url", WebhookUrl::parse(text.trim())),
            None => {
                errors.add("url", REQUIRED);
                None
            }
        };
        let events = match self.events {
            Some(names) => errors.check("events", EventFilter::parse(&names)),
            None => {
                errors.add("events", REQUIRED);
                None
            }
        };
        let (Some(url), Some(events)) = (url, events) else {
            return Err(errors);
        };
        errors.into_result(WebhookRequest { url, events })
    }
}
