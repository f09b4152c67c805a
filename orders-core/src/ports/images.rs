//! The image port: a blob store for the resized copies of product images.

use async_trait::async_trait;

use crate::catalogue::BlobKey;

/// Why an image store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image storage failed: {0}")]
pub struct ImageStoreError(pub String);

/// Where the copies of product images live, by [`BlobKey`].
///
/// Keys are made by the core ([`BlobKey::new`]) and name the same bytes
/// forever, so an implementation never has to handle a key from a user and
/// may treat a second `put` of a key as a no-op.
#[async_trait]
pub trait ImageStore: Send + Sync {
    /// Stores `bytes` under `key`.
    ///
    /// - MUST make the blob readable by [`ImageStore::get`] once it returns
    ///   `Ok`, and MUST never let `get` see a partly written blob (write,
    ///   then publish).
    /// - MUST succeed, keeping the stored bytes, if `key` is already stored.
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>) -> Result<(), ImageStoreError>;

    /// The bytes stored under `key`, or `None` if there are none.
    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, ImageStoreError>;

    /// Removes `key`'s bytes. MUST succeed when there are none.
    async fn delete(&self, key: &BlobKey) -> Result<(), ImageStoreError>;
}
