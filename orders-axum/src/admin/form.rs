//! Form bodies: read, decoded, and their CSRF token checked before
//! anything else happens.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use orders_core::validation::ValidationErrors;

use super::PanelState;
use super::error::PageError;
use crate::web::CSRF_FIELD;

/// A decoded `application/x-www-form-urlencoded` body whose CSRF token was
/// valid, with the request's parts (headers, extensions), which the host's
/// `Identify::identify_request` sees.
#[derive(Debug, Clone)]
pub(crate) struct Form {
    pub(crate) parts: Parts,
    pub(crate) peer: Option<std::net::IpAddr>,
    fields: HashMap<String, String>,
}

impl Form {
    /// The field's value, or "".
    pub(crate) fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    /// The field's value, `None` when absent or blank.
    pub(crate) fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Whether a checkbox was ticked.
    pub(crate) fn checked(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    /// What was typed, to show again beside the errors (never the CSRF
    /// token or a password).
    pub(crate) fn values(&self) -> HashMap<String, String> {
        self.fields
            .iter()
            .filter(|(k, _)| k.as_str() != CSRF_FIELD && k.as_str() != "password")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl FromRequest<PanelState> for Form {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &PanelState) -> Result<Self, PageError> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, super::FORM_LIMIT)
            .await
            .map_err(|_| {
                PageError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Form too large",
                    Some("The form sent more than 64 KiB.".to_owned()),
                )
            })?;
        let mut fields = HashMap::new();
        for (key, value) in form_urlencoded::parse(&bytes) {
            fields.entry(key.into_owned()).or_insert(value.into_owned());
        }
        let token = fields.get(CSRF_FIELD).map_or("", String::as_str);
        if !state.csrf.verify(&parts.headers, token) {
            return Err(PageError::csrf());
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        if peer.is_none() {
            warn_no_peer_once();
        }
        Ok(Self {
            parts,
            peer,
            fields,
        })
    }
}

/// The values and field errors of a form being shown (again).
#[derive(Debug, Clone, Default)]
pub(crate) struct FormState {
    values: HashMap<String, String>,
    errors: ValidationErrors,
}

impl FormState {
    pub(crate) fn new(values: HashMap<String, String>, errors: ValidationErrors) -> Self {
        Self { values, errors }
    }

    /// A form showing these values, without errors.
    pub(crate) fn with_values<'a>(values: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        Self {
            values: values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            errors: ValidationErrors::new(),
        }
    }

    /// The value of `name` to show.
    pub(crate) fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// Whether `name` is set (a checkbox shown ticked).
    pub(crate) fn is_on(&self, name: &str) -> bool {
        matches!(self.value(name), "on" | "true")
    }

    /// The error messages of `name`, joined.
    pub(crate) fn error(&self, name: &str) -> Option<String> {
        self.errors.get(name).map(|messages| messages.join("; "))
    }

    /// Every error, `(field, message)`, for the summary at the top.
    pub(crate) fn summary(&self) -> Vec<(String, String)> {
        self.errors
            .iter()
            .map(|(field, messages)| (field.to_owned(), messages.join("; ")))
            .collect()
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// The panel's sign-in hands the host the client's address (for its
/// sign-in limits) from axum's `ConnectInfo`, which exists only when the
/// host serves with `into_make_service_with_connect_info::<SocketAddr>()`
/// (or `orders_axum::serve`, which provides it). Without it every sign-in
/// comes from no address: said once in the log, not on every form.
fn warn_no_peer_once() {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "the admin panel sees no client address: serve the app with \
             into_make_service_with_connect_info::<SocketAddr>() (or orders_axum::serve) \
             so sign-in limits can count per address"
        );
    }
}
