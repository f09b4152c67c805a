//! `GET /metrics`: the Prometheus document of the engine (requests by route
//! template and status, latencies, open websockets, checkouts by outcome,
//! the database pools), for operators only.
//!
//! By default it is answered on the server's own address to loopback
//! clients only. Loopback is the whole of `127.0.0.0/8` and `::1`: an
//! address of this machine, not of another one. The check is made on the
//! TCP peer *and* on the client address that trusted proxies report
//! (`[auth] trusted_proxies`): a remote client behind a local proxy is not
//! local, and neither is the proxy's own loopback when the proxy runs on
//! another machine, whatever a forwarded header says.
//!
//! ```toml
//! [metrics]
//! bind = "127.0.0.1:9100"           # its own address; then not on the server's
//! allow = ["10.0.0.0/8", "::1"]     # who may scrape (default: loopback;
//!                                   # with `bind`: whoever reaches it)
//! ```
//!
//! Flags: `--metrics-bind ADDRESS`, `--metrics-allow BLOCK,…`
//! (`ORDERS_METRICS_BIND`, `ORDERS_METRICS_ALLOW`), over the file's keys.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use orders_axum::metrics::{Metrics, PoolUse, WriteBatchCounts};
use orders_sqlx::Storage;
use serde::Deserialize;

use crate::client::{Cidr, ClientAddress, Peer};

/// The `[metrics]` table of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsFile {
    bind: Option<String>,
    allow: Option<Vec<String>>,
}

/// The flags of `/metrics` (global: before or after `serve`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MetricsArgs {
    /// Serve `/metrics` on this address of its own (`127.0.0.1:9100`)
    /// instead of the server's; then anyone who reaches that address may
    /// scrape, unless `--metrics-allow` says who.
    #[arg(long, env = "ORDERS_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,
    /// Who may scrape `/metrics`: addresses or CIDR blocks; repeat, or
    /// separate with commas. Default: loopback (`127.0.0.0/8`, `::1`).
    #[arg(
        long = "metrics-allow",
        env = "ORDERS_METRICS_ALLOW",
        value_delimiter = ',',
        global = true
    )]
    pub metrics_allow: Vec<String>,
}

/// Where `/metrics` is answered, and to whom.
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// An address of its own; `None`: the server's.
    pub bind: Option<String>,
    /// The clients allowed; `None`: the default, loopback on the server's
    /// address and whoever reaches an address of its own.
    pub allow: Option<Vec<Cidr>>,
}

/// `127.0.0.0/8` and `::1`.
fn loopback() -> Vec<Cidr> {
    ["127.0.0.0/8", "::1"]
        .into_iter()
        .filter_map(|block| Cidr::parse(block).ok())
        .collect()
}

impl MetricsSettings {
    /// The file's `[metrics]`.
    pub(crate) fn from_file(file: &MetricsFile) -> Result<Self, String> {
        let mut settings = Self::default();
        settings.set(file.bind.clone(), file.allow.clone())?;
        Ok(settings)
    }

    /// The flags over the file's keys.
    ///
    /// # Errors
    /// A message naming the bad flag's key.
    pub fn apply(&mut self, args: &MetricsArgs) -> Result<(), String> {
        let allow = (!args.metrics_allow.is_empty()).then(|| args.metrics_allow.clone());
        self.set(args.metrics_bind.clone(), allow)
    }

    fn set(&mut self, bind: Option<String>, allow: Option<Vec<String>>) -> Result<(), String> {
        if let Some(bind) = bind {
            let bind = bind.trim().to_owned();
            bind.parse::<SocketAddr>()
                .map_err(|_| format!("metrics.bind: {bind:?} is not an IP address and port"))?;
            self.bind = Some(bind);
        }
        if let Some(blocks) = allow {
            self.allow = Some(
                blocks
                    .iter()
                    .map(|b| Cidr::parse(b).map_err(|e| format!("metrics.allow: {e}")))
                    .collect::<Result<_, _>>()?,
            );
        }
        Ok(())
    }

    fn access(&self) -> Access {
        match (&self.allow, &self.bind) {
            (Some(blocks), _) => Access(Some(blocks.clone().into())),
            (None, Some(_)) => Access(None),
            (None, None) => Access(Some(loopback().into())),
        }
    }
}

/// Who may scrape.
#[derive(Debug, Clone)]
struct Access(Option<Arc<[Cidr]>>);

impl Access {
    fn allows(&self, ip: IpAddr) -> bool {
        match &self.0 {
            None => true,
            Some(blocks) => blocks.iter().any(|block| block.contains(ip)),
        }
    }
}

/// The engine's metrics, with the store's pools (and SQLite's write
/// batches) read at every scrape.
pub fn registry(storage: &Storage) -> Metrics {
    let metrics = Metrics::new();
    let batches = storage.clone();
    metrics.write_batches(move || {
        batches.write_batches().map(|b| WriteBatchCounts {
            batches: b.batches,
            writes: b.writes,
        })
    });
    let storage = storage.clone();
    metrics.pools(move || {
        storage
            .pool_stats()
            .into_iter()
            .map(|pool| PoolUse {
                pool: pool.name.to_owned(),
                open: pool.size,
                idle: pool.idle,
                max: pool.max,
            })
            .collect()
    });
    metrics
}

/// `router` with `GET /metrics` added, answered to the clients `settings`
/// allow. Needs [`crate::client::resolve`] around it.
pub fn route(router: Router, metrics: &Metrics, settings: &MetricsSettings) -> Router {
    let access = settings.access();
    router.route(
        "/metrics",
        metrics
            .endpoint()
            .layer(axum::middleware::from_fn_with_state(access, guard)),
    )
}

/// `/metrics` alone on its own listener, with the server's client address
/// rules; ends when the returned task is aborted.
///
/// # Errors
/// A message when the address cannot be listened on.
pub async fn serve_apart(
    bind: &str,
    metrics: &Metrics,
    settings: &MetricsSettings,
    clients: ClientAddress,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind} for /metrics: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let app = route(Router::new(), metrics, settings).layer(axum::middleware::from_fn_with_state(
        clients,
        crate::client::resolve,
    ));
    let task = tokio::spawn(async move {
        let options = orders_axum::serve::ServeOptions::default();
        orders_axum::serve::serve(listener, app, options, std::future::pending()).await;
    });
    Ok((address, task))
}

/// Lets a request through when both its TCP peer and its client address
/// (the same without trusted proxies) are allowed; 403 otherwise.
async fn guard(State(access): State<Access>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let peer = request
        .extensions()
        .get::<Peer>()
        .map(|peer| peer.0.ip())
        .or(client);
    match (peer, client) {
        (Some(peer), Some(client)) if access.allows(peer) && access.allows(client) => {
            next.run(request).await
        }
        _ => (
            StatusCode::FORBIDDEN,
            "/metrics is for the addresses the configuration allows ([metrics] allow)\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn settings(file: &str, args: MetricsArgs) -> Result<MetricsSettings, String> {
        let file: MetricsFile = toml::from_str(file).map_err(|e| e.to_string())?;
        let mut settings = MetricsSettings::from_file(&file)?;
        settings.apply(&args)?;
        Ok(settings)
    }

    #[test]
    fn loopback_is_127_slash_8_and_ipv6_one() {
        let access = MetricsSettings::default().access();
        for local in [
            "127.0.0.1",
            "127.0.0.2",
            "127.255.0.9",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(access.allows(ip(local)), "{local}");
        }
        for remote in ["10.0.0.1", "192.168.1.2", "::2", "fe80::1", "0.0.0.0"] {
            assert!(!access.allows(ip(remote)), "{remote}");
        }
    }

    #[test]
    fn a_bind_of_its_own_lets_anyone_in_unless_allow_says() {
        let apart = settings("bind = \"127.0.0.1:9100\"", MetricsArgs::default()).unwrap();
        assert_eq!(apart.bind.as_deref(), Some("127.0.0.1:9100"));
        assert!(apart.access().allows(ip("10.1.2.3")));
        let ruled = settings(
            "bind = \"127.0.0.1:9100\"\nallow = [\"10.0.0.0/8\"]",
            MetricsArgs::default(),
        )
        .unwrap();
        assert!(ruled.access().allows(ip("10.1.2.3")));
        assert!(!ruled.access().allows(ip("127.0.0.1")));
        let flags = MetricsArgs {
            metrics_bind: Some("127.0.0.2:0".into()),
            metrics_allow: vec!["127.0.0.1".into()],
        };
        let over = settings("bind = \"127.0.0.1:9100\"\nallow = [\"10.0.0.0/8\"]", flags).unwrap();
        assert_eq!(over.bind.as_deref(), Some("127.0.0.2:0"));
        assert_eq!(over.allow, Some(vec![Cidr::parse("127.0.0.1").unwrap()]));
        let bind_flag = MetricsArgs {
            metrics_bind: Some("127.0.0.2:0".into()),
            metrics_allow: Vec::new(),
        };
        // A bind of its own from a flag: whoever reaches it.
        assert!(
            settings("", bind_flag)
                .unwrap()
                .access()
                .allows(ip("10.1.2.3"))
        );
        let default = settings("", MetricsArgs::default()).unwrap();
        assert!(default.bind.is_none());
        assert!(!default.access().allows(ip("10.1.2.3")));
    }

    #[test]
    fn bad_entries_are_named() {
        for (text, expected) in [
            ("bind = \"somewhere\"", "metrics.bind"),
            ("allow = [\"10.0.0.0/99\"]", "metrics.allow"),
            ("port = 1", "unknown field"),
        ] {
            let error = settings(text, MetricsArgs::default()).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
