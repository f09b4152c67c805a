//! [`MemoryImages`]: the image port in a map, for tests and embedders
//! that keep no files.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use crate::catalogue::BlobKey;
use crate::ports::{ImageStore, ImageStoreError};

/// Image copies in memory, lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryImages {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryImages {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many blobs it holds.
    pub fn len(&self) -> usize {
        self.blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl ImageStore for MemoryImages {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>) -> Result<(), ImageStoreError> {
        let mut blobs = self.blobs.lock().unwrap_or_else(PoisonError::into_inner);
        blobs.entry(key.as_str().to_owned()).or_insert(bytes);
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, ImageStoreError> {
        let blobs = self.blobs.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(blobs.get(key.as_str()).cloned())
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), ImageStoreError> {
        let mut blobs = self.blobs.lock().unwrap_or_else(PoisonError::into_inner);
        blobs.remove(key.as_str());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{ImageFormat, ImageKey};

    #[test]
    fn put_get_delete() {
        futures_executor::block_on(async {
            let store = MemoryImages::new();
            let key = BlobKey::new(&ImageKey::of_upload(b"a"), 320, ImageFormat::Png);
            assert_eq!(store.get(&key).await, Ok(None));
            store.put(&key, vec![1, 2]).await.unwrap();
            store.put(&key, vec![3]).await.unwrap();
            assert_eq!(store.get(&key).await, Ok(Some(vec![1, 2])));
            store.delete(&key).await.unwrap();
            store.delete(&key).await.unwrap();
            assert!(store.is_empty());
        });
    }
}
