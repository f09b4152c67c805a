//! The shop's configuration: an optional TOML file, with flags and
//! environment variables on top.
//!
//! The engine's keys are `orders_core::config`'s (feature `serde`); every
//! key left out keeps the demo's value:
//!
//! ```toml
//! currency = "GBP"                  # of carts created without one
//! country = "GB"                    # carts are priced for it before checkout
//! tax_shipping_as = "standard"      # omit to leave shipping untaxed
//! idempotency_lease = "5m"          # or seconds
//! max_retries = 8
//! body_limit = 65536                # bytes
//! cors_origins = ["https://shop.example"]
//!
//! [[tax]]
//! country = "GB"
//! class = "standard"
//! rate = "20"                       # percent
//!
//! [[shipping]]
//! code = "standard"
//! name = "Standard"
//! prices = [{ currency = "GBP", price = "4.99", free_above = "50" }]
//!
//! [auth]                            # every key optional; defaults shown
//! trusted_proxies = []              # e.g. ["10.0.0.0/8", "127.0.0.1"]
//! client_ip_header = "X-Forwarded-For"
//! registrations_per_hour = 50       # per client address; 0: no limit
//! registration_queue = 8            # registrations waiting to hash; more: 503
//! registration_hashes = 1           # registrations hashing at once
//! login_hashes = 2                  # sign-ins hashing at once (their own slots)
//! login_free_failures = 5           # per (email, address) before the backoff
//! login_first_wait = "1s"           # the backoff's first wait, doubled each failure
//! login_max_wait = "15m"            # the backoff's cap (1 s, 2 s, 4 s, …)
//! address_free_failures = 100       # per address across accounts, per hour
//! token_lifetime = "30d"            # sliding: each use extends it
//! ```
//!
//! The `[metrics]` table (where `/metrics` is answered, and to whom) is
//! described in `crate::metrics`; the `[payments]` table (the card payment
//! provider, capture policy, 3-D Secure hold, Stripe's URLs) in
//! `crate::payments`, whose `capture_policy` and `hold` win over the
//! engine's top-level `capture_policy` and `payment_hold`; the `[mail]`
//! table (the SMTP server for customer emails; none are sent without it)
//! in `crate::mail`.
//!
//! The `[auth]` keys that flags also set (`--trusted-proxy`,
//! `--client-ip-header`, `--registrations-per-hour`, `--token-lifetime`)
//! take the flag's value when it is given.
//!
//! Without a file the demo configuration applies (USD, EUR and GBP;
//! standard and express shipping; VAT for GB, DE and FR).

use std::path::Path;
use std::time::Duration;

use axum::http::HeaderName;

use orders_core::OrdersConfig;
use orders_core::config::ConfigFile;
use serde::Deserialize;

use crate::accounts::Backoff;
use crate::client::{Cidr, ClientAddress};

/// The default request body limit: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The server's own keys of the file; the rest is the engine's
/// ([`ConfigFile`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerKeys {
    body_limit: Option<usize>,
    #[serde(default)]
    cors_origins: Vec<String>,
    #[serde(default)]
    auth: AuthFile,
    #[serde(default)]
    metrics: crate::metrics::MetricsFile,
    #[serde(default)]
    payments: crate::payments::PaymentsFile,
    mail: Option<crate::mail::MailFile>,
}

/// The keys of [`ServerKeys`], taken out of the file before the rest is
/// read as the engine's.
const SERVER_KEYS: [&str; 6] = [
    "body_limit",
    "cors_origins",
    "auth",
    "metrics",
    "payments",
    "mail",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    trusted_proxies: Option<Vec<String>>,
    client_ip_header: Option<String>,
    registrations_per_hour: Option<u32>,
    registration_queue: Option<usize>,
    registration_hashes: Option<usize>,
    login_hashes: Option<usize>,
    login_free_failures: Option<u32>,
    login_first_wait: Option<String>,
    login_max_wait: Option<String>,
    address_free_failures: Option<u32>,
    token_lifetime: Option<String>,
}

/// The flags of the `[auth]` settings (global: before or after `serve`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthArgs {
    /// A reverse proxy whose client-address header is believed: an address
    /// or CIDR block; repeat, or separate with commas. Default: none (the
    /// TCP peer is the client).
    #[arg(
        long = "trusted-proxy",
        env = "ORDERS_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<String>,
    /// The header trusted proxies write the client's address in (default
    /// `X-Forwarded-For`).
    #[arg(long, env = "ORDERS_CLIENT_IP_HEADER", global = true)]
    pub client_ip_header: Option<String>,
    /// Registrations allowed per client address per hour (default 50; 0:
    /// no limit).
    #[arg(long, env = "ORDERS_REGISTRATIONS_PER_HOUR", global = true)]
    pub registrations_per_hour: Option<u32>,
    /// How long a token lives since its last use: `30d` (default), `12h`,
    /// `15m`, `90s`.
    #[arg(long, env = "ORDERS_TOKEN_LIFETIME", global = true)]
    pub token_lifetime: Option<String>,
}

/// Sign-in, registration and token settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Trusted reverse proxies.
    pub trusted_proxies: Vec<Cidr>,
    /// The header they write the client's address in.
    pub client_ip_header: HeaderName,
    /// Registrations per client address per hour; 0: no limit.
    pub registrations_per_hour: u32,
    /// Registrations that may wait for a hashing slot; beyond, 503.
    pub registration_queue: usize,
    /// Registration password hashes computed at once.
    pub registration_hashes: usize,
    /// Sign-in password hashes computed at once (apart from registrations').
    pub login_hashes: usize,
    /// Backoff of failed sign-ins per (account email, client address).
    pub login_backoff: Backoff,
    /// Backoff of failed sign-ins per client address, across accounts.
    pub address_backoff: Backoff,
    /// How long a token lives since its last extension.
    pub token_lifetime: Duration,
}

/// The default token lifetime: 30 days.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            client_ip_header: HeaderName::from_static("x-forwarded-for"),
            registrations_per_hour: 50,
            registration_queue: 8,
            registration_hashes: 1,
            login_hashes: 2,
            login_backoff: Backoff {
                free: 5,
                first_ms: 1000,
                max_ms: 15 * 60 * 1000,
                forget_ms: 24 * 3_600_000,
            },
            address_backoff: Backoff {
                free: 100,
                first_ms: 1000,
                max_ms: 15 * 60 * 1000,
                forget_ms: 3_600_000,
            },
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
        }
    }
}

impl AuthSettings {
    /// Who the client of a request is, under these settings.
    pub fn client_address(&self) -> ClientAddress {
        ClientAddress::new(self.trusted_proxies.clone(), self.client_ip_header.clone())
    }

    fn apply(&mut self, file: &AuthFile, args: &AuthArgs) -> Result<(), String> {
        let proxies = if args.trusted_proxies.is_empty() {
            file.trusted_proxies.clone().unwrap_or_default()
        } else {
            args.trusted_proxies.clone()
        };
        self.trusted_proxies = proxies
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| Cidr::parse(p).map_err(|e| format!("trusted_proxies: {e}")))
            .collect::<Result<_, _>>()?;
        if let Some(header) = args
            .client_ip_header
            .as_ref()
            .or(file.client_ip_header.as_ref())
        {
            self.client_ip_header = HeaderName::from_bytes(header.trim().as_bytes())
                .map_err(|_| format!("client_ip_header: {header:?} is not a header name"))?;
        }
        if let Some(n) = args.registrations_per_hour.or(file.registrations_per_hour) {
            self.registrations_per_hour = n;
        }
        let at_least_one = |key: &str, n: usize| {
            if (1..=1024).contains(&n) {
                Ok(n)
            } else {
                Err(format!("{key}: must be between 1 and 1024"))
            }
        };
        if let Some(n) = file.registration_queue {
            self.registration_queue = n.min(100_000);
        }
        if let Some(n) = file.registration_hashes {
            self.registration_hashes = at_least_one("registration_hashes", n)?;
        }
        if let Some(n) = file.login_hashes {
            self.login_hashes = at_least_one("login_hashes", n)?;
        }
        if let Some(n) = file.login_free_failures {
            self.login_backoff.free = n;
        }
        if let Some(text) = &file.login_first_wait {
            let wait = parse_duration(text).map_err(|e| format!("login_first_wait: {e}"))?;
            let first = millis(wait);
            if first == 0 {
                return Err("login_first_wait: must be at least 1ms".to_owned());
            }
            self.login_backoff.first_ms = first;
            self.login_backoff.max_ms = self.login_backoff.max_ms.max(first);
        }
        if let Some(text) = &file.login_max_wait {
            let wait = parse_duration(text).map_err(|e| format!("login_max_wait: {e}"))?;
            self.login_backoff.max_ms = millis(wait).max(self.login_backoff.first_ms);
            self.address_backoff.max_ms = self.login_backoff.max_ms;
        }
        if let Some(n) = file.address_free_failures {
            self.address_backoff.free = n;
        }
        if let Some(text) = args
            .token_lifetime
            .as_ref()
            .or(file.token_lifetime.as_ref())
        {
            self.token_lifetime =
                parse_duration(text).map_err(|e| format!("token_lifetime: {e}"))?;
        }
        Ok(())
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `30d`, `12h`, `15m`, `90s` or a plain number of seconds; between one
/// second and ten years.
pub use orders_core::config::parse_duration;

/// Everything the server is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The engine's configuration.
    pub orders: OrdersConfig,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// Origins allowed by CORS (none: same origin only).
    pub cors_origins: Vec<String>,
    /// Sign-in, registration and tokens.
    pub auth: AuthSettings,
    /// Where `/metrics` is answered, and to whom.
    pub metrics: crate::metrics::MetricsSettings,
    /// Who takes card payments, and how often expired holds are swept.
    pub payments: crate::payments::PaymentSettings,
    /// Where customer emails go; `None` (no `[mail]` table): none are sent.
    pub mail: Option<crate::mail::MailSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            orders: OrdersConfig::demo(),
            body_limit: DEFAULT_BODY_LIMIT,
            cors_origins: Vec::new(),
            auth: AuthSettings::default(),
            metrics: crate::metrics::MetricsSettings::default(),
            payments: crate::payments::PaymentSettings::default(),
            mail: None,
        }
    }
}

/// Reads `path` (when given) into [`Settings`].
///
/// # Errors
/// A message naming the file and the bad entry.
pub fn load(path: Option<&Path>) -> Result<Settings, String> {
    load_with(path, &AuthArgs::default())
}

/// Reads `path` (when given) into [`Settings`], the `[auth]` flags of
/// `args` over the file's.
///
/// # Errors
/// A message naming the file (or flag) and the bad entry.
pub fn load_with(path: Option<&Path>, args: &AuthArgs) -> Result<Settings, String> {
    let Some(path) = path else {
        let mut settings = Settings::default();
        settings.auth.apply(&AuthFile::default(), args)?;
        return Ok(settings);
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_with(&text, args).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the TOML text of a configuration file.
///
/// # Errors
/// A message naming the bad entry.
pub fn parse(text: &str) -> Result<Settings, String> {
    parse_with(text, &AuthArgs::default())
}

fn parse_with(text: &str, args: &AuthArgs) -> Result<Settings, String> {
    parse_in(text, args, &|name| std::env::var(name).ok())
}

/// Parses `text` with `env` standing for the process environment (Stripe's
/// keys are read from it).
///
/// # Errors
/// A message naming the bad entry or the missing variable.
pub fn parse_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
    parse_in(text, &AuthArgs::default(), env)
}

fn parse_in(
    text: &str,
    args: &AuthArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut own = toml::Table::new();
    for key in SERVER_KEYS {
        if let Some(value) = table.remove(key) {
            own.insert(key.to_owned(), value);
        }
    }
    let own = ServerKeys::deserialize(own).map_err(|e| e.to_string())?;
    let engine = ConfigFile::deserialize(table).map_err(|e| e.to_string())?;
    let mut orders = engine
        .over(OrdersConfig::demo())
        .map_err(|e| e.to_string())?;
    let payments = crate::payments::PaymentSettings::from_file(&own.payments, env)?;
    payments.apply(&mut orders)?;
    let body_limit = own.body_limit.unwrap_or(DEFAULT_BODY_LIMIT);
    if !(1024..=16 * 1024 * 1024).contains(&body_limit) {
        return Err("body_limit: must be between 1024 and 16777216 bytes".to_owned());
    }
    let mut auth = AuthSettings::default();
    auth.apply(&own.auth, args)?;
    Ok(Settings {
        orders,
        body_limit,
        cors_origins: own.cors_origins,
        auth,
        metrics: crate::metrics::MetricsSettings::from_file(&own.metrics)?,
        payments,
        mail: own
            .mail
            .as_ref()
            .map(crate::mail::MailSettings::from_file)
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orders_core::catalogue::TaxClass;
    use orders_core::checkout::Country;
    use orders_core::money::Currency;

    #[test]
    fn the_metrics_table_is_the_servers() {
        let settings =
            parse("[metrics]\nbind = \"127.0.0.1:9100\"\nallow = [\"10.0.0.0/8\"]\n").unwrap();
        assert_eq!(settings.metrics.bind.as_deref(), Some("127.0.0.1:9100"));
        assert_eq!(settings.metrics.allow.map(|allow| allow.len()), Some(1));
        let error = parse("[metrics]\nallow = [\"nowhere\"]\n").unwrap_err();
        assert!(error.contains("nowhere"), "{error}");
        assert!(parse("[metrics]\nport = 1\n").is_err());
    }

    #[test]
    fn the_payments_table_sets_the_engine_and_the_sweeper() {
        use orders_core::order::CapturePolicy;
        let text = "payment_hold = \"5m\"\n[payments]\ncapture_policy = \"on_shipment\"\nhold = \"90s\"\nsweep_interval = \"2s\"\n";
        let settings = parse_env(text, &|_| None).unwrap();
        assert_eq!(settings.orders.capture_policy, CapturePolicy::OnShipment);
        assert_eq!(settings.orders.payment_hold, chrono::Duration::seconds(90));
        assert_eq!(settings.payments.sweep_interval, Duration::from_secs(2));
        assert!(settings.payments.stripe().is_none(), "the test gateway");
        let defaults = parse_env("", &|_| None).unwrap();
        assert_eq!(defaults.orders.capture_policy, CapturePolicy::OnCheckout);
        assert_eq!(defaults.orders.payment_hold, chrono::Duration::minutes(15));
        assert!(defaults.payments.stripe().is_none());
        let error = parse_env("[payments]\nhold = \"never\"\n", &|_| None).unwrap_err();
        assert!(error.contains("payments.hold"), "{error}");
        let error = parse_env("[payments]\nretries = 3\n", &|_| None).unwrap_err();
        assert!(error.contains("unknown field"), "{error}");
    }

    #[cfg(feature = "stripe")]
    #[test]
    fn stripe_keys_come_from_the_environment() {
        use crate::payments::{PUBLISHABLE_KEY_VAR, SECRET_KEY_VAR, WEBHOOK_SECRET_VAR};
        let text = "[payments]\nprovider = \"stripe\"\napi_base = \"http://127.0.0.1:9\"\n";
        let error = parse_env(text, &|_| None).unwrap_err();
        assert!(error.contains(SECRET_KEY_VAR), "{error}");
        let env = |name: &str| match name {
            SECRET_KEY_VAR => Some("sk_test_hidden_value".to_owned()),
            WEBHOOK_SECRET_VAR => Some("whsec_hidden_value".to_owned()),
            PUBLISHABLE_KEY_VAR => Some("pk_test_shown".to_owned()),
            _ => None,
        };
        let settings = parse_env(text, &env).unwrap();
        let stripe = settings.payments.stripe().expect("stripe");
        assert_eq!(stripe.api_base, "http://127.0.0.1:9");
        assert_eq!(stripe.js_url, crate::payments::STRIPE_JS_URL);
        assert!(!format!("{settings:?}").contains("hidden_value"));
        let gateway = settings.payments.gateway().unwrap();
        assert_eq!(gateway.provider(), "stripe");
        assert!(!gateway.accepts_test_cards(), "no raw card with Stripe");
    }

    #[test]
    fn the_mail_table_is_the_servers_and_optional() {
        assert_eq!(parse("").unwrap().mail, None);
        let settings =
            parse("[mail]\nhost = \"smtp.example.com\"\nfrom = \"shop@example.com\"\n").unwrap();
        assert_eq!(settings.mail.map(|m| m.port), Some(587));
        let error =
            parse("[mail]\nhost = \"h\"\nfrom = \"shop@example.com\"\ntls = \"x\"\n").unwrap_err();
        assert!(error.contains("mail.tls"), "{error}");
    }

    #[test]
    fn an_empty_file_is_the_demo() {
        let settings = parse("").unwrap();
        assert_eq!(settings.orders.default_currency, Currency::USD);
        assert_eq!(
            settings.orders.shipping_codes(Currency::USD),
            ["standard", "express"]
        );
        assert_eq!(settings.body_limit, DEFAULT_BODY_LIMIT);
    }

    #[test]
    fn a_full_file() {
        let settings = parse(
            r#"
            currency = "GBP"
            country = "GB"
            tax_shipping_as = "standard"
            body_limit = 2048
            cors_origins = ["https://shop.example"]
            [[tax]]
            country = "GB"
            class = "standard"
            rate = "20"
            [[shipping]]
            code = "royal-mail"
            name = "Royal Mail"
            prices = [{ currency = "GBP", price = "3.10", free_above = "40" }]
            "#,
        )
        .unwrap();
        let o = &settings.orders;
        assert_eq!(o.default_currency, Currency::GBP);
        assert_eq!(o.shipping_codes(Currency::GBP), ["royal-mail"]);
        assert_eq!(
            o.tax
                .rate(Country::parse("GB").unwrap(), &TaxClass::standard())
                .to_string(),
            "0.20"
        );
        assert!(o.tax.shipping_class().is_some());
        assert_eq!(settings.body_limit, 2048);
        assert_eq!(settings.cors_origins, ["https://shop.example"]);
    }

    #[test]
    fn bad_entries_are_named() {
        for (text, expected) in [
            ("currency = \"XXX\"", "currency"),
            (
                "[[tax]]\ncountry = \"GB\"\nclass = \"standard\"\nrate = \"120\"",
                "tax[0].rate",
            ),
            (
                "[[shipping]]\ncode = \"x\"\nname = \"X\"\nprices = [{ currency = \"USD\", price = \"-1\" }]",
                "shipping[0].prices[0].price",
            ),
            (
                "[[shipping]]\ncode = \"x\"\nname = \"X\"\nprices = [{ currency = \"EUR\", price = \"1\" }]",
                "default currency",
            ),
            ("body_limit = 10", "body_limit"),
            (
                "[auth]\ntrusted_proxies = [\"10.0.0.0/40\"]",
                "trusted_proxies",
            ),
            ("[auth]\ntoken_lifetime = \"forever\"", "token_lifetime"),
            ("[auth]\nlogin_hashes = 0", "login_hashes"),
            ("[auth]\nclient_ip_header = \"x y\"", "client_ip_header"),
            ("colour = \"red\"", "unknown field"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn auth_settings_from_the_file_and_flags() {
        let settings = parse("").unwrap();
        assert!(settings.auth.trusted_proxies.is_empty());
        assert_eq!(settings.auth.client_ip_header, "x-forwarded-for");
        assert_eq!(settings.auth.token_lifetime, DEFAULT_TOKEN_LIFETIME);
        let text = "[auth]\ntrusted_proxies = [\"10.0.0.0/8\"]\nclient_ip_header = \"X-Real-IP\"\nregistrations_per_hour = 3\ntoken_lifetime = \"12h\"\nlogin_free_failures = 2\nlogin_first_wait = \"3s\"\nlogin_max_wait = \"1m\"";
        let auth = parse(text).unwrap().auth;
        assert_eq!(auth.trusted_proxies, [Cidr::parse("10.0.0.0/8").unwrap()]);
        assert_eq!(auth.client_ip_header, "x-real-ip");
        assert_eq!(auth.registrations_per_hour, 3);
        assert_eq!(auth.token_lifetime, Duration::from_secs(12 * 3600));
        assert_eq!(auth.login_backoff.free, 2);
        assert_eq!(auth.login_backoff.first_ms, 3_000);
        assert_eq!(auth.login_backoff.max_ms, 60_000);
        let args = AuthArgs {
            trusted_proxies: vec!["127.0.0.1".into()],
            client_ip_header: None,
            registrations_per_hour: Some(0),
            token_lifetime: Some("90s".into()),
        };
        let auth = parse_with(text, &args).unwrap().auth;
        assert_eq!(auth.trusted_proxies, [Cidr::parse("127.0.0.1").unwrap()]);
        assert_eq!(auth.registrations_per_hour, 0);
        assert_eq!(auth.token_lifetime, Duration::from_secs(90));
        assert_eq!(parse_duration("30d").unwrap(), DEFAULT_TOKEN_LIFETIME);
        assert_eq!(parse_duration("15").unwrap(), Duration::from_secs(15));
        for bad in ["", "0s", "1y", "-1d", "4000d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
