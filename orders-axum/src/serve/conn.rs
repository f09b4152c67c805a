//! One connection: what it is waiting for, the socket that records when
//! bytes arrive, the service that counts requests in flight, and the task
//! that closes it when a deadline passes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, watch};
use tokio::time::Instant;

/// The three connection deadlines (see [`super::ServeOptions`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// From the accept to the first byte.
    pub(crate) first_byte: Duration,
    /// From a head's first byte to its end.
    pub(crate) header: Duration,
    /// From the end of a response to the next request's first byte.
    pub(crate) idle: Duration,
}

/// What the server asks of its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Serving.
    Running,
    /// Shutting down: finish what is in flight, take no new request.
    Drain,
    /// The shutdown deadline passed: close now.
    Abort,
}

/// What an open connection with no request in flight waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// The first byte of a new connection.
    FirstByte,
    /// The rest of a request head whose first bytes arrived.
    Head,
    /// The next request of a kept-alive connection.
    NextRequest,
}

#[derive(Debug)]
struct Activity {
    /// Requests whose response is not finished (body included).
    in_flight: usize,
    /// When the connection was accepted or its last response finished.
    idle_since: Instant,
    /// Whether a response was finished (the idle, not the first-byte,
    /// deadline applies).
    served: bool,
    /// When bytes of the next head began to arrive.
    head_since: Option<Instant>,
}

/// The activity of one connection, shared by its socket, its service and
/// its supervisor.
#[derive(Debug)]
pub(crate) struct ConnState {
    activity: Mutex<Activity>,
    changed: Notify,
}

impl ConnState {
    /// A connection accepted now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            activity: Mutex::new(Activity {
                in_flight: 0,
                idle_since: Instant::now(),
                served: false,
                head_since: None,
            }),
            changed: Notify::new(),
        })
    }

    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: with no request in flight, a head has begun.
    fn bytes_arrived(&self) {
        let mut activity = self.activity();
        if activity.in_flight == 0 && activity.head_since.is_none() {
            activity.head_since = Some(Instant::now());
            drop(activity);
            self.changed.notify_one();
        }
    }

    /// A request's head is complete and its handler called; the returned
    /// guard ends it when dropped.
    fn request_started(self: &Arc<Self>) -> InFlight {
        let mut activity = self.activity();
        activity.in_flight += 1;
        activity.head_since = None;
        drop(activity);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// What the connection waits for and until when; `None` while a
    /// request is in flight (the application's request timeout covers it).
    pub(crate) fn deadline(&self, timeouts: &Timeouts) -> Option<(Waiting, Instant)> {
        let activity = self.activity();
        if activity.in_flight > 0 {
            return None;
        }
        Some(match activity.head_since {
            Some(since) => (Waiting::Head, since + timeouts.header),
            None if activity.served => (Waiting::NextRequest, activity.idle_since + timeouts.idle),
            None => (
                Waiting::FirstByte,
                activity.idle_since + timeouts.first_byte,
            ),
        })
    }
}

/// A request in flight; dropped when its response body is finished (or
/// the request abandoned).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut activity = self.0.activity();
        activity.in_flight -= 1;
        if activity.in_flight == 0 {
            activity.idle_since = Instant::now();
            activity.served = true;
        }
        drop(activity);
        self.0.changed.notify_one();
    }
}

/// A socket that tells its [`ConnState`] when bytes arrive, and holds the
/// connection's permit for as long as it is open, an upgraded websocket's
/// life included.
#[derive(Debug)]
pub(crate) struct Tracked<T> {
    io: T,
    state: Arc<ConnState>,
    _permit: OwnedSemaphorePermit,
}

impl<T> Tracked<T> {
    pub(crate) fn new(io: T, state: Arc<ConnState>, permit: OwnedSemaphorePermit) -> Self {
        Self {
            io,
            state,
            _permit: permit,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.bytes_arrived();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The application as hyper calls it: adds `ConnectInfo<SocketAddr>` (the
/// login rate limit reads the peer from it) and counts the request in
/// flight until its response body is finished.
#[derive(Clone)]
pub(crate) struct Served {
    app: Router,
    peer: SocketAddr,
    state: Arc<ConnState>,
}

impl Served {
    pub(crate) fn new(app: Router, peer: SocketAddr, state: Arc<ConnState>) -> Self {
        Self { app, peer, state }
    }
}

impl hyper::service::Service<Request<Incoming>> for Served {
    type Response = Response<Counted>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let guard = self.state.request_started();
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let mut app = self.app.clone();
        Box::pin(async move {
            // A `Router` is always ready.
            let response = tower::Service::call(&mut app, request.map(Body::new)).await?;
            Ok(response.map(|body| Counted {
                body,
                _in_flight: guard,
            }))
        })
    }
}

/// A response body that keeps its request counted in flight until hyper
/// has written (and dropped) it.
pub(crate) struct Counted {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Serves one connection on `io` (HTTP/1.1, upgrades allowed) until it
/// ends, a deadline passes, or `phase` says so.
pub(crate) async fn run<T>(
    builder: http1::Builder,
    io: Tracked<T>,
    service: Served,
    timeouts: Timeouts,
    mut phase: watch::Receiver<Phase>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = io.state.clone();
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        if draining && matches!(state.deadline(&timeouts), Some((w, _)) if w != Waiting::Head) {
            // Nothing in flight, no head begun: nothing to finish.
            return;
        }
        let deadline = state.deadline(&timeouts);
        let expired = async {
            match deadline {
                Some((_, at)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended");
                }
                return;
            }
            () = state.changed.notified() => {}
            () = expired => {
                if let Some((waiting, at)) = state.deadline(&timeouts)
                    && at <= Instant::now()
                {
                    tracing::debug!(?waiting, "connection deadline passed: closing it");
                    return;
                }
            }
            changed = phase.changed() => {
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Abort };
                match now {
                    Phase::Running => {}
                    Phase::Drain => {
                        if !draining {
                            draining = true;
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                    Phase::Abort => return,
                }
            }
        }
    }
}
