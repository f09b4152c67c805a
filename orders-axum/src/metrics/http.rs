//! Requests by method, route template and status, with their latency.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{Method, Request, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tower::{Layer, Service};

use super::Metrics;

/// The `route` of a request that matched no route.
pub(crate) const UNMATCHED: &str = "unmatched";

/// Upper bounds of the latency buckets, in seconds: 1 ms to 10 s.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Cow<'static, str>,
    status: u16,
}

/// The request families.
pub(super) struct HttpFamilies {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram>,
}

impl HttpFamilies {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<RequestLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(BUCKETS)) as fn() -> Histogram,
        );
        registry.register(
            "http_requests",
            "Requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request to its response's head, by method, route template and status",
            Unit::Seconds,
            duration.clone(),
        );
        Self { requests, duration }
    }
}

/// Set on a response once a layer recorded it, so an outer layer does not
/// count it again.
#[derive(Clone, Copy, Debug)]
struct Recorded;

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Records the requests of the routes it wraps ([`Metrics::layer`]).
#[derive(Clone, Debug)]
pub struct HttpMetricsLayer {
    metrics: Metrics,
}

impl HttpMetricsLayer {
    pub(super) fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service of [`HttpMetricsLayer`].
#[derive(Clone, Debug)]
pub struct HttpMetricsService<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B, R> Service<Request<B>> for HttpMetricsService<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        let route = match request.extensions().get::<MatchedPath>() {
            Some(path) => Cow::Owned(path.as_str().to_owned()),
            None => Cow::Borrowed(UNMATCHED),
        };
        // The clone that was made ready serves this call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            if response.extensions().get::<Recorded>().is_none() {
                response.extensions_mut().insert(Recorded);
                let labels = RequestLabels {
                    method,
                    route,
                    status: response.status().as_u16(),
                };
                let http = &metrics.0.http;
                http.requests.get_or_create(&labels).inc();
                http.duration
                    .get_or_create(&labels)
                    .observe(started.elapsed().as_secs_f64());
            }
            Ok(response)
        })
    }
}
