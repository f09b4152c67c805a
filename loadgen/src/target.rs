//! The one server this tool talks to: a loopback `http://` URL, nothing else.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use reqwest::Url;

/// A checked base URL (`http://127.0.0.1:PORT`) and the address it names.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The base URL, without a trailing slash.
    base: String,
    /// The server's socket address (loopback).
    pub(crate) addr: SocketAddr,
}

impl Target {
    /// Accepts `http://HOST[:PORT][/]` where every address `HOST` resolves to
    /// is a loopback address (127.0.0.0/8 or ::1); refuses anything else.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let parsed = Url::parse(url).map_err(|e| format!("--url {url:?}: {e}"))?;
        if parsed.scheme() != "http" {
            return Err(format!("--url {url:?}: only http:// is supported"));
        }
        if parsed.path() != "/" && !parsed.path().is_empty() {
            return Err(format!(
                "--url {url:?}: give the server's base URL, without a path"
            ));
        }
        if parsed.query().is_some() || !parsed.username().is_empty() {
            return Err(format!("--url {url:?}: no query or credentials, please"));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("--url {url:?}: no host"))?;
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| format!("--url {url:?}: no port"))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            // Only the name `localhost` is resolved; other names are refused
            // before any lookup.
            Err(_) if bare.eq_ignore_ascii_case("localhost") => (bare, port)
                .to_socket_addrs()
                .map_err(|e| format!("--url {url:?}: {e}"))?
                .collect(),
            Err(_) => {
                return Err(format!(
                    "--url {url:?}: the host must be a loopback address or localhost"
                ));
            }
        };
        let Some(&addr) = addrs.first() else {
            return Err(format!("--url {url:?}: the host resolves to nothing"));
        };
        if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(format!(
                "--url {url:?}: {} is not a loopback address; this tool only loads a local server",
                bad.ip()
            ));
        }
        Ok(Self {
            base: format!("http://{addr}"),
            addr,
        })
    }

    /// `base + path` (`path` starts with `/`).
    pub(crate) fn http(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The websocket URL of `path`.
    pub(crate) fn ws(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        let t = Target::parse("http://127.0.0.1:8080").expect("loopback");
        assert_eq!(t.http("/api/health"), "http://127.0.0.1:8080/api/health");
        assert_eq!(t.ws("/x"), "ws://127.0.0.1:8080/x");
        assert!(Target::parse("http://127.3.4.5:1/").is_ok());
        assert_eq!(
            Target::parse("http://[::1]:9/").expect("v6").ws("/x"),
            "ws://[::1]:9/x"
        );
        for bad in [
            "http://10.0.0.1:8080",
            "http://192.168.1.1",
            "http://8.8.8.8",
            "http://example.com",
            "https://127.0.0.1",
            "http://127.0.0.1:8080/api",
            "http://0.0.0.0:8080",
            "ftp://127.0.0.1",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
