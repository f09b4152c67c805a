//! Webhook endpoints: where to send, which events, and the signing secret.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use crate::ids::{EventId, WebhookId};
use crate::order::{EventKind, OrderEvent};

/// The kinds of order event a webhook can ask for, by their API names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventType {
    /// `order.created`: the order's first event.
    Created,
    /// `order.status_changed`: any later status change (a payment update
    /// that moved the status too, `awaiting_payment` to `paid`, is
    /// delivered as `order.payment_updated`, to this filter as well).
    StatusChanged,
    /// `order.payment_updated`.
    PaymentUpdated,
    /// `order.fulfilment_created`.
    FulfilmentCreated,
    /// `order.fulfilment_delivered`.
    FulfilmentDelivered,
    /// `order.return_updated`.
    ReturnUpdated,
    /// `order.refund_created`.
    RefundCreated,
    /// `order.note_added` (customer-visible notes only).
    NoteAdded,
}

impl EventType {
    /// Every type, in the order the API lists them.
    pub const ALL: [Self; 8] = [
        Self::Created,
        Self::StatusChanged,
        Self::PaymentUpdated,
        Self::FulfilmentCreated,
        Self::FulfilmentDelivered,
        Self::ReturnUpdated,
        Self::RefundCreated,
        Self::NoteAdded,
    ];

    /// The API name, e.g. `"order.created"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "order.created",
            Self::StatusChanged => "order.status_changed",
            Self::PaymentUpdated => "order.payment_updated",
            Self::FulfilmentCreated => "order.fulfilment_created",
            Self::FulfilmentDelivered => "order.fulfilment_delivered",
            Self::ReturnUpdated => "order.return_updated",
            Self::RefundCreated => "order.refund_created",
            Self::NoteAdded => "order.note_added",
        }
    }

    /// The type of an API name, or `None`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The type of `event`, as its delivery names it: its creation, else
    /// its kind (a refund that went through or was refused is a payment
    /// update).
    pub fn of(event: &OrderEvent) -> Self {
        if event.from.is_none() {
            return Self::Created;
        }
        match event.kind {
            EventKind::PaymentUpdated | EventKind::RefundUpdated => Self::PaymentUpdated,
            EventKind::FulfilmentCreated => Self::FulfilmentCreated,
            EventKind::FulfilmentDelivered => Self::FulfilmentDelivered,
            EventKind::ReturnUpdated => Self::ReturnUpdated,
            EventKind::RefundCreated => Self::RefundCreated,
            EventKind::NoteAdded => Self::NoteAdded,
            _ => Self::StatusChanged,
        }
    }

    /// The types a webhook may ask for to receive `event`: its own
    /// ([`EventType::of`]) and, for an event of another kind that moved the
    /// order's status (`from != to`: a payment that made it paid, a
    /// fulfilment that shipped it), also `order.status_changed`, so a
    /// webhook following status changes sees every one of them. Such an
    /// event is still delivered once per webhook, under its own type.
    pub fn matched_by(event: &OrderEvent) -> Vec<Self> {
        let own = Self::of(event);
        let moved = event.from.is_some_and(|from| from != event.to);
        if own != Self::StatusChanged && own != Self::Created && moved {
            vec![own, Self::StatusChanged]
        } else {
            vec![own]
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The events list is empty, or names an unknown type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEventFilter {
    /// No event named.
    #[error("name at least one event type, or \"*\"")]
    Empty,
    /// A name that is neither an event type nor `*`.
    #[error("unknown event type {0:?}")]
    Unknown(String),
}

/// Which events a webhook wants: all of them (`*`), or some types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// `["*"]`: every event, including types added later.
    All,
    /// These types, each once, sorted.
    Only(Vec<EventType>),
}

impl EventFilter {
    /// The filter of a list of names (`*` anywhere means all).
    ///
    /// # Errors
    /// [`InvalidEventFilter`] for an empty list or an unknown name.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, InvalidEventFilter> {
        if names.is_empty() {
            return Err(InvalidEventFilter::Empty);
        }
        let mut types = Vec::new();
        let mut all = false;
        for name in names {
            let name = name.as_ref();
            if name == "*" {
                all = true;
            } else {
                let t = EventType::parse(name)
                    .ok_or_else(|| InvalidEventFilter::Unknown(name.to_owned()))?;
                types.push(t);
            }
        }
        if all {
            return Ok(Self::All);
        }
        types.sort();
        types.dedup();
        Ok(Self::Only(types))
    }

    /// Whether an event of type `t` goes to this webhook.
    pub fn matches(&self, t: EventType) -> bool {
        match self {
            Self::All => true,
            Self::Only(types) => types.contains(&t),
        }
    }

    /// The names, as stored and shown: `["*"]` or the types' names.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Self::All => vec!["*"],
            Self::Only(types) => types.iter().map(|t| t.as_str()).collect(),
        }
    }
}

impl Serialize for EventFilter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

/// The most characters of a webhook URL.
pub const MAX_URL_CHARS: usize = 2048;

/// Why a URL cannot be a webhook target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidWebhookUrl {
    /// Not `http://` or `https://`.
    #[error("must be an http or https URL")]
    Scheme,
    /// Longer than [`MAX_URL_CHARS`].
    #[error("must be at most 2048 characters")]
    TooLong,
    /// No host, credentials in it, or characters a URL cannot hold.
    #[error("must be an absolute URL with a host, without credentials or spaces")]
    Malformed,
    /// The host is (or resolves to) an address the server refuses to call.
    #[error("must not point to a private, loopback or link-local address")]
    PrivateAddress,
}

/// An `http` or `https` URL with a host: the shape a webhook target must
/// have. Whether its host may be called is the adapter's check (it
/// resolves names), reported as [`InvalidWebhookUrl::PrivateAddress`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebhookUrl {
    text: String,
    host_start: usize,
    host_end: usize,
}

impl WebhookUrl {
    /// Checks the scheme, the length and the host.
    ///
    /// # Errors
    /// [`InvalidWebhookUrl`] saying which.
    pub fn parse(text: &str) -> Result<Self, InvalidWebhookUrl> {
        if text.chars().count() > MAX_URL_CHARS {
            return Err(InvalidWebhookUrl::TooLong);
        }
        let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
        let rest_at = if lower.starts_with("https://") {
            8
        } else if lower.starts_with("http://") {
            7
        } else {
            return Err(InvalidWebhookUrl::Scheme);
        };
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidWebhookUrl::Malformed);
        }
        let rest = &text[rest_at..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        if authority.contains('@') {
            return Err(InvalidWebhookUrl::Malformed);
        }
        // The host ends at the port's colon, outside an IPv6 literal.
        let host_len = if authority.starts_with('[') {
            authority
                .find(']')
                .map(|i| i + 1)
                .ok_or(InvalidWebhookUrl::Malformed)?
        } else {
            authority.find(':').unwrap_or(authority.len())
        };
        let port = &authority[host_len..];
        let port_ok = port.is_empty()
            || (port.len() > 1
                && port.len() <= 6
                && port[1..].bytes().all(|b| b.is_ascii_digit())
                && port[1..].parse::<u16>().is_ok_and(|p| p > 0));
        if host_len == 0 || !port.starts_with(':') && !port.is_empty() || !port_ok {
            return Err(InvalidWebhookUrl::Malformed);
        }
        Ok(Self {
            text: text.to_owned(),
            host_start: rest_at,
            host_end: rest_at + host_len,
        })
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.host_start == 8
    }

    /// The host as written: a name, an IPv4 address, or an IPv6 literal
    /// without its brackets.
    pub fn host(&self) -> &str {
        self.text[self.host_start..self.host_end]
            .trim_start_matches('[')
            .trim_end_matches(']')
    }

    /// The port: the URL's, or the scheme's default.
    pub fn port(&self) -> u16 {
        let after = &self.text[self.host_end..];
        after
            .strip_prefix(':')
            .and_then(|p| p.split(['/', '?', '#']).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(if self.is_https() { 443 } else { 80 })
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for WebhookUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// The secret a webhook's deliveries are signed with: `whsec_` and 64 hex
/// digits. Shown once, when the webhook is created.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// The secret of 32 random bytes (the caller brings the randomness:
    /// this crate has no source of it).
    pub fn from_random_bytes(bytes: &[u8; 32]) -> Self {
        use fmt::Write as _;
        let mut text = String::from("whsec_");
        for b in bytes {
            let _ = write!(text, "{b:02x}");
        }
        Self(text)
    }

    /// A stored secret, as read back.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The secret, for signing and for the one answer that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// A webhook to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// Its id.
    pub id: WebhookId,
    /// Where to send.
    pub url: WebhookUrl,
    /// Which events.
    pub events: EventFilter,
    /// The signing secret.
    pub secret: WebhookSecret,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A stored webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// Where to send.
    pub url: WebhookUrl,
    /// Which events.
    pub events: EventFilter,
    /// The signing secret.
    pub secret: WebhookSecret,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The last event committed when it was stored: it receives only the
    /// events after it (`None`: every event).
    pub after_event: Option<EventId>,
}

impl Webhook {
    /// Whether `event` goes to this webhook: of a type it asked for
    /// ([`EventType::matched_by`]), committed after it was stored, and not
    /// an internal note's.
    pub fn wants(&self, event: &OrderEvent) -> bool {
        self.after_event.is_none_or(|after| event.id > after)
            && EventType::matched_by(event)
                .into_iter()
                .any(|t| self.events.matches(t))
            && event.visible_to_customer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_http_or_https_and_a_host() {
        let url = WebhookUrl::parse("https://hooks.example.com:8443/in?x=1").expect("valid");
        assert_eq!(url.host(), "hooks.example.com");
        assert_eq!(url.port(), 8443);
        assert!(url.is_https());
        let url = WebhookUrl::parse("HTTP://[::1]/x").expect("valid");
        assert_eq!((url.host(), url.port()), ("::1", 80));
        let url = WebhookUrl::parse("http://127.0.0.1:9").expect("valid");
        assert_eq!((url.host(), url.port()), ("127.0.0.1", 9));
        for (text, error) in [
            ("ftp://example.com/", InvalidWebhookUrl::Scheme),
            ("example.com", InvalidWebhookUrl::Scheme),
            ("javascript:alert(1)", InvalidWebhookUrl::Scheme),
            ("https://", InvalidWebhookUrl::Malformed),
            ("https:///path", InvalidWebhookUrl::Malformed),
            ("https://user:pw@example.com/", InvalidWebhookUrl::Malformed),
            ("https://exa mple.com/", InvalidWebhookUrl::Malformed),
            ("https://example.com:0/", InvalidWebhookUrl::Malformed),
            ("https://example.com:99999/", InvalidWebhookUrl::Malformed),
            ("https://example.com:x/", InvalidWebhookUrl::Malformed),
            ("https://[::1/", InvalidWebhookUrl::Malformed),
        ] {
            assert_eq!(WebhookUrl::parse(text), Err(error), "{text}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(WebhookUrl::parse(&long), Err(InvalidWebhookUrl::TooLong));
    }

    #[test]
    fn events_have_their_kinds_type_and_internal_notes_go_nowhere() {
        use crate::ids::OrderId;
        use crate::order::{Actor, EventKind, OrderStatus};
        let event = |kind, from: Option<OrderStatus>, data: Option<serde_json::Value>| OrderEvent {
            id: EventId::new(5),
            order_id: OrderId::parse("o1").expect("id"),
            kind,
            from,
            to: OrderStatus::Paid,
            at: Utc::now(),
            actor: Actor::system(),
            note: None,
            data,
        };
        let paid = Some(OrderStatus::Paid);
        assert_eq!(
            EventType::of(&event(EventKind::StatusChanged, None, None)),
            EventType::Created
        );
        for (kind, ty) in [
            (EventKind::StatusChanged, EventType::StatusChanged),
            (EventKind::PaymentUpdated, EventType::PaymentUpdated),
            (EventKind::FulfilmentCreated, EventType::FulfilmentCreated),
            (
                EventKind::FulfilmentDelivered,
                EventType::FulfilmentDelivered,
            ),
            (EventKind::ReturnUpdated, EventType::ReturnUpdated),
            (EventKind::RefundCreated, EventType::RefundCreated),
            (EventKind::RefundUpdated, EventType::PaymentUpdated),
            (EventKind::NoteAdded, EventType::NoteAdded),
        ] {
            assert_eq!(EventType::of(&event(kind, paid, None)), ty, "{kind}");
        }
        let hook = Webhook {
            id: WebhookId::generate(),
            url: WebhookUrl::parse("https://erp.example.com/in").expect("url"),
            events: EventFilter::All,
            secret: WebhookSecret::from_random_bytes(&[7; 32]),
            created_at: Utc::now(),
            after_event: None,
        };
        let internal = serde_json::json!({"visible_to_customer": false, "text": "fraud"});
        let visible = serde_json::json!({"visible_to_customer": true, "text": "Monday"});
        assert!(!hook.wants(&event(EventKind::NoteAdded, paid, Some(internal))));
        assert!(hook.wants(&event(EventKind::NoteAdded, paid, Some(visible))));
    }

    #[test]
    fn filters_take_api_names_or_a_star() {
        assert_eq!(EventFilter::parse(&["*"]), Ok(EventFilter::All));
        assert_eq!(
            EventFilter::parse(&["order.status_changed", "order.created", "order.created"]),
            Ok(EventFilter::Only(vec![
                EventType::Created,
                EventType::StatusChanged
            ]))
        );
        assert_eq!(
            EventFilter::parse::<&str>(&[]),
            Err(InvalidEventFilter::Empty)
        );
        assert_eq!(
            EventFilter::parse(&["order.eaten"]),
            Err(InvalidEventFilter::Unknown("order.eaten".into()))
        );
        let only = EventFilter::parse(&["order.created"]).expect("valid");
        assert!(only.matches(EventType::Created));
        assert!(!only.matches(EventType::StatusChanged));
        assert_eq!(only.names(), vec!["order.created"]);
    }

    #[test]
    fn secrets_are_hex_and_never_debug_printed() {
        let secret = WebhookSecret::from_random_bytes(&[0xab; 32]);
        assert_eq!(secret.expose().len(), 6 + 64);
        assert!(secret.expose().starts_with("whsec_abab"));
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
    }
}
