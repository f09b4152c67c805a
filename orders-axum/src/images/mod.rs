//! Product images (feature `images`): uploads checked and resized
//! ([`prepare`]), a filesystem blob store ([`FsImages`]) and the router
//! that serves the copies ([`router`]), which a host nests at
//! [`ProductImage::URL_PREFIX`](orders_core::catalogue::ProductImage::URL_PREFIX)
//! (`/images`). The staff panel's product page takes the upload when the
//! panel has a store ([`Admin::images`](crate::admin::Admin::images)).
//!
//! Where each part lives, and why: the port
//! ([`ImageStore`](orders_core::ports::ImageStore)) and the names of the
//! copies are the core's, which does no I/O and has no runtime; the
//! filesystem store needs both (tokio's files), and decoding needs the
//! `image` crate, which a host without pictures should not compile. So
//! both sit here, behind a feature, beside the HTTP surface that uses
//! them, and the core keeps an in-memory store
//! ([`MemoryImages`](orders_core::memory::MemoryImages)) for tests.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use axum::Router;
//! use orders_axum::images::{self, FsImages};
//!
//! let store = Arc::new(FsImages::new("shop-images"));
//! let app: Router = Router::new().nest("/images", images::router(store));
//! ```

mod fs;
mod prepare;
mod serve;

pub use fs::FsImages;
pub use prepare::{MAX_PIXELS, MAX_SIDE, MAX_UPLOAD_BYTES, Prepared, UploadError, prepare};
pub use serve::router;
