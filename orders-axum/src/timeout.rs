//! A deadline on every request of the API ([`crate::Api::request_timeout`]).
//!
//! A client that sends its body one byte a second, or a handler stuck on
//! something that never answers, would otherwise hold its connection, its
//! task and whatever it had claimed for as long as the client likes. Past
//! the deadline the request's future is dropped (which rolls back an open
//! transaction) and the client gets a 408 problem+json with
//! `Connection: close`, so the rest of a slow body is never read. A
//! websocket's deadline ends with its upgrade: the socket itself has its
//! own send timeout and pings.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// The deadline unless the host sets one.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the request under `limit`; 408 `request_timeout` past it.
pub(crate) async fn limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "Request timed out",
            )
            .with_detail(format!(
                "the request was not complete within {} ms",
                limit.as_millis()
            ))
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::Service as _;

    use super::*;

    fn app(limit: Duration) -> Router {
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "late"
                }),
            )
            .route("/fast", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(limit, super::limit))
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_past_its_deadline_is_answered_408_and_the_connection_closed() {
        let response = app(Duration::from_secs(2))
            .call(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_within_its_deadline_is_untouched() {
        let response = app(Duration::from_secs(2))
            .call(Request::get("/fast").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key(header::CONNECTION));
    }
}
