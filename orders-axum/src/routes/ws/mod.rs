//! Websocket feeds: one order's changes (`/orders/{id}/track`) and every
//! order's (`/admin/stream`).
//!
//! Everything that can refuse (credentials, ownership, `?after=`) is
//! checked before the upgrade, so refusals are ordinary problem+json
//! responses. After the upgrade, [`pump::pump`] forwards the socket's
//! [`source::Source`] to it, in one task per socket. It is generic over
//! `Sink`/`Stream` so it is unit-tested with channels.
//!
//! Tracking sockets share one subscription per order through the registry
//! of followers ([`crate::followers`]): an event is serialised once, queued
//! for its order's followers only, and wakes no socket following another
//! order. The admin stream keeps a subscription of its own.
//!
//! Back-pressure: every follower's queue is bounded
//! ([`crate::followers::FEED_CAPACITY`] frames; the admin stream's
//! subscription likewise), so a slow reader never holds up the publisher
//! or other clients. A client that falls behind is closed (code 1013, "try
//! again later"); it reconnects with `?after=` its last event id and loses
//! nothing. A client that stops reading altogether is dropped after
//! [`SocketConfig::send_timeout`].
//!
//! Sessions: a socket keeps the token it was opened with. When the host
//! revokes it ([`crate::Revocations::revoked`], on logout) the socket closes
//! with 4001 at once; at every ping the token is also asked about again
//! through the host's `Identify`, so a token revoked on another instance
//! or expired closes its sockets within one ping interval, with 4001 too.

mod pump;
mod source;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use orders_core::Access;
use orders_core::ids::{EventId, OrderId};
use serde_json::{Value, json};

use super::orders::access;
use super::{AppState, path_id};
use crate::ApiError;
use crate::guests::TrackCaller;
use crate::identify::SocketCaller;
use crate::meters::Feed;
use crate::query::Params;
#[cfg(test)]
pub(crate) use pump::{Ended, pump};
pub(crate) use pump::{SessionWatch, SocketConfig};
#[cfg(test)]
pub(crate) use source::Item;
pub(crate) use source::{Following, Source};

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
    // Follow first, then read the snapshot and what to replay: an event
    // committed in between is in both, and the follower skips it once.
    let follower = (state.followers.follow(&id).await).map_err(orders_core::Error::from)?;
    let access = access(&caller);
    let (order, after, replay) = state.orders.track_start(access, &id, after).await?;
    let upgrade = upgrade.map_err(upgrade_required)?;
    let snapshot = json!({"type": "snapshot", "order": order});
    let customer = matches!(access, Access::Owner(_));
    let source = Source::Follow(Following::new(follower, after, replay, customer));
    Ok(start(
        upgrade,
        &state,
        token,
        (Feed::Track, Some(snapshot)),
        source,
    ))
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
        Source::Own(events),
    ))
}

/// Read buffer per socket: clients send nothing but pongs and a close
/// frame (a larger frame grows it as needed, up to [`SOCKET_MAX_MESSAGE`]).
/// tungstenite zero-fills the whole buffer on its first read, so every byte
/// of it is resident for as long as the socket is open.
const SOCKET_READ_BUFFER: usize = 256;
/// Most unsent bytes a socket may hold before writes fail and it closes.
const SOCKET_MAX_WRITE_BUFFER: usize = 1024 * 1024;
/// Largest frame or message a client may send.
const SOCKET_MAX_MESSAGE: usize = 64 * 1024;

fn start(
    upgrade: WebSocketUpgrade,
    state: &AppState,
    token: String,
    (feed, first): (Feed, Option<Value>),
    source: Source,
) -> Response {
    let config = state.socket_config();
    let meters = state.meters.clone();
    let shutdown = state.shutdown.subscribe();
    let session = SessionWatch {
        token,
        revoked: state.revocations.subscribe(),
        identify: state.identify.clone(),
    };
    // Tracking sockets mostly sit idle, so small buffers: tungstenite's
    // defaults (128 KiB read buffer, zero-filled on first read) cost ~130
    // KiB per socket, over a gigabyte for 10,000 trackers. The write buffer
    // is capped so a client that stops reading holds a bounded amount of
    // memory.
    upgrade
        .read_buffer_size(SOCKET_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(SOCKET_MAX_WRITE_BUFFER)
        .max_message_size(SOCKET_MAX_MESSAGE)
        .max_frame_size(SOCKET_MAX_MESSAGE)
        .on_upgrade(move |socket: WebSocket| async move {
            let _open = meters.socket_opened(feed);
            pump::pump(socket, first, source, shutdown, session, config).await;
        })
        .into_response()
}
