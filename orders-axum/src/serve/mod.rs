//! Serving a router on a TCP listener, hardened (feature `serve`).
//!
//! `axum::serve` gives connections no deadline: a client that connects and
//! sends nothing, sends its request head a byte at a time, or keeps a
//! connection open between requests holds a socket and a task for as long
//! as it likes, and enough of them exhaust the process's file descriptors.
//! [`serve`] is the same job with these limits:
//!
//! - **First byte**: a new connection that sends nothing within
//!   [`ServeOptions::first_byte_timeout`] (default 10 s) is closed.
//! - **Request head**: once a request's first byte arrived, its whole head
//!   (request line and headers) must arrive within
//!   [`ServeOptions::header_timeout`] (default 10 s).
//! - **Idle**: a kept-alive connection with no request for
//!   [`ServeOptions::idle_timeout`] (default 60 s) after its last response
//!   is closed.
//! - **Connections**: at most [`ServeOptions::max_connections`] sockets are
//!   open at once, upgraded websockets included. Beyond it a new connection
//!   is accepted and closed at once, so the kernel's backlog never fills
//!   and the process never runs out of descriptors; the default comes from
//!   the process's descriptor limit ([`default_max_connections`]). Accept
//!   errors (out of descriptors, say) back off instead of spinning, and are
//!   logged at most once a second, as are refused connections.
//! - **Shutdown**: when the `shutdown` future resolves, the listener is
//!   closed, the API's websockets are told to close with 1001
//!   ([`ServeOptions::shutdown_handle`]), idle connections are closed and
//!   busy ones finish their request; after
//!   [`ServeOptions::shutdown_timeout`] (default 10 s) `serve` returns
//!   whatever the clients do, dropping the connections it still serves.
//!
//! A request in flight (its head complete, its response not finished) is
//! not under these deadlines: the API's request timeout
//! ([`crate::Api::request_timeout`]) covers it.
//!
//! Only HTTP/1.1 is served (with upgrades, for websockets). HTTP/2 is left
//! to a reverse proxy in front: a client that opens with the HTTP/2
//! preface gets its connection closed. Every request carries the peer's
//! address as [`axum::extract::ConnectInfo<SocketAddr>`], as
//! `into_make_service_with_connect_info` would give it.
//!
//! ```no_run
//! use axum::Router;
//! use orders_axum::serve::{ServeOptions, serve};
//! # async fn run(api: orders_axum::Api) -> std::io::Result<()> {
//! let websockets = api.shutdown_handle();
//! let app = Router::new().nest("/api", api.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let options = ServeOptions::default()
//!     .idle_timeout(std::time::Duration::from_secs(30))
//!     .shutdown_handle(websockets);
//! let stopped = serve(listener, app, options, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await;
//! println!("{} connections cut at the shutdown deadline", stopped.dropped);
//! # Ok(())
//! # }
//! ```
//!
//! A host's `main` should not wait for tasks once `serve` has returned
//! (`Runtime::shutdown_timeout`, or return from `#[tokio::main]`): an
//! upgraded socket belongs to its handler's task, which `serve` does not
//! own.

mod conn;
mod limits;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::ShutdownHandle;
use conn::{ConnState, Phase, Served, Timeouts, Tracked};
pub use limits::{default_max_connections, open_files_limit};

/// The limits of [`serve`]; see the module documentation.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    first_byte_timeout: Duration,
    header_timeout: Duration,
    idle_timeout: Duration,
    max_connections: Option<usize>,
    shutdown_timeout: Duration,
    shutdown_handle: Option<ShutdownHandle>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            first_byte_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: None,
            shutdown_timeout: Duration::from_secs(10),
            shutdown_handle: None,
        }
    }
}

impl ServeOptions {
    /// How long a new connection may stay silent (default 10 s).
    #[must_use]
    pub fn first_byte_timeout(mut self, limit: Duration) -> Self {
        self.first_byte_timeout = limit;
        self
    }

    /// How long a request head may take from its first byte to its end
    /// (default 10 s).
    #[must_use]
    pub fn header_timeout(mut self, limit: Duration) -> Self {
        self.header_timeout = limit;
        self
    }

    /// How long a kept-alive connection may wait for its next request
    /// after a response (default 60 s).
    #[must_use]
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.idle_timeout = limit;
        self
    }

    /// The most sockets open at once, upgraded ones included (at least 1).
    /// Default: [`default_max_connections`].
    #[must_use]
    pub fn max_connections(mut self, bound: usize) -> Self {
        self.max_connections = Some(bound);
        self
    }

    /// How long a shutdown may take before `serve` returns anyway
    /// (default 10 s).
    #[must_use]
    pub fn shutdown_timeout(mut self, limit: Duration) -> Self {
        self.shutdown_timeout = limit;
        self
    }

    /// The API's websocket handle ([`crate::Api::shutdown_handle`]): its
    /// sockets are closed with 1001 as soon as the shutdown starts.
    #[must_use]
    pub fn shutdown_handle(mut self, handle: ShutdownHandle) -> Self {
        self.shutdown_handle = Some(handle);
        self
    }

    /// The connection bound in effect: the one set, or the default.
    pub fn connection_bound(&self) -> usize {
        self.max_connections
            .unwrap_or_else(default_max_connections)
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize))
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            first_byte: self.first_byte_timeout,
            header: self.header_timeout,
            idle: self.idle_timeout,
        }
    }
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stopped {
    /// Sockets still open at the shutdown deadline (0: everything finished
    /// in time). The ones `serve` drives were dropped; upgraded ones are
    /// left to their handlers' tasks.
    pub dropped: usize,
}

/// Logs a repeated event at most once a second, counting the rest.
struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    const fn new() -> Self {
        Self {
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(events suppressed since the last log)` when it is time to log.
    fn hit(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < Duration::from_secs(1) => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Errors of one connection that `accept` reports: the next accept may
/// well succeed, so no back-off.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Serves `app` on `listener` with the limits of `options` until
/// `shutdown` resolves, then shuts down within
/// [`ServeOptions::shutdown_timeout`]. See the module documentation.
///
/// Dropping the returned future drops the connections it serves too.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Stopped {
    let bound = options.connection_bound();
    let timeouts = options.timeouts();
    let permits = Arc::new(Semaphore::new(bound));
    let (phase, _) = watch::channel(Phase::Running);
    let mut builder = http1::Builder::new();
    // The deadlines are ours: hyper's own header timer would also cut idle
    // kept-alive connections at the head deadline.
    builder.header_read_timeout(None);
    let mut refused = Throttle::new();
    let mut failed = Throttle::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    tracing::debug!(max_connections = bound, ?timeouts, "accepting connections");
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                // Out of descriptors, say: wait for some to be released
                // rather than spin on the ready listener.
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                if let Some(suppressed) = failed.hit() {
                    tracing::warn!(%error, suppressed, retry_in = ?backoff, "cannot accept connections");
                }
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => continue,
                }
            }
        };
        backoff = Duration::ZERO;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(stream);
            if let Some(suppressed) = refused.hit() {
                tracing::warn!(
                    max_connections = bound,
                    suppressed,
                    "connection limit reached: closing new connections"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = ConnState::new();
        let io = Tracked::new(stream, state.clone(), permit);
        let service = Served::new(app.clone(), peer, state);
        tokio::spawn(conn::run(
            builder.clone(),
            io,
            service,
            timeouts,
            phase.subscribe(),
        ));
    }
    drop(listener);
    let deadline = Instant::now() + options.shutdown_timeout;
    if let Some(handle) = &options.shutdown_handle {
        handle.shutdown();
    }
    phase.send_replace(Phase::Drain);
    let open = bound - permits.available_permits();
    tracing::info!(open, "shutting down: finishing the requests in flight");
    // Every permit back: every socket closed, upgraded ones included.
    let all = u32::try_from(bound).unwrap_or(u32::MAX);
    if tokio::time::timeout_at(deadline, permits.acquire_many(all))
        .await
        .is_ok()
    {
        return Stopped { dropped: 0 };
    }
    let dropped = bound - permits.available_permits();
    tracing::warn!(
        dropped,
        "shutdown deadline passed: closing the connections still open"
    );
    phase.send_replace(Phase::Abort);
    // The connection tasks close their sockets at their next poll.
    let _ = tokio::time::timeout(Duration::from_millis(200), phase.closed()).await;
    Stopped { dropped }
}
