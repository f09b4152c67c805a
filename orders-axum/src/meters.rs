//! What the routes call to be measured: with feature `metrics` and
//! [`crate::Api::metrics`], the [`crate::metrics::Metrics`] of the API;
//! otherwise nothing, at no cost.

use axum::Router;
use axum::routing::MethodRouter;

/// Which feed a websocket follows.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Feed {
    /// One order's changes (`/orders/{id}/track`).
    Track,
    /// Every order's changes (`/admin/stream`).
    AdminStream,
}

/// The API's metrics, if it has any.
#[derive(Clone, Debug, Default)]
pub(crate) struct Meters {
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<crate::metrics::Metrics>,
}

/// A socket counted as open until this is dropped.
#[derive(Debug)]
pub(crate) struct SocketOpen {
    #[cfg(feature = "metrics")]
    _open: Option<crate::metrics::OpenSocket>,
}

impl Meters {
    /// Counts a socket of `feed` open for the life of the returned value.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn socket_opened(&self, feed: Feed) -> SocketOpen {
        SocketOpen {
            #[cfg(feature = "metrics")]
            _open: self.metrics.as_ref().map(|m| m.socket_opened(feed)),
        }
    }

    /// The checkout route, counting its outcomes.
    pub(crate) fn checkout_route<S: Clone + Send + Sync + 'static>(
        &self,
        route: MethodRouter<S>,
    ) -> MethodRouter<S> {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            return route.layer(axum::middleware::from_fn_with_state(
                metrics.clone(),
                crate::metrics::record_checkout,
            ));
        }
        route
    }

    /// `router`, recording its requests.
    pub(crate) fn requests(&self, router: Router) -> Router {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            return router.layer(metrics.layer());
        }
        router
    }
}
