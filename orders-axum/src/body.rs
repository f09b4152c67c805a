//! The JSON body extractor, whose every rejection is a problem document.
//!
//! The order of checks (the crate docs' errors and the route table say
//! which route answers which):
//!
//! 1. not declared `application/json` (or `…+json`): 415;
//! 2. over the body limit ([`crate::Api::body_limit`], default 64 KiB): 413;
//! 3. not JSON at all, or not a JSON object: 400;
//! 4. the object is read as the core's form ([`Form::read`]): a field of
//!    the wrong JSON type is a field error and absent, and the handler's
//!    validation reports it together with every value error
//!    ([`Submitted::validate`]): 422, every field at once, by dotted path.
//!
//! The shape of every body is its form's [`Form::DESCRIPTION`], in the
//! core; nothing here lists a field. Values are never echoed back or
//! logged (a card number may be among them).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use orders_core::form::{Form, Submitted};
use serde_json::Value;

use crate::ApiError;

/// Whether the request declares a JSON body.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(None)
        } else {
            ApiError::bad_request("the body could not be read")
        }
    })
}

/// Reads `bytes` as the form `F`: steps 3 and 4 of the module
/// documentation.
///
/// # Errors
/// 400 for a body that is not a JSON object.
pub fn parse_body<F: Form>(bytes: &[u8]) -> Result<Submitted<F>, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::bad_request(format!(
            "the body is not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        ))
    })?;
    let Value::Object(object) = value else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    Ok(F::read(&object))
}

/// A JSON request body read as the core's form `F`, rejected as a problem
/// document (415, 413 or 400; see the module documentation). Its type
/// errors come out of [`Submitted::validate`] with the value errors.
///
/// A host's own handlers (register, login) use it with a form of their
/// own, so their errors match the API's:
///
/// ```
/// use orders_axum::JsonBody;
/// use orders_core::form::{Description, Field, Form};
/// use orders_core::validation::ValidationErrors;
///
/// #[derive(Default, serde::Deserialize)]
/// struct Register { email: Option<String> }
///
/// impl Form for Register {
///     const DESCRIPTION: &'static Description = &Description {
///         name: "Register",
///         doc: "A new account.",
///         fields: &[Field::text("email", "The account's email.").required()],
///     };
/// }
///
/// async fn register(JsonBody(body): JsonBody<Register>) -> Result<String, orders_axum::ApiError> {
///     let email = body
///         .validate(|form| form.email.ok_or_else(|| ValidationErrors::single("email", "required")))
///         .map_err(orders_axum::ApiError::validation)?;
///     Ok(email)
/// }
/// # let _ = axum::Router::<()>::new().route("/auth/register", axum::routing::post(register));
/// ```
#[derive(Debug, Clone)]
pub struct JsonBody<F>(pub Submitted<F>);

impl<S: Send + Sync, F: Form> FromRequest<S> for JsonBody<F> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = read_bytes(req, state).await?;
        parse_body(&bytes).map(Self)
    }
}

/// Like [`JsonBody`], but an empty body (with any or no content type) is
/// the empty form: for actions whose body is optional (`POST …/cancel`).
#[derive(Debug, Clone)]
pub struct OptionalJsonBody<F>(pub Submitted<F>);

impl<S: Send + Sync, F: Form> FromRequest<S> for OptionalJsonBody<F> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(req.headers());
        let bytes = read_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Submitted::from(F::default())));
        }
        if !json {
            return Err(ApiError::unsupported_media_type());
        }
        parse_body(&bytes).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orders_core::cart::AddItemForm;
    use serde_json::json;

    fn status(result: Result<Submitted<AddItemForm>, ApiError>) -> u16 {
        result.unwrap_err().status().as_u16()
    }

    #[test]
    fn not_json_or_not_an_object_is_400() {
        assert_eq!(status(parse_body(b"{")), 400);
        assert_eq!(status(parse_body(b"[1]")), 400);
        assert_eq!(status(parse_body(b"\"x\"")), 400);
    }

    #[test]
    fn every_mistyped_or_missing_field_is_reported() {
        let body = json!({"product_id": 3, "quantity": 1.5}).to_string();
        let errors = parse_body::<AddItemForm>(body.as_bytes())
            .unwrap()
            .validate(AddItemForm::validate)
            .unwrap_err();
        assert_eq!(
            errors.get("product_id"),
            Some(&["must be a string".to_owned()][..])
        );
        assert_eq!(
            errors.get("quantity"),
            Some(&["must be an integer".to_owned()][..])
        );
        assert_eq!(errors.len(), 2);
        let errors = parse_body::<AddItemForm>(b"{}")
            .unwrap()
            .validate(AddItemForm::validate)
            .unwrap_err();
        assert_eq!(errors.get("quantity"), Some(&["required".to_owned()][..]));
    }

    #[test]
    fn content_types() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            "application/merge-patch+json".parse().unwrap(),
        );
        assert!(is_json(&headers));
    }
}
