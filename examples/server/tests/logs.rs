//! What the server writes to a log file: no terminal colour codes in it,
//! and one JSON object a line with `--log-format json`.

mod common;

use common::Server;
use serde_json::Value;

/// A few requests, so the log has request lines too.
async fn traffic(server: &Server) {
    for path in ["/api/health", "/api/products", "/api/nowhere"] {
        server.call("GET", path, None, None).await;
    }
    server.customer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_is_not_a_terminal_has_no_colour_codes() {
    let (url, _dir) = common::sqlite_url();
    let server = Server::start(&url);
    traffic(&server).await;
    let logs = server.logs();
    assert!(logs.contains("finished processing request"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escape codes in the log:\n{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line() {
    let (url, _dir) = common::sqlite_url();
    let server = Server::start_with(&url, &["--log-format", "json"]);
    traffic(&server).await;
    let logs = server.logs();
    let mut requests = 0;
    for line in logs.lines().filter(|l| !l.starts_with("listening on ")) {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
        assert!(entry["timestamp"].is_string(), "{line}");
        assert!(entry["level"].is_string(), "{line}");
        if entry["fields"]["message"] == "finished processing request" {
            requests += 1;
            assert!(entry["span"]["request_id"].is_string(), "{line}");
            assert!(entry["fields"]["status"].is_number(), "{line}");
        }
    }
    assert!(requests >= 4, "{requests} request lines in:\n{logs}");
}

#[test]
fn an_unknown_log_format_is_refused() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders-server"))
        .args(["--log-format", "xml", "migrate"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--log-format"), "{stderr}");
}
