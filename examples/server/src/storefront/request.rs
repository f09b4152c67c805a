//! What every page needs from a request: who is calling, a CSRF token for
//! its forms, and, for a POST, its fields with the token checked first.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orders_axum::web::{CSRF_FIELD, session};
use orders_axum::{Caller, IdentifyError};
use orders_core::ids::CartId;

use super::templates::{Layout, Message};
use super::{CART_COOKIE, Storefront};

/// A page request: the caller (if signed in) and a CSRF token for the
/// page's forms, with the cookie that binds it when the browser has none.
pub(super) struct Visit {
    /// The signed-in caller.
    pub caller: Option<Caller>,
    /// The session token of the cookie, when it identified someone.
    pub token: Option<String>,
    /// The token for this page's forms.
    pub csrf: String,
    csrf_cookie: Option<HeaderValue>,
    /// Whether cookies get `Secure`.
    pub secure: bool,
    /// The cart id of the cart cookie.
    pub cart_id: Option<CartId>,
    /// A guest cart's token, from the cart cookie (see [`super::guests`]).
    pub cart_token: Option<String>,
    /// The guest whose cart the cart cookie opens, when nobody is signed in.
    pub guest: Option<Caller>,
    /// The path and query asked for (for `?next=`).
    pub path: String,
}

impl Visit {
    async fn from_headers(
        state: &Storefront,
        headers: &HeaderMap,
        path: String,
    ) -> Result<Self, Response> {
        let secure = session::is_tls(headers);
        let (csrf, csrf_cookie) = state.inner.csrf.issue(headers, secure);
        let (caller, token) = match session::token(headers) {
            Some(token) => match state.inner.identify.identify(token).await {
                Ok(Some(caller)) => (Some(caller), Some(token.to_owned())),
                Ok(None) => (None, None),
                Err(error) => return Err(unavailable(&error)),
            },
            None => (None, None),
        };
        let (cart_id, cart_token) = super::guests::read_cart_cookie(headers);
        let guest = match (&caller, &cart_id, &cart_token) {
            (None, Some(id), Some(cart_token)) => super::guests::guest(state, id, cart_token)
                .await
                .map_err(|error| unavailable_store(&error))?,
            _ => None,
        };
        Ok(Self {
            caller,
            token,
            csrf,
            csrf_cookie,
            secure,
            cart_id,
            cart_token,
            guest,
            path,
        })
    }

    /// The layout of a page titled `title`.
    pub(super) fn layout(&self, title: impl Into<String>) -> Layout {
        Layout::new(title.into(), self)
    }

    /// The caller, or the redirect to the sign-in page that comes back here.
    pub(super) fn require(&self) -> Result<&Caller, Response> {
        self.caller
            .as_ref()
            .ok_or_else(|| to_login(&self.path).into_response())
    }

    /// Who shops on this visit: the signed-in caller, or else the guest of
    /// the cart cookie; `None` for a visitor with neither.
    pub(super) fn shopper(&self) -> Option<&Caller> {
        self.caller.as_ref().or(self.guest.as_ref())
    }

    /// `template` as the answer, with `status` and the CSRF cookie when the
    /// page issued one.
    pub(super) fn render(&self, status: StatusCode, template: &impl Template) -> Response {
        let mut response = html(status, template);
        if let Some(cookie) = &self.csrf_cookie {
            response
                .headers_mut()
                .append(header::SET_COOKIE, cookie.clone());
        }
        response
    }

    /// A short page saying `message`, with `status`.
    pub(super) fn message(&self, status: StatusCode, title: &str, message: &str) -> Response {
        let page = Message {
            layout: self.layout(title),
            heading: title.to_owned(),
            message: message.to_owned(),
        };
        self.render(status, &page)
    }

    /// The 404 page.
    pub(super) fn not_found(&self) -> Response {
        self.message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing here. It may have moved, or it may not be yours.",
        )
    }

    /// The page for a core error the page has no better place for.
    pub(super) fn error(&self, error: &orders_core::Error) -> Response {
        use orders_core::Error as E;
        match error {
            E::NotFound(_) => self.not_found(),
            E::Unavailable => self.message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The shop cannot reach its database. Please try again in a moment.",
            ),
            E::Storage(message) => {
                tracing::error!(%message, "storefront: storage error");
                self.message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The shop could not do that. Please try again.",
                )
            }
            other => {
                let status = orders_axum::ApiError::from(other.clone()).status();
                self.message(status, "That did not work", &other.to_string())
            }
        }
    }
}

impl FromRequestParts<Storefront> for Visit {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Storefront,
    ) -> Result<Self, Self::Rejection> {
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        Visit::from_headers(state, &parts.headers, path).await
    }
}

/// A form POST whose CSRF token was verified before anything else: a
/// request without a valid token is answered 403 and reaches no handler.
pub(super) struct Post {
    /// The page context, as for a GET.
    pub visit: Visit,
    /// The submitted fields, in order.
    pub fields: Vec<(String, String)>,
}

impl Post {
    /// The first value of `name`, if any.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl FromRequest<Storefront> for Post {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Storefront) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let headers = parts.headers.clone();
        let path = parts.uri.path().to_owned();
        let bytes = match Bytes::from_request(Request::from_parts(parts, body), state).await {
            Ok(bytes) => bytes,
            Err(rejection) => {
                return Err(
                    plain(rejection.status(), "The form could not be read.").into_response()
                );
            }
        };
        let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        let submitted = fields
            .iter()
            .find(|(key, _)| key == CSRF_FIELD)
            .map(|(_, value)| value.as_str())
            .unwrap_or_default();
        if !state.inner.csrf.verify(&headers, submitted) {
            return Err(forbidden(state, &headers, path).await);
        }
        let visit = Visit::from_headers(state, &headers, path).await?;
        Ok(Self { visit, fields })
    }
}

/// The 403 answer to a form without a valid CSRF token: a short page with
/// a fresh token cookie, so reloading the form makes it work.
async fn forbidden(state: &Storefront, headers: &HeaderMap, path: String) -> Response {
    let secure = session::is_tls(headers);
    let (csrf, csrf_cookie) = state.inner.csrf.issue(headers, secure);
    let visit = Visit {
        caller: None,
        token: None,
        csrf,
        csrf_cookie,
        secure,
        cart_id: None,
        cart_token: None,
        guest: None,
        path,
    };
    visit.message(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form could not be accepted (its security token is missing or stale). \
         Go back, reload the page and try again.",
    )
}

/// `template` rendered as an HTML response.
pub(super) fn html(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "storefront: template failed");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be drawn.",
            )
            .into_response()
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> impl IntoResponse {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
}

fn unavailable_store(error: &orders_core::Error) -> Response {
    tracing::warn!(%error, "storefront: cannot read the guest's cart");
    unavailable(&IdentifyError::Unavailable)
}

fn unavailable(error: &IdentifyError) -> Response {
    tracing::warn!(%error, "storefront: cannot identify the caller");
    let mut response = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "The shop is temporarily unavailable. Please try again in a moment.",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// A 303 to `location` (Post/Redirect/Get).
pub(super) fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The redirect to the sign-in page, coming back to `path` afterwards.
pub(super) fn to_login(path: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
    see_other(&format!("/login?next={next}"))
}

/// `next` if it is a path on this site, else `/`: only a relative path
/// that starts with one `/` is honoured, so `?next=` cannot send a
/// signed-in customer to another site (`//evil.example`, `/\evil.example`,
/// `https://…`).
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Adds a `Set-Cookie` to `response`.
pub(super) fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// The cart cookie holding `cart`, or deleting it when `None`.
pub(super) fn cart_cookie(cart: Option<&CartId>, secure: bool) -> HeaderValue {
    match cart {
        Some(id) => session::set_cookie(
            CART_COOKIE,
            id.as_str(),
            Some(session::SESSION_MAX_AGE_SECS),
            secure,
        ),
        None => session::set_cookie(CART_COOKIE, "", Some(0), secure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_paths_stay_on_this_site() {
        assert_eq!(safe_next(Some("/checkout")), "/checkout");
        assert_eq!(safe_next(Some("/orders/1?x=2")), "/orders/1?x=2");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "",
            "/a\r\nSet-Cookie: x",
            "/\\/x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
