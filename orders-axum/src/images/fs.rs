//! [`FsImages`]: the image port on a directory, one file per copy.

use std::path::PathBuf;

use async_trait::async_trait;
use orders_core::catalogue::BlobKey;
use orders_core::ports::{ImageStore, ImageStoreError};

/// Image copies as files in one directory, named by their [`BlobKey`]
/// (which only the core makes: 32 hex digits, a width and an extension,
/// never a path). A copy is written to a temporary file and renamed into
/// place, so a reader never sees half of one; the directory is created on
/// the first write.
#[derive(Debug, Clone)]
pub struct FsImages {
    dir: PathBuf,
}

impl FsImages {
    /// A store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        self.dir.join(key.as_str())
    }
}

fn failed(what: &str, error: std::io::Error) -> ImageStoreError {
    ImageStoreError(format!("{what}: {error}"))
}

#[async_trait]
impl ImageStore for FsImages {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>) -> Result<(), ImageStoreError> {
        let path = self.path(key);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(());
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| failed("cannot create the image directory", e))?;
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(|e| ImageStoreError(e.to_string()))?;
        let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let temporary = self.dir.join(format!(".{}.{suffix}.tmp", key.as_str()));
        tokio::fs::write(&temporary, &bytes)
            .await
            .map_err(|e| failed("cannot write an image", e))?;
        if let Err(e) = tokio::fs::rename(&temporary, &path).await {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(failed("cannot publish an image", e));
        }
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, ImageStoreError> {
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(failed("cannot read an image", e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), ImageStoreError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed("cannot delete an image", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use orders_core::catalogue::{ImageFormat, ImageKey};

    use super::*;

    #[tokio::test]
    async fn put_get_delete_in_a_directory() {
        let dir = std::env::temp_dir().join(format!("orders-fs-images-{}", std::process::id()));
        let store = FsImages::new(dir.join("nested"));
        let key = BlobKey::new(&ImageKey::of_upload(b"z"), 320, ImageFormat::Jpeg);
        assert_eq!(store.get(&key).await, Ok(None));
        store.put(&key, b"first".to_vec()).await.unwrap();
        store.put(&key, b"second".to_vec()).await.unwrap();
        assert_eq!(store.get(&key).await, Ok(Some(b"first".to_vec())));
        let leftovers = std::fs::read_dir(store.dir()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        store.delete(&key).await.unwrap();
        store.delete(&key).await.unwrap();
        assert_eq!(store.get(&key).await, Ok(None));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
