//! Query strings: parsed by hand so every bad parameter is a 422 on its
//! name (a typed `Query<T>` would answer 400 with serde's text), and so
//! `access_token` never reaches a log line (the trace span records the
//! path only).

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use orders_core::catalogue::ProductQuery;
use orders_core::order::OrderStatus;
use orders_core::ports::{Cursor, PageRequest};
use orders_core::text::SearchText;
use orders_core::validation::ValidationErrors;

use crate::ApiError;

/// Decodes `a=1&b=2` into pairs.
pub(crate) fn pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The request's query parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(parts.uri.query().map(pairs).unwrap_or_default()))
    }
}

impl Params {
    /// The first value of `key`, if present and not empty.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// As [`Params::get`], but a key given more than once (`?limit=&limit=5`)
    /// is an error on it: which one was meant cannot be known.
    fn single(&self, key: &str, errors: &mut ValidationErrors) -> Option<&str> {
        if self.0.iter().filter(|(k, _)| k == key).count() > 1 {
            errors.add(key, "given more than once");
            return None;
        }
        self.get(key)
    }

    /// `?limit=` (1 to 100, default 20) and `?cursor=`; errors go to
    /// `errors`.
    pub(crate) fn page(&self, errors: &mut ValidationErrors) -> PageRequest {
        let limit = match self.single("limit", errors) {
            None => PageRequest::DEFAULT_LIMIT,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=PageRequest::MAX_LIMIT).contains(&n) => n,
                _ => {
                    errors.add(
                        "limit",
                        format!("must be an integer from 1 to {}", PageRequest::MAX_LIMIT),
                    );
                    PageRequest::DEFAULT_LIMIT
                }
            },
        };
        let cursor = self.single("cursor", errors).map(|c| Cursor(c.to_owned()));
        PageRequest::first(limit).after(cursor)
    }

    /// `?status=`, one of the order statuses.
    pub(crate) fn status(&self, errors: &mut ValidationErrors) -> Option<OrderStatus> {
        self.single("status", errors)
            .and_then(|text| errors.check("status", text.parse::<OrderStatus>()))
    }

    /// `?KEY=` as search text ([`SearchText`]): `None` when absent or
    /// blank; a control character (a NUL, say) or an over-long value is an
    /// error on `key`, so it never reaches a store.
    pub(crate) fn search(&self, key: &str, errors: &mut ValidationErrors) -> Option<SearchText> {
        self.single(key, errors)
            .filter(|text| !text.trim().is_empty())
            .and_then(|text| errors.check(key, SearchText::parse(text)))
    }

    /// `?q=` as a catalogue search ([`ProductQuery`]) and the page, or 422
    /// on `q`, `limit` or `cursor`.
    pub(crate) fn product_search(&self) -> Result<(Option<ProductQuery>, PageRequest), ApiError> {
        let mut errors = ValidationErrors::new();
        let page = self.page(&mut errors);
        let query = self
            .single("q", &mut errors)
            .and_then(|text| errors.check("q", ProductQuery::parse(text)))
            .flatten();
        finish(errors, (query, page))
    }

    /// Just the page, or 422.
    pub(crate) fn page_only(&self) -> Result<PageRequest, ApiError> {
        let mut errors = ValidationErrors::new();
        let page = self.page(&mut errors);
        finish(errors, page)
    }
}

/// `value` if `errors` is empty, else 422 with them.
pub(crate) fn finish<T>(errors: ValidationErrors, value: T) -> Result<T, ApiError> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(ApiError::validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        Params(pairs(query))
    }

    #[test]
    fn limits() {
        assert_eq!(params("").page_only().unwrap().limit, 20);
        assert_eq!(params("limit=100").page_only().unwrap().limit, 100);
        for bad in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "limit=x",
            "limit=1.5",
            "limit=&limit=x",
            "limit=5&limit=5",
        ] {
            let error = params(bad).page_only().unwrap_err();
            assert!(error.errors().unwrap().contains("limit"), "{bad}");
        }
        let twice = params("cursor=a&cursor=b").page_only().unwrap_err();
        assert!(twice.errors().unwrap().contains("cursor"));
        let page = params("cursor=abc%3D").page_only().unwrap();
        assert_eq!(page.cursor, Some(Cursor("abc=".into())));
    }

    #[test]
    fn searches() {
        let mut errors = ValidationErrors::new();
        assert_eq!(params("q=").search("q", &mut errors), None);
        assert_eq!(params("q=%20%20").search("q", &mut errors), None);
        assert_eq!(
            params("q=%201042%20")
                .search("q", &mut errors)
                .unwrap()
                .as_str(),
            "1042"
        );
        assert!(errors.is_empty());
        assert_eq!(params("q=a%00b").search("q", &mut errors), None);
        assert_eq!(params("email=a%1Bb").search("email", &mut errors), None);
        assert!(errors.contains("q") && errors.contains("email"));
    }

    #[test]
    fn statuses() {
        let mut errors = ValidationErrors::new();
        assert_eq!(
            params("status=paid").status(&mut errors),
            Some(OrderStatus::Paid)
        );
        assert_eq!(params("status=lost").status(&mut errors), None);
        assert!(errors.contains("status"));
    }
}
