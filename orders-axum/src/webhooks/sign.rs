//! The `Orders-Signature` header: `t=UNIX_SECONDS,v1=HEX`, where HEX is
//! HMAC-SHA256 under the webhook's secret over `t`, a dot, and the body.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's name.
pub const SIGNATURE_HEADER: &str = "Orders-Signature";

/// The header's value for `body` sent at `unix_seconds`.
///
/// ```
/// let header = orders_axum::webhooks::signature("whsec_x", 1700000000, b"{}");
/// assert!(header.starts_with("t=1700000000,v1="));
/// assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
/// ```
pub fn signature(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={unix_seconds},v1={hex}")
}
