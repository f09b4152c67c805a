//! Test doubles of the socket loop: a socket made of channels, and a host
//! that knows a set of tokens.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::ws::Message;
use futures_util::{Sink, Stream};

use super::pump::SessionWatch;
use crate::{Caller, Identify, IdentifyError, Revocations};

/// A socket made of a sink and a stream, as the pump sees one.
pub(crate) struct Duplex<W, R> {
    pub(crate) sink: W,
    pub(crate) stream: R,
}

impl<W: Sink<Message> + Unpin, R: Unpin> Sink<Message> for Duplex<W, R> {
    type Error = W::Error;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), W::Error>> {
        Pin::new(&mut self.sink).poll_ready(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), W::Error> {
        Pin::new(&mut self.sink).start_send(item)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), W::Error>> {
        Pin::new(&mut self.sink).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), W::Error>> {
        Pin::new(&mut self.sink).poll_close(cx)
    }
}

impl<W: Unpin, R: Stream + Unpin> Stream for Duplex<W, R> {
    type Item = R::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<R::Item>> {
        Pin::new(&mut self.stream).poll_next(cx)
    }
}

/// Knows the tokens in its set.
#[derive(Default)]
pub(crate) struct Tokens(pub(crate) std::sync::Mutex<std::collections::HashSet<String>>);

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

pub(crate) fn session(
    token: &str,
    revocations: &Revocations,
    tokens: &Arc<Tokens>,
) -> SessionWatch {
    tokens.0.lock().unwrap().insert(token.to_owned());
    SessionWatch {
        token: token.to_owned(),
        revoked: revocations.subscribe(),
        identify: tokens.clone(),
    }
}
