//! The JSON body extractor, whose every rejection is a problem document.
//!
//! The order of checks (the crate docs' errors and the route table say
//! which route answers which):
//!
//! 1. not declared `application/json` (or `…+json`): 415;
//! 2. over the body limit ([`crate::Api::body_limit`], default 64 KiB): 413;
//! 3. not JSON at all, or not a JSON object: 400;
//! 4. a known field missing (when required) or of the wrong JSON type: 422,
//!    every such field at once, by dotted path;
//! 5. anything else serde refuses: 422 on that field's path.
//!
//! Step 4 is why bodies declare their fields ([`RequestBody::FIELDS`]):
//! serde stops at the first error, a form wants all of them. Values are
//! never echoed back or logged (a card number may be among them).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use orders_core::validation::ValidationErrors;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::ApiError;

/// The JSON type a field must have (`null` is "absent" for every type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// A string.
    String,
    /// An integer (no fraction, no exponent).
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An object.
    Object,
    /// An array.
    Array,
}

impl JsonType {
    fn matches(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Integer => value.is_i64() || value.is_u64(),
            Self::Number => value.is_number(),
            Self::Boolean => value.is_boolean(),
            Self::Object => value.is_object(),
            Self::Array => value.is_array(),
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::String => "must be a string",
            Self::Integer => "must be an integer",
            Self::Number => "must be a number",
            Self::Boolean => "must be true or false",
            Self::Object => "must be an object",
            Self::Array => "must be an array",
        }
    }
}

/// One known field of a request body: its dotted path, JSON type and
/// whether it is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Dotted path from the body's root (`payment.card.number`).
    pub path: &'static str,
    /// The JSON type it must have when present and not `null`.
    pub ty: JsonType,
    /// Whether a missing or `null` value is an error (`"required"`); for a
    /// nested field, only when its parent object is present.
    pub required: bool,
}

impl FieldSpec {
    /// A required field.
    pub const fn required(path: &'static str, ty: JsonType) -> Self {
        Self {
            path,
            ty,
            required: true,
        }
    }

    /// An optional field (`null` or absent is fine).
    pub const fn optional(path: &'static str, ty: JsonType) -> Self {
        Self {
            path,
            ty,
            required: false,
        }
    }
}

/// A request body type: deserialisable, with its known fields declared so
/// that every missing or mistyped one is reported at once.
///
/// ```
/// use orders_axum::{FieldSpec, JsonType, RequestBody};
///
/// #[derive(serde::Deserialize)]
/// struct Login { email: String, password: String }
///
/// impl RequestBody for Login {
///     const FIELDS: &'static [FieldSpec] = &[
///         FieldSpec::required("email", JsonType::String),
///         FieldSpec::required("password", JsonType::String),
///     ];
/// }
/// ```
pub trait RequestBody: DeserializeOwned {
    /// The known fields.
    const FIELDS: &'static [FieldSpec];
}

/// Checks each declared field of `body`, collecting every error.
pub fn check_fields(body: &Map<String, Value>, fields: &[FieldSpec]) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    for spec in fields {
        let (parent, key) = match spec.path.rsplit_once('.') {
            Some((parent, key)) => (lookup(body, parent), key),
            None => (Some(body), spec.path),
        };
        let Some(parent) = parent else { continue };
        match parent.get(key) {
            None | Some(Value::Null) => {
                if spec.required {
                    errors.add(spec.path, orders_core::checkout::REQUIRED);
                }
            }
            Some(value) if !spec.ty.matches(value) => errors.add(spec.path, spec.ty.message()),
            Some(_) => {}
        }
    }
    errors
}

/// The object at dotted `path`, if every step is an object.
fn lookup<'a>(body: &'a Map<String, Value>, path: &str) -> Option<&'a Map<String, Value>> {
    path.split('.')
        .try_fold(body, |object, key| object.get(key)?.as_object())
}

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

/// Parses `bytes` as a `T`: steps 3 to 5 of the module documentation.
///
/// # Errors
/// 400 for a body that is not a JSON object, 422 for fields.
pub fn parse_body<T: RequestBody>(bytes: &[u8]) -> Result<T, ApiError> {
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
    let errors = check_fields(&object, T::FIELDS);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." { "body".to_owned() } else { path };
        ApiError::field(&path, "invalid value")
    })
}

/// A JSON request body of type `T`, rejected as a problem document
/// (415, 413, 400 or 422; see the module documentation).
///
/// Use it in a host's own handlers (register, login) so their errors match
/// the API's:
///
/// ```
/// use orders_axum::{FieldSpec, JsonBody, JsonType, RequestBody};
///
/// #[derive(serde::Deserialize)]
/// struct Register { email: String, password: String }
/// impl RequestBody for Register {
///     const FIELDS: &'static [FieldSpec] = &[
///         FieldSpec::required("email", JsonType::String),
///         FieldSpec::required("password", JsonType::String),
///     ];
/// }
///
/// async fn register(JsonBody(body): JsonBody<Register>) -> String {
///     body.email
/// }
/// # let _ = axum::Router::<()>::new().route("/auth/register", axum::routing::post(register));
/// ```
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for JsonBody<T> {
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
/// `None`: for actions whose body is optional (`POST …/cancel`).
#[derive(Debug, Clone)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(req.headers());
        let bytes = read_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        if !json {
            return Err(ApiError::unsupported_media_type());
        }
        parse_body(&bytes).map(|body| Self(Some(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        count: Option<i64>,
        nested: Option<Value>,
    }

    impl RequestBody for Sample {
        const FIELDS: &'static [FieldSpec] = &[
            FieldSpec::required("name", JsonType::String),
            FieldSpec::optional("count", JsonType::Integer),
            FieldSpec::optional("nested", JsonType::Object),
            FieldSpec::required("nested.flag", JsonType::Boolean),
        ];
    }

    fn status(result: Result<Sample, ApiError>) -> u16 {
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
        let body = json!({"count": "3", "nested": {"flag": 1}}).to_string();
        let error = parse_body::<Sample>(body.as_bytes()).unwrap_err();
        assert_eq!(error.status().as_u16(), 422);
        let errors = error.errors().unwrap();
        assert_eq!(errors.get("name"), Some(&["required".to_owned()][..]));
        assert!(errors.contains("count"));
        assert!(errors.contains("nested.flag"));
        assert_eq!(errors.len(), 3);
    }

    #[test]
    fn nested_requirements_apply_only_when_the_parent_is_there() {
        let ok = parse_body::<Sample>(br#"{"name": "a", "count": null}"#).unwrap();
        assert_eq!(ok.name, "a");
        let error = parse_body::<Sample>(br#"{"name": "a", "nested": {}}"#).unwrap_err();
        assert!(error.errors().unwrap().contains("nested.flag"));
        let error = parse_body::<Sample>(br#"{"name": "a", "count": 1.5}"#).unwrap_err();
        assert!(error.errors().unwrap().contains("count"));
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
