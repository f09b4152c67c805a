//! The fan-out receiver: every tracking socket on one `mio` poll, in a
//! thread of its own, each server frame parsed straight off the socket.
//!
//! The server and the load generator share the machine's two cores, so
//! whatever the receiving side spends is taken from the server it
//! measures. A readiness event here costs one `epoll_wait` share and one
//! `read`: no task, no waker, no reactor hand-off and no timer per
//! arrival.

use std::io::{self, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// The largest server frame accepted.
pub(crate) const MAX_FRAME: u64 = 1 << 20;

/// A client close frame (no status, all-zero mask key).
const CLOSE_FRAME: [u8; 6] = [0x88, 0x80, 0, 0, 0, 0];

/// One server frame parsed from the front of `buf`: `(fin, opcode,
/// payload range)` (the frame ends where the payload does), or `None` if
/// `buf` does not hold a whole frame yet. A masked frame or one over
/// [`MAX_FRAME`] is an error (RFC 6455 section 5: a server never masks).
pub(crate) fn parse_frame(
    buf: &[u8],
) -> Result<Option<(bool, u8, std::ops::Range<usize>)>, String> {
    let [b0, b1, rest @ ..] = buf else {
        return Ok(None);
    };
    if b1 & 0x80 != 0 {
        return Err("the server sent a masked frame".into());
    }
    let (len, header) = match b1 & 0x7f {
        126 => match rest {
            [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 4),
            _ => return Ok(None),
        },
        127 => match rest.get(..8) {
            Some(n) => (u64::from_be_bytes(n.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > MAX_FRAME {
        return Err(format!("a {len}-byte frame"));
    }
    let end = header + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((b0 & 0x80 != 0, b0 & 0x0f, header..end)))
}

/// What one socket received: when, and the payload of its first text
/// frame (or why there is none).
pub(crate) type Arrival = (Instant, Result<Vec<u8>, String>);

struct Slot {
    stream: TcpStream,
    /// Bytes read and not yet consumed (a text frame is consumed when its
    /// round is taken).
    buf: Vec<u8>,
    /// Set once the socket's next text frame (or its failure) is in, with
    /// where that frame ends in `buf`.
    arrival: Option<(Arrival, usize)>,
    /// A socket that failed is out of every later round.
    failed: bool,
}

/// Sockets waiting for their next text frame.
pub(crate) struct Receiver {
    poll: Poll,
    slots: Vec<Slot>,
    pending: usize,
}

impl Receiver {
    /// Registers `streams` (switched to non-blocking) with a poll of their own.
    pub(crate) fn new(streams: Vec<std::net::TcpStream>) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut slots = Vec::with_capacity(streams.len());
        for (i, stream) in streams.into_iter().enumerate() {
            stream.set_nonblocking(true)?;
            let mut stream = TcpStream::from_std(stream);
            poll.registry()
                .register(&mut stream, Token(i), Interest::READABLE)?;
            slots.push(Slot {
                stream,
                buf: Vec::new(),
                arrival: None,
                failed: false,
            });
        }
        let pending = slots.len();
        Ok(Self {
            poll,
            slots,
            pending,
        })
    }

    /// Handles whatever has already arrived, without waiting.
    pub(crate) fn poll_now(&mut self) -> io::Result<()> {
        self.turn(Some(Duration::ZERO))
    }

    /// Waits until every socket has its frame, or until `deadline`.
    pub(crate) fn run_until(&mut self, deadline: Instant) -> io::Result<()> {
        while self.pending > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.turn(Some(deadline - now))?;
        }
        Ok(())
    }

    /// One `epoll_wait` and the reads it calls for.
    fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        match self.poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        for event in &events {
            let Some(slot) = self.slots.get_mut(event.token().0) else {
                continue;
            };
            if slot.arrival.is_none() && !slot.failed {
                slot.arrival = drain(slot);
                if slot.arrival.is_some() {
                    self.pending -= 1;
                }
            }
        }
        Ok(())
    }

    /// Every socket's arrival this round (`None`: nothing came in time, or
    /// the socket failed in an earlier round), and makes ready for the
    /// next one: each text frame received is consumed, and whatever was
    /// read after it is parsed first.
    pub(crate) fn take_round(&mut self) -> Vec<Option<Arrival>> {
        let mut arrivals = Vec::with_capacity(self.slots.len());
        self.pending = 0;
        for slot in &mut self.slots {
            match slot.arrival.take() {
                Some(((at, frame), end)) => {
                    slot.failed |= frame.is_err();
                    slot.buf.drain(..end.min(slot.buf.len()));
                    arrivals.push(Some((at, frame)));
                }
                None => arrivals.push(None),
            }
            if slot.failed {
                continue;
            }
            // Bytes already read may hold the next frame; the socket's next
            // readiness event only comes with new bytes.
            slot.arrival = next_text(&mut slot.stream, &mut slot.buf)
                .map(|(frame, end)| ((Instant::now(), frame), end));
            if slot.arrival.is_none() {
                self.pending += 1;
            }
        }
        arrivals
    }

    /// Says goodbye to every socket with a close frame, never waiting.
    pub(crate) fn close(self) {
        for mut slot in self.slots {
            let _ = slot.stream.write(&CLOSE_FRAME);
        }
    }
}

/// Reads everything `slot`'s socket has (it is edge-triggered, so up to
/// `WouldBlock`, or until a text frame is whole) and returns that frame,
/// with where it ends in the buffer.
fn drain(slot: &mut Slot) -> Option<(Arrival, usize)> {
    let mut chunk = [0_u8; 4096];
    loop {
        match slot.stream.read(&mut chunk) {
            Ok(0) => return Some(((Instant::now(), Err("connection ended".into())), 0)),
            Ok(n) => {
                let at = Instant::now();
                slot.buf.extend_from_slice(&chunk[..n]);
                if let Some((frame, end)) = next_text(&mut slot.stream, &mut slot.buf) {
                    return Some(((at, frame), end));
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Some(((Instant::now(), Err(e.to_string())), 0)),
        }
    }
}

/// Takes the whole frames at the front of `buf` up to the first text
/// frame, and returns its payload and where it ends (it stays in `buf`
/// until its round is taken); pings are answered, pongs skipped; a close
/// frame, a fragmented or malformed frame is an error. `None`: no text
/// frame yet.
fn next_text(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(Result<Vec<u8>, String>, usize)> {
    loop {
        let (fin, opcode, payload) = match parse_frame(buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => return None,
            Err(e) => return Some((Err(e), 0)),
        };
        let frame_end = payload.end;
        match opcode {
            0x1 if fin => return Some((Ok(buf[payload].to_vec()), frame_end)),
            0x1 | 0x0 => return Some((Err("a fragmented message".into()), 0)),
            0x8 => {
                let reason = String::from_utf8_lossy(&buf[payload]).into_owned();
                return Some((Err(format!("closed by the server: {reason}")), 0));
            }
            0x9 => {
                // Pong with the ping's payload (at most 125 bytes), masked
                // as a client must, with the all-zero key (payload unchanged).
                let mut pong = vec![0x8A, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                pong.extend_from_slice(&buf[payload]);
                if let Err(e) = write_all(stream, &pong) {
                    return Some((Err(format!("cannot answer a ping: {e}")), 0));
                }
            }
            _ => {}
        }
        buf.drain(..frame_end);
    }
}

/// `write_all` on a non-blocking socket, for a few bytes: waits out a
/// full send buffer by retrying (it never is full here: clients send
/// nothing else).
fn write_all(stream: &mut TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::yield_now();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn frames_parse_whole_or_not_at_all() {
        // A 5-byte text frame.
        let short = [0x81, 5, b'h', b'e', b'l', b'l', b'o'];
        assert_eq!(parse_frame(&short), Ok(Some((true, 1, 2..7))));
        assert_eq!(parse_frame(&short[..6]), Ok(None), "payload incomplete");
        assert_eq!(parse_frame(&short[..1]), Ok(None), "header incomplete");
        // A 300-byte text frame: 16-bit extended length.
        let mut long = vec![0x81, 126, 0x01, 0x2c];
        long.extend(std::iter::repeat_n(b'x', 300));
        assert_eq!(parse_frame(&long), Ok(Some((true, 1, 4..304))));
        assert_eq!(parse_frame(&long[..3]), Ok(None), "length incomplete");
        // A fragment, a ping and a masked frame.
        assert_eq!(parse_frame(&[0x01, 0]), Ok(Some((false, 1, 2..2))));
        assert_eq!(parse_frame(&[0x89, 0]), Ok(Some((true, 9, 2..2))));
        assert!(parse_frame(&[0x81, 0x85, 0, 0, 0, 0]).is_err());
        // A 64-bit length over the limit.
        let mut huge = vec![0x81, 127];
        huge.extend((MAX_FRAME + 1).to_be_bytes());
        assert!(parse_frame(&huge).is_err());
    }

    /// Three real loopback connections: one gets a ping then a text frame
    /// split over two writes, one a close frame, one nothing; then a second
    /// round.
    #[test]
    fn receives_text_answers_pings_and_reports_the_rest() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let mut servers: Vec<_> = (0..3).map(|_| listener.accept().unwrap().0).collect();
        let mut receiver = Receiver::new(clients).unwrap();
        receiver.poll_now().unwrap();

        servers[0]
            .write_all(&[0x89, 2, b'h', b'i', 0x81, 5, b'h', b'e'])
            .unwrap();
        servers[1].write_all(&[0x88, 2, 0x03, 0xe9]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // The rest of the text frame, and the whole of the next round's.
        servers[0].write_all(b"llo\x81\x03two").unwrap();
        receiver
            .run_until(Instant::now() + Duration::from_millis(500))
            .unwrap();
        let arrivals = receiver.take_round();

        let (_, text) = arrivals[0].as_ref().expect("socket 0 got a frame");
        assert_eq!(text.as_deref(), Ok(&b"hello"[..]));
        let (_, closed) = arrivals[1].as_ref().expect("socket 1 got a frame");
        assert!(
            closed
                .as_ref()
                .unwrap_err()
                .starts_with("closed by the server")
        );
        assert!(arrivals[2].is_none(), "socket 2 got nothing");

        // Round two: socket 0's frame was read already, socket 2's comes
        // now, and the closed socket 1 is out.
        servers[2]
            .write_all(&[0x81, 5, b't', b'h', b'r', b'e', b'e'])
            .unwrap();
        receiver
            .run_until(Instant::now() + Duration::from_millis(500))
            .unwrap();
        let second = receiver.take_round();
        let text = |i: usize| second[i].as_ref().map(|(_, t)| t.clone());
        assert_eq!(text(0), Some(Ok(b"two".to_vec())));
        assert!(second[1].is_none(), "a closed socket takes no part");
        assert_eq!(text(2), Some(Ok(b"three".to_vec())));
        receiver.close();

        // The ping was answered with a masked pong of the same payload,
        // and every socket got a close frame at the end.
        let mut pong = [0_u8; 8];
        servers[0].read_exact(&mut pong).unwrap();
        assert_eq!(pong, [0x8A, 0x82, 0, 0, 0, 0, b'h', b'i']);
        let mut close = [0_u8; 6];
        servers[2].read_exact(&mut close).unwrap();
        assert_eq!(close, CLOSE_FRAME);
    }
}
