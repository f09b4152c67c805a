//! Which addresses a webhook may reach (SSRF): by default only public
//! unicast ones, checked when the webhook is created and again on every
//! delivery, on the very addresses the request then connects to.
//!
//! A name is resolved once per connection by [`GuardedResolver`], which
//! hands the HTTP client only addresses that pass; so a name that
//! resolved to a public address at creation and to `127.0.0.1` later (DNS
//! rebinding) is refused at delivery. An IP literal never reaches a
//! resolver, so [`check_target`] checks it before the request is made.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use orders_core::webhook::{InvalidWebhookUrl, WebhookUrl};

/// Whether `ip` is one a webhook may reach without
/// `--allow-private-webhooks`: not private, loopback, link-local,
/// unique-local, shared (CGNAT), multicast, broadcast, unspecified or
/// reserved for documentation, in IPv4, IPv6, and IPv4 inside IPv6.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            let nat64 = s[0] == 0x64 && s[1] == 0xff9b;
            let compat = s[..6].iter().all(|&x| x == 0);
            if nat64 || compat {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return !compat && is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Checks a webhook's target: an IP literal as written, a name by
/// resolving it (every address must pass). With `allow_private` only the
/// resolution is required.
///
/// # Errors
/// [`InvalidWebhookUrl::PrivateAddress`] for a refused address, and
/// [`InvalidWebhookUrl::Malformed`] for a name that does not resolve.
pub async fn check_target(url: &WebhookUrl, allow_private: bool) -> Result<(), InvalidWebhookUrl> {
    let addrs: Vec<SocketAddr> = match url.host().parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, url.port())],
        Err(_) => tokio::net::lookup_host((url.host(), url.port()))
            .await
            .map_err(|_| InvalidWebhookUrl::Malformed)?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(InvalidWebhookUrl::Malformed);
    }
    if !allow_private && !addrs.iter().all(|a| is_public(a.ip())) {
        return Err(InvalidWebhookUrl::PrivateAddress);
    }
    Ok(())
}

#[cfg(feature = "webhooks")]
/// The delivery client's resolver: the system's, keeping only addresses
/// that [`is_public`] passes (all of them with `allow_private`), and
/// failing when none is left.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Whether private addresses pass too.
    pub allow_private: bool,
}

#[cfg(feature = "webhooks")]
impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no address a webhook may reach").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(feature = "webhooks")]
impl GuardedResolver {
    /// The resolver as the client builder takes it.
    pub fn shared(self) -> std::sync::Arc<Self> {
        std::sync::Arc::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "192.0.2.1",
            "240.0.0.1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
        for public in [
            "8.8.8.8",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "100.128.0.1",
        ] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
    }

    #[tokio::test]
    async fn targets_are_checked_as_written_and_as_resolved() {
        let url = |s: &str| WebhookUrl::parse(s).expect("url");
        assert_eq!(
            check_target(&url("http://127.0.0.1:9/x"), false).await,
            Err(InvalidWebhookUrl::PrivateAddress)
        );
        assert_eq!(
            check_target(&url("http://[::1]/"), false).await,
            Err(InvalidWebhookUrl::PrivateAddress)
        );
        assert_eq!(
            check_target(&url("http://localhost:9/x"), false).await,
            Err(InvalidWebhookUrl::PrivateAddress),
            "a name resolving to loopback"
        );
        assert_eq!(
            check_target(&url("http://localhost:9/x"), true).await,
            Ok(())
        );
        assert_eq!(check_target(&url("http://8.8.8.8/"), false).await, Ok(()));
    }
}
