//! A value the host reports through a callback, asked at every scrape
//! ([`super::Metrics::pools`], [`super::Metrics::write_batches`]).

use std::sync::{Arc, PoisonError, RwLock};

type Read<T> = Box<dyn Fn() -> T + Send + Sync>;

/// The host's callback, once it gave one; a new one replaces the last, so
/// its collector, registered once, never writes a family twice.
pub(super) struct Callback<T>(Arc<RwLock<Option<Read<T>>>>);

impl<T> Clone for Callback<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Default for Callback<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T> std::fmt::Debug for Callback<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback").finish_non_exhaustive()
    }
}

impl<T> Callback<T> {
    pub(super) fn set(&self, read: impl Fn() -> T + Send + Sync + 'static) {
        let mut slot = self.0.write().unwrap_or_else(PoisonError::into_inner);
        *slot = Some(Box::new(read));
    }

    /// What the callback answers now, or `None` without one.
    pub(super) fn read(&self) -> Option<T> {
        let slot = self.0.read().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().map(|read| read())
    }
}
