//! Which client-sent request ids are kept.
//!
//! A request id is echoed in the response and written in every log line of
//! the request, so a client must not be able to choose one that floods the
//! log (500 KB), splits it (control characters) or impersonates structure
//! (spaces, quotes). An `x-request-id` of 1 to [`MAX_REQUEST_ID_LEN`]
//! visible ASCII characters is kept, which covers UUIDs, ULIDs and the ids
//! of common proxies; any other is dropped before the id layer, which then
//! generates a fresh one.

use axum::extract::Request;
use axum::http::HeaderValue;

/// The longest client-sent request id kept.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// Whether a client-sent request id is kept as it is.
pub(crate) fn is_fit(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=MAX_REQUEST_ID_LEN).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// Removes every `x-request-id` unless there is exactly one and it is fit.
pub(crate) async fn drop_unfit(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut values = headers.get_all("x-request-id").iter();
    let keep = matches!((values.next(), values.next()), (Some(one), None) if is_fit(one));
    if !keep {
        headers.remove("x-request-id");
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_ascii_up_to_64_is_kept() {
        for fit in ["a", "0190c2f4-7f2e-7b4c-9a55-3e2b1c0d9e8f", &"x".repeat(64)] {
            assert!(is_fit(&HeaderValue::from_str(fit).unwrap()), "{fit}");
        }
        for unfit in [
            "",
            &"x".repeat(65),
            "two words",
            "tab\there",
            &"y".repeat(500_000),
        ] {
            assert!(
                !is_fit(&HeaderValue::from_str(unfit).unwrap()),
                "{unfit:.20}"
            );
        }
        assert!(!is_fit(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()));
    }

    #[tokio::test]
    async fn unfit_and_repeated_ids_are_dropped() {
        let request = |values: &[&str]| {
            let mut builder = Request::builder();
            for v in values {
                builder = builder.header("x-request-id", *v);
            }
            builder.body(axum::body::Body::empty()).unwrap()
        };
        let kept = drop_unfit(request(&["abc-123"])).await;
        assert_eq!(kept.headers()["x-request-id"], "abc-123");
        let long = "z".repeat(65);
        for values in [vec![long.as_str()], vec!["a b"], vec!["one", "two"]] {
            let dropped = drop_unfit(request(&values)).await;
            assert!(
                dropped.headers().get("x-request-id").is_none(),
                "{values:?}"
            );
        }
    }
}
