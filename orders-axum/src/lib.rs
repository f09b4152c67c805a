//! The HTTP API, websockets and admin panel for `orders-core` (not yet implemented; see the orders-axum issue).
#![forbid(unsafe_code)]
