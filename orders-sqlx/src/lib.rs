//! SQLite and PostgreSQL stores for `orders-core` (not yet implemented; see the orders-sqlx issue).
#![forbid(unsafe_code)]
