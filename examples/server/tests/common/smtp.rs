//! A real SMTP server for the tests: aiosmtpd from the virtual environment
//! `.ci/run` installs (`ORDERS_AIOSMTPD_VENV`), on a free port, writing
//! each message it receives as JSON into a directory
//! (`orders-axum/tests/support/smtp_sink.py`).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn python() -> PathBuf {
    std::env::var_os("ORDERS_AIOSMTPD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/orders-ci/venv-aiosmtpd"))
        .join("bin")
        .join("python")
}

/// A running aiosmtpd, killed on drop (a failing test leaves none).
pub struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// aiosmtpd on a free port writing into `dir`, or `None` (with a message)
/// when it is not installed and `ORDERS_REQUIRE_SMTP` is not `1`.
pub fn smtp(dir: &Path) -> Option<(Sink, u16)> {
    let installed = Command::new(python())
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        assert!(
            std::env::var("ORDERS_REQUIRE_SMTP").as_deref() != Ok("1"),
            "ORDERS_REQUIRE_SMTP=1 but aiosmtpd is missing (.ci/run installs it)"
        );
        eprintln!("SKIPPED: aiosmtpd is not installed (set ORDERS_AIOSMTPD_VENV)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../orders-axum/tests/support/smtp_sink.py"
    );
    let child = Command::new(python())
        .arg(script)
        .arg(port.to_string())
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("aiosmtpd starts");
    let sink = Sink(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((sink, port))
}

/// The messages received so far, each as the sink wrote it.
pub fn messages(dir: &Path) -> Vec<Value> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok())
        .collect()
}
