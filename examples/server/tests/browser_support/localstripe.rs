//! A real localstripe (a stateful fake of Stripe's API and Stripe.js) on a
//! free port for one test, killed when dropped; started as orders-stripe's
//! tests start theirs.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running localstripe.
pub struct Localstripe {
    child: Child,
    port: u16,
}

fn venv() -> PathBuf {
    std::env::var_os("ORDERS_LOCALSTRIPE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/orders-ci/venv-localstripe"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

impl Localstripe {
    /// Starts one, or `None` (after saying why) when localstripe is not
    /// installed and `ORDERS_REQUIRE_STRIPE` is not `1`.
    pub fn start() -> Option<Self> {
        let program = venv().join("bin").join("localstripe");
        if !program.exists() {
            assert!(
                std::env::var("ORDERS_REQUIRE_STRIPE").as_deref() != Ok("1"),
                "ORDERS_REQUIRE_STRIPE=1 but {} is missing",
                program.display()
            );
            eprintln!(
                "SKIPPED: localstripe is not installed at {} (set ORDERS_LOCALSTRIPE_VENV)",
                program.display()
            );
            return None;
        }
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(&program)
                .args(["--port", &port.to_string(), "--from-scratch"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start localstripe");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Self { child, port });
                }
                if child.try_wait().expect("localstripe's state").is_some() {
                    break; // lost the port to someone else: another one
                }
                assert!(
                    Instant::now() < deadline,
                    "localstripe did not start in 30 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("localstripe did not start on three free ports");
    }

    /// Its root URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
