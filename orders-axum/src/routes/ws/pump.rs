//! One socket's loop: its feed's frames out, pings, the client's frames
//! in, and the reasons to close.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::source::{Item, Source};
use crate::{CLOSE_SESSION_ENDED, Identify};

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

/// Sends `message`, giving up after `timeout`. Almost every send completes
/// on its first poll (the socket has room); only one that has to wait arms
/// a timer. For 10,000 followers of one order that is 10,000 timer
/// registrations saved per event.
async fn send<W: Sink<Message> + Unpin>(sink: &mut W, message: Message, timeout: Duration) -> bool {
    let mut sending = std::pin::pin!(sink.send(message));
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(sending.as_mut().poll(cx))).await;
    match first {
        std::task::Poll::Ready(result) => result.is_ok(),
        std::task::Poll::Pending => {
            matches!(tokio::time::timeout(timeout, sending).await, Ok(Ok(())))
        }
    }
}

/// Forwards `first` and then every item of `source` to `socket` as text
/// frames, pinging every `config.ping_interval`, until the client leaves,
/// the feed ends, `shutdown` turns `true`, or the token of `session` is
/// revoked (announced, or found unknown at a ping).
///
/// One task per socket, and nothing else: the client's frames (pongs, a
/// close) are read by the same loop. A wake-up for an event polls the read
/// side too, which costs no system call (the runtime remembers the socket
/// is not readable) and a read buffer of a few hundred bytes.
pub(crate) async fn pump<S, E>(
    mut socket: S,
    first: Option<Value>,
    mut source: Source,
    mut shutdown: watch::Receiver<bool>,
    mut session: SessionWatch,
    config: SocketConfig,
) -> Ended
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
{
    let timeout = config.send_timeout;
    if let Some(first) = first
        && !send(
            &mut socket,
            Message::Text(first.to_string().into()),
            timeout,
        )
        .await
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
    loop {
        tokio::select! {
            biased;
            () = &mut shutting_down => {
                send(&mut socket, close(CLOSE_GOING_AWAY, "server shutting down"), timeout).await;
                return Ended::Shutdown;
            }
            // Pongs are answered by the websocket layer; text is ignored.
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Ended::Client,
                Some(Ok(_)) => {}
            },
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
                    send(&mut socket, session_ended(), timeout).await;
                    return Ended::Revoked;
                }
            }
            item = source.next() => match item {
                Some(Item::Frame(frame)) => {
                    if !send(&mut socket, Message::Text(frame), timeout).await {
                        return Ended::Send;
                    }
                }
                Some(Item::Lagged) => {
                    send(&mut socket, close(CLOSE_TRY_AGAIN_LATER, "fell behind; reconnect with after"), timeout).await;
                    return Ended::Lagged;
                }
                Some(Item::Failed) => {
                    send(&mut socket, close(CLOSE_INTERNAL_ERROR, "feed failed; reconnect with after"), timeout).await;
                    return Ended::Feed;
                }
                None => {
                    send(&mut socket, close(CLOSE_INTERNAL_ERROR, "feed ended; reconnect with after"), timeout).await;
                    return Ended::Feed;
                }
            },
            _ = ping.tick() => {
                if !session.still_valid().await {
                    send(&mut socket, session_ended(), timeout).await;
                    return Ended::Revoked;
                }
                if !send(&mut socket, Message::Ping(Default::default()), timeout).await {
                    return Ended::Send;
                }
            }
        }
    }
}

fn session_ended() -> Message {
    close(CLOSE_SESSION_ENDED, "session ended; sign in again")
}
