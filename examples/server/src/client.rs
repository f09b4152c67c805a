//! The client's address: the TCP peer's, or, when the peer is a trusted
//! reverse proxy, the one the proxy says in its header.
//!
//! Sign-in backoff and the registration limit count per client address.
//! Behind a proxy every connection comes from the proxy, so the host names
//! its proxies (`trusted_proxies`, addresses or CIDR blocks) and the
//! header they write (`client_ip_header`, default `X-Forwarded-For`). The
//! header is read only when the TCP peer is one of them; its list is read
//! from the right, each proxy appending the address it saw, and the first
//! address that is not itself a trusted proxy is the client. A client's own
//! `X-Forwarded-For` therefore counts for nothing unless it comes through
//! a trusted proxy, which appends the real address after it.
//!
//! [`resolve`] is a middleware that rewrites the request's
//! `ConnectInfo<SocketAddr>` to the client's address, so every part of the
//! server (the API, the storefront, the staff panel) sees the same one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::Response;

/// An address block: `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDRESS` or `ADDRESS/PREFIX`.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let network = network.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {bits}"))?,
            None => bits,
        };
        Ok(Self { network, prefix })
    }

    /// Whether `ip` is in the block (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Which peers are trusted proxies, and the header they write.
#[derive(Debug, Clone)]
pub struct ClientAddress {
    proxies: Arc<[Cidr]>,
    header: HeaderName,
}

impl ClientAddress {
    /// Trusting `proxies`, which write `header`.
    pub fn new(proxies: Vec<Cidr>, header: HeaderName) -> Self {
        Self {
            proxies: proxies.into(),
            header,
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|block| block.contains(ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusted(peer) {
            return peer;
        }
        // Every occurrence of the header, in order, as one list.
        let mut hops: Vec<&str> = Vec::new();
        for value in headers.get_all(&self.header) {
            let Ok(value) = value.to_str() else {
                return peer;
            };
            hops.extend(value.split(','));
        }
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // Not an address: whoever wrote it is not trusted; the last
                // trusted hop is all that is known.
                return client;
            };
            client = ip;
            if !self.trusted(ip) {
                return ip;
            }
        }
        client
    }
}

/// One entry of an `X-Forwarded-For` list: `1.2.3.4`, `2001:db8::1`, and
/// the forms some proxies write with a port, `1.2.3.4:5678` and
/// `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|address| address.ip().to_canonical())
}

/// The TCP peer of a request, kept by [`resolve`] before it puts the
/// client's address in `ConnectInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Middleware: replaces the request's `ConnectInfo<SocketAddr>` with the
/// client's address (the port kept), as [`ClientAddress::client`] says,
/// and keeps the TCP peer's as [`Peer`].
pub async fn resolve(
    State(config): State<ClientAddress>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    {
        let client = config.client(peer.ip(), request.headers());
        let extensions = request.extensions_mut();
        extensions.insert(Peer(peer));
        extensions.insert(ConnectInfo(SocketAddr::new(client, peer.port())));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks() {
        let block = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(block.contains(ip("10.200.1.2")));
        assert!(block.contains(ip("::ffff:10.0.0.1")));
        assert!(!block.contains(ip("11.0.0.1")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!Cidr::parse("fd00::/8").unwrap().contains(ip("10.0.0.1")));
        for bad in ["", "10.0.0.0/33", "fd00::/129", "nope", "10.0.0.0/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let config = ClientAddress::new(
            vec![
                Cidr::parse("127.0.0.1").unwrap(),
                Cidr::parse("10.0.0.0/8").unwrap(),
            ],
            HeaderName::from_static("x-forwarded-for"),
        );
        let spoofed = headers(&["203.0.113.9"]);
        assert_eq!(
            config.client(ip("198.51.100.7"), &spoofed),
            ip("198.51.100.7")
        );
        assert_eq!(config.client(ip("127.0.0.1"), &spoofed), ip("203.0.113.9"));
        // The right-most untrusted hop: the client's own claim is left of it.
        let chain = headers(&["1.1.1.1, 203.0.113.9", "10.1.1.1"]);
        assert_eq!(config.client(ip("127.0.0.1"), &chain), ip("203.0.113.9"));
        assert_eq!(
            config.client(ip("127.0.0.1"), &headers(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            config.client(ip("127.0.0.1"), &headers(&["junk, 10.2.2.2"])),
            ip("10.2.2.2")
        );
        assert_eq!(
            config.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        let untrusting = ClientAddress::new(Vec::new(), HeaderName::from_static("x-forwarded-for"));
        assert_eq!(
            untrusting.client(ip("127.0.0.1"), &spoofed),
            ip("127.0.0.1")
        );
    }
}
