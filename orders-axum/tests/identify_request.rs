//! A host that does not use bearer tokens (here: an API key header)
//! identifies callers from the request's parts.

use std::sync::Arc;

use axum::Router;
use axum::http::request::Parts;
use orders_axum::{Api, Caller, Identify, IdentifyError};
use orders_core::Orders;
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;

struct ApiKeys;

#[orders_axum::async_trait]
impl Identify for ApiKeys {
    async fn identify(&self, _token: &str) -> Result<Option<Caller>, IdentifyError> {
        Ok(None)
    }

    async fn identify_request(
        &self,
        parts: &Parts,
        _token: Option<&str>,
    ) -> Result<Option<Caller>, IdentifyError> {
        let key = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok());
        Ok(match key {
            Some("key-of-ada") => Some(Caller {
                id: CustomerId::parse("ada").unwrap(),
                email: "ada@example.com".into(),
                is_staff: false,
            }),
            Some("key-of-staff") => Some(Caller {
                id: CustomerId::parse("staff").unwrap(),
                email: "staff@example.com".into(),
                is_staff: true,
            }),
            Some("key-of-a-down-store") => return Err(IdentifyError::Unavailable),
            _ => None,
        })
    }
}

#[tokio::test]
async fn an_api_key_host_identifies_callers_from_the_request() {
    let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
    let app: Router = Api::new(orders, ApiKeys).nest_into(Router::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    let status = |path: &'static str, key: Option<&'static str>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };

    assert_eq!(status("/api/orders", Some("key-of-ada")).await, 200);
    assert_eq!(status("/api/orders", None).await, 401);
    assert_eq!(status("/api/orders", Some("a wrong key")).await, 401);
    assert_eq!(
        status("/api/orders", Some("key-of-a-down-store")).await,
        503
    );
    assert_eq!(status("/api/admin/orders", Some("key-of-ada")).await, 403);
    assert_eq!(status("/api/admin/orders", Some("key-of-staff")).await, 200);
    // A bearer token this host does not use identifies nobody.
    let bearer = client
        .get(format!("{base}/api/orders"))
        .bearer_auth("key-of-ada")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401);
}

/// A host whose bearer token is `t`: staff.
#[cfg(feature = "web")]
struct OneToken;

#[cfg(feature = "web")]
#[orders_axum::async_trait]
impl Identify for OneToken {
    async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
        Ok((token == "t").then(|| Caller {
            id: CustomerId::parse("staff").unwrap(),
            email: "staff@example.com".into(),
            is_staff: true,
        }))
    }
}

/// The status of a websocket upgrade to the admin stream that presents
/// only the cookie `orders_session=t`, from a page of the same origin.
#[cfg(feature = "web")]
async fn stream_with_cookie(configure: impl FnOnce(Api) -> Api) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let orders = Orders::builder(Arc::new(MemoryStore::new())).demo().build();
    let app: Router = configure(Api::new(orders, OneToken)).nest_into(Router::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut request = format!("ws://{addr}/api/admin/stream")
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("cookie", "orders_session=t".parse().unwrap());
    headers.insert("origin", format!("http://{addr}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other}"),
    }
}

#[cfg(feature = "web")]
#[tokio::test]
async fn the_pages_session_cookie_opens_a_websocket_unless_the_host_says_none() {
    assert_eq!(
        stream_with_cookie(|api| api).await,
        101,
        "the default cookie"
    );
    assert_eq!(
        stream_with_cookie(|api| api.socket_session_cookie(None)).await,
        401,
        "no cookie accepted"
    );
    assert_eq!(
        stream_with_cookie(|api| api.socket_session_cookie(Some("host_sid"))).await,
        401,
        "another cookie's name"
    );
}
