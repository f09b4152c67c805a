//! Websocket feeds: one order's changes (`/orders/{id}/track`) and every
//! order's (`/admin/stream`).
//!
//! Everything that can refuse (credentials, ownership, `?after=`) is
//! checked before the upgrade, so refusals are ordinary problem+json
//! responses. After the upgrade, [`pump`] forwards the core's subscription
//! to the socket. It is generic over `Sink`/`Stream` so it is unit-tested
//! with channels.
//!
//! Back-pressure: the core's subscription is bounded per subscriber and
//! ends with [`SubscriptionError::Lagged`] when this client falls behind,
//! so a slow reader never holds up the publisher or other clients. The
//! socket is then closed (code 1013, "try again later"); the client
//! reconnects with `?after=` its last event id and loses nothing. A client
//! that stops reading altogether is dropped after [`SocketConfig::send_timeout`].
//!
//! Sessions: a socket keeps the token it was opened with. When the host
//! revokes it ([`crate::Revocations::revoked`], on logout) the socket closes
//! with 4001 at once; at every ping the token is also asked about again
//! through the host's `Identify`, so a token revoked on another instance
//! or expired closes its sockets within one ping interval, with 4001 too.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use orders_core::ids::{EventId, OrderId};
use orders_core::ports::{Subscription, SubscriptionError};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use super::orders::access;
use super::{AppState, path_id};
use crate::guests::TrackCaller;
use crate::identify::SocketCaller;
use crate::meters::Feed;
use crate::query::Params;
use crate::{ApiError, CLOSE_SESSION_ENDED, Identify};

/// Close code: the server is going away (shutdown).
pub(crate) const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: the client fell behind; reconnect with `?after=`.
pub(crate) const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
/// Close code: the feed failed on the server.
pub(crate) const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// The token a socket was opened with, and how to learn that it stopped
/// working.
pub(crate) struct SessionWatch {
    /// The token.
    pub(crate) token: String,
    /// The host's revocations of this process.
    pub(crate) revoked: broadcast::Receiver<Arc<str>>,
    /// Asked again at every ping.
    pub(crate) identify: Arc<dyn Identify>,
}

impl SessionWatch {
    /// Whether the host still knows the token. A store that cannot answer
    /// keeps the socket open: the outage is not the client's doing.
    async fn still_valid(&self) -> bool {
        // A caller the host identified from the request itself, with no
        // token (its own cookie, an API key), has nothing to ask again.
        self.token.is_empty() || !matches!(self.identify.identify(&self.token).await, Ok(None))
    }
}

/// Timing of every socket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketConfig {
    /// How often to ping.
    pub(crate) ping_interval: Duration,
    /// How long one frame may take to send before the client is dropped.
    pub(crate) send_timeout: Duration,
}

fn parse_after(params: &Params) -> Result<Option<EventId>, ApiError> {
    params
        .get("after")
        .map(|text| {
            text.parse::<EventId>()
                .map_err(|_| ApiError::field("after", "not an event id"))
        })
        .transpose()
}

fn upgrade_required(rejection: WebSocketUpgradeRejection) -> ApiError {
    ApiError::new(
        rejection.status(),
        "websocket_required",
        "Websocket required",
    )
    .with_detail("this route upgrades to a websocket")
}

/// Follows one order live.
#[utoipa::path(
    get, path = "/orders/{id}/track", tag = "orders", security(("bearer" = []), ("order_token" = [])),
    params(
        ("id" = String, Path, description = "Order id"),
        ("after" = Option<String>, Query, description = "Replay the events after this one first (for reconnects)"),
        ("access_token" = Option<String>, Query, description = "The bearer token, for browsers that cannot set headers"),
        ("order_token" = Option<String>, Query, description = "A guest order's token, for browsers that cannot set headers"),
    ),
    responses(
        (status = 101, description = "Upgraded. Text frames of `TrackMessage` JSON: a `snapshot` at once, then an `event` for every later change, in order; pings every 30 s. Closed with 1001 on shutdown, 1013 when the client falls behind (reconnect with `after`) and 4001 when its token is revoked (logout) or expires."),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not yours", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`after` is not an event of this order", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn track(
    State(state): State<AppState>,
    TrackCaller(caller, token): TrackCaller,
    Path(id): Path<String>,
    params: Params,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let id: OrderId = path_id(&id)?;
    let after = parse_after(&params)?;
    let (order, events) = state.orders.track(access(&caller), &id, after).await?;
    let upgrade = upgrade.map_err(upgrade_required)?;
    let snapshot = json!({"type": "snapshot", "order": order});
    let feed = (Feed::Track, Some(snapshot));
    Ok(start(upgrade, &state, token, feed, events))
}

/// Every order's events, for dashboards.
#[utoipa::path(
    get, path = "/admin/stream", tag = "admin", security(("bearer" = [])),
    params(
        ("after" = Option<String>, Query, description = "Replay the events after this one first (for reconnects)"),
        ("access_token" = Option<String>, Query, description = "The bearer token, for browsers that cannot set headers"),
    ),
    responses(
        (status = 101, description = "Upgraded. Text frames of `TrackMessage` JSON, `event` only, for every order's changes; pings every 30 s. Closed with 4001 when its token is revoked (logout) or expires."),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `after`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn stream(
    State(state): State<AppState>,
    SocketCaller(caller, token): SocketCaller,
    params: Params,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !caller.is_staff {
        return Err(ApiError::forbidden());
    }
    let after = parse_after(&params)?;
    let events = state.orders.follow_all(after).await?;
    let upgrade = upgrade.map_err(upgrade_required)?;
    Ok(start(
        upgrade,
        &state,
        token,
        (Feed::AdminStream, None),
        events,
    ))
}

/// Read buffer per socket.
const SOCKET_READ_BUFFER: usize = 4 * 1024;
/// Most unsent bytes a socket may hold before writes fail and it closes.
const SOCKET_MAX_WRITE_BUFFER: usize = 1024 * 1024;
/// Largest frame or message a client may send.
const SOCKET_MAX_MESSAGE: usize = 64 * 1024;

fn start(
    upgrade: WebSocketUpgrade,
    state: &AppState,
    token: String,
    (feed, first): (Feed, Option<Value>),
    events: Subscription,
) -> Response {
    let config = state.socket_config();
    let meters = state.meters.clone();
    let shutdown = state.shutdown.subscribe();
    let session = SessionWatch {
        token,
        revoked: state.revocations.subscribe(),
        identify: state.identify.clone(),
    };
    // Tracking sockets mostly sit idle and clients send nothing but pongs
    // and close frames, so small buffers: tungstenite's defaults (128 KiB
    // read buffer, zero-filled on first read) cost ~130 KiB per socket,
    // over a gigabyte for 10,000 trackers. The write buffer is capped so a
    // client that stops reading holds a bounded amount of memory.
    upgrade
        .read_buffer_size(SOCKET_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(SOCKET_MAX_WRITE_BUFFER)
        .max_message_size(SOCKET_MAX_MESSAGE)
        .max_frame_size(SOCKET_MAX_MESSAGE)
        .on_upgrade(move |socket: WebSocket| async move {
            let _open = meters.socket_opened(feed);
            let (sink, incoming) = socket.split();
            pump(sink, incoming, first, events, shutdown, session, config).await;
        })
        .into_response()
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Why [`pump`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The client closed or went away.
    Client,
    /// The host shut down: closed with 1001.
    Shutdown,
    /// The client fell behind: closed with 1013.
    Lagged,
    /// The feed failed or ended: closed with 1011.
    Feed,
    /// A frame could not be sent (in time).
    Send,
    /// The socket's token was revoked or expired: closed with 4001.
    Revoked,
}

/// The text frame of `event`, serialised once however many sockets send
/// it: every tracker of an order (and every admin stream) receives the
/// same event at about the same moment, so one slot holding the last frame
/// turns 10,000 serialisations into one. Keyed by event id *and* order id,
/// so two engines in one process (whose event ids both start at 1) never
/// share a frame.
fn event_frame(event: &orders_core::order::OrderEvent) -> Utf8Bytes {
    type Slot = Option<(
        orders_core::ids::EventId,
        orders_core::ids::OrderId,
        Utf8Bytes,
    )>;
    static LAST: std::sync::Mutex<Slot> = std::sync::Mutex::new(None);
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((id, order, frame)) = last.as_ref()
        && *id == event.id
        && *order == event.order_id
    {
        return frame.clone();
    }
    let frame = Utf8Bytes::from(json!({"type": "event", "event": event}).to_string());
    *last = Some((event.id, event.order_id.clone(), frame.clone()));
    frame
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Forwards `first` and then every event of `events` to `sink` as JSON
/// text frames, pinging every `config.ping_interval`, until the client
/// leaves, the feed ends, `shutdown` turns `true`, or the token of
/// `session` is revoked (announced, or found unknown at a ping).
///
/// The client's frames (pongs, a close) are read by a task of their own,
/// which ends when the client leaves. A wake-up for an event then polls the
/// feed and not the socket's read side too: polling that is a tungstenite
/// read attempt (it zero-fills its read buffer first), once before and once
/// after each send, for every socket an event reaches.
pub(crate) async fn pump<W, R, E>(
    mut sink: W,
    incoming: R,
    first: Option<Value>,
    mut events: Subscription,
    mut shutdown: watch::Receiver<bool>,
    mut session: SessionWatch,
    config: SocketConfig,
) -> Ended
where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin + Send + 'static,
    E: Send + 'static,
{
    let (client_left, mut left) = tokio::sync::oneshot::channel::<()>();
    let _reader = AbortOnDrop(tokio::spawn(async move {
        let mut incoming = incoming;
        // Pongs are answered by the websocket layer; text is ignored.
        while let Some(Ok(message)) = incoming.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
        drop(client_left);
    }));
    let timeout = config.send_timeout;
    async fn send<W: Sink<Message> + Unpin>(
        sink: &mut W,
        message: Message,
        timeout: Duration,
    ) -> bool {
        // Almost every send completes on its first poll (the socket has
        // room); only one that has to wait arms a timer. For 10,000
        // trackers of one order that is 10,000 timer registrations saved
        // per event.
        let mut sending = std::pin::pin!(sink.send(message));
        let first =
            std::future::poll_fn(|cx| std::task::Poll::Ready(sending.as_mut().poll(cx))).await;
        match first {
            std::task::Poll::Ready(result) => result.is_ok(),
            std::task::Poll::Pending => {
                matches!(tokio::time::timeout(timeout, sending).await, Ok(Ok(())))
            }
        }
    }
    if let Some(first) = first
        && !send(&mut sink, Message::Text(first.to_string().into()), timeout).await
    {
        return Ended::Send;
    }
    let shutting_down = async move {
        // A dropped sender (the router is gone) never signals.
        if shutdown.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(shutting_down);
    let start = tokio::time::Instant::now() + config.ping_interval;
    let mut ping = tokio::time::interval_at(start, config.ping_interval);
    let mut revocations_open = true;
    let session_ended = close(CLOSE_SESSION_ENDED, "session ended; sign in again");
    loop {
        tokio::select! {
            biased;
            () = &mut shutting_down => {
                send(&mut sink, close(CLOSE_GOING_AWAY, "server shutting down"), timeout).await;
                return Ended::Shutdown;
            }
            _ = &mut left => return Ended::Client,
            revoked = session.revoked.recv(), if revocations_open => {
                let ended = match revoked {
                    Ok(token) => *token == *session.token,
                    // Missed some: ask whether ours was among them.
                    Err(broadcast::error::RecvError::Lagged(_)) => !session.still_valid().await,
                    Err(broadcast::error::RecvError::Closed) => {
                        revocations_open = false;
                        false
                    }
                };
                if ended {
                    send(&mut sink, session_ended, timeout).await;
                    return Ended::Revoked;
                }
            }
            item = events.next() => match item {
                Some(Ok(event)) => {
                    if !send(&mut sink, Message::Text(event_frame(&event)), timeout).await {
                        return Ended::Send;
                    }
                }
                Some(Err(SubscriptionError::Lagged)) => {
                    send(&mut sink, close(CLOSE_TRY_AGAIN_LATER, "fell behind; reconnect with after"), timeout).await;
                    return Ended::Lagged;
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "event feed failed");
                    send(&mut sink, close(CLOSE_INTERNAL_ERROR, "feed failed; reconnect with after"), timeout).await;
                    return Ended::Feed;
                }
                None => {
                    send(&mut sink, close(CLOSE_INTERNAL_ERROR, "feed ended; reconnect with after"), timeout).await;
                    return Ended::Feed;
                }
            },
            _ = ping.tick() => {
                if !session.still_valid().await {
                    send(&mut sink, session_ended, timeout).await;
                    return Ended::Revoked;
                }
                if !send(&mut sink, Message::Ping(Default::default()), timeout).await {
                    return Ended::Send;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use orders_core::ids::OrderId;
    use orders_core::order::{Actor, OrderEvent, OrderStatus};
    use tokio::sync::mpsc;

    use crate::{Caller, IdentifyError, Revocations};

    type Item = Result<Message, std::convert::Infallible>;

    /// Knows the tokens in its set.
    #[derive(Default)]
    struct Tokens(std::sync::Mutex<std::collections::HashSet<String>>);

    #[async_trait::async_trait]
    impl Identify for Tokens {
        async fn identify(&self, token: &str) -> Result<Option<Caller>, IdentifyError> {
            let known = self.0.lock().unwrap().contains(token);
            Ok(known.then(|| Caller {
                id: orders_core::ids::CustomerId::parse("u1").unwrap(),
                email: "ada@example.com".into(),
                is_staff: false,
            }))
        }
    }

    fn session(token: &str, revocations: &Revocations, tokens: &Arc<Tokens>) -> SessionWatch {
        tokens.0.lock().unwrap().insert(token.to_owned());
        SessionWatch {
            token: token.to_owned(),
            revoked: revocations.subscribe(),
            identify: tokens.clone(),
        }
    }

    fn event(n: u64) -> OrderEvent {
        OrderEvent {
            id: EventId::new(n),
            order_id: OrderId::parse("o1").unwrap(),
            from: Some(OrderStatus::Pending),
            to: OrderStatus::Paid,
            at: Utc::now(),
            actor: Actor::system(),
            note: None,
            kind: orders_core::order::EventKind::StatusChanged,
            data: None,
        }
    }

    struct Harness {
        sent: mpsc::UnboundedReceiver<Message>,
        client: mpsc::UnboundedSender<Item>,
        feed: mpsc::UnboundedSender<Result<OrderEvent, SubscriptionError>>,
        stop: watch::Sender<bool>,
        revocations: Revocations,
        tokens: Arc<Tokens>,
        task: tokio::task::JoinHandle<Ended>,
    }

    fn harness(first: Option<Value>, ping: Duration) -> Harness {
        let (sent_tx, sent) = mpsc::unbounded_channel::<Message>();
        let sink = futures_util::sink::unfold(sent_tx, |tx, message: Message| async move {
            tx.send(message).map_err(|_| ())?;
            Ok::<_, ()>(tx)
        });
        let (client, client_rx) = mpsc::unbounded_channel::<Item>();
        let incoming = Box::pin(futures_util::stream::unfold(client_rx, |mut rx| async {
            rx.recv().await.map(|item| (item, rx))
        }));
        let (feed, feed_rx) = mpsc::unbounded_channel();
        let events: Subscription =
            Box::pin(futures_util::stream::unfold(feed_rx, |mut rx| async {
                rx.recv().await.map(|item| (item, rx))
            }));
        let (stop, stop_rx) = watch::channel(false);
        let config = SocketConfig {
            ping_interval: ping,
            send_timeout: Duration::from_secs(5),
        };
        let revocations = Revocations::new();
        let tokens = Arc::new(Tokens::default());
        let task = tokio::spawn(pump(
            Box::pin(sink),
            incoming,
            first,
            events,
            stop_rx,
            session("t1", &revocations, &tokens),
            config,
        ));
        Harness {
            sent,
            client,
            feed,
            stop,
            revocations,
            tokens,
            task,
        }
    }

    fn text(message: Message) -> Value {
        match message {
            Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    fn close_code(message: Message) -> u16 {
        match message {
            Message::Close(Some(frame)) => frame.code,
            other => panic!("expected close, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn snapshot_then_events_in_order_then_lagged_closes_with_1013() {
        let mut h = harness(Some(json!({"type": "snapshot"})), Duration::from_secs(30));
        assert_eq!(text(h.sent.recv().await.unwrap())["type"], "snapshot");
        h.feed.send(Ok(event(1))).unwrap();
        h.feed.send(Ok(event(2))).unwrap();
        let one = text(h.sent.recv().await.unwrap());
        let two = text(h.sent.recv().await.unwrap());
        assert_eq!(one["type"], "event");
        assert_eq!(one["event"]["id"], "00000000000000000001");
        assert_eq!(two["event"]["id"], "00000000000000000002");
        h.feed.send(Err(SubscriptionError::Lagged)).unwrap();
        assert_eq!(close_code(h.sent.recv().await.unwrap()), 1013);
        assert_eq!(h.task.await.unwrap(), Ended::Lagged);
    }

    #[tokio::test]
    async fn shutdown_closes_with_1001() {
        let mut h = harness(None, Duration::from_secs(30));
        h.stop.send_replace(true);
        assert_eq!(close_code(h.sent.recv().await.unwrap()), 1001);
        assert_eq!(h.task.await.unwrap(), Ended::Shutdown);
    }

    #[tokio::test]
    async fn client_close_ends_the_loop() {
        let h = harness(None, Duration::from_secs(30));
        h.client.send(Ok(Message::Close(None))).unwrap();
        assert_eq!(h.task.await.unwrap(), Ended::Client);
        drop(h.feed);
    }

    #[tokio::test(start_paused = true)]
    async fn pings_every_interval() {
        let mut h = harness(None, Duration::from_secs(30));
        // Time is paused: the runtime jumps to the next timer when idle.
        let first = h.sent.recv().await.unwrap();
        assert!(matches!(first, Message::Ping(_)));
        let second = h.sent.recv().await.unwrap();
        assert!(matches!(second, Message::Ping(_)));
        drop(h.client);
        assert_eq!(h.task.await.unwrap(), Ended::Client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_dropped() {
        // A sink that never accepts a frame, like a socket whose peer stopped reading.
        let sink = futures_util::sink::unfold((), |(), _: Message| async {
            std::future::pending::<Result<(), ()>>().await
        });
        let (_stop, stop_rx) = watch::channel(false);
        let config = SocketConfig {
            ping_interval: Duration::from_secs(30),
            send_timeout: Duration::from_secs(10),
        };
        let incoming = futures_util::stream::pending::<Item>();
        let events: Subscription = Box::pin(futures_util::stream::pending());
        let ended = pump(
            Box::pin(sink),
            incoming,
            Some(json!({"type": "snapshot"})),
            events,
            stop_rx,
            session("t1", &Revocations::new(), &Arc::default()),
            config,
        )
        .await;
        assert_eq!(ended, Ended::Send);
    }

    #[tokio::test]
    async fn a_failed_feed_closes_with_1011() {
        let mut h = harness(None, Duration::from_secs(30));
        drop(h.feed);
        assert_eq!(close_code(h.sent.recv().await.unwrap()), 1011);
        assert_eq!(h.task.await.unwrap(), Ended::Feed);
    }

    #[tokio::test]
    async fn a_revoked_token_closes_with_4001_and_another_does_not() {
        let mut h = harness(None, Duration::from_secs(30));
        h.revocations.revoked("someone else");
        h.feed.send(Ok(event(1))).unwrap();
        assert_eq!(text(h.sent.recv().await.unwrap())["type"], "event");
        h.revocations.revoked("t1");
        assert_eq!(close_code(h.sent.recv().await.unwrap()), 4001);
        assert_eq!(h.task.await.unwrap(), Ended::Revoked);
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_unknown_at_a_ping_closes_with_4001() {
        let mut h = harness(None, Duration::from_secs(30));
        assert!(matches!(h.sent.recv().await.unwrap(), Message::Ping(_)));
        // Revoked elsewhere: no announcement here, only the host's answer.
        h.tokens.0.lock().unwrap().clear();
        assert_eq!(close_code(h.sent.recv().await.unwrap()), 4001);
        assert_eq!(h.task.await.unwrap(), Ended::Revoked);
    }
}
